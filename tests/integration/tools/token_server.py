#!/usr/bin/env python3
"""A scripted OAuth2 device authorization + token endpoint on 127.0.0.1 (port 0) for the tests of
`popgate oauth login`. It is a fake because no real identity provider can be reached offline:
it answers the device request, then authorization_pending, then slow_down, then issues a refresh
token, and refuses anything that is not the RFC 8628 request it expects. Prints its port on the
first line of stdout."""

import http.server
import json
import sys
import urllib.parse

CLIENT_ID = sys.argv[1] if len(sys.argv) > 1 else "popgate-test"
polls = 0


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
        if (self.path != "/token" or form.get("grant_type") != "urn:ietf:params:oauth:grant-type:device_code"
                or form.get("device_code") != "device-code-1"):
            return self.answer(400, {"error": "invalid_request"})
        polls += 1
        if polls == 1:
            return self.answer(400, {"error": "authorization_pending"})
        if polls == 2:
            return self.answer(400, {"error": "slow_down"})
        self.answer(200, {"access_token": "access-1", "token_type": "Bearer", "expires_in": 3600,
                          "refresh_token": "refresh-from-device-grant"})

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_port, flush=True)
server.serve_forever()
