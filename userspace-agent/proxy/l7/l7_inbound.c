// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The destination's hop (l7_origin.inbound). A request that crossed the
 * mTLS tunnel to an endpoint of this node is read again here, where the
 * endpoint runs: its authorization policies are enforced by the node that
 * holds the endpoint (a compromised client node cannot skip them), and its
 * telemetry is the destination's. Nothing is routed: the client's node
 * chose the endpoint. The table has one rule that takes every request to
 * that one endpoint, with no filters, retries or limits of its own (the
 * client's hop applied them), and the policies of every L7 service that
 * has the endpoint at that port (the client's node named one service, but
 * this node cannot trust which: every one of them must admit the request).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"
#include "l7_impl.h"

/* T's services: every L7 service with DST as an endpoint at PORT. */
static int find_fronts(const struct mesh_config *cfg, const struct cfg_workload *dst, __u16 port,
		       struct l7_port_table *t)
{
	const struct cfg_service_port *sp;
	const struct cfg_service *s;
	size_t from = 0;

	while ((s = cfg_l7_service_of_endpoint(cfg, dst, port, &from, &sp))) {
		const struct cfg_service **f = realloc(t->fronts, (t->nfronts + 1) * sizeof(*f));

		if (!f)
			return -ENOMEM;
		t->fronts = f;
		t->fronts[t->nfronts++] = s;
		if (!t->svc) {
			t->svc = s;
			t->sp = sp;
		}
	}
	return 0;
}

/* The one rule: every request, to DST at O's address and port. */
static int compile_rule(struct l7_loop *l, struct l7_port_table *t, const struct cfg_workload *dst,
			const struct l7_origin *o)
{
	struct l7_rule *r;
	struct l7_backend *b;
	char key[SHUNT_NAME_MAX + 24];

	t->rules = calloc(1, sizeof(*t->rules));
	t->entries = calloc(1, sizeof(*t->entries));
	if (!t->rules || !t->entries)
		return -ENOMEM;
	r = &t->rules[t->nrules++];
	r->matches = calloc(1, sizeof(*r->matches)); /* m NULL: every request */
	r->backends = calloc(1, sizeof(*r->backends));
	if (!r->matches || !r->backends)
		return -ENOMEM;
	r->nmatches = 1;
	b = &r->backends[r->nbackends++];
	b->svc = t->svc;
	b->sp = t->sp;
	b->weight = r->total_weight = 1;
	/* its own counters: the client hops' limits are not this hop's */
	snprintf(key, sizeof(key), "inbound %s/%s:%u", dst->ns, dst->name, o->service_port);
	b->cluster = l7_cluster_keyed(l, key);
	b->eps = calloc(1, sizeof(*b->eps));
	if (!b->cluster || !b->eps)
		return -ENOMEM;
	b->eps->w = dst;
	memcpy(b->eps->addr, o->service_addr, 16);
	b->eps->port = o->service_port;
	b->eps->stats = l7_endpoint_stats(l, o->service_addr, o->service_port);
	if (!b->eps->stats)
		return -ENOMEM;
	b->neps = 1;
	t->entries[t->nentries++] = (struct l7_entry){.rule = r, .match = &r->matches[0]};
	return 0;
}

struct l7_port_table *l7_inbound_table_for(struct l7_loop *l, struct l7_view *v,
					   const struct cfg_workload *dst,
					   const struct l7_origin *o, enum shunt_outcome *why)
{
	struct l7_port_table *t = NULL;
	char key[SHUNT_NAME_MAX + 64];
	size_t idx;
	int n;

	*why = SHUNT_OUT_L7_NO_ROUTE; /* not an L7 endpoint (any more) */
	if (!dst)
		return NULL;
	n = snprintf(key, sizeof(key), "inbound|%s/%s|%u|", dst->ns, dst->name, o->service_port);
	if (n < 0 || (size_t)n + 16 > sizeof(key))
		return NULL;
	memcpy(key + n, o->service_addr, 16); /* keymap keys are bytes */
	if (keymap_get(&v->tables, key, (size_t)n + 16, &idx))
		return v->table_list[idx];
	t = calloc(1, sizeof(*t));
	if (!t)
		goto nomem;
	t->inbound = true;
	t->v4 = shunt_addr_is_v4(o->service_addr);
	if (find_fronts(v->cfg, dst, o->service_port, t))
		goto nomem;
	if (!t->svc) {
		l7_table_free(t);
		return NULL;
	}
	if (compile_rule(l, t, dst, o) || l7_view_keep_table(v, key, (size_t)n + 16, t))
		goto nomem;
	return t;
nomem:
	l7_table_free(t);
	*why = SHUNT_OUT_SOCKET_FAILED;
	return NULL;
}
