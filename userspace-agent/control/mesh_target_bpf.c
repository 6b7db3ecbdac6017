// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The apply target of a running datapath: its pinned maps (mesh_apply.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "common/log.h"
#include "mesh_apply.h"

struct bpf_target {
	int fds[MESH_TARGET_MAPS];
};

static const char *map_name(int map)
{
	static const char *const extra[] = {"shunt_mesh_state", "shunt_workloads",
					    "shunt_workload_names"};

	return map < PLAN_MAPS ? mesh_plan_map_names[map] : extra[map - PLAN_MAPS];
}

static int fd_of(void *ctx, int map)
{
	return ((struct bpf_target *)ctx)->fds[map];
}

static int bt_lookup(void *ctx, int map, const void *key, void *value)
{
	return bpf_map_lookup_elem(fd_of(ctx, map), key, value) ? -errno : 0;
}

static int bt_update(void *ctx, int map, const void *key, const void *value)
{
	return bpf_map_update_elem(fd_of(ctx, map), key, value, BPF_ANY) ? -errno : 0;
}

static int bt_delete(void *ctx, int map, const void *key)
{
	return bpf_map_delete_elem(fd_of(ctx, map), key) ? -errno : 0;
}

static int bt_next_key(void *ctx, int map, const void *key, void *next)
{
	return bpf_map_get_next_key(fd_of(ctx, map), key, next) ? -errno : 0;
}

static int bt_update_batch(void *ctx, int map, const void *keys, const void *values, __u32 n)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = BPF_ANY);
	__u32 count = n;

	/* The LPM trie has no batch operations. */
	if (map == PLAN_IPCACHE)
		return -EOPNOTSUPP;
	return bpf_map_update_batch(fd_of(ctx, map), keys, values, &count, &opts) ? -errno : 0;
}

static int bt_delete_batch(void *ctx, int map, const void *keys, __u32 n)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u32 count = n;

	if (map == PLAN_IPCACHE)
		return -EOPNOTSUPP;
	return bpf_map_delete_batch(fd_of(ctx, map), keys, &count, &opts) ? -errno : 0;
}

static const struct mesh_target_ops bpf_target_ops = {
    .lookup = bt_lookup,
    .update = bt_update,
    .delete = bt_delete,
    .next_key = bt_next_key,
    .update_batch = bt_update_batch,
    .delete_batch = bt_delete_batch,
};

int mesh_target_open(struct mesh_target *t, const struct shunt_pins *pins)
{
	struct bpf_target *bt;
	int i, err;

	bt = calloc(1, sizeof(*bt));
	if (!bt)
		return -ENOMEM;
	for (i = 0; i < MESH_TARGET_MAPS; i++)
		bt->fds[i] = -1;
	t->ops = &bpf_target_ops;
	t->ctx = bt;
	for (i = 0; i < MESH_TARGET_MAPS; i++) {
		bt->fds[i] = shunt_pinned_map_fd(pins, map_name(i));
		if (bt->fds[i] < 0) {
			err = bt->fds[i];
			pr_err("map %s is not pinned under %s: %s", map_name(i), pins->maps,
			       strerror(-err));
			mesh_target_close(t);
			return err;
		}
	}
	return 0;
}

void mesh_target_close(struct mesh_target *t)
{
	struct bpf_target *bt = t->ctx;
	int i;

	if (!bt)
		return;
	for (i = 0; i < MESH_TARGET_MAPS; i++)
		if (bt->fds[i] >= 0)
			close(bt->fds[i]);
	free(bt);
	t->ctx = NULL;
}
