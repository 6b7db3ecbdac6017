/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Maps both BPF objects use for connections sent to the node proxy: the
 * connect hook (mesh.bpf.c) and the sockops program (bypass.bpf.c) meet
 * here through the pin (same definition, same name).
 */
#ifndef SHUNT_PROXY_MAPS_BPF_H
#define SHUNT_PROXY_MAPS_BPF_H

#include "mesh_shared.h"

/* Socket cookie -> original destination, until the source port exists. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct shunt_proxy_orig);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_proxy_pending SEC(".maps");

/* Client address and port -> original destination, for the proxy. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct shunt_proxy_key);
	__type(value, struct shunt_proxy_orig);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_proxy_orig SEC(".maps");

#endif /* SHUNT_PROXY_MAPS_BPF_H */
