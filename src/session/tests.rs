//! State after each event, driven through the real parser.

use super::*;
use crate::protocol::{parse_line, Fcrdns, Line, Subsystem, TxResult};

struct Run {
    table: SessionTable,
}

impl Run {
    fn new() -> Run {
        Run::with(Limits::default())
    }

    fn with(limits: Limits) -> Run {
        Run {
            table: SessionTable::new(limits),
        }
    }

    /// Applies `line` and returns a copy of the session and the event info flags.
    fn feed(&mut self, line: &str) -> (Session, u64, Option<bool>) {
        let Ok(Line::Report(r)) = parse_line(line.as_bytes()) else {
            panic!("not a report: {line}")
        };
        let snap = self.table.apply(&r);
        (
            snap.session.clone(),
            snap.event.sequence,
            snap.event.outcome,
        )
    }

    fn feed_all(&mut self, lines: &str) -> Session {
        let mut last = None;
        for line in lines.lines().filter(|l| !l.trim().is_empty()) {
            last = Some(self.feed(line.trim()).0);
        }
        last.unwrap()
    }
}

const CONNECT: &str =
    "report|0.6|1.000001|smtp-in|link-connect|00000000000000a1|mx.client.test|pass|192.0.2.7:4000|192.0.2.1:25";

fn in6(event: &str) -> String {
    format!("report|0.6|2.000000|smtp-in|{event}")
}

#[test]
fn link_facts() {
    let mut run = Run::new();
    let (s, seq, _) = run.feed(CONNECT);
    assert_eq!(seq, 1);
    assert!(!s.partial);
    assert_eq!(s.rdns.as_ref().unwrap().bytes(), b"mx.client.test");
    assert_eq!(s.fcrdns, Some(Fcrdns::Pass));
    assert_eq!(
        s.src,
        Some(Endpoint::Inet {
            ip: "192.0.2.7".parse().unwrap(),
            port: 4000
        })
    );
    let s = run.feed_all(&format!(
        "{}\n{}\n{}",
        in6("link-greeting|00000000000000a1|mx.test"),
        in6("link-identify|00000000000000a1|EHLO|client.test"),
        in6("link-tls|00000000000000a1|TLSv1.2:AECDH-AES256-SHA:256"),
    ));
    assert_eq!(s.greeting.as_ref().unwrap().bytes(), b"mx.test");
    // STARTTLS resets the greeting state: the client must EHLO again.
    assert_eq!(s.helo, None);
    let tls = s.tls.as_ref().unwrap();
    assert_eq!(
        (
            tls.protocol,
            tls.version.bytes(),
            tls.cipher.bytes(),
            tls.bits
        ),
        (
            Some("tls"),
            &b"1.2"[..],
            &b"AECDH-AES256-SHA"[..],
            Some(256)
        )
    );
    assert_eq!(s.counters.events, 4);
}

#[test]
fn unknown_rdns_is_absent() {
    let mut run = Run::new();
    let (s, _, _) =
        run.feed("report|0.6|1.0|smtp-in|link-connect|01|<unknown>|fail|[::1]:5|[::1]:25");
    assert_eq!(s.rdns, None);
    assert_eq!(s.fcrdns, Some(Fcrdns::Fail));
}

#[test]
fn a_whole_transaction_and_its_reset() {
    let mut run = Run::new();
    run.feed(CONNECT);
    let s = run.feed_all(
        &[
            in6("tx-begin|00000000000000a1|0badcafe"),
            in6("tx-mail|00000000000000a1|0badcafe|ok|alice@client.test"),
            in6("tx-envelope|00000000000000a1|0badcafe|0badcafe00000001"),
            in6("tx-rcpt|00000000000000a1|0badcafe|ok|bob@example.test"),
            in6("tx-rcpt|00000000000000a1|0badcafe|permfail|nobody@unknown.test"),
            in6("tx-data|00000000000000a1|0badcafe|ok"),
            in6("tx-commit|00000000000000a1|0badcafe|601"),
        ]
        .join("\n"),
    );
    let tx = s.tx.as_ref().unwrap();
    assert_eq!(tx.msgid, 0x0bad_cafe);
    assert!(!tx.partial);
    assert_eq!(tx.status, TxStatus::Committed);
    assert_eq!(
        tx.sender.as_ref().unwrap().address.bytes(),
        b"alice@client.test"
    );
    assert_eq!(tx.recipients.len(), 2);
    assert_eq!(tx.recipients[0].envelopes, vec![0x0bad_cafe_0000_0001]);
    assert!(tx.recipients[1].envelopes.is_empty());
    assert_eq!((tx.accepted, tx.refused), (1, 1));
    assert_eq!(
        tx.accepted_addresses().map(Text::bytes).collect::<Vec<_>>(),
        vec![&b"bob@example.test"[..]]
    );
    assert_eq!((tx.data, tx.size), (Some(TxResult::Ok), Some(601)));
    let c = s.counters;
    assert_eq!(
        (
            c.transactions,
            c.messages,
            c.recipients_accepted,
            c.recipients_refused,
            c.bytes
        ),
        (1, 1, 1, 1, 601)
    );
    let (s, _, _) = run.feed(&in6("tx-reset|00000000000000a1|0badcafe"));
    assert_eq!(s.tx, None);
    assert_eq!(s.counters.messages, 1, "session counters survive the reset");
}

#[test]
fn refused_mail_keeps_the_open_transaction() {
    let mut run = Run::new();
    run.feed(CONNECT);
    run.feed(&in6("tx-begin|00000000000000a1|00000001"));
    run.feed(&in6("tx-mail|00000000000000a1|00000001|ok|first@a.test"));
    let (s, _, outcome) = run.feed(&in6(
        "tx-mail|00000000000000a1|00000001|permfail|second@a.test",
    ));
    assert_eq!(outcome, Some(false));
    assert_eq!(
        s.tx.as_ref()
            .unwrap()
            .sender
            .as_ref()
            .unwrap()
            .address
            .bytes(),
        b"first@a.test"
    );
    // A refused MAIL without any transaction (msgid 00000000) opens none.
    let mut run = Run::new();
    run.feed(CONNECT);
    let (s, _, _) = run.feed(&in6("tx-mail|00000000000000a1|00000000|permfail|x@y"));
    assert_eq!(s.tx, None);
}

#[test]
fn tx_events_without_tx_begin_open_a_partial_transaction() {
    let mut run = Run::new();
    run.feed(CONNECT);
    let (s, _, _) = run.feed(&in6("tx-rcpt|00000000000000a1|000000aa|ok|a@b"));
    let tx = s.tx.unwrap();
    assert!(tx.partial);
    assert_eq!(tx.msgid, 0xaa);
}

#[test]
fn smtp_out_reset_after_a_refused_recipient_keeps_the_message() {
    let mut run = Run::new();
    let out = |e: &str| format!("report|0.7|3.0|smtp-out|{e}");
    run.feed(&out("tx-begin|00000000000000b2|3a9d0f17"));
    run.feed(&out("tx-mail|00000000000000b2|3a9d0f17|ok|a@b"));
    run.feed(&out("tx-rollback|00000000000000b2|3a9d0f17"));
    let (s, _, _) = run.feed(&out("tx-reset|00000000000000b2|3a9d0f17"));
    assert!(s.tx.is_some(), "smtpd goes on with the same message");
    run.feed(&out("tx-rcpt|00000000000000b2|3a9d0f17|permfail|x@y"));
    run.feed(&out("tx-commit|00000000000000b2|3a9d0f17|900"));
    let (s, _, _) = run.feed(&out("tx-reset|00000000000000b2|3a9d0f17"));
    assert_eq!(s.tx, None);
    assert!(s.partial);
}

#[test]
fn disconnect_forgets_the_session() {
    let mut run = Run::new();
    run.feed(CONNECT);
    assert_eq!(run.table.open_sessions(), 1);
    let (s, seq, _) = run.feed("report|0.6|9.0|smtp-in|link-disconnect|00000000000000a1");
    assert!(s.closed);
    assert_eq!(seq, 2);
    assert_eq!(run.table.open_sessions(), 0);
    // An event after the end starts a new, partial session, whose
    // sequence goes on: (subsystem, id, sequence) names one document.
    let (s, seq, _) = run.feed("report|0.6|9.5|smtp-in|protocol-client|00000000000000a1|NOOP");
    assert!(s.partial);
    assert_eq!(seq, 3);
    assert_eq!(s.counters.events, 1);
}

#[test]
fn subsystems_do_not_share_sessions() {
    let mut run = Run::new();
    run.feed(CONNECT);
    let (s, seq, _) = run.feed("report|0.6|1.0|smtp-out|link-greeting|00000000000000a1|x");
    assert_eq!(seq, 1);
    assert_eq!(s.key.subsystem, Subsystem::SmtpOut);
    assert_eq!(run.table.open_sessions(), 2);
}

#[test]
fn auth_secrets_are_masked_even_when_smtpd_did_not() {
    let mut run = Run::new();
    run.feed(CONNECT);
    let cmd = |run: &mut Run, c: &str| {
        run.feed(&in6(&format!("protocol-client|00000000000000a1|{c}")))
            .0
            .command
            .unwrap()
            .bytes()
            .to_vec()
    };
    let reply = |run: &mut Run, r: &str| {
        run.feed(&in6(&format!("protocol-server|00000000000000a1|{r}")))
            .0
            .response
            .unwrap()
            .bytes()
            .to_vec()
    };
    assert_eq!(
        cmd(&mut run, "AUTH PLAIN AGFsaWNlAHNlY3JldA=="),
        b"AUTH PLAIN ********"
    );
    reply(&mut run, "535 Authentication failed");
    assert_eq!(cmd(&mut run, "auth login YWxpY2U="), b"AUTH ********");
    // smtpd's 504 repeats what the client sent as the mechanism.
    assert_eq!(
        reply(&mut run, "504 5.5.4 AUTH method \"login\" not supported"),
        b"504 5.5.4"
    );
    assert_eq!(cmd(&mut run, "AUTH PLAIN ********"), b"AUTH PLAIN ********");
    // Every reply within an exchange keeps only its codes: a filter's
    // reject text, given the secret, would be smtpd's reply.
    assert_eq!(
        reply(&mut run, "235 2.0.0 Authentication succeeded"),
        b"235 2.0.0"
    );
    assert_eq!(cmd(&mut run, "NOOP"), b"NOOP");
    assert_eq!(reply(&mut run, "250 2.0.0 Ok"), b"250 2.0.0 Ok");
    assert_eq!(cmd(&mut run, "AUTH LOGIN"), b"AUTH LOGIN");
    // Until the AUTH command has its final reply, every line is a secret,
    // whether or not the 334 was reported.
    assert_eq!(cmd(&mut run, "YWxpY2U="), b"********");
    reply(&mut run, "334 VXNlcm5hbWU6");
    assert_eq!(cmd(&mut run, "YWxpY2U="), b"********");
    assert_eq!(reply(&mut run, "334 UGFzc3dvcmQ6"), b"334");
    assert_eq!(cmd(&mut run, "c2VjcmV0"), b"********");
    reply(&mut run, "535 Authentication failed");
    assert_eq!(cmd(&mut run, "QUIT"), b"QUIT");
}

#[test]
fn the_oldest_session_is_evicted_when_the_table_is_full() {
    let mut run = Run::with(Limits {
        max_sessions: 2,
        idle_timeout_secs: 0,
    });
    for id in 1..=3 {
        run.feed(&format!(
            "report|0.6|{id}.0|smtp-in|link-connect|{id:016x}|h|pass|1.2.3.4:5|6.7.8.9:25"
        ));
    }
    assert_eq!(run.table.open_sessions(), 2);
    let mut ended = Vec::new();
    run.table.drain_expired(|snap| {
        ended.push((
            snap.session.key.id,
            snap.event.expiry,
            snap.event.name.to_vec(),
        ))
    });
    assert_eq!(
        ended,
        vec![(1, Some(Expiry::Evicted), b"session-evicted".to_vec())]
    );
}

#[test]
fn idle_sessions_expire_by_the_stream_clock() {
    let mut run = Run::with(Limits {
        max_sessions: 10,
        idle_timeout_secs: 600,
    });
    run.feed("report|0.6|1000.0|smtp-out|link-connect|01|h|pass|1.2.3.4:5|6.7.8.9:25");
    run.feed("report|0.6|1500.0|smtp-in|link-connect|02|h|pass|1.2.3.4:5|6.7.8.9:25");
    run.table.sweep_idle();
    run.table.drain_expired(|_| panic!("nothing is idle yet"));
    run.feed("report|0.6|1700.0|smtp-in|protocol-client|02|NOOP");
    run.table.sweep_idle();
    let mut ended = Vec::new();
    run.table
        .drain_expired(|snap| ended.push((snap.session.key.id, snap.event.sequence)));
    assert_eq!(
        ended,
        vec![(1, 2)],
        "session 1 was idle 700 s; its final document is event 2"
    );
    assert_eq!(run.table.open_sessions(), 1);
}

#[test]
fn a_disconnect_for_an_unknown_session_evicts_nobody() {
    let mut run = Run::with(Limits {
        max_sessions: 2,
        idle_timeout_secs: 0,
    });
    for id in 1..=2 {
        run.feed(&format!(
            "report|0.7|{id}.0|smtp-out|link-connect|{id:016x}|h|pass|1.2.3.4:5|6.7.8.9:25"
        ));
    }
    // smtp-out's failed connection: a link-disconnect and nothing else.
    let (s, seq, _) = run.feed("report|0.7|3.0|smtp-out|link-disconnect|00000000000000ff");
    assert!(s.partial && s.closed);
    assert_eq!(seq, 1);
    assert_eq!(run.table.open_sessions(), 2);
    run.table
        .drain_expired(|snap| panic!("evicted {:x}", snap.session.key.id));
}

#[test]
fn smtp_out_reconnects_start_the_link_over_and_refused_recipients_do_not_end_the_message() {
    let mut run = Run::new();
    let out = |e: &str| format!("report|0.7|3.0|smtp-out|{e}");
    run.feed(&out(
        "link-connect|00000000000000b3|mx.example|pass|192.0.2.1:40000|198.51.100.2:25",
    ));
    run.feed(&out("link-auth|00000000000000b3|pass|relayuser"));
    run.feed(&out("protocol-client|00000000000000b3|QUIT"));
    run.feed(&out("timeout|00000000000000b3"));
    let (s, _, _) = run.feed(&out(
        "link-connect|00000000000000b3|mx.example|pass|192.0.2.1:40001|198.51.100.2:25",
    ));
    assert_eq!(
        (s.auth.is_none(), s.timed_out, s.command.is_none()),
        (true, false, true)
    );
    assert_eq!(s.counters.connects, 2);
    run.feed(&out("tx-begin|00000000000000b3|0000000a"));
    run.feed(&out("tx-rollback|00000000000000b3|0000000a"));
    run.feed(&out("tx-reset|00000000000000b3|0000000a"));
    let (s, _, _) = run.feed(&out("tx-rcpt|00000000000000b3|0000000a|permfail|x@y"));
    assert_eq!(
        s.tx.as_ref().unwrap().status,
        TxStatus::Open,
        "the message goes on"
    );
    let (s, _, _) = run.feed(&out("tx-rcpt|00000000000000b3|0000000a|ok|a@b"));
    let tx = s.tx.unwrap();
    assert_eq!((tx.status, tx.accepted, tx.refused), (TxStatus::Open, 1, 1));
}

#[test]
fn stored_recipients_are_bounded_over_all_sessions() {
    let mut run = Run::new();
    let sessions = MAX_STORED_RCPTS / caps::RCPTS + 2;
    for id in 1..=sessions {
        run.feed(&format!(
            "report|0.7|1.0|smtp-in|tx-begin|{id:016x}|0000000a"
        ));
        for r in 0..caps::RCPTS {
            run.feed(&format!(
                "report|0.7|1.0|smtp-in|tx-rcpt|{id:016x}|0000000a|permfail|r{r}@x"
            ));
        }
    }
    assert!(run.table.stored_rcpts <= MAX_STORED_RCPTS);
    let (s, _, _) = run.feed(&format!(
        "report|0.7|1.0|smtp-in|tx-data|{sessions:016x}|0000000a|ok"
    ));
    let tx = s.tx.unwrap();
    assert_eq!(tx.refused, caps::RCPTS as u64, "counts stay exact");
    assert!(tx.recipients.is_empty() && tx.was_cut());
    // Sessions ending give their share back.
    for id in 1..=sessions {
        run.feed(&format!("report|0.7|2.0|smtp-in|link-disconnect|{id:016x}"));
    }
    assert_eq!(run.table.stored_rcpts, 0);
}

#[test]
fn auth_failures_and_reply_classes_are_counted() {
    let mut run = Run::new();
    run.feed(CONNECT);
    for line in [
        "protocol-server|00000000000000a1|250-mx.test Hello",
        "protocol-server|00000000000000a1|550-first line",
        "protocol-server|00000000000000a1|550 5.7.1 last line",
        "protocol-server|00000000000000a1|421 4.7.0 later",
        "link-auth|00000000000000a1|alice|fail",
        "link-auth|00000000000000a1|alice|error",
        "link-auth|00000000000000a1|alice|pass",
    ] {
        run.feed(&in6(line));
    }
    let (s, _, _) = run.feed(&in6("protocol-server|00000000000000a1|250 ok"));
    let c = s.counters;
    assert_eq!((c.auth_failures, c.replies_4xx, c.replies_5xx), (2, 1, 1));
}

#[test]
fn edge_idle_sweep_is_o_expired_not_o_open() {
    // A sparse stream: 50,000 open sessions, then events a minute apart.
    // Each sweep may only pass what expires, not every open session.
    let mut run = Run::with(Limits {
        max_sessions: 60_000,
        idle_timeout_secs: 1_000_000,
    });
    run.feed("report|0.6|1000.0|smtp-in|link-connect|01|h|pass|1.2.3.4:5|6.7.8.9:25");
    for id in 2..50_002u64 {
        run.feed(&format!(
            "report|0.6|1500.0|smtp-in|link-connect|{id:016x}|h|pass|1.2.3.4:5|6.7.8.9:25"
        ));
    }
    let mut swept = std::time::Duration::ZERO;
    for minute in 1..=2_000u64 {
        let t = 1500 + 61 * minute;
        run.feed(&format!(
            "report|0.6|{t}.0|smtp-in|protocol-client|0000000000000002|NOOP"
        ));
        let started = std::time::Instant::now();
        run.table.sweep_idle();
        swept += started.elapsed();
    }
    run.table.drain_expired(|_| panic!("nothing is idle yet"));
    println!("2,000 sweeps over 50,000 open sessions: {swept:?}");
    // 2,000 scans of 50,000 sessions take seconds; 2,000 looks at the
    // front of a queue, microseconds.
    assert!(
        swept < std::time::Duration::from_millis(200),
        "2,000 sweeps over 50,000 open sessions took {swept:?}"
    );
    // Past the timeout, the idle ones go, the active one stays.
    run.feed("report|0.6|1002000.0|smtp-in|protocol-client|0000000000000002|NOOP");
    run.table.sweep_idle();
    let mut ended = 0;
    run.table.drain_expired(|_| ended += 1);
    assert_eq!(ended, 50_000);
    assert_eq!(run.table.open_sessions(), 1);
}
