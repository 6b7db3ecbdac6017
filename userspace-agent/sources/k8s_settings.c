// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The Kubernetes source's mesh-wide settings (--k8s-option
 * mesh-settings=FILE; in a cluster, the shunt-mesh ConfigMap mounted as a
 * file): a mesh config file holding only the keys no API object carries
 * (trustDomain, mtls, nodes, nodeProxy, accessLog, tracing, requestId). It is read when the
 * source opens, with the file source's own parser and checks, so a bad
 * value stops the agent at start with FILE:LINE:COL and nothing applied;
 * every snapshot then gets a copy. A new version of the file is read again
 * (k8s_source.c): a good one goes into the next snapshot, a bad one is
 * refused with the same errors while the last good settings stay.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "k8s_impl.h"
#include "yaml_source.h"

void k8s_file_stamp(const char *path, struct k8s_file_stamp *st)
{
	struct stat sb;

	memset(st, 0, sizeof(*st));
	if (stat(path, &sb))
		return;
	st->exists = true;
	st->dev = sb.st_dev;
	st->ino = sb.st_ino;
	st->size = sb.st_size;
	st->mtime = sb.st_mtim;
}

bool k8s_file_stamp_same(const struct k8s_file_stamp *a, const struct k8s_file_stamp *b)
{
	return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino &&
	       a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec;
}

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
			 "trustDomain, mtls, nodes, nodeProxy, accessLog, tracing and requestId",
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

/* A node of the model from a Node object, unless the settings name it. */
static bool named_in(const struct mesh_config *settings, const char *name)
{
	for (size_t i = 0; i < settings->nnodes; i++)
		if (!strcmp(settings->nodes[i].name, name))
			return true;
	return false;
}

/* The settings' nodes, then those of Node objects (already in CFG) that the
 * settings do not name: an entry written by hand wins over the derived one. */
static int copy_nodes(const struct mesh_config *settings, struct mesh_config *cfg)
{
	struct shunt_arena *a = &cfg->arena;
	struct cfg_node *nodes;
	size_t i, n = 0;

	if (!settings->nnodes)
		return 0;
	if (!(nodes = shunt_arena_alloc(a, (settings->nnodes + cfg->nnodes) * sizeof(*nodes))))
		return -ENOMEM;
	for (i = 0; i < settings->nnodes; i++, n++) {
		nodes[n] = settings->nodes[i];
		if (!str_copy(a, &nodes[n].name) || !str_copy(a, &nodes[n].proxy_netns) ||
		    !str_copy(a, &nodes[n].proxy_cgroup) || !origin_copy(a, &nodes[n].origin))
			return -ENOMEM;
	}
	for (i = 0; i < cfg->nnodes; i++)
		if (!named_in(settings, cfg->nodes[i].name))
			nodes[n++] = cfg->nodes[i];
	cfg->nodes = nodes;
	cfg->nnodes = n;
	return 0;
}

int k8s_settings_copy(const struct mesh_config *settings, struct mesh_config *cfg)
{
	struct shunt_arena *a = &cfg->arena;

	/* The trust domain came in through the translation (the identities). */
	cfg->mtls = settings->mtls;
	cfg->access_log = settings->access_log;
	cfg->tracing = settings->tracing;
	cfg->request_id = settings->request_id;
	if (!str_copy(a, &cfg->access_log.output) || !origin_copy(a, &cfg->access_log.origin) ||
	    !str_copy(a, &cfg->tracing.zipkin_url) || !origin_copy(a, &cfg->tracing.origin) ||
	    !origin_copy(a, &cfg->request_id.origin))
		return -ENOMEM;
	return copy_nodes(settings, cfg);
}
