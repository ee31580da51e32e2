"""Run a private OpenSMTPD (Debian 12's 6.8.0p2) and rsyslog on loopback.

Used by test_e2e.py (filter-jsonlog + recorder + rsyslog) and capture.py
(recorder only).  Python 3 standard library only; must run as root.

What it does, following /work/shared/e2e.md:
  * a temporary base dir under /tmp (mode 0755: the filters run as user
    `opensmtpd` and must reach it), a self-signed certificate, the AUTH table,
    the virtual-user table, a maildir owned by `nobody`;
  * the libasr resolver trick (`lookup file` appended to /etc/resolv.conf,
    restored afterwards, also on failure and at interpreter exit);
  * smtpd.conf generated from examples/smtpd.conf (the `filter jsonlog
    proc-exec "..."` line with the binary path substituted, the way listeners
    and the relay action attach it) plus test listeners on high loopback ports;
  * rsyslog.conf = global(workDirectory, maxMessageSize) + imuxsock + the
    shipped examples/rsyslog.conf with the output path substituted;
  * rsyslogd -n and smtpd -d started in their own sessions, stopped by PID
    (TERM, then KILL), also when a test fails (try/finally + atexit).

Nothing here kills by name.  Processes are found by PID, or (for smtpd's
filter children, which smtpd setsid()s) by the unique base dir in their
command line.
"""

from __future__ import annotations

import atexit
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
EXAMPLE_SMTPD_CONF = REPO / "examples" / "smtpd.conf"
EXAMPLE_RSYSLOG_CONF = REPO / "examples" / "rsyslog.conf"
RECORDER = HERE / "recorder.py"

SMTPD = "/usr/sbin/smtpd"
SMTPCTL = "/usr/sbin/smtpctl"
SENDMAIL = "/usr/sbin/sendmail"
RSYSLOGD = "/usr/sbin/rsyslogd"
SYS_PYTHON = "/usr/bin/python3"  # not a pyenv shim: the filter runs as opensmtpd
SMTPD_SOCK = "/var/run/smtpd.sock"  # fixed at compile time in Debian's build
SPOOL_QUEUE = "/var/spool/smtpd/queue"  # compile-time too; smtpd creates it
DEV_LOG = "/dev/log"
RESOLV_CONF = "/etc/resolv.conf"
RESOLV_MARK = "# filter-jsonlog e2e: libasr (OpenSMTPD) uses /etc/hosts only, no DNS"
FILTER_USER = "opensmtpd"  # Debian's name for upstream's _smtpd
DELIVERY_USER = "nobody"  # target of the virtual-user table; must exist

SERVER_NAME = "mx.e2e.test"
RELAY_TARGET_NAME = "relay-target.e2e.test"
USERS = {"alice": "secret123", "bob": "hunter2"}
TLS_CIPHERS = "AECDH-AES256-SHA:AECDH-AES128-SHA:@SECLEVEL=0"
FILTER_NAME = "jsonlog"  # the name examples/smtpd.conf gives the filter
RECORDER_NAME = "rec"


def log(msg: str) -> None:
    print(f"[e2e {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def filter_binary() -> Path:
    """The filter-jsonlog binary under test (env FILTER_JSONLOG_BIN overrides)."""
    env = os.environ.get("FILTER_JSONLOG_BIN")
    if env:
        return Path(env).resolve()
    return REPO / "target" / "release" / "filter-jsonlog"


@dataclass(frozen=True)
class Smtpd:
    """One OpenSMTPD installation: Debian's package, or a source build under
    its own prefix (tests/e2e/opensmtpd78.sh), which has its own control
    socket, queue and users, and so never touches the package's."""

    smtpd: str
    smtpctl: str
    sendmail: str  # sendmail(8); "" for a build, which installs none (Harness.sendmail)
    sock: str  # control socket, also the `listen on socket` path
    queue: str
    filter_user: str  # the user smtpd runs proc-exec filters as
    version: str = ""  # e.g. 6.8.0p2, from `smtpd -h`

    @classmethod
    def debian(cls) -> "Smtpd":
        return cls(SMTPD, SMTPCTL, SENDMAIL, SMTPD_SOCK, SPOOL_QUEUE, FILTER_USER).probed()

    @classmethod
    def under_prefix(cls, smtpd: str) -> "Smtpd":
        """A build configured as ../shared/opensmtpd/build.sh configures it."""
        prefix = Path(smtpd).resolve().parent.parent
        return cls(str(Path(smtpd).resolve()), str(prefix / "sbin/smtpctl"), "",
                   str(prefix / "run/smtpd.sock"), str(prefix / "spool/queue"), "_smtpd").probed()

    @classmethod
    def from_env(cls) -> "Smtpd":
        """$E2E_SMTPD (a smtpd path) or Debian's /usr/sbin/smtpd."""
        path = os.environ.get("E2E_SMTPD", "")
        return cls.debian() if path in ("", SMTPD) else cls.under_prefix(path)

    def probed(self) -> "Smtpd":
        if self.version or not os.access(self.smtpd, os.X_OK):
            return self
        # `smtpd -h` exits 1 and prints "version: OpenSMTPD 6.8.0p2" first
        out = subprocess.run([self.smtpd, "-h"], capture_output=True, text=True).stderr
        m = re.search(r"OpenSMTPD (\S+)", out)
        return Smtpd(**{**self.__dict__, "version": m.group(1) if m else "unknown"})

    @property
    def name(self) -> str:
        """For people: $E2E_SMTPD_NAME (a build says 7.8.0-portable for
        release 7.8.0p1), else OpenSMTPD and `smtpd -h`'s version."""
        return os.environ.get("E2E_SMTPD_NAME") or f"OpenSMTPD {self.version}"

    @property
    def major_minor(self) -> tuple[int, int]:
        m = re.match(r"(\d+)\.(\d+)", self.version)
        return (int(m.group(1)), int(m.group(2))) if m else (0, 0)

    @property
    def protocol(self) -> str:
        """The report protocol this version speaks (lka_filter.c PROTOCOL_VERSION)."""
        mm = self.major_minor
        return "0.7" if mm >= (7, 0) else "0.6" if mm >= (6, 7) else "0.5"

    @property
    def certificate_tls(self) -> bool:
        """False for Debian 12's 6.8.0p2, whose certificate handshakes fail
        with OpenSSL 3 (e2e.md pitfall 1): it gets the anonymous-cipher
        workaround; every other version real TLS with a real certificate."""
        return self.major_minor >= (7, 0)


def missing_prerequisites(*, need_rsyslog: bool, filter_bin: Optional[Path],
                          smtpd: Optional[Smtpd] = None) -> list[str]:
    """Everything that stops the e2e run here, as human-readable reasons."""
    smtpd = smtpd or Smtpd.debian()
    missing = []
    if os.geteuid() != 0:
        missing.append("not running as root")
    for exe in (smtpd.smtpd, smtpd.smtpctl, SYS_PYTHON, "/usr/bin/openssl"):
        if not os.access(exe, os.X_OK):
            missing.append(f"{exe} not found (apt-get install opensmtpd openssl python3)")
    if smtpd.smtpd == SMTPD and not os.access(SENDMAIL, os.X_OK):
        missing.append(f"{SENDMAIL} not found (apt-get install opensmtpd)")
    if need_rsyslog and not os.access(RSYSLOGD, os.X_OK):
        missing.append(f"{RSYSLOGD} not found (apt-get install rsyslog)")
    for user in (smtpd.filter_user, DELIVERY_USER):
        try:
            import pwd

            pwd.getpwnam(user)
        except KeyError:
            missing.append(f"user {user} does not exist")
    if filter_bin is not None and not os.access(filter_bin, os.X_OK):
        missing.append(f"filter binary {filter_bin} not found (cargo build --release, or set FILTER_JSONLOG_BIN)")
    return missing


@dataclass(frozen=True)
class Ports:
    """Loopback ports of the private smtpd.  E2E_PORT_BASE shifts them all."""

    plain: int = 10025  # 127.0.0.1 and ::1, plain SMTP
    relay_target: int = 10026  # no filter: where the relay action delivers
    builtin: int = 10027  # builtin filters (reject/junk/disconnect/report) + chain
    submission: int = 10587  # STARTTLS, auth-optional
    smtps: int = 10465  # implicit TLS, auth
    closed: int = 10028  # nothing listens: a relay action that cannot connect

    @classmethod
    def from_env(cls) -> "Ports":
        base = int(os.environ.get("E2E_PORT_BASE", "10025"))
        d = base - 10025
        return cls(*(p + d for p in (10025, 10026, 10027, 10587, 10465, 10028)))


def _group_exists(name: str) -> bool:
    import grp

    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


# --------------------------------------------------------------------------
# examples/smtpd.conf


@dataclass
class ExampleSmtpdConf:
    """What the shipped example says about attaching filter-jsonlog."""

    path: Path
    filter_name: str
    command: list[str]  # argv of the proc-exec command, as in the example
    listen_lines: list[str]  # every `listen on ... filter <name>` line
    relay_lines: list[str]  # every `action ... relay ... filter <name>` line

    @classmethod
    def load(cls, path: Path = EXAMPLE_SMTPD_CONF) -> "ExampleSmtpdConf":
        text = path.read_text()
        lines = [strip_comment(l) for l in text.splitlines()]
        lines = [l for l in lines if l]
        fl = [l for l in lines if re.match(rf"filter\s+{FILTER_NAME}\s+proc-exec\s", l)]
        if len(fl) != 1:
            raise ValueError(f"{path}: expected one `filter {FILTER_NAME} proc-exec \"...\"` line, found {len(fl)}")
        m = re.match(rf'filter\s+({FILTER_NAME})\s+proc-exec\s+"([^"]+)"\s*$', fl[0])
        if not m:
            raise ValueError(f"{path}: cannot parse {fl[0]!r}")
        attach = re.compile(rf"\sfilter\s+({FILTER_NAME}\b|\{{[^}}]*\b{FILTER_NAME}\b[^}}]*\}})")
        listen = [l for l in lines if l.startswith("listen on") and attach.search(l)]
        relay = [l for l in lines if l.startswith("action") and re.search(r"\srelay\b", l) and attach.search(l)]
        if not listen:
            raise ValueError(f"{path}: no `listen on ... filter {FILTER_NAME}` line")
        if not relay:
            raise ValueError(f"{path}: no `action ... relay ... filter {FILTER_NAME}` line")
        return cls(path, m.group(1), shlex.split(m.group(2)), listen, relay)

    def filter_line(self, binary: Path) -> str:
        """The example's filter line with the binary path substituted."""
        argv = [str(binary)] + self.command[1:]
        return f'filter {self.filter_name} proc-exec "{shlex.join(argv)}"'

    def checkable_copy(self, replacements: dict[str, str]) -> str:
        """The whole example with absolute paths replaced, for `smtpd -n`."""
        text = self.path.read_text()
        for old, new in replacements.items():
            text = text.replace(old, new)
        return text


def strip_comment(line: str) -> str:
    out, quoted = [], False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif ch == "#" and not quoted:
            break
        out.append(ch)
    return "".join(out).strip()


def attach_clause(names: list[str]) -> str:
    if len(names) == 1:
        return f"filter {names[0]}"
    return "filter { " + ", ".join(names) + " }"


# --------------------------------------------------------------------------
# /etc/resolv.conf


_resolv_original: Optional[bytes] = None


def resolver_trick_on() -> None:
    """Append `lookup file` so libasr uses /etc/hosts and never DNS (e2e.md §2)."""
    global _resolv_original
    if _resolv_original is not None:
        return
    try:
        cur = Path(RESOLV_CONF).read_bytes()
    except FileNotFoundError:
        cur = b""
    cur = _strip_resolv_mark(cur)  # left over by a run that was SIGKILLed
    try:
        Path(RESOLV_CONF).write_bytes(cur + f"\n{RESOLV_MARK}\nlookup file\n".encode())
    except OSError as e:
        log(f"cannot edit {RESOLV_CONF} ({e}); some connections may stall 5 s on DNS")
        return
    _resolv_original = cur


def resolver_trick_off() -> None:
    global _resolv_original
    if _resolv_original is None:
        return
    Path(RESOLV_CONF).write_bytes(_resolv_original)
    _resolv_original = None


def _strip_resolv_mark(data: bytes) -> bytes:
    mark = f"\n{RESOLV_MARK}\nlookup file\n".encode()
    while mark in data:
        data = data.replace(mark, b"")
    return data


# --------------------------------------------------------------------------
# processes


_live: dict[int, "subprocess.Popen[bytes]"] = {}


def stop_pid(proc: "subprocess.Popen[bytes]", what: str, term_wait: float = 15.0) -> Optional[int]:
    """TERM, wait, then KILL one process we started.  Returns its exit status."""
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
            proc.wait(term_wait)
        except subprocess.TimeoutExpired:
            log(f"{what} (pid {proc.pid}) ignored TERM for {term_wait:.0f} s: KILL")
            proc.kill()
            proc.wait(10)
    _live.pop(proc.pid, None)
    return proc.returncode


def pids_mentioning(needle: str) -> list[int]:
    """PIDs whose command line contains needle (our unique base dir)."""
    found = []
    me = os.getpid()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        try:
            cmd = Path(f"/proc/{d}/cmdline").read_bytes()
        except OSError:
            continue
        if needle.encode() in cmd:
            found.append(int(d))
    return found


def _emergency_cleanup() -> None:
    for pid, proc in list(_live.items()):
        try:
            stop_pid(proc, f"pid {pid}", term_wait=5)
        except Exception as e:  # noqa: BLE001 - best effort at exit
            log(f"cleanup of pid {pid} failed: {e}")
    resolver_trick_off()


atexit.register(_emergency_cleanup)


def _raise_on_signal(signum, _frame):
    raise SystemExit(128 + signum)  # runs finally blocks and atexit


for _sig in (signal.SIGTERM, signal.SIGHUP):
    signal.signal(_sig, _raise_on_signal)


def wait_banner(host: str, port: int, family=socket.AF_INET, timeout: float = 20.0) -> float:
    """Wait for smtpd's 220 banner on (host, port); return the seconds waited."""
    t0 = time.monotonic()
    last = None
    while time.monotonic() - t0 < timeout:
        try:
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.settimeout(3)
                s.connect((host, port))
                if s.recv(512).startswith(b"220 "):
                    s.sendall(b"QUIT\r\n")
                    s.recv(512)
                    return time.monotonic() - t0
        except OSError as e:
            last = e
        time.sleep(0.1)
    raise RuntimeError(f"no 220 banner on {host}:{port} after {timeout:.0f} s ({last})")


def queued_messages(queue: str = SPOOL_QUEUE) -> list[Path]:
    """Message dirs in smtpd's queue (/var/spool/smtpd/queue/<xx>/<msgid>)."""
    q = Path(queue)
    return sorted(m for b in q.iterdir() if b.is_dir() for m in b.iterdir()) if q.is_dir() else []


def remove_queued(queue: str, msgids: set) -> list[str]:
    """Deletes these messages (msgids as bytes) from smtpd's queue directory
    where they still are; only with smtpd stopped.  Returns those removed."""
    gone = []
    for msgid in sorted(i.decode() for i in msgids):
        d = Path(queue) / msgid[:2] / msgid
        if d.is_dir():
            shutil.rmtree(d, ignore_errors=True)
            gone.append(msgid)
    return gone


def unix_socket_live(path: str) -> bool:
    kind = socket.SOCK_DGRAM if path == DEV_LOG else socket.SOCK_STREAM
    try:
        with socket.socket(socket.AF_UNIX, kind) as s:
            s.settimeout(1)
            s.connect(path)
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------
# the harness


@dataclass
class Harness:
    """One private smtpd (+ optional rsyslogd) run.

    jsonlog_bin: the filter-jsonlog binary (None: no jsonlog filter).
    recorder:    attach recorder.py in the same chain (after jsonlog).
    rsyslog:     start a private rsyslogd owning /dev/log.
    relay_filter: attach the chain to the relay action (smtp-out reports).
    """

    jsonlog_bin: Optional[Path] = None
    recorder: bool = True
    rsyslog: bool = False
    relay_filter: bool = True
    ports: Ports = field(default_factory=Ports.from_env)
    smtpd: Smtpd = field(default_factory=Smtpd.from_env)
    keep: bool = False
    tag: str = "e2e"

    base: Path = field(init=False)
    capture: Path = field(init=False)
    json_out: Path = field(init=False)
    smtpd_log: Path = field(init=False)
    example: Optional[ExampleSmtpdConf] = field(init=False, default=None)
    smtpd_proc: Optional["subprocess.Popen[bytes]"] = field(init=False, default=None)
    rsyslog_proc: Optional["subprocess.Popen[bytes]"] = field(init=False, default=None)
    smtpd_status: Optional[int] = field(init=False, default=None)
    leftovers: list[str] = field(init=False, default_factory=list)

    # -- setup --------------------------------------------------------------

    def setup(self) -> "Harness":
        self.base = Path(tempfile.mkdtemp(prefix=f"filter-jsonlog-{self.tag}-", dir="/tmp"))
        os.chmod(self.base, 0o755)
        for d in ("etc", "certs", "capture", "maildir", "rsyslog"):
            (self.base / d).mkdir()
        shutil.chown(self.base / "capture", self.smtpd.filter_user, self.smtpd.filter_user
                     if _group_exists(self.smtpd.filter_user) else None)
        shutil.chown(self.base / "maildir", DELIVERY_USER)
        self.capture = self.base / "capture" / "stream.raw"
        self.json_out = self.base / "rsyslog" / "filter-jsonlog.json"
        self.other_log = self.base / "rsyslog" / "other.log"
        self.smtpd_log = self.base / "smtpd.log"

        # A self-signed certificate.  6.8.0p2's anonymous-cipher workaround does
        # not use it, but `pki` needs one; 7.x serves it, clients verify it
        # (it is their CA file), and smtp-out verifies it at the relay target.
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
             "-subj", f"/CN={SERVER_NAME}",
             "-addext", f"subjectAltName=DNS:{SERVER_NAME},DNS:{RELAY_TARGET_NAME},IP:127.0.0.1,IP:::1",
             "-keyout", str(self.base / "certs/mx.key"), "-out", str(self.base / "certs/mx.crt")],
            check=True, capture_output=True)
        os.chmod(self.base / "certs/mx.key", 0o600)
        if self.smtpd.smtpd != SMTPD:
            # smtpctl acts as sendmail(8) under that name; the build installs no link
            (self.base / "bin").mkdir()
            os.symlink(self.smtpd.smtpctl, self.base / "bin/sendmail")
        creds = "".join(
            f"{u} {subprocess.run([self.smtpd.smtpctl, 'encrypt', p], check=True, capture_output=True, text=True).stdout.strip()}\n"
            for u, p in USERS.items())
        (self.base / "etc/creds").write_text(creds)
        (self.base / "etc/vusers").write_text(
            "".join(f"@{d} {DELIVERY_USER}\n" for d in ("example.test", "relay.test")))

        # executables the opensmtpd user can reach (the repo may sit under a 0700 dir)
        if self.recorder:
            shutil.copy(RECORDER, self.base / "recorder.py")
            os.chmod(self.base / "recorder.py", 0o755)
        if self.jsonlog_bin is not None:
            shutil.copy(self.jsonlog_bin, self.base / "filter-jsonlog")
            os.chmod(self.base / "filter-jsonlog", 0o755)
        self.example = ExampleSmtpdConf.load()
        (self.base / "etc/smtpd.conf").write_text(self.smtpd_conf())
        if self.rsyslog:
            (self.base / "rsyslog/rsyslog.conf").write_text(self.rsyslog_conf())
        log(f"base dir {self.base}")
        return self

    def chain(self) -> list[str]:
        names = []
        if self.jsonlog_bin is not None:
            names.append(self.example.filter_name)
        if self.recorder:
            names.append(RECORDER_NAME)
        return names

    def smtpd_conf(self) -> str:
        b, p = self.base, self.ports
        chain = self.chain()
        if not chain:
            raise ValueError("nothing to attach: no jsonlog binary and no recorder")
        att = attach_clause(chain)
        builtin = attach_clause(["f_helo", "f_junk", "f_disc", "f_rcpt", "f_rep"] + chain)
        decl = []
        if self.jsonlog_bin is not None:
            decl.append("# from examples/smtpd.conf, binary path substituted:")
            decl.append(self.example.filter_line(b / "filter-jsonlog"))
        if self.recorder:
            decl.append(f'filter {RECORDER_NAME} proc-exec "{SYS_PYTHON} {b}/recorder.py {self.capture}"')
        relay_att = f" {att}" if self.relay_filter else ""
        if self.smtpd.certificate_tls:
            tls_head = (f"# {self.smtpd.name}: real TLS with the self-signed certificate, which is also\n"
                        f"# the CA smtp-out verifies the relay target's certificate against.\n"
                        f'ca e2eca cert "{b}/certs/mx.crt"')
            # smtp-out over STARTTLS (mandatory, verified): the relay target offers it
            target_tls = f" tls pki {SERVER_NAME}"
            relay_url = f"smtp+tls://127.0.0.1:{p.relay_target} ca e2eca"
        else:
            tls_head = ("# Debian 12's 6.8.0p2 + OpenSSL 3: certificate-based TLS handshakes fail\n"
                        '# ("EVP lib"); anonymous ECDH needs no server key, so TLS works with it.\n'
                        f'smtp ciphers "{TLS_CIPHERS}"')
            target_tls = ""
            relay_url = f"smtp://127.0.0.1:{p.relay_target}"
        return f"""\
# Generated by tests/e2e/harness.py for a private test run ({self.smtpd.name}).  Do not edit.
{tls_head}
pki {SERVER_NAME} cert "{b}/certs/mx.crt"
pki {SERVER_NAME} key  "{b}/certs/mx.key"

table creds  file:{b}/etc/creds
table vusers file:{b}/etc/vusers

{chr(10).join(decl)}

table helo_reject_re {{ "^reject" }}
table junk_from_re   {{ "^junkme@" }}
table disc_from_re   {{ "^disconnect-me@" }}
table block_rcpt     {{ "blocked@example.test" }}
table report_rcpt_re {{ "^reportme@" }}
filter "f_helo" phase ehlo match helo regex <helo_reject_re> reject "550 5.7.1 helo rejected by builtin filter"
filter "f_junk" phase mail-from match mail-from regex <junk_from_re> junk
filter "f_disc" phase mail-from match mail-from regex <disc_from_re> disconnect "421 4.7.0 disconnected by builtin filter"
filter "f_rcpt" phase rcpt-to match rcpt-to <block_rcpt> reject "550 5.7.1 recipient blocked by builtin filter"
filter "f_rep"  phase rcpt-to match rcpt-to regex <report_rcpt_re> report "builtin report: rcpt matched"

listen on 127.0.0.1 port {p.plain} hostname {SERVER_NAME} {att}
listen on ::1 port {p.plain} hostname {SERVER_NAME} {att}
listen on 127.0.0.1 port {p.submission} hostname {SERVER_NAME} tls pki {SERVER_NAME} auth-optional <creds> {att}
listen on 127.0.0.1 port {p.smtps} hostname {SERVER_NAME} smtps pki {SERVER_NAME} auth <creds> {att}
listen on 127.0.0.1 port {p.builtin} hostname {SERVER_NAME} {builtin}
listen on 127.0.0.1 port {p.relay_target} hostname {RELAY_TARGET_NAME}{target_tls} tag RELAYED
listen on socket {att}

action "maildir" maildir "{b}/maildir/%{{rcpt.user}}" virtual <vusers>
action "relay_self" relay host {relay_url}{relay_att}
action "relay_dead" relay host smtp://127.0.0.1:{p.closed}{relay_att}

match from any for domain "example.test" action "maildir"
match tag "RELAYED" from any for domain "relay.test" action "maildir"
match from any for domain "relay.test" action "relay_self"
match from any for domain "unreachable.test" action "relay_dead"
# any other domain: no match -> "550 Invalid recipient"
"""

    def rsyslog_conf(self) -> str:
        shipped = EXAMPLE_RSYSLOG_CONF.read_text()
        default_out = "/var/log/filter-jsonlog.json"
        if default_out not in shipped:
            raise ValueError(f"{EXAMPLE_RSYSLOG_CONF} does not write {default_out}")
        shipped = shipped.replace(default_out, str(self.json_out))
        return f"""\
# Generated by tests/e2e/harness.py: private rsyslogd for a test run.
global(workDirectory="{self.base / 'rsyslog'}" maxMessageSize="64k")
module(load="imuxsock")
# ---- examples/rsyslog.conf (output path substituted) ----
{shipped}
# ---- end of examples/rsyslog.conf ----
*.* action(type="omfile" file="{self.other_log}")
"""

    # -- start / stop -------------------------------------------------------

    def start(self) -> "Harness":
        sock, queue = self.smtpd.sock, self.smtpd.queue
        if unix_socket_live(sock):
            raise RuntimeError(f"another smtpd owns {sock}; stop it first (only one smtpd per machine)")
        queued = queued_messages(queue)
        if queued:
            if os.environ.get("CI", "").lower() == "true" or os.environ.get("E2E_PURGE_QUEUE") == "1":
                log(f"purging {len(queued)} message(s) left in {queue} by an earlier run")
                for d in queued:
                    shutil.rmtree(d, ignore_errors=True)
            else:
                log(f"warning: {len(queued)} message(s) in {queue} will be delivered during the run "
                    "(extra sessions); E2E_PURGE_QUEUE=1 removes them")
        resolver_trick_on()
        if self.rsyslog:
            self._start_rsyslog()
        conf = self.base / "etc/smtpd.conf"
        chk = subprocess.run([self.smtpd.smtpd, "-n", "-f", str(conf)], capture_output=True, text=True)
        if chk.returncode != 0:
            raise RuntimeError(f"smtpd -n rejects the generated config:\n{chk.stdout}{chk.stderr}")
        with open(self.smtpd_log, "wb") as out:
            self.smtpd_proc = subprocess.Popen(
                [self.smtpd.smtpd, "-d", "-v", "-f", str(conf)], stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=str(self.base))
        _live[self.smtpd_proc.pid] = self.smtpd_proc
        # "listening" is not "ready": wait for a banner.  The relay target has
        # no filter, so the probe adds no session to the streams.
        waited = wait_banner("127.0.0.1", self.ports.relay_target)
        log(f"{self.smtpd.name} smtpd pid {self.smtpd_proc.pid} ready after {waited:.1f} s")
        return self

    def _start_rsyslog(self) -> None:
        if unix_socket_live(DEV_LOG):
            raise RuntimeError(f"another syslog daemon owns {DEV_LOG}; stop it first")
        conf = self.base / "rsyslog/rsyslog.conf"
        chk = subprocess.run([RSYSLOGD, "-N1", "-f", str(conf)], capture_output=True, text=True)
        if chk.returncode != 0:
            raise RuntimeError(f"rsyslogd -N1 rejects the generated config:\n{chk.stdout}{chk.stderr}")
        out = open(self.base / "rsyslog/rsyslogd.out", "wb")
        self.rsyslog_proc = subprocess.Popen(
            [RSYSLOGD, "-n", "-f", str(conf), "-i", str(self.base / "rsyslog/rsyslogd.pid")],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        _live[self.rsyslog_proc.pid] = self.rsyslog_proc
        for _ in range(100):
            if unix_socket_live(DEV_LOG):
                log(f"rsyslogd pid {self.rsyslog_proc.pid} owns {DEV_LOG}")
                return
            if self.rsyslog_proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"rsyslogd did not create {DEV_LOG}: "
                           + (self.base / "rsyslog/rsyslogd.out").read_text(errors="replace"))

    @property
    def sendmail(self) -> str:
        return self.smtpd.sendmail or str(self.base / "bin/sendmail")

    def smtpd_alive(self) -> bool:
        return self.smtpd_proc is not None and self.smtpd_proc.poll() is None

    def stop(self) -> None:
        """Stop smtpd, wait for its filters to exit on EOF, stop rsyslogd."""
        try:
            if self.smtpd_proc is not None:
                self.smtpd_status = stop_pid(self.smtpd_proc, "smtpd")
                # the filters (setsid()'d by smtpd) should exit on EOF by themselves
                ours = set(_live)  # rsyslogd is stopped below, on purpose after the filters
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and set(pids_mentioning(str(self.base))) - ours:
                    time.sleep(0.1)
                for pid in sorted(set(pids_mentioning(str(self.base))) - ours):
                    try:
                        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                        self.leftovers.append(f"{pid}: {cmd.strip()}")
                        os.kill(pid, signal.SIGKILL)
                    except (OSError, ProcessLookupError):
                        pass
                if self.leftovers:
                    log(f"still alive 10 s after smtpd stopped (killed): {self.leftovers}")
                if self.smtpd_status is not None and not self.smtpd_alive():
                    gone = self.purge_own_messages()
                    if gone:
                        log(f"removed this run's undelivered message(s) from {self.smtpd.queue}: {gone}")
            if self.rsyslog_proc is not None:
                stop_pid(self.rsyslog_proc, "rsyslogd")  # flushes the output file
                if os.path.exists(DEV_LOG) and not unix_socket_live(DEV_LOG):
                    os.unlink(DEV_LOG)  # left behind if rsyslogd had to be KILLed
        finally:
            resolver_trick_off()

    def cleanup(self, failed: bool = False) -> None:
        if self.keep or failed:
            log(f"kept {self.base}")
        else:
            shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> "Harness":
        return self.setup().start()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.stop()
        self.cleanup(failed=exc_type is not None)

    # -- results ------------------------------------------------------------

    def smtpd_log_problems(self) -> list[str]:
        """Lines of smtpd's log that mean a filter or smtpd died."""
        text = self.smtpd_log.read_text(errors="replace") if self.smtpd_log.exists() else ""
        bad = re.compile(r"lost processor|fatal|Invalid filter message|exited abnormally|"
                         r"Non-register message|Invalid register line|Unrecognized report|"
                         r"Invalid message direction|process \w+ socket closed")
        return [l for l in text.splitlines() if bad.search(l)]

    def filter_stderr(self) -> list[str]:
        """Lines the jsonlog filter wrote to stderr (smtpd logs them as `jsonlog: ...`)."""
        text = self.smtpd_log.read_text(errors="replace") if self.smtpd_log.exists() else ""
        prefix = f"{self.example.filter_name}: " if self.example else "jsonlog: "
        return [l for l in text.splitlines() if l.startswith(prefix) or f" {prefix}" in l]

    def purge_own_messages(self) -> list[str]:
        """Delete from smtpd's queue the messages this run committed that are
        still there (the unreachable relay's message would otherwise be retried
        by the next smtpd started on this machine).  Only after smtpd stopped;
        the message ids come from the recorded tx-commit lines."""
        ids = set(re.findall(rb"\|smtp-in\|tx-commit\|[0-9a-f]{16}\|([0-9a-f]{8})\|", self.capture_bytes()))
        return remove_queued(self.smtpd.queue, ids)

    def capture_bytes(self) -> bytes:
        return self.capture.read_bytes() if self.capture.exists() else b""

    def wait_for_capture(self, needle: bytes, timeout: float, count: int = 1) -> bool:
        """Wait until the recorded stream holds `needle` `count` times."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.capture_bytes().count(needle) >= count:
                return True
            time.sleep(0.2)
        return False
