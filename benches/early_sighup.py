#!/usr/bin/env python3
"""How long after exec a SIGHUP still kills filter-jsonlog: the window
before `main` installs its handlers (the runtime's own start), which
cannot be covered without `unsafe`.

    python3 benches/early_sighup.py [BINARY] [TRIALS] [DELAYS_MS]

For each delay, TRIALS starts: the signal is sent DELAY ms after
Popen returned (Popen returns once the child has exec'd), and the start
counts as killed when the child died of SIGHUP. Run it under the load you
care about: scheduling, not the binary, makes the tail."""

import signal
import subprocess
import sys
import time

BIN = sys.argv[1] if len(sys.argv) > 1 else "target/release/filter-jsonlog"
TRIALS = int(sys.argv[2]) if len(sys.argv) > 2 else 100
DELAYS = [float(x) for x in sys.argv[3].split(",")] if len(sys.argv) > 3 else \
    [0, 0.5, 1, 1.5, 2, 3, 4, 5, 6, 8, 10]

for delay in DELAYS:
    killed = 0
    for _ in range(TRIALS):
        p = subprocess.Popen([BIN, "--output", "file:/dev/null", "--stats-interval", "0"],
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < delay / 1000:
            pass  # a sleep would add the scheduler's own slack
        p.send_signal(signal.SIGHUP)
        p.stdin.close()
        if p.wait() == -signal.SIGHUP:
            killed += 1
    print(f"SIGHUP {delay:g} ms after exec: {killed}/{TRIALS} starts killed", flush=True)
