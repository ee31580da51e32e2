//! filter-jsonlog: see the library crate for how it works.

use clap::Parser;
use filter_jsonlog::cli::{Args, Command};
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
    if let Some(filter_jsonlog::cli::Command::Report(report)) = &args.command {
        return report_main(report);
    }
    if matches!(args.command, Some(Command::Check)) {
        let ok = filter_jsonlog::check::run(&args, std::io::stdout().lock());
        return if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        };
    }
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

/// `report`: the figures to stdout; exit 1 when an input could not be read
/// (the report is still written), 2 on bad flags.
fn report_main(args: &filter_jsonlog::cli::ReportArgs) -> ExitCode {
    let options = match args.options() {
        Ok(o) => o,
        Err(e) => {
            say(&format!("report: {e}"));
            return ExitCode::from(2);
        }
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match filter_jsonlog::report::run(&options, &mut out) {
        Ok(outcome) if outcome.unreadable_inputs == 0 => ExitCode::SUCCESS,
        Ok(_) => {
            say("report: some inputs could not be read (see the report's input section)");
            ExitCode::from(1)
        }
        Err(e) => {
            say(&format!("report: {e}"));
            ExitCode::from(1)
        }
    }
}
