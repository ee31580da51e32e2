//! Filter mode through pipes, the way smtpd runs it, and flag errors.

use crate::util::{data, documents, get, run};

const HANDSHAKE: &str = "config|smtpd-version|6.8.0p2\nconfig|smtp-session-timeout|300\nconfig|subsystem|smtp-in\nconfig|admd|mx\nconfig|ready\n";

fn temp(name: &str) -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("filter-jsonlog-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&dir);
    dir
}

#[test]
fn filter_mode_prints_only_the_registration() {
    let out_file = temp("filter-mode.json");
    let stream = std::fs::read(data("streams/smtp-in-0.6-debian-6.8.0p2.txt")).unwrap();
    let out = run(
        &["--output", &format!("file:{}", out_file.display())],
        &stream,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "register|report|smtp-in|*\nregister|ready\n"
    );
    let docs = documents(&std::fs::read(&out_file).unwrap());
    let reports = stream
        .split(|&b| b == b'\n')
        .filter(|l| l.starts_with(b"report|"))
        .count();
    assert_eq!(docs.len(), reports + 1);
    // At exit, one self-metrics document that accounts for everything.
    let stats = docs.last().unwrap();
    assert_eq!(get(stats, "event.kind"), "metric");
    assert_eq!(get(stats, "event.action"), "stats");
    assert_eq!(
        get(stats, "opensmtpd.jsonlog.lines_received"),
        (reports + 5) as u64
    );
    // Every document made, itself included; all before it delivered.
    assert_eq!(
        get(stats, "opensmtpd.jsonlog.documents"),
        reports as u64 + 1
    );
    assert_eq!(get(stats, "opensmtpd.jsonlog.documents_dropped"), 0);
    // Written once everything before it was delivered.
    assert_eq!(
        get(stats, "opensmtpd.jsonlog.documents_delivered"),
        reports as u64
    );
    assert_eq!(get(stats, "opensmtpd.jsonlog.sessions_open"), 0);
    let _ = std::fs::remove_file(out_file);
}

#[test]
fn smtp_out_is_registered_only_when_offered() {
    let out_file = temp("smtp-out.json");
    let target = format!("file:{}", out_file.display());
    let both = HANDSHAKE.replace("config|admd", "config|subsystem|smtp-out\nconfig|admd");
    let out = run(&["--output", &target], both.as_bytes());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "register|report|smtp-in|*\nregister|report|smtp-out|*\nregister|ready\n"
    );
    let old = run(
        &["--output", &target],
        b"config|smtpd-version|6.6.0\nconfig|ready\n",
    );
    assert_eq!(
        String::from_utf8_lossy(&old.stdout),
        "register|report|smtp-in|*\nregister|ready\n"
    );
    let _ = std::fs::remove_file(out_file);
}

#[test]
fn stdout_is_refused_in_filter_mode() {
    let out = run(&["--output", "stdout"], HANDSHAKE.as_bytes());
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "nothing on smtpd's pipe");
    assert!(String::from_utf8_lossy(&out.stderr).contains("stdout is smtpd's pipe"));
}

#[test]
fn bad_flags_are_explained() {
    for (args, needle) in [
        (
            &["--output", "kafka"][..],
            "expected syslog, file:PATH or stdout",
        ),
        (&["--facility", "nonsense"][..], "syslog facility"),
        (&["--max-line-bytes", "100"][..], "at least 1024"),
    ] {
        let out = run(args, b"");
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(out.stdout.is_empty());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(needle),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn replay_to_a_file_appends() {
    let out_file = temp("append.json");
    let target = format!("file:{}", out_file.display());
    let file = data("streams/smtp-in-0.7.txt");
    for _ in 0..2 {
        let out = run(
            &["replay", "--output", &target, file.to_str().unwrap()],
            b"",
        );
        assert!(out.status.success());
        assert!(out.stdout.is_empty());
    }
    let docs = documents(&std::fs::read(&out_file).unwrap());
    assert_eq!(docs.len() % 2, 0);
    assert_eq!(
        get(&docs[0], "event.action"),
        get(&docs[docs.len() / 2], "event.action")
    );
    let _ = std::fs::remove_file(out_file);
}

#[test]
fn end_of_input_mid_session_still_writes_a_final_document() {
    let out = run(
        &["replay"],
        b"report|0.6|5.0|smtp-in|link-connect|00000000000000aa|h|pass|192.0.2.1:1|192.0.2.2:25\n",
    );
    let docs = documents(&out.stdout);
    assert_eq!(docs.len(), 2);
    assert_eq!(get(&docs[1], "event.action"), "session-unfinished");
    assert_eq!(get(&docs[1], "opensmtpd.session.end"), "session-unfinished");
    assert_eq!(get(&docs[1], "event.sequence"), 2);
}

#[test]
fn one_wild_timestamp_does_not_expire_sessions_under_smtpd() {
    // Under smtpd, idle expiry follows the local clock, not the reports'
    // timestamps: a report stamped in the year 33658 ends nobody.
    let out_file = temp("wild-timestamp.json");
    let lines = format!(
        "{HANDSHAKE}\
report|0.6|1700000000.000000|smtp-in|link-connect|0000000000000001|h|pass|192.0.2.1:1|192.0.2.2:25\n\
report|0.6|1700000000.000001|smtp-in|link-connect|0000000000000002|h|pass|192.0.2.1:2|192.0.2.2:25\n\
report|0.6|999999999999.000000|smtp-in|link-connect|0000000000000003|h|pass|192.0.2.1:3|192.0.2.2:25\n\
report|0.6|1700000001.000000|smtp-in|protocol-client|0000000000000001|NOOP\n"
    );
    let out = run(
        &[
            "--output",
            &format!("file:{}", out_file.display()),
            "--idle-timeout",
            "60",
        ],
        lines.as_bytes(),
    );
    assert!(out.status.success());
    let docs = documents(&std::fs::read(&out_file).unwrap());
    let actions: Vec<&str> = docs
        .iter()
        .map(|d| get(d, "event.action").as_str().unwrap())
        .collect();
    assert!(!actions.contains(&"session-expired"), "{actions:?}");
    let noop = docs
        .iter()
        .find(|d| get(d, "event.action") == "protocol-client")
        .unwrap();
    assert_eq!(get(noop, "event.sequence"), 2, "session 1 went on");
    let _ = std::fs::remove_file(out_file);
}
