/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Istio's standard metrics (docs/telemetry.md, "Metrics"), under Istio's
 * names and labels, so that Istio's dashboards and alerts read the node
 * proxy's /metrics as they are:
 *   istio_requests_total, istio_request_duration_milliseconds,
 *   istio_request_bytes, istio_response_bytes (HTTP and gRPC requests of
 *   the L7 side, reporter "source");
 *   istio_tcp_connections_opened_total, istio_tcp_connections_closed_total,
 *   istio_tcp_sent_bytes_total, istio_tcp_received_bytes_total (streams of
 *   the mTLS tunnels: reporter "source" on the client's node, "destination"
 *   on the server's).
 *
 * Label cardinality is bounded: each kind (HTTP, TCP) takes at most
 * MAX_SETS distinct label sets; what comes after goes to one overflow set
 * per reporter (every other label "overflow") and is counted in
 * shunt_istio_overflow_total{kind}. Observing is thread-safe.
 */
#ifndef SHUNT_PROXY_ISTIO_H
#define SHUNT_PROXY_ISTIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/outcome.h"

struct metrics_registry;
struct istio_metrics;
struct cfg_workload;
struct cfg_service;

/* Label sets per kind (HTTP, TCP) before the overflow set takes the rest. */
#define ISTIO_MAX_SETS 1000

enum istio_reporter { ISTIO_SOURCE, ISTIO_DESTINATION };
/* Istio's reporter label: "source" or "destination". */
const char *istio_reporter_label(enum istio_reporter r);

/* Who talked to whom. Any pointer may be NULL: "unknown". */
struct istio_peers {
	enum istio_reporter reporter;
	const struct cfg_workload *src, *dst;
	const struct cfg_service *service; /* destination_service */
	const char *trust_domain;	   /* of the SPIFFE principals; NULL: cluster.local */
	const char *src_principal;	   /* verified by mTLS; NULL: the source workload's */
	bool mtls;			   /* carried over the mesh's mutual TLS */
};

struct istio_http {
	struct istio_peers p;
	bool grpc;
	int status;	 /* response_code; 0: no response */
	int grpc_status; /* -1: none */
	enum shunt_outcome outcome;
	double duration_ms;
	uint64_t request_bytes, response_bytes;
};

#define ISTIO_NAME_MAX 320 /* a principal or a service host */

/* The peer labels of an observation, as the istio_* series have them
 * ("unknown" when not known); the access log's fields too. */
struct istio_peer_labels {
	const char *reporter, *src_workload, *src_ns, *dst_workload, *dst_ns;
	const char *service_name, *service_ns, *security;
	char src_principal[ISTIO_NAME_MAX], dst_principal[ISTIO_NAME_MAX], service[ISTIO_NAME_MAX];
};
void istio_peer_labels(const struct istio_peers *p, struct istio_peer_labels *out);

/* Families in R; at most MAX_SETS label sets per kind. NULL on failure. */
struct istio_metrics *istio_metrics_new(struct metrics_registry *r, size_t max_sets);
void istio_metrics_free(struct istio_metrics *m);

void istio_request(struct istio_metrics *m, const struct istio_http *h);
/* A TCP connection opened; one closed as O, with SENT bytes towards the
 * client (responses) and RECEIVED from it (requests). */
void istio_tcp_opened(struct istio_metrics *m, const struct istio_peers *p);
void istio_tcp_closed(struct istio_metrics *m, const struct istio_peers *p, enum shunt_outcome o,
		      uint64_t sent, uint64_t received);

/* Envoy's %RESPONSE_FLAGS% for an end as O ("-": none). */
const char *istio_response_flags(enum shunt_outcome o);

#endif
