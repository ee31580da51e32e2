//! The figures as one value: what `--format json` prints and what the text
//! and HTML forms render. Keys are documented in the README ("Report").

use super::state::{Input, Report};
use super::time;
use super::topn::{Slot, TopN};
use serde::Serialize;

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

fn rows<X: Default>(t: &TopN<X>, n: usize) -> Vec<Row> {
    t.top(n).into_iter().map(row).collect()
}

fn row<X>(s: &Slot<X>) -> Row {
    Row {
        key: s.key.to_string(),
        count: s.count,
        label: s.label.as_ref().map(|l| l.to_string()),
        error: s.error,
    }
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
    pub hours: Vec<HourRow>,
}

fn domains(t: &TopN<super::state::DomainCols>, n: usize) -> Vec<DomainRow> {
    t.top(n)
        .into_iter()
        .map(|s| DomainRow {
            domain: s.key.to_string(),
            messages: s.count,
            recipients: s.extra.recipients,
            messages_tls: s.extra.messages_tls,
            sessions_tls: s.extra.sessions_tls,
            sessions_plaintext: s.extra.sessions_plaintext,
            error: s.error,
        })
        .collect()
}

fn reply_count(r: &super::state::Replies) -> ReplyCount {
    ReplyCount {
        sessions: r.sessions,
        replies_4xx: r.replies_4xx,
        replies_5xx: r.replies_5xx,
    }
}

fn reply_rows(t: &TopN<super::state::ReplyCols>, n: usize) -> Vec<ReplyRow> {
    t.top(n)
        .into_iter()
        .map(|s| ReplyRow {
            address: s.key.to_string(),
            rdns: s.label.as_ref().map(|l| l.to_string()),
            sessions: s.count,
            replies_4xx: s.extra.replies_4xx,
            replies_5xx: s.extra.replies_5xx,
            error: s.error,
        })
        .collect()
}

fn bytes_rows(t: &TopN<u64>, n: usize) -> Vec<BytesRow> {
    t.top(n)
        .into_iter()
        .map(|s| BytesRow {
            key: s.key.to_string(),
            messages: s.count,
            bytes: s.extra,
        })
        .collect()
}

impl Summary {
    /// The figures of `r` (call [`Report::finish`] first).
    pub fn of(r: &Report) -> Summary {
        let n = r.top;
        let t = &r.tables;
        let totals = &r.totals;
        let exact = [
            t.senders.exact(),
            t.sender_domains.exact(),
            t.recipients.exact(),
            t.recipient_domains.exact(),
            t.relay_domains.exact(),
            t.clients.exact(),
            t.refused_by_client.exact(),
            t.refused_by_domain.exact(),
            t.refused_by_address.exact(),
            t.refused_by_reply.exact(),
            t.auth_by_user.exact(),
            t.auth_by_client.exact(),
            t.replies_by_client.exact(),
            t.replies_by_server.exact(),
            t.tls_versions_in.exact(),
            t.tls_versions_out.exact(),
            t.verdicts_by_client.exact(),
            t.verdicts_by_kind.exact(),
            t.timeouts_by_client.exact(),
            t.fcrdns_by_client.exact(),
            t.outbound_refused.exact(),
            t.undelivered_by_destination.exact(),
            t.rollbacks_by_reply.exact(),
        ]
        .iter()
        .all(|&e| e);
        let detail = |present: u64, table: &TopN| (present > 0).then(|| rows(table, n));
        Summary {
            report: Meta {
                generator: concat!("filter-jsonlog report ", env!("CARGO_PKG_VERSION")),
                since: r.since.map(time::format),
                until: r.until.map(time::format),
                first: r.first.map(time::format),
                last: r.last.map(time::format),
                top: n,
                exact,
            },
            input: InputOut {
                read: r.input.clone(),
                filter_documents_dropped: r.filter.documents_dropped,
                filter_metric_documents: r.filter.metric_documents,
            },
            sessions: Sessions {
                smtp_in: totals.sessions_in,
                smtp_out: totals.sessions_out,
                smtp_in_local: totals.local_in,
                smtp_in_partial: totals.partial_in,
                smtp_out_partial: totals.partial_out,
                smtp_in_ended_by_filter: totals.ended_by_filter_in,
                smtp_out_ended_by_filter: totals.ended_by_filter_out,
            },
            messages: Messages {
                accepted: totals.messages_in,
                bytes: totals.bytes_in,
                relayed: totals.messages_out,
                relayed_bytes: totals.bytes_out,
            },
            recipients: Recipients {
                accepted: totals.rcpt_in_accepted,
                refused: totals.rcpt_in_refused,
            },
            unique: Unique {
                senders: r.unique_senders.count(),
                recipients: r.unique_recipients.count(),
                exact: r.unique_senders.is_exact() && r.unique_recipients.is_exact(),
            },
            tls: TlsOut {
                smtp_in: TlsCount {
                    tls: totals.tls_in,
                    plaintext: totals.plain_in,
                    versions: rows(&t.tls_versions_in, n),
                },
                smtp_out: TlsCount {
                    tls: totals.tls_out,
                    plaintext: totals.plain_out,
                    versions: rows(&t.tls_versions_out, n),
                },
            },
            recipient_domains: domains(&t.recipient_domains, n),
            relay_domains: domains(&t.relay_domains, n),
            top: Top {
                senders: bytes_rows(&t.senders, n),
                sender_domains: bytes_rows(&t.sender_domains, n),
                recipients: rows(&t.recipients, n),
                clients: t
                    .clients
                    .top(n)
                    .into_iter()
                    .map(|s| ClientRow {
                        client: s.key.to_string(),
                        rdns: s.label.as_ref().map(|l| l.to_string()),
                        sessions: s.count,
                        messages: s.extra.messages,
                        refused: s.extra.refused,
                    })
                    .collect(),
            },
            refusals: Refusals {
                by_client: rows(&t.refused_by_client, n),
                by_domain: rows(&t.refused_by_domain, n),
                by_address: rows(&t.refused_by_address, n),
                by_reply: detail(r.detail.tx_rcpt, &t.refused_by_reply),
            },
            replies: Replies {
                smtp_in: reply_count(&totals.replies_in),
                smtp_out: reply_count(&totals.replies_out),
                by_client: reply_rows(&t.replies_by_client, n),
                by_server: reply_rows(&t.replies_by_server, n),
            },
            auth_failures: AuthFailures {
                attempts: totals.auth_failed_attempts,
                sessions: totals.auth_failed_sessions,
                by_user: t
                    .auth_by_user
                    .top(n)
                    .into_iter()
                    .map(|s| AuthUserRow {
                        user: s.key.to_string(),
                        attempts: s.count,
                        sessions: s.extra,
                        error: s.error,
                    })
                    .collect(),
                by_client: t
                    .auth_by_client
                    .top(n)
                    .into_iter()
                    .map(|s| AuthClientRow {
                        client: s.key.to_string(),
                        sessions: s.count,
                        attempts: s.extra,
                        error: s.error,
                    })
                    .collect(),
            },
            filter_verdicts: Verdicts {
                total: totals.filter_verdicts,
                sessions: totals.filter_verdict_sessions,
                by_client: rows(&t.verdicts_by_client, n),
                by_kind: detail(r.detail.filter_response, &t.verdicts_by_kind),
            },
            timeouts: Timeouts {
                sessions: totals.timeouts,
                by_client: rows(&t.timeouts_by_client, n),
            },
            fcrdns: Fcrdns {
                fail: totals.fcrdns_fail,
                error: totals.fcrdns_error,
                by_client: rows(&t.fcrdns_by_client, n),
            },
            outbound: Outbound {
                rollbacks: totals.rollbacks_out,
                rollbacks_deferred: totals.rollbacks_out_deferred,
                rollbacks_by_reply: rows(&t.rollbacks_by_reply, n),
                recipients_accepted: totals.rcpt_out_accepted,
                recipients_refused: totals.rcpt_out_refused,
                deferred: totals.rcpt_out_deferred,
                failed: totals.rcpt_out_failed,
                by_domain: t
                    .outbound_refused
                    .top(n)
                    .into_iter()
                    .map(|s| OutRow {
                        domain: s.key.to_string(),
                        deferred: s.extra.deferred,
                        failed: s.extra.failed,
                    })
                    .collect(),
                sessions_without_delivery: totals.undelivered_out,
                without_delivery_by_destination: rows(&t.undelivered_by_destination, n),
            },
            hours: r
                .hours
                .iter()
                .map(|(&h, v)| HourRow {
                    start: h * time::HOUR,
                    hour: time::format(h * time::HOUR),
                    sessions_in: v.sessions_in,
                    sessions_out: v.sessions_out,
                    messages_accepted: v.messages_in,
                    bytes: v.bytes_in,
                    messages_relayed: v.messages_out,
                    recipients_refused: v.refused_in,
                    outbound_refused: v.refused_out,
                })
                .collect(),
        }
    }
}

/// Traffic summed over one bucket (an hour or a day).
#[derive(Clone, Copy, Debug, Default)]
pub struct Bucket {
    pub start: i64,
    pub sessions_in: u64,
    pub sessions_out: u64,
    pub messages_accepted: u64,
    pub messages_relayed: u64,
    pub recipients_refused: u64,
}

impl Summary {
    /// Contiguous buckets of `unit` from the first hour to the last, empty
    /// ones included (a time axis without gaps).
    pub fn buckets(&self, unit: i64) -> Vec<Bucket> {
        let unit = unit.max(1);
        let (Some(first), Some(last)) = (self.hours.first(), self.hours.last()) else {
            return Vec::new();
        };
        let from = first.start.div_euclid(unit);
        let count = usize::try_from(last.start.div_euclid(unit) - from + 1).unwrap_or(0);
        let mut out: Vec<Bucket> = (0..count)
            .map(|i| Bucket {
                start: (from + i as i64) * unit,
                ..Bucket::default()
            })
            .collect();
        for h in &self.hours {
            let at = usize::try_from(h.start.div_euclid(unit) - from).unwrap_or(usize::MAX);
            if let Some(b) = out.get_mut(at) {
                b.sessions_in += h.sessions_in;
                b.sessions_out += h.sessions_out;
                b.messages_accepted += h.messages_accepted;
                b.messages_relayed += h.messages_relayed;
                b.recipients_refused += h.recipients_refused;
            }
        }
        out
    }
}
