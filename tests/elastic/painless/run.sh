#!/usr/bin/env bash
# Runs an ingest pipeline's Painless script over test documents:
#
#   bash tests/elastic/painless/run.sh SCRIPT DOCS.json     -> {"docs": [...]} on stdout
#   bash tests/elastic/painless/run.sh --build              only fetch and compile (.ci/run)
#   bash tests/elastic/painless/run.sh --cached ...         exit 3 unless fetched before
#
# The Elasticsearch node the tests start has no lang-painless module, and no
# registry here has one for Elasticsearch 8.  OpenSearch publishes its
# Painless (a fork of Elasticsearch 7.10's) on Maven Central: it compiles and
# runs the script for real, so its syntax, types and logic are checked.
# Maven's repository and the compiled class live in
# /var/cache/filter-jsonlog/painless (PAINLESS_CACHE): later runs are offline.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
CACHE=${PAINLESS_CACHE:-/var/cache/filter-jsonlog/painless}
key=$(cat "$here/pom.xml" "$here/RunPainless.java" | sha256sum | cut -c1-16)
out=$CACHE/$key
cached_only=
[ "${1:-}" = --cached ] && { cached_only=1; shift; }
if [ ! -f "$out/classpath" ] || [ ! -f "$out/classes/RunPainless.class" ]; then
    if [ -n "$cached_only" ]; then
        echo "painless/run.sh: nothing fetched yet (run it with --build)" >&2
        exit 3
    fi
    mkdir -p "$out"
    (cd "$here" && nice mvn -B -q -Dmaven.repo.local="$CACHE/m2" dependency:build-classpath \
        -Dmdep.outputFile="$out/classpath.tmp") >&2
    mkdir -p "$out/classes"
    javac -d "$out/classes" -cp "$(cat "$out/classpath.tmp")" "$here/RunPainless.java" >&2
    mv "$out/classpath.tmp" "$out/classpath"
fi
[ "${1:-}" = --build ] && exit 0
# Log4j (OpenSearch's logging) has no configuration here: its one line of
# complaint goes to stderr.
exec java -cp "$out/classes:$(cat "$out/classpath")" RunPainless "$1" "$2"
