// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The L7 policies in the published model (model/model_json_l7.c,
 * model_json_authz.c): a rule's fault, rateLimit and URL filters, a
 * service's trafficPolicy and the authorizationPolicies come back from
 * JSON field by field. Run from the repository root.
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
#include "model/model_json.h"
#include "sources/yaml_source.h"

#define L7 "tests/configs/valid/l7-policies.yaml"

static void assert_str_same(const char *a, const char *b)
{
	if (!a || !b)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

static void assert_strs_same(const char *const *a, size_t na, const char *const *b, size_t nb)
{
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++)
		assert_string_equal(a[i], b[i]);
}

static void assert_origin_same(const struct cfg_origin *a, const struct cfg_origin *b)
{
	char wa[128], wb[128];

	cfg_origin_format(a, wa, sizeof(wa));
	cfg_origin_format(b, wb, sizeof(wb));
	assert_int_equal(a->kind, b->kind);
	assert_string_equal(wa, wb);
}

static void assert_traffic_policy_same(const struct cfg_service *a, const struct cfg_service *b)
{
	const struct cfg_traffic_policy *x = &a->traffic_policy, *y = &b->traffic_policy;

	assert_int_equal(a->has_traffic_policy, b->has_traffic_policy);
	assert_int_equal(x->lb, y->lb);
	assert_int_equal(x->max_connections, y->max_connections);
	assert_int_equal(x->max_pending_requests, y->max_pending_requests);
	assert_int_equal(x->max_requests, y->max_requests);
	assert_int_equal(x->max_retries, y->max_retries);
	assert_int_equal(x->idle_timeout_ms, y->idle_timeout_ms);
	assert_int_equal(x->outlier, y->outlier);
	assert_int_equal(x->consecutive_5xx, y->consecutive_5xx);
	assert_int_equal(x->consecutive_gateway, y->consecutive_gateway);
	assert_int_equal(x->interval_ms, y->interval_ms);
	assert_int_equal(x->base_ejection_ms, y->base_ejection_ms);
	assert_int_equal(x->max_ejection_percent, y->max_ejection_percent);
}

static void assert_rule_l7_same(const struct cfg_http_rule *a, const struct cfg_http_rule *b)
{
	assert_int_equal(a->fault.delay_ms, b->fault.delay_ms);
	assert_true(a->fault.delay_percent == b->fault.delay_percent);
	assert_int_equal(a->fault.abort_status, b->fault.abort_status);
	assert_int_equal(a->fault.abort_grpc, b->fault.abort_grpc);
	assert_true(a->fault.abort_percent == b->fault.abort_percent);
	assert_int_equal(a->rate_limit.requests, b->rate_limit.requests);
	assert_int_equal(a->rate_limit.unit_ms, b->rate_limit.unit_ms);
	assert_int_equal(a->rate_limit.burst, b->rate_limit.burst);
	assert_int_equal(a->redirect.set, b->redirect.set);
	assert_str_same(a->redirect.scheme, b->redirect.scheme);
	assert_str_same(a->redirect.hostname, b->redirect.hostname);
	assert_int_equal(a->redirect.port, b->redirect.port);
	assert_int_equal(a->redirect.path_type, b->redirect.path_type);
	assert_str_same(a->redirect.path, b->redirect.path);
	assert_int_equal(a->redirect.status, b->redirect.status);
	assert_int_equal(a->rewrite.set, b->rewrite.set);
	assert_str_same(a->rewrite.hostname, b->rewrite.hostname);
	assert_int_equal(a->rewrite.path_type, b->rewrite.path_type);
	assert_str_same(a->rewrite.path, b->rewrite.path);
	assert_str_same(a->mirror.service, b->mirror.service);
	assert_int_equal(a->mirror.port, b->mirror.port);
	assert_true(a->mirror.percent == b->mirror.percent);
	assert_int_equal(a->nbackends, b->nbackends);
	assert_int_equal(a->nmatches, b->nmatches);
}

static void assert_authz_same(const struct cfg_authz_policy *a, const struct cfg_authz_policy *b)
{
	size_t i, k;

	assert_string_equal(a->name, b->name);
	assert_string_equal(a->ns, b->ns);
	assert_strs_same(a->services, a->nservices, b->services, b->nservices);
	assert_int_equal(a->action, b->action);
	assert_int_equal(a->nrules, b->nrules);
	for (i = 0; i < a->nrules; i++) {
		const struct cfg_authz_rule *x = &a->rules[i], *y = &b->rules[i];

		assert_strs_same(x->principals, x->nprincipals, y->principals, y->nprincipals);
		assert_strs_same(x->namespaces, x->nnamespaces, y->namespaces, y->nnamespaces);
		assert_strs_same(x->methods, x->nmethods, y->methods, y->nmethods);
		assert_strs_same(x->paths, x->npaths, y->paths, y->npaths);
		assert_int_equal(x->nheaders, y->nheaders);
		for (k = 0; k < x->nheaders; k++) {
			assert_string_equal(x->headers[k].name, y->headers[k].name);
			assert_string_equal(x->headers[k].value, y->headers[k].value);
		}
		assert_origin_same(&x->origin, &y->origin);
	}
	assert_origin_same(&a->origin, &b->origin);
}

/* What the comparisons saw are real values, not defaults on both sides. */
static void the_values_compared_are_set(const struct mesh_config *cfg)
{
	const struct cfg_http_rule *r = cfg->http_routes[0].rules;
	const struct cfg_authz_policy *pol = cfg->authz_policies;

	assert_int_equal(cfg->services[0].traffic_policy.lb, CFG_LB_LEAST_REQUEST);
	assert_int_equal(cfg->services[0].traffic_policy.max_ejection_percent, 50);
	assert_int_equal(cfg->services[0].traffic_policy.idle_timeout_ms, 60000);
	assert_true(cfg->services[1].traffic_policy.outlier);
	assert_false(cfg->services[2].traffic_policy.outlier);
	assert_true(r[0].fault.delay_percent == 12.5);
	assert_int_equal(r[0].rate_limit.unit_ms, 60000);
	assert_string_equal(r[0].rewrite.path, "/v2");
	assert_true(r[0].mirror.percent == 50);
	assert_int_equal(r[1].redirect.path_type, CFG_PATH_EXACT);
	assert_int_equal(r[1].redirect.port, 8443);
	assert_string_equal(r[1].redirect.scheme, "https");
	assert_int_equal(r[2].fault.abort_grpc, 14);
	assert_true(r[2].redirect.set);
	assert_null(r[2].redirect.path);
	assert_int_equal(r[3].rewrite.path_type, CFG_PATH_EXACT);
	assert_int_equal(pol[0].rules[0].nheaders, 2);
	assert_string_equal(pol[0].rules[0].headers[0].name, "x-token");
	assert_string_equal(pol[0].rules[0].principals[1], "*/sa/admin");
	assert_int_equal(pol[1].action, CFG_AUTHZ_DENY);
	assert_int_equal(pol[2].nrules, 0);
}

static void l7_policies_survive_the_round_trip(void **state)
{
	struct mesh_config yaml, cfg;
	struct cfg_error err;
	char *json, where[128];
	size_t len, i;
	__u64 version;

	(void)state;
	assert_int_equal(mesh_config_load(&yaml, L7, &err), 0);
	yaml.authz_policies[1].origin = (struct cfg_origin){.kind = CFG_ORIGIN_OBJECT,
							    .object_kind = "AuthorizationPolicy",
							    .ns = "shop",
							    .name = "no-admin"};
	assert_int_equal(mesh_model_to_json(&yaml, 4, &json, &len), 0);
	assert_int_equal(mesh_model_from_json(&cfg, &version, json, len, &err), 0);
	free(json);
	assert_int_equal(cfg.nservices, yaml.nservices);
	for (i = 0; i < cfg.nservices; i++)
		assert_traffic_policy_same(&yaml.services[i], &cfg.services[i]);
	assert_int_equal(cfg.http_routes[0].nrules, yaml.http_routes[0].nrules);
	for (i = 0; i < cfg.http_routes[0].nrules; i++)
		assert_rule_l7_same(&yaml.http_routes[0].rules[i], &cfg.http_routes[0].rules[i]);
	assert_int_equal(cfg.nauthz_policies, yaml.nauthz_policies);
	for (i = 0; i < cfg.nauthz_policies; i++)
		assert_authz_same(&yaml.authz_policies[i], &cfg.authz_policies[i]);
	the_values_compared_are_set(&cfg);
	cfg_origin_format(&cfg.authz_policies[1].origin, where, sizeof(where));
	assert_string_equal(where, "AuthorizationPolicy/shop/no-admin");
	cfg_origin_format(&cfg.authz_policies[0].rules[2].origin, where, sizeof(where));
	assert_string_equal(where, L7 ":66:9");
	/* What is L7 reads the same from the model (authz targets). */
	assert_true(cfg_service_port_is_l7(&cfg, &cfg.services[2], &cfg.services[2].ports[0]));
	mesh_config_free(&cfg);
	mesh_config_free(&yaml);
}

/* A service without trafficPolicy and a rule without fault come back
 * without: the reader adds nothing. */
static void absent_l7_policies_stay_absent(void **state)
{
	static const char *const text =
	    "apiVersion: shunt.dev/v1\n"
	    "services: [{name: web, virtualIPs: [10.96.0.1], ports: [{port: 80}]}]\n"
	    "httpRoutes: [{name: web, parentRefs: [{name: web}]}]\n";
	struct mesh_config yaml, cfg;
	struct cfg_error err;
	const struct cfg_http_rule *r;
	__u64 version;
	size_t len;
	char *json;

	(void)state;
	assert_int_equal(mesh_config_parse(&yaml, "t.yaml", text, strlen(text), &err), 0);
	assert_int_equal(mesh_model_to_json(&yaml, 1, &json, &len), 0);
	assert_null(strstr(json, "trafficPolicy"));
	assert_null(strstr(json, "requestRedirect"));
	assert_int_equal(mesh_model_from_json(&cfg, &version, json, len, &err), 0);
	free(json);
	assert_false(cfg.services[0].has_traffic_policy);
	assert_int_equal(cfg.nauthz_policies, 0);
	r = &cfg.http_routes[0].rules[0];
	assert_int_equal(r->fault.abort_grpc, -1);
	assert_false(r->redirect.set || r->rewrite.set);
	assert_null(r->mirror.service);
	mesh_config_free(&cfg);
	mesh_config_free(&yaml);
}

/* A backendRef that does not resolve (the Kubernetes source keeps them)
 * comes back marked, with its reason, its weight and its name as written;
 * a resolved one carries no marker. */
static void unresolved_backends_survive_the_round_trip(void **state)
{
	static const char *const text =
	    "apiVersion: shunt.dev/v1\n"
	    "services: [{name: web, virtualIPs: [10.96.0.1], ports: [{port: 80}]}]\n"
	    "httpRoutes: [{name: web, parentRefs: [{name: web}], rules: [{backendRefs: "
	    "[{name: web, port: 80}, {name: web, port: 80, weight: 3}, {name: web, port: "
	    "80}]}]}]\n";
	struct mesh_config yaml, cfg;
	struct cfg_http_backend *be;
	struct cfg_error err;
	const struct cfg_http_backend *got;
	__u64 version;
	size_t len;
	char *json;

	(void)state;
	assert_int_equal(mesh_config_parse(&yaml, "t.yaml", text, strlen(text), &err), 0);
	be = yaml.http_routes[0].rules[0].backends;
	be[1] = (struct cfg_http_backend){.service = "gone",
					  .port = 80,
					  .weight = 3,
					  .unresolved = true,
					  .unresolved_why = CFG_FAIL_BACKEND_NOT_FOUND,
					  .origin = be[1].origin};
	be[2] = (struct cfg_http_backend){.service = "bucket.example.com", /* not a Service's */
					  .weight = 1,			   /* no port */
					  .unresolved = true,
					  .unresolved_why = CFG_FAIL_BACKEND_KIND,
					  .origin = be[2].origin};
	assert_int_equal(mesh_model_to_json(&yaml, 1, &json, &len), 0);
	assert_int_equal(mesh_model_from_json(&cfg, &version, json, len, &err), 0);
	free(json);
	got = cfg.http_routes[0].rules[0].backends;
	assert_int_equal(cfg.http_routes[0].rules[0].nbackends, 3);
	assert_false(got[0].unresolved);
	assert_true(got[1].unresolved);
	assert_int_equal(got[1].unresolved_why, CFG_FAIL_BACKEND_NOT_FOUND);
	assert_string_equal(got[1].service, "gone");
	assert_int_equal(got[1].port, 80);
	assert_int_equal(got[1].weight, 3);
	assert_true(got[2].unresolved);
	assert_int_equal(got[2].unresolved_why, CFG_FAIL_BACKEND_KIND);
	assert_string_equal(got[2].service, "bucket.example.com");
	assert_int_equal(got[2].port, 0);
	mesh_config_free(&cfg);
	mesh_config_free(&yaml);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(l7_policies_survive_the_round_trip),
	    cmocka_unit_test(absent_l7_policies_stay_absent),
	    cmocka_unit_test(unresolved_backends_survive_the_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
