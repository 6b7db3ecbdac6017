// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * HTTP/2 to endpoints, the request side: a try becomes a stream on a pooled
 * connection (l7_h2_pool_pick, or a new one), its body follows as the
 * client sends it, and everything goes out at the end of the loop's turn.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/timer_wheel.h"
#include "l7_up_h2.h"

/* The client's trailer fields as a trailing HEADERS frame, which ends the
 * stream instead of the last DATA frame (nghttp2 copies the fields). */
static int submit_trailers(struct l7_h2_stream *hs, const struct l7_request *req)
{
	struct l7_buf *lines = l7_scratch(hs->c->l);
	nghttp2_nv *nv;
	int n, err;

	nv = calloc(req->nreq_trailers, sizeof(*nv));
	if (!nv || l7_write_trailers(lines, req) || l7_buf_append(lines, "", 1)) {
		free(nv);
		return -1;
	}
	n = l7_h2_lines_to_nv(lines->data + lines->off, nv, req->nreq_trailers);
	err = nghttp2_submit_trailer(hs->c->s, hs->id, nv, (size_t)n);
	free(nv);
	return err ? -1 : 0;
}

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
	if (!req || (req->body_done && hs->body_sent == req->body_got)) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		if (req && req->nreq_trailers && !submit_trailers(hs, req))
			*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
	} else if (!n)
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
	l7_send_later(hs->c->l, &hs->c->send_later);
}

/* Fields whose value is new on every request (trace ids, request ids) go
 * never indexed (l7_h2_never_index), but their names are the same every
 * time: HPACK can send a never-indexed field with an indexed name, if the
 * name is in the table. So the first of them on a connection goes indexed,
 * and again every NAMES_EVERY streams (other fields push entries out of
 * the 4 KiB table): the names of the others then take a byte or two
 * instead of being Huffman-coded again on every request. */
#define NAMES_EVERY 1024

static void index_unique_names(struct l7_h2_up *c, nghttp2_nv *nv, size_t n)
{
	bool any = false;
	size_t i;

	if (c->names_due--)
		return;
	for (i = 0; i < n; i++)
		if (nv[i].flags & NGHTTP2_NV_FLAG_NO_INDEX) {
			nv[i].flags &= (uint8_t)~NGHTTP2_NV_FLAG_NO_INDEX;
			any = true;
		}
	c->names_due = any ? NAMES_EVERY : 0;
}

static int submit_request(struct l7_h2_stream *hs, struct l7_request *req)
{
	nghttp2_data_provider prd = {.source.ptr = hs, .read_callback = read_request_body};
	bool body = l7_body_expected(req);
	struct l7_buf *lines = l7_scratch(hs->c->l);
	nghttp2_nv *nv = NULL;
	size_t n;

	if (l7_request_to_nv(req, body, lines, &nv, &n)) {
		hs->id = -1;
	} else {
		index_unique_names(hs->c, nv, n);
		hs->id = nghttp2_submit_request(hs->c->s, NULL, nv, n, body ? &prd : NULL, hs);
	}
	free(nv);
	return hs->id < 0 ? -1 : 0;
}

enum shunt_outcome l7_h2_up_send(struct l7_loop *l, struct l7_request *req, struct l7_pool *pool)
{
	enum shunt_outcome why = SHUNT_OUT_ALLOWED;
	struct l7_h2_up *c = l7_h2_pool_pick(pool);
	struct l7_h2_stream *hs;

	if (c)
		atomic_fetch_add(&l7_stats.upstream_reused, 1);
	else if (!(c = l7_h2_conn_open(l, req, pool, &why)))
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
	if (hs->next)
		hs->next->pprev = &hs->next;
	hs->pprev = &c->streams;
	c->streams = hs;
	c->nstreams++;
	timer_cancel(&l->wheel, &c->idle);
	req->h2s = hs;
	req->ep->pending++;
	atomic_fetch_add(&l7_stats.upstream_streams, 1);
	/* sent at the end of the turn: a failure never shows under the caller */
	l7_send_later(l, &c->send_later);
	return SHUNT_OUT_ALLOWED;
}

void l7_h2_up_abort(struct l7_request *req)
{
	struct l7_h2_stream *hs = req->h2s;

	if (!hs || !l7_h2_stream_detach(hs))
		return;
	nghttp2_submit_rst_stream(hs->c->s, NGHTTP2_FLAG_NONE, hs->id, NGHTTP2_CANCEL);
	l7_send_later(hs->c->l, &hs->c->send_later);
}

void l7_h2_up_resume(struct l7_request *req)
{
	struct l7_h2_stream *hs = req->h2s;

	if (!hs || !hs->unconsumed || req->sink->queued(req) >= L7_OUT_HIGH)
		return;
	nghttp2_session_consume(hs->c->s, hs->id, hs->unconsumed);
	hs->unconsumed = 0;
	l7_send_later(hs->c->l, &hs->c->send_later);
}
