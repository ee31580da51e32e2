//! The HTML form: one self-contained page (no script, no font, no external
//! anything), charts as inline SVG, readable on a phone and printable.

use super::delivery;
use super::summary::Summary;
use super::svg::{bars, shares};
use super::tables::{self, bytes, percent, Marks, Rows, Tables};
use super::time;
use std::fmt::Write;

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if tables::is_hidden_control(c) => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
:root{color-scheme:light}
body{font:15px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;color:#1b1b1b;background:#f6f7f9}
main{max-width:960px;margin:0 auto;padding:12px}
h1{font-size:1.4em;margin:.4em 0}
h2{font-size:1.1em;margin:1.2em 0 .4em;border-bottom:2px solid #d0d7de;padding-bottom:.2em}
section{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:8px 12px;margin:10px 0;break-inside:avoid}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(140px,1fr));gap:8px}
.card{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:8px}
.card b{display:block;font-size:1.5em}
.card span{color:#57606a;font-size:.85em}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.9em}
th,td{padding:3px 6px;border-bottom:1px solid #eaeef2;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left;white-space:normal;overflow-wrap:anywhere;min-width:10em}
svg{width:100%;max-width:760px;height:auto;display:block}
.legend span{display:inline-block;margin-right:12px;font-size:.85em}
.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
.note{color:#57606a;font-size:.85em}
@media print{body{background:#fff}section,.card{border-color:#999}main{max-width:none}}
";

struct Page(String);

impl Tables for Page {
    fn table(&mut self, title: &str, columns: &[&str], rows: Rows) {
        let _ = write!(self.0, "<section><h2>{}</h2>", esc(title));
        if rows.is_empty() {
            self.0.push_str("<p class=note>(none)</p></section>");
            return;
        }
        self.0
            .push_str("<div class=scroll><table><thead><tr><th></th>");
        for c in columns {
            let _ = write!(self.0, "<th>{}</th>", esc(c));
        }
        self.0.push_str("</tr></thead><tbody>");
        for (key, values) in rows {
            let _ = write!(self.0, "<tr><td>{}</td>", esc(&key));
            for v in values {
                let _ = write!(self.0, "<td>{}</td>", esc(&v));
            }
            self.0.push_str("</tr>");
        }
        self.0.push_str("</tbody></table></div></section>");
    }

    fn missing(&mut self, title: &str) {
        let _ = write!(
            self.0,
            "<section><h2>{}</h2><p class=note>Not in this input: its documents were written without these events (e.g. --events summaries).</p></section>",
            esc(title)
        );
    }
}

/// Hour buckets, or days when there are more than a week of hours (true);
/// a gap row is a bar of nothing labelled `...`.
fn buckets(s: &Summary) -> (bool, Vec<String>, Vec<[u64; 3]>, Vec<String>) {
    let (per_day, buckets) = tables::periods(s, 7 * time::DAY);
    let gaps = buckets
        .iter()
        .filter(|b| b.gap > 0)
        .map(|b| tables::gap_label(b, per_day))
        .collect();
    let (labels, values) = buckets
        .iter()
        .map(|b| {
            let label = if b.gap > 0 {
                "...".to_string()
            } else if per_day {
                time::format_day(b.start)
            } else {
                time::format_hour(b.start)
                    .get(5..)
                    .unwrap_or_default()
                    .to_string()
            };
            (
                label,
                [
                    b.messages_accepted,
                    b.messages_relayed,
                    b.recipients_refused,
                ],
            )
        })
        .unzip();
    (per_day, labels, values, gaps)
}

/// Renders the page.
pub fn render(s: &Summary) -> String {
    let mut p = Page(String::with_capacity(64 * 1024));
    let span = match (&s.report.first, &s.report.last) {
        (Some(f), Some(l)) => format!("{f} to {l}"),
        _ => "no documents counted".to_string(),
    };
    let _ = write!(
        p.0,
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8><meta name=viewport content=\"width=device-width,initial-scale=1\"><title>OpenSMTPD mail report</title><style>{STYLE}</style></head><body><main><h1>OpenSMTPD mail report</h1><p class=note>{} &middot; {}</p>",
        esc(s.report.generator),
        esc(&span)
    );
    let cards = [
        ("sessions in", s.sessions.smtp_in.to_string()),
        ("sessions out", s.sessions.smtp_out.to_string()),
        ("messages accepted", s.messages.accepted.to_string()),
        ("bytes accepted", bytes(s.messages.bytes)),
        ("messages relayed", s.messages.relayed.to_string()),
        ("recipients accepted", s.recipients.accepted.to_string()),
        ("recipients refused", s.recipients.refused.to_string()),
        ("unique senders", s.unique.senders.to_string()),
        ("unique recipients", s.unique.recipients.to_string()),
        (
            "smtp-in over TLS",
            percent(
                s.tls.smtp_in.tls,
                s.tls.smtp_in.tls + s.tls.smtp_in.plaintext,
            ),
        ),
        (
            "smtp-out over TLS",
            percent(
                s.tls.smtp_out.tls,
                s.tls.smtp_out.tls + s.tls.smtp_out.plaintext,
            ),
        ),
        ("AUTH failures", s.auth_failures.attempts.to_string()),
    ];
    let delivery_cards = s.delivery.as_ref().map(|d| {
        [
            ("recipients delivered", d.delivered.to_string()),
            (
                "deferred, bounced, expired",
                format!("{} / {} / {}", d.deferred, d.bounced, d.expired),
            ),
        ]
    });
    p.0.push_str("<div class=cards>");
    for (name, value) in cards
        .into_iter()
        .chain(delivery_cards.into_iter().flatten())
    {
        let _ = write!(
            p.0,
            "<div class=card><b>{}</b><span>{}</span></div>",
            esc(&value),
            esc(name)
        );
    }
    p.0.push_str("</div>");

    let (per_day, labels, values, gaps) = buckets(s);
    let period = if per_day { "day" } else { "hour" };
    // The axis shows only periods with documents: what each gap stands for.
    let gaps = if gaps.is_empty() {
        String::new()
    } else {
        format!("<p class=note>{}</p>", esc(&gaps.join("; ")))
    };
    let col = |k: usize| {
        values
            .iter()
            .map(|v| v.get(k).copied().unwrap_or(0))
            .collect::<Vec<_>>()
    };
    let _ = write!(
        p.0,
        "<section><h2>Traffic per {period} (UTC)</h2>{}{gaps}</section>",
        bars(
            "chart-traffic",
            &format!("Messages accepted and relayed per {period}"),
            &labels,
            &[
                ("accepted (smtp-in)", "#1565c0", col(0)),
                ("relayed (smtp-out)", "#6a1b9a", col(1))
            ]
        )
    );
    let domains: Vec<(String, u64, u64)> = s
        .recipient_domains
        .iter()
        .take(20)
        .map(|d| (d.domain.clone(), d.sessions_tls, d.sessions_plaintext))
        .collect();
    let _ = write!(
        p.0,
        "<section><h2>TLS share per recipient domain (smtp-in sessions)</h2>{}</section>",
        shares(
            "chart-tls",
            "TLS share of sessions per recipient domain",
            &domains
        )
    );
    let _ = write!(
        p.0,
        "<section><h2>Refused recipients per {period} (UTC)</h2>{}</section>",
        bars(
            "chart-refusals",
            &format!("Refused recipients per {period}"),
            &labels,
            &[("refused (smtp-in)", "#e65100", col(2))]
        )
    );

    tables::tls_versions(&mut p, s);
    tables::traffic(
        &mut p,
        s,
        &[
            "messages",
            "recipients",
            "messages TLS",
            "sessions TLS",
            "sessions plaintext",
        ],
    );
    p.rows(
        "Refused recipient addresses (transactions)",
        "txs",
        &s.refusals.by_address,
    );
    p.detail(
        "Refusals by reply (tx-rcpt documents)",
        "refused",
        &s.refusals.by_reply,
    );
    tables::replies(&mut p, &s.replies, Marks::SingleCountOnly);
    tables::auth_failures(&mut p, &s.auth_failures, Marks::SingleCountOnly);
    p.rows(
        "Filter verdicts by client",
        "verdicts",
        &s.filter_verdicts.by_client,
    );
    p.detail(
        "Filter verdicts by kind (filter-response documents)",
        "verdicts",
        &s.filter_verdicts.by_kind,
    );
    p.rows("Timeouts by client", "sessions", &s.timeouts.by_client);
    p.rows("FCrDNS failures by client", "sessions", &s.fcrdns.by_client);
    tables::deferrals(
        &mut p,
        "Deferrals and failures by recipient domain",
        &s.outbound.by_domain,
    );
    p.rows(
        "Refusals and deferrals by reply (smtp-out)",
        "rollbacks",
        &s.outbound.rollbacks_by_reply,
    );
    p.rows(
        "Sessions without delivery by destination",
        "sessions",
        &s.outbound.without_delivery_by_destination,
    );
    delivery::relay_delay_table(&mut p, &s.relay_delay);
    match &s.delivery {
        Some(d) => {
            let figures = delivery::figures(d)
                .into_iter()
                .map(|(name, value, note)| {
                    let key = if note.is_empty() {
                        name.to_string()
                    } else {
                        format!("{name} {note}")
                    };
                    (key, vec![value])
                })
                .collect();
            p.table(
                "Delivery (smtpd's mail log joined to the documents)",
                &["count"],
                figures,
            );
            delivery::tables(&mut p, d);
        }
        None => {
            let _ = write!(
                p.0,
                "<section id=delivery><h2>Delivery</h2><p class=note>{}</p></section>",
                esc(delivery::absent(s.input.read.maillog_lines))
            );
        }
    }
    let input = tables::input(s)
        .into_iter()
        .filter_map(|f| Some((f.page?.to_string(), vec![f.value.to_string()])))
        .collect();
    p.table("Input", &["count"], input);
    p.0.push_str("</main></body></html>\n");
    p.0
}
