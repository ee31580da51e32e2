//! Fault injection, one test per promise of the README's "Guarantees" and
//! "Delivery" sections, through the binary: signals at start and in the
//! middle, a non-blocking stdin, RLIMIT_FSIZE, a FIFO without reader, a
//! syslogd that is slow, stalled or not accepting, a deleted output file,
//! an output that is full for good. Each test prints what it measured
//! (time from end of input or signal to exit, memory, counts): run with
//! `cargo test --test faults -- --nocapture` to see them.
//!
//! `FAULTS_BIN=path/to/filter-jsonlog` runs them against another build.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod delivery;
mod edges;
mod guarantees;
mod harness;
mod syslog;
