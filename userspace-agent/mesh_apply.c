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
    [PLAN_CGROUP_IDENTS] = {0, 4}, [PLAN_IPCACHE] = {4, 1},	 [PLAN_SERVICES] = {0, 1},
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

int mesh_apply(const struct shunt_pins *pins, const struct mesh_plan *plan,
	       struct mesh_apply_stats *stats)
{
	int fds[PLAN_MAPS], state_fd = -1, wl_fd = -1, names_fd = -1, i, err = 0;
	struct shunt_mesh_state st;
	__u32 zero = 0, next;
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
	next = (st.gen & 1) ^ 1;

	/* A crash between writing and flipping may have left a half generation. */
	for (i = 0; i < PLAN_MAPS; i++)
		purge_gen(i, fds[i], plan->maps[i].key_size, next);

	t0 = now_ns();
	for (i = 0; i < PLAN_MAPS; i++) {
		err = write_gen(i, fds[i], &plan->maps[i], next);
		if (err)
			break;
		stats->entries += plan->maps[i].n;
	}
	if (err) {
		for (i = 0; i < PLAN_MAPS; i++)
			purge_gen(i, fds[i], plan->maps[i].key_size, next);
		pr_err("nothing applied; the previous configuration (version %llu) stays",
		       (unsigned long long)st.version);
		goto out;
	}
	/* The flip: from here on every program decides with the new generation. */
	st.gen = next;
	st.version++;
	st.applied_ns = now_ns();
	if (bpf_map_update_elem(state_fd, &zero, &st, BPF_ANY)) {
		err = -errno;
		for (i = 0; i < PLAN_MAPS; i++)
			purge_gen(i, fds[i], plan->maps[i].key_size, next);
		goto out;
	}
	stats->write_ns = st.applied_ns - t0;
	stats->version = st.version;
	stats->gen = next;

	t0 = now_ns();
	for (i = 0; i < PLAN_MAPS; i++)
		purge_gen(i, fds[i], plan->maps[i].key_size, next ^ 1);
	/* Bypass membership follows; it only decides bypass eligibility. */
	if ((err = sync_exact(wl_fd, &plan->workloads, "shunt_workloads")) ||
	    (err = sync_exact(names_fd, &plan->workload_names, "shunt_workload_names")))
		pr_warn("policy and services are applied, bypass membership is not: %s",
			strerror(-err));
	stats->cleanup_ns = now_ns() - t0;
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
