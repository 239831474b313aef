#!/usr/bin/env python3
"""A scripted OAuth2 device authorization + token endpoint on 127.0.0.1 (port 0) for the tests of
`popgate oauth login`. It is a fake because no real identity provider can be reached offline:
it answers the device request, then authorization_pending, then slow_down, then issues a refresh
token, and refuses anything that is not the RFC 8628 request it expects. Prints its port on the
first line of stdout.

With --refresh-token and --jwt-key-file it also answers the refresh_token grant (RFC 6749 §6) for
that one refresh token with an HS256 JWT access token that Dovecot's oauth2 passdb accepts (the
fixture's key, issuer, audience, scope and subject); any other refresh token gets invalid_grant,
as a revoked one does. Each refresh grant prints one line on stdout: "refresh ok" or
"refresh invalid_grant".

With --rotate it behaves like an identity provider with refresh token rotation and reuse detection
(Okta, Auth0): each refresh answers a new refresh token and retires the one presented; presenting a
retired one prints "refresh reuse" and revokes the whole family, so every later refresh is
invalid_grant. --access-lifetime sets expires_in, --refresh-delay holds each refresh answer back
(a slow identity provider: concurrent refreshes overlap)."""

import argparse
import base64
import hashlib
import hmac
import http.server
import json
import sys
import threading
import time
import urllib.parse

parser = argparse.ArgumentParser()
parser.add_argument("client_id", nargs="?", default="popgate-test")
parser.add_argument("--refresh-token", help="the one refresh token the refresh grant accepts")
parser.add_argument("--jwt-key-file", help="HS256 secret, base64 (Dovecot's key file)")
parser.add_argument("--jwt-kid", default="hs1")
parser.add_argument("--jwt-issuer", default="https://issuer.popgate.test")
parser.add_argument("--jwt-audience", default="popgate-test")
parser.add_argument("--jwt-scope", default="mail")
parser.add_argument("--jwt-subject", default="alice")
parser.add_argument("--device-refresh-token", default="refresh-from-device-grant",
                    help="the refresh token the device grant issues")
parser.add_argument("--rotate", action="store_true")
parser.add_argument("--access-lifetime", type=int, default=3600)
parser.add_argument("--refresh-delay", type=float, default=0)
ARGS = parser.parse_args()
CLIENT_ID = ARGS.client_id
polls = 0
family = {"current": ARGS.refresh_token, "retired": set(), "revoked": False, "issued": 0}
family_lock = threading.Lock()


def refresh_grant(presented):
    """(status, body) for a refresh grant, rotating when asked to."""
    with family_lock:
        if not ARGS.rotate:
            if presented != ARGS.refresh_token:
                return "invalid_grant", None
            return "ok", None
        if family["revoked"]:
            return "invalid_grant", None
        if presented in family["retired"]:
            family["revoked"] = True
            return "reuse", None
        if presented != family["current"]:
            return "invalid_grant", None
        family["retired"].add(presented)
        family["issued"] += 1
        family["current"] = "%s-r%d" % (ARGS.refresh_token, family["issued"])
        return "ok", family["current"]


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint_access_token():
    """An HS256 JWT of the shape Dovecot 2.3.19 checks: typ JWT, integer exp, aud, scope."""
    with open(ARGS.jwt_key_file) as f:
        key = base64.b64decode(f.read())
    now = int(time.time())
    header = {"alg": "HS256", "typ": "JWT", "kid": ARGS.jwt_kid}
    claims = {"iss": ARGS.jwt_issuer, "aud": ARGS.jwt_audience, "sub": ARGS.jwt_subject,
              "scope": ARGS.jwt_scope, "iat": now, "exp": now + max(ARGS.access_lifetime, 60)}
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(signature)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        global polls
        length = int(self.headers.get("Content-Length", "0"))
        form = {k: v[0] for k, v in urllib.parse.parse_qs(self.rfile.read(length).decode()).items()}
        if form.get("client_id") != CLIENT_ID:
            return self.answer(401, {"error": "invalid_client"})
        if self.path == "/devicecode":
            return self.answer(200, {"device_code": "device-code-1", "user_code": "WDJB-MJHT",
                                     "verification_uri": "https://login.example/device",
                                     "expires_in": 900, "interval": 0})
        if self.path == "/token" and form.get("grant_type") == "refresh_token" and ARGS.refresh_token:
            if ARGS.refresh_delay:
                time.sleep(ARGS.refresh_delay)
            outcome, rotated = refresh_grant(form.get("refresh_token"))
            print("refresh " + outcome, flush=True)
            if outcome != "ok":
                return self.answer(400, {"error": "invalid_grant",
                                         "error_description": "refresh token revoked"})
            body = {"access_token": mint_access_token(), "token_type": "Bearer",
                    "expires_in": ARGS.access_lifetime}
            if rotated:
                body["refresh_token"] = rotated
            return self.answer(200, body)
        if (self.path != "/token" or form.get("grant_type") != "urn:ietf:params:oauth:grant-type:device_code"
                or form.get("device_code") != "device-code-1"):
            return self.answer(400, {"error": "invalid_request"})
        polls += 1
        if polls == 1:
            return self.answer(400, {"error": "authorization_pending"})
        if polls == 2:
            return self.answer(400, {"error": "slow_down"})
        self.answer(200, {"access_token": "access-1", "token_type": "Bearer", "expires_in": 3600,
                          "refresh_token": ARGS.device_refresh_token})

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_port, flush=True)
server.serve_forever()
