// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "pairs.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "mesh_shared.h"

static void workload_name(int names_fd, __u32 id, char *buf, size_t len)
{
	struct shunt_workload_name wn;

	if (names_fd >= 0 && !bpf_map_lookup_elem(names_fd, &id, &wn)) {
		wn.name[sizeof(wn.name) - 1] = '\0';
		snprintf(buf, len, "%s", wn.name);
	} else {
		snprintf(buf, len, "#%u", id);
	}
}

int shunt_pairs_each(const struct shunt_pins *pins, shunt_pair_fn fn, void *ctx)
{
	struct shunt_pair_key key, next, *prev = NULL;
	char client[SHUNT_NAME_MAX], server[SHUNT_NAME_MAX];
	struct bpf_map_info info = {};
	__u32 info_len = sizeof(info);
	struct shunt_pair val;
	size_t rows = 0;
	int fd, names;

	fd = shunt_pinned_map_fd(pins, "shunt_pairs");
	if (fd < 0)
		return fd;
	if (!bpf_obj_get_info_by_fd(fd, &info, &info_len) && info.value_size != sizeof(val)) {
		close(fd);
		return -EPROTO; /* a datapath of another version: another layout */
	}
	names = shunt_pinned_map_fd(pins, "shunt_workload_names");
	while (rows++ < SHUNT_MAX_PAIRS && !bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (key.client < SHUNT_ID_FIRST_WORKLOAD || key.server < SHUNT_ID_FIRST_WORKLOAD)
			continue; /* the node proxy's legs */
		if (bpf_map_lookup_elem(fd, &key, &val))
			continue; /* evicted meanwhile (LRU) */
		workload_name(names, key.client, client, sizeof(client));
		workload_name(names, key.server, server, sizeof(server));
		fn(client, server, &val, ctx);
	}
	if (names >= 0)
		close(names);
	close(fd);
	return 0;
}
