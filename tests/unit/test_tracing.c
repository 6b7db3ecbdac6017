// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Tracing around the trace context (test_l7_trace.c has the headers): the
 * L7 engine putting a span context on a request and reporting its CLIENT
 * span, and its SERVER span for an endpoint of this node, the fake's every
 * endpoint (through the fake ops, l7_fake.h). The exporter and the config:
 * test_trace_export.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "l7_fake.h"
#include "l7_fake_mesh.h"

#define TRACE64 "463ac35c9f6413ad"
#define SPAN	"a2fb4a1d1a96d312"
#define TRACING "tracing: {sampling: 1, zipkin: {url: \"http://127.0.0.1:9/api/v2/spans\"}}\n"

/* The shared fixture (l7_fake.h); *STATE owns it for teardown. */
static struct fake_fix *start(void **state, const char *yaml)
{
	char err[512];
	struct fake_fix *x = fake_fix_new(yaml, err, sizeof(err));

	if (!x)
		fail_msg("fixture: %s", err);
	*state = x;
	return x;
}

static int teardown(void **state)
{
	int holds = fake_fix_free(*state);

	*state = NULL;
	return holds ? -1 : 0;
}

/* REQUEST answered 200 by its endpoint; the request the endpoint got. */
static const struct fake_msg *exchange(struct fake_fix *x, const char *request)
{
	int conn = -1;

	assert_int_equal(fake_exchange(&x->f, &x->client, request,
				       "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", &x->resp,
				       &conn),
			 0);
	fake_settle(&x->f);
	assert_int_equal(x->f.ndone, 1);
	return &x->f.conns[conn]->req;
}

static const char *tag(const struct l7_span *s, const char *key)
{
	unsigned int i;

	for (i = 0; i < s->ntags; i++)
		if (!strcmp(s->tags[i].key, key))
			return s->text + s->tags[i].value - 1;
	return NULL;
}

static void request_carries_its_span_to_the_endpoint_and_reports_it(void **state)
{
	struct fake_fix *x = start(state, MESH TRACING);
	const struct fake_msg *got =
	    exchange(x, "GET /a?q=1 HTTP/1.1\r\nHost: web\r\nx-b3-traceid: " TRACE64
			"\r\nx-b3-spanid: " SPAN "\r\nx-b3-sampled: 1\r\n\r\n");
	const struct l7_span *s = &x->f.last_span, *server = &x->f.last_server_span;
	char id[17];

	/* the endpoint's is the SERVER span, the CLIENT span its parent */
	assert_int_equal(x->f.nspans, 1);
	assert_int_equal(x->f.nserver_spans, 1);
	snprintf(id, sizeof(id), "%016llx", (unsigned long long)server->id);
	assert_string_equal(fake_header(got, "x-b3-traceid"), TRACE64);
	assert_string_equal(fake_header(got, "x-b3-spanid"), id);
	snprintf(id, sizeof(id), "%016llx", (unsigned long long)s->id);
	assert_string_equal(fake_header(got, "x-b3-parentspanid"), id);
	assert_int_equal(server->parent, s->id);
	assert_int_equal(server->trace_lo, s->trace_lo);
	assert_int_equal(server->kind, L7_SPAN_SERVER);
	assert_true(server->id != s->id);
	assert_int_equal(server->timestamp_us, s->timestamp_us);
	assert_int_equal(server->duration_us, s->duration_us);
	assert_string_equal(server->text + server->name - 1, "web.shop.svc.cluster.local:80/*");
	/* Zipkin's local endpoint is the one that records: the server */
	assert_string_equal(server->text + server->local.service - 1, "a.shop");
	assert_int_equal(server->local.port, 8080);
	assert_int_equal(server->local.addr[15], 11);
	assert_true(server->has_remote);
	assert_string_equal(server->text + server->remote.service - 1, "client.shop");
	assert_string_equal(tag(server, "upstream_cluster"),
			    "inbound|80||web.shop.svc.cluster.local");
	assert_string_equal(tag(server, "http.status_code"), "200");
	assert_string_equal(fake_header(got, "x-b3-sampled"), "1");
	assert_int_equal(fake_header_count(got, "x-b3-spanid"), 1);
	assert_null(fake_header(got, "traceparent")); /* it came as B3 */
	assert_int_equal(s->parent, 0xa2fb4a1d1a96d312ull);
	assert_int_equal(s->trace_lo, 0x463ac35c9f6413adull);
	assert_int_equal(s->kind, L7_SPAN_CLIENT);
	assert_string_equal(x->f.last_trace_id, TRACE64);
	assert_string_equal(s->text + s->name - 1, "web.shop.svc.cluster.local:80/*");
	assert_string_equal(s->text + s->local.service - 1, "client.shop");
	assert_true(s->has_remote);
	assert_string_equal(s->text + s->remote.service - 1, "a.shop");
	assert_int_equal(s->remote.port, 8080);
	assert_int_equal(s->remote.addr[15], 11); /* a1: 10.1.0.11 */
	assert_string_equal(tag(s, "http.method"), "GET");
	assert_string_equal(tag(s, "http.path"), "/a");
	assert_string_equal(tag(s, "http.url"), "http://web/a?q=1");
	assert_string_equal(tag(s, "http.status_code"), "200");
	assert_string_equal(tag(s, "upstream_cluster"), "outbound|80||web.shop.svc.cluster.local");
	assert_string_equal(tag(s, "component"), "proxy");
	assert_null(tag(s, "error"));
}

static void a_request_with_sampling_off_makes_no_span(void **state)
{
	struct fake_fix *x = start(state, MESH TRACING);
	const struct fake_msg *got =
	    exchange(x, "GET / HTTP/1.1\r\nHost: web\r\nb3: " TRACE64 "-" SPAN "-0\r\n\r\n");

	assert_int_equal(x->f.nspans, 0);
	assert_int_equal(x->f.nserver_spans, 0);
	assert_string_equal(x->f.last_trace_id, TRACE64);
	assert_non_null(fake_header(got, "b3"));
	assert_non_null(strstr(fake_header(got, "b3"), "-0-" SPAN));
}

/* A new trace leaves in B3 headers (Envoy's Zipkin tracer's default), and
 * in the formats tracing.newTraceHeaders names. */
static void without_context_a_new_sampled_trace_goes_out_in_the_configured_formats(void **state)
{
	struct fake_fix *x = start(state, MESH TRACING);
	const struct fake_msg *got = exchange(x, "GET / HTTP/1.1\r\nHost: web\r\n\r\n");

	assert_int_equal(x->f.nspans, 1);
	assert_int_equal(strlen(x->f.last_trace_id), 32);
	assert_string_equal(fake_header(got, "x-b3-traceid"), x->f.last_trace_id);
	assert_string_equal(fake_header(got, "x-b3-sampled"), "1");
	assert_null(fake_header(got, "traceparent"));
	assert_null(fake_header(got, "b3"));
	assert_int_equal(x->f.last_span.parent, 0); /* the CLIENT span is the root */
	assert_int_equal(x->f.last_server_span.parent, x->f.last_span.id);
	assert_int_equal(teardown(state), 0);

	x = start(state, MESH "tracing: {sampling: 1, newTraceHeaders: [w3c, b3single], zipkin: "
			      "{url: \"http://127.0.0.1:9/api/v2/spans\"}}\n");
	got = exchange(x, "GET / HTTP/1.1\r\nHost: web\r\n\r\n");
	assert_int_equal(x->f.nspans, 1);
	assert_null(fake_header(got, "x-b3-traceid"));
	assert_non_null(strstr(fake_header(got, "traceparent"), x->f.last_trace_id));
	assert_non_null(strstr(fake_header(got, "b3"), x->f.last_trace_id));
}

static void tracing_off_leaves_the_headers_alone(void **state)
{
	struct fake_fix *x = start(state, MESH);
	const struct fake_msg *got =
	    exchange(x, "GET / HTTP/1.1\r\nHost: web\r\nx-b3-traceid: " TRACE64
			"\r\nx-b3-spanid: " SPAN "\r\n\r\n");

	assert_int_equal(x->f.nspans, 0);
	assert_string_equal(fake_header(got, "x-b3-spanid"), SPAN);
	assert_null(fake_header(got, "x-b3-sampled"));
	assert_null(fake_header(got, "traceparent"));
	assert_string_equal(x->f.last_trace_id, TRACE64); /* for the access log */
}

static void a_proxy_answer_has_a_span_without_remote_endpoint(void **state)
{
	struct fake_fix *x = start(state, MESH TRACING ROUTE
				   "      - matches: [{path: {type: PathPrefix, value: /only}}]\n");
	static const char req[] = "GET /x HTTP/1.1\r\nHost: web\r\n\r\n";

	assert_int_equal(fake_send(&x->f, x->client.fd, req, strlen(req)), 0);
	assert_int_equal(fake_read(&x->f, &x->client, &x->resp, 2000), 0);
	fake_settle(&x->f);
	assert_int_equal(x->f.nspans, 1);
	assert_false(x->f.last_span.has_remote);
	assert_string_equal(tag(&x->f.last_span, "http.status_code"), "404");
	assert_string_equal(tag(&x->f.last_span, "shunt.outcome"), "no_route");
}

static void a_grpc_call_has_its_status_in_the_span(void **state)
{
	struct fake_fix *x = start(state, MESH TRACING);

	assert_int_equal(
	    fake_exchange(&x->f, &x->client,
			  "POST /shop.Cart/Add HTTP/1.1\r\nHost: web\r\ncontent-type: "
			  "application/grpc\r\ntraceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-"
			  "00f067aa0ba902b7-01\r\nContent-Length: 0\r\n\r\n",
			  "HTTP/1.1 200 OK\r\ncontent-type: application/grpc\r\nTransfer-Encoding: "
			  "chunked\r\n\r\n3\r\nabc\r\n0\r\ngrpc-status: 5\r\n\r\n",
			  &x->resp, NULL),
	    0);
	fake_settle(&x->f);
	assert_int_equal(x->f.nspans, 1);
	assert_string_equal(tag(&x->f.last_span, "grpc.status_code"), "5");
	assert_string_equal(tag(&x->f.last_span, "http.path"), "/shop.Cart/Add");
	assert_int_equal(x->f.last_span.parent, 0x00f067aa0ba902b7ull);
	assert_string_equal(x->f.last_trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
}

/* MESH with tracing at MESH_SHARE and the client workload's own OWN share
 * of new traces; whether its new trace went out sampled. */
static bool client_trace_sampled(void **state, const char *mesh_share, const char *own)
{
	static const char at[] = "[10.1.0.1]}";
	const char *cut = strstr(MESH, at);
	const struct fake_msg *got;
	struct fake_fix *x;
	char yaml[4096];

	assert_non_null(cut);
	snprintf(yaml, sizeof(yaml),
		 "%.*s[10.1.0.1], tracing: {sampling: %s}}%s"
		 "tracing: {sampling: %s, zipkin: {url: \"http://127.0.0.1:9/api/v2/spans\"}}\n",
		 (int)(cut - MESH), MESH, own, cut + strlen(at), mesh_share);
	x = start(state, yaml);
	got = exchange(x, "GET / HTTP/1.1\r\nHost: web\r\n\r\n");
	assert_int_equal(x->f.nspans, strcmp(fake_header(got, "x-b3-sampled"), "1") ? 0 : 1);
	return !strcmp(fake_header(got, "x-b3-sampled"), "1");
}

static void a_workload_samples_at_its_own_share_over_the_mesh_zero(void **state)
{
	assert_true(client_trace_sampled(state, "0", "1"));
}

static void a_workload_samples_at_its_own_share_under_the_mesh_one(void **state)
{
	assert_false(client_trace_sampled(state, "1", "0"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(request_carries_its_span_to_the_endpoint_and_reports_it,
				      teardown),
	    cmocka_unit_test_teardown(a_request_with_sampling_off_makes_no_span, teardown),
	    cmocka_unit_test_teardown(
		without_context_a_new_sampled_trace_goes_out_in_the_configured_formats, teardown),
	    cmocka_unit_test_teardown(tracing_off_leaves_the_headers_alone, teardown),
	    cmocka_unit_test_teardown(a_proxy_answer_has_a_span_without_remote_endpoint, teardown),
	    cmocka_unit_test_teardown(a_grpc_call_has_its_status_in_the_span, teardown),
	    cmocka_unit_test_teardown(a_workload_samples_at_its_own_share_over_the_mesh_zero,
				      teardown),
	    cmocka_unit_test_teardown(a_workload_samples_at_its_own_share_under_the_mesh_one,
				      teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
