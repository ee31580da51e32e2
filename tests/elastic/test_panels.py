"""Every dashboard panel, evaluated over replayed documents, against counts
made from the raw report lines (issue 13).

    python3 -m unittest discover -s tests/elastic -v      (from the repository root)

For each report stream (tests/data/captured/, the gen-stream output in
tests/data/generated/, the hand-built tests/elastic/streams/), the filter
replays it twice, with `--events all` and with `--events summaries`.  Each
stream stands for one mail host (host.name is the stream's name).  A small
evaluator computes what Kibana shows for every panel from those documents:
its KQL query; its bucket columns nested in the layer's columnOrder, each
terms column with its size, "Other" (the documents with none of the top
values) and the missing bucket only where Lens sends one (Other on, keyword
field); ranges; the time axis per minute; its metrics with their per-column
filters (count, sum, max, average, unique count) and the display format
Kibana would use; the dashboard's controls as phrase filters.  The ingest
pipeline's additions (domains, reply_code, the lowercase normalizer, the
GeoIP label) are made by a Python twin, and GeoIP by a stand-in (`fake_geo`:
nothing for private, loopback, link-local and CGNAT addresses).  The ES|QL
delay panel has a twin of its query.

The oracle does not read the documents: it parses the report lines itself
(its own little session table) and counts, per panel, what the panel means to
show.  Panels marked "both" in PANELS.md must agree with the oracle under both
presets; panels marked "all" under `--events all`, and must be empty under
`--events summaries`.  Self-metrics panels (stats, documents-dropped) count
the filter's own counters, not report lines; test_elastic checks them.
"""

from __future__ import annotations

import calendar
import hashlib
import importlib.util
import ipaddress
import json
import math
import subprocess
import sys
import time
import unittest
from functools import lru_cache
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_elastic import (  # noqa: E402
    REPO, domain_of, filter_binary, flatten_doc, is_esql, known_types, kql_parse, kql_eval, lens_panels, load_module,
    saved_objects,
)

MISSING = "(missing value)"
OTHER = "Other"
STREAM_DIRS = (REPO / "tests" / "data" / "captured", REPO / "tests" / "data" / "generated",
               REPO / "tests" / "elastic" / "streams")


def load_generator():
    spec = importlib.util.spec_from_file_location("kb_generate_panels", REPO / "dashboards" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


GEN = load_generator()
ES_GEN = load_module(REPO / "elasticsearch" / "generate.py", "es_generate_panels")
NO_GEOIP = ES_GEN.NO_GEOIP
LOWERCASE = ES_GEN.LOWERCASE


def streams() -> list:
    return sorted(p for d in STREAM_DIRS for p in d.glob("*.txt"))


# GeoLite2 has no entry for these: the pipeline labels such clients
# GeoIP.NO_GEOIP instead of leaving them out of the country panels.
NO_GEO_NETS = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.168.0.0/16", "::/128", "::1/128", "fc00::/7", "fe80::/10"))


def fake_geo(ip: str) -> dict | None:
    """Stand-in for GeoLite2: nothing for private, loopback, link-local and
    CGNAT addresses (as the real databases); otherwise a country, an AS and a
    location per address.  The test streams' documentation addresses
    (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24) stand for Internet hosts
    here."""
    addr = ipaddress.ip_address(ip)
    if any(addr in net for net in NO_GEO_NETS if net.version == addr.version):
        return None
    h = int(hashlib.sha256(ip.encode()).hexdigest()[:8], 16)
    return {"country": f"Country {h % 5}", "asn": 64500 + h % 3, "org": f"Org {h % 3}",
            "location": f"{(h % 160) - 80}.5,{(h % 340) - 170}.5"}


def geo_label(ip: str, key: str):
    """What a country or AS organisation column shows for a remote party."""
    g = fake_geo(ip)
    return g[key] if g else NO_GEOIP


# ---------------------------------------------------------------------------
# Documents: replay, flatten, and what the ingest pipeline and Filebeat add.


def refused_of(doc: dict) -> list:
    """Twin of the pipeline script: refused RCPT TO of the transaction, each once."""
    tx = doc.get("opensmtpd", {}).get("transaction")
    out = []
    if isinstance(tx, dict):
        for r in tx.get("rcpt", []) or []:
            if isinstance(r, dict) and isinstance(r.get("result"), str) and r["result"] != "ok" \
                    and isinstance(r.get("address"), str) and r["address"] not in out:
                out.append(r["address"])
    return out


def enrich(doc: dict, host: str) -> dict:
    """The document as Elasticsearch indexes it: Filebeat's host.name, the
    pipeline's additions, and the template's lowercase normalizer."""
    flat = flatten_doc(doc)
    flat["host.name"] = [host]
    flat["data_stream.type"], flat["data_stream.dataset"], flat["data_stream.namespace"] = \
        ["logs"], ["opensmtpd.jsonlog"], ["default"]
    if "opensmtpd.subsystem" not in flat:
        return flat
    d = domain_of(flat.get("email.from.address", [None])[0])
    if d:
        flat["opensmtpd.from_domain"] = [d]
    d = domain_of(flat.get("opensmtpd.rcpt.address", [None])[0])
    if d:
        flat["opensmtpd.rcpt_domain"] = [d]
    doms = []
    for a in flat.get("email.to.address", []):
        d = domain_of(a)
        if d and d not in doms:
            doms.append(d)
    if doms:
        flat["opensmtpd.to_domains"] = doms
    refused = refused_of(doc)
    if refused:
        flat["opensmtpd.refused_rcpts"] = refused
        rdoms = []
        for a in refused:
            d = domain_of(a)
            if d and d not in rdoms:
                rdoms.append(d)
        if rdoms:
            flat["opensmtpd.refused_domains"] = rdoms
    if "opensmtpd.response_code" in flat:
        flat["opensmtpd.reply_code"] = [str(v) for v in flat["opensmtpd.response_code"]]
    sub = flat["opensmtpd.subsystem"][0]
    for side, want in (("source", "smtp-in"), ("destination", "smtp-out")):
        ip = flat.get(f"{side}.ip", [None])[0]
        if sub == want and ip:
            g = fake_geo(ip)
            if g:
                flat[f"{side}.geo.country_name"] = [g["country"]]
                flat[f"{side}.geo.location"] = [g["location"]]
                flat[f"{side}.as.number"] = [g["asn"]]
                flat[f"{side}.as.organization.name"] = [g["org"]]
            else:
                flat[f"{side}.geo.country_name"] = [NO_GEOIP]
                flat[f"{side}.as.organization.name"] = [NO_GEOIP]
    for field in LOWERCASE:
        if field in flat:
            flat[field] = [v.lower() if isinstance(v, str) else v for v in flat[field]]
    return flat


@lru_cache(maxsize=None)
def replay(path: Path, preset: str) -> tuple:
    proc = subprocess.run([str(filter_binary()), "replay", "--events", preset, str(path)],
                          capture_output=True, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"replay {path} exited {proc.returncode}: {proc.stderr.decode(errors='replace')}")
    return tuple(json.loads(line) for line in proc.stdout.decode().splitlines() if line.strip())


@lru_cache(maxsize=None)
def documents(preset: str) -> tuple:
    return tuple(enrich(doc, p.stem) for p in streams() for doc in replay(p, preset))


# ---------------------------------------------------------------------------
# The evaluator: what Kibana shows for a panel, as {bucket key tuple: metric
# tuple}.  Keys are in the panel's reading order (the time axis first, then
# table columns / x / breakdown), whatever order Lens nests them in.


def distinct(values) -> list:
    out = []
    for v in values:
        if v not in out:
            out.append(v)
    return out


def range_label(value, buckets) -> str | None:
    for lo, hi, label in buckets:
        if value >= lo and (hi is None or value < hi):
            return label
    return None


def sort_key(v):
    """Elasticsearch's key order for ties: IP addresses by their bytes, the
    missing bucket under its key "__missing__", others as they are."""
    if v == MISSING:
        return (1, "__missing__")
    if isinstance(v, str):
        try:
            return (0, ipaddress.ip_address(v).packed.rjust(16, b"\0"))
        except ValueError:
            return (1, v)
    return (2, v)


class Level:
    """One bucket column as Kibana runs it.

    values(obj, keys) -> the obj's values at this level (MISSING for the
    missing bucket when it is on); size/other/absent_to_other as Lens sends
    them; order(objs) -> the number the top values are chosen by."""

    def __init__(self, values, size=None, other=False, absent_to_other=False, order=None):
        self.values, self.size, self.other, self.absent_to_other, self.order = \
            values, size, other, absent_to_other, order


def nest(objs: list, levels: list, metrics, prefix: tuple = ()) -> dict:
    """Kibana's nested buckets: at each terms level the top `size` values by
    the order metric (ties by key), computed within the parent bucket;
    "Other" holds the objects with none of the top values (and, with a
    missing bucket asked for but not possible, those without a value).
    objs are (obj, keys) pairs; keys narrow as the levels are walked, so that
    the oracle's key tuples and the evaluator's documents share this code."""
    if not objs:
        return {}
    if not levels:
        return {prefix: metrics([o for o, _ in objs])}
    lv, rest = levels[0], levels[1:]
    groups: dict = {}
    for o, keys in objs:
        for v in distinct(lv.values(o, keys)):
            groups.setdefault(v, []).append((o, keys))
    chosen = list(groups)
    if lv.size is not None:
        def rank(v):
            m = lv.order([o for o, _ in groups[v]])
            return (m is not None, m if m is not None else 0)
        # By the order metric, descending (a date compares as its text);
        # ties by key, ascending: two stable sorts.
        chosen = sorted(sorted(groups, key=sort_key), key=rank, reverse=True)[:lv.size]
    out = {}
    for v in chosen:
        out.update(nest([(o, narrow(keys, len(prefix), v)) for o, keys in groups[v]], rest, metrics, prefix + (v,)))
    if lv.other:
        others = []
        for o, keys in objs:
            vals = distinct(lv.values(o, keys))
            if vals and not any(v in chosen for v in vals):
                others.append((o, [k for k in keys if k[len(prefix)] not in chosen] if keys is not None else None))
            elif not vals and lv.absent_to_other:
                others.append((o, keys))
        out.update(nest(others, rest, metrics, prefix + (OTHER,)))
    return out


def narrow(keys, i, v):
    return None if keys is None else [k for k in keys if k[i] == v]


def metric_value(col: dict, docs: list):
    if col.get("filter"):
        ast = kql_parse(col["filter"]["query"])
        docs = [d for d in docs if kql_eval(ast, d)]
    op = col["operationType"]
    if op == "count":
        return len(docs)
    values = [v for d in docs for v in d.get(col["sourceField"], [])]
    if op == "unique_count":
        return len(set(values))
    if not values:
        return None
    if op == "sum":
        return sum(values)
    if op == "max":
        return max(values)
    if op == "average":
        return sum(values) / len(values)
    if op == "median":
        return percentile(values, 50)
    if op == "percentile":
        return percentile(values, col["params"]["percentile"])
    raise AssertionError(f"metric {op} not evaluated here")


def lens_level(col: dict, cols: dict, types: dict) -> Level:
    field = col["sourceField"]
    op = col["operationType"]
    if op == "date_histogram":
        # Per minute: Kibana's auto interval is never finer for the ranges
        # these dashboards open with.
        return Level(lambda d, k: [d["@timestamp"][0][:16]])
    if op == "range":
        buckets = [(r["from"], r["to"], r["label"]) for r in col["params"]["ranges"]]
        return Level(lambda d, k: distinct(lbl for lbl in (range_label(v, buckets) for v in d.get(field, []))
                                           if lbl is not None))
    if op != "terms":
        raise AssertionError(f"bucket operation {op} not evaluated here")
    params = col["params"]
    other = bool(params.get("otherBucket"))
    # Lens sends the missing bucket only with Other on, and Elasticsearch
    # gets a "missing" value only for string fields; on other fields the
    # documents without a value fall into Other (missingBucket on) or vanish.
    missing = other and bool(params.get("missingBucket")) and types.get(field) == "keyword"
    absent_to_other = other and bool(params.get("missingBucket")) and not missing
    order_col = cols[params["orderBy"]["columnId"]] if params.get("orderBy", {}).get("type") == "column" else None

    def values(d, k):
        vals = distinct(d.get(field, []))
        return vals if vals else ([MISSING] if missing else [])

    def order(docs):
        return metric_value(order_col, docs) if order_col else len(docs)
    return Level(values, params["size"], other, absent_to_other, order)


def reading_order(attrs: dict, layer: dict) -> list:
    """The bucket columns in the order a reader sees them."""
    vis = attrs["state"]["visualization"]
    kind = attrs["visualizationType"]
    if kind == "lnsDatatable":
        ids = [c["columnId"] for c in vis["columns"]]
    elif kind == "lnsPie":
        ids = vis["layers"][0]["primaryGroups"]
    elif kind == "lnsXY":
        lay = vis["layers"][0]
        ids = [lay.get("xAccessor"), lay.get("splitAccessor")]
    else:
        ids = []
    cols = layer["columns"]
    buckets = [c for c in ids if c and cols[c]["isBucketed"]]
    dates = [c for c in buckets if cols[c]["operationType"] == "date_histogram"]
    return dates + [c for c in buckets if c not in dates]


def evaluate_lens(attrs: dict, docs, filters: tuple = (), types: dict | None = None) -> dict:
    """filters: (field, value) pairs of the dashboard's controls, applied as
    Kibana's options list does (a phrase filter: documents without the field
    do not match)."""
    (layer,) = attrs["state"]["datasourceStates"]["formBased"]["layers"].values()
    cols = layer["columns"]
    types = known_types() if types is None else types
    nesting = [c for c in layer["columnOrder"] if cols[c]["isBucketed"]]
    metrics = [cols[c] for c in layer["columnOrder"] if not cols[c]["isBucketed"]]
    ast = kql_parse(attrs["state"]["query"]["query"])
    matching = [(d, None) for d in docs if kql_eval(ast, d) and control_match(d, filters)]
    got = nest(matching, [lens_level(cols[c], cols, types) for c in nesting],
               lambda ds: tuple(metric_value(m, ds) for m in metrics))
    order = reading_order(attrs, layer)
    perm = [nesting.index(c) for c in order]
    return {tuple(k[i] for i in perm): v for k, v in got.items()}


def percentile(values: list, p: float) -> float:
    """Linear interpolation between the closest ranks (Elasticsearch's
    t-digest gives exactly this for the few values of a test)."""
    xs = sorted(values)
    pos = (len(xs) - 1) * p / 100
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def millis(ts: str) -> int:
    """TO_LONG(@timestamp): milliseconds, as Filebeat sends the time."""
    sec, _, frac = ts.rstrip("Z").partition(".")
    t = time.strptime(sec, "%Y-%m-%dT%H:%M:%S")
    return (calendar.timegm(t)) * 1000 + int((frac + "000")[:3])


def evaluate_esql(attrs: dict, docs, filters: tuple = ()) -> dict:
    """Twin of the delivery-delay ES|QL query, step by step (the query text
    must be the one this twin was written for)."""
    (layer,) = attrs["state"]["datasourceStates"]["textBased"]["layers"].values()
    if layer["query"]["esql"] != GEN.DELAY_ESQL or attrs["state"]["query"]["esql"] != GEN.DELAY_ESQL:
        raise AssertionError("ES|QL panel with a query the twin does not know")
    rows: dict = {}
    for d in docs:
        if not control_match(d, filters):
            continue
        # WHERE event.action == "tx-commit" AND ... IS NOT NULL
        if d.get("event.action") != ["tx-commit"] or not d.get("email.local_id") \
                or not d.get("opensmtpd.to_domains"):
            continue
        t = millis(d["@timestamp"][0])
        sub = d["opensmtpd.subsystem"][0]
        # MV_EXPAND, then STATS MIN(t_in), MIN(t_out) BY local_id, domain
        for dom in d["opensmtpd.to_domains"]:
            acc, dlv = rows.get((d["email.local_id"][0], dom), (None, None))
            if sub == "smtp-in":
                acc = t if acc is None else min(acc, t)
            elif sub == "smtp-out":
                dlv = t if dlv is None else min(dlv, t)
            rows[(d["email.local_id"][0], dom)] = (acc, dlv)
    per_domain: dict = {}
    for (mid, dom), (acc, dlv) in rows.items():
        if acc is not None and dlv is not None:
            per_domain.setdefault(dom, []).append((dlv - acc) / 1000.0)
    out = {dom: (len(v), percentile(v, 50), percentile(v, 90), max(v)) for dom, v in per_domain.items()}
    ranked = sorted(out, key=lambda dom: (-out[dom][0], dom))[:25]
    return {(dom,): out[dom] for dom in ranked}


def control_match(d: dict, filters: tuple) -> bool:
    return all(value in d.get(field, []) for field, value in filters)


def evaluate_map(obj: dict, docs, filters: tuple = ()) -> dict:
    layer = [layer for layer in json.loads(obj["attributes"]["layerListJSON"]) if layer.get("query")][0]
    geo = layer["sourceDescriptor"]["geoField"]
    ast = kql_parse(layer["query"]["query"] + f" and {geo} : *")
    n = sum(1 for d in docs if kql_eval(ast, d) and control_match(d, filters))
    return {(): (n,)} if n else {}


# What Kibana formats a Lens column's values with.  Lens' format_column
# turns the number, percent and bytes formats into a numeral pattern from
# "decimals", and duration into a duration format from fromUnit/toUnit;
# any other key of format.params never reaches the formatter.  A column
# without a format of its own shows its field's format from the data view.
LENS_FORMAT_IDS = {"number", "percent", "bytes", "duration"}


def effective_format(col: dict, field_formats: dict) -> dict:
    fmt = (col.get("params") or {}).get("format")
    if fmt:
        params = fmt.get("params") or {}
        if fmt["id"] == "duration":
            return {"id": "duration", "inputFormat": params.get("fromUnit", "seconds"),
                    "outputFormat": params.get("toUnit", "humanize")}
        return {"id": fmt["id"] if fmt["id"] in LENS_FORMAT_IDS else fmt["id"],
                "decimals": params.get("decimals", 2)}
    ff = field_formats.get(col.get("sourceField"))
    if ff and col["operationType"] in ("sum", "average", "max", "min", "median"):
        if ff["id"] == "duration":
            p = ff.get("params", {})
            return {"id": "duration", "inputFormat": p.get("inputFormat", "seconds"),
                    "outputFormat": p.get("outputFormat", "humanize")}
        return {"id": ff["id"]}
    return {"id": "number"}


# ---------------------------------------------------------------------------
# The oracle: the report lines, read on their own.


class Session:
    def __init__(self, sub: str, sid: str, host: str, start: int):
        self.sub, self.sid, self.host, self.start = sub, sid, host, start
        self.ip = self.rdns = self.fcrdns = self.dest_ip = self.port = None
        self.tls = False
        self.tls_version = self.cipher = self.bits = None
        self.auth = self.user = None
        # The user of the last AUTH attempt, failed ones included.
        self.tried = None
        self.auth_failures = self.replies_4xx = self.replies_5xx = 0
        self.helo = self.greeting = None
        self.timeout = False
        self.connects = self.rcpt_ok = self.rcpt_refused = self.verdicts = 0
        self.reply = self.code = None
        self.tx = None


class Tx:
    def __init__(self, msgid: str):
        self.msgid = msgid
        self.mail = None
        self.rcpts: list = []
        self.size = None
        self.committed = False


class Record:
    """One thing a panel counts, with the facts of its moment."""

    def __init__(self, kind: str, s: Session, ts: int, **extra):
        self.kind, self.ts = kind, ts
        for name in ("sub", "sid", "host", "ip", "rdns", "fcrdns", "dest_ip", "port", "tls", "tls_version",
                     "cipher", "bits", "auth", "user", "tried", "helo", "greeting", "timeout", "connects", "rcpt_ok",
                     "rcpt_refused", "verdicts", "auth_failures", "replies_4xx", "replies_5xx", "reply", "code"):
            setattr(self, name, getattr(s, name))
        for k, v in extra.items():
            setattr(self, k, v)


def micros(ts: str) -> int:
    sec, _, frac = ts.partition(".")
    return int(sec) * 1_000_000 + int((frac + "000000")[:6])


def endpoint(text: str):
    """"1.2.3.4:25" / "[::1]:25" -> (ip, port); "unix:/path" -> (None, None)."""
    if text.startswith("unix:") or ":" not in text:
        return None, None
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def version_tuple(v: str) -> tuple:
    return tuple(int(x) for x in v.split("."))


def oracle_records(path: Path) -> list:
    host = path.stem
    sessions: dict = {}
    out: list = []
    for raw in path.read_bytes().split(b"\n"):
        line = raw.decode("utf-8", errors="backslashreplace")
        parts = line.split("|")
        if len(parts) < 6 or parts[0] != "report":
            continue
        version, ts, sub, event, sid = version_tuple(parts[1]), micros(parts[2]), parts[3], parts[4], parts[5]
        args = parts[6:]
        key = (sub, sid)
        s = sessions.get(key)
        if s is None:
            s = sessions[key] = Session(sub, sid, host, ts)
        if event == "link-connect":
            s.connects += 1
            s.rdns = None if args[0] == "<unknown>" else args[0]
            s.fcrdns = args[1]
            src_ip, _ = endpoint(args[2])
            dst_ip, dst_port = endpoint(args[3])
            s.ip, s.dest_ip, s.port = src_ip, dst_ip, dst_port
            # A new connection (smtp-out reconnects): AUTH starts over; the counters do not.
            s.auth = s.user = s.tried = None
        elif event == "link-greeting":
            s.greeting = args[0].split(" ")[0] if sub == "smtp-out" else args[0]
        elif event == "link-identify":
            s.helo = args[1]
        elif event == "link-tls":
            proto, cipher, bits = args[0].split(":")
            s.tls, s.cipher, s.bits = True, cipher, int(bits)
            s.tls_version = proto[len("TLSv"):] if proto.startswith("TLSv") else proto
            s.helo = None  # STARTTLS: the client greets again
        elif event == "link-auth":
            # Free text keeps its "|": the user name is everything but the result.
            result, user = (args[0], "|".join(args[1:])) if version >= (0, 7) else (args[-1], "|".join(args[:-1]))
            s.auth, s.tried = result, user
            if result == "pass":
                s.user = user
            else:
                s.auth_failures += 1
            out.append(Record("auth", s, ts, result=result, tried=user))
        elif event == "tx-begin":
            s.tx = Tx(args[0])
        elif event in ("tx-mail", "tx-rcpt"):
            # The address keeps its "|"s; 0.4 puts it before the result.
            if version < (0, 5):
                address, result = "|".join(args[1:-1]), args[-1]
            else:
                address, result = "|".join(args[2:]), args[1]
            if s.tx is None:
                s.tx = Tx(args[0])
            if event == "tx-mail":
                if result == "ok":
                    s.tx.mail = address
            else:
                s.tx.rcpts.append((address, result))
                if result == "ok":
                    s.rcpt_ok += 1
                else:
                    s.rcpt_refused += 1
                out.append(Record("rcpt", s, ts, address=address, result=result))
        elif event in ("tx-commit", "tx-rollback"):
            tx = s.tx or Tx(args[0])
            if event == "tx-commit":
                tx.size = int(args[1])
                tx.committed = True
            out.append(Record("commit" if event == "tx-commit" else "rollback", s, ts, mail=tx.mail, size=tx.size,
                              msgid=tx.msgid, n_accepted=sum(1 for a, r in tx.rcpts if r == "ok"),
                              accepted=distinct(a for a, r in tx.rcpts if r == "ok"),
                              refused=distinct(a for a, r in tx.rcpts if r != "ok")))
        elif event == "tx-reset":
            # smtp-out goes on with the same message after a refused recipient.
            if sub == "smtp-in" or (s.tx is not None and s.tx.committed):
                s.tx = None
        elif event == "protocol-server":
            s.reply = "|".join(args)
            s.code = int(s.reply[:3]) if s.reply[:3].isdigit() else None
            # "550-..." lines continue a reply; the line without the dash ends it
            # and the reply counts once.
            if s.reply[3:4] != "-":
                if s.reply[:1] == "4":
                    s.replies_4xx += 1
                elif s.reply[:1] == "5":
                    s.replies_5xx += 1
            out.append(Record("reply", s, ts))
        elif event == "filter-response":
            phase, decision = args[0], args[1]
            param = "|".join(args[2:]) if len(args) > 2 else None
            if decision != "proceed":
                s.verdicts += 1
            out.append(Record("verdict", s, ts, phase=phase, decision=decision, param=param))
        elif event == "timeout":
            s.timeout = True
        elif event == "link-disconnect":
            out.append(Record("session", s, ts, duration=ts - s.start))
            del sessions[key]
    return out


@lru_cache(maxsize=None)
def oracle_all() -> tuple:
    return tuple(r for p in streams() for r in oracle_records(p))


def minute(ts_us: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M", time.gmtime(ts_us // 1_000_000))


def tally(kind, pred=lambda r: True, keys=lambda r: [()], metrics=(len,)):
    """keys: the record's bucket key tuples, in the panel's reading order.
    timed: the panel has a time axis; its buckets are compared per minute
    (the document's @timestamp against the time of the line counted).
    levels: (size, other) of each bucket column (None: no size, a range);
    the top values are chosen as the panel means to: over the whole time
    range, the time axis innermost, ordered by the first metric."""
    def run(records, timed: bool, levels: list) -> dict:
        objs = []
        for r in records:
            if r.kind in ((kind,) if isinstance(kind, str) else kind) and pred(r):
                ks = distinct(keys(r))
                if timed:
                    ks = [k + (minute(r.ts),) for k in ks]
                if ks:
                    objs.append((r, ks))
        lvls = [Level(lambda r, ks, i=i: distinct(k[i] for k in ks), size, other, False, metrics[0])
                for i, (size, other) in enumerate(levels)]
        if timed:
            lvls.append(Level(lambda r, ks, i=len(levels): distinct(k[i] for k in ks)))
        got = nest(objs, lvls, lambda rs: tuple(m(rs) for m in metrics))
        return {(k[-1],) + k[:-1]: v for k, v in got.items()} if timed else got
    return run


def spec_levels(p: dict) -> list:
    """(size, other) of a generator panel's bucket columns, time axis aside."""
    out = []
    for spec in p["rows"] + [p["x"], p["split"]]:
        if spec is None or spec["op"] == "date_histogram":
            continue
        out.append((spec["size"], spec["other"]) if spec["op"] == "terms" else (None, False))
    return out


def SUM(f):
    return lambda rs: sum(f(r) for r in rs)


def MAX(f):
    return lambda rs: max(f(r) for r in rs)


def AVG(f):
    return lambda rs: sum(f(r) for r in rs) / len(rs)


def UNIQ(f):
    return lambda rs: len({f(r) for r in rs})


def UNIQ_ALL(f):
    return lambda rs: len({v for r in rs for v in f(r)})


def opt(v):
    return MISSING if v is None else v


def code_key(r):
    """opensmtpd.reply_code, the keyword copy of the reply code."""
    return MISSING if r.code is None else str(r.code)


def low(a):
    return a.lower() if isinstance(a, str) else a


def SUM_OR_NONE(f):
    """Lens' sum with emptyAsNull: no value is no number."""
    def run(rs):
        vals = [f(r) for r in rs]
        return sum(vals) if vals else None
    return run


def dom(a):
    return domain_of(a)


def doms(addresses):
    return [d for d in (dom(a) for a in addresses) if d]


def IN(r):
    return r.sub == "smtp-in"


def OUT(r):
    return r.sub == "smtp-out"


def NET(r):
    return r.sub == "smtp-in" and r.ip is not None


def CONN(r):
    return r.connects > 0


def AUTH_BAD(r):
    """At least one failed AUTH attempt in the session."""
    return r.auth_failures > 0


def ERR(r):
    """At least one 4xx or 5xx reply in the session."""
    return r.replies_4xx + r.replies_5xx > 0


FAILS = SUM(lambda r: r.auth_failures)
R4XX = SUM(lambda r: r.replies_4xx)
R5XX = SUM(lambda r: r.replies_5xx)


def rng(buckets):
    return lambda v: range_label(v, buckets)


DUR = rng(GEN.DURATION_RANGES)
SIZE = rng(GEN.SIZE_RANGES)

def country(ip):
    return geo_label(ip, "country")


def org(ip):
    return geo_label(ip, "org")


DELIVERY = (lambda rs: sum(1 for r in rs if r.kind == "commit"),
            lambda rs: sum(1 for r in rs if r.kind == "rollback" and r.code is not None and 400 <= r.code < 500),
            lambda rs: sum(1 for r in rs if r.kind == "rollback" and r.code is not None and r.code >= 500),
            lambda rs: SUM_OR_NONE(lambda r: r.size)([r for r in rs if r.kind == "commit"]))


BOUNCE = lambda r: r.mail == ""  # noqa: E731


def DELAY(records, timed, levels) -> dict:
    """Per destination domain: seconds from a message's smtp-in tx-commit to
    its first smtp-out tx-commit for that domain (same msgid), from the
    report lines' times cut to milliseconds as Filebeat sends them."""
    accepted: dict = {}
    delivered: dict = {}
    for r in records:
        if r.kind != "commit" or r.msgid is None:
            continue
        ms = r.ts // 1000
        for dom in doms([low(a) for a in r.accepted]):
            key = (r.msgid, dom)
            table = accepted if r.sub == "smtp-in" else delivered
            table[key] = min(table.get(key, ms), ms)
    per: dict = {}
    for key, t_in in accepted.items():
        if key in delivered:
            per.setdefault(key[1], []).append((delivered[key] - t_in) / 1000.0)
    out = {dom: (len(v), percentile(v, 50), percentile(v, 90), max(v)) for dom, v in per.items()}
    return {(dom,): out[dom] for dom in sorted(out, key=lambda dom: (-out[dom][0], dom))[:25]}
REFUSED_OUT = ("rollback",)

ORACLE = {
    # Overview
    "Inbound sessions": tally("session", NET),
    "Messages accepted": tally("commit", IN),
    "Recipients accepted": tally("session", IN, metrics=(SUM(lambda r: r.rcpt_ok),)),
    "Recipients refused": tally("session", IN, metrics=(SUM(lambda r: r.rcpt_refused),)),
    "Bytes accepted": tally("commit", IN, metrics=(SUM(lambda r: r.size),)),
    "Unique senders": tally("commit", IN, metrics=(UNIQ(lambda r: low(r.mail)),)),
    "Unique recipients": tally("commit", IN, metrics=(UNIQ_ALL(lambda r: [low(a) for a in r.accepted]),)),
    "Messages relayed (smtp-out)": tally("commit", OUT, metrics=(UNIQ(lambda r: r.msgid),)),
    "Sessions over time": tally("session", CONN, lambda r: [(r.sub,)]),
    "Messages over time": tally("commit", keys=lambda r: [(r.sub,)]),
    "Recipients accepted vs refused": tally("session", IN, metrics=(SUM(lambda r: r.rcpt_ok),
                                                                    SUM(lambda r: r.rcpt_refused))),
    "Bytes accepted over time": tally("commit", IN, metrics=(SUM(lambda r: r.size),)),
    "Sessions per mail host": tally("session", CONN, lambda r: [(r.host,)]),
    "Mail hosts": tally("commit", keys=lambda r: [(r.host, r.sub)], metrics=(len, SUM(lambda r: r.size))),
    "Session duration": tally("session", CONN, lambda r: [(r.sub,)], (AVG(lambda r: r.duration),)),
    "Session durations": tally("session", CONN, lambda r: [(DUR(r.duration), r.sub)]),
    "Message sizes": tally("commit", IN, keys=lambda r: [(SIZE(r.size),)]),
    "Largest messages": tally("commit", IN, metrics=(MAX(lambda r: r.size),)),
    "Average message size": tally("commit", IN, metrics=(AVG(lambda r: r.size),)),
    # TLS
    "TLS vs plaintext sessions (smtp-in)": tally("session", NET, lambda r: [(r.tls,)]),
    "TLS vs plaintext sessions (smtp-out)": tally("session", lambda r: OUT(r) and CONN(r), lambda r: [(r.tls,)]),
    "TLS versions (smtp-in)": tally("session", lambda r: IN(r) and r.tls, lambda r: [(r.tls_version,)]),
    "TLS versions (smtp-out)": tally("session", lambda r: OUT(r) and r.tls, lambda r: [(r.tls_version,)]),
    "TLS share of inbound sessions over time": tally("session", NET, lambda r: [(r.tls,)]),
    "TLS ciphers": tally("session", lambda r: r.tls, lambda r: [(r.sub, r.tls_version, r.cipher, r.bits)]),
    "TLS vs plaintext sessions per recipient domain (received, MX)": tally(
        "commit", lambda r: NET(r) and r.auth != "pass", lambda r: [(d, r.tls) for d in doms(r.accepted)],
        (UNIQ(lambda r: r.sid),)),
    "TLS vs plaintext sessions per recipient domain (submission)": tally(
        "commit", lambda r: IN(r) and r.auth == "pass", lambda r: [(d, r.tls) for d in doms(r.accepted)],
        (UNIQ(lambda r: r.sid),)),
    "TLS vs plaintext sessions per recipient domain (delivered)": tally(
        "commit", OUT, lambda r: [(d, r.tls) for d in doms(r.accepted)], (UNIQ(lambda r: r.sid),)),
    "Plaintext clients (smtp-in)": tally("session", lambda r: NET(r) and not r.tls, lambda r: [(r.ip, opt(r.rdns))]),
    "Plaintext deliveries (smtp-out)": tally("commit", lambda r: OUT(r) and not r.tls,
                                             lambda r: [(r.dest_ip, opt(r.greeting))]),
    # Senders and recipients
    "Top senders": tally("commit", IN, lambda r: [(low(r.mail),)]),
    "Top recipients": tally("commit", IN, lambda r: [(low(a),) for a in r.accepted]),
    "Top authenticated users": tally("commit", lambda r: IN(r) and r.auth == "pass", lambda r: [(r.user,)]),
    "Top sender domains": tally("commit", IN, lambda r: [(dom(r.mail),)] if dom(r.mail) else []),
    "Top recipient domains": tally("commit", IN, lambda r: [(d,) for d in doms(r.accepted)]),
    "Top client rDNS names": tally("session", NET, lambda r: [(opt(r.rdns),)]),
    "Top HELO/EHLO names": tally("session", IN, lambda r: [(r.helo,)] if r.helo else []),
    "Top client addresses": tally("session", NET, lambda r: [(r.ip,)]),
    "Top destination domains (smtp-out)": tally("commit", OUT, lambda r: [(d,) for d in doms(r.accepted)]),
    "Traffic by sender domain": tally("commit", IN, lambda r: [(dom(r.mail),)] if dom(r.mail) else [],
                                      (len, SUM(lambda r: r.size))),
    # Rejections and security
    "Refused recipients over time": tally("session", IN, metrics=(SUM(lambda r: r.rcpt_refused),)),
    "Top refused recipient addresses": tally(("commit", "rollback"), IN,
                                             lambda r: distinct((low(a),) for a in r.refused)),
    "Refused recipient domains": tally(("commit", "rollback"), IN, lambda r: [(d,) for d in doms(r.refused)]),
    "Refusal replies": tally("rcpt", lambda r: IN(r) and r.result != "ok", lambda r: [(r.reply,)]),
    "Clients with most refused recipients": tally("session", lambda r: NET(r) and r.rcpt_refused > 0,
                                                  lambda r: [(r.ip, opt(r.rdns))],
                                                  (SUM(lambda r: r.rcpt_refused),)),
    "4xx/5xx replies over time": tally("session", ERR, metrics=(R4XX, R5XX)),
    "4xx/5xx replies by mail host and direction": tally("session", ERR, lambda r: [(r.host, r.sub)],
                                                        (len, R4XX, R5XX)),
    "Reply codes 4xx/5xx": tally("reply", lambda r: r.code is not None and r.code >= 400,
                                 lambda r: [(r.sub, r.code)]),
    "Clients with 4xx/5xx replies": tally("session", lambda r: NET(r) and ERR(r), lambda r: [(r.ip, opt(r.rdns))],
                                          (len, R4XX, R5XX)),
    "AUTH failures over time": tally("session", lambda r: IN(r) and AUTH_BAD(r), lambda r: [(r.auth,)],
                                     (FAILS,)),
    "AUTH failures by user": tally("session", lambda r: IN(r) and AUTH_BAD(r), lambda r: [(r.tried,)],
                                   (FAILS, len)),
    "Sessions with failed AUTH by client address": tally("session", lambda r: NET(r) and AUTH_BAD(r),
                                                         lambda r: [(r.ip,)], (len, FAILS)),
    "Filter verdicts over time": tally("session", lambda r: r.verdicts > 0, metrics=(SUM(lambda r: r.verdicts),)),
    "Filter verdicts by phase and message": tally(
        "verdict", lambda r: r.decision in ("reject", "disconnect", "junk"),
        lambda r: [(r.decision, r.phase, opt(r.param))]),
    "Timeouts over time": tally("session", lambda r: r.timeout, lambda r: [(r.sub,)]),
    "Timeouts by client": tally("session", lambda r: NET(r) and r.timeout, lambda r: [(r.ip,)]),
    "FCrDNS results (inbound sessions)": tally("session", NET, lambda r: [(r.fcrdns,)]),
    "FCrDNS failures over time": tally("session", lambda r: NET(r) and r.fcrdns in ("fail", "error"),
                                       lambda r: [(r.fcrdns,)]),
    "Clients failing FCrDNS": tally("session", lambda r: NET(r) and r.fcrdns in ("fail", "error"),
                                    lambda r: [(r.ip, opt(r.rdns))]),
    # Outbound
    "Connection attempts that failed (smtp-out)": tally("session", lambda r: OUT(r) and r.connects == 0),
    "Messages relayed": tally("commit", OUT, metrics=(UNIQ(lambda r: r.msgid),)),
    "Refusals and deferrals (smtp-out)": tally(REFUSED_OUT, OUT),
    "Deferrals (smtp-out)": tally(REFUSED_OUT, lambda r: OUT(r) and r.code is not None and 400 <= r.code < 500),
    "Refusals and deferrals by remote server and reply code": tally(REFUSED_OUT, OUT,
                                                                    lambda r: [(opt(r.rdns), code_key(r))]),
    "Refusals and deferrals by reply": tally(REFUSED_OUT, OUT, lambda r: [(opt(r.reply),)]),
    "Refused and deferred recipients by domain and reply code": tally(
        "rcpt", lambda r: OUT(r) and r.result != "ok", lambda r: [(dom(r.address), code_key(r))]),
    "Remote servers with 4xx/5xx replies (smtp-out)": tally("session", lambda r: OUT(r) and ERR(r),
                                                            lambda r: [(r.dest_ip, opt(r.rdns))], (len, R4XX, R5XX)),
    "Refusals and deferrals over time": tally(REFUSED_OUT, OUT, lambda r: [(code_key(r),)]),
    "Deliveries by destination country": tally("commit", OUT, lambda r: [(country(r.dest_ip),)]),
    "Deliveries by destination autonomous system": tally("commit", OUT, lambda r: [(org(r.dest_ip),)]),
    # Messages and delivery
    "Delivery by destination domain": tally(("commit", "rollback"), OUT,
                                            lambda r: [(d,) for d in doms([low(a) for a in r.accepted])]
                                            or [(MISSING,)], DELIVERY),
    "Bounces (null sender) over time": tally("commit", BOUNCE, lambda r: [(r.sub,)]),
    "Delivery delay by destination domain (ES|QL)": DELAY,
    "Bounces (null sender)": tally("commit", BOUNCE, lambda r: [(r.sub,)], (len, UNIQ(lambda r: r.msgid))),
    "Recipients per authenticated user": tally(
        "commit", lambda r: IN(r) and r.auth == "pass", lambda r: [(r.user,)],
        (SUM(lambda r: r.n_accepted), UNIQ_ALL(lambda r: [low(a) for a in r.accepted]), len,
         UNIQ_ALL(lambda r: [r.ip] if r.ip else []))),
    # Geography
    "Inbound sessions map": tally("session", lambda r: NET(r) and fake_geo(r.ip) is not None),
    "Inbound sessions by country": tally("session", NET, lambda r: [(country(r.ip),)]),
    "Inbound sessions by autonomous system": tally(
        "session", NET, lambda r: [(org(r.ip),)],
        (len, UNIQ_ALL(lambda r: [fake_geo(r.ip)["asn"]] if fake_geo(r.ip) else []))),
    "Inbound sessions over time by country": tally("session", NET, lambda r: [(country(r.ip),)]),
    "Plaintext sessions by country": tally("session", lambda r: NET(r) and not r.tls, lambda r: [(country(r.ip),)]),
    "Messages accepted by client country": tally("commit", NET, lambda r: [(country(r.ip),)]),
    "Refused recipients by client country": tally("session", NET, lambda r: [(country(r.ip),)],
                                                  (SUM(lambda r: r.rcpt_refused),)),
    "Sessions with failed AUTH by client country": tally("session", lambda r: NET(r) and AUTH_BAD(r),
                                                         lambda r: [(country(r.ip),)], (len, FAILS)),
}

METRIC_PANELS = {"Documents dropped by filter-jsonlog", "filter-jsonlog counters per host (stats)",
                 "Documents dropped (filter-jsonlog)"}
# Panels of the pipeline's health count no report lines: Health checks them.
HEALTH_PANELS = {p["title"] for d, p in GEN.chart_panels() if p.get("health")}


def same(a: dict, b: dict) -> bool:
    if set(a) != set(b):
        return False
    for k in a:
        for x, y in zip(a[k], b[k]):
            if isinstance(x, float) or isinstance(y, float):
                if x is None or y is None or not math.isclose(x, y, rel_tol=1e-9):
                    return False
            elif x != y:
                return False
    return True


def diff(got: dict, want: dict) -> str:
    lines = []
    for k in sorted(set(got) | set(want), key=repr):
        if got.get(k) != want.get(k):
            lines.append(f"  {k!r}: panel {got.get(k)!r}, report lines {want.get(k)!r}")
    return "\n".join(lines[:15])


def panel_specs():
    """(dashboard title, panel title, needs_all, timed, evaluate(docs, filters), generator spec) for every
    chart and map panel."""
    spec = {p["title"]: p for d, p in GEN.chart_panels()}
    maps = {o["id"]: o for o in saved_objects() if o["type"] == "map"}
    for d in [o for o in saved_objects() if o["type"] == "dashboard"]:
        refs = {r["name"]: r for r in d["references"]}
        for p in json.loads(d["attributes"]["panelsJSON"]):
            if p["type"] == "lens" and is_esql(p["embeddableConfig"]["attributes"]):
                attrs = p["embeddableConfig"]["attributes"]
                run = (lambda docs, filters=(), attrs=attrs: evaluate_esql(attrs, docs, filters))
            elif p["type"] == "lens":
                attrs = p["embeddableConfig"]["attributes"]
                if attrs["references"][0]["id"] == GEN.DELIVERY_VIEW_ID:
                    continue  # test_delivery_panels.py: mail log lines, not report lines
                run = (lambda docs, filters=(), attrs=attrs: evaluate_lens(attrs, docs, filters))
            elif p["type"] == "map":
                obj = maps[refs[f"{p['panelIndex']}:{p['panelRefName']}"]["id"]]
                run = (lambda docs, filters=(), obj=obj: evaluate_map(obj, docs, filters))
            else:
                continue
            sp = spec[p["title"]]
            timed = (sp["x"] or {}).get("op") == "date_histogram"
            yield d["attributes"]["title"], p["title"], sp["needs_all"], timed, run, sp


class Panels(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.paths = streams()
        if not cls.paths:
            raise unittest.SkipTest("no report streams")
        cls.docs = {preset: documents(preset) for preset in ("all", "summaries")}
        cls.oracle = oracle_all()

    def test_streams(self):
        names = {p.parent.name for p in self.paths}
        self.assertTrue({"captured", "generated", "streams"} <= names, names)
        print(f"\n  {len(self.paths)} streams, {len(self.docs['all'])} documents (all), "
              f"{len(self.docs['summaries'])} (summaries), {len(self.oracle)} oracle records", file=sys.stderr)

    def test_every_panel_has_an_oracle(self):
        titles = [t for _, t, _, _, _, _ in panel_specs()]
        self.assertEqual(len(titles), len(set(titles)), "panel titles must be unique")
        self.assertEqual(set(titles) - set(ORACLE) - METRIC_PANELS - HEALTH_PANELS, set(), "panels without an oracle")
        self.assertEqual(set(ORACLE) - set(titles), set(), "oracles of panels that no longer exist")

    def test_panel_fields_occur(self):
        # A field no document has makes a panel agree with an empty oracle
        # only by luck; it is also what a filter binary older than
        # schema/fields.json looks like.
        seen = {f for d in self.docs["all"] for f in d}
        for d, p in GEN.chart_panels():
            if p["title"] in METRIC_PANELS | HEALTH_PANELS:
                continue
            for field in GEN.panel_fields(p):
                with self.subTest(panel=p["title"], field=field):
                    self.assertTrue(field in seen, f"no document has {field}: is {filter_binary()} older than "
                                                   "the schema? (cargo build --release, or set FILTER_JSONLOG_BIN)")

    def test_link_auth_documents_name_every_user_tried(self):
        # "AUTH failures by user" puts a session's failures under its last
        # user; PANELS.md sends readers to the link-auth documents for every
        # name tried: each attempt must be there with its own user.
        want = sorted((r.sid, r.tried, r.result) for r in self.oracle if r.kind == "auth")
        got = sorted((d["opensmtpd.session.id"][0], d.get("opensmtpd.auth.user", [None])[0],
                      d["opensmtpd.auth.result"][0]) for d in self.docs["all"] if d["event.action"] == ["link-auth"])
        self.assertEqual(got, want)
        self.assertGreater(len({(sid, user) for sid, user, result in want if result != "pass"}),
                           len({sid for sid, user, result in want if result != "pass"}),
                           "no stream has a session that failed AUTH with two user names")

    def test_panels_agree_with_the_report_lines(self):
        exercised = 0
        for dash, title, needs_all, timed, run, sp in panel_specs():
            if title in METRIC_PANELS | HEALTH_PANELS:
                continue
            want = ORACLE[title](self.oracle, timed, spec_levels(sp))
            for preset in ("all", "summaries"):
                with self.subTest(dashboard=dash, panel=title, preset=preset):
                    got = run(self.docs[preset])
                    if preset == "summaries" and needs_all:
                        self.assertEqual(got, {}, "marked as needing --events all, but shows data under summaries")
                        continue
                    self.assertTrue(same(got, want), f"\n{diff(got, want)}")
            if want:
                exercised += 1
            with self.subTest(panel=title):
                self.assertTrue(want, "no stream exercises this panel")
        self.assertGreater(exercised, 0)


class Health(unittest.TestCase):
    """Issue 19 point 13: the Overview's pipeline-health row, over the
    replayed documents plus what only Filebeat and the pipeline make: a line
    that was not JSON (Filebeat's ndjson parser keeps it with error.message)
    and a document the pipeline failed on."""

    def test_health_row(self):
        docs = list(documents("all"))
        bad_line = {"@timestamp": ["2024-10-27T05:00:00.000Z"], "message": ['{"event":{"act'],
                    "error.message": ["Error decoding JSON: unexpected EOF"], "host.name": ["mx"]}
        failed = dict(docs[0])
        failed["event.kind"] = ["pipeline_error"]
        failed["error.message"] = ["script mail-domains: boom"]
        panels = {p["title"]: a for d, p, a in lens_panels()}
        overview = next(d for d in GEN.DASHBOARDS if d["title"] == "Overview")
        health = [p["title"] for p in overview["panels"] if p.get("health")]
        self.assertEqual(len(health), 3)
        self.assertEqual(evaluate_lens(panels["Lines Filebeat could not decode"], docs), {})
        self.assertEqual(evaluate_lens(panels["Lines Filebeat could not decode"], docs + [bad_line]), {(): (1,)})
        self.assertEqual(evaluate_lens(panels["Ingest pipeline errors"], docs), {})
        self.assertEqual(evaluate_lens(panels["Ingest pipeline errors"], docs + [failed]), {(): (1,)})
        last = evaluate_lens(panels["Last document per mail host"], docs)
        want = {}
        for d in docs:
            host = d["host.name"][0]
            want[host] = max(want.get(host, ""), d["@timestamp"][0])
        self.assertEqual(last, {(h,): (t,) for h, t in want.items()})
        self.assertIn("Documents dropped (filter-jsonlog)", {p["title"] for p in overview["panels"]})


def dsl_match(q: dict, d: dict) -> bool:
    """The Query DSL the alert rules use: bool filter/must_not, term, range."""
    ((kind, body),) = q.items()
    if kind == "bool":
        return all(dsl_match(c, d) for c in body.get("filter", [])) and \
            not any(dsl_match(c, d) for c in body.get("must_not", []))
    ((field, arg),) = body.items()
    values = d.get(field, [])
    if kind == "term":
        return arg in values
    if kind == "range":
        ops = {"gt": lambda v, b: v > b, "gte": lambda v, b: v >= b, "lt": lambda v, b: v < b,
               "lte": lambda v, b: v <= b}
        return any(isinstance(v, (int, float)) and all(ops[o](v, b) for o, b in arg.items()) for v in values)
    raise AssertionError(f"query {kind} not evaluated here")


def rule_result(params: dict, docs) -> dict:
    """What an Elasticsearch query rule computes over docs (its time window
    aside): {group: value}, and whether each group passes the threshold."""
    query = json.loads(params["esQuery"])["query"]
    hits = [d for d in docs if dsl_match(query, d)]
    groups: dict = {}
    for d in hits:
        keys = d.get(params["termField"], []) if params["groupBy"] == "top" else ["all documents"]
        for k in distinct(keys):
            groups.setdefault(k, []).append(d)
    if params["groupBy"] == "all":
        groups.setdefault("all documents", [])
    out = {}
    for k, ds in groups.items():
        value = len(ds) if params["aggType"] == "count" else \
            sum(v for d in ds for v in d.get(params["aggField"], []))
        cmp = {">": value > params["threshold"][0], "<": value < params["threshold"][0],
               ">=": value >= params["threshold"][0]}[params["thresholdComparator"]]
        out[k] = (value, cmp)
    return out


class AlertRules(unittest.TestCase):
    """Issue 19 point 13: the alerting rules are bodies Kibana accepts for an
    Elasticsearch query rule, on known fields, and they fire on what they are
    about and stay quiet otherwise."""

    def rules(self):
        out = {}
        for path in sorted((REPO / "dashboards" / "alerts").glob("*.json")):
            out[path.stem] = json.loads(path.read_text())
        return out

    def test_bodies(self):
        rules = self.rules()
        self.assertEqual(set(rules), {"auth-failures-per-client", "smtp-out-deferrals", "documents-dropped",
                                      "ingestion-stalled"})
        types = known_types()
        for name, rule in rules.items():
            with self.subTest(rule=name):
                self.assertEqual(set(rule), {"name", "rule_type_id", "consumer", "schedule", "tags", "params",
                                             "actions"})
                self.assertEqual(rule["rule_type_id"], ".es-query")
                p = rule["params"]
                self.assertEqual(p["searchType"], "esQuery")
                self.assertEqual(p["index"], ["logs-opensmtpd.jsonlog-*"])
                self.assertEqual(p["timeField"], "@timestamp")
                self.assertIn(p["thresholdComparator"], (">", ">=", "<", "<=", "between", "notBetween"))
                self.assertIn(p["aggType"], ("count", "sum", "avg", "min", "max"))
                self.assertIn(p["groupBy"], ("all", "top"))
                self.assertIn(p["timeWindowUnit"], ("s", "m", "h", "d"))
                fields = [p.get("aggField"), p.get("termField")]
                query = json.loads(p["esQuery"])["query"]
                fields += [f for c in query["bool"]["filter"] for body in c.values() for f in body]
                for f in filter(None, fields):
                    self.assertIn(f, types)
                if p["aggType"] != "count":
                    self.assertEqual(types[p["aggField"]], "long")

    def test_rules_fire_on_their_events(self):
        rules = self.rules()
        docs = documents("all")
        auth = rule_result(rules["auth-failures-per-client"]["params"], docs)
        want = {}
        for r in oracle_all():
            if r.kind == "session" and r.sub == "smtp-in" and r.auth_failures and r.ip:
                want[r.ip] = want.get(r.ip, 0) + r.auth_failures
        self.assertEqual({k: v for k, (v, fire) in auth.items()}, want)
        deferrals = rule_result(rules["smtp-out-deferrals"]["params"], docs)
        self.assertTrue(deferrals, "no stream has an smtp-out deferral")
        self.assertFalse(any(fire for v, fire in deferrals.values()), "20 deferrals in the test streams?")
        many = [dict(d) for d in docs if d["event.action"] == ["tx-rollback"] and d["opensmtpd.subsystem"] ==
                ["smtp-out"] and 400 <= d.get("opensmtpd.response_code", [0])[0] < 500][:1] * 21
        self.assertTrue(any(fire for v, fire in rule_result(rules["smtp-out-deferrals"]["params"], many).values()))
        stats = [dict(m, **{"host.name": ["mx"]}) for m in filter_mode_metrics_docs()]
        stalled = rules["ingestion-stalled"]["params"]
        self.assertEqual(rule_result(stalled, stats)["all documents"][1], False, "stats documents: not stalled")
        self.assertEqual(rule_result(stalled, docs)["all documents"], (0, True), "no stats document: stalled")
        dropped = rules["documents-dropped"]["params"]
        self.assertEqual(rule_result(dropped, stats), {})
        outage = [{"event.action": ["documents-dropped"], "event.kind": ["metric"], "host.name": ["mx"],
                   "opensmtpd.jsonlog.dropped_since_last": [3]}]
        self.assertEqual(rule_result(dropped, outage), {"mx": (3, True)})

    def test_documented(self):
        text = (REPO / "dashboards" / "README.md").read_text()
        for name in self.rules():
            self.assertIn(f"alerts/{name}.json", text)
        self.assertIn("POST", text)
        self.assertIn("/api/alerting/rule", text)


def filter_mode_metrics_docs() -> list:
    from test_elastic import filter_mode_metrics
    stream = sorted((REPO / "tests" / "data" / "captured").glob("*.txt"))[0]
    return filter_mode_metrics(stream)


class Evaluator(unittest.TestCase):
    """The evaluator itself must be able to tell a wrong panel from a right one."""

    def col(self, field, **params):
        base = {"size": 10, "orderBy": {"type": "alphabetical"}, "otherBucket": False, "missingBucket": False}
        base.update(params)
        return {"operationType": "terms", "sourceField": field, "params": base}

    def test_missing_bucket_needs_other_bucket(self):
        lv = lens_level(self.col("source.domain", missingBucket=True), {}, known_types())
        self.assertEqual(lv.values({}, None), [], "Lens drops the missing bucket without Other")
        lv = lens_level(self.col("source.domain", missingBucket=True, otherBucket=True), {}, known_types())
        self.assertEqual(lv.values({}, None), [MISSING])

    def test_missing_bucket_only_on_keyword(self):
        # Issue 19 point 4: on a number the documents without a value are
        # not a (missing value) row; with missingBucket on they fall into
        # Other.
        lv = lens_level(self.col("opensmtpd.response_code", missingBucket=True, otherBucket=True), {}, known_types())
        self.assertEqual(lv.values({}, None), [])
        self.assertTrue(lv.absent_to_other)
        docs = [({"f": [1]}, None), ({}, None)]
        got = nest(docs, [Level(lambda d, k: d.get("f", []), 1, True, True, len)], lambda ds: (len(ds),))
        self.assertEqual(got, {(1,): (1,), (OTHER,): (1,)})

    def test_arrays_count_once_per_value(self):
        docs = [({"event.action": ["x"], "f": ["a", "b", "a"]}, None)]
        lv = Level(lambda d, k: d.get("f", []))
        self.assertEqual(nest(docs, [lv], lambda ds: (len(ds),)), {("a",): (1,), ("b",): (1,)})

    def test_messages_are_not_sessions(self):
        # Two messages of one session: the flagship panel counts one session.
        docs = [{"event.action": ["tx-commit"], "opensmtpd.session.id": ["s1"]} for _ in range(2)]
        uniq = {"operationType": "unique_count", "sourceField": "opensmtpd.session.id"}
        self.assertEqual(metric_value(uniq, docs), 1)
        self.assertEqual(metric_value({"operationType": "count"}, docs), 2)

    def test_ranges(self):
        col = {"operationType": "range", "sourceField": "n",
               "params": {"ranges": [{"from": 0, "to": 10, "label": "small"}, {"from": 10, "to": None, "label": "big"}]}}
        lv = lens_level(col, {}, {})
        self.assertEqual(lv.values({"n": [9]}, None), ["small"])
        self.assertEqual(lv.values({"n": [10]}, None), ["big"])

    def test_other_is_docs_without_a_top_value(self):
        # Kibana's Other: the documents none of whose values made the top N
        # (a document with one top value and one other is not in Other).
        docs = [({"f": ["a", "z"]}, None), ({"f": ["a"]}, None), ({"f": ["z"]}, None), ({"f": ["y"]}, None)]
        lv = Level(lambda d, k: d.get("f", []), 1, True, False, len)
        self.assertEqual(nest(docs, [lv], lambda ds: (len(ds),)), {("a",): (2,), (OTHER,): (2,)})

    def test_terms_are_chosen_over_the_whole_range(self):
        # Issue 19 point 2: "Sessions per mail host" (top 10 hosts and Other)
        # over two minutes.  h00..h09 have three sessions each, h10 and h11
        # two each, all in the first minute: Kibana's nesting (terms above
        # the date histogram) shows h00..h09 and puts h10/h11 in Other;
        # nested the other way round, the first minute would show h10 and
        # h11 and lose two of the top hosts into Other.
        attrs = next(a for d, p, a in lens_panels() if p["title"] == "Sessions per mail host")
        docs = []
        for i in range(12):
            minutes = ["2024-10-27T04:41:00.000000Z"] * 2 + ["2024-10-27T04:40:00.000000Z"] if i < 10 \
                else ["2024-10-27T04:40:00.000000Z"] * 2
            for ts in minutes:
                docs.append({"@timestamp": [ts], "event.action": ["link-disconnect"], "host.name": [f"h{i:02d}"],
                             "opensmtpd.counters.connects": [1]})
        want = {("2024-10-27T04:40", f"h{i:02d}"): (1,) for i in range(10)}
        want.update({("2024-10-27T04:41", f"h{i:02d}"): (2,) for i in range(10)})
        want[("2024-10-27T04:40", OTHER)] = (4,)
        self.assertEqual(evaluate_lens(attrs, docs), want)

    def test_display_formats(self):
        # Issue 19 point 1: what Kibana formats each metric column with.  The
        # session duration is microseconds (the data view's format); a Lens
        # column format with keys Lens does not read would show it in seconds.
        view = next(o for o in saved_objects() if o["type"] == "index-pattern")
        field_formats = json.loads(view["attributes"]["fieldFormatMap"])
        checked = 0
        for d, p, attrs in lens_panels():
            (layer,) = attrs["state"]["datasourceStates"]["formBased"]["layers"].values()
            for c in layer["columns"].values():
                if c["isBucketed"]:
                    continue
                fmt = effective_format(c, field_formats)
                with self.subTest(panel=p["title"], column=c["label"]):
                    field = c.get("sourceField")
                    if field == "opensmtpd.session.duration_us" and c["operationType"] != "unique_count":
                        self.assertEqual((fmt["id"], fmt["inputFormat"]), ("duration", "microseconds"))
                        checked += 1
                    elif field in ("opensmtpd.transaction.size", "opensmtpd.counters.bytes") \
                            and c["operationType"] in ("sum", "max", "average"):
                        self.assertEqual(fmt["id"], "bytes")
                    elif c.get("dataType") == "number":
                        self.assertEqual(fmt["id"], "number")
        self.assertGreater(checked, 0)

    def test_geoip_stand_in(self):
        # Issue 19 point 5: GeoLite2 has nothing for these; the pipeline
        # labels them and the twin must do the same.
        for ip in ("10.1.2.3", "172.16.0.9", "192.168.1.1", "100.64.0.1", "127.0.0.1", "169.254.1.1", "::1",
                   "fd00::1", "fe80::1"):
            with self.subTest(ip=ip):
                self.assertIsNone(fake_geo(ip))
        self.assertIsNotNone(fake_geo("203.0.113.5"))
        doc = enrich({"event": {"action": "link-disconnect"}, "opensmtpd": {"subsystem": "smtp-in"},
                      "source": {"ip": "100.64.1.2"}, "tls": {"established": False}}, "mx")
        attrs = next(a for d, p, a in lens_panels() if p["title"] == "Plaintext sessions by country")
        self.assertEqual(evaluate_lens(attrs, [doc]), {(NO_GEOIP,): (1,)})

    def test_oracle_reads_versions(self):
        # 0.4 puts the address before the result, 0.5+ after; 0.7 swaps link-auth.
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "s.txt"
            path.write_text(
                "report|0.4|1.000000|smtp-in|link-connect|a|h|pass|192.0.2.1:1|192.0.2.2:25\n"
                "report|0.4|1.000001|smtp-in|tx-begin|a|m\n"
                "report|0.4|1.000002|smtp-in|tx-rcpt|a|m|x@y.example|permfail\n"
                "report|0.7|1.000003|smtp-in|link-auth|a|fail|bob\n"
                "report|0.7|2.000000|smtp-in|link-disconnect|a\n")
            recs = oracle_records(path)
        rcpt = [r for r in recs if r.kind == "rcpt"][0]
        self.assertEqual((rcpt.address, rcpt.result), ("x@y.example", "permfail"))
        auth = [r for r in recs if r.kind == "auth"][0]
        self.assertEqual((auth.result, auth.tried), ("fail", "bob"))
        sess = [r for r in recs if r.kind == "session"][0]
        self.assertEqual((sess.rcpt_refused, sess.duration, sess.auth), (1, 1_000_000, "fail"))

    def test_oracle_counts_replies_and_auth_failures(self):
        # A reply counts once, at its last line (no dash after the code,
        # a bare code included); failed and errored AUTH count, pass does
        # not; the last user tried is kept, and a reconnect clears it.
        import tempfile
        lines = [("smtp-in", line) for line in (
            "link-connect|a|h|pass|192.0.2.1:1|192.0.2.2:25", "protocol-server|a|550-first",
            "protocol-server|a|550-second", "protocol-server|a|550 last", "protocol-server|a|421",
            "protocol-server|a|250-x", "protocol-server|a|250 ok", "link-auth|a|fail|bob",
            "link-auth|a|error|carol", "link-auth|a|pass|alice", "link-disconnect|a")]
        lines += [("smtp-out", line) for line in (
            "link-connect|b|h|pass|192.0.2.9:2|192.0.2.3:25", "link-auth|b|fail|relay", "protocol-server|b|535 no",
            "link-connect|b|h|pass|192.0.2.9:3|192.0.2.3:25", "protocol-server|b|451 later", "link-disconnect|b")]
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "s.txt"
            path.write_text("".join(f"report|0.7|1.{i:06d}|{sub}|{line}\n" for i, (sub, line) in enumerate(lines)))
            recs = oracle_records(path)
        a, b = [r for r in recs if r.kind == "session"]
        self.assertEqual((a.replies_4xx, a.replies_5xx, a.auth_failures, a.tried, a.user, a.auth),
                         (1, 1, 2, "alice", "alice", "pass"))
        self.assertEqual((b.sub, b.replies_4xx, b.replies_5xx, b.auth_failures, b.tried, b.auth),
                         ("smtp-out", 1, 1, 1, None, None))


class Structure(unittest.TestCase):
    """Issue 13's and 19's structural points that a count alone would not show."""

    def test_lens_format_params(self):
        # Issue 19 point 1: Lens passes on only these keys of a column's
        # format.params (ValueFormatConfig); others are silently lost.
        for d, p, attrs, q, cols in self.lens():
            for c in cols:
                fmt = (c.get("params") or {}).get("format")
                if fmt:
                    with self.subTest(panel=p["title"], column=c["label"]):
                        self.assertLessEqual(set(fmt.get("params", {})), GEN.LENS_FORMAT_PARAMS)
                        self.assertLessEqual(GEN.LENS_FORMAT_PARAMS,
                                             {"decimals", "suffix", "compact", "pattern", "fromUnit", "toUnit"})

    def test_terms_above_date_histogram(self):
        # Issue 19 point 2: Lens inserts a terms bucket above the first date
        # histogram; a layer saved the other way round picks the top values
        # per time bucket.
        for d, p, attrs, q, cols in self.lens():
            (layer,) = attrs["state"]["datasourceStates"]["formBased"]["layers"].values()
            ops = [layer["columns"][c]["operationType"] for c in layer["columnOrder"]
                   if layer["columns"][c]["isBucketed"]]
            if "date_histogram" in ops:
                with self.subTest(panel=p["title"]):
                    self.assertNotIn("terms", ops[ops.index("date_histogram"):])

    def test_missing_buckets_only_on_keywords(self):
        # Issue 19 point 4.
        types = known_types()
        for d, p, attrs, q, cols in self.lens():
            for c in cols:
                if c["operationType"] == "terms" and c["params"]["missingBucket"]:
                    with self.subTest(panel=p["title"], column=c["label"]):
                        self.assertEqual(types[c["sourceField"]], "keyword")
        spec = GEN.terms("opensmtpd.response_code", "Code", 5, other=True, missing=True)
        with self.assertRaises(ValueError):
            GEN.lens_column(spec, GEN.load_types(), "m")

    def test_no_double_counts(self):
        # Issue 19 point 7: a message relayed to two domains is one message
        # relayed and one message size, not two or three.
        def doc(sub, action, sid, seq, size):
            return enrich({"@timestamp": "2024-10-27T04:40:00.000000Z",
                           "event": {"action": action, "sequence": seq, "kind": "event"},
                           "email": {"local_id": "4c0ffee1", "from": {"address": "a@example.org"},
                                     "to": {"address": ["b@x.example"]}},
                           "opensmtpd": {"subsystem": sub, "session": {"id": sid},
                                         "transaction": {"size": size}}}, "mx")
        docs = [doc("smtp-in", "tx-commit", "s1", 9, 5000), doc("smtp-out", "tx-commit", "s2", 12, 5000),
                doc("smtp-out", "tx-commit", "s3", 12, 5000)]
        panels = {p["title"]: a for d, p, a in lens_panels()}
        for title in ("Messages relayed", "Messages relayed (smtp-out)"):
            with self.subTest(panel=title):
                self.assertEqual(evaluate_lens(panels[title], docs), {(): (1,)})
        self.assertEqual(evaluate_lens(panels["Average message size"], docs), {(): (5000,)})
        self.assertEqual(evaluate_lens(panels["Message sizes"], docs), {("< 10 KiB",): (1,)})

    def test_addresses_case_insensitive(self):
        # Issue 19 point 7: the template's normalizer, and its twin here.
        docs = [enrich({"event": {"action": "tx-commit"}, "opensmtpd": {"subsystem": "smtp-in"},
                        "email": {"from": {"address": a}, "to": {"address": ["X@Y.example"]}}}, "mx")
                for a in ("Bob@Example.org", "bob@example.org")]
        panels = {p["title"]: a for d, p, a in lens_panels()}
        self.assertEqual(evaluate_lens(panels["Top senders"], docs), {("bob@example.org",): (2,)})
        self.assertEqual(evaluate_lens(panels["Top recipients"], docs), {("x@y.example",): (2,)})

    def lens(self):
        for d, p, attrs in lens_panels():
            (layer,) = attrs["state"]["datasourceStates"]["formBased"]["layers"].values()
            yield d, p, attrs, attrs["state"]["query"]["query"], list(layer["columns"].values())

    def test_missing_buckets_are_sent(self):
        # Point 1: Kibana sends missingBucket only with otherBucket.
        for d, p, attrs, q, cols in self.lens():
            for c in cols:
                if c["operationType"] == "terms" and c["params"]["missingBucket"]:
                    with self.subTest(panel=p["title"], column=c["label"]):
                        self.assertTrue(c["params"]["otherBucket"])

    def test_table_rows_do_not_vanish(self):
        # Point 1: a table row disappears when a later column has no value;
        # columns after the first of a table that the documents may lack
        # need the (missing value) bucket.  Known always-present pairs pass.
        always = {"tls.version", "tls.cipher", "opensmtpd.tls.bits", "opensmtpd.subsystem",
                  "opensmtpd.filter.response.phase", "opensmtpd.response_code", "source.as.organization.name"}
        for d, p, attrs, q, cols in self.lens():
            terms = [c for c in cols if c["operationType"] == "terms"]
            if attrs["visualizationType"] != "lnsDatatable" or len(terms) < 2:
                continue
            for c in terms[1:]:
                with self.subTest(panel=p["title"], column=c["label"]):
                    self.assertTrue(c["sourceField"] in always or c["params"]["missingBucket"])

    def test_smtp_out_sessions_connected(self):
        # Point 2: smtp-out session panels skip attempts that never connected.
        # A session that got a reply, a timeout, a verdict or TLS connected.
        for d, p, attrs, q, cols in self.lens():
            if q.startswith('event.action : "link-disconnect"') and "smtp-in" not in q \
                    and "opensmtpd.counters.connects : 0" not in q and "opensmtpd.timeout" not in q \
                    and "filter_verdicts" not in q and "tls.established : true" not in q \
                    and GEN.ERROR_REPLIES not in q:
                with self.subTest(panel=p["title"]):
                    self.assertIn(GEN.CONNECTED, q)

    def test_local_enqueue_is_not_plaintext(self):
        # Point 3: smtp-in TLS panels count network clients only.
        for d, p, attrs, q, cols in self.lens():
            tls = any(c.get("sourceField") == "tls.established" for c in cols) or "tls.established" in q
            # A local enqueue never has TLS: only panels that can count plaintext matter.
            if tls and '"smtp-in"' in q and "tls.established : true" not in q \
                    and "auth.result : \"pass\"" not in q.replace("not opensmtpd.auth", ""):
                with self.subTest(panel=p["title"]):
                    self.assertIn("source.ip : *", q)

    def test_flagship_counts_sessions(self):
        # Point 4: TLS vs plaintext per recipient domain counts sessions, and
        # port-25 mail apart from authenticated submission.
        flagship = [(p["title"], q, cols) for d, p, a, q, cols in self.lens() if "per recipient domain" in p["title"]]
        self.assertEqual(len(flagship), 3)
        for title, q, cols in flagship:
            with self.subTest(panel=title):
                metrics = [c for c in cols if not c["isBucketed"]]
                self.assertEqual([(c["operationType"], c["sourceField"]) for c in metrics],
                                 [("unique_count", "opensmtpd.session.id")])
        received = next(q for t, q, c in flagship if "received" in t)
        submission = next(q for t, q, c in flagship if "submission" in t)
        self.assertIn('not opensmtpd.auth.result : "pass"', received)
        self.assertIn('and opensmtpd.auth.result : "pass"', submission)

    def test_migration_version(self):
        # Point 5: not older than the newest by-value Lens migration (8.9.0),
        # and no model version (10.x) a supported Kibana may not know.
        for o in saved_objects():
            if o["type"] == "dashboard":
                with self.subTest(dashboard=o["id"]):
                    v = version_tuple(o["typeMigrationVersion"])
                    self.assertGreaterEqual(v, (8, 9, 0))
                    self.assertLess(v, (10, 0, 0))

    def test_tls_versions_and_counters_apart(self):
        # Point 10: TLS versions per subsystem; self-metrics per host.
        for d, p, attrs, q, cols in self.lens():
            fields = [c.get("sourceField") for c in cols]
            if "tls.version" in fields:
                with self.subTest(panel=p["title"]):
                    self.assertTrue("opensmtpd.subsystem" in q or "opensmtpd.subsystem" in fields)
            if q.startswith('event.action : "stats"'):
                with self.subTest(panel=p["title"]):
                    self.assertIn("host.name", fields)

    def test_drill_down_searches(self):
        searches = {o["id"]: o for o in saved_objects() if o["type"] == "search"}
        self.assertEqual(set(searches), {GEN.SEARCH_ID, GEN.TRACE_ID, GEN.DELIVERY_TRACE_ID})
        for sid, search in searches.items():
            attrs = search["attributes"]
            with self.subTest(search=sid):
                src = json.loads(attrs["kibanaSavedObjectMeta"]["searchSourceJSON"])
                self.assertEqual(src["indexRefName"], search["references"][0]["name"])
                self.assertIn("email.local_id", attrs["columns"])
                on = [d for d in saved_objects() if d["type"] == "dashboard"
                      and any(r["type"] == "search" and r["id"] == sid for r in d["references"])]
                self.assertTrue(on, "the saved search is on no dashboard")
        events = searches[GEN.SEARCH_ID]["attributes"]
        self.assertEqual(events["sort"][:2], [["@timestamp", "desc"], ["event.sequence", "desc"]])
        # Issue 19 point 9: one message's reception and delivery attempts,
        # oldest first, with the controls to pick the message.
        trace = searches[GEN.TRACE_ID]["attributes"]
        self.assertEqual(trace["sort"], [["@timestamp", "asc"], ["event.sequence", "asc"]])
        self.assertTrue(trace["title"].endswith("Message trace"))
        query = json.loads(trace["kibanaSavedObjectMeta"]["searchSourceJSON"])["query"]["query"]
        dash = next(d for d in saved_objects() if d["type"] == "dashboard"
                    and any(r["id"] == GEN.TRACE_ID for r in d["references"]))
        fields = {c["explicitInput"]["fieldName"]
                  for c in json.loads(dash["attributes"]["controlGroupInput"]["panelsJSON"]).values()}
        self.assertTrue({"email.local_id", "email.from.address", "email.to.address"} <= fields)
        # The trace of a relayed message: its smtp-in tx-commit, then its
        # smtp-out tx-rollback and tx-commit documents, in time order.
        docs = documents("all")
        ast = kql_parse(query)
        relayed = {d["email.local_id"][0] for d in docs if d["event.action"] == ["tx-commit"]
                   and d["opensmtpd.subsystem"] == ["smtp-out"]}
        accepted = {d["email.local_id"][0] for d in docs if d["event.action"] == ["tx-commit"]
                    and d["opensmtpd.subsystem"] == ["smtp-in"]}
        both = sorted(relayed & accepted)
        self.assertTrue(both, "no stream has a message both accepted and relayed")
        for mid in both:
            rows = sorted((d["@timestamp"][0], d["event.sequence"][0], d["opensmtpd.subsystem"][0],
                           d["event.action"][0]) for d in docs
                          if kql_eval(ast, d) and control_match(d, (("email.local_id", mid),)))
            with self.subTest(message=mid):
                self.assertEqual(rows[0][2:], ("smtp-in", "tx-commit"))
                self.assertIn(("smtp-out", "tx-commit"), [r[2:] for r in rows])

    def test_controls_answered_by_every_panel(self):
        # Issue 19 point 3: a control filters every panel of its dashboard;
        # picking any of its values must not empty a panel because the
        # panel's documents lack the field, unless the control's title says
        # which documents lack it (CONTROLS' exceptions).
        docs = documents("all")
        dashboards = {o["attributes"]["title"]: o for o in saved_objects() if o["type"] == "dashboard"}
        specs = list(panel_specs())
        picked: dict = {}
        for title, d in dashboards.items():
            controls = json.loads(d["attributes"]["controlGroupInput"]["panelsJSON"]).values()
            self.assertTrue(all(c["type"] == "optionsListControl" for c in controls))
            for c in controls:
                field, label = c["explicitInput"]["fieldName"], c["explicitInput"]["title"]
                spec_label, lacking = GEN.CONTROLS[field]
                self.assertEqual(label, spec_label)
                exempt = kql_parse(lacking) if lacking else None
                values = distinct(v for doc in docs for v in doc.get(field, []))
                for dash, ptitle, needs_all, timed, run, sp in specs:
                    if dash != title:
                        continue
                    with self.subTest(dashboard=title, control=label, panel=ptitle):
                        q = kql_parse(GEN.query_of(sp) + (f" and {sp['geo_field']} : *" if sp.get("geo_field") else ""))
                        counted = [doc for doc in docs if kql_eval(q, doc)]
                        if sp["kind"] == "esql":
                            # The documents that make a row: the commits of
                            # the messages both accepted and delivered.
                            paired = {mid for (mid,) in [(d["email.local_id"][0],) for d in counted
                                                         if d.get("email.local_id")]
                                      if run([d for d in counted if d.get("email.local_id") == [mid]])}
                            counted = [d for d in counted if d.get("email.local_id", [None])[0] in paired]
                        blind = [doc for doc in counted if field not in doc and not (exempt and kql_eval(exempt, doc))]
                        self.assertEqual(blind, [], f"{len(blind)} of the panel's documents lack {field}")
                        if not counted:
                            continue
                        # Applied: every value the panel's documents carry
                        # leaves the panel showing something.
                        for v in distinct(v for doc in counted for v in doc.get(field, []))[:3]:
                            if (field, v) not in picked:
                                picked[(field, v)] = [doc for doc in docs if control_match(doc, ((field, v),))]
                            self.assertTrue(run(picked[(field, v)], ((field, v),)),
                                            f"{field} = {v!r} empties the panel")
                self.assertTrue(values, f"no document has {field}")

    def test_panels_md_marks_presets(self):
        text = (REPO / "dashboards" / "PANELS.md").read_text()
        for d, p in GEN.chart_panels():
            with self.subTest(panel=p["title"]):
                title = p["title"].replace("|", "\\|")
                row = next(line for line in text.splitlines() if line.startswith(f"| {title} |"))
                preset = row.split(" | ")[2]
                want = "metric" if p["action"] in ("stats", "documents-dropped") else "all" if p["needs_all"] \
                    else "health" if p["health"] else "both"
                self.assertEqual(preset, want)


if __name__ == "__main__":
    unittest.main()
