// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The tracing section in the model's JSON, both ways: written only when
 * tracing is on; durations in ms, the share a number from 0 to 1. A
 * workload's own share, when it has one; and whether request ids are made.
 */
#include <stdint.h>
#include <string.h>

#include "model_json_impl.h"

static json_t *new_trace_headers_json(unsigned int bits)
{
	json_t *a = json_array();
	const char *name;
	unsigned int i;

	for (i = 0; a && (name = cfg_trace_header_name(i)); i++)
		if ((bits & (1u << i)) && json_array_append_new(a, json_string(name)))
			return json_decref(a), NULL;
	return a;
}

/* Absent (an older agent's model): the default; otherwise names of
 * cfg_trace_header_name, at least one. */
static void new_trace_headers_read(struct mj_reader *r, json_t *o, unsigned int *out)
{
	json_t *a = json_object_get(o, "newTraceHeaders"), *v;
	const char *name = NULL;
	unsigned int f;
	size_t i;

	*out = a ? 0 : CFG_TRACING_HEADERS;
	if (!a)
		return;
	json_array_foreach(a, i, v)
	{
		for (f = 0; (name = cfg_trace_header_name(f)); f++)
			if (json_is_string(v) && !strcmp(json_string_value(v), name))
				break;
		if (!name)
			break;
		*out |= 1u << f;
	}
	if (!json_is_array(a) || !json_array_size(a) || !name)
		mj_fail_key(r, "newTraceHeaders", "not a list of b3, b3single and w3c");
}

void mj_tracing_json(struct mj_writer *w, json_t *root, const struct cfg_tracing *t)
{
	json_t *o;

	if (!t->enabled)
		return;
	mj_set(w, root, "tracing", o = json_object());
	if (w->err)
		return;
	mj_set(w, o, "sampling", json_real(t->sampling));
	mj_set(w, o, "newTraceHeaders", new_trace_headers_json(t->new_trace_headers));
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
	new_trace_headers_read(r, o, &out->new_trace_headers);
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

json_t *mj_workload_tracing_json(struct mj_writer *w, const struct cfg_workload_tracing *t)
{
	json_t *o = json_object();

	mj_set(w, o, "sampling", json_real(t->sampling));
	mj_set_origin(w, o, &t->origin);
	return o;
}

/* A workload's tracing of O into OUT; none: the mesh's share. */
void mj_workload_tracing_read(struct mj_reader *r, json_t *o, struct cfg_workload_tracing *out)
{
	json_t *t = mj_object(r, o, "tracing", false), *s;
	size_t mark;

	memset(out, 0, sizeof(*out));
	if (!t || r->rc)
		return;
	mark = mj_enter_key(r, "tracing");
	s = json_object_get(t, "sampling");
	if (!s || !json_is_number(s) || json_number_value(s) < 0 || json_number_value(s) > 1)
		mj_fail_key(r, "sampling", "not a number from 0 to 1");
	else
		out->sampling = json_number_value(s);
	out->has_sampling = true;
	out->origin = mj_origin(r, t);
	mj_leave(r, mark);
}

/* requestId: written only when generation is off, the default's absence
 * read as on (an older agent's model). */
void mj_request_id_json(struct mj_writer *w, json_t *root, const struct cfg_request_id *id)
{
	json_t *o;

	if (!id->off)
		return;
	mj_set(w, root, "requestId", o = json_object());
	if (w->err)
		return;
	mj_set_bool(w, o, "generate", false);
	mj_set_origin(w, o, &id->origin);
}

void mj_request_id_read(struct mj_reader *r, json_t *root, struct cfg_request_id *out)
{
	json_t *o = mj_object(r, root, "requestId", false);
	size_t mark;

	memset(out, 0, sizeof(*out));
	if (!o || r->rc)
		return;
	mark = mj_enter_key(r, "requestId");
	out->off = !mj_bool(r, o, "generate");
	out->origin = mj_origin(r, o);
	mj_leave(r, mark);
}
