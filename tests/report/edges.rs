//! Issue 22's report edges, each through the binary: a stray old stamp,
//! odd arguments, the same file twice, bidi controls, gzip trailing bytes,
//! a reader that stops reading, signals.

use super::{bin, captured, documents, gzip, report_json, run};
use serde_json::Value;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn smtp_in_docs() -> String {
    String::from_utf8(documents(
        &captured("debian-6.8.0p2-smtp-in.txt"),
        "summaries",
    ))
    .unwrap()
}

/// The documents of the capture with their stamps moved to `day` (and
/// their session ids made its own).
fn on_day(docs: &str, day: &str, tag: &str) -> String {
    docs.replace("2026-11-25T", &format!("{day}T"))
        .replace("\"id\":\"", &format!("\"id\":\"{tag}"))
}

fn stderr_lines(out: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(str::to_string)
        .collect()
}

/// One document from 1970 and a day of mail: the time axis holds the
/// periods with documents and one gap row, not 20,000 empty days.
#[test]
fn edge_report_time_axis_is_bounded_by_the_data() {
    let docs = smtp_in_docs();
    let first = docs.lines().next().unwrap();
    let mut input = on_day(first, "1970-01-01", "old");
    input.push('\n');
    input.push_str(&docs);
    input.push_str(&on_day(&docs, "2026-11-27", "b"));
    for format in ["text", "html"] {
        let out = run(&["report", "--format", format], input.as_bytes());
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        let rows = text.matches("1970-").count() + text.matches("2026-11-").count();
        assert!(rows < 40, "{format}: {rows} rows on the time axis");
        assert!(text.contains("days without documents"), "{format}");
        // The day between the two mail days is shown, with nothing.
        assert!(text.contains("2026-11-26"), "{format}");
    }
    let text = String::from_utf8(run(&["report"], input.as_bytes()).stdout).unwrap();
    assert!(
        text.lines().count() < 300,
        "{} lines of text",
        text.lines().count()
    );
}

/// `--since` takes real dates only, and refuses in one line with exit 2.
#[test]
fn edge_report_since_a_day_the_month_lacks_is_refused() {
    for bad in ["2026-02-31", "2026-04-31", "2025-02-29"] {
        let out = run(&["report", "--since", bad], b"");
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let lines = stderr_lines(&out);
        assert_eq!(lines.len(), 1, "{bad}: {lines:?}");
        assert!(lines[0].contains(bad), "{lines:?}");
    }
    let out = run(&["report", "--since", "2024-02-29"], b"");
    assert_eq!(out.status.code(), Some(0));
}

/// Per-day charts say "per day", per-hour ones "per hour".
#[test]
fn edge_report_html_per_day_charts_say_per_day() {
    let docs = smtp_in_docs();
    let mut input = docs.clone();
    input.push_str(&on_day(&docs, "2026-12-20", "late"));
    let page =
        String::from_utf8(run(&["report", "--format", "html"], input.as_bytes()).stdout).unwrap();
    assert!(page.contains("Traffic per day (UTC)"), "per-day heading");
    assert!(page.contains("Refused recipients per day"));
    assert!(!page.contains("per hour"), "a per-day chart says per hour");
    let page =
        String::from_utf8(run(&["report", "--format", "html"], docs.as_bytes()).stdout).unwrap();
    assert!(page.contains("Traffic per hour (UTC)"));
    assert!(!page.contains("per day"));
}

/// A relative time whose unit is not ASCII is a bad option, not a panic.
#[test]
fn edge_report_bad_relative_time_exits_2() {
    for bad in ["-é", "-1é", "-€", "-"] {
        let arg = format!("--since={bad}");
        let out = run(&["report", &arg], b"");
        assert_eq!(
            out.status.code(),
            Some(2),
            "{bad}: {:?}",
            stderr_lines(&out)
        );
        assert_eq!(stderr_lines(&out).len(), 1, "{bad}");
    }
}

/// `--top` is bounded (10,000: each table keeps 20 times as many keys).
#[test]
fn edge_report_top_has_an_upper_bound() {
    let out = run(&["report", "--top", "10001"], b"");
    assert_eq!(out.status.code(), Some(2));
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("10000"), "{lines:?}");
    let out = run(&["report", "--top", "10000"], b"");
    assert_eq!(out.status.code(), Some(0));
    let out = run(&["report", "--top", "0"], b"");
    assert_eq!(out.status.code(), Some(2));
}

/// The same file given twice (by two names) is read once, and the figures
/// say how far back duplicates are looked for.
#[test]
fn edge_report_same_file_twice_counts_once() {
    let dir = super::run::temp("same-file");
    std::fs::create_dir_all(&dir).unwrap();
    let docs = smtp_in_docs();
    let file = dir.join("jsonlog");
    std::fs::write(&file, &docs).unwrap();
    std::fs::hard_link(&file, dir.join("jsonlog.link")).unwrap();
    let once = report_json(docs.as_bytes(), &[]);
    let out = Command::new(bin())
        .args(["report", "--format", "json"])
        .arg(&file)
        .arg(dir.join("jsonlog.link"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sessions"], once["sessions"]);
    assert_eq!(v["messages"], once["messages"]);
    assert_eq!(v["input"]["files"], 3);
    assert_eq!(v["input"]["files_repeated"], 2);
    assert_eq!(v["input"]["duplicates_window"], 262_144);
    let text = Command::new(bin())
        .arg("report")
        .arg(&file)
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("looked for among the last 262144 documents"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A client's rDNS name with bidi controls (U+202E shows text backwards)
/// reaches neither the text mail nor the page as it is.
#[test]
fn edge_report_bidi_overrides_are_replaced() {
    let docs = smtp_in_docs();
    let doc = docs
        .lines()
        .find(|l| l.contains("\"domain\":\"") && l.contains("\"source\""))
        .expect("a document with source.domain");
    let v: Value = serde_json::from_str(doc).unwrap();
    let name = v["source"]["domain"].as_str().unwrap().to_string();
    let evil = "\u{202E}lmth.exe\u{2066}x\u{200F}";
    let input = docs.replace(
        &format!("\"domain\":\"{name}\""),
        &format!("\"domain\":\"{evil}\""),
    );
    for format in ["text", "html"] {
        let out = run(
            &["report", "--format", format, "--top", "1000"],
            input.as_bytes(),
        );
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("lmth.exe"), "{format}: the name is shown");
        for c in ['\u{202E}', '\u{2066}', '\u{200F}'] {
            assert!(!text.contains(c), "{format}: U+{:04X} passed", c as u32);
        }
    }
}

/// Bytes after the last gzip member: a warning, as gzip(1) gives, and
/// exit 0 when every document was read.
#[test]
fn edge_report_gzip_trailing_bytes_warn() {
    let dir = super::run::temp("gzip-trailing");
    std::fs::create_dir_all(&dir).unwrap();
    let docs = smtp_in_docs();
    let mut bytes = gzip(docs.as_bytes());
    bytes.extend_from_slice(b"\0\0\0\0garbage");
    let file = dir.join("jsonlog.1.gz");
    std::fs::write(&file, &bytes).unwrap();
    let out = Command::new(bin())
        .args(["report", "--format", "json"])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("warning"), "{stderr}");
    assert!(
        stderr.contains("11 bytes after the last gzip member"),
        "{stderr}"
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let whole = report_json(docs.as_bytes(), &[]);
    assert_eq!(v["sessions"], whole["sessions"]);
    assert_eq!(v["input"]["documents"], whole["input"]["documents"]);
    assert_eq!(v["input"]["warnings"].as_array().unwrap().len(), 1);
    // A second member after the first is read, not warned about.
    let mut two = gzip(docs.as_bytes());
    two.extend_from_slice(&gzip(on_day(&docs, "2026-11-26", "b").as_bytes()));
    std::fs::write(&file, &two).unwrap();
    let out = Command::new(bin())
        .args(["report", "--format", "json"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["input"]["documents"].as_u64().unwrap(),
        2 * whole["input"]["documents"].as_u64().unwrap()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `report | head -1`: the reader closed the pipe; the report ends quietly
/// with 0, as the replay does.
#[test]
fn edge_report_into_a_closed_pipe_ends_quietly() {
    let mut child = Command::new(bin())
        .args(["report", "--format", "html"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader leaves before the report writes.
    drop(child.stdout.take());
    let mut stdin = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, smtp_in_docs().as_bytes()).unwrap();
    drop(stdin);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

/// SIGTERM and SIGINT stop `report` at once, even while it waits for input.
#[test]
fn edge_report_stops_on_sigterm() {
    for signal in ["TERM", "INT"] {
        let mut child = Command::new(bin())
            .arg("report")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Waiting for input that does not come.
        std::thread::sleep(Duration::from_millis(300));
        let sent = Instant::now();
        assert!(Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap()
            .success());
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if sent.elapsed() > Duration::from_secs(3) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("report still running 3 s after SIG{signal}");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        assert!(!status.success(), "SIG{signal}: {status}");
        use std::os::unix::process::ExitStatusExt;
        let expected = if signal == "TERM" { 15 } else { 2 };
        assert_eq!(status.signal(), Some(expected), "died by the signal");
    }
}
