//! AUTH secrets: masked always, whatever the privacy options.
//!
//! smtpd masks `AUTH PLAIN ` followed by a space, and the lines of an AUTH
//! exchange it is in, but it finds the mechanism at a space *or a tab*
//! (`smtp_proceed_auth`) and reports every other form as the client sent it:
//! `AUTH PLAIN<TAB>secret`, `AUTH LOGIN secret`, `auth plain secret` before
//! EHLO, `AUTH <base64>`, which its 504 reply then repeats. So masking here
//! goes by rule, not by a list of forms: a client line whose first word holds
//! AUTH keeps `AUTH` and a well-formed SASL mechanism name, nothing else.
//!
//! A client that keeps sending after smtpd refused or ended the exchange
//! (`503` on a listener without AUTH, `501` after `*`, `535`) is outside
//! every exchange, and smtpd reports its lines as sent: its password typed
//! as a line, its base64 user name. So the rule covers the session, not the
//! exchange: once a session sent an AUTH command, every later client line
//! whose first word is not an SMTP verb is a secret, until the session ends.
//! And a line that is nothing but base64 of 16 characters or more is one
//! always (a client that skipped the AUTH command): no SMTP command looks
//! like that.

/// What stands for a secret.
pub const MASK: &[u8] = b"********";

/// The longest SASL mechanism name (RFC 4422 §3.1).
const MECHANISM_MAX: usize = 20;

/// A client line with its secrets gone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientLine<'a> {
    /// Not part of an AUTH exchange: as sent.
    Clear(&'a [u8]),
    /// An AUTH command: `AUTH`, the mechanism when it is a SASL name, and
    /// `********` when anything else followed.
    Auth {
        /// What may be written.
        shown: Vec<u8>,
        /// True when something was hidden (the reply may repeat it).
        hid: bool,
    },
    /// A line answering a challenge, or sent while an AUTH exchange is open.
    Answer,
}

impl ClientLine<'_> {
    /// The bytes a document may show.
    pub fn shown(&self) -> &[u8] {
        match self {
            ClientLine::Clear(line) => line,
            ClientLine::Auth { shown, .. } => shown,
            ClientLine::Answer => MASK,
        }
    }

    /// True when the server's reply to this line must not be shown as
    /// sent: it may repeat what was hidden (smtpd's `504 … AUTH method
    /// "<what the client sent>" not supported`).
    pub fn hid_something(&self) -> bool {
        match self {
            ClientLine::Clear(_) => false,
            ClientLine::Auth { hid, .. } => *hid,
            ClientLine::Answer => true,
        }
    }
}

/// Bytes that may stand between words. smtpd splits the verb at a space
/// and the mechanism at a space or a tab; clients and attackers send more.
fn is_blank(b: u8) -> bool {
    b <= b' ' || b == 0x7f
}

/// `bytes` without the blanks (`is_blank`) around it.
fn trim_blanks(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| !is_blank(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| !is_blank(b))
        .map_or(start, |e| e + 1);
    bytes.get(start..end).unwrap_or_default()
}

/// A SASL mechanism name: uppercase letters, digits, `-` and `_`.
fn is_sasl(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
}

/// True when `line` is an AUTH command: its first word, after any leading
/// blanks, holds `AUTH` in any case, whatever surrounds it. Lines such as
/// `AUTHX`, `*AUTH PLAIN …` or a byte-order mark before `AUTH` count too:
/// smtpd refuses them but reports them as sent, secret and all, and
/// masking a line that was not AUTH costs nothing.
pub fn is_auth(line: &[u8]) -> bool {
    auth_end(line).is_some()
}

/// Where the first word's `AUTH` ends.
fn auth_end(line: &[u8]) -> Option<usize> {
    let start = line
        .iter()
        .position(|&b| !is_blank(b))
        .unwrap_or(line.len());
    let word = line.get(start..).unwrap_or_default();
    let len = word.iter().position(|&b| is_blank(b)).unwrap_or(word.len());
    word.get(..len)
        .unwrap_or_default()
        .windows(4)
        .position(|w| w.eq_ignore_ascii_case(b"AUTH"))
        .map(|at| start + at + 4)
}

/// Where a client line stands in its session, for masking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Moment {
    /// No AUTH command yet.
    BeforeAuth,
    /// An AUTH exchange is open (smtpd asked with a 334, or an AUTH command
    /// has not had its final reply yet): every line is a secret.
    InExchange,
    /// The session sent an AUTH command, and its exchange ended (accepted,
    /// refused, cancelled or failed): a line that is not an SMTP command is
    /// a secret.
    AfterAuth,
}

/// The shortest line of nothing but base64 that is taken for a secret
/// wherever it comes: 12 bytes encoded, shorter than any PLAIN blob with a
/// user name and a password worth the name.
pub const BASE64_SECRET_MIN: usize = 16;

/// True when `line`, blanks around it aside, is nothing but base64 (the
/// URL-safe alphabet too) of at least [`BASE64_SECRET_MIN`] characters,
/// padding included.
pub fn is_base64_blob(line: &[u8]) -> bool {
    let word = trim_blanks(line);
    let data = word.len() - word.iter().rev().take_while(|&&b| b == b'=').count();
    word.len() >= BASE64_SECRET_MIN
        && word.len() - data <= 2
        && word
            .get(..data)
            .unwrap_or_default()
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'-' || b == b'_')
}

/// The first word of a line: after leading blanks, up to the next blank.
fn first_word(line: &[u8]) -> &[u8] {
    let start = line
        .iter()
        .position(|&b| !is_blank(b))
        .unwrap_or(line.len());
    let word = line.get(start..).unwrap_or_default();
    let len = word.iter().position(|&b| is_blank(b)).unwrap_or(word.len());
    word.get(..len).unwrap_or_default()
}

/// Masks one client line, by where it stands in its session.
pub fn client_line(line: &[u8], moment: Moment) -> ClientLine<'_> {
    if moment == Moment::InExchange {
        return ClientLine::Answer;
    }
    let Some(end) = auth_end(line) else {
        // Base64 is no command; after AUTH, nothing but a command is
        // written: the whole first word must be a verb, so a password
        // that begins with `QUIT` is masked all the same.
        let secret = is_base64_blob(line)
            || (moment == Moment::AfterAuth && !super::words::is_verb(first_word(line)));
        return if secret {
            ClientLine::Answer
        } else {
            ClientLine::Clear(line)
        };
    };
    let rest = line.get(end..).unwrap_or_default();
    let mut shown = b"AUTH".to_vec();
    // The mechanism starts after whatever separates it from AUTH (`AUTH=`,
    // `AUTH:`, tabs): any byte that cannot be part of a name.
    let from = rest
        .iter()
        .position(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        .unwrap_or(rest.len());
    let word = rest.get(from..).unwrap_or_default();
    let word_len = word.iter().position(|&b| is_blank(b)).unwrap_or(word.len());
    let mechanism = word.get(..word_len).unwrap_or_default();
    let well_formed = !mechanism.is_empty()
        && mechanism.len() <= MECHANISM_MAX
        && mechanism.iter().all(|&b| is_sasl(b));
    let after = if well_formed {
        shown.push(b' ');
        shown.extend_from_slice(mechanism);
        word.get(word_len..).unwrap_or_default()
    } else {
        // Anything after AUTH that is not a name is, or may hold, the secret.
        rest
    };
    let secret = trim_blanks(after);
    if !secret.is_empty() {
        shown.push(b' ');
        shown.extend_from_slice(MASK);
    }
    // smtpd's own mask (`AUTH PLAIN ********`) hid nothing its reply could repeat.
    let hid = !secret.is_empty() && secret != MASK;
    ClientLine::Auth { shown, hid }
}

/// A filter's parameter for the `auth` phase is the AUTH command's
/// arguments, mechanism and initial response (`smtp_filter_phase(FILTER_AUTH,
/// s, args)`): a rewrite would carry a secret.
pub fn filter_param<'a>(phase: &[u8], param: &'a [u8]) -> &'a [u8] {
    if phase.eq_ignore_ascii_case(b"auth") && !param.is_empty() {
        MASK
    } else {
        param
    }
}
