/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The proxy's counters and their Prometheus text (/metrics, /healthz). */
#ifndef SHUNT_PROXY_STATS_H
#define SHUNT_PROXY_STATS_H

#include <stdatomic.h>
#include <stddef.h>

#include "common/outcome.h"

struct proxy_stats {
	atomic_ullong outcomes[SHUNT_OUT_MAX]; /* streams and tunnels, by how they ended */
	atomic_ullong streams_pooled, bytes_to_server, bytes_to_client;
	atomic_ullong certificates_issued, ca_reloads;
	atomic_ullong model_version;
};

extern struct proxy_stats proxy_stats;

static inline void proxy_stats_outcome(enum shunt_outcome o)
{
	if ((unsigned int)o < SHUNT_OUT_MAX)
		atomic_fetch_add_explicit(&proxy_stats.outcomes[o], 1, memory_order_relaxed);
}

/* The proxy's registry (its counters come in through a collector); NULL
 * when out of memory. */
struct metrics_registry *proxy_metrics(void);
/* Istio's standard metrics in that registry (proxy_istio.h); NULL when
 * out of memory. */
struct istio_metrics *proxy_istio(void);
/* http_server handler for /metrics and /healthz. */
int proxy_metrics_handler(const char *path, char **body, size_t *len, void *ctx);

#endif
