"""Every dashboard panel, evaluated over replayed documents, against counts
made from the raw report lines (issue 13).

    python3 -m unittest discover -s tests/elastic -v      (from the repository root)

For each report stream (tests/data/captured/, the gen-stream output in
tests/data/generated/, the hand-built tests/elastic/streams/), the filter
replays it twice, with `--events all` and with `--events summaries`.  Each
stream stands for one mail host (host.name is the stream's name).  A small
evaluator computes what every panel shows from those documents: its KQL
query, its bucket columns (terms with Lens' missing/other rules, ranges; the
time axis is summed up) and its metrics (count, sum, max, average, unique
count).  The ingest pipeline's additions are made by a Python twin, and
GeoIP by a stand-in (`fake_geo`, a function of the address only).

The oracle does not read the documents: it parses the report lines itself
(its own little session table) and counts, per panel, what the panel means to
show.  Panels marked "both" in PANELS.md must agree with the oracle under both
presets; panels marked "all" under `--events all`, and must be empty under
`--events summaries`.  Self-metrics panels (stats, documents-dropped) count
the filter's own counters, not report lines; test_elastic checks them.
"""

from __future__ import annotations

import hashlib
import importlib.util
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
    REPO, domain_of, filter_binary, flatten_doc, kql_parse, kql_eval, lens_panels, saved_objects,
)

MISSING = "(missing value)"
STREAM_DIRS = (REPO / "tests" / "data" / "captured", REPO / "tests" / "data" / "generated",
               REPO / "tests" / "elastic" / "streams")


def load_generator():
    spec = importlib.util.spec_from_file_location("kb_generate_panels", REPO / "dashboards" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


GEN = load_generator()


def streams() -> list:
    return sorted(p for d in STREAM_DIRS for p in d.glob("*.txt"))


def fake_geo(ip: str) -> dict:
    """Stand-in for GeoLite2: a country, an AS and a location per address."""
    h = int(hashlib.sha256(ip.encode()).hexdigest()[:8], 16)
    return {"country": f"Country {h % 5}", "asn": 64500 + h % 3, "org": f"Org {h % 3}",
            "location": f"{(h % 160) - 80}.5,{(h % 340) - 170}.5"}


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
    sub = flat["opensmtpd.subsystem"][0]
    for side, want in (("source", "smtp-in"), ("destination", "smtp-out")):
        ip = flat.get(f"{side}.ip", [None])[0]
        if sub == want and ip:
            g = fake_geo(ip)
            flat[f"{side}.geo.country_name"] = [g["country"]]
            flat[f"{side}.geo.location"] = [g["location"]]
            flat[f"{side}.as.number"] = [g["asn"]]
            flat[f"{side}.as.organization.name"] = [g["org"]]
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
# The evaluator: what a panel shows, as {bucket key tuple: metric tuple}.


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


def bucket_values(col: dict, flat: dict) -> list:
    values = distinct(flat.get(col["sourceField"], []))
    if col["operationType"] == "terms":
        if values:
            return values
        # Kibana asks Elasticsearch for the missing bucket only with "Other" on.
        params = col["params"]
        return [MISSING] if params.get("otherBucket") and params.get("missingBucket") else []
    if col["operationType"] == "range":
        buckets = [(r["from"], r["to"], r["label"]) for r in col["params"]["ranges"]]
        return distinct(lbl for lbl in (range_label(v, buckets) for v in values) if lbl is not None)
    raise AssertionError(f"bucket operation {col['operationType']} not evaluated here")


def metric_value(col: dict, docs: list):
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
    raise AssertionError(f"metric {op} not evaluated here")


def evaluate(query: str, buckets: list, metrics: list, docs, timed: bool = False) -> dict:
    ast = kql_parse(query)
    groups: dict = {}
    for d in docs:
        if not kql_eval(ast, d):
            continue
        # The time axis, per minute: Kibana's auto interval is never finer
        # for the ranges these dashboards open with.
        keys = [(d["@timestamp"][0][:16],)] if timed else [()]
        for col in buckets:
            keys = [k + (v,) for k in keys for v in bucket_values(col, d)]
        for k in keys:
            groups.setdefault(k, []).append(d)
    return {k: tuple(metric_value(m, ds) for m in metrics) for k, ds in groups.items()}


def evaluate_lens(attrs: dict, docs) -> dict:
    (layer,) = attrs["state"]["datasourceStates"]["formBased"]["layers"].values()
    cols = [layer["columns"][c] for c in layer["columnOrder"]]
    buckets = [c for c in cols if c["isBucketed"] and c["operationType"] != "date_histogram"]
    metrics = [c for c in cols if not c["isBucketed"]]
    timed = any(c["operationType"] == "date_histogram" for c in cols)
    return evaluate(attrs["state"]["query"]["query"], buckets, metrics, docs, timed)


def evaluate_map(obj: dict, docs) -> dict:
    layer = [layer for layer in json.loads(obj["attributes"]["layerListJSON"]) if layer.get("query")][0]
    geo = layer["sourceDescriptor"]["geoField"]
    return evaluate(layer["query"]["query"] + f" and {geo} : *", [], [{"operationType": "count"}], docs)


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
    """timed: the panel has a time axis; its buckets are compared per minute
    (the document's @timestamp against the time of the line counted)."""
    def run(records, timed: bool) -> dict:
        groups: dict = {}
        for r in records:
            if r.kind in ((kind,) if isinstance(kind, str) else kind) and pred(r):
                for k in distinct(keys(r)):
                    if timed:
                        k = (minute(r.ts),) + k
                    groups.setdefault(k, []).append(r)
        return {k: tuple(m(rs) for m in metrics) for k, rs in groups.items()}
    return run


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
G = fake_geo
REFUSED_OUT = ("rollback",)

ORACLE = {
    # Overview
    "Inbound sessions": tally("session", NET),
    "Messages accepted": tally("commit", IN),
    "Recipients accepted": tally("session", IN, metrics=(SUM(lambda r: r.rcpt_ok),)),
    "Recipients refused": tally("session", IN, metrics=(SUM(lambda r: r.rcpt_refused),)),
    "Bytes accepted": tally("commit", IN, metrics=(SUM(lambda r: r.size),)),
    "Unique senders": tally("commit", IN, metrics=(UNIQ(lambda r: r.mail),)),
    "Unique recipients": tally("commit", IN, metrics=(UNIQ_ALL(lambda r: r.accepted),)),
    "Messages relayed (smtp-out)": tally("commit", OUT),
    "Sessions over time": tally("session", CONN, lambda r: [(r.sub,)]),
    "Messages over time": tally("commit", keys=lambda r: [(r.sub,)]),
    "Recipients accepted vs refused": tally("session", IN, metrics=(SUM(lambda r: r.rcpt_ok),
                                                                    SUM(lambda r: r.rcpt_refused))),
    "Bytes accepted over time": tally("commit", IN, metrics=(SUM(lambda r: r.size),)),
    "Sessions per mail host": tally("session", CONN, lambda r: [(r.host,)]),
    "Mail hosts": tally("commit", keys=lambda r: [(r.host, r.sub)], metrics=(len, SUM(lambda r: r.size))),
    "Session duration": tally("session", CONN, lambda r: [(r.sub,)], (AVG(lambda r: r.duration),)),
    "Session durations": tally("session", CONN, lambda r: [(DUR(r.duration), r.sub)]),
    "Message sizes": tally("commit", keys=lambda r: [(SIZE(r.size), r.sub)]),
    "Largest messages": tally("commit", metrics=(MAX(lambda r: r.size),)),
    "Average message size": tally("commit", metrics=(AVG(lambda r: r.size),)),
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
    "Top senders": tally("commit", IN, lambda r: [(r.mail,)]),
    "Top recipients": tally("commit", IN, lambda r: [(a,) for a in r.accepted]),
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
    "Top refused recipient addresses": tally(("commit", "rollback"), IN, lambda r: [(a,) for a in r.refused]),
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
    "Messages relayed": tally("commit", OUT),
    "Refusals and deferrals (smtp-out)": tally(REFUSED_OUT, OUT),
    "Deferrals (smtp-out)": tally(REFUSED_OUT, lambda r: OUT(r) and r.code is not None and 400 <= r.code < 500),
    "Refusals and deferrals by remote server and reply code": tally(REFUSED_OUT, OUT,
                                                                    lambda r: [(opt(r.rdns), opt(r.code))]),
    "Refusals and deferrals by reply": tally(REFUSED_OUT, OUT, lambda r: [(opt(r.reply),)]),
    "Refused and deferred recipients by domain and reply code": tally(
        "rcpt", lambda r: OUT(r) and r.result != "ok", lambda r: [(dom(r.address), opt(r.code))]),
    "Remote servers with 4xx/5xx replies (smtp-out)": tally("session", lambda r: OUT(r) and ERR(r),
                                                            lambda r: [(r.dest_ip, opt(r.rdns))], (len, R4XX, R5XX)),
    "Refusals and deferrals over time": tally(REFUSED_OUT, OUT, lambda r: [(opt(r.code),)]),
    "Deliveries by destination country": tally("commit", OUT, lambda r: [(G(r.dest_ip)["country"],)]),
    "Deliveries by destination autonomous system": tally("commit", OUT, lambda r: [(G(r.dest_ip)["org"],)]),
    # Geography
    "Inbound sessions map": tally("session", NET),
    "Inbound sessions by country": tally("session", NET, lambda r: [(G(r.ip)["country"],)]),
    "Inbound sessions by autonomous system": tally("session", NET, lambda r: [(G(r.ip)["asn"], G(r.ip)["org"])]),
    "Inbound sessions over time by country": tally("session", NET, lambda r: [(G(r.ip)["country"],)]),
    "Plaintext sessions by country": tally("session", lambda r: NET(r) and not r.tls,
                                           lambda r: [(G(r.ip)["country"],)]),
    "Messages accepted by client country": tally("commit", NET, lambda r: [(G(r.ip)["country"],)]),
    "Refused recipients by client country": tally("session", NET, lambda r: [(G(r.ip)["country"],)],
                                                  (SUM(lambda r: r.rcpt_refused),)),
    "Sessions with failed AUTH by client country": tally("session", lambda r: NET(r) and AUTH_BAD(r),
                                                         lambda r: [(G(r.ip)["country"],)], (len, FAILS)),
}

METRIC_PANELS = {"Documents dropped by filter-jsonlog", "filter-jsonlog counters per host (stats)"}


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
    """(dashboard title, panel title, needs_all, timed, evaluate(docs)) for every chart and map panel."""
    spec = {p["title"]: p for d, p in GEN.chart_panels()}
    maps = {o["attributes"]["title"]: o for o in saved_objects() if o["type"] == "map"}
    for d, p, attrs in lens_panels():
        timed = (spec[p["title"]]["x"] or {}).get("op") == "date_histogram"
        yield d["attributes"]["title"], p["title"], spec[p["title"]]["needs_all"], timed, \
            (lambda docs, attrs=attrs: evaluate_lens(attrs, docs))
    for title, obj in maps.items():
        short = title[len(GEN.TITLE_PREFIX):]
        yield "map", short, spec[short]["needs_all"], False, (lambda docs, obj=obj: evaluate_map(obj, docs))


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
        titles = [t for _, t, _, _, _ in panel_specs()]
        self.assertEqual(len(titles), len(set(titles)), "panel titles must be unique")
        self.assertEqual(set(titles) - set(ORACLE) - METRIC_PANELS, set(), "panels without an oracle")
        self.assertEqual(set(ORACLE) - set(titles), set(), "oracles of panels that no longer exist")

    def test_panel_fields_occur(self):
        # A field no document has makes a panel agree with an empty oracle
        # only by luck; it is also what a filter binary older than
        # schema/fields.json looks like.
        seen = {f for d in self.docs["all"] for f in d}
        for d, p in GEN.chart_panels():
            if p["title"] in METRIC_PANELS:
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
        for dash, title, needs_all, timed, run in panel_specs():
            if title in METRIC_PANELS:
                continue
            want = ORACLE[title](self.oracle, timed)
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


class Evaluator(unittest.TestCase):
    """The evaluator itself must be able to tell a wrong panel from a right one."""

    def test_missing_bucket_needs_other_bucket(self):
        col = {"operationType": "terms", "sourceField": "source.domain",
               "params": {"otherBucket": False, "missingBucket": True}}
        self.assertEqual(bucket_values(col, {}), [], "Lens drops the missing bucket without Other")
        col["params"]["otherBucket"] = True
        self.assertEqual(bucket_values(col, {}), [MISSING])

    def test_arrays_count_once_per_value(self):
        col = {"operationType": "terms", "sourceField": "f", "params": {}}
        docs = [{"event.action": ["x"], "f": ["a", "b", "a"]}]
        self.assertEqual(evaluate('event.action : "x"', [col], [{"operationType": "count"}], docs),
                         {("a",): (1,), ("b",): (1,)})

    def test_messages_are_not_sessions(self):
        # Two messages of one session: the flagship panel counts one session.
        docs = [{"event.action": ["tx-commit"], "opensmtpd.session.id": ["s1"]} for _ in range(2)]
        uniq = {"operationType": "unique_count", "sourceField": "opensmtpd.session.id"}
        self.assertEqual(evaluate('event.action : "tx-commit"', [], [uniq], docs), {(): (1,)})
        self.assertEqual(evaluate('event.action : "tx-commit"', [], [{"operationType": "count"}], docs), {(): (2,)})

    def test_ranges(self):
        col = {"operationType": "range", "sourceField": "n",
               "params": {"ranges": [{"from": 0, "to": 10, "label": "small"}, {"from": 10, "to": None, "label": "big"}]}}
        self.assertEqual(bucket_values(col, {"n": [9]}), ["small"])
        self.assertEqual(bucket_values(col, {"n": [10]}), ["big"])

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
    """Issue 13's structural points that a count alone would not show."""

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

    def test_drill_down_search(self):
        (search,) = [o for o in saved_objects() if o["type"] == "search"]
        attrs = search["attributes"]
        self.assertEqual(attrs["sort"][:2], [["@timestamp", "desc"], ["event.sequence", "desc"]])
        src = json.loads(attrs["kibanaSavedObjectMeta"]["searchSourceJSON"])
        self.assertEqual(src["indexRefName"], search["references"][0]["name"])
        on = [d for d in saved_objects() if d["type"] == "dashboard"
              and any(r["type"] == "search" for r in d["references"])]
        self.assertTrue(on, "the saved search is on no dashboard")

    def test_controls(self):
        fields = {"host.name", "destination.port", "opensmtpd.subsystem", "opensmtpd.to_domains"}
        for d in [o for o in saved_objects() if o["type"] == "dashboard"]:
            with self.subTest(dashboard=d["id"]):
                controls = json.loads(d["attributes"]["controlGroupInput"]["panelsJSON"])
                got = {c["explicitInput"]["fieldName"] for c in controls.values()}
                self.assertTrue(fields <= got)
                self.assertTrue(all(c["type"] == "optionsListControl" for c in controls.values()))

    def test_panels_md_marks_presets(self):
        text = (REPO / "dashboards" / "PANELS.md").read_text()
        for d, p in GEN.chart_panels():
            with self.subTest(panel=p["title"]):
                row = next(line for line in text.splitlines() if line.startswith(f"| {p['title']} |"))
                preset = row.split(" | ")[2]
                want = "metric" if p["action"] in ("stats", "documents-dropped") else "all" if p["needs_all"] else "both"
                self.assertEqual(preset, want)


if __name__ == "__main__":
    unittest.main()
