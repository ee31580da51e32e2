//! Bounded copies of input bytes: state never holds more than a cap per field.

/// Bytes kept from the input, at most a fixed number of them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Text {
    bytes: Box<[u8]>,
    cut: bool,
}

impl Text {
    /// Copies at most `cap` bytes of `bytes`.
    pub fn new(bytes: &[u8], cap: usize) -> Text {
        let keep = bytes.get(..cap).unwrap_or(bytes);
        Text {
            bytes: keep.into(),
            cut: keep.len() < bytes.len(),
        }
    }

    /// A text that is known to be short (our own constants).
    pub fn from_static(text: &str) -> Text {
        Text {
            bytes: text.as_bytes().into(),
            cut: false,
        }
    }

    /// The bytes kept.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// True when the input was longer than the cap and was cut.
    pub fn was_cut(&self) -> bool {
        self.cut
    }
}

/// Caps per kind of field. smtpd's own limits are lower for most of them
/// (addresses 255, commands 2047, replies 4095); these only bound hostile or
/// broken input.
pub mod caps {
    /// Host names (rDNS, HELO, greeting).
    pub const HOST: usize = 255;
    /// Mail addresses and user names.
    pub const ADDRESS: usize = 320;
    /// Protocol lines, filter messages and everything else free-form.
    pub const LINE: usize = 1024;
    /// Short tokens: filter phase and decision, TLS version, cipher, unknown event names.
    pub const TOKEN: usize = 64;
    /// Recipients kept per transaction (smtpd's default `max-rcpt` is 1000);
    /// counts stay exact beyond it.
    pub const RCPTS: usize = 1000;
    /// Envelope ids kept per recipient (alias expansion can make several).
    pub const ENVELOPES: usize = 4;
}
