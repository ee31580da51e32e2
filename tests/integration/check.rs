//! `filter-jsonlog check` and a replay into a closed pipe, through the binary.

use crate::util::{bin, data};
use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("fj-it-check-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn check(args: &[&str]) -> (i32, String) {
    let out = Command::new(bin())
        .args(args)
        .arg("check")
        .output()
        .unwrap();
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
    )
}

#[test]
fn check_passes_when_start_would() {
    let dir = temp("ok");
    let sock = dir.join("log");
    let _syslogd = UnixDatagram::bind(&sock).unwrap();
    let key = dir.join("hash.key");
    std::fs::write(&key, [7u8; 32]).unwrap();
    let (code, out) = check(&[
        "--syslog-socket",
        sock.to_str().unwrap(),
        "--address-privacy",
        "hash-local",
        "--hash-key-file",
        key.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ok: options: output syslog"), "{out}");
    assert!(out.contains("ok: hash key file"), "{out}");
    assert!(out.contains("32 bytes"), "{out}");
    assert!(out.contains("a syslog daemon is listening"), "{out}");
    assert!(out.ends_with("check: 3 ok, 0 problems\n"), "{out}");
    // No test line was sent: a syslog daemon would write it into the JSON log.
    _syslogd.set_nonblocking(true).unwrap();
    assert!(_syslogd.recv(&mut [0u8; 64]).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_names_every_problem_and_exits_1() {
    let dir = temp("bad");
    let missing_key = dir.join("no-such.key");
    let (code, out) = check(&[
        "--syslog-socket",
        dir.join("nobody-listens").to_str().unwrap(),
        "--address-privacy",
        "hash",
        "--hash-key-file",
        missing_key.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "problem: options: --hash-key-file {}",
            missing_key.display()
        )),
        "{out}"
    );
    assert!(out.contains("problem: syslog socket"), "{out}");
    assert!(out.ends_with("check: 0 ok, 2 problems\n"), "{out}");

    let short_key = dir.join("short.key");
    std::fs::write(&short_key, b"too short").unwrap();
    let (code, out) = check(&[
        "--output",
        &format!("file:{}", dir.join("missing-dir/out.json").display()),
        "--address-privacy",
        "hash",
        "--hash-key-file",
        short_key.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("problem: options: --hash-key-file"), "{out}");
    assert!(out.contains("9 bytes"), "{out}");
    assert!(out.contains("problem: output file"), "{out}");

    let (code, out) = check(&["--output", "stdout"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("stdout is for replay only"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_of_a_file_output_leaves_nothing_behind() {
    let dir = temp("file");
    // Run as root, check also asks whether smtpd's filter user could
    // create and write the file: let it.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let path = dir.join("out.json");
    let (code, out) = check(&["--output", &format!("file:{}", path.display())]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("does not exist yet"), "{out}");
    assert!(!path.exists());
    std::fs::write(&path, b"").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    let (code, out) = check(&["--output", &format!("file:{}", path.display())]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("writable"), "{out}");
    assert_eq!(std::fs::read(&path).unwrap(), b"");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `replay … | head -n 1`: the reader closes the pipe; the replay ends at
/// once, successfully, and says nothing of dropped documents.
#[test]
fn replay_into_a_closed_pipe_ends_quietly() {
    let mut child = Command::new(bin())
        .arg("replay")
        .arg(data("captured/debian-6.8.0p2-burst.txt"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.starts_with('{'), "{first}");
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("dropped"), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
}

/// `check` says what to add to smtpd.conf (the package never edits it):
/// this binary's path with the options checked, a line smtpd itself accepts.
#[test]
fn check_prints_the_smtpd_conf_line() {
    let dir = temp("conf");
    let key = dir.join("hash key");
    std::fs::write(&key, [7u8; 32]).unwrap();
    let (_, out) = check(&[
        "--address-privacy",
        "hash-local",
        "--hash-key-file",
        key.to_str().unwrap(),
    ]);
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("smtpd.conf: filter jsonlog"))
        .unwrap_or_else(|| panic!("no smtpd.conf line: {out}"));
    let exe = std::fs::canonicalize(bin()).unwrap();
    let want = format!(
        " proc-exec \"{} --address-privacy hash-local --hash-key-file '{}'\"",
        exe.display(),
        key.display()
    );
    assert_eq!(line, want, "{out}");
    let smtpd = std::path::Path::new("/usr/sbin/smtpd");
    if !smtpd.exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true: smtpd must be installed to check the line"
        );
        eprintln!("skipped: smtpd -n on the line (no /usr/sbin/smtpd)");
        return;
    }
    let conf = dir.join("smtpd.conf");
    std::fs::write(
        &conf,
        format!(
            "filter jsonlog{line}\nlisten on 127.0.0.1 port 10999 filter jsonlog\n\
             action \"local\" mbox\nmatch from any for local action \"local\"\n"
        ),
    )
    .unwrap();
    let r = Command::new(smtpd)
        .arg("-n")
        .arg("-f")
        .arg(&conf)
        .output()
        .unwrap();
    assert!(
        r.status.success(),
        "smtpd -n refuses the line: {}{}",
        String::from_utf8_lossy(&r.stdout),
        String::from_utf8_lossy(&r.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
