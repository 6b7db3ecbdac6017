// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Services -> map entries: a service port per address family, its backends
 * with cumulative weights for the kernel's binary search. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"
#include "model/http_route.h"
#include "plan_compiler.h"

/* The address of W in the VIP's family, or NULL. */
static const __u8 *address_like(const struct cfg_workload *w, const struct cfg_prefix *vip)
{
	size_t i;

	for (i = 0; i < w->naddrs; i++)
		if (w->addrs[i].v4 == vip->v4)
			return w->addrs[i].addr;
	return NULL;
}

/* The index of workload NS/NAME, or -1. */
static long workload_index(const struct compiler *c, const char *ns, const char *name)
{
	char key[SHUNT_NAME_MAX];
	int len = snprintf(key, sizeof(key), "%s/%s", ns, name);
	size_t idx;

	if (len < 0 || (size_t)len >= sizeof(key))
		return -1;
	return keymap_get(&c->by_name, key, (size_t)len, &idx) ? (long)idx : -1;
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

/* The workloads S selects, with an address in VIP's family, each weight 1. */
static int push_selected_backends(struct compiler *c, const struct cfg_service *s,
				  const struct cfg_service_port *sp, const struct cfg_prefix *vip,
				  __u32 id, __u32 *count, __u32 *total)
{
	const struct cfg_selector sel = {.match_labels = s->selector};
	const struct wl_list *cand = plan_candidates(c, s->ns, &sel);
	size_t ci;
	int err;

	for (ci = 0; s->has_selector && ci < cand->n; ci++) {
		size_t w = cand->items[ci];
		const struct cfg_workload *wl = &c->cfg->workloads[w];
		const __u8 *addr = address_like(wl, vip);

		if (!cfg_labels_subset(&s->selector, &wl->labels) || !addr)
			continue;
		if (*count == SHUNT_MAX_SERVICE_BACKENDS)
			return plan_fail_at(c, &s->origin,
					    "service %s/%s selects more than %d backends", s->ns,
					    s->name, SHUNT_MAX_SERVICE_BACKENDS);
		if ((err = push_backend(c, id, count, total, addr, sp->target_port, 1, c->ids[w])))
			return err;
	}
	return 0;
}

/* The backends S lists, by workload or address, in VIP's family. */
static int push_listed_backends(struct compiler *c, const struct cfg_service *s,
				const struct cfg_service_port *sp, const struct cfg_prefix *vip,
				__u32 id, __u32 *count, __u32 *total)
{
	size_t b;
	int err;

	for (b = 0; b < s->nbackends; b++) {
		const struct cfg_backend *be = &s->backends[b];
		const __u8 *addr = be->addr.addr;
		__u32 ident = 0;

		if (be->workload) {
			long wi = workload_index(c, s->ns, be->workload);

			if (wi < 0)
				return plan_fail_at(c, &be->origin,
						    "backend workload %s/%s is not defined", s->ns,
						    be->workload);
			addr = address_like(&c->cfg->workloads[wi], vip);
			ident = c->ids[wi];
		} else if (be->addr.v4 != vip->v4) {
			addr = NULL;
		}
		if (addr && (err = push_backend(c, id, count, total, addr, sp->target_port,
						be->weight, ident)))
			return err;
	}
	return 0;
}

static __u32 service_flags(const struct mesh_config *cfg, const struct cfg_service *s,
			   const struct cfg_service_port *sp)
{
	if (!cfg_service_port_is_l7(cfg, s, sp))
		return 0;
	return SHUNT_SVC_L7 | (strcmp(sp->app_protocol, "tcp") ? SHUNT_SVC_L7_APP_PROTOCOL : 0);
}

/* W's addresses at PORT as L7 endpoints, each once (SEEN). */
static int push_l7_endpoint(struct compiler *c, struct keymap *seen, const struct cfg_workload *w,
			    __u16 port)
{
	struct shunt_service value = {.flags = SHUNT_SVC_L7 | SHUNT_SVC_L7_ENDPOINT};
	size_t a;
	int err;

	for (a = 0; a < w->naddrs; a++) {
		struct shunt_service_key key = {.proto = SHUNT_PROTO_TCP, .port = port};
		bool existed = false;

		memcpy(key.addr, w->addrs[a].addr, 16);
		if ((err = keymap_put(seen, &key, sizeof(key), 0, &existed)))
			return err;
		if (!existed && (err = kv_push(&c->plan->maps[PLAN_SERVICES], &key, &value)))
			return err;
	}
	return 0;
}

/* The workloads of this node behind a TCP port of a service with
 * authorization policies: connects to their address and target port go to
 * the L7 side like the service's own (SHUNT_SVC_L7_ENDPOINT), so the
 * policies hold for a client that dials the pod, not the service. */
static int plan_l7_endpoints(struct compiler *c)
{
	const struct mesh_config *cfg = c->cfg;
	struct keymap seen = {};
	size_t i, p, w;
	int err = 0;

	for (i = 0; !err && i < cfg->nservices; i++) {
		const struct cfg_service *s = &cfg->services[i];

		if (!cfg_service_is_authorized(cfg, s))
			continue;
		for (w = 0; !err && w < cfg->nworkloads; w++) {
			const struct cfg_workload *wl = &cfg->workloads[w];

			if (!mesh_workload_is_local(wl, c->node) || !cfg_service_fronts(s, wl))
				continue;
			for (p = 0; !err && p < s->nports; p++)
				if (s->ports[p].proto == SHUNT_PROTO_TCP)
					err =
					    push_l7_endpoint(c, &seen, wl, s->ports[p].target_port);
		}
	}
	keymap_free(&seen);
	return err;
}

/* One service port id per (service, port, address family). */
int plan_services(struct compiler *c)
{
	const struct mesh_config *cfg = c->cfg;
	__u32 next_id = 1;
	size_t i, p, v;
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
					if ((err = plan_add_name(
						 c, SHUNT_NAME_SERVICE, ids[fam], "%s/%s:%u/%s",
						 s->ns, s->name, sp->port,
						 sp->proto == SHUNT_PROTO_TCP ? "tcp" : "udp")) ||
					    (err = push_selected_backends(c, s, sp, vip, ids[fam],
									  &counts[fam],
									  &totals[fam])) ||
					    (err =
						 push_listed_backends(c, s, sp, vip, ids[fam],
								      &counts[fam], &totals[fam])))
						return err;
				}
				value = (struct shunt_service){
				    .id = ids[fam],
				    .backends = counts[fam],
				    .total_weight = totals[fam],
				    .flags = service_flags(cfg, s, sp),
				};
				memcpy(key.addr, vip->addr, 16);
				if ((err = kv_push(&c->plan->maps[PLAN_SERVICES], &key, &value)))
					return err;
			}
		}
	}
	c->plan->nservices = cfg->nservices;
	return plan_l7_endpoints(c);
}
