//! Any bytes through the whole path: lines, parser, session table,
//! renderer, memory outlet. Every document must be ASCII, valid JSON and
//! within the size limit, and nothing may panic (the pipeline would catch
//! and survive it; the check's panic hook reports it).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/support/pipeline_check.rs"]
mod pipeline_check;

fuzz_target!(|data: &[u8]| {
    pipeline_check::check(data);
});
