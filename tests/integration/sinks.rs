//! The sinks through the binary in filter mode (stdin piped, the handshake
//! first): `--output file:PATH` under rotation by rename, by truncation and
//! with SIGHUP; the size policy on a 1,000-recipient transaction and a 1 MB
//! line; and a syslog socket that is missing or never read, which must not
//! keep the filter from reading its input or from exiting.

use crate::util::filter::{event_keys, sessions, summary, Filter};
use crate::util::{documents, get, temp_dir, HANDSHAKE};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::ExitStatus;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The longest the file sink may take to notice a rotation.
const ROTATION_NOTICED: Duration = Duration::from_secs(1);

/// The (session id, sequence) of every session document a batch makes.
fn keys_of(range: std::ops::Range<u64>) -> BTreeSet<(String, u64)> {
    range
        .flat_map(|n| {
            (1..=10).map(move |seq| (format!("{:016x}", 0x5e55_0000_0000_0000_u64 + n), seq))
        })
        .collect()
}

/// The complete lines of a file now (a line being written is left out).
fn complete_lines(path: &Path) -> Vec<String> {
    let text = std::fs::read(path).unwrap_or_default();
    let end = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    String::from_utf8_lossy(text.get(..end).unwrap_or_default())
        .lines()
        .map(str::to_string)
        .collect()
}

/// Waits until `done` holds; returns how long that took.
fn wait_for(timeout: Duration, mut done: impl FnMut() -> bool) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < timeout {
        if done() {
            return Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    done().then(|| started.elapsed())
}

/// Every line of the file as a JSON document (panics on any other line).
fn file_documents(path: &Path) -> Vec<Value> {
    documents(&std::fs::read(path).unwrap_or_default())
}

fn target(path: &Path) -> String {
    format!("file:{}", path.display())
}

#[test]
fn file_renamed_away_is_noticed_without_a_signal() {
    let dir = temp_dir("rename");
    let path = dir.join("out.json");
    let old = dir.join("out.json.0");
    let target = target(&path);
    let mut f = Filter::start(&["--output", &target]);

    f.feed(&sessions(0..100));
    wait_for(Duration::from_secs(10), || {
        complete_lines(&path).len() >= 1000
    })
    .expect("the first documents were not written");

    // newsyslog / logrotate `create`: the file is renamed away; no signal.
    std::fs::rename(&path, &old).unwrap();
    let renamed = Instant::now();
    // Documents made right now may still go to the old file (the rename is
    // not noticed yet): they must be in one of the two, once.
    f.feed(&sessions(100..200));
    wait_for(ROTATION_NOTICED, || path.exists()).unwrap_or_else(|| {
        panic!(
            "no new {} within {ROTATION_NOTICED:?} of the rename",
            path.display()
        )
    });
    let noticed = renamed.elapsed();

    f.feed(&sessions(200..300));
    let want = keys_of(200..300);
    let late = wait_for(ROTATION_NOTICED, || {
        let lines = complete_lines(&path).join("\n");
        event_keys(&documents(lines.as_bytes())).is_superset(&want)
    });
    assert!(
        late.is_some(),
        "documents made after the rotation are not in the new file within {ROTATION_NOTICED:?}"
    );

    let (status, stderr) = f.finish();
    assert!(status.success(), "{stderr}");
    let in_old = event_keys(&file_documents(&old));
    let in_new = event_keys(&file_documents(&path));
    assert!(
        in_old.is_superset(&keys_of(0..100)),
        "documents from before the rename belong in the renamed file"
    );
    assert!(in_new.is_superset(&keys_of(200..300)));
    assert!(in_old.is_disjoint(&in_new), "a document in both files");
    let all: BTreeSet<_> = in_old.union(&in_new).cloned().collect();
    assert_eq!(all, keys_of(0..300), "documents lost or unexpected");
    eprintln!(
        "rename noticed after {noticed:?}; {} documents in the old file, {} in the new",
        in_old.len(),
        in_new.len()
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn file_truncated_in_place_is_written_from_its_start() {
    let dir = temp_dir("truncate");
    let path = dir.join("out.json");
    let target = target(&path);
    let mut f = Filter::start(&["--output", &target]);

    f.feed(&sessions(0..100));
    wait_for(Duration::from_secs(10), || {
        complete_lines(&path).len() >= 1000
    })
    .expect("the first documents were not written");

    // logrotate `copytruncate`: copied, then cut to zero in place.
    std::fs::copy(&path, dir.join("out.json.1")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();

    f.feed(&sessions(100..200));
    let want = keys_of(100..200);
    wait_for(ROTATION_NOTICED, || {
        let lines = complete_lines(&path).join("\n");
        event_keys(&documents(lines.as_bytes())).is_superset(&want)
    })
    .expect("documents after the truncation did not come within 1 s");
    std::thread::sleep(Duration::from_millis(600)); // the truncation is noticed by now
    f.feed(&sessions(200..300));

    let (status, stderr) = f.finish();
    assert!(status.success(), "{stderr}");
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(
        bytes.first(),
        Some(&b'{'),
        "the file must start with a document, not a hole"
    );
    assert!(
        !bytes.contains(&0),
        "NUL bytes: a write at the old offset left a hole"
    );
    let docs = file_documents(&path);
    assert_eq!(
        event_keys(&docs),
        keys_of(100..300),
        "after the truncation: exactly the later documents"
    );
    let first = &docs[0];
    assert_eq!(
        get(first, "opensmtpd.session.id"),
        &format!("{:016x}", 0x5e55_0000_0000_0000_u64 + 100)
    );
    assert_eq!(get(first, "event.sequence"), 1);
    assert!(
        summary(&stderr)["reopened"] >= 1,
        "truncation not noticed: {stderr}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn sighup_reopens_the_file() {
    let dir = temp_dir("sighup");
    let path = dir.join("out.json");
    let old = dir.join("out.json.0");
    let target = target(&path);
    let mut f = Filter::start(&["--output", &target]);

    f.feed(&sessions(0..50));
    wait_for(Duration::from_secs(10), || {
        complete_lines(&path).len() >= 500
    })
    .expect("the first documents were not written");

    // SIGHUP alone: the same file is reopened, nothing is lost.
    f.signal("HUP");
    f.feed(&sessions(50..100));
    wait_for(Duration::from_secs(10), || {
        complete_lines(&path).len() >= 1000
    })
    .expect("documents after a SIGHUP were not written");

    // Rename, then SIGHUP at once (as newsyslog does with syslogd).
    std::fs::rename(&path, &old).unwrap();
    f.signal("HUP");
    std::thread::sleep(Duration::from_millis(100)); // the signal is delivered
    f.feed(&sessions(100..150));
    let want = keys_of(100..150);
    wait_for(ROTATION_NOTICED, || {
        let lines = complete_lines(&path).join("\n");
        event_keys(&documents(lines.as_bytes())).is_superset(&want)
    })
    .expect("documents after rename + SIGHUP are not in the new file within 1 s");

    let (status, stderr) = f.finish();
    assert!(status.success(), "{stderr}");
    assert_eq!(event_keys(&file_documents(&old)), keys_of(0..100));
    assert_eq!(event_keys(&file_documents(&path)), keys_of(100..150));
    // Without the SIGHUP handler only the rename would have reopened the file.
    assert!(summary(&stderr)["reopened"] >= 2, "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}

/// A session with one transaction of `rcpts` accepted recipients, then a
/// session whose client sends a 1 MB line.
fn big_stream(rcpts: usize) -> Vec<String> {
    let (sid, msg) = ("b16b16b16b16b16b", "b16b16b1");
    let mut lines = vec![
        format!("link-connect|{sid}|big.client.test|pass|127.0.0.1:33333|127.0.0.1:25"),
        format!("link-identify|{sid}|EHLO|big.client.test"),
        format!("tx-begin|{sid}|{msg}"),
        format!("tx-mail|{sid}|{msg}|ok|bulk@client.test"),
    ];
    for i in 0..rcpts {
        lines.push(format!("tx-envelope|{sid}|{msg}|{msg}{i:08x}"));
        lines.push(format!(
            "tx-rcpt|{sid}|{msg}|ok|recipient-number-{i:04}@a-rather-long-domain.example.test"
        ));
    }
    lines.push(format!("tx-data|{sid}|{msg}|ok"));
    lines.push(format!("tx-commit|{sid}|{msg}|4242"));
    lines.push(format!("link-disconnect|{sid}"));
    let long = "b16b16b16b16b16c";
    lines.push(format!(
        "link-connect|{long}|long.client.test|pass|127.0.0.1:33334|127.0.0.1:25"
    ));
    // A command, not a bare run of base64 (which is masked as a secret).
    lines.push(format!(
        "protocol-client|{long}|NOOP {}",
        "X".repeat(1_000_000)
    ));
    lines.push(format!("link-disconnect|{long}"));
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| format!("report|0.6|1795100000.{i:06}|smtp-in|{l}"))
        .collect()
}

fn check_size_policy(max: usize, extra: &[&str]) {
    let dir = temp_dir(&format!("size-{max}"));
    let path = dir.join("out.json");
    let target = target(&path);
    let mut args = vec!["--output", target.as_str()];
    args.extend_from_slice(extra);
    let mut f = Filter::start(&args);
    let stream = big_stream(1000);
    f.feed(&stream);
    let (status, stderr) = f.finish();
    assert!(status.success(), "{stderr}");

    let bytes = std::fs::read(&path).unwrap();
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        assert!(
            line.len() <= max,
            "line {} is {} bytes, over {max}",
            i + 1,
            line.len()
        );
    }
    let docs = file_documents(&path);
    let events: Vec<&Value> = docs
        .iter()
        .filter(|d| get(d, "event.kind") == "event")
        .collect();
    assert_eq!(
        events.len(),
        stream.len(),
        "one document per report line, none split or dropped"
    );
    let rcpts: Vec<&&Value> = events
        .iter()
        .filter(|d| get(d, "event.action") == "tx-rcpt")
        .collect();
    assert_eq!(rcpts.len(), 1000);
    let last = rcpts[999];
    assert_eq!(
        get(last, "opensmtpd.transaction.rcpt_accepted"),
        1000,
        "counts stay exact"
    );
    assert_eq!(get(last, "opensmtpd.transaction.rcpt_refused"), 0);
    assert_eq!(get(last, "opensmtpd.truncated"), true);
    assert_eq!(
        get(events[0], "opensmtpd.truncated"),
        &Value::Null,
        "a small document is not marked"
    );
    let commit = events
        .iter()
        .find(|d| get(d, "event.action") == "tx-commit")
        .unwrap();
    assert_eq!(get(commit, "opensmtpd.transaction.rcpt_accepted"), 1000);
    assert_eq!(get(commit, "opensmtpd.truncated"), true);
    let long: Vec<&&Value> = events
        .iter()
        .filter(|d| get(d, "opensmtpd.session.id") == "b16b16b16b16b16c")
        .collect();
    assert_eq!(long.len(), 3);
    assert_eq!(get(long[1], "event.action"), "protocol-client");
    assert_eq!(
        get(long[1], "opensmtpd.truncated"),
        true,
        "the 1 MB line's document"
    );
    let s = summary(&stderr);
    assert_eq!(s["session"], stream.len() as u64);
    assert_eq!(s["documents"], s["session"] + s["metric"]);
    assert_eq!(s["dropped"], 0);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn big_documents_are_shortened_never_split_at_the_default_size() {
    check_size_policy(8000, &[]);
}

#[test]
fn big_documents_are_shortened_to_a_smaller_max_line_bytes() {
    check_size_policy(2000, &["--max-line-bytes", "2000"]);
}

#[test]
fn output_file_in_a_missing_directory_is_refused_at_start() {
    let dir = temp_dir("missing");
    let path = dir.join("no-such-dir").join("out.json");
    let target = target(&path);
    let out = crate::util::run(&["--output", &target], HANDSHAKE.as_bytes());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "no handshake answer when the output cannot be opened"
    );
    assert!(stderr.contains("cannot open the output"), "{stderr}");
    assert!(
        stderr.contains(&path.display().to_string()),
        "the message names the file: {stderr}"
    );
    assert!(stderr.contains("No such file or directory"), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}

/// Feeds `lines` from a thread; returns when all of stdin was taken and
/// when the process exited.
fn feed_all_and_time(f: &mut Filter, lines: Vec<String>) -> (Duration, JoinHandle<()>) {
    let mut stdin = f.take_stdin();
    let started = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    let writer = std::thread::spawn(move || {
        let mut text = lines.join("\n");
        text.push('\n');
        stdin.write_all(text.as_bytes()).unwrap();
        drop(stdin); // end of input
        let _ = tx.send(started.elapsed());
    });
    let took = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the filter did not read all of its input within 20 s");
    (took, writer)
}

/// Waits for the exit of a filter whose stdin is already closed.
fn wait_exit(mut f: Filter, limit: Duration) -> (ExitStatus, String, Duration) {
    let (status, took) = f.wait_exit(Instant::now(), limit);
    (status, f.stderr(), took)
}

#[test]
fn syslog_down_never_blocks_reading_and_every_document_is_counted() {
    let dir = temp_dir("syslog-down");
    let socket = dir.join("nothing-listens.sock");
    let socket_arg = socket.display().to_string();
    // --stats-interval 0: no self-metrics document, so that documents (the
    // session documents) = delivered + dropped exactly.
    let mut f = Filter::start(&[
        "--syslog-socket",
        &socket_arg,
        "--buffer-bytes",
        "100000",
        "--stats-interval",
        "0",
    ]);
    let lines = sessions(0..2000);
    let n = lines.len() as u64;
    let (read_in, writer) = feed_all_and_time(&mut f, lines);
    let (status, stderr, exit_after) = wait_exit(f, Duration::from_secs(20));
    writer.join().unwrap();
    assert!(status.success(), "{stderr}");
    let s = summary(&stderr);
    assert_eq!(s["documents"], n);
    assert_eq!(s["delivered"], 0);
    assert_eq!(s["dropped"], n, "every document accounted for: {stderr}");
    assert_eq!(s["buffer_full"] + s["shutdown"], s["dropped"]);
    assert!(s["buffer_full"] > 0, "{stderr}");
    assert!(stderr.contains("sink_unavailable"), "{stderr}");
    assert!(
        !stderr.contains("documents_dropped"),
        "no drop report while the sink was never up: {stderr}"
    );
    assert!(
        stderr.contains("dropping: ") && stderr.contains("documents dropped so far"),
        "drops are told while they happen: {stderr}"
    );
    eprintln!("syslog down: {n} lines read in {read_in:?}, exit {exit_after:?} after EOF");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn syslog_that_stops_reading_does_not_hang_the_filter() {
    let dir = temp_dir("syslog-hung");
    let socket = dir.join("hung.sock");
    // A "syslogd" that never reads: its socket queue fills, sends then wait.
    let receiver = UnixDatagram::bind(&socket).unwrap();
    let socket_arg = socket.display().to_string();
    let mut f = Filter::start(&[
        "--syslog-socket",
        &socket_arg,
        "--buffer-bytes",
        "100000",
        "--stats-interval",
        "0",
    ]);
    let lines = sessions(0..2000);
    let n = lines.len() as u64;
    let (read_in, writer) = feed_all_and_time(&mut f, lines);
    let (status, stderr, exit_after) = wait_exit(f, Duration::from_secs(20));
    writer.join().unwrap();
    assert!(status.success(), "{stderr}");
    let s = summary(&stderr);
    // A drop report (a metric document) may go out while the first
    // datagrams still fit in the socket's queue.
    assert_eq!(s["session"], n);
    assert_eq!(
        s["delivered"] + s["dropped"],
        s["documents"],
        "every document accounted for: {stderr}"
    );
    assert!(stderr.contains("sink_unavailable"), "{stderr}");

    // What the filter counts as delivered is exactly what sits in the queue.
    receiver.set_nonblocking(true).unwrap();
    let mut buf = vec![0u8; 70_000];
    let mut queued = 0;
    while let Ok(len) = receiver.recv(&mut buf) {
        let datagram = String::from_utf8(buf[..len].to_vec()).unwrap();
        let (_, doc) = datagram
            .split_once("]: ")
            .expect("<PRI>... filter-jsonlog[PID]: document");
        documents(doc.as_bytes());
        queued += 1;
    }
    assert_eq!(queued, s["delivered"]);
    eprintln!("syslog hung: {n} lines read in {read_in:?}, exit {exit_after:?} after EOF, {queued} delivered");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn syslog_datagrams_carry_whole_documents() {
    let dir = temp_dir("syslog-up");
    let socket = dir.join("log.sock");
    let receiver = UnixDatagram::bind(&socket).unwrap();
    receiver
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = vec![0u8; 300_000];
        while let Ok(len) = receiver.recv(&mut buf) {
            got.push(buf[..len].to_vec());
        }
        got
    });
    let socket_arg = socket.display().to_string();
    let mut f = Filter::start(&["--syslog-socket", &socket_arg, "--stats-interval", "0"]);
    let mut lines = sessions(0..100);
    lines.extend(big_stream(1000));
    let n = lines.len();
    f.feed(&lines);
    let (status, stderr) = f.finish();
    assert!(status.success(), "{stderr}");
    let got = reader.join().unwrap();
    assert_eq!(got.len(), n, "one datagram per document");
    let mut texts = Vec::new();
    for datagram in &got {
        let text = std::str::from_utf8(datagram).unwrap();
        // RFC 3164 as syslog(3) sends it: <PRI>Mmm dd hh:mm:ss TAG[PID]: MSG, facility mail.
        assert!(text.starts_with("<22>"), "{}", &text[..40.min(text.len())]);
        let (head, doc) = text.split_once("]: ").unwrap();
        assert!(head.contains(" filter-jsonlog["), "{head}");
        assert!(doc.len() <= 8000, "{} bytes", doc.len());
        texts.push(doc.to_string());
    }
    let docs = documents(texts.join("\n").as_bytes());
    assert_eq!(docs.len(), n);
    assert_eq!(summary(&stderr)["delivered"], n as u64);
    let _ = std::fs::remove_dir_all(dir);
}
