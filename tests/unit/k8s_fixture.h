/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The Kubernetes source's translation on caches a test fills with JSON
 * objects (cmocka tests): pods are placed by a fake runtime (cgroup
 * /cg/NAME, netns /ns/NAME; a pod whose name starts with "lost" is not
 * found), node n1, trust domain example.org.
 */
#ifndef SHUNT_TESTS_K8S_FIXTURE_H
#define SHUNT_TESTS_K8S_FIXTURE_H

#include "sources/k8s_impl.h"

/* TEXT as JSON; the test fails on a typo. */
json_t *k8s_fix_obj(const char *text);
/* Every cache empty. */
void k8s_fix_empty(json_t *caches[K8S_KINDS]);
void k8s_fix_put(json_t *cache, const char *key, const char *text);
/* The fake runtime (the opts' locate). */
int k8s_fix_locate(void *ctx, const json_t *pod, struct k8s_pod_paths *out);
/* k8s_translate of CACHES (which it frees) into CFG. */
int k8s_fix_translate(json_t *caches[K8S_KINDS], struct mesh_config *cfg, struct cfg_error *err);
const struct cfg_workload *k8s_fix_workload(const struct mesh_config *cfg, const char *name);

#endif
