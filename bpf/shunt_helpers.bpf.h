/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Small helpers shared by the bypass programs. BPF-only. */
#ifndef SHUNT_HELPERS_BPF_H
#define SHUNT_HELPERS_BPF_H

#include "addr.bpf.h"
#include "shunt_maps.bpf.h"

#define SHUNT_AF_INET		   2
#define SHUNT_AF_INET6		   10
#define SHUNT_MSG_WAITALL	   0x100
#define SHUNT_MSG_DONTWAIT	   0x40
#define SHUNT_MSG_PEEK		   0x2
#define SHUNT_O_NONBLOCK	   04000
#define SHUNT_EAGAIN		   11
#define SHUNT_RCV_SHUTDOWN	   1
#define SHUNT_MAX_SCHEDULE_TIMEOUT 0x7fffffffffffffffL /* LONG_MAX */
#define SHUNT_IPPROTO_TCP	   6
#define SHUNT_SOL_TCP		   6
#define SHUNT_TCP_CONGESTION	   13
/* sk_user_data carries a psock when this bit is set (include/net/sock.h) */
#define SHUNT_SK_USER_DATA_PSOCK   4UL
#define SHUNT_SK_USER_DATA_PTRMASK (~7UL)

static __always_inline struct shunt_counters *shunt_counters_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&shunt_counters, &zero);
}

static __always_inline const struct shunt_config *shunt_config_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&shunt_config, &zero);
}

/* The loader sets this only once both receive-side guards are attached. */
static __always_inline bool shunt_bypass_on(void)
{
	__u32 key = SHUNT_FEAT_BYPASS;
	struct shunt_feature_status *f = bpf_map_lookup_elem(&shunt_features, &key);

	return f && f->state == SHUNT_FEATURE_ON;
}

/* The kernel's sockhash recvmsg keeps waiting when woken without data
 * (the fix in docs/kernel-patches/): blocking readers need no guard. */
static __always_inline bool shunt_recv_waits(void)
{
	__u32 key = SHUNT_FEAT_RECV_WAITS;
	struct shunt_feature_status *f = bpf_map_lookup_elem(&shunt_features, &key);

	return f && f->state == SHUNT_FEATURE_ON;
}

/* A process in a cgroup below a workload's is that workload (the mesh
 * hooks have the ancestor helpers; off, only the workload's own cgroup is). */
static __always_inline bool shunt_cgroup_ancestors_on(void)
{
	__u32 key = SHUNT_FEAT_CGROUP_ANCESTORS;
	struct shunt_feature_status *f = bpf_map_lookup_elem(&shunt_features, &key);

	return f && f->state == SHUNT_FEATURE_ON;
}

/* The per-reason blocks are arrays of __u64 in enum order. */
static __always_inline void shunt_count_reason(struct shunt_reason_counts *block, __u32 reason)
{
	__u64 *slot = (__u64 *)block;

	if (reason < SHUNT_REASON_MAX)
		slot[reason]++;
}

static __always_inline void shunt_count_skip(struct shunt_counters *c, __u32 why)
{
	__u64 *slot = (__u64 *)&c->skipped;

	if (c && why < SHUNT_SKIP_MAX)
		slot[why]++;
}

#endif /* SHUNT_HELPERS_BPF_H */
