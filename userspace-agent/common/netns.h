/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Identities of network namespaces and cgroups, as the kernel sees them. */
#ifndef SHUNT_NETNS_H
#define SHUNT_NETNS_H

#include <linux/types.h>

/* NAME (from `ip netns`), a path like /proc/PID/ns/net, or NULL for our own. */
int shunt_netns_cookie(const char *netns, __u64 *cookie);
/* The cgroup v2 id of a cgroup directory (what bpf_get_current_cgroup_id sees). */
int shunt_cgroup_id(const char *path, __u64 *id);

#endif
