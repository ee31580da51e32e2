//! filter-jsonlog: see the library crate for how it works.

use clap::Parser;
use filter_jsonlog::cli::{Args, Command};
use std::io::Write;
use std::process::ExitCode;

/// stderr is a socket to smtpd; when smtpd is gone, writing to it fails,
/// and `eprintln!` would panic on that. Say it if we can, quietly if not.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "filter-jsonlog: {line}");
}

fn main() -> ExitCode {
    let args = Args::parse();
    if matches!(args.command, Some(Command::Check)) {
        let ok = filter_jsonlog::check::run(&args, std::io::stdout().lock());
        return if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        };
    }
    let result = args
        .config()
        .map_err(|e| e.to_string())
        .and_then(|config| filter_jsonlog::run::start(&config).map_err(|e| e.to_string()));
    match result {
        Ok(summary) => {
            say(&summary.line());
            ExitCode::SUCCESS
        }
        Err(e) => {
            say(&e);
            ExitCode::from(1)
        }
    }
}
