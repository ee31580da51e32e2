//! A session snapshot as one line of JSON: ECS names where ECS has a field,
//! everything else under `opensmtpd.*`. `schema/fields.json` lists every field.
//!
//! The size policy: a document longer than `max_bytes` is written again with
//! tighter bounds, in this fixed order, until it fits, and is then marked
//! `opensmtpd.truncated: true`; exact counts are always kept.
//! 1. recipient lists to 50 entries, strings to 256 bytes;
//! 2. recipient lists to 10 entries, strings to 64 bytes;
//! 3. no recipient lists; free text (commands, responses, filter messages,
//!    greeting) left out; strings to 32 bytes;
//! 4. only the event and session identity.
//!
//! Level 4 is far below the smallest `max_bytes` accepted (1024), so every
//! document fits: none is split or dropped for its size.

mod json;
mod time;

pub use json::Flags;
pub use time::Clock;

use crate::protocol::{AuthResult, EventKind, Subsystem};
use crate::session::{Endpoint, Session, Snapshot, Text, Transaction};
use json::Writer;
use std::net::IpAddr;

/// The `event.dataset` of every document.
pub const DATASET: &str = "opensmtpd.jsonlog";

/// The smallest `max_bytes` the renderer promises to honour.
pub const MIN_MAX_BYTES: usize = 1024;

/// How documents are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Longest document, in bytes, without the newline.
    pub max_bytes: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options { max_bytes: 8000 }
    }
}

/// What one rendering did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rendered {
    /// It says `opensmtpd.truncated`: the size policy shortened it, or a
    /// value it shows was cut as it was stored.
    pub truncated: bool,
    /// Some input bytes were not UTF-8.
    pub invalid_utf8: bool,
}

#[derive(Clone, Copy)]
struct Level {
    max_list: usize,
    max_text: usize,
    free_text: bool,
    minimal: bool,
}

const LEVELS: [Level; 5] = [
    Level {
        max_list: usize::MAX,
        max_text: usize::MAX,
        free_text: true,
        minimal: false,
    },
    Level {
        max_list: 50,
        max_text: 256,
        free_text: true,
        minimal: false,
    },
    Level {
        max_list: 10,
        max_text: 64,
        free_text: true,
        minimal: false,
    },
    Level {
        max_list: 0,
        max_text: 32,
        free_text: false,
        minimal: false,
    },
    Level {
        max_list: 0,
        max_text: 32,
        free_text: false,
        minimal: true,
    },
];

/// Renders documents; holds what is reused from one to the next.
#[derive(Default)]
pub struct Renderer {
    clock: Clock,
    options: Options,
    cache: Cache,
}

impl Renderer {
    /// A renderer with these options.
    pub fn new(options: Options) -> Renderer {
        Renderer {
            clock: Clock::default(),
            options: Options {
                max_bytes: options.max_bytes.max(MIN_MAX_BYTES),
            },
            cache: Cache::new(CACHE_SLOTS),
        }
    }

    /// The same renderer without its fragment cache: every part of every
    /// document is written from the session (tests compare the two).
    pub fn uncached(mut self) -> Renderer {
        self.cache = Cache::default();
        self
    }

    /// Writes the document for `snap` into `out` (cleared first), without a newline.
    pub fn render(&mut self, snap: &Snapshot<'_>, out: &mut Vec<u8>) -> Rendered {
        let mut rendered = Rendered::default();
        for (i, level) in LEVELS.iter().enumerate() {
            // What the document written last holds, as it says itself.
            rendered = self.write(snap, *level, i > 0, out);
            if out.len() <= self.options.max_bytes {
                return rendered;
            }
        }
        // Unreachable with max_bytes >= MIN_MAX_BYTES: level 4 is bounded
        // by the caps on what it writes.
        rendered
    }

    fn write(
        &mut self,
        snap: &Snapshot<'_>,
        level: Level,
        truncated: bool,
        out: &mut Vec<u8>,
    ) -> Rendered {
        let s = snap.session;
        let e = &snap.event;
        let Renderer {
            clock,
            cache,
            options,
        } = self;
        // Past this size the document is written again at a tighter level,
        // so recipient lists stop there (K recipients cost O(K), not O(K²)).
        let budget = options.max_bytes;
        // The full level takes the parts that follow the link facts and the
        // transaction from the cache.
        let cached = if truncated {
            None
        } else {
            cache.get(s, clock, budget)
        };
        let mut w = Writer::new(out, level.max_text);
        w.raw_str("@timestamp", |o| clock.write(e.time, o));
        w.begin("event");
        w.str("action", e.name);
        w.ascii("dataset", DATASET);
        w.ascii("kind", "event");
        w.ascii("module", "opensmtpd");
        w.u64("sequence", e.sequence);
        if let Some(ok) = e.outcome {
            w.ascii("outcome", if ok { "success" } else { "failure" });
        }
        w.end();

        match cached {
            Some(slot) => slot.link.splice(&mut w),
            None => link_facts(&mut w, s, level),
        }

        // The session's user is the one it authenticated as; a failed
        // attempt names its user on its own link-auth document only.
        let user = s
            .auth
            .as_ref()
            .filter(|a| a.result == AuthResult::Pass || e.kind == Some(EventKind::LinkAuth));
        if let (Some(auth), false) = (user, level.minimal) {
            w.begin("user");
            text(&mut w, "name", &auth.username);
            w.end();
        }

        if let (Some(tx), false) = (&s.tx, level.minimal) {
            match cached {
                Some(slot) => slot.email.splice(&mut w),
                None => email(&mut w, tx, level, budget),
            }
        }

        w.begin("opensmtpd");
        w.ascii("subsystem", s.key.subsystem.as_str());
        w.begin("session");
        match cached {
            Some(slot) => slot.ids.splice(&mut w),
            None => session_ids(&mut w, s, level, clock),
        }
        if !level.minimal {
            let micros = s.last.as_micros().saturating_sub(s.start.as_micros());
            w.u64("duration_us", u64::try_from(micros).unwrap_or(0));
        }
        if s.partial {
            w.bool("partial", true);
        }
        if let Some(expiry) = e.expiry {
            w.ascii("end", expiry.action());
        }
        if s.closed {
            // The session's last document, however it ended: count sessions
            // with one clause.
            w.bool("final", true);
        }
        w.end();
        if !level.minimal {
            self::protocol(&mut w, snap);
            match cached {
                Some(slot) => slot.local.splice(&mut w),
                None => local_facts(&mut w, s, level),
            }
            state(&mut w, snap, level);
            if let Some(tx) = &s.tx {
                match cached {
                    Some(slot) => slot.transaction.splice(&mut w),
                    None => transaction(&mut w, tx, level, budget),
                }
            }
        }
        for (key, scoped) in [("mail", &e.mail), ("rcpt", &e.rcpt)] {
            if let Some((address, result)) = scoped {
                w.begin(key);
                text(&mut w, "address", address);
                w.ascii("result", result.as_str());
                w.end();
            }
        }
        if e.kind.is_none() && e.expiry.is_none() {
            w.bool("unknown_event", true);
        }
        if e.out_of_order {
            w.bool("out_of_order", true);
        }
        // One mark for every cut: this level's (the size policy, and text
        // it shortened), and those made as the session stored its values.
        let flags = w.flags;
        let truncated = truncated || flags.cut || snap.was_cut();
        if truncated {
            w.bool("truncated", true);
        }
        if flags.invalid_utf8 {
            w.bool("invalid_utf8", true);
        }
        w.end();
        let flags = w.finish();
        Rendered {
            truncated,
            invalid_utf8: flags.invalid_utf8,
        }
    }
}

fn protocol(w: &mut Writer<'_>, snap: &Snapshot<'_>) {
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
fn link_facts(w: &mut Writer<'_>, s: &Session, level: Level) {
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
fn session_ids(w: &mut Writer<'_>, s: &Session, level: Level, clock: &mut Clock) {
    w.raw_str("id", |o| hex16(o, s.key.id));
    if !level.minimal {
        w.raw_str("start", |o| clock.write(s.start, o));
    }
}

/// `opensmtpd.*` members that follow the link facts: fcrdns, greeting,
/// helo, tls, auth.
fn local_facts(w: &mut Writer<'_>, s: &Session, level: Level) {
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
        w.end();
    }
}

fn state(w: &mut Writer<'_>, snap: &Snapshot<'_>, level: Level) {
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
    w.end();
}

/// The top-level `email` member. Lists stop once the document is over
/// `budget` bytes: it will be written again at a tighter level anyway.
fn email(w: &mut Writer<'_>, tx: &Transaction, level: Level, budget: usize) {
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
fn transaction(w: &mut Writer<'_>, tx: &Transaction, level: Level, budget: usize) {
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

/// Slots in the fragment cache. A session's parts stay cached while no
/// other session that maps to its slot has an event, so a few hundred busy
/// sessions render at full speed; memory stays near 256 KiB.
const CACHE_SLOTS: usize = 256;

/// Members rendered once and spliced into later documents.
#[derive(Default)]
struct Fragment {
    bytes: Vec<u8>,
    flags: Flags,
}

impl Fragment {
    fn render(&mut self, f: impl FnOnce(&mut Writer<'_>)) {
        let mut w = Writer::fragment(&mut self.bytes, usize::MAX);
        f(&mut w);
        self.flags = w.finish();
    }

    fn splice(&self, w: &mut Writer<'_>) {
        w.members(&self.bytes, self.flags);
    }
}

#[derive(Default)]
struct Slot {
    /// The session's facts stamp the fragments were made from; 0: none.
    stamp: u64,
    link: Fragment,
    ids: Fragment,
    local: Fragment,
    /// The session's tx stamp the transaction fragments were made from.
    tx_stamp: u64,
    email: Fragment,
    transaction: Fragment,
}

/// The parts of a full-level document that change only with a session's
/// link facts ([`Session::facts_stamp`]) or its transaction
/// ([`Session::tx_stamp`]), rendered once per change instead of once per
/// event. Direct-mapped by session id; empty means off.
#[derive(Default)]
struct Cache {
    slots: Vec<Slot>,
}

impl Cache {
    fn new(slots: usize) -> Cache {
        Cache {
            slots: (0..slots).map(|_| Slot::default()).collect(),
        }
    }

    fn get(&mut self, s: &Session, clock: &mut Clock, budget: usize) -> Option<&Slot> {
        let full = *LEVELS.first()?;
        let index = (s.key.id as usize ^ s.key.subsystem as usize) % self.slots.len().max(1);
        let slot = self.slots.get_mut(index)?;
        if slot.stamp != s.facts_stamp || s.facts_stamp == 0 {
            slot.link.render(|w| link_facts(w, s, full));
            slot.ids.render(|w| session_ids(w, s, full, clock));
            slot.local.render(|w| local_facts(w, s, full));
            slot.stamp = s.facts_stamp;
        }
        if slot.tx_stamp != s.tx_stamp || s.tx_stamp == 0 {
            let tx = s.tx.as_ref();
            slot.email
                .render(|w| tx.map_or((), |tx| email(w, tx, full, budget)));
            slot.transaction
                .render(|w| tx.map_or((), |tx| transaction(w, tx, full, budget)));
            slot.tx_stamp = s.tx_stamp;
        }
        Some(slot)
    }
}

fn text(w: &mut Writer<'_>, key: &str, value: &Text) {
    w.str(key, value.bytes());
}

fn endpoint(w: &mut Writer<'_>, key: &str, end: Option<&Endpoint>, domain: Option<&Text>) {
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

fn write_ip(out: &mut Vec<u8>, ip: &IpAddr) {
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

fn reply_code(response: &[u8]) -> Option<u64> {
    let digits = response.get(..3)?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if response.get(3).is_some_and(|b| *b != b' ' && *b != b'-') {
        return None;
    }
    Some(digits.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0')))
}

fn hex8(out: &mut Vec<u8>, n: u32) {
    json::push_hex(out, u64::from(n), 8);
}

fn hex16(out: &mut Vec<u8>, n: u64) {
    json::push_hex(out, n, 16);
}

impl Writer<'_> {
    fn sep_hex16(&mut self, n: u64) {
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

#[cfg(test)]
mod tests;

/// The filter's own counters, for a self-metrics document.
pub struct Metrics<'a> {
    /// The reading side.
    pub counters: &'a crate::stats::Counters,
    /// The sink side.
    pub delivery: &'a crate::stats::DeliveryStats,
    /// Documents dropped since the last documents-dropped document.
    pub dropped_since_last: u64,
}

/// Writes a self-metrics document (`event.kind: metric`) into `out`.
pub fn render_metrics(
    m: &Metrics<'_>,
    action: &str,
    now: std::time::SystemTime,
    out: &mut Vec<u8>,
) {
    use crate::stats::{get, DropReason};
    let since = now
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let time = crate::protocol::Timestamp {
        secs: i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        micros: since.subsec_micros(),
    };
    let mut clock = Clock::default();
    let c = m.counters;
    let d = m.delivery;
    let mut w = Writer::new(out, 64);
    w.raw_str("@timestamp", |o| clock.write(time, o));
    w.begin("event");
    w.str("action", action.as_bytes());
    w.ascii("dataset", DATASET);
    w.ascii("kind", "metric");
    w.ascii("module", "opensmtpd");
    w.end();
    w.begin("opensmtpd");
    w.begin("jsonlog");
    w.u64("lines_received", get(&c.lines_received));
    w.u64("lines_rejected", c.rejected_total());
    w.u64("lines_cut", get(&c.lines_cut));
    w.u64("documents", get(&c.documents));
    w.u64("document_bytes", get(&c.document_bytes));
    w.u64("documents_skipped", get(&c.documents_skipped));
    w.u64("documents_truncated", get(&c.documents_truncated));
    w.u64("documents_invalid_utf8", get(&c.documents_invalid_utf8));
    w.u64("documents_delivered", get(&d.delivered));
    w.u64("documents_dropped", d.dropped_total());
    for reason in DropReason::ALL {
        let key = match reason {
            DropReason::BufferFull => "dropped_buffer_full",
            DropReason::SinkRejected => "dropped_sink_rejected",
            DropReason::Shutdown => "dropped_shutdown",
        };
        w.u64(key, d.dropped(reason));
    }
    if m.dropped_since_last > 0 {
        w.u64("dropped_since_last", m.dropped_since_last);
    }
    w.u64("sink_reopened", get(&d.reopened));
    w.u64("sessions_open", get(&c.sessions_open));
    w.u64("sessions_expired", get(&c.sessions_expired));
    w.u64("sessions_evicted", get(&c.sessions_evicted));
    w.u64("unknown_events", get(&c.unknown_events));
    w.u64("unknown_versions", get(&c.unknown_versions));
    w.u64("internal_errors", get(&c.internal_errors));
    w.end();
    w.end();
    w.finish();
}
