//! The `config|…` handshake and the registration lines it calls for.

/// What the handshake learnt, and what to register.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Handshake {
    smtp_in: bool,
    smtp_out: bool,
    ready: bool,
    /// `config|smtpd-version|…`, as sent (bounded).
    pub smtpd_version: Option<Vec<u8>>,
}
// `config|smtp-session-timeout|…` is not kept: it is smtpd's limit on the
// wait for one client line, not on the time between report events (a
// message upload sends no event for as long as it lasts, smtp-out sessions
// do not follow it), so as the idle timeout it would end sessions that are
// alive. `--idle-timeout` is the filter's own.

/// The lines to print once `config|ready` arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    lines: Vec<&'static str>,
}

impl Registration {
    /// The lines, each without its `\n`, in the order to send them.
    pub fn lines(&self) -> &[&'static str] {
        &self.lines
    }
}

const MAX_CONFIG_VALUE: usize = 64;

impl Handshake {
    /// Takes one `config|KEY|VALUE` line. Unknown keys are ignored, as
    /// smtpd-filters(7) asks. Returns the registration at `config|ready`.
    pub fn feed(&mut self, key: &[u8], value: &[u8]) -> Option<Registration> {
        // One registration per process: a second handshake (a replayed
        // capture, a confused peer) must not register every event twice.
        if self.ready {
            return None;
        }
        match key {
            b"subsystem" if value == b"smtp-in" => self.smtp_in = true,
            b"subsystem" if value == b"smtp-out" => self.smtp_out = true,
            b"smtpd-version" => {
                self.smtpd_version = value
                    .get(..MAX_CONFIG_VALUE.min(value.len()))
                    .map(<[u8]>::to_vec);
            }
            b"ready" => {
                self.ready = true;
                return Some(self.registration());
            }
            _ => {}
        }
        None
    }

    /// True once `config|ready` was seen.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    fn registration(&self) -> Registration {
        let mut lines = Vec::with_capacity(3);
        // 6.6 sends no subsystem line at all; smtp-in is then the only one it has.
        if self.smtp_in || !self.smtp_out {
            lines.push("register|report|smtp-in|*");
        }
        // Registering smtp-out is fatal on 6.6: only when smtpd offered it.
        if self.smtp_out {
            lines.push("register|report|smtp-out|*");
        }
        lines.push("register|ready");
        Registration { lines }
    }
}
