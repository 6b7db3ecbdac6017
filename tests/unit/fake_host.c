// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "fake_host.h"

static __u64 path_hash(const char *salt, const char *path)
{
	__u64 h = 1469598103934665603ull;

	for (; *salt; salt++)
		h = (h ^ (unsigned char)*salt) * 1099511628211ull;
	for (; *path; path++)
		h = (h ^ (unsigned char)*path) * 1099511628211ull;
	return h ? h : 1;
}

static int fake_cgroup_id(void *ctx, const char *cgroup, __u64 *id)
{
	(void)ctx;
	*id = path_hash("cgroup:", cgroup);
	return 0;
}

static int fake_netns_cookie(void *ctx, const char *netns, __u64 *cookie)
{
	(void)ctx;
	*cookie = path_hash("netns:", netns);
	return 0;
}

static const struct mesh_host_ops fake_host_ops = {
    .cgroup_id = fake_cgroup_id,
    .netns_cookie = fake_netns_cookie,
};

const struct mesh_host fake_host = {.ops = &fake_host_ops};
