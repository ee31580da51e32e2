//! What a session, its AUTH exchange, its filter verdicts and one event's
//! own facts look like: the types a document is made of.

use super::text::{caps, Text};
use super::tx::Transaction;
use super::Endpoint;
use crate::protocol::{
    AuthResult, EventKind, Fcrdns, FilterKind, HeloMethod, Subsystem, Timestamp, TxResult, Version,
};

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

    pub(super) fn parse(raw: &[u8]) -> Tls {
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
    /// The session sent an AUTH command (whatever became of it): from
    /// then on, a client line that is not an SMTP command is a secret.
    pub sent_auth: bool,
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
pub struct SessionCounters {
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
    /// link-auth results other than pass.
    pub auth_failures: u64,
    /// Server replies with a 4xx code (the last line of each reply).
    pub replies_4xx: u64,
    /// Server replies with a 5xx code (the last line of each reply).
    pub replies_5xx: u64,
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
    pub counters: SessionCounters,
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
    /// The sequence of its last event before the filter lost it (evicted,
    /// expired, or disconnected and then met again); 0 for a new session.
    pub sequence_base: u64,
    pub(super) generation: u64,
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

    pub(super) fn new(key: Key, time: Timestamp, partial: bool, generation: u64) -> Session {
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
            // A session first seen mid-stream (evicted or expired, then
            // back; or the filter started late) may be inside an AUTH
            // exchange: until a final reply says otherwise, its client lines
            // and the reply to them are secrets; and it may have sent AUTH.
            exchange: AuthExchange {
                open: partial,
                reply_masked: partial,
                sent_auth: partial,
            },
            command: None,
            response: None,
            filter_verdict: None,
            filter_note: None,
            timed_out: false,
            counters: SessionCounters::default(),
            tx: None,
            closed: false,
            facts_stamp: 0,
            tx_stamp: 0,
            sequence_base: 0,
            generation,
        }
    }

    /// The `event.sequence` of its latest event: counted on from where the
    /// filter lost it, so no two documents share one.
    pub fn sequence(&self) -> u64 {
        self.sequence_base.saturating_add(self.counters.events)
    }

    /// Recipients its transaction keeps in memory.
    pub(super) fn stored_rcpts(&self) -> usize {
        self.tx.as_ref().map_or(0, |t| t.recipients.len())
    }

    /// The transaction for `msgid`, created (partial) when none is open or
    /// another one is. In smtp-out, any tx event after a rollback means the
    /// message goes on (see [`Transaction::resume`]).
    pub(super) fn tx_for(&mut self, msgid: u32) -> &mut Transaction {
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
