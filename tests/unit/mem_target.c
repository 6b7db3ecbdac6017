// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The apply target in memory (mem_target.h). */
#include "mem_target.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum mem_kind { MEM_HASH, MEM_LPM, MEM_ARRAY };

#define MAX_KEY 64 /* bytes; mem_target_create() checks */

#define KV(k, v)  sizeof(k), sizeof(v)
#define GEN(type) offsetof(type, gen), sizeof(((type *)0)->gen)
#define NO_GEN	  0, 0

/* Each map's key and value, where its key keeps the generation, and what
 * kind of kernel map it is. */
static const struct map_layout {
	size_t key_size, value_size, gen_off, gen_size;
	enum mem_kind kind;
} layouts[MESH_TARGET_MAPS] = {
    [PLAN_CGROUP_IDENTS] = {KV(struct shunt_cgroup_ident_key, struct shunt_ident),
			    GEN(struct shunt_cgroup_ident_key), MEM_HASH},
    [PLAN_IPCACHE] = {KV(struct shunt_ipcache_key, struct shunt_ident),
		      GEN(struct shunt_ipcache_key), MEM_LPM},
    [PLAN_SERVICES] = {KV(struct shunt_service_key, struct shunt_service),
		       GEN(struct shunt_service_key), MEM_HASH},
    [PLAN_BACKENDS] = {KV(struct shunt_backend_key, struct shunt_backend),
		       GEN(struct shunt_backend_key), MEM_HASH},
    [PLAN_POLICY_DENY] = {KV(struct shunt_policy_key, struct shunt_policy_entry),
			  GEN(struct shunt_policy_key), MEM_HASH},
    [PLAN_POLICY_ALLOW] = {KV(struct shunt_policy_key, struct shunt_policy_entry),
			   GEN(struct shunt_policy_key), MEM_HASH},
    [PLAN_SUBJECTS] = {KV(struct shunt_subject_key, struct shunt_subject),
		       GEN(struct shunt_subject_key), MEM_HASH},
    [PLAN_NAMES] = {KV(struct shunt_name_key, struct shunt_name), GEN(struct shunt_name_key),
		    MEM_HASH},
    [MESH_MAP_STATE] = {KV(__u32, struct shunt_mesh_state), NO_GEN, MEM_ARRAY},
    [MESH_MAP_WORKLOADS] = {KV(struct shunt_workload_key, struct shunt_workload), NO_GEN, MEM_HASH},
    [MESH_MAP_WORKLOAD_NAMES] = {KV(__u32, struct shunt_workload_name), NO_GEN, MEM_HASH},
};

/* One map: entries sorted by canonical key (the key as the kernel compares
 * it); KEYS keeps each key as it was last written. */
struct mem_map {
	size_t n, cap;
	unsigned char *canon, *keys, *values;
};

struct mem_target {
	struct mem_map maps[MESH_TARGET_MAPS];
	bool batch;
	unsigned long fail_in; /* updates until the injected failure; 0: none */
	int fail_err;
};

size_t mem_map_key_size(int map)
{
	return layouts[map].key_size;
}

size_t mem_map_value_size(int map)
{
	return layouts[map].value_size;
}

bool mem_map_has_gen(int map)
{
	return layouts[map].gen_size != 0;
}

static bool valid_map(int map)
{
	return map >= 0 && map < MESH_TARGET_MAPS;
}

/* The LPM trie's key: a __u32 prefixlen, then data of which only the first
 * prefixlen bits count. -EINVAL for a prefix longer than the data. */
static int canonical_key(int map, const void *key, unsigned char *out)
{
	size_t size = layouts[map].key_size, bits, i;
	__u32 prefixlen;

	memcpy(out, key, size);
	if (layouts[map].kind != MEM_LPM)
		return 0;
	memcpy(&prefixlen, out, sizeof(prefixlen));
	bits = (size - sizeof(prefixlen)) * 8;
	if (prefixlen > bits)
		return -EINVAL;
	for (i = prefixlen; i < bits; i++)
		out[sizeof(prefixlen) + i / 8] &= (unsigned char)~(0x80u >> (i % 8));
	return 0;
}

/* Index of CANON in MAP, or where it would go (*FOUND false). */
static size_t find(const struct mem_map *mm, size_t key_size, const unsigned char *canon,
		   bool *found)
{
	size_t lo = 0, hi = mm->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = memcmp(mm->canon + mid * key_size, canon, key_size);

		if (!r) {
			*found = true;
			return mid;
		}
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

static int grow(struct mem_map *mm, const struct map_layout *l)
{
	size_t cap = mm->cap ? mm->cap * 2 : 16;
	unsigned char *c, *k, *v;

	c = realloc(mm->canon, cap * l->key_size);
	if (c)
		mm->canon = c;
	k = realloc(mm->keys, cap * l->key_size);
	if (k)
		mm->keys = k;
	v = realloc(mm->values, cap * l->value_size);
	if (v)
		mm->values = v;
	if (!c || !k || !v)
		return -ENOMEM;
	mm->cap = cap;
	return 0;
}

static int insert(struct mem_map *mm, const struct map_layout *l, size_t at,
		  const unsigned char *canon, const void *key, const void *value)
{
	size_t ks = l->key_size, vs = l->value_size;
	int err;

	if (mm->n == mm->cap && (err = grow(mm, l)))
		return err;
	memmove(mm->canon + (at + 1) * ks, mm->canon + at * ks, (mm->n - at) * ks);
	memmove(mm->keys + (at + 1) * ks, mm->keys + at * ks, (mm->n - at) * ks);
	memmove(mm->values + (at + 1) * vs, mm->values + at * vs, (mm->n - at) * vs);
	memcpy(mm->canon + at * ks, canon, ks);
	memcpy(mm->keys + at * ks, key, ks);
	memcpy(mm->values + at * vs, value, vs);
	mm->n++;
	return 0;
}

static int mt_lookup(void *ctx, int map, const void *key, void *value)
{
	struct mem_target *m = ctx;
	unsigned char canon[MAX_KEY];
	bool found;
	size_t at;
	int err;

	if (!valid_map(map))
		return -EINVAL;
	if ((err = canonical_key(map, key, canon)))
		return err;
	at = find(&m->maps[map], layouts[map].key_size, canon, &found);
	if (!found)
		return -ENOENT;
	memcpy(value, m->maps[map].values + at * layouts[map].value_size, layouts[map].value_size);
	return 0;
}

static int mt_update(void *ctx, int map, const void *key, const void *value)
{
	struct mem_target *m = ctx;
	const struct map_layout *l;
	struct mem_map *mm;
	unsigned char canon[MAX_KEY];
	bool found;
	size_t at;
	int err;

	if (!valid_map(map))
		return -EINVAL;
	if (map <= MESH_MAP_STATE && m->fail_in && !--m->fail_in)
		return m->fail_err;
	l = &layouts[map];
	mm = &m->maps[map];
	if ((err = canonical_key(map, key, canon)))
		return err;
	at = find(mm, l->key_size, canon, &found);
	if (!found && l->kind == MEM_ARRAY)
		return -E2BIG; /* past max_entries */
	if (!found)
		return insert(mm, l, at, canon, key, value);
	/* The trie keeps the key of the last update (its host bits too). */
	memcpy(mm->keys + at * l->key_size, key, l->key_size);
	memcpy(mm->values + at * l->value_size, value, l->value_size);
	return 0;
}

static int mt_delete(void *ctx, int map, const void *key)
{
	struct mem_target *m = ctx;
	const struct map_layout *l;
	struct mem_map *mm;
	unsigned char canon[MAX_KEY];
	size_t at, ks, vs;
	bool found;
	int err;

	if (!valid_map(map) || layouts[map].kind == MEM_ARRAY)
		return -EINVAL;
	l = &layouts[map];
	mm = &m->maps[map];
	ks = l->key_size;
	vs = l->value_size;
	if ((err = canonical_key(map, key, canon)))
		return err;
	at = find(mm, ks, canon, &found);
	if (!found)
		return -ENOENT;
	memmove(mm->canon + at * ks, mm->canon + (at + 1) * ks, (mm->n - at - 1) * ks);
	memmove(mm->keys + at * ks, mm->keys + (at + 1) * ks, (mm->n - at - 1) * ks);
	memmove(mm->values + at * vs, mm->values + (at + 1) * vs, (mm->n - at - 1) * vs);
	mm->n--;
	return 0;
}

/* The key after KEY; a KEY that is not there restarts at the first entry,
 * as the kernel's hash maps, LPM trie and arrays do. */
static int mt_next_key(void *ctx, int map, const void *key, void *next)
{
	struct mem_target *m = ctx;
	struct mem_map *mm;
	unsigned char canon[MAX_KEY];
	size_t at = 0;
	bool found = false;

	if (!valid_map(map))
		return -EINVAL;
	mm = &m->maps[map];
	if (key && !canonical_key(map, key, canon)) {
		at = find(mm, layouts[map].key_size, canon, &found);
		at = found ? at + 1 : 0;
	}
	if (at >= mm->n)
		return -ENOENT;
	memcpy(next, mm->keys + at * layouts[map].key_size, layouts[map].key_size);
	return 0;
}

/* Batches stop at the first failing element, as the kernel's do. */
static int mt_update_batch(void *ctx, int map, const void *keys, const void *values, __u32 n)
{
	const unsigned char *k = keys, *v = values;
	__u32 i;
	int err;

	if (!valid_map(map) || layouts[map].kind == MEM_LPM)
		return -EOPNOTSUPP;
	for (i = 0; i < n; i++)
		if ((err = mt_update(ctx, map, k + i * layouts[map].key_size,
				     v + i * layouts[map].value_size)))
			return err;
	return 0;
}

static int mt_delete_batch(void *ctx, int map, const void *keys, __u32 n)
{
	const unsigned char *k = keys;
	__u32 i;
	int err;

	if (!valid_map(map) || layouts[map].kind == MEM_LPM)
		return -EOPNOTSUPP;
	for (i = 0; i < n; i++)
		if ((err = mt_delete(ctx, map, k + i * layouts[map].key_size)))
			return err;
	return 0;
}

static const struct mesh_target_ops mem_ops = {
    .lookup = mt_lookup,
    .update = mt_update,
    .delete = mt_delete,
    .next_key = mt_next_key,
};

static const struct mesh_target_ops mem_batch_ops = {
    .lookup = mt_lookup,
    .update = mt_update,
    .delete = mt_delete,
    .next_key = mt_next_key,
    .update_batch = mt_update_batch,
    .delete_batch = mt_delete_batch,
};

struct mem_target *mem_target_create(bool batch)
{
	unsigned char canon[sizeof(__u32)] = {0};
	struct shunt_mesh_state st = {0};
	struct mem_target *m;
	__u32 zero = 0;
	int i;

	for (i = 0; i < MESH_TARGET_MAPS; i++)
		if (layouts[i].key_size > MAX_KEY)
			return NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->batch = batch;
	/* The state array always has its one element. */
	if (insert(&m->maps[MESH_MAP_STATE], &layouts[MESH_MAP_STATE], 0, canon, &zero, &st)) {
		mem_target_destroy(m);
		return NULL;
	}
	return m;
}

void mem_target_destroy(struct mem_target *m)
{
	int i;

	if (!m)
		return;
	for (i = 0; i < MESH_TARGET_MAPS; i++) {
		free(m->maps[i].canon);
		free(m->maps[i].keys);
		free(m->maps[i].values);
	}
	free(m);
}

struct mesh_target mem_target_as_target(struct mem_target *m)
{
	return (struct mesh_target){.ops = m->batch ? &mem_batch_ops : &mem_ops, .ctx = m};
}

void mem_target_fail_update(struct mem_target *m, unsigned long n, int err)
{
	m->fail_in = n;
	m->fail_err = err;
}

size_t mem_target_count(const struct mem_target *m, int map)
{
	return m->maps[map].n;
}

static __u32 key_gen(const struct map_layout *l, const unsigned char *key)
{
	__u32 g32 = 0;

	if (l->gen_size == 1)
		return key[l->gen_off];
	memcpy(&g32, key + l->gen_off, sizeof(g32));
	return g32;
}

static int rec_cmp(const void *a, const void *b, void *size)
{
	return memcmp(a, b, *(const size_t *)size);
}

int mem_target_dump(const struct mem_target *m, int map, int gen, struct mem_dump *out)
{
	const struct map_layout *l = &layouts[map];
	const struct mem_map *mm = &m->maps[map];
	size_t rec = l->key_size + l->value_size, i;
	unsigned char *r;

	memset(out, 0, sizeof(*out));
	out->key_size = l->key_size;
	out->value_size = l->value_size;
	out->recs = malloc(mm->n * rec + 1);
	if (!out->recs)
		return -ENOMEM;
	for (i = 0; i < mm->n; i++) {
		const unsigned char *key = mm->keys + i * l->key_size;

		if (gen >= 0 && l->gen_size && key_gen(l, key) != (__u32)gen)
			continue;
		r = out->recs + out->n * rec;
		memcpy(r, key, l->key_size);
		if (gen >= 0 && l->gen_size)
			memset(r + l->gen_off, 0, l->gen_size);
		memcpy(r + l->key_size, mm->values + i * l->value_size, l->value_size);
		out->n++;
	}
	qsort_r(out->recs, out->n, rec, rec_cmp, &rec);
	return 0;
}

void mem_dump_free(struct mem_dump *d)
{
	free(d->recs);
	memset(d, 0, sizeof(*d));
}
