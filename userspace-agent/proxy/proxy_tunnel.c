// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * HTTP/2 CONNECT tunnels between node proxies (see proxy_tunnel.h).
 *
 * Bytes are copied no more than with one TLS connection per stream: the
 * data provider reads a plain socket straight into nghttp2's frame buffer,
 * and received DATA is written straight from the decrypted buffer to the
 * plain socket. Only what a socket cannot take at once is kept: a stream's
 * receive window (STREAM_WINDOW) bounds it, since window updates are sent
 * only for bytes the plain socket took (manual flow control). So a slow
 * reader slows its own stream, never the tunnel.
 */
#include "proxy_tunnel.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/err.h>

#include "common/log.h"
#include "proxy_stats.h"

#define RBUF_SIZE (256 * 1024)

static void tunnel_fail(struct tunnel *t, const char *why);

static int watch(struct worker *w, int fd, struct endpoint *ep)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
				 .data.ptr = ep};

	return epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

/* ---- streams ------------------------------------------------------------ */

struct pstream *pstream_new(struct worker *w, enum proxy_side side, int pfd)
{
	struct pstream *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->side = side;
	s->w = w;
	s->pfd = pfd;
	s->id = -1;
	s->ready = side == OUTBOUND;
	s->ep = (struct endpoint){s, false};
	s->started = s->active = time(NULL);
	snprintf(s->desc, sizeof(s->desc), "(new)");
	if (pfd >= 0 && watch(w, pfd, &s->ep)) {
		free(s);
		return NULL;
	}
	atomic_fetch_add(&proxy_stats.conns[side], 1);
	atomic_fetch_add(&proxy_stats.active[side], 1);
	s->next = w->streams;
	if (w->streams)
		w->streams->prev = s;
	w->streams = s;
	return s;
}

/* Unlinks S, closes its socket (with a reset when RESET) and queues it. */
static void pstream_free(struct pstream *s, const char *why, bool reset)
{
	struct worker *w = s->w;

	if (s->dead)
		return;
	if (s->pfd >= 0) {
		if (reset) {
			struct linger l = {.l_onoff = 1, .l_linger = 0};

			setsockopt(s->pfd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		}
		close(s->pfd);
		s->pfd = -1;
	}
	if (s->t && s->id >= 0 && !s->h2_closed)
		nghttp2_session_set_stream_user_data(s->t->h2, s->id, NULL);
	proxy_stream_ended(s, why);
	atomic_fetch_sub(&proxy_stats.active[s->side], 1);
	atomic_fetch_add(&proxy_stats.closed[s->side], 1);
	if (reset)
		atomic_fetch_add(&proxy_stats.resets[s->side], 1);
	free(s->down);
	s->down = NULL;
	if (s->prev)
		s->prev->next = s->next;
	else
		w->streams = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->dead = true;
	s->prev = NULL;
	s->next = w->dead_streams;
	w->dead_streams = s;
}

int pstream_attach(struct pstream *s, int pfd)
{
	int err = watch(s->w, pfd, &s->ep);

	if (!err)
		s->pfd = pfd;
	return err;
}

void pstream_drop(struct pstream *s, const char *why)
{
	pstream_free(s, why, false);
}

static void tunnel_flush_or_fail(struct tunnel *t);

void pstream_abort(struct pstream *s, const char *why)
{
	struct tunnel *t = s->t;

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
	pstream_free(s, why, true);
	if (t && !t->dead)
		tunnel_flush_or_fail(t);
}

/* Tells nghttp2 that N received bytes of S left us: the windows reopen
 * (only the tunnel's once the stream itself is closed). */
static void consumed(struct pstream *s, size_t n)
{
	if (!s->t || !n)
		return;
	if (s->h2_closed)
		nghttp2_session_consume_connection(s->t->h2, n);
	else
		nghttp2_session_consume(s->t->h2, s->id, n);
}

/* Keeps what the plain socket did not take; -1 if over the window. */
static int keep_down(struct pstream *s, const uint8_t *data, size_t len)
{
	if (s->dstart && s->dend + len > s->dcap) {
		memmove(s->down, s->down + s->dstart, s->dend - s->dstart);
		s->dend -= s->dstart;
		s->dstart = 0;
	}
	if (s->dend + len > STREAM_WINDOW)
		return -1; /* the peer sent more than the window allows */
	if (s->dend + len > s->dcap) {
		size_t cap = s->dcap ? s->dcap * 2 : 64 * 1024;
		char *n;

		while (cap < s->dend + len)
			cap *= 2;
		if (cap > STREAM_WINDOW)
			cap = STREAM_WINDOW;
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
static int flush_down(struct pstream *s)
{
	while (s->ready && s->dend > s->dstart) {
		ssize_t n = write(s->pfd, s->down + s->dstart, s->dend - s->dstart);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		s->dstart += (size_t)n;
		s->to_plain += (unsigned long long)n;
		s->active = time(NULL);
		consumed(s, (size_t)n);
	}
	if (s->dstart == s->dend)
		s->dstart = s->dend = 0;
	return 0;
}

/* Carries END_STREAM to the plain side, and frees S once nothing is left. */
static void pstream_settle(struct pstream *s)
{
	if (s->dead || s->dend > s->dstart)
		return;
	if (s->h2_eof && s->ready && !s->p_shut && s->pfd >= 0) {
		shutdown(s->pfd, SHUT_WR);
		s->p_shut = true;
	}
	if (s->h2_closed)
		pstream_free(s, s->why ? s->why : "closed", s->why != NULL);
}

/* The data provider: the plain socket's bytes go straight into the frame. */
static ssize_t plain_read(nghttp2_session *h2, int32_t id, uint8_t *buf, size_t length,
			  uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	struct pstream *s = src->ptr;
	ssize_t n;

	(void)h2, (void)id, (void)ud;
	if (!s || s->dead || s->pfd < 0)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	n = read(s->pfd, buf, length);
	if (n > 0) {
		s->from_plain += (unsigned long long)n;
		s->active = time(NULL);
		return n;
	}
	if (n == 0) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		s->p_eof = true;
		return 0;
	}
	if (errno == EAGAIN || errno == EINTR) {
		s->deferred = true;
		return NGHTTP2_ERR_DEFERRED;
	}
	s->why = "reset";
	return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */
}

/* Frames as large as the windows allow: one read() per frame, not per 16 KiB. */
static ssize_t frame_length(nghttp2_session *h2, uint8_t type, int32_t id, int32_t session_window,
			    int32_t stream_window, uint32_t max_frame, void *ud)
{
	int32_t n = session_window < stream_window ? session_window : stream_window;

	(void)h2, (void)type, (void)id, (void)ud;
	/* A full frame with its 9-byte header is 16 full TLS records. */
	if ((uint32_t)n > max_frame - 9)
		n = (int32_t)max_frame - 9;
	return n > 0 ? n : 1;
}

/* ---- nghttp2 callbacks -------------------------------------------------- */

static struct pstream *stream_of(nghttp2_session *h2, int32_t id)
{
	return nghttp2_session_get_stream_user_data(h2, id);
}

static int on_begin_headers(nghttp2_session *h2, const nghttp2_frame *f, void *ud)
{
	struct tunnel *t = ud;
	struct pstream *s;

	if (t->side != INBOUND || f->hd.type != NGHTTP2_HEADERS ||
	    f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	s = t->draining ? NULL : pstream_new(t->w, INBOUND, -1);
	if (!s) {
		nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, f->hd.stream_id,
					  NGHTTP2_REFUSED_STREAM);
		return 0;
	}
	s->t = t;
	s->id = f->hd.stream_id;
	t->nstreams++;
	nghttp2_session_set_stream_user_data(h2, s->id, s);
	return 0;
}

static void copy_value(char *dst, size_t cap, const uint8_t *v, size_t len)
{
	if (len >= cap)
		len = cap - 1;
	memcpy(dst, v, len);
	dst[len] = 0;
}

static int on_header(nghttp2_session *h2, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
		     const uint8_t *value, size_t vlen, uint8_t flags, void *ud)
{
	struct pstream *s = stream_of(h2, f->hd.stream_id);
	struct tunnel *t = ud;

	(void)flags;
	if (!s || f->hd.type != NGHTTP2_HEADERS)
		return 0;
	if (t->side == INBOUND) {
		if (nlen == 10 && !memcmp(name, ":authority", 10))
			copy_value(s->authority, sizeof(s->authority), value, vlen);
		else if (nlen == 12 && !memcmp(name, "shunt-source", 12))
			copy_value(s->source, sizeof(s->source), value, vlen);
		else if (nlen == 17 && !memcmp(name, "shunt-source-addr", 17))
			copy_value(s->source_addr, sizeof(s->source_addr), value, vlen);
	} else {
		if (nlen == 7 && !memcmp(name, ":status", 7)) {
			char st[8];

			copy_value(st, sizeof(st), value, vlen);
			s->status = atoi(st);
		} else if (nlen == 11 && !memcmp(name, "shunt-error", 11)) {
			copy_value(s->error, sizeof(s->error), value, vlen);
		}
	}
	return 0;
}

/* Inbound: answers S with STATUS and, for a refusal, the reason. */
static int respond(struct tunnel *t, struct pstream *s, const char *status, const char *why)
{
	nghttp2_data_provider dp = {.source.ptr = s, .read_callback = plain_read};
	nghttp2_nv nv[2] = {
	    {(uint8_t *)":status", (uint8_t *)status, 7, strlen(status), NGHTTP2_NV_FLAG_NONE},
	    {(uint8_t *)"shunt-error", (uint8_t *)(why ? why : ""), 11, why ? strlen(why) : 0,
	     NGHTTP2_NV_FLAG_NONE},
	};

	if (!why)
		return nghttp2_submit_response(t->h2, s->id, nv, 1, &dp);
	/* The answer ends the stream; once it is sent, a reset stops the
	 * client's data (on_frame_send): before, it would drop the answer. */
	return nghttp2_submit_response(t->h2, s->id, nv, 2, NULL);
}

static void refuse(struct tunnel *t, struct pstream *s, const char *why)
{
	s->why = why;
	respond(t, s, strstr(why, "cannot") || strstr(why, "destination refused") ? "502" : "403",
		why);
	if (s->pfd >= 0) {
		close(s->pfd);
		s->pfd = -1;
	}
}

static int on_frame_recv(nghttp2_session *h2, const nghttp2_frame *f, void *ud)
{
	struct tunnel *t = ud;
	struct pstream *s;
	const char *why;

	if (f->hd.type == NGHTTP2_GOAWAY) {
		t->draining = true; /* no new streams; the open ones go on */
		return 0;
	}
	if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA)
		return 0;
	s = stream_of(h2, f->hd.stream_id);
	if (!s)
		return 0;
	if (f->hd.type == NGHTTP2_HEADERS && t->side == INBOUND &&
	    f->headers.cat == NGHTTP2_HCAT_REQUEST) {
		why = proxy_inbound_open(s, t->peer_id);
		if (why) {
			refuse(t, s, why);
			return 0;
		}
	} else if (f->hd.type == NGHTTP2_HEADERS && t->side == OUTBOUND &&
		   f->headers.cat == NGHTTP2_HCAT_RESPONSE && s->status != 200) {
		/* Refused by the other side: the client sees a reset, as it
		 * would from a destination that refuses. */
		s->why = s->error[0] ? s->error : "refused by the destination node";
		nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
		return 0;
	}
	if (f->hd.flags & NGHTTP2_FLAG_END_STREAM) {
		s->h2_eof = true;
		pstream_settle(s);
	}
	return 0;
}

static int on_frame_send(nghttp2_session *h2, const nghttp2_frame *f, void *ud)
{
	struct pstream *s = stream_of(h2, f->hd.stream_id);
	struct tunnel *t = ud;

	if (s && s->why && t->side == INBOUND && f->hd.type == NGHTTP2_HEADERS &&
	    (f->hd.flags & NGHTTP2_FLAG_END_STREAM))
		nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_NO_ERROR);
	return 0;
}

static int on_data_chunk(nghttp2_session *h2, uint8_t flags, int32_t id, const uint8_t *data,
			 size_t len, void *ud)
{
	struct pstream *s = stream_of(h2, id);
	ssize_t n = 0;

	(void)flags, (void)ud;
	if (!s || s->why) {
		nghttp2_session_consume(h2, id, len); /* nobody wants it */
		return 0;
	}
	if (s->ready && s->dend == s->dstart) {
		n = write(s->pfd, data, len);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			s->why = "reset";
			nghttp2_session_consume(h2, id, len);
			nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
			return 0;
		}
		if (n < 0)
			n = 0;
		s->to_plain += (unsigned long long)n;
		s->active = time(NULL);
		consumed(s, (size_t)n);
	}
	if ((size_t)n < len && keep_down(s, data + n, len - (size_t)n)) {
		s->why = "reset: the peer overran the stream window";
		nghttp2_session_consume(h2, id, len - (size_t)n);
		nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, id, NGHTTP2_FLOW_CONTROL_ERROR);
	}
	return 0;
}

static int on_stream_close(nghttp2_session *h2, int32_t id, uint32_t error, void *ud)
{
	struct pstream *s = stream_of(h2, id);
	struct tunnel *t = ud;

	if (!s)
		return 0;
	nghttp2_session_set_stream_user_data(h2, id, NULL);
	t->nstreams--;
	if (!t->nstreams)
		t->idle_since = time(NULL);
	s->h2_closed = true;
	if (error != NGHTTP2_NO_ERROR && !s->why)
		s->why = "reset";
	if (s->why) {
		pstream_free(s, s->why, strcmp(s->why, "closed") != 0);
		return 0;
	}
	pstream_settle(s);
	return 0;
}

static nghttp2_session_callbacks *cbs;

static void callbacks_init(void)
{
	if (nghttp2_session_callbacks_new(&cbs))
		return;
	nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
	nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
	nghttp2_session_callbacks_set_data_source_read_length_callback(cbs, frame_length);
}

/* Built once, by whichever worker gets here first; sessions copy them. */
static nghttp2_session_callbacks *callbacks(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, callbacks_init);
	return cbs;
}

/* ---- tunnels ------------------------------------------------------------ */

static int session_new(struct tunnel *t)
{
	nghttp2_settings_entry settings[] = {
	    {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1024},
	    {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW},
	    {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, PROXY_BUF_SIZE},
	    {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
	};
	nghttp2_option *opt;
	int err;

	if (nghttp2_option_new(&opt))
		return -ENOMEM;
	/* Windows reopen only for bytes the plain socket took. */
	nghttp2_option_set_no_auto_window_update(opt, 1);
	err = t->side == OUTBOUND ? nghttp2_session_client_new2(&t->h2, callbacks(), t, opt)
				  : nghttp2_session_server_new2(&t->h2, callbacks(), t, opt);
	nghttp2_option_del(opt);
	if (err)
		return -ENOMEM;
	/* Streams have their windows; the connection's is no extra limit. */
	if (nghttp2_submit_settings(t->h2, NGHTTP2_FLAG_NONE, settings,
				    t->side == OUTBOUND ? 4 : 3) ||
	    nghttp2_session_set_local_window_size(t->h2, NGHTTP2_FLAG_NONE, 0, 1 << 30))
		return -ENOMEM;
	return 0;
}

struct tunnel *tunnel_new(struct worker *w, enum proxy_side side, int fd, SSL *ssl, bool connecting,
			  unsigned ca_gen)
{
	struct tunnel *t = calloc(1, sizeof(*t));

	if (!w->rbuf)
		w->rbuf = malloc(RBUF_SIZE);
	if (!t || !w->rbuf || !callbacks()) {
		free(t);
		SSL_free(ssl);
		close(fd);
		return NULL;
	}
	t->side = side;
	t->w = w;
	t->fd = fd;
	t->ssl = ssl;
	t->ca_gen = ca_gen;
	t->st = connecting ? T_CONNECTING : T_HANDSHAKE;
	t->ep = (struct endpoint){t, true};
	t->started = t->idle_since = time(NULL);
	SSL_set_app_data(ssl, t);
	if (session_new(t) || watch(w, fd, &t->ep)) {
		if (t->h2)
			nghttp2_session_del(t->h2);
		SSL_free(ssl);
		close(fd);
		free(t);
		return NULL;
	}
	atomic_fetch_add(&proxy_stats.tunnels[side], 1);
	atomic_fetch_add(&proxy_stats.tunnels_active[side], 1);
	t->next = w->tunnels;
	if (w->tunnels)
		w->tunnels->prev = t;
	w->tunnels = t;
	return t;
}

struct tunnel *tunnel_pool_find(struct worker *w, const char *key, unsigned ca_gen,
				time_t not_before)
{
	struct tunnel *t;

	for (t = w->tunnels; t; t = t->next) {
		if (t->side != OUTBOUND || t->dead || t->draining || strcmp(t->key, key))
			continue;
		if (t->ca_gen != ca_gen || t->started < not_before) {
			t->draining = true; /* its certificate is not the current one */
			continue;
		}
		if (t->nstreams < TUNNEL_MAX_STREAMS &&
		    (uint32_t)t->nstreams < nghttp2_session_get_remote_settings(
						t->h2, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS))
			return t;
	}
	return NULL;
}

static void tunnel_free(struct tunnel *t)
{
	struct worker *w = t->w;
	struct pstream *s, *next;

	if (t->dead)
		return;
	t->dead = true;
	/* Streams still on it end with it, but those that were complete
	 * still write out what they received. */
	for (s = w->streams; s; s = next) {
		next = s->next;
		if (s->t != t)
			continue;
		s->t = NULL;
		if (!s->h2_closed || s->why)
			pstream_free(s, s->why ? s->why : "reset: the tunnel closed", true);
	}
	nghttp2_session_del(t->h2);
	t->h2 = NULL;
	SSL_free(t->ssl);
	t->ssl = NULL;
	close(t->fd);
	t->fd = -1;
	t->pend_len = 0;
	atomic_fetch_sub(&proxy_stats.tunnels_active[t->side], 1);
	if (t->prev)
		t->prev->next = t->next;
	else
		w->tunnels = t->next;
	if (t->next)
		t->next->prev = t->prev;
	t->prev = NULL;
	t->next = w->dead_tunnels;
	w->dead_tunnels = t;
}

static void tunnel_fail(struct tunnel *t, const char *why)
{
	if (t->dead)
		return;
	pr_info("%s tunnel %s: %s (%d streams)", t->side == OUTBOUND ? "outbound" : "inbound",
		t->side == OUTBOUND ? t->key : t->peer_id, why, t->nstreams);
	tunnel_free(t);
}

int tunnel_open_stream(struct tunnel *t, struct pstream *s, const char *authority,
		       const char *source, const char *source_addr)
{
	nghttp2_data_provider dp = {.source.ptr = s, .read_callback = plain_read};
	nghttp2_nv nv[] = {
	    {(uint8_t *)":method", (uint8_t *)"CONNECT", 7, 7, NGHTTP2_NV_FLAG_NONE},
	    {(uint8_t *)":authority", (uint8_t *)authority, 10, strlen(authority),
	     NGHTTP2_NV_FLAG_NONE},
	    {(uint8_t *)"shunt-source", (uint8_t *)source, 12, strlen(source),
	     NGHTTP2_NV_FLAG_NONE},
	    {(uint8_t *)"shunt-source-addr", (uint8_t *)source_addr, 17, strlen(source_addr),
	     NGHTTP2_NV_FLAG_NONE},
	};
	int32_t id;

	id = nghttp2_submit_request(t->h2, NULL, nv, 4, &dp, s);
	if (id < 0)
		return -ENOMEM;
	s->t = t;
	s->id = id;
	t->nstreams++;
	tunnel_flush_or_fail(t);
	return 0;
}

enum { MOVED = 1, STALLED = 0, FAILED = -1 };

/*
 * OpenSSL's error queue is per thread, and SSL_get_error() reports whatever
 * is on it: an error one tunnel left there (a peer that closed without
 * close_notify) would make the next tunnel's harmless WANT_READ look fatal.
 * So every TLS call starts with an empty queue.
 */
static void tls_fresh(void)
{
	ERR_clear_error();
}

static int ssl_wants(SSL *ssl, int ret)
{
	int e = SSL_get_error(ssl, ret);

	return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? STALLED : FAILED;
}

/* Sends what nghttp2 has, until TLS would block. What TLS does not take
 * stays where nghttp2 put it, and nghttp2 is asked for more only once it is
 * gone: no copy, and the retry offers TLS the same bytes, as it requires. */
static int tunnel_flush(struct tunnel *t)
{
	ssize_t n;
	int r;

	if (t->st != T_READY)
		return 0;
	tls_fresh();
	for (;;) {
		if (!t->pend_len) {
			n = nghttp2_session_mem_send(t->h2, &t->pend);
			if (n < 0)
				return -1;
			if (n == 0)
				break;
			t->pend_len = (size_t)n;
		}
		r = SSL_write(t->ssl, t->pend, (int)t->pend_len);
		if (r <= 0)
			return ssl_wants(t->ssl, r) == FAILED ? -1 : 0;
		t->pend += r;
		t->pend_len -= (size_t)r;
	}
	/* The records are gathered in the write BIO: out with them now. */
	if (BIO_flush(SSL_get_wbio(t->ssl)) <= 0 && !BIO_should_retry(SSL_get_wbio(t->ssl)))
		return -1;
	/* Both sides said goodbye and nothing is left to send. */
	if (!nghttp2_session_want_read(t->h2) && !nghttp2_session_want_write(t->h2))
		tunnel_fail(t, "closed");
	return 0;
}

static void tunnel_flush_or_fail(struct tunnel *t)
{
	if (!t->dead && tunnel_flush(t))
		tunnel_fail(t, "reset: cannot send to the peer");
}

/* Reads and processes what the peer sent, until TLS would block. Records
 * are decrypted one by one (16 KiB at most each) but handed to nghttp2
 * together, so a stream's socket gets one write per batch, not per record. */
static int tunnel_read(struct tunnel *t)
{
	tls_fresh();
	for (;;) {
		size_t filled = 0;
		int r = 0;

		while (filled + 16384 <= RBUF_SIZE) {
			r = SSL_read(t->ssl, t->w->rbuf + filled, (int)(RBUF_SIZE - filled));
			if (r <= 0)
				break;
			filled += (size_t)r;
		}
		if (filled && (nghttp2_session_mem_recv(t->h2, t->w->rbuf, filled) < 0 || t->dead))
			return -1;
		if (r > 0)
			continue; /* the buffer filled up: more may be waiting */
		if (SSL_get_error(t->ssl, r) == SSL_ERROR_ZERO_RETURN)
			return -1;
		return ssl_wants(t->ssl, r) == FAILED ? -1 : 0;
	}
}

static void tunnel_handshake(struct tunnel *t)
{
	const unsigned char *alpn = NULL;
	unsigned int alpn_len = 0;
	const char *why;
	int r;

	tls_fresh();
	r = SSL_do_handshake(t->ssl);

	if (r != 1) {
		if (ssl_wants(t->ssl, r) == FAILED) {
			proxy_handshake_failed(t);
			tunnel_free(t);
		}
		return;
	}
	SSL_get0_alpn_selected(t->ssl, &alpn, &alpn_len);
	if (alpn_len != 2 || memcmp(alpn, "h2", 2)) {
		tunnel_fail(t, "refused: the peer does not speak the tunnel protocol (ALPN h2)");
		return;
	}
	why = proxy_peer_verified(t);
	if (why) {
		atomic_fetch_add(&proxy_stats.refused[RF_IDENTITY], 1);
		tunnel_fail(t, why);
		return;
	}
	atomic_fetch_add(&proxy_stats.handshakes[t->side], 1);
	if (SSL_session_reused(t->ssl))
		atomic_fetch_add(&proxy_stats.resumed, 1);
	t->st = T_READY;
}

void tunnel_event(struct tunnel *t)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (t->dead)
		return;
	if (t->st == T_CONNECTING) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);

		if (getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
			tunnel_fail(t, "cannot reach the destination node's proxy");
			return;
		}
		if (getpeername(t->fd, (struct sockaddr *)&ss, &sl))
			return; /* not connected yet */
		t->st = T_HANDSHAKE;
	}
	if (t->st == T_HANDSHAKE) {
		tunnel_handshake(t);
		if (t->dead || t->st != T_READY)
			return;
	}
	if (tunnel_read(t)) {
		tunnel_fail(t, t->nstreams ? "reset: the peer closed the tunnel"
					   : "closed by the peer");
		return;
	}
	tunnel_flush_or_fail(t);
}

/* Inbound: the connection to the workload is up, or failed. */
static void upstream_connected(struct pstream *s)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss), len = sizeof(int);
	int err = 0;

	if (getsockopt(s->pfd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
		refuse(s->t, s, "the destination refused the connection");
		return;
	}
	if (getpeername(s->pfd, (struct sockaddr *)&ss, &sl))
		return; /* not yet */
	if (respond(s->t, s, "200", NULL)) {
		pstream_abort(s, "reset");
		return;
	}
	s->ready = true;
	pr_info("inbound %s: open", s->desc);
}

void pstream_event(struct pstream *s)
{
	struct tunnel *t = s->t;

	if (s->dead || s->pfd < 0)
		return;
	if (!t || s->h2_closed) {
		/* Only what was received is left to write. */
		if (flush_down(s))
			pstream_free(s, "reset", true);
		else
			pstream_settle(s);
		if (t && !t->dead)
			tunnel_flush_or_fail(t); /* window updates */
		return;
	}
	if (!s->ready) {
		upstream_connected(s);
		if (s->dead || !s->ready) {
			tunnel_flush_or_fail(t);
			return;
		}
	}
	if (flush_down(s)) {
		pstream_abort(s, "reset");
		return;
	}
	if (s->deferred && !s->p_eof) {
		s->deferred = false;
		nghttp2_session_resume_data(t->h2, s->id);
	}
	pstream_settle(s);
	tunnel_flush_or_fail(t);
}

void proxy_worker_expire(struct worker *w, long idle_timeout)
{
	time_t now = time(NULL);
	struct pstream *s, *sn;
	struct tunnel *t, *tn;

	for (s = w->streams; s; s = sn) {
		sn = s->next;
		if (!s->ready && now - s->started > PROXY_SETUP_TIMEOUT_S)
			pstream_abort(s, "set-up timed out");
		else if (now - s->active > idle_timeout)
			pstream_abort(s, "idle timeout");
	}
	for (t = w->tunnels; t; t = tn) {
		tn = t->next;
		if (t->st != T_READY && now - t->started > PROXY_SETUP_TIMEOUT_S) {
			tunnel_fail(t, "set-up timed out");
		} else if (t->st == T_READY && !t->nstreams &&
			   (t->side == OUTBOUND
				? t->draining || now - t->idle_since > TUNNEL_POOL_IDLE_S
				: now - t->idle_since > TUNNEL_INBOUND_IDLE_S)) {
			/* Say goodbye; the tunnel closes once that is sent. */
			nghttp2_session_terminate_session(t->h2, NGHTTP2_NO_ERROR);
			tunnel_flush_or_fail(t);
			if (!t->dead && !t->pend_len)
				tunnel_fail(t, "closed: idle");
		}
	}
}

void proxy_worker_reap(struct worker *w)
{
	struct tunnel *t, *tn;
	struct pstream *s, *sn;

	for (s = w->dead_streams; s; s = sn) {
		sn = s->next;
		free(s);
	}
	w->dead_streams = NULL;
	for (t = w->dead_tunnels; t; t = tn) {
		tn = t->next;
		free(t);
	}
	w->dead_tunnels = NULL;
}

void proxy_worker_close_all(struct worker *w)
{
	while (w->streams)
		pstream_free(w->streams, NULL, true);
	while (w->tunnels)
		tunnel_free(w->tunnels);
	proxy_worker_reap(w);
	free(w->rbuf);
	w->rbuf = NULL;
}
