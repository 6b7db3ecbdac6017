/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * L7 routes of the mesh config, shaped like the Kubernetes Gateway API
 * HTTPRoute in its mesh (GAMMA) mode: a route attaches to a Service port
 * (parentRefs), and its rules send matching requests to weighted Service
 * backends (backendRefs). docs/l7.md describes every field. Strings belong
 * to the config's arena; regexes are checked when parsed and compiled by
 * whoever matches them (the node proxy).
 */
#ifndef SHUNT_HTTP_ROUTE_H
#define SHUNT_HTTP_ROUTE_H

#include <linux/types.h>
#include <stdbool.h>
#include <stddef.h>

#include "model/cfg_origin.h"

enum cfg_path_match { CFG_PATH_PREFIX, CFG_PATH_EXACT, CFG_PATH_REGEX };
enum cfg_value_match { CFG_VALUE_EXACT, CFG_VALUE_REGEX };

/* A header or query parameter to match: NAME (headers: case-insensitive)
 * whose value is VALUE exactly or matches the regex VALUE. */
struct cfg_http_value_match {
	const char *name, *value;
	enum cfg_value_match type;
};

/* One HTTPRouteMatch: every given part must match. */
struct cfg_http_match {
	enum cfg_path_match path_type; /* default PathPrefix "/" */
	const char *path;
	const char *method; /* NULL: any */
	struct cfg_http_value_match *headers, *query;
	size_t nheaders, nquery;
};

struct cfg_http_header {
	const char *name, *value;
};

/* RequestHeaderModifier / ResponseHeaderModifier. */
struct cfg_http_header_mod {
	struct cfg_http_header *set, *add;
	size_t nset, nadd;
	const char **remove;
	size_t nremove;
};

/* A backendRef: a Service of the route's namespace, and its port. */
struct cfg_http_backend {
	const char *service;
	__u16 port;
	__u32 weight; /* default 1; 0 takes no requests */
	struct cfg_origin origin;
};

/* retry (Gateway API's HTTPRouteRetry, GEP-1731): ATTEMPTS retries after
 * the first try on the listed statuses, on connect failures and on resets
 * before a response, with exponential BACKOFF_MS and jitter. */
struct cfg_http_retry {
	__u32 attempts; /* 0: no retries */
	__u16 *codes;
	size_t ncodes;
	__u32 backoff_ms; /* default 25 */
};

struct cfg_http_rule {
	struct cfg_http_match *matches; /* none: every request */
	size_t nmatches;
	struct cfg_http_header_mod request_headers, response_headers;
	struct cfg_http_backend *backends; /* none: the parent Service itself */
	size_t nbackends;
	__u32 request_timeout_ms; /* timeouts.request; 0: none */
	__u32 backend_timeout_ms; /* timeouts.backendRequest, per try; 0: none */
	struct cfg_http_retry retry;
	struct cfg_origin origin;
};

/* A parentRef: the Service (in the route's namespace) whose port PORT (0:
 * every port) the route takes over. */
struct cfg_http_parent {
	const char *service;
	__u16 port;
};

struct cfg_http_route {
	const char *name, *ns;
	struct cfg_http_parent *parents;
	size_t nparents;
	struct cfg_http_rule *rules;
	size_t nrules;
	struct cfg_origin origin;
};

struct mesh_config;
struct cfg_service;
struct cfg_service_port;

/* True when port SP of SVC is served by the node proxy's L7 side:
 * appProtocol http, http2 or grpc, or an HTTPRoute whose parentRef names
 * it (by port, or every port of SVC). */
bool cfg_service_port_is_l7(const struct mesh_config *cfg, const struct cfg_service *svc,
			    const struct cfg_service_port *sp);

/* The service named NAME in namespace NS, or NULL. */
const struct cfg_service *cfg_service_find(const struct mesh_config *cfg, const char *ns,
					   const char *name);

/* Checks shared by the config sources and the model reader; each returns
 * NULL when S is good, else why not (to follow "'S' ..."). */
/* A header name: an RFC 9110 token. */
const char *cfg_http_check_token(const char *s);
/* A header value: no control characters but HTAB (no CR, LF, NUL). */
const char *cfg_http_check_value(const char *s);
/* An HTTP method of RFC 9110 or PATCH. */
const char *cfg_http_check_method(const char *s);
/* A POSIX extended regex (regcomp REG_EXTENDED | REG_NOSUB): NULL, or
 * regerror's text in WHY. */
const char *cfg_http_check_regex(const char *re, char *why, size_t len);

/* The Gateway API's spellings, indexed by the enums. */
extern const char *const cfg_path_match_names[3];  /* PathPrefix Exact RegularExpression */
extern const char *const cfg_value_match_names[2]; /* Exact RegularExpression */

#endif
