//! Throughput and memory benchmark: not a timed test, a report.
//!
//! ```text
//! cargo bench --bench throughput            # full run, a few minutes
//! cargo bench --bench throughput -- --quick # a tenth of the sizes
//! ```
//!
//! It writes realistic report streams with `examples/gen-stream.rs`, runs the
//! release binary (`filter-jsonlog replay …`) as a child process on them and
//! prints, per run: events/s, output bytes/s, mean bytes per document and
//! the child's peak RSS (`/usr/bin/time -f %M` when there is one, else
//! polling `/proc/PID/status` VmHWM). The runs:
//!
//! 1. 1,000,000 events of the typical mix (100 sessions open at once) to
//!    `file:/dev/null` and to a file, on all cores and pinned to one
//!    (`taskset -c 0`), best of three;
//! 2. 10,000 sessions open at once: peak RSS;
//! 3. 1,000,000 and 10,000,000 events fed through a pipe: RSS must not grow;
//! 4. one transaction with 1,000 recipients: output bytes stay O(K);
//! 5. the sinks: CPU per event of the same typical stream sent to syslog
//!    (`--output syslog --syslog-socket`, a unix datagram socket that a
//!    thread of this bench drains, as syslogd would) and written to a file.
//!    User CPU is the child's, from this process's `cutime`/`cstime` in
//!    `/proc/self/stat` after the child was reaped, best of three.
//!    `cargo bench --bench throughput -- --sinks` runs only this part.
//!
//! `docs/benchmarks.md` has the numbers of one machine.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[allow(dead_code)]
#[path = "../examples/gen-stream.rs"]
mod gen_stream;

use gen_stream::{generate, Options, Written};
use std::fs;
use std::io::{BufWriter, Write};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_filter-jsonlog");

struct Run {
    name: String,
    events: u64,
    docs: u64,
    /// Known for runs that write a real file (the same stream to /dev/null
    /// writes the same bytes).
    out_bytes: Option<u64>,
    wall: Duration,
    rss_kib: u64,
    dropped: u64,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let scale = if quick { 10 } else { 1 };
    let repeat = if quick { 1 } else { 3 };
    let dir = std::env::temp_dir().join(format!("filter-jsonlog-bench-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let taskset = Path::new("/usr/bin/taskset").exists();

    println!("filter-jsonlog throughput benchmark");
    println!("binary:  {BIN}");
    println!("machine: {}", machine());
    println!();

    if args.iter().any(|a| a == "--sinks") {
        sinks(&dir, scale, repeat);
        let _ = fs::remove_dir_all(&dir);
        return;
    }

    let mut runs = Vec::new();

    // 1. The typical mix.
    let events = 1_000_000 / scale;
    let stream = dir.join("typical.txt");
    let w = write_stream(
        &stream,
        &Options {
            sessions: u64::MAX,
            events: Some(events),
            ..Options::default()
        },
    );
    println!(
        "typical stream: {} events, {} sessions, {:.1} MB",
        w.events,
        w.sessions,
        w.bytes as f64 / 1e6
    );
    let out_file = dir.join("out.json");
    let first = runs.len();
    for pinned in [false, true] {
        if pinned && !taskset {
            continue;
        }
        let cpu = if pinned { ", 1 core" } else { "" };
        for (target, label) in [
            ("file:/dev/null".to_string(), "/dev/null"),
            (format!("file:{}", out_file.display()), "file"),
        ] {
            let best = (0..repeat)
                .map(|_| {
                    let _ = fs::remove_file(&out_file);
                    let mut run = replay(
                        &format!("typical -> {label}{cpu}"),
                        &stream,
                        &target,
                        pinned,
                        &[],
                    );
                    run.events = w.events;
                    if label == "file" {
                        run.out_bytes = fs::metadata(&out_file).ok().map(|m| m.len());
                    }
                    run
                })
                .min_by_key(|r| r.wall)
                .unwrap();
            runs.push(best);
        }
    }
    let _ = fs::remove_file(&out_file);
    let typical_bytes = runs.iter().skip(first).find_map(|r| r.out_bytes);
    for r in runs.iter_mut().skip(first) {
        r.out_bytes = r.out_bytes.or(typical_bytes);
    }

    // 2. 10,000 sessions open at once.
    let open = dir.join("open10k.txt");
    let w10k = write_stream(
        &open,
        &Options {
            sessions: 10_000,
            concurrency: 10_000,
            ..Options::default()
        },
    );
    for (extra, label) in [
        (&[][..], "10,000 open sessions -> /dev/null"),
        (
            &["--buffer-bytes", "262144"][..],
            "10,000 open sessions, --buffer-bytes 256k",
        ),
    ] {
        let mut run = replay(label, &open, "file:/dev/null", false, extra);
        run.events = w10k.events;
        runs.push(run);
    }
    let _ = fs::remove_file(&open);
    let _ = fs::remove_file(&stream);

    // 3. RSS must not grow with the length of the stream.
    for events in [1_000_000 / scale, 10_000_000 / scale] {
        runs.push(piped(
            &format!("{} M events, piped -> /dev/null", events as f64 / 1e6),
            &Options {
                sessions: u64::MAX,
                events: Some(events),
                ..Options::default()
            },
        ));
    }

    // 4. One transaction with K recipients.
    let k = 1000;
    let rcpts = dir.join("rcpts.txt");
    let wk = write_stream(
        &rcpts,
        &Options {
            sessions: 1,
            concurrency: 1,
            rcpts: Some(k),
            seed: 7,
            ..Options::default()
        },
    );
    let out_k = dir.join("rcpts.json");
    let mut run = replay(
        &format!("1 transaction, K = {k} recipients -> file"),
        &rcpts,
        &format!("file:{}", out_k.display()),
        false,
        &[],
    );
    run.events = wk.events;
    let body = fs::read(&out_k).unwrap_or_default();
    run.out_bytes = Some(body.len() as u64);
    let largest = body
        .split(|&b| b == b'\n')
        .map(<[u8]>::len)
        .max()
        .unwrap_or(0);
    runs.push(run);

    println!();
    println!(
        "| {:<44} | {:>10} | {:>8} | {:>10} | {:>8} | {:>9} | {:>10} |",
        "run", "events", "wall s", "events/s", "MB/s out", "bytes/doc", "peak RSS"
    );
    println!(
        "|{:-<46}|{:->12}|{:->10}|{:->12}|{:->10}|{:->11}|{:->12}|",
        "", "", "", "", "", "", ""
    );
    for r in &runs {
        let secs = r.wall.as_secs_f64().max(1e-9);
        let (rate, per_doc) = match r.out_bytes {
            Some(bytes) if r.docs > 0 => (
                format!("{:.1}", bytes as f64 / secs / 1e6),
                (bytes / r.docs).to_string(),
            ),
            _ => ("-".into(), "-".into()),
        };
        println!(
            "| {:<44} | {:>10} | {:>8.3} | {:>10.0} | {:>8} | {:>9} | {:>6.1} MiB |",
            r.name,
            r.events,
            secs,
            r.events as f64 / secs,
            rate,
            per_doc,
            r.rss_kib as f64 / 1024.0,
        );
        if r.dropped > 0 {
            println!(
                "|   ^ {} documents dropped (delivery buffer full)",
                r.dropped
            );
        }
    }
    println!();
    let (docs, bytes) = runs
        .last()
        .map_or((0, 0), |r| (r.docs, r.out_bytes.unwrap_or(0)));
    println!(
        "K = {k} recipients: {docs} documents, {bytes} bytes in all, the largest {largest} bytes \
         (the cap is --max-line-bytes, 8000); listing every recipient in every document \
         would take about {} MB",
        u64::from(k) * u64::from(k) * 110 / 2 / 1_000_000,
    );

    // 5. The sinks.
    println!();
    sinks(&dir, scale, repeat);
    let _ = fs::remove_dir_all(&dir);
}

/// A syslog daemon that only counts: drains a unix datagram socket on a thread.
struct Receiver {
    path: PathBuf,
    datagrams: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    fn bind(path: PathBuf) -> Receiver {
        let _ = fs::remove_file(&path);
        let socket = UnixDatagram::bind(&path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let (datagrams, bytes) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let stop = Arc::new(AtomicBool::new(false));
        let (d, b, s) = (datagrams.clone(), bytes.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 17];
            // Read until told to stop and nothing is left.
            loop {
                match socket.recv(&mut buf) {
                    Ok(n) => {
                        d.fetch_add(1, Ordering::Relaxed);
                        b.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    Err(_) if s.load(Ordering::Relaxed) => return,
                    Err(_) => {}
                }
            }
        });
        Receiver {
            path,
            datagrams,
            bytes,
            stop,
            thread: Some(thread),
        }
    }

    fn counts(&self) -> (u64, u64) {
        (
            self.datagrams.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = fs::remove_file(&self.path);
    }
}

/// CPU time of this process's reaped children (and theirs): `cutime` and
/// `cstime` of /proc/self/stat, in seconds.
fn children_cpu() -> (f64, f64) {
    let stat = fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_comm = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // after "pid (comm)": field 3 (state) is fields[0], cutime (16) fields[13]
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let hz = clock_ticks();
    (tick(13) as f64 / hz, tick(14) as f64 / hz)
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(100.0)
}

struct SinkRun {
    name: String,
    events: u64,
    docs: u64,
    /// Datagrams the receiver got (syslog only).
    received: Option<u64>,
    user: f64,
    sys: f64,
    wall: Duration,
}

/// The same typical stream to a file and to syslog: user CPU per event
/// (issue 12: the default sink should cost no more than 1.3x the file's).
fn sinks(dir: &Path, scale: u64, repeat: usize) {
    let events = 500_000 / scale;
    let stream = dir.join("sinks.txt");
    let w = write_stream(
        &stream,
        &Options {
            sessions: u64::MAX,
            events: Some(events),
            seed: 12,
            ..Options::default()
        },
    );
    println!(
        "sinks stream: {} events, {} sessions, {:.1} MB",
        w.events,
        w.sessions,
        w.bytes as f64 / 1e6
    );
    let out_file = dir.join("sinks.json");
    let socket = dir.join("syslog.sock");
    let mut runs: Vec<SinkRun> = Vec::new();
    for sink in ["file", "syslog"] {
        let best = (0..repeat)
            .map(|_| {
                let _ = fs::remove_file(&out_file);
                let receiver = (sink == "syslog").then(|| Receiver::bind(socket.clone()));
                let (target, extra): (String, Vec<&str>) = match &receiver {
                    Some(r) => (
                        "syslog".into(),
                        vec!["--syslog-socket", r.path.to_str().unwrap()],
                    ),
                    None => (format!("file:{}", out_file.display()), vec![]),
                };
                let (u0, s0) = children_cpu();
                let run = replay(&format!("sinks -> {sink}"), &stream, &target, false, &extra);
                let (u1, s1) = children_cpu();
                // The last datagrams may still be in the socket's queue.
                let received = receiver.as_ref().map(|r| {
                    let deadline = Instant::now() + Duration::from_secs(5);
                    while r.counts().0 < run.docs && Instant::now() < deadline {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    r.counts().0
                });
                SinkRun {
                    name: sink.into(),
                    events: w.events,
                    docs: run.docs,
                    received,
                    user: u1 - u0,
                    sys: s1 - s0,
                    wall: run.wall,
                }
            })
            .min_by(|a, b| a.user.total_cmp(&b.user))
            .unwrap();
        runs.push(best);
    }
    let _ = fs::remove_file(&out_file);
    let _ = fs::remove_file(&stream);

    println!();
    println!(
        "| {:<8} | {:>9} | {:>9} | {:>9} | {:>7} | {:>7} | {:>10} | {:>9} | {:>7} |",
        "sink",
        "events",
        "documents",
        "received",
        "user s",
        "sys s",
        "user µs/ev",
        "sys µs/ev",
        "wall s"
    );
    println!(
        "|{:-<10}|{:->11}|{:->11}|{:->11}|{:->9}|{:->9}|{:->12}|{:->11}|{:->9}|",
        "", "", "", "", "", "", "", "", ""
    );
    for r in &runs {
        let per = |s: f64| s * 1e6 / r.events.max(1) as f64;
        println!(
            "| {:<8} | {:>9} | {:>9} | {:>9} | {:>7.2} | {:>7.2} | {:>10.2} | {:>9.2} | {:>7.3} |",
            r.name,
            r.events,
            r.docs,
            r.received.map_or("-".into(), |n| n.to_string()),
            r.user,
            r.sys,
            per(r.user),
            per(r.sys),
            r.wall.as_secs_f64()
        );
        if let Some(n) = r.received {
            if n != r.docs {
                println!("|   ^ the receiver got {n} of {} documents", r.docs);
            }
        }
    }
    if let [file, syslog] = &runs[..] {
        if file.user > 0.0 {
            println!(
                "syslog / file, user CPU per event: {:.2}x (issue 12's goal: at most 1.3x)",
                syslog.user / file.user
            );
        }
    }
}

fn machine() -> String {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cpu}, {cores} cores, Linux {}", kernel.trim())
}

fn write_stream(path: &Path, opts: &Options) -> Written {
    let file = fs::File::create(path).unwrap();
    let mut w = BufWriter::with_capacity(1 << 16, file);
    generate(opts, &mut w).unwrap()
}

/// The command, wrapped in `/usr/bin/time` (and `taskset`) when there are.
fn command(pinned: bool, rss_file: &Path) -> (Command, bool) {
    let time = Path::new("/usr/bin/time").exists();
    let mut argv: Vec<String> = Vec::new();
    if time {
        argv.extend(["/usr/bin/time", "-f", "%M", "-o"].map(String::from));
        argv.push(rss_file.display().to_string());
    }
    if pinned {
        argv.extend(["taskset", "-c", "0"].map(String::from));
    }
    argv.push(BIN.to_string());
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]);
    (cmd, time)
}

fn replay(name: &str, input: &Path, target: &str, pinned: bool, extra: &[&str]) -> Run {
    let rss_file = input.with_extension("rss");
    let (mut cmd, timed) = command(pinned, &rss_file);
    cmd.arg("replay")
        .arg(input)
        .args(["--output", target])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let child = cmd.spawn().unwrap();
    finish(name, child, started, timed, &rss_file)
}

fn piped(name: &str, opts: &Options) -> Run {
    let rss_file =
        std::env::temp_dir().join(format!("filter-jsonlog-bench-{}.rss", std::process::id()));
    let (mut cmd, timed) = command(false, &rss_file);
    cmd.args(["replay", "-", "--output", "file:/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd.spawn().unwrap();
    let stdin = child.stdin.take().unwrap();
    let opts = opts.clone();
    let writer = std::thread::spawn(move || {
        let mut w = BufWriter::with_capacity(1 << 16, stdin);
        let written = generate(&opts, &mut w).unwrap();
        w.flush().unwrap();
        written
    });
    let written = writer.join().unwrap();
    let mut run = finish(name, child, started, timed, &rss_file);
    run.events = written.events;
    let _ = fs::remove_file(&rss_file);
    run
}

fn finish(
    name: &str,
    mut child: std::process::Child,
    started: Instant,
    timed: bool,
    rss_file: &Path,
) -> Run {
    // Without /usr/bin/time: poll the high-water mark while it runs.
    let mut hwm = 0;
    let pid = child.id();
    let stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut e) = stderr {
            let _ = std::io::Read::read_to_string(&mut e, &mut text);
        }
        text
    });
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{name}: {status}");
            break;
        }
        if !timed {
            hwm = hwm.max(vm_hwm(pid));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let wall = started.elapsed();
    let stderr = reader.join().unwrap();
    let rss_kib = if timed {
        fs::read_to_string(rss_file)
            .ok()
            .and_then(|t| t.lines().last().and_then(|l| l.trim().parse().ok()))
            .unwrap_or(0)
    } else {
        hwm
    };
    let _ = fs::remove_file(rss_file);
    let summary = stderr
        .lines()
        .find(|l| l.contains("exiting:"))
        .unwrap_or_default()
        .to_string();
    let field = |key: &str| -> u64 {
        summary
            .split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let docs = field("documents=");
    let run = Run {
        name: name.to_string(),
        events: 0,
        docs,
        out_bytes: None,
        wall,
        rss_kib,
        dropped: field("dropped="),
    };
    println!(
        "  {name}: {:.3} s, {} documents, peak RSS {} KiB",
        wall.as_secs_f64(),
        docs,
        rss_kib
    );
    run
}

fn vm_hwm(pid: u32) -> u64 {
    let path: PathBuf = format!("/proc/{pid}/status").into();
    fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
