#!/usr/bin/env python3
"""Downloads every message with Python's poplib, as a POP3 user's script would.

usage: poplib_fetch.py PORT USER PASSWORD OUTDIR
Writes OUTDIR/list (the LIST lines), OUTDIR/uidl (the UIDL lines) and OUTDIR/<n> for each message:
the lines poplib's retr() returns, each followed by CRLF (poplib has already undone the
byte-stuffing), i.e. the message as the server delivered it.
"""
import os
import poplib
import sys


def download(pop, user, password, outdir):
    """Logs in on `pop` (a connected poplib.POP3), writes the files described above and quits."""
    pop.user(user)
    pop.pass_(password)
    _, listing, _ = pop.list()
    with open(os.path.join(outdir, "list"), "wb") as f:
        f.write(b"".join(line + b"\r\n" for line in listing))
    _, uidls, _ = pop.uidl()
    with open(os.path.join(outdir, "uidl"), "wb") as f:
        f.write(b"".join(line + b"\r\n" for line in uidls))
    for entry in listing:
        number = int(entry.split()[0])
        _, lines, _ = pop.retr(number)
        with open(os.path.join(outdir, str(number)), "wb") as f:
            f.write(b"".join(line + b"\r\n" for line in lines))
    pop.quit()


def main():
    port, user, password, outdir = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    # poplib refuses lines over 2048 octets by default; the corpus has a 100 KiB line.
    poplib._MAXLINE = 1 << 30
    pop = poplib.POP3("127.0.0.1", port, timeout=60)
    download(pop, user, password, outdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
