/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The L7 engine (proxy/l7) driven from a test, in one thread: a mesh
 * config parsed from YAML, fake ops whose connect() hands out one end of a
 * socketpair (the other end is the test's, playing the endpoint), clients
 * that are socketpairs too, and HTTP messages read on the test's ends with
 * http-parser. Used by test_l7*.c and the L7 fuzz target.
 */
#ifndef SHUNT_TEST_L7_FAKE_H
#define SHUNT_TEST_L7_FAKE_H

#include <http_parser.h>
#include <stdbool.h>

#include "proxy/l7/l7.h"
#include "proxy/l7/l7_trace.h"

#define FAKE_MAX_CONNS	 64
#define FAKE_MAX_HEADERS 64

/* An HTTP message as the test's end received it. */
struct fake_msg {
	int status;
	char method[16], url[512];
	struct {
		char name[64], value[256];
	} headers[FAKE_MAX_HEADERS];
	int nheaders;
	char *body; /* decoded; NUL-terminated */
	size_t body_len, body_cap;
	bool chunked, complete;
	int http_minor;
};

/* The test's end of a connection, with its reader. */
struct fake_peer {
	int fd;
	http_parser parser;
	bool eof, eof_parsed, head_request, in_value;
	bool upgraded; /* the last message switched protocols: no more HTTP after it */
	char *in;
	size_t in_off, in_len, in_cap;
	struct fake_msg *msg; /* being filled */
};

struct fake_conn {
	struct fake_peer peer; /* the endpoint's end */
	struct fake_msg req;   /* the last request read on it */
	char dst[64];	       /* the workload connect() was asked for */
	__u16 port;	       /* ... and its port */
	bool inbound;	       /* asked for by the destination's hop */
	bool closed;	       /* the engine closed its end (ops.closed) */
	bool goaway; /* ops.reusable says no: the node at its other end is being replaced */
	enum shunt_outcome failure; /* what ops.failure answers */
};

struct l7_fake {
	struct mesh_config cfg;
	__u64 version;
	struct l7_loop *loop;
	int holds;		   /* model references held by the engine */
	enum shunt_outcome refuse; /* what connect() answers */
	/* connects to this workload fail as a cross-node one the endpoint's
	 * node could not make: the stream ends at once, upstream_refused */
	const char *refuse_dst;
	/* this node's name (NULL: n1): endpoints of other nodes are reached
	 * through their node's proxy, HTTP/2 whatever their port speaks */
	const char *node;
	/* SO_SNDBUF of the engine's end of endpoint connections (0: the
	 * default; the kernel doubles it) */
	int up_sndbuf;
	struct fake_conn *conns[FAKE_MAX_CONNS]; /* in the order connect() made them */
	int nconns;
	/* request_done */
	int ndone, last_status;
	enum shunt_outcome last_outcome;
	unsigned int last_attempts;
	__u64 last_request_bytes, last_response_bytes, last_duration_us;
	bool last_grpc;
	int last_grpc_status;
	const struct cfg_service *last_service;
	const struct cfg_workload *last_src, *last_dst;
	bool last_inbound;
	char last_trace_id[33]; /* request_done's trace_id */
	int nspans;		/* request_done's with a span */
	struct l7_span last_span;
	int nserver_spans; /* and with a SERVER span of an endpoint of this node */
	struct l7_span last_server_span;
};

/* The fixture most engine tests share: the loop of a config, a client of
 * shop/client connected to shop/web:80, and a response to read into. */
struct fake_fix {
	struct l7_fake f;
	struct fake_peer client;
	struct fake_msg resp;
};

/* The fixture of YAML, or NULL with ERR (a config error, or no client). */
struct fake_fix *fake_fix_new(const char *yaml, char *err, size_t errlen);
/* Frees X (NULL is fine); the model holds left (should be 0). */
int fake_fix_free(struct fake_fix *x);

/* Parses YAML and makes the loop; 0 or -errno (ERR names a config error). */
int fake_init(struct l7_fake *f, const char *yaml, char *err, size_t errlen);
/* Frees the loop and the config; the model holds left (should be 0). */
int fake_fini(struct l7_fake *f);
/* A client of workload SRC ("ns/name") connected to SERVICE:PORT: the
 * test's end (a fake_peer reading responses). -errno on failure. */
int fake_client(struct l7_fake *f, struct fake_peer *p, const char *src, const char *service,
		__u16 port);
/* A client of workload SRC arriving at the destination's hop of workload
 * DST ("ns/name") at its first address and PORT (l7_origin.inbound). */
int fake_inbound_client(struct l7_fake *f, struct fake_peer *p, const char *src, const char *dst,
			__u16 port);
void fake_peer_free(struct fake_peer *p);
/* Runs the loop for up to MS milliseconds (0: what is ready now). */
/* CLOCK_MONOTONIC in milliseconds */
int64_t fake_now_ms(void);
void fake_pump(struct l7_fake *f, int ms);
/* Runs the loop until it has nothing more to do right away. */
void fake_settle(struct l7_fake *f);
/* Writes all of BUF to FD (pumping the loop while the socket is full). */
int fake_send(struct l7_fake *f, int fd, const void *buf, size_t len);
/* The next whole message on P into M, pumping the loop: 0, -ETIMEDOUT,
 * -EPIPE (EOF before a message) or -EPROTO (not HTTP). */
int fake_read(struct l7_fake *f, struct fake_peer *p, struct fake_msg *m, int timeout_ms);
/* The next request that reaches any endpoint: its connection's index (the
 * request is in conns[index].req), or -errno as fake_read. */
int fake_backend_read(struct l7_fake *f, int timeout_ms);
/* The same without waiting or running the loop: -EAGAIN if none yet. */
int fake_backend_poll(struct l7_fake *f);
int fake_backend_write(struct l7_fake *f, int conn, const char *raw);
/* REQUEST from CLIENT, answered with RESPONSE by the endpoint that gets it
 * (*CONN, may be NULL); the client's response in M. 0 or -errno. */
int fake_exchange(struct l7_fake *f, struct fake_peer *client, const char *request,
		  const char *response, struct fake_msg *m, int *conn);
void fake_msg_free(struct fake_msg *m);
/* The value of header NAME (case-insensitive), or NULL; how many there are. */
const char *fake_header(const struct fake_msg *m, const char *name);
int fake_header_count(const struct fake_msg *m, const char *name);

#endif
