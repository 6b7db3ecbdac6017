// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Reading the model's JSON: typed fields with a sticky error that names
 * where it stopped, the model file's line and the path in it
 * ("model:7: workloads[3].labels.app: not a string").
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"
#include "model_json_impl.h"

int mj_fail(struct mj_reader *r, const char *fmt, ...)
{
	char msg[300];
	va_list ap;

	if (r->rc)
		return r->rc;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (r->line)
		snprintf(r->err->msg, sizeof(r->err->msg), "model:%lu: %s%s%s", r->line, r->where,
			 r->wlen ? ": " : "", msg);
	else
		snprintf(r->err->msg, sizeof(r->err->msg), "model: %s%s%s", r->where,
			 r->wlen ? ": " : "", msg);
	return r->rc = -EINVAL;
}

int mj_oom(struct mj_reader *r)
{
	if (!r->rc) {
		snprintf(r->err->msg, sizeof(r->err->msg), "model: out of memory");
		r->rc = -ENOMEM;
	}
	return r->rc;
}

/* Records N more bytes written at the end of where (snprintf's return). */
static size_t advance(struct mj_reader *r, size_t mark, int n)
{
	if (n > 0)
		r->wlen =
		    mark + (size_t)n < sizeof(r->where) ? mark + (size_t)n : sizeof(r->where) - 1;
	return mark;
}

size_t mj_enter_key(struct mj_reader *r, const char *key)
{
	size_t mark = r->wlen;

	return advance(
	    r, mark,
	    snprintf(r->where + mark, sizeof(r->where) - mark, "%s%s", mark ? "." : "", key));
}

size_t mj_enter_index(struct mj_reader *r, size_t i)
{
	size_t mark = r->wlen;

	return advance(r, mark, snprintf(r->where + mark, sizeof(r->where) - mark, "[%zu]", i));
}

void mj_leave(struct mj_reader *r, size_t mark)
{
	r->wlen = mark;
	r->where[mark] = 0;
}

/* KEY of O, or NULL (failing when REQUIRED) when missing. */
static json_t *field(struct mj_reader *r, json_t *o, const char *key, bool required)
{
	json_t *v = r->rc ? NULL : json_object_get(o, key);

	if (!v && required && !r->rc) {
		size_t mark = mj_enter_key(r, key);

		mj_fail(r, "missing");
		mj_leave(r, mark);
	}
	return v;
}

/* Fails at WHERE.KEY with MSG. */
static void fail_at_key(struct mj_reader *r, const char *key, const char *msg)
{
	size_t mark = mj_enter_key(r, key);

	mj_fail(r, "%s", msg);
	mj_leave(r, mark);
}

const char *mj_str_value(struct mj_reader *r, json_t *v)
{
	const char *s;
	char *copy;

	if (r->rc)
		return NULL;
	if (!json_is_string(v)) {
		mj_fail(r, "not a string");
		return NULL;
	}
	s = json_string_value(v);
	if (strlen(s) != json_string_length(v)) {
		mj_fail(r, "a string with a NUL byte");
		return NULL;
	}
	if (!(copy = shunt_arena_strndup(&r->cfg->arena, s, json_string_length(v))))
		mj_oom(r);
	return copy;
}

const char *mj_str(struct mj_reader *r, json_t *o, const char *key, bool required)
{
	json_t *v = field(r, o, key, required);
	const char *s;
	size_t mark;

	if (!v)
		return NULL;
	mark = mj_enter_key(r, key);
	s = mj_str_value(r, v);
	mj_leave(r, mark);
	return s;
}

unsigned long long mj_uint(struct mj_reader *r, json_t *o, const char *key, unsigned long long max,
			   bool required)
{
	json_t *v = field(r, o, key, required);
	char msg[64];

	if (!v)
		return 0;
	if (!json_is_integer(v)) {
		fail_at_key(r, key, "not an integer");
		return 0;
	}
	if (json_integer_value(v) < 0 || (unsigned long long)json_integer_value(v) > max) {
		snprintf(msg, sizeof(msg), "%lld is out of range (0 to %llu)",
			 (long long)json_integer_value(v), max);
		fail_at_key(r, key, msg);
		return 0;
	}
	return (unsigned long long)json_integer_value(v);
}

bool mj_bool(struct mj_reader *r, json_t *o, const char *key)
{
	json_t *v = field(r, o, key, true);

	if (v && !json_is_boolean(v))
		fail_at_key(r, key, "not true or false");
	return json_is_true(v);
}

json_t *mj_object(struct mj_reader *r, json_t *o, const char *key, bool required)
{
	json_t *v = field(r, o, key, required);

	if (v && !json_is_object(v)) {
		fail_at_key(r, key, "not an object");
		return NULL;
	}
	return v;
}

json_t *mj_array(struct mj_reader *r, json_t *o, const char *key, size_t size, void **items,
		 size_t *n)
{
	json_t *v = field(r, o, key, true);

	*items = NULL;
	*n = 0;
	if (!v)
		return NULL;
	if (!json_is_array(v)) {
		fail_at_key(r, key, "not an array");
		return NULL;
	}
	*n = json_array_size(v);
	if (!*n)
		return v;
	if (*n > SIZE_MAX / size || !(*items = shunt_arena_alloc(&r->cfg->arena, *n * size))) {
		*n = 0;
		mj_oom(r);
		return NULL;
	}
	return v;
}

int mj_enum(struct mj_reader *r, json_t *o, const char *key, const char *const *names, size_t count)
{
	json_t *v = field(r, o, key, true);
	char msg[80];
	size_t i;

	if (!v)
		return 0;
	for (i = 0; json_is_string(v) && i < count; i++)
		if (!strcmp(json_string_value(v), names[i]))
			return (int)i;
	snprintf(msg, sizeof(msg), "not one of %s ... %s", names[0], names[count - 1]);
	fail_at_key(r, key, msg);
	return 0;
}

int mj_prefix(struct mj_reader *r, json_t *v, bool addr_only, struct cfg_prefix *out)
{
	char addr[SHUNT_ADDR_STRLEN + 1];
	const char *s, *slash;
	unsigned long len = 0;
	size_t alen;
	char *end;

	if (r->rc)
		return r->rc;
	if (!json_is_string(v))
		return mj_fail(r, "not a string");
	s = json_string_value(v);
	slash = strchr(s, '/');
	if (addr_only == (slash != NULL))
		return mj_fail(r, "'%s' is not %s", s, addr_only ? "an address" : "a prefix");
	alen = slash ? (size_t)(slash - s) : strlen(s);
	if (alen >= sizeof(addr))
		return mj_fail(r, "'%s' is not an IP address", s);
	memcpy(addr, s, alen);
	addr[alen] = 0;
	if (shunt_addr_parse(addr, out->addr))
		return mj_fail(r, "'%s' is not an IP address", s);
	out->v4 = shunt_addr_is_v4(out->addr) && !strchr(addr, ':');
	out->len = 128;
	if (addr_only)
		return 0;
	errno = 0;
	len = strtoul(slash + 1, &end, 10);
	if (errno || *end || !slash[1] || slash[1] == '-' || len > (out->v4 ? 32u : 128u))
		return mj_fail(r, "'%s' has a bad prefix length", s);
	out->len = (unsigned int)len + (out->v4 ? 96 : 0);
	return 0;
}

__u8 mj_proto(struct mj_reader *r, json_t *o)
{
	json_t *v = field(r, o, "protocol", false);
	const char *s = json_string_value(v);

	if (!v)
		return 0;
	if (s && !strcmp(s, "TCP"))
		return 6;
	if (s && !strcmp(s, "UDP"))
		return 17;
	if (s && !strcmp(s, "SCTP"))
		return 132;
	fail_at_key(r, "protocol", "not TCP, UDP or SCTP");
	return 0;
}

/* {"line", "col"} (and "file" when not the config's), {"kind",
 * "namespace", "name"}, or {} for none. */
struct cfg_origin mj_origin(struct mj_reader *r, json_t *o)
{
	json_t *j = mj_object(r, o, "origin", true);
	struct cfg_origin origin = {0};
	size_t mark;

	if (!j)
		return origin;
	mark = mj_enter_key(r, "origin");
	if (json_object_get(j, "line")) {
		origin.kind = CFG_ORIGIN_FILE;
		origin.file = mj_str(r, j, "file", false);
		if (!origin.file)
			origin.file = r->cfg->path;
		origin.line = (unsigned int)mj_uint(r, j, "line", UINT32_MAX, true);
		origin.col = (unsigned int)mj_uint(r, j, "col", UINT32_MAX, true);
	} else if (json_object_get(j, "kind")) {
		origin.kind = CFG_ORIGIN_OBJECT;
		origin.object_kind = mj_str(r, j, "kind", true);
		origin.ns = mj_str(r, j, "namespace", false);
		origin.name = mj_str(r, j, "name", true);
	} else if (json_object_size(j)) {
		mj_fail(r, "neither a file position (line) nor an object (kind)");
	}
	mj_leave(r, mark);
	return origin;
}

void mj_labels(struct mj_reader *r, json_t *o, const char *key, struct cfg_labels *out)
{
	json_t *labels = mj_object(r, o, key, true), *v;
	size_t mark, i = 0;
	const char *k;

	memset(out, 0, sizeof(*out));
	if (!labels || !(out->n = json_object_size(labels)))
		return;
	if (!(out->items = shunt_arena_alloc(&r->cfg->arena, out->n * sizeof(*out->items)))) {
		out->n = 0;
		mj_oom(r);
		return;
	}
	mark = mj_enter_key(r, key);
	json_object_foreach(labels, k, v)
	{
		size_t kmark = mj_enter_key(r, k);

		out->items[i].key = shunt_arena_strndup(&r->cfg->arena, k, strlen(k));
		out->items[i].value = mj_str_value(r, v);
		if (!out->items[i].key)
			mj_oom(r);
		mj_leave(r, kmark);
		if (r->rc)
			break;
		i++;
	}
	mj_leave(r, mark);
}
