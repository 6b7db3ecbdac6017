// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The Kubernetes source's mesh-wide settings (--k8s-option
 * mesh-settings=FILE; in a cluster, the shunt-mesh ConfigMap mounted as a
 * file): a mesh config file holding only the keys no API object carries
 * (trustDomain, mtls, nodes, accessLog, tracing). It is read once, when
 * the source opens, with the file source's own parser and checks, so a bad
 * value stops the agent at start with FILE:LINE:COL and nothing applied;
 * every snapshot then gets a copy.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "k8s_impl.h"
#include "yaml_source.h"

int k8s_settings_load(const char *path, struct mesh_config *out, struct cfg_error *err)
{
	int ret;

	if ((ret = mesh_config_load(out, path, err)))
		return ret;
	/* What the API gives: never from the file, where it would go stale. */
	const struct {
		size_t n;
		const char *key;
	} from_api[] = {
	    {out->nnamespaces, "namespaces"},  {out->nworkloads, "workloads"},
	    {out->nservices, "services"},      {out->npolicies, "policies"},
	    {out->nhttp_routes, "httpRoutes"}, {out->nauthz_policies, "authorizationPolicies"},
	};
	for (size_t i = 0; i < sizeof(from_api) / sizeof(from_api[0]); i++) {
		if (!from_api[i].n)
			continue;
		snprintf(err->msg, sizeof(err->msg),
			 "%s: '%s' come from the Kubernetes API; the mesh settings hold only "
			 "trustDomain, mtls, nodes, accessLog and tracing",
			 path, from_api[i].key);
		goto invalid;
	}
	return 0;
invalid:
	mesh_config_free(out);
	return -EINVAL;
}

/* Strings into the snapshot's arena A: a snapshot outlives nothing it points to. */
static bool origin_copy(struct shunt_arena *a, struct cfg_origin *o)
{
	if (!o->file)
		return true;
	o->file = shunt_arena_strndup(a, o->file, strlen(o->file));
	return o->file;
}

static bool str_copy(struct shunt_arena *a, const char **s)
{
	if (!*s)
		return true;
	*s = shunt_arena_strndup(a, *s, strlen(*s));
	return *s;
}

int k8s_settings_copy(const struct mesh_config *settings, struct mesh_config *cfg)
{
	struct shunt_arena *a = &cfg->arena;
	size_t i;

	/* The trust domain came in through the translation (the identities). */
	cfg->mtls = settings->mtls;
	cfg->access_log = settings->access_log;
	cfg->tracing = settings->tracing;
	if (!str_copy(a, &cfg->access_log.output) || !origin_copy(a, &cfg->access_log.origin) ||
	    !str_copy(a, &cfg->tracing.zipkin_url) || !origin_copy(a, &cfg->tracing.origin))
		return -ENOMEM;
	if (!settings->nnodes)
		return 0;
	if (!(cfg->nodes = shunt_arena_alloc(a, settings->nnodes * sizeof(*cfg->nodes))))
		return -ENOMEM;
	for (i = 0; i < settings->nnodes; i++) {
		struct cfg_node *n = &cfg->nodes[i];

		*n = settings->nodes[i];
		if (!str_copy(a, &n->name) || !str_copy(a, &n->proxy_netns) ||
		    !str_copy(a, &n->proxy_cgroup) || !origin_copy(a, &n->origin))
			return -ENOMEM;
	}
	cfg->nnodes = settings->nnodes;
	return 0;
}
