//! A complete smtp-in session as report lines, shared by the test binaries
//! through `#[path]` (the sinks and the faults tests feed many of them).

/// One complete smtp-in session (protocol 0.6): 10 report lines.
pub fn session(n: u64) -> Vec<String> {
    let sid = format!("{:016x}", 0x5e55_0000_0000_0000_u64 + n);
    let msg = format!("{n:08x}");
    let t = 1_795_000_000 + n;
    let lines = [
        format!(
            "link-connect|{sid}|client.test|pass|127.0.0.1:{}|127.0.0.1:25",
            20_000 + n % 40_000
        ),
        format!("link-greeting|{sid}|mx.test"),
        format!("link-identify|{sid}|EHLO|client.test"),
        format!("tx-begin|{sid}|{msg}"),
        format!("tx-mail|{sid}|{msg}|ok|sender{n}@client.test"),
        format!("tx-envelope|{sid}|{msg}|{msg}00000001"),
        format!("tx-rcpt|{sid}|{msg}|ok|rcpt{n}@example.test"),
        format!("tx-data|{sid}|{msg}|ok"),
        format!("tx-commit|{sid}|{msg}|1234"),
        format!("link-disconnect|{sid}"),
    ];
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| format!("report|0.6|{t}.{i:06}|smtp-in|{l}"))
        .collect()
}
