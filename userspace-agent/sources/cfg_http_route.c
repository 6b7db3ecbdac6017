// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * httpRoutes: the Gateway API HTTPRoute in its mesh (GAMMA) shape, with
 * its v1 field names (model/http_route.h, docs/config.md). Services are
 * parsed before routes, so references are checked here, at their node.
 * Filters are in cfg_http_filters.c, fault and rateLimit in cfg_l7_traffic.c.
 */
#include <errno.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cfg_parse.h"
#include "mesh_shared.h"

#define DEFAULT_BACKOFF_MS     25
#define DEFAULT_RETRY_ATTEMPTS 1
#define MAX_RETRY_ATTEMPTS     10

/* A list at N: *COUNT items of SIZE bytes in the arena (NULL when none). */
int cfg_http_alloc_seq(struct cfg_parser *p, yaml_node_t *n, const char *what, size_t size,
		       void **items, size_t *count)
{
	int err = cfgy_get_seq(p, n, what, count);

	*items = NULL;
	if (err || !*count)
		return err;
	if (!(*items = cfgy_alloc_array(p, *count, size)))
		return cfgy_oom(p);
	return 0;
}

/* The Gateway API's Duration: ^([0-9]{1,5}(h|m|s|ms)){1,4}$, in ms. */
int cfg_http_parse_duration(struct cfg_parser *p, yaml_node_t *n, const char *what, __u32 *ms)
{
	static const char *const pattern = "^([0-9]{1,5}(h|m|s|ms)){1,4}$";
	unsigned long long total = 0, num;
	const char *s, *c;
	regex_t re;
	int err, rc;

	if ((err = cfgy_get_str(p, n, what, &s)))
		return err;
	if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB))
		return cfgy_oom(p);
	rc = regexec(&re, s, 0, NULL, 0);
	regfree(&re);
	if (rc)
		return cfgy_fail(p, n, "%s '%s' is not a duration like 500ms, 2s, 1m30s or 1h",
				 what, s);
	for (c = s; *c;) {
		for (num = 0; *c >= '0' && *c <= '9'; c++)
			num = num * 10 + (unsigned long long)(*c - '0');
		if (c[0] == 'm' && c[1] == 's')
			total += num, c += 2;
		else
			total += num * (*c == 'h'   ? 3600000ull
					: *c == 'm' ? 60000ull
						    : 1000ull),
			    c++;
	}
	if (total > UINT32_MAX)
		return cfgy_fail(p, n, "%s '%s' is longer than %u ms", what, s, UINT32_MAX);
	*ms = (__u32)total;
	return 0;
}

static const char *const ref_names[] = {[CFG_REF_PARENT] = "parentRef",
					[CFG_REF_BACKEND] = "backendRef",
					[CFG_REF_TARGET] = "targetRef"};

/* Group, kind, name and namespace of a parentRef, backendRef or targetRef:
 * a Service of the route's namespace NS; its name into *SERVICE, its node
 * *NAME_NODE. A backendRef's failures say why it does not resolve. */
int cfg_http_parse_service_ref(struct cfg_parser *p, yaml_node_t *n, enum cfg_ref_role role,
			       const char *ns, const char **service, yaml_node_t **name_node)
{
	const char *what = ref_names[role];
	bool backend = role == CFG_REF_BACKEND;
	const char *s;
	yaml_node_t *v;
	int err;

	if ((v = cfgy_map_get(p, n, "group"))) {
		if ((err = cfgy_get_str(p, v, "group", &s)))
			return err;
		if (*s && strcmp(s, "core"))
			return cfgy_fail_why(
			    p, v, backend ? CFG_FAIL_BACKEND_KIND : CFG_FAIL_INVALID,
			    "%s group must be \"\" or core (a Service), not '%s'", what, s);
	}
	if ((v = cfgy_map_get(p, n, "kind"))) {
		if ((err = cfgy_get_str(p, v, "kind", &s)))
			return err;
		if (strcmp(s, "Service"))
			return cfgy_fail_why(p, v,
					     backend ? CFG_FAIL_BACKEND_KIND : CFG_FAIL_INVALID,
					     "%s kind must be Service, not '%s'", what, s);
	}
	if ((v = cfgy_map_get(p, n, "namespace"))) {
		if ((err = cfgy_get_name(p, v, "namespace", &s)))
			return err;
		if (strcmp(s, ns))
			return cfgy_fail_why(
			    p, v, backend ? CFG_FAIL_BACKEND_NAMESPACE : CFG_FAIL_INVALID,
			    "%s to namespace %s: only Services of the route's "
			    "namespace (%s) are supported",
			    what, s, ns);
	}
	if (!(*name_node = cfgy_map_get(p, n, "name")))
		return cfgy_fail(p, n, "a %s needs 'name'", what);
	return cfgy_get_name(p, *name_node, "service name", service);
}

/* Service NS/NAME (named at NAME_NODE) exists and has TCP port PORT (at
 * PORT_NODE; 0: any TCP port). */
int cfg_http_check_service_port(struct cfg_parser *p, yaml_node_t *name_node,
				yaml_node_t *port_node, enum cfg_ref_role role, const char *ns,
				const char *name, __u16 port)
{
	const struct cfg_service *svc = cfg_service_find(p->cfg, ns, name);
	yaml_node_t *n = port_node ? port_node : name_node;
	enum cfg_fail_reason why = role == CFG_REF_PARENT    ? CFG_FAIL_PARENT_NOT_FOUND
				   : role == CFG_REF_BACKEND ? CFG_FAIL_BACKEND_NOT_FOUND
							     : CFG_FAIL_INVALID;
	const char *what = ref_names[role];
	size_t i;

	if (!svc)
		return cfgy_fail_why(p, name_node, why, "%s: service %s/%s is not defined", what,
				     ns, name);
	for (i = 0; i < svc->nports; i++)
		if (svc->ports[i].proto == SHUNT_PROTO_TCP && (!port || svc->ports[i].port == port))
			return 0;
	if (!port)
		return cfgy_fail_why(p, n, why, "%s: service %s/%s has no TCP port", what, ns,
				     name);
	return cfgy_fail_why(p, n, why, "%s: service %s/%s has no TCP port %u", what, ns, name,
			     port);
}

static int parse_parent(struct cfg_parser *p, yaml_node_t *n, const char *ns,
			struct cfg_http_parent *out)
{
	static const char *const keys[] = {"group", "kind", "name", "namespace", "port", NULL};
	yaml_node_t *v, *name_node;
	unsigned long num;
	int err;

	if ((err = cfgy_check_map(p, n, "a parentRef", keys)) ||
	    (err = cfg_http_parse_service_ref(p, n, CFG_REF_PARENT, ns, &out->service, &name_node)))
		return err;
	if ((v = cfgy_map_get(p, n, "port"))) {
		if ((err = cfgy_get_uint(p, v, "port", 1, 65535, &num)))
			return err;
		out->port = (__u16)num;
	}
	return cfg_http_check_service_port(p, name_node, v, CFG_REF_PARENT, ns, out->service,
					   out->port);
}

int cfg_http_parse_backend_ref(struct cfg_parser *p, yaml_node_t *n, const char *ns,
			       const char **service, __u16 *port)
{
	yaml_node_t *v, *name_node;
	unsigned long num;
	int err;

	if ((err = cfg_http_parse_service_ref(p, n, CFG_REF_BACKEND, ns, service, &name_node)))
		return err;
	if (!(v = cfgy_map_get(p, n, "port")))
		return cfgy_fail(p, n, "backendRef %s needs 'port'", *service);
	if ((err = cfgy_get_uint(p, v, "port", 1, 65535, &num)))
		return err;
	*port = (__u16)num;
	return cfg_http_check_service_port(p, name_node, v, CFG_REF_BACKEND, ns, *service, *port);
}

static bool is_backend_reason(enum cfg_fail_reason why)
{
	return why == CFG_FAIL_BACKEND_NOT_FOUND || why == CFG_FAIL_BACKEND_KIND ||
	       why == CFG_FAIL_BACKEND_NAMESPACE;
}

/* A backendRef at N that does not resolve, read as far as it is written:
 * its name (any string: another kind's names need not be a Service's) and
 * its port if given (only a Service needs one). */
static int read_unresolved_ref(struct cfg_parser *p, yaml_node_t *n, const char **service,
			       __u16 *port)
{
	yaml_node_t *v;
	unsigned long num = 0;
	int err;

	if (!(v = cfgy_map_get(p, n, "name")))
		return cfgy_fail(p, n, "a backendRef needs 'name'");
	if ((err = cfgy_get_str(p, v, "backendRef name", service)))
		return err;
	if (!**service)
		return cfgy_fail(p, v, "a backendRef name cannot be empty");
	if ((v = cfgy_map_get(p, n, "port")) && (err = cfgy_get_uint(p, v, "port", 1, 65535, &num)))
		return err;
	*port = (__u16)num;
	return 0;
}

int cfg_http_read_backend_ref(struct cfg_parser *p, yaml_node_t *n, const char *ns,
			      const char **service, __u16 *port, enum cfg_fail_reason *why)
{
	int err = cfg_http_parse_backend_ref(p, n, ns, service, port);

	*why = CFG_FAIL_INVALID;
	if (err != -EINVAL || !p->keep_unresolved_backends || !is_backend_reason(p->err->reason))
		return err;
	/* The Gateway API keeps the route; what the reference was for is
	 * answered 500 (or, a mirror's, not mirrored). */
	*why = p->err->reason;
	p->err->reason = CFG_FAIL_INVALID;
	p->err->msg[0] = 0;
	return read_unresolved_ref(p, n, service, port);
}

static int parse_backend(struct cfg_parser *p, yaml_node_t *n, const char *ns,
			 struct cfg_http_backend *out)
{
	static const char *const keys[] = {"group", "kind",   "name", "namespace",
					   "port",  "weight", NULL};
	yaml_node_t *v;
	unsigned long num;
	int err;

	out->origin = cfgy_origin_of(p, n);
	if ((err = cfgy_check_map(p, n, "a backendRef", keys)) ||
	    (err = cfg_http_read_backend_ref(p, n, ns, &out->service, &out->port,
					     &out->unresolved_why)))
		return err;
	out->unresolved = out->unresolved_why != CFG_FAIL_INVALID;
	out->weight = 1;
	if ((v = cfgy_map_get(p, n, "weight"))) {
		if ((err = cfgy_get_uint(p, v, "weight", 0, 1000000, &num)))
			return err;
		out->weight = (__u32)num;
	}
	return 0;
}

static int check_regex(struct cfg_parser *p, yaml_node_t *n, const char *what, const char *re)
{
	char why[200];

	if (cfg_http_check_regex(re, why, sizeof(why)))
		return cfgy_fail(p, n, "%s '%s' is not a POSIX extended regex: %s", what, re, why);
	return 0;
}

/* Index of the string at N in NAMES (COUNT of them), into *OUT. */
int cfg_http_parse_enum(struct cfg_parser *p, yaml_node_t *n, const char *what,
			const char *const *names, size_t count, int *out)
{
	char list[256];
	const char *s;
	size_t i, len = 0;
	int err;

	if ((err = cfgy_get_str(p, n, what, &s)))
		return err;
	for (i = 0; i < count; i++)
		if (!strcmp(s, names[i])) {
			*out = (int)i;
			return 0;
		}
	/* "A, B or C" */
	for (i = 0, list[0] = 0; i < count && len < sizeof(list); i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
					!i		? ""
					: i + 1 < count ? ", "
							: " or ",
					names[i]);
	return cfgy_fail(p, n, "%s must be %s, not '%s'", what, list, s);
}

static int parse_path(struct cfg_parser *p, yaml_node_t *n, struct cfg_http_match *out)
{
	static const char *const keys[] = {"type", "value", NULL};
	yaml_node_t *v;
	int err, type = CFG_PATH_PREFIX;

	if ((err = cfgy_check_map(p, n, "path", keys)))
		return err;
	if ((v = cfgy_map_get(p, n, "type")) &&
	    (err = cfg_http_parse_enum(p, v, "path type", cfg_path_match_names, 3, &type)))
		return err;
	out->path_type = (enum cfg_path_match)type;
	if (!(v = cfgy_map_get(p, n, "value")))
		return 0;
	if ((err = cfgy_get_str(p, v, "path value", &out->path)))
		return err;
	if (out->path_type == CFG_PATH_REGEX)
		return check_regex(p, v, "path", out->path);
	if (out->path[0] != '/')
		return cfgy_fail(p, v, "path '%s' must start with '/'", out->path);
	return 0;
}

/* An HTTP header name, lowercased (names are case-insensitive). */
int cfg_http_get_header_name(struct cfg_parser *p, yaml_node_t *n, const char **out)
{
	const char *why;
	char *c;
	int err;

	if ((err = cfgy_get_str(p, n, "header name", out)))
		return err;
	if ((why = cfg_http_check_token(*out)))
		return cfgy_fail(p, n, "header name '%s' %s", *out, why);
	for (c = (char *)*out; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	return 0;
}

/* headers or queryParams of a match: [{type, name, value}]. */
static int parse_value_matches(struct cfg_parser *p, yaml_node_t *n, bool header,
			       struct cfg_http_value_match **items, size_t *count)
{
	static const char *const keys[] = {"type", "name", "value", NULL};
	const char *what = header ? "a header match" : "a queryParam match";
	size_t i, j;
	int err;

	if ((err = cfg_http_alloc_seq(p, n, header ? "headers" : "queryParams", sizeof(**items),
				      (void **)items, count)))
		return err;
	for (i = 0; i < *count; i++) {
		struct cfg_http_value_match *m = &(*items)[i];
		yaml_node_t *mn = cfgy_seq_item(p, n, i), *v, *nv;
		int type = CFG_VALUE_EXACT;

		if ((err = cfgy_check_map(p, mn, what, keys)))
			return err;
		if ((v = cfgy_map_get(p, mn, "type")) &&
		    (err =
			 cfg_http_parse_enum(p, v, "match type", cfg_value_match_names, 2, &type)))
			return err;
		m->type = (enum cfg_value_match)type;
		if (!(nv = cfgy_map_get(p, mn, "name")))
			return cfgy_fail(p, mn, "%s needs 'name'", what);
		if ((err = header ? cfg_http_get_header_name(p, nv, &m->name)
				  : cfgy_get_str(p, nv, "queryParam name", &m->name)))
			return err;
		if (!*m->name)
			return cfgy_fail(p, nv, "a queryParam name cannot be empty");
		for (j = 0; j < i; j++)
			if (!strcmp((*items)[j].name, m->name))
				return cfgy_fail(p, nv, "'%s' is matched twice", m->name);
		if (!(v = cfgy_map_get(p, mn, "value")))
			return cfgy_fail(p, mn, "%s needs 'value'", what);
		if ((err = cfgy_get_str(p, v, "match value", &m->value)))
			return err;
		if (m->type == CFG_VALUE_REGEX && (err = check_regex(p, v, "value", m->value)))
			return err;
	}
	return 0;
}

static int parse_match(struct cfg_parser *p, yaml_node_t *n, struct cfg_http_match *out)
{
	static const char *const keys[] = {"path", "method", "headers", "queryParams", NULL};
	const char *why;
	yaml_node_t *v;
	int err;

	out->path_type = CFG_PATH_PREFIX;
	out->path = "/";
	if ((err = cfgy_check_map(p, n, "a match", keys)))
		return err;
	if ((v = cfgy_map_get(p, n, "path")) && (err = parse_path(p, v, out)))
		return err;
	if ((v = cfgy_map_get(p, n, "method"))) {
		if ((err = cfgy_get_str(p, v, "method", &out->method)))
			return err;
		if ((why = cfg_http_check_method(out->method)))
			return cfgy_fail(p, v, "method '%s' %s", out->method, why);
	}
	if ((v = cfgy_map_get(p, n, "headers")) &&
	    (err = parse_value_matches(p, v, true, &out->headers, &out->nheaders)))
		return err;
	if ((v = cfgy_map_get(p, n, "queryParams")) &&
	    (err = parse_value_matches(p, v, false, &out->query, &out->nquery)))
		return err;
	return 0;
}

static int parse_timeouts(struct cfg_parser *p, yaml_node_t *n, struct cfg_http_rule *rule)
{
	static const char *const keys[] = {"request", "backendRequest", NULL};
	yaml_node_t *v, *b;
	int err;

	if ((err = cfgy_check_map(p, n, "timeouts", keys)))
		return err;
	if ((v = cfgy_map_get(p, n, "request")) &&
	    (err = cfg_http_parse_duration(p, v, "timeouts.request", &rule->request_timeout_ms)))
		return err;
	if ((b = cfgy_map_get(p, n, "backendRequest")) &&
	    (err = cfg_http_parse_duration(p, b, "timeouts.backendRequest",
					   &rule->backend_timeout_ms)))
		return err;
	/* The Gateway API's rule; a zero request timeout means none. */
	if (rule->request_timeout_ms && rule->backend_timeout_ms > rule->request_timeout_ms)
		return cfgy_fail(p, b,
				 "timeouts.backendRequest (%u ms) must not exceed timeouts.request "
				 "(%u ms)",
				 rule->backend_timeout_ms, rule->request_timeout_ms);
	return 0;
}

static int parse_retry(struct cfg_parser *p, yaml_node_t *n, struct cfg_http_retry *out)
{
	static const char *const keys[] = {"attempts", "codes", "grpcStatuses", "backoff", NULL};
	unsigned long num;
	yaml_node_t *v;
	size_t i, j;
	int err, code;

	if ((err = cfgy_check_map(p, n, "retry", keys)))
		return err;
	out->attempts = DEFAULT_RETRY_ATTEMPTS;
	if ((v = cfgy_map_get(p, n, "attempts"))) {
		if ((err = cfgy_get_uint(p, v, "retry attempts", 0, MAX_RETRY_ATTEMPTS, &num)))
			return err;
		out->attempts = (__u32)num;
	}
	if ((v = cfgy_map_get(p, n, "backoff")) &&
	    (err = cfg_http_parse_duration(p, v, "retry backoff", &out->backoff_ms)))
		return err;
	if ((v = cfgy_map_get(p, n, "grpcStatuses"))) {
		if ((err = cfgy_get_seq(p, v, "grpcStatuses", &j)))
			return err;
		for (i = 0; i < j; i++) {
			if ((err = cfg_http_parse_grpc_status(p, cfgy_seq_item(p, v, i), &code)))
				return err;
			out->grpc_statuses |= 1u << code;
		}
	}
	if (!(v = cfgy_map_get(p, n, "codes")))
		return 0;
	if ((err = cfg_http_alloc_seq(p, v, "codes", sizeof(*out->codes), (void **)&out->codes,
				      &out->ncodes)))
		return err;
	for (i = 0; i < out->ncodes; i++) {
		yaml_node_t *cn = cfgy_seq_item(p, v, i);

		if ((err = cfgy_get_uint(p, cn, "a retry code", 400, 599, &num)))
			return err;
		out->codes[i] = (__u16)num;
		for (j = 0; j < i; j++)
			if (out->codes[j] == out->codes[i])
				return cfgy_fail(p, cn, "code %lu is listed twice", num);
	}
	return 0;
}

static int parse_rule_lists(struct cfg_parser *p, yaml_node_t *n, const char *ns,
			    struct cfg_http_rule *out)
{
	yaml_node_t *v;
	size_t i;
	int err;

	if ((v = cfgy_map_get(p, n, "matches"))) {
		if ((err = cfg_http_alloc_seq(p, v, "matches", sizeof(*out->matches),
					      (void **)&out->matches, &out->nmatches)))
			return err;
		for (i = 0; i < out->nmatches; i++)
			if ((err = parse_match(p, cfgy_seq_item(p, v, i), &out->matches[i])))
				return err;
	}
	/* After the matches: ReplacePrefixMatch depends on them. */
	if ((v = cfgy_map_get(p, n, "filters")) && (err = cfg_http_parse_filters(p, v, ns, out)))
		return err;
	if (!(v = cfgy_map_get(p, n, "backendRefs")))
		return 0;
	if ((err = cfg_http_alloc_seq(p, v, "backendRefs", sizeof(*out->backends),
				      (void **)&out->backends, &out->nbackends)))
		return err;
	for (i = 0; i < out->nbackends; i++)
		if ((err = parse_backend(p, cfgy_seq_item(p, v, i), ns, &out->backends[i])))
			return err;
	/* The Gateway API's rule: a redirect is answered, never sent on. */
	if (out->redirect.set && out->nbackends)
		return cfgy_fail(p, v,
				 "a rule with a RequestRedirect filter takes no backendRefs "
				 "(the proxy answers it)");
	return 0;
}

/* What every rule starts with, before its fields are read. */
static void rule_defaults(struct cfg_http_rule *rule)
{
	rule->retry.backoff_ms = DEFAULT_BACKOFF_MS;
	rule->fault.abort_grpc = -1;
}

static int parse_rule(struct cfg_parser *p, yaml_node_t *n, const char *ns,
		      struct cfg_http_rule *out)
{
	static const char *const keys[] = {"matches", "filters", "backendRefs", "timeouts",
					   "retry",   "fault",	 "rateLimit",	NULL};
	yaml_node_t *v;
	int err;

	out->origin = cfgy_origin_of(p, n);
	rule_defaults(out);
	if ((err = cfgy_check_map(p, n, "a rule", keys)) || (err = parse_rule_lists(p, n, ns, out)))
		return err;
	if ((v = cfgy_map_get(p, n, "timeouts")) && (err = parse_timeouts(p, v, out)))
		return err;
	if ((v = cfgy_map_get(p, n, "retry")) && (err = parse_retry(p, v, &out->retry)))
		return err;
	if ((v = cfgy_map_get(p, n, "fault")) && (err = cfg_http_parse_fault(p, v, &out->fault)))
		return err;
	if ((v = cfgy_map_get(p, n, "rateLimit")) &&
	    (err = cfg_http_parse_rate_limit(p, v, &out->rate_limit)))
		return err;
	return 0;
}

static int parse_route_refs(struct cfg_parser *p, yaml_node_t *n, struct cfg_http_route *out)
{
	yaml_node_t *v;
	size_t i, j;
	int err;

	if (!(v = cfgy_map_get(p, n, "parentRefs")))
		return cfgy_fail(
		    p, n, "httpRoute %s needs 'parentRefs' (the Service it routes for)", out->name);
	if ((err = cfg_http_alloc_seq(p, v, "parentRefs", sizeof(*out->parents),
				      (void **)&out->parents, &out->nparents)))
		return err;
	if (!out->nparents)
		return cfgy_fail(p, v, "httpRoute %s needs at least one parentRef", out->name);
	for (i = 0; i < out->nparents; i++) {
		yaml_node_t *pn = cfgy_seq_item(p, v, i);

		if ((err = parse_parent(p, pn, out->ns, &out->parents[i])))
			return err;
		for (j = 0; j < i; j++)
			if (!strcmp(out->parents[j].service, out->parents[i].service) &&
			    out->parents[j].port == out->parents[i].port)
				return cfgy_fail(p, pn, "parentRef %s port %u is listed twice",
						 out->parents[i].service, out->parents[i].port);
	}
	return 0;
}

int cfg_parse_http_route(struct cfg_parser *p, yaml_node_t *n, struct cfg_http_route *out)
{
	static const char *const keys[] = {"name", "namespace", "parentRefs", "rules", NULL};
	yaml_node_t *v;
	size_t i;
	int err;

	out->origin = cfgy_origin_of(p, n);
	if ((err = cfgy_check_map(p, n, "an httpRoute", keys)))
		return err;
	if (!(v = cfgy_map_get(p, n, "name")))
		return cfgy_fail(p, n, "an httpRoute needs 'name'");
	if ((err = cfgy_get_name(p, v, "httpRoute name", &out->name)))
		return err;
	out->ns = "default";
	if ((v = cfgy_map_get(p, n, "namespace")) &&
	    (err = cfgy_get_name(p, v, "namespace", &out->ns)))
		return err;
	if ((err = parse_route_refs(p, n, out)))
		return err;
	if ((v = cfgy_map_get(p, n, "rules")) &&
	    (err = cfg_http_alloc_seq(p, v, "rules", sizeof(*out->rules), (void **)&out->rules,
				      &out->nrules)))
		return err;
	for (i = 0; i < out->nrules; i++)
		if ((err = parse_rule(p, cfgy_seq_item(p, v, i), out->ns, &out->rules[i])))
			return err;
	if (out->nrules)
		return 0;
	/* No rules: one that sends every request to the parent Service. */
	if (!(out->rules = cfgy_alloc_array(p, 1, sizeof(*out->rules))))
		return cfgy_oom(p);
	out->nrules = 1;
	out->rules[0].origin = out->origin;
	rule_defaults(&out->rules[0]);
	return 0;
}
