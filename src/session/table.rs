//! The table of open sessions: lookup by (subsystem, session id), creation,
//! the end of sessions (disconnect, idle expiry, eviction), and the bounds
//! that keep its memory fixed.

use super::apply::update;
use super::state::{EventInfo, Expiry, Key, Session, Snapshot};
use crate::privacy::Privacy;
use crate::protocol::{is_event_name, Event, EventKind, Report, Timestamp, Version};
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

/// Bounds on the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Open sessions kept at most; the oldest is evicted beyond it.
    pub max_sessions: usize,
    /// Sessions without an event for this many seconds (of the expiry
    /// clock: monotonic under smtpd, the stream's own in a replay) are
    /// expired; 0 turns expiry off.
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
    /// The expiry clock: the latest time seen (a monotonic clock under
    /// smtpd, report timestamps in a replay). Never goes back.
    now: Timestamp,
    /// The time of the latest event, for the documents of expired
    /// sessions (the local wall clock under smtpd, the stream's in a replay).
    time: Timestamp,
    /// Sessions in the order they were last seen, by the second of the
    /// expiry clock: (key, that second, generation). An entry is current
    /// while its session's `seen` is still that second; the sweep takes
    /// expired sessions from the front and stops at the first that is not,
    /// so its cost follows what expires, not what is open.
    by_seen: VecDeque<(Key, i64, u64)>,
    /// The last event sequence of sessions that ended lately, so that a
    /// session met again (evicted or expired, then back; an event after
    /// its disconnect) goes on with its sequence: (subsystem, session id,
    /// sequence) names one document for ever.
    ended: IdMap<u64>,
    /// Their order, oldest first, to bound `ended` at [`ENDED_KEPT`].
    ended_order: VecDeque<(Key, u64)>,
    privacy: Privacy,
    /// Recipients stored over all open transactions: bounded by
    /// [`MAX_STORED_RCPTS`] (beyond it, counts stay exact, lists are cut).
    pub(super) stored_rcpts: usize,
}

/// Ended sessions whose last sequence is kept: a session met again after
/// this many others ended starts its sequence over (about 3 MB).
pub const ENDED_KEPT: usize = 65_536;

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
            time: Timestamp::default(),
            by_seen: VecDeque::new(),
            ended: IdMap::default(),
            ended_order: VecDeque::new(),
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
        self.apply_at(report, report.time, report.time)
    }

    /// [`SessionTable::apply`] with `clock` as the time the event was seen,
    /// for idle expiry, and `time` as the time of day then (for the
    /// documents of sessions that expire). Under smtpd the clock is a
    /// monotonic one: one report with a wild timestamp, or the wall clock
    /// stepped, must not expire every session.
    pub fn apply_at<'a>(
        &'a mut self,
        report: &Report<'a>,
        clock: Timestamp,
        time: Timestamp,
    ) -> Snapshot<'a> {
        let key = Key {
            subsystem: report.subsystem,
            id: report.session,
        };
        if clock > self.now {
            self.now = clock;
        }
        if time > self.time {
            self.time = time;
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
            // An unknown event is named only when the name has smtpd's
            // shape, the rule warnings follow: the field could hold anything.
            name: match report.event.name() {
                name if is_event_name(name) => name,
                _ => crate::privacy::OTHER,
            },
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
        let ended = &mut self.ended;
        let fresh = || {
            let mut session = Box::new(Session::new(key, report.time, partial, generation));
            session.sequence_base = ended.remove(&key).unwrap_or(0);
            session
        };
        let session = if closes {
            let session = self.sessions.remove(&key).unwrap_or_else(fresh);
            self.stored_rcpts = self.stored_rcpts.saturating_sub(session.stored_rcpts());
            self.compact_order();
            self.closed.insert(session)
        } else {
            self.sessions.entry(key).or_insert_with(fresh)
        };
        session.last = report.time;
        // By the clock that never goes back: a replayed stream's older
        // timestamp is seen now all the same, and `by_seen` stays in order.
        let expires = self.limits.idle_timeout_secs > 0;
        if expires
            && !closes
            && (session.counters.events == 0 || session.seen.secs != self.now.secs)
        {
            self.by_seen
                .push_back((key, self.now.secs, session.generation));
        }
        session.seen = self.now;
        session.counters.events += 1;
        info.sequence = session.sequence();
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
        if closes {
            remember(
                &mut self.ended,
                &mut self.ended_order,
                key,
                session.sequence(),
            );
        }
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
    /// clock) to the expired list. Its cost follows the sessions that
    /// expire (and the stale entries of `by_seen` it passes), not the
    /// sessions open: it may run after every line.
    pub fn sweep_idle(&mut self) {
        let timeout = self.limits.idle_timeout_secs;
        if timeout == 0 {
            self.by_seen.clear();
            return;
        }
        let limit = self
            .now
            .secs
            .saturating_sub(i64::try_from(timeout).unwrap_or(i64::MAX));
        let mut expired = false;
        while let Some(&(key, secs, generation)) = self.by_seen.front() {
            if secs >= limit {
                break;
            }
            self.by_seen.pop_front();
            let current = self
                .sessions
                .get(&key)
                .is_some_and(|s| s.generation == generation && s.seen.secs == secs);
            if current {
                if let Some(session) = self.sessions.remove(&key) {
                    self.retire(session, Expiry::Idle);
                    expired = true;
                }
            }
        }
        if expired {
            self.compact_order();
        }
        // One entry per session per second it was seen in: stale ones go
        // when they reach the front, or here when they outnumber the rest.
        if self.by_seen.len() > 2 * self.sessions.len() + 64 {
            let sessions = &self.sessions;
            self.by_seen.retain(|(key, secs, generation)| {
                sessions
                    .get(key)
                    .is_some_and(|s| s.generation == *generation && s.seen.secs == *secs)
            });
        }
    }

    /// Ends every open session (end of input).
    pub fn close_all(&mut self) {
        let mut all: Vec<Box<Session>> = self.sessions.drain().map(|(_, s)| s).collect();
        all.sort_by_key(|s| s.generation);
        self.order.clear();
        self.by_seen.clear();
        for session in all {
            self.retire(session, Expiry::EndOfInput);
        }
    }

    /// A session leaves the table without its link-disconnect.
    fn retire(&mut self, session: Box<Session>, why: Expiry) {
        self.stored_rcpts = self.stored_rcpts.saturating_sub(session.stored_rcpts());
        // Its final document takes the next sequence number.
        remember(
            &mut self.ended,
            &mut self.ended_order,
            session.key,
            session.sequence() + 1,
        );
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
                    self.time
                } else {
                    session.last
                },
                sequence: session.sequence(),
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

/// Keeps the last sequence of an ended session, the oldest forgotten
/// beyond [`ENDED_KEPT`].
fn remember(ended: &mut IdMap<u64>, order: &mut VecDeque<(Key, u64)>, key: Key, sequence: u64) {
    ended.insert(key, sequence);
    order.push_back((key, sequence));
    while order.len() > ENDED_KEPT {
        if let Some((old, seq)) = order.pop_front() {
            // The same id may have ended again since: keep the newer.
            if ended.get(&old) == Some(&seq) {
                ended.remove(&old);
            }
        }
    }
}
