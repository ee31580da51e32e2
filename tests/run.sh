#!/usr/bin/env bash
# The test command (README.md): unit and integration tests, the Elastic
# asset checks and every dashboard panel computed by a real Elasticsearch
# node, the report page in headless chromium, the end-to-end tests under real
# smtpds and rsyslogd, then their files shipped by Filebeat into that node.
# The end-to-end tests need root, opensmtpd and rsyslog: without them they
# report themselves skipped, except under CI=true, where they must run.
# Those that use the system's smtpd socket and /dev/log are refused (and
# reported skipped) on a mail host in service unless CI=true
# (tests/e2e/guard.py); the Debian package's test runs in namespaces of its
# own on a fresh Debian 12 tree (tests/e2e/test_package.py).
#
# The end-to-end scenarios run twice: under Debian's opensmtpd package
# (6.8.0p2, report protocol 0.6) and under OpenSMTPD 7.8.0p1 (protocol 0.7)
# built from ../shared/opensmtpd/ by tests/e2e/opensmtpd78.sh (cached outside
# the checkout).  One line per smtpd says how it went:
#     e2e OpenSMTPD 7.8.0p1: 23 passed, 0 failed, 0 skipped
# and the last line adds up every end-to-end suite:
#     e2e: 60 passed, 0 failed
set -euo pipefail
cd "$(dirname "$0")/.."
CI=${CI:-}

# Debian's python3 (the e2e recorder runs as smtpd's user and must not be a
# pyenv shim under /root; PyYAML comes from python3-yaml).
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

cargo test --locked
cargo build --release --locked --quiet

# One Elasticsearch node (tests/elastic/es) for the Elastic tests, which
# compute every dashboard panel on it, and for the chain after the e2e suites.
echo "== Elasticsearch node (tests/elastic/es/node.sh)"
if ES_URL=$(bash tests/elastic/es/node.sh start | tail -n 1) && [ -n "$ES_URL" ]; then
    export ES_URL
    trap 'bash tests/elastic/es/node.sh stop >/dev/null 2>&1 || true' EXIT
    echo "Elasticsearch at $ES_URL"
else
    # The tests that need it fail (or, without Java or Maven and CI, skip).
    unset ES_URL
    echo "the Elasticsearch node did not start"
fi

if [ -d tests/elastic ]; then
    echo "== Elastic assets"
    "$PY" -m unittest discover -s tests/elastic
fi

echo "== Report HTML in headless chromium (screenshots in target/report-html/)"
FILTER_JSONLOG_BIN="$PWD/target/release/filter-jsonlog" "$PY" tests/report_browser.py

BIN="$PWD/target/release/filter-jsonlog"
passed=0 failed=0 skipped=0
# Runs one e2e suite, shows its output, adds its closing "N passed, N failed,
# N skipped" line to the totals.  A suite that dies without one is a failure.
suite() {
    local out rc=0 line
    out=$(mktemp)
    "$@" 2>&1 | tee "$out" || rc=$?
    line=$(grep -E ': [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$out" | tail -n 1 || true)
    rm -f "$out"
    if [[ $line =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped$ ]]; then
        passed=$((passed + BASH_REMATCH[1])) failed=$((failed + BASH_REMATCH[2]))
        skipped=$((skipped + BASH_REMATCH[3]))
        if [ "$rc" -ne 0 ] && [ "${BASH_REMATCH[2]}" -eq 0 ]; then failed=$((failed + 1)); fi
    else
        echo "$*: exited $rc without a closing line"
        failed=$((failed + 1))
    fi
}

echo "== Guard against a mail host in service (tests/e2e/guard.py)"
suite "$PY" tests/e2e/test_guard.py
# The end-to-end suites but the package's start smtpd and rsyslogd on the
# system's paths (smtpd's socket, /dev/log; test_install.py edits
# /etc/smtpd.conf): not on a machine that carries mail.  guard.py says what
# it found; each such suite is then reported skipped.  CI=true means a
# machine for the tests alone: the guard is not asked there.
live=""
if [ "$CI" != true ]; then
    live=$("$PY" tests/e2e/guard.py) || true
fi
# Runs a suite that uses the system's paths (name, then the command), or
# says why not.
system_suite() {
    if [ -n "$live" ]; then
        echo "$1: 0 passed, 0 failed, 1 skipped (refused: this looks like a mail host in service: $live)"
        skipped=$((skipped + 1))
        return
    fi
    shift
    suite "$@"
}

# The e2e suites keep rsyslog's file and the recorded stream here for the
# Elastic chain (tests/elastic/chain.py).
E2E_KEEP_DIR=$(mktemp -d)
export E2E_KEEP_DIR

echo "== End-to-end under Debian's OpenSMTPD (OpenSMTPD -> filter-jsonlog -> rsyslog)"
system_suite "e2e Debian" env -u E2E_SMTPD FILTER_JSONLOG_BIN="$BIN" "$PY" tests/e2e/test_e2e.py

echo "== End-to-end under OpenSMTPD 7.8.0p1 built from ../shared/opensmtpd"
name="OpenSMTPD 7.8.0p1"
if [ -n "$live" ]; then
    system_suite "e2e $name" true
elif [ -f ../shared/opensmtpd/opensmtpd-7.8.0p1.tar.gz ] && { [ "$(id -u)" -eq 0 ] || [ "$CI" = true ]; }; then
    if smtpd78=$(bash tests/e2e/opensmtpd78.sh | tail -n 1) && [ -x "$smtpd78" ]; then
        system_suite "e2e $name" env E2E_SMTPD="$smtpd78" E2E_SMTPD_NAME="$name" FILTER_JSONLOG_BIN="$BIN" "$PY" tests/e2e/test_e2e.py
    else
        echo "e2e $name: 0 passed, 1 failed, 0 skipped (the build failed)"
        failed=$((failed + 1))
    fi
else
    why="no ../shared/opensmtpd/opensmtpd-7.8.0p1.tar.gz beside the checkout"
    [ -f ../shared/opensmtpd/opensmtpd-7.8.0p1.tar.gz ] && why="not root (the build installs packages and users)"
    if [ "$CI" = true ]; then
        echo "e2e $name: 0 passed, 1 failed, 0 skipped ($why; CI=true: that is a failure)"
        failed=$((failed + 1))
    else
        echo "e2e $name: 0 passed, 0 failed, 1 skipped ($why)"
        skipped=$((skipped + 1))
    fi
fi

echo "== Elastic chain (e2e files and tests/ streams -> Filebeat -> Elasticsearch)"
if ! FILTER_JSONLOG_BIN="$BIN" "$PY" tests/elastic/chain.py; then
    echo "elastic-chain: failed"
    failed=$((failed + 1))
fi
rm -rf "$E2E_KEEP_DIR"

# Issue 20: every delivery outcome for real under both smtpds, the report's
# delivery.* against an independent count over the raw mail log; one line:
#     delivery: 12 outcomes joined (6.8.0p2), 12 (7.8.0p1), 0 disagree with the mail log
echo "== End-to-end delivery outcomes (smtpd's mail log joined to the documents)"
dlog=$(mktemp)
system_suite "e2e-delivery Debian" env -u E2E_SMTPD FILTER_JSONLOG_BIN="$BIN" \
    "$PY" tests/e2e/test_delivery.py > >(tee -a "$dlog")
if [ -n "${smtpd78:-}" ] && [ -x "$smtpd78" ]; then
    system_suite "e2e-delivery $name" env E2E_SMTPD="$smtpd78" E2E_SMTPD_NAME="$name" \
        FILTER_JSONLOG_BIN="$BIN" "$PY" tests/e2e/test_delivery.py > >(tee -a "$dlog")
fi
sleep 0.2  # the tee processes finish writing
"$PY" tests/e2e/test_delivery.py --summarize "$dlog"
rm -f "$dlog"

echo "== End-to-end sinks (rsyslogd restarts, rotation, sizes)"
system_suite "e2e sinks" env FILTER_JSONLOG_BIN="$BIN" "$PY" tests/e2e/test_sinks.py

# README's Debian install steps, verbatim, on this machine's real paths
# (put back afterwards): only with CI=true or E2E_INSTALL=1, skipped otherwise.
echo "== Install steps of README.md on this machine (Debian's smtpd and rsyslogd)"
system_suite "e2e-install" "$PY" tests/e2e/test_install.py

# The Debian package on a fresh Debian 12 tree (debootstrap, cached under
# /var/cache/filter-jsonlog/debootstrap/): its own namespaces, so it needs
# no guard.  Root and network to Debian's packages; skipped without them,
# except under CI=true.
echo "== The Debian package on a fresh Debian 12 (tests/e2e/test_package.py)"
suite env PATH="/var/cache/filter-jsonlog/cargo/bin:$PATH" "$PY" tests/e2e/test_package.py

echo "e2e skipped: $skipped"
echo "e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
