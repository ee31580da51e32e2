#!/usr/bin/env bash
# One Elasticsearch 8.14.1 node on 127.0.0.1, for the tests and by hand.
#
#   tests/elastic/es/node.sh start    prints the node's URL once it answers
#   tests/elastic/es/node.sh url      the URL of the running node
#   tests/elastic/es/node.sh stop
#   tests/elastic/es/node.sh build    only fetch and build (what .ci/run does)
#
# The node: Elastic's integ-test-zip distribution from Maven Central (see
# pom.xml and README.md), heap 512 MiB, a free port, data and logs in a fresh
# directory (ES_NODE_DIR, default /tmp/filter-jsonlog-es) that stop removes.
# After start it holds the stand-ins of the component templates a stock
# cluster installs (stock_templates.py).  Elasticsearch refuses to run as
# root: as root the node runs as nobody.
#
# Maven's repository is M2_REPO (default /var/cache/filter-jsonlog/m2): the
# first build downloads, later ones run offline.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
M2_REPO=${M2_REPO:-/var/cache/filter-jsonlog/m2}
ES_NODE_DIR=${ES_NODE_DIR:-/tmp/filter-jsonlog-es}
ES_VERSION=8.14.1
# Elasticsearch 8.14 needs Java 17 to 23 (it runs under the security manager,
# which Java 24 removed): Debian's 17 unless ES_JAVA_HOME says otherwise.
if [ -z "${ES_JAVA_HOME:-}" ]; then
    ES_JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64
    [ -x "$ES_JAVA_HOME/bin/java" ] || ES_JAVA_HOME=$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")
fi

build() {
    # Offline once this pom.xml has been built against the cache.
    local offline=() marker
    marker="$M2_REPO/.filter-jsonlog-es-$(sha256sum "$here/pom.xml" | cut -c1-16)"
    [ -f "$marker" ] && offline=(-o)
    mkdir -p "$M2_REPO"
    (cd "$here" && nice mvn -B -q "${offline[@]}" -Dmaven.repo.local="$M2_REPO" package) >&2
    touch "$marker"
}

running() {
    [ -f "$ES_NODE_DIR/pid" ] && kill -0 "$(cat "$ES_NODE_DIR/pid")" 2>/dev/null
}

start() {
    if running; then
        cat "$ES_NODE_DIR/url"
        return
    fi
    [ -x "$here/target/dist/elasticsearch-$ES_VERSION/bin/elasticsearch" ] && [ -f "$here/target/stand-in-types-1.jar" ] || build
    rm -rf "$ES_NODE_DIR"
    mkdir -p "$ES_NODE_DIR"/{data,logs,tmp}
    # A copy of the distribution: the plugin goes into its plugins/, and the
    # node's user must be able to read every path up to it.
    cp -r "$here/target/dist/elasticsearch-$ES_VERSION" "$ES_NODE_DIR/home"
    mkdir -p "$ES_NODE_DIR/home/plugins/stand-in-types"
    cp "$here/target/stand-in-types-1.jar" "$here/src/main/plugin/plugin-descriptor.properties" \
        "$ES_NODE_DIR/home/plugins/stand-in-types/"
    cp -r "$ES_NODE_DIR/home/config" "$ES_NODE_DIR/config"
    # The JVM's own log files, relative to a working directory it picks.
    sed -i -e "s#logs/gc.log#$ES_NODE_DIR/logs/gc.log#" -e "s#HeapDumpPath=data#HeapDumpPath=$ES_NODE_DIR/data#" \
        -e "s#ErrorFile=logs/#ErrorFile=$ES_NODE_DIR/logs/#" "$ES_NODE_DIR/config/jvm.options"
    local port
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    local as=()
    if [ "$(id -u)" -eq 0 ]; then
        chown -R nobody:nogroup "$ES_NODE_DIR"
        chmod 755 "$ES_NODE_DIR"
        as=(runuser -u nobody --)
    fi
    (cd "$ES_NODE_DIR" && "${as[@]}" env ES_JAVA_HOME="$ES_JAVA_HOME" ES_PATH_CONF="$ES_NODE_DIR/config" \
        ES_TMPDIR="$ES_NODE_DIR/tmp" ES_JAVA_OPTS="-Xms512m -Xmx512m" \
        "$ES_NODE_DIR/home/bin/elasticsearch" -d -p "$ES_NODE_DIR/pid" \
        -E cluster.name=filter-jsonlog-tests -E node.name=node-1 \
        -E network.host=127.0.0.1 -E http.port="$port" -E transport.port=0 \
        -E discovery.type=single-node -E xpack.security.enabled=false \
        -E cluster.routing.allocation.disk.threshold_enabled=false \
        -E path.data="$ES_NODE_DIR/data" -E path.logs="$ES_NODE_DIR/logs") >&2
    local url="http://127.0.0.1:$port"
    local i
    for i in $(seq 1 120); do
        if curl -sf "$url/_cluster/health?wait_for_status=yellow&timeout=1s" >/dev/null 2>&1; then
            echo "$url" > "$ES_NODE_DIR/url"
            if ! python3 "$here/stock_templates.py" "$url" "$here/target/stock-templates" >&2; then
                stop
                exit 1
            fi
            echo "$url"
            return
        fi
        running || break
        sleep 1
    done
    echo "node.sh: Elasticsearch did not answer on $url; its log:" >&2
    tail -n 40 "$ES_NODE_DIR/logs/"*.log >&2 || true
    stop
    exit 1
}

stop() {
    if running; then
        local pid
        pid=$(cat "$ES_NODE_DIR/pid")
        kill "$pid"
        for _ in $(seq 1 60); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 1
        done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    fi
    rm -rf "$ES_NODE_DIR"
}

case "${1:-}" in
    build) build ;;
    start) start ;;
    stop) stop ;;
    url) running && cat "$ES_NODE_DIR/url" ;;
    *) echo "usage: $0 build|start|url|stop" >&2; exit 2 ;;
esac
