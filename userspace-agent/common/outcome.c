// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "outcome.h"

#include <string.h>
#include <linux/types.h>

#include "mesh_shared.h"

#define DENY	  SHUNT_OF_DENY
#define REFUSAL	  SHUNT_OF_REFUSAL
#define HANDSHAKE SHUNT_OF_HANDSHAKE
#define RESET	  SHUNT_OF_RESET

static const struct shunt_outcome_info table[SHUNT_OUT_MAX] = {
    [SHUNT_OUT_ALLOWED] = {"allowed", 200, NULL, 0, "allowed"},
    [SHUNT_OUT_CLOSED] = {"closed", 0, NULL, 0, "closed"},
    [SHUNT_OUT_RESET] = {"reset", 0, NULL, RESET, "reset"},
    [SHUNT_OUT_TUNNEL_GONE] = {"tunnel_closed", 0, NULL, RESET, "reset: the tunnel closed"},
    [SHUNT_OUT_WINDOW_OVERRUN] = {"window_overrun", 0, NULL, RESET,
				  "reset: the peer overran the stream window"},
    [SHUNT_OUT_IDLE_TIMEOUT] = {"idle_timeout", 0, NULL, RESET, "idle timeout"},
    [SHUNT_OUT_SETUP_TIMEOUT] = {"setup_timeout", 504, NULL, RESET, "set-up timed out"},
    [SHUNT_OUT_NO_ORIGIN] = {"no_kernel_origin", 0, "no_kernel_origin", DENY | REFUSAL | RESET,
			     "refused: the kernel sent no connection from this address here"},
    [SHUNT_OUT_UNKNOWN_ROUTE] = {"unknown_route", 0, "unknown_workload", DENY | REFUSAL | RESET,
				 "refused: unknown source, destination or destination node "
				 "proxy"},
    [SHUNT_OUT_NO_CERTIFICATE] = {"no_certificate", 0, NULL, RESET,
				  "no certificate for the source's identity yet"},
    [SHUNT_OUT_PEER_UNREACHABLE] = {"peer_unreachable", 0, NULL, DENY | RESET,
				    "cannot reach the destination node's proxy"},
    [SHUNT_OUT_STREAM_FAILED] = {"stream_failed", 0, NULL, RESET, "cannot open a stream"},
    [SHUNT_OUT_PEER_REFUSED] = {"peer_refused", 0, "other", DENY | REFUSAL | RESET,
				"refused by the destination node"},
    [SHUNT_OUT_BAD_REQUEST] = {"bad_request", 400, "bad_request", DENY | REFUSAL | RESET,
			       "refused: not a CONNECT to an address and port"},
    [SHUNT_OUT_UNKNOWN_SOURCE] = {"unknown_source", 403, "unknown_workload", DENY | REFUSAL | RESET,
				  "refused: unknown source workload"},
    [SHUNT_OUT_IDENTITY_MISMATCH] = {"identity_mismatch", 403, "identity_mismatch",
				     DENY | REFUSAL | RESET,
				     "refused: the certificate's identity is not the source "
				     "workload's"},
    [SHUNT_OUT_NOT_LOCAL] = {"not_local_destination", 403, "unknown_workload",
			     DENY | REFUSAL | RESET,
			     "refused: the destination is not a workload of this node"},
    [SHUNT_OUT_SOURCE_NOT_IN_KERNEL] = {"source_not_in_kernel", 403, "unknown_workload",
					DENY | REFUSAL | RESET,
					"refused: the source is unknown to the kernel"},
    [SHUNT_OUT_DEST_NOT_IN_KERNEL] = {"destination_not_in_kernel", 403, "unknown_workload",
				      DENY | REFUSAL | RESET,
				      "refused: the destination is unknown to the kernel"},
    [SHUNT_OUT_POLICY_QUERY_FAILED] = {"policy_query_failed", 503, "policy", DENY | REFUSAL | RESET,
				       "refused: the kernel did not answer the policy query"},
    [SHUNT_OUT_POLICY_DENIED] = {"policy_denied", 403, "policy", DENY | REFUSAL | RESET,
				 "refused by the destination's ingress policy"},
    [SHUNT_OUT_NO_BACKEND] = {"no_backend", 503, "no_backend", DENY | REFUSAL | RESET,
			      "refused: a service without backends"},
    [SHUNT_OUT_NO_IPV6_SOURCE] = {"no_ipv6_source", 502, "upstream", REFUSAL | RESET,
				  "refused: this node has no IPv6 pod-facing proxy address "
				  "(outbound6)"},
    [SHUNT_OUT_BIND_FAILED] = {"bind_failed", 502, "upstream", REFUSAL | RESET,
			       "cannot bind to the node's pod-facing address"},
    [SHUNT_OUT_SOCKET_FAILED] = {"socket_failed", 502, NULL, RESET, "cannot open a socket"},
    [SHUNT_OUT_ASSERT_FAILED] = {"assert_failed", 502, NULL, RESET,
				 "cannot assert the identity to the kernel"},
    [SHUNT_OUT_CONNECT_FAILED] = {"connect_failed", 502, "upstream", REFUSAL | RESET,
				  "cannot connect to the destination"},
    [SHUNT_OUT_UPSTREAM_REFUSED] = {"upstream_refused", 502, "upstream", REFUSAL | RESET,
				    "the destination refused the connection"},
    [SHUNT_OUT_PEER_CLOSED] = {"peer_closed", 0, NULL, 0, "closed by the peer"},
    [SHUNT_OUT_PEER_RESET] = {"peer_reset", 0, NULL, RESET, "reset: the peer closed the tunnel"},
    [SHUNT_OUT_SEND_FAILED] = {"send_failed", 0, NULL, RESET, "reset: cannot send to the peer"},
    [SHUNT_OUT_TUNNEL_IDLE] = {"tunnel_idle", 0, NULL, 0, "closed: idle"},
    [SHUNT_OUT_NO_ALPN] = {"no_alpn", 0, NULL, RESET,
			   "refused: the peer does not speak the tunnel protocol (ALPN h2)"},
    [SHUNT_OUT_PEER_NO_IDENTITY] = {"peer_no_identity", 0, "identity_mismatch",
				    DENY | REFUSAL | RESET,
				    "refused: the peer certificate has no single identity"},
    [SHUNT_OUT_PEER_NOT_NODE] = {"peer_not_node_proxy", 0, "identity_mismatch",
				 DENY | REFUSAL | RESET,
				 "refused: the peer is not that node's proxy"},
    [SHUNT_OUT_TLS_NOT_TLS] = {"tls_not_tls", 0, "not_tls", DENY | HANDSHAKE | RESET,
			       "TLS handshake failed: not TLS"},
    [SHUNT_OUT_TLS_NO_CERT] = {"tls_no_certificate", 0, "no_certificate", DENY | HANDSHAKE | RESET,
			       "TLS handshake failed: no client certificate"},
    [SHUNT_OUT_TLS_UNKNOWN_CA] = {"tls_unknown_ca", 0, "unknown_ca", DENY | HANDSHAKE | RESET,
				  "TLS handshake failed: certificate of an unknown CA"},
    [SHUNT_OUT_TLS_EXPIRED] = {"tls_expired", 0, "expired", DENY | HANDSHAKE | RESET,
			       "TLS handshake failed: certificate expired"},
    [SHUNT_OUT_TLS_NOT_YET_VALID] = {"tls_not_yet_valid", 0, "not_yet_valid",
				     DENY | HANDSHAKE | RESET,
				     "TLS handshake failed: certificate not yet valid"},
    [SHUNT_OUT_TLS_OTHER] = {"tls_failed", 0, "other", DENY | HANDSHAKE | RESET,
			     "TLS handshake failed"},
    [SHUNT_OUT_EGRESS_DENIED] = {"egress_denied", 403, "policy", DENY | REFUSAL,
				 "refused by the source's egress policy"},
    [SHUNT_OUT_L7_BAD_REQUEST] = {"bad_http_request", 400, NULL, 0, "not a valid HTTP request"},
    [SHUNT_OUT_L7_HEADERS_TOO_LARGE] = {"request_headers_too_large", 431, NULL, 0,
					"request headers larger than the proxy takes"},
    [SHUNT_OUT_L7_BODY_TOO_LARGE] = {"request_body_too_large", 413, NULL, 0,
				     "request body larger than the proxy buffers"},
    [SHUNT_OUT_L7_NO_ROUTE] = {"no_route", 404, NULL, 0, "no rule of the service's routes matches"},
    [SHUNT_OUT_L7_NO_ENDPOINT] = {"no_endpoint", 503, NULL, 0,
				  "the chosen backend service has no endpoint"},
    [SHUNT_OUT_L7_CONNECT_FAILED] = {"upstream_connect_failed", 503, NULL, 0,
				     "cannot connect to the endpoint"},
    [SHUNT_OUT_L7_UPSTREAM_RESET] = {"upstream_reset", 502, NULL, 0,
				     "the endpoint closed the connection before a full response"},
    [SHUNT_OUT_L7_BAD_RESPONSE] = {"upstream_bad_response", 502, NULL, 0,
				   "the endpoint's response is not valid HTTP"},
    [SHUNT_OUT_L7_TRY_TIMEOUT] = {"upstream_timeout", 504, NULL, 0,
				  "the endpoint did not answer within timeouts.backendRequest"},
    [SHUNT_OUT_L7_REQUEST_TIMEOUT] = {"request_timeout", 504, NULL, 0,
				      "no response within timeouts.request"},
    [SHUNT_OUT_L7_UPSTREAM_STATUS] = {"upstream_status", 0, NULL, 0,
				      "the endpoint answered with an error status"},
    [SHUNT_OUT_L7_AUTHZ_DENIED] = {"authz_denied", 403, "authorization", DENY | REFUSAL,
				   "refused by the service's authorization policies"},
    [SHUNT_OUT_L7_RATE_LIMITED] = {"rate_limited", 429, NULL, 0, "over the route's rate limit"},
    [SHUNT_OUT_L7_FAULT_ABORT] = {"fault_injected", 503, NULL, 0,
				  "aborted by the route's fault injection"},
    [SHUNT_OUT_L7_OVERFLOW_REQUESTS] = {"overflow_max_requests", 503, NULL, 0,
					"circuit breaker: the service's maxRequests are in flight"},
    [SHUNT_OUT_L7_OVERFLOW_PENDING] = {"overflow_max_pending", 503, NULL, 0,
				       "circuit breaker: maxConnections open and "
				       "http1MaxPendingRequests waiting"},
    [SHUNT_OUT_L7_REDIRECTED] = {"redirected", 302, NULL, 0, "redirected by the route"},
    [SHUNT_OUT_L7_BACKEND_NOT_RESOLVED] = {"backend_not_resolved", 500, NULL, 0,
					   "the chosen backendRef does not resolve (the "
					   "route's ResolvedRefs says why)"},
};

const struct shunt_outcome_info *shunt_outcome(enum shunt_outcome o)
{
	if ((unsigned int)o >= SHUNT_OUT_MAX || !table[o].label)
		return &table[SHUNT_OUT_RESET];
	return &table[o];
}

bool shunt_outcome_from_label(const char *label, size_t len, enum shunt_outcome *o)
{
	int i;

	for (i = 0; i < SHUNT_OUT_MAX; i++)
		if (table[i].label && strlen(table[i].label) == len &&
		    !memcmp(table[i].label, label, len)) {
			*o = (enum shunt_outcome)i;
			return true;
		}
	return false;
}

enum shunt_outcome shunt_outcome_of_verdict(unsigned int verdict)
{
	switch (verdict) {
	case SHUNT_VERDICT_ALLOW:
		return SHUNT_OUT_ALLOWED;
	case SHUNT_VERDICT_NO_BACKEND:
		return SHUNT_OUT_NO_BACKEND;
	default:
		return SHUNT_OUT_POLICY_DENIED;
	}
}

size_t shunt_outcome_metrics(enum shunt_outcome_flags f, const char **out, size_t cap)
{
	size_t n = 0, j;
	int i;

	for (i = 0; i < SHUNT_OUT_MAX; i++) {
		if (!(table[i].flags & f) || !table[i].metric)
			continue;
		for (j = 0; j < n && strcmp(out[j], table[i].metric); j++)
			;
		if (j == n && n < cap)
			out[n++] = table[i].metric;
	}
	return n;
}
