// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The HTTP/2 side of the tunnels: nghttp2 sessions and their callbacks,
 * CONNECT requests and their answers. The data provider reads a plain
 * socket straight into nghttp2's frame buffer: no copy of our own.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hbone_impl.h"

/* The data provider: the plain socket's bytes go straight into the frame. */
ssize_t hbone_plain_read(nghttp2_session *h2, int32_t id, uint8_t *buf, size_t length,
			 uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	struct hbone_stream *s = src->ptr;
	ssize_t n;

	(void)h2, (void)id, (void)ud;
	if (!s || s->dead || s->pfd < 0)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	n = read(s->pfd, buf, length);
	if (n > 0) {
		s->from_plain += (unsigned long long)n;
		s->active = time(NULL);
		return n;
	}
	if (n == 0) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		s->p_eof = true;
		return 0;
	}
	if (errno == EAGAIN || errno == EINTR) {
		s->deferred = true;
		return NGHTTP2_ERR_DEFERRED;
	}
	hbone_stream_fail(s, SHUNT_OUT_RESET);
	return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */
}

/* Frames as large as the windows allow: one read() per frame, not per 16 KiB. */
static ssize_t frame_length(nghttp2_session *h2, uint8_t type, int32_t id, int32_t session_window,
			    int32_t stream_window, uint32_t max_frame, void *ud)
{
	int32_t n = session_window < stream_window ? session_window : stream_window;

	(void)h2, (void)type, (void)id, (void)ud;
	/* A full frame with its 9-byte header is 16 full TLS records. */
	if ((uint32_t)n > max_frame - 9)
		n = (int32_t)max_frame - 9;
	return n > 0 ? n : 1;
}

static struct hbone_stream *stream_of(nghttp2_session *h2, int32_t id)
{
	return nghttp2_session_get_stream_user_data(h2, id);
}

static int on_begin_headers(nghttp2_session *h2, const nghttp2_frame *f, void *ud)
{
	struct hbone_tunnel *t = ud;
	struct hbone_stream *s;

	if (t->side != HBONE_INBOUND || f->hd.type != NGHTTP2_HEADERS ||
	    f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	s = t->draining ? NULL : hbone_stream_alloc(t->l, HBONE_INBOUND, -1);
	if (!s) {
		nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, f->hd.stream_id,
					  NGHTTP2_REFUSED_STREAM);
		return 0;
	}
	s->t = t;
	s->id = f->hd.stream_id;
	t->nstreams++;
	nghttp2_session_set_stream_user_data(h2, s->id, s);
	return 0;
}

static void copy_value(char *dst, size_t cap, const uint8_t *v, size_t len)
{
	if (len >= cap)
		len = cap - 1;
	memcpy(dst, v, len);
	dst[len] = 0;
}

#define IS(name, nlen, lit) ((nlen) == sizeof(lit) - 1 && !memcmp(name, lit, sizeof(lit) - 1))

static int on_header(nghttp2_session *h2, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
		     const uint8_t *value, size_t vlen, uint8_t flags, void *ud)
{
	struct hbone_stream *s = stream_of(h2, f->hd.stream_id);
	struct hbone_tunnel *t = ud;
	char st[8];

	(void)flags;
	if (!s || f->hd.type != NGHTTP2_HEADERS)
		return 0;
	if (t->side == HBONE_INBOUND) {
		if (IS(name, nlen, ":authority"))
			copy_value(s->authority, sizeof(s->authority), value, vlen);
		else if (IS(name, nlen, "shunt-source"))
			/* Never cut: a shortened name could be another workload's. */
			copy_value(s->source, sizeof(s->source), value,
				   vlen < sizeof(s->source) ? vlen : 0);
		else if (IS(name, nlen, "shunt-source-addr"))
			copy_value(s->source_addr, sizeof(s->source_addr), value, vlen);
	} else if (IS(name, nlen, ":status")) {
		copy_value(st, sizeof(st), value, vlen);
		s->status = atoi(st);
	} else if (IS(name, nlen, "shunt-outcome")) {
		copy_value(s->outcome, sizeof(s->outcome), value, vlen);
	}
	return 0;
}

#define NV(n, v, vlen)                                                                             \
	{                                                                                          \
		(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, (vlen), NGHTTP2_NV_FLAG_NONE        \
	}

/* Inbound: answers S with STATUS; a refusal (WHY) ends the stream, saying
 * why in shunt-outcome (the label) and shunt-error (the text). */
int hbone_respond(struct hbone_tunnel *t, struct hbone_stream *s, int status,
		  const enum shunt_outcome *why)
{
	nghttp2_data_provider dp = {.source.ptr = s, .read_callback = hbone_plain_read};
	const char *label = why ? shunt_outcome_label(*why) : "";
	const char *text = why ? shunt_outcome_text(*why) : "";
	char st[8];

	snprintf(st, sizeof(st), "%d", status);
	nghttp2_nv nv[3] = {
	    NV(":status", st, strlen(st)),
	    NV("shunt-outcome", label, strlen(label)),
	    NV("shunt-error", text, strlen(text)),
	};

	if (!why)
		return nghttp2_submit_response(t->h2, s->id, nv, 1, &dp);
	/* The answer ends the stream; once it is sent, a reset stops the
	 * client's data (on_frame_send): before, it would drop the answer. */
	return nghttp2_submit_response(t->h2, s->id, nv, 3, NULL);
}

void hbone_refuse(struct hbone_tunnel *t, struct hbone_stream *s, enum shunt_outcome why)
{
	int status = shunt_outcome(why)->http_status;

	hbone_stream_fail(s, why);
	hbone_respond(t, s, status ? status : 403, &why);
	if (s->pfd >= 0) {
		close(s->pfd);
		s->pfd = -1;
	}
}

/* Inbound: a request is complete; the owner decides. */
static void inbound_request(struct hbone_tunnel *t, struct hbone_stream *s)
{
	struct hbone_request req = {.authority = s->authority,
				    .source = s->source,
				    .source_addr = s->source_addr,
				    .peer_id = t->peer_id};
	enum shunt_outcome o = t->l->ops->inbound_open(t->l->ctx, s, &req);

	if (o != SHUNT_OUT_ALLOWED)
		hbone_refuse(t, s, o);
}

/* Outbound: the other side refused; the client sees a reset, as it would
 * from a destination that refuses. */
static void outbound_refused(nghttp2_session *h2, struct hbone_stream *s)
{
	enum shunt_outcome o;

	if (!shunt_outcome_from_label(s->outcome, strlen(s->outcome), &o) || o == SHUNT_OUT_ALLOWED)
		o = SHUNT_OUT_PEER_REFUSED;
	hbone_stream_fail(s, o);
	nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
}

/* T's streams are told, once: what they carry should end at a pause. */
static void tell_goaway(struct hbone_tunnel *t)
{
	struct hbone_stream *s;

	if (t->goaway_told || !t->l->ops->stream_goaway)
		return;
	t->goaway_told = true;
	for (s = t->l->streams; s; s = s->next)
		if (s->t == t)
			t->l->ops->stream_goaway(t->l->ctx, s);
}

static int on_frame_recv(nghttp2_session *h2, const nghttp2_frame *f, void *ud)
{
	struct hbone_tunnel *t = ud;
	struct hbone_stream *s;

	if (f->hd.type == NGHTTP2_GOAWAY) {
		t->draining = true; /* no new streams; the open ones go on */
		tell_goaway(t);
		return 0;
	}
	if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA)
		return 0;
	s = stream_of(h2, f->hd.stream_id);
	if (!s)
		return 0;
	if (f->hd.type == NGHTTP2_HEADERS && t->side == HBONE_INBOUND &&
	    f->headers.cat == NGHTTP2_HCAT_REQUEST) {
		inbound_request(t, s);
		if (s->has_why)
			return 0;
	} else if (f->hd.type == NGHTTP2_HEADERS && t->side == HBONE_OUTBOUND &&
		   f->headers.cat == NGHTTP2_HCAT_RESPONSE && s->status != 200) {
		outbound_refused(h2, s);
		return 0;
	}
	if (f->hd.flags & NGHTTP2_FLAG_END_STREAM) {
		s->h2_eof = true;
		hbone_stream_settle(s);
	}
	return 0;
}

static int on_frame_send(nghttp2_session *h2, const nghttp2_frame *f, void *ud)
{
	struct hbone_stream *s = stream_of(h2, f->hd.stream_id);
	struct hbone_tunnel *t = ud;

	if (s && s->has_why && t->side == HBONE_INBOUND && f->hd.type == NGHTTP2_HEADERS &&
	    (f->hd.flags & NGHTTP2_FLAG_END_STREAM))
		nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_NO_ERROR);
	return 0;
}

static int on_data_chunk(nghttp2_session *h2, uint8_t flags, int32_t id, const uint8_t *data,
			 size_t len, void *ud)
{
	struct hbone_stream *s = stream_of(h2, id);
	ssize_t n = 0;

	(void)flags, (void)ud;
	if (!s || s->has_why) {
		nghttp2_session_consume(h2, id, len); /* nobody wants it */
		return 0;
	}
	if (s->ready && s->dend == s->dstart) {
		n = write(s->pfd, data, len);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			hbone_stream_fail(s, SHUNT_OUT_RESET);
			nghttp2_session_consume(h2, id, len);
			nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
			return 0;
		}
		if (n < 0)
			n = 0;
		s->to_plain += (unsigned long long)n;
		s->active = time(NULL);
		hbone_stream_consumed(s, (size_t)n);
	}
	if ((size_t)n < len && hbone_stream_keep(s, data + n, len - (size_t)n)) {
		hbone_stream_fail(s, SHUNT_OUT_WINDOW_OVERRUN);
		nghttp2_session_consume(h2, id, len - (size_t)n);
		nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, id, NGHTTP2_FLOW_CONTROL_ERROR);
	}
	return 0;
}

/* S left T's session (closed, or never started) with ERROR. */
static void stream_gone(struct hbone_tunnel *t, struct hbone_stream *s, uint32_t error)
{
	t->nstreams--;
	if (!t->nstreams)
		t->idle_since = time(NULL);
	/* refused or reset before anything went or came: the peer is going
	 * away (GOAWAY, its proxy being replaced) */
	if (error != NGHTTP2_NO_ERROR && hbone_stream_retry(s))
		return;
	s->h2_closed = true;
	if (error != NGHTTP2_NO_ERROR && !s->has_why)
		hbone_stream_fail(s, SHUNT_OUT_RESET);
	if (s->has_why) {
		hbone_stream_free(s, s->why, s->why != SHUNT_OUT_CLOSED);
		return;
	}
	hbone_stream_settle(s);
}

static int on_stream_close(nghttp2_session *h2, int32_t id, uint32_t error, void *ud)
{
	struct hbone_stream *s = stream_of(h2, id);

	if (!s)
		return 0;
	nghttp2_session_set_stream_user_data(h2, id, NULL);
	stream_gone(ud, s, error);
	return 0;
}

/* A request nghttp2 would not start (the tunnel got GOAWAY after it was
 * submitted) may have no stream to close: as refused. One with a stream
 * is closed by nghttp2 as well (on_stream_close): left to that. */
static int on_frame_not_send(nghttp2_session *h2, const nghttp2_frame *f, int lib_error, void *ud)
{
	struct hbone_tunnel *t = ud;
	struct hbone_stream *s;

	(void)lib_error;
	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST ||
	    nghttp2_session_find_stream(h2, f->hd.stream_id))
		return 0;
	for (s = t->l->streams; s; s = s->next)
		if (s->t == t && s->id == f->hd.stream_id && !s->h2_closed) {
			stream_gone(t, s, NGHTTP2_REFUSED_STREAM);
			break;
		}
	return 0;
}

static nghttp2_session_callbacks *cbs;

static void callbacks_init(void)
{
	if (nghttp2_session_callbacks_new(&cbs))
		return;
	nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
	nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
	nghttp2_session_callbacks_set_on_frame_not_send_callback(cbs, on_frame_not_send);
	nghttp2_session_callbacks_set_data_source_read_length_callback(cbs, frame_length);
}

/* Built once, by whichever thread gets here first; sessions copy them. */
static nghttp2_session_callbacks *callbacks(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, callbacks_init);
	return cbs;
}

int hbone_session_new(struct hbone_tunnel *t)
{
	nghttp2_settings_entry settings[] = {
	    {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1024},
	    {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, HBONE_STREAM_WINDOW},
	    {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, HBONE_BUF_SIZE},
	    {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
	};
	nghttp2_option *opt;
	int err;

	if (!callbacks() || nghttp2_option_new(&opt))
		return -ENOMEM;
	/* Windows reopen only for bytes the plain socket took. */
	nghttp2_option_set_no_auto_window_update(opt, 1);
	err = t->side == HBONE_OUTBOUND ? nghttp2_session_client_new2(&t->h2, cbs, t, opt)
					: nghttp2_session_server_new2(&t->h2, cbs, t, opt);
	nghttp2_option_del(opt);
	if (err)
		return -ENOMEM;
	/* Streams have their windows; the connection's is no extra limit. */
	if (nghttp2_submit_settings(t->h2, NGHTTP2_FLAG_NONE, settings,
				    t->side == HBONE_OUTBOUND ? 4 : 3) ||
	    nghttp2_session_set_local_window_size(t->h2, NGHTTP2_FLAG_NONE, 0, 1 << 30))
		return -ENOMEM;
	return 0;
}

int hbone_stream_open(struct hbone_tunnel *t, struct hbone_stream *s,
		      const struct hbone_request *req)
{
	nghttp2_data_provider dp = {.source.ptr = s, .read_callback = hbone_plain_read};
	nghttp2_nv nv[] = {
	    NV(":method", "CONNECT", 7),
	    NV(":authority", req->authority, strlen(req->authority)),
	    NV("shunt-source", req->source, strlen(req->source)),
	    NV("shunt-source-addr", req->source_addr, strlen(req->source_addr)),
	};
	int32_t id;

	id = nghttp2_submit_request(t->h2, NULL, nv, 4, &dp, s);
	if (id < 0)
		return -ENOMEM;
	s->t = t;
	s->id = id;
	t->nstreams++;
	hbone_tunnel_flush_later(t);
	return 0;
}
