//! `filter-jsonlog report` speed and memory: not a timed test, a report.
//!
//! ```text
//! cargo bench --bench report            # about a minute
//! cargo bench --bench report -- --quick # a fifth of the sizes
//! ```
//!
//! Generates report streams (`examples/gen-stream.rs`), turns them into
//! documents with the release binary (`replay --events all|summaries`),
//! then measures:
//!
//! 1. MB of JSON per second through the report's reader and aggregation on
//!    one thread, in process (`report::json_of` over bytes in memory), best
//!    of three, for both presets and for gzip input (MB of uncompressed
//!    JSON per second);
//! 2. the binary over a file (`report --format json FILE`, page cache warm):
//!    wall time, user CPU time and peak RSS (`/usr/bin/time`);
//! 3. peak RSS for 1x and 4x as many sessions: memory is bounded by the
//!    keys kept, not by the input;
//! 4. the worst case for memory: documents where every sender, recipient,
//!    domain, client and session is new, 250,000 and 1,000,000 sessions
//!    piped to the binary: peak RSS stays at the tables' caps.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[allow(dead_code)]
#[path = "../examples/gen-stream.rs"]
mod gen_stream;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_filter-jsonlog");

fn documents(dir: &Path, name: &str, sessions: u64, preset: &str) -> PathBuf {
    let stream = dir.join(format!("{name}.stream"));
    let opts = gen_stream::Options {
        sessions,
        concurrency: 100,
        seed: 7,
        ..gen_stream::Options::default()
    };
    let mut w = std::io::BufWriter::new(fs::File::create(&stream).unwrap());
    gen_stream::generate(&opts, &mut w).unwrap();
    w.flush().unwrap();
    drop(w);
    let docs = dir.join(format!("{name}.{preset}.json"));
    let status = Command::new(BIN)
        .args(["replay", "--events", preset])
        .arg(&stream)
        .stdout(fs::File::create(&docs).unwrap())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    fs::remove_file(&stream).unwrap();
    docs
}

/// Best of three, in MB/s of `size` bytes.
fn best(size: usize, mut f: impl FnMut() -> serde_json::Value) -> (f64, serde_json::Value) {
    let mut rate: f64 = 0.0;
    let mut last = serde_json::Value::Null;
    for _ in 0..3 {
        let t = Instant::now();
        last = f();
        rate = rate.max(size as f64 / t.elapsed().as_secs_f64() / 1e6);
    }
    (rate, last)
}

/// Runs the binary over `file`: (wall s, user s, peak RSS KiB).
fn binary(file: &Path) -> (f64, f64, u64) {
    let rss = file.with_extension("time");
    let t = Instant::now();
    let status = Command::new("/usr/bin/time")
        .args(["-f", "%U %M", "-o"])
        .arg(&rss)
        .arg(BIN)
        .args(["report", "--format", "json"])
        .arg(file)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    let wall = t.elapsed().as_secs_f64();
    assert!(status.success());
    let text = fs::read_to_string(&rss).unwrap();
    let mut f = text.split_whitespace();
    let user = f.next().unwrap().parse().unwrap();
    let kib = f.next().unwrap().parse().unwrap();
    (wall, user, kib)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let scale = if quick { 5 } else { 1 };
    let dir = std::env::temp_dir().join(format!(
        "filter-jsonlog-report-bench-{}",
        std::process::id()
    ));
    fs::create_dir_all(&dir).unwrap();
    println!("binary: {BIN}");
    let has_time = Path::new("/usr/bin/time").exists();

    println!("\n1. in process, one thread (best of 3)");
    println!(
        "{:<28} {:>10} {:>10} {:>10}",
        "input", "MB", "documents", "MB/s"
    );
    let mut files = Vec::new();
    for (preset, sessions) in [("all", 5_000 / scale), ("summaries", 40_000 / scale)] {
        let file = documents(&dir, "mix", sessions, preset);
        let bytes = fs::read(&file).unwrap();
        let (rate, v) = best(bytes.len(), || filter_jsonlog::report::json_of(&bytes, 10));
        assert_eq!(v["input"]["not_documents"], 0);
        println!(
            "{:<28} {:>10.1} {:>10} {:>10.0}",
            format!("--events {preset}"),
            bytes.len() as f64 / 1e6,
            v["input"]["documents"],
            rate
        );
        if preset == "all" {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(&bytes).unwrap();
            let gz = gz.finish().unwrap();
            let (rate, v2) = best(bytes.len(), || filter_jsonlog::report::json_of(&gz, 10));
            assert_eq!(v2["sessions"], v["sessions"]);
            println!(
                "{:<28} {:>10.1} {:>10} {:>10.0}",
                format!("--events {preset}, gzip ({:.0} MB)", gz.len() as f64 / 1e6),
                bytes.len() as f64 / 1e6,
                v2["input"]["documents"].as_u64().unwrap(),
                rate
            );
        }
        files.push((preset, file, bytes.len()));
    }

    if !has_time {
        println!("\n(no /usr/bin/time: binary runs and RSS skipped)");
        return;
    }
    println!("\n2. the binary over a file (report --format json FILE)");
    println!(
        "{:<28} {:>10} {:>10} {:>12} {:>10}",
        "input", "wall s", "user s", "MB/s (user)", "peak RSS"
    );
    for (preset, file, size) in &files {
        let (wall, user, kib) = binary(file);
        println!(
            "{:<28} {:>10.2} {:>10.2} {:>12.0} {:>7} MiB",
            format!("--events {preset}"),
            wall,
            user,
            *size as f64 / user.max(0.001) / 1e6,
            kib / 1024
        );
    }

    println!("\n3. peak RSS against input size (--events summaries)");
    for factor in [1, 4] {
        let file = documents(
            &dir,
            &format!("x{factor}"),
            factor * 40_000 / scale,
            "summaries",
        );
        let size = fs::metadata(&file).unwrap().len();
        let (_, _, kib) = binary(&file);
        println!(
            "{:>6} sessions, {:>7.1} MB: peak RSS {} MiB",
            factor * 40_000 / scale,
            size as f64 / 1e6,
            kib / 1024
        );
    }

    println!("\n4. every key distinct (synthetic summaries, piped)");
    for sessions in [250_000 / scale, 1_000_000 / scale] {
        let (bytes, kib) = distinct_keys(sessions);
        println!(
            "{sessions:>8} sessions, {:>7.1} MB: peak RSS {} MiB",
            bytes as f64 / 1e6,
            kib / 1024
        );
    }
    let _ = fs::remove_dir_all(&dir);
}

/// One tx-commit and one link-disconnect per session, every key new.
fn distinct_keys(sessions: u64) -> (u64, u64) {
    let rss = std::env::temp_dir().join(format!("report-bench-rss-{}", std::process::id()));
    let mut child = Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(&rss)
        .arg(BIN)
        .args(["report", "--format", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut w = std::io::BufWriter::with_capacity(1 << 20, child.stdin.take().unwrap());
    let mut bytes = 0u64;
    for n in 0..sessions {
        let ip = format!("10.{}.{}.{}", n >> 16 & 255, n >> 8 & 255, n & 255);
        let t = format!(
            "2026-11-25T{:02}:{:02}:{:02}.000000Z",
            n / 3600 % 24,
            n / 60 % 60,
            n % 60
        );
        let commit = format!(
            r#"{{"@timestamp":"{t}","event":{{"action":"tx-commit","dataset":"opensmtpd.jsonlog","kind":"event","module":"opensmtpd","sequence":30}},"source":{{"ip":"{ip}","port":40000,"domain":"host{n}.client{n}.test"}},"tls":{{"established":true}},"opensmtpd":{{"subsystem":"smtp-in","session":{{"id":"{n:016x}"}},"transaction":{{"msgid":"{m:08x}","status":"committed","mail":{{"address":"sender{n}@from{n}.test","result":"ok"}},"rcpt":[{{"address":"rcpt{n}@to{n}.test","result":"ok"}},{{"address":"nobody{n}@to{n}.test","result":"permfail"}}],"rcpt_accepted":1,"rcpt_refused":1,"size":2048}}}}}}"#,
            m = n as u32
        );
        let disconnect = format!(
            r#"{{"@timestamp":"{t}","event":{{"action":"link-disconnect","dataset":"opensmtpd.jsonlog","kind":"event","module":"opensmtpd","sequence":40}},"source":{{"ip":"{ip}","port":40000,"domain":"host{n}.client{n}.test"}},"tls":{{"established":true,"version":"1.3"}},"user":{{"name":"user{n}"}},"opensmtpd":{{"subsystem":"smtp-in","session":{{"id":"{n:016x}","final":true}},"fcrdns":"fail","auth":{{"result":"fail"}},"timeout":true,"counters":{{"messages":1,"recipients_refused":1,"connects":1,"filter_verdicts":1}}}}}}"#
        );
        for doc in [commit, disconnect] {
            w.write_all(doc.as_bytes()).unwrap();
            w.write_all(b"\n").unwrap();
            bytes += doc.len() as u64 + 1;
        }
    }
    w.flush().unwrap();
    drop(w);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sessions"]["smtp_in"], sessions, "{}", v["input"]);
    assert_eq!(v["messages"]["accepted"], sessions);
    assert_eq!(v["unique"]["exact"], sessions <= 100_000);
    let kib = fs::read_to_string(&rss).unwrap().trim().parse().unwrap();
    let _ = fs::remove_file(&rss);
    (bytes, kib)
}
