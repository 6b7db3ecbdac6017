// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "mesh_loader.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <linux/types.h>
#include <bpf/libbpf.h>

#include "common/log.h"
#include "mesh_shared.h"
#include "mounts.h"
#include "mesh.skel.h"

const char *const shunt_mesh_link_names[] = {
    "shunt_ingress",	  "shunt_recvmsg4",	"shunt_recvmsg6",
    "shunt_getpeername4", "shunt_getpeername6", "shunt_sendmsg4",
    "shunt_sendmsg6",	  "shunt_connect4",	"shunt_connect6",
};
const size_t shunt_mesh_link_count =
    sizeof(shunt_mesh_link_names) / sizeof(shunt_mesh_link_names[0]);

/* Pinned, never attached here: the proxy and the CLI run the syscall
 * programs (BPF_PROG_RUN), the proxy attaches the marker to its pod-facing
 * interface. */
static const char *const proxy_progs[] = {"shunt_flow_inject", "shunt_tproxy_mark",
					  "shunt_policy_query"};

static bool for_proxy(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(proxy_progs) / sizeof(proxy_progs[0]); i++)
		if (!strcmp(proxy_progs[i], name))
			return true;
	return false;
}

static bool listed(const char *name)
{
	size_t i;

	for (i = 0; i < shunt_mesh_link_count; i++)
		if (!strcmp(shunt_mesh_link_names[i], name))
			return true;
	return false;
}

int shunt_mesh_links_pinned(const struct shunt_pins *pins, size_t *pinned, size_t *expected)
{
	struct bpf_program *prog;
	struct mesh_bpf *skel;
	char path[PATH_MAX];

	*pinned = *expected = 0;
	skel = mesh_bpf__open();
	if (!skel)
		return -errno;
	bpf_object__for_each_program (prog, skel->obj) {
		if (for_proxy(bpf_program__name(prog)))
			continue;
		(*expected)++;
		if (!shunt_pin_path(path, sizeof(path), pins->links, bpf_program__name(prog)) &&
		    access(path, F_OK) == 0)
			(*pinned)++;
	}
	mesh_bpf__destroy(skel);
	return 0;
}

void shunt_mesh_unpin(const struct shunt_pins *pins, bool maps)
{
	struct bpf_program *prog;
	struct mesh_bpf *skel;
	struct bpf_map *map;

	skel = mesh_bpf__open();
	if (!skel)
		return;
	bpf_object__for_each_program (prog, skel->obj) {
		shunt_unpin(pins->links, bpf_program__name(prog));
		shunt_unpin(pins->progs, bpf_program__name(prog));
	}
	if (maps) {
		bpf_object__for_each_map (map, skel->obj)
			if (strncmp(bpf_map__name(map), "shunt_", 6) == 0)
				shunt_unpin(pins->maps, bpf_map__name(map));
	}
	mesh_bpf__destroy(skel);
}

/* A fresh state map gets flow events on; a reused one keeps what it has. */
static int init_state(struct mesh_bpf *skel)
{
	struct shunt_mesh_state st, zero = {};
	int fd = bpf_map__fd(skel->maps.shunt_mesh_state);
	__u32 key = 0;

	if (bpf_map_lookup_elem(fd, &key, &st))
		return -errno;
	if (memcmp(&st, &zero, sizeof(st)) != 0)
		return 0;
	st.flow_events = 1;
	return bpf_map_update_elem(fd, &key, &st, BPF_ANY) ? -errno : 0;
}

/* Opens the object on the pins with what F allows, for the mesh cgroup
 * CG_FD; NULL with errno. */
static struct mesh_bpf *open_on_pins(const struct shunt_pins *pins, int cg_fd,
				     const struct shunt_features *f)
{
	LIBBPF_OPTS(bpf_object_open_opts, open_opts, .pin_root_path = pins->maps);
	struct mesh_bpf *skel;
	int level = shunt_cgroup_level(cg_fd);

	if (level < 0) {
		pr_err("cannot tell the level of the mesh cgroup: %s", strerror(-level));
		errno = -level;
		return NULL;
	}
	skel = mesh_bpf__open_opts(&open_opts);
	if (!skel)
		return NULL;
	skel->rodata->shunt_have_set_retval = shunt_feature_on(f, SHUNT_FEAT_SET_RETVAL);
	skel->rodata->shunt_have_cgroup_ancestors =
	    shunt_feature_on(f, SHUNT_FEAT_CGROUP_ANCESTORS);
	skel->rodata->shunt_mesh_cgroup_level = (__u32)level;
	return skel;
}

static int load_with_features(const struct shunt_pins *pins, int cg_fd,
			      const struct shunt_features *f, struct mesh_bpf **out)
{
	struct mesh_bpf *skel;
	int err;

	skel = open_on_pins(pins, cg_fd, f);
	if (!skel) {
		err = -errno;
		pr_err("cannot open the services/policy BPF object: %s", strerror(-err));
		return err;
	}
	err = mesh_bpf__load(skel);
	if (err) {
		mesh_bpf__destroy(skel);
		pr_err("cannot load the services/policy programs: %s", strerror(-err));
		return err;
	}
	*out = skel;
	return 0;
}

int shunt_mesh_attach(const struct shunt_pins *pins, int cg_fd, const struct shunt_features *f)
{
	struct bpf_program *prog;
	struct bpf_link *link;
	struct mesh_bpf *skel = NULL;
	char path[PATH_MAX];
	int err;

	err = load_with_features(pins, cg_fd, f, &skel);
	if (err)
		return err;
	err = init_state(skel);
	if (err) {
		pr_err("cannot initialise shunt_mesh_state: %s", strerror(-err));
		goto cleanup;
	}
	bpf_object__for_each_program (prog, skel->obj) {
		const char *name = bpf_program__name(prog);

		if (for_proxy(name)) {
			if (!bpf_program__autoload(prog))
				continue;
			err = shunt_pin_path(path, sizeof(path), pins->progs, name);
			if (!err) {
				unlink(path); /* an older one, from before an upgrade */
				err = bpf_program__pin(prog, path);
			}
			if (err) {
				pr_err("cannot pin program %s: %s", name, strerror(-err));
				goto cleanup;
			}
			continue;
		}
		/* status and the tests go by the list: it must name them all. */
		if (!listed(name)) {
			pr_err("internal: program %s is missing from shunt_mesh_link_names", name);
			err = -EINVAL;
			goto cleanup;
		}
		err = shunt_pin_path(path, sizeof(path), pins->progs, name);
		if (!err)
			err = bpf_program__pin(prog, path);
		if (err) {
			pr_err("cannot pin program %s: %s", name, strerror(-err));
			goto cleanup;
		}
		link = bpf_program__attach_cgroup(prog, cg_fd);
		if (!link) {
			err = -errno;
			pr_err("cannot attach %s: %s", name, strerror(-err));
			goto cleanup;
		}
		err = shunt_pin_path(path, sizeof(path), pins->links, name);
		if (!err)
			err = bpf_link__pin(link, path);
		bpf_link__destroy(link);
		if (err) {
			pr_err("cannot pin link %s: %s", name, strerror(-err));
			goto cleanup;
		}
	}
cleanup:
	if (err)
		shunt_mesh_unpin(pins, false);
	mesh_bpf__destroy(skel);
	return err;
}
