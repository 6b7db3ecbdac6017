// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* struct mesh_config -> JSON, object by object (read back by model_json_read.c). */
#include <errno.h>

#include "common/addr.h"
#include "mesh_shared.h"
#include "model_json_impl.h"

static const char *const rule_keys[CFG_RULE_KINDS] = {"ingress", "egress", "ingressDeny",
						      "egressDeny"};

static json_t *endpoint_json(const struct cfg_endpoint *e)
{
	char text[SHUNT_ADDR_STRLEN + 8];

	shunt_endpoint_format(e->addr, e->port, text, sizeof(text));
	return json_string(text);
}

static json_t *node_json(struct mj_writer *w, const struct cfg_node *n)
{
	json_t *o = json_object(), *proxy;

	mj_set_str(w, o, "name", n->name);
	if (n->has_proxy) {
		mj_set(w, o, "proxy", proxy = json_object());
		if (w->err)
			return o;
		mj_set(w, proxy, "outbound", endpoint_json(&n->outbound));
		if (n->has_outbound6)
			mj_set(w, proxy, "outbound6", endpoint_json(&n->outbound6));
		mj_set(w, proxy, "inbound", endpoint_json(&n->inbound));
		mj_set_str(w, proxy, "netns", n->proxy_netns);
		mj_set_str(w, proxy, "cgroup", n->proxy_cgroup);
		mj_set_str(w, proxy, "sourceAddress", n->source_from_node ? "node" : "client");
	}
	mj_set_origin(w, o, &n->origin);
	return o;
}

static json_t *namespace_json(struct mj_writer *w, const struct cfg_namespace *ns)
{
	json_t *o = json_object();

	mj_set_str(w, o, "name", ns->name);
	mj_set(w, o, "labels", mj_labels_json(w, &ns->labels));
	if ((unsigned int)ns->mtls >= 3)
		w->err = w->err ?: -EINVAL;
	else
		mj_set_str(w, o, "mtls", mj_mtls_names[ns->mtls]);
	mj_set_origin(w, o, &ns->origin);
	return o;
}

static json_t *workload_json(struct mj_writer *w, const struct cfg_workload *wl)
{
	json_t *o = json_object(), *addrs = json_array(), *ports = json_array();
	size_t i;

	mj_set_str(w, o, "name", wl->name);
	mj_set_str(w, o, "namespace", wl->ns);
	mj_set_str(w, o, "serviceAccount", wl->service_account);
	mj_set_str(w, o, "node", wl->node);
	mj_set_str(w, o, "netns", wl->netns);
	mj_set_str(w, o, "cgroup", wl->cgroup);
	mj_set(w, o, "labels", mj_labels_json(w, &wl->labels));
	mj_set(w, o, "addresses", addrs);
	for (i = 0; !w->err && i < wl->naddrs && i < CFG_MAX_ADDRS; i++)
		mj_append(w, addrs, mj_prefix_json(w, &wl->addrs[i], true));
	mj_set(w, o, "ports", ports);
	for (i = 0; !w->err && i < wl->nports; i++) {
		const struct cfg_container_port *cp = &wl->ports[i];
		json_t *p = json_object();

		mj_append(w, ports, p);
		mj_set_str(w, p, "name", cp->name);
		mj_set_uint(w, p, "port", cp->port);
		mj_set_proto(w, p, cp->proto);
	}
	if (wl->access_log.has_enabled || wl->access_log.has_sampling)
		mj_set(w, o, "accessLog", mj_access_log_json(w, &wl->access_log, false));
	if (wl->tracing.has_sampling)
		mj_set(w, o, "tracing", mj_workload_tracing_json(w, &wl->tracing));
	mj_set_origin(w, o, &wl->origin);
	return o;
}

static json_t *service_port_json(struct mj_writer *w, const struct cfg_service_port *sp)
{
	json_t *p = json_object();

	mj_set_str(w, p, "name", sp->name);
	mj_set_uint(w, p, "port", sp->port);
	mj_set_uint(w, p, "targetPort", sp->target_port);
	mj_set_proto(w, p, sp->proto);
	mj_set_str(w, p, "appProtocol", sp->app_protocol);
	return p;
}

static json_t *backend_json(struct mj_writer *w, const struct cfg_backend *be)
{
	json_t *b = json_object();

	mj_set_str(w, b, "workload", be->workload);
	if (!be->workload)
		mj_set(w, b, "address", mj_prefix_json(w, &be->addr, true));
	mj_set_uint(w, b, "weight", be->weight);
	mj_set_origin(w, b, &be->origin);
	return b;
}

static json_t *service_json(struct mj_writer *w, const struct cfg_service *svc)
{
	json_t *o = json_object(), *vips = json_array(), *ports = json_array(),
	       *backends = json_array();
	size_t i;

	mj_set_str(w, o, "name", svc->name);
	mj_set_str(w, o, "namespace", svc->ns);
	mj_set(w, o, "vips", vips);
	for (i = 0; !w->err && i < svc->nvips && i < CFG_MAX_ADDRS; i++)
		mj_append(w, vips, mj_prefix_json(w, &svc->vips[i], true));
	mj_set(w, o, "ports", ports);
	for (i = 0; !w->err && i < svc->nports; i++)
		mj_append(w, ports, service_port_json(w, &svc->ports[i]));
	if (svc->has_selector)
		mj_set(w, o, "selector", mj_labels_json(w, &svc->selector));
	mj_set(w, o, "backends", backends);
	for (i = 0; !w->err && i < svc->nbackends; i++)
		mj_append(w, backends, backend_json(w, &svc->backends[i]));
	if (svc->has_traffic_policy)
		mj_set(w, o, "trafficPolicy", mj_traffic_policy_json(w, &svc->traffic_policy));
	mj_set_origin(w, o, &svc->origin);
	return o;
}

static json_t *peer_json(struct mj_writer *w, const struct cfg_peer *peer)
{
	json_t *o = json_object(), *except, *sa;
	size_t i;

	switch (peer->kind) {
	case CFG_PEER_PODS:
		mj_set_str(w, o, "kind", "pods");
		if (peer->pods)
			mj_set(w, o, "podSelector", mj_selector_json(w, peer->pods));
		if (peer->namespaces)
			mj_set(w, o, "namespaceSelector", mj_selector_json(w, peer->namespaces));
		break;
	case CFG_PEER_IPBLOCK:
		mj_set_str(w, o, "kind", "ipBlock");
		mj_set(w, o, "cidr", mj_prefix_json(w, &peer->cidr, false));
		mj_set(w, o, "except", except = json_array());
		for (i = 0; !w->err && i < peer->nexcept; i++)
			mj_append(w, except, mj_prefix_json(w, &peer->except[i], false));
		break;
	case CFG_PEER_IDENTITY:
		mj_set_str(w, o, "kind", "serviceAccount");
		mj_set(w, o, "serviceAccount", sa = json_object());
		mj_set_str(w, sa, "namespace", peer->sa_namespace);
		mj_set_str(w, sa, "name", peer->sa_name);
		break;
	default:
		w->err = w->err ?: -EINVAL;
	}
	return o;
}

static json_t *rule_json(struct mj_writer *w, const struct cfg_rule *rule)
{
	json_t *o = json_object(), *peers = json_array(), *ports = json_array();
	size_t i;

	mj_set(w, o, "peers", peers);
	for (i = 0; !w->err && i < rule->npeers; i++)
		mj_append(w, peers, peer_json(w, &rule->peers[i]));
	mj_set(w, o, "ports", ports);
	for (i = 0; !w->err && i < rule->nports; i++) {
		const struct cfg_port *port = &rule->ports[i];
		json_t *p = json_object();

		mj_append(w, ports, p);
		mj_set_proto(w, p, port->proto);
		mj_set_uint(w, p, "port", port->port);
		mj_set_uint(w, p, "endPort", port->end_port);
		mj_set_str(w, p, "name", port->name);
	}
	mj_set_origin(w, o, &rule->origin);
	return o;
}

static json_t *policy_json(struct mj_writer *w, const struct cfg_policy *pol)
{
	json_t *o = json_object(), *isolates = json_object(), *rules;
	size_t k, i;

	mj_set_str(w, o, "name", pol->name);
	mj_set_str(w, o, "namespace", pol->ns);
	mj_set(w, o, "podSelector", mj_selector_json(w, &pol->subject));
	mj_set(w, o, "isolates", isolates);
	mj_set_bool(w, isolates, "ingress", pol->isolates[SHUNT_DIR_INGRESS]);
	mj_set_bool(w, isolates, "egress", pol->isolates[SHUNT_DIR_EGRESS]);
	for (k = 0; k < CFG_RULE_KINDS; k++) {
		mj_set(w, o, rule_keys[k], rules = json_array());
		for (i = 0; !w->err && i < pol->nrules[k]; i++)
			mj_append(w, rules, rule_json(w, &pol->rules[k][i]));
	}
	mj_set_origin(w, o, &pol->origin);
	return o;
}

/* Each item goes out on its own: in a model file as a line, its tree freed
 * before the next item's is built. */
#define PUT_ITEMS(w, list, arr, n, fn)                                                             \
	do {                                                                                       \
		size_t _i;                                                                         \
		for (_i = 0; !(w)->err && _i < (n); _i++)                                          \
			mj_emit_item(w, list, fn(w, &(arr)[_i]));                                  \
	} while (0)

void mj_config_json(struct mj_writer *w, json_t *root, const struct mesh_config *cfg)
{
	json_t *warnings = json_array();
	size_t i;

	mj_set_str(w, root, "source", cfg->path);
	mj_set_str(w, root, "trustDomain", cfg->trust_domain);
	if ((unsigned int)cfg->mtls >= 3)
		w->err = w->err ?: -EINVAL;
	else
		mj_set_str(w, root, "mtls", mj_mtls_names[cfg->mtls]);
	mj_set(w, root, "accessLog", mj_access_log_json(w, &cfg->access_log, true));
	mj_tracing_json(w, root, &cfg->tracing);
	mj_request_id_json(w, root, &cfg->request_id);
	mj_set(w, root, "warnings", warnings);
	for (i = 0; !w->err && i < cfg->nwarnings && i < CFG_MAX_WARNINGS; i++)
		mj_append(w, warnings, json_string(cfg->warnings[i]));
	mj_set_uint(w, root, "warningsDropped", cfg->warnings_dropped);
}

void mj_list_counts(const struct mesh_config *cfg, size_t counts[MJ_LISTS])
{
	counts[MJ_NODES] = cfg->nnodes;
	counts[MJ_NAMESPACES] = cfg->nnamespaces;
	counts[MJ_WORKLOADS] = cfg->nworkloads;
	counts[MJ_SERVICES] = cfg->nservices;
	counts[MJ_POLICIES] = cfg->npolicies;
	counts[MJ_HTTP_ROUTES] = cfg->nhttp_routes;
	counts[MJ_AUTHZ_POLICIES] = cfg->nauthz_policies;
}

void mj_lists_json(struct mj_writer *w, const struct mesh_config *cfg)
{
	PUT_ITEMS(w, MJ_NODES, cfg->nodes, cfg->nnodes, node_json);
	PUT_ITEMS(w, MJ_NAMESPACES, cfg->namespaces, cfg->nnamespaces, namespace_json);
	PUT_ITEMS(w, MJ_WORKLOADS, cfg->workloads, cfg->nworkloads, workload_json);
	PUT_ITEMS(w, MJ_SERVICES, cfg->services, cfg->nservices, service_json);
	PUT_ITEMS(w, MJ_POLICIES, cfg->policies, cfg->npolicies, policy_json);
	PUT_ITEMS(w, MJ_HTTP_ROUTES, cfg->http_routes, cfg->nhttp_routes, mj_http_route_json);
	PUT_ITEMS(w, MJ_AUTHZ_POLICIES, cfg->authz_policies, cfg->nauthz_policies,
		  mj_authz_policy_json);
}
