//! The README's "Delivery" promises for syslog: a slow, stalled or
//! unaccepting daemon, stream sockets, datagram size.

use crate::harness::*;
use rustix::net::{
    bind, connect, listen, socket_with, AddressFamily, SocketAddrUnix, SocketFlags, SocketType,
};
use std::io::Read;
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The document after the syslog header.
fn message(datagram: &[u8]) -> &[u8] {
    let at = datagram
        .windows(3)
        .position(|w| w == b"]: ")
        .expect("<PRI>Mmm dd hh:mm:ss filter-jsonlog[PID]: document");
    &datagram[at + 3..]
}

/// "Documents still undelivered 2 s after the end of input are dropped":
/// a syslogd alive but slow (one datagram every 0.3 s) used to keep the
/// filter for as long as the queue lasted.
#[test]
fn grace_bounds_the_exit_with_a_slow_syslogd() {
    let dir = temp_dir("slow");
    let path = dir.join("log.sock");
    let receiver = UnixDatagram::bind(&path).unwrap();
    receiver
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = Arc::clone(&stop);
    let slow = std::thread::spawn(move || {
        let mut got = 0u64;
        let mut buf = vec![0u8; 70_000];
        while !stopped.load(Ordering::Relaxed) {
            if receiver.recv(&mut buf).is_ok() {
                got += 1;
                std::thread::sleep(Duration::from_millis(300));
            }
        }
        let _ = receiver.set_nonblocking(true);
        while receiver.recv(&mut buf).is_ok() {
            got += 1;
        }
        got
    });
    let socket = path.display().to_string();
    let mut f = Filter::start(&["--syslog-socket", &socket, "--stats-interval", "0"]);
    f.feed_within(&sessions(0..200), Duration::from_secs(10));
    let end = f.end_input();
    let (status, took) = f.wait_exit(end, GRACE + SLACK);
    stop.store(true, Ordering::Relaxed);
    let received = slow.join().unwrap();
    let stderr = f.stderr();
    assert!(status.success(), "{stderr}");
    let s = summary(&stderr);
    assert_eq!(s["delivered"] + s["dropped"], 2000, "{stderr}");
    assert!(s["shutdown"] > 0);
    assert_eq!(received, s["delivered"], "delivered means in the socket");
    eprintln!(
        "slow syslogd: exit {took:?} after end of input, delivered {} dropped {}",
        s["delivered"], s["dropped"]
    );
}

/// A unix-stream socket whose backlog is full, filled before the filter
/// starts. Returns the listener and the connections that fill it.
fn full_stream_socket(path: &std::path::Path) -> Vec<std::os::fd::OwnedFd> {
    let listener = socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .unwrap();
    bind(&listener, &SocketAddrUnix::new(path).unwrap()).unwrap();
    listen(&listener, 0).unwrap();
    let mut held = vec![listener];
    for _ in 0..16 {
        let client = socket_with(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
            None,
        )
        .unwrap();
        let full = connect(&client, &SocketAddrUnix::new(path).unwrap()).is_err();
        held.push(client);
        if full {
            return held;
        }
    }
    panic!("the backlog did not fill");
}

/// "The reading loop never waits on the output": a syslog-ng
/// `unix-stream` socket whose daemon stopped accepting (connect(2) used to
/// block for ever, before the handshake even).
#[test]
fn reading_never_waits_on_a_stream_syslogd_that_stopped_accepting() {
    let dir = temp_dir("unaccepting");
    let path = dir.join("stream.sock");
    let _held = full_stream_socket(&path);
    let socket = path.display().to_string();
    let mut f = Filter::start(&["--syslog-socket", &socket, "--stats-interval", "0"]);
    f.feed_within(&sessions(0..20), Duration::from_secs(10));
    let end = f.end_input();
    let (status, took) = f.wait_exit(end, GRACE + SLACK);
    let stderr = f.stderr();
    assert!(status.success(), "{stderr}");
    let s = summary(&stderr);
    assert_eq!(s["dropped"], 200, "{stderr}");
    assert!(!stderr.contains("sink_recovered"), "{stderr}");
    eprintln!(
        "stream syslogd not accepting: exit {took:?} after end of input, delivered {} dropped {}",
        s["delivered"], s["dropped"]
    );
}

/// "Every line written is one complete JSON document", on a stream
/// socket: a daemon that stalls while large messages wait gets each of
/// them whole and once.
#[test]
fn stream_syslog_messages_arrive_whole_and_once() {
    let dir = temp_dir("stream");
    let path = dir.join("stream.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let daemon = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        std::thread::sleep(Duration::from_millis(1500)); // stalled
        let mut all = Vec::new();
        conn.read_to_end(&mut all).unwrap();
        all
    });
    let socket = path.display().to_string();
    let mut f = Filter::start(&[
        "--syslog-socket",
        &socket,
        "--stats-interval",
        "0",
        "--max-line-bytes",
        "200000",
        "--events",
        "tx-rcpt",
    ]);
    f.feed_within(&big_transaction(300), Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(500));
    let end = f.end_input();
    let (status, took) = f.wait_exit(end, GRACE + SLACK);
    let stderr = f.stderr();
    assert!(status.success(), "{stderr}");
    let all = daemon.join().unwrap();
    let mut seen = std::collections::BTreeSet::new();
    let mut metrics = 0;
    for frame in all.split(|&b| b == 0).filter(|m| !m.is_empty()) {
        let doc = documents(message(frame));
        // A drop is reported in a documents-dropped document of its own.
        if get(&doc[0], "event.kind") == "metric" {
            metrics += 1;
            continue;
        }
        let seq = get(&doc[0], "event.sequence").as_u64().unwrap();
        assert!(seen.insert(seq), "message {seq} came twice");
    }
    let s = summary(&stderr);
    assert_eq!(seen.len() as u64 + metrics, s["delivered"], "{stderr}");
    assert_eq!(s["session"], 300);
    assert_eq!(s["delivered"] + s["dropped"], s["documents"]);
    eprintln!(
        "stream syslogd stalled 1.5 s: exit {took:?} after end of input, {} bytes, delivered {} dropped {}",
        all.len(),
        s["delivered"],
        s["dropped"]
    );
}

/// "One datagram per document" up to `--max-line-bytes`: the send buffer
/// is raised to fit (a BSD socket takes at most its send buffer per
/// datagram; Linux's default, 212992 bytes, is smaller than this document).
#[test]
fn syslog_datagrams_fit_max_line_bytes() {
    let dir = temp_dir("large-datagram");
    let path = dir.join("log.sock");
    let receiver = UnixDatagram::bind(&path).unwrap();
    receiver
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let daemon = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = vec![0u8; 1 << 20];
        while let Ok(len) = receiver.recv(&mut buf) {
            got.push(buf[..len].to_vec());
        }
        got
    });
    let socket = path.display().to_string();
    let mut f = Filter::start(&[
        "--syslog-socket",
        &socket,
        "--stats-interval",
        "0",
        "--max-line-bytes",
        "300000",
        "--events",
        "tx-commit",
    ]);
    f.feed(&big_transaction(400));
    let end = f.end_input();
    let (status, took) = f.wait_exit(end, GRACE + SLACK);
    let stderr = f.stderr();
    assert!(status.success(), "{stderr}");
    let got = daemon.join().unwrap();
    assert_eq!(got.len(), 1, "{stderr}");
    let doc = message(&got[0]);
    assert!(
        doc.len() > 212_992,
        "the test needs a document over Linux's default: {}",
        doc.len()
    );
    let parsed = documents(doc);
    assert_eq!(
        get(&parsed[0], "opensmtpd.truncated"),
        &serde_json::Value::Null
    );
    assert_eq!(get(&parsed[0], "opensmtpd.transaction.rcpt_accepted"), 400);
    let s = summary(&stderr);
    assert_eq!(s["delivered"], 1);
    eprintln!(
        "{}-byte datagram: exit {took:?} after end of input, delivered 1",
        doc.len()
    );
}

/// The send buffer cannot always be raised (the kernel caps it: Linux at
/// twice net.core.wmem_max, here asked for far beyond it): stderr says so,
/// once, and documents that fit still go out.
#[test]
fn a_send_buffer_the_kernel_refuses_is_warned_about_once() {
    let dir = temp_dir("refused-buffer");
    let path = dir.join("log.sock");
    let receiver = UnixDatagram::bind(&path).unwrap();
    receiver
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let daemon = std::thread::spawn(move || {
        let mut got = 0u64;
        let mut buf = vec![0u8; 70_000];
        while receiver.recv(&mut buf).is_ok() {
            got += 1;
        }
        got
    });
    let socket = path.display().to_string();
    let mut f = Filter::start(&[
        "--syslog-socket",
        &socket,
        "--stats-interval",
        "0",
        "--max-line-bytes",
        "1000000000",
    ]);
    f.feed(&sessions(0..5));
    let end = f.end_input();
    let (status, _) = f.wait_exit(end, GRACE + SLACK);
    let stderr = f.stderr();
    assert!(status.success(), "{stderr}");
    assert_eq!(stderr.matches("syslog_send_buffer:").count(), 1, "{stderr}");
    assert_eq!(daemon.join().unwrap(), 50);
}

/// "No input ends the process", the command line included: the largest
/// `--max-line-bytes` there is (the syslog sink used to add its header's
/// length to it, an overflow: a panic in a build with overflow checks,
/// a 63-byte "longest message" in one without).
#[test]
fn the_largest_max_line_bytes_is_taken() {
    let dir = temp_dir("max-usize");
    let path = dir.join("log.sock");
    let receiver = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    receiver
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    let daemon = std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        let mut received = 0;
        while let Ok(n) = receiver.recv(&mut buf) {
            documents(message(&buf[..n]));
            received += 1;
        }
        received
    });
    let socket = path.display().to_string();
    let max = usize::MAX.to_string();
    let mut f = Filter::start(&[
        "--syslog-socket",
        &socket,
        "--max-line-bytes",
        &max,
        "--stats-interval",
        "0",
    ]);
    f.feed(&sessions(0..5));
    let end = f.end_input();
    let (status, took) = f.wait_exit(end, GRACE + SLACK);
    let stderr = f.stderr();
    assert!(status.success(), "{status}: {stderr}");
    let received = daemon.join().unwrap();
    let s = summary(&stderr);
    assert_eq!(received, 50, "{stderr}");
    assert_eq!(s["delivered"], 50);
    eprintln!("--max-line-bytes {max}: exit {took:?} after end of input, 50 delivered");
}
