"""Checks of the Elastic stack assets against the schema and the filter's real output.

    python3 -m unittest discover -s tests/elastic -v      (from the repository root)

Needs Python 3.9+ and PyYAML (Debian: python3-yaml).  The replay checks run
the filter binary: $FILTER_JSONLOG_BIN, else target/debug/filter-jsonlog or
target/release/filter-jsonlog, else `cargo build` makes it.

What is checked:
  * schema/fields.json and elasticsearch/pipeline-fields.json: ECS fields have
    their ECS 9.4 type, custom fields live under opensmtpd.*, no name is
    listed twice or is both a field and an object;
  * elasticsearch/index-template.json and ingest-pipeline.json are what
    elasticsearch/generate.py makes; the template maps exactly schema ∪
    pipeline fields, each with its listed type; the pipeline only touches
    known fields and produces every pipeline field;
  * dashboards/: regenerated files match; the ndjson parses, ids are unique,
    every reference resolves inside the file; every Lens column names a known
    field of a fitting type; every panel's query starts with exactly one
    event.action clause and filters only on known fields;
  * filebeat/*.yml parse and use only options of Filebeat 8.15+/9.x (an
    allow-list written from the Filebeat reference and source), no deprecated
    input;
  * issue 13's structural points (Filebeat data_stream.*, no second copy of
    the document, timestamp precision, template auto-creation and version);
  * test_panels.py: every panel evaluated over replayed documents (both
    --events presets) equals the counts made from the raw report lines.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import os
import re
import subprocess
import unittest
from functools import lru_cache
from pathlib import Path

try:
    import yaml
except ImportError:  # pragma: no cover - reported as a failure below
    yaml = None

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SHARED = REPO.parent / "shared"

SCHEMA = REPO / "schema" / "fields.json"
PIPELINE_FIELDS = REPO / "elasticsearch" / "pipeline-fields.json"
SHIPPER_FIELDS = REPO / "elasticsearch" / "shipper-fields.json"
TEMPLATE = REPO / "elasticsearch" / "index-template.json"
PIPELINE = REPO / "elasticsearch" / "ingest-pipeline.json"
NDJSON = REPO / "dashboards" / "opensmtpd-jsonlog.ndjson"
BEATS_DIR = REPO / "dashboards" / "kibana" / "7"
FILEBEAT_DIR = REPO / "filebeat"
RSYSLOG_EXAMPLE = REPO / "examples" / "rsyslog.conf"

DATA_VIEW_ID = "opensmtpd-jsonlog"
DATA_VIEW_TITLE = "logs-opensmtpd.jsonlog-*"
DELIVERY_VIEW_ID = "opensmtpd-delivery"
DELIVERY_VIEW_TITLE = "logs-opensmtpd.delivery-*"
DELIVERY_DASHBOARD_ID = "opensmtpd-delivery-mail-log"
DATA_STREAM = "logs-opensmtpd.jsonlog-default"
PIPELINE_NAME = "logs-opensmtpd.jsonlog"

# event.action values the filter writes (schema/fields.json describes them).
KNOWN_ACTIONS = {
    "link-connect", "link-disconnect", "link-greeting", "link-identify", "link-tls", "link-auth",
    "tx-reset", "tx-begin", "tx-mail", "tx-rcpt", "tx-envelope", "tx-data", "tx-commit",
    "tx-rollback", "protocol-client", "protocol-server", "filter-report", "filter-response",
    "timeout", "session-expired", "session-evicted", "session-unfinished",
    "stats", "documents-dropped",
}
METRIC_ACTIONS = {"stats", "documents-dropped"}


# Intermediate fields of the pipeline (geoip's ASN names), renamed to ECS names.
PIPELINE_TRANSIENT = {"source.as.asn", "source.as.organization_name", "destination.as.asn",
                      "destination.as.organization_name"}

# geoip property name -> the leaf it writes under target_field.
GEOIP_PROPERTY_LEAF = {
    "continent_name": "continent_name", "country_iso_code": "country_iso_code",
    "country_name": "country_name", "region_iso_code": "region_iso_code",
    "region_name": "region_name", "city_name": "city_name", "location": "location",
    "asn": "asn", "organization_name": "organization_name",
}

# Lens operations and the field types they accept.
NUMERIC = {"long"}
LENS_OPS = {
    "date_histogram": {"date"},
    "terms": {"keyword", "ip", "long", "boolean"},
    "sum": NUMERIC, "max": NUMERIC | {"date"}, "min": NUMERIC, "average": NUMERIC, "median": NUMERIC,
    "unique_count": {"keyword", "ip", "long", "boolean", "date"},
    "range": NUMERIC,
}
LENS_DATA_TYPE = {"keyword": "string", "ip": "ip", "long": "number", "boolean": "boolean", "date": "date",
                  "constant_keyword": "string"}


# ---------------------------------------------------------------------------
# Loading.


def load_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


@lru_cache(maxsize=None)
def schema_types() -> dict:
    return {f["name"]: f["type"] for f in json.loads(SCHEMA.read_text())["fields"]}


@lru_cache(maxsize=None)
def pipeline_field_list() -> tuple:
    return tuple(json.loads(PIPELINE_FIELDS.read_text())["fields"])


@lru_cache(maxsize=None)
def pipeline_types() -> dict:
    return {f["name"]: f["type"] for f in pipeline_field_list()}


@lru_cache(maxsize=None)
def shipper_types() -> dict:
    return {f["name"]: f["type"] for f in json.loads(SHIPPER_FIELDS.read_text())["fields"]}


def known_types() -> dict:
    return {**schema_types(), **pipeline_types(), **shipper_types()}


def object_prefixes(names) -> set:
    out = set()
    for name in names:
        parts = name.split(".")
        for i in range(1, len(parts)):
            out.add(".".join(parts[:i]))
    return out


@lru_cache(maxsize=None)
def ecs_types() -> dict:
    for path in (REPO / "tests" / "data" / "ecs" / "fields-9.4.0.csv", SHARED / "ecs" / "fields-9.4.0.csv"):
        if path.exists():
            with path.open(newline="", encoding="utf-8") as fh:
                return {row["Field"]: row["Type"] for row in csv.DictReader(fh)}
    raise unittest.SkipTest("ECS 9.4.0 field list not found (tests/data/ecs or ../shared/ecs)")


@lru_cache(maxsize=None)
def saved_objects() -> tuple:
    objs = []
    for n, line in enumerate(NDJSON.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                objs.append(json.loads(line))
            except json.JSONDecodeError as e:  # pragma: no cover
                raise AssertionError(f"{NDJSON.name} line {n}: {e}")
    return tuple(objs)


def dashboards() -> list:
    return [o for o in saved_objects() if o["type"] == "dashboard"]


def is_esql(attrs: dict) -> bool:
    return bool(attrs["state"]["datasourceStates"].get("textBased", {}).get("layers"))


def lens_panels(view: str = DATA_VIEW_ID):
    """(dashboard, panel, lens attributes) for every Lens panel on the data
    view (formBased datasource); ES|QL panels are esql_panels().  The
    delivery data view's panels (view=DELIVERY_VIEW_ID) are
    tests/elastic/test_delivery_panels.py's."""
    for d in dashboards():
        for p in json.loads(d["attributes"]["panelsJSON"]):
            if p.get("type") == "lens" and not is_esql(p["embeddableConfig"]["attributes"]) \
                    and {r["id"] for r in p["embeddableConfig"]["attributes"]["references"]} == {view}:
                yield d, p, p["embeddableConfig"]["attributes"]


def esql_panels():
    """(dashboard, panel, lens attributes) for every Lens panel on an ES|QL query."""
    for d in dashboards():
        for p in json.loads(d["attributes"]["panelsJSON"]):
            if p.get("type") == "lens" and is_esql(p["embeddableConfig"]["attributes"]):
                yield d, p, p["embeddableConfig"]["attributes"]


def flatten_mapping(props: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in props.items():
        name = prefix + key
        if "properties" in value:
            out.update(flatten_mapping(value["properties"], name + "."))
        else:
            out[name] = value
    return out


# ---------------------------------------------------------------------------
# A small KQL evaluator: field : "value" | field : word | field : *, and, or,
# not, parentheses.  Enough for the dashboards' queries; anything else is a
# syntax error, so that the dashboards stay within what is checked here.

TOKEN = re.compile(r'\s*(?:(?P<lp>\()|(?P<rp>\))|(?P<colon>:)|(?P<cmp>>=|<=|>|<)|(?P<str>"(?:[^"\\]|\\.)*")|(?P<word>[^\s():"<>=]+))')


def kql_tokens(text: str) -> list:
    pos, out = 0, []
    text = text.strip()
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"KQL: cannot read {text[pos:]!r}")
        kind = m.lastgroup
        value = m.group(kind)
        if kind == "str":
            value = json.loads(value)
        out.append((kind, value))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def kql_parse(text: str):
    """-> AST: ("and"|"or", a, b) | ("not", a) | ("match", field, value)."""
    toks = kql_tokens(text)
    i = 0

    def peek_word(word):
        return i < len(toks) and toks[i][0] == "word" and toks[i][1].lower() == word

    def parse_or():
        nonlocal i
        node = parse_and()
        while peek_word("or"):
            i += 1
            node = ("or", node, parse_and())
        return node

    def parse_and():
        nonlocal i
        node = parse_not()
        while peek_word("and"):
            i += 1
            node = ("and", node, parse_not())
        return node

    def parse_not():
        nonlocal i
        if peek_word("not"):
            i += 1
            return ("not", parse_not())
        return parse_primary()

    def parse_primary():
        nonlocal i
        if i < len(toks) and toks[i][0] == "lp":
            i += 1
            node = parse_or()
            if i >= len(toks) or toks[i][0] != "rp":
                raise ValueError(f"KQL: missing ) in {text!r}")
            i += 1
            return node
        if i + 2 < len(toks) and toks[i][0] == "word" and toks[i + 1][0] == "colon" and toks[i + 2][0] in ("str", "word"):
            node = ("match", toks[i][1], toks[i + 2][1], toks[i + 2][0] == "str")
            i += 3
            return node
        if i + 2 < len(toks) and toks[i][0] == "word" and toks[i + 1][0] == "cmp" and toks[i + 2][0] == "word":
            node = ("range", toks[i][1], toks[i + 1][1], float(toks[i + 2][1]))
            i += 3
            return node
        raise ValueError(f"KQL: expected field : value at token {i} of {text!r}")

    ast = parse_or()
    if i != len(toks):
        raise ValueError(f"KQL: trailing tokens in {text!r}")
    return ast


def kql_fields(ast) -> list:
    if ast[0] in ("match", "range"):
        return [ast[1]]
    return [f for sub in ast[1:] for f in kql_fields(sub)]


def kql_eval(ast, flat: dict) -> bool:
    op = ast[0]
    if op == "and":
        return kql_eval(ast[1], flat) and kql_eval(ast[2], flat)
    if op == "or":
        return kql_eval(ast[1], flat) or kql_eval(ast[2], flat)
    if op == "not":
        return not kql_eval(ast[1], flat)
    if op == "range":
        _, field, cmp, bound = ast
        nums = [v for v in flat.get(field, []) if isinstance(v, (int, float)) and not isinstance(v, bool)]
        test = {">=": bound.__le__, ">": bound.__lt__, "<=": bound.__ge__, "<": bound.__gt__}[cmp]
        return any(test(v) for v in nums)
    _, field, value, quoted = ast
    values = flat.get(field, [])
    if value == "*" and not quoted:
        return bool(values)
    for v in values:
        text = ("true" if v else "false") if isinstance(v, bool) else str(v)
        if text == value:
            return True
    return False


# ---------------------------------------------------------------------------
# Replay of report streams through the filter, and the pipeline's additions.


def flatten_doc(doc, prefix: str = "", out: dict | None = None) -> dict:
    """Dotted leaf paths -> list of values (arrays and arrays of objects flattened)."""
    if out is None:
        out = {}
    if isinstance(doc, dict):
        for k, v in doc.items():
            flatten_doc(v, f"{prefix}{k}.", out)
    elif isinstance(doc, list):
        for v in doc:
            flatten_doc(v, prefix, out)
    elif doc is not None:
        out.setdefault(prefix[:-1], []).append(doc)
    return out


def domain_of(address):
    """Python twin of domainOf() in the pipeline's Painless script."""
    if isinstance(address, str):
        at = address.rfind("@")
        if at >= 0 and at + 1 < len(address):
            return address[at + 1:].lower()
    return None


def document_id(doc: dict):
    """Python twin of the pipeline's document-id script (Painless prints
    null as "null" and numbers in decimal)."""
    def text(v):
        return "null" if v is None else str(v)
    event = doc.get("event") or {}
    action = event.get("action")
    if not isinstance(action, str):
        return None
    host = (doc.get("host") or {}).get("name")
    sid = ((doc.get("opensmtpd") or {}).get("session") or {}).get("id")
    seq = event.get("sequence")
    if sid is not None and seq is not None:
        key = f"session|{text(host)}|{text(doc['opensmtpd'].get('subsystem'))}|{sid}|{seq}"
    elif event.get("kind") == "metric":
        key = f"metric|{text(host)}|{action}|{doc.get('@timestamp')}"
    else:
        return None
    return hashlib.sha256(key.encode()).hexdigest()


def replay_docs(stream: Path) -> list:
    proc = subprocess.run([str(filter_binary()), "replay", "--events", "all", str(stream)], capture_output=True,
                          check=True)
    return [json.loads(line) for line in proc.stdout.decode().splitlines() if line.strip()]


def filter_binary() -> Path:
    env = os.environ.get("FILTER_JSONLOG_BIN")
    if env:
        return Path(env)
    built = [p for p in (REPO / "target" / "debug" / "filter-jsonlog", REPO / "target" / "release" / "filter-jsonlog")
             if p.exists()]
    if built:
        return max(built, key=lambda p: p.stat().st_mtime)
    subprocess.run(["cargo", "build", "-q"], cwd=REPO, check=True)
    return REPO / "target" / "debug" / "filter-jsonlog"


def filter_mode_metrics(stream: Path, flat: bool = True) -> list:
    """Self-metrics documents: replay writes none, but the filter itself
    writes a stats document when its input ends.  Run it as smtpd would (the
    stream on stdin, protocol replies on stdout) with a file output."""
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "documents.json"
        with stream.open("rb") as stdin:
            proc = subprocess.run([str(filter_binary()), "--output", f"file:{out}"], stdin=stdin,
                                  capture_output=True, timeout=120, check=False)
        if proc.returncode != 0 or not out.exists():
            return []
        docs = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    return [flatten_doc(d) if flat else d for d in docs if d.get("event", {}).get("kind") == "metric"]


# ---------------------------------------------------------------------------


class FieldLists(unittest.TestCase):
    def test_pipeline_fields_are_not_filter_fields(self):
        overlap = set(schema_types()) & set(pipeline_types())
        self.assertEqual(overlap, set(), "written by the filter: belongs only in schema/fields.json")

    def test_no_field_is_also_an_object(self):
        names = set(known_types())
        clash = names & object_prefixes(names)
        self.assertEqual(clash, set(), "a name is both a field and a parent object")

    def test_ecs_fields_have_ecs_types(self):
        ecs = ecs_types()
        for name, typ in known_types().items():
            if name.startswith("opensmtpd."):
                self.assertNotIn(name, ecs)
                continue
            with self.subTest(field=name):
                self.assertIn(name, ecs, "not an ECS 9.4 field: custom fields go under opensmtpd.*")
                self.assertEqual(typ, ecs[name], "type differs from ECS 9.4")

    def test_pipeline_fields_name_their_inputs(self):
        for f in pipeline_field_list():
            for src in f["from"]:
                with self.subTest(field=f["name"], source=src):
                    self.assertIn(src, schema_types(), "derived from a field the filter does not write")


class IndexTemplate(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gen = load_module(REPO / "elasticsearch" / "generate.py", "es_generate")
        cls.template = json.loads(TEMPLATE.read_text())

    def test_committed_files_are_generated(self):
        for path, text in self.gen.outputs().items():
            with self.subTest(file=path.name):
                self.assertEqual(path.read_text(encoding="utf-8"), text,
                                 f"{path.name} is stale: run python3 elasticsearch/generate.py")

    def test_maps_every_field_with_its_type(self):
        mapped = flatten_mapping(self.template["template"]["mappings"]["properties"])
        self.assertEqual(set(mapped), set(known_types()), "template and schema ∪ pipeline fields differ")
        # A date field keeps milliseconds; the session start keeps the
        # filter's microseconds as date_nanos (issue 19 point 7).
        stored = {"opensmtpd.session.start": "date_nanos"}
        for name, typ in known_types().items():
            with self.subTest(field=name):
                self.assertEqual(mapped[name]["type"], stored.get(name, typ))
                if typ == "keyword":
                    self.assertEqual(mapped[name].get("ignore_above"), 1024)

    def test_addresses_lowercase(self):
        # Issue 19 point 7: addresses are case-insensitive in the panels and
        # controls, as the domains already are.
        mapped = flatten_mapping(self.template["template"]["mappings"]["properties"])
        for name in ("email.from.address", "email.to.address", "opensmtpd.refused_rcpts", "opensmtpd.rcpt.address"):
            with self.subTest(field=name):
                self.assertEqual(mapped[name].get("normalizer"), "lowercase")

    def test_auto_create_and_version(self):
        # The built-in logs template allows auto-creation; ours replaces it
        # for this pattern and must too (issue 13 point 9).
        self.assertIs(self.template.get("allow_auto_create"), True)
        self.assertIsInstance(self.template.get("version"), int)

    def test_data_stream_template(self):
        t = self.template
        self.assertEqual(t["index_patterns"], [DATA_VIEW_TITLE])
        self.assertEqual(t["data_stream"], {})
        self.assertGreater(t["priority"], 100, "must win over the built-in logs template (priority 100)")
        for comp in ("logs@mappings", "logs@settings", "ecs@mappings"):
            self.assertIn(comp, t["composed_of"])
        optional = set(t["composed_of"]) - {"logs@mappings", "logs@settings", "ecs@mappings"}
        self.assertEqual(optional, set(t["ignore_missing_component_templates"]))
        self.assertEqual(t["template"]["settings"]["index.default_pipeline"], PIPELINE_NAME)
        self.assertTrue(DATA_STREAM.startswith(DATA_VIEW_TITLE[:-1]))


class IngestPipeline(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pipeline = json.loads(PIPELINE.read_text())

    def processors(self):
        for proc in self.pipeline["processors"] + self.pipeline.get("on_failure", []):
            ((kind, body),) = proc.items()
            yield kind, body

    def referenced(self) -> set:
        refs = set()
        ctx = re.compile(r"ctx\.([A-Za-z_@][\w@]*(?:\??\.[A-Za-z_@][\w@]*)*)")
        mustache = re.compile(r"\{\{\{\s*([^}\s]+)\s*\}\}\}")
        for kind, body in self.processors():
            for key in ("field", "target_field", "copy_from"):
                if isinstance(body.get(key), str):
                    refs.add(body[key])
            for text in (body.get("if"), body.get("source"), body.get("value")):
                if isinstance(text, str):
                    refs.update(m.replace("?", "") for m in ctx.findall(text))
                    refs.update(mustache.findall(text))
        # _ingest.*, _index and _id are ingest metadata, not document fields.
        return {r for r in refs if not r.startswith("_ingest") and r not in ("_index", "_id")}

    def produced(self) -> set:
        out = set()
        assign = re.compile(r"ctx\.([\w.]+)\s*=[^=]")
        for kind, body in self.processors():
            if kind in ("set", "append"):
                out.add(body["field"])
            elif kind == "rename":
                out.add(body["target_field"])
            elif kind == "geoip":
                for prop in body["properties"]:
                    out.add(f"{body['target_field']}.{GEOIP_PROPERTY_LEAF[prop]}")
            elif kind == "script":
                out.update(assign.findall(body["source"]))
            elif kind == "convert":
                out.add(body["target_field"])
        return out - {"_id"}

    def test_only_known_fields(self):
        known = set(known_types()) | PIPELINE_TRANSIENT
        allowed = known | object_prefixes(known)
        for ref in sorted(self.referenced()):
            with self.subTest(field=ref):
                self.assertIn(ref, allowed, "pipeline touches a field that is neither in the schema nor in pipeline-fields.json")

    def test_produces_every_pipeline_field(self):
        produced = self.produced()
        for name in pipeline_types():
            with self.subTest(field=name):
                self.assertIn(name, produced)
        renamed = {body["field"] for kind, body in self.processors() if kind == "rename"}
        self.assertEqual(PIPELINE_TRANSIENT, renamed & PIPELINE_TRANSIENT, "transient fields must be renamed away")
        stray = produced - set(known_types()) - PIPELINE_TRANSIENT - object_prefixes(known_types())
        self.assertEqual(stray, set(), "pipeline writes fields missing from pipeline-fields.json")

    def test_enrichment(self):
        geo = [b for k, b in self.processors() if k == "geoip"]
        # City and ASN of the smtp-in client and of the smtp-out remote server.
        self.assertEqual(sorted((b["field"], b["database_file"]) for b in geo),
                         [("destination.ip", "GeoLite2-ASN.mmdb"), ("destination.ip", "GeoLite2-City.mmdb"),
                          ("source.ip", "GeoLite2-ASN.mmdb"), ("source.ip", "GeoLite2-City.mmdb")])
        for b in geo:
            sub = "smtp-in" if b["field"] == "source.ip" else "smtp-out"
            self.assertIn(f"ctx.opensmtpd?.subsystem == '{sub}'", b["if"], "GeoIP only of the remote party")
        for name in ("event.ingested", "ecs.version", "related.ip", "related.user", "related.hosts",
                     "opensmtpd.from_domain", "opensmtpd.to_domains", "opensmtpd.rcpt_domain",
                     "opensmtpd.refused_rcpts", "opensmtpd.refused_domains"):
            self.assertIn(name, self.produced())

    def test_data_stream_fields_from_the_stream_name(self):
        # Issue 19 point 7: data_stream.* always from the data stream really
        # written (constant_keyword: a shipper's other value would get the
        # document rejected), not only when the shipper left them out.
        scripts = [b["source"] for k, b in self.processors() if k == "script" and "ctx._index" in b["source"]]
        self.assertEqual(len(scripts), 1)
        self.assertNotIn("== null", scripts[0])
        for part, expr in (("type", "name.substring(0, first)"), ("dataset", "name.substring(first + 1, last)"),
                           ("namespace", "name.substring(last + 1)")):
            self.assertIn(f"ctx.data_stream.{part} = {expr};", scripts[0])

    def test_related_names_only_the_remote_party(self):
        # Issue 19 point 7: our own address and HELO name would be on every
        # document; related.* carry the client (smtp-in) or the remote
        # server (smtp-out) only.
        remote = {"smtp-in": {"source.ip", "source.domain", "opensmtpd.helo.name", "user.name"},
                  "smtp-out": {"destination.ip", "destination.domain", "opensmtpd.greeting"}}
        seen = set()
        for kind, body in self.processors():
            if kind == "append" and body["field"].startswith("related."):
                src = body["value"].strip("{}")
                m = re.match(r"ctx\.opensmtpd\?\.subsystem == '(smtp-in|smtp-out)' && ", body.get("if", ""))
                with self.subTest(field=body["field"], source=src):
                    self.assertIsNotNone(m, "related.* must say which subsystem's party it names")
                    self.assertIn(src, remote[m.group(1)])
                    seen.add(src)
        self.assertEqual(seen, remote["smtp-in"] | remote["smtp-out"])

    def test_no_geoip_label(self):
        # Issue 19 point 5: private, loopback and CGNAT clients get a label
        # instead of dropping out of the country panels.
        sets = {b["field"]: b for k, b in self.processors() if k == "set" and "geo" in b.get("tag", "") or
                k == "set" and b.get("tag", "").endswith("-no-asn")}
        for side, sub in (("source", "smtp-in"), ("destination", "smtp-out")):
            for field in (f"{side}.geo.country_name", f"{side}.as.organization.name"):
                with self.subTest(field=field):
                    self.assertIn(field, sets)
                    self.assertEqual(sets[field]["value"], "(no GeoIP: private or unknown)")
                    self.assertIn(f"subsystem == '{sub}'", sets[field]["if"])
                    self.assertIn(field.replace(".", "?."), sets[field]["if"])
                    self.assertIn("== null", sets[field]["if"])
        # After the geoip processors that would have set them.
        order = [b.get("tag") for k, b in self.processors()]
        self.assertLess(order.index("source-as-organization"), order.index("source-no-geoip"))
        self.assertLess(order.index("destination-as-organization"), order.index("destination-no-geoip"))

    def test_document_id(self):
        # Issue 19 point 8: a deterministic _id, so that a line Filebeat
        # delivers twice is a version conflict, not a second document.  The
        # twin below must agree with the Painless script; every document of
        # every stream gets its own id, and a replay gives the same ids.
        (script,) = [b["source"] for k, b in self.processors() if k == "script" and b.get("tag") == "document-id"]
        for part in ("ctx.host?.name", "ctx.opensmtpd.subsystem", "ctx.opensmtpd?.session?.id",
                     "ctx.event?.sequence", "ctx['@timestamp']", "key.sha256()", "ctx._id = "):
            self.assertIn(part, script)
        order = [b.get("tag") for k, b in self.processors()]
        self.assertLess(order.index("document-id"), order.index("logs-custom"))
        streams = sorted((REPO / "tests" / "data" / "captured").glob("*.txt")) + \
            sorted((HERE / "streams").glob("*.txt"))
        ids = {}
        for stream in streams:
            for doc in replay_docs(stream):
                doc.setdefault("host", {})["name"] = stream.stem
                i = document_id(doc)
                self.assertIsNotNone(i, doc)
                self.assertNotIn(i, ids, f"{stream.name}: two documents with one _id")
                ids[i] = doc
            again = [document_id({**doc, "host": {"name": stream.stem}}) for doc in replay_docs(stream)]
            self.assertTrue(all(i in ids for i in again))
        metrics = filter_mode_metrics(streams[0], flat=False)
        self.assertTrue(metrics)
        for m in metrics:
            m["host"] = {"name": "mx"}
        mids = {document_id(m) for m in metrics}
        self.assertNotIn(None, mids)
        self.assertEqual(len(mids), len(metrics))
        self.assertIsNone(document_id({"message": "not json", "error": {"message": "x"}}))

    def test_domain_twin(self):
        self.assertEqual(domain_of("Bob@Example.ORG"), "example.org")
        self.assertEqual(domain_of("a@b@c.example"), "c.example")
        for bad in ("", "postmaster", "x@", None, 5):
            self.assertIsNone(domain_of(bad))


class Dashboards(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gen = load_module(REPO / "dashboards" / "generate.py", "kb_generate")

    def test_committed_files_are_generated(self):
        files = self.gen.outputs()
        for path, text in files.items():
            with self.subTest(file=str(path.relative_to(REPO))):
                self.assertTrue(path.exists(), "missing: run python3 dashboards/generate.py")
                self.assertEqual(path.read_text(encoding="utf-8"), text,
                                 "stale: run python3 dashboards/generate.py")
        extra = [p for p in BEATS_DIR.rglob("*") if p.is_file() and p not in files]
        self.assertEqual(extra, [], "files in dashboards/kibana/7 that generate.py does not make")

    def test_ndjson_objects(self):
        objs = saved_objects()
        self.assertTrue(objs)
        ids = [o["id"] for o in objs]
        self.assertEqual(len(ids), len(set(ids)), "saved-object ids must be unique")
        by_key = {(o["type"], o["id"]) for o in objs}
        for o in objs:
            for key in ("id", "type", "attributes", "references", "coreMigrationVersion", "typeMigrationVersion"):
                self.assertIn(key, o)
            for ref in o["references"]:
                with self.subTest(obj=o["id"], ref=ref["name"]):
                    self.assertIn((ref["type"], ref["id"]), by_key, "reference to an object not in the file")
        names = [(o["id"], r["name"]) for o in objs for r in o["references"]]
        self.assertEqual(len(names), len(set(names)), "reference names must be unique per object")

    def test_data_view(self):
        views = [o for o in saved_objects() if o["type"] == "index-pattern"]
        self.assertEqual([v["id"] for v in views], [DATA_VIEW_ID, DELIVERY_VIEW_ID])
        self.assertEqual(views[1]["attributes"]["title"], DELIVERY_VIEW_TITLE)
        attrs = views[0]["attributes"]
        self.assertEqual(attrs["title"], DATA_VIEW_TITLE)
        self.assertEqual(schema_types()[attrs["timeFieldName"]], "date")
        for field in json.loads(attrs["fieldFormatMap"]):
            self.assertIn(field, known_types())
        for key in ("fields", "runtimeFieldMap", "sourceFilters", "fieldAttrs", "typeMeta"):
            json.loads(attrs[key])

    def test_dashboards_present(self):
        titles = {d["attributes"]["title"] for d in dashboards()}
        for want in ("Overview", "TLS", "Senders and recipients", "Rejections and security", "Outbound",
                     "Messages and delivery", "Geography"):
            self.assertTrue(any(t.endswith(want) for t in titles), f"no {want} dashboard")
        for d in dashboards():
            json.loads(d["attributes"]["optionsJSON"])
            json.loads(d["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
            self.assertIsInstance(d["attributes"]["panelsJSON"], str)
        overview = next(d for d in dashboards() if d["attributes"]["title"].endswith("Overview"))
        queries = [a["state"]["query"]["query"] for d, p, a in lens_panels() if d is overview]
        self.assertTrue(any('event.kind : "metric"' in q for q in queries), "Overview needs a self-metrics panel")

    def test_panel_references_resolve(self):
        for d, p, attrs in lens_panels():
            pid = p["panelIndex"]
            top = {r["name"]: r for r in d["references"]}
            layers = attrs["state"]["datasourceStates"]["formBased"]["layers"]
            with self.subTest(dashboard=d["id"], panel=p["title"]):
                self.assertEqual(p["gridData"]["i"], pid)
                self.assertEqual({r["name"] for r in attrs["references"]},
                                 {f"indexpattern-datasource-layer-{lid}" for lid in layers})
                for ref in attrs["references"]:
                    self.assertEqual(ref["type"], "index-pattern")
                    self.assertEqual(ref["id"], DATA_VIEW_ID)
                    self.assertIn(f"{pid}:{ref['name']}", top, "panel reference missing from the dashboard")
                    self.assertEqual(top[f"{pid}:{ref['name']}"]["id"], ref["id"])
        for d in dashboards():
            pids = {p["panelIndex"] for p in json.loads(d["attributes"]["panelsJSON"])}
            controls = json.loads(d["attributes"]["controlGroupInput"]["panelsJSON"])
            for ref in d["references"]:
                head = ref["name"].split(":", 1)[0]
                if head.startswith("controlGroup_"):
                    self.assertIn(head[len("controlGroup_"):], controls, "reference to no control")
                    self.assertEqual(ref["name"].split(":", 1)[1], "optionsListDataView")
                    view = DELIVERY_VIEW_ID if d["id"] == DELIVERY_DASHBOARD_ID else DATA_VIEW_ID
                    self.assertEqual((ref["type"], ref["id"]), ("index-pattern", view))
                else:
                    self.assertIn(head, pids, "dashboard reference to no panel")
            for p in json.loads(d["attributes"]["panelsJSON"]):
                if p["type"] != "lens":
                    with self.subTest(dashboard=d["id"], panel=p["title"]):
                        self.assertIn(f"{p['panelIndex']}:{p['panelRefName']}", {r["name"] for r in d["references"]})

    def test_lens_columns_name_known_fields(self):
        types = known_types()
        for d, p, attrs in lens_panels():
            state = attrs["state"]
            for lid, layer in state["datasourceStates"]["formBased"]["layers"].items():
                cols = layer["columns"]
                self.assertEqual(sorted(layer["columnOrder"]), sorted(cols))
                for cid, col in cols.items():
                    with self.subTest(dashboard=d["id"], panel=p["title"], column=col["label"]):
                        op = col["operationType"]
                        if op == "count":
                            self.assertEqual(col["sourceField"], "___records___")
                            continue
                        self.assertIn(op, LENS_OPS, f"operation {op} not checked here")
                        field = col["sourceField"]
                        self.assertIn(field, types, "no such field in schema ∪ pipeline fields")
                        self.assertIn(types[field], LENS_OPS[op], f"{op} on a {types[field]} field")
                        if op in ("terms", "date_histogram"):
                            self.assertEqual(col["dataType"], LENS_DATA_TYPE[types[field]])
                        if op == "terms":
                            self.assertIn(col["params"]["orderBy"]["columnId"], cols)
            vis = state["visualization"]
            accessors = set(json.dumps(vis).split('"')) & set(
                cid for layer in state["datasourceStates"]["formBased"]["layers"].values() for cid in layer["columns"])
            for layer in state["datasourceStates"]["formBased"]["layers"].values():
                with self.subTest(dashboard=d["id"], panel=p["title"]):
                    self.assertEqual(accessors, set(layer["columns"]), "visualization and columns disagree")

    def test_every_panel_counts_one_event(self):
        # One event, or (tx-commit or tx-rollback): each transaction ends once.
        head = re.compile(r'^(?:event\.action : "([a-z-]+)"|\(event\.action : "tx-commit" or event\.action : "tx-rollback"\))'
                          r'(?: and \((.+)\))?$')
        types = known_types()
        health = {p["title"]: self.gen.query_of(p) for dash, p in self.gen.chart_panels() if p.get("health")}
        # The pipeline-health panels count what is not a session document.
        self.assertEqual(set(health.values()), {"not event.action : * and error.message : *",
                                                'event.kind : "pipeline_error"',
                                                'event.kind : "event" or event.kind : "metric"'})
        for d, p, attrs in lens_panels():
            q = attrs["state"]["query"]
            with self.subTest(dashboard=d["id"], panel=p["title"]):
                self.assertEqual(q["language"], "kuery")
                self.assertEqual(attrs["state"]["filters"], [])
                if p["title"] in health:
                    self.assertEqual(q["query"], health[p["title"]])
                    continue
                m = head.match(q["query"])
                self.assertIsNotNone(m, f"query must start with one event.action clause: {q['query']!r}")
                self.assertIn(m.group(1) or "tx-commit", KNOWN_ACTIONS)
                ast = kql_parse(q["query"])
                fields = kql_fields(ast)
                self.assertEqual(fields.count("event.action"), 1 if m.group(1) else 2, "one event.action clause")
                for f in fields:
                    self.assertIn(f, types, "query filters on an unknown field")
                if m.group(1) and m.group(1) in METRIC_ACTIONS:
                    self.assertIn('event.kind : "metric"', q["query"])

    def test_filebeat_readme_events(self):
        # Issue 19 point 7: the --events value that feeds every panel, and
        # the number of dashboards, as the generator knows them.
        text = (REPO / "filebeat" / "README.md").read_text()
        needs = sorted({a for d, p in self.gen.chart_panels() if p["needs_all"]
                        for a in (p["action"] if isinstance(p["action"], tuple) else (p["action"],))})
        self.assertEqual(needs, ["filter-response", "protocol-server", "tx-rcpt"])
        self.assertIn("`--events summaries,tx-rcpt,protocol-server,filter-response`", text)
        # The delivery dashboard reads the mail log: --events does not matter to it.
        jsonlog = [d for d in dashboards() if d["id"] != DELIVERY_DASHBOARD_ID]
        self.assertIn(f"The {len(jsonlog)} dashboards", text)
        self.assertNotRegex(text, r"\b(five|six) dashboards")

    def test_beats_layout_matches_ndjson(self):
        for o in saved_objects():
            path = BEATS_DIR / o["type"] / f"{o['id']}.json"
            with self.subTest(file=str(path.relative_to(REPO))):
                self.assertEqual(json.loads(path.read_text()), o)


# ---------------------------------------------------------------------------
# Filebeat: allow-list of the options of Filebeat 8.15+ / 9.x that these files
# may use (from the Filebeat reference and libbeat/filebeat config structs).

FILEBEAT_TARGET = "Filebeat 8.15+ and 9.x"

GENERAL_INPUT = {"type", "id", "enabled", "tags", "fields", "fields_under_root", "processors", "pipeline",
                 "keep_null", "index", "publisher_pipeline.disable_host"}
FILESTREAM = GENERAL_INPUT | {
    "paths", "parsers", "encoding", "exclude_lines", "include_lines", "buffer_size", "message_max_bytes",
    "line_terminator", "prospector.scanner.check_interval", "prospector.scanner.exclude_files",
    "prospector.scanner.include_files", "prospector.scanner.symlinks", "prospector.scanner.recursive_glob",
    "prospector.scanner.fingerprint.enabled", "prospector.scanner.fingerprint.offset",
    "prospector.scanner.fingerprint.length", "file_identity.fingerprint", "file_identity.native",
    "file_identity.path", "file_identity.inode_marker.path", "close.on_state_change.inactive",
    "close.on_state_change.renamed", "close.on_state_change.removed", "close.on_state_change.check_interval",
    "close.reader.on_eof", "close.reader.after_interval", "clean_inactive", "clean_removed", "harvester_limit",
    "ignore_older", "ignore_inactive", "take_over.enabled", "take_over", "backoff.init", "backoff.max",
}
JOURNALD = GENERAL_INPUT | {
    "paths", "since", "seek", "cursor_seek_fallback", "include_matches.match", "include_matches.and",
    "include_matches.or", "units", "transports", "syslog_identifiers", "save_remote_hostname", "facilities",
    "parsers", "merge", "chroot", "journalctl_path",
}
INPUTS = {"filestream": FILESTREAM, "journald": JOURNALD}
DEPRECATED_INPUTS = {"log", "syslog", "container", "docker", "stdin"}

PARSERS = {
    "ndjson": {"target", "overwrite_keys", "expand_keys", "add_error_key", "message_key", "document_id",
               "ignore_decoding_error"},
    "syslog": {"format", "timezone", "log_errors", "add_error_key"},
    "multiline": {"type", "pattern", "negate", "match", "max_lines", "timeout", "count_lines", "skip_newline",
                  "flush_pattern"},
}
PROCESSOR_COMMON = {"when", "tag"}
PROCESSORS = {
    "decode_json_fields": {"fields", "process_array", "max_depth", "target", "overwrite_keys", "add_error_key",
                           "expand_keys", "document_id"},
    "drop_fields": {"fields", "ignore_missing"},
    "syslog": {"field", "format", "timezone", "overwrite_keys", "ignore_missing", "ignore_failure"},
    "add_fields": {"target", "fields"},
    "drop_event": set(),
    "add_locale": {"format"},
}
OUTPUT_ES = {"hosts", "index", "pipeline", "api_key", "username", "password", "protocol", "path", "headers",
             "ssl.certificate_authorities", "ssl.verification_mode", "ssl.certificate", "ssl.key",
             "compression_level", "worker", "bulk_max_size", "timeout", "proxy_url"}
TOP_LEVEL = {"filebeat.inputs", "setup.template.enabled", "setup.template.name", "setup.template.pattern",
             "setup.ilm.enabled", "setup.kibana.host", "setup.kibana.username", "setup.kibana.password",
             "setup.kibana.api_key", "setup.kibana.space.id", "setup.kibana.ssl.certificate_authorities",
             "setup.dashboards.enabled", "setup.dashboards.directory", "setup.dashboards.retry.enabled",
             "logging.level", "logging.to_files", "path.data", "path.logs"}
TOP_LEVEL |= {f"output.elasticsearch.{k}" for k in OUTPUT_ES}

COMMENTED_OPTION = re.compile(r"^(\s*)#([a-z_][a-z0-9_.]*:(\s.*)?)$")


def flat_keys(node, prefix="") -> dict:
    """Nested mapping -> {dotted key: value}; lists are leaves."""
    out = {}
    if isinstance(node, dict):
        for k, v in node.items():
            name = f"{prefix}{k}"
            if isinstance(v, dict) and v:
                out.update(flat_keys(v, name + "."))
            else:
                out[name] = v
    return out


def filebeat_files() -> list:
    return sorted(FILEBEAT_DIR.glob("*.yml"))


def load_yaml(text: str):
    if yaml is None:
        raise AssertionError("PyYAML is missing: apt-get install python3-yaml (or pip install pyyaml)")
    return yaml.safe_load(text)


class Filebeat(unittest.TestCase):
    def configs(self, uncomment: bool):
        for path in filebeat_files():
            text = path.read_text(encoding="utf-8")
            if uncomment:
                text = "\n".join(COMMENTED_OPTION.sub(r"\1\2", line) for line in text.splitlines())
            yield path, load_yaml(text)

    def test_files_exist(self):
        names = {p.name for p in filebeat_files()}
        self.assertTrue({"filebeat.yml", "filebeat-openbsd.yml", "filebeat-journald.yml"} <= names)

    def check_processors(self, where, procs):
        self.assertIsInstance(procs, list, where)
        for proc in procs:
            ((name, opts),) = proc.items()
            self.assertIn(name, PROCESSORS, f"{where}: processor {name}")
            for key in flat_keys(opts):
                top = key.split(".")[0]
                if name == "add_fields" and top == "fields":
                    continue  # the fields to add: free names
                self.assertTrue(key in PROCESSORS[name] or top in PROCESSOR_COMMON,
                                f"{where}: {name}.{key} is not a {FILEBEAT_TARGET} option")

    def test_only_known_options(self):
        # Commented-out options count too: an operator will uncomment them.
        for path, cfg in self.configs(uncomment=True):
            with self.subTest(file=path.name):
                self.assertIsInstance(cfg, dict)
                for key in flat_keys(cfg):
                    self.assertIn(key, TOP_LEVEL, f"{key} is not an option this check knows for {FILEBEAT_TARGET}")
                ids = []
                for inp in cfg["filebeat.inputs"]:
                    itype = inp.get("type")
                    self.assertNotIn(itype, DEPRECATED_INPUTS, f"deprecated input type {itype}")
                    self.assertIn(itype, INPUTS)
                    ids.append(inp.get("id"))
                    for key, value in flat_keys(inp).items():
                        self.assertIn(key, INPUTS[itype], f"{itype} input: unknown option {key}")
                    for parser in inp.get("parsers", []):
                        ((name, opts),) = parser.items()
                        self.assertIn(name, PARSERS, f"parser {name}")
                        for key in flat_keys(opts):
                            self.assertIn(key, PARSERS[name], f"{name} parser: unknown option {key}")
                    if "processors" in inp:
                        self.check_processors(f"{path.name} {itype}", inp["processors"])
                self.assertTrue(all(ids), "every input needs an id")
                self.assertEqual(len(ids), len(set(ids)))

    def test_output_and_setup(self):
        common = None
        for path, cfg in self.configs(uncomment=False):
            with self.subTest(file=path.name):
                self.assertEqual(cfg["output.elasticsearch"]["index"], DATA_STREAM)
                self.assertEqual(cfg["output.elasticsearch"]["pipeline"], PIPELINE_NAME)
                self.assertIs(cfg["setup.template.enabled"], False, "the template comes from elasticsearch/")
                self.assertEqual(cfg["setup.template.pattern"], DATA_VIEW_TITLE)
                self.assertIs(cfg["setup.ilm.enabled"], False)
                rest = {k: v for k, v in cfg.items() if k != "filebeat.inputs"}
                if common is None:
                    common = rest
                self.assertEqual(rest, common, "variants differ outside filebeat.inputs")

    def test_decoding(self):
        cfgs = {p.name: c for p, c in self.configs(uncomment=False)}
        main = cfgs["filebeat.yml"]["filebeat.inputs"][0]
        self.assertEqual(main["type"], "filestream")
        self.assertEqual([list(p) for p in main["parsers"]], [["ndjson"]])
        nd = main["parsers"][0]["ndjson"]
        self.assertEqual(nd["target"], "")
        self.assertIs(nd["add_error_key"], True)
        self.assertIs(nd["overwrite_keys"], True)
        if RSYSLOG_EXAMPLE.exists():
            m = re.search(r'type="omfile"\s+file="([^"]+)"', RSYSLOG_EXAMPLE.read_text())
            self.assertIsNotNone(m)
            self.assertEqual(main["paths"], [m.group(1)], "Filebeat must read the file examples/rsyslog.conf writes")
        bsd = cfgs["filebeat-openbsd.yml"]["filebeat.inputs"][0]
        self.assertEqual([list(p)[0] for p in bsd["parsers"]], ["syslog", "ndjson"])
        jd = cfgs["filebeat-journald.yml"]["filebeat.inputs"][0]
        self.assertEqual(jd["type"], "journald")
        self.assertIn("SYSLOG_IDENTIFIER=filter-jsonlog", jd["include_matches.match"])
        dj = next(p["decode_json_fields"] for p in jd["processors"] if "decode_json_fields" in p)
        self.assertEqual((dj["fields"], dj["target"]), (["message"], ""))

    def test_data_stream_fields(self):
        # Kibana's log views filter on data_stream.*: standalone Filebeat must
        # set them, naming the data stream it writes to (issue 13 point 7).
        for path, cfg in self.configs(uncomment=False):
            with self.subTest(file=path.name):
                for inp in cfg["filebeat.inputs"]:
                    # An input's own index (the delivery lines) wins over the output's.
                    index = inp.get("index", cfg["output.elasticsearch"]["index"])
                    want = dict(zip(("type", "dataset", "namespace"), index.split("-")))
                    added = [p["add_fields"] for p in inp.get("processors", []) if "add_fields" in p]
                    self.assertIn({"target": "data_stream", "fields": want}, added)

    def test_no_undecoded_copy(self):
        # A decoded document must not keep its JSON text in message as well
        # (issue 13 point 6): after a syslog parser or decode_json_fields the
        # text stays in message unless a drop_fields removes it.
        for path, cfg in self.configs(uncomment=False):
            for inp in cfg["filebeat.inputs"]:
                if inp.get("index", "").startswith("logs-opensmtpd.delivery-"):
                    continue  # mail log lines, not documents: message is what the pipeline parses
                with self.subTest(file=path.name):
                    parsers = [list(p)[0] for p in inp.get("parsers", [])]
                    procs = inp.get("processors", [])
                    if parsers == ["ndjson"]:
                        continue  # the parser replaces the line by the document
                    drops = [p["drop_fields"] for p in procs if "drop_fields" in p]
                    self.assertTrue(any(d["fields"] == ["message"] and d.get("when") == {"has_fields": ["event.dataset"]}
                                        for d in drops), "message must be dropped once decoded")

    def test_timestamp_precision_documented(self):
        # Filebeat sends @timestamp with milliseconds (issue 13 point 8).
        for path in filebeat_files():
            with self.subTest(file=path.name):
                text = path.read_text()
                self.assertIn("milliseconds", text)
                self.assertIn("event.sequence", text)


# ---------------------------------------------------------------------------


# load.sh then loads the delivery data stream's assets (tests/elastic/test_delivery.py).
DELIVERY_PUTS = ("/_ingest/pipeline/logs-opensmtpd.delivery", "/_index_template/logs-opensmtpd.delivery")
# With RETENTION: the delivery stream's own @custom component, before its template.
DELIVERY_RETENTION_PUTS = ("/_ingest/pipeline/logs-opensmtpd.delivery",
                           "/_component_template/logs-opensmtpd.delivery@custom",
                           "/_index_template/logs-opensmtpd.delivery")


class Retention(unittest.TestCase):
    """Issue 19 point 12: the documents hold addresses, client IPs and user
    names, and the built-in logs lifecycle never deletes.  load.sh offers a
    retention (data stream lifecycle, or ILM), and sends exactly the shipped
    bodies with the retention asked for (a local HTTP server stands in for
    Elasticsearch and records the requests)."""

    ES = REPO / "elasticsearch"

    def run_load(self, **env) -> list:
        import shutil
        import threading
        from http.server import BaseHTTPRequestHandler, HTTPServer
        if shutil.which("curl") is None:
            if os.environ.get("CI") == "true":
                self.fail("curl missing (CI=true)")
            self.skipTest("needs curl")
        seen = []

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                seen.append((self.command, self.path, json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"acknowledged":true}')

            def log_message(self, *args):
                pass

        server = HTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            full = {"PATH": os.environ["PATH"], "ES_URL": f"http://127.0.0.1:{server.server_port}", **env}
            proc = subprocess.run(["sh", str(self.ES / "load.sh")], env=full, capture_output=True, text=True,
                                  timeout=60)
        finally:
            server.shutdown()
            server.server_close()
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return seen

    def test_delivery_assets_loaded(self):
        seen = self.run_load()
        self.assertEqual(seen[-2][2], json.loads((REPO / "elasticsearch" / "delivery-pipeline.json").read_text()))
        self.assertEqual(seen[-1][2], json.loads((REPO / "elasticsearch" / "delivery-index-template.json").read_text()))

    def test_component_template_is_composed(self):
        t = json.loads(TEMPLATE.read_text())
        self.assertIn("logs-opensmtpd.jsonlog@custom", t["composed_of"])
        self.assertIn("logs-opensmtpd.jsonlog@custom", t["ignore_missing_component_templates"])

    def test_without_retention(self):
        seen = self.run_load()
        self.assertEqual([p for m, p, b in seen], ["/_ingest/pipeline/logs-opensmtpd.jsonlog",
                                                   "/_index_template/logs-opensmtpd.jsonlog",
                                                   *DELIVERY_PUTS])
        self.assertEqual(seen[0][2], json.loads(PIPELINE.read_text()))
        self.assertEqual(seen[1][2], json.loads(TEMPLATE.read_text()))

    def test_data_stream_lifecycle(self):
        seen = self.run_load(RETENTION="30d")
        self.assertEqual([p for m, p, b in seen], ["/_ingest/pipeline/logs-opensmtpd.jsonlog",
                                                   "/_component_template/logs-opensmtpd.jsonlog@custom",
                                                   "/_index_template/logs-opensmtpd.jsonlog",
                                                   *DELIVERY_RETENTION_PUTS])
        comp = seen[1][2]["template"]
        self.assertEqual(comp["lifecycle"], {"data_retention": "30d"})
        # logs@settings names the ILM policy "logs" (no delete phase), which
        # would otherwise take precedence over the data stream lifecycle.
        self.assertIs(comp["settings"]["index.lifecycle.prefer_ilm"], False)
        # The delivery lines hold the same addresses: the same retention,
        # in the component its template composes.
        self.assertEqual(seen[4][2], seen[1][2])
        self.assertIn("logs-opensmtpd.delivery@custom",
                      json.loads((self.ES / "delivery-index-template.json").read_text())["composed_of"])

    def test_ilm(self):
        seen = self.run_load(RETENTION="400d", RETENTION_MODE="ilm")
        self.assertEqual([p for m, p, b in seen], ["/_ingest/pipeline/logs-opensmtpd.jsonlog",
                                                   "/_ilm/policy/logs-opensmtpd.jsonlog",
                                                   "/_component_template/logs-opensmtpd.jsonlog@custom",
                                                   "/_index_template/logs-opensmtpd.jsonlog",
                                                   *DELIVERY_RETENTION_PUTS])
        phases = seen[1][2]["policy"]["phases"]
        self.assertEqual(phases["delete"], {"min_age": "400d", "actions": {"delete": {}}})
        self.assertIn("rollover", phases["hot"]["actions"])
        settings = seen[2][2]["template"]["settings"]
        self.assertEqual(settings["index.lifecycle.name"], "logs-opensmtpd.jsonlog")
        self.assertIs(settings["index.lifecycle.prefer_ilm"], True)
        self.assertEqual(seen[5][2], seen[2][2])

    def test_bad_retention_refused(self):
        for bad in ("90", "ninety", "9x"):
            with self.subTest(retention=bad):
                proc = subprocess.run(["sh", str(self.ES / "load.sh")],
                                      env={"PATH": os.environ["PATH"], "RETENTION": bad,
                                           "ES_URL": "http://127.0.0.1:9"}, capture_output=True, text=True)
                self.assertEqual(proc.returncode, 2)

    def test_readme_says_how_long(self):
        text = (self.ES / "README.md").read_text()
        self.assertIn("## Retention", text)
        for word in ("RETENTION=", "data_retention", "RETENTION_MODE=ilm", "_lifecycle"):
            self.assertIn(word, text)


class RsyslogExample(unittest.TestCase):
    """examples/rsyslog.conf writes the document exactly whether %msg% starts
    with the blank after the tag (the local socket) or not (imjournal gives
    the message alone).  A real rsyslogd reads both forms on a UDP input on
    127.0.0.1 (the syslog parser keeps the blank or not as the sender wrote
    it) with the shipped snippet, output path substituted."""

    def test_document_exact_with_or_without_leading_blank(self):
        import shutil
        import socket
        import tempfile
        import time
        rsyslogd = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
        if not os.access(rsyslogd, os.X_OK):
            if os.environ.get("CI") == "true":
                self.fail("rsyslogd missing (CI=true)")
            self.skipTest("needs rsyslogd")
        shipped = RSYSLOG_EXAMPLE.read_text()
        self.assertIn("/var/log/filter-jsonlog.json", shipped)
        docs = ['{"@timestamp":"2024-10-27T04:40:00.000000Z","event":{"action":"link-connect"}}',
                '{"event":{"action":"tx-commit"},"x":"a  b"}']
        with tempfile.TemporaryDirectory() as d:
            out = Path(d, "out.json")
            probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
            probe.close()
            conf = Path(d, "rsyslog.conf")
            conf.write_text(f'global(workDirectory="{d}" maxMessageSize="64k")\n'
                            'module(load="imudp")\n'
                            f'input(type="imudp" address="127.0.0.1" port="{port}")\n'
                            + shipped.replace("/var/log/filter-jsonlog.json", str(out)))
            proc = subprocess.Popen([rsyslogd, "-n", "-f", str(conf), "-i", str(Path(d, "pid"))],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                deadline = time.monotonic() + 10
                lines = []
                while time.monotonic() < deadline and len(lines) < 2:
                    # Resent until rsyslogd listens; duplicates are fine.
                    sock.sendto(f"<22>Nov 23 19:44:39 mx filter-jsonlog[123]: {docs[0]}".encode(), ("127.0.0.1", port))
                    sock.sendto(f"<22>Nov 23 19:44:39 mx filter-jsonlog[123]:{docs[1]}".encode(), ("127.0.0.1", port))
                    time.sleep(0.3)
                    lines = sorted(set(out.read_text().splitlines())) if out.exists() else []
                sock.close()
            finally:
                proc.terminate()
                proc.wait(timeout=10)
            self.assertEqual(lines, sorted(docs))


class SelfMetrics(unittest.TestCase):
    """The self-metrics panels count no report lines (test_panels.py skips
    them): the filter's own stats document must match them and carry their
    fields; documents-dropped needs an output outage, so its fields are
    checked against the schema's metric fields."""

    def test_metric_panels(self):
        stream = sorted((REPO / "tests" / "data" / "captured").glob("*.txt"))[0]
        docs = filter_mode_metrics(stream)
        self.assertTrue(docs, "the filter wrote no stats document at the end of its input")
        metric_fields = {f["name"] for f in json.loads(SCHEMA.read_text())["fields"]
                         if f["description"].startswith("Metric documents")}
        for d, p, attrs in lens_panels():
            q = attrs["state"]["query"]["query"]
            if 'event.kind : "metric"' not in q or not q.startswith("event.action"):
                continue
            ast = kql_parse(q)
            fields = [c["sourceField"] for layer in attrs["state"]["datasourceStates"]["formBased"]["layers"].values()
                      for c in layer["columns"].values() if not c["isBucketed"] and c["sourceField"] != "___records___"]
            with self.subTest(panel=p["title"]):
                for f in fields:
                    self.assertIn(f, metric_fields)
                matching = [doc for doc in docs if kql_eval(ast, doc)]
                if q.startswith('event.action : "stats"'):
                    self.assertTrue(matching, "the stats document does not match the panel")
                    for f in fields:
                        self.assertTrue(all(f in doc for doc in matching), f"{f} missing from the stats document")


if __name__ == "__main__":
    unittest.main()
