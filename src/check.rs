//! `filter-jsonlog check [OPTIONS]`: what starting under smtpd with these
//! options would find, said before smtpd starts the filter. `smtpd -n`
//! starts no filter, and a filter that cannot start stops smtpd, so the
//! install steps run this as the user smtpd runs filters as (Debian:
//! `opensmtpd`, OpenBSD: `_smtpd`).
//!
//! It looks and touches nothing: no document is sent (a test line would
//! land in the JSON log), and an output file that does not exist yet is
//! created only to learn that it can be, then removed.

use crate::cli::Args;
use crate::config::ConfigError;
use crate::sink::Target as Output;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};

/// One thing found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// Start would get past this.
    Ok(String),
    /// Start would fail, or documents would not arrive.
    Problem(String),
}

/// Everything `check` finds for these options, in the order start meets it.
pub fn findings(args: &Args) -> Vec<Finding> {
    let mut found = Vec::new();
    let config = args.config();
    let key_failed = matches!(config, Err(ConfigError::KeyFile(..)));
    let output = match &config {
        Ok(config) => {
            found.push(Finding::Ok(format!(
                "options: output {}, events {}, address privacy {}, user privacy {}, max-line-bytes {}",
                describe(&config.output, args),
                args.events,
                args.address_privacy,
                args.user_privacy,
                args.max_line_bytes
            )));
            probe(&config.output)
        }
        Err(e) => {
            found.push(Finding::Problem(format!("options: {e}")));
            raw_probe(args)
        }
    };
    if let (Some(path), false) = (&args.hash_key_file, key_failed) {
        found.push(
            match std::fs::metadata(path).and_then(|_| std::fs::read(path)) {
                Ok(key) => Finding::Ok(format!(
                    "hash key file {}: readable, {} bytes",
                    path.display(),
                    key.len()
                )),
                Err(e) => Finding::Problem(format!("hash key file {}: {e}", path.display())),
            },
        );
    }
    match output {
        Some(Probe::Socket(socket)) => found.push(syslog(&socket)),
        Some(Probe::File(path)) => found.push(file(&path)),
        None => {}
    }
    found
}

/// What of an output can be looked at before start.
enum Probe {
    /// A syslog socket: is a daemon listening?
    Socket(PathBuf),
    /// An output file: can it be written?
    File(PathBuf),
}

fn probe(output: &Output) -> Option<Probe> {
    match output {
        Output::Syslog { socket, .. } => Some(Probe::Socket(socket.clone())),
        Output::File(path) => Some(Probe::File(path.clone())),
        Output::Stdout => None,
    }
}

fn describe(output: &Output, args: &Args) -> String {
    match output {
        Output::Syslog { socket, .. } => {
            format!("syslog {} facility {}", socket.display(), args.facility)
        }
        Output::File(path) => format!("file {}", path.display()),
        Output::Stdout => "stdout".into(),
    }
}

/// What the flags name to look at, when the options as a whole are refused.
fn raw_probe(args: &Args) -> Option<Probe> {
    match args.output.as_deref() {
        None | Some("syslog") => Some(Probe::Socket(args.syslog_socket.clone())),
        Some(other) => other
            .strip_prefix("file:")
            .filter(|p| !p.is_empty())
            .map(|p| Probe::File(PathBuf::from(p))),
    }
}

fn syslog(socket: &Path) -> Finding {
    let dgram = UnixDatagram::unbound().and_then(|s| s.connect(socket));
    match dgram.or_else(|e| UnixStream::connect(socket).map(|_| ()).map_err(|_| e)) {
        Ok(()) => Finding::Ok(format!(
            "syslog socket {}: a syslog daemon is listening",
            socket.display()
        )),
        Err(e) => Finding::Problem(format!(
            "syslog socket {}: {e} (the filter would start and keep documents for a \
             while, but none reaches a log until a syslog daemon listens there)",
            socket.display()
        )),
    }
}

fn file(path: &Path) -> Finding {
    let shown = path.display();
    match OpenOptions::new().append(true).open(path) {
        Ok(f) => match f.metadata() {
            Ok(m) if m.is_file() => Finding::Ok(format!("output file {shown}: writable")),
            Ok(_) => Finding::Problem(format!("output file {shown}: not a regular file")),
            Err(e) => Finding::Problem(format!("output file {shown}: {e}")),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            match OpenOptions::new().append(true).create_new(true).open(path) {
                Ok(_) => {
                    let _ = std::fs::remove_file(path);
                    Finding::Ok(format!(
                        "output file {shown}: does not exist yet; its directory lets this user create it"
                    ))
                }
                Err(e) => Finding::Problem(format!("output file {shown}: cannot be created: {e}")),
            }
        }
        Err(e) => Finding::Problem(format!("output file {shown}: {e}")),
    }
}

/// Runs `check`: the findings on `out`, one per line, then a total.
/// True when nothing stands in the way.
pub fn run(args: &Args, mut out: impl Write) -> bool {
    let found = findings(args);
    let problems = found
        .iter()
        .filter(|f| matches!(f, Finding::Problem(_)))
        .count();
    for f in &found {
        let _ = match f {
            Finding::Ok(text) => writeln!(out, "ok: {text}"),
            Finding::Problem(text) => writeln!(out, "problem: {text}"),
        };
    }
    let _ = writeln!(
        out,
        "check: {} ok, {problems} problem{}",
        found.len() - problems,
        if problems == 1 { "" } else { "s" }
    );
    problems == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(argv: &[&str]) -> Args {
        Args::parse_from(std::iter::once("filter-jsonlog").chain(argv.iter().copied()))
    }

    #[test]
    fn a_socket_nobody_listens_on_is_a_problem() {
        let dir = std::env::temp_dir().join(format!("fj-check-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let sock = dir.join("nolog");
        let found = findings(&args(&["--syslog-socket", sock.to_str().unwrap(), "check"]));
        assert!(matches!(found[0], Finding::Ok(_)), "{found:?}");
        assert!(matches!(found[1], Finding::Problem(_)), "{found:?}");
        let listener = UnixDatagram::bind(&sock).unwrap();
        let found = findings(&args(&["--syslog-socket", sock.to_str().unwrap(), "check"]));
        assert!(
            found.iter().all(|f| matches!(f, Finding::Ok(_))),
            "{found:?}"
        );
        drop(listener);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_output_file_is_created_only_to_be_removed() {
        let dir = std::env::temp_dir().join(format!("fj-check-file-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("out.json");
        let output = format!("file:{}", path.display());
        let found = findings(&args(&["--output", &output, "check"]));
        assert!(
            found.iter().all(|f| matches!(f, Finding::Ok(_))),
            "{found:?}"
        );
        assert!(!path.exists());
        let bad = format!("file:{}", dir.join("no/such/dir/out.json").display());
        let found = findings(&args(&["--output", &bad, "check"]));
        assert!(
            matches!(found.last(), Some(Finding::Problem(_))),
            "{found:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_options_are_a_problem_and_the_rest_is_still_checked() {
        let found = findings(&args(&[
            "--events",
            "no-such-event",
            "--output",
            "file:/nonexistent-dir/x.json",
            "check",
        ]));
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found.iter().all(|f| matches!(f, Finding::Problem(_))));
        let found = findings(&args(&["--output", "stdout", "check"]));
        assert!(matches!(&found[..], [Finding::Problem(_)]), "{found:?}");
    }
}
