#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""A WebSocket echo server and client for the L7 upgrade tests (python3-websockets).

server --listen IP:PORT --name NAME: echoes every message; its 101 carries
x-backend: NAME, so a client can tell which endpoint it reached.

client --url ws://HOST/PATH [--header NAME:VALUE] [--count N] [--size BYTES]:
sends N binary messages of SIZE random bytes and checks each echo; prints
"BACKEND MESH OK/N" (the 101's x-backend and x-mesh headers, "-" when
absent). --idle S: after one echo, sends nothing and prints how many
seconds passed until the connection was closed (or "open" after S).
"""
import argparse
import asyncio
import os
import sys
import time

import websockets


async def serve(args):
    host, port = args.listen.rsplit(":", 1)

    async def echo(ws, path=None):
        async for msg in ws:
            await ws.send(msg)

    async with websockets.serve(echo, host, int(port), max_size=None,
                                extra_headers={"x-backend": args.name}):
        await asyncio.Future()


async def client(args):
    headers = dict(h.split(":", 1) for h in args.header)
    async with websockets.connect(args.url, extra_headers=headers, max_size=None,
                                  ping_interval=None, open_timeout=5) as ws:
        got = ws.response_headers
        who = f'{got.get("x-backend", "-")} {got.get("x-mesh", "-")}'
        ok = 0
        for _ in range(args.count):
            data = os.urandom(args.size)
            await ws.send(data)
            ok += await asyncio.wait_for(ws.recv(), 5) == data
        if args.idle is None:
            print(f"{who} {ok}/{args.count}")
            return
        start = time.monotonic()
        try:
            await asyncio.wait_for(ws.recv(), args.idle)
            print("unexpected message")
        except websockets.ConnectionClosed:
            print(f"closed {time.monotonic() - start:.1f}")
        except asyncio.TimeoutError:
            print("open")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("server")
    s.add_argument("--listen", required=True)
    s.add_argument("--name", required=True)
    c = sub.add_parser("client")
    c.add_argument("--url", required=True)
    c.add_argument("--header", action="append", default=[])
    c.add_argument("--count", type=int, default=10)
    c.add_argument("--size", type=int, default=1000)
    c.add_argument("--idle", type=float)
    args = p.parse_args()
    try:
        asyncio.run(serve(args) if args.mode == "server" else client(args))
    except (OSError, websockets.WebSocketException, asyncio.TimeoutError) as e:
        print(f"error: {e!r}")
        sys.exit(1)


if __name__ == "__main__":
    main()
