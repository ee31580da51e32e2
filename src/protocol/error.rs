//! Why a line could not be used. Cheap to build and to count by kind.

use std::fmt;

/// A line that is not a usable protocol line. Never fatal: counted, warned, skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ParseError {
    /// An empty line.
    Empty,
    /// Neither `report|` nor `config|` (smtpd sends nothing else to a report filter).
    UnknownLineType,
    /// A `report|` line with fewer than six header fields.
    ShortHeader,
    /// Field 2 is not `MAJOR.MINOR`.
    Version,
    /// Field 3 is not `SECONDS.FRACTION`.
    Timestamp,
    /// Field 4 is neither `smtp-in` nor `smtp-out`.
    Subsystem,
    /// Field 6 is not 1 to 16 hex digits.
    SessionId,
    /// The event's payload has fewer fields than its layout needs.
    MissingField,
    /// A msgid, envelope id or size that is not a number of the right shape.
    Number,
    /// A value outside a closed set (fcrdns, result, method…).
    Value,
}

impl ParseError {
    /// A stable snake_case code, used in warnings and counters.
    pub fn code(self) -> &'static str {
        match self {
            ParseError::Empty => "empty_line",
            ParseError::UnknownLineType => "unknown_line_type",
            ParseError::ShortHeader => "short_header",
            ParseError::Version => "bad_version",
            ParseError::Timestamp => "bad_timestamp",
            ParseError::Subsystem => "bad_subsystem",
            ParseError::SessionId => "bad_session_id",
            ParseError::MissingField => "missing_field",
            ParseError::Number => "bad_number",
            ParseError::Value => "bad_value",
        }
    }

    /// Every error, for counters that list all codes.
    pub const ALL: [ParseError; 10] = [
        ParseError::Empty,
        ParseError::UnknownLineType,
        ParseError::ShortHeader,
        ParseError::Version,
        ParseError::Timestamp,
        ParseError::Subsystem,
        ParseError::SessionId,
        ParseError::MissingField,
        ParseError::Number,
        ParseError::Value,
    ];
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl std::error::Error for ParseError {}
