//! Was it delivered? smtpd's delivery lines (`maillog`) joined to the
//! recipients of the documents' committed smtp-in transactions.
//!
//! Every accepted recipient carries its envelope ids
//! (`opensmtpd.transaction.rcpt[].envelope_ids`); every delivery, expiry
//! and removal line names one envelope. Inputs come in any order (the
//! documents before the mail log or after, rotated files in any order), so
//! both sides are kept, bounded, and joined once at the end:
//!
//! - a recipient's outcome is its envelope's final line (`Ok`: delivered;
//!   `PermFail`, a loop included: bounced; `Expire`: expired; `Remove`:
//!   removed by the administrator), or deferred when it only had
//!   `TempFail` lines; each `TempFail` line is one attempt;
//! - a line whose envelope no recipient lists, but whose message (the
//!   envelope id's first 8 hex digits) a document committed, joins that
//!   message as a recipient of its own (a recipient list the filter
//!   shortened, a document of a filter without `envelope_ids`);
//! - any other line is `not_in_documents`: mail accepted before the
//!   filter ran, through a listener without it, or its documents rotated
//!   away;
//! - the delay runs from the smtp-in `tx-commit` to the delivery: for a
//!   relay the smtp-out `tx-commit` of the same message and recipient when
//!   a document shows it, else the line's syslog time (RFC 3339 headers
//!   only), else smtpd's whole-second `delay=`.

use super::maillog::{self, Agent, QueueAction, Result_, SmtpdLine};
use super::state::Seen;
use super::summary::Row;
use super::tables::Tables;
use super::topn::{cut, hash64, FxBuild};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Envelopes kept per side (recipients, mail log trails): a day of a busy
/// server; beyond, counted in `input.maillog_not_followed`.
pub const MAX_ENVELOPES: usize = 1 << 19;
/// Distinct domains and reasons kept; beyond, `(other)`.
const MAX_NAMES: usize = 50_000;
/// Distinct reasons kept per envelope (retries repeat the same few).
const MAX_REASONS_PER_ENVELOPE: usize = 8;
/// Longest reason kept.
const MAX_REASON: usize = 255;

/// Interned strings, bounded: id 0 is `(other)`.
#[derive(Debug)]
struct Names {
    ids: HashMap<Box<str>, u32, FxBuild>,
    names: Vec<Box<str>>,
}

impl Default for Names {
    fn default() -> Names {
        Names {
            ids: HashMap::default(),
            names: vec!["(other)".into()],
        }
    }
}

impl Names {
    fn id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        if self.names.len() >= MAX_NAMES {
            return 0;
        }
        let id = u32::try_from(self.names.len()).unwrap_or(0);
        self.names.push(name.into());
        self.ids.insert(name.into(), id);
        id
    }

    fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("(other)", |n| n)
    }
}

/// The domain of an address, lower case (`(none)` without one).
fn domain(address: &[u8]) -> String {
    let address = String::from_utf8_lossy(address);
    super::aggregate::domain_of(&address)
}

/// A recipient of a committed smtp-in transaction.
#[derive(Clone, Copy, Debug)]
struct Accepted {
    /// The smtp-in tx-commit.
    t: i64,
    domain: u32,
    in_window: bool,
}

/// A committed smtp-in message.
#[derive(Clone, Copy, Debug)]
struct Message {
    t: i64,
    in_window: bool,
}

/// How an envelope's lines end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Delivered,
    Bounced,
    Expired,
    Removed,
}

#[derive(Clone, Copy, Debug)]
struct Final {
    outcome: Outcome,
    agent: Agent,
    /// The line's syslog time.
    t: Option<i64>,
    /// `delay=`, seconds.
    delay: i64,
    /// `to=`, hashed lower case: the smtp-out recipient it was relayed as.
    to: u64,
    reason: u32,
}

/// One envelope's lines.
#[derive(Clone, Debug)]
struct Trail {
    lines: u32,
    tempfails: u32,
    last_agent: Agent,
    fin: Option<Final>,
    /// The recipient's domain as the lines name it (for a join by message).
    domain: u32,
    /// TempFail reasons and how often.
    reasons: Vec<(u32, u32)>,
}

/// An smtp-out `tx-commit`.
#[derive(Clone, Copy, Debug)]
struct OutCommit {
    msgid: u32,
    t: i64,
    domain: u32,
}

/// `relay_delay`: from the documents alone, each smtp-out `tx-commit`
/// after the smtp-in `tx-commit` of the same message (`email.local_id`),
/// as the delay panel draws it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RelayDelay {
    /// smtp-out transactions whose message's smtp-in `tx-commit` a
    /// document shows.
    pub transactions: u64,
    #[serde(flatten)]
    pub delay: Delay,
    /// Per destination domain: rows `{domain, transactions, median, p90, max}`.
    pub by_domain: Vec<DomainRelayDelay>,
}

/// One row of `relay_delay.by_domain`.
#[derive(Clone, Debug, Serialize)]
pub struct DomainRelayDelay {
    pub domain: String,
    pub transactions: u64,
    #[serde(flatten)]
    pub delay: Delay,
}

/// Outcomes of a set of recipients.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Outcomes {
    pub delivered: u64,
    pub deferred: u64,
    pub bounced: u64,
    pub expired: u64,
}

impl Outcomes {
    fn total(&self) -> u64 {
        self.delivered + self.deferred + self.bounced + self.expired
    }
}

/// One row of `delivery.by_domain`.
#[derive(Clone, Debug, Serialize)]
pub struct DomainOutcomes {
    pub domain: String,
    #[serde(flatten)]
    pub outcomes: Outcomes,
}

/// Seconds from acceptance to delivery (nearest rank: the median is the
/// value at rank ⌈n/2⌉, p90 at ⌈0.9·n⌉ of the sorted delays).
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Delay {
    pub median: Option<f64>,
    pub p90: Option<f64>,
    pub max: Option<f64>,
}

/// One row of `delivery.delay_by_domain`.
#[derive(Clone, Debug, Serialize)]
pub struct DomainDelay {
    pub domain: String,
    pub delivered: u64,
    #[serde(flatten)]
    pub delay: Delay,
}

/// `delivery` in the JSON form.
#[derive(Clone, Debug, Serialize)]
pub struct DeliverySummary {
    pub delivered: u64,
    pub deferred: u64,
    pub bounced: u64,
    pub expired: u64,
    /// Removed with `smtpctl remove`.
    pub removed: u64,
    /// Recipients with no line in the mail log (not tried yet, or their
    /// lines are in a file not given).
    pub not_in_maillog: u64,
    pub tempfail_attempts: u64,
    pub local: Outcomes,
    pub relayed: Outcomes,
    pub by_domain: Vec<DomainOutcomes>,
    pub bounces_generated: u64,
    pub delay_seconds: Delay,
    pub delay_by_domain: Vec<DomainDelay>,
    pub top_reasons: Vec<Row>,
    pub not_in_documents: u64,
}

/// Both sides of the join, as read so far.
#[derive(Debug, Default)]
pub struct Deliveries {
    accepted: HashMap<u64, Accepted, FxBuild>,
    messages: HashMap<u32, Message, FxBuild>,
    /// smtp-out tx-commit per (msgid, recipient hashed lower case).
    relayed: HashMap<(u32, u64), i64, FxBuild>,
    trails: HashMap<u64, Trail, FxBuild>,
    /// smtp-out tx-commits in the window, for the relay delay.
    out_commits: Vec<OutCommit>,
    domains: Names,
    reasons: Names,
    /// Bounces from the documents and from the mail log, by msgid.
    bounces: HashSet<u32, FxBuild>,
    local_sessions: HashSet<u64, FxBuild>,
    seen: Seen,
    /// smtpd's lines read.
    pub smtpd_lines: u64,
    /// Delivery or queue lines that could not be read.
    pub malformed: u64,
    /// Envelopes beyond MAX_ENVELOPES.
    pub not_followed: u64,
}

/// The msgid of an envelope id.
fn msgid(evpid: u64) -> u32 {
    (evpid >> 32) as u32
}

fn hex8(s: &str) -> Option<u32> {
    (s.len() == 8)
        .then(|| u32::from_str_radix(s, 16).ok())
        .flatten()
}

fn hex16(s: &str) -> Option<u64> {
    (s.len() == 16)
        .then(|| u64::from_str_radix(s, 16).ok())
        .flatten()
}

fn address_key(address: &[u8]) -> u64 {
    hash64(&address.to_ascii_lowercase())
}

impl Deliveries {
    /// An smtp-in `tx-commit`: its recipients' envelopes. `local`: the
    /// session came over the socket (smtpd's own bounces do).
    pub fn accepted(&mut self, tx: &super::doc::Tx, t: i64, in_window: bool, local: bool) {
        let Some(id) = tx.msgid.as_ref().and_then(|m| hex8(m.as_str())) else {
            return;
        };
        if self.messages.len() < MAX_ENVELOPES || self.messages.contains_key(&id) {
            self.messages.entry(id).or_insert(Message { t, in_window });
        } else {
            self.not_followed += 1;
        }
        if in_window
            && local
            && tx.mail.as_ref().is_some_and(|m| m.as_str().is_empty())
            && self.bounces.len() < MAX_ENVELOPES
        {
            self.bounces.insert(id);
        }
        for r in &tx.rcpt {
            if r.result.as_ref().map(|r| r.as_str()) != Some("ok") {
                continue;
            }
            let address = r.address.as_ref().map_or("", |a| a.as_str());
            let d = self.domains.id(&super::aggregate::domain_of(address));
            for evpid in r.envelope_ids.iter().filter_map(|e| hex16(e.as_str())) {
                if self.accepted.len() >= MAX_ENVELOPES && !self.accepted.contains_key(&evpid) {
                    self.not_followed += 1;
                    continue;
                }
                self.accepted.entry(evpid).or_insert(Accepted {
                    t,
                    domain: d,
                    in_window,
                });
            }
        }
    }

    /// An smtp-out `tx-commit`: when each recipient left.
    pub fn relayed(&mut self, tx: &super::doc::Tx, t: i64, in_window: bool) {
        let Some(id) = tx.msgid.as_ref().and_then(|m| hex8(m.as_str())) else {
            return;
        };
        if in_window && self.out_commits.len() < MAX_ENVELOPES {
            // smtpd's mta groups a message's recipients by relay domain:
            // the first accepted one names the transaction's.
            let first = tx
                .rcpt
                .iter()
                .find(|r| r.result.as_ref().map(|r| r.as_str()) == Some("ok"))
                .and_then(|r| r.address.as_ref())
                .map_or("", |a| a.as_str());
            let domain = self.domains.id(&super::aggregate::domain_of(first));
            self.out_commits.push(OutCommit {
                msgid: id,
                t,
                domain,
            });
        }
        for r in &tx.rcpt {
            if r.result.as_ref().map(|r| r.as_str()) != Some("ok") {
                continue;
            }
            let address = r.address.as_ref().map_or("", |a| a.as_str());
            let key = (id, address_key(address.as_bytes()));
            if self.relayed.len() < MAX_ENVELOPES || self.relayed.contains_key(&key) {
                let at = self.relayed.entry(key).or_insert(t);
                *at = (*at).min(t);
            }
        }
    }

    /// One of smtpd's lines; `line` is the whole line (for duplicates),
    /// `window` the report's `--since`/`--until`.
    pub fn smtpd_line(
        &mut self,
        line: &[u8],
        text: &[u8],
        t: Option<i64>,
        window: (Option<i64>, Option<i64>),
    ) {
        self.smtpd_lines += 1;
        let parsed = match maillog::parse(text) {
            Ok(p) => p,
            Err(_) => {
                self.malformed += 1;
                return;
            }
        };
        match parsed {
            SmtpdLine::Delivery(d) => {
                if !self.seen.insert(hash64(line)) {
                    return;
                }
                let domain = self.domains.id(&domain(d.rcpt.unwrap_or(d.to)));
                let reason = self.reason(d.stat);
                let outcome = match d.result {
                    Result_::Ok => Some(Outcome::Delivered),
                    Result_::PermFail => Some(Outcome::Bounced),
                    Result_::TempFail => None,
                };
                let Some(trail) = self.trail(d.evpid, d.agent, domain) else {
                    return;
                };
                trail.lines = trail.lines.saturating_add(1);
                trail.last_agent = d.agent;
                match outcome {
                    Some(outcome) => {
                        trail.fin.get_or_insert(Final {
                            outcome,
                            agent: d.agent,
                            t,
                            delay: d.delay,
                            to: address_key(d.to),
                            reason,
                        });
                    }
                    None => {
                        trail.tempfails = trail.tempfails.saturating_add(1);
                        let full = trail.reasons.len() >= MAX_REASONS_PER_ENVELOPE;
                        match trail.reasons.iter_mut().find(|(r, _)| *r == reason) {
                            Some((_, n)) => *n = n.saturating_add(1),
                            // Beyond the bound, a new reason counts as "(other)".
                            None if full => match trail.reasons.iter_mut().find(|(r, _)| *r == 0) {
                                Some((_, n)) => *n = n.saturating_add(1),
                                None => trail.reasons.push((0, 1)),
                            },
                            None => trail.reasons.push((reason, 1)),
                        }
                    }
                }
            }
            SmtpdLine::Queue {
                agent,
                action,
                evpid,
                stat,
            } => {
                if !self.seen.insert(hash64(line)) {
                    return;
                }
                let reason = self.reason(stat);
                let Some(trail) = self.trail(evpid, agent, 0) else {
                    return;
                };
                trail.lines = trail.lines.saturating_add(1);
                trail.last_agent = agent;
                trail.fin.get_or_insert(Final {
                    outcome: match action {
                        QueueAction::Expire => Outcome::Expired,
                        QueueAction::Remove => Outcome::Removed,
                    },
                    agent,
                    t,
                    delay: 0,
                    to: 0,
                    reason,
                });
            }
            SmtpdLine::Connected { session, local } => {
                if local && self.local_sessions.len() < MAX_ENVELOPES {
                    self.local_sessions.insert(session);
                }
            }
            SmtpdLine::Disconnected { session } => {
                self.local_sessions.remove(&session);
            }
            SmtpdLine::Envelope {
                session,
                evpid,
                null_sender,
            } => {
                let (since, until) = window;
                let inside =
                    t.is_none_or(|t| since.is_none_or(|s| t >= s) && until.is_none_or(|u| t < u));
                if null_sender
                    && inside
                    && self.local_sessions.contains(&session)
                    && self.bounces.len() < MAX_ENVELOPES
                {
                    self.bounces.insert(msgid(evpid));
                }
            }
            SmtpdLine::Other => {}
        }
    }

    fn reason(&mut self, stat: &[u8]) -> u32 {
        let text = String::from_utf8_lossy(stat);
        let clean: String = cut(&text, MAX_REASON)
            .chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect();
        self.reasons.id(&clean)
    }

    fn trail(&mut self, evpid: u64, agent: Agent, domain: u32) -> Option<&mut Trail> {
        if self.trails.len() >= MAX_ENVELOPES && !self.trails.contains_key(&evpid) {
            self.not_followed += 1;
            return None;
        }
        let trail = self.trails.entry(evpid).or_insert(Trail {
            lines: 0,
            tempfails: 0,
            last_agent: agent,
            fin: None,
            domain,
            reasons: Vec::new(),
        });
        if trail.domain == 0 {
            trail.domain = domain;
        }
        Some(trail)
    }

    /// The relay delay from the documents (no mail log needed).
    pub fn relay_delay(&self, top: usize) -> RelayDelay {
        let mut all: Vec<i64> = Vec::new();
        let mut per: BTreeMap<u32, Vec<i64>> = BTreeMap::new();
        for c in &self.out_commits {
            let Some(m) = self.messages.get(&c.msgid) else {
                continue;
            };
            let us = c.t.saturating_sub(m.t).max(0);
            all.push(us);
            per.entry(c.domain).or_default().push(us);
        }
        let mut rows: Vec<DomainRelayDelay> = per
            .into_iter()
            .map(|(d, mut v)| DomainRelayDelay {
                domain: self.domains.name(d).to_string(),
                transactions: v.len() as u64,
                delay: percentiles(&mut v),
            })
            .collect();
        rows.sort_by(|a, b| {
            b.transactions
                .cmp(&a.transactions)
                .then_with(|| a.domain.cmp(&b.domain))
        });
        rows.truncate(top);
        RelayDelay {
            transactions: all.len() as u64,
            delay: percentiles(&mut all),
            by_domain: rows,
        }
    }

    /// The joined figures; `None` when no input had a line of smtpd's.
    pub fn summary(&self, top: usize) -> Option<DeliverySummary> {
        if self.smtpd_lines == 0 {
            return None;
        }
        let mut s = DeliverySummary {
            delivered: 0,
            deferred: 0,
            bounced: 0,
            expired: 0,
            removed: 0,
            not_in_maillog: 0,
            tempfail_attempts: 0,
            local: Outcomes::default(),
            relayed: Outcomes::default(),
            by_domain: Vec::new(),
            bounces_generated: self.bounces.len() as u64,
            delay_seconds: Delay::default(),
            delay_by_domain: Vec::new(),
            top_reasons: Vec::new(),
            not_in_documents: 0,
        };
        let mut per_domain: BTreeMap<u32, Outcomes> = BTreeMap::new();
        let mut delays: Vec<i64> = Vec::new();
        let mut domain_delays: BTreeMap<u32, Vec<i64>> = BTreeMap::new();
        let mut reasons: HashMap<u32, u64, FxBuild> = HashMap::default();
        // The recipients the documents list, then the lines joined by message.
        let listed = self.accepted.iter().map(|(&e, a)| (e, *a));
        let by_message = self.trails.iter().filter_map(|(&evpid, trail)| {
            if self.accepted.contains_key(&evpid) {
                return None;
            }
            self.messages.get(&msgid(evpid)).map(|m| {
                (
                    evpid,
                    Accepted {
                        t: m.t,
                        domain: trail.domain,
                        in_window: m.in_window,
                    },
                )
            })
        });
        for (evpid, a) in listed.chain(by_message) {
            if !a.in_window {
                continue;
            }
            let Some(trail) = self.trails.get(&evpid) else {
                s.not_in_maillog += 1;
                continue;
            };
            s.tempfail_attempts += u64::from(trail.tempfails);
            for &(r, n) in &trail.reasons {
                *reasons.entry(r).or_default() += u64::from(n);
            }
            let agent = trail.fin.map_or(trail.last_agent, |f| f.agent);
            let split = match agent {
                Agent::Mda => &mut s.local,
                Agent::Mta => &mut s.relayed,
            };
            let row = per_domain.entry(a.domain).or_default();
            match trail.fin {
                None => {
                    s.deferred += 1;
                    split.deferred += 1;
                    row.deferred += 1;
                }
                Some(f) => match f.outcome {
                    Outcome::Delivered => {
                        s.delivered += 1;
                        split.delivered += 1;
                        row.delivered += 1;
                        let relayed_at = (f.agent == Agent::Mta)
                            .then(|| self.relayed.get(&(msgid(evpid), f.to)).copied())
                            .flatten();
                        let us = match relayed_at.or(f.t) {
                            Some(end) => end.saturating_sub(a.t).max(0),
                            None => f.delay.max(0).saturating_mul(1_000_000),
                        };
                        delays.push(us);
                        domain_delays.entry(a.domain).or_default().push(us);
                    }
                    Outcome::Bounced | Outcome::Expired => {
                        if f.outcome == Outcome::Bounced {
                            s.bounced += 1;
                            split.bounced += 1;
                            row.bounced += 1;
                        } else {
                            s.expired += 1;
                            split.expired += 1;
                            row.expired += 1;
                        }
                        *reasons.entry(f.reason).or_default() += 1;
                    }
                    Outcome::Removed => s.removed += 1,
                },
            }
        }
        s.not_in_documents = self
            .trails
            .iter()
            .filter(|(&evpid, _)| {
                !self.accepted.contains_key(&evpid) && !self.messages.contains_key(&msgid(evpid))
            })
            .map(|(_, t)| u64::from(t.lines))
            .sum();
        let mut rows: Vec<DomainOutcomes> = per_domain
            .into_iter()
            .filter(|(_, o)| o.total() > 0)
            .map(|(d, outcomes)| DomainOutcomes {
                domain: self.domains.name(d).to_string(),
                outcomes,
            })
            .collect();
        rows.sort_by(|a, b| {
            b.outcomes
                .total()
                .cmp(&a.outcomes.total())
                .then_with(|| a.domain.cmp(&b.domain))
        });
        rows.truncate(top);
        s.by_domain = rows;
        s.delay_seconds = percentiles(&mut delays);
        let mut rows: Vec<DomainDelay> = domain_delays
            .into_iter()
            .map(|(d, mut v)| DomainDelay {
                domain: self.domains.name(d).to_string(),
                delivered: v.len() as u64,
                delay: percentiles(&mut v),
            })
            .collect();
        rows.sort_by(|a, b| {
            b.delivered
                .cmp(&a.delivered)
                .then_with(|| a.domain.cmp(&b.domain))
        });
        rows.truncate(top);
        s.delay_by_domain = rows;
        let mut rows: Vec<Row> = reasons
            .into_iter()
            .map(|(r, count)| Row {
                key: self.reasons.name(r).to_string(),
                count,
                label: None,
                error: 0,
            })
            .collect();
        rows.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
        rows.truncate(top);
        s.top_reasons = rows;
        Some(s)
    }
}

/// Nearest-rank median, 90th percentile and maximum of microseconds, in
/// seconds.
fn percentiles(us: &mut [i64]) -> Delay {
    us.sort_unstable();
    let n = us.len();
    let rank = |p: usize| {
        // ⌈p·n/100⌉ − 1, in integers.
        let r = (p * n).div_ceil(100).max(1) - 1;
        us.get(r).map(|&v| v as f64 / 1e6)
    };
    Delay {
        median: rank(50),
        p90: rank(90),
        max: us.last().map(|&v| v as f64 / 1e6),
    }
}

/// `1.234 s`, or `-`.
fn seconds(s: Option<f64>) -> String {
    s.map_or_else(|| "-".to_string(), |s| format!("{s:.3} s"))
}

/// The section's figures, for both forms: name, value, note.
pub fn figures(d: &DeliverySummary) -> Vec<(&'static str, String, &'static str)> {
    let mut f = vec![
        ("delivered", d.delivered.to_string(), "(recipients)"),
        (
            "deferred",
            d.deferred.to_string(),
            "(a temporary failure, no final result yet)",
        ),
        (
            "bounced",
            d.bounced.to_string(),
            "(permanent failure or loop)",
        ),
        ("expired", d.expired.to_string(), "(queue lifetime ran out)"),
    ];
    if d.removed > 0 {
        f.push(("removed", d.removed.to_string(), "(smtpctl remove)"));
    }
    f.extend([
        (
            "not in the mail log",
            d.not_in_maillog.to_string(),
            "(recipients without a delivery line)",
        ),
        (
            "temporary failures",
            d.tempfail_attempts.to_string(),
            "(attempts)",
        ),
        (
            "bounces generated",
            d.bounces_generated.to_string(),
            "(bounce messages smtpd made)",
        ),
        (
            "delay median",
            seconds(d.delay_seconds.median),
            "(tx-commit to delivery)",
        ),
        ("delay 90th percentile", seconds(d.delay_seconds.p90), ""),
        ("delay max", seconds(d.delay_seconds.max), ""),
        (
            "lines not in documents",
            d.not_in_documents.to_string(),
            "(no document holds their envelope)",
        ),
    ]);
    f
}

/// The relay delay table, the same in both forms (shown with or without a
/// mail log: it needs only the documents).
pub fn relay_delay_table(o: &mut impl Tables, r: &RelayDelay) {
    let row = |key: &str, n: u64, d: &Delay| {
        let values = vec![
            n.to_string(),
            seconds(d.median),
            seconds(d.p90),
            seconds(d.max),
        ];
        (key.to_string(), values)
    };
    let mut rows = vec![row("all destinations", r.transactions, &r.delay)];
    rows.extend(
        r.by_domain
            .iter()
            .map(|d| row(&d.domain, d.transactions, &d.delay)),
    );
    if r.transactions == 0 {
        rows.clear();
    }
    o.table(
        "Relay delay by destination domain (smtp-in to smtp-out tx-commit)",
        &["relayed", "median", "p90", "max"],
        rows,
    );
}

/// The one line shown instead of the section.
pub fn absent(maillog_lines: u64) -> &'static str {
    if maillog_lines == 0 {
        "no mail log among the inputs: give smtpd's (/var/log/mail.log, /var/log/maillog) beside the documents to see what was delivered"
    } else {
        "the mail log read has no line of smtpd's: delivery outcomes unknown"
    }
}

/// The section's tables, the same in both forms.
pub fn tables(o: &mut impl Tables, d: &DeliverySummary) {
    let row = |name: &str, x: &Outcomes| {
        let values = [x.delivered, x.deferred, x.bounced, x.expired];
        (
            name.to_string(),
            values.iter().map(u64::to_string).collect(),
        )
    };
    let columns = ["delivered", "deferred", "bounced", "expired"];
    o.table(
        "Delivery, local and relayed (recipients)",
        &columns,
        vec![
            row("local (mda)", &d.local),
            row("relayed (mta)", &d.relayed),
        ],
    );
    o.table(
        "Delivery by recipient domain",
        &columns,
        d.by_domain
            .iter()
            .map(|r| row(&r.domain, &r.outcomes))
            .collect(),
    );
    o.table(
        "Delivery delay by recipient domain (tx-commit to delivery)",
        &["delivered", "median", "p90", "max"],
        d.delay_by_domain
            .iter()
            .map(|r| {
                let values = vec![
                    r.delivered.to_string(),
                    seconds(r.delay.median),
                    seconds(r.delay.p90),
                    seconds(r.delay.max),
                ];
                (r.domain.clone(), values)
            })
            .collect(),
    );
    o.rows(
        "Deferral and bounce reasons (stat=)",
        "count",
        &d.top_reasons,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let mut v: Vec<i64> = (1..=10).map(|s| s * 1_000_000).collect();
        let d = percentiles(&mut v);
        assert_eq!((d.median, d.p90, d.max), (Some(5.0), Some(9.0), Some(10.0)));
        let mut one = vec![1_500_000];
        let d = percentiles(&mut one);
        assert_eq!((d.median, d.p90, d.max), (Some(1.5), Some(1.5), Some(1.5)));
        let d = percentiles(&mut []);
        assert_eq!((d.median, d.p90, d.max), (None, None, None));
        let mut three = vec![3, 1, 2];
        let d = percentiles(&mut three);
        assert_eq!((d.median, d.p90), (Some(2e-6), Some(3e-6)));
    }

    #[test]
    fn envelopes_are_bounded() {
        let mut d = Deliveries::default();
        for evpid in 0..=MAX_ENVELOPES as u64 {
            let _ = d.trail(evpid, Agent::Mta, 0);
        }
        assert_eq!(d.trails.len(), MAX_ENVELOPES);
        assert_eq!(d.not_followed, 1);
        // A known envelope still gets its lines.
        assert!(d.trail(7, Agent::Mta, 0).is_some());
    }

    #[test]
    fn names_are_bounded() {
        let mut n = Names::default();
        for i in 0..MAX_NAMES + 10 {
            n.id(&i.to_string());
        }
        assert_eq!(n.names.len(), MAX_NAMES);
        assert_eq!(n.id("one more"), 0);
        assert_eq!(n.name(0), "(other)");
    }
}
