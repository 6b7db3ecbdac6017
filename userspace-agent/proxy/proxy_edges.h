/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The calls this proxy carried, by source and destination workload, for
 * `shunt graph` (docs/telemetry.md, "Service graph"): HTTP requests of the
 * L7 side (count, 5xx, a latency histogram) and the tunnel's TCP streams
 * (count, bytes). Served as JSON on the metrics port's /graph/edges
 * (totals since the proxy started) and /graph/edges/since/SECONDS (the last
 * SECONDS, in PROXY_EDGE_SLOT_S slots, at most PROXY_EDGE_WINDOW_S).
 */
#ifndef SHUNT_PROXY_EDGES_H
#define SHUNT_PROXY_EDGES_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* At most this many edges; what comes for a new one beyond it is counted
 * in "dropped" (and shunt_proxy_graph_dropped_total). */
#define PROXY_EDGES_MAX 512

/* Recent counts per edge: a ring of slots of this many seconds. */
#define PROXY_EDGE_SLOT_S   20
#define PROXY_EDGE_SLOTS    30
#define PROXY_EDGE_WINDOW_S (PROXY_EDGE_SLOT_S * PROXY_EDGE_SLOTS)

/* Upper bounds (ms) of the latency buckets; one more bucket above the last. */
#define PROXY_EDGE_BUCKETS 15
extern const double proxy_edge_bounds_ms[PROXY_EDGE_BUCKETS];

/* One HTTP request from SRC to workload DST ("ns/name"; NULL: the proxy
 * answered before choosing an endpoint). STATUS 0: no response. REMOTE:
 * the endpoint is on another node (the request crossed the tunnel). */
void proxy_edge_request(const char *src, const char *dst, bool remote, int status,
			uint64_t duration_us, time_t now);
/* One TCP stream through the tunnel, ended: FAILED if it did not close
 * cleanly; bytes each way. */
void proxy_edge_stream(const char *src, const char *dst, bool failed, uint64_t up, uint64_t down,
		       time_t now);

/* The JSON document of /graph/edges (docs/telemetry.md): totals
 * (SINCE_S 0) or the slots that cover the last SINCE_S seconds (at most
 * PROXY_EDGE_WINDOW_S); NOW: time(NULL), or a test's clock. */
void proxy_edges_json(FILE *out, const char *node, unsigned int since_s, time_t now);
/* Edges dropped over PROXY_EDGES_MAX. */
uint64_t proxy_edges_dropped(void);
/* Forgets every edge (tests). */
void proxy_edges_reset(void);

#endif
