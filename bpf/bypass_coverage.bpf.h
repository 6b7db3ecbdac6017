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

/* The pair's entry in shunt_pairs, made on first use; NULL if the map
 * refused (an LRU map evicts its oldest pair instead, so only memory). */
static __always_inline struct shunt_pair *shunt_pair_get(const struct shunt_sock_state *st)
{
	struct shunt_pair_key key = {.client = st->pair_client, .server = st->pair_server};
	struct shunt_pair fresh = {}, *p;

	p = bpf_map_lookup_elem(&shunt_pairs, &key);
	if (p)
		return p;
	/* Another CPU may have added it meanwhile: look again either way. */
	bpf_map_update_elem(&shunt_pairs, &key, &fresh, BPF_NOEXIST);
	return bpf_map_lookup_elem(&shunt_pairs, &key);
}

/* A client socket established between two workloads of this node (ids from
 * its endpoint EP): the connection counts as opened, and at the socket's
 * close as closed (shunt_pairs_close). */
static __always_inline void shunt_pairs_open(struct shunt_sock_state *st,
					     const struct shunt_endpoint *ep)
{
	struct shunt_pair *p;

	if (ep->passive)
		return; /* the client's socket accounts for the connection */
	st->pair_client = ep->workload;
	st->pair_server = ep->peer_workload;
	p = shunt_pair_get(st);
	if (p)
		__sync_fetch_and_add(&p->opened, 1);
}

/*
 * What the client's socket got through TCP: its data sent once (bytes_sent
 * counts retransmissions again), and the server's data it received
 * (bytes_received counts the server's FIN too, which sets SOCK_DONE).
 * Redirected bytes never touch either count.
 */
static __always_inline void shunt_pair_tcp_bytes(struct bpf_sock *sk, __u64 *sent, __u64 *received)
{
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
	__u64 done = 1ull << bpf_core_enum_value(enum sock_flags, SOCK_DONE);

	*sent = 0;
	*received = 0;
	if (!tp)
		return;
	*sent = tp->bytes_sent - tp->bytes_retrans;
	*received = tp->bytes_received;
	if (*received && (tp->inet_conn.icsk_inet.sk.__sk_common.skc_flags & done))
		*received -= 1;
}

/*
 * The client socket SK closes: the connection, and what each side sent, by
 * path: through TCP from the socket's own counts (shunt_pair_tcp_bytes),
 * through the bypass what its sends redirected and SERVER_BYPASS, what the
 * server's did.
 */
static __always_inline void
shunt_pairs_close(struct bpf_sock *sk, const struct shunt_sock_state *st, __u64 server_bypass)
{
	__u64 sent, received;
	struct shunt_pair *p;

	if (!st->pair_client)
		return;
	p = shunt_pair_get(st);
	if (!p)
		return;
	shunt_pair_tcp_bytes(sk, &sent, &received);
	__sync_fetch_and_add(&p->closed, 1);
	if (st->bytes_bypass || server_bypass)
		__sync_fetch_and_add(&p->conns_bypassed, 1);
	__sync_fetch_and_add(&p->client_bytes_bypass, st->bytes_bypass);
	__sync_fetch_and_add(&p->client_bytes_tcp, sent);
	__sync_fetch_and_add(&p->server_bytes_bypass, server_bypass);
	__sync_fetch_and_add(&p->server_bytes_tcp, received);
}

#endif /* SHUNT_BYPASS_COVERAGE_BPF_H */
