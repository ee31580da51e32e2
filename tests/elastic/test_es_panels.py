"""Every dashboard panel computed by a real Elasticsearch 8.14.1 node
(issue 18), compared with the evaluator of test_panels.py.

    python3 -m unittest tests/elastic/test_es_panels.py -v     (ES_URL: a running node; else one is started)

The documents are the evaluator's own (the report streams of tests/data and
tests/elastic/streams replayed with --events all and summaries, plus the
pipeline's additions made by its Python twin, since this node has no ingest
processors: see es/README.md), indexed through filter-jsonlog's index template
into one data stream per preset.  For each Lens panel kibana_request builds
what Kibana sends and the node answers twice:

* exhaustive: every terms aggregation large enough to hold every term.  This
  must equal the evaluator key for key and value for value; it is where the
  evaluator's model of buckets (arrays, missing values, ranges, minutes) and
  metrics meets Elasticsearch's.
* as shown: the panel's own terms sizes and Kibana's "Other" request.  Every
  bucket shown must have the evaluator's value; where the panel cuts its top
  N, the test says so (the evaluator has no top-N).

The panels whose figure `filter-jsonlog report --format json` also gives
(REPORT_FIGURES) must show the report's number.

At the end one line: `elastic-panels: N panels computed by Elasticsearch,
N agree, N differ`.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import esnode  # noqa: E402
from kibana_request import MISSING_KEY, OTHER_KEY, Layer, evaluator_key, kql_dsl  # noqa: E402
from test_elastic import TEMPLATE, flatten_mapping, kql_parse, lens_panels, saved_objects  # noqa: E402
import test_panels  # noqa: E402

PRESETS = ("all", "summaries")

# Panels whose figure `filter-jsonlog report --format json` has too, over the
# same documents: panel title -> the panel's rows as the report gives them.
# Where they may differ: unique counts once the report says exact: false
# (it keeps at most so many names) or above CARDINALITY_EXACT for
# Elasticsearch.
REPORT_FIGURES = {
    "Inbound sessions": lambda r: {(): (r["tls"]["smtp_in"]["tls"] + r["tls"]["smtp_in"]["plaintext"],)},
    "Messages accepted": lambda r: {(): (r["messages"]["accepted"],)},
    "Recipients accepted": lambda r: {(): (r["recipients"]["accepted"],)},
    "Recipients refused": lambda r: {(): (r["recipients"]["refused"],)},
    "Bytes accepted": lambda r: {(): (r["messages"]["bytes"],)},
    "Unique senders": lambda r: {(): (r["unique"]["senders"],)},
    "Unique recipients": lambda r: {(): (r["unique"]["recipients"],)},
    "Messages relayed (smtp-out)": lambda r: {(): (r["messages"]["relayed"],)},
    "Messages relayed": lambda r: {(): (r["messages"]["relayed"],)},
    "TLS vs plaintext sessions (smtp-in)": lambda r: {(True,): (r["tls"]["smtp_in"]["tls"],),
                                                      (False,): (r["tls"]["smtp_in"]["plaintext"],)},
    "TLS versions (smtp-in)": lambda r: {(v["key"],): (v["count"],) for v in r["tls"]["smtp_in"]["versions"]},
    "TLS versions (smtp-out)": lambda r: {(v["key"],): (v["count"],) for v in r["tls"]["smtp_out"]["versions"]},
}
EXHAUSTIVE = 10_000
# Above this many distinct values, cardinality is an estimate
# (precision_threshold's default).
CARDINALITY_EXACT = 3000


def source_of(flat: dict) -> dict:
    return {k: (v[0] if len(v) == 1 else v) for k, v in flat.items()}


STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z$")


def millis_text(v):
    """A date as Elasticsearch keeps it (a `date` field holds milliseconds):
    the evaluator's microseconds cut to milliseconds."""
    m = STAMP.match(v) if isinstance(v, str) else None
    return f"{m.group(1)}.{((m.group(2) or '.') + '000')[1:4]}Z" if m else v


def close(a, b) -> bool:
    a, b = millis_text(a), millis_text(b)
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


class EsPanels(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.url = esnode.url()
        esnode.request("PUT", "_index_template/logs-opensmtpd.jsonlog", json.loads(TEMPLATE.read_text()))
        stamp = time.strftime("%H%M%S")
        cls.docs, cls.index, cls.types = {}, {}, {}
        for preset in PRESETS:
            docs = test_panels.documents(preset)
            index = f"logs-opensmtpd.jsonlog-panels{preset}{stamp}"
            lines = []
            for d in docs:
                lines.append('{"create":{}}')
                lines.append(json.dumps(source_of(d)))
            # pipeline=_none: the node cannot run the ingest pipeline; the
            # documents already carry what its Python twin adds.
            _, answer = esnode.request("POST", f"{index}/_bulk?pipeline=_none&refresh=true",
                                       ndjson="\n".join(lines) + "\n")
            errors = [i for i in answer["items"] if i["create"].get("error")]
            assert not errors, json.dumps(errors[:3])
            _, mapping = esnode.request("GET", f"{index}/_mapping")
            (m,) = mapping.values()
            cls.types[preset] = {k: v.get("type", "object") for k, v in
                                 flatten_mapping(m["mappings"]["properties"]).items()}
            cls.docs[preset], cls.index[preset] = docs, index
        cls.results, cls.not_computed = [], []

    @classmethod
    def tearDownClass(cls):
        if not cls.results:
            return
        sys.stderr.flush()
        print()  # unittest's dots have no newline yet
        agree = sum(1 for r in cls.results if r[1])
        differ = len(cls.results) - agree
        for title, ok, notes in cls.results:
            for note in notes:
                print(f"  {'' if ok else 'DIFFERS '}{title}: {note}")
        for note in cls.not_computed:
            print(f"  not computed: {note}")
        print(f"elastic-panels: {len(cls.results)} panels computed by Elasticsearch, {agree} agree, {differ} differ")

    def query(self, kql: str) -> dict:
        return kql_dsl(kql_parse(kql)) if kql.strip() else {"match_all": {}}

    def lens(self, attrs: dict, preset: str, size_override):
        (layer_state,) = attrs["state"]["datasourceStates"]["formBased"]["layers"].values()
        layer = Layer(layer_state, self.types[preset], size_override=size_override)
        # The evaluator's key order: its reading order where it has one.
        order = test_panels.reading_order(attrs, layer_state) if hasattr(test_panels, "reading_order") else None
        other_label = getattr(test_panels, "OTHER", OTHER_KEY)
        query = self.query(attrs["state"]["query"]["query"])
        answer = esnode.search(self.index[preset], {"size": 0, "track_total_hits": True, "query": query,
                                                    "aggs": layer.aggs()})
        aggs = answer.get("aggregations", {})
        total = answer["hits"]["total"]["value"]
        # A metric alone over no document: Lens shows no number (0 or empty
        # by emptyAsNull), the evaluator no row.
        rows = layer.rows(aggs) if layer.buckets else \
            [((), layer.metric_values(dict(aggs, doc_count=total)), None)] if total else []
        others = []
        for cid, level, body, prefixes in layer.other_requests(aggs):
            other = esnode.search(self.index[preset], {"size": 0, "query": query, "aggs": {"other-filter": body}})
            others.extend(layer.other_rows(cid, level, other["aggregations"]["other-filter"], prefixes))
        got = {}
        for prefix, values, _ in rows + others:
            key = tuple(test_panels.MISSING if k == MISSING_KEY else other_label if k == OTHER_KEY else k
                        for k in evaluator_key(layer, prefix, order))
            got[(key, any(k == OTHER_KEY for _, k in prefix))] = \
                tuple(values[m] for m in layer.metrics)
        return layer, got

    def compare(self, layer: Layer, got: dict, want: dict, exhaustive: bool) -> list:
        problems = []
        shown = {k: v for (k, other), v in got.items() if not other}
        if exhaustive:
            for k in sorted(set(want) - set(shown), key=repr)[:5]:
                problems.append(f"evaluator has bucket {k!r} = {want[k]!r}, Elasticsearch none")
            for k in sorted(set(shown) - set(want), key=repr)[:5]:
                problems.append(f"Elasticsearch has bucket {k!r} = {shown[k]!r}, evaluator none")
        for k in sorted(set(shown) & set(want), key=repr):
            for cid, a, b in zip(layer.metrics, shown[k], want[k]):
                op = layer.cols[cid]["operationType"]
                if close(a, b):
                    continue
                if op == "sum" and b is None and a == 0:
                    continue  # a sum over no values: 0 from Elasticsearch, empty in Lens (emptyAsNull)
                if op == "unique_count" and isinstance(b, int) and b > CARDINALITY_EXACT:
                    continue
                problems.append(f"bucket {k!r} {op}: Elasticsearch {a!r}, evaluator {b!r}")
        return problems

    def test_every_lens_panel(self):
        # An evaluator with Kibana's top-N and Other (test_panels.OTHER) is
        # compared with what Kibana shows; one without, with every bucket.
        top_n = hasattr(test_panels, "OTHER")
        for dash, panel, attrs in lens_panels():
            title = f"{dash['attributes']['title']} / {panel['title']}"
            notes, ok = [], True
            if "formBased" not in attrs["state"]["datasourceStates"] or \
                    not attrs["state"]["datasourceStates"]["formBased"].get("layers"):
                # ES|QL (textBased) is X-Pack: not on this node.
                self.not_computed.append(f"{title}: ES|QL, which this node does not have (X-Pack)")
                continue
            for preset in PRESETS:
                with self.subTest(panel=title, preset=preset):
                    want = test_panels.evaluate_lens(attrs, self.docs[preset])
                    layer, view = self.lens(attrs, preset, None)
                    if top_n:
                        problems = self.compare(layer, {(k, False): v for (k, _), v in view.items()}, want,
                                                exhaustive=True)
                    else:
                        _, full = self.lens(attrs, preset, EXHAUSTIVE)
                        problems = self.compare(layer, full, want, exhaustive=True)
                        problems += [f"as shown: {p}" for p in self.compare(layer, view, want, exhaustive=False)]
                    cut = {k for (k, other), _ in view.items() if other}
                    if cut and top_n:
                        notes.append(f"{preset}: top-N cut, Other computed by Kibana's second request")
                    elif cut:
                        hidden = len(want) - sum(1 for (k, other) in view if not other)
                        notes.append(f"{preset}: top-N cut, {hidden} of {len(want)} buckets in Other "
                                     "(the evaluator has no top-N; shown buckets agree)")
                    if any(layer.cols[c]["operationType"] == "unique_count" for c in layer.metrics) and \
                            any(isinstance(v, int) and v > CARDINALITY_EXACT for vs in want.values() for v in vs):
                        notes.append(f"{preset}: unique count above {CARDINALITY_EXACT}: an estimate")
                    if problems:
                        ok = False
                        notes += [f"{preset}: {p}" for p in problems]
                    self.assertEqual(problems, [], "\n".join(problems))
            self.results.append((title, ok, notes))

    def report(self, preset: str) -> dict:
        """filter-jsonlog report --format json over the documents of one preset."""
        with tempfile.TemporaryDirectory() as tmp:
            files = []
            for i, path in enumerate(test_panels.streams()):
                f = Path(tmp, f"{i}.json")
                f.write_bytes(b"".join(json.dumps(d).encode() + b"\n" for d in test_panels.replay(path, preset)))
                files.append(str(f))
            proc = subprocess.run([str(test_panels.filter_binary()), "report", "--format", "json", *files],
                                  capture_output=True, check=True)
        return json.loads(proc.stdout)

    def test_report_has_the_same_figures(self):
        seen = set()
        for preset in PRESETS:
            report = self.report(preset)
            for dash, panel, attrs in lens_panels():
                if panel["title"] not in REPORT_FIGURES:
                    continue
                seen.add(panel["title"])
                with self.subTest(panel=panel["title"], preset=preset):
                    _, got = self.lens(attrs, preset, EXHAUSTIVE)
                    got = {k: v for (k, other), v in got.items()}
                    if not got and preset == "summaries":
                        continue  # a panel of --events all documents
                    want = REPORT_FIGURES[panel["title"]](report)
                    if panel["title"].startswith("Unique") and not report["unique"]["exact"]:
                        continue
                    want = {k: v for k, v in want.items() if v != (0,)}
                    self.assertEqual({k: tuple(int(x) if isinstance(x, float) and x.is_integer() else x
                                               for x in v) for k, v in got.items()}, want,
                                     f"Elasticsearch against the report ({preset})")
        print(f"\n  {len(seen)} panels checked against filter-jsonlog report --format json")
        self.assertEqual(seen, set(REPORT_FIGURES), "REPORT_FIGURES names a panel that no longer exists")

    def test_missing_bucket_on_a_number_field(self):
        """Kibana sends `missing` only for string fields: on a number field,
        with the missing bucket asked for, documents without the field are
        not a bucket of their own (they fall into Other).  No dashboard panel
        does this today; an evaluator that gives them a bucket is wrong, and
        this says so: it must differ from Elasticsearch without Kibana's
        top-N model (main's evaluator before issue 19) and agree with it."""
        attrs = {"visualizationType": "lnsDatatable",
                 "state": {"query": {"query": "event.action : *", "language": "kuery"},
                           "visualization": {"columns": [{"columnId": "code"}, {"columnId": "n"}]},
                           "datasourceStates": {"formBased": {"layers": {"l": {
                               "columnOrder": ["code", "n"],
                               "columns": {
                                   "code": {"operationType": "terms", "sourceField": "opensmtpd.response_code",
                                            "isBucketed": True, "dataType": "number",
                                            "params": {"size": 3, "orderBy": {"type": "column", "columnId": "n"},
                                                       "orderDirection": "desc", "otherBucket": True,
                                                       "missingBucket": True}},
                                   "n": {"operationType": "count", "sourceField": "___records___",
                                         "isBucketed": False, "params": {}}}}}}}}}
        top_n = hasattr(test_panels, "OTHER")
        layer, got = self.lens(attrs, "all", None if top_n else EXHAUSTIVE)
        self.assertNotIn((test_panels.MISSING,), {k for k, _ in got}, "Elasticsearch made a missing bucket")
        want = test_panels.evaluate_lens(attrs, self.docs["all"])
        problems = self.compare(layer, {(k, False): v for (k, _), v in got.items()} if top_n else got, want,
                                exhaustive=True)
        if top_n:
            self.assertEqual(problems, [])
        else:
            self.assertTrue(any("(missing value)" in p for p in problems),
                            "the evaluator without Kibana's top-N gives a number field a missing bucket: "
                            f"expected that difference, got {problems}")
            print("\n  evaluator wrong (main's): a missing bucket on a number field, which Kibana never asks for: "
                  + "; ".join(p for p in problems if "(missing value)" in p))

    def test_every_map_layer(self):
        for obj in (o for o in saved_objects() if o["type"] == "map"):
            title = f"map / {obj['attributes']['title']}"
            layer = [la for la in json.loads(obj["attributes"]["layerListJSON"]) if la.get("query")][0]
            geo = layer["sourceDescriptor"]["geoField"]
            ok, notes = True, []
            for preset in PRESETS:
                with self.subTest(map=title, preset=preset):
                    want = test_panels.evaluate_map(obj, self.docs[preset])
                    query = {"bool": {"filter": [self.query(layer["query"]["query"]), {"exists": {"field": geo}}]}}
                    _, n = esnode.request("POST", f"{self.index[preset]}/_count", {"query": query})
                    got = {(): (n["count"],)} if n["count"] else {}
                    if got != want:
                        ok = False
                        notes.append(f"{preset}: Elasticsearch {got}, evaluator {want}")
                    self.assertEqual(got, want)
            self.results.append((title, ok, notes))


if __name__ == "__main__":
    unittest.main()
