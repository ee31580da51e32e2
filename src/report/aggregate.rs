//! The figures, built from each session's and each transaction's final
//! state so that `--events all` and `--events summaries` give the same,
//! each counted as the Kibana panel showing it counts it (PANELS.md):
//!
//! - session figures from the session's `link-disconnect` and its
//!   counters; the filter's `session-*` substitutes end a session too
//!   (`opensmtpd.session.final`) but, as in the panels, are no session
//!   figure, only counted apart;
//! - transaction figures from `tx-commit` and `tx-rollback`; smtp-out
//!   recipients also from the final document when the transaction never
//!   ended. smtp-out reports
//!   `tx-rollback` for a refused recipient and goes on with the same
//!   message, so there a rolled-back transaction is held until the session
//!   or another transaction shows it is over;
//! - every other event document repeats state a later one carries, and is
//!   only checked for form (counted as `repeated`), except the two whose
//!   own detail no final state keeps (the reply to a refused RCPT, a
//!   filter's verdict): those make the "event detail" tables, empty for
//!   `--events summaries`.
//!
//! A document seen twice (same session, same `event.sequence`: overlapping
//! rotated files) is counted once, within a bounded memory of recent ones.

use super::doc::{Doc, Tx};
use super::state::{Hour, OpenSessions, Report, Seen};
use super::time;
use super::topn::hash64;

// Transaction figures apart: this file stays the walk through one document.
mod tx;

/// Where a transaction happened.
struct TxCtx<'x> {
    out: bool,
    session: u64,
    t: i64,
    tls: bool,
    client: &'x str,
    label: Option<&'x str>,
    /// A network client or an authenticated one: the sessions the panels
    /// "per recipient domain (received, MX / submission)" count.
    mx_or_submission: bool,
}

/// The domain of an address, lower case (`(none)` without one).
pub fn domain_of(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((_, d)) if !d.is_empty() => d.to_ascii_lowercase(),
        _ => "(none)".to_string(),
    }
}

fn is_ok(result: Option<&str>) -> bool {
    result == Some("ok")
}

impl Report {
    /// Counts one parsed filter-jsonlog document.
    pub fn document(&mut self, doc: Doc) {
        let input = &mut self.input;
        let repeated = doc.skip_rest && !doc.is_final;
        // Every document counted needs its time; one without is unusable.
        let t = doc.timestamp.as_ref().and_then(|t| time::parse(t.as_str()));
        let Some(t) = t.or(repeated.then_some(0)) else {
            input.not_documents.invalid += 1;
            return;
        };
        input.documents += 1;
        if doc.unknown_fields > 0 {
            input.unknown_fields += 1;
            if let Some(name) = doc.unknown_field.clone() {
                if input.unknown_field_names.len() < 10
                    && !input.unknown_field_names.contains(&name)
                {
                    input.unknown_field_names.push(name);
                }
            }
        }
        input.unknown_versions += u64::from(doc.unknown_version);
        input.truncated_by_filter += u64::from(doc.truncated);
        let action = doc.action.as_ref().map_or("", |a| a.as_str());
        if repeated {
            input.repeated += 1;
            return;
        }
        let in_window = !(self.since.is_some_and(|s| t < s) || self.until.is_some_and(|u| t >= u));
        if action == "tx-commit" {
            // Outside the window too: their delivery lines are then known,
            // not "not in documents".
            if let Some(tx) = &doc.tx {
                match doc.subsystem.as_ref().map(|s| s.as_str()) {
                    Some("smtp-in") => {
                        let local = doc.source_ip.is_none();
                        self.delivery.accepted(tx, t, in_window, local);
                    }
                    Some("smtp-out") => self.delivery.relayed(tx, t, in_window),
                    _ => {}
                }
            }
        }
        let input = &mut self.input;
        if !in_window {
            input.outside_window += 1;
            return;
        }
        if doc.kind.as_ref().is_some_and(|k| k.as_str() == "metric") {
            input.used += 1;
            self.filter.metric_documents += 1;
            if action == "documents-dropped" {
                self.filter.documents_dropped = self
                    .filter
                    .documents_dropped
                    .saturating_add(doc.dropped_since_last);
            }
            return;
        }
        let subsystem = doc.subsystem.as_ref().map_or("", |s| s.as_str());
        let out = match subsystem {
            "smtp-in" => false,
            "smtp-out" => true,
            _ => {
                input.unknown_subsystem += 1;
                return;
            }
        };
        let id = doc.session.as_ref().map_or("", |s| s.as_str());
        if let Some(seq) = doc.sequence {
            if !self.seen.insert(hash64(&(subsystem, id, seq))) {
                input.duplicates += 1;
                return;
            }
        }
        input.used += 1;
        self.first = Some(self.first.map_or(t, |f| f.min(t)));
        self.last = Some(self.last.map_or(t, |l| l.max(t)));
        let session = hash64(&(subsystem, id));
        let client = doc.source_ip.as_ref().map_or("local", |s| s.as_str());
        let label = doc.source_domain.as_ref().map(|s| s.as_str());
        let ctx = TxCtx {
            out,
            session,
            t,
            tls: doc.tls,
            client,
            label,
            mx_or_submission: doc.source_ip.is_some()
                || doc.auth.as_ref().is_some_and(|a| a.as_str() == "pass"),
        };
        match action {
            "tx-commit" => {
                if let Some(tx) = &doc.tx {
                    if out {
                        let earlier = self.open.take_pending(session);
                        if let Some(p) = earlier.filter(|p| p.tx.msgid != tx.msgid) {
                            self.pending_flush(p.tx, session, p.t, p.tls);
                        }
                    }
                    self.transaction(tx, &ctx, true);
                }
            }
            "tx-rollback" => {
                if out {
                    self.outbound_rollback(&doc, t);
                }
                if let Some(tx) = &doc.tx {
                    if out {
                        let earlier = self.open.take_pending(session);
                        if let Some(p) = earlier.filter(|p| p.tx.msgid != tx.msgid) {
                            self.pending_flush(p.tx, session, p.t, p.tls);
                        }
                        self.open
                            .set_pending(session, tx.clone().into_owned(), t, doc.tls);
                    } else {
                        self.transaction(tx, &ctx, false);
                    }
                }
            }
            "tx-rcpt" if !out => {
                self.detail.tx_rcpt += 1;
                if !is_ok(doc.rcpt_result.as_ref().map(|r| r.as_str())) {
                    let reply = doc.response.as_ref().map_or("(none)", |r| r.as_str());
                    self.tables.refused_by_reply.add(reply, 1);
                }
            }
            "filter-response" => {
                self.detail.filter_response += 1;
                let decision = doc.filter_decision.as_ref().map_or("", |d| d.as_str());
                if matches!(decision, "reject" | "disconnect" | "junk") {
                    let phase = doc.filter_phase.as_ref().map_or("", |p| p.as_str());
                    let param = doc.filter_param.as_ref().map_or("", |p| p.as_str());
                    let key = format!("{decision} at {phase}: {param}");
                    self.tables
                        .verdicts_by_kind
                        .add(key.trim_end_matches([':', ' ']), 1);
                }
            }
            _ => {}
        }
        // Documents of filter-jsonlog versions before `opensmtpd.session.final`.
        let is_final = doc.is_final
            || matches!(
                action,
                "link-disconnect" | "session-expired" | "session-evicted" | "session-unfinished"
            );
        if is_final {
            self.session_final(&doc, &ctx);
        }
        for p in std::mem::take(&mut self.open.evicted) {
            self.flush_pending(p);
        }
    }

    /// One smtp-out tx-rollback: a recipient, the message at DATA or at
    /// its end refused or deferred, with the remote reply.
    fn outbound_rollback(&mut self, doc: &Doc, t: i64) {
        let reply = doc.response.as_ref().map_or("(none)", |r| r.as_str());
        self.totals.rollbacks_out += 1;
        if reply.starts_with('4') {
            self.totals.rollbacks_out_deferred += 1;
        }
        self.tables.rollbacks_by_reply.add(reply, 1);
        if let Some(h) = self.hour(t) {
            h.refused_out += 1;
        }
    }

    /// Counts a held smtp-out transaction whose session is over.
    pub(super) fn flush_pending(&mut self, p: super::state::Pending) {
        self.pending_flush(p.tx, 0, p.t, p.tls);
    }

    fn hour(&mut self, t: i64) -> Option<&mut Hour> {
        let h = t.div_euclid(time::HOUR);
        if !self.hours.contains_key(&h) && self.hours.len() >= super::state::MAX_HOURS {
            self.input.hours_dropped += 1;
            return None;
        }
        Some(self.hours.entry(h).or_default())
    }

    fn session_final(&mut self, doc: &Doc, ctx: &TxCtx) {
        // As the session panels: the filter's own substitutes end a
        // session (its transactions are counted) but are no session figure.
        let action = doc.action.as_ref().map_or("", |a| a.as_str());
        if matches!(
            action,
            "session-expired" | "session-evicted" | "session-unfinished"
        ) {
            if ctx.out {
                self.totals.ended_by_filter_out += 1;
            } else {
                self.totals.ended_by_filter_in += 1;
            }
        } else {
            self.session_figures(doc, ctx);
        }
        self.session_transactions(doc, ctx);
    }

    /// The figures of a session that ended with link-disconnect.
    fn session_figures(&mut self, doc: &Doc, ctx: &TxCtx) {
        let connected = doc.connects >= 1;
        let out = ctx.out;
        let network = if out {
            doc.destination_ip.is_some()
        } else {
            doc.source_ip.is_some()
        };
        let totals = &mut self.totals;
        let tables = &mut self.tables;
        if connected {
            if out {
                totals.sessions_out += 1;
            } else {
                totals.sessions_in += 1;
            }
            if network {
                match (out, doc.tls) {
                    (false, true) => totals.tls_in += 1,
                    (false, false) => totals.plain_in += 1,
                    (true, true) => totals.tls_out += 1,
                    (true, false) => totals.plain_out += 1,
                }
            } else if !out {
                totals.local_in += 1;
            }
            if doc.tls {
                let version = doc.tls_version.as_ref().map_or("(unknown)", |v| v.as_str());
                let table = if out {
                    &mut tables.tls_versions_out
                } else {
                    &mut tables.tls_versions_in
                };
                table.add(version, 1);
            }
        } else if out {
            totals.partial_out += 1;
        } else {
            totals.partial_in += 1;
        }
        if doc.timeout {
            totals.timeouts += 1;
            if !out && network {
                if let Some(s) = tables.timeouts_by_client.add(ctx.client, 1) {
                    s.label = ctx.label.map(|l| super::topn::cut(l, 255).into());
                }
            }
        }
        if !out {
            if connected && network {
                if let Some(s) = tables.clients.add(ctx.client, 1) {
                    s.label = ctx.label.map(|l| super::topn::cut(l, 255).into());
                    s.extra.messages = s.extra.messages.saturating_add(doc.messages);
                    s.extra.refused = s.extra.refused.saturating_add(doc.recipients_refused);
                }
            }
            if network && doc.recipients_refused > 0 {
                let refused = doc.recipients_refused;
                if let Some(s) = tables.refused_by_client.add(ctx.client, refused) {
                    s.label = ctx.label.map(|l| super::topn::cut(l, 255).into());
                }
            }
            if network {
                match doc.fcrdns.as_ref().map(|f| f.as_str()) {
                    Some("fail") => totals.fcrdns_fail += 1,
                    Some("error") => totals.fcrdns_error += 1,
                    _ => {}
                }
                if matches!(
                    doc.fcrdns.as_ref().map(|f| f.as_str()),
                    Some("fail" | "error")
                ) {
                    if let Some(s) = tables.fcrdns_by_client.add(ctx.client, 1) {
                        s.label = ctx.label.map(|l| super::topn::cut(l, 255).into());
                    }
                }
            }
            // As the AUTH panels: attempts from the session's counter, all
            // of them under the user of its last attempt.
            if doc.auth_failures > 0 {
                let failures = doc.auth_failures;
                totals.auth_failed_sessions += 1;
                totals.auth_failed_attempts = totals.auth_failed_attempts.saturating_add(failures);
                let user = doc.auth_user.as_ref().map_or("(none)", |u| u.as_str());
                if let Some(s) = tables.auth_by_user.add(user, failures) {
                    s.extra += 1;
                }
                if network {
                    if let Some(s) = tables.auth_by_client.add(ctx.client, 1) {
                        s.extra = s.extra.saturating_add(failures);
                    }
                }
            }
            if doc.filter_verdicts > 0 && network {
                tables
                    .verdicts_by_client
                    .add(ctx.client, doc.filter_verdicts);
            }
        } else if connected && doc.messages == 0 {
            totals.undelivered_out += 1;
            let dest = doc
                .destination_domain
                .as_ref()
                .or(doc.destination_ip.as_ref())
                .map_or("(unknown)", |d| d.as_str());
            tables.undelivered_by_destination.add(dest, 1);
        }
        if doc.filter_verdicts > 0 {
            totals.filter_verdicts = totals.filter_verdicts.saturating_add(doc.filter_verdicts);
            totals.filter_verdict_sessions += 1;
        }
        if doc.replies_4xx > 0 || doc.replies_5xx > 0 {
            let (r4, r5) = (doc.replies_4xx, doc.replies_5xx);
            let (row, key, label) = if out {
                totals.replies_out.add(r4, r5);
                let server = doc.destination_ip.as_ref().map(|d| d.as_str());
                let name = doc.destination_domain.as_ref().map(|d| d.as_str());
                (&mut tables.replies_by_server, server, name)
            } else {
                totals.replies_in.add(r4, r5);
                (
                    &mut tables.replies_by_client,
                    doc.source_ip.as_ref().map(|s| s.as_str()),
                    ctx.label,
                )
            };
            if let Some(s) = key.and_then(|k| row.add(k, 1)) {
                s.label = label.map(|l| super::topn::cut(l, 255).into());
                s.extra.replies_4xx = s.extra.replies_4xx.saturating_add(r4);
                s.extra.replies_5xx = s.extra.replies_5xx.saturating_add(r5);
            }
        }
        if !out {
            totals.rcpt_in_accepted = totals
                .rcpt_in_accepted
                .saturating_add(doc.recipients_accepted);
            totals.rcpt_in_refused = totals
                .rcpt_in_refused
                .saturating_add(doc.recipients_refused);
        }
        let refused = doc.recipients_refused;
        if let Some(h) = self.hour(ctx.t) {
            if !out {
                h.refused_in = h.refused_in.saturating_add(refused);
            }
            if connected {
                if out {
                    h.sessions_out += 1;
                } else {
                    h.sessions_in += 1;
                }
            }
        }
    }
}

impl Seen {
    /// Remembers `key`; false when it was already there.
    pub fn insert(&mut self, key: u64) -> bool {
        if !self.set.insert(key) {
            return false;
        }
        self.order.push_back(key);
        if self.order.len() > super::state::MAX_SEEN {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }
}

impl OpenSessions {
    /// The smtp-out rolled-back transaction held for `session`, removed.
    pub fn take_pending(&mut self, session: u64) -> Option<super::state::Pending> {
        self.map.get_mut(&session).and_then(|e| e.pending.take())
    }
}
