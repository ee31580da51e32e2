//! Operator controls through the binary: event selection, privacy, ignored
//! clients, secrets, self-metrics; in replay and in filter mode.

use crate::util::{self, data, documents, get, run, temp, HANDSHAKE};
use serde_json::Value;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn stream() -> Vec<u8> {
    std::fs::read(data("captured/debian-6.8.0p2-smtp-in.txt")).unwrap()
}

fn both_modes(args: &[&str], input: &[u8]) -> Vec<Value> {
    util::both_modes(args, input).docs
}

fn actions(docs: &[Value]) -> Vec<String> {
    docs.iter()
        .map(|d| get(d, "event.action").as_str().unwrap().to_string())
        .collect()
}

#[test]
fn events_select_documents_but_state_follows_everything() {
    let all = both_modes(&[], &stream());
    let some = both_modes(&["--events", "tx-commit,link-disconnect"], &stream());
    assert!(!some.is_empty() && some.len() < all.len() / 5);
    assert!(actions(&some)
        .iter()
        .all(|a| a == "tx-commit" || a == "link-disconnect"));
    // The disconnect document has the same totals with or without selection.
    let last = |docs: &[Value]| {
        docs.iter()
            .rev()
            .find(|d| get(d, "event.action") == "link-disconnect")
            .cloned()
            .unwrap()
    };
    assert_eq!(
        get(&last(&all), "opensmtpd.counters"),
        get(&last(&some), "opensmtpd.counters")
    );
    assert_eq!(
        get(&last(&some), "event.sequence"),
        get(&last(&all), "event.sequence")
    );
}

#[test]
fn summaries_preset_gives_one_document_per_transaction_and_session() {
    let docs = both_modes(&["--events", "summaries"], &stream());
    let raw = stream();
    let count = |needle: &[u8]| raw.windows(needle.len()).filter(|w| *w == needle).count();
    let expected = count(b"|tx-commit|") + count(b"|tx-rollback|") + count(b"|link-disconnect|");
    assert_eq!(docs.len(), expected);
    let commit = docs
        .iter()
        .find(|d| get(d, "event.action") == "tx-commit")
        .unwrap();
    assert!(get(commit, "opensmtpd.transaction.size").is_u64());
    assert!(get(commit, "email.to.address").is_array());
    let end = docs
        .iter()
        .find(|d| get(d, "event.action") == "link-disconnect")
        .unwrap();
    for field in [
        "opensmtpd.session.duration_us",
        "opensmtpd.counters.transactions",
        "opensmtpd.counters.messages",
        "opensmtpd.counters.recipients_accepted",
        "opensmtpd.counters.recipients_refused",
        "opensmtpd.counters.bytes",
        "tls.established",
    ] {
        assert!(!get(end, field).is_null(), "{field}");
    }
}

#[test]
fn unknown_event_names_are_refused() {
    let out = run(&["replay", "--events", "tx-comit"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tx-comit"));
}

fn addresses(docs: &[Value]) -> Vec<String> {
    let mut all = Vec::new();
    for d in docs {
        for p in [
            "email.from.address",
            "opensmtpd.mail.address",
            "opensmtpd.rcpt.address",
        ] {
            if let Some(s) = get(d, p).as_str() {
                all.push(s.to_string());
            }
        }
        if let Some(list) = get(d, "email.to.address").as_array() {
            all.extend(list.iter().filter_map(|v| v.as_str().map(str::to_string)));
        }
    }
    all
}

#[test]
fn keyed_hashes_keep_domains_and_joins() {
    let key = temp("key");
    std::fs::write(&key, "a secret of more than sixteen bytes\n").unwrap();
    let key_arg = key.to_str().unwrap();
    let plain = both_modes(&[], &stream());
    let hashed = both_modes(
        &[
            "--address-privacy",
            "hash-local",
            "--user-privacy",
            "hash",
            "--hash-key-file",
            key_arg,
        ],
        &stream(),
    );
    let (p, h) = (addresses(&plain), addresses(&hashed));
    assert_eq!(p.len(), h.len());
    assert!(!p.is_empty());
    for (p, h) in p.iter().zip(&h) {
        if p.is_empty() {
            assert!(h.is_empty(), "the null sender stays empty");
            continue;
        }
        let (p_local, p_domain) = p.rsplit_once('@').unwrap_or((p, ""));
        let (h_local, h_domain) = h.rsplit_once('@').unwrap_or((h, ""));
        assert_eq!(p_domain, h_domain);
        assert_eq!(h_local.len(), 16);
        assert_ne!(h_local, p_local);
    }
    // Joinable: the same address hashes the same everywhere.
    let mut map = std::collections::HashMap::new();
    for (p, h) in p.iter().zip(&h) {
        assert_eq!(map.entry(p.clone()).or_insert_with(|| h.clone()), h);
    }
    // No plain local part survives anywhere in the documents, free text included.
    let text = serde_json::to_string(&hashed).unwrap();
    let users: Vec<&str> = plain
        .iter()
        .filter_map(|d| get(d, "user.name").as_str())
        .collect();
    assert!(!users.is_empty());
    for user in users {
        assert!(!text.contains(&format!("\"{user}\"")), "{user} leaked");
    }
    for address in p.iter().filter(|a| a.contains('@')) {
        assert!(!text.contains(address.as_str()), "{address} leaked");
    }
    let _ = std::fs::remove_file(key);
}

#[test]
fn redaction_and_dropped_commands() {
    let docs = both_modes(
        &[
            "--address-privacy",
            "redact-local",
            "--user-privacy",
            "redact",
            "--drop-commands",
        ],
        &stream(),
    );
    for a in addresses(&docs) {
        assert!(
            a.is_empty() || a.starts_with("redacted@") || a == "redacted",
            "{a}"
        );
    }
    assert!(docs.iter().all(|d| get(d, "opensmtpd.command").is_null()));
    assert!(docs.iter().any(|d| get(d, "user.name") == "redacted"));
}

#[test]
fn hashing_without_a_key_is_refused() {
    let out = run(&["replay", "--address-privacy", "hash"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--hash-key-file"));
}

#[test]
fn secrets_sent_in_clear_are_masked() {
    let lines = b"report|0.6|1.0|smtp-in|link-connect|00000000000000c1|h|pass|192.0.2.9:1|192.0.2.1:25\n\
report|0.6|1.1|smtp-in|protocol-client|00000000000000c1|AUTH PLAIN AGFsaWNlAHNlY3JldDEyMw==\n\
report|0.6|1.2|smtp-in|protocol-server|00000000000000c1|503 5.5.1 Invalid command: Command not supported\n\
report|0.6|1.3|smtp-in|protocol-client|00000000000000c1|AUTH LOGIN YWxpY2U=\n\
report|0.6|1.4|smtp-in|protocol-server|00000000000000c1|334 UGFzc3dvcmQ6\n\
report|0.6|1.5|smtp-in|protocol-client|00000000000000c1|c2VjcmV0MTIz\n";
    let docs = both_modes(&[], lines);
    let text = serde_json::to_string(&docs).unwrap();
    for secret in ["AGFsaWNlAHNlY3JldDEyMw", "YWxpY2U=", "c2VjcmV0MTIz"] {
        assert!(!text.contains(secret), "{secret} leaked");
    }
    assert!(text.contains("AUTH PLAIN ********") && text.contains("AUTH LOGIN ********"));
}

#[test]
fn ignored_clients_get_no_documents() {
    let lines = b"report|0.6|1.0|smtp-in|link-connect|00000000000000d1|probe|pass|198.51.100.7:1|192.0.2.1:25\n\
report|0.6|1.0|smtp-in|link-connect|00000000000000d2|client|pass|203.0.113.9:1|192.0.2.1:25\n\
report|0.6|1.1|smtp-in|protocol-client|00000000000000d1|QUIT\n\
report|0.6|1.1|smtp-in|protocol-client|00000000000000d2|QUIT\n\
report|0.6|1.2|smtp-in|link-disconnect|00000000000000d1\n\
report|0.6|1.2|smtp-in|link-disconnect|00000000000000d2\n";
    let docs = both_modes(&["--ignore-source", "198.51.100.0/24,2001:db8::/32"], lines);
    assert_eq!(docs.len(), 3);
    assert!(docs
        .iter()
        .all(|d| get(d, "opensmtpd.session.id") == "00000000000000d2"));
}

#[test]
fn metrics_come_on_time_while_input_is_idle() {
    let out_file = temp("metrics.json");
    let target = format!("file:{}", out_file.display());
    let mut child = Command::new(crate::util::bin())
        .args(["--output", &target, "--stats-interval", "1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(HANDSHAKE.as_bytes()).unwrap();
    stdin.write_all(b"report|0.6|1.0|smtp-in|link-connect|00000000000000e1|h|pass|192.0.2.9:1|192.0.2.1:25\n").unwrap();
    stdin.flush().unwrap();
    let started = Instant::now();
    let mut metrics = Vec::new();
    while started.elapsed() < Duration::from_secs(10) && metrics.is_empty() {
        std::thread::sleep(Duration::from_millis(200));
        let text = std::fs::read(&out_file).unwrap_or_default();
        metrics = documents(&text)
            .into_iter()
            .filter(|d| get(d, "event.kind") == "metric")
            .collect();
    }
    assert!(
        !metrics.is_empty(),
        "no metric document within 10 s of idle input"
    );
    assert_eq!(get(&metrics[0], "event.action"), "stats");
    assert_eq!(get(&metrics[0], "opensmtpd.jsonlog.sessions_open"), 1);
    // Every document made, this one included: the session's and itself.
    assert_eq!(get(&metrics[0], "opensmtpd.jsonlog.documents"), 2);
    drop(stdin);
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(stdout, "register|report|smtp-in|*\nregister|ready\n");
    let _ = std::fs::remove_file(out_file);
}
