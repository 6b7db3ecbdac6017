// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "mesh_apply.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "log.h"

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
static long purge_gen(int map, int fd, size_t key_size, __u32 gen)
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
	for (tmp = NULL; !bpf_map_get_next_key(fd, tmp, next); tmp = cur) {
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
	if (n) {
		LIBBPF_OPTS(bpf_map_batch_opts, opts);
		__u32 count = (__u32)n;

		if (bpf_map_delete_batch(fd, keys, &count, &opts)) {
			/* No batch support (LPM trie) or a key gone meanwhile: one by one. */
			for (i = 0; i < n; i++)
				bpf_map_delete_elem(fd, keys + i * key_size);
		}
	}
	err = (long)n;
out:
	free(keys);
	free(cur);
	free(next);
	return err;
}

static int write_gen(int map, int fd, const struct kv_vec *v, __u32 gen)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = BPF_ANY);
	unsigned char *keys;
	__u32 count = (__u32)v->n;
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
	if (map != PLAN_IPCACHE && !bpf_map_update_batch(fd, keys, v->values, &count, &opts))
		goto out;
	for (i = 0; i < v->n; i++) {
		if (bpf_map_update_elem(fd, keys + i * v->key_size, v->values + i * v->value_size,
					BPF_ANY)) {
			err = -errno;
			pr_err("cannot write %s: %s%s", mesh_plan_map_names[map], strerror(-err),
			       err == -E2BIG || err == -ENOMEM ? " (map full)" : "");
			break;
		}
	}
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
static int sync_exact(int fd, const struct kv_vec *v, const char *name)
{
	unsigned char *sorted = NULL, *cur = NULL, *next = NULL, *tmp;
	size_t i;
	int err = 0;

	for (i = 0; i < v->n; i++) {
		if (bpf_map_update_elem(fd, v->keys + i * v->key_size,
					v->values + i * v->value_size, BPF_ANY)) {
			err = -errno;
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
	memcpy(sorted, v->keys, v->n * v->key_size);
	key_cmp_size = (int)v->key_size;
	qsort(sorted, v->n, v->key_size, key_cmp);
	/* Deleting while iterating restarts the walk; collect first. */
	for (tmp = NULL; !bpf_map_get_next_key(fd, tmp, next);) {
		memcpy(cur, next, v->key_size);
		tmp = cur;
		if (bsearch(cur, sorted, v->n, v->key_size, key_cmp))
			continue;
		bpf_map_delete_elem(fd, cur);
		tmp = NULL; /* start over: the deleted key cannot be a cursor */
	}
out:
	free(sorted);
	free(cur);
	free(next);
	return err;
}

int mesh_state_read_fd(int fd, __u32 *gen, __u64 *version)
{
	struct shunt_mesh_state st;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(fd, &zero, &st))
		return -errno;
	*gen = st.gen & 1;
	*version = st.version;
	return 0;
}

int mesh_state_read(const struct shunt_pins *pins, __u32 *gen, __u64 *version)
{
	struct shunt_mesh_state st;
	__u32 zero = 0;
	int fd, err = 0;

	fd = shunt_pinned_map_fd(pins, "shunt_mesh_state");
	if (fd < 0)
		return fd;
	if (bpf_map_lookup_elem(fd, &zero, &st))
		err = -errno;
	close(fd);
	if (!err) {
		*gen = st.gen & 1;
		*version = st.version;
	}
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
 * Turns a map holding OLD (under generation GEN, or unversioned when MAP is
 * -1) into one holding NEW: writes new or changed entries, then deletes keys
 * NEW lacks. Returns the number of operations or -errno.
 */
static long write_diff(int map, int fd, struct kv_vec *old, struct kv_vec *new, __u32 gen,
		       const char *name)
{
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
		if (map >= 0)
			key_set_gen(map, key, gen);
		if (bpf_map_update_elem(fd, key, new->values + i *new->value_size, BPF_ANY)) {
			err = -errno;
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
		if (map >= 0)
			key_set_gen(map, key, gen);
		if (bpf_map_delete_elem(fd, key) && errno != ENOENT) {
			err = -errno;
			pr_err("cannot delete from %s: %s", name, strerror(-err));
			goto out;
		}
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

int mesh_apply(const struct shunt_pins *pins, struct mesh_plan *plan, struct mesh_shadow *shadow,
	       struct mesh_apply_stats *stats)
{
	int fds[PLAN_MAPS], state_fd = -1, wl_fd = -1, names_fd = -1, i, err = 0;
	struct shunt_mesh_state st;
	__u32 zero = 0, next, cur;
	bool diff;
	long ops;
	__u64 t0;

	memset(stats, 0, sizeof(*stats));
	for (i = 0; i < PLAN_MAPS; i++)
		fds[i] = -1;
	for (i = 0; i < PLAN_MAPS; i++) {
		fds[i] = shunt_pinned_map_fd(pins, mesh_plan_map_names[i]);
		if (fds[i] < 0) {
			err = fds[i];
			pr_err("map %s is not pinned under %s: %s", mesh_plan_map_names[i],
			       pins->maps, strerror(-err));
			goto out;
		}
	}
	state_fd = shunt_pinned_map_fd(pins, "shunt_mesh_state");
	wl_fd = shunt_pinned_map_fd(pins, "shunt_workloads");
	names_fd = shunt_pinned_map_fd(pins, "shunt_workload_names");
	if (state_fd < 0 || wl_fd < 0 || names_fd < 0) {
		err = -ENOENT;
		pr_err("the datapath maps are not pinned under %s", pins->maps);
		goto out;
	}
	if (bpf_map_lookup_elem(state_fd, &zero, &st)) {
		err = -errno;
		goto out;
	}
	cur = st.gen & 1;
	next = cur ^ 1;
	diff = shadow && shadow->known[next];

	t0 = now_ns();
	for (i = 0; i < PLAN_MAPS; i++) {
		stats->entries += plan->maps[i].n;
		if (diff) {
			ops = write_diff(i, fds[i], &shadow->plans[next].maps[i], &plan->maps[i],
					 next, mesh_plan_map_names[i]);
			if (ops < 0) {
				err = (int)ops;
				break;
			}
			stats->written += (__u64)ops;
			continue;
		}
		/* Unknown content (a crash, another agent): start from empty. */
		purge_gen(i, fds[i], plan->maps[i].key_size, next);
		err = write_gen(i, fds[i], &plan->maps[i], next);
		if (err)
			break;
		stats->written += plan->maps[i].n;
	}
	if (shadow && shadow->known[next]) {
		/* Whatever happens now, that generation no longer holds it. */
		mesh_plan_free(&shadow->plans[next]);
		shadow->known[next] = false;
	}
	if (err) {
		pr_err("nothing applied; the previous configuration (version %llu) stays",
		       (unsigned long long)st.version);
		goto out;
	}
	/* The flip: from here on every program decides with the new generation. */
	st.gen = next;
	st.version++;
	memcpy(st.proxy_addr, plan->proxy_addr, 16);
	st.proxy_port = plan->proxy_port;
	memcpy(st.proxy_addr6, plan->proxy_addr6, 16);
	st.proxy_port6 = plan->proxy_port6;
	st.applied_ns = now_ns();
	if (bpf_map_update_elem(state_fd, &zero, &st, BPF_ANY)) {
		err = -errno;
		goto out;
	}
	stats->write_ns = st.applied_ns - t0;
	stats->version = st.version;
	stats->gen = next;
	stats->incremental = diff;

	/* Bypass membership follows; it only decides bypass eligibility. */
	t0 = now_ns();
	if (shadow && shadow->known[cur]) {
		ops = write_diff(-1, wl_fd, &shadow->plans[cur].workloads, &plan->workloads, 0,
				 "shunt_workloads");
		if (ops >= 0)
			ops = write_diff(-1, names_fd, &shadow->plans[cur].workload_names,
					 &plan->workload_names, 0, "shunt_workload_names");
		err = ops < 0 ? (int)ops : 0;
	} else {
		err = sync_exact(wl_fd, &plan->workloads, "shunt_workloads");
		if (!err)
			err = sync_exact(names_fd, &plan->workload_names, "shunt_workload_names");
	}
	if (err) {
		pr_warn("policy and services are applied, bypass membership is not: %s",
			strerror(-err));
		err = 0;
	}
	stats->cleanup_ns = now_ns() - t0;
	if (shadow) {
		shadow->plans[next] = *plan;
		shadow->known[next] = true;
		memset(plan, 0, sizeof(*plan));
	}
out:
	for (i = 0; i < PLAN_MAPS; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (state_fd >= 0)
		close(state_fd);
	if (wl_fd >= 0)
		close(wl_fd);
	if (names_fd >= 0)
		close(names_fd);
	return err;
}
