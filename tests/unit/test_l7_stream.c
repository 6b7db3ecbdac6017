// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Request bodies that stream through the L7 engine (l7_body.c): a request
 * goes to its endpoint before its body ends, a body is retried only while
 * the proxy still has all of it, the client waits while the endpoint does
 * not read, and an answer before the body ended closes the connection.
 * The client and the endpoints are socketpairs held by the test (l7_fake.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <cmocka.h>

#include "l7_fake.h"
#include "l7_fake_mesh.h"

#define OK	    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
#define UNAVAILABLE "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\ndown"
#define RETRY_503   MESH ROUTE "      - retry: {attempts: 2, codes: [503], backoff: 10ms}\n"
#define MIB	    (1024 * 1024)

struct fix {
	struct l7_fake f;
	struct fake_peer client;
	struct fake_msg resp;
	char *body; /* the body the client sends: a pattern */
	size_t body_len;
	int got; /* a request an endpoint read whole while the client sent, or -1 */
};

static struct fix *start(void **state, const char *yaml, size_t body_len)
{
	struct fix *x = calloc(1, sizeof(*x));
	char err[512];
	size_t i;

	assert_non_null(x);
	*state = x;
	x->client.fd = -1;
	x->got = -1;
	if (fake_init(&x->f, yaml, err, sizeof(err)))
		fail_msg("config: %s", err);
	assert_int_equal(fake_client(&x->f, &x->client, "shop/client", "shop/web", 80), 0);
	x->body_len = body_len;
	x->body = malloc(body_len + 1);
	assert_non_null(x->body);
	for (i = 0; i < body_len; i++)
		x->body[i] = (char)('a' + (i * 7 + i / 4096) % 26);
	return x;
}

static int teardown(void **state)
{
	struct fix *x = *state;
	int holds;

	fake_peer_free(&x->client);
	fake_msg_free(&x->resp);
	holds = fake_fini(&x->f);
	free(x->body);
	free(x);
	return holds ? -1 : 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void send_str(struct fix *x, const char *s)
{
	assert_int_equal(fake_send(&x->f, x->client.fd, s, strlen(s)), 0);
}

/* Sends LEN bytes at P from the client without blocking, running the loop
 * and (if READ_ENDPOINTS) letting the endpoints read, for at most MS; how
 * many bytes went. */
static size_t send_for(struct fix *x, const char *p, size_t len, bool read_endpoints, int ms)
{
	int64_t end = now_ms() + ms;
	size_t sent = 0;

	while (sent < len && now_ms() < end) {
		ssize_t n = send(x->client.fd, p + sent, len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0)
			sent += (size_t)n;
		fake_pump(&x->f, n > 0 ? 0 : 1);
		if (read_endpoints && x->got < 0)
			x->got = fake_backend_poll(&x->f);
	}
	return sent;
}

/* The head of a POST of the fixture's whole body. */
static void send_post_head(struct fix *x)
{
	char head[128];

	snprintf(head, sizeof(head),
		 "POST /up HTTP/1.1\r\nHost: web\r\nContent-Length: %zu\r\n\r\n", x->body_len);
	send_str(x, head);
}

/* A POST of the whole body, the endpoints reading while it goes. */
static void send_post(struct fix *x)
{
	send_post_head(x);
	assert_int_equal(send_for(x, x->body, x->body_len, true, 10000), x->body_len);
}

/* The next request an endpoint read whole: its connection's index. */
static int next_request(struct fix *x)
{
	int conn = x->got;

	x->got = -1;
	return conn >= 0 ? conn : fake_backend_read(&x->f, 2000);
}

static void assert_body(const struct fake_msg *m, const struct fix *x, size_t len)
{
	assert_int_equal(m->body_len, len);
	assert_memory_equal(m->body, x->body, len);
}

/* The first endpoint connection got the whole body; its 200 reaches the
 * client. */
static void assert_posted_and_answered(struct fix *x)
{
	int conn = next_request(x);

	assert_int_equal(conn, 0);
	assert_body(&x->f.conns[0]->req, x, x->body_len);
	assert_int_equal(fake_backend_write(&x->f, conn, OK), 0);
	assert_int_equal(fake_read(&x->f, &x->client, &x->resp, 2000), 0);
	assert_int_equal(x->resp.status, 200);
}

/* The endpoint has the request and the first part of a chunked body while
 * the client is still sending the rest. */
static void a_chunked_body_reaches_the_endpoint_before_it_ends(void **state)
{
	struct fix *x = start(state, MESH, 0);
	struct fake_msg *seen;
	int conn;

	send_str(x, "POST /chat HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n"
		    "5\r\nhello\r\n");
	assert_int_equal(fake_backend_read(&x->f, 300), -ETIMEDOUT); /* not complete yet */
	assert_int_equal(x->f.nconns, 1);
	seen = &x->f.conns[0]->req;
	assert_true(seen->chunked); /* the length is not known: it goes on chunked */
	assert_string_equal(seen->url, "/chat");
	assert_non_null(seen->body);
	assert_string_equal(seen->body, "hello");
	send_str(x, "6\r\n world\r\n0\r\n\r\n");
	conn = fake_backend_read(&x->f, 2000);
	assert_int_equal(conn, 0);
	assert_string_equal(seen->body, "hello world");
	assert_int_equal(fake_backend_write(&x->f, conn, OK), 0);
	assert_int_equal(fake_read(&x->f, &x->client, &x->resp, 2000), 0);
	assert_int_equal(x->resp.status, 200);
}

/* A long body streams, and is still kept whole: a retry sends all of it. */
static void a_streamed_body_that_fits_the_replay_buffer_is_retried(void **state)
{
	struct fix *x = start(state, RETRY_503, 3 * MIB);
	int conn;

	send_post(x);
	conn = next_request(x);
	assert_true(conn >= 0);
	assert_body(&x->f.conns[conn]->req, x, x->body_len);
	assert_int_equal(fake_backend_write(&x->f, conn, UNAVAILABLE), 0);
	conn = next_request(x);
	assert_true(conn >= 0);
	assert_body(&x->f.conns[conn]->req, x, x->body_len);
	assert_int_equal(fake_backend_write(&x->f, conn, OK), 0);
	assert_int_equal(fake_read(&x->f, &x->client, &x->resp, 2000), 0);
	assert_int_equal(x->resp.status, 200);
	assert_int_equal(x->f.last_attempts, 2);
}

/* Past the replay buffer (8 MiB) the body is gone from the proxy: the
 * endpoint's 503 goes to the client, never a retry with half a body. */
static void a_body_past_the_replay_buffer_is_not_retried(void **state)
{
	struct fix *x = start(state, RETRY_503, 9 * MIB);
	int conn;

	send_post(x);
	conn = next_request(x);
	assert_int_equal(conn, 0);
	assert_body(&x->f.conns[0]->req, x, x->body_len);
	assert_int_equal(fake_backend_write(&x->f, conn, UNAVAILABLE), 0);
	assert_int_equal(fake_read(&x->f, &x->client, &x->resp, 2000), 0);
	assert_int_equal(x->resp.status, 503);
	assert_null(fake_header(&x->resp, "shunt-error")); /* the endpoint's answer */
	assert_int_equal(x->f.last_attempts, 1);
	assert_int_equal(x->f.nconns, 1);
}

/* While the endpoint reads nothing, the proxy takes a bounded part of the
 * body (then the client's socket fills); once it reads, all arrives. */
static void the_client_waits_while_the_endpoint_does_not_read(void **state)
{
	struct fix *x = start(state, MESH, 12 * MIB);
	size_t sent;

	send_post_head(x);
	sent = send_for(x, x->body, x->body_len, false, 1000);
	/* the proxy's share: 1 MiB unsent, 256 KiB queued on the endpoint's
	 * socket, 80 KiB read ahead; the rest is socket buffers */
	assert_true(sent < 6 * MIB);
	sent += send_for(x, x->body + sent, x->body_len - sent, true, 10000);
	assert_int_equal(sent, x->body_len);
	assert_posted_and_answered(x);
}

/* The client sent its whole body while the endpoint read nothing (the
 * proxy took it all: under 1 MiB beyond what it queued on the endpoint's
 * socket); then the endpoint reads, and its socket takes more than the
 * proxy queues per send, so no EPOLLOUT need follow, and the client sends
 * nothing more. The rest of the body still goes: the proxy queues on until
 * the socket is full or the body is all sent. (It stopped after one
 * L7_BODY_AHEAD: the 3 MB upload of test_l7_bodies_arrive_intact_both_ways
 * hung after 100 Continue.) */
static void a_body_read_whole_ahead_of_its_endpoint_is_all_sent(void **state)
{
	struct fix *x = start(state, MESH, 2 * MIB);

	/* 1 MiB of socket: about that much waits there, 256 KiB on the
	 * proxy's buffer, the last 768 KiB of the body in the proxy alone */
	x->f.up_sndbuf = MIB / 2;
	send_post_head(x);
	assert_int_equal(send_for(x, x->body, x->body_len, false, 2000), x->body_len);
	fake_settle(&x->f);
	assert_int_equal(x->f.nconns, 1);
	assert_posted_and_answered(x);
}

/* Answered by the proxy before its body ended, a request's connection
 * closes after the answer (the rest of the body is never read). A short
 * body read whole keeps the connection. */
static void an_answer_before_the_body_ended_closes_the_connection(void **state)
{
	struct fix *x =
	    start(state, MESH ROUTE "      - matches: [{path: {type: Exact, value: /only}}]\n", 0);
	struct fake_msg more = {};

	send_str(x, "POST /short HTTP/1.1\r\nHost: web\r\nContent-Length: 5\r\n\r\nhello");
	assert_int_equal(fake_read(&x->f, &x->client, &x->resp, 2000), 0);
	assert_int_equal(x->resp.status, 404);
	send_str(x, "POST /long HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n"
		    "5\r\nhello\r\n");
	assert_int_equal(fake_read(&x->f, &x->client, &x->resp, 2000), 0);
	assert_int_equal(x->resp.status, 404);
	assert_int_equal(fake_read(&x->f, &x->client, &more, 2000), -EPIPE);
	assert_int_equal(x->f.nconns, 0);
	fake_msg_free(&more);
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

/* A client pipelining far ahead of a slow response: the proxy reads one
 * head's worth ahead, then stops asking for its socket (it used to wake
 * up for it, level-triggered, without reading: a busy loop). */
static void a_client_far_ahead_of_its_response_does_not_spin_the_loop(void **state)
{
	struct fix *x = start(state, MESH, 300 * 1024);
	static const char get[] = "GET /next HTTP/1.1\r\nHost: web\r\n\r\n";
	size_t i;
	double cpu;

	for (i = 0; i + sizeof(get) - 1 <= x->body_len; i += sizeof(get) - 1)
		memcpy(x->body + i, get, sizeof(get) - 1);
	send_str(x, "GET /slow HTTP/1.1\r\nHost: web\r\n\r\n");
	assert_int_equal(next_request(x), 0); /* the endpoint has it, and waits */
	(void)send_for(x, x->body, i, false, 300);
	cpu = cpu_seconds();
	fake_pump(&x->f, 500);
	cpu = cpu_seconds() - cpu;
	assert_true(cpu < 0.1); /* a spin takes all of the 0.5 s */
	assert_int_equal(fake_backend_write(&x->f, 0, OK), 0);
	assert_int_equal(fake_read(&x->f, &x->client, &x->resp, 2000), 0);
	assert_int_equal(x->resp.status, 200);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(a_chunked_body_reaches_the_endpoint_before_it_ends, teardown),
	    cmocka_unit_test_teardown(a_streamed_body_that_fits_the_replay_buffer_is_retried,
				      teardown),
	    cmocka_unit_test_teardown(a_body_past_the_replay_buffer_is_not_retried, teardown),
	    cmocka_unit_test_teardown(the_client_waits_while_the_endpoint_does_not_read, teardown),
	    cmocka_unit_test_teardown(a_body_read_whole_ahead_of_its_endpoint_is_all_sent,
				      teardown),
	    cmocka_unit_test_teardown(an_answer_before_the_body_ended_closes_the_connection,
				      teardown),
	    cmocka_unit_test_teardown(a_client_far_ahead_of_its_response_does_not_spin_the_loop,
				      teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
