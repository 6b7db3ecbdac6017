// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The agent's istio_tcp_* of the kernel path (control/datapath_istio.c):
 * pairs of shunt_pairs, from a fake reader, rendered as Prometheus text:
 * both reporters, the directions of the bytes, the labels the config
 * gives, the same label names as the node proxy's, and pairs whose
 * workloads the config does not name left out.
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
#include "control/datapath_istio.h"
#include "model/mesh_config.h"
#include "proxy/proxy_istio.h"
#include "metrics_text.h"

static struct cfg_workload workloads[] = {
    {.name = "client", .ns = "shop", .service_account = "buyer"},
    {.name = "web-1", .ns = "shop"}, /* no service account: "default" */
};

/* What the fake map holds: client -> web-1, one pair whose client the
 * config does not name, and one whose name is gone ("#ID"). */
static const struct shunt_pair pair = {.opened = 5,
				       .closed = 4,
				       .conns_bypassed = 3,
				       .client_bytes_bypass = 1000,
				       .client_bytes_tcp = 7,
				       .server_bytes_bypass = 90000,
				       .server_bytes_tcp = 11};
static int fake_each_calls;

static int fake_each(const struct shunt_pins *pins, shunt_pair_fn fn, void *ctx)
{
	(void)pins;
	fake_each_calls++;
	fn("shop/client", "shop/web-1", &pair, ctx);
	fn("shop/stranger", "shop/web-1", &pair, ctx);
	fn("#300", "shop/web-1", &pair, ctx);
	return 0;
}

static void collect(struct metrics_writer *w, void *ctx)
{
	datapath_istio_collect(w, NULL, ctx);
}

#define PEERS                                                                                      \
	"source_workload=\"client\",source_workload_namespace=\"shop\","                           \
	"source_principal=\"spiffe://td.example/ns/shop/sa/buyer\","                               \
	"destination_workload=\"web-1\",destination_workload_namespace=\"shop\","                  \
	"destination_principal=\"spiffe://td.example/ns/shop/sa/default\","                        \
	"destination_service=\"unknown\",destination_service_name=\"unknown\","                    \
	"destination_service_namespace=\"unknown\",request_protocol=\"tcp\",response_flags=\"-\","
#define SRC "{reporter=\"source\"," PEERS "connection_security_policy=\"unknown\"} "
#define DST "{reporter=\"destination\"," PEERS "connection_security_policy=\"none\"} "

static void pairs_are_counted_under_both_reporters_with_bytes_by_direction(void **state)
{
	struct mesh_config cfg = {
	    .workloads = workloads, .nworkloads = 2, .trust_domain = "td.example"};
	struct metrics_registry *r = metrics_registry_new(1);
	struct datapath_istio *di = datapath_istio_new(fake_each);
	char *text;

	(void)state;
	assert_non_null(di);
	assert_int_equal(metrics_collector(r, collect, di), 0);
	/* Before the first config: no workload has a name, no series. */
	fake_each_calls = 0;
	text = metrics_text_of(r);
	assert_int_equal(metrics_text_lines(text, "istio_tcp_"), 0);
	assert_int_equal(fake_each_calls, 0);
	free(text);

	assert_int_equal(datapath_istio_learn(di, &cfg), 0);
	text = metrics_text_of(r);
	assert_non_null(strstr(text, "istio_tcp_connections_opened_total" SRC "5\n"));
	assert_non_null(strstr(text, "istio_tcp_connections_opened_total" DST "5\n"));
	assert_non_null(strstr(text, "istio_tcp_connections_closed_total" SRC "4\n"));
	assert_non_null(strstr(text, "istio_tcp_connections_closed_total" DST "4\n"));
	/* Sent: towards the client, the server's bytes (both paths). */
	assert_non_null(strstr(text, "istio_tcp_sent_bytes_total" SRC "90011\n"));
	assert_non_null(strstr(text, "istio_tcp_sent_bytes_total" DST "90011\n"));
	assert_non_null(strstr(text, "istio_tcp_received_bytes_total" SRC "1007\n"));
	assert_non_null(strstr(text, "istio_tcp_received_bytes_total" DST "1007\n"));
	/* The stranger and "#300" are left out: two series per family. */
	assert_int_equal(metrics_text_lines(text, "istio_tcp_"), 8);
	assert_int_equal(metrics_text_lines(text, "# TYPE istio_tcp_"), 4);
	assert_null(strstr(text, "stranger"));
	free(text);
	datapath_istio_free(di);
	metrics_registry_free(r);
}

/* The label names of the first istio_tcp_ sample line, "a,b,c". */
static void label_names(const char *text, char *out, size_t len)
{
	const char *p = strstr(text, "\nistio_tcp_connections_opened_total{"), *end;
	size_t n = 0;

	assert_non_null(p);
	p = strchr(p, '{') + 1;
	end = strchr(p, '}');
	while (p < end) {
		const char *eq = strchr(p, '=');

		assert_true(n + (size_t)(eq - p) + 2 < len);
		memcpy(out + n, p, (size_t)(eq - p));
		n += (size_t)(eq - p);
		out[n++] = ',';
		p = strchr(eq + 2, '"') + 1; /* past the value */
		if (*p == ',')
			p++;
	}
	out[n] = 0;
}

static void label_names_are_the_proxys(void **state)
{
	struct mesh_config cfg = {.workloads = workloads, .nworkloads = 2};
	struct metrics_registry *agent = metrics_registry_new(1), *proxy = metrics_registry_new(1);
	struct datapath_istio *di = datapath_istio_new(fake_each);
	struct istio_metrics *m = istio_metrics_new(proxy, 10);
	struct istio_peers p = {
	    .reporter = ISTIO_SOURCE, .src = &workloads[0], .dst = &workloads[1]};
	char *a, *b, la[512], lb[512];

	(void)state;
	assert_int_equal(metrics_collector(agent, collect, di), 0);
	assert_int_equal(datapath_istio_learn(di, &cfg), 0);
	istio_tcp_opened(m, &p);
	a = metrics_text_of(agent);
	b = metrics_text_of(proxy);
	label_names(a, la, sizeof(la));
	label_names(b, lb, sizeof(lb));
	assert_string_equal(la, lb);
	/* The default trust domain, as the proxy's. */
	assert_non_null(strstr(a, "source_principal=\"spiffe://cluster.local/ns/shop/sa/buyer\""));
	free(a);
	free(b);
	istio_metrics_free(m);
	datapath_istio_free(di);
	metrics_registry_free(proxy);
	metrics_registry_free(agent);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(pairs_are_counted_under_both_reporters_with_bytes_by_direction),
	    cmocka_unit_test(label_names_are_the_proxys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
