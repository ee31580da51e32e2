//! The summary built from the report's state: the top rows of each table
//! and the counters, under the names the JSON form shows.

use super::*;
use crate::report::state::{self, Report};
use crate::report::topn::{Slot, TopN};

/// The top `n` slots of `t`, each made a row by `f`.
fn top<X: Default, R>(t: &TopN<X>, n: usize, f: impl Fn(&Slot<X>) -> R) -> Vec<R> {
    t.top(n).into_iter().map(f).collect()
}

fn rows<X: Default>(t: &TopN<X>, n: usize) -> Vec<Row> {
    top(t, n, row)
}

fn row<X>(s: &Slot<X>) -> Row {
    Row {
        key: s.key.to_string(),
        count: s.count,
        label: s.label.as_ref().map(|l| l.to_string()),
        error: s.error,
    }
}

fn domains(t: &TopN<state::DomainCols>, n: usize) -> Vec<DomainRow> {
    top(t, n, |s| DomainRow {
        domain: s.key.to_string(),
        messages: s.count,
        recipients: s.extra.recipients,
        messages_tls: s.extra.messages_tls,
        sessions_tls: s.extra.sessions_tls,
        sessions_plaintext: s.extra.sessions_plaintext,
        error: s.error,
    })
}

fn reply_count(r: &state::Replies) -> ReplyCount {
    ReplyCount {
        sessions: r.sessions,
        replies_4xx: r.replies_4xx,
        replies_5xx: r.replies_5xx,
    }
}

fn reply_rows(t: &TopN<state::ReplyCols>, n: usize) -> Vec<ReplyRow> {
    top(t, n, |s| ReplyRow {
        address: s.key.to_string(),
        rdns: s.label.as_ref().map(|l| l.to_string()),
        sessions: s.count,
        replies_4xx: s.extra.replies_4xx,
        replies_5xx: s.extra.replies_5xx,
        error: s.error,
    })
}

fn bytes_rows(t: &TopN<u64>, n: usize) -> Vec<BytesRow> {
    top(t, n, |s| BytesRow {
        key: s.key.to_string(),
        messages: s.count,
        bytes: s.extra,
    })
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
                clients: top(&t.clients, n, |s| ClientRow {
                    client: s.key.to_string(),
                    rdns: s.label.as_ref().map(|l| l.to_string()),
                    sessions: s.count,
                    messages: s.extra.messages,
                    refused: s.extra.refused,
                }),
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
                by_user: top(&t.auth_by_user, n, |s| AuthUserRow {
                    user: s.key.to_string(),
                    attempts: s.count,
                    sessions: s.extra,
                    error: s.error,
                }),
                by_client: top(&t.auth_by_client, n, |s| AuthClientRow {
                    client: s.key.to_string(),
                    sessions: s.count,
                    attempts: s.extra,
                    error: s.error,
                }),
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
                by_domain: top(&t.outbound_refused, n, |s| OutRow {
                    domain: s.key.to_string(),
                    deferred: s.extra.deferred,
                    failed: s.extra.failed,
                }),
                sessions_without_delivery: totals.undelivered_out,
                without_delivery_by_destination: rows(&t.undelivered_by_destination, n),
            },
            delivery: r.delivery.summary(n),
            relay_delay: r.delivery.relay_delay(n),
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
