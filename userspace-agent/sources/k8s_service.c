// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A Service and its EndpointSlices (label kubernetes.io/service-name) ->
 * a service of the model: its cluster IPs as virtual IPs, its ports, and
 * as backends the ready endpoints (a workload when the endpoint is a pod
 * of the model, else its address). The target port of each service port
 * is the number the slices give it (a named targetPort resolves per pod;
 * the model has one number per port, so pods that disagree are refused).
 * A service with a port the model cannot have (SCTP) is left out whole,
 * with a warning, never balanced on half its ports.
 * Headless and ExternalName services have no virtual IP: nothing to do.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "k8s_impl.h"
#include "mesh_shared.h"

static bool slice_of(const json_t *slice, const char *ns, const char *name)
{
	const char *sns = k8s_str(slice, "metadata.namespace");
	json_t *labels = json_object_get(json_object_get(slice, "metadata"), "labels");
	const char *svc = json_string_value(json_object_get(labels, "kubernetes.io/service-name"));

	return sns && svc && !strcmp(sns, ns) && !strcmp(svc, name);
}

/* The number the slices give service port SP (matched by name); 0: none. */
static int target_port(struct k8s_tr *tr, const struct cfg_service *s,
		       const struct cfg_service_port *sp, __u16 *out)
{
	const char *key, *pname;
	json_t *slice, *ports, *p;
	json_int_t num;
	size_t i;
	__u8 proto;

	json_object_foreach(tr->slices, key, slice)
	{
		if (!slice_of(slice, s->ns, s->name))
			continue;
		ports = json_object_get(slice, "ports");
		json_array_foreach(ports, i, p)
		{
			pname = k8s_str(p, "name");
			num = json_integer_value(json_object_get(p, "port"));
			if (strcmp(pname ? pname : "", sp->name ? sp->name : "") ||
			    k8s_proto(json_object_get(p, "protocol"), &proto) ||
			    proto != sp->proto || num < 1 || num > 65535)
				continue;
			if (*out && *out != num)
				return -EINVAL;
			*out = (__u16)num;
		}
	}
	return 0;
}

static int service_port(struct k8s_tr *tr, const json_t *p, struct cfg_service *s,
			struct cfg_service_port *out)
{
	const char *app = k8s_str(p, "appProtocol");
	json_t *tp = json_object_get(p, "targetPort");
	json_int_t num = json_integer_value(json_object_get(p, "port"));

	out->name = k8s_dup(tr, k8s_str(p, "name"));
	if (num < 1 || num > 65535 || k8s_proto(json_object_get(p, "protocol"), &out->proto))
		return 1;
	if (out->proto == SHUNT_PROTO_SCTP) {
		k8s_warn(tr, &s->origin,
			 "port %lld is SCTP; services balance TCP and UDP: left out",
			 (long long)num);
		return 1;
	}
	out->port = (__u16)num;
	out->target_port = 0;
	if (target_port(tr, s, out, &out->target_port)) {
		k8s_warn(tr, &s->origin,
			 "port %u: its endpoints give different target port numbers, and the "
			 "model has one per port: left out",
			 out->port);
		return 1;
	}
	if (!out->target_port)
		out->target_port = json_is_integer(tp) ? (__u16)json_integer_value(tp) : out->port;
	out->app_protocol = "tcp";
	if (app && (!strcmp(app, "http") || !strcmp(app, "http2") || !strcmp(app, "grpc")))
		out->app_protocol = k8s_dup(tr, app);
	else if (app && !strcmp(app, "kubernetes.io/h2c"))
		out->app_protocol = "http2";
	if (strcmp(out->app_protocol, "tcp") && out->proto != SHUNT_PROTO_TCP)
		out->app_protocol = "tcp";
	return 0;
}

static int add_backend(struct k8s_tr *tr, struct cfg_service *s, const json_t *ep, const char *addr)
{
	const char *ref_kind = k8s_str(ep, "targetRef.kind"), *ref = k8s_str(ep, "targetRef.name");
	struct cfg_backend *b = &s->backends[s->nbackends];
	char key[600];
	size_t i;

	memset(b, 0, sizeof(*b));
	b->weight = 1;
	b->origin = s->origin;
	snprintf(key, sizeof(key), "%s/%s", s->ns, ref ? ref : "");
	if (ref && ref_kind && !strcmp(ref_kind, "Pod") &&
	    keymap_get(&tr->workloads, key, strlen(key), NULL)) {
		for (i = 0; i < s->nbackends; i++) /* one per pod, whatever its addresses */
			if (s->backends[i].workload && !strcmp(s->backends[i].workload, ref))
				return 0;
		b->workload = k8s_dup(tr, ref);
	} else if (k8s_prefix(addr, false, &b->addr)) {
		return 0;
	}
	s->nbackends++;
	return 0;
}

static int backends(struct k8s_tr *tr, struct cfg_service *s)
{
	json_t *slice, *eps, *ep, *addrs, *a;
	const char *key, *type;
	size_t i, j, n = 0;

	json_object_foreach(tr->slices, key, slice) if (slice_of(slice, s->ns, s->name)) n +=
	    json_array_size(json_object_get(slice, "endpoints")) * 2;
	if (!n)
		return 0;
	if (!(s->backends = shunt_arena_alloc(&tr->cfg->arena, n * sizeof(*s->backends))))
		return k8s_oom(tr);
	json_object_foreach(tr->slices, key, slice)
	{
		type = k8s_str(slice, "addressType");
		if (!slice_of(slice, s->ns, s->name) || !type || !strcmp(type, "FQDN"))
			continue;
		eps = json_object_get(slice, "endpoints");
		json_array_foreach(eps, i, ep)
		{
			/* ready: absent means ready (the API's convention). */
			if (json_is_false(
				json_object_get(json_object_get(ep, "conditions"), "ready")))
				continue;
			addrs = json_object_get(ep, "addresses");
			json_array_foreach(addrs, j, a) if (s->nbackends < n)
			    add_backend(tr, s, ep, json_string_value(a));
		}
	}
	if (s->nbackends > SHUNT_MAX_SERVICE_BACKENDS) {
		k8s_warn(tr, &s->origin,
			 "%zu endpoints, more than the %d a service may have: left out",
			 s->nbackends, SHUNT_MAX_SERVICE_BACKENDS);
		return 1;
	}
	return 0;
}

static int vips(struct k8s_tr *tr, const json_t *svc, struct cfg_service *s)
{
	json_t *ips = json_object_get(json_object_get(svc, "spec"), "clusterIPs"), *ip;
	const char *one = k8s_str(svc, "spec.clusterIP");
	size_t i;

	(void)tr;
	json_array_foreach(ips, i, ip) if (s->nvips < CFG_MAX_ADDRS &&
					   !k8s_prefix(json_string_value(ip), false,
						       &s->vips[s->nvips])) s->nvips++;
	if (!s->nvips && one && !k8s_prefix(one, false, &s->vips[0]))
		s->nvips = 1;
	return s->nvips ? 0 : 1;
}

int k8s_service(struct k8s_tr *tr, const json_t *svc, struct cfg_service *out)
{
	json_t *ports = json_object_get(json_object_get(svc, "spec"), "ports"), *p;
	const char *type = k8s_str(svc, "spec.type");
	size_t i;
	int err;

	memset(out, 0, sizeof(*out));
	if ((type && !strcmp(type, "ExternalName")))
		return 1;
	out->origin = k8s_origin(tr, "Service", svc);
	out->name = out->origin.name;
	out->ns = out->origin.ns ? out->origin.ns : "default";
	if (!out->name || vips(tr, svc, out))
		return 1; /* headless: no virtual IP */
	if (json_array_size(ports) &&
	    !(out->ports =
		  shunt_arena_alloc(&tr->cfg->arena, json_array_size(ports) * sizeof(*out->ports))))
		return k8s_oom(tr);
	json_array_foreach(ports, i, p)
	{
		/* A port that cannot be had leaves the whole service out. */
		if ((err = service_port(tr, p, out, &out->ports[out->nports])))
			return err;
		out->nports++;
	}
	if (!out->nports)
		return 1;
	return backends(tr, out);
}
