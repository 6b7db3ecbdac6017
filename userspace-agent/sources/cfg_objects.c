// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Workloads, namespaces, nodes and services. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"
#include "cfg_parse.h"
#include "mesh_shared.h"

static int cfg_parse_addrs(struct cfg_parser *p, yaml_node_t *n, const char *what,
			   struct cfg_prefix *addrs, size_t *count)
{
	size_t i;
	int err;

	if ((err = cfgy_get_seq(p, n, what, count)))
		return err;
	if (*count > CFG_MAX_ADDRS)
		return cfgy_fail(p, n, "at most %d %s", CFG_MAX_ADDRS, what);
	for (i = 0; i < *count; i++)
		if ((err =
			 cfgy_parse_prefix(p, cfgy_seq_item(p, n, i), "address", false, &addrs[i])))
			return err;
	return 0;
}

/* ports: [{name: http, containerPort: 8080, protocol: TCP}], as in a pod spec. */
static int cfg_parse_container_ports(struct cfg_parser *p, yaml_node_t *n, struct cfg_workload *out)
{
	static const char *const keys[] = {"name", "containerPort", "protocol", NULL};
	unsigned long num;
	size_t i, j;
	int err;

	if ((err = cfgy_get_seq(p, n, "ports", &out->nports)))
		return err;
	out->ports = cfgy_alloc_array(p, out->nports, sizeof(*out->ports));
	if (out->nports && !out->ports)
		return cfgy_oom(p);
	for (i = 0; i < out->nports; i++) {
		struct cfg_container_port *cp = &out->ports[i];
		yaml_node_t *pn = cfgy_seq_item(p, n, i), *v;

		if ((err = cfgy_check_map(p, pn, "a container port", keys)))
			return err;
		if (!(v = cfgy_map_get(p, pn, "containerPort")))
			return cfgy_fail(p, pn, "a container port needs 'containerPort'");
		if ((err = cfgy_get_uint(p, v, "containerPort", 1, 65535, &num)))
			return err;
		cp->port = (__u16)num;
		cp->proto = SHUNT_PROTO_TCP;
		if ((v = cfgy_map_get(p, pn, "protocol")) &&
		    (err = cfgy_parse_proto(p, v, &cp->proto)))
			return err;
		if (!(v = cfgy_map_get(p, pn, "name")))
			continue;
		if ((err = cfgy_get_str(p, v, "port name", &cp->name)) ||
		    (err = cfgy_check_port_name(p, v, cp->name)))
			return err;
		for (j = 0; j < i; j++)
			if (out->ports[j].name && !strcmp(out->ports[j].name, cp->name))
				return cfgy_fail(p, v,
						 "port name '%s' appears twice in workload %s",
						 cp->name, out->name);
	}
	return 0;
}

int cfg_parse_workload(struct cfg_parser *p, yaml_node_t *n, struct cfg_workload *out)
{
	static const char *const keys[] = {"name",   "namespace", "serviceAccount", "labels",
					   "node",   "addresses", "ports",	    "netns",
					   "cgroup", "accessLog", "tracing",	    NULL};
	yaml_node_t *v;
	int err;

	out->origin = cfgy_origin_of(p, n);
	if ((err = cfgy_check_map(p, n, "a workload", keys)))
		return err;
	if (!(v = cfgy_map_get(p, n, "name")))
		return cfgy_fail(p, n, "a workload needs 'name'");
	if ((err = cfgy_get_subdomain(p, v, "workload name", &out->name)))
		return err;
	out->ns = "default";
	out->service_account = "default";
	if ((v = cfgy_map_get(p, n, "namespace")) &&
	    (err = cfgy_get_name(p, v, "namespace", &out->ns)))
		return err;
	if ((v = cfgy_map_get(p, n, "serviceAccount")) &&
	    (err = cfgy_get_subdomain(p, v, "serviceAccount", &out->service_account)))
		return err;
	if ((v = cfgy_map_get(p, n, "labels")) &&
	    (err = cfgy_parse_labels(p, v, "labels", &out->labels)))
		return err;
	if (!(v = cfgy_map_get(p, n, "node")))
		return cfgy_fail(p, n, "workload %s needs 'node'", out->name);
	if ((err = cfgy_get_subdomain(p, v, "node", &out->node)))
		return err;
	if (!(v = cfgy_map_get(p, n, "addresses")))
		return cfgy_fail(p, n, "workload %s needs 'addresses'", out->name);
	if ((err = cfg_parse_addrs(p, v, "addresses", out->addrs, &out->naddrs)))
		return err;
	if (!out->naddrs)
		return cfgy_fail(p, v, "workload %s needs at least one address", out->name);
	if ((v = cfgy_map_get(p, n, "ports")) && (err = cfg_parse_container_ports(p, v, out)))
		return err;
	if ((v = cfgy_map_get(p, n, "netns")) && (err = cfgy_get_str(p, v, "netns", &out->netns)))
		return err;
	if ((v = cfgy_map_get(p, n, "cgroup")) &&
	    (err = cfgy_get_str(p, v, "cgroup", &out->cgroup)))
		return err;
	if ((v = cfgy_map_get(p, n, "accessLog")) &&
	    (err = cfg_parse_access_log(p, v, false, &out->access_log)))
		return err;
	if ((v = cfgy_map_get(p, n, "tracing")) &&
	    (err = cfg_parse_workload_tracing(p, v, &out->tracing)))
		return err;
	return 0;
}

/* mtls: {mode: STRICT|PERMISSIVE}, like Istio's PeerAuthentication. */
int cfg_parse_mtls(struct cfg_parser *p, yaml_node_t *n, enum cfg_mtls *out)
{
	static const char *const keys[] = {"mode", NULL};
	yaml_node_t *v;
	const char *mode;
	int err;

	if ((err = cfgy_check_map(p, n, "mtls", keys)))
		return err;
	if (!(v = cfgy_map_get(p, n, "mode")))
		return cfgy_fail(p, n, "mtls needs 'mode' (STRICT or PERMISSIVE)");
	if ((err = cfgy_get_str(p, v, "mode", &mode)))
		return err;
	if (!strcmp(mode, "STRICT"))
		*out = CFG_MTLS_STRICT;
	else if (!strcmp(mode, "PERMISSIVE"))
		*out = CFG_MTLS_PERMISSIVE;
	else
		return cfgy_fail(p, v, "mtls mode must be STRICT or PERMISSIVE, not '%s'", mode);
	return 0;
}

int cfg_parse_namespace(struct cfg_parser *p, yaml_node_t *n, struct cfg_namespace *out)
{
	static const char *const keys[] = {"name", "labels", "mtls", NULL};
	yaml_node_t *v;
	int err;

	out->origin = cfgy_origin_of(p, n);
	if ((err = cfgy_check_map(p, n, "a namespace", keys)))
		return err;
	if (!(v = cfgy_map_get(p, n, "name")))
		return cfgy_fail(p, n, "a namespace needs 'name'");
	if ((err = cfgy_get_name(p, v, "namespace name", &out->name)))
		return err;
	if ((v = cfgy_map_get(p, n, "labels")) &&
	    (err = cfgy_parse_labels(p, v, "labels", &out->labels)))
		return err;
	if ((v = cfgy_map_get(p, n, "mtls")) && (err = cfg_parse_mtls(p, v, &out->mtls)))
		return err;
	return 0;
}

/* "10.0.0.1:15001" or "[fd00::1]:15001". */
static int cfg_parse_endpoint(struct cfg_parser *p, yaml_node_t *n, const char *what,
			      struct cfg_endpoint *out)
{
	const char *s;
	int err;

	if ((err = cfgy_get_str(p, n, what, &s)))
		return err;
	if (shunt_endpoint_parse(s, out->addr, &out->port))
		return cfgy_fail(p, n, "%s '%s' must be ADDRESS:PORT", what, s);
	return 0;
}

/* sourceAddress: client or node (docs/config.md "nodes"). */
static int parse_source_address(struct cfg_parser *p, yaml_node_t *v, bool *from_node)
{
	const char *mode;
	int err;

	if ((err = cfgy_get_str(p, v, "sourceAddress", &mode)))
		return err;
	if (strcmp(mode, "client") && strcmp(mode, "node"))
		return cfgy_fail(p, v, "sourceAddress must be 'client' or 'node', not '%s'", mode);
	*from_node = !strcmp(mode, "node");
	return 0;
}

int cfg_parse_node(struct cfg_parser *p, yaml_node_t *n, struct cfg_node *out)
{
	static const char *const keys[] = {"name", "proxy", NULL};
	static const char *const proxy_keys[] = {"outbound", "outbound6",     "inbound", "netns",
						 "cgroup",   "sourceAddress", NULL};
	yaml_node_t *v, *px;
	int err;

	out->origin = cfgy_origin_of(p, n);
	if ((err = cfgy_check_map(p, n, "a node", keys)))
		return err;
	if (!(v = cfgy_map_get(p, n, "name")))
		return cfgy_fail(p, n, "a node needs 'name'");
	if ((err = cfgy_get_subdomain(p, v, "node name", &out->name)))
		return err;
	if (!(px = cfgy_map_get(p, n, "proxy")))
		return 0;
	if ((err = cfgy_check_map(p, px, "proxy", proxy_keys)))
		return err;
	if (!(v = cfgy_map_get(p, px, "outbound")))
		return cfgy_fail(p, px, "proxy needs 'outbound' (where pods reach it)");
	if ((err = cfg_parse_endpoint(p, v, "outbound", &out->outbound)))
		return err;
	if (!shunt_addr_is_v4(out->outbound.addr))
		return cfgy_fail(p, v, "the outbound proxy address must be IPv4 (IPv6: outbound6)");
	if ((v = cfgy_map_get(p, px, "outbound6"))) {
		if ((err = cfg_parse_endpoint(p, v, "outbound6", &out->outbound6)))
			return err;
		if (shunt_addr_is_v4(out->outbound6.addr))
			return cfgy_fail(p, v, "outbound6 must be an IPv6 address");
		out->has_outbound6 = true;
	}
	if (!(v = cfgy_map_get(p, px, "inbound")))
		return cfgy_fail(p, px, "proxy needs 'inbound' (where other nodes reach it)");
	if ((err = cfg_parse_endpoint(p, v, "inbound", &out->inbound)))
		return err;
	if ((v = cfgy_map_get(p, px, "netns")) &&
	    (err = cfgy_get_str(p, v, "netns", &out->proxy_netns)))
		return err;
	if ((v = cfgy_map_get(p, px, "cgroup")) &&
	    (err = cfgy_get_str(p, v, "cgroup", &out->proxy_cgroup)))
		return err;
	if ((v = cfgy_map_get(p, px, "sourceAddress")) &&
	    (err = parse_source_address(p, v, &out->source_from_node)))
		return err;
	if (!out->proxy_netns != !out->proxy_cgroup)
		return cfgy_fail(
		    p, px, "proxy: give both 'netns' and 'cgroup' (where it runs), or neither");
	out->has_proxy = true;
	return 0;
}

int cfg_parse_node_proxy(struct cfg_parser *p, yaml_node_t *n, struct cfg_node_proxy *out)
{
	static const char *const keys[] = {"outboundPort", "inboundPort", NULL};
	unsigned long port;
	yaml_node_t *v;
	int err;

	/* sourceAddress is node: the client's address needs the proxy's tc
	 * program on the pods' interface, and an InternalIP is not on it
	 * (docs/proxy.md "The client's address, kept") */
	*out = (struct cfg_node_proxy){.set = true,
				       .outbound_port = 15001,
				       .inbound_port = 15008,
				       .origin = cfgy_origin_of(p, n)};
	if ((err = cfgy_check_map(p, n, "nodeProxy", keys)))
		return err;
	if ((v = cfgy_map_get(p, n, "outboundPort"))) {
		if ((err = cfgy_get_uint(p, v, "outboundPort", 1, 65535, &port)))
			return err;
		out->outbound_port = (__u16)port;
	}
	if ((v = cfgy_map_get(p, n, "inboundPort"))) {
		if ((err = cfgy_get_uint(p, v, "inboundPort", 1, 65535, &port)))
			return err;
		out->inbound_port = (__u16)port;
	}
	if (out->outbound_port == out->inbound_port)
		return cfgy_fail(p, n, "nodeProxy: outboundPort and inboundPort are both %u",
				 out->outbound_port);
	return 0;
}

static int cfg_parse_service_port(struct cfg_parser *p, yaml_node_t *n,
				  struct cfg_service_port *out)
{
	static const char *const keys[] = {"name",     "port",	      "targetPort",
					   "protocol", "appProtocol", NULL};
	yaml_node_t *v;
	unsigned long num;
	int err;

	if ((err = cfgy_check_map(p, n, "a service port", keys)))
		return err;
	if ((v = cfgy_map_get(p, n, "name")) &&
	    (err = cfgy_get_name(p, v, "port name", &out->name)))
		return err;
	if (!(v = cfgy_map_get(p, n, "port")))
		return cfgy_fail(p, n, "a service port needs 'port'");
	if ((err = cfgy_get_uint(p, v, "port", 1, 65535, &num)))
		return err;
	out->port = out->target_port = (__u16)num;
	if ((v = cfgy_map_get(p, n, "targetPort"))) {
		if ((err = cfgy_get_uint(p, v, "targetPort", 1, 65535, &num)))
			return err;
		out->target_port = (__u16)num;
	}
	out->proto = SHUNT_PROTO_TCP;
	if ((v = cfgy_map_get(p, n, "protocol")) && (err = cfgy_parse_proto(p, v, &out->proto)))
		return err;
	/* The kernel balances TCP and UDP at connect/sendmsg; SCTP is for policies. */
	if (out->proto == SHUNT_PROTO_SCTP)
		return cfgy_fail(p, v, "a service port's protocol must be TCP or UDP, not SCTP");
	out->app_protocol = "tcp";
	if ((v = cfgy_map_get(p, n, "appProtocol"))) {
		if ((err = cfgy_get_str(p, v, "appProtocol", &out->app_protocol)))
			return err;
		/* Kubernetes' name for HTTP/2 over cleartext. */
		if (!strcmp(out->app_protocol, "kubernetes.io/h2c"))
			out->app_protocol = "http2";
		if (strcmp(out->app_protocol, "tcp") && strcmp(out->app_protocol, "http") &&
		    strcmp(out->app_protocol, "http2") && strcmp(out->app_protocol, "grpc"))
			return cfgy_fail(p, v,
					 "appProtocol must be tcp, http, http2, kubernetes.io/h2c "
					 "or grpc, not '%s'",
					 out->app_protocol);
		if (out->proto != SHUNT_PROTO_TCP && strcmp(out->app_protocol, "tcp"))
			return cfgy_fail(p, v, "appProtocol %s needs protocol TCP",
					 out->app_protocol);
	}
	return 0;
}

static int cfg_parse_backend(struct cfg_parser *p, yaml_node_t *n, struct cfg_backend *out)
{
	static const char *const keys[] = {"workload", "address", "weight", NULL};
	yaml_node_t *w, *a, *v;
	unsigned long num;
	int err;

	out->origin = cfgy_origin_of(p, n);
	if ((err = cfgy_check_map(p, n, "a backend", keys)))
		return err;
	w = cfgy_map_get(p, n, "workload");
	a = cfgy_map_get(p, n, "address");
	if (!!w == !!a)
		return cfgy_fail(p, n,
				 "a backend is a workload or an address: exactly one of those");
	if (w && (err = cfgy_get_subdomain(p, w, "workload", &out->workload)))
		return err;
	if (a && (err = cfgy_parse_prefix(p, a, "address", false, &out->addr)))
		return err;
	if (a && out->addr.len != 128)
		return cfgy_fail(p, a, "a backend address is one address, not a range");
	out->weight = 1;
	if ((v = cfgy_map_get(p, n, "weight"))) {
		if ((err = cfgy_get_uint(p, v, "weight", 0, 1000000, &num)))
			return err;
		out->weight = (__u32)num;
	}
	return 0;
}

int cfg_parse_service(struct cfg_parser *p, yaml_node_t *n, struct cfg_service *out)
{
	static const char *const keys[] = {"name",     "namespace", "virtualIPs",    "ports",
					   "selector", "backends",  "trafficPolicy", NULL};
	yaml_node_t *v, *sel;
	size_t i, j;
	int err;

	out->origin = cfgy_origin_of(p, n);
	if ((err = cfgy_check_map(p, n, "a service", keys)))
		return err;
	if (!(v = cfgy_map_get(p, n, "name")))
		return cfgy_fail(p, n, "a service needs 'name'");
	if ((err = cfgy_get_name(p, v, "service name", &out->name)))
		return err;
	out->ns = "default";
	if ((v = cfgy_map_get(p, n, "namespace")) &&
	    (err = cfgy_get_name(p, v, "namespace", &out->ns)))
		return err;
	if (!(v = cfgy_map_get(p, n, "virtualIPs")))
		return cfgy_fail(p, n, "service %s needs 'virtualIPs'", out->name);
	if ((err = cfg_parse_addrs(p, v, "virtualIPs", out->vips, &out->nvips)))
		return err;
	if (!out->nvips)
		return cfgy_fail(p, v, "service %s needs at least one virtual IP", out->name);
	for (i = 0; i < out->nvips; i++)
		if (out->vips[i].len != 128)
			return cfgy_fail(p, v, "a virtual IP is one address, not a range");
	if (!(v = cfgy_map_get(p, n, "ports")))
		return cfgy_fail(p, n, "service %s needs 'ports'", out->name);
	if ((err = cfgy_get_seq(p, v, "ports", &out->nports)))
		return err;
	if (!out->nports)
		return cfgy_fail(p, v, "service %s needs at least one port", out->name);
	out->ports = cfgy_alloc_array(p, out->nports, sizeof(*out->ports));
	if (!out->ports)
		return cfgy_oom(p);
	for (i = 0; i < out->nports; i++) {
		yaml_node_t *pn = cfgy_seq_item(p, v, i);

		if ((err = cfg_parse_service_port(p, pn, &out->ports[i])))
			return err;
		for (j = 0; j < i; j++)
			if (out->ports[j].port == out->ports[i].port &&
			    out->ports[j].proto == out->ports[i].proto)
				return cfgy_fail(
				    p, pn, "port %u/%s is listed twice", out->ports[i].port,
				    out->ports[i].proto == SHUNT_PROTO_TCP ? "TCP" : "UDP");
	}
	if ((v = cfgy_map_get(p, n, "trafficPolicy"))) {
		out->has_traffic_policy = true;
		if ((err = cfg_parse_traffic_policy(p, v, &out->traffic_policy)))
			return err;
	}
	sel = cfgy_map_get(p, n, "selector");
	v = cfgy_map_get(p, n, "backends");
	if (sel && v)
		return cfgy_fail(p, v, "service %s has both 'selector' and 'backends'; use one",
				 out->name);
	if (sel) {
		out->has_selector = true;
		return cfgy_parse_labels(p, sel, "selector", &out->selector);
	}
	if (!v)
		return 0; /* no backends: connects are refused */
	if ((err = cfgy_get_seq(p, v, "backends", &out->nbackends)))
		return err;
	if (out->nbackends > SHUNT_MAX_SERVICE_BACKENDS)
		return cfgy_fail(p, v, "at most %d backends per service",
				 SHUNT_MAX_SERVICE_BACKENDS);
	out->backends = cfgy_alloc_array(p, out->nbackends, sizeof(*out->backends));
	if (out->nbackends && !out->backends)
		return cfgy_oom(p);
	for (i = 0; i < out->nbackends; i++)
		if ((err = cfg_parse_backend(p, cfgy_seq_item(p, v, i), &out->backends[i])))
			return err;
	return 0;
}

/* Parses each item of the top-level list KEY with FN into a fresh array. */
