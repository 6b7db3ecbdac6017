// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Replacing the node proxy without losing a connection (docs/proxy.md
 * "Upgrades"). The new proxy listens beside the old one: the same ports,
 * SO_REUSEPORT. On SIGTERM the old one drains: it closes its listeners,
 * and the kernel moves the connections waiting in their accept queues to
 * the new proxy's (bpf/reuseport.bpf.c); it tells the clients and peers of
 * its open connections to go, the way their protocol says it
 * (hbone_loop_drain, l7_loop_drain); and it exits once they are all done,
 * or at the drain deadline. A second signal stops it at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>

#include "common/log.h"
#include "proxy_impl.h"
#include "reuseport_migrate.h"

/* From GOAWAY's shutdown notice to its last stream id, and between the
 * later rounds that close clients gone idle: a round trip and more. */
#define DRAIN_TICK_MS 1000

static long long monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void proxy_drain_init(void)
{
	const char *why = "";

	px.migrate_prog = shunt_reuseport_migrate_load(&why);
	if (px.migrate_prog < 0)
		pr_warn("reuseport_migrate: %s (%s): connections waiting in this proxy's accept "
			"queues when it stops are reset, not handed to the proxy that replaces it",
			why, strerror(-px.migrate_prog));
}

void proxy_drain_attach_migration(int fd)
{
	static atomic_bool warned;
	int err;

	if (px.migrate_prog < 0)
		return;
	err = shunt_reuseport_migrate_attach(fd, px.migrate_prog);
	if (err && !atomic_exchange(&warned, true))
		pr_warn("reuseport_migrate: cannot attach to a listener: %s", strerror(-err));
}

void proxy_drain_make_ready_file(void)
{
	int fd;

	if (!px.ready_file)
		return;
	fd = open(px.ready_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		pr_warn("cannot create the ready file %s: %s", px.ready_file, strerror(errno));
	else
		close(fd);
}

void proxy_drain_serving(void)
{
	/* the file first: a SIGTERM from here on stops the proxy, whose exit
	 * removes it */
	proxy_drain_make_ready_file();
	atomic_store(&px.serving, true);
}

/* From the signal handler: async-signal-safe calls only. */
void proxy_drain_signal(void)
{
	if (!atomic_load(&px.serving) || px.drain_s <= 0 || atomic_load(&px.draining)) {
		atomic_store(&px.stopping, true);
		return;
	}
	atomic_store(&px.drain_until_ms, monotonic_ms() + px.drain_s * 1000LL);
	atomic_store(&px.draining, true);
	if (px.ready_file)
		unlink(px.ready_file);
}

void proxy_drain_end(void)
{
	if (px.ready_file)
		unlink(px.ready_file);
	/* the number stays: /metrics may still read it */
	if (px.migrate_prog >= 0)
		close(px.migrate_prog);
}

static void close_listener(struct proxy_worker *w, int *fd)
{
	if (*fd < 0)
		return;
	epoll_ctl(w->ep, EPOLL_CTL_DEL, *fd, NULL);
	close(*fd);
	*fd = -1;
}

static void drain_begin(struct proxy_worker *w, long long now)
{
	w->drain_started_ms = w->drain_tick_ms = now;
	close_listener(w, &w->out_fd);
	close_listener(w, &w->out6_fd);
	close_listener(w, &w->in_fd);
	close_listener(w, &w->l7_fd);
	close_listener(w, &w->l7_6_fd);
	hbone_loop_drain(w->loop);
	l7_loop_drain(w->l7, false);
}

bool proxy_drain_worker_done(struct proxy_worker *w)
{
	long long now = monotonic_ms();
	size_t streams, conns;

	if (!w->drain_started_ms) {
		drain_begin(w, now);
		return false;
	}
	if (now - w->drain_tick_ms >= DRAIN_TICK_MS) {
		w->drain_tick_ms = now;
		l7_loop_drain(w->l7, true);
	}
	streams = hbone_loop_streams(w->loop);
	conns = l7_loop_connections(w->l7);
	if (now >= atomic_load(&px.drain_until_ms)) {
		atomic_fetch_add(&px.drain_cut_streams, streams);
		atomic_fetch_add(&px.drain_cut_http, conns);
		return true;
	}
	return w->drain_tick_ms != w->drain_started_ms && !streams && !conns &&
	       !hbone_loop_has_tunnels(w->loop);
}
