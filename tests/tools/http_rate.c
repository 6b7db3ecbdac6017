// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * shunt-http-rate: HTTP/1.1 GETs at a fixed rate, for latency at a given
 * load (the L7 bench, scripts/bench-l7.sh).
 *
 *   shunt-http-rate --connect ADDR:PORT [--rate 1000] [--seconds 5]
 *                   [--conns 16] [--path /] [--host NAME]
 *
 * Request i is due at start + i / rate. It goes out on an idle keep-alive
 * connection when it is due, or as soon as one is free; its latency runs
 * from when it was due, not from when it was sent, so a slow answer that
 * holds up the next requests is counted in theirs too (no coordinated
 * omission). Responses are parsed with http-parser. A non-2xx answer, a
 * broken connection or a request still unanswered 2 s after the last one
 * was due is an error. Prints one JSON line.
 */
#include <errno.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "netaddr.h"

#define DRAIN_NS  2000000000ull
#define MAX_CONNS 1024

struct conn {
	int fd;
	http_parser parser;
	bool busy;     /* a request is in flight */
	bool complete; /* its response ended (set by the parser) */
	bool close;    /* the server will not keep the connection */
	uint64_t due;  /* when the request in flight was due */
};

struct run {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char request[1024];
	size_t request_len;
	double rate, seconds;
	int nconns;
	struct conn *conns;
	uint64_t start, total, next; /* requests due so far: next */
	uint64_t *queue;	     /* due times of requests waiting for a connection */
	uint64_t qhead, qtail;
	uint64_t *lat; /* ns, of the answered requests */
	uint64_t sent, ok, errors, queued;
	int epfd, tfd;
};

static http_parser_settings parser_settings;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t due_time(const struct run *r, uint64_t i)
{
	return r->start + (uint64_t)((double)i * 1e9 / r->rate);
}

static int on_message_complete(http_parser *p)
{
	struct conn *c = p->data;

	c->complete = true;
	c->close = !http_should_keep_alive(p);
	return 0;
}

static int conn_open(struct run *r, struct conn *c)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
	int one = 1;

	c->fd = socket(r->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&r->addr, r->addrlen) ||
	    epoll_ctl(r->epfd, EPOLL_CTL_ADD, c->fd, &ev)) {
		int err = -errno;

		close(c->fd);
		c->fd = -1;
		return err;
	}
	http_parser_init(&c->parser, HTTP_RESPONSE);
	c->parser.data = c;
	c->busy = c->complete = c->close = false;
	return 0;
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->busy = false;
}

/* Sends the request due at DUE on C; a failure is that request's error. */
static void conn_send(struct run *r, struct conn *c, uint64_t due)
{
	if (c->fd < 0 && conn_open(r, c)) {
		r->errors++;
		return;
	}
	r->sent++;
	if (send(c->fd, r->request, r->request_len, MSG_NOSIGNAL) != (ssize_t)r->request_len) {
		r->errors++;
		conn_close(c);
		return;
	}
	c->busy = true;
	c->complete = false;
	c->due = due;
}

/* Requests due by now join the queue; queued ones go to idle connections. */
static void dispatch(struct run *r)
{
	uint64_t now = now_ns();
	int i;

	while (r->next < r->total && due_time(r, r->next) <= now)
		r->queue[r->qtail++] = due_time(r, r->next++);
	for (i = 0; i < r->nconns && r->qhead < r->qtail; i++) {
		if (r->conns[i].busy)
			continue;
		if (r->queue[r->qhead] + 1000000 < now)
			r->queued++; /* waited over 1 ms for a free connection */
		conn_send(r, &r->conns[i], r->queue[r->qhead++]);
	}
}

static void conn_readable(struct run *r, struct conn *c)
{
	char buf[65536];
	ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
	size_t used;

	if (n <= 0 || !c->busy) {
		if (c->busy)
			r->errors++;
		conn_close(c);
		return;
	}
	used = http_parser_execute(&c->parser, &parser_settings, buf, (size_t)n);
	if (HTTP_PARSER_ERRNO(&c->parser) != HPE_OK || used != (size_t)n) {
		r->errors++;
		conn_close(c);
		return;
	}
	if (!c->complete)
		return;
	if (c->parser.status_code >= 200 && c->parser.status_code < 300)
		r->lat[r->ok++] = now_ns() - c->due;
	else
		r->errors++;
	c->busy = false;
	if (c->close)
		conn_close(c);
}

static int arm_timer(struct run *r)
{
	struct itimerspec its = {0};
	uint64_t at;

	if (r->next >= r->total)
		at = due_time(r, r->total) + DRAIN_NS;
	else
		at = due_time(r, r->next);
	its.it_value.tv_sec = (time_t)(at / 1000000000ull);
	its.it_value.tv_nsec = (long)(at % 1000000000ull);
	return timerfd_settime(r->tfd, TFD_TIMER_ABSTIME, &its, NULL) ? -errno : 0;
}

static bool in_flight(const struct run *r)
{
	int i;

	if (r->qhead < r->qtail)
		return true;
	for (i = 0; i < r->nconns; i++)
		if (r->conns[i].busy)
			return true;
	return false;
}

static int run_loop(struct run *r)
{
	struct epoll_event evs[64];
	uint64_t deadline = due_time(r, r->total) + DRAIN_NS, expirations;
	int n, i, err;

	while (r->next < r->total || (in_flight(r) && now_ns() < deadline)) {
		if ((err = arm_timer(r)))
			return err;
		n = epoll_wait(r->epfd, evs, 64, -1);
		if (n < 0 && errno != EINTR)
			return -errno;
		for (i = 0; i < n; i++) {
			if (evs[i].data.ptr == NULL) {
				if (read(r->tfd, &expirations, sizeof(expirations)) < 0 &&
				    errno != EAGAIN)
					return -errno;
				continue;
			}
			conn_readable(r, evs[i].data.ptr);
		}
		dispatch(r);
	}
	/* Still unanswered after the drain time: errors. */
	r->errors += r->qtail - r->qhead;
	for (i = 0; i < r->nconns; i++)
		r->errors += r->conns[i].busy;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double pct_us(const struct run *r, double p)
{
	uint64_t i;

	if (!r->ok)
		return 0;
	i = (uint64_t)(p * (double)r->ok);
	if (i >= r->ok)
		i = r->ok - 1;
	return (double)r->lat[i] / 1000.0;
}

static void report(struct run *r)
{
	qsort(r->lat, r->ok, sizeof(*r->lat), cmp_u64);
	printf("{\"rate\":%g,\"seconds\":%g,\"conns\":%d,\"sent\":%llu,\"ok\":%llu,\"errors\":%llu,"
	       "\"queued\":%llu,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f}\n",
	       r->rate, r->seconds, r->nconns, (unsigned long long)r->sent,
	       (unsigned long long)r->ok, (unsigned long long)r->errors,
	       (unsigned long long)r->queued, pct_us(r, 0.50), pct_us(r, 0.90), pct_us(r, 0.99),
	       r->ok ? (double)r->lat[r->ok - 1] / 1000.0 : 0.0);
}

static int parse_args(struct run *r, int argc, char **argv)
{
	const char *connect = NULL, *path = "/", *host = NULL;
	int i;

	for (i = 1; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];

		if (!strcmp(k, "--connect"))
			connect = v;
		else if (!strcmp(k, "--rate"))
			r->rate = atof(v);
		else if (!strcmp(k, "--seconds"))
			r->seconds = atof(v);
		else if (!strcmp(k, "--conns"))
			r->nconns = atoi(v);
		else if (!strcmp(k, "--path"))
			path = v;
		else if (!strcmp(k, "--host"))
			host = v;
		else
			return -EINVAL;
	}
	if (i != argc || !connect || netaddr_parse(connect, &r->addr, &r->addrlen) ||
	    r->rate <= 0 || r->seconds <= 0 || r->nconns < 1 || r->nconns > MAX_CONNS)
		return -EINVAL;
	r->request_len =
	    (size_t)snprintf(r->request, sizeof(r->request),
			     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: shunt-http-rate\r\n\r\n",
			     path, host ? host : connect);
	return r->request_len < sizeof(r->request) ? 0 : -EINVAL;
}

static int run_setup(struct run *r)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	int i, err;

	r->total = (uint64_t)(r->rate * r->seconds);
	r->conns = calloc((size_t)r->nconns, sizeof(*r->conns));
	r->queue = calloc(r->total + 1, sizeof(*r->queue));
	r->lat = calloc(r->total + 1, sizeof(*r->lat));
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	r->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (!r->conns || !r->queue || !r->lat || r->epfd < 0 || r->tfd < 0)
		return -ENOMEM;
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->tfd, &ev))
		return -errno;
	/* Connections are set up before the clock starts. */
	for (i = 0; i < r->nconns; i++)
		if ((err = conn_open(r, &r->conns[i])))
			return err;
	r->start = now_ns() + 10000000;
	return 0;
}

int main(int argc, char **argv)
{
	struct run r = {.rate = 1000, .seconds = 5, .nconns = 16, .epfd = -1, .tfd = -1};
	int err;

	http_parser_settings_init(&parser_settings);
	parser_settings.on_message_complete = on_message_complete;
	if (parse_args(&r, argc, argv)) {
		fprintf(stderr,
			"usage: shunt-http-rate --connect ADDR:PORT [--rate N] [--seconds S] "
			"[--conns N] [--path P] [--host NAME]\n");
		return 2;
	}
	err = run_setup(&r);
	if (err) {
		fprintf(stderr, "shunt-http-rate: setup: %s\n", strerror(-err));
		return 1;
	}
	err = run_loop(&r);
	if (err) {
		fprintf(stderr, "shunt-http-rate: %s\n", strerror(-err));
		return 1;
	}
	report(&r);
	return r.ok ? 0 : 1;
}
