//! The README's "Guarantees", each under the fault that broke it.

use crate::harness::*;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// "It never takes smtpd down": a SIGHUP while the output is still being
/// opened (here a FIFO without reader, which used to block in open(2)).
#[test]
fn never_takes_smtpd_down_sighup_while_the_output_opens() {
    let dir = temp_dir("hup-at-start");
    let fifo = dir.join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let target = format!("file:{}", fifo.display());
    let mut f = Filter::spawn(
        &["--output", &target, "--stats-interval", "0"],
        Stdio::piped(),
    );
    std::thread::sleep(Duration::from_millis(300));
    f.signal("HUP");
    f.write(HANDSHAKE.as_bytes());
    f.await_registration(Duration::from_secs(5));
    f.feed(&sessions(0..10));
    let end = f.end_input();
    let (status, took) = f.wait_exit(end, GRACE + SLACK);
    let stderr = f.stderr();
    assert!(status.success(), "{status}: {stderr}");
    let s = summary(&stderr);
    assert_eq!(s["documents"], 100);
    assert_eq!(s["dropped"], 100, "no reader, nothing delivered: {stderr}");
    eprintln!("SIGHUP at start, FIFO without reader: exit {took:?} after end of input, delivered {} dropped {}", s["delivered"], s["dropped"]);
}

/// "It never takes smtpd down": stdin set non-blocking by whoever started
/// the filter; EAGAIN means "wait", not "end of input".
#[test]
fn never_takes_smtpd_down_on_a_non_blocking_stdin() {
    let dir = temp_dir("nonblocking");
    let out = dir.join("out.jsonl");
    let target = format!("file:{}", out.display());
    let (mut ours, theirs) = UnixStream::pair().unwrap();
    theirs.set_nonblocking(true).unwrap();
    let mut f = Filter::spawn(
        &["--output", &target, "--stats-interval", "0"],
        Stdio::from(OwnedFd::from(theirs)),
    );
    // Input comes late: the filter must be waiting for it, not gone.
    std::thread::sleep(Duration::from_millis(300));
    ours.write_all(HANDSHAKE.as_bytes()).unwrap();
    f.await_registration(Duration::from_secs(5));
    let mut text = sessions(0..5).join("\n");
    text.push('\n');
    ours.write_all(text.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    drop(ours);
    let (status, took) = f.wait_exit(Instant::now(), GRACE + SLACK);
    let stderr = f.stderr();
    assert!(status.success(), "{status}: {stderr}");
    assert!(!stderr.contains("read_failed"), "{stderr}");
    assert_eq!(file_documents(&out).len(), 50);
    eprintln!("non-blocking stdin: exit {took:?} after end of input, 50 delivered");
}

/// "It exits 0 at end of input", and SIGTERM/SIGINT (systemd stopping
/// smtpd's cgroup) end input: unfinished sessions get their documents,
/// the final counters are written, nothing vanishes uncounted; stdout
/// still carries protocol lines only.
#[test]
fn sigterm_and_sigint_end_the_filter_as_end_of_input_does() {
    for signal in ["TERM", "INT"] {
        let dir = temp_dir(&format!("sig{signal}"));
        let out = dir.join("out.jsonl");
        let target = format!("file:{}", out.display());
        let mut f = Filter::start(&["--output", &target]);
        let mut lines = sessions(0..30);
        lines.extend(session(30).into_iter().take(5)); // left open
        f.feed(&lines);
        // Every document out before the signal: then the counts below
        // are exact, however slow the machine (a fixed sleep raced it).
        await_lines(&out, 305, Duration::from_secs(10));
        let sent = Instant::now();
        f.signal(signal);
        let (status, took) = f.wait_exit(sent, GRACE + SLACK);
        let stderr = f.stderr();
        assert_eq!(status.code(), Some(0), "SIG{signal}: {status}: {stderr}");
        let docs = file_documents(&out);
        let s = summary(&stderr);
        assert!(docs
            .iter()
            .any(|d| get(d, "event.action") == "session-unfinished"));
        let last = docs.last().unwrap();
        assert_eq!(
            get(last, "event.action"),
            "stats",
            "the final counters come last"
        );
        assert_eq!(s["delivered"], docs.len() as u64);
        assert_eq!(s["documents"], s["delivered"] + s["dropped"]);
        assert_eq!(
            s["documents"],
            305 + 1 + 1,
            "300 + 5 + session-unfinished + stats"
        );
        assert_eq!(f.stdout(), "register|report|smtp-in|*\nregister|ready\n");
        eprintln!(
            "SIG{signal}: exit {took:?} after the signal, delivered {} dropped {}",
            s["delivered"], s["dropped"]
        );
    }
}

/// "Nothing is dropped silently" on SIGTERM either: with the output down,
/// what could not be delivered within the grace is counted, and the filter
/// still exits 0 in time.
#[test]
fn sigterm_with_the_output_down_counts_what_it_could_not_deliver() {
    let dir = temp_dir("term-down");
    let socket = dir.join("nothing-listens.sock").display().to_string();
    let mut f = Filter::start(&["--syslog-socket", &socket]);
    f.feed(&sessions(0..30));
    // Nothing comes out with the output down: wait until every line is
    // read instead (a fixed sleep raced the reading loop).
    f.await_input_taken(Duration::from_secs(10));
    let sent = Instant::now();
    f.signal("TERM");
    let (status, took) = f.wait_exit(sent, GRACE + SLACK);
    let stderr = f.stderr();
    assert_eq!(status.code(), Some(0), "{status}: {stderr}");
    let s = summary(&stderr);
    assert_eq!(s["session"], 300);
    assert_eq!(s["delivered"], 0);
    assert_eq!(s["dropped"], s["documents"], "{stderr}");
    eprintln!(
        "SIGTERM, syslog down: exit {took:?} after the signal, delivered 0 dropped {}",
        s["dropped"]
    );
}

/// "Every line written is one complete JSON document" (and the filter
/// survives) when the output file hits RLIMIT_FSIZE: SIGXFSZ used to kill
/// it with half a document in the file.
#[test]
fn every_line_is_one_complete_document_under_rlimit_fsize() {
    let dir = temp_dir("fsize");
    let out = dir.join("out.jsonl");
    let target = format!("file:{}", out.display());
    let mut cmd = Command::new("sh");
    // 128 blocks of 512 bytes (dash) or 1024 bytes (bash): 64 or 128 KiB.
    cmd.args(["-c", "ulimit -f 128 && exec \"$0\" \"$@\"", &bin()])
        .args(["--output", &target, "--stats-interval", "0"]);
    let mut f = Filter::spawn_command(cmd, Stdio::piped());
    f.write(HANDSHAKE.as_bytes());
    f.await_registration(Duration::from_secs(5));
    f.feed_within(&sessions(0..300), Duration::from_secs(10));
    let end = f.end_input();
    let (status, took) = f.wait_exit(end, GRACE + SLACK);
    let stderr = f.stderr();
    assert!(
        status.success(),
        "{status} (signal {:?}): {stderr}",
        status.signal()
    );
    let docs = file_documents(&out);
    let s = summary(&stderr);
    assert!(s["dropped"] > 0, "the limit was reached: {stderr}");
    assert_eq!(s["delivered"], docs.len() as u64);
    assert_eq!(s["documents"], 3000);
    assert_eq!(s["delivered"] + s["dropped"], 3000);
    event_keys(&docs);
    eprintln!(
        "RLIMIT_FSIZE: exit {took:?} after end of input, delivered {} dropped {}",
        s["delivered"], s["dropped"]
    );
}

/// "Nothing is dropped silently": while an outage lasts, drops are told on
/// stderr with their running count, not only at exit.
#[test]
fn nothing_is_dropped_silently_drops_are_told_while_the_outage_lasts() {
    let dir = temp_dir("told");
    let socket = dir.join("nothing-listens.sock").display().to_string();
    let mut f = Filter::start(&[
        "--syslog-socket",
        &socket,
        "--buffer-bytes",
        "100000",
        "--stats-interval",
        "0",
    ]);
    f.feed_within(&sessions(0..300), Duration::from_secs(10));
    let started = Instant::now();
    while !f.stderr().contains("documents dropped so far") {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "no word of the drops while they happen: {}",
            f.stderr()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let end = f.end_input();
    let (status, took) = f.wait_exit(end, GRACE + SLACK);
    let stderr = f.stderr();
    assert!(status.success());
    let s = summary(&stderr);
    assert_eq!(s["dropped"], 3000, "{stderr}");
    eprintln!(
        "outage told: exit {took:?} after end of input, delivered {} dropped {}",
        s["delivered"], s["dropped"]
    );
}

/// "Memory is bounded": the sink down, 16,000 events trickling in one per
/// read (as under smtpd), default --buffer-bytes.
#[test]
fn memory_is_bounded_with_the_sink_down_and_input_trickling() {
    let dir = temp_dir("trickle");
    let socket = dir.join("nothing-listens.sock").display().to_string();
    let mut f = Filter::start(&["--syslog-socket", &socket, "--stats-interval", "0"]);
    let lines = sessions(0..1600);
    for line in &lines {
        f.write(format!("{line}\n").as_bytes());
        std::thread::sleep(Duration::from_micros(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    let rss = f.proc_status("VmHWM");
    let virt = f.proc_status("VmPeak");
    let end = f.end_input();
    let (status, took) = f.wait_exit(end, GRACE + SLACK);
    let stderr = f.stderr();
    assert!(status.success());
    let s = summary(&stderr);
    assert_eq!(s["documents"], 16_000);
    assert_eq!(s["dropped"], 16_000, "{stderr}");
    eprintln!(
        "trickle, sink down: peak RSS {:.1} MiB, VmPeak {:.1} MiB, exit {took:?} after end of input, delivered {} dropped {} (buffer_full {} shutdown {})",
        rss as f64 / 1048576.0,
        virt as f64 / 1048576.0,
        s["delivered"],
        s["dropped"],
        s["buffer_full"],
        s["shutdown"]
    );
    assert!(rss <= 24 << 20, "peak RSS {rss}");
    assert!(virt <= 256 << 20, "peak virtual size {virt}");
}

/// "It exits 0 at end of input or on SIGTERM/SIGINT, and only then": not
/// when smtpd stopped reading its stdout (the registration fails with
/// EPIPE; SIGPIPE must not kill it either). The reports that still come
/// are written, and stdout gets nothing else.
#[test]
fn a_closed_stdout_does_not_end_the_filter() {
    let dir = temp_dir("stdout-closed");
    let out = dir.join("out.jsonl");
    let target = format!("file:{}", out.display());
    let (theirs, ours) = UnixStream::pair().unwrap();
    drop(ours);
    let mut child = Command::new(bin())
        .args(["--output", &target, "--stats-interval", "0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::from(OwnedFd::from(theirs)))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(HANDSHAKE.as_bytes()).unwrap();
    stdin.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let early = child.try_wait().unwrap();
    if early.is_some() {
        let _ = child.wait_with_output();
        panic!("the filter ended ({early:?}) with its input still open");
    }
    let mut text = sessions(0..10).join("\n");
    text.push('\n');
    stdin.write_all(text.as_bytes()).unwrap();
    let end = Instant::now();
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    let took = end.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(took <= GRACE + SLACK, "{took:?}");
    assert_eq!(file_documents(&out).len(), 100, "{stderr}");
    eprintln!("stdout closed by smtpd: went on, 100 delivered, exit {took:?} after end of input");
}
