//! The configuration, typed and validated once: what the command line
//! builds (`cli`) and what the run loop (`run`) and `check` read. It knows
//! nothing of clap, and nothing in it is parsed again later.

use crate::document;
use crate::privacy::Privacy;
use crate::select::Selection;
use crate::session::Limits;
use crate::sink::{DeliveryOptions, Target};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// What the pipeline needs to know.
#[derive(Clone, Debug, Default)]
pub struct PipelineConfig {
    /// Session table bounds.
    pub limits: Limits,
    /// Document options.
    pub document: document::Options,
    /// Write final documents for sessions still open at end of input.
    pub close_at_end: bool,
    /// Which documents to write.
    pub selection: Selection,
    /// What personal data to keep.
    pub privacy: Privacy,
    /// Write a self-metrics document at end of input.
    pub stats_at_end: bool,
    /// Idle expiry by the local clock (under smtpd) instead of the
    /// stream's timestamps (replay): a wild timestamp in one report must
    /// not end every open session.
    pub live_clock: bool,
}

/// What to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Run under smtpd.
    Filter,
    /// Replay these inputs (`None` = stdin).
    Replay(Vec<Option<PathBuf>>),
}

/// The validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Filter or replay.
    pub mode: Mode,
    /// Where documents go.
    pub output: Target,
    /// The pipeline.
    pub pipeline: PipelineConfig,
    /// The delivery policy.
    pub delivery: DeliveryOptions,
    /// The input line bound.
    pub max_input_line: usize,
    /// How often to write a self-metrics document.
    pub stats_interval: Option<Duration>,
}

/// A flag value that cannot work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// `--output stdout` in filter mode.
    StdoutInFilterMode,
    /// An `--output` value of no known form.
    UnknownOutput(String),
    /// A facility syslog does not have.
    UnknownFacility(String),
    /// `--max-line-bytes` below the minimum.
    MaxLineTooSmall(usize),
    /// `--buffer-bytes` below the minimum.
    BufferTooSmall(usize),
    /// A bad `--events` or `--ignore-source` value.
    Select(crate::select::SelectError),
    /// A privacy setting that cannot work.
    Privacy(crate::privacy::PrivacyError),
    /// The hash key file could not be read.
    KeyFile(PathBuf, String),
    /// `report` has no filter configuration.
    NotFilter,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::StdoutInFilterMode => write!(
                f,
                "--output stdout is for replay only: under smtpd, stdout is smtpd's pipe (use syslog or file:PATH)"
            ),
            ConfigError::UnknownOutput(o) => {
                write!(f, "--output {o:?}: expected syslog, file:PATH or stdout")
            }
            ConfigError::UnknownFacility(name) => write!(
                f,
                "--facility {name:?}: expected a syslog facility such as mail, daemon, local0 … local7"
            ),
            ConfigError::MaxLineTooSmall(n) => write!(
                f,
                "--max-line-bytes {n}: must be at least {}",
                document::MIN_MAX_BYTES
            ),
            ConfigError::BufferTooSmall(n) => write!(
                f,
                "--buffer-bytes {n}: must be at least {}",
                crate::cli::MIN_BUFFER_BYTES
            ),
            ConfigError::Select(e) => e.fmt(f),
            ConfigError::Privacy(e) => write!(f, "--address-privacy/--user-privacy: {e}"),
            ConfigError::KeyFile(path, e) => write!(f, "--hash-key-file {}: {e}", path.display()),
            ConfigError::NotFilter => write!(f, "report reads documents; it runs no filter"),
        }
    }
}

impl std::error::Error for ConfigError {}
