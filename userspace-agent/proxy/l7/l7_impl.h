/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Inside the L7 side (l7_*.c): a loop owns client connections (down),
 * connections to endpoints (up, pooled per client workload and endpoint),
 * endpoint statistics for load balancing, and views: the routes of one
 * model version, compiled. A request holds the view it was routed with, so
 * a model change never pulls the config from under a request in flight.
 */
#ifndef SHUNT_L7_IMPL_H
#define SHUNT_L7_IMPL_H

#include <http_parser.h>
#include <nghttp2/nghttp2.h>
#include <regex.h>
#include <stdint.h>

#include "common/keymap.h"
#include "common/timer_wheel.h"
#include "l7.h"
#include "l7_trace.h"
#include "shunt_shared.h"

#define L7_HEAD_MAX	      (64 * 1024)	/* request or response head */
#define L7_BODY_MAX	      (8 * 1024 * 1024) /* request body kept for retries (replay) */
#define L7_BODY_AHEAD	      (256 * 1024)  /* body bytes queued ahead on an endpoint's socket */
#define L7_BODY_WHOLE	      (64 * 1024)   /* HTTP/1.1 bodies of a length up to this go whole */
#define L7_OUT_HIGH	      (1024 * 1024) /* stop reading the endpoint above this */
#define L7_H2_CONN_WINDOW     (4 * 1024 * 1024) /* an HTTP/2 client's body bytes unsent */
#define L7_IDLE_UP_MS	      60000		/* pooled connections idle this long close */
#define L7_IDLE_DOWN_MS	      3600000		/* client connections without a request */
#define L7_DRAIN_IDLE_MS      1000		/* draining: a client idle this long is closed */
#define L7_POOL_IDLE_MAX      64		/* idle connections kept per pool */
#define L7_EWMA_DECAY_MS      10000		/* peak-EWMA's time constant */
#define L7_EWMA_DEFAULT_US    1000		/* an endpoint without answers yet */
#define L7_BUDGET_RATIO	      0.2		/* retries per request, on average */
#define L7_BUDGET_MIN_PER_S   10.0		/* retries allowed regardless */
#define L7_BUDGET_CAP	      20.0
#define L7_BACKOFF_MAX_SCALE  10    /* backoff grows to 10x its base */
#define L7_UNREACHABLE_MIN_MS 100   /* an endpoint that refused a connect: out for */
#define L7_UNREACHABLE_MAX_MS 10000 /* 100 ms, doubling with each refusal, up to 10 s */

struct l7_header;
struct l7_request;

struct l7_buf {
	char *data;
	size_t off, len, cap; /* bytes [off, len) are pending */
};

int l7_buf_append(struct l7_buf *b, const void *p, size_t n);
/* a string literal, without printf */
#define L7_BUF_LIT(b, lit) l7_buf_append(b, lit, sizeof(lit) - 1)
/* "NAME: VALUE\r\n" as l7_buf_printf writes it, without a format (every header: hot). */
int l7_buf_field(struct l7_buf *b, const char *name, const char *value);
int l7_buf_field_n(struct l7_buf *b, const char *n, size_t nlen, const char *v, size_t vlen);
int l7_str_append(char **s, const char *at, size_t len); /* NUL-terminated, up to L7_HEAD_MAX */
void l7_headers_free(struct l7_header *h, size_t n);
/* H's name and value freed, H empty. */
void l7_header_clear(struct l7_header *h);
/* H's value a copy of VALUE; 0 or -ENOMEM (H unchanged). */
int l7_header_set_value(struct l7_header *h, const char *value);
/* Appends NAME: VALUE to *H (*N of *CAP used; at most 1024); 0 or -ENOMEM. */
int l7_header_add(struct l7_header **h, size_t *n, size_t *cap, const char *name, size_t nlen,
		  const char *value, size_t vlen);
/* H (N headers) as sent on: hop-by-hop and framing ones dropped, MOD
 * (may be NULL) applied. UPGRADE keeps Upgrade and says connection: upgrade
 * (an upgrade request and its 101). TRACE (a request's, or NULL): the
 * trace context it replaces left out, its own written after the headers. */
int l7_write_headers(struct l7_buf *out, const struct l7_header *h, size_t n,
		     const struct cfg_http_header_mod *mod, bool upgrade,
		     const struct l7_trace *trace);
/* NAME (LEN bytes, lowercase) has a value new on every request (the trace
 * context, the request id): HPACK sends it never indexed. */
bool l7_h2_never_index(const char *name, size_t len);
/* REQ's head as HTTP/2 fields (BODY: a content-length); *NV, to free,
 * points into LINES. 0 or -ENOMEM. */
int l7_request_to_nv(const struct l7_request *req, bool body, struct l7_buf *lines, nghttp2_nv **nv,
		     size_t *n);
/* REQ's trailer fields, once all arrived: those a trailer may not carry
 * (RFC 9110 6.5.1: framing, routing, request modifiers, authentication,
 * content metadata, hop-by-hop and what Connection names) dropped, a field
 * without a value given an empty one. 0 or -ENOMEM. */
int l7_trailers_keep(struct l7_request *req);
/* A chunked body's end: the last chunk, REQ's trailers, the empty line. */
int l7_write_last_chunk(struct l7_buf *out, const struct l7_request *req);
/* REQ's trailer fields as header lines ("name: value\r\n"). */
int l7_write_trailers(struct l7_buf *out, const struct l7_request *req);
int l7_buf_printf(struct l7_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void l7_buf_consume(struct l7_buf *b, size_t n);
void l7_buf_reset(struct l7_buf *b);
void l7_buf_free(struct l7_buf *b);
static inline size_t l7_buf_pending(const struct l7_buf *b)
{
	return b->len - b->off;
}

/* A descriptor in the loop's epoll (level-triggered). */
struct l7_io {
	int fd;
	bool rd, wr; /* what it waits for */
	void (*on_event)(struct l7_io *io, uint32_t events);
};

int l7_io_add(struct l7_loop *l, struct l7_io *io, bool rd, bool wr);
void l7_io_want(struct l7_loop *l, struct l7_io *io, bool rd, bool wr);
void l7_io_del(struct l7_loop *l, struct l7_io *io);
/* Writes B's pending bytes to FD; 0 (all or EAGAIN) or -errno. */
int l7_io_flush(int fd, struct l7_buf *b);

/*
 * A send put off to the end of the loop's turn (l7_loop_run): what one
 * turn's events produced for a connection goes out in one send, not in one
 * per request or response (h2o and haproxy batch the same way). RUN is
 * called once, from the loop's top, where closing the connection is safe.
 * The owner must not be freed before the turn's reap.
 */
struct l7_later {
	struct l7_later *next;
	bool queued;
	void (*run)(struct l7_later *w);
};

void l7_send_later(struct l7_loop *l, struct l7_later *w);
/* L's buffer for what a call builds and hands on before it returns (header
 * lines nghttp2 copies), empty: a 4 KiB malloc and free per request less.
 * Never held across calls. */
struct l7_buf *l7_scratch(struct l7_loop *l);

/* Load-balancing state of one endpoint address, kept across views. */
struct l7_endpoint {
	__u8 addr[16];
	__u16 port;
	double ewma_us;
	uint64_t stamp_ms;
	unsigned int pending;
	/* outlier detection */
	unsigned int c5xx, cgateway, ejections;
	uint64_t ejected_until_ms;
	unsigned int connect_failures; /* in a row */
	uint64_t unreachable_until_ms;
	/* ops->multiplexed's answer for the model version MUX_VERSION - 1 */
	bool mux;
	__u64 mux_version;
};

/* A backend service port's shared state in a loop: the circuit breaker's
 * counts, requests waiting for a connection, round robin's position. */
struct l7_cluster {
	unsigned int requests, connections, retries, rr;
	struct l7_request *pending, *pending_tail;
	size_t npending;
	struct timer wake; /* a connection freed: the first waiting request tries */
};

/* An endpoint of a backend service, in a view. */
struct l7_ep_ref {
	const struct cfg_workload *w;
	__u8 addr[16];
	__u16 port;
	struct l7_endpoint *stats;
};

struct l7_backend {
	const struct cfg_service *svc; /* NULL: a backendRef that does not resolve (500s) */
	const struct cfg_service_port *sp;
	const struct cfg_traffic_policy *tp; /* NULL: the defaults */
	struct l7_cluster *cluster;
	__u32 weight;
	struct l7_ep_ref *eps;
	size_t neps;
};

struct l7_match {
	const struct cfg_http_match *m; /* NULL: everything */
	regex_t path_re;
	regex_t *header_re, *query_re; /* by index; only the regex ones compiled */
	bool has_path_re;
};

struct l7_rule {
	const struct cfg_http_route *route; /* NULL: the service's default rule */
	const struct cfg_http_rule *r;	    /* NULL: the default rule */
	struct l7_match *matches;
	size_t nmatches;
	struct l7_backend *backends;
	size_t nbackends;
	__u32 total_weight;
	struct l7_backend mirror; /* svc NULL: none */
};

/* The routes of one service port for one address family, compiled; or,
 * at the destination's hop (INBOUND), one rule to one endpoint, SVC the
 * first of the L7 services (FRONTS) that have it as an endpoint. */
struct l7_port_table {
	const struct cfg_service *svc;
	const struct cfg_service_port *sp;
	bool v4, inbound;
	const struct cfg_service **fronts;
	size_t nfronts;
	struct l7_rule *rules;
	size_t nrules;
	/* (rule, match) pairs by precedence (Gateway API order) */
	struct l7_entry {
		struct l7_rule *rule;
		struct l7_match *match;
	} * entries;
	size_t nentries;
};

struct l7_view {
	struct l7_loop *l;
	void *hold; /* the owner's reference on CFG */
	const struct mesh_config *cfg;
	__u64 version;
	int refs;	      /* the loop's (while current) and each request's */
	struct keymap tables; /* "svc index|port index|family" -> index */
	struct l7_port_table **table_list;
	size_t ntables, tables_cap;
};

/* Retry budget of one route (Linkerd's: a ratio of requests plus a floor). */
struct l7_budget {
	double tokens;
	uint64_t stamp_ms;
};

struct l7_up;
struct l7_down;

/* A header field. JOINT: VALUE lives in NAME's allocation (l7_header_add:
 * one malloc per field, not two); else each is its own (the HTTP/1.1
 * parser grows them piece by piece). Freed and changed through
 * l7_header_clear and l7_header_set_value only. */
struct l7_header {
	char *name, *value;
	bool joint;
};

/* How a response goes back to its client: HTTP/1.1 bytes on the
 * connection (l7_h1.c), or an HTTP/2 stream (l7_h2.c). */
struct l7_sink {
	/* The endpoint's response head: H (N headers) with MOD applied;
	 * CONTENT_LENGTH NULL when the length is not known. */
	int (*head)(struct l7_request *req, int status, const char *reason,
		    const struct l7_header *h, size_t n, const struct cfg_http_header_mod *mod,
		    const char *content_length, bool bodyless);
	int (*body)(struct l7_request *req, const char *p, size_t n);
	/* The body ended, with TRAILERS (N; gRPC's grpc-status rides in them). */
	int (*end)(struct l7_request *req, const struct l7_header *trailers, size_t n);
	/* A whole answer of the proxy: EXTRA header lines ("name: value\r\n").
	 * BODY NULL: headers only, EXTRA names the content-type (gRPC's
	 * trailers-only answers). */
	int (*answer)(struct l7_request *req, int status, const char *reason, const char *extra,
		      const char *body, size_t len);
	size_t (*queued)(const struct l7_request *req); /* bytes not yet taken by the client */
	void (*flush)(struct l7_request *req);
	void (*cut)(struct l7_request *req);  /* the response cannot complete: end it broken */
	void (*done)(struct l7_request *req); /* answered whole: the request is freed */
};
extern const struct l7_sink l7_h1_sink, l7_h2_sink;

struct l7_request {
	struct l7_down *down;
	const struct l7_sink *sink;
	int32_t stream_id;				  /* HTTP/2 */
	struct l7_request *next_in_conn, **pprev_in_conn; /* O(1) unlinking */
	struct l7_buf resp;	/* HTTP/2: the response body not yet sent */
	struct l7_buf trailers; /* HTTP/2: header lines to send after it */
	bool resp_end, resp_started;
	struct l7_view *view;
	struct l7_port_table *table;
	char method[24];
	char *target; /* the request-target, as sent */
	struct l7_header *headers;
	size_t nheaders, headers_cap;
	/* The body streams: bytes [body_base, body_base + pending(body)) are
	 * kept, from the start while it fits L7_BODY_MAX (a retry resends it),
	 * then only what no try took yet (body_lost: retries are over). */
	struct l7_buf body;
	/* The client's trailer fields (a chunked body's, or an HTTP/2 trailing
	 * HEADERS), kept by l7_trailers_keep when whole: every try sends them
	 * after the body. TRAILER_BYTES: their names and values, at most
	 * L7_HEAD_MAX (an HTTP/2 client's; HTTP/1.1 counts in l7_down). */
	struct l7_header *req_trailers;
	size_t nreq_trailers, req_trailers_cap, trailer_bytes;
	uint64_t body_base, body_got, body_taken; /* taken: the furthest a try got */
	int64_t body_length;			  /* the client's content-length; -1: none */
	bool body_done, body_lost, mirror_due;
	bool expect_continue, keep_alive, no_body_response;
	bool upgrade; /* asks to switch protocols (HTTP/1.1 Upgrade, not h2c) */
	int http_minor;
	/* routing */
	const struct l7_rule *rule;
	const struct l7_match *match;
	struct l7_cluster *cluster; /* of the backend of the current try */
	struct l7_request *pending_next;
	struct l7_cluster *pending_on; /* the queue it waits in */
	bool pending, active, retrying;
	struct timer fault;
	const struct l7_backend *backend;
	struct l7_target target_ep;
	struct l7_endpoint *ep;
	struct l7_up *up;	  /* the try's HTTP/1.1 connection, or */
	struct l7_h2_stream *h2s; /* its HTTP/2 stream */
	unsigned int attempts;	  /* tries made */
	bool free_retry_used;	  /* the one retry on a stale pooled connection */
	struct timer deadline, try_timer, backoff;
	uint64_t try_start_ms;
	/* the response */
	bool head_sent, chunked_out, close_after, grpc;
	int status;
	int grpc_status;	/* sent to the client; -1: none yet */
	uint64_t resp_bytes;	/* response body bytes given to the client */
	uint64_t start_us;	/* CLOCK_MONOTONIC: the request's duration */
	uint64_t start_wall_us; /* CLOCK_REALTIME: its span's timestamp */
	enum shunt_outcome outcome;
	/* Tracing (l7_trace.h): the span context it goes on with when TRACED
	 * (tracing is on); else trace.trace_id is the one it came with, if any. */
	struct l7_trace trace;
	bool traced, server_here; /* this hop is the endpoint's too (its try's) */
};

struct l7_down {
	struct l7_io io;
	struct l7_loop *l;
	http_parser parser;
	struct l7_buf in, out;
	struct l7_origin origin;
	char src_name[SHUNT_NAME_MAX]; /* "ns/name" */
	char dst_name[SHUNT_NAME_MAX]; /* the destination's hop's endpoint, "ns/name" */
	struct l7_request *req;	       /* being read or in flight */
	struct l7_header *hdr;	       /* the header being parsed */
	bool hdr_in_value, eof, closing, dead, mode_known, ready;
	bool h2_busy;			  /* inside its session's input: no send from there */
	bool goaway_notice, goaway_final; /* HTTP/2, draining (l7_drain.c) */
	uint64_t idle_since_ms;		  /* HTTP/1.1: accepted, or its last response went out */
	bool head_done, msg_done;	  /* of the request being read (HTTP/1.1) */
	size_t head_bytes;		  /* of the request being read */
	struct l7_down *ready_next;	  /* in the loop's list of those to read on */
	nghttp2_session *h2;		  /* an HTTP/2 (h2c) client; NULL: HTTP/1.1 */
	struct l7_request *streams;	  /* HTTP/2: its requests */
	/* what its requests are routed with, for VIEW (a reference) */
	struct l7_view *view;
	struct l7_port_table *table; /* NULL: TABLE_WHY */
	enum shunt_outcome table_why;
	const struct cfg_workload *src;
	struct timer idle;
	struct l7_down *next, *prev;
};

struct l7_h2_up;

struct l7_pool {
	struct l7_up *idle;
	size_t nidle;
	struct l7_h2_up *h2; /* HTTP/2 connections new streams may open on */
};

struct l7_up {
	struct l7_io io;
	struct l7_loop *l;
	struct l7_pool *pool;
	struct l7_endpoint *ep;
	void *token;
	http_parser parser;
	struct l7_buf out;
	struct l7_request *req; /* in flight, or NULL (idle) */
	struct l7_cluster *cluster;
	uint64_t idle_ms; /* the service's idleTimeout, 0: L7_IDLE_UP_MS */
	bool connected, reused, got_bytes, dead;
	bool single_use;    /* an upgrade's: never pooled */
	bool body_open;	    /* the request's body is not all in OUT yet */
	bool body_chunked;  /* ... and goes out chunked (length unknown) */
	uint64_t body_sent; /* the request body's bytes put in OUT */
	bool upgraded;	    /* the endpoint answered 101: a tunnel takes it */
	struct timer idle;
	struct l7_up *next; /* in the pool's idle list */
	/* the response head being parsed */
	struct l7_header *rh;
	size_t nrh, rh_cap, nrh_head; /* the head's; then the trailers */
	bool rh_in_value, discard, informational;
	char *reason;
	uint64_t sent_ms;
};

struct l7_loop {
	int ep, tfd;
	uint64_t tfd_due_ms; /* what the timerfd is set to: 0 unknown, UINT64_MAX off */
	const struct l7_ops *ops;
	void *ctx;
	char hop[64]; /* who answers errors: "shunt-proxy/NODE" */
	struct timer_wheel wheel;
	struct l7_buf scratch;				   /* l7_scratch */
	struct l7_view *view;				   /* current */
	struct keymap endpoints, pools, budgets, clusters; /* key -> index into the lists */
	struct l7_endpoint **endpoint_list;
	struct l7_pool **pool_list;
	struct l7_budget **budget_list;
	struct l7_cluster **cluster_list;
	size_t nendpoints, npools, nbudgets, nclusters;
	struct l7_down *downs, *dead_downs;
	struct l7_down *ready;	/* a pipelined request waits to be read */
	struct l7_later *later; /* sends put off to the end of the turn */
	struct l7_up *dead_ups;
	struct l7_h2_up *h2_ups, *dead_h2_ups;
	struct l7_mirror *mirrors, *dead_mirrors;
	struct l7_tunnel *tunnels, *dead_tunnels;
	bool draining; /* l7_loop_drain: every HTTP/1.1 response says close */
	unsigned int rng;
	uint64_t trace_rng; /* span, trace and request ids (l7_trace_random) */
};

/* l7_loop.c */
struct l7_view *l7_view_current(struct l7_loop *l);
void l7_view_put(struct l7_view *v);
uint32_t l7_random(struct l7_loop *l);
void l7_arm_in(struct l7_loop *l, struct timer *t, uint64_t ms);
void l7_loop_rearm(struct l7_loop *l);
/* What a turn of the loop ends with: pipelined requests parsed and
 * put-off sends made (until neither makes more of the other), what was
 * closed freed, the timer rearmed. Anything that runs the loop's work
 * outside l7_loop_run (a connection accepted with its request already
 * read) ends with it too: a send put off to the end of a turn that never
 * comes waits for the loop's next event, which may be a minute away. */
void l7_loop_end_turn(struct l7_loop *l);

/* l7_routes.c */
struct l7_port_table *l7_table_for(struct l7_loop *l, struct l7_view *v, const struct l7_origin *o,
				   enum shunt_outcome *why);
void l7_table_free(struct l7_port_table *t);
/* Keeps T in V under KEY (LEN bytes): V frees it. 0 or -ENOMEM. */
int l7_view_keep_table(struct l7_view *v, const void *key, size_t len, struct l7_port_table *t);
/* l7_inbound.c: the destination's hop's table for DST at O's address and
 * port (l7_origin.inbound), made on first use in V. */
struct l7_port_table *l7_inbound_table_for(struct l7_loop *l, struct l7_view *v,
					   const struct cfg_workload *dst,
					   const struct l7_origin *o, enum shunt_outcome *why);
/* The entry whose match takes REQ (path, query, method, headers), or NULL. */
const struct l7_entry *l7_route(const struct l7_port_table *t, const struct l7_request *req);
const char *l7_header_get(const struct l7_request *req, const char *name);

/* l7_lb.c */
struct l7_endpoint *l7_endpoint_stats(struct l7_loop *l, const __u8 addr[16], __u16 port);
const struct l7_backend *l7_pick_backend(struct l7_loop *l, const struct l7_rule *rule);
const struct l7_ep_ref *l7_pick_endpoint(struct l7_loop *l, const struct l7_backend *b);
void l7_endpoint_observe(struct l7_endpoint *e, uint64_t rtt_us);
bool l7_budget_deposit_or_withdraw(struct l7_loop *l, const struct l7_rule *rule, bool withdraw);
struct l7_cluster *l7_cluster_for(struct l7_loop *l, const struct cfg_service *svc, __u16 port);
/* The cluster named KEY (l7_cluster_for's are "ns/name:port"). */
struct l7_cluster *l7_cluster_keyed(struct l7_loop *l, const char *key);
/* Outlier detection: an answer (STATUS, or 0: connect failure or reset) of E. */
void l7_endpoint_result(const struct l7_backend *b, struct l7_endpoint *e, int status);
/* E refused a connect: out of rotation for a backoff that grows with each. */
void l7_endpoint_unreachable(struct l7_endpoint *e);
/* A token of RULE's rateLimit bucket, or false and *RETRY_S until one. */
bool l7_rate_take(struct l7_loop *l, const struct l7_rule *rule, unsigned int *retry_s);
struct l7_pool *l7_pool_for(struct l7_loop *l, const char *src, const struct l7_ep_ref *e);

/* l7_policy.c: what a request meets before any endpoint */
/* SHUNT_OUT_ALLOWED, or why the authorization policies of REQ's service refuse it. */
enum shunt_outcome l7_authorize(const struct l7_request *req, const struct cfg_workload *src);
/* Answers a RequestRedirect; false when the rule has none. */
bool l7_redirect(struct l7_request *req);
/* Applies URLRewrite to REQ's target and Host; 0 or -ENOMEM. */
int l7_rewrite(struct l7_request *req);

/* l7_down.c */
void l7_down_write(struct l7_down *d);
void l7_down_request_done(struct l7_down *d);
void l7_down_close(struct l7_down *d);
/* D's connection goes on as a tunnel's: its socket is returned, what it
 * read past the request's head moves to IN, what it has to send to OUT,
 * whether the client sent EOF to *EOF; D ends as if closed. */
int l7_down_detach(struct l7_down *d, struct l7_buf *in, struct l7_buf *out, bool *eof);
void l7_loop_parse_ready(struct l7_loop *l);
/* D has something to do at the end of this loop turn: write what came for
 * it, send window updates (HTTP/2), parse on (HTTP/1.1). */
void l7_down_kick(struct l7_down *d);

/* l7_h2.c: HTTP/2 clients */
/* 1: P (N bytes) starts the HTTP/2 preface; 0: it does not; -1: too short to say. */
int l7_h2_preface(const char *p, size_t n);
int l7_h2_start(struct l7_down *d);
int l7_h2_input(struct l7_down *d, const char *p, size_t n);
int l7_h2_send(struct l7_down *d);
bool l7_h2_finished(const struct l7_down *d);
void l7_h2_close(struct l7_down *d);

/* l7_up.c */
/* Sends REQ to its endpoint over a pooled connection of POOL, or a new one. */
enum shunt_outcome l7_up_send(struct l7_loop *l, struct l7_request *req, struct l7_pool *pool);
/* Gives UP back (idle in its pool) or closes it. */
void l7_up_release(struct l7_up *up, bool reusable);
void l7_up_resume(struct l7_up *up); /* the client drained: read the endpoint again */
/* The client of REQ drained: read its try's connection or stream again. */
void l7_request_resume_up(struct l7_request *req);
/* Something in POOL can take a request without a new connection. */
bool l7_pool_ready(const struct l7_pool *pool);

/* l7_up_h2.c: HTTP/2 (h2c) to endpoints whose port speaks it */
enum shunt_outcome l7_h2_up_send(struct l7_loop *l, struct l7_request *req, struct l7_pool *pool);
/* POOL's connection takes another stream now. */
bool l7_h2_up_has_room(const struct l7_pool *pool);
/* The try's stream is dropped (reset); its request goes on without it. */
void l7_h2_up_abort(struct l7_request *req);
void l7_h2_up_resume(struct l7_request *req); /* the client drained */
void l7_h2_up_close_all(struct l7_loop *l);
void l7_h2_up_reap(struct l7_loop *l);
int l7_h2_lines_to_nv(char *lines, nghttp2_nv *nv, size_t cap); /* in l7_h2.c */

/* l7_grpc.c */
bool l7_is_grpc(const struct l7_request *req);
/* grpc-timeout's value in ms (rounded up), or 0 when absent or invalid. */
uint64_t l7_grpc_timeout_ms(const struct l7_request *req);
/* The grpc-status a proxy answer of WHY with HTTP STATUS carries. */
int l7_grpc_status_for(enum shunt_outcome why, int status);
/* TEXT as a grpc-message value (percent-encoded) into OUT. */
void l7_grpc_message(const char *text, char *out, size_t cap);
/* REQ's grpc_status from the grpc-status of H (N headers), if one is there. */
void l7_grpc_note_status(struct l7_request *req, const struct l7_header *h, size_t n);
/* UP's connection goes on as a tunnel's: its socket is returned, its unsent
 * bytes move to OUT; its token and its count in its cluster go with it. */
int l7_up_detach(struct l7_up *up, struct l7_buf *out);

/* l7_request.c */
struct l7_request *l7_request_new(struct l7_down *d);
void l7_request_free(struct l7_request *req);
void l7_request_dispatch(struct l7_request *req);
/* The try on UP failed before a response head went to the client. */
void l7_request_try_failed(struct l7_request *req, enum shunt_outcome why, int status);
/* The endpoint refused REQ's stream before doing anything with it (HTTP/2
 * REFUSED_STREAM, or past a GOAWAY's last stream id: RFC 9113 8.7): sent
 * again once whatever its method, as a stale connection's. */
void l7_request_try_refused(struct l7_request *req);
/* The response is complete (or the client is gone: ABORTED). */
void l7_request_finish(struct l7_request *req, bool aborted);
/* The endpoint switched protocols: the request ends (logged, counted, its
 * timers stopped) and its connections become a tunnel. */
void l7_request_upgraded(struct l7_request *req);
void l7_request_answer(struct l7_request *req, enum shunt_outcome why);
/* REQ went on but cannot complete (its deadline passed, the client broke
 * it): its try is dropped and WHY answered, or a response the client has
 * begun is cut. */
void l7_request_abandon(struct l7_request *req, enum shunt_outcome why);
void l7_request_fault_answer(struct l7_request *req, int status, int grpc);
void l7_request_rate_limited(struct l7_request *req, unsigned int retry_s);
void l7_request_redirect_answer(struct l7_request *req, int status, const char *scheme,
				const char *host, const char *port, const char *target);
void l7_cluster_wake(struct l7_cluster *c);			/* now: from its timer */
void l7_cluster_freed(struct l7_loop *l, struct l7_cluster *c); /* soon */
/* REQ as sent to an endpoint (its rule's request modifiers applied), its
 * Upgrade kept if UPGRADE. */
int l7_serialize_request(struct l7_buf *out, const struct l7_request *req, const char *extra,
			 bool upgrade);
void l7_mirrors_reap(struct l7_loop *l);
void l7_mirrors_close(struct l7_loop *l);
/* l7_mirror.c: a copy of REQ to the rule's mirror service, answer dropped. */
void l7_mirror(struct l7_request *req);
bool l7_retry_status(struct l7_request *req, int status);
/* A trailers-only gRPC answer (H, N headers) whose grpc-status the rule
 * retries, and a retry is allowed. */
bool l7_retry_grpc(struct l7_request *req, const struct l7_header *h, size_t n);

/* l7_trace_request.c: REQ's x-request-id made when it came without one; its trace
 * read, with tracing on its span (new traces at SRC's share); the context a try
 * sends (NULL: none; in BUF or not); its spans as it ended, into D's two. */
void l7_request_id_ensure(struct l7_request *req);
void l7_request_trace_begin(struct l7_request *req, const struct cfg_workload *src);
const struct l7_trace *l7_request_hop_trace(const struct l7_request *req, struct l7_trace *buf);
void l7_request_spans(struct l7_request *req, struct l7_done *d, struct l7_span s[2]);

/* l7_body.c: request bodies streamed to the endpoint as they arrive */
/* N body bytes at P from the client; 0 or -ENOMEM. */
int l7_body_append(struct l7_request *req, const char *p, size_t n);
void l7_body_end(struct l7_request *req); /* the client's body is complete */
/* The bytes at absolute body offset OFF, and how many follow there. */
size_t l7_body_at(const struct l7_request *req, uint64_t off, const char **p);
/* A try took the body up to absolute offset UPTO: the client may send more
 * (HTTP/2 window), and what no retry can use any more is let go. */
void l7_body_taken(struct l7_request *req, uint64_t upto);
/* The client must wait: enough of its body is queued, unsent. */
bool l7_body_full(const struct l7_request *req);
/* The request has a body, or a method that always frames one (an empty
 * POST says content-length: 0). */
bool l7_body_expected(const struct l7_request *req);
/* A try can start from the body's first byte. */
bool l7_body_replayable(const struct l7_request *req);
/* The client's body went on (or ended) while a try streams it. */
void l7_up_pump_body(struct l7_up *up);
void l7_h2_up_body_ready(struct l7_request *req);

/* l7_tunnel.c: upgraded connections */
/* UP's request got its 101 (EARLY, N bytes, came after its head): from now
 * on UP's and the client's connections are one byte stream each way. */
void l7_tunnel_start(struct l7_up *up, const char *early, size_t n);
void l7_tunnels_reap(struct l7_loop *l);
void l7_tunnels_close(struct l7_loop *l);
size_t l7_tunnels_count(const struct l7_loop *l);

#endif
