// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * shunt-perf: the benchmark's traffic (like netperf or sockperf, one binary
 * for every mode so each mesh is measured with the same code).
 *
 *   shunt-perf server --listen ADDR:PORT
 *   shunt-perf client --connect ADDR:PORT --mode stream|rr|crr --size N
 *                     [--seconds S] [--conns N] [--cc NAME]
 *
 * stream: the client writes SIZE-byte writes for S seconds; the server reads
 *         with a 64 KiB buffer and reports the bytes it got. Throughput is
 *         what the server received over the time to its report.
 * rr:     request/response ping-pong of SIZE bytes each way; per-exchange
 *         latency percentiles.
 * crr:    connect, one SIZE-byte exchange, close; per-connection latency.
 * With --conns N, N connections run at once (stream: throughput summed;
 * rr/crr: latencies pooled). --cc sets the client sockets' congestion
 * control (the benchmark's reference for what shunt gives same-node
 * connections). Prints one JSON line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "netaddr.h"

#define PERF_MAGIC 0x73687074u /* "shpt" */

enum mode { MODE_STREAM = 1, MODE_RR = 2, MODE_CRR = 3 };

struct hello {
	uint32_t magic;
	uint32_t mode;
	uint32_t size;
	uint32_t pad;
};

static struct sockaddr_storage addr;
static socklen_t addrlen;
static enum mode mode = MODE_STREAM;
static uint32_t size = 65536;
static double seconds = 3;
static int conns = 1;
static const char *cc; /* client sockets' congestion control, or NULL */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Sockets are non-blocking and every wait is a poll(), as in the event loops
 * of real servers (nginx, Envoy, Go, Node): that is how people run them.
 */
static void nonblocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int wait_for(int fd, short events)
{
	struct pollfd p = {.fd = fd, .events = events};

	return poll(&p, 1, 30000) == 1 ? 0 : -ETIMEDOUT;
}

/* Waits for a non-blocking connect() and returns its outcome. */
static int connect_done(int fd)
{
	socklen_t len = sizeof(int);
	int soerr = 0;

	if (wait_for(fd, POLLOUT))
		return -ETIMEDOUT;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len))
		return -errno;
	return -soerr;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN && !wait_for(fd, POLLOUT))
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int read_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = recv(fd, p, len, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN && !wait_for(fd, POLLIN))
				continue;
			return -errno;
		}
		if (n == 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* ---- server ------------------------------------------------------------- */

static void *serve(void *arg)
{
	int fd = (int)(intptr_t)arg;
	struct hello h;
	char *buf = NULL;
	uint64_t total = 0;
	ssize_t n;

	if (read_all(fd, &h, sizeof(h)) || h.magic != PERF_MAGIC || h.size > (64u << 20))
		goto out;
	buf = malloc(h.size > 65536 ? h.size : 65536);
	if (!buf)
		goto out;
	switch (h.mode) {
	case MODE_STREAM:
		for (;;) {
			n = recv(fd, buf, 65536, 0);
			if (n > 0) {
				total += (uint64_t)n;
				continue;
			}
			if (n < 0 && (errno == EINTR || (errno == EAGAIN && !wait_for(fd, POLLIN))))
				continue;
			break;
		}
		write_all(fd, &total, sizeof(total));
		break;
	case MODE_RR:
	case MODE_CRR:
		while (!read_all(fd, buf, h.size) && !write_all(fd, buf, h.size))
			;
		break;
	default:
		break;
	}
out:
	free(buf);
	close(fd);
	return NULL;
}

static int run_server(void)
{
	int lfd, one = 1;
	pthread_attr_t attr;

	lfd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, (struct sockaddr *)&addr, addrlen) || listen(lfd, 4096)) {
		fprintf(stderr, "shunt-perf: listen: %s\n", strerror(errno));
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {
		pthread_t t;
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE)
				continue;
			return 1;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		nonblocking(fd);
		if (pthread_create(&t, &attr, serve, (void *)(intptr_t)fd))
			close(fd);
	}
}

/* ---- client ------------------------------------------------------------- */

struct worker {
	pthread_t thread;
	double deadline;
	uint64_t bytes; /* stream: what the server got */
	double elapsed; /* stream: until the server's report */
	double *lat;	/* rr/crr: latencies in microseconds */
	size_t nlat, cap;
	int err;
};

static int dial(int *out)
{
	struct hello h = {.magic = PERF_MAGIC, .mode = mode, .size = size};
	int fd, one = 1, err;

	fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Streams keep Nagle on, as iperf3 does; exchanges want it off. */
	if (mode != MODE_STREAM)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (cc && setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, cc, (socklen_t)strlen(cc))) {
		err = -errno;
		close(fd);
		return err;
	}
	nonblocking(fd);
	if (connect(fd, (struct sockaddr *)&addr, addrlen) && errno != EINPROGRESS) {
		err = -errno;
		close(fd);
		return err;
	}
	err = connect_done(fd);
	if (err) {
		close(fd);
		return err;
	}
	err = write_all(fd, &h, sizeof(h));
	if (err) {
		close(fd);
		return err;
	}
	*out = fd;
	return 0;
}

static void add_latency(struct worker *w, double us)
{
	if (w->nlat == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 65536;
		double *grown = realloc(w->lat, cap * sizeof(*grown));

		if (!grown) {
			w->err = -ENOMEM;
			return;
		}
		w->lat = grown;
		w->cap = cap;
	}
	w->lat[w->nlat++] = us;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	char *buf = calloc(1, size > 8 ? size : 8);
	double start, t0;
	uint64_t n = 0;
	int fd = -1;

	if (!buf) {
		w->err = -ENOMEM;
		return NULL;
	}
	start = now();
	switch (mode) {
	case MODE_STREAM:
		if ((w->err = dial(&fd)))
			break;
		start = now();
		while (!(w->err = write_all(fd, buf, size)))
			if ((++n & 63) == 0 && now() > w->deadline)
				break;
		shutdown(fd, SHUT_WR);
		if (!w->err)
			w->err = read_all(fd, &w->bytes, sizeof(w->bytes));
		w->elapsed = now() - start;
		break;
	case MODE_RR:
		if ((w->err = dial(&fd)))
			break;
		while (now() < w->deadline && !w->err) {
			t0 = now();
			w->err = write_all(fd, buf, size);
			if (!w->err)
				w->err = read_all(fd, buf, size);
			add_latency(w, (now() - t0) * 1e6);
		}
		break;
	case MODE_CRR:
		while (now() < w->deadline && !w->err) {
			t0 = now();
			if ((w->err = dial(&fd)))
				break;
			w->err = write_all(fd, buf, size);
			if (!w->err)
				w->err = read_all(fd, buf, size);
			close(fd);
			fd = -1;
			add_latency(w, (now() - t0) * 1e6);
		}
		break;
	}
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double percentile(const double *sorted, size_t n, double p)
{
	size_t i;

	if (!n)
		return NAN;
	i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
	return sorted[i < n ? i : n - 1];
}

static int run_client(void)
{
	struct worker *w = calloc((size_t)conns, sizeof(*w));
	double deadline = now() + seconds, elapsed = 0, sum = 0;
	uint64_t bytes = 0;
	size_t nlat = 0, k = 0;
	double *all;
	int i, err = 0;

	if (!w)
		return 1;
	for (i = 0; i < conns; i++) {
		w[i].deadline = deadline;
		if (pthread_create(&w[i].thread, NULL, work, &w[i]))
			return 1;
	}
	for (i = 0; i < conns; i++) {
		pthread_join(w[i].thread, NULL);
		if (w[i].err && !err)
			err = w[i].err;
		bytes += w[i].bytes;
		if (w[i].elapsed > elapsed)
			elapsed = w[i].elapsed;
		nlat += w[i].nlat;
	}
	if (err) {
		fprintf(stderr, "shunt-perf: %s\n", strerror(-err));
		printf("{\"error\":\"%s\"}\n", strerror(-err));
		return 1;
	}
	if (mode == MODE_STREAM) {
		printf(
		    "{\"mode\":\"stream\",\"size\":%u,\"conns\":%d,\"bytes\":%llu,\"seconds\":%.4f,"
		    "\"gbit_s\":%.4f}\n",
		    size, conns, (unsigned long long)bytes, elapsed,
		    (double)bytes * 8 / elapsed / 1e9);
		return 0;
	}
	all = malloc((nlat ? nlat : 1) * sizeof(*all));
	if (!all)
		return 1;
	for (i = 0; i < conns; i++) {
		memcpy(all + k, w[i].lat, w[i].nlat * sizeof(*all));
		k += w[i].nlat;
		free(w[i].lat);
	}
	qsort(all, nlat, sizeof(*all), cmp_double);
	for (k = 0; k < nlat; k++)
		sum += all[k];
	printf("{\"mode\":\"%s\",\"size\":%u,\"conns\":%d,\"ops\":%zu,\"seconds\":%.2f,"
	       "\"ops_s\":%.1f,\"mean_us\":%.2f,\"p50_us\":%.2f,\"p99_us\":%.2f}\n",
	       mode == MODE_RR ? "rr" : "crr", size, conns, nlat, seconds, (double)nlat / seconds,
	       nlat ? sum / (double)nlat : NAN, percentile(all, nlat, 50),
	       percentile(all, nlat, 99));
	free(all);
	free(w);
	return 0;
}

static int parse_addr(const char *text)
{
	return netaddr_parse(text, &addr, &addrlen);
}

static void usage(void)
{
	fprintf(stderr, "usage: shunt-perf server --listen ADDR:PORT\n"
			"       shunt-perf client --connect ADDR:PORT --mode stream|rr|crr "
			"--size N [--seconds S] [--conns N] [--cc NAME]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	bool server;
	int i;

	if (argc < 2)
		usage();
	server = strcmp(argv[1], "server") == 0;
	if (!server && strcmp(argv[1], "client") != 0)
		usage();
	for (i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			usage();
		if (!strcmp(a, "--listen") || !strcmp(a, "--connect")) {
			if (parse_addr(v))
				usage();
		} else if (!strcmp(a, "--mode")) {
			mode = !strcmp(v, "rr")	   ? MODE_RR
			       : !strcmp(v, "crr") ? MODE_CRR
						   : MODE_STREAM;
		} else if (!strcmp(a, "--size")) {
			size = (uint32_t)strtoul(v, NULL, 0);
		} else if (!strcmp(a, "--seconds")) {
			seconds = atof(v);
		} else if (!strcmp(a, "--conns")) {
			conns = atoi(v);
		} else if (!strcmp(a, "--cc")) {
			cc = v;
		} else {
			usage();
		}
		i++;
	}
	if (!addrlen || !size || size > (64u << 20) || conns < 1 || seconds <= 0)
		usage();
	signal(SIGPIPE, SIG_IGN);
	return server ? run_server() : run_client();
}
