//! Hostile input through the real binary, in replay mode and in filter mode
//! (the handshake on piped stdin and stdout, as under smtpd). For every
//! case: the process runs to the end of input and exits 0, writes one valid
//! ASCII JSON document per valid report line (plus one final document per
//! session still open at the end), marks what it should, warns on stderr
//! without flooding it, and in filter mode prints nothing on stdout but
//! the registration.
//!
//! The small cases are files in `tests/data/hostile/`; the big ones (1 MB
//! lines, 100,000 sessions) are made here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use serde_json::Value;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_filter-jsonlog");

/// Warnings are rate-limited per code; a run of these sizes may print each
/// code once or twice, plus the exit summary.
const MAX_STDERR_LINES: usize = 40;

struct Case {
    file: &'static str,
    /// Valid report lines, plus one for each session still open at the end.
    documents: usize,
    /// Fields that must be set (not false, not null) in some document.
    markers: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        file: "invalid-utf8.txt",
        documents: 22,
        markers: &["opensmtpd.invalid_utf8", "opensmtpd.unknown_event"],
    },
    Case {
        file: "nul.txt",
        documents: 10,
        markers: &[],
    },
    Case {
        file: "crlf.txt",
        documents: 7,
        markers: &[],
    },
    Case {
        file: "blank-lines.txt",
        documents: 7,
        markers: &[],
    },
    Case {
        file: "truncated.txt",
        documents: 4,
        markers: &["opensmtpd.session.end"],
    },
    Case {
        file: "unknown-events.txt",
        documents: 12,
        markers: &["opensmtpd.unknown_event"],
    },
    Case {
        file: "versions.txt",
        documents: 81,
        markers: &["opensmtpd.protocol.unknown_version"],
    },
    Case {
        file: "garbage-fields.txt",
        documents: 7,
        markers: &[],
    },
    Case {
        file: "bad-session-ids.txt",
        documents: 8,
        markers: &[],
    },
    Case {
        file: "out-of-order.txt",
        documents: 11,
        markers: &["opensmtpd.session.partial"],
    },
    Case {
        file: "tx-without-begin.txt",
        documents: 15,
        markers: &["opensmtpd.transaction.partial"],
    },
    Case {
        file: "duplicate-connect.txt",
        documents: 9,
        markers: &["opensmtpd.out_of_order"],
    },
    Case {
        file: "other-lines.txt",
        documents: 7,
        markers: &[],
    },
];

const HANDSHAKE: &[u8] = b"config|smtpd-version|7.8.0-portable\n\
config|protocol|0.7\n\
config|smtp-session-timeout|300\n\
config|subsystem|smtp-in\n\
config|subsystem|smtp-out\n\
config|admd|mx.example.org\n\
config|ready\n";

const REGISTRATION: &str =
    "register|report|smtp-in|*\nregister|report|smtp-out|*\nregister|ready\n";

fn data(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/hostile")
        .join(file)
}

/// A scratch file for the documents, unique per test, in the temp dir
/// itself: a shared scratch directory removed by one test while another
/// opens its file made the filter fail to start.
fn scratch(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "filter-jsonlog-hostile-{}-{name}.json",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&path);
    path
}

struct Outcome {
    stdout: String,
    stderr: String,
    /// The session documents (`event.kind: event`); self-metrics documents
    /// (`event.kind: metric`, written at the end in filter mode) are
    /// checked as JSON and left out.
    documents: Vec<Value>,
}

/// Every line of the output file: ASCII, a JSON object.
fn documents(path: &Path) -> Vec<Value> {
    let bytes = std::fs::read(path).unwrap_or_default();
    let mut docs = Vec::new();
    for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let text = String::from_utf8_lossy(line);
        assert!(line.is_ascii(), "not ASCII: {text}");
        let doc: Value = serde_json::from_slice(line).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert!(doc.is_object(), "{text}");
        docs.push(doc);
    }
    docs
}

/// Runs the binary with `input` on stdin; `filter` chooses filter mode
/// (the handshake first) over `replay -`.
fn run(name: &str, input: &[u8], filter: bool, extra: &[&str]) -> Outcome {
    let out = scratch(name);
    let mut cmd = Command::new(BIN);
    if !filter {
        cmd.args(["replay", "-"]);
    }
    cmd.arg("--output")
        .arg(format!("file:{}", out.display()))
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn filter-jsonlog");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let input = input.to_vec();
    // Write from a thread: the child may be writing to stdout and stderr
    // while we feed it, and the pipes are small.
    let feeder = std::thread::spawn(move || {
        if filter {
            stdin.write_all(HANDSHAKE)?;
        }
        stdin.write_all(&input)
    });
    let out_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stdout.read_to_end(&mut s);
        s
    });
    let mut err = Vec::new();
    let _ = stderr.read_to_end(&mut err);
    let status = child.wait().expect("wait");
    let stderr = String::from_utf8_lossy(&err).into_owned();
    assert!(status.success(), "{name}: {status}\n{stderr}");
    let fed = feeder.join().expect("feeder");
    assert!(
        fed.is_ok(),
        "{name}: the filter stopped reading: {fed:?}\n{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out_reader.join().expect("stdout")).into_owned();
    let documents = documents(&out)
        .into_iter()
        .filter(|d| field(d, "event.kind") != "metric")
        .collect();
    let _ = std::fs::remove_file(&out);
    Outcome {
        stdout,
        stderr,
        documents,
    }
}

fn field<'a>(doc: &'a Value, dotted: &str) -> &'a Value {
    doc.pointer(&format!("/{}", dotted.replace('.', "/")))
        .unwrap_or(&Value::Null)
}

fn is_set(v: &Value) -> bool {
    !matches!(v, Value::Null | Value::Bool(false))
}

fn check(name: &str, case: &Case, outcome: &Outcome, filter: bool) {
    let n = outcome.documents.len();
    assert_eq!(n, case.documents, "{name}: documents\n{}", outcome.stderr);
    for marker in case.markers {
        assert!(
            outcome.documents.iter().any(|d| is_set(field(d, marker))),
            "{name}: no document has {marker}"
        );
    }
    let lines = outcome.stderr.lines().count();
    assert!(
        lines <= MAX_STDERR_LINES,
        "{name}: {lines} stderr lines:\n{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("exiting:"),
        "{name}: no exit summary\n{}",
        outcome.stderr
    );
    if filter {
        assert_eq!(outcome.stdout, REGISTRATION, "{name}: stdout");
    } else {
        assert_eq!(outcome.stdout, "", "{name}: stdout");
    }
}

#[test]
fn every_hostile_file_in_replay_mode() {
    for case in CASES {
        let input = std::fs::read(data(case.file)).expect(case.file);
        let outcome = run(&format!("replay-{}", case.file), &input, false, &[]);
        check(case.file, case, &outcome, false);
    }
}

#[test]
fn every_hostile_file_in_filter_mode() {
    for case in CASES {
        let input = std::fs::read(data(case.file)).expect(case.file);
        let outcome = run(&format!("filter-{}", case.file), &input, true, &[]);
        check(case.file, case, &outcome, true);
    }
}

#[test]
fn all_hostile_files_at_once_warn_within_bounds() {
    let mut input = Vec::new();
    let mut documents = 0;
    for case in CASES {
        input.extend(std::fs::read(data(case.file)).expect(case.file));
        // truncated.txt ends without a newline and leaves a session open:
        // here the next file's first line continues that last line.
        if !input.ends_with(b"\n") {
            input.push(b'\n');
        }
        documents += case.documents;
    }
    // Ten copies: every problem many times over, the warnings still few.
    let copies = 10;
    let once = input.clone();
    for _ in 1..copies {
        input.extend_from_slice(&once);
    }
    let outcome = run("all-at-once", &input, true, &[]);
    assert_eq!(outcome.stdout, REGISTRATION);
    // Sessions left open by one copy are continued by the next (the same
    // ids), so only the count of documents per copy is fixed in sum.
    assert!(
        outcome.documents.len() >= (documents - 2) * copies,
        "{} documents",
        outcome.documents.len()
    );
    let lines = outcome.stderr.lines().count();
    assert!(
        lines <= MAX_STDERR_LINES,
        "{lines} stderr lines:\n{}",
        outcome.stderr
    );
}

#[test]
fn one_megabyte_lines() {
    let sid = "00000000000000d0";
    let head = |event: &str| format!("report|0.7|1730000000.000001|smtp-in|{event}|{sid}|");
    let mut input = Vec::new();
    input.extend(
        format!(
            "{}mail.example|pass|192.0.2.1:1|192.0.2.25:25\n",
            head("link-connect")
        )
        .bytes(),
    );
    // Longer than the input bound (1 MiB): cut, still a document, marked.
    input.extend(head("protocol-server").bytes());
    input.extend(std::iter::repeat_n(b'x', 1_500_000));
    input.push(b'\n');
    // Just under the bound: whole, but shortened by the size policy.
    // (A command: a bare run of base64 letters would be masked as a secret.)
    input.extend(head("protocol-client").bytes());
    input.extend(b"NOOP ");
    input.extend(std::iter::repeat_n(b'y', 1_000_000));
    input.push(b'\n');
    // 2 MB of garbage on one line: rejected, nothing else lost.
    input.extend(std::iter::repeat_n(b'|', 2_000_000));
    input.push(b'\n');
    // Non-ASCII, 1 MB of it.
    input.extend(head("protocol-server").bytes());
    for _ in 0..250_000 {
        input.extend("é\u{1F600}".bytes().take(4));
    }
    input.push(b'\n');
    input.extend(format!("report|0.7|1730000000.000002|smtp-in|link-disconnect|{sid}\n").bytes());
    for filter in [false, true] {
        let outcome = run(&format!("megabyte-{filter}"), &input, filter, &[]);
        assert_eq!(outcome.documents.len(), 5, "{}", outcome.stderr);
        assert!(
            outcome
                .documents
                .iter()
                .filter(|d| is_set(field(d, "opensmtpd.truncated")))
                .count()
                >= 3
        );
        for doc in &outcome.documents {
            assert!(doc.to_string().len() <= 8000 + 100);
        }
        assert!(outcome.stderr.lines().count() <= MAX_STDERR_LINES);
        if filter {
            assert_eq!(outcome.stdout, REGISTRATION);
        }
    }
}

fn never_disconnected(sessions: u64, step_ms: u64) -> Vec<u8> {
    let mut input = Vec::with_capacity(sessions as usize * 110);
    for i in 0..sessions {
        let t = 1_730_000_000_000 + i * step_ms;
        input.extend(
            format!(
                "report|0.7|{}.{:06}|smtp-in|link-connect|{:016x}|<unknown>|fail|198.51.100.{}:{}|192.0.2.25:25\n",
                t / 1000,
                (t % 1000) * 1000,
                0x7000_0000_0000_0000_u64 + i,
                i % 250 + 1,
                1024 + i % 60000
            )
            .bytes(),
        );
    }
    input
}

#[test]
fn hundred_thousand_sessions_never_disconnected() {
    // All within a minute and a half of stream time: no idle expiry, so the
    // session limit (50,000 by default) does the work, then end of input.
    let sessions = 100_000;
    let outcome = run(
        "hundred-thousand",
        &never_disconnected(sessions, 1),
        false,
        &[],
    );
    let docs = &outcome.documents;
    assert_eq!(docs.len() as u64, 2 * sessions, "{}", outcome.stderr);
    let count = |action: &str| {
        docs.iter()
            .filter(|d| field(d, "event.action") == action)
            .count() as u64
    };
    assert_eq!(count("link-connect"), sessions);
    assert_eq!(
        count("session-evicted") + count("session-unfinished"),
        sessions
    );
    assert_eq!(count("session-evicted"), sessions - 50_000);
    assert!(outcome.stderr.lines().count() <= MAX_STDERR_LINES);
}

#[test]
fn idle_sessions_expire_with_a_final_document() {
    // One session a minute for four hours; none ever disconnects.
    let sessions = 240;
    let outcome = run(
        "idle",
        &never_disconnected(sessions, 60_000),
        false,
        &["--idle-timeout", "3600"],
    );
    let docs = &outcome.documents;
    assert_eq!(docs.len() as u64, 2 * sessions);
    let expired: Vec<&Value> = docs
        .iter()
        .filter(|d| field(d, "event.action") == "session-expired")
        .collect();
    // Those idle for over an hour when the stream ended expired before it.
    assert!(expired.len() >= 170, "{} expired", expired.len());
    for doc in &expired {
        assert_eq!(field(doc, "opensmtpd.session.end"), "session-expired");
        let idle = field(doc, "opensmtpd.session.duration_us").as_u64();
        assert_eq!(idle, Some(0), "a connect-only session lasted no time");
    }
    // The rest ended with the input.
    let unfinished = docs
        .iter()
        .filter(|d| field(d, "event.action") == "session-unfinished")
        .count();
    assert_eq!(expired.len() + unfinished, sessions as usize);
}
