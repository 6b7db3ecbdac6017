// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * shunt-recv-wakeup: what a blocking read of a TCP socket returns when
 * something wakes it without data, on plain TCP and with the socket in a
 * private sockhash (no BPF program: tcp_bpf's recvmsg all the same).
 * docs/kernel-patches/README.md.
 *
 *   shunt-recv-wakeup [--runs N] [--case NAME]
 *
 * Cases (over 127.0.0.1, an ephemeral port):
 *   half_close      the reader shuts down its writing half; the peer's ack
 *                   of the FIN (FIN_WAIT2) wakes it; plain: EAGAIN at the
 *                   end of SO_RCVTIMEO
 *   write_space     another thread fills the reader's send buffer; the
 *                   peer drains it (write space), then sends a byte;
 *                   plain: that byte
 *   signal_restart  SIGALRM (SA_RESTART) while the read blocks, a byte
 *                   later; plain: the read restarts and gets the byte
 *   reset           the peer closes with SO_LINGER 0; plain: ECONNRESET
 *
 * One line per case and mode: how many of the runs behaved as plain TCP
 * must, how many got EAGAIN early, how many something else, how many
 * missed the wakeup (half_close: the FIN's ack came before the read
 * blocked or after it ended), and what the last read returned after how
 * long. Then the verdict of the loader's
 * probe (shunt_probe_recv_waits) and a summary line
 * "recv_waits: fixed|broken (cases: ...)". Exit 0 when every plain run
 * behaved, 1 when one did not, 2 when the sockhash could not be set up.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "recv_waits_probe.h"

#define HALF_CLOSE_TIMEOUT_MS 150
#define SAFETY_TIMEOUT_MS     5000 /* SO_RCVTIMEO where the timeout is not the case */
#define PEER_DELAY_MS	      50   /* until the peer does what wakes the reader */
#define DATA_DELAY_MS	      100  /* then until it sends the byte */
#define FILL_BYTES	      (1 << 20)
#define SMALL_BUF	      (64 << 10)

/* OUT_MISSED: the wakeup did not fall inside the read (half_close only). */
enum outcome { OUT_OK, OUT_EARLY_EAGAIN, OUT_OTHER, OUT_MISSED, OUT_MAX };

struct wcase {
	const char *name;
	int (*run)(bool in_sockhash, struct shunt_recv_wait *r);
	enum outcome (*judge)(const struct shunt_recv_wait *r);
};

/* A connected pair, the reader (fds[0]) in a sockhash when asked. */
struct conn {
	int fds[2];
	int map;
};

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000L};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static int set_timeout(int fd, int opt, int ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = ms % 1000 * 1000};

	return setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof(tv)) ? -errno : 0;
}

static void conn_close(struct conn *c)
{
	for (int i = 0; i < 2; i++)
		if (c->fds[i] >= 0)
			close(c->fds[i]);
	if (c->map >= 0)
		close(c->map);
}

static int conn_open(struct conn *c, bool in_sockhash)
{
	int err;

	c->fds[0] = c->fds[1] = c->map = -1;
	err = shunt_recv_waits_pair(c->fds);
	if (err)
		return err;
	if (in_sockhash) {
		c->map = shunt_recv_waits_sockhash(c->fds[0]);
		if (c->map < 0) {
			err = c->map;
			conn_close(c);
		}
	}
	return err;
}

static int send_byte(int fd)
{
	return send(fd, "x", 1, MSG_NOSIGNAL) == 1 ? 0 : -errno;
}

/* half_close: the loader's probe case, timed by the caller's runs. */
static int run_half_close(bool in_sockhash, struct shunt_recv_wait *r)
{
	return shunt_recv_waits_half_close(in_sockhash, HALF_CLOSE_TIMEOUT_MS, r);
}

static enum outcome judge_half_close(const struct shunt_recv_wait *r)
{
	if (r->ret != -EAGAIN)
		return OUT_OTHER;
	if (r->ms < HALF_CLOSE_TIMEOUT_MS * 0.9)
		return OUT_EARLY_EAGAIN;
	return r->state_in == TCP_FIN_WAIT1 && r->state_out == TCP_FIN_WAIT2 ? OUT_OK : OUT_MISSED;
}

/* EAGAIN before the safety timeout is early; at it, the case went wrong. */
static enum outcome judge_eagain(const struct shunt_recv_wait *r)
{
	return r->ret == -EAGAIN && r->ms < SAFETY_TIMEOUT_MS * 0.9 ? OUT_EARLY_EAGAIN : OUT_OTHER;
}

/* The byte the peer sends comes after the wakeup. */
static enum outcome judge_byte(const struct shunt_recv_wait *r)
{
	return r->ret == 1 ? OUT_OK : judge_eagain(r);
}

static void *fill_send_buffer(void *arg)
{
	static char buf[64 << 10];
	int fd = *(int *)arg;
	size_t sent = 0;

	while (sent < FILL_BYTES) {
		ssize_t n = send(fd, buf, sizeof(buf), MSG_NOSIGNAL);

		if (n <= 0)
			break;
		sent += (size_t)n;
	}
	return NULL;
}

struct reader {
	int fd;
	struct shunt_recv_wait *r;
};

static void *read_blocking(void *arg)
{
	struct reader *rd = arg;

	shunt_recv_waits_read(rd->fd, rd->r);
	return NULL;
}

/* The peer reads everything the writer thread sends, then sends a byte. */
static int drain_then_send(int fd)
{
	static char buf[64 << 10];
	size_t got = 0;

	while (got < FILL_BYTES) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		got += (size_t)n;
	}
	sleep_ms(DATA_DELAY_MS);
	return send_byte(fd);
}

/* write_space: a reader thread blocks in recv while a writer thread on the
 * same socket waits for send buffer space, which the peer then frees. */
static int run_write_space(bool in_sockhash, struct shunt_recv_wait *r)
{
	pthread_t reader, writer;
	int small = SMALL_BUF, err;
	struct reader rd;
	struct conn c;

	err = conn_open(&c, in_sockhash);
	if (err)
		return err;
	if (setsockopt(c.fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)) ||
	    setsockopt(c.fds[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small))) {
		err = -errno;
		goto cleanup;
	}
	err = set_timeout(c.fds[0], SO_RCVTIMEO, SAFETY_TIMEOUT_MS);
	err = err ?: set_timeout(c.fds[0], SO_SNDTIMEO, SAFETY_TIMEOUT_MS);
	if (err)
		goto cleanup;
	rd = (struct reader){.fd = c.fds[0], .r = r};
	if (pthread_create(&reader, NULL, read_blocking, &rd)) {
		err = -EAGAIN;
		goto cleanup;
	}
	sleep_ms(10);
	if (pthread_create(&writer, NULL, fill_send_buffer, &c.fds[0])) {
		err = -EAGAIN;
		shutdown(c.fds[1], SHUT_RDWR); /* ends the reader */
		pthread_join(reader, NULL);
		goto cleanup;
	}
	sleep_ms(PEER_DELAY_MS);
	err = drain_then_send(c.fds[1]);
	if (err)
		shutdown(c.fds[1], SHUT_RDWR);
	pthread_join(writer, NULL);
	pthread_join(reader, NULL);
cleanup:
	conn_close(&c);
	return err;
}

static void on_alarm(int sig)
{
	(void)sig;
}

struct signal_peer {
	pthread_t reader;
	int fd;
};

static void *signal_then_send(void *arg)
{
	struct signal_peer *p = arg;

	sleep_ms(PEER_DELAY_MS);
	pthread_kill(p->reader, SIGALRM);
	sleep_ms(DATA_DELAY_MS);
	send_byte(p->fd);
	return NULL;
}

/* signal_restart: no SO_RCVTIMEO, which would turn the restart into EINTR;
 * the peer's byte ends the read in any case. */
static int run_signal_restart(bool in_sockhash, struct shunt_recv_wait *r)
{
	struct sigaction sa = {.sa_handler = on_alarm, .sa_flags = SA_RESTART};
	struct signal_peer p;
	pthread_t peer;
	struct conn c;
	int err;

	err = conn_open(&c, in_sockhash);
	if (err)
		return err;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGALRM, &sa, NULL)) {
		err = -errno;
		goto cleanup;
	}
	p = (struct signal_peer){.reader = pthread_self(), .fd = c.fds[1]};
	if (pthread_create(&peer, NULL, signal_then_send, &p)) {
		err = -EAGAIN;
		goto cleanup;
	}
	shunt_recv_waits_read(c.fds[0], r);
	pthread_join(peer, NULL);
cleanup:
	conn_close(&c);
	return err;
}

static void *reset_peer(void *arg)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	int fd = *(int *)arg;

	sleep_ms(PEER_DELAY_MS);
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	return NULL;
}

static int run_reset(bool in_sockhash, struct shunt_recv_wait *r)
{
	pthread_t peer;
	struct conn c;
	int err, peer_fd;

	err = conn_open(&c, in_sockhash);
	if (err)
		return err;
	err = set_timeout(c.fds[0], SO_RCVTIMEO, SAFETY_TIMEOUT_MS);
	if (err)
		goto cleanup;
	peer_fd = c.fds[1];
	if (pthread_create(&peer, NULL, reset_peer, &peer_fd)) {
		err = -EAGAIN;
		goto cleanup;
	}
	c.fds[1] = -1; /* the peer thread closes it */
	shunt_recv_waits_read(c.fds[0], r);
	pthread_join(peer, NULL);
cleanup:
	conn_close(&c);
	return err;
}

static enum outcome judge_reset(const struct shunt_recv_wait *r)
{
	return r->ret == -ECONNRESET ? OUT_OK : judge_eagain(r);
}

static const struct wcase cases[] = {
    {"half_close", run_half_close, judge_half_close},
    {"write_space", run_write_space, judge_byte},
    {"signal_restart", run_signal_restart, judge_byte},
    {"reset", run_reset, judge_reset},
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

static const char *describe(ssize_t ret, char *buf, size_t len)
{
	if (ret >= 0)
		snprintf(buf, len, "%zd byte%s", ret, ret == 1 ? "" : "s");
	else
		snprintf(buf, len, "%s", strerrorname_np((int)-ret) ?: "?");
	return buf;
}

/* Runs one case RUNS times in one mode and prints its line; the number of
 * runs that got EAGAIN early, or -errno when a run could not be set up. */
static int run_case(const struct wcase *wc, bool in_sockhash, int runs, bool *plain_ok)
{
	int counts[OUT_MAX] = {0}, i, err = 0;
	struct shunt_recv_wait r = {0};
	char what[64];

	for (i = 0; i < runs && !err; i++) {
		err = wc->run(in_sockhash, &r);
		if (!err)
			counts[wc->judge(&r)]++;
	}
	if (err) {
		printf("%-15s %-9s setup failed: %s\n", wc->name,
		       in_sockhash ? "sockhash" : "plain", strerror(-err));
		return err;
	}
	printf("%-15s %-9s ok %2d  early-EAGAIN %2d  other %2d  missed %2d  of %d;"
	       "  last: %s after %.1f ms\n",
	       wc->name, in_sockhash ? "sockhash" : "plain", counts[OUT_OK],
	       counts[OUT_EARLY_EAGAIN], counts[OUT_OTHER], counts[OUT_MISSED], runs,
	       describe(r.ret, what, sizeof(what)), r.ms);
	if (!in_sockhash && (counts[OUT_EARLY_EAGAIN] || counts[OUT_OTHER]))
		*plain_ok = false;
	return counts[OUT_EARLY_EAGAIN];
}

static void print_probe(void)
{
	int ret = shunt_probe_recv_waits();

	printf("probe: shunt_probe_recv_waits() = %d (%s)\n", ret,
	       ret == 1	  ? "fixed: keeps waiting"
	       : ret == 0 ? "broken: EAGAIN early"
			  : strerror(-ret));
}

static int parse_args(int argc, char **argv, int *runs, const char **only)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--runs") && i + 1 < argc)
			*runs = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--case") && i + 1 < argc)
			*only = argv[++i];
		else
			return -EINVAL;
	}
	return *runs > 0 ? 0 : -EINVAL;
}

int main(int argc, char **argv)
{
	const char *only = NULL;
	bool plain_ok = true, setup_failed = false;
	char broken[128] = "";
	int runs = 20, n, ran = 0;
	size_t i;

	if (parse_args(argc, argv, &runs, &only)) {
		fprintf(stderr, "usage: shunt-recv-wakeup [--runs N] [--case NAME]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (i = 0; i < NCASES; i++) {
		if (only && strcmp(only, cases[i].name))
			continue;
		ran++;
		if (run_case(&cases[i], false, runs, &plain_ok) < 0)
			setup_failed = true;
		n = run_case(&cases[i], true, runs, &plain_ok);
		if (n < 0)
			setup_failed = true;
		else if (n > 0)
			snprintf(broken + strlen(broken), sizeof(broken) - strlen(broken), "%s%s",
				 broken[0] ? "," : "", cases[i].name);
	}
	if (!ran) {
		fprintf(stderr, "shunt-recv-wakeup: no case named '%s'\n", only);
		return 2;
	}
	print_probe();
	if (setup_failed)
		printf("recv_waits: unknown (a case could not be set up)\n");
	else
		printf("recv_waits: %s (cases: %s)\n", broken[0] ? "broken" : "fixed",
		       broken[0] ? broken : "none");
	return setup_failed ? 2 : plain_ok ? 0 : 1;
}
