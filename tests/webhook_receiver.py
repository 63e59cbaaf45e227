"""A webhook receiver for the notification tests, verifying every delivery
with the official Standard Webhooks library (`standardwebhooks`, PyPI).

    python webhook_receiver.py PORT SECRET LOG [--fail-first N] [--gone-first N]
                                               [--hang-first N]

Listens on 127.0.0.1:PORT. For each POST it verifies the signature with
`standardwebhooks.Webhook(SECRET).verify(body, headers)`; a delivery that
does not verify is answered 401. Otherwise the first N verified deliveries
are answered 500 (`--fail-first`), 410 (`--gone-first`) or held unanswered
for a minute (`--hang-first`, for killing the sender mid-delivery), and the
rest 204. Every request is appended to LOG as one JSON line:
{"id", "type", "booking_id", "verified", "answered", "error"}; a hung
request is logged when it arrives, with "answered": "hung".
"""

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook

args = argparse.ArgumentParser()
args.add_argument("port", type=int)
args.add_argument("secret")
args.add_argument("log")
args.add_argument("--fail-first", type=int, default=0)
args.add_argument("--gone-first", type=int, default=0)
args.add_argument("--hang-first", type=int, default=0)
options = args.parse_args()

webhook = Webhook(options.secret)
lock = threading.Lock()
verified_count = 0


def log(entry):
    with lock:
        with open(options.log, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_):
        pass

    def answer(self, status):
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        global verified_count
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        headers = {k.lower(): v for k, v in self.headers.items()}
        entry = {"id": headers.get("webhook-id"), "type": None, "booking_id": None}
        try:
            payload = webhook.verify(body.decode("utf-8"), headers)
            entry.update(verified=True, type=payload.get("type"),
                         booking_id=payload.get("data", {}).get("booking_id"),
                         has_user_id="user_id" in payload.get("data", {}))
        except Exception as e:  # the library raises WebhookVerificationError
            entry.update(verified=False, error=str(e), answered=401)
            log(entry)
            self.answer(401)
            return
        with lock:
            verified_count += 1
            n = verified_count
        if n <= options.hang_first:
            entry["answered"] = "hung"
            log(entry)
            time.sleep(60)
            return
        n -= options.hang_first
        if n <= options.gone_first:
            status = 410
        elif n - options.gone_first <= options.fail_first:
            status = 500
        else:
            status = 204
        entry["answered"] = status
        log(entry)
        self.answer(status)


server = ThreadingHTTPServer(("127.0.0.1", options.port), Handler)
server.daemon_threads = True
print("listening", flush=True, file=sys.stderr)
server.serve_forever()
