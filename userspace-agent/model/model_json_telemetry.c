// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* accessLog, mesh-wide and a workload's override, in the model's JSON. */
#include <string.h>

#include "model_json_impl.h"

json_t *mj_access_log_json(struct mj_writer *w, const struct cfg_access_log *a, bool mesh_wide)
{
	json_t *o = json_object();

	if (mesh_wide || a->has_enabled)
		mj_set_bool(w, o, "enabled", a->enabled);
	if (mesh_wide || a->has_sampling)
		mj_set(w, o, "sampling", json_real(a->sampling));
	if (mesh_wide)
		mj_set_str(w, o, "output", a->output);
	mj_set_origin(w, o, &a->origin);
	return o;
}

/* accessLog of O into OUT; a model without one (an older agent's) has the
 * defaults: off, stdout, every request. */
void mj_access_log_read(struct mj_reader *r, json_t *o, bool mesh_wide, struct cfg_access_log *out)
{
	json_t *a = mj_object(r, o, "accessLog", false), *v;
	size_t mark;

	memset(out, 0, sizeof(*out));
	if (mesh_wide) {
		out->sampling = 1;
		out->output = "stdout";
	}
	if (!a || r->rc)
		return;
	mark = mj_enter_key(r, "accessLog");
	if ((v = json_object_get(a, "enabled"))) {
		out->has_enabled = true;
		out->enabled = mj_bool(r, a, "enabled");
	}
	if ((v = json_object_get(a, "sampling"))) {
		out->has_sampling = true;
		if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 1)
			mj_fail_key(r, "sampling", "not a number from 0 to 1");
		else
			out->sampling = json_number_value(v);
	}
	if (mesh_wide && json_object_get(a, "output"))
		out->output = mj_str(r, a, "output", true);
	out->origin = mj_origin(r, a);
	mj_leave(r, mark);
}
