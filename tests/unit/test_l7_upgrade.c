// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Upgrades in the L7 engine (proxy/l7/l7_tunnel.c): a WebSocket handshake
 * is routed like any request, sent on a connection of its own with its
 * Upgrade, and a 101 turns both connections into a byte tunnel; any other
 * answer stays a response; Upgrade: h2c is ignored. The client and the
 * endpoint are socketpairs held by this test (l7_fake.h).
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

#include "common/timer_wheel.h"
#include "l7_fake.h"
#include "l7_fake_mesh.h"

#define WS_REQUEST                                                                                 \
	"GET /chat HTTP/1.1\r\nHost: web\r\nConnection: keep-alive, Upgrade\r\n"                   \
	"Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"                    \
	"Sec-WebSocket-Version: 13\r\n\r\n"
#define WS_101                                                                                     \
	"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"        \
	"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
/* A route whose modifiers show the handshake went through it. */
#define WS_ROUTE                                                                                   \
	MESH ROUTE "      - filters:\n"                                                            \
		   "          - type: RequestHeaderModifier\n"                                     \
		   "            requestHeaderModifier: {add: [{name: x-routed, value: 'yes'}]}\n"  \
		   "          - type: ResponseHeaderModifier\n"                                    \
		   "            responseHeaderModifier: {add: [{name: x-mesh, value: shunt}]}\n"

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
	return holds ? -1 : 0;
}

/* Exactly LEN bytes from P: first what its HTTP parser left past a head,
 * then from its socket, running the loop. 0, -EPIPE (EOF) or -ETIMEDOUT. */
static int read_raw(struct l7_fake *f, struct fake_peer *p, char *out, size_t len)
{
	uint64_t end = timer_now_ms() + 2000;
	size_t got = p->in_len - p->in_off < len ? p->in_len - p->in_off : len;

	memcpy(out, p->in + p->in_off, got);
	p->in_off += got;
	while (got < len) {
		ssize_t n = recv(p->fd, out + got, len - got, MSG_DONTWAIT);

		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n == 0)
			return -EPIPE;
		if (timer_now_ms() > end)
			return -ETIMEDOUT;
		fake_pump(f, 5);
	}
	return 0;
}

/* P's socket gives EOF (and no byte) within MS: 0, -EPROTO or -ETIMEDOUT. */
static int read_eof(struct l7_fake *f, struct fake_peer *p, int ms)
{
	uint64_t end = timer_now_ms() + (uint64_t)ms;
	char c;

	for (;;) {
		ssize_t n = recv(p->fd, &c, 1, MSG_DONTWAIT);

		if (n == 0)
			return 0;
		if (n > 0)
			return -EPROTO;
		if (timer_now_ms() > end)
			return -ETIMEDOUT;
		fake_pump(f, 5);
	}
}

static void expect_bytes(struct l7_fake *f, struct fake_peer *p, const char *want)
{
	char got[256] = "";

	assert_int_equal(read_raw(f, p, got, strlen(want)), 0);
	assert_string_equal(got, want);
}

/* The handshake from the client, with EARLY bytes in the same write; the
 * endpoint's connection index. */
static int handshake(struct fix *x, const char *early)
{
	char req[1024];
	int conn;

	snprintf(req, sizeof(req), "%s%s", WS_REQUEST, early);
	assert_int_equal(fake_send(&x->f, x->client.fd, req, strlen(req)), 0);
	conn = fake_backend_read(&x->f, 2000);
	assert_true(conn >= 0);
	return conn;
}

static void websocket_101_then_bytes_both_ways(void **state)
{
	struct fix *x = start(state, WS_ROUTE);
	unsigned long long upgrades = atomic_load(&l7_stats.upgrades);
	struct fake_peer *ep;
	struct fake_msg *seen;
	int conn;

	conn = handshake(x, "early-client");
	ep = &x->f.conns[conn]->peer;
	seen = &x->f.conns[conn]->req;
	assert_string_equal(seen->url, "/chat");
	assert_string_equal(fake_header(seen, "upgrade"), "websocket");
	assert_string_equal(fake_header(seen, "connection"), "upgrade");
	assert_string_equal(fake_header(seen, "sec-websocket-key"), "dGhlIHNhbXBsZSBub25jZQ==");
	assert_string_equal(fake_header(seen, "x-routed"), "yes");
	/* the 101 and the endpoint's first bytes in one write */
	assert_int_equal(fake_backend_write(&x->f, conn, WS_101 "early-server"), 0);
	assert_int_equal(fake_read(&x->f, &x->client, &x->resp, 2000), 0);
	assert_int_equal(x->resp.status, 101);
	assert_string_equal(fake_header(&x->resp, "upgrade"), "websocket");
	assert_string_equal(fake_header(&x->resp, "connection"), "upgrade");
	assert_string_equal(fake_header(&x->resp, "sec-websocket-accept"),
			    "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	assert_string_equal(fake_header(&x->resp, "x-mesh"), "shunt");
	assert_null(fake_header(&x->resp, "transfer-encoding"));
	assert_null(fake_header(&x->resp, "content-length"));
	expect_bytes(&x->f, &x->client, "early-server");
	expect_bytes(&x->f, ep, "early-client");
	assert_int_equal(atomic_load(&l7_stats.upgrades), upgrades + 1);
	assert_int_equal(x->f.ndone, 1);
	assert_int_equal(x->f.last_status, 101);

	/* a stream, not HTTP: anything goes, both ways */
	assert_int_equal(fake_send(&x->f, x->client.fd, "GET / HTTP/1.1\r\n\r\n", 18), 0);
	expect_bytes(&x->f, ep, "GET / HTTP/1.1\r\n\r\n");
	assert_int_equal(fake_backend_write(&x->f, conn, "\x81\x04pong"), 0);
	expect_bytes(&x->f, &x->client, "\x81\x04pong");

	/* half-close: the client's EOF reaches the endpoint, which still answers */
	assert_int_equal(shutdown(x->client.fd, SHUT_WR), 0);
	assert_int_equal(read_eof(&x->f, ep, 2000), 0);
	assert_int_equal(fake_backend_write(&x->f, conn, "bye"), 0);
	expect_bytes(&x->f, &x->client, "bye");
	assert_false(x->f.conns[conn]->closed);
	assert_int_equal(shutdown(ep->fd, SHUT_WR), 0);
	assert_int_equal(read_eof(&x->f, &x->client, 2000), 0);
	fake_settle(&x->f);
	assert_true(x->f.conns[conn]->closed);
	assert_int_equal(x->f.nconns, 1);
}

static void non_101_answer_stays_a_response(void **state)
{
	struct fix *x = start(state, WS_ROUTE);
	unsigned long long upgrades = atomic_load(&l7_stats.upgrades);
	struct fake_peer second = {.fd = -1};
	int conn;

	conn = handshake(x, "");
	assert_int_equal(fake_backend_write(&x->f, conn,
					    "HTTP/1.1 426 Upgrade Required\r\nContent-Length: 5\r\n"
					    "\r\nnope!"),
			 0);
	assert_int_equal(fake_read(&x->f, &x->client, &x->resp, 2000), 0);
	assert_int_equal(x->resp.status, 426);
	assert_string_equal(x->resp.body, "nope!");
	assert_string_equal(fake_header(&x->resp, "x-mesh"), "shunt");
	/* what the client sent past its head could be the new protocol: closed */
	assert_string_equal(fake_header(&x->resp, "connection"), "close");
	assert_int_equal(read_eof(&x->f, &x->client, 2000), 0);
	assert_int_equal(atomic_load(&l7_stats.upgrades), upgrades);
	assert_int_equal(x->f.last_status, 426);
	/* the endpoint's connection was the upgrade's own: not pooled */
	fake_settle(&x->f);
	assert_true(x->f.conns[conn]->closed);
	assert_int_equal(fake_client(&x->f, &second, "shop/client", "shop/web", 80), 0);
	assert_int_equal(fake_exchange(&x->f, &second, "GET / HTTP/1.1\r\n\r\n",
				       "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", &x->resp,
				       &conn),
			 0);
	assert_int_equal(conn, 1);
	assert_null(fake_header(&x->f.conns[1]->req, "upgrade"));
	fake_peer_free(&second);
}

/* A client that does not read holds the endpoint back (the proxy stops
 * reading it); once the client reads, every byte arrives, in order. */
static void tunnel_backpressure_holds_then_drains(void **state)
{
	struct fix *x = start(state, MESH);
	size_t total = 4u << 20, sent = 0, got = 0, i;
	char *data = malloc(total), *back = malloc(total);
	uint64_t end;
	int fd;

	assert_non_null(data);
	assert_non_null(back);
	for (i = 0; i < total; i++)
		data[i] = (char)(i * 7 + i / 251);
	fd = x->f.conns[handshake(x, "")]->peer.fd;
	assert_int_equal(fake_send(&x->f, fd, WS_101, strlen(WS_101)), 0);
	assert_int_equal(fake_read(&x->f, &x->client, &x->resp, 2000), 0);
	assert_int_equal(x->resp.status, 101);
	for (end = timer_now_ms() + 300; timer_now_ms() < end;) {
		ssize_t n = send(fd, data + sent, total - sent, MSG_DONTWAIT | MSG_NOSIGNAL);

		sent += n > 0 ? (size_t)n : 0;
		fake_pump(&x->f, 1);
	}
	/* 1 MiB queued in the proxy and the sockets' buffers, not 4 */
	assert_true(sent < total / 2);
	for (end = timer_now_ms() + 5000; got < total && timer_now_ms() < end;) {
		ssize_t n = send(fd, data + sent, total - sent, MSG_DONTWAIT | MSG_NOSIGNAL);

		sent += n > 0 ? (size_t)n : 0;
		n = recv(x->client.fd, back + got, total - got, MSG_DONTWAIT);
		got += n > 0 ? (size_t)n : 0;
		fake_pump(&x->f, 0);
	}
	assert_int_equal(got, total);
	assert_memory_equal(back, data, total);
	free(data);
	free(back);
}

/* The route's stages apply to a handshake as to any request. */
static void upgrade_meets_the_route_fault(void **state)
{
	struct fix *x = start(state, MESH ROUTE "      - fault: {abort: {httpStatus: 503}}\n");

	assert_int_equal(fake_send(&x->f, x->client.fd, WS_REQUEST "early", strlen(WS_REQUEST) + 5),
			 0);
	assert_int_equal(fake_read(&x->f, &x->client, &x->resp, 2000), 0);
	assert_int_equal(x->resp.status, 503);
	assert_string_equal(fake_header(&x->resp, "shunt-error"),
			    shunt_outcome(SHUNT_OUT_L7_FAULT_ABORT)->label);
	assert_string_equal(fake_header(&x->resp, "connection"), "close");
	assert_int_equal(read_eof(&x->f, &x->client, 2000), 0);
	assert_int_equal(x->f.nconns, 0);
}

/* RFC 9113 3.1: a server may ignore Upgrade: h2c and answer over HTTP/1.1. */
static void h2c_upgrade_is_ignored(void **state)
{
	struct fix *x = start(state, MESH);
	const char *req = "GET /h HTTP/1.1\r\nHost: web\r\nConnection: Upgrade, HTTP2-Settings\r\n"
			  "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n";
	struct fake_msg *seen;
	int conn;

	assert_int_equal(fake_exchange(&x->f, &x->client, req,
				       "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", &x->resp,
				       &conn),
			 0);
	seen = &x->f.conns[conn]->req;
	assert_null(fake_header(seen, "upgrade"));
	assert_null(fake_header(seen, "http2-settings"));
	assert_null(fake_header(seen, "connection"));
	assert_int_equal(x->resp.status, 200);
	assert_int_equal(x->resp.http_minor, 1);
	assert_string_equal(x->resp.body, "ok");
	assert_null(fake_header(&x->resp, "connection"));
	/* the same connections go on, as for any request */
	assert_int_equal(fake_exchange(&x->f, &x->client, req,
				       "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", &x->resp,
				       &conn),
			 0);
	assert_int_equal(x->resp.status, 200);
	assert_int_equal(x->f.nconns, 1);
}

/* The service's idleTimeout closes a tunnel in which nothing moves. */
static void silent_tunnel_closes_at_idle_timeout(void **state)
{
	struct fix *x =
	    start(state, MESH "  - {name: slow, namespace: shop, virtualIPs: "
			      "[10.96.0.20], ports: [{port: 80, targetPort: 8080}], "
			      "selector: {app: b}, trafficPolicy: {connectionPool: {http: "
			      "{idleTimeout: 300ms}}}}\n" ROUTE
			      "      - backendRefs: [{name: slow, port: 80}]\n");
	uint64_t t0;
	int conn;

	conn = handshake(x, "");
	assert_int_equal(fake_backend_write(&x->f, conn, WS_101), 0);
	assert_int_equal(fake_read(&x->f, &x->client, &x->resp, 2000), 0);
	assert_int_equal(x->resp.status, 101);
	fake_pump(&x->f, 200);
	assert_int_equal(fake_send(&x->f, x->client.fd, "ping", 4), 0);
	expect_bytes(&x->f, &x->f.conns[conn]->peer, "ping");
	t0 = timer_now_ms();
	assert_int_equal(read_eof(&x->f, &x->client, 2000), 0);
	/* counted from the last byte, not from the 101 */
	assert_in_range(timer_now_ms() - t0, 200, 1500);
	fake_settle(&x->f);
	assert_true(x->f.conns[conn]->closed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(websocket_101_then_bytes_both_ways, teardown),
	    cmocka_unit_test_teardown(non_101_answer_stays_a_response, teardown),
	    cmocka_unit_test_teardown(tunnel_backpressure_holds_then_drains, teardown),
	    cmocka_unit_test_teardown(upgrade_meets_the_route_fault, teardown),
	    cmocka_unit_test_teardown(h2c_upgrade_is_ignored, teardown),
	    cmocka_unit_test_teardown(silent_tunnel_closes_at_idle_timeout, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
