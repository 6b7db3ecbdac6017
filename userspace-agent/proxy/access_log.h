/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Access log lines (docs/telemetry.md "Access logs"): one JSON object per
 * HTTP request of the L7 side and per TCP connection through the mTLS
 * tunnel, with a fixed list of flat fields, each always of one JSON type
 * (a string, an integer, a number, or null where it does not apply), so
 * that Fluent Bit's JSON parser and Elasticsearch take the lines as they
 * are. Written straight into a buffer; strings that are not UTF-8 get
 * U+FFFD for each bad byte. Pure functions: the proxy's side is
 * proxy_access_log.c.
 */
#ifndef SHUNT_ACCESS_LOG_H
#define SHUNT_ACCESS_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "proxy_istio.h"

/* A line is at most this long (strings are cut to their caps below). */
#define ACCESS_LOG_LINE_MAX 65536 /* escaping may make a string 6 times longer */
#define ACCESS_LOG_PATH_MAX 4096  /* path; authority and user_agent 1024; ids 256 */

struct access_log_entry {
	struct timespec start; /* CLOCK_REALTIME */
	const char *node;      /* the reporting proxy's node */
	const char *protocol;  /* "HTTP/1.1", "HTTP/1.0", "HTTP/2" or "TCP" */
	/* HTTP only (NULL: null) */
	const char *method, *authority, *path, *user_agent, *request_id, *trace_id;
	int response_code;	    /* 0: none (and TCP) */
	int grpc_status;	    /* -1: null */
	enum shunt_outcome outcome; /* response_flags and outcome */
	uint64_t bytes_received, bytes_sent;
	uint64_t duration_us;
	const char *upstream_host; /* "addr:port"; NULL: null */
	enum istio_reporter reporter;
	const struct istio_peer_labels *peers; /* workloads, principals, service */
	bool has_service;		       /* upstream_service from peers->service */
	/* upstream_host to connection_security_policy as
	 * access_log_format_shared made them (PEERS then unused); NULL: made
	 * from the fields above */
	const char *shared;
	size_t shared_len;
};

/* The line of E, '\n' included, into BUF (LEN bytes); its length, or
 * -ENOSPC / -ENOMEM. */
int access_log_format(const struct access_log_entry *e, char *buf, size_t len);

/*
 * The part of E's line that every line of the same peers and endpoint
 * shares, from upstream_host to connection_security_policy (a comma
 * first), into BUF; its length or -ENOSPC. The proxy keeps it per peers and
 * endpoint: the labels, principals and their escaping were a third of a
 * line's cost (docs/telemetry.md "Overhead").
 */
int access_log_format_shared(const struct access_log_entry *e, char *buf, size_t len);

/*
 * Whether to log one request or connection, for a share RATE (0 to 1). With
 * KEY (the request's x-request-id) the decision is the request id's: its
 * FNV-1a hash, as a fraction of 2^64, below RATE, so every proxy that sees
 * the id decides alike. Without one, *CREDIT (per worker) adds RATE each
 * time and logs when it reaches 1: exactly RATE of them, evenly spread.
 */
bool access_log_sample(double rate, const char *key, double *credit);

/*
 * The trace id of a request's tracing headers, lowercase hex, into OUT:
 * W3C traceparent (32 digits), else B3 single (`b3`: 16 or 32), else
 * X-B3-TraceId. NULL when none is there or well-formed (an all-zero id is
 * invalid in both).
 */
const char *access_log_trace_id(const char *traceparent, const char *b3, const char *x_b3_traceid,
				char out[33]);

#endif
