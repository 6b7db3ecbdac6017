// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Upgraded connections (WebSocket, any Upgrade but h2c): once the endpoint
 * answered 101, the client's connection and the endpoint's carry bytes
 * both ways, untouched. An end is not read while the other end has
 * L7_OUT_HIGH bytes queued; an EOF goes on as shutdown(SHUT_WR) once the
 * bytes before it are written; the tunnel ends when both ways have, on an
 * error, or when no byte moved for its idle time. The endpoint's socket
 * may be a TCP connection or a socketpair to a cross-node stream: both are
 * just descriptors here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "l7_impl.h"

struct l7_tunnel_end {
	struct l7_io io; /* first: the epoll event's pointer */
	struct l7_tunnel *t;
	struct l7_buf out;	  /* bytes for this end */
	bool eof;		  /* this end sent EOF */
	bool shut;		  /* its EOF passed on: SHUT_WR done on this end */
	bool polled;		  /* in the loop's epoll set */
	unsigned long long bytes; /* read from this end */
};

struct l7_tunnel {
	struct l7_tunnel_end down, up; /* the client's end, the endpoint's */
	struct l7_loop *l;
	void *token;		    /* the endpoint connection's, for ops->closed */
	struct l7_cluster *cluster; /* counts the connection against maxConnections */
	struct timer idle;
	uint64_t idle_ms, active_ms, start_ms;
	char src[SHUNT_NAME_MAX];
	bool dead;
	struct l7_tunnel *next, *prev;
};

static struct l7_tunnel_end *other(struct l7_tunnel_end *e)
{
	return e == &e->t->down ? &e->t->up : &e->t->down;
}

static void end_close(struct l7_loop *l, struct l7_tunnel_end *e)
{
	if (e->polled)
		l7_io_del(l, &e->io);
	if (e->io.fd >= 0)
		close(e->io.fd);
	e->io.fd = -1;
	l7_buf_free(&e->out);
}

static void tunnel_close(struct l7_tunnel *t, enum shunt_outcome why)
{
	struct l7_loop *l = t->l;

	if (t->dead)
		return;
	t->dead = true;
	timer_cancel(&l->wheel, &t->idle);
	end_close(l, &t->down);
	end_close(l, &t->up);
	l->ops->closed(l->ctx, t->token);
	if (t->cluster) {
		t->cluster->connections--;
		l7_cluster_freed(l, t->cluster);
	}
	if (t->prev)
		t->prev->next = t->next;
	else
		l->tunnels = t->next;
	if (t->next)
		t->next->prev = t->prev;
	t->next = l->dead_tunnels;
	l->dead_tunnels = t;
	atomic_fetch_sub(&l7_stats.upgrades_active, 1);
	atomic_fetch_sub(&l7_stats.connections_active, 1);
	atomic_fetch_add(&l7_stats.upgrades_closed[why], 1);
	pr_debug("l7: %s: upgraded connection ended (%s) after %llu ms, %llu bytes up, %llu down",
		 t->src, shunt_outcome_label(why),
		 (unsigned long long)(timer_now_ms() - t->start_ms), t->down.bytes, t->up.bytes);
}

/* Reads E into the other end's buffer while that one takes it, writing it
 * on at once (most bytes never wait); 0 or -errno. */
static int end_read(struct l7_tunnel_end *e)
{
	struct l7_tunnel_end *to = other(e);
	char buf[65536];
	ssize_t n;
	int err;

	while (!e->eof && l7_buf_pending(&to->out) < L7_OUT_HIGH) {
		n = recv(e->io.fd, buf, sizeof(buf), 0);
		if (n == 0) {
			e->eof = true;
		} else if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : -errno;
		} else {
			e->bytes += (unsigned long long)n;
			e->t->active_ms = timer_now_ms();
			err = l7_buf_append(&to->out, buf, (size_t)n);
			if (!err)
				err = l7_io_flush(to->io.fd, &to->out);
			if (err)
				return err;
		}
	}
	return 0;
}

/* Asks epoll for what E waits for. An end that waits for nothing leaves
 * the set, or its hang-up would be reported over and over. */
static int end_poll(struct l7_tunnel_end *e)
{
	struct l7_loop *l = e->t->l;
	bool rd = !e->eof && l7_buf_pending(&other(e)->out) < L7_OUT_HIGH;
	bool wr = l7_buf_pending(&e->out) > 0;

	if (!rd && !wr) {
		if (e->polled)
			l7_io_del(l, &e->io);
		e->polled = false;
		return 0;
	}
	if (e->polled) {
		l7_io_want(l, &e->io, rd, wr);
		return 0;
	}
	e->polled = true;
	return l7_io_add(l, &e->io, rd, wr);
}

/* Passes each EOF on once the bytes before it are out; ends a tunnel done
 * both ways. */
static void settle(struct l7_tunnel *t)
{
	struct l7_tunnel_end *ends[2] = {&t->down, &t->up};
	int i;

	for (i = 0; i < 2; i++) {
		struct l7_tunnel_end *e = ends[i];

		if (other(e)->eof && !e->shut && !l7_buf_pending(&e->out)) {
			if (shutdown(e->io.fd, SHUT_WR) && errno != ENOTCONN)
				return tunnel_close(t, SHUNT_OUT_RESET);
			e->shut = true;
		}
	}
	if (t->down.shut && t->up.shut)
		return tunnel_close(t, SHUNT_OUT_CLOSED);
	if (end_poll(&t->down) || end_poll(&t->up))
		tunnel_close(t, SHUNT_OUT_SOCKET_FAILED);
}

static void on_end_event(struct l7_io *io, uint32_t events)
{
	struct l7_tunnel_end *e = (struct l7_tunnel_end *)io;
	struct l7_tunnel *t = e->t;

	if (t->dead)
		return;
	if (events & EPOLLERR)
		return tunnel_close(t, SHUNT_OUT_RESET);
	if ((events & EPOLLOUT) && l7_io_flush(io->fd, &e->out))
		return tunnel_close(t, SHUNT_OUT_RESET);
	if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) && end_read(e))
		return tunnel_close(t, SHUNT_OUT_RESET);
	/* the other end may read again now that this one took its bytes */
	if ((events & EPOLLOUT) && end_read(other(e)))
		return tunnel_close(t, SHUNT_OUT_RESET);
	settle(t);
}

/* Idle means no byte either way; checked when due, not re-armed per read. */
static void on_idle(struct timer *tm, void *ctx)
{
	struct l7_tunnel *t = ctx;
	uint64_t due = t->active_ms + t->idle_ms;

	(void)tm;
	if (timer_now_ms() < due)
		return timer_arm(&t->l->wheel, &t->idle, due);
	tunnel_close(t, SHUNT_OUT_IDLE_TIMEOUT);
}

static void end_init(struct l7_tunnel *t, struct l7_tunnel_end *e, int fd)
{
	e->t = t;
	e->io.fd = fd;
	e->io.on_event = on_end_event;
}

/* The tunnel's first bytes: what the client sent past its request's head
 * goes to the endpoint, what the endpoint sent past its 101 to the client. */
static int take_early(struct l7_tunnel *t, struct l7_buf *in, const char *early, size_t n)
{
	int err = l7_buf_append(&t->down.out, early, n);

	if (!err)
		err = l7_buf_append(&t->up.out, in->data + in->off, l7_buf_pending(in));
	l7_buf_free(in);
	if (!err)
		err = l7_io_flush(t->up.io.fd, &t->up.out);
	if (!err)
		err = l7_io_flush(t->down.io.fd, &t->down.out);
	return err;
}

void l7_tunnel_start(struct l7_up *up, const char *early, size_t n)
{
	struct l7_request *req = up->req;
	struct l7_down *d = req->down;
	struct l7_loop *l = up->l;
	struct l7_tunnel *t = calloc(1, sizeof(*t));
	struct l7_buf in = {};

	if (!t)
		return req->sink->cut(req); /* ends the request, and UP with it */
	t->l = l;
	t->token = up->token;
	t->cluster = up->cluster;
	t->idle_ms = up->idle_ms ? up->idle_ms : L7_IDLE_DOWN_MS;
	t->start_ms = t->active_ms = timer_now_ms();
	snprintf(t->src, sizeof(t->src), "%s", d->src_name);
	timer_init(&t->idle, on_idle, t);
	req->ep->pending--;
	l7_endpoint_observe(req->ep, (t->start_ms - up->sent_ms) * 1000 + 1);
	end_init(t, &t->up, l7_up_detach(up, &t->up.out));
	l7_request_upgraded(req); /* no deadline or retry from here on */
	end_init(t, &t->down, l7_down_detach(d, &in, &t->down.out, &t->down.eof));
	t->next = l->tunnels;
	if (l->tunnels)
		l->tunnels->prev = t;
	l->tunnels = t;
	atomic_fetch_add(&l7_stats.upgrades, 1);
	atomic_fetch_add(&l7_stats.upgrades_active, 1);
	l7_arm_in(l, &t->idle, t->idle_ms);
	if (take_early(t, &in, early, n))
		return tunnel_close(t, SHUNT_OUT_RESET);
	settle(t);
}

void l7_tunnels_reap(struct l7_loop *l)
{
	struct l7_tunnel *t;

	while ((t = l->dead_tunnels)) {
		l->dead_tunnels = t->next;
		free(t);
	}
}

void l7_tunnels_close(struct l7_loop *l)
{
	while (l->tunnels)
		tunnel_close(l->tunnels, SHUNT_OUT_CLOSED);
}

size_t l7_tunnels_count(const struct l7_loop *l)
{
	const struct l7_tunnel *t;
	size_t n = 0;

	for (t = l->tunnels; t; t = t->next)
		n++;
	return n;
}
