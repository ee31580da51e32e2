//! The fragment cache: parts of full-level documents that change only with
//! a session's link facts or its transaction, rendered once per change.

use super::json::{Flags, Writer};
use super::members::{email, link_facts, local_facts, session_ids, transaction};
use super::time::Clock;
use super::LEVELS;
use crate::session::Session;

/// Slots in the fragment cache. A session's parts stay cached while no
/// other session that maps to its slot has an event, so a few hundred busy
/// sessions render at full speed; memory stays near 256 KiB.
pub(super) const CACHE_SLOTS: usize = 256;

/// Members rendered once and spliced into later documents.
#[derive(Default)]
pub(super) struct Fragment {
    bytes: Vec<u8>,
    flags: Flags,
}

impl Fragment {
    fn render(&mut self, f: impl FnOnce(&mut Writer<'_>)) {
        let mut w = Writer::fragment(&mut self.bytes, usize::MAX);
        f(&mut w);
        self.flags = w.finish();
    }

    pub(super) fn splice(&self, w: &mut Writer<'_>) {
        w.members(&self.bytes, self.flags);
    }
}

#[derive(Default)]
pub(super) struct Entry {
    /// The session's facts stamp the fragments were made from; 0: none.
    stamp: u64,
    pub(super) link: Fragment,
    pub(super) ids: Fragment,
    pub(super) local: Fragment,
    /// The session's tx stamp the transaction fragments were made from.
    tx_stamp: u64,
    pub(super) email: Fragment,
    pub(super) transaction: Fragment,
}

/// The parts of a full-level document that change only with a session's
/// link facts ([`Session::facts_stamp`]) or its transaction
/// ([`Session::tx_stamp`]), rendered once per change instead of once per
/// event. Direct-mapped by session id; empty means off.
#[derive(Default)]
pub(super) struct Cache {
    slots: Vec<Entry>,
}

impl Cache {
    pub(super) fn new(slots: usize) -> Cache {
        Cache {
            slots: (0..slots).map(|_| Entry::default()).collect(),
        }
    }

    pub(super) fn get(&mut self, s: &Session, clock: &mut Clock, budget: usize) -> Option<&Entry> {
        let full = *LEVELS.first()?;
        let index = (s.key.id as usize ^ s.key.subsystem as usize) % self.slots.len().max(1);
        let slot = self.slots.get_mut(index)?;
        if slot.stamp != s.facts_stamp || s.facts_stamp == 0 {
            slot.link.render(|w| link_facts(w, s, full));
            slot.ids.render(|w| session_ids(w, s, full, clock));
            slot.local.render(|w| local_facts(w, s, full));
            slot.stamp = s.facts_stamp;
        }
        if slot.tx_stamp != s.tx_stamp || s.tx_stamp == 0 {
            let tx = s.tx.as_ref();
            slot.email
                .render(|w| tx.map_or((), |tx| email(w, tx, full, budget)));
            slot.transaction
                .render(|w| tx.map_or((), |tx| transaction(w, tx, full, budget)));
            slot.tx_stamp = s.tx_stamp;
        }
        Some(slot)
    }
}
