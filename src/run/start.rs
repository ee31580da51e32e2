//! Setting up: the inputs, the sink, the writer thread, then the loop.

use super::{filter, replay, Summary};
use crate::document;
use crate::stats::Counters;
use std::io::{self, Read};
use std::sync::Arc;
use std::time::SystemTime;

/// Why the filter could not start.
#[derive(Debug)]
pub enum StartError {
    /// The output could not be opened.
    Output(crate::sink::SinkError),
    /// A replay input could not be opened.
    Input(std::path::PathBuf, io::Error),
    /// The writer thread or the signal handler could not be set up.
    Setup(io::Error),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Output(e) => write!(f, "cannot open the output: {e}"),
            StartError::Input(path, e) => write!(f, "cannot read {}: {e}", path.display()),
            StartError::Setup(e) => write!(f, "cannot start: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// Runs the configured mode to the end of input (or SIGTERM).
pub fn start(
    config: &crate::config::Config,
    signals: &crate::signals::Signals,
) -> Result<Summary, StartError> {
    use crate::config::Mode;
    use crate::sink::Delivery;

    let inputs: Vec<Box<dyn Read>> = match &config.mode {
        Mode::Filter => Vec::new(),
        Mode::Replay(files) => files
            .iter()
            .map(|file| -> Result<Box<dyn Read>, StartError> {
                match file {
                    None => signals
                        .stdin()
                        .map(|i| Box::new(i) as Box<dyn Read>)
                        .map_err(StartError::Setup),
                    Some(path) => std::fs::File::open(path)
                        .map(|f| Box::new(f) as Box<dyn Read>)
                        .map_err(|e| StartError::Input(path.clone(), e)),
                }
            })
            .collect::<Result<_, _>>()?,
    };
    let sink = crate::sink::open(&config.output, config.pipeline.document.max_bytes)
        .map_err(StartError::Output)?;
    let counters = Arc::new(Counters::default());
    let ticker = config.stats_interval.map(|every| {
        let counters = Arc::clone(&counters);
        let make: crate::sink::Ticker = Box::new(move |delivery, out| {
            let metrics = document::Metrics {
                counters: &counters,
                delivery,
                dropped_since_last: 0,
            };
            // Counted before it is made: its `documents` counts itself.
            counters
                .metric_documents
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            document::render_metrics(&metrics, "stats", SystemTime::now(), out);
        });
        (every, make)
    });
    let stdin = match config.mode {
        Mode::Filter => {
            let mut stdin = signals.stdin().map_err(StartError::Setup)?;
            stdin.set_stop_grace(config.delivery.shutdown_grace);
            Some(stdin)
        }
        Mode::Replay(_) => None,
    };
    let delivery = Delivery::start(sink, config.delivery, Arc::clone(&signals.reopen), ticker)
        .map_err(StartError::Setup)?;
    if stdin.is_some() {
        // Under smtpd, from here on only what the open output needs
        // (OpenBSD; nothing elsewhere). Not being able to give up rights is
        // no reason to stop smtpd: said once, and the filter goes on.
        if let Err(e) = crate::sandbox::apply(&crate::sandbox::restriction(&config.output)) {
            use std::io::Write;
            let _ = writeln!(io::stderr().lock(), "filter-jsonlog: not restricted: {e}");
        }
    }
    let stop = signals.stop_flag();
    Ok(match stdin {
        Some(stdin) => filter(
            &config.pipeline,
            stdin,
            io::stdout(),
            delivery,
            config.max_input_line,
            counters,
            &stop,
        ),
        None => replay(
            &config.pipeline,
            inputs,
            delivery,
            config.max_input_line,
            counters,
            &stop,
        ),
    })
}
