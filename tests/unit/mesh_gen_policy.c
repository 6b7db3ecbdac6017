// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The generator's policies: selectors, ipBlocks, peers, ports, rules. */
#include "mesh_gen.h"

#include <string.h>

static const unsigned short policy_ports[] = {53, 80, 443, 5353, 7000, 8080, 8081, 9100};

/* --- selectors, prefixes, peers, ports, rules, policies --- */

/* Mostly {} or one label, so that selectors select. */
static void random_selector(struct mesh_gen *g, struct gen_selector *s, bool namespaces)
{
	static const unsigned char nlabels[10] = {0, 0, 0, 1, 1, 1, 1, 1, 1, 2};
	const struct gen_label_key *keys = namespaces ? gen_ns_keys : gen_pod_keys;
	unsigned int nkeys = namespaces ? 3 : 2, i, k0;

	memset(s, 0, sizeof(*s));
	s->nlabels = nlabels[mesh_gen_below(g, 10)];
	k0 = mesh_gen_below(g, nkeys);
	for (i = 0; i < s->nlabels; i++) {
		unsigned int k = i ? (k0 + 1 + mesh_gen_below(g, nkeys - 1)) % nkeys : k0;

		s->labels[i].key = (unsigned char)k;
		s->labels[i].value = (unsigned char)mesh_gen_below(g, keys[k].nvalues);
	}
	s->nexprs = gen_chance(g, 25) ? (unsigned char)(1 + mesh_gen_below(g, 2)) : 0;
	for (i = 0; i < s->nexprs; i++) {
		unsigned int k = mesh_gen_below(g, nkeys);

		s->exprs[i].key = (unsigned char)k;
		s->exprs[i].op = (unsigned char)mesh_gen_below(g, 4); /* In NotIn Exists DNE */
		s->exprs[i].values =
		    (unsigned char)(1 + mesh_gen_below(g, (1u << keys[k].nvalues) - 1));
	}
}

static void set_v4(struct gen_prefix *p, unsigned int last, unsigned int third, unsigned int len)
{
	memset(p, 0, sizeof(*p));
	p->addr[0] = len ? 10 : 0;
	p->addr[2] = (unsigned char)third;
	p->addr[3] = (unsigned char)last;
	p->len = (unsigned char)len;
}

static void set_v6(struct gen_prefix *p, unsigned int last, unsigned int len)
{
	memset(p, 0, sizeof(*p));
	p->v6 = true;
	if (len) {
		p->addr[0] = 0xfd;
		p->addr[15] = (unsigned char)last;
	}
	p->len = (unsigned char)len;
}

/* Mostly exactly a workload's address (/32, /128): the case the ipcache
 * must give the workload's identity, never a CIDR's. */
static void random_cidr(struct mesh_gen *g, struct gen_prefix *p)
{
	int w = gen_used_workload(g);

	switch (mesh_gen_below(g, 10)) {
	case 0 ... 3:
		if (w >= 0 && g->wl[w].addr4 && (!g->wl[w].addr6 || gen_chance(g, 70)))
			set_v4(p, g->wl[w].addr4, 0, 32);
		else if (w >= 0 && g->wl[w].addr6)
			set_v6(p, g->wl[w].addr6, 128);
		else
			set_v4(p, 1 + mesh_gen_below(g, GEN_ADDRS4), 0, 32);
		break;
	case 4:
		set_v4(p, 1 + mesh_gen_below(g, GEN_ADDRS4 + 1), 0, 32);
		break;
	case 5: /* sometimes with host bits: 10.0.0.5/24 */
		set_v4(p, gen_chance(g, 50) ? mesh_gen_below(g, 32) : 0, 0, 24);
		break;
	case 6:
		set_v4(p, gen_chance(g, 30) ? mesh_gen_below(g, 32) : 0,
		       gen_chance(g, 30) ? mesh_gen_below(g, 4) : 0, 16);
		break;
	case 7:
		set_v4(p, mesh_gen_below(g, 32), 0, 27 + mesh_gen_below(g, 4));
		break;
	case 8:
		if (gen_chance(g, 50))
			set_v6(p, 0, 0);
		else
			set_v4(p, 0, 0, 0);
		break;
	default:
		switch (mesh_gen_below(g, 3)) {
		case 0:
			set_v6(p, 0, 64);
			break;
		case 1:
			set_v6(p, 1 + mesh_gen_below(g, GEN_ADDRS6), 124);
			break;
		default:
			set_v6(p, 1 + mesh_gen_below(g, GEN_ADDRS6 + 1), 128);
		}
	}
}

/* A smaller range inside CIDR (often one host, often a workload's). */
static bool random_except(struct mesh_gen *g, const struct gen_prefix *cidr, struct gen_prefix *e)
{
	unsigned int bits = cidr->v6 ? 128 : 32, i;
	struct gen_prefix host;

	if (cidr->len >= bits)
		return false;
	if (cidr->v6)
		set_v6(&host, 1 + mesh_gen_below(g, GEN_ADDRS6), 128);
	else
		set_v4(&host, mesh_gen_below(g, 32), 0, 32);
	*e = host;
	for (i = 0; i < cidr->len; i++) {
		unsigned char bit = (unsigned char)(0x80u >> (i % 8));

		e->addr[i / 8] =
		    (unsigned char)((e->addr[i / 8] & ~bit) | (cidr->addr[i / 8] & bit));
	}
	e->len = (unsigned char)(gen_chance(g, 50)
				     ? bits
				     : cidr->len + 1 + mesh_gen_below(g, bits - cidr->len));
	return true;
}

static void random_peer(struct mesh_gen *g, struct gen_peer *p)
{
	unsigned int r = mesh_gen_below(g, 10), i;

	memset(p, 0, sizeof(*p));
	if (r < 5) {
		unsigned int which = mesh_gen_below(g, 3);

		p->kind = GEN_PEER_PODS;
		p->has_pods = which != 1;
		p->has_namespaces = which != 0;
		random_selector(g, &p->pods, false);
		random_selector(g, &p->namespaces, true);
	} else if (r < 8) {
		p->kind = GEN_PEER_IPBLOCK;
		random_cidr(g, &p->cidr);
		p->nexcept =
		    gen_chance(g, 35) ? (unsigned char)(1 + mesh_gen_below(g, GEN_EXCEPTS)) : 0;
		for (i = 0; i < p->nexcept; i++)
			if (!random_except(g, &p->cidr, &p->except[i]))
				p->nexcept = (unsigned char)i;
	} else {
		p->kind = GEN_PEER_SA;
		p->sa_ns = (unsigned char)gen_busy_ns(g);
		p->sa_name = (unsigned char)mesh_gen_below(g, ARRAY_LEN(gen_sa_names));
	}
}

static void random_port(struct mesh_gen *g, struct gen_port *p)
{
	unsigned int proto = mesh_gen_below(g, 6), kind = mesh_gen_below(g, 10);

	memset(p, 0, sizeof(*p));
	p->proto = (signed char)(proto < 3 ? -1 : (int)proto - 3);
	p->name = -1;
	if (kind < 2)
		return; /* a protocol alone, or {} */
	if (kind < 7) {
		p->port = gen_chance(g, 10)
			      ? (unsigned short)(1 + mesh_gen_below(g, 65535))
			      : policy_ports[mesh_gen_below(g, ARRAY_LEN(policy_ports))];
		return;
	}
	if (kind < 9) {
		p->name = (signed char)mesh_gen_below(g, ARRAY_LEN(gen_port_names));
		return;
	}
	p->port = policy_ports[mesh_gen_below(g, ARRAY_LEN(policy_ports))];
	p->end_port = (unsigned short)(p->port + 1 + mesh_gen_below(g, 3)); /* a small range */
}

/* -1 (absent) .. MAX, biased to few. */
static signed char random_count(struct mesh_gen *g, unsigned int max)
{
	unsigned int r = mesh_gen_below(g, 8);

	if (r < 3)
		return -1;
	if (r == 3)
		return 0;
	return (signed char)(r - 3 > max ? 1 + mesh_gen_below(g, max) : r - 3);
}

static void random_rule(struct mesh_gen *g, struct gen_rule *r)
{
	int i;

	memset(r, 0, sizeof(*r));
	r->npeers = random_count(g, GEN_PEERS);
	r->nports = random_count(g, GEN_PORTS);
	for (i = 0; i < r->npeers; i++)
		random_peer(g, &r->peers[i]);
	for (i = 0; i < r->nports; i++)
		random_port(g, &r->ports[i]);
}

/* Names unique per namespace: probe from a random one. */
static bool policy_name_taken(const struct mesh_gen *g, int self, unsigned int ns,
			      unsigned int name)
{
	int i;

	for (i = 0; i < GEN_POLICIES; i++)
		if (i != self && g->pol[i].used && g->pol[i].ns == ns && g->pol[i].name == name)
			return true;
	return false;
}

void gen_random_policy(struct mesh_gen *g, int slot)
{
	struct gen_policy *p = &g->pol[slot];
	unsigned int ns = gen_busy_ns(g), name, k, r;

	memset(p, 0, sizeof(*p));
	name = mesh_gen_below(g, ARRAY_LEN(gen_policy_names));
	while (policy_name_taken(g, slot, ns, name))
		name = (name + 1) % ARRAY_LEN(gen_policy_names);
	p->used = true;
	p->ns = (unsigned char)ns;
	p->name = (unsigned char)name;
	random_selector(g, &p->subject, false);
	p->types = (signed char)(gen_chance(g, 50) ? -1 : (int)mesh_gen_below(g, 4));
	for (k = 0; k < GEN_RULE_KINDS; k++) {
		p->nrules[k] = random_count(g, GEN_RULES);
		for (r = 0; (int)r < p->nrules[k]; r++)
			random_rule(g, &p->rules[k][r]);
	}
}

/* --- editing policies --- */

/* A kind with rules, or -1. */
static int kind_with_rules(struct mesh_gen *g, const struct gen_policy *p)
{
	unsigned int start = mesh_gen_below(g, GEN_RULE_KINDS), i;

	for (i = 0; i < GEN_RULE_KINDS; i++)
		if (p->nrules[(start + i) % GEN_RULE_KINDS] > 0)
			return (int)((start + i) % GEN_RULE_KINDS);
	return -1;
}

static void edit_rule(struct mesh_gen *g, struct gen_rule *r)
{
	switch (mesh_gen_below(g, 5)) {
	case 0:
		random_rule(g, r);
		break;
	case 1:
		if (r->npeers > 0)
			random_peer(g, &r->peers[mesh_gen_below(g, (unsigned int)r->npeers)]);
		break;
	case 2:
		if (r->nports > 0)
			random_port(g, &r->ports[mesh_gen_below(g, (unsigned int)r->nports)]);
		break;
	case 3: /* a peer more or less: from [] to no from at all, and back */
		if (r->npeers < GEN_PEERS && gen_chance(g, 50)) {
			if (r->npeers < 0)
				r->npeers = 0;
			random_peer(g, &r->peers[r->npeers++]);
		} else if (r->npeers >= 0) {
			r->npeers--;
		}
		break;
	default:
		if (r->nports < GEN_PORTS && gen_chance(g, 50)) {
			if (r->nports < 0)
				r->nports = 0;
			random_port(g, &r->ports[r->nports++]);
		} else if (r->nports >= 0) {
			r->nports--;
		}
	}
}

void gen_edit_policy(struct mesh_gen *g, int i)
{
	struct gen_policy *p = &g->pol[i];
	int k;

	gen_note(g, "edit-policy(p%d) ", i);
	switch (mesh_gen_below(g, 6)) {
	case 0:
		random_selector(g, &p->subject, false);
		break;
	case 1:
		p->types = (signed char)(gen_chance(g, 50) ? -1 : (int)mesh_gen_below(g, 4));
		break;
	case 2: /* a rule more */
		k = (int)mesh_gen_below(g, GEN_RULE_KINDS);
		if (p->nrules[k] < 0)
			p->nrules[k] = 0;
		if (p->nrules[k] < GEN_RULES)
			random_rule(g, &p->rules[k][p->nrules[k]++]);
		break;
	case 3: /* a rule less, or the whole list gone */
		if ((k = kind_with_rules(g, p)) < 0)
			break;
		p->rules[k][0] = p->rules[k][p->nrules[k] - 1];
		p->nrules[k]--;
		if (!p->nrules[k] && gen_chance(g, 50))
			p->nrules[k] = -1;
		break;
	default:
		if ((k = kind_with_rules(g, p)) >= 0)
			edit_rule(g, &p->rules[k][mesh_gen_below(g, (unsigned int)p->nrules[k])]);
	}
}
