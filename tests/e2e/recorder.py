#!/usr/bin/python3
"""Report-only OpenSMTPD filter that records its input stream byte for byte.

Usage (smtpd.conf):  filter rec proc-exec "/usr/bin/python3 /path/recorder.py CAPTURE_FILE"

Every line smtpd writes to the filter (handshake included) is appended unchanged
to CAPTURE_FILE.  At `config|ready` it registers every smtp-in report event, every
smtp-out report event only if `config|subsystem|smtp-out` was announced, then
`register|ready`.  It exits on EOF (smtpd stopped).  It never writes anything else
to stdout: any other line there makes smtpd abort.

It runs as smtpd's filter user (opensmtpd on Debian), so CAPTURE_FILE's directory
must be writable by that user and this script must be readable by it.  Use
/usr/bin/python3, not a shim under /root.
"""
import sys


def main() -> int:
    if len(sys.argv) != 2:
        sys.stderr.write("usage: recorder.py CAPTURE_FILE\n")
        return 2
    cap = open(sys.argv[1], "ab", buffering=0)  # raw bytes, unbuffered
    inp, out = sys.stdin.buffer, sys.stdout.buffer  # fd 0 and 1: one unix socket
    smtp_out = False
    while True:
        line = inp.readline()  # bytes: the stream is not guaranteed to be UTF-8
        if not line:
            return 0  # EOF: smtpd has gone away, so must we
        cap.write(line)
        if line == b"config|subsystem|smtp-out\n":
            smtp_out = True
        elif line == b"config|ready\n":
            out.write(b"register|report|smtp-in|*\n")
            if smtp_out:
                out.write(b"register|report|smtp-out|*\n")
            out.write(b"register|ready\n")
            out.flush()  # the handshake hangs without it


if __name__ == "__main__":
    sys.exit(main())
