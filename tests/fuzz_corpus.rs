//! The fuzzing that runs on stable, in CI: every seed under `fuzz/corpus/`
//! through the same whole-path check as the `cargo fuzz` targets, then a
//! bounded, deterministic mutation loop over those seeds (its own PRNG, so
//! a failure names an iteration that replays).
//!
//! `FUZZ_ITERATIONS=N` runs N mutations (default 200,000, stopped early
//! after `FUZZ_SECONDS`, default 15, so that a debug build stays quick);
//! `FUZZ_SEED=S` starts elsewhere.
//!
//! The filter warns on stderr, and the test harness does not capture what
//! is written there directly: each check runs in a child process of this
//! test binary whose stderr is kept and shown only when it fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "support/pipeline_check.rs"]
mod pipeline_check;

use filter_jsonlog::protocol::parse_line;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("seed-"))
        })
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, bytes)
        })
        .collect()
}

/// Runs the test `name` of this binary again in a child process (with
/// `--ignored`, so that the ignored worker runs there), stderr kept aside.
fn in_child(name: &str) {
    let exe = std::env::current_exe().expect("test binary");
    let out = std::process::Command::new(exe)
        .args([
            "--exact",
            name,
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .output()
        .expect("run the test binary");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.starts_with("filter-jsonlog:"))
        .collect();
    assert!(
        out.status.success(),
        "{name} failed:\n{}",
        tail[tail.len().saturating_sub(40)..].join("\n")
    );
    // The child ran that one test, and it passed: a wrong name would run none.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("test result: ok. 1 passed"),
        "{name} did not run:\n{stdout}"
    );
    for line in tail.iter().filter(|l| l.contains("mutated inputs")) {
        eprintln!("{line}");
    }
}

#[test]
fn seeds() {
    in_child("seeds_in_child");
}

#[test]
fn line_seeds() {
    in_child("line_seeds_in_child");
}

#[test]
fn mutations() {
    in_child("mutations_in_child");
}

#[test]
#[ignore = "the work of a test above, run in a child process with --ignored"]
fn seeds_in_child() {
    let seeds = corpus("pipeline");
    assert!(seeds.len() >= 10, "seeds missing: {}", seeds.len());
    let mut documents = 0;
    for (path, bytes) in &seeds {
        let outcome = pipeline_check::check(bytes);
        assert!(outcome.lines > 0, "{}", path.display());
        documents += outcome.documents;
    }
    assert!(documents > 1000, "{documents}");
}

#[test]
#[ignore = "the work of a test above, run in a child process with --ignored"]
fn line_seeds_in_child() {
    let seeds = corpus("parse_line");
    assert!(seeds.len() >= 10, "seeds missing: {}", seeds.len());
    for (_, bytes) in &seeds {
        let _ = parse_line(bytes);
        pipeline_check::check(bytes);
    }
}

/// xorshift64*: small, fast, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Bytes the protocol gives meaning to, and bytes it must survive.
const SPECIAL: &[&[u8]] = &[
    b"|",
    b"\n",
    b"\r",
    b"\r\n",
    b"\0",
    b"\xff",
    b"\xc3",
    b"\xe2\x82\xac",
    b"\xf0\x9f\x98",
    b".",
    b"0",
    b"9",
    b"f",
    b"\"",
    b"\\",
    b"report|0.7|",
    b"report|0.10|",
    b"config|ready",
    b"link-connect|",
    b"link-disconnect",
    b"tx-begin|",
    b"tx-rcpt|",
    b"|smtp-in|",
    b"|smtp-out|",
    b"00000001",
    b"0000000000000001",
    b"<unknown>",
];

/// A few lines of one seed, changed a few times.
fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let seed = &seeds[rng.below(seeds.len())];
    let lines: Vec<&[u8]> = seed.split(|&b| b == b'\n').collect();
    let start = rng.below(lines.len());
    let take = 1 + rng.below(6);
    let mut data: Vec<u8> = lines[start..(start + take).min(lines.len())].join(&b'\n');
    data.push(b'\n');
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(data.len() + 1);
        match rng.below(7) {
            0 => {
                if at < data.len() {
                    data[at] = rng.next() as u8;
                }
            }
            1 => {
                let special = SPECIAL[rng.below(SPECIAL.len())];
                data.splice(at..at, special.iter().copied());
            }
            2 => {
                let end = (at + 1 + rng.below(16)).min(data.len());
                data.drain(at.min(end)..end);
            }
            3 => {
                // A line of another seed spliced in.
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len());
                let end = (from + 1 + rng.below(200)).min(other.len());
                data.splice(at..at, other[from..end].iter().copied());
            }
            4 => {
                let copy = data.clone();
                data.extend_from_slice(&copy);
            }
            5 => data.truncate(at),
            _ => {
                let len = rng.below(64);
                let fill = rng.next() as u8;
                data.splice(at..at, std::iter::repeat_n(fill, len));
            }
        }
    }
    data
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
#[ignore = "the work of a test above, run in a child process with --ignored"]
fn mutations_in_child() {
    let seeds: Vec<Vec<u8>> = corpus("pipeline")
        .into_iter()
        .chain(corpus("parse_line"))
        .map(|(_, b)| b)
        .filter(|b| !b.is_empty())
        .collect();
    let iterations = env_number("FUZZ_ITERATIONS", 200_000);
    let budget = Duration::from_secs(env_number("FUZZ_SECONDS", 15));
    let seed = env_number("FUZZ_SEED", 0x5eed_f00d);
    let started = Instant::now();
    let mut rng = Rng(seed | 1);
    let mut done = 0;
    // Several mutations go through one pipeline run: fewer, longer inputs
    // reach session state that single lines never build.
    while done < iterations && started.elapsed() < budget {
        let state = rng.0;
        let mut input = Vec::new();
        let batch = 1 + rng.below(8);
        for _ in 0..batch {
            input.extend_from_slice(&mutate(&mut rng, &seeds));
        }
        let result = std::panic::catch_unwind(|| pipeline_check::check(&input));
        if result.is_err() {
            panic!(
                "mutation {done} (rng state {state:#x} before it) broke the pipeline; input: {:?}",
                String::from_utf8_lossy(&input)
            );
        }
        let _ = parse_line(&input);
        done += batch as u64;
    }
    eprintln!(
        "{done} mutated inputs in {:.1} s (seed {seed:#x})",
        started.elapsed().as_secs_f64()
    );
    assert!(done >= 1000, "only {done} mutations ran");
}
