// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * HTTP/2 to endpoints whose port speaks it (appProtocol http2, grpc): one
 * h2c connection per pool carries each try as a stream (nghttp2 client
 * session), so a timeout or retry resets that stream only. Responses
 * stream to the client with their trailers (gRPC's grpc-status), read no
 * faster than the client takes them: WINDOW_UPDATEs wait for it. A full
 * connection, or one that got GOAWAY, leaves its pool and closes when its
 * streams are done.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "l7_impl.h"

#define H2_UP_WINDOW	  (1 << 20)  /* a stream's receive window */
#define H2_UP_CONN_WINDOW (16 << 20) /* the connection's */
#define H2_UP_STREAMS_MAX 1000	     /* even if the endpoint allows more */

struct l7_h2_stream;

struct l7_h2_up {
	struct l7_io io;
	struct l7_loop *l;
	struct l7_pool *pool; /* NULL once it takes no new streams */
	struct l7_cluster *cluster;
	void *token;
	nghttp2_session *s;
	struct l7_buf out;
	struct l7_h2_stream *streams;
	unsigned int nstreams;
	uint64_t idle_ms;
	bool connected, dead, got_bytes, busy; /* busy: inside the session */
	struct timer idle;
	struct l7_h2_up *next; /* in the loop's list, then its dead list */
};

struct l7_h2_stream {
	struct l7_h2_up *c;
	struct l7_request *req; /* NULL: abandoned (reset, retried or answered) */
	int32_t id;
	uint64_t body_sent; /* of the request body */
	bool body_waits;    /* its data waits for the client's (deferred) */
	size_t unconsumed;  /* response bytes taken but not yet acknowledged */
	int status;
	struct l7_header *rh;
	size_t nrh, rh_cap;
	uint64_t sent_ms;
	struct l7_h2_stream *next;
};

static void conn_close(struct l7_h2_up *c, enum shunt_outcome why);

static void stream_reset_headers(struct l7_h2_stream *hs)
{
	l7_headers_free(hs->rh, hs->nrh);
	hs->rh = NULL;
	hs->nrh = hs->rh_cap = 0;
}

/* The request leaves its stream: the stream is the endpoint's business now. */
static struct l7_request *stream_detach(struct l7_h2_stream *hs)
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
	if (c->pool && c->pool->h2 == c)
		c->pool->h2 = NULL;
	c->pool = NULL;
}

bool l7_h2_up_has_room(const struct l7_pool *pool)
{
	const struct l7_h2_up *c = pool->h2;
	uint32_t max;

	if (!c || c->dead)
		return false;
	max = nghttp2_session_get_remote_settings(c->s, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
	return c->nstreams < (max < H2_UP_STREAMS_MAX ? max : H2_UP_STREAMS_MAX);
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
	struct l7_request *req = stream_detach(hs);

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
		stream_detach(hs);
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
		stream_detach(hs);
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
		stream_detach(hs);
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
	struct l7_request *req = stream_detach(hs);
	struct l7_h2_up *c = hs->c;

	if (!req)
		return;
	if (req->head_sent)
		return req->sink->cut(req);
	if (shunt_outcome_is(conn_why, SHUNT_OF_DENY) && !c->got_bytes)
		return l7_request_answer(req, conn_why); /* refused at the endpoint's node */
	if (conn_why == SHUNT_OUT_L7_CONNECT_FAILED)
		return l7_request_try_failed(req, conn_why, 0);
	/* REFUSED_STREAM: the endpoint never took it, as a stale connection */
	l7_request_try_failed(
	    req, code == NGHTTP2_REFUSED_STREAM ? SHUNT_OUT_CLOSED : SHUNT_OUT_L7_UPSTREAM_RESET,
	    0);
}

static void stream_free(struct l7_h2_stream *hs)
{
	struct l7_h2_up *c = hs->c;
	struct l7_h2_stream **pp;

	for (pp = &c->streams; *pp; pp = &(*pp)->next)
		if (*pp == hs) {
			*pp = hs->next;
			break;
		}
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
	}
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

static struct l7_h2_up *conn_open(struct l7_loop *l, struct l7_request *req, struct l7_pool *pool,
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
	if (pool->h2)
		leave_pool(pool->h2); /* full: it finishes its streams and closes */
	c->pool = pool;
	pool->h2 = c;
	c->next = l->h2_ups;
	l->h2_ups = c;
	atomic_fetch_add(&l7_stats.upstream_connects, 1);
	return c;
}

/* The request body as the client sends it (l7_body.c); deferred until more comes. */
static ssize_t read_request_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
				 uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	struct l7_h2_stream *hs = src->ptr;
	struct l7_request *req = hs->req;
	const char *p;
	size_t n = req ? l7_body_at(req, hs->body_sent, &p) : 0;

	(void)s;
	(void)id;
	(void)ud;
	if (n > len)
		n = len;
	if (n) {
		memcpy(buf, p, n);
		hs->body_sent += n;
		l7_body_taken(req, hs->body_sent);
	}
	if (!req || (req->body_done && hs->body_sent == req->body_got))
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	else if (!n)
		return hs->body_waits = true, NGHTTP2_ERR_DEFERRED;
	return (ssize_t)n;
}

void l7_h2_up_body_ready(struct l7_request *req)
{
	struct l7_h2_stream *hs = req->h2s;

	if (!hs || !hs->body_waits || hs->c->dead)
		return;
	hs->body_waits = false;
	nghttp2_session_resume_data(hs->c->s, hs->id);
	conn_send(hs->c, false); /* a failure shows as the socket's event */
}

static int submit_request(struct l7_h2_stream *hs, struct l7_request *req)
{
	nghttp2_data_provider prd = {.source.ptr = hs, .read_callback = read_request_body};
	bool body = l7_body_expected(req);
	struct l7_buf lines = {};
	nghttp2_nv *nv = NULL;
	size_t n;

	if (l7_request_to_nv(req, body, &lines, &nv, &n))
		hs->id = -1;
	else
		hs->id = nghttp2_submit_request(hs->c->s, NULL, nv, n, body ? &prd : NULL, hs);
	free(nv);
	l7_buf_free(&lines);
	return hs->id < 0 ? -1 : 0;
}

enum shunt_outcome l7_h2_up_send(struct l7_loop *l, struct l7_request *req, struct l7_pool *pool)
{
	enum shunt_outcome why = SHUNT_OUT_ALLOWED;
	struct l7_h2_up *c = pool->h2;
	struct l7_h2_stream *hs;

	if (c && l7_h2_up_has_room(pool))
		atomic_fetch_add(&l7_stats.upstream_reused, 1);
	else if (!(c = conn_open(l, req, pool, &why)))
		return why;
	hs = calloc(1, sizeof(*hs));
	if (!hs)
		return SHUNT_OUT_SOCKET_FAILED;
	hs->c = c;
	hs->req = req;
	hs->sent_ms = timer_now_ms();
	if (submit_request(hs, req)) {
		free(hs);
		return SHUNT_OUT_SOCKET_FAILED;
	}
	hs->next = c->streams;
	c->streams = hs;
	c->nstreams++;
	timer_cancel(&l->wheel, &c->idle);
	req->h2s = hs;
	req->ep->pending++;
	atomic_fetch_add(&l7_stats.upstream_streams, 1);
	/* a failed send shows as the connection's event, never under the caller */
	conn_send(c, false);
	return SHUNT_OUT_ALLOWED;
}

void l7_h2_up_abort(struct l7_request *req)
{
	struct l7_h2_stream *hs = req->h2s;

	if (!hs || !stream_detach(hs))
		return;
	nghttp2_submit_rst_stream(hs->c->s, NGHTTP2_FLAG_NONE, hs->id, NGHTTP2_CANCEL);
	conn_send(hs->c, true);
}

void l7_h2_up_resume(struct l7_request *req)
{
	struct l7_h2_stream *hs = req->h2s;

	if (!hs || !hs->unconsumed || req->sink->queued(req) >= L7_OUT_HIGH)
		return;
	nghttp2_session_consume(hs->c->s, hs->id, hs->unconsumed);
	hs->unconsumed = 0;
	conn_send(hs->c, true);
}

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
