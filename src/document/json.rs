//! A JSON writer for one flat-to-nested document, into a reused buffer.
//!
//! Strings come from smtpd as bytes of any kind, so escaping is ours: the
//! output is ASCII only (`\uXXXX` for everything else), and a byte that is
//! not part of valid UTF-8 is written as the four characters `\xHH` (JSON
//! `"\\xHH"`) and flagged. Objects and arrays are opened and closed by the
//! writer, which knows which is open at each level, so what it writes is
//! valid JSON by construction.
//!
//! Why not serde_json: with a `Formatter` that escapes to ASCII it writes the
//! same bytes (the tests below check it, on the golden documents and on
//! random byte strings), but it was measured at about 2.2 times the
//! instructions per document (callgrind, the benchmark's typical stream),
//! and it needs every value as UTF-8 first, which smtpd's bytes are not.

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
    /// Bit `n` set: nesting level `n` has no member yet.
    first: u64,
    /// Bit `n` set: nesting level `n` is an array (closed with `]`).
    arrays: u64,
    /// Levels refused past [`MAX_DEPTH`] (written as `null`): their
    /// closing calls close nothing.
    refused: u32,
    /// Open objects and arrays, the outer object included.
    depth: u32,
    /// The depth [`Writer::finish`] closes down to: 0 for a document, 1
    /// for a fragment (members without the braces around them).
    base: u32,
    /// Strings longer than this many input bytes are cut.
    pub max_text: usize,
    /// What writing found.
    pub flags: Flags,
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The deepest nesting the level bits can hold. Our documents nest five
/// levels deep; a deeper `begin` writes `null` instead of opening a level.
pub const MAX_DEPTH: u32 = 64;

impl<'b> Writer<'b> {
    /// Starts the document's outer object in `out` (cleared first).
    pub fn new(out: &'b mut Vec<u8>, max_text: usize) -> Writer<'b> {
        out.clear();
        out.push(b'{');
        Writer {
            out,
            first: 1,
            arrays: 0,
            refused: 0,
            depth: 1,
            base: 0,
            max_text,
            flags: Flags::default(),
        }
    }

    /// Starts members meant to be spliced into documents later with
    /// [`Writer::members`]: `out` (cleared first) gets no braces around them.
    pub fn fragment(out: &'b mut Vec<u8>, max_text: usize) -> Writer<'b> {
        out.clear();
        Writer {
            out,
            first: 1,
            arrays: 0,
            refused: 0,
            depth: 1,
            base: 1,
            max_text,
            flags: Flags::default(),
        }
    }

    #[inline(always)]
    fn level_bit(&self) -> u64 {
        1u64.checked_shl(self.depth.wrapping_sub(1)).unwrap_or(0)
    }

    #[inline(always)]
    fn sep(&mut self) {
        if self.depth == 0 {
            return;
        }
        let bit = self.level_bit();
        if self.first & bit == 0 {
            self.out.push(b',');
        }
        self.first &= !bit;
    }

    /// Opens a level after its key (or separator) was written: `{` or `[`,
    /// or `null` when the level bits are full.
    #[inline]
    fn open(&mut self, array: bool) {
        if self.depth >= MAX_DEPTH || self.refused > 0 {
            self.refused += 1;
            self.out.extend_from_slice(b"null");
            return;
        }
        self.out.push(if array { b'[' } else { b'{' });
        self.depth += 1;
        let bit = self.level_bit();
        self.first |= bit;
        if array {
            self.arrays |= bit;
        } else {
            self.arrays &= !bit;
        }
    }

    /// Closes the innermost level with the bracket it was opened with;
    /// never the outer object (that is [`Writer::finish`]'s), never a level
    /// that was refused.
    #[inline]
    fn close(&mut self) {
        if self.refused > 0 {
            self.refused -= 1;
            return;
        }
        if self.depth <= self.base.max(1) {
            return;
        }
        let array = self.arrays & self.level_bit() != 0;
        self.out.push(if array { b']' } else { b'}' });
        self.depth -= 1;
    }

    #[inline(always)]
    fn key(&mut self, key: &str) {
        self.sep();
        // Keys are our own ASCII constants.
        self.out.reserve(key.len() + 3);
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.out.len()
    }

    /// Opens a nested object.
    #[inline]
    pub fn begin(&mut self, key: &str) {
        self.key(key);
        self.open(false);
    }

    /// Closes the innermost object.
    #[inline]
    pub fn end(&mut self) {
        self.close();
    }

    /// Opens an array.
    #[inline]
    pub fn begin_array(&mut self, key: &str) {
        self.key(key);
        self.open(true);
    }

    /// Closes the innermost array.
    #[inline]
    pub fn end_array(&mut self) {
        self.close();
    }

    /// Opens an object as an array element.
    #[inline]
    pub fn begin_element(&mut self) {
        self.sep();
        self.open(false);
    }

    /// A string array element.
    #[inline]
    pub fn element_str(&mut self, value: &[u8]) {
        self.sep();
        self.string(value);
    }

    /// A string member.
    #[inline]
    pub fn str(&mut self, key: &str, value: &[u8]) {
        self.key(key);
        self.string(value);
    }

    /// A string member that is one of our own constants: printable ASCII
    /// without `"` or `\\`, so it is written without an escaping pass.
    #[inline]
    pub fn ascii(&mut self, key: &str, value: &'static str) {
        debug_assert!(value.bytes().all(is_plain), "{value:?}");
        self.key(key);
        self.out.push(b'"');
        self.out.extend_from_slice(value.as_bytes());
        self.out.push(b'"');
    }

    /// Members already written as JSON (`"a":1,"b":"c"`, our own constants
    /// or a fragment this writer made earlier), with the flags found then.
    #[inline]
    pub fn members(&mut self, members: &[u8], flags: Flags) {
        if members.is_empty() {
            return;
        }
        self.sep();
        self.out.extend_from_slice(members);
        self.flags.invalid_utf8 |= flags.invalid_utf8;
        self.flags.cut |= flags.cut;
    }

    /// A number member.
    #[inline]
    pub fn u64(&mut self, key: &str, value: u64) {
        self.key(key);
        push_u64(self.out, value);
    }

    /// A boolean member.
    #[inline]
    pub fn bool(&mut self, key: &str, value: bool) {
        self.key(key);
        self.out
            .extend_from_slice(if value { b"true" } else { b"false" });
    }

    /// A member whose value is written by `f` as ASCII with no JSON specials
    /// (timestamps, ids): no escaping pass.
    #[inline]
    pub fn raw_str(&mut self, key: &str, f: impl FnOnce(&mut Vec<u8>)) {
        self.key(key);
        self.out.push(b'"');
        f(self.out);
        self.out.push(b'"');
    }

    /// Closes the outer object; the buffer then holds the whole document
    /// (or the whole fragment).
    pub fn finish(mut self) -> Flags {
        self.refused = 0;
        while self.depth > self.base.max(1) {
            self.close();
        }
        if self.base == 0 {
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
        self.out.reserve(value.len() + 2);
        self.out.push(b'"');
        let mut rest = value;
        // Runs of printable ASCII are copied as they are; everything else
        // goes through the escaping below. A UTF-8 sequence is all bytes of
        // 0x80 and above, so cutting runs at ASCII bytes never splits one.
        while !rest.is_empty() {
            let plain = plain_prefix(rest);
            let (run, tail) = rest.split_at(plain);
            self.out.extend_from_slice(run);
            rest = tail;
            let Some(&b) = rest.first() else {
                break;
            };
            if b.is_ascii() {
                escape_char(self.out, char::from(b));
                rest = rest.get(1..).unwrap_or_default();
                continue;
            }
            let high = rest.iter().position(u8::is_ascii).unwrap_or(rest.len());
            let (run, tail) = rest.split_at(high);
            self.escape_non_ascii(run);
            rest = tail;
        }
        self.out.push(b'"');
    }

    fn escape_non_ascii(&mut self, value: &[u8]) {
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
    }
}

/// Printable ASCII that JSON takes as it is.
fn is_plain(b: u8) -> bool {
    matches!(b, b' '..=b'~') && b != b'"' && b != b'\\'
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// True when some byte of `x` is zero (exact, no false positives).
fn any_zero(x: u64) -> bool {
    x.wrapping_sub(ONES) & !x & HIGHS != 0
}

/// True when all eight bytes of `x` are [`is_plain`].
fn all_plain(x: u64) -> bool {
    let below_space = x.wrapping_sub(ONES * 0x20) & !x & HIGHS != 0;
    let not_ascii = x & HIGHS != 0;
    !(below_space
        || not_ascii
        || any_zero(x ^ (ONES * u64::from(b'"')))
        || any_zero(x ^ (ONES * u64::from(b'\\')))
        || any_zero(x ^ (ONES * 0x7f)))
}

/// The length of the run of [`is_plain`] bytes `value` starts with; eight
/// bytes at a time, as most strings are plain through and through.
fn plain_prefix(value: &[u8]) -> usize {
    let mut n = 0;
    let mut words = value.chunks_exact(8);
    for word in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        if !all_plain(u64::from_le_bytes(bytes)) {
            break;
        }
        n += 8;
    }
    let tail = value.get(n..).unwrap_or_default();
    n + tail
        .iter()
        .position(|&b| !is_plain(b))
        .unwrap_or(tail.len())
}

/// Appends `n` in decimal.
pub fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    if n < 10 {
        out.push(b'0' + n as u8);
        return;
    }
    let mut buf = [0u8; 20];
    let mut len = 0;
    for slot in buf.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
        len += 1;
        if n == 0 {
            break;
        }
    }
    // Byte by byte: short numbers are cheaper so than through memcpy.
    for &d in buf.get(buf.len() - len..).unwrap_or_default() {
        out.push(d);
    }
}

/// Appends `n` as `width` lowercase hex digits (at most 16), zero-padded.
pub fn push_hex(out: &mut Vec<u8>, n: u64, width: u32) {
    for shift in (0..width.min(16)).rev() {
        out.push(hex_digit(((n >> (4 * shift)) & 0xf) as u8));
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
    fn plain_runs_match_the_byte_rule() {
        let mut rng = 0x1234_5678_u64;
        for len in 0..40 {
            for _ in 0..500 {
                let bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        rng ^= rng << 13;
                        rng ^= rng >> 7;
                        rng ^= rng << 17;
                        // Mostly plain, with every kind of special now and then.
                        match rng % 16 {
                            0 => (rng >> 8) as u8,
                            _ => b' ' + ((rng >> 8) % 95) as u8,
                        }
                    })
                    .collect();
                let expected = bytes.iter().position(|&b| !is_plain(b)).unwrap_or(len);
                assert_eq!(plain_prefix(&bytes), expected, "{bytes:?}");
            }
        }
        for special in [0u8, 0x1f, b'"', b'\\', 0x7f, 0x80, 0xff] {
            for at in 0..17 {
                let mut bytes = vec![b'a'; 17];
                bytes[at] = special;
                assert_eq!(plain_prefix(&bytes), at);
            }
        }
    }

    #[test]
    fn numbers() {
        for n in [0, 7, 10, 99, 100, 65_535, u64::MAX] {
            let mut out = Vec::new();
            push_u64(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
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

    #[test]
    fn nesting_is_checked() {
        let mut buf = Vec::new();
        let mut w = Writer::new(&mut buf, 10);
        w.begin_array("a");
        w.begin_element();
        w.end_array(); // closes the element object with `}`
        w.end(); // closes the array with `]`
        w.end(); // nothing left to close but the outer object: not closed here
        w.end();
        w.u64("n", 1);
        w.finish();
        assert_eq!(String::from_utf8(buf).unwrap(), r#"{"a":[{}],"n":1}"#);

        let mut buf = Vec::new();
        let mut w = Writer::new(&mut buf, 10);
        for _ in 0..100 {
            w.begin("d");
        }
        w.u64("deep", 1);
        for _ in 0..100 {
            w.end();
        }
        w.u64("after", 2);
        w.finish();
        let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(v["after"], 2);
        let mut depth = 0;
        let mut node = &v;
        while let Some(next) = node.get("d") {
            node = next;
            depth += 1;
        }
        // 63 objects below the outer one, then the level that did not fit.
        assert_eq!(
            depth, MAX_DEPTH as usize,
            "levels beyond the bound are null"
        );
        assert!(node.is_null());
    }

    /// serde_json with the escaping our writer promises: ASCII only,
    /// `\uXXXX` (surrogate pairs above the BMP) for the rest, DEL and the
    /// control characters without a short form as `\u00XX`.
    struct Ascii;

    impl serde_json::ser::Formatter for Ascii {
        fn write_string_fragment<W: ?Sized + std::io::Write>(
            &mut self,
            writer: &mut W,
            fragment: &str,
        ) -> std::io::Result<()> {
            for c in fragment.chars() {
                let mut out = Vec::new();
                escape_char(&mut out, c);
                writer.write_all(&out)?;
            }
            Ok(())
        }

        fn write_char_escape<W: ?Sized + std::io::Write>(
            &mut self,
            writer: &mut W,
            escape: serde_json::ser::CharEscape,
        ) -> std::io::Result<()> {
            use serde_json::ser::CharEscape::*;
            let text = match escape {
                Quote => "\\\"".to_string(),
                ReverseSolidus => "\\\\".to_string(),
                LineFeed => "\\n".to_string(),
                CarriageReturn => "\\r".to_string(),
                Tab => "\\t".to_string(),
                Solidus => "/".to_string(),
                Backspace => "\\u0008".to_string(),
                FormFeed => "\\u000c".to_string(),
                AsciiControl(b) => format!("\\u{:04x}", b),
            };
            writer.write_all(text.as_bytes())
        }
    }

    fn serde_bytes(value: &serde_json::Value) -> Vec<u8> {
        let mut out = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(&mut out, Ascii);
        serde::Serialize::serialize(value, &mut ser).unwrap();
        out
    }

    /// What a string of input bytes means: its valid UTF-8 as is, each
    /// byte that is not part of it as the text `\xHH`.
    fn meaning(bytes: &[u8]) -> String {
        let mut text = String::new();
        for chunk in bytes.utf8_chunks() {
            text.push_str(chunk.valid());
            for b in chunk.invalid() {
                text.push_str(&format!("\\x{b:02x}"));
            }
        }
        text
    }

    #[test]
    fn same_bytes_as_serde_json_for_random_strings() {
        let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let pieces: &[&[u8]] = &[
            b"a",
            b" ",
            b"\"",
            b"\\",
            b"\n",
            b"\r",
            b"\t",
            b"\x00",
            b"\x08",
            b"\x0c",
            b"\x1f",
            b"\x7f",
            "é".as_bytes(),
            "€".as_bytes(),
            "😀".as_bytes(),
            b"\xff",
            b"\xc3",
            b"\xe2\x82",
            b"\xf0\x9f\x98",
            b"\xed\xa0\x80",
            b"/",
            b"|",
        ];
        for _ in 0..20_000 {
            let len = (next() % 24) as usize;
            let mut bytes = Vec::new();
            for _ in 0..len {
                match next() % 3 {
                    0 => bytes.push((next() >> 8) as u8),
                    _ => bytes.extend_from_slice(pieces[(next() % pieces.len() as u64) as usize]),
                }
            }
            let (ours, _) = one(&bytes, usize::MAX);
            let theirs = serde_bytes(&serde_json::json!({ "k": meaning(&bytes) }));
            assert_eq!(ours.as_bytes(), &theirs[..], "{}", bytes.escape_ascii());
        }
    }

    #[test]
    fn same_bytes_as_serde_json_for_the_golden_documents() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden");
        let mut documents = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for line in text.lines() {
                let value: serde_json::Value = serde_json::from_str(line).unwrap();
                assert_eq!(serde_bytes(&value), line.as_bytes(), "{line}");
                documents += 1;
            }
        }
        assert!(documents > 1000, "{documents}");
    }
}
