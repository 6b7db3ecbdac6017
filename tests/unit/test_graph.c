// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The service graph (`shunt graph`): what the proxies record per edge and
 * serve as /graph/edges, merged with the datapath's pairs into one graph,
 * and written as JSON, DOT and text.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "cli/graph.h"
#include "proxy/proxy_edges.h"

#define NOW 1764777000 /* a multiple of PROXY_EDGE_SLOT_S */

static char *proxy_doc(unsigned int since_s, time_t now)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	assert_non_null(out);
	proxy_edges_json(out, "n1", since_s, now);
	fclose(out);
	return text;
}

static void merge_proxy(struct graph *g, unsigned int since_s, time_t now)
{
	char err[256] = "", *doc = proxy_doc(since_s, now);
	int rc = graph_add_proxy_json(g, doc, err, sizeof(err));

	if (rc)
		fail_msg("graph_add_proxy_json: %s\n%s", err, doc);
	free(doc);
}

static const struct graph_edge *find(const struct graph *g, const char *src, const char *dst,
				     enum graph_path path)
{
	for (size_t i = 0; i < g->nedges; i++)
		if (!strcmp(g->edges[i].src, src) && !strcmp(g->edges[i].dst, dst) &&
		    g->edges[i].path == path)
			return &g->edges[i];
	fail_msg("no %s edge %s -> %s", graph_path_name(path), src, dst);
	return NULL;
}

static int reset(void **state)
{
	(void)state;
	proxy_edges_reset();
	return 0;
}

static void requests_and_streams_become_edges_of_their_path(void **state)
{
	struct graph g;
	const struct graph_edge *e;

	(void)state;
	for (int i = 0; i < 40; i++)
		proxy_edge_request("default/client", "default/v1", false, i < 10 ? 503 : 200, 3000,
				   NOW);
	proxy_edge_request("default/client", "default/v2", true, 200, 20000, NOW);
	proxy_edge_request("default/client", NULL, false, 404, 100, NOW);
	proxy_edge_stream("default/client", "default/db", false, 1000, 2000, NOW);
	proxy_edge_stream("default/client", "default/db", true, 10, 0, NOW);
	graph_init(&g, NOW + 10, 0);
	merge_proxy(&g, 0, NOW + 10);
	assert_int_equal(graph_add_pair(&g, "default/client", "default/cache", 3, 3, 300, 0), 0);
	assert_int_equal(graph_add_pair(&g, "default/client", "default/slow", 2, 0, 0, 50), 0);
	assert_int_equal(graph_finish(&g), 0);
	assert_int_equal(g.nedges, 5);
	assert_int_equal(g.unattributed, 1);
	e = find(&g, "default/client", "default/v1", GRAPH_L7);
	assert_int_equal(e->requests, 40);
	assert_int_equal(e->errors, 10);
	assert_int_equal(e->responses[5], 10);
	assert_false(e->remote);
	/* 40 requests over the 10 s since the edge's first one */
	assert_true(graph_request_rate(&g, e) > 3.99 && graph_request_rate(&g, e) < 4.01);
	assert_true(find(&g, "default/client", "default/v2", GRAPH_L7)->remote);
	e = find(&g, "default/client", "default/db", GRAPH_TUNNEL);
	assert_int_equal(e->connections, 2);
	assert_int_equal(e->failed, 1);
	assert_int_equal(e->bytes_to_server, 1010);
	assert_int_equal(find(&g, "default/client", "default/cache", GRAPH_BYPASS)->connections, 3);
	assert_int_equal(find(&g, "default/client", "default/slow", GRAPH_TCP)->bytes_tcp, 50);
	assert_int_equal(g.nnodes, 6);
	assert_string_equal(g.nodes[0], "default/cache");
	graph_free(&g);
}

static void nodes_merge_bucket_by_bucket(void **state)
{
	struct graph g;
	const struct graph_edge *e;

	(void)state;
	proxy_edge_request("a/x", "a/y", false, 200, 1500, NOW); /* (1, 2] ms */
	graph_init(&g, NOW, 0);
	merge_proxy(&g, 0, NOW);
	merge_proxy(&g, 0, NOW); /* the same again, as if from a second proxy */
	assert_int_equal(graph_finish(&g), 0);
	assert_int_equal(g.nedges, 1);
	e = &g.edges[0];
	assert_int_equal(e->requests, 2);
	assert_int_equal(e->buckets[2], 2);
	graph_free(&g);
}

static void p99_is_interpolated_inside_its_bucket(void **state)
{
	struct graph g;
	struct graph_edge *e;

	(void)state;
	proxy_edge_request("a/x", "a/y", false, 200, 100, NOW); /* teach the bounds */
	graph_init(&g, NOW, 0);
	merge_proxy(&g, 0, NOW);
	e = graph_edge(&g, "a/x", "a/z", GRAPH_L7, false);
	assert_non_null(e);
	/* 100 requests: 90 in (5, 10] ms, 10 in (10, 25] ms. */
	e->requests = 100;
	e->buckets[4] = 90;
	e->buckets[5] = 10;
	/* rank 99 is the 9th of 10 in (10, 25]: 10 + 15 * 9 / 10 */
	assert_true(graph_quantile(&g, e, 0.99) > 23.49 && graph_quantile(&g, e, 0.99) < 23.51);
	/* rank 50 is the 50th of 90 in (5, 10] */
	assert_true(graph_quantile(&g, e, 0.5) > 7.77 && graph_quantile(&g, e, 0.5) < 7.79);
	e->buckets[4] = 0;
	e->buckets[5] = 0;
	e->buckets[GRAPH_BUCKETS] = 100; /* all above the last bound: that bound */
	assert_true(graph_quantile(&g, e, 0.99) == 30000);
	e->requests = 0;
	assert_true(graph_quantile(&g, e, 0.99) < 0);
	graph_free(&g);
}

static void since_counts_only_the_recent_slots(void **state)
{
	struct graph g;
	const struct graph_edge *e;

	(void)state;
	proxy_edge_request("a/x", "a/y", false, 200, 100, NOW - 300); /* 5 minutes ago */
	proxy_edge_request("a/x", "a/y", false, 500, 100, NOW - 5);
	proxy_edge_request("a/x", "a/y", false, 200, 100, NOW + 1);
	proxy_edge_request("a/x", "a/old", false, 200, 100, NOW - 300);
	graph_init(&g, NOW + 2, 30);
	merge_proxy(&g, 30, NOW + 2);
	assert_int_equal(graph_finish(&g), 0);
	assert_int_equal(g.nedges, 1); /* a/old had nothing in the window */
	e = find(&g, "a/x", "a/y", GRAPH_L7);
	assert_int_equal(e->requests, 2);
	assert_int_equal(e->errors, 1);
	assert_true(e->windowed);
	/* 30 s round up to two 20-s slots, the current one and the one
	 * before: the window began at NOW - 20; 2 requests over 22 s */
	assert_int_equal(g.window_start, NOW - PROXY_EDGE_SLOT_S);
	assert_true(graph_request_rate(&g, e) > 0.0908 && graph_request_rate(&g, e) < 0.0910);
	graph_free(&g);
	/* A slot reused a full ring later starts empty. */
	proxy_edge_request("a/x", "a/y", false, 200, 100, NOW + PROXY_EDGE_WINDOW_S);
	graph_init(&g, NOW + PROXY_EDGE_WINDOW_S, 20);
	merge_proxy(&g, 20, NOW + PROXY_EDGE_WINDOW_S);
	assert_int_equal(find(&g, "a/x", "a/y", GRAPH_L7)->requests, 1);
	graph_free(&g);
}

static void edges_over_the_cap_are_counted_not_kept(void **state)
{
	char name[32];
	struct graph g;

	(void)state;
	for (int i = 0; i < PROXY_EDGES_MAX + 3; i++) {
		snprintf(name, sizeof(name), "ns/w%d", i);
		proxy_edge_request("ns/client", name, false, 200, 100, NOW);
	}
	proxy_edge_request("ns/client", "ns/w0", false, 200, 100, NOW); /* known: kept */
	assert_int_equal(proxy_edges_dropped(), 3);
	graph_init(&g, NOW, 0);
	merge_proxy(&g, 0, NOW);
	assert_int_equal(g.nedges, PROXY_EDGES_MAX);
	assert_int_equal(g.dropped, 3);
	assert_int_equal(find(&g, "ns/client", "ns/w0", GRAPH_L7)->requests, 2);
	graph_free(&g);
}

static void documents_it_cannot_read_are_refused(void **state)
{
	static const char *const bad[] = {
	    "not json",
	    "{\"version\":2,\"edges\":[]}",
	    "{\"version\":1,\"bucket_bounds_ms\":[1,2],\"edges\":[]}",
	    "{\"version\":1,\"bucket_bounds_ms\":[0.5,1,2,5,10,25,50,100,250,500,1000,2500,5000,"
	    "10000,30000],\"edges\":[{\"source\":\"a/x\",\"destination\":\"a/y\",\"path\":\"x\"}]}",
	    "{\"version\":1,\"bucket_bounds_ms\":[0.7,1,2,5,10,25,50,100,250,500,1000,2500,5000,"
	    "10000,30000],\"edges\":[]}",
	};
	char err[256];
	struct graph g;

	(void)state;
	graph_init(&g, NOW, 0);
	merge_proxy(&g, 0, NOW); /* the real bounds */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(graph_add_proxy_json(&g, bad[i], err, sizeof(err)), -EINVAL);
		assert_true(err[0] != '\0');
	}
	graph_free(&g);
}

static void dot_strings_are_escaped(void **state)
{
	char buf[64];

	(void)state;
	graph_dot_escape("plain/name-1", buf, sizeof(buf));
	assert_string_equal(buf, "plain/name-1");
	graph_dot_escape("a\"b\\c", buf, sizeof(buf));
	assert_string_equal(buf, "a\\\"b\\\\c");
	graph_dot_escape("two\nlines\tand\x01", buf, sizeof(buf));
	assert_string_equal(buf, "two\\nlines and ");
	/* Cut short, never in the middle of an escape, always terminated. */
	graph_dot_escape("\"\"\"\"\"\"", buf, 6);
	assert_string_equal(buf, "\\\"\\\"");
	graph_dot_escape("x", buf, 1);
	assert_string_equal(buf, "");
}

static char *render(const struct graph *g, void (*write)(const struct graph *, FILE *))
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	assert_non_null(out);
	write(g, out);
	fclose(out);
	return text;
}

static void one_graph_of_each_path(struct graph *g)
{
	proxy_edge_request("ns/cli\"ent", "ns/v1", false, 200, 2000, NOW);
	proxy_edge_request("ns/cli\"ent", "ns/v2", true, 503, 2000, NOW);
	proxy_edge_stream("ns/cli\"ent", "other/db", false, 10, 20, NOW);
	graph_init(g, NOW + 1, 0);
	merge_proxy(g, 0, NOW + 1);
	assert_int_equal(graph_add_pair(g, "ns/cli\"ent", "ns/cache", 1, 1, 100, 0), 0);
	assert_int_equal(graph_finish(g), 0);
}

static void dot_styles_each_path_and_escapes_names(void **state)
{
	struct graph g;
	char *dot;

	(void)state;
	one_graph_of_each_path(&g);
	dot = render(&g, graph_write_dot);
	assert_non_null(strstr(dot, "digraph shunt {"));
	assert_non_null(strstr(dot, "subgraph \"cluster_other\""));
	assert_non_null(strstr(dot, "\"ns/cli\\\"ent\" [label=\"cli\\\"ent\""));
	/* bypass: green bold; tunnel: blue dashed; L7: orange, dashed when remote */
	assert_non_null(strstr(dot, "\"ns/cli\\\"ent\" -> \"ns/cache\" [label=\"kernel bypass\\n1 "
				    "conns, 100 B\", color=\"#2e7d32\""));
	assert_non_null(strstr(dot, "\"ns/cli\\\"ent\" -> \"other/db\" [label=\"mTLS tunnel (TCP)"
				    "\\n1 conns, 30 B\", color=\"#1565c0\", fontcolor=\"#1565c0\", "
				    "style=dashed"));
	assert_non_null(strstr(dot, "\"ns/cli\\\"ent\" -> \"ns/v1\" [label=\"L7 proxy (HTTP)\\n1 "
				    "req, 1.00/s\\n0.0% errors, p99 2.0 ms\""));
	assert_non_null(strstr(dot, "L7 proxy (HTTP) + mTLS\\n1 req, 1.00/s\\n100.0% errors"));
	assert_int_equal(dot[strlen(dot) - 2], '}');
	free(dot);
	graph_free(&g);
}

static void json_has_the_documented_fields(void **state)
{
	struct graph g;
	json_t *doc, *e;
	char *text;

	(void)state;
	one_graph_of_each_path(&g);
	text = render(&g, graph_write_json);
	doc = json_loads(text, 0, NULL);
	assert_non_null(doc);
	assert_int_equal(json_integer_value(json_object_get(doc, "version")), 1);
	assert_int_equal(json_array_size(json_object_get(doc, "nodes")), 5);
	assert_int_equal(json_array_size(json_object_get(doc, "edges")), 4);
	e = json_array_get(json_object_get(doc, "edges"), 2); /* sorted by destination */
	assert_string_equal(json_string_value(json_object_get(e, "destination")), "ns/v2");
	assert_string_equal(json_string_value(json_object_get(e, "path")), "l7");
	assert_true(json_is_true(json_object_get(e, "remote")));
	assert_int_equal(json_integer_value(json_object_get(e, "errors")), 1);
	assert_true(json_number_value(json_object_get(e, "error_rate")) == 1.0);
	assert_non_null(json_object_get(e, "p99_ms"));
	e = json_array_get(json_object_get(doc, "edges"), 0);
	assert_string_equal(json_string_value(json_object_get(e, "path")), "bypass");
	assert_int_equal(json_integer_value(json_object_get(e, "connections_bypassed")), 1);
	assert_string_equal(json_string_value(json_object_get(e, "counts")), "total");
	json_decref(doc);
	free(text);
	graph_free(&g);
}

static const char *pods_of_web(const char *name, void *ctx)
{
	(void)ctx;
	return strncmp(name, "a/web-", 6) ? NULL : "a/web";
}

static void grouping_adds_the_edges_that_meet(void **state)
{
	struct graph g;
	const struct graph_edge *e;

	(void)state;
	proxy_edge_request("a/client", "a/web-1", false, 200, 1500, NOW);
	proxy_edge_request("a/client", "a/web-2", false, 503, 1500, NOW - 5);
	proxy_edge_request("a/client", "a/web-2", true, 200, 1500, NOW);
	graph_init(&g, NOW, 0);
	merge_proxy(&g, 0, NOW);
	assert_int_equal(graph_add_pair(&g, "a/client", "a/web-1", 2, 2, 10, 0), 0);
	assert_int_equal(graph_add_pair(&g, "a/client", "a/web-2", 1, 1, 5, 0), 0);
	assert_int_equal(graph_regroup(&g, pods_of_web, NULL), 0);
	assert_int_equal(graph_finish(&g), 0);
	/* l7 (here), l7 (remote) and bypass: three edges client -> web */
	assert_int_equal(g.nedges, 3);
	assert_int_equal(g.nnodes, 2);
	assert_true(graph_is_group(&g, "a/web"));
	assert_false(graph_is_group(&g, "a/client"));
	e = find(&g, "a/client", "a/web", GRAPH_L7);
	assert_false(e->remote);
	assert_int_equal(e->requests, 2);
	assert_int_equal(e->errors, 1);
	assert_int_equal(e->buckets[2], 2);
	assert_int_equal(e->first_seen, NOW - 5);
	e = find(&g, "a/client", "a/web", GRAPH_BYPASS);
	assert_int_equal(e->connections, 3);
	assert_int_equal(e->bytes_bypass, 15);
	graph_free(&g);
}

/* 20,000 pairs (a big mesh's same-node edges), each seen on two nodes:
 * merged by key, not by a scan of every edge. */
static void many_edges_merge_by_key(void **state)
{
	char src[32], dst[32];
	struct graph g;

	(void)state;
	graph_init(&g, NOW, 0);
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < 20000; i++) {
			snprintf(src, sizeof(src), "ns/c%d", i % 200);
			snprintf(dst, sizeof(dst), "ns/s%d", i / 200);
			assert_int_equal(graph_add_pair(&g, src, dst, 1, 1, 10, 0), 0);
		}
	assert_int_equal(graph_finish(&g), 0);
	assert_int_equal(g.nedges, 20000);
	assert_int_equal(g.nnodes, 300);
	assert_int_equal(find(&g, "ns/c7", "ns/s99", GRAPH_BYPASS)->connections, 2);
	/* and found again after sorting */
	assert_ptr_equal(graph_edge(&g, "ns/c7", "ns/s99", GRAPH_BYPASS, false),
			 find(&g, "ns/c7", "ns/s99", GRAPH_BYPASS));
	graph_free(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(requests_and_streams_become_edges_of_their_path, reset),
	    cmocka_unit_test_setup(nodes_merge_bucket_by_bucket, reset),
	    cmocka_unit_test_setup(p99_is_interpolated_inside_its_bucket, reset),
	    cmocka_unit_test_setup(since_counts_only_the_recent_slots, reset),
	    cmocka_unit_test_setup(edges_over_the_cap_are_counted_not_kept, reset),
	    cmocka_unit_test_setup(documents_it_cannot_read_are_refused, reset),
	    cmocka_unit_test_setup(dot_strings_are_escaped, reset),
	    cmocka_unit_test_setup(dot_styles_each_path_and_escapes_names, reset),
	    cmocka_unit_test_setup(json_has_the_documented_fields, reset),
	    cmocka_unit_test_setup(grouping_adds_the_edges_that_meet, reset),
	    cmocka_unit_test_setup(many_edges_merge_by_key, reset),
	};

	return cmocka_run_group_tests_name("graph", tests, reset, reset);
}
