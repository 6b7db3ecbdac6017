// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "status_features.h"

#include <string.h>

static const char *const reason_names[SHUNT_FR_MAX] = {
    [SHUNT_FR_NONE] = "",
    [SHUNT_FR_NOT_IN_KERNEL] = "not_in_kernel",
    [SHUNT_FR_REFUSED_LOAD] = "refused_load",
    [SHUNT_FR_REFUSED_ATTACH] = "refused_attach",
    [SHUNT_FR_FORCED_OFF] = "forced_off",
    [SHUNT_FR_NEEDS_RX_RECV] = "needs_rx_recv",
    [SHUNT_FR_NEEDS_RX_QUEUE] = "needs_rx_queue",
    [SHUNT_FR_PREFERRED_ON] = "preferred_on",
    [SHUNT_FR_BYPASS_OFF] = "bypass_off",
    [SHUNT_FR_RECV_EAGAIN] = "recv_eagain",
    [SHUNT_FR_PROBE_UNCLEAR] = "probe_unclear",
};

static const char *reason_name(__u32 reason)
{
	return reason < SHUNT_FR_MAX && reason_names[reason] ? reason_names[reason] : "unknown";
}

void features_print_text(FILE *out, const struct shunt_features *f)
{
	char why[256];
	int id;

	fprintf(out, "kernel features:\n");
	for (id = 0; id < SHUNT_FEAT_MAX; id++) {
		const struct shunt_feature_info *info = shunt_feature_info(id);
		const struct shunt_feature_status *s = &f->st[id];

		if (s->state == SHUNT_FEATURE_ON) {
			fprintf(out, "  %-22s on      %s%s\n", info->name,
				info->core ? "core: " : "", info->what);
			continue;
		}
		shunt_feature_why(s, why, sizeof(why));
		fprintf(out, "  %-22s %-7s %s\n  %-22s         %s: %s\n", info->name,
			s->state == SHUNT_FEATURE_OFF ? "OFF" : shunt_feature_state_name(s->state),
			why, "", s->state == SHUNT_FEATURE_UNUSED ? "gives" : "without it",
			s->state == SHUNT_FEATURE_UNUSED ? info->what : info->without);
	}
}

void features_print_json(struct shunt_json *j, const struct shunt_features *f)
{
	char why[256];
	int id;

	json_key(j, "features");
	json_array_begin(j);
	for (id = 0; id < SHUNT_FEAT_MAX; id++) {
		const struct shunt_feature_info *info = shunt_feature_info(id);
		const struct shunt_feature_status *s = &f->st[id];

		shunt_feature_why(s, why, sizeof(why));
		json_object_begin(j);
		json_kv_string(j, "name", info->name);
		json_kv_bool(j, "core", info->core);
		json_kv_string(j, "state", shunt_feature_state_name(s->state));
		json_kv_bool(j, "available", s->state == SHUNT_FEATURE_ON);
		json_kv_string(j, "reason", reason_name(s->reason));
		json_kv_string(j, "why", why);
		if (s->err)
			json_kv_string(j, "error", strerror(-s->err));
		json_kv_string(j, "what", info->what);
		json_kv_string(j, "without", info->without);
		json_object_end(j);
	}
	json_array_end(j);
}
