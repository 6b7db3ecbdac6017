/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The agent's tiny HTTP/1.0 endpoint for /metrics and /healthz: one GET per
 * connection, answered and closed. Enough for Prometheus and kubelet
 * probes; nothing else is served.
 */
#ifndef SHUNT_HTTP_SERVER_H
#define SHUNT_HTTP_SERVER_H

#include <stddef.h>

/* Fills BODY (malloc'ed) for PATH; returns the HTTP status. */
typedef int (*http_handler_fn)(const char *path, char **body, size_t *len, void *ctx);

/* Listens on "ADDR:PORT" or "[ADDR6]:PORT"; returns the fd or -errno. */
int http_listen(const char *addr_port);
/* The same, shared (SO_REUSEPORT) with a process of the same user that
 * takes over from this one (the node proxy during an upgrade). */
int http_listen_shared(const char *addr_port);
/* Accepts one client on LISTEN_FD and answers it (bounded by a timeout).
 * Refused without calling HANDLER: a request head over 2 KiB (431), a path
 * over 255 bytes (414), anything but GET (405). */
void http_serve_one(int listen_fd, http_handler_fn handler, void *ctx);

#endif
