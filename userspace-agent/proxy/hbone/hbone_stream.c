// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A tunnel's streams: one per proxied TCP connection, between its plain
 * socket and its HTTP/2 stream. Received DATA is written straight from the
 * decrypted buffer to the plain socket; only what a socket cannot take at
 * once is kept here, at most a stream window (HBONE_STREAM_WINDOW), since
 * window updates go out only for bytes the plain socket took. So a slow
 * reader slows its own stream, never the tunnel.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hbone_impl.h"

struct hbone_stats hbone_stats;

int hbone_watch(struct hbone_loop *l, int fd, struct hbone_endpoint *ep)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
				 .data.ptr = ep};

	return epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

struct hbone_stream *hbone_stream_alloc(struct hbone_loop *l, enum hbone_side side, int pfd)
{
	struct hbone_stream *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->side = side;
	s->l = l;
	s->pfd = pfd;
	s->id = -1;
	s->ready = side == HBONE_OUTBOUND;
	s->ep = (struct hbone_endpoint){s, false};
	s->started = s->active = time(NULL);
	if (pfd >= 0 && hbone_watch(l, pfd, &s->ep)) {
		free(s);
		return NULL;
	}
	atomic_fetch_add(&hbone_stats.streams[side], 1);
	atomic_fetch_add(&hbone_stats.streams_active[side], 1);
	s->next = l->streams;
	if (l->streams)
		l->streams->prev = s;
	l->streams = s;
	return s;
}

struct hbone_stream *hbone_stream_new(struct hbone_loop *l, int pfd, void *user)
{
	struct hbone_stream *s = hbone_stream_alloc(l, HBONE_OUTBOUND, pfd);

	if (!s) {
		close(pfd);
		return NULL;
	}
	s->user = user;
	return s;
}

void hbone_stream_free(struct hbone_stream *s, enum shunt_outcome why, bool reset)
{
	struct hbone_loop *l = s->l;
	struct hbone_stream_end end = {.outcome = why, .reset = reset};

	if (s->dead)
		return;
	if (s->pfd >= 0) {
		if (reset) {
			struct linger lg = {.l_onoff = 1, .l_linger = 0};

			setsockopt(s->pfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		}
		close(s->pfd);
		s->pfd = -1;
	}
	if (s->t && s->id >= 0 && !s->h2_closed)
		nghttp2_session_set_stream_user_data(s->t->h2, s->id, NULL);
	end.from_plain = s->from_plain;
	end.to_plain = s->to_plain;
	l->ops->stream_ended(l->ctx, s, s->user, &end);
	s->user = NULL;
	atomic_fetch_sub(&hbone_stats.streams_active[s->side], 1);
	atomic_fetch_add(&hbone_stats.streams_closed[s->side], 1);
	if (reset)
		atomic_fetch_add(&hbone_stats.resets[s->side], 1);
	free(s->down);
	s->down = NULL;
	if (s->prev)
		s->prev->next = s->next;
	else
		l->streams = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->dead = true;
	s->prev = NULL;
	s->next = l->dead_streams;
	l->dead_streams = s;
}

int hbone_stream_attach(struct hbone_stream *s, int pfd)
{
	int err = hbone_watch(s->l, pfd, &s->ep);

	if (!err)
		s->pfd = pfd;
	return err;
}

void hbone_stream_set_user(struct hbone_stream *s, void *user)
{
	s->user = user;
}

void *hbone_stream_user(const struct hbone_stream *s)
{
	return s->user;
}

enum hbone_side hbone_stream_side(const struct hbone_stream *s)
{
	return s->side;
}

void hbone_stream_drop(struct hbone_stream *s, enum shunt_outcome why)
{
	hbone_stream_free(s, why, false);
}

void hbone_stream_abort(struct hbone_stream *s, enum shunt_outcome why)
{
	struct hbone_tunnel *t = s->t;

	if (s->dead)
		return;
	if (t && s->id >= 0 && !s->h2_closed) {
		/* on_stream_close will not find it any more: it is gone now. */
		nghttp2_session_set_stream_user_data(t->h2, s->id, NULL);
		nghttp2_submit_rst_stream(t->h2, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
		t->nstreams--;
		if (!t->nstreams)
			t->idle_since = time(NULL);
	}
	hbone_stream_free(s, why, true);
	if (t && !t->dead)
		hbone_tunnel_flush_or_fail(t);
}

/* Tells nghttp2 that N received bytes of S left us: the windows reopen
 * (only the tunnel's once the stream itself is closed). */
void hbone_stream_consumed(struct hbone_stream *s, size_t n)
{
	if (!s->t || !n)
		return;
	if (s->h2_closed)
		nghttp2_session_consume_connection(s->t->h2, n);
	else
		nghttp2_session_consume(s->t->h2, s->id, n);
}

/* Keeps what the plain socket did not take; -1 if over the window. */
int hbone_stream_keep(struct hbone_stream *s, const uint8_t *data, size_t len)
{
	if (s->dstart && s->dend + len > s->dcap) {
		memmove(s->down, s->down + s->dstart, s->dend - s->dstart);
		s->dend -= s->dstart;
		s->dstart = 0;
	}
	if (s->dend + len > HBONE_STREAM_WINDOW)
		return -1; /* the peer sent more than the window allows */
	if (s->dend + len > s->dcap) {
		size_t cap = s->dcap ? s->dcap * 2 : 64 * 1024;
		char *n;

		while (cap < s->dend + len)
			cap *= 2;
		if (cap > HBONE_STREAM_WINDOW)
			cap = HBONE_STREAM_WINDOW;
		n = realloc(s->down, cap);
		if (!n)
			return -1;
		s->down = n;
		s->dcap = cap;
	}
	memcpy(s->down + s->dend, data, len);
	s->dend += len;
	return 0;
}

/* Writes kept bytes to the plain socket; -1 on a socket error. */
static int flush_down(struct hbone_stream *s)
{
	while (s->ready && s->dend > s->dstart) {
		ssize_t n = write(s->pfd, s->down + s->dstart, s->dend - s->dstart);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		s->dstart += (size_t)n;
		s->to_plain += (unsigned long long)n;
		s->active = time(NULL);
		hbone_stream_consumed(s, (size_t)n);
	}
	if (s->dstart == s->dend)
		s->dstart = s->dend = 0;
	return 0;
}

/* Carries END_STREAM to the plain side, and frees S once nothing is left. */
void hbone_stream_settle(struct hbone_stream *s)
{
	if (s->dead || s->dend > s->dstart)
		return;
	if (s->h2_eof && s->ready && !s->p_shut && s->pfd >= 0) {
		shutdown(s->pfd, SHUT_WR);
		s->p_shut = true;
	}
	if (s->h2_closed)
		hbone_stream_free(s, s->has_why ? s->why : SHUNT_OUT_CLOSED, s->has_why);
}

/* Inbound: the connection to the workload is up, or failed. */
static void upstream_connected(struct hbone_stream *s)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss), len = sizeof(int);
	int err = 0;

	if (getsockopt(s->pfd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
		hbone_refuse(s->t, s, SHUNT_OUT_UPSTREAM_REFUSED);
		return;
	}
	if (getpeername(s->pfd, (struct sockaddr *)&ss, &sl))
		return; /* not yet */
	if (hbone_respond(s->t, s, 200, NULL)) {
		hbone_stream_abort(s, SHUNT_OUT_RESET);
		return;
	}
	s->ready = true;
	s->l->ops->stream_opened(s->l->ctx, s);
}

/* Only what was received is left to write: the stream or tunnel is gone. */
static void stream_drain(struct hbone_stream *s)
{
	struct hbone_tunnel *t = s->t;

	if (flush_down(s))
		hbone_stream_free(s, SHUNT_OUT_RESET, true);
	else
		hbone_stream_settle(s);
	if (t && !t->dead)
		hbone_tunnel_flush_later(t); /* window updates */
}

void hbone_stream_event(struct hbone_stream *s)
{
	struct hbone_tunnel *t = s->t;

	if (s->dead || s->pfd < 0)
		return;
	if (!t || s->h2_closed) {
		stream_drain(s);
		return;
	}
	if (!s->ready) {
		upstream_connected(s);
		if (s->dead || !s->ready) {
			hbone_tunnel_flush_or_fail(t);
			return;
		}
	}
	if (flush_down(s)) {
		hbone_stream_abort(s, SHUNT_OUT_RESET);
		return;
	}
	if (s->deferred && !s->p_eof) {
		s->deferred = false;
		nghttp2_session_resume_data(t->h2, s->id);
	}
	hbone_stream_settle(s);
	hbone_tunnel_flush_later(t);
}

bool hbone_stream_retry(struct hbone_stream *s)
{
	if (s->side != HBONE_OUTBOUND || s->retried || s->from_plain || s->p_eof || s->status ||
	    s->has_why || s->dead || !s->l->ops->stream_refused)
		return false;
	s->retried = true;
	s->t = NULL;
	s->id = 0;
	s->deferred = false;
	return s->l->ops->stream_refused(s->l->ctx, s) == SHUNT_OUT_ALLOWED;
}
