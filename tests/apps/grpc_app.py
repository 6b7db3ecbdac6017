#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""A real gRPC server and client (python3-grpcio) for the L7 tests.

serve: the service shunt.Echo with raw-bytes messages (no generated code):
  Unary   answers "NAME:<request>" with trailing metadata x-served-by: NAME
  Stream  answers COUNT messages "NAME:<i>" (COUNT: the request, a number)
  Slow    waits the request's milliseconds, then answers; logs a cancel
  Fail    ends with the status code named by the request (e.g. NOT_FOUND)
  Chat    bidirectional: answers each message "NAME:<message>" as it comes
call: makes calls and prints one JSON line: statuses, served-by counts, the
  last call's trailing metadata and detail, the stream's messages. Chat
  sends the request's number of messages, each only once the answer to the
  one before it came (a proxy that waits for the whole request stalls it).
"""
import argparse
import collections
import json
import queue
import sys
import threading
import time
from concurrent import futures

import grpc


def serve(args):
    def unary(req, ctx):
        ctx.set_trailing_metadata((("x-served-by", args.name),))
        return args.name.encode() + b":" + req

    def stream(req, ctx):
        for i in range(int(req.decode() or "1")):
            yield f"{args.name}:{i}".encode()

    def slow(req, ctx):
        t0 = time.monotonic()
        cancelled = threading.Event()
        ctx.add_callback(cancelled.set)
        cancelled.wait(int(req.decode()) / 1000)
        if cancelled.is_set():
            print(f"cancelled after {time.monotonic() - t0:.3f}", flush=True)
        return args.name.encode()

    def chat(reqs, ctx):
        for r in reqs:
            yield args.name.encode() + b":" + r

    def fail(req, ctx):
        ctx.abort(getattr(grpc.StatusCode, req.decode()), f"{args.name} failed as asked")

    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "Stream": grpc.unary_stream_rpc_method_handler(stream),
        "Slow": grpc.unary_unary_rpc_method_handler(slow),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
        "Chat": grpc.stream_stream_rpc_method_handler(chat),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("shunt.Echo", handlers),))
    server.add_insecure_port(args.listen)
    server.start()
    print(f"serving {args.name} on {args.listen}", flush=True)
    server.wait_for_termination()


def chat(channel, args, metadata):
    answered = queue.Queue()

    def messages():
        for i in range(int(args.request)):
            yield f"m{i}".encode()
            answered.get(timeout=args.timeout)  # the answer first, then the next

    got = []
    for m in channel.stream_stream("/shunt.Echo/Chat")(messages(), timeout=args.timeout,
                                                       metadata=metadata):
        got.append(m.decode())
        answered.put(True)
    return got


def call(args):
    channel = grpc.insecure_channel(args.target)
    out = {"codes": collections.Counter(), "served_by": collections.Counter()}
    metadata = tuple(tuple(kv.split("=", 1)) for kv in args.metadata)
    started = time.monotonic()
    done = 0
    while (done < args.count if not args.seconds
           else time.monotonic() - started < args.seconds):
        done += 1
        try:
            if args.method == "Chat":
                out["messages"] = chat(channel, args, metadata)
                out["codes"]["OK"] += 1
                continue
            if args.method == "Stream":
                msgs = [m.decode() for m in channel.unary_stream("/shunt.Echo/Stream")(
                    args.request.encode(), timeout=args.timeout, metadata=metadata)]
                out["messages"] = msgs
                out["codes"]["OK"] += 1
                continue
            fn = channel.unary_unary(f"/shunt.Echo/{args.method}")
            resp, c = fn.with_call(args.request.encode(), timeout=args.timeout, metadata=metadata)
            out["codes"]["OK"] += 1
            out["served_by"][resp.decode().split(":")[0]] += 1
            out["trailing"] = dict(c.trailing_metadata() or ())
        except grpc.RpcError as e:
            out["codes"][e.code().name] += 1
            out["details"] = e.details()
            out["trailing"] = dict(e.trailing_metadata() or ())
    out["seconds"] = round(time.monotonic() - started, 3)
    print(json.dumps(out, sort_keys=True))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--listen", required=True)
    s.add_argument("--name", required=True)
    c = sub.add_parser("call")
    c.add_argument("--target", required=True)
    c.add_argument("--method", default="Unary")
    c.add_argument("--request", default="hi")
    c.add_argument("--count", type=int, default=1)
    c.add_argument("--seconds", type=float, default=0,
                   help="calls one after another for this long (instead of --count)")
    c.add_argument("--timeout", type=float, default=10)
    c.add_argument("--metadata", action="append", default=[])
    args = ap.parse_args()
    (serve if args.cmd == "serve" else call)(args)


if __name__ == "__main__":
    sys.exit(main())
