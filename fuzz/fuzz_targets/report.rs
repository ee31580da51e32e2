//! Any bytes as `filter-jsonlog report`'s input (documents, mail log lines,
//! gzip): the report must be built, never panic. The mail log reader finds
//! smtpd's text after any syslog header by byte offsets: the mutations that
//! matter land there.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let v = filter_jsonlog::report::json_of(data, 5);
    assert!(v.is_object());
});
