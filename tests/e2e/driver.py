"""SMTP scenarios driven against the private smtpd of harness.py.

Every scenario is a function `scenario(ports) -> list[SessionRecord]`.  A
SessionRecord says what the client did and what the server answered: the
client's address and port (to find the session's `link-connect` in a stream),
the HELO name, TLS, AUTH, and each transaction with the reply code of every
command.  Each scenario uses its own HELO name and sender, so documents can be
matched to scenarios by source port, by HELO name, or by sender.

Clients speak in lock-step (6.8 has no PIPELINING), always with timeouts, and
never more than 5 at a time (smtpd's listen backlog is 5).  Bytes on the wire
are bytes: `|` and non-UTF-8 bytes go out unchanged.
"""

from __future__ import annotations

import base64
import socket
import ssl
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Callable, Optional

from harness import SENDMAIL, SERVER_NAME, USERS, Ports

TIMEOUT = 30.0  # every client socket operation
MAX_CONCURRENT = 5

# Set by configure() for the smtpd under test.
_CA_FILE: Optional[str] = None  # None: 6.8.0p2's anonymous-cipher workaround
_SENDMAIL = SENDMAIL


def configure(*, ca_file: Optional[str], sendmail: str) -> None:
    """ca_file: the server's self-signed certificate, which clients then
    require and verify (real TLS); None for Debian's 6.8.0p2."""
    global _CA_FILE, _SENDMAIL
    _CA_FILE, _SENDMAIL = ca_file, sendmail


class ScenarioError(AssertionError):
    """The server did not answer as the scenario needs (the scenario is void)."""


@dataclass
class Tx:
    mail_from: bytes
    mail_code: int
    rcpts: list[tuple[bytes, int]] = field(default_factory=list)  # (address, reply code)
    data_code: Optional[int] = None  # reply to DATA (354)
    end_code: Optional[int] = None  # reply to the final "."
    outcome: str = "open"  # open | commit | rollback | refused | dropped | server-closed

    @property
    def accepted(self) -> list[bytes]:
        return [a for a, c in self.rcpts if 200 <= c < 300]

    @property
    def refused(self) -> list[bytes]:
        return [a for a, c in self.rcpts if not 200 <= c < 300]


@dataclass
class SessionRecord:
    scenario: str
    transport: str  # tcp4 | tcp6 | unix
    server_port: Optional[int] = None
    client_ip: Optional[str] = None
    client_port: Optional[int] = None
    helos: list[tuple[bytes, bytes, int]] = field(default_factory=list)  # (verb, name, code)
    tls: bool = False
    tls_implicit: bool = False
    tls_version: Optional[str] = None  # as the client negotiated it: TLSv1.3
    tls_cipher: Optional[str] = None  # TLS_AES_256_GCM_SHA384
    tls_verified: bool = False  # the client checked the server's certificate and name
    auth: list[tuple[str, str, int]] = field(default_factory=list)  # (mechanism, user, code)
    transactions: list[Tx] = field(default_factory=list)
    commands: list[tuple[bytes, int]] = field(default_factory=list)  # every command and its code
    end: str = "open"  # quit | drop | server-closed
    note: str = ""

    @property
    def helo(self) -> Optional[bytes]:
        """The last HELO/EHLO name the server accepted."""
        ok = [n for _, n, c in self.helos if c == 250]
        return ok[-1] if ok else None

    @property
    def auth_user(self) -> Optional[str]:
        ok = [u for _, u, c in self.auth if c == 235]
        return ok[-1] if ok else None

    def to_json(self) -> dict:
        def conv(o):
            if isinstance(o, bytes):
                return o.decode("utf-8", "backslashreplace")
            if isinstance(o, (list, tuple)):
                return [conv(x) for x in o]
            if isinstance(o, dict):
                return {k: conv(v) for k, v in o.items()}
            return o

        return conv(asdict(self))


def tls_context() -> ssl.SSLContext:
    """Real TLS: the server's certificate verified against the test's own CA
    (the self-signed certificate) and its name checked.  For Debian 12's
    6.8.0p2, whose certificate handshakes fail (e2e.md §10.1): TLS 1.2 with
    anonymous ECDH, the only thing it can do."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if _CA_FILE is not None:
        ctx.load_verify_locations(cafile=_CA_FILE)  # CERT_REQUIRED + check_hostname by default
        return ctx
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("AECDH-AES256-SHA:@SECLEVEL=0")
    return ctx


def wrap(rec: "SessionRecord", sock: socket.socket) -> ssl.SSLSocket:
    ctx = tls_context()
    tls = ctx.wrap_socket(sock, server_hostname=SERVER_NAME if ctx.check_hostname else None)
    rec.tls = True
    rec.tls_version = tls.version()
    rec.tls_cipher = (tls.cipher() or (None,))[0]
    rec.tls_verified = ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    return tls


class Client:
    """A minimal lock-step SMTP client over a raw socket."""

    def __init__(self, rec: SessionRecord, host: str, port: int, *, implicit_tls: bool = False):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.rec = rec
        self.buf = b""
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect((host, port))
        rec.transport = "tcp6" if family == socket.AF_INET6 else "tcp4"
        rec.server_port = port
        rec.client_ip, rec.client_port = self.sock.getsockname()[:2]
        if implicit_tls:
            self.sock = wrap(rec, self.sock)
            rec.tls_implicit = True
        self.banner = self.reply()
        expect(self.banner, 220, "banner")

    # -- wire ---------------------------------------------------------------

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self) -> tuple[int, list[bytes]]:
        lines = []
        while True:
            line = self._line()
            lines.append(line)
            if line[3:4] != b"-":
                return int(line[:3]), lines

    def cmd(self, line: bytes) -> int:
        self.sock.sendall(line + b"\r\n")
        try:
            code, _ = self.reply()
        except ConnectionError:
            code = 0
        self.rec.commands.append((line, code))
        if code == 0 or code == 421:
            self._server_closed()
        return code

    def _server_closed(self) -> None:
        self.rec.end = "server-closed"
        tx = self.tx
        if tx is not None:
            tx.outcome = "server-closed"

    # -- SMTP ---------------------------------------------------------------

    @property
    def tx(self) -> Optional[Tx]:
        t = self.rec.transactions
        return t[-1] if t and t[-1].outcome == "open" else None

    def helo(self, name: bytes, verb: bytes = b"EHLO") -> int:
        code = self.cmd(verb + b" " + name)
        self.rec.helos.append((verb, name, code))
        return code

    def starttls(self) -> None:
        expect(self.cmd(b"STARTTLS"), 220, "STARTTLS")
        self.sock = wrap(self.rec, self.sock)

    def auth_plain(self, user: str, password: str) -> int:
        token = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode())
        code = self.cmd(b"AUTH PLAIN " + token)
        self.rec.auth.append(("PLAIN", user, code))
        return code

    def auth_login(self, user: str, password: str, initial: bool) -> int:
        u = base64.b64encode(user.encode())
        if initial:
            code = self.cmd(b"AUTH LOGIN " + u)
        else:
            expect(self.cmd(b"AUTH LOGIN"), 334, "AUTH LOGIN")
            code = self.cmd(u)
        if code == 334:
            code = self.cmd(base64.b64encode(password.encode()))
        self.rec.auth.append(("LOGIN", user, code))
        return code

    def mail(self, addr: bytes, params: bytes = b"") -> int:
        code = self.cmd(b"MAIL FROM:<" + addr + b">" + params)
        if self.tx is None:
            self.rec.transactions.append(Tx(addr, code, outcome="open" if code == 250 else "refused"))
        return code

    def rcpt(self, addr: bytes) -> int:
        code = self.cmd(b"RCPT TO:<" + addr + b">")
        if self.tx is not None:
            self.tx.rcpts.append((addr, code))
        return code

    def data(self, body: bytes = b"", subject: bytes = b"e2e") -> int:
        tx = self.tx
        code = self.cmd(b"DATA")
        if tx is not None:
            tx.data_code = code
        if code != 354:
            return code
        msg = b"Subject: " + subject + b"\r\nFrom: e2e@client.test\r\n\r\n" + (body or b"hello\r\n")
        if not msg.endswith(b"\r\n"):
            msg += b"\r\n"
        msg = b"\r\n".join(b"." + l if l.startswith(b".") else l for l in msg.split(b"\r\n"))
        self.sock.sendall(msg + b".\r\n")
        try:
            code, _ = self.reply()
        except ConnectionError:
            code = 0
        self.rec.commands.append((b".", code))
        if tx is not None:
            tx.end_code = code
            tx.outcome = "commit" if code == 250 else "rollback"
        if code in (0, 421):
            self._server_closed()
        return code

    def rset(self) -> int:
        tx = self.tx
        code = self.cmd(b"RSET")
        if tx is not None and code == 250:
            tx.outcome = "rollback"
        return code

    def quit(self) -> None:
        tx = self.tx
        self.cmd(b"QUIT")
        if tx is not None:
            tx.outcome = "rollback"
        self.rec.end = "quit"
        self.sock.close()

    def drop(self) -> None:
        """Close the connection without QUIT."""
        tx = self.tx
        if tx is not None:
            tx.outcome = "dropped"
        self.rec.end = "drop"
        self.sock.close()

    def message(self, sender: bytes, rcpts: list[bytes], subject: bytes = b"e2e") -> Tx:
        """One whole transaction; DATA only if a recipient was accepted."""
        expect(self.mail(sender), 250, "MAIL FROM")
        tx = self.tx
        for r in rcpts:
            self.rcpt(r)
        if tx.accepted:
            expect(self.data(subject=subject), 250, "end of DATA")
        return tx


def expect(code, want: int, what: str) -> None:
    if isinstance(code, tuple):
        code = code[0]
    if code != want:
        raise ScenarioError(f"{what}: got {code}, want {want}")


def session(name: str, ports: Ports, port: Optional[int] = None, host: str = "127.0.0.1",
            implicit_tls: bool = False) -> tuple[SessionRecord, Client]:
    rec = SessionRecord(scenario=name, transport="tcp4")
    return rec, Client(rec, host, port or ports.plain, implicit_tls=implicit_tls)


# ---------------------------------------------------------------------------
# scenarios: each returns the sessions it made


def plain(p: Ports):
    rec, c = session("plain", p)
    expect(c.helo(b"plain.client.test"), 250, "EHLO")
    c.message(b"plain-sender@client.test", [b"alice@example.test"])
    c.quit()
    return [rec]


def rcpt_refused(p: Ports):
    """Two recipients, the second one refused (no match for the domain: 550)."""
    rec, c = session("rcpt_refused", p)
    expect(c.helo(b"rcpt-refused.client.test"), 250, "EHLO")
    tx = c.message(b"refused-sender@client.test", [b"alice@example.test", b"nobody@unknown.test"])
    if tx.rcpts[1][1] != 550:
        raise ScenarioError(f"unknown domain: got {tx.rcpts[1][1]}, want 550")
    c.quit()
    return [rec]


def rset_between(p: Ports):
    """Commit, RSET (no transaction), MAIL+RCPT then RSET (rollback), commit."""
    rec, c = session("rset_between", p)
    expect(c.helo(b"rset.client.test"), 250, "EHLO")
    c.message(b"rset-first@client.test", [b"alice@example.test"])
    expect(c.rset(), 250, "RSET")
    expect(c.mail(b"rset-second@client.test"), 250, "MAIL")
    expect(c.rcpt(b"bob@example.test"), 250, "RCPT")
    expect(c.rset(), 250, "RSET")
    c.message(b"rset-third@client.test", [b"carol@example.test"])
    c.quit()
    return [rec]


def second_mail(p: Ports):
    """A second MAIL FROM inside a transaction: 503, the transaction goes on."""
    rec, c = session("second_mail", p)
    expect(c.helo(b"second-mail.client.test"), 250, "EHLO")
    expect(c.mail(b"second-mail-a@client.test"), 250, "MAIL")
    c.cmd(b"MAIL FROM:<second-mail-b@client.test>")
    expect(c.rcpt(b"alice@example.test"), 250, "RCPT")
    expect(c.data(), 250, "DATA")
    c.quit()
    return [rec]


def null_sender(p: Ports):
    """MAIL FROM:<> (a bounce): the sender address is empty."""
    rec, c = session("null_sender", p)
    expect(c.helo(b"null-sender.client.test"), 250, "EHLO")
    c.message(b"", [b"alice@example.test"])
    c.quit()
    return [rec]


def misc_commands(p: Ports):
    """AUTH before EHLO (smtpd reports it unmasked), NOOP, HELP, an unknown
    command, an empty line, RCPT before MAIL, AUTH where it is not offered."""
    rec, c = session("misc_commands", p)
    exposed = base64.b64encode(b"\0alice\0exposed-before-helo")
    c.cmd(b"AUTH PLAIN " + exposed)  # 503: no HELO yet; the report shows it in clear
    expect(c.helo(b"misc.client.test"), 250, "EHLO")
    for line in (b"NOOP", b"HELP", b"FROBNICATE now", b"", b"RCPT TO:<alice@example.test>",
                 b"AUTH PLAIN " + exposed):  # 503 too: AUTH needs TLS
        c.cmd(line)
    c.quit()
    return [rec]


def many_recipients(p: Ports, n: int = 100):
    """One message to n recipients with long local parts: its documents are
    larger than rsyslog's default 8 KiB message limit."""
    rec, c = session("many_recipients", p)
    expect(c.helo(b"many-rcpts.client.test"), 250, "EHLO")
    rcpts = [f"recipient-{i:03d}-{'x' * 48}@example.test".encode() for i in range(n)]
    tx = c.message(b"many-rcpts@client.test", rcpts + [b"nobody@unknown.test"])
    if len(tx.accepted) != n:
        raise ScenarioError(f"{len(tx.accepted)} of {n} recipients accepted")
    c.quit()
    return [rec]


def starttls_auth_plain(p: Ports):
    rec, c = session("starttls_auth_plain", p, p.submission)
    expect(c.helo(b"starttls-auth.client.test"), 250, "EHLO")
    c.starttls()
    expect(c.helo(b"starttls-auth.client.test"), 250, "EHLO after STARTTLS")
    expect(c.auth_plain("alice", USERS["alice"]), 235, "AUTH PLAIN")
    c.message(b"alice@client.test", [b"bob@example.test", b"nobody@unknown.test"])
    c.quit()
    return [rec]


def auth_failure(p: Ports):
    rec, c = session("auth_failure", p, p.submission)
    expect(c.helo(b"auth-fail.client.test"), 250, "EHLO")
    c.starttls()
    expect(c.helo(b"auth-fail.client.test"), 250, "EHLO after STARTTLS")
    expect(c.auth_plain("alice", "wrong-password"), 535, "AUTH PLAIN (wrong password)")
    c.quit()
    return [rec]


def auth_login(p: Ports):
    """AUTH LOGIN with an initial response (the username shows in protocol-client)."""
    rec, c = session("auth_login", p, p.submission)
    expect(c.helo(b"auth-login.client.test"), 250, "EHLO")
    c.starttls()
    expect(c.helo(b"auth-login.client.test"), 250, "EHLO after STARTTLS")
    expect(c.auth_login("bob", USERS["bob"], initial=True), 235, "AUTH LOGIN")
    c.message(b"bob@client.test", [b"alice@example.test"])
    c.quit()
    return [rec]


def auth_login_prompted(p: Ports):
    """AUTH LOGIN without an initial response: username and password are prompted."""
    rec, c = session("auth_login_prompted", p, p.submission)
    expect(c.helo(b"auth-login-prompted.client.test"), 250, "EHLO")
    c.starttls()
    expect(c.helo(b"auth-login-prompted.client.test"), 250, "EHLO after STARTTLS")
    expect(c.auth_login("alice", USERS["alice"], initial=False), 235, "AUTH LOGIN")
    c.quit()
    return [rec]


def drops(p: Ports):
    """Clients that vanish without QUIT: idle, mid-transaction, inside DATA."""
    out = []
    rec, c = session("drop_idle", p)
    expect(c.helo(b"drop-idle.client.test"), 250, "EHLO")
    c.drop()
    out.append(rec)

    rec, c = session("drop_mid_tx", p)
    expect(c.helo(b"drop-mid-tx.client.test"), 250, "EHLO")
    expect(c.mail(b"drop-sender@client.test"), 250, "MAIL")
    expect(c.rcpt(b"alice@example.test"), 250, "RCPT")
    c.drop()
    out.append(rec)

    rec, c = session("drop_in_data", p)
    expect(c.helo(b"drop-in-data.client.test"), 250, "EHLO")
    expect(c.mail(b"drop-data@client.test"), 250, "MAIL")
    expect(c.rcpt(b"alice@example.test"), 250, "RCPT")
    expect(c.cmd(b"DATA"), 354, "DATA")
    c.tx.data_code = 354
    c.sock.sendall(b"Subject: cut short\r\n\r\nhalf a message\r\n")
    time.sleep(0.2)
    c.drop()
    out.append(rec)

    rec, c = session("drop_before_helo", p)
    c.drop()
    out.append(rec)
    return out


def pipes(p: Ports):
    """`|` in HELO and in addresses (the protocol does not escape it)."""
    rec, c = session("pipes", p)
    if c.helo(b"pi|pe.client.test") != 250:  # smtpd may refuse it as a domain name
        expect(c.helo(b"pipes.client.test"), 250, "EHLO")
    c.message(b"pi|pe@client.test", [b"pi|pe@example.test", b"x|y@unknown.test"])
    c.quit()
    return [rec]


def eight_bit(p: Ports):
    """Non-UTF-8 bytes (0xff 0xfe) in HELO and addresses, plus valid UTF-8."""
    rec, c = session("eight_bit", p)
    if c.helo(b"\xff\xfe.client.test") != 250:
        expect(c.helo(b"eight-bit.client.test"), 250, "EHLO")
    code = c.mail(b"\xff\xfe@client.test")
    if code != 250:
        expect(c.mail(b"eight-bit@client.test"), 250, "MAIL")
    for r in (b"caf\xc3\xa9@example.test", b"\xff\xfe@example.test", b"alice@example.test"):
        c.rcpt(r)
    if c.tx.accepted:
        c.data(subject=b"8bit \xff\xfe")
    c.quit()
    return [rec]


def smtps(p: Ports):
    rec, c = session("smtps", p, p.smtps, implicit_tls=True)
    expect(c.helo(b"smtps.client.test"), 250, "EHLO")
    expect(c.auth_plain("alice", USERS["alice"]), 235, "AUTH PLAIN")
    c.message(b"smtps-sender@client.test", [b"alice@example.test"])
    c.quit()
    return [rec]


def ipv6(p: Ports):
    """IPv6 (::1, no rDNS), and HELO instead of EHLO."""
    rec, c = session("ipv6", p, host="::1")
    expect(c.helo(b"ipv6.client.test", verb=b"HELO"), 250, "HELO")
    c.message(b"ipv6-sender@client.test", [b"alice@example.test"])
    c.quit()
    return [rec]


def local_enqueue(p: Ports):
    """/usr/sbin/sendmail: smtpctl enqueues over the unix socket (src = dest = unix:...)."""
    rec = SessionRecord(scenario="local_enqueue", transport="unix")
    sender, rcpt = "sendmail-sender@local.test", "alice@example.test"
    r = subprocess.run([_SENDMAIL, "-f", sender, rcpt], input=b"Subject: local enqueue\n\nhi\n",
                       capture_output=True, timeout=TIMEOUT)
    if r.returncode != 0:
        raise ScenarioError(f"sendmail exited {r.returncode}: {r.stderr!r}")
    tx = Tx(sender.encode(), 250, [(rcpt.encode(), 250)], 354, 250, "commit")
    rec.transactions.append(tx)
    rec.end = "quit"
    return [rec]


def builtin_filters(p: Ports):
    """smtpd's builtin filters in the same chain: reject, junk, disconnect, report."""
    out = []
    rec, c = session("builtin_helo_reject", p, p.builtin)
    expect(c.helo(b"reject.client.test"), 550, "EHLO (rejected by f_helo)")
    c.quit()
    out.append(rec)

    rec, c = session("builtin_junk", p, p.builtin)
    expect(c.helo(b"junk.client.test"), 250, "EHLO")
    c.message(b"junkme@client.test", [b"alice@example.test"])
    c.quit()
    out.append(rec)

    rec, c = session("builtin_disconnect", p, p.builtin)
    expect(c.helo(b"disconnect.client.test"), 250, "EHLO")
    expect(c.mail(b"disconnect-me@client.test"), 421, "MAIL (f_disc)")
    c.sock.close()
    out.append(rec)

    rec, c = session("builtin_rcpt_reject_report", p, p.builtin)
    expect(c.helo(b"rcpt-filters.client.test"), 250, "EHLO")
    tx = c.message(b"filters-sender@client.test",
                   [b"blocked@example.test", b"reportme@example.test", b"alice@example.test"])
    if [code for _, code in tx.rcpts] != [550, 250, 250]:
        raise ScenarioError(f"builtin rcpt filters: {tx.rcpts}")
    c.quit()
    out.append(rec)
    return out


def relay(p: Ports):
    """A message for relay.test: smtpd relays it to its own relay-target listener
    through the relay action (smtp-out reports).  The outgoing session's QUIT
    comes ~10 s later (mta connection cache)."""
    rec, c = session("relay", p)
    expect(c.helo(b"relay.client.test"), 250, "EHLO")
    c.message(b"relay-sender@client.test", [b"bob@relay.test"])
    c.quit()
    return [rec]


def relay_unreachable(p: Ports):
    """A message for unreachable.test, whose relay host refuses connections:
    the smtp-out session fails to connect (no link-connect) and the message
    stays queued (harness.py deletes it after smtpd stopped)."""
    rec, c = session("relay_unreachable", p)
    expect(c.helo(b"relay-unreachable.client.test"), 250, "EHLO")
    c.message(b"unreachable-sender@client.test", [b"carol@unreachable.test"])
    c.quit()
    return [rec]


def burst_one(p: Ports, i: int) -> SessionRecord:
    name = f"burst-{i:04d}"
    rec, c = session("burst", p)
    expect(c.helo(f"{name}.client.test".encode()), 250, "EHLO")
    c.message(f"{name}@client.test".encode(), [b"alice@example.test"], subject=name.encode())
    c.quit()
    rec.note = name
    return rec


def burst(p: Ports, n: int = 200) -> list[SessionRecord]:
    """n short sessions, at most 5 at a time, each with its own HELO and sender."""
    with ThreadPoolExecutor(MAX_CONCURRENT) as pool:
        return list(pool.map(lambda i: burst_one(p, i), range(n)))


# Credentials a client sends after smtpd refused or ended its AUTH exchange:
# smtpd reports those lines as sent (it masks only in its own AUTH states).
# Each scenario's secrets are its own, so a needle names one scenario.
AFTER_AUTH_SECRETS = {
    "auth_refused_then_credentials": ("mallory", "After503-Pw-k7Zq"),
    "auth_cancelled_then_blob": ("alice", "Cancelled-Blob-Pw-9x"),
    "auth_failed_then_password": ("alice", "Typed-After-535-Pw-q4"),
}


def plain_blob(user: str, password: str) -> bytes:
    return base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode())


def auth_refused_then_credentials(p: Ports):
    """AUTH LOGIN on a listener without AUTH (503), then the base64 user
    name and password anyway, each answered 500."""
    name = "auth_refused_then_credentials"
    user, password = AFTER_AUTH_SECRETS[name]
    rec, c = session(name, p)
    expect(c.helo(b"refused-auth.client.test"), 250, "EHLO")
    expect(c.cmd(b"AUTH LOGIN"), 503, "AUTH LOGIN where AUTH is not offered")
    expect(c.cmd(base64.b64encode(user.encode())), 500, "base64 user name as a command")
    expect(c.cmd(base64.b64encode(password.encode())), 500, "base64 password as a command")
    c.message(b"refused-auth@client.test", [b"alice@example.test"])
    c.quit()
    return [rec]


def auth_cancelled_then_blob(p: Ports):
    """AUTH PLAIN, 334, `*` cancels (501), then the PLAIN blob as a line."""
    name = "auth_cancelled_then_blob"
    user, password = AFTER_AUTH_SECRETS[name]
    rec, c = session(name, p, p.submission)
    expect(c.helo(b"cancelled-auth.client.test"), 250, "EHLO")
    c.starttls()
    expect(c.helo(b"cancelled-auth.client.test"), 250, "EHLO after STARTTLS")
    expect(c.cmd(b"AUTH PLAIN"), 334, "AUTH PLAIN")
    expect(c.cmd(b"*"), 501, "* cancels")
    expect(c.cmd(plain_blob(user, password)), 500, "the PLAIN blob as a command")
    c.quit()
    return [rec]


def auth_failed_then_password(p: Ports):
    """A failed AUTH PLAIN (535), then the password typed as a line."""
    name = "auth_failed_then_password"
    user, password = AFTER_AUTH_SECRETS[name]
    rec, c = session(name, p, p.submission)
    expect(c.helo(b"failed-auth.client.test"), 250, "EHLO")
    c.starttls()
    expect(c.helo(b"failed-auth.client.test"), 250, "EHLO after STARTTLS")
    code = c.cmd(b"AUTH PLAIN " + plain_blob(user, password))
    rec.auth.append(("PLAIN", user, code))
    expect(code, 535, "AUTH PLAIN with a wrong password")
    expect(c.cmd(password.encode()), 500, "the password as a command")
    c.quit()
    return [rec]


AFTER_AUTH = [auth_refused_then_credentials, auth_cancelled_then_blob, auth_failed_then_password]


# The main scenarios, in the order they run.  `relay` and `burst` are separate.
MAIN: list[Callable[[Ports], list[SessionRecord]]] = [
    plain, rcpt_refused, rset_between, second_mail, null_sender, misc_commands,
    starttls_auth_plain, auth_failure, auth_login, auth_login_prompted, drops, pipes,
    eight_bit, smtps, ipv6, local_enqueue, builtin_filters,
]


def run(scenarios, p: Ports) -> list[SessionRecord]:
    out = []
    for s in scenarios:
        t0 = time.monotonic()
        recs = s(p)
        out.extend(recs)
        print(f"  scenario {s.__name__}: {len(recs)} session(s), {time.monotonic() - t0:.2f} s", flush=True)
    return out
