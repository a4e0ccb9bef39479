#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""A small auth service for rtmpserversrc's `auth-url` hook: what a platform runs beside its
ingest machines, with nothing but the Python standard library.

Usage: auth_service.py --config USERS.json [--port PORT] [--bind ADDRESS] [--log REQUESTS.jsonl]

The element POSTs one JSON object per decision (README.md, "Running a fleet"):

  {"action": "connect" | "publish" | "publish-stopped", "application": "live",
   "stream-key": "KEY" or null, "user": "alice" or null, "client-address": "1.2.3.4:5678",
   "tc-url": "rtmp://...", "encoder": "FMLE/3.0 ...", ("reason": "peer-closed" when stopped)}

and this service answers, from USERS.json:

  connect, user known        {"allow": true, "password": "<the user's password>"}
  connect, user unknown      {"allow": false, "reason": "unknown user"}
  connect, no user           {"allow": true} if "anonymous" is true, else
                             {"allow": false, "reason": "log in"} (the element asks for a login)
  publish, key known         {"allow": true} when the key's owner is null or is the user
  publish, otherwise         {"allow": false, "reason": "stream key not known"} or
                             {"allow": false, "reason": "stream key of another user"}
  publish-stopped            {} (the element ignores the answer)

USERS.json is read again for every request, so rewriting it rotates a password or revokes a key
at once (write a temporary file and rename it over the old one, so no request sees half a file):

  {"users": {"alice": "s3cret"},          user name -> password
   "keys": {"alice-key": "alice",         stream key -> owner (null: anyone may publish it)
            "open-key": null},
   "anonymous": false,                    connects without a user are allowed
   "application": "live",                 (optional) the only application allowed
   "delay_ms": 0,                         answer this much later (a slow service)
   "status": 200,                         answer with this HTTP status instead
   "malformed": false}                    answer with a body that is not JSON

Every request is logged as one JSON line (to --log, else stderr): the time, the path, the
request's fields and the decision, never a password. On start the service prints
`listening on ADDRESS:PORT` (PORT 0 picks a free port) to stdout and flushes it.
"""

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# The request fields copied into the log (never a password: requests have none).
LOGGED_FIELDS = (
    "action", "application", "stream-key", "user", "client-address", "tc-url", "encoder", "reason",
)
MAX_BODY = 64 * 1024


def load_config(path):
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    config.setdefault("users", {})
    config.setdefault("keys", {})
    return config


def decide(config, request):
    """The answer to one request, as a dict (it may hold a password: never log it)."""
    action = request.get("action")
    user = request.get("user")
    users = config["users"]
    application = config.get("application")
    if action in ("connect", "publish") and application is not None \
            and request.get("application") != application:
        return {"allow": False, "reason": "application not known"}
    if action == "connect":
        if user is None:
            if config.get("anonymous", False):
                return {"allow": True}
            return {"allow": False, "reason": "log in"}
        if user not in users:
            return {"allow": False, "reason": "unknown user"}
        return {"allow": True, "password": users[user]}
    if action == "publish":
        key = request.get("stream-key")
        if key not in config["keys"]:
            return {"allow": False, "reason": "stream key not known"}
        owner = config["keys"][key]
        if owner is not None and owner != user:
            return {"allow": False, "reason": "stream key of another user"}
        return {"allow": True}
    if action == "publish-stopped":
        return {}
    return {"allow": False, "reason": "unknown action"}


class Handler(BaseHTTPRequestHandler):
    server_version = "rtmp-auth-service/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, *_args):
        """The request log below replaces http.server's access log."""

    def do_GET(self):
        self.answer(200 if self.path == "/health" else 404, b"ok\n" if self.path == "/health"
                    else b"not found\n", "text/plain")

    def do_POST(self):
        received = time.time()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.answer(413, b"too large\n", "text/plain")
            return
        body = self.rfile.read(length)
        entry = {"time": received, "path": self.path}
        try:
            request = json.loads(body)
            if not isinstance(request, dict):
                raise ValueError("not an object")
        except ValueError as e:
            entry["error"] = "bad request: %s" % e
            self.server.log(entry)
            self.answer(400, b"bad request\n", "text/plain")
            return
        for field in LOGGED_FIELDS:
            if field in request:
                entry[field] = request[field]
        entry["content-type"] = self.headers.get("Content-Type")
        try:
            config = load_config(self.server.config_path)
        except (OSError, ValueError) as e:
            entry["error"] = "config: %s" % e
            self.server.log(entry)
            self.answer(500, b"config unreadable\n", "text/plain")
            return
        delay_ms = config.get("delay_ms", 0)
        if delay_ms:
            time.sleep(delay_ms / 1000.0)
        answer = decide(config, request)
        status = config.get("status", 200)
        entry["status"] = status
        entry["allow"] = answer.get("allow")
        if "reason" in answer:
            entry["answer-reason"] = answer["reason"]
        entry["password-given"] = "password" in answer
        entry["delay_ms"] = delay_ms
        if config.get("malformed", False):
            payload = b"{\"allow\": tru"
            entry["malformed"] = True
        else:
            payload = json.dumps(answer).encode()
        entry["answered"] = time.time()
        self.server.log(entry)
        try:
            self.answer(status, payload, "application/json")
        except (BrokenPipeError, ConnectionResetError):
            # The element gave up waiting (auth-timeout).
            pass

    def answer(self, status, payload, content_type):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class Service(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, config_path, log_file):
        super().__init__(address, Handler)
        self.config_path = config_path
        self.log_file = log_file
        self.log_lock = threading.Lock()

    def handle_error(self, request, client_address):
        """A client that closed its kept-alive connection is not an error."""
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)

    def log(self, entry):
        line = json.dumps(entry, sort_keys=True) + "\n"
        with self.log_lock:
            self.log_file.write(line)
            self.log_file.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="users and keys (JSON), read per request")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--log", help="one JSON line per request (default: stderr)")
    args = parser.parse_args()
    load_config(args.config)  # fail early on a bad file
    log_file = open(args.log, "a", encoding="utf-8") if args.log else sys.stderr
    service = Service((args.bind, args.port), args.config, log_file)
    host, port = service.server_address[:2]
    print("listening on %s:%d" % (host, port), flush=True)
    try:
        service.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
