//! Closed sets that free text is reduced to when personal data is hidden:
//! what stays is always one of our own constants, never input.

/// What a reduced value that is not in its set becomes.
pub const OTHER: &[u8] = b"<other>";

/// SMTP verbs a client (smtp-in) or smtpd itself (smtp-out) sends, and the
/// `.` smtpd reports at the end of DATA. Extensions that carry no personal
/// data in the verb itself are in; anything else is `<other>`.
const VERBS: &[&[u8]] = &[
    b"HELO",
    b"EHLO",
    b"LHLO",
    b"MAIL",
    b"RCPT",
    b"DATA",
    b"BDAT",
    b"RSET",
    b"VRFY",
    b"EXPN",
    b"HELP",
    b"NOOP",
    b"QUIT",
    b"STARTTLS",
    b"AUTH",
    b"TURN",
    b"ETRN",
    b"ATRN",
    b"XCLIENT",
    b"XFORWARD",
    b"WIZ",
    b".",
];

/// Filter phases as `lka_report_smtp_filter_response` names them.
const PHASES: &[&[u8]] = &[
    b"connected",
    b"helo",
    b"ehlo",
    b"tls",
    b"auth",
    b"mail-from",
    b"rcpt-to",
    b"data",
    b"data-line",
    b"rset",
    b"quit",
    b"noop",
    b"help",
    b"wiz",
    b"commit",
];

/// Filter decisions as smtpd names them.
const DECISIONS: &[&[u8]] = &[
    b"proceed",
    b"junk",
    b"rewrite",
    b"reject",
    b"disconnect",
    b"report",
];

fn find(set: &'static [&'static [u8]], word: &[u8], any_case: bool) -> Option<&'static [u8]> {
    set.iter().copied().find(|known| {
        if any_case {
            known.eq_ignore_ascii_case(word)
        } else {
            *known == word
        }
    })
}

/// A command's verb from our list, or `<other>`. The verb is the run of
/// letters after leading blanks, so `RCPT>addr` gives `RCPT` and a bare
/// `dave@example.org` gives `<other>`: the result is never input.
pub fn verb(command: &[u8]) -> &'static [u8] {
    let start = command
        .iter()
        .position(|&b| b > b' ' && b != 0x7f)
        .unwrap_or(command.len());
    let rest = command.get(start..).unwrap_or_default();
    if rest.first() == Some(&b'.') && rest.len() == 1 {
        return b".";
    }
    let len = rest
        .iter()
        .position(|b| !b.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    find(VERBS, rest.get(..len).unwrap_or_default(), true).unwrap_or(OTHER)
}

/// True when `word` is, whole and in any case, one of the verbs of
/// [`verb`]'s list.
pub fn is_verb(word: &[u8]) -> bool {
    find(VERBS, word, true).is_some()
}

/// A filter phase from smtpd's set, or `<other>`.
pub fn phase(phase: &[u8]) -> &'static [u8] {
    find(PHASES, phase, false).unwrap_or(OTHER)
}

/// A filter decision from smtpd's set, or `<other>`.
pub fn decision(decision: &[u8]) -> &'static [u8] {
    find(DECISIONS, decision, false).unwrap_or(OTHER)
}

/// The codes of a server reply (`550 5.1.1`), or nothing when it has none:
/// the text of replies repeats addresses and what clients sent.
pub fn reply_codes(response: &[u8]) -> &[u8] {
    let code = response
        .get(..3)
        .filter(|c| c.iter().all(u8::is_ascii_digit));
    let Some(code) = code else {
        return b"";
    };
    let separator = response.get(3);
    if separator.is_some_and(|&b| b != b' ' && b != b'-') {
        return b"";
    }
    let status = response
        .get(4..)
        .and_then(|rest| rest.split(|&b| b == b' ').next())
        .filter(|w| is_enhanced_status(w));
    match status {
        Some(status) => response.get(..4 + status.len()).unwrap_or(code),
        None => code,
    }
}

/// `class.subject.detail` (RFC 3463): digits and two dots.
fn is_enhanced_status(word: &[u8]) -> bool {
    let mut parts = 0;
    for part in word.split(|&b| b == b'.') {
        if part.is_empty() || part.len() > 3 || !part.iter().all(u8::is_ascii_digit) {
            return false;
        }
        parts += 1;
    }
    parts == 3
}
