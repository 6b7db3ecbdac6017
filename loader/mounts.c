// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mntent.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>

#include "common/log.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif
#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

int shunt_mkdirs(const char *path, unsigned int mode)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);
	char *p;

	if (len == 0 || len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) && errno != EEXIST)
		return -errno;
	return 0;
}

static bool fs_is(const char *path, long magic)
{
	struct statfs st;

	return statfs(path, &st) == 0 && (long)st.f_type == magic;
}

bool shunt_is_cgroup2_dir(const char *path)
{
	return fs_is(path, CGROUP2_SUPER_MAGIC);
}

/*
 * The level of the cgroup directory CG_FD: how many cgroup v2 directories
 * lie above it up to the root of its mount. Under a cgroup namespace, or
 * on a mount of a subtree, that is less than the kernel's own level (from
 * the hierarchy's root), never more.
 */
int shunt_cgroup_level(int cg_fd)
{
	struct stat here, there;
	struct statfs fs;
	int level = 0, dir, up;

	dir = dup(cg_fd);
	if (dir < 0)
		return -errno;
	for (;;) {
		up = openat(dir, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (up < 0 || fstat(dir, &here) || fstat(up, &there)) {
			level = -errno;
			break;
		}
		/* Above the mount's root, ".." leaves the cgroup file system;
		 * on a root file system, "/.." is "/". */
		if (fstatfs(up, &fs) || (long)fs.f_type != CGROUP2_SUPER_MAGIC ||
		    (here.st_dev == there.st_dev && here.st_ino == there.st_ino))
			break;
		level++;
		close(dir);
		dir = up;
	}
	close(dir);
	if (up >= 0)
		close(up);
	return level;
}

int shunt_ensure_bpffs(const char *pin_root)
{
	char parent[PATH_MAX];
	char *slash;
	int n;

	/* The pin root itself may not exist yet: check the closest parent. */
	n = snprintf(parent, sizeof(parent), "%s", pin_root);
	if (n < 0 || (size_t)n >= sizeof(parent))
		return -ENAMETOOLONG;
	while (access(parent, F_OK) && (slash = strrchr(parent, '/')) && slash != parent)
		*slash = '\0';
	if (fs_is(parent, BPF_FS_MAGIC))
		return 0;
	if (strncmp(pin_root, "/sys/fs/bpf", 11) != 0) {
		pr_err("%s is not on a bpffs; use a path under /sys/fs/bpf", pin_root);
		return -EINVAL;
	}
	if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700")) {
		pr_err("cannot mount bpffs on /sys/fs/bpf: %s", strerror(errno));
		return -errno;
	}
	pr_info("mounted bpffs on /sys/fs/bpf");
	return 0;
}

int shunt_cgroup2_root(char *buf, size_t len)
{
	struct mntent *ent;
	FILE *mounts;
	int err;

	mounts = setmntent("/proc/self/mounts", "r");
	if (mounts) {
		while ((ent = getmntent(mounts))) {
			if (strcmp(ent->mnt_type, "cgroup2") != 0)
				continue;
			if (snprintf(buf, len, "%s", ent->mnt_dir) >= (int)len) {
				endmntent(mounts);
				return -ENAMETOOLONG;
			}
			endmntent(mounts);
			return 0;
		}
		endmntent(mounts);
	}

	err = shunt_mkdirs(SHUNT_CGROUP2_FALLBACK, 0755);
	if (err)
		return err;
	if (!shunt_is_cgroup2_dir(SHUNT_CGROUP2_FALLBACK) &&
	    mount("cgroup2", SHUNT_CGROUP2_FALLBACK, "cgroup2", 0, NULL)) {
		err = -errno;
		pr_err("no cgroup v2 hierarchy mounted and mounting one failed: %s",
		       strerror(-err));
		return err;
	}
	pr_info("mounted cgroup v2 on %s", SHUNT_CGROUP2_FALLBACK);
	snprintf(buf, len, "%s", SHUNT_CGROUP2_FALLBACK);
	return 0;
}
