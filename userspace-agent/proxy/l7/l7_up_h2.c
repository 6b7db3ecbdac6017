// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * HTTP/2 to endpoints whose port speaks it (appProtocol http2, grpc): one
 * h2c connection per pool carries each try as a stream (nghttp2 client
 * session), so a timeout or retry resets that stream only. Responses
 * stream to the client with their trailers (gRPC's grpc-status), read no
 * faster than the client takes them: WINDOW_UPDATEs wait for it. A full
 * connection gets no new streams until one ends; when every connection of
 * the pool is full, another is opened beside them (as Envoy's and Linkerd's
 * pools do), so a load above one connection's MAX_CONCURRENT_STREAMS does
 * not churn connections. One that got GOAWAY leaves its pool and closes when
 * its streams are done.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "l7_up_h2.h"

static void conn_close(struct l7_h2_up *c, enum shunt_outcome why);

static void stream_reset_headers(struct l7_h2_stream *hs)
{
	l7_headers_free(hs->rh, hs->nrh);
	hs->rh = NULL;
	hs->nrh = hs->rh_cap = 0;
}

/* The request leaves its stream: the stream is the endpoint's business now. */
struct l7_request *l7_h2_stream_detach(struct l7_h2_stream *hs)
{
	struct l7_request *req = hs->req;

	if (!req)
		return NULL;
	hs->req = NULL;
	req->h2s = NULL;
	req->ep->pending--;
	return req;
}

static void leave_pool(struct l7_h2_up *c)
{
	struct l7_h2_up **pp;

	if (!c->pool)
		return;
	for (pp = &c->pool->h2; *pp; pp = &(*pp)->pool_next)
		if (*pp == c) {
			*pp = c->pool_next;
			break;
		}
	c->pool = NULL;
	c->pool_next = NULL;
}

static bool conn_has_room(const struct l7_h2_up *c)
{
	uint32_t max;

	if (c->dead)
		return false;
	max = nghttp2_session_get_remote_settings(c->s, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
	return c->nstreams < (max < H2_UP_STREAMS_MAX ? max : H2_UP_STREAMS_MAX);
}

/* The pool's first connection that takes another stream, or NULL. */
struct l7_h2_up *l7_h2_pool_pick(const struct l7_pool *pool)
{
	struct l7_h2_up *c;

	for (c = pool->h2; c; c = c->pool_next)
		if (conn_has_room(c))
			return c;
	return NULL;
}

bool l7_h2_up_has_room(const struct l7_pool *pool)
{
	return l7_h2_pool_pick(pool) != NULL;
}

/* ---- the session's callbacks ---- */

static ssize_t on_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *ud)
{
	struct l7_h2_up *c = ud;

	(void)s;
	(void)flags;
	return l7_buf_append(&c->out, data, len) ? NGHTTP2_ERR_CALLBACK_FAILURE : (ssize_t)len;
}

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	struct l7_h2_stream *hs = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);

	(void)ud;
	if (hs)
		stream_reset_headers(hs);
	return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
		     const uint8_t *value, size_t vlen, uint8_t flags, void *ud)
{
	struct l7_h2_stream *hs = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);

	(void)flags;
	(void)ud;
	if (!hs)
		return 0;
	if (nlen == 7 && !memcmp(name, ":status", 7)) {
		hs->status = (int)strtol((const char *)value, NULL, 10);
		return 0;
	}
	if (nlen && name[0] == ':')
		return 0;
	/* a failure resets the stream */
	return l7_header_add(&hs->rh, &hs->nrh, &hs->rh_cap, (const char *)name, nlen,
			     (const char *)value, vlen)
		   ? NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE
		   : 0;
}

/* The response ended, after its body or as trailers (N of them). */
static void response_end(struct l7_h2_stream *hs, const struct l7_header *trailers, size_t n)
{
	struct l7_request *req = l7_h2_stream_detach(hs);

	if (!req)
		return;
	l7_endpoint_observe(req->ep, (timer_now_ms() - hs->sent_ms) * 1000 + 1);
	if (req->sink->end(req, trailers, n))
		return req->sink->cut(req);
	l7_request_finish(req, false);
}

/* The response head: a retriable status resets the stream and retries;
 * anything else goes to the client. END: no body follows (trailers-only). */
static void response_head(struct l7_h2_stream *hs, bool end)
{
	struct l7_request *req = hs->req;
	const struct cfg_http_header_mod *mod;
	const char *cl = NULL;
	bool bodyless;
	size_t i;

	if (!req || hs->status < 200)
		return; /* abandoned, or 1xx: the final head comes later */
	l7_endpoint_result(req->backend, req->ep, hs->status);
	if (l7_retry_status(req, hs->status) || (end && l7_retry_grpc(req, hs->rh, hs->nrh))) {
		l7_h2_stream_detach(hs);
		nghttp2_submit_rst_stream(hs->c->s, NGHTTP2_FLAG_NONE, hs->id, NGHTTP2_CANCEL);
		return l7_request_try_failed(req, SHUNT_OUT_L7_UPSTREAM_STATUS, hs->status);
	}
	mod = req->rule && req->rule->r ? &req->rule->r->response_headers : NULL;
	for (i = 0; i < hs->nrh; i++)
		if (!strcasecmp(hs->rh[i].name, "content-length"))
			cl = hs->rh[i].value;
	bodyless = req->no_body_response || hs->status == 204 || hs->status == 304;
	/* An HTTP/1.1 client needs a length for a head that ends the response. */
	if (end && !bodyless && !cl)
		cl = "0";
	req->status = hs->status;
	if (req->sink->head(req, hs->status, NULL, hs->rh, hs->nrh, mod, cl, bodyless || end)) {
		l7_h2_stream_detach(hs);
		nghttp2_submit_rst_stream(hs->c->s, NGHTTP2_FLAG_NONE, hs->id,
					  NGHTTP2_INTERNAL_ERROR);
		return req->sink->cut(req);
	}
	req->head_sent = true;
	stream_reset_headers(hs);
	if (end)
		return response_end(hs, NULL, 0);
	req->sink->flush(req);
}

static int on_frame(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	struct l7_h2_stream *hs = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
	bool end = f->hd.flags & NGHTTP2_FLAG_END_STREAM;

	if (f->hd.type == NGHTTP2_GOAWAY) {
		leave_pool(ud); /* what it did not take fails as REFUSED_STREAM */
		return 0;
	}
	if (!hs || !hs->req)
		return 0;
	if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_RESPONSE)
		response_head(hs, end);
	else if (f->hd.type == NGHTTP2_HEADERS && hs->req->head_sent)
		response_end(hs, hs->rh, hs->nrh); /* trailers always end the stream */
	else if (f->hd.type == NGHTTP2_DATA && end)
		response_end(hs, NULL, 0);
	return 0;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
		   void *ud)
{
	struct l7_h2_stream *hs = nghttp2_session_get_stream_user_data(s, id);
	struct l7_request *req = hs ? hs->req : NULL;

	(void)flags;
	(void)ud;
	if (!req || !req->head_sent) {
		nghttp2_session_consume(s, id, len);
		return 0;
	}
	if (req->sink->body(req, (const char *)data, len)) {
		l7_h2_stream_detach(hs);
		req->sink->cut(req);
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	l7_down_kick(req->down); /* written at the end of the loop's turn, not in here */
	/* acknowledged once the client took it: a slow client slows the endpoint */
	if (req->sink->queued(req) < L7_OUT_HIGH)
		nghttp2_session_consume(s, id, len);
	else
		hs->unconsumed += len;
	return 0;
}

/* A stream ended before its response did: the try failed, or the client
 * gets a response cut short. */
static void stream_failed(struct l7_h2_stream *hs, uint32_t code, enum shunt_outcome conn_why)
{
	struct l7_request *req = l7_h2_stream_detach(hs);
	struct l7_h2_up *c = hs->c;

	if (!req)
		return;
	if (req->head_sent)
		return req->sink->cut(req);
	if (shunt_outcome_is(conn_why, SHUNT_OF_DENY) && !c->got_bytes)
		return l7_request_answer(req, conn_why); /* refused at the endpoint's node */
	if (conn_why == SHUNT_OUT_L7_CONNECT_FAILED)
		return l7_request_try_failed(req, conn_why, 0);
	/* REFUSED_STREAM: the endpoint never took it (a GOAWAY's last stream
	 * id came below it): safe to send again, whatever the method */
	if (code == NGHTTP2_REFUSED_STREAM)
		return l7_request_try_refused(req);
	l7_request_try_failed(req, SHUNT_OUT_L7_UPSTREAM_RESET, 0);
}

static void stream_free(struct l7_h2_stream *hs)
{
	struct l7_h2_up *c = hs->c;

	*hs->pprev = hs->next;
	if (hs->next)
		hs->next->pprev = hs->pprev;
	c->nstreams--;
	stream_reset_headers(hs);
	free(hs);
	l7_cluster_freed(c->l, c->cluster);
	if (c->nstreams || c->dead)
		return;
	/* out of its pool: closes once the session is out of its callbacks */
	l7_arm_in(c->l, &c->idle, !c->pool ? 1 : c->idle_ms ? c->idle_ms : L7_IDLE_UP_MS);
}

static int on_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud)
{
	struct l7_h2_stream *hs = nghttp2_session_get_stream_user_data(s, id);

	(void)ud;
	if (!hs)
		return 0;
	nghttp2_session_set_stream_user_data(s, id, NULL);
	stream_failed(hs, code, SHUNT_OUT_ALLOWED);
	stream_free(hs);
	return 0;
}

/* ---- the connection ---- */
/* What the session has to say, out. CLOSE_ON_ERROR false: an error waits
 * for the socket's next event (no request fails under its caller). */
static void conn_send(struct l7_h2_up *c, bool close_on_error)
{
	int err;

	if (c->busy || c->dead)
		return;
	c->busy = true;
	err = nghttp2_session_send(c->s);
	c->busy = false;
	if (!err && c->connected)
		err = l7_io_flush(c->io.fd, &c->out);
	if (err && close_on_error)
		return conn_close(c, SHUNT_OUT_L7_UPSTREAM_RESET);
	l7_io_want(c->l, &c->io, true, !c->connected || l7_buf_pending(&c->out) > 0 || err);
}

/* Every stream fails with WHY; the connection goes to the dead list. */
static void conn_close(struct l7_h2_up *c, enum shunt_outcome why)
{
	struct l7_loop *l = c->l;
	struct l7_h2_up **pp;
	struct l7_h2_stream *hs;

	if (c->dead)
		return;
	c->dead = true;
	leave_pool(c);
	if (why != SHUNT_OUT_L7_CONNECT_FAILED && why != SHUNT_OUT_ALLOWED) {
		enum shunt_outcome peer = l->ops->failure(l->ctx, c->token);

		if (shunt_outcome_is(peer, SHUNT_OF_DENY))
			why = peer;
		else if (!c->got_bytes && shunt_outcome_is(peer, SHUNT_OF_REFUSAL))
			why =
			    SHUNT_OUT_L7_CONNECT_FAILED; /* the endpoint's node could not connect */
	}
	timer_cancel(&l->wheel, &c->idle);
	l7_io_del(l, &c->io);
	close(c->io.fd);
	c->io.fd = -1;
	while ((hs = c->streams)) {
		nghttp2_session_set_stream_user_data(c->s, hs->id, NULL);
		stream_failed(hs, NGHTTP2_NO_ERROR, why);
		stream_free(hs);
	}
	nghttp2_session_del(c->s);
	c->s = NULL;
	l->ops->closed(l->ctx, c->token);
	l7_buf_free(&c->out);
	for (pp = &l->h2_ups; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	c->next = l->dead_h2_ups;
	l->dead_h2_ups = c;
	c->cluster->connections--;
	l7_cluster_freed(l, c->cluster);
}

static void on_idle(struct timer *t, void *ctx)
{
	(void)t;
	conn_close(ctx, SHUNT_OUT_ALLOWED);
}

static void read_endpoint(struct l7_h2_up *c)
{
	char buf[65536];
	ssize_t n, used;

	for (;;) {
		n = recv(c->io.fd, buf, sizeof(buf), 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n <= 0)
			return conn_close(c, SHUNT_OUT_L7_UPSTREAM_RESET);
		c->got_bytes = true;
		c->busy = true;
		used = nghttp2_session_mem_recv(c->s, (const uint8_t *)buf, (size_t)n);
		c->busy = false;
		if (used < 0)
			return conn_close(c, SHUNT_OUT_L7_BAD_RESPONSE);
		if ((size_t)n < sizeof(buf))
			break; /* emptied: level-triggered, no EAGAIN asked for */
	}
	l7_send_later(c->l, &c->send_later);
}

/* The turn's frames for the endpoint (requests, window updates), in one
 * send; a connection that has nothing more to say or hear is done. */
static void send_turn(struct l7_later *w)
{
	struct l7_h2_up *c = (struct l7_h2_up *)((char *)w - offsetof(struct l7_h2_up, send_later));

	conn_send(c, true);
	if (!c->dead && !nghttp2_session_want_read(c->s) && !nghttp2_session_want_write(c->s))
		conn_close(c, SHUNT_OUT_ALLOWED); /* GOAWAY and every stream done */
}

static void on_event(struct l7_io *io, uint32_t events)
{
	struct l7_h2_up *c = (struct l7_h2_up *)io;
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	if (!c->connected && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
		if (soerr)
			return conn_close(c, SHUNT_OUT_L7_CONNECT_FAILED);
		c->connected = true;
	}
	if (events & EPOLLOUT)
		conn_send(c, true);
	if (!c->dead && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
		read_endpoint(c);
}

static int session_new(struct l7_h2_up *c)
{
	nghttp2_settings_entry settings[] = {
	    {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
	    {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_UP_WINDOW},
	};
	nghttp2_session_callbacks *cb = NULL;
	nghttp2_option *opt = NULL;
	int err = -1;

	if (nghttp2_session_callbacks_new(&cb) || nghttp2_option_new(&opt))
		goto cleanup;
	nghttp2_session_callbacks_set_send_callback(cb, on_send);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
	nghttp2_option_set_no_auto_window_update(opt, 1);
	if (nghttp2_session_client_new2(&c->s, cb, c, opt))
		goto cleanup;
	if (nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, settings, 2) ||
	    nghttp2_session_set_local_window_size(c->s, NGHTTP2_FLAG_NONE, 0, H2_UP_CONN_WINDOW)) {
		nghttp2_session_del(c->s);
		c->s = NULL;
		goto cleanup;
	}
	err = 0;
cleanup:
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cb);
	return err;
}

struct l7_h2_up *l7_h2_conn_open(struct l7_loop *l, struct l7_request *req, struct l7_pool *pool,
				 enum shunt_outcome *why)
{
	struct l7_h2_up *c = calloc(1, sizeof(*c));
	int fd = -1;

	*why = SHUNT_OUT_SOCKET_FAILED;
	if (!c || session_new(c)) {
		free(c);
		return NULL;
	}
	*why = l->ops->connect(l->ctx, &req->target_ep, &fd, &c->token);
	if (*why != SHUNT_OUT_ALLOWED) {
		nghttp2_session_del(c->s);
		free(c);
		return NULL;
	}
	c->l = l;
	c->cluster = req->backend->cluster;
	c->idle_ms = req->backend->tp ? req->backend->tp->idle_timeout_ms : 0;
	c->io.fd = fd;
	c->io.on_event = on_event;
	c->send_later.run = send_turn;
	timer_init(&c->idle, on_idle, c);
	if (l7_io_add(l, &c->io, true, true)) {
		close(fd);
		l->ops->closed(l->ctx, c->token);
		nghttp2_session_del(c->s);
		free(c);
		*why = SHUNT_OUT_SOCKET_FAILED;
		return NULL;
	}
	c->cluster->connections++;
	c->pool = pool;
	c->pool_next = pool->h2;
	pool->h2 = c;
	c->next = l->h2_ups;
	l->h2_ups = c;
	atomic_fetch_add(&l7_stats.upstream_connects, 1);
	return c;
}

/* The request body as the client sends it (l7_body.c); deferred until more comes. */
void l7_h2_up_close_all(struct l7_loop *l)
{
	while (l->h2_ups)
		conn_close(l->h2_ups, SHUNT_OUT_ALLOWED);
}

void l7_h2_up_reap(struct l7_loop *l)
{
	struct l7_h2_up *c;

	while ((c = l->dead_h2_ups)) {
		l->dead_h2_ups = c->next;
		free(c);
	}
}
