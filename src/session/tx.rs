//! The open transaction of a session: from tx-begin to tx-reset.

use super::text::{caps, Text};
use crate::protocol::TxResult;

/// How far the transaction got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxStatus {
    /// Between tx-begin and its end.
    Open,
    /// tx-commit: the message is in the queue.
    Committed,
    /// tx-rollback: the message was abandoned.
    RolledBack,
}

impl TxStatus {
    /// The name written in documents.
    pub fn as_str(self) -> &'static str {
        match self {
            TxStatus::Open => "open",
            TxStatus::Committed => "committed",
            TxStatus::RolledBack => "rolledback",
        }
    }
}

/// The sender as MAIL FROM gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sender {
    /// The address between `<` and `>` (empty for a bounce).
    pub address: Text,
    /// smtpd's answer.
    pub result: TxResult,
}

/// One RCPT TO and what became of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient {
    /// The address between `<` and `>`.
    pub address: Text,
    /// smtpd's answer.
    pub result: TxResult,
    /// The envelopes the queue made for it (tx-envelope comes before its tx-rcpt).
    pub envelopes: Vec<u64>,
}

/// A transaction's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    /// smtpd's message id.
    pub msgid: u32,
    /// True when it was first seen without tx-begin.
    pub partial: bool,
    /// Open, committed or rolled back.
    pub status: TxStatus,
    /// The accepted MAIL FROM.
    pub sender: Option<Sender>,
    /// Recipients in order, at most [`caps::RCPTS`]; the counts below stay exact.
    pub recipients: Vec<Recipient>,
    /// Recipients accepted.
    pub accepted: u64,
    /// Recipients refused.
    pub refused: u64,
    /// Envelope ids waiting for their tx-rcpt.
    pending_envelopes: Vec<u64>,
    /// The last tx-data result.
    pub data: Option<TxResult>,
    /// The tx-commit size.
    pub size: Option<u64>,
    /// A recipient address was stored cut at its cap, or an envelope id
    /// was not kept.
    cut: bool,
}

impl Transaction {
    /// A new transaction; `partial` when it starts on anything but tx-begin.
    pub fn new(msgid: u32, partial: bool) -> Transaction {
        Transaction {
            msgid,
            partial,
            status: TxStatus::Open,
            sender: None,
            recipients: Vec::new(),
            accepted: 0,
            refused: 0,
            pending_envelopes: Vec::new(),
            data: None,
            size: None,
            cut: false,
        }
    }

    /// tx-envelope: remembered until the recipient it belongs to is reported.
    pub fn envelope(&mut self, evpid: u64) {
        if self.pending_envelopes.len() < caps::ENVELOPES {
            self.pending_envelopes.push(evpid);
        } else {
            self.cut = true;
        }
    }

    /// tx-rcpt. The recipient is kept when `room` (the table's budget of
    /// stored recipients allows it) and the transaction is under its own
    /// cap; the counts are exact either way.
    pub fn recipient(&mut self, address: &Text, result: TxResult, room: bool) {
        match result {
            TxResult::Ok => self.accepted += 1,
            TxResult::PermFail | TxResult::TempFail => self.refused += 1,
        }
        let envelopes = std::mem::take(&mut self.pending_envelopes);
        if room && self.recipients.len() < caps::RCPTS {
            self.cut |= address.was_cut();
            self.recipients.push(Recipient {
                address: address.clone(),
                result,
                envelopes,
            });
        }
    }

    /// True when some recipient or envelope id was not kept, or a value
    /// was kept shortened.
    pub fn was_cut(&self) -> bool {
        self.cut
            || self.accepted + self.refused > self.recipients.len() as u64
            || self.sender.as_ref().is_some_and(|m| m.address.was_cut())
    }

    /// smtp-out reports tx-rollback for a refused recipient and then goes
    /// on with the same message: a later tx event reopens it.
    pub fn resume(&mut self, smtp_out: bool) {
        if smtp_out && self.status == TxStatus::RolledBack {
            self.status = TxStatus::Open;
        }
    }

    /// The accepted recipients' addresses.
    pub fn accepted_addresses(&self) -> impl Iterator<Item = &Text> {
        self.recipients
            .iter()
            .filter(|r| r.result == TxResult::Ok)
            .map(|r| &r.address)
    }
}
