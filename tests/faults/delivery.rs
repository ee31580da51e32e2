//! The README's "Delivery" promises for the file sink and for replays.

use crate::harness::*;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// "The reading loop never waits on the output", and the grace bounds the
/// exit: a FIFO whose reader went away (reopening it used to block in
/// open(2) for ever).
#[test]
fn reading_never_waits_on_a_fifo_whose_reader_left() {
    let dir = temp_dir("fifo-left");
    let fifo = dir.join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let path = fifo.clone();
    let reader = std::thread::spawn(move || {
        let mut file = std::fs::File::open(path).unwrap();
        let mut buf = vec![0u8; 8192];
        // One read, then the reader goes away.
        file.read(&mut buf).unwrap()
    });
    let target = format!("file:{}", fifo.display());
    let mut f = Filter::start(&["--output", &target, "--stats-interval", "0"]);
    f.feed(&sessions(0..20));
    let read = reader.join().unwrap();
    assert!(read > 0);
    f.feed_within(&sessions(20..300), Duration::from_secs(10));
    let end = f.end_input();
    let (status, took) = f.wait_exit(end, GRACE + SLACK);
    let stderr = f.stderr();
    assert!(status.success(), "{stderr}");
    let s = summary(&stderr);
    assert_eq!(s["documents"], 3000);
    assert_eq!(s["delivered"] + s["dropped"], 3000, "{stderr}");
    assert!(s["dropped"] > 0);
    eprintln!(
        "FIFO reader left: exit {took:?} after end of input, delivered {} dropped {}",
        s["delivered"], s["dropped"]
    );
}

/// "Rotation is noticed": a file deleted (not renamed) is noticed before
/// the next write, so documents are not counted as delivered into it.
#[test]
fn file_deleted_is_noticed_before_the_next_write() {
    let dir = temp_dir("deleted");
    let out = dir.join("out.jsonl");
    let target = format!("file:{}", out.display());
    let mut f = Filter::start(&["--output", &target, "--stats-interval", "0"]);
    f.feed(&sessions(0..10));
    let started = Instant::now();
    // Complete lines only: a write may be half way while we read.
    let lines = |path: &std::path::Path| {
        let bytes = std::fs::read(path).unwrap_or_default();
        bytes.iter().filter(|&&b| b == b'\n').count()
    };
    while lines(&out) < 100 {
        assert!(started.elapsed() < Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(5));
    }
    std::fs::remove_file(&out).unwrap();
    f.feed(&sessions(10..20));
    std::thread::sleep(Duration::from_millis(100));
    let end = f.end_input();
    let (status, took) = f.wait_exit(end, GRACE + SLACK);
    assert!(status.success());
    let docs = file_documents(&out);
    let keys = event_keys(&docs);
    assert_eq!(
        keys.len(),
        100,
        "every document after the deletion is in the new file"
    );
    let s = summary(&f.stderr());
    assert_eq!(s["delivered"], 200);
    eprintln!(
        "file deleted: exit {took:?} after end of input, delivered {} dropped {}",
        s["delivered"], s["dropped"]
    );
}

/// "A replay waits instead" of dropping, but not for ever: an output that
/// keeps failing ends the replay with an error status.
#[test]
fn replay_into_a_failing_output_ends_with_an_error() {
    let stream = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/captured/debian-6.8.0p2-burst.txt"
    );
    let dir = temp_dir("replay-fails");
    let socket = dir.join("unread.sock");
    // A syslogd that never reads: its queue is full at once.
    let _receiver = std::os::unix::net::UnixDatagram::bind(&socket).unwrap();
    let syslog = socket.display().to_string();
    for (name, args) in [
        ("file:/dev/full", vec!["--output", "file:/dev/full"]),
        (
            "unread syslog socket",
            vec![
                "--output",
                "syslog",
                "--syslog-socket",
                &syslog,
                "--buffer-bytes",
                "100000",
            ],
        ),
    ] {
        let mut cmd = Command::new(bin());
        cmd.arg("replay").args(&args).arg(stream);
        let mut f = Filter::spawn_command(cmd, Stdio::null());
        let started = Instant::now();
        // The replay grace is 5 s; a sink that is down has that long once
        // reading waits, and once more at most after the end of input.
        let (status, took) = f.wait_exit(started, Duration::from_secs(15));
        let stderr = f.stderr();
        assert_eq!(status.code(), Some(1), "{name}: {stderr}");
        let s = summary(&stderr);
        assert!(s["dropped"] > 0);
        eprintln!(
            "replay into {name}: exit 1 after {took:?}, delivered {} dropped {}",
            s["delivered"], s["dropped"]
        );
    }
}

/// "Every line written is one complete JSON document", in a FIFO whose
/// reader stalls for longer than a write may wait: the line begun when
/// the pipe filled is finished before anything else goes in (it used to
/// be given up on, and the next document was glued to its half).
#[test]
fn a_fifo_reader_that_stalls_mid_line_still_reads_whole_documents() {
    let dir = temp_dir("fifo-stall");
    let fifo = dir.join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let path = fifo.clone();
    let reader = std::thread::spawn(move || {
        let mut file = std::fs::File::open(path).unwrap();
        // Stalled with the pipe full, past the writer's 1 s per write.
        std::thread::sleep(Duration::from_millis(2500));
        let mut all = Vec::new();
        file.read_to_end(&mut all).unwrap();
        all
    });
    let target = format!("file:{}", fifo.display());
    let mut f = Filter::start(&["--output", &target, "--stats-interval", "0"]);
    for i in 0..10 {
        f.feed_within(&sessions(i * 30..(i + 1) * 30), Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(100));
    }
    // The last sessions once the reader is back and the first 3,000 went
    // out (a fixed sleep raced the writer's backoff on a slow machine).
    let started = Instant::now();
    while !f.stderr().contains("sink_recovered") && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
    f.feed_within(&sessions(300..330), Duration::from_secs(5));
    let end = f.end_input();
    let (status, took) = f.wait_exit(end, GRACE + SLACK);
    let stderr = f.stderr();
    assert!(status.success(), "{stderr}");
    let all = reader.join().unwrap();
    assert!(all.ends_with(b"\n"), "the FIFO ends in half a line");
    let docs = documents(&all);
    let keys = event_keys(&docs);
    let s = summary(&stderr);
    assert_eq!(s["delivered"], docs.len() as u64, "{stderr}");
    assert_eq!(s["documents"], s["delivered"] + s["dropped"]);
    assert_eq!(keys.len(), 3300, "{stderr}");
    eprintln!(
        "FIFO reader stalled 2.5 s: exit {took:?} after end of input, delivered {} dropped {}",
        s["delivered"], s["dropped"]
    );
}

/// "Rotation is noticed without a signal": also when what replaces the
/// file is not a regular file (here a FIFO, read by a collector). It used
/// to be taken for /dev/null and the documents went on into the old file.
#[test]
fn rotation_to_a_fifo_is_noticed() {
    let dir = temp_dir("rotate-fifo");
    let out = dir.join("out.jsonl");
    let target = format!("file:{}", out.display());
    let mut f = Filter::start(&["--output", &target, "--stats-interval", "0"]);
    f.feed(&sessions(0..10));
    // All 100 in the old file before it is renamed (a fixed sleep raced
    // the writer).
    await_lines(&out, 100, Duration::from_secs(10));
    std::fs::rename(&out, dir.join("out.jsonl.1")).unwrap();
    assert!(Command::new("mkfifo").arg(&out).status().unwrap().success());
    let path = out.clone();
    let (opened, is_open) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut file = std::fs::File::open(path).unwrap();
        // The open returns once the filter opened the FIFO's write end:
        // the rotation is noticed.
        let _ = opened.send(());
        file.read_to_end(&mut all).unwrap();
        all
    });
    // The next documents only once the filter writes to the FIFO.
    is_open
        .recv_timeout(Duration::from_secs(10))
        .expect("the rotation to a FIFO was not noticed");
    f.feed(&sessions(10..20));
    std::thread::sleep(Duration::from_millis(600));
    let end = f.end_input();
    let (status, took) = f.wait_exit(end, GRACE + SLACK);
    let stderr = f.stderr();
    assert!(status.success(), "{stderr}");
    let old = file_documents(&dir.join("out.jsonl.1"));
    assert_eq!(old.len(), 100, "{stderr}");
    // Ends once the filter exits (its write end closed); a writer of our
    // own, opened and closed, ends a reader the filter never came to.
    drop(
        std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc_nonblock())
            .open(&out),
    );
    let all = reader.join().unwrap();
    assert_eq!(documents(&all).len(), 100, "{stderr}");
    let s = summary(&stderr);
    eprintln!(
        "rotated to a FIFO: exit {took:?} after end of input, delivered {} dropped {}",
        s["delivered"], s["dropped"]
    );
}

/// O_NONBLOCK, without a libc dependency for one constant.
fn libc_nonblock() -> i32 {
    rustix::fs::OFlags::NONBLOCK.bits() as i32
}
