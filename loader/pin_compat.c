// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "pin_compat.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bypass.skel.h"
#include "mesh.skel.h"

/* The first map of OBJ whose pin under PINS differs; 0, -EPROTO or -errno. */
static int check_object(struct bpf_object *obj, const struct shunt_pins *pins, char *why,
			size_t len)
{
	struct bpf_map_info info;
	struct bpf_map *map;
	char path[PATH_MAX];
	__u32 info_len;
	int fd, err;

	bpf_object__for_each_map (map, obj) {
		const char *name = bpf_map__name(map);

		if (strncmp(name, "shunt_", 6) ||
		    shunt_pin_path(path, sizeof(path), pins->maps, name) || access(path, F_OK))
			continue;
		fd = bpf_obj_get(path);
		if (fd < 0)
			return -errno;
		memset(&info, 0, sizeof(info));
		info_len = sizeof(info);
		err = bpf_obj_get_info_by_fd(fd, &info, &info_len) ? -errno : 0;
		close(fd);
		if (err)
			return err;
		if (info.type == (__u32)bpf_map__type(map) &&
		    info.key_size == bpf_map__key_size(map) &&
		    info.value_size == bpf_map__value_size(map))
			continue;
		snprintf(why, len,
			 "map %s pinned under %s has type %u, key %u and value %u bytes; this "
			 "shunt's has type %u, key %u and value %u (loaded by another version)",
			 name, pins->maps, info.type, info.key_size, info.value_size,
			 (unsigned int)bpf_map__type(map), bpf_map__key_size(map),
			 bpf_map__value_size(map));
		return -EPROTO;
	}
	return 0;
}

int shunt_pins_compatible(const struct shunt_pins *pins, char *why, size_t len)
{
	struct bypass_bpf *bypass = bypass_bpf__open();
	struct mesh_bpf *mesh = mesh_bpf__open();
	int err;

	if (!bypass || !mesh) {
		err = -errno;
		goto cleanup;
	}
	err = check_object(bypass->obj, pins, why, len);
	if (!err)
		err = check_object(mesh->obj, pins, why, len);
cleanup:
	mesh_bpf__destroy(mesh);
	bypass_bpf__destroy(bypass);
	return err;
}
