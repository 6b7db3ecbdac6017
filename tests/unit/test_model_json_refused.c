// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * What is not a model this shunt wrote is refused (model/model_json.h):
 * -EINVAL with a message that says where, an empty config, never a crash,
 * whatever part of a real model is broken. Run from the repository root.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "model/mesh_config.h"
#include "model/model_json.h"
#include "sources/yaml_source.h"

#define EXAMPLE "tests/configs/valid/example.yaml"
#define ROUTES	"tests/configs/valid/http-routes.yaml"
#define L7	"tests/configs/valid/l7-policies.yaml"

/* Nodes with and without a proxy, every proxy field. */
static const char *const nodes_yaml =
    "apiVersion: shunt.dev/v1\n"
    "nodes:\n"
    "  - name: n1\n"
    "    proxy: {outbound: \"10.100.0.1:15001\", outbound6: "
    "\"[fd00::1]:15001\",\n"
    "            inbound: \"10.99.0.1:15008\", netns: /run/netns/px,\n"
    "            cgroup: /sys/fs/cgroup/px, sourceAddress: node}\n"
    "  - name: n2\n";

/* TEXT is refused with -EINVAL, a message containing WANT, an empty model. */
static int refused(const char *text, const char *want)
{
	struct mesh_config cfg;
	struct cfg_error err = {0};
	__u64 version;
	int rc;

	memset(&cfg, 0xa5, sizeof(cfg));
	rc = mesh_model_from_json(&cfg, &version, text, strlen(text), &err);
	if (rc != -EINVAL || !strstr(err.msg, want) || cfg.workloads || cfg.arena.head) {
		print_error("%s\n  expected -EINVAL and '%s'\n  got      %d '%s'\n", text, want, rc,
			    err.msg);
		if (!rc)
			mesh_config_free(&cfg);
		return 1;
	}
	return 0;
}

static const char *const lists[] = {
    "nodes",	  "namespaces",		  "workloads", "services", "policies",
    "httpRoutes", "authorizationPolicies"};

/*
 * The model file of DOC, a model as one document (as --print-model prints
 * it): its other fields and the lists' lengths ("counts") as the header,
 * then one line per item. A list that is not an array stands in the
 * header for its count, as it is; a missing one counts 0.
 */
static char *seq_from_doc(json_t *doc)
{
	json_t *header = json_deep_copy(doc), *counts = json_object(), *list, *line;
	char *text = NULL, *s;
	size_t len = 0, k, i;
	FILE *out = open_memstream(&text, &len);

	assert_non_null(out);
	assert_non_null(header);
	for (k = 0; k < sizeof(lists) / sizeof(lists[0]); k++) {
		list = json_object_get(doc, lists[k]);
		json_object_set_new(counts, lists[k],
				    !list || json_is_array(list)
					? json_integer((json_int_t)json_array_size(list))
					: json_incref(list));
		json_object_del(header, lists[k]);
	}
	if (json_is_object(header))
		json_object_set_new(header, "counts", counts);
	else
		json_decref(counts);
	assert_non_null(s = json_dumps(header, JSON_COMPACT | JSON_ENCODE_ANY));
	fprintf(out, "%s\n", s);
	free(s);
	for (k = 0; k < sizeof(lists) / sizeof(lists[0]); k++) {
		list = json_object_get(doc, lists[k]);
		json_array_foreach(list, i, line)
		{
			assert_non_null(s = json_dumps(line, JSON_COMPACT | JSON_ENCODE_ANY));
			fprintf(out, "{\"%s\":%s}\n", lists[k], s);
			free(s);
		}
	}
	fclose(out);
	json_decref(header);
	return text;
}

/* TEXT, a model as one document, as a model file is refused with WANT. */
static int refused_doc(const char *doc_text, const char *want)
{
	json_t *doc = json_loads(doc_text, 0, NULL);
	char *text;
	int wrong;

	assert_non_null(doc);
	text = seq_from_doc(doc);
	wrong = refused(text, want);
	free(text);
	json_decref(doc);
	return wrong;
}

#define HEAD                                                                                       \
	"{\"model\":2,\"version\":3,\"trustDomain\":\"td\",\"mtls\":\"permissive\",\"warnings\":[" \
	"],"                                                                                       \
	"\"warningsDropped\":0,"
#define TAIL	    "\"services\":[],\"policies\":[],\"httpRoutes\":[],\"authorizationPolicies\":[]}"
#define EMPTY_LISTS "\"nodes\":[],\"namespaces\":[],"
#define WL(fields)  HEAD EMPTY_LISTS "\"workloads\":[{" fields "}]," TAIL
#define WL_OK_BUT(name, labels, addrs, ports, origin)                                              \
	WL("\"name\":" name ",\"namespace\":\"default\",\"serviceAccount\":\"sa\",\"node\":"       \
	   "\"n1\",\"labels\":" labels ",\"addresses\":" addrs ",\"ports\":" ports origin)
#define ORIGIN ",\"origin\":{\"line\":1,\"col\":1}"

static void malformed_models_are_refused_with_where(void **state)
{
	static const char *const addrs9 =
	    "[\"10.0.0.1\",\"10.0.0.2\",\"10.0.0.3\",\"10.0.0.4\",\"10.0.0.5\","
	    "\"10.0.0.6\",\"10.0.0.7\",\"10.0.0.8\",\"10.0.0.9\"]";
	static const char *const ok = WL_OK_BUT("\"a\"", "{}", "[\"10.0.0.1\"]", "[]", ORIGIN);
	struct mesh_config cfg;
	struct cfg_error err;
	char nine[1024], *text;
	json_t *doc;
	__u64 version;
	int wrong = 0;

	(void)state;
	/* The well-formed base is accepted: the cases below differ in one thing. */
	assert_non_null(doc = json_loads(ok, 0, NULL));
	text = seq_from_doc(doc);
	json_decref(doc);
	assert_int_equal(mesh_model_from_json(&cfg, &version, text, strlen(text), &err), 0);
	assert_int_equal(cfg.nworkloads, 1);
	mesh_config_free(&cfg);
	free(text);
	wrong += refused("", "model:1: empty");
	wrong += refused("\n\n", "model:3: empty");
	wrong += refused("{\"model\":2,", "model:1:");
	wrong += refused("[1]", "model:1: not a JSON object");
	wrong += refused("{}", "model:1: model: missing");
	wrong +=
	    refused("{\"model\":3,\"version\":1}", "model:1: model format 3, this shunt reads 2");
	wrong += refused("{\"model\":\"1\"}", "model:1: model: not an integer");
	wrong += refused("{\"model\":2,\"version\":-1}", "version: -1 is out of range");
	wrong += refused("{\"model\":2,\"version\":1}", "model:1: counts: missing");
	wrong += refused("{\"model\":2,\"version\":1,\"counts\":{\"nodes\":\"1\"}}",
			 "model:1: counts.nodes: not an integer");
	wrong += refused_doc(HEAD "\"nodes\":{}}", "model:1: counts.nodes: not an integer");
	wrong += refused_doc(HEAD EMPTY_LISTS "\"workloads\":[1]," TAIL,
			     "model:2: workloads[0]: not an object");
	wrong +=
	    refused_doc(WL("\"namespace\":\"default\""), "model:2: workloads[0].name: missing");
	wrong += refused_doc(WL_OK_BUT("5", "{}", "[]", "[]", ORIGIN),
			     "workloads[0].name: not a string");
	/* jansson refuses it (no JSON_ALLOW_NUL), on the item's line. */
	wrong += refused(
	    "{\"model\":2,\"version\":3,\"counts\":{\"nodes\":0,\"namespaces\":0,"
	    "\"workloads\":1,\"services\":0,\"policies\":0,\"httpRoutes\":0,"
	    "\"authorizationPolicies\":0},\"trustDomain\":\"td\",\"mtls\":\"permissive\","
	    "\"warnings\":[],\"warningsDropped\":0}\n{\"workloads\":{\"name\":\"a\\u0000b\"}}",
	    "workloads[0]: \\u0000 is not allowed");
	wrong += refused_doc(WL_OK_BUT("\"a\"", "{\"app\":1}", "[]", "[]", ORIGIN),
			     "workloads[0].labels.app: not a string");
	wrong += refused_doc(WL_OK_BUT("\"a\"", "[]", "[]", "[]", ORIGIN),
			     "workloads[0].labels: not an object");
	wrong += refused_doc(WL_OK_BUT("\"a\"", "{}", "[\"10.0.0.300\"]", "[]", ORIGIN),
			     "workloads[0].addresses[0]: '10.0.0.300' is not an IP address");
	wrong += refused_doc(WL_OK_BUT("\"a\"", "{}", "[\"10.0.0.0/8\"]", "[]", ORIGIN),
			     "'10.0.0.0/8' is not an address");
	snprintf(nine, sizeof(nine), WL_OK_BUT("\"a\"", "{}", "%s", "[]", ORIGIN), addrs9);
	wrong += refused_doc(nine, "workloads[0]: more than 8 addresses");
	wrong += refused_doc(
	    WL_OK_BUT("\"a\"", "{}", "[]", "[{\"port\":80,\"protocol\":\"ICMP\"}]", ORIGIN),
	    "workloads[0].ports[0].protocol: not TCP, UDP or SCTP");
	wrong += refused_doc(WL_OK_BUT("\"a\"", "{}", "[]", "[{\"port\":70000}]", ORIGIN),
			     "workloads[0].ports[0].port: 70000 is out of range (0 to 65535)");
	wrong += refused_doc(WL_OK_BUT("\"a\"", "{}", "[]", "[{\"port\":1.5}]", ORIGIN),
			     "ports[0].port: not an integer");
	wrong += refused_doc(WL_OK_BUT("\"Web_1\"", "{}", "[]", "[]", ORIGIN),
			     "workloads[0].name: 'Web_1' may only hold");
	wrong +=
	    refused_doc(WL_OK_BUT("\"a\"", "{}", "[]", "[]", ""), "workloads[0].origin: missing");
	wrong += refused_doc(WL_OK_BUT("\"a\"", "{}", "[]", "[]", ",\"origin\":{\"line\":1}"),
			     "workloads[0].origin.col: missing");
	wrong += refused("{\"model\":2,\"model\":2}", "duplicate");
	wrong += refused_doc("{\"model\":2,\"version\":3,\"trustDomain\":\"td\",\"mtls\":\"loud\"}",
			     "model:1: mtls: not one of");
	wrong += refused_doc(HEAD EMPTY_LISTS "\"workloads\":[],\"services\":[{\"name\":\"s\","
					      "\"namespace\":\"d\",\"vips\":[],\"ports\":[],"
					      "\"backends\":[{\"weight\":1}]}]}",
			     "model:2: services[0].backends[0].address: missing");
	wrong += refused_doc(HEAD EMPTY_LISTS
			     "\"workloads\":[],\"services\":[],\"policies\":[{"
			     "\"name\":\"p\",\"namespace\":\"d\",\"podSelector\":{"
			     "\"matchLabels\":{},\"matchExpressions\":[]},\"isolates\":{"
			     "\"ingress\":1}}]}",
			     "policies[0].isolates.ingress: not true or false");
	assert_int_equal(wrong, 0);
}

/* Sets the value at PATH ("a/0/b": keys and array indexes) of ROOT to V. */
static void set_at(json_t *root, const char *path, json_t *v)
{
	char buf[200], *part, *next, *save = NULL;
	json_t *node = root;

	snprintf(buf, sizeof(buf), "%s", path);
	part = strtok_r(buf, "/", &save);
	while ((next = strtok_r(NULL, "/", &save))) {
		node = json_is_array(node) ? json_array_get(node, strtoul(part, NULL, 10))
					   : json_object_get(node, part);
		assert_non_null(node);
		part = next;
	}
	if (json_is_array(node))
		assert_int_equal(json_array_set_new(node, strtoul(part, NULL, 10), v), 0);
	else
		assert_int_equal(json_object_set_new(node, part, v), 0);
}

struct change {
	const char *path, *json, *want;
};

/* The model of FILE with each change of CASES applied alone is refused,
 * the message naming the field; returns how many were not. */
static int each_change_refused(const char *file, const struct change *cases, size_t n)
{
	struct mesh_config cfg;
	struct cfg_error err;
	json_t *model;
	char *text;
	size_t i, len;
	int wrong = 0;

	assert_int_equal(mesh_config_load(&cfg, file, &err), 0);
	assert_int_equal(mesh_model_to_json_doc(&cfg, 1, &text, &len), 0);
	assert_non_null(model = json_loadb(text, len, 0, NULL));
	free(text);
	mesh_config_free(&cfg);
	for (i = 0; i < n; i++) {
		json_t *copy = json_deep_copy(model),
		       *v = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);

		assert_non_null(copy);
		assert_non_null(v);
		set_at(copy, cases[i].path, v);
		text = seq_from_doc(copy);
		wrong += refused(text, cases[i].want);
		free(text);
		json_decref(copy);
	}
	json_decref(model);
	return wrong;
}

#define R0 "httpRoutes/0/rules/0/"

/* The model of the routes example with one value changed is refused. */
static void malformed_routes_are_refused_with_where(void **state)
{
	static const struct change cases[] = {
	    {"httpRoutes/0/name", "\"Web\"", ": httpRoutes[0].name: 'Web' "},
	    {"httpRoutes/0/parentRefs", "[]", "httpRoutes[0].parentRefs: empty"},
	    {"httpRoutes/0/parentRefs/0/port", "65536", "parentRefs[0].port: 65536 is out of"},
	    {"httpRoutes/0/rules", "[]", "httpRoutes[0].rules: empty"},
	    {R0 "matches/0/path/type", "\"Prefix\"", "rules[0].matches[0].path.type: not one of"},
	    {R0 "matches/0/path/value", "\"api\"",
	     "matches[0].path.value: 'api' does not start with '/'"},
	    {"httpRoutes/0/rules/1/matches/0/path/value", "\"(\"",
	     "rules[1].matches[0].path.value: '(' is not a POSIX extended regex"},
	    {R0 "matches/0/method", "\"FETCH\"", "matches[0].method: 'FETCH' is not GET"},
	    {R0 "matches/0/headers/0/name", "\"x a\"", "headers[0].name: 'x a' is not an HTTP"},
	    {R0 "matches/0/queryParams/0/value", "\"[\"", "queryParams[0].value: '[' is not a"},
	    {R0 "requestHeaderModifier/set/0/value", "\"a\\r\\nb\"",
	     "requestHeaderModifier.set[0].value: 'a\r\nb' holds a control character"},
	    {R0 "responseHeaderModifier/remove/0", "\"\"",
	     "responseHeaderModifier.remove[0]: '' is"},
	    {R0 "backendRefs/0/weight", "1000001", "backendRefs[0].weight: 1000001 is out of"},
	    {R0 "backendRefs/0/port", "0", "backendRefs[0].port: 0 is not a port"},
	    {R0 "timeouts/backendRequestMs", "2001",
	     "rules[0].timeouts.backendRequestMs: longer than requestMs"},
	    {R0 "retry/attempts", "11", "rules[0].retry.attempts: 11 is out of range (0 to 10)"},
	    {R0 "retry/codes/0", "302", "retry.codes[0]: not a status code from 400 to 599"},
	    {R0 "origin", "{\"col\":1}", "rules[0].origin: neither a file position"},
	};

	(void)state;
	assert_int_equal(each_change_refused(ROUTES, cases, sizeof(cases) / sizeof(cases[0])), 0);
}

#define L0 "httpRoutes/0/rules/0/"
#define L1 "httpRoutes/0/rules/1/"
#define TP "services/0/trafficPolicy/"
#define AZ "authorizationPolicies/0/"

/* The model of the L7 policies example with one value changed is refused. */
static void malformed_l7_policies_are_refused_with_where(void **state)
{
	static const struct change cases[] = {
	    {L0 "fault/delay/percentage", "100.5", "fault.delay.percentage: not a number from 0"},
	    {L0 "fault/abort/percentage", "\"5\"", "fault.abort.percentage: not a number"},
	    {L0 "fault/abort/httpStatus", "199", "fault.abort.httpStatus: not 0 or a status"},
	    {L0 "fault/abort/grpcStatus", "\"UNAVAILABLE\"", "rules[0].fault.abort: both"},
	    {"httpRoutes/0/rules/2/fault/abort/grpcStatus", "\"NOPE\"",
	     "rules[2].fault.abort.grpcStatus: not one of OK ... UNAUTHENTICATED"},
	    {L0 "fault/delay", "null", "rules[0].fault.delay: not an object"},
	    {L0 "rateLimit/unitMs", "1001", "rules[0].rateLimit.unitMs: not a second"},
	    {L0 "rateLimit/burst", "0", "rules[0].rateLimit.burst: 0 with requestsPerUnit"},
	    {L0 "rateLimit/requestsPerUnit", "0", "rules[0].rateLimit: a unit or burst without"},
	    {L0 "urlRewrite", "{}", "rules[0].urlRewrite: neither hostname nor path"},
	    {L0 "urlRewrite/hostname", "\"Bad_Host\"", "urlRewrite.hostname: 'Bad_Host' may"},
	    {L0 "urlRewrite/path/type", "\"Prefix\"", "urlRewrite.path.type: not one of"},
	    {L0 "urlRewrite/path/value", "\"v2\"", "urlRewrite.path.value: 'v2' must start"},
	    {L0 "requestRedirect", "{\"port\":0,\"statusCode\":302}",
	     "rules[0].requestRedirect: a redirect in a rule with backendRefs"},
	    {L0 "requestMirror/percent", "101", "requestMirror.percent: not a number from 0"},
	    {L0 "requestMirror/percent", "12.5", "requestMirror.percent: not a whole number"},
	    {L0 "requestMirror/backendRef/port", "0", "requestMirror.backendRef.port: 0 is not"},
	    {L0 "requestMirror/backendRef/name", "\"Web\"", "backendRef.name: 'Web' may only"},
	    {L1 "requestRedirect/statusCode", "303", "requestRedirect.statusCode: 303 is out of"},
	    {L1 "requestRedirect/statusCode", "300", "requestRedirect.statusCode: not 301 or 302"},
	    {L1 "requestRedirect/scheme", "\"ftp\"", "requestRedirect.scheme: not one of"},
	    {L1 "requestRedirect/path/type", "\"ReplacePrefixMatch\"",
	     "rules[1].requestRedirect.path.type: ReplacePrefixMatch with a match that is no"},
	    {L1 "urlRewrite", "{\"hostname\":\"a.b\"}",
	     "rules[1].urlRewrite: a rewrite in a rule with a redirect"},
	    {TP "loadBalancer/simple", "\"LEAST_CONN\"", "loadBalancer.simple: not one of"},
	    {TP "connectionPool/tcp/maxConnections", "2147483648",
	     "trafficPolicy.connectionPool.tcp.maxConnections: 2147483648 is out of range"},
	    {TP "connectionPool/http", "[]", "trafficPolicy.connectionPool.http: not an object"},
	    {TP "outlierDetection/maxEjectionPercent", "101",
	     "outlierDetection.maxEjectionPercent: 101 is out of range (0 to 100)"},
	    {TP "outlierDetection/intervalMs", "0", "outlierDetection.intervalMs: 0 (at least"},
	    {AZ "name", "\"Web_Readers\"", "authorizationPolicies[0].name: 'Web_Readers'"},
	    {AZ "targetRefs", "[]", "authorizationPolicies[0].targetRefs: empty"},
	    {AZ "action", "\"AUDIT\"", "authorizationPolicies[0].action: not one of ALLOW"},
	    {AZ "rules/0/principals/0", "\"a/b\"", "rules[0].principals[0]: 'a/b' is not"},
	    {AZ "rules/0/namespaces/1", "\"p*d\"", "rules[0].namespaces[1]: 'p*d' may hold"},
	    {AZ "rules/0/methods/0", "\"FETCH\"", "rules[0].methods[0]: 'FETCH' is not GET"},
	    {AZ "rules/0/paths/0", "\"api\"", "rules[0].paths[0]: 'api' must start"},
	    {AZ "rules/0/when/0/header", "\"X-Token\"", "when[0].header: 'X-Token' is not lower"},
	    {AZ "rules/0/when/0/value", "\"a\\nb\"", "when[0].value: 'a\nb' holds a control"},
	    {AZ "rules/0/origin", "{\"col\":1}", "rules[0].origin: neither a file position"},
	};

	(void)state;
	assert_int_equal(each_change_refused(L7, cases, sizeof(cases) / sizeof(cases[0])), 0);
}

static json_t *replacement(int kind)
{
	switch (kind) {
	case 1:
		return json_null();
	case 2:
		return json_integer(-1);
	case 3:
		return json_integer(1);
	case 4:
		return json_string("x");
	default:
		return json_object();
	}
}

#define MUTATIONS 6 /* 0: delete, then the replacements above */

/* Applies mutation KIND at the *N-th value below NODE (depth first). */
static bool mutate_nth(json_t *node, size_t *n, int kind)
{
	const char *key;
	json_t *v;
	size_t i;

	if (json_is_object(node)) {
		json_object_foreach(node, key, v)
		{
			if ((*n)-- == 0)
				return kind ? !json_object_set_new(node, key, replacement(kind))
					    : !json_object_del(node, key);
			if (mutate_nth(v, n, kind))
				return true;
		}
	} else if (json_is_array(node)) {
		json_array_foreach(node, i, v)
		{
			if ((*n)-- == 0)
				return kind ? !json_array_set_new(node, i, replacement(kind))
					    : !json_array_remove(node, i);
			if (mutate_nth(v, n, kind))
				return true;
		}
	}
	return false;
}

/* A model file's lines as one array. */
static json_t *lines_of(const char *text)
{
	json_t *a = json_array(), *v;
	json_error_t jerr;
	size_t at = 0, len = strlen(text);

	assert_non_null(a);
	while (at < len - 1) {
		v = json_loadb(text + at, len - at, JSON_DISABLE_EOF_CHECK, &jerr);
		assert_non_null(v);
		assert_int_equal(json_array_append_new(a, v), 0);
		at += (size_t)jerr.position + 1; /* and its newline */
	}
	return a;
}

/* The array's items, one line each: what lines_of read. */
static char *text_of(json_t *a)
{
	char *text = NULL, *s;
	size_t len = 0, i;
	FILE *out = open_memstream(&text, &len);
	json_t *v;

	assert_non_null(out);
	json_array_foreach(a, i, v)
	{
		assert_non_null(s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY));
		fprintf(out, "%s\n", s);
		free(s);
	}
	fclose(out);
	return text;
}

/* Every value of a real model file (every line, every value in a line)
 * deleted or replaced by each JSON type: an answer (0, or -EINVAL with a
 * message), never a crash or a leak. */
static int mutate_everywhere(const struct mesh_config *src, int *accepted)
{
	size_t pos, n;
	int kind, bad = 0;
	char *text;
	json_t *orig;

	assert_int_equal(mesh_model_to_json(src, 1, &text, &n), 0);
	orig = lines_of(text);
	free(text);
	for (pos = 0;; pos++) {
		for (kind = 0; kind < MUTATIONS; kind++) {
			json_t *copy = json_deep_copy(orig);
			struct mesh_config cfg;
			struct cfg_error err = {0};
			char *again;
			__u64 version;
			size_t len, at = pos;
			int rc;

			assert_non_null(copy);
			if (!mutate_nth(copy, &at, kind)) {
				json_decref(copy);
				json_decref(orig);
				return bad;
			}
			text = text_of(copy);
			json_decref(copy);
			rc = mesh_model_from_json(&cfg, &version, text, strlen(text), &err);
			if (rc == 0) {
				(*accepted)++;
				bad += mesh_model_to_json(&cfg, version, &again, &len) != 0;
				free(again);
				mesh_config_free(&cfg);
			} else if (rc != -EINVAL || strncmp(err.msg, "model:", 6)) {
				print_error("%s\n  gave %d '%s'\n", text, rc, err.msg);
				bad++;
			}
			free(text);
		}
	}
}

static void no_change_to_a_model_crashes_the_reader(void **state)
{
	struct mesh_config cfg;
	struct cfg_error err;
	int bad = 0, accepted = 0;

	(void)state;
	assert_int_equal(mesh_config_load(&cfg, EXAMPLE, &err), 0);
	bad += mutate_everywhere(&cfg, &accepted);
	mesh_config_free(&cfg);
	assert_int_equal(mesh_config_parse(&cfg, "n.yaml", nodes_yaml, strlen(nodes_yaml), &err),
			 0);
	bad += mutate_everywhere(&cfg, &accepted);
	mesh_config_free(&cfg);
	assert_int_equal(mesh_config_load(&cfg, ROUTES, &err), 0);
	bad += mutate_everywhere(&cfg, &accepted);
	mesh_config_free(&cfg);
	assert_int_equal(mesh_config_load(&cfg, L7, &err), 0);
	bad += mutate_everywhere(&cfg, &accepted);
	mesh_config_free(&cfg);
	print_message("%d mutated models still valid\n", accepted);
	assert_int_equal(bad, 0);
}

/* Every truncation of a model file is refused: a line cut in two is no
 * JSON, one that ends between lines has fewer items than its header counts
 * (only the last newline may go). */
static void truncated_models_are_refused(void **state)
{
	struct mesh_config cfg, back;
	struct cfg_error err;
	size_t len, cut;
	char *text;
	__u64 version;
	int wrong = 0;

	(void)state;
	assert_int_equal(mesh_config_load(&cfg, EXAMPLE, &err), 0);
	assert_int_equal(mesh_model_to_json(&cfg, 9, &text, &len), 0);
	for (cut = 0; cut + 1 < len; cut += 3)
		if (mesh_model_from_json(&back, &version, text, cut, &err) != -EINVAL ||
		    back.arena.head)
			wrong++;
	assert_int_equal(mesh_model_from_json(&back, &version, text, len, &err), 0);
	mesh_config_free(&back);
	free(text);
	mesh_config_free(&cfg);
	assert_int_equal(wrong, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(malformed_models_are_refused_with_where),
	    cmocka_unit_test(malformed_routes_are_refused_with_where),
	    cmocka_unit_test(malformed_l7_policies_are_refused_with_where),
	    cmocka_unit_test(no_change_to_a_model_crashes_the_reader),
	    cmocka_unit_test(truncated_models_are_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
