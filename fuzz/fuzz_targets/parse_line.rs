//! One line, any bytes: `parse_line` must return, never panic, and what it
//! borrows must lie inside the line.
#![no_main]

use filter_jsonlog::protocol::{parse_line, Line};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Line::Report(report)) = parse_line(data) {
        let name = report.event.name();
        assert!(name.len() <= data.len());
        assert!(report.version_text.len() <= data.len());
    }
});
