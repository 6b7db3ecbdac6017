// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Policies -> map entries (docs/policy.md): a workload selected by a policy
 * with an Ingress (Egress) type is default-deny in that direction; allow
 * rules expand to one entry per (selected workload, peer identity,
 * protocol, port); deny rules expand the same way into the deny map, which
 * the kernel checks first.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"
#include "plan_compiler.h"

/* Entries one policy map may hold per generation (half the map). */
#define MAX_POLICY_ENTRIES (SHUNT_MAX_POLICY / 2)

/* Whether some workload has exactly the address of P (a full-length prefix). */
static int workload_address(struct compiler *c, const struct cfg_prefix *p, bool *found)
{
	size_t i, j;
	int err;

	*found = false;
	if (p->len != 128)
		return 0;
	if (!c->wl_addrs.n) {
		for (i = 0; i < c->cfg->nworkloads; i++)
			for (j = 0; j < c->cfg->workloads[i].naddrs; j++)
				if ((err = keymap_put(&c->wl_addrs,
						      c->cfg->workloads[i].addrs[j].addr, 16, i,
						      NULL)))
					return err;
	}
	*found = keymap_get(&c->wl_addrs, p->addr, 16, &i);
	return 0;
}

static int cidr_cmp(const void *a, const void *b)
{
	const struct cfg_prefix *x = a, *y = b;
	int r = memcmp(x->addr, y->addr, 16);

	return r ? r : (int)x->len - (int)y->len;
}

static int collect_cidr(struct compiler *c, const struct cfg_prefix *p, size_t *cap)
{
	bool is_workload;
	size_t i;
	int err;

	if ((err = workload_address(c, p, &is_workload)) || is_workload)
		return err;
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

/*
 * Every prefix an ipBlock names gets an identity and an ipcache entry, but
 * an address's most specific identity is always its workload's: a /32 or
 * /128 naming a pod's address is that pod (its rule expands to the pod's
 * identity, peer_idents), never a CIDR identity in its place.
 */
int plan_cidrs(struct compiler *c)
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
		if ((err = plan_add_name(c, SHUNT_NAME_IDENT, ident.id, "cidr:%s/%u", text,
					 c->cidrs[i].v4 ? c->cidrs[i].len - 96 : c->cidrs[i].len)))
			return err;
	}
	c->plan->ncidrs = c->ncidrs;
	return 0;
}

/* A peer of the rule being compiled: identity ID, workload WL (NO_WORKLOAD
 * for CIDRs, the world and "anyone"). */
static int peer_add(struct compiler *c, __u32 id, size_t wl)
{
	if (c->npeers == c->peer_cap) {
		size_t cap = c->peer_cap ? c->peer_cap * 2 : 64;
		struct plan_peer *n = realloc(c->peers, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		c->peers = n;
		c->peer_cap = cap;
	}
	c->peers[c->npeers++] = (struct plan_peer){.id = id, .wl = wl};
	return 0;
}

/* A namespace's labels, plus the one Kubernetes puts on every namespace:
 * 1 if SEL selects NS, 0 if not, or -ENOMEM. Every label counts. */
static int namespace_matches(const struct compiler *c, const struct cfg_selector *sel,
			     const char *ns)
{
	const struct cfg_namespace *decl = cfg_namespace_find(c->cfg, ns);
	size_t i, n = 1 + (decl ? decl->labels.n : 0);
	struct cfg_label stack[32], *items = stack;
	struct cfg_labels labels = {.n = 0};
	int ret;

	if (n > sizeof(stack) / sizeof(stack[0]) && !(items = malloc(n * sizeof(*items))))
		return -ENOMEM;
	labels.items = items;
	items[labels.n++] = (struct cfg_label){"kubernetes.io/metadata.name", ns};
	for (i = 0; decl && i < decl->labels.n; i++)
		items[labels.n++] = decl->labels.items[i];
	ret = cfg_selector_matches(sel, &labels);
	if (items != stack)
		free(items);
	return ret;
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
			int in = peer->namespaces ? namespace_matches(c, peer->namespaces, wns)
						  : !strcmp(wns, ns);

			if (in < 0)
				return in;
			if (!in)
				continue;
			l = plan_candidates(c, wns, peer->pods);
			for (i = 0; i < l->n; i++)
				if ((!peer->pods ||
				     cfg_selector_matches(peer->pods,
							  &cfg->workloads[l->items[i]].labels)) &&
				    (err = peer_add(c, c->ids[l->items[i]], l->items[i])))
					return err;
		}
		return 0;
	}
	if (peer->kind == CFG_PEER_IDENTITY) {
		const struct wl_list *l = plan_candidates(c, peer->sa_namespace, NULL);

		for (i = 0; i < l->n; i++)
			if (!strcmp(cfg->workloads[l->items[i]].service_account, peer->sa_name) &&
			    (err = peer_add(c, c->ids[l->items[i]], l->items[i])))
				return err;
		return 0;
	}
	for (i = 0; i < cfg->nworkloads; i++) {
		const struct cfg_workload *w = &cfg->workloads[i];
		bool match = false;

		for (j = 0; j < w->naddrs && !match; j++)
			match = cfg_prefix_contains(&peer->cidr, w->addrs[j].addr, 128) &&
				!prefix_excluded(peer, w->addrs[j].addr, 128);
		if (match && (err = peer_add(c, c->ids[i], i)))
			return err;
	}
	for (i = 0; i < c->ncidrs; i++)
		if (cfg_prefix_contains(&peer->cidr, c->cidrs[i].addr, c->cidrs[i].len) &&
		    !prefix_excluded(peer, c->cidrs[i].addr, c->cidrs[i].len) &&
		    (err = peer_add(c, SHUNT_ID_FIRST_CIDR + (__u32)i, NO_WORKLOAD)))
			return err;
	/* 0.0.0.0/0 and ::/0 also cover addresses no prefix names. */
	if (peer->cidr.len == (peer->cidr.v4 ? 96u : 0u) &&
	    (err = peer_add(c, SHUNT_ID_WORLD, NO_WORKLOAD)))
		return err;
	return 0;
}

static int push_policy(struct compiler *c, struct kv_vec *v, const struct shunt_policy_key *key,
		       const struct cfg_rule *rule)
{
	struct shunt_policy_entry entry = {.rule = c->rule_id};

	if (v->n >= MAX_POLICY_ENTRIES)
		return plan_fail_at(c, &rule->origin,
				    "the policies expand to more than %d kernel entries in one "
				    "direction; use fewer peers, ports or selected workloads",
				    MAX_POLICY_ENTRIES);
	return kv_push(v, key, &entry);
}

/*
 * The port numbers PORT means towards the workload at index DST: a named
 * port is resolved on the destination pod, as in Kubernetes (the selected
 * pod for ingress, each peer pod for egress), and names nothing where the
 * destination is no pod or has no such port. False: nothing to allow.
 */
static bool port_numbers(const struct compiler *c, const struct cfg_port *port, size_t dst,
			 unsigned int *lo, unsigned int *hi)
{
	if (!port->name) {
		*lo = port->port;
		*hi = port->end_port;
		return true;
	}
	if (dst == NO_WORKLOAD)
		return false;
	*lo = *hi = cfg_workload_port(&c->cfg->workloads[dst], port->name, port->proto);
	return *lo != 0;
}

/* Entries for one (subject, peer) pair: every port of the rule. */
static int plan_pair(struct compiler *c, struct kv_vec *v, const struct cfg_rule *rule,
		     struct shunt_policy_key *key, size_t dst)
{
	static const struct cfg_port every_port = {0};
	unsigned int lo, hi, n;
	size_t p;
	int err;

	for (p = 0; p < (rule->nports ? rule->nports : 1); p++) {
		const struct cfg_port *port = rule->nports ? &rule->ports[p] : &every_port;

		if (!port_numbers(c, port, dst, &lo, &hi))
			continue;
		key->proto = port->proto;
		for (n = lo; n <= hi; n++) {
			key->port = (__u16)n;
			if ((err = push_policy(c, v, key, rule)))
				return err;
		}
	}
	return 0;
}

/* Egress to "anyone" with named ports: every pod that has one of them. */
static bool needs_every_pod(const struct cfg_rule *rule, __u8 dir)
{
	size_t p;

	if (dir != SHUNT_DIR_EGRESS || rule->npeers)
		return false;
	for (p = 0; p < rule->nports; p++)
		if (rule->ports[p].name)
			return true;
	return false;
}

static int plan_rule(struct compiler *c, const struct cfg_policy *pol, enum cfg_rule_kind kind,
		     const struct cfg_rule *rule, const size_t *subjects, size_t nsubjects)
{
	bool deny = kind == CFG_INGRESS_DENY || kind == CFG_EGRESS_DENY;
	__u8 dir = (kind == CFG_INGRESS || kind == CFG_INGRESS_DENY) ? SHUNT_DIR_INGRESS
								     : SHUNT_DIR_EGRESS;
	struct kv_vec *v = &c->plan->maps[deny ? PLAN_POLICY_DENY : PLAN_POLICY_ALLOW];
	size_t s, q;
	int err;

	c->npeers = 0;
	if (!rule->npeers && (err = peer_add(c, SHUNT_ID_ANY, NO_WORKLOAD)))
		return err;
	for (q = 0; needs_every_pod(rule, dir) && q < c->cfg->nworkloads; q++)
		if ((err = peer_add(c, c->ids[q], q)))
			return err;
	for (q = 0; q < rule->npeers; q++)
		if ((err = peer_idents(c, pol->ns, &rule->peers[q])))
			return err;
	for (s = 0; s < nsubjects; s++) {
		for (q = 0; q < c->npeers; q++) {
			struct shunt_policy_key key = {
			    .direction = dir,
			    .subject = c->ids[subjects[s]],
			    .peer = c->peers[q].id,
			};

			err = plan_pair(c, v, rule, &key,
					dir == SHUNT_DIR_INGRESS ? subjects[s] : c->peers[q].wl);
			if (err)
				return err;
		}
	}
	return 0;
}

int plan_policies(struct compiler *c)
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

		const struct wl_list *cand = plan_candidates(c, pol->ns, &pol->subject);
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
				if ((err = plan_add_name(c, SHUNT_NAME_RULE, c->rule_id,
							 "%s/%s %s[%zu]", pol->ns, pol->name,
							 kind_names[k], r)) ||
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
