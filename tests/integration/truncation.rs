//! One mark for every cut: a document that cannot show a value as it was
//! sent says `opensmtpd.truncated`, and `documents_truncated` counts exactly
//! the documents that say so.

use crate::util::{documents, get, run};
use serde_json::Value;

fn long(c: char, n: usize) -> String {
    c.to_string().repeat(n)
}

/// Sessions that each store one value too long for its cap, at the event
/// named: (what, the event's payload after the session id).
fn cases() -> Vec<(&'static str, &'static str, String)> {
    let address = format!("{}@example.org", long('a', 395)); // 407 bytes
    vec![
        (
            "rdns",
            "link-connect",
            format!("{}|pass|192.0.2.7:4000|192.0.2.1:25", long('h', 300)),
        ),
        (
            "endpoint",
            "link-connect",
            format!("client|pass|unix:/{}|192.0.2.1:25", long('p', 1100)),
        ),
        ("greeting", "link-greeting", long('g', 300)),
        ("helo", "link-identify", format!("EHLO|{}", long('e', 300))),
        (
            "tls raw",
            "link-tls",
            format!("TLSv1.3:{}:256", long('C', 1100)),
        ),
        (
            "tls cipher",
            "link-tls",
            format!("TLSv1.3:{}:256", long('C', 100)),
        ),
        ("auth user", "link-auth", format!("{}|fail", long('u', 400))),
        (
            "command",
            "protocol-client",
            format!("NOOP {}", long('x', 1100)),
        ),
        (
            "response",
            "protocol-server",
            format!("250 {}", long('y', 1100)),
        ),
        (
            "filter name",
            "filter-report",
            format!("proc|{}|x", long('n', 100)),
        ),
        (
            "filter message",
            "filter-report",
            format!("proc|f|{}", long('m', 1100)),
        ),
        (
            "filter phase",
            "filter-response",
            format!("{}|proceed", long('q', 100)),
        ),
        (
            "filter decision",
            "filter-response",
            format!("connected|{}", long('d', 100)),
        ),
        (
            "filter param",
            "filter-response",
            format!("connected|reject|550 {}", long('r', 1100)),
        ),
        ("sender", "tx-mail", format!("0000abcd|ok|{address}")),
        ("recipient", "tx-rcpt", format!("0000abcd|ok|{address}")),
    ]
}

fn line(t: &mut u32, sid: u32, event: &str, rest: &str) -> String {
    *t += 1;
    format!("report|0.6|1700000000.{t:06}|smtp-in|{event}|{sid:016x}|{rest}\n")
}

fn sid_of(doc: &Value) -> u32 {
    u32::from_str_radix(get(doc, "opensmtpd.session.id").as_str().unwrap(), 16).unwrap()
}

fn truncated(doc: &Value) -> bool {
    get(doc, "opensmtpd.truncated") == &Value::Bool(true)
}

/// The `truncated=N` of the `exiting:` line.
fn counted(stderr: &[u8]) -> usize {
    let stderr = String::from_utf8_lossy(stderr);
    let at = stderr.find(" truncated=").expect("exiting line") + 11;
    stderr[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn every_value_cut_at_its_cap_marks_the_document_and_is_counted() {
    let mut input = String::new();
    for (i, (_, event, payload)) in cases().iter().enumerate() {
        let sid = 0x100 + i as u32;
        let mut t = 0;
        input += &line(
            &mut t,
            sid,
            "link-connect",
            "client|pass|192.0.2.7:4000|192.0.2.1:25",
        );
        input += &line(&mut t, sid, "tx-begin", "0000abcd");
        input += &line(&mut t, sid, event, payload);
        input += &line(&mut t, sid, "link-disconnect", "");
    }
    let out = run(&["replay"], input.as_bytes());
    assert!(out.status.success());
    let docs = documents(&out.stdout);
    assert_eq!(docs.len(), 4 * cases().len());
    for (i, (what, _, _)) in cases().iter().enumerate() {
        let session: Vec<&Value> = docs
            .iter()
            .filter(|d| sid_of(d) == 0x100 + i as u32)
            .collect();
        // The value comes at the third event; what came before is whole,
        // and the session goes on holding it (but for a command, a reply
        // or a transaction value, replaced or cleared by what follows).
        for (n, doc) in session.iter().enumerate() {
            let action = get(doc, "event.action");
            match n {
                0 | 1 => assert!(!truncated(doc), "{what}: {action} before the cut is whole"),
                2 => assert!(
                    truncated(doc),
                    "{what}: the {action} document says truncated"
                ),
                _ => {}
            }
        }
    }
    let marked = docs.iter().filter(|d| truncated(d)).count();
    assert!(marked >= cases().len());
    assert_eq!(
        counted(&out.stderr),
        marked,
        "the counter counts the marked documents"
    );
}

#[test]
fn envelope_ids_and_recipients_beyond_their_caps_mark_the_transaction() {
    let mut input = String::new();
    let mut t = 0;
    let sid = 0x200;
    input += &line(
        &mut t,
        sid,
        "link-connect",
        "client|pass|192.0.2.7:4000|192.0.2.1:25",
    );
    input += &line(&mut t, sid, "tx-begin", "0000abcd");
    for e in 0..5u64 {
        input += &line(
            &mut t,
            sid,
            "tx-envelope",
            &format!("0000abcd|0000abcd{e:08x}"),
        );
    }
    input += &line(&mut t, sid, "tx-rcpt", "0000abcd|ok|a@example.org");
    input += &line(&mut t, sid, "tx-reset", "0000abcd");
    input += &line(&mut t, sid, "tx-begin", "0000abce");
    for r in 0..1001 {
        input += &line(
            &mut t,
            sid,
            "tx-rcpt",
            &format!("0000abce|ok|r{r}@example.org"),
        );
    }
    input += &line(&mut t, sid, "link-disconnect", "");
    let out = run(&["replay", "--max-line-bytes", "1000000"], input.as_bytes());
    assert!(out.status.success());
    let docs = documents(&out.stdout);
    let actions: Vec<(&str, bool)> = docs
        .iter()
        .map(|d| (get(d, "event.action").as_str().unwrap(), truncated(d)))
        .collect();
    // The fifth envelope id could not be kept: its tx-envelope document on.
    assert_eq!(actions[5], ("tx-envelope", false));
    assert_eq!(actions[6], ("tx-envelope", true));
    assert_eq!(actions[7], ("tx-rcpt", true));
    // A new transaction starts whole; the 1,001st recipient is not kept.
    assert_eq!(actions[9], ("tx-begin", false));
    assert!(!actions[10 + 999].1, "1,000 recipients fit their cap");
    assert!(actions[10 + 1000].1, "the 1,001st does not");
    let marked = actions.iter().filter(|(_, t)| *t).count();
    assert_eq!(counted(&out.stderr), marked);
}
