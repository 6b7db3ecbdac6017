// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The destination's hop (l7_origin.inbound, proxy/l7/l7_inbound.c): a
 * client of another node arrives for one endpoint of this node. Its
 * requests go to that endpoint whatever the routes say, meet the
 * authorization policies of every L7 service of the endpoint, are not
 * retried here, and are reported as the destination's.
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

#define OK	    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
#define UNAVAILABLE "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\ndown"
#define GET(path)   "GET " path " HTTP/1.1\r\nHost: web\r\n\r\n"

/* web's route sends /b to service b (b1); a second L7 service, admin, has
 * a1 as its endpoint too, and a DENY policy of its own. */
#define ROUTES                                                                                     \
	MESH "  - {name: admin, namespace: shop, virtualIPs: [10.96.0.20], ports: [{port: 81, "    \
	     "targetPort: 8080, appProtocol: http}], selector: {app: a}}\n" ROUTE                  \
	     "      - matches: [{path: {type: PathPrefix, value: /b}}]\n"                          \
	     "        backendRefs: [{name: b, port: 80}]\n"                                        \
	     "        retry: {attempts: 2, codes: [503], backoff: 10ms}\n"                         \
	     "authorizationPolicies:\n"                                                            \
	     "  - name: admin-only\n"                                                              \
	     "    namespace: shop\n"                                                               \
	     "    targetRefs: [{kind: Service, name: admin}]\n"                                    \
	     "    action: DENY\n"                                                                  \
	     "    rules: [{to: [{operation: {paths: [\"/b/secret\"]}}]}]\n"

struct fix {
	struct l7_fake f;
	struct fake_peer client, inbound;
	struct fake_msg resp;
};

static int setup(void **state)
{
	struct fix *x = calloc(1, sizeof(*x));
	char err[512];

	assert_non_null(x);
	*state = x;
	x->client.fd = x->inbound.fd = -1;
	if (fake_init(&x->f, ROUTES, err, sizeof(err)))
		fail_msg("config: %s", err);
	assert_int_equal(fake_client(&x->f, &x->client, "shop/client", "shop/web", 80), 0);
	assert_int_equal(fake_inbound_client(&x->f, &x->inbound, "shop/client", "shop/a1", 8080),
			 0);
	return 0;
}

static int teardown(void **state)
{
	struct fix *x = *state;
	int holds;

	fake_peer_free(&x->client);
	fake_peer_free(&x->inbound);
	fake_msg_free(&x->resp);
	holds = fake_fini(&x->f);
	free(x);
	return holds ? -1 : 0;
}

static void every_request_goes_to_the_one_endpoint(void **state)
{
	struct fix *x = *state;
	int conn;

	/* On the client's hop, /b is routed to b1 ... */
	assert_int_equal(fake_exchange(&x->f, &x->client, GET("/b"), OK, &x->resp, &conn), 0);
	assert_string_equal(x->f.conns[conn]->dst, "b1");
	assert_false(x->f.conns[conn]->inbound);
	assert_false(x->f.last_inbound);
	/* ... at a1's destination hop, to a1, as asked for by that hop. */
	assert_int_equal(fake_exchange(&x->f, &x->inbound, GET("/b"), OK, &x->resp, &conn), 0);
	assert_int_equal(x->resp.status, 200);
	assert_string_equal(x->f.conns[conn]->dst, "a1");
	assert_int_equal(x->f.conns[conn]->port, 8080);
	assert_true(x->f.conns[conn]->inbound);
	assert_true(x->f.last_inbound);
	assert_string_equal(x->f.last_dst->name, "a1");
	assert_string_equal(x->f.last_service->name, "web");
}

static void a_deny_of_any_service_of_the_endpoint_refuses(void **state)
{
	struct fix *x = *state;
	int before;

	/* The client addressed web, whose policies admit /secret ... */
	assert_int_equal(fake_exchange(&x->f, &x->client, GET("/b/secret"), OK, &x->resp, NULL), 0);
	assert_int_equal(x->resp.status, 200);
	/* ... but a1 is admin's endpoint too: its destination hop refuses. */
	before = x->f.nconns;
	assert_int_equal(
	    fake_send(&x->f, x->inbound.fd, GET("/b/secret"), strlen(GET("/b/secret"))), 0);
	assert_int_equal(fake_read(&x->f, &x->inbound, &x->resp, 3000), 0);
	assert_int_equal(x->resp.status, 403);
	assert_string_equal(fake_header(&x->resp, "shunt-error"),
			    shunt_outcome(SHUNT_OUT_L7_AUTHZ_DENIED)->label);
	assert_int_equal(x->f.nconns, before); /* no endpoint was asked */
	assert_true(x->f.last_inbound);
	assert_non_null(x->f.last_dst); /* the refusal names its endpoint */
	assert_string_equal(x->f.last_dst->name, "a1");
	/* other paths go through */
	assert_int_equal(fake_exchange(&x->f, &x->inbound, GET("/open"), OK, &x->resp, NULL), 0);
	assert_int_equal(x->resp.status, 200);
}

static void the_destination_hop_retries_nothing(void **state)
{
	struct fix *x = *state;
	int conn;

	/* /b has 2 retries on 503 on the client's hop; none here. */
	assert_int_equal(fake_send(&x->f, x->inbound.fd, GET("/b"), strlen(GET("/b"))), 0);
	conn = fake_backend_read(&x->f, 2000);
	assert_true(conn >= 0);
	assert_int_equal(fake_backend_write(&x->f, conn, UNAVAILABLE), 0);
	assert_int_equal(fake_read(&x->f, &x->inbound, &x->resp, 2000), 0);
	assert_int_equal(x->resp.status, 503);
	assert_int_equal(x->f.last_attempts, 1);
	assert_int_equal(fake_backend_read(&x->f, 300), -ETIMEDOUT);
}

static void a_port_no_l7_service_serves_reaches_nothing(void **state)
{
	struct fix *x = *state;
	struct fake_peer p = {.fd = -1};

	/* a1:9090 is no L7 service's target port (the model changed under
	 * an open connection): answered by the hop, never relayed. */
	assert_int_equal(fake_inbound_client(&x->f, &p, "shop/client", "shop/a1", 9090), 0);
	assert_int_equal(fake_send(&x->f, p.fd, GET("/"), strlen(GET("/"))), 0);
	assert_int_equal(fake_read(&x->f, &p, &x->resp, 2000), 0);
	assert_int_equal(x->resp.status, 404);
	assert_int_equal(x->f.nconns, 0);
	fake_peer_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(every_request_goes_to_the_one_endpoint, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(a_deny_of_any_service_of_the_endpoint_refuses, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(the_destination_hop_retries_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(a_port_no_l7_service_serves_reaches_nothing, setup,
					    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
