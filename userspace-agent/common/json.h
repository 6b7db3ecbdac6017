/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A streaming JSON writer: tracks commas and nesting. It writes to a FILE
 * (`--json` output) or into memory it grows (json_init_mem: bodies built
 * per request or batch, where stdio's per-call cost showed in profiles).
 */
#ifndef SHUNT_JSON_H
#define SHUNT_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define SHUNT_JSON_DEPTH 16

struct shunt_json {
	FILE *out;	 /* NULL: into mem */
	char *mem;	 /* json_init_mem's text, NUL-terminated */
	size_t len, cap; /* of mem */
	bool failed;	 /* mem could not grow: the text is lost */
	int depth;
	bool need_comma[SHUNT_JSON_DEPTH];
	bool after_key;
};

void json_init(struct shunt_json *j, FILE *out);
/* Into memory: HINT bytes to start with (it grows). */
void json_init_mem(struct shunt_json *j, size_t hint);
/* json_init_mem's text (the caller frees it) and its length, or NULL if
 * memory ran out on the way; J is empty again. */
char *json_mem_take(struct shunt_json *j, size_t *len);
/* J (of json_init_mem) empty again, its memory kept for the next text:
 * a writer that makes one text after another touches no new pages. */
void json_mem_reset(struct shunt_json *j);
void json_object_begin(struct shunt_json *j);
void json_object_end(struct shunt_json *j);
void json_array_begin(struct shunt_json *j);
void json_array_end(struct shunt_json *j);
void json_key(struct shunt_json *j, const char *key);
/* Not json_string: that is jansson's, and the binaries link both. */
void json_str(struct shunt_json *j, const char *value);
void json_u64(struct shunt_json *j, uint64_t value);
void json_bool(struct shunt_json *j, bool value);
void json_double(struct shunt_json *j, double value);
/* KEY (N bytes) or a string VALUE (N bytes) known to need no escaping
 * (literals, hex ids): copied without a scan. Per span, per field. */
void json_key_plain(struct shunt_json *j, const char *key, size_t n);
void json_str_plain(struct shunt_json *j, const char *value, size_t n);
/* VALUE, printable ASCII only (no control byte: the caller made sure),
 * quoted with a vectorised scan for '"' and '\\'. */
void json_str_printable(struct shunt_json *j, const char *value);
/* QUOTED: a key already quoted, with its colon ("\"key\":"), N bytes. */
void json_key_quoted(struct shunt_json *j, const char *quoted, size_t n);
/* LIT, a string literal key: one copy. */
#define JSON_KEY(j, lit) json_key_quoted(j, "\"" lit "\":", sizeof("\"" lit "\":") - 1)
/* key + value shorthands */
void json_kv_string(struct shunt_json *j, const char *key, const char *value);
void json_kv_u64(struct shunt_json *j, const char *key, uint64_t value);
void json_kv_bool(struct shunt_json *j, const char *key, bool value);

#endif
