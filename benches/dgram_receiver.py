#!/usr/bin/env python3
"""A syslog daemon that only counts: binds a unix datagram socket, drains it,
and prints how many datagrams (and bytes) it got once none came for IDLE
seconds.  For measuring the syslog sink by hand, e.g. under callgrind
(docs/benchmarks.md):

    python3 benches/dgram_receiver.py /tmp/log.sock &
    filter-jsonlog replay STREAM --output syslog --syslog-socket /tmp/log.sock
"""

import os
import socket
import sys


def main() -> None:
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: dgram_receiver.py SOCKET [IDLE_SECONDS]")
    path, idle = sys.argv[1], float(sys.argv[2]) if len(sys.argv) == 3 else 30.0
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    count = size = 0
    sock.settimeout(idle)
    try:
        while True:
            size += len(sock.recv(1 << 17))
            count += 1
    except (socket.timeout, KeyboardInterrupt):
        pass
    finally:
        os.unlink(path)
    print(f"{count} datagrams, {size} bytes")


if __name__ == "__main__":
    main()
