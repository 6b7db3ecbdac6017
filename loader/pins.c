// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "pins.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "common/log.h"

static int join(char *buf, size_t len, const char *a, const char *b)
{
	int n = snprintf(buf, len, "%s/%s", a, b);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int shunt_pins_init(struct shunt_pins *pins, const char *root)
{
	int n, err;

	if (!root || !*root)
		root = SHUNT_DEFAULT_PIN_ROOT;
	n = snprintf(pins->root, sizeof(pins->root), "%s", root);
	if (n < 0 || (size_t)n >= sizeof(pins->root))
		return -ENAMETOOLONG;
	/* No trailing slash: paths are compared and printed. */
	while (n > 1 && pins->root[n - 1] == '/')
		pins->root[--n] = '\0';
	err = join(pins->maps, sizeof(pins->maps), pins->root, "maps");
	if (!err)
		err = join(pins->progs, sizeof(pins->progs), pins->root, "progs");
	if (!err)
		err = join(pins->links, sizeof(pins->links), pins->root, "links");
	return err;
}

int shunt_run_dir(const struct shunt_pins *pins, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s%s", SHUNT_RUN_ROOT, pins->root);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if ((type == FTW_DP ? rmdir(path) : unlink(path)) && errno != ENOENT)
		pr_warn("cannot remove %s: %s", path, strerror(errno));
	return 0;
}

int shunt_run_dir_remove(const struct shunt_pins *pins)
{
	char dir[PATH_MAX], *slash;
	int err;

	if ((err = shunt_run_dir(pins, dir, sizeof(dir))))
		return err;
	if (nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) && errno != ENOENT)
		return -errno;
	/* The empty parents the pin root's path made, e.g. /run/shunt/sys/fs/bpf. */
	while ((slash = strrchr(dir, '/')) && (size_t)(slash - dir) > strlen(SHUNT_RUN_ROOT)) {
		*slash = 0;
		if (rmdir(dir))
			break;
	}
	rmdir(SHUNT_RUN_ROOT);
	return 0;
}

int shunt_pin_path(char *buf, size_t len, const char *dir, const char *name)
{
	return join(buf, len, dir, name);
}

int shunt_pinned_map_fd(const struct shunt_pins *pins, const char *name)
{
	char path[PATH_MAX];
	int fd, err;

	err = shunt_pin_path(path, sizeof(path), pins->maps, name);
	if (err)
		return err;
	fd = bpf_obj_get(path);
	return fd < 0 ? -errno : fd;
}

int shunt_unpin(const char *dir, const char *name)
{
	char path[PATH_MAX];
	int err;

	err = shunt_pin_path(path, sizeof(path), dir, name);
	if (err)
		return err;
	if (unlink(path) && errno != ENOENT) {
		err = -errno;
		pr_warn("cannot remove %s: %s", path, strerror(-err));
		return err;
	}
	return 0;
}
