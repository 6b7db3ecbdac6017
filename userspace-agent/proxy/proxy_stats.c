// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "proxy_stats.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/metrics.h"

#include "hbone/hbone.h"
#include "proxy_edges.h"
#include "proxy_impl.h"
#include "proxy_istio.h"
#include "proxy_trace.h"

struct proxy_stats proxy_stats;

#define C METRIC_COUNTER
#define G METRIC_GAUGE

/* shunt_proxy_NAME{side="outbound"|"inbound"}. */
static void by_side(struct metrics_writer *w, const char *name, enum metric_type type,
		    const char *help, const atomic_ullong v[2])
{
	static const char *const side[] = {"side", NULL};

	metrics_emit(w, type, name, help, side, (const char *[]){"outbound"},
		     (double)atomic_load(&v[0]));
	metrics_emit(w, type, name, help, side, (const char *[]){"inbound"},
		     (double)atomic_load(&v[1]));
}

static void one(struct metrics_writer *w, enum metric_type type, const char *name, const char *help,
		unsigned long long v)
{
	metrics_emit(w, type, name, help, NULL, NULL, (double)v);
}

/* NAME{reason=METRIC}: the sum of the outcomes with FLAG and that metric label. */
static void by_reason(struct metrics_writer *w, const char *name, const char *help,
		      enum shunt_outcome_flags flag)
{
	static const char *const reason[] = {"reason", NULL};
	const char *labels[SHUNT_OUT_MAX];
	size_t n = shunt_outcome_metrics(flag, labels, SHUNT_OUT_MAX), i;
	int o;

	for (i = 0; i < n; i++) {
		unsigned long long sum = 0;

		for (o = 0; o < SHUNT_OUT_MAX; o++) {
			const struct shunt_outcome_info *info = shunt_outcome(o);

			if ((info->flags & flag) && info->metric &&
			    !strcmp(info->metric, labels[i]))
				sum += atomic_load(&proxy_stats.outcomes[o]);
		}
		metrics_emit(w, C, name, help, reason, (const char *[]){labels[i]}, (double)sum);
	}
}

static void outcomes(struct metrics_writer *w)
{
	static const char *const outcome[] = {"outcome", NULL};
	int o;

	for (o = 1; o < SHUNT_OUT_MAX; o++)
		metrics_emit(w, C, "shunt_proxy_outcomes_total",
			     "Streams and tunnels that ended, by outcome.", outcome,
			     (const char *[]){shunt_outcome_label(o)},
			     (double)atomic_load(&proxy_stats.outcomes[o]));
}

static void collect(struct metrics_writer *w, void *ctx)
{
	static const char *const direction[] = {"direction", NULL};
	struct hbone_stats *h = &hbone_stats;

	(void)ctx;
	by_side(w, "shunt_proxy_connections_total", C,
		"Proxied connections (HTTP/2 streams), by side.", h->streams);
	by_side(w, "shunt_proxy_connections_active", G, NULL, h->streams_active);
	by_side(w, "shunt_proxy_tunnels_total", C, "TLS connections between node proxies.",
		h->tunnels);
	by_side(w, "shunt_proxy_tunnels_active", G, NULL, h->tunnels_active);
	one(w, C, "shunt_proxy_streams_pooled_total",
	    "Outbound connections that shared a tunnel another connection opened (no "
	    "handshake of their own).",
	    atomic_load(&proxy_stats.streams_pooled));
	by_side(w, "shunt_proxy_resets_total", C, NULL, h->resets);
	metrics_emit(w, C, "shunt_proxy_bytes_total", NULL, direction,
		     (const char *[]){"to_server"},
		     (double)atomic_load(&proxy_stats.bytes_to_server));
	metrics_emit(w, C, "shunt_proxy_bytes_total", NULL, direction,
		     (const char *[]){"to_client"},
		     (double)atomic_load(&proxy_stats.bytes_to_client));
	by_side(w, "shunt_proxy_handshakes_total", C, NULL, h->handshakes);
	one(w, C, "shunt_proxy_sessions_resumed_total",
	    "Outbound handshakes that resumed a TLS session.", atomic_load(&h->resumed));
	by_reason(w, "shunt_proxy_handshake_failures_total", "Failed TLS handshakes, by reason.",
		  SHUNT_OF_HANDSHAKE);
	by_reason(w, "shunt_proxy_refused_total", "Refused connections and tunnels, by reason.",
		  SHUNT_OF_REFUSAL);
	outcomes(w);
	one(w, C, "shunt_proxy_certificates_issued_total", "Certificates issued (and renewed).",
	    atomic_load(&proxy_stats.certificates_issued));
	one(w, C, "shunt_proxy_ca_reloads_total", "Times a changed CA was taken into use.",
	    atomic_load(&proxy_stats.ca_reloads));
	one(w, G, "shunt_proxy_model_version", "The config version of the agent's model in use.",
	    atomic_load(&proxy_stats.model_version));
	one(w, G, "shunt_proxy_listener_migration",
	    "1: connections queued on this proxy's listeners go to the proxy that replaces it "
	    "when it drains (sk_reuseport/migrate); 0: they are reset.",
	    px.migrate_prog >= 0);
	one(w, C, "shunt_proxy_graph_dropped_total",
	    "Requests and streams left out of /graph/edges: its table was full.",
	    proxy_edges_dropped());
	proxy_l7_metrics(w);
	proxy_access_log_metrics(w);
	proxy_trace_metrics(w);
}

static struct metrics_registry *registry;
static struct istio_metrics *istio;
static pthread_once_t registry_once = PTHREAD_ONCE_INIT;

static void registry_init(void)
{
	registry = metrics_registry_new(0);
	if (registry && metrics_collector(registry, collect, NULL)) {
		metrics_registry_free(registry);
		registry = NULL;
	}
	if (registry)
		istio = istio_metrics_new(registry, ISTIO_MAX_SETS);
}

struct istio_metrics *proxy_istio(void)
{
	pthread_once(&registry_once, registry_init);
	return istio;
}

struct metrics_registry *proxy_metrics(void)
{
	pthread_once(&registry_once, registry_init);
	return registry;
}

int proxy_metrics_handler(const char *path, char **body, size_t *len, void *ctx)
{
	FILE *out = open_memstream(body, len);
	unsigned int since = 0;
	int status = 200, end = 0;

	(void)ctx;
	if (!out)
		return 503;
	if (!strcmp(path, "/healthz")) {
		fprintf(out, "ok\n");
	} else if (!strcmp(path, "/graph/edges")) {
		proxy_edges_json(out, px.node, 0, time(NULL));
	} else if (sscanf(path, "/graph/edges/since/%u%n", &since, &end) == 1 && !path[end] &&
		   since > 0) {
		proxy_edges_json(out, px.node, since, time(NULL));
	} else if (!strcmp(path, "/metrics") && proxy_metrics()) {
		metrics_render(proxy_metrics(), out);
	} else {
		fprintf(out, "not found; try /metrics, /healthz or /graph/edges\n");
		status = 404;
	}
	fclose(out);
	return status;
}
