// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * An HTTPRoute's status as the Gateway API has it (RouteParentStatus): for
 * each parentRef to a Service (GAMMA), an entry of our controller with the
 * Accepted and ResolvedRefs conditions of what the translation made of the
 * route. A route the model cannot hold is left out whole, so Accepted is
 * False on every one of its parents then; one whose backendRefs do not all
 * resolve is kept (Accepted True, ResolvedRefs False: their share is
 * answered 500). Pure functions of the objects: the watch thread writes
 * the result (k8s_route_write.c).
 */
#include <string.h>

#include "k8s_impl.h"

/* The reason names of the Gateway API (RouteConditionReason). */
static const char *accepted_reason(enum cfg_fail_reason why)
{
	return why == CFG_FAIL_PARENT_NOT_FOUND ? "NoMatchingParent" : "UnsupportedValue";
}

static const char *refs_reason(enum cfg_fail_reason why)
{
	switch (why) {
	case CFG_FAIL_BACKEND_KIND:
		return "InvalidKind";
	case CFG_FAIL_BACKEND_NAMESPACE:
		return "RefNotPermitted";
	default:
		return "BackendNotFound";
	}
}

static json_t *condition(const char *type, bool ok, const char *reason, const char *msg)
{
	return json_pack("{s:s, s:s, s:s, s:s}", "type", type, "status", ok ? "True" : "False",
			 "reason", reason, "message", msg ? msg : "");
}

json_t *k8s_route_outcome(const json_t *route, const struct k8s_route_verdict *v)
{
	char msg[600];
	json_t *gen = json_object_get(json_object_get(route, "metadata"), "generation"), *conds;

	snprintf(msg, sizeof(msg), "left out of the mesh's routes, whole: %s",
		 v->msg ? v->msg : "");
	conds = json_pack("[o, o]",
			  condition("Accepted", v->accepted,
				    v->accepted ? "Accepted" : accepted_reason(v->why),
				    !v->accepted       ? msg
				    : v->refs_resolved ? "the route is in the mesh's routes"
						       : "the route is in the mesh's routes; the "
							 "share of a backendRef that does not "
							 "resolve is answered 500"),
			  condition("ResolvedRefs", v->refs_resolved,
				    v->refs_resolved ? "ResolvedRefs" : refs_reason(v->refs_why),
				    v->refs_resolved ? "every backendRef resolves" : v->refs_msg));
	return json_pack("{s:s?, s:I, s:o?}", "uid", k8s_str(route, "metadata.uid"), "generation",
			 (json_int_t)json_integer_value(gen), "conditions", conds);
}

bool k8s_route_parent_is_ours(const json_t *ref)
{
	const char *group = k8s_str(ref, "group"), *kind = k8s_str(ref, "kind");

	if (json_object_get(ref, "group") && !group)
		return false;
	if (json_object_get(ref, "kind") && !kind)
		return false;
	return (!group || !*group || !strcmp(group, "core")) && (!kind || !strcmp(kind, "Service"));
}

static bool is_ours(const json_t *entry)
{
	const char *c = k8s_str(entry, "controllerName");

	return c && !strcmp(c, K8S_CONTROLLER_NAME);
}

/* Our entry for REF among PARENTS (a status.parents), or NULL. */
static const json_t *old_entry(const json_t *parents, const json_t *ref)
{
	const json_t *e;
	size_t i;

	json_array_foreach(parents, i,
			   e) if (is_ours(e) &&
				  json_equal(json_object_get(e, "parentRef"), ref)) return e;
	return NULL;
}

/* COND (of the outcome) with observedGeneration and lastTransitionTime:
 * OLD's (the same type in an old entry) if its status is the same. */
static json_t *dated(const json_t *cond, json_int_t gen, const json_t *old_entry, const char *now)
{
	json_t *c = json_deep_copy(cond), *oc, *when = NULL;
	const char *type = k8s_str(cond, "type"), *st = k8s_str(cond, "status");
	size_t i;

	json_array_foreach(json_object_get(old_entry, "conditions"), i, oc)
	{
		const char *ot = k8s_str(oc, "type"), *os = k8s_str(oc, "status");

		if (ot && os && !strcmp(ot, type) && !strcmp(os, st))
			when = json_object_get(oc, "lastTransitionTime");
	}
	if (!c || json_object_set_new(c, "observedGeneration", json_integer(gen)) ||
	    json_object_set_new(c, "lastTransitionTime",
				when ? json_incref(when) : json_string(now))) {
		json_decref(c);
		return NULL;
	}
	return c;
}

json_t *k8s_route_status_ours(const json_t *route, const json_t *outcome, const char *now)
{
	const json_t *md = json_object_get(route, "metadata"), *ref, *cond, *old;
	const json_t *parents = json_object_get(json_object_get(route, "status"), "parents");
	json_int_t gen = json_integer_value(json_object_get(md, "generation"));
	const char *uid = k8s_str(route, "metadata.uid"), *ouid = k8s_str(outcome, "uid");
	json_t *ours, *entry, *conds;
	size_t i, j;
	bool ok;

	if (gen != json_integer_value(json_object_get(outcome, "generation")) ||
	    (uid && ouid && strcmp(uid, ouid)) || !(ours = json_array()))
		return NULL;
	json_array_foreach(json_object_get(json_object_get(route, "spec"), "parentRefs"), i, ref)
	{
		if (!k8s_route_parent_is_ours(ref))
			continue;
		old = old_entry(parents, ref);
		entry = json_pack("{s:O, s:s, s:[]}", "parentRef", ref, "controllerName",
				  K8S_CONTROLLER_NAME, "conditions");
		conds = json_object_get(entry, "conditions");
		ok = entry != NULL;
		json_array_foreach(json_object_get(outcome, "conditions"), j, cond) ok =
		    ok && !json_array_append_new(conds, dated(cond, gen, old, now));
		if (!ok)
			json_decref(entry);
		/* (a failed append_new drops ENTRY itself) */
		if (!ok || json_array_append_new(ours, entry)) {
			json_decref(ours);
			return NULL;
		}
	}
	return ours;
}

json_t *k8s_route_status_merge(const json_t *parents, const json_t *ours, bool *changed)
{
	json_t *out = json_array(), *mine = json_array(), *e;
	size_t i;

	if (!out || !mine)
		goto fail;
	json_array_foreach(parents, i, e)
	{
		if (json_array_append(is_ours(e) ? mine : out, e))
			goto fail;
	}
	*changed = !json_equal(mine, ours);
	json_decref(mine);
	if (json_array_extend(out, (json_t *)ours)) {
		json_decref(out);
		return NULL;
	}
	return out;
fail:
	json_decref(out);
	json_decref(mine);
	return NULL;
}
