/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Inside the model's JSON form (model_json*.c): a writer and a reader with a
 * sticky error, so object code reads as a list of fields. Not for use
 * outside model/.
 */
#ifndef SHUNT_MODEL_JSON_IMPL_H
#define SHUNT_MODEL_JSON_IMPL_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>

#include "mesh_config.h"

/* What a model file says it is; a reader refuses any other number. 2: a
 * header, then one line per list item (model_json_seq.c); 1 was one
 * document. */
#define MODEL_JSON_FORMAT 2
/* The largest integer jansson holds (json_int_t is long long). */
#define MJ_INT_MAX LLONG_MAX

/* The model's lists, in the order a model file holds their items. */
enum mj_list {
	MJ_NODES,
	MJ_NAMESPACES,
	MJ_WORKLOADS,
	MJ_SERVICES,
	MJ_POLICIES,
	MJ_HTTP_ROUTES,
	MJ_AUTHZ_POLICIES,
	MJ_LISTS
};
extern const char *const mj_list_keys[MJ_LISTS];

struct mj_writer {
	int err;	  /* first failure (-ENOMEM, -EINVAL), then every call is a no-op */
	const char *path; /* the config's; origins in that file leave it out */
	FILE *out;	  /* a model file: each item goes out as a line of its own */
	json_t *doc;	  /* else one document: items go to its arrays */
};

/* Sets KEY of O to V (stolen; NULL is out of memory). */
void mj_set(struct mj_writer *w, json_t *o, const char *key, json_t *v);
/* Appends V (stolen) to the array A. */
void mj_append(struct mj_writer *w, json_t *a, json_t *v);
/* KEY: S, left out when S is NULL. */
void mj_set_str(struct mj_writer *w, json_t *o, const char *key, const char *s);
void mj_set_uint(struct mj_writer *w, json_t *o, const char *key, unsigned long long v);
void mj_set_bool(struct mj_writer *w, json_t *o, const char *key, bool v);
/* An address ("10.0.0.1", "fd00::1"), or with ADDR_ONLY false a prefix
 * ("10.0.0.0/8"). */
json_t *mj_prefix_json(struct mj_writer *w, const struct cfg_prefix *p, bool addr_only);
/* "protocol": "TCP", left out for 0. */
void mj_set_proto(struct mj_writer *w, json_t *o, __u8 proto);
void mj_set_origin(struct mj_writer *w, json_t *o, const struct cfg_origin *origin);
json_t *mj_labels_json(struct mj_writer *w, const struct cfg_labels *labels);
json_t *mj_selector_json(struct mj_writer *w, const struct cfg_selector *sel);

/* The model's objects (model_json_write.c, model_json_http.c): the
 * top-level fields into ROOT; the lists' items, each given to mj_emit_item. */
void mj_config_json(struct mj_writer *w, json_t *root, const struct mesh_config *cfg);
void mj_lists_json(struct mj_writer *w, const struct mesh_config *cfg);
void mj_list_counts(const struct mesh_config *cfg, size_t counts[MJ_LISTS]);
json_t *mj_http_route_json(struct mj_writer *w, const struct cfg_http_route *route);
/* Item V (stolen) of LIST: a line of the model file, or appended to the
 * document's array (model_json_seq.c). */
void mj_emit_item(struct mj_writer *w, enum mj_list list, json_t *v);
/* The model file: a header line, then the items (model_json_seq.c). */
int mj_seq_write(FILE *out, const struct mesh_config *cfg, __u64 version);

struct mj_reader {
	struct mesh_config *cfg; /* strings and arrays go to its arena */
	struct cfg_error *err;
	int rc;		 /* first failure; then every call is a no-op */
	char where[160]; /* the path being read, e.g. workloads[3].labels */
	size_t wlen;
	unsigned long line;	 /* of the model file's value being read; 0: none */
	FILE *in;		 /* the model file, read one value at a time */
	json_t *item;		 /* the line being read (mj_next_item) */
	size_t counts[MJ_LISTS]; /* items per list, from the header */
};

/* Fails with "WHERE: message"; returns -EINVAL (or the code given by -ERRNO
 * through mj_fail_code). */
int mj_fail(struct mj_reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int mj_oom(struct mj_reader *r);
/* Appends ".KEY" or "[I]" to where; returns the mark that mj_leave restores. */
size_t mj_enter_key(struct mj_reader *r, const char *key);
size_t mj_enter_index(struct mj_reader *r, size_t i);
void mj_leave(struct mj_reader *r, size_t mark);

/* Fields of O. REQUIRED false: a missing key gives NULL / false / 0. */
const char *mj_str(struct mj_reader *r, json_t *o, const char *key, bool required);
unsigned long long mj_uint(struct mj_reader *r, json_t *o, const char *key, unsigned long long max,
			   bool required);
bool mj_bool(struct mj_reader *r, json_t *o, const char *key);
/* An object (NULL when missing and not REQUIRED). */
json_t *mj_object(struct mj_reader *r, json_t *o, const char *key, bool required);
/* An array of *N items, allocated in the arena as *N * SIZE zeroed bytes. */
json_t *mj_array(struct mj_reader *r, json_t *o, const char *key, size_t size, void **items,
		 size_t *n);
/* Index of the string at KEY in NAMES (of COUNT). */
int mj_enum(struct mj_reader *r, json_t *o, const char *key, const char *const *names,
	    size_t count);
/* A string value V (not a key). */
const char *mj_str_value(struct mj_reader *r, json_t *v);
int mj_prefix(struct mj_reader *r, json_t *v, bool addr_only, struct cfg_prefix *out);
__u8 mj_proto(struct mj_reader *r, json_t *o);
struct cfg_origin mj_origin(struct mj_reader *r, json_t *o);
void mj_labels(struct mj_reader *r, json_t *o, const char *key, struct cfg_labels *out);
void mj_selector(struct mj_reader *r, json_t *v, struct cfg_selector *out);

/* A list item V must be an object; fails otherwise. */
bool mj_is_object(struct mj_reader *r, json_t *v);
/* A required name that CHECK (model/names.h) accepts: a model from any
 * source holds only names the YAML source would have accepted. */
const char *mj_name(struct mj_reader *r, json_t *o, const char *key,
		    const char *(*check)(const char *));

/* Reads the array at KEY of O into ARR/N (elements of ARR's type) with FN. */
#define READ_LIST(r, o, key, arr, n, fn)                                                           \
	do {                                                                                       \
		void *_items;                                                                      \
		json_t *_a = mj_array(r, o, key, sizeof(*(arr)), &_items, &(n));                   \
		size_t _i, _mark;                                                                  \
		(arr) = _items;                                                                    \
		for (_i = 0; _a && !(r)->rc && _i < (n); _i++) {                                   \
			_mark = mj_enter_key(r, key);                                              \
			mj_enter_index(r, _i);                                                     \
			fn(r, json_array_get(_a, _i), &(arr)[_i]);                                 \
			mj_leave(r, _mark);                                                        \
		}                                                                                  \
	} while (0)

/* Fails at WHERE.KEY. */
void mj_fail_key(struct mj_reader *r, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The string at KEY of O (required), which CHECK (NULL: good, else why
 * not) accepts. */
const char *mj_checked_str(struct mj_reader *r, json_t *o, const char *key,
			   const char *(*check)(const char *));

/* The model's objects (model_json_read.c, model_json_http.c): the header's
 * top-level fields; every list's items, line by line. */
void mj_read_config(struct mj_reader *r, json_t *root);
void mj_read_lists(struct mj_reader *r);
void mj_http_route_item(struct mj_reader *r, json_t *v, struct cfg_http_route *out);

/* The model file (model_json_seq.c). All of it into R->cfg, the header's
 * version into *VERSION; SIZE (bytes) bounds the header's counts. */
int mj_seq_read(struct mj_reader *r, __u64 *version, size_t size);
/* Room in the arena for LIST's items (SIZE bytes each); returns their
 * number (0 on failure). */
size_t mj_items_alloc(struct mj_reader *r, enum mj_list list, size_t size, void **items);
/* The next line, which must be item I of LIST: its value (NULL on
 * failure), with where at "LIST[I]"; mj_item_done frees it, restores where
 * to MARK. */
json_t *mj_next_item(struct mj_reader *r, enum mj_list list, size_t i);
void mj_item_done(struct mj_reader *r, size_t mark);

/* Reads LIST's items into ARR/N with FN, one line at a time. */
#define READ_ITEMS(r, list, arr, n, fn)                                                            \
	do {                                                                                       \
		void *_items;                                                                      \
		size_t _i, _mark;                                                                  \
		json_t *_v;                                                                        \
		(n) = mj_items_alloc(r, list, sizeof(*(arr)), &_items);                            \
		(arr) = _items;                                                                    \
		for (_i = 0; !(r)->rc && _i < (n); _i++) {                                         \
			_mark = (r)->wlen;                                                         \
			if ((_v = mj_next_item(r, list, _i)))                                      \
				fn(r, _v, &(arr)[_i]);                                             \
			mj_item_done(r, _mark);                                                    \
		}                                                                                  \
	} while (0)

/* The L7 policies (model_json_l7.c, model_json_authz.c): a rule's fault,
 * rateLimit and filters beyond the header modifiers, read after the rest
 * of the rule (they are checked against its matches and backendRefs); a
 * service's trafficPolicy; authorizationPolicies. */
void mj_rule_l7_json(struct mj_writer *w, json_t *o, const struct cfg_http_rule *rule);
void mj_rule_l7_read(struct mj_reader *r, json_t *v, struct cfg_http_rule *out);
json_t *mj_traffic_policy_json(struct mj_writer *w, const struct cfg_traffic_policy *tp);
void mj_traffic_policy_read(struct mj_reader *r, json_t *v, struct cfg_traffic_policy *out);
json_t *mj_authz_policy_json(struct mj_writer *w, const struct cfg_authz_policy *pol);
void mj_authz_policy_item(struct mj_reader *r, json_t *v, struct cfg_authz_policy *out);

/* accessLog (model_json_telemetry.c): MESH_WIDE the top-level one, else a
 * workload's override; read from the key "accessLog" of O. */
json_t *mj_access_log_json(struct mj_writer *w, const struct cfg_access_log *a, bool mesh_wide);
void mj_access_log_read(struct mj_reader *r, json_t *o, bool mesh_wide, struct cfg_access_log *out);
/* The tracing section (model_json_tracing.c): absent when off. */
void mj_tracing_json(struct mj_writer *w, json_t *root, const struct cfg_tracing *t);
void mj_tracing_read(struct mj_reader *r, json_t *root, struct cfg_tracing *out);
void mj_request_id_json(struct mj_writer *w, json_t *root, const struct cfg_request_id *id);
void mj_request_id_read(struct mj_reader *r, json_t *root, struct cfg_request_id *out);
json_t *mj_workload_tracing_json(struct mj_writer *w, const struct cfg_workload_tracing *t);
void mj_workload_tracing_read(struct mj_reader *r, json_t *o, struct cfg_workload_tracing *out);

extern const char *const mj_mtls_names[3];

#endif
