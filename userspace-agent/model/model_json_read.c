// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* JSON -> struct mesh_config, object by object (the inverse of model_json_write.c). */
#include <stdint.h>
#include <string.h>

#include "common/addr.h"
#include "mesh_shared.h"
#include "model_json_impl.h"
#include "names.h"

static const char *const rule_keys[CFG_RULE_KINDS] = {"ingress", "egress", "ingressDeny",
						      "egressDeny"};
static const char *const op_names[] = {"In", "NotIn", "Exists", "DoesNotExist"};
static const char *const peer_kinds[] = {"pods", "ipBlock", "serviceAccount"};
static const char *const source_addresses[] = {"client", "node"};

bool mj_is_object(struct mj_reader *r, json_t *v)
{
	if (!r->rc && !json_is_object(v))
		mj_fail(r, "not an object");
	return !r->rc;
}

static void string_item(struct mj_reader *r, json_t *v, const char **out)
{
	*out = mj_str_value(r, v);
}

static void address_item(struct mj_reader *r, json_t *v, struct cfg_prefix *out)
{
	mj_prefix(r, v, true, out);
}

static void prefix_item(struct mj_reader *r, json_t *v, struct cfg_prefix *out)
{
	mj_prefix(r, v, false, out);
}

static void expr_item(struct mj_reader *r, json_t *v, struct cfg_match_expr *out)
{
	if (!mj_is_object(r, v))
		return;
	out->key = mj_str(r, v, "key", true);
	out->op = (enum cfg_match_op)mj_enum(r, v, "operator", op_names, 4);
	READ_LIST(r, v, "values", out->values, out->nvalues, string_item);
}

void mj_selector(struct mj_reader *r, json_t *v, struct cfg_selector *out)
{
	if (!mj_is_object(r, v))
		return;
	mj_labels(r, v, "matchLabels", &out->match_labels);
	READ_LIST(r, v, "matchExpressions", out->exprs, out->nexprs, expr_item);
}

/* KEY of O as a selector in the arena, or NULL when O has none. */
static struct cfg_selector *optional_selector(struct mj_reader *r, json_t *o, const char *key)
{
	json_t *v = mj_object(r, o, key, false);
	struct cfg_selector *sel;
	size_t mark;

	if (!v)
		return NULL;
	if (!(sel = shunt_arena_alloc(&r->cfg->arena, sizeof(*sel)))) {
		mj_oom(r);
		return NULL;
	}
	mark = mj_enter_key(r, key);
	mj_selector(r, v, sel);
	mj_leave(r, mark);
	return sel;
}

static void endpoint(struct mj_reader *r, json_t *o, const char *key, struct cfg_endpoint *out)
{
	const char *s = mj_str(r, o, key, true);
	size_t mark;

	if (s && shunt_endpoint_parse(s, out->addr, &out->port)) {
		mark = mj_enter_key(r, key);
		mj_fail(r, "'%s' is not ADDRESS:PORT", s);
		mj_leave(r, mark);
	}
}

const char *mj_name(struct mj_reader *r, json_t *o, const char *key,
		    const char *(*check)(const char *))
{
	const char *s = mj_str(r, o, key, true), *why;
	size_t mark;

	if (s && (why = check(s))) {
		mark = mj_enter_key(r, key);
		mj_fail(r, "'%.64s' %s", s, why);
		mj_leave(r, mark);
	}
	return s;
}

static void node_item(struct mj_reader *r, json_t *v, struct cfg_node *out)
{
	json_t *proxy;
	size_t mark;

	if (!mj_is_object(r, v))
		return;
	out->name = mj_name(r, v, "name", name_check_dns_subdomain);
	if ((proxy = mj_object(r, v, "proxy", false))) {
		out->has_proxy = true;
		mark = mj_enter_key(r, "proxy");
		endpoint(r, proxy, "outbound", &out->outbound);
		if ((out->has_outbound6 = json_object_get(proxy, "outbound6") != NULL))
			endpoint(r, proxy, "outbound6", &out->outbound6);
		endpoint(r, proxy, "inbound", &out->inbound);
		out->proxy_netns = mj_str(r, proxy, "netns", false);
		out->proxy_cgroup = mj_str(r, proxy, "cgroup", false);
		if (!out->proxy_netns != !out->proxy_cgroup)
			mj_fail(r, "netns and cgroup go together");
		out->source_from_node =
		    mj_enum(r, proxy, "sourceAddress", source_addresses, 2) == 1;
		mj_leave(r, mark);
	}
	out->origin = mj_origin(r, v);
}

static void namespace_item(struct mj_reader *r, json_t *v, struct cfg_namespace *out)
{
	if (!mj_is_object(r, v))
		return;
	out->name = mj_name(r, v, "name", name_check_dns_label);
	mj_labels(r, v, "labels", &out->labels);
	out->mtls = (enum cfg_mtls)mj_enum(r, v, "mtls", mj_mtls_names, 3);
	out->origin = mj_origin(r, v);
}

static void container_port_item(struct mj_reader *r, json_t *v, struct cfg_container_port *out)
{
	if (!mj_is_object(r, v))
		return;
	out->name = mj_str(r, v, "name", false);
	out->port = (__u16)mj_uint(r, v, "port", UINT16_MAX, true);
	out->proto = mj_proto(r, v);
}

static void workload_item(struct mj_reader *r, json_t *v, struct cfg_workload *out)
{
	struct cfg_prefix *addrs;

	if (!mj_is_object(r, v))
		return;
	out->name = mj_name(r, v, "name", name_check_dns_subdomain);
	out->ns = mj_name(r, v, "namespace", name_check_dns_label);
	out->service_account = mj_name(r, v, "serviceAccount", name_check_dns_subdomain);
	out->node = mj_name(r, v, "node", name_check_dns_subdomain);
	out->netns = mj_str(r, v, "netns", false);
	out->cgroup = mj_str(r, v, "cgroup", false);
	mj_labels(r, v, "labels", &out->labels);
	READ_LIST(r, v, "addresses", addrs, out->naddrs, address_item);
	if (out->naddrs > CFG_MAX_ADDRS)
		mj_fail(r, "more than %d addresses", CFG_MAX_ADDRS);
	else if (out->naddrs)
		memcpy(out->addrs, addrs, out->naddrs * sizeof(*addrs));
	READ_LIST(r, v, "ports", out->ports, out->nports, container_port_item);
	mj_access_log_read(r, v, false, &out->access_log);
	mj_workload_tracing_read(r, v, &out->tracing);
	out->origin = mj_origin(r, v);
}

static void service_port_item(struct mj_reader *r, json_t *v, struct cfg_service_port *out)
{
	if (!mj_is_object(r, v))
		return;
	out->name = mj_str(r, v, "name", false);
	out->port = (__u16)mj_uint(r, v, "port", UINT16_MAX, true);
	out->target_port = (__u16)mj_uint(r, v, "targetPort", UINT16_MAX, true);
	out->proto = mj_proto(r, v);
	out->app_protocol = mj_str(r, v, "appProtocol", true);
}

static void backend_item(struct mj_reader *r, json_t *v, struct cfg_backend *out)
{
	size_t mark;

	if (!mj_is_object(r, v))
		return;
	out->workload = mj_str(r, v, "workload", false);
	if (!out->workload) {
		json_t *addr = json_object_get(v, "address");

		mark = mj_enter_key(r, "address");
		if (!addr)
			mj_fail(r, "missing (a backend needs a workload or an address)");
		mj_prefix(r, addr, true, &out->addr);
		mj_leave(r, mark);
	}
	out->weight = (__u32)mj_uint(r, v, "weight", UINT32_MAX, true);
	out->origin = mj_origin(r, v);
}

static void service_item(struct mj_reader *r, json_t *v, struct cfg_service *out)
{
	struct cfg_prefix *vips;
	json_t *tp;
	size_t mark;

	if (!mj_is_object(r, v))
		return;
	out->name = mj_str(r, v, "name", true);
	out->ns = mj_str(r, v, "namespace", true);
	READ_LIST(r, v, "vips", vips, out->nvips, address_item);
	if (out->nvips > CFG_MAX_ADDRS)
		mj_fail(r, "more than %d vips", CFG_MAX_ADDRS);
	else if (out->nvips)
		memcpy(out->vips, vips, out->nvips * sizeof(*vips));
	READ_LIST(r, v, "ports", out->ports, out->nports, service_port_item);
	if ((out->has_selector = json_object_get(v, "selector") != NULL))
		mj_labels(r, v, "selector", &out->selector);
	READ_LIST(r, v, "backends", out->backends, out->nbackends, backend_item);
	if ((tp = mj_object(r, v, "trafficPolicy", false))) {
		out->has_traffic_policy = true;
		mark = mj_enter_key(r, "trafficPolicy");
		mj_traffic_policy_read(r, tp, &out->traffic_policy);
		mj_leave(r, mark);
	}
	out->origin = mj_origin(r, v);
}

static void peer_item(struct mj_reader *r, json_t *v, struct cfg_peer *out)
{
	json_t *sa;
	size_t mark;

	if (!mj_is_object(r, v))
		return;
	out->kind = (enum cfg_peer_kind)mj_enum(r, v, "kind", peer_kinds, 3);
	if (r->rc)
		return;
	switch (out->kind) {
	case CFG_PEER_PODS:
		out->pods = optional_selector(r, v, "podSelector");
		out->namespaces = optional_selector(r, v, "namespaceSelector");
		break;
	case CFG_PEER_IPBLOCK:
		mark = mj_enter_key(r, "cidr");
		if (!json_object_get(v, "cidr"))
			mj_fail(r, "missing");
		mj_prefix(r, json_object_get(v, "cidr"), false, &out->cidr);
		mj_leave(r, mark);
		READ_LIST(r, v, "except", out->except, out->nexcept, prefix_item);
		break;
	case CFG_PEER_IDENTITY:
		if (!(sa = mj_object(r, v, "serviceAccount", true)))
			break;
		mark = mj_enter_key(r, "serviceAccount");
		out->sa_namespace = mj_str(r, sa, "namespace", true);
		out->sa_name = mj_str(r, sa, "name", true);
		mj_leave(r, mark);
		break;
	}
}

static void port_item(struct mj_reader *r, json_t *v, struct cfg_port *out)
{
	if (!mj_is_object(r, v))
		return;
	out->proto = mj_proto(r, v);
	out->port = (__u16)mj_uint(r, v, "port", UINT16_MAX, true);
	out->end_port = (__u16)mj_uint(r, v, "endPort", UINT16_MAX, true);
	out->name = mj_str(r, v, "name", false);
}

static void rule_item(struct mj_reader *r, json_t *v, struct cfg_rule *out)
{
	if (!mj_is_object(r, v))
		return;
	READ_LIST(r, v, "peers", out->peers, out->npeers, peer_item);
	READ_LIST(r, v, "ports", out->ports, out->nports, port_item);
	out->origin = mj_origin(r, v);
}

static void policy_item(struct mj_reader *r, json_t *v, struct cfg_policy *out)
{
	json_t *subject, *isolates;
	size_t k, mark;

	if (!mj_is_object(r, v))
		return;
	out->name = mj_str(r, v, "name", true);
	out->ns = mj_str(r, v, "namespace", true);
	if ((subject = mj_object(r, v, "podSelector", true))) {
		mark = mj_enter_key(r, "podSelector");
		mj_selector(r, subject, &out->subject);
		mj_leave(r, mark);
	}
	if ((isolates = mj_object(r, v, "isolates", true))) {
		mark = mj_enter_key(r, "isolates");
		out->isolates[SHUNT_DIR_INGRESS] = mj_bool(r, isolates, "ingress");
		out->isolates[SHUNT_DIR_EGRESS] = mj_bool(r, isolates, "egress");
		mj_leave(r, mark);
	}
	for (k = 0; k < CFG_RULE_KINDS; k++)
		READ_LIST(r, v, rule_keys[k], out->rules[k], out->nrules[k], rule_item);
	out->origin = mj_origin(r, v);
}

void mj_read_config(struct mj_reader *r, json_t *root)
{
	const char **warnings;
	size_t n;

	r->cfg->path = mj_str(r, root, "source", false);
	r->cfg->trust_domain = mj_str(r, root, "trustDomain", true);
	r->cfg->mtls = (enum cfg_mtls)mj_enum(r, root, "mtls", mj_mtls_names, 3);
	mj_access_log_read(r, root, true, &r->cfg->access_log);
	mj_tracing_read(r, root, &r->cfg->tracing);
	mj_request_id_read(r, root, &r->cfg->request_id);
	READ_LIST(r, root, "warnings", warnings, n, string_item);
	if (n > CFG_MAX_WARNINGS)
		mj_fail(r, "more than %d warnings", CFG_MAX_WARNINGS);
	else if (n)
		memcpy(r->cfg->warnings, warnings, n * sizeof(*warnings));
	r->cfg->nwarnings = n;
	r->cfg->warnings_dropped = (size_t)mj_uint(r, root, "warningsDropped", SIZE_MAX, true);
}

void mj_read_lists(struct mj_reader *r)
{
	struct mesh_config *cfg = r->cfg;

	READ_ITEMS(r, MJ_NODES, cfg->nodes, cfg->nnodes, node_item);
	READ_ITEMS(r, MJ_NAMESPACES, cfg->namespaces, cfg->nnamespaces, namespace_item);
	READ_ITEMS(r, MJ_WORKLOADS, cfg->workloads, cfg->nworkloads, workload_item);
	READ_ITEMS(r, MJ_SERVICES, cfg->services, cfg->nservices, service_item);
	READ_ITEMS(r, MJ_POLICIES, cfg->policies, cfg->npolicies, policy_item);
	READ_ITEMS(r, MJ_HTTP_ROUTES, cfg->http_routes, cfg->nhttp_routes, mj_http_route_item);
	READ_ITEMS(r, MJ_AUTHZ_POLICIES, cfg->authz_policies, cfg->nauthz_policies,
		   mj_authz_policy_item);
}
