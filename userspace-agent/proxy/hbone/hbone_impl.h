/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Inside the tunnel module (hbone_*.c): its structs, which nothing else sees. */
#ifndef SHUNT_HBONE_IMPL_H
#define SHUNT_HBONE_IMPL_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include <nghttp2/nghttp2.h>

#include "hbone.h"
#include "identity/ca.h"
#include "shunt_shared.h"

#define HBONE_RBUF_SIZE (256 * 1024)

/* What an epoll event points at. */
struct hbone_endpoint {
	void *obj;
	bool is_tunnel;
};

struct hbone_loop {
	int ep;
	const struct hbone_ops *ops;
	void *ctx;
	struct hbone_tunnel *tunnels;
	struct hbone_stream *streams;
	/* Closed in this batch of events (which may still name them). */
	struct hbone_tunnel *dead_tunnels;
	struct hbone_stream *dead_streams;
	/* To flush at the end of this batch of events (hbone_loop_reap): what
	 * every stream of a tunnel had, in one TLS write, not one per stream. */
	struct hbone_tunnel *flush_list;
	unsigned char *rbuf; /* decrypted bytes on their way into nghttp2 */
	/* hbone_loop_drain: since when (0: not draining) */
	time_t drain_since;
};

enum hbone_tunnel_state { T_CONNECTING, T_HANDSHAKE, T_READY };

struct hbone_tunnel {
	enum hbone_side side;
	enum hbone_tunnel_state st;
	struct hbone_loop *l;
	int fd;
	SSL *ssl;
	nghttp2_session *h2;
	struct hbone_endpoint ep;
	char key[HBONE_KEY_MAX];	/* outbound: the pool key */
	char peer_id[SHUNT_SPIFFE_MAX]; /* the verified peer identity */
	unsigned int ca_gen;		/* the CA generation it was made with */
	void *user;
	int nstreams;
	time_t started, idle_since;
	bool draining, dead;
	bool goaway_told; /* the peer's GOAWAY passed on to the streams */
	bool noticed;	  /* inbound, draining: the shutdown notice went */
	/* Frames nghttp2 produced that TLS has not taken yet: nghttp2's own
	 * buffer, valid until the next nghttp2_session_mem_send(). */
	const uint8_t *pend;
	size_t pend_len;
	bool flush_queued; /* on its loop's flush_list */
	struct hbone_tunnel *next, *prev, *flush_next;
};

#define HBONE_AUTHORITY_MAX 80
#define HBONE_SOURCE_MAX    SHUNT_NAME_MAX
_Static_assert(HBONE_SOURCE_MAX >= SHUNT_NAME_MAX, "a stream's source holds namespace/name");
_Static_assert(HBONE_KEY_MAX >= SHUNT_DNS_SUBDOMAIN_MAX + 1 + SHUNT_DNS_LABEL_MAX + 1 +
				    SHUNT_DNS_SUBDOMAIN_MAX + 1,
	       "a pool key holds node|namespace/serviceAccount");
#define HBONE_ERROR_MAX 160

struct hbone_stream {
	enum hbone_side side;
	struct hbone_loop *l;
	struct hbone_tunnel *t; /* NULL once the tunnel is gone */
	int32_t id;		/* HTTP/2 stream id */
	int pfd;		/* the plain side: the client (outbound), the workload (inbound) */
	struct hbone_endpoint ep;
	void *user;
	bool ready;	/* the plain side is connected (inbound: 200 sent) */
	bool deferred;	/* nghttp2 waits for the plain side to be readable */
	bool p_eof;	/* EOF read on the plain side: END_STREAM sent */
	bool h2_eof;	/* END_STREAM received */
	bool p_shut;	/* shutdown(SHUT_WR) done on the plain side */
	bool h2_closed; /* nghttp2 closed the stream */
	bool dead;
	bool retried; /* refused once before anything went, and opened again */
	bool has_why;
	enum shunt_outcome why; /* with has_why: the stream ends for this reason */
	char *down;		/* tunnel -> plain bytes the socket has not taken yet */
	size_t dstart, dend, dcap;
	unsigned long long from_plain, to_plain;
	time_t started, active;
	/* The request (inbound) or response (outbound) headers. */
	char authority[HBONE_AUTHORITY_MAX];
	char source[HBONE_SOURCE_MAX];
	char source_addr[64];
	int status;
	char outcome[48]; /* shunt-outcome of a refusal */
	struct hbone_stream *next, *prev;
};

/* hbone_stream.c */
int hbone_watch(struct hbone_loop *l, int fd, struct hbone_endpoint *ep);
struct hbone_stream *hbone_stream_alloc(struct hbone_loop *l, enum hbone_side side, int pfd);
/* Unlinks S, closes its socket (reset when RESET), tells the owner, queues it. */
void hbone_stream_free(struct hbone_stream *s, enum shunt_outcome why, bool reset);
void hbone_stream_settle(struct hbone_stream *s);
int hbone_stream_keep(struct hbone_stream *s, const uint8_t *data, size_t len);
void hbone_stream_consumed(struct hbone_stream *s, size_t n);
void hbone_stream_event(struct hbone_stream *s);
static inline void hbone_stream_fail(struct hbone_stream *s, enum shunt_outcome why)
{
	s->has_why = true;
	s->why = why;
}

/* hbone_h2.c */
int hbone_session_new(struct hbone_tunnel *t);
/* Inbound: answers S with STATUS (a refusal: ends the stream with WHY). */
int hbone_respond(struct hbone_tunnel *t, struct hbone_stream *s, int status,
		  const enum shunt_outcome *why);
void hbone_refuse(struct hbone_tunnel *t, struct hbone_stream *s, enum shunt_outcome why);
ssize_t hbone_plain_read(nghttp2_session *h2, int32_t id, uint8_t *buf, size_t length,
			 uint32_t *flags, nghttp2_data_source *src, void *ud);

/* hbone_tunnel.c */
void hbone_tunnel_fail(struct hbone_tunnel *t, enum shunt_outcome why);
void hbone_tunnel_flush_or_fail(struct hbone_tunnel *t);
/* The same, at the end of this batch of events (hbone_loop_reap). */
void hbone_tunnel_flush_later(struct hbone_tunnel *t);
/* Outbound S, off its tunnel, which refused or reset it, or died, before
 * anything of it was read, sent or answered: opened again, once, on a
 * tunnel the owner picks (ops->stream_refused). Whether it was. */
bool hbone_stream_retry(struct hbone_stream *s);
/* Inbound, the proxy draining: GOAWAY's shutdown notice to T's peer. */
void hbone_tunnel_notice(struct hbone_tunnel *t);
void hbone_tunnel_event(struct hbone_tunnel *t);

#endif
