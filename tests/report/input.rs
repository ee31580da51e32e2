//! What the report reads besides clean documents: syslog headers, bad
//! lines, duplicates, files (plain and gzip), windows; and its three forms.

use super::{bin, captured, documents, gzip, report_json, run};
use serde_json::Value;
use std::process::Command;

fn figures(v: &Value) -> Value {
    let mut v = v.clone();
    v.as_object_mut().unwrap().remove("input");
    v
}

fn smtp_in_docs(preset: &str) -> Vec<u8> {
    documents(&captured("debian-6.8.0p2-smtp-in.txt"), preset)
}

#[test]
fn syslog_headers_are_skipped() {
    let docs = smtp_in_docs("summaries");
    let clean = report_json(&docs, &[]);
    let text = String::from_utf8(docs).unwrap();
    let mut bsd = String::new();
    let mut rfc5424 = String::new();
    for (i, line) in text.lines().enumerate() {
        // OpenBSD syslogd, and rsyslog's RFC 5424 form (with a BOM).
        bsd.push_str(&format!(
            "Dec  1 17:00:{:02} mx filter-jsonlog: {line}\n",
            i % 60
        ));
        rfc5424.push_str(&format!(
            "<22>1 2026-12-01T17:00:00.000000+00:00 mx filter-jsonlog 4242 - - \u{feff}{line}\r\n"
        ));
    }
    for (name, input) in [("rfc3164", bsd), ("rfc5424", rfc5424)] {
        let v = report_json(input.as_bytes(), &[]);
        assert_eq!(figures(&v), figures(&clean), "{name}");
        assert_eq!(v["input"]["not_documents"], 0, "{name}");
    }
}

#[test]
fn bad_lines_are_counted_never_fatal() {
    let docs = smtp_in_docs("all");
    let clean = report_json(&docs, &[]);
    let text = String::from_utf8(docs).unwrap();
    let first = text.lines().next().unwrap();
    let mut input = String::new();
    input.push_str("Dec  1 17:00:00 mx smtpd[123]: 6fd7 smtp connected address=127.0.0.1\n");
    input.push_str("not json at all {\n");
    input.push_str("{\"level\":\"info\",\"msg\":\"another program\"}\n");
    input.push_str(&first[..first.len() / 2]);
    input.push('\n');
    // A document of a later filter-jsonlog with a field this one does not know.
    input.push_str(&first.replacen("\"event\":{", "\"event\":{\"novel\":1,", 1));
    input.push('\n');
    input.push_str(&"x".repeat(2 << 20));
    input.push('\n');
    input.push_str("\u{0}\u{1}binary\n");
    input.push_str(&text);
    // The last line cut short, without its newline.
    input.push_str(&first[..first.len() - 10]);
    let mut v = report_json(input.as_bytes(), &[]);
    // smtpd's line makes the delivery section: 16 recipients, none of them
    // in that mail log.
    assert_eq!(v["delivery"]["not_in_maillog"], 16, "{}", v["delivery"]);
    v["delivery"] = Value::Null;
    let i = &v["input"];
    // A mail log line is no error: counted apart, read for smtpd's lines.
    assert_eq!(i["not_json"], 2, "{i}");
    assert_eq!(i["maillog_lines"], 1, "{i}");
    assert_eq!(i["maillog_smtpd_lines"], 1, "{i}");
    assert_eq!(i["other_programs"], 1, "{i}");
    assert_eq!(i["invalid"], 2, "{i}");
    assert_eq!(i["too_long"], 1, "{i}");
    assert_eq!(i["unknown_fields"], 1, "{i}");
    assert_eq!(i["unknown_field_names"][0], "event.novel", "{i}");
    assert_eq!(i["not_documents"], 6, "{i}");
    // The doubled first document is a duplicate, not a second session event.
    assert_eq!(
        i["duplicates"], 0,
        "a repeated event document is not used: {i}"
    );
    assert_eq!(figures(&v), figures(&clean));
}

#[test]
fn the_same_documents_twice_count_once() {
    let docs = smtp_in_docs("summaries");
    let clean = report_json(&docs, &[]);
    let twice = [docs.clone(), docs.clone()].concat();
    let v = report_json(&twice, &[]);
    assert_eq!(figures(&v), figures(&clean));
    assert_eq!(v["input"]["duplicates"], clean["input"]["documents"]);
}

#[test]
fn files_plain_gzip_and_stdin() {
    let dir = super::run::temp("report-files");
    std::fs::create_dir_all(&dir).unwrap();
    let docs = smtp_in_docs("all");
    let half = docs.len() / 2;
    let cut = half + docs[half..].iter().position(|&b| b == b'\n').unwrap() + 1;
    // A rotated, compressed older half and the current plain file.
    std::fs::write(dir.join("jsonlog.1.gz"), gzip(&docs[..cut])).unwrap();
    std::fs::write(dir.join("jsonlog"), &docs[cut..]).unwrap();
    let whole = report_json(&docs, &[]);
    let out = Command::new(bin())
        .args(["report", "--format", "json", "--top", "10000"])
        .arg(dir.join("jsonlog.1.gz"))
        .arg("-")
        .stdin(std::fs::File::open(dir.join("jsonlog")).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(figures(&v), figures(&whole));
    assert_eq!(v["input"]["files"], 2);
    // A missing file is reported, and the rest still counted.
    let out = Command::new(bin())
        .args(["report", "--format", "json"])
        .arg(dir.join("missing"))
        .arg(dir.join("jsonlog.1.gz"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["input"]["errors"][0]
        .as_str()
        .unwrap()
        .contains("missing"));
    assert!(v["sessions"]["smtp_in"].as_u64().unwrap() > 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn windows_split_the_figures() {
    let docs = smtp_in_docs("summaries");
    let all = report_json(&docs, &[]);
    let total = all["sessions"]["smtp_in"].as_u64().unwrap();
    let first = all["report"]["first"].as_str().unwrap().to_string();
    // The captured stream spans 15:00:35 to 15:00:36: split at 15:00:36.
    let split = format!("{}36", &first[..first.len() - 3]);
    let before = report_json(&docs, &["--until", &split]);
    let after = report_json(&docs, &["--since", &split]);
    let b = before["sessions"]["smtp_in"].as_u64().unwrap();
    let a = after["sessions"]["smtp_in"].as_u64().unwrap();
    assert!(a > 0 && b > 0, "{split}: {b} + {a}");
    assert_eq!(a + b, total);
    for key in ["accepted", "bytes"] {
        assert_eq!(
            before["messages"][key].as_u64().unwrap() + after["messages"][key].as_u64().unwrap(),
            all["messages"][key].as_u64().unwrap()
        );
    }
    let none = report_json(&docs, &["--since", "2100-01-01"]);
    assert_eq!(none["sessions"]["smtp_in"], 0);
    assert_eq!(none["input"]["outside_window"], all["input"]["used"]);
    let bad = run(&["report", "--since", "last tuesday"], b"");
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn text_and_html_forms() {
    let docs = smtp_in_docs("all");
    let text = run(&["report"], &docs);
    assert!(text.status.success());
    let text = String::from_utf8(text.stdout).unwrap();
    let v = report_json(&docs, &[]);
    for needle in [
        format!(
            "{:<32} {:>8}",
            "sessions in (smtp-in)",
            v["sessions"]["smtp_in"].as_u64().unwrap()
        ),
        format!(
            "{:<32} {:>8}",
            "messages accepted",
            v["messages"]["accepted"].as_u64().unwrap()
        ),
        "Traffic per hour (UTC)".to_string(),
        "Recipient domains, received (smtp-in)".to_string(),
    ] {
        assert!(text.contains(&needle), "{needle:?} not in\n{text}");
    }
    assert!(text.is_ascii() || text.contains("caf"), "cron mail text");
    let html = run(&["report", "--format", "html"], &docs);
    let html = String::from_utf8(html.stdout).unwrap();
    for id in ["chart-traffic", "chart-tls", "chart-refusals"] {
        assert!(html.contains(&format!("<svg id=\"{id}\"")), "{id}");
    }
    // Self-contained: nothing fetched (the SVG namespace is a name, not a fetch).
    let without_ns = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    for external in ["http://", "https://", "<script", "<link", "@import", "url("] {
        assert!(!without_ns.contains(external), "{external}");
    }
    // Addresses from the input are escaped.
    assert!(!html.contains("<nobody@"), "unescaped input in HTML");
}

/// Documents cut, with bytes changed, numbers made huge or negative, and
/// types swapped: never a crash, every line accounted for. In process, so
/// that a debug build's overflow checks would catch arithmetic on input.
#[test]
fn mutated_documents_never_crash() {
    let docs = smtp_in_docs("all");
    let text = String::from_utf8(docs).unwrap();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut input = String::new();
    let mut lines = 0u64;
    for round in 0..20 {
        for line in text.lines() {
            let r = next();
            let mutated = match (r % 7, round) {
                (_, 0) => line.to_string(),
                (0, _) => line[..(r as usize / 7) % line.len()].to_string(),
                (1, _) => line.replace(":1,", ":18446744073709551615,"),
                (2, _) => line.replace(":1,", ":-1,"),
                (3, _) => line.replace("\"ok\"", "7").replace(":true", ":\"yes\""),
                (4, _) => line.replace("\"smtp-in\"", "\"smtp-sideways\""),
                (5, _) => line.replace(
                    "\"@timestamp\":\"2026",
                    if r % 2 == 0 {
                        "\"@timestamp\":\"9999"
                    } else {
                        "\"@timestamp\":\"0000"
                    },
                ),
                _ => {
                    let mut bytes = line.as_bytes().to_vec();
                    let at = (r as usize >> 8) % bytes.len();
                    // Any byte but a newline (which would make two lines).
                    bytes[at] = match (r >> 32) as u8 {
                        b'\n' => b'?',
                        b => b,
                    };
                    String::from_utf8_lossy(&bytes).into_owned()
                }
            };
            if !mutated.trim().is_empty() {
                lines += 1;
            }
            input.push_str(&mutated);
            input.push('\n');
        }
    }
    let v = filter_jsonlog::report::json_of(input.as_bytes(), 10);
    let i = &v["input"];
    assert_eq!(i["lines"], lines);
    let sum = |keys: &[&str]| keys.iter().map(|&k| i[k].as_u64().unwrap()).sum::<u64>();
    let lines_counted = sum(&[
        "documents",
        "not_json",
        "other_programs",
        "invalid",
        "too_long",
        "maillog_lines",
    ]);
    assert_eq!(lines_counted, lines, "{i}");
    let documents = sum(&[
        "used",
        "repeated",
        "outside_window",
        "duplicates",
        "unknown_subsystem",
    ]);
    assert_eq!(i["documents"], documents, "{i}");
    assert!(
        i["invalid"].as_u64().unwrap() > 0 && i["duplicates"].as_u64().unwrap() > 0,
        "{i}"
    );
    let gz = super::gzip(input.as_bytes());
    let from_gz = filter_jsonlog::report::json_of(&gz[..gz.len() / 2], 10);
    assert!(
        from_gz["input"]["errors"].as_array().unwrap().len() == 1,
        "a cut gzip file is an error, counted"
    );
}

/// More than two days of hours: the text shows days (a cron mail stays
/// short), and sessions of each day count there.
#[test]
fn long_spans_are_shown_per_day() {
    let docs = String::from_utf8(smtp_in_docs("summaries")).unwrap();
    let one = report_json(docs.as_bytes(), &[]);
    let mut input = String::new();
    for (day, hour) in [("25", "15"), ("26", "03"), ("28", "22")] {
        input.push_str(
            &docs
                .replace("2026-11-25T15:", &format!("2026-11-{day}T{hour}:"))
                .replace("\"id\":\"", &format!("\"id\":\"{day}")),
        );
    }
    let v = report_json(input.as_bytes(), &[]);
    assert_eq!(
        v["sessions"]["smtp_in"].as_u64().unwrap(),
        3 * one["sessions"]["smtp_in"].as_u64().unwrap()
    );
    assert_eq!(v["hours"].as_array().unwrap().len(), 3);
    let text = String::from_utf8(run(&["report"], input.as_bytes()).stdout).unwrap();
    let days: Vec<&str> = text
        .split("Traffic per day (UTC)")
        .nth(1)
        .expect("per day")
        .lines()
        .filter(|l| l.starts_with("  2026-11-"))
        .collect();
    // The 27th had no mail: it is shown, with nothing.
    assert_eq!(days.len(), 4, "{days:?}");
    let sessions = one["sessions"]["smtp_in"].as_u64().unwrap().to_string();
    let counts: Vec<&str> = days
        .iter()
        .map(|d| d.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(
        counts,
        [sessions.as_str(), &sessions, "0", &sessions],
        "{days:?}"
    );
}

/// Documents of filter-jsonlog versions without `opensmtpd.session.final`
/// give the same figures (the ending events are known by name).
#[test]
fn documents_without_the_final_flag() {
    let docs = String::from_utf8(smtp_in_docs("summaries")).unwrap();
    let old = docs.replace(",\"final\":true", "");
    assert_ne!(old, docs);
    let v = report_json(old.as_bytes(), &[]);
    assert_eq!(figures(&v), figures(&report_json(docs.as_bytes(), &[])));
}
