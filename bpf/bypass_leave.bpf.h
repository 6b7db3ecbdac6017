/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Leaving the sockhash while the connection lives: after a long small-write
 * stream (docs/small-writes.md), at a blocking socket's half-close, after a
 * learned early EAGAIN (docs/datapath.md). Leaving drops the psock and
 * whatever is queued there, so a socket goes only once its peer has stopped
 * redirecting to it and it has read every byte the peer redirected.
 * BPF-only.
 */
#ifndef SHUNT_BYPASS_LEAVE_BPF_H
#define SHUNT_BYPASS_LEAVE_BPF_H

#include "bypass_admit.bpf.h"

/*
 * Takes the socket out of the sockhash if nothing of its peer's can still
 * arrive through the bypass: it asked to leave (the peer no longer
 * redirects), the peer redirected exactly the bytes this socket has read,
 * and nothing is queued. Deleting it drops its psock, so its sends and reads
 * are plain TCP again (no tcp_bpf) for the rest of the connection. Runs
 * where the socket is locked: its ACKs (RTT callback) and state changes.
 */
static __always_inline bool shunt_sock_try_leave(struct bpf_sock_ops *skops,
						 struct shunt_sock_state *st)
{
	struct shunt_endpoint *self, *peer;
	struct shunt_counters *c;
	struct bpf_sock *sk = skops->sk;
	struct tcp_sock *tp;
	unsigned long user_data;
	__u64 tx;

	if (!sk || !st->admitted || st->left)
		return false;
	self = bpf_map_lookup_elem(&shunt_endpoints, &st->self);
	/* Pairs with the add in shunt_redirect (fully ordered reads). */
	if (!self || !__sync_fetch_and_add(&self->leaving, 0))
		return false;
	st->leaving = 1;
	peer = bpf_map_lookup_elem(&shunt_endpoints, &st->peer);
	if (!peer)
		return false; /* a peer closing mid-send: stay, that is always safe */
	tx = __sync_fetch_and_add(&peer->tx_redirected, 0);
	if (tx != self->rx_redirected)
		return false;
	tp = bpf_skc_to_tcp_sock(sk);
	if (!tp)
		return false;
	user_data = (unsigned long)BPF_CORE_READ(tp, inet_conn.icsk_inet.sk.sk_user_data);
	if (!(user_data & SHUNT_SK_USER_DATA_PSOCK) ||
	    shunt_psock_backlog((struct sk_psock *)(user_data & SHUNT_SK_USER_DATA_PTRMASK)))
		return false;
	if (bpf_map_delete_elem(&shunt_socks, &st->self))
		return false;
	st->left = 1;
	self->left = 1;
	if (st->psock) {
		bpf_map_delete_elem(&shunt_psocks, &st->psock);
		st->psock = 0;
	}
	c = shunt_counters_get();
	if (c)
		c->socks_left++;
	bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags & ~BPF_SOCK_OPS_RTT_CB_FLAG);
	return true;
}

/*
 * At TCP_CLOSE. Recent kernels (seen on 6.18: the sockmap has no unhash
 * hook any more) drop a sockhash entry at close() only, not when the
 * connection ends. Until the application closes the socket, its entry
 * would hold a 4-tuple that the kernel has already freed for a new
 * connection: that one's insert fails (EEXIST) and it stays on TCP. So
 * the entry goes now, if nothing redirected to the socket is unread: by
 * TCP_CLOSE every byte the peer redirected is queued (its FIN or RST came
 * after its last send), and deleting the entry drops the psock with its
 * queue. A kernel that does not count the queue keeps the entry until
 * close(), as before.
 */
static __always_inline void shunt_sock_release_at_close(struct bpf_sock *sk,
							struct shunt_sock_state *st)
{
	unsigned long user_data;
	struct tcp_sock *tp;

	if (st->left || !shunt_psock_counts_queue())
		return;
	tp = bpf_skc_to_tcp_sock(sk);
	if (!tp)
		return;
	user_data = (unsigned long)BPF_CORE_READ(tp, inet_conn.icsk_inet.sk.sk_user_data);
	if (!(user_data & SHUNT_SK_USER_DATA_PSOCK) ||
	    shunt_psock_backlog((struct sk_psock *)(user_data & SHUNT_SK_USER_DATA_PTRMASK)))
		return;
	bpf_map_delete_elem(&shunt_socks, &st->self);
}

/*
 * shutdown(SHUT_WR): once the peer acknowledges the FIN, the FIN_WAIT2 state
 * change wakes a blocking reader without data, and the kernel's sockhash
 * recvmsg returns EAGAIN instead of waiting on (docs/datapath.md). So the
 * socket leaves now, inside shutdown(), before the application reads again:
 * those reads are plain tcp_recvmsg. If data redirected to it is still
 * unread it cannot leave yet (the psock would take that data along): it
 * tries again at each ACK and state change, and the peer stops redirecting.
 * close() needs nothing (no reader is left), nor does a non-blocking socket
 * (EAGAIN is its normal answer) or a kernel with the fix.
 */
static __always_inline void shunt_sock_half_closed(struct bpf_sock_ops *skops, struct bpf_sock *sk,
						   struct shunt_sock_state *st)
{
	struct shunt_counters *c = shunt_counters_get();
	struct shunt_endpoint *self;
	struct tcp_sock *tp;

	if (!st->admitted || st->left || shunt_recv_waits())
		return;
	tp = bpf_skc_to_tcp_sock(sk);
	if (!tp || (BPF_CORE_READ(tp, inet_conn.icsk_inet.sk.sk_shutdown) & SHUNT_RCV_SHUTDOWN) ||
	    !shunt_sock_is_blocking(tp))
		return;
	self = bpf_map_lookup_elem(&shunt_endpoints, &st->self);
	if (!self)
		return;
	__sync_lock_test_and_set(&self->leaving, 1);
	if (!c)
		return;
	if (shunt_sock_try_leave(skops, st))
		c->halfclose_left++;
	else
		c->halfclose_late++;
}

/*
 * Asks the peer to stop redirecting to this socket, which will then leave
 * the sockhash (shunt_sock_try_leave). The exchange is a full barrier: it
 * pairs with the one in shunt_redirect (see struct shunt_endpoint).
 */
static __always_inline void shunt_request_leave(struct shunt_sock_state *st,
						struct shunt_endpoint *self)
{
	if (st->leaving || !self)
		return;
	__sync_lock_test_and_set(&self->leaving, 1);
	st->leaving = 1;
}

#endif /* SHUNT_BYPASS_LEAVE_BPF_H */
