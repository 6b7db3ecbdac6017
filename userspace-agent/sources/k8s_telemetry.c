// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Istio's Telemetry objects (telemetry.istio.io/v1) as a pod's telemetry
 * settings (docs/kubernetes.md "Telemetry objects"): the share of new
 * traces (tracing[0].randomSamplingPercentage, 0 to 100) and the access log
 * on or off (an accessLogging[0] entry: on, off with `disabled: true`), at
 * Istio's three levels:
 *   0  the root namespace's (istio-system) without a selector: every pod;
 *   1  a namespace's without a selector: its pods;
 *   2  one whose selector.matchLabels picks the pod, in the pod's namespace.
 * A more specific level wins field by field; within a level the oldest
 * object (creationTimestamp, then name), as Istio resolves a conflict. A
 * pod's own annotations (k8s_pod_telemetry.c) win over them all. What is
 * not read (metrics, filters, modes, targetRefs) is a warning once per
 * object, never a refusal: telemetry is not worth refusing a snapshot for.
 */
#include <stdlib.h>
#include <string.h>

#include "k8s_impl.h"

#define LEVELS 3

static const json_t *spec_of(const json_t *t)
{
	return json_object_get(t, "spec");
}

static const json_t *match_labels(const json_t *t)
{
	const json_t *m = json_object_get(json_object_get(spec_of(t), "selector"), "matchLabels");

	return json_object_size(m) ? m : NULL;
}

/* A Telemetry that names its targets (a Gateway, a Service's waypoint)
 * applies to no sidecar-style workload. */
static bool has_targets(const json_t *t)
{
	return json_object_get(spec_of(t), "targetRef") ||
	       json_object_get(spec_of(t), "targetRefs");
}

static bool labels_match(const json_t *want, const json_t *labels)
{
	const char *k;
	json_t *v, *have;

	json_object_foreach((json_t *)want, k, v)
	{
		have = json_object_get(labels, k);
		if (!json_is_string(v) || !json_is_string(have) ||
		    strcmp(json_string_value(v), json_string_value(have)))
			return false;
	}
	return true;
}

/* T's level for POD, or -1: T does not apply to it. */
static int level_for(const json_t *t, const json_t *pod)
{
	const char *tns = k8s_str(t, "metadata.namespace");
	const char *pns = k8s_str(pod, "metadata.namespace");
	const json_t *want = match_labels(t);

	if (!tns || !pns || has_targets(t))
		return -1;
	if (want)
		return !strcmp(tns, pns) &&
			       labels_match(want, json_object_get(json_object_get(pod, "metadata"),
								  "labels"))
			   ? 2
			   : -1;
	if (!strcmp(tns, pns))
		return 1;
	return strcmp(tns, K8S_TELEMETRY_ROOT_NAMESPACE) ? -1 : 0;
}

/* Whether A was made before B (then by namespace and name). */
static bool older(const json_t *a, const json_t *b)
{
	const char *ta = k8s_str(a, "metadata.creationTimestamp");
	const char *tb = k8s_str(b, "metadata.creationTimestamp");
	int c = strcmp(ta ? ta : "", tb ? tb : ""); /* RFC 3339, UTC: in time order */

	if (!c)
		c = strcmp(k8s_str(a, "metadata.namespace") ?: "",
			   k8s_str(b, "metadata.namespace") ?: "");
	if (!c)
		c = strcmp(k8s_str(a, "metadata.name") ?: "", k8s_str(b, "metadata.name") ?: "");
	return c < 0;
}

/* The share of new traces T gives, if valid: a percentage from 0 to 100. */
static bool trace_share(const json_t *t, double *out)
{
	const json_t *first = json_array_get(json_object_get(spec_of(t), "tracing"), 0);
	const json_t *pct = json_object_get(first, "randomSamplingPercentage");

	if (!json_is_number(pct) || json_number_value(pct) < 0 || json_number_value(pct) > 100)
		return false;
	*out = json_number_value(pct) / 100;
	return true;
}

static void apply(const json_t *t, struct cfg_workload *w)
{
	const json_t *log = json_array_get(json_object_get(spec_of(t), "accessLogging"), 0);
	double share;

	if (trace_share(t, &share)) {
		w->tracing.has_sampling = true;
		w->tracing.sampling = share;
	}
	if (json_is_object(log)) {
		w->access_log.has_enabled = true;
		w->access_log.enabled = !json_is_true(json_object_get(log, "disabled"));
	}
}

void k8s_telemetry_apply(struct k8s_tr *tr, const json_t *pod, struct cfg_workload *w)
{
	const json_t *pick[LEVELS] = {NULL}, *t;
	const char *key;
	int level;

	json_object_foreach(tr->telemetries, key, t)
	{
		level = level_for(t, pod);
		if (level >= 0 && (!pick[level] || older(t, pick[level])))
			pick[level] = t;
	}
	for (level = 0; level < LEVELS; level++)
		if (pick[level])
			apply(pick[level], w);
}

/* The keys of entry E of LIST that are read; the rest: a warning. */
static void check_entry(struct k8s_tr *tr, const struct cfg_origin *o, const char *list,
			const json_t *e, const char *const *read)
{
	const char *k;
	json_t *v;
	size_t i;

	if (!json_is_object(e))
		return k8s_warn(tr, o, "%s[0] is not an object (not read)", list);
	json_object_foreach((json_t *)e, k, v)
	{
		for (i = 0; read[i] && strcmp(read[i], k); i++)
			;
		if (!read[i])
			k8s_warn(tr, o, "%s[0].%s is not read (docs/kubernetes.md)", list, k);
	}
}

static void check_one(struct k8s_tr *tr, const json_t *t)
{
	static const char *const tracing_read[] = {"randomSamplingPercentage", "providers", NULL};
	static const char *const logging_read[] = {"disabled", "providers", NULL};
	struct cfg_origin o = k8s_origin(tr, "Telemetry", t);
	const json_t *spec = spec_of(t), *tracing, *logging;
	double share;

	if (has_targets(t))
		k8s_warn(tr, &o, "targetRef(s) are not read: it applies to no workload");
	if (json_object_get(spec, "metrics"))
		k8s_warn(tr, &o, "metrics are not read: Istio's standard metrics are always on");
	tracing = json_object_get(spec, "tracing");
	logging = json_object_get(spec, "accessLogging");
	if (json_array_size(tracing) > 1 || json_array_size(logging) > 1)
		k8s_warn(tr, &o, "only the first entry of tracing and of accessLogging is read");
	if (json_array_size(tracing)) {
		check_entry(tr, &o, "tracing", json_array_get(tracing, 0), tracing_read);
		if (json_object_get(json_array_get(tracing, 0), "randomSamplingPercentage") &&
		    !trace_share(t, &share))
			k8s_warn(tr, &o,
				 "tracing[0].randomSamplingPercentage must be a number from 0 to "
				 "100 (ignored)");
	}
	if (json_array_size(logging))
		check_entry(tr, &o, "accessLogging", json_array_get(logging, 0), logging_read);
}

int k8s_telemetries_check(struct k8s_tr *tr)
{
	const char **keys;
	size_t n, i;

	if (!json_object_size(tr->telemetries))
		return 0;
	if (!(keys = k8s_sorted_keys(tr->telemetries, &n)))
		return k8s_oom(tr);
	for (i = 0; i < n; i++)
		check_one(tr, json_object_get(tr->telemetries, keys[i]));
	free(keys);
	return 0;
}
