#!/bin/sh
# Load filter-jsonlog's Elasticsearch assets: the ingest pipeline first, then
# the index template that names it as default pipeline.  Run it again after
# every upgrade of filter-jsonlog (both PUTs replace what is there).
#
#   ES_URL=https://es.example.org:9200 ES_USER=elastic ./elasticsearch/load.sh
#   ES_URL=https://es.example.org:9200 ES_API_KEY=base64key ./elasticsearch/load.sh
#
# Environment:
#   ES_URL      Elasticsearch URL (default http://localhost:9200)
#   ES_USER     user[:password] for basic auth (curl prompts for a missing password)
#   ES_API_KEY  an API key (the "encoded" value), instead of ES_USER
#   ES_CACERT   CA certificate file for https
#
# Needs curl.  Privileges: manage_index_templates and manage_pipeline
# (cluster), or the superuser role.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
ES_URL=${ES_URL:-http://localhost:9200}
ES_URL=${ES_URL%/}

put() {
    # $1: API path, $2: JSON file
    set -- "$1" "$2" -sS --fail -X PUT -H 'Content-Type: application/json'
    if [ -n "${ES_API_KEY:-}" ]; then
        set -- "$@" -H "Authorization: ApiKey ${ES_API_KEY}"
    elif [ -n "${ES_USER:-}" ]; then
        set -- "$@" -u "${ES_USER}"
    fi
    if [ -n "${ES_CACERT:-}" ]; then
        set -- "$@" --cacert "${ES_CACERT}"
    fi
    path=$1 file=$2
    shift 2
    printf 'PUT %s ... ' "$path"
    curl "$@" --data-binary "@${file}" "${ES_URL}/${path}"
    echo
}

put _ingest/pipeline/logs-opensmtpd.jsonlog "$here/ingest-pipeline.json"
put _index_template/logs-opensmtpd.jsonlog "$here/index-template.json"
echo "done: documents sent to logs-opensmtpd.jsonlog-<namespace> now get the template and the pipeline"
