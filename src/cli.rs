//! Command-line flags ("low": only checked) and the configuration built from
//! them ("high": validated and typed). Nothing here touches the OS.

use crate::config::{Config, ConfigError, Mode, PipelineConfig};
use crate::document;
use crate::privacy::{AddressPolicy, Privacy, UserPolicy};
use crate::select::{Cidr, Events, Selection};
use crate::session::Limits;
use crate::sink::{DeliveryOptions, Target, WhenFull};
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

/// The smallest `--buffer-bytes`: 8 default-sized documents.
pub const MIN_BUFFER_BYTES: usize = 64 << 10;

/// OpenSMTPD report filter: one JSON document per report event, holding the
/// whole state of the event's SMTP session.
#[derive(Parser, Debug)]
#[command(name = "filter-jsonlog", version, about, long_about = None)]
pub struct Args {
    /// Where documents go: syslog, file:PATH, or stdout (replay only).
    /// [default: syslog; replay: stdout]
    #[arg(long, global = true, value_name = "TARGET")]
    pub output: Option<String>,

    /// Syslog facility.
    #[arg(long, global = true, value_name = "NAME", default_value = "mail")]
    pub facility: String,

    /// Syslog socket.
    #[arg(long, global = true, value_name = "PATH", default_value = "/dev/log")]
    pub syslog_socket: PathBuf,

    /// Longest document in bytes; longer ones are shortened (at least 1024).
    #[arg(long, global = true, value_name = "BYTES", default_value_t = 8000)]
    pub max_line_bytes: usize,

    /// Memory for documents held while the output is slow or down (at
    /// least 65536).
    #[arg(long, global = true, value_name = "BYTES", default_value_t = 8 << 20)]
    pub buffer_bytes: usize,

    /// Open sessions kept at most; the oldest is ended beyond it.
    #[arg(long, global = true, value_name = "N", default_value_t = 50_000)]
    pub max_sessions: usize,

    /// End sessions without events for this many seconds (0: never).
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 3600)]
    pub idle_timeout: u64,

    /// Write documents only for these events (comma-separated event names,
    /// session-expired/-evicted/-unfinished, or the presets all and
    /// summaries); session state still follows every event.
    #[arg(long, global = true, value_name = "LIST", default_value = "all")]
    pub events: String,

    /// Write no documents for smtp-in sessions from these clients
    /// (ADDRESS or ADDRESS/BITS; repeat or separate with commas).
    #[arg(long, global = true, value_name = "CIDR", value_delimiter = ',')]
    pub ignore_source: Vec<String>,

    /// Mail addresses: keep, hash-local (keyed hash of the local part, domain
    /// kept), hash (keyed hash of the whole address), redact-local.
    #[arg(
        long,
        global = true,
        value_name = "POLICY",
        value_enum,
        default_value_t
    )]
    pub address_privacy: AddressPrivacy,

    /// AUTH user names: keep, hash (keyed hash), redact.
    #[arg(
        long,
        global = true,
        value_name = "POLICY",
        value_enum,
        default_value_t
    )]
    pub user_privacy: UserPrivacy,

    /// The secret for keyed hashes (HMAC-SHA-256), at least 16 bytes.
    #[arg(long, global = true, value_name = "PATH")]
    pub hash_key_file: Option<PathBuf>,

    /// Leave client commands (opensmtpd.command) out of documents.
    #[arg(long, global = true)]
    pub drop_commands: bool,

    /// Write a self-metrics document this often (0: never); one is also
    /// written at exit.
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 60)]
    pub stats_interval: u64,

    #[command(subcommand)]
    /// Replay instead of running under smtpd.
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Read a recorded report stream and write its documents (to stdout by
    /// default); no protocol lines are printed.
    Replay {
        /// Input files; `-` or none means stdin.
        files: Vec<PathBuf>,
    },
    /// Check what starting under smtpd with these options would find
    /// (options, hash key file, output), as smtpd's filter user; exits 1
    /// on a problem.
    Check,
    /// Summarize filter-jsonlog documents (plain or gzip files, syslog
    /// lines), joined to smtpd's mail log when given too, as text, JSON or
    /// HTML; the filter options do not apply.
    #[cfg(feature = "report")]
    Report(ReportArgs),
}

#[cfg(feature = "report")]
/// `report`'s own flags (shown under their own heading: clap also lists
/// the filter's global flags, which do not apply).
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "Report options")]
// The fields' doc comments are clap's --help text: their brackets are
// literal, not rustdoc links.
#[allow(rustdoc::broken_intra_doc_links)]
pub struct ReportArgs {
    /// Count documents at or after this time (UTC): YYYY-MM-DD[THH:MM[:SS]],
    /// today, yesterday, now or -N[mhd].
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Count documents before this time (same forms as --since).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Rows per table (1 to 10000: each table keeps 20 times as many keys,
    /// and memory is bounded by them).
    #[arg(long, value_name = "N", default_value_t = 10,
          value_parser = clap::value_parser!(u16).range(1..=MAX_TOP as i64))]
    pub top: u16,
    /// text (for a cron mail), json or html (one self-contained page).
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t)]
    pub format: ReportFormat,
    /// Files of documents and smtpd's mail log (/var/log/mail.log,
    /// /var/log/maillog), plain or gzip, in any order; `-` or none means
    /// stdin.
    pub files: Vec<PathBuf>,
}

/// The largest `--top`: 20 times as many keys per table are kept, and
/// memory is bounded by them (about 200,000 keys per table at most).
pub const MAX_TOP: u16 = 10_000;

/// `--address-privacy`: clap takes only these, and every one maps to a
/// policy (no catch-all).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum AddressPrivacy {
    /// Addresses as sent.
    #[default]
    Keep,
    /// Keyed hash of the local part, domain kept.
    HashLocal,
    /// Keyed hash of the whole address.
    Hash,
    /// `redacted` for the local part, domain kept.
    RedactLocal,
}

impl AddressPrivacy {
    /// The policy it names.
    pub fn policy(self) -> AddressPolicy {
        match self {
            AddressPrivacy::Keep => AddressPolicy::Keep,
            AddressPrivacy::HashLocal => AddressPolicy::HashLocal,
            AddressPrivacy::Hash => AddressPolicy::Hash,
            AddressPrivacy::RedactLocal => AddressPolicy::RedactLocal,
        }
    }
}

/// `--user-privacy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum UserPrivacy {
    /// User names as sent.
    #[default]
    Keep,
    /// Keyed hash.
    Hash,
    /// `redacted`.
    Redact,
}

impl UserPrivacy {
    /// The policy it names.
    pub fn policy(self) -> UserPolicy {
        match self {
            UserPrivacy::Keep => UserPolicy::Keep,
            UserPrivacy::Hash => UserPolicy::Hash,
            UserPrivacy::Redact => UserPolicy::Redact,
        }
    }
}

/// `report --format`.
#[cfg(feature = "report")]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Plain text for a cron mail.
    #[default]
    Text,
    /// One JSON object.
    Json,
    /// One self-contained HTML page.
    Html,
}

/// The name a value has on the command line (`hash-local`).
pub fn flag_name(value: impl ValueEnum) -> String {
    value
        .to_possible_value()
        .map_or_else(String::new, |v| v.get_name().to_string())
}

#[cfg(feature = "report")]
impl ReportArgs {
    /// The report's options.
    pub fn options(&self) -> Result<crate::report::Options, crate::report::BadTime> {
        let time = |t: &Option<String>| t.as_deref().map(crate::report::parse_time).transpose();
        Ok(crate::report::Options {
            since: time(&self.since)?,
            until: time(&self.until)?,
            top: usize::from(self.top),
            format: match self.format {
                ReportFormat::Text => crate::report::Format::Text,
                ReportFormat::Json => crate::report::Format::Json,
                ReportFormat::Html => crate::report::Format::Html,
            },
            inputs: if self.files.is_empty() {
                vec![None]
            } else {
                self.files
                    .iter()
                    .map(|f| (f.as_os_str() != "-").then(|| f.clone()))
                    .collect()
            },
        })
    }
}

impl Args {
    /// Validates the flags into a configuration.
    pub fn config(&self) -> Result<Config, ConfigError> {
        let mode = match &self.command {
            None | Some(Command::Check) => Mode::Filter,
            Some(Command::Replay { files }) if files.is_empty() => Mode::Replay(vec![None]),
            #[cfg(feature = "report")]
            Some(Command::Report(_)) => return Err(ConfigError::NotFilter),
            Some(Command::Replay { files }) => Mode::Replay(
                files
                    .iter()
                    .map(|f| (f.as_os_str() != "-").then(|| f.clone()))
                    .collect(),
            ),
        };
        let output = match (self.output.as_deref(), &mode) {
            (None, Mode::Replay(_)) | (Some("stdout"), Mode::Replay(_)) => Target::Stdout,
            (Some("stdout"), Mode::Filter) => return Err(ConfigError::StdoutInFilterMode),
            (None | Some("syslog"), _) => Target::Syslog {
                socket: self.syslog_socket.clone(),
                facility: crate::sink::syslog_facility(&self.facility)
                    .ok_or_else(|| ConfigError::UnknownFacility(self.facility.clone()))?,
            },
            (Some(other), _) => match other.strip_prefix("file:") {
                Some(path) if !path.is_empty() => Target::File(PathBuf::from(path)),
                _ => return Err(ConfigError::UnknownOutput(other.to_string())),
            },
        };
        if self.max_line_bytes < document::MIN_MAX_BYTES {
            return Err(ConfigError::MaxLineTooSmall(self.max_line_bytes));
        }
        // A smaller queue cannot hold a batch of documents while the
        // writer delivers the one before: most documents would be dropped
        // into a healthy sink. (One document longer than the queue still
        // goes, alone: the bound is not tied to --max-line-bytes.)
        if self.buffer_bytes < MIN_BUFFER_BYTES {
            return Err(ConfigError::BufferTooSmall(self.buffer_bytes));
        }
        let replay = matches!(mode, Mode::Replay(_));
        let selection = Selection {
            events: Events::parse(&self.events).map_err(ConfigError::Select)?,
            ignore_sources: self
                .ignore_source
                .iter()
                .map(|c| Cidr::parse(c.trim()))
                .collect::<Result<_, _>>()
                .map_err(ConfigError::Select)?,
        };
        let key = match &self.hash_key_file {
            Some(path) => Some(
                std::fs::read(path)
                    .map_err(|e| ConfigError::KeyFile(path.clone(), e.to_string()))?,
            ),
            None => None,
        };
        let privacy = Privacy::new(
            self.address_privacy.policy(),
            self.user_privacy.policy(),
            self.drop_commands,
            key,
        )
        .map_err(ConfigError::Privacy)?;
        Ok(Config {
            mode,
            output,
            pipeline: PipelineConfig {
                limits: Limits {
                    max_sessions: self.max_sessions.max(1),
                    idle_timeout_secs: self.idle_timeout,
                },
                document: document::Options {
                    max_bytes: self.max_line_bytes,
                },
                close_at_end: true,
                selection,
                privacy,
                stats_at_end: !replay && self.stats_interval > 0,
                live_clock: !replay,
            },
            delivery: DeliveryOptions {
                buffer_bytes: self.buffer_bytes,
                shutdown_grace: if replay {
                    Duration::from_secs(5)
                } else {
                    Duration::from_secs(2)
                },
                when_full: if replay {
                    WhenFull::Block
                } else {
                    WhenFull::DropNewest
                },
            },
            max_input_line: crate::input::DEFAULT_MAX_LINE,
            // Replays are about the stream, not the filter: no metrics.
            stats_interval: (!replay && self.stats_interval > 0)
                .then(|| Duration::from_secs(self.stats_interval)),
        })
    }
}
