// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The service graph for people: Graphviz DOT and a text summary (graph.h). */
#include <inttypes.h>
#include <string.h>

#include "graph.h"

/* DOT styles by path: the color and line of each (the README's graph). */
static const struct {
	const char *color, *style, *label;
} path_style[GRAPH_PATH_MAX] = {
    [GRAPH_BYPASS] = {"#2e7d32", "bold", "kernel bypass"},
    [GRAPH_TCP] = {"#757575", "solid", "same node, TCP"},
    [GRAPH_TUNNEL] = {"#1565c0", "dashed", "mTLS tunnel (TCP)"},
    [GRAPH_L7] = {"#e65100", "solid", "L7 proxy (HTTP)"},
};

void graph_dot_escape(const char *s, char *buf, size_t len)
{
	size_t o = 0;

	if (!len)
		return;
	for (; *s && o + 3 < len; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c == '\n') {
			buf[o++] = '\\';
			buf[o++] = 'n';
		} else {
			buf[o++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
		}
	}
	buf[o] = '\0';
}

static void human_bytes(uint64_t n, char *buf, size_t len)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)n;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u)
		snprintf(buf, len, "%.1f %s", v, units[u]);
	else
		snprintf(buf, len, "%" PRIu64 " B", n);
}

/* What an edge carried, in words: its path, HEAD, then its numbers, lines
 * apart by SEP. */
static void edge_summary(const struct graph *g, const struct graph_edge *e, const char *head,
			 const char *sep, char *buf, size_t len)
{
	char bytes[32];

	if (e->path == GRAPH_L7) {
		double err = e->requests ? 100.0 * (double)e->errors / (double)e->requests : 0;

		snprintf(buf, len, "%s%s%s%" PRIu64 " req, %.2f/s%s%.1f%% errors, p99 %.1f ms",
			 path_style[e->path].label, e->remote ? " + mTLS" : "", head, e->requests,
			 graph_request_rate(g, e), sep, err,
			 e->requests ? graph_quantile(g, e, 0.99) : 0.0);
		return;
	}
	human_bytes(e->bytes_bypass + e->bytes_tcp + e->bytes_to_server + e->bytes_to_client, bytes,
		    sizeof(bytes));
	snprintf(buf, len, "%s%s%" PRIu64 " conns, %s%s", path_style[e->path].label, head,
		 e->connections, bytes, e->failed ? ", some failed" : "");
}

static void dot_node(const struct graph *g, const char *name, FILE *out)
{
	const char *slash = strchr(name, '/');
	char id[1024], label[1024];

	graph_dot_escape(name, id, sizeof(id));
	graph_dot_escape(slash ? slash + 1 : name, label, sizeof(label));
	fprintf(out, "    \"%s\" [label=\"%s\", tooltip=\"%s\"%s];\n", id, label, id,
		graph_is_group(g, name) ? ", shape=ellipse, fillcolor=\"#fff3e0\"" : "");
}

/* The workloads, one cluster per namespace (nodes are sorted by name). */
static void dot_nodes(const struct graph *g, FILE *out)
{
	char ns[1024], esc[1024];
	size_t i = 0, n;

	while (i < g->nnodes) {
		const char *slash = strchr(g->nodes[i], '/');

		n = slash ? (size_t)(slash - g->nodes[i]) : 0;
		snprintf(ns, sizeof(ns), "%.*s", (int)n, g->nodes[i]);
		graph_dot_escape(ns, esc, sizeof(esc));
		fprintf(out, "  subgraph \"cluster_%s\" {\n    label=\"namespace %s\";\n", esc,
			esc);
		for (; i < g->nnodes; i++) {
			slash = strchr(g->nodes[i], '/');
			if ((slash ? (size_t)(slash - g->nodes[i]) : 0) != n ||
			    strncmp(g->nodes[i], ns, n))
				break;
			dot_node(g, g->nodes[i], out);
		}
		fprintf(out, "  }\n");
	}
}

void graph_write_dot(const struct graph *g, FILE *out)
{
	char src[1024], dst[1024], text[512], label[1024];

	fprintf(out,
		"digraph shunt {\n"
		"  graph [rankdir=LR, fontname=\"Helvetica\", fontsize=11, labelloc=t,\n"
		"         label=\"shunt service graph (%s)\\ngreen bold: kernel bypass, "
		"blue dashed: mTLS tunnel,\\norange: L7 proxy (dashed: also through the "
		"tunnel), grey: same node on TCP\"];\n"
		"  node [shape=box, style=\"rounded,filled\", fillcolor=\"#f5f5f5\", "
		"fontname=\"Helvetica\"];\n"
		"  edge [fontname=\"Helvetica\", fontsize=9];\n",
		g->since_s ? "recent window" : "totals");
	dot_nodes(g, out);
	for (size_t i = 0; i < g->nedges; i++) {
		const struct graph_edge *e = &g->edges[i];

		graph_dot_escape(e->src, src, sizeof(src));
		graph_dot_escape(e->dst, dst, sizeof(dst));
		edge_summary(g, e, "\n", "\n", text, sizeof(text));
		graph_dot_escape(text, label, sizeof(label));
		fprintf(out,
			"  \"%s\" -> \"%s\" [label=\"%s\", color=\"%s\", fontcolor=\"%s\", "
			"style=%s, penwidth=%s];\n",
			src, dst, label, path_style[e->path].color, path_style[e->path].color,
			e->remote ? "dashed" : path_style[e->path].style,
			e->path == GRAPH_BYPASS ? "2.5" : "1.5");
	}
	fprintf(out, "}\n");
}

void graph_write_text(const struct graph *g, FILE *out)
{
	char text[512];

	fprintf(out, "%zu workloads, %zu edges (%s)\n", g->nnodes, g->nedges,
		g->since_s ? "counts of the recent window; bypass and TCP edges: totals"
			   : "totals");
	for (size_t i = 0; i < g->nedges; i++) {
		edge_summary(g, &g->edges[i], ": ", ", ", text, sizeof(text));
		fprintf(out, "  %s -> %s  %s\n", g->edges[i].src, g->edges[i].dst, text);
	}
	if (g->unattributed)
		fprintf(out,
			"  (and %" PRIu64 " requests or streams of no known source or "
			"destination: answered by a proxy before it chose an endpoint)\n",
			g->unattributed);
	if (g->dropped)
		fprintf(out, "  (%" PRIu64 " left out: a proxy's table of edges was full)\n",
			g->dropped);
}
