#!/usr/bin/env python3
"""End-to-end test of the syslog sink: filter-jsonlog -> private rsyslogd.

    sudo python3 tests/e2e/test_sinks.py          (after cargo build --release)

The binary is target/release/filter-jsonlog, or $FILTER_JSONLOG_BIN.  No smtpd
here: the filter runs as a child with stdin piped (filter mode, the handshake
first), with its default `--output syslog`.  A private rsyslogd owns /dev/log,
configured as harness.py configures it for test_e2e.py: the shipped
examples/rsyslog.conf with the output path substituted.  The report lines are
valid smtp-in sessions generated here.

- restart: a burst of $E2E_SINKS_EVENTS (default 20,000) report lines; in the
  middle, while the filter is still sending, rsyslogd is stopped (TERM, wait,
  /dev/log gone), more lines are fed while it is down, it is started again,
  the rest is fed, then EOF.  Every line of rsyslog's file must be JSON, no
  document twice, every report line's document there or counted as dropped
  (or among the few a stopped rsyslogd had not read, see Restart), and with
  the default buffer nothing may be dropped.  Then again with a tiny
  --buffer-bytes: drops must happen, be counted, and be reported on stderr
  and by a documents-dropped document after the restart.
- size: a 1,000-recipient transaction through rsyslog at rsyslog's DEFAULT
  message size (8096 bytes, no maxMessageSize): every line whole JSON of at
  most 8000 bytes, the counts exact.
- logrotate: examples/logrotate.conf run by logrotate(8) (paths and the
  postrotate command substituted) while the filter writes through rsyslog:
  the old and the new file hold whole lines, none lost.
- examples: syslog.conf, newsyslog.conf (OpenBSD, checked as text: there is
  no OpenBSD here), logrotate.conf and rsyslog.conf agree on the file names
  with each other and with filebeat/.

Without root, rsyslogd or the binary, the tests are skipped; with CI=true they
fail instead.  The last line of output is
`e2e-sinks: N passed, N failed, N skipped`; the exit status is non-zero on
failure.  Env: E2E_KEEP=1 keeps the temp dirs.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    DEV_LOG, REPO, RSYSLOGD, Harness, filter_binary, log, stop_pid, unix_socket_live,
)

CI = os.environ.get("CI", "").lower() == "true"
EVENTS = int(os.environ.get("E2E_SINKS_EVENTS", "20000"))
KEEP = os.environ.get("E2E_KEEP") == "1"
LOGROTATE = "/usr/sbin/logrotate"
EXAMPLE_LOGROTATE_CONF = REPO / "examples" / "logrotate.conf"
HANDSHAKE = b"config|smtpd-version|6.8.0p2\nconfig|subsystem|smtp-in\nconfig|ready\n"
MAX_LINE = 8000  # the filter's default --max-line-bytes
SUMMARY_RE = re.compile(
    r"exiting: .*\bdocuments=(\d+) \(session=(\d+) metric=(\d+)\) delivered=(\d+) .*\bdropped=(\d+) "
    r"\(buffer_full=(\d+) sink_rejected=(\d+) shutdown=(\d+)\)")

# What the run measured, printed at the end for the report.
MEASURED: list[str] = []


def missing() -> list[str]:
    why = []
    if os.geteuid() != 0:
        why.append("not running as root")
    if not os.access(RSYSLOGD, os.X_OK):
        why.append(f"{RSYSLOGD} not found (apt-get install rsyslog)")
    if not os.access(filter_binary(), os.X_OK):
        why.append(f"filter binary {filter_binary()} not found (cargo build --release, or set FILTER_JSONLOG_BIN)")
    if not why and unix_socket_live(DEV_LOG):
        why.append(f"another syslog daemon owns {DEV_LOG}; stop it first")
    return why


# ---------------------------------------------------------------------------
# the stream


def session(n: int, t: float) -> list[bytes]:
    """One complete smtp-in session (protocol 0.6, Debian 12's smtpd): 14 lines."""
    sid = f"{0x5e55_0000_0000_0000 + n:016x}"
    msg = f"{n:08x}"
    port = 20000 + n % 40000

    def r(i: int, rest: str) -> bytes:
        return f"report|0.6|{t + i * 0.0001:.6f}|smtp-in|{rest}".encode()

    return [
        r(0, f"link-connect|{sid}|client{n % 97}.test|pass|127.0.0.1:{port}|127.0.0.1:25"),
        r(1, f"link-greeting|{sid}|mx.e2e.test"),
        r(2, f"protocol-client|{sid}|EHLO client{n % 97}.test"),
        r(3, f"link-identify|{sid}|EHLO|client{n % 97}.test"),
        r(4, f"protocol-client|{sid}|MAIL FROM:<sender{n}@client.test>"),
        r(5, f"tx-begin|{sid}|{msg}"),
        r(6, f"tx-mail|{sid}|{msg}|ok|sender{n}@client.test"),
        r(7, f"tx-envelope|{sid}|{msg}|{msg}{n % 65536:08x}"),
        r(8, f"tx-rcpt|{sid}|{msg}|ok|rcpt{n}@example.test"),
        r(9, f"tx-data|{sid}|{msg}|ok"),
        r(10, f"tx-commit|{sid}|{msg}|{1000 + n % 5000}"),
        r(11, f"protocol-client|{sid}|QUIT"),
        r(12, f"protocol-server|{sid}|221 2.0.0 Bye"),
        r(13, f"link-disconnect|{sid}"),
    ]


def sessions(first: int, count: int) -> list[bytes]:
    out: list[bytes] = []
    for n in range(first, first + count):
        out.extend(session(n, 1_795_000_000 + n * 0.01))
    return out


def big_transaction(rcpts: int) -> list[bytes]:
    """A session with one transaction of `rcpts` accepted recipients."""
    sid, msg = "b16b16b16b16b16b", "b16b16b1"
    t = 1_795_100_000.0
    lines = [f"link-connect|{sid}|big.client.test|pass|127.0.0.1:33333|127.0.0.1:25",
             f"link-identify|{sid}|EHLO|big.client.test",
             f"tx-begin|{sid}|{msg}",
             f"tx-mail|{sid}|{msg}|ok|bulk@client.test"]
    for i in range(rcpts):
        lines.append(f"tx-envelope|{sid}|{msg}|{msg}{i:08x}")
        lines.append(f"tx-rcpt|{sid}|{msg}|ok|recipient-number-{i:04d}@a-rather-long-domain.example.test")
    lines += [f"tx-data|{sid}|{msg}|ok", f"tx-commit|{sid}|{msg}|4242", f"link-disconnect|{sid}"]
    return [f"report|0.6|{t + i * 0.0001:.6f}|smtp-in|{l}".encode() for i, l in enumerate(lines)]


# ---------------------------------------------------------------------------
# the processes


class PrivateRsyslog:
    """rsyslogd on /dev/log with harness.py's configuration (examples/rsyslog.conf)."""

    def __init__(self, tag: str, *, default_size: bool = False) -> None:
        self.h = Harness(rsyslog=True, recorder=False, tag=tag)
        self.h.base = Path(tempfile.mkdtemp(prefix=f"filter-jsonlog-{tag}-", dir="/tmp"))
        (self.h.base / "rsyslog").mkdir()
        self.h.json_out = self.h.base / "rsyslog" / "filter-jsonlog.json"
        self.h.other_log = self.h.base / "rsyslog" / "other.log"
        conf = self.h.rsyslog_conf()
        if default_size:  # rsyslog's default message size: what most installs have
            conf, n = re.subn(r' maxMessageSize="[^"]*"', "", conf)
            assert n == 1, "harness.rsyslog_conf() no longer sets maxMessageSize"
        (self.h.base / "rsyslog" / "rsyslog.conf").write_text(conf)
        self.starts = 0

    @property
    def out(self) -> Path:
        return self.h.json_out

    @property
    def pid(self) -> int:
        assert self.h.rsyslog_proc is not None
        return self.h.rsyslog_proc.pid

    def start(self) -> float:
        t0 = time.monotonic()
        self.h._start_rsyslog()  # waits until /dev/log answers
        self.starts += 1
        return time.monotonic() - t0

    def stop(self) -> float:
        """TERM, wait for the exit, and make sure /dev/log is gone."""
        t0 = time.monotonic()
        if self.h.rsyslog_proc is not None:
            stop_pid(self.h.rsyslog_proc, "rsyslogd")
            self.h.rsyslog_proc = None
        if os.path.exists(DEV_LOG) and not unix_socket_live(DEV_LOG):
            os.unlink(DEV_LOG)  # left behind only if rsyslogd had to be KILLed
        return time.monotonic() - t0

    def lines(self) -> list[bytes]:
        return self.out.read_bytes().splitlines() if self.out.exists() else []

    def wait_lines(self, n: int, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        have = 0
        while time.monotonic() < deadline:
            have = len(self.lines())
            if have >= n:
                break
            time.sleep(0.1)
        return have

    def cleanup(self, failed: bool) -> None:
        self.stop()
        if KEEP or failed:
            log(f"kept {self.h.base}")
        else:
            shutil.rmtree(self.h.base, ignore_errors=True)


class Filter:
    """filter-jsonlog in filter mode, stdin piped; stderr collected with times."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [str(filter_binary()), *args], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.stderr: list[tuple[float, str]] = []
        self.stdout = b""
        self._err = threading.Thread(target=self._read_err, daemon=True)
        self._out = threading.Thread(target=self._read_out, daemon=True)
        self._err.start()
        self._out.start()
        self.fed = 0  # report lines

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append((time.monotonic(), line.decode(errors="replace").rstrip("\n")))

    def _read_out(self) -> None:
        assert self.proc.stdout is not None
        self.stdout = self.proc.stdout.read()

    def feed(self, lines: list[bytes]) -> float:
        """Writes the lines; returns the seconds the filter took to take them."""
        assert self.proc.stdin is not None
        t0 = time.monotonic()
        self.proc.stdin.write(b"".join(l + b"\n" for l in lines))
        self.proc.stdin.flush()
        self.fed += sum(1 for l in lines if l.startswith(b"report|"))
        return time.monotonic() - t0

    def finish(self, timeout: float = 60) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError(f"filter did not exit within {timeout} s of EOF")
        self._err.join(10)
        self._out.join(10)
        return rc

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def text(self) -> str:
        return "\n".join(l for _, l in self.stderr)

    def summary(self) -> dict[str, int]:
        for _, line in reversed(self.stderr):
            m = SUMMARY_RE.search(line)
            if m:
                keys = ("documents", "session", "metric", "delivered", "dropped",
                        "buffer_full", "sink_rejected", "shutdown")
                return dict(zip(keys, map(int, m.groups())))
        raise AssertionError(f"no `exiting:` summary on stderr:\n{self.text()}")


def get(doc: dict, path: str):
    cur = doc
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def parse_all(testcase: unittest.TestCase, lines: list[bytes]) -> list[dict]:
    docs, bad = [], []
    for i, l in enumerate(lines):
        try:
            d = json.loads(l)
            if not isinstance(d, dict):
                raise ValueError("not an object")
            docs.append(d)
        except ValueError as e:
            bad.append(f"line {i + 1} ({len(l)} bytes): {e}: {l[:120]!r}…")
    testcase.assertEqual(bad[:10], [], f"{len(bad)} lines of rsyslog's file are not JSON documents")
    return docs


def wall(doc: dict) -> float:
    return datetime.datetime.fromisoformat(doc["@timestamp"].replace("Z", "+00:00")).timestamp()


# ---------------------------------------------------------------------------
# the tests


class SinkTest(unittest.TestCase):
    def setUp(self) -> None:
        why = missing()
        if why:
            msg = "; ".join(why)
            if CI:
                self.fail(msg + " (CI=true: that is a failure)")
            self.skipTest(msg)
        self.failed = True
        self.procs: list = []

    def tearDown(self) -> None:
        for p in reversed(getattr(self, "procs", [])):
            try:
                if isinstance(p, Filter):
                    p.kill()
                else:
                    p.cleanup(failed=self.failed)
            except Exception as e:  # noqa: BLE001 - best effort, keep cleaning
                log(f"cleanup: {e}")

    def rsyslog(self, tag: str, **kw) -> PrivateRsyslog:
        r = PrivateRsyslog(tag, **kw)
        self.procs.append(r)
        return r

    def filter(self, *args: str) -> Filter:
        f = Filter(*args)
        self.procs.append(f)
        return f


class Restart(SinkTest):
    """rsyslogd stopped and started again in the middle of a burst.

    Counted: report lines fed; session documents in rsyslog's file; the
    filter's `exiting:` summary (documents, delivered, dropped by reason);
    the documents-dropped documents in the stream (dropped_since_last).

    The lines are fed in chunks, at a rate rsyslogd keeps up with (a whole
    20,000-line burst written at once is ~19 MB of documents within 0.1 s:
    more than the 8 MiB buffer, whatever syslogd does).

    What a stopped rsyslogd had not yet read from its socket is lost with it:
    the kernel drops the datagrams queued on /dev/log when rsyslogd closes it,
    after the filter's send() succeeded.  The sender cannot see that (there is
    no acknowledgement in syslog over a datagram socket, glibc's syslog(3) has
    the same limit).  The queue holds at most net.unix.max_dgram_qlen + 1
    datagrams, so that many may be counted as delivered and not be in the
    file; the test measures it and allows no more.
    """

    def wait_stderr(self, f: Filter, code: str, since: float, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for t, line in list(f.stderr):
                if t >= since and f": {code}:" in line:
                    return t - since
            time.sleep(0.02)
        self.fail(f"no `{code}` on the filter's stderr within {timeout} s:\n{f.text()}")

    def burst_with_restart(self, tag: str, *args: str, paced: tuple[int, float],
                           paced_after: tuple[int, float], last_at_once: int,
                           wait_recovery: bool) -> dict:
        """paced, paced_after: (lines per chunk, pause after each chunk)
        before the stop and after the restart; last_at_once: the last lines before the stop come in one write, so
        the writer is busy sending them when rsyslogd stops; wait_recovery:
        after the restart, wait for `sink_recovered` before feeding the rest."""
        r = self.rsyslog(tag)
        r.start()
        f = self.filter(*args)
        f.feed([HANDSHAKE.rstrip(b"\n")])
        stream = sessions(0, -(-EVENTS // 14))
        half, down_part = len(stream) // 2, len(stream) // 10
        before, while_down, after = stream[:half], stream[half:half + down_part], stream[half + down_part:]
        def feed_paced(lines: list[bytes], chunk: int, pause: float) -> float:
            t = time.monotonic()
            for i in range(0, len(lines), chunk):
                f.feed(lines[i:i + chunk])
                if i + chunk < len(lines):
                    time.sleep(pause)
            return time.monotonic() - t

        t0 = time.monotonic()
        feed_before = feed_paced(before[:len(before) - last_at_once], *paced)
        feed_before += f.feed(before[len(before) - last_at_once:])
        stopped_at = time.monotonic()
        stop_s = r.stop()  # the writer is still sending the last lines
        self.assertFalse(os.path.exists(DEV_LOG), "/dev/log still there after rsyslogd exited")
        feed_down = f.feed(while_down)  # at once: into the buffer (or dropped)
        unavailable_after = self.wait_stderr(f, "sink_unavailable", stopped_at, 10)
        time.sleep(1.0)  # down for a while: the sink keeps retrying
        restart_wall = time.time()
        restarted_at = time.monotonic()
        start_s = r.start()
        recovered_after = None
        if wait_recovery:
            recovered_after = self.wait_stderr(f, "sink_recovered", restarted_at, 10)
        feed_after = feed_paced(after, *paced_after)
        rc = f.finish()
        total = time.monotonic() - t0
        if recovered_after is None:
            recovered_after = self.wait_stderr(f, "sink_recovered", restarted_at, 1)
        r.stop()  # flushes rsyslog's file; /dev/log gone
        self.assertEqual(rc, 0, f.text())
        self.assertEqual(f.stdout, b"register|report|smtp-in|*\nregister|ready\n")
        lines = r.lines()
        docs = parse_all(self, lines)
        events = [d for d in docs if get(d, "event.kind") == "event"]
        metrics = [d for d in docs if get(d, "event.kind") == "metric"]
        self.assertEqual(len(events) + len(metrics), len(docs), "only event and metric documents")
        longest = max(map(len, lines))
        self.assertLessEqual(longest, MAX_LINE)
        keys = [(get(d, "opensmtpd.session.id"), get(d, "event.sequence")) for d in events]
        self.assertEqual(len(set(keys)), len(keys), "a document arrived twice")
        s = f.summary()
        dropped_docs = [d for d in metrics if get(d, "event.action") == "documents-dropped"]
        reported = sum(get(d, "opensmtpd.jsonlog.dropped_since_last") or 0 for d in dropped_docs)
        lost_in_socket = s["delivered"] - len(docs)
        err = f.text()
        MEASURED.append(
            f"{tag}: report lines {f.fed} ({len(before)} before the stop, {len(while_down)} while down, "
            f"{len(after)} after the restart); in rsyslog's file {len(events)} + {len(metrics)} metric docs; "
            f"filter: delivered {s['delivered']}, dropped {s['dropped']} (buffer_full={s['buffer_full']} "
            f"sink_rejected={s['sink_rejected']} shutdown={s['shutdown']}), reported in the stream {reported}; "
            f"lost in the stopped rsyslogd's socket {lost_in_socket}; longest line {longest} B; "
            f"feeding {feed_before:.2f}+{feed_down:.2f}+{feed_after:.2f} s; rsyslogd stop {stop_s:.2f} s, "
            f"start {start_s:.2f} s; sink_unavailable {unavailable_after:.2f} s after the stop, "
            f"sink_recovered {recovered_after:.2f} s after the restart; run {total:.1f} s")
        log(MEASURED[-1])
        self.assertIn("sink_unavailable", err, "the outage is not on stderr")
        self.assertIn("sink_recovered", err, "the recovery is not on stderr")
        self.assertEqual(s["session"], f.fed, "one document per report line")
        self.assertEqual(s["documents"], s["session"] + s["metric"])
        # Nothing lost silently: every report line's document is in the file,
        # or counted as dropped, or was in the stopped rsyslogd's socket.
        qlen = int(Path("/proc/sys/net/unix/max_dgram_qlen").read_text())
        self.assertGreaterEqual(lost_in_socket, 0, "more documents in the file than delivered")
        self.assertLessEqual(lost_in_socket, qlen + 1,
                             "more documents missing than the stopped rsyslogd's socket could hold")
        self.assertEqual(len(events) + s["dropped"] + lost_in_socket, f.fed,
                         f"arrived {len(events)} + dropped {s['dropped']} + lost in the socket {lost_in_socket} "
                         f"!= report lines {f.fed}\n{err}")
        return dict(fed=f.fed, arrived=len(events), reported=reported, dropped_docs=dropped_docs,
                    restart_wall=restart_wall, restarted_at=restarted_at, stderr=f.stderr, **s)

    def test_restart_default_buffer_loses_nothing(self):
        # 10,000 lines/s before the stop, the last 2000 lines before it and
        # the 2000 while rsyslogd is down at once, then 2,500 lines/s (a busy
        # MX; ~2.4 MB/s of documents) without waiting for the reconnection,
        # which may take up to a second: the 8 MiB buffer holds all of it.
        res = self.burst_with_restart("sinks-restart", paced=(200, 0.02), paced_after=(100, 0.04),
                                      last_at_once=2000, wait_recovery=False)
        self.assertEqual(res["dropped"], 0, "8 MiB of buffer must hold the documents of a short outage")
        self.assertEqual(res["dropped_docs"], [], "a documents-dropped document with nothing dropped")
        self.failed = False

    def test_restart_tiny_buffer_counts_and_reports_drops(self):
        # 200 kB of buffer (memory, batches included): what comes while
        # rsyslogd is down (2000 lines, about 1.6 MB of documents) is dropped.
        # Before the stop and after the recovery the lines come slowly enough
        # for that buffer, so the drops are those of the outage only.
        res = self.burst_with_restart("sinks-drops", "--buffer-bytes", "200000", paced=(50, 0.005),
                                      paced_after=(50, 0.005), last_at_once=0, wait_recovery=True)
        self.assertGreater(res["buffer_full"], 0, "a 200 kB buffer cannot hold an outage's documents")
        self.assertTrue(res["dropped_docs"], "no documents-dropped document in the stream")
        late = [d for d in res["dropped_docs"] if wall(d) >= res["restart_wall"] - 0.5]
        self.assertTrue(late, "no documents-dropped document after rsyslogd came back")
        # Drops are reported once the sink is back and lines come; drops in
        # the very last lines (none expected at this pace) have no later
        # line to report them and are on stderr only.
        self.assertGreater(res["reported"], 0)
        self.assertLessEqual(res["reported"], res["dropped"])
        said = [line for t, line in res["stderr"] if t >= res["restarted_at"] and ": documents_dropped:" in line]
        # On a loaded machine the 100 kB buffer also overflows before the stop;
        # that warning then holds back the next one for its 10 s (one per code
        # every 10 s), so it stands for the outage's drops too.
        said += [line for t, line in res["stderr"]
                 if res["restarted_at"] - 10 <= t < res["restarted_at"] and ": documents_dropped:" in line]
        self.assertTrue(said, "stderr does not report the drops once rsyslogd is back")
        self.failed = False


class Size(SinkTest):
    def test_thousand_recipients_whole_lines_at_rsyslog_default_size(self):
        r = self.rsyslog("sinks-size", default_size=True)
        r.start()
        f = self.filter()
        f.feed([HANDSHAKE.rstrip(b"\n")])
        big = big_transaction(1000)
        p = b"report|0.6|1795100001.%06d|smtp-in|"
        long_session = [
            p % 1 + b"link-connect|b16b16b16b16b16c|long.client.test|pass|127.0.0.1:33334|127.0.0.1:25",
            p % 2 + b"protocol-client|b16b16b16b16b16c|NOOP " + b"X" * 1_000_000,  # a 1 MB command (bare base64 is masked)
            p % 3 + b"link-disconnect|b16b16b16b16b16c",
        ]
        f.feed(big + long_session)
        rc = f.finish()
        r.stop()
        self.assertEqual(rc, 0, f.text())
        lines = r.lines()
        docs = parse_all(self, lines)
        events = [d for d in docs if get(d, "event.kind") == "event"]
        self.assertEqual(len(events), f.fed, "one document per report line")
        self.assertLessEqual(max(map(len, lines)), MAX_LINE)
        rcpts = [d for d in events if get(d, "event.action") == "tx-rcpt"]
        self.assertEqual(get(rcpts[-1], "opensmtpd.transaction.rcpt_accepted"), 1000)
        self.assertIs(get(rcpts[-1], "opensmtpd.truncated"), True)
        long_docs = [d for d in events if get(d, "opensmtpd.session.id") == "b16b16b16b16b16c"]
        self.assertEqual([get(d, "event.action") for d in long_docs],
                         ["link-connect", "protocol-client", "link-disconnect"])
        self.assertIs(get(long_docs[1], "opensmtpd.truncated"), True, "the 1 MB line's document")
        truncated = sum(1 for d in events if get(d, "opensmtpd.truncated") is True)
        MEASURED.append(f"size: {f.fed} report lines -> {len(events)} documents through rsyslog at its default "
                        f"8096-byte limit, {truncated} marked truncated, longest line {max(map(len, lines))} B")
        self.failed = False


class Logrotate(SinkTest):
    def test_example_logrotate_conf_with_rsyslog(self):
        if not os.access(LOGROTATE, os.X_OK):
            if CI:
                self.fail("logrotate missing (CI=true)")
            self.skipTest("needs logrotate")
        r = self.rsyslog("sinks-logrotate")
        r.start()
        text = EXAMPLE_LOGROTATE_CONF.read_text()
        shipped = "/var/log/filter-jsonlog.json"
        self.assertIn(shipped, text)
        self.assertIn("/usr/lib/rsyslog/rsyslog-rotate", text)
        self.assertIn("/run/rsyslogd.pid", text, "the fallback without systemd")
        # The private rsyslogd is not a service and has a pid file of its
        # own: the systemd branch HUPs it by PID, the other reads its pid file.
        conf = (text.replace(shipped, str(r.out))
                .replace("/usr/lib/rsyslog/rsyslog-rotate", f"kill -HUP {r.pid}")
                .replace("/run/rsyslogd.pid", str(r.h.base / "rsyslog/rsyslogd.pid")))
        conf_path = r.h.base / "logrotate.conf"
        conf_path.write_text(conf)
        f = self.filter()
        f.feed([HANDSHAKE.rstrip(b"\n")])
        first, second = sessions(0, 300), sessions(300, 300)
        f.feed(first)
        self.assertEqual(r.wait_lines(len(first), 20), len(first))
        out = subprocess.run([LOGROTATE, "-f", "-s", str(r.h.base / "logrotate.state"), str(conf_path)],
                             capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        rotated = Path(str(r.out) + ".1")
        self.assertTrue(rotated.exists(), f"no {rotated} (delaycompress keeps .1 uncompressed)")
        f.feed(second)
        self.assertEqual(r.wait_lines(len(second), 20), len(second), "rsyslog did not reopen after the HUP")
        rc = f.finish()
        r.stop()
        self.assertEqual(rc, 0, f.text())
        old = parse_all(self, rotated.read_bytes().splitlines())
        new = [d for d in parse_all(self, r.lines()) if get(d, "event.kind") == "event"]
        self.assertEqual(len(old), len(first))
        self.assertEqual(len(new), len(second))
        self.failed = False


def config_lines(path: Path) -> list[str]:
    return [l for l in path.read_text().splitlines() if l.strip() and not l.lstrip().startswith("#")]


class Examples(unittest.TestCase):
    """The rotation and OpenBSD examples, as text (no root needed)."""

    EX = REPO / "examples"

    def test_openbsd_syslog_conf(self):
        lines = config_lines(self.EX / "syslog.conf")
        # !!prog: the block's messages stop there (not also in maillog); !*
        # ends the block.  Fields separated by blanks (tabs here).
        self.assertEqual(lines[0], "!!filter-jsonlog")
        self.assertEqual(lines[1].split(), ["*.*", "/var/log/filter-jsonlog"])
        self.assertEqual(lines[2], "!*")
        self.assertEqual(len(lines), 3)

    def test_openbsd_newsyslog_conf(self):
        lines = config_lines(self.EX / "newsyslog.conf")
        self.assertEqual(len(lines), 1)
        name, owner, mode, count, size, when, flags = lines[0].split()
        self.assertEqual(name, "/var/log/filter-jsonlog", "the file examples/syslog.conf writes")
        self.assertRegex(owner, r"^\w+:\w+$")
        self.assertRegex(mode, r"^[0-7]{3}$")
        self.assertTrue(count.isdigit() and (size == "*" or size.isdigit()))
        self.assertIn("B", flags, "B: no 'logfile turned over' line in the JSON file")
        filebeat = REPO / "filebeat" / "filebeat-openbsd.yml"
        if filebeat.exists():
            self.assertIn(name, filebeat.read_text())

    def test_logrotate_conf_names_rsyslogs_file(self):
        text = (self.EX / "logrotate.conf").read_text()
        m = re.search(r'file="([^"]+)"', (self.EX / "rsyslog.conf").read_text())
        self.assertIsNotNone(m)
        self.assertIn(f"{m.group(1)} {{", text)
        self.assertRegex(text, r"(?m)^\s+create\s")
        self.assertNotRegex(text, r"(?m)^\s+copytruncate", "create + HUP: copytruncate can lose lines")
        filebeat = REPO / "filebeat" / "filebeat.yml"
        if filebeat.exists():
            self.assertIn(m.group(1), filebeat.read_text())
        if os.access(LOGROTATE, os.X_OK):
            with tempfile.TemporaryDirectory() as d:
                conf = Path(d, "lr.conf")
                conf.write_text(text.replace(m.group(1), str(Path(d, "x.json"))))
                Path(d, "x.json").write_text("{}\n")
                r = subprocess.run([LOGROTATE, "-d", "-s", str(Path(d, "state")), str(conf)],
                                   capture_output=True, text=True)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertNotIn("error", (r.stdout + r.stderr).lower(), r.stdout + r.stderr)


def main() -> int:
    t0 = time.monotonic()
    suite = unittest.TestSuite()
    loader = unittest.defaultTestLoader
    for case in (Examples, Restart, Size, Logrotate):
        suite.addTests(loader.loadTestsFromTestCase(case))
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped - len(result.expectedFailures)
    for m in MEASURED:
        print(f"e2e-sinks measured: {m}")
    print(f"e2e-sinks elapsed: {time.monotonic() - t0:.1f} s")
    print(f"e2e-sinks: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
