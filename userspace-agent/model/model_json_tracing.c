// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The tracing section in the model's JSON, both ways: written only when
 * tracing is on; durations in ms, the share a number from 0 to 1.
 */
#include <stdint.h>

#include "model_json_impl.h"

void mj_tracing_json(struct mj_writer *w, json_t *root, const struct cfg_tracing *t)
{
	json_t *o;

	if (!t->enabled)
		return;
	mj_set(w, root, "tracing", o = json_object());
	if (w->err)
		return;
	mj_set(w, o, "sampling", json_real(t->sampling));
	mj_set_str(w, o, "zipkinUrl", t->zipkin_url);
	mj_set_uint(w, o, "intervalMs", t->interval_ms);
	mj_set_uint(w, o, "timeoutMs", t->timeout_ms);
	mj_set_uint(w, o, "batch", t->max_batch);
	mj_set_uint(w, o, "queue", t->max_queue);
	mj_set_origin(w, o, &t->origin);
}

void mj_tracing_read(struct mj_reader *r, json_t *root, struct cfg_tracing *out)
{
	json_t *o = mj_object(r, root, "tracing", false), *s;
	size_t mark;

	if (!o)
		return;
	mark = mj_enter_key(r, "tracing");
	out->enabled = true;
	s = json_object_get(o, "sampling");
	if (!s || !json_is_number(s) || json_number_value(s) < 0 || json_number_value(s) > 1)
		mj_fail_key(r, "sampling", "not a number from 0 to 1");
	else
		out->sampling = json_number_value(s);
	out->zipkin_url = mj_str(r, o, "zipkinUrl", true);
	out->interval_ms = (__u32)mj_uint(r, o, "intervalMs", UINT32_MAX, true);
	out->timeout_ms = (__u32)mj_uint(r, o, "timeoutMs", UINT32_MAX, true);
	out->max_batch = (__u32)mj_uint(r, o, "batch", CFG_TRACING_BATCH_MAX, true);
	out->max_queue = (__u32)mj_uint(r, o, "queue", CFG_TRACING_QUEUE_MAX, true);
	if (!r->rc && (!out->interval_ms || !out->timeout_ms || !out->max_batch ||
		       out->max_batch > out->max_queue))
		mj_fail(r, "tracing bounds out of range");
	out->origin = mj_origin(r, o);
	mj_leave(r, mark);
}
