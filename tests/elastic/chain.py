"""The chain as a postmaster runs it: filter-jsonlog's JSON lines, shipped by
the real Filebeat with filebeat/filebeat.yml into a real Elasticsearch 8.14.1
node loaded as elasticsearch/README.md says (issue 18).

    E2E_KEEP_DIR=DIR python3 tests/elastic/chain.py -v

Not named test_*.py: tests/run.sh runs it after the end-to-end suites, whose
rsyslog files it ships (test_e2e.py keeps them in E2E_KEEP_DIR).  The runs:

* each smtpd of the e2e suites (Debian's 6.8.0p2, 7.8.0p1): rsyslog's file
  (--events all, as the e2e filter runs), and the recorded report stream
  replayed with --events summaries;
* the streams of tests/data and tests/elastic/streams, replayed with
  --events all and with --events summaries.

Filebeat runs filebeat/filebeat.yml with only these overridden, by flags:
output.elasticsearch.hosts (the node), filebeat.inputs.0.paths (the run's
files), --path.home/--path.data/--path.logs (a temporary directory), and
--strict.perms=false (a clone's file modes are not Filebeat's business).

One line per run:
    elastic-chain: OpenSMTPD 7.8.0p1 -> rsyslog -> Filebeat 9.3.0 -> Elasticsearch 8.14.1: N lines, N documents, 0 failures

The node (tests/elastic/es/README.md) has no ingest processor, so
elasticsearch/load.sh stops at the pipeline: the test checks that it stops for
exactly that reason, loads the index template with the same PUT, and holds
the pipeline's name with an empty pipeline (Filebeat names it).  What needs
the pipeline to run (Painless, GeoIP, the deterministic _id) is reported
skipped with that reason.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import esnode  # noqa: E402
from test_elastic import (  # noqa: E402
    PIPELINE, PIPELINE_NAME, REPO, TEMPLATE, DATA_STREAM, ecs_types, filter_binary, flatten_mapping, known_types, load_module,
)

sys.path.insert(0, str(Path(__file__).resolve().parent / "es"))
import stock_templates  # noqa: E402

CI = os.environ.get("CI") == "true"
FILEBEAT_BUILD = REPO / "tests" / "elastic" / "filebeat" / "build.sh"
FILEBEAT_YML = REPO / "filebeat" / "filebeat.yml"
STREAM_DIRS = (REPO / "tests" / "data" / "captured", REPO / "tests" / "data" / "generated",
               REPO / "tests" / "elastic" / "streams")
E2E_SMTPDS = ("OpenSMTPD 6.8.0p2", "OpenSMTPD 7.8.0p1")
# The node's stand-ins (es/README.md): the type a stock cluster would show,
# and the one this node shows.
STAND_IN = {"constant_keyword": "keyword", "wildcard": "keyword", "match_only_text": "text",
            "scaled_float": "double"}
SHIP_TIMEOUT = 180
# What Filebeat 9.3's filestream input adds beyond ECS and our three lists,
# mapped dynamically (ecs@mappings' strings rule, numbers as long): input.type
# and log.offset are in Filebeat's own fields.yml; the log.file identity
# fields are in no fields.yml at all.  A field not here and not in ECS fails.
FILEBEAT_FIELDS = {"input.type": "keyword", "log.offset": "long", "log.file.inode": "keyword",
                   "log.file.device_id": "keyword", "log.file.fingerprint": "keyword"}


def standin(t: str) -> str:
    return STAND_IN.get(t, t)


def replay(stream: Path, preset: str) -> bytes:
    proc = subprocess.run([str(filter_binary()), "replay", "--events", preset, str(stream)],
                          capture_output=True, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"replay {stream} exited {proc.returncode}: {proc.stderr[-2000:]!r}")
    return proc.stdout


def filebeat() -> tuple:
    """(binary, version) of the Filebeat tests/elastic/filebeat/build.sh builds
    (FILEBEAT_BIN: another binary)."""
    if os.environ.get("FILEBEAT_BIN"):
        binary = os.environ["FILEBEAT_BIN"]
        out = subprocess.run([binary, "version"], capture_output=True, text=True).stdout
        m = re.search(r"version (\S+)", out)
        return binary, (m.group(1) if m else "unknown")
    if not FILEBEAT_BUILD.exists():
        raise AssertionError(f"{FILEBEAT_BUILD} missing")
    proc = subprocess.run(["bash", str(FILEBEAT_BUILD)], capture_output=True, text=True)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines or not Path(lines[-1]).is_file():
        raise AssertionError(f"filebeat build.sh exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    binary = lines[-1]
    out = subprocess.run([binary, "version"], capture_output=True, text=True).stdout
    m = re.search(r"version (\S+)", out)
    return binary, (m.group(1) if m else "unknown")


class Run:
    def __init__(self, name: str, label: str, path: Path):
        self.name, self.label, self.path = name, label, path
        self.lines = sum(1 for line in path.read_bytes().split(b"\n") if line.strip())
        self.documents = None


class Chain(unittest.TestCase):
    runs: list = []

    @classmethod
    def setUpClass(cls):
        cls.url = esnode.url()
        try:
            cls.filebeat, cls.filebeat_version = filebeat()
        except AssertionError as e:
            if CI:
                raise
            raise unittest.SkipTest(f"no Filebeat: {e}")
        cls.tmp = Path(tempfile.mkdtemp(prefix="filter-jsonlog-chain-"))
        cls.load()
        cls.collect()
        cls.ship()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # -- set-up -------------------------------------------------------------

    @classmethod
    def load(cls):
        """elasticsearch/README.md's command, against the node."""
        # Only an index template's allow_auto_create may create our data stream.
        esnode.request("PUT", "_cluster/settings", {"persistent": {"action.auto_create_index": "false"}})
        proc = subprocess.run(["sh", str(REPO / "elasticsearch" / "load.sh")], capture_output=True, text=True,
                              env={**os.environ, "ES_URL": cls.url})
        cls.load_output = proc.stdout + proc.stderr
        cls.pipeline_loaded = proc.returncode == 0
        if not cls.pipeline_loaded:
            status, answer = esnode.request("PUT", f"_ingest/pipeline/{PIPELINE_NAME}",
                                            json.loads(PIPELINE.read_text()), ok=())
            reason = json.dumps(answer)
            cls.pipeline_refused = reason
            assert status == 400 and "No processor type exists with name" in reason, \
                f"load.sh failed, and not for want of processors:\n{cls.load_output}\n{reason}"
            # What load.sh would have done next, the same PUT.
            esnode.request("PUT", f"_index_template/{PIPELINE_NAME}", json.loads(TEMPLATE.read_text()))
            esnode.request("PUT", f"_ingest/pipeline/{PIPELINE_NAME}", {
                "description": "stand-in: this node has no ingest processors (tests/elastic/es/README.md)",
                "processors": []})

    @classmethod
    def collect(cls):
        inbox = cls.tmp / "in"
        inbox.mkdir()
        keep = os.environ.get("E2E_KEEP_DIR")
        cls.missing_e2e = []
        for smtpd in E2E_SMTPDS:
            slug = re.sub(r"[^A-Za-z0-9.]+", "-", smtpd).strip("-")
            rsyslog = Path(keep or "/nonexistent", f"{slug}.json")
            recorded = Path(keep or "/nonexistent", f"{slug}.stream")
            if not rsyslog.exists() or not recorded.exists():
                cls.missing_e2e.append(smtpd)
                continue
            shutil.copy(rsyslog, inbox / f"{slug}-all.json")
            cls.runs.append(Run(smtpd, f"{smtpd} -> rsyslog", inbox / f"{slug}-all.json"))
            (inbox / f"{slug}-summaries.json").write_bytes(replay(recorded, "summaries"))
            cls.runs.append(Run(smtpd, f"{smtpd} (recorded, replayed --events summaries)",
                                inbox / f"{slug}-summaries.json"))
        streams = sorted(p for d in STREAM_DIRS for p in d.glob("*.txt"))
        for preset in ("all", "summaries"):
            path = inbox / f"streams-{preset}.json"
            path.write_bytes(b"".join(replay(s, preset) for s in streams))
            cls.runs.append(Run("streams", f"{len(streams)} streams of tests/ (replayed --events {preset})", path))

    @classmethod
    def ship(cls):
        home = cls.tmp / "filebeat"
        home.mkdir()
        cmd = [cls.filebeat, "-e", "--strict.perms=false", "-c", str(FILEBEAT_YML),
               "--path.home", str(home), "--path.data", str(home / "data"), "--path.logs", str(home / "logs"),
               "-E", f"output.elasticsearch.hosts=[\"{cls.url}\"]",
               "-E", f"filebeat.inputs.0.paths=[\"{cls.tmp / 'in'}/*.json\"]",
               # The second input reads smtpd's delivery lines from the mail
               # log: never this machine's, and its pipeline needs ingest
               # processors this node lacks (tests/elastic/es/README.md).
               "-E", "filebeat.inputs.1.enabled=false"]
        t0 = time.monotonic()
        log = open(home / "stderr.log", "wb")
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=home)
        want = sum(r.lines for r in cls.runs)
        try:
            got, stable = -1, 0
            while time.monotonic() - t0 < SHIP_TIMEOUT:
                time.sleep(2)
                if proc.poll() is not None:
                    break
                esnode.request("POST", f"{DATA_STREAM}/_refresh", ok=(200, 404))
                _, n = esnode.request("POST", f"{DATA_STREAM}/_count", {"query": cls.in_files()}, ok=(200, 404))
                now = (n or {}).get("count", 0)
                # Done once every line is in and nothing more arrives.
                stable = stable + 1 if now == got and now >= want else 0
                got = now
                if stable >= 3:
                    break
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
            log.close()
        cls.ship_seconds = time.monotonic() - t0
        cls.filebeat_log = (home / "stderr.log").read_text(errors="replace")
        esnode.request("POST", f"{DATA_STREAM}/_refresh", ok=(200, 404))
        for r in cls.runs:
            _, n = esnode.request("POST", f"{DATA_STREAM}/_count",
                                  {"query": {"term": {"log.file.path": str(r.path)}}}, ok=(200, 404))
            r.documents = (n or {}).get("count", 0)

    @classmethod
    def in_files(cls) -> dict:
        return {"terms": {"log.file.path": [str(r.path) for r in cls.runs]}}

    # -- the tests ----------------------------------------------------------

    def test_0_versions_and_differences(self):
        print(f"\n  Filebeat {self.filebeat_version} ({self.filebeat}), Elasticsearch {esnode.ES_VERSION} at {self.url}")
        print("  differences from a stock cluster:")
        for d in stock_templates.DIFFERENCES:
            print(f"    - {d}")
        if not self.pipeline_loaded:
            print(f"  load.sh stopped at the pipeline: {self.pipeline_refused[:300]}")

    def test_filebeat_accepts_every_shipped_config(self):
        for yml in sorted((REPO / "filebeat").glob("*.yml")):
            with self.subTest(config=yml.name):
                proc = subprocess.run([self.filebeat, "test", "config", "--strict.perms=false", "-c", str(yml),
                                       "--path.home", str(self.tmp / "filebeat")], capture_output=True, text=True)
                self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
                self.assertIn("Config OK", proc.stdout)

    def test_e2e_files_present(self):
        if self.missing_e2e:
            why = (f"no e2e rsyslog file for {', '.join(self.missing_e2e)} in E2E_KEEP_DIR "
                   f"({os.environ.get('E2E_KEEP_DIR') or 'unset'})")
            if CI:
                self.fail(why + " (CI=true: a failure)")
            self.skipTest(why)

    def test_every_line_is_a_document(self):
        problems = []
        sys.stderr.flush()
        print()  # the lines below each on a line of their own, after unittest's "test ... "
        for r in self.runs:
            failures = self.failures(r)
            print(f"elastic-chain: {r.label} -> Filebeat {self.filebeat_version} -> Elasticsearch "
                  f"{esnode.ES_VERSION}: {r.lines} lines, {r.documents} documents, {failures} failures")
            if r.lines != r.documents or failures:
                problems.append(f"{r.label}: {r.lines} lines, {r.documents} documents, {failures} failures")
        if not self.pipeline_loaded:
            print("elastic-chain: the ingest pipeline did not run (this node has no ingest processors; "
                  "tests/elastic/es/README.md)")
        self.assertTrue(all(r.lines for r in self.runs), "a run with no lines proves nothing")
        self.assertEqual(problems, [], f"\nFilebeat's log (end):\n{self.filebeat_log[-3000:]}")

    def failures(self, r: Run) -> int:
        """Documents carrying an error (the ndjson parser's, or the pipeline's)."""
        q = {"bool": {"filter": [{"term": {"log.file.path": str(r.path)}}],
                      "should": [{"exists": {"field": "error.message"}}, {"exists": {"field": "error.type"}}],
                      "minimum_should_match": 1}}
        _, n = esnode.request("POST", f"{DATA_STREAM}/_count", {"query": q})
        dropped = len(re.findall(r"Cannot index event|failed to index|dropping event", self.filebeat_log, re.I))
        return n["count"] + dropped

    def test_nothing_ignored(self):
        _, n = esnode.request("POST", f"{DATA_STREAM}/_count",
                              {"query": {"bool": {"filter": [self.in_files(), {"exists": {"field": "_ignored"}}]}}})
        self.assertEqual(n["count"], 0, "documents with _ignored fields (ignore_above / ignore_malformed)")

    def test_data_stream_auto_created(self):
        # action.auto_create_index is false (load()): only the template's
        # allow_auto_create can have let the first document create it.
        _, res = esnode.request("GET", f"_resolve/index/{DATA_STREAM}")
        self.assertEqual([d["name"] for d in res["data_streams"]], [DATA_STREAM])
        _, settings = esnode.request("GET", "_cluster/settings")
        self.assertEqual(settings["persistent"]["action"]["auto_create_index"], "false")

    def test_mapping_is_the_declared_one(self):
        _, mapping = esnode.request("GET", f"{DATA_STREAM}/_mapping")
        mapped = {}
        for m in mapping.values():
            for name, spec in flatten_mapping(m["mappings"]["properties"]).items():
                mapped[name] = spec.get("type", "object")
        # The schema's type, or the one elasticsearch/generate.py stores it
        # as (opensmtpd.session.start: date_nanos, for its microseconds).
        stored = load_module(REPO / "elasticsearch" / "generate.py", "es_generate").MAPPING_TYPE
        declared = {**known_types(), **stored}
        problems = [f"{f}: declared {t}, mapped {mapped.get(f)}" for f, t in sorted(declared.items())
                    if mapped.get(f) != standin(t)]
        ecs = ecs_types()
        undeclared = sorted(set(mapped) - set(declared))
        for f in undeclared:
            if f in FILEBEAT_FIELDS:
                if mapped[f] != FILEBEAT_FIELDS[f]:
                    problems.append(f"{f}: mapped {mapped[f]} dynamically, Filebeat's is {FILEBEAT_FIELDS[f]}")
            elif f not in ecs:
                problems.append(f"{f}: mapped {mapped[f]} dynamically, in no field list and not in ECS")
            elif standin(ecs[f]) != mapped[f] and not (ecs[f] == "keyword" and mapped[f] == "keyword"):
                problems.append(f"{f}: mapped {mapped[f]} dynamically, ECS says {ecs[f]}")
        print(f"\n  mapped dynamically, in none of our field lists: {', '.join(undeclared)}")
        self.assertEqual(problems, [])

    def pipeline_needed(self, what: str):
        if not self.pipeline_loaded:
            self.skipTest(f"{what}: needs the ingest pipeline, which this node cannot load "
                          "(no ingest-common, lang-painless, ingest-geoip; tests/elastic/es/README.md)")

    def test_painless_scripts_ran(self):
        self.pipeline_needed("both Painless scripts against their Python twin")
        import test_panels
        problems = []
        for r in self.runs:
            hits = esnode.search(DATA_STREAM, {"size": 10000, "query": {"term": {"log.file.path": str(r.path)}},
                                               "_source": True})["hits"]["hits"]
            for h in hits:
                src = dict(h["_source"])
                twin = test_panels.enrich(src, src.get("host", {}).get("name", ""))
                for f in ("opensmtpd.from_domain", "opensmtpd.to_domains", "opensmtpd.rcpt_domain",
                          "opensmtpd.refused_rcpts", "opensmtpd.refused_domains"):
                    got = self.get(src, f)
                    if (got if isinstance(got, list) or got is None else [got]) != twin.get(f):
                        problems.append(f"{r.label} {h['_id']} {f}: pipeline {got!r}, twin {twin.get(f)!r}")
        self.assertEqual(problems[:10], [])

    @staticmethod
    def get(doc, dotted):
        for part in dotted.split("."):
            if not isinstance(doc, dict) or part not in doc:
                return doc.get(dotted) if isinstance(doc, dict) else None
            doc = doc[part]
        return doc

    def test_geoip_without_databases(self):
        self.pipeline_needed("GeoIP without databases")
        q = {"bool": {"filter": [self.in_files(), {"exists": {"field": "source.ip"}}]}}
        _, n = esnode.request("POST", f"{DATA_STREAM}/_count", {"query": q})
        self.assertGreater(n["count"], 0)

    def test_second_pass_adds_nothing(self):
        self.pipeline_needed("a second Filebeat pass with the pipeline's deterministic _id")
        if "_id" not in PIPELINE.read_text():
            self.skipTest("the pipeline sets no deterministic _id yet")


if __name__ == "__main__":
    unittest.main(verbosity=2)
