// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The model file (format 2): JSON values, one per line. The first line is
 * the header:
 *
 *   {"model":2,"version":V,"counts":{"nodes":N,...},"trustDomain":...}
 *
 * (the top-level fields of the config, and how many items each list has);
 * then each list's items in the order of enum mj_list, one line each, as
 * {"LIST":ITEM}. Writer and reader hold one line's jansson tree at a time,
 * so their peak memory is set by the largest item, not by the whole model
 * (a whole model's tree is about 16 times its text: 25 MB for 1000
 * routes). The counts size the lists before their items are read, and say
 * that a file which ends between two lines is not the whole model.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "model_json_impl.h"

/* The shortest line an item can be, {"nodes":{}}: a count the file's size
 * cannot hold is refused before it sizes an allocation. */
#define MIN_ITEM_BYTES 12

const char *const mj_list_keys[MJ_LISTS] = {
    [MJ_NODES] = "nodes",
    [MJ_NAMESPACES] = "namespaces",
    [MJ_WORKLOADS] = "workloads",
    [MJ_SERVICES] = "services",
    [MJ_POLICIES] = "policies",
    [MJ_HTTP_ROUTES] = "httpRoutes",
    [MJ_AUTHZ_POLICIES] = "authorizationPolicies",
};

static void write_line(struct mj_writer *w, json_t *v)
{
	if (w->err)
		return;
	errno = 0;
	if (json_dumpf(v, w->out, JSON_COMPACT) || fputc('\n', w->out) == EOF)
		w->err = errno ? -errno : -EIO;
}

void mj_emit_item(struct mj_writer *w, enum mj_list list, json_t *v)
{
	json_t *line;

	if (w->doc) {
		mj_append(w, json_object_get(w->doc, mj_list_keys[list]), v);
		return;
	}
	line = json_object();
	mj_set(w, line, mj_list_keys[list], v);
	write_line(w, line);
	json_decref(line);
}

int mj_seq_write(FILE *out, const struct mesh_config *cfg, __u64 version)
{
	struct mj_writer w = {.path = cfg->path, .out = out};
	json_t *header = json_object(), *counts = json_object();
	size_t n[MJ_LISTS];
	int k;

	mj_list_counts(cfg, n);
	mj_set_uint(&w, header, "model", MODEL_JSON_FORMAT);
	mj_set_uint(&w, header, "version", version);
	mj_set(&w, header, "counts", counts);
	for (k = 0; !w.err && k < MJ_LISTS; k++)
		mj_set_uint(&w, counts, mj_list_keys[k], n[k]);
	mj_config_json(&w, header, cfg);
	write_line(&w, header);
	json_decref(header);
	mj_lists_json(&w, cfg);
	if (!w.err && fflush(out))
		w.err = -errno;
	return w.err;
}

/* Skips the blanks before the next value, counting lines; false at the end
 * of the file (or a read error, which fails R). */
static bool seq_more(struct mj_reader *r)
{
	int c;

	while ((c = getc(r->in)) != EOF) {
		if (c == '\n') {
			r->line++;
		} else if (c != ' ' && c != '\t' && c != '\r') {
			ungetc(c, r->in);
			return true;
		}
	}
	if (ferror(r->in))
		mj_fail(r, "read error");
	return false;
}

/*
 * The next value: json_loadf with JSON_DISABLE_EOF_CHECK stops right after
 * the value's closing } or ] (jansson's documented way of reading
 * consecutive values from one FILE). NULL at the end of the file (R
 * unchanged) or on failure.
 */
static json_t *seq_next(struct mj_reader *r)
{
	json_error_t jerr;
	json_t *v;

	if (r->rc || !seq_more(r))
		return NULL;
	v = json_loadf(r->in, JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES, &jerr);
	if (!v) {
		snprintf(r->err->msg, sizeof(r->err->msg), "model:%lu:%d: %s%s%s",
			 r->line + (unsigned long)(jerr.line > 1 ? jerr.line - 1 : 0), jerr.column,
			 r->where, r->wlen ? ": " : "", jerr.text);
		r->rc = -EINVAL;
	}
	return v;
}

size_t mj_items_alloc(struct mj_reader *r, enum mj_list list, size_t size, void **items)
{
	size_t n = r->counts[list];

	*items = NULL;
	if (r->rc || !n)
		return 0;
	if (n > SIZE_MAX / size || !(*items = shunt_arena_alloc(&r->cfg->arena, n * size))) {
		mj_oom(r);
		return 0;
	}
	return n;
}

json_t *mj_next_item(struct mj_reader *r, enum mj_list list, size_t i)
{
	const char *key = mj_list_keys[list];
	json_t *v;

	mj_enter_key(r, key);
	mj_enter_index(r, i);
	r->item = seq_next(r);
	if (r->rc)
		return NULL;
	if (!r->item) {
		mj_fail(r, "missing: the model ends before the header's %zu %s", r->counts[list],
			key);
		return NULL;
	}
	if (json_object_size(r->item) != 1 || !(v = json_object_get(r->item, key))) {
		mj_fail(r, "not a line {\"%s\": ITEM}", key);
		return NULL;
	}
	return v;
}

void mj_item_done(struct mj_reader *r, size_t mark)
{
	json_decref(r->item);
	r->item = NULL;
	mj_leave(r, mark);
}

/* The first line: format, version, counts and the top-level fields. */
static void read_header(struct mj_reader *r, __u64 *version, size_t size)
{
	json_t *h = seq_next(r), *counts;
	size_t mark;
	int k;

	if (!h) {
		if (!r->rc)
			mj_fail(r, "empty");
		return;
	}
	if (!json_is_object(h)) {
		mj_fail(r, "not a JSON object");
	} else if (mj_uint(r, h, "model", UINT_MAX, true) != MODEL_JSON_FORMAT && !r->rc) {
		mj_fail(r, "model format %lld, this shunt reads %d",
			json_integer_value(json_object_get(h, "model")), MODEL_JSON_FORMAT);
	} else {
		*version = mj_uint(r, h, "version", MJ_INT_MAX, true);
		if ((counts = mj_object(r, h, "counts", true))) {
			mark = mj_enter_key(r, "counts");
			for (k = 0; k < MJ_LISTS; k++)
				r->counts[k] = (size_t)mj_uint(r, counts, mj_list_keys[k],
							       size / MIN_ITEM_BYTES, true);
			mj_leave(r, mark);
		}
		mj_read_config(r, h);
	}
	json_decref(h);
}

int mj_seq_read(struct mj_reader *r, __u64 *version, size_t size)
{
	r->line = 1;
	read_header(r, version, size);
	if (!r->rc)
		mj_read_lists(r);
	if (!r->rc && seq_more(r))
		mj_fail(r, "more lines than the header counts");
	return r->rc;
}
