//! `filter-jsonlog check [OPTIONS]`: what starting under smtpd with these
//! options would find, said before smtpd starts the filter. `smtpd -n`
//! starts no filter, and a filter that cannot start stops smtpd, so the
//! install steps run this as the user smtpd runs filters as (Debian:
//! `opensmtpd`, OpenBSD: `_smtpd`).
//!
//! It looks and touches nothing: no document is sent (a test line would
//! land in the JSON log), and an output file that does not exist yet is
//! created only to learn that it can be, then removed. A FIFO is opened
//! non-blocking (a blocking open waits for a reader for ever).
//!
//! Run as root, it is not running as smtpd's filter user: what root can
//! read, that user may not. smtpd runs a `proc-exec` filter as its
//! `SMTPD_USER` (`_smtpd` upstream and on OpenBSD, `opensmtpd` in
//! Debian's package) with that user's primary group only (`setgroups`
//! with one group), unless the filter's line names a `user`. So the key
//! file and the output file are also checked against the mode bits as
//! each of those users that exists here would meet them.

use crate::cli::Args;
use crate::config::ConfigError;
use crate::privacy::PrivacyError;
use crate::sink::Target as Output;
use rustix::io::Errno;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};

/// One thing found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// Start would get past this.
    Ok(String),
    /// Start would get past this, but something is likely not as meant.
    Warning(String),
    /// Start would fail, or documents would not arrive.
    Problem(String),
}

/// A user smtpd may run the filter as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterUser {
    /// The name.
    pub name: String,
    /// The user id.
    pub uid: u32,
    /// The primary group: the only group smtpd gives the filter.
    pub gid: u32,
}

/// The names smtpd's `SMTPD_USER` has: Debian's package, then upstream's.
const FILTER_USERS: [&str; 2] = ["opensmtpd", "_smtpd"];

/// The users of `FILTER_USERS` that `passwd` (the text of /etc/passwd)
/// has.
pub fn filter_users(passwd: &str) -> Vec<FilterUser> {
    FILTER_USERS
        .iter()
        .filter_map(|name| {
            passwd.lines().find_map(|line| {
                let mut fields = line.split(':');
                if fields.next() != Some(*name) {
                    return None;
                }
                let uid = fields.nth(1)?.parse().ok()?;
                let gid = fields.next()?.parse().ok()?;
                Some(FilterUser {
                    name: name.to_string(),
                    uid,
                    gid,
                })
            })
        })
        .collect()
}

/// What `check` is run as: `None` for a user other than root (who is
/// checked as what it is), else the filter users to check for.
fn as_root() -> Option<Vec<FilterUser>> {
    if !rustix::process::geteuid().is_root() {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    Some(filter_users(&passwd))
}

/// Read (4), write (2) or search (1) permission for `user` by the mode
/// bits (ACLs are not looked at).
fn permits(meta: &std::fs::Metadata, user: &FilterUser, bit: u32) -> bool {
    let mode = meta.mode();
    let shift = if meta.uid() == user.uid {
        6
    } else if meta.gid() == user.gid {
        3
    } else {
        0
    };
    (mode >> shift) & bit != 0
}

/// Why `user` cannot `bit` (4 read, 2 write) `path`: the first directory
/// on the way it cannot search, or the file itself (when it does not
/// exist, its directory must let the user create it). `None`: it can.
fn denied(path: &Path, user: &FilterUser, bit: u32) -> Option<String> {
    let path = std::path::absolute(path).ok()?;
    let ancestors: Vec<&Path> = path.ancestors().skip(1).collect();
    for dir in ancestors.iter().rev() {
        let meta = std::fs::metadata(dir).ok()?;
        if !permits(&meta, user, 1) {
            return Some(format!(
                "cannot enter {} (mode {:o}, owner {}:{})",
                dir.display(),
                meta.mode() & 0o7777,
                meta.uid(),
                meta.gid()
            ));
        }
    }
    let (target, bit, what) = match std::fs::metadata(&path) {
        Ok(meta) if bit == 4 => (meta, bit, "read it".to_string()),
        Ok(meta) => (meta, bit, "write it".to_string()),
        Err(_) => {
            let dir = ancestors.first()?;
            let what = format!("create it in {}", dir.display());
            (std::fs::metadata(dir).ok()?, 2, what)
        }
    };
    (!permits(&target, user, bit)).then(|| {
        format!(
            "cannot {what} (mode {:o}, owner {}:{})",
            target.mode() & 0o7777,
            target.uid(),
            target.gid()
        )
    })
}

/// As root: a problem naming the filter users that could not `bit` (4
/// read, 2 write) `path` (`what` names it).
fn as_filter_users(
    what: &str,
    path: &Path,
    bit: u32,
    users: Option<&[FilterUser]>,
) -> Option<Finding> {
    let users = users?;
    if users.is_empty() {
        return Some(Finding::Warning(format!(
            "{what} {}: check runs as root, and this system has no user {} to check it for: \
             run check as the user smtpd runs filters as",
            path.display(),
            FILTER_USERS.join(" or ")
        )));
    }
    let denied: Vec<String> = users
        .iter()
        .filter_map(|u| {
            denied(path, u, bit)
                .map(|why| format!("{} (uid {}, gid {}) {why}", u.name, u.uid, u.gid))
        })
        .collect();
    (!denied.is_empty()).then(|| {
        Finding::Problem(format!(
            "{what} {}: check runs as root, not as smtpd's filter user, and the filter user \
             cannot use it: {} (smtpd runs filters as {} unless the filter's line in \
             smtpd.conf names a user)",
            path.display(),
            denied.join("; "),
            users
                .iter()
                .map(|u| u.name.as_str())
                .collect::<Vec<_>>()
                .join(" or ")
        ))
    })
}

/// Everything `check` finds for these options, in the order start meets it.
pub fn findings(args: &Args) -> Vec<Finding> {
    findings_as(args, as_root().as_deref())
}

/// [`findings`], as root when `root_for` names the filter users to check
/// the files for.
pub fn findings_as(args: &Args, root_for: Option<&[FilterUser]>) -> Vec<Finding> {
    let mut found = Vec::new();
    let config = args.config();
    let key_failed = matches!(
        config,
        Err(ConfigError::KeyFile(..)) | Err(ConfigError::Privacy(PrivacyError::ShortKey))
    );
    let output = match &config {
        Ok(config) => {
            found.push(Finding::Ok(format!(
                "options: output {}, events {}, address privacy {}, user privacy {}, max-line-bytes {}",
                describe(&config.output, args),
                args.events,
                crate::cli::flag_name(args.address_privacy),
                crate::cli::flag_name(args.user_privacy),
                args.max_line_bytes
            )));
            probe(&config.output)
        }
        // One line for a short key: what the file holds, not the policy.
        Err(ConfigError::Privacy(PrivacyError::ShortKey)) => {
            let path = args.hash_key_file.as_deref().unwrap_or(Path::new("?"));
            let mut key = std::fs::read(path).unwrap_or_default();
            while key.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                key.pop();
            }
            found.push(Finding::Problem(format!(
                "options: --hash-key-file {}: {} bytes (without a final newline): {}",
                path.display(),
                key.len(),
                PrivacyError::ShortKey
            )));
            raw_probe(args)
        }
        Err(e) => {
            found.push(Finding::Problem(format!("options: {e}")));
            raw_probe(args)
        }
    };
    if let (Some(path), false) = (&args.hash_key_file, key_failed) {
        let hashing = matches!(
            args.address_privacy,
            crate::cli::AddressPrivacy::Hash | crate::cli::AddressPrivacy::HashLocal
        ) || args.user_privacy == crate::cli::UserPrivacy::Hash;
        found.push(
            match std::fs::metadata(path).and_then(|_| std::fs::read(path)) {
                Ok(_) if !hashing => Finding::Warning(format!(
                    "hash key file {}: no --address-privacy or --user-privacy policy hashes \
                     with it, so it is not used (addresses and user names are written as sent)",
                    path.display()
                )),
                Ok(key) => {
                    as_filter_users("hash key file", path, 4, root_for).unwrap_or_else(|| {
                        Finding::Ok(format!(
                            "hash key file {}: readable, {} bytes",
                            path.display(),
                            key.len()
                        ))
                    })
                }
                Err(e) => Finding::Problem(format!("hash key file {}: {e}", path.display())),
            },
        );
    }
    match output {
        Some(Probe::Socket(socket)) => found.push(syslog(&socket)),
        Some(Probe::File(path)) => found.push(match file(&path) {
            Finding::Ok(ok) => {
                as_filter_users("output file", &path, 2, root_for).unwrap_or(Finding::Ok(ok))
            }
            other => other,
        }),
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
    // Non-blocking, as the file sink opens it: a FIFO without a reader
    // fails at once (ENXIO) instead of waiting for one for ever.
    let open = || {
        OpenOptions::new()
            .append(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(path)
    };
    match open() {
        Ok(f) => match f.metadata() {
            Ok(m) if m.is_file() => Finding::Ok(format!("output file {shown}: writable")),
            Ok(m) if m.file_type().is_fifo() => Finding::Ok(format!(
                "output file {shown}: a FIFO with a reader: writable"
            )),
            Ok(_) => Finding::Problem(format!("output file {shown}: not a regular file or FIFO")),
            Err(e) => Finding::Problem(format!("output file {shown}: {e}")),
        },
        Err(e) if e.raw_os_error() == Some(Errno::NXIO.raw_os_error()) => Finding::Ok(format!(
            "output file {shown}: a FIFO without a reader yet: the filter keeps documents \
             (within --buffer-bytes) until one opens it"
        )),
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
    let count = |kind: fn(&Finding) -> bool| found.iter().filter(|f| kind(f)).count();
    let problems = count(|f| matches!(f, Finding::Problem(_)));
    let warnings = count(|f| matches!(f, Finding::Warning(_)));
    for f in &found {
        let _ = match f {
            Finding::Ok(text) => writeln!(out, "ok: {text}"),
            Finding::Warning(text) => writeln!(out, "warning: {text}"),
            Finding::Problem(text) => writeln!(out, "problem: {text}"),
        };
    }
    // The package never edits smtpd.conf: say what to add, with this
    // binary's own path and the options checked.
    let _ = writeln!(out, "smtpd.conf: {}", filter_line());
    let _ = writeln!(
        out,
        "smtpd.conf: that line before the first listen line, then `filter jsonlog` on each listen line (and relay action, for smtp-out reports); `smtpd -n` checks the file"
    );
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let warned = if warnings > 0 {
        format!(", {warnings} warning{}", plural(warnings))
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "check: {} ok{warned}, {problems} problem{}",
        found.len() - problems - warnings,
        plural(problems)
    );
    problems == 0
}

/// The `filter … proc-exec` line that would start this binary with the
/// options `check` was given: smtpd runs the command through `/bin/sh -c`,
/// so a word with anything but plain characters is single-quoted.
fn filter_line() -> String {
    let exe = std::env::current_exe().map_or_else(
        |_| "/usr/libexec/opensmtpd/filter-jsonlog".to_string(),
        |p| p.to_string_lossy().into_owned(),
    );
    let mut words = vec![shell_word(&exe)];
    let mut seen_check = false;
    for arg in std::env::args_os().skip(1) {
        let arg = arg.to_string_lossy().into_owned();
        if arg == "check" && !seen_check {
            seen_check = true;
            continue;
        }
        words.push(shell_word(&arg));
    }
    format!("filter jsonlog proc-exec \"{}\"", words.join(" "))
}

fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_./:=,@+-%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''").replace('"', "\\\""))
    }
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
        let found = findings_as(
            &args(&["--syslog-socket", sock.to_str().unwrap(), "check"]),
            None,
        );
        assert!(matches!(found[0], Finding::Ok(_)), "{found:?}");
        assert!(matches!(found[1], Finding::Problem(_)), "{found:?}");
        let listener = UnixDatagram::bind(&sock).unwrap();
        let found = findings_as(
            &args(&["--syslog-socket", sock.to_str().unwrap(), "check"]),
            None,
        );
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
        let found = findings_as(&args(&["--output", &output, "check"]), None);
        assert!(
            found.iter().all(|f| matches!(f, Finding::Ok(_))),
            "{found:?}"
        );
        assert!(!path.exists());
        let bad = format!("file:{}", dir.join("no/such/dir/out.json").display());
        let found = findings_as(&args(&["--output", &bad, "check"]), None);
        assert!(
            matches!(found.last(), Some(Finding::Problem(_))),
            "{found:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn as_root_the_files_are_checked_for_the_filter_users() {
        let passwd = "root:x:0:0::/root:/bin/sh\n_smtpd:x:999:994::/var/empty:/sbin/nologin\nopensmtpd:x:102:109::/:/sbin/nologin\n";
        let users = filter_users(passwd);
        let names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(names, ["opensmtpd", "_smtpd"]);
        assert_eq!((users[0].uid, users[0].gid), (102, 109));
        let dir = std::env::temp_dir().join(format!("fj-check-root-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let key = dir.join("hash.key");
        std::fs::write(&key, [7u8; 32]).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        // Not the file's owner, not its group: the mode's last digit.
        let stranger = [FilterUser {
            name: "stranger".into(),
            uid: 54_321,
            gid: 54_321,
        }];
        let argv = [
            "--address-privacy",
            "hash",
            "--hash-key-file",
            key.to_str().unwrap(),
            "--output",
            "stdout",
            "check",
        ];
        let found = findings_as(&args(&argv), Some(&stranger));
        assert!(
            matches!(&found[1], Finding::Problem(p) if p.contains("stranger (uid 54321, gid 54321) cannot read it")),
            "{found:?}"
        );
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o604)).unwrap();
        let found = findings_as(&args(&argv), Some(&stranger));
        assert!(matches!(&found[1], Finding::Ok(_)), "{found:?}");
        // Root with none of the users: a warning, not a pass.
        let found = findings_as(&args(&argv), Some(&[]));
        assert!(matches!(&found[1], Finding::Warning(_)), "{found:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_options_are_a_problem_and_the_rest_is_still_checked() {
        let found = findings_as(
            &args(&[
                "--events",
                "no-such-event",
                "--output",
                "file:/nonexistent-dir/x.json",
                "check",
            ]),
            None,
        );
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found.iter().all(|f| matches!(f, Finding::Problem(_))));
        let found = findings_as(&args(&["--output", "stdout", "check"]), None);
        assert!(matches!(&found[..], [Finding::Problem(_)]), "{found:?}");
    }
}
