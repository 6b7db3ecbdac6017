// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "k8s_fixture.h"

json_t *k8s_fix_obj(const char *text)
{
	json_error_t jerr;
	json_t *o = json_loads(text, 0, &jerr);

	if (!o)
		fail_msg("bad test JSON at %d: %s", jerr.position, jerr.text);
	return o;
}

void k8s_fix_empty(json_t *caches[K8S_KINDS])
{
	size_t i;

	for (i = 0; i < K8S_KINDS; i++)
		caches[i] = json_object();
}

void k8s_fix_put(json_t *cache, const char *key, const char *text)
{
	json_object_set_new(cache, key, k8s_fix_obj(text));
}

int k8s_fix_locate(void *ctx, const json_t *pod, struct k8s_pod_paths *out)
{
	const char *name = k8s_str(pod, "metadata.name");

	(void)ctx;
	if (!strncmp(name, "lost", 4)) {
		snprintf(out->why, sizeof(out->why), "no process in /cg/%s", name);
		return -ENOENT;
	}
	snprintf(out->cgroup, sizeof(out->cgroup), "/cg/%s", name);
	snprintf(out->netns, sizeof(out->netns), "/ns/%s", name);
	return 0;
}

int k8s_fix_translate(json_t *caches[K8S_KINDS], struct mesh_config *cfg, struct cfg_error *err)
{
	struct k8s_translate_opts opts = {
	    .node = "n1", .trust_domain = "example.org", .locate = k8s_fix_locate};
	int ret = k8s_translate(caches, &opts, cfg, err);
	size_t i;

	for (i = 0; i < K8S_KINDS; i++)
		json_decref(caches[i]);
	return ret;
}

const struct cfg_workload *k8s_fix_workload(const struct mesh_config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->nworkloads; i++)
		if (!strcmp(cfg->workloads[i].name, name))
			return &cfg->workloads[i];
	return NULL;
}
