/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Reading one node into the service graph (graph_fetch.c). */
#ifndef SHUNT_GRAPH_FETCH_H
#define SHUNT_GRAPH_FETCH_H

#include "graph.h"

/* One --node: where its datapath and its proxy are. */
struct graph_node_spec {
	const char *name;
	const char *pin_dir; /* NULL: not read */
	const char *proxy;   /* "ADDR:PORT" of the proxy's metrics; NULL: not read */
	const char *netns;   /* the proxy's network namespace; NULL: ours */
};

/* Reads node N into G: an error (logged, naming the node and what to do)
 * when a part it names cannot be read. 0 or -errno. */
int graph_fetch_node(struct graph *g, const struct graph_node_spec *n);

#endif
