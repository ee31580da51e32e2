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
pub fn push_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
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
#[path = "json_tests.rs"]
mod tests;
