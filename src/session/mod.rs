//! Session state: what every SMTP session and its transaction look like after
//! each report event. [`SessionTable::apply`] is the only place state changes.
//!
//! Sessions are keyed by (subsystem, session id). smtp-in sessions begin at
//! link-connect and end at link-disconnect; smtp-out sessions may reconnect
//! under one id and may end without ever connecting, so any event creates a
//! session it does not know (marked partial). Memory follows the open
//! sessions only: every stored field is capped, the table holds at most
//! `max_sessions`, and sessions idle longer than `idle_timeout` are expired.

mod endpoint;
mod text;
mod tx;

pub use endpoint::Endpoint;
pub use text::{caps, Text};
pub use tx::{Recipient, Sender, Transaction, TxStatus};

use crate::privacy::{secrets, ClientLine, Privacy};
use crate::protocol::{
    AuthResult, Event, EventKind, Fcrdns, FilterKind, HeloMethod, Report, Subsystem, Timestamp,
    TxResult, Version,
};
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

/// A session's identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    /// smtp-in or smtp-out.
    pub subsystem: Subsystem,
    /// smtpd's 64-bit session id.
    pub id: u64,
}

/// The TLS parameters of link-tls (`version:cipher:bits`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tls {
    /// The whole string as smtpd sent it.
    pub raw: Text,
    /// `tls` or `ssl`, from `TLSv1.3`; absent for a form we do not know.
    pub protocol: Option<&'static str>,
    /// `1.3`, from `TLSv1.3`.
    pub version: Text,
    /// The cipher suite name.
    pub cipher: Text,
    /// Key strength in bits.
    pub bits: Option<u32>,
}

impl Tls {
    fn was_cut(&self) -> bool {
        self.raw.was_cut() || self.version.was_cut() || self.cipher.was_cut()
    }

    fn parse(raw: &[u8]) -> Tls {
        let mut version_token: &[u8] = raw;
        let mut cipher: &[u8] = b"";
        let mut bits = None;
        if let Some(first) = raw.iter().position(|&b| b == b':') {
            version_token = raw.get(..first).unwrap_or_default();
            let rest = raw.get(first + 1..).unwrap_or_default();
            cipher = rest;
            if let Some(last) = rest.iter().rposition(|&b| b == b':') {
                cipher = rest.get(..last).unwrap_or_default();
                bits = std::str::from_utf8(rest.get(last + 1..).unwrap_or_default())
                    .ok()
                    .and_then(|b| b.parse().ok());
            }
        }
        let (protocol, version) = if let Some(v) = version_token.strip_prefix(b"TLSv") {
            (Some("tls"), v)
        } else if let Some(v) = version_token.strip_prefix(b"SSLv") {
            (Some("ssl"), v)
        } else {
            (None, version_token)
        };
        Tls {
            raw: Text::new(raw, caps::LINE),
            protocol,
            version: Text::new(version, caps::TOKEN),
            cipher: Text::new(cipher, caps::TOKEN),
            bits,
        }
    }
}

/// The last AUTH attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Auth {
    /// The user name smtpd reported (never masked by smtpd).
    pub username: Text,
    /// pass, fail or error.
    pub result: AuthResult,
}

/// The state of an AUTH exchange, kept so that no line of it is written in
/// clear, whichever of its lines smtpd itself masked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AuthExchange {
    /// From an AUTH command to its final (non-334) reply.
    pub open: bool,
    /// The last client line had a secret masked: its reply may repeat it.
    pub reply_masked: bool,
}

/// The last filter-response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterVerdict {
    /// The phase (`connected`, `mail-from`, `commit`, …).
    pub phase: Text,
    /// proceed, junk, rewrite, reject, disconnect, report.
    pub decision: Text,
    /// The decision's text (reject message, rewrite, report).
    pub param: Option<Text>,
}

/// The last filter-report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterNote {
    /// builtin or proc.
    pub kind: FilterKind,
    /// The filter's name in smtpd.conf.
    pub name: Text,
    /// The report text.
    pub message: Text,
}

/// Per-session counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Report events seen for the session.
    pub events: u64,
    /// Client commands (protocol-client).
    pub commands: u64,
    /// Transactions begun.
    pub transactions: u64,
    /// Messages committed to the queue.
    pub messages: u64,
    /// Recipients accepted, over all transactions.
    pub recipients_accepted: u64,
    /// Recipients refused, over all transactions.
    pub recipients_refused: u64,
    /// Bytes committed (sum of tx-commit sizes).
    pub bytes: u64,
    /// link-connect events (smtp-out reconnects under one id).
    pub connects: u64,
    /// filter-response decisions other than proceed.
    pub filter_verdicts: u64,
}

/// Everything known about one SMTP session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// Its identity.
    pub key: Key,
    /// True when its first event was not link-connect.
    pub partial: bool,
    /// Time of its first event.
    pub start: Timestamp,
    /// Time of its latest event.
    pub last: Timestamp,
    /// When its latest event was seen, by the clock that drives idle expiry.
    pub seen: Timestamp,
    /// Reverse DNS of the peer; `None` for smtpd's `<unknown>`.
    pub rdns: Option<Text>,
    /// Forward-confirmed rDNS result.
    pub fcrdns: Option<Fcrdns>,
    /// The client (smtp-in) or our local end (smtp-out).
    pub src: Option<Endpoint>,
    /// The listener (smtp-in) or the remote server (smtp-out).
    pub dest: Option<Endpoint>,
    /// The banner host name.
    pub greeting: Option<Text>,
    /// HELO/EHLO/LHLO and the name given.
    pub helo: Option<(HeloMethod, Text)>,
    /// TLS, once link-tls came.
    pub tls: Option<Box<Tls>>,
    /// The last AUTH attempt.
    pub auth: Option<Auth>,
    /// Where the session is in an AUTH exchange: what the next lines are.
    pub exchange: AuthExchange,
    /// The last client command (secrets masked).
    pub command: Option<Text>,
    /// The last server response line.
    pub response: Option<Text>,
    /// The last filter-response.
    pub filter_verdict: Option<FilterVerdict>,
    /// The last filter-report.
    pub filter_note: Option<Box<FilterNote>>,
    /// True after a timeout event.
    pub timed_out: bool,
    /// Counters.
    pub counters: Counters,
    /// The open transaction.
    pub tx: Option<Box<Transaction>>,
    /// True once link-disconnect (or expiry) ended it.
    pub closed: bool,
    /// Changes whenever the link facts may have changed (rdns, fcrdns, src,
    /// dest, greeting, helo, tls, auth: the link-* events), and is unique
    /// across the table: a renderer may keep what it made of those facts
    /// for as long as the stamp stays. 0 until the first event.
    pub facts_stamp: u64,
    /// The same for the open transaction: changes with every tx-* event.
    pub tx_stamp: u64,
    generation: u64,
}

impl Session {
    /// True when some value the session holds now was cut at its cap (or a
    /// recipient not kept): every value is stored through [`Text`], which
    /// records its own cut, and this is the one place that asks them all.
    pub fn was_cut(&self) -> bool {
        let cut = |t: &Option<Text>| t.as_ref().is_some_and(Text::was_cut);
        cut(&self.rdns)
            || cut(&self.greeting)
            || cut(&self.command)
            || cut(&self.response)
            || self.src.as_ref().is_some_and(Endpoint::was_cut)
            || self.dest.as_ref().is_some_and(Endpoint::was_cut)
            || self.helo.as_ref().is_some_and(|(_, name)| name.was_cut())
            || self.tls.as_ref().is_some_and(|t| t.was_cut())
            || self.auth.as_ref().is_some_and(|a| a.username.was_cut())
            || self
                .filter_verdict
                .as_ref()
                .is_some_and(|v| v.phase.was_cut() || v.decision.was_cut() || cut(&v.param))
            || self
                .filter_note
                .as_ref()
                .is_some_and(|n| n.name.was_cut() || n.message.was_cut())
            || self.tx.as_ref().is_some_and(|t| t.was_cut())
    }

    fn new(key: Key, time: Timestamp, partial: bool, generation: u64) -> Session {
        Session {
            key,
            partial,
            start: time,
            last: time,
            seen: time,
            rdns: None,
            fcrdns: None,
            src: None,
            dest: None,
            greeting: None,
            helo: None,
            tls: None,
            auth: None,
            exchange: AuthExchange::default(),
            command: None,
            response: None,
            filter_verdict: None,
            filter_note: None,
            timed_out: false,
            counters: Counters::default(),
            tx: None,
            closed: false,
            facts_stamp: 0,
            tx_stamp: 0,
            generation,
        }
    }

    /// Recipients its transaction keeps in memory.
    fn stored_rcpts(&self) -> usize {
        self.tx.as_ref().map_or(0, |t| t.recipients.len())
    }

    /// The transaction for `msgid`, created (partial) when none is open or
    /// another one is. In smtp-out, any tx event after a rollback means the
    /// message goes on (see [`Transaction::resume`]).
    fn tx_for(&mut self, msgid: u32) -> &mut Transaction {
        let mut tx = self
            .tx
            .take()
            .filter(|t| t.msgid == msgid)
            .unwrap_or_else(|| Box::new(Transaction::new(msgid, true)));
        tx.resume(self.key.subsystem == Subsystem::SmtpOut);
        self.tx.insert(tx)
    }
}

/// Why a session left the table without its link-disconnect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// No event for longer than the idle timeout.
    Idle,
    /// The table was full and it was the oldest.
    Evicted,
    /// End of input with the session still open.
    EndOfInput,
}

impl Expiry {
    /// The `event.action` of the document written for it.
    pub fn action(self) -> &'static str {
        match self {
            Expiry::Idle => "session-expired",
            Expiry::Evicted => "session-evicted",
            Expiry::EndOfInput => "session-unfinished",
        }
    }
}

/// What one event did, beside the session state: the event-scoped facts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventInfo<'a> {
    /// The event name as sent (an unknown one too).
    pub name: &'a [u8],
    /// The event, when it is one we know.
    pub kind: Option<EventKind>,
    /// smtpd's timestamp for it.
    pub time: Timestamp,
    /// 1 for the session's first event.
    pub sequence: u64,
    /// The line's protocol version.
    pub version: Version,
    /// The version as sent.
    pub version_text: &'a [u8],
    /// MAIL FROM of a tx-mail event, with its result (privacy applied).
    pub mail: Option<(Text, TxResult)>,
    /// RCPT TO of a tx-rcpt event, with its result (privacy applied).
    pub rcpt: Option<(Text, TxResult)>,
    /// success or failure, for events that have a result.
    pub outcome: Option<bool>,
    /// Set when the session was expired rather than disconnected.
    pub expiry: Option<Expiry>,
    /// The event repeated something that should happen once (a second
    /// link-connect in smtp-in) or came after the session's end.
    pub out_of_order: bool,
    /// The event's line was longer than the input bound and was cut.
    pub line_cut: bool,
}

impl EventInfo<'_> {
    /// True when a value of the event itself was cut, or its line was.
    pub fn was_cut(&self) -> bool {
        self.line_cut
            || self.mail.as_ref().is_some_and(|(a, _)| a.was_cut())
            || self.rcpt.as_ref().is_some_and(|(a, _)| a.was_cut())
    }
}

/// A session as it stands after one event: what a document is made of.
#[derive(Clone, Debug)]
pub struct Snapshot<'a> {
    /// The session's state.
    pub session: &'a Session,
    /// The event's own facts.
    pub event: EventInfo<'a>,
}

impl Snapshot<'_> {
    /// True when the document cannot show everything the event and the
    /// session held: some value was cut as it was stored.
    pub fn was_cut(&self) -> bool {
        self.event.was_cut() || self.session.was_cut()
    }
}

/// Bounds on the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Open sessions kept at most; the oldest is evicted beyond it.
    pub max_sessions: usize,
    /// Sessions without an event for this many seconds (of the stream's own
    /// clock) are expired; 0 turns expiry off.
    pub idle_timeout_secs: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_sessions: 50_000,
            idle_timeout_secs: 3_600,
        }
    }
}

/// A cheap hasher for session ids: smtpd makes them, half of their bits are
/// random, and SipHash's flood resistance buys nothing here.
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        // splitmix64's finalizer: every input bit moves every output bit,
        // so ids that differ only in their upper half spread too.
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = self.0.rotate_left(5) ^ n;
    }
}

type IdMap<V> = HashMap<Key, V, BuildHasherDefault<IdHasher>>;

/// All open sessions.
pub struct SessionTable {
    /// Boxed: the map's buckets stay small (a table sized for 10,000
    /// sessions holds 16,384 buckets), and growing it moves pointers only.
    sessions: IdMap<Box<Session>>,
    /// Creation order, for eviction; entries of removed sessions are skipped
    /// by generation and compacted away.
    order: VecDeque<(Key, u64)>,
    generation: u64,
    /// The last stamp handed out (see [`Session::facts_stamp`]).
    stamps: u64,
    limits: Limits,
    /// The last closed session, kept so that its final snapshot can borrow it.
    closed: Option<Box<Session>>,
    /// Sessions expired or evicted, waiting for their final document.
    expired: Vec<(Box<Session>, Expiry)>,
    /// The expiry clock: the latest time seen (local clock under smtpd,
    /// report timestamps in a replay).
    now: Timestamp,
    last_sweep: i64,
    privacy: Privacy,
    /// Recipients stored over all open transactions: bounded by
    /// [`MAX_STORED_RCPTS`] (beyond it, counts stay exact, lists are cut).
    stored_rcpts: usize,
}

/// Recipients kept in memory over all sessions. A hostile client can send
/// many (refused) recipients in many sessions; beyond this, documents show
/// exact counts and shortened lists (and say so).
pub const MAX_STORED_RCPTS: usize = 100_000;

impl SessionTable {
    /// An empty table.
    pub fn new(limits: Limits) -> SessionTable {
        SessionTable {
            sessions: IdMap::default(),
            order: VecDeque::new(),
            generation: 0,
            stamps: 0,
            limits,
            closed: None,
            expired: Vec::new(),
            now: Timestamp::default(),
            last_sweep: 0,
            privacy: Privacy::default(),
            stored_rcpts: 0,
        }
    }

    /// The same table, storing values as `privacy` allows.
    pub fn with_privacy(mut self, privacy: Privacy) -> SessionTable {
        self.privacy = privacy;
        self
    }

    /// Sessions open now.
    pub fn open_sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Applies one report to its session and returns the snapshot after it,
    /// with the stream's own timestamps as the clock for idle expiry.
    pub fn apply<'a>(&'a mut self, report: &Report<'a>) -> Snapshot<'a> {
        self.apply_at(report, report.time)
    }

    /// [`SessionTable::apply`] with `clock` as the time the event was seen,
    /// for idle expiry. Under smtpd that is the local clock: one report
    /// with a wild timestamp must not expire every session.
    pub fn apply_at<'a>(&'a mut self, report: &Report<'a>, clock: Timestamp) -> Snapshot<'a> {
        let key = Key {
            subsystem: report.subsystem,
            id: report.session,
        };
        if clock > self.now {
            self.now = clock;
        }
        let partial = !matches!(report.event, Event::LinkConnect { .. });
        let closes = matches!(report.event, Event::LinkDisconnect {});
        // A session that ends on its first event (smtp-out's failed
        // connections) never enters the table, so it makes no room.
        let generation = if closes || self.sessions.contains_key(&key) {
            0
        } else {
            self.make_room();
            self.generation += 1;
            self.order.push_back((key, self.generation));
            self.generation
        };
        let mut info = EventInfo {
            name: report.event.name(),
            kind: report.event.kind(),
            time: report.time,
            sequence: 0,
            version: report.version,
            version_text: report.version_text,
            mail: None,
            rcpt: None,
            outcome: None,
            expiry: None,
            out_of_order: false,
            line_cut: false,
        };
        let fresh = || Box::new(Session::new(key, report.time, partial, generation));
        let session = if closes {
            let session = self.sessions.remove(&key).unwrap_or_else(fresh);
            self.stored_rcpts = self.stored_rcpts.saturating_sub(session.stored_rcpts());
            self.compact_order();
            self.closed.insert(session)
        } else {
            self.sessions.entry(key).or_insert_with(fresh)
        };
        session.last = report.time;
        session.seen = clock;
        session.counters.events += 1;
        info.sequence = session.counters.events;
        let before = session.stored_rcpts();
        let room = self.stored_rcpts < MAX_STORED_RCPTS;
        update(session, &report.event, &mut info, &self.privacy, room);
        if !closes {
            self.stored_rcpts = (self.stored_rcpts + session.stored_rcpts()).saturating_sub(before);
        }
        let kind = report.event.kind();
        let relinks = kind.is_some_and(EventKind::is_link);
        if relinks || session.facts_stamp == 0 {
            self.stamps += 1;
            session.facts_stamp = self.stamps;
        }
        let retx = kind.is_some_and(EventKind::is_tx);
        if retx || session.tx_stamp == 0 {
            self.stamps += 1;
            session.tx_stamp = self.stamps;
        }
        session.closed = closes;
        Snapshot {
            session,
            event: info,
        }
    }

    /// Evicts the oldest sessions while the table is full.
    fn make_room(&mut self) {
        while self.sessions.len() >= self.limits.max_sessions.max(1) {
            let Some((key, generation)) = self.order.pop_front() else {
                return;
            };
            if self
                .sessions
                .get(&key)
                .is_some_and(|s| s.generation == generation)
            {
                if let Some(session) = self.sessions.remove(&key) {
                    self.retire(session, Expiry::Evicted);
                }
            }
        }
    }

    fn compact_order(&mut self) {
        if self.order.len() > 2 * self.sessions.len() + 64 {
            let sessions = &self.sessions;
            self.order.retain(|(key, generation)| {
                sessions
                    .get(key)
                    .is_some_and(|s| s.generation == *generation)
            });
        }
    }

    /// Moves sessions idle for longer than the idle timeout (by the expiry
    /// clock) to the expired list. Sweeps at most once a minute of that clock.
    pub fn sweep_idle(&mut self) {
        let timeout = self.limits.idle_timeout_secs;
        if timeout == 0 || self.now.secs - self.last_sweep < 60 {
            return;
        }
        self.last_sweep = self.now.secs;
        let limit = self
            .now
            .secs
            .saturating_sub(i64::try_from(timeout).unwrap_or(i64::MAX));
        let idle: Vec<Key> = self
            .sessions
            .values()
            .filter(|s| s.seen.secs < limit)
            .map(|s| s.key)
            .collect();
        for key in idle {
            if let Some(session) = self.sessions.remove(&key) {
                self.retire(session, Expiry::Idle);
            }
        }
        self.compact_order();
    }

    /// Ends every open session (end of input).
    pub fn close_all(&mut self) {
        let mut all: Vec<Box<Session>> = self.sessions.drain().map(|(_, s)| s).collect();
        all.sort_by_key(|s| s.generation);
        self.order.clear();
        for session in all {
            self.retire(session, Expiry::EndOfInput);
        }
    }

    /// A session leaves the table without its link-disconnect.
    fn retire(&mut self, session: Box<Session>, why: Expiry) {
        self.stored_rcpts = self.stored_rcpts.saturating_sub(session.stored_rcpts());
        self.expired.push((session, why));
    }

    /// Takes the sessions expired since the last call, each with a final
    /// snapshot, oldest first.
    pub fn drain_expired(&mut self, mut each: impl FnMut(Snapshot<'_>)) {
        for (mut session, why) in std::mem::take(&mut self.expired) {
            session.counters.events += 1;
            session.closed = true;
            let info = EventInfo {
                name: why.action().as_bytes(),
                kind: None,
                time: if why == Expiry::Idle {
                    self.now
                } else {
                    session.last
                },
                sequence: session.counters.events,
                version: Version::V0_7,
                version_text: b"",
                mail: None,
                rcpt: None,
                outcome: None,
                expiry: Some(why),
                out_of_order: false,
                line_cut: false,
            };
            each(Snapshot {
                session: &session,
                event: info,
            });
        }
    }
}

/// Copies `value` for storing, through `transform` when it changes it.
fn keep(value: &[u8], cap: usize, transform: impl FnOnce(&[u8]) -> Option<Vec<u8>>) -> Text {
    match transform(value) {
        Some(changed) => Text::new(&changed, cap),
        None => Text::new(value, cap),
    }
}

fn update<'a>(
    s: &mut Session,
    event: &Event<'a>,
    info: &mut EventInfo<'a>,
    privacy: &Privacy,
    rcpt_room: bool,
) {
    match *event {
        Event::LinkConnect {
            rdns,
            fcrdns,
            src,
            dest,
        } => {
            if s.counters.connects > 0 && s.key.subsystem == Subsystem::SmtpIn {
                info.out_of_order = true;
            }
            s.counters.connects += 1;
            s.rdns = (rdns != b"<unknown>").then(|| Text::new(rdns, caps::HOST));
            s.fcrdns = Some(fcrdns);
            s.src = Some(Endpoint::parse(src));
            s.dest = Some(Endpoint::parse(dest));
            // A new connection (smtp-out reconnect): its link facts start over.
            s.greeting = None;
            s.helo = None;
            s.tls = None;
            s.auth = None;
            s.exchange = AuthExchange::default();
            s.timed_out = false;
            s.command = None;
            s.response = None;
            s.filter_verdict = None;
            s.filter_note = None;
        }
        Event::LinkGreeting { hostname } => s.greeting = Some(Text::new(hostname, caps::HOST)),
        Event::LinkIdentify { method, identity } => {
            s.helo = Some((method, keep(identity, caps::HOST, |h| privacy.helo(h))));
        }
        Event::LinkTls { tls } => {
            // STARTTLS resets the SMTP state in smtp-in: the client must say
            // EHLO again. smtp-out (7.x) reports its EHLO before link-tls.
            if s.key.subsystem == Subsystem::SmtpIn {
                s.helo = None;
            }
            s.tls = Some(Box::new(Tls::parse(tls)));
        }
        Event::LinkAuth { username, result } => {
            s.auth = Some(Auth {
                username: keep(username, caps::ADDRESS, |u| privacy.user(u)),
                result,
            });
            info.outcome = Some(result == AuthResult::Pass);
        }
        Event::LinkDisconnect {} => {}
        Event::Timeout {} => s.timed_out = true,
        Event::TxBegin { msgid } => {
            s.counters.transactions += 1;
            s.tx = Some(Box::new(Transaction::new(msgid, false)));
        }
        Event::TxMail {
            msgid,
            address,
            result,
        } => {
            let address = keep(address, caps::ADDRESS, |a| privacy.address(a));
            info.outcome = Some(result == TxResult::Ok);
            // A refused MAIL does not touch the open transaction (a second
            // MAIL FROM is refused while the first goes on) and opens none.
            if result == TxResult::Ok {
                s.tx_for(msgid).sender = Some(Sender {
                    address: address.clone(),
                    result,
                });
            }
            info.mail = Some((address, result));
        }
        Event::TxRcpt {
            msgid,
            address,
            result,
        } => {
            let address = keep(address, caps::ADDRESS, |a| privacy.address(a));
            info.outcome = Some(result == TxResult::Ok);
            match result {
                TxResult::Ok => s.counters.recipients_accepted += 1,
                TxResult::PermFail | TxResult::TempFail => s.counters.recipients_refused += 1,
            }
            s.tx_for(msgid).recipient(&address, result, rcpt_room);
            info.rcpt = Some((address, result));
        }
        Event::TxEnvelope { msgid, evpid } => s.tx_for(msgid).envelope(evpid),
        Event::TxData { msgid, result } => {
            info.outcome = Some(result == TxResult::Ok);
            s.tx_for(msgid).data = Some(result);
        }
        Event::TxCommit { msgid, size } => {
            info.outcome = Some(true);
            s.counters.messages += 1;
            s.counters.bytes = s.counters.bytes.saturating_add(size);
            let tx = s.tx_for(msgid);
            tx.size = Some(size);
            tx.status = TxStatus::Committed;
        }
        Event::TxRollback { msgid } => {
            info.outcome = Some(false);
            s.tx_for(msgid).status = TxStatus::RolledBack;
        }
        Event::TxReset { .. } => {
            // smtp-out reports tx-rollback/tx-reset for a refused recipient and
            // then goes on with the same message (mta_session.c): only a
            // committed transaction ends there; tx-begin replaces the others.
            let keep = s.key.subsystem == Subsystem::SmtpOut
                && s.tx
                    .as_ref()
                    .is_some_and(|t| t.status != TxStatus::Committed);
            if !keep {
                s.tx = None;
            }
        }
        Event::ProtocolClient { command } => {
            s.counters.commands += 1;
            // A line is a secret while an AUTH exchange is open: from the
            // AUTH command to its final reply, and after any 334.
            let challenged = s
                .response
                .as_ref()
                .is_some_and(|r| r.bytes().starts_with(b"334"));
            let line = secrets::client_line(command, s.exchange.open || challenged);
            if matches!(line, ClientLine::Auth { .. }) {
                s.exchange.open = true;
            }
            s.exchange.reply_masked = line.hid_something();
            s.command = privacy.command(&line).map(|c| Text::new(c, caps::LINE));
        }
        Event::ProtocolServer { response } => {
            let shown = privacy.response(response, s.exchange.reply_masked);
            s.response = Some(Text::new(shown, caps::LINE));
            // A multi-line reply ends at the line whose code is followed by
            // a space (or nothing); only then is the exchange's step over.
            if response.get(3) != Some(&b'-') {
                s.exchange.reply_masked = false;
                if !response.starts_with(b"334") {
                    s.exchange.open = false;
                }
            }
        }
        Event::FilterReport {
            kind,
            name,
            message,
        } => {
            s.filter_note = Some(Box::new(FilterNote {
                kind,
                name: Text::new(name, caps::TOKEN),
                // Filter messages can repeat addresses.
                message: Text::new(privacy.filter_message(message), caps::LINE),
            }));
        }
        Event::FilterResponse {
            phase,
            decision,
            param,
        } => {
            if decision != b"proceed" {
                s.counters.filter_verdicts += 1;
            }
            s.filter_verdict = Some(FilterVerdict {
                phase: Text::new(privacy.filter_phase(phase), caps::TOKEN),
                decision: Text::new(privacy.filter_decision(decision), caps::TOKEN),
                param: param
                    .and_then(|p| privacy.filter_param(phase, decision, p))
                    .map(|p| Text::new(p, caps::LINE)),
            });
        }
        Event::Unknown { .. } => {}
    }
}

#[cfg(test)]
mod tests;
