// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A pod's telemetry annotations (k8s_pod_telemetry.c) in its workload, and
 * through the model's JSON to the proxies: the Kubernetes source's
 * per-workload accessLog and tracing overrides.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
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
		assert_non_null(strstr(cfg.warnings[2], "the mesh's setting applies"));
		mesh_config_free(&cfg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(annotations_override_the_mesh_for_their_pod),
	    cmocka_unit_test(a_bad_value_is_a_warning_and_the_mesh_applies),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
