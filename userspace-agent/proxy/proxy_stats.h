/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The proxy's counters and their Prometheus text (/metrics, /healthz). */
#ifndef SHUNT_PROXY_STATS_H
#define SHUNT_PROXY_STATS_H

#include <stdatomic.h>
#include <stddef.h>

enum proxy_hs_fail {
	HS_NOT_TLS,
	HS_NO_CERT,
	HS_UNKNOWN_CA,
	HS_EXPIRED,
	HS_NOT_YET_VALID,
	HS_OTHER,
	HS_MAX
};

enum proxy_refusal { RF_NO_ORIGIN, RF_IDENTITY, RF_POLICY, RF_UNKNOWN, RF_UPSTREAM, RF_MAX };

/* Indexed by side: 0 outbound, 1 inbound. conns are proxied connections
 * (HTTP/2 streams), tunnels the TLS connections that carry them. */
struct proxy_stats {
	atomic_ullong conns[2], active[2], closed[2], resets[2];
	atomic_ullong tunnels[2], tunnels_active[2], streams_pooled;
	atomic_ullong bytes_to_server, bytes_to_client;
	atomic_ullong handshakes[2], resumed, hs_fail[HS_MAX], refused[RF_MAX];
};

extern struct proxy_stats proxy_stats;

/* Counts a refusal by the reason its log line gives. */
void proxy_stats_refusal(const char *why);
/* Counts a failed handshake by the certificate error or OpenSSL's reason. */
void proxy_stats_handshake_failure(long verify_result, const char *ssl_reason);
/* http_server handler for /metrics and /healthz. */
int proxy_metrics_handler(const char *path, char **body, size_t *len, void *ctx);

#endif
