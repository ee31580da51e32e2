//! The tables that both the text and the HTML form show, described once:
//! each form only says how a table looks, so that the two cannot come to
//! show different figures under the same title.

use super::summary::{
    AuthFailures, Bucket, BytesRow, ClientRow, DomainRow, OutRow, Replies, Row, Summary,
};
use super::time;

/// A table's rows: the key, then one value per column.
pub type Rows = Vec<(String, Vec<String>)>;

/// Whether counts that may include keys no longer kept are marked `~`
/// (the HTML page has always marked them in single-count tables only).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Marks {
    /// `~12` wherever a count is an upper bound.
    Estimates,
    /// In multi-column tables, the bare count.
    SingleCountOnly,
}

/// A form the tables are written in.
pub trait Tables {
    /// Writes a table; `columns` names the values after the key.
    fn table(&mut self, title: &str, columns: &[&str], rows: Rows);

    /// Says that the input has none of the documents a table is made of.
    fn missing(&mut self, title: &str);

    /// A table with one count per key.
    fn rows(&mut self, title: &str, column: &str, rows: &[Row]) {
        self.table(title, &[column], counted(rows));
    }

    /// A table of event-detail documents, which `--events summaries` leaves out.
    fn detail(&mut self, title: &str, column: &str, rows: &Option<Vec<Row>>) {
        match rows {
            Some(rows) => self.rows(title, column, rows),
            None => self.missing(title),
        }
    }
}

/// Empty periods shown as rows of zeros between two with documents; a
/// longer run is one gap row: a day of hours, a week of days.
const FILL_HOURS: i64 = 24;
const FILL_DAYS: i64 = 7;

/// Traffic per hour, or per day (true) when the documents span more than
/// `hours_at_most`: each form has its own idea of what stays readable.
/// Only periods with documents are shown, and the short runs of empty
/// ones between them; a longer run is one gap row, so that the rows are
/// bounded by the data, whatever the span.
pub fn periods(s: &Summary, hours_at_most: i64) -> (bool, Vec<Bucket>) {
    let span = match (s.hours.first(), s.hours.last()) {
        (Some(a), Some(b)) => b.start - a.start,
        _ => 0,
    };
    let per_day = span > hours_at_most;
    let (unit, fill) = if per_day {
        (time::DAY, FILL_DAYS)
    } else {
        (time::HOUR, FILL_HOURS)
    };
    (per_day, axis(s.buckets(unit), unit, fill))
}

/// `data` (buckets of `unit` with documents, in order) with the runs of
/// at most `fill` empty buckets between them as zeros, longer ones as one
/// gap row.
fn axis(data: Vec<Bucket>, unit: i64, fill: i64) -> Vec<Bucket> {
    let mut out = Vec::with_capacity(data.len());
    let mut next: Option<i64> = None;
    for b in data {
        if let Some(from) = next {
            let empty = (b.start - from) / unit;
            if empty > fill {
                out.push(Bucket {
                    start: from,
                    gap: empty,
                    ..Bucket::default()
                });
            } else {
                out.extend((0..empty).map(|i| Bucket {
                    start: from + i * unit,
                    ..Bucket::default()
                }));
            }
        }
        next = Some(b.start + unit);
        out.push(b);
    }
    out
}

/// The row name of a gap: `... 20957 days without documents ...`.
pub fn gap_label(b: &Bucket, per_day: bool) -> String {
    let unit = match (per_day, b.gap) {
        (true, 1) => "day",
        (true, _) => "days",
        (false, 1) => "hour",
        (false, _) => "hours",
    };
    format!("... {} {unit} without documents", b.gap)
}

/// A character a document's field must not bring into the text mail or
/// the page as it is: control characters, and the Unicode bidirectional
/// controls (U+202E would show `moc.elpmaxe` for a name that is not).
pub fn is_hidden_control(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// `72.7%`, or `-` for 0 of 0.
pub fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".to_string()
    } else {
        format!("{:.1}%", part as f64 * 100.0 / whole as f64)
    }
}

/// `12.3 kB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit + 1 < UNITS.len() {
        v /= 1000.0;
        unit += 1;
    }
    let name = UNITS.get(unit).copied().unwrap_or("B");
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {name}")
    }
}

/// `12`, or `~12` when the count may include keys no longer kept.
fn approx(count: u64, error: u64, marks: Marks) -> String {
    if error > 0 && marks == Marks::Estimates {
        format!("~{count}")
    } else {
        count.to_string()
    }
}

/// `key (name)`, or the key alone.
fn labelled(key: &str, label: &Option<String>) -> String {
    match label {
        Some(l) => format!("{key} ({l})"),
        None => key.to_string(),
    }
}

fn counted(rows: &[Row]) -> Rows {
    rows.iter()
        .map(|r| {
            let count = approx(r.count, r.error, Marks::Estimates);
            (labelled(&r.key, &r.label), vec![count])
        })
        .collect()
}

fn domains(rows: &[DomainRow]) -> Rows {
    rows.iter()
        .map(|d| {
            let values = vec![
                d.messages.to_string(),
                d.recipients.to_string(),
                percent(d.messages_tls, d.messages),
                d.sessions_tls.to_string(),
                d.sessions_plaintext.to_string(),
            ];
            (d.domain.clone(), values)
        })
        .collect()
}

fn senders(rows: &[BytesRow]) -> Rows {
    rows.iter()
        .map(|r| (r.key.clone(), vec![r.messages.to_string(), bytes(r.bytes)]))
        .collect()
}

fn clients(rows: &[ClientRow]) -> Rows {
    rows.iter()
        .map(|c| {
            let values = [c.sessions, c.messages, c.refused];
            let values = values.iter().map(u64::to_string).collect();
            (labelled(&c.client, &c.rdns), values)
        })
        .collect()
}

/// From the recipient domains to the refused recipient domains: the same
/// tables in both forms; `domain_columns` names the domain tables' columns.
/// The TLS versions of both subsystems' sessions.
pub fn tls_versions(o: &mut impl Tables, s: &Summary) {
    o.rows(
        "TLS versions (smtp-in)",
        "sessions",
        &s.tls.smtp_in.versions,
    );
    o.rows(
        "TLS versions (smtp-out)",
        "sessions",
        &s.tls.smtp_out.versions,
    );
}

pub fn traffic(o: &mut impl Tables, s: &Summary, domain_columns: &[&str]) {
    for (title, rows) in [
        (
            "Recipient domains, received (smtp-in)",
            &s.recipient_domains,
        ),
        ("Recipient domains, relayed (smtp-out)", &s.relay_domains),
    ] {
        o.table(title, domain_columns, domains(rows));
    }
    for (title, rows) in [
        ("Top senders", &s.top.senders),
        ("Top sender domains", &s.top.sender_domains),
    ] {
        o.table(title, &["messages", "bytes"], senders(rows));
    }
    o.rows("Top recipients", "messages", &s.top.recipients);
    o.table(
        "Top clients (smtp-in)",
        &["sessions", "messages", "refused"],
        clients(&s.top.clients),
    );
    o.rows(
        "Refused recipients by client",
        "refused",
        &s.refusals.by_client,
    );
    o.rows(
        "Refused recipient domains (transactions)",
        "txs",
        &s.refusals.by_domain,
    );
}

/// The 4xx/5xx reply tables.
pub fn replies(o: &mut impl Tables, r: &Replies, marks: Marks) {
    let by_direction = [
        ("smtp-in (smtpd's replies)", &r.smtp_in),
        ("smtp-out (remote servers' replies)", &r.smtp_out),
    ]
    .iter()
    .map(|(name, c)| {
        let values = [c.sessions, c.replies_4xx, c.replies_5xx];
        (
            name.to_string(),
            values.iter().map(u64::to_string).collect(),
        )
    })
    .collect();
    o.table(
        "4xx/5xx replies (a multi-line reply counts once)",
        &["sessions", "4xx", "5xx"],
        by_direction,
    );
    for (title, rows) in [
        ("Clients with 4xx/5xx replies (smtp-in)", &r.by_client),
        (
            "Remote servers with 4xx/5xx replies (smtp-out)",
            &r.by_server,
        ),
    ] {
        let rows = rows
            .iter()
            .map(|c| {
                let values = vec![
                    approx(c.sessions, c.error, marks),
                    c.replies_4xx.to_string(),
                    c.replies_5xx.to_string(),
                ];
                (labelled(&c.address, &c.rdns), values)
            })
            .collect();
        o.table(title, &["sessions", "4xx", "5xx"], rows);
    }
}

/// The AUTH failure tables.
pub fn auth_failures(o: &mut impl Tables, a: &AuthFailures, marks: Marks) {
    let by_user = a
        .by_user
        .iter()
        .map(|r| {
            let values = vec![approx(r.attempts, r.error, marks), r.sessions.to_string()];
            (r.user.clone(), values)
        })
        .collect();
    o.table(
        "AUTH failures by user (the session's last AUTH user)",
        &["attempts", "sessions"],
        by_user,
    );
    let by_client = a
        .by_client
        .iter()
        .map(|r| {
            let values = vec![approx(r.sessions, r.error, marks), r.attempts.to_string()];
            (r.client.clone(), values)
        })
        .collect();
    o.table(
        "AUTH failures by client address",
        &["sessions", "attempts"],
        by_client,
    );
}

/// Outbound deferrals and failures per recipient domain.
pub fn deferrals(o: &mut impl Tables, title: &str, rows: &[OutRow]) {
    let rows = rows
        .iter()
        .map(|r| {
            let values = vec![r.deferred.to_string(), r.failed.to_string()];
            (r.domain.clone(), values)
        })
        .collect();
    o.table(title, &["deferred", "failed"], rows);
}

/// One figure of the Input section.
pub struct Figure {
    /// As the text form names it (indented under the figure it is part of).
    pub name: &'static str,
    /// As the HTML page names it; `None`: only in the text form, which
    /// has room for every figure.
    pub page: Option<&'static str>,
    pub value: u64,
    pub note: String,
}

/// The Input section, described once for both forms; figures that only
/// matter when not zero are left out when zero.
pub fn input(s: &Summary) -> Vec<Figure> {
    let i = &s.input.read;
    let n = &i.not_documents;
    let figure = |name, page, value, note: &str| Figure {
        name,
        page,
        value,
        note: note.to_string(),
    };
    let mut figures = vec![figure("files read", None, i.files, "")];
    if i.files_repeated > 0 {
        figures.push(figure(
            "  given twice",
            None,
            i.files_repeated,
            "(the same file, by any name: read once)",
        ));
    }
    figures.extend([
        figure("lines read", Some("lines read"), i.lines, ""),
        figure(
            "filter-jsonlog documents",
            Some("filter-jsonlog documents"),
            i.documents,
            "",
        ),
        figure("  used", Some("used"), i.used, ""),
        figure(
            "  repeating session state",
            Some("repeating session state"),
            i.repeated,
            "(facts carried by later documents)",
        ),
        figure("  outside --since/--until", None, i.outside_window, ""),
        figure(
            "  duplicates",
            None,
            i.duplicates,
            &format!(
                "(looked for among the last {} documents)",
                i.duplicates_window
            ),
        ),
        figure(
            "lines not documents",
            Some("lines not documents"),
            n.total(),
            "",
        ),
        figure("  not JSON", None, n.not_json, ""),
        figure("  other programs' JSON", None, n.other_programs, ""),
        figure(
            "  broken or truncated",
            Some("broken or truncated documents"),
            n.invalid,
            "",
        ),
        figure("  too long", None, n.too_long, ""),
        figure(
            "mail log lines",
            Some("mail log lines"),
            i.maillog_lines,
            "(read for smtpd's delivery lines)",
        ),
        figure("  smtpd's", None, i.maillog_smtpd_lines, ""),
        figure(
            "documents with unknown fields",
            Some("documents with unknown fields"),
            i.unknown_fields,
            &i.unknown_field_names.join(", "),
        ),
        figure("unknown protocol versions", None, i.unknown_versions, ""),
        figure("shortened by the filter", None, i.truncated_by_filter, ""),
    ]);
    if i.shortened_recipient_lists > 0 {
        figures.push(figure(
            "shortened recipient lists",
            None,
            i.shortened_recipient_lists,
            "(per-address figures miss some)",
        ));
    }
    if i.maillog_malformed > 0 {
        figures.push(figure(
            "  smtpd's lines not understood",
            None,
            i.maillog_malformed,
            "",
        ));
    }
    if i.maillog_not_followed > 0 {
        figures.push(figure(
            "envelopes not followed",
            None,
            i.maillog_not_followed,
            "(memory bound of the delivery join)",
        ));
    }
    if i.sessions_evicted > 0 {
        figures.push(figure(
            "sessions no longer followed",
            None,
            i.sessions_evicted,
            "(memory bound)",
        ));
    }
    figures.push(figure(
        "dropped by the filter",
        Some("dropped by the filter"),
        s.input.filter_documents_dropped,
        "(its documents-dropped documents)",
    ));
    figures
}
