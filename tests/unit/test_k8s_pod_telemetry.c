// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A pod's telemetry annotations (k8s_pod_telemetry.c) and Istio's Telemetry
 * objects (k8s_telemetry.c) in its workload, and through the model's JSON to
 * the proxies: the Kubernetes source's per-workload accessLog and tracing
 * overrides.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "k8s_fixture.h"
#include "model/model_json.h"

/* A Ready pod of namespace x on NODE with ANNOTATIONS (JSON members). */
#define POD(name, node, ip, annotations)                                                           \
	"{\"metadata\":{\"name\":\"" name "\",\"namespace\":\"x\",\"uid\":\"u-" name               \
	"\",\"annotations\":{" annotations "}},\"spec\":{\"nodeName\":\"" node "\"},"              \
	"\"status\":{\"phase\":\"Running\",\"podIP\":\"" ip "\",\"conditions\":"                   \
	"[{\"type\":\"Ready\",\"status\":\"True\"}]}}"

static void annotations_override_the_mesh_for_their_pod(void **state)
{
	json_t *c[K8S_KINDS];
	struct mesh_config cfg, back;
	const struct cfg_workload *w;
	struct cfg_error err;
	__u64 version;
	double rate;
	char *json;
	size_t len;

	(void)state;
	k8s_fix_empty(c);
	k8s_fix_put(c[K8S_NAMESPACES], "x", "{\"metadata\":{\"name\":\"x\"}}");
	k8s_fix_put(c[K8S_PODS_LOCAL], "x/web",
		    POD("web", "n1", "10.0.0.1",
			"\"shunt.dev/access-log\":\"false\",\"shunt.dev/trace-sampling\":\"1\""));
	k8s_fix_put(c[K8S_PODS_REMOTE], "x/db",
		    POD("db", "n2", "10.0.1.1", "\"shunt.dev/access-log-sampling\":\"0.25\""));
	k8s_fix_put(c[K8S_PODS_REMOTE], "x/plain", POD("plain", "n2", "10.0.1.2", ""));
	k8s_fix_put(c[K8S_PODS_REMOTE], "x/api",
		    POD("api", "n2", "10.0.1.3", "\"shunt.dev/access-log\":\"true\""));
	assert_int_equal(k8s_fix_translate(c, &cfg, &err), 0);
	assert_int_equal(cfg.nwarnings, 0);
	assert_non_null(w = k8s_fix_workload(&cfg, "web"));
	assert_true(w->access_log.has_enabled);
	assert_false(w->access_log.enabled);
	assert_false(w->access_log.has_sampling);
	assert_true(w->tracing.has_sampling);
	assert_true(w->tracing.sampling == 1);
	assert_non_null(w = k8s_fix_workload(&cfg, "db"));
	assert_false(w->access_log.has_enabled);
	assert_true(w->access_log.has_sampling);
	assert_true(w->access_log.sampling == 0.25);
	assert_false(w->tracing.has_sampling);
	assert_non_null(w = k8s_fix_workload(&cfg, "plain"));
	assert_false(w->access_log.has_enabled || w->access_log.has_sampling ||
		     w->tracing.has_sampling);
	assert_false(cfg_access_log_for(&cfg, w, &rate)); /* off mesh-wide, as without settings */
	/* turned on for one pod, with no settings: every request, as a config
	 * file's accessLog without sampling */
	assert_non_null(w = k8s_fix_workload(&cfg, "api"));
	assert_true(cfg_access_log_for(&cfg, w, &rate));
	assert_true(rate == 1);
	/* what the proxies read */
	assert_int_equal(mesh_model_to_json(&cfg, 1, &json, &len), 0);
	assert_int_equal(mesh_model_from_json(&back, &version, json, len, &err), 0);
	free(json);
	assert_non_null(w = k8s_fix_workload(&back, "web"));
	assert_true(w->access_log.has_enabled && !w->access_log.enabled);
	assert_true(w->tracing.has_sampling && w->tracing.sampling == 1);
	mesh_config_free(&back);
	mesh_config_free(&cfg);
}

/* Telemetry is not worth refusing the snapshot: a warning, and the mesh's
 * setting. */
static void a_bad_value_is_a_warning_and_the_mesh_applies(void **state)
{
	static const char *const bad[] = {"yes", "1.5", "-0",  " 0.5", "0.5x", "nan",
					  "",	 "+1",	"0x1", "1e0",  "."};
	struct mesh_config cfg;
	const struct cfg_workload *w;
	struct cfg_error err;
	json_t *c[K8S_KINDS];
	char pod[1024], ann[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		k8s_fix_empty(c);
		snprintf(ann, sizeof(ann),
			 "\"shunt.dev/access-log\":\"%s\",\"shunt.dev/access-log-sampling\":\"%s\","
			 "\"shunt.dev/trace-sampling\":\"%s\"",
			 bad[i], bad[i], bad[i]);
		snprintf(pod, sizeof(pod), POD("web", "n2", "10.0.1.1", "%s"), ann);
		k8s_fix_put(c[K8S_PODS_REMOTE], "x/web", pod);
		assert_int_equal(k8s_fix_translate(c, &cfg, &err), 0);
		assert_non_null(w = k8s_fix_workload(&cfg, "web"));
		assert_false(w->access_log.has_enabled || w->access_log.has_sampling ||
			     w->tracing.has_sampling);
		assert_int_equal(cfg.nwarnings, 3);
		assert_non_null(
		    strstr(cfg.warnings[0], "Pod/x/web: annotation shunt.dev/access-log "));
		assert_non_null(strstr(cfg.warnings[1], "shunt.dev/access-log-sampling"));
		assert_non_null(
		    strstr(cfg.warnings[2], "its Telemetry's or the mesh's setting applies"));
		mesh_config_free(&cfg);
	}
}

/* A Ready pod NS/NAME on n2 with LABELS and ANNOTATIONS (JSON members). */
static void put_pod(json_t *c[K8S_KINDS], const char *ns, const char *name, const char *ip,
		    const char *labels, const char *annotations)
{
	char key[128], text[1024];

	snprintf(key, sizeof(key), "%s/%s", ns, name);
	snprintf(text, sizeof(text),
		 "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"%s\",\"uid\":\"u-%s\","
		 "\"labels\":{%s},\"annotations\":{%s}},\"spec\":{\"nodeName\":\"n2\"},"
		 "\"status\":{\"phase\":\"Running\",\"podIP\":\"%s\",\"conditions\":"
		 "[{\"type\":\"Ready\",\"status\":\"True\"}]}}",
		 name, ns, name, labels, annotations, ip);
	k8s_fix_put(c[K8S_PODS_REMOTE], key, text);
}

/* A Telemetry NS/NAME made at minute MIN with SPEC (a JSON object). */
static void put_telemetry(json_t *c[K8S_KINDS], const char *ns, const char *name, int min,
			  const char *spec)
{
	char key[128], text[1024];

	snprintf(key, sizeof(key), "%s/%s", ns, name);
	snprintf(text, sizeof(text),
		 "{\"apiVersion\":\"telemetry.istio.io/v1\",\"kind\":\"Telemetry\","
		 "\"metadata\":{\"name\":\"%s\",\"namespace\":\"%s\",\"creationTimestamp\":"
		 "\"2026-12-01T10:%02d:00Z\"},\"spec\":%s}",
		 name, ns, min, spec);
	k8s_fix_put(c[K8S_TELEMETRIES], key, text);
}

static bool has_warning(const struct mesh_config *cfg, const char *start, const char *part)
{
	size_t i;

	for (i = 0; i < cfg->nwarnings; i++)
		if (!strncmp(cfg->warnings[i], start, strlen(start)) &&
		    strstr(cfg->warnings[i], part))
			return true;
	return false;
}

/* Istio's three levels: the root namespace's (every pod), a namespace's,
 * and a selector's in the pod's namespace, the more specific winning field
 * by field and the oldest within a level; annotations over them all; one
 * that targets a Gateway applies to none; what is not read, a warning. */
static void telemetry_objects_apply_at_istios_three_levels(void **state)
{
	const struct cfg_workload *w;
	struct mesh_config cfg;
	struct cfg_error err;
	json_t *c[K8S_KINDS];

	(void)state;
	k8s_fix_empty(c);
	put_telemetry(c, "istio-system", "mesh-default", 0,
		      "{\"tracing\":[{\"randomSamplingPercentage\":10}]}");
	put_telemetry(c, "x", "namespace-logs", 1, "{\"accessLogging\":[{\"disabled\":true}]}");
	put_telemetry(c, "x", "web", 2,
		      "{\"selector\":{\"matchLabels\":{\"app\":\"web\"}},"
		      "\"tracing\":[{\"randomSamplingPercentage\":100}],\"accessLogging\":[{}]}");
	put_telemetry(c, "x", "a-web-later", 3,
		      "{\"selector\":{\"matchLabels\":{\"app\":\"web\"}},"
		      "\"tracing\":[{\"randomSamplingPercentage\":50}],\"metrics\":[{}]}");
	put_telemetry(c, "y", "gateway", 0,
		      "{\"targetRefs\":[{\"kind\":\"Gateway\",\"name\":\"gw\"}],"
		      "\"tracing\":[{\"randomSamplingPercentage\":100}]}");
	put_telemetry(c, "y", "odd", 4,
		      "{\"selector\":{\"matchLabels\":{\"app\":\"db\"}},"
		      "\"tracing\":[{\"randomSamplingPercentage\":150,\"customTags\":{}}]}");
	put_telemetry(c, "z", "elsewhere", 0, "{\"accessLogging\":[{\"disabled\":true}]}");
	put_pod(c, "x", "web", "10.0.1.1", "\"app\":\"web\"", "");
	put_pod(c, "x", "web-own", "10.0.1.2", "\"app\":\"web\"",
		"\"shunt.dev/trace-sampling\":\"0.2\",\"shunt.dev/access-log\":\"false\"");
	put_pod(c, "x", "api", "10.0.1.3", "\"app\":\"api\"", "");
	put_pod(c, "y", "db", "10.0.1.4", "\"app\":\"db\"", "");
	assert_int_equal(k8s_fix_translate(c, &cfg, &err), 0);

	/* the selector's, older of two (100, not 50), over the namespace's log off */
	assert_non_null(w = k8s_fix_workload(&cfg, "web"));
	assert_true(w->tracing.has_sampling && w->tracing.sampling == 1);
	assert_true(w->access_log.has_enabled && w->access_log.enabled);
	/* its annotations over every Telemetry */
	assert_non_null(w = k8s_fix_workload(&cfg, "web-own"));
	assert_true(w->tracing.has_sampling && w->tracing.sampling == 0.2);
	assert_true(w->access_log.has_enabled && !w->access_log.enabled);
	/* the namespace's log off, the root namespace's share */
	assert_non_null(w = k8s_fix_workload(&cfg, "api"));
	assert_true(w->tracing.has_sampling && w->tracing.sampling == 0.1);
	assert_true(w->access_log.has_enabled && !w->access_log.enabled);
	/* y: the Gateway's applies to no pod, 150% is no share, z's not here */
	assert_non_null(w = k8s_fix_workload(&cfg, "db"));
	assert_true(w->tracing.has_sampling && w->tracing.sampling == 0.1);
	assert_false(w->access_log.has_enabled);

	assert_true(has_warning(&cfg, "Telemetry/x/a-web-later", "metrics are not read"));
	assert_true(has_warning(&cfg, "Telemetry/y/gateway", "targetRef(s) are not read"));
	assert_true(has_warning(&cfg, "Telemetry/y/odd", "customTags is not read"));
	assert_true(has_warning(&cfg, "Telemetry/y/odd", "from 0 to 100 (ignored)"));
	assert_int_equal(cfg.nwarnings, 4);
	mesh_config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(annotations_override_the_mesh_for_their_pod),
	    cmocka_unit_test(a_bad_value_is_a_warning_and_the_mesh_applies),
	    cmocka_unit_test(telemetry_objects_apply_at_istios_three_levels),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
