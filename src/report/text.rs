//! The text form: plain ASCII columns that read well in a cron mail.

use super::delivery;
use super::summary::Summary;
use super::tables::{self, bytes, percent, Marks, Rows, Tables};
use super::time;
use std::fmt::Write;

/// Longest key shown in a column (longer ones end in `...`).
const KEY_WIDTH: usize = 48;

fn short(key: &str) -> String {
    let clean: String = key
        .chars()
        .map(|c| if tables::is_hidden_control(c) { '?' } else { c })
        .collect();
    if clean.chars().count() <= KEY_WIDTH {
        clean
    } else {
        let mut s: String = clean.chars().take(KEY_WIDTH - 3).collect();
        s.push_str("...");
        s
    }
}

struct Out(String);

impl Out {
    fn heading(&mut self, title: &str) {
        let _ = write!(self.0, "\n{title}\n{}\n", "-".repeat(title.len()));
    }

    fn figure(&mut self, name: &str, value: impl std::fmt::Display, note: &str) {
        let _ = writeln!(self.0, "  {name:<32} {value:>8}  {note}");
        self.trim_line();
    }

    fn trim_line(&mut self) {
        while self.0.ends_with(" \n") {
            self.0.pop();
            self.0.pop();
            self.0.push('\n');
        }
    }
}

impl Tables for Out {
    fn table(&mut self, title: &str, columns: &[&str], rows: Rows) {
        self.heading(title);
        if rows.is_empty() {
            self.0.push_str("  (none)\n");
            return;
        }
        let _ = write!(self.0, "  {:<KEY_WIDTH$}", "");
        for c in columns {
            let _ = write!(self.0, " {c:>10}");
        }
        self.0.push('\n');
        for (key, values) in rows {
            let _ = write!(self.0, "  {:<KEY_WIDTH$}", short(&key));
            for v in values {
                let _ = write!(self.0, " {v:>10}");
            }
            self.0.push('\n');
            // A row without values (a gap on the time axis) is its key.
            self.trim_line();
        }
    }

    fn missing(&mut self, title: &str) {
        self.heading(title);
        self.0.push_str(
            "  (not in this input: its documents were written without these events,\n   e.g. with --events summaries)\n",
        );
    }
}

/// Renders the text report.
pub fn render(s: &Summary) -> String {
    let mut o = Out(String::new());
    let _ = writeln!(o.0, "{}", s.report.generator);
    let span = match (&s.report.first, &s.report.last) {
        (Some(f), Some(l)) => format!("{f} to {l}"),
        _ => "no documents counted".to_string(),
    };
    let _ = writeln!(o.0, "Documents from {span}");
    if s.report.since.is_some() || s.report.until.is_some() {
        let _ = writeln!(
            o.0,
            "Window: since {} until {}",
            s.report.since.as_deref().unwrap_or("the beginning"),
            s.report.until.as_deref().unwrap_or("the end")
        );
    }
    if !s.report.exact || !s.unique.exact {
        o.0.push_str("Some tables outgrew their memory: counts marked ~ are upper bounds.\n");
    }

    o.heading("Grand totals");
    let ss = &s.sessions;
    o.figure(
        "sessions in (smtp-in)",
        ss.smtp_in,
        &format!("{} over the local socket", ss.smtp_in_local),
    );
    o.figure("sessions out (smtp-out)", ss.smtp_out, "");
    o.figure(
        "messages accepted",
        s.messages.accepted,
        &bytes(s.messages.bytes),
    );
    o.figure(
        "messages relayed (smtp-out)",
        s.messages.relayed,
        &bytes(s.messages.relayed_bytes),
    );
    o.figure("recipients accepted", s.recipients.accepted, "");
    o.figure(
        "recipients refused",
        s.recipients.refused,
        &percent(
            s.recipients.refused,
            s.recipients.accepted + s.recipients.refused,
        ),
    );
    let estimate = if s.unique.exact { "" } else { "(estimate)" };
    o.figure("unique senders", s.unique.senders, estimate);
    o.figure("unique recipients", s.unique.recipients, estimate);
    let by_filter = ss.smtp_in_ended_by_filter + ss.smtp_out_ended_by_filter;
    if by_filter > 0 {
        o.figure(
            "sessions ended by the filter",
            by_filter,
            "(session-expired/-evicted/-unfinished: not counted)",
        );
    }
    if ss.smtp_in_partial + ss.smtp_out_partial > 0 {
        o.figure(
            "sessions seen without connect",
            ss.smtp_in_partial + ss.smtp_out_partial,
            "(not counted above)",
        );
    }

    o.heading("TLS (sessions over the network)");
    for (name, c) in [("smtp-in", &s.tls.smtp_in), ("smtp-out", &s.tls.smtp_out)] {
        let all = c.tls + c.plaintext;
        o.figure(
            &format!("{name} over TLS"),
            percent(c.tls, all),
            &format!("{} TLS, {} plaintext", c.tls, c.plaintext),
        );
    }
    tables::tls_versions(&mut o, s);

    tables::traffic(
        &mut o,
        s,
        &["messages", "rcpts", "msgs TLS", "sess TLS", "sess plain"],
    );
    o.rows(
        "Refused recipient addresses (transactions)",
        "txs",
        &s.refusals.by_address,
    );
    o.detail(
        "Refusals by reply (tx-rcpt documents)",
        "refused",
        &s.refusals.by_reply,
    );

    tables::replies(&mut o, &s.replies, Marks::Estimates);

    let a = &s.auth_failures;
    o.heading("AUTH failures (smtp-in)");
    o.figure("failed attempts", a.attempts, "(link-auth other than pass)");
    o.figure("sessions with a failed attempt", a.sessions, "");
    tables::auth_failures(&mut o, a, Marks::Estimates);

    o.heading("Filter verdicts");
    o.figure("verdicts (not proceed)", s.filter_verdicts.total, "");
    o.figure("sessions with verdicts", s.filter_verdicts.sessions, "");
    o.rows(
        "Filter verdicts by client",
        "verdicts",
        &s.filter_verdicts.by_client,
    );
    o.detail(
        "Filter verdicts by kind (filter-response documents)",
        "verdicts",
        &s.filter_verdicts.by_kind,
    );

    o.heading("Timeouts and FCrDNS");
    o.figure("sessions timed out", s.timeouts.sessions, "");
    o.figure("FCrDNS fail", s.fcrdns.fail, "");
    o.figure("FCrDNS error", s.fcrdns.error, "");
    o.rows("Timeouts by client", "sessions", &s.timeouts.by_client);
    o.rows("FCrDNS failures by client", "sessions", &s.fcrdns.by_client);

    o.heading("Outbound (smtp-out)");
    let ob = &s.outbound;
    o.figure("refusals and deferrals", ob.rollbacks, "(tx-rollback)");
    o.figure("  deferrals", ob.rollbacks_deferred, "(4xx reply)");
    o.figure("recipients accepted remotely", ob.recipients_accepted, "");
    o.figure("recipients deferred", ob.deferred, "(tempfail)");
    o.figure("recipients failed", ob.failed, "(permfail)");
    o.figure(
        "sessions without delivery",
        ob.sessions_without_delivery,
        "",
    );
    tables::deferrals(
        &mut o,
        "Deferrals and failures by recipient domain",
        &ob.by_domain,
    );
    o.rows(
        "Refusals and deferrals by reply (smtp-out)",
        "rollbacks",
        &ob.rollbacks_by_reply,
    );
    o.rows(
        "Sessions without delivery by destination",
        "sessions",
        &ob.without_delivery_by_destination,
    );

    delivery(&mut o, s);
    traffic(&mut o, s);
    input(&mut o, s);
    o.0
}

fn delivery(o: &mut Out, s: &Summary) {
    delivery::relay_delay_table(o, &s.relay_delay);
    o.heading("Delivery (smtpd's mail log joined to the documents)");
    let Some(d) = &s.delivery else {
        let _ = writeln!(o.0, "  {}", delivery::absent(s.input.read.maillog_lines));
        return;
    };
    for (name, value, note) in delivery::figures(d) {
        o.figure(name, value, note);
    }
    delivery::tables(o, d);
}

fn traffic(o: &mut Out, s: &Summary) {
    // Per hour for a day or two; per day beyond (a cron mail stays short).
    let (per_day, buckets) = tables::periods(s, 48 * time::HOUR);
    let rows = buckets
        .iter()
        .map(|b| {
            if b.gap > 0 {
                return (tables::gap_label(b, per_day), Vec::new());
            }
            let key = if per_day {
                time::format_day(b.start)
            } else {
                time::format_hour(b.start)
            };
            let values = [
                b.sessions_in,
                b.messages_accepted,
                b.recipients_refused,
                b.sessions_out,
                b.messages_relayed,
            ];
            (key, values.iter().map(u64::to_string).collect())
        })
        .collect();
    o.table(
        if per_day {
            "Traffic per day (UTC)"
        } else {
            "Traffic per hour (UTC)"
        },
        &["sess in", "accepted", "refused", "sess out", "relayed"],
        rows,
    );
}

fn input(o: &mut Out, s: &Summary) {
    o.heading("Input");
    for f in tables::input(s) {
        o.figure(f.name, f.value, &f.note);
    }
    for e in &s.input.read.errors {
        let _ = writeln!(o.0, "  unreadable: {e}");
    }
    for w in &s.input.read.warnings {
        let _ = writeln!(o.0, "  warning: {w}");
    }
}
