// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A loop drained while the proxy is replaced (l7_drain.c): clients are
 * told to go between requests, never in the middle of one. HTTP/1.1: the
 * next answer says `connection: close` and the connection closes after
 * it; a client idle for a second is closed (answered, or connected and
 * silent, a second ago); one answered or accepted just now is not. HTTP/2: GOAWAY's shutdown
 * notice first (last stream id 2^31-1), then the last stream id taken,
 * then the connection closes. And the other side of it: a pooled
 * connection to an endpoint whose node is being replaced takes no other
 * request.
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

static int teardown(void **state)
{
	return fake_fix_free(*state) ? -1 : 0;
}

static struct fake_fix *start(void **state)
{
	char err[512];
	struct fake_fix *x = fake_fix_new(MESH, err, sizeof(err));

	if (!x)
		fail_msg("%s", err);
	*state = x;
	return x;
}

/* Whether P's connection has been closed by the engine (EOF, nothing more). */
static bool closed(struct l7_fake *f, struct fake_peer *p)
{
	char c;
	int i;

	for (i = 0; i < 50; i++) {
		ssize_t n = recv(p->fd, &c, 1, MSG_DONTWAIT);

		if (n == 0)
			return true;
		if (n > 0)
			return false;
		fake_pump(f, 5);
	}
	return false;
}

static void a_request_in_flight_is_answered_with_close(void **state)
{
	struct fake_fix *x = start(state);
	int conn;

	assert_int_equal(fake_send(&x->f, x->client.fd, GET("/"), strlen(GET("/"))), 0);
	conn = fake_backend_read(&x->f, 2000);
	assert_true(conn >= 0);
	l7_loop_drain(x->f.loop, false);
	assert_int_equal(l7_loop_connections(x->f.loop), 1); /* not cut */
	assert_int_equal(fake_backend_write(&x->f, conn, OK), 0);
	assert_int_equal(fake_read(&x->f, &x->client, &x->resp, 2000), 0);
	assert_int_equal(x->resp.status, 200);
	assert_string_equal(fake_header(&x->resp, "connection"), "close");
	assert_true(closed(&x->f, &x->client));
	assert_int_equal(l7_loop_connections(x->f.loop), 0);
}

static void an_idle_client_is_closed_a_just_answered_or_silent_one_is_not(void **state)
{
	struct fake_fix *x = start(state);
	struct fake_peer silent = {.fd = -1}, busy = {.fd = -1}, mute = {.fd = -1};
	struct fake_msg m = {0};

	assert_int_equal(fake_exchange(&x->f, &x->client, GET("/"), OK, &m, NULL), 0);
	assert_null(fake_header(&m, "connection"));
	fake_msg_free(&m);
	assert_int_equal(fake_client(&x->f, &mute, "shop/client", "shop/web", 80), 0);
	assert_int_equal(fake_client(&x->f, &busy, "shop/client", "shop/web", 80), 0);
	usleep(1100 * 1000); /* the first client and mute: idle for longer than a second */
	assert_int_equal(fake_client(&x->f, &silent, "shop/client", "shop/web", 80), 0);
	assert_int_equal(fake_exchange(&x->f, &busy, GET("/"), OK, &m, NULL), 0);
	fake_msg_free(&m);
	l7_loop_drain(x->f.loop, false);
	assert_true(closed(&x->f, &x->client));
	assert_true(closed(&x->f, &mute));    /* connected a second ago, never sent */
	assert_false(closed(&x->f, &busy));   /* answered just now: its next request comes */
	assert_false(closed(&x->f, &silent)); /* accepted just now, its request on the way */
	assert_int_equal(l7_loop_connections(x->f.loop), 2);
	/* both get their answer, with close */
	assert_int_equal(fake_exchange(&x->f, &silent, GET("/"), OK, &m, NULL), 0);
	assert_string_equal(fake_header(&m, "connection"), "close");
	fake_msg_free(&m);
	assert_int_equal(fake_exchange(&x->f, &busy, GET("/"), OK, &m, NULL), 0);
	assert_string_equal(fake_header(&m, "connection"), "close");
	fake_msg_free(&m);
	assert_true(closed(&x->f, &silent) && closed(&x->f, &busy));
	fake_peer_free(&silent);
	fake_peer_free(&busy);
	fake_peer_free(&mute);
}

/* The next GOAWAY frame's last stream id on FD, reading frames as they
 * come (pumping the loop), or -1. */
static long next_goaway(struct l7_fake *f, int fd)
{
	unsigned char buf[4096];
	size_t have = 0;
	int i;

	for (i = 0; i < 200; i++) {
		ssize_t n = recv(fd, buf + have, sizeof(buf) - have, MSG_DONTWAIT);
		size_t len;

		if (n > 0)
			have += (size_t)n;
		while (have >= 9 &&
		       have >= 9 + (len = (size_t)buf[0] << 16 | buf[1] << 8 | buf[2])) {
			bool goaway = buf[3] == 0x07;
			long last =
			    (long)((buf[9] & 0x7f) << 24 | buf[10] << 16 | buf[11] << 8 | buf[12]);

			memmove(buf, buf + 9 + len, have - 9 - len);
			have -= 9 + len;
			if (goaway)
				return last;
		}
		fake_pump(f, 5);
	}
	return -1;
}

static void an_http2_client_gets_goaway_twice_then_the_close(void **state)
{
	static const char h2[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
				 "\0\0\0\x04\0\0\0\0\0"; /* an empty SETTINGS frame */
	struct fake_fix *x = start(state);

	assert_int_equal(fake_send(&x->f, x->client.fd, h2, sizeof(h2) - 1), 0);
	fake_pump(&x->f, 20);
	l7_loop_drain(x->f.loop, false);
	assert_int_equal(next_goaway(&x->f, x->client.fd), 0x7fffffffL); /* the notice */
	assert_int_equal(l7_loop_connections(x->f.loop), 1);
	l7_loop_drain(x->f.loop, true);
	assert_int_equal(next_goaway(&x->f, x->client.fd), 0); /* no stream taken */
	assert_true(closed(&x->f, &x->client));
	assert_int_equal(l7_loop_connections(x->f.loop), 0);
}

/* The endpoint's node is being replaced (its tunnel got GOAWAY): the
 * request under way finishes, its connection is not pooled again, an idle
 * pooled one is closed within the next prune, and the next request gets a
 * new connection. */
static void a_pooled_connection_to_a_replaced_node_takes_no_more_requests(void **state)
{
	struct fake_fix *x = start(state);
	struct fake_msg m = {0};
	int conn, again;

	assert_int_equal(fake_exchange(&x->f, &x->client, GET("/"), OK, &m, &conn), 0);
	fake_msg_free(&m);
	assert_int_equal(fake_exchange(&x->f, &x->client, GET("/"), OK, &m, &again), 0);
	fake_msg_free(&m);
	assert_int_equal(again, conn); /* pooled */
	/* under way when the GOAWAY comes: answered, then not pooled */
	assert_int_equal(fake_send(&x->f, x->client.fd, GET("/"), strlen(GET("/"))), 0);
	assert_int_equal(fake_backend_read(&x->f, 2000), conn);
	x->f.conns[conn]->goaway = true;
	assert_int_equal(fake_backend_write(&x->f, conn, OK), 0);
	assert_int_equal(fake_read(&x->f, &x->client, &x->resp, 2000), 0);
	assert_int_equal(x->resp.status, 200);
	fake_pump(&x->f, 20);
	assert_true(x->f.conns[conn]->closed);
	assert_int_equal(fake_exchange(&x->f, &x->client, GET("/"), OK, &m, &again), 0);
	fake_msg_free(&m);
	assert_int_not_equal(again, conn);
	/* idle in the pool when it comes: closed by the prune */
	x->f.conns[again]->goaway = true;
	assert_false(x->f.conns[again]->closed);
	l7_loop_prune(x->f.loop);
	fake_pump(&x->f, 20);
	assert_true(x->f.conns[again]->closed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(a_request_in_flight_is_answered_with_close, teardown),
	    cmocka_unit_test_teardown(an_idle_client_is_closed_a_just_answered_or_silent_one_is_not,
				      teardown),
	    cmocka_unit_test_teardown(an_http2_client_gets_goaway_twice_then_the_close, teardown),
	    cmocka_unit_test_teardown(a_pooled_connection_to_a_replaced_node_takes_no_more_requests,
				      teardown),
	};

	return cmocka_run_group_tests_name("l7_drain", tests, NULL, NULL);
}
