// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Connections to endpoints: pooled per client workload and endpoint, one
 * request at a time. The request goes out whole (its body is buffered);
 * the response is read with http-parser and streamed to the client as it
 * comes, re-framed (chunked when its length is not known).
 */
#include <errno.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "l7_impl.h"

static struct l7_up *of_parser(http_parser *p)
{
	return p->data;
}

static void reset_head(struct l7_up *up)
{
	l7_headers_free(up->rh, up->nrh);
	up->rh = NULL;
	up->nrh = up->rh_cap = up->nrh_head = 0;
	up->rh_in_value = false;
	free(up->reason);
	up->reason = NULL;
}

static int on_status(http_parser *p, const char *at, size_t len)
{
	return l7_str_append(&of_parser(p)->reason, at, len);
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
	struct l7_up *up = of_parser(p);

	if (!up->nrh || up->rh_in_value) {
		if (up->nrh == up->rh_cap) {
			size_t cap = up->rh_cap ? up->rh_cap * 2 : 16;
			struct l7_header *h;

			if (cap > 1024)
				return -1;
			h = realloc(up->rh, cap * sizeof(*h));
			if (!h)
				return -1;
			up->rh = h;
			up->rh_cap = cap;
		}
		up->rh[up->nrh++] = (struct l7_header){};
		up->rh_in_value = false;
	}
	return l7_str_append(&up->rh[up->nrh - 1].name, at, len);
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	struct l7_up *up = of_parser(p);

	up->rh_in_value = true;
	return l7_str_append(&up->rh[up->nrh - 1].value, at, len);
}

/* The response head, to the client: status and headers (modified by the
 * rule); the sink frames the body. */
static int send_head(struct l7_up *up, struct l7_request *req, http_parser *p)
{
	const struct cfg_http_header_mod *mod =
	    req->rule && req->rule->r ? &req->rule->r->response_headers : NULL;
	bool bodyless = req->no_body_response || p->status_code == 204 || p->status_code == 304 ||
			p->status_code == 101;
	const char *cl = NULL;
	size_t i;
	int err;

	for (i = 0; i < up->nrh; i++)
		if (!up->rh[i].value && !(up->rh[i].value = strdup("")))
			return -1;
	for (i = 0; i < up->nrh && !(p->flags & F_CHUNKED); i++)
		if (!strcasecmp(up->rh[i].name, "content-length"))
			cl = up->rh[i].value;
	req->status = p->status_code;
	err = req->sink->head(req, p->status_code, up->reason, up->rh, up->nrh, mod, cl, bodyless);
	req->head_sent = true;
	return err;
}

static int on_headers_complete(http_parser *p)
{
	struct l7_up *up = of_parser(p);
	struct l7_request *req = up->req;
	bool switching = req && req->upgrade && p->status_code == 101;

	up->informational = !switching && p->status_code >= 100 && p->status_code < 200;
	up->nrh_head = up->nrh;
	if (up->informational)
		return 0; /* 100 Continue: the body went out already */
	if (!req) {
		up->discard = true;
		return 0;
	}
	l7_endpoint_result(req->backend, req->ep, p->status_code);
	if (switching) {
		/* The head goes to the client with the tunnel's first bytes; 2:
		 * the parser stops after it (what follows is the new protocol). */
		up->upgraded = true;
		return send_head(up, req, p) ? -1 : 2;
	}
	if (l7_retry_status(req, p->status_code)) {
		/* Read to its end and pool the connection; the request goes on. */
		up->discard = true;
		up->req = NULL;
		req->up = NULL;
		req->ep->pending--;
		l7_request_try_failed(req, SHUNT_OUT_L7_UPSTREAM_STATUS, p->status_code);
		return 0;
	}
	if (send_head(up, req, p))
		return -1;
	req->sink->flush(req);
	return req->no_body_response ? 1 : 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	struct l7_up *up = of_parser(p);
	struct l7_request *req = up->req;

	if (up->discard || !req)
		return 0;
	return req->sink->body(req, at, len);
}

static int on_message_complete(http_parser *p)
{
	struct l7_up *up = of_parser(p);
	struct l7_request *req = up->req;
	size_t i;

	if (up->informational) {
		up->informational = false;
		reset_head(up);
		return 0;
	}
	http_parser_pause(p, 1); /* one response per request: stop here */
	if (!req || up->discard)
		return 0;
	/* what came after the head are the chunked body's trailers */
	for (i = up->nrh_head; i < up->nrh; i++)
		if (!up->rh[i].value && !(up->rh[i].value = strdup("")))
			return -1;
	if (up->nrh == up->nrh_head) /* none (rh may be NULL: no offset from it) */
		return req->sink->end(req, NULL, 0) ? -1 : 0;
	return req->sink->end(req, up->rh + up->nrh_head, up->nrh - up->nrh_head) ? -1 : 0;
}

static const http_parser_settings response_settings = {
    .on_status = on_status,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void up_close(struct l7_up *up)
{
	struct l7_loop *l = up->l;

	if (up->dead)
		return;
	up->dead = true;
	timer_cancel(&l->wheel, &up->idle);
	l7_io_del(l, &up->io);
	close(up->io.fd);
	up->io.fd = -1;
	l->ops->closed(l->ctx, up->token);
	l7_buf_free(&up->out);
	reset_head(up);
	up->next = l->dead_ups;
	l->dead_ups = up;
	if (up->cluster) {
		up->cluster->connections--;
		l7_cluster_freed(l, up->cluster);
	}
}

static void on_idle(struct timer *t, void *ctx)
{
	struct l7_up *up = ctx, **pp;

	(void)t;
	for (pp = &up->pool->idle; *pp; pp = &(*pp)->next)
		if (*pp == up) {
			*pp = up->next;
			up->pool->nidle--;
			break;
		}
	up_close(up);
}

static uint64_t up_idle_ms(const struct l7_up *up)
{
	return up->idle_ms ? up->idle_ms : L7_IDLE_UP_MS;
}

void l7_up_release(struct l7_up *up, bool reusable)
{
	struct l7_pool *pool = up->pool;

	if (up->req) {
		up->req->up = NULL;
		up->req = NULL;
	}
	/* a request whose body did not go out whole leaves the stream mid-message */
	if (up->body_open)
		reusable = false;
	if (reusable && up->l->ops->reusable && !up->l->ops->reusable(up->l->ctx, up->token))
		reusable = false; /* its other end is being replaced */
	up->body_open = false;
	if (!reusable || up->dead || up->single_use || pool->nidle >= L7_POOL_IDLE_MAX) {
		if (reusable || up->dead)
			return up_close(up);
		/* not reusable and maybe still listed idle: unlink first */
		return on_idle(&up->idle, up);
	}
	up->discard = false;
	reset_head(up);
	http_parser_init(&up->parser, HTTP_RESPONSE);
	up->parser.data = up;
	up->next = pool->idle;
	pool->idle = up;
	pool->nidle++;
	l7_io_want(up->l, &up->io, true, false);
	l7_arm_in(up->l, &up->idle, up_idle_ms(up));
	l7_cluster_freed(up->l, up->cluster);
}

void l7_loop_prune(struct l7_loop *l)
{
	struct l7_up *up, *next;
	size_t i;

	if (!l->ops->reusable)
		return;
	for (i = 0; i < l->npools; i++)
		for (up = l->pool_list[i]->idle; up; up = next) {
			next = up->next;
			if (!l->ops->reusable(l->ctx, up->token))
				l7_up_release(up, false);
		}
	l7_loop_end_turn(l);
}

/* The response ended (parser paused): hand back the connection, and the
 * request its end. */
static void response_done(struct l7_up *up, size_t left)
{
	struct l7_request *req = up->req;
	bool reusable = !left && http_should_keep_alive(&up->parser);

	if (req) {
		req->ep->pending--;
		l7_endpoint_observe(req->ep, (timer_now_ms() - up->sent_ms) * 1000 + 1);
	}
	l7_up_release(up, reusable);
	if (req)
		l7_request_finish(req, false);
}

/* EOF or an error from the endpoint before the response ended. */
static void up_broke(struct l7_up *up)
{
	struct l7_request *req = up->req;
	bool stale = up->reused && !up->got_bytes;
	enum shunt_outcome why = up->l->ops->failure(up->l->ctx, up->token);

	if (req) {
		up->req = NULL;
		req->up = NULL;
		req->ep->pending--;
	}
	/* an idle one is in its pool: unlink it */
	on_idle(&up->idle, up);
	if (!req)
		return;
	if (req->head_sent)
		req->sink->cut(req); /* the client sees the response end broken */
	else if (shunt_outcome_is(why, SHUNT_OF_DENY) && !up->got_bytes)
		l7_request_answer(req, why); /* refused at the endpoint's node */
	else if (shunt_outcome_is(why, SHUNT_OF_REFUSAL) && !up->got_bytes)
		l7_request_try_failed(req, SHUNT_OUT_L7_CONNECT_FAILED,
				      0); /* it could not connect */
	else
		l7_request_try_failed(req, stale ? SHUNT_OUT_CLOSED : SHUNT_OUT_L7_UPSTREAM_RESET,
				      0);
}

static void read_response(struct l7_up *up)
{
	char buf[65536];
	enum http_errno e;
	ssize_t n;
	size_t used;

	for (;;) {
		if (up->req && up->req->sink->queued(up->req) >= L7_OUT_HIGH) {
			/* the client is slow: wait for it (l7_up_resume) */
			l7_io_want(up->l, &up->io, false, up->io.wr);
			return;
		}
		n = recv(up->io.fd, buf, sizeof(buf), 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n > 0)
			up->got_bytes = true;
		/* Closed while idle, or bytes nobody asked for (a 408 before a
		 * close): either way the connection is done. */
		if (!up->req && !up->discard)
			return on_idle(&up->idle, up);
		used = http_parser_execute(&up->parser, &response_settings, buf,
					   n > 0 ? (size_t)n : 0);
		e = HTTP_PARSER_ERRNO(&up->parser);
		if (up->discard && !up->req) {
			/* A retried answer: pooled again if it ended within what
			 * came, else closed (it may never end: no length). */
			l7_up_release(up, e == HPE_PAUSED && used == (size_t)(n > 0 ? n : 0) &&
					      http_should_keep_alive(&up->parser));
			return;
		}
		if (e == HPE_PAUSED && up->upgraded && up->req)
			return l7_tunnel_start(up, buf + used, (size_t)n - used);
		if (e == HPE_PAUSED)
			return response_done(up, (size_t)(n > 0 ? n : 0) - used);
		if (e != HPE_OK && up->req && !up->req->head_sent) {
			struct l7_request *req = up->req;

			up->req = NULL;
			req->up = NULL;
			req->ep->pending--;
			on_idle(&up->idle, up);
			return l7_request_try_failed(req, SHUNT_OUT_L7_BAD_RESPONSE, 0);
		}
		if (e != HPE_OK || n <= 0)
			return up_broke(up);
		if (up->req)
			up->req->sink->flush(up->req);
		if (up->dead || (size_t)n < sizeof(buf))
			return; /* a short read emptied it: level-triggered */
	}
}

bool l7_pool_ready(const struct l7_pool *pool)
{
	return pool->idle || l7_h2_up_has_room(pool);
}

void l7_request_resume_up(struct l7_request *req)
{
	if (req->up)
		l7_up_resume(req->up);
	else if (req->h2s)
		l7_h2_up_resume(req);
}

int l7_up_detach(struct l7_up *up, struct l7_buf *out)
{
	struct l7_loop *l = up->l;
	int fd = up->io.fd;

	if (up->req) {
		up->req->up = NULL;
		up->req = NULL;
	}
	up->dead = true;
	timer_cancel(&l->wheel, &up->idle);
	l7_io_del(l, &up->io);
	up->io.fd = -1;
	*out = up->out;
	memset(&up->out, 0, sizeof(up->out));
	reset_head(up);
	up->next = l->dead_ups;
	l->dead_ups = up;
	return fd;
}

void l7_up_resume(struct l7_up *up)
{
	if (up->dead || up->io.rd)
		return;
	l7_io_want(up->l, &up->io, true, l7_buf_pending(&up->out) > 0);
	read_response(up);
}

static void on_up_event(struct l7_io *io, uint32_t events)
{
	struct l7_up *up = (struct l7_up *)io;
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	if (up->dead) /* detached by an earlier event of the same batch */
		return;
	if (!up->connected && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
		if (soerr) {
			struct l7_request *req = up->req;

			up->req = NULL;
			if (req) {
				req->up = NULL;
				req->ep->pending--;
			}
			up_close(up);
			if (req)
				l7_request_try_failed(req, SHUNT_OUT_L7_CONNECT_FAILED, 0);
			return;
		}
		up->connected = true;
	}
	if (events & EPOLLOUT) {
		if (l7_io_flush(io->fd, &up->out))
			return up_broke(up);
		if (!l7_buf_pending(&up->out))
			l7_io_want(up->l, io, io->rd, false);
		if (up->body_open)
			l7_up_pump_body(up);
	}
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		read_response(up);
}

/* The body's framing: its length when known and no trailers follow it,
 * else chunked. */
static int body_framing(struct l7_buf *out, const struct l7_request *req)
{
	if (req->body_done && !req->nreq_trailers)
		return l7_buf_printf(out, "content-length: %llu\r\n",
				     (unsigned long long)req->body_got);
	if (!req->body_done && req->body_length >= 0)
		return l7_buf_printf(out, "content-length: %lld\r\n", (long long)req->body_length);
	return l7_buf_printf(out, "transfer-encoding: chunked\r\n");
}

/* A whole body with trailer fields: one chunk, then the last with them
 * (trailers exist only in chunked framing, RFC 9112 7.1.2). */
static int whole_chunked(struct l7_buf *out, const struct l7_request *req, const char *body,
			 size_t n)
{
	if (n && (l7_buf_printf(out, "%zx\r\n", n) || l7_buf_append(out, body, n) ||
		  l7_buf_append(out, "\r\n", 2)))
		return -ENOMEM;
	return l7_write_last_chunk(out, req);
}

int l7_serialize_request(struct l7_buf *out, const struct l7_request *req, const char *extra,
			 bool upgrade)
{
	const struct cfg_http_header_mod *mod =
	    req->rule && req->rule->r ? &req->rule->r->request_headers : NULL;
	bool body_method = l7_body_expected(req);
	struct l7_trace hop;
	const char *body;
	size_t n = l7_body_at(req, 0, &body);
	int err;

	l7_buf_reset(out);
	err = l7_buf_printf(out, "%s %s HTTP/1.1\r\n", req->method, req->target);
	if (!err)
		err = l7_write_headers(out, req->headers, req->nheaders, mod, upgrade,
				       l7_request_hop_trace(req, &hop));
	if (!err && body_method)
		err = body_framing(out, req);
	if (!err)
		err = l7_buf_printf(out, "%s\r\n", extra);
	/* a whole body goes at once; a streaming one follows (l7_up_pump_body) */
	if (!err && req->body_done && req->nreq_trailers)
		err = whole_chunked(out, req, body, n);
	else if (!err && req->body_done && n)
		err = l7_buf_append(out, body, n);
	return err;
}

static struct l7_up *up_open(struct l7_loop *l, struct l7_request *req, struct l7_pool *pool,
			     enum shunt_outcome *why)
{
	struct l7_up *up = calloc(1, sizeof(*up));
	int fd = -1;

	*why = SHUNT_OUT_SOCKET_FAILED;
	if (!up)
		return NULL;
	*why = l->ops->connect(l->ctx, &req->target_ep, &fd, &up->token);
	if (*why != SHUNT_OUT_ALLOWED) {
		free(up);
		return NULL;
	}
	up->l = l;
	up->pool = pool;
	up->ep = req->ep;
	up->cluster = req->backend->cluster;
	up->cluster->connections++;
	up->idle_ms = req->backend->tp ? req->backend->tp->idle_timeout_ms : 0;
	up->io.fd = fd;
	up->io.on_event = on_up_event;
	timer_init(&up->idle, on_idle, up);
	http_parser_init(&up->parser, HTTP_RESPONSE);
	up->parser.data = up;
	if (l7_io_add(l, &up->io, true, true)) {
		close(fd);
		l->ops->closed(l->ctx, up->token);
		up->cluster->connections--;
		free(up);
		*why = SHUNT_OUT_SOCKET_FAILED;
		return NULL;
	}
	atomic_fetch_add(&l7_stats.upstream_connects, 1);
	return up;
}

/* Whether REQ's endpoint is behind another node's L7 hop (the owner's
 * answer, kept per endpoint and model version: finding it scans services). */
static bool behind_proxy(struct l7_loop *l, struct l7_request *req)
{
	struct l7_endpoint *ep = req->ep;

	if (!l->ops->multiplexed || !req->view)
		return false;
	if (ep->mux_version != req->view->version + 1) {
		ep->mux = l->ops->multiplexed(l->ctx, req->view->cfg, &req->target_ep);
		ep->mux_version = req->view->version + 1;
	}
	return ep->mux;
}

enum shunt_outcome l7_up_send(struct l7_loop *l, struct l7_request *req, struct l7_pool *pool)
{
	enum shunt_outcome why = SHUNT_OUT_ALLOWED;
	struct l7_up *up;

	/* no other hop reads it again: this one is the endpoint's side too */
	req->server_here = req->traced && req->trace.sampled && !req->down->origin.inbound &&
			   !behind_proxy(l, req);
	/* a stream of an HTTP/2 connection: its port speaks HTTP/2, or another
	 * node's L7 hop reads it (an upgrade never is) */
	if (cfg_port_speaks_http2(req->backend->sp) || (!req->upgrade && behind_proxy(l, req)))
		return l7_h2_up_send(l, req, pool);
	/* idle ones whose other end is being replaced go (l7_loop_prune's
	 * next round may be a second away) */
	while ((up = pool->idle) && l->ops->reusable && !l->ops->reusable(l->ctx, up->token))
		l7_up_release(up, false);
	/* an upgrade takes a connection of its own: it never comes back */
	up = req->upgrade ? NULL : pool->idle;
	if (up) {
		pool->idle = up->next;
		pool->nidle--;
		timer_cancel(&l->wheel, &up->idle);
		up->reused = true;
		atomic_fetch_add(&l7_stats.upstream_reused, 1);
	} else if (!(up = up_open(l, req, pool, &why))) {
		return why;
	}
	up->next = NULL;
	up->single_use = req->upgrade;
	up->req = req;
	up->got_bytes = false;
	up->discard = false;
	up->sent_ms = timer_now_ms();
	req->up = up;
	req->ep->pending++;
	up->body_open = !req->body_done;
	up->body_chunked = !req->body_done && req->body_length < 0;
	up->body_sent = req->body_done ? req->body_got : 0;
	if (req->body_done)
		l7_body_taken(req, req->body_got);
	if (l7_serialize_request(&up->out, req, "", req->upgrade)) {
		up->req = NULL;
		req->up = NULL;
		req->ep->pending--;
		up_close(up);
		return SHUNT_OUT_SOCKET_FAILED;
	}
	/* A failed send shows again as an event of the socket, where the
	 * request's try fails; never from here, under the caller's feet. */
	if (up->connected)
		(void)l7_io_flush(up->io.fd, &up->out);
	l7_io_want(l, &up->io, true, l7_buf_pending(&up->out) > 0 || !up->connected);
	l7_up_pump_body(up);
	return SHUNT_OUT_ALLOWED;
}
