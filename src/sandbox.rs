//! OpenBSD: once the output is open, the filter gives up what it no longer
//! needs, with pledge(2) and unveil(2).
//!
//! What is left is what the sinks do after they opened: write, poll and
//! read the clock (`stdio`); reconnect to the syslog socket and raise its
//! send buffer (`unix`: setsockopt at `SOL_SOCKET` needs it); look at,
//! reopen and create the output file after a rotation (`rpath wpath
//! cpath`), and on the file system nothing but that one path. `error`:
//! a system call outside the promises fails with an error instead of
//! killing the process, because smtpd stops when its filter dies, and every
//! sink step already treats a failed call as "output unavailable".
//!
//! The promises are worked out on every platform (and tested on Linux);
//! only the two system calls are OpenBSD's. OpenBSD is not run in CI.

use crate::sink::Target;
use std::path::PathBuf;

/// What the filter keeps for a given output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Restriction {
    /// pledge(2)'s promises.
    pub promises: &'static str,
    /// unveil(2)'s paths and their permissions; nothing else stays visible.
    pub paths: Vec<(PathBuf, &'static str)>,
}

/// The restriction for `target`, an output already opened.
pub fn restriction(target: &Target) -> Restriction {
    match target {
        // connect(2) to a unix socket needs the socket's path unveiled for
        // writing.
        Target::Syslog { socket, .. } => Restriction {
            promises: "stdio unix error",
            paths: vec![(socket.clone(), "w")],
        },
        // The file may be renamed away and created anew (rotation), or
        // removed and created before the next write.
        Target::File(path) => Restriction {
            promises: "stdio rpath wpath cpath error",
            paths: vec![(path.clone(), "rwc")],
        },
        Target::Stdout => Restriction {
            promises: "stdio error",
            paths: Vec::new(),
        },
    }
}

/// Why the process could not be restricted.
#[derive(Debug)]
pub struct SandboxError(pub String);

impl std::fmt::Display for SandboxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SandboxError {}

/// Applies `restriction` to the whole process: unveil(2) for each path,
/// then pledge(2), which also locks unveil (no `unveil` promise).
#[cfg(target_os = "openbsd")]
pub fn apply(restriction: &Restriction) -> Result<(), SandboxError> {
    use std::os::unix::ffi::OsStrExt;
    for (path, permissions) in &restriction.paths {
        unveil::unveil(path.as_os_str().as_bytes(), permissions)
            .map_err(|e| SandboxError(format!("unveil {}: {e}", path.display())))?;
    }
    pledge::pledge(restriction.promises, None)
        .map_err(|e| SandboxError(format!("pledge \"{}\": {e}", restriction.promises)))
}

/// Elsewhere there is nothing to apply.
#[cfg(not(target_os = "openbsd"))]
pub fn apply(_restriction: &Restriction) -> Result<(), SandboxError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syslog_keeps_the_socket_and_nothing_on_disk() {
        let r = restriction(&Target::Syslog {
            socket: PathBuf::from("/dev/log"),
            facility: 2,
        });
        assert_eq!(r.promises, "stdio unix error");
        assert_eq!(r.paths, vec![(PathBuf::from("/dev/log"), "w")]);
    }

    #[test]
    fn file_keeps_its_path_for_rotation() {
        let r = restriction(&Target::File(PathBuf::from("/var/log/smtpd.json")));
        assert_eq!(r.promises, "stdio rpath wpath cpath error");
        assert_eq!(r.paths, vec![(PathBuf::from("/var/log/smtpd.json"), "rwc")]);
    }

    #[test]
    fn stdout_keeps_no_path() {
        let r = restriction(&Target::Stdout);
        assert_eq!(r.promises, "stdio error");
        assert!(r.paths.is_empty());
    }

    #[test]
    fn promises_are_openbsd_names() {
        const KNOWN: [&str; 6] = ["stdio", "rpath", "wpath", "cpath", "unix", "error"];
        for target in [
            Target::Syslog {
                socket: PathBuf::from("/dev/log"),
                facility: 2,
            },
            Target::File(PathBuf::from("x")),
            Target::Stdout,
        ] {
            for promise in restriction(&target).promises.split(' ') {
                assert!(KNOWN.contains(&promise), "{promise}");
            }
        }
    }
}
