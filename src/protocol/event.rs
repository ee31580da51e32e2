//! Report events as typed values, and the per-version payload layouts as one table.
//!
//! Every payload field borrows from the input line; nothing here allocates.
//! Free-text fields keep every `|` they contain: the layout table names which
//! field takes "the rest", and the fields on either side of it are split off
//! from the left and from the right.

use super::version::Version;
use super::ParseError;

/// The 19 report events every released protocol version has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum EventKind {
    LinkConnect,
    LinkGreeting,
    LinkIdentify,
    LinkTls,
    LinkAuth,
    LinkDisconnect,
    TxReset,
    TxBegin,
    TxMail,
    TxRcpt,
    TxEnvelope,
    TxData,
    TxCommit,
    TxRollback,
    ProtocolClient,
    ProtocolServer,
    FilterReport,
    FilterResponse,
    Timeout,
}

impl EventKind {
    /// Every event, in smtpd's `smtp_events[]` order.
    pub const ALL: [EventKind; 19] = [
        EventKind::LinkConnect,
        EventKind::LinkDisconnect,
        EventKind::LinkGreeting,
        EventKind::LinkIdentify,
        EventKind::LinkTls,
        EventKind::LinkAuth,
        EventKind::TxReset,
        EventKind::TxBegin,
        EventKind::TxMail,
        EventKind::TxRcpt,
        EventKind::TxEnvelope,
        EventKind::TxData,
        EventKind::TxCommit,
        EventKind::TxRollback,
        EventKind::ProtocolClient,
        EventKind::ProtocolServer,
        EventKind::FilterReport,
        EventKind::FilterResponse,
        EventKind::Timeout,
    ];

    /// smtpd's name for the event.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::LinkConnect => "link-connect",
            EventKind::LinkGreeting => "link-greeting",
            EventKind::LinkIdentify => "link-identify",
            EventKind::LinkTls => "link-tls",
            EventKind::LinkAuth => "link-auth",
            EventKind::LinkDisconnect => "link-disconnect",
            EventKind::TxReset => "tx-reset",
            EventKind::TxBegin => "tx-begin",
            EventKind::TxMail => "tx-mail",
            EventKind::TxRcpt => "tx-rcpt",
            EventKind::TxEnvelope => "tx-envelope",
            EventKind::TxData => "tx-data",
            EventKind::TxCommit => "tx-commit",
            EventKind::TxRollback => "tx-rollback",
            EventKind::ProtocolClient => "protocol-client",
            EventKind::ProtocolServer => "protocol-server",
            EventKind::FilterReport => "filter-report",
            EventKind::FilterResponse => "filter-response",
            EventKind::Timeout => "timeout",
        }
    }

    /// The event named `name`, if smtpd has one by that name.
    pub fn from_name(name: &[u8]) -> Option<EventKind> {
        // One match rather than a search of ALL: this runs for every line.
        Some(match name {
            b"link-connect" => EventKind::LinkConnect,
            b"link-greeting" => EventKind::LinkGreeting,
            b"link-identify" => EventKind::LinkIdentify,
            b"link-tls" => EventKind::LinkTls,
            b"link-auth" => EventKind::LinkAuth,
            b"link-disconnect" => EventKind::LinkDisconnect,
            b"tx-reset" => EventKind::TxReset,
            b"tx-begin" => EventKind::TxBegin,
            b"tx-mail" => EventKind::TxMail,
            b"tx-rcpt" => EventKind::TxRcpt,
            b"tx-envelope" => EventKind::TxEnvelope,
            b"tx-data" => EventKind::TxData,
            b"tx-commit" => EventKind::TxCommit,
            b"tx-rollback" => EventKind::TxRollback,
            b"protocol-client" => EventKind::ProtocolClient,
            b"protocol-server" => EventKind::ProtocolServer,
            b"filter-report" => EventKind::FilterReport,
            b"filter-response" => EventKind::FilterResponse,
            b"timeout" => EventKind::Timeout,
            _ => return None,
        })
    }
}

/// Forward-confirmed reverse DNS, as smtpd's lookup reported it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Fcrdns {
    Pass,
    Fail,
    Error,
}

/// `ok`, `permfail` or `tempfail`: the result of MAIL, RCPT or DATA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum TxResult {
    Ok,
    PermFail,
    TempFail,
}

/// `pass`, `fail` or `error`: the result of AUTH.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum AuthResult {
    Pass,
    Fail,
    Error,
}

/// HELO, EHLO, or (smtp-out to an LMTP server) LHLO.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum HeloMethod {
    Helo,
    Ehlo,
    Lhlo,
}

/// Who produced a filter-report line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum FilterKind {
    Builtin,
    Proc,
}

macro_rules! closed_set {
    ($ty:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            /// smtpd's spelling of the value.
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }
            fn parse(text: &[u8]) -> Result<$ty, ParseError> {
                match text {
                    $(t if t == $text.as_bytes() => Ok($ty::$variant),)+
                    _ => Err(ParseError::Value),
                }
            }
        }
    };
}

closed_set!(Fcrdns { Pass => "pass", Fail => "fail", Error => "error" });
closed_set!(TxResult { Ok => "ok", PermFail => "permfail", TempFail => "tempfail" });
closed_set!(AuthResult { Pass => "pass", Fail => "fail", Error => "error" });
closed_set!(HeloMethod { Helo => "HELO", Ehlo => "EHLO", Lhlo => "LHLO" });
closed_set!(FilterKind { Builtin => "builtin", Proc => "proc" });

/// A filter decision as reported by `filter-response`. smtpd's set is
/// `proceed`, `junk`, `rewrite`, `reject`, `disconnect`, `report` (7.6+); the
/// free text of a decision (its param) is kept apart.
pub type Decision<'a> = &'a [u8];

/// One report event with its payload, borrowed from the line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Event<'a> {
    LinkConnect {
        rdns: &'a [u8],
        fcrdns: Fcrdns,
        src: &'a [u8],
        dest: &'a [u8],
    },
    LinkGreeting {
        hostname: &'a [u8],
    },
    LinkIdentify {
        method: HeloMethod,
        identity: &'a [u8],
    },
    LinkTls {
        tls: &'a [u8],
    },
    LinkAuth {
        username: &'a [u8],
        result: AuthResult,
    },
    LinkDisconnect,
    TxReset {
        msgid: u32,
    },
    TxBegin {
        msgid: u32,
    },
    TxMail {
        msgid: u32,
        address: &'a [u8],
        result: TxResult,
    },
    TxRcpt {
        msgid: u32,
        address: &'a [u8],
        result: TxResult,
    },
    TxEnvelope {
        msgid: u32,
        evpid: u64,
    },
    TxData {
        msgid: u32,
        result: TxResult,
    },
    TxCommit {
        msgid: u32,
        size: u64,
    },
    TxRollback {
        msgid: u32,
    },
    ProtocolClient {
        command: &'a [u8],
    },
    ProtocolServer {
        response: &'a [u8],
    },
    FilterReport {
        kind: FilterKind,
        name: &'a [u8],
        message: &'a [u8],
    },
    FilterResponse {
        phase: &'a [u8],
        decision: Decision<'a>,
        param: Option<&'a [u8]>,
    },
    Timeout,
    /// An event name this filter does not know (a newer smtpd): kept, not dropped.
    Unknown {
        name: &'a [u8],
        payload: Option<&'a [u8]>,
    },
}

impl<'a> Event<'a> {
    /// The event's name as smtpd sent it.
    pub fn name(&self) -> &'a [u8] {
        match self {
            Event::Unknown { name, .. } => name,
            known => known.kind().map_or(&b""[..], |k| k.name().as_bytes()),
        }
    }

    /// The kind of a known event; `None` for [`Event::Unknown`].
    pub fn kind(&self) -> Option<EventKind> {
        Some(match self {
            Event::LinkConnect { .. } => EventKind::LinkConnect,
            Event::LinkGreeting { .. } => EventKind::LinkGreeting,
            Event::LinkIdentify { .. } => EventKind::LinkIdentify,
            Event::LinkTls { .. } => EventKind::LinkTls,
            Event::LinkAuth { .. } => EventKind::LinkAuth,
            Event::LinkDisconnect => EventKind::LinkDisconnect,
            Event::TxReset { .. } => EventKind::TxReset,
            Event::TxBegin { .. } => EventKind::TxBegin,
            Event::TxMail { .. } => EventKind::TxMail,
            Event::TxRcpt { .. } => EventKind::TxRcpt,
            Event::TxEnvelope { .. } => EventKind::TxEnvelope,
            Event::TxData { .. } => EventKind::TxData,
            Event::TxCommit { .. } => EventKind::TxCommit,
            Event::TxRollback { .. } => EventKind::TxRollback,
            Event::ProtocolClient { .. } => EventKind::ProtocolClient,
            Event::ProtocolServer { .. } => EventKind::ProtocolServer,
            Event::FilterReport { .. } => EventKind::FilterReport,
            Event::FilterResponse { .. } => EventKind::FilterResponse,
            Event::Timeout => EventKind::Timeout,
            Event::Unknown { .. } => return None,
        })
    }
}

/// One field of a payload layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Rdns,
    Fcrdns,
    Src,
    Dest,
    Text,
    Method,
    Username,
    AuthResult,
    Msgid,
    Address,
    TxResult,
    Evpid,
    Size,
    Kind,
    Name,
    Phase,
    Decision,
}

/// How a payload splits: its fields in order, and which one takes the rest
/// (and so may contain `|`). `rest == fields.len()` never happens.
struct Layout {
    fields: &'static [Slot],
    rest: usize,
}

const fn layout(fields: &'static [Slot], rest: usize) -> Layout {
    Layout { fields, rest }
}

use Slot::*;

/// Payload layouts per event, each valid from `since` until the next entry of
/// the same event. Versions older than the first entry use the first entry;
/// versions newer than every entry use the last (the newest layout we know).
/// Source: smtpd's format strings, protocol.md §5 and §8.2.
const LAYOUTS: &[(EventKind, Version, Layout)] = &[
    (
        EventKind::LinkConnect,
        Version::V0_4,
        layout(&[Rdns, Fcrdns, Src, Dest], 0),
    ),
    (EventKind::LinkGreeting, Version::V0_4, layout(&[Text], 0)),
    (
        EventKind::LinkIdentify,
        Version::V0_4,
        layout(&[Method, Text], 1),
    ),
    (EventKind::LinkTls, Version::V0_4, layout(&[Text], 0)),
    (
        EventKind::LinkAuth,
        Version::V0_4,
        layout(&[Username, AuthResult], 0),
    ),
    (
        EventKind::LinkAuth,
        Version::V0_7,
        layout(&[AuthResult, Username], 1),
    ),
    (EventKind::TxReset, Version::V0_4, layout(&[Msgid], 0)),
    (EventKind::TxBegin, Version::V0_4, layout(&[Msgid], 0)),
    (
        EventKind::TxMail,
        Version::V0_4,
        layout(&[Msgid, Address, TxResult], 1),
    ),
    (
        EventKind::TxMail,
        Version::V0_6,
        layout(&[Msgid, TxResult, Address], 2),
    ),
    (
        EventKind::TxRcpt,
        Version::V0_4,
        layout(&[Msgid, Address, TxResult], 1),
    ),
    (
        EventKind::TxRcpt,
        Version::V0_6,
        layout(&[Msgid, TxResult, Address], 2),
    ),
    (
        EventKind::TxEnvelope,
        Version::V0_4,
        layout(&[Msgid, Evpid], 1),
    ),
    (
        EventKind::TxData,
        Version::V0_4,
        layout(&[Msgid, TxResult], 1),
    ),
    (
        EventKind::TxCommit,
        Version::V0_4,
        layout(&[Msgid, Size], 1),
    ),
    (EventKind::TxRollback, Version::V0_4, layout(&[Msgid], 0)),
    (EventKind::ProtocolClient, Version::V0_4, layout(&[Text], 0)),
    (EventKind::ProtocolServer, Version::V0_4, layout(&[Text], 0)),
    (
        EventKind::FilterReport,
        Version::V0_4,
        layout(&[Kind, Name, Text], 2),
    ),
    (
        EventKind::FilterResponse,
        Version::V0_4,
        layout(&[Phase, Decision], 1),
    ),
];

fn layout_for(kind: EventKind, version: Version) -> Option<&'static Layout> {
    let mut found = None;
    for (k, since, layout) in LAYOUTS {
        if *k == kind && (found.is_none() || *since <= version) {
            found = Some(layout);
        }
    }
    found
}

/// Up to four payload fields, split per a [`Layout`].
fn split<'a>(payload: &'a [u8], layout: &Layout) -> Result<[&'a [u8]; 4], ParseError> {
    let mut out: [&[u8]; 4] = [b""; 4];
    let n = layout.fields.len();
    let mut rest = payload;
    // Fields before the free-text one, from the left.
    for slot in out.iter_mut().take(layout.rest) {
        let bar = rest
            .iter()
            .position(|&b| b == b'|')
            .ok_or(ParseError::MissingField)?;
        *slot = rest.get(..bar).ok_or(ParseError::MissingField)?;
        rest = rest.get(bar + 1..).ok_or(ParseError::MissingField)?;
    }
    // Fields after it, from the right.
    for i in (layout.rest + 1..n).rev() {
        let bar = rest
            .iter()
            .rposition(|&b| b == b'|')
            .ok_or(ParseError::MissingField)?;
        let field = rest.get(bar + 1..).ok_or(ParseError::MissingField)?;
        if let Some(slot) = out.get_mut(i) {
            *slot = field;
        }
        rest = rest.get(..bar).ok_or(ParseError::MissingField)?;
    }
    if let Some(slot) = out.get_mut(layout.rest) {
        *slot = rest;
    }
    Ok(out)
}

/// Parses `digits` as exactly `width` hex digits at most (1..=width).
fn hex(digits: &[u8], width: usize) -> Result<u64, ParseError> {
    if digits.is_empty() || digits.len() > width {
        return Err(ParseError::Number);
    }
    digits.iter().try_fold(0u64, |n, &d| {
        let v = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            b'A'..=b'F' => d - b'A' + 10,
            _ => return Err(ParseError::Number),
        };
        Ok((n << 4) | u64::from(v))
    })
}

/// A msgid: `%08x`.
pub(crate) fn msgid(digits: &[u8]) -> Result<u32, ParseError> {
    u32::try_from(hex(digits, 8)?).map_err(|_| ParseError::Number)
}

/// A session or envelope id: `%016` PRIx64.
pub(crate) fn id64(digits: &[u8]) -> Result<u64, ParseError> {
    hex(digits, 16)
}

fn decimal(digits: &[u8]) -> Result<u64, ParseError> {
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(ParseError::Number);
    }
    Ok(digits
        .iter()
        .fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

/// Builds the event named `name` from its payload (`None`: the line had only
/// six fields), using the layout of `version`.
pub(crate) fn parse_event<'a>(
    name: &'a [u8],
    payload: Option<&'a [u8]>,
    version: Version,
) -> Result<Event<'a>, ParseError> {
    let Some(kind) = EventKind::from_name(name) else {
        return Ok(Event::Unknown { name, payload });
    };
    // link-disconnect and timeout carry no payload; one is tolerated and ignored.
    match kind {
        EventKind::LinkDisconnect => return Ok(Event::LinkDisconnect),
        EventKind::Timeout => return Ok(Event::Timeout),
        _ => {}
    }
    let payload = payload.ok_or(ParseError::MissingField)?;
    let layout = layout_for(kind, version).ok_or(ParseError::MissingField)?;
    let raw = split(payload, layout)?;
    let mut f = Fields::default();
    for (slot, value) in layout.fields.iter().zip(raw) {
        f.set(*slot, value)?;
    }
    Ok(match kind {
        EventKind::LinkConnect => Event::LinkConnect {
            rdns: f.rdns,
            fcrdns: f.fcrdns.ok_or(ParseError::MissingField)?,
            src: f.src,
            dest: f.dest,
        },
        EventKind::LinkGreeting => Event::LinkGreeting { hostname: f.text },
        EventKind::LinkIdentify => Event::LinkIdentify {
            method: f.method.ok_or(ParseError::MissingField)?,
            identity: f.text,
        },
        EventKind::LinkTls => Event::LinkTls { tls: f.text },
        EventKind::LinkAuth => Event::LinkAuth {
            username: f.username,
            result: f.auth.ok_or(ParseError::MissingField)?,
        },
        EventKind::TxReset => Event::TxReset { msgid: f.msgid()? },
        EventKind::TxBegin => Event::TxBegin { msgid: f.msgid()? },
        EventKind::TxMail => Event::TxMail {
            msgid: f.msgid()?,
            address: f.address,
            result: f.tx.ok_or(ParseError::MissingField)?,
        },
        EventKind::TxRcpt => Event::TxRcpt {
            msgid: f.msgid()?,
            address: f.address,
            result: f.tx.ok_or(ParseError::MissingField)?,
        },
        EventKind::TxEnvelope => Event::TxEnvelope {
            msgid: f.msgid()?,
            evpid: f.evpid.ok_or(ParseError::MissingField)?,
        },
        EventKind::TxData => Event::TxData {
            msgid: f.msgid()?,
            result: f.tx.ok_or(ParseError::MissingField)?,
        },
        EventKind::TxCommit => Event::TxCommit {
            msgid: f.msgid()?,
            size: f.size.ok_or(ParseError::MissingField)?,
        },
        EventKind::TxRollback => Event::TxRollback { msgid: f.msgid()? },
        EventKind::ProtocolClient => Event::ProtocolClient { command: f.text },
        EventKind::ProtocolServer => Event::ProtocolServer { response: f.text },
        EventKind::FilterReport => Event::FilterReport {
            kind: f.kind.ok_or(ParseError::MissingField)?,
            name: f.name,
            message: f.text,
        },
        EventKind::FilterResponse => {
            // `phase|decision[|param]`: only some decisions carry a param, and
            // the param is free text.
            let (decision, param) = match f.decision.iter().position(|&b| b == b'|') {
                Some(bar) => (
                    f.decision.get(..bar).unwrap_or_default(),
                    f.decision.get(bar + 1..),
                ),
                None => (f.decision, None),
            };
            Event::FilterResponse {
                phase: f.phase,
                decision,
                param,
            }
        }
        EventKind::LinkDisconnect => Event::LinkDisconnect,
        EventKind::Timeout => Event::Timeout,
    })
}

#[derive(Default)]
struct Fields<'a> {
    rdns: &'a [u8],
    fcrdns: Option<Fcrdns>,
    src: &'a [u8],
    dest: &'a [u8],
    text: &'a [u8],
    method: Option<HeloMethod>,
    username: &'a [u8],
    auth: Option<AuthResult>,
    msgid: Option<u32>,
    address: &'a [u8],
    tx: Option<TxResult>,
    evpid: Option<u64>,
    size: Option<u64>,
    kind: Option<FilterKind>,
    name: &'a [u8],
    phase: &'a [u8],
    decision: &'a [u8],
}

impl<'a> Fields<'a> {
    fn set(&mut self, slot: Slot, v: &'a [u8]) -> Result<(), ParseError> {
        match slot {
            Rdns => self.rdns = v,
            Slot::Fcrdns => self.fcrdns = Some(Fcrdns::parse(v)?),
            Src => self.src = v,
            Dest => self.dest = v,
            Text => self.text = v,
            Method => self.method = Some(HeloMethod::parse(v)?),
            Username => self.username = v,
            Slot::AuthResult => self.auth = Some(AuthResult::parse(v)?),
            Msgid => self.msgid = Some(msgid(v)?),
            Address => self.address = v,
            Slot::TxResult => self.tx = Some(TxResult::parse(v)?),
            Evpid => self.evpid = Some(id64(v)?),
            Size => self.size = Some(decimal(v)?),
            Kind => self.kind = Some(FilterKind::parse(v)?),
            Name => self.name = v,
            Phase => self.phase = v,
            Slot::Decision => self.decision = v,
        }
        Ok(())
    }

    fn msgid(&self) -> Result<u32, ParseError> {
        self.msgid.ok_or(ParseError::MissingField)
    }
}
