// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A pod's own telemetry settings: what Istio's Telemetry objects say of it
 * (k8s_telemetry.c), then its annotations, which win: what the YAML
 * source's workload `accessLog` and `tracing` overrides say
 * (docs/telemetry.md), for the Kubernetes source. A value that
 * does not parse is a warning naming the pod, and the mesh's setting
 * applies: telemetry is not worth refusing the snapshot for, as a
 * NetworkPolicy or an mTLS annotation is.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "k8s_impl.h"

/* A share from 0 to 1 written as text ("0.25", "1"); false otherwise. */
static bool share_of(const char *s, double *out)
{
	char *end;
	double v;

	/* decimal digits and a point only: no sign, space, exponent or hex */
	if (!s || !*s || s[strspn(s, "0123456789.")])
		return false;
	v = strtod(s, &end);
	if (*end || !isfinite(v) || v < 0 || v > 1)
		return false;
	*out = v;
	return true;
}

static const char *annotation(const json_t *pod, const char *key)
{
	return json_string_value(
	    json_object_get(json_object_get(json_object_get(pod, "metadata"), "annotations"), key));
}

static void read_share(struct k8s_tr *tr, const json_t *pod, const struct cfg_origin *o,
		       const char *key, bool *has, double *out)
{
	const char *v = annotation(pod, key);

	if (!v)
		return;
	if (share_of(v, out))
		*has = true;
	else
		k8s_warn(tr, o,
			 "annotation %s is '%.60s': a share from 0 to 1 (ignored: its "
			 "Telemetry's or the mesh's setting applies)",
			 key, v);
}

void k8s_pod_telemetry(struct k8s_tr *tr, const json_t *pod, struct cfg_workload *w)
{
	const char *on = annotation(pod, K8S_ACCESS_LOG_ANNOTATION);

	k8s_telemetry_apply(tr, pod, w);
	if (on && (!strcmp(on, "true") || !strcmp(on, "false"))) {
		w->access_log.has_enabled = true;
		w->access_log.enabled = !strcmp(on, "true");
	} else if (on) {
		k8s_warn(tr, &w->origin,
			 "annotation " K8S_ACCESS_LOG_ANNOTATION " is '%.60s': true or false "
			 "(ignored: its Telemetry's or the mesh's setting applies)",
			 on);
	}
	read_share(tr, pod, &w->origin, K8S_ACCESS_LOG_SAMPLING_ANNOTATION,
		   &w->access_log.has_sampling, &w->access_log.sampling);
	read_share(tr, pod, &w->origin, K8S_TRACE_SAMPLING_ANNOTATION, &w->tracing.has_sampling,
		   &w->tracing.sampling);
	w->access_log.origin = w->tracing.origin = w->origin;
}
