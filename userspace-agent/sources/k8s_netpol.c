// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * networking.k8s.io/v1 NetworkPolicy -> a policy of the model, which has
 * the upstream semantics (docs/policy.md): podSelector picks the subjects
 * in the policy's namespace; a peer with podSelector and namespaceSelector
 * is their intersection, two peers are a union; no `from`/`to` is every
 * peer and no `ports` every port; a port is a number, a range
 * (port..endPort) or a name resolved on each destination pod; ipBlock with
 * except; policyTypes (by default Ingress, plus Egress when there are
 * egress rules); policies add up, and a pod no policy selects is open.
 * Anything the model cannot hold fails the whole snapshot, naming the
 * object: leaving a policy out would allow what it denies.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "k8s_impl.h"
#include "mesh_shared.h"

#define MAX_PORT_RANGE 1024 /* as the YAML source (cfg_policy.c) */

static int np_port(struct k8s_tr *tr, const struct cfg_origin *o, const json_t *p,
		   struct cfg_port *out)
{
	json_t *port = json_object_get(p, "port"), *end = json_object_get(p, "endPort");
	json_int_t num;

	if (k8s_proto(json_object_get(p, "protocol"), &out->proto))
		return cfg_fail_at(tr->err, o, "protocol '%s' is not TCP, UDP or SCTP",
				   k8s_str(p, "protocol") ?: "?");
	if (json_is_string(port)) {
		out->name = k8s_dup(tr, json_string_value(port));
		if (end)
			return cfg_fail_at(tr->err, o, "endPort needs a numeric port, not '%s'",
					   out->name);
		return 0;
	}
	if (port) {
		num = json_integer_value(port);
		if (!json_is_integer(port) || num < 1 || num > 65535)
			return cfg_fail_at(tr->err, o, "port must be 1 to 65535");
		out->port = out->end_port = (__u16)num;
	}
	if (!end)
		return 0;
	num = json_integer_value(end);
	if (!port || !json_is_integer(end) || num < out->port || num > 65535)
		return cfg_fail_at(tr->err, o, "endPort needs port, and port <= endPort <= 65535");
	if (num - out->port >= MAX_PORT_RANGE)
		return cfg_fail_at(tr->err, o,
				   "ports %u-%lld: shunt holds ranges of at most %d ports; not "
				   "applied",
				   out->port, (long long)num, MAX_PORT_RANGE);
	out->end_port = (__u16)num;
	return 0;
}

static int np_ipblock(struct k8s_tr *tr, const struct cfg_origin *o, const json_t *block,
		      struct cfg_peer *out)
{
	json_t *except = json_object_get(block, "except"), *e;
	const char *cidr = k8s_str(block, "cidr");
	size_t i;

	out->kind = CFG_PEER_IPBLOCK;
	if (k8s_prefix(cidr, true, &out->cidr))
		return cfg_fail_at(tr->err, o, "ipBlock cidr '%s' is not a CIDR", cidr ?: "");
	out->nexcept = json_array_size(except);
	if (out->nexcept && !(out->except = shunt_arena_alloc(&tr->cfg->arena,
							      out->nexcept * sizeof(*out->except))))
		return k8s_oom(tr);
	json_array_foreach(except, i, e)
	{
		struct cfg_prefix *x = &out->except[i];

		if (k8s_prefix(json_string_value(e), true, x) || x->v4 != out->cidr.v4 ||
		    x->len <= out->cidr.len || !cfg_prefix_contains(&out->cidr, x->addr, x->len))
			return cfg_fail_at(tr->err, o,
					   "ipBlock except '%s' must be a smaller range inside %s",
					   json_string_value(e) ?: "", cidr);
	}
	return 0;
}

static int np_selector(struct k8s_tr *tr, const struct cfg_origin *o, const json_t *sel,
		       struct cfg_selector **out)
{
	if (!sel)
		return 0;
	if (!(*out = shunt_arena_alloc(&tr->cfg->arena, sizeof(**out))))
		return k8s_oom(tr);
	return k8s_selector(tr, o, sel, *out);
}

static int np_peer(struct k8s_tr *tr, const struct cfg_origin *o, const json_t *p,
		   struct cfg_peer *out)
{
	json_t *pods = json_object_get(p, "podSelector"),
	       *nss = json_object_get(p, "namespaceSelector");
	json_t *block = json_object_get(p, "ipBlock");
	int err;

	if (!!(pods || nss) + !!block != 1)
		return cfg_fail_at(tr->err, o,
				   "a peer is podSelector and/or namespaceSelector, or ipBlock: "
				   "exactly one of those");
	if (block)
		return np_ipblock(tr, o, block, out);
	out->kind = CFG_PEER_PODS;
	if ((err = np_selector(tr, o, pods, &out->pods)))
		return err;
	return np_selector(tr, o, nss, &out->namespaces);
}

static int np_rule(struct k8s_tr *tr, const struct cfg_origin *o, const json_t *r, bool ingress,
		   struct cfg_rule *out)
{
	json_t *peers = json_object_get(r, ingress ? "from" : "to"),
	       *ports = json_object_get(r, "ports");
	json_t *v;
	size_t i;
	int err;

	out->origin = *o;
	out->npeers = json_array_size(peers);
	out->nports = json_array_size(ports);
	if ((out->npeers && !(out->peers = shunt_arena_alloc(&tr->cfg->arena,
							     out->npeers * sizeof(*out->peers)))) ||
	    (out->nports &&
	     !(out->ports = shunt_arena_alloc(&tr->cfg->arena, out->nports * sizeof(*out->ports)))))
		return k8s_oom(tr);
	json_array_foreach(peers, i, v) if ((err = np_peer(tr, o, v, &out->peers[i]))) return err;
	json_array_foreach(ports, i, v) if ((err = np_port(tr, o, v, &out->ports[i]))) return err;
	return 0;
}

static int np_types(struct k8s_tr *tr, const json_t *spec, struct cfg_policy *out)
{
	json_t *types = json_object_get(spec, "policyTypes"), *t;
	const char *s;
	size_t i;

	/* The API server's default (SetDefaults_NetworkPolicySpec). */
	if (!json_array_size(types)) {
		out->isolates[SHUNT_DIR_INGRESS] = true;
		out->isolates[SHUNT_DIR_EGRESS] =
		    json_array_size(json_object_get(spec, "egress")) > 0;
		return 0;
	}
	json_array_foreach(types, i, t)
	{
		s = json_string_value(t);
		if (s && !strcmp(s, "Ingress"))
			out->isolates[SHUNT_DIR_INGRESS] = true;
		else if (s && !strcmp(s, "Egress"))
			out->isolates[SHUNT_DIR_EGRESS] = true;
		else
			return cfg_fail_at(tr->err, &out->origin,
					   "policy type must be Ingress or Egress, not '%s'",
					   s ?: "");
	}
	return 0;
}

int k8s_netpol(struct k8s_tr *tr, const json_t *np, struct cfg_policy *out)
{
	static const char *const keys[2] = {"egress", "ingress"};
	json_t *spec = json_object_get(np, "spec"), *rules, *r;
	size_t i, d;
	int err;

	memset(out, 0, sizeof(*out));
	out->origin = k8s_origin(tr, "NetworkPolicy", np);
	out->name = out->origin.name;
	out->ns = out->origin.ns ? out->origin.ns : "default";
	if (!out->name)
		return cfg_fail_at(tr->err, &out->origin, "a NetworkPolicy without a name");
	if ((err = k8s_selector(tr, &out->origin, json_object_get(spec, "podSelector"),
				&out->subject)) ||
	    (err = np_types(tr, spec, out)))
		return err;
	for (d = 0; d < 2; d++) {
		enum cfg_rule_kind kind = d == SHUNT_DIR_INGRESS ? CFG_INGRESS : CFG_EGRESS;

		rules = json_object_get(spec, keys[d]);
		out->nrules[kind] = json_array_size(rules);
		if (out->nrules[kind] &&
		    !(out->rules[kind] = shunt_arena_alloc(
			  &tr->cfg->arena, out->nrules[kind] * sizeof(struct cfg_rule))))
			return k8s_oom(tr);
		json_array_foreach(
		    rules, i, r) if ((err = np_rule(tr, &out->origin, r, d == SHUNT_DIR_INGRESS,
						    &out->rules[kind][i]))) return err;
	}
	return 0;
}
