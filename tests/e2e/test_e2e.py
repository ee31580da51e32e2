#!/usr/bin/env python3
"""End-to-end test: Debian's smtpd -> filter-jsonlog -> rsyslog -> JSON file.

    sudo python3 tests/e2e/test_e2e.py          (after cargo build --release)

The binary is target/release/filter-jsonlog, or $FILTER_JSONLOG_BIN.  One
private smtpd (harness.py) runs every scenario of driver.py, the relay and a
burst of $E2E_BURST (default 200) sessions.  filter-jsonlog is attached as
examples/smtpd.conf attaches it, in a chain with recorder.py, which records the
exact report stream the filter received.  The documents come from the file
written by a private rsyslogd configured with examples/rsyslog.conf.  The
recorded stream is the ground truth: every reported event must have exactly
one document, and each document's state (TLS, user, HELO, transaction) must be
what the events before it imply.

Without root, smtpd, rsyslogd or the binary, the tests are skipped; with
CI=true they fail instead.  The last line of output is
`e2e OpenSMTPD <version>: N passed, N failed, N skipped`; the exit status is non-zero on failure.
Env: E2E_KEEP=1 keeps the temp dir, E2E_PORT_BASE moves the ports.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import unittest
from collections import Counter
from pathlib import Path
from typing import Any, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

import driver  # noqa: E402
import stream  # noqa: E402
from harness import (  # noqa: E402
    EXAMPLE_RSYSLOG_CONF, RSYSLOGD, ExampleSmtpdConf, Harness, Smtpd, filter_binary, log,
    missing_prerequisites,
)

CI = os.environ.get("CI", "").lower() == "true"
# The smtpd under test: Debian's package, or $E2E_SMTPD (a build, tests/e2e/opensmtpd78.sh).
SMTPD = Smtpd.from_env()
BURST = int(os.environ.get("E2E_BURST", "200"))
RUN_TIMEOUT = int(os.environ.get("E2E_TIMEOUT", "900"))  # seconds for the whole run
MAX_REPORTED = 25  # problems listed per failing test
SID_RE = re.compile(r"^[0-9a-f]{16}$")
class _Missing:
    def __repr__(self) -> str:
        return "<absent>"


MISSING = _Missing()

# Field names used in more than one place (the rest are literal in the checks).
# Key of an accepted recipient's envelope id(s) in opensmtpd.transaction.rcpt[]:
# its value may be the evpid (a string) or the list of every evpid the RCPT made.
RCPT_ENVELOPE = "envelope_ids"
TRUNCATED = "opensmtpd.truncated"  # true when the filter shortened a document to its size limit


# ---------------------------------------------------------------------------
# helpers


def get(doc: dict, path: str, default: Any = MISSING) -> Any:
    """get(doc, "a.b.c"): the nested field, or `default` (MISSING) if absent."""
    cur: Any = doc
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return default
        cur = cur[part]
    return cur


def has(doc: dict, path: str) -> bool:
    return get(doc, path) is not MISSING


def utf8(b: bytes) -> Optional[str]:
    """The text of a stream field, or None if it is not valid UTF-8 (then the
    filter's representation is its own choice and only its presence is checked)."""
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return None


class Problems(list):
    def add(self, key, doc_or_none, msg: str) -> None:
        where = f"{key[0]} {key[1]}"
        if doc_or_none is not None:
            where += f" #{get(doc_or_none, 'event.sequence', '?')} {get(doc_or_none, 'event.action', '?')}"
        self.append(f"{where}: {msg}")


# ---------------------------------------------------------------------------
# expected session state, computed from the recorded stream


class State:
    """What a session's state is after an event (protocol.md §9)."""

    def __init__(self) -> None:
        self.rdns: Optional[bytes] = None
        self.src: tuple = (None, None)
        self.dst: tuple = (None, None)
        self.tls: Optional[bytes] = None  # link-tls payload
        self.user: Optional[bytes] = None
        self.auth_failed_here = False
        self.helo: Optional[tuple[bytes, bytes]] = None  # (method, name)
        self.tx: Optional[dict] = None
        self.ended_tx: Optional[dict] = None  # the transaction a tx-rollback/tx-reset closes
        self.envelopes: list[bytes] = []

    def apply(self, e: stream.Event) -> None:
        f = e.fields
        self.auth_failed_here = False
        self.ended_tx = None
        if e.name == "link-connect":
            self.rdns = f[0]
            self.src = stream.endpoint(f[2])
            self.dst = stream.endpoint(f[3])
        elif e.name == "link-tls":
            self.tls = f[0]
            if e.subsystem == "smtp-in":
                # smtpd forgets the HELO at STARTTLS; the client must EHLO again.
                # smtp-out (7.x) reports its new EHLO before link-tls.
                self.helo = None
        elif e.name == "link-identify":
            self.helo = (f[0], f[1])
        elif e.name == "link-auth":
            if f[1] == b"pass":
                self.user = f[0]
            else:
                self.auth_failed_here = True
        elif e.name == "tx-begin":
            self.tx = {"msgid": f[0], "from": None, "to": [], "rcpt": []}
            self.envelopes = []
        elif e.name == "tx-mail" and self.tx is not None and f[1] == b"ok":
            self.tx["from"] = f[2]
        elif e.name == "tx-envelope":
            self.envelopes.append(f[1])
        elif e.name == "tx-rcpt" and self.tx is not None:
            env = [x.decode() for x in self.envelopes] if f[1] == b"ok" and self.envelopes else None
            self.tx["rcpt"].append((f[2], f[1], env))
            if f[1] == b"ok":
                self.tx["to"].append(f[2])
            self.envelopes = []
        elif e.name == "tx-rollback":
            self.ended_tx = self.tx
        elif e.name == "tx-reset":
            self.ended_tx = self.tx
            self.tx = None
        elif e.name == "link-disconnect":
            self.ended_tx = self.tx


def check_document(key, doc: dict, e: stream.Event, st: State, p: Problems) -> None:
    """Compare one document with the expected state after its event."""
    sub, sid = key
    # A document marked truncated may cut strings and lists (keeping a prefix)
    # or leave them out; everything it does show must still be right.
    truncated = get(doc, TRUNCATED) is True

    def prefix_ok(got, exp: str) -> bool:
        return truncated and (got is MISSING or (isinstance(got, str) and exp.startswith(got)))

    def want(path, expected, *, allow_missing=False):
        got = get(doc, path)
        if got is MISSING and allow_missing:
            return
        if got != expected:
            p.add(key, doc, f"{path} = {got!r}, want {expected!r}")

    def absent(path, why):
        if has(doc, path) and get(doc, path) not in ([], None):
            p.add(key, doc, f"{path} = {get(doc, path)!r} present {why}")

    def text_field(path, raw: bytes, *, allow_missing=False):
        t = utf8(raw)
        if t is None:
            if not isinstance(get(doc, path), str) and not (truncated and not has(doc, path)):
                p.add(key, doc, f"{path} = {get(doc, path)!r}, want a string for non-UTF-8 {raw!r}")
        elif not prefix_ok(get(doc, path), t):
            want(path, t, allow_missing=allow_missing)

    # identity
    want("event.action", e.name)
    want("opensmtpd.protocol.version", e.version.decode())
    want("event.dataset", "opensmtpd.jsonlog")
    want("opensmtpd.session.id", sid)
    want("opensmtpd.subsystem", sub)
    ts = get(doc, "@timestamp")
    try:
        t = datetime.datetime.fromisoformat(str(ts).replace("Z", "+00:00"))
        sec, usec = e.time.split(b".")
        if abs(t.timestamp() - (int(sec) + int(usec) / 1e6)) > 1.0:
            p.add(key, doc, f"@timestamp {ts} is more than 1 s from the event's {e.time.decode()}")
    except (ValueError, TypeError):
        p.add(key, doc, f"@timestamp {ts!r} is not ISO 8601")

    # connection
    if st.src[0] is not None:
        want("source.ip", st.src[0])
        want("source.port", st.src[1])
        want("destination.ip", st.dst[0])
        want("destination.port", st.dst[1])
    if st.rdns is not None:
        # rDNS names the peer: the client (source) in smtp-in, the remote
        # server (destination) in smtp-out.
        peer = "source.domain" if key[0] == "smtp-in" else "destination.domain"
        if st.rdns == b"<unknown>":
            absent(peer, "although rdns is <unknown>")
        else:
            text_field(peer, st.rdns)

    # TLS: false before link-tls, true from it on
    want("tls.established", st.tls is not None)
    if st.tls is not None:
        version, cipher, _bits = st.tls.decode().split(":")
        want("tls.version", version.replace("TLSv", ""))
        want("tls.version_protocol", "tls")
        want("tls.cipher", cipher)
    else:
        for f in ("tls.version", "tls.cipher"):
            absent(f, "before link-tls")

    # AUTH
    if e.name == "link-auth":
        want("opensmtpd.auth.result", e.fields[1].decode())
    if st.user is not None:
        text_field("user.name", st.user)
    elif not st.auth_failed_here:  # a failed attempt's own document may name the user
        absent("user.name", "without a successful link-auth")

    # HELO
    if st.helo is not None:
        want("opensmtpd.helo.method", st.helo[0].decode())
        text_field("opensmtpd.helo.name", st.helo[1])
    else:
        absent("opensmtpd.helo.name", "before link-identify (or after STARTTLS, before the new EHLO)")

    # tx-rcpt's own recipient
    if e.name == "tx-rcpt":
        text_field("opensmtpd.rcpt.address", e.fields[2])
        want("opensmtpd.rcpt.result", e.fields[1].decode())

    # transaction
    if e.name in ("tx-rollback", "tx-reset") or (e.name == "link-disconnect" and st.ended_tx):
        return  # may or may not still show the transaction it ends
    tx = st.tx
    if tx is None:
        for f in ("email.local_id", "email.from.address", "email.to.address",
                  "opensmtpd.transaction.rcpt"):
            absent(f, "outside a transaction")
        return
    want("email.local_id", tx["msgid"].decode())
    if tx["from"]:
        text_field("email.from.address", tx["from"])
    elif tx["from"] == b"":  # MAIL FROM:<>
        want("email.from.address", "", allow_missing=True)
    if tx["to"]:
        got = get(doc, "email.to.address")
        exp = [utf8(a) for a in tx["to"]]
        if truncated and got is MISSING:
            pass
        elif not isinstance(got, list) or not (len(got) == len(exp) or truncated and len(got) < len(exp)) or any(
                x is not None and x != g and not prefix_ok(g, x) for x, g in zip(exp, got)):
            p.add(key, doc, f"email.to.address = {got!r}, want accepted recipients {exp!r}")
    else:
        absent("email.to.address", "before any recipient was accepted")
    if tx["rcpt"]:
        got = get(doc, "opensmtpd.transaction.rcpt")
        n = len(tx["rcpt"])
        if truncated and got is MISSING:
            pass
        elif not isinstance(got, list) or not (len(got) == n or truncated and len(got) < n):
            p.add(key, doc, f"opensmtpd.transaction.rcpt = {str(got)[:200]}, want {n} entries")
        else:
            for g, (addr, res, env) in zip(got, tx["rcpt"]):
                a = utf8(addr)
                if a is not None and get(g, "address") != a and not prefix_ok(get(g, "address"), a):
                    p.add(key, doc, f"transaction.rcpt address {get(g, 'address')!r} != {a!r}")
                if get(g, "result") != res.decode():
                    p.add(key, doc, f"transaction.rcpt result {get(g, 'result')!r} != {res.decode()!r}")
                if env is not None and get(g, RCPT_ENVELOPE) not in (env, env[-1]):
                    p.add(key, doc, f"transaction.rcpt {RCPT_ENVELOPE} {get(g, RCPT_ENVELOPE, 'absent')!r} "
                                    f"!= {env!r}")
                if env is None and has(g, RCPT_ENVELOPE):
                    p.add(key, doc, f"transaction.rcpt {a!r} was refused but has {RCPT_ENVELOPE}")


# ---------------------------------------------------------------------------
# the run


class Run:
    """Everything one e2e run produced."""

    harness: Harness
    records: list[driver.SessionRecord]
    stream: stream.Stream
    sessions: dict  # (subsystem, sid) -> [Event]
    lines: list[bytes]  # the JSON file, line by line
    docs: list[Optional[dict]]  # parsed lines (None: not a JSON object)
    by_session: dict  # (subsystem, sid) -> [doc] in file order
    alive_at_end: bool
    by_port: dict  # (ip, port) -> [SessionRecord, ...] in connection order
    record_sid: dict  # id(record) -> (subsystem, sid)
    elapsed: float


class RunTimeout(Exception):
    pass


def _on_alarm(_signum, _frame):
    raise RunTimeout(f"the e2e run took longer than {RUN_TIMEOUT} s (E2E_TIMEOUT)")


def keep_for_elastic(h) -> None:
    """With E2E_KEEP_DIR set, keep rsyslog's file and the recorded report
    stream there, named after the smtpd: tests/elastic/test_chain.py ships
    them through Filebeat into Elasticsearch after the e2e suites."""
    keep = os.environ.get("E2E_KEEP_DIR")
    if not keep:
        return
    slug = re.sub(r"[^A-Za-z0-9.]+", "-", SMTPD.name).strip("-")
    Path(keep).mkdir(parents=True, exist_ok=True)
    if h.json_out.exists():
        shutil.copy(h.json_out, Path(keep) / f"{slug}.json")
    Path(keep, f"{slug}.stream").write_bytes(h.capture_bytes())


def execute(r: Run) -> None:
    t0 = time.monotonic()
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(RUN_TIMEOUT)  # a hung client or server must not hang CI
    h = r.harness = Harness(jsonlog_bin=filter_binary(), recorder=True, rsyslog=True, relay_filter=True,
                            smtpd=SMTPD)
    h.setup()
    driver.configure(ca_file=str(h.base / "certs/mx.crt") if SMTPD.certificate_tls else None,
                     sendmail=h.sendmail)
    try:
        h.start()
        p = h.ports
        r.records = []
        r.records += driver.relay(p)  # first: its outgoing session idles ~10 s before QUIT
        r.records += driver.relay_unreachable(p)
        r.records += driver.run(driver.MAIN + driver.AFTER_AUTH + [driver.many_recipients], p)
        tb = time.monotonic()
        r.records += driver.burst(p, BURST)
        print(f"  burst: {BURST} sessions in {time.monotonic() - tb:.1f} s", flush=True)
        if not h.wait_for_capture(b"|smtp-out|link-disconnect|", 40, count=2):
            log("not both smtp-out link-disconnects within 40 s")
        time.sleep(1.0)  # let the last documents through
        r.alive_at_end = h.smtpd_alive()
    finally:
        signal.alarm(0)
        h.stop()
    keep_for_elastic(h)
    r.stream = stream.parse(h.capture_bytes())
    r.sessions = r.stream.sessions()
    r.lines = h.json_out.read_bytes().split(b"\n") if h.json_out.exists() else []
    if r.lines and r.lines[-1] == b"":
        r.lines.pop()
    r.docs = []
    for line in r.lines:
        try:
            d = json.loads(line.decode("utf-8"))
            r.docs.append(d if isinstance(d, dict) else None)
        except (UnicodeDecodeError, ValueError):
            r.docs.append(None)
    # The filter's own self-metrics documents (event.kind: metric) belong to no session.
    r.metrics = [d for d in r.docs if d is not None and get(d, "event.kind") == "metric"]
    r.by_session = {}
    for d in r.docs:
        if d is not None and get(d, "event.kind") != "metric":
            r.by_session.setdefault((get(d, "opensmtpd.subsystem"), get(d, "opensmtpd.session.id")), []).append(d)
    # The kernel reuses ephemeral ports over 200+ sessions: one port can
    # belong to several scenarios, one after the other. Pair them in order:
    # the stream lists sessions in the order they connected.
    r.by_port = {}
    for rec in r.records:
        if rec.client_port:
            r.by_port.setdefault((rec.client_ip, rec.client_port), []).append(rec)
    unpaired = {k: list(v) for k, v in r.by_port.items()}
    r.record_sid = {}
    for key, evs in r.sessions.items():
        ip, port, src = stream.client_of(evs)
        if key[0] == "smtp-in" and unpaired.get((ip, port)):
            r.record_sid[id(unpaired[(ip, port)].pop(0))] = key
        elif src.startswith(b"unix:"):
            mails = [e.fields[2] for e in evs if e.name == "tx-mail"]
            for rec in r.records:
                if rec.transport == "unix" and rec.transactions and mails[:1] == [rec.transactions[0].mail_from]:
                    r.record_sid[id(rec)] = key
    r.elapsed = time.monotonic() - t0


class E2E(unittest.TestCase):
    run_: Optional[Run] = None
    skip_reason: Optional[str] = None
    setup_error: Optional[str] = None

    @classmethod
    def setUpClass(cls) -> None:
        missing = missing_prerequisites(need_rsyslog=True, filter_bin=filter_binary(), smtpd=SMTPD)
        if missing:
            msg = "e2e prerequisites missing: " + "; ".join(missing)
            if CI:
                cls.setup_error = msg + " (CI=true: that is a failure)"
            else:
                cls.skip_reason = msg
            return
        r = Run()
        try:
            execute(r)
            cls.run_ = r
        except Exception as e:  # noqa: BLE001 - reported by every test
            import traceback

            cls.setup_error = f"e2e run failed: {e!r}\n{traceback.format_exc()}"
            h = getattr(r, "harness", None)
            if h is not None and h.smtpd_log.exists():
                tail = h.smtpd_log.read_text(errors="replace").splitlines()[-15:]
                cls.setup_error += ("\nsmtpd log problems: " + repr(h.smtpd_log_problems())
                                    + f"\nlast lines of {h.smtpd_log}:\n" + "\n".join(tail))

    def setUp(self) -> None:
        if self.skip_reason:
            self.skipTest(self.skip_reason)
        if self.setup_error:
            self.fail(self.setup_error)
        self.r = self.run_

    def assertNoProblems(self, problems: list, what: str) -> None:
        if problems:
            more = f"\n... and {len(problems) - MAX_REPORTED} more" if len(problems) > MAX_REPORTED else ""
            shown = [x if len(x) <= 400 else x[:400] + " [...]" for x in problems[:MAX_REPORTED]]
            self.fail(f"{len(problems)} problem(s) with {what}:\n" + "\n".join(shown) + more)

    def rec_docs(self, rec) -> tuple:
        key = self.r.record_sid.get(id(rec))
        return key, (self.r.by_session.get(key, []) if key else [])

    # -- the processes ---------------------------------------------------------

    def test_smtpd_and_filter_survived(self):
        h = self.r.harness
        self.assertTrue(self.r.alive_at_end, "smtpd died during the run (a filter exit takes it down)")
        self.assertEqual(h.smtpd_log_problems(), [], f"smtpd log {h.smtpd_log}")
        self.assertEqual(h.leftovers, [], "processes still alive 10 s after smtpd stopped "
                                          "(a filter must exit on EOF)")
        panics = [l for l in h.filter_stderr() if "panic" in l.lower()]
        self.assertEqual(panics, [], "the filter panicked")

    def test_stream_recorded(self):
        self.assertEqual(self.r.stream.other, [], "recorder captured non-protocol lines")
        subs = [v for k, v in self.r.stream.config if k == b"subsystem"]
        self.assertEqual(subs, [b"smtp-in", b"smtp-out"])
        self.assertGreater(len(self.r.sessions), BURST)
        versions = Counter(e.version for e in self.r.stream.events)
        self.assertEqual(set(versions), {SMTPD.protocol.encode()}, f"{SMTPD.name} report lines")
        config = dict(self.r.stream.config)
        self.assertEqual(config.get(b"smtpd-version"), SMTPD.version.encode())
        if SMTPD.protocol >= "0.7":  # the handshake names the protocol since 0.7
            self.assertEqual(config.get(b"protocol"), SMTPD.protocol.encode())

    # -- the documents ---------------------------------------------------------

    def test_every_line_is_one_json_object(self):
        p = []
        for i, (line, d) in enumerate(zip(self.r.lines, self.r.docs), 1):
            if d is None:
                p.append(f"line {i}: not a UTF-8 JSON object: {line[:200]!r}")
            elif not (line.startswith(b"{") and line.endswith(b"}")):
                p.append(f"line {i}: not exactly the document (rsyslog template?): {line[:80]!r}...")
        self.assertGreater(len(self.r.lines), 0, f"no documents in {self.r.harness.json_out}")
        self.assertNoProblems(p, "the JSON lines")

    def test_filter_accounts_for_every_document(self):
        # At exit (smtpd stopped, EOF) the filter writes one self-metrics
        # document; the run is shorter than the default 60 s interval.
        self.assertEqual([get(d, "event.action") for d in self.r.metrics], ["stats"])
        m = self.r.metrics[0]
        session_docs = sum(len(v) for v in self.r.by_session.values())
        # documents: every document made, this one included (the same
        # count as the exiting: line's); all before it delivered.
        self.assertEqual(get(m, "opensmtpd.jsonlog.documents"), session_docs + 1)
        self.assertEqual(get(m, "opensmtpd.jsonlog.documents_dropped"), 0)
        self.assertEqual(get(m, "opensmtpd.jsonlog.documents_delivered"), session_docs)
        self.assertEqual(get(m, "opensmtpd.jsonlog.lines_rejected"), 0)
        self.assertEqual(get(m, "opensmtpd.jsonlog.internal_errors"), 0)
        # every event and protocol version this smtpd sends is one the filter knows
        self.assertEqual(get(m, "opensmtpd.jsonlog.unknown_events"), 0)
        self.assertEqual(get(m, "opensmtpd.jsonlog.unknown_versions"), 0)
        self.assertEqual(get(m, "opensmtpd.jsonlog.sessions_open"), 0)
        self.assertIs(self.r.docs[-1], m, "the metrics document comes last")

    def test_sequence_numbers_per_session(self):
        p = Problems()
        for key, docs in self.r.by_session.items():
            if not (isinstance(key[1], str) and SID_RE.match(key[1])):
                p.add(key, None, "opensmtpd.session.id is not 16 lowercase hex digits")
            if key[0] not in ("smtp-in", "smtp-out"):
                p.add(key, None, f"bad opensmtpd.subsystem {key[0]!r}")
            seqs = [get(d, "event.sequence") for d in docs]
            if seqs != list(range(1, len(docs) + 1)):
                i = next(i for i, s in enumerate(seqs) if s != i + 1)
                p.add(key, None, f"document {i + 1} of {len(docs)} has event.sequence {seqs[i]!r} "
                                 f"(around it: {seqs[max(0, i - 2):i + 3]}), want 1..{len(docs)} in order")
        self.assertNoProblems(p, "event.sequence")

    def test_one_document_per_reported_event(self):
        p = Problems()
        rec_keys, doc_keys = set(self.r.sessions), set(self.r.by_session)
        for key in sorted(rec_keys - doc_keys):
            p.add(key, None, f"{len(self.r.sessions[key])} events reported, no document")
        for key in sorted(doc_keys - rec_keys, key=str):
            p.add(key, None, f"{len(self.r.by_session[key])} documents for a session never reported")
        for key in sorted(rec_keys & doc_keys):
            want = [e.name for e in self.r.sessions[key]]
            got = [get(d, "event.action") for d in self.r.by_session[key]]
            if want != got:
                wc, gc = Counter(want), Counter(got)
                diff = {n: (wc[n], gc[n]) for n in set(wc) | set(gc) if wc[n] != gc[n]}
                p.add(key, None, f"{len(want)} events, {len(got)} documents; "
                                 f"per event (reported, documents): {diff or 'same counts, other order'}")
        self.assertNoProblems(p, "documents versus reported events")

    def test_state_at_each_step(self):
        p = Problems()
        for key, evs in self.r.sessions.items():
            docs = self.r.by_session.get(key, [])
            if [get(d, "event.action") for d in docs] != [e.name for e in evs]:
                continue  # reported by test_one_document_per_reported_event
            st = State()
            for e, d in zip(evs, docs):
                st.apply(e)
                check_document(key, d, e, st, p)
        self.assertNoProblems(p, "the session state in the documents")

    # -- the scenarios ---------------------------------------------------------

    def test_every_scenario_session_was_reported(self):
        p = []
        for rec in self.r.records:
            key, docs = self.rec_docs(rec)
            if key is None:
                p.append(f"{rec.scenario} {rec.note} (client port {rec.client_port}): no session in the stream")
            elif not docs:
                p.append(f"{rec.scenario} {rec.note} {key}: no documents")
        self.assertNoProblems(p, "scenario sessions")

    def test_scenarios_match_what_the_client_did(self):
        """The driver's view and the documents agree (TLS, AUTH, HELO, recipients)."""
        p = []
        for rec in self.r.records:
            key, docs = self.rec_docs(rec)
            if not docs:
                continue
            last = docs[-1]
            name = f"{rec.scenario} {rec.note} {key[1]}"
            if get(last, "tls.established") is not rec.tls:
                p.append(f"{name}: last tls.established {get(last, 'tls.established')!r}, client tls={rec.tls}")
            if rec.transport != "unix":
                if get(docs[0], "source.port") != rec.client_port:
                    p.append(f"{name}: source.port {get(docs[0], 'source.port')!r} != {rec.client_port}")
                if get(docs[0], "destination.port") != rec.server_port:
                    p.append(f"{name}: destination.port {get(docs[0], 'destination.port')!r} != {rec.server_port}")
            if rec.auth_user and get(last, "user.name") != rec.auth_user:
                p.append(f"{name}: user.name {get(last, 'user.name')!r} != {rec.auth_user!r}")
            if not rec.auth_user and has(last, "user.name"):
                p.append(f"{name}: user.name {get(last, 'user.name')!r} without a successful AUTH")
            helo = utf8(rec.helo) if rec.helo else None
            if helo and get(last, "opensmtpd.helo.name") != helo:
                p.append(f"{name}: opensmtpd.helo.name {get(last, 'opensmtpd.helo.name')!r} != {helo!r}")
            commits = [d for d in docs if get(d, "event.action") == "tx-commit"]
            done = [t for t in rec.transactions if t.outcome == "commit"]
            if rec.transport != "unix" and len(commits) != len(done):
                p.append(f"{name}: {len(commits)} tx-commit documents, client committed {len(done)}")
            for d, t in zip(commits, done):
                if get(d, TRUNCATED) is True:
                    continue  # test_state_at_each_step checks what a truncated document shows
                exp = [utf8(a) for a in t.accepted]
                if get(d, "email.to.address") != exp:
                    p.append(f"{name}: tx-commit email.to.address {get(d, 'email.to.address')!r} != {exp!r}")
                if t.mail_from and get(d, "email.from.address") != utf8(t.mail_from):
                    p.append(f"{name}: tx-commit email.from.address {get(d, 'email.from.address')!r}")
        self.assertNoProblems(p, "scenario expectations")

    def test_tls_and_auth_scenarios(self):
        by_name = {rec.scenario: rec for rec in self.r.records}
        for scen, user in (("starttls_auth_plain", "alice"), ("auth_login", "bob"),
                           ("auth_login_prompted", "alice"), ("smtps", "alice"), ("auth_failure", None)):
            with self.subTest(scenario=scen):
                key, docs = self.rec_docs(by_name[scen])
                self.assertTrue(docs, f"{scen}: no documents")
                actions = [get(d, "event.action") for d in docs]
                self.assertIn("link-tls", actions)
                i = actions.index("link-tls")
                self.assertTrue(all(get(d, "tls.established") is False for d in docs[:i]), f"{scen}: TLS before link-tls")
                self.assertTrue(all(get(d, "tls.established") is True for d in docs[i:]), f"{scen}: no TLS after link-tls")
                # what the client negotiated, e.g. TLSv1.3 TLS_AES_256_GCM_SHA384
                rec = by_name[scen]
                self.assertEqual(get(docs[i], "tls.version"), rec.tls_version.replace("TLSv", ""))
                self.assertEqual(get(docs[i], "tls.version_protocol"), "tls")
                self.assertEqual(get(docs[i], "tls.cipher"), rec.tls_cipher)
                if SMTPD.certificate_tls:
                    self.assertTrue(rec.tls_verified, f"{scen}: the client did not verify the certificate")
                    self.assertNotIn("AECDH", rec.tls_cipher, "anonymous cipher")
                    self.assertNotIn("anon", str(get(docs[i], "opensmtpd.tls.raw")))
                auth = [d for d in docs if get(d, "event.action") == "link-auth"]
                self.assertEqual(len(auth), 1)
                self.assertEqual(get(auth[0], "opensmtpd.auth.result"), "pass" if user else "fail")
                j = docs.index(auth[0])
                if user:
                    self.assertTrue(all(get(d, "user.name") == user for d in docs[j:]), f"{scen}: user.name after link-auth")
                self.assertFalse(any(has(d, "user.name") for d in docs[:j]), f"{scen}: user.name before link-auth")

    def test_no_credential_sent_after_auth_ended_is_written(self):
        """smtpd reports a client's lines outside its own AUTH states as
        sent: the base64 user and password after a 503, the PLAIN blob after
        a cancelled exchange, the password typed after a 535. The recorded
        stream holds them; no document and no stderr line may."""
        by_name = {rec.scenario: rec for rec in self.r.records}
        written = b"\n".join(self.r.lines).decode("utf-8", "replace")
        stderr = "\n".join(self.r.harness.filter_stderr())
        raw = self.r.harness.capture_bytes()
        for scen, (user, password) in driver.AFTER_AUTH_SECRETS.items():
            with self.subTest(scenario=scen):
                whole = [password, base64.b64encode(password.encode()).decode(),
                         driver.plain_blob(user, password).decode()]
                needles = whole + [n[:8] for n in whole]
                key, docs = self.rec_docs(by_name[scen])
                self.assertTrue(docs, f"{scen}: no documents")
                # smtpd itself reported the secret: the test is live.
                self.assertTrue(any(n.encode() in raw for n in whole), f"{scen}: smtpd reported no secret")
                for n in needles:  # not assertNotIn: it would print every document
                    self.assertFalse(n in written, f"{scen}: {n!r} in the documents")
                    self.assertFalse(n in stderr, f"{scen}: {n!r} on the filter's stderr")
                shown = [(get(d, "opensmtpd.command", None), get(d, "opensmtpd.response", None))
                         for d in docs if get(d, "event.action") == "protocol-server"]
                masked = [r for c, r in shown if c == "********"]
                self.assertTrue(masked, f"{scen}: no masked line in {shown}")
                codes_only = re.compile(r"^[2-5][0-9][0-9]( [245]\.[0-9]{1,3}\.[0-9]{1,3})?$")
                self.assertTrue(all(isinstance(r, str) and codes_only.match(r) for r in masked),
                                f"{scen}: replies to masked lines keep codes only: {masked}")

    def test_recipients_and_reset(self):
        by_name = {rec.scenario: rec for rec in self.r.records}
        # two recipients, one refused: only the accepted one is in email.to.address
        _, docs = self.rec_docs(by_name["rcpt_refused"])
        commit = [d for d in docs if get(d, "event.action") == "tx-commit"]
        self.assertEqual(len(commit), 1)
        self.assertEqual(get(commit[0], "email.to.address"), ["alice@example.test"])
        rcpt = get(commit[0], "opensmtpd.transaction.rcpt")
        self.assertEqual([(get(x, "address"), get(x, "result")) for x in rcpt],
                         [("alice@example.test", "ok"), ("nobody@unknown.test", "permfail")])
        refused = [d for d in docs if get(d, "event.action") == "tx-rcpt"][1]
        self.assertEqual(get(refused, "opensmtpd.rcpt.address"), "nobody@unknown.test")
        self.assertEqual(get(refused, "opensmtpd.rcpt.result"), "permfail")
        # RSET: nothing of the rolled-back transaction survives tx-reset
        _, docs = self.rec_docs(by_name["rset_between"])
        actions = [get(d, "event.action") for d in docs]
        self.assertEqual(actions.count("tx-commit"), 2)
        self.assertEqual(actions.count("tx-rollback"), 1)
        for i, a in enumerate(actions):
            if a == "tx-reset":
                nxt = actions.index("tx-begin", i) if "tx-begin" in actions[i:] else len(actions)
                for d in docs[i + 1:nxt]:
                    for f in ("email.local_id", "email.from.address", "email.to.address", "opensmtpd.transaction.rcpt"):
                        self.assertFalse(has(d, f), f"{f} after tx-reset in {get(d, 'event.action')} #{get(d, 'event.sequence')}")
        froms = [get(d, "email.from.address") for d in docs if get(d, "event.action") == "tx-commit"]
        self.assertEqual(froms, ["rset-first@client.test", "rset-third@client.test"])
        # a refused second MAIL FROM does not end or change the open transaction
        _, docs = self.rec_docs(by_name["second_mail"])
        commit = [d for d in docs if get(d, "event.action") == "tx-commit"]
        self.assertEqual(get(commit[0], "email.from.address"), "second-mail-a@client.test")
        # `|` in addresses stays in the address
        _, docs = self.rec_docs(by_name["pipes"])
        commit = [d for d in docs if get(d, "event.action") == "tx-commit"]
        self.assertEqual(get(commit[0], "email.from.address"), "pi|pe@client.test")
        self.assertEqual(get(commit[0], "email.to.address"), ["pi|pe@example.test"])

    def test_burst_sessions_are_complete_and_separate(self):
        burst = [rec for rec in self.r.records if rec.scenario == "burst"]
        self.assertEqual(len(burst), BURST)
        p = []
        seen = set()
        for rec in burst:
            key, docs = self.rec_docs(rec)
            if not docs:
                p.append(f"{rec.note}: no documents")
                continue
            seen.add(key)
            helos = {get(d, "opensmtpd.helo.name") for d in docs if has(d, "opensmtpd.helo.name")}
            if helos != {f"{rec.note}.client.test"}:
                p.append(f"{rec.note} {key[1]}: HELO names {sorted(map(str, helos))}")
            froms = {get(d, "email.from.address") for d in docs if has(d, "email.from.address")}
            if froms != {f"{rec.note}@client.test"}:
                p.append(f"{rec.note} {key[1]}: senders {sorted(map(str, froms))}")
            ports = {get(d, "source.port") for d in docs}
            if ports != {rec.client_port}:
                p.append(f"{rec.note} {key[1]}: source ports {sorted(map(str, ports))}")
            if [get(d, "event.action") for d in docs][-1] != "link-disconnect":
                p.append(f"{rec.note} {key[1]}: last document is not link-disconnect")
        if len(seen) != len(burst):
            p.append(f"{len(burst)} burst sessions but {len(seen)} distinct session ids")
        self.assertNoProblems(p, "the burst")

    def test_large_documents_whole_or_marked(self):
        """many_recipients (100 long addresses) would make documents larger than
        rsyslog's default 8096-byte message: each must arrive as valid JSON
        (checked above), either complete or marked truncated by the filter."""
        _, docs = self.rec_docs([rec for rec in self.r.records if rec.scenario == "many_recipients"][0])
        commit = [d for d in docs if get(d, "event.action") == "tx-commit"]
        self.assertEqual(len(commit), 1)
        to, rcpt = get(commit[0], "email.to.address"), get(commit[0], "opensmtpd.transaction.rcpt")
        if get(commit[0], TRUNCATED) is not True:
            self.assertEqual(len(to), 100, "email.to.address of an untruncated document")
            self.assertEqual(len(rcpt), 101, "opensmtpd.transaction.rcpt of an untruncated document")

    def test_smtp_out_unreachable_relay(self):
        """A relay host that refuses connections: smtp-out sessions made of a
        lone link-disconnect (no link-connect) still get their document."""
        lone = [k for k, evs in self.r.sessions.items()
                if k[0] == "smtp-out" and [e.name for e in evs] == ["link-disconnect"]]
        self.assertTrue(lone, "expected smtp-out sessions with only link-disconnect")
        for k in lone:
            docs = self.r.by_session.get(k, [])
            self.assertEqual([get(d, "event.action") for d in docs], ["link-disconnect"], k)
            self.assertEqual(get(docs[0], "event.sequence"), 1)
            self.assertIs(get(docs[0], "tls.established"), False)

    def test_smtp_out_relay(self):
        out = {k: v for k, v in self.r.by_session.items() if k[0] == "smtp-out"}
        self.assertTrue(out, "no smtp-out documents (relay action with filter jsonlog)")
        relayed = [docs for docs in out.values()
                   if any(get(d, "email.from.address") == "relay-sender@client.test" for d in docs)]
        self.assertEqual(len(relayed), 1, "the relayed message's outgoing session")
        docs = relayed[0]
        actions = [get(d, "event.action") for d in docs]
        for a in ("link-connect", "link-identify", "tx-mail", "tx-rcpt", "tx-commit", "link-disconnect"):
            self.assertIn(a, actions)
        commit = docs[actions.index("tx-commit")]
        self.assertEqual(get(commit, "email.to.address"), ["bob@relay.test"])
        self.assertEqual(get(commit, "destination.port"), self.r.harness.ports.relay_target)
        # same message id as the incoming session that received it
        _, indocs = self.rec_docs([rec for rec in self.r.records if rec.scenario == "relay"][0])
        in_ids = {get(d, "email.local_id") for d in indocs if has(d, "email.local_id")}
        self.assertIn(get(commit, "email.local_id"), in_ids)


    def test_smtp_out_starttls(self):
        """smtp-out over mandatory STARTTLS with a verified certificate
        (relay host smtp+tls://… ca …); 6.8.0p2 cannot do certificate TLS."""
        if not SMTPD.certificate_tls:
            self.skipTest(f"{SMTPD.name} cannot do certificate TLS (e2e.md pitfall 1)")
        out = [docs for k, docs in self.r.by_session.items() if k[0] == "smtp-out"
               and any(get(d, "email.from.address") == "relay-sender@client.test" for d in docs)]
        self.assertEqual(len(out), 1)
        docs = out[0]
        actions = [get(d, "event.action") for d in docs]
        self.assertIn("link-tls", actions)
        i = actions.index("link-tls")
        self.assertLess(i, actions.index("tx-mail"), "STARTTLS before MAIL FROM")
        self.assertTrue(all(get(d, "tls.established") is False for d in docs[:i]))
        self.assertTrue(all(get(d, "tls.established") is True for d in docs[i:]))
        raw = self.r.sessions[("smtp-out", get(docs[i], "opensmtpd.session.id"))][i].fields[0].decode()
        version, cipher, bits = raw.split(":")
        self.assertEqual(get(docs[i], "tls.version"), version.replace("TLSv", ""))
        self.assertEqual(get(docs[i], "tls.cipher"), cipher)
        self.assertEqual(get(docs[i], "opensmtpd.tls.bits"), int(bits))
        self.assertEqual(get(docs[i], "opensmtpd.tls.raw"), raw)
        self.assertTrue(version.startswith("TLSv1."), raw)
        # after STARTTLS smtpd greets again; 7.8 reports that EHLO before link-tls
        starttls = [j for j, d in enumerate(docs)
                    if actions[j] == "protocol-client" and get(d, "opensmtpd.command") == "STARTTLS"]
        self.assertEqual(len(starttls), 1)
        ident = [j for j, a in enumerate(actions) if a == "link-identify"]
        self.assertEqual(len(ident), 2, actions)
        self.assertLess(ident[0], starttls[0])
        self.assertLess(starttls[0], ident[1])
        self.assertTrue(all(has(d, "opensmtpd.helo.name") for d in docs[ident[1]:]))


class Examples(unittest.TestCase):
    """The shipped examples are what the run used; here: they are valid as shipped."""

    def test_example_smtpd_conf_is_valid(self):
        if os.geteuid() != 0 or not os.access(SMTPD.smtpd, os.X_OK):
            if CI:
                self.fail("smtpd missing or not root (CI=true)")
            self.skipTest("needs root and smtpd")
        import tempfile

        ex = ExampleSmtpdConf.load()
        self.assertEqual(ex.command[0], "/usr/libexec/opensmtpd/filter-jsonlog")
        self.assertIn('"/usr/local/libexec/smtpd/filter-jsonlog"', ex.path.read_text(), "OpenBSD's path")
        with tempfile.TemporaryDirectory() as d:
            crt, key = Path(d, "c.crt"), Path(d, "c.key")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                            "-subj", "/CN=mx.example.org", "-keyout", str(key), "-out", str(crt)],
                           check=True, capture_output=True)
            text = Path(ex.path).read_text()
            paths = re.findall(r'^pki \S+ (?:cert|key)\s+"([^"]+)"', text, re.M)
            self.assertEqual(len(paths), 2, "one pki cert and one pki key line")
            conf = ex.checkable_copy({paths[0]: str(crt), paths[1]: str(key)})
            Path(d, "smtpd.conf").write_text(conf)
            r = subprocess.run([SMTPD.smtpd, "-n", "-f", str(Path(d, "smtpd.conf"))], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_example_rsyslog_conf_is_valid(self):
        if not os.access(RSYSLOGD, os.X_OK):
            if CI:
                self.fail("rsyslogd missing (CI=true)")
            self.skipTest("needs rsyslogd")
        import tempfile

        shipped = EXAMPLE_RSYSLOG_CONF.read_text()
        self.assertIn('$programname == "filter-jsonlog"', shipped)
        self.assertIn("ltrim($msg)", shipped, "the template must drop %msg%'s leading blank, if any (imjournal has none)")
        with tempfile.TemporaryDirectory() as d:
            conf = Path(d, "rsyslog.conf")
            conf.write_text(f'global(workDirectory="{d}" maxMessageSize="64k")\n'
                            'module(load="imuxsock" SysSock.Use="off")\n' + shipped)
            r = subprocess.run([RSYSLOGD, "-N1", "-f", str(conf)], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


def main() -> int:
    t0 = time.monotonic()
    suite = unittest.TestSuite()
    loader = unittest.defaultTestLoader
    suite.addTests(loader.loadTestsFromTestCase(Examples))
    suite.addTests(loader.loadTestsFromTestCase(E2E))
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped - len(result.expectedFailures)
    r = E2E.run_
    if r is not None:
        nin = sum(1 for k in r.sessions if k[0] == "smtp-in")
        nout = sum(1 for k in r.sessions if k[0] == "smtp-out")
        print(f"e2e counts: {len(r.records)} client sessions driven; {nin} smtp-in + {nout} smtp-out sessions "
              f"reported, {len(r.stream.events)} events; {len(r.lines)} documents "
              f"({len(r.by_session)} sessions); filter stderr lines {len(r.harness.filter_stderr())}; "
              f"run {r.elapsed:.1f} s")
        r.harness.cleanup(failed=failed > 0 or os.environ.get("E2E_KEEP") == "1")
    print(f"e2e elapsed: {time.monotonic() - t0:.1f} s")
    print(f"e2e {SMTPD.name}: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
