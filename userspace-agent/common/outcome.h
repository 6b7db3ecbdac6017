/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Every way a proxied connection, a tunnel or a request can end, as one
 * enum and one table: a stable label (logs' "outcome" field, the
 * "shunt-outcome" header between proxies), the HTTP status an inbound
 * refusal answers with, the reason label of the refusal and handshake
 * metrics, and a text for people. Code decides on the enum; the text is
 * only ever printed, so rewording it changes no status, metric or flow.
 */
#ifndef SHUNT_OUTCOME_H
#define SHUNT_OUTCOME_H

#include <stdbool.h>
#include <stddef.h>

enum shunt_outcome {
	SHUNT_OUT_ALLOWED, /* decided: may go on (never an end) */
	SHUNT_OUT_CLOSED,
	SHUNT_OUT_RESET,
	SHUNT_OUT_TUNNEL_GONE,
	SHUNT_OUT_WINDOW_OVERRUN,
	SHUNT_OUT_IDLE_TIMEOUT,
	SHUNT_OUT_SETUP_TIMEOUT,
	/* outbound decisions */
	SHUNT_OUT_NO_ORIGIN,
	SHUNT_OUT_UNKNOWN_ROUTE,
	SHUNT_OUT_NO_CERTIFICATE,
	SHUNT_OUT_PEER_UNREACHABLE,
	SHUNT_OUT_STREAM_FAILED,
	SHUNT_OUT_PEER_REFUSED,
	/* inbound decisions (answered with their HTTP status) */
	SHUNT_OUT_BAD_REQUEST,
	SHUNT_OUT_UNKNOWN_SOURCE,
	SHUNT_OUT_IDENTITY_MISMATCH,
	SHUNT_OUT_NOT_LOCAL,
	SHUNT_OUT_SOURCE_NOT_IN_KERNEL,
	SHUNT_OUT_DEST_NOT_IN_KERNEL,
	SHUNT_OUT_POLICY_QUERY_FAILED,
	SHUNT_OUT_POLICY_DENIED, /* the datapath's SHUNT_VERDICT_DENY */
	SHUNT_OUT_NO_BACKEND,	 /* the datapath's SHUNT_VERDICT_NO_BACKEND */
	SHUNT_OUT_NO_IPV6_SOURCE,
	SHUNT_OUT_BIND_FAILED,
	SHUNT_OUT_SOCKET_FAILED,
	SHUNT_OUT_ASSERT_FAILED,
	SHUNT_OUT_CONNECT_FAILED,
	SHUNT_OUT_UPSTREAM_REFUSED,
	/* tunnels */
	SHUNT_OUT_PEER_CLOSED,
	SHUNT_OUT_PEER_RESET,
	SHUNT_OUT_SEND_FAILED,
	SHUNT_OUT_TUNNEL_IDLE,
	SHUNT_OUT_NO_ALPN,
	SHUNT_OUT_PEER_NO_IDENTITY,
	SHUNT_OUT_PEER_NOT_NODE,
	/* failed TLS handshakes */
	SHUNT_OUT_TLS_NOT_TLS,
	SHUNT_OUT_TLS_NO_CERT,
	SHUNT_OUT_TLS_UNKNOWN_CA,
	SHUNT_OUT_TLS_EXPIRED,
	SHUNT_OUT_TLS_NOT_YET_VALID,
	SHUNT_OUT_TLS_OTHER,
	/* L7 requests (docs/l7.md): answered by the proxy with their status */
	SHUNT_OUT_EGRESS_DENIED,
	SHUNT_OUT_L7_BAD_REQUEST,
	SHUNT_OUT_L7_HEADERS_TOO_LARGE,
	SHUNT_OUT_L7_BODY_TOO_LARGE, /* no longer produced (bodies stream); kept: numbers stay */
	SHUNT_OUT_L7_NO_ROUTE,
	SHUNT_OUT_L7_NO_ENDPOINT,
	SHUNT_OUT_L7_CONNECT_FAILED,
	SHUNT_OUT_L7_UPSTREAM_RESET,
	SHUNT_OUT_L7_BAD_RESPONSE,
	SHUNT_OUT_L7_TRY_TIMEOUT,
	SHUNT_OUT_L7_REQUEST_TIMEOUT,
	SHUNT_OUT_L7_UPSTREAM_STATUS, /* the endpoint answered (with a retriable status) */
	SHUNT_OUT_L7_AUTHZ_DENIED,
	SHUNT_OUT_L7_RATE_LIMITED,
	SHUNT_OUT_L7_FAULT_ABORT,
	SHUNT_OUT_L7_OVERFLOW_REQUESTS,
	SHUNT_OUT_L7_OVERFLOW_PENDING,
	SHUNT_OUT_L7_REDIRECTED,
	SHUNT_OUT_L7_BACKEND_NOT_RESOLVED, /* the chosen backendRef does not resolve: 500 */
	SHUNT_OUT_MAX
};

/* How an outcome is counted and reported. */
enum shunt_outcome_flags {
	SHUNT_OF_DENY = 1 << 0,	     /* a denied flow event */
	SHUNT_OF_REFUSAL = 1 << 1,   /* shunt_proxy_refused_total{reason=metric} */
	SHUNT_OF_HANDSHAKE = 1 << 2, /* shunt_proxy_handshake_failures_total{reason=metric} */
	SHUNT_OF_RESET = 1 << 3,     /* the plain side is reset, not closed */
};

struct shunt_outcome_info {
	const char *label;  /* stable, lower_snake_case */
	int http_status;    /* inbound answer; 0: not an answer */
	const char *metric; /* reason label of the refusal/handshake metric, or NULL */
	unsigned int flags; /* enum shunt_outcome_flags */
	const char *text;   /* for people */
};

/* The row of O (an out-of-range O gives the row of SHUNT_OUT_RESET). */
const struct shunt_outcome_info *shunt_outcome(enum shunt_outcome o);
static inline const char *shunt_outcome_label(enum shunt_outcome o)
{
	return shunt_outcome(o)->label;
}
static inline const char *shunt_outcome_text(enum shunt_outcome o)
{
	return shunt_outcome(o)->text;
}
static inline bool shunt_outcome_is(enum shunt_outcome o, enum shunt_outcome_flags f)
{
	return (shunt_outcome(o)->flags & f) != 0;
}
/* The outcome labelled LABEL (LEN bytes); false if none is. */
bool shunt_outcome_from_label(const char *label, size_t len, enum shunt_outcome *o);
/* A datapath verdict (enum shunt_verdict) as an outcome. */
enum shunt_outcome shunt_outcome_of_verdict(unsigned int verdict);
/* The distinct metric labels with flag F, in table order, into OUT (at most
 * CAP); how many. For rendering every reason, even at zero. */
size_t shunt_outcome_metrics(enum shunt_outcome_flags f, const char **out, size_t cap);

#endif
