//! Case tables: every event in every layout, the layout changes, `|` in free
//! text, empty fields, and the line-ending edges.

use super::*;

const SID: u64 = 0x5e1c_7a9d_3b2f_4e01;

fn report(line: &str) -> Report<'_> {
    match parse_line(line.as_bytes()) {
        Ok(Line::Report(r)) => r,
        other => panic!("{line:?} -> {other:?}"),
    }
}

fn event(line: &str) -> Event<'_> {
    report(line).event
}

fn err(line: &[u8]) -> ParseError {
    match parse_line(line) {
        Err(e) => e,
        ok => panic!("{line:?} parsed: {ok:?}"),
    }
}

macro_rules! cases {
    ($($name:ident: $line:expr => $expected:expr;)+) => {
        $(#[test] fn $name() { assert_eq!(event($line), $expected); })+
    };
}

cases! {
    link_connect_v4: "report|0.4|1570000000.000001|smtp-in|link-connect|5e1c7a9d3b2f4e01|mail.client.example|pass|203.0.113.7:49152|192.0.2.25:25"
        => Event::LinkConnect { rdns: b"mail.client.example", fcrdns: Fcrdns::Pass, src: b"203.0.113.7:49152", dest: b"192.0.2.25:25" };
    link_connect_v6_unknown_rdns: "report|0.6|1700000123.000001|smtp-in|link-connect|2b7f3c1e9a04e6c1|<unknown>|fail|[2001:db8::7]:50110|[2001:db8::25]:25"
        => Event::LinkConnect { rdns: b"<unknown>", fcrdns: Fcrdns::Fail, src: b"[2001:db8::7]:50110", dest: b"[2001:db8::25]:25" };
    link_connect_unix: "report|0.7|1730001000.006412|smtp-in|link-connect|5e1c7a9e71c0b3d4|mx.example.org|error|unix:/var/run/smtpd.sock|unix:/var/run/smtpd.sock"
        => Event::LinkConnect { rdns: b"mx.example.org", fcrdns: Fcrdns::Error, src: b"unix:/var/run/smtpd.sock", dest: b"unix:/var/run/smtpd.sock" };
    link_connect_bar_in_rdns: "report|0.7|1.000000|smtp-in|link-connect|01|a|b|pass|1.2.3.4:5|6.7.8.9:25"
        => Event::LinkConnect { rdns: b"a|b", fcrdns: Fcrdns::Pass, src: b"1.2.3.4:5", dest: b"6.7.8.9:25" };
    link_greeting: "report|0.7|1730000000.120155|smtp-in|link-greeting|5e1c7a9d3b2f4e01|mx.example.org"
        => Event::LinkGreeting { hostname: b"mx.example.org" };
    link_greeting_empty: "report|0.7|1730002000.011000|smtp-out|link-greeting|5e1c7a9f1b2d3e4f|"
        => Event::LinkGreeting { hostname: b"" };
    link_identify: "report|0.7|1730000000.161795|smtp-in|link-identify|5e1c7a9d3b2f4e01|EHLO|client.example"
        => Event::LinkIdentify { method: HeloMethod::Ehlo, identity: b"client.example" };
    link_identify_bar: "report|0.6|1.000000|smtp-in|link-identify|01|HELO|a|b"
        => Event::LinkIdentify { method: HeloMethod::Helo, identity: b"a|b" };
    link_identify_lhlo: "report|0.7|1.000000|smtp-out|link-identify|01|LHLO|me.example"
        => Event::LinkIdentify { method: HeloMethod::Lhlo, identity: b"me.example" };
    link_tls: "report|0.7|1730000000.262171|smtp-in|link-tls|5e1c7a9d3b2f4e01|TLSv1.3:TLS_AES_256_GCM_SHA384:256"
        => Event::LinkTls { tls: b"TLSv1.3:TLS_AES_256_GCM_SHA384:256" };
    link_auth_v4: "report|0.4|1.000000|smtp-in|link-auth|01|alice|pass"
        => Event::LinkAuth { username: b"alice", result: AuthResult::Pass };
    link_auth_v6: "report|0.6|1700000000.629717|smtp-in|link-auth|2b7f3c1e9a04d5b8|alice|error"
        => Event::LinkAuth { username: b"alice", result: AuthResult::Error };
    link_auth_v6_bar: "report|0.6|1686693352.000000|smtp-in|link-auth|cddac380a03fb936|VBA|spilWHHtemplateteams|fail"
        => Event::LinkAuth { username: b"VBA|spilWHHtemplateteams", result: AuthResult::Fail };
    link_auth_v7: "report|0.7|1730000000.345843|smtp-in|link-auth|5e1c7a9d3b2f4e01|pass|alice"
        => Event::LinkAuth { username: b"alice", result: AuthResult::Pass };
    link_auth_v7_bar: "report|0.7|1.000000|smtp-in|link-auth|01|fail|a|b|c"
        => Event::LinkAuth { username: b"a|b|c", result: AuthResult::Fail };
    link_auth_future_uses_newest: "report|0.10|1.000000|smtp-in|link-auth|01|pass|alice"
        => Event::LinkAuth { username: b"alice", result: AuthResult::Pass };
    link_auth_older_uses_oldest: "report|0.3|1.000000|smtp-in|link-auth|01|alice|pass"
        => Event::LinkAuth { username: b"alice", result: AuthResult::Pass };
    link_disconnect: "report|0.7|1730000000.767314|smtp-in|link-disconnect|5e1c7a9d3b2f4e01"
        => Event::LinkDisconnect {};
    link_disconnect_tolerates_payload: "report|0.7|1.000000|smtp-in|link-disconnect|01|junk"
        => Event::LinkDisconnect {};
    timeout: "report|0.6|1795465402.847760|smtp-in|timeout|813002564853ba1d"
        => Event::Timeout {};
    tx_reset: "report|0.7|1730000000.603162|smtp-in|tx-reset|5e1c7a9d3b2f4e01|8f3a2c41"
        => Event::TxReset { msgid: 0x8f3a2c41 };
    tx_begin: "report|0.6|1.000000|smtp-in|tx-begin|01|33a4a553"
        => Event::TxBegin { msgid: 0x33a4a553 };
    tx_mail_v4: "report|0.4|1570000000.000100|smtp-in|tx-mail|5e1c7a9d3b2f4e01|8f3a2c41|alice@client.example|ok"
        => Event::TxMail { msgid: 0x8f3a2c41, address: b"alice@client.example", result: TxResult::Ok };
    tx_mail_v4_bar: "report|0.4|1.000000|smtp-in|tx-mail|01|8f3a2c41|pi|pe@x|tempfail"
        => Event::TxMail { msgid: 0x8f3a2c41, address: b"pi|pe@x", result: TxResult::TempFail };
    tx_mail_v5_as_v4: "report|0.5|1.000000|smtp-in|tx-mail|01|8f3a2c41|a@b|ok"
        => Event::TxMail { msgid: 0x8f3a2c41, address: b"a@b", result: TxResult::Ok };
    tx_mail_v6: "report|0.6|1700000000.671416|smtp-in|tx-mail|2b7f3c1e9a04d5b8|c41e07a9|ok|alice@client.example"
        => Event::TxMail { msgid: 0xc41e07a9, address: b"alice@client.example", result: TxResult::Ok };
    tx_mail_v7_bounce: "report|0.7|1730000009.000000|smtp-in|tx-mail|5e1c7a9d3b2f4e01|8f3a2c41|ok|"
        => Event::TxMail { msgid: 0x8f3a2c41, address: b"", result: TxResult::Ok };
    tx_mail_v7_bar: "report|0.7|1.000000|smtp-in|tx-mail|01|00000000|permfail|a|b@c"
        => Event::TxMail { msgid: 0, address: b"a|b@c", result: TxResult::PermFail };
    tx_rcpt_v4: "report|0.4|1570000000.000200|smtp-in|tx-rcpt|5e1c7a9d3b2f4e01|8f3a2c41|nobody@example.org|permfail"
        => Event::TxRcpt { msgid: 0x8f3a2c41, address: b"nobody@example.org", result: TxResult::PermFail };
    tx_rcpt_v6: "report|0.6|1.000000|smtp-in|tx-rcpt|01|8f3a2c41|ok|bob@example.org"
        => Event::TxRcpt { msgid: 0x8f3a2c41, address: b"bob@example.org", result: TxResult::Ok };
    tx_rcpt_v7: "report|0.7|1730000000.471034|smtp-in|tx-rcpt|5e1c7a9d3b2f4e01|8f3a2c41|permfail|nobody@example.org"
        => Event::TxRcpt { msgid: 0x8f3a2c41, address: b"nobody@example.org", result: TxResult::PermFail };
    tx_envelope: "report|0.7|1.000000|smtp-in|tx-envelope|01|3a9d0f17|3a9d0f17b84e2c05"
        => Event::TxEnvelope { msgid: 0x3a9d0f17, evpid: 0x3a9d0f17b84e2c05 };
    tx_data: "report|0.7|1.000000|smtp-in|tx-data|01|3a9d0f17|tempfail"
        => Event::TxData { msgid: 0x3a9d0f17, result: TxResult::TempFail };
    tx_commit: "report|0.6|1795465105.462193|smtp-in|tx-commit|81300268bba53f6f|06d7dd7d|601"
        => Event::TxCommit { msgid: 0x06d7dd7d, size: 601 };
    tx_rollback: "report|0.7|1.000000|smtp-in|tx-rollback|01|06d7dd7d"
        => Event::TxRollback { msgid: 0x06d7dd7d };
    protocol_client_bar: "report|0.7|1.000000|smtp-in|protocol-client|01|MAIL FROM:<a|b@c> SIZE=1"
        => Event::ProtocolClient { command: b"MAIL FROM:<a|b@c> SIZE=1" };
    protocol_client_empty: "report|0.7|1.000000|smtp-in|protocol-client|01|"
        => Event::ProtocolClient { command: b"" };
    protocol_client_trailing_blanks: "report|0.7|1.000000|smtp-in|protocol-client|01|MAIL FROM:<root>  "
        => Event::ProtocolClient { command: b"MAIL FROM:<root>  " };
    protocol_server: "report|0.7|1.000000|smtp-in|protocol-server|01|250-mx.example.org Hello"
        => Event::ProtocolServer { response: b"250-mx.example.org Hello" };
    filter_report: "report|0.7|1730000000.500000|smtp-in|filter-report|5e1c7a9d3b2f4e01|builtin|tag_dyn_rdns|suspicious|rdns"
        => Event::FilterReport { kind: FilterKind::Builtin, name: b"tag_dyn_rdns", message: b"suspicious|rdns" };
    filter_response_proceed: "report|0.7|1730000000.120053|smtp-in|filter-response|5e1c7a9d3b2f4e01|connected|proceed"
        => Event::FilterResponse { phase: b"connected", decision: b"proceed", param: None };
    filter_response_reject: "report|0.7|1.000000|smtp-in|filter-response|01|rcpt-to|reject|550 go|away"
        => Event::FilterResponse { phase: b"rcpt-to", decision: b"reject", param: Some(b"550 go|away") };
    filter_response_report: "report|0.7|1.000000|smtp-in|filter-response|01|commit|report|spam score 7.2"
        => Event::FilterResponse { phase: b"commit", decision: b"report", param: Some(b"spam score 7.2") };
    unknown_event: "report|0.7|1.000000|smtp-in|link-teleport|01|a|b"
        => Event::Unknown { name: b"link-teleport", payload: Some(b"a|b") };
    unknown_event_no_payload: "report|0.9|1.000000|smtp-in|tx-undo|01"
        => Event::Unknown { name: b"tx-undo", payload: None };
}

#[test]
fn every_event_name_round_trips() {
    for &kind in EventKind::ALL {
        assert_eq!(EventKind::from_name(kind.name().as_bytes()), Some(kind));
    }
}

#[test]
fn header_fields() {
    let r = report("report|0.6|1700000000.000042|smtp-out|tx-begin|5e1c7a9d3b2f4e01|33a4a553");
    assert_eq!(r.version, Version::V0_6);
    assert_eq!(r.version_text, b"0.6");
    assert_eq!(
        r.time,
        Timestamp {
            secs: 1_700_000_000,
            micros: 42
        }
    );
    assert_eq!(r.subsystem, Subsystem::SmtpOut);
    assert_eq!(r.session, SID);
}

#[test]
fn crlf_and_config_lines() {
    assert_eq!(
        parse_line(b"config|smtpd-version|6.8.0p2\r"),
        Ok(Line::Config {
            key: b"smtpd-version",
            value: b"6.8.0p2"
        })
    );
    assert_eq!(
        parse_line(b"config|ready"),
        Ok(Line::Config {
            key: b"ready",
            value: b""
        })
    );
    assert_eq!(
        event("report|0.7|1.000000|smtp-in|protocol-client|01|QUIT\r"),
        Event::ProtocolClient { command: b"QUIT" }
    );
}

#[test]
fn non_utf8_payloads_are_kept_as_bytes() {
    let line = b"report|0.6|1.000000|smtp-in|link-identify|01|HELO|\xff\xfe.example";
    match parse_line(line) {
        Ok(Line::Report(r)) => assert_eq!(
            r.event,
            Event::LinkIdentify {
                method: HeloMethod::Helo,
                identity: b"\xff\xfe.example"
            }
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn malformed_lines_are_typed_errors() {
    let cases: &[(&[u8], ParseError)] = &[
        (b"", ParseError::Empty),
        (b"\r", ParseError::Empty),
        (b"filter|0.7|x", ParseError::UnknownLineType),
        (b"report", ParseError::UnknownLineType),
        (b"report|0.7|1.0|smtp-in", ParseError::ShortHeader),
        (b"report|0.7|1.0|smtp-in|tx-begin", ParseError::ShortHeader),
        (
            b"report|x.y|1.0|smtp-in|tx-begin|01|00000001",
            ParseError::Version,
        ),
        (
            b"report|0.7|now|smtp-in|tx-begin|01|00000001",
            ParseError::Timestamp,
        ),
        (
            b"report|0.7|1.|smtp-in|tx-begin|01|00000001",
            ParseError::Timestamp,
        ),
        // Year 33658: no RFC 3339 date, and Elasticsearch would refuse it.
        (
            b"report|0.7|999999999999.000000|smtp-in|tx-begin|01|00000001",
            ParseError::Timestamp,
        ),
        (
            b"report|0.7|253402300800.000000|smtp-in|tx-begin|01|00000001",
            ParseError::Timestamp,
        ),
        (
            b"report|0.7|1.0|smtp-sideways|tx-begin|01|00000001",
            ParseError::Subsystem,
        ),
        (
            b"report|0.7|1.0|smtp-in|tx-begin|zz|00000001",
            ParseError::SessionId,
        ),
        (
            b"report|0.7|1.0|smtp-in|tx-begin||00000001",
            ParseError::SessionId,
        ),
        (
            b"report|0.7|1.0|smtp-in|tx-begin|00000000000000001|00000001",
            ParseError::SessionId,
        ),
        (
            b"report|0.7|1.0|smtp-in|tx-begin|01",
            ParseError::MissingField,
        ),
        (
            b"report|0.7|1.0|smtp-in|tx-begin|01|xyz",
            ParseError::Number,
        ),
        (
            b"report|0.7|1.0|smtp-in|tx-begin|01|123456789",
            ParseError::Number,
        ),
        (
            b"report|0.7|1.0|smtp-in|tx-commit|01|00000001|-5",
            ParseError::Number,
        ),
        (
            b"report|0.7|1.0|smtp-in|tx-mail|01|00000001|ok",
            ParseError::MissingField,
        ),
        (
            b"report|0.7|1.0|smtp-in|tx-mail|01|00000001|maybe|a@b",
            ParseError::Value,
        ),
        (
            b"report|0.7|1.0|smtp-in|link-connect|01|a|pass|b",
            ParseError::MissingField,
        ),
        (
            b"report|0.7|1.0|smtp-in|link-connect|01|a|perhaps|b|c",
            ParseError::Value,
        ),
        (
            b"report|0.7|1.0|smtp-in|link-identify|01|SHOUT|a",
            ParseError::Value,
        ),
    ];
    for (line, expected) in cases {
        assert_eq!(err(line), *expected, "{:?}", String::from_utf8_lossy(line));
    }
}

#[test]
fn handshake_registers_what_smtpd_offered() {
    let run = |lines: &[&str]| {
        let mut h = Handshake::default();
        let mut reg = None;
        for l in lines {
            if let Ok(Line::Config { key, value }) = parse_line(l.as_bytes()) {
                reg = h.feed(key, value);
            }
        }
        reg.map(|r| r.lines().join("\n"))
    };
    // 6.6: no subsystem lines.
    assert_eq!(
        run(&[
            "config|smtpd-version|6.6.0",
            "config|smtp-session-timeout|300",
            "config|ready"
        ])
        .as_deref(),
        Some("register|report|smtp-in|*\nregister|ready")
    );
    // 7.6+: protocol and admd keys are ignored; both subsystems.
    assert_eq!(
        run(&[
            "config|smtpd-version|7.6.0",
            "config|protocol|0.7",
            "config|smtp-session-timeout|300",
            "config|subsystem|smtp-in",
            "config|subsystem|smtp-out",
            "config|admd|mx.example.org",
            "config|some-future-key|x|y",
            "config|ready",
        ])
        .as_deref(),
        Some("register|report|smtp-in|*\nregister|report|smtp-out|*\nregister|ready")
    );
    // Attached to a relay action only.
    assert_eq!(
        run(&["config|subsystem|smtp-out", "config|ready"]).as_deref(),
        Some("register|report|smtp-out|*\nregister|ready")
    );
    assert_eq!(run(&["config|subsystem|smtp-in"]), None);
    // Only the first config|ready registers.
    assert_eq!(
        run(&["config|ready", "config|subsystem|smtp-out", "config|ready"]),
        None
    );
}

#[test]
fn every_prefix_of_a_line_parses_or_errs_without_panicking() {
    let line = b"report|0.4|1570000000.000100|smtp-in|tx-mail|5e1c7a9d3b2f4e01|8f3a2c41|alice@client.example|ok";
    for end in 0..=line.len() {
        let _ = parse_line(&line[..end]);
    }
}

#[test]
fn the_last_rfc3339_second_is_a_timestamp() {
    assert_eq!(
        Timestamp::parse(b"253402300799.999999"),
        Ok(Timestamp {
            secs: Timestamp::MAX_SECS,
            micros: 999_999
        })
    );
}
