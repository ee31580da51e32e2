#!/usr/bin/env python3
"""tests/e2e/guard.py, which keeps the end-to-end suites off a mail host in
service, and tests/run.sh's use of it.  No root needed.

    python3 tests/e2e/test_guard.py

The last line is `guard: N passed, N failed, N skipped`.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
GUARD = HERE / "guard.py"
RUN_SH = HERE.parent / "run.sh"


def guard(**env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(GUARD)], capture_output=True, text=True, timeout=30,
                          env={**os.environ, **env})


class Guard(unittest.TestCase):
    def setUp(self) -> None:
        self.dir = tempfile.TemporaryDirectory()
        self.d = Path(self.dir.name)
        # An empty /proc/net unless a test writes one: the host's own
        # listeners must not decide these tests.
        (self.d / "net").mkdir()
        for name in ("tcp", "tcp6"):
            (self.d / "net" / name).write_text("  sl  local_address rem_address   st\n")
        self.quiet = {"GUARD_SMTPD_SOCK": str(self.d / "absent.sock"), "GUARD_PROC_NET": str(self.d / "net")}

    def tearDown(self) -> None:
        self.dir.cleanup()

    def test_nothing_found_is_silent(self) -> None:
        out = guard(**self.quiet)
        self.assertEqual((out.returncode, out.stdout), (0, ""), out.stderr)

    def test_smtpd_answering_on_its_socket(self) -> None:
        path = self.d / "smtpd.sock"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.bind(str(path))
            s.listen(1)
            out = guard(**{**self.quiet, "GUARD_SMTPD_SOCK": str(path)})
        self.assertEqual(out.returncode, 1)
        self.assertIn(f"an smtpd answers on {path}", out.stdout)

    def test_left_over_socket_file_is_not_a_live_smtpd(self) -> None:
        path = self.d / "smtpd.sock"
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(str(path))
        s.close()  # the file stays, nobody listens
        out = guard(**{**self.quiet, "GUARD_SMTPD_SOCK": str(path)})
        self.assertEqual((out.returncode, out.stdout), (0, ""))

    def test_a_real_listener_on_a_watched_port(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            s.listen(1)
            port = s.getsockname()[1]
            out = guard(GUARD_SMTPD_SOCK=str(self.d / "absent.sock"), GUARD_PORTS=f"{port}")
        self.assertEqual(out.returncode, 1)
        self.assertIn(f"TCP port {port} is listened on", out.stdout)

    def test_port_25_on_a_public_address_only(self) -> None:
        # 203.0.113.7:25 (hex, little-endian address as the kernel writes
        # it), LISTEN; and a connection from port 25 that is not listening.
        (self.d / "net" / "tcp").write_text(
            "  sl  local_address rem_address   st\n"
            "   0: 077100CB:0019 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1\n"
            "   1: 0100007F:0019 0100007F:D431 01 00000000:00000000 00:00000000 00000000 0 0 2\n")
        out = guard(**self.quiet)
        self.assertEqual(out.returncode, 1)
        self.assertEqual(out.stdout.strip(), "TCP port 25 is listened on")

    def test_established_only_is_not_listening(self) -> None:
        (self.d / "net" / "tcp6").write_text(
            "  sl  local_address rem_address   st\n"
            "   0: 00000000000000000000000001000000:024B 00000000000000000000000001000000:9C40 01 0 0 0 0\n")
        out = guard(**self.quiet)
        self.assertEqual((out.returncode, out.stdout), (0, ""))


class RunSh(unittest.TestCase):
    """tests/run.sh asks the guard before the suites that use system paths."""

    def test_run_sh_refuses_before_every_system_suite(self) -> None:
        text = RUN_SH.read_text()
        self.assertIn("tests/e2e/guard.py", text)
        # Every suite that starts smtpd or rsyslogd on the system's paths
        # goes through `system_suite`, which refuses on a live mail host.
        for script in ("tests/e2e/test_e2e.py", "tests/e2e/test_sinks.py", "tests/e2e/test_install.py"):
            for line in text.splitlines():
                if script in line and not line.lstrip().startswith("#"):
                    self.assertRegex(line, r"^\s*system_suite\b", f"{script} is run without the guard: {line}")

    def system_suite(self, live: str) -> str:
        """run.sh's system_suite, run by bash with a stand-in for suite()."""
        m = re.search(r"(?ms)^system_suite\(\) \{\n.*?^\}\n", RUN_SH.read_text())
        self.assertIsNotNone(m, "no system_suite() in run.sh")
        script = ('skipped=0; suite() { echo "ran: $*"; }\n' + m.group(0)
                  + 'system_suite "e2e sinks" python3 tests/e2e/test_sinks.py\necho "skipped=$skipped"\n')
        return subprocess.run(["bash", "-c", script], env={**os.environ, "live": live},
                              capture_output=True, text=True, timeout=30).stdout

    def test_live_host_refused_and_counted_skipped(self) -> None:
        out = self.system_suite("TCP port 25 is listened on")
        self.assertNotIn("ran:", out)
        self.assertIn("e2e sinks: 0 passed, 0 failed, 1 skipped (refused: this looks like a mail host "
                      "in service: TCP port 25 is listened on)", out)
        self.assertIn("skipped=1", out)

    def test_quiet_host_runs_the_suite(self) -> None:
        out = self.system_suite("")
        self.assertIn("ran: python3 tests/e2e/test_sinks.py", out)
        self.assertIn("skipped=0", out)


def main() -> int:
    suite = unittest.TestSuite()
    for case in (Guard, RunSh):
        suite.addTests(unittest.defaultTestLoader.loadTestsFromTestCase(case))
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    failed = len(result.failures) + len(result.errors)
    skipped = len(result.skipped)
    print(f"guard: {result.testsRun - failed - skipped} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
