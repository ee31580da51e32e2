//! How each event changes a session: the one function that writes state,
//! with privacy and secret masking applied as values are stored.

use super::state::{Auth, AuthExchange, EventInfo, FilterNote, FilterVerdict, Session, Tls};
use super::text::{caps, Text};
use super::tx::{Sender, Transaction, TxStatus};
use super::Endpoint;
use crate::privacy::secrets::{self, Moment};
use crate::privacy::{ClientLine, Privacy};
use crate::protocol::{AuthResult, Event, Subsystem, TxResult};

/// Copies `value` for storing, through `transform` when it changes it.
fn keep(value: &[u8], cap: usize, transform: impl FnOnce(&[u8]) -> Option<Vec<u8>>) -> Text {
    match transform(value) {
        Some(changed) => Text::new(&changed, cap),
        None => Text::new(value, cap),
    }
}

pub(super) fn update<'a>(
    s: &mut Session,
    event: &Event<'a>,
    info: &mut EventInfo<'a>,
    privacy: &Privacy,
    rcpt_room: bool,
) {
    match *event {
        Event::LinkConnect {
            rdns,
            fcrdns,
            src,
            dest,
        } => {
            let smtp_in = s.key.subsystem == Subsystem::SmtpIn;
            if s.counters.connects > 0 && smtp_in {
                info.out_of_order = true;
            }
            // smtp-in connects first and once: after any other event, an
            // AUTH exchange this connect interrupts may still be open.
            let unsure = smtp_in && s.counters.events > 1;
            s.counters.connects += 1;
            s.rdns = (rdns != b"<unknown>").then(|| Text::new(rdns, caps::HOST));
            s.fcrdns = Some(fcrdns);
            s.src = Some(Endpoint::parse(src));
            s.dest = Some(Endpoint::parse(dest));
            // A new connection (smtp-out reconnect): its link facts start over.
            s.greeting = None;
            s.helo = None;
            s.tls = None;
            s.auth = None;
            s.exchange = AuthExchange {
                open: unsure,
                reply_masked: unsure,
                // The same connection for smtp-in: what it sent stays sent.
                sent_auth: unsure || (smtp_in && s.exchange.sent_auth),
            };
            s.timed_out = false;
            s.command = None;
            s.response = None;
            s.filter_verdict = None;
            s.filter_note = None;
        }
        Event::LinkGreeting { hostname } => s.greeting = Some(Text::new(hostname, caps::HOST)),
        Event::LinkIdentify { method, identity } => {
            s.helo = Some((method, keep(identity, caps::HOST, |h| privacy.helo(h))));
        }
        Event::LinkTls { tls } => {
            // STARTTLS resets the SMTP state in smtp-in: the client must say
            // EHLO again. smtp-out (7.x) reports its EHLO before link-tls.
            if s.key.subsystem == Subsystem::SmtpIn {
                s.helo = None;
            }
            s.tls = Some(Box::new(Tls::parse(tls)));
        }
        Event::LinkAuth { username, result } => {
            s.auth = Some(Auth {
                username: keep(username, caps::ADDRESS, |u| privacy.user(u)),
                result,
            });
            info.outcome = Some(result == AuthResult::Pass);
            if result != AuthResult::Pass {
                s.counters.auth_failures += 1;
            }
        }
        Event::LinkDisconnect {} => {}
        Event::Timeout {} => s.timed_out = true,
        Event::TxBegin { msgid } => {
            s.counters.transactions += 1;
            s.tx = Some(Box::new(Transaction::new(msgid, false)));
        }
        Event::TxMail {
            msgid,
            address,
            result,
        } => {
            let address = keep(address, caps::ADDRESS, |a| privacy.address(a));
            info.outcome = Some(result == TxResult::Ok);
            // A refused MAIL does not touch the open transaction (a second
            // MAIL FROM is refused while the first goes on) and opens none.
            if result == TxResult::Ok {
                s.tx_for(msgid).sender = Some(Sender {
                    address: address.clone(),
                    result,
                });
            }
            info.mail = Some((address, result));
        }
        Event::TxRcpt {
            msgid,
            address,
            result,
        } => {
            let address = keep(address, caps::ADDRESS, |a| privacy.address(a));
            info.outcome = Some(result == TxResult::Ok);
            match result {
                TxResult::Ok => s.counters.recipients_accepted += 1,
                TxResult::PermFail | TxResult::TempFail => s.counters.recipients_refused += 1,
            }
            s.tx_for(msgid).recipient(&address, result, rcpt_room);
            info.rcpt = Some((address, result));
        }
        Event::TxEnvelope { msgid, evpid } => s.tx_for(msgid).envelope(evpid),
        Event::TxData { msgid, result } => {
            info.outcome = Some(result == TxResult::Ok);
            s.tx_for(msgid).data = Some(result);
        }
        Event::TxCommit { msgid, size } => {
            info.outcome = Some(true);
            s.counters.messages += 1;
            s.counters.bytes = s.counters.bytes.saturating_add(size);
            let tx = s.tx_for(msgid);
            tx.size = Some(size);
            tx.status = TxStatus::Committed;
        }
        Event::TxRollback { msgid } => {
            info.outcome = Some(false);
            s.tx_for(msgid).status = TxStatus::RolledBack;
        }
        Event::TxReset { .. } => {
            // smtp-out reports tx-rollback/tx-reset for a refused recipient and
            // then goes on with the same message (mta_session.c): only a
            // committed transaction ends there; tx-begin replaces the others.
            let keep = s.key.subsystem == Subsystem::SmtpOut
                && s.tx
                    .as_ref()
                    .is_some_and(|t| t.status != TxStatus::Committed);
            if !keep {
                s.tx = None;
            }
        }
        Event::ProtocolClient { command } => {
            s.counters.commands += 1;
            // A line is a secret while an AUTH exchange is open (from the
            // AUTH command to its final reply, and after any 334), and
            // after it unless it is an SMTP command.
            let challenged = s
                .response
                .as_ref()
                .is_some_and(|r| r.bytes().starts_with(b"334"));
            let moment = if s.exchange.open || challenged {
                Moment::InExchange
            } else if s.exchange.sent_auth {
                Moment::AfterAuth
            } else {
                Moment::BeforeAuth
            };
            let line = secrets::client_line(command, moment);
            if matches!(line, ClientLine::Auth { .. }) {
                s.exchange.open = true;
                s.exchange.sent_auth = true;
            }
            s.exchange.reply_masked = line.hid_something();
            s.command = privacy.command(&line).map(|c| Text::new(c, caps::LINE));
            // The last reply answered the previous command: a document of
            // this command (or of a filter verdict on it) must not pair them.
            s.response = None;
        }
        Event::ProtocolServer { response } => {
            // Every reply of an open exchange keeps only its codes: a
            // filter's `auth` phase sees the secret, and its reject text
            // becomes smtpd's reply.
            let masked = s.exchange.reply_masked || s.exchange.open;
            let shown = privacy.response(response, masked);
            s.response = Some(Text::new(shown, caps::LINE));
            // A multi-line reply ends at the line whose code is followed by
            // a space (or nothing); only then is the exchange's step over.
            if response.get(3) != Some(&b'-') {
                match response.first() {
                    Some(b'4') => s.counters.replies_4xx += 1,
                    Some(b'5') => s.counters.replies_5xx += 1,
                    _ => {}
                }
                s.exchange.reply_masked = false;
                if !response.starts_with(b"334") {
                    s.exchange.open = false;
                }
            }
        }
        Event::FilterReport {
            kind,
            name,
            message,
        } => {
            // Filter messages can repeat addresses; and a filter's phase for
            // AUTH sees the secret (`smtp_filter_phase(FILTER_AUTH, s,
            // args)`), so what it reports while the exchange is open may
            // repeat it.
            let message = privacy.filter_message(message);
            let message = if s.exchange.open && !message.is_empty() {
                secrets::MASK
            } else {
                message
            };
            s.filter_note = Some(Box::new(FilterNote {
                kind,
                name: Text::new(name, caps::TOKEN),
                message: Text::new(message, caps::LINE),
            }));
        }
        Event::FilterResponse {
            phase,
            decision,
            param,
        } => {
            if decision != b"proceed" {
                s.counters.filter_verdicts += 1;
            }
            s.filter_verdict = Some(FilterVerdict {
                phase: Text::new(privacy.filter_phase(phase), caps::TOKEN),
                decision: Text::new(privacy.filter_decision(decision), caps::TOKEN),
                param: param
                    .and_then(|p| privacy.filter_param(phase, decision, p))
                    .map(|p| Text::new(p, caps::LINE)),
            });
        }
        Event::Unknown { .. } => {}
    }
}
