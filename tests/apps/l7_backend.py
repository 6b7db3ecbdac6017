#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""An HTTP/1.1 backend for the L7 tests, whose answers the test controls.

Every answer names the backend (x-backend header and the JSON body's
"name") and echoes what arrived (method, path, headers, body length and
sha256), so a test sees what the proxy sent on. Query parameters steer one
request: status=N answers N, delay_ms=N waits first, close=1 closes the
connection without answering, call=HOST/PATH first calls http://HOST/PATH
with the trace headers it got (as an app in a mesh must pass them on) and
answers what came back under "called". --status answers every request with that
status (a failing backend); --fail-first N answers --status only to the
first N requests; --fail-rate P answers 503 to a share P at random.
/count returns how many requests this backend served.
"""
import argparse
import hashlib
import json
import random
import socket
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ARGS = None
LOCK = threading.Lock()
SERVED = 0
TRACE_HEADERS = ("x-request-id", "x-b3-traceid", "x-b3-spanid", "x-b3-parentspanid",
                 "x-b3-sampled", "x-b3-flags", "b3", "traceparent", "tracestate")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: tests read the answers
        pass

    def answer(self):
        global SERVED
        url = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            body = self.read_chunked()
        else:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
        if url.path == "/count":
            self.reply(200, {"name": ARGS.name, "served": SERVED})
            return
        with LOCK:
            SERVED += 1
            n = SERVED
        if "delay_ms" in q:
            time.sleep(int(q["delay_ms"]) / 1000)
        if q.get("close") == "1":
            self.close_connection = True
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        if "size" in q:  # a large answer: deterministic bytes, their digest in a header
            data = random.Random(int(q["size"])).randbytes(int(q["size"]))
            self.send_response(200)
            self.send_header("x-backend", ARGS.name)
            self.send_header("x-body-sha256", hashlib.sha256(data).hexdigest())
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        called = None
        if "call" in q:
            fwd = {h: self.headers[h] for h in TRACE_HEADERS if self.headers.get(h)}
            direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            with direct.open(urllib.request.Request("http://" + q["call"], headers=fwd),
                             timeout=10) as r:
                called = json.loads(r.read())
        status = int(q.get("status", 200))
        if ARGS.status and (ARGS.fail_first is None or n <= ARGS.fail_first):
            status = ARGS.status
        if ARGS.fail_rate and random.random() < ARGS.fail_rate:
            status = 503
        answer = {
            "name": ARGS.name,
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body_len": len(body),
            "body_sha256": hashlib.sha256(body).hexdigest(),
        }
        if called is not None:
            answer["called"] = called
        self.reply(status, answer)

    def read_chunked(self):
        # http.server leaves a chunked request body to the handler
        body = bytearray()
        while True:
            size = int(self.rfile.readline().split(b";")[0], 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailer fields
                return bytes(body)
            body += self.rfile.read(size)
            self.rfile.readline()

    def reply(self, status, obj):
        data = (json.dumps(obj) + "\n").encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("x-backend", ARGS.name)
        if self.command == "HEAD":
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            return
        if ARGS.chunked:
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            for i in range(0, len(data), 7):
                part = data[i:i + 7]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = answer


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--listen", required=True, help="ADDR:PORT")
    p.add_argument("--name", required=True)
    p.add_argument("--status", type=int, default=0)
    p.add_argument("--fail-first", type=int, default=None)
    p.add_argument("--chunked", action="store_true")
    p.add_argument("--fail-rate", type=float, default=0.0,
                   help="answer 503 to this share of requests, at random")
    ARGS = p.parse_args()
    host, port = ARGS.listen.rsplit(":", 1)
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.allow_reuse_address = True
    ThreadingHTTPServer.request_queue_size = 512  # bursts of new connections from the proxy
    if ":" in host:
        ThreadingHTTPServer.address_family = socket.AF_INET6
    ThreadingHTTPServer((host.strip("[]"), int(port)), Handler).serve_forever()


if __name__ == "__main__":
    main()
