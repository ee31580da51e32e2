//! What the report keeps while reading: counters, bounded tables, and the
//! little per-session state the figures need between documents.

use super::doc::Tx;
use super::topn::{Distinct, FxBuild, TopN};
use serde::ser::{SerializeStruct, Serializer};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

/// Hour buckets kept at most (a year and a half).
pub const MAX_HOURS: usize = 13_000;
/// Documents remembered to drop duplicates.
pub const MAX_SEEN: usize = 1 << 18;
/// Sessions with state between documents kept at most.
pub const MAX_OPEN: usize = 100_000;
/// Recipient domains remembered per session (for sessions per domain).
const MAX_DOMAINS_PER_SESSION: usize = 256;

/// Counts about the input itself, as the JSON form's `input` shows them.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Input {
    /// Inputs read (files or stdin).
    pub files: u64,
    /// Inputs that could not be read (all or part), with the reason.
    pub errors: Vec<String>,
    /// Inputs read whole with something odd but harmless (bytes after
    /// the last gzip member).
    pub warnings: Vec<String>,
    /// Files given again (the same file by any name), read once.
    pub files_repeated: u64,
    /// Non-empty lines read.
    pub lines: u64,
    /// Lines that were filter-jsonlog documents.
    pub documents: u64,
    /// Documents that counted in the figures.
    pub used: u64,
    /// Event documents whose facts a later document repeats.
    pub repeated: u64,
    /// Documents outside `--since`/`--until`.
    pub outside_window: u64,
    /// Documents seen before (same session and sequence).
    pub duplicates: u64,
    /// How many recent documents duplicates are looked for among
    /// (`MAX_SEEN`): an older copy counts again.
    pub duplicates_window: u64,
    /// Lines that were not documents, by why.
    #[serde(flatten)]
    pub not_documents: NotDocuments,
    /// Documents with fields this version does not know.
    pub unknown_fields: u64,
    /// The first few of those fields.
    pub unknown_field_names: Vec<String>,
    /// Documents marked `opensmtpd.protocol.unknown_version`.
    pub unknown_versions: u64,
    /// Documents of a subsystem other than smtp-in/smtp-out.
    pub unknown_subsystem: u64,
    /// Documents the filter shortened (`opensmtpd.truncated`).
    pub truncated_by_filter: u64,
    /// Transactions whose recipient list was shorter than their counts:
    /// per-address and per-domain figures miss some recipients.
    pub shortened_recipient_lists: u64,
    /// Sessions the report stopped following (more than MAX_OPEN open).
    pub sessions_evicted: u64,
    /// Documents after the last hour bucket kept.
    pub hours_dropped: u64,
    /// Lines of a mail log (a syslog header, or smtpd's own text) that were
    /// not documents: read for smtpd's delivery lines, the rest counted.
    pub maillog_lines: u64,
    /// Of those, smtpd's.
    pub maillog_smtpd_lines: u64,
    /// smtpd's delivery and queue lines that could not be read.
    pub maillog_malformed: u64,
    /// Envelopes beyond the join's memory bound, not followed.
    pub maillog_not_followed: u64,
}

/// Lines that were not filter-jsonlog documents.
#[derive(Clone, Debug, Default)]
pub struct NotDocuments {
    /// Lines with no JSON object, or not valid JSON.
    pub not_json: u64,
    /// JSON objects of other programs.
    pub other_programs: u64,
    /// filter-jsonlog documents that do not parse (cut short, edited) or
    /// lack a usable `@timestamp`.
    pub invalid: u64,
    /// Lines longer than the reader's limit, skipped.
    pub too_long: u64,
}

impl NotDocuments {
    pub fn total(&self) -> u64 {
        self.not_json + self.other_programs + self.invalid + self.too_long
    }
}

/// The sum comes first, as `not_documents`: it is the figure, the rest
/// say why.
impl Serialize for NotDocuments {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("NotDocuments", 5)?;
        st.serialize_field("not_documents", &self.total())?;
        st.serialize_field("not_json", &self.not_json)?;
        st.serialize_field("other_programs", &self.other_programs)?;
        st.serialize_field("invalid", &self.invalid)?;
        st.serialize_field("too_long", &self.too_long)?;
        st.end()
    }
}

/// What filter-jsonlog said about itself (metric documents).
#[derive(Debug, Default)]
pub struct FilterHealth {
    /// Metric documents read.
    pub metric_documents: u64,
    /// Documents the filter dropped (sum of `dropped_since_last`).
    pub documents_dropped: u64,
}

/// How many documents of the event-detail kinds the input had.
#[derive(Debug, Default)]
pub struct Detail {
    /// smtp-in `tx-rcpt` documents.
    pub tx_rcpt: u64,
    /// `filter-response` documents.
    pub filter_response: u64,
}

/// Plain counters.
#[derive(Debug, Default)]
pub struct Totals {
    pub sessions_in: u64,
    pub sessions_out: u64,
    pub partial_in: u64,
    pub partial_out: u64,
    pub ended_by_filter_in: u64,
    pub ended_by_filter_out: u64,
    pub local_in: u64,
    pub tls_in: u64,
    pub plain_in: u64,
    pub tls_out: u64,
    pub plain_out: u64,
    pub messages_in: u64,
    pub bytes_in: u64,
    pub messages_out: u64,
    pub bytes_out: u64,
    pub rcpt_in_accepted: u64,
    pub rcpt_in_refused: u64,
    pub rcpt_out_accepted: u64,
    pub rcpt_out_refused: u64,
    pub rcpt_out_deferred: u64,
    pub rcpt_out_failed: u64,
    pub undelivered_out: u64,
    pub rollbacks_out: u64,
    pub rollbacks_out_deferred: u64,
    pub auth_failed_sessions: u64,
    pub auth_failed_attempts: u64,
    pub replies_in: Replies,
    pub replies_out: Replies,
    pub filter_verdicts: u64,
    pub filter_verdict_sessions: u64,
    pub timeouts: u64,
    pub fcrdns_fail: u64,
    pub fcrdns_error: u64,
}

/// Columns of a recipient-domain table.
#[derive(Clone, Debug, Default)]
pub struct DomainCols {
    pub recipients: u64,
    pub messages_tls: u64,
    pub sessions_tls: u64,
    pub sessions_plaintext: u64,
}

/// Columns of the client table.
#[derive(Clone, Debug, Default)]
pub struct ClientCols {
    pub messages: u64,
    pub refused: u64,
}

/// Server replies by class, of the sessions that had any 4xx or 5xx.
#[derive(Clone, Debug, Default)]
pub struct Replies {
    pub sessions: u64,
    pub replies_4xx: u64,
    pub replies_5xx: u64,
}

impl Replies {
    /// Adds one session's totals.
    pub fn add(&mut self, replies_4xx: u64, replies_5xx: u64) {
        self.sessions += 1;
        self.replies_4xx = self.replies_4xx.saturating_add(replies_4xx);
        self.replies_5xx = self.replies_5xx.saturating_add(replies_5xx);
    }
}

/// Columns of a reply-class table (the row's count is its sessions).
#[derive(Clone, Debug, Default)]
pub struct ReplyCols {
    pub replies_4xx: u64,
    pub replies_5xx: u64,
}

/// Columns of the outbound refusals table.
#[derive(Clone, Debug, Default)]
pub struct OutCols {
    pub deferred: u64,
    pub failed: u64,
}

/// The bounded tables.
#[derive(Debug)]
pub struct Tables {
    pub senders: TopN<u64>,
    pub sender_domains: TopN<u64>,
    pub recipients: TopN,
    pub recipient_domains: TopN<DomainCols>,
    pub relay_domains: TopN<DomainCols>,
    pub clients: TopN<ClientCols>,
    pub tls_versions_in: TopN,
    pub tls_versions_out: TopN,
    pub refused_by_client: TopN,
    pub refused_by_domain: TopN,
    pub refused_by_address: TopN,
    pub refused_by_reply: TopN,
    /// Count: sessions; extra: failed attempts.
    pub auth_by_client: TopN<u64>,
    /// Count: failed attempts; extra: sessions.
    pub auth_by_user: TopN<u64>,
    pub replies_by_client: TopN<ReplyCols>,
    pub replies_by_server: TopN<ReplyCols>,
    pub verdicts_by_client: TopN,
    pub verdicts_by_kind: TopN,
    pub timeouts_by_client: TopN,
    pub fcrdns_by_client: TopN,
    pub outbound_refused: TopN<OutCols>,
    pub rollbacks_by_reply: TopN,
    pub undelivered_by_destination: TopN,
}

impl Tables {
    fn new(capacity: usize) -> Tables {
        Tables {
            senders: TopN::new(capacity),
            sender_domains: TopN::new(capacity),
            recipients: TopN::new(capacity),
            recipient_domains: TopN::new(capacity),
            relay_domains: TopN::new(capacity),
            clients: TopN::new(capacity),
            tls_versions_in: TopN::new(capacity),
            tls_versions_out: TopN::new(capacity),
            refused_by_client: TopN::new(capacity),
            refused_by_domain: TopN::new(capacity),
            refused_by_address: TopN::new(capacity),
            refused_by_reply: TopN::new(capacity),
            auth_by_client: TopN::new(capacity),
            auth_by_user: TopN::new(capacity),
            replies_by_client: TopN::new(capacity),
            replies_by_server: TopN::new(capacity),
            verdicts_by_client: TopN::new(capacity),
            verdicts_by_kind: TopN::new(capacity),
            timeouts_by_client: TopN::new(capacity),
            fcrdns_by_client: TopN::new(capacity),
            outbound_refused: TopN::new(capacity),
            rollbacks_by_reply: TopN::new(capacity),
            undelivered_by_destination: TopN::new(capacity),
        }
    }
}

/// One hour of traffic.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hour {
    pub sessions_in: u64,
    pub sessions_out: u64,
    pub messages_in: u64,
    pub bytes_in: u64,
    pub messages_out: u64,
    pub refused_in: u64,
    pub refused_out: u64,
}

/// Recently counted documents, to drop duplicates.
#[derive(Debug, Default)]
pub struct Seen {
    pub(super) set: HashSet<u64, FxBuild>,
    pub(super) order: VecDeque<u64>,
}

/// An smtp-out transaction held after tx-rollback.
#[derive(Debug)]
pub struct Pending {
    pub tx: Tx<'static>,
    pub t: i64,
    pub tls: bool,
}

/// What one session needs between documents.
#[derive(Debug, Default)]
pub struct Entry {
    pub domains: Vec<u64>,
    pub pending: Option<Pending>,
}

/// Sessions with state between documents, oldest evicted beyond MAX_OPEN.
#[derive(Debug, Default)]
pub struct OpenSessions {
    pub(super) map: HashMap<u64, Entry, FxBuild>,
    order: VecDeque<u64>,
    /// Pending transactions of evicted sessions, to be counted.
    pub evicted: Vec<Pending>,
    pub evictions: u64,
}

impl OpenSessions {
    fn entry(&mut self, session: u64) -> &mut Entry {
        if !self.map.contains_key(&session) {
            while self.map.len() >= MAX_OPEN {
                let Some(old) = self.order.pop_front() else {
                    break;
                };
                if let Some(e) = self.map.remove(&old) {
                    self.evictions += 1;
                    self.evicted.extend(e.pending);
                }
            }
            if self.order.len() > 2 * MAX_OPEN {
                let map = &self.map;
                self.order.retain(|k| map.contains_key(k));
            }
            self.order.push_back(session);
        }
        self.map.entry(session).or_default()
    }

    /// Holds `tx` for `session`.
    pub fn set_pending(&mut self, session: u64, tx: Tx<'static>, t: i64, tls: bool) {
        self.entry(session).pending = Some(Pending { tx, t, tls });
    }

    /// True the first time `domain` is counted for `session`.
    pub fn count_domain(&mut self, session: u64, domain: u64) -> bool {
        let e = self.entry(session);
        if e.domains.contains(&domain) {
            return false;
        }
        if e.domains.len() < MAX_DOMAINS_PER_SESSION {
            e.domains.push(domain);
        }
        true
    }

    /// Forgets `session` (its final document was counted).
    pub fn remove(&mut self, session: u64) {
        self.map.remove(&session);
    }

    /// Every held transaction, at the end of input.
    pub fn drain_pending(&mut self) -> Vec<Pending> {
        let mut all: Vec<Pending> = std::mem::take(&mut self.evicted);
        all.extend(self.map.drain().filter_map(|(_, e)| e.pending));
        self.order.clear();
        all
    }
}

/// Everything counted so far.
#[derive(Debug)]
pub struct Report {
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub top: usize,
    pub input: Input,
    pub filter: FilterHealth,
    pub detail: Detail,
    pub totals: Totals,
    pub tables: Tables,
    pub unique_senders: Distinct,
    pub unique_recipients: Distinct,
    pub hours: BTreeMap<i64, Hour>,
    pub first: Option<i64>,
    pub last: Option<i64>,
    pub(super) seen: Seen,
    pub(super) open: OpenSessions,
    /// smtpd's mail log joined to the documents.
    pub delivery: super::delivery::Deliveries,
    /// The files read, by device and inode.
    pub(super) files_read: HashSet<(u64, u64)>,
}

impl Report {
    /// An empty report for this window, showing `top` rows per table.
    pub fn new(since: Option<i64>, until: Option<i64>, top: usize) -> Report {
        Report {
            since,
            until,
            top,
            input: Input {
                duplicates_window: MAX_SEEN as u64,
                ..Input::default()
            },
            filter: FilterHealth::default(),
            detail: Detail::default(),
            totals: Totals::default(),
            // Exact while a table has at most this many distinct keys.
            tables: Tables::new(top.saturating_mul(20).max(2000)),
            unique_senders: Distinct::default(),
            unique_recipients: Distinct::default(),
            hours: BTreeMap::new(),
            first: None,
            last: None,
            seen: Seen::default(),
            open: OpenSessions::default(),
            delivery: super::delivery::Deliveries::default(),
            files_read: HashSet::new(),
        }
    }

    /// Counts what is still held; call once at the end of input.
    pub fn finish(&mut self) {
        self.input.sessions_evicted = self.open.evictions;
        self.input.maillog_smtpd_lines = self.delivery.smtpd_lines;
        self.input.maillog_malformed = self.delivery.malformed;
        self.input.maillog_not_followed = self.delivery.not_followed;
        for p in self.open.drain_pending() {
            self.flush_pending(p);
        }
    }
}
