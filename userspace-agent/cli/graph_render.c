// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The service graph as JSON, Graphviz DOT and text (graph.h). */
#include <inttypes.h>
#include <string.h>

#include "common/json.h"
#include "graph.h"

static double error_rate(const struct graph_edge *e)
{
	return e->requests ? (double)e->errors / (double)e->requests : 0;
}

static uint64_t edge_bytes(const struct graph_edge *e)
{
	return e->bytes_bypass + e->bytes_tcp + e->bytes_to_server + e->bytes_to_client;
}

static void json_l7(const struct graph *g, const struct graph_edge *e, struct shunt_json *j)
{
	static const char *const cls[6] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};

	json_kv_u64(j, "requests", e->requests);
	json_kv_u64(j, "errors", e->errors);
	json_key(j, "error_rate");
	json_double(j, error_rate(e));
	json_key(j, "request_rate");
	json_double(j, graph_request_rate(g, e));
	if (e->requests) {
		json_key(j, "p50_ms");
		json_double(j, graph_quantile(g, e, 0.5));
		json_key(j, "p99_ms");
		json_double(j, graph_quantile(g, e, 0.99));
		json_key(j, "mean_ms");
		json_double(j, e->sum_ms / (double)e->requests);
	}
	json_key(j, "responses");
	json_object_begin(j);
	for (int i = 0; i < 6; i++)
		json_kv_u64(j, cls[i], e->responses[i]);
	json_object_end(j);
}

static void json_l4(const struct graph_edge *e, struct shunt_json *j)
{
	json_kv_u64(j, "connections", e->connections);
	json_kv_u64(j, "bytes", edge_bytes(e));
	if (e->path == GRAPH_TUNNEL) {
		json_kv_u64(j, "failed", e->failed);
		json_kv_u64(j, "bytes_to_server", e->bytes_to_server);
		json_kv_u64(j, "bytes_to_client", e->bytes_to_client);
		return;
	}
	json_kv_u64(j, "connections_bypassed", e->connections_bypassed);
	json_kv_u64(j, "bytes_bypass", e->bytes_bypass);
	json_kv_u64(j, "bytes_tcp", e->bytes_tcp);
}

static void json_edge(const struct graph *g, const struct graph_edge *e, struct shunt_json *j)
{
	json_object_begin(j);
	json_kv_string(j, "source", e->src);
	json_kv_string(j, "destination", e->dst);
	json_kv_string(j, "path", graph_path_name(e->path));
	json_kv_bool(j, "remote", e->remote || e->path == GRAPH_TUNNEL);
	json_kv_string(j, "counts", e->windowed ? "window" : "total");
	if (e->path == GRAPH_L7)
		json_l7(g, e, j);
	else
		json_l4(e, j);
	json_kv_u64(j, "first_seen", (uint64_t)e->first_seen);
	json_kv_u64(j, "last_seen", (uint64_t)e->last_seen);
	json_object_end(j);
}

static void json_node(const struct graph *g, const char *name, struct shunt_json *j)
{
	const char *slash = strchr(name, '/');
	char ns[256] = "";

	if (slash)
		snprintf(ns, sizeof(ns), "%.*s", (int)(slash - name), name);
	json_object_begin(j);
	json_kv_string(j, "id", name);
	json_kv_string(j, "namespace", ns);
	json_kv_string(j, "name", slash ? slash + 1 : name);
	json_kv_string(j, "kind", graph_is_group(g, name) ? "service" : "workload");
	json_object_end(j);
}

void graph_write_json(const struct graph *g, FILE *out)
{
	struct shunt_json j;

	json_init(&j, out);
	json_object_begin(&j);
	json_kv_u64(&j, "version", 1);
	json_kv_u64(&j, "generated_at", (uint64_t)g->now);
	json_kv_u64(&j, "since_seconds", g->since_s);
	json_kv_u64(&j, "window_start", (uint64_t)g->window_start);
	json_key(&j, "sources");
	json_array_begin(&j);
	for (size_t i = 0; i < g->nsources; i++) {
		json_object_begin(&j);
		json_kv_string(&j, "node", g->sources[i].node);
		json_kv_bool(&j, "datapath", g->sources[i].datapath);
		json_kv_bool(&j, "proxy", g->sources[i].proxy);
		json_object_end(&j);
	}
	json_array_end(&j);
	json_key(&j, "nodes");
	json_array_begin(&j);
	for (size_t i = 0; i < g->nnodes; i++)
		json_node(g, g->nodes[i], &j);
	json_array_end(&j);
	json_key(&j, "edges");
	json_array_begin(&j);
	for (size_t i = 0; i < g->nedges; i++)
		json_edge(g, &g->edges[i], &j);
	json_array_end(&j);
	json_kv_u64(&j, "dropped", g->dropped);
	json_kv_u64(&j, "unattributed", g->unattributed);
	json_object_end(&j);
	fputc('\n', out);
}
