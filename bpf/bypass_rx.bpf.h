/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The receive side of the bypass: how a socket reads, published in
 * shunt_endpoints for its peer's sk_msg program. Read paths have no sockops
 * or sk_msg hook, so bypass.bpf.c calls these from whichever hook this
 * kernel offers (docs/kernels.md): the sock_recv_length tracepoint (6.3+)
 * or fexit on inet_recvmsg/inet6_recvmsg for recvmsg, the
 * tcp_rcv_space_adjust tracepoint for every TCP queue reader. BPF-only.
 */
#ifndef SHUNT_BYPASS_RX_BPF_H
#define SHUNT_BYPASS_RX_BPF_H

#include "bypass_admit.bpf.h"

static __always_inline int shunt_key_from_sk(struct sock *sk, struct shunt_sock_key *key)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	if (family == SHUNT_AF_INET) {
		shunt_addr_from_v4(key->local_addr, BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr));
		shunt_addr_from_v4(key->remote_addr, BPF_CORE_READ(sk, __sk_common.skc_daddr));
	} else if (family == SHUNT_AF_INET6) {
		BPF_CORE_READ_INTO(&key->local_addr, sk,
				   __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&key->remote_addr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	} else {
		return -1;
	}
	key->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
	key->remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	key->netns_cookie = BPF_CORE_READ(sk, __sk_common.skc_net.net, net_cookie);
	return 0;
}

/* The endpoint of a socket with a psock: by the psock index when it is ours. */
static __always_inline struct shunt_endpoint *shunt_psock_endpoint(__u64 psock,
								   struct shunt_sock_key *key)
{
	struct shunt_sock_key *indexed = bpf_map_lookup_elem(&shunt_psocks, &psock);

	if (!indexed)
		return NULL; /* someone else's sockmap */
	*key = *indexed;
	return bpf_map_lookup_elem(&shunt_endpoints, key);
}

static __always_inline struct shunt_endpoint *
shunt_endpoint_of(struct sock *sk, struct sk_psock **psock, struct shunt_sock_key *key)
{
	unsigned long user_data = (unsigned long)BPF_CORE_READ(sk, sk_user_data);

	if (!(user_data & SHUNT_SK_USER_DATA_PSOCK))
		return NULL;
	*psock = (struct sk_psock *)(user_data & SHUNT_SK_USER_DATA_PTRMASK);
	return shunt_psock_endpoint(user_data & SHUNT_SK_USER_DATA_PTRMASK, key);
}

/*
 * After every recvmsg of an inet socket, with its result and flags. Sockets
 * in the sockhash publish their receive state; a watched socket (the first
 * connection of an unknown server) teaches its profile how the server reads.
 */
static __always_inline int shunt_rx_on_recvmsg(struct sock *sk, int ret, int flags)
{
	unsigned long user_data = (unsigned long)BPF_CORE_READ(sk, sk_user_data);
	struct shunt_counters *c = shunt_counters_get();
	struct shunt_sock_key key = {};
	struct sk_psock *psock = NULL;
	struct shunt_endpoint *ep;
	__u32 rx_flags, copied_seq, tcp_bytes;
	bool blocking;

	if (user_data & SHUNT_SK_USER_DATA_PSOCK) {
		ep = shunt_endpoint_of(sk, &psock, &key);
	} else {
		/* A watched socket (not in the sockhash) of a mesh task? */
		if (bpf_current_task_under_cgroup(&shunt_mesh_cgroup, 0) != 1)
			return 0;
		if (shunt_key_from_sk(sk, &key))
			return 0;
		ep = bpf_map_lookup_elem(&shunt_endpoints, &key);
	}
	if (!ep)
		return 0;
	/* How the socket is read rarely changes: look at its file flags on
	 * the first reads and then now and again, not on every one. */
	blocking = !(flags & SHUNT_MSG_DONTWAIT) &&
		   (ep->rx_reads < 4 || (ep->rx_reads & 63) == 0 || ep->observing) &&
		   !(BPF_CORE_READ(sk, sk_socket, file, f_flags) & SHUNT_O_NONBLOCK);
	if (blocking && !ep->passive) {
		__u32 tgid = bpf_get_current_pid_tgid() >> 32, one = 1;

		bpf_map_update_elem(&shunt_blocking_tasks, &tgid, &one, BPF_ANY);
	}

	if (ep->observing) {
		/* One read tells enough; stop watching this socket. */
		if (blocking && ep->passive)
			shunt_profile_note(&key, ep->passive, SHUNT_PROFILE_BLOCKING);
		else if (flags & SHUNT_MSG_WAITALL)
			shunt_profile_note(&key, ep->passive, SHUNT_PROFILE_UNSAFE);
		else
			shunt_profile_note(&key, ep->passive, SHUNT_PROFILE_RECVMSG);
		bpf_map_delete_elem(&shunt_endpoints, &key);
		return 0;
	}

	rx_flags = (ep->rx_flags | SHUNT_RX_RECVMSG) & ~SHUNT_RX_OTHER_READ;
	if (!(ep->rx_flags & SHUNT_RX_RECVMSG) && !blocking)
		shunt_profile_note(&key, ep->passive, SHUNT_PROFILE_RECVMSG);
	if (blocking && !(ep->rx_flags & SHUNT_RX_BLOCKING)) {
		/* Made blocking after it was admitted: it stays, exposed to
		 * the kernel's early EAGAIN; count it and keep its kind (a
		 * server port, or this client process) out from now on. */
		rx_flags |= SHUNT_RX_BLOCKING;
		if (ep->passive)
			shunt_profile_note(&key, ep->passive, SHUNT_PROFILE_BLOCKING);
		if (c)
			c->rx_blocking++;
	}
	if (flags & SHUNT_MSG_WAITALL) {
		rx_flags |= SHUNT_RX_WAITALL;
		shunt_profile_note(&key, ep->passive, SHUNT_PROFILE_UNSAFE);
	}
	if (ep->rx_reads < 4 || (ep->rx_reads & 63) == 0) {
		if (BPF_CORE_READ(sk, sk_rcvlowat) > 1)
			rx_flags |= SHUNT_RX_LOWAT;
		else
			rx_flags &= ~SHUNT_RX_LOWAT;
	}
	copied_seq = BPF_CORE_READ((struct tcp_sock *)sk, copied_seq);
	/* One recvmsg reads either redirected data or the TCP queue, and only
	 * the latter moves copied_seq: what it did not move came redirected. */
	if (ret > 0 && !(flags & SHUNT_MSG_PEEK)) {
		tcp_bytes = copied_seq - ep->rx_seq_seen;
		if (tcp_bytes < (__u32)ret)
			ep->rx_redirected += (__u32)ret - tcp_bytes;
	}
	ep->rx_seq_seen = copied_seq;
	ep->copied_seq = copied_seq;
	ep->backlog = shunt_psock_backlog(psock);
	ep->rx_flags = rx_flags;
	ep->rx_reads++;
	return 0;
}

/*
 * Every reader of the TCP receive queue: inside tcp_recvmsg (followed by the
 * recvmsg hook, which clears the flag again) and splice and zerocopy reads
 * (never followed by it).
 */
static __always_inline int shunt_rx_on_queue_read(struct sock *sk)
{
	struct shunt_sock_key key = {};
	struct sk_psock *psock = NULL;
	struct shunt_endpoint *ep;

	ep = shunt_endpoint_of(sk, &psock, &key);
	if (!ep)
		return 0;
	ep->copied_seq = BPF_CORE_READ((struct tcp_sock *)sk, copied_seq);
	ep->rx_flags |= SHUNT_RX_OTHER_READ;
	return 0;
}

#endif /* SHUNT_BYPASS_RX_BPF_H */
