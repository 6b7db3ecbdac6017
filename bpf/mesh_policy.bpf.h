/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Identities and policy decisions (docs/policy.md), shared by every hook of
 * mesh.bpf.c and by shunt_policy_query. Lookups go under the generation
 * the caller read once (see mesh_shared.h). BPF-only.
 */
#ifndef SHUNT_MESH_POLICY_BPF_H
#define SHUNT_MESH_POLICY_BPF_H

#include "mesh_maps.bpf.h"

/* Everything a decision needs about one connection attempt or packet. */
struct flow {
	__u8 src[16];
	__u8 dst[16];
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 direction;
	__u32 src_id;
	__u32 dst_id;
	__u32 rule;
	__u32 service;
};

/* The identity of an address: a workload, a policy CIDR or the world. */
static __always_inline __u32 ident_of_addr(__u8 gen, const __u8 addr[16], __u32 *flags)
{
	struct shunt_ipcache_key key = {.prefixlen = 8 + 128, .gen = gen};
	struct shunt_ident *id;

	__builtin_memcpy(key.addr, addr, 16);
	id = bpf_map_lookup_elem(&shunt_ipcache, &key);
	if (!id) {
		*flags = 0;
		return SHUNT_ID_WORLD;
	}
	*flags = id->flags;
	return id->id;
}

/* Looks up SUBJECT/PEER/PROTO/PORT and the wildcards, most specific first. */
static __always_inline struct shunt_policy_entry *
policy_match(void *map, __u8 gen, __u8 dir, __u32 subject, __u32 peer, __u8 proto, __u16 port)
{
	struct shunt_policy_key key = {.gen = gen, .direction = dir, .subject = subject};
	struct shunt_policy_entry *e;
	int p, q;

#pragma unroll
	for (p = 0; p < 2; p++) {
		key.peer = p == 0 ? peer : SHUNT_ID_ANY;
#pragma unroll
		for (q = 0; q < 3; q++) {
			key.proto = q < 2 ? proto : 0;
			key.port = q == 0 ? port : 0;
			e = bpf_map_lookup_elem(map, &key);
			if (e)
				return e;
		}
	}
	return NULL;
}

/* Whether SUBJECT is isolated in direction DIR (a policy of that type selects it). */
static __always_inline bool policy_isolated(__u8 gen, __u8 dir, __u32 subject)
{
	struct shunt_subject_key skey = {.gen = gen, .id = subject};
	struct shunt_subject *s = bpf_map_lookup_elem(&shunt_policy_subjects, &skey);

	return s && (s->isolated & (1u << dir));
}

/* Deny rules first, then default-deny for isolated subjects. The one
 * implementation: the hooks, the proxy and `shunt policy check` all ask it
 * (the last two through shunt_policy_query). */
static __always_inline __u8 policy_decide(__u8 gen, __u8 dir, __u32 subject, __u32 peer, __u8 proto,
					  __u16 port, __u32 *rule)
{
	struct shunt_policy_entry *e;

	*rule = 0;
	if (subject < SHUNT_ID_FIRST_WORKLOAD)
		return SHUNT_VERDICT_ALLOW; /* not a workload: no policy selects it */
	e = policy_match(&shunt_policy_deny, gen, dir, subject, peer, proto, port);
	if (e) {
		*rule = e->rule;
		return SHUNT_VERDICT_DENY;
	}
	if (!policy_isolated(gen, dir, subject))
		return SHUNT_VERDICT_ALLOW;
	e = policy_match(&shunt_policy_allow, gen, dir, subject, peer, proto, port);
	if (e) {
		*rule = e->rule;
		return SHUNT_VERDICT_ALLOW;
	}
	return SHUNT_VERDICT_DENY;
}

#endif /* SHUNT_MESH_POLICY_BPF_H */
