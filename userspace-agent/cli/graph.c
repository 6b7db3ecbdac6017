// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The service graph: merging what the nodes report (graph.h). */
#include "graph.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

void graph_init(struct graph *g, time_t now, unsigned int since_s)
{
	memset(g, 0, sizeof(*g));
	g->now = now;
	g->since_s = since_s;
}

void graph_free(struct graph *g)
{
	for (size_t i = 0; i < g->nedges; i++) {
		free(g->edges[i].src);
		free(g->edges[i].dst);
	}
	for (size_t i = 0; i < g->nnodes; i++)
		free(g->nodes[i]);
	for (size_t i = 0; i < g->ngroups; i++)
		free(g->groups[i]);
	free(g->edges);
	free(g->nodes);
	free(g->groups);
	keymap_free(&g->index);
	memset(g, 0, sizeof(*g));
}

const char *graph_path_name(enum graph_path path)
{
	static const char *const names[GRAPH_PATH_MAX] = {"bypass", "tcp", "tunnel", "l7"};

	return (unsigned int)path < GRAPH_PATH_MAX ? names[path] : "?";
}

/* The index key of an edge: SRC NUL DST NUL PATH REMOTE; its length, or 0. */
static size_t edge_key(const char *src, const char *dst, enum graph_path path, bool remote,
		       char **key)
{
	size_t ls = strlen(src), ld = strlen(dst), len = ls + ld + 4;

	*key = malloc(len);
	if (!*key)
		return 0;
	memcpy(*key, src, ls + 1);
	memcpy(*key + ls + 1, dst, ld + 1);
	(*key)[len - 2] = (char)('0' + path);
	(*key)[len - 1] = remote ? 'r' : 'l';
	return len;
}

static int index_edge(struct graph *g, size_t i)
{
	const struct graph_edge *e = &g->edges[i];
	char *key;
	size_t len = edge_key(e->src, e->dst, e->path, e->remote, &key);
	int err = len ? keymap_put(&g->index, key, len, i, NULL) : -ENOMEM;

	free(key);
	return err;
}

struct graph_edge *graph_edge(struct graph *g, const char *src, const char *dst,
			      enum graph_path path, bool remote)
{
	struct graph_edge *e;
	size_t at, len;
	char *key;
	bool found;

	len = edge_key(src, dst, path, remote, &key);
	if (!len)
		return NULL;
	found = keymap_get(&g->index, key, len, &at);
	free(key);
	if (found)
		return &g->edges[at];
	if (g->nedges == g->cap) {
		size_t cap = g->cap ? 2 * g->cap : 16;
		struct graph_edge *n = realloc(g->edges, cap * sizeof(*n));

		if (!n)
			return NULL;
		g->edges = n;
		g->cap = cap;
	}
	e = &g->edges[g->nedges];
	memset(e, 0, sizeof(*e));
	e->src = strdup(src);
	e->dst = strdup(dst);
	e->path = path;
	e->remote = remote;
	if (!e->src || !e->dst || index_edge(g, g->nedges)) {
		free(e->src);
		free(e->dst);
		return NULL;
	}
	g->nedges++;
	return e;
}

int graph_add_pair(struct graph *g, const char *client, const char *server, uint64_t conns,
		   uint64_t conns_bypassed, uint64_t bytes_bypass, uint64_t bytes_tcp)
{
	bool bypass = conns_bypassed || bytes_bypass;
	struct graph_edge *e;

	e = graph_edge(g, client, server, bypass ? GRAPH_BYPASS : GRAPH_TCP, false);
	if (!e)
		return -ENOMEM;
	e->connections += conns;
	e->connections_bypassed += conns_bypassed;
	e->bytes_bypass += bytes_bypass;
	e->bytes_tcp += bytes_tcp;
	return 0;
}

static uint64_t num(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v)
							       : 0;
}

/* The bucket bounds of a document: the first one's, and every other one's
 * must be the same (each proxy's buckets are summed bucket by bucket). */
static int take_bounds(struct graph *g, json_t *doc, char *err, size_t errlen)
{
	json_t *b = json_object_get(doc, "bucket_bounds_ms");
	double v[GRAPH_BUCKETS];

	if (!json_is_array(b) || json_array_size(b) != GRAPH_BUCKETS) {
		snprintf(err, errlen, "bucket_bounds_ms: not %d bounds", GRAPH_BUCKETS);
		return -EINVAL;
	}
	for (size_t i = 0; i < GRAPH_BUCKETS; i++)
		v[i] = json_number_value(json_array_get(b, i));
	if (g->have_bounds && memcmp(v, g->bounds_ms, sizeof(v))) {
		snprintf(err, errlen, "bucket_bounds_ms differ from another node's");
		return -EINVAL;
	}
	memcpy(g->bounds_ms, v, sizeof(v));
	g->have_bounds = true;
	return 0;
}

static void merge_times(struct graph_edge *e, json_t *o)
{
	time_t first = (time_t)num(o, "first_seen"), last = (time_t)num(o, "last_seen");

	if (first && (!e->first_seen || first < e->first_seen))
		e->first_seen = first;
	if (last > e->last_seen)
		e->last_seen = last;
}

static void merge_l7(struct graph_edge *e, json_t *o)
{
	static const char *const cls[6] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};
	json_t *resp = json_object_get(o, "responses");
	json_t *b = json_object_get(o, "duration_ms_buckets");

	e->requests += num(o, "requests");
	e->errors += num(o, "errors");
	for (int i = 0; i < 6; i++)
		e->responses[i] += num(resp, cls[i]);
	for (size_t i = 0; i <= GRAPH_BUCKETS && i < json_array_size(b); i++) {
		json_t *v = json_array_get(b, i);

		if (json_is_integer(v) && json_integer_value(v) > 0)
			e->buckets[i] += (uint64_t)json_integer_value(v);
	}
	e->sum_ms += json_number_value(json_object_get(o, "duration_ms_sum"));
}

/* One edge of a proxy's document into G. */
static int merge_edge(struct graph *g, json_t *o, bool windowed, char *err, size_t errlen)
{
	const char *src = json_string_value(json_object_get(o, "source"));
	const char *dst = json_string_value(json_object_get(o, "destination"));
	const char *path = json_string_value(json_object_get(o, "path"));
	bool l7 = path && !strcmp(path, "l7");
	struct graph_edge *e;

	if (!src || !dst || !path || (!l7 && strcmp(path, "tunnel"))) {
		snprintf(err, errlen, "an edge without source, destination or a known path");
		return -EINVAL;
	}
	e = graph_edge(g, src, dst, l7 ? GRAPH_L7 : GRAPH_TUNNEL,
		       l7 && json_is_true(json_object_get(o, "remote")));
	if (!e)
		return -ENOMEM;
	e->windowed = windowed;
	merge_times(e, o);
	if (l7) {
		merge_l7(e, o);
	} else {
		e->connections += num(o, "streams");
		e->failed += num(o, "failed");
		e->bytes_to_server += num(o, "bytes_to_server");
		e->bytes_to_client += num(o, "bytes_to_client");
	}
	return 0;
}

int graph_add_proxy_json(struct graph *g, const char *text, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *doc = json_loads(text, 0, &jerr), *edges;
	int rc = -EINVAL;

	if (!doc) {
		snprintf(err, errlen, "not JSON: %s (line %d)", jerr.text, jerr.line);
		return -EINVAL;
	}
	edges = json_object_get(doc, "edges");
	if (num(doc, "version") != 1 || !json_is_array(edges)) {
		snprintf(err, errlen, "not a /graph/edges document of version 1");
		goto out;
	}
	if ((rc = take_bounds(g, doc, err, errlen)))
		goto out;
	if (g->since_s && num(doc, "window_start") &&
	    (!g->window_start || (time_t)num(doc, "window_start") < g->window_start))
		g->window_start = (time_t)num(doc, "window_start");
	g->dropped += num(doc, "dropped");
	g->unattributed += num(doc, "unattributed");
	for (size_t i = 0; i < json_array_size(edges); i++)
		if ((rc = merge_edge(g, json_array_get(edges, i), g->since_s > 0, err, errlen)))
			goto out;
	rc = 0;
out:
	json_decref(doc);
	return rc;
}

static int edge_order(const void *a, const void *b)
{
	const struct graph_edge *x = a, *y = b;
	int c = strcmp(x->src, y->src);

	if (!c)
		c = strcmp(x->dst, y->dst);
	if (!c)
		c = (int)x->path - (int)y->path;
	return c ? c : (int)x->remote - (int)y->remote;
}

static int name_order(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int add_node(struct graph *g, const char *name)
{
	for (size_t i = 0; i < g->nnodes; i++)
		if (!strcmp(g->nodes[i], name))
			return 0;
	g->nodes[g->nnodes] = strdup(name);
	if (!g->nodes[g->nnodes])
		return -ENOMEM;
	g->nnodes++;
	return 0;
}

int graph_finish(struct graph *g)
{
	int err;

	qsort(g->edges, g->nedges, sizeof(*g->edges), edge_order);
	keymap_free(&g->index); /* the edges moved: index them again */
	memset(&g->index, 0, sizeof(g->index));
	for (size_t i = 0; i < g->nedges; i++)
		if ((err = index_edge(g, i)))
			return err;
	free(g->nodes);
	g->nnodes = 0;
	g->nodes = calloc(2 * g->nedges + 1, sizeof(*g->nodes));
	if (!g->nodes)
		return -ENOMEM;
	for (size_t i = 0; i < g->nedges; i++)
		if ((err = add_node(g, g->edges[i].src)) || (err = add_node(g, g->edges[i].dst)))
			return err;
	qsort(g->nodes, g->nnodes, sizeof(*g->nodes), name_order);
	return 0;
}

double graph_quantile(const struct graph *g, const struct graph_edge *e, double q)
{
	double rank = q * (double)e->requests, lower = 0, upper;
	uint64_t seen = 0;

	if (!e->requests || !g->have_bounds)
		return -1;
	for (int i = 0; i <= GRAPH_BUCKETS; i++) {
		if (i == GRAPH_BUCKETS) /* above every bound: the largest bound */
			return g->bounds_ms[GRAPH_BUCKETS - 1];
		upper = g->bounds_ms[i];
		if (e->buckets[i] && (double)(seen + e->buckets[i]) >= rank)
			return lower +
			       (upper - lower) * (rank - (double)seen) / (double)e->buckets[i];
		seen += e->buckets[i];
		lower = upper;
	}
	return -1;
}

double graph_request_rate(const struct graph *g, const struct graph_edge *e)
{
	double span;

	if (g->since_s && g->window_start)
		span = (double)(g->now - g->window_start);
	else if (g->since_s)
		span = g->since_s;
	else
		span = e->first_seen ? (double)(g->now - e->first_seen) : 0;
	return (double)e->requests / (span < 1 ? 1 : span);
}
