//! Secrets and personal data through the binary, as a hostile client would
//! send them: every AUTH form we can think of, in replay and filter mode,
//! under every privacy option; no secret may reach a document or stderr,
//! and under a privacy option no address or user name either.

use crate::util::{base64, both_modes, temp};

/// One AUTH attempt: the lines of the exchange (`C:` client, `S:` server)
/// with `{plain}`, `{user}`, `{pass}`, … standing for the session's secrets.
const FORMS: &[&[&str]] = &[
    // PLAIN with an initial response, every separator and case.
    &[
        "C:AUTH PLAIN {plain}",
        "S:235 2.0.0 Authentication succeeded",
    ],
    &[
        "C:AUTH PLAIN\t{plain}",
        "S:235 2.0.0 Authentication succeeded",
    ],
    &[
        "C:AUTH  PLAIN   {plain}",
        "S:235 2.0.0 Authentication succeeded",
    ],
    &[
        "C:auth plain {plain}",
        "S:235 2.0.0 Authentication succeeded",
    ],
    &["C:Auth Plain\t{plain}", "S:535 5.7.8 Authentication failed"],
    &["C:AUTH\tPLAIN\t{plain}", "S:500 5.5.1 Invalid command"],
    &["C:AUTH PLAIN\x0b{plain}", "S:501 5.5.4 Syntax error"],
    &["C:AUTH PLAIN\x0c{plain}", "S:501 5.5.4 Syntax error"],
    &["C:AUTH PLAIN\r{plain}", "S:501 5.5.4 Syntax error"],
    &["C:AUTH PLAIN\x00{plain}", "S:501 5.5.4 Syntax error"],
    &["C: AUTH PLAIN {plain}", "S:500 5.5.1 Invalid command"],
    &["C:\tAUTH PLAIN {plain}", "S:500 5.5.1 Invalid command"],
    &[
        "C:AUTH PLAIN {plain_nopad}",
        "S:535 5.7.8 Authentication failed",
    ],
    &[
        "C:AUTH PLAIN={plain}",
        "S:504 5.5.4 AUTH method \"PLAIN={plain}\" not supported",
    ],
    &["C:AUTH=PLAIN {plain}", "S:500 5.5.1 Invalid command"],
    &["C:AUTH:PLAIN {plain}", "S:500 5.5.1 Invalid command"],
    &["C:AUTH PLAIN {plain} ", "S:535 5.7.8 Authentication failed"],
    // No mechanism at all: smtpd's 504 repeats what came instead.
    &[
        "C:AUTH {plain}",
        "S:504 5.5.4 AUTH method \"{plain}\" not supported",
    ],
    &[
        "C:AUTH {plain_nopad}",
        "S:504 5.5.4 AUTH method \"{plain_nopad}\" not supported",
    ],
    &[
        "C:AUTH    {plain}",
        "S:504 5.5.4 AUTH method \"{plain}\" not supported",
    ],
    &["C:AUTH\x00{plain}", "S:500 5.5.1 Invalid command"],
    &[
        "C:AUTH {pass}",
        "S:504 5.5.4 AUTH method \"{pass}\" not supported",
    ],
    // PLAIN answering a 334, whether smtpd masked the answer or not, and
    // whether or not the 334 itself was reported.
    &[
        "C:AUTH PLAIN",
        "S:334 ",
        "C:{plain}",
        "S:235 2.0.0 Authentication succeeded",
    ],
    &[
        "C:AUTH PLAIN",
        "S:334 ",
        "C:********",
        "S:535 5.7.8 Authentication failed",
    ],
    &[
        "C:AUTH PLAIN",
        "C:{plain}",
        "S:235 2.0.0 Authentication succeeded",
    ],
    &[
        "C:AUTH PLAIN =",
        "S:334 ",
        "C:{plain}",
        "S:535 5.7.8 Authentication failed",
    ],
    &[
        "C:AUTH PLAIN",
        "S:334 ",
        "C:{plain}",
        "S:501 5.5.2 {plain} bad",
    ],
    // LOGIN.
    &[
        "C:AUTH LOGIN {user}",
        "S:334 UGFzc3dvcmQ6",
        "C:{pass64}",
        "S:235 2.0.0 Authentication succeeded",
    ],
    &[
        "C:AUTH LOGIN\t{user}",
        "S:334 UGFzc3dvcmQ6",
        "C:{pass64}",
        "S:535 5.7.8 Authentication failed",
    ],
    &[
        "C:auth login {user}",
        "S:334 UGFzc3dvcmQ6",
        "C:{pass64}",
        "S:235 2.0.0 Authentication succeeded",
    ],
    &[
        "C:AUTH LOGIN",
        "S:334 VXNlcm5hbWU6",
        "C:{user}",
        "S:334 UGFzc3dvcmQ6",
        "C:{pass64}",
        "S:535 5.7.8 Authentication failed",
    ],
    &["C:AUTH\tLOGIN\t{user}", "S:500 5.5.1 Invalid command"],
    &[
        "C:AUTH LOGIN  {user}  ",
        "S:334 UGFzc3dvcmQ6",
        "C:{pass}",
        "S:535 5.7.8 Authentication failed",
    ],
    &[
        "C:AUTH LOGIN {user_nopad}",
        "S:334 UGFzc3dvcmQ6",
        "C:{pass64}",
        "S:235 2.0.0 Authentication succeeded",
    ],
    &["C:AUTH=LOGIN {user}", "S:500 5.5.1 Invalid command"],
    &[
        "C:AUTH LOGIN",
        "C:{user}",
        "C:{pass64}",
        "S:535 5.7.8 Authentication failed",
    ],
    // XOAUTH2, OAUTHBEARER.
    &[
        "C:AUTH XOAUTH2 {xoauth2}",
        "S:504 5.5.4 AUTH method \"XOAUTH2\" not supported",
    ],
    &[
        "C:AUTH XOAUTH2\t{xoauth2}",
        "S:504 5.5.4 AUTH method \"XOAUTH2\" not supported",
    ],
    &[
        "C:auth xoauth2 {xoauth2}",
        "S:504 5.5.4 AUTH method \"xoauth2\" not supported",
    ],
    &[
        "C:AUTH XOAUTH2",
        "S:334 ",
        "C:{xoauth2}",
        "S:235 2.0.0 Authentication succeeded",
    ],
    &[
        "C:AUTH OAUTHBEARER {oauthbearer}",
        "S:235 2.0.0 Authentication succeeded",
    ],
    &[
        "C:AUTH OAUTHBEARER",
        "S:334 ",
        "C:{oauthbearer}",
        "S:535 5.7.8 Authentication failed",
    ],
    // CRAM-MD5, SCRAM, DIGEST-MD5, NTLM, GSSAPI.
    &[
        "C:AUTH CRAM-MD5",
        "S:334 PDEyMzQ1QG14LmV4YW1wbGU+",
        "C:{cram}",
        "S:235 2.0.0 Authentication succeeded",
    ],
    &[
        "C:AUTH CRAM-MD5 {cram}",
        "S:504 5.5.4 AUTH method \"CRAM-MD5\" not supported",
    ],
    &[
        "C:AUTH SCRAM-SHA-256 {scram1}",
        "S:334 cj1ub25jZSxzPXNhbHQsaT00MDk2",
        "C:{scram2}",
        "S:334 dj1zaWc=",
        "C:",
        "S:235 2.0.0 Authentication succeeded",
    ],
    &[
        "C:AUTH SCRAM-SHA-256",
        "S:334 ",
        "C:{scram1}",
        "S:535 5.7.8 Authentication failed",
    ],
    &[
        "C:AUTH DIGEST-MD5",
        "S:334 bm9uY2U9IjEyMyI=",
        "C:{digest}",
        "S:535 5.7.8 Authentication failed",
    ],
    &[
        "C:AUTH NTLM {ntlm}",
        "S:504 5.5.4 AUTH method \"NTLM\" not supported",
    ],
    &[
        "C:AUTH GSSAPI {ntlm}",
        "S:504 5.5.4 AUTH method \"GSSAPI\" not supported",
    ],
    // Pipelined after AUTH before its reply, and a cancelled exchange.
    &[
        "C:AUTH PLAIN",
        "C:{plain}",
        "C:MAIL FROM:<x@y>",
        "S:501 5.5.2 bad",
    ],
    &[
        "C:AUTH LOGIN",
        "S:334 VXNlcm5hbWU6",
        "C:*",
        "S:501 5.7.0 Authentication cancelled",
    ],
];

struct Secrets {
    user: String,
    pass: String,
    values: Vec<(&'static str, String)>,
}

fn secrets(i: usize) -> Secrets {
    let user = format!("zuser{i:02}q");
    let pass = format!("Pw-{i:02}-hunter2-x");
    let plain = base64(format!("\0{user}\0{pass}").as_bytes());
    let values = vec![
        ("{plain}", plain.clone()),
        ("{plain_nopad}", plain.trim_end_matches('=').to_string()),
        ("{user}", base64(user.as_bytes())),
        (
            "{user_nopad}",
            base64(user.as_bytes()).trim_end_matches('=').to_string(),
        ),
        ("{pass64}", base64(pass.as_bytes())),
        ("{pass}", pass.clone()),
        (
            "{xoauth2}",
            base64(format!("user={user}\x01auth=Bearer {pass}\x01\x01").as_bytes()),
        ),
        (
            "{oauthbearer}",
            base64(format!("n,a={user},\x01auth=Bearer {pass}\x01\x01").as_bytes()),
        ),
        ("{cram}", base64(format!("{user} {pass}").as_bytes())),
        (
            "{scram1}",
            base64(format!("n,,n={user},r={pass}").as_bytes()),
        ),
        (
            "{scram2}",
            base64(format!("c=biws,r={pass},p=proof").as_bytes()),
        ),
        (
            "{digest}",
            base64(format!("username=\"{user}\",response={pass}").as_bytes()),
        ),
        (
            "{ntlm}",
            base64(format!("NTLMSSP\0{user}{pass}").as_bytes()),
        ),
    ];
    Secrets { user, pass, values }
}

/// The needles of a session: the password, every encoded secret, and the
/// first 8 characters of each (a mask that kept part of one is a leak).
fn secret_needles(s: &Secrets) -> Vec<String> {
    let mut needles = vec![s.pass.clone()];
    for (name, value) in &s.values {
        if *name == "{pass}" {
            continue;
        }
        needles.push(value.clone());
        needles.push(value.chars().take(8).collect());
    }
    needles
}

fn report(out: &mut String, t: &mut u32, sid: usize, event: &str, rest: &str) {
    *t += 1;
    out.push_str(&format!(
        "report|0.6|1700000000.{t:06}|smtp-in|{event}|{sid:016x}|{rest}\n"
    ));
}

/// The local parts, domain and user names that privacy options must hide.
struct People {
    local: String,
    rcpt_local: String,
    domain: String,
}

fn people(i: usize) -> People {
    People {
        local: format!("xsender{i:02}k"),
        rcpt_local: format!("xrcpt{i:02}k"),
        domain: format!("priv{i:02}dom.test"),
    }
}

/// A session for AUTH form `i`, then a transaction that names people in
/// every place a hostile client or a filter can put them.
fn session(i: usize, form: &[&str], out: &mut String) {
    let s = secrets(i);
    let p = people(i);
    let sid = 0xa000 + i;
    let mut t = 0;
    let sender = format!("{}@{}", p.local, p.domain);
    let rcpt = format!("{}@{}", p.rcpt_local, p.domain);
    report(
        out,
        &mut t,
        sid,
        "link-connect",
        "client.test|pass|192.0.2.7:4000|192.0.2.1:25",
    );
    report(out, &mut t, sid, "link-greeting", "mx.test");
    report(out, &mut t, sid, "protocol-client", "EHLO client.test");
    report(out, &mut t, sid, "link-identify", "EHLO|client.test");
    report(out, &mut t, sid, "protocol-server", "250 HELP");
    for step in form {
        let mut line = step[2..].to_string();
        for (name, value) in &s.values {
            line = line.replace(name, value);
        }
        let event = if step.starts_with("C:") {
            "protocol-client"
        } else {
            "protocol-server"
        };
        report(out, &mut t, sid, event, &line);
    }
    report(out, &mut t, sid, "link-auth", &format!("{}|fail", s.user));
    // People, named where a privacy option must still hide them.
    for command in [
        format!("MAIL FROM:<{sender}> SIZE=10"),
        sender.clone(),
        format!("VRFY,{sender}"),
        format!("RCPT>{rcpt}"),
        format!("  RCPT TO:<{rcpt}>"),
        format!("VRFY {}", s.user),
    ] {
        report(out, &mut t, sid, "protocol-client", &command);
        report(
            out,
            &mut t,
            sid,
            "protocol-server",
            &format!("550 5.1.1 <{rcpt}>: no {}", s.user),
        );
    }
    report(
        out,
        &mut t,
        sid,
        "protocol-client",
        &format!("HELO {sender}"),
    );
    report(out, &mut t, sid, "link-identify", &format!("HELO|{sender}"));
    report(out, &mut t, sid, "tx-begin", "0000abcd");
    report(
        out,
        &mut t,
        sid,
        "tx-mail",
        &format!("0000abcd|ok|{sender}"),
    );
    report(
        out,
        &mut t,
        sid,
        "filter-response",
        &format!("rcpt-to|{rcpt}"),
    );
    report(
        out,
        &mut t,
        sid,
        "filter-response",
        &format!("{rcpt}|proceed"),
    );
    report(
        out,
        &mut t,
        sid,
        "filter-response",
        &format!("rcpt-to|reject|550 5.7.1 {rcpt} no"),
    );
    report(
        out,
        &mut t,
        sid,
        "filter-response",
        &format!("rcpt-to|rewrite|{rcpt}"),
    );
    report(
        out,
        &mut t,
        sid,
        "filter-report",
        &format!("proc|rspamd|{rcpt} {}", s.user),
    );
    report(
        out,
        &mut t,
        sid,
        "tx-rcpt",
        &format!("0000abcd|permfail|{rcpt}"),
    );
    report(out, &mut t, sid, "tx-reset", "0000abcd");
    report(out, &mut t, sid, "protocol-client", "QUIT");
    report(out, &mut t, sid, "link-disconnect", "");
}

/// Lines the filter must refuse: their warnings must not quote them.
fn malformed(i: usize, out: &mut String) {
    let s = secrets(i);
    let plain = &s.values[0].1;
    out.push_str(&format!(
        "report|0.6|1700000000.5|smtp-in|protocol-client|NOTHEX|AUTH PLAIN {plain}\n"
    ));
    out.push_str(&format!(
        "report|0.6|soon|smtp-in|protocol-client|{:016x}|AUTH PLAIN {plain}\n",
        0xa000 + i
    ));
    out.push_str(&format!("AUTH PLAIN {plain}\n"));
    out.push_str(&format!(
        "report|0.6|1700000000.5|smtp-sideways|{plain}|1|x\n"
    ));
    out.push_str(&format!(
        "report|0.6|1700000000.5|smtp-in|tx-rcpt|{:016x}|zz|ok|{}\n",
        0xa000 + i,
        s.pass
    ));
}

/// The stream, and how many of its lines are good reports.
fn stream() -> (String, usize) {
    let mut out = String::new();
    let mut good = 0;
    for (i, form) in FORMS.iter().enumerate() {
        let before = out.lines().count();
        session(i, form, &mut out);
        good += out.lines().count() - before;
        malformed(i, &mut out);
    }
    (out, good)
}

fn assert_absent(text: &str, needles: &[String], what: &str, option: &str) {
    for needle in needles {
        assert!(
            !text.contains(needle.as_str()),
            "{needle:?} in {what} under {option:?}"
        );
    }
}

#[test]
fn no_auth_secret_reaches_a_document_or_stderr() {
    assert!(FORMS.len() >= 40, "at least 40 AUTH forms");
    let key = temp("key");
    std::fs::write(&key, "a secret of more than sixteen bytes\n").unwrap();
    let key = key.to_str().unwrap().to_string();
    let (input, good) = stream();
    let options: &[&[&str]] = &[
        &[],
        &["--drop-commands"],
        &["--address-privacy", "hash", "--hash-key-file", &key],
        &["--address-privacy", "hash-local", "--hash-key-file", &key],
        &["--address-privacy", "redact-local"],
        &["--user-privacy", "hash", "--hash-key-file", &key],
        &["--user-privacy", "redact"],
        &[
            "--address-privacy",
            "hash",
            "--user-privacy",
            "redact",
            "--hash-key-file",
            &key,
        ],
    ];
    for option in options {
        let out = both_modes(option, input.as_bytes());
        assert_eq!(out.docs.len(), good, "one document per good report");
        assert!(
            !out.stderr.is_empty(),
            "the malformed lines were warned about"
        );
        let hides_addresses = option.contains(&"--address-privacy");
        let hides_users = option.contains(&"--user-privacy");
        let hashes_addresses = option
            .windows(2)
            .any(|w| w == ["--address-privacy", "hash"]);
        // A secret can only reach its own session's documents or stderr, so
        // each session's needles are looked for there (and in documents of
        // no session), which keeps the search linear.
        let mut by_session: Vec<String> = vec![String::new(); FORMS.len()];
        let mut sessionless = String::new();
        for line in String::from_utf8_lossy(&out.written).lines() {
            let sid = line
                .find("\"session\":{\"id\":\"")
                .and_then(|at| line.get(at + 17..at + 33))
                .and_then(|hex| usize::from_str_radix(hex, 16).ok())
                .and_then(|n| n.checked_sub(0xa000))
                .filter(|i| *i < FORMS.len());
            match sid {
                Some(i) => by_session[i].push_str(line),
                None => sessionless.push_str(line),
            }
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        for (i, docs) in by_session.iter().enumerate() {
            assert!(!docs.is_empty(), "session {i} has documents");
            let mut needles = secret_needles(&secrets(i));
            let p = people(i);
            if hides_addresses {
                needles.push(p.local.clone());
                needles.push(p.rcpt_local.clone());
            }
            if hashes_addresses {
                needles.push(p.domain.clone());
            }
            if hides_users {
                needles.push(secrets(i).user);
            }
            let option = option.join(" ");
            assert_absent(docs, &needles, "a document", &option);
            assert_absent(&sessionless, &needles, "a document of no session", &option);
            assert_absent(&stderr, &needles, "stderr", &option);
            // Warnings quote nothing a client chose, whatever the options.
            let people = [p.local, p.rcpt_local, secrets(i).user];
            assert_absent(&stderr, &people, "stderr", &option);
        }
    }
    // The masks are there, so the absence above is not an accident of a
    // stream that never reached the documents.
    let plain = both_modes(&[], input.as_bytes());
    let text = String::from_utf8_lossy(&plain.written);
    for shown in [
        "\"AUTH PLAIN ********\"",
        "\"AUTH LOGIN ********\"",
        "\"AUTH XOAUTH2 ********\"",
        "\"AUTH SCRAM-SHA-256 ********\"",
        "\"AUTH ********\"",
        "\"********\"",
        "\"504 5.5.4\"",
        "\"AUTH CRAM-MD5\"",
    ] {
        assert!(text.contains(shown), "{shown} written");
    }
    // Without privacy options, people are written as sent.
    assert!(text.contains(&people(3).local) && text.contains(&secrets(3).user));
    let _ = std::fs::remove_file(key);
}
