//! The binary in filter mode under a fault: the driver of
//! `tests/support/filter.rs`, run against `FAULTS_BIN` when it is set.

#[path = "../support/temp.rs"]
mod temp;
pub use temp::temp_dir;

#[path = "../support/docs.rs"]
mod docs;
pub use docs::{documents, get, HANDSHAKE};

#[path = "../support/session.rs"]
mod stream;
pub use stream::session;

#[path = "../support/filter.rs"]
mod filter;
pub use filter::*;

/// The binary under test. `FAULTS_BIN` runs the same tests against another
/// build (to show that an older one fails them).
pub fn bin() -> String {
    std::env::var("FAULTS_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_filter-jsonlog").into())
}
