//! The members of a session document, one function per part, each bounded
//! by the size level it is written at.

use super::json::{self, Writer};
use super::time::Clock;
use super::Level;
use crate::protocol::Subsystem;
use crate::session::{Endpoint, Session, Snapshot, Text, Transaction};
use std::net::IpAddr;

pub(super) fn protocol(w: &mut Writer<'_>, snap: &Snapshot<'_>) {
    let e = &snap.event;
    if e.expiry.is_some() {
        return;
    }
    w.begin("protocol");
    w.str("version", e.version_text);
    if !e.version.is_known() {
        w.bool("unknown_version", true);
    }
    w.end();
}

/// Top-level members that follow the link facts: source, destination, tls.
pub(super) fn link_facts(w: &mut Writer<'_>, s: &Session, level: Level) {
    if !level.minimal {
        // rDNS names the peer: the client in smtp-in, the remote server
        // (our destination) in smtp-out.
        let (src_name, dest_name) = match s.key.subsystem {
            Subsystem::SmtpIn => (s.rdns.as_ref(), None),
            Subsystem::SmtpOut => (None, s.rdns.as_ref()),
        };
        endpoint(w, "source", s.src.as_ref(), src_name);
        endpoint(w, "destination", s.dest.as_ref(), dest_name);
    }

    w.begin("tls");
    w.bool("established", s.tls.is_some());
    if let (Some(tls), false) = (&s.tls, level.minimal) {
        if let Some(protocol) = tls.protocol {
            w.ascii("version_protocol", protocol);
        }
        text(w, "version", &tls.version);
        text(w, "cipher", &tls.cipher);
    }
    w.end();
}

/// `opensmtpd.session` members fixed for the session's life: id and start.
pub(super) fn session_ids(w: &mut Writer<'_>, s: &Session, level: Level, clock: &mut Clock) {
    w.raw_str("id", |o| hex16(o, s.key.id));
    if !level.minimal {
        w.raw_str("start", |o| clock.write(s.start, o));
    }
}

/// `opensmtpd.*` members that follow the link facts: fcrdns, greeting,
/// helo, tls, auth.
pub(super) fn local_facts(w: &mut Writer<'_>, s: &Session, level: Level) {
    if let Some(fcrdns) = s.fcrdns {
        w.ascii("fcrdns", fcrdns.as_str());
    }
    if let (Some(greeting), true) = (&s.greeting, level.free_text) {
        text(w, "greeting", greeting);
    }
    if let Some((method, name)) = &s.helo {
        w.begin("helo");
        w.ascii("method", method.as_str());
        text(w, "name", name);
        w.end();
    }
    if let Some(tls) = &s.tls {
        w.begin("tls");
        if let Some(bits) = tls.bits {
            w.u64("bits", u64::from(bits));
        }
        text(w, "raw", &tls.raw);
        w.end();
    }
    if let Some(auth) = &s.auth {
        w.begin("auth");
        w.ascii("result", auth.result.as_str());
        text(w, "user", &auth.username);
        w.end();
    }
}

pub(super) fn state(w: &mut Writer<'_>, snap: &Snapshot<'_>, level: Level) {
    let s = snap.session;
    if level.free_text {
        if let Some(command) = &s.command {
            text(w, "command", command);
        }
        if let Some(response) = &s.response {
            text(w, "response", response);
            if let Some(code) = reply_code(response.bytes()) {
                w.u64("response_code", code);
            }
        }
    }
    if s.filter_verdict.is_some() || s.filter_note.is_some() {
        w.begin("filter");
        if let Some(v) = &s.filter_verdict {
            w.begin("response");
            text(w, "phase", &v.phase);
            text(w, "decision", &v.decision);
            if let (Some(param), true) = (&v.param, level.free_text) {
                text(w, "param", param);
            }
            w.end();
        }
        if let Some(n) = &s.filter_note {
            w.begin("report");
            w.ascii("kind", n.kind.as_str());
            text(w, "name", &n.name);
            if level.free_text {
                text(w, "message", &n.message);
            }
            w.end();
        }
        w.end();
    }
    if s.timed_out {
        w.bool("timeout", true);
    }
    let c = &s.counters;
    w.begin("counters");
    w.u64("events", c.events);
    w.u64("commands", c.commands);
    w.u64("transactions", c.transactions);
    w.u64("messages", c.messages);
    w.u64("recipients_accepted", c.recipients_accepted);
    w.u64("recipients_refused", c.recipients_refused);
    w.u64("bytes", c.bytes);
    w.u64("connects", c.connects);
    w.u64("filter_verdicts", c.filter_verdicts);
    w.u64("auth_failures", c.auth_failures);
    w.u64("replies_4xx", c.replies_4xx);
    w.u64("replies_5xx", c.replies_5xx);
    w.end();
}

/// The top-level `email` member. Lists stop once the document is over
/// `budget` bytes: it will be written again at a tighter level anyway.
pub(super) fn email(w: &mut Writer<'_>, tx: &Transaction, level: Level, budget: usize) {
    w.begin("email");
    w.raw_str("local_id", |o| hex8(o, tx.msgid));
    if let Some(sender) = &tx.sender {
        w.begin("from");
        text(w, "address", &sender.address);
        w.end();
    }
    if tx.accepted > 0 && level.max_list > 0 {
        w.begin("to");
        w.begin_array("address");
        for address in tx.accepted_addresses().take(level.max_list) {
            if w.len() > budget {
                break;
            }
            w.element_str(address.bytes());
        }
        w.end_array();
        w.end();
    }
    w.end();
}

/// The `opensmtpd.transaction` member; lists stop past `budget` as in [`email`].
pub(super) fn transaction(w: &mut Writer<'_>, tx: &Transaction, level: Level, budget: usize) {
    w.begin("transaction");
    w.raw_str("msgid", |o| hex8(o, tx.msgid));
    w.ascii("status", tx.status.as_str());
    if tx.partial {
        w.bool("partial", true);
    }
    if let Some(sender) = &tx.sender {
        w.begin("mail");
        text(w, "address", &sender.address);
        w.ascii("result", sender.result.as_str());
        w.end();
    }
    if level.max_list > 0 && !tx.recipients.is_empty() {
        w.begin_array("rcpt");
        for r in tx.recipients.iter().take(level.max_list) {
            if w.len() > budget {
                break;
            }
            w.begin_element();
            text(w, "address", &r.address);
            w.ascii("result", r.result.as_str());
            if !r.envelopes.is_empty() {
                w.begin_array("envelope_ids");
                for evpid in &r.envelopes {
                    w.sep_hex16(*evpid);
                }
                w.end_array();
            }
            w.end();
        }
        w.end_array();
    }
    w.u64("rcpt_accepted", tx.accepted);
    w.u64("rcpt_refused", tx.refused);
    if let Some(data) = tx.data {
        w.ascii("data_result", data.as_str());
    }
    if let Some(size) = tx.size {
        w.u64("size", size);
    }
    w.end();
}

pub(super) fn text(w: &mut Writer<'_>, key: &str, value: &Text) {
    w.str(key, value.bytes());
}

pub(super) fn endpoint(
    w: &mut Writer<'_>,
    key: &str,
    end: Option<&Endpoint>,
    domain: Option<&Text>,
) {
    if end.is_none() && domain.is_none() {
        return;
    }
    w.begin(key);
    match end {
        Some(Endpoint::Inet { ip, port }) => {
            w.raw_str("ip", |o| write_ip(o, ip));
            w.u64("port", u64::from(*port));
        }
        Some(Endpoint::Unix(path)) => {
            w.str("address", path.bytes());
        }
        Some(Endpoint::Other(raw)) => text(w, "address", raw),
        None => {}
    }
    if let Some(domain) = domain {
        text(w, "domain", domain);
    }
    w.end();
}

pub(super) fn write_ip(out: &mut Vec<u8>, ip: &IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                json::push_u64(out, u64::from(octet));
            }
        }
        IpAddr::V6(v6) => {
            use std::io::Write as _;
            let _ = write!(out, "{v6}");
        }
    }
}

pub(super) fn reply_code(response: &[u8]) -> Option<u64> {
    let digits = response.get(..3)?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if response.get(3).is_some_and(|b| *b != b' ' && *b != b'-') {
        return None;
    }
    Some(digits.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0')))
}

pub(super) fn hex8(out: &mut Vec<u8>, n: u32) {
    json::push_hex(out, u64::from(n), 8);
}

pub(super) fn hex16(out: &mut Vec<u8>, n: u64) {
    json::push_hex(out, n, 16);
}

impl Writer<'_> {
    pub(super) fn sep_hex16(&mut self, n: u64) {
        // On the stack: one allocation per envelope id was per-event waste.
        let mut buf = [b'0'; 16];
        for (i, digit) in buf.iter_mut().enumerate() {
            let nibble = (n >> (60 - 4 * i)) & 0xf;
            *digit = b"0123456789abcdef"
                .get(nibble as usize)
                .copied()
                .unwrap_or(b'0');
        }
        self.element_str(&buf);
    }
}
