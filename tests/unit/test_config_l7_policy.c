// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * L7 policies in the mesh config: a rule's fault, rateLimit and URL
 * filters (sources/cfg_http_filters.c, cfg_l7_traffic.c), a service's
 * trafficPolicy, authorizationPolicies (cfg_authz.c): every field parsed,
 * every class of mistake refused at its FILE:LINE:COL, and the ports an
 * authorization policy puts on the L7 proxy. Run from the repository root.
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

#define L7 "tests/configs/valid/l7-policies.yaml"

static void assert_origin(const struct cfg_origin *o, unsigned int line, unsigned int col)
{
	assert_int_equal(o->kind, CFG_ORIGIN_FILE);
	assert_int_equal(o->line, line);
	assert_int_equal(o->col, col);
}

static void traffic_policies_are_read_field_by_field(const struct mesh_config *cfg)
{
	const struct cfg_traffic_policy *tp = &cfg->services[0].traffic_policy;

	assert_true(cfg->services[0].has_traffic_policy);
	assert_int_equal(tp->lb, CFG_LB_LEAST_REQUEST);
	assert_int_equal(tp->max_connections, 100);
	assert_int_equal(tp->max_pending_requests, 10);
	assert_int_equal(tp->max_requests, 200);
	assert_int_equal(tp->max_retries, 3);
	assert_int_equal(tp->idle_timeout_ms, 60000);
	assert_true(tp->outlier);
	assert_int_equal(tp->consecutive_5xx, 7);
	assert_int_equal(tp->consecutive_gateway, 2);
	assert_int_equal(tp->interval_ms, 5000);
	assert_int_equal(tp->base_ejection_ms, 60000);
	assert_int_equal(tp->max_ejection_percent, 50);
	/* outlierDetection: {} takes the defaults; nothing else is set. */
	tp = &cfg->services[1].traffic_policy;
	assert_true(cfg->services[1].has_traffic_policy);
	assert_int_equal(tp->lb, CFG_LB_PEAK_EWMA);
	assert_true(tp->outlier);
	assert_int_equal(tp->consecutive_5xx, 5);
	assert_int_equal(tp->consecutive_gateway, 0);
	assert_int_equal(tp->interval_ms, 10000);
	assert_int_equal(tp->base_ejection_ms, 30000);
	assert_int_equal(tp->max_ejection_percent, 10);
	assert_int_equal(tp->max_connections + tp->max_requests + tp->idle_timeout_ms, 0);
	tp = &cfg->services[2].traffic_policy;
	assert_int_equal(tp->lb, CFG_LB_RANDOM);
	assert_false(tp->outlier);
	assert_int_equal(tp->consecutive_5xx + tp->interval_ms, 0);
}

static void first_two_rules_are_read_field_by_field(const struct cfg_http_rule *r)
{
	assert_origin(&r->origin, 31, 9);
	assert_int_equal(r->fault.delay_ms, 100);
	assert_true(r->fault.delay_percent == 12.5);
	assert_int_equal(r->fault.abort_status, 503);
	assert_int_equal(r->fault.abort_grpc, -1);
	assert_true(r->fault.abort_percent == 10);
	assert_int_equal(r->rate_limit.requests, 100);
	assert_int_equal(r->rate_limit.unit_ms, 60000);
	assert_int_equal(r->rate_limit.burst, 20);
	assert_false(r->redirect.set);
	assert_true(r->rewrite.set);
	assert_string_equal(r->rewrite.hostname, "other.example");
	assert_int_equal(r->rewrite.path_type, CFG_PATH_PREFIX);
	assert_string_equal(r->rewrite.path, "/v2");
	assert_string_equal(r->mirror.service, "web-v2");
	assert_int_equal(r->mirror.port, 80);
	assert_true(r->mirror.percent == 50);
	assert_int_equal(r->nbackends, 1);
	r++;
	assert_true(r->redirect.set);
	assert_string_equal(r->redirect.scheme, "https");
	assert_string_equal(r->redirect.hostname, "example.com");
	assert_int_equal(r->redirect.port, 8443);
	assert_int_equal(r->redirect.status, 301);
	assert_int_equal(r->redirect.path_type, CFG_PATH_EXACT);
	assert_string_equal(r->redirect.path, "/new");
	assert_false(r->rewrite.set);
	assert_null(r->mirror.service);
	/* No fault, no rateLimit. */
	assert_int_equal(r->fault.delay_ms + r->fault.abort_status + r->rate_limit.requests, 0);
	assert_int_equal(r->fault.abort_grpc, -1);
}

static void last_rules_take_the_defaults(const struct cfg_http_rule *r)
{
	/* grpcStatus by name; percentages, burst, redirect status: defaults. */
	assert_int_equal(r->fault.abort_grpc, 14);
	assert_int_equal(r->fault.abort_status, 0);
	assert_true(r->fault.abort_percent == 100);
	assert_int_equal(r->fault.delay_ms, 0);
	assert_int_equal(r->rate_limit.requests, 5);
	assert_int_equal(r->rate_limit.unit_ms, 1000);
	assert_int_equal(r->rate_limit.burst, 5);
	assert_true(r->redirect.set);
	assert_int_equal(r->redirect.status, 302);
	assert_null(r->redirect.scheme);
	assert_null(r->redirect.hostname);
	assert_null(r->redirect.path);
	assert_int_equal(r->redirect.port, 0);
	assert_true(r->mirror.percent == 100);
	r++;
	/* grpcStatus by code; a delay alone. */
	assert_int_equal(r->fault.abort_grpc, 4);
	assert_int_equal(r->fault.delay_ms, 1000);
	assert_true(r->fault.delay_percent == 100);
	assert_true(r->rewrite.set);
	assert_null(r->rewrite.hostname);
	assert_int_equal(r->rewrite.path_type, CFG_PATH_EXACT);
	assert_string_equal(r->rewrite.path, "/");
}

static void authz_policies_are_read_field_by_field(const struct mesh_config *cfg)
{
	const struct cfg_authz_policy *pol = &cfg->authz_policies[0];
	const struct cfg_authz_rule *r = &pol->rules[0];

	assert_int_equal(cfg->nauthz_policies, 3);
	assert_string_equal(pol->name, "web-readers");
	assert_string_equal(pol->ns, "shop");
	assert_origin(&pol->origin, 56, 5);
	assert_int_equal(pol->nservices, 2);
	assert_string_equal(pol->services[0], "web");
	assert_string_equal(pol->services[1], "db");
	assert_int_equal(pol->action, CFG_AUTHZ_ALLOW);
	assert_int_equal(pol->nrules, 3);
	assert_origin(&r->origin, 60, 9);
	assert_int_equal(r->nprincipals, 2);
	assert_string_equal(r->principals[0], "cluster.local/ns/shop/sa/client");
	assert_string_equal(r->principals[1], "*/sa/admin");
	assert_int_equal(r->nnamespaces, 2);
	assert_string_equal(r->namespaces[1], "prod-*");
	assert_int_equal(r->nmethods, 2);
	assert_string_equal(r->methods[1], "HEAD");
	assert_int_equal(r->npaths, 3);
	assert_string_equal(r->paths[2], "*.css");
	assert_int_equal(r->nheaders, 2);
	assert_string_equal(r->headers[0].name, "x-token"); /* lowercased */
	assert_string_equal(r->headers[0].value, "abc");
	assert_string_equal(r->headers[1].name, "x-env");
	assert_string_equal(r->headers[1].value, "prod*");
	r++;
	assert_int_equal(r->nprincipals + r->nnamespaces + r->nmethods + r->nheaders, 0);
	assert_int_equal(r->npaths, 1);
	r++;
	assert_origin(&r->origin, 66, 9);
	assert_int_equal(r->nprincipals + r->nnamespaces + r->nmethods + r->npaths, 0);
	pol++;
	assert_string_equal(pol->name, "no-admin");
	assert_int_equal(pol->action, CFG_AUTHZ_DENY);
	assert_int_equal(pol->nrules, 1);
	assert_string_equal(pol->rules[0].paths[0], "/admin/*");
	pol++;
	assert_origin(&pol->origin, 72, 5);
	assert_int_equal(pol->action, CFG_AUTHZ_ALLOW);
	assert_int_equal(pol->nrules, 0);
}

static void a_full_l7_config_parses_field_by_field(void **state)
{
	const struct cfg_http_route *route;
	struct mesh_config cfg;
	struct cfg_error err;

	(void)state;
	assert_int_equal(mesh_config_load(&cfg, L7, &err), 0);
	traffic_policies_are_read_field_by_field(&cfg);
	assert_int_equal(cfg.nhttp_routes, 1);
	route = &cfg.http_routes[0];
	assert_int_equal(route->nrules, 4);
	first_two_rules_are_read_field_by_field(&route->rules[0]);
	last_rules_take_the_defaults(&route->rules[2]);
	authz_policies_are_read_field_by_field(&cfg);
	mesh_config_free(&cfg);
}

/* A config without any of it: no policy, no fault (abort_grpc -1 even in
 * the rule made for a route without rules). */
static void without_l7_policies_nothing_is_set(void **state)
{
	static const char *const text =
	    "apiVersion: shunt.dev/v1\n"
	    "services: [{name: web, virtualIPs: [10.96.0.1], ports: [{port: 80}]}]\n"
	    "httpRoutes: [{name: web, parentRefs: [{name: web}]}]\n";
	const struct cfg_http_rule *r;
	struct mesh_config cfg;
	struct cfg_error err;

	(void)state;
	assert_int_equal(mesh_config_parse(&cfg, "t.yaml", text, strlen(text), &err), 0);
	assert_false(cfg.services[0].has_traffic_policy);
	assert_int_equal(cfg.nauthz_policies, 0);
	assert_null(cfg.authz_policies);
	r = &cfg.http_routes[0].rules[0];
	assert_int_equal(r->fault.abort_grpc, -1);
	assert_int_equal(r->fault.delay_ms + r->fault.abort_status + r->rate_limit.requests, 0);
	assert_false(r->redirect.set || r->rewrite.set);
	assert_null(r->mirror.service);
	mesh_config_free(&cfg);
}

/* Services web (80/TCP, 53/UDP), web-v2 (80), dns (53/UDP only), lines 1
 * to 11; then a route whose first rule starts at 16:9, a service tp whose
 * trafficPolicy is at 15:20, or authorization policy p at line 13. */
#define BASE                                                                                       \
	"apiVersion: shunt.dev/v1\n"                                                               \
	"services:\n"                                                                              \
	"  - name: web\n"                                                                          \
	"    virtualIPs: [10.96.0.10]\n"                                                           \
	"    ports: [{port: 80}, {port: 53, protocol: UDP}]\n"                                     \
	"  - name: web-v2\n"                                                                       \
	"    virtualIPs: [10.96.0.11]\n"                                                           \
	"    ports: [{port: 80}]\n"                                                                \
	"  - name: dns\n"                                                                          \
	"    virtualIPs: [10.96.0.12]\n"                                                           \
	"    ports: [{port: 53, protocol: UDP}]\n"
#define RULE   "httpRoutes:\n  - name: web\n    parentRefs: [{name: web}]\n    rules:\n      - "
#define FILTER RULE "filters:\n          - "
#define TP                                                                                         \
	"  - name: tp\n    virtualIPs: [10.96.0.13]\n    ports: [{port: 80}]\n    trafficPolicy: "
#define AUTHZ  "authorizationPolicies:\n  - name: p\n"
#define AZRULE AUTHZ "    targetRefs: [{name: web}]\n    rules:\n      - "

static const struct {
	const char *body, *want;
} bad_l7[] = {
    /* fault */
    {RULE "fault: {delay: {fixedDelay: 1s}, exponentialDelay: 1s}\n",
     "16:42: unknown key 'exponentialDelay' in fault (known: delay, abort)"},
    {RULE "fault: {}\n", "16:16: fault needs 'delay' or 'abort'"},
    {RULE "fault: {delay: {percentage: 5}}\n", "16:24: fault.delay needs 'fixedDelay'"},
    {RULE "fault: {delay: {fixedDelay: 0s}}\n",
     "16:37: fault.delay.fixedDelay must be at least 1ms"},
    {RULE "fault: {delay: {fixedDelay: 1s, percentage: 100.5}}\n",
     "16:53: fault.delay.percentage must be a number from 0 to 100, not '100.5'"},
    {RULE "fault: {delay: {fixedDelay: 1s, percentage: -1}}\n",
     "16:53: fault.delay.percentage must be a number from 0 to 100, not '-1'"},
    {RULE "fault: {delay: {fixedDelay: 1s, percentage: \"50\"}}\n",
     "16:53: fault.delay.percentage must be a number from 0 to 100"},
    {RULE "fault: {abort: {httpStatus: 503, grpcStatus: UNAVAILABLE}}\n",
     "16:54: fault.abort takes httpStatus or grpcStatus, not both"},
    {RULE "fault: {abort: {percentage: 5}}\n",
     "16:24: fault.abort needs 'httpStatus' or 'grpcStatus'"},
    {RULE "fault: {abort: {httpStatus: 100}}\n",
     "16:37: fault.abort.httpStatus must be a number from 200 to 599, not '100'"},
    {RULE "fault: {abort: {grpcStatus: NOPE}}\n",
     "16:37: grpcStatus must be a gRPC status (OK, CANCELLED, ..."},
    {RULE "fault: {abort: {grpcStatus: 17}}\n",
     "16:37: grpcStatus must be a number from 0 to 16, not '17'"},
    /* rateLimit */
    {RULE "rateLimit: {requestsPerUnit: 0, unit: second}\n",
     "16:38: requestsPerUnit must be a number from 1 to 1000000000, not '0'"},
    {RULE "rateLimit: {requestsPerUnit: 10, unit: day}\n",
     "16:48: rateLimit unit must be second, minute or hour, not 'day'"},
    {RULE "rateLimit: {requestsPerUnit: 10}\n",
     "16:20: rateLimit needs 'unit' (second, minute or hour)"},
    {RULE "rateLimit: {requestsPerUnit: 10, unit: second, burst: 0}\n",
     "16:63: burst must be a number from 1 to 1000000000, not '0'"},
    {RULE "rateLimit: {requests: 10, unit: second}\n",
     "16:21: unknown key 'requests' in rateLimit (known: requestsPerUnit,"},
    /* filters */
    {FILTER "{type: ExtensionRef, extensionRef: {group: x, kind: y, name: z}}\n",
     "17:20: filter type ExtensionRef is not supported yet"},
    {FILTER "{type: Redirect, requestRedirect: {}}\n",
     "17:20: filter type must be RequestHeaderModifier,"},
    {FILTER "{type: RequestRedirect, requestRedirect: {}}\n"
	    "        backendRefs: [{name: web-v2, port: 80}]\n",
     "18:22: a rule with a RequestRedirect filter takes no backendRefs (the"},
    {FILTER "{type: RequestRedirect, requestRedirect: {}}\n"
	    "          - {type: URLRewrite, urlRewrite: {hostname: a.b}}\n",
     "18:20: a rule takes RequestRedirect or URLRewrite, not both"},
    {RULE "matches: [{path: {type: Exact, value: /a}}, {path: {value: /b}}]\n"
	  "        filters:\n"
	  "          - type: URLRewrite\n"
	  "            urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /}}\n",
     "19:39: ReplacePrefixMatch needs every match of the rule to be a PathPrefix "
     "match (match 1 is Exact)"},
    {FILTER
     "{type: RequestMirror, requestMirror: {backendRef: {name: web-v2, port: 80}}}\n"
     "          - {type: RequestMirror, requestMirror: {backendRef: {name: web, port: 80}}}\n",
     "18:20: a rule takes one RequestMirror filter at most"},
    {FILTER "{type: RequestRedirect, requestRedirect: {statusCode: 303}}\n",
     "17:67: statusCode must be 301 or 302, not 303"},
    {FILTER "{type: RequestRedirect, requestRedirect: {scheme: ftp}}\n",
     "17:63: scheme must be http or https, not 'ftp'"},
    {FILTER "{type: RequestRedirect, requestRedirect: {hostname: Bad_Host}}\n",
     "17:65: hostname 'Bad_Host' may only hold a-z, 0-9, '-' and '.'"},
    {FILTER "{type: RequestRedirect, requestRedirect: {path: {type: ReplaceFullPath, "
	    "replacePrefixMatch: /a}}}\n",
     "17:105: path type ReplaceFullPath takes 'replaceFullPath', not"},
    {FILTER "{type: RequestRedirect, requestRedirect: {path: {type: ReplaceFullPath, "
	    "replaceFullPath: new}}}\n",
     "17:102: path 'new' must start with '/'"},
    {FILTER "{type: RequestRedirect, requestRedirect: {path: {type: ReplaceFullPath, "
	    "replaceFullPath: \"/a b\"}}}\n",
     "17:102: path '/a b' holds a character a URL path cannot (escape it as %XX)"},
    {FILTER "{type: URLRewrite, urlRewrite: {}}\n", "17:44: urlRewrite needs 'hostname' or 'path'"},
    {FILTER "{type: URLRewrite, requestRedirect: {}}\n",
     "17:49: filter type URLRewrite needs 'urlRewrite' and nothing else,"},
    {FILTER "{type: RequestMirror, requestMirror: {backendRef: {name: web-v3, port: 80}}}\n",
     "17:70: backendRef: service default/web-v3 is not defined"},
    {FILTER "{type: RequestMirror, requestMirror: {backendRef: {name: web-v2, port: 81}}}\n",
     "17:84: backendRef: service default/web-v2 has no TCP port 81"},
    {FILTER "{type: RequestMirror, requestMirror: {backendRef: {name: web-v2}}}\n",
     "17:63: backendRef web-v2 needs 'port'"},
    {FILTER "{type: RequestMirror, requestMirror: {backendRef: {name: web-v2, port: 80}, "
	    "fraction: {numerator: 1}}}\n",
     "17:89: unknown key 'fraction' in requestMirror (known: backendRef, percent)"},
    {FILTER "{type: RequestMirror, requestMirror: {backendRef: {name: web-v2, port: 80}, "
	    "percent: 101}}\n",
     "17:98: percent must be a number from 0 to 100, not '101'"},
    /* trafficPolicy */
    {TP "{tls: {mode: ISTIO_MUTUAL}}\n",
     "15:21: unknown key 'tls' in trafficPolicy (known: loadBalancer,"},
    {TP "{loadBalancer: {simple: LEAST_CONN}}\n",
     "15:44: loadBalancer.simple must be PEAK_EWMA, ROUND_ROBIN,"},
    {TP "{loadBalancer: {}}\n", "15:35: loadBalancer needs 'simple'"},
    {TP "{connectionPool: {tcp: {connectTimeout: 1s}}}\n",
     "15:44: unknown key 'connectTimeout' in connectionPool.tcp (known:"},
    {TP "{connectionPool: {http: {maxRetries: -1}}}\n",
     "15:57: maxRetries must be a number from 0 to 2147483647"},
    {TP "{connectionPool: {http: {idleTimeout: 1d}}}\n",
     "15:58: idleTimeout '1d' is not a duration like 500ms, 2s, 1m30s or 1h"},
    {TP "{outlierDetection: {maxEjectionPercent: 101}}\n",
     "15:60: maxEjectionPercent must be a number from 0 to 100, not '101'"},
    {TP "{outlierDetection: {interval: 0s}}\n", "15:50: interval must be at least 1ms"},
    /* authorizationPolicies */
    {AUTHZ "    targetRefs: [{name: web}]\n    selector: {}\n",
     "15:5: unknown key 'selector' in an authorizationPolicy (known: name,"},
    {AUTHZ "    rules: []\n",
     "13:5: authorizationPolicy p needs 'targetRefs' (the Services it guards)"},
    {AUTHZ "    targetRefs: []\n", "14:17: authorizationPolicy p needs at least one targetRef"},
    {AUTHZ "    targetRefs: [{name: nope}]\n",
     "14:25: targetRef: service default/nope is not defined"},
    {AUTHZ "    targetRefs: [{name: dns}]\n",
     "14:25: targetRef: service default/dns has no TCP port"},
    {AUTHZ "    targetRefs: [{kind: Pod, name: web}]\n",
     "14:25: targetRef kind must be Service, not 'Pod'"},
    {AUTHZ "    targetRefs: [{name: web, namespace: default}]\n",
     "14:30: unknown key 'namespace' in a targetRef (known: group, kind, name)"},
    {AUTHZ "    targetRefs: [{name: web}, {name: web}]\n", "14:31: targetRef web is listed twice"},
    {AUTHZ "    targetRefs: [{name: web}]\n    action: AUDIT\n",
     "15:13: action must be ALLOW or DENY, not 'AUDIT'"},
    {AZRULE "from: [{source: {namespaces: [a]}}, {source: {namespaces: [b]}}]\n",
     "16:45: one from entry per rule for now; write more rules"},
    {AZRULE "to: [{operation: {paths: [/a]}}, {operation: {paths: [/b]}}]\n",
     "16:42: one to entry per rule for now; write more rules"},
    {AZRULE "from: [{source: {ipBlocks: [10.0.0.0/8]}}]\n",
     "16:26: unknown key 'ipBlocks' in source (known: principals, namespaces)"},
    {AZRULE "from: [{}]\n", "16:16: a from entry needs 'source'"},
    {AZRULE "from: [{source: {principals: []}}]\n",
     "16:38: principals is empty (leave it out to match any)"},
    {AZRULE "from: [{source: {principals: [\"spiffe://td/ns/a/sa/b\"]}}]\n",
     "16:39: principal 'spiffe://td/ns/a/sa/b' is not"},
    {AZRULE "from: [{source: {principals: [\"td/ns/a*/sa/b\"]}}]\n",
     "16:39: principal 'td/ns/a*/sa/b' may hold one '*', at its start or its end"},
    {AZRULE "from: [{source: {principals: [\"td/ns/A/sa/b\"]}}]\n",
     "16:39: principal 'td/ns/A/sa/b' is not"},
    {AZRULE "from: [{source: {namespaces: [Prod]}}]\n",
     "16:39: namespace 'Prod' may only hold a-z, 0-9, '-' and '.'"},
    {AZRULE "to: [{operation: {methods: [FETCH]}}]\n",
     "16:37: method 'FETCH' is not GET, HEAD, POST, PUT, DELETE, CONNECT,"},
    {AZRULE "to: [{operation: {paths: [api]}}]\n", "16:35: path 'api' must start with '/' or '*'"},
    {AZRULE "to: [{operation: {hosts: [a.b]}}]\n",
     "16:27: unknown key 'hosts' in operation (known: methods, paths)"},
    {AZRULE "when: [{key: source.ip, values: [10.0.0.1]}]\n",
     "16:22: when key 'source.ip' is not request.headers[NAME] (other keys"},
    {AZRULE "when: [{key: \"request.headers[x-a]\", values: [a, b]}]\n",
     "16:54: values must hold exactly one value for now (for any of"},
    {AZRULE "when: [{key: \"request.headers[x a]\", values: [a]}]\n",
     "16:22: header name 'x a' is not an HTTP token (letters, digits and"},
    {AZRULE "when: [{key: \"request.headers[x-a]\", values: [a]},\n"
	    "               {key: \"request.headers[X-A]\", values: [b]}]\n",
     "17:16: header x-a is in when twice"},
    {AZRULE "when: [{key: \"request.headers[x-a]\", values: [\"a*b\"]}]\n",
     "16:55: the value of header x-a may hold one '*', at its start or its end"},
    {AZRULE "when: [{key: \"request.headers[x-a]\", notValues: [a]}]\n",
     "16:46: unknown key 'notValues' in a when condition (known: key, values)"},
    {AUTHZ "    targetRefs: [{name: web}]\n  - name: p\n    targetRefs: [{name: web-v2}]\n",
     "15:5: authorizationPolicy default/p is defined twice (first at line 13)"},
};

/* Each mistake: -EINVAL, "t.yaml:LINE:COL: message", nothing kept. */
static void mistakes_are_refused_at_their_node(void **state)
{
	size_t i;
	int wrong = 0;

	(void)state;
	for (i = 0; i < sizeof(bad_l7) / sizeof(bad_l7[0]); i++) {
		char text[2048], want[512];
		struct mesh_config cfg;
		struct cfg_error err = {0};
		int rc;

		snprintf(text, sizeof(text), "%s%s", BASE, bad_l7[i].body);
		snprintf(want, sizeof(want), "t.yaml:%s", bad_l7[i].want);
		rc = mesh_config_parse(&cfg, "t.yaml", text, strlen(text), &err);
		if (rc != -EINVAL || strncmp(err.msg, want, strlen(want)) || cfg.services ||
		    cfg.authz_policies || !bad_l7[i].want[0]) {
			print_error("case %zu:\n  expected %s\n  got      %d %s\n", i, want, rc,
				    err.msg);
			wrong++;
		}
		if (!rc)
			mesh_config_free(&cfg);
	}
	assert_int_equal(wrong, 0);
}

/* An authorization policy puts every TCP port of the Services it targets
 * on the L7 proxy, and no other. */
static void authz_targets_are_l7_ports(void **state)
{
	static const char *const text =
	    "apiVersion: shunt.dev/v1\n"
	    "services:\n"
	    "  - {name: a, virtualIPs: [10.96.0.1], ports: [{port: 80}, {port: 81},\n"
	    "     {port: 53, protocol: UDP}]}\n"
	    "  - {name: b, virtualIPs: [10.96.0.2], ports: [{port: 80}]}\n"
	    "  - {name: a, namespace: prod, virtualIPs: [10.96.0.3], ports: [{port: 80}]}\n"
	    "authorizationPolicies:\n"
	    "  - {name: p, targetRefs: [{name: a}], action: DENY}\n";
	const struct cfg_service *a, *b, *prod_a;
	struct mesh_config cfg;
	struct cfg_error err;

	(void)state;
	assert_int_equal(mesh_config_parse(&cfg, "t.yaml", text, strlen(text), &err), 0);
	assert_non_null(a = cfg_service_find(&cfg, "default", "a"));
	assert_non_null(b = cfg_service_find(&cfg, "default", "b"));
	assert_non_null(prod_a = cfg_service_find(&cfg, "prod", "a"));
	assert_true(cfg_service_port_is_l7(&cfg, a, &a->ports[0]));
	assert_true(cfg_service_port_is_l7(&cfg, a, &a->ports[1]));
	assert_false(cfg_service_port_is_l7(&cfg, a, &a->ports[2]));	       /* UDP */
	assert_false(cfg_service_port_is_l7(&cfg, b, &b->ports[0]));	       /* not targeted */
	assert_false(cfg_service_port_is_l7(&cfg, prod_a, &prod_a->ports[0])); /* other ns */
	/* Without the policy, a's ports are plain TCP. */
	cfg.nauthz_policies = 0;
	assert_false(cfg_service_port_is_l7(&cfg, a, &a->ports[0]));
	cfg.nauthz_policies = 1;
	mesh_config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(a_full_l7_config_parses_field_by_field),
	    cmocka_unit_test(without_l7_policies_nothing_is_set),
	    cmocka_unit_test(mistakes_are_refused_at_their_node),
	    cmocka_unit_test(authz_targets_are_l7_ports),
	};

	return cmocka_run_group_tests_name("config_l7_policy", tests, NULL, NULL);
}
