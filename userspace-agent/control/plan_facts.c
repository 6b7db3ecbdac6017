// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Node facts (mesh_plan.h): the cgroup ids and network namespace cookies of
 * the workloads that run on this node, asked of a mesh_host (this machine,
 * a test's fake, later a container runtime) before the pure compile step.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mesh_plan.h"

bool mesh_workload_is_local(const struct cfg_workload *w, const char *node)
{
	return node && w->node && strcmp(w->node, node) == 0;
}

static int workload_facts(const struct cfg_workload *w, const char *node,
			  const struct mesh_host *host, struct mesh_local_facts *out,
			  struct cfg_error *err)
{
	int ret;

	if (!w->cgroup || !w->netns)
		return cfg_fail_at(err, &w->origin,
				   "workload %s/%s runs on this node (%s): it needs 'cgroup' and "
				   "'netns'",
				   w->ns, w->name, node);
	if ((ret = host->ops->cgroup_id(host->ctx, w->cgroup, &out->cgroup_id)))
		return cfg_fail_at(err, &w->origin, "workload %s/%s: cgroup %s: %s", w->ns, w->name,
				   w->cgroup, strerror(-ret));
	if ((ret = host->ops->netns_cookie(host->ctx, w->netns, &out->netns_cookie)))
		return cfg_fail_at(err, &w->origin, "workload %s/%s: netns %s: %s", w->ns, w->name,
				   w->netns, strerror(-ret));
	return 0;
}

/* The node proxy's, when the config says where it runs (netns and cgroup). */
static int proxy_facts(struct mesh_node_facts *facts, const struct mesh_config *cfg,
		       const struct mesh_host *host, struct cfg_error *err)
{
	const struct cfg_node *me = cfg_node_find(cfg, facts->node);
	int ret;

	if (!me || !me->has_proxy || !me->proxy_cgroup)
		return 0;
	if ((ret = host->ops->cgroup_id(host->ctx, me->proxy_cgroup, &facts->proxy.cgroup_id)))
		return cfg_fail_at(err, &me->origin, "node %s: proxy cgroup %s: %s", me->name,
				   me->proxy_cgroup, strerror(-ret));
	if (!me->proxy_netns)
		return cfg_fail_at(err, &me->origin, "node %s: the proxy has a cgroup but no netns",
				   me->name);
	if ((ret = host->ops->netns_cookie(host->ctx, me->proxy_netns, &facts->proxy.netns_cookie)))
		return cfg_fail_at(err, &me->origin, "node %s: proxy netns %s: %s", me->name,
				   me->proxy_netns, strerror(-ret));
	facts->proxy_here = true;
	return 0;
}

int mesh_node_facts_resolve(struct mesh_node_facts *facts, const struct mesh_config *cfg,
			    const char *node, const struct mesh_host *host, struct cfg_error *err)
{
	size_t i;
	int ret = 0;

	memset(facts, 0, sizeof(*facts));
	facts->node = node;
	if (cfg->nworkloads &&
	    !(facts->workloads = calloc(cfg->nworkloads, sizeof(*facts->workloads)))) {
		snprintf(err->msg, sizeof(err->msg), "%s: out of memory", cfg->path);
		return -ENOMEM;
	}
	facts->nworkloads = cfg->nworkloads;
	for (i = 0; !ret && i < cfg->nworkloads; i++)
		if (mesh_workload_is_local(&cfg->workloads[i], node))
			ret = workload_facts(&cfg->workloads[i], node, host, &facts->workloads[i],
					     err);
	if (!ret)
		ret = proxy_facts(facts, cfg, host, err);
	if (ret)
		mesh_node_facts_free(facts);
	return ret;
}

void mesh_node_facts_free(struct mesh_node_facts *facts)
{
	free(facts->workloads);
	memset(facts, 0, sizeof(*facts));
}
