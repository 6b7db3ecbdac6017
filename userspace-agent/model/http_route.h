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

/* Why parsing or checking stopped, for what reports it beyond the message
 * (an HTTPRoute's status conditions, k8s_route_status.c); and why a kept
 * backendRef does not resolve (struct cfg_http_backend). */
enum cfg_fail_reason {
	CFG_FAIL_INVALID = 0,	    /* a value the schema or the model does not take */
	CFG_FAIL_PARENT_NOT_FOUND,  /* a parentRef's Service, or its port, is not there */
	CFG_FAIL_BACKEND_NOT_FOUND, /* a backendRef's Service, or its port, is not there */
	CFG_FAIL_BACKEND_KIND,	    /* a backendRef to something else than a Service */
	CFG_FAIL_BACKEND_NAMESPACE, /* a backendRef to another namespace */
};

/* A backendRef: a Service of the route's namespace, and its port. One that
 * does not resolve (UNRESOLVED; the Kubernetes source keeps those, the
 * Gateway API's way) still takes its weight's share of the requests, and
 * the proxy answers them 500 (docs/l7.md). */
struct cfg_http_backend {
	const char *service; /* UNRESOLVED: the reference's name, whatever it names */
	__u16 port;	     /* UNRESOLVED: may be 0 (not given) */
	__u32 weight;	     /* default 1; 0 takes no requests */
	bool unresolved;
	enum cfg_fail_reason unresolved_why; /* a CFG_FAIL_BACKEND_* */
	struct cfg_origin origin;
};

/* retry (Gateway API's HTTPRouteRetry, GEP-1731): ATTEMPTS retries after
 * the first try on the listed statuses, on connect failures and on resets
 * before a response, with exponential BACKOFF_MS and jitter. */
struct cfg_http_retry {
	__u32 attempts; /* 0: no retries */
	__u16 *codes;
	size_t ncodes;
	__u32 grpc_statuses; /* grpcStatuses: bit N for gRPC status N */
	__u32 backoff_ms;    /* default 25 */
};

/* fault (Istio's HTTPFaultInjection): delay and/or abort a share of the
 * requests, before any endpoint is tried. */
struct cfg_http_fault {
	__u32 delay_ms;	      /* delay.fixedDelay; 0: no delay */
	double delay_percent; /* delay.percentage (0-100), default 100 */
	__u16 abort_status;   /* abort.httpStatus (200-599); 0: no abort */
	int abort_grpc;	      /* abort.grpcStatus as a code (0-16); -1: none */
	double abort_percent; /* abort.percentage (0-100), default 100 */
};

/* rateLimit (local, per proxy worker): a token bucket of REQUESTS per
 * UNIT_MS with BURST; over it, 429 with Retry-After. */
struct cfg_http_rate_limit {
	__u32 requests; /* requestsPerUnit; 0: no limit */
	__u32 unit_ms;	/* unit: second, minute or hour */
	__u32 burst;	/* default: requests */
};

/* RequestRedirect (Gateway API): answered by the proxy. */
struct cfg_http_redirect {
	bool set;
	const char *scheme, *hostname; /* NULL: the request's */
	__u16 port;		       /* 0: the request's */
	enum cfg_path_match path_type; /* PREFIX: ReplacePrefixMatch, EXACT: ReplaceFullPath */
	const char *path;	       /* NULL: the request's */
	__u16 status;		       /* 301 or 302 (default) */
};

/* URLRewrite (Gateway API). */
struct cfg_http_rewrite {
	bool set;
	const char *hostname;	       /* NULL: kept */
	enum cfg_path_match path_type; /* PREFIX: ReplacePrefixMatch, EXACT: ReplaceFullPath */
	const char *path;	       /* NULL: kept */
};

/* RequestMirror (Gateway API): a copy of each request to another Service,
 * its answer dropped. */
struct cfg_http_mirror {
	const char *service; /* NULL: none */
	__u16 port;
	double percent; /* default 100 */
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
	struct cfg_http_fault fault;
	struct cfg_http_rate_limit rate_limit;
	struct cfg_http_redirect redirect;
	struct cfg_http_rewrite rewrite;
	struct cfg_http_mirror mirror;
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

/*
 * trafficPolicy of a Service (Istio's DestinationRule fields), for L7
 * requests to its endpoints: how one is picked, the circuit breaker's
 * limits per proxy worker, and when an endpoint is ejected.
 */
enum cfg_lb_policy { CFG_LB_PEAK_EWMA, CFG_LB_ROUND_ROBIN, CFG_LB_LEAST_REQUEST, CFG_LB_RANDOM };

struct cfg_traffic_policy {
	enum cfg_lb_policy lb; /* loadBalancer.simple; default PEAK_EWMA */
	/* connectionPool; 0: no limit */
	__u32 max_connections;	    /* tcp.maxConnections */
	__u32 max_pending_requests; /* http.http1MaxPendingRequests */
	__u32 max_requests;	    /* http.http2MaxRequests */
	__u32 max_retries;	    /* http.maxRetries */
	__u32 idle_timeout_ms;	    /* http.idleTimeout; 0: the proxy's */
	/* outlierDetection; consecutive_5xx and consecutive_gateway 0: off */
	bool outlier;
	__u32 consecutive_5xx; /* consecutive5xxErrors, default 5 */
	__u32
	    consecutive_gateway; /* consecutiveGatewayErrors (502, 503, 504, connect), default 0 */
	__u32 interval_ms;	 /* interval, default 10s */
	__u32 base_ejection_ms;	 /* baseEjectionTime, default 30s */
	__u32 max_ejection_percent; /* maxEjectionPercent, default 10 */
};

/*
 * authorizationPolicies (Istio's AuthorizationPolicy, L7 fields): for the
 * Services they target, each request is allowed or denied by its source's
 * verified identity and its method, path and headers. DENY policies first;
 * then, if any ALLOW policy targets the service, a request must match one.
 */
enum cfg_authz_action { CFG_AUTHZ_ALLOW, CFG_AUTHZ_DENY };

/* Every given list must have a match (one of its values); globs: a leading
 * or trailing '*' (Istio's prefix/suffix/presence match). */
struct cfg_authz_rule {
	const char **principals; /* "TRUST_DOMAIN/ns/NS/sa/SA" */
	size_t nprincipals;
	const char **namespaces;
	size_t nnamespaces;
	const char **methods;
	size_t nmethods;
	const char **paths;
	size_t npaths;
	struct cfg_http_header *headers; /* when: request.headers[NAME] in VALUES (one each) */
	size_t nheaders;
	struct cfg_origin origin;
};

struct cfg_authz_policy {
	const char *name, *ns;
	const char **services; /* targetRefs: Services of NS */
	size_t nservices;
	enum cfg_authz_action action;
	struct cfg_authz_rule *rules; /* none: ALLOW matches nothing, DENY everything */
	size_t nrules;
	struct cfg_origin origin;
};

struct mesh_config;
struct cfg_service;
struct cfg_service_port;
struct cfg_workload;
struct cfg_authz_policy;

/* True for ports whose endpoints speak HTTP/2 with prior knowledge
 * (appProtocol http2, kubernetes.io/h2c, grpc): the L7 proxy speaks h2c
 * to them, HTTP/1.1 to the others. */
bool cfg_port_speaks_http2(const struct cfg_service_port *sp);

/* True when TCP port SP of SVC is served by the node proxy's L7 side:
 * appProtocol http, http2 or grpc, an HTTPRoute whose parentRef names it
 * (by port, or every port of SVC), or an authorization policy that targets
 * SVC (every TCP port: the proxy is where it is enforced). */
bool cfg_service_port_is_l7(const struct mesh_config *cfg, const struct cfg_service *svc,
			    const struct cfg_service_port *sp);

/* True when POL targets SVC (same namespace, named in targetRefs). */
bool cfg_authz_targets(const struct cfg_authz_policy *pol, const struct cfg_service *svc);
/* True when an authorization policy targets SVC. */
bool cfg_service_is_authorized(const struct mesh_config *cfg, const struct cfg_service *svc);

/* The service named NAME in namespace NS, or NULL. */
const struct cfg_service *cfg_service_find(const struct mesh_config *cfg, const char *ns,
					   const char *name);

/* True when W is an endpoint of SVC: SVC's selector takes W (same
 * namespace), or one of SVC's backends names W. */
bool cfg_service_fronts(const struct cfg_service *svc, const struct cfg_workload *w);
/* The next service from index *FROM on with an L7 port (*SP) whose target
 * port is PORT and whose endpoints include W; NULL when no more. *FROM
 * moves past it, so a loop visits each such service once. */
const struct cfg_service *cfg_l7_service_of_endpoint(const struct mesh_config *cfg,
						     const struct cfg_workload *w, __u16 port,
						     size_t *from,
						     const struct cfg_service_port **sp);

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

/* A path of a RequestRedirect or URLRewrite: starts with '/', holds only
 * the characters of an RFC 3986 path (and %XX). */
const char *cfg_http_check_path(const char *s);
/* Values of an authorization rule, each exact or with one '*' at its start
 * or end (no space): a principal TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICE_ACCOUNT,
 * a namespace, a path (starts with '/' or '*'). */
const char *cfg_authz_check_principal(const char *s);
const char *cfg_authz_check_namespace(const char *s);
const char *cfg_authz_check_path(const char *s);
/* A header value of a when condition (cfg_http_check_value, and a '*' only
 * at its start or end). */
const char *cfg_authz_check_value(const char *s);

/* The Gateway API's spellings, indexed by the enums. */
extern const char *const cfg_path_match_names[3];  /* PathPrefix Exact RegularExpression */
extern const char *const cfg_value_match_names[2]; /* Exact RegularExpression */
/* Path modifiers of RequestRedirect and URLRewrite, by enum cfg_path_match:
 * ReplacePrefixMatch (CFG_PATH_PREFIX), ReplaceFullPath (CFG_PATH_EXACT). */
extern const char *const cfg_path_modifier_names[2];
/* Istio's spellings. */
#define CFG_GRPC_STATUSES 17
extern const char *const cfg_grpc_status_names[CFG_GRPC_STATUSES]; /* OK ... UNAUTHENTICATED */
extern const char *const cfg_lb_policy_names[4];    /* PEAK_EWMA ROUND_ROBIN LEAST_REQUEST RANDOM */
extern const char *const cfg_authz_action_names[2]; /* ALLOW DENY */

#endif
