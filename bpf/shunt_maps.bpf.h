/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Maps of the bypass datapath. Every map is pinned by name under the pin
 * root the loader chooses (default /sys/fs/bpf/shunt/maps), so a later load,
 * the CLI and other BPF objects find the same maps.
 */
#ifndef SHUNT_MAPS_BPF_H
#define SHUNT_MAPS_BPF_H

#include "shunt_shared.h"

/* Per-socket state only the socket's own programs touch. */
struct shunt_sock_state {
	struct shunt_sock_key self; /* this socket's key */
	struct shunt_sock_key peer; /* the key its peer socket would have */
	__u32 bypassing;	    /* 1: sends currently take the bypass */
	__u32 ever_bypassed;
	__u32 streak;		/* small writes in a row with no read between */
	__u32 streak_reads;	/* own rx_reads when the streak began */
	__u32 peer_reads_seen;	/* peer rx_reads at its last known backlog */
	__u32 redirected_since; /* bytes redirected since then */
	__u32 admitted;		/* in the sockhash */
	__u32 pad;
	__u64 psock;	    /* psock address, key of shunt_psocks */
	__u32 small_run;    /* bytes of the current small-write stream */
	__u32 leaving;	    /* asked its peer to stop redirecting to it */
	__u32 left;	    /* removed from the sockhash */
	__u32 tcp_reason;   /* enum shunt_reason of its last send through TCP */
	__u64 tx_mark;	    /* tx_redirected before the last redirect */
	__u64 bytes_bypass; /* what its sends put through the bypass */
	__u64 bytes_tcp;    /* ... and through TCP */
	/* The connection's workloads when this socket is its client and
	 * counts it in shunt_pairs (pair_client 0: it does not). */
	__u32 pair_client;
	__u32 pair_server;
	char comm[SHUNT_COMM_LEN]; /* the program that connected or first sent */
};

/* Mesh membership, filled by userspace: address -> workload. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SHUNT_MAX_WORKLOADS);
	__type(key, struct shunt_workload_key);
	__type(value, struct shunt_workload);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_workloads SEC(".maps");

/* Workload names for people; the datapath never reads it. Not
 * preallocated: SHUNT_MAX_WORKLOADS names of SHUNT_NAME_MAX would be 20 MiB. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SHUNT_MAX_WORKLOADS);
	__type(key, __u32);
	__type(value, struct shunt_workload_name);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_workload_names SEC(".maps");

/* Established same-node mesh sockets; sk_msg redirects between them. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, SHUNT_MAX_SOCKS);
	__type(key, struct shunt_sock_key);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_socks SEC(".maps");

/* Receive-side state each socket publishes for its peer; removed at close. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SHUNT_MAX_SOCKS);
	__type(key, struct shunt_sock_key);
	__type(value, struct shunt_endpoint);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_endpoints SEC(".maps");

/* How servers and clients read, learnt per kind of connection. LRU: they
 * come and go with their pods, and netns cookies are never reused. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct shunt_rx_profile_key);
	__type(value, struct shunt_rx_profile);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_rx_profiles SEC(".maps");

/* Same-node connections by program and path (`shunt status`). LRU: programs
 * come and go; the counts are for people, not for decisions. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct shunt_coverage_key);
	__type(value, struct shunt_coverage);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_coverage SEC(".maps");

/* Same-node connections by client and server workload (`shunt graph`,
 * the agent's istio_tcp_* metrics). LRU: bounded, the pairs not updated
 * for longest go first (docs/telemetry.md). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SHUNT_MAX_PAIRS);
	__type(key, struct shunt_pair_key);
	__type(value, struct shunt_pair);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_pairs SEC(".maps");

/* The cgroup the datapath is attached to (set by the loader): the receive
 * tracepoints only look at tasks in it. */
struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_mesh_cgroup SEC(".maps");

/* psock address -> socket key: how the receive tracepoints, which see a
 * socket pointer, find its endpoint without rebuilding the key from a dozen
 * probe reads on every recvmsg. Filled at insertion, emptied at close. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SHUNT_MAX_SOCKS);
	__type(key, __u64);
	__type(value, struct shunt_sock_key);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_psocks SEC(".maps");

/* Private per-socket state; freed by the kernel with the socket. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct shunt_sock_state);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_sock_states SEC(".maps");

/* Node counters, one copy per CPU; userspace sums them. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct shunt_counters);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_counters SEC(".maps");

/* Run-time tunables; a missing or zeroed entry means bypass off. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct shunt_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_config SEC(".maps");

/* What this kernel can do, written by the loader (enum shunt_feature). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SHUNT_FEATURE_SLOTS);
	__type(key, __u32);
	__type(value, struct shunt_feature_status);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_features SEC(".maps");

#endif /* SHUNT_MAPS_BPF_H */
