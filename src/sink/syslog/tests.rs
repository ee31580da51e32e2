use super::*;
use rustix::net::sockopt::{set_socket_send_buffer_size, socket_send_buffer_size};
use std::os::unix::net::UnixDatagram;

fn temp_socket(name: &str) -> (PathBuf, UnixDatagram) {
    let dir = std::env::temp_dir().join(format!("filter-jsonlog-syslog-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    let receiver = UnixDatagram::bind(&path).unwrap();
    receiver
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    (path, receiver)
}

fn document(len: usize) -> Vec<u8> {
    let mut doc = b"{\"pad\":\"".to_vec();
    doc.resize(len - 2, b'x');
    doc.extend_from_slice(b"\"}");
    doc
}

/// A BSD datagram socket takes at most its send buffer per message; on
/// Linux the same holds once the buffer is shrunk, as it is here first.
#[test]
fn a_shrunk_send_buffer_is_raised_and_a_7900_byte_document_arrives_whole() {
    let (path, receiver) = temp_socket("shrunk.sock");
    let doc = document(7900);

    // The shrink is real: a socket with this buffer cannot send the message.
    let plain = UnixDatagram::unbound().unwrap();
    plain.connect(&path).unwrap();
    set_socket_send_buffer_size(&plain, 2048).unwrap();
    assert!(socket_send_buffer_size(&plain).unwrap() < 7900);
    let refused = plain.send(&doc).unwrap_err();
    assert_eq!(refused.raw_os_error(), Some(Errno::MSGSIZE.raw_os_error()));

    let mut sink = SyslogSink::new(path.clone(), 2, 8000);
    set_socket_send_buffer_size(sink.socket_fd().unwrap(), 2048).unwrap();
    assert!(socket_send_buffer_size(sink.socket_fd().unwrap()).unwrap() < 7900);
    let mut line = doc.clone();
    line.push(b'\n');
    let ends = [line.len()];
    sink.write(
        Docs::new(&line, &ends, 0),
        Instant::now() + Duration::from_secs(1),
    )
    .unwrap();
    assert!(socket_send_buffer_size(sink.socket_fd().unwrap()).unwrap() >= 7900 + HEADER_BYTES);

    let mut buf = vec![0u8; 20_000];
    let len = receiver.recv(&mut buf).unwrap();
    let got = &buf[..len];
    assert!(got.starts_with(b"<22>"), "{:?}", &got[..20]);
    assert!(got.ends_with(&doc), "the whole document, {len} bytes");
    let _ = std::fs::remove_file(path);
}

#[test]
fn a_new_connection_gets_a_send_buffer_for_the_longest_message() {
    let (path, _receiver) = temp_socket("longest.sock");
    // Larger than Linux's default (212992) and within what it allows
    // without privilege (twice net.core.wmem_max, 212992 by default).
    let sink = SyslogSink::new(path.clone(), 2, 300_000);
    let size = socket_send_buffer_size(sink.socket_fd().unwrap()).unwrap();
    assert!(size >= 300_000 + HEADER_BYTES, "{size}");
    let _ = std::fs::remove_file(path);
}

#[test]
fn facility_names_as_syslog_conf_spells_them() {
    assert_eq!(facility("mail"), Some(2));
    assert_eq!(facility("LOG_MAIL"), Some(2));
    assert_eq!(facility("local7"), Some(23));
    assert_eq!(facility("kern"), Some(0));
    assert_eq!(facility("mall"), None);
}

/// "A syslog message on a stream socket is sent whole or not at all": one
/// torn by a daemon that stopped reading (a send buffer too small to hold
/// it, as with a message over what the kernel lets the buffer grow to) is
/// never followed by another on that connection, where the daemon would
/// read the next message glued to its half.
#[test]
fn after_a_torn_stream_message_the_next_goes_on_a_new_connection() {
    use std::io::Read;
    use std::os::unix::net::UnixListener;
    let dir = std::env::temp_dir().join(format!("filter-jsonlog-syslog-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("torn-stream.sock");
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).unwrap();
    let mut sink = SyslogSink::new(path.clone(), 2, 200_000);
    let (mut first, _) = listener.accept().unwrap();
    set_socket_send_buffer_size(sink.socket_fd().unwrap(), 4096).unwrap();

    let mut big = document(100_000);
    big.push(b'\n');
    let ends = [big.len()];
    let torn = sink
        .write(
            Docs::new(&big, &ends, 0),
            Instant::now() + Duration::from_millis(200),
        )
        .unwrap_err();
    assert_eq!(torn.kind, SinkErrorKind::Torn, "{torn}");

    // The daemon reads again; the next message must not follow the half.
    first.set_nonblocking(true).unwrap();
    let mut half = Vec::new();
    let _ = first.read_to_end(&mut half);
    assert!(!half.is_empty() && half.len() < big.len());
    let mut small = document(100);
    small.push(b'\n');
    let ends = [small.len()];
    sink.write(
        Docs::new(&small, &ends, 0),
        Instant::now() + Duration::from_secs(1),
    )
    .unwrap();
    first.set_nonblocking(false).unwrap();
    first
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut after = Vec::new();
    let _ = first.read_to_end(&mut after);
    assert!(
        after.is_empty(),
        "{} bytes followed the torn message on its connection",
        after.len()
    );
    let (mut second, _) = listener.accept().unwrap();
    second
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = vec![0u8; 1000];
    let n = second.read(&mut buf).unwrap();
    assert!(buf[..n].ends_with(&[&small[..100], &[0u8]].concat()));
    let _ = std::fs::remove_file(path);
}
