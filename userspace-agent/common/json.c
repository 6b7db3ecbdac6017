// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "json.h"

#include <inttypes.h>

void json_init(struct shunt_json *j, FILE *out)
{
	j->out = out;
	j->depth = 0;
	j->need_comma[0] = false;
	j->after_key = false;
}

/* Separator before a value (or a key) at the current level. */
static void json_sep(struct shunt_json *j)
{
	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (j->need_comma[j->depth])
		fputc(',', j->out);
	j->need_comma[j->depth] = true;
}

static void json_push(struct shunt_json *j, char open)
{
	json_sep(j);
	fputc(open, j->out);
	if (j->depth + 1 < SHUNT_JSON_DEPTH)
		j->depth++;
	j->need_comma[j->depth] = false;
}

static void json_pop(struct shunt_json *j, char close)
{
	if (j->depth > 0)
		j->depth--;
	fputc(close, j->out);
	if (j->depth == 0)
		fputc('\n', j->out);
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
static void json_quoted(FILE *out, const char *s)
{
	const char *run = s ? s : "";

	fputc('"', out);
	for (s = run; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch != '"' && ch != '\\' && ch >= 0x20)
			continue;
		fwrite(run, 1, (size_t)(s - run), out);
		if (ch < 0x20)
			fprintf(out, "\\u%04x", ch);
		else
			fprintf(out, "\\%c", ch);
		run = s + 1;
	}
	fwrite(run, 1, (size_t)(s - run), out);
	fputc('"', out);
}

void json_key(struct shunt_json *j, const char *key)
{
	json_sep(j);
	json_quoted(j->out, key);
	fputc(':', j->out);
	j->after_key = true;
}

void json_str(struct shunt_json *j, const char *value)
{
	json_sep(j);
	if (value)
		json_quoted(j->out, value);
	else
		fputs("null", j->out);
}

void json_u64(struct shunt_json *j, uint64_t value)
{
	json_sep(j);
	fprintf(j->out, "%" PRIu64, value);
}

void json_bool(struct shunt_json *j, bool value)
{
	json_sep(j);
	fputs(value ? "true" : "false", j->out);
}

void json_double(struct shunt_json *j, double value)
{
	json_sep(j);
	fprintf(j->out, "%.6g", value);
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
