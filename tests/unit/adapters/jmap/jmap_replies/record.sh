#!/usr/bin/env bash
# Re-records the Cyrus JMAP replies in this folder from a private Cyrus (scripts/lib/cyrus-sandbox.sh).
# Run as root from anywhere: tests/unit/adapters/jmap/jmap_replies/record.sh. Needs scripts/install-deps.sh's
# packages and python3. Overwrites request_*, reply_* and versions.txt here; README.md says what they are.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../../.." && pwd)
# shellcheck source=scripts/lib/cyrus-sandbox.sh
. "$repo/scripts/lib/cyrus-sandbox.sh"
PATH=$PATH:/usr/sbin

work=$(mktemp -d /tmp/popgate-record.XXXXXX)
cleanup() {
  cyrus_sandbox_stop
  rm -rf "$work"
}
trap cleanup EXIT

chmod 755 "$work"
mkdir "$work/cyrus" "$work/mail"
cyrus_sandbox_init "$work/cyrus"
cyrus_sandbox_add_user alice alice-password
# Four fixed messages: their Email ids and blobIds (from the SHA-1 of the bytes) are the same on every
# recording; mailbox ids, UIDVALIDITY and the Date/Expires headers are not.
for n in 1 2 3 4; do
  printf '%s\r\n' "From: Bob <bob@example.test>" "To: Alice <alice@example.test>" "Subject: message $n" \
    "Message-ID: <recorded-$n@example.test>" "Date: Mon, 01 Jan 2024 12:00:0$n +0000" "" \
    "Body of message $n." ".a line that starts with a dot" >"$work/mail/$n.eml"
  cyrus_sandbox_deliver alice "$work/mail/$n.eml"
done
cyrus_sandbox_start

rm -f "$here"/request_* "$here"/reply_*
python3 - "$here" "$CYRUS_HTTP_PORT" <<'PY'
import base64, http.client, json, os, subprocess, sys, time

out_dir, port = sys.argv[1], int(sys.argv[2])
USING = ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"]
GOOD = "Basic " + base64.b64encode(b"alice:alice-password").decode()
BAD = "Basic " + base64.b64encode(b"alice:wrong-password").decode()
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)


def exchange(method, target, body=None, auth=GOOD, extra=None):
    headers = {"Authorization": auth}
    if body is not None:
        headers["Content-Type"] = "application/json"
    headers.update(extra or {})
    conn.request(method, target, body=body, headers=headers)
    r = conn.getresponse()
    data = r.read()
    head = "HTTP/1.%d %d %s\r\n" % (r.version - 10, r.status, r.reason)
    head += "".join("%s: %s\r\n" % kv for kv in r.getheaders()) + "\r\n"
    if r.getheader("Connection", "").lower() == "close":
        conn.close()
    return r.status, head, data


def save(name, content):
    with open(os.path.join(out_dir, name), "wb") as f:
        f.write(content if isinstance(content, bytes) else content.encode())


def request_text(method, target, auth_user):
    return "%s %s HTTP/1.1\r\nHost: 127.0.0.1:PORT\r\nAuthorization: Basic base64(%s)\r\n\r\n" % (
        method, target, auth_user)


def get(name, target, auth=GOOD, who="alice:alice-password", extra=None, body_ext="json"):
    status, head, data = exchange("GET", target, auth=auth, extra=extra)
    save("request_%s.http" % name, request_text("GET", target, who) if not extra else
         request_text("GET", target, who)[:-2] + "".join("%s: %s\r\n" % kv for kv in extra.items()) + "\r\n")
    save("reply_%s.headers" % name, head)
    if data:
        save("reply_%s.%s" % (name, body_ext), data)
    return status, data


def api(name, calls=None, raw=None, auth=GOOD, expect=200):
    body = raw if raw is not None else json.dumps({"using": USING, "methodCalls": calls}, indent=2) + "\n"
    save("request_%s.json" % name, body)
    status, head, data = exchange("POST", "/jmap/", body=body.encode(), auth=auth)
    if status != expect:
        sys.exit("%s: HTTP %d, expected %d: %r" % (name, status, expect, data[:300]))
    save("reply_%s.headers" % name, head)
    save("reply_%s.%s" % (name, "json" if data.lstrip().startswith(b"{") else "html"), data)
    return json.loads(data) if data.lstrip().startswith(b"{") else None


# Session: the well-known URL answers 301; the session resource is at its Location.
status, _ = get("well_known", "/.well-known/jmap")
assert status == 301, status
status, data = get("session", "/jmap")
assert status == 200, status
session = json.loads(data)
account = session["primaryAccounts"]["urn:ietf:params:jmap:mail"]

mailboxes = api("mailbox_get", [["Mailbox/get", {"accountId": account, "ids": None}, "0"]])
inbox = [m for m in mailboxes["methodResponses"][0][1]["list"] if m["role"] == "inbox"][0]["id"]
sort = [{"property": "receivedAt", "isAscending": True}]

query = api("email_query", [["Email/query", {
    "accountId": account, "filter": {"inMailbox": inbox}, "sort": sort, "calculateTotal": True}, "0"]])
ids = query["methodResponses"][0][1]["ids"]
api("email_query_page", [["Email/query", {
    "accountId": account, "filter": {"inMailbox": inbox}, "sort": sort, "position": 1, "limit": 2,
    "calculateTotal": True}, "0"]])
api("email_query_past_end", [["Email/query", {
    "accountId": account, "filter": {"inMailbox": inbox}, "sort": sort, "position": 10, "limit": 2,
    "calculateTotal": True}, "0"]])
emails = api("email_get", [["Email/get", {
    "accountId": account, "ids": ids, "properties": ["id", "size", "blobId", "receivedAt"]}, "0"]])
api("query_then_get", [
    ["Email/query", {"accountId": account, "filter": {"inMailbox": inbox}, "sort": sort,
                     "position": 0, "limit": 50, "calculateTotal": True}, "q"],
    ["Email/get", {"accountId": account,
                   "#ids": {"resultOf": "q", "name": "Email/query", "path": "/ids"},
                   "properties": ["id", "size", "blobId", "receivedAt"]}, "g"]])

# A blob download, and the same with a Range header (Cyrus ignores it: 200 with the whole blob).
blob = emails["methodResponses"][0][1]["list"][0]["blobId"]
target = session["downloadUrl"].replace("{accountId}", account).replace("{blobId}", blob) \
    .replace("{name}", "message.eml").replace("{type}", "message%2Frfc822")
get("download", target, body_ext="eml")
get("download_range", target, extra={"Range": "bytes=0-9"}, body_ext="eml")

api("email_set_destroy", [["Email/set", {"accountId": account, "destroy": [ids[0]]}, "0"]])
# Cyrus 3.6 never answers notDestroyed/notFound here: an id destroyed before, and one that never existed,
# are both listed in "destroyed" again. Email/get is what tells that an id is gone.
api("email_set_destroy_again", [["Email/set", {"accountId": account, "destroy": [ids[0]]}, "0"]])
api("email_set_destroy_unknown", [["Email/set", {
    "accountId": account, "destroy": ["Mffffffffffffffffffffffff"]}, "0"]])
api("email_get_destroyed", [["Email/get", {
    "accountId": account, "ids": [ids[0], ids[1]], "properties": ["id", "size", "blobId", "receivedAt"]}, "0"]])

# Method-level errors: HTTP 200 with ["error", {"type": ...}, callId].
api("unknown_method", [["Email/bogus", {"accountId": account}, "0"]])
api("invalid_arguments", [["Email/query", {"accountId": account, "position": "first"}, "0"]])
# Email/get without ids is refused (Mailbox/get without ids is fine).
api("email_get_all", [["Email/get", {"accountId": account, "ids": None, "properties": ["id"]}, "0"]])
api("account_not_found", [["Mailbox/get", {"accountId": "nobody", "ids": None}, "0"]])
# Request-level errors: HTTP 400 with an RFC 7807 problem (RFC 8620 §3.6.1).
api("unknown_capability", raw=json.dumps({"using": ["urn:example:bogus"], "methodCalls": [
    ["Mailbox/get", {"accountId": account}, "0"]]}, indent=2) + "\n", expect=400)
api("not_json", raw="{this is not json\n", expect=400)
# A wrong password: HTTP 401 with an HTML body.
api("unauthorized", [["Mailbox/get", {"accountId": account, "ids": None}, "0"]], auth=BAD, expect=401)

version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "cyrus-common"], capture_output=True,
                         text=True).stdout
save("versions.txt", "Recorded %s UTC from Debian cyrus-common/cyrus-caldav %s (Cyrus IMAP %s) on 127.0.0.1.\n"
     % (time.strftime("%Y-%m-%d %H:%M"), version, version.split("-")[0]))
PY
echo "recorded into $here"
