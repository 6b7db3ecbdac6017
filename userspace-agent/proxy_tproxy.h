/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The inbound proxy's transparent source (docs/proxy.md): it connects to a
 * workload from the client workload's own address, with a port of a range
 * kept for it, and the node routes the workload's answers to those ports
 * back to the proxy instead of towards the client's node.
 */
#ifndef SHUNT_PROXY_TPROXY_H
#define SHUNT_PROXY_TPROXY_H

#include <stdbool.h>
#include <linux/types.h>

#include "mesh_config.h"

#define TPROXY_PORT_MIN 61000 /* above Linux's default ephemeral range */
#define TPROXY_PORT_MAX 65534 /* iproute2 6.1 refuses a range ending at 65535 */
#define TPROXY_TABLE	5348  /* routing table and rule preference */

/* Routes answers to the range from the pods (the interface holding ME's
 * outbound address) to local sockets. 0, or -errno with *WHY set. */
int tproxy_routes_add(const struct cfg_node *me, const char **why);
/* Takes them away again (at exit). */
void tproxy_routes_del(const struct cfg_node *me);
/* Binds FD, transparent, to ADDR (v4-mapped or IPv6) and a free port of
 * the range; the port in *PORT. 0 or -errno. */
int tproxy_bind(int fd, const __u8 addr[16], __u16 *port);

#endif
