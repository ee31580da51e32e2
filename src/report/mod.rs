//! `filter-jsonlog report`: the mail summary from filter-jsonlog's own
//! documents, without Elasticsearch (what pflogsumm is for Postfix).
//!
//! ```text
//! files, stdin ─ input ─▶ doc ─▶ aggregate ─▶ summary ─▶ text, json, html
//!  (gzip too)    lines     the    per-session   the       one of three
//!                classified fields final state  figures   renderings
//! ```
//!
//! Independent of the filter's modules: it reads what any version of the
//! filter wrote, with serde_json; memory is bounded by the keys it keeps
//! (`topn`), never by the size of the input.

mod aggregate;
mod delivery;
mod doc;
mod html;
mod input;
mod maillog;
mod state;
mod summary;
mod svg;
mod tables;
mod text;
mod time;
mod topn;

use std::io::{self, Write};
use std::path::PathBuf;

/// How the report is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Plain text for a cron mail.
    Text,
    /// One JSON object.
    Json,
    /// One self-contained HTML page with inline SVG charts.
    Html,
}

/// What to read and how to report.
#[derive(Clone, Debug)]
pub struct Options {
    /// Count documents at or after this time (microseconds since the epoch).
    pub since: Option<i64>,
    /// Count documents before this time.
    pub until: Option<i64>,
    /// Rows per table.
    pub top: usize,
    /// Output form.
    pub format: Format,
    /// Inputs; `None` is stdin.
    pub inputs: Vec<Option<PathBuf>>,
}

/// A `--since`/`--until` value that is not a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadTime(pub String);

impl std::fmt::Display for BadTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?}: expected YYYY-MM-DD[THH:MM[:SS]] (UTC), today, yesterday, now or -N[mhd]",
            self.0
        )
    }
}

impl std::error::Error for BadTime {}

/// Parses a `--since`/`--until` value, relative to the clock for `today`,
/// `yesterday`, `now` and `-N[mhd]`.
pub fn parse_time(text: &str) -> Result<i64, BadTime> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
    time::parse_arg(text, now).ok_or_else(|| BadTime(text.to_string()))
}

/// What a run found.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Inputs that could not be read, wholly or in part.
    pub unreadable_inputs: usize,
    /// Inputs read whole with something odd but harmless, with what.
    pub warnings: Vec<String>,
}

/// Reads the inputs and writes the report to `out`.
pub fn run(options: &Options, out: &mut impl Write) -> io::Result<Outcome> {
    let mut report = state::Report::new(options.since, options.until, options.top.max(1));
    for input in &options.inputs {
        report.read(input.as_deref());
    }
    report.finish();
    let summary = summary::Summary::of(&report);
    match options.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &summary).map_err(io::Error::other)?;
            out.write_all(b"\n")?;
        }
        Format::Text => out.write_all(text::render(&summary).as_bytes())?,
        Format::Html => out.write_all(html::render(&summary).as_bytes())?,
    }
    out.flush()?;
    Ok(Outcome {
        unreadable_inputs: report.input.errors.len(),
        warnings: report.input.warnings.clone(),
    })
}

/// Reads everything from `bytes` (plain or gzip) and returns the figures as
/// JSON: for benchmarks and tests that want no files.
pub fn json_of(bytes: &[u8], top: usize) -> serde_json::Value {
    let mut report = state::Report::new(None, None, top.max(1));
    report.input.files += 1;
    match report.read_from(bytes) {
        Ok(Some(warning)) => report.input.warnings.push(warning),
        Ok(None) => {}
        Err(e) => report.input.errors.push(e.to_string()),
    }
    report.finish();
    serde_json::to_value(summary::Summary::of(&report)).unwrap_or_default()
}
