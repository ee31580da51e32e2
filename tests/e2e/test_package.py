#!/usr/bin/env python3
"""The Debian package on a Debian 12 nobody touched.

    sudo CI=true flock /tmp/e2e.lock python3 tests/e2e/test_package.py

Builds the .deb with `cargo deb` (README.md, "Debian 12"), makes a fresh
Debian 12 (bookworm) tree with debootstrap from Debian's packages, and in it
(chroot, no systemd, policy-rc.d forbidding maintainer scripts to start
daemons) runs what a postmaster runs:

  1. `apt-get install ./filter-jsonlog_<v>_amd64.deb opensmtpd rsyslog`;
  2. the README's smtpd.conf line, verbatim; rsyslogd and smtpd started
     (what `systemctl restart` does on a real host);
  3. one mail (swaks, inside the tree) and its JSON documents in
     /var/log/filter-jsonlog.json; `filter-jsonlog report` on that file;
  4. `logrotate -f` with the package's logrotate file (its postrotate has no
     systemd here: rsyslogd's pid file), one more mail in the new file;
  5. `apt-get remove`, then `apt-get purge`: nothing of the package is left
     (file lists before and after compared).

Isolation from the host: every command in the tree runs in namespaces of
its own (mount, PID, UTS; the daemons also in a network namespace with only
a loopback), so smtpd listens on port 25 there whatever the host runs, the
tree's rsyslogd owns the tree's /dev/log, the tree's /proc is mounted only
inside, and every process of the tree dies with its PID namespace.

Caches (outside the checkout, reused by CI): the debootstrap tree as a
pristine tarball under /var/cache/filter-jsonlog/debootstrap/ (each run
unpacks a fresh copy), and apt's package files and lists for the tree.
Needs root, debootstrap, unshare/nsenter and cargo-deb (.ci/run installs
them); without them it is reported skipped, except under CI=true.  The last
lines are the summary, `package: fresh Debian 12, apt-get install
./filter-jsonlog_<v>_amd64.deb, first document after N s, rotated, purged
clean` (N: from starting smtpd in the tree to the first mail's documents,
link-disconnect included, in the file), the sizes and timings, and
`package: N passed, N failed, N skipped`.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import unittest
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parent.parent.parent
README = REPO / "README.md"
CI = os.environ.get("CI", "").lower() == "true"
CACHE = Path(os.environ.get("FILTER_JSONLOG_DEBOOTSTRAP_CACHE", "/var/cache/filter-jsonlog/debootstrap"))
SUITE = "bookworm"
TARBALL = CACHE / f"{SUITE}-minbase-amd64.tar"
APT_ARCHIVES = CACHE / "apt-archives"
APT_LISTS = CACHE / "apt-lists"
CARGO_BIN = Path("/var/cache/filter-jsonlog/cargo/bin")
LOG = "/var/log/filter-jsonlog.json"
HOSTNAME = "mx.package.test"
# The mails' recipient, a user of the tree (root may not receive mail from
# smtpd, and every bounce would be one more session in the log).
USER = "alice"
# Paths whose contents change by themselves (caches bind-mounted from the
# host, kernel and runtime file systems): not part of any file list.
UNLISTED = ("/proc", "/sys", "/dev", "/run", "/tmp", "/var/cache/apt", "/var/lib/apt/lists")


def log(msg: str) -> None:
    print(f"[package] {msg}", flush=True)


def readme_block(name: str) -> list[str]:
    """The command lines between `<!-- NAME:begin -->` and `<!-- NAME:end -->`."""
    text = README.read_text()
    m = re.search(rf"<!-- {name}:begin -->\n```sh\n(.*?)```\n<!-- {name}:end -->", text, re.S)
    if not m:
        raise AssertionError(f"README.md has no {name} block")
    return [l for l in m.group(1).splitlines() if l.strip() and not l.lstrip().startswith("#")]


def elf_sections(elf: bytes) -> list[str]:
    """The section names of a 64-bit little-endian ELF file."""
    import struct
    if elf[:6] != b"\x7fELF\x02\x01":
        raise AssertionError("not a 64-bit little-endian ELF file")
    shoff, = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3A)
    headers = [struct.unpack_from("<IIQQQQ", elf, shoff + i * shentsize) for i in range(shnum)]
    strtab_off, strtab_size = headers[shstrndx][4], headers[shstrndx][5]
    strtab = elf[strtab_off:strtab_off + strtab_size]
    return [strtab[h[0]:strtab.index(b"\0", h[0])].decode() for h in headers]


def cargo_deb() -> Optional[list[str]]:
    for d in [CARGO_BIN, *map(Path, os.environ.get("PATH", "").split(os.pathsep))]:
        if (d / "cargo-deb").is_file():
            return [str(d / "cargo-deb")]
    return None


def missing() -> Optional[str]:
    if os.geteuid() != 0:
        return "needs root (debootstrap, chroot, namespaces)"
    for tool in ("debootstrap", "unshare", "nsenter", "ip", "cargo"):
        if not shutil.which(tool):
            return f"needs {tool}"
    if cargo_deb() is None:
        return f"needs cargo-deb (cargo install cargo-deb --locked; .ci/run puts it in {CARGO_BIN})"
    return None


def run(argv: list[str], timeout: float = 600, check: bool = True, **kw) -> subprocess.CompletedProcess:
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{shlex.join(argv)} exited {p.returncode}\n{p.stdout[-4000:]}{p.stderr[-4000:]}")
    return p


class Tree:
    """A fresh copy of the pristine debootstrap tree, and commands in it."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="filter-jsonlog-package.", dir="/var/tmp"))
        self.root = self.base / "root"
        self.holder: Optional[subprocess.Popen] = None
        self.ns_pid: Optional[int] = None

    # -- the pristine tree -------------------------------------------------

    @staticmethod
    def ensure_tarball() -> float:
        """Makes the cached tarball if there is none; returns seconds spent."""
        if TARBALL.exists():
            return 0.0
        t0 = time.monotonic()
        CACHE.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="build.", dir=CACHE))
        try:
            # debootstrap's own default mirror and Debian's archive keyring.
            log(f"debootstrap --variant=minbase {SUITE} (once; cached in {TARBALL})")
            run(["debootstrap", "--variant=minbase", SUITE, str(work / "root")], timeout=1800)
            part = TARBALL.with_suffix(".tar.part")
            run(["tar", "-C", str(work / "root"), "--numeric-owner", "-cf", str(part), "."], timeout=600)
            part.rename(TARBALL)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return time.monotonic() - t0

    def unpack(self) -> None:
        self.root.mkdir()
        run(["tar", "-C", str(self.root), "--numeric-owner", "-xpf", str(TARBALL)], timeout=600)
        # What an installer writes and debootstrap does not: name resolution
        # for apt, the host's name, and no daemon started by a package.
        shutil.copyfile("/etc/resolv.conf", self.root / "etc/resolv.conf")
        (self.root / "etc/hosts").write_text(f"127.0.0.1\tlocalhost\n127.0.1.1\t{HOSTNAME} mx\n"
                                            "::1\tlocalhost ip6-localhost ip6-loopback\n")
        (self.root / "etc/hostname").write_text(HOSTNAME + "\n")
        rc = self.root / "usr/sbin/policy-rc.d"
        rc.write_text("#!/bin/sh\n# tests/e2e/test_package.py: no daemon starts from a package script\nexit 101\n")
        rc.chmod(0o755)
        for d in (APT_ARCHIVES / "partial", APT_LISTS / "partial"):
            d.mkdir(parents=True, exist_ok=True)

    # -- commands in the tree ----------------------------------------------

    def _mounts(self) -> str:
        r = shlex.quote(str(self.root))
        return (f"mount --bind {shlex.quote(str(APT_ARCHIVES))} {r}/var/cache/apt/archives && "
                f"mount --bind {shlex.quote(str(APT_LISTS))} {r}/var/lib/apt/lists && hostname {HOSTNAME}")

    def sh(self, script: str, timeout: float = 900, check: bool = True) -> subprocess.CompletedProcess:
        """One command in the tree, in throw-away namespaces (network: the host's)."""
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive",
               "LC_ALL": "C.UTF-8", "HOME": "/root"}
        outer = f"{self._mounts()} && exec chroot {shlex.quote(str(self.root))} /bin/sh -ec {shlex.quote(script)}"
        return run(["unshare", "--mount", "--pid", "--uts", "--fork", f"--mount-proc={self.root}/proc",
                    "sh", "-ec", outer], timeout=timeout, check=check, env=env)

    def start_namespace(self) -> None:
        """Namespaces that outlive one command, with a loopback network only:
        the daemons run here, and all die with its first process."""
        script = f"ip link set lo up && {self._mounts()} && exec sleep 3600"
        # Its stderr to a file: unshare complains when its child is killed.
        with open(self.base / "namespace.err", "wb") as err:
            self.holder = subprocess.Popen(["unshare", "--mount", "--pid", "--uts", "--net", "--fork",
                                            f"--mount-proc={self.root}/proc", "sh", "-ec", script],
                                           stdin=subprocess.DEVNULL, stdout=err, stderr=err)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                children = Path(f"/proc/{self.holder.pid}/task/{self.holder.pid}/children").read_text().split()
                if children and Path(f"/proc/{children[0]}/cmdline").read_bytes().startswith(b"sleep"):
                    self.ns_pid = int(children[0])
                    return
            except OSError:
                pass
            if self.holder.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError("the namespaces for the daemons did not come up: "
                             + (self.base / "namespace.err").read_text(errors="replace"))

    def ns(self, script: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
        """One command in the tree, inside the daemons' namespaces."""
        assert self.ns_pid is not None
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8", "HOME": "/root"}
        return run(["nsenter", "-t", str(self.ns_pid), "-m", "-n", "-p", "-u",
                    "chroot", str(self.root), "/bin/sh", "-ec", script], timeout=timeout, check=check, env=env)

    def stop_namespace(self) -> None:
        """Ends every process of the tree: the PID namespace's first one goes."""
        if self.ns_pid is not None:
            try:
                os.kill(self.ns_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.ns_pid = None
        if self.holder is not None:
            try:
                self.holder.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.holder.kill()
                self.holder.wait()
            self.holder = None

    def files(self) -> dict[str, tuple[int, int, int]]:
        """Every path in the tree (but UNLISTED) with its mode, uid and gid."""
        out: dict[str, tuple[int, int, int]] = {}
        root = str(self.root)
        for dirpath, dirnames, filenames in os.walk(root):
            rel = dirpath[len(root):] or "/"
            dirnames[:] = [d for d in dirnames if not os.path.join(rel, d).startswith(UNLISTED)]
            for name in dirnames + filenames:
                p = os.path.join(rel, name)
                st = os.lstat(os.path.join(dirpath, name))
                out[p] = (st.st_mode, st.st_uid, st.st_gid)
        return out

    def owned(self) -> set[str]:
        """Every path some installed package owns (dpkg's file lists)."""
        paths: set[str] = set()
        for lst in (self.root / "var/lib/dpkg/info").glob("*.list"):
            paths.update(l for l in lst.read_text(errors="replace").splitlines() if l)
        return paths

    def cleanup(self) -> None:
        self.stop_namespace()
        # Never remove across a mount (the caches are bind-mounted in the
        # namespaces only, but a leftover would take them with it).
        mounted = [l.split()[1] for l in Path("/proc/mounts").read_text().splitlines()
                   if l.split()[1].startswith(str(self.base))]
        if mounted:
            log(f"left in place, still mounted: {mounted}")
            return
        shutil.rmtree(self.base, ignore_errors=True)


class Package(unittest.TestCase):
    """The steps in order; a failed step skips the ones after it."""

    tree: Optional[Tree] = None
    deb: Optional[Path] = None
    version = ""
    facts: dict = {}
    broken: Optional[str] = None

    @classmethod
    def setUpClass(cls) -> None:
        cls.facts = {}

    @classmethod
    def tearDownClass(cls) -> None:
        if cls.tree is not None:
            cls.tree.cleanup()

    def setUp(self) -> None:
        why = missing()
        if why:
            if CI:
                self.fail(f"{why} (CI=true: the package test must run)")
            self.skipTest(why)
        if Package.broken:
            self.skipTest(f"an earlier step failed ({Package.broken})")
        self._ok = False

    def tearDown(self) -> None:
        if not self._ok and not Package.broken:
            Package.broken = self.id().rsplit(".", 1)[-1]

    def wait_documents(self, path: str, want, timeout: float = 30) -> list[dict]:
        """Documents in the tree's `path` once `want(docs)` holds."""
        assert Package.tree is not None
        full = Package.tree.root / path.lstrip("/")
        deadline = time.monotonic() + timeout
        docs: list[dict] = []
        while time.monotonic() < deadline:
            if full.exists():
                lines = full.read_bytes().splitlines()
                docs = []
                for line in lines:
                    try:
                        docs.append(json.loads(line))
                    except ValueError:
                        self.fail(f"not one JSON document per line in {path}: {line[:200]!r}")
                if want(docs):
                    return docs
            time.sleep(0.1)
        self.fail(f"{path}: documents not there after {timeout:.0f} s; have "
                  f"{[d.get('event', {}).get('action') for d in docs]}")

    def mail(self, subject: str) -> None:
        assert Package.tree is not None
        Package.tree.ns(f"swaks --silent 2 --server 127.0.0.1 --port 25 --from postmaster@{HOSTNAME} "
                        f"--to {USER}@{HOSTNAME} --header {shlex.quote('Subject: ' + subject)}")

    @staticmethod
    def commits(docs: list[dict]) -> list[dict]:
        return [d for d in docs if d.get("event", {}).get("action") == "tx-commit"]

    # -- the steps -----------------------------------------------------------

    def test_1_build(self) -> None:
        """`cargo deb`, as the README says; a stripped binary in it."""
        block = readme_block("debian-package")
        build = [l for l in block if l.startswith("cargo deb")]
        self.assertEqual(len(build), 1, f"one `cargo deb` line in the README's block: {block}")
        argv = shlex.split(build[0])
        t0 = time.monotonic()
        out = run(cargo_deb() + argv[2:], cwd=REPO, timeout=1800)
        Package.facts["build_s"] = time.monotonic() - t0
        deb = Path(out.stdout.strip().splitlines()[-1])
        self.assertTrue(deb.is_file(), out.stdout + out.stderr)
        self.assertRegex(deb.name, r"^filter-jsonlog_[^_]+_amd64\.deb$")
        Package.deb, Package.version = deb, deb.name.split("_")[1]
        Package.facts["deb_bytes"] = deb.stat().st_size
        info = run(["dpkg-deb", "-f", str(deb), "Depends", "Recommends", "Suggests"]).stdout
        self.assertIn("libc6", info)
        self.assertRegex(info, r"Recommends:.*\brsyslog\b")
        self.assertRegex(info, r"Suggests:.*\bopensmtpd\b")
        conffiles = run(["dpkg-deb", "-I", str(deb), "conffiles"]).stdout.split()
        self.assertEqual(sorted(conffiles), ["/etc/logrotate.d/filter-jsonlog",
                                              "/etc/rsyslog.d/30-filter-jsonlog.conf",
                                              "/etc/systemd/journald.conf.d/filter-jsonlog.conf"])
        with tempfile.TemporaryDirectory() as d:
            run(["dpkg-deb", "-x", str(deb), d])
            binary = Path(d, "usr/libexec/opensmtpd/filter-jsonlog")
            elf = binary.read_bytes()
            sections = elf_sections(elf)
            kept = sorted(n for n in sections if n == ".symtab" or n.startswith(".debug"))
            self.assertEqual(kept, [], "not stripped: the release profile has strip = true")
            Package.facts["binary_bytes"] = len(elf)
            self.assertEqual(os.readlink(Path(d, "usr/bin/filter-jsonlog")), "../libexec/opensmtpd/filter-jsonlog")
            self.assertTrue(Path(d, "usr/share/man/man8/filter-jsonlog.8.gz").is_file())
            self.assertIn("ISC", Path(d, "usr/share/doc/filter-jsonlog/copyright").read_text())
            self.assertEqual(Path(d, "etc/rsyslog.d/30-filter-jsonlog.conf").read_bytes(),
                             (REPO / "examples/rsyslog.conf").read_bytes())
            self.assertEqual(Path(d, "etc/logrotate.d/filter-jsonlog").read_bytes(),
                             (REPO / "examples/logrotate.conf").read_bytes())
        log(f"{deb.name}: {Package.facts['deb_bytes']:,} bytes, binary {len(elf):,} bytes, "
            f"built in {Package.facts['build_s']:.1f} s")
        self._ok = True

    def test_2_install(self) -> None:
        """The README's apt-get line in a fresh tree; the package's files."""
        assert Package.deb is not None
        Package.facts["debootstrap_s"] = Tree.ensure_tarball()
        tree = Package.tree = Tree()
        t0 = time.monotonic()
        tree.unpack()
        Package.facts["unpack_s"] = time.monotonic() - t0
        shutil.copy(Package.deb, tree.root / "root" / Package.deb.name)
        # The test's own client and recipient, before the "before" list.
        tree.sh("apt-get -q update && apt-get install -y -q --no-install-recommends swaks >/dev/null"
                f" && useradd -m {USER}")
        Package.facts["before"] = tree.files()
        install = [l for l in readme_block("debian-package") if l.startswith("apt-get install")]
        self.assertEqual(len(install), 1, "one apt-get install line in the README's block")
        argv = shlex.split(install[0])
        self.assertRegex(argv[2], r"filter-jsonlog_\*?.*\.deb$")
        self.assertEqual(argv[3:], ["opensmtpd", "rsyslog"])
        cmd = shlex.join(["apt-get", "install", "-y", "-q", "./" + Package.deb.name, *argv[3:]])
        t0 = time.monotonic()
        out = tree.sh(f"cd /root && {cmd}")
        Package.facts["install_s"] = time.monotonic() - t0
        log(f"{cmd}: {Package.facts['install_s']:.1f} s")
        self.assertIn("Setting up filter-jsonlog", out.stdout)
        status = tree.sh("dpkg-query -W -f='${Status} ${Version}' filter-jsonlog").stdout
        self.assertEqual(status, f"install ok installed {Package.version}")
        # The log file as Debian's other logs: root:adm 0640.
        st = os.lstat(tree.root / LOG.lstrip("/"))
        adm = tree.sh("getent group adm | cut -d: -f3").stdout.strip()
        self.assertEqual((oct(st.st_mode & 0o7777), st.st_uid, st.st_gid), ("0o640", 0, int(adm)))
        # The package changed no other package's files: smtpd.conf and
        # rsyslog.conf are as Debian ships them (dpkg --verify: no output).
        verify = tree.sh("dpkg --verify opensmtpd rsyslog logrotate", check=False)
        self.assertEqual(verify.stdout + verify.stderr, "", "another package's file changed")
        Package.facts["package_files"] = tree.sh("dpkg -L filter-jsonlog").stdout.split()
        self.assertIn("/usr/libexec/opensmtpd/filter-jsonlog", Package.facts["package_files"])
        self.assertEqual(tree.sh("readlink -f /usr/bin/filter-jsonlog").stdout.strip(),
                         "/usr/libexec/opensmtpd/filter-jsonlog")
        self.assertIn("filter-jsonlog", tree.sh("filter-jsonlog --version").stdout)
        self._ok = True

    def test_3_first_document(self) -> None:
        """The README's smtpd.conf line, rsyslogd and smtpd, one mail, its documents."""
        tree = Package.tree
        assert tree is not None
        block = readme_block("debian-package")
        edits = [l for l in block if "/etc/smtpd.conf" in l]
        self.assertTrue(edits, "the README's block edits /etc/smtpd.conf")
        for line in edits:
            tree.sh(line)
        conf = (tree.root / "etc/smtpd.conf").read_text()
        self.assertIn('filter jsonlog proc-exec "/usr/libexec/opensmtpd/filter-jsonlog"', conf)
        self.assertRegex(conf, r"(?m)^listen on localhost .*filter jsonlog")
        tree.sh("smtpd -n")
        # libasr (smtpd's resolver) with /etc/hosts only: the daemons'
        # namespace has no network but its loopback.  rsyslog's kernel log
        # input would read the host's kernel messages: off in the tree.
        tree.sh("printf 'lookup file\\n' >> /etc/resolv.conf && sed -i '/imklog/s/^/#/' /etc/rsyslog.conf")
        tree.start_namespace()
        # What `systemctl restart rsyslog opensmtpd` does where systemd runs.
        tree.ns("rsyslogd && for i in $(seq 100); do [ -S /dev/log ] && [ -s /run/rsyslogd.pid ] && exit 0; "
                "sleep 0.1; done; echo no /dev/log >&2; exit 1")
        check = tree.ns("runuser -u opensmtpd -- filter-jsonlog check", check=False)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        t0 = time.monotonic()
        tree.ns("smtpd && for i in $(seq 100); do [ -S /run/smtpd.sock ] && exit 0; sleep 0.1; done; exit 1")
        self.mail("first")
        docs = self.wait_documents(LOG, lambda ds: self.commits(ds) and any(
            d.get("event", {}).get("action") == "link-disconnect" for d in ds))
        Package.facts["first_s"] = time.monotonic() - t0
        commit = self.commits(docs)[0]
        self.assertEqual(commit["email"]["to"]["address"], [f"{USER}@{HOSTNAME}"])
        self.assertEqual(commit["opensmtpd"]["subsystem"], "smtp-in")
        Package.facts["first_docs"] = len(docs)
        log(f"first mail: {len(docs)} documents in {LOG} after {Package.facts['first_s']:.1f} s")
        # Local mail comes through smtpd's socket: the README's line
        # listens there with the filter too.
        tree.ns(f"printf 'Subject: local\\n\\nhi\\n' | sendmail {USER}")
        docs = self.wait_documents(LOG, lambda ds: len(self.commits(ds)) == 2)
        self._ok = True

    def test_4_report(self) -> None:
        """`filter-jsonlog report` (on PATH) over the file."""
        tree = Package.tree
        assert tree is not None
        out = tree.ns(f"filter-jsonlog report {LOG}")
        self.assertRegex(out.stdout, r"(?m)^\s*messages accepted\s+2\b", out.stdout[:3000])
        self._ok = True

    def test_5_rotate(self) -> None:
        """`logrotate -f` without systemd; the next mail lands in the new file."""
        tree = Package.tree
        assert tree is not None
        before = (tree.root / LOG.lstrip("/")).read_bytes()
        tree.ns("logrotate -f /etc/logrotate.d/filter-jsonlog")
        rotated = tree.root / (LOG.lstrip("/") + ".1")
        self.assertEqual(rotated.read_bytes()[:len(before)], before, "delaycompress keeps .1 as it was")
        st = os.lstat(tree.root / LOG.lstrip("/"))
        self.assertEqual((oct(st.st_mode & 0o7777), st.st_uid), ("0o640", 0))
        self.mail("after rotation")
        docs = self.wait_documents(LOG, lambda ds: bool(self.commits(ds)))
        self.assertTrue(docs)
        old = [json.loads(l) for l in rotated.read_bytes().splitlines()]
        self.assertEqual(len(self.commits(old)), 2, "the next mail went to the rotated file")
        # The README's daily cron line, with cron's PATH, over both files.
        m = re.search(r"(?m)^30 6 \* \* \* root (filter-jsonlog report .*)$", README.read_text())
        self.assertIsNotNone(m, "README.md has no cron line for the report")
        out = tree.ns(f"env -i PATH=/usr/bin:/bin {m.group(1)}", check=False)
        self.assertEqual(out.returncode, 0, out.stdout[-2000:] + out.stderr)
        self.assertIn("Grand totals", out.stdout)
        self._ok = True

    def test_6_remove_purge(self) -> None:
        """remove keeps conffiles and the log; purge leaves nothing."""
        tree = Package.tree
        assert tree is not None
        tree.stop_namespace()
        tree.sh("apt-get remove -y -q filter-jsonlog >/dev/null")
        self.assertFalse((tree.root / "usr/libexec/opensmtpd/filter-jsonlog").exists())
        self.assertFalse(os.path.lexists(tree.root / "usr/bin/filter-jsonlog"))
        self.assertTrue((tree.root / "etc/rsyslog.d/30-filter-jsonlog.conf").exists(), "remove keeps conffiles")
        self.assertTrue((tree.root / LOG.lstrip("/")).exists(), "remove keeps the log")
        tree.sh("apt-get purge -y -q filter-jsonlog >/dev/null")
        self.assertEqual(tree.sh("dpkg-query -W filter-jsonlog", check=False).returncode, 1,
                         "dpkg still knows the package after purge")
        after = tree.files()
        before = Package.facts["before"]
        owned = tree.owned()
        ours = set(Package.facts["package_files"])
        new = sorted(set(after) - set(before))
        # Left behind: paths that were not there before, that no installed
        # package owns, and that are the package's or carry its name.
        left = [p for p in new if p not in owned and (p in ours or "filter-jsonlog" in p)]
        self.assertEqual(left, [], "purge left these behind")
        named = [p for p in after if "filter-jsonlog" in p and p not in before]
        self.assertEqual(named, [], "paths with the package's name after purge")
        # What else is new is the other packages' (installed with it) and
        # what their daemons wrote: listed for the record.
        others = [p for p in new if p not in owned]
        log(f"purge: {len(new)} paths new since before the install, {len(new) - len(others)} owned by "
            f"opensmtpd, rsyslog and their dependencies, {len(others)} written by them at run time "
            f"({', '.join(others[:12])}{' …' if len(others) > 12 else ''})")
        self._ok = True


def main() -> int:
    t0 = time.monotonic()
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(Package)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    failed = len(result.failures) + len(result.errors)
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped
    f = Package.facts
    if failed == 0 and skipped == 0:
        print(f"package: fresh Debian 12, apt-get install ./{Package.deb.name if Package.deb else '?'}, "
              f"first document after {f['first_s']:.1f} s, rotated, purged clean")
        print(f"package: {f['deb_bytes']:,} bytes (binary {f['binary_bytes']:,}); cargo deb {f['build_s']:.0f} s, "
              f"debootstrap {f['debootstrap_s']:.0f} s (0: cached), unpack {f['unpack_s']:.0f} s, "
              f"apt-get install {f['install_s']:.0f} s; whole test {time.monotonic() - t0:.0f} s")
    print(f"package: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
