//! One filter-jsonlog document read back: the fields the report counts,
//! borrowed from the line where the JSON has no escapes.
//!
//! The visitors are written by hand (not derived) for two reasons: a field
//! this version does not know must be counted, not silently ignored; and
//! once `event.action` says the document only repeats session state, the
//! rest is skipped without building anything (serde_json still checks its
//! syntax, so a truncated document is noticed).

use serde::de::{
    DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;

/// A JSON string, borrowed when it has no escapes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Str<'a>(pub Cow<'a, str>);

impl Str<'_> {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Str<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Str<'a>, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Str<'a>, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Str<'a>, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

/// One RCPT TO of a transaction.
#[derive(Clone, Debug, Default)]
pub struct Rcpt<'a> {
    /// The address as the client sent it.
    pub address: Option<Str<'a>>,
    /// ok, permfail or tempfail.
    pub result: Option<Str<'a>>,
    /// The envelopes the queue made for it (tx-envelope).
    pub envelope_ids: Vec<Str<'a>>,
}

/// `opensmtpd.transaction`.
#[derive(Clone, Debug, Default)]
pub struct Tx<'a> {
    /// smtpd's msgid.
    pub msgid: Option<Str<'a>>,
    /// open, committed or rolledback.
    pub status: Option<Str<'a>>,
    /// The accepted MAIL FROM.
    pub mail: Option<Str<'a>>,
    /// Every RCPT TO kept in the document (may be shortened).
    pub rcpt: Vec<Rcpt<'a>>,
    /// Exact counts.
    pub rcpt_accepted: u64,
    /// Exact counts.
    pub rcpt_refused: u64,
    /// tx-commit's size.
    pub size: u64,
}

/// The parts of a document the report uses.
#[derive(Debug, Default)]
pub struct Doc<'a> {
    /// `@timestamp`.
    pub timestamp: Option<Str<'a>>,
    /// `event.action`.
    pub action: Option<Str<'a>>,
    /// `event.kind`.
    pub kind: Option<Str<'a>>,
    /// `event.dataset`.
    pub dataset: Option<Str<'a>>,
    /// `event.sequence`.
    pub sequence: Option<u64>,
    /// `source.ip`.
    pub source_ip: Option<Str<'a>>,
    /// `source.domain`.
    pub source_domain: Option<Str<'a>>,
    /// `destination.ip`.
    pub destination_ip: Option<Str<'a>>,
    /// `destination.domain`.
    pub destination_domain: Option<Str<'a>>,
    /// `tls.established`.
    pub tls: bool,
    /// `tls.version`.
    pub tls_version: Option<Str<'a>>,
    /// `user.name`.
    pub user: Option<Str<'a>>,
    /// `opensmtpd.subsystem`.
    pub subsystem: Option<Str<'a>>,
    /// `opensmtpd.session.id`.
    pub session: Option<Str<'a>>,
    /// `opensmtpd.session.final`.
    pub is_final: bool,
    /// `opensmtpd.protocol.unknown_version`.
    pub unknown_version: bool,
    /// `opensmtpd.fcrdns`.
    pub fcrdns: Option<Str<'a>>,
    /// `opensmtpd.auth.result`.
    pub auth: Option<Str<'a>>,
    /// `opensmtpd.auth.user`: the user of the last AUTH attempt, failed
    /// ones included.
    pub auth_user: Option<Str<'a>>,
    /// `opensmtpd.response`.
    pub response: Option<Str<'a>>,
    /// `opensmtpd.filter.response.{phase,decision,param}`.
    pub filter_phase: Option<Str<'a>>,
    /// See `filter_phase`.
    pub filter_decision: Option<Str<'a>>,
    /// See `filter_phase`.
    pub filter_param: Option<Str<'a>>,
    /// `opensmtpd.timeout`.
    pub timeout: bool,
    /// `opensmtpd.counters.messages`.
    pub messages: u64,
    /// `opensmtpd.counters.connects`.
    pub connects: u64,
    /// `opensmtpd.counters.filter_verdicts`.
    pub filter_verdicts: u64,
    /// `opensmtpd.counters.recipients_accepted`.
    pub recipients_accepted: u64,
    /// `opensmtpd.counters.recipients_refused`.
    pub recipients_refused: u64,
    /// `opensmtpd.counters.auth_failures`.
    pub auth_failures: u64,
    /// `opensmtpd.counters.replies_4xx`.
    pub replies_4xx: u64,
    /// `opensmtpd.counters.replies_5xx`.
    pub replies_5xx: u64,
    /// `opensmtpd.transaction`.
    pub tx: Option<Tx<'a>>,
    /// `opensmtpd.rcpt.result` (tx-rcpt documents).
    pub rcpt_result: Option<Str<'a>>,
    /// `opensmtpd.truncated`.
    pub truncated: bool,
    /// `opensmtpd.jsonlog.dropped_since_last`.
    pub dropped_since_last: u64,
    /// Fields this version does not know (count, and the first name).
    pub unknown_fields: u32,
    /// The first unknown field, `parent.name`.
    pub unknown_field: Option<String>,
    /// Set once `event.action` shows the document only repeats session
    /// state: its other objects are skipped.
    pub skip_rest: bool,
}

/// Actions whose documents carry something no later document repeats.
pub fn action_is_used(action: &str) -> bool {
    matches!(
        action,
        "link-disconnect"
            | "session-expired"
            | "session-evicted"
            | "session-unfinished"
            | "tx-commit"
            | "tx-rollback"
            | "tx-rcpt"
            | "filter-response"
            | "stats"
            | "documents-dropped"
    )
}

impl<'a> Doc<'a> {
    /// Parses one JSON object (the line without any syslog header).
    pub fn parse(json: &'a [u8]) -> Result<Doc<'a>, serde_json::Error> {
        let mut doc = Doc::default();
        let mut de = serde_json::Deserializer::from_slice(json);
        Top(&mut doc).deserialize(&mut de)?;
        de.end()?;
        Ok(doc)
    }

    fn unknown(&mut self, parent: &str, key: &str) {
        self.unknown_fields += 1;
        if self.unknown_field.is_none() {
            let mut name = String::with_capacity(parent.len() + key.len() + 1);
            name.push_str(parent);
            if !parent.is_empty() {
                name.push('.');
            }
            // Shown in a terminal or mail: no control characters.
            name.extend(
                key.chars()
                    .take(64)
                    .map(|c| if c.is_control() { '?' } else { c }),
            );
            self.unknown_field = Some(name);
        }
    }
}

/// An object key: our writer never escapes keys, but other programs may.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Str::deserialize(d).map(|s| Key(s.0))
    }
}

/// Defines a seed that fills `Doc` from one JSON object. Arms name known
/// keys; anything else is counted as unknown and skipped.
macro_rules! object {
    ($name:ident, $parent:literal, |$doc:ident, $map:ident| { $($pat:pat $(if $guard:expr)? => $body:expr,)* }) => {
        struct $name<'d, 'de>(&'d mut Doc<'de>);

        impl<'d, 'de> DeserializeSeed<'de> for $name<'d, 'de> {
            type Value = ();
            fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
                d.deserialize_map(self)
            }
        }

        impl<'d, 'de> Visitor<'de> for $name<'d, 'de> {
            type Value = ();
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(concat!("the object ", $parent))
            }
            #[allow(unused_mut)]
            fn visit_map<A: MapAccess<'de>>(self, mut $map: A) -> Result<(), A::Error> {
                let $doc = self.0;
                while let Some(key) = $map.next_key::<Key<'de>>()? {
                    match key.0.as_ref() {
                        $($pat $(if $guard)? => { $body; })*
                        other => {
                            $doc.unknown($parent, other);
                            $map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(())
            }
        }
    };
}

fn skip<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(), A::Error> {
    map.next_value::<IgnoredAny>().map(|_| ())
}

object!(Top, "", |doc, map| {
    "@timestamp" => doc.timestamp = Some(map.next_value()?),
    "event" => map.next_value_seed(Event(doc))?,
    _ if doc.skip_rest => skip(&mut map)?,
    "source" => map.next_value_seed(Source(doc))?,
    "destination" => map.next_value_seed(Destination(doc))?,
    "tls" => map.next_value_seed(Tls(doc))?,
    "user" => map.next_value_seed(User(doc))?,
    "email" => map.next_value_seed(Email(doc))?,
    "opensmtpd" => map.next_value_seed(Opensmtpd(doc))?,
});

object!(Event, "event", |doc, map| {
    "action" => {
        let action: Str = map.next_value()?;
        doc.skip_rest = !action_is_used(action.as_str());
        doc.action = Some(action);
    },
    "kind" => doc.kind = Some(map.next_value()?),
    "dataset" => doc.dataset = Some(map.next_value()?),
    "sequence" => doc.sequence = Some(map.next_value()?),
    "module" | "outcome" => skip(&mut map)?,
});

object!(Source, "source", |doc, map| {
    "ip" => doc.source_ip = Some(map.next_value()?),
    "domain" => doc.source_domain = Some(map.next_value()?),
    "port" | "address" => skip(&mut map)?,
});

object!(Destination, "destination", |doc, map| {
    "ip" => doc.destination_ip = Some(map.next_value()?),
    "domain" => doc.destination_domain = Some(map.next_value()?),
    "port" | "address" => skip(&mut map)?,
});

object!(Tls, "tls", |doc, map| {
    "established" => doc.tls = map.next_value()?,
    "version" => doc.tls_version = Some(map.next_value()?),
    "version_protocol" | "cipher" => skip(&mut map)?,
});

object!(User, "user", |doc, map| {
    "name" => doc.user = Some(map.next_value()?),
});

// email.* repeats opensmtpd.transaction, which is read instead.
object!(Email, "email", |_doc, map| {
    "local_id" | "from" | "to" => skip(&mut map)?,
});

object!(Opensmtpd, "opensmtpd", |doc, map| {
    "subsystem" => doc.subsystem = Some(map.next_value()?),
    "session" => map.next_value_seed(Session(doc))?,
    "protocol" => map.next_value_seed(Protocol(doc))?,
    "fcrdns" => doc.fcrdns = Some(map.next_value()?),
    "auth" => map.next_value_seed(Auth(doc))?,
    "response" => doc.response = Some(map.next_value()?),
    "filter" => map.next_value_seed(Filter(doc))?,
    "timeout" => doc.timeout = map.next_value()?,
    "counters" => map.next_value_seed(Counters(doc))?,
    "transaction" => {
        let mut tx = Tx::default();
        map.next_value_seed(Transaction(&mut tx, doc))?;
        doc.tx = Some(tx);
    },
    "rcpt" => map.next_value_seed(RcptResult(doc))?,
    "truncated" => doc.truncated = map.next_value()?,
    "jsonlog" => map.next_value_seed(Jsonlog(doc))?,
    "greeting" | "helo" | "tls" | "command" | "response_code" | "mail" | "unknown_event"
        | "out_of_order" | "invalid_utf8" => skip(&mut map)?,
});

object!(Session, "opensmtpd.session", |doc, map| {
    "id" => doc.session = Some(map.next_value()?),
    "final" => doc.is_final = map.next_value()?,
    "start" | "duration_us" | "partial" | "end" => skip(&mut map)?,
});

object!(Protocol, "opensmtpd.protocol", |doc, map| {
    "unknown_version" => doc.unknown_version = map.next_value()?,
    "version" => skip(&mut map)?,
});

object!(Auth, "opensmtpd.auth", |doc, map| {
    "result" => doc.auth = Some(map.next_value()?),
    "user" => doc.auth_user = Some(map.next_value()?),
});

object!(Filter, "opensmtpd.filter", |doc, map| {
    "response" => map.next_value_seed(FilterResponse(doc))?,
    "report" => skip(&mut map)?,
});

object!(FilterResponse, "opensmtpd.filter.response", |doc, map| {
    "phase" => doc.filter_phase = Some(map.next_value()?),
    "decision" => doc.filter_decision = Some(map.next_value()?),
    "param" => doc.filter_param = Some(map.next_value()?),
});

object!(Counters, "opensmtpd.counters", |doc, map| {
    "messages" => doc.messages = map.next_value()?,
    "connects" => doc.connects = map.next_value()?,
    "filter_verdicts" => doc.filter_verdicts = map.next_value()?,
    "recipients_accepted" => doc.recipients_accepted = map.next_value()?,
    "recipients_refused" => doc.recipients_refused = map.next_value()?,
    "auth_failures" => doc.auth_failures = map.next_value()?,
    "replies_4xx" => doc.replies_4xx = map.next_value()?,
    "replies_5xx" => doc.replies_5xx = map.next_value()?,
    "events" | "commands" | "transactions" | "bytes" => skip(&mut map)?,
});

object!(RcptResult, "opensmtpd.rcpt", |doc, map| {
    "result" => doc.rcpt_result = Some(map.next_value()?),
    "address" => skip(&mut map)?,
});

object!(Jsonlog, "opensmtpd.jsonlog", |doc, map| {
    "dropped_since_last" => doc.dropped_since_last = map.next_value()?,
    "lines_received" | "lines_rejected" | "lines_cut" | "documents" | "document_bytes"
        | "documents_skipped" | "documents_truncated" | "documents_invalid_utf8"
        | "documents_delivered" | "documents_dropped" | "dropped_buffer_full"
        | "dropped_sink_rejected" | "dropped_shutdown" | "sink_reopened" | "sessions_open"
        | "sessions_expired" | "sessions_evicted" | "unknown_events" | "unknown_versions"
        | "internal_errors" => skip(&mut map)?,
});

/// `opensmtpd.transaction` into its own `Tx` (unknown fields go to the doc).
struct Transaction<'t, 'd, 'de>(&'t mut Tx<'de>, &'d mut Doc<'de>);

impl<'de> DeserializeSeed<'de> for Transaction<'_, '_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Transaction<'_, '_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the object opensmtpd.transaction")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Transaction(tx, doc) = self;
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match key.0.as_ref() {
                "msgid" => tx.msgid = Some(map.next_value()?),
                "status" => tx.status = Some(map.next_value()?),
                "mail" => tx.mail = map.next_value::<Mail>()?.address,
                "rcpt" => map.next_value_seed(RcptList(&mut tx.rcpt))?,
                "rcpt_accepted" => tx.rcpt_accepted = map.next_value()?,
                "rcpt_refused" => tx.rcpt_refused = map.next_value()?,
                "size" => tx.size = map.next_value()?,
                "partial" | "data_result" => skip(&mut map)?,
                other => {
                    doc.unknown("opensmtpd.transaction", other);
                    skip(&mut map)?;
                }
            }
        }
        Ok(())
    }
}

impl Tx<'_> {
    /// A copy that owns its strings (kept across documents).
    pub fn into_owned(self) -> Tx<'static> {
        // Held across documents: cut to the filter's own address bound.
        let own =
            |s: Option<Str>| s.map(|s| Str(Cow::Owned(super::topn::cut(&s.0, 320).to_string())));
        Tx {
            msgid: own(self.msgid),
            status: own(self.status),
            mail: own(self.mail),
            rcpt: self
                .rcpt
                .into_iter()
                .map(|r| Rcpt {
                    address: own(r.address),
                    result: own(r.result),
                    envelope_ids: Vec::new(),
                })
                .collect(),
            rcpt_accepted: self.rcpt_accepted,
            rcpt_refused: self.rcpt_refused,
            size: self.size,
        }
    }
}

/// `transaction.mail`: only the address is used.
#[derive(Deserialize)]
struct Mail<'a> {
    #[serde(borrow)]
    address: Option<Str<'a>>,
}

struct RcptList<'t, 'de>(&'t mut Vec<Rcpt<'de>>);

impl<'de> DeserializeSeed<'de> for RcptList<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RcptList<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of recipients")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<RcptItem>()? {
            // The filter keeps at most 1,000 per transaction; so do we.
            if self.0.len() >= 1000 {
                return Err(A::Error::custom("more than 1000 recipients"));
            }
            self.0.push(Rcpt {
                address: item.address,
                result: item.result,
                envelope_ids: item.envelope_ids.unwrap_or_default(),
            });
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct RcptItem<'a> {
    #[serde(borrow)]
    address: Option<Str<'a>>,
    #[serde(borrow)]
    result: Option<Str<'a>>,
    #[serde(borrow)]
    envelope_ids: Option<Vec<Str<'a>>>,
}

#[cfg(test)]
#[path = "doc_tests.rs"]
mod tests;
