// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Config -> map entries. Policy follows Kubernetes NetworkPolicy (see
 * docs/policy.md): a workload selected by a policy with an Ingress (Egress)
 * type is default-deny in that direction; allow rules expand to one entry
 * per (selected workload, peer identity, protocol, port); deny rules expand
 * the same way into the deny map, which the kernel checks first.
 */
#include "mesh_plan.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "keymap.h"
#include "netns.h"

const char *const mesh_plan_map_names[PLAN_MAPS] = {
    [PLAN_CGROUP_IDENTS] = "shunt_cgroup_idents", [PLAN_IPCACHE] = "shunt_ipcache",
    [PLAN_SERVICES] = "shunt_services",		  [PLAN_BACKENDS] = "shunt_backends",
    [PLAN_POLICY_DENY] = "shunt_policy_deny",	  [PLAN_POLICY_ALLOW] = "shunt_policy_allow",
    [PLAN_SUBJECTS] = "shunt_policy_subjects",	  [PLAN_NAMES] = "shunt_names",
};

/* Entries one policy map may hold per generation (half the map). */
#define MAX_POLICY_ENTRIES (SHUNT_MAX_POLICY / 2)

int kv_push(struct kv_vec *v, const void *key, const void *value)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 256;
		unsigned char *k = realloc(v->keys, cap * v->key_size);

		if (!k)
			return -ENOMEM;
		v->keys = k;
		k = realloc(v->values, cap * v->value_size);
		if (!k)
			return -ENOMEM;
		v->values = k;
		v->cap = cap;
	}
	memcpy(v->keys + v->n * v->key_size, key, v->key_size);
	memcpy(v->values + v->n * v->value_size, value, v->value_size);
	v->n++;
	return 0;
}

void kv_free(struct kv_vec *v)
{
	free(v->keys);
	free(v->values);
	free(v->key_set);
	free(v->kv_set);
	free(v->hashes);
	v->key_set = v->kv_set = v->hashes = NULL;
	v->keys = v->values = NULL;
	v->n = v->cap = 0;
}

static void plan_init(struct mesh_plan *plan)
{
	static const size_t sizes[PLAN_MAPS][2] = {
	    [PLAN_CGROUP_IDENTS] = {sizeof(struct shunt_cgroup_ident_key),
				    sizeof(struct shunt_ident)},
	    [PLAN_IPCACHE] = {sizeof(struct shunt_ipcache_key), sizeof(struct shunt_ident)},
	    [PLAN_SERVICES] = {sizeof(struct shunt_service_key), sizeof(struct shunt_service)},
	    [PLAN_BACKENDS] = {sizeof(struct shunt_backend_key), sizeof(struct shunt_backend)},
	    [PLAN_POLICY_DENY] = {sizeof(struct shunt_policy_key),
				  sizeof(struct shunt_policy_entry)},
	    [PLAN_POLICY_ALLOW] = {sizeof(struct shunt_policy_key),
				   sizeof(struct shunt_policy_entry)},
	    [PLAN_SUBJECTS] = {sizeof(struct shunt_subject_key), sizeof(struct shunt_subject)},
	    [PLAN_NAMES] = {sizeof(struct shunt_name_key), sizeof(struct shunt_name)},
	};
	int i;

	memset(plan, 0, sizeof(*plan));
	for (i = 0; i < PLAN_MAPS; i++) {
		plan->maps[i].key_size = sizes[i][0];
		plan->maps[i].value_size = sizes[i][1];
	}
	plan->workloads.key_size = sizeof(struct shunt_workload_key);
	plan->workloads.value_size = sizeof(struct shunt_workload);
	plan->workload_names.key_size = sizeof(__u32);
	plan->workload_names.value_size = sizeof(struct shunt_workload_name);
}

void mesh_plan_free(struct mesh_plan *plan)
{
	int i;

	for (i = 0; i < PLAN_MAPS; i++)
		kv_free(&plan->maps[i]);
	kv_free(&plan->workloads);
	kv_free(&plan->workload_names);
}

static __u32 fnv1a(const char *a, const char *b)
{
	__u32 h = 2166136261u;

	for (; *a; a++)
		h = (h ^ (unsigned char)*a) * 16777619u;
	h = (h ^ '/') * 16777619u;
	for (; *b; b++)
		h = (h ^ (unsigned char)*b) * 16777619u;
	return h;
}

__u32 mesh_workload_ident(const char *ns, const char *name)
{
	return SHUNT_ID_FIRST_WORKLOAD +
	       fnv1a(ns, name) % (SHUNT_ID_FIRST_CIDR - SHUNT_ID_FIRST_WORKLOAD);
}

struct wl_list {
	size_t *items;
	size_t n, cap;
};

/* What compiling needs besides the config. */
struct compiler {
	const struct mesh_config *cfg;
	struct mesh_plan *plan;
	struct cfg_error *err;
	const char *node;
	__u32 *ids;		  /* per workload */
	struct cfg_prefix *cidrs; /* distinct ipBlock prefixes, id = FIRST_CIDR + index */
	size_t ncidrs;
	__u32 *peer_ids; /* scratch: identities of one rule's peers */
	size_t npeer_ids, peer_cap;
	__u32 rule_id;
	/* Indexes: "ns" and "ns\0key\0value" -> a list of workload indexes;
	 * "ns/name" -> workload index. namespaces: every namespace in use. */
	struct keymap lists, by_name;
	struct wl_list *list_items;
	size_t nlists, lists_cap;
	const char **namespaces;
	size_t nnamespaces;
};

static int fail_at(struct compiler *c, struct cfg_pos pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_at(struct compiler *c, struct cfg_pos pos, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(c->err->msg, sizeof(c->err->msg), "%s:%u:%u: %s", c->cfg->path, pos.line, pos.col,
		 msg);
	return -EINVAL;
}

static int add_name(struct compiler *c, __u32 kind, __u32 id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int add_name(struct compiler *c, __u32 kind, __u32 id, const char *fmt, ...)
{
	struct shunt_name_key key = {.kind = kind, .id = id};
	struct shunt_name name = {};
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(name.name, sizeof(name.name), fmt, ap);
	va_end(ap);
	return kv_push(&c->plan->maps[PLAN_NAMES], &key, &name);
}

static int assign_workload_ids(struct compiler *c)
{
	const struct mesh_config *cfg = c->cfg;
	struct keymap used_ids = {0};
	size_t i;

	c->ids = calloc(cfg->nworkloads ? cfg->nworkloads : 1, sizeof(*c->ids));
	if (!c->ids)
		return -ENOMEM;
	for (i = 0; i < cfg->nworkloads; i++) {
		__u32 id = mesh_workload_ident(cfg->workloads[i].ns, cfg->workloads[i].name);
		bool used;
		int err;

		/* Probe past collisions, in config order. */
		for (;;) {
			if ((err = keymap_put(&used_ids, &id, sizeof(id), i, &used))) {
				keymap_free(&used_ids);
				return err;
			}
			if (!used)
				break;
			id = id + 1 >= SHUNT_ID_FIRST_CIDR ? SHUNT_ID_FIRST_WORKLOAD : id + 1;
		}
		c->ids[i] = id;
	}
	keymap_free(&used_ids);
	return 0;
}

static int list_add(struct compiler *c, const void *key, size_t len, size_t wl)
{
	struct wl_list *l;
	size_t idx;
	int err;

	if (!keymap_get(&c->lists, key, len, &idx)) {
		if (c->nlists == c->lists_cap) {
			size_t cap = c->lists_cap ? c->lists_cap * 2 : 256;
			struct wl_list *n = realloc(c->list_items, cap * sizeof(*n));

			if (!n)
				return -ENOMEM;
			c->list_items = n;
			c->lists_cap = cap;
		}
		idx = c->nlists++;
		memset(&c->list_items[idx], 0, sizeof(c->list_items[idx]));
		if ((err = keymap_put(&c->lists, key, len, idx, NULL)))
			return err;
	}
	l = &c->list_items[idx];
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4, *n = realloc(l->items, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		l->items = n;
		l->cap = cap;
	}
	l->items[l->n++] = wl;
	return 0;
}

static size_t label_key(char *buf, size_t len, const char *ns, const char *k, const char *v)
{
	int n = snprintf(buf, len, "%s%c%s%c%s", ns, 0, k, 0, v);

	return n < 0 ? 0 : (size_t)n >= len ? len - 1 : (size_t)n;
}

static int add_namespace(struct compiler *c, const char *ns)
{
	char key[80];
	size_t len = (size_t)snprintf(key, sizeof(key), "%s%c", ns, 1);
	bool dup;
	int err;

	if ((err = keymap_put(&c->by_name, key, len, 0, &dup)) || dup)
		return err;
	const char **n = realloc(c->namespaces, (c->nnamespaces + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	c->namespaces = n;
	c->namespaces[c->nnamespaces++] = ns;
	return 0;
}

static int build_index(struct compiler *c)
{
	const struct mesh_config *cfg = c->cfg;
	char key[600];
	size_t i, l, len;
	int err;

	for (i = 0; i < cfg->nnamespaces; i++)
		if ((err = add_namespace(c, cfg->namespaces[i].name)))
			return err;
	for (i = 0; i < cfg->nworkloads; i++) {
		const struct cfg_workload *w = &cfg->workloads[i];

		if ((err = add_namespace(c, w->ns)) || (err = list_add(c, w->ns, strlen(w->ns), i)))
			return err;
		len = (size_t)snprintf(key, sizeof(key), "%s/%s", w->ns, w->name);
		if ((err = keymap_put(&c->by_name, key, len, i, NULL)))
			return err;
		for (l = 0; l < w->labels.n; l++) {
			len = label_key(key, sizeof(key), w->ns, w->labels.items[l].key,
					w->labels.items[l].value);
			if ((err = list_add(c, key, len, i)))
				return err;
		}
	}
	return 0;
}

static void free_index(struct compiler *c)
{
	size_t i;

	for (i = 0; i < c->nlists; i++)
		free(c->list_items[i].items);
	free(c->list_items);
	free(c->namespaces);
	keymap_free(&c->lists);
	keymap_free(&c->by_name);
}

/* Workloads of NS that may match SEL (NULL: all of NS): a superset. */
static const struct wl_list *candidates(const struct compiler *c, const char *ns,
					const struct cfg_selector *sel)
{
	static const struct wl_list none;
	char key[600];
	size_t idx, len;

	if (sel && sel->match_labels.n)
		len = label_key(key, sizeof(key), ns, sel->match_labels.items[0].key,
				sel->match_labels.items[0].value);
	else
		len = strlen(ns);
	if (!keymap_get(&c->lists, len == strlen(ns) && !(sel && sel->match_labels.n) ? ns : key,
			len, &idx))
		return &none;
	return &c->list_items[idx];
}

static bool workload_is_local(const struct compiler *c, const struct cfg_workload *w)
{
	return c->node && strcmp(w->node, c->node) == 0;
}

/* Strict mTLS for W: its namespace's mode, else the mesh-wide one. */
static bool workload_strict(const struct compiler *c, const struct cfg_workload *w)
{
	const struct cfg_namespace *ns = cfg_namespace_find(c->cfg, w->ns);
	enum cfg_mtls mode = ns && ns->mtls != CFG_MTLS_UNSET ? ns->mtls : c->cfg->mtls;

	return mode == CFG_MTLS_STRICT;
}

/* Identities, the ipcache and the bypass membership of every workload. */
static int plan_workloads(struct compiler *c)
{
	const struct mesh_config *cfg = c->cfg;
	struct mesh_plan *plan = c->plan;
	size_t i, j;
	int err;

	for (i = 0; i < cfg->nworkloads; i++) {
		const struct cfg_workload *w = &cfg->workloads[i];
		struct shunt_workload bypass = {.id = c->ids[i]};
		struct shunt_ident ident = {.id = c->ids[i]};
		struct shunt_workload_name wname = {};

		if (workload_is_local(c, w)) {
			struct shunt_cgroup_ident_key ckey = {};

			if (!w->cgroup || !w->netns)
				return fail_at(c, w->pos,
					       "workload %s/%s runs on this node (%s): it needs "
					       "'cgroup' and 'netns'",
					       w->ns, w->name, c->node);
			err = shunt_cgroup_id(w->cgroup, &ckey.cgroup_id);
			if (err)
				return fail_at(c, w->pos, "workload %s/%s: cgroup %s: %s", w->ns,
					       w->name, w->cgroup, strerror(-err));
			err = shunt_netns_cookie(w->netns, &bypass.netns_cookie);
			if (err)
				return fail_at(c, w->pos, "workload %s/%s: netns %s: %s", w->ns,
					       w->name, w->netns, strerror(-err));
			bypass.cgroup_id = ckey.cgroup_id;
			bypass.flags = SHUNT_WL_LOCAL;
			ident.flags = SHUNT_IDENT_LOCAL;
			if (workload_strict(c, w))
				ident.flags |= SHUNT_IDENT_STRICT;
			if ((err = kv_push(&plan->maps[PLAN_CGROUP_IDENTS], &ckey, &ident)))
				return err;
			plan->nlocal++;
		}
		for (j = 0; j < w->naddrs; j++) {
			struct shunt_ipcache_key ikey = {.prefixlen = 8 + 128};
			struct shunt_workload_key wkey = {};

			memcpy(ikey.addr, w->addrs[j].addr, 16);
			memcpy(wkey.addr, w->addrs[j].addr, 16);
			if ((err = kv_push(&plan->maps[PLAN_IPCACHE], &ikey, &ident)) ||
			    (err = kv_push(&plan->workloads, &wkey, &bypass)))
				return err;
		}
		snprintf(wname.name, sizeof(wname.name), "%s/%s", w->ns, w->name);
		if ((err = kv_push(&plan->workload_names, &c->ids[i], &wname)) ||
		    (err = add_name(c, SHUNT_NAME_IDENT, c->ids[i], "%s/%s", w->ns, w->name)))
			return err;
	}
	plan->nworkloads = cfg->nworkloads;
	return add_name(c, SHUNT_NAME_IDENT, SHUNT_ID_WORLD, "world");
}

/*
 * The node proxy, when the config says where it runs: its pod-facing
 * addresses join the bypass like a local workload, so the legs between a
 * pod and the proxy skip the TCP/IP stack, and its cgroup is marked so the
 * connect hooks leave the proxy's own connections alone.
 */
static int plan_node_proxy(struct compiler *c)
{
	const struct cfg_node *me = cfg_node_find(c->cfg, c->node);
	struct shunt_cgroup_ident_key ckey = {};
	struct shunt_ident ident = {.id = 0, .flags = SHUNT_IDENT_NODE_PROXY};
	struct shunt_workload bypass = {.id = SHUNT_ID_NODE_PROXY, .flags = SHUNT_WL_LOCAL};
	struct shunt_workload_key wkey = {};
	struct shunt_workload_name wname = {};
	__u32 id = SHUNT_ID_NODE_PROXY;
	int err;

	if (!me || !me->has_proxy || !me->proxy_cgroup)
		return 0;
	err = shunt_cgroup_id(me->proxy_cgroup, &ckey.cgroup_id);
	if (err)
		return fail_at(c, me->pos, "node %s: proxy cgroup %s: %s", me->name,
			       me->proxy_cgroup, strerror(-err));
	err = shunt_netns_cookie(me->proxy_netns, &bypass.netns_cookie);
	if (err)
		return fail_at(c, me->pos, "node %s: proxy netns %s: %s", me->name, me->proxy_netns,
			       strerror(-err));
	bypass.cgroup_id = ckey.cgroup_id;
	if ((err = kv_push(&c->plan->maps[PLAN_CGROUP_IDENTS], &ckey, &ident)))
		return err;
	if ((err = kv_push(&c->plan->workloads, &wkey, &bypass))) /* ::, see shunt_shared.h */
		return err;
	memcpy(wkey.addr, me->outbound.addr, 16);
	if ((err = kv_push(&c->plan->workloads, &wkey, &bypass)))
		return err;
	if (me->has_outbound6) {
		memcpy(wkey.addr, me->outbound6.addr, 16);
		if ((err = kv_push(&c->plan->workloads, &wkey, &bypass)))
			return err;
	}
	snprintf(wname.name, sizeof(wname.name), "shunt-system/proxy-%s", me->name);
	return kv_push(&c->plan->workload_names, &id, &wname);
}

static int cidr_cmp(const void *a, const void *b)
{
	const struct cfg_prefix *x = a, *y = b;
	int r = memcmp(x->addr, y->addr, 16);

	return r ? r : (int)x->len - (int)y->len;
}

static int collect_cidr(struct compiler *c, const struct cfg_prefix *p, size_t *cap)
{
	size_t i;

	for (i = 0; i < c->ncidrs; i++)
		if (!cidr_cmp(&c->cidrs[i], p))
			return 0;
	if (c->ncidrs == *cap) {
		struct cfg_prefix *n;

		*cap = *cap ? *cap * 2 : 16;
		n = realloc(c->cidrs, *cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		c->cidrs = n;
	}
	c->cidrs[c->ncidrs++] = *p;
	return 0;
}

/* Every prefix an ipBlock names gets an identity and an ipcache entry. */
static int plan_cidrs(struct compiler *c)
{
	const struct mesh_config *cfg = c->cfg;
	size_t i, k, r, q, e, cap = 0;
	char text[SHUNT_ADDR_STRLEN];
	int err;

	for (i = 0; i < cfg->npolicies; i++)
		for (k = 0; k < CFG_RULE_KINDS; k++)
			for (r = 0; r < cfg->policies[i].nrules[k]; r++) {
				const struct cfg_rule *rule = &cfg->policies[i].rules[k][r];

				for (q = 0; q < rule->npeers; q++) {
					const struct cfg_peer *peer = &rule->peers[q];

					if (peer->kind != CFG_PEER_IPBLOCK)
						continue;
					if ((err = collect_cidr(c, &peer->cidr, &cap)))
						return err;
					for (e = 0; e < peer->nexcept; e++)
						if ((err = collect_cidr(c, &peer->except[e], &cap)))
							return err;
				}
			}
	if (c->ncidrs)
		qsort(c->cidrs, c->ncidrs, sizeof(*c->cidrs), cidr_cmp);
	for (i = 0; i < c->ncidrs; i++) {
		struct shunt_ipcache_key key = {.prefixlen = 8 + c->cidrs[i].len};
		struct shunt_ident ident = {.id = SHUNT_ID_FIRST_CIDR + (__u32)i,
					    .flags = SHUNT_IDENT_CIDR};

		memcpy(key.addr, c->cidrs[i].addr, 16);
		if ((err = kv_push(&c->plan->maps[PLAN_IPCACHE], &key, &ident)))
			return err;
		shunt_addr_format(c->cidrs[i].addr, text, sizeof(text));
		if ((err = add_name(c, SHUNT_NAME_IDENT, ident.id, "cidr:%s/%u", text,
				    c->cidrs[i].v4 ? c->cidrs[i].len - 96 : c->cidrs[i].len)))
			return err;
	}
	c->plan->ncidrs = c->ncidrs;
	return 0;
}

static int peer_add(struct compiler *c, __u32 id)
{
	if (c->npeer_ids == c->peer_cap) {
		size_t cap = c->peer_cap ? c->peer_cap * 2 : 64;
		__u32 *n = realloc(c->peer_ids, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		c->peer_ids = n;
		c->peer_cap = cap;
	}
	c->peer_ids[c->npeer_ids++] = id;
	return 0;
}

/* A namespace's labels, plus the one Kubernetes puts on every namespace. */
static bool namespace_matches(const struct compiler *c, const struct cfg_selector *sel,
			      const char *ns)
{
	const struct cfg_namespace *decl = cfg_namespace_find(c->cfg, ns);
	struct cfg_label items[65];
	struct cfg_labels labels = {.items = items};
	size_t i;

	items[labels.n++] = (struct cfg_label){"kubernetes.io/metadata.name", ns};
	for (i = 0; decl && i < decl->labels.n && labels.n < 65; i++)
		items[labels.n++] = decl->labels.items[i];
	return cfg_selector_matches(sel, &labels);
}

static bool prefix_excluded(const struct cfg_peer *peer, const __u8 addr[16], unsigned int len)
{
	size_t e;

	for (e = 0; e < peer->nexcept; e++)
		if (cfg_prefix_contains(&peer->except[e], addr, len))
			return true;
	return false;
}

/* The identities one peer of a policy in namespace NS stands for. */
static int peer_idents(struct compiler *c, const char *ns, const struct cfg_peer *peer)
{
	const struct mesh_config *cfg = c->cfg;
	size_t i, j, n;
	int err;

	if (peer->kind == CFG_PEER_PODS) {
		for (n = 0; n < c->nnamespaces; n++) {
			const char *wns = c->namespaces[n];
			const struct wl_list *l;

			if (peer->namespaces ? !namespace_matches(c, peer->namespaces, wns)
					     : strcmp(wns, ns) != 0)
				continue;
			l = candidates(c, wns, peer->pods);
			for (i = 0; i < l->n; i++)
				if ((!peer->pods ||
				     cfg_selector_matches(peer->pods,
							  &cfg->workloads[l->items[i]].labels)) &&
				    (err = peer_add(c, c->ids[l->items[i]])))
					return err;
		}
		return 0;
	}
	if (peer->kind == CFG_PEER_IDENTITY) {
		const struct wl_list *l = candidates(c, peer->sa_namespace, NULL);

		for (i = 0; i < l->n; i++)
			if (!strcmp(cfg->workloads[l->items[i]].service_account, peer->sa_name) &&
			    (err = peer_add(c, c->ids[l->items[i]])))
				return err;
		return 0;
	}
	for (i = 0; i < cfg->nworkloads; i++) {
		const struct cfg_workload *w = &cfg->workloads[i];
		bool match = false;

		for (j = 0; j < w->naddrs && !match; j++)
			match = cfg_prefix_contains(&peer->cidr, w->addrs[j].addr, 128) &&
				!prefix_excluded(peer, w->addrs[j].addr, 128);
		if (match && (err = peer_add(c, c->ids[i])))
			return err;
	}
	for (i = 0; i < c->ncidrs; i++)
		if (cfg_prefix_contains(&peer->cidr, c->cidrs[i].addr, c->cidrs[i].len) &&
		    !prefix_excluded(peer, c->cidrs[i].addr, c->cidrs[i].len) &&
		    (err = peer_add(c, SHUNT_ID_FIRST_CIDR + (__u32)i)))
			return err;
	/* 0.0.0.0/0 and ::/0 also cover addresses no prefix names. */
	if (peer->cidr.len == (peer->cidr.v4 ? 96u : 0u) && (err = peer_add(c, SHUNT_ID_WORLD)))
		return err;
	return 0;
}

static int push_policy(struct compiler *c, struct kv_vec *v, const struct shunt_policy_key *key,
		       const struct cfg_rule *rule)
{
	struct shunt_policy_entry entry = {.rule = c->rule_id};

	if (v->n >= MAX_POLICY_ENTRIES)
		return fail_at(c, rule->pos,
			       "the policies expand to more than %d kernel entries in one "
			       "direction; use fewer peers, ports or selected workloads",
			       MAX_POLICY_ENTRIES);
	return kv_push(v, key, &entry);
}

static int plan_rule(struct compiler *c, const struct cfg_policy *pol, enum cfg_rule_kind kind,
		     const struct cfg_rule *rule, const size_t *subjects, size_t nsubjects)
{
	bool deny = kind == CFG_INGRESS_DENY || kind == CFG_EGRESS_DENY;
	__u8 dir = (kind == CFG_INGRESS || kind == CFG_INGRESS_DENY) ? SHUNT_DIR_INGRESS
								     : SHUNT_DIR_EGRESS;
	struct kv_vec *v = &c->plan->maps[deny ? PLAN_POLICY_DENY : PLAN_POLICY_ALLOW];
	static const struct cfg_port every_port = {0};
	size_t s, q, p;
	int err;

	c->npeer_ids = 0;
	if (!rule->npeers) {
		if ((err = peer_add(c, SHUNT_ID_ANY)))
			return err;
	}
	for (q = 0; q < rule->npeers; q++)
		if ((err = peer_idents(c, pol->ns, &rule->peers[q])))
			return err;
	for (s = 0; s < nsubjects; s++) {
		for (q = 0; q < c->npeer_ids; q++) {
			for (p = 0; p < (rule->nports ? rule->nports : 1); p++) {
				const struct cfg_port *port =
				    rule->nports ? &rule->ports[p] : &every_port;
				struct shunt_policy_key key = {
				    .direction = dir,
				    .proto = port->proto,
				    .subject = c->ids[subjects[s]],
				    .peer = c->peer_ids[q],
				};
				unsigned int n;

				for (n = port->port; n <= port->end_port; n++) {
					key.port = (__u16)n;
					if ((err = push_policy(c, v, &key, rule)))
						return err;
				}
			}
		}
	}
	return 0;
}

static int plan_policies(struct compiler *c)
{
	static const char *const kind_names[CFG_RULE_KINDS] = {"ingress", "egress", "ingressDeny",
							       "egressDeny"};
	const struct mesh_config *cfg = c->cfg;
	__u32 *isolation = NULL;
	size_t *subjects = NULL, nsubjects, i, k, r;
	int err = 0;

	subjects = calloc(cfg->nworkloads ? cfg->nworkloads : 1, sizeof(*subjects));
	isolation = calloc(cfg->nworkloads ? cfg->nworkloads : 1, sizeof(*isolation));
	if (!subjects || !isolation) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < cfg->npolicies; i++) {
		const struct cfg_policy *pol = &cfg->policies[i];

		const struct wl_list *cand = candidates(c, pol->ns, &pol->subject);
		size_t ci;

		nsubjects = 0;
		for (ci = 0; ci < cand->n; ci++) {
			k = cand->items[ci];
			if (!cfg_selector_matches(&pol->subject, &cfg->workloads[k].labels))
				continue;
			subjects[nsubjects++] = k;
			if (pol->isolates[SHUNT_DIR_EGRESS])
				isolation[k] |= SHUNT_ISOLATED_EGRESS;
			if (pol->isolates[SHUNT_DIR_INGRESS])
				isolation[k] |= SHUNT_ISOLATED_INGRESS;
		}
		for (k = 0; k < CFG_RULE_KINDS; k++) {
			/* Rules of a type the policy does not isolate are inert, as in
			 * Kubernetes; deny rules always apply. */
			if ((k == CFG_INGRESS && !pol->isolates[SHUNT_DIR_INGRESS]) ||
			    (k == CFG_EGRESS && !pol->isolates[SHUNT_DIR_EGRESS]))
				continue;
			for (r = 0; r < pol->nrules[k]; r++) {
				c->rule_id++;
				if ((err = add_name(c, SHUNT_NAME_RULE, c->rule_id, "%s/%s %s[%zu]",
						    pol->ns, pol->name, kind_names[k], r)) ||
				    (err = plan_rule(c, pol, (enum cfg_rule_kind)k,
						     &pol->rules[k][r], subjects, nsubjects)))
					goto out;
			}
		}
	}
	for (k = 0; k < cfg->nworkloads; k++) {
		struct shunt_subject_key key = {.id = c->ids[k]};
		struct shunt_subject value = {.isolated = isolation[k]};

		if (isolation[k] && (err = kv_push(&c->plan->maps[PLAN_SUBJECTS], &key, &value)))
			goto out;
	}
	c->plan->nrules = c->rule_id;
out:
	free(subjects);
	free(isolation);
	return err;
}

/* The address of W in the VIP's family, or NULL. */
static const __u8 *address_like(const struct cfg_workload *w, const struct cfg_prefix *vip)
{
	size_t i;

	for (i = 0; i < w->naddrs; i++)
		if (w->addrs[i].v4 == vip->v4)
			return w->addrs[i].addr;
	return NULL;
}

static int workload_index(const struct compiler *c, const char *ns, const char *name)
{
	char key[160];
	size_t len = (size_t)snprintf(key, sizeof(key), "%s/%s", ns, name), idx;

	return keymap_get(&c->by_name, key, len, &idx) ? (int)idx : -1;
}

static int push_backend(struct compiler *c, __u32 svc_id, __u32 *count, __u32 *total,
			const __u8 *addr, __u16 port, __u32 weight, __u32 ident)
{
	struct shunt_backend_key key = {.service = svc_id, .index = *count};
	struct shunt_backend b = {.port = port, .identity = ident};

	if (!weight)
		return 0; /* drained: never picked */
	*total += weight;
	b.weight_end = *total;
	memcpy(b.addr, addr, 16);
	(*count)++;
	return kv_push(&c->plan->maps[PLAN_BACKENDS], &key, &b);
}

/* One service port id per (service, port, address family). */
static int plan_services(struct compiler *c)
{
	const struct mesh_config *cfg = c->cfg;
	__u32 next_id = 1;
	size_t i, p, v, b, w;
	int err;

	for (i = 0; i < cfg->nservices; i++) {
		const struct cfg_service *s = &cfg->services[i];

		for (p = 0; p < s->nports; p++) {
			const struct cfg_service_port *sp = &s->ports[p];
			__u32 ids[2] = {0, 0}; /* by family: [0] IPv6, [1] IPv4 */
			__u32 counts[2] = {0, 0}, totals[2] = {0, 0};

			for (v = 0; v < s->nvips; v++) {
				const struct cfg_prefix *vip = &s->vips[v];
				int fam = vip->v4;
				struct shunt_service_key key = {.proto = sp->proto,
								.port = sp->port};
				struct shunt_service value;

				if (!ids[fam]) {
					ids[fam] = next_id++;
					if ((err = add_name(c, SHUNT_NAME_SERVICE, ids[fam],
							    "%s/%s:%u/%s", s->ns, s->name, sp->port,
							    sp->proto == SHUNT_PROTO_TCP ? "tcp"
											 : "udp")))
						return err;
					const struct cfg_selector sel = {.match_labels =
									     s->selector};
					const struct wl_list *cand = candidates(c, s->ns, &sel);
					size_t ci;

					for (ci = 0; s->has_selector && ci < cand->n; ci++) {
						const struct cfg_workload *wl;
						const __u8 *addr;

						w = cand->items[ci];
						wl = &cfg->workloads[w];
						addr = address_like(wl, vip);
						if (!cfg_labels_subset(&s->selector, &wl->labels) ||
						    !addr)
							continue;
						if (counts[fam] == SHUNT_MAX_SERVICE_BACKENDS)
							return fail_at(c, s->pos,
								       "service %s/%s selects more "
								       "than %d backends",
								       s->ns, s->name,
								       SHUNT_MAX_SERVICE_BACKENDS);
						if ((err = push_backend(
							 c, ids[fam], &counts[fam], &totals[fam],
							 addr, sp->target_port, 1, c->ids[w])))
							return err;
					}
					for (b = 0; b < s->nbackends; b++) {
						const struct cfg_backend *be = &s->backends[b];
						const __u8 *addr = be->addr.addr;
						__u32 ident = 0;

						if (be->workload) {
							int wi =
							    workload_index(c, s->ns, be->workload);

							addr =
							    address_like(&cfg->workloads[wi], vip);
							ident = c->ids[wi];
						} else if (be->addr.v4 != vip->v4) {
							addr = NULL;
						}
						if (addr &&
						    (err = push_backend(
							 c, ids[fam], &counts[fam], &totals[fam],
							 addr, sp->target_port, be->weight, ident)))
							return err;
					}
				}
				value = (struct shunt_service){
				    .id = ids[fam],
				    .backends = counts[fam],
				    .total_weight = totals[fam],
				};
				memcpy(key.addr, vip->addr, 16);
				if ((err = kv_push(&c->plan->maps[PLAN_SERVICES], &key, &value)))
					return err;
			}
		}
	}
	c->plan->nservices = cfg->nservices;
	return 0;
}

int mesh_plan_build(struct mesh_plan *plan, const struct mesh_config *cfg, const char *node,
		    struct cfg_error *err)
{
	struct compiler c = {.cfg = cfg, .plan = plan, .err = err, .node = node};
	int ret;

	plan_init(plan);
	err->msg[0] = 0;
	{
		const struct cfg_node *me = cfg_node_find(cfg, node);

		if (me && me->has_proxy) {
			memcpy(plan->proxy_addr, me->outbound.addr, 16);
			plan->proxy_port = me->outbound.port;
			if (me->has_outbound6) {
				memcpy(plan->proxy_addr6, me->outbound6.addr, 16);
				plan->proxy_port6 = me->outbound6.port;
			}
		}
	}
	if ((ret = build_index(&c)) || (ret = assign_workload_ids(&c)) ||
	    (ret = plan_workloads(&c)) || (ret = plan_node_proxy(&c)) || (ret = plan_cidrs(&c)) ||
	    (ret = plan_services(&c)) || (ret = plan_policies(&c)))
		mesh_plan_free(plan);
	if (ret == -ENOMEM && !err->msg[0])
		snprintf(err->msg, sizeof(err->msg), "%s: out of memory", cfg->path);
	free(c.ids);
	free(c.cidrs);
	free(c.peer_ids);
	free_index(&c);
	return ret;
}
