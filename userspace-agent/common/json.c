// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "json.h"

#include <stdlib.h>
#include <string.h>

void json_init(struct shunt_json *j, FILE *out)
{
	memset(j, 0, sizeof(*j));
	j->out = out;
}

void json_init_mem(struct shunt_json *j, size_t hint)
{
	memset(j, 0, sizeof(*j));
	j->cap = hint < 64 ? 64 : hint;
	j->mem = malloc(j->cap);
	if (!j->mem) { /* every put takes put_slow, which sees failed */
		j->cap = 0;
		j->failed = true;
	}
}

char *json_mem_take(struct shunt_json *j, size_t *len)
{
	char *text = j->failed ? NULL : j->mem;

	if (!text)
		free(j->mem);
	else
		*len = j->len;
	j->mem = NULL;
	j->len = j->cap = 0;
	return text;
}

void json_mem_reset(struct shunt_json *j)
{
	char *mem = j->mem;
	size_t cap = j->cap;

	if (!mem || j->failed) {
		free(mem);
		json_init_mem(j, cap);
		return;
	}
	memset(j, 0, sizeof(*j));
	j->mem = mem;
	j->cap = cap;
	mem[0] = 0;
}

static void put_slow(struct shunt_json *j, const char *p, size_t n)
{
	size_t cap = j->cap * 2 > j->len + n + 1 ? j->cap * 2 : j->len + n + 1;
	char *grown;

	if (j->out) {
		fwrite(p, 1, n, j->out);
		return;
	}
	if (j->failed)
		return;
	if (!(grown = realloc(j->mem, cap))) {
		j->failed = true;
		return;
	}
	j->mem = grown;
	j->cap = cap;
	memcpy(j->mem + j->len, p, n);
	j->len += n;
	j->mem[j->len] = 0;
}

/* Into memory that has room (the common case: inline), else put_slow. */
static inline void put(struct shunt_json *j, const char *p, size_t n)
{
	if (j->out || j->cap - j->len <= n) { /* <=: and room for the NUL */
		put_slow(j, p, n);
		return;
	}
	memcpy(j->mem + j->len, p, n);
	j->len += n;
	j->mem[j->len] = 0;
}

static inline void put_char(struct shunt_json *j, char c)
{
	put(j, &c, 1);
}

/* V in decimal, no printf: this runs for every field of every span. */
static void put_u64(struct shunt_json *j, uint64_t v)
{
	char b[20];
	size_t i = sizeof(b);

	do
		b[--i] = (char)('0' + v % 10);
	while ((v /= 10));
	put(j, b + i, sizeof(b) - i);
}

/* Separator before a value (or a key) at the current level. */
static void json_sep(struct shunt_json *j)
{
	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (j->need_comma[j->depth])
		put_char(j, ',');
	j->need_comma[j->depth] = true;
}

static void json_push(struct shunt_json *j, char open)
{
	json_sep(j);
	put_char(j, open);
	if (j->depth + 1 < SHUNT_JSON_DEPTH)
		j->depth++;
	j->need_comma[j->depth] = false;
}

static void json_pop(struct shunt_json *j, char close)
{
	if (j->depth > 0)
		j->depth--;
	put_char(j, close);
	if (j->depth == 0)
		put_char(j, '\n');
}

void json_object_begin(struct shunt_json *j)
{
	json_push(j, '{');
}

void json_object_end(struct shunt_json *j)
{
	json_pop(j, '}');
}

void json_array_begin(struct shunt_json *j)
{
	json_push(j, '[');
}

void json_array_end(struct shunt_json *j)
{
	json_pop(j, ']');
}

/* S quoted; the runs between escapes go out whole. */
static void json_quoted(struct shunt_json *j, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const char *run = s ? s : "";
	char esc[6] = {'\\', 'u', '0', '0'};

	put_char(j, '"');
	for (s = run; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch != '"' && ch != '\\' && ch >= 0x20)
			continue;
		put(j, run, (size_t)(s - run));
		if (ch < 0x20) {
			esc[4] = hex[ch >> 4];
			esc[5] = hex[ch & 15];
			put(j, esc, 6);
		} else {
			esc[1] = (char)ch;
			put(j, esc, 2);
			esc[1] = 'u';
		}
		run = s + 1;
	}
	put(j, run, (size_t)(s - run));
	put_char(j, '"');
}

void json_key_plain(struct shunt_json *j, const char *key, size_t n)
{
	json_sep(j);
	put_char(j, '"');
	put(j, key, n);
	put(j, "\":", 2);
	j->after_key = true;
}

void json_key_quoted(struct shunt_json *j, const char *quoted, size_t n)
{
	json_sep(j);
	put(j, quoted, n);
	j->after_key = true;
}

void json_str_plain(struct shunt_json *j, const char *value, size_t n)
{
	json_sep(j);
	put_char(j, '"');
	put(j, value, n);
	put_char(j, '"');
}

void json_str_printable(struct shunt_json *j, const char *value)
{
	size_t n;

	json_sep(j);
	put_char(j, '"');
	for (;;) { /* strcspn: glibc's is vectorised */
		n = strcspn(value, "\"\\");
		put(j, value, n);
		if (!value[n])
			break;
		put(j, value[n] == '"' ? "\\\"" : "\\\\", 2);
		value += n + 1;
	}
	put_char(j, '"');
}

void json_key(struct shunt_json *j, const char *key)
{
	json_sep(j);
	json_quoted(j, key);
	put_char(j, ':');
	j->after_key = true;
}

void json_str(struct shunt_json *j, const char *value)
{
	json_sep(j);
	if (value)
		json_quoted(j, value);
	else
		put(j, "null", 4);
}

void json_u64(struct shunt_json *j, uint64_t value)
{
	json_sep(j);
	put_u64(j, value);
}

void json_bool(struct shunt_json *j, bool value)
{
	json_sep(j);
	put(j, value ? "true" : "false", value ? 4 : 5);
}

void json_double(struct shunt_json *j, double value)
{
	char b[32];

	json_sep(j);
	put(j, b, (size_t)snprintf(b, sizeof(b), "%.6g", value));
}

void json_kv_string(struct shunt_json *j, const char *key, const char *value)
{
	json_key(j, key);
	json_str(j, value);
}

void json_kv_u64(struct shunt_json *j, const char *key, uint64_t value)
{
	json_key(j, key);
	json_u64(j, value);
}

void json_kv_bool(struct shunt_json *j, const char *key, bool value)
{
	json_key(j, key);
	json_bool(j, value);
}
