/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Maps of the services/policy programs, pinned by name next to the bypass
 * maps. The agent owns every write except the LRU, counter and ring buffer
 * maps, which the programs fill.
 */
#ifndef SHUNT_MESH_MAPS_BPF_H
#define SHUNT_MESH_MAPS_BPF_H

#include "mesh_shared.h"
#include "proxy_maps.bpf.h"

/* The live generation and switches. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct shunt_mesh_state);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_mesh_state SEC(".maps");

/* Local workloads by cgroup: who is connecting. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * SHUNT_MAX_IDENTS);
	__type(key, struct shunt_cgroup_ident_key);
	__type(value, struct shunt_ident);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_cgroup_idents SEC(".maps");

/* Every workload address and policy CIDR: who an address is. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4 * SHUNT_MAX_IDENTS);
	__type(key, struct shunt_ipcache_key);
	__type(value, struct shunt_ident);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_ipcache SEC(".maps");

/* Service addresses and ports. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * SHUNT_MAX_SERVICES);
	__type(key, struct shunt_service_key);
	__type(value, struct shunt_service);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_services SEC(".maps");

/* Backends of each service port, in weight order. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * SHUNT_MAX_BACKENDS);
	__type(key, struct shunt_backend_key);
	__type(value, struct shunt_backend);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_backends SEC(".maps");

/* Explicit deny rules, checked before anything else. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SHUNT_MAX_POLICY);
	__type(key, struct shunt_policy_key);
	__type(value, struct shunt_policy_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_policy_deny SEC(".maps");

/* Allow rules of isolated workloads. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SHUNT_MAX_POLICY);
	__type(key, struct shunt_policy_key);
	__type(value, struct shunt_policy_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_policy_allow SEC(".maps");

/* Workloads some policy selects, and in which directions. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * SHUNT_MAX_IDENTS);
	__type(key, struct shunt_subject_key);
	__type(value, struct shunt_subject);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_policy_subjects SEC(".maps");

/* Names for people; the programs never read them. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4 * SHUNT_MAX_IDENTS);
	__type(key, struct shunt_name_key);
	__type(value, struct shunt_name);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_names SEC(".maps");

/* Which service address a socket's backend stands for. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 131072);
	__type(key, struct shunt_origin_key);
	__type(value, struct shunt_origin);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_sock_origin SEC(".maps");

/* UDP exchanges policy allowed: their replies pass. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 131072);
	__type(key, struct shunt_udp_flow_key);
	__type(value, struct shunt_udp_flow);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_udp_flows SEC(".maps");

/* Decisions counted by (source, destination, port, protocol, verdict). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct shunt_verdict_key);
	__type(value, struct shunt_verdict_count);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_verdicts SEC(".maps");

/* Identities the inbound proxy vouches for, by its socket's address and port. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct shunt_proxy_key);
	__type(value, struct shunt_proxy_asserted);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_proxy_asserted SEC(".maps");

/* Flow events for `shunt flows`. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct shunt_mesh_counters);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_mesh_counters SEC(".maps");

#endif /* SHUNT_MESH_MAPS_BPF_H */
