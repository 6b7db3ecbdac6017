/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Which local workload a process or a receiving socket belongs to, by its
 * cgroup (docs/datapath.md, "Processes and workloads"): the workload whose
 * cgroup it is in, else the one whose cgroup is its nearest ancestor. The
 * kubelet runs every container in a cgroup below its pod's, and a new one
 * at each container restart; the agent registers the pod's cgroup only.
 *
 * The exact id is looked up first: a process in the workload's own cgroup
 * costs one lookup, as before. Only on a miss are the ancestors below the
 * mesh cgroup looked up, one hash lookup per level. BPF-only.
 */
#ifndef SHUNT_MESH_CGROUP_BPF_H
#define SHUNT_MESH_CGROUP_BPF_H

#include "mesh_maps.bpf.h"

/* Set by the loader when the kernel offers the ancestor helpers to both
 * hook types (cgroup_ancestors, docs/kernels.md); without them the verifier
 * drops the walk and only the exact cgroup is a workload's. */
const volatile __u32 shunt_have_cgroup_ancestors = 0;
/* Set by the loader: the mesh cgroup's level in the hierarchy, or less
 * (seen from a cgroup namespace). Workloads' cgroups are below it. */
const volatile __u32 shunt_mesh_cgroup_level = 0;

/* Whose cgroup: the current task's (sock_addr hooks) or the packet's
 * socket's (cgroup_skb). Constant at every call, so each program keeps
 * only the helper its type may call. */
enum cgroup_of {
	CGROUP_OF_TASK,
	CGROUP_OF_SKB,
};

static __always_inline __u64 cgroup_self(enum cgroup_of of, struct __sk_buff *skb)
{
	return of == CGROUP_OF_SKB ? bpf_skb_cgroup_id(skb) : bpf_get_current_cgroup_id();
}

/* The id of the ancestor at LEVEL (the cgroup itself at its own level), 0
 * below the cgroup's own level. */
static __always_inline __u64 cgroup_ancestor(enum cgroup_of of, struct __sk_buff *skb, int level)
{
	return of == CGROUP_OF_SKB ? bpf_skb_ancestor_cgroup_id(skb, level)
				   : bpf_get_current_ancestor_cgroup_id(level);
}

/*
 * The workload of the cgroup OF names, or NULL. The walk goes down from the
 * mesh cgroup's children, SHUNT_CGROUP_LEVELS levels at most, and keeps the
 * deepest match: a workload whose cgroup lies inside another's wins inside
 * its own. It stops at the cgroup itself (already missed) or below it; a
 * process deeper than the walk still finds a workload above that depth, so
 * nesting cgroups deeper never escapes its workload's policy.
 */
static __always_inline const struct shunt_ident *cgroup_ident(__u8 gen, enum cgroup_of of,
							      struct __sk_buff *skb)
{
	struct shunt_cgroup_ident_key key = {.gen = gen, .cgroup_id = cgroup_self(of, skb)};
	const struct shunt_ident *id, *nearest = NULL;
	__u64 self = key.cgroup_id;
	int i;

	id = bpf_map_lookup_elem(&shunt_cgroup_idents, &key);
	if (id || !shunt_have_cgroup_ancestors)
		return id;
	for (i = 1; i <= SHUNT_CGROUP_LEVELS; i++) {
		key.cgroup_id = cgroup_ancestor(of, skb, (int)shunt_mesh_cgroup_level + i);
		if (!key.cgroup_id || key.cgroup_id == self)
			break;
		id = bpf_map_lookup_elem(&shunt_cgroup_idents, &key);
		if (id)
			nearest = id;
	}
	return nearest;
}

#endif /* SHUNT_MESH_CGROUP_BPF_H */
