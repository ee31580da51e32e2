//! Recorded streams replayed against golden files, and the session-level
//! facts every stream must satisfy.
//!
//! To accept a deliberate change of output: `UPDATE_GOLDEN=1 cargo test`,
//! then review `git diff tests/data/golden`.

use crate::util::{data, documents, get, replay, streams};
use serde_json::Value;
use std::collections::HashMap;

#[test]
fn golden_files() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut checked = 0;
    for stream in streams() {
        let name = stream.file_stem().unwrap().to_string_lossy().to_string();
        let golden = data("golden").join(format!("{name}.jsonl"));
        let actual = replay(&stream);
        if update {
            std::fs::write(&golden, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read(&golden).unwrap_or_else(|_| {
            panic!(
                "{} missing: run UPDATE_GOLDEN=1 cargo test",
                golden.display()
            )
        });
        if expected != actual {
            let (e, a) = (
                String::from_utf8_lossy(&expected),
                String::from_utf8_lossy(&actual),
            );
            for (i, (el, al)) in e.lines().zip(a.lines()).enumerate() {
                assert_eq!(el, al, "{name}: first difference at document {}", i + 1);
            }
            assert_eq!(
                e.lines().count(),
                a.lines().count(),
                "{name}: document count"
            );
        }
        checked += 1;
    }
    assert!(update || checked >= 4, "only {checked} streams checked");
}

/// Facts any stream must show, whoever recorded it.
#[test]
fn every_stream_keeps_sessions_apart_and_numbered() {
    for stream in streams() {
        let raw = std::fs::read(&stream).unwrap();
        let reports = raw
            .split(|&b| b == b'\n')
            .filter(|l| l.starts_with(b"report|"))
            .count();
        let docs = documents(&replay(&stream));
        let session_docs: Vec<&Value> = docs
            .iter()
            .filter(|d| get(d, "event.kind") == "event")
            .collect();
        let synthetic = session_docs
            .iter()
            .filter(|d| !get(d, "opensmtpd.session.end").is_null())
            .count();
        assert_eq!(
            session_docs.len() - synthetic,
            reports,
            "{}: one document per report line",
            stream.display()
        );
        let mut seq: HashMap<(String, String), u64> = HashMap::new();
        for d in &session_docs {
            let key = (
                get(d, "opensmtpd.subsystem").as_str().unwrap().to_string(),
                get(d, "opensmtpd.session.id").as_str().unwrap().to_string(),
            );
            let n = seq.entry(key.clone()).or_insert(0);
            *n += 1;
            assert_eq!(
                get(d, "event.sequence"),
                *n,
                "{}: {key:?} numbered without gaps",
                stream.display()
            );
            assert_eq!(get(d, "event.dataset"), "opensmtpd.jsonlog");
            let tls = get(d, "tls.established");
            assert!(tls.is_boolean(), "tls.established always present");
            if get(d, "event.action") == "tx-reset" && get(d, "opensmtpd.subsystem") == "smtp-in" {
                assert!(get(d, "email").is_null() && get(d, "opensmtpd.transaction").is_null());
            }
            if get(d, "event.action") == "link-disconnect" {
                // The session is forgotten: a later event starts over at 1.
                seq.remove(&key);
            }
        }
    }
}

#[test]
fn layouts_of_every_version_give_the_same_facts() {
    let facts = |file: &str| -> Vec<(String, String, String, String)> {
        documents(&replay(&data(file)))
            .iter()
            .filter(|d| {
                ["tx-mail", "tx-rcpt", "link-auth"]
                    .contains(&get(d, "event.action").as_str().unwrap())
            })
            .map(|d| {
                let s = |p: &str| get(d, p).as_str().unwrap_or("").to_string();
                (
                    s("event.action"),
                    s("opensmtpd.mail.address") + &s("opensmtpd.rcpt.address"),
                    s("opensmtpd.mail.result") + &s("opensmtpd.rcpt.result"),
                    s("user.name") + "/" + &s("opensmtpd.auth.result"),
                )
            })
            .collect()
    };
    let v4 = facts("streams/smtp-in-0.4.txt");
    let v6 = facts("streams/smtp-in-0.6-debian-6.8.0p2.txt");
    let v7 = facts("streams/smtp-in-0.7.txt");
    assert!(v6.len() >= 6, "{v6:?}");
    assert_eq!(v4, v6);
    // The 0.7 stream is the same dialogue with other ids and names.
    assert_eq!(v6.len(), v7.len());
    for (a, b) in v6.iter().zip(&v7) {
        assert_eq!((&a.0, &a.2, &a.3), (&b.0, &b.2, &b.3));
    }
}

#[test]
fn smtp_out_sessions_are_their_own() {
    let docs = documents(&replay(&data("streams/smtp-out-0.7.txt")));
    let out: Vec<&Value> = docs
        .iter()
        .filter(|d| get(d, "opensmtpd.subsystem") == "smtp-out")
        .collect();
    assert!(!out.is_empty());
    let commit = out
        .iter()
        .find(|d| get(d, "event.action") == "tx-commit")
        .unwrap();
    assert_eq!(get(commit, "email.local_id"), "3a9d0f17");
    assert_eq!(get(commit, "user.name"), "relayuser");
    assert_eq!(get(commit, "tls.established"), true);
    // Trailing blanks of enqueue's commands are kept as sent.
    let blanks = docs.iter().any(|d| {
        get(d, "opensmtpd.command")
            .as_str()
            .is_some_and(|c| c.ends_with("  "))
    });
    assert!(blanks);
}

#[test]
fn stdin_and_dash_are_the_same_input() {
    let file = data("streams/smtp-in-0.7.txt");
    let stdin = crate::util::run(&["replay", "-"], &std::fs::read(&file).unwrap());
    assert!(stdin.status.success());
    assert_eq!(stdin.stdout, replay(&file));
    let none = crate::util::run(&["replay"], &std::fs::read(&file).unwrap());
    assert_eq!(none.stdout, stdin.stdout);
}

/// Stamps past year 9999 make no document (Elasticsearch would refuse its
/// `@timestamp`): the line is refused and counted; the last RFC 3339
/// second still works.
#[test]
fn stamps_past_year_9999_are_refused_and_counted() {
    let input = b"report|0.6|999999999999.000000|smtp-in|link-connect|00000000000000a1|h|pass|192.0.2.1:1|192.0.2.2:25\n\
report|0.6|253402300799.999999|smtp-in|link-connect|00000000000000a2|h|pass|192.0.2.1:1|192.0.2.2:25\n";
    let out = crate::util::run(&["replay"], input);
    assert!(out.status.success());
    let docs = documents(&out.stdout);
    assert!(!docs.is_empty());
    for doc in &docs {
        let stamp = get(doc, "@timestamp").as_str().unwrap();
        assert_eq!(stamp, "9999-12-31T23:59:59.999999Z");
        assert_eq!(get(doc, "opensmtpd.session.id"), "00000000000000a2");
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad_timestamp") && stderr.contains("lines_rejected=1"),
        "{stderr}"
    );
}
