//! filter-jsonlog: an OpenSMTPD report filter that writes, for every report
//! event, the whole state of the event's SMTP session as one JSON line.
//!
//! Data flows one way, one module per step; no module knows the later ones:
//!
//! ```text
//! stdin bytes ─ input ─▶ protocol ─▶ session ─▶ document ─▶ sink
//!               lines     typed,       state      one JSON     syslog, file,
//!               bounded   versioned    table      line         stdout
//! ```
//!
//! `run` is the one loop that connects them; `cli` turns flags into its
//! `config` (typed once, no clap in it); `stats` counts what happened, including every drop;
//! `privacy` decides what personal data the session keeps, and `select`
//! which documents are written; `signals` installs the handlers first and
//! lets SIGTERM end the input.
//!
//! `report` is apart: it reads documents back and summarizes them.
#![deny(missing_docs)]

mod calendar;
pub mod check;
pub mod cli;
pub mod config;
pub mod document;
pub mod input;
pub mod privacy;
pub mod protocol;
#[cfg(feature = "report")]
pub mod report;
pub mod run;
pub mod sandbox;
pub mod select;
pub mod session;
pub mod signals;
pub mod sink;
pub mod stats;
