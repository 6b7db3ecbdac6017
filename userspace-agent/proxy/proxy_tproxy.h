/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The inbound proxy's transparent source (docs/proxy.md): it connects to a
 * workload from the client workload's own address, and the node sends the
 * workload's answers back to the proxy instead of towards the client's
 * node: shunt_tproxy_mark (mesh.bpf.c) marks them at the pod-facing interface
 * (a pinned tcx link, shared by the proxies of the node; a tc clsact filter
 * before Linux 6.6), a routing rule delivers marked packets here.
 */
#ifndef SHUNT_PROXY_TPROXY_H
#define SHUNT_PROXY_TPROXY_H

#include <stdbool.h>
#include <linux/types.h>

#include "model/mesh_config.h"

#define TPROXY_PORT_MIN 61000 /* where the proxy picks its own ports */
#define TPROXY_PORT_MAX 65534

/* Attaches PROG_FD (the pinned shunt_tproxy_mark) to the pod-facing
 * interface (the one holding ME's outbound address), with tcx when TCX
 * (the link pinned at PIN, where a proxy running beside this one finds
 * it), else as a tc filter, and routes marked packets to local sockets. 0,
 * or -errno with *WHY set. */
int tproxy_start(const struct cfg_node *me, int prog_fd, bool tcx, const char *pin,
		 const char **why);
/* At exit: this proxy's link goes; the rule, the filter and the pin too
 * unless another proxy of the node runs (the one replacing this one). */
void tproxy_stop(const struct cfg_node *me);
/* Binds FD, transparent, to ADDR (v4-mapped or IPv6) and a free port of
 * the range; the port in *PORT. 0 or -errno. */
int tproxy_bind(int fd, const __u8 addr[16], __u16 *port);

#endif
