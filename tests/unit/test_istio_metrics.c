// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Istio's standard metrics (proxy/proxy_istio.c): names, labels and
 * values as Prometheus text, the bound on label sets, Envoy's response
 * flags; and what the L7 engine reports of each request for them (body
 * bytes, the service, gRPC statuses), through its fake ops (l7_fake.h).
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

#include "common/metrics.h"
#include "l7_fake.h"
#include "l7_fake_mesh.h"
#include "model/mesh_config.h"
#include "proxy/proxy_istio.h"
#include "metrics_text.h"

/* Whether a sample line of an istio_tcp_* family has NEEDLE. */
static bool tcp_line_has(const char *text, const char *needle)
{
	const char *p = text, *nl, *hit;

	for (; p && *p; p = nl ? nl + 1 : NULL) {
		nl = strchr(p, '\n');
		hit = strstr(p, needle);
		if (!strncmp(p, "istio_tcp_", 10) && hit && (!nl || hit < nl))
			return true;
	}
	return false;
}

static const struct cfg_workload client = {
    .name = "client", .ns = "shop", .service_account = "buyer"};
static const struct cfg_workload server = {.name = "web-1", .ns = "shop", .service_account = "web"};
static const struct cfg_service web = {.name = "web", .ns = "shop"};

#define SOURCE_LABELS                                                                              \
	"reporter=\"source\",source_workload=\"client\",source_workload_namespace=\"shop\","       \
	"source_principal=\"spiffe://td.example/ns/shop/sa/"                                       \
	"buyer\",destination_workload=\"web-1\","                                                  \
	"destination_workload_namespace=\"shop\","                                                 \
	"destination_principal=\"spiffe://td.example/ns/shop/sa/web\","                            \
	"destination_service=\"web.shop.svc.cluster.local\",destination_service_name=\"web\","     \
	"destination_service_namespace=\"shop\""

static struct istio_http request(int status, double ms)
{
	return (struct istio_http){
	    .p = {.reporter = ISTIO_SOURCE,
		  .src = &client,
		  .dst = &server,
		  .service = &web,
		  .trust_domain = "td.example"},
	    .status = status,
	    .grpc_status = -1,
	    .outcome = SHUNT_OUT_ALLOWED,
	    .duration_ms = ms,
	    .request_bytes = 5,
	    .response_bytes = 1500,
	};
}

#define HTTP_200                                                                                   \
	SOURCE_LABELS                                                                              \
	",request_protocol=\"http\",response_code=\"200\",grpc_response_status=\"\","              \
	"response_flags=\"-\",connection_security_policy=\"unknown\""

static void http_request_is_counted_under_istio_names_and_labels(void **state)
{
	struct metrics_registry *r = metrics_registry_new(2);
	struct istio_metrics *m = istio_metrics_new(r, 10);
	struct istio_http h = request(200, 3.2);
	char *text;

	(void)state;
	assert_non_null(m);
	istio_request(m, &h);
	istio_request(m, &h);
	text = metrics_text_of(r);
	assert_non_null(strstr(text, "# TYPE istio_requests_total counter\n"));
	assert_non_null(strstr(text, "istio_requests_total{" HTTP_200 "} 2\n"));
	assert_non_null(strstr(text, "# TYPE istio_request_duration_milliseconds histogram\n"));
	/* 3.2 ms: above the 1 ms bucket, within the 5 ms one (Istio's bounds) */
	assert_non_null(
	    strstr(text, "istio_request_duration_milliseconds_bucket{" HTTP_200 ",le=\"1\"} 0\n"));
	assert_non_null(
	    strstr(text, "istio_request_duration_milliseconds_bucket{" HTTP_200 ",le=\"5\"} 2\n"));
	assert_non_null(strstr(text, "istio_request_duration_milliseconds_bucket{" HTTP_200
				     ",le=\"3.6e+06\"} 2\n"));
	assert_non_null(
	    strstr(text, "istio_request_duration_milliseconds_sum{" HTTP_200 "} 6.4\n"));
	/* bytes: 5 up (le=10), 1500 down (le=10000) */
	assert_non_null(strstr(text, "istio_request_bytes_bucket{" HTTP_200 ",le=\"1\"} 0\n"));
	assert_non_null(strstr(text, "istio_request_bytes_bucket{" HTTP_200 ",le=\"10\"} 2\n"));
	assert_non_null(strstr(text, "istio_response_bytes_bucket{" HTTP_200 ",le=\"1000\"} 0\n"));
	assert_non_null(strstr(text, "istio_response_bytes_bucket{" HTTP_200 ",le=\"10000\"} 2\n"));
	assert_non_null(strstr(text, "istio_response_bytes_sum{" HTTP_200 "} 3000\n"));
	assert_non_null(strstr(text, "istio_response_bytes_bucket{" HTTP_200 ",le=\"1e+09\"} 2\n"));
	free(text);
	istio_metrics_free(m);
	metrics_registry_free(r);
}

static void unknown_peers_are_unknown_and_grpc_status_is_a_label(void **state)
{
	struct metrics_registry *r = metrics_registry_new(2);
	struct istio_metrics *m = istio_metrics_new(r, 10);
	struct istio_http h = request(200, 1);
	char *text;

	(void)state;
	h.p.dst = NULL;
	h.p.service = NULL;
	h.grpc = true;
	h.grpc_status = 14;
	h.outcome = SHUNT_OUT_L7_NO_ENDPOINT;
	istio_request(m, &h);
	text = metrics_text_of(r);
	assert_non_null(strstr(text, "destination_workload=\"unknown\","
				     "destination_workload_namespace=\"unknown\","
				     "destination_principal=\"unknown\","
				     "destination_service=\"unknown\","
				     "destination_service_name=\"unknown\","
				     "destination_service_namespace=\"unknown\","
				     "request_protocol=\"grpc\",response_code=\"200\","
				     "grpc_response_status=\"14\",response_flags=\"UH\","));
	free(text);
	istio_metrics_free(m);
	metrics_registry_free(r);
}

/* MAX label sets, then one overflow set per reporter, and the drops counted. */
static void label_sets_past_the_bound_go_to_the_overflow_set(void **state)
{
	struct metrics_registry *r = metrics_registry_new(2);
	struct istio_metrics *m = istio_metrics_new(r, 3);
	struct istio_http h = request(200, 1);
	char *text;
	int code;

	(void)state;
	for (code = 200; code < 210; code++) {
		h.status = code;
		istio_request(m, &h);
	}
	h.status = 200; /* a set it has: not an overflow */
	istio_request(m, &h);
	text = metrics_text_of(r);
	assert_int_equal(metrics_text_lines(text, "istio_requests_total{"), 4);
	assert_int_equal(metrics_text_lines(text, "istio_request_duration_milliseconds_count{"), 4);
	assert_non_null(strstr(text, "istio_requests_total{reporter=\"source\","
				     "source_workload=\"overflow\","));
	assert_non_null(strstr(text, "response_code=\"overflow\","));
	assert_non_null(strstr(text, "shunt_istio_overflow_total{kind=\"http\"} 7\n"));
	assert_non_null(strstr(text, "shunt_istio_label_sets{kind=\"http\"} 3\n"));
	assert_non_null(strstr(text,
			       "response_code=\"200\",grpc_response_status=\"\","
			       "response_flags=\"-\",connection_security_policy=\"unknown\"} 2\n"));
	free(text);
	istio_metrics_free(m);
	metrics_registry_free(r);
}

static void tcp_connection_opened_closed_and_bytes_by_direction(void **state)
{
	struct metrics_registry *r = metrics_registry_new(2);
	struct istio_metrics *m = istio_metrics_new(r, 10);
	struct istio_peers p = {.reporter = ISTIO_DESTINATION,
				.src = &client,
				.dst = &server,
				.trust_domain = "td.example",
				.src_principal = "spiffe://td.example/ns/shop/sa/buyer",
				.mtls = true};
	char *text;

	(void)state;
	istio_tcp_opened(m, &p);
	istio_tcp_closed(m, &p, SHUNT_OUT_CLOSED, 7000, 300);
	text = metrics_text_of(r);
	assert_non_null(strstr(text, "istio_tcp_connections_opened_total{reporter=\"destination\","
				     "source_workload=\"client\","));
	assert_non_null(strstr(text, "destination_service=\"unknown\",destination_service_name="
				     "\"unknown\",destination_service_namespace=\"unknown\","
				     "request_protocol=\"tcp\",response_flags=\"-\","
				     "connection_security_policy=\"mutual_tls\"} 1\n"));
	assert_false(tcp_line_has(text, "response_code="));
	assert_false(tcp_line_has(text, "grpc_response_status="));
	assert_int_equal(metrics_text_lines(text, "istio_tcp_connections_closed_total{"), 1);
	assert_non_null(strstr(text, "connection_security_policy=\"mutual_tls\"} 7000\n"));
	assert_non_null(strstr(text, "connection_security_policy=\"mutual_tls\"} 300\n"));
	assert_non_null(strstr(text, "istio_tcp_sent_bytes_total{"));
	assert_non_null(strstr(text, "istio_tcp_received_bytes_total{"));
	free(text);
	istio_metrics_free(m);
	metrics_registry_free(r);
}

static void response_flags_are_envoys(void **state)
{
	(void)state;
	assert_string_equal(istio_response_flags(SHUNT_OUT_ALLOWED), "-");
	assert_string_equal(istio_response_flags(SHUNT_OUT_L7_UPSTREAM_STATUS), "-");
	assert_string_equal(istio_response_flags(SHUNT_OUT_L7_NO_ROUTE), "NR");
	assert_string_equal(istio_response_flags(SHUNT_OUT_L7_NO_ENDPOINT), "UH");
	assert_string_equal(istio_response_flags(SHUNT_OUT_L7_BACKEND_NOT_RESOLVED), "NC");
	assert_string_equal(istio_response_flags(SHUNT_OUT_L7_CONNECT_FAILED), "UF");
	assert_string_equal(istio_response_flags(SHUNT_OUT_L7_UPSTREAM_RESET), "UC");
	assert_string_equal(istio_response_flags(SHUNT_OUT_L7_TRY_TIMEOUT), "UT");
	assert_string_equal(istio_response_flags(SHUNT_OUT_L7_OVERFLOW_REQUESTS), "UO");
	assert_string_equal(istio_response_flags(SHUNT_OUT_L7_RATE_LIMITED), "RL");
	assert_string_equal(istio_response_flags(SHUNT_OUT_L7_FAULT_ABORT), "FI");
	assert_string_equal(istio_response_flags(SHUNT_OUT_RESET), "DC");
	assert_string_equal(istio_response_flags(SHUNT_OUT_L7_BAD_REQUEST), "DPE");
}

/* The L7 engine's side: what request_done says of a request. */
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

static void request_done_has_body_bytes_both_ways_and_the_backend_service(void **state)
{
	struct fake_fix *x =
	    start(state, MESH ROUTE "      - backendRefs: [{name: b, port: 80}]\n");

	assert_int_equal(
	    fake_exchange(&x->f, &x->client,
			  "POST /buy HTTP/1.1\r\nHost: web\r\nContent-Length: 5\r\n\r\n"
			  "12345",
			  "HTTP/1.1 201 Created\r\nContent-Length: 7\r\n\r\ncreated", &x->resp,
			  NULL),
	    0);
	fake_settle(&x->f);
	assert_int_equal(x->f.ndone, 1);
	assert_int_equal(x->f.last_status, 201);
	assert_int_equal(x->f.last_request_bytes, 5);
	assert_int_equal(x->f.last_response_bytes, 7);
	assert_non_null(x->f.last_service);
	assert_string_equal(x->f.last_service->name, "b"); /* the route's backend, not web */
	assert_non_null(x->f.last_src);
	assert_string_equal(x->f.last_src->name, "client");
	assert_non_null(x->f.last_dst);
	assert_string_equal(x->f.last_dst->name, "b1");
	assert_false(x->f.last_grpc);
	assert_int_equal(x->f.last_grpc_status, -1);
}

static void request_done_has_the_grpc_status_of_the_trailers(void **state)
{
	struct fake_fix *x = start(state, MESH);

	assert_int_equal(
	    fake_exchange(&x->f, &x->client,
			  "POST /shop.Cart/Add HTTP/1.1\r\nHost: web\r\ncontent-type: "
			  "application/grpc\r\nContent-Length: 0\r\n\r\n",
			  "HTTP/1.1 200 OK\r\ncontent-type: application/grpc\r\nTransfer-Encoding: "
			  "chunked\r\n\r\n3\r\nabc\r\n0\r\ngrpc-status: 5\r\n\r\n",
			  &x->resp, NULL),
	    0);
	fake_settle(&x->f);
	assert_int_equal(x->f.ndone, 1);
	assert_true(x->f.last_grpc);
	assert_int_equal(x->f.last_grpc_status, 5);
	assert_int_equal(x->f.last_response_bytes, 3);
	assert_string_equal(x->f.last_service->name, "web");
}

static void a_proxy_answer_reports_its_outcome_and_body(void **state)
{
	struct fake_fix *x = start(state, MESH ROUTE
				   "      - matches: [{path: {type: PathPrefix, value: /only}}]\n");

	assert_int_equal(fake_send(&x->f, x->client.fd, "GET /x HTTP/1.1\r\nHost: web\r\n\r\n",
				   strlen("GET /x HTTP/1.1\r\nHost: web\r\n\r\n")),
			 0);
	assert_int_equal(fake_read(&x->f, &x->client, &x->resp, 2000), 0);
	fake_settle(&x->f);
	assert_int_equal(x->f.ndone, 1);
	assert_int_equal(x->f.last_status, 404);
	assert_int_equal(x->f.last_outcome, SHUNT_OUT_L7_NO_ROUTE);
	assert_int_equal(x->f.last_response_bytes, x->resp.body_len);
	assert_null(x->f.last_dst);
	assert_string_equal(x->f.last_service->name, "web"); /* the one addressed */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(http_request_is_counted_under_istio_names_and_labels),
	    cmocka_unit_test(unknown_peers_are_unknown_and_grpc_status_is_a_label),
	    cmocka_unit_test(label_sets_past_the_bound_go_to_the_overflow_set),
	    cmocka_unit_test(tcp_connection_opened_closed_and_bytes_by_direction),
	    cmocka_unit_test(response_flags_are_envoys),
	    cmocka_unit_test_teardown(request_done_has_body_bytes_both_ways_and_the_backend_service,
				      teardown),
	    cmocka_unit_test_teardown(request_done_has_the_grpc_status_of_the_trailers, teardown),
	    cmocka_unit_test_teardown(a_proxy_answer_reports_its_outcome_and_body, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
