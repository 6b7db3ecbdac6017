/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * shunt_coverage: same-node connections by program and path, for `shunt
 * status` (docs/datapath.md, "Coverage"), and shunt_pairs: by client and
 * server workload, for `shunt graph`. For people only: the datapath never
 * reads them. BPF-only.
 */
#ifndef SHUNT_BYPASS_COVERAGE_BPF_H
#define SHUNT_BYPASS_COVERAGE_BPF_H

#include "shunt_helpers.bpf.h"

/* The program running now, for shunt_coverage. bpf_get_current_comm is
 * not offered to sockops or sk_msg; the current task and a probe read are. */
static __always_inline void shunt_current_comm(char *comm)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	BPF_CORE_READ_STR_INTO((char(*)[SHUNT_COMM_LEN])comm, task, comm);
}

/* Adds to the program's line of shunt_coverage. */
static __always_inline void shunt_coverage_add(const char *comm, __u32 path, __u32 reason,
					       __u64 bytes)
{
	struct shunt_coverage_key key = {.path = path, .reason = reason};
	struct shunt_coverage fresh = {.sockets = 1, .bytes = bytes}, *cov;

	__builtin_memcpy(key.comm, comm, sizeof(key.comm));
	cov = bpf_map_lookup_elem(&shunt_coverage, &key);
	if (!cov) {
		if (!bpf_map_update_elem(&shunt_coverage, &key, &fresh, BPF_NOEXIST))
			return;
		cov = bpf_map_lookup_elem(&shunt_coverage, &key);
		if (!cov)
			return;
	}
	__sync_fetch_and_add(&cov->sockets, 1);
	__sync_fetch_and_add(&cov->bytes, bytes);
}

/* A same-node mesh connection kept out: by program, where connect() named it. */
static __always_inline void shunt_coverage_skip(struct bpf_sock *sk, int skip)
{
	struct shunt_sock_state *st;

	if (skip < SHUNT_SKIP_NETNS_MISMATCH || skip == SHUNT_SKIP_PEER_SKIPPED)
		return; /* not a same-node mesh pair, or counted at its other end */
	st = bpf_sk_storage_get(&shunt_sock_states, sk, 0, 0); /* from connect() */
	if (st)
		shunt_coverage_add(st->comm, SHUNT_PATH_SKIPPED, skip, 0);
}

/* What the socket's sends did, by program: for `shunt status`. */
static __always_inline void shunt_coverage_close(const struct shunt_sock_state *st)
{
	if (st->bytes_bypass)
		shunt_coverage_add(st->comm, SHUNT_PATH_BYPASS, 0, st->bytes_bypass);
	if (st->bytes_tcp && !st->bytes_bypass)
		shunt_coverage_add(st->comm, SHUNT_PATH_TCP, st->tcp_reason, st->bytes_tcp);
	else if (st->bytes_tcp)
		shunt_coverage_add(st->comm, SHUNT_PATH_TCP, SHUNT_REASON_MAX, st->bytes_tcp);
}

/* What the socket's sends did, by client and server workload (shunt_pairs). */
static __always_inline void shunt_pairs_close(const struct shunt_sock_state *st,
					      const struct shunt_endpoint *ep)
{
	struct shunt_pair_key key = {.client = ep->workload, .server = ep->peer_workload};
	struct shunt_pair fresh = {}, *p;

	if (ep->passive) {
		key.client = ep->peer_workload;
		key.server = ep->workload;
	}
	p = bpf_map_lookup_elem(&shunt_pairs, &key);
	if (!p) {
		/* Another CPU may have added it meanwhile: look again either way. */
		bpf_map_update_elem(&shunt_pairs, &key, &fresh, BPF_NOEXIST);
		p = bpf_map_lookup_elem(&shunt_pairs, &key);
		if (!p)
			return;
	}
	if (!ep->passive) {
		__sync_fetch_and_add(&p->conns, 1);
		if (st->ever_bypassed)
			__sync_fetch_and_add(&p->conns_bypassed, 1);
	}
	__sync_fetch_and_add(&p->bytes_bypass, st->bytes_bypass);
	__sync_fetch_and_add(&p->bytes_tcp, st->bytes_tcp);
}

#endif /* SHUNT_BYPASS_COVERAGE_BPF_H */
