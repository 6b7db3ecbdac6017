/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The node proxy's L7 side (docs/l7.md): HTTP/1.1 connections of local
 * workloads to an L7 service port, which the connect hook sent here. Per
 * request it picks a route rule (HTTPRoute matches), a backend service (by
 * weight) and an endpoint (P2C over peak-EWMA latency), sends the request
 * over a pooled connection to that endpoint, with timeouts and retries, and
 * answers what fails itself, naming the hop and the reason. An upgrade
 * (WebSocket) goes on a connection of its own and, once the endpoint
 * answers 101, becomes a byte tunnel between the two connections.
 *
 * This module speaks HTTP and keeps per-request state; how a connection to
 * an endpoint is made (policy, identity, tunnels) is its owner's, through
 * the ops. One loop per worker thread, nothing shared between loops.
 */
#ifndef SHUNT_L7_H
#define SHUNT_L7_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "common/outcome.h"
#include "model/mesh_config.h"

struct l7_loop;
struct l7_span;

/* Where a request goes: an endpoint of a backend service, on behalf of a
 * client workload. */
struct l7_target {
	const struct cfg_workload *src, *dst;
	__u8 addr[16];
	__u16 port;
	bool inbound; /* at the destination's node, for a client of another */
};

/* A client connection the owner accepted: who made it and to which
 * service port (the connect hook's record). */
struct l7_origin {
	const struct cfg_workload *src; /* NULL: unknown (refused) */
	__u8 service_addr[16];		/* the service address it connected to */
	__u16 service_port;
	/* The destination's hop: a client of another node whose node proxy
	 * sent this connection through the mTLS tunnel to DST, an endpoint of
	 * this node, at SERVICE_ADDR:SERVICE_PORT. Its requests go to that
	 * endpoint only (no routing): authorized and reported here. */
	bool inbound;
	const struct cfg_workload *dst;
};

/* How a request ended (l7_ops.request_done). Pointers live for the call. */
struct l7_done {
	const char *source;		   /* the client workload, "ns/name" */
	const struct cfg_workload *src;	   /* NULL: not in the model */
	const struct cfg_service *service; /* the backend service tried, else the one
					    * addressed; NULL: not known */
	const char *method, *path;
	int status; /* sent to the client; 0: none (the client went away first) */
	enum shunt_outcome outcome;
	const struct l7_target *t; /* the last endpoint tried; NULL: none */
	unsigned int attempts;
	__u64 duration_us;
	/* body bytes: taken from the client, sent to it */
	__u64 request_bytes, response_bytes;
	bool grpc;	 /* a gRPC request (its content-type) */
	int grpc_status; /* grpc-status sent to the client; -1: none */
	bool inbound;	 /* seen at the destination's hop (l7_origin) */
	/* for the access log: "HTTP/1.1", "HTTP/1.0" or "HTTP/2", and request
	 * headers (NULL: not sent) */
	const char *protocol;
	const char *authority, *user_agent, *request_id;
	const char *traceparent, *b3, *x_b3_traceid;
	/* the trace id the request went on with (or came with, tracing off),
	 * 16 or 32 hex digits; "" none */
	const char *trace_id;
	/* its CLIENT span (SERVER at the destination's hop), when sampled (the
	 * owner may add tags and sends it on); NULL otherwise */
	struct l7_span *span;
	/* and its SERVER span, when this hop is the destination's too (an
	 * endpoint of this node): the CLIENT span's child; NULL otherwise */
	struct l7_span *server_span;
};

struct l7_ops {
	/* The model requests are routed with, and its version: the same
	 * pointer until the version changes. */
	const struct mesh_config *(*model)(void *ctx, __u64 *version);
	/* A reference that keeps the model model() returns alive, for as long
	 * as requests routed with it last; released with release_model. */
	void *(*hold_model)(void *ctx);
	void (*release_model)(void *ctx, void *hold);
	/* Opens a connection to T: *FD a non-blocking socket, connecting or
	 * connected (a socket, or one end of a socketpair whose other end the
	 * owner relays), *TOKEN the owner's, handed back to closed(). Decides
	 * policy for T first. SHUNT_OUT_ALLOWED, or why not. */
	enum shunt_outcome (*connect)(void *ctx, const struct l7_target *t, int *fd, void **token);
	/* True when requests to T reach another node's proxy that reads them
	 * again (its L7 hop: T's port is the target port of an L7 service
	 * port in CFG), which tells HTTP/2 from HTTP/1.1 by the first bytes
	 * whatever T's port speaks: they then go as streams of a pooled h2c
	 * connection, many at once, not one at a time per connection. A
	 * node that relays T's bytes as they are gets HTTP/1.1. Asked once per
	 * endpoint and model version. NULL: never. */
	bool (*multiplexed)(void *ctx, const struct mesh_config *cfg, const struct l7_target *t);
	/* Why a connection connect() made ended, when its owner knows (a
	 * refusal at the destination's node); else SHUNT_OUT_ALLOWED. */
	enum shunt_outcome (*failure)(void *ctx, void *token);
	/* Whether a connection connect() made may take another request:
	 * false once the node at its other end is being replaced (its tunnel
	 * got GOAWAY), which waits for it to end. NULL: always. */
	bool (*reusable)(void *ctx, void *token);
	/* A connection connect() made is closed (FD already is). */
	void (*closed)(void *ctx, void *token);
	/* A request ended: for logs, metrics and flows. */
	void (*request_done)(void *ctx, const struct l7_done *d);
};

/* Counters of every loop, for /metrics. */
struct l7_stats {
	atomic_ullong connections, connections_active, requests, retries, retries_budget_denied;
	atomic_ullong upstream_connects, upstream_reused, upstream_streams, ejections, mirrored;
	/* upgrades: asked for, accepted (101), tunnels open, tunnels ended by outcome */
	atomic_ullong upgrade_requests, upgrades, upgrades_active;
	atomic_ullong upgrades_closed[SHUNT_OUT_MAX];
	atomic_ullong by_outcome[SHUNT_OUT_MAX]; /* requests the proxy answered itself */
	atomic_ullong by_class[6];		 /* responses sent, by status / 100 */
};
extern struct l7_stats l7_stats;

/* A loop whose events arrive through its own epoll descriptor
 * (l7_loop_fd), which the owner polls for EPOLLIN. NULL on failure. */
struct l7_loop *l7_loop_new(const struct l7_ops *ops, void *ctx, const char *hop);
void l7_loop_free(struct l7_loop *l);
int l7_loop_fd(const struct l7_loop *l);
/* Runs what is ready and what is due, without waiting. */
void l7_loop_run(struct l7_loop *l);
/* Takes FD, a client's connection described by O. */
void l7_accept(struct l7_loop *l, int fd, const struct l7_origin *o);
/* The proxy is being replaced (l7_drain.c): clients are told to go,
 * between requests. Not FINAL (first): HTTP/2 clients get GOAWAY's
 * shutdown notice, HTTP/1.1 responses say `connection: close` from now on,
 * and a client between requests is closed. FINAL (a second or more later,
 * and again every so often): HTTP/2 clients get the last stream id and are
 * closed once those streams are done; idle HTTP/1.1 clients are closed. */
void l7_loop_drain(struct l7_loop *l, bool final);
/* Once a second: idle pooled connections ops->reusable no longer takes
 * are closed. */
void l7_loop_prune(struct l7_loop *l);
/* Client connections and upgraded (byte tunnel) connections L has. */
size_t l7_loop_connections(const struct l7_loop *l);

#endif
