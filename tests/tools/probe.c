// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * shunt-probe: reachability checks for the policy and service tests.
 *
 *   shunt-probe serve --name NAME [--tcp ADDR:PORT]... [--udp ADDR:PORT]... [--peers FILE]
 *       answers every TCP connection and UDP datagram with "NAME\n"; with
 *       --peers, appends each TCP peer's address ("ADDR PORT\n") to FILE
 *   shunt-probe connect ADDR:PORT [--udp|--sctp] [--count N] [--timeout-ms MS]
 *       tries N times; prints one JSON line: how many attempts ended how,
 *       which server names answered, and what getpeername() showed
 *   shunt-probe reach [--udp|--sctp] [--timeout-ms MS] NAME=ADDR:PORT...
 *       tries every target once, all at the same time, and prints a line
 *       "NAME OUTCOME" for each (ok only when the server answered)
 *
 * serve also takes --sctp ADDR:PORT (an SCTP listener, one-to-one style);
 * where the kernel has no SCTP it says so and serves the rest.
 *
 * Outcomes: ok, eperm, refused, timeout, other. A denied connect is eperm at
 * once (egress policy), a dropped SYN or datagram is a timeout (ingress).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "netaddr.h"

#define MAX_FDS	  16
#define MAX_NAMES 32

static void die(const char *msg)
{
	fprintf(stderr, "shunt-probe: %s: %s\n", msg, strerror(errno));
	exit(1);
}

static int serve(int argc, char **argv)
{
	struct pollfd fds[MAX_FDS];
	int udp[MAX_FDS] = {0}, nfds = 0, i, one = 1;
	const char *name = NULL;
	FILE *peers = NULL;
	char reply[128];

	for (i = 2; i < argc; i++) {
		struct sockaddr_storage ss;
		socklen_t len;
		bool is_udp, is_sctp;
		int fd;

		if (!strcmp(argv[i], "--name") && i + 1 < argc) {
			name = argv[++i];
			continue;
		}
		if (!strcmp(argv[i], "--peers") && i + 1 < argc) {
			peers = fopen(argv[++i], "a");
			if (!peers)
				die("--peers");
			continue;
		}
		is_udp = !strcmp(argv[i], "--udp");
		is_sctp = !strcmp(argv[i], "--sctp");
		if ((!is_udp && !is_sctp && strcmp(argv[i], "--tcp")) || i + 1 >= argc ||
		    nfds == MAX_FDS) {
			fprintf(
			    stderr,
			    "usage: shunt-probe serve --name N [--tcp A:P]... [--udp A:P]...\n");
			return 2;
		}
		if (netaddr_parse(argv[++i], &ss, &len)) {
			fprintf(stderr, "shunt-probe: bad address %s\n", argv[i]);
			return 2;
		}
		fd = socket(ss.ss_family, is_udp ? SOCK_DGRAM : SOCK_STREAM,
			    is_sctp ? IPPROTO_SCTP : 0);
		if (fd < 0 && is_sctp) {
			fprintf(stderr, "shunt-probe: no SCTP here (%s); not serving %s\n",
				strerror(errno), argv[i]);
			continue;
		}
		if (fd < 0)
			die("socket");
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ss.ss_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&ss, len))
			die("bind");
		if (!is_udp && listen(fd, 512))
			die("listen");
		udp[nfds] = is_udp;
		fds[nfds++] = (struct pollfd){.fd = fd, .events = POLLIN};
	}
	if (!name || !nfds) {
		fprintf(stderr,
			"usage: shunt-probe serve --name N [--tcp A:P]... [--udp A:P]...\n");
		return 2;
	}
	snprintf(reply, sizeof(reply), "%s\n", name);
	signal(SIGPIPE, SIG_IGN);
	printf("listening\n");
	fflush(stdout);
	for (;;) {
		if (poll(fds, (nfds_t)nfds, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		for (i = 0; i < nfds; i++) {
			if (!(fds[i].revents & POLLIN))
				continue;
			if (udp[i]) {
				struct sockaddr_storage from;
				socklen_t flen = sizeof(from);
				char buf[512];

				if (recvfrom(fds[i].fd, buf, sizeof(buf), 0,
					     (struct sockaddr *)&from, &flen) >= 0)
					sendto(fds[i].fd, reply, strlen(reply), 0,
					       (struct sockaddr *)&from, flen);
			} else {
				struct sockaddr_storage from;
				socklen_t flen = sizeof(from);
				int c = accept(fds[i].fd, (struct sockaddr *)&from, &flen);

				if (c >= 0 && peers) {
					char host[64], port[16];

					if (!getnameinfo((struct sockaddr *)&from, flen, host,
							 sizeof(host), port, sizeof(port),
							 NI_NUMERICHOST | NI_NUMERICSERV))
						fprintf(peers, "%s %s\n", host, port);
					fflush(peers);
				}
				if (c >= 0) {
					if (write(c, reply, strlen(reply)) < 0)
						(void)0;
					shutdown(c, SHUT_WR);
					close(c);
				}
			}
		}
	}
}

struct tally {
	unsigned ok, eperm, refused, timeout, other;
	char names[MAX_NAMES][64];
	unsigned counts[MAX_NAMES];
	int nnames;
	char peer[80];
};

static void tally_name(struct tally *t, const char *name)
{
	int i;

	for (i = 0; i < t->nnames; i++)
		if (!strcmp(t->names[i], name)) {
			t->counts[i]++;
			return;
		}
	if (t->nnames < MAX_NAMES) {
		snprintf(t->names[t->nnames], sizeof(t->names[0]), "%s", name);
		t->counts[t->nnames++] = 1;
	}
}

static void format_peer(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)ss;

		inet_ntop(AF_INET, &s->sin_addr, host, sizeof(host));
		port = ntohs(s->sin_port);
		snprintf(buf, len, "%s:%u", host, port);
	} else {
		const struct sockaddr_in6 *s = (const void *)ss;

		inet_ntop(AF_INET6, &s->sin6_addr, host, sizeof(host));
		port = ntohs(s->sin6_port);
		snprintf(buf, len, "[%s]:%u", host, port);
	}
}

/* One attempt; fills NAME with the server's answer on success. */
static void attempt(const struct sockaddr_storage *to, socklen_t tolen, bool udp, bool sctp,
		    int timeout_ms, struct tally *t)
{
	struct pollfd pfd = {.events = POLLIN};
	char buf[128] = "";
	ssize_t n = -1;
	int fd, err;

	fd = socket(to->ss_family, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK,
		    sctp ? IPPROTO_SCTP : 0);
	if (fd < 0)
		die("socket");
	pfd.fd = fd;
	if (udp) {
		/* Unconnected: the sendmsg and recvmsg hooks decide and translate. */
		struct sockaddr_storage from;
		socklen_t flen = sizeof(from);

		if (sendto(fd, "ping", 4, 0, (const struct sockaddr *)to, tolen) < 0) {
			err = errno;
			goto fail;
		}
		if (poll(&pfd, 1, timeout_ms) <= 0) {
			t->timeout++;
			goto out;
		}
		n = recvfrom(fd, buf, sizeof(buf) - 1, 0, (struct sockaddr *)&from, &flen);
		if (n > 0)
			format_peer(&from, t->peer, sizeof(t->peer));
	} else {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);

		if (connect(fd, (const struct sockaddr *)to, tolen) && errno != EINPROGRESS) {
			err = errno;
			goto fail;
		}
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, timeout_ms) <= 0) {
			t->timeout++;
			goto out;
		}
		socklen_t elen = sizeof(err);
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
		if (err)
			goto fail;
		if (!getpeername(fd, (struct sockaddr *)&peer, &plen))
			format_peer(&peer, t->peer, sizeof(t->peer));
		pfd.events = POLLIN;
		if (poll(&pfd, 1, timeout_ms) <= 0) {
			t->timeout++;
			goto out;
		}
		n = read(fd, buf, sizeof(buf) - 1);
	}
	if (n <= 0) {
		t->other++;
		goto out;
	}
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	t->ok++;
	tally_name(t, buf);
	goto out;
fail:
	if (err == EPERM)
		t->eperm++;
	else if (err == ECONNREFUSED)
		t->refused++;
	else if (err == ETIMEDOUT)
		t->timeout++;
	else
		t->other++;
out:
	close(fd);
}

static int connect_cmd(int argc, char **argv)
{
	struct sockaddr_storage to;
	struct tally t = {0};
	int count = 1, timeout_ms = 500, i;
	bool udp = false, sctp = false;
	socklen_t len;

	if (argc < 3 || netaddr_parse(argv[2], &to, &len)) {
		fprintf(stderr, "usage: shunt-probe connect ADDR:PORT [--udp] [--count N] "
				"[--timeout-ms MS]\n");
		return 2;
	}
	for (i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--udp"))
			udp = true;
		else if (!strcmp(argv[i], "--sctp"))
			sctp = true;
		else if (!strcmp(argv[i], "--count") && i + 1 < argc)
			count = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--timeout-ms") && i + 1 < argc)
			timeout_ms = atoi(argv[++i]);
		else {
			fprintf(stderr, "shunt-probe: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	for (i = 0; i < count; i++)
		attempt(&to, len, udp, sctp, timeout_ms, &t);
	printf("{\"ok\":%u,\"eperm\":%u,\"refused\":%u,\"timeout\":%u,\"other\":%u,\"peer\":\"%s\","
	       "\"servers\":{",
	       t.ok, t.eperm, t.refused, t.timeout, t.other, t.peer);
	for (i = 0; i < t.nnames; i++)
		printf("%s\"%s\":%u", i ? "," : "", t.names[i], t.counts[i]);
	printf("}}\n");
	return 0;
}

#define MAX_TARGETS 64

enum reach_state { R_CONNECTING, R_WAITING, R_DONE };

struct target {
	const char *name;
	struct sockaddr_storage to;
	socklen_t len;
	int fd;
	enum reach_state state;
	const char *outcome;
};

static const char *errno_outcome(int err)
{
	return err == EPERM ? "eperm" : err == ECONNREFUSED ? "refused" : "other";
}

/* Starts the attempt: a connect in progress, or a datagram sent. */
static void reach_start(struct target *t, bool udp, bool sctp)
{
	t->fd = socket(t->to.ss_family, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK,
		       sctp ? IPPROTO_SCTP : 0);
	if (t->fd < 0) {
		t->state = R_DONE;
		t->outcome = errno == EPROTONOSUPPORT ? "unsupported" : "other";
		return;
	}
	if (udp) {
		t->state = R_WAITING;
		if (sendto(t->fd, "ping", 4, 0, (struct sockaddr *)&t->to, t->len) < 0) {
			t->state = R_DONE;
			t->outcome = errno_outcome(errno);
		}
		return;
	}
	t->state = R_CONNECTING;
	if (connect(t->fd, (struct sockaddr *)&t->to, t->len) && errno != EINPROGRESS) {
		t->state = R_DONE;
		t->outcome = errno_outcome(errno);
	}
}

/* Moves T on after poll said REVENTS. */
static void reach_step(struct target *t, short revents)
{
	char buf[128];
	int err = 0;
	socklen_t elen = sizeof(err);
	ssize_t n;

	if (t->state == R_CONNECTING) {
		getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &err, &elen);
		if (err) {
			t->state = R_DONE;
			t->outcome = errno_outcome(err);
		} else {
			t->state = R_WAITING;
		}
		return;
	}
	if (!(revents & (POLLIN | POLLHUP | POLLERR)))
		return;
	n = recv(t->fd, buf, sizeof(buf), 0);
	t->state = R_DONE;
	/* A stream closed without an answer: refused past the proxy. */
	t->outcome = n > 0 ? "ok" : n == 0 ? "closed" : errno_outcome(errno);
}

static int reach_cmd(int argc, char **argv)
{
	struct target targets[MAX_TARGETS];
	struct pollfd pfds[MAX_TARGETS];
	int n = 0, timeout_ms = 500, i, left;
	bool udp = false, sctp = false;
	struct timespec t0, now;

	for (i = 2; i < argc; i++) {
		char *eq = strchr(argv[i], '=');

		if (!strcmp(argv[i], "--udp") || !strcmp(argv[i], "--sctp")) {
			udp |= argv[i][2] == 'u';
			sctp |= argv[i][2] == 's';
		} else if (!strcmp(argv[i], "--timeout-ms") && i + 1 < argc) {
			timeout_ms = atoi(argv[++i]);
		} else if (eq && n < MAX_TARGETS &&
			   !netaddr_parse(eq + 1, &targets[n].to, &targets[n].len)) {
			*eq = 0;
			targets[n].name = argv[i];
			targets[n++].outcome = "timeout";
		} else {
			fprintf(stderr, "usage: shunt-probe reach [--udp|--sctp] [--timeout-ms MS] "
					"NAME=ADDR:PORT...\n");
			return 2;
		}
	}
	for (i = 0; i < n; i++)
		reach_start(&targets[i], udp, sctp);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		long waited;

		for (i = 0, left = 0; i < n; i++) {
			pfds[i] = (struct pollfd){
			    .fd = targets[i].state == R_DONE ? -1 : targets[i].fd,
			    .events = targets[i].state == R_CONNECTING ? POLLOUT : POLLIN};
			left += targets[i].state != R_DONE;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		waited = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
		if (!left || waited >= timeout_ms)
			break;
		if (poll(pfds, (nfds_t)n, (int)(timeout_ms - waited)) < 0 && errno != EINTR)
			die("poll");
		for (i = 0; i < n; i++)
			if (pfds[i].fd >= 0 && pfds[i].revents)
				reach_step(&targets[i], pfds[i].revents);
	}
	for (i = 0; i < n; i++) {
		printf("%s %s\n", targets[i].name, targets[i].outcome);
		if (targets[i].fd >= 0)
			close(targets[i].fd);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "serve"))
		return serve(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "connect"))
		return connect_cmd(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "reach"))
		return reach_cmd(argc, argv);
	fprintf(stderr, "usage: shunt-probe serve ... | connect ADDR:PORT ...\n");
	return 2;
}
