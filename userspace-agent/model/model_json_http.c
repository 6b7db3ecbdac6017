// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * httpRoutes in the model's JSON, both ways. The shape follows the YAML
 * (Gateway API names); durations are numbers of milliseconds ("requestMs").
 * The reader takes only what the YAML source would have accepted, bar the
 * references to services, which the writer's config had checked, and the
 * backendRefs marked "unresolved" that the Kubernetes source keeps (their
 * name as written, their port maybe 0). Fault, rateLimit and the other
 * filters are in model_json_l7.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "model_json_impl.h"
#include "names.h"

#define MAX_WEIGHT   1000000
#define MAX_ATTEMPTS 10

static json_t *value_match_json(struct mj_writer *w, const struct cfg_http_value_match *m)
{
	json_t *o = json_object();

	if ((unsigned int)m->type >= 2)
		w->err = w->err ?: -EINVAL;
	else
		mj_set_str(w, o, "type", cfg_value_match_names[m->type]);
	mj_set_str(w, o, "name", m->name);
	mj_set_str(w, o, "value", m->value);
	return o;
}

static json_t *match_json(struct mj_writer *w, const struct cfg_http_match *m)
{
	json_t *o = json_object(), *path = json_object(), *headers = json_array(),
	       *query = json_array();
	size_t i;

	mj_set(w, o, "path", path);
	if ((unsigned int)m->path_type >= 3)
		w->err = w->err ?: -EINVAL;
	else if (!w->err)
		mj_set_str(w, path, "type", cfg_path_match_names[m->path_type]);
	if (!w->err)
		mj_set_str(w, path, "value", m->path);
	mj_set_str(w, o, "method", m->method);
	mj_set(w, o, "headers", headers);
	for (i = 0; !w->err && i < m->nheaders; i++)
		mj_append(w, headers, value_match_json(w, &m->headers[i]));
	mj_set(w, o, "queryParams", query);
	for (i = 0; !w->err && i < m->nquery; i++)
		mj_append(w, query, value_match_json(w, &m->query[i]));
	return o;
}

static json_t *headers_json(struct mj_writer *w, const struct cfg_http_header *h, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a && !w->err && i < n; i++) {
		json_t *o = json_object();

		mj_append(w, a, o);
		mj_set_str(w, o, "name", h[i].name);
		mj_set_str(w, o, "value", h[i].value);
	}
	return a;
}

static json_t *header_mod_json(struct mj_writer *w, const struct cfg_http_header_mod *mod)
{
	json_t *o = json_object(), *remove = json_array();
	size_t i;

	mj_set(w, o, "set", headers_json(w, mod->set, mod->nset));
	mj_set(w, o, "add", headers_json(w, mod->add, mod->nadd));
	mj_set(w, o, "remove", remove);
	for (i = 0; !w->err && i < mod->nremove; i++)
		mj_append(w, remove, json_string(mod->remove[i]));
	return o;
}

/* Why a backendRef does not resolve: the Gateway API's reasons, in the
 * order of enum cfg_fail_reason from CFG_FAIL_BACKEND_NOT_FOUND. */
static const char *const unresolved_names[] = {"BackendNotFound", "InvalidKind", "RefNotPermitted"};
#define NUNRESOLVED (sizeof(unresolved_names) / sizeof(unresolved_names[0]))

static json_t *backend_json(struct mj_writer *w, const struct cfg_http_backend *be)
{
	json_t *o = json_object();
	unsigned int why = (unsigned int)be->unresolved_why - CFG_FAIL_BACKEND_NOT_FOUND;

	mj_set_str(w, o, "name", be->service);
	mj_set_uint(w, o, "port", be->port);
	mj_set_uint(w, o, "weight", be->weight);
	if (be->unresolved && why >= NUNRESOLVED)
		w->err = w->err ?: -EINVAL;
	else if (be->unresolved)
		mj_set_str(w, o, "unresolved", unresolved_names[why]);
	mj_set_origin(w, o, &be->origin);
	return o;
}

static json_t *rule_json(struct mj_writer *w, const struct cfg_http_rule *rule)
{
	json_t *o = json_object(), *matches = json_array(), *backends = json_array(),
	       *timeouts = json_object(), *retry = json_object(), *codes = json_array();
	size_t i;

	mj_set(w, o, "matches", matches);
	for (i = 0; !w->err && i < rule->nmatches; i++)
		mj_append(w, matches, match_json(w, &rule->matches[i]));
	mj_set(w, o, "requestHeaderModifier", header_mod_json(w, &rule->request_headers));
	mj_set(w, o, "responseHeaderModifier", header_mod_json(w, &rule->response_headers));
	mj_set(w, o, "backendRefs", backends);
	for (i = 0; !w->err && i < rule->nbackends; i++)
		mj_append(w, backends, backend_json(w, &rule->backends[i]));
	mj_set(w, o, "timeouts", timeouts);
	if (!w->err) {
		mj_set_uint(w, timeouts, "requestMs", rule->request_timeout_ms);
		mj_set_uint(w, timeouts, "backendRequestMs", rule->backend_timeout_ms);
	}
	mj_set(w, o, "retry", retry);
	mj_set(w, retry, "codes", codes);
	if (!w->err) {
		mj_set_uint(w, retry, "attempts", rule->retry.attempts);
		mj_set_uint(w, retry, "backoffMs", rule->retry.backoff_ms);
		mj_set_uint(w, retry, "grpcStatusMask", rule->retry.grpc_statuses);
	}
	for (i = 0; !w->err && i < rule->retry.ncodes; i++)
		mj_append(w, codes, json_integer(rule->retry.codes[i]));
	mj_rule_l7_json(w, o, rule);
	mj_set_origin(w, o, &rule->origin);
	return o;
}

json_t *mj_http_route_json(struct mj_writer *w, const struct cfg_http_route *route)
{
	json_t *o = json_object(), *parents = json_array(), *rules = json_array();
	size_t i;

	mj_set_str(w, o, "name", route->name);
	mj_set_str(w, o, "namespace", route->ns);
	mj_set(w, o, "parentRefs", parents);
	for (i = 0; !w->err && i < route->nparents; i++) {
		json_t *p = json_object();

		mj_append(w, parents, p);
		mj_set_str(w, p, "name", route->parents[i].service);
		mj_set_uint(w, p, "port", route->parents[i].port);
	}
	mj_set(w, o, "rules", rules);
	for (i = 0; !w->err && i < route->nrules; i++)
		mj_append(w, rules, rule_json(w, &route->rules[i]));
	mj_set_origin(w, o, &route->origin);
	return o;
}

void mj_fail_key(struct mj_reader *r, const char *key, const char *fmt, ...)
{
	size_t mark = mj_enter_key(r, key);
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	mj_fail(r, "%s", msg);
	mj_leave(r, mark);
}

const char *mj_checked_str(struct mj_reader *r, json_t *o, const char *key,
			   const char *(*check)(const char *))
{
	const char *s = mj_str(r, o, key, true), *why;

	if (s && (why = check(s)))
		mj_fail_key(r, key, "'%.64s' %s", s, why);
	return s;
}

static void check_regex_at(struct mj_reader *r, const char *key, const char *re)
{
	char why[200];

	if (re && cfg_http_check_regex(re, why, sizeof(why)))
		mj_fail_key(r, key, "'%.64s' is not a POSIX extended regex: %s", re, why);
}

static void value_match_item(struct mj_reader *r, json_t *v, struct cfg_http_value_match *out)
{
	if (!mj_is_object(r, v))
		return;
	out->type = (enum cfg_value_match)mj_enum(r, v, "type", cfg_value_match_names, 2);
	out->name = mj_str(r, v, "name", true);
	if (out->name && !*out->name)
		mj_fail_key(r, "name", "empty");
	out->value = mj_str(r, v, "value", true);
	if (out->type == CFG_VALUE_REGEX)
		check_regex_at(r, "value", out->value);
}

static void header_match_item(struct mj_reader *r, json_t *v, struct cfg_http_value_match *out)
{
	const char *why;

	value_match_item(r, v, out);
	if (!r->rc && (why = cfg_http_check_token(out->name)))
		mj_fail_key(r, "name", "'%.64s' %s", out->name, why);
}

static void match_item(struct mj_reader *r, json_t *v, struct cfg_http_match *out)
{
	json_t *path;
	size_t mark;

	if (!mj_is_object(r, v))
		return;
	if ((path = mj_object(r, v, "path", true))) {
		mark = mj_enter_key(r, "path");
		out->path_type =
		    (enum cfg_path_match)mj_enum(r, path, "type", cfg_path_match_names, 3);
		out->path = mj_str(r, path, "value", true);
		if (out->path_type == CFG_PATH_REGEX)
			check_regex_at(r, "value", out->path);
		else if (out->path && out->path[0] != '/')
			mj_fail_key(r, "value", "'%.64s' does not start with '/'", out->path);
		mj_leave(r, mark);
	}
	if (json_object_get(v, "method"))
		out->method = mj_checked_str(r, v, "method", cfg_http_check_method);
	READ_LIST(r, v, "headers", out->headers, out->nheaders, header_match_item);
	READ_LIST(r, v, "queryParams", out->query, out->nquery, value_match_item);
}

static void header_item(struct mj_reader *r, json_t *v, struct cfg_http_header *out)
{
	if (!mj_is_object(r, v))
		return;
	out->name = mj_checked_str(r, v, "name", cfg_http_check_token);
	out->value = mj_checked_str(r, v, "value", cfg_http_check_value);
}

static void header_name_item(struct mj_reader *r, json_t *v, const char **out)
{
	const char *why;

	*out = mj_str_value(r, v);
	if (*out && (why = cfg_http_check_token(*out)))
		mj_fail(r, "'%.64s' %s", *out, why);
}

static void header_mod(struct mj_reader *r, json_t *o, const char *key,
		       struct cfg_http_header_mod *out)
{
	json_t *v = mj_object(r, o, key, true);
	size_t mark;

	if (!v)
		return;
	mark = mj_enter_key(r, key);
	READ_LIST(r, v, "set", out->set, out->nset, header_item);
	READ_LIST(r, v, "add", out->add, out->nadd, header_item);
	READ_LIST(r, v, "remove", out->remove, out->nremove, header_name_item);
	mj_leave(r, mark);
}

static void backend_item(struct mj_reader *r, json_t *v, struct cfg_http_backend *out)
{
	if (!mj_is_object(r, v))
		return;
	out->weight = (__u32)mj_uint(r, v, "weight", MAX_WEIGHT, true);
	out->origin = mj_origin(r, v);
	if (json_object_get(v, "unresolved")) {
		/* Kept as the reference has it: its port may be missing (0). */
		out->unresolved = true;
		out->unresolved_why = (enum cfg_fail_reason)(
		    CFG_FAIL_BACKEND_NOT_FOUND +
		    mj_enum(r, v, "unresolved", unresolved_names, NUNRESOLVED));
		out->service = mj_str(r, v, "name", true);
		if (!r->rc && !*out->service)
			mj_fail_key(r, "name", "empty");
		out->port = (__u16)mj_uint(r, v, "port", UINT16_MAX, true);
		return;
	}
	out->service = mj_name(r, v, "name", name_check_dns_label);
	out->port = (__u16)mj_uint(r, v, "port", UINT16_MAX, true);
	if (!r->rc && !out->port)
		mj_fail_key(r, "port", "0 is not a port");
}

static void code_item(struct mj_reader *r, json_t *v, __u16 *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < 400 || json_integer_value(v) > 599)
		mj_fail(r, "not a status code from 400 to 599");
	else
		*out = (__u16)json_integer_value(v);
}

static void rule_limits(struct mj_reader *r, json_t *v, struct cfg_http_rule *out)
{
	json_t *t = mj_object(r, v, "timeouts", true), *retry;
	size_t mark;

	if (t) {
		mark = mj_enter_key(r, "timeouts");
		out->request_timeout_ms = (__u32)mj_uint(r, t, "requestMs", UINT32_MAX, true);
		out->backend_timeout_ms =
		    (__u32)mj_uint(r, t, "backendRequestMs", UINT32_MAX, true);
		if (out->request_timeout_ms && out->backend_timeout_ms > out->request_timeout_ms)
			mj_fail_key(r, "backendRequestMs", "longer than requestMs");
		mj_leave(r, mark);
	}
	if (!(retry = mj_object(r, v, "retry", true)))
		return;
	mark = mj_enter_key(r, "retry");
	out->retry.attempts = (__u32)mj_uint(r, retry, "attempts", MAX_ATTEMPTS, true);
	out->retry.backoff_ms = (__u32)mj_uint(r, retry, "backoffMs", UINT32_MAX, true);
	out->retry.grpc_statuses =
	    (__u32)mj_uint(r, retry, "grpcStatusMask", (1u << CFG_GRPC_STATUSES) - 1, true);
	READ_LIST(r, retry, "codes", out->retry.codes, out->retry.ncodes, code_item);
	mj_leave(r, mark);
}

static void rule_item(struct mj_reader *r, json_t *v, struct cfg_http_rule *out)
{
	if (!mj_is_object(r, v))
		return;
	READ_LIST(r, v, "matches", out->matches, out->nmatches, match_item);
	header_mod(r, v, "requestHeaderModifier", &out->request_headers);
	header_mod(r, v, "responseHeaderModifier", &out->response_headers);
	READ_LIST(r, v, "backendRefs", out->backends, out->nbackends, backend_item);
	rule_limits(r, v, out);
	mj_rule_l7_read(r, v, out);
	out->origin = mj_origin(r, v);
}

static void parent_item(struct mj_reader *r, json_t *v, struct cfg_http_parent *out)
{
	if (!mj_is_object(r, v))
		return;
	out->service = mj_name(r, v, "name", name_check_dns_label);
	out->port = (__u16)mj_uint(r, v, "port", UINT16_MAX, true);
}

void mj_http_route_item(struct mj_reader *r, json_t *v, struct cfg_http_route *out)
{
	if (!mj_is_object(r, v))
		return;
	out->name = mj_name(r, v, "name", name_check_dns_label);
	out->ns = mj_name(r, v, "namespace", name_check_dns_label);
	READ_LIST(r, v, "parentRefs", out->parents, out->nparents, parent_item);
	if (!r->rc && !out->nparents)
		mj_fail_key(r, "parentRefs", "empty (a route needs a parent Service)");
	READ_LIST(r, v, "rules", out->rules, out->nrules, rule_item);
	if (!r->rc && !out->nrules)
		mj_fail_key(r, "rules", "empty (a route has at least one rule)");
	out->origin = mj_origin(r, v);
}
