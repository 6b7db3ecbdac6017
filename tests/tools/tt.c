// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * shunt-tt: test traffic with verification.
 *
 * Every byte a side sends is a deterministic function of (seed, offset), so
 * the receiver checks each byte as it arrives and reports the first offset
 * that is wrong: a lost, duplicated or reordered byte cannot hide.
 *
 *   shunt-tt server --listen ADDR:PORT [options]
 *   shunt-tt client --connect ADDR:PORT [options]
 *
 * Options (both sides agree on them; the test passes the same to each):
 *   --send N          bytes this side sends (default 0)
 *   --expect N        bytes this side must receive before EOF (default 0)
 *   --write-size W    bytes per write, "mixed" for 1..65536, or "phases": 2 MiB in
 *                     64 KiB writes, then 1000 writes of 64 bytes, over and over
 *                     (the datapath switches such a stream between bypass and TCP)
 *   --recv METHOD     read | peek | fionread | epoll | splice | waitall
 *   --close HOW       shutdown (half-close after sending, default) | close | reset
 *   --first           send everything before reading anything (else duplex)
 *   --read-after N    duplex, but start reading only once N bytes are sent
 *                     (the peer's data piles up unread meanwhile)
 *   --reply           read everything (to EOF) before sending anything
 *   --ack             the receiver acks all data with one byte; the sender waits for it
 *   --expect-reset    after the data, the next read must fail with ECONNRESET
 *   --handshake       exchange one byte each way before the data (like a hello)
 *   --warmup          one 1-byte exchange before the real connections (the
 *                     server's first connection), with the same read method:
 *                     the datapath learns a server from its first connection
 *   --blocking        blocking socket, reads without poll (default: non-blocking
 *                     socket, poll before each read and write, as event loops do)
 *   --conns N         client: N connections in parallel (default 1)
 *   --repeat N        client: N rounds of --conns connections, one after another
 *   --count N         server: serve N connections, then exit (default: until killed)
 *   --timeout S       fail a connection that makes no progress for S seconds (10)
 * Prints one JSON line with totals; exits 0 only if every byte was right.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "netaddr.h"

enum recv_method { RECV_READ, RECV_PEEK, RECV_FIONREAD, RECV_EPOLL, RECV_SPLICE, RECV_WAITALL };
enum close_how { CLOSE_SHUTDOWN, CLOSE_CLOSE, CLOSE_RESET };

struct opts {
	bool server;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	uint64_t send_bytes, expect_bytes, read_after;
	size_t write_size; /* 0: mixed */
	enum recv_method recv;
	enum close_how close;
	bool first, reply, ack, expect_reset, handshake, blocking, warmup;
	int conns, repeat, count, timeout_s;
};

struct result {
	uint64_t sent, received;
	int64_t bad_offset; /* -1: none */
	char error[128];
};

static struct opts o = {
    .write_size = 65536,
    .conns = 1,
    .repeat = 1,
    .count = -1,
    .timeout_s = 10,
};
static atomic_ullong total_sent, total_received;
static atomic_int conns_ok, conns_failed;
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;
static char first_error[256];

/* ---- the byte stream ---------------------------------------------------- */

/*
 * Word k of a stream (bytes 8k..8k+7, little endian) is k * PHI ^ SEED: each
 * word names its own position, so a lost, repeated or moved byte changes
 * what the receiver sees at that offset. Cheap enough that checking keeps
 * up with the sender.
 */
static inline uint64_t stream_word(uint64_t seed, uint64_t k)
{
	return (k * 0x9e3779b97f4a7c15ULL) ^ seed;
}

/* Fills BUF with stream bytes [off, off+len) of SEED. */
static void stream_fill(uint64_t seed, uint64_t off, unsigned char *buf, size_t len)
{
	size_t i = 0;

	while (i < len && (off + i) % 8) {
		buf[i] = (unsigned char)(stream_word(seed, (off + i) / 8) >> (8 * ((off + i) % 8)));
		i++;
	}
	for (; i + 8 <= len; i += 8) {
		uint64_t w = stream_word(seed, (off + i) / 8);

		memcpy(buf + i, &w, 8);
	}
	for (; i < len; i++)
		buf[i] = (unsigned char)(stream_word(seed, (off + i) / 8) >> (8 * ((off + i) % 8)));
}

/* Returns the index of the first byte of BUF that differs, or -1. */
static int64_t stream_check(uint64_t seed, uint64_t off, const unsigned char *buf, size_t len)
{
	unsigned char want[8192];
	size_t done = 0, n, i;

	while (done < len) {
		n = len - done < sizeof(want) ? len - done : sizeof(want);
		stream_fill(seed, off + done, want, n);
		if (memcmp(want, buf + done, n) != 0) {
			for (i = 0; i < n; i++)
				if (want[i] != buf[done + i])
					return (int64_t)(done + i);
		}
		done += n;
	}
	return -1;
}

/* Seeds: the client sends stream 1, the server stream 2. */
static uint64_t my_seed(void)
{
	return o.server ? 0x5eed0002ULL : 0x5eed0001ULL;
}

static uint64_t peer_seed(void)
{
	return o.server ? 0x5eed0001ULL : 0x5eed0002ULL;
}

/* ---- helpers ------------------------------------------------------------ */

static void fail(struct result *r, const char *what, int err)
{
	if (!r->error[0])
		snprintf(r->error, sizeof(r->error), "%s: %s", what,
			 err ? strerror(err) : "failed");
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define WRITE_PHASES ((size_t)-1)

static size_t next_write_size(unsigned int *rng, uint64_t left)
{
	size_t n = o.write_size;

	if (n == WRITE_PHASES) {
		/* rng counts writes: 32 large ones, then 1000 small ones. */
		unsigned int k = (*rng)++ % 1032;

		n = k < 32 ? 65536 : 64;
	} else if (n == 0) {
		*rng = *rng * 1103515245u + 12345u;
		n = 1 + (*rng >> 8) % 65536;
	}
	return n < left ? n : (size_t)left;
}

/* Waits until FD is readable or the progress timeout passes. */
static int wait_for(int fd, short events)
{
	struct pollfd p = {.fd = fd, .events = events};
	int n;

	if (o.blocking)
		return 0; /* the call itself blocks */
	n = poll(&p, 1, o.timeout_s * 1000);
	if (n == 0)
		return -ETIMEDOUT;
	return n < 0 ? -errno : 0;
}

static int wait_readable(int fd)
{
	return wait_for(fd, POLLIN);
}

/* recv() the way the chosen style does it: poll first unless blocking, and
 * retry when a non-blocking socket says EAGAIN after poll said readable. */
static ssize_t recv_wait(int fd, void *buf, size_t len, int flags)
{
	ssize_t n;
	int err;

	for (;;) {
		if ((err = wait_readable(fd)))
			return err;
		n = recv(fd, buf, len, flags);
		if (n >= 0)
			return n;
		if (errno == EINTR || (errno == EAGAIN && !o.blocking))
			continue;
		return -errno;
	}
}

/* ---- sending ------------------------------------------------------------ */

struct sender {
	int fd;
	struct result *r;
	pthread_t thread;
	bool shutdown_when_done; /* duplex: half-close as soon as the data is out */
	bool done;		 /* the sender has finished (or failed) */
};

static void *send_all(void *arg)
{
	struct sender *s = arg;
	unsigned char *buf = malloc(65536);
	unsigned int rng = o.write_size == WRITE_PHASES ? 0 : 12345;
	uint64_t off = 0;

	if (!buf) {
		fail(s->r, "malloc", ENOMEM);
		return NULL;
	}
	while (off < o.send_bytes) {
		size_t n = next_write_size(&rng, o.send_bytes - off), done = 0;

		stream_fill(my_seed(), off, buf, n);
		while (done < n) {
			ssize_t w = send(s->fd, buf + done, n - done, MSG_NOSIGNAL);

			if (w < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN && !o.blocking && !wait_for(s->fd, POLLOUT))
					continue;
				fail(s->r, "send", errno);
				goto out;
			}
			done += (size_t)w;
		}
		off += n;
		__atomic_store_n(&s->r->sent, off, __ATOMIC_RELEASE);
	}
	if (s->shutdown_when_done)
		shutdown(s->fd, SHUT_WR);
out:
	__atomic_store_n(&s->done, true, __ATOMIC_RELEASE);
	free(buf);
	return NULL;
}

/* ---- receiving ---------------------------------------------------------- */

/* Reads the next chunk with the chosen method; 0 at EOF, <0 -errno. */
static ssize_t recv_chunk(int fd, unsigned char *buf, size_t len, int *pipefd, int epfd)
{
	ssize_t n;
	int avail, err;

	switch (o.recv) {
	case RECV_PEEK: {
		ssize_t peeked;

		peeked = recv_wait(fd, buf, len, MSG_PEEK);
		if (peeked <= 0)
			return peeked;
		/* What a peek showed must be what the read then returns. */
		unsigned char *again = malloc((size_t)peeked);
		if (!again)
			return -ENOMEM;
		n = recv(fd, again, (size_t)peeked, 0);
		if (n < 0) {
			free(again);
			return -errno;
		}
		if (n != peeked || memcmp(again, buf, (size_t)n) != 0) {
			free(again);
			return -EPROTO;
		}
		free(again);
		return n;
	}
	case RECV_FIONREAD:
		for (;;) {
			if ((err = wait_readable(fd)))
				return err;
			if (ioctl(fd, FIONREAD, &avail))
				return -errno;
			if (avail > 0)
				break;
			/* Readable with nothing queued is EOF (or an error to collect). */
			n = recv(fd, buf, len, MSG_DONTWAIT);
			if (n < 0 && errno == EAGAIN)
				continue; /* a spurious wakeup: poll again */
			return n < 0 ? -errno : n;
		}
		n = recv(fd, buf, (size_t)avail < len ? (size_t)avail : len, 0);
		/* FIONREAD promised this much: a short read means it lied. */
		if (n >= 0 && n < ((size_t)avail < len ? avail : (int)len))
			return -EPROTO;
		return n < 0 ? -errno : n;
	case RECV_EPOLL: {
		struct epoll_event ev;

		for (;;) {
			n = recv(fd, buf, len, MSG_DONTWAIT);
			if (n >= 0)
				return n;
			if (errno != EAGAIN && errno != EINTR)
				return -errno;
			err = epoll_wait(epfd, &ev, 1, o.timeout_s * 1000);
			if (err == 0)
				return -ETIMEDOUT;
			if (err < 0 && errno != EINTR)
				return -errno;
		}
	}
	case RECV_SPLICE: {
		size_t got = 0;

		if ((err = wait_readable(fd)))
			return err;
		n = splice(fd, NULL, pipefd[1], NULL, len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n < 0 && errno == EAGAIN)
			return -EAGAIN; /* readable but nothing to splice: caller retries */
		if (n <= 0)
			return n < 0 ? -errno : 0;
		while (got < (size_t)n) {
			ssize_t r = read(pipefd[0], buf + got, (size_t)n - got);

			if (r <= 0)
				return r < 0 ? -errno : -EPIPE;
			got += (size_t)r;
		}
		return n;
	}
	case RECV_WAITALL:
		return recv_wait(fd, buf, len, MSG_WAITALL);
	case RECV_READ:
	default:
		return recv_wait(fd, buf, len, 0);
	}
}

static void recv_all(int fd, struct result *r)
{
	const size_t bufsize = o.recv == RECV_WAITALL ? 16384 : 65536;
	unsigned char *buf = malloc(bufsize);
	int pipefd[2] = {-1, -1}, epfd = -1, spins = 0;
	struct epoll_event ev = {.events = EPOLLIN};
	uint64_t off = 0;
	ssize_t n;

	if (!buf) {
		fail(r, "malloc", ENOMEM);
		return;
	}
	if (o.recv == RECV_SPLICE && pipe2(pipefd, O_CLOEXEC)) {
		fail(r, "pipe", errno);
		goto out;
	}
	if (o.recv == RECV_EPOLL) {
		epfd = epoll_create1(EPOLL_CLOEXEC);
		ev.data.fd = fd;
		if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev)) {
			fail(r, "epoll", errno);
			goto out;
		}
	}
	for (;;) {
		size_t want = bufsize;

		/* MSG_WAITALL must fill whole chunks until the stream's last one. */
		if (o.recv == RECV_WAITALL && o.expect_bytes - off < want && off < o.expect_bytes)
			want = (size_t)(o.expect_bytes - off);
		n = recv_chunk(fd, buf, want, pipefd, epfd);
		if (n == -EAGAIN && o.recv == RECV_SPLICE) {
			/* A socket that polls readable but never splices is stuck. */
			if (++spins > o.timeout_s * 1000) {
				fail(r, "splice: readable but no data (stuck)", 0);
				break;
			}
			usleep(1000);
			continue;
		}
		spins = 0;
		if (n == 0)
			break;
		if (n < 0) {
			fail(r, o.recv == RECV_PEEK ? "recv (peek/read mismatch?)" : "recv",
			     (int)-n);
			break;
		}
		if (o.recv == RECV_WAITALL && (size_t)n != want &&
		    off + (uint64_t)n < o.expect_bytes) {
			snprintf(r->error, sizeof(r->error),
				 "MSG_WAITALL returned %zd of %zu bytes at offset %llu", n, want,
				 (unsigned long long)off);
			break;
		}
		if (off + (uint64_t)n > o.expect_bytes) {
			snprintf(r->error, sizeof(r->error), "received %llu bytes, expected %llu",
				 (unsigned long long)(off + (uint64_t)n),
				 (unsigned long long)o.expect_bytes);
			break;
		}
		int64_t bad = stream_check(peer_seed(), off, buf, (size_t)n);
		if (bad >= 0) {
			r->bad_offset = (int64_t)off + bad;
			snprintf(r->error, sizeof(r->error), "wrong byte at offset %lld",
				 (long long)r->bad_offset);
			break;
		}
		off += (uint64_t)n;
		r->received = off;
		if (o.ack && off == o.expect_bytes)
			break; /* the sender waits for our ack before it closes */
	}
	if (!r->error[0] && off != o.expect_bytes)
		snprintf(r->error, sizeof(r->error), "EOF after %llu of %llu bytes",
			 (unsigned long long)off, (unsigned long long)o.expect_bytes);
out:
	if (pipefd[0] >= 0) {
		close(pipefd[0]);
		close(pipefd[1]);
	}
	if (epfd >= 0)
		close(epfd);
	free(buf);
}

/* ---- one connection ----------------------------------------------------- */

/* Event-loop style unless asked otherwise; MSG_WAITALL readers block. */
static void set_style(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (!o.blocking && o.recv != RECV_WAITALL && fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void run_conn(int fd, struct result *r)
{
	struct sender s = {.fd = fd, .r = r};
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	bool threaded = !o.first && !o.reply && o.send_bytes && o.expect_bytes;
	bool send_first = !threaded && o.send_bytes && !o.reply;
	char ack = 'A';

	r->bad_offset = -1;
	set_style(fd);
	if (o.handshake) {
		/* The client speaks first; each side reads the other's byte. */
		char hello = 'H', got;

		if ((!o.server && send(fd, &hello, 1, MSG_NOSIGNAL) != 1) ||
		    recv_wait(fd, &got, 1, 0) != 1 || got != 'H' ||
		    (o.server && send(fd, &hello, 1, MSG_NOSIGNAL) != 1)) {
			fail(r, "handshake", errno);
			close(fd);
			return;
		}
	}
	s.shutdown_when_done = threaded && o.close == CLOSE_SHUTDOWN;
	if (threaded) {
		if (pthread_create(&s.thread, NULL, send_all, &s)) {
			fail(r, "pthread_create", errno);
			return;
		}
	} else if (send_first) {
		send_all(&s);
	}
	/* With --ack and nothing to read, the sender waits for the peer's ack. */
	if (o.ack && !o.expect_bytes && !r->error[0]) {
		ssize_t n = recv_wait(fd, &ack, 1, 0);

		if (n != 1)
			fail(r, "waiting for the ack", n < 0 ? (int)-n : EPIPE);
	}
	if (o.close == CLOSE_SHUTDOWN && send_first && !r->error[0])
		shutdown(fd, SHUT_WR);
	/* --read-after: let the peer's data pile up while ours goes out. */
	while (threaded && o.read_after && !__atomic_load_n(&s.done, __ATOMIC_ACQUIRE) &&
	       __atomic_load_n(&r->sent, __ATOMIC_ACQUIRE) < o.read_after)
		usleep(1000);
	if (o.expect_bytes)
		recv_all(fd, r);
	if (o.reply && o.send_bytes && !r->error[0]) {
		send_all(&s);
		if (o.close == CLOSE_SHUTDOWN && !r->error[0])
			shutdown(fd, SHUT_WR);
	}
	if (threaded)
		pthread_join(s.thread, NULL);
	if (o.ack && o.expect_bytes && !r->error[0] && send(fd, &ack, 1, MSG_NOSIGNAL) != 1)
		fail(r, "sending the ack", errno);
	if (o.expect_reset && !r->error[0]) {
		char byte;
		ssize_t n;

		n = recv_wait(fd, &byte, 1, 0);
		if (n != -ECONNRESET)
			snprintf(r->error, sizeof(r->error),
				 "expected ECONNRESET, read returned %zd (%s)", n,
				 n < 0 ? strerror((int)-n) : "no error");
	}
	if (o.close == CLOSE_SHUTDOWN && !o.expect_bytes && !r->error[0]) {
		/* Half-closed: drain to the peer's EOF before closing. */
		char sink[4096];
		ssize_t n;

		while ((n = recv_wait(fd, sink, sizeof(sink), 0)) > 0)
			;
	}
	if (o.close == CLOSE_RESET)
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

/* One clean 1-byte exchange, with everything else as configured. */
static int warmup_conn(int fd)
{
	struct opts saved = o;
	struct result r = {.bad_offset = -1};

	o.send_bytes = o.expect_bytes = 1;
	o.first = !o.server;
	o.reply = o.server;
	o.ack = o.expect_reset = false;
	o.close = CLOSE_SHUTDOWN;
	run_conn(fd, &r);
	o = saved;
	if (r.error[0])
		fprintf(stderr, "shunt-tt: warm-up connection: %s\n", r.error);
	return r.error[0] ? -1 : 0;
}

static void report_conn(const struct result *r)
{
	atomic_fetch_add(&total_sent, r->sent);
	atomic_fetch_add(&total_received, r->received);
	if (r->error[0]) {
		atomic_fetch_add(&conns_failed, 1);
		pthread_mutex_lock(&report_lock);
		if (!first_error[0])
			snprintf(first_error, sizeof(first_error), "%s", r->error);
		pthread_mutex_unlock(&report_lock);
		return;
	}
	atomic_fetch_add(&conns_ok, 1);
}

/* ---- client ------------------------------------------------------------- */

static void *client_conn(void *arg)
{
	struct result r = {.bad_offset = -1};
	int fd, one = 1;

	(void)arg;
	fd = socket(o.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fail(&r, "socket", errno);
		goto out;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	set_style(fd); /* before connect: that is when the datapath decides */
	if (connect(fd, (struct sockaddr *)&o.addr, o.addrlen) && errno != EINPROGRESS) {
		fail(&r, "connect", errno);
		close(fd);
		goto out;
	}
	if (!o.blocking) {
		socklen_t len = sizeof(int);
		int soerr = 0;

		if (wait_for(fd, POLLOUT) || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) ||
		    soerr) {
			fail(&r, "connect", soerr ? soerr : ETIMEDOUT);
			close(fd);
			goto out;
		}
	}
	run_conn(fd, &r);
out:
	report_conn(&r);
	return NULL;
}

static int run_client(void)
{
	pthread_t *threads = calloc((size_t)o.conns, sizeof(*threads));
	int round, i;

	if (!threads)
		return 1;
	if (o.warmup) {
		struct result r = {.bad_offset = -1};
		int fd = socket(o.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

		set_style(fd);
		if (fd < 0 ||
		    (connect(fd, (struct sockaddr *)&o.addr, o.addrlen) && errno != EINPROGRESS) ||
		    wait_for(fd, POLLOUT) || warmup_conn(fd)) {
			fail(&r, "warm-up", errno);
			report_conn(&r);
			return 1;
		}
	}
	for (round = 0; round < o.repeat; round++) {
		if (o.conns == 1) {
			client_conn(NULL);
			continue;
		}
		for (i = 0; i < o.conns; i++)
			if (pthread_create(&threads[i], NULL, client_conn, NULL)) {
				fprintf(stderr, "shunt-tt: pthread_create: %s\n", strerror(errno));
				return 1;
			}
		for (i = 0; i < o.conns; i++)
			pthread_join(threads[i], NULL);
	}
	free(threads);
	return 0;
}

/* ---- server ------------------------------------------------------------- */

static void *server_conn(void *arg)
{
	struct result r = {.bad_offset = -1};
	int fd = (int)(intptr_t)arg;

	run_conn(fd, &r);
	report_conn(&r);
	return NULL;
}

static int run_server(void)
{
	int lfd, one = 1, served = 0;
	pthread_attr_t attr;

	lfd = socket(o.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, (struct sockaddr *)&o.addr, o.addrlen) || listen(lfd, 4096)) {
		fprintf(stderr, "shunt-tt: listen: %s\n", strerror(errno));
		return 1;
	}
	/* Readiness line for the test harness. */
	printf("listening\n");
	fflush(stdout);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	while (o.count < 0 || served < o.count) {
		pthread_t t;
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			fprintf(stderr, "shunt-tt: accept: %s\n", strerror(errno));
			return 1;
		}
		if (o.warmup) {
			o.warmup = false;
			if (warmup_conn(fd))
				return 1;
			continue;
		}
		served++;
		if (pthread_create(&t, &attr, server_conn, (void *)(intptr_t)fd)) {
			struct result r = {.bad_offset = -1};

			fail(&r, "pthread_create", errno);
			report_conn(&r);
			close(fd);
		}
	}
	close(lfd);
	/* Wait for the connection threads to report. */
	while (atomic_load(&conns_ok) + atomic_load(&conns_failed) < served)
		usleep(1000);
	return 0;
}

/* ---- options ------------------------------------------------------------ */

static int parse_addr(const char *text)
{
	return netaddr_parse(text, &o.addr, &o.addrlen);
}

static uint64_t parse_size(const char *text)
{
	char *end;
	double v = strtod(text, &end);

	switch (*end) {
	case 'K':
	case 'k':
		v *= 1024;
		break;
	case 'M':
	case 'm':
		v *= 1024 * 1024;
		break;
	case 'G':
	case 'g':
		v *= 1024.0 * 1024 * 1024;
		break;
	default:
		break;
	}
	return (uint64_t)v;
}

static void usage(void)
{
	fprintf(stderr, "usage: shunt-tt server --listen ADDR:PORT | client --connect ADDR:PORT "
			"[--send N] [--expect N] [--write-size W|mixed] [--recv METHOD] "
			"[--close shutdown|close|reset] [--first|--reply|--read-after N] [--ack] "
			"[--expect-reset] "
			"[--handshake] "
			"[--conns N] [--repeat N] "
			"[--count N] [--timeout S]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const char *const recv_names[] = {"read",  "peek",   "fionread",
						 "epoll", "splice", "waitall"};
	double start;
	int i, err;
	size_t k;

	if (argc < 2)
		usage();
	if (strcmp(argv[1], "server") == 0)
		o.server = true;
	else if (strcmp(argv[1], "client") != 0)
		usage();
	for (i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if ((!strcmp(a, "--listen") || !strcmp(a, "--connect")) && v) {
			if (parse_addr(v))
				usage();
			i++;
		} else if (!strcmp(a, "--send") && v) {
			o.send_bytes = parse_size(v), i++;
		} else if (!strcmp(a, "--expect") && v) {
			o.expect_bytes = parse_size(v), i++;
		} else if (!strcmp(a, "--write-size") && v) {
			o.write_size = !strcmp(v, "mixed")    ? 0
				       : !strcmp(v, "phases") ? WRITE_PHASES
							      : (size_t)parse_size(v);
			i++;
			if (o.write_size > 65536 && o.write_size != WRITE_PHASES)
				o.write_size = 65536;
		} else if (!strcmp(a, "--recv") && v) {
			for (k = 0; k < sizeof(recv_names) / sizeof(recv_names[0]); k++)
				if (!strcmp(v, recv_names[k]))
					break;
			if (k == sizeof(recv_names) / sizeof(recv_names[0]))
				usage();
			o.recv = (enum recv_method)k, i++;
		} else if (!strcmp(a, "--close") && v) {
			o.close = !strcmp(v, "reset")	? CLOSE_RESET
				  : !strcmp(v, "close") ? CLOSE_CLOSE
							: CLOSE_SHUTDOWN;
			i++;
		} else if (!strcmp(a, "--read-after") && v) {
			o.read_after = parse_size(v), i++;
		} else if (!strcmp(a, "--first")) {
			o.first = true;
		} else if (!strcmp(a, "--reply")) {
			o.reply = true;
		} else if (!strcmp(a, "--ack")) {
			o.ack = true;
		} else if (!strcmp(a, "--expect-reset")) {
			o.expect_reset = true;
		} else if (!strcmp(a, "--handshake")) {
			o.handshake = true;
		} else if (!strcmp(a, "--blocking")) {
			o.blocking = true;
		} else if (!strcmp(a, "--warmup")) {
			o.warmup = true;
		} else if (!strcmp(a, "--conns") && v) {
			o.conns = atoi(v), i++;
		} else if (!strcmp(a, "--repeat") && v) {
			o.repeat = atoi(v), i++;
		} else if (!strcmp(a, "--count") && v) {
			o.count = atoi(v), i++;
		} else if (!strcmp(a, "--timeout") && v) {
			o.timeout_s = atoi(v), i++;
		} else {
			usage();
		}
	}
	if (!o.addrlen || o.conns < 1 || o.repeat < 1 || o.timeout_s < 1)
		usage();
	signal(SIGPIPE, SIG_IGN);
	start = now_s();
	err = o.server ? run_server() : run_client();
	printf("{\"role\":\"%s\",\"ok\":%d,\"failed\":%d,\"sent\":%llu,\"received\":%llu,"
	       "\"seconds\":%.3f,\"error\":\"%s\"}\n",
	       o.server ? "server" : "client", atomic_load(&conns_ok), atomic_load(&conns_failed),
	       (unsigned long long)atomic_load(&total_sent),
	       (unsigned long long)atomic_load(&total_received), now_s() - start, first_error);
	return err || atomic_load(&conns_failed) ? 1 : 0;
}
