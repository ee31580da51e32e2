//! Report events as typed values, and the per-version payload layouts as one table.
//!
//! Every payload field borrows from the input line; nothing here allocates.
//! Free-text fields keep every `|` they contain: the layout table names which
//! field takes "the rest", and the fields on either side of it are split off
//! from the left and from the right.

use super::version::Version;
use super::ParseError;

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

/// Which part of smtpd an event comes from: its name's first word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    /// `link-*`: the connection and its facts.
    Link,
    /// `tx-*`: the transaction.
    Tx,
    /// `protocol-*`: SMTP lines.
    Protocol,
    /// `filter-*`: filter verdicts and reports.
    Filter,
    /// `timeout`.
    Timeout,
}

/// The event list, written once. From one entry per event this makes the
/// kind, its name and group, the typed [`Event`] variant with its fields,
/// the payload layouts per version, and the code that fills the variant.
/// An entry is `Kind "name" Group { field: Type = accessor, … }
/// [Since => (Slot, …) rest N; …]`: a layout is valid from `Since` until
/// the next one of the same event (older versions use the first, newer ones
/// the last), and slot `N` takes the rest of the payload (so it may hold `|`).
macro_rules! events {
    ($(
        $kind:ident $name:literal $group:ident
        { $($field:ident : $ty:ty = $get:ident),* $(,)? }
        [ $($since:ident => ($($slot:ident),*) rest $rest:literal);* $(;)? ]
    ),+ $(,)?) => {
        /// The report events smtpd sends.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[allow(missing_docs)]
        pub enum EventKind { $($kind),+ }

        impl EventKind {
            /// Every event, in the order of the table.
            pub const ALL: &'static [EventKind] = &[$(EventKind::$kind),+];

            /// smtpd's name for the event.
            pub fn name(self) -> &'static str {
                match self { $(EventKind::$kind => $name),+ }
            }

            /// The event named `name`, if smtpd has one by that name.
            pub fn from_name(name: &[u8]) -> Option<EventKind> {
                $(if name == $name.as_bytes() { return Some(EventKind::$kind); })+
                None
            }

            /// The part of smtpd the event comes from.
            pub fn group(self) -> Group {
                match self { $(EventKind::$kind => Group::$group),+ }
            }
        }

        /// One report event with its payload, borrowed from the line.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[allow(missing_docs)]
        pub enum Event<'a> {
            $($kind { $($field: $ty),* },)+
            /// An event name this filter does not know (a newer smtpd): kept, not dropped.
            Unknown {
                name: &'a [u8],
                payload: Option<&'a [u8]>,
            },
        }

        impl Event<'_> {
            /// The kind of a known event; `None` for [`Event::Unknown`].
            pub fn kind(&self) -> Option<EventKind> {
                match self {
                    $(Event::$kind { .. } => Some(EventKind::$kind),)+
                    Event::Unknown { .. } => None,
                }
            }
        }

        const LAYOUTS: &[(EventKind, Version, Layout)] = &[
            $($((EventKind::$kind, Version::$since, layout(&[$(Slot::$slot),*], $rest)),)*)+
        ];

        fn build<'a>(kind: EventKind, f: &Fields<'a>) -> Result<Event<'a>, ParseError> {
            Ok(match kind {
                $(EventKind::$kind => Event::$kind { $($field: f.$get()?),* },)+
            })
        }
    };
}

// Source: smtpd's format strings (report_smtp.c, lka_filter.c) and
// protocol.md §5 and §8.2, in the order of smtpd's `smtp_events[]`.
events! {
    LinkConnect "link-connect" Link {
        rdns: &'a [u8] = rdns, fcrdns: Fcrdns = fcrdns, src: &'a [u8] = src, dest: &'a [u8] = dest,
    } [V0_4 => (Rdns, Fcrdns, Src, Dest) rest 0],
    LinkDisconnect "link-disconnect" Link {} [],
    LinkGreeting "link-greeting" Link { hostname: &'a [u8] = text } [V0_4 => (Text) rest 0],
    LinkIdentify "link-identify" Link {
        method: HeloMethod = method, identity: &'a [u8] = text,
    } [V0_4 => (Method, Text) rest 1],
    LinkTls "link-tls" Link { tls: &'a [u8] = text } [V0_4 => (Text) rest 0],
    LinkAuth "link-auth" Link {
        username: &'a [u8] = username, result: AuthResult = auth_result,
    } [V0_4 => (Username, AuthResult) rest 0; V0_7 => (AuthResult, Username) rest 1],
    TxReset "tx-reset" Tx { msgid: u32 = msgid } [V0_4 => (Msgid) rest 0],
    TxBegin "tx-begin" Tx { msgid: u32 = msgid } [V0_4 => (Msgid) rest 0],
    TxMail "tx-mail" Tx {
        msgid: u32 = msgid, address: &'a [u8] = address, result: TxResult = tx_result,
    } [V0_4 => (Msgid, Address, TxResult) rest 1; V0_6 => (Msgid, TxResult, Address) rest 2],
    TxRcpt "tx-rcpt" Tx {
        msgid: u32 = msgid, address: &'a [u8] = address, result: TxResult = tx_result,
    } [V0_4 => (Msgid, Address, TxResult) rest 1; V0_6 => (Msgid, TxResult, Address) rest 2],
    TxEnvelope "tx-envelope" Tx {
        msgid: u32 = msgid, evpid: u64 = evpid,
    } [V0_4 => (Msgid, Evpid) rest 1],
    TxData "tx-data" Tx {
        msgid: u32 = msgid, result: TxResult = tx_result,
    } [V0_4 => (Msgid, TxResult) rest 1],
    TxCommit "tx-commit" Tx { msgid: u32 = msgid, size: u64 = size } [V0_4 => (Msgid, Size) rest 1],
    TxRollback "tx-rollback" Tx { msgid: u32 = msgid } [V0_4 => (Msgid) rest 0],
    ProtocolClient "protocol-client" Protocol { command: &'a [u8] = text } [V0_4 => (Text) rest 0],
    ProtocolServer "protocol-server" Protocol { response: &'a [u8] = text } [V0_4 => (Text) rest 0],
    FilterReport "filter-report" Filter {
        kind: FilterKind = filter_kind, name: &'a [u8] = name, message: &'a [u8] = text,
    } [V0_4 => (Kind, Name, Text) rest 2],
    // smtpd's decisions: proceed, junk, rewrite, reject, disconnect, report
    // (7.6+); the param is the decision's free text.
    FilterResponse "filter-response" Filter {
        phase: &'a [u8] = phase, decision: &'a [u8] = decision, param: Option<&'a [u8]> = param,
    } [V0_4 => (Phase, Decision) rest 1],
    Timeout "timeout" Timeout {} [],
}

impl<'a> Event<'a> {
    /// The event's name as smtpd sent it.
    pub fn name(&self) -> &'a [u8] {
        match self {
            Event::Unknown { name, .. } => name,
            known => known.kind().map_or(&b""[..], |k| k.name().as_bytes()),
        }
    }
}

impl EventKind {
    /// A `link-*` event: the connection's facts may change.
    pub fn is_link(self) -> bool {
        self.group() == Group::Link
    }

    /// A `tx-*` event: the transaction may change.
    pub fn is_tx(self) -> bool {
        self.group() == Group::Tx
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
    let Some(layout) = layout_for(kind, version) else {
        // No payload (link-disconnect, timeout): one is tolerated and ignored.
        return build(kind, &Fields::default());
    };
    let payload = payload.ok_or(ParseError::MissingField)?;
    let raw = split(payload, layout)?;
    let mut f = Fields::default();
    for (slot, value) in layout.fields.iter().zip(raw) {
        f.set(*slot, value)?;
    }
    build(kind, &f)
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
            Slot::Rdns => self.rdns = v,
            Slot::Fcrdns => self.fcrdns = Some(Fcrdns::parse(v)?),
            Slot::Src => self.src = v,
            Slot::Dest => self.dest = v,
            Slot::Text => self.text = v,
            Slot::Method => self.method = Some(HeloMethod::parse(v)?),
            Slot::Username => self.username = v,
            Slot::AuthResult => self.auth = Some(AuthResult::parse(v)?),
            Slot::Msgid => self.msgid = Some(msgid(v)?),
            Slot::Address => self.address = v,
            Slot::TxResult => self.tx = Some(TxResult::parse(v)?),
            Slot::Evpid => self.evpid = Some(id64(v)?),
            Slot::Size => self.size = Some(decimal(v)?),
            Slot::Kind => self.kind = Some(FilterKind::parse(v)?),
            Slot::Name => self.name = v,
            Slot::Phase => self.phase = v,
            Slot::Decision => self.decision = v,
        }
        Ok(())
    }

    // Accessors named in the event table: a typed field that the layout
    // did not fill is missing; a text field may be empty.
    fn rdns(&self) -> Result<&'a [u8], ParseError> {
        Ok(self.rdns)
    }
    fn fcrdns(&self) -> Result<Fcrdns, ParseError> {
        self.fcrdns.ok_or(ParseError::MissingField)
    }
    fn src(&self) -> Result<&'a [u8], ParseError> {
        Ok(self.src)
    }
    fn dest(&self) -> Result<&'a [u8], ParseError> {
        Ok(self.dest)
    }
    fn text(&self) -> Result<&'a [u8], ParseError> {
        Ok(self.text)
    }
    fn method(&self) -> Result<HeloMethod, ParseError> {
        self.method.ok_or(ParseError::MissingField)
    }
    fn username(&self) -> Result<&'a [u8], ParseError> {
        Ok(self.username)
    }
    fn auth_result(&self) -> Result<AuthResult, ParseError> {
        self.auth.ok_or(ParseError::MissingField)
    }
    fn msgid(&self) -> Result<u32, ParseError> {
        self.msgid.ok_or(ParseError::MissingField)
    }
    fn address(&self) -> Result<&'a [u8], ParseError> {
        Ok(self.address)
    }
    fn tx_result(&self) -> Result<TxResult, ParseError> {
        self.tx.ok_or(ParseError::MissingField)
    }
    fn evpid(&self) -> Result<u64, ParseError> {
        self.evpid.ok_or(ParseError::MissingField)
    }
    fn size(&self) -> Result<u64, ParseError> {
        self.size.ok_or(ParseError::MissingField)
    }
    fn filter_kind(&self) -> Result<FilterKind, ParseError> {
        self.kind.ok_or(ParseError::MissingField)
    }
    fn name(&self) -> Result<&'a [u8], ParseError> {
        Ok(self.name)
    }
    fn phase(&self) -> Result<&'a [u8], ParseError> {
        Ok(self.phase)
    }
    fn decision(&self) -> Result<&'a [u8], ParseError> {
        Ok(self.decision_and_param().0)
    }
    fn param(&self) -> Result<Option<&'a [u8]>, ParseError> {
        Ok(self.decision_and_param().1)
    }
    /// `decision[|param]`: only some decisions carry a param, and the param
    /// is free text.
    fn decision_and_param(&self) -> (&'a [u8], Option<&'a [u8]>) {
        match self.decision.iter().position(|&b| b == b'|') {
            Some(bar) => (
                self.decision.get(..bar).unwrap_or_default(),
                self.decision.get(bar + 1..),
            ),
            None => (self.decision, None),
        }
    }
}
