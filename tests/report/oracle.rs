//! An independent count over the raw `report|` lines smtpd wrote: what the
//! report's figures must be, by the meanings issue 14 gives them. It shares
//! no code with the filter or the report; it reads the protocol itself.

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A transaction: its sender and every (recipient, result).
type Transaction = (Option<String>, Vec<(String, String)>);

#[derive(Default)]
struct Session {
    connected: bool,
    disconnected: bool,
    network: bool,
    /// smtp-in: the client's address; smtp-out: the remote server's.
    peer: Option<String>,
    tls: bool,
    timed_out: bool,
    last_auth: Option<String>,
    last_auth_user: Option<String>,
    auth_failures: u64,
    replies_4xx: u64,
    replies_5xx: u64,
    rcpt_ok: u64,
    rcpt_refused: u64,
    /// The last reply line, until the next command.
    last_reply: Option<String>,
    fcrdns: Option<String>,
    /// msgid -> (sender, [(address, result)])
    txs: HashMap<String, Transaction>,
}

/// The expected figures.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Expected {
    pub sessions_in: u64,
    pub sessions_out: u64,
    pub messages_accepted: u64,
    pub bytes: u64,
    pub messages_relayed: u64,
    pub rcpt_accepted: u64,
    pub rcpt_refused: u64,
    pub tls_in: (u64, u64),
    pub tls_out: (u64, u64),
    pub unique_senders: u64,
    pub unique_recipients: u64,
    /// domain -> (messages, recipients, sessions_tls, sessions_plaintext)
    pub recipient_domains: BTreeMap<String, (u64, u64, u64, u64)>,
    pub refused_by_domain: BTreeMap<String, u64>,
    /// network client -> refused recipients of its sessions
    pub refused_by_client: BTreeMap<String, u64>,
    /// network client -> sessions timed out
    pub timeouts_by_client: BTreeMap<String, u64>,
    pub timeouts: u64,
    pub fcrdns_fail: u64,
    pub auth_failed_sessions: u64,
    pub auth_attempts: u64,
    /// user -> (failed attempts, sessions)
    pub auth_by_user: BTreeMap<String, (u64, u64)>,
    /// client -> (sessions, failed attempts)
    pub auth_by_client: BTreeMap<String, (u64, u64)>,
    /// (sessions, 4xx, 5xx) of the sessions with any 4xx or 5xx reply
    pub replies_in: (u64, u64, u64),
    pub replies_out: (u64, u64, u64),
    /// address -> (sessions, 4xx, 5xx)
    pub replies_by_client: BTreeMap<String, (u64, u64, u64)>,
    pub replies_by_server: BTreeMap<String, (u64, u64, u64)>,
    pub filter_verdicts: u64,
    pub outbound_deferred: u64,
    pub outbound_failed: u64,
    /// smtp-out tx-rollback: (all, with a 4xx reply), and per reply.
    pub rollbacks: (u64, u64),
    pub rollbacks_by_reply: BTreeMap<String, u64>,
}

fn domain(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((_, d)) if !d.is_empty() => d.to_ascii_lowercase(),
        _ => "(none)".into(),
    }
}

/// The address of an `ip:port` endpoint (`[v6]:port` too), or `None`
/// for the local socket.
fn ip_of(text: &str) -> Option<String> {
    let (host, port) = text.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    port.parse::<u16>().ok()?;
    host.parse::<std::net::IpAddr>()
        .ok()
        .map(|ip| ip.to_string())
}

fn add3(row: &mut (u64, u64, u64), r4: u64, r5: u64) {
    row.0 += 1;
    row.1 += r4;
    row.2 += r5;
}

/// A transaction's end (smtp-in): each refused domain once, as the
/// panel counts transactions by `opensmtpd.refused_domains`.
fn refused_domains(e: &mut Expected, rcpts: &[(String, String)]) {
    let refused: BTreeSet<String> = rcpts
        .iter()
        .filter(|(_, result)| result != "ok")
        .map(|(address, _)| domain(address))
        .collect();
    for d in refused {
        *e.refused_by_domain.entry(d).or_default() += 1;
    }
}

/// `msgid`, address and result of a tx-mail/tx-rcpt payload: protocol
/// versions before 0.6 put the result after the address.
fn mail_or_rcpt(payload: &str, old: bool) -> (&str, &str, &str) {
    let (msgid, rest) = payload.split_once('|').unwrap();
    let (address, result) = if old {
        rest.rsplit_once('|').unwrap()
    } else {
        let (r, a) = rest.split_once('|').unwrap();
        (a, r)
    };
    (msgid, address, result)
}

/// Counts a whole stream.
pub fn count(stream: &str) -> Expected {
    let mut e = Expected::default();
    let mut sessions: HashMap<(String, String), Session> = HashMap::new();
    let mut senders = BTreeSet::new();
    let mut recipients = BTreeSet::new();
    let mut domain_sessions: BTreeMap<String, BTreeSet<(String, bool)>> = BTreeMap::new();
    for line in stream.lines() {
        let f: Vec<&str> = line.splitn(7, '|').collect();
        if f.len() < 6 || f[0] != "report" {
            continue;
        }
        let (version, subsystem, event, sid) = (f[1], f[3], f[4], f[5]);
        let old = version == "0.4" || version == "0.5";
        let payload = f.get(6).copied().unwrap_or("");
        let out = subsystem == "smtp-out";
        let s = sessions
            .entry((subsystem.to_string(), sid.to_string()))
            .or_default();
        match event {
            "link-connect" => {
                let p: Vec<&str> = payload.split('|').collect();
                s.connected = true;
                s.fcrdns = Some(p[1].to_string());
                s.peer = ip_of(if out { p[3] } else { p[2] });
                s.last_reply = None;
                s.network = s.peer.is_some();
                s.tls = false;
            }
            "link-tls" => s.tls = true,
            "timeout" => s.timed_out = true,
            "link-disconnect" => s.disconnected = true,
            "link-auth" => {
                // 0.7: result|user; before: user|result.
                let (result, user) = if version == "0.7" {
                    payload.split_once('|').unwrap()
                } else {
                    let (u, r) = payload.rsplit_once('|').unwrap();
                    (r, u)
                };
                if result != "pass" {
                    s.auth_failures += 1;
                }
                s.last_auth = Some(result.to_string());
                s.last_auth_user = Some(user.to_string());
            }
            "protocol-client" => s.last_reply = None,
            "protocol-server" => {
                s.last_reply = Some(payload.to_string());
                // A reply ends at the line whose code is not followed by '-'.
                if payload.as_bytes().get(3) != Some(&b'-') {
                    match payload.as_bytes().first() {
                        Some(b'4') => s.replies_4xx += 1,
                        Some(b'5') => s.replies_5xx += 1,
                        _ => {}
                    }
                }
            }
            "tx-rollback" if out => {
                let reply = s.last_reply.clone().unwrap_or_else(|| "(none)".into());
                e.rollbacks.0 += 1;
                e.rollbacks.1 += u64::from(reply.starts_with('4'));
                *e.rollbacks_by_reply.entry(reply).or_default() += 1;
            }
            "filter-response" => {
                let decision = payload.split('|').nth(1).unwrap_or("");
                if decision != "proceed" && !out {
                    e.filter_verdicts += 1;
                }
            }
            "tx-mail" => {
                let (msgid, address, result) = mail_or_rcpt(payload, old);
                if result == "ok" {
                    s.txs.entry(msgid.into()).or_default().0 = Some(address.into());
                }
            }
            "tx-rcpt" => {
                let (msgid, address, result) = mail_or_rcpt(payload, old);
                let ok = result == "ok";
                if !out {
                    if ok {
                        s.rcpt_ok += 1;
                    } else {
                        s.rcpt_refused += 1;
                    }
                } else if result == "tempfail" {
                    e.outbound_deferred += 1;
                } else if result == "permfail" {
                    e.outbound_failed += 1;
                }
                s.txs
                    .entry(msgid.into())
                    .or_default()
                    .1
                    .push((address.into(), result.into()));
            }
            "tx-rollback" if !out => {
                let rcpts = &s.txs.get(payload).cloned().unwrap_or_default().1;
                refused_domains(&mut e, rcpts);
            }
            "tx-commit" => {
                let (msgid, size) = payload.split_once('|').unwrap();
                let size: u64 = size.parse().unwrap();
                if out {
                    e.messages_relayed += 1;
                    continue;
                }
                e.messages_accepted += 1;
                e.bytes += size;
                let (sender, rcpts) = s.txs.get(msgid).cloned().unwrap_or_default();
                let sender = match sender.as_deref() {
                    Some("") => "<>".to_string(),
                    Some(a) => a.to_string(),
                    None => "(unknown)".to_string(),
                };
                senders.insert(sender);
                refused_domains(&mut e, &rcpts);
                let mut per_domain: BTreeMap<String, u64> = BTreeMap::new();
                for (address, result) in &rcpts {
                    if result == "ok" {
                        recipients.insert(address.clone());
                        *per_domain.entry(domain(address)).or_default() += 1;
                    }
                }
                for (d, n) in per_domain {
                    let row = e.recipient_domains.entry(d.clone()).or_default();
                    row.0 += 1;
                    row.1 += n;
                    // Sessions of the panels "received, MX" (network) and
                    // "submission" (authenticated).
                    let mx_or_submission = s.network || s.last_auth.as_deref() == Some("pass");
                    let seen = domain_sessions.entry(d).or_default();
                    if mx_or_submission && seen.iter().all(|(id, _)| id != sid) {
                        seen.insert((sid.to_string(), s.tls));
                    }
                }
            }
            _ => {}
        }
    }
    for (d, ids) in domain_sessions {
        let row = e.recipient_domains.entry(d).or_default();
        row.2 = ids.iter().filter(|(_, tls)| *tls).count() as u64;
        row.3 = ids.iter().filter(|(_, tls)| !*tls).count() as u64;
    }
    for ((subsystem, _), s) in &sessions {
        let out = subsystem == "smtp-out";
        // As the session panels: sessions smtpd reported the end of.
        if !s.disconnected {
            continue;
        }
        e.timeouts += u64::from(s.timed_out);
        if !out {
            e.rcpt_accepted += s.rcpt_ok;
            e.rcpt_refused += s.rcpt_refused;
            if let Some(client) = &s.peer {
                if s.rcpt_refused > 0 {
                    *e.refused_by_client.entry(client.clone()).or_default() += s.rcpt_refused;
                }
                if s.timed_out {
                    *e.timeouts_by_client.entry(client.clone()).or_default() += 1;
                }
            }
        }
        if s.replies_4xx + s.replies_5xx > 0 {
            let (total, table) = if out {
                (&mut e.replies_out, &mut e.replies_by_server)
            } else {
                (&mut e.replies_in, &mut e.replies_by_client)
            };
            add3(total, s.replies_4xx, s.replies_5xx);
            if let Some(peer) = &s.peer {
                add3(
                    table.entry(peer.clone()).or_default(),
                    s.replies_4xx,
                    s.replies_5xx,
                );
            }
        }
        if !out && s.auth_failures > 0 {
            e.auth_failed_sessions += 1;
            e.auth_attempts += s.auth_failures;
            let user = s.last_auth_user.clone().unwrap_or_default();
            let row = e.auth_by_user.entry(user).or_default();
            row.0 += s.auth_failures;
            row.1 += 1;
            if let Some(client) = &s.peer {
                let row = e.auth_by_client.entry(client.clone()).or_default();
                row.0 += 1;
                row.1 += s.auth_failures;
            }
        }
        if !s.connected {
            continue;
        }
        if out {
            e.sessions_out += 1;
        } else {
            e.sessions_in += 1;
            if s.network {
                e.fcrdns_fail += u64::from(s.fcrdns.as_deref() == Some("fail"));
            }
        }
        if s.network {
            let pair = if out { &mut e.tls_out } else { &mut e.tls_in };
            if s.tls {
                pair.0 += 1;
            } else {
                pair.1 += 1;
            }
        }
    }
    e.unique_senders = senders.len() as u64;
    e.unique_recipients = recipients.len() as u64;
    e
}

/// The same figures, read from the report's JSON.
pub fn from_report(v: &serde_json::Value) -> Expected {
    let n = |path: &str| -> u64 {
        v.pointer(path)
            .and_then(|x| x.as_u64())
            .unwrap_or_else(|| panic!("{path} missing in {v}"))
    };
    let list = |path: &str, key: &str| -> BTreeMap<String, u64> {
        v.pointer(path)
            .and_then(|x| x.as_array())
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r[key].as_str().unwrap().to_string(),
                    r["count"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let rows = |path: &str, key: &str, cols: [&str; 3]| -> BTreeMap<String, (u64, u64, u64)> {
        v.pointer(path)
            .and_then(|x| x.as_array())
            .unwrap_or_else(|| panic!("{path} missing in {v}"))
            .iter()
            .map(|r| {
                let c = |name: &str| r[name].as_u64().unwrap();
                (
                    r[key].as_str().unwrap().to_string(),
                    (c(cols[0]), c(cols[1]), c(cols[2])),
                )
            })
            .collect()
    };
    let pairs = |path: &str, key: &str, a: &str, b: &str| -> BTreeMap<String, (u64, u64)> {
        rows(path, key, [a, b, b])
            .into_iter()
            .map(|(k, (x, y, _))| (k, (x, y)))
            .collect()
    };
    let class = |dir: &str| {
        (
            n(&format!("/replies/{dir}/sessions")),
            n(&format!("/replies/{dir}/replies_4xx")),
            n(&format!("/replies/{dir}/replies_5xx")),
        )
    };
    let reply_cols = ["sessions", "replies_4xx", "replies_5xx"];
    let domains = v["recipient_domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["domain"].as_str().unwrap().to_string(),
                (
                    d["messages"].as_u64().unwrap(),
                    d["recipients"].as_u64().unwrap(),
                    d["sessions_tls"].as_u64().unwrap(),
                    d["sessions_plaintext"].as_u64().unwrap(),
                ),
            )
        })
        .collect();
    Expected {
        sessions_in: n("/sessions/smtp_in"),
        sessions_out: n("/sessions/smtp_out"),
        messages_accepted: n("/messages/accepted"),
        bytes: n("/messages/bytes"),
        messages_relayed: n("/messages/relayed"),
        rcpt_accepted: n("/recipients/accepted"),
        rcpt_refused: n("/recipients/refused"),
        tls_in: (n("/tls/smtp_in/tls"), n("/tls/smtp_in/plaintext")),
        tls_out: (n("/tls/smtp_out/tls"), n("/tls/smtp_out/plaintext")),
        unique_senders: n("/unique/senders"),
        unique_recipients: n("/unique/recipients"),
        recipient_domains: domains,
        refused_by_domain: list("/refusals/by_domain", "key"),
        refused_by_client: list("/refusals/by_client", "key"),
        timeouts_by_client: list("/timeouts/by_client", "key"),
        timeouts: n("/timeouts/sessions"),
        fcrdns_fail: n("/fcrdns/fail"),
        auth_failed_sessions: n("/auth_failures/sessions"),
        auth_attempts: n("/auth_failures/attempts"),
        auth_by_user: pairs("/auth_failures/by_user", "user", "attempts", "sessions"),
        auth_by_client: pairs("/auth_failures/by_client", "client", "sessions", "attempts"),
        replies_in: class("smtp_in"),
        replies_out: class("smtp_out"),
        replies_by_client: rows("/replies/by_client", "address", reply_cols),
        replies_by_server: rows("/replies/by_server", "address", reply_cols),
        filter_verdicts: n("/filter_verdicts/total"),
        outbound_deferred: n("/outbound/deferred"),
        outbound_failed: n("/outbound/failed"),
        rollbacks: (n("/outbound/rollbacks"), n("/outbound/rollbacks_deferred")),
        rollbacks_by_reply: list("/outbound/rollbacks_by_reply", "key"),
    }
}
