// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* A loop: one thread's tunnels and streams, their events and timeouts. */
#include <stdlib.h>

#include "hbone_impl.h"

struct hbone_loop *hbone_loop_new(int epfd, const struct hbone_ops *ops, void *ctx)
{
	struct hbone_loop *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->ep = epfd;
	l->ops = ops;
	l->ctx = ctx;
	return l;
}

void hbone_loop_event(struct hbone_loop *l, void *ptr)
{
	struct hbone_endpoint *ep = ptr;

	(void)l;
	/* Closed earlier in this batch: still allocated, marked dead. */
	if (ep->is_tunnel)
		hbone_tunnel_event(ep->obj);
	else
		hbone_stream_event(ep->obj);
}

/* Whether T, ready and without streams, has been idle long enough to go. */
static bool tunnel_idle(const struct hbone_tunnel *t, time_t now)
{
	if (t->st != T_READY || t->nstreams)
		return false;
	/* Draining: an inbound tunnel is left to its peer, which closes it
	 * once it has no stream left: closing it here could cross a stream
	 * the peer opened before it read the notice. */
	if (t->l->drain_since)
		return t->side == HBONE_OUTBOUND;
	if (t->side == HBONE_OUTBOUND)
		return t->draining || now - t->idle_since > HBONE_POOL_IDLE_S;
	return now - t->idle_since > HBONE_INBOUND_IDLE_S;
}

void hbone_loop_expire(struct hbone_loop *l, long idle_timeout_s)
{
	time_t now = time(NULL);
	struct hbone_stream *s, *sn;
	struct hbone_tunnel *t, *tn;

	for (s = l->streams; s; s = sn) {
		sn = s->next;
		if (!s->ready && now - s->started > HBONE_SETUP_TIMEOUT_S)
			hbone_stream_abort(s, SHUNT_OUT_SETUP_TIMEOUT);
		else if (now - s->active > idle_timeout_s)
			hbone_stream_abort(s, SHUNT_OUT_IDLE_TIMEOUT);
	}
	for (t = l->tunnels; t; t = tn) {
		tn = t->next;
		if (t->st != T_READY && now - t->started > HBONE_SETUP_TIMEOUT_S) {
			hbone_tunnel_fail(t, SHUNT_OUT_SETUP_TIMEOUT);
		} else if (tunnel_idle(t, now)) {
			/* Say goodbye; the tunnel closes once that is sent. */
			nghttp2_session_terminate_session(t->h2, NGHTTP2_NO_ERROR);
			hbone_tunnel_flush_or_fail(t);
			if (!t->dead && !t->pend_len)
				hbone_tunnel_fail(t, SHUNT_OUT_TUNNEL_IDLE);
		}
	}
}

void hbone_loop_drain(struct hbone_loop *l)
{
	struct hbone_tunnel *t;

	if (l->drain_since)
		return;
	l->drain_since = time(NULL);
	/* the shutdown notice: last stream id 2^31-1, so that a stream
	 * already on its way is still taken */
	for (t = l->tunnels; t; t = t->next)
		if (t->side == HBONE_INBOUND && t->st == T_READY && !t->dead)
			hbone_tunnel_notice(t);
}

size_t hbone_loop_streams(const struct hbone_loop *l)
{
	const struct hbone_stream *s;
	size_t n = 0;

	for (s = l->streams; s; s = s->next)
		n++;
	return n;
}

bool hbone_loop_has_tunnels(const struct hbone_loop *l)
{
	return l->tunnels != NULL;
}

void hbone_loop_reap(struct hbone_loop *l)
{
	struct hbone_tunnel *t, *tn;
	struct hbone_stream *s, *sn;

	/* The batch's frames first: a failed flush adds to the dead. */
	while ((t = l->flush_list)) {
		l->flush_list = t->flush_next;
		t->flush_queued = false;
		hbone_tunnel_flush_or_fail(t);
	}

	for (s = l->dead_streams; s; s = sn) {
		sn = s->next;
		free(s);
	}
	l->dead_streams = NULL;
	for (t = l->dead_tunnels; t; t = tn) {
		tn = t->next;
		free(t);
	}
	l->dead_tunnels = NULL;
}

void hbone_loop_free(struct hbone_loop *l)
{
	if (!l)
		return;
	while (l->streams)
		hbone_stream_free(l->streams, SHUNT_OUT_RESET, true);
	while (l->tunnels)
		hbone_tunnel_fail(l->tunnels, SHUNT_OUT_CLOSED);
	hbone_loop_reap(l);
	free(l->rbuf);
	free(l);
}
