/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* HTTP/2 to endpoints: what l7_up_h2.c (connections, responses) and
 * l7_up_h2_send.c (requests) share. */
#ifndef SHUNT_L7_UP_H2_H
#define SHUNT_L7_UP_H2_H

#include "l7_impl.h"

#define H2_UP_WINDOW	  (1 << 20)  /* a stream's receive window */
#define H2_UP_CONN_WINDOW (16 << 20) /* the connection's */
#define H2_UP_STREAMS_MAX 1000	     /* even if the endpoint allows more */

struct l7_h2_up {
	struct l7_io io;
	struct l7_loop *l;
	struct l7_pool *pool; /* NULL once it takes no new streams */
	struct l7_cluster *cluster;
	void *token;
	nghttp2_session *s;
	struct l7_buf out;
	struct l7_h2_stream *streams;
	unsigned int nstreams;
	uint64_t idle_ms;
	bool connected, dead, got_bytes, busy; /* busy: inside the session */
	unsigned int names_due; /* streams until the unique fields' names go indexed again */
	struct timer idle;
	struct l7_later send_later;
	struct l7_h2_up *next;	    /* in the loop's list, then its dead list */
	struct l7_h2_up *pool_next; /* in its pool's list */
};

struct l7_h2_stream {
	struct l7_h2_up *c;
	struct l7_request *req; /* NULL: abandoned (reset, retried or answered) */
	int32_t id;
	uint64_t body_sent; /* of the request body */
	bool body_waits;    /* its data waits for the client's (deferred) */
	size_t unconsumed;  /* response bytes taken but not yet acknowledged */
	int status;
	struct l7_header *rh;
	size_t nrh, rh_cap;
	uint64_t sent_ms;
	/* the connection's streams; pprev: O(1) unlinking, a connection
	 * has hundreds of them */
	struct l7_h2_stream *next, **pprev;
};

/* The pool's first connection that takes another stream, or NULL. */
struct l7_h2_up *l7_h2_pool_pick(const struct l7_pool *pool);
/* A new connection to REQ's endpoint, first in POOL; NULL and *WHY. */
struct l7_h2_up *l7_h2_conn_open(struct l7_loop *l, struct l7_request *req, struct l7_pool *pool,
				 enum shunt_outcome *why);
/* The request leaves its stream (NULL if it had none). */
struct l7_request *l7_h2_stream_detach(struct l7_h2_stream *hs);

#endif
