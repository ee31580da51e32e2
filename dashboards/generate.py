#!/usr/bin/env python3
"""Generate filter-jsonlog's Kibana saved objects from the compact description below.

    python3 dashboards/generate.py           # rewrite the generated files
    python3 dashboards/generate.py --check   # exit 1 if they are stale

Outputs (committed; tests/elastic checks that they match this script):
  dashboards/opensmtpd-jsonlog.ndjson          data view, saved search, map and
                                               dashboards, for
                                               POST /api/saved_objects/_import
  dashboards/kibana/7/<type>/*.json            the same objects, one pretty JSON
                                               file each, in the layout of
                                               Filebeat's setup.dashboards.directory
  dashboards/PANELS.md                         every panel, its filter, its fields
                                               and the --events presets it works for

Format: Kibana 8.x saved objects (lowest supported Kibana: 8.15), by-value Lens
panels (datasource "formBased"), one data view with the fixed id
"opensmtpd-jsonlog" on logs-opensmtpd.jsonlog-*; the map and the saved search
are objects of their own, on their dashboards by reference.

Every document of filter-jsonlog repeats the whole session, so every panel
counts one kind of document: its query starts with one event.action clause
(or tx-commit or tx-rollback, which end each smtp-in transaction once).
Panels read what --events summaries keeps (link-disconnect with the session's
totals and state, tx-commit / tx-rollback with the whole transaction) unless
they need single events; those say why in needs_all, and PANELS.md lists them.
tests/elastic/test_panels.py checks every panel against counts made from the
report lines, under both presets.

Python 3 standard library only.
"""

from __future__ import annotations

import json
import re
import sys
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

NDJSON_OUT = HERE / "opensmtpd-jsonlog.ndjson"
BEATS_DIR = HERE / "kibana" / "7"
PANELS_OUT = HERE / "PANELS.md"

DATA_VIEW_ID = "opensmtpd-jsonlog"
DATA_VIEW_TITLE = "logs-opensmtpd.jsonlog-*"
DATA_VIEW_NAME = "OpenSMTPD (filter-jsonlog)"
TITLE_PREFIX = "[OpenSMTPD jsonlog] "
# The second data stream: smtpd's own delivery lines from the mail log
# (elasticsearch/delivery-pipeline.json, schema/delivery-fields.json).
DELIVERY_VIEW_ID = "opensmtpd-delivery"
DELIVERY_VIEW_TITLE = "logs-opensmtpd.delivery-*"
DELIVERY_VIEW_NAME = "OpenSMTPD deliveries (mail log)"

# What filter-jsonlog's --events summaries writes (src/select.rs SUMMARIES).
SUMMARIES_EVENTS = ("tx-commit", "tx-rollback", "link-disconnect", "session-expired", "session-evicted",
                    "session-unfinished")

# Saved-object versions: the 8.x format as Kibana 8.8+ exports it.  Panels
# were authored for 8.15.  A dashboard's typeMigrationVersion says which of
# its migrations have run; the dashboard migrations include those of the
# by-value Lens panels, the newest being Lens 8.9.0 (metric formatter).  With
# an older version, Kibana re-runs that migration on import and the metric
# panels lose their number format (counts shown as "12.3K").  Elastic's own
# integration dashboards carry 8.9.0 too.
CORE_MIGRATION_VERSION = "8.8.0"
DASHBOARD_MIGRATION_VERSION = "8.9.0"
INDEX_PATTERN_MIGRATION_VERSION = "8.0.0"
SEARCH_MIGRATION_VERSION = "8.0.0"
MAP_MIGRATION_VERSION = "8.4.0"
PANEL_VERSION = "8.15.0"

NAMESPACE = uuid.UUID("5d0b7a53-6f0e-4c4a-9a43-0e7f0c1a2b3c")


def uid(*parts: str) -> str:
    """Deterministic UUIDs, so that regeneration gives identical files."""
    return str(uuid.uuid5(NAMESPACE, "/".join(parts)))


def load_types() -> dict[str, str]:
    types = {}
    for path in (REPO / "schema" / "fields.json", REPO / "elasticsearch" / "pipeline-fields.json",
                 REPO / "elasticsearch" / "shipper-fields.json"):
        for f in json.loads(path.read_text(encoding="utf-8"))["fields"]:
            types[f["name"]] = f["type"]
    return types


def load_delivery_types() -> dict[str, str]:
    path = REPO / "schema" / "delivery-fields.json"
    return {f["name"]: f["type"] for f in json.loads(path.read_text(encoding="utf-8"))["fields"]}


LENS_DATA_TYPE = {
    "keyword": "string",
    "ip": "ip",
    "long": "number",
    "boolean": "boolean",
    "date": "date",
    "constant_keyword": "string",
}

# ---------------------------------------------------------------------------
# The compact description: columns, panels, dashboards.

BYTES = {"id": "bytes", "params": {"decimals": 1}}
INTEGER = {"id": "number", "params": {"decimals": 0}}
# A data view field format (fieldFormatMap), not a Lens column format: Lens
# columns on opensmtpd.session.duration_us carry no format of their own, so
# Kibana formats them with this one (microseconds in, humanized out).
DURATION = {"id": "duration", "params": {"inputFormat": "microseconds", "outputFormat": "humanizePrecise",
                                        "outputPrecision": 1}}
# delay= in whole seconds, stored as event.duration in nanoseconds (ECS):
# Lens' duration format turns fromUnit into toUnit (format_column.ts).
SECONDS = {"id": "duration", "params": {"fromUnit": "nanoseconds", "toUnit": "asSeconds", "decimals": 0}}
# The only keys of a column's format.params that Lens reads (ValueFormatConfig
# in Lens' column_types.ts); anything else is dropped on the way to the
# formatter, which then falls back to its defaults (a duration in seconds).
LENS_FORMAT_PARAMS = frozenset({"decimals", "suffix", "compact", "pattern", "fromUnit", "toUnit"})

# Buckets of the distribution charts: [from, to) in the field's unit.
DURATION_RANGES = ((0, 1_000_000, "< 1 s"), (1_000_000, 10_000_000, "1-10 s"), (10_000_000, 60_000_000, "10-60 s"),
                   (60_000_000, 300_000_000, "1-5 min"), (300_000_000, None, ">= 5 min"))
SIZE_RANGES = ((0, 10_240, "< 10 KiB"), (10_240, 102_400, "10-100 KiB"), (102_400, 1_048_576, "100 KiB-1 MiB"),
               (1_048_576, 10_485_760, "1-10 MiB"), (10_485_760, None, ">= 10 MiB"))


def date() -> dict:
    return {"op": "date_histogram", "field": "@timestamp"}


def terms(field: str, label: str, size: int = 10, other: bool = False, missing: bool = False) -> dict:
    # Lens sends missingBucket to Elasticsearch only together with otherBucket
    # (terms.tsx: missingBucket: otherBucket && missingBucket); alone it is
    # silently ignored and rows without the field vanish.
    if missing and not other:
        raise ValueError(f"terms on {field}: a missing bucket needs other=True")
    return {"op": "terms", "field": field, "label": label, "size": size, "other": other, "missing": missing}


def ranges(field: str, label: str, buckets: tuple) -> dict:
    return {"op": "range", "field": field, "label": label, "ranges": buckets}


def count(label: str, where: str | None = None) -> dict:
    return {"op": "count", "label": label, "filter": where}


def metric(op: str, field: str, label: str, fmt: dict | None = None, where: str | None = None) -> dict:
    """where: a KQL filter of this column alone (Lens' per-column filter)."""
    return {"op": op, "field": field, "label": label, "fmt": fmt, "filter": where}


def percentile(field: str, pct: int, label: str, fmt: dict | None = None) -> dict:
    """Lens' percentile operation (Elasticsearch's percentiles, t-digest)."""
    return {**metric("percentile", field, label, fmt), "percentile": pct}


def panel(title: str, vis: str, action, where: str | None = None, *, w: int = 24, h: int = 12,
          x: dict | None = None, split: dict | None = None, metrics: tuple = (), rows: tuple = (),
          series: str = "bar_stacked", description: str = "", needs_all: str = "",
          view: str = DATA_VIEW_ID) -> dict:
    """vis: metric | xy | pie | table.
    xy:     x (date, terms or range), optional split (terms), metrics (one or more)
    pie:    rows (terms, the slices), metrics (one)
    table:  rows (terms), metrics
    metric: metrics (one)
    action: the event counted, or a tuple of events that end the same thing
    (tx-commit / tx-rollback: each transaction ends once).
    needs_all: why the panel stays empty under --events summaries (empty: it
    works for both presets)."""
    return {"kind": "lens", "title": title, "vis": vis, "action": action, "where": where, "w": w, "h": h, "x": x,
            "split": split, "metrics": list(metrics), "rows": list(rows), "series": series,
            "description": description, "needs_all": needs_all, "health": False, "view": view}


def delivery_panel(title: str, vis: str, where: str | None, **kw) -> dict:
    """A Lens panel on the delivery data view: it counts smtpd's mail log
    lines (one per delivery attempt, expiry or failed bounce report), so
    its query is on opensmtpd.delivery.*, not event.action."""
    return panel(title, vis, None, where, view=DELIVERY_VIEW_ID, **kw)


def map_panel(title: str, action: str, where: str, geo_field: str, *, w: int = 24, h: int = 15) -> dict:
    """A Maps panel: one clusters layer (count) on geo_field."""
    return {"kind": "map", "title": title, "vis": "map", "action": action, "where": where, "w": w, "h": h,
            "geo_field": geo_field, "x": None, "split": None, "rows": [], "metrics": [count("Sessions")],
            "description": "Clusters of inbound sessions by the client's GeoIP location.", "needs_all": "",
            "health": False}


def esql_panel(title: str, query: str, columns: tuple, fields: tuple, *, w: int = 48, h: int = 14,
               description: str = "") -> dict:
    """A Lens table on an ES|QL query (textBased datasource; Kibana 8.15+):
    for what one aggregation over the documents cannot give, such as a
    figure that pairs two documents of one message.  columns: (name, type)
    of the query's result; fields: the document fields it reads."""
    return {"kind": "esql", "title": title, "vis": "table", "action": "tx-commit", "where": None, "w": w, "h": h,
            "x": None, "split": None, "rows": [], "metrics": [], "series": "", "description": description,
            "needs_all": "", "health": False, "esql": query, "columns": list(columns), "fields": list(fields)}


def search_panel(search_id: str, *, w: int = 48, h: int = 15) -> dict:
    return {"kind": "search", "search": search_id, "title": SEARCHES[search_id]["title"], "w": w, "h": h}


def health_panel(title: str, vis: str, query: str, **kw) -> dict:
    """A panel of the pipeline's health: it counts documents that are not
    filter-jsonlog's session documents (lines Filebeat could not decode,
    documents the ingest pipeline failed on, any document at all), so its
    query is not one event.action."""
    p = panel(title, vis, None, query, **kw)
    p["health"] = True
    return p


SMTP_IN = 'opensmtpd.subsystem : "smtp-in"'
SMTP_OUT = 'opensmtpd.subsystem : "smtp-out"'
# Network clients: local enqueue (unix socket) has source.address, no source.ip.
NET_IN = 'opensmtpd.subsystem : "smtp-in" and source.ip : *'
# smtp-out sessions that never connected carry nothing but their link-disconnect.
CONNECTED = "not opensmtpd.counters.connects : 0"
REFUSED = 'not opensmtpd.rcpt.result : "ok"'
AUTH_OK = 'opensmtpd.auth.result : "pass"'
# Sessions with at least one failed AUTH attempt, whatever came after it.
# "> 0" rather than "not ... : 0": documents of filter-jsonlog versions
# without the counter must not count as failures.
AUTH_FAILURES = "opensmtpd.counters.auth_failures > 0"
# Sessions in which the server (smtp-in: smtpd; smtp-out: the remote server)
# gave at least one 4xx or 5xx reply.
ERROR_REPLIES = "(opensmtpd.counters.replies_4xx > 0 or opensmtpd.counters.replies_5xx > 0)"
MX_IN = NET_IN + ' and not opensmtpd.auth.result : "pass"'
SUBMISSION = SMTP_IN + ' and opensmtpd.auth.result : "pass"'
VERDICTS = ('(opensmtpd.filter.response.decision : "reject" or opensmtpd.filter.response.decision : "disconnect"'
            ' or opensmtpd.filter.response.decision : "junk")')
FCRDNS_FAILED = '(opensmtpd.fcrdns : "fail" or opensmtpd.fcrdns : "error")'
ERROR_REPLY = "opensmtpd.response_code >= 400"
METRIC = 'event.kind : "metric"'
TX_END = ("tx-commit", "tx-rollback")


def AND(*parts: str) -> str:
    return " and ".join(parts)


SESSIONS = count("Sessions")
MESSAGES = count("Messages")
RECIPIENTS = count("Recipients")
TRANSACTIONS = count("Transactions")
# Every tx-commit document carries its session's id: distinct ids are sessions.
SESSIONS_OF_MESSAGES = metric("unique_count", "opensmtpd.session.id", "Sessions", INTEGER)
# smtp-out opens one transaction per destination (and per retry) of the same
# message, all with its msgid: distinct ids are messages.
RELAYED_MESSAGES = metric("unique_count", "email.local_id", "Messages", INTEGER)
DELIVERED = 'event.action : "tx-commit"'
DEFERRED = 'event.action : "tx-rollback" and opensmtpd.response_code >= 400 and opensmtpd.response_code < 500'
REFUSED_5XX = 'event.action : "tx-rollback" and opensmtpd.response_code >= 500'
AUTH_FAILURE_COUNT = metric("sum", "opensmtpd.counters.auth_failures", "AUTH failures", INTEGER)
REPLIES_4XX = metric("sum", "opensmtpd.counters.replies_4xx", "4xx replies", INTEGER)
REPLIES_5XX = metric("sum", "opensmtpd.counters.replies_5xx", "5xx replies", INTEGER)

SEARCH_ID = "opensmtpd-jsonlog-events"
TRACE_ID = "opensmtpd-jsonlog-message-trace"
DELIVERY_TRACE_ID = "opensmtpd-delivery-message-trace"
# Bounces: MAIL FROM:<>, an empty sender.
BOUNCE = 'email.from.address : ""'
SEARCHES = {
    SEARCH_ID: {
        "title": "Session events",
        "description": "Every session document with the fields to drill down on. Filter on "
                       "opensmtpd.session.id to follow one session, on email.local_id to follow one message; "
                       "@timestamp has millisecond precision in Elasticsearch, event.sequence keeps the order "
                       "within a session.",
        "columns": ["event.action", "opensmtpd.subsystem", "opensmtpd.session.id", "event.sequence",
                    "email.local_id", "source.ip", "destination.port", "email.from.address", "email.to.address",
                    "opensmtpd.response"],
        "query": 'event.kind : "event"',
        "sort": [["@timestamp", "desc"], ["event.sequence", "desc"]],
    },
    # smtpd keeps a message's msgid from acceptance to delivery: the smtp-out
    # transaction that relays it carries the email.local_id of the smtp-in
    # tx-commit that accepted it.  With one message id picked (the "Message
    # id" control, or a filter), this is the message's history, oldest first.
    TRACE_ID: {
        "title": "Message trace",
        "description": "One message's reception and every delivery attempt, oldest first: pick its id in the "
                       "\"Message id\" control (or filter on email.local_id, a sender or a recipient). smtp-in "
                       "tx-commit is the acceptance; each smtp-out tx-commit a delivery to one destination, each "
                       "smtp-out tx-rollback a deferral or refusal with the remote server's reply.",
        "columns": ["email.local_id", "opensmtpd.subsystem", "event.action", "email.from.address",
                    "email.to.address", "source.ip", "destination.domain", "destination.ip",
                    "opensmtpd.response", "opensmtpd.transaction.size"],
        "query": '(event.action : "tx-commit" or event.action : "tx-rollback") and email.local_id : *',
        "sort": [["@timestamp", "asc"], ["event.sequence", "asc"]],
    },
    # The same message in smtpd's mail log: every delivery attempt, expiry
    # and failed bounce report, with smtpd's result and reason.  On the
    # delivery data view; the dashboard's "Message id" control filters it
    # too (a control's filter applies to every panel with the field).
    DELIVERY_TRACE_ID: {
        "title": "Message trace: delivery lines (mail log)",
        "description": "smtpd's own delivery lines of the messages picked in the \"Message id\" control (or a "
                       "filter on email.local_id or a recipient), oldest first: each local (mda) or relay (mta) "
                       "attempt with its result and stat, expiries and failed bounce reports. Beside the SMTP "
                       "session documents of the message trace above it.",
        "columns": ["email.local_id", "opensmtpd.delivery.envelope_id", "opensmtpd.delivery.method",
                    "opensmtpd.delivery.status", "email.to.address", "opensmtpd.delivery.relay",
                    "opensmtpd.delivery.stat", "opensmtpd.delivery.delay_seconds"],
        "query": "email.local_id : *",
        "sort": [["@timestamp", "asc"]],
        "view": DELIVERY_VIEW_ID,
    },
}

# Limits of what the panels show (PANELS.md's last section).
CAVEATS = (
    "Session panels count `link-disconnect`: sessions the filter ended itself (`session-expired`, "
    "`session-evicted`, `session-unfinished`) are not in them.",
    "Totals taken from `opensmtpd.counters.*` at `link-disconnect` (recipients, refused recipients, AUTH "
    "failures, 4xx/5xx replies, filter verdicts) are placed at the end of their session on the time axis.",
    "AUTH failures are attempts: `link-auth` results other than `pass` (`opensmtpd.counters.auth_failures`, "
    "summed at `link-disconnect`). \"Sessions with failed AUTH\" are sessions with at least one, whether a later "
    "attempt passed or not (the last result is in `opensmtpd.auth.result`).",
    "\"AUTH failures by user\" puts all failures of a session under the user of its last AUTH attempt "
    "(`opensmtpd.auth.user`, which names failed attempts too): a session that tried bob and then alice counts "
    "both failures under alice. With `--events all`, the `link-auth` documents (Discover) show every name "
    "tried. With `--user-privacy` the names are hashed or redacted here as everywhere.",
    "4xx/5xx replies are counted per reply, not per line: a multi-line reply counts once, by its last line "
    "(`opensmtpd.counters.replies_4xx` / `replies_5xx`, summed at `link-disconnect`). smtp-in: smtpd's replies "
    "to clients; smtp-out: the remote servers' replies to smtpd. The class panels work under both presets; the "
    "exact codes (\"Reply codes 4xx/5xx\") need `all`.",
    "Refused recipient addresses and domains come from the transaction's recipient list at `tx-commit` / "
    "`tx-rollback` (`opensmtpd.refused_rcpts`, made by the ingest pipeline): an address refused twice in one "
    "transaction counts once; a transaction smtpd drops without either (its queue commit failed: "
    "\"421 Temporary failure\") is missing; a document shortened to `--max-line-bytes` keeps only the first "
    "50 or 10 recipients. The `opensmtpd.counters.*` totals are always exact.",
    "smtp-out: smtpd reports a refused recipient as reply, `tx-rollback`, `tx-reset`, then `tx-rcpt` "
    "(`mta_session.c`), so each `tx-rollback` of smtp-out is one refusal or deferral (a recipient, the message "
    "at DATA or at the end of data) and its `opensmtpd.response` is the remote reply. A refused MAIL FROM "
    "produces no `tx-*` event at all; the reply-class panels count its reply, and \"Reply codes 4xx/5xx\" "
    "(`all`) its code.",
    "Protocol 0.4 (OpenSMTPD 6.6) reports `tx-rcpt` before the reply to RCPT TO, so there \"Refusal replies\" "
    "shows the reply before it.",
    "Unique counts are Elasticsearch's cardinality: exact up to 3,000 distinct values, approximate beyond.",
    "Local enqueue (`sendmail`, the unix socket) is in the message panels but not in the client or TLS panels.",
    "Clients and remote servers GeoLite2 has no entry for (private, loopback, link-local and CGNAT addresses) "
    "are \"(no GeoIP: private or unknown)\" in the country and AS organisation panels (set by the ingest "
    "pipeline), not missing.",
    "Mail addresses are indexed lower case (the template's `lowercase` normalizer), so the address panels and "
    "controls treat `Bob@Example.org` and `bob@example.org` as one; the documents keep what was sent.",
    "\"Messages relayed\" counts distinct `email.local_id` of smtp-out `tx-commit`: smtpd opens one smtp-out "
    "transaction per destination (and per retry) of the same message. The size panels count accepted "
    "messages (smtp-in) only, so a relayed message is not counted twice.",
    "\"Delivery by destination domain\" takes the domain from the transaction's accepted recipients "
    "(`opensmtpd.to_domains`): a smtp-out refusal or deferral before any recipient of its transaction was "
    "accepted is in the \"(missing value)\" row. Delivered counts `tx-commit` (one delivery of a message to "
    "that domain), Deferred and Refused count `tx-rollback` by the class of the remote reply.",
    "\"Delivery delay by destination domain (ES|QL)\" pairs a message's smtp-in and first smtp-out "
    "`tx-commit` per domain by `email.local_id`; both must fall inside the time range, and both must reach "
    "the same cluster (one smtpd's documents). @timestamp has milliseconds, so delays under 1 ms show as 0.",
    "Bounces are messages with an empty envelope sender (`email.from.address : \"\"`): smtp-in received, "
    "smtp-out sent by smtpd (its own bounces included).",
)

# Filter controls: field -> (title, documents that may lack the field, as
# KQL, or None).  A control filters every panel of its dashboard: a panel
# whose documents lack the field goes empty once a value is picked.  So a
# dashboard has only controls every one of its panels can answer, and where
# some documents lack the field by nature the title says which
# (tests/elastic/test_panels.py checks both).
CONTROLS = {
    "host.name": ("Mail host", None),
    "opensmtpd.subsystem": ("Direction", None),
    "destination.port": ("Port (connected network sessions)",
                         'not source.ip : * or opensmtpd.counters.connects : 0'),
    "opensmtpd.from_domain": ("Sender domain (bounces have none)", BOUNCE),
    "email.from.address": ("Sender address (bounces have none)", BOUNCE),
    "opensmtpd.to_domains": ("Recipient domain (accepted recipients)", "not email.to.address : *"),
    "email.to.address": ("Recipient address (accepted recipients)", "not email.to.address : *"),
    "email.local_id": ("Message id", None),
    "destination.domain": ("Recipient domain", None),
}
SESSION_CONTROLS = ("host.name", "opensmtpd.subsystem", "destination.port")
# No Direction here: the delivery delay pairs a message's smtp-in and
# smtp-out documents, and either direction alone empties it.
MESSAGE_CONTROLS = ("host.name", "opensmtpd.from_domain", "opensmtpd.to_domains", "email.from.address",
                    "email.to.address", "email.local_id")

# Delivery delay: from the smtp-in tx-commit that accepted a message to the
# first smtp-out tx-commit that delivered it to each destination domain
# (same email.local_id: smtpd keeps the msgid), per destination domain.
# ES|QL, because it pairs two documents: MV_EXPAND puts each recipient domain
# of a message on a row of its own, STATS by message and domain keeps the
# acceptance (smtp-in) and first delivery (smtp-out) times side by side.
# Times are @timestamp's milliseconds.  filter-jsonlog report computes the
# same figure from the report lines (median, 90th percentile, maximum).
DELAY_ESQL = "\n".join([
    "FROM logs-opensmtpd.jsonlog-*",
    '| WHERE event.action == "tx-commit" AND email.local_id IS NOT NULL AND opensmtpd.to_domains IS NOT NULL',
    "| EVAL t = TO_LONG(@timestamp)",
    '| EVAL t_in = CASE(opensmtpd.subsystem == "smtp-in", t), t_out = CASE(opensmtpd.subsystem == "smtp-out", t)',
    "| MV_EXPAND opensmtpd.to_domains",
    "| STATS accepted = MIN(t_in), delivered = MIN(t_out) BY email.local_id, opensmtpd.to_domains",
    "| WHERE accepted IS NOT NULL AND delivered IS NOT NULL",
    "| EVAL delay_s = (delivered - accepted) / 1000.0",
    "| STATS messages = COUNT(*), median_s = MEDIAN(delay_s), p90_s = PERCENTILE(delay_s, 90),"
    " max_s = MAX(delay_s) BY opensmtpd.to_domains",
    "| RENAME opensmtpd.to_domains AS destination_domain",
    "| SORT messages DESC, destination_domain ASC",
    "| LIMIT 25",
])
DELAY_COLUMNS = (("messages", "number"), ("median_s", "number"), ("p90_s", "number"), ("max_s", "number"),
                 ("destination_domain", "string"))

DASHBOARDS = [
    {
        "id": "opensmtpd-jsonlog-overview",
        "title": "Overview",
        "description": "Sessions, messages, recipients, bytes, session durations and message sizes, per mail host, "
                       "and filter-jsonlog's own health (self-metrics documents).",
        "panels": [
            panel("Inbound sessions", "metric", "link-disconnect", NET_IN, w=12, h=5, metrics=(SESSIONS,),
                  description="smtp-in sessions from network clients that ended (one link-disconnect each); local enqueue not counted."),
            panel("Messages accepted", "metric", "tx-commit", SMTP_IN, w=12, h=5, metrics=(MESSAGES,),
                  description="Messages smtpd accepted (tx-commit of smtp-in), local enqueue included."),
            panel("Recipients accepted", "metric", "link-disconnect", SMTP_IN, w=12, h=5,
                  metrics=(metric("sum", "opensmtpd.counters.recipients_accepted", "Recipients", INTEGER),),
                  description="RCPT TO that smtpd accepted, from the session totals at link-disconnect."),
            panel("Recipients refused", "metric", "link-disconnect", SMTP_IN, w=12, h=5,
                  metrics=(metric("sum", "opensmtpd.counters.recipients_refused", "Recipients", INTEGER),),
                  description="RCPT TO answered with permfail or tempfail, from the session totals at link-disconnect."),
            panel("Bytes accepted", "metric", "tx-commit", SMTP_IN, w=12, h=5,
                  metrics=(metric("sum", "opensmtpd.transaction.size", "Bytes", BYTES),),
                  description="Sum of smtpd's spooled message sizes (tx-commit)."),
            panel("Unique senders", "metric", "tx-commit", SMTP_IN, w=12, h=5,
                  metrics=(metric("unique_count", "email.from.address", "Senders", INTEGER),),
                  description="Distinct envelope senders of accepted messages."),
            panel("Unique recipients", "metric", "tx-commit", SMTP_IN, w=12, h=5,
                  metrics=(metric("unique_count", "email.to.address", "Recipients", INTEGER),),
                  description="Distinct accepted recipients of accepted messages."),
            panel("Messages relayed (smtp-out)", "metric", "tx-commit", SMTP_OUT, w=12, h=5,
                  metrics=(RELAYED_MESSAGES,),
                  description="Messages smtpd delivered to a remote server or smarthost: distinct email.local_id of "
                              "smtp-out tx-commit (a message relayed to three domains counts once)."),
            panel("Sessions over time", "xy", "link-disconnect", CONNECTED, x=date(),
                  split=terms("opensmtpd.subsystem", "Subsystem", 2), metrics=(SESSIONS,),
                  description="Sessions that had a connection (smtp-out attempts that never connected are on the Outbound dashboard)."),
            panel("Messages over time", "xy", "tx-commit", None, x=date(),
                  split=terms("opensmtpd.subsystem", "Subsystem", 2), metrics=(MESSAGES,)),
            panel("Recipients accepted vs refused", "xy", "link-disconnect", SMTP_IN, x=date(),
                  metrics=(metric("sum", "opensmtpd.counters.recipients_accepted", "Accepted", INTEGER),
                           metric("sum", "opensmtpd.counters.recipients_refused", "Refused", INTEGER)),
                  description="Session totals, placed at the end of each session."),
            panel("Bytes accepted over time", "xy", "tx-commit", SMTP_IN, x=date(),
                  metrics=(metric("sum", "opensmtpd.transaction.size", "Bytes", BYTES),)),
            panel("Sessions per mail host", "xy", "link-disconnect", CONNECTED, x=date(),
                  split=terms("host.name", "Host", 10, other=True), metrics=(SESSIONS,),
                  description="host.name is the host Filebeat runs on: one line per mail server."),
            panel("Mail hosts", "table", "tx-commit", None,
                  rows=(terms("host.name", "Host", 20), terms("opensmtpd.subsystem", "Subsystem", 2)),
                  metrics=(MESSAGES, metric("sum", "opensmtpd.transaction.size", "Bytes", BYTES))),
            panel("Session duration", "xy", "link-disconnect", CONNECTED, x=date(), series="line",
                  split=terms("opensmtpd.subsystem", "Subsystem", 2),
                  metrics=(metric("average", "opensmtpd.session.duration_us", "Average duration"),),
                  description="Average time from link-connect to link-disconnect."),
            panel("Session durations", "xy", "link-disconnect", CONNECTED, series="bar_stacked",
                  x=ranges("opensmtpd.session.duration_us", "Duration", DURATION_RANGES),
                  split=terms("opensmtpd.subsystem", "Subsystem", 2), metrics=(SESSIONS,)),
            panel("Message sizes", "xy", "tx-commit", SMTP_IN, series="bar_stacked",
                  x=ranges("opensmtpd.transaction.size", "Size", SIZE_RANGES), metrics=(MESSAGES,),
                  description="Messages accepted (smtp-in), by size: a relayed message is not counted again."),
            panel("Largest messages", "metric", "tx-commit", SMTP_IN, w=12, h=6,
                  metrics=(metric("max", "opensmtpd.transaction.size", "Largest message", BYTES),)),
            panel("Average message size", "metric", "tx-commit", SMTP_IN, w=12, h=6,
                  metrics=(metric("average", "opensmtpd.transaction.size", "Average message", BYTES),)),
            panel("Documents dropped by filter-jsonlog", "xy", "documents-dropped", METRIC, x=date(),
                  split=terms("host.name", "Host", 10, other=True),
                  metrics=(metric("sum", "opensmtpd.jsonlog.dropped_since_last", "Documents dropped", INTEGER),),
                  description="From the documents-dropped self-metrics documents: documents lost while the output was down, per host."),
            panel("filter-jsonlog counters per host (stats)", "table", "stats", METRIC,
                  rows=(terms("host.name", "Host", 20),),
                  metrics=(metric("max", "opensmtpd.jsonlog.documents_truncated", "Documents truncated", INTEGER),
                           metric("max", "opensmtpd.jsonlog.documents_dropped", "Documents dropped", INTEGER),
                           metric("max", "opensmtpd.jsonlog.lines_rejected", "Lines rejected", INTEGER),
                           metric("max", "opensmtpd.jsonlog.internal_errors", "Internal errors", INTEGER)),
                  description="From the stats self-metrics documents: the highest counter value of each host in the time range "
                              "(the counters count since that host's filter started)."),
            health_panel("Lines Filebeat could not decode", "metric", "not event.action : * and error.message : *",
                         w=12, h=6, metrics=(count("Lines"),),
                         description="Documents without event.action but with error.message: lines of the file that "
                                     "were not JSON (a document cut by a syslog size limit, a rotation marker). "
                                     "Should be 0."),
            health_panel("Ingest pipeline errors", "metric", 'event.kind : "pipeline_error"', w=12, h=6,
                         metrics=(count("Documents"),),
                         description="Documents the ingest pipeline failed on (event.kind pipeline_error, the reason "
                                     "in error.message). Should be 0."),
            panel("Documents dropped (filter-jsonlog)", "metric", "documents-dropped", METRIC, w=12, h=6,
                  metrics=(metric("sum", "opensmtpd.jsonlog.dropped_since_last", "Documents dropped", INTEGER),),
                  description="Sum of the documents-dropped self-metrics: documents the filter lost while its "
                              "output was down. Should be 0."),
            health_panel("Last document per mail host", "table", 'event.kind : "event" or event.kind : "metric"',
                         w=12, h=6, rows=(terms("host.name", "Host", 50),),
                         metrics=(metric("max", "@timestamp", "Last document"),),
                         description="When each host's newest document was written: a host whose time lags by "
                                     "more than the stats interval has stopped shipping (the \"ingestion stalled\" "
                                     "alert in dashboards/alerts/ watches the same)."),
            search_panel(SEARCH_ID, w=48, h=15),
        ],
        "controls": ("host.name",),
    },
    {
        "id": "opensmtpd-jsonlog-tls",
        "title": "TLS",
        "description": "TLS versus plaintext, per session and per recipient domain; TLS versions and ciphers, inbound and outbound apart.",
        "panels": [
            panel("TLS vs plaintext sessions (smtp-in)", "pie", "link-disconnect", NET_IN, w=16,
                  rows=(terms("tls.established", "TLS", 2),), metrics=(SESSIONS,),
                  description="Network clients only: local enqueue (unix socket) needs no TLS."),
            panel("TLS vs plaintext sessions (smtp-out)", "pie", "link-disconnect", AND(SMTP_OUT, CONNECTED), w=16,
                  rows=(terms("tls.established", "TLS", 2),), metrics=(SESSIONS,),
                  description="smtp-out sessions that connected (opensmtpd.counters.connects is not 0)."),
            panel("TLS versions (smtp-in)", "pie", "link-disconnect", AND(SMTP_IN, "tls.established : true"), w=8,
                  rows=(terms("tls.version", "TLS version", 5),), metrics=(SESSIONS,)),
            panel("TLS versions (smtp-out)", "pie", "link-disconnect", AND(SMTP_OUT, "tls.established : true"), w=8,
                  rows=(terms("tls.version", "TLS version", 5),), metrics=(SESSIONS,)),
            panel("TLS share of inbound sessions over time", "xy", "link-disconnect", NET_IN,
                  series="bar_percentage_stacked", x=date(), split=terms("tls.established", "TLS", 2),
                  metrics=(SESSIONS,)),
            panel("TLS ciphers", "table", "link-disconnect", "tls.established : true",
                  rows=(terms("opensmtpd.subsystem", "Subsystem", 2), terms("tls.version", "TLS version", 5),
                        terms("tls.cipher", "Cipher", 20), terms("opensmtpd.tls.bits", "Bits", 5)),
                  metrics=(SESSIONS,)),
            panel("TLS vs plaintext sessions per recipient domain (received, MX)", "xy", "tx-commit", MX_IN, h=15,
                  series="bar_horizontal_stacked", x=terms("opensmtpd.to_domains", "Recipient domain", 20),
                  split=terms("tls.established", "TLS", 2), metrics=(SESSIONS_OF_MESSAGES,),
                  description="Sessions that delivered mail to us without AUTH (port 25 / MX traffic), per recipient domain, "
                              "by whether the client used TLS. A session counts once per domain however many messages it sent."),
            panel("TLS vs plaintext sessions per recipient domain (submission)", "xy", "tx-commit", SUBMISSION, h=15,
                  series="bar_horizontal_stacked", x=terms("opensmtpd.to_domains", "Recipient domain", 20),
                  split=terms("tls.established", "TLS", 2), metrics=(SESSIONS_OF_MESSAGES,),
                  description="Authenticated submission sessions, per recipient domain, by TLS."),
            panel("TLS vs plaintext sessions per recipient domain (delivered)", "xy", "tx-commit", SMTP_OUT, h=15,
                  series="bar_horizontal_stacked", x=terms("opensmtpd.to_domains", "Recipient domain", 20),
                  split=terms("tls.established", "TLS", 2), metrics=(SESSIONS_OF_MESSAGES,),
                  description="smtp-out sessions to remote servers, per recipient domain, by TLS."),
            panel("Plaintext clients (smtp-in)", "table", "link-disconnect", AND(NET_IN, "tls.established : false"),
                  rows=(terms("source.ip", "Client address", 20),
                        terms("source.domain", "Client rDNS", 1, other=True, missing=True)),
                  metrics=(SESSIONS,), description="Network clients that never started TLS."),
            panel("Plaintext deliveries (smtp-out)", "table", "tx-commit", AND(SMTP_OUT, "tls.established : false"),
                  rows=(terms("destination.ip", "Remote server", 20),
                        terms("opensmtpd.greeting", "Remote banner name", 1, other=True, missing=True)),
                  metrics=(MESSAGES,), description="Messages delivered without TLS, per remote server."),
        ],
        "controls": SESSION_CONTROLS,
    },
    {
        "id": "opensmtpd-jsonlog-senders-recipients",
        "title": "Senders and recipients",
        "description": "Top senders, recipients, domains, client rDNS names, HELO names and authenticated users.",
        "panels": [
            panel("Top senders", "table", "tx-commit", SMTP_IN, w=16, h=14,
                  rows=(terms("email.from.address", "Envelope sender", 20),), metrics=(MESSAGES,)),
            panel("Top recipients", "table", "tx-commit", SMTP_IN, w=16, h=14,
                  rows=(terms("email.to.address", "Recipient", 20),), metrics=(MESSAGES,)),
            panel("Top authenticated users", "table", "tx-commit", AND(SMTP_IN, AUTH_OK),
                  w=16, h=14, rows=(terms("user.name", "AUTH user", 20),), metrics=(MESSAGES,)),
            panel("Top sender domains", "xy", "tx-commit", SMTP_IN, h=14, series="bar_horizontal",
                  x=terms("opensmtpd.from_domain", "Sender domain", 15), metrics=(MESSAGES,)),
            panel("Top recipient domains", "xy", "tx-commit", SMTP_IN, h=14, series="bar_horizontal",
                  x=terms("opensmtpd.to_domains", "Recipient domain", 15), metrics=(MESSAGES,)),
            panel("Top client rDNS names", "table", "link-disconnect", NET_IN, w=16, h=14,
                  rows=(terms("source.domain", "Client rDNS", 20, other=True, missing=True),), metrics=(SESSIONS,)),
            panel("Top HELO/EHLO names", "table", "link-disconnect", SMTP_IN, w=16, h=14,
                  rows=(terms("opensmtpd.helo.name", "HELO name", 20),), metrics=(SESSIONS,)),
            panel("Top client addresses", "table", "link-disconnect", NET_IN, w=16, h=14,
                  rows=(terms("source.ip", "Client address", 20),), metrics=(SESSIONS,)),
            panel("Top destination domains (smtp-out)", "xy", "tx-commit", SMTP_OUT, h=14, series="bar_horizontal",
                  x=terms("opensmtpd.to_domains", "Recipient domain", 15), metrics=(MESSAGES,)),
            panel("Traffic by sender domain", "table", "tx-commit", SMTP_IN, h=14,
                  rows=(terms("opensmtpd.from_domain", "Sender domain", 20),),
                  metrics=(MESSAGES, metric("sum", "opensmtpd.transaction.size", "Bytes", BYTES))),
        ],
        "controls": SESSION_CONTROLS,
    },
    {
        "id": "opensmtpd-jsonlog-rejections-security",
        "title": "Rejections and security",
        "description": "Refused recipients, 4xx/5xx replies, AUTH failures by user and client, filter verdicts, timeouts and FCrDNS failures.",
        "panels": [
            panel("Refused recipients over time", "xy", "link-disconnect", SMTP_IN, x=date(),
                  metrics=(metric("sum", "opensmtpd.counters.recipients_refused", "Refused recipients", INTEGER),),
                  description="Session totals, placed at the end of each session."),
            panel("Top refused recipient addresses", "table", TX_END, AND(SMTP_IN, "opensmtpd.refused_rcpts : *"),
                  rows=(terms("opensmtpd.refused_rcpts", "Refused RCPT TO", 20),), metrics=(TRANSACTIONS,),
                  description="Transactions that had this address refused (from the transaction's recipient list)."),
            panel("Refused recipient domains", "xy", TX_END, AND(SMTP_IN, "opensmtpd.refused_domains : *"), w=16, h=14,
                  series="bar_horizontal", x=terms("opensmtpd.refused_domains", "Recipient domain", 15),
                  metrics=(TRANSACTIONS,)),
            panel("Refusal replies", "table", "tx-rcpt", AND(SMTP_IN, REFUSED), w=16, h=14,
                  rows=(terms("opensmtpd.response", "Reply to RCPT TO", 15),), metrics=(RECIPIENTS,),
                  needs_all="the reply text of each refused RCPT TO is only on its tx-rcpt document"),
            panel("Clients with most refused recipients", "table", "link-disconnect", AND(NET_IN, "not opensmtpd.counters.recipients_refused : 0"), w=16, h=14,
                  rows=(terms("source.ip", "Client address", 20), terms("source.domain", "Client rDNS", 1, other=True, missing=True)),
                  metrics=(metric("sum", "opensmtpd.counters.recipients_refused", "Refused recipients", INTEGER),)),
            panel("4xx/5xx replies over time", "xy", "link-disconnect", ERROR_REPLIES, x=date(),
                  metrics=(REPLIES_4XX, REPLIES_5XX),
                  description="Replies with a 4xx or 5xx code (a multi-line reply counts once), from the session totals, "
                              "placed at the end of each session. smtp-in: our replies to clients; smtp-out: the remote "
                              "servers' replies to us (the Direction control picks one)."),
            panel("4xx/5xx replies by mail host and direction", "table", "link-disconnect", ERROR_REPLIES,
                  rows=(terms("host.name", "Host", 20), terms("opensmtpd.subsystem", "Subsystem", 2)),
                  metrics=(count("Sessions with 4xx/5xx"), REPLIES_4XX, REPLIES_5XX),
                  description="Sessions that got at least one 4xx or 5xx reply, and their replies by class."),
            panel("Reply codes 4xx/5xx", "table", "protocol-server", ERROR_REPLY, w=16, h=14,
                  rows=(terms("opensmtpd.subsystem", "Subsystem", 2), terms("opensmtpd.response_code", "Reply code", 20)),
                  metrics=(count("Replies"),),
                  description="Every reply line with a code from 400 up (multi-line replies count per line). smtp-in: "
                              "our replies to clients; smtp-out: the remote servers' replies to us. The classes "
                              "(4xx, 5xx) per session are in the panels beside it, under both presets.",
                  needs_all="the code of every reply is only on its own protocol-server document; the sessions "
                            "count replies by class only (4xx, 5xx)"),
            panel("Clients with 4xx/5xx replies", "table", "link-disconnect", AND(NET_IN, ERROR_REPLIES), w=16, h=14,
                  rows=(terms("source.ip", "Client address", 20),
                        terms("source.domain", "Client rDNS", 1, other=True, missing=True)),
                  metrics=(count("Sessions with 4xx/5xx"), REPLIES_4XX, REPLIES_5XX)),
            panel("AUTH failures over time", "xy", "link-disconnect", AND(SMTP_IN, AUTH_FAILURES), w=16, x=date(),
                  split=terms("opensmtpd.auth.result", "Last AUTH result", 3), metrics=(AUTH_FAILURE_COUNT,),
                  description="Failed AUTH attempts (link-auth fail or error), from the session totals, placed at the end "
                              "of each session, by the session's last AUTH result: \"pass\" are sessions that failed "
                              "before they authenticated."),
            panel("AUTH failures by user", "table", "link-disconnect", AND(SMTP_IN, AUTH_FAILURES), w=16,
                  rows=(terms("opensmtpd.auth.user", "AUTH user (last tried)", 20),),
                  metrics=(AUTH_FAILURE_COUNT, count("Sessions")),
                  description="Failed AUTH attempts per user name: all failures of a session count under the user of "
                              "its last attempt (opensmtpd.auth.user)."),
            panel("Sessions with failed AUTH by client address", "table", "link-disconnect", AND(NET_IN, AUTH_FAILURES), w=16,
                  rows=(terms("source.ip", "Client address", 20),), metrics=(SESSIONS, AUTH_FAILURE_COUNT),
                  description="Sessions with at least one failed AUTH attempt, and their failed attempts."),
            panel("Filter verdicts over time", "xy", "link-disconnect", "not opensmtpd.counters.filter_verdicts : 0", x=date(),
                  metrics=(metric("sum", "opensmtpd.counters.filter_verdicts", "Verdicts", INTEGER),),
                  description="Filter decisions other than proceed, from the session totals."),
            panel("Filter verdicts by phase and message", "table", "filter-response", VERDICTS,
                  rows=(terms("opensmtpd.filter.response.decision", "Decision", 3),
                        terms("opensmtpd.filter.response.phase", "Phase", 15),
                        terms("opensmtpd.filter.response.param", "Message", 10, other=True, missing=True)),
                  metrics=(count("Verdicts"),),
                  needs_all="a session keeps only its last filter decision"),
            panel("Timeouts over time", "xy", "link-disconnect", "opensmtpd.timeout : true", w=16, x=date(),
                  split=terms("opensmtpd.subsystem", "Subsystem", 2), metrics=(SESSIONS,)),
            panel("Timeouts by client", "table", "link-disconnect", AND(NET_IN, "opensmtpd.timeout : true"), w=16,
                  rows=(terms("source.ip", "Client address", 20),), metrics=(SESSIONS,)),
            panel("FCrDNS results (inbound sessions)", "pie", "link-disconnect", NET_IN, w=16,
                  rows=(terms("opensmtpd.fcrdns", "FCrDNS", 3),), metrics=(SESSIONS,)),
            panel("FCrDNS failures over time", "xy", "link-disconnect", AND(NET_IN, FCRDNS_FAILED), x=date(),
                  split=terms("opensmtpd.fcrdns", "FCrDNS", 2), metrics=(SESSIONS,)),
            panel("Clients failing FCrDNS", "table", "link-disconnect", AND(NET_IN, FCRDNS_FAILED),
                  rows=(terms("source.ip", "Client address", 20),
                        terms("source.domain", "Client rDNS", 1, other=True, missing=True)),
                  metrics=(SESSIONS,)),
        ],
        "controls": SESSION_CONTROLS,
    },
    {
        "id": "opensmtpd-jsonlog-outbound",
        "title": "Outbound",
        "description": "smtp-out: failed connections, refusals and deferrals by recipient domain, remote server and reply code, 4xx/5xx replies per remote server.",
        "panels": [
            panel("Connection attempts that failed (smtp-out)", "metric", "link-disconnect",
                  AND(SMTP_OUT, "opensmtpd.counters.connects : 0"), w=12, h=6, metrics=(SESSIONS,),
                  description="smtp-out sessions that ended without ever connecting (smtpd reports only their link-disconnect)."),
            panel("Messages relayed", "metric", "tx-commit", SMTP_OUT, w=12, h=6, metrics=(RELAYED_MESSAGES,),
                  description="Distinct messages (email.local_id) with at least one smtp-out tx-commit."),
            panel("Refusals and deferrals (smtp-out)", "metric", "tx-rollback", SMTP_OUT, w=12, h=6,
                  metrics=(count("Refusals"),),
                  description="Each tx-rollback of smtp-out: a recipient, the sender or the message refused (5xx) or deferred (4xx)."),
            panel("Deferrals (smtp-out)", "metric", "tx-rollback", AND(SMTP_OUT, "opensmtpd.response_code >= 400 and opensmtpd.response_code < 500"),
                  w=12, h=6, metrics=(count("Deferrals"),)),
            panel("Refusals and deferrals by remote server and reply code", "table", "tx-rollback", SMTP_OUT,
                  rows=(terms("destination.domain", "Remote server", 20, other=True, missing=True),
                        terms("opensmtpd.reply_code", "Reply code", 10, other=True, missing=True)),
                  metrics=(count("Refusals"),),
                  description="The remote server's rDNS name and the code of its last reply before the rollback."),
            panel("Refusals and deferrals by reply", "table", "tx-rollback", SMTP_OUT,
                  rows=(terms("opensmtpd.response", "Remote reply", 20, other=True, missing=True),),
                  metrics=(count("Refusals"),)),
            panel("Refused and deferred recipients by domain and reply code", "table", "tx-rcpt", AND(SMTP_OUT, REFUSED),
                  rows=(terms("opensmtpd.rcpt_domain", "Recipient domain", 20),
                        terms("opensmtpd.reply_code", "Reply code", 10, other=True, missing=True)),
                  metrics=(RECIPIENTS,),
                  needs_all="the recipient a remote server refused is only on its tx-rcpt document (smtp-out rolls back and goes on with the same message)"),
            panel("Remote servers with 4xx/5xx replies (smtp-out)", "table", "link-disconnect", AND(SMTP_OUT, ERROR_REPLIES),
                  rows=(terms("destination.ip", "Remote server", 20),
                        terms("destination.domain", "Remote rDNS", 1, other=True, missing=True)),
                  metrics=(count("Sessions with 4xx/5xx"), REPLIES_4XX, REPLIES_5XX),
                  description="Every 4xx/5xx reply of the remote server, at any step (connection, HELO, STARTTLS, AUTH, "
                              "MAIL FROM, RCPT TO, DATA), from the session totals."),
            panel("Refusals and deferrals over time", "xy", "tx-rollback", SMTP_OUT, x=date(),
                  split=terms("opensmtpd.reply_code", "Reply code", 5, other=True, missing=True), metrics=(count("Refusals"),)),
            panel("Deliveries by destination country", "table", "tx-commit", SMTP_OUT,
                  rows=(terms("destination.geo.country_name", "Country", 20, other=True, missing=True),),
                  metrics=(MESSAGES,), description="GeoIP of the remote server (added by the ingest pipeline)."),
            panel("Deliveries by destination autonomous system", "table", "tx-commit", SMTP_OUT,
                  rows=(terms("destination.as.organization.name", "AS organisation", 20, other=True, missing=True),),
                  metrics=(MESSAGES,)),
        ],
        "controls": SESSION_CONTROLS,
    },
    {
        "id": "opensmtpd-jsonlog-messages",
        "title": "Messages and delivery",
        "description": "Per message: delivery per destination domain (delivered, deferred, refused, bytes), bounces "
                       "in and out, recipients per authenticated user, and the message trace (pick a message id, "
                       "sender or recipient in the controls).",
        "panels": [
            panel("Delivery by destination domain", "table", TX_END, SMTP_OUT, w=48, h=14,
                  rows=(terms("opensmtpd.to_domains", "Destination domain", 25, other=True, missing=True),),
                  metrics=(count("Delivered", DELIVERED), count("Deferred (4xx)", DEFERRED),
                           count("Refused (5xx)", REFUSED_5XX),
                           metric("sum", "opensmtpd.transaction.size", "Bytes delivered", BYTES, DELIVERED)),
                  description="smtp-out, one row per recipient domain: Delivered counts tx-commit (one delivery of a "
                              "message to that domain), Deferred and Refused count tx-rollback by the remote reply's "
                              "class, Bytes the delivered messages' sizes. A refusal before any recipient of the "
                              "transaction was accepted has no domain yet: its row is (missing value)."),
            panel("Bounces (null sender) over time", "xy", "tx-commit", BOUNCE, x=date(),
                  split=terms("opensmtpd.subsystem", "Direction", 2), metrics=(MESSAGES,),
                  description="Messages with an empty envelope sender (MAIL FROM:<>): smtp-in are bounces and "
                              "notifications received, smtp-out those smtpd sent (its own bounces included)."),
            panel("Bounces (null sender)", "table", "tx-commit", BOUNCE,
                  rows=(terms("opensmtpd.subsystem", "Direction", 2),),
                  metrics=(MESSAGES, metric("unique_count", "email.local_id", "Distinct messages", INTEGER)),
                  description="Bounces received (smtp-in) and sent (smtp-out)."),
            panel("Recipients per authenticated user", "table", "tx-commit", AND(SMTP_IN, AUTH_OK), w=48,
                  rows=(terms("user.name", "AUTH user", 25),),
                  metrics=(metric("sum", "opensmtpd.transaction.rcpt_accepted", "Recipients", INTEGER),
                           metric("unique_count", "email.to.address", "Distinct recipients", INTEGER),
                           MESSAGES, metric("unique_count", "source.ip", "Client addresses", INTEGER)),
                  description="Accepted recipients of the messages each authenticated user submitted. A user far "
                              "above the usual, or from many client addresses, is the usual sign of a stolen "
                              "password."),
            esql_panel("Delivery delay by destination domain (ES|QL)", DELAY_ESQL, DELAY_COLUMNS,
                       ("event.action", "email.local_id", "opensmtpd.to_domains", "opensmtpd.subsystem", "@timestamp"),
                       description="Seconds from acceptance (smtp-in tx-commit) to the first delivery "
                                   "(smtp-out tx-commit of the same email.local_id) to each destination domain: "
                                   "messages, median, 90th percentile and maximum. Only messages accepted and "
                                   "delivered within the time range. ES|QL (Kibana 8.15+)."),
            search_panel(TRACE_ID, w=48, h=18),
            search_panel(DELIVERY_TRACE_ID, w=48, h=14),
        ],
        "controls": MESSAGE_CONTROLS,
    },
    {
        "id": "opensmtpd-jsonlog-geography",
        "title": "Geography",
        "description": "smtp-in clients by country and autonomous system (GeoIP/ASN added by the ingest pipeline).",
        "panels": [
            map_panel("Inbound sessions map", "link-disconnect", NET_IN, "source.geo.location", w=48, h=18),
            panel("Inbound sessions by country", "xy", "link-disconnect", NET_IN, h=15, series="bar_horizontal",
                  x=terms("source.geo.country_name", "Country", 20), metrics=(SESSIONS,)),
            panel("Inbound sessions by autonomous system", "table", "link-disconnect", NET_IN, h=15,
                  rows=(terms("source.as.organization.name", "AS organisation", 20, other=True, missing=True),),
                  metrics=(SESSIONS, metric("unique_count", "source.as.number", "AS numbers", INTEGER)),
                  description="By the AS organisation of the client's address; clients GeoLite2 has no entry for "
                              "(private, loopback, CGNAT) under \"(no GeoIP: private or unknown)\"."),
            panel("Inbound sessions over time by country", "xy", "link-disconnect", NET_IN, x=date(),
                  split=terms("source.geo.country_name", "Country", 5, other=True), metrics=(SESSIONS,)),
            panel("Plaintext sessions by country", "table", "link-disconnect", AND(NET_IN, "tls.established : false"),
                  rows=(terms("source.geo.country_name", "Country", 20),), metrics=(SESSIONS,)),
            panel("Messages accepted by client country", "table", "tx-commit", NET_IN, w=16, h=14,
                  rows=(terms("source.geo.country_name", "Country", 20),), metrics=(MESSAGES,)),
            panel("Refused recipients by client country", "table", "link-disconnect", NET_IN, w=16, h=14,
                  rows=(terms("source.geo.country_name", "Country", 20),),
                  metrics=(metric("sum", "opensmtpd.counters.recipients_refused", "Refused recipients", INTEGER),)),
            panel("Sessions with failed AUTH by client country", "table", "link-disconnect", AND(NET_IN, AUTH_FAILURES), w=16, h=14,
                  rows=(terms("source.geo.country_name", "Country", 20),), metrics=(SESSIONS, AUTH_FAILURE_COUNT)),
        ],
        "controls": SESSION_CONTROLS,
    },
]

# smtpd's delivery lines (logs-opensmtpd.delivery-*).  Every line of an
# envelope carries opensmtpd.delivery.envelope_id; a failed bounce report
# (bounce.c) names a message, not an envelope, and is left out of the
# outcome counts.  One envelope is one recipient: its final line (delivered,
# bounced, expired) comes once, its temporary failures once per attempt.
ENVELOPE_LINE = "opensmtpd.delivery.envelope_id : *"
D_DELIVERED = 'opensmtpd.delivery.status : "delivered"'
D_TEMPFAIL = 'opensmtpd.delivery.status : "deferred"'
D_BOUNCED = 'opensmtpd.delivery.status : "bounced"'
D_EXPIRED = 'opensmtpd.delivery.status : "expired"'
D_REASONS = f"({D_TEMPFAIL} or {D_BOUNCED} or {D_EXPIRED})"
D_BOUNCE = "opensmtpd.delivery.bounce : true"
DELAYS = (metric("median", "event.duration", "Median", SECONDS),
          percentile("event.duration", 90, "90th percentile", SECONDS),
          metric("max", "event.duration", "Maximum", SECONDS))
DELIVERY_LINES = count("Lines")

DELIVERY_DASHBOARDS = [
    {
        "id": "opensmtpd-delivery-mail-log",
        "title": "Delivery (mail log)",
        "view": DELIVERY_VIEW_ID,
        "description": "Was it delivered? smtpd's own delivery, expiry and bounce lines from the mail log "
                       "(logs-opensmtpd.delivery-*): outcomes over time and per recipient domain, delivery "
                       "delay, the reasons of deferrals and bounces, bounces smtpd generated, and the delivery "
                       "lines of one message.",
        "panels": [
            delivery_panel("Delivered", "metric", D_DELIVERED, w=8, h=6, metrics=(count("Recipients"),),
                           description="Envelopes (one recipient each) smtpd delivered: mda or mta result=Ok."),
            delivery_panel("Bounced", "metric", D_BOUNCED, w=8, h=6, metrics=(count("Recipients"),),
                           description="Envelopes that failed permanently (result=PermFail, a loop included)."),
            delivery_panel("Expired", "metric", D_EXPIRED, w=8, h=6, metrics=(count("Recipients"),),
                           description="Envelopes smtpd gave up on (queue lifetime or ttl reached)."),
            delivery_panel("Temporary failures", "metric", D_TEMPFAIL, w=8, h=6, metrics=(count("Attempts"),),
                           description="Delivery attempts that failed temporarily (result=TempFail): one per "
                                       "attempt, so an envelope retried three times counts three."),
            delivery_panel("Bounces generated", "metric", AND(ENVELOPE_LINE, D_BOUNCE), w=8, h=6,
                           metrics=(metric("unique_count", "email.local_id", "Bounces", INTEGER),),
                           description="Distinct messages with the null sender among the delivery lines: "
                                       "the bounces (DSN) smtpd delivered or tried to, its own and any received."),
            delivery_panel("Delivery delay", "table", D_DELIVERED, w=8, h=6, metrics=DELAYS,
                           description="delay= of the delivered envelopes: their age in whole seconds when "
                                       "smtpd delivered them (median, 90th percentile, maximum)."),
            delivery_panel("Delivery outcomes over time", "xy", ENVELOPE_LINE, x=date(),
                           split=terms("opensmtpd.delivery.status", "Outcome", 6), metrics=(DELIVERY_LINES,),
                           description="Every delivery line by what it means for its envelope (from result=): "
                                       "delivered, deferred (a temporary failure), bounced, expired, removed."),
            delivery_panel("Delivery outcomes by recipient domain", "table", ENVELOPE_LINE,
                           rows=(terms("destination.domain", "Recipient domain", 25, other=True, missing=True),),
                           metrics=(count("Delivered", D_DELIVERED), count("Temporary failures", D_TEMPFAIL),
                                    count("Bounced", D_BOUNCED), count("Expired", D_EXPIRED)),
                           description="Per domain of the recipient smtpd delivered to (after aliases): "
                                       "envelopes delivered, bounced and expired, and temporary failures."),
            delivery_panel("Top deferral and bounce reasons", "table", D_REASONS, w=48,
                           rows=(terms("opensmtpd.delivery.stat", "Reason (stat=)", 20, other=True),),
                           metrics=(DELIVERY_LINES,),
                           description="smtpd's stat= of every temporary failure, bounce and expiry: the remote "
                                       "server's reply, the mda's error, Domain does not exist, Envelope expired."),
            delivery_panel("Delivery delay by recipient domain", "table", D_DELIVERED, w=48,
                           rows=(terms("destination.domain", "Recipient domain", 25, other=True, missing=True),),
                           metrics=(count("Delivered"),) + DELAYS),
            search_panel(DELIVERY_TRACE_ID, w=48, h=18),
        ],
        "controls": ("host.name", "destination.domain", "email.local_id"),
    },
]

DELIVERY_FIELD_FORMATS = {"event.duration": {"id": "duration", "params": {"inputFormat": "nanoseconds",
                                                                          "outputFormat": "asSeconds",
                                                                          "outputPrecision": 0}}}

FIELD_FORMATS = {
    "opensmtpd.transaction.size": {"id": "bytes"},
    "opensmtpd.counters.bytes": {"id": "bytes"},
    "opensmtpd.jsonlog.document_bytes": {"id": "bytes"},
    "opensmtpd.session.duration_us": DURATION,
}

# ---------------------------------------------------------------------------
# Lens and dashboard objects.


def query_of(p: dict) -> str:
    if p["action"] is None:
        return p["where"]
    actions = p["action"] if isinstance(p["action"], tuple) else (p["action"],)
    q = " or ".join(f'event.action : "{a}"' for a in actions)
    if len(actions) > 1:
        q = f"({q})"
    if p["where"]:
        q += f' and ({p["where"]})'
    return q


def lens_column(spec: dict, types: dict[str, str], order_by: str | None) -> dict:
    op = spec["op"]
    if op == "date_histogram":
        return {
            "label": "@timestamp",
            "dataType": "date",
            "operationType": "date_histogram",
            "sourceField": "@timestamp",
            "isBucketed": True,
            "scale": "interval",
            "params": {"interval": "auto", "includeEmptyRows": True, "dropPartials": False},
        }
    if op == "terms":
        field = spec["field"]
        # Lens sends a missing bucket to Elasticsearch only for string
        # fields; on a number, ip or boolean the rows without a value fall
        # into "Other" or vanish, whatever the column says.
        if spec["missing"] and types[field] != "keyword":
            raise ValueError(f"terms on {field} ({types[field]}): a missing bucket needs a keyword field")
        return {
            "label": spec["label"],
            "customLabel": True,
            "dataType": LENS_DATA_TYPE[types[field]],
            "operationType": "terms",
            "sourceField": field,
            "isBucketed": True,
            "scale": "ordinal",
            "params": {
                "size": spec["size"],
                "orderBy": {"type": "column", "columnId": order_by},
                "orderDirection": "desc",
                "otherBucket": spec["other"],
                "missingBucket": spec["missing"],
                "parentFormat": {"id": "terms"},
                "include": [],
                "exclude": [],
                "includeIsRegex": False,
                "excludeIsRegex": False,
            },
        }
    if op == "range":
        return {
            "label": spec["label"],
            "customLabel": True,
            "dataType": "string",
            "operationType": "range",
            "sourceField": spec["field"],
            "isBucketed": True,
            "scale": "ordinal",
            "params": {
                "type": "range",
                "ranges": [{"from": lo, "to": hi, "label": label} for lo, hi, label in spec["ranges"]],
                "maxBars": "auto",
                "includeEmptyRows": True,
                "parentFormat": {"id": "range", "params": {"template": "arrow_right", "replaceInfinity": True}},
            },
        }
    if op == "count":
        col = {
            "label": spec["label"],
            "customLabel": True,
            "dataType": "number",
            "operationType": "count",
            "sourceField": "___records___",
            "isBucketed": False,
            "scale": "ratio",
            "params": {"emptyAsNull": False, "format": lens_format(INTEGER)},
        }
    else:
        # sum, max, unique_count, average, median, percentile
        params: dict = {"emptyAsNull": True}
        if op == "percentile":
            params = {"percentile": spec["percentile"]}
        if spec.get("fmt"):
            params["format"] = lens_format(spec["fmt"])
        col = {
            "label": spec["label"],
            "customLabel": True,
            "dataType": "date" if types.get(spec["field"]) == "date" and op == "max" else "number",
            "operationType": op,
            "sourceField": spec["field"],
            "isBucketed": False,
            "scale": "ratio",
            "params": params,
        }
    if spec.get("filter"):
        col["filter"] = {"query": spec["filter"], "language": "kuery"}
    return col


def lens_format(fmt: dict) -> dict:
    extra = set(fmt.get("params", {})) - LENS_FORMAT_PARAMS
    if extra:
        raise ValueError(f"Lens ignores format params {sorted(extra)} (it reads {sorted(LENS_FORMAT_PARAMS)})")
    return fmt


def lens_attributes(dash_id: str, index: int, p: dict, types: dict[str, str]) -> dict:
    key = f"{dash_id}/{index}"
    layer = uid(key, "layer")
    metric_ids = [uid(key, "metric", str(i)) for i in range(len(p["metrics"]))]
    first_metric = metric_ids[0]
    columns: dict = {}
    bucket_ids: list[str] = []

    def add_bucket(role: str, spec: dict) -> str:
        cid = uid(key, role)
        columns[cid] = lens_column(spec, types, first_metric)
        bucket_ids.append(cid)
        return cid

    row_ids = [add_bucket(f"row{i}", spec) for i, spec in enumerate(p["rows"])]
    x_id = add_bucket("x", p["x"]) if p["x"] else None
    split_id = add_bucket("split", p["split"]) if p["split"] else None
    bucket_ids = lens_bucket_order(bucket_ids, columns)
    for cid, spec in zip(metric_ids, p["metrics"]):
        columns[cid] = lens_column(spec, types, None)

    vis = p["vis"]
    if vis == "metric":
        vis_type = "lnsMetric"
        visualization = {"layerId": layer, "layerType": "data", "metricAccessor": first_metric}
    elif vis == "xy":
        vis_type = "lnsXY"
        xy_layer = {
            "layerId": layer,
            "layerType": "data",
            "seriesType": p["series"],
            "xAccessor": x_id,
            "accessors": metric_ids,
            "position": "top",
            "showGridlines": False,
        }
        if split_id:
            xy_layer["splitAccessor"] = split_id
        visualization = {
            "legend": {"isVisible": True, "position": "right", "legendSize": "auto"},
            "valueLabels": "hide",
            "fittingFunction": "None",
            "curveType": "LINEAR",
            "yLeftExtent": {"mode": "full"},
            "yRightExtent": {"mode": "full"},
            "axisTitlesVisibilitySettings": {"x": False, "yLeft": False, "yRight": True},
            "tickLabelsVisibilitySettings": {"x": True, "yLeft": True, "yRight": True},
            "gridlinesVisibilitySettings": {"x": True, "yLeft": True, "yRight": True},
            "labelsOrientation": {"x": 0, "yLeft": 0, "yRight": 0},
            "preferredSeriesType": p["series"],
            "layers": [xy_layer],
        }
    elif vis == "pie":
        vis_type = "lnsPie"
        visualization = {
            "shape": "donut",
            "layers": [
                {
                    "layerId": layer,
                    "layerType": "data",
                    "primaryGroups": row_ids,
                    "metrics": metric_ids,
                    "numberDisplay": "percent",
                    "categoryDisplay": "default",
                    "legendDisplay": "default",
                    "nestedLegend": False,
                }
            ],
        }
    elif vis == "table":
        vis_type = "lnsDatatable"
        visualization = {
            "layerId": layer,
            "layerType": "data",
            "columns": [{"columnId": cid, "isTransposed": False} for cid in row_ids + metric_ids],
            "sorting": {"columnId": first_metric, "direction": "desc"},
            "rowHeight": "single",
            "rowHeightLines": 1,
        }
    else:
        raise ValueError(f"unknown visualization {vis!r}")

    return {
        "title": p["title"],
        "description": p["description"],
        "visualizationType": vis_type,
        "type": "lens",
        "references": [
            {"type": "index-pattern", "id": p.get("view", DATA_VIEW_ID),
             "name": f"indexpattern-datasource-layer-{layer}"}
        ],
        "state": {
            "visualization": visualization,
            "query": {"query": query_of(p), "language": "kuery"},
            "filters": [],
            "datasourceStates": {
                "formBased": {
                    "layers": {
                        layer: {
                            "columns": columns,
                            "columnOrder": bucket_ids + metric_ids,
                            "incompleteColumns": {},
                        }
                    }
                },
                "textBased": {"layers": {}},
            },
            "internalReferences": [],
            "adHocDataViews": {},
        },
    }


def esql_attributes(dash_id: str, index: int, p: dict) -> dict:
    key = f"{dash_id}/{index}"
    layer = uid(key, "layer")
    # An ad hoc data view, as Kibana makes for an ES|QL query: no saved
    # object, no reference.
    view = uid(key, "esql-view")
    columns = [{"columnId": name, "fieldName": name, "meta": {"type": typ}} for name, typ in p["columns"]]
    query = {"esql": p["esql"]}
    return {
        "title": p["title"],
        "description": p["description"],
        "visualizationType": "lnsDatatable",
        "type": "lens",
        "references": [],
        "state": {
            "visualization": {"layerId": layer, "layerType": "data",
                              "columns": [{"columnId": c["columnId"]} for c in columns]},
            "query": query,
            "filters": [],
            "datasourceStates": {
                "textBased": {
                    "layers": {layer: {"index": view, "query": query, "columns": columns,
                                       "timeField": "@timestamp"}},
                    "indexPatternRefs": [{"id": view, "title": DATA_VIEW_TITLE, "timeField": "@timestamp"}],
                },
            },
            "internalReferences": [],
            "adHocDataViews": {view: {"id": view, "title": DATA_VIEW_TITLE, "name": DATA_VIEW_TITLE,
                                      "timeFieldName": "@timestamp", "type": "esql", "allowNoIndex": False,
                                      "sourceFilters": [], "fieldFormats": {}, "runtimeFieldMap": {}}},
        },
    }


def lens_bucket_order(ids: list[str], columns: dict) -> list[str]:
    """The order in which Lens nests the buckets: as the columns were added
    (rows, x, breakdown), except that a terms column goes above the first
    date histogram (layer_helpers.ts addBucket), so that the top values are
    chosen over the whole time range, not per time bucket."""
    out: list[str] = []
    for cid in ids:
        first_date = next((i for i, c in enumerate(out) if columns[c]["operationType"] == "date_histogram"), None)
        if columns[cid]["operationType"] == "terms" and first_date is not None:
            out.insert(first_date, cid)
        else:
            out.append(cid)
    return out


def layout(panels: list[dict]) -> list[dict]:
    """Flow the panels left to right on Kibana's 48-column grid."""
    grids = []
    x = y = row_h = 0
    for p in panels:
        if x + p["w"] > 48:
            x, y, row_h = 0, y + row_h, 0
        grids.append({"x": x, "y": y, "w": p["w"], "h": p["h"]})
        x += p["w"]
        row_h = max(row_h, p["h"])
    return grids


def controls(dash_id: str, fields: tuple, view: str = DATA_VIEW_ID) -> tuple[dict, list[dict]]:
    """Options-list controls above the panels, and their data view references."""
    panels = {}
    refs = []
    for order, field in enumerate(fields):
        label = CONTROLS[field][0]
        cid = uid(dash_id, "control", field)
        panels[cid] = {
            "order": order,
            "width": "medium",
            "grow": True,
            "type": "optionsListControl",
            "explicitInput": {
                "id": cid,
                "fieldName": field,
                "title": label,
                "searchTechnique": "prefix",
                "selectedOptions": [],
                "sort": {"by": "_count", "direction": "desc"},
                "enhancements": {},
            },
        }
        refs.append({"type": "index-pattern", "id": view, "name": f"controlGroup_{cid}:optionsListDataView"})
    group = {
        "controlStyle": "oneLine",
        "chainingSystem": "HIERARCHICAL",
        "showApplySelections": False,
        "ignoreParentSettingsJSON": json.dumps(
            {"ignoreFilters": False, "ignoreQuery": False, "ignoreTimerange": False, "ignoreValidations": False},
            separators=(",", ":")),
        "panelsJSON": json.dumps(panels, separators=(",", ":")),
    }
    return group, refs


def map_id(dash_id: str, index: int) -> str:
    return f"{dash_id}-map-{index}"


def map_object(dash_id: str, index: int, p: dict) -> dict:
    layer_id = uid(dash_id, str(index), "map-layer")
    layers = [
        {
            "sourceDescriptor": {"type": "EMS_TMS", "isAutoSelect": True, "lightModeDefault": "road_map_desaturated"},
            "id": uid(dash_id, str(index), "basemap"),
            "label": None,
            "minZoom": 0,
            "maxZoom": 24,
            "alpha": 1,
            "visible": True,
            "style": {"type": "EMS_VECTOR_TILE", "color": ""},
            "includeInFitToBounds": True,
            "type": "EMS_VECTOR_TILE",
        },
        {
            "sourceDescriptor": {
                "type": "ES_GEO_GRID",
                "id": uid(dash_id, str(index), "map-source"),
                "geoField": p["geo_field"],
                "requestType": "point",
                "resolution": "COARSE",
                "metrics": [{"type": "count", "label": "Sessions"}],
                "applyGlobalQuery": True,
                "applyGlobalTime": True,
                "applyForceRefresh": True,
                "indexPatternRefName": "layer_0_source_index_pattern",
            },
            "id": layer_id,
            "label": p["title"],
            "minZoom": 0,
            "maxZoom": 24,
            "alpha": 0.75,
            "visible": True,
            "style": {
                "type": "VECTOR",
                "properties": {
                    "fillColor": {"type": "DYNAMIC", "options": {
                        "color": "Blues", "colorCategory": "palette_0",
                        "field": {"name": "doc_count", "origin": "source"},
                        "fieldMetaOptions": {"isEnabled": True, "sigma": 3}, "type": "ORDINAL"}},
                    "lineColor": {"type": "STATIC", "options": {"color": "#FFFFFF"}},
                    "lineWidth": {"type": "STATIC", "options": {"size": 1}},
                    "iconSize": {"type": "DYNAMIC", "options": {
                        "minSize": 7, "maxSize": 32, "field": {"name": "doc_count", "origin": "source"},
                        "fieldMetaOptions": {"isEnabled": True, "sigma": 3}}},
                    "symbolizeAs": {"options": {"value": "circle"}},
                    "icon": {"type": "STATIC", "options": {"value": "marker"}},
                },
                "isTimeAware": True,
            },
            "includeInFitToBounds": True,
            "type": "GEOJSON_VECTOR",
            "joins": [],
            "query": {"query": query_of(p), "language": "kuery"},
        },
    ]
    return {
        "id": map_id(dash_id, index),
        "type": "map",
        "attributes": {
            "title": TITLE_PREFIX + p["title"],
            "description": p["description"],
            "layerListJSON": json.dumps(layers, separators=(",", ":")),
            "mapStateJSON": json.dumps({"zoom": 1.5, "center": {"lon": 0, "lat": 20},
                                        "query": {"query": "", "language": "kuery"}, "filters": [],
                                        "settings": {"autoFitToDataBounds": False}}, separators=(",", ":")),
            "uiStateJSON": json.dumps({"isLayerTOCOpen": True, "openTOCDetails": []}, separators=(",", ":")),
        },
        "references": [{"type": "index-pattern", "id": DATA_VIEW_ID, "name": "layer_0_source_index_pattern"}],
        "coreMigrationVersion": CORE_MIGRATION_VERSION,
        "typeMigrationVersion": MAP_MIGRATION_VERSION,
        "managed": False,
    }


def search_object(search_id: str) -> dict:
    spec = SEARCHES[search_id]
    return {
        "id": search_id,
        "type": "search",
        "attributes": {
            "title": TITLE_PREFIX + spec["title"],
            "description": spec["description"],
            "columns": spec["columns"],
            "sort": spec["sort"],
            "grid": {},
            "hideChart": False,
            "isTextBasedQuery": False,
            "kibanaSavedObjectMeta": {
                "searchSourceJSON": json.dumps(
                    {"query": {"query": spec["query"], "language": "kuery"}, "filter": [],
                     "indexRefName": "kibanaSavedObjectMeta.searchSourceJSON.index"}, separators=(",", ":"))
            },
        },
        "references": [{"type": "index-pattern", "id": spec.get("view", DATA_VIEW_ID),
                        "name": "kibanaSavedObjectMeta.searchSourceJSON.index"}],
        "coreMigrationVersion": CORE_MIGRATION_VERSION,
        "typeMigrationVersion": SEARCH_MIGRATION_VERSION,
        "managed": False,
    }


def dashboard_object(d: dict, types: dict[str, str]) -> dict:
    panels_json = []
    references = []
    for i, (p, grid) in enumerate(zip(d["panels"], layout(d["panels"]))):
        pid = uid(d["id"], str(i), "panel")
        entry = {"gridData": {**grid, "i": pid}, "panelIndex": pid, "version": PANEL_VERSION}
        if p["kind"] == "esql":
            attrs = esql_attributes(d["id"], i, p)
            entry.update({"type": "lens", "embeddableConfig": {"attributes": attrs, "enhancements": {}},
                          "title": p["title"]})
        elif p["kind"] == "lens":
            attrs = lens_attributes(d["id"], i, p, types if p.get("view", DATA_VIEW_ID) == DATA_VIEW_ID
                                    else load_delivery_types())
            entry.update({"type": "lens", "embeddableConfig": {"attributes": attrs, "enhancements": {}},
                          "title": p["title"]})
            for ref in attrs["references"]:
                references.append({"type": ref["type"], "id": ref["id"], "name": f"{pid}:{ref['name']}"})
        else:
            # By reference: the search and the map are objects of their own.
            kind = p["kind"]
            target = p["search"] if kind == "search" else map_id(d["id"], i)
            entry.update({"type": kind, "embeddableConfig": {"enhancements": {}}, "title": p["title"],
                          "panelRefName": f"panel_{pid}"})
            references.append({"type": kind, "id": target, "name": f"{pid}:panel_{pid}"})
        panels_json.append(entry)
    group, control_refs = controls(d["id"], d["controls"], d.get("view", DATA_VIEW_ID))
    references += control_refs
    return {
        "id": d["id"],
        "type": "dashboard",
        "attributes": {
            "title": TITLE_PREFIX + d["title"],
            "description": d["description"],
            "panelsJSON": json.dumps(panels_json, separators=(",", ":")),
            "optionsJSON": json.dumps(
                {"useMargins": True, "syncColors": False, "syncCursor": True, "syncTooltips": False,
                 "hidePanelTitles": False},
                separators=(",", ":"),
            ),
            "controlGroupInput": group,
            "timeRestore": True,
            "timeFrom": "now-7d",
            "timeTo": "now",
            "refreshInterval": {"pause": True, "value": 60000},
            "kibanaSavedObjectMeta": {
                "searchSourceJSON": json.dumps({"query": {"query": "", "language": "kuery"}, "filter": []},
                                               separators=(",", ":"))
            },
            "version": 1,
        },
        "references": references,
        "coreMigrationVersion": CORE_MIGRATION_VERSION,
        "typeMigrationVersion": DASHBOARD_MIGRATION_VERSION,
        "managed": False,
    }


def data_view_object(view_id: str = DATA_VIEW_ID, title: str = DATA_VIEW_TITLE, name: str = DATA_VIEW_NAME,
                     formats: dict | None = None) -> dict:
    return {
        "id": view_id,
        "type": "index-pattern",
        "attributes": {
            "title": title,
            "name": name,
            "timeFieldName": "@timestamp",
            "allowNoIndex": True,
            "fieldFormatMap": json.dumps(FIELD_FORMATS if formats is None else formats, separators=(",", ":"),
                                         sort_keys=True),
            "fieldAttrs": "{}",
            "fields": "[]",
            "runtimeFieldMap": "{}",
            "sourceFilters": "[]",
            "typeMeta": "{}",
        },
        "references": [],
        "coreMigrationVersion": CORE_MIGRATION_VERSION,
        "typeMigrationVersion": INDEX_PATTERN_MIGRATION_VERSION,
        "managed": False,
    }


def saved_objects() -> list[dict]:
    types = load_types()
    maps = [map_object(d["id"], i, p) for d in DASHBOARDS for i, p in enumerate(d["panels"]) if p["kind"] == "map"]
    delivery_view = data_view_object(DELIVERY_VIEW_ID, DELIVERY_VIEW_TITLE, DELIVERY_VIEW_NAME,
                                     DELIVERY_FIELD_FORMATS)
    return [data_view_object(), delivery_view] + [search_object(s) for s in SEARCHES] + maps + \
        [dashboard_object(d, types) for d in DASHBOARDS + DELIVERY_DASHBOARDS]


def chart_panels() -> list[tuple[dict, dict]]:
    """(dashboard, panel) for every Lens and map panel."""
    return [(d, p) for d in DASHBOARDS for p in d["panels"] if p["kind"] != "search"]


# ---------------------------------------------------------------------------
# PANELS.md: the panel list with the fields each one uses.


QUERY_FIELD = re.compile(r"([A-Za-z_@][A-Za-z0-9_@.]*)\s*(?::|>=|<=|>|<)")


def panel_fields(p: dict) -> list[str]:
    """Fields of the columns, then those of the query after event.action."""
    fields = list(p.get("fields", []))
    for spec in p["rows"] + [p["x"], p["split"]] + p["metrics"]:
        if spec and spec.get("field") and spec["field"] not in fields:
            fields.append(spec["field"])
    if p.get("geo_field"):
        fields.append(p["geo_field"])
    filters = " ".join(m["filter"] for m in p["metrics"] if m.get("filter"))
    for name in QUERY_FIELD.findall((p["where"] or "") + " " + filters):
        if name not in fields and name != "event.action":
            fields.append(name)
    return fields


def panels_markdown() -> str:
    kinds = {"metric": "metric", "xy": "chart", "pie": "donut", "table": "table", "map": "map"}
    out = [
        "# Kibana panels and the fields they use",
        "",
        "Generated by `dashboards/generate.py`; do not edit. Every panel counts one kind of",
        "document (its query starts with `event.action : \"...\"`; transaction panels take",
        "`tx-commit` or `tx-rollback`, which end each smtp-in transaction once), because every",
        "document repeats the whole session. \"Fields\" lists the fields of the panel's",
        "columns, then those its query filters on besides `event.action`. Fields marked † are",
        "added by the ingest pipeline (`elasticsearch/pipeline-fields.json`), ‡ by Filebeat",
        "(`elasticsearch/shipper-fields.json`); all others are written by filter-jsonlog",
        "(`schema/fields.json`).",
        "",
        "\"Presets\": `both` panels show the same numbers under `--events all` and",
        "`--events summaries` (tests/elastic/test_panels.py checks it against counts made from",
        "the report lines); `all` panels need documents that `summaries` leaves out, and the",
        "last section says which and why.",
        "",
        "Each dashboard has only the filter controls all of its panels can answer (its section",
        "lists them): a control filters every panel, and a panel whose documents lack the",
        "control's field would go empty once a value is picked. Where some documents lack the",
        "field by nature, the control's title says which (bounces have no sender, local enqueue",
        "no port). The Overview ends with the saved search",
        f"**{TITLE_PREFIX}{SEARCHES[SEARCH_ID]['title']}** (id `{SEARCH_ID}`, sorted by `@timestamp`, then",
        "`event.sequence`) for drill-down; \"Messages and delivery\" with",
        f"**{TITLE_PREFIX}{SEARCHES[TRACE_ID]['title']}** (id `{TRACE_ID}`), below.",
        "",
        "\"Presets\" `health`: the panel counts documents other than the filter's session",
        "documents (lines Filebeat could not decode, ingest pipeline failures, any document);",
        "its query is not one `event.action`.",
        "",
    ]
    fieldsets = {}
    for name in ("pipeline-fields.json", "shipper-fields.json"):
        fieldsets[name] = {f["name"] for f in json.loads((REPO / "elasticsearch" / name).read_text())["fields"]}
    actions = []
    for d, p in chart_panels():
        if p["action"] is None:
            continue
        for a in (p["action"] if isinstance(p["action"], tuple) else (p["action"],)):
            if a not in actions and a not in ("stats", "documents-dropped"):
                actions.append(a)
    summaries = [a for a in actions if a in SUMMARIES_EVENTS]
    out += [
        "Session events the dashboards count (the self-metrics documents `stats` and",
        "`documents-dropped` are always written): " + ", ".join(f"`{a}`" for a in actions) + ".",
        "With `--events summaries`, " + ", ".join(f"`{a}`" for a in summaries) + " are written.",
        "",
    ]
    for d in DASHBOARDS:
        out += [f"## {TITLE_PREFIX}{d['title']}", "", d["description"], "",
                "Controls: " + ", ".join(f"{CONTROLS[f][0]} (`{f}`)" for f in d["controls"]) + ".", ""]
        out += ["| Panel | Type | Presets | Query | Fields |", "|---|---|---|---|---|"]
        for p in d["panels"]:
            if p["kind"] == "search":
                continue
            marks = []
            for f in panel_fields(p):
                mark = "†" if f in fieldsets["pipeline-fields.json"] else "‡" if f in fieldsets["shipper-fields.json"] else ""
                marks.append(f"`{f}`{mark}")
            query = "ES\\|QL, below" if p["kind"] == "esql" else query_of(p).replace("|", "\\|")
            presets = "all" if p["needs_all"] else "both"
            if p["action"] in ("stats", "documents-dropped"):
                presets = "metric"
            if p["health"]:
                presets = "health"
            title = p["title"].replace("|", "\\|")
            out.append(f"| {title} | {kinds[p['vis']]} | {presets} | `{query}` | {', '.join(marks)} |")
        out.append("")
    out += ["## Panels that need `--events all`", "",
            "Under `--events summaries` these panels stay empty; everything else works the same.",
            "`metric` panels count filter-jsonlog's self-metrics documents, written under every preset.", ""]
    for d, p in chart_panels():
        if p["needs_all"]:
            out.append(f"- **{p['title']}** ({d['title']}): {p['needs_all']}.")
    out += ["", f"`--events {events_for_every_panel()}` feeds every panel.", ""]
    for d, p in chart_panels():
        if p["kind"] == "esql":
            out += [f"## {p['title']}", "", p["description"], "", "```", p["esql"], "```", ""]
    dtypes = load_delivery_types()
    for d in DELIVERY_DASHBOARDS:
        out += [f"## {TITLE_PREFIX}{d['title']}", "", d["description"], "",
                f"On the data view `{DELIVERY_VIEW_TITLE}` (id `{DELIVERY_VIEW_ID}`): smtpd's delivery lines "
                "parsed by `elasticsearch/delivery-pipeline.json`, fields in `schema/delivery-fields.json`. "
                "One document is one line, not a session; `filter-jsonlog report` with the mail log gives the "
                "same figures (`delivery.*`) where they mean the same, and "
                "tests/elastic/test_delivery_panels.py checks where they do and why they differ.", "",
                "Controls: " + ", ".join(f"{CONTROLS[f][0]} (`{f}`)" for f in d["controls"]) + ".", ""]
        out += ["| Panel | Type | Query | Fields |", "|---|---|---|---|"]
        for p in d["panels"]:
            if p["kind"] == "search":
                continue
            marks = ", ".join(f"`{f}`" for f in panel_fields(p) if f in dtypes)
            out.append(f"| {p['title']} | {kinds[p['vis']]} | `{query_of(p)}` | {marks} |")
        out.append("")
    trace = SEARCHES[TRACE_ID]
    out += ["## Message trace", "",
            f"**{TITLE_PREFIX}{trace['title']}** (saved search `{TRACE_ID}`, on \"Messages and delivery\"): "
            + trace["description"], "",
            f"Query: `{trace['query']}`; sorted by " + ", ".join(f"`{f}` {o}" for f, o in trace["sort"]) + ".",
            "Columns: " + ", ".join(f"`{c}`" for c in trace["columns"]) + ".", ""]
    dtrace = SEARCHES[DELIVERY_TRACE_ID]
    out += [f"**{TITLE_PREFIX}{dtrace['title']}** (saved search `{DELIVERY_TRACE_ID}`, on the data view "
            f"`{DELIVERY_VIEW_TITLE}`, below the message trace on \"Messages and delivery\" and on \"Delivery "
            "(mail log)\"): " + dtrace["description"] + " The \"Message id\" control filters both searches "
            "(its filter is on `email.local_id`, which both data streams have); the sender and recipient "
            "domain controls of \"Messages and delivery\" are fields of the session documents only, so "
            "picking one empties this search.", "",
            f"Query: `{dtrace['query']}`; sorted by " + ", ".join(f"`{f}` {o}" for f, o in dtrace["sort"]) + ".",
            "Columns: " + ", ".join(f"`{c}`" for c in dtrace["columns"]) + ".", ""]
    out += ["## What the numbers mean, where it is not obvious", ""] + [f"- {c}" for c in CAVEATS]
    out.append("")
    return "\n".join(out)


# ---------------------------------------------------------------------------
# Kibana alerting rules: bodies of POST /api/alerting/rule (Elasticsearch
# query rules, rule type .es-query, Kibana 8.10+ for aggType/groupBy).  No
# actions: add a connector (email, Slack, ...) in Kibana or to "actions".

ALERTS_DIR = HERE / "alerts"


def es_filter(*clauses: dict, must_not: tuple = ()) -> str:
    query: dict = {"bool": {"filter": list(clauses)}}
    if must_not:
        query["bool"]["must_not"] = list(must_not)
    return json.dumps({"query": query}, separators=(",", ":"))


def term(field: str, value) -> dict:
    return {"term": {field: value}}


def es_rule(name: str, description: str, query: str, window: int, comparator: str, threshold: int, *,
            agg: tuple = ("count", None), group: tuple = ("all", None, None), interval: str = "5m") -> dict:
    params = {
        "searchType": "esQuery",
        "index": [DATA_VIEW_TITLE],
        "timeField": "@timestamp",
        "esQuery": query,
        "size": 0,
        "timeWindowSize": window,
        "timeWindowUnit": "m",
        "threshold": [threshold],
        "thresholdComparator": comparator,
        "aggType": agg[0],
        "groupBy": group[0],
        "excludeHitsFromPreviousRun": False,
    }
    if agg[1]:
        params["aggField"] = agg[1]
    if group[0] == "top":
        params["termField"], params["termSize"] = group[1], group[2]
    return {"name": f"OpenSMTPD: {name}", "rule_type_id": ".es-query", "consumer": "stackAlerts",
            "schedule": {"interval": interval}, "tags": ["opensmtpd", "filter-jsonlog"], "params": params,
            "actions": [], "_description": description}


ALERTS = {
    "auth-failures-per-client": es_rule(
        "AUTH failures per client", "More than 10 failed AUTH attempts from one client address in 15 minutes "
        "(password guessing). Counts opensmtpd.counters.auth_failures at the end of each smtp-in session.",
        es_filter(term("event.action", "link-disconnect"), term("opensmtpd.subsystem", "smtp-in"),
                  {"range": {"opensmtpd.counters.auth_failures": {"gt": 0}}}),
        15, ">", 10, agg=("sum", "opensmtpd.counters.auth_failures"), group=("top", "source.ip", 10)),
    "smtp-out-deferrals": es_rule(
        "smtp-out deferrals per destination domain", "More than 20 deferrals (4xx replies that rolled a "
        "delivery back) to one destination domain in 30 minutes: a remote site greylisting, rate-limiting or "
        "blocking us. Raise the threshold for a busy relay.",
        es_filter(term("event.action", "tx-rollback"), term("opensmtpd.subsystem", "smtp-out"),
                  {"range": {"opensmtpd.response_code": {"gte": 400, "lt": 500}}}),
        30, ">", 20, group=("top", "opensmtpd.to_domains", 10)),
    "documents-dropped": es_rule(
        "filter-jsonlog dropped documents", "filter-jsonlog lost documents while its output was down "
        "(documents-dropped self-metrics with a non-zero count), per mail host.",
        es_filter(term("event.action", "documents-dropped"), term("event.kind", "metric"),
                  {"range": {"opensmtpd.jsonlog.dropped_since_last": {"gt": 0}}}),
        15, ">", 0, agg=("sum", "opensmtpd.jsonlog.dropped_since_last"), group=("top", "host.name", 50)),
    "ingestion-stalled": es_rule(
        "ingestion stalled", "No filter-jsonlog stats document for 10 minutes: filter-jsonlog writes one every "
        "--stats-interval (60 s by default) even when no mail flows, so none means the filter, syslog, "
        "Filebeat or the pipeline has stopped. For one rule per mail host, add a term on host.name to the "
        "query (a rule grouped by host cannot see a host that sent nothing).",
        es_filter(term("event.action", "stats"), term("event.kind", "metric")), 10, "<", 1),
}


def alert_body(rule: dict) -> dict:
    """The request body: the rule without the description kept for the docs."""
    return {k: v for k, v in rule.items() if not k.startswith("_")}


def events_for_every_panel() -> str:
    """The --events value that feeds every panel: the summaries preset and the
    single events of the panels that need more."""
    extra = []
    for d, p in chart_panels():
        if p["needs_all"]:
            for a in (p["action"] if isinstance(p["action"], tuple) else (p["action"],)):
                if a not in SUMMARIES_EVENTS and a not in extra:
                    extra.append(a)
    return ",".join(["summaries"] + extra)


FILEBEAT_README = REPO / "filebeat" / "README.md"
EVENTS_BEGIN = "<!-- begin: dashboards/generate.py, do not edit -->"
EVENTS_END = "<!-- end: dashboards/generate.py -->"


def filebeat_readme_block() -> str:
    needing = [p["title"] for d, p in chart_panels() if p["needs_all"]]
    return "\n".join([
        EVENTS_BEGIN,
        f"* `--events` limits the documents to some events. The {len(DASHBOARDS)} dashboards work",
        "  under `--events summaries` except " + ", ".join(f"\"{t}\"" for t in needing) + ",",
        "  which need single events (`dashboards/PANELS.md` says why). For every panel use the",
        f"  default (`all`) or `--events {events_for_every_panel()}`.",
        EVENTS_END,
    ])


def filebeat_readme(text: str) -> str:
    head, sep, rest = text.partition(EVENTS_BEGIN)
    if not sep:
        raise ValueError(f"{FILEBEAT_README}: no {EVENTS_BEGIN}")
    _, sep, tail = rest.partition(EVENTS_END)
    if not sep:
        raise ValueError(f"{FILEBEAT_README}: no {EVENTS_END}")
    return head + filebeat_readme_block() + tail


# ---------------------------------------------------------------------------


def outputs() -> dict[Path, str]:
    objs = saved_objects()
    files = {NDJSON_OUT: "".join(json.dumps(o, separators=(",", ":"), ensure_ascii=True) + "\n" for o in objs)}
    for o in objs:
        files[BEATS_DIR / o["type"] / f"{o['id']}.json"] = json.dumps(o, indent=2, ensure_ascii=True) + "\n"
    files[PANELS_OUT] = panels_markdown()
    files[FILEBEAT_README] = filebeat_readme(FILEBEAT_README.read_text(encoding="utf-8"))
    for name, rule in ALERTS.items():
        files[ALERTS_DIR / f"{name}.json"] = json.dumps(alert_body(rule), indent=2, ensure_ascii=True) + "\n"
    return files


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    files = outputs()
    for path, text in files.items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current != text:
            stale.append(path)
            if not check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
    # Files in kibana/7 that this script no longer makes.
    extra = [p for p in BEATS_DIR.rglob("*.json") if p not in files] if BEATS_DIR.exists() else []
    for path in extra:
        stale.append(path)
        if not check:
            path.unlink()
    if check and stale:
        for path in stale:
            print(f"stale: {path.relative_to(REPO)} (run python3 dashboards/generate.py)", file=sys.stderr)
        return 1
    for path in stale:
        print(f"{'removed' if path in extra else 'wrote'} {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
