// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "proxy_tproxy.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "common/addr.h"
#include "common/log.h"
#include "mesh_shared.h"

/* Not in the uapi headers of older systems: the value of Linux 6.6. */
#define SHUNT_BPF_TCX_INGRESS 46

extern char **environ;

/* Runs `ip ARGS...` quietly; 0 if it exited 0. */
static int run_ip(char *const argv[])
{
	posix_spawn_file_actions_t fa;
	int status, err;
	pid_t pid;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	err = posix_spawnp(&pid, "ip", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (err)
		return -err;
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

/* The interface that holds ADDR: where the pods' packets come in. */
static int iface_of(const __u8 addr[16], char *name, size_t len)
{
	struct ifaddrs *ifs, *i;
	int err = -ENODEV;

	if (getifaddrs(&ifs))
		return -errno;
	for (i = ifs; i; i = i->ifa_next) {
		__u8 a[16];
		__u16 port;

		if (!i->ifa_addr ||
		    (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6))
			continue;
		shunt_addr_from_sockaddr(i->ifa_addr, a, &port);
		if (!memcmp(a, addr, 16)) {
			snprintf(name, len, "%s", i->ifa_name);
			err = 0;
			break;
		}
	}
	freeifaddrs(ifs);
	return err;
}

static int routes(const char *family, bool add)
{
	char table[16], mark[16];
	char *rule_del[] = {"ip", (char *)family, "rule", "del", "pref", table, NULL};
	char *rule_add[] = {"ip",     (char *)family, "rule",	"add", "pref", table,
			    "fwmark", mark,	      "lookup", table, NULL};
	char *route[] = {"ip",	  (char *)family,
			 "route", add ? "replace" : "del",
			 "local", strcmp(family, "-6") ? "0.0.0.0/0" : "::/0",
			 "dev",	  "lo",
			 "table", table,
			 NULL};
	int err;

	snprintf(table, sizeof(table), "%d", SHUNT_TPROXY_TABLE);
	snprintf(mark, sizeof(mark), "%#x", SHUNT_TPROXY_MARK);
	/* Idempotent: a rule left by an earlier run is replaced. */
	while (!run_ip(rule_del))
		;
	if (!add)
		return run_ip(route);
	err = run_ip(route);
	return err ? err : run_ip(rule_add);
}

/* The marking program's tcx link, pinned at link_pin so that the proxy
 * that replaces this one during an upgrade shares it (the kernel takes a
 * program only once per tcx hook): a clean stop unpins it, and it
 * detaches once no proxy holds it. A killed proxy leaves the pin, which
 * marks nothing without a transparent socket; the next proxy takes it. */
static int link_fd = -1;
static char link_pin[PATH_MAX];

/*
 * Without tcx (before Linux 6.6): a tc filter at clsact ingress, under a
 * handle of ours. It outlives a killed proxy, which is harmless: with the
 * proxy's transparent sockets gone, the lookup finds no socket to mark for.
 * A new proxy replaces it, a clean exit removes it.
 */
#define TPROXY_TC_HANDLE   0x5348 /* "SH" */
#define TPROXY_TC_PRIORITY 1
static struct bpf_tc_hook tc_hook;
static bool tc_attached;

static int attach_tc(unsigned int ifindex, int prog_fd)
{
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TPROXY_TC_HANDLE, .priority = TPROXY_TC_PRIORITY,
		    .prog_fd = prog_fd, .flags = BPF_TC_F_REPLACE);
	int err;

	tc_hook = (struct bpf_tc_hook){
	    .sz = sizeof(tc_hook), .ifindex = (int)ifindex, .attach_point = BPF_TC_INGRESS};
	err = bpf_tc_hook_create(&tc_hook); /* the clsact qdisc, if missing */
	if (err && err != -EEXIST)
		return err;
	err = bpf_tc_attach(&tc_hook, &opts);
	tc_attached = !err;
	return err;
}

static void detach_tc(void)
{
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TPROXY_TC_HANDLE, .priority = TPROXY_TC_PRIORITY);

	/* Only our filter: the qdisc may hold other people's. */
	if (tc_attached)
		bpf_tc_detach(&tc_hook, &opts);
	tc_attached = false;
}

/* The pinned link, or a new one pinned. */
static int attach_tcx(unsigned int ifindex, int prog_fd, const char *pin)
{
	snprintf(link_pin, sizeof(link_pin), "%s", pin);
	link_fd = bpf_obj_get(pin);
	if (link_fd >= 0)
		return 0;
	link_fd = bpf_link_create(prog_fd, (int)ifindex, SHUNT_BPF_TCX_INGRESS, NULL);
	if (link_fd < 0)
		return link_fd;
	if (bpf_obj_pin(link_fd, pin))
		link_pin[0] = 0; /* works unshared */
	return 0;
}

int tproxy_start(const struct cfg_node *me, int prog_fd, bool tcx, const char *pin,
		 const char **why)
{
	char iface[IF_NAMESIZE];
	unsigned int ifindex;
	int err;

	err = iface_of(me->outbound.addr, iface, sizeof(iface));
	if (err || !(ifindex = if_nametoindex(iface))) {
		*why = "no interface holds the outbound address";
		return err ? err : -ENODEV;
	}
	if (tcx) {
		err = attach_tcx(ifindex, prog_fd, pin);
	} else {
		err = attach_tc(ifindex, prog_fd);
	}
	if (err) {
		*why = tcx ? "cannot attach the marking program with tcx"
			   : "cannot attach the marking program as a tc filter";
		goto fail;
	}
	err = routes("-4", true);
	if (!err && me->has_outbound6)
		err = routes("-6", true);
	if (err) {
		*why = "cannot add the routing rule for marked packets (needs `ip` and "
		       "CAP_NET_ADMIN)";
		goto fail;
	}
	return 0;
fail:
	/* What a proxy running beside this one shares (the rule, the filter,
	 * the pin) stays. */
	tproxy_release();
	return err;
}

void tproxy_stop(const struct cfg_node *me)
{
	routes("-4", false);
	if (me->has_outbound6)
		routes("-6", false);
	if (link_pin[0])
		unlink(link_pin);
	link_pin[0] = 0;
	tproxy_release();
	detach_tc();
}

void tproxy_release(void)
{
	if (link_fd >= 0)
		close(link_fd);
	link_fd = -1;
}

int tproxy_bind(int fd, const __u8 addr[16], __u16 *port)
{
	static __thread unsigned int seed;
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1, tries;
	bool v4 = shunt_addr_is_v4(addr);

	if (!seed)
		seed = (unsigned int)time(NULL) ^ (unsigned int)(size_t)&seed;
	if (v4 ? setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one))
	       : setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof(one)))
		return -errno;
	for (tries = 0; tries < 64; tries++) {
		__u16 p = (__u16)(TPROXY_PORT_MIN +
				  rand_r(&seed) % (TPROXY_PORT_MAX - TPROXY_PORT_MIN + 1));

		len = shunt_addr_to_sockaddr(addr, p, &ss);
		if (!bind(fd, (struct sockaddr *)&ss, len)) {
			*port = p;
			return 0;
		}
		if (errno != EADDRINUSE)
			return -errno;
	}
	return -EADDRINUSE;
}
