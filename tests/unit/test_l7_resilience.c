// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The L7 engine (proxy/l7) when things go wrong: pooled connections that
 * close, retries and their budget, timeouts, requests it must refuse, with
 * a client and endpoints that are socketpairs held by this test
 * (l7_fake.h). The last five each reproduce a defect these tests found
 * (since fixed in proxy/l7): they fail if it comes back.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "l7_fake.h"
#include "l7_fake_mesh.h"

#define OK	    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
#define UNAVAILABLE "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\ndown"
#define GET(path)   "GET " path " HTTP/1.1\r\nHost: web\r\n\r\n"

struct fix {
	struct l7_fake f;
	struct fake_peer client;
	struct fake_msg resp;
	bool started;
	bool broken; /* a defect test failed: the loop is not freed (may hang) */
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
	if (x->started && !x->broken)
		holds = fake_fini(&x->f);
	free(x);
	*state = NULL;
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

/* The proxy's own answer: STATUS with shunt-error naming WHY. */
static void assert_answer(struct fix *x, int status, enum shunt_outcome why)
{
	assert_int_equal(fake_read(&x->f, &x->client, &x->resp, 3000), 0);
	assert_int_equal(x->resp.status, status);
	assert_non_null(fake_header(&x->resp, "shunt-error"));
	assert_string_equal(fake_header(&x->resp, "shunt-error"), shunt_outcome(why)->label);
}

static void keepalive_reuses_the_endpoint_connection(void **state)
{
	struct fix *x = start(state, MESH);
	unsigned long long reused = l7_stats.upstream_reused;
	int a, b;

	assert_int_equal(fake_exchange(&x->f, &x->client, GET("/1"), OK, &x->resp, &a), 0);
	assert_int_equal(fake_exchange(&x->f, &x->client, GET("/2"), OK, &x->resp, &b), 0);
	assert_int_equal(x->f.nconns, 1);
	assert_int_equal(a, b);
	assert_int_equal(l7_stats.upstream_reused - reused, 1);
}

/* The pooled connection of a first exchange takes REQUEST; the endpoint
 * closes it unanswered. */
static void close_pooled_before_answering(struct fix *x, const char *request)
{
	int conn;

	assert_int_equal(fake_exchange(&x->f, &x->client, GET("/1"), OK, &x->resp, NULL), 0);
	send_str(x, request);
	conn = fake_backend_read(&x->f, 2000);
	assert_int_equal(conn, 0);
	fake_peer_free(&x->f.conns[0]->peer);
}

static void stale_pooled_connection_retried_once_for_get(void **state)
{
	struct fix *x = start(state, MESH);
	int conn;

	close_pooled_before_answering(x, GET("/2"));
	conn = fake_backend_read(&x->f, 2000);
	assert_int_equal(conn, 1); /* a new connection */
	assert_string_equal(x->f.conns[1]->req.url, "/2");
	assert_int_equal(fake_backend_write(&x->f, conn, OK), 0);
	assert_int_equal(fake_read(&x->f, &x->client, &x->resp, 2000), 0);
	assert_int_equal(x->resp.status, 200);
	assert_int_equal(x->f.nconns, 2);
}

static void stale_pooled_connection_fails_a_post(void **state)
{
	struct fix *x = start(state, MESH);

	close_pooled_before_answering(x, "POST /2 HTTP/1.1\r\nContent-Length: 1\r\n\r\nx");
	assert_answer(x, 502, SHUNT_OUT_L7_UPSTREAM_RESET);
	assert_int_equal(x->f.nconns, 1);
}

#define RETRY_503(attempts, backoff)                                                               \
	MESH ROUTE "      - retry: {attempts: " attempts ", codes: [503], backoff: " backoff "}\n"

/* Answers the next request with RESPONSE; its connection, or -errno. */
static int serve(struct fix *x, const char *response, int timeout_ms)
{
	int conn = fake_backend_read(&x->f, timeout_ms);

	if (conn >= 0)
		assert_int_equal(fake_backend_write(&x->f, conn, response), 0);
	return conn;
}

static void retries_on_listed_codes_only(void **state)
{
	struct fix *x = start(state, RETRY_503("2", "10ms"));

	send_str(x, GET("/a"));
	assert_true(serve(x, UNAVAILABLE, 2000) >= 0);
	assert_true(serve(x, UNAVAILABLE, 2000) >= 0);
	assert_true(serve(x, OK, 2000) >= 0);
	assert_int_equal(fake_read(&x->f, &x->client, &x->resp, 2000), 0);
	assert_int_equal(x->resp.status, 200);
	assert_int_equal(x->f.last_attempts, 3);
	/* attempts run out: the last 503 goes to the client */
	send_str(x, GET("/b"));
	assert_true(serve(x, UNAVAILABLE, 2000) >= 0);
	assert_true(serve(x, UNAVAILABLE, 2000) >= 0);
	assert_true(serve(x, UNAVAILABLE, 2000) >= 0);
	assert_int_equal(fake_read(&x->f, &x->client, &x->resp, 2000), 0);
	assert_int_equal(x->resp.status, 503);
	assert_string_equal(x->resp.body, "down");
	assert_int_equal(serve(x, OK, 300), -ETIMEDOUT);
	/* a code not listed is not retried */
	send_str(x, GET("/c"));
	assert_true(serve(x, "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n", 2000) >= 0);
	assert_int_equal(fake_read(&x->f, &x->client, &x->resp, 2000), 0);
	assert_int_equal(x->resp.status, 500);
	assert_int_equal(x->f.last_attempts, 1);
}

static void retry_budget_caps_retries_under_full_failure(void **state)
{
	struct fix *x = start(state, RETRY_503("3", "1ms"));
	unsigned long long denied = l7_stats.retries_budget_denied;
	int64_t t0 = now_ms();
	int i, tries = 0, n = 200;
	double elapsed_s, cap;

	for (i = 0; i < n; i++) {
		send_str(x, GET("/"));
		while (x->f.ndone == i) {
			int rc = fake_backend_read(&x->f, 2);

			if (rc >= 0) {
				tries++;
				assert_int_equal(fake_backend_write(&x->f, rc, UNAVAILABLE), 0);
			}
		}
		assert_int_equal(fake_read(&x->f, &x->client, &x->resp, 2000), 0);
		assert_int_equal(x->resp.status, 503);
	}
	elapsed_s = (double)(now_ms() - t0) / 1000.0;
	/* Budget: 10 to start, 0.2 per request, 10 a second. Without it:
	 * 3 retries per request, 600. */
	cap = 10 + 0.2 * n + 10 * elapsed_s + 1;
	print_message("%d requests, %d retries in %.2f s (cap %.0f)\n", n, tries - n, elapsed_s,
		      cap);
	assert_true(tries - n <= (int)cap);
	assert_true(tries - n >= (int)(0.2 * n)); /* every deposit was spent */
	assert_true(l7_stats.retries_budget_denied > denied);
}

static void request_timeout_answers_504(void **state)
{
	struct fix *x = start(state, MESH ROUTE "      - timeouts: {request: 200ms}\n");
	int64_t t0 = now_ms();

	send_str(x, GET("/slow"));
	assert_int_equal(fake_backend_read(&x->f, 2000), 0); /* and never answered */
	assert_answer(x, 504, SHUNT_OUT_L7_REQUEST_TIMEOUT);
	assert_in_range(now_ms() - t0, 190, 1500);
	fake_settle(&x->f);
	assert_true(x->f.conns[0]->closed); /* a half-answered connection is not pooled */
}

static void backend_request_timeout_per_try(void **state)
{
	struct fix *x = start(state, MESH ROUTE "      - timeouts: {request: 3s, backendRequest: "
						"100ms}\n        retry: {attempts: 1, backoff: "
						"1ms}\n");
	int64_t t0 = now_ms();

	send_str(x, GET("/slow"));
	assert_int_equal(fake_backend_read(&x->f, 2000), 0);
	assert_int_equal(fake_backend_read(&x->f, 2000), 1); /* retried after 100 ms */
	assert_answer(x, 504, SHUNT_OUT_L7_TRY_TIMEOUT);
	assert_in_range(now_ms() - t0, 190, 1500); /* two tries, well before 3 s */
	assert_int_equal(x->f.last_attempts, 2);
}

static void garbage_is_400(void **state)
{
	struct fix *x = start(state, MESH);
	struct fake_msg m = {};

	send_str(x, "\x01\x02 nonsense\r\n\r\n");
	assert_answer(x, 400, SHUNT_OUT_L7_BAD_REQUEST);
	assert_int_equal(fake_read(&x->f, &x->client, &m, 1000), -EPIPE);
	assert_int_equal(x->f.nconns, 0);
	fake_msg_free(&m);
}

/* A request whose head is HEADERS (N headers of LEN bytes each). */
static char *big_head(int n, int len)
{
	char *s = malloc((size_t)n * (size_t)(len + 16) + 64), *p = s;
	int i;

	if (!s)
		abort();
	p += sprintf(p, "GET / HTTP/1.1\r\n");
	for (i = 0; i < n; i++) {
		p += sprintf(p, "x-h%d: ", i);
		memset(p, 'v', (size_t)len);
		p += len;
		p += sprintf(p, "\r\n");
	}
	sprintf(p, "\r\n");
	return s;
}

/* HEAD from a new client is refused with 431 (and never sent on). */
static bool refused_431(struct fix *x, const char *what, const char *head)
{
	int rc, sent = x->f.nconns;

	fake_peer_free(&x->client);
	assert_int_equal(fake_client(&x->f, &x->client, "shop/client", "shop/web", 80), 0);
	send_str(x, head);
	rc = fake_read(&x->f, &x->client, &x->resp, 1000);
	if (!rc && x->resp.status == 431 && fake_header(&x->resp, "shunt-error") &&
	    !strcmp(fake_header(&x->resp, "shunt-error"),
		    shunt_outcome(SHUNT_OUT_L7_HEADERS_TOO_LARGE)->label))
		return true;
	print_error("%s: got %d (status %d), %s\n", what, rc, rc ? 0 : x->resp.status,
		    x->f.nconns > sent ? "sent to an endpoint" : "not sent on");
	return false;
}

/* A head over 64 KiB is 431 however it is made: one huge header, or many
 * (under http-parser's own 80 KiB limit too). */
static void headers_over_64k_are_431(void **state)
{
	struct fix *x = start(state, MESH);
	char *many = big_head(70, 1000), *one = big_head(1, 70 * 1024), *huge = big_head(90, 1000);

	bool ok = refused_431(x, "one 70 KiB header", one);

	ok = refused_431(x, "90 headers of 1000 bytes", huge) && ok;
	ok = refused_431(x, "70 headers of 1000 bytes", many) && ok;
	assert_true(ok);
	free(many);
	free(one);
	free(huge);
}

/* A response the endpoint cuts (EOF inside the body) is cut for the client
 * too, not left waiting for the rest until its idle timeout. */
static void a_cut_response_is_cut_for_the_client(void **state)
{
	struct fix *x = start(state, MESH);
	int conn;

	send_str(x, GET("/"));
	conn = serve(x, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc", 2000);
	assert_true(conn >= 0);
	fake_peer_free(&x->f.conns[conn]->peer);
	assert_int_not_equal(fake_read(&x->f, &x->client, &x->resp, 1000), -ETIMEDOUT);
	assert_true(x->client.eof);
}

/* Bytes from the endpoint on an idle pooled connection close it (they
 * once put it in its pool a second time, shared by two requests). */
static void unsolicited_bytes_on_an_idle_connection(void **state)
{
	struct fix *x = start(state, MESH);
	struct fake_peer second = {.fd = -1};
	struct fake_msg m = {};
	char resp[640];
	int i, conn;

	assert_int_equal(fake_exchange(&x->f, &x->client, GET("/1"), OK, &x->resp, NULL), 0);
	assert_int_equal(
	    fake_backend_write(&x->f, 0, "HTTP/1.1 408 Timeout\r\nContent-Length: 0\r\n\r\n"), 0);
	fake_pump(&x->f, 50);
	x->broken = true; /* until the end: l7_loop_free loops on the pool */
	assert_int_equal(fake_client(&x->f, &second, "shop/client", "shop/web", 80), 0);
	send_str(x, GET("/a"));
	assert_int_equal(fake_send(&x->f, second.fd, GET("/b"), strlen(GET("/b"))), 0);
	for (i = 0; i < 2; i++) {
		conn = fake_backend_read(&x->f, 1000);
		assert_true(conn >= 0);
		snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n%s",
			 x->f.conns[conn]->req.url);
		assert_int_equal(fake_backend_write(&x->f, conn, resp), 0);
	}
	assert_int_equal(fake_read(&x->f, &x->client, &x->resp, 1000), 0);
	assert_string_equal(x->resp.body, "/a");
	assert_int_equal(fake_read(&x->f, &second, &m, 1000), 0);
	assert_string_equal(m.body, "/b");
	fake_peer_free(&second);
	fake_msg_free(&m);
	x->broken = false;
}

/* A retried answer without a length (its body ends with the connection)
 * closes its connection: drained, it would belong to no pool and no
 * request, never close, and leak (a HEAD's answer with a Content-Length
 * too: drained for a body that never comes). */
static void a_retried_answer_without_length_is_not_drained(void **state)
{
	struct fix *x = start(state, RETRY_503("1", "1ms"));

	send_str(x, GET("/"));
	assert_int_equal(serve(x, "HTTP/1.1 503 Busy\r\n\r\nbusy", 2000), 0);
	assert_int_equal(serve(x, OK, 2000), 1);
	assert_int_equal(fake_read(&x->f, &x->client, &x->resp, 2000), 0);
	assert_int_equal(x->resp.status, 200);
	fake_settle(&x->f);
	assert_true(x->f.conns[0]->closed);
}

/* Requests the proxy answers itself, pipelined deep, are read one by one
 * from the loop: they once recursed (dispatch -> answer -> finish ->
 * parse_input -> dispatch), and 3,000 in one read overflowed the stack. */
static void many_pipelined_own_answers(void **state)
{
	struct fix *x = start(state, MESH ROUTE "      - matches: [{path: {type: Exact, value: "
						"/x}}]\n");
	const char *one = "GET /nothing HTTP/1.1\r\n\r\n";
	size_t len = strlen(one), n = 4000, i;
	char *all = malloc(len * n + 1);

	assert_non_null(all);
	for (i = 0; i < n; i++)
		memcpy(all + i * len, one, len);
	all[len * n] = 0;
	send_str(x, all);
	for (i = 0; i < n; i++) {
		assert_int_equal(fake_read(&x->f, &x->client, &x->resp, 2000), 0);
		assert_int_equal(x->resp.status, 404);
	}
	free(all);
}

/* An endpoint whose connects fail (here: refused at its node) leaves the
 * rotation for a backoff: quick to fail, it would otherwise draw traffic. */
static void an_unreachable_endpoint_leaves_the_rotation(void **state)
{
	struct fix *x =
	    start(state, MESH "  - {name: pair, namespace: shop, virtualIPs: [10.96.0.30], "
			      "ports: [{port: 80, appProtocol: http}], backends: "
			      "[{workload: a1}, {workload: b1}], trafficPolicy: "
			      "{loadBalancer: {simple: RANDOM}}}\n");
	struct fake_peer c = {.fd = -1};
	int i, j, conn, failed = 0, ok = 0;

	x->f.refuse_dst = "b1";
	assert_int_equal(fake_client(&x->f, &c, "shop/client", "shop/pair", 80), 0);
	for (i = 0; i < 20; i++) {
		fake_msg_free(&x->resp);
		assert_int_equal(fake_send(&x->f, c.fd, GET("/"), strlen(GET("/"))), 0);
		for (j = 0; j < 2000; j++) {
			fake_pump(&x->f, 1);
			if ((conn = fake_backend_poll(&x->f)) >= 0)
				assert_int_equal(fake_backend_write(&x->f, conn, OK), 0);
			if (!fake_read(&x->f, &c, &x->resp, 0))
				break;
		}
		assert_true(x->resp.status == 200 || x->resp.status == 503);
		ok += x->resp.status == 200;
		failed += x->resp.status == 503;
	}
	fake_peer_free(&c);
	/* RANDOM would send about 10 of 20 to b1 without the backoff */
	assert_true(failed >= 1 && failed <= 2);
	assert_int_equal(ok + failed, 20);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(keepalive_reuses_the_endpoint_connection, teardown),
	    cmocka_unit_test_teardown(stale_pooled_connection_retried_once_for_get, teardown),
	    cmocka_unit_test_teardown(stale_pooled_connection_fails_a_post, teardown),
	    cmocka_unit_test_teardown(retries_on_listed_codes_only, teardown),
	    cmocka_unit_test_teardown(retry_budget_caps_retries_under_full_failure, teardown),
	    cmocka_unit_test_teardown(request_timeout_answers_504, teardown),
	    cmocka_unit_test_teardown(backend_request_timeout_per_try, teardown),
	    cmocka_unit_test_teardown(garbage_is_400, teardown),
	    cmocka_unit_test_teardown(headers_over_64k_are_431, teardown),
	    cmocka_unit_test_teardown(many_pipelined_own_answers, teardown),
	    cmocka_unit_test_teardown(a_cut_response_is_cut_for_the_client, teardown),
	    cmocka_unit_test_teardown(a_retried_answer_without_length_is_not_drained, teardown),
	    cmocka_unit_test_teardown(unsolicited_bytes_on_an_idle_connection, teardown),
	    cmocka_unit_test_teardown(an_unreachable_endpoint_leaves_the_rotation, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
