//! The binary in filter mode, as a child process: spawned, fed,
//! signalled, timed. Included with `#[path]` by `tests/faults` (its
//! harness) and `tests/integration` (`util.rs`); the including module
//! provides `bin`, `session`, `HANDSHAKE`, `documents` and `get`.

// Not every including binary needs every helper.
#![allow(dead_code)]

use super::{bin, documents, get, session, HANDSHAKE};
use serde_json::Value;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The shutdown grace of filter mode (README, "Delivery").
pub const GRACE: Duration = Duration::from_secs(2);

/// What exit may take beyond the grace here: process start-up and exit on
/// a loaded machine, not the sink.
pub const SLACK: Duration = Duration::from_millis(1500);

pub fn sessions(range: std::ops::Range<u64>) -> Vec<String> {
    range.flat_map(session).collect()
}

/// A session with one transaction of `rcpts` recipients with long
/// addresses, committed: with `--events tx-commit` one large document.
pub fn big_transaction(rcpts: usize) -> Vec<String> {
    let (sid, msg) = ("b16b16b16b16b16b", "b16b16b1");
    let mut lines = vec![
        format!("link-connect|{sid}|big.client.test|pass|127.0.0.1:33333|127.0.0.1:25"),
        format!("tx-begin|{sid}|{msg}"),
        format!("tx-mail|{sid}|{msg}|ok|bulk@client.test"),
    ];
    let local = "x".repeat(250);
    for i in 0..rcpts {
        lines.push(format!("tx-envelope|{sid}|{msg}|{msg}{i:08x}"));
        lines.push(format!(
            "tx-rcpt|{sid}|{msg}|ok|{local}{i:04}@a-rather-long-domain.example.test"
        ));
    }
    lines.push(format!("tx-data|{sid}|{msg}|ok"));
    lines.push(format!("tx-commit|{sid}|{msg}|4242"));
    lines.push(format!("link-disconnect|{sid}"));
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| format!("report|0.6|1795100000.{i:06}|smtp-in|{l}"))
        .collect()
}

/// The counters of the `exiting:` line on stderr.
pub fn summary(stderr: &str) -> HashMap<String, u64> {
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.contains("exiting: "))
        .unwrap_or_else(|| panic!("no exiting: line on stderr:\n{stderr}"));
    line.split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter_map(|word| word.split_once('='))
        .map(|(k, v)| (k.to_string(), v.parse().unwrap()))
        .collect()
}

/// Text a thread collects from a pipe.
fn collect(mut pipe: impl Read + Send + 'static) -> (Arc<Mutex<String>>, JoinHandle<()>) {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&text);
    let thread = std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    (text, thread)
}

/// The filter in filter mode.
pub struct Filter {
    pub child: Child,
    stdin: Option<ChildStdin>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    threads: Vec<JoinHandle<()>>,
}

impl Filter {
    /// Spawns the binary with `stdin` as its standard input.
    pub fn spawn(args: &[&str], stdin: Stdio) -> Filter {
        let mut cmd = Command::new(bin());
        cmd.args(args);
        Filter::spawn_command(cmd, stdin)
    }

    /// Spawns `cmd` (which runs the binary) with `stdin`.
    pub fn spawn_command(mut cmd: Command, stdin: Stdio) -> Filter {
        let mut child = cmd
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn filter-jsonlog");
        let (stdout, t1) = collect(child.stdout.take().unwrap());
        let (stderr, t2) = collect(child.stderr.take().unwrap());
        let stdin = child.stdin.take();
        Filter {
            child,
            stdin,
            stdout,
            stderr,
            threads: vec![t1, t2],
        }
    }

    /// Starts the binary and completes the handshake within 10 s.
    pub fn start(args: &[&str]) -> Filter {
        let mut f = Filter::spawn(args, Stdio::piped());
        f.write(HANDSHAKE.as_bytes());
        f.await_registration(Duration::from_secs(10));
        f
    }

    /// Waits for `register|ready` on stdout.
    pub fn await_registration(&mut self, limit: Duration) {
        let started = Instant::now();
        while !self.stdout().ends_with("register|ready\n") {
            if started.elapsed() > limit {
                panic!(
                    "no register|ready within {limit:?}: stdout {:?}, stderr {}",
                    self.stdout(),
                    self.stderr()
                );
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the filter ended ({status}) before registering: {}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(
            self.stdout(),
            "register|report|smtp-in|*\nregister|ready\n",
            "stdout carries protocol lines only"
        );
    }

    pub fn write(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(bytes).unwrap();
        stdin.flush().unwrap();
    }

    pub fn feed(&mut self, lines: &[String]) {
        let mut text = lines.join("\n");
        text.push('\n');
        self.write(text.as_bytes());
    }

    /// Feeds from a thread, so that a filter that stops reading cannot
    /// hang the test; panics if it did not take everything within `limit`.
    pub fn feed_within(&mut self, lines: &[String], limit: Duration) {
        let mut stdin = self.stdin.take().expect("stdin open");
        let mut text = lines.join("\n");
        text.push('\n');
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let ok = stdin.write_all(text.as_bytes()).is_ok();
            let _ = tx.send((ok, stdin));
        });
        match rx.recv_timeout(limit) {
            Ok((true, stdin)) => self.stdin = Some(stdin),
            Ok((false, _)) => panic!("stdin closed early: {}", self.stderr()),
            Err(_) => {
                let _ = self.child.kill();
                panic!(
                    "the filter did not read its input within {limit:?}: {}",
                    self.stderr()
                )
            }
        }
    }

    /// Waits until the filter has read everything written to its stdin
    /// (the pipe is empty), at most `limit`: a signal sent then finds
    /// every line read, instead of racing the reading loop.
    pub fn await_input_taken(&self, limit: Duration) {
        let stdin = self.stdin.as_ref().expect("stdin open");
        let started = Instant::now();
        while rustix::io::ioctl_fionread(stdin).unwrap() > 0 {
            assert!(
                started.elapsed() < limit,
                "the filter did not read its input within {limit:?}: {}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits until `stderr` holds `text`, at most `limit`.
    pub fn await_stderr(&self, text: &str, limit: Duration) {
        let started = Instant::now();
        while !self.stderr().contains(text) {
            assert!(
                started.elapsed() < limit,
                "no {text:?} on stderr within {limit:?}: {}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Sends a signal by name (`TERM`, `HUP`, …).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Takes stdin, to write it from a thread of the test's own.
    pub fn take_stdin(&mut self) -> ChildStdin {
        self.stdin.take().expect("stdin open")
    }

    /// End of input; waits for the exit. Returns the status and stderr.
    pub fn finish(mut self) -> (ExitStatus, String) {
        let since = self.end_input();
        let (status, _) = self.wait_exit(since, Duration::from_secs(60));
        (status, self.stderr())
    }

    /// Closes stdin: end of input. Returns when.
    pub fn end_input(&mut self) -> Instant {
        drop(self.stdin.take());
        Instant::now()
    }

    /// Waits for the exit, at most `limit` after `since`; kills the child
    /// and panics past it. Returns the status and the time since `since`.
    pub fn wait_exit(&mut self, since: Instant, limit: Duration) -> (ExitStatus, Duration) {
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let took = since.elapsed();
                for t in self.threads.drain(..) {
                    t.join().unwrap();
                }
                return (status, took);
            }
            if since.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "the filter did not exit within {limit:?}: {}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// A `/proc/PID/status` field in bytes (`VmHWM`, `VmPeak`).
    pub fn proc_status(&self, key: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status
            .lines()
            .find(|l| l.starts_with(&format!("{key}:")))
            .unwrap_or_else(|| panic!("no {key} in {status}"));
        let kb: u64 = line
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .unwrap();
        kb * 1024
    }
}

impl Drop for Filter {
    fn drop(&mut self) {
        // Only when a test failed half way: do not leave the child behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Waits until `path` holds at least `n` complete lines, at most `limit`
/// (a write may be half way while it is read: whole lines only).
pub fn await_lines(path: &Path, n: usize, limit: Duration) {
    let started = Instant::now();
    loop {
        let bytes = std::fs::read(path).unwrap_or_default();
        let lines = bytes.iter().filter(|&&b| b == b'\n').count();
        if lines >= n {
            return;
        }
        assert!(
            started.elapsed() < limit,
            "{}: {lines} lines of {n} after {limit:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The file's lines as documents; panics on anything else (half lines too).
pub fn file_documents(path: &Path) -> Vec<Value> {
    let bytes = std::fs::read(path).unwrap_or_default();
    assert!(
        bytes.is_empty() || bytes.ends_with(b"\n"),
        "the file ends in half a line"
    );
    documents(&bytes)
}

/// The session documents' (session id, sequence); panics on a duplicate.
pub fn event_keys(docs: &[Value]) -> std::collections::BTreeSet<(String, u64)> {
    let mut keys = std::collections::BTreeSet::new();
    for d in docs.iter().filter(|d| get(d, "event.kind") == "event") {
        let key = (
            get(d, "opensmtpd.session.id").as_str().unwrap().to_string(),
            get(d, "event.sequence").as_u64().unwrap(),
        );
        assert!(keys.insert(key.clone()), "document written twice: {key:?}");
    }
    keys
}
