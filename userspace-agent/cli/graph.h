/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The service graph of `shunt graph` (docs/telemetry.md, "Service graph"):
 * workloads and the calls between them, merged from every node's proxy
 * (/graph/edges: L7 requests, tunnel streams) and datapath (shunt_pairs:
 * same-node connections). Pure: no sockets, no maps; cmd_graph.c feeds it.
 */
#ifndef SHUNT_GRAPH_H
#define SHUNT_GRAPH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "common/keymap.h"

#define GRAPH_BUCKETS 15 /* latency buckets with a bound; one more above */

enum graph_path {
	GRAPH_BYPASS, /* same node, in the sockhash, its sends took the bypass */
	GRAPH_TCP,    /* same node, in the sockhash, every send on TCP */
	GRAPH_TUNNEL, /* across nodes, a TCP stream through the mTLS tunnel */
	GRAPH_L7,     /* HTTP requests routed by the L7 proxy */
	GRAPH_PATH_MAX
};

struct graph_edge {
	char *src, *dst; /* workload names, "namespace/name" */
	enum graph_path path;
	bool remote;   /* L7: the endpoint was on another node (via the tunnel) */
	bool windowed; /* counts cover the --since window (else totals) */
	/* L7 */
	uint64_t requests, errors, responses[6]; /* [0]: no response, [1..5]: 1xx..5xx */
	uint64_t buckets[GRAPH_BUCKETS + 1];
	double sum_ms;
	/* L4: bypass, tcp, tunnel */
	uint64_t connections, connections_bypassed, failed;
	uint64_t bytes_bypass, bytes_tcp, bytes_to_server, bytes_to_client;
	time_t first_seen, last_seen; /* 0: not known (datapath pairs) */
};

#define GRAPH_MAX_SOURCES 64 /* nodes one graph reads */

/* A node read: its name, and what of it was read. */
struct graph_source {
	char node[64];
	bool datapath, proxy;
};

struct graph {
	struct graph_source sources[GRAPH_MAX_SOURCES];
	size_t nsources;
	struct graph_edge *edges;
	size_t nedges, cap;
	struct keymap index; /* (source, destination, path, remote) -> edge */
	char **nodes;	     /* sorted, after graph_finish() */
	size_t nnodes;
	char **groups; /* the nodes that stand for a group (a service) */
	size_t ngroups;
	double bounds_ms[GRAPH_BUCKETS];
	bool have_bounds;
	time_t now;
	unsigned int since_s;  /* 0: totals */
	time_t window_start;   /* the proxies' window (whole slots), when since_s */
	uint64_t dropped;      /* the proxies' edges dropped over their cap */
	uint64_t unattributed; /* requests or streams with no source or destination */
};

void graph_init(struct graph *g, time_t now, unsigned int since_s);
void graph_free(struct graph *g);

/* The edge (SRC, DST, PATH, REMOTE), added zeroed if new; NULL: no memory. */
struct graph_edge *graph_edge(struct graph *g, const char *src, const char *dst,
			      enum graph_path path, bool remote);

/* Merges one proxy's /graph/edges document (TEXT). 0, or -EINVAL with why
 * in ERR (not a document of this version, buckets that do not match). */
int graph_add_proxy_json(struct graph *g, const char *text, char *err, size_t errlen);

/* Merges one same-node pair of a datapath (shunt_pairs, counted in total). */
int graph_add_pair(struct graph *g, const char *client, const char *server, uint64_t conns,
		   uint64_t conns_bypassed, uint64_t bytes_bypass, uint64_t bytes_tcp);

/* The group of workload NAME ("namespace/name"), or NULL: it stays itself. */
typedef const char *(*graph_group_fn)(const char *name, void *ctx);
/* Replaces each end of every edge by its group and adds together the edges
 * that then have the same ends and path. Before graph_finish(). */
int graph_regroup(struct graph *g, graph_group_fn group_of, void *ctx);
/* Whether node NAME stands for a group. */
bool graph_is_group(const struct graph *g, const char *name);

/* Sorts the edges (source, destination, path) and lists the workloads. */
int graph_finish(struct graph *g);

/* The Q quantile (0..1) of an L7 edge's latency in ms, interpolated inside
 * its bucket (as Prometheus' histogram_quantile); -1 without requests. */
double graph_quantile(const struct graph *g, const struct graph_edge *e, double q);
/* Requests per second over the edge's window: the --since window, or from
 * its first request to now (at least 1 s). */
double graph_request_rate(const struct graph *g, const struct graph_edge *e);

const char *graph_path_name(enum graph_path path);

/* Output: JSON (docs/telemetry.md has the schema), Graphviz DOT, text. */
void graph_write_json(const struct graph *g, FILE *out);
void graph_write_dot(const struct graph *g, FILE *out);
void graph_write_text(const struct graph *g, FILE *out);
/* S as the inside of a DOT double-quoted string: `"` and `\` escaped,
 * newlines as \n, other control characters as spaces. Into BUF (LEN). */
void graph_dot_escape(const char *s, char *buf, size_t len);

#endif
