// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "netns.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

static int socket_netns_cookie(__u64 *cookie)
{
	socklen_t len = sizeof(*cookie);
	int fd, err = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, cookie, &len))
		err = -errno;
	close(fd);
	return err;
}

static int netns_path(const char *netns, char *buf, size_t len)
{
	int n;

	if (strchr(netns, '/'))
		n = snprintf(buf, len, "%s", netns);
	else
		n = snprintf(buf, len, "/run/netns/%s", netns);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int shunt_netns_cookie(const char *netns, __u64 *cookie)
{
	char path[PATH_MAX];
	int self_fd = -1, target_fd = -1, err;

	if (!netns)
		return socket_netns_cookie(cookie);
	err = netns_path(netns, path, sizeof(path));
	if (err)
		return err;

	self_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self_fd < 0) {
		err = -errno;
		goto cleanup;
	}
	target_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (target_fd < 0) {
		err = -errno;
		pr_err("network namespace %s: %s", path, strerror(-err));
		goto cleanup;
	}
	if (setns(target_fd, CLONE_NEWNET)) {
		err = -errno;
		pr_err("cannot enter network namespace %s: %s", path, strerror(-err));
		goto cleanup;
	}
	err = socket_netns_cookie(cookie);
	if (setns(self_fd, CLONE_NEWNET)) {
		/* Staying in the wrong namespace would mislead everything after. */
		pr_err("cannot return to own network namespace: %s", strerror(errno));
		abort();
	}
	if (err)
		pr_err("SO_NETNS_COOKIE: %s (kernel 5.14 or later needed)", strerror(-err));
cleanup:
	if (target_fd >= 0)
		close(target_fd);
	if (self_fd >= 0)
		close(self_fd);
	return err;
}

int shunt_cgroup_id(const char *path, __u64 *id)
{
	struct {
		struct file_handle fh;
		__u64 cgid;
	} handle = {.fh.handle_bytes = sizeof(__u64)};
	int mount_id;

	/* On cgroup v2 the file handle of a directory is its 64-bit id. */
	if (name_to_handle_at(AT_FDCWD, path, &handle.fh, &mount_id, 0))
		return -errno;
	if (handle.fh.handle_bytes != sizeof(__u64))
		return -EINVAL;
	*id = handle.cgid;
	return 0;
}
