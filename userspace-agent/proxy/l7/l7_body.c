// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Request bodies stream: a request goes to its endpoint when its head is
 * read, and its body follows as the client sends it, so a gRPC call that
 * streams both ways or an upload of any size goes through.
 *
 * The body is also kept from its first byte while it fits L7_BODY_MAX, so a
 * retry (or the free retry of a stale pooled connection) sends it again.
 * Past that, what a try took is let go, and no retry can happen any more
 * (body_lost): a retry never sends a body that is already gone.
 *
 * Backpressure, both ways: the client is read only while less than
 * L7_OUT_HIGH of its body waits unsent (HTTP/1.1: its connection is not
 * read; HTTP/2: its stream's window is given back only for what a try
 * took), and a try queues at most L7_BODY_AHEAD on its endpoint's socket.
 */
#include <errno.h>
#include <string.h>

#include "l7_impl.h"

static void body_pump(struct l7_request *req)
{
	if (req->up)
		l7_up_pump_body(req->up);
	else if (req->h2s)
		l7_h2_up_body_ready(req);
}

int l7_body_append(struct l7_request *req, const char *p, size_t n)
{
	if (l7_buf_append(&req->body, p, n))
		return -ENOMEM;
	req->body_got += n;
	body_pump(req);
	return 0;
}

void l7_body_end(struct l7_request *req)
{
	req->body_done = true;
	/* A mirror copy goes out whole, once there is a whole body to copy. */
	if (req->mirror_due && !req->body_lost)
		l7_mirror(req);
	req->mirror_due = false;
	body_pump(req);
}

size_t l7_body_at(const struct l7_request *req, uint64_t off, const char **p)
{
	uint64_t end = req->body_base + l7_buf_pending(&req->body);

	*p = NULL;
	if (off < req->body_base || off >= end)
		return 0;
	*p = req->body.data + req->body.off + (off - req->body_base);
	return (size_t)(end - off);
}

void l7_body_taken(struct l7_request *req, uint64_t upto)
{
	struct l7_down *d = req->down;
	size_t drop;

	if (upto > req->body_taken) {
		/* HTTP/2: the client's window opens by what was taken */
		if (d->h2 && req->stream_id > 0)
			nghttp2_session_consume(d->h2, req->stream_id, upto - req->body_taken);
		req->body_taken = upto;
		l7_down_kick(d);
	}
	if (req->body_taken <= req->body_base)
		return;
	if (!req->body_lost && l7_buf_pending(&req->body) <= L7_BODY_MAX)
		return;
	drop = (size_t)(req->body_taken - req->body_base);
	l7_buf_consume(&req->body, drop);
	req->body_base += drop;
	req->body_lost = true;
}

bool l7_body_full(const struct l7_request *req)
{
	return req->body_got - req->body_taken >= L7_OUT_HIGH;
}

bool l7_body_expected(const struct l7_request *req)
{
	return req->body_got || !req->body_done || req->nreq_trailers ||
	       !strcmp(req->method, "POST") || !strcmp(req->method, "PUT") ||
	       !strcmp(req->method, "PATCH");
}

bool l7_body_replayable(const struct l7_request *req)
{
	return !req->body_lost && req->body_base == 0;
}

/* Queues up to L7_BODY_AHEAD of the body on UP's buffer. False on ENOMEM
 * (the try stalls until its timeout). */
static bool queue_body(struct l7_up *up, struct l7_request *req)
{
	const char *p;
	size_t n;

	while (l7_buf_pending(&up->out) < L7_BODY_AHEAD &&
	       (n = l7_body_at(req, up->body_sent, &p)) > 0) {
		if (n > L7_BODY_AHEAD)
			n = L7_BODY_AHEAD;
		if ((up->body_chunked && l7_buf_printf(&up->out, "%zx\r\n", n)) ||
		    l7_buf_append(&up->out, p, n) ||
		    (up->body_chunked && l7_buf_append(&up->out, "\r\n", 2)))
			return false;
		up->body_sent += n;
	}
	/* the end, with the client's trailer fields when chunked (with a
	 * content-length they have no place, and are dropped: RFC 9112 7.1.2) */
	if (req->body_done && up->body_sent == req->body_got &&
	    (!up->body_chunked || !l7_write_last_chunk(&up->out, req)))
		up->body_open = false;
	return true;
}

void l7_up_pump_body(struct l7_up *up)
{
	struct l7_request *req = up->req;
	const char *p;
	bool queued;

	if (!req || !up->body_open || up->dead)
		return;
	/* Until the socket is full or the body read so far is all sent: a
	 * socket that took everything raises no EPOLLOUT, and once the
	 * client's body has all been read nothing else would call again. */
	do {
		queued = queue_body(up, req);
		l7_body_taken(req, up->body_sent);
		/* a failed send shows as the socket's event, never from here */
		if (up->connected)
			(void)l7_io_flush(up->io.fd, &up->out);
	} while (queued && up->connected && up->body_open && !l7_buf_pending(&up->out) &&
		 l7_body_at(req, up->body_sent, &p) > 0);
	l7_io_want(up->l, &up->io, up->io.rd, l7_buf_pending(&up->out) > 0 || !up->connected);
}
