//! Issue 22's edges under a fault: what stderr says of an outage.

use crate::harness::*;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// An outage is told once as `sink_unavailable` (not "sink unavailable"
/// twice in one line), and its end says how long it lasted and how many
/// documents were held meanwhile.
#[test]
fn edge_sink_warnings_say_unavailable_once_and_how_long() {
    let dir = temp_dir("outage-told");
    let path = dir.join("log.sock");
    let socket = path.display().to_string();
    let mut f = Filter::start(&["--syslog-socket", &socket, "--stats-interval", "0"]);
    f.feed(&sessions(0..5));
    f.await_stderr("sink_unavailable", Duration::from_secs(10));
    // syslogd comes back: a receiver that reads everything.
    let receiver = UnixDatagram::bind(&path).unwrap();
    receiver
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let daemon = std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        let mut got = 0u64;
        while receiver.recv(&mut buf).is_ok() {
            got += 1;
        }
        got
    });
    f.await_stderr("sink_recovered", Duration::from_secs(10));
    let end = f.end_input();
    let (status, _) = f.wait_exit(end, GRACE + SLACK);
    let stderr = f.stderr();
    assert!(status.success(), "{stderr}");
    let down = stderr
        .lines()
        .find(|l| l.contains("sink_unavailable"))
        .unwrap();
    assert_eq!(down.matches("unavailable").count(), 1, "{down}");
    assert!(!stderr.contains("sink unavailable"), "{stderr}");
    let up = stderr
        .lines()
        .find(|l| l.contains("sink_recovered"))
        .unwrap();
    // "… delivering again after 0.4 s unavailable, 50 documents held"
    let (_, tail) = up.split_once("after ").expect(up);
    let (secs, rest) = tail.split_once(" s unavailable, ").expect(up);
    assert!(secs.parse::<f64>().unwrap() > 0.0, "{up}");
    let held: u64 = rest.split_whitespace().next().unwrap().parse().expect(up);
    assert_eq!(held, 50, "every document waited: {up}");
    assert!(rest.contains("documents held"), "{up}");
    assert_eq!(daemon.join().unwrap(), 50, "{stderr}");
    eprintln!("{down}\n{up}");
}
