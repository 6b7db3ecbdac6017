// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * What a routed request meets before any endpoint: the authorization
 * policies of its service (Istio's AuthorizationPolicy semantics: DENY
 * first, then at least one ALLOW if any targets the service), and the
 * rule's RequestRedirect and URLRewrite filters (Gateway API).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "l7_impl.h"

/* Istio's string match: exact, "*", "prefix*" or "*suffix". */
static bool glob_matches(const char *pat, const char *s, size_t len)
{
	size_t n = strlen(pat);

	if (n == 1 && pat[0] == '*')
		return true;
	if (n && pat[n - 1] == '*')
		return len >= n - 1 && !memcmp(s, pat, n - 1);
	if (n && pat[0] == '*')
		return len >= n - 1 && !memcmp(s + len - (n - 1), pat + 1, n - 1);
	return len == n && !memcmp(s, pat, n);
}

static bool any_matches(const char *const *pats, size_t n, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (glob_matches(pats[i], s, len))
			return true;
	return false;
}

static bool rule_matches(const struct cfg_authz_rule *r, const struct l7_request *req,
			 const char *principal, const char *ns)
{
	const char *q = strchr(req->target, '?');
	size_t plen = q ? (size_t)(q - req->target) : strlen(req->target), i;

	if (r->nprincipals &&
	    !any_matches(r->principals, r->nprincipals, principal, strlen(principal)))
		return false;
	if (r->nnamespaces && !any_matches(r->namespaces, r->nnamespaces, ns, strlen(ns)))
		return false;
	if (r->nmethods && !any_matches(r->methods, r->nmethods, req->method, strlen(req->method)))
		return false;
	if (r->npaths && !any_matches(r->paths, r->npaths, req->target, plen))
		return false;
	for (i = 0; i < r->nheaders; i++) {
		const char *v = l7_header_get(req, r->headers[i].name);

		if (!v || !glob_matches(r->headers[i].value, v, strlen(v)))
			return false;
	}
	return true;
}

static bool policy_targets(const struct cfg_authz_policy *p, const struct cfg_service *svc)
{
	size_t i;

	if (strcmp(p->ns, svc->ns))
		return false;
	for (i = 0; i < p->nservices; i++)
		if (!strcmp(p->services[i], svc->name))
			return true;
	return false;
}

/* A policy without rules matches nothing (Istio): an ALLOW one then
 * admits nobody. */
static bool policy_matches(const struct cfg_authz_policy *p, const struct l7_request *req,
			   const char *principal, const char *ns)
{
	size_t i;

	for (i = 0; i < p->nrules; i++)
		if (rule_matches(&p->rules[i], req, principal, ns))
			return true;
	return false;
}

/* P targets one of T's services: the one addressed, or at the
 * destination's hop any with the endpoint (l7_inbound.c). */
static bool policy_targets_table(const struct cfg_authz_policy *p, const struct l7_port_table *t)
{
	size_t i;

	if (!t->inbound)
		return policy_targets(p, t->svc);
	for (i = 0; i < t->nfronts; i++)
		if (policy_targets(p, t->fronts[i]))
			return true;
	return false;
}

enum shunt_outcome l7_authorize(const struct l7_request *req, const struct cfg_workload *src)
{
	const struct mesh_config *cfg = req->view->cfg;
	char principal[SHUNT_NAME_MAX * 2] = "";
	bool any_allow = false, allowed = false;
	size_t i;

	for (i = 0; i < cfg->nauthz_policies; i++) {
		const struct cfg_authz_policy *p = &cfg->authz_policies[i];

		if (!policy_targets_table(p, req->table))
			continue;
		/* Istio's principal: the SPIFFE ID without "spiffe://"; made
		 * once, and only for a request that a policy is about */
		if (!*principal)
			snprintf(principal, sizeof(principal), "%s/ns/%s/sa/%s",
				 cfg->trust_domain ? cfg->trust_domain : "cluster.local", src->ns,
				 src->service_account);
		if (p->action == CFG_AUTHZ_DENY) {
			if (policy_matches(p, req, principal, src->ns))
				return SHUNT_OUT_L7_AUTHZ_DENIED;
			continue;
		}
		any_allow = true;
		allowed = allowed || policy_matches(p, req, principal, src->ns);
	}
	return any_allow && !allowed ? SHUNT_OUT_L7_AUTHZ_DENIED : SHUNT_OUT_ALLOWED;
}

/* The part of TARGET's path a PathPrefix match took, for ReplacePrefixMatch. */
static size_t matched_prefix_len(const struct l7_request *req)
{
	const struct cfg_http_match *m = req->match ? req->match->m : NULL;
	size_t n;

	if (!m || m->path_type != CFG_PATH_PREFIX)
		return 0;
	n = strlen(m->path);
	while (n > 1 && m->path[n - 1] == '/')
		n--;
	return n == 1 ? 0 : n;
}

/* The new path (with the query kept) into *OUT, malloc'd. */
static int new_target(const struct l7_request *req, enum cfg_path_match type, const char *path,
		      char **out)
{
	const char *q = strchr(req->target, '?');
	size_t keep = matched_prefix_len(req);
	const char *rest = req->target + keep;
	size_t rest_len = (q ? (size_t)(q - req->target) : strlen(req->target)) - keep;
	int n;

	if (type == CFG_PATH_EXACT)
		n = asprintf(out, "%s%s", path, q ? q : "");
	else if (!strcmp(path, "/") && rest_len && rest[0] == '/') /* "/" + "/x" is "/x" */
		n = asprintf(out, "%.*s%s", (int)rest_len, rest, q ? q : "");
	else
		n = asprintf(out, "%s%.*s%s", path, (int)rest_len, rest, q ? q : "");
	return n < 0 ? -ENOMEM : 0;
}

bool l7_redirect(struct l7_request *req)
{
	const struct cfg_http_redirect *rd = req->rule->r ? &req->rule->r->redirect : NULL;
	const char *host = l7_header_get(req, "host");
	const char *scheme;
	char *target = NULL, hostbuf[256], port[8] = "";
	size_t hl;

	if (!rd || !rd->set)
		return false;
	scheme = rd->scheme ? rd->scheme : "http";
	snprintf(hostbuf, sizeof(hostbuf), "%s", rd->hostname ? rd->hostname : host ? host : "");
	hl = strcspn(hostbuf, ":"); /* the port comes from the redirect, or none */
	hostbuf[hl] = 0;
	if (rd->port && !((rd->port == 80 && !strcmp(scheme, "http")) ||
			  (rd->port == 443 && !strcmp(scheme, "https"))))
		snprintf(port, sizeof(port), ":%u", rd->port);
	if (rd->path ? new_target(req, rd->path_type, rd->path, &target)
		     : !(target = strdup(req->target)))
		return l7_request_answer(req, SHUNT_OUT_SOCKET_FAILED), true;
	l7_request_redirect_answer(req, rd->status ? rd->status : 302, scheme, hostbuf, port,
				   target);
	free(target);
	return true;
}

int l7_rewrite(struct l7_request *req)
{
	const struct cfg_http_rewrite *rw = req->rule->r ? &req->rule->r->rewrite : NULL;
	char *target;
	size_t i;

	if (!rw || !rw->set)
		return 0;
	if (rw->path) {
		if (new_target(req, rw->path_type, rw->path, &target))
			return -ENOMEM;
		free(req->target);
		req->target = target;
	}
	for (i = 0; rw->hostname && i < req->nheaders; i++)
		if (!strcasecmp(req->headers[i].name, "host") &&
		    l7_header_set_value(&req->headers[i], rw->hostname))
			return -ENOMEM;
	return 0;
}
