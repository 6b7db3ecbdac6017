// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * HTTP/2 clients with prior knowledge (h2c): an nghttp2 server session per
 * connection, each stream one request, routed like an HTTP/1.1 one. The
 * response of a stream is buffered in its request (resp) and fed to
 * nghttp2 by a data provider, which defers while the endpoint has sent
 * nothing new; nghttp2 does the framing and flow control.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "l7_impl.h"

static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

int l7_h2_preface(const char *p, size_t n)
{
	size_t want = sizeof(preface) - 1;

	if (!n)
		return -1;
	if (memcmp(p, preface, n < want ? n : want))
		return 0;	  /* HTTP/1 */
	return n < want ? -1 : 1; /* undecided, or HTTP/2 */
}

static struct l7_request *stream_req(nghttp2_session *s, int32_t id)
{
	return nghttp2_session_get_stream_user_data(s, id);
}

static ssize_t on_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *ud)
{
	struct l7_down *d = ud;

	(void)s;
	(void)flags;
	return l7_buf_append(&d->out, data, len) ? NGHTTP2_ERR_CALLBACK_FAILURE : (ssize_t)len;
}

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	struct l7_down *d = ud;
	struct l7_request *req;

	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	req = l7_request_new(d);
	if (!req)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	req->sink = &l7_h2_sink;
	req->stream_id = f->hd.stream_id;
	req->keep_alive = true;
	req->next_in_conn = d->streams;
	if (req->next_in_conn)
		req->next_in_conn->pprev_in_conn = &req->next_in_conn;
	req->pprev_in_conn = &d->streams;
	d->streams = req;
	nghttp2_session_set_stream_user_data(s, f->hd.stream_id, req);
	return 0;
}

static int add_header(struct l7_request *r, const char *name, size_t nlen, const char *value,
		      size_t vlen)
{
	return l7_header_add(&r->headers, &r->nheaders, &r->headers_cap, name, nlen, value, vlen);
}

/* A trailer field, kept while the section fits L7_HEAD_MAX; past that
 * the request is answered when the frame ends (on_frame). */
static int add_trailer(struct l7_request *r, const char *name, size_t nlen, const char *value,
		       size_t vlen)
{
	if (r->trailer_bytes > L7_HEAD_MAX)
		return 0;
	r->trailer_bytes += nlen + vlen;
	if (r->trailer_bytes <= L7_HEAD_MAX &&
	    !l7_header_add(&r->req_trailers, &r->nreq_trailers, &r->req_trailers_cap, name, nlen,
			   value, vlen))
		return 0;
	r->trailer_bytes = L7_HEAD_MAX + 1; /* over 1024 fields, or no memory: too large too */
	return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
		     const uint8_t *value, size_t vlen, uint8_t flags, void *ud)
{
	struct l7_request *r = stream_req(s, f->hd.stream_id);
	const char *n = (const char *)name, *v = (const char *)value;

	(void)flags;
	(void)ud;
	if (!r || r->outcome == SHUNT_OUT_MAX)
		return 0;
	if (r->view) /* its trailing HEADERS: they go on after its body */
		return add_trailer(r, n, nlen, v, vlen);
	if (nlen == 7 && !memcmp(n, ":method", 7)) {
		snprintf(r->method, sizeof(r->method), "%.*s", (int)vlen, v);
		r->no_body_response = !strcmp(r->method, "HEAD");
		return 0;
	}
	if (nlen == 5 && !memcmp(n, ":path", 5))
		return (r->target = strndup(v, vlen)) ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
	if (nlen == 10 && !memcmp(n, ":authority", 10))
		return add_header(r, "host", 4, v, vlen) ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
	if (nlen && n[0] == ':')
		return 0; /* :scheme */
	return add_header(r, n, nlen, v, vlen) ? NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE : 0;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
		   void *ud)
{
	struct l7_request *r = stream_req(s, id);

	(void)flags;
	(void)ud;
	if (!r || r->outcome == SHUNT_OUT_MAX) {
		/* answered already: dropped, and the window given back */
		nghttp2_session_consume(s, id, len);
		return 0;
	}
	return l7_body_append(r, (const char *)data, len) ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
}

static int64_t content_length(const struct l7_request *r)
{
	const char *v = l7_header_get(r, "content-length");
	char *end;
	long long n;

	if (!v)
		return -1;
	n = strtoll(v, &end, 10);
	return *v && !*end && n >= 0 ? n : -1;
}

static int on_frame(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	struct l7_request *r;
	bool end;

	(void)ud;
	if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA)
		return 0;
	r = stream_req(s, f->hd.stream_id);
	if (!r || r->outcome == SHUNT_OUT_MAX)
		return 0;
	end = f->hd.flags & NGHTTP2_FLAG_END_STREAM;
	if (r->view) { /* its body goes on; END_STREAM (or its trailers) ends it */
		if (r->trailer_bytes > L7_HEAD_MAX)
			return l7_request_abandon(r, SHUNT_OUT_L7_HEADERS_TOO_LARGE), 0;
		if (end && l7_trailers_keep(r))
			return NGHTTP2_ERR_CALLBACK_FAILURE;
		if (end)
			l7_body_end(r);
		return 0;
	}
	/* The head: the request goes on now, its body (if any) as it comes. */
	if (!r->target || !r->method[0])
		return l7_request_answer(r, SHUNT_OUT_L7_BAD_REQUEST), 0;
	r->body_length = content_length(r);
	r->body_done = end;
	l7_request_dispatch(r);
	return 0;
}

static void unlink_req(struct l7_request *r)
{
	if (!r->pprev_in_conn)
		return;
	*r->pprev_in_conn = r->next_in_conn;
	if (r->next_in_conn)
		r->next_in_conn->pprev_in_conn = r->pprev_in_conn;
	r->pprev_in_conn = NULL;
}

static int on_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud)
{
	struct l7_request *r = stream_req(s, id);

	(void)code;
	(void)ud;
	if (!r)
		return 0;
	nghttp2_session_set_stream_user_data(s, id, NULL);
	unlink_req(r);
	l7_request_finish(r, true); /* a no-op for an answered one */
	l7_request_free(r);
	return 0;
}

/* The trailers end the stream instead of the last DATA frame. */
static int send_trailers(nghttp2_session *s, struct l7_request *r)
{
	nghttp2_nv nv[128];
	int n;

	if (l7_buf_append(&r->trailers, "", 1))
		return -1;
	n = l7_h2_lines_to_nv(r->trailers.data + r->trailers.off, nv, 128);
	return nghttp2_submit_trailer(s, r->stream_id, nv, (size_t)n) ? -1 : 0;
}

static ssize_t read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
			 nghttp2_data_source *src, void *ud)
{
	struct l7_request *r = src->ptr;
	size_t n = l7_buf_pending(&r->resp);

	(void)s;
	(void)id;
	(void)ud;
	if (n > len)
		n = len;
	if (n) {
		memcpy(buf, r->resp.data + r->resp.off, n);
		l7_buf_consume(&r->resp, n);
	}
	if (!l7_buf_pending(&r->resp) && r->resp_end) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		if (l7_buf_pending(&r->trailers) && !send_trailers(s, r))
			*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
	} else if (!n)
		return NGHTTP2_ERR_DEFERRED;
	return (ssize_t)n;
}

int l7_h2_start(struct l7_down *d)
{
	nghttp2_session_callbacks *cb;
	nghttp2_settings_entry settings[] = {
	    {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 256},
	    {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20},
	};
	nghttp2_option *opt;
	int err;

	if (nghttp2_option_new(&opt))
		return -1;
	/* Windows open by what the endpoint took (l7_body_taken), not by what
	 * arrived: a client cannot fill the proxy faster than endpoints read. */
	nghttp2_option_set_no_auto_window_update(opt, 1);
	if (nghttp2_session_callbacks_new(&cb)) {
		nghttp2_option_del(opt);
		return -1;
	}
	nghttp2_session_callbacks_set_send_callback(cb, on_send);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
	err = nghttp2_session_server_new2(&d->h2, cb, d, opt);
	nghttp2_session_callbacks_del(cb);
	nghttp2_option_del(opt);
	if (err)
		return -1;
	if (nghttp2_submit_settings(d->h2, NGHTTP2_FLAG_NONE, settings, 2))
		return -1;
	/* the connection's window: what all its streams may have unsent here */
	return nghttp2_session_set_local_window_size(d->h2, NGHTTP2_FLAG_NONE, 0, L7_H2_CONN_WINDOW)
		   ? -1
		   : 0;
}

/* What arrived, into the session; then what it has to say, out. */
int l7_h2_input(struct l7_down *d, const char *p, size_t n)
{
	ssize_t got;

	d->h2_busy = true;
	got = nghttp2_session_mem_recv(d->h2, (const uint8_t *)p, n);
	d->h2_busy = false;
	if (got < 0)
		return -1;
	return l7_h2_send(d);
}

int l7_h2_send(struct l7_down *d)
{
	struct l7_request *r;

	if (nghttp2_session_send(d->h2))
		return -1;
	/* streams whose client took enough: read their endpoints again */
	for (r = d->streams; r; r = r->next_in_conn)
		if (l7_buf_pending(&r->resp) < L7_OUT_HIGH)
			l7_request_resume_up(r);
	return 0;
}

bool l7_h2_finished(const struct l7_down *d)
{
	return !nghttp2_session_want_read(d->h2) && !nghttp2_session_want_write(d->h2);
}

void l7_h2_close(struct l7_down *d)
{
	struct l7_request *r;

	while ((r = d->streams)) {
		unlink_req(r);
		nghttp2_session_set_stream_user_data(d->h2, r->stream_id, NULL);
		l7_request_finish(r, true);
		l7_request_free(r);
	}
	nghttp2_session_del(d->h2);
	d->h2 = NULL;
}

/* ---- the sink: responses as HTTP/2 streams ---- */

/* The CRLF ending the line at P, or NULL. */
static char *line_end(char *p)
{
	while ((p = strchr(p, '\r')) && p[1] != '\n')
		p++;
	return p;
}

/* Header lines ("name: value\r\n", as l7_write_headers and the answers
 * write them) into name/value pairs, names lowercased; up to an empty line
 * or the end. One pass over each line (this is every request's and every
 * answer's head on HTTP/2). */
int l7_h2_lines_to_nv(char *lines, nghttp2_nv *nv, size_t cap)
{
	char *line = lines, *end, *c, *v;
	int n = 0;

	while ((size_t)n < cap && *line && !(line[0] == '\r' && line[1] == '\n')) {
		for (c = line; *c && *c != ':' && *c != '\r'; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c + ('a' - 'A'));
		end = line_end(c);
		if (!end)
			break;
		*end = 0;
		if (*c == ':') { /* a line without one is skipped */
			*c = 0;
			for (v = c + 1; *v == ' '; v++)
				;
			nv[n++] = (nghttp2_nv){(uint8_t *)line, (uint8_t *)v, (size_t)(c - line),
					       (size_t)(end - v), NGHTTP2_NV_FLAG_NONE};
		}
		line = end + 2;
	}
	return n;
}

static int submit(struct l7_request *r, int status, struct l7_buf *lines, bool bodyless)
{
	nghttp2_data_provider prd = {.source.ptr = r, .read_callback = read_body};
	nghttp2_nv nv[129];
	char st[8];
	size_t n;
	int err;

	snprintf(st, sizeof(st), "%d", status);
	nv[0] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)st, 7, strlen(st), 0};
	if (l7_buf_append(lines, "", 1)) /* NUL-terminated for parsing */
		return -1;
	n = 1 + (size_t)l7_h2_lines_to_nv(lines->data + lines->off, nv + 1, 128);
	r->resp_started = true;
	if (bodyless)
		r->resp_end = true;
	err = nghttp2_submit_response(r->down->h2, r->stream_id, nv, n, bodyless ? NULL : &prd);
	return err ? -1 : 0;
}

static int h2_head(struct l7_request *r, int status, const char *reason, const struct l7_header *h,
		   size_t n, const struct cfg_http_header_mod *mod, const char *content_length,
		   bool bodyless)
{
	struct l7_buf *lines = l7_scratch(r->down->l);
	int err;

	(void)reason;		      /* HTTP/2 has none */
	l7_grpc_note_status(r, h, n); /* a trailers-only response has it here */
	err = l7_write_headers(lines, h, n, mod, false, NULL);
	if (!err && content_length)
		err = l7_buf_printf(lines, "content-length: %s\r\n", content_length);
	if (!err)
		err = submit(r, status, lines, bodyless);
	return err;
}

static int h2_body(struct l7_request *r, const char *p, size_t n)
{
	r->resp_bytes += n;
	if (l7_buf_append(&r->resp, p, n))
		return -1;
	nghttp2_session_resume_data(r->down->h2, r->stream_id);
	return 0;
}

static int h2_end(struct l7_request *r, const struct l7_header *trailers, size_t n)
{
	l7_grpc_note_status(r, trailers, n);
	if (n && l7_write_headers(&r->trailers, trailers, n, NULL, false, NULL))
		return -1;
	r->resp_end = true;
	nghttp2_session_resume_data(r->down->h2, r->stream_id);
	return 0;
}

static int h2_answer(struct l7_request *r, int status, const char *reason, const char *extra,
		     const char *body, size_t len)
{
	struct l7_buf *lines = l7_scratch(r->down->l);
	bool bodyless = r->no_body_response || !body;
	int err;

	(void)reason;
	if (body)
		err = l7_buf_printf(lines, "content-type: text/plain\r\ncontent-length: %zu\r\n%s",
				    bodyless ? 0 : len, extra);
	else
		err = l7_buf_printf(lines, "%s", extra);
	if (!err && !bodyless)
		err = l7_buf_append(&r->resp, body, len);
	r->resp_end = true;
	if (!err)
		err = submit(r, status, lines, bodyless);
	return err;
}

static size_t h2_queued(const struct l7_request *r)
{
	return l7_buf_pending(&r->resp) + l7_buf_pending(&r->down->out);
}

/* The client's frames go out at the end of the loop's turn (l7_down_kick):
 * a response's head, body and end, and the other streams' answers of the
 * same turn, in one send. */
static void h2_flush(struct l7_request *r)
{
	l7_down_kick(r->down);
}

static void h2_cut(struct l7_request *r)
{
	nghttp2_submit_rst_stream(r->down->h2, NGHTTP2_FLAG_NONE, r->stream_id,
				  NGHTTP2_INTERNAL_ERROR);
	l7_down_kick(r->down);
}

/* Answered whole: the stream ends once nghttp2 has sent the rest, and the
 * request is freed when it closes (on_close). */
static void h2_done(struct l7_request *r)
{
	nghttp2_session_resume_data(r->down->h2, r->stream_id);
	l7_down_kick(r->down);
}

const struct l7_sink l7_h2_sink = {
    .head = h2_head,
    .body = h2_body,
    .end = h2_end,
    .answer = h2_answer,
    .queued = h2_queued,
    .flush = h2_flush,
    .cut = h2_cut,
    .done = h2_done,
};
