#!/usr/bin/env bash
# The test command (README.md): unit and integration tests, the Elastic
# asset checks, the report page in headless chromium, then the end-to-end
# test under a real smtpd and rsyslogd.
# The end-to-end test needs root, opensmtpd and rsyslog: without them it
# reports itself skipped, except under CI=true, where it must run.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian's python3 (the e2e recorder runs as smtpd's user and must not be a
# pyenv shim under /root; PyYAML comes from python3-yaml).
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

cargo test --locked
cargo build --release --locked --quiet

if [ -d tests/elastic ]; then
    echo "== Elastic assets"
    "$PY" -m unittest discover -s tests/elastic
fi

echo "== Report HTML in headless chromium (screenshots in target/report-html/)"
FILTER_JSONLOG_BIN="$PWD/target/release/filter-jsonlog" "$PY" tests/report_browser.py

echo "== End-to-end (OpenSMTPD -> filter-jsonlog -> rsyslog)"
FILTER_JSONLOG_BIN="$PWD/target/release/filter-jsonlog" "$PY" tests/e2e/test_e2e.py

echo "== End-to-end sinks (rsyslogd restarts, rotation, sizes)"
FILTER_JSONLOG_BIN="$PWD/target/release/filter-jsonlog" "$PY" tests/e2e/test_sinks.py
