//! Documents parsed back as untyped JSON: field names, the size policy,
//! ASCII-only output.

use super::*;
use crate::protocol::{parse_line, Line};
use crate::session::{Limits, SessionTable};
use serde_json::Value;

fn docs(lines: &[String], options: Options) -> Vec<(Value, String, Rendered)> {
    let mut table = SessionTable::new(Limits::default());
    let mut renderer = Renderer::new(options);
    let mut out = Vec::new();
    let mut all = Vec::new();
    for line in lines {
        let Ok(Line::Report(r)) = parse_line(line.as_bytes()) else {
            panic!("{line}")
        };
        let snap = table.apply(&r);
        let rendered = renderer.render(&snap, &mut out);
        let text = String::from_utf8(out.clone()).expect("ASCII");
        assert!(text.is_ascii(), "{text}");
        all.push((
            serde_json::from_str(&text).expect("valid JSON"),
            text,
            rendered,
        ));
    }
    all
}

fn ptr<'a>(doc: &'a Value, path: &str) -> &'a Value {
    doc.pointer(&format!("/{}", path.replace('.', "/")))
        .unwrap_or(&Value::Null)
}

fn l(event: &str) -> String {
    format!("report|0.7|1730000000.500000|smtp-in|{event}")
}

#[test]
fn ecs_fields_follow_the_session() {
    let all = docs(
        &[
            l("link-connect|0000000000000001|<unknown>|fail|[2001:db8::7]:50110|[2001:db8::25]:25"),
            l("link-tls|0000000000000001|TLSv1.3:TLS_AES_256_GCM_SHA384:256"),
            l("link-auth|0000000000000001|pass|alice"),
            l("tx-begin|0000000000000001|8f3a2c41"),
            l("tx-mail|0000000000000001|8f3a2c41|ok|alice@client.example"),
            l("tx-rcpt|0000000000000001|8f3a2c41|ok|bob@example.org"),
            l("tx-rcpt|0000000000000001|8f3a2c41|permfail|nobody@example.org"),
            l("tx-reset|0000000000000001|8f3a2c41"),
        ],
        Options::default(),
    );
    let (first, ..) = &all[0];
    assert_eq!(ptr(first, "@timestamp"), "2024-10-27T03:33:20.500000Z");
    assert_eq!(ptr(first, "event.action"), "link-connect");
    assert_eq!(ptr(first, "event.sequence"), 1);
    assert_eq!(ptr(first, "event.dataset"), "opensmtpd.jsonlog");
    assert_eq!(ptr(first, "source.ip"), "2001:db8::7");
    assert_eq!(ptr(first, "source.port"), 50110);
    assert_eq!(ptr(first, "source.domain"), &Value::Null);
    assert_eq!(ptr(first, "destination.port"), 25);
    assert_eq!(ptr(first, "tls.established"), false);
    assert_eq!(ptr(first, "opensmtpd.session.id"), "0000000000000001");
    assert_eq!(ptr(first, "opensmtpd.subsystem"), "smtp-in");
    let (tls, ..) = &all[1];
    assert_eq!(ptr(tls, "tls.established"), true);
    assert_eq!(ptr(tls, "tls.version"), "1.3");
    assert_eq!(ptr(tls, "tls.version_protocol"), "tls");
    assert_eq!(ptr(tls, "tls.cipher"), "TLS_AES_256_GCM_SHA384");
    assert_eq!(ptr(&all[2].0, "user.name"), "alice");
    assert_eq!(ptr(&all[2].0, "event.outcome"), "success");
    let (rcpt, ..) = &all[6];
    assert_eq!(ptr(rcpt, "email.local_id"), "8f3a2c41");
    assert_eq!(ptr(rcpt, "email.from.address"), "alice@client.example");
    assert_eq!(
        ptr(rcpt, "email.to.address"),
        &serde_json::json!(["bob@example.org"])
    );
    assert_eq!(ptr(rcpt, "opensmtpd.rcpt.address"), "nobody@example.org");
    assert_eq!(ptr(rcpt, "opensmtpd.rcpt.result"), "permfail");
    assert_eq!(ptr(rcpt, "event.outcome"), "failure");
    let (reset, ..) = &all[7];
    assert_eq!(ptr(reset, "email"), &Value::Null);
    assert_eq!(ptr(reset, "opensmtpd.transaction"), &Value::Null);
    assert_eq!(ptr(reset, "user.name"), "alice", "session facts stay");
}

#[test]
fn a_thousand_recipients_fit_the_line_with_exact_counts() {
    let mut lines = vec![
        l("link-connect|0000000000000002|h|pass|192.0.2.1:1|192.0.2.2:25"),
        l("tx-begin|0000000000000002|00000001"),
    ];
    for i in 0..1000 {
        let result = if i % 10 == 0 { "permfail" } else { "ok" };
        lines.push(l(&format!(
            "tx-rcpt|0000000000000002|00000001|{result}|recipient-{i:04}@example.org"
        )));
    }
    let all = docs(&lines, Options { max_bytes: 8000 });
    let mut total = 0;
    for (doc, text, rendered) in &all {
        assert!(text.len() <= 8000, "{} bytes", text.len());
        total += text.len();
        if rendered.truncated {
            assert_eq!(ptr(doc, "opensmtpd.truncated"), true);
        }
    }
    let (last, _, rendered) = all.last().unwrap();
    assert!(rendered.truncated);
    assert_eq!(ptr(last, "opensmtpd.transaction.rcpt_accepted"), 900);
    assert_eq!(ptr(last, "opensmtpd.transaction.rcpt_refused"), 100);
    assert_eq!(ptr(last, "opensmtpd.counters.recipients_accepted"), 900);
    assert_eq!(
        ptr(last, "opensmtpd.rcpt.address"),
        "recipient-0999@example.org"
    );
    // Bounded by the cap per document: linear in K, not quadratic.
    assert!(total <= 8000 * all.len());
}

#[test]
fn a_huge_field_is_cut_and_marked() {
    let big = "x".repeat(1 << 20);
    // A session met mid-stream masks its client lines until a final reply
    // shows that no AUTH exchange is open: the reply comes first here.
    let all = docs(
        &[
            l("protocol-server|0000000000000003|250 ok"),
            l(&format!("protocol-client|0000000000000003|HELO {big}")),
        ],
        Options { max_bytes: 8000 },
    );
    let (doc, text, _) = &all[1];
    assert!(text.len() <= 8000);
    assert_eq!(ptr(doc, "opensmtpd.truncated"), true);
    assert_eq!(ptr(doc, "opensmtpd.session.partial"), true);
}

#[test]
fn non_utf8_is_escaped_and_marked() {
    let line =
        b"report|0.6|1.000000|smtp-in|link-identify|0000000000000004|HELO|bad\xff\xfe.example";
    let Ok(Line::Report(r)) = parse_line(line) else {
        panic!()
    };
    let mut table = SessionTable::new(Limits::default());
    let mut out = Vec::new();
    let rendered = Renderer::new(Options::default()).render(&table.apply(&r), &mut out);
    assert!(rendered.invalid_utf8);
    let doc: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(ptr(&doc, "opensmtpd.helo.name"), "bad\\xff\\xfe.example");
    assert_eq!(ptr(&doc, "opensmtpd.invalid_utf8"), true);
}

#[test]
fn unknown_events_and_versions_are_marked() {
    let all = docs(
        &["report|0.10|1.0|smtp-in|link-teleport|0000000000000005|somewhere".to_string()],
        Options::default(),
    );
    let (doc, ..) = &all[0];
    assert_eq!(ptr(doc, "event.action"), "link-teleport");
    assert_eq!(ptr(doc, "opensmtpd.unknown_event"), true);
    assert_eq!(ptr(doc, "opensmtpd.protocol.version"), "0.10");
    assert_eq!(ptr(doc, "opensmtpd.protocol.unknown_version"), true);
}

#[test]
fn smallest_line_limit_still_holds_a_document() {
    let mut lines = vec![l(
        "link-connect|0000000000000006|h|pass|192.0.2.1:1|192.0.2.2:25",
    )];
    lines.push(l(&format!(
        "protocol-server|0000000000000006|250 {}",
        "é".repeat(2000)
    )));
    for (_, text, _) in docs(
        &lines,
        Options {
            max_bytes: MIN_MAX_BYTES,
        },
    ) {
        assert!(text.len() <= MIN_MAX_BYTES, "{}", text.len());
    }
}

/// The fragment cache must be invisible: every document equal to the one
/// written from the session alone. Many sessions share each cache slot,
/// events come in any order, with odd bytes, link facts that change mid-
/// session, long recipient lists and every size level.
#[test]
fn fragment_cache_changes_no_byte() {
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let templates = [
        "link-connect|{s}|mail.example.org|pass|192.0.2.{n}:4{n}|192.0.2.25:25",
        "link-connect|{s}|<unknown>|fail|[2001:db8::{n}]:25|unix:/run/smtpd.sock",
        "link-greeting|{s}|mx{n}.example.org",
        "link-identify|{s}|EHLO|client{n}.example",
        "link-tls|{s}|TLSv1.3:TLS_AES_256_GCM_SHA384:256",
        "link-auth|{s}|pass|user{n}",
        "link-auth|{s}|fail|caf\u{e9}\u{1f600}{n}",
        "tx-begin|{s}|0000000{m}",
        "tx-mail|{s}|0000000{m}|ok|a{n}@example.org",
        "tx-rcpt|{s}|0000000{m}|ok|r{n}@example.org",
        "tx-rcpt|{s}|0000000{m}|permfail|x\"{n}\\@example.org",
        "tx-envelope|{s}|0000000{m}|0000000{m}0000000{n}",
        "tx-data|{s}|0000000{m}|ok",
        "tx-commit|{s}|0000000{m}|{n}00",
        "tx-rollback|{s}|0000000{m}",
        "tx-reset|{s}|0000000{m}",
        "protocol-client|{s}|RCPT TO:<r{n}@example.org>",
        "protocol-server|{s}|250 2.1.5 Ok {n}",
        "filter-response|{s}|rcpt-to|reject|550 no {n}",
        "filter-report|{s}|builtin|spam|score {n}",
        "timeout|{s}",
        "link-disconnect|{s}",
    ];
    let mut lines = Vec::new();
    for i in 0..6000u64 {
        let r = next();
        let session = format!("{:016x}", (r >> 8) % 700 + 1);
        let t = templates[(r % templates.len() as u64) as usize];
        let n = (r >> 20) % 10;
        let m = (r >> 24) % 3 + 1;
        let line = t
            .replace("{s}", &session)
            .replace("{n}", &n.to_string())
            .replace("{m}", &m.to_string());
        lines.push(format!(
            "report|0.7|{}.{:06}|smtp-in|{line}",
            1_730_000_000 + i / 50,
            i % 1_000_000
        ));
    }
    for max_bytes in [MIN_MAX_BYTES, 1500, Options::default().max_bytes] {
        let options = Options { max_bytes };
        let (mut a, mut b) = (
            SessionTable::new(Limits::default()),
            SessionTable::new(Limits::default()),
        );
        let mut cached = Renderer::new(options);
        let mut plain = Renderer::new(options).uncached();
        let (mut out_a, mut out_b) = (Vec::new(), Vec::new());
        for line in &lines {
            let Ok(Line::Report(r)) = parse_line(line.as_bytes()) else {
                panic!("{line}")
            };
            let ra = cached.render(&a.apply(&r), &mut out_a);
            let rb = plain.render(&b.apply(&r), &mut out_b);
            assert_eq!(ra, rb, "{line}");
            assert_eq!(
                String::from_utf8_lossy(&out_a),
                String::from_utf8_lossy(&out_b),
                "{line}"
            );
        }
    }
}
