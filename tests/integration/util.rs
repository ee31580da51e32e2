//! Running the binary and reading its documents.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "../support/docs.rs"]
mod docs;
#[path = "../support/run.rs"]
mod run;
#[path = "../support/session.rs"]
mod stream;
#[path = "../support/temp.rs"]
mod temp;
pub use docs::{documents, get, HANDSHAKE};
/// The filter as a child process, shared with `tests/faults`.
#[path = "../support/filter.rs"]
pub mod filter;
use run::succeeded;
pub use run::{bin, data, run, temp};
pub use stream::session;
pub use temp::temp_dir;

/// Every leaf as (dotted path, value); array elements share their array's path.
pub fn leaves(doc: &Value) -> Vec<(String, Value)> {
    fn walk(prefix: &str, v: &Value, out: &mut Vec<(String, Value)>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&path, v, out);
                }
            }
            Value::Array(items) => {
                for item in items {
                    walk(prefix, item, out);
                }
            }
            leaf => out.push((prefix.to_string(), leaf.clone())),
        }
    }
    let mut out = Vec::new();
    walk("", doc, &mut out);
    out
}

/// Every stream the repository ships: hand-built and captured.
pub fn streams() -> Vec<PathBuf> {
    let mut all = Vec::new();
    for dir in ["streams", "captured"] {
        if let Ok(entries) = std::fs::read_dir(data(dir)) {
            for e in entries.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "txt") {
                    all.push(p);
                }
            }
        }
    }
    all.sort();
    all
}

/// Replays `file` and returns stdout.
pub fn replay(file: &Path) -> Vec<u8> {
    let out = Command::new(bin())
        .arg("replay")
        .arg(file)
        .output()
        .expect("run replay");
    succeeded(&out);
    out.stdout
}

/// What a stream gave in replay mode and in filter mode.
pub struct BothModes {
    /// The session documents (the same in both modes, checked).
    pub docs: Vec<Value>,
    /// Every byte either mode wrote: replay's stdout and filter mode's file.
    pub written: Vec<u8>,
    /// Both modes' stderr.
    pub stderr: Vec<u8>,
}

/// Replay mode, then filter mode with the same flags: the session documents
/// must be the same.
pub fn both_modes(args: &[&str], input: &[u8]) -> BothModes {
    let mut replay_args = vec!["replay"];
    replay_args.extend_from_slice(args);
    let replayed = run(&replay_args, input);
    succeeded(&replayed);
    let docs = documents(&replayed.stdout);

    let out_file = temp("both-modes.json");
    let target = format!("file:{}", out_file.display());
    let mut filter_args = vec!["--output", &target];
    filter_args.extend_from_slice(args);
    let mut stdin = Vec::new();
    if !input.starts_with(b"config|") {
        stdin.extend_from_slice(HANDSHAKE.as_bytes());
    }
    stdin.extend_from_slice(input);
    let filtered = run(&filter_args, &stdin);
    succeeded(&filtered);
    assert_eq!(
        String::from_utf8_lossy(&filtered.stdout),
        "register|report|smtp-in|*\nregister|ready\n"
    );
    let file = std::fs::read(&out_file).unwrap();
    let from_filter: Vec<Value> = documents(&file)
        .into_iter()
        .filter(|d| get(d, "event.kind") == "event")
        .collect();
    let _ = std::fs::remove_file(out_file);
    assert_eq!(docs, from_filter, "replay and filter mode agree");
    let mut written = replayed.stdout;
    written.extend_from_slice(&file);
    let mut stderr = replayed.stderr;
    stderr.extend_from_slice(&filtered.stderr);
    BothModes {
        docs,
        written,
        stderr,
    }
}

/// Standard base64 with padding (RFC 4648), as SASL clients send it: the
/// tests build the secrets they then look for.
const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub fn base64(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
