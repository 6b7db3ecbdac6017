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

A chunked request body's trailer fields are echoed as "trailers" (names
lowercased). --h2 serves h2c with prior knowledge instead (python3-h2, run
with /usr/bin/python3), answering every stream with the same JSON fields
(method, path, headers, body length and sha256, trailers: the fields of
the request's trailing HEADERS frame); no query parameters.
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
        trailers = {}
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            body = self.read_chunked(trailers)
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
            "trailers": trailers,
        }
        if called is not None:
            answer["called"] = called
        self.reply(status, answer)

    def read_chunked(self, trailers):
        # http.server leaves a chunked request body to the handler
        body = bytearray()
        while True:
            size = int(self.rfile.readline().split(b";")[0], 16)
            if size == 0:
                while (line := self.rfile.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    trailers[name.strip().lower()] = value.strip()
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


def serve_h2(conn):
    """One h2c connection: each stream answered with what arrived."""
    import h2.config
    import h2.connection
    import h2.events

    h2c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
    h2c.initiate_connection()
    conn.sendall(h2c.data_to_send())
    streams = {}
    while data := conn.recv(65536):
        for ev in h2c.receive_data(data):
            if isinstance(ev, h2.events.RequestReceived):
                streams[ev.stream_id] = {"headers": dict(ev.headers), "body": bytearray(),
                                         "trailers": {}}
            elif isinstance(ev, h2.events.DataReceived):
                streams[ev.stream_id]["body"] += ev.data
                h2c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.TrailersReceived):
                streams[ev.stream_id]["trailers"] = dict(ev.headers)
            elif isinstance(ev, h2.events.StreamEnded):
                st = streams.pop(ev.stream_id)
                hdrs = st["headers"]
                data = (json.dumps({
                    "name": ARGS.name,
                    "method": hdrs.get(":method"),
                    "path": hdrs.get(":path"),
                    "headers": {k: v for k, v in hdrs.items() if not k.startswith(":")},
                    "body_len": len(st["body"]),
                    "body_sha256": hashlib.sha256(st["body"]).hexdigest(),
                    "trailers": st["trailers"],
                }) + "\n").encode()
                h2c.send_headers(ev.stream_id, [(":status", "200"), ("x-backend", ARGS.name),
                                                ("content-type", "application/json"),
                                                ("content-length", str(len(data)))])
                h2c.send_data(ev.stream_id, data, end_stream=True)
        conn.sendall(h2c.data_to_send())
    conn.close()


def main_h2(host, port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host.strip("[]"), port))
    srv.listen(128)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve_h2, args=(conn,), daemon=True).start()


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
    p.add_argument("--h2", action="store_true", help="serve h2c (prior knowledge)")
    ARGS = p.parse_args()
    host, port = ARGS.listen.rsplit(":", 1)
    if ARGS.h2:
        main_h2(host, int(port))
        return
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.allow_reuse_address = True
    ThreadingHTTPServer.request_queue_size = 512  # bursts of new connections from the proxy
    if ":" in host:
        ThreadingHTTPServer.address_family = socket.AF_INET6
    ThreadingHTTPServer((host.strip("[]"), int(port)), Handler).serve_forever()


if __name__ == "__main__":
    main()
