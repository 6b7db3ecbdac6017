// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Gateway API HTTPRoute (gateway.networking.k8s.io/v1) -> an httpRoute of
 * the model. The YAML source's httpRoutes are the HTTPRoute spec itself
 * (docs/l7.md: parentRefs to Services, rules with matches, filters,
 * backendRefs, timeouts, retry), so the object's spec is handed, as a
 * libyaml node tree, to the same parser and checks (cfg_http_route.c):
 * one reading of the schema, whatever the source. hostnames are ignored,
 * as GAMMA says mesh routes do. A route the model cannot hold (a field it
 * does not know, a parentRef's Service or port that is not there) is left
 * out whole, with the parser's message as a warning; requests then go to
 * the Service as without the route. A backendRef that does not resolve (no
 * such Service or port, another kind, another namespace) does not: as the
 * Gateway API says, the route is kept, the backendRef marked, and the
 * proxy answers its share of the requests 500 (objects come one by one:
 * the Service may come later, and the next model has it). Only the
 * parentRefs to Services are the mesh's (GAMMA): those to a Gateway are
 * another controller's, not read, and a route with none of ours is not
 * the mesh's at all. What became of each route is kept for its status
 * (k8s_route_status.c).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "cfg_parse.h"
#include "k8s_impl.h"

/* V as a node of DOC; its id, 0 when out of memory. */
static int yaml_of(yaml_document_t *doc, json_t *v)
{
	char num[32];
	const char *key;
	json_t *item;
	size_t i;
	int id, k, val;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		if (!(id = yaml_document_add_mapping(doc, NULL, YAML_BLOCK_MAPPING_STYLE)))
			return 0;
		json_object_foreach(v, key, item)
		{
			k = yaml_document_add_scalar(doc, NULL, (yaml_char_t *)key, -1,
						     YAML_DOUBLE_QUOTED_SCALAR_STYLE);
			if (!k || !(val = yaml_of(doc, item)) ||
			    !yaml_document_append_mapping_pair(doc, id, k, val))
				return 0;
		}
		return id;
	case JSON_ARRAY:
		if (!(id = yaml_document_add_sequence(doc, NULL, YAML_BLOCK_SEQUENCE_STYLE)))
			return 0;
		json_array_foreach(
		    v, i, item) if (!(val = yaml_of(doc, item)) ||
				    !yaml_document_append_sequence_item(doc, id, val)) return 0;
		return id;
	case JSON_STRING:
		return yaml_document_add_scalar(doc, NULL, (yaml_char_t *)json_string_value(v),
						(int)json_string_length(v),
						YAML_DOUBLE_QUOTED_SCALAR_STYLE);
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
		break;
	case JSON_REAL:
		snprintf(num, sizeof(num), "%g", json_real_value(v));
		break;
	default:
		snprintf(num, sizeof(num), "%s",
			 json_is_true(v)    ? "true"
			 : json_is_false(v) ? "false"
					    : "null");
	}
	return yaml_document_add_scalar(doc, NULL, (yaml_char_t *)num, -1, YAML_PLAIN_SCALAR_STYLE);
}

/* {name, namespace, parentRefs (ours only), rules} of the route, as the
 * YAML source has it; *NONE_OURS: it has parentRefs, none of them ours. */
static json_t *route_fields(const json_t *route, bool *none_ours)
{
	json_t *spec = json_object_get(route, "spec"), *out, *refs, *ref, *mine;
	size_t i;

	out = json_pack("{s:s?, s:s?}", "name", k8s_str(route, "metadata.name"), "namespace",
			k8s_str(route, "metadata.namespace"));
	refs = json_object_get(spec, "parentRefs");
	*none_ours = false;
	if (out && json_is_array(refs)) {
		if (!(mine = json_array()) || json_object_set_new(out, "parentRefs", mine)) {
			json_decref(out);
			return NULL;
		}
		json_array_foreach(refs, i, ref) if (k8s_route_parent_is_ours(ref))
		    json_array_append(mine, ref);
		*none_ours = json_array_size(refs) && !json_array_size(mine);
	} else if (out && refs) {
		json_object_set(out, "parentRefs", refs);
	}
	if (out && json_object_get(spec, "rules"))
		json_object_set(out, "rules", json_object_get(spec, "rules"));
	return out;
}

/* The parser's message without its "OBJECT:LINE:COL: " (the lines of a
 * document made here mean nothing to the object's author). */
static const char *message_of(const struct cfg_error *e, const char *where)
{
	const char *m = e->msg, *c;
	size_t n = strlen(where);

	if (strncmp(m, where, n) || m[n] != ':')
		return m;
	c = strstr(m + n, ": ");
	return c ? c + 2 : m;
}

/* What became of ROUTE (RET: the parse's) into the outcomes, if kept. */
static int keep_outcome(struct k8s_tr *tr, const json_t *route, struct cfg_parser *p,
			yaml_node_t *root, int ret, const char *where)
{
	struct cfg_error rerr = {{0}};
	struct cfg_parser rp = {.doc = p->doc, .cfg = p->cfg, .err = &rerr};
	struct k8s_route_verdict v = {.accepted = !ret, .refs_resolved = true};
	const char *ns = k8s_str(route, "metadata.namespace");
	char key[600];
	json_t *o;

	if (!tr->opts->route_outcomes)
		return 0;
	if (ret) {
		v.why = p->err->reason;
		v.msg = message_of(p->err, where);
	}
	/* The references are checked on their own: the parse stops at the
	 * first problem, and keeps the backendRefs that do not resolve. */
	if (root && cfg_http_check_backend_refs(&rp, root, ns ? ns : "default")) {
		v.refs_resolved = false;
		v.refs_why = rerr.reason;
		v.refs_msg = message_of(&rerr, where);
	}
	snprintf(key, sizeof(key), "%s/%s", ns ? ns : "", k8s_str(route, "metadata.name"));
	if (!(o = k8s_route_outcome(route, &v)) ||
	    json_object_set_new(tr->opts->route_outcomes, key, o))
		return -ENOMEM;
	return 0;
}

/* The first backendRef of OUT that does not resolve, said once. */
static void warn_unresolved(struct k8s_tr *tr, const struct cfg_origin *origin,
			    const struct cfg_http_route *out)
{
	static const char *const why[] = {[CFG_FAIL_BACKEND_NOT_FOUND] = "is not there",
					  [CFG_FAIL_BACKEND_KIND] = "is not a Service",
					  [CFG_FAIL_BACKEND_NAMESPACE] = "is in another namespace"};
	size_t i, j;

	for (i = 0; i < out->nrules; i++)
		for (j = 0; j < out->rules[i].nbackends; j++) {
			const struct cfg_http_backend *b = &out->rules[i].backends[j];

			if (!b->unresolved)
				continue;
			k8s_warn(tr, origin,
				 "backendRef %s %s: its share of the requests is answered 500",
				 b->service,
				 b->unresolved_why <= CFG_FAIL_BACKEND_NAMESPACE &&
					 why[b->unresolved_why]
				     ? why[b->unresolved_why]
				     : "does not resolve");
			return;
		}
}

int k8s_httproute(struct k8s_tr *tr, const json_t *route, struct cfg_http_route *out)
{
	struct cfg_origin origin = k8s_origin(tr, "HTTPRoute", route);
	struct cfg_error perr = {{0}};
	struct cfg_parser p = {.cfg = tr->cfg, .err = &perr, .keep_unresolved_backends = true};
	bool none_ours;
	json_t *fields = route_fields(route, &none_ours);
	const char *path = tr->cfg->path;
	yaml_node_t *root_node = NULL;
	char where[600];
	int ret = -ENOMEM, root;

	memset(out, 0, sizeof(*out));
	if (!fields || !yaml_document_initialize(&p.doc, NULL, NULL, NULL, 1, 1)) {
		json_decref(fields);
		return k8s_oom(tr);
	}
	/* The parser's messages name FILE:LINE:COL: make FILE the object. */
	cfg_origin_format(&origin, where, sizeof(where));
	if ((tr->cfg->path = k8s_dup(tr, where)) && (root = yaml_of(&p.doc, fields)) &&
	    (root_node = yaml_document_get_node(&p.doc, root)))
		ret = none_ours ? -ENOENT : cfg_parse_http_route(&p, root_node, out);
	if (ret != -ENOMEM && keep_outcome(tr, route, &p, root_node, ret, where))
		ret = -ENOMEM;
	tr->cfg->path = path;
	yaml_document_delete(&p.doc);
	json_decref(fields);
	if (ret == -ENOMEM)
		return k8s_oom(tr);
	if (ret == -ENOENT)
		return 1; /* a Gateway's route (north-south), not the mesh's */
	if (ret) {
		k8s_warn(tr, &origin, "left out: %s", perr.msg);
		return 1;
	}
	out->origin = origin;
	warn_unresolved(tr, &origin, out);
	return 0;
}
