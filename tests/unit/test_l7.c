// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The L7 engine (proxy/l7) through its public API: routes, weights, header
 * modifiers, framing and pipelining, with a client and endpoints that are
 * socketpairs held by this test (l7_fake.h). test_l7_resilience.c has
 * pooling, retries, timeouts and bad input.
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
#include <unistd.h>
#include <cmocka.h>

#include "l7_fake.h"
#include "l7_fake_mesh.h"

#define OK	  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
#define GET(path) "GET " path " HTTP/1.1\r\nHost: web\r\n\r\n"

struct fix {
	struct l7_fake f;
	struct fake_peer client;
	struct fake_msg resp;
	bool started;
};

static struct fix *start(void **state, const char *yaml)
{
	struct fix *x = calloc(1, sizeof(*x));
	char err[512];

	assert_non_null(x);
	*state = x;
	x->client.fd = -1;
	if (fake_init(&x->f, yaml, err, sizeof(err)))
		fail_msg("config: %s", err);
	x->started = true;
	assert_int_equal(fake_client(&x->f, &x->client, "shop/client", "shop/web", 80), 0);
	return x;
}

static int teardown(void **state)
{
	struct fix *x = *state;
	int holds = 0;

	if (!x)
		return 0;
	fake_peer_free(&x->client);
	fake_msg_free(&x->resp);
	if (x->started)
		holds = fake_fini(&x->f);
	free(x);
	*state = NULL;
	return holds ? -1 : 0; /* a view (and the model under it) kept */
}

/* The workload whose endpoint got REQUEST; the client got its 200. */
static const char *routed_to(struct fix *x, const char *request)
{
	int conn = -1;

	assert_int_equal(fake_exchange(&x->f, &x->client, request, OK, &x->resp, &conn), 0);
	assert_int_equal(x->resp.status, 200);
	assert_string_equal(x->resp.body, "ok");
	return x->f.conns[conn]->dst;
}

static void exact_then_regex_then_longest_prefix(void **state)
{
	/* Written least specific first: config order must not decide. */
	struct fix *x = start(state, MESH ROUTE
			      "      - matches: [{path: {type: PathPrefix, value: /}}]\n"
			      "      - matches: [{path: {type: PathPrefix, value: /api}}]\n"
			      "        backendRefs: [{name: b, port: 80}]\n"
			      "      - matches: [{path: {type: PathPrefix, value: /api/old}}]\n"
			      "        backendRefs: [{name: c, port: 80}]\n"
			      "      - matches: [{path: {type: RegularExpression, value: "
			      "'^/api/v[0-9]+$'}}]\n"
			      "        backendRefs: [{name: d, port: 80}]\n"
			      "      - matches: [{path: {type: Exact, value: /api/v1}}]\n"
			      "        backendRefs: [{name: e, port: 80}]\n");

	assert_string_equal(routed_to(x, GET("/api/v1")), "e1");
	assert_string_equal(routed_to(x, GET("/api/v2")), "d1");
	assert_string_equal(routed_to(x, GET("/api/old/x")), "c1");
	assert_string_equal(routed_to(x, GET("/api/x")), "b1");
	assert_string_equal(routed_to(x, GET("/api/v1/x")), "b1");
	assert_string_equal(routed_to(x, GET("/x")), "a1");
}

static void method_header_and_query_matches(void **state)
{
	struct fix *x = start(state, MESH ROUTE
			      "      - matches: [{path: {type: PathPrefix, value: /}}]\n"
			      "      - matches: [{method: POST}]\n"
			      "        backendRefs: [{name: b, port: 80}]\n"
			      "      - matches: [{headers: [{name: x-canary, value: 'yes'}]}]\n"
			      "        backendRefs: [{name: c, port: 80}]\n"
			      "      - matches: [{queryParams: [{type: RegularExpression, name: v, "
			      "value: '^2'}]}]\n"
			      "        backendRefs: [{name: d, port: 80}]\n");

	assert_string_equal(routed_to(x, GET("/")), "a1");
	assert_string_equal(routed_to(x, "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"), "b1");
	assert_string_equal(routed_to(x, "GET / HTTP/1.1\r\nX-Canary: yes\r\n\r\n"), "c1");
	assert_string_equal(routed_to(x, "GET / HTTP/1.1\r\nX-Canary: no\r\n\r\n"), "a1");
	assert_string_equal(routed_to(x, GET("/?v=21")), "d1");
	assert_string_equal(routed_to(x, GET("/?x=1&v=2")), "d1");
	assert_string_equal(routed_to(x, GET("/?x=1&v=3")), "a1");
	assert_string_equal(routed_to(x, GET("/?vv=2&w=2")), "a1");
	/* POST outranks a header match: the method is compared first */
	assert_string_equal(
	    routed_to(x, "POST / HTTP/1.1\r\nX-Canary: yes\r\nContent-Length: 0\r\n\r\n"), "b1");
}

static void path_prefix_matches_whole_elements(void **state)
{
	struct fix *x =
	    start(state, MESH ROUTE "      - matches: [{path: {type: PathPrefix, value: /}}]\n"
				    "      - matches: [{path: {type: PathPrefix, value: /abc}}]\n"
				    "        backendRefs: [{name: b, port: 80}]\n");

	assert_string_equal(routed_to(x, GET("/abc")), "b1");
	assert_string_equal(routed_to(x, GET("/abc/")), "b1");
	assert_string_equal(routed_to(x, GET("/abc/x")), "b1");
	assert_string_equal(routed_to(x, GET("/abc?q=1")), "b1");
	assert_string_equal(routed_to(x, GET("/abcd")), "a1");
	assert_string_equal(routed_to(x, GET("/ab")), "a1");
}

static void no_match_is_404_no_route(void **state)
{
	struct fix *x =
	    start(state, MESH ROUTE "      - matches: [{path: {type: Exact, value: /x}}]\n"
				    "        backendRefs: [{name: b, port: 80}]\n");

	assert_int_equal(fake_send(&x->f, x->client.fd, GET("/y"), strlen(GET("/y"))), 0);
	assert_int_equal(fake_read(&x->f, &x->client, &x->resp, 2000), 0);
	assert_int_equal(x->resp.status, 404);
	assert_non_null(fake_header(&x->resp, "shunt-error"));
	assert_string_equal(fake_header(&x->resp, "shunt-error"),
			    shunt_outcome(SHUNT_OUT_L7_NO_ROUTE)->label);
	assert_string_equal(fake_header(&x->resp, "shunt-hop"), "shunt-proxy/test");
	assert_int_equal(x->f.nconns, 0);
	/* the connection goes on */
	assert_string_equal(routed_to(x, GET("/x")), "b1");
}

static void weights_split_within_binomial_bounds(void **state)
{
	struct fix *x = start(state, MESH ROUTE "      - backendRefs: [{name: b, port: 80, weight: "
						"80}, {name: c, port: 80, weight: 20}]\n");
	int i, b = 0, c = 0;

	for (i = 0; i < 1000; i++) {
		const char *dst = routed_to(x, GET("/"));

		b += !strcmp(dst, "b1");
		c += !strcmp(dst, "c1");
	}
	/* 1000 draws at p = 0.8: mean 800, sd 12.6; +-5 sd */
	assert_int_equal(b + c, 1000);
	assert_in_range(b, 737, 863);
	assert_int_equal(x->f.nconns, 2); /* one pooled connection each */
}

/* Marks backendRef I of the route's first rule as one that does not
 * resolve, as the Kubernetes source keeps a Service that is not there. */
static void unresolve(struct fix *x, size_t i)
{
	struct cfg_http_backend *be = &x->f.cfg.http_routes[0].rules[0].backends[i];

	be->unresolved = true;
	be->unresolved_why = CFG_FAIL_BACKEND_NOT_FOUND;
	be->service = "missing"; /* never looked up */
}

/* GET / answered by an endpoint (200, *DST its workload) or by the proxy
 * itself (its status, *DST NULL). */
static int answered_by(struct fix *x, const char **dst)
{
	int done = x->f.ndone, conn = -EAGAIN, i;

	*dst = NULL;
	assert_int_equal(fake_send(&x->f, x->client.fd, GET("/"), strlen(GET("/"))), 0);
	for (i = 0; i < 200 && x->f.ndone == done && conn < 0; i++) {
		fake_pump(&x->f, 10);
		conn = fake_backend_poll(&x->f);
	}
	if (conn >= 0) {
		assert_int_equal(fake_backend_write(&x->f, conn, OK), 0);
		*dst = x->f.conns[conn]->dst;
	}
	assert_int_equal(fake_read(&x->f, &x->client, &x->resp, 2000), 0);
	return x->resp.status;
}

static void unresolved_backend_share_is_500_and_never_sent(void **state)
{
	struct fix *x = start(state, MESH ROUTE "      - backendRefs: [{name: b, port: 80}, "
						"{name: c, port: 80}]\n");
	int i, sent = 0, refused = 0;
	const char *dst;

	unresolve(x, 1);
	for (i = 0; i < 400; i++) {
		int status = answered_by(x, &dst);

		if (dst) {
			assert_int_equal(status, 200);
			assert_string_equal(dst, "b1");
			sent++;
			continue;
		}
		assert_int_equal(status, 500);
		assert_string_equal(fake_header(&x->resp, "shunt-error"),
				    shunt_outcome_label(SHUNT_OUT_L7_BACKEND_NOT_RESOLVED));
		assert_int_equal(x->f.last_outcome, SHUNT_OUT_L7_BACKEND_NOT_RESOLVED);
		refused++;
	}
	/* 400 draws at p = 0.5: mean 200, sd 10; +-5 sd */
	assert_int_equal(sent + refused, 400);
	assert_in_range(refused, 150, 250);
	assert_int_equal(x->f.nconns, 1); /* b's; none for the missing one */
}

static void rule_of_only_unresolved_backends_is_all_500(void **state)
{
	struct fix *x = start(state, MESH ROUTE "      - backendRefs: [{name: c, port: 80}]\n");
	const char *dst;
	int i;

	unresolve(x, 0);
	for (i = 0; i < 20; i++) {
		assert_int_equal(answered_by(x, &dst), 500);
		assert_null(dst);
	}
	assert_int_equal(x->f.nconns, 0);
}

static void request_modifiers_and_hop_by_hop(void **state)
{
	struct fix *x =
	    start(state, MESH ROUTE
		  "      - filters:\n"
		  "          - type: RequestHeaderModifier\n"
		  "            requestHeaderModifier: {set: [{name: x-a, value: b}], add: "
		  "[{name: x-c, value: d}], remove: [x-debug]}\n");
	const char *req = "POST /h HTTP/1.1\r\nHost: web\r\nConnection: keep-alive, x-hop\r\n"
			  "Keep-Alive: timeout=5\r\nTE: trailers\r\nUpgrade: foo\r\nX-Hop: 1\r\n"
			  "Transfer-Encoding: chunked\r\nX-A: old\r\nX-C: keep\r\nX-Debug: 1\r\n"
			  "X-Keep: yes\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
	struct fake_msg *seen;
	int conn;

	assert_int_equal(fake_exchange(&x->f, &x->client, req, OK, &x->resp, &conn), 0);
	seen = &x->f.conns[conn]->req;
	assert_string_equal(seen->method, "POST");
	assert_string_equal(seen->url, "/h");
	assert_string_equal(fake_header(seen, "host"), "web");
	assert_string_equal(fake_header(seen, "x-keep"), "yes");
	assert_int_equal(fake_header_count(seen, "x-a"), 1);
	assert_string_equal(fake_header(seen, "x-a"), "b");
	assert_int_equal(fake_header_count(seen, "x-c"), 2);
	assert_int_equal(fake_header_count(seen, "x-debug"), 0);
	assert_int_equal(fake_header_count(seen, "connection"), 0);
	assert_int_equal(fake_header_count(seen, "keep-alive"), 0);
	assert_int_equal(fake_header_count(seen, "te"), 0);
	assert_int_equal(fake_header_count(seen, "upgrade"), 0);
	assert_int_equal(fake_header_count(seen, "x-hop"), 0); /* named in Connection */
	assert_int_equal(fake_header_count(seen, "transfer-encoding"), 0);
	assert_string_equal(fake_header(seen, "content-length"), "5");
	assert_string_equal(seen->body, "hello");
	assert_int_equal(x->resp.status, 200);
}

/* ID is a random UUID as Envoy makes them: 8-4-4-4-12 lowercase hex
 * digits, version 4, variant 1. */
static void assert_uuid4(const char *id)
{
	size_t i;

	assert_non_null(id);
	assert_int_equal(strlen(id), 36);
	for (i = 0; i < 36; i++)
		if (i == 8 || i == 13 || i == 18 || i == 23)
			assert_int_equal(id[i], '-');
		else
			assert_non_null(strchr("0123456789abcdef", id[i]));
	assert_int_equal(id[14], '4');
	assert_non_null(strchr("89ab", id[19]));
}

/* A request without x-request-id gets one (Envoy's generate_request_id):
 * a new one per request; a request's own goes on as it came. */
static void a_request_without_an_id_gets_one_and_one_with_keeps_its_own(void **state)
{
	struct fix *x = start(state, MESH);
	char first[37];
	int conn;

	assert_int_equal(fake_exchange(&x->f, &x->client, GET("/a"), OK, &x->resp, &conn), 0);
	assert_int_equal(fake_header_count(&x->f.conns[conn]->req, "x-request-id"), 1);
	assert_uuid4(fake_header(&x->f.conns[conn]->req, "x-request-id"));
	snprintf(first, sizeof(first), "%s", fake_header(&x->f.conns[conn]->req, "x-request-id"));
	fake_msg_free(&x->resp);
	assert_int_equal(fake_exchange(&x->f, &x->client, GET("/b"), OK, &x->resp, &conn), 0);
	assert_uuid4(fake_header(&x->f.conns[conn]->req, "x-request-id"));
	assert_string_not_equal(fake_header(&x->f.conns[conn]->req, "x-request-id"), first);
	fake_msg_free(&x->resp);
	assert_int_equal(
	    fake_exchange(&x->f, &x->client,
			  "GET /c HTTP/1.1\r\nHost: web\r\nX-Request-ID: mine-1\r\n\r\n", OK,
			  &x->resp, &conn),
	    0);
	assert_int_equal(fake_header_count(&x->f.conns[conn]->req, "x-request-id"), 1);
	assert_string_equal(fake_header(&x->f.conns[conn]->req, "x-request-id"), "mine-1");
}

/* requestId: {generate: false}: Envoy's generate_request_id off. */
static void no_id_is_made_when_the_mesh_turns_generation_off(void **state)
{
	struct fix *x = start(state, MESH "requestId: {generate: false}\n");
	int conn;

	assert_int_equal(fake_exchange(&x->f, &x->client, GET("/a"), OK, &x->resp, &conn), 0);
	assert_int_equal(fake_header_count(&x->f.conns[conn]->req, "x-request-id"), 0);
	fake_msg_free(&x->resp);
	assert_int_equal(
	    fake_exchange(&x->f, &x->client,
			  "GET /c HTTP/1.1\r\nHost: web\r\nX-Request-ID: mine-1\r\n\r\n", OK,
			  &x->resp, &conn),
	    0);
	assert_string_equal(fake_header(&x->f.conns[conn]->req, "x-request-id"), "mine-1");
}

static void response_modifiers(void **state)
{
	struct fix *x =
	    start(state, MESH ROUTE
		  "      - filters:\n"
		  "          - type: ResponseHeaderModifier\n"
		  "            responseHeaderModifier: {set: [{name: x-r, value: '1'}], add: "
		  "[{name: x-added, value: v}], remove: [server]}\n");
	const char *resp =
	    "HTTP/1.1 200 OK\r\nServer: nginx\r\nX-R: 0\r\nX-Other: ok\r\n"
	    "Connection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 4\r\n"
	    "\r\nbody";

	assert_int_equal(fake_exchange(&x->f, &x->client, GET("/"), resp, &x->resp, NULL), 0);
	assert_int_equal(x->resp.status, 200);
	assert_int_equal(fake_header_count(&x->resp, "x-r"), 1);
	assert_string_equal(fake_header(&x->resp, "x-r"), "1");
	assert_string_equal(fake_header(&x->resp, "x-added"), "v");
	assert_string_equal(fake_header(&x->resp, "x-other"), "ok");
	assert_null(fake_header(&x->resp, "server"));
	assert_null(fake_header(&x->resp, "keep-alive"));
	assert_string_equal(x->resp.body, "body");
}

/* RAW to FD three bytes at a time, the loop turning in between: fields
 * and their values reach the parsers in pieces. */
static void send_in_pieces(struct l7_fake *f, int fd, const char *raw)
{
	size_t len = strlen(raw), at, n;

	for (at = 0; at < len; at += n) {
		n = len - at < 3 ? len - at : 3;
		assert_int_equal(fake_send(f, fd, raw + at, n), 0);
		fake_pump(f, 1);
	}
}

static void heads_in_pieces_keep_every_field_whole(void **state)
{
	struct fix *x = start(state, MESH);
	const char *req = "GET /p HTTP/1.1\r\nHost: web\r\nX-Long-Name: a value in pieces\r\n"
			  "X-E:\r\nX-Two: 2\r\n\r\n";
	const char *resp = "HTTP/1.1 200 OK\r\nX-Answer: made of pieces too\r\nX-Empty:\r\n"
			   "Content-Length: 2\r\n\r\nok";
	struct fake_msg *seen;
	int conn;

	send_in_pieces(&x->f, x->client.fd, req);
	conn = fake_backend_read(&x->f, 2000);
	assert_true(conn >= 0);
	seen = &x->f.conns[conn]->req;
	assert_string_equal(fake_header(seen, "host"), "web");
	assert_string_equal(fake_header(seen, "x-long-name"), "a value in pieces");
	assert_string_equal(fake_header(seen, "x-e"), "");
	assert_string_equal(fake_header(seen, "x-two"), "2");
	send_in_pieces(&x->f, x->f.conns[conn]->peer.fd, resp);
	assert_int_equal(fake_read(&x->f, &x->client, &x->resp, 2000), 0);
	assert_int_equal(x->resp.status, 200);
	assert_string_equal(fake_header(&x->resp, "x-answer"), "made of pieces too");
	assert_string_equal(fake_header(&x->resp, "x-empty"), "");
	assert_string_equal(x->resp.body, "ok");
}

static void chunked_and_fixed_length_are_reframed(void **state)
{
	struct fix *x = start(state, MESH);
	const char *req = "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
			  "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n";
	const char *chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
			      "3\r\nabc\r\n3;x=y\r\ndef\r\n0\r\n\r\n";
	struct fake_msg *seen;
	int conn;

	assert_int_equal(fake_exchange(&x->f, &x->client, req, chunked, &x->resp, &conn), 0);
	seen = &x->f.conns[conn]->req;
	assert_false(seen->chunked); /* no trailers: test_l7_trailers.c has those */
	assert_string_equal(fake_header(seen, "content-length"), "11");
	assert_string_equal(seen->body, "hello world");
	assert_true(x->resp.chunked);
	assert_string_equal(x->resp.body, "abcdef");
	/* fixed length, on the same connections: the framing held */
	assert_int_equal(fake_exchange(&x->f, &x->client, GET("/f"),
				       "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
				       &x->resp, &conn),
			 0);
	assert_int_equal(conn, 0);
	assert_false(x->resp.chunked);
	assert_string_equal(fake_header(&x->resp, "content-length"), "5");
	assert_string_equal(x->resp.body, "hello");
}

static void head_response_has_no_body(void **state)
{
	struct fix *x = start(state, MESH);

	x->client.head_request = true;
	assert_int_equal(fake_exchange(&x->f, &x->client, "HEAD / HTTP/1.1\r\n\r\n",
				       "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", &x->resp,
				       NULL),
			 0);
	assert_string_equal(x->f.conns[0]->req.method, "HEAD");
	assert_int_equal(x->resp.status, 200);
	assert_string_equal(fake_header(&x->resp, "content-length"), "100");
	assert_int_equal(x->resp.body_len, 0);
	x->client.head_request = false;
	/* the next exchange on both connections is not taken for a body */
	assert_string_equal(routed_to(x, GET("/")), "a1");
	assert_int_equal(x->f.nconns, 1);
}

static void no_body_for_204_and_304(void **state)
{
	struct fix *x = start(state, MESH);
	const char *answers[] = {"HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n",
				 "HTTP/1.1 304 Not Modified\r\nETag: \"e\"\r\n\r\n"};
	int i;

	for (i = 0; i < 2; i++) {
		assert_int_equal(
		    fake_exchange(&x->f, &x->client, GET("/"), answers[i], &x->resp, NULL), 0);
		assert_int_equal(x->resp.status, i ? 304 : 204);
		assert_null(fake_header(&x->resp, "transfer-encoding"));
		assert_null(fake_header(&x->resp, "content-length"));
		assert_int_equal(x->resp.body_len, 0);
	}
	assert_string_equal(routed_to(x, GET("/")), "a1");
	assert_int_equal(x->f.nconns, 1);
}

static void close_delimited_is_chunked_for_11_and_closed_for_10(void **state)
{
	struct fix *x = start(state, MESH);
	const char *eof_body = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello";
	struct fake_peer old = {.fd = -1};
	struct fake_msg m = {};
	int conn;

	assert_int_equal(fake_send(&x->f, x->client.fd, GET("/"), strlen(GET("/"))), 0);
	conn = fake_backend_read(&x->f, 2000);
	assert_true(conn >= 0);
	assert_int_equal(fake_backend_write(&x->f, conn, eof_body), 0);
	fake_peer_free(&x->f.conns[conn]->peer); /* the body ends with the connection */
	assert_int_equal(fake_read(&x->f, &x->client, &x->resp, 2000), 0);
	assert_true(x->resp.chunked);
	assert_string_equal(x->resp.body, "hello");
	assert_string_equal(routed_to(x, GET("/")), "a1"); /* the client's connection stays */

	/* HTTP/1.0: the same body, close-delimited */
	old = x->client;
	assert_int_equal(fake_client(&x->f, &x->client, "shop/client", "shop/web", 80), 0);
	assert_int_equal(fake_send(&x->f, x->client.fd, "GET / HTTP/1.0\r\n\r\n", 18), 0);
	conn = fake_backend_read(&x->f, 2000);
	assert_true(conn >= 0);
	assert_int_equal(fake_backend_write(&x->f, conn, eof_body), 0);
	fake_peer_free(&x->f.conns[conn]->peer);
	assert_int_equal(fake_read(&x->f, &x->client, &x->resp, 2000), 0);
	assert_int_equal(x->resp.http_minor, 0);
	assert_false(x->resp.chunked);
	assert_null(fake_header(&x->resp, "transfer-encoding"));
	assert_string_equal(x->resp.body, "hello");
	assert_int_equal(fake_read(&x->f, &x->client, &m, 1000), -EPIPE);
	fake_peer_free(&old);
	fake_msg_free(&m);
}

static void pipelined_requests_answered_in_order(void **state)
{
	struct fix *x = start(state, MESH);
	const char *three = GET("/1") GET("/2") GET("/3");
	char resp[640];
	int i, conn;

	assert_int_equal(fake_send(&x->f, x->client.fd, three, strlen(three)), 0);
	for (i = 0; i < 3; i++) {
		conn = fake_backend_read(&x->f, 2000);
		assert_true(conn >= 0);
		snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s",
			 strlen(x->f.conns[conn]->req.url), x->f.conns[conn]->req.url);
		assert_int_equal(fake_backend_write(&x->f, conn, resp), 0);
	}
	for (i = 0; i < 3; i++) {
		snprintf(resp, sizeof(resp), "/%d", i + 1);
		assert_int_equal(fake_read(&x->f, &x->client, &x->resp, 2000), 0);
		assert_string_equal(x->resp.body, resp);
	}
	assert_int_equal(x->f.ndone, 3);
}

/* The protocol is picked from the first bytes, whenever they come: an h2c
 * client that writes after its connection was accepted gets HTTP/2. */
static void h2c_preface_after_accept_is_http2(void **state)
{
	struct fix *x = start(state, MESH);
	static const char h2[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
				 "\0\0\0\x04\0\0\0\0\0"; /* an empty SETTINGS frame */
	unsigned char got[64];
	ssize_t n = 0;
	int i;

	fake_pump(&x->f, 10); /* accepted, and nothing sent yet */
	assert_int_equal(fake_send(&x->f, x->client.fd, h2, sizeof(h2) - 1), 0);
	for (i = 0; i < 100 && n < 9; i++) {
		ssize_t r = recv(x->client.fd, got + n, sizeof(got) - (size_t)n, MSG_DONTWAIT);

		if (r > 0)
			n += r;
		fake_pump(&x->f, 5);
	}
	assert_true(n >= 9);
	assert_memory_not_equal(got, "HTTP/", 5);
	assert_int_equal(got[3], 0x04); /* the server's SETTINGS frame first */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(exact_then_regex_then_longest_prefix, teardown),
	    cmocka_unit_test_teardown(method_header_and_query_matches, teardown),
	    cmocka_unit_test_teardown(a_request_without_an_id_gets_one_and_one_with_keeps_its_own,
				      teardown),
	    cmocka_unit_test_teardown(no_id_is_made_when_the_mesh_turns_generation_off, teardown),
	    cmocka_unit_test_teardown(path_prefix_matches_whole_elements, teardown),
	    cmocka_unit_test_teardown(no_match_is_404_no_route, teardown),
	    cmocka_unit_test_teardown(weights_split_within_binomial_bounds, teardown),
	    cmocka_unit_test_teardown(unresolved_backend_share_is_500_and_never_sent, teardown),
	    cmocka_unit_test_teardown(rule_of_only_unresolved_backends_is_all_500, teardown),
	    cmocka_unit_test_teardown(request_modifiers_and_hop_by_hop, teardown),
	    cmocka_unit_test_teardown(response_modifiers, teardown),
	    cmocka_unit_test_teardown(heads_in_pieces_keep_every_field_whole, teardown),
	    cmocka_unit_test_teardown(chunked_and_fixed_length_are_reframed, teardown),
	    cmocka_unit_test_teardown(head_response_has_no_body, teardown),
	    cmocka_unit_test_teardown(no_body_for_204_and_304, teardown),
	    cmocka_unit_test_teardown(close_delimited_is_chunked_for_11_and_closed_for_10,
				      teardown),
	    cmocka_unit_test_teardown(pipelined_requests_answered_in_order, teardown),
	    cmocka_unit_test_teardown(h2c_preface_after_accept_is_http2, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
