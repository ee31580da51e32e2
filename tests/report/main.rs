//! `filter-jsonlog report`: its figures against an independent count over
//! the raw report streams (captured from Debian's smtpd and generated), for
//! `--events all` and `--events summaries`, plain and gzip; bad input.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod edges;
#[allow(dead_code)]
#[path = "../../examples/gen-stream.rs"]
mod gen_stream;
mod oracle;
#[path = "../support/run.rs"]
mod run;

use flate2::write::GzEncoder;
use run::{bin, data, run, succeeded};
use serde_json::Value;
use std::io::Write;

/// The documents the filter writes for `stream` with `--events preset`.
fn documents(stream: &[u8], preset: &str) -> Vec<u8> {
    let out = run(&["replay", "--events", preset], stream);
    succeeded(&out);
    out.stdout
}

fn report_json(input: &[u8], extra: &[&str]) -> Value {
    let mut args = vec!["report", "--format", "json", "--top", "10000"];
    args.extend_from_slice(extra);
    let out = run(&args, input);
    succeeded(&out);
    serde_json::from_slice(&out.stdout).unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

fn captured(name: &str) -> Vec<u8> {
    std::fs::read(data("captured").join(name)).unwrap()
}

fn generated(version: gen_stream::Proto, sessions: u64, seed: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let opts = gen_stream::Options {
        sessions,
        concurrency: 50,
        version,
        seed,
        ..gen_stream::Options::default()
    };
    gen_stream::generate(&opts, &mut out).unwrap();
    out
}

/// Report lines of whole sessions, one after the other, each line a
/// microsecond after the last.
struct Reports(String, u64, usize);

impl Reports {
    fn new(second: u64, first: usize) -> Reports {
        Reports(String::new(), second, first)
    }

    /// `events` are `event|payload`, as smtpd writes them after the session id.
    fn session(&mut self, version: &str, subsystem: &str, sid: &str, events: &[&str]) {
        for e in events {
            let (event, payload) = e.split_once('|').unwrap_or((e, ""));
            let sep = if payload.is_empty() { "" } else { "|" };
            let (second, t) = (self.1, self.2);
            self.0.push_str(&format!(
                "report|{version}|{second}.{t:06}|{subsystem}|{event}|{sid}{sep}{payload}\n"
            ));
            self.2 += 1;
        }
    }
}

/// The report over `stream`'s documents equals the oracle, for both
/// presets, plain and gzip; and every document is accounted for.
fn check_stream(name: &str, stream: &[u8]) {
    let expected = oracle::count(&String::from_utf8_lossy(stream));
    assert!(
        expected.sessions_in + expected.sessions_out > 0,
        "{name}: an empty stream proves nothing"
    );
    for preset in ["all", "summaries"] {
        let docs = documents(stream, preset);
        for (form, input) in [("plain", docs.clone()), ("gzip", gzip(&docs))] {
            let v = report_json(&input, &[]);
            let got = oracle::from_report(&v);
            assert_eq!(got, expected, "{name} --events {preset} {form}");
            let lines = docs.iter().filter(|&&b| b == b'\n').count() as u64;
            assert_eq!(v["input"]["lines"], lines, "{name} {preset} {form}");
            assert_eq!(v["input"]["documents"], lines, "{name} {preset} {form}");
            assert_eq!(v["input"]["not_documents"], 0, "{name} {preset} {form}");
            assert_eq!(
                v["input"]["used"].as_u64().unwrap() + v["input"]["repeated"].as_u64().unwrap(),
                lines,
                "{name} {preset} {form}: every document used or repeated"
            );
        }
    }
}

#[test]
fn captured_streams_match_the_oracle() {
    for name in [
        "debian-6.8.0p2-smtp-in.txt",
        "debian-6.8.0p2-smtp-out.txt",
        "debian-6.8.0p2-burst.txt",
    ] {
        check_stream(name, &captured(name));
    }
}

#[test]
fn generated_streams_match_the_oracle() {
    use gen_stream::Proto;
    for (version, seed) in [(Proto::V04, 3), (Proto::V06, 4), (Proto::V07, 5)] {
        let stream = generated(version, 1500, seed);
        let e = oracle::count(&String::from_utf8_lossy(&stream));
        // Figures that are all zero would match anything.
        assert!(
            e.auth_attempts > 0
                && e.replies_in.2 > 0
                && !e.refused_by_client.is_empty()
                && e.timeouts > 0,
            "{version:?}: {e:?}"
        );
        check_stream(&format!("gen-stream {version:?}"), &stream);
    }
}

/// smtp-out as mta_session.c reports it: a refused recipient is followed
/// by tx-rollback and tx-reset, and the same message goes on.
#[test]
fn outbound_refusals_match_the_oracle() {
    let sid = "aaaa000000000001";
    let events = [
        "link-connect|mx.remote.example|pass|192.0.2.1:40000|198.51.100.7:25",
        "link-greeting|mx.remote.example",
        "link-identify|EHLO|our.example",
        "link-tls|TLSv1.3:TLS_AES_256_GCM_SHA384:256",
        "tx-begin|11111111",
        "tx-mail|11111111|ok|alice@our.example",
        "protocol-client|RCPT TO:<bob@remote.example>",
        "protocol-server|450-4.2.0 mailbox busy",
        "protocol-server|450 4.2.0 try later",
        "tx-rcpt|11111111|tempfail|bob@remote.example",
        "tx-rollback|11111111",
        "tx-reset|11111111",
        "tx-rcpt|11111111|ok|carol@remote.example",
        "protocol-client|RCPT TO:<nobody@Remote.Example>",
        "protocol-server|550 5.1.1 no such user",
        "tx-rcpt|11111111|permfail|nobody@Remote.Example",
        "tx-rollback|11111111",
        "tx-reset|11111111",
        "tx-data|11111111|ok",
        "tx-commit|11111111|1234",
        "tx-reset|11111111",
        "tx-begin|22222222",
        "tx-mail|22222222|ok|alice@our.example",
        "protocol-client|RCPT TO:<dan@other.example>",
        "protocol-server|451 4.3.0 greylisted",
        "tx-rcpt|22222222|tempfail|dan@other.example",
        "tx-rollback|22222222",
        "tx-reset|22222222",
        "link-disconnect",
    ];
    let mut stream = Reports::new(1730001000, 0);
    stream.session("0.7", "smtp-out", sid, &events);
    // A connection that failed: smtpd reports only its link-disconnect.
    let mut stream = stream.0;
    stream.push_str("report|0.7|1730001001.000000|smtp-out|link-disconnect|aaaa000000000002\n");
    let expected = oracle::count(&stream);
    assert_eq!(
        (expected.outbound_deferred, expected.outbound_failed),
        (2, 1)
    );
    assert_eq!(expected.rollbacks, (3, 2));
    assert_eq!(expected.rollbacks_by_reply["450 4.2.0 try later"], 1);
    assert_eq!(expected.replies_out, (1, 2, 1));
    check_stream("smtp-out refusals", stream.as_bytes());
    let v = report_json(&documents(stream.as_bytes(), "summaries"), &[]);
    assert_eq!(v["sessions"]["smtp_out_partial"], 1);
    let by_domain = &v["outbound"]["by_domain"];
    assert_eq!(by_domain.as_array().unwrap().len(), 2, "{by_domain}");
    assert_eq!(v["relay_domains"][0]["domain"], "remote.example");
    assert_eq!(v["relay_domains"][0]["sessions_tls"], 1);
}

/// AUTH failures and reply classes, from the session counters: several
/// attempts with different users, multi-line replies, the local socket,
/// both protocol orders of link-auth, smtp-in and smtp-out.
#[test]
fn auth_failures_and_replies_match_the_oracle() {
    let mut stream = Reports::new(1730002000, 1);
    let a = "bbbb000000000001";
    stream.session(
        "0.7",
        "smtp-in",
        a,
        &[
            "link-connect|c1.example|pass|192.0.2.10:40001|192.0.2.1:25",
            "protocol-server|220 mx.example ESMTP",
            "link-auth|fail|bob",
            "protocol-server|535-5.7.8 first line",
            "protocol-server|535 5.7.8 Authentication failed",
            "link-auth|error|alice",
            "protocol-server|421 4.7.0 try later",
            "link-auth|pass|alice",
            "link-disconnect",
        ],
    );
    // The same client again, and the same user over the local socket.
    let b = "bbbb000000000002";
    stream.session(
        "0.6",
        "smtp-in",
        b,
        &[
            "link-connect|c1.example|pass|192.0.2.10:40002|192.0.2.1:25",
            "link-auth|alice|fail",
            "protocol-server|535 5.7.8 Authentication failed",
            "link-disconnect",
        ],
    );
    let c = "bbbb000000000003";
    stream.session(
        "0.6",
        "smtp-in",
        c,
        &[
            "link-connect|localhost|pass|unix:/var/run/smtpd.sock|unix:/var/run/smtpd.sock",
            "link-auth|alice|fail",
            "link-disconnect",
        ],
    );
    // A remote server that defers, then refuses.
    let d = "bbbb000000000004";
    stream.session(
        "0.7",
        "smtp-out",
        d,
        &[
            "link-connect|mx.remote.example|pass|192.0.2.1:40003|198.51.100.7:25",
            "protocol-server|220 mx.remote.example",
            "protocol-server|450-4.2.0 busy",
            "protocol-server|450 4.2.0 try later",
            "protocol-server|554 5.7.1 no",
            "link-disconnect",
        ],
    );
    // One address refused twice in a transaction counts once for it and its
    // domain (transactions per refused address, as the panels count).
    let e = "bbbb000000000005";
    stream.session(
        "0.7",
        "smtp-in",
        e,
        &[
            "link-connect|c2.example|pass|192.0.2.20:40004|192.0.2.1:25",
            "tx-begin|cccc0001",
            "tx-mail|cccc0001|ok|x@a.example",
            "tx-rcpt|cccc0001|permfail|u@Dom.example",
            "tx-rcpt|cccc0001|permfail|u@Dom.example",
            "tx-rcpt|cccc0001|tempfail|v@dom.example",
            "tx-rcpt|cccc0001|ok|w@ok.example",
            "tx-rollback|cccc0001",
            "link-disconnect",
        ],
    );
    // A session whose end smtpd never reported: the filter ends it
    // (session-unfinished); like the session panels, no figure has it.
    let f = "bbbb000000000006";
    stream.session(
        "0.7",
        "smtp-in",
        f,
        &[
            "link-connect|c3.example|pass|192.0.2.30:40005|192.0.2.1:25",
            "link-auth|fail|carol",
            "protocol-server|535 5.7.8 Authentication failed",
        ],
    );
    let stream = stream.0;
    let expected = oracle::count(&stream);
    assert_eq!(expected.sessions_in, 4, "{stream}");
    assert_eq!(expected.rcpt_refused, 3);
    assert_eq!(expected.refused_by_domain["dom.example"], 1);
    assert_eq!(expected.auth_attempts, 4, "{stream}");
    assert_eq!(expected.auth_by_user["alice"], (4, 3));
    assert_eq!(expected.auth_by_client["192.0.2.10"], (2, 3));
    assert_eq!(expected.replies_in, (2, 1, 2));
    assert_eq!(expected.replies_by_server["198.51.100.7"], (1, 1, 1));
    check_stream("AUTH failures and replies", stream.as_bytes());
    for preset in ["all", "summaries"] {
        let v = report_json(&documents(stream.as_bytes(), preset), &[]);
        assert_eq!(v["sessions"]["smtp_in_ended_by_filter"], 1, "{preset}");
        assert_eq!(v["refusals"]["by_address"][0]["key"], "u@Dom.example");
        assert_eq!(v["refusals"]["by_address"][0]["count"], 1);
    }
}

mod delivery;
mod docs;
mod input;
