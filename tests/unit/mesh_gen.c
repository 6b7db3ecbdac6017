// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The config model and its mutations (mesh_gen.h); mesh_gen_yaml.c renders
 * it. Every choice keeps the model valid: names unique in their namespace,
 * each address on one workload, excepts inside their cidr, service ports
 * unique, named ports never with endPort. "Zero" is always the quiet choice
 * (a fuzzer's input that ran out changes little and ends loops).
 */
#include "mesh_gen.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *const gen_ns_names[GEN_NAMESPACES] = {"x", "y", "z", "default"};
const char *const gen_workload_names[12] = {"web-1", "web-2", "db-1",	"db-2", "api", "cache",
					    "batch", "front", "worker", "auth", "log", "search"};
const char *const gen_sa_names[3] = {"default", "api", "web"};
const char *const gen_service_names[4] = {"front", "store", "cache", "auth"};
const char *const gen_policy_names[8] = {"p-a", "p-b", "p-c", "p-d", "p-e", "p-f", "p-g", "p-h"};
const char *const gen_port_names[6] = {"serve-80-tcp", "web", "dns", "metrics", "sig", "nope"};
const char *const gen_protocols[3] = {"TCP", "UDP", "SCTP"};

static const char *const pod_values[] = {"a", "b", "c"};
static const char *const app_values[] = {"web", "db"};
static const char *const team_values[] = {"a", "b"};
static const char *const env_values[] = {"p", "q"};

const struct gen_label_key gen_pod_keys[2] = {{"pod", pod_values, 3}, {"app", app_values, 2}};
const struct gen_label_key gen_ns_keys[3] = {
    {"team", team_values, 2},
    {"env", env_values, 2},
    {"kubernetes.io/metadata.name", gen_ns_names, GEN_NAMESPACES},
};

/* Two "web" and two "dns" ports: a named port means different numbers on
 * different pods. A workload has at most one port of each name. */
const struct gen_container_port gen_container_ports[8] = {
    {"serve-80-tcp", 80, 0}, {"web", 8080, 0},	   {"web", 8081, 0}, {"dns", 53, 1},
    {"dns", 5353, 1},	     {"metrics", 9100, 0}, {"sig", 7000, 2}, {NULL, 443, 0},
};

static const unsigned short service_ports[] = {80, 443, 53, 8080};

#define N_VIPS 8

static uint64_t rng_next(struct gen_rng *r)
{
	r->state ^= r->state >> 12;
	r->state ^= r->state << 25;
	r->state ^= r->state >> 27;
	return r->state * 0x2545f4914f6cdd1dull;
}

void mesh_gen_init_seed(struct mesh_gen *g, uint64_t seed)
{
	memset(g, 0, sizeof(*g));
	g->rng.state = seed * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull;
	if (!g->rng.state)
		g->rng.state = 1;
}

void mesh_gen_init_bytes(struct mesh_gen *g, const uint8_t *data, size_t len)
{
	memset(g, 0, sizeof(*g));
	g->rng.buf = data;
	g->rng.len = len;
}

unsigned int mesh_gen_below(struct mesh_gen *g, unsigned int n)
{
	struct gen_rng *r = &g->rng;
	unsigned int v = 0, i, nbytes;

	if (n <= 1)
		return 0;
	if (!r->buf)
		return (unsigned int)((rng_next(r) >> 32) % n);
	/* As few bytes as the choice needs; zeros past the end. */
	nbytes = n <= 256 ? 1 : n <= 65536 ? 2 : 4;
	for (i = 0; i < nbytes; i++)
		v |= (unsigned int)(r->pos < r->len ? r->buf[r->pos++] : 0) << (8 * i);
	return v % n;
}

bool gen_chance(struct mesh_gen *g, unsigned int pct)
{
	return mesh_gen_below(g, 100) >= 100 - pct;
}

void gen_note(struct mesh_gen *g, const char *fmt, ...)
{
	size_t len = strlen(g->change);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(g->change + len, sizeof(g->change) - len, fmt, ap);
	va_end(ap);
}

/* A random used (free) slot of the array ARR, or -1. */
#define RANDOM_USED(g, arr)                                                                        \
	({                                                                                         \
		int _found = -1, _start = (int)mesh_gen_below(g, ARRAY_LEN(arr)), _i;              \
		for (_i = 0; _i < (int)ARRAY_LEN(arr) && _found < 0; _i++)                         \
			if ((arr)[(_start + _i) % (int)ARRAY_LEN(arr)].used)                       \
				_found = (_start + _i) % (int)ARRAY_LEN(arr);                      \
		_found;                                                                            \
	})
#define RANDOM_FREE(g, arr)                                                                        \
	({                                                                                         \
		int _found = -1, _start = (int)mesh_gen_below(g, ARRAY_LEN(arr)), _i;              \
		for (_i = 0; _i < (int)ARRAY_LEN(arr) && _found < 0; _i++)                         \
			if (!(arr)[(_start + _i) % (int)ARRAY_LEN(arr)].used)                      \
				_found = (_start + _i) % (int)ARRAY_LEN(arr);                      \
		_found;                                                                            \
	})

/* --- picking slots and namespaces --- */

int gen_used_workload(struct mesh_gen *g)
{
	return RANDOM_USED(g, g->wl);
}

/* Few namespaces in use, so that selectors and peers find workloads. */
static unsigned int random_ns(struct mesh_gen *g)
{
	static const unsigned char ns[10] = {0, 0, 0, 0, 0, 1, 1, 1, 2, 3};

	return ns[mesh_gen_below(g, 10)];
}

unsigned int gen_busy_ns(struct mesh_gen *g)
{
	int w = RANDOM_USED(g, g->wl);

	return w >= 0 && gen_chance(g, 70) ? g->wl[w].ns : random_ns(g);
}

/* --- workloads --- */

static bool addr_taken(const struct mesh_gen *g, int self, bool v6, unsigned int a)
{
	int i;

	for (i = 0; i < GEN_WORKLOADS; i++)
		if (i != self && g->wl[i].used && (v6 ? g->wl[i].addr6 : g->wl[i].addr4) == a)
			return true;
	return false;
}

/* An address no other workload has (there are more than workloads). */
static unsigned char free_addr(struct mesh_gen *g, int self, bool v6)
{
	unsigned int n = v6 ? GEN_ADDRS6 : GEN_ADDRS4, start = mesh_gen_below(g, n), i;

	for (i = 0; i < n; i++)
		if (!addr_taken(g, self, v6, 1 + (start + i) % n))
			return (unsigned char)(1 + (start + i) % n);
	return 0;
}

static void random_addresses(struct mesh_gen *g, int slot)
{
	struct gen_workload *w = &g->wl[slot];
	unsigned int r = mesh_gen_below(g, 10);

	w->addr4 = r < 8 ? free_addr(g, slot, false) : 0;
	w->addr6 = r >= 6 ? free_addr(g, slot, true) : 0;
}

/* At most one port of each name. */
static void random_container_ports(struct mesh_gen *g, struct gen_workload *w)
{
	unsigned int bits = mesh_gen_below(g, 256), i, j;

	for (i = 0; i < ARRAY_LEN(gen_container_ports); i++)
		for (j = i + 1; j < ARRAY_LEN(gen_container_ports); j++)
			if ((bits & (1u << i)) && gen_container_ports[i].name &&
			    gen_container_ports[j].name &&
			    !strcmp(gen_container_ports[i].name, gen_container_ports[j].name))
				bits &= ~(1u << j);
	w->ports = (unsigned char)bits;
}

static bool workload_name_taken(const struct mesh_gen *g, int self, unsigned int ns,
				unsigned int name)
{
	int i;

	for (i = 0; i < GEN_WORKLOADS; i++)
		if (i != self && g->wl[i].used && g->wl[i].ns == ns && g->wl[i].name == name)
			return true;
	return false;
}

static void random_workload_name(struct mesh_gen *g, int slot)
{
	struct gen_workload *w = &g->wl[slot];
	unsigned int ns = random_ns(g);
	unsigned int name = mesh_gen_below(g, ARRAY_LEN(gen_workload_names));

	while (workload_name_taken(g, slot, ns, name))
		name = (name + 1) % ARRAY_LEN(gen_workload_names);
	w->ns = (unsigned char)ns;
	w->name = (unsigned char)name;
}

static void random_workload(struct mesh_gen *g, int slot)
{
	struct gen_workload *w = &g->wl[slot];

	memset(w, 0, sizeof(*w));
	random_workload_name(g, slot);
	w->used = true;
	w->sa = (unsigned char)mesh_gen_below(g, ARRAY_LEN(gen_sa_names));
	w->pod = (signed char)((int)mesh_gen_below(g, 4) - 1);
	w->app = (signed char)((int)mesh_gen_below(g, 3) - 1);
	w->local = gen_chance(g, 50);
	random_addresses(g, slot);
	random_container_ports(g, w);
	w->shared_cgroup = gen_chance(g, 10);
}

/* Two workloads trade an address: it stays, its owner changes. */
static void swap_addresses(struct mesh_gen *g)
{
	int a = RANDOM_USED(g, g->wl), b = RANDOM_USED(g, g->wl);
	unsigned char t;

	if (a < 0 || a == b || b < 0)
		return;
	t = g->wl[a].addr4;
	g->wl[a].addr4 = g->wl[b].addr4;
	g->wl[b].addr4 = t;
	if (!g->wl[a].addr4 && !g->wl[a].addr6) /* it had only an IPv6 one */
		g->wl[a].addr4 = free_addr(g, a, false);
	if (!g->wl[b].addr4 && !g->wl[b].addr6)
		g->wl[b].addr4 = free_addr(g, b, false);
	gen_note(g, "swap-addresses(w%d,w%d) ", a, b);
}

static void mutate_workload(struct mesh_gen *g)
{
	int w = RANDOM_USED(g, g->wl);
	struct gen_workload *wl;

	if (w < 0)
		return;
	wl = &g->wl[w];
	switch (mesh_gen_below(g, 7)) {
	case 0:
		wl->pod = (signed char)((int)mesh_gen_below(g, 4) - 1);
		wl->app = (signed char)((int)mesh_gen_below(g, 3) - 1);
		gen_note(g, "labels(w%d) ", w);
		break;
	case 1:
		wl->local = !wl->local;
		gen_note(g, "move-node(w%d) ", w);
		break;
	case 2:
		random_addresses(g, w);
		gen_note(g, "addresses(w%d) ", w);
		break;
	case 3:
		random_workload_name(g, w);
		gen_note(g, "rename(w%d) ", w);
		break;
	case 4:
		wl->sa = (unsigned char)mesh_gen_below(g, ARRAY_LEN(gen_sa_names));
		gen_note(g, "serviceAccount(w%d) ", w);
		break;
	case 5:
		random_container_ports(g, wl);
		gen_note(g, "ports(w%d) ", w);
		break;
	default:
		wl->incarnation++;
		wl->shared_cgroup = gen_chance(g, 10);
		gen_note(g, "restart-pod(w%d) ", w);
	}
}

/* --- services --- */

static bool vip_taken(const struct mesh_gen *g, int self, bool v6, unsigned int n)
{
	int i;

	for (i = 0; i < GEN_SERVICES; i++)
		if (i != self && g->svc[i].used && (v6 ? g->svc[i].vip6 : g->svc[i].vip4) == n)
			return true;
	return false;
}

static unsigned char free_vip(struct mesh_gen *g, int self, bool v6)
{
	unsigned int start = mesh_gen_below(g, N_VIPS), i;

	for (i = 0; i < N_VIPS; i++)
		if (!vip_taken(g, self, v6, 1 + (start + i) % N_VIPS))
			return (unsigned char)(1 + (start + i) % N_VIPS);
	return 0;
}

static void random_vips(struct mesh_gen *g, int slot)
{
	unsigned int r = mesh_gen_below(g, 4);

	g->svc[slot].vip4 = r < 3 ? free_vip(g, slot, false) : 0;
	g->svc[slot].vip6 = r >= 2 ? free_vip(g, slot, true) : 0;
}

/* One or two ports, never the same port and protocol twice. */
static void random_service_ports(struct mesh_gen *g, struct gen_service *s)
{
	unsigned int i;

	s->nports = (unsigned char)(1 + mesh_gen_below(g, 2));
	for (i = 0; i < s->nports; i++) {
		s->ports[i].port = service_ports[mesh_gen_below(g, ARRAY_LEN(service_ports))];
		s->ports[i].proto = (unsigned char)mesh_gen_below(g, 3);
		s->ports[i].target =
		    gen_chance(g, 50) ? service_ports[mesh_gen_below(g, ARRAY_LEN(service_ports))]
				      : 0;
	}
	if (s->nports == 2 && s->ports[0].port == s->ports[1].port &&
	    (s->ports[0].proto == 2) == (s->ports[1].proto == 2))
		s->ports[1].port = (unsigned short)(s->ports[0].port + 1);
}

static void random_backend(struct mesh_gen *g, struct gen_backend *b)
{
	unsigned int w = mesh_gen_below(g, 5);

	b->is_workload = gen_chance(g, 60);
	b->workload = (unsigned char)mesh_gen_below(g, GEN_WORKLOADS);
	b->addr = (unsigned char)(1 + mesh_gen_below(g, GEN_ADDRS4 + GEN_ADDRS6));
	b->weight = (signed char)((int)w - 1);
}

static bool service_name_taken(const struct mesh_gen *g, int self, unsigned int ns,
			       unsigned int name)
{
	int i;

	for (i = 0; i < GEN_SERVICES; i++)
		if (i != self && g->svc[i].used && g->svc[i].ns == ns && g->svc[i].name == name)
			return true;
	return false;
}

static void random_service(struct mesh_gen *g, int slot)
{
	struct gen_service *s = &g->svc[slot];
	unsigned int ns = gen_busy_ns(g), i;
	unsigned int name = mesh_gen_below(g, ARRAY_LEN(gen_service_names));

	memset(s, 0, sizeof(*s));
	while (service_name_taken(g, slot, ns, name))
		name = (name + 1) % ARRAY_LEN(gen_service_names);
	s->used = true;
	s->ns = (unsigned char)ns;
	s->name = (unsigned char)name;
	random_vips(g, slot);
	random_service_ports(g, s);
	s->has_selector = gen_chance(g, 50);
	s->sel_pod = (signed char)((int)mesh_gen_below(g, 4) - 1);
	s->sel_app = (signed char)((int)mesh_gen_below(g, 3) - 1);
	s->nbackends = (unsigned char)mesh_gen_below(g, GEN_BACKENDS + 1);
	for (i = 0; i < s->nbackends; i++)
		random_backend(g, &s->backends[i]);
}

static void mutate_service(struct mesh_gen *g)
{
	int i = RANDOM_USED(g, g->svc);
	struct gen_service *s;

	if (i < 0)
		return;
	s = &g->svc[i];
	gen_note(g, "edit-service(s%d) ", i);
	switch (mesh_gen_below(g, 6)) {
	case 0:
		s->has_selector = !s->has_selector;
		break;
	case 1:
		s->sel_pod = (signed char)((int)mesh_gen_below(g, 4) - 1);
		s->sel_app = (signed char)((int)mesh_gen_below(g, 3) - 1);
		break;
	case 2:
		if (s->nbackends < GEN_BACKENDS && gen_chance(g, 60)) {
			random_backend(g, &s->backends[s->nbackends++]);
		} else if (s->nbackends) {
			s->backends[mesh_gen_below(g, s->nbackends)] =
			    s->backends[s->nbackends - 1];
			s->nbackends--;
		}
		break;
	case 3:
		if (s->nbackends)
			s->backends[mesh_gen_below(g, s->nbackends)].weight =
			    (signed char)((int)mesh_gen_below(g, 5) - 1);
		break;
	case 4:
		random_service_ports(g, s);
		break;
	default:
		random_vips(g, i);
	}
}

/* --- namespaces, the node proxy, whole configs --- */

static void random_namespace(struct mesh_gen *g, struct gen_namespace *ns)
{
	ns->declared = gen_chance(g, 60);
	ns->team = (signed char)((int)mesh_gen_below(g, 3) - 1);
	ns->env = (signed char)((int)mesh_gen_below(g, 3) - 1);
	ns->strict = gen_chance(g, 15);
}

static void random_proxy(struct mesh_gen *g)
{
	g->proxy.on = gen_chance(g, 30);
	g->proxy.outbound =
	    gen_chance(g, 50) ? (unsigned char)(1 + mesh_gen_below(g, GEN_ADDRS4)) : 0;
	g->proxy.outbound6 = gen_chance(g, 40);
	g->proxy.runs_here = gen_chance(g, 60);
}

static void randomize_all(struct mesh_gen *g)
{
	unsigned int i, n;

	memset(g->ns, 0, sizeof(g->ns));
	memset(g->wl, 0, sizeof(g->wl));
	memset(g->svc, 0, sizeof(g->svc));
	memset(g->pol, 0, sizeof(g->pol));
	g->strict = gen_chance(g, 15);
	for (i = 0; i < GEN_NAMESPACES; i++)
		random_namespace(g, &g->ns[i]);
	random_proxy(g);
	/* Mostly busy configs; now and then (and for zero bytes) tiny ones. */
	n = gen_chance(g, 85) ? 3 + mesh_gen_below(g, GEN_WORKLOADS - 2) : mesh_gen_below(g, 3);
	for (i = 0; i < n; i++)
		random_workload(g, (int)i);
	n = mesh_gen_below(g, GEN_SERVICES + 1);
	for (i = 0; i < n; i++)
		random_service(g, (int)i);
	n = gen_chance(g, 85) ? 2 + mesh_gen_below(g, GEN_POLICIES - 1) : mesh_gen_below(g, 2);
	for (i = 0; i < n; i++)
		gen_random_policy(g, (int)i);
}

static void add_or_remove(struct mesh_gen *g, unsigned int what, bool add)
{
	int i;

	if (what == 0 && (i = add ? RANDOM_FREE(g, g->wl) : RANDOM_USED(g, g->wl)) >= 0) {
		if (add)
			random_workload(g, i);
		g->wl[i].used = add;
		gen_note(g, "%s-workload(w%d) ", add ? "add" : "remove", i);
	} else if (what == 1 && (i = add ? RANDOM_FREE(g, g->svc) : RANDOM_USED(g, g->svc)) >= 0) {
		if (add)
			random_service(g, i);
		g->svc[i].used = add;
		gen_note(g, "%s-service(s%d) ", add ? "add" : "remove", i);
	} else if (what == 2 && (i = add ? RANDOM_FREE(g, g->pol) : RANDOM_USED(g, g->pol)) >= 0) {
		if (add)
			gen_random_policy(g, i);
		g->pol[i].used = add;
		gen_note(g, "%s-policy(p%d) ", add ? "add" : "remove", i);
	}
}

static void mutate_once(struct mesh_gen *g)
{
	unsigned int r = mesh_gen_below(g, 20), n;
	int i;

	switch (r) {
	case 0 ... 5:
		add_or_remove(g, r / 2, r % 2 == 0);
		break;
	case 6 ... 9:
		mutate_workload(g);
		break;
	case 10:
		swap_addresses(g);
		break;
	case 11 ... 14:
		if ((i = RANDOM_USED(g, g->pol)) >= 0)
			gen_edit_policy(g, i);
		break;
	case 15 ... 16:
		mutate_service(g);
		break;
	case 17 ... 18:
		n = mesh_gen_below(g, GEN_NAMESPACES);
		random_namespace(g, &g->ns[n]);
		gen_note(g, "namespace(%s) ", gen_ns_names[n]);
		break;
	default:
		if (gen_chance(g, 50))
			g->strict = !g->strict;
		else
			random_proxy(g);
		gen_note(g, "mtls-or-proxy ");
	}
}

void mesh_gen_step(struct mesh_gen *g)
{
	unsigned int r, n;

	g->change[0] = 0;
	if (!g->steps++) {
		randomize_all(g);
		gen_note(g, "a new config");
		return;
	}
	r = mesh_gen_below(g, 100);
	if (r < 6) {
		gen_note(g, "no change");
		return;
	}
	if (r < 11) {
		randomize_all(g);
		gen_note(g, "a rewrite");
		return;
	}
	for (n = 1 + mesh_gen_below(g, 3); n; n--)
		mutate_once(g);
	if (!g->change[0])
		gen_note(g, "nothing to change"); /* e.g. no workload to edit */
}
