/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* bpffs and cgroup v2: find them, mount them where missing. */
#ifndef SHUNT_MOUNTS_H
#define SHUNT_MOUNTS_H

#include <stdbool.h>
#include <stddef.h>

#define SHUNT_CGROUP2_FALLBACK "/run/shunt/cgroup2"

/* Makes sure the bpffs holding PIN_ROOT is mounted; mounts /sys/fs/bpf if not. */
int shunt_ensure_bpffs(const char *pin_root);
/* Finds a mounted cgroup v2 hierarchy or mounts one; writes its path. */
int shunt_cgroup2_root(char *buf, size_t len);
bool shunt_is_cgroup2_dir(const char *path);
/* The level of a cgroup v2 directory below its mount's root (at most the
 * kernel's level of it); -errno. */
int shunt_cgroup_level(int cg_fd);
/* mkdir -p */
int shunt_mkdirs(const char *path, unsigned int mode);

#endif
