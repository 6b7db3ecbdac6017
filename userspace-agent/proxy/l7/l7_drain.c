// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Draining a loop when the proxy is replaced (l7.h l7_loop_drain): clients
 * are told to go as HTTP tells them, between requests, so that none loses
 * one. HTTP/2 clients get GOAWAY twice, as RFC 9113 6.8 has it: first the
 * shutdown notice, then, a round trip or more later, the last stream id
 * taken. HTTP/1.1 clients get `connection: close` on their next response
 * (l7_h1.c); one idle between requests is closed, unless its next request
 * has already arrived.
 */
#include <stdbool.h>
#include <sys/socket.h>

#include "l7_impl.h"

/* Whether D has bytes waiting that the loop has not read yet. */
static bool input_waiting(const struct l7_down *d)
{
	char c;

	return l7_buf_pending(&d->in) || recv(d->io.fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

/* An HTTP/1.1 client between requests. One accepted, or answered, less
 * than L7_DRAIN_IDLE_MS ago is about to send (wrk, a client's busy pool):
 * its next answer says close. One idle for longer sits in a pool, and
 * closing it is what an idle timeout does. */
static void drain_h1(struct l7_down *d)
{
	if (d->req || d->closing || timer_now_ms() - d->idle_since_ms < L7_DRAIN_IDLE_MS ||
	    input_waiting(d))
		return;
	l7_down_close(d);
}

static void drain_h2(struct l7_down *d, bool final)
{
	if (!final && !d->goaway_notice) {
		d->goaway_notice = true;
		nghttp2_submit_shutdown_notice(d->h2);
	} else if (final && !d->goaway_final) {
		d->goaway_final = true;
		nghttp2_submit_goaway(d->h2, NGHTTP2_FLAG_NONE,
				      nghttp2_session_get_last_proc_stream_id(d->h2),
				      NGHTTP2_NO_ERROR, NULL, 0);
	} else {
		return;
	}
	l7_down_write(d); /* closes it once the GOAWAY is out and no stream is left */
}

/* No client left to ask anything: the pooled connections to endpoints
 * go too (over a tunnel, each holds a stream open). */
static void close_pools(struct l7_loop *l)
{
	size_t i;

	l7_mirrors_close(l);
	l7_h2_up_close_all(l);
	for (i = 0; i < l->npools; i++)
		while (l->pool_list[i]->idle)
			l7_up_release(l->pool_list[i]->idle, false);
}

void l7_loop_drain(struct l7_loop *l, bool final)
{
	struct l7_down *d, *next;

	l->draining = true;
	for (d = l->downs; d; d = next) {
		next = d->next;
		if (d->dead)
			continue;
		if (d->h2)
			drain_h2(d, final);
		else
			drain_h1(d);
	}
	if (final && !l7_loop_connections(l))
		close_pools(l);
	l7_loop_end_turn(l);
}

size_t l7_loop_connections(const struct l7_loop *l)
{
	const struct l7_down *d;
	size_t n = l7_tunnels_count(l);

	for (d = l->downs; d; d = d->next)
		n++;
	return n;
}
