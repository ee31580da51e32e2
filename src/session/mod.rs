//! Session state: what every SMTP session and its transaction look like after
//! each report event. [`SessionTable::apply`] is the only place state changes.
//!
//! Sessions are keyed by (subsystem, session id). smtp-in sessions begin at
//! link-connect and end at link-disconnect; smtp-out sessions may reconnect
//! under one id and may end without ever connecting, so any event creates a
//! session it does not know (marked partial). Memory follows the open
//! sessions only: every stored field is capped, the table holds at most
//! `max_sessions`, and sessions idle longer than `idle_timeout` are expired.

mod apply;
mod endpoint;
mod state;
mod table;
mod text;
mod tx;

pub use endpoint::Endpoint;
pub use state::{
    Auth, AuthExchange, EventInfo, Expiry, FilterNote, FilterVerdict, Key, Session,
    SessionCounters, Snapshot, Tls,
};
pub use table::{IdHasher, Limits, SessionTable, MAX_STORED_RCPTS};
pub use text::{caps, Text};
pub use tx::{Recipient, Sender, Transaction, TxStatus};

#[cfg(test)]
mod tests;
