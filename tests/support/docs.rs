//! What every test binary that runs the filter needs: the handshake smtpd
//! sends first and the documents read back as untyped JSON (never with the
//! crate's own types: the tests are an independent oracle). Included with
//! `#[path]` by `tests/integration` and `tests/faults`.

// Not every including binary needs every helper.
#![allow(dead_code)]

use serde_json::Value;

/// What smtpd sends a filter before any report (6.8.0p2, smtp-in only).
pub const HANDSHAKE: &str =
    "config|smtpd-version|6.8.0p2\nconfig|subsystem|smtp-in\nconfig|ready\n";

/// Every line of `text` as JSON; panics (showing the line) on anything
/// else, non-ASCII bytes included.
pub fn documents(text: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(text).expect("output is UTF-8");
    assert!(text.is_ascii(), "output is not ASCII");
    text.lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| {
                let shown: String = l.chars().take(200).collect();
                panic!("not one JSON document: {e}: {shown}")
            })
        })
        .collect()
}

/// A field by dotted path.
pub fn get<'a>(doc: &'a Value, path: &str) -> &'a Value {
    let mut v = doc;
    for part in path.split('.') {
        match v.get(part) {
            Some(next) => v = next,
            None => return &Value::Null,
        }
    }
    v
}
