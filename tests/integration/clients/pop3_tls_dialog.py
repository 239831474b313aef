#!/usr/bin/env python3
"""A scripted POP3 conversation with exact control over what goes on the wire and when TLS starts.

usage: pop3_tls_dialog.py HOST PORT CAFILE STEP...
Prints one line per step. Before TLS the socket is read one byte at a time, so nothing after a
reply's CRLF is consumed: a "tls" step starts the handshake on exactly the bytes the server sends
next, and this client sends nothing but the handshake until the next step.

Steps:
  greeting     read one line (the greeting)
  cmd:LINE     send LINE CRLF and read a one-line reply
  multi:LINE   send LINE CRLF; read the status line and, after +OK, the body up to ".";
               printed as the lines joined with "|"
  raw:TEXT     send TEXT, in which \\r and \\n stand for CR and LF, in one write; prints "sent"
  line         read one line
  tls          TLS handshake, verifying against CAFILE for the name "localhost"; prints
               "tls VERSION CN=<subject common name>"
  close        wait up to 5 s for the server to close; prints "closed" or what arrived instead
On an error the step prints "error: ..." and the script exits with status 3.
"""
import socket
import ssl
import sys


class Dialog:
    def __init__(self, host, port, cafile):
        self.sock = socket.create_connection((host, port), timeout=10)
        self.cafile = cafile
        self.tls = None
        self.buffer = b""

    def send(self, data):
        (self.tls or self.sock).sendall(data)

    def read_line(self):
        if self.tls is None:
            line = b""
            while not line.endswith(b"\n"):
                byte = self.sock.recv(1)
                if not byte:
                    raise EOFError("connection closed after %r" % line)
                line += byte
            return line
        while b"\n" not in self.buffer:
            chunk = self.tls.recv(65536)
            if not chunk:
                raise EOFError("connection closed after %r" % self.buffer)
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line + b"\n"

    def status(self):
        return self.read_line().decode("latin-1").rstrip("\r\n")

    def multi(self):
        lines = [self.status()]
        if lines[0].startswith("+OK"):
            while True:
                line = self.status()
                lines.append(line)
                if line == ".":
                    break
        return "|".join(lines)

    def start_tls(self):
        context = ssl.create_default_context(cafile=self.cafile)
        self.tls = context.wrap_socket(self.sock, server_hostname="localhost")
        subject = dict(item[0] for item in self.tls.getpeercert()["subject"])
        return "tls %s CN=%s" % (self.tls.version(), subject.get("commonName", ""))

    def wait_for_close(self):
        (self.tls or self.sock).settimeout(5)
        extra = self.buffer
        try:
            while True:
                chunk = (self.tls or self.sock).recv(65536)
                if not chunk:
                    break
                extra += chunk
        except (ConnectionResetError, ssl.SSLEOFError):
            pass
        except (socket.timeout, TimeoutError):
            return "open after 5 s; received %r" % extra
        return "closed" if not extra else "closed after %r" % extra

    def step(self, step):
        kind, _, arg = step.partition(":")
        if kind == "greeting" or kind == "line":
            return self.status()
        if kind == "cmd":
            self.send(arg.encode() + b"\r\n")
            return self.status()
        if kind == "multi":
            self.send(arg.encode() + b"\r\n")
            return self.multi()
        if kind == "raw":
            self.send(arg.replace("\\r", "\r").replace("\\n", "\n").encode())
            return "sent"
        if kind == "tls":
            return self.start_tls()
        if kind == "close":
            return self.wait_for_close()
        raise ValueError("unknown step " + step)


def main():
    host, port, cafile, steps = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
    try:
        dialog = Dialog(host, port, cafile)
    except Exception as error:  # noqa: BLE001 - reported to the test
        print("error: connect: %s" % error, flush=True)
        return 3
    for step in steps:
        try:
            print(dialog.step(step), flush=True)
        except Exception as error:  # noqa: BLE001 - reported to the test
            print("error: %s: %s: %s" % (step, type(error).__name__, error), flush=True)
            return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
