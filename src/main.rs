//! filter-jsonlog: see the library crate for how it works.

use clap::Parser;
use filter_jsonlog::cli::Args;
use filter_jsonlog::signals::Signals;
use std::io::Write;
use std::process::ExitCode;

/// stderr is a socket to smtpd; when smtpd is gone, writing to it fails,
/// and `eprintln!` would panic on that. Say it if we can, quietly if not.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "filter-jsonlog: {line}");
}

fn main() -> ExitCode {
    // Before anything else: until then, SIGHUP or SIGTERM would end the
    // process, and smtpd with it.
    let signals = match Signals::install() {
        Ok(signals) => signals,
        Err(e) => {
            say(&format!("cannot start: signal handlers: {e}"));
            return ExitCode::from(1);
        }
    };
    let args = Args::parse();
    let result = args.config().map_err(|e| e.to_string()).and_then(|config| {
        filter_jsonlog::run::start(&config, &signals).map_err(|e| e.to_string())
    });
    match result {
        Ok(summary) => {
            say(&summary.line());
            if summary.output_failed {
                say("the output failed: documents were not delivered");
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            say(&e);
            ExitCode::from(1)
        }
    }
}
