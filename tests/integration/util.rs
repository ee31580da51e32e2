//! Running the binary and reading its documents.

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_filter-jsonlog")
}

pub fn data(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path)
}

/// Runs the binary with `args`, feeding `stdin`.
pub fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(bin())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn filter-jsonlog");
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

/// Every line of `text` as JSON; panics (showing the line) on anything else.
pub fn documents(text: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(text).expect("output is ASCII");
    assert!(text.is_ascii());
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// A field by dotted path.
pub fn get<'a>(doc: &'a Value, path: &str) -> &'a Value {
    let mut v = doc;
    for part in path.split('.') {
        match v.get(part) {
            Some(next) => v = next,
            None => return &Value::Null,
        }
    }
    v
}

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
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}
