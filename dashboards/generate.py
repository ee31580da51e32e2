#!/usr/bin/env python3
"""Generate filter-jsonlog's Kibana saved objects from the compact description below.

    python3 dashboards/generate.py           # rewrite the generated files
    python3 dashboards/generate.py --check   # exit 1 if they are stale

Outputs (committed; tests/elastic checks that they match this script):
  dashboards/opensmtpd-jsonlog.ndjson          data view + dashboards, for
                                               POST /api/saved_objects/_import
  dashboards/kibana/7/index-pattern/*.json     the same objects, one pretty JSON
  dashboards/kibana/7/dashboard/*.json         file each, in the layout of
                                               Filebeat's setup.dashboards.directory
  dashboards/PANELS.md                         every panel, its filter and its fields

Format: Kibana 8.x saved objects (lowest supported Kibana: 8.15), by-value Lens
panels (datasource "formBased"), one data view with the fixed id
"opensmtpd-jsonlog" on logs-opensmtpd.jsonlog-*.

Every document of filter-jsonlog repeats the whole session, so every panel
counts one kind of event: its query always starts with one
event.action : "<event>" clause (sessions: link-disconnect, messages:
tx-commit, recipient decisions: tx-rcpt, AUTH: link-auth, filter verdicts:
filter-response, timeouts: timeout, FCrDNS: link-connect, self-metrics:
documents-dropped / stats).

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

# Saved-object versions: the 8.x format as Kibana 8.8+ exports it (the same
# values Kibana's own sample data carries).  Panels were authored for 8.15.
CORE_MIGRATION_VERSION = "8.8.0"
DASHBOARD_MIGRATION_VERSION = "8.7.0"
INDEX_PATTERN_MIGRATION_VERSION = "8.0.0"
PANEL_VERSION = "8.15.0"

NAMESPACE = uuid.UUID("5d0b7a53-6f0e-4c4a-9a43-0e7f0c1a2b3c")


def uid(*parts: str) -> str:
    """Deterministic UUIDs, so that regeneration gives identical files."""
    return str(uuid.uuid5(NAMESPACE, "/".join(parts)))


def load_types() -> dict[str, str]:
    types = {}
    for path in (REPO / "schema" / "fields.json", REPO / "elasticsearch" / "pipeline-fields.json"):
        for f in json.loads(path.read_text(encoding="utf-8"))["fields"]:
            types[f["name"]] = f["type"]
    return types


LENS_DATA_TYPE = {
    "keyword": "string",
    "ip": "ip",
    "long": "number",
    "boolean": "boolean",
    "date": "date",
}

# ---------------------------------------------------------------------------
# The compact description: columns, panels, dashboards.

BYTES = {"id": "bytes", "params": {"decimals": 1}}
INTEGER = {"id": "number", "params": {"decimals": 0}}


def date() -> dict:
    return {"op": "date_histogram", "field": "@timestamp"}


def terms(field: str, label: str, size: int = 10, other: bool = False, missing: bool = False) -> dict:
    return {"op": "terms", "field": field, "label": label, "size": size, "other": other, "missing": missing}


def count(label: str) -> dict:
    return {"op": "count", "label": label}


def metric(op: str, field: str, label: str, fmt: dict | None = None) -> dict:
    return {"op": op, "field": field, "label": label, "fmt": fmt}


def panel(title: str, vis: str, action: str, where: str | None = None, *, w: int = 24, h: int = 12,
          x: dict | None = None, split: dict | None = None, metrics: tuple = (), rows: tuple = (),
          series: str = "bar_stacked", description: str = "") -> dict:
    """vis: metric | xy | pie | table.
    xy:     x (date or terms), optional split (terms), metrics (one or more)
    pie:    rows (terms, the slices), metrics (one)
    table:  rows (terms), metrics
    metric: metrics (one)"""
    return {"title": title, "vis": vis, "action": action, "where": where, "w": w, "h": h, "x": x,
            "split": split, "metrics": list(metrics), "rows": list(rows), "series": series,
            "description": description}


SMTP_IN = 'opensmtpd.subsystem : "smtp-in"'
SMTP_OUT = 'opensmtpd.subsystem : "smtp-out"'
REFUSED = 'not opensmtpd.rcpt.result : "ok"'
AUTH_FAILED = '(opensmtpd.auth.result : "fail" or opensmtpd.auth.result : "error")'
VERDICTS = ('(opensmtpd.filter.response.decision : "reject" or opensmtpd.filter.response.decision : "disconnect"'
            ' or opensmtpd.filter.response.decision : "junk")')
FCRDNS_FAILED = '(opensmtpd.fcrdns : "fail" or opensmtpd.fcrdns : "error")'
METRIC = 'event.kind : "metric"'


def AND(*parts: str) -> str:
    return " and ".join(parts)


SESSIONS = count("Sessions")
MESSAGES = count("Messages")
RECIPIENTS = count("Recipients")

DASHBOARDS = [
    {
        "id": "opensmtpd-jsonlog-overview",
        "title": "Overview",
        "description": "Sessions, messages, recipients and bytes, and filter-jsonlog's own health (self-metrics documents).",
        "panels": [
            panel("Inbound sessions", "metric", "link-disconnect", SMTP_IN, w=12, h=5, metrics=(SESSIONS,),
                  description="smtp-in sessions that ended (one link-disconnect each)."),
            panel("Messages accepted", "metric", "tx-commit", SMTP_IN, w=12, h=5, metrics=(MESSAGES,),
                  description="Messages smtpd accepted from clients (tx-commit of smtp-in)."),
            panel("Recipients accepted", "metric", "tx-rcpt", AND(SMTP_IN, 'opensmtpd.rcpt.result : "ok"'),
                  w=12, h=5, metrics=(RECIPIENTS,)),
            panel("Recipients refused", "metric", "tx-rcpt", AND(SMTP_IN, REFUSED), w=12, h=5,
                  metrics=(RECIPIENTS,), description="RCPT TO answered with permfail or tempfail."),
            panel("Bytes accepted", "metric", "tx-commit", SMTP_IN, w=12, h=5,
                  metrics=(metric("sum", "opensmtpd.transaction.size", "Bytes", BYTES),),
                  description="Sum of smtpd's spooled message sizes (tx-commit)."),
            panel("Unique senders", "metric", "tx-commit", SMTP_IN, w=12, h=5,
                  metrics=(metric("unique_count", "email.from.address", "Senders", INTEGER),),
                  description="Distinct envelope senders of accepted messages."),
            panel("Unique recipients", "metric", "tx-commit", SMTP_IN, w=12, h=5,
                  metrics=(metric("unique_count", "email.to.address", "Recipients", INTEGER),),
                  description="Distinct accepted recipients of accepted messages."),
            panel("Messages relayed (smtp-out)", "metric", "tx-commit", SMTP_OUT, w=12, h=5, metrics=(MESSAGES,),
                  description="Messages smtpd delivered to a remote server or smarthost."),
            panel("Sessions over time", "xy", "link-disconnect", None, x=date(),
                  split=terms("opensmtpd.subsystem", "Subsystem", 2), metrics=(SESSIONS,)),
            panel("Messages over time", "xy", "tx-commit", None, x=date(),
                  split=terms("opensmtpd.subsystem", "Subsystem", 2), metrics=(MESSAGES,)),
            panel("Recipients accepted vs refused", "xy", "tx-rcpt", SMTP_IN, x=date(),
                  split=terms("opensmtpd.rcpt.result", "RCPT result", 3), metrics=(RECIPIENTS,)),
            panel("Bytes accepted over time", "xy", "tx-commit", SMTP_IN, x=date(),
                  metrics=(metric("sum", "opensmtpd.transaction.size", "Bytes", BYTES),)),
            panel("Documents dropped by filter-jsonlog", "xy", "documents-dropped", METRIC, x=date(),
                  metrics=(metric("sum", "opensmtpd.jsonlog.dropped_since_last", "Documents dropped", INTEGER),),
                  description="From the documents-dropped self-metrics documents: documents lost while the output was down."),
            panel("filter-jsonlog counters (stats)", "xy", "stats", METRIC, x=date(), series="line",
                  metrics=(metric("max", "opensmtpd.jsonlog.documents_truncated", "Documents truncated", INTEGER),
                           metric("max", "opensmtpd.jsonlog.documents_dropped", "Documents dropped", INTEGER),
                           metric("max", "opensmtpd.jsonlog.lines_rejected", "Lines rejected", INTEGER),
                           metric("max", "opensmtpd.jsonlog.internal_errors", "Internal errors", INTEGER)),
                  description="From the stats self-metrics documents: counters since the filter started (highest value per interval)."),
        ],
    },
    {
        "id": "opensmtpd-jsonlog-tls",
        "title": "TLS",
        "description": "TLS versus plaintext, per session and per recipient domain; TLS versions and ciphers.",
        "panels": [
            panel("TLS vs plaintext sessions (smtp-in)", "pie", "link-disconnect", SMTP_IN, w=16,
                  rows=(terms("tls.established", "TLS", 2),), metrics=(SESSIONS,)),
            panel("TLS vs plaintext sessions (smtp-out)", "pie", "link-disconnect", SMTP_OUT, w=16,
                  rows=(terms("tls.established", "TLS", 2),), metrics=(SESSIONS,)),
            panel("TLS versions", "pie", "link-disconnect", "tls.established : true", w=16,
                  rows=(terms("tls.version", "TLS version", 5),), metrics=(SESSIONS,)),
            panel("TLS share of inbound sessions over time", "xy", "link-disconnect", SMTP_IN,
                  series="bar_percentage_stacked", x=date(), split=terms("tls.established", "TLS", 2),
                  metrics=(SESSIONS,)),
            panel("TLS ciphers", "table", "link-disconnect", "tls.established : true",
                  rows=(terms("tls.version", "TLS version", 5), terms("tls.cipher", "Cipher", 20),
                        terms("opensmtpd.tls.bits", "Bits", 5)),
                  metrics=(SESSIONS,)),
            panel("TLS vs plaintext per recipient domain (received)", "xy", "tx-commit", SMTP_IN, h=15,
                  series="bar_horizontal_stacked", x=terms("opensmtpd.to_domains", "Recipient domain", 20),
                  split=terms("tls.established", "TLS", 2), metrics=(MESSAGES,),
                  description="Messages received per recipient domain, by whether the client used TLS."),
            panel("TLS vs plaintext per recipient domain (delivered)", "xy", "tx-commit", SMTP_OUT, h=15,
                  series="bar_horizontal_stacked", x=terms("opensmtpd.to_domains", "Recipient domain", 20),
                  split=terms("tls.established", "TLS", 2), metrics=(MESSAGES,),
                  description="Messages delivered (smtp-out) per recipient domain, by whether the session to the remote server used TLS."),
            panel("Plaintext clients (smtp-in)", "table", "link-disconnect",
                  AND(SMTP_IN, "tls.established : false", "source.ip : *"),
                  rows=(terms("source.ip", "Client address", 20), terms("source.domain", "Client rDNS", 1, missing=True)),
                  metrics=(SESSIONS,), description="Clients that never started TLS (local enqueue excluded)."),
            panel("Plaintext deliveries (smtp-out)", "table", "tx-commit", AND(SMTP_OUT, "tls.established : false"),
                  rows=(terms("destination.ip", "Remote server", 20),
                        terms("opensmtpd.greeting", "Remote banner name", 1, missing=True)),
                  metrics=(MESSAGES,), description="Messages delivered without TLS, per remote server."),
        ],
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
            panel("Top authenticated users", "table", "tx-commit", AND(SMTP_IN, 'opensmtpd.auth.result : "pass"'),
                  w=16, h=14, rows=(terms("user.name", "AUTH user", 20),), metrics=(MESSAGES,)),
            panel("Top sender domains", "xy", "tx-commit", SMTP_IN, h=14, series="bar_horizontal",
                  x=terms("opensmtpd.from_domain", "Sender domain", 15), metrics=(MESSAGES,)),
            panel("Top recipient domains", "xy", "tx-commit", SMTP_IN, h=14, series="bar_horizontal",
                  x=terms("opensmtpd.to_domains", "Recipient domain", 15), metrics=(MESSAGES,)),
            panel("Top client rDNS names", "table", "link-disconnect", SMTP_IN, w=16, h=14,
                  rows=(terms("source.domain", "Client rDNS", 20),), metrics=(SESSIONS,)),
            panel("Top HELO/EHLO names", "table", "link-disconnect", SMTP_IN, w=16, h=14,
                  rows=(terms("opensmtpd.helo.name", "HELO name", 20),), metrics=(SESSIONS,)),
            panel("Top client addresses", "table", "link-disconnect", AND(SMTP_IN, "source.ip : *"), w=16, h=14,
                  rows=(terms("source.ip", "Client address", 20),), metrics=(SESSIONS,)),
            panel("Top destination domains (smtp-out)", "xy", "tx-commit", SMTP_OUT, h=14, series="bar_horizontal",
                  x=terms("opensmtpd.to_domains", "Recipient domain", 15), metrics=(MESSAGES,)),
            panel("Traffic by sender domain", "table", "tx-commit", SMTP_IN, h=14,
                  rows=(terms("opensmtpd.from_domain", "Sender domain", 20),),
                  metrics=(MESSAGES, metric("sum", "opensmtpd.transaction.size", "Bytes", BYTES))),
        ],
    },
    {
        "id": "opensmtpd-jsonlog-rejections-security",
        "title": "Rejections and security",
        "description": "Refused recipients, AUTH failures, filter verdicts, timeouts and FCrDNS failures.",
        "panels": [
            panel("Refused recipients over time", "xy", "tx-rcpt", AND(SMTP_IN, REFUSED), x=date(),
                  split=terms("opensmtpd.rcpt.result", "RCPT result", 2), metrics=(RECIPIENTS,)),
            panel("Top refused recipient addresses", "table", "tx-rcpt", AND(SMTP_IN, REFUSED),
                  rows=(terms("opensmtpd.rcpt.address", "Refused RCPT TO", 20),), metrics=(RECIPIENTS,)),
            panel("Refused recipient domains", "xy", "tx-rcpt", AND(SMTP_IN, REFUSED), w=16, h=14,
                  series="bar_horizontal", x=terms("opensmtpd.rcpt_domain", "Recipient domain", 15),
                  metrics=(RECIPIENTS,)),
            panel("Refusal replies", "table", "tx-rcpt", AND(SMTP_IN, REFUSED), w=16, h=14,
                  rows=(terms("opensmtpd.response", "Reply to RCPT TO", 15),), metrics=(RECIPIENTS,)),
            panel("Clients with most refused recipients", "table", "tx-rcpt", AND(SMTP_IN, REFUSED), w=16, h=14,
                  rows=(terms("source.ip", "Client address", 20), terms("source.domain", "Client rDNS", 1, missing=True)),
                  metrics=(RECIPIENTS,)),
            panel("AUTH failures over time", "xy", "link-auth", AND(SMTP_IN, AUTH_FAILED), w=16, x=date(),
                  split=terms("opensmtpd.auth.result", "AUTH result", 2), metrics=(count("AUTH failures"),)),
            panel("AUTH failures by user", "table", "link-auth", AND(SMTP_IN, AUTH_FAILED), w=16,
                  rows=(terms("user.name", "AUTH user", 20),), metrics=(count("AUTH failures"),)),
            panel("AUTH failures by client address", "table", "link-auth", AND(SMTP_IN, AUTH_FAILED), w=16,
                  rows=(terms("source.ip", "Client address", 20),), metrics=(count("AUTH failures"),)),
            panel("Filter verdicts over time", "xy", "filter-response", VERDICTS, x=date(),
                  split=terms("opensmtpd.filter.response.decision", "Decision", 3), metrics=(count("Verdicts"),)),
            panel("Filter verdicts by phase and message", "table", "filter-response", VERDICTS,
                  rows=(terms("opensmtpd.filter.response.decision", "Decision", 3),
                        terms("opensmtpd.filter.response.phase", "Phase", 15),
                        terms("opensmtpd.filter.response.param", "Message", 10, missing=True)),
                  metrics=(count("Verdicts"),)),
            panel("Timeouts over time", "xy", "timeout", None, w=16, x=date(),
                  split=terms("opensmtpd.subsystem", "Subsystem", 2), metrics=(count("Timeouts"),)),
            panel("Timeouts by client", "table", "timeout", AND(SMTP_IN, "source.ip : *"), w=16,
                  rows=(terms("source.ip", "Client address", 20),), metrics=(count("Timeouts"),)),
            panel("FCrDNS results (inbound connections)", "pie", "link-connect", SMTP_IN, w=16,
                  rows=(terms("opensmtpd.fcrdns", "FCrDNS", 3),), metrics=(count("Connections"),)),
            panel("FCrDNS failures over time", "xy", "link-connect", AND(SMTP_IN, FCRDNS_FAILED), x=date(),
                  split=terms("opensmtpd.fcrdns", "FCrDNS", 2), metrics=(count("Connections"),)),
            panel("Clients failing FCrDNS", "table", "link-connect", AND(SMTP_IN, FCRDNS_FAILED),
                  rows=(terms("source.ip", "Client address", 20), terms("source.domain", "Client rDNS", 1, missing=True)),
                  metrics=(count("Connections"),)),
        ],
    },
    {
        "id": "opensmtpd-jsonlog-geography",
        "title": "Geography",
        "description": "smtp-in clients by country and autonomous system (GeoIP/ASN added by the ingest pipeline).",
        "panels": [
            panel("Inbound sessions by country", "xy", "link-disconnect", SMTP_IN, h=15, series="bar_horizontal",
                  x=terms("source.geo.country_name", "Country", 20), metrics=(SESSIONS,)),
            panel("Inbound sessions by autonomous system", "table", "link-disconnect", SMTP_IN, h=15,
                  rows=(terms("source.as.number", "AS number", 20),
                        terms("source.as.organization.name", "AS organisation", 1, missing=True)),
                  metrics=(SESSIONS,)),
            panel("Inbound sessions over time by country", "xy", "link-disconnect", SMTP_IN, x=date(),
                  split=terms("source.geo.country_name", "Country", 5, other=True), metrics=(SESSIONS,)),
            panel("Plaintext sessions by country", "table", "link-disconnect", AND(SMTP_IN, "tls.established : false"),
                  rows=(terms("source.geo.country_name", "Country", 20),), metrics=(SESSIONS,)),
            panel("Messages accepted by client country", "table", "tx-commit", SMTP_IN, w=16, h=14,
                  rows=(terms("source.geo.country_name", "Country", 20),), metrics=(MESSAGES,)),
            panel("Refused recipients by client country", "table", "tx-rcpt", AND(SMTP_IN, REFUSED), w=16, h=14,
                  rows=(terms("source.geo.country_name", "Country", 20),), metrics=(RECIPIENTS,)),
            panel("AUTH failures by client country", "table", "link-auth", AND(SMTP_IN, AUTH_FAILED), w=16, h=14,
                  rows=(terms("source.geo.country_name", "Country", 20),), metrics=(count("AUTH failures"),)),
        ],
    },
]

FIELD_FORMATS = {
    "opensmtpd.transaction.size": {"id": "bytes"},
    "opensmtpd.counters.bytes": {"id": "bytes"},
    "opensmtpd.jsonlog.document_bytes": {"id": "bytes"},
    "opensmtpd.session.duration_us": {
        "id": "duration",
        "params": {"inputFormat": "microseconds", "outputFormat": "humanizePrecise", "outputPrecision": 1},
    },
}

# ---------------------------------------------------------------------------
# Lens and dashboard objects.


def query_of(p: dict) -> str:
    q = f'event.action : "{p["action"]}"'
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
    if op == "count":
        return {
            "label": spec["label"],
            "customLabel": True,
            "dataType": "number",
            "operationType": "count",
            "sourceField": "___records___",
            "isBucketed": False,
            "scale": "ratio",
            "params": {"emptyAsNull": False, "format": INTEGER},
        }
    # sum, max, unique_count, average
    params: dict = {"emptyAsNull": True}
    if spec.get("fmt"):
        params["format"] = spec["fmt"]
    return {
        "label": spec["label"],
        "customLabel": True,
        "dataType": "number",
        "operationType": op,
        "sourceField": spec["field"],
        "isBucketed": False,
        "scale": "ratio",
        "params": params,
    }


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
            {"type": "index-pattern", "id": DATA_VIEW_ID, "name": f"indexpattern-datasource-layer-{layer}"}
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


def dashboard_object(d: dict, types: dict[str, str]) -> dict:
    panels_json = []
    references = []
    for i, (p, grid) in enumerate(zip(d["panels"], layout(d["panels"]))):
        pid = uid(d["id"], str(i), "panel")
        attrs = lens_attributes(d["id"], i, p, types)
        panels_json.append(
            {
                "type": "lens",
                "gridData": {**grid, "i": pid},
                "panelIndex": pid,
                "embeddableConfig": {"attributes": attrs, "enhancements": {}},
                "title": p["title"],
                "version": PANEL_VERSION,
            }
        )
        for ref in attrs["references"]:
            references.append({"type": ref["type"], "id": ref["id"], "name": f"{pid}:{ref['name']}"})
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


def data_view_object() -> dict:
    return {
        "id": DATA_VIEW_ID,
        "type": "index-pattern",
        "attributes": {
            "title": DATA_VIEW_TITLE,
            "name": DATA_VIEW_NAME,
            "timeFieldName": "@timestamp",
            "allowNoIndex": True,
            "fieldFormatMap": json.dumps(FIELD_FORMATS, separators=(",", ":"), sort_keys=True),
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
    return [data_view_object()] + [dashboard_object(d, types) for d in DASHBOARDS]


# ---------------------------------------------------------------------------
# PANELS.md: the panel list with the fields each one uses.


QUERY_FIELD = re.compile(r"([A-Za-z_@][A-Za-z0-9_@.]*)\s*:")


def panel_fields(p: dict) -> list[str]:
    """Fields of the columns, then those of the query after event.action."""
    fields = []
    for spec in p["rows"] + [p["x"], p["split"]] + p["metrics"]:
        if spec and spec.get("field") and spec["field"] not in fields:
            fields.append(spec["field"])
    for name in QUERY_FIELD.findall(p["where"] or ""):
        if name not in fields:
            fields.append(name)
    return fields


def panels_markdown() -> str:
    kinds = {"metric": "metric", "xy": "chart", "pie": "donut", "table": "table"}
    out = [
        "# Kibana panels and the fields they use",
        "",
        "Generated by `dashboards/generate.py`; do not edit. Every panel counts one kind of",
        "event (its query starts with `event.action : \"...\"`), because every document",
        "repeats the whole session. \"Fields\" lists the fields of the panel's columns,",
        "then those its query filters on besides `event.action`. Fields marked † are added",
        "by the ingest pipeline (`elasticsearch/pipeline-fields.json`); all others are",
        "written by filter-jsonlog (`schema/fields.json`).",
        "",
    ]
    pipeline = {f["name"] for f in json.loads((REPO / "elasticsearch" / "pipeline-fields.json").read_text())["fields"]}
    actions = []
    for d in DASHBOARDS:
        for p in d["panels"]:
            if p["action"] not in actions and p["action"] not in ("stats", "documents-dropped"):
                actions.append(p["action"])
    out += [
        "Session events the dashboards count (keep them in filter-jsonlog's `--events`",
        "selection; the self-metrics documents `stats` and `documents-dropped` are always",
        "written): " + ", ".join(f"`{a}`" for a in actions) + ".",
        "",
    ]
    for d in DASHBOARDS:
        out += [f"## {TITLE_PREFIX}{d['title']}", "", d["description"], ""]
        out += ["| Panel | Type | Query | Fields |", "|---|---|---|---|"]
        for p in d["panels"]:
            fields = ", ".join(f"`{f}`" + ("†" if f in pipeline else "") for f in panel_fields(p))
            query = query_of(p).replace("|", "\\|")
            out.append(f"| {p['title']} | {kinds[p['vis']]} | `{query}` | {fields} |")
        out.append("")
    return "\n".join(out)


# ---------------------------------------------------------------------------


def outputs() -> dict[Path, str]:
    objs = saved_objects()
    files = {NDJSON_OUT: "".join(json.dumps(o, separators=(",", ":"), ensure_ascii=True) + "\n" for o in objs)}
    for o in objs:
        folder = "index-pattern" if o["type"] == "index-pattern" else "dashboard"
        files[BEATS_DIR / folder / f"{o['id']}.json"] = json.dumps(o, indent=2, ensure_ascii=True) + "\n"
    files[PANELS_OUT] = panels_markdown()
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
