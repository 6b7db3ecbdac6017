// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* L7 routes in the model: which service ports are L7, and the checks on
 * route fields that the YAML source and the model reader share. */
#include "http_route.h"

#include <ctype.h>
#include <regex.h>
#include <string.h>

#include "mesh_config.h"
#include "mesh_shared.h"
#include "names.h"

const char *const cfg_path_match_names[3] = {"PathPrefix", "Exact", "RegularExpression"};
const char *const cfg_value_match_names[2] = {"Exact", "RegularExpression"};
const char *const cfg_path_modifier_names[2] = {"ReplacePrefixMatch", "ReplaceFullPath"};
const char *const cfg_grpc_status_names[CFG_GRPC_STATUSES] = {
    "OK",	 "CANCELLED",	   "UNKNOWN",		"INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",	 "OUT_OF_RANGE",   "UNIMPLEMENTED",	"INTERNAL",	      "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};
const char *const cfg_lb_policy_names[4] = {"PEAK_EWMA", "ROUND_ROBIN", "LEAST_REQUEST", "RANDOM"};
const char *const cfg_authz_action_names[2] = {"ALLOW", "DENY"};

const struct cfg_service *cfg_service_find(const struct mesh_config *cfg, const char *ns,
					   const char *name)
{
	size_t i;

	for (i = 0; ns && name && i < cfg->nservices; i++)
		if (!strcmp(cfg->services[i].name, name) && !strcmp(cfg->services[i].ns, ns))
			return &cfg->services[i];
	return NULL;
}

static bool route_takes_port(const struct cfg_http_route *route, const struct cfg_service *svc,
			     const struct cfg_service_port *sp)
{
	size_t i;

	if (strcmp(route->ns, svc->ns))
		return false;
	for (i = 0; i < route->nparents; i++)
		if (!strcmp(route->parents[i].service, svc->name) &&
		    (!route->parents[i].port || route->parents[i].port == sp->port))
			return true;
	return false;
}

bool cfg_authz_targets(const struct cfg_authz_policy *pol, const struct cfg_service *svc)
{
	size_t i;

	if (strcmp(pol->ns, svc->ns))
		return false;
	for (i = 0; i < pol->nservices; i++)
		if (!strcmp(pol->services[i], svc->name))
			return true;
	return false;
}

bool cfg_port_speaks_http2(const struct cfg_service_port *sp)
{
	return sp->app_protocol &&
	       (!strcmp(sp->app_protocol, "http2") || !strcmp(sp->app_protocol, "grpc"));
}

bool cfg_service_port_is_l7(const struct mesh_config *cfg, const struct cfg_service *svc,
			    const struct cfg_service_port *sp)
{
	size_t i;

	if (sp->proto != SHUNT_PROTO_TCP)
		return false;
	if (sp->app_protocol && strcmp(sp->app_protocol, "tcp"))
		return true; /* http, http2, grpc */
	for (i = 0; i < cfg->nhttp_routes; i++)
		if (route_takes_port(&cfg->http_routes[i], svc, sp))
			return true;
	for (i = 0; i < cfg->nauthz_policies; i++)
		if (cfg_authz_targets(&cfg->authz_policies[i], svc))
			return true;
	return false;
}

bool cfg_service_is_authorized(const struct mesh_config *cfg, const struct cfg_service *svc)
{
	size_t i;

	for (i = 0; i < cfg->nauthz_policies; i++)
		if (cfg_authz_targets(&cfg->authz_policies[i], svc))
			return true;
	return false;
}

bool cfg_service_fronts(const struct cfg_service *svc, const struct cfg_workload *w)
{
	size_t i;

	if (strcmp(svc->ns, w->ns))
		return false;
	if (svc->has_selector && cfg_labels_subset(&svc->selector, &w->labels))
		return true;
	for (i = 0; i < svc->nbackends; i++)
		if (svc->backends[i].workload && !strcmp(svc->backends[i].workload, w->name))
			return true;
	return false;
}

const struct cfg_service *cfg_l7_service_of_endpoint(const struct mesh_config *cfg,
						     const struct cfg_workload *w, __u16 port,
						     size_t *from,
						     const struct cfg_service_port **sp)
{
	size_t i, p;

	for (i = *from; i < cfg->nservices; i++) {
		const struct cfg_service *s = &cfg->services[i];

		if (!cfg_service_fronts(s, w))
			continue;
		for (p = 0; p < s->nports; p++)
			if (s->ports[p].target_port == port &&
			    cfg_service_port_is_l7(cfg, s, &s->ports[p])) {
				*sp = &s->ports[p];
				*from = i + 1;
				return s;
			}
	}
	*from = cfg->nservices;
	return NULL;
}

const char *cfg_http_check_token(const char *s)
{
	static const char tchar[] = "!#$%&'*+-.^_`|~";
	size_t i;

	if (!*s)
		return "is empty";
	for (i = 0; s[i]; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || strchr(tchar, s[i])))
			return "is not an HTTP token (letters, digits and !#$%&'*+-.^_`|~)";
	return NULL;
}

const char *cfg_http_check_value(const char *s)
{
	const unsigned char *c;

	for (c = (const unsigned char *)s; *c; c++)
		if ((*c < 0x20 && *c != '\t') || *c == 0x7f)
			return "holds a control character (CR, LF, ...), not allowed in HTTP";
	return NULL;
}

const char *cfg_http_check_method(const char *s)
{
	static const char *const methods[] = {"GET",	 "HEAD",    "POST",  "PUT",  "DELETE",
					      "CONNECT", "OPTIONS", "TRACE", "PATCH"};
	size_t i;

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (!strcmp(s, methods[i]))
			return NULL;
	return "is not GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE or PATCH";
}

const char *cfg_http_check_regex(const char *re, char *why, size_t len)
{
	regex_t compiled;
	int rc = regcomp(&compiled, re, REG_EXTENDED | REG_NOSUB);

	if (!rc) {
		regfree(&compiled);
		return NULL;
	}
	regerror(rc, &compiled, why, len);
	return why;
}

const char *cfg_http_check_path(const char *s)
{
	static const char allowed[] = "-/._~!$&'()*+,;=:@";
	const char *c;

	if (s[0] != '/')
		return "must start with '/'";
	for (c = s; *c; c++) {
		if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		    (*c >= '0' && *c <= '9') || strchr(allowed, *c))
			continue;
		if (c[0] == '%' && isxdigit((unsigned char)c[1]) && isxdigit((unsigned char)c[2])) {
			c += 2;
			continue;
		}
		return "holds a character a URL path cannot (escape it as %XX)";
	}
	return NULL;
}

/* S has at most one '*', at its start or its end (Istio's prefix, suffix
 * and presence matches), and no space or control character. */
static const char *check_glob(const char *s)
{
	const char *star = strchr(s, '*'), *c;
	size_t len = strlen(s);

	if (!len)
		return "is empty";
	for (c = s; *c; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f)
			return "holds a space or a control character";
	if (star && (strchr(star + 1, '*') || (star != s && star != s + len - 1)))
		return "may hold one '*', at its start or its end";
	return NULL;
}

const char *cfg_authz_check_principal(const char *s)
{
	static const char *const shape =
	    "is not TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICE_ACCOUNT (a '*' may stand at its start "
	    "or end)";
	char ns[SHUNT_DNS_LABEL_MAX + 1], sa[SHUNT_DNS_SUBDOMAIN_MAX + 1];
	const char *why, *at, *end;
	size_t len;

	if ((why = check_glob(s)) || strchr(s, '*'))
		return why;
	/* TD (one or more of its characters, no '/') "/ns/" NS "/sa/" SA */
	if (!(at = strchr(s, '/')) || at == s || strncmp(at, "/ns/", 4))
		return shape;
	at += 4;
	if (!(end = strchr(at, '/')) || strncmp(end, "/sa/", 4) ||
	    (len = (size_t)(end - at)) > SHUNT_DNS_LABEL_MAX)
		return shape;
	memcpy(ns, at, len);
	ns[len] = 0;
	at = end + 4;
	if (strlen(at) > SHUNT_DNS_SUBDOMAIN_MAX)
		return shape;
	strcpy(sa, at);
	if (name_check_dns_label(ns) || name_check_dns_subdomain(sa))
		return shape;
	return NULL;
}

const char *cfg_authz_check_namespace(const char *s)
{
	const char *why, *c;

	if (!strchr(s, '*'))
		return name_check_dns_label(s);
	if ((why = check_glob(s)))
		return why;
	for (c = s; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' ||
		      *c == '*'))
			return "may only hold a-z, 0-9 and '-' (and a '*' at its start or end)";
	return NULL;
}

const char *cfg_authz_check_value(const char *s)
{
	const char *why = cfg_http_check_value(s), *star = strchr(s, '*');

	if (!why && star && (strchr(star + 1, '*') || (star != s && star[1])))
		return "may hold one '*', at its start or its end";
	return why;
}

const char *cfg_authz_check_path(const char *s)
{
	const char *why = check_glob(s);

	if (!why && s[0] != '/' && s[0] != '*')
		return "must start with '/' or '*'";
	return why;
}
