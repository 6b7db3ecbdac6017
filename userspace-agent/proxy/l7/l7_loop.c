// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A loop: its own epoll (nested in the worker's), a timerfd for the timing
 * wheel, and the views of the model that requests are routed with.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "l7_impl.h"

struct l7_stats l7_stats;

int l7_io_add(struct l7_loop *l, struct l7_io *io, bool rd, bool wr)
{
	struct epoll_event ev = {.events = (rd ? EPOLLIN : 0) | (wr ? EPOLLOUT : 0) | EPOLLRDHUP,
				 .data.ptr = io};

	io->rd = rd;
	io->wr = wr;
	return epoll_ctl(l->ep, EPOLL_CTL_ADD, io->fd, &ev) ? -errno : 0;
}

void l7_io_want(struct l7_loop *l, struct l7_io *io, bool rd, bool wr)
{
	struct epoll_event ev = {.events = (rd ? EPOLLIN : 0) | (wr ? EPOLLOUT : 0),
				 .data.ptr = io};

	if (io->fd < 0 || (io->rd == rd && io->wr == wr))
		return;
	io->rd = rd;
	io->wr = wr;
	epoll_ctl(l->ep, EPOLL_CTL_MOD, io->fd, &ev);
}

void l7_io_del(struct l7_loop *l, struct l7_io *io)
{
	if (io->fd >= 0)
		epoll_ctl(l->ep, EPOLL_CTL_DEL, io->fd, NULL);
}

int l7_io_flush(int fd, struct l7_buf *b)
{
	while (l7_buf_pending(b)) {
		ssize_t n = send(fd, b->data + b->off, l7_buf_pending(b), MSG_NOSIGNAL);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		l7_buf_consume(b, (size_t)n);
	}
	return 0;
}

void l7_send_later(struct l7_loop *l, struct l7_later *w)
{
	if (w->queued)
		return;
	w->queued = true;
	w->next = l->later;
	l->later = w;
}

struct l7_buf *l7_scratch(struct l7_loop *l)
{
	l7_buf_reset(&l->scratch);
	return &l->scratch;
}

/* Pipelined requests and put-off sends, until neither makes more of the
 * other (a client's write can resume an endpoint's stream, and back). */
static void run_deferred(struct l7_loop *l)
{
	struct l7_later *w;

	while (l->ready || l->later) {
		l7_loop_parse_ready(l);
		while ((w = l->later)) {
			l->later = w->next;
			w->queued = false;
			w->run(w);
		}
	}
}

uint32_t l7_random(struct l7_loop *l)
{
	/* xorshift32: load balancing and jitter need spread, not secrecy */
	l->rng ^= l->rng << 13;
	l->rng ^= l->rng >> 17;
	l->rng ^= l->rng << 5;
	return l->rng;
}

void l7_arm_in(struct l7_loop *l, struct timer *t, uint64_t ms)
{
	timer_arm(&l->wheel, t, timer_now_ms() + ms);
}

void l7_view_put(struct l7_view *v)
{
	size_t i;

	if (!v || --v->refs > 0)
		return;
	for (i = 0; i < v->ntables; i++)
		l7_table_free(v->table_list[i]);
	free(v->table_list);
	keymap_free(&v->tables);
	v->l->ops->release_model(v->l->ctx, v->hold);
	free(v);
}

/* The view of the model's current version, with a reference for the caller. */
struct l7_view *l7_view_current(struct l7_loop *l)
{
	const struct mesh_config *cfg;
	struct l7_view *v;
	__u64 version;

	cfg = l->ops->model(l->ctx, &version);
	if (!cfg)
		return NULL;
	if (!l->view || l->view->cfg != cfg || l->view->version != version) {
		v = calloc(1, sizeof(*v));
		if (!v)
			return NULL;
		v->l = l;
		v->hold = l->ops->hold_model(l->ctx);
		v->cfg = cfg;
		v->version = version;
		v->refs = 1;
		l7_view_put(l->view);
		l->view = v;
	}
	l->view->refs++;
	return l->view;
}

struct l7_loop *l7_loop_new(const struct l7_ops *ops, void *ctx, const char *hop)
{
	struct l7_loop *l = calloc(1, sizeof(*l));
	struct epoll_event ev = {.events = EPOLLIN};

	if (!l)
		return NULL;
	l->ep = l->tfd = -1;
	l->ops = ops;
	l->ctx = ctx;
	snprintf(l->hop, sizeof(l->hop), "%s", hop);
	l->rng = (unsigned int)time(NULL) ^ (unsigned int)(uintptr_t)l;
	if (!l->rng)
		l->rng = 1;
	/* span ids must not repeat across loops and restarts */
	if (getrandom(&l->trace_rng, sizeof(l->trace_rng), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(l->trace_rng))
		l->trace_rng = (uint64_t)time(NULL) << 32 ^ (uint64_t)(uintptr_t)l;
	timer_wheel_init(&l->wheel, timer_now_ms());
	l->ep = epoll_create1(EPOLL_CLOEXEC);
	l->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	ev.data.ptr = NULL; /* the timerfd */
	if (l->ep < 0 || l->tfd < 0 || epoll_ctl(l->ep, EPOLL_CTL_ADD, l->tfd, &ev)) {
		l7_loop_free(l);
		return NULL;
	}
	return l;
}

int l7_loop_fd(const struct l7_loop *l)
{
	return l->ep;
}

static void reap(struct l7_loop *l)
{
	struct l7_down *d;
	struct l7_up *u;

	while ((d = l->dead_downs)) {
		l->dead_downs = d->next;
		free(d);
	}
	while ((u = l->dead_ups)) {
		l->dead_ups = u->next;
		free(u);
	}
	l7_mirrors_reap(l);
	l7_h2_up_reap(l);
	l7_tunnels_reap(l);
}

void l7_loop_end_turn(struct l7_loop *l)
{
	run_deferred(l);
	reap(l);
	l7_loop_rearm(l);
}

/* The timerfd fires when the wheel's next timer is due. Set again only
 * when that changes: most turns leave the next deadline where it was, and
 * the system call was one per turn. */
void l7_loop_rearm(struct l7_loop *l)
{
	struct itimerspec its = {};
	int ms = timer_wheel_next_ms(&l->wheel);
	uint64_t due;

	if (ms == 0)
		ms = 1;
	due = ms < 0 ? UINT64_MAX : l->wheel.now_ms + (uint64_t)ms;
	if (due == l->tfd_due_ms)
		return; /* set to that already (fired or not: fired, it waits to be read) */
	if (ms > 0) {
		its.it_value.tv_sec = ms / 1000;
		its.it_value.tv_nsec = (long)(ms % 1000) * 1000000L;
	}
	if (timerfd_settime(l->tfd, 0, &its, NULL) == 0)
		l->tfd_due_ms = due;
}

void l7_loop_run(struct l7_loop *l)
{
	struct epoll_event evs[64];
	uint64_t expirations;
	int n, i;

	n = epoll_wait(l->ep, evs, 64, 0);
	for (i = 0; i < n; i++) {
		struct l7_io *io = evs[i].data.ptr;

		if (!io) {
			if (read(l->tfd, &expirations, sizeof(expirations)) < 0)
				(void)0;   /* nothing due after all */
			l->tfd_due_ms = 0; /* fired: set it again */
			continue;
		}
		io->on_event(io, evs[i].events);
	}
	timer_wheel_advance(&l->wheel, timer_now_ms());
	l7_loop_end_turn(l);
}

void l7_loop_free(struct l7_loop *l)
{
	size_t i;

	if (!l)
		return;
	while (l->downs)
		l7_down_close(l->downs);
	l7_tunnels_close(l);
	l7_mirrors_close(l);
	l7_h2_up_close_all(l);
	l->later = NULL; /* what is closed sends nothing more */
	for (i = 0; i < l->npools; i++) {
		while (l->pool_list[i]->idle)
			l7_up_release(l->pool_list[i]->idle, false);
		free(l->pool_list[i]);
	}
	reap(l);
	for (i = 0; i < l->nendpoints; i++)
		free(l->endpoint_list[i]);
	for (i = 0; i < l->nbudgets; i++)
		free(l->budget_list[i]);
	for (i = 0; i < l->nclusters; i++)
		free(l->cluster_list[i]);
	free(l->cluster_list);
	keymap_free(&l->clusters);
	free(l->pool_list);
	free(l->endpoint_list);
	free(l->budget_list);
	keymap_free(&l->endpoints);
	keymap_free(&l->pools);
	keymap_free(&l->budgets);
	l7_view_put(l->view);
	l7_buf_free(&l->scratch);
	if (l->tfd >= 0)
		close(l->tfd);
	if (l->ep >= 0)
		close(l->ep);
	free(l);
}
