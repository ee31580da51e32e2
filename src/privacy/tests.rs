use super::secrets::{client_line, ClientLine, Moment};
use super::*;

fn key() -> Option<Vec<u8>> {
    Some(b"0123456789abcdef-secret\n".to_vec())
}

fn shown(line: &[u8]) -> Vec<u8> {
    client_line(line, Moment::BeforeAuth).shown().to_vec()
}

#[test]
fn hashes_are_keyed_stable_and_keep_the_domain() {
    let p = Privacy::new(AddressPolicy::HashLocal, UserPolicy::Hash, false, key()).unwrap();
    let a = p.address(b"alice@example.org").unwrap();
    assert_eq!(a.len(), 16 + "@example.org".len());
    assert!(a.ends_with(b"@example.org"));
    assert_eq!(p.address(b"alice@example.org").unwrap(), a, "joinable");
    assert_ne!(p.address(b"bob@example.org").unwrap(), a);
    let other = Privacy::new(
        AddressPolicy::HashLocal,
        UserPolicy::Hash,
        false,
        Some(b"another key of 16+ bytes".to_vec()),
    )
    .unwrap();
    assert_ne!(other.address(b"alice@example.org").unwrap(), a, "keyed");
    assert_eq!(p.user(b"alice").unwrap().len(), 16);
    assert_eq!(p.address(b""), None);
}

#[test]
fn auth_keeps_only_the_word_and_a_sasl_mechanism() {
    for (line, want) in [
        (
            &b"AUTH PLAIN AGFsaWNlAHNlY3JldA=="[..],
            &b"AUTH PLAIN ********"[..],
        ),
        (b"AUTH PLAIN\tAGFsaWNlAHNlY3JldA==", b"AUTH PLAIN ********"),
        (b"auth plain AGFsaWNl", b"AUTH ********"),
        (b"AUTH LOGIN YWxpY2U=", b"AUTH LOGIN ********"),
        (b"AUTH LOGIN", b"AUTH LOGIN"),
        (b"AUTH LOGIN  \t ", b"AUTH LOGIN"),
        (b"AUTH", b"AUTH"),
        (b"AUTH dGVzdA==", b"AUTH ********"),
        (b"AUTH=PLAIN x", b"AUTH PLAIN ********"),
        (b"AUTH:PLAIN x", b"AUTH PLAIN ********"),
        (b"AUTH PLAIN=AGFsaWNl", b"AUTH ********"),
        (b"  \x0bAUTH\x0cPLAIN\x00AGFs", b"AUTH PLAIN ********"),
        (b"AUTH XOAUTH2 dXNlcj1h", b"AUTH XOAUTH2 ********"),
        (
            b"AUTH SCRAM-SHA-256 biwsbj1h",
            b"AUTH SCRAM-SHA-256 ********",
        ),
        (b"AUTH A-MECHANISM-NAME-OF-21 x", b"AUTH ********"),
        (b"AUTH PLAIN ********", b"AUTH PLAIN ********"),
        (b"AUTH PLAIN =", b"AUTH PLAIN ********"),
        // smtpd refuses these (its verb ends at the first space) but
        // reports them as sent, secret and all.
        (b"\xef\xbb\xbfAUTH PLAIN AGFs", b"AUTH PLAIN ********"),
        (b"*AUTH PLAIN AGFs", b"AUTH PLAIN ********"),
        (b"\x1b[0mauth AGFs", b"AUTH ********"),
        (b"XAUTH", b"AUTH"),
    ] {
        assert_eq!(shown(line), want, "{}", line.escape_ascii());
    }
    assert_eq!(shown(b"EHLO x"), b"EHLO x");
    assert_eq!(shown(b"NOOP AUTH x"), b"NOOP AUTH x");
    assert_eq!(
        client_line(b"EHLO x", Moment::InExchange),
        ClientLine::Answer
    );
    assert_eq!(
        client_line(b"AGFsaWNl", Moment::InExchange).shown(),
        secrets::MASK
    );
    // smtpd's own mask hid nothing a reply could repeat; ours did.
    assert!(!client_line(b"AUTH PLAIN ********", Moment::BeforeAuth).hid_something());
    assert!(client_line(b"AUTH dGVzdA==", Moment::BeforeAuth).hid_something());
    assert!(!client_line(b"AUTH LOGIN", Moment::BeforeAuth).hid_something());
}

#[test]
fn replies_to_masked_lines_keep_only_their_codes() {
    let p = Privacy::default();
    let reply =
        b"504 5.5.4 Security features not supported: AUTH method \"dGVzdA==\" not supported";
    assert_eq!(p.response(reply, true), b"504 5.5.4");
    assert_eq!(p.response(reply, false), &reply[..]);
}

#[test]
fn hidden_personal_data_reduces_free_text_to_closed_sets() {
    let p = Privacy::new(AddressPolicy::RedactLocal, UserPolicy::Redact, false, None).unwrap();
    assert_eq!(
        p.address(b"alice@example.org").unwrap(),
        b"redacted@example.org"
    );
    assert_eq!(p.user(b"alice").unwrap(), b"redacted");
    for (command, kept) in [
        (&b"MAIL FROM:<alice@example.org> SIZE=5"[..], &b"MAIL"[..]),
        (b"rcpt to:<bob@example.org>", b"RCPT"),
        (b"  RCPT TO:<bob@example.org>", b"RCPT"),
        (b"VRFY alice@example.org", b"VRFY"),
        (b"VRFY,alice@example.org", b"VRFY"),
        (b"RCPT>alice@example.org", b"RCPT"),
        (b"dave@example.org", b"<other>"),
        (b"MAILdave@example.org", b"<other>"),
        (b"EHLO client.example", b"EHLO"),
        (b".", b"."),
        (b"AUTH PLAIN secret", b"AUTH"),
    ] {
        let line = client_line(command, Moment::BeforeAuth);
        assert_eq!(p.command(&line), Some(kept), "{}", command.escape_ascii());
    }
    assert_eq!(p.command(&ClientLine::Answer), Some(secrets::MASK));
    assert_eq!(
        p.response(b"550 5.1.1 Invalid recipient: <bob@x>", false),
        b"550 5.1.1"
    );
    assert_eq!(p.response(b"550 Invalid recipient: <bob@x>", false), b"550");
    assert_eq!(p.response(b"250-mx.example.org Hello", false), b"250");
    assert_eq!(p.response(b"no code", false), b"");
    assert_eq!(p.response(b"5501 bob@x", false), b"");
    assert_eq!(p.filter_decision(b"rcpt-to"), b"<other>");
    assert_eq!(p.filter_decision(b"reject"), b"reject");
    assert_eq!(p.filter_phase(b"alice@example.org"), b"<other>");
    assert_eq!(p.filter_phase(b"rcpt-to"), b"rcpt-to");
    assert_eq!(
        p.filter_param(b"rcpt-to", b"reject", b"550 5.7.1 no <bob@x>"),
        Some(&b"550 5.7.1"[..])
    );
    assert_eq!(p.filter_param(b"rcpt-to", b"rewrite", b"<bob@x>"), None);
    assert_eq!(p.filter_message(b"bob@x spam"), b"");
    assert_eq!(
        p.helo(b"alice@example.org").unwrap(),
        b"redacted@example.org"
    );
    assert_eq!(p.helo(b"client.example"), None);
    // Hiding user names alone reduces free text too: AUTH answers and VRFY
    // name users.
    let users = Privacy::new(AddressPolicy::Keep, UserPolicy::Redact, false, None).unwrap();
    assert_eq!(
        users.command(&client_line(b"VRFY alice", Moment::BeforeAuth)),
        Some(&b"VRFY"[..])
    );
}

#[test]
fn auth_filter_params_are_secrets_whatever_the_options() {
    let p = Privacy::default();
    assert_eq!(
        p.filter_param(b"auth", b"rewrite", b"PLAIN AGFsaWNl"),
        Some(secrets::MASK)
    );
    assert_eq!(
        p.filter_param(b"mail-from", b"reject", b"550 no"),
        Some(&b"550 no"[..])
    );
}

#[test]
fn hashing_needs_a_real_key() {
    assert_eq!(
        Privacy::new(AddressPolicy::Hash, UserPolicy::Keep, false, None).unwrap_err(),
        PrivacyError::NoKey
    );
    assert_eq!(
        Privacy::new(
            AddressPolicy::Keep,
            UserPolicy::Hash,
            false,
            Some(b"short\n".to_vec())
        )
        .unwrap_err(),
        PrivacyError::ShortKey
    );
    let p = Privacy::new(AddressPolicy::Keep, UserPolicy::Keep, true, None).unwrap();
    assert_eq!(p.command(&client_line(b"QUIT", Moment::BeforeAuth)), None);
    assert!(!format!(
        "{:?}",
        Privacy::new(AddressPolicy::Hash, UserPolicy::Keep, false, key()).unwrap()
    )
    .contains("secret"));
}

#[test]
fn after_auth_only_smtp_commands_are_written() {
    let after = |line: &[u8]| client_line(line, Moment::AfterAuth).shown().to_vec();
    for command in [
        &b"MAIL FROM:<a@b>"[..],
        b"rcpt TO:<a@b>",
        b"  RSET",
        b"QUIT",
        b".",
        b"EHLO x",
    ] {
        assert_eq!(after(command), command, "{}", command.escape_ascii());
    }
    for secret in [
        &b"hunter2"[..],
        b"QUIT0dGVzdA==",
        b"*",
        b"RCPT>a@b",
        b"correct horse battery staple",
        b"dXNlcg==",
        b"",
    ] {
        assert_eq!(after(secret), secrets::MASK, "{}", secret.escape_ascii());
        assert!(client_line(secret, Moment::AfterAuth).hid_something());
    }
    assert_eq!(after(b"AUTH LOGIN x"), b"AUTH LOGIN ********");
}

#[test]
fn a_base64_line_is_a_secret_before_auth_too() {
    for blob in [
        &b"AHVzZXIAcGFzc3dvcmQ="[..],
        b"  cGFzc3dvcmQxMjM0NTY3OA== ",
        b"abcdefghijklmnop",
        b"YWJjZGVmZ2hpamtsbW5vcA",
    ] {
        assert_eq!(shown(blob), secrets::MASK, "{}", blob.escape_ascii());
    }
    for clear in [
        &b"dXNlcg=="[..],
        b"abcdefghijklmno",
        b"MAIL FROM:<a@b>",
        b"mail.example.org.test",
        b"YWJj===ZGVmZ2hpamtsbW5v",
    ] {
        assert_eq!(shown(clear), clear, "{}", clear.escape_ascii());
    }
}
