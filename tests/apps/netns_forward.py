#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""A TCP forwarder from this network namespace into another one.

Listens on --listen (ADDR:PORT) here, then moves itself into --netns (a
path such as /run/netns/NAME) and connects every accepted connection to
--to (ADDR:PORT) there. A socket keeps the namespace it was made in, so the
listener stays reachable from where it started. The tests use it to let a
Prometheus on the host scrape node proxies that serve /metrics on their
node's loopback.
"""
import argparse
import ctypes
import os
import socket
import threading

CLONE_NEWNET = 0x40000000


def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(conn, to):
    try:
        up = socket.create_connection(to, timeout=5)
    except OSError:
        conn.close()
        return
    up.settimeout(None)
    threading.Thread(target=pipe, args=(up, conn), daemon=True).start()
    pipe(conn, up)
    conn.close()
    up.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", required=True)
    p.add_argument("--netns", required=True)
    p.add_argument("--to", required=True)
    a = p.parse_args()
    host, port = a.listen.rsplit(":", 1)
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((host, int(port)))
    lsock.listen(64)
    # Single-threaded so far: the whole process moves (threads made after
    # this start in the new namespace too).
    fd = os.open(a.netns, os.O_RDONLY)
    if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns " + a.netns)
    os.close(fd)
    thost, tport = a.to.rsplit(":", 1)
    while True:
        conn, _ = lsock.accept()
        threading.Thread(target=serve, args=(conn, (thost, int(tport))), daemon=True).start()


if __name__ == "__main__":
    main()
