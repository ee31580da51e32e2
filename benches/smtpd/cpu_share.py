#!/usr/bin/env python3
"""What logging costs a real mail server: the CPU share of a report filter
under OpenSMTPD 7.8.0p1, filter-jsonlog against the floor filter, one run.

A bench, not a test: it prints a table and writes a JSON result file;
nothing fails when a number moves.  Run as root (smtpd must start):

    cargo build --release --locked
    sudo FILTER_JSONLOG_BIN=target/release/filter-jsonlog \\
        python3 benches/smtpd/cpu_share.py --json target/cpu_share.json

One private smtpd (built from ../shared/opensmtpd by tests/e2e/opensmtpd78.sh,
or $E2E_SMTPD) with one plain loopback listener per filter:

  floor           ../shared/bench/floor-filter.c, compiled with cc -O2 into the
                  run's temp dir: answers the handshake, copies what it reads
                  to a file.  The least any report filter can cost.
  jsonlog-file    filter-jsonlog --output file:OUT
  jsonlog-syslog  filter-jsonlog with the default sink (syslog), sending to a
                  unix datagram socket (--syslog-socket) that a thread of
                  this script drains: syslogd's own CPU is not the filter's.

Each filter gets the same traffic in a phase of its own: SESSIONS sessions of
one fixed message each (EHLO, MAIL, RCPT, DATA, QUIT), CONCURRENCY at a time.
Around a phase it samples, from /proc (the end sample is the first that
saw the phase's whole output, found by sampling every 0.1 s until the output
has not grown for a second): the filter's utime+stime (ticks, field
14+15 of /proc/PID/stat) and its threads' time on CPU (ns, the first field of
/proc/PID/task/*/schedstat, which is not rounded to ticks), and the same for
every smtpd process (the `smtpd -d` parent and its `smtpd: ...` children).
The filter's share is its CPU over smtpd's in that phase.  Events are the
report lines the filter turned into output: lines of the floor's file,
documents of filter-jsonlog (its self-metrics documents left out).

Then, unless --no-strace, a second pass per filter with `strace -c -f -p` on
the filter (all its threads) counts system calls per event; strace slows the
filter, so that pass is never the one whose CPU is measured.

The smtpd run takes /tmp/e2e.lock (flock, as tests/e2e do: only one smtpd may
run at a time on the machine) and gives up after --timeout seconds.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "tests" / "e2e"))

import harness  # noqa: E402  (tests/e2e/harness.py, used as it is)
from driver import Client, SessionRecord, expect  # noqa: E402

LOCK = "/tmp/e2e.lock"
FLOOR_SRC = Path(os.environ.get("FLOOR_FILTER_SRC", REPO.parent / "shared" / "bench" / "floor-filter.c"))
CLK_TCK = os.sysconf("SC_CLK_TCK")
HELO = b"bench.client.test"
SENDER = b"bench@client.test"
RCPT = b"alice@example.test"
# Fixed message: 20 lines of 60 characters, so every run sends the same bytes.
BODY = b"".join(b"%02d " % i + b"x" * 57 + b"\r\n" for i in range(20))
METRIC = b'"kind":"metric"'


def log(msg: str) -> None:
    print(f"[cpu_share {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# /proc


def proc_ticks(pid: int) -> tuple[int, int]:
    """(utime+stime, cutime+cstime) in clock ticks."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2:].split()  # after "pid (comm) "
    # fields[0] is field 3 (state); utime is field 14
    return int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


def proc_ns(pid: int) -> int:
    """Time on CPU of the process's live threads, in ns (schedstat)."""
    total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for tid in tids:
        try:
            total += int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def ppid_and_comm(pid: int) -> Optional[tuple[int, str]]:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = raw[raw.index("(") + 1:raw.rindex(")")]
    return int(raw[raw.rindex(")") + 2:].split()[1]), comm


def smtpd_pids(root: int) -> list[int]:
    """root and its descendants named smtpd (filters are named after their binary)."""
    children: dict[int, list[int]] = {}
    comms: dict[int, str] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            pc = ppid_and_comm(int(d))
            if pc:
                children.setdefault(pc[0], []).append(int(d))
                comms[int(d)] = pc[1]
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if comms.get(pid) == "smtpd":
            out.append(pid)
        todo.extend(children.get(pid, []))
    return sorted(out)


def proc_counters(pid: int) -> tuple[int, int, int]:
    """(read system calls, write system calls, voluntary context switches) of a process:
    /proc/PID/io counts every thread, dead ones too; a voluntary switch is a
    thread going to sleep (in read, futex, poll...), so each is one wake-up."""
    io = dict(l.split(": ", 1) for l in Path(f"/proc/{pid}/io").read_text().splitlines())
    switches = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            for line in Path(f"/proc/{pid}/task/{tid}/status").read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    switches += int(line.split()[1])
        except OSError:
            pass
    return int(io["syscr"]), int(io["syscw"]), switches


@dataclass
class Sample:
    filter_ticks: int
    filter_ns: int
    filter_reads: int
    filter_writes: int
    filter_sleeps: int
    smtpd_ticks: dict[int, int]
    smtpd_ns: dict[int, int]
    smtpd_child_ticks: dict[int, int]  # reaped children: mda deliveries
    events: int
    t: float


# --------------------------------------------------------------------------
# outputs: count what each filter wrote


class FileCounter:
    """Counts complete lines appended to a file, reading only what is new."""

    def __init__(self, path: Path, skip: Optional[bytes] = None):
        self.path, self.skip = path, skip
        self.offset, self.partial, self.count = 0, b"", 0

    def __call__(self) -> int:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return self.count
        self.offset += len(data)
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        self.count += sum(1 for l in lines if l and not (self.skip and self.skip in l))
        return self.count


class DatagramReceiver:
    """A syslog daemon that only counts: a unix datagram socket drained by a thread."""

    def __init__(self, path: Path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        os.chmod(path, 0o666)  # the filter runs as smtpd's filter user
        # room for bursts, so that the sink never waits for this thread
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.settimeout(0.2)
        self.count = 0
        self.bytes = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="syslog-receiver", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped.is_set():
            try:
                msg = self.sock.recv(1 << 17)
            except socket.timeout:
                continue
            except OSError:
                return
            self.bytes += len(msg)
            if METRIC not in msg:
                self.count += 1

    def __call__(self) -> int:
        return self.count

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(2)
        self.sock.close()


# --------------------------------------------------------------------------
# the run


@dataclass
class Filter:
    name: str
    port: int
    command: str  # the proc-exec command line
    needle: str  # unique in the filter's command line
    count: Callable[[], int] = field(repr=False, default=lambda: 0)
    pid: int = 0


@dataclass
class Result:
    name: str
    port: int
    command: str
    sessions: int
    events: int
    wall_s: float
    filter_ticks: int
    filter_cpu_ms: float
    smtpd_ticks: int
    smtpd_cpu_ms: float
    smtpd_processes: int
    mda_ticks: int
    share_ticks: float
    share_cpu: float
    us_per_event: float
    us_per_event_ticks: float
    events_per_session: float
    reads: int  # read(2)-class calls (/proc/PID/io syscr), counted without tracing
    writes: int  # write(2)-class calls (syscw)
    sleeps: int  # voluntary context switches of the filter's threads
    reads_per_event: float
    writes_per_event: float
    sleeps_per_event: float
    strace: Optional[dict] = None
    rounds: list = field(default_factory=list)


def one_session(port: int, i: int) -> None:
    rec = SessionRecord(scenario="bench", transport="tcp4")
    c = Client(rec, "127.0.0.1", port)
    expect(c.helo(HELO), 250, "EHLO")
    expect(c.mail(SENDER), 250, "MAIL FROM")
    expect(c.rcpt(RCPT), 250, "RCPT TO")
    expect(c.data(body=BODY, subject=b"bench"), 250, "end of DATA")
    c.quit()


def drive(port: int, sessions: int, concurrency: int) -> float:
    t0 = time.monotonic()
    if concurrency <= 1:
        for i in range(sessions):
            one_session(port, i)
    else:
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(lambda i: one_session(port, i), range(sessions)))
    return time.monotonic() - t0


def settle(count: Callable[[], int], quiet: float = 1.0, timeout: float = 60.0) -> int:
    """Wait until the filter's output stops growing for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    last, since = count(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        n = count()
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return n
    log(f"output still growing after {timeout:.0f} s")
    return last


def sample(f: Filter, smtpd_root: int) -> Sample:
    pids = smtpd_pids(smtpd_root)
    ticks, child, ns = {}, {}, {}
    for p in pids:
        try:
            ticks[p], child[p] = proc_ticks(p)
            ns[p] = proc_ns(p)
        except OSError:
            pass
    ft, _ = proc_ticks(f.pid)
    reads, writes, sleeps = proc_counters(f.pid)
    return Sample(ft, proc_ns(f.pid), reads, writes, sleeps, ticks, ns, child, f.count(), time.monotonic())


def settled_sample(f: Filter, smtpd_root: int, quiet: float = 1.0, timeout: float = 60.0) -> Sample:
    """The first sample that saw the filter's whole output, taken once the
    output has not grown for `quiet` seconds: so the idle wait after the
    traffic is not counted (a timer that wakes the filter while idle would
    otherwise add to its CPU and sleeps)."""
    deadline = time.monotonic() + timeout
    first = sample(f, smtpd_root)
    while time.monotonic() < deadline:
        time.sleep(0.1)
        s = sample(f, smtpd_root)
        if s.events != first.events:
            first = s
        elif s.t - first.t >= quiet:
            return first
    log(f"{f.name}: output still growing after {timeout:.0f} s")
    return first


def delta(a: dict[int, int], b: dict[int, int]) -> int:
    return sum(b[p] - a[p] for p in b if p in a)


def result(f: Filter, sessions: int, events: int, wall: float, ft: int, fns: int, st: int, sns: int,
           nproc: int, mda: int, reads: int, writes: int,
           sleeps: int) -> Result:
    return Result(
        name=f.name, port=f.port, command=f.command, sessions=sessions, events=events,
        wall_s=round(wall, 3), filter_ticks=ft, filter_cpu_ms=round(fns / 1e6, 1),
        smtpd_ticks=st, smtpd_cpu_ms=round(sns / 1e6, 1), smtpd_processes=nproc, mda_ticks=mda,
        share_ticks=round(ft / st, 4) if st else 0.0,
        share_cpu=round(fns / sns, 4) if sns else 0.0,
        us_per_event=round(fns / 1e3 / events, 2) if events else 0.0,
        us_per_event_ticks=round(ft * 1e6 / CLK_TCK / events, 2) if events else 0.0,
        events_per_session=round(events / sessions, 2), reads=reads, writes=writes,
        sleeps=sleeps, reads_per_event=round(reads / events, 3) if events else 0.0,
        writes_per_event=round(writes / events, 3) if events else 0.0,
        sleeps_per_event=round(sleeps / events, 3) if events else 0.0)


def measure(f: Filter, smtpd_root: int, sessions: int, concurrency: int) -> Result:
    settle(f.count, quiet=0.5)
    s0 = sample(f, smtpd_root)
    wall = drive(f.port, sessions, concurrency)
    s1 = settled_sample(f, smtpd_root)
    return result(f, sessions, s1.events - s0.events, wall, s1.filter_ticks - s0.filter_ticks,
                  s1.filter_ns - s0.filter_ns, delta(s0.smtpd_ticks, s1.smtpd_ticks),
                  delta(s0.smtpd_ns, s1.smtpd_ns), len(s1.smtpd_ticks),
                  delta(s0.smtpd_child_ticks, s1.smtpd_child_ticks),
                  s1.filter_reads - s0.filter_reads, s1.filter_writes - s0.filter_writes,
                  s1.filter_sleeps - s0.filter_sleeps)


def total(f: Filter, rounds: list[Result]) -> Result:
    """The rounds of one filter as one measurement: sums, and ratios of the sums."""
    r = result(f, sum(x.sessions for x in rounds), sum(x.events for x in rounds),
               sum(x.wall_s for x in rounds), sum(x.filter_ticks for x in rounds),
               round(sum(x.filter_cpu_ms for x in rounds) * 1e6), sum(x.smtpd_ticks for x in rounds),
               round(sum(x.smtpd_cpu_ms for x in rounds) * 1e6), max(x.smtpd_processes for x in rounds),
               sum(x.mda_ticks for x in rounds), sum(x.reads for x in rounds),
               sum(x.writes for x in rounds),
               sum(x.sleeps for x in rounds))
    r.rounds = [asdict(x) for x in rounds]
    return r


STRACE_TOTAL = re.compile(r"^\s*100\.00\s+\S+\s+\S+\s+(\d+)\s+(?:(\d+)\s+)?total\s*$")
STRACE_ROW = re.compile(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:(\d+)\s+)?(\w+)\s*$")


def parse_strace(text: str) -> tuple[int, dict[str, int]]:
    total, rows = 0, {}
    for line in text.splitlines():
        m = STRACE_TOTAL.match(line)
        if m:
            total = int(m.group(1))
            continue
        m = STRACE_ROW.match(line)
        if m:
            rows[m.group(3)] = int(m.group(1))
    return total, rows


def strace_pass(f: Filter, base: Path, sessions: int, concurrency: int) -> dict:
    out = base / f"strace-{f.name}.txt"
    settle(f.count, quiet=0.5)
    threads = len(os.listdir(f"/proc/{f.pid}/task"))
    st = subprocess.Popen(["strace", "-c", "-f", "-p", str(f.pid), "-o", str(out)],
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          start_new_session=True)
    harness._live[st.pid] = st
    # strace says "Process N attached" (and "with T threads" when there are several)
    buf = b""
    deadline = time.monotonic() + 10
    os.set_blocking(st.stderr.fileno(), False)
    while b"attached" not in buf and time.monotonic() < deadline and st.poll() is None:
        buf += st.stderr.read() or b""
        time.sleep(0.05)
    m = re.search(rb"attached with (\d+) threads", buf)
    attached = int(m.group(1)) if m else 1 if b"attached" in buf else 0
    if attached != threads:
        log(f"{f.name}: strace attached to {attached} of {threads} threads")
    e0 = f.count()
    drive(f.port, sessions, concurrency)
    events = settle(f.count) - e0
    st.send_signal(signal.SIGINT)
    try:
        st.wait(10)
    except subprocess.TimeoutExpired:
        st.kill()
        st.wait(5)
    harness._live.pop(st.pid, None)
    total, rows = parse_strace(out.read_text(errors="replace") if out.exists() else "")
    top = dict(sorted(rows.items(), key=lambda kv: -kv[1])[:8])
    return {"sessions": sessions, "events": events, "threads_attached": attached,
            "syscalls": total, "per_event": round(total / events, 3) if events else 0.0,
            "by_call": top, "by_call_per_event": {k: round(v / events, 3) for k, v in top.items()} if events else {}}


def smtpd_path() -> str:
    env = os.environ.get("E2E_SMTPD")
    if env:
        return env
    out = subprocess.run(["bash", str(REPO / "tests/e2e/opensmtpd78.sh")], stdout=subprocess.PIPE, text=True)
    if out.returncode != 0 or not out.stdout.strip():
        sys.exit(f"cpu_share: tests/e2e/opensmtpd78.sh failed (exit {out.returncode}); set E2E_SMTPD")
    return out.stdout.strip().splitlines()[-1]


def smtpd_conf(base: Path, filters: list[Filter], probe: int) -> str:
    decl = "\n".join(f'filter {f.name.replace("-", "_")} proc-exec "{f.command}"' for f in filters)
    listen = "\n".join(f"listen on 127.0.0.1 port {f.port} hostname mx.bench.test filter {f.name.replace('-', '_')}"
                       for f in filters)
    return f"""\
# Generated by benches/smtpd/cpu_share.py.  One listener per filter.
table vusers file:{base}/etc/vusers
{decl}
{listen}
listen on 127.0.0.1 port {probe} hostname mx.bench.test
action "maildir" maildir "{base}/maildir/%{{rcpt.user}}" virtual <vusers>
match from any for domain "example.test" action "maildir"
"""


def find_filter_pid(base: Path, needle: str) -> int:
    for pid in harness.pids_mentioning(str(base)):
        pc = ppid_and_comm(pid)
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes() if pc else b""
        if pc and pc[1] != "sh" and needle.encode() in cmd:
            return pid
    return 0


def git(*argv: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *argv], capture_output=True, text=True).stdout.strip()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def run(args: argparse.Namespace) -> dict:
    jsonlog = harness.filter_binary()
    smtpd = harness.Smtpd.under_prefix(smtpd_path())
    missing = harness.missing_prerequisites(need_rsyslog=False, filter_bin=jsonlog, smtpd=smtpd)
    if not shutil.which("cc"):
        missing.append("cc not found (apt-get install gcc)")
    if not FLOOR_SRC.exists():
        missing.append(f"{FLOOR_SRC} not found (set FLOOR_FILTER_SRC)")
    if args.strace and not shutil.which("strace"):
        missing.append("strace not found (apt-get install strace, or --no-strace)")
    if missing:
        sys.exit("cpu_share: cannot run: " + "; ".join(missing))

    base = Path(tempfile.mkdtemp(prefix="filter-jsonlog-cpushare-", dir="/tmp"))
    os.chmod(base, 0o755)
    for d in ("etc", "out", "maildir"):
        (base / d).mkdir()
    shutil.chown(base / "out", smtpd.filter_user)
    shutil.chown(base / "maildir", harness.DELIVERY_USER)
    (base / "etc/vusers").write_text(f"@example.test {harness.DELIVERY_USER}\n")
    subprocess.run(["cc", "-O2", "-o", str(base / "floor-filter"), str(FLOOR_SRC)], check=True)
    shutil.copy(jsonlog, base / "filter-jsonlog")
    os.chmod(base / "filter-jsonlog", 0o755)
    receiver = DatagramReceiver(base / "out/syslog.sock")

    p = args.port_base
    bin_ = base / "filter-jsonlog"
    filters = [
        Filter("floor", p, f"{base}/floor-filter {base}/out/floor.raw", "floor-filter",
               FileCounter(base / "out/floor.raw")),
        Filter("jsonlog-file", p + 1, f"{bin_} --output file:{base}/out/jsonlog.json", "--output",
               FileCounter(base / "out/jsonlog.json", skip=METRIC)),
        Filter("jsonlog-syslog", p + 2, f"{bin_} --syslog-socket {base}/out/syslog.sock", "--syslog-socket",
               receiver),
    ]
    filters = [f for f in filters if f.name in args.filters]
    probe = p + 3
    conf = base / "etc/smtpd.conf"
    conf.write_text(smtpd_conf(base, filters, probe))
    chk = subprocess.run([smtpd.smtpd, "-n", "-f", str(conf)], capture_output=True, text=True)
    if chk.returncode != 0:
        sys.exit(f"cpu_share: smtpd -n rejects {conf}:\n{chk.stdout}{chk.stderr}")

    result: dict = {
        "bench": "cpu_share", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"kernel": platform.release(), "cpus": os.cpu_count(), "clk_tck": CLK_TCK,
                    "loadavg_before": os.getloadavg()},
        "smtpd": {"path": smtpd.smtpd, "version": smtpd.version},
        "filter_jsonlog": {"path": str(jsonlog), "sha256": file_sha256(jsonlog),
                           "version": subprocess.run([str(jsonlog), "--version"], capture_output=True,
                                                     text=True).stdout.strip()},
        "git_head": git("rev-parse", "HEAD"),
        # what the binary was built from, if it was built from this checkout
        "git_src_tree": git("rev-parse", "HEAD:src"),
        "git_src_dirty": bool(git("status", "--porcelain", "--", "src", "Cargo.toml", "Cargo.lock")),
        "traffic": {"rounds": args.rounds, "sessions": args.sessions, "concurrency": args.concurrency, "message_bytes": len(BODY),
                    "transactions_per_session": 1, "recipients_per_transaction": 1},
        "filters": [],
    }
    smtpd_proc = None
    lock = open(LOCK, "a")
    try:
        t0 = time.monotonic()
        log(f"waiting for {LOCK}")
        fcntl.flock(lock, fcntl.LOCK_EX)
        log(f"got {LOCK} after {time.monotonic() - t0:.1f} s; base dir {base}")
        if harness.unix_socket_live(smtpd.sock):
            sys.exit(f"cpu_share: another smtpd owns {smtpd.sock}")
        left = harness.queued_messages(smtpd.queue)
        if left:
            log(f"warning: {len(left)} message(s) in {smtpd.queue} will be delivered during the run")
        harness.resolver_trick_on()
        with open(base / "smtpd.log", "wb") as out:
            # no -v: smtpd logs as in production, so its CPU is not inflated by traces
            smtpd_proc = subprocess.Popen([smtpd.smtpd, "-d", "-f", str(conf)], stdin=subprocess.DEVNULL,
                                          stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                          cwd=str(base))
        harness._live[smtpd_proc.pid] = smtpd_proc
        harness.wait_banner("127.0.0.1", probe)
        for f in filters:
            for _ in range(50):
                f.pid = find_filter_pid(base, f.needle)
                if f.pid:
                    break
                time.sleep(0.1)
            if not f.pid:
                sys.exit(f"cpu_share: no process for filter {f.name}")
        log(f"{smtpd.name} pid {smtpd_proc.pid}; filters " + ", ".join(f"{f.name}={f.pid}" for f in filters))
        # one session each first: handshakes done, pages touched, files created
        for f in filters:
            drive(f.port, 3, 1)
        # Rounds interleave the filters, so that a change in the machine's
        # load during the run is spread over all of them.
        rounds: dict[str, list[Result]] = {f.name: [] for f in filters}
        for k in range(args.rounds):
            for f in filters:
                r = measure(f, smtpd_proc.pid, args.sessions, args.concurrency)
                log(f"round {k + 1}, {f.name}: {r.events} events, filter {r.filter_ticks} ticks, "
                    f"smtpd {r.smtpd_ticks} ticks, {r.wall_s:.1f} s")
                rounds[f.name].append(r)
        results = [total(f, rounds[f.name]) for f in filters]
        if args.strace:
            for f, r in zip(filters, results):
                r.strace = strace_pass(f, base, args.sessions, args.concurrency)
                log(f"{f.name}: strace {r.strace['syscalls']} calls for {r.strace['events']} events")
        if smtpd_proc.poll() is not None:
            sys.exit("cpu_share: smtpd died during the run; see " + str(base / "smtpd.log"))
        result["filters"] = [asdict(r) for r in results]
        result["syslog_receiver"] = {"datagrams": receiver.count, "bytes": receiver.bytes}
        return result
    finally:
        if smtpd_proc is not None:
            harness.stop_pid(smtpd_proc, "smtpd")
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and harness.pids_mentioning(str(base)):
                time.sleep(0.1)
            for pid in harness.pids_mentioning(str(base)):
                log(f"filter pid {pid} still alive 10 s after smtpd stopped: KILL")
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        harness.resolver_trick_off()
        lock.close()
        receiver.close()
        if args.keep:
            log(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


def table(result: dict) -> str:
    t = result["traffic"]
    head = (f"OpenSMTPD {result['smtpd']['version']}, {t['rounds']} rounds of {t['sessions']} sessions "
            f"of one message each per filter, concurrency {t['concurrency']}, "
            f"{result['filter_jsonlog']['version']} ({result['git_head'][:10]})")
    rows = [("filter", "events", "ev/sess", "filter ticks", "smtpd ticks", "share (ticks)",
             "filter ms", "smtpd ms", "share (ns)", "µs/event", "reads/event",
             "writes/event", "sleeps/event",
             "syscalls/event")]
    for r in result["filters"]:
        st = r.get("strace") or {}
        rows.append((r["name"], f"{r['events']:,}", f"{r['events_per_session']:.1f}", str(r["filter_ticks"]),
                     str(r["smtpd_ticks"]), f"{100 * r['share_ticks']:.1f} %", f"{r['filter_cpu_ms']:.0f}",
                     f"{r['smtpd_cpu_ms']:.0f}", f"{100 * r['share_cpu']:.1f} %", f"{r['us_per_event']:.1f}",
                     f"{r['reads_per_event']:.2f}", f"{r['writes_per_event']:.2f}", f"{r['sleeps_per_event']:.2f}",
                     f"{st['per_event']:.2f}" if st else "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) + " |"
             for r in rows]
    lines.insert(0, head)
    lines.insert(2, "|" + "|".join("-" * (w + 2) if i == 0 else "-" * (w + 1) + ":" for i, w in enumerate(widths)) + "|")
    floor = next((r for r in result["filters"] if r["name"] == "floor"), None)
    for r in result["filters"]:
        if floor and r is not floor and floor["share_cpu"] and floor["share_ticks"]:
            lines.append(f"{r['name']}: {r['share_cpu'] / floor['share_cpu']:.1f}× the floor's share (ns), "
                         f"{r['share_ticks'] / floor['share_ticks']:.1f}× (ticks)")
    for r in result["filters"]:
        if len(r["rounds"]) > 1:
            lines.append(f"{r['name']} share per round (ns): "
                         + ", ".join(f"{100 * x['share_cpu']:.1f} %" for x in r["rounds"])
                         + "; µs/event: " + ", ".join(f"{x['us_per_event']:.1f}" for x in r["rounds"]))
    for r in result["filters"]:
        st = r.get("strace")
        if st:
            calls = ", ".join(f"{k} {v:.2f}" for k, v in st["by_call_per_event"].items())
            lines.append(f"{r['name']} syscalls per event ({st['events']:,} events under strace): {calls}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=300, help="sessions per filter and pass (default 300)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="measured rounds, each SESSIONS per filter, filters interleaved (default 3)")
    ap.add_argument("--concurrency", type=int, default=1, help="sessions at once (default 1, at most 5)")
    ap.add_argument("--filters", default="floor,jsonlog-file,jsonlog-syslog",
                    help="comma-separated subset of floor, jsonlog-file, jsonlog-syslog")
    ap.add_argument("--no-strace", dest="strace", action="store_false", help="skip the system-call pass")
    ap.add_argument("--json", type=Path, default=REPO / "target" / "cpu_share.json", help="result file")
    ap.add_argument("--port-base", type=int, default=11025, help="loopback ports base..base+3")
    ap.add_argument("--timeout", type=int, default=900, help="give up after this many seconds")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (outputs, smtpd.log, strace)")
    ap.add_argument("--print", type=Path, metavar="JSON", help="print the table of an earlier result file")
    args = ap.parse_args()
    if args.print:
        print(table(json.loads(args.print.read_text())))
        return
    args.filters = [x.strip() for x in args.filters.split(",") if x.strip()]
    if not 1 <= args.rounds <= 20 or not 1 <= args.sessions <= 10_000 or not 1 <= args.concurrency <= 5:
        sys.exit("cpu_share: --rounds 1..20, --sessions 1..10000, --concurrency 1..5 (smtpd's listen backlog is 5)")
    if os.geteuid() != 0:
        sys.exit("cpu_share: run as root (smtpd)")
    signal.signal(signal.SIGALRM, lambda *_: sys.exit(f"cpu_share: timeout after {args.timeout} s"))
    signal.alarm(args.timeout)
    result = run(args)
    signal.alarm(0)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    print(f"result: {args.json}")


if __name__ == "__main__":
    main()
