//! A session snapshot as one line of JSON: ECS names where ECS has a field,
//! everything else under `opensmtpd.*`. `schema/fields.json` lists every field.
//!
//! The size policy: a document longer than `max_bytes` is written again with
//! tighter bounds, in this fixed order, until it fits, and is then marked
//! `opensmtpd.truncated: true`; exact counts are always kept.
//! 1. recipient lists to 50 entries, strings to 256 bytes;
//! 2. recipient lists to 10 entries, strings to 64 bytes;
//! 3. no recipient lists; free text (commands, responses, filter messages,
//!    greeting) left out; strings to 32 bytes;
//! 4. only the event and session identity.
//!
//! Level 4 is far below the smallest `max_bytes` accepted (1024), so every
//! document fits: none is split or dropped for its size.

mod cache;
mod json;
mod members;
mod metrics;
mod time;

pub use json::Flags;
pub use metrics::{render_metrics, Metrics};
pub use time::Clock;

use crate::protocol::{AuthResult, EventKind};
use crate::session::Snapshot;
use cache::{Cache, CACHE_SLOTS};
use json::Writer;
use members::{email, link_facts, local_facts, session_ids, state, text, transaction};

/// The `event.dataset` of every document.
pub const DATASET: &str = "opensmtpd.jsonlog";

/// The smallest `max_bytes` the renderer promises to honour.
pub const MIN_MAX_BYTES: usize = 1024;

/// How documents are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Longest document, in bytes, without the newline.
    pub max_bytes: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options { max_bytes: 8000 }
    }
}

/// What one rendering did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rendered {
    /// It says `opensmtpd.truncated`: the size policy shortened it, or a
    /// value it shows was cut as it was stored.
    pub truncated: bool,
    /// Some input bytes were not UTF-8.
    pub invalid_utf8: bool,
}

#[derive(Clone, Copy)]
struct Level {
    max_list: usize,
    max_text: usize,
    free_text: bool,
    minimal: bool,
}

const LEVELS: [Level; 5] = [
    Level {
        max_list: usize::MAX,
        max_text: usize::MAX,
        free_text: true,
        minimal: false,
    },
    Level {
        max_list: 50,
        max_text: 256,
        free_text: true,
        minimal: false,
    },
    Level {
        max_list: 10,
        max_text: 64,
        free_text: true,
        minimal: false,
    },
    Level {
        max_list: 0,
        max_text: 32,
        free_text: false,
        minimal: false,
    },
    Level {
        max_list: 0,
        max_text: 32,
        free_text: false,
        minimal: true,
    },
];

/// Renders documents; holds what is reused from one to the next.
#[derive(Default)]
pub struct Renderer {
    clock: Clock,
    options: Options,
    cache: Cache,
}

impl Renderer {
    /// A renderer with these options.
    pub fn new(options: Options) -> Renderer {
        Renderer {
            clock: Clock::default(),
            options: Options {
                max_bytes: options.max_bytes.max(MIN_MAX_BYTES),
            },
            cache: Cache::new(CACHE_SLOTS),
        }
    }

    /// The same renderer without its fragment cache: every part of every
    /// document is written from the session (tests compare the two).
    pub fn uncached(mut self) -> Renderer {
        self.cache = Cache::default();
        self
    }

    /// Writes the document for `snap` into `out` (cleared first), without a newline.
    pub fn render(&mut self, snap: &Snapshot<'_>, out: &mut Vec<u8>) -> Rendered {
        let mut rendered = Rendered::default();
        for (i, level) in LEVELS.iter().enumerate() {
            // What the document written last holds, as it says itself.
            rendered = self.write(snap, *level, i > 0, out);
            if out.len() <= self.options.max_bytes {
                return rendered;
            }
        }
        // Unreachable with max_bytes >= MIN_MAX_BYTES: level 4 is bounded
        // by the caps on what it writes.
        rendered
    }

    fn write(
        &mut self,
        snap: &Snapshot<'_>,
        level: Level,
        truncated: bool,
        out: &mut Vec<u8>,
    ) -> Rendered {
        let s = snap.session;
        let e = &snap.event;
        let Renderer {
            clock,
            cache,
            options,
        } = self;
        // Past this size the document is written again at a tighter level,
        // so recipient lists stop there (K recipients cost O(K), not O(K²)).
        let budget = options.max_bytes;
        // The full level takes the parts that follow the link facts and the
        // transaction from the cache.
        let cached = if truncated {
            None
        } else {
            cache.get(s, clock, budget)
        };
        let mut w = Writer::new(out, level.max_text);
        w.raw_str("@timestamp", |o| clock.write(e.time, o));
        w.begin("event");
        w.str("action", e.name);
        w.ascii("dataset", DATASET);
        w.ascii("kind", "event");
        w.ascii("module", "opensmtpd");
        w.u64("sequence", e.sequence);
        if let Some(ok) = e.outcome {
            w.ascii("outcome", if ok { "success" } else { "failure" });
        }
        w.end();

        match cached {
            Some(slot) => slot.link.splice(&mut w),
            None => link_facts(&mut w, s, level),
        }

        // The session's user is the one it authenticated as; a failed
        // attempt names its user on its own link-auth document only.
        let user = s
            .auth
            .as_ref()
            .filter(|a| a.result == AuthResult::Pass || e.kind == Some(EventKind::LinkAuth));
        if let (Some(auth), false) = (user, level.minimal) {
            w.begin("user");
            text(&mut w, "name", &auth.username);
            w.end();
        }

        if let (Some(tx), false) = (&s.tx, level.minimal) {
            match cached {
                Some(slot) => slot.email.splice(&mut w),
                None => email(&mut w, tx, level, budget),
            }
        }

        w.begin("opensmtpd");
        w.ascii("subsystem", s.key.subsystem.as_str());
        w.begin("session");
        match cached {
            Some(slot) => slot.ids.splice(&mut w),
            None => session_ids(&mut w, s, level, clock),
        }
        if !level.minimal {
            let micros = s.last.as_micros().saturating_sub(s.start.as_micros());
            w.u64("duration_us", u64::try_from(micros).unwrap_or(0));
        }
        if s.partial {
            w.bool("partial", true);
        }
        if let Some(expiry) = e.expiry {
            w.ascii("end", expiry.action());
        }
        if s.closed {
            // The session's last document, however it ended: count sessions
            // with one clause.
            w.bool("final", true);
        }
        w.end();
        if !level.minimal {
            members::protocol(&mut w, snap);
            match cached {
                Some(slot) => slot.local.splice(&mut w),
                None => local_facts(&mut w, s, level),
            }
            state(&mut w, snap, level);
            if let Some(tx) = &s.tx {
                match cached {
                    Some(slot) => slot.transaction.splice(&mut w),
                    None => transaction(&mut w, tx, level, budget),
                }
            }
        }
        for (key, scoped) in [("mail", &e.mail), ("rcpt", &e.rcpt)] {
            if let Some((address, result)) = scoped {
                w.begin(key);
                text(&mut w, "address", address);
                w.ascii("result", result.as_str());
                w.end();
            }
        }
        if e.kind.is_none() && e.expiry.is_none() {
            w.bool("unknown_event", true);
        }
        if e.out_of_order {
            w.bool("out_of_order", true);
        }
        // One mark for every cut: this level's (the size policy, and text
        // it shortened), and those made as the session stored its values.
        let flags = w.flags;
        let truncated = truncated || flags.cut || snap.was_cut();
        if truncated {
            w.bool("truncated", true);
        }
        if flags.invalid_utf8 {
            w.bool("invalid_utf8", true);
        }
        w.end();
        let flags = w.finish();
        Rendered {
            truncated,
            invalid_utf8: flags.invalid_utf8,
        }
    }
}

#[cfg(test)]
mod tests;
