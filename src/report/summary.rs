//! The figures as one value: what `--format json` prints and what the text
//! and HTML forms render. Keys are documented in the README ("Report").

use super::state::Input;
use super::time;
use serde::Serialize;

// Built from the report's state apart, so that this file reads as the
// JSON form's schema.
mod of;

/// A table row: a key and its count.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub key: String,
    pub count: u64,
    /// The client's rDNS name, where the table has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The count may include up to this much of keys no longer kept.
    #[serde(skip_serializing_if = "is_zero")]
    pub error: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Debug, Serialize)]
pub struct Meta {
    pub generator: &'static str,
    pub since: Option<String>,
    pub until: Option<String>,
    pub first: Option<String>,
    pub last: Option<String>,
    pub top: usize,
    /// False when a table outgrew its memory: some counts are estimates.
    pub exact: bool,
}

#[derive(Debug, Serialize)]
pub struct InputOut {
    #[serde(flatten)]
    pub read: Input,
    pub filter_documents_dropped: u64,
    pub filter_metric_documents: u64,
}

#[derive(Debug, Serialize)]
pub struct Sessions {
    pub smtp_in: u64,
    pub smtp_out: u64,
    pub smtp_in_local: u64,
    pub smtp_in_partial: u64,
    pub smtp_out_partial: u64,
    /// Sessions the filter ended itself (session-expired, -evicted,
    /// -unfinished): in no session figure, as in the session panels.
    pub smtp_in_ended_by_filter: u64,
    pub smtp_out_ended_by_filter: u64,
}

#[derive(Debug, Serialize)]
pub struct Messages {
    pub accepted: u64,
    pub bytes: u64,
    pub relayed: u64,
    pub relayed_bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct Recipients {
    pub accepted: u64,
    pub refused: u64,
}

#[derive(Debug, Serialize)]
pub struct Unique {
    pub senders: u64,
    pub recipients: u64,
    pub exact: bool,
}

#[derive(Debug, Serialize)]
pub struct TlsCount {
    pub tls: u64,
    pub plaintext: u64,
    /// Sessions with TLS by `tls.version`.
    pub versions: Vec<Row>,
}

#[derive(Debug, Serialize)]
pub struct TlsOut {
    pub smtp_in: TlsCount,
    pub smtp_out: TlsCount,
}

#[derive(Debug, Serialize)]
pub struct DomainRow {
    pub domain: String,
    pub messages: u64,
    pub recipients: u64,
    pub messages_tls: u64,
    pub sessions_tls: u64,
    pub sessions_plaintext: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub error: u64,
}

#[derive(Debug, Serialize)]
pub struct BytesRow {
    pub key: String,
    pub messages: u64,
    pub bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct ClientRow {
    pub client: String,
    pub rdns: Option<String>,
    pub sessions: u64,
    pub messages: u64,
    pub refused: u64,
}

#[derive(Debug, Serialize)]
pub struct Top {
    pub senders: Vec<BytesRow>,
    pub sender_domains: Vec<BytesRow>,
    pub recipients: Vec<Row>,
    pub clients: Vec<ClientRow>,
}

#[derive(Debug, Serialize)]
pub struct Refusals {
    pub by_client: Vec<Row>,
    pub by_domain: Vec<Row>,
    pub by_address: Vec<Row>,
    /// Event detail: `null` when the input had no smtp-in tx-rcpt documents.
    pub by_reply: Option<Vec<Row>>,
}

#[derive(Debug, Serialize)]
pub struct AuthUserRow {
    pub user: String,
    pub attempts: u64,
    pub sessions: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub error: u64,
}

#[derive(Debug, Serialize)]
pub struct AuthClientRow {
    pub client: String,
    pub sessions: u64,
    pub attempts: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub error: u64,
}

#[derive(Debug, Serialize)]
pub struct AuthFailures {
    pub attempts: u64,
    pub sessions: u64,
    pub by_user: Vec<AuthUserRow>,
    pub by_client: Vec<AuthClientRow>,
}

#[derive(Debug, Serialize)]
pub struct ReplyCount {
    pub sessions: u64,
    pub replies_4xx: u64,
    pub replies_5xx: u64,
}

#[derive(Debug, Serialize)]
pub struct ReplyRow {
    pub address: String,
    pub rdns: Option<String>,
    pub sessions: u64,
    pub replies_4xx: u64,
    pub replies_5xx: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub error: u64,
}

#[derive(Debug, Serialize)]
pub struct Replies {
    pub smtp_in: ReplyCount,
    pub smtp_out: ReplyCount,
    pub by_client: Vec<ReplyRow>,
    pub by_server: Vec<ReplyRow>,
}

#[derive(Debug, Serialize)]
pub struct Verdicts {
    pub total: u64,
    pub sessions: u64,
    pub by_client: Vec<Row>,
    pub by_kind: Option<Vec<Row>>,
}

#[derive(Debug, Serialize)]
pub struct Timeouts {
    pub sessions: u64,
    pub by_client: Vec<Row>,
}

#[derive(Debug, Serialize)]
pub struct Fcrdns {
    pub fail: u64,
    pub error: u64,
    pub by_client: Vec<Row>,
}

#[derive(Debug, Serialize)]
pub struct OutRow {
    pub domain: String,
    pub deferred: u64,
    pub failed: u64,
}

#[derive(Debug, Serialize)]
pub struct Outbound {
    /// smtp-out tx-rollback documents: refusals and deferrals.
    pub rollbacks: u64,
    /// Of those, with a 4xx reply.
    pub rollbacks_deferred: u64,
    pub rollbacks_by_reply: Vec<Row>,
    pub recipients_accepted: u64,
    pub recipients_refused: u64,
    pub deferred: u64,
    pub failed: u64,
    pub by_domain: Vec<OutRow>,
    pub sessions_without_delivery: u64,
    pub without_delivery_by_destination: Vec<Row>,
}

#[derive(Debug, Serialize)]
pub struct HourRow {
    /// Start of the hour, microseconds since the epoch.
    #[serde(skip)]
    pub start: i64,
    pub hour: String,
    pub sessions_in: u64,
    pub sessions_out: u64,
    pub messages_accepted: u64,
    pub bytes: u64,
    pub messages_relayed: u64,
    pub recipients_refused: u64,
    pub outbound_refused: u64,
}

/// Everything the report shows.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub report: Meta,
    pub input: InputOut,
    pub sessions: Sessions,
    pub messages: Messages,
    pub recipients: Recipients,
    pub unique: Unique,
    pub tls: TlsOut,
    pub recipient_domains: Vec<DomainRow>,
    pub relay_domains: Vec<DomainRow>,
    pub top: Top,
    pub refusals: Refusals,
    pub replies: Replies,
    pub auth_failures: AuthFailures,
    pub filter_verdicts: Verdicts,
    pub timeouts: Timeouts,
    pub fcrdns: Fcrdns,
    pub outbound: Outbound,
    /// smtpd's mail log joined to the documents; `null` without one.
    pub delivery: Option<super::delivery::DeliverySummary>,
    /// smtp-in to smtp-out `tx-commit` of the same message, from the
    /// documents alone.
    pub relay_delay: super::delivery::RelayDelay,
    pub hours: Vec<HourRow>,
}

/// Traffic summed over one bucket (an hour or a day), or a run of empty
/// ones shown as one row (a gap).
#[derive(Clone, Copy, Debug, Default)]
pub struct Bucket {
    pub start: i64,
    pub sessions_in: u64,
    pub sessions_out: u64,
    pub messages_accepted: u64,
    pub messages_relayed: u64,
    pub recipients_refused: u64,
    /// Periods without documents this row stands for; 0 for a period.
    pub gap: i64,
}

impl Summary {
    /// The buckets of `unit` that hold documents, in order: the time axis
    /// is bounded by the data, not by the span between the first and the
    /// last document (one stray 1970 stamp would make it 20,000 days).
    pub fn buckets(&self, unit: i64) -> Vec<Bucket> {
        let unit = unit.max(1);
        let mut out: Vec<Bucket> = Vec::new();
        // `hours` is in time order: each hour adds to the last bucket or
        // starts the next.
        for h in &self.hours {
            let start = h.start.div_euclid(unit) * unit;
            let b = match out.last_mut() {
                Some(b) if b.start == start => b,
                _ => {
                    out.push(Bucket {
                        start,
                        ..Bucket::default()
                    });
                    let Some(b) = out.last_mut() else { continue };
                    b
                }
            };
            b.sessions_in += h.sessions_in;
            b.sessions_out += h.sessions_out;
            b.messages_accepted += h.messages_accepted;
            b.messages_relayed += h.messages_relayed;
            b.recipients_refused += h.recipients_refused;
        }
        out
    }
}
