//! A JSON writer for one flat-to-nested document, into a reused buffer.
//!
//! Strings come from smtpd as bytes of any kind, so escaping is ours: the
//! output is ASCII only (`\uXXXX` for everything else), and a byte that is
//! not part of valid UTF-8 is written as the four characters `\xHH` (JSON
//! `"\\xHH"`) and flagged. Objects and arrays are opened and closed by the
//! writer, so what it writes is valid JSON by construction.

use std::fmt::Write as _;

/// What writing strings found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    /// A string held bytes that are not UTF-8.
    pub invalid_utf8: bool,
    /// A string was shortened.
    pub cut: bool,
}

/// Builds one JSON document.
pub struct Writer<'b> {
    out: &'b mut Vec<u8>,
    /// Per nesting level: has a member been written yet?
    first: Vec<bool>,
    /// Strings longer than this many input bytes are cut.
    pub max_text: usize,
    /// What writing found.
    pub flags: Flags,
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl<'b> Writer<'b> {
    /// Starts the document's outer object in `out` (cleared first).
    pub fn new(out: &'b mut Vec<u8>, max_text: usize) -> Writer<'b> {
        out.clear();
        out.push(b'{');
        Writer {
            out,
            first: vec![true],
            max_text,
            flags: Flags::default(),
        }
    }

    fn sep(&mut self) {
        if let Some(first) = self.first.last_mut() {
            if !*first {
                self.out.push(b',');
            }
            *first = false;
        }
    }

    fn key(&mut self, key: &str) {
        self.sep();
        self.out.push(b'"');
        // Keys are our own ASCII constants.
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    /// Opens a nested object.
    pub fn begin(&mut self, key: &str) {
        self.key(key);
        self.out.push(b'{');
        self.first.push(true);
    }

    /// Closes the innermost object.
    pub fn end(&mut self) {
        self.first.pop();
        self.out.push(b'}');
    }

    /// Opens an array.
    pub fn begin_array(&mut self, key: &str) {
        self.key(key);
        self.out.push(b'[');
        self.first.push(true);
    }

    /// Closes the innermost array.
    pub fn end_array(&mut self) {
        self.first.pop();
        self.out.push(b']');
    }

    /// Opens an object as an array element.
    pub fn begin_element(&mut self) {
        self.sep();
        self.out.push(b'{');
        self.first.push(true);
    }

    /// A string array element.
    pub fn element_str(&mut self, value: &[u8]) {
        self.sep();
        self.string(value);
    }

    /// A string member.
    pub fn str(&mut self, key: &str, value: &[u8]) {
        self.key(key);
        self.string(value);
    }

    /// A string member known to be plain ASCII (our own constants).
    pub fn ascii(&mut self, key: &str, value: &str) {
        self.str(key, value.as_bytes());
    }

    /// A number member.
    pub fn u64(&mut self, key: &str, value: u64) {
        self.key(key);
        let _ = write!(Fmt(self.out), "{value}");
    }

    /// A boolean member.
    pub fn bool(&mut self, key: &str, value: bool) {
        self.key(key);
        self.out
            .extend_from_slice(if value { b"true" } else { b"false" });
    }

    /// A member whose value is written by `f` as ASCII with no JSON specials
    /// (timestamps, ids): no escaping pass.
    pub fn raw_str(&mut self, key: &str, f: impl FnOnce(&mut Vec<u8>)) {
        self.key(key);
        self.out.push(b'"');
        f(self.out);
        self.out.push(b'"');
    }

    /// Closes the outer object; the buffer then holds the whole document.
    pub fn finish(mut self) -> Flags {
        while !self.first.is_empty() {
            self.first.pop();
            self.out.push(b'}');
        }
        self.flags
    }

    fn string(&mut self, value: &[u8]) {
        let cut = value.len() > self.max_text;
        let value = if cut {
            // Back off to a character boundary so a cut is not taken for bad UTF-8.
            let mut end = self.max_text;
            while end > 0
                && self.max_text - end < 3
                && value.get(end).is_some_and(|b| b & 0xc0 == 0x80)
            {
                end -= 1;
            }
            value.get(..end).unwrap_or_default()
        } else {
            value
        };
        self.flags.cut |= cut;
        self.out.push(b'"');
        for chunk in value.utf8_chunks() {
            for c in chunk.valid().chars() {
                escape_char(self.out, c);
            }
            let invalid = chunk.invalid();
            if !invalid.is_empty() {
                self.flags.invalid_utf8 = true;
                for &b in invalid {
                    self.out.extend_from_slice(b"\\\\x");
                    self.out.push(hex_digit(b >> 4));
                    self.out.push(hex_digit(b & 0xf));
                }
            }
        }
        self.out.push(b'"');
    }
}

fn hex_digit(nibble: u8) -> u8 {
    HEX.get(usize::from(nibble & 0xf)).copied().unwrap_or(b'0')
}

fn escape_char(out: &mut Vec<u8>, c: char) {
    match c {
        '"' => out.extend_from_slice(b"\\\""),
        '\\' => out.extend_from_slice(b"\\\\"),
        '\n' => out.extend_from_slice(b"\\n"),
        '\r' => out.extend_from_slice(b"\\r"),
        '\t' => out.extend_from_slice(b"\\t"),
        ' '..='~' => out.push(c as u8),
        _ => {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.extend_from_slice(b"\\u");
                for shift in [12, 8, 4, 0] {
                    out.push(hex_digit(((*unit >> shift) & 0xf) as u8));
                }
            }
        }
    }
}

/// `fmt::Write` into a byte buffer.
pub struct Fmt<'a>(pub &'a mut Vec<u8>);

impl std::fmt::Write for Fmt<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(value: &[u8], max: usize) -> (String, Flags) {
        let mut buf = Vec::new();
        let mut w = Writer::new(&mut buf, max);
        w.str("k", value);
        let flags = w.finish();
        (String::from_utf8(buf).unwrap(), flags)
    }

    #[test]
    fn escapes_to_ascii() {
        assert_eq!(
            one(b"a\"b\\c\n\t\x01\x7f", 100).0,
            r#"{"k":"a\"b\\c\n\t\u0001\u007f"}"#
        );
        assert_eq!(
            one("é€😀".as_bytes(), 100).0,
            r#"{"k":"\u00e9\u20ac\ud83d\ude00"}"#
        );
    }

    #[test]
    fn invalid_utf8_is_escaped_and_flagged() {
        let (json, flags) = one(b"a\xff\xfeb", 100);
        assert_eq!(json, r#"{"k":"a\\xff\\xfeb"}"#);
        assert!(flags.invalid_utf8);
        assert!(!one(b"plain", 100).1.invalid_utf8);
    }

    #[test]
    fn cuts_without_calling_a_split_character_invalid() {
        let (json, flags) = one("aé".as_bytes(), 2);
        assert_eq!(json, r#"{"k":"a"}"#);
        assert!(flags.cut && !flags.invalid_utf8);
    }

    #[test]
    fn nesting_and_arrays() {
        let mut buf = Vec::new();
        let mut w = Writer::new(&mut buf, 10);
        w.begin("a");
        w.u64("n", 7);
        w.bool("b", false);
        w.begin_array("list");
        w.element_str(b"x");
        w.element_str(b"y");
        w.end_array();
        w.begin_array("objs");
        w.begin_element();
        w.u64("z", 1);
        w.end();
        w.end_array();
        w.end();
        w.ascii("c", "d");
        w.finish();
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            r#"{"a":{"n":7,"b":false,"list":["x","y"],"objs":[{"z":1}]},"c":"d"}"#
        );
    }
}
