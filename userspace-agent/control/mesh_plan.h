/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A mesh config compiled for one node: every map entry the kernel needs,
 * keyed without a generation (the applier stamps it). Compiling touches no
 * map, so a config that fails here changes nothing.
 */
#ifndef SHUNT_MESH_PLAN_H
#define SHUNT_MESH_PLAN_H

#include <linux/types.h>
#include <stddef.h>

#include "model/mesh_config.h"
#include "mesh_shared.h"
#include "shunt_shared.h"

/* Fixed-size keys and values, appended in order. */
struct kv_vec {
	size_t key_size, value_size;
	size_t n, cap;
	unsigned char *keys, *values;
	/* Filled by the applier, once: hash sets of the keys and of the
	 * key-value pairs, for diffing against the next plan. */
	__u64 *key_set, *kv_set;
	__u64 *hashes; /* per entry: key hash, key-value hash */
	size_t set_mask;
	__u64 fingerprint; /* sum of the key-value hashes: equal sets, equal sums */
};

int kv_push(struct kv_vec *v, const void *key, const void *value);
void kv_free(struct kv_vec *v);

enum mesh_plan_map {
	PLAN_CGROUP_IDENTS,
	PLAN_IPCACHE,
	PLAN_SERVICES,
	PLAN_BACKENDS,
	PLAN_POLICY_DENY,
	PLAN_POLICY_ALLOW,
	PLAN_SUBJECTS,
	PLAN_NAMES,
	PLAN_MAPS,
};

/* The pinned map each plan vector goes to. */
extern const char *const mesh_plan_map_names[PLAN_MAPS];

struct mesh_plan {
	struct kv_vec maps[PLAN_MAPS];
	/* Not generational: the bypass's own membership maps. */
	struct kv_vec workloads;      /* shunt_workloads */
	struct kv_vec workload_names; /* shunt_workload_names */
	size_t nworkloads, nlocal, nservices, nrules, ncidrs;
	/* This node's outbound proxy (port 0: none), for shunt_mesh_state. */
	__u8 proxy_addr[16], proxy_addr6[16];
	__u16 proxy_port, proxy_port6;
	__u16 l7_port, l7_port6; /* its L7 side (0: none) */
};

/*
 * What compiling needs to know about the node itself: which cgroup and
 * network namespace a local workload's sockets live in. mesh_host_local
 * asks this machine; tests (and a container runtime) bring their own.
 */
struct mesh_host_ops {
	int (*cgroup_id)(void *ctx, const char *cgroup, __u64 *id);
	int (*netns_cookie)(void *ctx, const char *netns, __u64 *cookie);
};

struct mesh_host {
	const struct mesh_host_ops *ops;
	void *ctx;
};

extern const struct mesh_host mesh_host_local;

/* Where a workload on this node lives. */
struct mesh_local_facts {
	__u64 cgroup_id, netns_cookie;
};

/*
 * What compiling for NODE needs to know about the node itself, resolved
 * first (mesh_node_facts_resolve): the cgroup and network namespace of each
 * workload that runs on it, and of the node proxy when the config says
 * where it runs. Compiling with them is a pure function of config and facts.
 */
struct mesh_node_facts {
	const char *node;		    /* NULL: nothing is local */
	struct mesh_local_facts *workloads; /* by workload index; zeros for remote ones */
	size_t nworkloads;
	bool proxy_here;
	struct mesh_local_facts proxy;
};

/* Asks HOST about CFG's workloads on NODE; errors name the object's origin. */
int mesh_node_facts_resolve(struct mesh_node_facts *facts, const struct mesh_config *cfg,
			    const char *node, const struct mesh_host *host, struct cfg_error *err);
void mesh_node_facts_free(struct mesh_node_facts *facts);
/* True when W runs on NODE. */
bool mesh_workload_is_local(const struct cfg_workload *w, const char *node);

/* Compiles CFG for FACTS->node: no system call, no host lookup. */
int mesh_plan_compile(struct mesh_plan *plan, const struct mesh_config *cfg,
		      const struct mesh_node_facts *facts, struct cfg_error *err);

/*
 * Resolves the facts of NODE with HOST, then compiles CFG with them. Errors (a local
 * workload without cgroup, a policy that expands past the map sizes) name
 * the object's origin in ERR. Every map's keys are unique (the first entry
 * for a key wins: workloads before ipBlocks, earlier rules before later).
 */
int mesh_plan_build_on(struct mesh_plan *plan, const struct mesh_config *cfg, const char *node,
		       const struct mesh_host *host, struct cfg_error *err);
/* The same on this machine. */
int mesh_plan_build(struct mesh_plan *plan, const struct mesh_config *cfg, const char *node,
		    struct cfg_error *err);
void mesh_plan_free(struct mesh_plan *plan);

/* The identity a workload gets: stable for a name, whatever else changes. */
__u32 mesh_workload_ident(const char *ns, const char *name);

#endif
