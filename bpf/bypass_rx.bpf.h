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

/* The endpoint of a mesh socket that no longer has a psock (it left, or the
 * kernel unlinked it while the read was under way); NULL once closed. */
static __always_inline struct shunt_endpoint *shunt_endpoint_by_key(struct sock *sk,
								    struct shunt_sock_key *key)
{
	if (shunt_key_from_sk(sk, key))
		return NULL;
	return bpf_map_lookup_elem(&shunt_endpoints, key);
}

/* A signal is pending for the reader: it woke the read (not yet handled). */
static __always_inline bool shunt_signal_pending(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	return BPF_CORE_READ(task, pending.signal.sig[0]) ||
	       BPF_CORE_READ(task, signal, shared_pending.signal.sig[0]);
}

/*
 * A blocking read with no timeout returned EAGAIN: plain TCP never does
 * that, the kernel's sockhash recvmsg does when woken without data. Count
 * it by cause and program. A wakeup shunt cannot foresee (send-buffer space,
 * say) also stops the peer redirecting (the socket leaves at its next
 * callback) and keeps this kind's blocking sockets on TCP from now on. Not
 * learned: a dead connection (a reset woke the reader) and a signal (the
 * ones that wake blocking reads mostly end the run or the program: a timed
 * run's SIGALRM, SIGTERM), which would take the program's next runs off
 * the bypass for good (docs/datapath.md).
 */
static __always_inline void shunt_rx_early_eagain(struct shunt_endpoint *ep,
						  const struct shunt_sock_key *key,
						  struct shunt_counters *c)
{
	struct shunt_coverage_key ck = {.path = SHUNT_PATH_EARLY_EAGAIN};
	struct shunt_coverage one = {.sockets = 1}, *cov;

	ck.reason = !ep			     ? SHUNT_EAGAIN_CLOSED
		    : shunt_signal_pending() ? SHUNT_EAGAIN_SIGNAL
					     : SHUNT_EAGAIN_WOKEN;
	if (c)
		c->rx_early_eagain++;
	if (ck.reason == SHUNT_EAGAIN_WOKEN) {
		ep->early_eagain = 1;
		__sync_lock_test_and_set(&ep->leaving, 1);
		shunt_profile_note(key, ep->passive, SHUNT_PROFILE_EARLY_EAGAIN);
	}
	bpf_get_current_comm(ck.comm, sizeof(ck.comm));
	cov = bpf_map_lookup_elem(&shunt_coverage, &ck);
	if (cov)
		__sync_fetch_and_add(&cov->sockets, 1);
	else
		bpf_map_update_elem(&shunt_coverage, &ck, &one, BPF_NOEXIST);
}

static __always_inline bool shunt_blocking_read(struct sock *sk, int flags)
{
	return !(flags & SHUNT_MSG_DONTWAIT) &&
	       !(BPF_CORE_READ(sk, sk_socket, file, f_flags) & SHUNT_O_NONBLOCK);
}

/* Blocking, no SO_RCVTIMEO, and EAGAIN: only the kernel's early return. */
static __always_inline bool shunt_is_early_eagain(struct sock *sk, int ret, int flags)
{
	return ret == -SHUNT_EAGAIN && shunt_blocking_read(sk, flags) &&
	       BPF_CORE_READ(sk, sk_rcvtimeo) == SHUNT_MAX_SCHEDULE_TIMEOUT;
}

/*
 * After every recvmsg of an inet socket, with its result and flags: sockets
 * in the sockhash publish their receive state for their peer's sk_msg.
 */
static __always_inline int shunt_rx_on_recvmsg(struct sock *sk, int ret, int flags)
{
	unsigned long user_data = (unsigned long)BPF_CORE_READ(sk, sk_user_data);
	struct shunt_counters *c = shunt_counters_get();
	struct shunt_sock_key key = {};
	struct sk_psock *psock = NULL;
	struct shunt_endpoint *ep;
	__u32 rx_flags, copied_seq, tcp_bytes;

	ep = user_data & SHUNT_SK_USER_DATA_PSOCK ? shunt_endpoint_of(sk, &psock, &key) : NULL;
	if (ret == -SHUNT_EAGAIN && shunt_is_early_eagain(sk, ret, flags) &&
	    bpf_current_task_under_cgroup(&shunt_mesh_cgroup, 0) == 1)
		shunt_rx_early_eagain(ep ? ep : shunt_endpoint_by_key(sk, &key), &key, c);
	if (!ep || !psock)
		return 0;

	rx_flags = (ep->rx_flags | SHUNT_RX_RECVMSG) & ~SHUNT_RX_OTHER_READ;
	if (!(ep->rx_flags & SHUNT_RX_RECVMSG))
		shunt_profile_note(&key, ep->passive, SHUNT_PROFILE_RECVMSG);
	/* How the socket is read rarely changes: look at its file flags on
	 * the first reads and then now and again, not on every one. */
	if ((ep->rx_reads < 4 || (ep->rx_reads & 63) == 0) && !(ep->rx_flags & SHUNT_RX_BLOCKING) &&
	    shunt_blocking_read(sk, flags)) {
		rx_flags |= SHUNT_RX_BLOCKING;
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
