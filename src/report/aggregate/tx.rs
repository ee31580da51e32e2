//! Transaction figures: from tx-commit and tx-rollback, and from a
//! session's final document for a transaction that never ended.

use super::*;

impl Report {
    /// What a session's final document says about its transactions.
    pub(super) fn session_transactions(&mut self, doc: &Doc, ctx: &TxCtx) {
        // A transaction that never ended shows only here; one that ended was
        // counted from its own document (or from the held smtp-out copy).
        let pending = self.open.take_pending(ctx.session);
        let final_tx = doc.tx.as_ref();
        let status = final_tx
            .and_then(|tx| tx.status.as_ref())
            .map(|s| s.as_str());
        match (pending, final_tx) {
            (Some(p), Some(tx)) if p.tx.msgid == tx.msgid => {
                if status == Some("committed") {
                    // Its tx-commit was counted already.
                } else {
                    self.transaction(tx, ctx, false);
                }
            }
            (pending, tx) => {
                if let Some(p) = pending {
                    self.pending_flush(p.tx, ctx.session, p.t, p.tls);
                }
                // smtp-in figures come from the session's counters and from
                // tx-commit/tx-rollback only (as the panels).
                if let (Some(tx), Some("open"), true) = (tx, status, ctx.out) {
                    self.transaction(tx, ctx, false);
                }
            }
        }
        self.open.remove(ctx.session);
    }

    pub(super) fn pending_flush(&mut self, tx: Tx, session: u64, t: i64, tls: bool) {
        let ctx = TxCtx {
            out: true,
            session,
            t,
            tls,
            client: "",
            label: None,
            mx_or_submission: true,
        };
        self.transaction(&tx, &ctx, false);
    }

    /// Counts a transaction at its end.
    pub(super) fn transaction(&mut self, tx: &Tx, ctx: &TxCtx, committed: bool) {
        let listed = tx.rcpt.len() as u64;
        if listed < tx.rcpt_accepted.saturating_add(tx.rcpt_refused) {
            self.input.shortened_recipient_lists += 1;
        }
        let totals = &mut self.totals;
        let tables = &mut self.tables;
        if ctx.out {
            totals.rcpt_out_accepted = totals.rcpt_out_accepted.saturating_add(tx.rcpt_accepted);
            totals.rcpt_out_refused = totals.rcpt_out_refused.saturating_add(tx.rcpt_refused);
            for r in &tx.rcpt {
                let result = r.result.as_ref().map(|r| r.as_str());
                if is_ok(result) {
                    continue;
                }
                let d = domain_of(r.address.as_ref().map_or("", |a| a.as_str()));
                if let Some(s) = tables.outbound_refused.add(&d, 1) {
                    if result == Some("tempfail") {
                        s.extra.deferred += 1;
                        totals.rcpt_out_deferred += 1;
                    } else {
                        s.extra.failed += 1;
                        totals.rcpt_out_failed += 1;
                    }
                }
            }
        } else {
            // Transactions per refused address and domain, each once per
            // transaction (the panels' opensmtpd.refused_rcpts/_domains).
            let mut addresses: Vec<&str> = Vec::new();
            let mut domains: Vec<String> = Vec::new();
            for r in &tx.rcpt {
                if is_ok(r.result.as_ref().map(|r| r.as_str())) {
                    continue;
                }
                let address = r.address.as_ref().map_or("", |a| a.as_str());
                if !addresses.contains(&address) {
                    addresses.push(address);
                    tables.refused_by_address.add(address, 1);
                }
                let d = domain_of(address);
                if !domains.contains(&d) {
                    tables.refused_by_domain.add(&d, 1);
                    domains.push(d);
                }
            }
        }
        if let Some(h) = self.hour(ctx.t) {
            if committed {
                if ctx.out {
                    h.messages_out += 1;
                } else {
                    h.messages_in += 1;
                    h.bytes_in = h.bytes_in.saturating_add(tx.size);
                }
            }
        }
        if committed {
            self.committed(tx, ctx);
        }
    }

    fn committed(&mut self, tx: &Tx, ctx: &TxCtx) {
        let totals = &mut self.totals;
        let tables = &mut self.tables;
        if ctx.out {
            totals.messages_out += 1;
            totals.bytes_out = totals.bytes_out.saturating_add(tx.size);
        } else {
            totals.messages_in += 1;
            totals.bytes_in = totals.bytes_in.saturating_add(tx.size);
            let sender = match tx.mail.as_ref().map(|m| m.as_str()) {
                Some("") => "<>",
                Some(s) => s,
                None => "(unknown)",
            };
            self.unique_senders.add(sender);
            if let Some(s) = tables.senders.add(sender, 1) {
                s.extra = s.extra.saturating_add(tx.size);
            }
            if let Some(s) = tables.sender_domains.add(&domain_of(sender), 1) {
                s.extra = s.extra.saturating_add(tx.size);
            }
        }
        // Accepted recipients per domain, each domain once per message.
        let mut domains: Vec<(String, u64)> = Vec::new();
        let mut addresses: Vec<&str> = Vec::new();
        for r in &tx.rcpt {
            if !is_ok(r.result.as_ref().map(|r| r.as_str())) {
                continue;
            }
            let address = r.address.as_ref().map_or("", |a| a.as_str());
            if !ctx.out && !addresses.contains(&address) {
                // Messages per address, as terms on email.to.address.
                addresses.push(address);
                self.unique_recipients.add(address);
                tables.recipients.add(address, 1);
            }
            let d = domain_of(address);
            match domains.iter_mut().find(|(k, _)| *k == d) {
                Some((_, n)) => *n += 1,
                None => domains.push((d, 1)),
            }
        }
        for (d, n) in domains {
            let first_in_session =
                ctx.mx_or_submission && self.open.count_domain(ctx.session, hash64(&d));
            let table = if ctx.out {
                &mut self.tables.relay_domains
            } else {
                &mut self.tables.recipient_domains
            };
            if let Some(s) = table.add(&d, 1) {
                s.extra.recipients += n;
                s.extra.messages_tls += u64::from(ctx.tls);
                if first_in_session {
                    if ctx.tls {
                        s.extra.sessions_tls += 1;
                    } else {
                        s.extra.sessions_plaintext += 1;
                    }
                }
            }
        }
    }
}
