#!/usr/bin/python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""One process, blocking and non-blocking sockets side by side.

  mixed_sockets.py server HOST PORT CONNS   asyncio (epoll, non-blocking) server
  mixed_sockets.py client HOST PORT SIZE GO one blocking socket, then two
                                            non-blocking ones on a selector
  mixed_sockets.py once HOST PORT           one blocking connection, 1 byte each way

Per connection: the server says hello, the client uploads SIZE random bytes,
the server answers with the upload's sha256, its own payload's sha256 and
SIZE random bytes. Both sides check the digests. The client first does a
blocking read on its blocking socket, then opens the two non-blocking ones;
once everything is checked it prints its local ports, waits until the file
GO exists (the test inspects the sockets meanwhile), and closes.
"""
import asyncio
import hashlib
import os
import selectors
import socket
import sys
import time

HELLO = b"hello\n"
DIGEST = 64  # hex sha256


async def serve_one(reader, writer, done):
    writer.write(HELLO)
    await writer.drain()
    size = int.from_bytes(await reader.readexactly(8), "big")
    h = hashlib.sha256()
    left = size
    while left:
        chunk = await reader.read(min(left, 1 << 20))
        if not chunk:
            raise EOFError(f"upload ended {left} bytes short")
        h.update(chunk)
        left -= len(chunk)
    payload = os.urandom(size)
    writer.write(h.hexdigest().encode() + hashlib.sha256(payload).hexdigest().encode())
    writer.write(payload)
    await writer.drain()
    if await reader.read(1):
        raise ValueError("data after the upload")
    writer.close()
    await writer.wait_closed()
    done.append(1)


async def server(host, port, conns):
    done, tasks = [], []

    def accepted(r, w):
        tasks.append(asyncio.ensure_future(serve_one(r, w, done)))

    srv = await asyncio.start_server(accepted, host, port)
    print("listening", flush=True)
    while len(done) < conns:
        for t in tasks:
            if t.done() and t.exception():
                raise t.exception()
        await asyncio.sleep(0.05)
    srv.close()
    await srv.wait_closed()


class Conn:
    """A non-blocking client connection driven by the selector."""

    def __init__(self, sock, size):
        self.sock, self.upload = sock, os.urandom(size)
        self.out = len(self.upload).to_bytes(8, "big") + self.upload
        self.want = len(HELLO) + 2 * DIGEST + size
        self.got = bytearray()

    def on_event(self, sel, mask):
        try:
            if mask & selectors.EVENT_WRITE:
                n = self.sock.send(self.out[:1 << 20])
                self.out = self.out[n:]
            if mask & selectors.EVENT_READ:
                chunk = self.sock.recv(1 << 20)
                if not chunk:
                    sys.exit(f"port {self.port()}: EOF after {len(self.got)} bytes")
                self.got += chunk
        except BlockingIOError:
            pass  # an event loop retries on the next event
        events = selectors.EVENT_READ if self.want > len(self.got) else 0
        if self.out and len(self.got) >= len(HELLO):
            events |= selectors.EVENT_WRITE
        if events:
            sel.modify(self.sock, events, self)
        else:
            sel.unregister(self.sock)

    def port(self):
        return self.sock.getsockname()[1]


def check(conn_port, got, upload):
    if got[:len(HELLO)] != HELLO:
        sys.exit(f"port {conn_port}: bad hello {bytes(got[:len(HELLO)])!r}")
    digests = bytes(got[len(HELLO):len(HELLO) + 2 * DIGEST]).decode()
    payload = got[len(HELLO) + 2 * DIGEST:]
    if digests[:DIGEST] != hashlib.sha256(upload).hexdigest():
        sys.exit(f"port {conn_port}: the server saw another upload")
    if digests[DIGEST:] != hashlib.sha256(payload).hexdigest():
        sys.exit(f"port {conn_port}: the payload arrived changed ({len(payload)} bytes)")


def recv_exactly(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))  # plain blocking recv
        if not chunk:
            sys.exit(f"blocking socket: EOF after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def exchange_blocking(host, port, size):
    blocking = socket.create_connection((host, port))
    got = recv_exactly(blocking, len(HELLO))
    upload = os.urandom(size)
    blocking.sendall(len(upload).to_bytes(8, "big") + upload)
    got += recv_exactly(blocking, 2 * DIGEST + size)
    check(blocking.getsockname()[1], got, upload)
    return blocking


def client(host, port, size, go):
    blocking = exchange_blocking(host, port, size)  # blocking reads, before the others exist

    sel = selectors.DefaultSelector()
    conns = []
    for _ in range(2):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex((host, port))
        c = Conn(s, size)
        conns.append(c)
        sel.register(s, selectors.EVENT_READ, c)
    deadline = time.monotonic() + 30
    while sel.get_map():
        if time.monotonic() > deadline:
            sys.exit("non-blocking sockets: no end after 30 s")
        for key, mask in sel.select(1):
            key.data.on_event(sel, mask)
    for c in conns:
        check(c.port(), c.got, c.upload)

    print("ports", blocking.getsockname()[1], *(c.port() for c in conns), flush=True)
    deadline = time.monotonic() + 30
    while not os.path.exists(go) and time.monotonic() < deadline:
        time.sleep(0.05)
    for s in [blocking] + [c.sock for c in conns]:
        s.close()


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "server":
        asyncio.run(server(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
    elif len(sys.argv) == 6 and sys.argv[1] == "client":
        client(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    elif len(sys.argv) == 4 and sys.argv[1] == "once":
        exchange_blocking(sys.argv[2], int(sys.argv[3]), 1).close()
    else:
        sys.exit(__doc__)
