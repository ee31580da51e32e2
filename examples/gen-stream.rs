//! gen-stream: writes a realistic, deterministic OpenSMTPD report stream, for
//! benchmarks and soak runs.
//!
//! ```text
//! cargo run --release --example gen-stream -- --sessions 10000 --concurrency 100 \
//!     --version 0.7 --seed 1 --output /tmp/stream.txt
//! ```
//!
//! The stream is what smtpd writes to a report filter's stdin: the handshake,
//! then `report|` lines of N smtp-in sessions, C of them open at once and
//! their events interleaved. Each session follows the event order of
//! protocol.md §9.2 (§9.3 for 0.4): connect (some on an smtps listener),
//! EHLO or HELO, STARTTLS, AUTH, one to three transactions with accepted and
//! refused recipients (some refused by a filter), DATA or RSET, then QUIT, a
//! dropped connection or a timeout. The same flags and seed always give the
//! same bytes. The generator is self-contained (its own PRNG, no crates) so
//! that `benches/throughput.rs` can include it as a module.
//!
//! Flags: `--sessions N` (1000), `--concurrency C` (100), `--version
//! 0.4|0.6|0.7` (0.7), `--seed S` (1), `--events N` (stop opening sessions
//! once N events are written; open ones still finish), `--rcpts K` (every
//! transaction has exactly K recipients), `--no-handshake`, `--output PATH`
//! (stdout). A summary goes to stderr.

// Indices into our own constant tables are reduced modulo their length.
#![allow(clippy::indexing_slicing)]

use std::fmt::Arguments;
use std::io::{self, Write};

/// The protocol version (and so the layouts and event order) to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    /// OpenSMTPD 6.6: `tx-*` before `protocol-server`, address before result.
    V04,
    /// OpenSMTPD 6.7–7.3 (Debian 12): link-auth `username|result`.
    V06,
    /// OpenSMTPD 7.4 and later.
    V07,
}

impl Proto {
    /// Parses `0.4`, `0.6` or `0.7`.
    pub fn parse(text: &str) -> Option<Proto> {
        match text {
            "0.4" => Some(Proto::V04),
            "0.6" => Some(Proto::V06),
            "0.7" => Some(Proto::V07),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Proto::V04 => "0.4",
            Proto::V06 => "0.6",
            Proto::V07 => "0.7",
        }
    }
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct Options {
    /// Sessions to write (an upper bound when `events` is set).
    pub sessions: u64,
    /// Sessions open at once.
    pub concurrency: usize,
    /// Protocol version.
    pub version: Proto,
    /// PRNG seed.
    pub seed: u64,
    /// Stop opening sessions once this many events were written.
    pub events: Option<u64>,
    /// Recipients per transaction, fixed (otherwise 1 to 5, mostly 1 or 2).
    pub rcpts: Option<u32>,
    /// Write the `config|` handshake first.
    pub handshake: bool,
    /// The stream's clock at the start (seconds since the epoch).
    pub start_secs: i64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            sessions: 1000,
            concurrency: 100,
            version: Proto::V07,
            seed: 1,
            events: None,
            rcpts: None,
            handshake: true,
            start_secs: 1_730_000_000,
        }
    }
}

/// What was written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Written {
    /// Sessions started (all of them finish).
    pub sessions: u64,
    /// `report|` lines.
    pub events: u64,
    /// Bytes, handshake included.
    pub bytes: u64,
    /// Most sessions open at once.
    pub peak_open: usize,
}

/// xoshiro-style generators are overkill here: SplitMix64 is tiny, fast and
/// good enough to pick from tables.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// 0..n (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// True with probability `percent`/100.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rcpt {
    Ok,
    Refused,
    FilterReject,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cmd {
    Connect { smtps: bool },
    Ehlo,
    Helo,
    StartTls,
    Auth { ok: bool },
    Noop,
    Mail,
    Rcpt(Rcpt),
    Data,
    Dot,
    Rset,
    Quit,
    Drop,
    Timeout,
}

const TLS: [&str; 3] = [
    "TLSv1.3:TLS_AES_256_GCM_SHA384:256",
    "TLSv1.3:TLS_CHACHA20_POLY1305_SHA256:256",
    "TLSv1.2:ECDHE-RSA-AES256-GCM-SHA384:256",
];
const USERS: [&str; 6] = ["alice", "bob", "carol", "dave", "erin", "frank"];
const DOMAINS: [&str; 5] = [
    "example.org",
    "example.net",
    "example.com",
    "mail.example.org",
    "lists.example.net",
];

struct Session {
    sid: u64,
    n: u64,
    script: Vec<Cmd>,
    pos: usize,
    tls: bool,
    msgid: Option<u32>,
    client: String,
    helo: String,
    sender: String,
    rcpt_no: u32,
}

impl Session {
    fn new(rng: &mut Rng, n: u64, opts: &Options) -> Session {
        let mut script = Vec::with_capacity(32);
        let smtps = rng.chance(5);
        script.push(Cmd::Connect { smtps });
        let mut tls = smtps;
        if rng.chance(5) {
            script.push(Cmd::Helo);
        } else {
            script.push(Cmd::Ehlo);
            if !tls && rng.chance(70) {
                script.push(Cmd::StartTls);
                script.push(Cmd::Ehlo);
                tls = true;
            }
            if tls && rng.chance(35) {
                script.push(Cmd::Auth { ok: rng.chance(90) });
            }
        }
        if rng.chance(3) {
            script.push(Cmd::Noop);
        }
        let transactions = match rng.below(100) {
            0..=4 => 0,
            5..=59 => 1,
            60..=84 => 2,
            _ => 3,
        };
        // A fixed recipient count is for measuring big transactions: one at least.
        let transactions = if opts.rcpts.is_some() {
            transactions.max(1)
        } else {
            transactions
        };
        let ending = match rng.below(100) {
            0..=84 => Cmd::Quit,
            85..=94 => Cmd::Drop,
            _ => Cmd::Timeout,
        };
        for t in 0..transactions {
            script.push(Cmd::Mail);
            let rcpts = opts.rcpts.unwrap_or_else(|| match rng.below(100) {
                0..=59 => 1,
                60..=84 => 2,
                85..=94 => 3,
                _ => 5,
            });
            let mut accepted = 0;
            for _ in 0..rcpts {
                let r = match rng.below(100) {
                    0..=79 => Rcpt::Ok,
                    80..=94 => Rcpt::Refused,
                    _ => Rcpt::FilterReject,
                };
                accepted += u32::from(r == Rcpt::Ok);
                script.push(Cmd::Rcpt(r));
            }
            let last = t + 1 == transactions;
            if last && ending != Cmd::Quit && opts.rcpts.is_none() && rng.chance(50) {
                // Cut off mid-transaction: the ending rolls it back.
                break;
            }
            if accepted > 0 && rng.chance(85) {
                script.push(Cmd::Data);
                script.push(Cmd::Dot);
            } else {
                script.push(Cmd::Rset);
            }
        }
        if rng.chance(10) {
            script.push(Cmd::Rset);
        }
        script.push(ending);

        let client = if rng.chance(10) {
            format!(
                "[2001:db8::{:x}]:{}",
                rng.below(0xffff) + 1,
                1024 + rng.below(64_000)
            )
        } else {
            let net = rng.pick(&["203.0.113", "198.51.100", "192.0.2"]);
            format!("{net}.{}:{}", rng.below(254) + 1, 1024 + rng.below(64_000))
        };
        let domain = rng.pick(&DOMAINS);
        let helo = format!("mail{}.client{}.{}", rng.below(10), n % 997, domain);
        let sender = if rng.chance(3) {
            String::new() // bounce: MAIL FROM:<>
        } else {
            format!(
                "{}{}@client{}.{}",
                rng.pick(&USERS),
                n % 89,
                n % 997,
                domain
            )
        };
        Session {
            // generate_uid(): a counter in the upper half, random bits below.
            sid: (0x5e1c_0000_u64.wrapping_add(n) << 32) | (rng.next() & 0xffff_ffff),
            n,
            script,
            pos: 0,
            tls: false,
            msgid: None,
            client,
            helo,
            sender,
            rcpt_no: 0,
        }
    }

    fn done(&self) -> bool {
        self.pos >= self.script.len()
    }
}

/// Writes lines, keeping the clock and the counts.
struct Out<'w, W: Write> {
    w: &'w mut W,
    version: Proto,
    secs: i64,
    micros: u32,
    written: Written,
}

impl<W: Write> Out<'_, W> {
    fn tick(&mut self, micros: u64) {
        let total = u64::from(self.micros) + micros;
        self.secs += (total / 1_000_000) as i64;
        self.micros = (total % 1_000_000) as u32;
    }

    fn raw(&mut self, line: Arguments<'_>) -> io::Result<()> {
        let mut buf = Vec::with_capacity(160);
        buf.write_fmt(line)?;
        buf.push(b'\n');
        self.written.bytes += buf.len() as u64;
        self.w.write_all(&buf)
    }

    fn ev(&mut self, sid: u64, event: &str, payload: Option<Arguments<'_>>) -> io::Result<()> {
        self.tick(3 + u64::from(self.micros % 7));
        self.written.events += 1;
        let (v, s, m) = (self.version.as_str(), self.secs, self.micros);
        match payload {
            Some(p) => self.raw(format_args!(
                "report|{v}|{s}.{m:06}|smtp-in|{event}|{sid:016x}|{p}"
            )),
            None => self.raw(format_args!(
                "report|{v}|{s}.{m:06}|smtp-in|{event}|{sid:016x}"
            )),
        }
    }

    fn client(&mut self, sid: u64, command: Arguments<'_>) -> io::Result<()> {
        self.ev(sid, "protocol-client", Some(command))
    }

    fn server(&mut self, sid: u64, reply: Arguments<'_>) -> io::Result<()> {
        self.ev(sid, "protocol-server", Some(reply))
    }

    fn filter(&mut self, sid: u64, phase: &str) -> io::Result<()> {
        self.ev(
            sid,
            "filter-response",
            Some(format_args!("{phase}|proceed")),
        )
    }

    /// tx-mail / tx-rcpt in the version's layout.
    fn tx_addr(
        &mut self,
        sid: u64,
        event: &str,
        msgid: u32,
        result: &str,
        address: &str,
    ) -> io::Result<()> {
        if self.version == Proto::V04 {
            self.ev(
                sid,
                event,
                Some(format_args!("{msgid:08x}|{address}|{result}")),
            )
        } else {
            self.ev(
                sid,
                event,
                Some(format_args!("{msgid:08x}|{result}|{address}")),
            )
        }
    }
}

fn handshake<W: Write>(out: &mut Out<'_, W>) -> io::Result<()> {
    let lines: &[&str] = match out.version {
        Proto::V04 => &[
            "config|smtpd-version|6.6.4p1",
            "config|smtp-session-timeout|300",
            "config|ready",
        ],
        Proto::V06 => &[
            "config|smtpd-version|6.8.0p2",
            "config|smtp-session-timeout|300",
            "config|subsystem|smtp-in",
            "config|admd|mx.example.org",
            "config|ready",
        ],
        Proto::V07 => &[
            "config|smtpd-version|7.8.0-portable",
            "config|protocol|0.7",
            "config|smtp-session-timeout|300",
            "config|subsystem|smtp-in",
            "config|admd|mx.example.org",
            "config|ready",
        ],
    };
    for line in lines {
        out.raw(format_args!("{line}"))?;
    }
    Ok(())
}

/// The events of one client action (one step of one session).
fn step<W: Write>(rng: &mut Rng, s: &mut Session, out: &mut Out<'_, W>) -> io::Result<()> {
    let Some(&cmd) = s.script.get(s.pos) else {
        return Ok(());
    };
    s.pos += 1;
    let sid = s.sid;
    let old = out.version == Proto::V04;
    match cmd {
        Cmd::Connect { smtps } => {
            let rdns_known = rng.chance(90);
            let rdns = if rdns_known {
                s.helo.clone()
            } else {
                "<unknown>".to_string()
            };
            let fcrdns = if rdns_known { "pass" } else { "fail" };
            let client = &s.client;
            let dest = if client.starts_with('[') {
                "[2001:db8::25]:25"
            } else if smtps {
                "192.0.2.25:465"
            } else {
                "192.0.2.25:25"
            };
            out.ev(
                sid,
                "link-connect",
                Some(format_args!("{rdns}|{fcrdns}|{client}|{dest}")),
            )?;
            out.filter(sid, "connected")?;
            if smtps {
                let tls = rng.pick(&TLS);
                out.ev(sid, "link-tls", Some(format_args!("{tls}")))?;
                s.tls = true;
            }
            out.server(sid, format_args!("220 mx.example.org ESMTP OpenSMTPD"))?;
            out.ev(sid, "link-greeting", Some(format_args!("mx.example.org")))?;
        }
        Cmd::Ehlo | Cmd::Helo => {
            let (method, phase) = if cmd == Cmd::Ehlo {
                ("EHLO", "ehlo")
            } else {
                ("HELO", "helo")
            };
            let helo = s.helo.clone();
            out.client(sid, format_args!("{method} {helo}"))?;
            out.filter(sid, phase)?;
            out.ev(sid, "link-identify", Some(format_args!("{method}|{helo}")))?;
            let ip = s.client.rsplit_once(':').map_or("", |(ip, _)| ip);
            let ip = ip.trim_start_matches('[').trim_end_matches(']');
            if cmd == Cmd::Helo {
                out.server(
                    sid,
                    format_args!("250 mx.example.org Hello {helo} [{ip}], pleased to meet you"),
                )?;
            } else {
                out.server(
                    sid,
                    format_args!("250-mx.example.org Hello {helo} [{ip}], pleased to meet you"),
                )?;
                for line in ["8BITMIME", "ENHANCEDSTATUSCODES", "SIZE 36700160", "DSN"] {
                    out.server(sid, format_args!("250-{line}"))?;
                }
                if s.tls {
                    out.server(sid, format_args!("250-AUTH PLAIN LOGIN"))?;
                } else {
                    out.server(sid, format_args!("250-STARTTLS"))?;
                }
                out.server(sid, format_args!("250 HELP"))?;
            }
        }
        Cmd::StartTls => {
            out.client(sid, format_args!("STARTTLS"))?;
            out.filter(sid, "tls")?;
            out.server(sid, format_args!("220 2.0.0 Ready to start TLS"))?;
            out.tick(20_000 + rng.below(40_000));
            let tls = rng.pick(&TLS);
            out.ev(sid, "link-tls", Some(format_args!("{tls}")))?;
            s.tls = true;
        }
        Cmd::Auth { ok } => {
            out.client(sid, format_args!("AUTH PLAIN ********"))?;
            out.filter(sid, "auth")?;
            let user = rng.pick(&USERS);
            let result = if ok { "pass" } else { "fail" };
            if out.version == Proto::V07 {
                out.ev(sid, "link-auth", Some(format_args!("{result}|{user}")))?;
            } else {
                out.ev(sid, "link-auth", Some(format_args!("{user}|{result}")))?;
            }
            if ok {
                out.server(sid, format_args!("235 2.0.0 Authentication succeeded"))?;
            } else {
                out.server(sid, format_args!("535 Authentication failed"))?;
            }
        }
        Cmd::Noop => {
            out.client(sid, format_args!("NOOP"))?;
            out.filter(sid, "noop")?;
            out.server(sid, format_args!("250 2.0.0 Ok"))?;
        }
        Cmd::Mail => {
            let msgid = (rng.next() as u32) | 1;
            s.msgid = Some(msgid);
            s.rcpt_no = 0;
            let sender = s.sender.clone();
            out.client(
                sid,
                format_args!("MAIL FROM:<{sender}> SIZE={}", 500 + rng.below(200_000)),
            )?;
            out.filter(sid, "mail-from")?;
            if !old {
                out.server(sid, format_args!("250 2.0.0 Ok"))?;
            }
            out.ev(sid, "tx-begin", Some(format_args!("{msgid:08x}")))?;
            out.tx_addr(sid, "tx-mail", msgid, "ok", &sender)?;
            if old {
                out.server(sid, format_args!("250 2.0.0 Ok"))?;
            }
        }
        Cmd::Rcpt(kind) => {
            let msgid = s.msgid.unwrap_or(1);
            s.rcpt_no += 1;
            let address = format!(
                "{}{}.{}@{}",
                rng.pick(&USERS),
                s.rcpt_no,
                s.n % 1009,
                rng.pick(&DOMAINS[..2])
            );
            out.client(sid, format_args!("RCPT TO:<{address}>"))?;
            match kind {
                Rcpt::Ok => {
                    out.filter(sid, "rcpt-to")?;
                    let evpid = (u64::from(msgid) << 32) | (rng.next() & 0xffff_ffff);
                    out.ev(
                        sid,
                        "tx-envelope",
                        Some(format_args!("{msgid:08x}|{evpid:016x}")),
                    )?;
                    let reply = format_args!("250 2.1.5 Destination address valid: Recipient ok");
                    if old {
                        out.tx_addr(sid, "tx-rcpt", msgid, "ok", &address)?;
                        out.server(sid, reply)?;
                    } else {
                        out.server(sid, reply)?;
                        out.tx_addr(sid, "tx-rcpt", msgid, "ok", &address)?;
                    }
                }
                Rcpt::Refused | Rcpt::FilterReject => {
                    if kind == Rcpt::Refused {
                        out.filter(sid, "rcpt-to")?;
                    } else {
                        out.ev(
                            sid,
                            "filter-response",
                            Some(format_args!("rcpt-to|reject|550 5.7.1 Rejected by policy")),
                        )?;
                    }
                    if old {
                        out.tx_addr(sid, "tx-rcpt", msgid, "permfail", &address)?;
                    }
                    if kind == Rcpt::Refused {
                        out.server(sid, format_args!("550 Invalid recipient: <{address}>"))?;
                    } else {
                        out.server(sid, format_args!("550 5.7.1 Rejected by policy"))?;
                    }
                    if !old {
                        out.tx_addr(sid, "tx-rcpt", msgid, "permfail", &address)?;
                    }
                }
            }
        }
        Cmd::Data => {
            let msgid = s.msgid.unwrap_or(1);
            out.client(sid, format_args!("DATA"))?;
            out.filter(sid, "data")?;
            let reply = format_args!("354 Enter mail, end with \".\" on a line by itself");
            // format_args! inline: a binding of it outlives its temporaries
            // only since Rust 1.89, and rust-version is 1.88.
            if old {
                out.ev(sid, "tx-data", Some(format_args!("{msgid:08x}|ok")))?;
                out.server(sid, reply)?;
            } else {
                out.server(sid, reply)?;
                out.ev(sid, "tx-data", Some(format_args!("{msgid:08x}|ok")))?;
            }
        }
        Cmd::Dot => {
            let msgid = s.msgid.take().unwrap_or(1);
            out.tick(50_000 + rng.below(200_000));
            out.client(sid, format_args!("."))?;
            out.filter(sid, "commit")?;
            let size = 600 + rng.below(120_000);
            if !old {
                out.server(
                    sid,
                    format_args!("250 2.0.0 {msgid:08x} Message accepted for delivery"),
                )?;
            }
            out.ev(sid, "tx-commit", Some(format_args!("{msgid:08x}|{size}")))?;
            out.ev(sid, "tx-reset", Some(format_args!("{msgid:08x}")))?;
            if old {
                out.server(
                    sid,
                    format_args!("250 2.0.0 {msgid:08x} Message accepted for delivery"),
                )?;
            }
        }
        Cmd::Rset => {
            out.client(sid, format_args!("RSET"))?;
            out.filter(sid, "rset")?;
            if !old {
                out.server(sid, format_args!("250 2.0.0 Reset state"))?;
            }
            rollback(s, out)?;
            if old {
                out.server(sid, format_args!("250 2.0.0 Reset state"))?;
            }
        }
        Cmd::Quit => {
            out.client(sid, format_args!("QUIT"))?;
            out.filter(sid, "quit")?;
            out.server(sid, format_args!("221 2.0.0 Bye"))?;
            rollback(s, out)?;
            out.ev(sid, "link-disconnect", None)?;
        }
        Cmd::Drop => {
            rollback(s, out)?;
            out.ev(sid, "link-disconnect", None)?;
        }
        Cmd::Timeout => {
            out.ev(sid, "timeout", None)?;
            rollback(s, out)?;
            out.ev(sid, "link-disconnect", None)?;
        }
    }
    Ok(())
}

fn rollback<W: Write>(s: &mut Session, out: &mut Out<'_, W>) -> io::Result<()> {
    if let Some(msgid) = s.msgid.take() {
        out.ev(s.sid, "tx-rollback", Some(format_args!("{msgid:08x}")))?;
        out.ev(s.sid, "tx-reset", Some(format_args!("{msgid:08x}")))?;
    }
    Ok(())
}

/// Writes the stream to `w`.
pub fn generate<W: Write>(opts: &Options, w: &mut W) -> io::Result<Written> {
    let mut rng = Rng(opts.seed);
    let mut out = Out {
        w,
        version: opts.version,
        secs: opts.start_secs,
        micros: 0,
        written: Written::default(),
    };
    if opts.handshake {
        handshake(&mut out)?;
    }
    let concurrency = opts.concurrency.max(1);
    let mut open: Vec<Session> = Vec::with_capacity(concurrency.min(1 << 16));
    let mut started = 0u64;
    loop {
        let budget_left = opts.events.is_none_or(|max| out.written.events < max);
        while open.len() < concurrency && started < opts.sessions && budget_left {
            let mut s = Session::new(&mut rng, started, opts);
            started += 1;
            step(&mut rng, &mut s, &mut out)?;
            open.push(s);
            out.written.peak_open = out.written.peak_open.max(open.len());
        }
        if open.is_empty() {
            break;
        }
        // A few ms of client think time between commands, spread over the
        // open sessions so the stream clock moves like a busy server's.
        out.tick(1 + rng.below(4_000 / open.len() as u64 + 1));
        let i = rng.below(open.len() as u64) as usize;
        step(&mut rng, &mut open[i], &mut out)?;
        if open[i].done() {
            open.swap_remove(i);
        }
    }
    out.written.sessions = started;
    out.w.flush()?;
    Ok(out.written)
}

#[allow(dead_code)] // benches/throughput.rs includes this file for `generate`.
fn main() {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => {}
        Err(e) => {
            eprintln!("gen-stream: {e}");
            std::process::exit(2);
        }
    }
}

fn run(args: Vec<String>) -> Result<(), String> {
    let mut opts = Options::default();
    let mut output: Option<String> = None;
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        if flag == "--no-handshake" {
            opts.handshake = false;
            continue;
        }
        if flag == "-h" || flag == "--help" {
            println!("usage: gen-stream [--sessions N] [--concurrency C] [--version 0.4|0.6|0.7] [--seed S] [--events N] [--rcpts K] [--no-handshake] [--output PATH]");
            return Ok(());
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|e| format!("{flag} {value}: {e}"))
        };
        match flag.as_str() {
            "--sessions" => opts.sessions = number()?,
            "--concurrency" => opts.concurrency = number()? as usize,
            "--seed" => opts.seed = number()?,
            "--events" => opts.events = Some(number()?),
            "--rcpts" => opts.rcpts = Some(number()? as u32),
            "--version" => {
                opts.version = Proto::parse(&value)
                    .ok_or_else(|| format!("--version {value}: 0.4, 0.6 or 0.7"))?
            }
            "--output" => output = Some(value),
            other => return Err(format!("unknown flag {other} (try --help)")),
        }
    }
    if opts.events.is_some() && opts.sessions == Options::default().sessions {
        opts.sessions = u64::MAX;
    }
    let written = match output.as_deref() {
        None | Some("-") => {
            let stdout = io::stdout();
            let mut w = io::BufWriter::with_capacity(1 << 16, stdout.lock());
            generate(&opts, &mut w)
        }
        Some(path) => {
            let file = std::fs::File::create(path).map_err(|e| format!("{path}: {e}"))?;
            let mut w = io::BufWriter::with_capacity(1 << 16, file);
            generate(&opts, &mut w)
        }
    }
    .map_err(|e| e.to_string())?;
    eprintln!(
        "gen-stream: sessions={} events={} bytes={} peak_open={}",
        written.sessions, written.events, written.bytes, written.peak_open
    );
    Ok(())
}
