// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * `shunt graph --group service`: workloads replaced by the service they
 * serve, and the edges that then join the same two ends on the same path
 * added together (graph.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"

/* Adds what B carried to A (same ends and path). */
static void edge_add(struct graph_edge *a, const struct graph_edge *b)
{
	a->windowed |= b->windowed;
	a->requests += b->requests;
	a->errors += b->errors;
	for (int i = 0; i < 6; i++)
		a->responses[i] += b->responses[i];
	for (int i = 0; i <= GRAPH_BUCKETS; i++)
		a->buckets[i] += b->buckets[i];
	a->sum_ms += b->sum_ms;
	a->connections += b->connections;
	a->connections_bypassed += b->connections_bypassed;
	a->failed += b->failed;
	a->bytes_bypass += b->bytes_bypass;
	a->bytes_tcp += b->bytes_tcp;
	a->bytes_to_server += b->bytes_to_server;
	a->bytes_to_client += b->bytes_to_client;
	if (b->first_seen && (!a->first_seen || b->first_seen < a->first_seen))
		a->first_seen = b->first_seen;
	if (b->last_seen > a->last_seen)
		a->last_seen = b->last_seen;
}

static int note_group(struct graph *g, const char *name)
{
	char **grown;

	for (size_t i = 0; i < g->ngroups; i++)
		if (!strcmp(g->groups[i], name))
			return 0;
	grown = realloc(g->groups, (g->ngroups + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	g->groups = grown;
	if (!(g->groups[g->ngroups] = strdup(name)))
		return -ENOMEM;
	g->ngroups++;
	return 0;
}

/* The end NAME stands for after grouping: its group, or itself. */
static int regroup_end(struct graph *g, const char *name, graph_group_fn group_of, void *ctx,
		       const char **out)
{
	const char *group = group_of(name, ctx);

	*out = group ? group : name;
	return group ? note_group(g, group) : 0;
}

int graph_regroup(struct graph *g, graph_group_fn group_of, void *ctx)
{
	struct graph_edge *old = g->edges;
	size_t n = g->nedges;
	int err = 0;

	g->edges = NULL;
	g->nedges = g->cap = 0;
	keymap_free(&g->index);
	memset(&g->index, 0, sizeof(g->index));
	for (size_t i = 0; i < n && !err; i++) {
		struct graph_edge *e;
		const char *src, *dst;

		if ((err = regroup_end(g, old[i].src, group_of, ctx, &src)) ||
		    (err = regroup_end(g, old[i].dst, group_of, ctx, &dst)))
			break;
		e = graph_edge(g, src, dst, old[i].path, old[i].remote);
		if (!e)
			err = -ENOMEM;
		else
			edge_add(e, &old[i]);
	}
	for (size_t i = 0; i < n; i++) {
		free(old[i].src);
		free(old[i].dst);
	}
	free(old);
	return err;
}

bool graph_is_group(const struct graph *g, const char *name)
{
	for (size_t i = 0; i < g->ngroups; i++)
		if (!strcmp(g->groups[i], name))
			return true;
	return false;
}
