// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "proxy_tproxy.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/file.h>
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

/* Every rule of the proxy's table (there may be several, from earlier runs). */
static void rules_del(const char *family)
{
	char table[16];
	char *rule_del[] = {"ip", (char *)family, "rule", "del", "pref", table, NULL};

	snprintf(table, sizeof(table), "%d", SHUNT_TPROXY_TABLE);
	while (!run_ip(rule_del))
		;
}

/* ip route VERB (replace, del) of the route to local sockets in the table. */
static int local_route(const char *family, const char *verb)
{
	char table[16];
	char *route[] = {"ip",	  (char *)family,
			 "route", (char *)verb,
			 "local", strcmp(family, "-6") ? "0.0.0.0/0" : "::/0",
			 "dev",	  "lo",
			 "table", table,
			 NULL};

	snprintf(table, sizeof(table), "%d", SHUNT_TPROXY_TABLE);
	return run_ip(route);
}

/* The rule and route that deliver marked packets to local sockets. FRESH
 * (this proxy is alone): a rule left by an earlier run is replaced. Else
 * the running proxy's stay as they are: the route is replaced with
 * itself, the rule added only where missing (the kernel refuses a second
 * identical one, which is fine). */
static int routes(const char *family, bool fresh)
{
	char table[16], mark[16];
	char *rule_add[] = {"ip",     (char *)family, "rule",	"add", "pref", table,
			    "fwmark", mark,	      "lookup", table, NULL};
	int err;

	snprintf(table, sizeof(table), "%d", SHUNT_TPROXY_TABLE);
	snprintf(mark, sizeof(mark), "%#x", SHUNT_TPROXY_MARK);
	if (fresh)
		rules_del(family);
	err = local_route(family, "replace");
	if (err)
		return err;
	err = run_ip(rule_add);
	return fresh ? err : 0;
}

static void routes_del(const char *family)
{
	rules_del(family);
	local_route(family, "del");
}

/*
 * What proxies of one node share: the marking program's tcx link, pinned
 * at link_pin (the kernel takes a program only once per tcx hook, and the
 * proxy that replaces this one during an upgrade runs beside it), the tc
 * filter before tcx, the routing rule and its table. Each running proxy
 * holds a shared flock on the pin's directory; the one that gets it
 * exclusive is alone: it sets them up afresh at start, and takes them away
 * at exit. One that is not alone leaves them to the others. A killed proxy
 * leaves them all, which mark nothing without a transparent socket; the
 * next proxy takes them.
 */
static int link_fd = -1, lock_fd = -1;
static char link_pin[PATH_MAX];

/* Whether no other running proxy shares the pieces (the lock is then held
 * exclusive). Without a lock (no directory to lock): as alone. */
static bool alone(void)
{
	return lock_fd < 0 || !flock(lock_fd, LOCK_EX | LOCK_NB);
}

/*
 * Without tcx (before Linux 6.6): a tc filter at clsact ingress, under a
 * handle of ours; a new proxy replaces it (the same program).
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

/* The pinned link, brought to PROG_FD (a reloaded datapath's program), or
 * a new one pinned: when there is none, or the pinned one's interface is
 * gone (its update fails). */
static int attach_tcx(unsigned int ifindex, int prog_fd, const char *pin)
{
	snprintf(link_pin, sizeof(link_pin), "%s", pin);
	link_fd = bpf_obj_get(pin);
	if (link_fd >= 0 && !bpf_link_update(link_fd, prog_fd, NULL))
		return 0;
	if (link_fd >= 0) {
		close(link_fd);
		unlink(pin);
	}
	link_fd = bpf_link_create(prog_fd, (int)ifindex, SHUNT_BPF_TCX_INGRESS, NULL);
	if (link_fd < 0)
		return link_fd;
	if (bpf_obj_pin(link_fd, pin))
		link_pin[0] = 0; /* works unshared */
	return 0;
}

/* The lock on PIN's directory, held exclusive when this proxy is the only
 * one (then true), else shared. */
static bool lock_pieces(const char *pin)
{
	char dir[PATH_MAX];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", pin);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = 0;
	lock_fd = slash ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	if (alone())
		return true;
	/* waits out a proxy that is taking the pieces away at its exit */
	flock(lock_fd, LOCK_SH);
	return false;
}

int tproxy_start(const struct cfg_node *me, int prog_fd, bool tcx, const char *pin,
		 const char **why)
{
	char iface[IF_NAMESIZE];
	unsigned int ifindex;
	bool first;
	int err;

	err = iface_of(me->outbound.addr, iface, sizeof(iface));
	if (err || !(ifindex = if_nametoindex(iface))) {
		*why = "no interface holds the outbound address";
		return err ? err : -ENODEV;
	}
	first = lock_pieces(pin);
	err = tcx ? attach_tcx(ifindex, prog_fd, pin) : attach_tc(ifindex, prog_fd);
	if (err) {
		*why = tcx ? "cannot attach the marking program with tcx"
			   : "cannot attach the marking program as a tc filter";
		goto fail;
	}
	err = routes("-4", first);
	if (!err && me->has_outbound6)
		err = routes("-6", first);
	if (err) {
		*why = "cannot add the routing rule for marked packets (needs `ip` and "
		       "CAP_NET_ADMIN)";
		goto fail;
	}
	if (first && lock_fd >= 0)
		flock(lock_fd, LOCK_SH); /* others may join now */
	return 0;
fail:
	tproxy_stop(me);
	return err;
}

void tproxy_stop(const struct cfg_node *me)
{
	if (alone()) {
		routes_del("-4");
		if (me->has_outbound6)
			routes_del("-6");
		if (link_pin[0])
			unlink(link_pin);
		detach_tc();
	}
	link_pin[0] = 0;
	if (link_fd >= 0)
		close(link_fd);
	link_fd = -1;
	if (lock_fd >= 0)
		close(lock_fd); /* the lock goes with it */
	lock_fd = -1;
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
