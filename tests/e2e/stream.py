"""Parse a raw OpenSMTPD report stream (as recorder.py captures it).

Bytes in, bytes out: the stream is not guaranteed to be UTF-8.  Payloads are
split per event as /work/shared/protocol.md §8.2 says for protocol 0.6 (and 0.7,
where only link-auth differs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class Event:
    index: int  # line number in the stream (0-based, handshake included)
    version: bytes
    time: bytes
    subsystem: str
    name: str
    sid: str
    payload: Optional[bytes]  # None: no payload at all (link-disconnect, timeout)
    fields: list[bytes] = field(default_factory=list)
    raw: bytes = b""


@dataclass
class Stream:
    config: list[tuple[bytes, bytes]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    other: list[bytes] = field(default_factory=list)  # lines that are neither

    def sessions(self) -> dict[tuple[str, str], list[Event]]:
        out: dict[tuple[str, str], list[Event]] = {}
        for e in self.events:
            out.setdefault((e.subsystem, e.sid), []).append(e)
        return out


def split_payload(name: str, version: bytes, payload: bytes) -> list[bytes]:
    if name == "link-connect":
        return payload.rsplit(b"|", 3)
    if name == "link-auth":
        if version in (b"0.4", b"0.5", b"0.6"):
            return payload.rsplit(b"|", 1)  # username|result
        res, user = payload.split(b"|", 1)  # 0.7: result|username
        return [user, res]
    if name in ("tx-mail", "tx-rcpt"):
        if version in (b"0.4", b"0.5"):
            msgid, rest = payload.split(b"|", 1)
            addr, res = rest.rsplit(b"|", 1)
            return [msgid, res, addr]
        return payload.split(b"|", 2)  # msgid|result|address
    if name in ("link-identify", "tx-envelope", "tx-data", "tx-commit"):
        return payload.split(b"|", 1)
    if name in ("filter-report", "filter-response"):
        return payload.split(b"|", 2)
    return [payload]


def parse(data: bytes) -> Stream:
    st = Stream()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for i, line in enumerate(lines):
        if line.startswith(b"config|"):
            _, key, val = (line.split(b"|", 2) + [b""])[:3]
            st.config.append((key, val))
            continue
        if not line.startswith(b"report|"):
            st.other.append(line)
            continue
        parts = line.split(b"|", 6)
        if len(parts) < 6:
            st.other.append(line)
            continue
        payload = parts[6] if len(parts) == 7 else None
        name = parts[4].decode()
        ev = Event(i, parts[1], parts[2], parts[3].decode(), name, parts[5].decode(), payload, raw=line)
        if payload is not None:
            ev.fields = split_payload(name, parts[1], payload)
        st.events.append(ev)
    return st


def endpoint(text: bytes) -> tuple[Optional[str], Optional[int]]:
    """`127.0.0.1:25` / `[::1]:25` -> (ip, port); `unix:/path` -> (None, None)."""
    s = text.decode("utf-8", "replace")
    if s.startswith("unix:"):
        return None, None
    host, _, port = s.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def client_of(events: list[Event]) -> tuple[Optional[str], Optional[int], bytes]:
    """(ip, port, raw src) of a session's first link-connect."""
    for e in events:
        if e.name == "link-connect":
            ip, port = endpoint(e.fields[2])
            return ip, port, e.fields[2]
    return None, None, b""
