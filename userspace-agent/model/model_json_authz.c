// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * authorizationPolicies in the model's JSON, both ways. A rule is written
 * flat (the YAML's from.source and to.operation lists hold one entry):
 * principals, namespaces, methods, paths and when, each list empty when
 * the YAML had none. when holds {header, value} pairs.
 */
#include <errno.h>
#include <string.h>

#include "model_json_impl.h"
#include "names.h"

static json_t *strings_json(struct mj_writer *w, const char *const *s, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a && !w->err && i < n; i++)
		mj_append(w, a, json_string(s[i]));
	return a;
}

static json_t *rule_json(struct mj_writer *w, const struct cfg_authz_rule *rule)
{
	json_t *o = json_object(), *when = json_array();
	size_t i;

	mj_set(w, o, "principals", strings_json(w, rule->principals, rule->nprincipals));
	mj_set(w, o, "namespaces", strings_json(w, rule->namespaces, rule->nnamespaces));
	mj_set(w, o, "methods", strings_json(w, rule->methods, rule->nmethods));
	mj_set(w, o, "paths", strings_json(w, rule->paths, rule->npaths));
	mj_set(w, o, "when", when);
	for (i = 0; !w->err && i < rule->nheaders; i++) {
		json_t *c = json_object();

		mj_append(w, when, c);
		mj_set_str(w, c, "header", rule->headers[i].name);
		mj_set_str(w, c, "value", rule->headers[i].value);
	}
	mj_set_origin(w, o, &rule->origin);
	return o;
}

json_t *mj_authz_policy_json(struct mj_writer *w, const struct cfg_authz_policy *pol)
{
	json_t *o = json_object(), *targets = json_array(), *rules = json_array();
	size_t i;

	mj_set_str(w, o, "name", pol->name);
	mj_set_str(w, o, "namespace", pol->ns);
	mj_set(w, o, "targetRefs", targets);
	for (i = 0; !w->err && i < pol->nservices; i++) {
		json_t *t = json_object();

		mj_append(w, targets, t);
		mj_set_str(w, t, "name", pol->services[i]);
	}
	if ((unsigned int)pol->action >= 2)
		w->err = w->err ?: -EINVAL;
	else
		mj_set_str(w, o, "action", cfg_authz_action_names[pol->action]);
	mj_set(w, o, "rules", rules);
	for (i = 0; !w->err && i < pol->nrules; i++)
		mj_append(w, rules, rule_json(w, &pol->rules[i]));
	mj_set_origin(w, o, &pol->origin);
	return o;
}

/* List items checked by the model's checks (model/http_route.h). */
#define CHECKED_ITEM(fn, check)                                                                    \
	static void fn(struct mj_reader *r, json_t *v, const char **out)                           \
	{                                                                                          \
		const char *why;                                                                   \
                                                                                                   \
		*out = mj_str_value(r, v);                                                         \
		if (*out && (why = check(*out)))                                                   \
			mj_fail(r, "'%.64s' %s", *out, why);                                       \
	}

CHECKED_ITEM(principal_item, cfg_authz_check_principal)
CHECKED_ITEM(namespace_item, cfg_authz_check_namespace)
CHECKED_ITEM(method_item, cfg_http_check_method)
CHECKED_ITEM(path_item, cfg_authz_check_path)

/* A header name as the YAML source leaves it: a token, lowercase. */
static const char *check_header_name(const char *s)
{
	const char *why = cfg_http_check_token(s);

	for (; !why && *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			return "is not lowercase";
	return why;
}

static void condition_item(struct mj_reader *r, json_t *v, struct cfg_http_header *out)
{
	if (!mj_is_object(r, v))
		return;
	out->name = mj_checked_str(r, v, "header", check_header_name);
	out->value = mj_checked_str(r, v, "value", cfg_authz_check_value);
}

static void rule_item(struct mj_reader *r, json_t *v, struct cfg_authz_rule *out)
{
	if (!mj_is_object(r, v))
		return;
	READ_LIST(r, v, "principals", out->principals, out->nprincipals, principal_item);
	READ_LIST(r, v, "namespaces", out->namespaces, out->nnamespaces, namespace_item);
	READ_LIST(r, v, "methods", out->methods, out->nmethods, method_item);
	READ_LIST(r, v, "paths", out->paths, out->npaths, path_item);
	READ_LIST(r, v, "when", out->headers, out->nheaders, condition_item);
	out->origin = mj_origin(r, v);
}

static void target_item(struct mj_reader *r, json_t *v, const char **out)
{
	if (mj_is_object(r, v))
		*out = mj_name(r, v, "name", name_check_dns_label);
}

void mj_authz_policy_item(struct mj_reader *r, json_t *v, struct cfg_authz_policy *out)
{
	if (!mj_is_object(r, v))
		return;
	out->name = mj_name(r, v, "name", name_check_dns_subdomain);
	out->ns = mj_name(r, v, "namespace", name_check_dns_label);
	READ_LIST(r, v, "targetRefs", out->services, out->nservices, target_item);
	if (!r->rc && !out->nservices)
		mj_fail_key(r, "targetRefs", "empty (a policy guards at least one Service)");
	out->action = (enum cfg_authz_action)mj_enum(r, v, "action", cfg_authz_action_names, 2);
	READ_LIST(r, v, "rules", out->rules, out->nrules, rule_item);
	out->origin = mj_origin(r, v);
}
