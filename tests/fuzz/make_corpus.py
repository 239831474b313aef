#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/<target>/ (checked in; run again after editing).

Seeds are small and real: POP3 sessions as clients send them, Dovecot and Cyrus IMAP responses,
the recorded Cyrus JMAP replies of tests/unit/adapters/jmap/jmap_replies/ (bodies, and with their
recorded heads as HTTP responses), popgate configurations, and OAuth2 token endpoint replies.
fuzz.sh copies them before a run, so what the fuzzer finds never lands here. Past reproducers live
in tests/fuzz/regressions/<target>/, which this script never touches: corpus/ is deleted first.
"""
import base64
import json
import pathlib
import shutil

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
REPLIES = ROOT / "tests/unit/adapters/jmap/jmap_replies"
CORPUS = HERE / "corpus"
if CORPUS.exists():
    shutil.rmtree(CORPUS)


def write(target, name, data):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def crlf(lines):
    return "".join(line + "\r\n" for line in lines).encode()


# ---- fuzz_pop3_server: a client stream, then the harness's decisions (read from the end) ----
# Zero decisions: default options (plaintext allowed, no STLS, default limits), one-octet chunks,
# every action answered at once and successfully, three messages. Four decision octets per
# stream octet are more than a run uses, so the session is delivered whole before the decisions
# run out. The last octet is the options byte: 0x02 offers STLS, 0x04 picks tight limits.
def pop3(name, stream, options=0, chunk=None):
    tail = bytes(4 * len(stream) + 16) if chunk is None else bytes([chunk]) * (4 * len(stream) + 16)
    write("fuzz_pop3_server", name, stream + tail[:-1] + bytes([options]))


PLAIN = base64.b64encode(b"\0alice\0secret").decode()
pop3("user_pass_full_session", crlf([
    "CAPA", "USER alice", "PASS secret", "STAT", "LIST", "UIDL", "LIST 2", "UIDL 3", "RETR 1",
    "TOP 2 0", "DELE 1", "DELE 3", "STAT", "RSET", "DELE 2", "NOOP", "QUIT"]))
pop3("auth_plain_initial_response", crlf(["AUTH PLAIN " + PLAIN, "LIST", "DELE 2", "QUIT"]))
pop3("auth_plain_continuation", crlf(["AUTH", "AUTH PLAIN", PLAIN, "RETR 3", "QUIT"]))
pop3("auth_plain_cancel", crlf(["AUTH PLAIN", "*", "AUTH PLAIN =", "USER bob", "PASS pass word", "QUIT"]))
pop3("stls_then_login", crlf(["CAPA", "STLS", "USER alice", "CAPA", "PASS secret", "QUIT"]), options=2)
pop3("errors_before_and_after_login", crlf([
    "RETR 1", "PASS nouser", "USER", "FOO bar", "USER alice", "PASS secret", "USER alice", "RETR 0",
    "RETR 4", "DELE x", "TOP 1", "TOP 1 -1", "DELE 1", "DELE 1", "RETR 1", "LIST 1 2", "QUIT now", "QUIT"]))
pop3("lowercase_bare_lf_spaces",
     b"user alice\npass  secret \nstat\ndele  1 \nlist\nrset\ntop 1 00000000000000000002\nquit\n")
pop3("pipelined_in_big_chunks", crlf([
    "USER alice", "PASS secret", "LIST", "RETR 1", "RETR 2", "DELE 1", "DELE 2", "QUIT"]), chunk=47)
pop3("long_line_tight_limits", b"USER " + b"a" * 80 + b"\r\nUSER alice\r\nPASS secret\r\nNOOP\r\nQUIT\r\n",
     options=4)
pop3("too_many_bad_commands", crlf(["X", "Y", "Z", "W", "USER alice"]))

# ---- fuzz_dot_stuffer: message bodies; the trailing octets pick the chunk sizes ----
write("fuzz_dot_stuffer", "message_crlf",
      b"From: a@example.com\r\nSubject: hi\r\n\r\nHello.\r\n.\r\n..two dots\r\n.\r\nend\r\n" + b"\x07" * 8)
write("fuzz_dot_stuffer", "message_bare_lf", b"Subject: x\n\n.leading dot\n..\n.\nlast line" + b"\x03" * 6)
write("fuzz_dot_stuffer", "bare_cr_and_split_crlf", b"a\rb\r\r\n.\r.\r\n\r" + b"\x00\x01\x02" * 4)
write("fuzz_dot_stuffer", "long_lines_in_large_chunks",
      b"X-Long: " + b"x" * 1500 + b"\r\n" + b"\r" * 1100 + b"\n.\n" + b"y" * 1200 + b"\x01\x05\x01\x04\x01\x06")

# ---- fuzz_imap_response_parser: what Dovecot and Cyrus send popgate ----
imap_sessions = {
    "dovecot_greeting_login": [
        "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS AUTH=PLAIN] "
        "Dovecot (Debian) ready.",
        "+ ",
        "p1 OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT UIDPLUS MOVE LITERAL+] Logged in"],
    "dovecot_select": [
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
        "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted.",
        "* 3 EXISTS", "* 0 RECENT", "* OK [UIDVALIDITY 1700000000] UIDs valid",
        "* OK [UIDNEXT 42] Predicted next UID", "* OK [HIGHESTMODSEQ 7] Highest",
        "p2 OK [READ-WRITE] Select completed (0.001 + 0.000 secs)."],
    "fetch_sizes": [
        "* 1 FETCH (UID 5 RFC822.SIZE 500)", "* 2 FETCH (UID 7 RFC822.SIZE 700)",
        "* 3 FETCH (UID 9 RFC822.SIZE 900 FLAGS (\\Seen))", "p3 OK Fetch completed."],
    "errors": [
        "* BYE too many connections", "p4 NO [AUTHENTICATIONFAILED] Authentication failed.",
        "p5 NO [NONEXISTENT] Mailbox doesn't exist: INBOX", "p6 BAD Invalid arguments.",
        "* PREAUTH [CAPABILITY IMAP4rev1] welcome back", "* SEARCH 5 6 9", "* SEARCH",
        "* ESEARCH (TAG \"p7\") UID ALL 1:3,5 MAX 18446744073709551615"],
    "expunge_uidplus": [
        "* 2 FETCH (UID 7 FLAGS (\\Deleted))", "p8 OK Store completed.", "* 2 EXPUNGE",
        "p9 OK [COPYUID 3 7 1] Moved", "* NAMESPACE ((\"\" \"/\")) NIL NIL",
        "* LIST (\\HasNoChildren) \"/\" \"INBOX\"", "* STATUS INBOX (MESSAGES 3 UIDNEXT 42)"],
}
for name, lines in imap_sessions.items():
    write("fuzz_imap_response_parser", name, crlf(lines))
body = "Subject: hi\r\n\r\nline with ) and {5}\r\n* 1 FETCH (fake)\r\n"
write("fuzz_imap_response_parser", "fetch_body_literal",
      f"* 3 FETCH (UID 9 BODY[] {{{len(body)}}}\r\n{body})\r\n* 4 NOOP\r\np10 OK done\r\n")
header = "Date: Mon, 1 Jan 2024 10:00:00 +0000\r\nFrom: a@b\r\n\r\n"
write("fuzz_imap_response_parser", "fetch_partial_and_inline_literals",
      f"* 1 FETCH (BODY[]<0> {{{len(header)}}}\r\n{header} UID 4)\r\n"
      "* 1 FETCH (ENVELOPE (\"Mon, 1 Jan 2024\" {7}\r\nSubject NIL NIL NIL NIL NIL NIL NIL \"<id@x>\"))\r\n"
      "* 2 FETCH (BINARY[1] ~{5}\r\n\0\x01\xff\r\n)\r\n* LIST () \"/\" {3+}\r\nabc\r\n"
      "* 5 FETCH (BODYSTRUCTURE ((\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 3 1)(\"TEXT\" \"HTML\" NIL NIL NIL "
      "\"7BIT\" 3 1) \"MIXED\"))\r\n".encode("latin-1"))

# ---- fuzz_jmap_protocol and fuzz_http_response_parser: Cyrus 3.6's recorded replies ----
for reply in sorted(REPLIES.glob("reply_*.json")):
    write("fuzz_jmap_protocol", reply.stem, reply.read_bytes())
for head in sorted(REPLIES.glob("reply_*.headers")):
    bodies = [p for p in REPLIES.glob(head.stem + ".*") if p.suffix != ".headers"]
    write("fuzz_http_response_parser", head.stem, head.read_bytes() + (bodies[0].read_bytes() if bodies else b""))
http = {
    "chunked_with_trailer": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n"
                            b"0\r\nX-Checksum: 1\r\n\r\n",
    "continue_then_ok": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "no_content_not_modified": b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nHTTP/1.1 304 Not Modified\r\n"
                               b"\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    "close_delimited_http10": b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the close",
    "keep_alive_two_responses": b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"jmap\"\r\n"
                                b"Content-Length: 0\r\n\r\nHTTP/1.1 301 Moved\r\nLocation: /jmap/\r\n"
                                b"Connection: close\r\nContent-Length: 3\r\n\r\nbye",
    "folded_header_truncated": b"HTTP/1.1 200 OK\r\nX-Long: a\r\n  b\r\nContent-Length: 10\r\n\r\nshort",
}
for name, data in http.items():
    write("fuzz_http_response_parser", name, data)

# ---- fuzz_config: the config file, then NUL-separated arguments and POPGATE_* variables ----
def config(name, file_json, *args):
    write("fuzz_config", name, "\0".join([json.dumps(file_json) if file_json is not None else ""] + list(args)))


config("example_config", json.loads((ROOT / "deploy/example-config.json").read_text()))
config("command_line_only", None, "--upstream", "imap://127.0.0.1:143", "--listen", "127.0.0.1:1110",
       "--delete-mode=move:Trash", "--mark-seen", "--idle-timeout", "30.5", "--max-line-length", "1024")
config("file_and_environment", {"upstream": "jmaps://mail.example.com/jmap/session", "listen": ["[::1]:110"],
                                "idle_timeout": 600, "maildrop_lock": False, "log_format": "text"},
       "POPGATE_IDLE_TIMEOUT=30", "POPGATE_LISTEN=127.0.0.1:110,127.0.0.1:1110", "POPGATE_MARK_SEEN=true",
       "POPGATE_SERVICE_HOST=10.0.0.1", "--check-config")
config("tls_options", {"tls_cert": "/etc/popgate/cert.pem", "tls_key": "/etc/popgate/key.pem",
                       "listen_tls": ["0.0.0.0:995"], "upstream": "imaps://[2001:db8::1]:993",
                       "upstream_insecure": True, "admin": "127.0.0.1:9110"},
       "--no-admin", "--upstream", "imap://mail?tls=none")
config("errors", {"upstream": 5, "unknown": True}, "--help", "--bogus", "POPGATE_BOGUS=1")
# Found by this target: nlohmann's out_of_range for a number too large for a double escaped
# load_config_file, so popgate aborted (at start, or on a SIGHUP reload) instead of exiting 2.
write("fuzz_config", "number_overflow_in_file", '{"upstream": "imap://127.0.0.1", "idle_timeout": 1e400}')

# ---- fuzz_token_endpoint: what OAuth2 token endpoints answer; "STATUS\n" and the body ----
def token(name, status, reply):
    write("fuzz_token_endpoint", name, f"{status}\n" + (json.dumps(reply) if not isinstance(reply, str) else reply))


# RFC 6749 §5.1 and §6; Google's and Microsoft's spellings (expires_in as a string: Azure AD v1).
token("refresh_rfc6749", 200, {"access_token": "2YotnFZFEjr1zCsicMWpAA", "token_type": "example",
                               "expires_in": 3600, "refresh_token": "tGzv3JOkF0XG5Qx2TlKWIA",
                               "example_parameter": "example_value"})
token("refresh_google", 200, {"access_token": "ya29.a0AfB_byC", "expires_in": 3599,
                              "scope": "https://mail.google.com/", "token_type": "Bearer",
                              "id_token": "eyJhbGciOiJSUzI1NiJ9.e30.sig"})
token("refresh_microsoft_rotated", 200, {"token_type": "Bearer",
                                         "scope": "https://outlook.office.com/POP.AccessAsUser.All",
                                         "expires_in": 4367, "ext_expires_in": 4367,
                                         "access_token": "eyJ0eXAiOiJKV1QiLCJub25jZSI6", "refresh_token": "0.AXEA"})
token("client_credentials_no_refresh", 200, {"token_type": "Bearer", "expires_in": "3599",
                                             "ext_expires_in": "3599", "expires_on": "1700003599",
                                             "resource": "https://outlook.office365.com", "access_token": "eyJ0eXAi"})
token("lifetime_as_a_fraction", 200, '{"access_token":"at","expires_in":3599.5,"token_type":"Bearer"}')
token("error_invalid_grant", 400, {"error": "invalid_grant", "error_description":
                                   "AADSTS70008: The provided authorization code or refresh token has expired due to "
                                   "inactivity.\r\nTrace ID: 0b1c\r\nTimestamp: 2024-01-01 10:00:00Z",
                                   "error_codes": [70008], "timestamp": "2024-01-01 10:00:00Z",
                                   "error_uri": "https://login.microsoftonline.com/error?code=70008"})
token("error_invalid_client", 401, {"error": "invalid_client", "error_description": "Unauthorized"})
token("error_authorization_pending", 400, {"error": "authorization_pending",
                                           "error_description": "Precondition Required"})
token("error_slow_down", 428, {"error": "slow_down"})
token("error_expired_token", 400, {"error": "expired_token"})
token("error_access_denied", 400, {"error": "access_denied", "error_description": "Forbidden"})
token("server_unavailable_html", 503, "<html><body><h1>503 Service Unavailable</h1></body></html>")
token("rate_limited", 429, {"error": "rate_limited"})
token("not_json_200", 200, "access_token=at&expires_in=3600")
# RFC 8628 §3.2: device authorization, Microsoft's and Google's spellings.
token("device_microsoft", 200, {"user_code": "FDLXQ9ABC",
                                "device_code": "GMMhmHCXhWEzkobqIHGG_EnNYYsAkukHspeYUk9E8",
                                "verification_uri": "https://microsoft.com/devicelogin", "expires_in": 900,
                                "interval": 5, "message": "To sign in, use a web browser to open the page "
                                "https://microsoft.com/devicelogin and enter the code FDLXQ9ABC to authenticate."})
token("device_google", 200, {"device_code": "AH-1Ng3i4", "user_code": "GQVQ-JKEC",
                             "verification_url": "https://www.google.com/device", "expires_in": 1800, "interval": 5})
token("device_rfc8628_complete", 200, {"device_code": "GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS",
                                       "user_code": "WDJB-MJHT", "verification_uri": "https://example.com/device",
                                       "verification_uri_complete": "https://example.com/device?user_code=WDJB-MJHT",
                                       "expires_in": "1800", "interval": "5"})
token("device_refused", 400, {"error": "invalid_scope", "error_description": "AADSTS70011: scope"})


# ---- fuzz_redis_reply_reader: the first octet picks the cut, the rest is what a server sends ----
def redis(name, stream, cut=5):
    write("fuzz_redis_reply_reader", name, bytes([cut]) + stream)


redis("login_then_replies", b"+OK\r\n+OK\r\n+PONG\r\n:1\r\n$-1\r\n")
redis("lease_set_and_scripts", b"+OK\r\n$-1\r\n-NOSCRIPT No matching script. Please use EVAL.\r\n:2\r\n:0\r\n")
redis("bulk_binary", b"$5\r\nab\0\r\n\r\n$0\r\n\r\n")
redis("nested_arrays", b"*3\r\n:1\r\n*2\r\n$1\r\nx\r\n*-1\r\n+done\r\n*0\r\n")
redis("sentinel_master_addr", b"*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6380\r\n")
redis("sentinel_role_and_switch", b"*3\r\n$6\r\nmaster\r\n:42\r\n*0\r\n"
      b"*3\r\n$9\r\nsubscribe\r\n$14\r\n+switch-master\r\n:1\r\n"
      b"*3\r\n$7\r\nmessage\r\n$14\r\n+switch-master\r\n$37\r\npopgate 127.0.0.1 6379 127.0.0.1 6380\r\n")
redis("errors", b"-WRONGPASS invalid username-password pair or user is disabled.\r\n-NOAUTH Authentication required.\r\n"
      b"-LOADING Redis is loading the dataset in memory\r\n-READONLY You can't write against a read only replica.\r\n")
redis("huge_announced_length", b"$9223372036854775806\r\nab\r\n")
redis("array_over_limit", b"*100\r\n" + b":1\r\n" * 100)
redis("bulk_near_limit", b"$4090\r\n" + b"x" * 4090 + b"\r\n", cut=200)
redis("not_resp", b"HTTP/1.1 400 Bad Request\r\n\r\n")
