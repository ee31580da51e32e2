//! Issue 22's edges of the filter and `check`, each through the binary or
//! the library's public face.

use crate::util::{bin, run, session, temp, HANDSHAKE};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn mkfifo(path: &std::path::Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

/// Waits for `child` at most `limit`; kills it and fails past that.
fn wait_within(child: &mut Child, limit: Duration, what: &str) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn check(args: &[&str]) -> (i32, String) {
    let mut child = Command::new(bin())
        .args(args)
        .arg("check")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_within(&mut child, Duration::from_secs(5), "check");
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    (status.code().unwrap_or(-1), out)
}

/// A dir of its own, searchable by everybody (as /tmp's subdirectories
/// are not always), for files the filter's user must reach.
fn open_dir(name: &str) -> std::path::PathBuf {
    let dir = temp(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// SIGINT stops `check`, even while it waits in open(2) for a key file
/// that is a FIFO without a writer.
#[test]
fn edge_check_stops_on_sigint() {
    let dir = open_dir("check-sigint");
    let key = dir.join("key.fifo");
    mkfifo(&key);
    let mut child = Command::new(bin())
        .args(["--address-privacy", "hash", "--hash-key-file"])
        .arg(&key)
        .arg("check")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let status = wait_within(&mut child, Duration::from_secs(3), "check after SIGINT");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(2), "{status}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A FIFO output: `check` neither hangs on it (without a reader) nor calls
/// it a problem (the file sink writes to FIFOs).
#[test]
fn edge_check_accepts_a_fifo_output_without_hanging() {
    let dir = open_dir("check-fifo");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let fifo = dir.join("out.fifo");
    mkfifo(&fifo);
    std::fs::set_permissions(&fifo, std::fs::Permissions::from_mode(0o666)).unwrap();
    let output = format!("file:{}", fifo.display());
    let (code, out) = check(&["--output", &output]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("a FIFO without a reader yet"), "{out}");
    // With a reader, it is simply writable.
    let path = fifo.clone();
    let reader = std::thread::spawn(move || std::fs::File::open(path).unwrap());
    std::thread::sleep(Duration::from_millis(100));
    let keep = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    let _reader = reader.join().unwrap();
    let (code, out) = check(&["--output", &output]);
    drop(keep);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("a FIFO with a reader: writable"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The filter users smtpd may run a filter as that this system has.
fn filter_users() -> Vec<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    filter_jsonlog::check::filter_users(&passwd)
        .into_iter()
        .map(|u| u.name)
        .collect()
}

/// Run as root, `check` says a key file the filter's user cannot read is
/// a problem, naming that user, instead of passing it because root can.
#[test]
fn edge_check_as_root_names_the_filter_user() {
    let users = filter_users();
    if !rustix::process::geteuid().is_root() || users.is_empty() {
        eprintln!("skipped: needs root and a user opensmtpd or _smtpd");
        return;
    }
    let dir = open_dir("check-root");
    let key = dir.join("hash.key");
    std::fs::write(&key, [7u8; 32]).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let sock = dir.join("log");
    let _syslogd = UnixDatagram::bind(&sock).unwrap();
    let args = [
        "--syslog-socket",
        sock.to_str().unwrap(),
        "--address-privacy",
        "hash-local",
        "--hash-key-file",
        key.to_str().unwrap(),
    ];
    let (code, out) = check(&args);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("problem: hash key file"), "{out}");
    assert!(out.contains("not as smtpd's filter user"), "{out}");
    for user in &users {
        assert!(out.contains(user.as_str()), "{user}: {out}");
    }
    assert!(!out.contains("ok: hash key file"), "{out}");
    // Readable by the group or everybody: passes.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, out) = check(&args);
    assert_eq!(code, 0, "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A key no policy hashes with is a warning; an 8-byte key is one
/// problem, never `ok` and `problem` for the same file.
#[test]
fn edge_check_key_without_a_policy_warns_and_a_short_key_is_one_problem() {
    let dir = open_dir("check-key");
    let key = dir.join("hash.key");
    std::fs::write(&key, [7u8; 32]).unwrap();
    let sock = dir.join("log");
    let _syslogd = UnixDatagram::bind(&sock).unwrap();
    let socket = sock.to_str().unwrap();
    let (code, out) = check(&[
        "--syslog-socket",
        socket,
        "--hash-key-file",
        key.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("warning: hash key file"), "{out}");
    assert!(out.contains("not used"), "{out}");
    assert!(
        out.ends_with("check: 2 ok, 1 warning, 0 problems\n"),
        "{out}"
    );

    std::fs::write(&key, b"8 bytes!").unwrap();
    let (code, out) = check(&[
        "--syslog-socket",
        socket,
        "--address-privacy",
        "hash",
        "--hash-key-file",
        key.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(!out.contains("ok: hash key file"), "{out}");
    assert_eq!(out.matches("problem:").count(), 1, "{out}");
    assert!(out.contains("8 bytes"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A mistyped option under smtpd: one line in the mail log, with clap's
/// suggestion, not seven lines of help.
#[test]
fn edge_mistyped_option_is_one_line() {
    let out = run(&["--outptu", "file:/tmp/x.json"], HANDSHAKE.as_bytes());
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("filter-jsonlog: "), "{stderr}");
    assert!(stderr.contains("'--outptu'"), "{stderr}");
    assert!(stderr.contains("'--output'"), "the suggestion: {stderr}");
    assert!(out.stdout.is_empty());
    let out = run(&["--address-privacy", "hash-locale"], b"");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("hash-local"), "{stderr}");
    // --help is still clap's, on stdout.
    let out = run(&["--help"], b"");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("--output"));
}

/// Every privacy policy and report format clap takes names one of ours:
/// no value falls through to `keep`.
#[test]
fn edge_privacy_policies_and_format_are_enums() {
    use clap::{Parser, ValueEnum};
    use filter_jsonlog::cli::{AddressPrivacy, Args, UserPrivacy};
    use filter_jsonlog::privacy::{AddressPolicy, UserPolicy};
    let key = temp("enum.key");
    std::fs::write(&key, [1u8; 32]).unwrap();
    let key = key.to_str().unwrap();
    for value in AddressPrivacy::value_variants() {
        let name = value.to_possible_value().unwrap().get_name().to_string();
        let args = Args::parse_from([
            "filter-jsonlog",
            "--address-privacy",
            &name,
            "--hash-key-file",
            key,
        ]);
        let policy = args.config().unwrap().pipeline.privacy.addresses;
        let expected = match name.as_str() {
            "keep" => AddressPolicy::Keep,
            "hash-local" => AddressPolicy::HashLocal,
            "hash" => AddressPolicy::Hash,
            "redact-local" => AddressPolicy::RedactLocal,
            other => panic!("a policy without a name of ours: {other}"),
        };
        assert_eq!(policy, expected, "{name}");
    }
    for value in UserPrivacy::value_variants() {
        let name = value.to_possible_value().unwrap().get_name().to_string();
        let args = Args::parse_from([
            "filter-jsonlog",
            "--user-privacy",
            &name,
            "--hash-key-file",
            key,
        ]);
        let policy = args.config().unwrap().pipeline.privacy.users;
        let expected = match name.as_str() {
            "keep" => UserPolicy::Keep,
            "hash" => UserPolicy::Hash,
            "redact" => UserPolicy::Redact,
            other => panic!("a policy without a name of ours: {other}"),
        };
        assert_eq!(policy, expected, "{name}");
    }
    #[cfg(feature = "report")]
    for value in filter_jsonlog::cli::ReportFormat::value_variants() {
        use filter_jsonlog::cli::Command as Sub;
        let name = value.to_possible_value().unwrap().get_name().to_string();
        let args = Args::parse_from(["filter-jsonlog", "report", "--format", &name]);
        let Some(Sub::Report(report)) = &args.command else {
            panic!("not report");
        };
        let format = report.options().unwrap().format;
        assert_eq!(format!("{format:?}").to_lowercase(), name);
    }
    assert!(Args::try_parse_from(["filter-jsonlog", "--user-privacy", "hash-local"]).is_err());
}

/// The syslog header is what syslog(3) writes: local time (TZ), the day
/// padded with a space. `date` is the oracle, under the same TZ.
#[test]
fn edge_syslog_header_is_what_syslog_3_writes() {
    let dir = open_dir("header");
    let path = dir.join("log.sock");
    let receiver = UnixDatagram::bind(&path).unwrap();
    receiver
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // A zone far from UTC, in POSIX form (no tz database needed).
    let tz = "XST-5:30";
    let mut input = HANDSHAKE.to_string();
    for line in session(0).into_iter().take(1) {
        input.push_str(&line);
        input.push('\n');
    }
    let date = |at: u64| {
        let out = Command::new("date")
            .env("TZ", tz)
            .args(["-d", &format!("@{at}"), "+%b %e %H:%M:%S"])
            .output()
            .unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .trim_end()
            .to_string()
    };
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    let before = now();
    let mut child = Command::new(bin())
        .env("TZ", tz)
        .args([
            "--syslog-socket",
            path.to_str().unwrap(),
            "--stats-interval",
            "0",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), input.as_bytes()).unwrap();
    let mut buf = vec![0u8; 65536];
    let n = receiver.recv(&mut buf).unwrap();
    let after = now();
    let _ = child.wait();
    let message = String::from_utf8_lossy(&buf[..n]).to_string();
    let stamp = message
        .split_once('>')
        .map(|(_, rest)| rest.get(..15).unwrap_or(rest).to_string())
        .unwrap();
    let expected: Vec<String> = (before..=after).map(date).collect();
    assert!(
        expected.contains(&stamp),
        "header {stamp:?}, date says {expected:?}: {message}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A writer thread that died (here a sink that panics) leaves queued
/// documents: they are counted as `shutdown` drops, none vanishes.
#[test]
fn edge_queued_documents_counted_when_the_writer_died() {
    use filter_jsonlog::sink::{Delivery, DeliveryOptions, Docs, Outlet, Sink, SinkError};
    use filter_jsonlog::stats::DropReason;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    struct Dies;
    impl Sink for Dies {
        fn write(&mut self, _: Docs<'_>, _: Instant) -> Result<(), SinkError> {
            panic!("the sink's bug, as a test");
        }
        fn reopen(&mut self, _: Instant) -> Result<(), SinkError> {
            Ok(())
        }
        fn name(&self) -> String {
            "dies".into()
        }
    }
    let options = DeliveryOptions {
        buffer_bytes: 1 << 20,
        shutdown_grace: Duration::from_millis(500),
        ..DeliveryOptions::default()
    };
    let mut delivery = Delivery::start(
        Box::new(Dies),
        options,
        Arc::new(AtomicBool::new(false)),
        None,
    )
    .unwrap();
    for i in 0..10 {
        delivery.push(format!("{{\"n\":{i}}}").as_bytes());
    }
    // The writer takes the batch and dies on it.
    let _ = delivery.idle();
    std::thread::sleep(Duration::from_millis(200));
    for i in 10..25 {
        delivery.push(format!("{{\"n\":{i}}}").as_bytes());
    }
    delivery.close();
    let stats = delivery.stats();
    assert_eq!(stats.delivered.load(Ordering::Relaxed), 0);
    assert_eq!(
        stats.dropped(DropReason::Shutdown),
        25,
        "every document counted"
    );
    assert_eq!(stats.dropped_total(), 25);
}
