// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Policies: selectors, peers, ports and rules (docs/policy.md). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"
#include "cfg_parse.h"
#include "mesh_shared.h"

#define MAX_PORT_RANGE 1024

static int cfg_parse_port(struct cfg_parser *p, yaml_node_t *n, struct cfg_port *out)
{
	static const char *const keys[] = {"protocol", "port", "endPort", NULL};
	yaml_node_t *v, *pn;
	unsigned long num;
	int err;

	if ((err = cfgy_check_map(p, n, "a port", keys)))
		return err;
	out->proto = SHUNT_PROTO_TCP; /* the Kubernetes default */
	if ((v = cfgy_map_get(p, n, "protocol")) && (err = cfgy_parse_proto(p, v, &out->proto)))
		return err;
	if ((pn = cfgy_map_get(p, n, "port"))) {
		if (pn->type == YAML_SCALAR_NODE && pn->data.scalar.length &&
		    (pn->data.scalar.value[0] < '0' || pn->data.scalar.value[0] > '9')) {
			/* A named port: each destination pod says which number. */
			if ((err = cfgy_get_str(p, pn, "port", &out->name)) ||
			    (err = cfgy_check_port_name(p, pn, out->name)))
				return err;
		} else {
			if ((err = cfgy_get_uint(p, pn, "port", 1, 65535, &num)))
				return err;
			out->port = out->end_port = (__u16)num;
		}
	}
	if ((v = cfgy_map_get(p, n, "endPort"))) {
		if (!pn)
			return cfgy_fail(p, v, "endPort needs port");
		if (out->name)
			return cfgy_fail(p, v, "endPort needs a numeric port, not '%s'", out->name);
		if ((err = cfgy_get_uint(p, v, "endPort", out->port, 65535, &num)))
			return err;
		if (num - out->port >= MAX_PORT_RANGE)
			return cfgy_fail(p, v, "a port range may span at most %d ports",
					 MAX_PORT_RANGE);
		out->end_port = (__u16)num;
	}
	return 0;
}

static int cfg_parse_peer(struct cfg_parser *p, yaml_node_t *n, struct cfg_peer *out)
{
	static const char *const keys[] = {"podSelector", "namespaceSelector", "ipBlock",
					   "serviceAccount", NULL};
	static const char *const block_keys[] = {"cidr", "except", NULL};
	static const char *const sa_keys[] = {"namespace", "name", NULL};
	yaml_node_t *pods, *nss, *block, *sa, *v;
	size_t i;
	int err;

	if ((err = cfgy_check_map(p, n, "a peer", keys)))
		return err;
	pods = cfgy_map_get(p, n, "podSelector");
	nss = cfgy_map_get(p, n, "namespaceSelector");
	block = cfgy_map_get(p, n, "ipBlock");
	sa = cfgy_map_get(p, n, "serviceAccount");
	if ((pods || nss) + !!block + !!sa != 1)
		return cfgy_fail(p, n,
				 "a peer is podSelector and/or namespaceSelector, or ipBlock, or "
				 "serviceAccount: exactly one of those");
	if (pods || nss) {
		out->kind = CFG_PEER_PODS;
		if (pods) {
			out->pods = shunt_arena_alloc(&p->cfg->arena, sizeof(*out->pods));
			if (!out->pods)
				return cfgy_oom(p);
			if ((err = cfgy_parse_selector(p, pods, "podSelector", out->pods)))
				return err;
		}
		if (nss) {
			out->namespaces =
			    shunt_arena_alloc(&p->cfg->arena, sizeof(*out->namespaces));
			if (!out->namespaces)
				return cfgy_oom(p);
			if ((err =
				 cfgy_parse_selector(p, nss, "namespaceSelector", out->namespaces)))
				return err;
		}
		return 0;
	}
	if (sa) {
		out->kind = CFG_PEER_IDENTITY;
		if ((err = cfgy_check_map(p, sa, "serviceAccount", sa_keys)))
			return err;
		if (!(v = cfgy_map_get(p, sa, "namespace")))
			return cfgy_fail(p, sa, "serviceAccount needs 'namespace'");
		if ((err = cfgy_get_name(p, v, "namespace", &out->sa_namespace)))
			return err;
		if (!(v = cfgy_map_get(p, sa, "name")))
			return cfgy_fail(p, sa, "serviceAccount needs 'name'");
		return cfgy_get_subdomain(p, v, "service account name", &out->sa_name);
	}
	out->kind = CFG_PEER_IPBLOCK;
	if ((err = cfgy_check_map(p, block, "ipBlock", block_keys)))
		return err;
	if (!(v = cfgy_map_get(p, block, "cidr")))
		return cfgy_fail(p, block, "ipBlock needs 'cidr'");
	if ((err = cfgy_parse_prefix(p, v, "cidr", true, &out->cidr)))
		return err;
	if (!(v = cfgy_map_get(p, block, "except")))
		return 0;
	if ((err = cfgy_get_seq(p, v, "except", &out->nexcept)))
		return err;
	out->except = cfgy_alloc_array(p, out->nexcept, sizeof(*out->except));
	if (out->nexcept && !out->except)
		return cfgy_oom(p);
	for (i = 0; i < out->nexcept; i++) {
		yaml_node_t *en = cfgy_seq_item(p, v, i);

		if ((err = cfgy_parse_prefix(p, en, "except", true, &out->except[i])))
			return err;
		if (out->except[i].v4 != out->cidr.v4 || out->except[i].len <= out->cidr.len ||
		    !cfg_prefix_contains(&out->cidr, out->except[i].addr, out->except[i].len))
			return cfgy_fail(p, en, "except must be a smaller range inside cidr");
	}
	return 0;
}

static int cfg_parse_rule(struct cfg_parser *p, yaml_node_t *n, bool ingress, struct cfg_rule *out)
{
	static const char *const in_keys[] = {"from", "ports", NULL};
	static const char *const out_keys[] = {"to", "ports", NULL};
	yaml_node_t *v;
	size_t i;
	int err;

	out->origin = cfgy_origin_of(p, n);
	if (cfgy_is_null(n))
		return 0; /* "- {}" or "-": every peer, every port */
	if ((err = cfgy_check_map(p, n, "a rule", ingress ? in_keys : out_keys)))
		return err;
	if ((v = cfgy_map_get(p, n, ingress ? "from" : "to"))) {
		if ((err = cfgy_get_seq(p, v, ingress ? "from" : "to", &out->npeers)))
			return err;
		out->peers = cfgy_alloc_array(p, out->npeers, sizeof(*out->peers));
		if (out->npeers && !out->peers)
			return cfgy_oom(p);
		for (i = 0; i < out->npeers; i++)
			if ((err = cfg_parse_peer(p, cfgy_seq_item(p, v, i), &out->peers[i])))
				return err;
	}
	if ((v = cfgy_map_get(p, n, "ports"))) {
		if ((err = cfgy_get_seq(p, v, "ports", &out->nports)))
			return err;
		out->ports = cfgy_alloc_array(p, out->nports, sizeof(*out->ports));
		if (out->nports && !out->ports)
			return cfgy_oom(p);
		for (i = 0; i < out->nports; i++)
			if ((err = cfg_parse_port(p, cfgy_seq_item(p, v, i), &out->ports[i])))
				return err;
	}
	return 0;
}

static const char *const rule_keys[CFG_RULE_KINDS] = {"ingress", "egress", "ingressDeny",
						      "egressDeny"};

int cfg_parse_policy(struct cfg_parser *p, yaml_node_t *n, struct cfg_policy *out)
{
	static const char *const keys[] = {"name",	  "namespace",	"podSelector",
					   "policyTypes", "ingress",	"egress",
					   "ingressDeny", "egressDeny", NULL};
	yaml_node_t *v;
	size_t i, k;
	int err;

	out->origin = cfgy_origin_of(p, n);
	if ((err = cfgy_check_map(p, n, "a policy", keys)))
		return err;
	if (!(v = cfgy_map_get(p, n, "name")))
		return cfgy_fail(p, n, "a policy needs 'name'");
	if ((err = cfgy_get_subdomain(p, v, "policy name", &out->name)))
		return err;
	out->ns = "default";
	if ((v = cfgy_map_get(p, n, "namespace")) &&
	    (err = cfgy_get_name(p, v, "namespace", &out->ns)))
		return err;
	if (!(v = cfgy_map_get(p, n, "podSelector")))
		return cfgy_fail(p, n, "policy %s needs 'podSelector' ({} selects every pod)",
				 out->name);
	if ((err = cfgy_parse_selector(p, v, "podSelector", &out->subject)))
		return err;
	for (k = 0; k < CFG_RULE_KINDS; k++) {
		bool ingress = k == CFG_INGRESS || k == CFG_INGRESS_DENY;

		if (!(v = cfgy_map_get(p, n, rule_keys[k])))
			continue;
		if ((err = cfgy_get_seq(p, v, rule_keys[k], &out->nrules[k])))
			return err;
		out->rules[k] = cfgy_alloc_array(p, out->nrules[k], sizeof(*out->rules[k]));
		if (out->nrules[k] && !out->rules[k])
			return cfgy_oom(p);
		for (i = 0; i < out->nrules[k]; i++)
			if ((err = cfg_parse_rule(p, cfgy_seq_item(p, v, i), ingress,
						  &out->rules[k][i])))
				return err;
	}
	/* Kubernetes defaults: Ingress always, Egress when there are egress rules. */
	if (!(v = cfgy_map_get(p, n, "policyTypes"))) {
		out->isolates[SHUNT_DIR_INGRESS] = true;
		out->isolates[SHUNT_DIR_EGRESS] = cfgy_map_get(p, n, "egress") != NULL;
		return 0;
	}
	if ((err = cfgy_get_seq(p, v, "policyTypes", &k)))
		return err;
	for (i = 0; i < k; i++) {
		yaml_node_t *t = cfgy_seq_item(p, v, i);
		const char *s;

		if ((err = cfgy_get_str(p, t, "a policy type", &s)))
			return err;
		if (!strcmp(s, "Ingress"))
			out->isolates[SHUNT_DIR_INGRESS] = true;
		else if (!strcmp(s, "Egress"))
			out->isolates[SHUNT_DIR_EGRESS] = true;
		else
			return cfgy_fail(p, t, "policy type must be Ingress or Egress, not '%s'",
					 s);
	}
	return 0;
}
