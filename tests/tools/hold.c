// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * shunt-hold: many connections open at the same time, each one checked.
 *
 *   shunt-hold server --listen ADDR:PORT [--stall]
 *       echoes every byte of every connection, one thread, epoll; with
 *       --stall it never accepts: the kernel takes a window's worth of each
 *       connection's bytes and then nothing (a server that stopped reading)
 *   shunt-hold client --connect ADDR:PORT --conns N [--hold S] [--timeout S]
 *       opens N connections (at most 256 connecting at once), sends each a
 *       message naming it and waits for its echo; with all N open and
 *       echoed, prints "holding N" and keeps them open S seconds (default
 *       0); then a second message on each, its echo checked, and close.
 *       Prints one JSON line; exits 0 only if all N went through both rounds.
 *
 * Unlike shunt-tt (a thread per connection), this holds tens of thousands of
 * connections in one thread, so "N at once" really is N at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "netaddr.h"

#define MSG_LEN	     32
#define MAX_PENDING  256
#define SERVER_BUF   4096
#define EVENTS_BATCH 256

static void die(const char *msg)
{
	fprintf(stderr, "shunt-hold: %s: %s\n", msg, strerror(errno));
	exit(1);
}

/* Tens of thousands of sockets need more than the usual 1024 descriptors:
 * as many as WANT, within the hard limit (raising that takes
 * CAP_SYS_RESOURCE, which a test may not have). */
static void raise_fd_limit(rlim_t want)
{
	struct rlimit r;

	if (getrlimit(RLIMIT_NOFILE, &r))
		die("getrlimit");
	if (r.rlim_cur >= want)
		return;
	if (r.rlim_max < want) {
		struct rlimit more = {want, want};

		if (!setrlimit(RLIMIT_NOFILE, &more))
			return;
	}
	r.rlim_cur = r.rlim_max < want ? r.rlim_max : want;
	if (setrlimit(RLIMIT_NOFILE, &r))
		die("setrlimit RLIMIT_NOFILE");
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static _Noreturn void serve(const struct sockaddr_storage *ss, socklen_t len, bool stall)
{
	struct epoll_event ev = {.events = EPOLLIN}, evs[EVENTS_BATCH];
	char buf[SERVER_BUF];
	int one = 1, lfd, ep, n, i;

	raise_fd_limit(200000);
	lfd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, (const struct sockaddr *)ss, len) || listen(lfd, 4096))
		die("listen");
	ep = epoll_create1(EPOLL_CLOEXEC);
	ev.data.fd = lfd;
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev))
		die("epoll");
	printf("listening\n");
	fflush(stdout);
	while (stall)
		pause();
	for (;;) {
		n = epoll_wait(ep, evs, EVENTS_BATCH, -1);
		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		for (i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			ssize_t r;

			if (fd == lfd) {
				int c;

				while ((c = accept4(lfd, NULL, NULL,
						    SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};

					if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev))
						close(c);
				}
				continue;
			}
			r = read(fd, buf, sizeof(buf));
			/* Echoes are tiny: the socket's send buffer always has room. */
			if (r > 0 && write(fd, buf, (size_t)r) == r)
				continue;
			if (r < 0 && errno == EAGAIN)
				continue;
			close(fd);
		}
	}
}

enum conn_phase { CONNECTING, FIRST, HELD, SECOND, DONE, FAILED };

struct conn {
	int fd;
	enum conn_phase phase;
	char got[MSG_LEN];
	size_t have;
};

static void message(char out[MSG_LEN], int idx, int round)
{
	char tmp[MSG_LEN + 1];

	snprintf(tmp, sizeof(tmp), "conn %08d round %d..........", idx % 100000000, round % 10);
	memcpy(out, tmp, MSG_LEN);
}

/* Sends the message of ROUND; a fresh connection's send buffer takes 24 bytes. */
static int send_round(struct conn *c, int idx, int round)
{
	char msg[MSG_LEN];

	message(msg, idx, round);
	c->have = 0;
	return send(c->fd, msg, MSG_LEN, MSG_NOSIGNAL) == MSG_LEN ? 0 : -1;
}

/* Reads what arrived; 1 when the whole echo is in and right, 0 for more, -1. */
static int read_echo(struct conn *c, int idx, int round)
{
	char want[MSG_LEN];
	ssize_t r;

	r = read(c->fd, c->got + c->have, MSG_LEN - c->have);
	if (r < 0 && errno == EAGAIN)
		return 0;
	if (r <= 0)
		return -1;
	c->have += (size_t)r;
	if (c->have < MSG_LEN)
		return 0;
	message(want, idx, round);
	return memcmp(want, c->got, MSG_LEN) ? -1 : 1;
}

static int open_one(struct conn *c, int ep, int idx, const struct sockaddr_storage *ss,
		    socklen_t len)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = (unsigned)idx};

	c->fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	if (connect(c->fd, (const struct sockaddr *)ss, len) && errno != EINPROGRESS)
		return -1;
	c->phase = CONNECTING;
	return epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void fail(struct conn *c, int *failed)
{
	if (c->phase == FAILED)
		return;
	c->phase = FAILED;
	(*failed)++;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static int client(const struct sockaddr_storage *ss, socklen_t len, int nconns, double hold,
		  double timeout)
{
	struct epoll_event evs[EVENTS_BATCH];
	struct conn *cs = calloc((size_t)nconns, sizeof(*cs));
	int ep = epoll_create1(EPOLL_CLOEXEC);
	int opened = 0, pending = 0, first_ok = 0, second_ok = 0, failed = 0, max_open = 0;
	int open_now = 0, i, n;
	double start = now_s(), deadline = start + timeout, held_at = 0;
	bool second_started = false;

	if (!cs || ep < 0)
		die("setup");
	raise_fd_limit((rlim_t)nconns + 1024);
	while (now_s() < deadline) {
		/* Keep at most MAX_PENDING connections in their set-up. */
		while (opened < nconns && pending < MAX_PENDING) {
			if (open_one(&cs[opened], ep, opened, ss, len))
				fail(&cs[opened], &failed);
			else
				pending++, open_now++;
			opened++;
		}
		if (open_now > max_open)
			max_open = open_now;
		if (!second_started && first_ok + failed == nconns) {
			if (failed)
				break;
			printf("holding %d\n", first_ok);
			fflush(stdout);
			held_at = now_s();
			while (now_s() < held_at + hold)
				usleep(50000);
			for (i = 0; i < nconns; i++) {
				if (send_round(&cs[i], i, 2)) {
					fail(&cs[i], &failed);
					continue;
				}
				cs[i].phase = SECOND;
			}
			second_started = true;
			deadline = now_s() + timeout;
		}
		if (second_started && second_ok + failed == nconns)
			break;
		n = epoll_wait(ep, evs, EVENTS_BATCH, 100);
		for (i = 0; i < n; i++) {
			int idx = (int)evs[i].data.u32, r, err = 0;
			struct conn *c = &cs[idx];
			socklen_t el = sizeof(err);

			switch (c->phase) {
			case CONNECTING:
				if (!(evs[i].events & EPOLLOUT) ||
				    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) || err) {
					pending--, open_now--;
					fail(c, &failed);
					break;
				}
				if (send_round(c, idx, 1)) {
					pending--, open_now--;
					fail(c, &failed);
					break;
				}
				{
					struct epoll_event ev = {.events = EPOLLIN,
								 .data.u32 = (unsigned)idx};

					epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
				}
				c->phase = FIRST;
				break;
			case FIRST:
			case SECOND:
				r = read_echo(c, idx, c->phase == FIRST ? 1 : 2);
				if (r < 0) {
					if (c->phase == FIRST)
						pending--;
					open_now--;
					fail(c, &failed);
				} else if (r > 0 && c->phase == FIRST) {
					pending--;
					first_ok++;
					c->phase = HELD;
				} else if (r > 0) {
					second_ok++;
					c->phase = DONE;
					close(c->fd);
					c->fd = -1;
				}
				break;
			case HELD: /* nothing may arrive while held: not even EOF */
				first_ok--;
				open_now--;
				fail(c, &failed);
				break;
			default:
				break;
			}
		}
	}
	for (i = 0; i < nconns; i++)
		if (cs[i].fd > 0 && cs[i].phase != FAILED && cs[i].phase != DONE)
			close(cs[i].fd);
	printf("{\"conns\":%d,\"first_ok\":%d,\"second_ok\":%d,\"failed\":%d,\"max_open\":%d,"
	       "\"setup_seconds\":%.2f}\n",
	       nconns, first_ok, second_ok, failed, max_open,
	       held_at ? held_at - start : now_s() - start);
	free(cs);
	return second_ok == nconns ? 0 : 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: shunt-hold server --listen ADDR:PORT [--stall]\n"
			"       shunt-hold client --connect ADDR:PORT --conns N [--hold S] "
			"[--timeout S]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	double hold = 0, timeout = 60;
	int nconns = 0, i;
	bool server, stall = false;

	if (argc < 2)
		usage();
	server = !strcmp(argv[1], "server");
	if (!server && strcmp(argv[1], "client"))
		usage();
	for (i = 2; i < argc; i += 2) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";

		if (!strcmp(a, "--stall")) {
			stall = true;
			i--;
		} else if (!strcmp(a, "--listen") || !strcmp(a, "--connect")) {
			if (netaddr_parse(v, &ss, &len))
				usage();
		} else if (!strcmp(a, "--conns")) {
			nconns = atoi(v);
		} else if (!strcmp(a, "--hold")) {
			hold = atof(v);
		} else if (!strcmp(a, "--timeout")) {
			timeout = atof(v);
		} else {
			usage();
		}
	}
	if (i != argc || !len || (!server && nconns < 1) || hold < 0 || timeout <= 0)
		usage();
	if (server)
		serve(&ss, len, stall);
	return client(&ss, len, nconns, hold, timeout);
}
