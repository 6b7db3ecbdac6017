// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The tunnels themselves (TLS, pooling, timeouts) and the loop that owns
 * them. Bytes are copied no more than with one TLS connection per stream.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/err.h>

#include "hbone_impl.h"

struct hbone_tunnel *hbone_tunnel_new(struct hbone_loop *l, enum hbone_side side, int fd, SSL *ssl,
				      bool connecting, unsigned int ca_gen, void *user)
{
	struct hbone_tunnel *t = calloc(1, sizeof(*t));

	if (!l->rbuf)
		l->rbuf = malloc(HBONE_RBUF_SIZE);
	if (!t || !l->rbuf) {
		free(t);
		SSL_free(ssl);
		close(fd);
		return NULL;
	}
	t->side = side;
	t->l = l;
	t->fd = fd;
	t->ssl = ssl;
	t->ca_gen = ca_gen;
	t->user = user;
	t->st = connecting ? T_CONNECTING : T_HANDSHAKE;
	t->ep = (struct hbone_endpoint){t, true};
	t->started = t->idle_since = time(NULL);
	SSL_set_app_data(ssl, t);
	if (hbone_session_new(t) || hbone_watch(l, fd, &t->ep)) {
		if (t->h2)
			nghttp2_session_del(t->h2);
		SSL_free(ssl);
		close(fd);
		free(t);
		return NULL;
	}
	atomic_fetch_add(&hbone_stats.tunnels[side], 1);
	atomic_fetch_add(&hbone_stats.tunnels_active[side], 1);
	t->next = l->tunnels;
	if (l->tunnels)
		l->tunnels->prev = t;
	l->tunnels = t;
	return t;
}

struct hbone_tunnel *hbone_pool_find(struct hbone_loop *l, const char *key, unsigned int ca_gen,
				     time_t not_before)
{
	struct hbone_tunnel *t;

	for (t = l->tunnels; t; t = t->next) {
		if (t->side != HBONE_OUTBOUND || t->dead || t->draining || strcmp(t->key, key))
			continue;
		if (t->ca_gen != ca_gen || t->started < not_before) {
			t->draining = true; /* its certificate is not the current one */
			continue;
		}
		if (t->nstreams < HBONE_MAX_STREAMS &&
		    (uint32_t)t->nstreams < nghttp2_session_get_remote_settings(
						t->h2, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS))
			return t;
	}
	return NULL;
}

void hbone_tunnel_set_key(struct hbone_tunnel *t, const char *key)
{
	snprintf(t->key, sizeof(t->key), "%s", key);
}

const char *hbone_tunnel_key(const struct hbone_tunnel *t)
{
	return t->key;
}

enum hbone_side hbone_tunnel_side(const struct hbone_tunnel *t)
{
	return t->side;
}

int hbone_tunnel_fd(const struct hbone_tunnel *t)
{
	return t->fd;
}

SSL *hbone_tunnel_ssl(const struct hbone_tunnel *t)
{
	return t->ssl;
}

void *hbone_tunnel_user(const struct hbone_tunnel *t)
{
	return t->user;
}

const char *hbone_tunnel_peer_id(const struct hbone_tunnel *t)
{
	return t->peer_id;
}

void hbone_tunnel_set_peer_id(struct hbone_tunnel *t, const char *id)
{
	snprintf(t->peer_id, sizeof(t->peer_id), "%s", id);
}

struct hbone_tunnel *hbone_tunnel_of(SSL *ssl)
{
	return SSL_get_app_data(ssl);
}

/* Frees T (queued until the batch ends); its open streams end with it. */
static void tunnel_free(struct hbone_tunnel *t, enum shunt_outcome why)
{
	struct hbone_loop *l = t->l;
	struct hbone_stream *s, *next;

	if (t->dead)
		return;
	t->dead = true;
	/* Streams that were complete still write out what they received. */
	for (s = l->streams; s; s = next) {
		next = s->next;
		if (s->t != t)
			continue;
		s->t = NULL;
		if (!s->h2_closed && hbone_stream_retry(s))
			continue;
		if (!s->h2_closed || s->has_why)
			hbone_stream_free(s, s->has_why ? s->why : SHUNT_OUT_TUNNEL_GONE, true);
	}
	l->ops->tunnel_ended(l->ctx, t, t->user, why, t->nstreams);
	t->user = NULL;
	nghttp2_session_del(t->h2);
	t->h2 = NULL;
	SSL_free(t->ssl);
	t->ssl = NULL;
	close(t->fd);
	t->fd = -1;
	t->pend_len = 0;
	atomic_fetch_sub(&hbone_stats.tunnels_active[t->side], 1);
	if (t->prev)
		t->prev->next = t->next;
	else
		l->tunnels = t->next;
	if (t->next)
		t->next->prev = t->prev;
	t->prev = NULL;
	t->next = l->dead_tunnels;
	l->dead_tunnels = t;
}

void hbone_tunnel_fail(struct hbone_tunnel *t, enum shunt_outcome why)
{
	tunnel_free(t, why);
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
static int tunnel_flush(struct hbone_tunnel *t)
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
		hbone_tunnel_fail(t, SHUNT_OUT_CLOSED);
	return 0;
}

void hbone_tunnel_flush_or_fail(struct hbone_tunnel *t)
{
	if (!t->dead && tunnel_flush(t))
		hbone_tunnel_fail(t, SHUNT_OUT_SEND_FAILED);
}

void hbone_tunnel_flush_later(struct hbone_tunnel *t)
{
	if (t->dead || t->flush_queued)
		return;
	t->flush_queued = true;
	t->flush_next = t->l->flush_list;
	t->l->flush_list = t;
}

/* Reads and processes what the peer sent, until TLS would block. Records
 * are decrypted one by one (16 KiB at most each) but handed to nghttp2
 * together, so a stream's socket gets one write per batch, not per record. */
static int tunnel_read(struct hbone_tunnel *t)
{
	tls_fresh();
	for (;;) {
		size_t filled = 0;
		int r = 0;

		while (filled + 16384 <= HBONE_RBUF_SIZE) {
			r = SSL_read(t->ssl, t->l->rbuf + filled, (int)(HBONE_RBUF_SIZE - filled));
			if (r <= 0)
				break;
			filled += (size_t)r;
		}
		if (filled && (nghttp2_session_mem_recv(t->h2, t->l->rbuf, filled) < 0 || t->dead))
			return -1;
		if (r > 0)
			continue; /* the buffer filled up: more may be waiting */
		if (SSL_get_error(t->ssl, r) == SSL_ERROR_ZERO_RETURN)
			return -1;
		return ssl_wants(t->ssl, r) == FAILED ? -1 : 0;
	}
}

static void tunnel_handshake(struct hbone_tunnel *t)
{
	const unsigned char *alpn = NULL;
	unsigned int alpn_len = 0;
	enum shunt_outcome o;
	int r;

	tls_fresh();
	r = SSL_do_handshake(t->ssl);
	if (r != 1) {
		if (ssl_wants(t->ssl, r) == FAILED)
			tunnel_free(t, t->l->ops->handshake_failed(t->l->ctx, t));
		return;
	}
	SSL_get0_alpn_selected(t->ssl, &alpn, &alpn_len);
	if (alpn_len != 2 || memcmp(alpn, "h2", 2)) {
		hbone_tunnel_fail(t, SHUNT_OUT_NO_ALPN);
		return;
	}
	o = t->l->ops->peer_verified(t->l->ctx, t);
	if (o != SHUNT_OUT_ALLOWED) {
		hbone_tunnel_fail(t, o);
		return;
	}
	atomic_fetch_add(&hbone_stats.handshakes[t->side], 1);
	if (SSL_session_reused(t->ssl))
		atomic_fetch_add(&hbone_stats.resumed, 1);
	t->st = T_READY;
	/* accepted before the listeners closed: told to go like the others */
	if (t->side == HBONE_INBOUND && t->l->drain_since)
		hbone_tunnel_notice(t);
}

void hbone_tunnel_notice(struct hbone_tunnel *t)
{
	if (t->noticed || nghttp2_submit_shutdown_notice(t->h2))
		return;
	t->noticed = true;
	hbone_tunnel_flush_later(t);
}

void hbone_tunnel_event(struct hbone_tunnel *t)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (t->dead)
		return;
	if (t->st == T_CONNECTING) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);

		if (getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
			hbone_tunnel_fail(t, SHUNT_OUT_PEER_UNREACHABLE);
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
		hbone_tunnel_fail(t, t->nstreams ? SHUNT_OUT_PEER_RESET : SHUNT_OUT_PEER_CLOSED);
		return;
	}
	hbone_tunnel_flush_later(t);
}
