#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""A Zipkin v2 collector for the tracing tests that checks every span.

POST /api/v2/spans takes a JSON array of spans (Content-Type
application/json). Each span is checked field by field against the Zipkin
v2 API definition (openzipkin/zipkin-api, zipkin2-api.yaml, "Span" and
"Endpoint"), stricter where shunt promises more:

  traceId        required, string of 16 or 32 lowercase hex digits, not all 0
  id             required, string of 16 lowercase hex digits, not all 0
  parentId       optional, 16 lowercase hex digits, not all 0, not the id
  name           optional, string
  kind           required here, one of CLIENT, SERVER, PRODUCER, CONSUMER
  timestamp      required here, integer microseconds since the epoch, within
                 a day of now (a value in ms or ns fails this)
  duration       required here, integer microseconds, at least 1
  debug, shared  optional, booleans
  localEndpoint  required here: an Endpoint
  remoteEndpoint optional: an Endpoint
  annotations    optional, list of {timestamp: integer, value: string}
  tags           optional, object of string values
  Endpoint       serviceName (lowercase string), ipv4 (dotted quad), ipv6
                 (an IPv6 address), port (integer 1 to 65535); at least one
  any other key  refused

A body whose spans all pass is answered 202 and its spans appended to --out
(one JSON object per line); otherwise 400 with the reasons, which also go
to --rejects, and no span of it is kept. GET /stats answers
{"accepted": N, "rejected": N, "posts": N}.
"""
import argparse
import ipaddress
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARGS = None
LOCK = threading.Lock()
STATS = {"accepted": 0, "rejected": 0, "posts": 0}
HEX16 = re.compile(r"^[0-9a-f]{16}$")
HEX32 = re.compile(r"^[0-9a-f]{32}$")
SPAN_KEYS = {"traceId", "id", "parentId", "name", "kind", "timestamp", "duration", "debug",
             "shared", "localEndpoint", "remoteEndpoint", "annotations", "tags"}
KINDS = {"CLIENT", "SERVER", "PRODUCER", "CONSUMER"}


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def hex_id(v, pattern):
    return isinstance(v, str) and pattern.match(v) and v.strip("0") != ""


def check_endpoint(e, where):
    errs = []
    if not isinstance(e, dict) or not e:
        return [f"{where}: not a non-empty object"]
    for k in e:
        if k not in ("serviceName", "ipv4", "ipv6", "port"):
            errs.append(f"{where}.{k}: not an Endpoint field")
    if "serviceName" in e and (not isinstance(e["serviceName"], str) or
                               e["serviceName"] != e["serviceName"].lower() or
                               not e["serviceName"]):
        errs.append(f"{where}.serviceName: not a non-empty lowercase string")
    if "ipv4" in e:
        try:
            ipaddress.IPv4Address(e["ipv4"])
        except (ValueError, TypeError):
            errs.append(f"{where}.ipv4: {e['ipv4']!r} is not an IPv4 address")
    if "ipv6" in e:
        try:
            ipaddress.IPv6Address(e["ipv6"])
        except (ValueError, TypeError):
            errs.append(f"{where}.ipv6: {e['ipv6']!r} is not an IPv6 address")
    if "port" in e and (not is_int(e["port"]) or not 1 <= e["port"] <= 65535):
        errs.append(f"{where}.port: not an integer from 1 to 65535")
    return errs


def check_span(s, i):
    w = f"span[{i}]"
    if not isinstance(s, dict):
        return [f"{w}: not an object"]
    errs = [f"{w}.{k}: not a Span field" for k in s if k not in SPAN_KEYS]
    if not hex_id(s.get("traceId"), HEX16) and not hex_id(s.get("traceId"), HEX32):
        errs.append(f"{w}.traceId: {s.get('traceId')!r} is not 16 or 32 lowercase hex")
    if not hex_id(s.get("id"), HEX16):
        errs.append(f"{w}.id: {s.get('id')!r} is not 16 lowercase hex")
    if "parentId" in s and (not hex_id(s["parentId"], HEX16) or s["parentId"] == s.get("id")):
        errs.append(f"{w}.parentId: {s['parentId']!r} is not 16 lowercase hex (or is the id)")
    if "name" in s and not isinstance(s["name"], str):
        errs.append(f"{w}.name: not a string")
    if s.get("kind") not in KINDS:
        errs.append(f"{w}.kind: {s.get('kind')!r} is not one of {sorted(KINDS)}")
    now_us = time.time() * 1e6
    ts = s.get("timestamp")
    if not is_int(ts) or abs(ts - now_us) > 86400e6:
        errs.append(f"{w}.timestamp: {ts!r} is not epoch microseconds within a day of now")
    if not is_int(s.get("duration")) or s["duration"] < 1:
        errs.append(f"{w}.duration: {s.get('duration')!r} is not an integer >= 1 (us)")
    for k in ("debug", "shared"):
        if k in s and not isinstance(s[k], bool):
            errs.append(f"{w}.{k}: not a boolean")
    if "localEndpoint" not in s:
        errs.append(f"{w}.localEndpoint: missing")
    else:
        errs += check_endpoint(s["localEndpoint"], f"{w}.localEndpoint")
    if "remoteEndpoint" in s:
        errs += check_endpoint(s["remoteEndpoint"], f"{w}.remoteEndpoint")
    for j, a in enumerate(s.get("annotations", [])):
        if not isinstance(a, dict) or not is_int(a.get("timestamp")) or \
                not isinstance(a.get("value"), str):
            errs.append(f"{w}.annotations[{j}]: not {{timestamp: int, value: string}}")
    tags = s.get("tags", {})
    if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
        errs.append(f"{w}.tags: not an object of strings")
    return errs


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, obj):
        data = (json.dumps(obj) + "\n").encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        with LOCK:
            self.reply(200, dict(STATS)) if self.path == "/stats" else self.reply(404, {})

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        errs = []
        if self.path != "/api/v2/spans":
            errs.append(f"path {self.path} is not /api/v2/spans")
        if not self.headers.get("content-type", "").startswith("application/json"):
            errs.append(f"content-type {self.headers.get('content-type')!r}")
        try:
            spans = json.loads(body)
        except ValueError as e:
            spans, errs = [], errs + [f"not JSON: {e}"]
        if not isinstance(spans, list) or not spans:
            errs.append("not a non-empty JSON array")
            spans = []
        for i, s in enumerate(spans):
            errs += check_span(s, i)
        with LOCK:
            STATS["posts"] += 1
            if errs:
                STATS["rejected"] += len(spans)
                with open(ARGS.rejects, "a") as f:
                    f.write(json.dumps({"errors": errs, "body": body.decode(errors="replace")}) + "\n")
            else:
                STATS["accepted"] += len(spans)
                with open(ARGS.out, "a") as f:
                    for s in spans:
                        f.write(json.dumps(s) + "\n")
        if errs:
            self.reply(400, {"errors": errs})
        else:
            self.send_response(202)
            self.send_header("content-length", "0")
            self.end_headers()


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--listen", required=True, help="ADDR:PORT")
    p.add_argument("--out", required=True)
    p.add_argument("--rejects", required=True)
    ARGS = p.parse_args()
    host, port = ARGS.listen.rsplit(":", 1)
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.allow_reuse_address = True
    ThreadingHTTPServer((host, int(port)), Handler).serve_forever()


if __name__ == "__main__":
    main()
