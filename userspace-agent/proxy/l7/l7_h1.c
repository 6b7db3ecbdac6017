// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Responses to HTTP/1.1 clients (the l7_sink of l7_down.c's connections):
 * the head with framing of our own (a known length kept; otherwise chunked
 * for HTTP/1.1 and close-delimited for HTTP/1.0), bodies framed to match,
 * and the proxy's own answers.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "l7_impl.h"

static int h1_head(struct l7_request *req, int status, const char *reason,
		   const struct l7_header *h, size_t n, const struct cfg_http_header_mod *mod,
		   const char *content_length, bool bodyless)
{
	struct l7_buf *out = &req->down->out;
	bool switching = req->upgrade && status == 101;
	int err;

	if (switching)
		content_length = NULL;
	else if (req->down->l->draining)
		req->close_after = true; /* the proxy is being replaced */
	l7_grpc_note_status(req, h, n);	 /* a trailers-only response has it here */
	req->chunked_out = !bodyless && !content_length;
	if (req->chunked_out && req->http_minor == 0) {
		req->chunked_out = false;
		req->close_after = true;
	}
	err = l7_buf_printf(out, "HTTP/1.%d %d %s\r\n", req->http_minor ? 1 : 0, status,
			    reason ? reason : "");
	if (!err)
		err = l7_write_headers(out, h, n, mod, switching, NULL);
	if (!err && content_length)
		err = l7_buf_field(out, "content-length", content_length);
	if (!err && req->chunked_out)
		err = L7_BUF_LIT(out, "transfer-encoding: chunked\r\n");
	if (!err && !switching && (!req->keep_alive || req->close_after))
		err = L7_BUF_LIT(out, "connection: close\r\n");
	if (!err)
		err = L7_BUF_LIT(out, "\r\n");
	return err;
}

static int h1_body(struct l7_request *req, const char *p, size_t n)
{
	struct l7_buf *out = &req->down->out;

	req->resp_bytes += n;
	if (req->chunked_out && l7_buf_printf(out, "%zx\r\n", n))
		return -1;
	if (l7_buf_append(out, p, n) || (req->chunked_out && l7_buf_append(out, "\r\n", 2)))
		return -1;
	return 0;
}

/* Trailers go out only in chunked framing; a known length has no place
 * for them (RFC 9112 7.1.2). */
static int h1_end(struct l7_request *req, const struct l7_header *trailers, size_t n)
{
	struct l7_buf *out = &req->down->out;
	int err;

	l7_grpc_note_status(req, trailers, n);
	if (!req->chunked_out)
		return 0;
	err = L7_BUF_LIT(out, "0\r\n");
	if (!err && n)
		err = l7_write_headers(out, trailers, n, NULL, false, NULL);
	return err ? err : L7_BUF_LIT(out, "\r\n");
}

static int h1_answer(struct l7_request *req, int status, const char *reason, const char *extra,
		     const char *body, size_t len)
{
	if (req->down->l->draining)
		req->keep_alive = false; /* the proxy is being replaced */
	if (!body)			 /* headers only: EXTRA has the content-type */
		return l7_buf_printf(&req->down->out,
				     "HTTP/1.%d %d %s\r\ncontent-length: 0\r\n%s%s\r\n",
				     req->http_minor ? 1 : 0, status, reason, extra,
				     req->keep_alive ? "" : "connection: close\r\n");
	return l7_buf_printf(
	    &req->down->out,
	    "HTTP/1.%d %d %s\r\ncontent-type: text/plain\r\ncontent-length: %zu\r\n"
	    "%s%s\r\n%.*s",
	    req->http_minor ? 1 : 0, status, reason, len, extra,
	    req->keep_alive ? "" : "connection: close\r\n", req->no_body_response ? 0 : (int)len,
	    body);
}

static size_t h1_queued(const struct l7_request *req)
{
	return l7_buf_pending(&req->down->out);
}

/* Out at the end of the loop's turn: a response's head, body and end in
 * one send (l7_down_kick). */
static void h1_flush(struct l7_request *req)
{
	l7_down_kick(req->down);
}

/* HTTP/1 has no way to end one response early but closing. */
static void h1_cut(struct l7_request *req)
{
	l7_down_close(req->down);
}

static void h1_done(struct l7_request *req)
{
	l7_down_request_done(req->down);
}

const struct l7_sink l7_h1_sink = {
    .head = h1_head,
    .body = h1_body,
    .end = h1_end,
    .answer = h1_answer,
    .queued = h1_queued,
    .flush = h1_flush,
    .cut = h1_cut,
    .done = h1_done,
};
