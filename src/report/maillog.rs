//! smtpd's own lines in a mail log, read as bytes: the delivery outcome of
//! each envelope, which the report stream never carries (no event exists
//! for local delivery, bounces, expiry, or a relay whose domain does not
//! resolve).
//!
//! The formats, from `mda.c`, `mta.c`, `queue.c` and `smtp_session.c`,
//! identical in 6.8.0p2 and 7.8.0p1:
//!
//! ```text
//! <sid> mda delivery evpid=<evpid> from=<s> to=<d> [rcpt=<r> ]user=<u> delay=<d> result=Ok|TempFail|PermFail stat=<text>
//! <sid> mta delivery evpid=<evpid> from=<s> to=<d> rcpt=<r|-> source="<ip|->" relay="<host>" delay=<d> result="<r>" stat="<text>"
//! relay|delivery: Expire|Remove for <evpid>: from=<s>, to=<d>, rcpt=<r|->, delay=<d>, stat=<text>
//! <sid> smtp connected address=<local|ip> host=<name>
//! <sid> smtp envelope evpid=<evpid> from=<s> to=<r>
//! <sid> smtp disconnected reason=<why>
//! ```
//!
//! `<sid>` is 16 hex digits (all zeros from `mta_flush()`, when no session
//! was ever opened: a domain that does not resolve, a relay that cannot be
//! reached), `delay=` smtpd's `duration_to_text()` (`1d2h3m4s`, `0s`) of
//! whole seconds since the envelope was created. Whatever syslog header
//! stands before smtpd's text (rsyslog's RFC 3339 files, RFC 5424, BSD
//! syslogd's `Mmm dd hh:mm:ss`, journalctl's short forms) or none (`smtpd
//! -d` on stderr), the text is found after smtpd's tag `smtpd[pid]: `.

use super::time;

/// How far into a line smtpd's tag is looked for.
const MAX_HEADER: usize = 512;

/// Which agent delivered: smtpd's local delivery or its relay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Agent {
    /// `mda`, or `delivery:` in an expiry line.
    Mda,
    /// `mta`, or `relay:` in an expiry line.
    Mta,
}

/// `result=` of a delivery line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Result_ {
    Ok,
    TempFail,
    PermFail,
}

/// What `queue_log()` says happened to an envelope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueAction {
    /// Its lifetime (`queue ttl`, an action's `ttl`) ran out: bounced.
    Expire,
    /// `smtpctl remove`.
    Remove,
}

/// One smtpd line the report uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SmtpdLine<'a> {
    /// `mda delivery` or `mta delivery`.
    Delivery(Delivery<'a>),
    /// `Expire` or `Remove`.
    Queue {
        agent: Agent,
        action: QueueAction,
        evpid: u64,
        stat: &'a [u8],
    },
    /// A session opened (`address=local`: the socket, sendmail, bounces).
    Connected { session: u64, local: bool },
    /// One envelope of a message smtpd accepted.
    Envelope {
        session: u64,
        evpid: u64,
        null_sender: bool,
    },
    /// A session ended.
    Disconnected { session: u64 },
    /// Any other line of smtpd's.
    Other,
}

/// A delivery attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery<'a> {
    pub agent: Agent,
    pub evpid: u64,
    /// `to=`: the address delivered to (after expansion).
    pub to: &'a [u8],
    /// `rcpt=`: the recipient as received, when smtpd wrote one.
    pub rcpt: Option<&'a [u8]>,
    /// Seconds since the envelope was created.
    pub delay: i64,
    pub result: Result_,
    pub stat: &'a [u8],
}

/// Why a line that looked like a delivery or queue line could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    Evpid,
    Field(&'static str),
    Result,
    Delay,
}

/// A line of a mail log, split into what its header says and smtpd's text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine<'a> {
    /// The header's time, when it carries a date and an offset (RFC 3339).
    pub time: Option<i64>,
    /// smtpd's text, when the line is smtpd's.
    pub smtpd: Option<&'a [u8]>,
}

/// Splits a line with a syslog header (or smtpd's bare text); `None` for a
/// line that is neither.
pub fn split(line: &[u8]) -> Option<LogLine<'_>> {
    if let Some(body) = bare_smtpd(line) {
        return Some(LogLine {
            time: None,
            smtpd: Some(body),
        });
    }
    if !has_syslog_header(line) {
        return None;
    }
    Some(LogLine {
        time: header_time(line),
        smtpd: smtpd_text(line),
    })
}

/// smtpd's own text without a header (`smtpd -d`), by its first word.
fn bare_smtpd(line: &[u8]) -> Option<&[u8]> {
    let starts = line.get(..16).is_some_and(is_hex) && line.get(16) == Some(&b' ')
        || line.starts_with(b"relay: ")
        || line.starts_with(b"delivery: ");
    starts.then_some(line)
}

fn is_hex(b: &[u8]) -> bool {
    b.iter()
        .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
}

fn hex(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 16 || !is_hex(b) {
        return None;
    }
    b.iter().try_fold(0u64, |n, &c| {
        let d = if c.is_ascii_digit() {
            c - b'0'
        } else {
            c - b'a' + 10
        };
        Some((n << 4) | u64::from(d))
    })
}

const MONTHS: [&[u8]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// RFC 3339 (rsyslog's file format, Debian 12's default), RFC 5424/3164
/// with a `<PRI>`, or BSD syslogd's `Mmm dd hh:mm:ss` (OpenBSD, and
/// rsyslog's traditional format).
fn has_syslog_header(line: &[u8]) -> bool {
    let rfc3339 = |b: &[u8]| {
        b.len() > 11
            && b.get(..4).is_some_and(|y| y.iter().all(u8::is_ascii_digit))
            && b.get(4) == Some(&b'-')
            && b.get(7) == Some(&b'-')
            && matches!(b.get(10), Some(b'T' | b' '))
    };
    if rfc3339(line) {
        return true;
    }
    if line.first() == Some(&b'<') {
        return line
            .iter()
            .skip(1)
            .take(4)
            .position(|&b| b == b'>')
            .is_some();
    }
    line.get(..3).is_some_and(|m| MONTHS.contains(&m))
        && line.get(3) == Some(&b' ')
        && line.get(6) == Some(&b' ')
        && line.get(9) == Some(&b':')
}

/// The header's time, when it is RFC 3339 with an offset (a BSD header has
/// neither year nor zone: its lines fall back on `delay=`).
fn header_time(line: &[u8]) -> Option<i64> {
    // RFC 5424: `<PRI>1 TIMESTAMP …`.
    let mut rest = line;
    if rest.first() == Some(&b'<') {
        let close = rest.iter().position(|&b| b == b'>')?;
        rest = rest.get(close + 1..)?;
        rest = rest.strip_prefix(b"1 ").unwrap_or(rest);
    }
    let end = rest.iter().position(|&b| b == b' ')?;
    let stamp = std::str::from_utf8(rest.get(..end)?).ok()?;
    if stamp.len() < 20 {
        return None;
    }
    let (local, offset) = if let Some(utc) = stamp.strip_suffix('Z') {
        (utc, 0)
    } else {
        // `+01:00` (RFC 3339), or `+0100` (journalctl -o short-iso).
        let colon = stamp.as_bytes().get(stamp.len().checked_sub(3)?) == Some(&b':');
        let width = if colon { 6 } else { 5 };
        // split_at_checked: a multi-byte character there is no offset.
        let (local, zone) = stamp.split_at_checked(stamp.len().checked_sub(width)?)?;
        let sign = match zone.as_bytes().first() {
            Some(b'+') => 1,
            Some(b'-') => -1,
            _ => return None,
        };
        let digits = |r: std::ops::Range<usize>| -> Option<i64> {
            let d = zone.get(r)?;
            d.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| d.parse().ok())?
        };
        let hh = digits(1..3)?;
        let mm = if colon { digits(4..6)? } else { digits(3..5)? };
        if hh > 23 || mm > 59 {
            return None;
        }
        (local, sign * (hh * 3600 + mm * 60) * 1_000_000)
    };
    // Digits only after the date: time::parse takes a trailing `Z` too.
    if !local.contains('T') {
        return None;
    }
    time::parse(local).map(|t| t - offset)
}

/// smtpd's text after its tag, `smtpd[pid]: ` or `smtpd: `, or after
/// RFC 5424's `smtpd PROCID MSGID -`.
fn smtpd_text(line: &[u8]) -> Option<&[u8]> {
    if let Some(close) = line.iter().take(5).position(|&b| b == b'>') {
        if let Some(rest) = line.get(close + 1..).and_then(|r| r.strip_prefix(b"1 ")) {
            let mut fields = rest.splitn(7, |&b| b == b' ');
            let app = fields.nth(2)?;
            let (_procid, _msgid, sd) = (fields.next()?, fields.next()?, fields.next()?);
            let msg = fields.next()?;
            let msg = msg.strip_prefix("\u{feff}".as_bytes()).unwrap_or(msg);
            return (app == b"smtpd" && sd == b"-").then_some(msg);
        }
    }
    let head = line.get(..MAX_HEADER.min(line.len()))?;
    let mut from = 0;
    while let Some(at) = head
        .get(from..)
        .and_then(|h| h.windows(5).position(|w| w == b"smtpd"))
    {
        let tag = from + at;
        // The tag is a word of its own: ` smtpd[`, not `opensmtpd[`.
        let word = tag == 0 || head.get(tag - 1) == Some(&b' ');
        let after = line.get(tag + 5..)?;
        if word {
            if let Some(rest) = after.strip_prefix(b": ") {
                return Some(rest);
            }
            if let Some(pid) = after.strip_prefix(b"[") {
                let close = pid.iter().position(|&b| b == b']')?;
                if pid
                    .get(..close)
                    .is_some_and(|p| p.iter().all(u8::is_ascii_digit))
                {
                    return pid.get(close + 1..)?.strip_prefix(b": ");
                }
            }
        }
        from = tag + 5;
    }
    None
}

/// Reads smtpd's text.
pub fn parse(text: &[u8]) -> Result<SmtpdLine<'_>, Malformed> {
    if let Some(rest) = text.strip_prefix(b"relay: ") {
        return queue(Agent::Mta, rest);
    }
    if let Some(rest) = text.strip_prefix(b"delivery: ") {
        return queue(Agent::Mda, rest);
    }
    let (Some(sid), Some(b' ')) = (text.get(..16), text.get(16)) else {
        return Ok(SmtpdLine::Other);
    };
    let Some(session) = hex(sid) else {
        return Ok(SmtpdLine::Other);
    };
    let rest = text.get(17..).unwrap_or_default();
    if let Some(r) = rest.strip_prefix(b"mda delivery ") {
        return mda(r).map(SmtpdLine::Delivery);
    }
    if let Some(r) = rest.strip_prefix(b"mta delivery ") {
        return mta(r).map(SmtpdLine::Delivery);
    }
    if let Some(r) = rest.strip_prefix(b"smtp connected address=") {
        return Ok(SmtpdLine::Connected {
            session,
            local: r.starts_with(b"local "),
        });
    }
    if let Some(r) = rest.strip_prefix(b"smtp envelope evpid=") {
        let evpid = r.get(..16).and_then(hex).ok_or(Malformed::Evpid)?;
        let from = r.get(16..).unwrap_or_default();
        return Ok(SmtpdLine::Envelope {
            session,
            evpid,
            null_sender: from.starts_with(b" from=<> "),
        });
    }
    if rest.starts_with(b"smtp disconnected ") {
        return Ok(SmtpdLine::Disconnected { session });
    }
    Ok(SmtpdLine::Other)
}

/// `evpid=<16 hex> ` at the start of `r`, and what follows.
fn evpid(r: &[u8]) -> Result<(u64, &[u8]), Malformed> {
    let r = r.strip_prefix(b"evpid=").ok_or(Malformed::Evpid)?;
    let id = r.get(..16).and_then(hex).ok_or(Malformed::Evpid)?;
    match r.get(16) {
        Some(b' ') => Ok((id, r.get(17..).unwrap_or_default())),
        _ => Err(Malformed::Evpid),
    }
}

/// The first `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `key<…>` ending at `until` (the next field's start): addresses may hold
/// spaces and `>` in a quoted local part, so the field ends where the next
/// key begins, not at the first `>`.
fn between<'a>(
    r: &'a [u8],
    key: &'static str,
    until: &[u8],
) -> Result<(&'a [u8], &'a [u8]), Malformed> {
    let r = r
        .strip_prefix(key.as_bytes())
        .ok_or(Malformed::Field(key))?;
    let end = find(r, until).ok_or(Malformed::Field(key))?;
    Ok((
        r.get(..end).unwrap_or_default(),
        r.get(end + 2..).unwrap_or_default(),
    ))
}

fn mda(r: &[u8]) -> Result<Delivery<'_>, Malformed> {
    let (evpid, r) = evpid(r)?;
    let (_from, r) = between(r, "from=<", b"> to=<")?;
    // `rcpt=<…> ` is there only when the recipient differs from `to`.
    let (to, rcpt, r) = match find(r, b"> rcpt=<") {
        Some(at) if find(r, b"> user=").is_none_or(|u| at < u) => {
            let (to, r) = between(r, "to=<", b"> rcpt=<")?;
            let (rcpt, r) = between(r, "rcpt=<", b"> user=")?;
            (to, Some(rcpt), r)
        }
        _ => {
            let (to, r) = between(r, "to=<", b"> user=")?;
            (to, None, r)
        }
    };
    let (delay, r) = delay_field(r)?;
    let r = r
        .strip_prefix(b" result=")
        .ok_or(Malformed::Field("result="))?;
    let (result, r) = r.split_at(r.iter().position(|&b| b == b' ').unwrap_or(r.len()));
    let stat = r.strip_prefix(b" stat=").ok_or(Malformed::Field("stat="))?;
    Ok(Delivery {
        agent: Agent::Mda,
        evpid,
        to,
        rcpt,
        delay: duration(delay)?,
        result: result_of(result)?,
        stat,
    })
}

/// ` delay=<value>` somewhere in `r`: the value and what follows it (from
/// the blank before `result=`), for mda and mta lines alike.
fn delay_field(r: &[u8]) -> Result<(&[u8], &[u8]), Malformed> {
    let at = find(r, b" delay=").ok_or(Malformed::Field("delay="))?;
    let r = r.get(at + 7..).unwrap_or_default();
    let end = r
        .iter()
        .position(|&b| b == b' ')
        .ok_or(Malformed::Field("result="))?;
    Ok(r.split_at(end))
}

fn mta(r: &[u8]) -> Result<Delivery<'_>, Malformed> {
    let (evpid, r) = evpid(r)?;
    let (_from, r) = between(r, "from=<", b"> to=<")?;
    let (to, r) = between(r, "to=<", b"> rcpt=<")?;
    let rcpt = r
        .strip_prefix(b"rcpt=<")
        .and_then(|x| find(x, b"> source=").and_then(|e| x.get(..e)))
        .filter(|x| *x != b"-");
    // source="…" relay="…" hold no quote (an address, a host name).
    let (delay, r) = delay_field(r)?;
    let r = r
        .strip_prefix(b" result=\"")
        .ok_or(Malformed::Field("result="))?;
    let q = r
        .iter()
        .position(|&b| b == b'"')
        .ok_or(Malformed::Field("result="))?;
    let (result, r) = r.split_at(q);
    let stat = r
        .strip_prefix(b"\" stat=\"")
        .ok_or(Malformed::Field("stat="))?;
    let stat = stat.strip_suffix(b"\"").unwrap_or(stat);
    Ok(Delivery {
        agent: Agent::Mta,
        evpid,
        to,
        rcpt,
        delay: duration(delay)?,
        result: result_of(result)?,
        stat,
    })
}

fn queue(agent: Agent, r: &[u8]) -> Result<SmtpdLine<'_>, Malformed> {
    let (action, r) = if let Some(r) = r.strip_prefix(b"Expire for ") {
        (QueueAction::Expire, r)
    } else if let Some(r) = r.strip_prefix(b"Remove for ") {
        (QueueAction::Remove, r)
    } else {
        return Ok(SmtpdLine::Other);
    };
    let evpid = r.get(..16).and_then(hex).ok_or(Malformed::Evpid)?;
    if r.get(16..18) != Some(b": ") {
        return Err(Malformed::Evpid);
    }
    let at = find(r, b", stat=").ok_or(Malformed::Field("stat="))?;
    Ok(SmtpdLine::Queue {
        agent,
        action,
        evpid,
        stat: r.get(at + 7..).unwrap_or_default(),
    })
}

fn result_of(r: &[u8]) -> Result<Result_, Malformed> {
    match r {
        b"Ok" => Ok(Result_::Ok),
        b"TempFail" => Ok(Result_::TempFail),
        b"PermFail" => Ok(Result_::PermFail),
        _ => Err(Malformed::Result),
    }
}

/// `duration_to_text()`: `[-][Nd][Nh][Nm][Ns]`, or `0s`.
fn duration(d: &[u8]) -> Result<i64, Malformed> {
    let (sign, d) = match d.strip_prefix(b"-") {
        Some(rest) => (-1, rest),
        None => (1, d),
    };
    if d.is_empty() {
        return Err(Malformed::Delay);
    }
    let mut total: i64 = 0;
    let mut n: i64 = 0;
    let mut digits = 0;
    for &b in d {
        match b {
            b'0'..=b'9' => {
                n = n
                    .checked_mul(10)
                    .and_then(|n| n.checked_add(i64::from(b - b'0')))
                    .ok_or(Malformed::Delay)?;
                digits += 1;
            }
            b'd' | b'h' | b'm' | b's' if digits > 0 => {
                let unit = match b {
                    b'd' => 86_400,
                    b'h' => 3_600,
                    b'm' => 60,
                    _ => 1,
                };
                total = n
                    .checked_mul(unit)
                    .and_then(|x| total.checked_add(x))
                    .ok_or(Malformed::Delay)?;
                n = 0;
                digits = 0;
            }
            _ => return Err(Malformed::Delay),
        }
    }
    if digits > 0 {
        return Err(Malformed::Delay);
    }
    Ok(sign * total)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVP: u64 = 0x1b0f_3c6e_3e81_a5c2;

    fn text(line: &str) -> &[u8] {
        split(line.as_bytes())
            .and_then(|l| l.smtpd)
            .unwrap_or_else(|| panic!("no smtpd text in {line:?}"))
    }

    #[test]
    fn headers() {
        let body = "1b0f3c6e3e81a5c2 smtp connected address=local host=mx";
        for (line, time) in [
            (
                format!("2026-12-06T11:30:00.250000+01:00 mx smtpd[812]: {body}"),
                time::parse("2026-12-06T10:30:00.25Z"),
            ),
            (
                format!("2026-12-06T11:30:00Z mx smtpd[812]: {body}"),
                time::parse("2026-12-06T11:30:00Z"),
            ),
            (
                format!("<22>1 2026-12-06T11:30:00.000001-00:30 mx smtpd 812 - - {body}"),
                time::parse("2026-12-06T12:00:00.000001Z"),
            ),
            (format!("Dec  6 11:30:00 mx smtpd[812]: {body}"), None),
            (format!("<22>Dec  6 11:30:00 smtpd: {body}"), None),
            (
                format!("2026-12-06T11:30:00+0100 mx smtpd[812]: {body}"),
                time::parse("2026-12-06T10:30:00Z"),
            ),
            (
                format!("2026-12-06T11:30:00.5-0000 mx smtpd[812]: {body}"),
                time::parse("2026-12-06T11:30:00.5Z"),
            ),
            (body.to_string(), None),
        ] {
            let l = split(line.as_bytes()).unwrap_or_else(|| panic!("{line}"));
            assert_eq!(l.smtpd, Some(body.as_bytes()), "{line}");
            assert_eq!(l.time, time, "{line}");
        }
        // Not a time: multi-byte characters where the offset would be.
        assert_eq!(
            split("2026-12-06T11:30:00+00:é mx smtpd[1]: x".as_bytes()).map(|l| l.time),
            Some(None)
        );
        assert_eq!(
            split("2026-12-06T11:30:00é€ mx smtpd[1]: x".as_bytes()).map(|l| l.time),
            Some(None)
        );
        let other = "2026-12-06T11:30:00+00:00 mx opensmtpd[1]: 1b0f3c6e3e81a5c2 smtp x";
        assert_eq!(split(other.as_bytes()).map(|l| l.smtpd), Some(None));
        let cron = "Dec  6 11:30:00 mx CRON[5]: (root) CMD (smtpd[1]: x)";
        assert_eq!(split(cron.as_bytes()).map(|l| l.smtpd), Some(None));
        for not_log in ["", "hello", "{\"a\":1}", "2026-12-06", "Dec 6 11:30"] {
            assert_eq!(split(not_log.as_bytes()), None, "{not_log}");
        }
    }

    #[test]
    fn mda_lines() {
        let l = text("Dec  6 11:30:00 mx smtpd[1]: 6ef0a3b2c1d0e9f8 mda delivery evpid=1b0f3c6e3e81a5c2 from=<a@b> to=<nobody@localhost> rcpt=<alice@example.test> user=nobody delay=1m2s result=TempFail stat=Error (exited with status 75)");
        assert_eq!(
            parse(l),
            Ok(SmtpdLine::Delivery(Delivery {
                agent: Agent::Mda,
                evpid: EVP,
                to: b"nobody@localhost",
                rcpt: Some(b"alice@example.test"),
                delay: 62,
                result: Result_::TempFail,
                stat: b"Error (exited with status 75)",
            }))
        );
        // No rcpt= when it equals to=; the null sender.
        let l = b"6ef0a3b2c1d0e9f8 mda delivery evpid=1b0f3c6e3e81a5c2 from=<> to=<a b>c@x> user=a delay=0s result=Ok stat=Delivered";
        match parse(l) {
            Ok(SmtpdLine::Delivery(d)) => {
                assert_eq!(d.to, b"a b>c@x");
                assert_eq!(
                    (d.delay, d.result, d.stat),
                    (0, Result_::Ok, &b"Delivered"[..])
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn mta_lines() {
        let l = b"0000000000000000 mta delivery evpid=1b0f3c6e3e81a5c2 from=<a@b> to=<x@nx.test> rcpt=<-> source=\"-\" relay=\"nx.test\" delay=1d0h0m5s result=\"PermFail\" stat=\"Domain does not exist\"";
        assert_eq!(
            parse(l),
            Ok(SmtpdLine::Delivery(Delivery {
                agent: Agent::Mta,
                evpid: EVP,
                to: b"x@nx.test",
                rcpt: None,
                delay: 86_405,
                result: Result_::PermFail,
                stat: b"Domain does not exist",
            }))
        );
        let l = b"6ef0a3b2c1d0e9f8 mta delivery evpid=1b0f3c6e3e81a5c2 from=<a@b> to=<x@y> rcpt=<-> source=\"127.0.0.1\" relay=\"127.0.0.1 (localhost)\" delay=3s result=\"Ok\" stat=\"250 2.0.0 5e1d Message accepted for delivery\"";
        match parse(l) {
            Ok(SmtpdLine::Delivery(d)) => {
                assert_eq!(d.stat, b"250 2.0.0 5e1d Message accepted for delivery");
                assert_eq!(d.result, Result_::Ok);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn queue_and_session_lines() {
        assert_eq!(
            parse(b"relay: Expire for 1b0f3c6e3e81a5c2: from=<a@b>, to=<x@y>, rcpt=<->, delay=10s, stat=Envelope expired"),
            Ok(SmtpdLine::Queue {
                agent: Agent::Mta,
                action: QueueAction::Expire,
                evpid: EVP,
                stat: b"Envelope expired",
            })
        );
        assert!(matches!(
            parse(b"delivery: Remove for 1b0f3c6e3e81a5c2: from=<a@b>, to=<x@y>, rcpt=<->, delay=1s, stat=Removed by administrator"),
            Ok(SmtpdLine::Queue { agent: Agent::Mda, action: QueueAction::Remove, .. })
        ));
        assert_eq!(
            parse(b"6ef0a3b2c1d0e9f8 smtp connected address=local host=mx"),
            Ok(SmtpdLine::Connected {
                session: 0x6ef0_a3b2_c1d0_e9f8,
                local: true
            })
        );
        assert_eq!(
            parse(b"6ef0a3b2c1d0e9f8 smtp envelope evpid=1b0f3c6e3e81a5c2 from=<> to=<a@b>"),
            Ok(SmtpdLine::Envelope {
                session: 0x6ef0_a3b2_c1d0_e9f8,
                evpid: EVP,
                null_sender: true
            })
        );
        assert_eq!(
            parse(b"6ef0a3b2c1d0e9f8 smtp disconnected reason=quit"),
            Ok(SmtpdLine::Disconnected {
                session: 0x6ef0_a3b2_c1d0_e9f8
            })
        );
        for other in [
            &b"6ef0a3b2c1d0e9f8 smtp message msgid=1b0f3c6e size=1 nrcpt=1 proto=ESMTP"[..],
            b"warn: queue: no return path!",
            b"relay: Bounce for x",
            b"6EF0A3B2C1D0E9F8 mda delivery",
        ] {
            assert_eq!(parse(other), Ok(SmtpdLine::Other));
        }
    }

    #[test]
    fn malformed_lines_are_typed_errors() {
        for (line, why) in [
            (&b"6ef0a3b2c1d0e9f8 mda delivery evpid=1b0f"[..], Malformed::Evpid),
            (b"6ef0a3b2c1d0e9f8 mda delivery evpid=1b0f3c6e3e81a5c2 from=<a@b>", Malformed::Field("from=<")),
            (b"6ef0a3b2c1d0e9f8 mda delivery evpid=1b0f3c6e3e81a5c2 from=<a> to=<b> user=u delay=5x result=Ok stat=x", Malformed::Delay),
            (b"6ef0a3b2c1d0e9f8 mda delivery evpid=1b0f3c6e3e81a5c2 from=<a> to=<b> user=u delay=5s result=Maybe stat=x", Malformed::Result),
            (b"6ef0a3b2c1d0e9f8 mta delivery evpid=1b0f3c6e3e81a5c2 from=<a> to=<b> rcpt=<-> source=\"-\" relay=\"r\" delay=5s result=\"Ok", Malformed::Field("result=")),
            (b"relay: Expire for 1b0f3c6e3e81a5c2 from", Malformed::Evpid),
        ] {
            assert_eq!(parse(line), Err(why), "{}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn durations() {
        for (text, secs) in [
            ("0s", Some(0)),
            ("4s", Some(4)),
            ("2h0m1s", Some(7201)),
            ("-3s", Some(-3)),
            ("3d", Some(259_200)),
            ("", None),
            ("s", None),
            ("5", None),
            ("99999999999999999999d", None),
        ] {
            assert_eq!(duration(text.as_bytes()).ok(), secs, "{text}");
        }
    }

    /// Deterministic mutations (insert, overwrite, cut) with the bytes
    /// that trip byte-offset code: multi-byte UTF-8, invalid bytes, the
    /// delimiters. Each mutant goes through the header, the parser and the
    /// join.
    #[test]
    fn mutations_never_panic() {
        let seeds: [&[u8]; 4] = [
            b"2026-12-06T11:30:00.250000+01:00 mx smtpd[812]: 6ef0a3b2c1d0e9f8 mda delivery evpid=1b0f3c6e3e81a5c2 from=<a@b> to=<c@d> rcpt=<e@f> user=u delay=1d2h3m4s result=TempFail stat=Error (x)",
            b"<22>1 2026-12-06T11:30:00Z mx smtpd 1 - - 0000000000000000 mta delivery evpid=1b0f3c6e3e81a5c2 from=<a> to=<b> rcpt=<-> source=\"-\" relay=\"r\" delay=5s result=\"Ok\" stat=\"x\"",
            b"Dec  6 11:30:00 mx smtpd[1]: relay: Expire for 1b0f3c6e3e81a5c2: from=<a@b>, to=<c@d>, rcpt=<->, delay=6s, stat=Envelope expired",
            b"6ef0a3b2c1d0e9f8 smtp envelope evpid=1b0f3c6e3e81a5c2 from=<> to=<a@b>",
        ];
        let risky: [&[u8]; 12] = [
            "\u{e9}".as_bytes(),
            "\u{20ac}".as_bytes(),
            "\u{1f600}".as_bytes(),
            b"\xff",
            b"\xc3",
            b" ",
            b"<",
            b">",
            b"\"",
            b":",
            b"+",
            b"0",
        ];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut deliveries = super::super::delivery::Deliveries::default();
        for i in 0..60_000u64 {
            let mut line = seeds[(i % 4) as usize].to_vec();
            for _ in 0..(next() % 4 + 1) {
                let at = (next() as usize) % (line.len() + 1);
                let piece = risky[(next() % 12) as usize];
                match next() % 3 {
                    0 => line.splice(at..at, piece.iter().copied()).for_each(drop),
                    1 => line.truncate(at),
                    _ => {
                        let end = (at + piece.len()).min(line.len());
                        line.splice(at..end, piece.iter().copied()).for_each(drop);
                    }
                }
            }
            if let Some(l) = split(&line) {
                if let Some(text) = l.smtpd {
                    let _ = parse(text);
                    deliveries.smtpd_line(&line, text, l.time, (None, Some(0)));
                }
            }
        }
        assert!(deliveries.summary(10).is_some());
    }

    #[test]
    fn any_bytes_no_panic() {
        let seed = b"2026-12-06T11:30:00+00:00 mx smtpd[1]: 6ef0a3b2c1d0e9f8 mta delivery evpid=1b0f3c6e3e81a5c2 from=<a> to=<b> rcpt=<-> source=\"-\" relay=\"r\" delay=5s result=\"Ok\" stat=\"x\"";
        for cut in 0..seed.len() {
            for flip in [0u8, b' ', b'<', b'>', b'"', 0xff] {
                let mut l = seed[..cut].to_vec();
                l.push(flip);
                l.extend_from_slice(&seed[cut..]);
                if let Some(LogLine { smtpd: Some(t), .. }) = split(&l) {
                    let _ = parse(t);
                }
            }
        }
    }
}
