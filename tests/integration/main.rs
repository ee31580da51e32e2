//! Integration tests: the real binary, driven through its command line.
//! Documents are checked as untyped JSON (`serde_json::Value`), never with
//! the crate's own types, so the tests are an independent oracle.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod check;
mod cli;
mod controls;
mod docs;
mod edges;
mod lifecycle;
mod replay;
mod schema;
mod secrets;
mod secrets_after_auth;
mod secrets_edges;
mod sinks;
mod truncation;
mod util;
