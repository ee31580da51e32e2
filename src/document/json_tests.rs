//! The JSON writer against its promises, and against serde_json.

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
