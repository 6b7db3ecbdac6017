// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The admin HTTP endpoint (/metrics, /healthz) of the agent and the proxy,
 * over real loopback sockets: what each request gets back, what never
 * reaches the handler, and that no client can stall or kill the server.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "common/http_server.h"

#define METRICS_BODY "# TYPE shunt_test_total counter\nshunt_test_total 3\n"

/* What the handler saw, and what /healthz and /big answer. */
struct handler_ctx {
	atomic_int calls;
	char path[512];
	bool healthy;
	size_t big_len;
};

static int set_body(char **body, size_t *len, const char *text)
{
	*body = strdup(text);
	*len = *body ? strlen(text) : 0;
	return *body ? 0 : -1;
}

static int handler(const char *path, char **body, size_t *len, void *arg)
{
	struct handler_ctx *h = arg;

	atomic_fetch_add(&h->calls, 1);
	snprintf(h->path, sizeof(h->path), "%s", path);
	if (!strcmp(path, "/metrics"))
		return set_body(body, len, METRICS_BODY) ? 503 : 200;
	if (!strcmp(path, "/healthz"))
		return set_body(body, len, h->healthy ? "ok\n" : "no config applied yet\n") ||
			       !h->healthy
			   ? 503
			   : 200;
	if (!strcmp(path, "/big")) {
		*body = malloc(h->big_len);
		if (!*body)
			return 503;
		memset(*body, 'm', h->big_len);
		*len = h->big_len;
		return 200;
	}
	if (!strncmp(path, "/echo/", 6))
		return set_body(body, len, path) ? 503 : 200;
	return set_body(body, len, "not found\n") ? 503 : 404;
}

struct server {
	int fd, port;
	struct handler_ctx h;
};

static int setup(void **state)
{
	struct server *s = calloc(1, sizeof(*s));
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	if (!s)
		return -1;
	s->fd = http_listen("127.0.0.1:0");
	if (s->fd < 0 || getsockname(s->fd, (struct sockaddr *)&sin, &len)) {
		free(s);
		return -1;
	}
	s->port = ntohs(sin.sin_port);
	s->h.healthy = true;
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct server *s = *state;

	close(s->fd);
	free(s);
	return 0;
}

static int client_connect(int port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct timeval tv = {.tv_sec = 10};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

static void send_text(int fd, const char *text, size_t len)
{
	assert_int_equal(send(fd, text, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* Everything until the server closes (a reset ends it too). */
static char *read_to_eof(int fd, size_t *len)
{
	size_t cap = 4096, used = 0;
	char *buf = malloc(cap + 1);
	ssize_t n;

	assert_non_null(buf);
	for (;;) {
		if (used == cap) {
			cap *= 2;
			buf = realloc(buf, cap + 1);
			assert_non_null(buf);
		}
		n = read(fd, buf + used, cap - used);
		if (n <= 0)
			break;
		used += (size_t)n;
	}
	buf[used] = 0;
	*len = used;
	return buf;
}

struct response {
	char *raw;
	size_t raw_len;
	int status;
	char reason[64];
	long content_length;
	const char *body;
	size_t body_len;
};

/* The status line, Content-Length and body of RAW; status 0 if none. */
static void parse_response(struct response *r)
{
	const char *end = strstr(r->raw, "\r\n\r\n"), *cl;

	r->status = 0;
	r->content_length = -1;
	if (sscanf(r->raw, "HTTP/1.0 %d %63[^\r]", &r->status, r->reason) != 2 || !end)
		return;
	cl = strstr(r->raw, "\r\nContent-Length: ");
	if (cl && cl < end)
		r->content_length = strtol(cl + 18, NULL, 10);
	r->body = end + 4;
	r->body_len = r->raw_len - (size_t)(r->body - r->raw);
}

/* One request on a fresh connection, answered by one http_serve_one. */
static void exchange(struct server *s, const char *req, size_t req_len, struct response *r)
{
	int fd = client_connect(s->port);

	send_text(fd, req, req_len);
	http_serve_one(s->fd, handler, &s->h);
	r->raw = read_to_eof(fd, &r->raw_len);
	close(fd);
	parse_response(r);
}

static void get(struct server *s, const char *path, struct response *r)
{
	char req[1024];
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path);

	exchange(s, req, (size_t)n, r);
}

static void assert_answer(const struct response *r, int status, const char *reason)
{
	assert_int_equal(r->status, status);
	assert_string_equal(r->reason, reason);
	assert_int_equal(r->content_length, (long)r->body_len);
}

static void listen_accepts_ipv4_ipv6_and_refuses_garbage(void **state)
{
	static const char *const bad[] = {
	    "127.0.0.1",
	    "127.0.0.1:",
	    "127.0.0.1:65536",
	    "127.0.0.1:80x",
	    "localhost:80",
	    "[::1:80",
	    "[zz::1]:80",
	    ":80",
	    "127.0.0.1:-1",
	    /* a host longer than any address */
	    "1111111111111111111111111111111111111111111111111111111111111111111111:80",
	};
	struct server *s = *state;
	char taken[32];
	size_t i;
	int fd;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fd = http_listen(bad[i]);
		if (fd >= 0)
			close(fd);
		assert_int_equal(fd, -EINVAL);
	}
	fd = http_listen("[::1]:0");
	if (fd >= 0)
		close(fd);
	else
		assert_true(fd == -EADDRNOTAVAIL || fd == -EAFNOSUPPORT); /* no IPv6 here */
	snprintf(taken, sizeof(taken), "127.0.0.1:%d", s->port);
	assert_int_equal(http_listen(taken), -EADDRINUSE);
}

static void metrics_are_served_with_length_and_type(void **state)
{
	struct server *s = *state;
	struct response r;

	get(s, "/metrics", &r);
	assert_answer(&r, 200, "OK");
	assert_int_equal(r.body_len, strlen(METRICS_BODY));
	assert_memory_equal(r.body, METRICS_BODY, r.body_len);
	assert_non_null(strstr(r.raw, "\r\nContent-Type: text/plain; version=0.0.4"));
	assert_non_null(strstr(r.raw, "\r\nConnection: close\r\n"));
	assert_string_equal(s->h.path, "/metrics");
	free(r.raw);
}

/* The handler's status reaches the client: kubelet reads only that. */
static void healthz_status_comes_from_the_handler(void **state)
{
	struct server *s = *state;
	struct response r;

	get(s, "/healthz", &r);
	assert_answer(&r, 200, "OK");
	free(r.raw);
	s->h.healthy = false;
	get(s, "/healthz", &r);
	assert_answer(&r, 503, "Service Unavailable");
	assert_string_equal(r.body, "no config applied yet\n");
	free(r.raw);
}

static void unknown_path_is_404(void **state)
{
	struct server *s = *state;
	struct response r;

	get(s, "/nope", &r);
	assert_answer(&r, 404, "Not Found");
	assert_string_equal(r.body, "not found\n");
	free(r.raw);
}

static void query_string_is_not_part_of_the_path(void **state)
{
	struct server *s = *state;
	struct response r;

	get(s, "/metrics?name[]=shunt_test_total", &r);
	assert_answer(&r, 200, "OK");
	assert_string_equal(s->h.path, "/metrics");
	free(r.raw);
}

/* Other methods and garbage are answered 405; the handler never runs. */
static void non_get_requests_never_reach_the_handler(void **state)
{
	static const char *const reqs[] = {
	    "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
	    "get /metrics HTTP/1.1\r\n\r\n",
	    "\x16\x03\x01\x02\x01\x01\xfc\x03\x03\r\n\r\n" /* TLS */,
	    "GET\r\n\r\n",
	};
	struct server *s = *state;
	struct response r;
	size_t i;

	for (i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		exchange(s, reqs[i], strlen(reqs[i]), &r);
		assert_answer(&r, 405, "Method Not Allowed");
		free(r.raw);
	}
	assert_int_equal(atomic_load(&s->h.calls), 0);
}

/* A head that does not end within the server's 2 KiB is refused, not
 * answered from its first part. */
static void oversized_request_head_is_refused(void **state)
{
	struct server *s = *state;
	struct response r;
	char *req = malloc(8192);
	size_t len;

	assert_non_null(req);
	len = (size_t)sprintf(req, "GET /metrics HTTP/1.1\r\nX-Pad: ");
	memset(req + len, 'a', 6000);
	len += 6000;
	len += (size_t)sprintf(req + len, "\r\n\r\n");
	exchange(s, req, len, &r);
	assert_answer(&r, 431, "Request Header Fields Too Large");
	assert_int_equal(atomic_load(&s->h.calls), 0);
	free(r.raw);
	free(req);
}

/* A path longer than the server keeps is refused, not cut to a prefix. */
static void overlong_path_is_refused(void **state)
{
	struct server *s = *state;
	struct response r;
	char path[400] = "/echo/";

	memset(path + 6, 'p', 300);
	get(s, path, &r);
	assert_answer(&r, 414, "URI Too Long");
	assert_int_equal(atomic_load(&s->h.calls), 0);
	free(r.raw);
}

struct slow_writer {
	int fd;
	const char *const *parts;
};

static void *write_slowly(void *arg)
{
	struct slow_writer *w = arg;
	const struct timespec pause = {.tv_nsec = 50 * 1000000};
	size_t i;

	for (i = 0; w->parts[i]; i++) {
		nanosleep(&pause, NULL);
		send(w->fd, w->parts[i], strlen(w->parts[i]), MSG_NOSIGNAL);
	}
	return NULL;
}

static void request_in_pieces_is_assembled(void **state)
{
	static const char *const parts[] = {"GE", "T /metr", "ics HTTP/1.1\r\nHost: x\r", "\n\r\n",
					    NULL};
	struct server *s = *state;
	struct slow_writer w = {.parts = parts};
	struct response r;
	pthread_t t;

	w.fd = client_connect(s->port);
	assert_int_equal(pthread_create(&t, NULL, write_slowly, &w), 0);
	http_serve_one(s->fd, handler, &s->h);
	pthread_join(t, NULL);
	r.raw = read_to_eof(w.fd, &r.raw_len);
	close(w.fd);
	parse_response(&r);
	assert_answer(&r, 200, "OK");
	assert_string_equal(s->h.path, "/metrics");
	free(r.raw);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A client that connects and says nothing is dropped after the timeout;
 * one that hangs up at once costs nothing; the next client is served. */
static void silent_or_vanished_clients_do_not_block_the_next(void **state)
{
	struct server *s = *state;
	int silent = client_connect(s->port), gone = client_connect(s->port);
	struct response r;
	double t0, waited;
	size_t len;
	char *got;

	close(gone);
	t0 = now_s();
	alarm(10); /* a server that waits forever ends the test (SIGALRM) */
	http_serve_one(s->fd, handler, &s->h);
	alarm(0);
	waited = now_s() - t0;
	got = read_to_eof(silent, &len);
	assert_int_equal(len, 0);
	assert_true(waited >= 1.5 && waited < 5);
	free(got);
	close(silent);
	t0 = now_s();
	http_serve_one(s->fd, handler, &s->h);
	assert_true(now_s() - t0 < 1);
	get(s, "/metrics", &r);
	assert_answer(&r, 200, "OK");
	assert_int_equal(atomic_load(&s->h.calls), 1);
	free(r.raw);
}

struct reader {
	int fd;
	char *raw;
	size_t len;
};

static void *read_all(void *arg)
{
	struct reader *rd = arg;

	rd->raw = read_to_eof(rd->fd, &rd->len);
	return NULL;
}

/* A body far larger than the socket buffers arrives whole. */
static void large_body_is_sent_whole(void **state)
{
	struct server *s = *state;
	struct reader rd;
	struct response r;
	pthread_t t;
	size_t i;

	s->h.big_len = 8 << 20;
	rd.fd = client_connect(s->port);
	send_text(rd.fd, "GET /big HTTP/1.0\r\n\r\n", 21);
	assert_int_equal(pthread_create(&t, NULL, read_all, &rd), 0);
	http_serve_one(s->fd, handler, &s->h);
	pthread_join(t, NULL);
	close(rd.fd);
	r.raw = rd.raw;
	r.raw_len = rd.len;
	parse_response(&r);
	assert_answer(&r, 200, "OK");
	assert_int_equal(r.body_len, s->h.big_len);
	for (i = 0; i < r.body_len; i++)
		if (r.body[i] != 'm')
			fail_msg("byte %zu of the body is %#x", i, r.body[i]);
	free(r.raw);
}

/* A scraper that hangs up before reading the answer must not kill the
 * server with SIGPIPE (the agent does not ignore it). */
static void client_gone_before_the_answer_is_survived(void **state)
{
	struct server *s = *state;
	struct response r;
	int fd, i;

	assert_true(signal(SIGPIPE, SIG_DFL) != SIG_ERR);
	s->h.big_len = 4 << 20;
	for (i = 0; i < 3; i++) {
		fd = client_connect(s->port);
		send_text(fd, "GET /big HTTP/1.0\r\n\r\n", 21);
		close(fd);
		http_serve_one(s->fd, handler, &s->h);
	}
	get(s, "/metrics", &r);
	assert_answer(&r, 200, "OK");
	free(r.raw);
}

#define CLIENTS		    8
#define REQUESTS_PER_CLIENT 25

struct client_run {
	int port, id, ok;
};

static void *client_loop(void *arg)
{
	struct client_run *c = arg;
	char req[128], path[64];
	struct response r;
	int i, fd, n;

	for (i = 0; i < REQUESTS_PER_CLIENT; i++) {
		snprintf(path, sizeof(path), "/echo/%d/%d", c->id, i);
		n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\n\r\n", path);
		fd = client_connect(c->port);
		if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
			close(fd);
			continue;
		}
		r.raw = read_to_eof(fd, &r.raw_len);
		close(fd);
		parse_response(&r);
		c->ok += r.status == 200 && r.body_len == strlen(path) &&
			 !memcmp(r.body, path, r.body_len);
		free(r.raw);
	}
	return NULL;
}

struct serve_loop {
	struct server *s;
	atomic_bool stop;
};

static void *serve_until_stopped(void *arg)
{
	struct serve_loop *l = arg;
	struct pollfd pfd = {.fd = l->s->fd, .events = POLLIN};

	while (!atomic_load(&l->stop))
		if (poll(&pfd, 1, 100) > 0)
			http_serve_one(l->s->fd, handler, &l->s->h);
	return NULL;
}

/* Clients at once, each getting the answer to its own request. */
static void concurrent_clients_each_get_their_own_answer(void **state)
{
	struct server *s = *state;
	struct serve_loop loop = {.s = s};
	struct client_run runs[CLIENTS];
	pthread_t server, clients[CLIENTS];
	int i, ok = 0;

	assert_int_equal(pthread_create(&server, NULL, serve_until_stopped, &loop), 0);
	for (i = 0; i < CLIENTS; i++) {
		runs[i] = (struct client_run){.port = s->port, .id = i};
		assert_int_equal(pthread_create(&clients[i], NULL, client_loop, &runs[i]), 0);
	}
	for (i = 0; i < CLIENTS; i++) {
		pthread_join(clients[i], NULL);
		ok += runs[i].ok;
	}
	atomic_store(&loop.stop, true);
	pthread_join(server, NULL);
	assert_int_equal(ok, CLIENTS * REQUESTS_PER_CLIENT);
	assert_int_equal(atomic_load(&s->h.calls), CLIENTS * REQUESTS_PER_CLIENT);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(listen_accepts_ipv4_ipv6_and_refuses_garbage),
	    T(metrics_are_served_with_length_and_type),
	    T(healthz_status_comes_from_the_handler),
	    T(unknown_path_is_404),
	    T(query_string_is_not_part_of_the_path),
	    T(non_get_requests_never_reach_the_handler),
	    T(oversized_request_head_is_refused),
	    T(overlong_path_is_refused),
	    T(request_in_pieces_is_assembled),
	    T(silent_or_vanished_clients_do_not_block_the_next),
	    T(large_body_is_sent_whole),
	    T(client_gone_before_the_answer_is_survived),
	    T(concurrent_clients_each_get_their_own_answer),
	};

	return cmocka_run_group_tests_name("http_server", tests, NULL, NULL);
}
