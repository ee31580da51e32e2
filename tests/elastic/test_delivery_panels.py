"""The delivery dashboard's panels over smtpd's real delivery lines, and
their figures against `filter-jsonlog report`'s delivery section (issue 20).

    python3 -m unittest tests/elastic/test_delivery_panels.py -v   (from the repository root)

Documents: every delivery line of the real logs (tests/data/maillog/, smtpd
-d under 6.8.0p2 and 7.8.0p1; tests/data/captured/*-delivery.mail.log, Debian
12 rsyslog's file of a 7.8.0p1 run) through the pipeline's grok patterns
(test_delivery's Python re twin of them) and a Python twin of its Painless
script, flattened as Elasticsearch indexes them.  The twin is checked field
by field against the real script run by OpenSearch's Painless
(tests/elastic/painless/, skipped when not fetched).

Each panel is evaluated by test_panels' Lens evaluator and compared with an
oracle that reads the raw lines with its own few regexes.  Then, for the
7.8.0p1 run whose documents were captured too, each panel figure that the
report also gives must equal the report's, or differ exactly by what the
test names (lines of mail no document holds; the report's deferred is a
state at the end of its input, which no count of lines in a time range is).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import unittest
from functools import lru_cache
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

# The module, not its TestCase classes: imported names would run again here.
import test_delivery as td  # noqa: E402
from test_elastic import REPO, filter_binary, flatten_doc  # noqa: E402
from test_panels import GEN, evaluate_lens, percentile, saved_objects  # noqa: E402

CAPTURED_DOCS = REPO / "tests" / "data" / "captured" / "opensmtpd-7.8.0p1-delivery.json"
STATUS = {"Ok": "delivered", "TempFail": "deferred", "PermFail": "bounced", "Expire": "expired",
          "Remove": "removed"}
NS = 1_000_000_000


def delay_seconds(text: str) -> int:
    total, n = 0, 0
    for c in text.lstrip("-"):
        if c.isdigit():
            n = n * 10 + int(c)
        else:
            total += n * {"d": 86400, "h": 3600, "m": 60, "s": 1}[c]
            n = 0
    return -total if text.startswith("-") else total


def twin(line: str, host: str, read_time: str) -> dict:
    """What the delivery pipeline indexes for one line, flattened: grok (the
    committed patterns) and a Python twin of the delivery-fields script.
    read_time stands for Filebeat's @timestamp when the line has no header
    (smtpd -d's own output)."""
    got = td.Grok().parse(line)
    if got is None:
        raise AssertionError(f"no grok pattern matches {line!r}")
    doc: dict = {"host.name": [host], "event.kind": ["event"], "event.dataset": ["opensmtpd.delivery"],
                 "event.category": ["email"], "event.type": ["info"]}
    for k, v in got.items():
        if not k.startswith("_tmp."):
            doc[k] = [int(v) if k in ("process.pid", "opensmtpd.delivery.envelopes") else v]
    t = {k[5:]: v for k, v in got.items() if k.startswith("_tmp.")}
    if "time" in t:
        ts = t["time"]
        if not ts[:1].isdigit():
            raise AssertionError("BSD headers are not used here")
        # date processor, ISO8601: stored in UTC milliseconds (the test logs are +00:00 or Z)
        sec, _, frac = ts.replace("+00:00", "").rstrip("Z").partition(".")
        doc["@timestamp"] = [f"{sec}.{(frac + '000')[:3]}Z"]
    else:
        doc["@timestamp"] = [read_time]
    result = got.get("opensmtpd.delivery.result")
    if "agent" in t:
        action, method = {"mda": ("mda-delivery", "local"), "mta": ("mta-delivery", "relay")}[t["agent"]]
    elif "queue_action" in t:
        action = {"Expire": "envelope-expire", "Remove": "envelope-remove"}[t["queue_action"]]
        result = t["queue_action"]
        doc["opensmtpd.delivery.result"] = [result]
        method = "local" if t["queue_type"] == "delivery" else "relay"
    else:
        action, method = "bounce-report-failure", None
    doc["event.action"] = [action]
    if method:
        doc["opensmtpd.delivery.method"] = [method]
    if action == "bounce-report-failure":
        status, outcome = "bounce-failed", "failure"
    else:
        status = STATUS[result]
        outcome = {"delivered": "success", "removed": "unknown"}.get(status, "failure")
    doc["opensmtpd.delivery.status"], doc["event.outcome"] = [status], [outcome]
    doc["opensmtpd.delivery.final"] = [status not in ("deferred", "bounce-failed")]
    if "opensmtpd.delivery.envelope_id" in doc:
        doc["email.local_id"] = [doc["opensmtpd.delivery.envelope_id"][0][:8]]
    if "from" in t:
        sender = "" if t["from"] == "@" else t["from"]
        doc["opensmtpd.delivery.bounce"] = [sender == ""]
        if sender:
            doc["email.from.address"] = [sender.lower()]  # the template's lowercase normalizer
    if "to" in t:
        doc["email.to.address"] = [t["to"].lower()]
        at = t["to"].rfind("@")
        if 0 <= at < len(t["to"]) - 1:
            doc["destination.domain"] = [t["to"][at + 1:].lower()]
    if t.get("rcpt") not in (None, "", "-", t.get("to")):
        doc["opensmtpd.delivery.rcpt"] = [t["rcpt"]]
    if "delay" in t:
        secs = delay_seconds(t["delay"])
        doc["opensmtpd.delivery.delay_seconds"], doc["event.duration"] = [secs], [secs * NS]
    relay = got.get("opensmtpd.delivery.relay")
    if relay is not None:
        host_part, ptr = relay, None
        m = re.fullmatch(r"(.+?) \((.*)\)", relay)
        if m:
            host_part, ptr = m.group(1), m.group(2)
        if host_part.startswith("[") and host_part.endswith("]"):
            doc["destination.ip"] = [host_part[1:-1]]
        elif host_part and all(c == "." or c.isdigit() for c in host_part):
            doc["destination.ip"] = [host_part]
        else:
            ptr = host_part
        if ptr:
            doc["opensmtpd.delivery.relay_host"] = [ptr.lower()]
    if t.get("source") not in (None, "", "-"):
        doc["source.ip"] = [t["source"].strip("[]")]
    if t.get("agent") == "mta" and got["opensmtpd.delivery.session_id"] != "0000000000000000":
        doc["opensmtpd.session.id"] = [got["opensmtpd.delivery.session_id"]]
    return doc


# The three logs: (name, delivery lines as Filebeat reads them).
@lru_cache(maxsize=None)
def corpora() -> tuple:
    out = []
    for version, path in td.REAL_LOGS.items():
        out.append((f"smtpd -d {version}", tuple(td.RealLines().delivery_lines(path.read_text(encoding="utf-8")))))
    out.append(("rsyslog 7.8.0p1", tuple(td.RealLines().delivery_lines(td.RSYSLOG_MAILLOG.read_text(encoding="utf-8")))))
    return tuple(out)


@lru_cache(maxsize=None)
def documents(name: str) -> tuple:
    return documents_of(dict(corpora())[name])


def documents_of(lines) -> tuple:
    return tuple(twin(line, "mx", f"2026-12-06T11:{i // 60:02d}:{i % 60:02d}.000Z") for i, line in enumerate(lines))


def sample_lines() -> tuple:
    """test_delivery's lines printed from smtpd's formats: delays of seconds
    to days, which the real runs (all delivered within a second) lack, so
    that the node's percentiles meet the evaluator's on values that differ."""
    return tuple(td.HEADERS[0] + line for line, _ in td.samples())


def delivery_types() -> dict:
    return {f["name"]: f["type"] for f in json.loads((REPO / "schema" / "delivery-fields.json").read_text())["fields"]}


def delivery_panels() -> dict:
    """title -> Lens attributes of every panel on the delivery data view."""
    out = {}
    for d in (o for o in saved_objects() if o["type"] == "dashboard"):
        for p in json.loads(d["attributes"]["panelsJSON"]):
            refs = p["embeddableConfig"]["attributes"]["references"] if p["type"] == "lens" else []
            if [r["id"] for r in refs] == [GEN.DELIVERY_VIEW_ID]:
                out[p["title"]] = p["embeddableConfig"]["attributes"]
    return out


def panel(title: str, docs) -> dict:
    return evaluate_lens(delivery_panels()[title], list(docs), types=delivery_types())


# ---------------------------------------------------------------------------
# The oracle: the raw line, read with its own regexes (not grok's).


class Line:
    def __init__(self, text: str, ts: str):
        self.text, self.ts = text, ts
        m = re.search(r"evpid=([0-9a-f]{16})|for ([0-9a-f]{16}):", text)
        self.evpid = (m.group(1) or m.group(2)) if m else None
        m = re.search(r'result="?(Ok|TempFail|PermFail)', text)
        self.result = m.group(1) if m else ("Expire" if ": Expire for " in text else
                                            "Remove" if ": Remove for " in text else None)
        self.stat = re.search(r'stat="?(.*?)"?$', text).group(1) if " stat=" in text else None
        m = re.search(r"to=<[^>]*@([^>@]+)>", text)
        self.domain = m.group(1).lower() if m else None
        m = re.search(r"delay=([-0-9dhms]+)", text)
        self.delay = delay_seconds(m.group(1)) if m else None
        self.null_sender = "from=<>" in text or "from=<@>" in text

    @property
    def status(self):
        return STATUS.get(self.result)


def lines_of(name: str) -> list:
    return [Line(text, d["@timestamp"][0]) for text, d in zip(dict(corpora())[name], documents(name))]


def one(n) -> dict:
    return {(): (n,)} if n else {}


def delays(ls) -> tuple:
    v = [l.delay * NS for l in ls]
    return (percentile(v, 50), percentile(v, 90), max(v))


def oracle(title: str, ls: list) -> dict:
    env = [l for l in ls if l.evpid]
    by = {s: [l for l in env if l.status == s] for s in STATUS.values()}
    if title == "Delivered":
        return one(len(by["delivered"]))
    if title == "Bounced":
        return one(len(by["bounced"]))
    if title == "Expired":
        return one(len(by["expired"]))
    if title == "Temporary failures":
        return one(len(by["deferred"]))
    if title == "Bounces generated":
        return one(len({l.evpid[:8] for l in env if l.null_sender}))
    if title == "Delivery delay":
        return {(): delays(by["delivered"])} if by["delivered"] else {}
    if title == "Delivery outcomes over time":
        out: dict = {}
        for l in env:
            key = (l.ts[:16], l.status)
            out[key] = (out.get(key, (0,))[0] + 1,)
        return out
    if title == "Delivery outcomes by recipient domain":
        out = {}
        for dom in {l.domain for l in env}:
            mine = [l for l in env if l.domain == dom]
            out[(dom,)] = tuple(sum(1 for l in mine if l.status == s)
                                for s in ("delivered", "deferred", "bounced", "expired"))
        return out
    if title == "Top deferral and bounce reasons":
        out = {}
        for l in by["deferred"] + by["bounced"] + by["expired"]:
            out[(l.stat,)] = (out.get((l.stat,), (0,))[0] + 1,)
        return out
    if title == "Delivery delay by recipient domain":
        out = {}
        for dom in {l.domain for l in by["delivered"]}:
            mine = [l for l in by["delivered"] if l.domain == dom]
            out[(dom,)] = (len(mine),) + delays(mine)
        return out
    raise AssertionError(f"no oracle for panel {title!r}")


class Panels(unittest.TestCase):
    def test_every_panel_against_the_raw_lines(self):
        titles = set(delivery_panels())
        self.assertEqual(len(titles), 10, titles)
        for name, lines in corpora():
            self.assertGreater(len(lines), 10, name)
            for title in sorted(titles):
                with self.subTest(log=name, panel=title):
                    want = oracle(title, lines_of(name))
                    self.assertTrue(want, "the log does not exercise this panel")
                    self.assertEqual(panel(title, documents(name)), want)

    def test_message_id_control_filters_the_delivery_trace(self):
        # The "Message id" control of "Messages and delivery" is a phrase
        # filter on email.local_id: every line of the delivery search must
        # carry it, so that picking a message leaves its lines and only them.
        search = next(o for o in saved_objects() if o["id"] == GEN.DELIVERY_TRACE_ID)
        self.assertEqual(search["references"][0]["id"], GEN.DELIVERY_VIEW_ID)
        self.assertEqual(search["attributes"]["sort"], [["@timestamp", "asc"]])
        dash = next(o for o in saved_objects() if o["type"] == "dashboard"
                    and {GEN.TRACE_ID, GEN.DELIVERY_TRACE_ID} <= {r["id"] for r in o["references"]})
        controls = json.loads(dash["attributes"]["controlGroupInput"]["panelsJSON"]).values()
        self.assertIn("email.local_id", {c["explicitInput"]["fieldName"] for c in controls})
        docs = documents("rsyslog 7.8.0p1")
        self.assertTrue(all(d.get("email.local_id") for d in docs))
        # The relayed message f997afa3: its documents' trace and its lines.
        mine = [d for d in docs if d["email.local_id"] == ["f997afa3"]]
        self.assertEqual(sorted(d["opensmtpd.delivery.envelope_id"][0] for d in mine),
                         ["f997afa3776f701c", "f997afa3895f0836"])
        for col in search["attributes"]["columns"]:
            self.assertIn(col, delivery_types())


class TwinAgainstPainless(unittest.TestCase):
    def test_twin_equals_the_pipeline_script(self):
        ps = td.PainlessScript()
        for name, lines in corpora():
            with self.subTest(log=name):
                headed = [line if re.match(r"^\d{4}-", line) else td.HEADERS[0] + line for line in lines]
                out = ps.run_script([ps.ctx_for(line) for line in headed])
                for line, real in zip(headed, out):
                    self.assertNotIn("error", real)
                    flat = flatten_doc({k: v for k, v in real.items() if k not in ("_tmp", "message")})
                    mine = twin(line, "vm", "unused")
                    for field in set(flat) | set(mine):
                        if field in ("@timestamp", "host.name", "event.dataset", "log.syslog.hostname",
                                     "log.syslog.appname", "process.pid"):
                            continue
                        want = flat.get(field)
                        if field in ("email.from.address", "email.to.address") and want:
                            want = [v.lower() for v in want]  # the index's normalizer, in the twin
                        self.assertEqual(mine.get(field), want, f"{field} of {line}")


# ---------------------------------------------------------------------------
# The report's figures for the 7.8.0p1 run whose documents were captured.


@lru_cache(maxsize=None)
def report() -> dict:
    res = subprocess.run([str(filter_binary()), "report", "--format", "json", str(CAPTURED_DOCS),
                          str(td.RSYSLOG_MAILLOG)], capture_output=True, text=True, check=True)
    return json.loads(res.stdout)["delivery"]


def joined_envelopes() -> set:
    """The report's join rule: an envelope is followed when a committed
    smtp-in transaction lists it, or its message (msgid, the evpid's first 8
    digits) was committed."""
    evpids, msgids = set(), set()
    for line in CAPTURED_DOCS.read_text().splitlines():
        d = json.loads(line)
        if d["event"]["action"] == "tx-commit" and d["opensmtpd"]["subsystem"] == "smtp-in":
            msgids.add(d["email"]["local_id"])
            for r in d["opensmtpd"]["transaction"].get("rcpt", []):
                evpids.update(r.get("envelope_ids", []))
    return evpids | msgids


def metric_of(got: dict):
    return got.get((), (0,))[0]


class AgainstTheReport(unittest.TestCase):
    """Panel figure = report figure + what lines of mail no document holds
    add (the report counts recipients of the documents' messages; the panels
    count the mail log's lines, whoever accepted the mail)."""

    @classmethod
    def setUpClass(cls):
        cls.rep = report()
        cls.docs = list(documents("rsyslog 7.8.0p1"))
        known = joined_envelopes()
        cls.outside = [d for d in cls.docs if d.get("opensmtpd.delivery.envelope_id")
                       and d["opensmtpd.delivery.envelope_id"][0] not in known
                       and d["email.local_id"][0] not in known]
        cls.figures = []

    @classmethod
    def tearDownClass(cls):
        print("\n  delivery panels vs report (7.8.0p1 run): " + "; ".join(cls.figures), file=sys.stderr)

    def outside_count(self, status: str) -> int:
        return sum(1 for d in self.outside if d["opensmtpd.delivery.status"] == [status])

    def test_lines_outside_the_documents(self):
        # The report's own count of them, and which they are: the copy the
        # second (unfiltered) listener accepted from the relay.
        self.assertEqual(len(self.outside), self.rep["not_in_documents"])
        self.assertEqual(self.rep["not_in_documents"], 1)

    def test_outcome_counts(self):
        for title, key, status in (("Delivered", "delivered", "delivered"), ("Bounced", "bounced", "bounced"),
                                   ("Expired", "expired", "expired"),
                                   ("Temporary failures", "tempfail_attempts", "deferred")):
            with self.subTest(panel=title):
                got = metric_of(panel(title, self.docs))
                self.assertEqual(got, self.rep[key] + self.outside_count(status))
                self.figures.append(f"{title} {got} = report {key} {self.rep[key]} + {self.outside_count(status)}")
        self.assertGreater(self.rep["delivered"] * self.rep["bounced"] * self.rep["expired"], 0)

    def test_deferred_is_not_a_line_count(self):
        # delivery.deferred counts envelopes whose last line is a temporary
        # failure when the report's input ends: a state, which a panel over
        # a time range cannot hold (a later Ok outside the range, or none
        # yet).  Its figure is what the lines say at the end of the log.
        final = {d["opensmtpd.delivery.envelope_id"][0] for d in self.docs if d["opensmtpd.delivery.final"] == [True]}
        pending = {d["opensmtpd.delivery.envelope_id"][0] for d in self.docs
                   if d["opensmtpd.delivery.status"] == ["deferred"]} - final
        self.assertEqual(len(pending), self.rep["deferred"])
        self.figures.append(f"deferred {self.rep['deferred']} (envelopes without a final line, not a panel)")

    def test_by_domain(self):
        got = panel("Delivery outcomes by recipient domain", self.docs)
        for row in self.rep["by_domain"]:
            with self.subTest(domain=row["domain"]):
                d, t, b, e = got[(row["domain"],)]
                extra = [x for x in self.outside if x["destination.domain"] == [row["domain"]]]
                n = lambda s: sum(1 for x in extra if x["opensmtpd.delivery.status"] == [s])  # noqa: E731
                self.assertEqual((d, b, e), (row["delivered"] + n("delivered"), row["bounced"] + n("bounced"),
                                             row["expired"] + n("expired")))
        self.assertEqual({k[0] for k in got}, {r["domain"] for r in self.rep["by_domain"]})
        self.figures.append(f"by_domain {len(got)} rows agree")

    def test_top_reasons(self):
        got = {k[0]: v[0] for k, v in panel("Top deferral and bounce reasons", self.docs).items()}
        outside = {}
        for d in self.outside:
            if d["opensmtpd.delivery.status"][0] in ("deferred", "bounced", "expired"):
                outside[d["opensmtpd.delivery.stat"][0]] = outside.get(d["opensmtpd.delivery.stat"][0], 0) + 1
        want = {r["key"]: r["count"] + outside.get(r["key"], 0) for r in self.rep["top_reasons"]}
        self.assertEqual(got, want)
        self.figures.append(f"top_reasons {len(got)} rows agree")

    def test_bounces_generated(self):
        # The report counts null-sender envelopes smtpd queued through a
        # local session ("smtp envelope" lines); the panel, distinct messages
        # with the null sender among the delivery lines.  The same here: every
        # bounce of the run was smtpd's and got a delivery line, and no bounce
        # came from outside (one would count in the panel only).
        got = metric_of(panel("Bounces generated", self.docs))
        self.assertEqual(got, self.rep["bounces_generated"])
        self.figures.append(f"bounces_generated {got} = {self.rep['bounces_generated']}")

    def test_delay(self):
        # The panel reads delay=, whole seconds from the envelope's creation,
        # truncated; the report times the smtp-in tx-commit to the delivery
        # in microseconds.  They agree to the second: each report figure lies
        # in [panel, panel + 1 s).
        (med, p90, mx), = panel("Delivery delay", self.docs).values()
        rd = self.rep["delay_seconds"]
        for name, p, r in (("median", med, rd["median"]), ("p90", p90, rd["p90"]), ("max", mx, rd["max"])):
            with self.subTest(figure=name):
                self.assertLessEqual(p / NS, r)
                self.assertLess(r, p / NS + 1)
        self.figures.append(f"delay median/p90/max {med / NS:g}/{p90 / NS:g}/{mx / NS:g} s (report "
                            f"{rd['median']}/{rd['p90']}/{rd['max']} s)")



class ElasticsearchComputes(unittest.TestCase):
    """The same panels computed by a real Elasticsearch node (esnode: ES_URL,
    a node started by hand, or one started here) over the same documents,
    indexed through the delivery index template into a data stream: the
    request Kibana sends (kibana_request), answered by the node, must equal
    the evaluator key for key.  pipeline=_none: the node has no ingest
    processors; the documents carry what the pipeline's twin adds."""

    @classmethod
    def setUpClass(cls):
        import esnode
        import test_es_panels as tep
        cls.tep, cls.esnode = tep, esnode
        esnode.url()
        template = json.loads((REPO / "elasticsearch" / "delivery-index-template.json").read_text())
        esnode.request("PUT", "_index_template/logs-opensmtpd.delivery", template)
        stamp = time.strftime("%H%M%S")
        cls.index, cls.types, cls.docs = {}, {}, {}
        for name, raw in list(corpora()) + [("samples", sample_lines())]:
            index = f"logs-opensmtpd.delivery-panels{re.sub(r'[^a-z0-9]', '', name)}{stamp}"
            lines = []
            for d in documents_of(raw):
                lines += ['{"create":{}}', json.dumps(tep.source_of(d))]
            _, answer = esnode.request("POST", f"{index}/_bulk?pipeline=_none&refresh=true",
                                       ndjson="\n".join(lines) + "\n")
            errors = [i for i in answer["items"] if i["create"].get("error")]
            assert not errors, json.dumps(errors[:3])
            _, mapping = esnode.request("GET", f"{index}/_mapping")
            (m,) = mapping.values()
            cls.types[name] = {k: v.get("type", "object") for k, v in
                               tep.flatten_mapping(m["mappings"]["properties"]).items()}
            cls.index[name], cls.docs[name] = index, list(documents_of(raw))
        cls.computed = 0

    @classmethod
    def tearDownClass(cls):
        print(f"\n  delivery panels computed by Elasticsearch: {cls.computed} (panel, log) pairs agree with the "
              "evaluator", file=sys.stderr)

    def test_every_delivery_panel(self):
        tep = self.tep
        for title, attrs in sorted(delivery_panels().items()):
            for name in self.index:
                with self.subTest(panel=title, log=name):
                    # EsPanels' request and comparison, on this class's index and types.
                    shim = type("Shim", (), {"types": {name: self.types[name]}, "index": {name: self.index[name]},
                                             "query": tep.EsPanels.query})()
                    layer, view = tep.EsPanels.lens(shim, attrs, name, None)
                    want = evaluate_lens(attrs, self.docs[name], types=delivery_types())
                    problems = tep.EsPanels.compare(shim, layer, {(k, False): v for (k, _), v in view.items()},
                                                    want, exhaustive=True)
                    self.assertEqual(problems, [], "\n".join(problems))
                    self.assertTrue(want)
                    self.computed += 1
                    type(self).computed = self.computed


if __name__ == "__main__":
    unittest.main()
