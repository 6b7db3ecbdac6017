/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The proxy's tunnels: HTTP/2 over TLS 1.3 between two node proxies, one
 * CONNECT stream per proxied TCP connection (as Istio's HBONE does;
 * docs/proxy.md has the wire format). This file moves bytes: framing, flow
 * control, half-close, resets, pooling and timeouts. What is allowed, and
 * where a stream goes, is decided in proxy.c through the hooks below.
 *
 * Everything here belongs to one worker thread: a worker's tunnels carry
 * only that worker's streams, so nothing is locked.
 */
#ifndef SHUNT_PROXY_TUNNEL_H
#define SHUNT_PROXY_TUNNEL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <linux/types.h>
#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>

#include "identity/ca.h"
#include "mesh_shared.h"
#include "shunt_shared.h"

#define PROXY_BUF_SIZE (256 * 1024) /* the largest frame, and TLS's read buffer */
/* A stream's receive window: how much a slow reader can leave buffered
 * here (allocated only when its socket does not take what arrives). */
#ifndef STREAM_WINDOW
#define STREAM_WINDOW (1024 * 1024)
#endif
#define PROXY_SETUP_TIMEOUT_S 10
#define TUNNEL_MAX_STREAMS    128 /* then the outbound side opens another tunnel */
#define TUNNEL_POOL_IDLE_S    30  /* the outbound side closes a tunnel idle this long */
#define TUNNEL_INBOUND_IDLE_S 300 /* the inbound side only well after that */

enum proxy_side { OUTBOUND, INBOUND };

/* What an epoll event points at. */
struct endpoint {
	void *obj;
	bool is_tunnel;
};

struct tunnel;
struct pstream;

struct worker {
	int ep;
	int out_fd, out6_fd, in_fd; /* out6_fd -1: no IPv6 outbound */
	struct tunnel *tunnels;
	struct pstream *streams;
	/* Closed in this batch of events (which may still name them). */
	struct tunnel *dead_tunnels;
	struct pstream *dead_streams;
	unsigned char *rbuf; /* decrypted bytes on their way into nghttp2 */
	pthread_t thread;
};

enum tunnel_state { T_CONNECTING, T_HANDSHAKE, T_READY };

struct tunnel {
	enum proxy_side side;
	enum tunnel_state st;
	struct worker *w;
	int fd;
	SSL *ssl;
	nghttp2_session *h2;
	struct endpoint ep;
	char key[300];			    /* outbound: pool and TLS session key "node|ns/sa" */
	char peer_node[64];		    /* outbound: the node it goes to */
	char peer_id[SHUNT_SPIFFE_MAX];	    /* the verified peer identity */
	unsigned ca_gen;		    /* the CA generation it was made with */
	__u8 peer_addr[16], local_addr[16]; /* for flow events (proxy.c) */
	__u16 peer_port, local_port;
	int nstreams;
	time_t started, idle_since;
	bool draining, dead;
	/* Frames nghttp2 produced that TLS has not taken yet: nghttp2's own
	 * buffer, valid until the next nghttp2_session_mem_send(). */
	const uint8_t *pend;
	size_t pend_len;
	struct tunnel *next, *prev;
};

struct pstream {
	enum proxy_side side;
	struct worker *w;
	struct tunnel *t; /* NULL once the tunnel is gone */
	int32_t id;	  /* HTTP/2 stream id */
	int pfd;	  /* the plain side: the client (outbound), the workload (inbound) */
	struct endpoint ep;
	bool ready;	/* the plain side is connected (inbound: 200 sent) */
	bool deferred;	/* nghttp2 waits for the plain side to be readable */
	bool p_eof;	/* EOF read on the plain side: END_STREAM sent */
	bool h2_eof;	/* END_STREAM received */
	bool p_shut;	/* shutdown(SHUT_WR) done on the plain side */
	bool h2_closed; /* nghttp2 closed the stream */
	bool dead;
	char *down; /* tunnel -> plain bytes the socket has not taken yet */
	size_t dstart, dend, dcap;
	unsigned long long from_plain, to_plain;
	time_t started, active;
	const char *why; /* set: the stream ends for this reason */
	char desc[200];
	char authority[80];	     /* inbound: where the request goes */
	char source[SHUNT_NAME_LEN]; /* inbound: the workload it comes from */
	char source_addr[64];	     /* inbound: its address and port, as the client said */
	int status;		     /* outbound: the response status */
	char error[160];	     /* outbound: the response's shunt-error */
	bool asserted;
	struct shunt_proxy_key assert_key;
	struct shunt_flow_event flow; /* who and where, for flow events (proxy.c) */
	struct pstream *next, *prev;
};

/* ---- hooks proxy.c implements ------------------------------------------ */

/* After a handshake: NULL if the peer may use this tunnel, else why not
 * (t->peer_id is filled in first). */
const char *proxy_peer_verified(struct tunnel *t);
/* A handshake failed: log and count it. */
void proxy_handshake_failed(struct tunnel *t);
/* Inbound: a CONNECT for s->authority from s->source arrived over a tunnel
 * whose peer proved PEER_ID. Check it and start connecting s->pfd to the
 * workload; NULL, or why it is refused. */
const char *proxy_inbound_open(struct pstream *s, const char *peer_id);
/* A stream ended (why: "closed", "reset", a refusal...): log and count. */
void proxy_stream_ended(struct pstream *s, const char *why);

/* ---- tunnels and streams ------------------------------------------------ */

/* A tunnel over FD (connecting: a connect() is under way) with SSL set up
 * for its side. Takes both; NULL on failure (both freed). */
struct tunnel *tunnel_new(struct worker *w, enum proxy_side side, int fd, SSL *ssl, bool connecting,
			  unsigned ca_gen);
/* An outbound tunnel for KEY that takes one more stream, or NULL. Tunnels of
 * an older CA generation or started before NOT_BEFORE take no new ones. */
struct tunnel *tunnel_pool_find(struct worker *w, const char *key, unsigned ca_gen,
				time_t not_before);
/* A stream for plain socket PFD (-1: inbound, connected later). */
struct pstream *pstream_new(struct worker *w, enum proxy_side side, int pfd);
/* Inbound: S's plain side is PFD, connecting to the workload. */
int pstream_attach(struct pstream *s, int pfd);
/* Outbound: sends S as a CONNECT to AUTHORITY from workload SOURCE, whose
 * socket is at SOURCE_ADDR ("addr:port", informational), over T. */
int tunnel_open_stream(struct tunnel *t, struct pstream *s, const char *authority,
		       const char *source, const char *source_addr);
/* Ends S now: the plain side is closed, the HTTP/2 stream reset. */
void pstream_abort(struct pstream *s, const char *why);
/* Frees S at once (before it was ever opened). */
void pstream_drop(struct pstream *s, const char *why);

/* Epoll events. */
void tunnel_event(struct tunnel *t);
void pstream_event(struct pstream *s);

/* Once a second: set-up and idle timeouts, idle tunnels closed. */
void proxy_worker_expire(struct worker *w, long idle_timeout);
/* After each batch of events: frees what was closed in it. */
void proxy_worker_reap(struct worker *w);
/* At exit: closes everything. */
void proxy_worker_close_all(struct worker *w);

#endif
