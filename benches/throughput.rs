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
//!    `file:/dev/null`, to a file and to syslog (a local datagram socket
//!    this process reads, as syslogd would), on all cores and pinned to one
//!    (`taskset -c 0`), best of three; the user CPU per event of the syslog
//!    sink against the file sink's;
//! 2. 10,000 sessions open at once: peak RSS;
//! 3. 1,000,000 and 10,000,000 events fed through a pipe: RSS must not grow;
//! 4. one transaction with 1,000 recipients: output bytes stay O(K).
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
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
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
    /// User CPU seconds of the child (from /usr/bin/time).
    user: Option<f64>,
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
    let log_socket = dir.join("log.sock");
    let syslogd = Syslogd::start(&log_socket);
    let syslog_args = [
        "--syslog-socket".to_string(),
        log_socket.display().to_string(),
    ];
    let first = runs.len();
    for pinned in [false, true] {
        if pinned && !taskset {
            continue;
        }
        let cpu = if pinned { ", 1 core" } else { "" };
        for (target, label) in [
            ("file:/dev/null".to_string(), "/dev/null"),
            (format!("file:{}", out_file.display()), "file"),
            ("syslog".to_string(), "syslog"),
        ] {
            let extra: Vec<&str> = if label == "syslog" {
                syslog_args.iter().map(String::as_str).collect()
            } else {
                Vec::new()
            };
            let best = (0..repeat)
                .map(|_| {
                    let _ = fs::remove_file(&out_file);
                    let mut run = replay(
                        &format!("typical -> {label}{cpu}"),
                        &stream,
                        &target,
                        pinned,
                        &extra,
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
    let received = syslogd.stop();
    let typical_bytes = runs.iter().skip(first).find_map(|r| r.out_bytes);
    for r in runs.iter_mut().skip(first) {
        r.out_bytes = r.out_bytes.or(typical_bytes);
    }
    let user_per_event = |label: &str| {
        runs.iter()
            .skip(first)
            .find(|r| r.name == format!("typical -> {label}"))
            .and_then(|r| r.user.map(|u| u / r.events.max(1) as f64 * 1e6))
    };
    let sink_cost = match (user_per_event("file"), user_per_event("syslog")) {
        (Some(file), Some(syslog)) => format!(
            "user CPU per event: file {file:.3} us, syslog {syslog:.3} us, syslog/file {:.2} \
             (goal at most 1.3); {received} datagrams received",
            syslog / file
        ),
        _ => "user CPU per event: needs /usr/bin/time".to_string(),
    };

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
    let _ = fs::remove_dir_all(&dir);

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
    println!("{sink_cost}");
    println!(
        "K = {k} recipients: {docs} documents, {bytes} bytes in all, the largest {largest} bytes \
         (the cap is --max-line-bytes, 8000); listing every recipient in every document \
         would take about {} MB",
        u64::from(k) * u64::from(k) * 110 / 2 / 1_000_000,
    );
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
        argv.extend(["/usr/bin/time", "-f", "%M %U", "-o"].map(String::from));
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
    let timing = if timed {
        fs::read_to_string(rss_file).unwrap_or_default()
    } else {
        String::new()
    };
    let mut fields = timing.lines().last().unwrap_or_default().split_whitespace();
    let rss_kib = fields.next().and_then(|v| v.parse().ok()).unwrap_or(hwm);
    let user = fields.next().and_then(|v| v.parse().ok());
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
        user,
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

/// A syslogd stand-in: reads every datagram on a local socket, as fast as
/// it can, until stopped.
struct Syslogd {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl Syslogd {
    fn start(path: &Path) -> Syslogd {
        let _ = fs::remove_file(path);
        let socket = std::os::unix::net::UnixDatagram::bind(path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = std::sync::Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 20];
            let mut got = 0;
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                if socket.recv(&mut buf).is_ok() {
                    got += 1;
                }
            }
            got
        });
        Syslogd { stop, thread }
    }

    /// Datagrams received.
    fn stop(self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}
