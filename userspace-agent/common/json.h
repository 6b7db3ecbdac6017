/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* A streaming JSON writer for `--json` output: tracks commas and nesting. */
#ifndef SHUNT_JSON_H
#define SHUNT_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define SHUNT_JSON_DEPTH 16

struct shunt_json {
	FILE *out;
	int depth;
	bool need_comma[SHUNT_JSON_DEPTH];
	bool after_key;
};

void json_init(struct shunt_json *j, FILE *out);
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
/* key + value shorthands */
void json_kv_string(struct shunt_json *j, const char *key, const char *value);
void json_kv_u64(struct shunt_json *j, const char *key, uint64_t value);
void json_kv_bool(struct shunt_json *j, const char *key, bool value);

#endif
