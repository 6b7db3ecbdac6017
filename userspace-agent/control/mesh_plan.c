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

#include "common/addr.h"
#include "common/keymap.h"
#include "common/netns.h"
#include "plan_compiler.h"

const char *const mesh_plan_map_names[PLAN_MAPS] = {
    [PLAN_CGROUP_IDENTS] = "shunt_cgroup_idents", [PLAN_IPCACHE] = "shunt_ipcache",
    [PLAN_SERVICES] = "shunt_services",		  [PLAN_BACKENDS] = "shunt_backends",
    [PLAN_POLICY_DENY] = "shunt_policy_deny",	  [PLAN_POLICY_ALLOW] = "shunt_policy_allow",
    [PLAN_SUBJECTS] = "shunt_policy_subjects",	  [PLAN_NAMES] = "shunt_names",
};

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

static int entry_cmp(const void *a, const void *b, void *ctx)
{
	const struct kv_vec *v = ctx;
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	int r = memcmp(v->keys + i * v->key_size, v->keys + j * v->key_size, v->key_size);

	return r ? r : (i > j) - (i < j);
}

/*
 * Keeps the first entry of every key, in order. A key pushed twice would
 * leave the kernel with the last value and the diff of the next apply with
 * both: the incremental apply could then never be equal to a full one.
 */
static int kv_unique(struct kv_vec *v)
{
	size_t *order, i, out = 0;
	bool *drop;

	if (v->n < 2)
		return 0;
	order = malloc(v->n * sizeof(*order));
	drop = calloc(v->n, sizeof(*drop));
	if (!order || !drop) {
		free(order);
		free(drop);
		return -ENOMEM;
	}
	for (i = 0; i < v->n; i++)
		order[i] = i;
	qsort_r(order, v->n, sizeof(*order), entry_cmp, v);
	for (i = 1; i < v->n; i++)
		if (!memcmp(v->keys + order[i] * v->key_size, v->keys + order[i - 1] * v->key_size,
			    v->key_size))
			drop[order[i]] = true;
	for (i = 0; i < v->n; i++) {
		if (drop[i])
			continue;
		if (out != i) {
			memcpy(v->keys + out * v->key_size, v->keys + i * v->key_size, v->key_size);
			memcpy(v->values + out * v->value_size, v->values + i * v->value_size,
			       v->value_size);
		}
		out++;
	}
	v->n = out;
	free(order);
	free(drop);
	return 0;
}

static int plan_unique_keys(struct compiler *c)
{
	int i, err = 0;

	for (i = 0; i < PLAN_MAPS && !err; i++)
		err = kv_unique(&c->plan->maps[i]);
	if (!err)
		err = kv_unique(&c->plan->workloads);
	if (!err)
		err = kv_unique(&c->plan->workload_names);
	return err;
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

int plan_fail_at(struct compiler *c, const struct cfg_origin *origin, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cfg_vfail_at(c->err, origin, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int plan_add_name(struct compiler *c, __u32 kind, __u32 id, const char *fmt, ...)
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

/* "ns/name", and "ns\0key\0value" with a key of prefix/name: all fit. */
#define INDEX_KEY_MAX                                                                              \
	(SHUNT_DNS_LABEL_MAX + 1 + (SHUNT_DNS_SUBDOMAIN_MAX + 1 + SHUNT_DNS_LABEL_MAX) + 1 +       \
	 SHUNT_DNS_LABEL_MAX + 1)
_Static_assert(INDEX_KEY_MAX >= SHUNT_NAME_MAX, "index keys hold namespace/name");

static size_t label_key(char *buf, size_t len, const char *ns, const char *k, const char *v)
{
	int n = snprintf(buf, len, "%s%c%s%c%s", ns, 0, k, 0, v);

	return n < 0 ? 0 : (size_t)n >= len ? len - 1 : (size_t)n;
}

static int add_namespace(struct compiler *c, const char *ns)
{
	char key[SHUNT_DNS_LABEL_MAX + 2];
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
	char key[INDEX_KEY_MAX];
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
	keymap_free(&c->wl_addrs);
}

/* Workloads of NS that may match SEL (NULL: all of NS): a superset. */
const struct wl_list *plan_candidates(const struct compiler *c, const char *ns,
				      const struct cfg_selector *sel)
{
	static const struct wl_list none;
	char key[INDEX_KEY_MAX];
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

		if (mesh_workload_is_local(w, c->node)) {
			struct shunt_cgroup_ident_key ckey = {.cgroup_id =
								  c->facts->workloads[i].cgroup_id};

			bypass.netns_cookie = c->facts->workloads[i].netns_cookie;
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
		    (err = plan_add_name(c, SHUNT_NAME_IDENT, c->ids[i], "%s/%s", w->ns, w->name)))
			return err;
	}
	plan->nworkloads = cfg->nworkloads;
	return plan_add_name(c, SHUNT_NAME_IDENT, SHUNT_ID_WORLD, "world");
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
	struct shunt_cgroup_ident_key ckey = {.cgroup_id = c->facts->proxy.cgroup_id};
	struct shunt_ident ident = {.id = 0, .flags = SHUNT_IDENT_NODE_PROXY};
	struct shunt_workload bypass = {.id = SHUNT_ID_NODE_PROXY,
					.flags = SHUNT_WL_LOCAL,
					.netns_cookie = c->facts->proxy.netns_cookie};
	struct shunt_workload_key wkey = {};
	struct shunt_workload_name wname = {};
	__u32 id = SHUNT_ID_NODE_PROXY;
	int err;

	if (!me || !c->facts->proxy_here)
		return 0;
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
	_Static_assert(sizeof(wname.name) >=
			   sizeof("shunt-system/proxy-") + SHUNT_DNS_SUBDOMAIN_MAX,
		       "the node proxy's name fits");
	snprintf(wname.name, sizeof(wname.name), "shunt-system/proxy-%s", me->name);
	return kv_push(&c->plan->workload_names, &id, &wname);
}

static int local_cgroup_id(void *ctx, const char *cgroup, __u64 *id)
{
	(void)ctx;
	return shunt_cgroup_id(cgroup, id);
}

static int local_netns_cookie(void *ctx, const char *netns, __u64 *cookie)
{
	(void)ctx;
	return shunt_netns_cookie(netns, cookie);
}

static const struct mesh_host_ops local_ops = {
    .cgroup_id = local_cgroup_id,
    .netns_cookie = local_netns_cookie,
};
const struct mesh_host mesh_host_local = {.ops = &local_ops};

int mesh_plan_build(struct mesh_plan *plan, const struct mesh_config *cfg, const char *node,
		    struct cfg_error *err)
{
	return mesh_plan_build_on(plan, cfg, node, &mesh_host_local, err);
}

int mesh_plan_build_on(struct mesh_plan *plan, const struct mesh_config *cfg, const char *node,
		       const struct mesh_host *host, struct cfg_error *err)
{
	struct mesh_node_facts facts;
	int ret;

	plan_init(plan);
	err->msg[0] = 0;
	if ((ret = mesh_node_facts_resolve(&facts, cfg, node, host, err)))
		return ret;
	ret = mesh_plan_compile(plan, cfg, &facts, err);
	mesh_node_facts_free(&facts);
	return ret;
}

int mesh_plan_compile(struct mesh_plan *plan, const struct mesh_config *cfg,
		      const struct mesh_node_facts *facts, struct cfg_error *err)
{
	struct compiler c = {
	    .cfg = cfg, .plan = plan, .err = err, .node = facts->node, .facts = facts};
	int ret;

	plan_init(plan);
	err->msg[0] = 0;
	if (facts->nworkloads != cfg->nworkloads) {
		snprintf(err->msg, sizeof(err->msg), "%s: node facts for %zu workloads, not %zu",
			 cfg->path, facts->nworkloads, cfg->nworkloads);
		return -EINVAL;
	}
	{
		const struct cfg_node *me = cfg_node_find(cfg, c.node);

		if (me && me->has_proxy) {
			memcpy(plan->proxy_addr, me->outbound.addr, 16);
			plan->proxy_port = me->outbound.port;
			plan->l7_port = me->l7_port ? me->l7_port : CFG_L7_PORT_DEFAULT;
			if (me->has_outbound6) {
				memcpy(plan->proxy_addr6, me->outbound6.addr, 16);
				plan->proxy_port6 = me->outbound6.port;
				plan->l7_port6 = plan->l7_port;
			}
		}
	}
	if ((ret = build_index(&c)) || (ret = assign_workload_ids(&c)) ||
	    (ret = plan_workloads(&c)) || (ret = plan_node_proxy(&c)) || (ret = plan_cidrs(&c)) ||
	    (ret = plan_services(&c)) || (ret = plan_policies(&c)) || (ret = plan_unique_keys(&c)))
		mesh_plan_free(plan);
	if (ret == -ENOMEM && !err->msg[0])
		snprintf(err->msg, sizeof(err->msg), "%s: out of memory", cfg->path);
	free(c.ids);
	free(c.cidrs);
	free(c.peers);
	free_index(&c);
	return ret;
}
