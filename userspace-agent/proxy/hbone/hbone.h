/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The tunnels between node proxies: HTTP/2 over TLS 1.3, one CONNECT stream
 * per proxied TCP connection (as Istio's HBONE does; docs/proxy.md has the
 * wire format). This module moves bytes: framing, flow control, half-close,
 * resets, pooling and timeouts. Its tunnels and streams are opaque; what
 * is allowed and where a stream goes is decided by whoever made the loop,
 * through the ops it passed in.
 *
 * Everything belongs to one loop, and a loop to one thread: a loop's
 * tunnels carry only its streams, so nothing is locked.
 */
#ifndef SHUNT_HBONE_H
#define SHUNT_HBONE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>
#include <openssl/ssl.h>

#include "common/outcome.h"

#define HBONE_BUF_SIZE (256 * 1024) /* the largest frame, and TLS's read buffer */
/* A stream's receive window: how much a slow reader can leave buffered
 * here (allocated only when its socket does not take what arrives). */
#ifndef HBONE_STREAM_WINDOW
#define HBONE_STREAM_WINDOW (1024 * 1024)
#endif
#define HBONE_SETUP_TIMEOUT_S 10
#define HBONE_MAX_STREAMS     128 /* then the outbound side opens another tunnel */
#define HBONE_POOL_IDLE_S     30  /* the outbound side closes a tunnel idle this long */
#define HBONE_INBOUND_IDLE_S  300 /* the inbound side only well after that */
/* A pool key: the owner's, e.g. "node|namespace/serviceAccount" of DNS names. */
#define HBONE_KEY_MAX 640
#define HBONE_ALPN    "\x02h2"

enum hbone_side { HBONE_OUTBOUND, HBONE_INBOUND };

struct hbone_loop;
struct hbone_tunnel;
struct hbone_stream;

/* An inbound CONNECT, as the peer sent it. */
struct hbone_request {
	const char *authority;	 /* "addr:port" */
	const char *source;	 /* shunt-source: the client workload, "ns/name" */
	const char *source_addr; /* shunt-source-addr: its "addr:port" (informational) */
	const char *peer_id;	 /* the tunnel's verified peer identity */
};

/* How a stream ended. */
struct hbone_stream_end {
	enum shunt_outcome outcome;
	bool reset; /* the plain side was reset, not closed */
	unsigned long long from_plain, to_plain;
};

/* What the loop's owner decides and hears. CTX is the loop's. */
struct hbone_ops {
	/* After a handshake (the peer identity is known): SHUNT_OUT_ALLOWED, or
	 * why the peer may not use T. */
	enum shunt_outcome (*peer_verified)(void *ctx, struct hbone_tunnel *t);
	/* A handshake failed: which way (OpenSSL's error queue and the verify
	 * result are still there to read). */
	enum shunt_outcome (*handshake_failed)(void *ctx, struct hbone_tunnel *t);
	/* Inbound: REQ arrived on S. SHUNT_OUT_ALLOWED once S has a connecting
	 * socket (hbone_stream_attach), else the refusal, answered with its
	 * HTTP status. */
	enum shunt_outcome (*inbound_open)(void *ctx, struct hbone_stream *s,
					   const struct hbone_request *req);
	/* Inbound: S's socket connected and the 200 went out. */
	void (*stream_opened)(void *ctx, struct hbone_stream *s);
	/* S ended; its user pointer is handed back for the last time. */
	void (*stream_ended)(void *ctx, struct hbone_stream *s, void *user,
			     const struct hbone_stream_end *end);
	/* Outbound: S's tunnel got GOAWAY (its peer is being replaced): S
	 * goes on, but what it carries should end at its next pause; new
	 * streams take another tunnel. NULL: nothing to do. */
	void (*stream_goaway)(void *ctx, struct hbone_stream *s);
	/* Outbound: S's tunnel refused or reset it, or died, before anything
	 * of it was read, sent or answered (the peer's proxy going away): it
	 * may be opened again on another tunnel (hbone_stream_open), once.
	 * SHUNT_OUT_ALLOWED when it was; NULL: never. */
	enum shunt_outcome (*stream_refused)(void *ctx, struct hbone_stream *s);
	/* T ended after NSTREAMS streams were on it; its user pointer too. */
	void (*tunnel_ended)(void *ctx, struct hbone_tunnel *t, void *user, enum shunt_outcome why,
			     int nstreams);
};

/* The module's own counters, by side; the proxy renders them. */
struct hbone_stats {
	atomic_ullong streams[2], streams_active[2], streams_closed[2], resets[2];
	atomic_ullong tunnels[2], tunnels_active[2], handshakes[2], resumed;
};
extern struct hbone_stats hbone_stats;

/* A loop whose sockets go into epoll instance EPFD. NULL on ENOMEM. */
struct hbone_loop *hbone_loop_new(int epfd, const struct hbone_ops *ops, void *ctx);
/* Closes every tunnel and stream (each ends through the ops), then frees. */
void hbone_loop_free(struct hbone_loop *l);
/* An epoll event whose data.ptr the loop registered. */
void hbone_loop_event(struct hbone_loop *l, void *ptr);
/* Once a second: set-up and idle timeouts (IDLE_TIMEOUT_S), idle tunnels closed. */
void hbone_loop_expire(struct hbone_loop *l, long idle_timeout_s);
/* After each batch of events: frees what was closed in it. */
void hbone_loop_reap(struct hbone_loop *l);
/* The proxy is being replaced: the peers of L's inbound tunnels are told
 * (GOAWAY with the last stream id, RFC 9113 6.8) to open new streams
 * elsewhere, i.e. on a new tunnel to the proxy that replaces this one; the
 * streams open go on. From then on hbone_loop_expire closes every outbound
 * tunnel without streams; the peers close the inbound ones once theirs
 * are done (a stream a peer sent before it read the notice is taken). */
void hbone_loop_drain(struct hbone_loop *l);
/* How many streams L carries, and whether it has tunnels left. */
size_t hbone_loop_streams(const struct hbone_loop *l);
bool hbone_loop_has_tunnels(const struct hbone_loop *l);

/* A tunnel over FD (CONNECTING: connect() under way) with SSL set up for
 * SIDE. Takes both; NULL on failure (both freed). USER: the owner's. */
struct hbone_tunnel *hbone_tunnel_new(struct hbone_loop *l, enum hbone_side side, int fd, SSL *ssl,
				      bool connecting, unsigned int ca_gen, void *user);
/* Outbound: a tunnel for KEY taking one more stream, or NULL. Tunnels of an
 * older CA generation, or started before NOT_BEFORE, take no new ones. */
struct hbone_tunnel *hbone_pool_find(struct hbone_loop *l, const char *key, unsigned int ca_gen,
				     time_t not_before);
void hbone_tunnel_set_key(struct hbone_tunnel *t, const char *key);
const char *hbone_tunnel_key(const struct hbone_tunnel *t);
enum hbone_side hbone_tunnel_side(const struct hbone_tunnel *t);
int hbone_tunnel_fd(const struct hbone_tunnel *t);
SSL *hbone_tunnel_ssl(const struct hbone_tunnel *t);
void *hbone_tunnel_user(const struct hbone_tunnel *t);
/* The verified peer identity (the owner sets it in peer_verified). */
const char *hbone_tunnel_peer_id(const struct hbone_tunnel *t);
void hbone_tunnel_set_peer_id(struct hbone_tunnel *t, const char *id);
/* The tunnel an SSL belongs to (its app data). */
struct hbone_tunnel *hbone_tunnel_of(SSL *ssl);

/* Outbound: a stream for the plain socket PFD (taken), USER the owner's.
 * NULL on failure (PFD closed). */
struct hbone_stream *hbone_stream_new(struct hbone_loop *l, int pfd, void *user);
/* Outbound: sends S as a CONNECT for REQ (peer_id unused) over T. */
int hbone_stream_open(struct hbone_tunnel *t, struct hbone_stream *s,
		      const struct hbone_request *req);
/* Inbound: S's plain side is PFD, connecting to the workload. 0 or -errno
 * (PFD is the caller's then). */
int hbone_stream_attach(struct hbone_stream *s, int pfd);
void hbone_stream_set_user(struct hbone_stream *s, void *user);
void *hbone_stream_user(const struct hbone_stream *s);
enum hbone_side hbone_stream_side(const struct hbone_stream *s);
/* Frees S before it was ever opened: its socket closed, not reset. */
void hbone_stream_drop(struct hbone_stream *s, enum shunt_outcome why);
/* Ends S now: the plain side reset, the HTTP/2 stream cancelled. */
void hbone_stream_abort(struct hbone_stream *s, enum shunt_outcome why);

#endif
