// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * HTTPRoute status without an API server (sources/k8s_route_status.c):
 * what the translation made of each route (its outcome, with the parser's
 * reason), our status.parents entries from it, merged with a status that
 * other controllers write too.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "k8s_fixture.h"
#include "sources/k8s_impl.h"

static int no_locate(void *ctx, const json_t *pod, struct k8s_pod_paths *out)
{
	(void)ctx;
	(void)pod;
	(void)out;
	return -ENOENT;
}

#define ROUTE(name, refs, rules)                                                                   \
	"{\"metadata\":{\"name\":\"" name "\",\"namespace\":\"x\",\"uid\":\"u-" name               \
	"\",\"generation\":3},\"spec\":{\"parentRefs\":" refs ",\"rules\":" rules "}}"
#define WEB  "{\"group\":\"\",\"kind\":\"Service\",\"name\":\"web\",\"port\":80}"
#define EDGE "{\"group\":\"gateway.networking.k8s.io\",\"kind\":\"Gateway\",\"name\":\"edge\"}"

/* "TYPE:STATUS:REASON ..." of OUTCOME's conditions. */
static void conds_of(const json_t *outcome, char *buf, size_t len)
{
	json_t *c;
	size_t i, n = 0;

	buf[0] = 0;
	json_array_foreach(json_object_get(outcome, "conditions"), i, c) n +=
	    (size_t)snprintf(buf + n, len - n, "%s%s:%s:%s", i ? " " : "", k8s_str(c, "type"),
			     k8s_str(c, "status"), k8s_str(c, "reason"));
}

static const struct cfg_http_route *route_named(const struct mesh_config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->nhttp_routes; i++)
		if (!strcmp(cfg->http_routes[i].name, name))
			return &cfg->http_routes[i];
	fail_msg("no route %s", name);
	return NULL;
}

/* Each route's outcome from the translation, its reasons the parser's: a
 * route the model cannot hold is left out, one whose backendRefs do not
 * all resolve is kept with them marked (the Gateway API's 500s). */
static void outcomes_say_why_a_route_is_left_out_or_half_resolved(void **state)
{
	json_t *c[K8S_KINDS], *outcomes = json_object();
	struct k8s_translate_opts opts = {
	    .node = "n1", .locate = no_locate, .route_outcomes = outcomes};
	struct mesh_config cfg;
	struct cfg_error err;
	char buf[300];
	size_t i;

	(void)state;
	for (i = 0; i < K8S_KINDS; i++)
		c[i] = json_object();
	json_object_set_new(
	    c[K8S_SERVICES], "x/web",
	    k8s_fix_obj("{\"metadata\":{\"name\":\"web\",\"namespace\":\"x\"},\"spec\":{"
			"\"clusterIP\":\"10.96.0.5\",\"ports\":[{\"port\":80}]}}"));
	json_object_set_new(
	    c[K8S_HTTPROUTES], "x/good",
	    k8s_fix_obj(ROUTE("good", "[" EDGE "," WEB "]",
			      "[{\"backendRefs\":[{\"name\":\"web\",\"port\":80}]}]")));
	json_object_set_new(
	    c[K8S_HTTPROUTES], "x/sticky",
	    k8s_fix_obj(ROUTE("sticky", "[" WEB "]",
			      "[{\"sessionPersistence\":{},\"backendRefs\":[{\"name\":"
			      "\"nope\",\"port\":80}]}]")));
	json_object_set_new(
	    c[K8S_HTTPROUTES], "x/kind",
	    k8s_fix_obj(
		ROUTE("kind", "[" WEB "]",
		      "[{\"backendRefs\":[{\"kind\":\"Pod\",\"name\":\"a\",\"port\":80}]}]")));
	json_object_set_new(
	    c[K8S_HTTPROUTES], "x/far",
	    k8s_fix_obj(
		ROUTE("far", "[" WEB "]",
		      "[{\"backendRefs\":[{\"namespace\":\"y\",\"name\":\"web\",\"port\":80}]}]")));
	json_object_set_new(
	    c[K8S_HTTPROUTES], "x/orphan",
	    k8s_fix_obj(
		ROUTE("orphan", "[{\"kind\":\"Service\",\"name\":\"gone\",\"port\":80}]", "[]")));
	json_object_set_new(c[K8S_HTTPROUTES], "x/half",
			    k8s_fix_obj(ROUTE("half", "[" WEB "]",
					      "[{\"backendRefs\":[{\"name\":\"web\",\"port\":80},"
					      "{\"name\":\"nope\",\"port\":80,\"weight\":2}]}]")));
	json_object_set_new(c[K8S_HTTPROUTES], "x/edge",
			    k8s_fix_obj(ROUTE("edge", "[" EDGE "]", "[]")));
	assert_int_equal(k8s_translate(c, &opts, &cfg, &err), 0);
	/* the good one, though it names a Gateway too, and those whose
	 * backendRefs do not all resolve; the Gateway's own not */
	assert_int_equal(cfg.nhttp_routes, 4);
	assert_false(route_named(&cfg, "good")->rules[0].backends[0].unresolved);
	/* sticky, orphan left out; kind, far, half kept, said */
	assert_int_equal(cfg.nwarnings, 5);
	conds_of(json_object_get(outcomes, "x/good"), buf, sizeof(buf));
	assert_string_equal(buf, "Accepted:True:Accepted ResolvedRefs:True:ResolvedRefs");
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(outcomes, "x/good"), "generation")),
	    3);
	/* the refs are checked whatever else is wrong */
	conds_of(json_object_get(outcomes, "x/sticky"), buf, sizeof(buf));
	assert_string_equal(buf,
			    "Accepted:False:UnsupportedValue ResolvedRefs:False:BackendNotFound");
	conds_of(json_object_get(outcomes, "x/kind"), buf, sizeof(buf));
	assert_string_equal(buf, "Accepted:True:Accepted ResolvedRefs:False:InvalidKind");
	assert_true(route_named(&cfg, "kind")->rules[0].backends[0].unresolved);
	assert_int_equal(route_named(&cfg, "kind")->rules[0].backends[0].unresolved_why,
			 CFG_FAIL_BACKEND_KIND);
	conds_of(json_object_get(outcomes, "x/far"), buf, sizeof(buf));
	assert_string_equal(buf, "Accepted:True:Accepted ResolvedRefs:False:RefNotPermitted");
	assert_int_equal(route_named(&cfg, "far")->rules[0].backends[0].unresolved_why,
			 CFG_FAIL_BACKEND_NAMESPACE);
	/* one of two: kept with its weight, marked; the other as ever */
	conds_of(json_object_get(outcomes, "x/half"), buf, sizeof(buf));
	assert_string_equal(buf, "Accepted:True:Accepted ResolvedRefs:False:BackendNotFound");
	assert_int_equal(route_named(&cfg, "half")->rules[0].nbackends, 2);
	assert_false(route_named(&cfg, "half")->rules[0].backends[0].unresolved);
	assert_true(route_named(&cfg, "half")->rules[0].backends[1].unresolved);
	assert_int_equal(route_named(&cfg, "half")->rules[0].backends[1].unresolved_why,
			 CFG_FAIL_BACKEND_NOT_FOUND);
	assert_int_equal(route_named(&cfg, "half")->rules[0].backends[1].weight, 2);
	assert_string_equal(route_named(&cfg, "half")->rules[0].backends[1].service, "nope");
	assert_string_equal(
	    k8s_str(json_array_get(
			json_object_get(json_object_get(outcomes, "x/half"), "conditions"), 1),
		    "message"),
	    "backendRef: service x/nope is not defined");
	conds_of(json_object_get(outcomes, "x/orphan"), buf, sizeof(buf));
	assert_string_equal(buf, "Accepted:False:NoMatchingParent ResolvedRefs:True:ResolvedRefs");
	/* the parser's words, without the place in a document made here */
	assert_string_equal(
	    k8s_str(json_array_get(
			json_object_get(json_object_get(outcomes, "x/orphan"), "conditions"), 0),
		    "message"),
	    "left out of the mesh's routes, whole: parentRef: service x/gone is not defined");
	mesh_config_free(&cfg);
	for (i = 0; i < K8S_KINDS; i++)
		json_decref(c[i]);
	json_decref(outcomes);
}

static json_t *good_outcome(const json_t *route, bool accepted)
{
	struct k8s_route_verdict v = {.accepted = accepted,
				      .why = CFG_FAIL_PARENT_NOT_FOUND,
				      .msg = "gone",
				      .refs_resolved = true};

	return k8s_route_outcome(route, &v);
}

#define OLD_OURS(ref, status, when)                                                                \
	"{\"controllerName\":\"shunt.dev/mesh\",\"parentRef\":" ref ",\"conditions\":["            \
	"{\"type\":\"Accepted\",\"status\":\"" status "\",\"reason\":\"x\",\"message\":\"\","      \
	"\"observedGeneration\":2,\"lastTransitionTime\":\"" when "\"}]}"
#define OTHERS "{\"controllerName\":\"example.net/gw\",\"parentRef\":" EDGE ",\"conditions\":[]}"
#define GONE   "{\"group\":\"\",\"kind\":\"Service\",\"name\":\"old\"}"

/* Ours: one per Service parent, the times of unchanged statuses kept;
 * merged: the other controller's kept, a parent no longer named gone. */
static void ours_merge_with_the_others(void **state)
{
	json_t *route = k8s_fix_obj(ROUTE("r", "[" EDGE "," WEB "]", "[]"));
	json_t *outcome = good_outcome(route, true), *ours, *merged, *again, *e, *c;
	bool changed = false;

	(void)state;
	json_object_set_new(
	    route, "status",
	    k8s_fix_obj("{\"parents\":[" OTHERS
			"," OLD_OURS(WEB, "True", "2026-01-01T00:00:00Z") "," OLD_OURS(
			    GONE, "True", "2026-01-01T00:00:00Z") "]}"));
	ours = k8s_route_status_ours(route, outcome, "2026-05-05T05:05:05Z");
	assert_non_null(ours);
	assert_int_equal(json_array_size(ours), 1);
	e = json_array_get(ours, 0);
	assert_string_equal(k8s_str(e, "controllerName"), K8S_CONTROLLER_NAME);
	c = k8s_fix_obj(WEB);
	assert_true(json_equal(json_object_get(e, "parentRef"), c));
	json_decref(c);
	c = json_array_get(json_object_get(e, "conditions"), 0);
	assert_string_equal(k8s_str(c, "lastTransitionTime"), "2026-01-01T00:00:00Z");
	assert_int_equal(json_integer_value(json_object_get(c, "observedGeneration")), 3);
	c = json_array_get(json_object_get(e, "conditions"), 1); /* new: now */
	assert_string_equal(k8s_str(c, "type"), "ResolvedRefs");
	assert_string_equal(k8s_str(c, "lastTransitionTime"), "2026-05-05T05:05:05Z");

	merged = k8s_route_status_merge(
	    json_object_get(json_object_get(route, "status"), "parents"), ours, &changed);
	assert_true(changed);
	assert_int_equal(json_array_size(merged), 2);
	assert_string_equal(k8s_str(json_array_get(merged, 0), "controllerName"), "example.net/gw");
	assert_true(json_equal(json_array_get(merged, 1), e));
	/* written: nothing more to write, at any later time */
	json_object_set(json_object_get(route, "status"), "parents", merged);
	json_decref(ours);
	ours = k8s_route_status_ours(route, outcome, "2026-06-06T06:06:06Z");
	again = k8s_route_status_merge(merged, ours, &changed);
	assert_false(changed);
	assert_true(json_equal(again, merged));
	json_decref(again);
	json_decref(merged);
	json_decref(ours);
	json_decref(outcome);
	json_decref(route);
}

/* A condition whose status changed takes the time now; an outcome of
 * another generation or object makes nothing. */
static void a_new_status_takes_a_new_time(void **state)
{
	json_t *route = k8s_fix_obj(ROUTE("r", "[" WEB "]", "[]"));
	json_t *outcome = good_outcome(route, true), *ours, *other;

	(void)state;
	json_object_set_new(
	    route, "status",
	    k8s_fix_obj("{\"parents\":[" OLD_OURS(WEB, "False", "2026-01-01T00:00:00Z") "]}"));
	ours = k8s_route_status_ours(route, outcome, "2026-05-05T05:05:05Z");
	assert_string_equal(
	    k8s_str(json_array_get(json_object_get(json_array_get(ours, 0), "conditions"), 0),
		    "lastTransitionTime"),
	    "2026-05-05T05:05:05Z");
	json_decref(ours);
	json_object_set_new(json_object_get(route, "metadata"), "generation", json_integer(4));
	assert_null(k8s_route_status_ours(route, outcome, "2026-05-05T05:05:05Z"));
	other = k8s_fix_obj(ROUTE("r", "[" WEB "]", "[]"));
	json_object_set_new(json_object_get(other, "metadata"), "uid", json_string("u-new"));
	assert_null(k8s_route_status_ours(other, outcome, "2026-05-05T05:05:05Z"));
	json_decref(other);
	json_decref(outcome);
	json_decref(route);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(outcomes_say_why_a_route_is_left_out_or_half_resolved),
	    cmocka_unit_test(ours_merge_with_the_others),
	    cmocka_unit_test(a_new_status_takes_a_new_time),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
