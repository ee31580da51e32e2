#!/usr/bin/env python3
"""README.md's Debian 12 install steps, run as written, on this machine.

    sudo CI=true python3 tests/e2e/test_install.py      (E2E_INSTALL=1 instead of CI=true)

The shell blocks between `<!-- debian-install:begin -->` and `…:end -->` (and
the key-file block, `debian-key`) are run verbatim with `bash -e`, as root, in
the checkout: the binary goes to /usr/libexec/opensmtpd/, rsyslog's snippet to
/etc/rsyslog.d/, the filter line into the real /etc/smtpd.conf, and Debian's
own smtpd and rsyslogd are started with the system configuration.  Then one
mail through `sendmail` must show up as documents in /var/log/filter-jsonlog.json.

The one thing not run as written is systemd, which this kind of machine does
not have: `systemctl restart rsyslog|opensmtpd` is a shim (first in PATH)
that starts `rsyslogd -n` and `smtpd -d` with the system configuration and
remembers their PIDs.  Everything the steps change is put back afterwards:
files that existed are restored byte for byte, files that did not are
removed, the daemons are stopped by PID.

Because it changes the system, it runs only with CI=true or E2E_INSTALL=1
(otherwise skipped).  Needs root, opensmtpd and rsyslog, no smtpd on
/var/run/smtpd.sock and no syslog daemon on /dev/log.  The last line is
`e2e-install: N passed, N failed, N skipped`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    DEV_LOG, REPO, RSYSLOGD, SMTPD, SMTPD_SOCK, SPOOL_QUEUE, log, resolver_trick_off, resolver_trick_on,
    unix_socket_live,
)

CI = os.environ.get("CI", "").lower() == "true"
ENABLED = CI or os.environ.get("E2E_INSTALL") == "1"
README = REPO / "README.md"
BIN = "/usr/libexec/opensmtpd/filter-jsonlog"
JSON_LOG = Path("/var/log/filter-jsonlog.json")
KEY = Path("/etc/filter-jsonlog/hash.key")
# Everything the README's steps create or change.
TOUCHED = [
    "/etc/smtpd.conf", "/etc/rsyslog.conf", "/etc/rsyslog.d/30-filter-jsonlog.conf",
    "/etc/logrotate.d/filter-jsonlog", BIN, "/usr/local/share/man/man8/filter-jsonlog.8",
    str(KEY), str(KEY.parent), str(JSON_LOG),
]

SHIM = r"""#!/bin/bash
# systemctl for a machine without systemd (tests/e2e/test_install.py):
# restart rsyslog|opensmtpd with the system configuration, PIDs in $STATE.
set -eu
STATE=__STATE__
[ "$1" = restart ] || { echo "systemctl shim: only restart" >&2; exit 1; }
stop() { [ -f "$STATE/$1.pid" ] || return 0; p=$(cat "$STATE/$1.pid"); rm -f "$STATE/$1.pid"
         kill -TERM "$p" 2>/dev/null || return 0
         for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done; kill -KILL "$p"; }
case "$2" in
rsyslog|rsyslog.service)
    stop rsyslog
    setsid /usr/sbin/rsyslogd -n -i "$STATE/rsyslogd.pidfile" </dev/null >>"$STATE/rsyslogd.out" 2>&1 &
    echo $! > "$STATE/rsyslog.pid"
    for _ in $(seq 100); do [ -S /dev/log ] && exit 0; sleep 0.1; done
    echo "rsyslogd did not create /dev/log" >&2; exit 1 ;;
opensmtpd|opensmtpd.service)
    stop opensmtpd
    setsid /usr/sbin/smtpd -d -v </dev/null >>"$STATE/smtpd.log" 2>&1 &
    echo $! > "$STATE/opensmtpd.pid" ;;
*) echo "systemctl shim: unknown unit $2" >&2; exit 1 ;;
esac
"""


def readme_block(name: str) -> str:
    text = README.read_text()
    m = re.search(rf"<!-- {name}:begin -->\s*```sh\n(.*?)```\s*<!-- {name}:end -->", text, re.S)
    if not m:
        raise AssertionError(f"README.md has no ```sh block between <!-- {name}:begin/end -->")
    return m.group(1)


class Install(unittest.TestCase):
    state: Path
    saved: dict  # path -> bytes, or None when it did not exist

    @classmethod
    def setUpClass(cls) -> None:
        cls.skip = None
        if not ENABLED:
            cls.skip = "changes the system: runs only with CI=true or E2E_INSTALL=1"
            return
        why = []
        if os.geteuid() != 0:
            why.append("not root")
        for exe in (SMTPD, RSYSLOGD, "/usr/sbin/sendmail", "/usr/sbin/runuser"):
            if not os.access(exe, os.X_OK):
                why.append(f"{exe} missing")
        if unix_socket_live(SMTPD_SOCK):
            why.append(f"an smtpd owns {SMTPD_SOCK}")
        if unix_socket_live(DEV_LOG):
            why.append(f"a syslog daemon owns {DEV_LOG}")
        if why:
            raise RuntimeError("cannot run the install steps: " + "; ".join(why))
        cls.state = Path(tempfile.mkdtemp(prefix="filter-jsonlog-install-"))
        cls.saved = {}
        for p in TOUCHED:
            path = Path(p)
            cls.saved[p] = None if not path.exists() else ("dir" if path.is_dir() else path.read_bytes())
        shim = cls.state / "bin/systemctl"
        shim.parent.mkdir()
        shim.write_text(SHIM.replace("__STATE__", str(cls.state)))
        shim.chmod(0o755)
        resolver_trick_on()  # libasr: no DNS stalls (e2e.md pitfall 2)

    @classmethod
    def tearDownClass(cls) -> None:
        if getattr(cls, "skip", None) or not hasattr(cls, "saved"):
            return
        for unit in ("opensmtpd", "rsyslog"):
            pidf = cls.state / f"{unit}.pid"
            if pidf.exists():
                pid = int(pidf.read_text())
                subprocess.run(["kill", "-TERM", str(pid)], capture_output=True)
                for _ in range(100):
                    if not Path(f"/proc/{pid}").exists():
                        break
                    time.sleep(0.1)
        # the test mails (and their bounces) this run left in smtpd's queue
        msgids = set(re.findall(r"msgid=([0-9a-f]{8})", (cls.state / "smtpd.log").read_text(errors="replace")
                                if (cls.state / "smtpd.log").exists() else ""))
        for msgid in msgids:
            shutil.rmtree(Path(SPOOL_QUEUE) / msgid[:2] / msgid, ignore_errors=True)
        for p, content in cls.saved.items():
            path = Path(p)
            if content is None:
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                elif path.exists():
                    path.unlink()
            elif content != "dir":
                path.write_bytes(content)
        resolver_trick_off()
        if os.environ.get("E2E_KEEP") != "1":
            shutil.rmtree(cls.state, ignore_errors=True)
        else:
            log(f"kept {cls.state}")

    def setUp(self) -> None:
        if self.skip:
            self.skipTest(self.skip)

    def sh(self, script: str, check: bool = True) -> subprocess.CompletedProcess:
        env = {**os.environ, "PATH": f"{self.state}/bin:{os.environ.get('PATH', '')}"}
        r = subprocess.run(["bash", "-e", "-x", "-c", script], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=600)
        if check:
            self.assertEqual(r.returncode, 0, f"exit {r.returncode}\n--- stdout\n{r.stdout}\n--- stderr\n{r.stderr}")
        return r

    def smtpd_log(self) -> str:
        p = self.state / "smtpd.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def documents(self) -> list[dict]:
        if not JSON_LOG.exists():
            return []
        return [json.loads(l) for l in JSON_LOG.read_text().splitlines()]

    def test_1_readme_steps_to_the_first_document(self):
        t0 = time.monotonic()
        r = self.sh(readme_block("debian-install"))
        self.assertIn("check: 2 ok, 0 problems", r.stdout, "check as opensmtpd")
        self.assertIn("configuration OK", r.stdout + r.stderr, "smtpd -n")
        conf = Path("/etc/smtpd.conf").read_text()
        self.assertIn(f'filter jsonlog proc-exec "{BIN}"', conf)
        self.assertRegex(conf, r"(?m)^listen on localhost filter jsonlog$")
        self.assertRegex(conf, r'(?m)^action "relay" relay filter jsonlog$')
        self.assertRegex(conf, r"(?m)^listen on socket filter jsonlog$")
        # smtpd up: its socket answers
        for _ in range(100):
            if unix_socket_live(SMTPD_SOCK):
                break
            time.sleep(0.1)
        self.assertTrue(unix_socket_live(SMTPD_SOCK), self.smtpd_log()[-2000:])
        # The README's test mail, through smtpd's unix socket.
        self.sh("printf 'Subject: test\\n\\nhi\\n' | sendmail root")
        docs = []
        for _ in range(150):
            docs = self.documents()
            if any(d.get("event", {}).get("action") == "link-disconnect" for d in docs):
                break
            time.sleep(0.2)
        actions = [d.get("event", {}).get("action") for d in docs]
        self.assertIn("tx-commit", actions, f"{JSON_LOG}: {actions}\n{self.smtpd_log()[-2000:]}")
        self.assertIn("link-disconnect", actions)
        print(f"  install: README steps, then {len(docs)} documents in {JSON_LOG} "
              f"{time.monotonic() - t0:.1f} s after the first step", flush=True)
        self.assertTrue(Path("/usr/local/share/man/man8/filter-jsonlog.8").exists())

    def test_2_key_file_readable_by_the_filter_user(self):
        r = self.sh(readme_block("debian-key"))
        self.assertIn("check: 3 ok, 0 problems", r.stdout)
        st = KEY.stat()
        self.assertEqual(st.st_mode & 0o777, 0o440)
        self.assertEqual(st.st_size, 32)
        # and smtpd's filter, started with these options, hashes with it
        conf = Path("/etc/smtpd.conf")
        conf.write_text(conf.read_text().replace(
            f'proc-exec "{BIN}"', f'proc-exec "{BIN} --address-privacy hash-local --hash-key-file {KEY}"'))
        self.sh("smtpd -n && systemctl restart opensmtpd")
        before = len(self.documents())
        time.sleep(1)
        self.sh("printf 'Subject: hashed\\n\\nhi\\n' | sendmail -f someone@example.org root")
        for _ in range(150):
            new = self.documents()[before:]
            commits = [d for d in new if d.get("event", {}).get("action") == "tx-commit"]
            if commits:
                break
            time.sleep(0.2)
        self.assertTrue(commits, self.smtpd_log()[-2000:])
        sender = commits[0]["email"]["from"]["address"]
        self.assertRegex(sender, r"^[0-9a-f]{16}@example\.org$", "hash-local with the key")

    def test_3_a_start_time_failure_stops_smtpd_with_the_reason_logged(self):
        """What README's "If the filter cannot start" says: check reports it;
        under smtpd the filter's one line is logged and smtpd stops."""
        KEY.chmod(0o400)  # root only: the filter's user cannot read it
        try:
            r = self.sh(f"runuser -u opensmtpd -- {BIN} check --address-privacy hash-local "
                        f"--hash-key-file {KEY}", check=False)
            self.assertEqual(r.returncode, 1, r.stdout)
            self.assertIn(f"problem: options: --hash-key-file {KEY}: Permission denied", r.stdout)
            self.sh("systemctl restart opensmtpd")
            pid = int((self.state / "opensmtpd.pid").read_text())
            for _ in range(200):
                if not Path(f"/proc/{pid}").exists() or b"zombie" in Path(f"/proc/{pid}/status").read_bytes():
                    break
                time.sleep(0.1)
            self.assertFalse(unix_socket_live(SMTPD_SOCK), "smtpd still running")
            text = self.smtpd_log()
            self.assertIn(f"jsonlog: filter-jsonlog: --hash-key-file {KEY}: Permission denied", text)
            self.assertRegex(text, r"lost processor: jsonlog exited abnormally")
        finally:
            KEY.chmod(0o440)


def main() -> int:
    t0 = time.monotonic()
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(Install)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    failed = len(result.failures) + len(result.errors)
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped
    print(f"e2e-install elapsed: {time.monotonic() - t0:.1f} s")
    print(f"e2e-install: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
