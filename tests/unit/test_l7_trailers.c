// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Request trailers through the L7 engine to HTTP/1.1 endpoints: a chunked
 * body's trailer fields go on as the trailer fields of a chunked request
 * (also when the body was read whole, which would otherwise go with a
 * length), without the fields a trailer may not carry; a retry sends them
 * again; a trailer section over the head limit is answered 431. HTTP/2
 * clients' trailing HEADERS too (an nghttp2 client session of the test).
 * The HTTP/2 endpoint's side is in test_l7_h2.c. Clients and endpoints are
 * socketpairs held by the test (l7_fake.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>
#include <nghttp2/nghttp2.h>

#include "l7_fake.h"
#include "l7_fake_mesh.h"

#define OK	    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
#define UNAVAILABLE "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\ndown"
#define HEAD                                                                                       \
	"POST /up HTTP/1.1\r\nHost: web\r\nConnection: x-hop\r\n"                                  \
	"Transfer-Encoding: chunked\r\n\r\n"
/* the allowed ones, then one of each kind a trailer may not carry */
#define TRAILERS                                                                                   \
	"X-Checksum: abc123\r\nGrpc-Status: 0\r\nEmpty:\r\nHost: evil\r\n"                         \
	"Content-Type: text/evil\r\nAuthorization: Bearer x\r\nX-Hop: 1\r\nTE: trailers\r\n"

/* The shared fixture (l7_fake.h); *STATE owns it for teardown. */
static struct fake_fix *start(void **state, const char *yaml)
{
	char err[512];
	struct fake_fix *x = fake_fix_new(yaml, err, sizeof(err));

	if (!x)
		fail_msg("fixture: %s", err);
	*state = x;
	return x;
}

static int teardown(void **state)
{
	int holds = fake_fix_free(*state);

	*state = NULL;
	return holds ? -1 : 0;
}

static void send_str(struct fake_fix *x, const char *s)
{
	assert_int_equal(fake_send(&x->f, x->client.fd, s, strlen(s)), 0);
}

/* The request an endpoint got carries the allowed trailer fields, after a
 * chunked body, and none of the others. */
static void assert_trailers_passed(const struct fake_msg *m, const char *body)
{
	assert_true(m->complete);
	assert_true(m->chunked);
	assert_string_equal(m->body, body);
	assert_int_equal(fake_header_count(m, "x-checksum"), 1);
	assert_string_equal(fake_header(m, "x-checksum"), "abc123");
	assert_string_equal(fake_header(m, "grpc-status"), "0");
	assert_string_equal(fake_header(m, "empty"), "");
	assert_string_equal(fake_header(m, "host"), "web"); /* the head's, once */
	assert_int_equal(fake_header_count(m, "host"), 1);
	assert_null(fake_header(m, "content-type"));
	assert_null(fake_header(m, "authorization"));
	assert_null(fake_header(m, "x-hop")); /* named by the client's Connection */
	assert_null(fake_header(m, "te"));
	assert_null(fake_header(m, "content-length"));
}

static void answer_ok(struct fake_fix *x, int conn)
{
	assert_int_equal(fake_backend_write(&x->f, conn, OK), 0);
	assert_int_equal(fake_read(&x->f, &x->client, &x->resp, 2000), 0);
	assert_int_equal(x->resp.status, 200);
}

/* A short chunked body that came whole is read whole first; with trailer
 * fields it still goes on chunked, so that they have a place. */
static void trailers_of_a_whole_body_go_on_chunked(void **state)
{
	struct fake_fix *x = start(state, MESH);
	int conn;

	send_str(x, HEAD "5\r\nhello\r\n0\r\n" TRAILERS "\r\n");
	conn = fake_backend_read(&x->f, 2000);
	assert_int_equal(conn, 0);
	assert_trailers_passed(&x->f.conns[0]->req, "hello");
	answer_ok(x, conn);
}

/* A body that streams: the endpoint has the head and the first chunk
 * before the client sent the rest; the trailer fields end it. */
static void trailers_follow_a_streamed_body(void **state)
{
	struct fake_fix *x = start(state, MESH);
	int conn;

	send_str(x, HEAD "5\r\nhello\r\n");
	assert_int_equal(fake_backend_read(&x->f, 300), -ETIMEDOUT); /* it streams */
	assert_int_equal(x->f.nconns, 1);
	send_str(x, "6\r\n world\r\n0\r\n" TRAILERS "\r\n");
	conn = fake_backend_read(&x->f, 2000);
	assert_int_equal(conn, 0);
	assert_trailers_passed(&x->f.conns[0]->req, "hello world");
	answer_ok(x, conn);
}

/* A chunked body without trailers still ends as before (a length when
 * read whole). */
static void a_body_without_trailers_keeps_its_length(void **state)
{
	struct fake_fix *x = start(state, MESH);
	int conn;

	send_str(x, HEAD "5\r\nhello\r\n0\r\n\r\n");
	conn = fake_backend_read(&x->f, 2000);
	assert_int_equal(conn, 0);
	assert_false(x->f.conns[0]->req.chunked);
	assert_string_equal(fake_header(&x->f.conns[0]->req, "content-length"), "5");
	answer_ok(x, conn);
}

/* A retry sends the kept body again, and its trailer fields with it. */
static void a_retry_sends_the_trailers_again(void **state)
{
	struct fake_fix *x = start(state, MESH ROUTE "      - retry: {attempts: 2, codes: [503], "
						     "backoff: 1ms}\n");
	int conn;

	send_str(x, HEAD "5\r\nhello\r\n0\r\n" TRAILERS "\r\n");
	conn = fake_backend_read(&x->f, 2000);
	assert_true(conn >= 0);
	assert_trailers_passed(&x->f.conns[conn]->req, "hello");
	assert_int_equal(fake_backend_write(&x->f, conn, UNAVAILABLE), 0);
	conn = fake_backend_read(&x->f, 2000);
	assert_true(conn >= 0);
	assert_trailers_passed(&x->f.conns[conn]->req, "hello");
	answer_ok(x, conn);
	assert_int_equal(x->f.last_attempts, 2);
}

/* BEFORE, then a trailer section of more than L7_HEAD_MAX (64 KiB) in
 * fields of 8000 bytes each. */
static char *big_trailers(const char *before)
{
	size_t i, n = 9, field = 8000;
	char *s = malloc(strlen(before) + n * (field + 16) + 8), *p = s;

	assert_non_null(s);
	p += sprintf(p, "%s", before);
	for (i = 0; i < n; i++) {
		p += sprintf(p, "X-Big-%zu: ", i);
		memset(p, 'v', field);
		p += field;
		p += sprintf(p, "\r\n");
	}
	sprintf(p, "\r\n");
	return s;
}

/* Too large before the request went on (its body read whole): 431. */
static void too_large_trailers_of_a_whole_body_are_answered_431(void **state)
{
	struct fake_fix *x = start(state, MESH);
	char *big = big_trailers(HEAD "5\r\nhello\r\n0\r\n"); /* in one send: read whole */

	send_str(x, big);
	free(big);
	assert_int_equal(fake_read(&x->f, &x->client, &x->resp, 2000), 0);
	assert_int_equal(x->resp.status, 431);
	assert_string_equal(fake_header(&x->resp, "shunt-error"), "request_headers_too_large");
	assert_int_equal(fake_backend_poll(&x->f), -EAGAIN);
}

/* Too large after the request went on (its body streaming): the try is
 * dropped and the client answered 431, then its connection closes. */
static void too_large_trailers_of_a_streamed_body_are_answered_431(void **state)
{
	struct fake_fix *x = start(state, MESH);
	struct fake_msg more = {};
	char *big = big_trailers("0\r\n");

	send_str(x, HEAD "5\r\nhello\r\n");
	assert_int_equal(fake_backend_read(&x->f, 300), -ETIMEDOUT);
	assert_int_equal(x->f.nconns, 1);
	send_str(x, big);
	free(big);
	assert_int_equal(fake_read(&x->f, &x->client, &x->resp, 2000), 0);
	assert_int_equal(x->resp.status, 431);
	assert_string_equal(fake_header(&x->resp, "shunt-error"), "request_headers_too_large");
	assert_int_equal(fake_read(&x->f, &x->client, &more, 2000), -EPIPE);
	assert_true(x->f.conns[0]->closed); /* the try's connection, never reused */
	fake_msg_free(&more);
}

/* ---- an HTTP/2 client: a POST of "hello" whose trailing HEADERS are
 * TRAILERS (its END_STREAM), without a content-length ---- */

struct h2_client {
	nghttp2_session *s;
	int fd;
	const nghttp2_nv *trailers;
	size_t ntrailers;
	bool body_sent, closed;
	int status;
	char error[64]; /* shunt-error */
};

static ssize_t cl_send(nghttp2_session *s, const uint8_t *d, size_t n, int fl, void *ud)
{
	struct h2_client *c = ud;
	ssize_t w = send(c->fd, d, n, MSG_NOSIGNAL | MSG_DONTWAIT);

	(void)s;
	(void)fl;
	return w < 0 ? NGHTTP2_ERR_WOULDBLOCK : w;
}

static int cl_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
		     const uint8_t *value, size_t vlen, uint8_t fl, void *ud)
{
	struct h2_client *c = ud;

	(void)s;
	(void)f;
	(void)fl;
	if (nlen == 7 && !memcmp(name, ":status", 7))
		c->status = atoi((const char *)value);
	if (nlen == 11 && !memcmp(name, "shunt-error", 11))
		snprintf(c->error, sizeof(c->error), "%.*s", (int)vlen, value);
	return 0;
}

static int cl_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud)
{
	(void)s;
	(void)id;
	(void)code;
	((struct h2_client *)ud)->closed = true;
	return 0;
}

static ssize_t cl_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *fl,
		       nghttp2_data_source *src, void *ud)
{
	struct h2_client *c = ud;

	(void)src;
	(void)len;
	if (c->body_sent)
		return NGHTTP2_ERR_DEFERRED;
	c->body_sent = true;
	memcpy(buf, "hello", 5);
	*fl |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
	return nghttp2_submit_trailer(s, id, c->trailers, c->ntrailers) ? -1 : 5;
}

static void h2_post(struct fake_fix *x, struct h2_client *c, const nghttp2_nv *trailers, size_t n)
{
	static const nghttp2_nv head[] = {
	    {(uint8_t *)":method", (uint8_t *)"POST", 7, 4, 0},
	    {(uint8_t *)":scheme", (uint8_t *)"http", 7, 4, 0},
	    {(uint8_t *)":authority", (uint8_t *)"web", 10, 3, 0},
	    {(uint8_t *)":path", (uint8_t *)"/h2", 5, 3, 0},
	};
	nghttp2_data_provider prd = {.read_callback = cl_body};
	nghttp2_session_callbacks *cb;
	nghttp2_option *opt;

	memset(c, 0, sizeof(*c));
	c->fd = x->client.fd;
	c->trailers = trailers;
	c->ntrailers = n;
	assert_int_equal(nghttp2_session_callbacks_new(&cb), 0);
	nghttp2_session_callbacks_set_send_callback(cb, cl_send);
	nghttp2_session_callbacks_set_on_header_callback(cb, cl_header);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, cl_close);
	assert_int_equal(nghttp2_option_new(&opt), 0);
	nghttp2_option_set_max_send_header_block_length(opt, 256 * 1024); /* the test's big one */
	assert_int_equal(nghttp2_session_client_new2(&c->s, cb, c, opt), 0);
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cb);
	assert_int_equal(nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, NULL, 0), 0);
	assert_true(nghttp2_submit_request(c->s, NULL, head, 4, &prd, c) > 0);
}

/* Runs the engine and the client's session for MS milliseconds, or until
 * the client's stream closed. */
static void h2_pump(struct fake_fix *x, struct h2_client *c, int ms)
{
	char buf[65536];
	ssize_t n;
	int i;

	for (i = 0; i < ms && !c->closed; i++) {
		nghttp2_session_send(c->s);
		fake_pump(&x->f, 1);
		while ((n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
			assert_true(nghttp2_session_mem_recv(c->s, (uint8_t *)buf, (size_t)n) >= 0);
	}
}

#define NV(n, v)                                                                                   \
	{                                                                                          \
		(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1, 0                    \
	}

/* An HTTP/2 client's trailing HEADERS reach an HTTP/1.1 endpoint as the
 * trailer fields of a chunked request (its body had no length). */
static void an_http2_clients_trailers_reach_an_http1_endpoint(void **state)
{
	struct fake_fix *x = start(state, MESH);
	static const nghttp2_nv trailers[] = {
	    NV("x-checksum", "abc123"),	     NV("grpc-status", "0"),	      NV("empty", ""),
	    NV("content-type", "text/evil"), NV("authorization", "Bearer x"), NV("te", "trailers"),
	};
	struct h2_client c;
	struct fake_msg *m;
	int conn;

	h2_post(x, &c, trailers, sizeof(trailers) / sizeof(trailers[0]));
	h2_pump(x, &c, 50);
	conn = fake_backend_read(&x->f, 2000);
	assert_int_equal(conn, 0);
	m = &x->f.conns[0]->req;
	assert_true(m->chunked);
	assert_string_equal(m->body, "hello");
	assert_string_equal(fake_header(m, "x-checksum"), "abc123");
	assert_string_equal(fake_header(m, "grpc-status"), "0");
	assert_string_equal(fake_header(m, "empty"), "");
	assert_null(fake_header(m, "content-type"));
	assert_null(fake_header(m, "authorization"));
	assert_null(fake_header(m, "te"));
	assert_int_equal(fake_backend_write(&x->f, conn, OK), 0);
	h2_pump(x, &c, 2000);
	assert_int_equal(c.status, 200);
	nghttp2_session_del(c.s);
}

/* An HTTP/2 client's trailer section over 64 KiB: the stream is answered
 * 431, and the try's connection is dropped. */
static void an_http2_clients_too_large_trailers_are_answered_431(void **state)
{
	struct fake_fix *x = start(state, MESH);
	static char value[8000];
	char names[9][8];
	nghttp2_nv trailers[9];
	struct h2_client c;
	int i;

	memset(value, 'v', sizeof(value));
	for (i = 0; i < 9; i++) {
		snprintf(names[i], sizeof(names[i]), "x-big-%d", i);
		trailers[i] = (nghttp2_nv){(uint8_t *)names[i], (uint8_t *)value, strlen(names[i]),
					   sizeof(value), 0};
	}
	h2_post(x, &c, trailers, 9);
	h2_pump(x, &c, 2000);
	assert_int_equal(c.status, 431);
	assert_string_equal(c.error, "request_headers_too_large");
	assert_int_equal(x->f.nconns, 1);   /* it had gone on, */
	assert_true(x->f.conns[0]->closed); /* and its try was dropped */
	nghttp2_session_del(c.s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(trailers_of_a_whole_body_go_on_chunked, teardown),
	    cmocka_unit_test_teardown(trailers_follow_a_streamed_body, teardown),
	    cmocka_unit_test_teardown(a_body_without_trailers_keeps_its_length, teardown),
	    cmocka_unit_test_teardown(a_retry_sends_the_trailers_again, teardown),
	    cmocka_unit_test_teardown(too_large_trailers_of_a_whole_body_are_answered_431,
				      teardown),
	    cmocka_unit_test_teardown(too_large_trailers_of_a_streamed_body_are_answered_431,
				      teardown),
	    cmocka_unit_test_teardown(an_http2_clients_trailers_reach_an_http1_endpoint, teardown),
	    cmocka_unit_test_teardown(an_http2_clients_too_large_trailers_are_answered_431,
				      teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
