// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Node objects -> the model's nodes, when the mesh settings have nodeProxy
 * (docs/kubernetes.md "Cross-node mTLS"): the proxy of each node listens on
 * the node's InternalIP (the DaemonSet runs on the host's network), the
 * outbound port where its pods reach it and the inbound port where other
 * nodes do. A Node's first IPv4 InternalIP is both addresses; its first
 * IPv6 one, if any, the outbound address of its IPv6 pods. A node named in
 * the settings' own `nodes` keeps that entry (k8s_settings_copy).
 */
#include <string.h>

#include "common/addr.h"
#include "k8s_impl.h"
#include "model/names.h"

/* The first InternalIP of OBJ's status.addresses of family V4 into ADDR. */
static bool internal_ip(const json_t *obj, bool v4, __u8 addr[16])
{
	const json_t *list = json_object_get(json_object_get(obj, "status"), "addresses");
	const json_t *a;
	const char *type, *ip;
	size_t i;

	json_array_foreach(list, i, a)
	{
		type = json_string_value(json_object_get(a, "type"));
		ip = json_string_value(json_object_get(a, "address"));
		if (type && ip && !strcmp(type, "InternalIP") && !shunt_addr_parse(ip, addr) &&
		    shunt_addr_is_v4(addr) == v4)
			return true;
	}
	return false;
}

int k8s_node(struct k8s_tr *tr, const json_t *obj, struct cfg_node *out)
{
	const struct cfg_node_proxy *np = tr->opts->node_proxy;
	const char *name = k8s_str(obj, "metadata.name");
	__u8 v4[16], v6[16];

	memset(out, 0, sizeof(*out));
	out->origin = k8s_origin(tr, "Node", obj);
	if (!name || name_check_dns_subdomain(name)) {
		k8s_warn(tr, &out->origin, "not a node name: no proxy for it");
		return 1;
	}
	if (!internal_ip(obj, true, v4)) {
		/* a node still registering; its pods are reached without a proxy */
		k8s_warn(tr, &out->origin, "no IPv4 InternalIP in status.addresses: no proxy yet");
		return 1;
	}
	if (!(out->name = k8s_dup(tr, name)))
		return k8s_oom(tr);
	memcpy(out->outbound.addr, v4, sizeof(v4));
	out->outbound.port = np->outbound_port;
	memcpy(out->inbound.addr, v4, sizeof(v4));
	out->inbound.port = np->inbound_port;
	if (internal_ip(obj, false, v6)) {
		memcpy(out->outbound6.addr, v6, sizeof(v6));
		out->outbound6.port = np->outbound_port;
		out->has_outbound6 = true;
	}
	/* the proxy's tc program for the client's address would be on the
	 * InternalIP's interface, not the pods' (docs/proxy.md) */
	out->source_from_node = true;
	out->has_proxy = true;
	return 0;
}
