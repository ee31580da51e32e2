//! smtpd's mail log given beside the documents: each committed recipient
//! joined to its envelope's delivery lines, through the binary, with files
//! in any order, plain or gzip, under any syslog header.

use super::{documents, gzip, run};
use serde_json::{json, Value};
use std::path::PathBuf;

/// A message with a local and a relayed recipient, its smtp-out session,
/// a second message whose recipient bounces, and smtpd's bounce for it
/// (a local session with the null sender).
const STREAM: &str = "\
report|0.7|1764000000.000000|smtp-in|link-connect|aaaa000000000001|mx|pass|127.0.0.1:1000|127.0.0.1:25
report|0.7|1764000000.100000|smtp-in|tx-begin|aaaa000000000001|11111111
report|0.7|1764000000.200000|smtp-in|tx-mail|aaaa000000000001|11111111|ok|s@client.test
report|0.7|1764000000.300000|smtp-in|tx-envelope|aaaa000000000001|11111111|1111111100000001
report|0.7|1764000000.300000|smtp-in|tx-rcpt|aaaa000000000001|11111111|ok|a@example.test
report|0.7|1764000000.400000|smtp-in|tx-envelope|aaaa000000000001|11111111|1111111100000002
report|0.7|1764000000.400000|smtp-in|tx-rcpt|aaaa000000000001|11111111|ok|b@Relay.test
report|0.7|1764000000.450000|smtp-in|tx-rcpt|aaaa000000000001|11111111|permfail|nobody@unknown.test
report|0.7|1764000000.500000|smtp-in|tx-commit|aaaa000000000001|11111111|100
report|0.7|1764000000.500000|smtp-in|tx-reset|aaaa000000000001|11111111
report|0.7|1764000000.510000|smtp-in|tx-begin|aaaa000000000001|33333333
report|0.7|1764000000.520000|smtp-in|tx-mail|aaaa000000000001|33333333|ok|s@client.test
report|0.7|1764000000.530000|smtp-in|tx-envelope|aaaa000000000001|33333333|3333333300000001
report|0.7|1764000000.530000|smtp-in|tx-rcpt|aaaa000000000001|33333333|ok|gone@relay.test
report|0.7|1764000000.540000|smtp-in|tx-envelope|aaaa000000000001|33333333|3333333300000002
report|0.7|1764000000.540000|smtp-in|tx-rcpt|aaaa000000000001|33333333|ok|later@relay.test
report|0.7|1764000000.550000|smtp-in|tx-envelope|aaaa000000000001|33333333|3333333300000003
report|0.7|1764000000.550000|smtp-in|tx-rcpt|aaaa000000000001|33333333|ok|never@relay.test
report|0.7|1764000000.560000|smtp-in|tx-commit|aaaa000000000001|33333333|100
report|0.7|1764000000.560000|smtp-in|tx-reset|aaaa000000000001|33333333
report|0.7|1764000000.600000|smtp-in|link-disconnect|aaaa000000000001
report|0.7|1764000001.000000|smtp-out|link-connect|cccc000000000001|relay|pass|127.0.0.1:2000|127.0.0.1:26
report|0.7|1764000001.100000|smtp-out|tx-begin|cccc000000000001|11111111
report|0.7|1764000001.200000|smtp-out|tx-mail|cccc000000000001|11111111|ok|s@client.test
report|0.7|1764000001.300000|smtp-out|tx-rcpt|cccc000000000001|11111111|ok|b@relay.test
report|0.7|1764000001.750000|smtp-out|tx-commit|cccc000000000001|11111111|100
report|0.7|1764000001.800000|smtp-out|link-disconnect|cccc000000000001
report|0.7|1764000005.000000|smtp-in|link-connect|dddd000000000001|mx|pass|unix:/var/run/smtpd.sock|unix:/var/run/smtpd.sock
report|0.7|1764000005.100000|smtp-in|tx-begin|dddd000000000001|44444444
report|0.7|1764000005.200000|smtp-in|tx-mail|dddd000000000001|44444444|ok|
report|0.7|1764000005.300000|smtp-in|tx-envelope|dddd000000000001|44444444|4444444400000001
report|0.7|1764000005.300000|smtp-in|tx-rcpt|dddd000000000001|44444444|ok|s@example.test
report|0.7|1764000005.500000|smtp-in|tx-commit|dddd000000000001|44444444|300
report|0.7|1764000005.500000|smtp-in|tx-reset|dddd000000000001|44444444
report|0.7|1764000005.600000|smtp-in|link-disconnect|dddd000000000001
";

/// smtpd's lines for those envelopes, and one for mail no document holds.
const MAILLOG: &str = "\
2025-11-24T16:00:00.900000+00:00 mx smtpd[5]: bbbb000000000001 mda delivery evpid=1111111100000001 from=<s@client.test> to=<nobody@mx> rcpt=<a@example.test> user=nobody delay=1s result=Ok stat=Delivered
2025-11-24T16:00:01.000000+00:00 mx smtpd[5]: cccc000000000001 mta delivery evpid=1111111100000002 from=<s@client.test> to=<b@relay.test> rcpt=<-> source=\"127.0.0.1\" relay=\"127.0.0.1\" delay=1s result=\"TempFail\" stat=\"451 4.7.1 try later\"
2025-11-24T16:00:02.000000+00:00 mx smtpd[5]: cccc000000000001 mta delivery evpid=1111111100000002 from=<s@client.test> to=<b@relay.test> rcpt=<-> source=\"127.0.0.1\" relay=\"127.0.0.1\" delay=2s result=\"Ok\" stat=\"250 2.0.0 Ok\"
2025-11-24T16:00:03.000000+00:00 mx smtpd[5]: cccc000000000002 mta delivery evpid=3333333300000001 from=<s@client.test> to=<gone@relay.test> rcpt=<-> source=\"127.0.0.1\" relay=\"127.0.0.1\" delay=3s result=\"PermFail\" stat=\"550 5.1.1 no such user\"
2025-11-24T16:00:03.000000+00:00 mx smtpd[5]: 0000000000000000 mta delivery evpid=3333333300000002 from=<s@client.test> to=<later@relay.test> rcpt=<-> source=\"-\" relay=\"relay.test\" delay=3s result=\"TempFail\" stat=\"451 4.7.1 try later\"
2025-11-24T16:00:09.000000+00:00 mx smtpd[5]: relay: Expire for 3333333300000002: from=<s@client.test>, to=<later@relay.test>, rcpt=<->, delay=9s, stat=Envelope expired
2025-11-24T16:00:05.000000+00:00 mx smtpd[5]: dddd000000000001 smtp connected address=local host=mx
2025-11-24T16:00:05.000000+00:00 mx smtpd[5]: dddd000000000001 smtp envelope evpid=4444444400000001 from=<> to=<s@example.test>
2025-11-24T16:00:07.000000+00:00 mx smtpd[5]: eeee000000000001 mda delivery evpid=4444444400000001 from=<> to=<s@example.test> user=nobody delay=2s result=Ok stat=Delivered
2025-11-24T16:00:08.000000+00:00 mx smtpd[5]: eeee000000000001 mda delivery evpid=5555555500000001 from=<x@y> to=<z@example.test> user=nobody delay=2s result=Ok stat=Delivered
2025-11-24T16:00:08.000000+00:00 mx postfix/qmgr[7]: 4F2A1 removed
";

/// The `delivery` object the two inputs make.
fn expected() -> Value {
    json!({
        "delivered": 3, "deferred": 0, "bounced": 1, "expired": 1, "removed": 0,
        "not_in_maillog": 1, "tempfail_attempts": 2,
        "local": {"delivered": 2, "deferred": 0, "bounced": 0, "expired": 0},
        "relayed": {"delivered": 1, "deferred": 0, "bounced": 1, "expired": 1},
        "by_domain": [
            {"domain": "relay.test", "delivered": 1, "deferred": 0, "bounced": 1, "expired": 1},
            {"domain": "example.test", "delivered": 2, "deferred": 0, "bounced": 0, "expired": 0},
        ],
        "bounces_generated": 1,
        // example.test: 0.6 s (mda line) and 1.5 s (the bounce); relay.test:
        // 1.25 s to the smtp-out tx-commit, not 1.5 s to the line.
        "delay_seconds": {"median": 1.25, "p90": 1.5, "max": 1.5},
        "delay_by_domain": [
            {"domain": "example.test", "delivered": 2, "median": 0.4, "p90": 1.5, "max": 1.5},
            {"domain": "relay.test", "delivered": 1, "median": 1.25, "p90": 1.25, "max": 1.25},
        ],
        "top_reasons": [
            {"key": "451 4.7.1 try later", "count": 2},
            {"key": "550 5.1.1 no such user", "count": 1},
            {"key": "Envelope expired", "count": 1},
        ],
        "not_in_documents": 1,
    })
}

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("fjl-delivery-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
    fn file(&self, name: &str, bytes: &[u8]) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).unwrap();
        p.display().to_string()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn report(args: &[&str]) -> Vec<u8> {
    let mut all = vec!["report", "--top", "50"];
    all.extend_from_slice(args);
    let out = run(&all, b"");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn delivery_json(args: &[&str]) -> (Value, Value) {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let v: Value = serde_json::from_slice(&report(&all)).unwrap();
    (v["delivery"].clone(), v["input"].clone())
}

#[test]
fn mail_log_joined_in_any_order_plain_or_gzip() {
    let dir = Dir::new("order");
    let docs = dir.file("docs.json", &documents(STREAM.as_bytes(), "all"));
    let log = dir.file("mail.log", MAILLOG.as_bytes());
    let gz = dir.file("mail.log.1.gz", &gzip(MAILLOG.as_bytes()));
    for args in [[&docs, &log], [&log, &docs], [&gz, &docs]] {
        let (d, input) = delivery_json(&[args[0], args[1]]);
        assert_eq!(d, expected(), "{args:?}");
        assert_eq!(input["maillog_lines"], 11, "{input}");
        assert_eq!(input["maillog_smtpd_lines"], 10, "{input}");
        assert_eq!(input["not_json"], 0, "{input}");
    }
    // Overlapping rotated files: a line read twice counts once.
    let (d, _) = delivery_json(&[&docs, &log, &gz]);
    assert_eq!(d, expected());
}

#[test]
fn any_syslog_header_the_same() {
    let dir = Dir::new("headers");
    let docs = dir.file("docs.json", &documents(STREAM.as_bytes(), "summaries"));
    // OpenBSD's syslogd: no year and no zone, so delays come from the
    // smtp-out tx-commit or smtpd's whole-second delay=.
    let bsd: String = MAILLOG
        .lines()
        .map(|l| format!("Nov 24 16:00:00 mx {}\n", l.split_once(" mx ").unwrap().1))
        .collect();
    let log = dir.file("maillog", bsd.as_bytes());
    let (d, _) = delivery_json(&[&docs, &log]);
    let mut want = expected();
    want["delay_seconds"] = json!({"median": 1.25, "p90": 2.0, "max": 2.0});
    want["delay_by_domain"][0] =
        json!({"domain": "example.test", "delivered": 2, "median": 1.0, "p90": 2.0, "max": 2.0});
    assert_eq!(d, want);
}

#[test]
fn without_a_mail_log_the_section_says_so() {
    let dir = Dir::new("none");
    let docs = dir.file("docs.json", &documents(STREAM.as_bytes(), "all"));
    let (d, input) = delivery_json(&[&docs]);
    assert_eq!(d, Value::Null);
    // The relay delay needs the documents only (issue 19, point 10).
    let v: Value = serde_json::from_slice(&report(&["--format", "json", &docs])).unwrap();
    assert_eq!(
        v["relay_delay"],
        json!({"transactions": 1, "median": 1.25, "p90": 1.25, "max": 1.25,
               "by_domain": [{"domain": "relay.test", "transactions": 1,
                              "median": 1.25, "p90": 1.25, "max": 1.25}]})
    );
    assert_eq!(input["maillog_lines"], 0);
    let text = String::from_utf8(report(&[&docs])).unwrap();
    assert!(text.contains("no mail log among the inputs"), "{text}");
    let html = String::from_utf8(report(&["--format", "html", &docs])).unwrap();
    assert!(html.contains("no mail log among the inputs"));
    // A mail log without smtpd's lines: still unknown, never zeros.
    let other = dir.file("other.log", b"Nov 24 16:00:00 mx cron[1]: hello\n");
    let (d, input) = delivery_json(&[&docs, &other]);
    assert_eq!(d, Value::Null);
    assert_eq!(input["maillog_lines"], 1);
    let text = String::from_utf8(report(&[&docs, &other])).unwrap();
    assert!(text.contains("has no line of smtpd's"), "{text}");
}

#[test]
fn text_and_html_show_the_same_figures() {
    let dir = Dir::new("forms");
    let docs = dir.file("docs.json", &documents(STREAM.as_bytes(), "all"));
    let log = dir.file("mail.log", MAILLOG.as_bytes());
    let text = String::from_utf8(report(&[&docs, &log])).unwrap();
    let html = String::from_utf8(report(&["--format", "html", &docs, &log])).unwrap();
    for needle in [
        "Delivery by recipient domain",
        "Delivery delay by recipient domain",
        "451 4.7.1 try later",
        "1.250 s",
        "relayed (mta)",
        "bounces generated",
    ] {
        assert!(text.contains(needle), "text lacks {needle}");
        assert!(html.contains(needle), "html lacks {needle}");
    }
}

#[test]
fn the_window_chooses_the_recipients() {
    let dir = Dir::new("window");
    let docs = dir.file("docs.json", &documents(STREAM.as_bytes(), "all"));
    let log = dir.file("mail.log", MAILLOG.as_bytes());
    // Only the bounce's session is at or after 16:00:05.
    let (d, _) = delivery_json(&["--since", "2025-11-24T16:00:05", &docs, &log]);
    assert_eq!(d["delivered"], 1, "{d}");
    assert_eq!(d["bounced"], 0, "{d}");
    assert_eq!(d["bounces_generated"], 1, "{d}");
    // Lines of messages outside the window are not "not in documents".
    assert_eq!(d["not_in_documents"], 1, "{d}");
}

/// A real run (tests/e2e/test_delivery.py under 7.8.0p1, kept in
/// tests/data/captured): its documents and smtpd's mail log as rsyslog wrote it.
#[test]
fn captured_run_of_opensmtpd_7_8() {
    let dir = super::run::data("captured");
    let docs = dir.join("opensmtpd-7.8.0p1-delivery.json");
    let log = dir.join("opensmtpd-7.8.0p1-delivery.mail.log");
    let (d, input) = delivery_json(&[docs.to_str().unwrap(), log.to_str().unwrap()]);
    let pick = |keys: &[&str]| -> Value {
        keys.iter()
            .map(|&k| (k.to_string(), d[k].clone()))
            .collect()
    };
    assert_eq!(
        pick(&[
            "delivered",
            "deferred",
            "bounced",
            "expired",
            "removed",
            "not_in_maillog",
            "tempfail_attempts",
            "bounces_generated",
            "not_in_documents"
        ]),
        json!({"delivered": 6, "deferred": 2, "bounced": 3, "expired": 1, "removed": 0,
               "not_in_maillog": 0, "tempfail_attempts": 4, "bounces_generated": 4,
               "not_in_documents": 1})
    );
    assert_eq!(
        d["local"],
        json!({"delivered": 5, "deferred": 1, "bounced": 1, "expired": 0})
    );
    assert_eq!(
        d["relayed"],
        json!({"delivered": 1, "deferred": 1, "bounced": 2, "expired": 1})
    );
    assert_eq!(
        d["delay_seconds"],
        json!({"median": 0.016749, "p90": 0.047376, "max": 0.047376})
    );
    assert_eq!(d["by_domain"].as_array().unwrap().len(), 8);
    assert_eq!(input["maillog_lines"], 78);
    assert_eq!(input["not_json"], 0);
}
