// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * YAML -> struct mesh_config with libyaml's document API: the whole file is
 * loaded as a node tree (every node knows its line and column), then walked
 * against the schema. Unknown keys, wrong types and dangling references are
 * errors that name FILE:LINE:COL.
 */
#include "yaml_source.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "common/addr.h"
#include "cfg_parse.h"
#include "common/keymap.h"
#include "mesh_shared.h"
#include "model/names.h"

#define MAX_CONFIG_BYTES (64u << 20)

#define PARSE_LIST(p, root, key, arr, count, fn)                                                   \
	({                                                                                         \
		yaml_node_t *_v = cfgy_map_get(p, root, key);                                      \
		int _err = 0;                                                                      \
		size_t _i;                                                                         \
		if (_v && !(_err = cfgy_get_seq(p, _v, key, &(count)))) {                          \
			(arr) = cfgy_alloc_array(p, count, sizeof(*(arr)));                        \
			if ((count) && !(arr))                                                     \
				_err = cfgy_oom(p);                                                \
			for (_i = 0; !_err && _i < (count); _i++)                                  \
				_err = fn(p, cfgy_seq_item(p, _v, _i), &(arr)[_i]);                \
		}                                                                                  \
		_err;                                                                              \
	})

static int fail_at(struct cfg_parser *p, const struct cfg_origin *origin, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_at(struct cfg_parser *p, const struct cfg_origin *origin, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cfg_vfail_at(p->err, origin, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* "ns/name" into BUF, which has room for it and one more byte: the parser
 * took only names of Kubernetes' sizes (SHUNT_NAME_MAX). */
#define QUALIFIED_MAX (SHUNT_NAME_MAX + 1)
static size_t qualified(char buf[QUALIFIED_MAX], const char *ns, const char *name)
{
	int n = snprintf(buf, QUALIFIED_MAX - 1, "%s/%s", ns, name);

	return n < 0 ? 0 : (size_t)n >= QUALIFIED_MAX - 1 ? QUALIFIED_MAX - 2 : (size_t)n;
}

/* Cross checks (unique names and addresses, references that resolve) with
 * hash maps, which keep them linear for configs of 10,000 workloads:
 * NAMES holds "ns/name" keys, ADDRS addresses -> workload index, or
 * nworkloads + service index for virtual IPs. */
static int check_namespaces(struct cfg_parser *p, struct keymap *names)
{
	const struct mesh_config *cfg = p->cfg;
	char key[QUALIFIED_MAX];
	size_t i, len;
	bool dup;
	int err;

	for (i = 0; i < cfg->nnamespaces; i++) {
		len = qualified(key, "namespace", cfg->namespaces[i].name);
		if ((err = keymap_put(names, key, len, i, &dup)))
			return err;
		if (dup)
			return fail_at(p, &cfg->namespaces[i].origin,
				       "namespace %s is defined twice", cfg->namespaces[i].name);
	}
	return 0;
}

static int check_workloads(struct cfg_parser *p, struct keymap *names, struct keymap *addrs)
{
	const struct mesh_config *cfg = p->cfg;
	char a[SHUNT_ADDR_STRLEN], key[QUALIFIED_MAX];
	size_t i, k, len, other;
	int err;

	for (i = 0; i < cfg->nworkloads; i++) {
		const struct cfg_workload *w = &cfg->workloads[i];

		len = qualified(key, w->ns, w->name);
		if (keymap_get(names, key, len, &other))
			return fail_at(p, &w->origin,
				       "workload %s/%s is defined twice (first at line %u)", w->ns,
				       w->name, cfg->workloads[other].origin.line);
		if ((err = keymap_put(names, key, len, i, NULL)))
			return err;
		for (k = 0; k < w->naddrs; k++) {
			if (keymap_get(addrs, w->addrs[k].addr, 16, &other)) {
				const struct cfg_workload *o = &cfg->workloads[other];

				shunt_addr_format(w->addrs[k].addr, a, sizeof(a));
				return fail_at(
				    p, &w->origin,
				    "address %s of %s/%s already belongs to %s/%s (line %u)", a,
				    w->ns, w->name, o->ns, o->name, o->origin.line);
			}
			if ((err = keymap_put(addrs, w->addrs[k].addr, 16, i, NULL)))
				return err;
		}
	}
	return 0;
}

/* The virtual IPs of service I: nobody else's address. */
static int check_vips(struct cfg_parser *p, struct keymap *addrs, size_t i)
{
	const struct mesh_config *cfg = p->cfg;
	const struct cfg_service *s = &cfg->services[i];
	char a[SHUNT_ADDR_STRLEN];
	size_t k, other;
	int err;

	for (k = 0; k < s->nvips; k++) {
		shunt_addr_format(s->vips[k].addr, a, sizeof(a));
		if (keymap_get(addrs, s->vips[k].addr, 16, &other)) {
			if (other < cfg->nworkloads)
				return fail_at(
				    p, &s->origin, "virtual IP %s is workload %s/%s's address", a,
				    cfg->workloads[other].ns, cfg->workloads[other].name);
			other -= cfg->nworkloads;
			return fail_at(p, &s->origin,
				       "virtual IP %s is already service %s/%s's (line %u)", a,
				       cfg->services[other].ns, cfg->services[other].name,
				       cfg->services[other].origin.line);
		}
		if ((err = keymap_put(addrs, s->vips[k].addr, 16, cfg->nworkloads + i, NULL)))
			return err;
	}
	return 0;
}

static int check_services(struct cfg_parser *p, struct keymap *names, struct keymap *addrs)
{
	const struct mesh_config *cfg = p->cfg;
	char key[QUALIFIED_MAX];
	size_t i, k, len, other;
	int err;

	for (i = 0; i < cfg->nservices; i++) {
		const struct cfg_service *s = &cfg->services[i];

		for (k = 0; k < s->nbackends; k++) {
			if (!s->backends[k].workload)
				continue;
			len = qualified(key, s->ns, s->backends[k].workload);
			if (!keymap_get(names, key, len, NULL))
				return fail_at(p, &s->backends[k].origin,
					       "backend workload %s/%s is not defined", s->ns,
					       s->backends[k].workload);
		}
		len = qualified(key, s->ns, s->name);
		key[len++] = '@'; /* services have a name space of their own */
		if (keymap_get(names, key, len, &other))
			return fail_at(p, &s->origin,
				       "service %s/%s is defined twice (first at line %u)", s->ns,
				       s->name, cfg->services[other].origin.line);
		if ((err = keymap_put(names, key, len, i, NULL)))
			return err;
		if ((err = check_vips(p, addrs, i)))
			return err;
	}
	return 0;
}

static int check_policies(struct cfg_parser *p, struct keymap *names)
{
	const struct mesh_config *cfg = p->cfg;
	char key[QUALIFIED_MAX];
	size_t i, len, other;
	int err;

	for (i = 0; i < cfg->npolicies; i++) {
		const struct cfg_policy *pol = &cfg->policies[i];

		len = qualified(key, pol->ns, pol->name);
		key[len++] = '#';
		if (keymap_get(names, key, len, &other))
			return fail_at(p, &pol->origin,
				       "policy %s/%s is defined twice (first at line %u)", pol->ns,
				       pol->name, cfg->policies[other].origin.line);
		if ((err = keymap_put(names, key, len, i, NULL)))
			return err;
	}
	return 0;
}

static int check_http_routes(struct cfg_parser *p, struct keymap *names)
{
	const struct mesh_config *cfg = p->cfg;
	char key[QUALIFIED_MAX];
	size_t i, len, other;
	int err;

	for (i = 0; i < cfg->nhttp_routes; i++) {
		const struct cfg_http_route *route = &cfg->http_routes[i];

		len = qualified(key, route->ns, route->name);
		key[len++] = '%';
		if (keymap_get(names, key, len, &other))
			return fail_at(p, &route->origin,
				       "httpRoute %s/%s is defined twice (first at line %u)",
				       route->ns, route->name, cfg->http_routes[other].origin.line);
		if ((err = keymap_put(names, key, len, i, NULL)))
			return err;
	}
	return 0;
}

static int check_authz_policies(struct cfg_parser *p, struct keymap *names)
{
	const struct mesh_config *cfg = p->cfg;
	char key[QUALIFIED_MAX];
	size_t i, len, other;
	int err;

	for (i = 0; i < cfg->nauthz_policies; i++) {
		const struct cfg_authz_policy *pol = &cfg->authz_policies[i];

		len = qualified(key, pol->ns, pol->name);
		key[len++] = '!';
		if (keymap_get(names, key, len, &other))
			return fail_at(
			    p, &pol->origin,
			    "authorizationPolicy %s/%s is defined twice (first at line %u)",
			    pol->ns, pol->name, cfg->authz_policies[other].origin.line);
		if ((err = keymap_put(names, key, len, i, NULL)))
			return err;
	}
	return 0;
}

static int cross_check_maps(struct cfg_parser *p, struct keymap *names, struct keymap *addrs)
{
	int err;

	if ((err = check_namespaces(p, names)) || (err = check_workloads(p, names, addrs)) ||
	    (err = check_services(p, names, addrs)) || (err = check_policies(p, names)) ||
	    (err = check_http_routes(p, names)) || (err = check_authz_policies(p, names)))
		return err;
	return 0;
}

static int cross_check(struct cfg_parser *p)
{
	struct keymap names = {0}, addrs = {0};
	int err = cross_check_maps(p, &names, &addrs);

	keymap_free(&names);
	keymap_free(&addrs);
	if (err == -ENOMEM)
		return cfgy_oom(p);
	return err;
}

static int parse_root(struct cfg_parser *p)
{
	static const char *const keys[] = {
	    "apiVersion", "trustDomain", "mtls",      "nodes",	    "namespaces",
	    "workloads",  "services",	 "policies",  "httpRoutes", "authorizationPolicies",
	    "accessLog",  "tracing",	 "nodeProxy", "requestId",  NULL};
	struct mesh_config *cfg = p->cfg;
	yaml_node_t *root = yaml_document_get_root_node(&p->doc), *v;
	const char *version, *why;
	int err;

	if (!root)
		return cfgy_fail(p, NULL, "the config is empty");
	if ((err = cfgy_check_map(p, root, "the config", keys)))
		return err;
	if (!(v = cfgy_map_get(p, root, "apiVersion")))
		return cfgy_fail(p, root, "the config needs 'apiVersion: shunt.dev/v1'");
	if ((err = cfgy_get_str(p, v, "apiVersion", &version)))
		return err;
	if (strcmp(version, "shunt.dev/v1"))
		return cfgy_fail(p, v, "apiVersion must be shunt.dev/v1, not '%s'", version);
	cfg->trust_domain = "cluster.local";
	if ((v = cfgy_map_get(p, root, "trustDomain")) &&
	    (err = cfgy_get_str(p, v, "trustDomain", &cfg->trust_domain)))
		return err;
	if (v && (why = name_check_trust_domain(cfg->trust_domain)))
		return cfgy_fail(p, v, "trustDomain '%.300s' %s", cfg->trust_domain, why);
	if ((err = PARSE_LIST(p, root, "nodes", cfg->nodes, cfg->nnodes, cfg_parse_node)))
		return err;
	if ((v = cfgy_map_get(p, root, "nodeProxy")) &&
	    (err = cfg_parse_node_proxy(p, v, &cfg->node_proxy)))
		return err;
	cfg->mtls = CFG_MTLS_PERMISSIVE;
	if ((v = cfgy_map_get(p, root, "mtls")) && (err = cfg_parse_mtls(p, v, &cfg->mtls)))
		return err;
	cfg_access_log_defaults(&cfg->access_log);
	if ((v = cfgy_map_get(p, root, "accessLog")) &&
	    (err = cfg_parse_access_log(p, v, true, &cfg->access_log)))
		return err;
	if ((v = cfgy_map_get(p, root, "tracing")) &&
	    (err = cfg_parse_tracing(p, v, &cfg->tracing)))
		return err;
	if ((v = cfgy_map_get(p, root, "requestId")) &&
	    (err = cfg_parse_request_id(p, v, &cfg->request_id)))
		return err;
	if ((err = PARSE_LIST(p, root, "namespaces", cfg->namespaces, cfg->nnamespaces,
			      cfg_parse_namespace)) ||
	    (err = PARSE_LIST(p, root, "workloads", cfg->workloads, cfg->nworkloads,
			      cfg_parse_workload)) ||
	    (err = PARSE_LIST(p, root, "services", cfg->services, cfg->nservices,
			      cfg_parse_service)) ||
	    (err = PARSE_LIST(p, root, "policies", cfg->policies, cfg->npolicies,
			      cfg_parse_policy)) ||
	    (err = PARSE_LIST(p, root, "httpRoutes", cfg->http_routes, cfg->nhttp_routes,
			      cfg_parse_http_route)) ||
	    (err = PARSE_LIST(p, root, "authorizationPolicies", cfg->authz_policies,
			      cfg->nauthz_policies, cfg_parse_authz_policy)))
		return err;
	return cross_check(p);
}

int mesh_config_parse(struct mesh_config *cfg, const char *path, const char *text, size_t len,
		      struct cfg_error *err)
{
	struct cfg_parser p = {.cfg = cfg, .err = err};
	yaml_parser_t parser;
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	err->msg[0] = 0;
	cfg->path = shunt_arena_strndup(&cfg->arena, path, strlen(path));
	if (!cfg->path)
		return -ENOMEM;
	if (!yaml_parser_initialize(&parser)) {
		mesh_config_free(cfg);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &p.doc)) {
		snprintf(err->msg, sizeof(err->msg), "%s:%lu:%lu: %s%s%s", path,
			 (unsigned long)parser.problem_mark.line + 1,
			 (unsigned long)parser.problem_mark.column + 1,
			 parser.problem ? parser.problem : "not valid YAML",
			 parser.context ? " " : "", parser.context ? parser.context : "");
		yaml_parser_delete(&parser);
		mesh_config_free(cfg);
		return -EINVAL;
	}
	ret = parse_root(&p);
	/* One document per file: a second one would be silently ignored. */
	if (!ret) {
		yaml_document_t next;

		if (!yaml_parser_load(&parser, &next)) {
			ret = cfgy_fail(&p, NULL, "cannot read past the first document: %s",
					parser.problem ? parser.problem : "bad YAML");
		} else {
			if (yaml_document_get_root_node(&next))
				ret = fail_at(&p,
					      &(struct cfg_origin){CFG_ORIGIN_FILE, cfg->path,
								   next.start_mark.line + 1,
								   next.start_mark.column + 1},
					      "only one YAML document per config file");
			yaml_document_delete(&next);
		}
	}
	yaml_document_delete(&p.doc);
	yaml_parser_delete(&parser);
	if (ret) {
		/* Keep the message; drop everything else. */
		mesh_config_free(cfg);
		return ret;
	}
	return 0;
}

int mesh_config_load(struct mesh_config *cfg, const char *path, struct cfg_error *err)
{
	size_t cap = 0, len = 0, n;
	char *buf = NULL, *tmp;
	FILE *f;
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	f = fopen(path, "re");
	if (!f) {
		ret = -errno;
		snprintf(err->msg, sizeof(err->msg), "%s: %s", path, strerror(-ret));
		return ret;
	}
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 65536;
			if (cap > MAX_CONFIG_BYTES) {
				snprintf(err->msg, sizeof(err->msg), "%s: larger than %u MiB", path,
					 MAX_CONFIG_BYTES >> 20);
				ret = -EFBIG;
				goto out;
			}
			tmp = realloc(buf, cap);
			if (!tmp) {
				ret = -ENOMEM;
				goto out;
			}
			buf = tmp;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		ret = -EIO;
		snprintf(err->msg, sizeof(err->msg), "%s: read error", path);
		goto out;
	}
	ret = mesh_config_parse(cfg, path, buf, len, err);
out:
	free(buf);
	fclose(f);
	return ret;
}
