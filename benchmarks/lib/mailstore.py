"""Deterministic benchmark mail: a pool of messages of mixed sizes, hard-linked into many Maildirs."""

import os
import random

MAIL_UID = 65534

# (size in octets, weight): most mail is small, a few messages are large (a realistic skew).
SIZE_MIX = [
    (2 * 1024, 20), (3 * 1024, 16), (4 * 1024, 14), (6 * 1024, 10), (8 * 1024, 9), (12 * 1024, 7),
    (16 * 1024, 6), (24 * 1024, 4), (32 * 1024, 3), (64 * 1024, 3), (128 * 1024, 2), (256 * 1024, 2),
    (512 * 1024, 1.5), (1024 * 1024, 1), (2 * 1024 * 1024, 0.7), (10 * 1024 * 1024, 0.3),
]
MESSAGES_PER_USER = 8


def message_bytes(size, serial):
    """A CRLF message of exactly `size` octets: headers, then 76-character text lines."""
    header = (
        f"From: Bench Sender <sender@bench.example>\r\n"
        f"To: bench@bench.example\r\n"
        f"Subject: benchmark message {serial} of {size} octets\r\n"
        f"Message-ID: <bench-{serial}-{size}@bench.example>\r\n"
        f"Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
    ).encode()
    rng = random.Random(serial)
    alphabet = b"abcdefghijklmnopqrstuvwxyz     ABCDEFGHIJ0123456789.,"
    lines = [bytes(rng.choice(alphabet) for _ in range(76)) + b"\r\n" for _ in range(64)]
    # A line that starts with a dot, so dot-stuffing is exercised.
    lines[7] = b"." + lines[7][1:]
    block = b"".join(lines)
    body_size = size - len(header)
    body = (block * (body_size // len(block) + 1))[:body_size]
    # End on CRLF so the octet count is exact on every path.
    body = body[:-2] + b"\r\n" if body_size >= 2 else body
    return header + body


def write_pool(directory, sizes):
    """Writes one file per distinct size; returns {size: path}."""
    os.makedirs(directory, exist_ok=True)
    paths = {}
    for serial, size in enumerate(sorted(set(sizes))):
        path = os.path.join(directory, f"msg-{size}")
        with open(path, "wb") as f:
            f.write(message_bytes(size, serial))
        os.chown(path, MAIL_UID, MAIL_UID)
        paths[size] = path
    return paths


def user_sizes(user_index):
    """The sizes of one user's messages, the same on every run."""
    rng = random.Random(1000 + user_index)
    sizes = [s for s, _ in SIZE_MIX]
    weights = [w for _, w in SIZE_MIX]
    return rng.choices(sizes, weights=weights, k=MESSAGES_PER_USER)


def make_maildir(home, files):
    """A Maildir with `files` hard-linked into cur/ (S= and W= in the names spare Dovecot a scan)."""
    maildir = os.path.join(home, "Maildir")
    for sub in ("", "cur", "new", "tmp"):
        os.makedirs(os.path.join(maildir, sub), exist_ok=True)
    for n, path in enumerate(files):
        size = os.path.getsize(path)
        name = f"{1600000000 + n}.M{n}P1.bench,S={size},W={size}:2,S"
        os.link(path, os.path.join(maildir, "cur", name))
    for root, dirs, _ in os.walk(home):
        os.chown(root, MAIL_UID, MAIL_UID)
        for d in dirs:
            os.chown(os.path.join(root, d), MAIL_UID, MAIL_UID)


def populate(root, mail_users, idle_users, big_size):
    """Creates ROOT/home/<user>/Maildir for benchN (mixed mail), idleN (one small message) and big0.

    Returns (total messages per mail user on average, sizes list of user 0)."""
    pool = write_pool(os.path.join(root, "pool"), [s for s, _ in SIZE_MIX])
    home = os.path.join(root, "home")
    os.makedirs(home, exist_ok=True)
    os.chown(home, MAIL_UID, MAIL_UID)
    total_octets = 0
    for i in range(mail_users):
        sizes = user_sizes(i)
        total_octets += sum(sizes)
        make_maildir(os.path.join(home, f"bench{i}"), [pool[s] for s in sizes])
    for i in range(idle_users):
        make_maildir(os.path.join(home, f"idle{i}"), [pool[SIZE_MIX[0][0]]])
    big_path = os.path.join(root, "pool", "msg-big")
    with open(big_path, "wb") as f:
        f.write(message_bytes(big_size, 99999))
    os.chown(big_path, MAIL_UID, MAIL_UID)
    make_maildir(os.path.join(home, "big0"), [big_path])
    return total_octets / max(mail_users, 1)
