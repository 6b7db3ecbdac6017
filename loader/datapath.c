// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "datapath.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bypass.skel.h"
#include "log.h"
#include "mesh_loader.h"
#include "mounts.h"
#include "netns.h"
#include "probe.h"

const char *const shunt_link_names[] = {
    "shunt_rx_recvmsg",			   /* receive hooks first: they only publish state */
    "shunt_rx_queue_read", "shunt_sk_msg", /* then redirects on send */
    "shunt_sockops",			   /* and last the hook that fills the sockhash */
};
const size_t shunt_link_count = sizeof(shunt_link_names) / sizeof(shunt_link_names[0]);

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

static bool pinned(const char *dir, const char *name)
{
	char path[PATH_MAX];

	return !shunt_pin_path(path, sizeof(path), dir, name) && access(path, F_OK) == 0;
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

	/* Policy and services first, the bypass after. */
	shunt_mesh_unpin(pins, false);
	for (i = shunt_link_count; i-- > 0;)
		shunt_unpin(pins->links, shunt_link_names[i]);
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

/*
 * Returns 1 when the instance is fully loaded on CGROUP_ID (nothing to do),
 * 0 when nothing or only a broken remainder is there, -EEXIST when it is
 * attached to another cgroup.
 */
static int check_existing(const struct shunt_pins *pins, __u64 cgroup_id, const char *cgroup)
{
	size_t i, links = 0, mesh_links = 0, mesh_expected = 0;
	char path[PATH_MAX];
	__u64 attached = 0;

	for (i = 0; i < shunt_link_count; i++)
		links += pinned(pins->links, shunt_link_names[i]);
	shunt_mesh_links_pinned(pins, &mesh_links, &mesh_expected);
	links += mesh_links;
	if (!links)
		return 0;
	shunt_pin_path(path, sizeof(path), pins->links, "shunt_sockops");
	if (!link_cgroup_id(path, &attached) && attached != cgroup_id) {
		pr_err("already attached to another cgroup (id %llu) from %s; run `shunt unload` "
		       "first",
		       (unsigned long long)attached, pins->root);
		return -EEXIST;
	}
	if (links == shunt_link_count + mesh_expected && attached == cgroup_id) {
		pr_info("already loaded and attached to %s; nothing to do", cgroup);
		return 1;
	}
	pr_warn("found an incomplete earlier load in %s; replacing its links", pins->root);
	unpin_links_and_progs(pins);
	return 0;
}

static int pin_link_fd(const struct shunt_pins *pins, const char *name, int fd)
{
	char path[PATH_MAX];
	int err;

	err = shunt_pin_path(path, sizeof(path), pins->links, name);
	if (!err && bpf_obj_pin(fd, path))
		err = -errno;
	if (err)
		pr_err("cannot pin link %s: %s", name, strerror(-err));
	return err;
}

static int pin_link(const struct shunt_pins *pins, const char *name, struct bpf_link *link)
{
	return pin_link_fd(pins, name, bpf_link__fd(link));
}

/* sk_msg on the sockhash: a bpf_link where the kernel has them (6.10+). */
static int attach_sk_msg(struct bypass_bpf *skel, const struct shunt_pins *pins)
{
	int prog_fd = bpf_program__fd(skel->progs.shunt_sk_msg);
	int map_fd = bpf_map__fd(skel->maps.shunt_socks);
	int fd, err;

	fd = bpf_link_create(prog_fd, map_fd, BPF_SK_MSG_VERDICT, NULL);
	if (fd >= 0) {
		err = pin_link_fd(pins, "shunt_sk_msg", fd);
		close(fd);
		return err;
	}
	err = -errno;
	pr_err("cannot attach sk_msg to the sockhash with a bpf_link: %s (Linux 6.10+ needed)",
	       strerror(-err));
	return err;
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

static int pin_programs(struct bypass_bpf *skel, const struct shunt_pins *pins)
{
	struct bpf_program *prog;
	char path[PATH_MAX];
	int err;

	bpf_object__for_each_program (prog, skel->obj) {
		err = shunt_pin_path(path, sizeof(path), pins->progs, bpf_program__name(prog));
		if (!err)
			err = bpf_program__pin(prog, path);
		if (err) {
			pr_err("cannot pin program %s: %s", bpf_program__name(prog),
			       strerror(-err));
			return err;
		}
	}
	return 0;
}

int shunt_datapath_load(const struct shunt_load_opts *opts)
{
	LIBBPF_OPTS(bpf_object_open_opts, open_opts);
	struct bpf_link *links[3] = {};
	struct bypass_bpf *skel = NULL;
	char missing[512];
	struct shunt_pins pins;
	bool fresh_maps = false;
	__u64 cgroup_id;
	int cg_fd = -1, err;
	size_t i;

	err = shunt_pins_init(&pins, opts->pin_root);
	if (err)
		return err;
	err = shunt_probe_kernel(missing, sizeof(missing));
	if (err) {
		pr_err("this kernel cannot run the shunt datapath; missing: %s", missing);
		return err;
	}
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
	if ((err = shunt_mkdirs(pins.maps, 0700)) || (err = shunt_mkdirs(pins.progs, 0700)) ||
	    (err = shunt_mkdirs(pins.links, 0700))) {
		pr_err("cannot create %s: %s", pins.root, strerror(-err));
		return err;
	}

	open_opts.pin_root_path = pins.maps;
	skel = bypass_bpf__open_opts(&open_opts);
	if (!skel) {
		err = -errno;
		pr_err("cannot open the bypass BPF object: %s", strerror(-err));
		goto cleanup;
	}
	if (opts->max_socks) {
		bpf_map__set_max_entries(skel->maps.shunt_socks, opts->max_socks);
		bpf_map__set_max_entries(skel->maps.shunt_endpoints, opts->max_socks);
	}
	err = bypass_bpf__load(skel);
	if (err) {
		pr_err("cannot load the bypass programs: %s%s", strerror(-err),
		       err == -EINVAL ? " (a pinned map from another version? try `shunt unload`)"
				      : "");
		goto cleanup;
	}
	cg_fd = open(opts->cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg_fd < 0) {
		err = -errno;
		pr_err("cannot open cgroup %s: %s", opts->cgroup, strerror(-err));
		goto cleanup;
	}
	/* The receive hooks only look at tasks in the mesh cgroup. */
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.shunt_mesh_cgroup), &(__u32){0}, &cg_fd,
				BPF_ANY)) {
		err = -errno;
		pr_err("cannot record the mesh cgroup: %s", strerror(-err));
		goto cleanup;
	}
	err = init_config(&pins);
	if (err) {
		pr_err("cannot initialise shunt_config: %s", strerror(-err));
		goto cleanup;
	}
	err = pin_programs(skel, &pins);
	if (err)
		goto cleanup;

	/* Attach in shunt_link_names order; pin each link as soon as it exists. */
	links[0] = bpf_program__attach(skel->progs.shunt_rx_recvmsg);
	links[1] = bpf_program__attach(skel->progs.shunt_rx_queue_read);
	for (i = 0; i < 2; i++) {
		if (!links[i]) {
			err = -errno;
			pr_err("cannot attach %s: %s", shunt_link_names[i], strerror(-err));
			goto cleanup;
		}
		err = pin_link(&pins, shunt_link_names[i], links[i]);
		if (err)
			goto cleanup;
	}
	err = attach_sk_msg(skel, &pins);
	if (err)
		goto cleanup;

	links[2] = bpf_program__attach_cgroup(skel->progs.shunt_sockops, cg_fd);
	if (!links[2]) {
		err = -errno;
		pr_err("cannot attach sockops to %s: %s", opts->cgroup, strerror(-err));
		goto cleanup;
	}
	err = pin_link(&pins, "shunt_sockops", links[2]);
	if (err)
		goto cleanup;
	err = shunt_mesh_attach(&pins, cg_fd);
	if (err)
		goto cleanup;
	pr_info("loaded; attached to %s, pinned under %s", opts->cgroup, pins.root);

cleanup:
	if (err) {
		unpin_links_and_progs(&pins);
		if (fresh_maps)
			unpin_maps(&pins);
	}
	for (i = 0; i < sizeof(links) / sizeof(links[0]); i++)
		bpf_link__destroy(links[i]);
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

int shunt_socks_report(const struct shunt_pins *pins, struct shunt_sock_report **out, size_t *count)
{
	LIBBPF_OPTS(bpf_link_create_opts, link_opts);
	union bpf_iter_link_info info = {};
	struct shunt_sock_report *reports = NULL, *grown;
	char path[PATH_MAX];
	int prog_fd = -1, map_fd = -1, link_fd = -1, iter_fd = -1, err = 0;
	size_t n = 0, cap = 0;
	ssize_t got;

	*out = NULL;
	*count = 0;
	shunt_pin_path(path, sizeof(path), pins->progs, "shunt_socks_iter");
	prog_fd = bpf_obj_get(path);
	if (prog_fd < 0) {
		err = -errno;
		goto cleanup;
	}
	map_fd = shunt_pinned_map_fd(pins, "shunt_socks");
	if (map_fd < 0) {
		err = map_fd;
		goto cleanup;
	}
	info.map.map_fd = map_fd;
	link_opts.iter_info = &info;
	link_opts.iter_info_len = sizeof(info);
	link_fd = bpf_link_create(prog_fd, 0, BPF_TRACE_ITER, &link_opts);
	if (link_fd < 0) {
		err = -errno;
		goto cleanup;
	}
	iter_fd = bpf_iter_create(link_fd);
	if (iter_fd < 0) {
		err = -errno;
		goto cleanup;
	}
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			grown = realloc(reports, cap * sizeof(*reports));
			if (!grown) {
				err = -ENOMEM;
				goto cleanup;
			}
			reports = grown;
		}
		/* The iterator hands out whole records. */
		got = read(iter_fd, &reports[n], (cap - n) * sizeof(*reports));
		if (got < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			err = -errno;
			goto cleanup;
		}
		if (got == 0)
			break;
		n += (size_t)got / sizeof(*reports);
	}
	*out = reports;
	*count = n;
	reports = NULL;
cleanup:
	free(reports);
	if (iter_fd >= 0)
		close(iter_fd);
	if (link_fd >= 0)
		close(link_fd);
	if (map_fd >= 0)
		close(map_fd);
	if (prog_fd >= 0)
		close(prog_fd);
	return err;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Waits until no socket holds unread redirected data; returns bytes left. */
static __u64 drain(const struct shunt_pins *pins, unsigned int drain_ms, size_t *socks_left)
{
	struct shunt_sock_report *reports;
	unsigned int waited = 0;
	__u64 pending;
	size_t n, i;

	for (;;) {
		pending = 0;
		*socks_left = 0;
		if (shunt_socks_report(pins, &reports, &n))
			return 0;
		for (i = 0; i < n; i++) {
			pending += reports[i].pending;
			*socks_left += reports[i].pending != 0;
		}
		free(reports);
		if (!pending || waited >= drain_ms)
			return pending;
		sleep_ms(20);
		waited += 20;
	}
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
	if (!shunt_datapath_present(&pins)) {
		pr_info("nothing loaded under %s", pins.root);
		return 0;
	}

	/* Stop redirecting first; data already redirected must be read before
	 * the sockhash goes away, or the kernel drops it with the psocks. */
	if (!shunt_config_read(&pins, &cfg)) {
		cfg.bypass_enabled = 0;
		shunt_config_write(&pins, &cfg);
		left = drain(&pins, drain_ms, &socks_left);
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
