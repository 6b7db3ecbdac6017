// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * authorizationPolicies: Istio's AuthorizationPolicy, its L7 fields, for
 * Services (targetRefs) rather than workload selectors. A rule is flat in
 * this version: at most one from and one to entry (more rules say the
 * same), and `when` on request headers only (model/http_route.h).
 */
#include <errno.h>
#include <string.h>

#include "cfg_parse.h"

#define HEADER_KEY_PREFIX "request.headers["

/* A non-empty list LIST of strings (each a WHAT) at N that CHECK accepts. */
static int parse_strings(struct cfg_parser *p, yaml_node_t *n, const char *list, const char *what,
			 const char *(*check)(const char *), const char ***items, size_t *count)
{
	const char *why;
	size_t i;
	int err;

	if ((err = cfg_http_alloc_seq(p, n, list, sizeof(**items), (void **)items, count)))
		return err;
	if (!*count)
		return cfgy_fail(p, n, "%s is empty (leave it out to match any)", list);
	for (i = 0; i < *count; i++) {
		yaml_node_t *v = cfgy_seq_item(p, n, i);

		if ((err = cfgy_get_str(p, v, what, &(*items)[i])))
			return err;
		if ((why = check((*items)[i])))
			return cfgy_fail(p, v, "%s '%s' %s", what, (*items)[i], why);
	}
	return 0;
}

/* from or to: at most one entry, a map with the one key INNER, whose keys
 * are in KEYS; that map into *OUT (NULL: none). */
static int single_entry(struct cfg_parser *p, yaml_node_t *n, const char *what, const char *inner,
			const char *const *keys, yaml_node_t **out)
{
	const char *const outer_keys[] = {inner, NULL};
	yaml_node_t *e;
	size_t count;
	int err;

	*out = NULL;
	if ((err = cfgy_get_seq(p, n, what, &count)))
		return err;
	if (count > 1)
		return cfgy_fail(p, cfgy_seq_item(p, n, 1),
				 "one %s entry per rule for now; write more rules", what);
	if (!count)
		return 0;
	e = cfgy_seq_item(p, n, 0);
	if ((err = cfgy_check_map(p, e, what, outer_keys)))
		return err;
	if (!(*out = cfgy_map_get(p, e, inner)))
		return cfgy_fail(p, e, "a %s entry needs '%s'", what, inner);
	return cfgy_check_map(p, *out, inner, keys);
}

/* key: request.headers[NAME], values: [VALUE]. */
static int parse_condition(struct cfg_parser *p, yaml_node_t *n, struct cfg_http_header *out)
{
	static const char *const keys[] = {"key", "values", NULL};
	const size_t plen = strlen(HEADER_KEY_PREFIX);
	yaml_node_t *k, *v;
	const char *key, *why;
	size_t len, count;
	char *name, *c;
	int err;

	if ((err = cfgy_check_map(p, n, "a when condition", keys)))
		return err;
	if (!(k = cfgy_map_get(p, n, "key")))
		return cfgy_fail(p, n, "a when condition needs 'key'");
	if ((err = cfgy_get_str(p, k, "when key", &key)))
		return err;
	len = strlen(key);
	if (strncmp(key, HEADER_KEY_PREFIX, plen) || len < plen + 2 || key[len - 1] != ']')
		return cfgy_fail(p, k,
				 "when key '%s' is not request.headers[NAME] (other keys are not "
				 "supported yet)",
				 key);
	/* The arena's copy: the name is cut out of it in place. */
	name = (char *)key + plen;
	name[len - plen - 1] = 0;
	if ((why = cfg_http_check_token(name)))
		return cfgy_fail(p, k, "header name '%s' %s", name, why);
	for (c = name; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	out->name = name;
	if (!(v = cfgy_map_get(p, n, "values")))
		return cfgy_fail(p, n, "a when condition needs 'values'");
	if ((err = cfgy_get_seq(p, v, "values", &count)))
		return err;
	if (count != 1)
		return cfgy_fail(p, v,
				 "values must hold exactly one value for now (for any of several, "
				 "write a rule per value)");
	if ((err = cfgy_get_str(p, cfgy_seq_item(p, v, 0), "a when value", &out->value)))
		return err;
	if ((why = cfg_authz_check_value(out->value)))
		return cfgy_fail(p, cfgy_seq_item(p, v, 0), "the value of header %s %s", name, why);
	return 0;
}

static int parse_when(struct cfg_parser *p, yaml_node_t *n, struct cfg_authz_rule *out)
{
	size_t i, j;
	int err;

	if ((err = cfg_http_alloc_seq(p, n, "when", sizeof(*out->headers), (void **)&out->headers,
				      &out->nheaders)))
		return err;
	for (i = 0; i < out->nheaders; i++) {
		yaml_node_t *c = cfgy_seq_item(p, n, i);

		if ((err = parse_condition(p, c, &out->headers[i])))
			return err;
		for (j = 0; j < i; j++)
			if (!strcmp(out->headers[j].name, out->headers[i].name))
				return cfgy_fail(p, c, "header %s is in when twice",
						 out->headers[i].name);
	}
	return 0;
}

static int parse_rule(struct cfg_parser *p, yaml_node_t *n, struct cfg_authz_rule *out)
{
	static const char *const keys[] = {"from", "to", "when", NULL};
	static const char *const source_keys[] = {"principals", "namespaces", NULL};
	static const char *const operation_keys[] = {"methods", "paths", NULL};
	yaml_node_t *v, *e = NULL, *l;
	int err;

	out->origin = cfgy_origin_of(p, n);
	if ((err = cfgy_check_map(p, n, "an authorization rule", keys)))
		return err;
	if ((v = cfgy_map_get(p, n, "from")) &&
	    (err = single_entry(p, v, "from", "source", source_keys, &e)))
		return err;
	if (v && e && (l = cfgy_map_get(p, e, "principals")) &&
	    (err = parse_strings(p, l, "principals", "principal", cfg_authz_check_principal,
				 &out->principals, &out->nprincipals)))
		return err;
	if (v && e && (l = cfgy_map_get(p, e, "namespaces")) &&
	    (err = parse_strings(p, l, "namespaces", "namespace", cfg_authz_check_namespace,
				 &out->namespaces, &out->nnamespaces)))
		return err;
	if ((v = cfgy_map_get(p, n, "to")) &&
	    (err = single_entry(p, v, "to", "operation", operation_keys, &e)))
		return err;
	if (v && e && (l = cfgy_map_get(p, e, "methods")) &&
	    (err = parse_strings(p, l, "methods", "method", cfg_http_check_method, &out->methods,
				 &out->nmethods)))
		return err;
	if (v && e && (l = cfgy_map_get(p, e, "paths")) &&
	    (err = parse_strings(p, l, "paths", "path", cfg_authz_check_path, &out->paths,
				 &out->npaths)))
		return err;
	if ((v = cfgy_map_get(p, n, "when")) && (err = parse_when(p, v, out)))
		return err;
	return 0;
}

/* targetRefs: [{kind: Service, name: NAME}], Services of NS with a TCP port. */
static int parse_targets(struct cfg_parser *p, yaml_node_t *n, struct cfg_authz_policy *out)
{
	static const char *const keys[] = {"group", "kind", "name", NULL};
	yaml_node_t *v, *name_node;
	size_t i, j;
	int err;

	if (!(v = cfgy_map_get(p, n, "targetRefs")))
		return cfgy_fail(p, n,
				 "authorizationPolicy %s needs 'targetRefs' (the Services it "
				 "guards)",
				 out->name);
	if ((err = cfg_http_alloc_seq(p, v, "targetRefs", sizeof(*out->services),
				      (void **)&out->services, &out->nservices)))
		return err;
	if (!out->nservices)
		return cfgy_fail(p, v, "authorizationPolicy %s needs at least one targetRef",
				 out->name);
	for (i = 0; i < out->nservices; i++) {
		yaml_node_t *t = cfgy_seq_item(p, v, i);

		if ((err = cfgy_check_map(p, t, "a targetRef", keys)) ||
		    (err = cfg_http_parse_service_ref(p, t, CFG_REF_TARGET, out->ns,
						      &out->services[i], &name_node)) ||
		    (err = cfg_http_check_service_port(p, name_node, NULL, CFG_REF_TARGET, out->ns,
						       out->services[i], 0)))
			return err;
		for (j = 0; j < i; j++)
			if (!strcmp(out->services[j], out->services[i]))
				return cfgy_fail(p, t, "targetRef %s is listed twice",
						 out->services[i]);
	}
	return 0;
}

int cfg_parse_authz_policy(struct cfg_parser *p, yaml_node_t *n, struct cfg_authz_policy *out)
{
	static const char *const keys[] = {"name",   "namespace", "targetRefs",
					   "action", "rules",	  NULL};
	yaml_node_t *v;
	size_t i;
	int err, action;

	out->origin = cfgy_origin_of(p, n);
	if ((err = cfgy_check_map(p, n, "an authorizationPolicy", keys)))
		return err;
	if (!(v = cfgy_map_get(p, n, "name")))
		return cfgy_fail(p, n, "an authorizationPolicy needs 'name'");
	if ((err = cfgy_get_subdomain(p, v, "authorizationPolicy name", &out->name)))
		return err;
	out->ns = "default";
	if ((v = cfgy_map_get(p, n, "namespace")) &&
	    (err = cfgy_get_name(p, v, "namespace", &out->ns)))
		return err;
	if ((err = parse_targets(p, n, out)))
		return err;
	out->action = CFG_AUTHZ_ALLOW;
	if ((v = cfgy_map_get(p, n, "action"))) {
		if ((err = cfg_http_parse_enum(p, v, "action", cfg_authz_action_names, 2, &action)))
			return err;
		out->action = (enum cfg_authz_action)action;
	}
	if ((v = cfgy_map_get(p, n, "rules")) &&
	    (err = cfg_http_alloc_seq(p, v, "rules", sizeof(*out->rules), (void **)&out->rules,
				      &out->nrules)))
		return err;
	for (i = 0; i < out->nrules; i++)
		if ((err = parse_rule(p, cfgy_seq_item(p, v, i), &out->rules[i])))
			return err;
	return 0;
}
