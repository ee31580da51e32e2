//! Credentials a client sends after smtpd refused or ended its AUTH
//! exchange: smtpd reports those lines as sent (it masks only within its
//! own AUTH states). The three sequences an outside tester saw written in
//! clear under 6.8.0p2 and 7.8.0p1, replayed as smtpd reports them, in
//! replay and filter mode, under the default options.

use crate::util::{base64, both_modes, get};

const USER: &str = "zq-mailuser";
const PASS: &str = "Tr0ub4dor&3-horse";

fn plain() -> String {
    base64(format!("\0{USER}\0{PASS}").as_bytes())
}

/// The password, its base64, the PLAIN blob, and the first 8 characters of
/// each; and every 8 characters of the password itself.
fn needles() -> Vec<String> {
    let whole = [PASS.to_string(), base64(PASS.as_bytes()), plain()];
    let mut needles: Vec<String> = whole.to_vec();
    needles.extend(whole.iter().map(|n| n.chars().take(8).collect::<String>()));
    let chars: Vec<char> = PASS.chars().collect();
    needles.extend(chars.windows(8).map(|w| w.iter().collect::<String>()));
    needles
}

/// `C:` a client line, `S:` smtpd's reply, as smtpd reports them.
fn sequences() -> Vec<(&'static str, Vec<String>)> {
    let user64 = base64(USER.as_bytes());
    let pass64 = base64(PASS.as_bytes());
    vec![
        (
            "AUTH LOGIN on a listener without AUTH, then user and password anyway",
            vec![
                "C:AUTH LOGIN".into(),
                "S:503 5.5.1 Invalid command: Command not supported".into(),
                format!("C:{user64}"),
                "S:500 5.5.1 Invalid command: Command unrecognized".into(),
                format!("C:{pass64}"),
                "S:500 5.5.1 Invalid command: Command unrecognized".into(),
            ],
        ),
        (
            "AUTH PLAIN, 334, * cancels, then the PLAIN blob as a line",
            vec![
                "C:AUTH PLAIN".into(),
                "S:334 ".into(),
                "C:********".into(),
                "S:501 5.7.0 Authentication cancelled".into(),
                format!("C:{}", plain()),
                "S:500 5.5.1 Invalid command: Command unrecognized".into(),
            ],
        ),
        (
            "a failed AUTH PLAIN, then the password typed as a line",
            vec![
                "C:AUTH PLAIN ********".into(),
                "S:535 5.7.8 Error: authentication failed: Authentication failed".into(),
                format!("C:{PASS}"),
                "S:500 5.5.1 Invalid command: Command unrecognized".into(),
            ],
        ),
    ]
}

fn stream(sid: usize, steps: &[String]) -> String {
    let mut out = String::new();
    let mut t = 0;
    let mut line = |event: &str, rest: &str| {
        t += 1;
        out.push_str(&format!(
            "report|0.7|1700000000.{t:06}|smtp-in|{event}|{sid:016x}|{rest}\n"
        ));
    };
    line("link-connect", "c.test|pass|192.0.2.7:4000|192.0.2.1:25");
    line("link-greeting", "mx.test");
    line("protocol-client", "EHLO c.test");
    line("link-identify", "EHLO|c.test");
    line("protocol-server", "250 HELP");
    for step in steps {
        let event = if step.starts_with("C:") {
            "protocol-client"
        } else {
            "protocol-server"
        };
        line(event, &step[2..]);
    }
    line("protocol-client", "MAIL FROM:<a@c.test>");
    line("protocol-server", "250 2.0.0 Ok");
    line("protocol-client", "QUIT");
    line("protocol-server", "221 2.0.0 Bye");
    line("link-disconnect", "");
    out
}

#[test]
fn a_credential_sent_after_auth_ended_is_never_written() {
    for (i, (case, steps)) in sequences().iter().enumerate() {
        let out = both_modes(&[], stream(0xc0 + i, steps).as_bytes());
        let written = String::from_utf8_lossy(&out.written);
        let stderr = String::from_utf8_lossy(&out.stderr);
        for needle in needles() {
            assert!(!written.contains(&needle), "{needle:?} written: {case}");
            assert!(!stderr.contains(&needle), "{needle:?} on stderr: {case}");
        }
        // The lines are there, masked; commands after them are written as
        // sent, and the replies to the masked lines keep their codes only.
        let shown: Vec<(String, String)> = out
            .docs
            .iter()
            .filter(|d| get(d, "event.action") == "protocol-server")
            .map(|d| {
                (
                    get(d, "opensmtpd.command").as_str().unwrap_or("").into(),
                    get(d, "opensmtpd.response").as_str().unwrap_or("").into(),
                )
            })
            .collect();
        let last_secret = shown
            .iter()
            .rposition(|(c, _)| c == "********")
            .unwrap_or_else(|| panic!("{case}: no masked line in {shown:?}"));
        assert_eq!(shown[last_secret].1, "500 5.5.1", "{case}");
        assert_eq!(
            shown[last_secret + 1],
            ("MAIL FROM:<a@c.test>".into(), "250 2.0.0 Ok".into()),
            "{case}"
        );
    }
}

#[test]
fn a_bare_base64_line_before_any_auth_is_masked() {
    // A client that skipped the AUTH command and sent its PLAIN blob.
    let steps = vec![
        format!("C:{}", plain()),
        "S:500 5.5.1 Invalid command: Command unrecognized".to_string(),
    ];
    let out = both_modes(&[], stream(0xd0, &steps).as_bytes());
    let written = String::from_utf8_lossy(&out.written);
    for needle in needles() {
        assert!(!written.contains(&needle), "{needle:?} written");
    }
    assert!(written.contains("\"command\":\"********\""));
    // Before AUTH, other lines are written as sent.
    assert!(written.contains("\"command\":\"EHLO c.test\""));
}
