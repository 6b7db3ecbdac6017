// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Route tables: for a service port (and the family of the address it was
 * reached at), the rules of every HTTPRoute attached to it, compiled
 * (regexes, backends with their endpoints), and their matches ordered by
 * the Gateway API's precedence. Built on first use in a view.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/addr.h"
#include "l7_impl.h"

static const struct cfg_service *service_at(const struct mesh_config *cfg, const __u8 addr[16],
					    __u16 port, const struct cfg_service_port **sp,
					    size_t *si, size_t *pi)
{
	size_t i, v, p;

	for (i = 0; i < cfg->nservices; i++) {
		const struct cfg_service *s = &cfg->services[i];

		for (v = 0; v < s->nvips; v++) {
			if (memcmp(s->vips[v].addr, addr, 16))
				continue;
			for (p = 0; p < s->nports; p++)
				if (s->ports[p].port == port && s->ports[p].proto == 6) {
					*sp = &s->ports[p];
					*si = i;
					*pi = p;
					return s;
				}
		}
	}
	return NULL;
}

static const __u8 *address_of_family(const struct cfg_workload *w, bool v4)
{
	size_t i;

	for (i = 0; i < w->naddrs; i++)
		if (shunt_addr_is_v4(w->addrs[i].addr) == v4)
			return w->addrs[i].addr;
	return NULL;
}

static int add_endpoint(struct l7_loop *l, struct l7_backend *b, const struct cfg_workload *w,
			bool v4)
{
	const __u8 *addr = address_of_family(w, v4);
	struct l7_ep_ref *e;

	if (!addr)
		return 0;
	e = realloc(b->eps, (b->neps + 1) * sizeof(*e));
	if (!e)
		return -1;
	b->eps = e;
	e = &b->eps[b->neps];
	e->w = w;
	memcpy(e->addr, addr, 16);
	e->port = b->sp->target_port;
	e->stats = l7_endpoint_stats(l, e->addr, e->port);
	if (!e->stats)
		return -1;
	b->neps++;
	return 0;
}

/* B's endpoints: the workloads its service selects or lists. */
static int resolve_endpoints(struct l7_loop *l, const struct mesh_config *cfg, struct l7_backend *b,
			     bool v4)
{
	const struct cfg_service *s = b->svc;
	size_t i;

	for (i = 0; s->has_selector && i < cfg->nworkloads; i++) {
		const struct cfg_workload *w = &cfg->workloads[i];

		if (!strcmp(w->ns, s->ns) && cfg_labels_subset(&s->selector, &w->labels) &&
		    add_endpoint(l, b, w, v4))
			return -1;
	}
	for (i = 0; i < s->nbackends; i++) {
		const struct cfg_backend *be = &s->backends[i];
		size_t j;

		if (!be->workload || !be->weight)
			continue; /* plain addresses: no identity to route on behalf of */
		for (j = 0; j < cfg->nworkloads; j++)
			if (!strcmp(cfg->workloads[j].ns, s->ns) &&
			    !strcmp(cfg->workloads[j].name, be->workload) &&
			    add_endpoint(l, b, &cfg->workloads[j], v4))
				return -1;
	}
	return 0;
}

static int compile_backends(struct l7_loop *l, const struct mesh_config *cfg, struct l7_rule *r,
			    const struct cfg_service *parent, const struct cfg_service_port *psp,
			    bool v4)
{
	size_t i, n = r->r && r->r->nbackends ? r->r->nbackends : 1;

	r->backends = calloc(n, sizeof(*r->backends));
	if (!r->backends)
		return -1;
	for (i = 0; i < n; i++) {
		struct l7_backend *b = &r->backends[r->nbackends];
		const struct cfg_http_backend *cb =
		    r->r && r->r->nbackends ? &r->r->backends[i] : NULL;
		size_t p;

		memset(b, 0, sizeof(*b)); /* a slot a skipped one may have half filled */
		b->weight = cb ? cb->weight : 1;
		if (cb && cb->unresolved) {
			/* svc NULL: drawn by weight, answered 500, never sent */
			r->total_weight += b->weight;
			r->nbackends++;
			continue;
		}
		b->svc = cb ? cfg_service_find(cfg, parent->ns, cb->service) : parent;
		b->sp = cb ? NULL : psp;
		for (p = 0; cb && b->svc && p < b->svc->nports; p++)
			if (b->svc->ports[p].port == cb->port && b->svc->ports[p].proto == 6)
				b->sp = &b->svc->ports[p];
		if (!b->svc || !b->sp)
			continue; /* checked at parse time; a view never loses one */
		b->tp = b->svc->has_traffic_policy ? &b->svc->traffic_policy : NULL;
		b->cluster = l7_cluster_for(l, b->svc, b->sp->port);
		if (!b->cluster || resolve_endpoints(l, cfg, b, v4))
			return -1;
		r->total_weight += b->weight;
		r->nbackends++;
	}
	return 0;
}

/* The rule's RequestMirror target, resolved like a backend. */
static int compile_mirror(struct l7_loop *l, const struct mesh_config *cfg, struct l7_rule *r,
			  const char *ns, bool v4)
{
	struct l7_backend *b = &r->mirror;
	size_t p;

	b->svc = cfg_service_find(cfg, ns, r->r->mirror.service);
	for (p = 0; b->svc && p < b->svc->nports; p++)
		if (b->svc->ports[p].port == r->r->mirror.port && b->svc->ports[p].proto == 6)
			b->sp = &b->svc->ports[p];
	if (!b->svc || !b->sp) {
		b->svc = NULL;
		return 0;
	}
	b->weight = 1;
	b->tp = b->svc->has_traffic_policy ? &b->svc->traffic_policy : NULL;
	b->cluster = l7_cluster_for(l, b->svc, b->sp->port);
	return !b->cluster || resolve_endpoints(l, cfg, b, v4) ? -1 : 0;
}

static int compile_match(struct l7_match *cm, const struct cfg_http_match *m)
{
	size_t i;

	cm->m = m;
	if (!m)
		return 0;
	if (m->path_type == CFG_PATH_REGEX) {
		if (regcomp(&cm->path_re, m->path, REG_EXTENDED | REG_NOSUB))
			return -1;
		cm->has_path_re = true;
	}
	cm->header_re = calloc(m->nheaders + 1, sizeof(regex_t));
	cm->query_re = calloc(m->nquery + 1, sizeof(regex_t));
	if (!cm->header_re || !cm->query_re)
		return -1;
	for (i = 0; i < m->nheaders; i++)
		if (m->headers[i].type == CFG_VALUE_REGEX &&
		    regcomp(&cm->header_re[i], m->headers[i].value, REG_EXTENDED | REG_NOSUB))
			return -1;
	for (i = 0; i < m->nquery; i++)
		if (m->query[i].type == CFG_VALUE_REGEX &&
		    regcomp(&cm->query_re[i], m->query[i].value, REG_EXTENDED | REG_NOSUB))
			return -1;
	return 0;
}

static void free_match(struct l7_match *cm)
{
	size_t i;

	if (cm->has_path_re)
		regfree(&cm->path_re);
	for (i = 0; cm->m && cm->header_re && i < cm->m->nheaders; i++)
		if (cm->m->headers[i].type == CFG_VALUE_REGEX)
			regfree(&cm->header_re[i]);
	for (i = 0; cm->m && cm->query_re && i < cm->m->nquery; i++)
		if (cm->m->query[i].type == CFG_VALUE_REGEX)
			regfree(&cm->query_re[i]);
	free(cm->header_re);
	free(cm->query_re);
}

void l7_table_free(struct l7_port_table *t)
{
	size_t i, j;

	if (!t)
		return;
	for (i = 0; i < t->nrules; i++) {
		struct l7_rule *r = &t->rules[i];

		for (j = 0; j < r->nmatches; j++)
			free_match(&r->matches[j]);
		for (j = 0; j < r->nbackends; j++)
			free(r->backends[j].eps);
		free(r->mirror.eps);
		free(r->matches);
		free(r->backends);
	}
	free(t->rules);
	free(t->entries);
	free(t->fronts);
	free(t);
}

static bool route_takes(const struct cfg_http_route *rt, const struct cfg_service *s,
			const struct cfg_service_port *sp)
{
	size_t i;

	if (strcmp(rt->ns, s->ns))
		return false;
	for (i = 0; i < rt->nparents; i++)
		if (!strcmp(rt->parents[i].service, s->name) &&
		    (!rt->parents[i].port || rt->parents[i].port == sp->port))
			return true;
	return false;
}

static size_t count_rules(const struct mesh_config *cfg, const struct cfg_service *s,
			  const struct cfg_service_port *sp)
{
	size_t i, n = 0;

	for (i = 0; i < cfg->nhttp_routes; i++)
		if (route_takes(&cfg->http_routes[i], s, sp))
			n += cfg->http_routes[i].nrules ? cfg->http_routes[i].nrules : 1;
	return n;
}

/* One rule: its matches compiled (none: one that takes everything). */
static int compile_rule(struct l7_loop *l, const struct mesh_config *cfg, struct l7_port_table *t,
			const struct cfg_http_route *rt, const struct cfg_http_rule *cr)
{
	struct l7_rule *r = &t->rules[t->nrules++];
	size_t j, n = cr && cr->nmatches ? cr->nmatches : 1;

	r->route = rt;
	r->r = cr;
	r->matches = calloc(n, sizeof(*r->matches));
	if (!r->matches)
		return -1;
	for (j = 0; j < n; j++, r->nmatches++)
		if (compile_match(&r->matches[j], cr && cr->nmatches ? &cr->matches[j] : NULL))
			return -1;
	if (compile_backends(l, cfg, r, t->svc, t->sp, t->v4))
		return -1;
	return cr && cr->mirror.service ? compile_mirror(l, cfg, r, t->svc->ns, t->v4) : 0;
}

/* Gateway API precedence: Exact path, then the longest prefix, then a
 * method, then most headers, then most query parameters; ties keep config
 * order. Where regexes go is left to implementations: here after Exact and
 * before every prefix (a regex is written for the paths it names; a
 * catch-all prefix "/" must not shadow it). Larger ranks first. */
static long long match_rank(const struct l7_match *m)
{
	long long kind = 1, len = 1;

	if (m->m) {
		kind = m->m->path_type == CFG_PATH_EXACT   ? 3
		       : m->m->path_type == CFG_PATH_REGEX ? 2
							   : 1;
		len = (long long)strlen(m->m->path);
	}
	return (((kind * 100000 + len) * 2 + (m->m && m->m->method)) * 1000 +
		(long long)(m->m ? m->m->nheaders : 0)) *
		   1000 +
	       (long long)(m->m ? m->m->nquery : 0);
}

static int entry_cmp(const void *a, const void *b)
{
	const struct l7_entry *x = a, *y = b;
	long long rx = match_rank(x->match), ry = match_rank(y->match);

	if (rx != ry)
		return rx > ry ? -1 : 1;
	/* config order: rules and matches are laid out in it */
	if (x->rule != y->rule)
		return x->rule < y->rule ? -1 : 1;
	return x->match < y->match ? -1 : x->match > y->match;
}

static int order_entries(struct l7_port_table *t)
{
	size_t i, j, n = 0;

	for (i = 0; i < t->nrules; i++)
		n += t->rules[i].nmatches;
	t->entries = calloc(n ? n : 1, sizeof(*t->entries));
	if (!t->entries)
		return -1;
	for (i = 0; i < t->nrules; i++)
		for (j = 0; j < t->rules[i].nmatches; j++)
			t->entries[t->nentries++] = (struct l7_entry){
			    .rule = &t->rules[i], .match = &t->rules[i].matches[j]};
	/* qsort is not stable: entry_cmp breaks ties by position */
	qsort(t->entries, t->nentries, sizeof(*t->entries), entry_cmp);
	return 0;
}

static struct l7_port_table *compile_table(struct l7_loop *l, const struct mesh_config *cfg,
					   const struct cfg_service *s,
					   const struct cfg_service_port *sp, bool v4)
{
	struct l7_port_table *t = calloc(1, sizeof(*t));
	size_t i, j, n = count_rules(cfg, s, sp);

	if (!t)
		return NULL;
	t->svc = s;
	t->sp = sp;
	t->v4 = v4;
	t->rules = calloc(n ? n : 1, sizeof(*t->rules));
	if (!t->rules)
		goto fail;
	for (i = 0; i < cfg->nhttp_routes; i++) {
		const struct cfg_http_route *rt = &cfg->http_routes[i];

		if (!route_takes(rt, s, sp))
			continue;
		for (j = 0; j < (rt->nrules ? rt->nrules : 1); j++)
			if (compile_rule(l, cfg, t, rt, rt->nrules ? &rt->rules[j] : NULL))
				goto fail;
	}
	/* No route: the service itself, every request (appProtocol alone). */
	if (!n && compile_rule(l, cfg, t, NULL, NULL))
		goto fail;
	if (order_entries(t))
		goto fail;
	return t;
fail:
	l7_table_free(t);
	return NULL;
}

int l7_view_keep_table(struct l7_view *v, const void *key, size_t len, struct l7_port_table *t)
{
	struct l7_port_table **list;

	if (v->ntables == v->tables_cap) {
		size_t cap = v->tables_cap ? v->tables_cap * 2 : 8;

		list = realloc(v->table_list, cap * sizeof(*list));
		if (!list)
			return -ENOMEM;
		v->table_list = list;
		v->tables_cap = cap;
	}
	if (keymap_put(&v->tables, key, len, v->ntables, NULL))
		return -ENOMEM;
	v->table_list[v->ntables++] = t;
	return 0;
}

struct l7_port_table *l7_table_for(struct l7_loop *l, struct l7_view *v, const struct l7_origin *o,
				   enum shunt_outcome *why)
{
	const struct cfg_service_port *sp = NULL;
	const struct cfg_service *s;
	struct l7_port_table *t;
	char key[64];
	size_t si = 0, pi = 0, idx;
	bool v4 = shunt_addr_is_v4(o->service_addr);

	s = service_at(v->cfg, o->service_addr, o->service_port, &sp, &si, &pi);
	if (!s || !cfg_service_port_is_l7(v->cfg, s, sp)) {
		*why = SHUNT_OUT_L7_NO_ROUTE;
		return NULL;
	}
	snprintf(key, sizeof(key), "%zu|%zu|%d", si, pi, v4);
	if (keymap_get(&v->tables, key, strlen(key), &idx))
		return v->table_list[idx];
	t = compile_table(l, v->cfg, s, sp, v4);
	if (!t || l7_view_keep_table(v, key, strlen(key), t)) {
		l7_table_free(t);
		*why = SHUNT_OUT_SOCKET_FAILED; /* out of memory */
		return NULL;
	}
	return t;
}
