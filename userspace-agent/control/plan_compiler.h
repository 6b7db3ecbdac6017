/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Inside the compiler (mesh_plan.c, plan_policy.c): its state and helpers. */
#ifndef SHUNT_PLAN_COMPILER_H
#define SHUNT_PLAN_COMPILER_H

#include "common/keymap.h"
#include "mesh_plan.h"

struct wl_list {
	size_t *items;
	size_t n, cap;
};

#define NO_WORKLOAD ((size_t)-1)

struct plan_peer {
	__u32 id;  /* identity */
	size_t wl; /* workload index, or NO_WORKLOAD */
};

/* What compiling needs besides the config. */
struct compiler {
	const struct mesh_config *cfg;
	struct mesh_plan *plan;
	struct cfg_error *err;
	const char *node;
	const struct mesh_node_facts *facts; /* resolved before compiling */
	__u32 *ids;			     /* per workload */
	struct cfg_prefix *cidrs; /* distinct ipBlock prefixes, id = FIRST_CIDR + index */
	size_t ncidrs;
	struct plan_peer *peers; /* scratch: the peers of one rule */
	size_t npeers, peer_cap;
	__u32 rule_id;
	/* Indexes: "ns" and "ns\0key\0value" -> a list of workload indexes;
	 * "ns/name" -> workload index. namespaces: every namespace in use. */
	struct keymap lists, by_name;
	struct keymap wl_addrs; /* workload address (16 bytes) -> workload index */
	struct wl_list *list_items;
	size_t nlists, lists_cap;
	const char **namespaces;
	size_t nnamespaces;
};

int plan_fail_at(struct compiler *c, const struct cfg_origin *origin, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int plan_add_name(struct compiler *c, __u32 kind, __u32 id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Workloads of NS that may match SEL (NULL: all of NS): a superset. */
const struct wl_list *plan_candidates(const struct compiler *c, const char *ns,
				      const struct cfg_selector *sel);

/* Every prefix an ipBlock names gets an identity (plan_policy.c). */
int plan_cidrs(struct compiler *c);
int plan_policies(struct compiler *c);
/* Service ports and backends (plan_services.c). */
int plan_services(struct compiler *c);

#endif
