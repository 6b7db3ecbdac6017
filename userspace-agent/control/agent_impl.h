/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Inside the agent (agent.c, agent_http.c): its state. */
#ifndef SHUNT_AGENT_IMPL_H
#define SHUNT_AGENT_IMPL_H

#include <limits.h>
#include <pthread.h>

#include "agent.h"
#include "common/metrics.h"
#include "datapath_metrics.h"
#include "mesh_apply.h"

struct agent {
	const struct shunt_pins *pins;
	const struct agent_opts *opts;
	struct config_source *src;
	const char *node;
	char host[256];
	char model_path[PATH_MAX];
	/* What /metrics and /healthz report. Written by the main loop under
	 * STATS_LOCK, which a collector on another thread (a push) takes. */
	pthread_mutex_t stats_lock;
	__u64 applies, failures, published;
	double last_apply_seconds, last_write_seconds;
	bool applied;
	char last_error[600];
	size_t workloads, local, services, rules, entries;
	__u64 version;
	struct mesh_shadow shadow;
	struct metrics_registry *metrics;
	struct datapath_metrics datapath; /* its collector's view */
	struct datapath_istio *istio;	  /* the labels of istio_tcp_* */
	struct metric_series *apply_full, *apply_incremental;
	struct push *push; /* the push exports (common/push.h); NULL: none */
};

/* The agent's registry and its collectors; 0 or -errno. */
int agent_metrics_init(struct agent *a);

/* Serves /metrics and /healthz for the agent CTX (common/http_server.h). */
int agent_http_handler(const char *path, char **body, size_t *len, void *ctx);

#endif
