#!/bin/sh
# Load filter-jsonlog's Elasticsearch assets: the ingest pipeline first, then
# (with RETENTION) the retention component template, then the index template
# that names the pipeline as default pipeline and composes the component.
# Run it again after every upgrade of filter-jsonlog (every PUT replaces what
# is there).
#
#   ES_URL=https://es.example.org:9200 ES_USER=elastic ./elasticsearch/load.sh
#   ES_URL=https://es.example.org:9200 ES_API_KEY=base64key ./elasticsearch/load.sh
#   RETENTION=90d ES_URL=... ES_USER=elastic ./elasticsearch/load.sh
#   RETENTION=90d RETENTION_MODE=ilm ES_URL=... ES_USER=elastic ./elasticsearch/load.sh
#
# Environment:
#   ES_URL          Elasticsearch URL (default http://localhost:9200)
#   ES_USER         user[:password] for basic auth (curl prompts for a missing password)
#   ES_API_KEY      an API key (the "encoded" value), instead of ES_USER
#   ES_CACERT       CA certificate file for https
#   RETENTION       how long to keep the documents, e.g. 30d or 180d (days or
#                   hours).  Unset: no retention is loaded, and the built-in
#                   logs lifecycle keeps the documents for ever.  Set, it
#                   REPLACES the component templates logs-opensmtpd.jsonlog@custom
#                   and logs-opensmtpd.delivery@custom (the delivery lines hold
#                   the same addresses; keep your own settings elsewhere, e.g.
#                   logs@custom).
#   RETENTION_MODE  lifecycle (default: data stream lifecycle, data_retention)
#                   or ilm (an ILM policy logs-opensmtpd.jsonlog that rolls
#                   over weekly and deletes RETENTION after rollover)
#
# Needs curl and sed.  Privileges: manage_index_templates and manage_pipeline
# (cluster; manage_ilm for RETENTION_MODE=ilm), manage_data_stream_lifecycle
# on logs-opensmtpd.jsonlog-* and logs-opensmtpd.delivery-* for RETENTION, or
# the superuser role.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
ES_URL=${ES_URL:-http://localhost:9200}
ES_URL=${ES_URL%/}
RETENTION=${RETENTION:-}
RETENTION_MODE=${RETENTION_MODE:-lifecycle}

if [ -n "$RETENTION" ]; then
    case $RETENTION in
        *[!0-9dh]* | [!0-9]* | *[0-9]) echo "RETENTION must be a number of days or hours, e.g. 90d" >&2; exit 2 ;;
    esac
    case $RETENTION_MODE in
        lifecycle | ilm) ;;
        *) echo "RETENTION_MODE must be lifecycle or ilm" >&2; exit 2 ;;
    esac
fi

put() {
    # $1: API path, $2: JSON file; the body is the file with its example
    # retention ("90d") replaced by RETENTION.
    path=$1 file=$2
    set -- -sS --fail -X PUT -H 'Content-Type: application/json'
    if [ -n "${ES_API_KEY:-}" ]; then
        set -- "$@" -H "Authorization: ApiKey ${ES_API_KEY}"
    elif [ -n "${ES_USER:-}" ]; then
        set -- "$@" -u "${ES_USER}"
    fi
    if [ -n "${ES_CACERT:-}" ]; then
        set -- "$@" --cacert "${ES_CACERT}"
    fi
    printf 'PUT %s ... ' "$path"
    sed "s/\"90d\"/\"${RETENTION:-90d}\"/" "$file" | curl "$@" --data-binary @- "${ES_URL}/${path}"
    echo
}

put _ingest/pipeline/logs-opensmtpd.jsonlog "$here/ingest-pipeline.json"
if [ -n "$RETENTION" ]; then
    if [ "$RETENTION_MODE" = ilm ]; then
        put _ilm/policy/logs-opensmtpd.jsonlog "$here/retention-ilm-policy.json"
        put _component_template/logs-opensmtpd.jsonlog@custom "$here/retention-ilm.json"
    else
        put _component_template/logs-opensmtpd.jsonlog@custom "$here/retention-lifecycle.json"
    fi
fi
put _index_template/logs-opensmtpd.jsonlog "$here/index-template.json"
# smtpd's delivery lines from the mail log (filebeat/*.yml, input opensmtpd-delivery).
put _ingest/pipeline/logs-opensmtpd.delivery "$here/delivery-pipeline.json"
if [ -n "$RETENTION" ]; then
    # The same retention, and for ILM the same policy, as the documents'.
    if [ "$RETENTION_MODE" = ilm ]; then
        put _component_template/logs-opensmtpd.delivery@custom "$here/retention-ilm.json"
    else
        put _component_template/logs-opensmtpd.delivery@custom "$here/retention-lifecycle.json"
    fi
fi
put _index_template/logs-opensmtpd.delivery "$here/delivery-index-template.json"
echo "done: documents sent to logs-opensmtpd.jsonlog-<namespace> and logs-opensmtpd.delivery-<namespace> now get their templates and pipelines"
if [ -n "$RETENTION" ]; then
    echo "retention $RETENTION ($RETENTION_MODE) applies to data streams created from now on; for an existing one see elasticsearch/README.md (Retention)"
fi
