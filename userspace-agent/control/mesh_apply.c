// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "mesh_apply.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "common/log.h"

/* Where each map's key keeps its generation. */
static const struct {
	size_t offset, size;
} gen_field[PLAN_MAPS] = {
    [PLAN_CGROUP_IDENTS] = {0, 4}, [PLAN_IPCACHE] = {4, 1},	[PLAN_SERVICES] = {0, 1},
    [PLAN_BACKENDS] = {0, 4},	   [PLAN_POLICY_DENY] = {0, 1}, [PLAN_POLICY_ALLOW] = {0, 1},
    [PLAN_SUBJECTS] = {0, 4},	   [PLAN_NAMES] = {0, 4},
};

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

static __u32 key_gen(int map, const unsigned char *key)
{
	__u32 g32;

	if (gen_field[map].size == 1)
		return key[gen_field[map].offset];
	memcpy(&g32, key + gen_field[map].offset, 4);
	return g32;
}

static void key_set_gen(int map, unsigned char *key, __u32 gen)
{
	if (gen_field[map].size == 1)
		key[gen_field[map].offset] = (unsigned char)gen;
	else
		memcpy(key + gen_field[map].offset, &gen, 4);
}

/* Deletes every entry of generation GEN; returns how many or -errno. */
static long purge_gen(const struct mesh_target *t, int map, size_t key_size, __u32 gen)
{
	unsigned char *keys = NULL, *cur = NULL, *next = NULL, *tmp;
	size_t n = 0, cap = 0, i;
	long err = 0;

	cur = malloc(key_size);
	next = malloc(key_size);
	if (!cur || !next) {
		err = -ENOMEM;
		goto out;
	}
	for (tmp = NULL; !t->ops->next_key(t->ctx, map, tmp, next); tmp = cur) {
		memcpy(cur, next, key_size);
		if (key_gen(map, cur) != gen)
			continue;
		if (n == cap) {
			unsigned char *k;

			cap = cap ? cap * 2 : 1024;
			k = realloc(keys, cap * key_size);
			if (!k) {
				err = -ENOMEM;
				goto out;
			}
			keys = k;
		}
		memcpy(keys + n * key_size, cur, key_size);
		n++;
	}
	/* No batch (the LPM trie) or a key gone meanwhile: one by one. */
	if (n && (!t->ops->delete_batch || t->ops->delete_batch(t->ctx, map, keys, (__u32)n)))
		for (i = 0; i < n; i++)
			t->ops->delete (t->ctx, map, keys + i * key_size);
	err = (long)n;
out:
	free(keys);
	free(cur);
	free(next);
	return err;
}

static int write_gen(const struct mesh_target *t, int map, const struct kv_vec *v, __u32 gen)
{
	unsigned char *keys;
	size_t i;
	int err = 0;

	if (!v->n)
		return 0;
	keys = malloc(v->n * v->key_size);
	if (!keys)
		return -ENOMEM;
	memcpy(keys, v->keys, v->n * v->key_size);
	for (i = 0; i < v->n; i++)
		key_set_gen(map, keys + i * v->key_size, gen);
	if (t->ops->update_batch &&
	    !t->ops->update_batch(t->ctx, map, keys, v->values, (__u32)v->n))
		goto out;
	for (i = 0; i < v->n && !err; i++)
		err = t->ops->update(t->ctx, map, keys + i * v->key_size,
				     v->values + i * v->value_size);
	if (err)
		pr_err("cannot write %s: %s%s", mesh_plan_map_names[map], strerror(-err),
		       err == -E2BIG || err == -ENOMEM ? " (map full)" : "");
out:
	free(keys);
	return err;
}

static int key_cmp_size;

static int key_cmp(const void *a, const void *b)
{
	return memcmp(a, b, (size_t)key_cmp_size);
}

/* Makes a plain hash map hold exactly V (no generations: bypass membership). */
static int sync_exact(const struct mesh_target *t, int map, const struct kv_vec *v,
		      const char *name)
{
	unsigned char *sorted = NULL, *cur = NULL, *next = NULL, *tmp;
	size_t i;
	int err = 0;

	for (i = 0; i < v->n; i++) {
		err = t->ops->update(t->ctx, map, v->keys + i * v->key_size,
				     v->values + i * v->value_size);
		if (err) {
			pr_err("cannot write %s: %s", name, strerror(-err));
			return err;
		}
	}
	sorted = malloc(v->n * v->key_size + 1);
	cur = malloc(v->key_size);
	next = malloc(v->key_size);
	if (!sorted || !cur || !next) {
		err = -ENOMEM;
		goto out;
	}
	if (v->n)
		memcpy(sorted, v->keys, v->n * v->key_size);
	key_cmp_size = (int)v->key_size;
	qsort(sorted, v->n, v->key_size, key_cmp);
	/* Deleting while iterating restarts the walk; collect first. */
	for (tmp = NULL; !t->ops->next_key(t->ctx, map, tmp, next);) {
		memcpy(cur, next, v->key_size);
		tmp = cur;
		if (bsearch(cur, sorted, v->n, v->key_size, key_cmp))
			continue;
		t->ops->delete (t->ctx, map, cur);
		tmp = NULL; /* start over: the deleted key cannot be a cursor */
	}
out:
	free(sorted);
	free(cur);
	free(next);
	return err;
}

/* Sets of 64-bit hashes, open addressing (0 marks an empty slot). */
static void hset_add(__u64 *slots, size_t mask, __u64 v)
{
	size_t i;

	v |= 1;
	for (i = (size_t)v & mask; slots[i] && slots[i] != v; i = (i + 1) & mask)
		;
	slots[i] = v;
}

static bool hset_has(const __u64 *slots, size_t mask, __u64 v)
{
	size_t i;

	v |= 1;
	for (i = (size_t)v & mask; slots[i]; i = (i + 1) & mask)
		if (slots[i] == v)
			return true;
	return false;
}

/* Word at a time: the diff hashes a few hundred thousand entries. */
static __u64 hash_bytes(__u64 h, const unsigned char *p, size_t len)
{
	__u64 w;

	for (; len >= 8; p += 8, len -= 8) {
		memcpy(&w, p, 8);
		h = (h ^ w) * 0x9e3779b97f4a7c15ull;
		h ^= h >> 29;
	}
	for (; len; p++, len--)
		h = (h ^ *p) * 1099511628211ull;
	return h ^ (h >> 32);
}

#define HASH_SEED 1469598103934665603ull

/* Entry I of V: its key's hash, and its key-and-value hash. */
static __u64 key_hash(const struct kv_vec *v, size_t i)
{
	return hash_bytes(HASH_SEED, v->keys + i * v->key_size, v->key_size);
}

static __u64 kv_hash(const struct kv_vec *v, size_t i)
{
	return hash_bytes(key_hash(v, i), v->values + i * v->value_size, v->value_size);
}

/* Builds V's hash sets once; a plan keeps them while it is a shadow. */
static int index_vec(struct kv_vec *v)
{
	size_t cap = 64, i;

	if (v->key_set)
		return 0;
	while (cap < v->n * 2)
		cap *= 2;
	v->key_set = calloc(cap, sizeof(__u64));
	v->kv_set = calloc(cap, sizeof(__u64));
	v->hashes = calloc(v->n * 2 + 1, sizeof(__u64));
	if (!v->key_set || !v->kv_set || !v->hashes) {
		free(v->key_set);
		free(v->kv_set);
		free(v->hashes);
		v->key_set = v->kv_set = v->hashes = NULL;
		return -ENOMEM;
	}
	v->set_mask = cap - 1;
	v->fingerprint = 0;
	for (i = 0; i < v->n; i++) {
		v->hashes[2 * i] = key_hash(v, i);
		v->hashes[2 * i + 1] = kv_hash(v, i);
		v->fingerprint += v->hashes[2 * i + 1];
		hset_add(v->key_set, v->set_mask, v->hashes[2 * i]);
		hset_add(v->kv_set, v->set_mask, v->hashes[2 * i + 1]);
	}
	return 0;
}

/*
 * Turns map MAP (of T) holding OLD under generation GEN (or unversioned,
 * for the bypass's own maps) into one holding NEW: writes new or changed
 * entries, then deletes keys NEW lacks. Returns the operations or -errno.
 */
static long write_diff(const struct mesh_target *t, int map, struct kv_vec *old, struct kv_vec *new,
		       __u32 gen, const char *name)
{
	bool versioned = map < PLAN_MAPS;
	unsigned char *key = NULL;
	long ops = 0;
	size_t i;
	int err;

	if ((err = index_vec(old)) || (err = index_vec(new)))
		return err;
	/* Same entries, nothing to do (most maps, for a one-rule change). */
	if (old->n == new->n && old->fingerprint == new->fingerprint)
		return 0;
	key = malloc(new->key_size);
	if (!key)
		return -ENOMEM;
	for (i = 0; i < new->n; i++) {
		if (hset_has(old->kv_set, old->set_mask, new->hashes[2 * i + 1]))
			continue;
		memcpy(key, new->keys + i *new->key_size, new->key_size);
		if (versioned)
			key_set_gen(map, key, gen);
		err = t->ops->update(t->ctx, map, key, new->values + i *new->value_size);
		if (err) {
			pr_err("cannot write %s: %s%s", name, strerror(-err),
			       err == -E2BIG || err == -ENOMEM ? " (map full)" : "");
			goto out;
		}
		ops++;
	}
	for (i = 0; i < old->n; i++) {
		if (hset_has(new->key_set, new->set_mask, old->hashes[2 * i]))
			continue;
		memcpy(key, old->keys + i * old->key_size, old->key_size);
		if (versioned)
			key_set_gen(map, key, gen);
		err = t->ops->delete (t->ctx, map, key);
		if (err && err != -ENOENT) {
			pr_err("cannot delete from %s: %s", name, strerror(-err));
			goto out;
		}
		err = 0;
		ops++;
	}
out:
	free(key);
	return err ? err : ops;
}

int mesh_plan_index(struct mesh_plan *plan)
{
	int i, err = 0;

	for (i = 0; i < PLAN_MAPS && !err; i++)
		err = index_vec(&plan->maps[i]);
	if (!err)
		err = index_vec(&plan->workloads);
	if (!err)
		err = index_vec(&plan->workload_names);
	return err;
}

void mesh_shadow_free(struct mesh_shadow *shadow)
{
	int g;

	for (g = 0; g < 2; g++) {
		if (shadow->known[g])
			mesh_plan_free(&shadow->plans[g]);
		shadow->known[g] = false;
	}
}

/* Generation NEXT of every configuration map: the difference from what it
 * holds when SHADOW knows, else all of it over an emptied generation. */
static int write_config_maps(const struct mesh_target *t, struct mesh_plan *plan,
			     struct mesh_shadow *shadow, __u32 next, bool diff,
			     struct mesh_apply_stats *stats)
{
	long ops;
	int i, err = 0;

	for (i = 0; i < PLAN_MAPS; i++) {
		stats->entries += plan->maps[i].n;
		if (diff) {
			ops = write_diff(t, i, &shadow->plans[next].maps[i], &plan->maps[i], next,
					 mesh_plan_map_names[i]);
			if (ops < 0)
				return (int)ops;
			stats->written += (__u64)ops;
			continue;
		}
		/* Unknown content (a crash, another agent): start from empty. */
		purge_gen(t, i, plan->maps[i].key_size, next);
		err = write_gen(t, i, &plan->maps[i], next);
		if (err)
			return err;
		stats->written += plan->maps[i].n;
	}
	return 0;
}

/* Bypass membership follows the flip; it only decides bypass eligibility. */
static void write_membership(const struct mesh_target *t, struct mesh_plan *plan,
			     struct mesh_shadow *shadow, __u32 cur)
{
	long ops;
	int err;

	if (shadow && shadow->known[cur] && !shadow->membership_stale) {
		ops = write_diff(t, MESH_MAP_WORKLOADS, &shadow->plans[cur].workloads,
				 &plan->workloads, 0, "shunt_workloads");
		if (ops >= 0)
			ops = write_diff(t, MESH_MAP_WORKLOAD_NAMES,
					 &shadow->plans[cur].workload_names, &plan->workload_names,
					 0, "shunt_workload_names");
		err = ops < 0 ? (int)ops : 0;
	} else {
		err = sync_exact(t, MESH_MAP_WORKLOADS, &plan->workloads, "shunt_workloads");
		if (!err)
			err = sync_exact(t, MESH_MAP_WORKLOAD_NAMES, &plan->workload_names,
					 "shunt_workload_names");
	}
	if (shadow)
		shadow->membership_stale = err != 0;
	if (err)
		pr_warn("policy and services are applied, bypass membership is not: %s",
			strerror(-err));
}

int mesh_apply_to(const struct mesh_target *t, struct mesh_plan *plan, struct mesh_shadow *shadow,
		  struct mesh_apply_stats *stats)
{
	struct shunt_mesh_state st;
	__u32 zero = 0, next, cur;
	bool diff;
	__u64 t0;
	int err;

	memset(stats, 0, sizeof(*stats));
	if ((err = t->ops->lookup(t->ctx, MESH_MAP_STATE, &zero, &st)))
		return err;
	cur = st.gen & 1;
	next = cur ^ 1;
	diff = shadow && shadow->known[next];

	t0 = now_ns();
	err = write_config_maps(t, plan, shadow, next, diff, stats);
	if (shadow && shadow->known[next]) {
		/* Whatever happens now, that generation no longer holds it. */
		mesh_plan_free(&shadow->plans[next]);
		shadow->known[next] = false;
	}
	if (err) {
		pr_err("nothing applied; the previous configuration (version %llu) stays",
		       (unsigned long long)st.version);
		return err;
	}
	/* The flip: from here on every program decides with the new generation. */
	st.gen = next;
	st.version++;
	memcpy(st.proxy_addr, plan->proxy_addr, 16);
	st.proxy_port = plan->proxy_port;
	memcpy(st.proxy_addr6, plan->proxy_addr6, 16);
	st.proxy_port6 = plan->proxy_port6;
	st.l7_port = plan->l7_port;
	st.l7_port6 = plan->l7_port6;
	st.applied_ns = now_ns();
	if ((err = t->ops->update(t->ctx, MESH_MAP_STATE, &zero, &st)))
		return err;
	stats->write_ns = st.applied_ns - t0;
	stats->version = st.version;
	stats->gen = next;
	stats->incremental = diff;

	t0 = now_ns();
	write_membership(t, plan, shadow, cur);
	stats->cleanup_ns = now_ns() - t0;
	if (shadow) {
		shadow->plans[next] = *plan;
		shadow->known[next] = true;
		memset(plan, 0, sizeof(*plan));
	}
	return 0;
}

int mesh_apply(const struct shunt_pins *pins, struct mesh_plan *plan, struct mesh_shadow *shadow,
	       struct mesh_apply_stats *stats)
{
	struct mesh_target t;
	int err;

	err = mesh_target_open(&t, pins);
	if (err)
		return err;
	err = mesh_apply_to(&t, plan, shadow, stats);
	mesh_target_close(&t);
	return err;
}
