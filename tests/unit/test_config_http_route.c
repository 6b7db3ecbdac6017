// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * httpRoutes in the mesh config (sources/cfg_http_route.c): every field
 * parsed, every class of mistake refused at its FILE:LINE:COL, and which
 * service ports the L7 proxy serves (model/http_route.c). Run from the
 * repository root.
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

#include "model/mesh_config.h"
#include "sources/yaml_source.h"

#define ROUTES "tests/configs/valid/http-routes.yaml"

static void assert_origin(const struct cfg_origin *o, unsigned int line, unsigned int col)
{
	assert_int_equal(o->kind, CFG_ORIGIN_FILE);
	assert_int_equal(o->line, line);
	assert_int_equal(o->col, col);
}

static void assert_header(const struct cfg_http_header *h, const char *name, const char *value)
{
	assert_string_equal(h->name, name);
	assert_string_equal(h->value, value);
}

static void first_rule_is_read_field_by_field(const struct cfg_http_rule *r)
{
	const struct cfg_http_match *m = &r->matches[0];

	assert_origin(&r->origin, 23, 9);
	assert_int_equal(r->nmatches, 2);
	assert_int_equal(m->path_type, CFG_PATH_PREFIX);
	assert_string_equal(m->path, "/api");
	assert_string_equal(m->method, "GET");
	assert_int_equal(m->nheaders, 1);
	assert_int_equal(m->headers[0].type, CFG_VALUE_EXACT);
	assert_string_equal(m->headers[0].name, "x-canary"); /* lowercased */
	assert_string_equal(m->headers[0].value, "yes");
	assert_int_equal(m->nquery, 1);
	assert_int_equal(m->query[0].type, CFG_VALUE_REGEX);
	assert_string_equal(m->query[0].name, "v");
	assert_string_equal(m->query[0].value, "^2");
	m = &r->matches[1];
	assert_int_equal(m->path_type, CFG_PATH_EXACT);
	assert_string_equal(m->path, "/login");
	assert_null(m->method);
	assert_int_equal(m->nheaders + m->nquery, 0);
	assert_int_equal(r->request_headers.nset, 1);
	assert_header(&r->request_headers.set[0], "x-a", "b");
	assert_int_equal(r->request_headers.nadd, 1);
	assert_header(&r->request_headers.add[0], "x-c", "d");
	assert_int_equal(r->request_headers.nremove, 1);
	assert_string_equal(r->request_headers.remove[0], "x-debug");
	assert_int_equal(r->response_headers.nset, 1);
	assert_header(&r->response_headers.set[0], "x-r", "1");
	assert_int_equal(r->response_headers.nadd, 0);
	assert_int_equal(r->response_headers.nremove, 2);
	assert_string_equal(r->response_headers.remove[1], "x-powered-by");
	assert_int_equal(r->nbackends, 2);
	assert_string_equal(r->backends[0].service, "web-v1");
	assert_int_equal(r->backends[0].port, 80);
	assert_int_equal(r->backends[0].weight, 90);
	assert_origin(&r->backends[0].origin, 38, 13);
	assert_string_equal(r->backends[1].service, "web-v2");
	assert_int_equal(r->backends[1].port, 8080);
	assert_int_equal(r->backends[1].weight, 10);
	assert_int_equal(r->request_timeout_ms, 2000);
	assert_int_equal(r->backend_timeout_ms, 500);
	assert_int_equal(r->retry.attempts, 2);
	assert_int_equal(r->retry.ncodes, 2);
	assert_int_equal(r->retry.codes[0], 502);
	assert_int_equal(r->retry.codes[1], 503);
	assert_int_equal(r->retry.backoff_ms, 25);
	assert_int_equal(r->retry.grpc_statuses, 1u << 14 | 1u << 4); /* UNAVAILABLE, 4 */
}

static void a_full_route_parses_field_by_field(void **state)
{
	const struct cfg_http_route *route;
	const struct cfg_http_rule *r;
	struct mesh_config cfg;
	struct cfg_error err;

	(void)state;
	assert_int_equal(mesh_config_load(&cfg, ROUTES, &err), 0);
	assert_int_equal(cfg.nhttp_routes, 2);
	route = &cfg.http_routes[0];
	assert_string_equal(route->name, "web");
	assert_string_equal(route->ns, "shop");
	assert_origin(&route->origin, 18, 5);
	assert_int_equal(route->nparents, 1);
	assert_string_equal(route->parents[0].service, "web");
	assert_int_equal(route->parents[0].port, 80);
	assert_int_equal(route->nrules, 3);
	first_rule_is_read_field_by_field(&route->rules[0]);
	/* Defaults: retry attempts 1, backoff 25 ms; no backends; no filters. */
	r = &route->rules[1];
	assert_int_equal(r->matches[0].path_type, CFG_PATH_REGEX);
	assert_string_equal(r->matches[0].path, "^/v[0-9]+/.*$");
	assert_string_equal(r->matches[0].method, "POST");
	assert_int_equal(r->request_timeout_ms, 90000);
	assert_int_equal(r->backend_timeout_ms, 0);
	assert_int_equal(r->retry.attempts, 1);
	assert_int_equal(r->retry.backoff_ms, 25);
	assert_int_equal(r->nbackends + r->request_headers.nset + r->response_headers.nremove, 0);
	/* An empty rule: every request, to the parent, no retries. */
	r = &route->rules[2];
	assert_origin(&r->origin, 45, 9);
	assert_int_equal(r->nmatches + r->nbackends + r->retry.attempts + r->request_timeout_ms, 0);
	/* No rules at all: one such rule; a parentRef without port: port 0. */
	route = &cfg.http_routes[1];
	assert_string_equal(route->name, "admin");
	assert_int_equal(route->parents[0].port, 0);
	assert_int_equal(route->nrules, 1);
	assert_int_equal(route->rules[0].nmatches + route->rules[0].nbackends, 0);
	assert_origin(&route->rules[0].origin, 46, 5);
	assert_int_equal(route->rules[0].retry.backoff_ms, 25);
	/* kubernetes.io/h2c is HTTP/2 over cleartext */
	assert_string_equal(cfg.services[2].ports[0].app_protocol, "http");
	assert_string_equal(cfg.services[2].ports[1].app_protocol, "http2");
	assert_true(cfg_port_speaks_http2(&cfg.services[2].ports[1]));
	assert_int_equal(cfg.nwarnings, 0);
	mesh_config_free(&cfg);
}

/* Services web (80/TCP, 53/UDP), web-v1 (80), web-v2 (8080), prod/other
 * (80); the route starts at line 17 and its body at line 18. */
#define BASE                                                                                       \
	"apiVersion: shunt.dev/v1\n"                                                               \
	"services:\n"                                                                              \
	"  - name: web\n"                                                                          \
	"    virtualIPs: [10.96.0.10]\n"                                                           \
	"    ports: [{name: http, port: 80}, {name: dns, port: 53, protocol: UDP}]\n"              \
	"  - name: web-v1\n"                                                                       \
	"    virtualIPs: [10.96.0.11]\n"                                                           \
	"    ports: [{port: 80}]\n"                                                                \
	"  - name: web-v2\n"                                                                       \
	"    virtualIPs: [10.96.0.12]\n"                                                           \
	"    ports: [{port: 8080}]\n"                                                              \
	"  - name: other\n"                                                                        \
	"    namespace: prod\n"                                                                    \
	"    virtualIPs: [10.96.0.13]\n"                                                           \
	"    ports: [{port: 80}]\n"                                                                \
	"httpRoutes:\n"                                                                            \
	"  - name: web\n"
#define PARENT "    parentRefs: [{name: web}]\n"
#define RULE   PARENT "    rules:\n"
#define MATCH  RULE "      - matches:\n"
#define FILTER RULE "      - filters:\n"

struct bad_case {
	const char *body, *want;
};

static const struct bad_case bad_routes[] = {
    {PARENT "    rulez: []\n", "19:5: unknown key 'rulez' in an httpRoute (known: name, "},
    {"    rules: []\n", "17:5: httpRoute web needs 'parentRefs'"},
    {MATCH "          - path: {type: Prefix, value: /a}\n",
     "21:26: path type must be PathPrefix, Exact or RegularExpression, not 'Prefix'"},
    {MATCH "          - path: {value: api}\n", "21:27: path 'api' must start with '/'"},
    {MATCH "          - path: {type: Exact, value: api}\n",
     "21:40: path 'api' must start with '/'"},
    {MATCH "          - path: {type: RegularExpression, value: \"/a(\"}\n",
     "21:52: path '/a(' is not a POSIX extended regex: "},
    {MATCH "          - headers: [{type: RegularExpression, name: a, value: \"[b\"}]\n",
     "21:65: value '[b' is not a POSIX extended regex: "},
    {MATCH "          - {method: FETCH}\n", "21:22: method 'FETCH' is not GET, HEAD, "},
    {MATCH "          - {headers: [{name: \"x a\", value: b}]}\n",
     "21:31: header name 'x a' is not an HTTP token"},
    {"    parentRefs: [{name: nope}]\n", "18:25: parentRef: service default/nope is not defined"},
    {"    parentRefs: [{name: web, port: 81}]\n",
     "18:36: parentRef: service default/web has no TCP port 81"},
    {"    parentRefs: [{name: web, port: 53}]\n",
     "18:36: parentRef: service default/web has no TCP port 53"},
    {"    parentRefs: [{kind: Gateway, name: web}]\n",
     "18:25: parentRef kind must be Service, not 'Gateway'"},
    {RULE "      - backendRefs:\n          - {name: web-v3, port: 80}\n",
     "21:20: backendRef: service default/web-v3 is not defined"},
    {RULE "      - backendRefs:\n          - {name: other, port: 80}\n",
     "21:20: backendRef: service default/other is not defined"},
    {RULE "      - backendRefs:\n          - {name: web-v2, port: 80}\n",
     "21:34: backendRef: service default/web-v2 has no TCP port 80"},
    {RULE "      - backendRefs:\n          - {name: web-v1}\n",
     "21:13: backendRef web-v1 needs 'port'"},
    {RULE "      - backendRefs:\n          - {name: web-v1, port: 80, weight: 1000001}\n",
     "21:46: weight must be a number from 0 to 1000000"},
    {FILTER "          - type: ExtensionRef\n"
	    "            extensionRef: {group: example.com, kind: Thing, name: x}\n",
     "21:19: filter type ExtensionRef is not supported yet"},
    {FILTER "          - type: URLRewrite\n", "21:13: filter type URLRewrite needs 'urlRewrite'"},
    {FILTER "          - type: RequestHeaderModifier\n",
     "21:13: filter type RequestHeaderModifier needs 'requestHeaderModifier'"},
    {FILTER "          - type: RequestHeaderModifier\n"
	    "            requestHeaderModifier: {set: [{name: x, value: \"a\\nb\"}]}\n",
     "22:60: the value of header x holds a control character"},
    {RULE "      - timeouts: {request: 2sec}\n",
     "20:29: timeouts.request '2sec' is not a duration like 500ms"},
    {RULE "      - timeouts: {request: 100000s}\n",
     "20:29: timeouts.request '100000s' is not a duration"},
    {RULE "      - timeouts: {request: 1s, backendRequest: 1500ms}\n",
     "20:49: timeouts.backendRequest (1500 ms) must not exceed timeouts.request (1000 ms)"},
    {PARENT "  - name: web\n    parentRefs: [{name: web, port: 80}]\n",
     "19:5: httpRoute default/web is defined twice (first at line 17)"},
    {RULE "      - retry: {grpcStatuses: [UNAVAILABLE, GONE]}\n",
     "20:45: grpcStatus must be a gRPC status (OK, CANCELLED, ... UNAVAILABLE, DATA_LOSS, "
     "UNAUTHENTICATED) or its code 0 to 16, not 'GONE'"},
    {RULE "      - retry: {attempts: 11}\n",
     "20:27: retry attempts must be a number from 0 to 10, not '11'"},
    {RULE "      - retry: {codes: [503, 302]}\n",
     "20:30: a retry code must be a number from 400 to 599, not '302'"},
    {RULE "      - retry: {backoff: fast}\n", "20:26: retry backoff 'fast' is not a duration"},
};

/* Each case, BASE then its body: -EINVAL, "t.yaml:LINE:COL: message",
 * nothing kept. Returns how many were not. */
static int count_not_refused(const char *base, const struct bad_case *cases, size_t n)
{
	size_t i;
	int wrong = 0;

	for (i = 0; i < n; i++) {
		char text[2048], want[512];
		struct mesh_config cfg;
		struct cfg_error err = {0};
		int rc;

		snprintf(text, sizeof(text), "%s%s", base, cases[i].body);
		snprintf(want, sizeof(want), "t.yaml:%s", cases[i].want);
		rc = mesh_config_parse(&cfg, "t.yaml", text, strlen(text), &err);
		if (rc != -EINVAL || strncmp(err.msg, want, strlen(want)) || cfg.http_routes ||
		    cfg.services) {
			print_error("case %zu:\n  expected %s\n  got      %d %s\n", i, want, rc,
				    err.msg);
			wrong++;
		}
		if (!rc)
			mesh_config_free(&cfg);
	}
	return wrong;
}

static void mistakes_are_refused_at_their_node(void **state)
{
	(void)state;
	assert_int_equal(
	    count_not_refused(BASE, bad_routes, sizeof(bad_routes) / sizeof(bad_routes[0])), 0);
}

/* Services of HTTP/2 endpoints: mixed (80 http, 50051 grpc), h2 (8080
 * kubernetes.io/h2c); cases start at line 6. */
#define H2_BASE                                                                                    \
	"apiVersion: shunt.dev/v1\n"                                                               \
	"services:\n"                                                                              \
	"  - {name: mixed, virtualIPs: [10.96.0.1], ports: [{port: 80, appProtocol: http},\n"      \
	"     {port: 50051, appProtocol: grpc}]}\n"                                                \
	"  - {name: h2, virtualIPs: [10.96.0.2], ports: [{port: 8080, appProtocol: "               \
	"kubernetes.io/h2c}]}\n"
#define H2_ROUTE "httpRoutes:\n  - name: r\n    parentRefs: [{name: mixed, port: 80}]\n"
#define H2_RULE	 H2_ROUTE "    rules:\n      - "

/* Routes, backendRefs, mirrors and policies take http2 and grpc ports (the
 * proxy speaks h2c to their endpoints, mirrored copies included). */
static void http2_ports_are_l7_targets_and_mirrors(void **state)
{
	static const char *const ok =
	    H2_BASE "httpRoutes: [{name: r, parentRefs: [{name: mixed}], rules: [{backendRefs: "
		    "[{name: h2, port: 8080}], filters: [{type: RequestMirror, requestMirror: "
		    "{backendRef: {name: mixed, port: 50051}}}]}]}]\n"
		    "authorizationPolicies: [{name: p, targetRefs: [{name: mixed}]}]\n";
	struct mesh_config cfg;
	struct cfg_error err;

	(void)state;
	assert_int_equal(mesh_config_parse(&cfg, "t.yaml", ok, strlen(ok), &err), 0);
	assert_int_equal(cfg.nhttp_routes, 1);
	assert_string_equal(cfg.http_routes[0].rules[0].mirror.service, "mixed");
	assert_int_equal(cfg.http_routes[0].rules[0].mirror.port, 50051);
	assert_int_equal(cfg.nauthz_policies, 1);
	assert_int_equal(cfg.nwarnings, 0);
	mesh_config_free(&cfg);
}

static void app_protocols_are_checked(void **state)
{
	static const char *const text =
	    "apiVersion: shunt.dev/v1\nservices:\n  - name: web\n    virtualIPs: [10.96.0.10]\n"
	    "    ports: [{port: 80, appProtocol: kubernetes.io/ws}]\n";
	struct mesh_config cfg;
	struct cfg_error err;

	(void)state;
	assert_int_equal(mesh_config_parse(&cfg, "t.yaml", text, strlen(text), &err), -EINVAL);
	assert_string_equal(err.msg, "t.yaml:5:37: appProtocol must be tcp, http, http2, "
				     "kubernetes.io/h2c or grpc, not 'kubernetes.io/ws'");
}

/* Which ports the L7 proxy serves: appProtocol http, http2 or grpc, a
 * route's parentRef (by port, or every TCP port of the service), or an
 * authorization policy on the service (every TCP port). */
static void l7_ports_are_the_http_ones_and_the_routed_ones(void **state)
{
	static const char *const text =
	    "apiVersion: shunt.dev/v1\n"
	    "services:\n"
	    "  - {name: a, virtualIPs: [10.96.0.1], ports: [{port: 80, appProtocol: http},\n"
	    "     {port: 81, appProtocol: grpc}, {port: 82, appProtocol: kubernetes.io/h2c},\n"
	    "     {port: 83}, {port: 84, appProtocol: http2}]}\n"
	    "  - {name: b, virtualIPs: [10.96.0.2], ports: [{port: 80}, {port: 81}]}\n"
	    "  - {name: c, virtualIPs: [10.96.0.3], ports: [{port: 80}, {port: 90},\n"
	    "     {port: 90, protocol: UDP}]}\n"
	    "  - {name: d, virtualIPs: [10.96.0.4], ports: [{port: 80}]}\n"
	    "  - {name: d, namespace: prod, virtualIPs: [10.96.0.5], ports: [{port: 80}]}\n"
	    "  - {name: e, virtualIPs: [10.96.0.6], ports: [{port: 80}, {port: 81, protocol: "
	    "UDP}]}\n"
	    "httpRoutes:\n"
	    "  - {name: a, parentRefs: [{name: a, port: 80}]}\n"
	    "  - {name: b, parentRefs: [{name: b, port: 81}]}\n"
	    "  - {name: c, parentRefs: [{name: c}]}\n"
	    "  - {name: d, namespace: prod, parentRefs: [{name: d}]}\n"
	    "authorizationPolicies:\n"
	    "  - {name: e, targetRefs: [{name: e}]}\n";
	const struct cfg_service *a, *b, *c, *d, *prod_d, *e;
	struct mesh_config cfg;
	struct cfg_error err;

	(void)state;
	assert_int_equal(mesh_config_parse(&cfg, "t.yaml", text, strlen(text), &err), 0);
	assert_non_null(a = cfg_service_find(&cfg, "default", "a"));
	assert_non_null(b = cfg_service_find(&cfg, "default", "b"));
	assert_non_null(c = cfg_service_find(&cfg, "default", "c"));
	assert_non_null(d = cfg_service_find(&cfg, "default", "d"));
	assert_non_null(prod_d = cfg_service_find(&cfg, "prod", "d"));
	assert_non_null(e = cfg_service_find(&cfg, "default", "e"));
	assert_ptr_not_equal(d, prod_d);
	assert_null(cfg_service_find(&cfg, "prod", "a"));
	assert_true(cfg_service_port_is_l7(&cfg, a, &a->ports[0]));
	/* grpc, h2c and http2: L7 by their appProtocol, spoken to as h2c */
	assert_string_equal(a->ports[2].app_protocol, "http2");
	assert_true(cfg_port_speaks_http2(&a->ports[1]));
	assert_true(cfg_port_speaks_http2(&a->ports[2]));
	assert_true(cfg_port_speaks_http2(&a->ports[4]));
	assert_true(cfg_service_port_is_l7(&cfg, a, &a->ports[1]));
	assert_true(cfg_service_port_is_l7(&cfg, a, &a->ports[2]));
	assert_true(cfg_service_port_is_l7(&cfg, a, &a->ports[4]));
	assert_false(cfg_port_speaks_http2(&a->ports[3]));
	assert_false(cfg_port_speaks_http2(&a->ports[0]));
	assert_false(cfg_service_port_is_l7(&cfg, a, &a->ports[3])); /* tcp, no route */
	assert_false(cfg_service_port_is_l7(&cfg, b, &b->ports[0])); /* route is on 81 */
	assert_true(cfg_service_port_is_l7(&cfg, b, &b->ports[1]));
	assert_true(cfg_service_port_is_l7(&cfg, c, &c->ports[0])); /* every port */
	assert_true(cfg_service_port_is_l7(&cfg, c, &c->ports[1]));
	assert_false(cfg_service_port_is_l7(&cfg, c, &c->ports[2])); /* UDP */
	assert_false(cfg_service_port_is_l7(&cfg, d, &d->ports[0])); /* the route is prod's */
	assert_true(cfg_service_port_is_l7(&cfg, prod_d, &prod_d->ports[0]));
	assert_true(cfg_service_port_is_l7(&cfg, e, &e->ports[0]));  /* authorization */
	assert_false(cfg_service_port_is_l7(&cfg, e, &e->ports[1])); /* UDP */
	assert_int_equal(cfg.nwarnings, 0);
	mesh_config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(a_full_route_parses_field_by_field),
	    cmocka_unit_test(mistakes_are_refused_at_their_node),
	    cmocka_unit_test(app_protocols_are_checked),
	    cmocka_unit_test(http2_ports_are_l7_targets_and_mirrors),
	    cmocka_unit_test(l7_ports_are_the_http_ones_and_the_routed_ones),
	};

	return cmocka_run_group_tests_name("config_http_route", tests, NULL, NULL);
}
