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
