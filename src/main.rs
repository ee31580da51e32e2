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
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) => return bad_command_line(e),
    };
    let stops_at_once = match &args.command {
        Some(Command::Check) => true,
        #[cfg(feature = "report")]
        Some(Command::Report(_)) => true,
        _ => false,
    };
    if stops_at_once {
        // Only the filter and replay finish their work on SIGTERM/SIGINT;
        // `report` and `check` have nothing to finish and stop at once.
        end_on_stop(&signals);
    }
    #[cfg(feature = "report")]
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
        // `replay … | head`: the reader wants no more; nothing to say.
        Ok(summary) if summary.output_closed => ExitCode::SUCCESS,
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

/// A command line clap refuses, in one line: under smtpd, stderr is the
/// mail log, and clap's own message (error, tip, usage, hint) is seven.
/// `--help` and `--version` print as clap prints them.
fn bad_command_line(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
    }
    let text = e.to_string();
    let parts: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more"))
        .collect();
    say(&format!("{} (see --help)", parts.join("; ")));
    ExitCode::from(2)
}

/// Ends the process by the default action of SIGTERM or SIGINT once one
/// comes (the handlers installed first would only raise a flag), so that
/// a shell sees `report` and `check` die by the signal.
fn end_on_stop(signals: &Signals) {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut incoming) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
        return;
    };
    let stop = signals.stop_flag();
    let _ = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            // One that came before this thread listened.
            if stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = signal_hook::low_level::emulate_default_handler(SIGTERM);
            }
            if let Some(signal) = incoming.forever().next() {
                let _ = signal_hook::low_level::emulate_default_handler(signal);
            }
        });
}

#[cfg(feature = "report")]
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
        Ok(outcome) if outcome.unreadable_inputs == 0 => {
            for w in &outcome.warnings {
                say(&format!("report: warning: {w}"));
            }
            ExitCode::SUCCESS
        }
        Ok(_) => {
            say("report: some inputs could not be read (see the report's input section)");
            ExitCode::from(1)
        }
        // `report | head`: the reader wants no more. Unix tools end
        // quietly then, and so does the replay into a closed stdout.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            say(&format!("report: {e}"));
            ExitCode::from(1)
        }
    }
}
