#!/usr/bin/env bash
# Builds Filebeat from the Go module proxy (module github.com/elastic/beats/v7)
# once, caches it outside the checkout, and prints the binary's absolute path
# as the last line of stdout (progress goes to stderr):
#
#   bash tests/elastic/filebeat/build.sh             -> /var/cache/filter-jsonlog/filebeat/<version>/filebeat
#   bash tests/elastic/filebeat/build.sh --cached    -> the same, or exit 3 without building
#
# Elastic tags Beats 8.x and 9.x in git as v8.*/v9.*, which the module path
# .../v7 cannot carry: the proxy serves those commits only as pseudo-versions
# (v7.0.0-alpha2.0.<date>-<commit>), and this machine's proxy answers neither
# the version list nor a branch name.  So the candidates are pseudo-versions
# that other Elastic modules require (and the proxy therefore holds), newest
# first; the first that downloads and builds wins.  FILEBEAT_MODULE_VERSION
# puts another one in front.
#
# The module's go.mod has replace directives, which apply only when it is the
# main module: hence `go build ./filebeat` inside a writable copy of it, not
# `go install module@version`.  GOMODCACHE and GOCACHE live in the cache too,
# so that a rebuild needs no network, and a run with the binary present is
# instant and offline.
#
# Env: FILEBEAT_CACHE (default /var/cache/filter-jsonlog/filebeat), GO (the go
# command; default /usr/local/go/bin/go, else go on PATH).
set -euo pipefail

CANDIDATES=(
    # main at 2025-10-31 (libbeat/version: 9.3.0), required by apm-server
    v7.0.0-alpha2.0.20251031181001-be9871f5dab9
    # required by apm-server and elastic-agent in late 2024 (fallbacks)
    v7.0.0-alpha2.0.20241231140711-7806f1a2cb26
    v7.0.0-alpha2.0.20241022170531-d2e6603d82fb
)
if [ -n "${FILEBEAT_MODULE_VERSION:-}" ]; then
    CANDIDATES=("$FILEBEAT_MODULE_VERSION" "${CANDIDATES[@]}")
fi
MODULE=github.com/elastic/beats/v7
CACHE=${FILEBEAT_CACHE:-/var/cache/filter-jsonlog/filebeat}
CACHED_ONLY=
[ "${1:-}" = --cached ] && CACHED_ONLY=1

say() { echo "filebeat/build.sh: $*" >&2; }

# A build is kept as <cache>/<filebeat version>-<module version>/filebeat, and
# <cache>/current names the directory of the last good one.
cached() {
    local dir
    [ -f "$CACHE/current" ] || return 1
    dir=$CACHE/$(cat "$CACHE/current")
    [ -x "$dir/filebeat" ] && "$dir/filebeat" version >/dev/null 2>&1 || return 1
    echo "$dir/filebeat"
}

mkdir -p "$CACHE"
if bin=$(cached); then
    echo "$bin"
    exit 0
fi
if [ -n "$CACHED_ONLY" ]; then
    say "no cached build in $CACHE"
    exit 3
fi

# Two runs at once (CI and a test) must not build into one directory.
exec 9>"$CACHE/.build.lock"
flock 9
if bin=$(cached); then
    echo "$bin"
    exit 0
fi

GO=${GO:-/usr/local/go/bin/go}
if [ ! -x "$GO" ]; then
    GO=$(command -v go || true)
fi
if [ -z "$GO" ]; then
    say "no Go toolchain (neither /usr/local/go/bin/go nor go on PATH)"
    exit 1
fi
export GOMODCACHE=$CACHE/gomod GOCACHE=$CACHE/gocache
# -modcacherw: the module cache stays deletable; -buildvcs=false: the copy is
# no git checkout; GOTOOLCHAIN=local: never fetch another Go behind our back.
export GOFLAGS="-modcacherw -buildvcs=false" GOTOOLCHAIN=local
say "$("$GO" version)"

failures=()
for version in "${CANDIDATES[@]}"; do
    t0=$(date +%s)
    log=$CACHE/build-$version.log
    say "downloading $MODULE@$version"
    if ! dir=$("$GO" mod download -json "$MODULE@$version" 2>"$log" \
            | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p') || [ -z "$dir" ] || [ ! -d "$dir" ]; then
        failures+=("$version: go mod download failed: $(tail -n 3 "$log" | tr '\n' ' ')")
        say "${failures[-1]}"
        continue
    fi
    beat_version=$(sed -n 's/^const defaultBeatVersion = "\(.*\)"$/\1/p' "$dir/libbeat/version/version.go")
    name=${beat_version:-unknown}-$version
    src=$CACHE/src/$name
    rm -rf "$src"
    mkdir -p "$CACHE/src"
    cp -r "$dir" "$src"
    chmod -R u+w "$src"
    say "building Filebeat $beat_version ($version) in $src (cached for later runs; takes minutes)"
    out=$CACHE/$name
    mkdir -p "$out"
    if (cd "$src" && nice "$GO" build -trimpath -o "$out/filebeat.tmp" ./filebeat) >>"$log" 2>&1 \
            && "$out/filebeat.tmp" version >>"$log" 2>&1; then
        mv "$out/filebeat.tmp" "$out/filebeat"
        echo "$name" > "$CACHE/current"
        rm -rf "$src"
        say "built $("$out/filebeat" version) in $(( $(date +%s) - t0 )) s"
        echo "$out/filebeat"
        exit 0
    fi
    failures+=("$version (Filebeat $beat_version): go build failed: $(tail -n 5 "$log" | tr '\n' ' ')")
    say "${failures[-1]}"
    rm -rf "$src" "$out"
done
say "no candidate built; full logs in $CACHE/build-*.log:"
for f in "${failures[@]}"; do say "  $f"; done
exit 1
