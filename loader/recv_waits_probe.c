// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "recv_waits_probe.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <bpf/bpf.h>

/* The probe's read: the half-close comes 30 ms into it, the ack within
 * 50 ms of that (a delayed ack takes 40). */
#define PROBE_TIMEOUT_MS 150

double shunt_recv_waits_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int shunt_recv_waits_pair(int fds[2])
{
	struct sockaddr_in addr = {.sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(addr);
	int lfd, cfd = -1, afd = -1, err = 0;

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		return -errno;
	if (bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) || listen(lfd, 1) ||
	    getsockname(lfd, (struct sockaddr *)&addr, &len)) {
		err = -errno;
		goto cleanup;
	}
	cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (cfd < 0 || connect(cfd, (struct sockaddr *)&addr, sizeof(addr))) {
		err = -errno;
		goto cleanup;
	}
	afd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (afd < 0) {
		err = -errno;
		goto cleanup;
	}
	fds[0] = cfd;
	fds[1] = afd;
	cfd = afd = -1;
cleanup:
	if (cfd >= 0)
		close(cfd);
	close(lfd);
	return err;
}

int shunt_recv_waits_sockhash(int fd)
{
	__u32 key = 0, value = (__u32)fd;
	int map, err;

	map = bpf_map_create(BPF_MAP_TYPE_SOCKHASH, "shunt_rw_probe", sizeof(key), sizeof(value), 1,
			     NULL);
	if (map < 0)
		return -errno;
	if (bpf_map_update_elem(map, &key, &value, BPF_NOEXIST)) {
		err = -errno;
		close(map);
		return err;
	}
	return map;
}

int shunt_recv_waits_tcp_state(int fd)
{
	struct tcp_info info;
	socklen_t len = sizeof(info);

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len))
		return -errno;
	return info.tcpi_state;
}

void shunt_recv_waits_read(int fd, struct shunt_recv_wait *out)
{
	char byte;
	double t0;

	out->state_in = shunt_recv_waits_tcp_state(fd);
	t0 = shunt_recv_waits_now_ms();
	out->ret = recv(fd, &byte, 1, 0);
	if (out->ret < 0)
		out->ret = -errno;
	out->ms = shunt_recv_waits_now_ms() - t0;
	out->state_out = shunt_recv_waits_tcp_state(fd);
}

int shunt_recv_waits_open(struct shunt_recv_waits_conn *c, bool in_sockhash, int timeout_ms)
{
	struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = timeout_ms % 1000 * 1000};
	int err;

	c->map = -1;
	err = shunt_recv_waits_pair(c->fds);
	if (err)
		return err;
	if (in_sockhash) {
		c->map = shunt_recv_waits_sockhash(c->fds[0]);
		if (c->map < 0) {
			err = c->map;
			goto fail;
		}
	}
	if (setsockopt(c->fds[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv))) {
		err = -errno;
		goto fail;
	}
	return 0;
fail:
	shunt_recv_waits_close(c);
	return err;
}

void shunt_recv_waits_close(struct shunt_recv_waits_conn *c)
{
	if (c->map >= 0)
		close(c->map);
	close(c->fds[0]);
	close(c->fds[1]);
	c->map = c->fds[0] = c->fds[1] = -1;
}

int shunt_recv_waits_half_close(bool in_sockhash, int timeout_ms, struct shunt_recv_wait *out)
{
	struct shunt_recv_waits_conn c;
	int err;

	err = shunt_recv_waits_open(&c, in_sockhash, timeout_ms);
	if (err)
		return err;
	if (shutdown(c.fds[0], SHUT_WR))
		err = -errno;
	else
		shunt_recv_waits_read(c.fds[0], out);
	shunt_recv_waits_close(&c);
	return err;
}

/* The reading thread of the probe: one blocking read, timed. */
struct probe_reader {
	int fd;
	struct shunt_recv_wait result;
	double started_ms, returned_ms;
};

static void *probe_read(void *arg)
{
	struct probe_reader *r = arg;

	r->started_ms = shunt_recv_waits_now_ms();
	shunt_recv_waits_read(r->fd, &r->result);
	r->returned_ms = shunt_recv_waits_now_ms();
	return NULL;
}

/* Shuts down FD's writing half (which wakes a blocked reader: inet_shutdown
 * signals a state change) and waits for the peer's ack (FIN_WAIT2, a second
 * wakeup): when the shutdown began, or -1. */
static double probe_half_close(int fd)
{
	double t0 = shunt_recv_waits_now_ms();

	if (shutdown(fd, SHUT_WR))
		return -1;
	while (shunt_recv_waits_now_ms() - t0 < PROBE_TIMEOUT_MS / 3) {
		if (shunt_recv_waits_tcp_state(fd) == TCP_FIN_WAIT2)
			return t0;
		usleep(500);
	}
	return -1;
}

/*
 * The wakeup must fall inside the read, or the answer means nothing (a read
 * that never saw one times out on any kernel). So the read blocks first, in
 * a thread of its own, and the half-close comes from here a while later:
 * shutdown() and then the FIN_WAIT2 state change wake the blocked reader.
 * Returned at them: broken; returned at its own timeout, well after: fixed.
 */
int shunt_probe_recv_waits(void)
{
	struct probe_reader r = {.fd = -1};
	struct shunt_recv_waits_conn c;
	pthread_t thread;
	double woken;
	int err;

	err = shunt_recv_waits_open(&c, true, PROBE_TIMEOUT_MS);
	if (err)
		return err;
	r.fd = c.fds[0];
	if ((err = -pthread_create(&thread, NULL, probe_read, &r)))
		goto cleanup;
	usleep(PROBE_TIMEOUT_MS * 1000 / 5); /* the reader blocks meanwhile */
	woken = probe_half_close(c.fds[0]);
	pthread_join(thread, NULL);
	if (woken < 0 || r.result.ret != -EAGAIN || r.result.state_in != TCP_ESTABLISHED)
		err = -EPROTO; /* no ack, data, or the read ended before the half-close */
	else if (r.returned_ms < woken)
		err = -ETIME; /* it returned before the wakeup: not blocked then */
	else if (r.returned_ms - woken < PROBE_TIMEOUT_MS / 5)
		err = 0; /* returned at the wakeups */
	else
		err = r.returned_ms - r.started_ms >= PROBE_TIMEOUT_MS * 0.9 ? 1 : -ETIME;
cleanup:
	shunt_recv_waits_close(&c);
	return err;
}
