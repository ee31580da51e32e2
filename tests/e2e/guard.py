#!/usr/bin/env python3
"""Is this a mail host in service?  tests/run.sh asks before the end-to-end suites.

    python3 tests/e2e/guard.py     exit 0, silent: nothing found
                                   exit 1, one line on stdout: what was found

The end-to-end suites start their own smtpd and rsyslogd on the system's
paths (smtpd's control socket, /dev/log, ports) and test_install.py edits
/etc/smtpd.conf; on a machine that carries mail they would take over its
logging and its smtpd socket for the length of a run.  Found here:

  * an smtpd answering on its control socket (/var/run/smtpd.sock; a socket
    file nobody answers on is left over, not live);
  * anything listening on TCP port 25, 465 or 587, on any address
    (/proc/net/tcp and tcp6, so a listener on a public address only counts).

Overrides, for the tests of this file: GUARD_SMTPD_SOCK, GUARD_PORTS
(comma-separated), GUARD_PROC_NET (directory holding tcp and tcp6).
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

SMTPD_SOCK = os.environ.get("GUARD_SMTPD_SOCK", "/var/run/smtpd.sock")
PORTS = [int(p) for p in os.environ.get("GUARD_PORTS", "25,465,587").split(",") if p.strip()]
PROC_NET = Path(os.environ.get("GUARD_PROC_NET", "/proc/net"))
TCP_LISTEN = "0A"


def smtpd_answers(path: str) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def listening_ports(ports: list[int]) -> list[int]:
    """Those of `ports` that some socket listens on, on any address."""
    found: set[int] = set()
    for name in ("tcp", "tcp6"):
        try:
            lines = (PROC_NET / name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 4 or fields[3] != TCP_LISTEN:
                continue
            port = int(fields[1].rsplit(":", 1)[1], 16)
            if port in ports:
                found.add(port)
    return sorted(found)


def findings() -> list[str]:
    out = []
    if smtpd_answers(SMTPD_SOCK):
        out.append(f"an smtpd answers on {SMTPD_SOCK}")
    ports = listening_ports(PORTS)
    if ports:
        out.append("TCP port " + ", ".join(map(str, ports)) + " is listened on")
    return out


def main() -> int:
    found = findings()
    if found:
        print("; ".join(found))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
