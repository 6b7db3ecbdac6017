// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Client connections: HTTP/1.1 requests read with http-parser, one at a
 * time (a pipelined request waits, parsed later, until the one before it
 * has its response), and responses written back in order. A request goes
 * on once its head is read; its body follows as it comes (l7_body.c).
 */
#include <errno.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "l7_impl.h"

#define L7_IN_AHEAD (L7_HEAD_MAX + 16384) /* read ahead of the parser */

static struct l7_down *of_parser(http_parser *p)
{
	return p->data;
}

static int on_message_begin(http_parser *p)
{
	struct l7_down *d = of_parser(p);

	d->req = l7_request_new(d);
	d->msg_done = d->head_done = false;
	d->hdr = NULL;
	d->hdr_in_value = false;
	d->head_bytes = 0;
	return d->req ? 0 : -1;
}

/* The request line and headers together stay within L7_HEAD_MAX, and so
 * does the chunked body's trailer section on its own. */
static int head_bytes(struct l7_down *d, size_t len)
{
	d->head_bytes += len;
	if (d->head_bytes <= L7_HEAD_MAX)
		return 0;
	if (d->req->outcome != SHUNT_OUT_MAX) /* said once the parser stops */
		d->req->outcome = SHUNT_OUT_L7_HEADERS_TOO_LARGE;
	return -1;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct l7_down *d = of_parser(p);

	if (head_bytes(d, len))
		return -1;
	return l7_str_append(&d->req->target, at, len);
}

/* A new field at the end of H (N of CAP), or NULL. */
static struct l7_header *new_field(struct l7_down *d, struct l7_header **h, size_t *n, size_t *cap)
{
	struct l7_header *f;

	if (*n == *cap) {
		size_t more = *cap ? *cap * 2 : 16;

		if (more > 1024) { /* more fields than any section of L7_HEAD_MAX needs */
			if (d->req->outcome != SHUNT_OUT_MAX)
				d->req->outcome = SHUNT_OUT_L7_HEADERS_TOO_LARGE;
			return NULL;
		}
		f = realloc(*h, more * sizeof(*f));
		if (!f)
			return NULL;
		*h = f;
		*cap = more;
	}
	f = &(*h)[(*n)++];
	*f = (struct l7_header){0};
	d->hdr_in_value = false;
	return f;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
	struct l7_down *d = of_parser(p);
	struct l7_request *r = d->req;

	if (head_bytes(d, len))
		return -1;
	if (!d->hdr || d->hdr_in_value) {
		/* after the head: the chunked body's trailer fields */
		d->hdr = d->head_done ? new_field(d, &r->req_trailers, &r->nreq_trailers,
						  &r->req_trailers_cap)
				      : new_field(d, &r->headers, &r->nheaders, &r->headers_cap);
		if (!d->hdr)
			return -1;
	}
	return l7_str_append(&d->hdr->name, at, len);
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	struct l7_down *d = of_parser(p);

	if (head_bytes(d, len))
		return -1;
	d->hdr_in_value = true;
	return l7_str_append(&d->hdr->value, at, len);
}

/* http-parser flags an HTTP/1.1 request with Connection: upgrade and
 * Upgrade. It is passed on as an upgrade, except Upgrade: h2c, which is
 * ignored (RFC 9113 3.1 allows it): that request is served over HTTP/1.1. */
static void note_upgrade(http_parser *p, struct l7_request *r)
{
	const char *to = l7_header_get(r, "upgrade");

	if (!p->upgrade || p->method == HTTP_CONNECT)
		return;
	if (r->http_minor >= 1 && to && strcasecmp(to, "h2c")) {
		r->upgrade = true;
		/* Answered without switching (by the endpoint or the proxy), the
		 * connection ends: what follows the head may be the new protocol. */
		r->keep_alive = false;
		atomic_fetch_add(&l7_stats.upgrade_requests, 1);
		return;
	}
	p->upgrade = 0; /* the parser reads on as for any request */
}

static int on_headers_complete(http_parser *p)
{
	struct l7_down *d = of_parser(p);
	struct l7_request *r = d->req;
	const char *expect;
	size_t i;

	snprintf(r->method, sizeof(r->method), "%s", http_method_str(p->method));
	r->http_minor = p->http_major == 1 ? p->http_minor : 0;
	r->keep_alive = http_should_keep_alive(p);
	r->no_body_response = p->method == HTTP_HEAD;
	for (i = 0; i < r->nheaders; i++)
		if (!r->headers[i].value && !(r->headers[i].value = strdup("")))
			return -1;
	if (!r->target && !(r->target = strdup("/")))
		return -1;
	note_upgrade(p, r);
	r->body_length = (p->flags & F_CONTENTLENGTH) ? (int64_t)p->content_length
			 : (p->flags & F_CHUNKED)     ? -1
						      : 0;
	d->head_done = true;
	d->hdr = NULL; /* trailer fields, if any, start a list of their own */
	d->head_bytes = 0;
	/* The proxy reads the body whatever the endpoint says: ask for it. */
	expect = l7_header_get(r, "expect");
	if (expect && !strcasecmp(expect, "100-continue") && r->http_minor >= 1) {
		r->expect_continue = true;
		l7_buf_printf(&d->out, "HTTP/1.1 100 Continue\r\n\r\n");
		l7_down_write(d);
	}
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	struct l7_request *r = of_parser(p)->req;

	if (l7_body_append(r, at, len))
		return -1;
	if (r->view) /* a body that stalls as long as an idle connection ends */
		l7_arm_in(of_parser(p)->l, &of_parser(p)->idle, L7_IDLE_DOWN_MS);
	if (!r->view && l7_buf_pending(&r->body) > L7_BODY_WHOLE)
		http_parser_pause(p, 1); /* long: it goes on, and its body streams */
	return 0;
}

static int on_message_complete(http_parser *p)
{
	if (l7_trailers_keep(of_parser(p)->req))
		return -1;
	of_parser(p)->msg_done = true;
	http_parser_pause(p, 1); /* the next request waits for this response */
	return 0;
}

static const http_parser_settings request_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static bool down_wants_read(const struct l7_down *d)
{
	return !d->eof && !d->closing && l7_buf_pending(&d->in) < L7_IN_AHEAD;
}

/* A request whose body is not all here goes on now, its body streaming
 * after it, when the body is chunked or long. A short one (a length up to
 * L7_BODY_WHOLE) is read whole first, as is a body that came whole, so
 * that an answer of the proxy (404, 403, 429) keeps the connection. */
static bool streams_now(const struct l7_down *d)
{
	const struct l7_request *r = d->req;

	return r && d->head_done && !r->view && !d->msg_done && !r->upgrade &&
	       (r->body_length < 0 || r->body_length > L7_BODY_WHOLE);
}

/* The parser paused (or ran out of input, streams_now): at the end of a
 * message, or inside a body that streams. False when D has nothing more to
 * parse now. */
static bool on_paused(struct l7_down *d)
{
	struct l7_request *r = d->req;

	if (r->view) { /* its body ended: the next request waits for the response */
		timer_cancel(&d->l->wheel, &d->idle);
		l7_body_end(r);
		return false;
	}
	timer_cancel(&d->l->wheel, &d->idle);
	r->body_done = d->msg_done;
	l7_request_dispatch(r); /* may answer, and end R */
	if (d->dead || d->req != r || d->msg_done)
		return false;
	http_parser_pause(&d->parser, 0); /* on to its body */
	return true;
}

/* Parses what has arrived: heads go on as requests, bodies after them. */
static void parse_input(struct l7_down *d)
{
	enum http_errno e = HPE_PAUSED; /* nothing parsed: nothing to say */
	size_t n;

	do {
		/* a request that went on: wait for its response, or for its
		 * endpoint to take the body queued so far */
		if (d->req && d->req->view && (d->msg_done || l7_body_full(d->req)))
			break;
		if (d->closing || !l7_buf_pending(&d->in))
			break;
		n = http_parser_execute(&d->parser, &request_settings, d->in.data + d->in.off,
					l7_buf_pending(&d->in));
		l7_buf_consume(&d->in, n);
		e = HTTP_PARSER_ERRNO(&d->parser);
		if (e != HPE_PAUSED && !(e == HPE_OK && streams_now(d)))
			break;
	} while (on_paused(d));
	if (d->dead)
		return;
	l7_io_want(d->l, &d->io, down_wants_read(d), d->io.wr);
	if (e == HPE_PAUSED || (e == HPE_OK && !d->parser.upgrade))
		return;
	/* its trailer section too large: answered 431 (or the response cut),
	 * its try dropped, the connection closed after */
	if (d->req && d->req->view && d->req->outcome == SHUNT_OUT_L7_HEADERS_TOO_LARGE)
		return l7_request_abandon(d->req, d->req->outcome);
	if (d->req && d->req->view)
		return l7_down_close(d); /* its body broke off: it ends with the connection */
	{
		/* A request the proxy cannot read: answered, then closed. */
		if (!d->req && !(d->req = l7_request_new(d)))
			return l7_down_close(d);
		d->req->keep_alive = false;
		/* a callback may have said why already (413, 431) */
		if (d->req->outcome == SHUNT_OUT_ALLOWED)
			d->req->outcome = e == HPE_HEADER_OVERFLOW ? SHUNT_OUT_L7_HEADERS_TOO_LARGE
								   : SHUNT_OUT_L7_BAD_REQUEST;
		if (!d->req->target)
			d->req->target = strdup("");
		l7_request_answer(d->req, d->req->outcome);
	}
}

/* HTTP/2 with prior knowledge, or HTTP/1.1: the first bytes tell. False
 * while they cannot tell yet (or the connection closed). */
static bool pick_mode(struct l7_down *d)
{
	int h2 = l7_buf_pending(&d->in)
		     ? l7_h2_preface(d->in.data + d->in.off, l7_buf_pending(&d->in))
		     : -1;

	if (h2 < 0 && !d->eof)
		return false;
	d->mode_known = true;
	if (h2 == 1 && l7_h2_start(d)) {
		l7_down_close(d);
		return false;
	}
	return true;
}

static void h2_input(struct l7_down *d)
{
	size_t n = l7_buf_pending(&d->in);

	if (n && l7_h2_input(d, d->in.data + d->in.off, n))
		return l7_down_close(d);
	if (n)
		l7_arm_in(d->l, &d->idle, L7_IDLE_DOWN_MS);
	l7_buf_consume(&d->in, n);
	if (d->dead)
		return;
	if (d->eof) /* the client is gone: its streams with it, once sent */
		d->closing = true;
	l7_down_write(d);
}

static void read_input(struct l7_down *d)
{
	char buf[16384];
	ssize_t n;

	/* Keep at most one head's worth ahead of the request in flight. */
	while (l7_buf_pending(&d->in) < L7_IN_AHEAD) {
		n = recv(d->io.fd, buf, sizeof(buf), 0);
		if (n > 0) {
			if (l7_buf_append(&d->in, buf, (size_t)n))
				return l7_down_close(d);
			/* A short read emptied the socket: asking again would
			 * only get EAGAIN (a system call per request; the
			 * socket is level-triggered, so what comes later, an
			 * EOF too, is an event of its own). */
			if ((size_t)n < sizeof(buf))
				break;
			continue;
		}
		if (n == 0)
			d->eof = true;
		else if (errno != EAGAIN && errno != EINTR)
			return l7_down_close(d);
		break;
	}
	if (!d->mode_known && !pick_mode(d))
		return;
	if (d->h2)
		return h2_input(d);
	if (d->eof && !d->req && !l7_buf_pending(&d->in))
		return l7_down_close(d);
	if (d->eof)
		l7_io_want(d->l, &d->io, false, d->io.wr);
	parse_input(d);
}

void l7_down_write(struct l7_down *d)
{
	if (d->dead)
		return;
	if (d->h2 && l7_h2_send(d))
		return l7_down_close(d);
	if (d->dead)
		return;
	if (d->h2 && l7_h2_finished(d))
		d->closing = true;
	if (l7_io_flush(d->io.fd, &d->out)) {
		if (d->req)
			l7_request_finish(d->req, true);
		return l7_down_close(d);
	}
	if (!l7_buf_pending(&d->out) && d->closing)
		return l7_down_close(d);
	l7_io_want(d->l, &d->io, down_wants_read(d), l7_buf_pending(&d->out) > 0);
	if (d->req && l7_buf_pending(&d->out) < L7_OUT_HIGH)
		l7_request_resume_up(d->req);
}

static void on_idle(struct timer *t, void *ctx)
{
	(void)t;
	l7_down_close(ctx);
}

/* The response to the request in flight went out whole. */
void l7_down_request_done(struct l7_down *d)
{
	struct l7_request *r = d->req;
	/* answered before its body ended: the rest of it is never read */
	bool close_after = !r->keep_alive || r->close_after || !r->body_done;

	d->req = NULL;
	l7_request_free(r);
	if (close_after || d->eof) {
		d->closing = true;
		return l7_down_write(d);
	}
	l7_arm_in(d->l, &d->idle, L7_IDLE_DOWN_MS);
	d->idle_since_ms = timer_now_ms();
	http_parser_pause(&d->parser, 0);
	/* The response goes out, and the next pipelined request is read, at
	 * the end of the loop's turn, not from here: answering it could end
	 * here again, one stack frame per request. */
	l7_down_kick(d);
}

void l7_loop_parse_ready(struct l7_loop *l)
{
	struct l7_down *d;

	while ((d = l->ready)) {
		l->ready = d->ready_next;
		d->ready = false;
		if (d->dead)
			continue;
		/* what endpoints sent (HTTP/2 endpoints' data comes in a
		 * callback), and window updates for what they took */
		l7_down_write(d);
		if (!d->dead && !d->h2)
			parse_input(d);
	}
}

void l7_down_kick(struct l7_down *d)
{
	if (d->dead || d->ready)
		return;
	d->ready = true;
	d->ready_next = d->l->ready;
	d->l->ready = d;
}

static void on_down_event(struct l7_io *io, uint32_t events)
{
	struct l7_down *d = (struct l7_down *)io;

	if (events & (EPOLLERR | EPOLLHUP)) {
		if (d->req)
			l7_request_finish(d->req, true);
		return l7_down_close(d);
	}
	if (events & EPOLLOUT)
		l7_down_write(d);
	if (!d->dead && (events & (EPOLLIN | EPOLLRDHUP)))
		read_input(d);
}

/* What closing and detaching share: D leaves the loop (freed in its reap). */
static void down_end(struct l7_down *d)
{
	struct l7_loop *l = d->l;

	if (d->req) {
		struct l7_request *r = d->req;

		d->req = NULL;
		l7_request_finish(r, true);
		l7_request_free(r);
	}
	if (d->h2)
		l7_h2_close(d);
	l7_view_put(d->view);
	d->view = NULL;
	timer_cancel(&l->wheel, &d->idle);
	l7_io_del(l, &d->io);
	d->io.fd = -1;
	if (d->prev)
		d->prev->next = d->next;
	else
		l->downs = d->next;
	if (d->next)
		d->next->prev = d->prev;
	d->next = l->dead_downs;
	l->dead_downs = d;
}

void l7_down_close(struct l7_down *d)
{
	int fd = d->io.fd;

	if (d->dead)
		return;
	d->dead = true;
	down_end(d);
	close(fd);
	l7_buf_free(&d->in);
	l7_buf_free(&d->out);
	atomic_fetch_sub(&l7_stats.connections_active, 1);
}

/* Still an active connection (counted so): the tunnel ends it. */
int l7_down_detach(struct l7_down *d, struct l7_buf *in, struct l7_buf *out, bool *eof)
{
	int fd = d->io.fd;

	d->dead = true;
	*in = d->in;
	*out = d->out;
	*eof = d->eof;
	memset(&d->in, 0, sizeof(d->in));
	memset(&d->out, 0, sizeof(d->out));
	down_end(d);
	return fd;
}

void l7_accept(struct l7_loop *l, int fd, const struct l7_origin *o)
{
	struct l7_down *d = calloc(1, sizeof(*d));

	if (!d) {
		close(fd);
		return;
	}
	d->l = l;
	d->io.fd = fd;
	d->io.on_event = on_down_event;
	d->origin = *o;
	if (o->src)
		snprintf(d->src_name, sizeof(d->src_name), "%s/%s", o->src->ns, o->src->name);
	if (o->dst)
		snprintf(d->dst_name, sizeof(d->dst_name), "%s/%s", o->dst->ns, o->dst->name);
	d->origin.src = d->origin.dst = NULL; /* only names outlive this model version */
	http_parser_init(&d->parser, HTTP_REQUEST);
	d->parser.data = d;
	timer_init(&d->idle, on_idle, d);
	if (l7_io_add(l, &d->io, true, false)) {
		close(fd);
		free(d);
		return;
	}
	d->next = l->downs;
	if (l->downs)
		l->downs->prev = d;
	l->downs = d;
	atomic_fetch_add(&l7_stats.connections, 1);
	atomic_fetch_add(&l7_stats.connections_active, 1);
	l7_arm_in(l, &d->idle, L7_IDLE_DOWN_MS);
	d->idle_since_ms = timer_now_ms();
	read_input(d);
	l7_loop_end_turn(l);
}
