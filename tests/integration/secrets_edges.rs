//! Secrets at the edges of the session state, found by an adversarial
//! review after the form table of `secrets.rs`: a session the filter lost
//! and met again mid-exchange (evicted, expired, connected twice), bytes
//! before `AUTH` that smtpd refuses but reports as sent, and event names
//! that are not smtpd's.

use crate::util::{both_modes, documents, get, run, temp};

/// The password as the client answers a 334, and `AUTH <base64>` that smtpd
/// reports in clear and its 504 repeats.
const ANSWER: &str = "U2VjcmV0UGFzcw==";
const NEEDLES: &[&str] = &[ANSWER, "U2VjcmV0", "SecretPass"];

fn line(t: u32, sid: &str, event: &str, rest: &str) -> String {
    format!("report|0.7|1700000000.{t:06}|smtp-in|{event}|{sid}|{rest}\n")
}

fn connect(t: u32, sid: &str) -> String {
    line(
        t,
        sid,
        "link-connect",
        "c.test|pass|192.0.2.7:4000|192.0.2.1:25",
    )
}

fn assert_clean(written: &[u8], stderr: &[u8], case: &str) {
    let written = String::from_utf8_lossy(written);
    let stderr = String::from_utf8_lossy(stderr);
    for needle in NEEDLES {
        assert!(!written.contains(needle), "{needle} written: {case}");
        assert!(!stderr.contains(needle), "{needle} on stderr: {case}");
    }
}

/// The commands the documents of session `sid` show.
fn commands(docs: &[serde_json::Value], sid: &str) -> Vec<String> {
    docs.iter()
        .filter(|d| get(d, "opensmtpd.session.id") == format!("{:0>16}", sid).as_str())
        .filter_map(|d| d.pointer("/opensmtpd/command"))
        .map(|c| c.as_str().unwrap_or_default().to_string())
        .collect()
}

/// AUTH LOGIN asked for the password, then the session left the table
/// (other sessions filled it), then the answer came: the filter meets the
/// session anew and cannot know it is inside an exchange.
fn evicted_between_334_and_answer() -> String {
    let mut s = connect(1, "a1");
    s += &line(2, "a1", "protocol-client", "AUTH LOGIN");
    s += &line(3, "a1", "protocol-server", "334 VXNlcm5hbWU6");
    for (i, sid) in ["b1", "b2", "b3"].iter().enumerate() {
        s += &connect(4 + i as u32, sid);
    }
    s += &line(8, "a1", "protocol-client", ANSWER);
    s += &line(
        9,
        "a1",
        "protocol-server",
        "235 2.0.0 Authentication succeeded",
    );
    s += &line(10, "a1", "protocol-client", "QUIT");
    s
}

/// `AUTH <base64>` masked, then the session evicted before smtpd's 504,
/// which repeats the base64.
fn evicted_between_auth_and_reply() -> String {
    let mut s = connect(1, "a1");
    s += &line(2, "a1", "protocol-client", &format!("AUTH {ANSWER}"));
    for (i, sid) in ["b1", "b2", "b3"].iter().enumerate() {
        s += &connect(3 + i as u32, sid);
    }
    s += &line(
        7,
        "a1",
        "protocol-server",
        &format!("504 5.5.4 AUTH method \"{ANSWER}\" not supported"),
    );
    s
}

#[test]
fn a_session_evicted_mid_exchange_keeps_its_secrets() {
    for (case, input) in [
        ("answer", evicted_between_334_and_answer()),
        ("504 echo", evicted_between_auth_and_reply()),
    ] {
        let out = both_modes(&["--max-sessions", "2"], input.as_bytes());
        assert!(
            out.docs
                .iter()
                .any(|d| get(d, "event.action") == "session-evicted"),
            "{case}: the session was evicted"
        );
        assert_clean(&out.written, &out.stderr, case);
    }
    // After the exchange's final reply the met-again session is in clear.
    let out = both_modes(
        &["--max-sessions", "2"],
        evicted_between_334_and_answer().as_bytes(),
    );
    let shown = commands(&out.docs, "a1");
    assert!(shown.contains(&"********".to_string()), "{shown:?}");
    assert!(shown.contains(&"QUIT".to_string()), "{shown:?}");
}

#[test]
fn a_session_expired_mid_exchange_keeps_its_secrets() {
    // Replay only: filter mode expires by the local clock.
    let mut s = connect(1, "a1");
    s += &line(2, "a1", "protocol-client", "AUTH LOGIN");
    s += &line(3, "a1", "protocol-server", "334 VXNlcm5hbWU6");
    s += "report|0.7|1700000400.000000|smtp-in|link-connect|b1|c.test|pass|192.0.2.7:4000|192.0.2.1:25\n";
    s += &format!("report|0.7|1700000400.500000|smtp-in|protocol-client|a1|{ANSWER}\n");
    let out = run(&["replay", "--idle-timeout", "300"], s.as_bytes());
    assert!(out.status.success());
    let docs = documents(&out.stdout);
    assert!(
        docs.iter()
            .any(|d| get(d, "event.action") == "session-expired"),
        "the session expired"
    );
    assert_eq!(commands(&docs, "a1").last().unwrap(), "********");
    assert_clean(&out.stdout, &out.stderr, "expired");
}

#[test]
fn a_second_link_connect_does_not_end_an_exchange() {
    // smtp-in connects first and once; a connect after other events (out
    // of order, or the filter started late) must not reopen clear text.
    let twice = {
        let mut s = connect(1, "a1");
        s += &line(2, "a1", "protocol-client", "AUTH LOGIN");
        s += &line(3, "a1", "protocol-server", "334 VXNlcm5hbWU6");
        s += &connect(4, "a1");
        s += &line(5, "a1", "protocol-client", ANSWER);
        s
    };
    let late = {
        let mut s = line(1, "a1", "protocol-client", "AUTH LOGIN");
        s += &line(2, "a1", "protocol-server", "334 VXNlcm5hbWU6");
        s += &connect(3, "a1");
        s += &line(4, "a1", "protocol-client", ANSWER);
        s
    };
    for (case, input) in [("twice", twice), ("late", late)] {
        let out = both_modes(&[], input.as_bytes());
        assert_eq!(commands(&out.docs, "a1").last().unwrap(), "********");
        assert_clean(&out.written, &out.stderr, case);
    }
}

#[test]
fn bytes_before_auth_do_not_unmask_it() {
    // smtpd takes the verb up to the first space, refuses these with a 500
    // and reports them as sent: the secret is in the line all the same.
    let key = temp("edges-key");
    std::fs::write(&key, "a secret of more than sixteen bytes\n").unwrap();
    let key = key.to_str().unwrap().to_string();
    let prefixes: &[&[u8]] = &[
        b"\xef\xbb\xbf",
        b"\xc2\xa0",
        b"\xa0",
        b"*",
        b".",
        b"\"",
        b"\x1b[0m",
        b"<",
        b"x",
        b"9",
    ];
    for option in [
        &[][..],
        &["--address-privacy", "hash", "--hash-key-file", &key][..],
    ] {
        for prefix in prefixes {
            let mut input = connect(1, "a1").into_bytes();
            input.extend_from_slice(b"report|0.7|1700000000.000002|smtp-in|protocol-client|a1|");
            input.extend_from_slice(prefix);
            input.extend_from_slice(format!("AUTH PLAIN {ANSWER}\n").as_bytes());
            input.extend_from_slice(
                line(3, "a1", "protocol-server", "500 5.5.1 Invalid command").as_bytes(),
            );
            let out = both_modes(option, &input);
            assert!(
                commands(&out.docs, "a1").len() >= 2,
                "the line made documents"
            );
            assert_clean(
                &out.written,
                &out.stderr,
                &format!("{:?} {option:?}", prefix.escape_ascii().to_string()),
            );
        }
    }
}

#[test]
fn an_unknown_event_is_named_only_in_smtpds_shape() {
    let mut input = connect(1, "a1");
    input += &line(2, "a1", ANSWER, "x");
    input += &line(3, "a1", "link-rewind", "x");
    let out = both_modes(&[], input.as_bytes());
    assert_clean(&out.written, &out.stderr, "event name");
    let actions: Vec<&str> = out
        .docs
        .iter()
        .map(|d| get(d, "event.action").as_str().unwrap())
        .take(3)
        .collect();
    assert_eq!(actions, ["link-connect", "<other>", "link-rewind"]);
}

#[test]
fn a_filter_report_during_an_exchange_is_masked() {
    // A filter's auth phase is given the AUTH arguments; what it reports
    // before the exchange's final reply may repeat them.
    let mut input = connect(1, "a1");
    input += &line(2, "a1", "protocol-client", "AUTH PLAIN ********");
    input += &line(
        3,
        "a1",
        "filter-report",
        &format!("proc|authlog|auth args: PLAIN {ANSWER}"),
    );
    input += &line(4, "a1", "filter-response", "auth|proceed");
    input += &line(5, "a1", "protocol-server", "235 2.0.0 ok");
    input += &line(6, "a1", "filter-report", "proc|authlog|after the exchange");
    let out = both_modes(&[], input.as_bytes());
    assert_clean(&out.written, &out.stderr, "filter-report");
    let messages: Vec<&str> = out
        .docs
        .iter()
        .filter(|d| get(d, "event.action") == "filter-report")
        .map(|d| get(d, "opensmtpd.filter.report.message").as_str().unwrap())
        .collect();
    assert_eq!(messages, ["********", "after the exchange"]);
}

#[test]
fn a_reply_within_an_exchange_keeps_only_its_codes() {
    // smtpd masked the AUTH line itself, so nothing was hidden that its
    // own reply could repeat; but a filter's reject text is the reply, and
    // the filter was given the secret.
    let mut input = connect(1, "a1");
    input += &line(2, "a1", "protocol-client", "AUTH PLAIN ********");
    input += &line(
        3,
        "a1",
        "filter-response",
        &format!("auth|reject|535 5.7.8 bad {ANSWER}"),
    );
    input += &line(
        4,
        "a1",
        "protocol-server",
        &format!("535 5.7.8 bad {ANSWER}"),
    );
    input += &line(5, "a1", "protocol-client", "NOOP");
    input += &line(6, "a1", "protocol-server", "250 2.0.0 Ok");
    let out = both_modes(&[], input.as_bytes());
    assert_clean(&out.written, &out.stderr, "reject text");
    let responses: Vec<&str> = out
        .docs
        .iter()
        .filter(|d| get(d, "event.action") == "protocol-server")
        .map(|d| get(d, "opensmtpd.response").as_str().unwrap())
        .collect();
    assert_eq!(responses, ["535 5.7.8", "250 2.0.0 Ok"]);
}
