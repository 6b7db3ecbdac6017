// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* L7 routes in the model: which service ports are L7, and the checks on
 * route fields that the YAML source and the model reader share. */
#include "http_route.h"

#include <regex.h>
#include <string.h>

#include "mesh_config.h"
#include "mesh_shared.h"

const char *const cfg_path_match_names[3] = {"PathPrefix", "Exact", "RegularExpression"};
const char *const cfg_value_match_names[2] = {"Exact", "RegularExpression"};

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

bool cfg_service_port_is_l7(const struct mesh_config *cfg, const struct cfg_service *svc,
			    const struct cfg_service_port *sp)
{
	size_t i;

	if (sp->proto != SHUNT_PROTO_TCP)
		return false;
	if (sp->app_protocol &&
	    (!strcmp(sp->app_protocol, "http") || !strcmp(sp->app_protocol, "http2") ||
	     !strcmp(sp->app_protocol, "grpc")))
		return true;
	for (i = 0; i < cfg->nhttp_routes; i++)
		if (route_takes_port(&cfg->http_routes[i], svc, sp))
			return true;
	return false;
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
