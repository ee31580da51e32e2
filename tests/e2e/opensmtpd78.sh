#!/usr/bin/env bash
# Builds OpenSMTPD 7.8.0p1 (report protocol 0.7) from ../shared/opensmtpd/ once
# per source tarball, and prints the smtpd path (last line).  The build lives
# outside the checkout, under a directory named after the tarball's SHA-256,
# so a fresh clone in CI reuses it and a new tarball gets a build of its own.
#
#   bash tests/e2e/opensmtpd78.sh             -> /var/cache/filter-jsonlog-ci/opensmtpd-<sha12>/sbin/smtpd
#
# Exit status 3 (and nothing on stdout) when the source is not beside the
# checkout; build.sh's own failures pass through.  Env: OPENSMTPD_SRC (the
# directory holding build.sh and the tarball), OPENSMTPD_CACHE (the parent of
# the builds).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
SRC=${OPENSMTPD_SRC:-$REPO/../shared/opensmtpd}
CACHE=${OPENSMTPD_CACHE:-/var/cache/filter-jsonlog-ci}
TARBALL=$SRC/opensmtpd-7.8.0p1.tar.gz
if [ ! -f "$TARBALL" ] || [ ! -f "$SRC/build.sh" ]; then
    echo "opensmtpd78.sh: no $TARBALL or $SRC/build.sh" >&2
    exit 3
fi
sum=$(sha256sum "$TARBALL" | cut -c1-12)
PREFIX=$CACHE/opensmtpd-7.8.0p1-$sum
mkdir -p "$CACHE"
chmod 755 "$CACHE"
# Two runs at once must not build into one prefix.
exec 9>"$CACHE/.build.lock"
flock 9
if [ -x "$PREFIX/sbin/smtpd" ]; then
    echo "$PREFIX/sbin/smtpd"
    exit 0
fi
t0=$(date +%s)
echo "opensmtpd78.sh: building OpenSMTPD 7.8.0p1 into $PREFIX (cached for later runs)" >&2
# build.sh is idempotent and prints the smtpd path last.
smtpd=$(bash "$SRC/build.sh" "$PREFIX" | tail -n 1)
echo "opensmtpd78.sh: built in $(( $(date +%s) - t0 )) s" >&2
echo "$smtpd"
