//! filter-jsonlog: see the library crate for how it works.

use clap::Parser;
use filter_jsonlog::cli::Args;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = Args::parse();
    let result = args
        .config()
        .map_err(|e| e.to_string())
        .and_then(|config| filter_jsonlog::run::start(&config).map_err(|e| e.to_string()));
    match result {
        Ok(summary) => {
            eprintln!("filter-jsonlog: {}", summary.line());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("filter-jsonlog: {e}");
            ExitCode::from(1)
        }
    }
}
