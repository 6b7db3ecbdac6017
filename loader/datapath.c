// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "datapath.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bypass.skel.h"
#include "bypass_attach.h"
#include "common/log.h"
#include "mesh_loader.h"
#include "mounts.h"
#include "common/netns.h"
#include "socks_report.h"

/*
 * Names of the maps and programs come from the BPF object itself (opened,
 * never loaded), so unload and status can never miss one that was added.
 */
#define SHUNT_MAX_OBJECTS 32

struct object_names {
	const char *maps[SHUNT_MAX_OBJECTS];
	const char *progs[SHUNT_MAX_OBJECTS];
	size_t nmaps, nprogs;
	struct bypass_bpf *skel;
};

static int object_names_open(struct object_names *names)
{
	struct bpf_program *prog;
	struct bpf_map *map;

	memset(names, 0, sizeof(*names));
	names->skel = bypass_bpf__open();
	if (!names->skel)
		return -errno;
	bpf_object__for_each_map (map, names->skel->obj) {
		if (strncmp(bpf_map__name(map), "shunt_", 6) == 0 &&
		    names->nmaps < SHUNT_MAX_OBJECTS)
			names->maps[names->nmaps++] = bpf_map__name(map);
	}
	bpf_object__for_each_program (prog, names->skel->obj) {
		if (names->nprogs < SHUNT_MAX_OBJECTS)
			names->progs[names->nprogs++] = bpf_program__name(prog);
	}
	return 0;
}

static void object_names_close(struct object_names *names)
{
	bypass_bpf__destroy(names->skel);
	names->skel = NULL;
}

void shunt_config_defaults(struct shunt_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->bypass_enabled = 1;
	cfg->rx_guard = 1;
	cfg->small_write_max = SHUNT_DEFAULT_SMALL_WRITE_MAX;
	cfg->small_streak = SHUNT_DEFAULT_SMALL_STREAK;
	cfg->max_backlog = SHUNT_DEFAULT_MAX_BACKLOG;
	cfg->small_pass_bytes = SHUNT_DEFAULT_SMALL_PASS_BYTES;
	cfg->small_leave_bytes = SHUNT_DEFAULT_SMALL_LEAVE_BYTES;
	snprintf(cfg->local_congestion, sizeof(cfg->local_congestion), "%s",
		 SHUNT_DEFAULT_LOCAL_CONGESTION);
}

bool shunt_datapath_present(const struct shunt_pins *pins)
{
	/* Any of our directories: a pin, or what a crash left half made. */
	return access(pins->links, F_OK) == 0 || access(pins->progs, F_OK) == 0 ||
	       access(pins->maps, F_OK) == 0;
}

static void unpin_links_and_progs(const struct shunt_pins *pins)
{
	struct object_names names;
	size_t i;

	/* Policy and services first, the bypass after; sk_msg without a link
	 * is attached to the map, not to a pin. */
	shunt_mesh_unpin(pins, false);
	shunt_bypass_detach_sk_msg(pins);
	for (i = shunt_bypass_attachment_count; i-- > 0;)
		shunt_unpin(pins->links, shunt_bypass_attachments[i].name);
	shunt_unpin(pins->links, SHUNT_TPROXY_LINK_PIN);
	if (object_names_open(&names))
		return;
	for (i = 0; i < names.nprogs; i++)
		shunt_unpin(pins->progs, names.progs[i]);
	object_names_close(&names);
}

static void unpin_maps(const struct shunt_pins *pins)
{
	struct object_names names;
	size_t i;

	shunt_mesh_unpin(pins, true);
	if (object_names_open(&names))
		return;
	for (i = 0; i < names.nmaps; i++)
		shunt_unpin(pins->maps, names.maps[i]);
	object_names_close(&names);
}

/* Removes DIR if empty; leaves it, with a note, if someone else put things there. */
static void remove_dir(const char *dir)
{
	if (rmdir(dir) && errno != ENOENT)
		pr_warn("left %s in place: %s", dir, strerror(errno));
}

int shunt_config_read(const struct shunt_pins *pins, struct shunt_config *cfg)
{
	__u32 zero = 0;
	int fd, err = 0;

	fd = shunt_pinned_map_fd(pins, "shunt_config");
	if (fd < 0)
		return fd;
	if (bpf_map_lookup_elem(fd, &zero, cfg))
		err = -errno;
	/* bpftool can write anything there: the name stays a C string. */
	cfg->local_congestion[sizeof(cfg->local_congestion) - 1] = '\0';
	close(fd);
	return err;
}

int shunt_config_write(const struct shunt_pins *pins, const struct shunt_config *cfg)
{
	__u32 zero = 0;
	int fd, err = 0;

	fd = shunt_pinned_map_fd(pins, "shunt_config");
	if (fd < 0)
		return fd;
	if (bpf_map_update_elem(fd, &zero, cfg, BPF_ANY))
		err = -errno;
	close(fd);
	return err;
}

static int link_cgroup_id(const char *path, __u64 *cgroup_id)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	int fd, err = 0;

	fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		err = -errno;
	else if (info.type != BPF_LINK_TYPE_CGROUP)
		err = -EINVAL;
	else
		*cgroup_id = info.cgroup.cgroup_id;
	close(fd);
	return err;
}

/* Attachments that the recorded features say should be there, and are. */
static void count_attachments(const struct shunt_pins *pins, size_t *present, size_t *expected)
{
	struct shunt_features f;
	size_t i, mesh_present = 0, mesh_expected = 0;
	__u32 prog_id;

	*present = *expected = 0;
	if (shunt_features_read(pins, &f))
		memset(&f, 0, sizeof(f)); /* none recorded: only the fixed ones count */
	for (i = 0; i < shunt_bypass_attachment_count; i++) {
		const struct shunt_attachment *a = &shunt_bypass_attachments[i];
		bool there = shunt_bypass_attached(pins, a, &prog_id);

		*expected += shunt_attachment_expected(a, &f);
		*present += there;
	}
	shunt_mesh_links_pinned(pins, &mesh_present, &mesh_expected);
	*present += mesh_present;
	*expected += mesh_expected;
}

/*
 * Returns 1 when the instance is fully loaded on CGROUP_ID (nothing to do),
 * 0 when nothing or only a broken remainder is there, -EEXIST when it is
 * attached to another cgroup.
 */
static int check_existing(const struct shunt_pins *pins, __u64 cgroup_id, const char *cgroup)
{
	size_t present, expected;
	char path[PATH_MAX];
	__u64 attached = 0;

	count_attachments(pins, &present, &expected);
	if (!present)
		return 0;
	shunt_pin_path(path, sizeof(path), pins->links, "shunt_sockops");
	if (!link_cgroup_id(path, &attached) && attached != cgroup_id) {
		pr_err("already attached to another cgroup (id %llu) from %s; run `shunt unload` "
		       "first",
		       (unsigned long long)attached, pins->root);
		return -EEXIST;
	}
	if (present == expected && attached == cgroup_id) {
		pr_info("already loaded and attached to %s; nothing to do", cgroup);
		return 1;
	}
	pr_warn("found an incomplete earlier load in %s; replacing its links", pins->root);
	unpin_links_and_progs(pins);
	return 0;
}

static int init_config(const struct shunt_pins *pins)
{
	struct shunt_config cfg, zero = {};
	int err;

	err = shunt_config_read(pins, &cfg);
	if (err)
		return err;
	/* A reused map keeps what the operator set. */
	if (memcmp(&cfg, &zero, sizeof(cfg)) != 0)
		return 0;
	shunt_config_defaults(&cfg);
	return shunt_config_write(pins, &cfg);
}

/* Probes the kernel; stops, naming what is missing, when a core feature is. */
static int probe_features(struct shunt_features *f)
{
	struct utsname un;
	char missing[1024];
	int err, n;

	err = shunt_features_probe(f);
	if (err)
		return err;
	n = shunt_features_core_missing(f, missing, sizeof(missing));
	if (!n)
		return 0;
	uname(&un);
	pr_err("this kernel (Linux %s) cannot run shunt; missing %d core feature%s: %s", un.release,
	       n, n > 1 ? "s" : "", missing);
	return -EOPNOTSUPP;
}

/* The mesh cgroup, for the receive hooks; then config and features. */
static int init_maps(struct bypass_bpf *skel, const struct shunt_pins *pins, int cg_fd,
		     const struct shunt_features *f)
{
	int err;

	if (bpf_map_update_elem(bpf_map__fd(skel->maps.shunt_mesh_cgroup), &(__u32){0}, &cg_fd,
				BPF_ANY)) {
		err = -errno;
		pr_err("cannot record the mesh cgroup: %s", strerror(-err));
		return err;
	}
	err = init_config(pins);
	if (err) {
		pr_err("cannot initialise shunt_config: %s", strerror(-err));
		return err;
	}
	/* The bypass stays off in the map until its guards are attached. */
	err = shunt_features_write(pins, f);
	if (err)
		pr_err("cannot record the kernel's features: %s", strerror(-err));
	return err;
}

/* Attaches in shunt_bypass_attachments order, then services and policy. */
static int attach_all(struct bypass_bpf *skel, const struct shunt_pins *pins, int cg_fd,
		      struct shunt_features *f)
{
	int err;

	err = shunt_bypass_attach_rx(skel, pins, f);
	if (!err)
		err = shunt_bypass_attach_sk_msg(skel, pins, f);
	if (!err)
		err = shunt_features_write(pins, f);
	if (!err)
		err = shunt_bypass_attach_sockops(skel, pins, cg_fd);
	if (!err)
		err = shunt_mesh_attach(pins, cg_fd, f);
	if (!err)
		err = shunt_features_write(pins, f);
	return err;
}

static int make_dirs(const struct shunt_pins *pins)
{
	int err;

	if ((err = shunt_mkdirs(pins->maps, 0700)) || (err = shunt_mkdirs(pins->progs, 0700)) ||
	    (err = shunt_mkdirs(pins->links, 0700)))
		pr_err("cannot create %s: %s", pins->root, strerror(-err));
	return err;
}

int shunt_datapath_load(const struct shunt_load_opts *opts)
{
	struct bypass_bpf *skel = NULL;
	struct shunt_features features;
	struct shunt_pins pins;
	bool fresh_maps = false;
	__u64 cgroup_id;
	int cg_fd = -1, err;

	err = shunt_pins_init(&pins, opts->pin_root);
	if (err)
		return err;
	err = probe_features(&features);
	if (err)
		return err;
	if (!opts->cgroup || !shunt_is_cgroup2_dir(opts->cgroup)) {
		pr_err("%s is not a cgroup v2 directory", opts->cgroup ? opts->cgroup : "(none)");
		return -EINVAL;
	}
	err = shunt_cgroup_id(opts->cgroup, &cgroup_id);
	if (err) {
		pr_err("cannot read the id of cgroup %s: %s", opts->cgroup, strerror(-err));
		return err;
	}
	err = shunt_ensure_bpffs(pins.root);
	if (err)
		return err;
	err = check_existing(&pins, cgroup_id, opts->cgroup);
	if (err)
		return err > 0 ? 0 : err;

	fresh_maps = access(pins.maps, F_OK) != 0;
	err = make_dirs(&pins);
	if (err)
		return err;
	err = shunt_bypass_load(&pins, opts->max_socks, &features, &skel);
	if (err)
		goto cleanup;
	cg_fd = open(opts->cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg_fd < 0) {
		err = -errno;
		pr_err("cannot open cgroup %s: %s", opts->cgroup, strerror(-err));
		goto cleanup;
	}
	err = init_maps(skel, &pins, cg_fd, &features);
	if (!err)
		err = shunt_bypass_pin_programs(skel, &pins);
	if (!err)
		err = attach_all(skel, &pins, cg_fd, &features);
	if (err)
		goto cleanup;
	pr_info("loaded; attached to %s, pinned under %s", opts->cgroup, pins.root);
	shunt_features_log(&features);

cleanup:
	if (err) {
		unpin_links_and_progs(&pins);
		if (fresh_maps)
			unpin_maps(&pins);
	}
	if (cg_fd >= 0)
		close(cg_fd);
	bypass_bpf__destroy(skel);
	if (err && fresh_maps) {
		remove_dir(pins.links);
		remove_dir(pins.progs);
		remove_dir(pins.maps);
		remove_dir(pins.root);
	}
	return err;
}

int shunt_datapath_unload(const char *pin_root, unsigned int drain_ms)
{
	struct shunt_pins pins;
	struct shunt_config cfg;
	size_t socks_left = 0;
	__u64 left;
	int err;

	err = shunt_pins_init(&pins, pin_root);
	if (err)
		return err;
	/* What the agent published for the proxy goes with the datapath. */
	shunt_run_dir_remove(&pins);
	if (!shunt_datapath_present(&pins)) {
		pr_info("nothing loaded under %s", pins.root);
		return 0;
	}

	/* Stop redirecting first; data already redirected must be read before
	 * the sockhash goes away, or the kernel drops it with the psocks. */
	if (!shunt_config_read(&pins, &cfg)) {
		cfg.bypass_enabled = 0;
		shunt_config_write(&pins, &cfg);
		left = shunt_socks_drain(&pins, drain_ms, &socks_left);
		if (left)
			pr_warn(
			    "%llu redirected bytes on %zu sockets were still unread after %u ms",
			    (unsigned long long)left, socks_left, drain_ms);
	}

	unpin_links_and_progs(&pins);
	unpin_maps(&pins);
	remove_dir(pins.links);
	remove_dir(pins.progs);
	remove_dir(pins.maps);
	remove_dir(pins.root);
	pr_info("unloaded %s", pins.root);
	return 0;
}
