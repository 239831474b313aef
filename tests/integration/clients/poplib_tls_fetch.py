#!/usr/bin/env python3
"""Downloads every message with Python's poplib over TLS, verifying the server against a test CA.

usage: poplib_tls_fetch.py stls|implicit PORT USER PASSWORD OUTDIR CAFILE
stls: poplib.POP3 then stls(context) on the plain port; implicit: poplib.POP3_SSL on the TLS port.
The server is reached as 127.0.0.1, so its certificate must name IP:127.0.0.1. Writes the same files
as poplib_fetch.py, plus OUTDIR/tls: the TLS version and whether the peer certificate was verified.
"""
import os
import poplib
import ssl
import sys

from poplib_fetch import download


def main():
    mode, port, user, password, outdir, cafile = sys.argv[1], int(sys.argv[2]), *sys.argv[3:7]
    poplib._MAXLINE = 1 << 30
    context = ssl.create_default_context(cafile=cafile)  # CERT_REQUIRED, check_hostname
    if mode == "stls":
        pop = poplib.POP3("127.0.0.1", port, timeout=60)
        pop.stls(context)  # sends CAPA first and refuses if STLS is not listed
    elif mode == "implicit":
        pop = poplib.POP3_SSL("127.0.0.1", port, context=context, timeout=60)
    else:
        raise SystemExit("unknown mode " + mode)
    version = pop.sock.version()
    download(pop, user, password, outdir)
    with open(os.path.join(outdir, "tls"), "w") as f:
        f.write(f"{version} verified={context.verify_mode == ssl.CERT_REQUIRED}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
