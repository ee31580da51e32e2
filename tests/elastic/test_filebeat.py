"""The shipped Filebeat configs, checked by a real Filebeat.

    python3 -m unittest tests/elastic/test_filebeat.py -v     (from the repository root)

Filebeat is built from the Go module proxy by tests/elastic/filebeat/build.sh
(cached under /var/cache/filter-jsonlog/filebeat/).  $FILEBEAT_BIN names
another binary.  Without a cached build the tests are skipped, except under
CI=true or FILEBEAT_BUILD=1, where they build it (minutes, once).

What is checked, for filebeat.yml, filebeat-openbsd.yml and filebeat-journald.yml:
  * `filebeat test config` says "Config OK", as is and with the override
    filebeat/README.md documents (-E output.elasticsearch.hosts, path.data,
    path.logs, filebeat.inputs.0.paths); `filebeat export config` shows that
    the override changes those keys and nothing else;
  * `filebeat test config` does not look at the inputs (it accepted a parser
    that does not exist), so each config also runs: its input reads the
    filter's documents (tests/data/golden/) from a plain file, from a file
    with OpenBSD syslogd's header on each line, and from a journal file
    written by systemd-journal-remote, into Filebeat's file output; every
    document comes out decoded, once, with data_stream.* and without the
    undecoded copy in message.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest
from datetime import datetime, timezone
from pathlib import Path

try:
    import yaml
except ImportError:  # pragma: no cover - the Filebeat class in test_elastic.py reports it
    yaml = None

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
FILEBEAT_DIR = REPO / "filebeat"
CONFIGS = ("filebeat.yml", "filebeat-openbsd.yml", "filebeat-journald.yml")
BUILD = HERE / "filebeat" / "build.sh"
GOLDEN = REPO / "tests" / "data" / "golden" / "debian-6.8.0p2-smtp-in.jsonl"
JOURNAL_REMOTE = Path("/lib/systemd/systemd-journal-remote")
CI = os.environ.get("CI") == "true"

# The override that filebeat/README.md documents: only the output URL and
# the paths change.
ES_URL = "http://127.0.0.1:9200"


def filebeat_binary() -> str | None:
    env = os.environ.get("FILEBEAT_BIN")
    if env:
        return env
    build = ["bash", str(BUILD)]
    if not (CI or os.environ.get("FILEBEAT_BUILD") == "1"):
        build.append("--cached")
    res = subprocess.run(build, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = res.stdout.strip().splitlines()
    if res.returncode == 0 and lines:
        return lines[-1]
    if res.returncode == 3:
        return None  # no cached build and not asked to build
    raise AssertionError(f"{BUILD} failed ({res.returncode}):\n{res.stderr[-3000:]}")


def golden_documents() -> list:
    return [json.loads(line) for line in GOLDEN.read_text(encoding="utf-8").splitlines() if line.strip()]


class FilebeatReal(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bin = filebeat_binary()
        if cls.bin is None:
            raise unittest.SkipTest("no Filebeat build cached: run tests/elastic/filebeat/build.sh "
                                    "(or set FILEBEAT_BUILD=1 / FILEBEAT_BIN)")
        cls.version = subprocess.run([cls.bin, "version"], stdout=subprocess.PIPE, text=True,
                                     check=True).stdout.strip()
        cls.tmp = Path(tempfile.mkdtemp(prefix="filebeat-test-"))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def workdir(self, name: str) -> Path:
        d = self.tmp / name
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        return d

    def override(self, work: Path, input_path: Path | None = None) -> list:
        args = ["-E", f'output.elasticsearch.hosts=["{ES_URL}"]',
                "-E", f"path.data={work / 'data'}", "-E", f"path.logs={work / 'logs'}"]
        if input_path is not None:
            args += ["-E", f'filebeat.inputs.0.paths=["{input_path}"]']
        return args

    def filebeat(self, *args, timeout=60) -> subprocess.CompletedProcess:
        # --path.home: Filebeat looks for its modules directory there; an empty
        # home keeps it from looking beside the binary in the cache.
        home = self.tmp / "home"
        home.mkdir(exist_ok=True)
        return subprocess.run([self.bin, "--path.home", str(home), *args], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=timeout)

    # -- filebeat test config -------------------------------------------------

    def test_config_ok(self):
        for name in CONFIGS:
            with self.subTest(config=name):
                work = self.workdir("config-" + name)
                res = self.filebeat("test", "config", "-c", str(FILEBEAT_DIR / name),
                                    "--path.data", str(work / "data"), "--path.logs", str(work / "logs"))
                self.assertEqual(res.returncode, 0, res.stdout)
                self.assertIn("Config OK", res.stdout)

    def test_config_ok_with_documented_override(self):
        for name in CONFIGS:
            with self.subTest(config=name):
                work = self.workdir("override-" + name)
                res = self.filebeat("test", "config", "-c", str(FILEBEAT_DIR / name),
                                    *self.override(work, work / "in.log"))
                self.assertEqual(res.returncode, 0, res.stdout)
                self.assertIn("Config OK", res.stdout)

    def test_override_changes_only_url_and_paths(self):
        if yaml is None:
            self.fail("PyYAML is missing: apt-get install python3-yaml")
        for name in CONFIGS:
            with self.subTest(config=name):
                work = self.workdir("export-" + name)
                cfg = str(FILEBEAT_DIR / name)
                plain = self.filebeat("export", "config", "-c", cfg)
                over = self.filebeat("export", "config", "-c", cfg, *self.override(work, work / "in.log"))
                self.assertEqual(plain.returncode, 0, plain.stdout)
                self.assertEqual(over.returncode, 0, over.stdout)
                before, after = yaml.safe_load(plain.stdout), yaml.safe_load(over.stdout)
                self.assertEqual(after["output"]["elasticsearch"]["hosts"], [ES_URL])
                self.assertEqual({k: after["path"][k] for k in ("data", "logs")},
                                 {"data": str(work / "data"), "logs": str(work / "logs")})
                inp_before, inp_after = before["filebeat"]["inputs"][0], after["filebeat"]["inputs"][0]
                self.assertEqual(inp_after["paths"], [str(work / "in.log")])
                # Everything else is the shipped file: the list index merges
                # into the first input instead of replacing it.
                self.assertEqual({k: v for k, v in inp_after.items() if k != "paths"},
                                 {k: v for k, v in inp_before.items() if k != "paths"})
                self.assertEqual(after["filebeat"]["inputs"][1:], before["filebeat"]["inputs"][1:])
                self.assertEqual({k: v for k, v in after["output"]["elasticsearch"].items() if k != "hosts"},
                                 {k: v for k, v in before["output"]["elasticsearch"].items() if k != "hosts"})
                rest = lambda c: {k: v for k, v in c.items() if k not in ("path", "output", "filebeat")}
                self.assertEqual(rest(after), rest(before))

    def test_test_config_does_not_check_inputs(self):
        # Why the configs are also run below: `test config` accepts an input
        # Filebeat cannot start, the run refuses it.
        work = self.workdir("broken")
        text = (FILEBEAT_DIR / "filebeat.yml").read_text(encoding="utf-8")
        self.assertIn("- ndjson:", text)
        broken = work / "broken.yml"
        broken.write_text(text.replace("- ndjson:", "- no_such_parser:", 1), encoding="utf-8")
        broken.chmod(0o600)  # Filebeat refuses configs others may write
        res = self.filebeat("test", "config", "-c", str(broken), *self.override(work))
        self.assertEqual(res.returncode, 0, res.stdout)
        src = work / "in.json"
        src.write_text(GOLDEN.read_text(encoding="utf-8"), encoding="utf-8")
        res = self.filebeat("-e", "-c", str(broken), *self.to_file(work, src), timeout=60)
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("no_such_parser: no such parser", res.stdout)

    # -- running the inputs ---------------------------------------------------

    def to_file(self, work: Path, input_path: Path, maillog: Path | None = None) -> list:
        """The override for a run without Elasticsearch: the paths as
        documented, the events into Filebeat's file output.  The second
        input (smtpd's delivery lines) reads `maillog`, never this machine's
        mail log."""
        maillog = maillog or work / "no-mail.log"
        return ["-E", f'filebeat.inputs.0.paths=["{input_path}"]', "-E", f'filebeat.inputs.1.paths=["{maillog}"]',
                "-E", f"path.data={work / 'data'}", "-E", f"path.logs={work / 'logs'}",
                "-E", "output.elasticsearch.enabled=false",
                "-E", f"output.file.path={work / 'out'}", "-E", "output.file.filename=events"]

    def run_until(self, config: Path, work: Path, input_path: Path, want: int, deadline=90,
                  maillog: Path | None = None) -> list:
        """Runs Filebeat until its file output holds `want` events (or the
        deadline), stops it, returns the events."""
        home = self.tmp / "home"
        home.mkdir(exist_ok=True)
        log = open(work / "filebeat.out", "w")
        proc = subprocess.Popen([self.bin, "--path.home", str(home), "-e", "-c", str(config),
                                 *self.to_file(work, input_path, maillog)], stdout=log, stderr=subprocess.STDOUT)
        events = []
        try:
            end = time.monotonic() + deadline
            while time.monotonic() < end and proc.poll() is None:
                events = self.read_events(work)
                if len(events) >= want:
                    break
                time.sleep(0.5)
            # A moment more: anything beyond `want` would be a duplicate.
            time.sleep(2)
            events = self.read_events(work)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
        output = (work / "filebeat.out").read_text(errors="replace")
        # What Filebeat logs once it is told to stop is the stop, not the
        # reading: its journalctl runner races its own shutdown there
        # ("cannot read from journalctl stderr: … file already closed", seen
        # once in CI after every event was written).
        running = output.split('"message":"Stopping filebeat"', 1)[0]
        self.assertNotIn('"log.level":"error"', "\n".join(
            line for line in running.splitlines()
            # journalctl is killed with Filebeat; the modules directory is absent on purpose.
            if "Module directory not found" not in line and "journalctl exited" not in line),
            f"Filebeat logged errors:\n{output[-4000:]}")
        return events

    @staticmethod
    def read_events(work: Path) -> list:
        out = []
        for f in sorted((work / "out").glob("events*.ndjson")):
            for line in f.read_text(encoding="utf-8").splitlines():
                if line.endswith("}"):
                    out.append(json.loads(line))
        return out

    def check_delivery(self, events: list, lines: list) -> list:
        """Splits off the delivery input's events: exactly smtpd's delivery
        lines of the mail log, to their own data stream."""
        delivery = [e for e in events if e.get("data_stream", {}).get("dataset") == "opensmtpd.delivery"]
        self.assertEqual(sorted(e["message"] for e in delivery), sorted(lines))
        for e in delivery:
            self.assertEqual(e["@metadata"].get("raw_index"), "logs-opensmtpd.delivery-default")
        return [e for e in events if e not in delivery]

    def check_events(self, events: list, docs: list, *, extra_top: set):
        self.assertEqual(len(events), len(docs), "one event per document, none twice")
        by_key = {}
        for ev in events:
            key = (ev["opensmtpd"]["session"]["id"], ev["event"]["sequence"], ev["event"]["action"])
            self.assertNotIn(key, by_key, "an event came out twice")
            by_key[key] = ev
        for doc in docs:
            key = (doc["opensmtpd"]["session"]["id"], doc["event"]["sequence"], doc["event"]["action"])
            ev = by_key.get(key)
            self.assertIsNotNone(ev, f"document {key} missing")
            self.assertNotIn("error", ev, ev.get("error"))
            self.assertNotIn("message", ev, "the undecoded copy of the document stayed in message")
            self.assertEqual(ev["data_stream"], {"type": "logs", "dataset": "opensmtpd.jsonlog",
                                                 "namespace": "default"})
            # The document's own time wins, cut to milliseconds.
            want = datetime.strptime(doc["@timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
            got = datetime.strptime(ev["@timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
            self.assertEqual(got, want.replace(microsecond=want.microsecond // 1000 * 1000))
            for k, v in doc.items():
                if k == "@timestamp":
                    continue
                if isinstance(v, dict):
                    for sub, subv in v.items():
                        self.assertEqual(ev[k].get(sub), subv, f"{k}.{sub} of {key}")
                else:
                    self.assertEqual(ev[k], v, f"{k} of {key}")
        top = set().union(*(ev.keys() for ev in events)) - set().union(*(d.keys() for d in docs))
        self.assertEqual(top - {"@metadata", "data_stream"}, extra_top, "top-level fields Filebeat adds")

    @staticmethod
    def maillog(work: Path, name: str, header: str) -> tuple:
        """A mail log of a real smtpd run (tests/data/maillog/) with a syslog
        header, and its delivery lines (selected by words, not by regex)."""
        raw = (REPO / "tests" / "data" / "maillog" / name).read_text(encoding="utf-8").splitlines()
        path = work / "mail.log"
        path.write_text("".join(header + line + "\n" for line in raw), encoding="utf-8")
        lines = [header + line for line in raw if " delivery evpid=" in line or "Expire for" in line
                 or "Remove for" in line or "injecting failure report" in line]
        return path, lines

    def test_filestream_reads_the_rsyslog_file(self):
        docs = golden_documents()
        work = self.workdir("run-plain")
        src = work / "filter-jsonlog.json"
        shutil.copy(GOLDEN, src)
        maillog, lines = self.maillog(work, "debian-6.8.0p2.log", "2026-12-06T11:00:00.123456+00:00 mx smtpd[1234]: ")
        events = self.run_until(FILEBEAT_DIR / "filebeat.yml", work, src, len(docs) + len(lines), maillog=maillog)
        events = self.check_delivery(events, lines)
        self.check_events(events, docs, extra_top={"agent", "ecs", "host", "input", "log"})

    def test_filestream_reads_the_openbsd_syslogd_file(self):
        docs = golden_documents()
        work = self.workdir("run-openbsd")
        src = work / "filter-jsonlog"
        with open(src, "w", encoding="utf-8") as f:
            for i, line in enumerate(GOLDEN.read_text(encoding="utf-8").splitlines()):
                f.write(f"Nov 23 19:44:{i % 60:02d} mx filter-jsonlog[12345]: {line}\n")
        maillog, lines = self.maillog(work, "opensmtpd-7.8.0p1.log", "Dec  6 11:00:02 mx smtpd[1234]: ")
        events = self.run_until(FILEBEAT_DIR / "filebeat-openbsd.yml", work, src, len(docs) + len(lines),
                                maillog=maillog)
        events = self.check_delivery(events, lines)
        self.check_events(events, docs, extra_top={"agent", "ecs", "host", "input", "log"})
        self.assertEqual({ev["log"]["syslog"]["appname"] for ev in events}, {"filter-jsonlog"})

    def test_journald_reads_the_journal(self):
        if not JOURNAL_REMOTE.exists():
            msg = f"{JOURNAL_REMOTE} is missing (Debian package systemd-journal-remote)"
            if CI:
                self.fail(msg)
            self.skipTest(msg)
        docs = golden_documents()
        work = self.workdir("run-journald")
        journal = work / "journal" / "system.journal"
        journal.parent.mkdir()
        # journald's export format, as syslog(3) of filter-jsonlog would make
        # it; smtpd's own entries go to the delivery input, which keeps only
        # the delivery lines.
        now = int(time.time() * 1e6)
        export = bytearray()
        lines = GOLDEN.read_text(encoding="utf-8").splitlines()
        smtpd_lines = (REPO / "tests" / "data" / "maillog" / "opensmtpd-7.8.0p1.log").read_text().splitlines()
        delivery = [line for line in smtpd_lines if " delivery evpid=" in line or "Expire for" in line
                    or "Remove for" in line or "injecting failure report" in line]
        for i, line in enumerate(lines + smtpd_lines):
            ident = b"filter-jsonlog" if i < len(lines) else b"smtpd"
            export += b"__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n" % (now + i, 1000 + i)
            export += b"_BOOT_ID=0123456789abcdef0123456789abcdef\n_HOSTNAME=mx\n_PID=42\nPRIORITY=6\n"
            export += b"SYSLOG_FACILITY=2\nSYSLOG_IDENTIFIER=" + ident + b"\nMESSAGE=" + line.encode() + b"\n\n"
        res = subprocess.run([str(JOURNAL_REMOTE), "-o", str(journal), "-"], input=bytes(export),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.assertEqual(res.returncode, 0, res.stdout)
        events = self.run_until(FILEBEAT_DIR / "filebeat-journald.yml", work, journal, len(docs) + len(delivery),
                                maillog=journal)
        events = self.check_delivery(events, delivery)
        self.check_events(events, docs, extra_top={"agent", "ecs", "host", "input", "log", "process", "journald"})


if __name__ == "__main__":
    unittest.main()
