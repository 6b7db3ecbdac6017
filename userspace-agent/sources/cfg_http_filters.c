// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * filters of an httpRoute rule, with the Gateway API v1 names: the two
 * header modifiers, RequestRedirect, URLRewrite and RequestMirror (each at
 * most once per rule). ExtensionRef is refused. And a route's backendRefs
 * checked alone (cfg_http_check_backend_refs).
 */
#include <errno.h>
#include <string.h>

#include "cfg_parse.h"
#include "mesh_shared.h"

enum filter_kind {
	FILTER_REQUEST_HEADERS,
	FILTER_RESPONSE_HEADERS,
	FILTER_REDIRECT,
	FILTER_REWRITE,
	FILTER_MIRROR,
	FILTER_EXTENSION,
	FILTER_KINDS
};

static const char *const filter_types[FILTER_KINDS] = {
    "RequestHeaderModifier", "ResponseHeaderModifier",
    "RequestRedirect",	     "URLRewrite",
    "RequestMirror",	     "ExtensionRef"};
/* "type" and the key that holds each type's fields, by enum filter_kind. */
static const char *const filter_keys[FILTER_KINDS + 2] = {
    "type",	  "requestHeaderModifier", "responseHeaderModifier", "requestRedirect",
    "urlRewrite", "requestMirror",	   "extensionRef",	     NULL};

/* set or add of a header modifier: [{name, value}]. */
static int parse_headers(struct cfg_parser *p, yaml_node_t *n, const char *what,
			 struct cfg_http_header **items, size_t *count)
{
	static const char *const keys[] = {"name", "value", NULL};
	const char *why;
	size_t i, j;
	int err;

	if ((err = cfg_http_alloc_seq(p, n, what, sizeof(**items), (void **)items, count)))
		return err;
	for (i = 0; i < *count; i++) {
		struct cfg_http_header *h = &(*items)[i];
		yaml_node_t *hn = cfgy_seq_item(p, n, i), *v;

		if ((err = cfgy_check_map(p, hn, "a header", keys)))
			return err;
		if (!(v = cfgy_map_get(p, hn, "name")))
			return cfgy_fail(p, hn, "a header needs 'name'");
		if ((err = cfg_http_get_header_name(p, v, &h->name)))
			return err;
		for (j = 0; j < i; j++)
			if (!strcmp((*items)[j].name, h->name))
				return cfgy_fail(p, v, "header '%s' is in %s twice", h->name, what);
		if (!(v = cfgy_map_get(p, hn, "value")))
			return cfgy_fail(p, hn, "header %s needs 'value'", h->name);
		if ((err = cfgy_get_str(p, v, "header value", &h->value)))
			return err;
		if ((why = cfg_http_check_value(h->value)))
			return cfgy_fail(p, v, "the value of header %s %s", h->name, why);
	}
	return 0;
}

static int parse_header_mod(struct cfg_parser *p, yaml_node_t *n, const char *what,
			    struct cfg_http_header_mod *out)
{
	static const char *const keys[] = {"set", "add", "remove", NULL};
	yaml_node_t *v;
	size_t i;
	int err;

	if ((err = cfgy_check_map(p, n, what, keys)))
		return err;
	if ((v = cfgy_map_get(p, n, "set")) &&
	    (err = parse_headers(p, v, "set", &out->set, &out->nset)))
		return err;
	if ((v = cfgy_map_get(p, n, "add")) &&
	    (err = parse_headers(p, v, "add", &out->add, &out->nadd)))
		return err;
	if (!(v = cfgy_map_get(p, n, "remove")))
		return 0;
	if ((err = cfg_http_alloc_seq(p, v, "remove", sizeof(*out->remove), (void **)&out->remove,
				      &out->nremove)))
		return err;
	for (i = 0; i < out->nremove; i++)
		if ((err = cfg_http_get_header_name(p, cfgy_seq_item(p, v, i), &out->remove[i])))
			return err;
	return 0;
}

/* path of a redirect or rewrite: {type: ReplaceFullPath, replaceFullPath:
 * /x} or {type: ReplacePrefixMatch, replacePrefixMatch: /x}. A prefix can
 * only be replaced when every match of RULE matched one. */
static int parse_path_modifier(struct cfg_parser *p, yaml_node_t *n,
			       const struct cfg_http_rule *rule, enum cfg_path_match *type,
			       const char **path)
{
	static const char *const keys[] = {"type", "replacePrefixMatch", "replaceFullPath", NULL};
	yaml_node_t *t, *v, *other;
	const char *why;
	size_t i;
	int err, kind = 0;

	if ((err = cfgy_check_map(p, n, "path", keys)))
		return err;
	if (!(t = cfgy_map_get(p, n, "type")))
		return cfgy_fail(p, n, "path needs 'type' (ReplaceFullPath or ReplacePrefixMatch)");
	if ((err = cfg_http_parse_enum(p, t, "path type", cfg_path_modifier_names, 2, &kind)))
		return err;
	*type = kind ? CFG_PATH_EXACT : CFG_PATH_PREFIX;
	/* keys[1 + kind] is the one that goes with the type. */
	if ((other = cfgy_map_get(p, n, keys[2 - kind])))
		return cfgy_fail(p, other, "path type %s takes '%s', not '%s'",
				 cfg_path_modifier_names[kind], keys[1 + kind], keys[2 - kind]);
	if (!(v = cfgy_map_get(p, n, keys[1 + kind])))
		return cfgy_fail(p, n, "path type %s needs '%s'", cfg_path_modifier_names[kind],
				 keys[1 + kind]);
	if ((err = cfgy_get_str(p, v, keys[1 + kind], path)))
		return err;
	if ((why = cfg_http_check_path(*path)))
		return cfgy_fail(p, v, "path '%s' %s", *path, why);
	for (i = 0; *type == CFG_PATH_PREFIX && i < rule->nmatches; i++)
		if (rule->matches[i].path_type != CFG_PATH_PREFIX)
			return cfgy_fail(p, t,
					 "ReplacePrefixMatch needs every match of the rule to be "
					 "a PathPrefix match (match %zu is %s)",
					 i + 1, cfg_path_match_names[rule->matches[i].path_type]);
	return 0;
}

static int parse_redirect(struct cfg_parser *p, yaml_node_t *n, struct cfg_http_rule *rule)
{
	static const char *const keys[] = {"scheme", "hostname",   "path",
					   "port",   "statusCode", NULL};
	static const char *const schemes[] = {"http", "https"};
	struct cfg_http_redirect *out = &rule->redirect;
	unsigned long num;
	yaml_node_t *v;
	int err, i;

	if ((err = cfgy_check_map(p, n, "requestRedirect", keys)))
		return err;
	out->set = true;
	out->status = 302;
	if ((v = cfgy_map_get(p, n, "scheme"))) {
		if ((err = cfg_http_parse_enum(p, v, "scheme", schemes, 2, &i)))
			return err;
		out->scheme = schemes[i];
	}
	if ((v = cfgy_map_get(p, n, "hostname")) &&
	    (err = cfgy_get_subdomain(p, v, "hostname", &out->hostname)))
		return err;
	if ((v = cfgy_map_get(p, n, "port"))) {
		if ((err = cfgy_get_uint(p, v, "port", 1, 65535, &num)))
			return err;
		out->port = (__u16)num;
	}
	if ((v = cfgy_map_get(p, n, "statusCode"))) {
		if ((err = cfgy_get_uint(p, v, "statusCode", 100, 599, &num)))
			return err;
		if (num != 301 && num != 302)
			return cfgy_fail(p, v, "statusCode must be 301 or 302, not %lu", num);
		out->status = (__u16)num;
	}
	if ((v = cfgy_map_get(p, n, "path")) &&
	    (err = parse_path_modifier(p, v, rule, &out->path_type, &out->path)))
		return err;
	return 0;
}

static int parse_rewrite(struct cfg_parser *p, yaml_node_t *n, struct cfg_http_rule *rule)
{
	static const char *const keys[] = {"hostname", "path", NULL};
	struct cfg_http_rewrite *out = &rule->rewrite;
	yaml_node_t *h, *v;
	int err;

	if ((err = cfgy_check_map(p, n, "urlRewrite", keys)))
		return err;
	out->set = true;
	h = cfgy_map_get(p, n, "hostname");
	v = cfgy_map_get(p, n, "path");
	if (!h && !v)
		return cfgy_fail(p, n, "urlRewrite needs 'hostname' or 'path'");
	if (h && (err = cfgy_get_subdomain(p, h, "hostname", &out->hostname)))
		return err;
	if (v && (err = parse_path_modifier(p, v, rule, &out->path_type, &out->path)))
		return err;
	return 0;
}

static int parse_mirror(struct cfg_parser *p, yaml_node_t *n, const char *ns,
			struct cfg_http_mirror *out)
{
	static const char *const keys[] = {"backendRef", "percent", NULL};
	static const char *const ref_keys[] = {"group", "kind", "name", "namespace", "port", NULL};
	enum cfg_fail_reason why;
	yaml_node_t *ref, *v;
	unsigned long num;
	int err;

	if ((err = cfgy_check_map(p, n, "requestMirror", keys)))
		return err;
	if (!(ref = cfgy_map_get(p, n, "backendRef")))
		return cfgy_fail(p, n, "requestMirror needs 'backendRef'");
	if ((err = cfgy_check_map(p, ref, "a backendRef", ref_keys)) ||
	    (err = cfg_http_read_backend_ref(p, ref, ns, &out->service, &out->port, &why)))
		return err;
	/* The Gateway API's: a mirror to a reference that does not resolve
	 * is not made (the route's ResolvedRefs says so). */
	if (why != CFG_FAIL_INVALID)
		out->service = NULL;
	out->percent = 100;
	if ((v = cfgy_map_get(p, n, "percent"))) {
		if ((err = cfgy_get_uint(p, v, "percent", 0, 100, &num)))
			return err;
		out->percent = (double)num;
	}
	return 0;
}

/* Which filter N is, checked to hold its fields' key and no other. */
static int filter_kind(struct cfg_parser *p, yaml_node_t *n, yaml_node_t **type_node, int *kind)
{
	const char *type;
	yaml_node_t *t, *v;
	int err, k;

	if ((err = cfgy_check_map(p, n, "a filter", filter_keys)))
		return err;
	if (!(*type_node = t = cfgy_map_get(p, n, "type")))
		return cfgy_fail(p, n, "a filter needs 'type'");
	if ((err = cfgy_get_str(p, t, "filter type", &type)))
		return err;
	for (*kind = 0; *kind < FILTER_KINDS && strcmp(type, filter_types[*kind]); (*kind)++)
		;
	if (*kind == FILTER_EXTENSION)
		return cfgy_fail(p, t, "filter type %s is not supported yet", type);
	if (*kind == FILTER_KINDS)
		return cfgy_fail(p, t,
				 "filter type must be RequestHeaderModifier, "
				 "ResponseHeaderModifier, RequestRedirect, URLRewrite or "
				 "RequestMirror, not '%s'",
				 type);
	for (k = 0; k < FILTER_KINDS; k++)
		if ((k == *kind) != !!(v = cfgy_map_get(p, n, filter_keys[k + 1])))
			return cfgy_fail(p, v ? v : n, "filter type %s needs '%s'%s%s", type,
					 filter_keys[*kind + 1], v ? " and nothing else, not " : "",
					 v ? filter_keys[k + 1] : "");
	return 0;
}

/* One filter of RULE; SEEN: the kinds that came already. */
static int parse_filter(struct cfg_parser *p, yaml_node_t *n, const char *ns,
			struct cfg_http_rule *rule, bool seen[FILTER_KINDS])
{
	yaml_node_t *t, *v;
	int err, kind = 0;

	if ((err = filter_kind(p, n, &t, &kind)))
		return err;
	if (seen[kind])
		return cfgy_fail(p, t, "a rule takes one %s filter at most", filter_types[kind]);
	seen[kind] = true;
	/* The Gateway API's rule: both would rewrite the same URL. */
	if (seen[FILTER_REDIRECT] && seen[FILTER_REWRITE])
		return cfgy_fail(p, t, "a rule takes RequestRedirect or URLRewrite, not both");
	v = cfgy_map_get(p, n, filter_keys[kind + 1]);
	switch (kind) {
	case FILTER_REQUEST_HEADERS:
		return parse_header_mod(p, v, filter_keys[kind + 1], &rule->request_headers);
	case FILTER_RESPONSE_HEADERS:
		return parse_header_mod(p, v, filter_keys[kind + 1], &rule->response_headers);
	case FILTER_REDIRECT:
		return parse_redirect(p, v, rule);
	case FILTER_REWRITE:
		return parse_rewrite(p, v, rule);
	default:
		return parse_mirror(p, v, ns, &rule->mirror);
	}
}

int cfg_http_parse_filters(struct cfg_parser *p, yaml_node_t *n, const char *ns,
			   struct cfg_http_rule *rule)
{
	bool seen[FILTER_KINDS] = {false};
	size_t i, count;
	int err;

	if ((err = cfgy_get_seq(p, n, "filters", &count)))
		return err;
	for (i = 0; i < count; i++)
		if ((err = parse_filter(p, cfgy_seq_item(p, n, i), ns, rule, seen)))
			return err;
	return 0;
}

/* --- the references alone, for an HTTPRoute's ResolvedRefs (cfg_parse.h) --- */

/* A backendRef at N, if it is a mapping: 0, or its failure when that is
 * one of a reference (a malformed one is the route parse's to report). */
static int check_backend_ref(struct cfg_parser *p, yaml_node_t *n, const char *ns)
{
	const char *service;
	__u16 port;
	int err;

	if (!n || n->type != YAML_MAPPING_NODE)
		return 0;
	err = cfg_http_parse_backend_ref(p, n, ns, &service, &port);
	return err && p->err->reason != CFG_FAIL_INVALID ? err : 0;
}

/* The item I of N when N is a sequence; NULL otherwise or past its end. */
static yaml_node_t *seq_item_or_null(struct cfg_parser *p, yaml_node_t *n, size_t i)
{
	if (!n || n->type != YAML_SEQUENCE_NODE ||
	    i >= (size_t)(n->data.sequence.items.top - n->data.sequence.items.start))
		return NULL;
	return cfgy_seq_item(p, n, i);
}

static int check_rule_backend_refs(struct cfg_parser *p, yaml_node_t *rule, const char *ns)
{
	yaml_node_t *refs, *filters, *f, *mirror;
	size_t i;
	int err;

	if (!rule || rule->type != YAML_MAPPING_NODE)
		return 0;
	refs = cfgy_map_get(p, rule, "backendRefs");
	for (i = 0; seq_item_or_null(p, refs, i); i++)
		if ((err = check_backend_ref(p, seq_item_or_null(p, refs, i), ns)))
			return err;
	filters = cfgy_map_get(p, rule, "filters");
	for (i = 0; (f = seq_item_or_null(p, filters, i)); i++) {
		mirror = f->type == YAML_MAPPING_NODE ? cfgy_map_get(p, f, "requestMirror") : NULL;
		if (mirror && mirror->type == YAML_MAPPING_NODE &&
		    (err = check_backend_ref(p, cfgy_map_get(p, mirror, "backendRef"), ns)))
			return err;
	}
	return 0;
}

int cfg_http_check_backend_refs(struct cfg_parser *p, yaml_node_t *n, const char *ns)
{
	yaml_node_t *rules = n && n->type == YAML_MAPPING_NODE ? cfgy_map_get(p, n, "rules") : NULL;
	size_t i;
	int err;

	for (i = 0; seq_item_or_null(p, rules, i); i++)
		if ((err = check_rule_backend_refs(p, seq_item_or_null(p, rules, i), ns)))
			return err;
	return 0;
}
