// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Same-node bypass: TCP connections between two mesh workloads on this node
 * skip the TCP/IP stack. The sockops program puts both sockets of such a
 * connection into a sockhash; the sk_msg program moves each send straight to
 * the peer socket's receive queue.
 *
 * The bypass must never lose, reorder or stall a byte. Two kernel facts shape
 * the rules below:
 *  - A socket in a sockhash reads redirected data first and its TCP receive
 *    queue only when no redirected data is queued. So a sender may go from
 *    bypass to TCP at any time, but from TCP to bypass only once the peer has
 *    read every byte it sent through TCP.
 *  - Only recvmsg sees redirected data: splice and TCP zerocopy read the TCP
 *    queue alone, MSG_WAITALL and SO_RCVLOWAT are not honoured. So a socket
 *    only receives redirected data once it has shown it reads by recvmsg, and
 *    stops as soon as it shows anything else.
 * The receive side is observed with two tracepoints (read paths have no
 * sockops or sk_msg hook) and published in shunt_endpoints for the peer.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "proxy_maps.bpf.h"
#include "shunt_helpers.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* ---- connection set-up and tear-down (sockops) ------------------------- */

static __always_inline __u64 shunt_sock_cgroup_id(struct tcp_sock *tp)
{
	return BPF_CORE_READ(tp, inet_conn.icsk_inet.sk.sk_cgrp_data.cgroup, kn, id);
}

/* Fills both keys from the socket's own view; returns an enum shunt_skip or -1. */
static __always_inline int shunt_keys_from_skops(struct bpf_sock_ops *skops,
						 struct shunt_sock_key *self,
						 struct shunt_sock_key *peer)
{
	if (skops->family == SHUNT_AF_INET) {
		shunt_addr_from_v4(self->local_addr, skops->local_ip4);
		shunt_addr_from_v4(self->remote_addr, skops->remote_ip4);
	} else if (skops->family == SHUNT_AF_INET6) {
		__u32 local6[4] = {skops->local_ip6[0], skops->local_ip6[1], skops->local_ip6[2],
				   skops->local_ip6[3]};
		__u32 remote6[4] = {skops->remote_ip6[0], skops->remote_ip6[1],
				    skops->remote_ip6[2], skops->remote_ip6[3]};

		__builtin_memcpy(self->local_addr, local6, 16);
		__builtin_memcpy(self->remote_addr, remote6, 16);
	} else {
		return SHUNT_SKIP_FAMILY;
	}
	self->local_port = (__u16)skops->local_port;
	self->remote_port = (__u16)bpf_ntohl(skops->remote_port);
	self->netns_cookie = bpf_get_netns_cookie(skops);

	__builtin_memcpy(peer->local_addr, self->remote_addr, sizeof(peer->local_addr));
	__builtin_memcpy(peer->remote_addr, self->local_addr, sizeof(peer->remote_addr));
	peer->local_port = self->remote_port;
	peer->remote_port = self->local_port;
	return -1;
}

/* The node proxy's entry (key ::), if the config says where it runs. */
static __always_inline struct shunt_workload *shunt_node_proxy(void)
{
	struct shunt_workload_key zero = {};

	return bpf_map_lookup_elem(&shunt_workloads, &zero);
}

static __always_inline int shunt_check_workloads(struct bpf_sock *sk, struct shunt_sock_key *self,
						 struct shunt_sock_key *peer,
						 struct shunt_endpoint *ep)
{
	struct shunt_workload *local, *remote, *proxy;
	struct tcp_sock *tp;

	tp = bpf_skc_to_tcp_sock(sk);
	if (!tp)
		return SHUNT_SKIP_FAMILY;
	local = bpf_map_lookup_elem(&shunt_workloads, self->local_addr);
	if (!local || !(local->flags & SHUNT_WL_LOCAL)) {
		/* The proxy's transparent socket has a workload's address of
		 * another node: it is known by its cgroup and netns. */
		proxy = shunt_node_proxy();
		if (!proxy || proxy->cgroup_id != shunt_sock_cgroup_id(tp) ||
		    proxy->netns_cookie != self->netns_cookie)
			return SHUNT_SKIP_LOCAL_NOT_MESH;
		local = proxy;
	}
	remote = bpf_map_lookup_elem(&shunt_workloads, self->remote_addr);
	if (!remote)
		return SHUNT_SKIP_REMOTE_NOT_MESH;
	if (!(remote->flags & SHUNT_WL_LOCAL)) {
		/* A workload's accepted socket whose peer is the proxy's
		 * transparent socket: that one was established first, so it
		 * is in shunt_endpoints under the proxy's netns. */
		proxy = shunt_node_proxy();
		if (!proxy)
			return SHUNT_SKIP_REMOTE_OFF_NODE;
		peer->netns_cookie = proxy->netns_cookie;
		if (!bpf_map_lookup_elem(&shunt_endpoints, peer))
			return SHUNT_SKIP_REMOTE_OFF_NODE;
		remote = proxy;
	}
	/* The address alone proves nothing: another netns may use it too. */
	if (local->netns_cookie != self->netns_cookie)
		return SHUNT_SKIP_NETNS_MISMATCH;
	if (local->cgroup_id && local->cgroup_id != shunt_sock_cgroup_id(tp))
		return SHUNT_SKIP_CGROUP_MISMATCH;

	peer->netns_cookie = remote->netns_cookie;
	ep->workload = local->id;
	ep->peer_workload = remote->id;
	ep->copied_seq = tp->copied_seq;
	ep->rx_seq_seen = tp->copied_seq;
	return -1;
}

static __always_inline void shunt_profile_key(const struct shunt_sock_key *self, __u32 passive,
					      struct shunt_rx_profile_key *pkey)
{
	pkey->netns_cookie = self->netns_cookie;
	pkey->passive = passive;
	if (passive) {
		pkey->port = self->local_port;
	} else {
		pkey->port = self->remote_port;
		__builtin_memcpy(pkey->remote_addr, self->remote_addr, sizeof(pkey->remote_addr));
	}
}

enum shunt_profile_event {
	SHUNT_PROFILE_RECVMSG,		/* a connection's first recvmsg, non-blocking */
	SHUNT_PROFILE_UNSAFE,		/* read by splice, zerocopy or MSG_WAITALL */
	SHUNT_PROFILE_BLOCKING,		/* a blocking read */
	SHUNT_PROFILE_SMALL_WRITER,	/* streamed small writes */
	SHUNT_PROFILE_NOT_SMALL_WRITER, /* sent a fair amount, never a small-write stream */
};

static __always_inline void shunt_profile_note(const struct shunt_sock_key *self, __u32 passive,
					       enum shunt_profile_event event)
{
	struct shunt_rx_profile_key pkey = {};
	struct shunt_rx_profile fresh = {}, *p;

	shunt_profile_key(self, passive, &pkey);
	p = bpf_map_lookup_elem(&shunt_rx_profiles, &pkey);
	if (!p) {
		bpf_map_update_elem(&shunt_rx_profiles, &pkey, &fresh, BPF_NOEXIST);
		p = bpf_map_lookup_elem(&shunt_rx_profiles, &pkey);
		if (!p)
			return;
	}
	if (event == SHUNT_PROFILE_RECVMSG)
		__sync_fetch_and_add(&p->recvmsg_conns, 1);
	else if (event == SHUNT_PROFILE_UNSAFE)
		p->unsafe = 1;
	else
		p->blocking = 1;
}

/*
 * Decides, at establishment, whether a socket goes into the sockhash.
 * Returns an enum shunt_skip, or -1 to insert (*trusted: redirect to it from
 * the first byte).
 */
static __always_inline int shunt_admit(struct bpf_sock *sk, const struct shunt_sock_key *self,
				       const struct shunt_sock_key *peer, __u32 passive, __u32 tgid,
				       bool *trusted)
{
	struct shunt_rx_profile_key pkey = {};
	struct shunt_rx_profile *p;
	struct tcp_sock *tp;
	unsigned int f_flags;

	shunt_profile_key(self, passive, &pkey);
	p = bpf_map_lookup_elem(&shunt_rx_profiles, &pkey);
	*trusted = p && p->recvmsg_conns && !p->unsafe && !p->blocking;
	if (passive) {
		/* The client's side was decided first (its callback runs
		 * before ours): when it stayed out, no redirect can happen. */
		if (!bpf_map_lookup_elem(&shunt_endpoints, peer))
			return SHUNT_SKIP_PEER_SKIPPED;
		/* An accepted socket has no file yet: go by what earlier
		 * connections to this port showed, or watch this one. */
		if (p && p->blocking)
			return SHUNT_SKIP_BLOCKING;
		return p && p->recvmsg_conns ? -1 : SHUNT_SKIP_OBSERVING;
	}
	/* A client: its own socket says, and what its process did before. */
	if (tgid && bpf_map_lookup_elem(&shunt_blocking_tasks, &tgid))
		return SHUNT_SKIP_BLOCKING;
	tp = bpf_skc_to_tcp_sock(sk);
	if (!tp)
		return SHUNT_SKIP_FAMILY;
	f_flags = BPF_CORE_READ(tp, inet_conn.icsk_inet.sk.sk_socket, file, f_flags);
	return f_flags & SHUNT_O_NONBLOCK ? -1 : SHUNT_SKIP_BLOCKING;
}

/* Records where the kernel put the socket's psock, for the tracepoints. */
static __always_inline void shunt_index_psock(struct bpf_sock *sk, struct shunt_sock_state *st)
{
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
	unsigned long user_data;

	if (!tp)
		return;
	user_data = (unsigned long)BPF_CORE_READ(tp, inet_conn.icsk_inet.sk.sk_user_data);
	if (!(user_data & SHUNT_SK_USER_DATA_PSOCK))
		return;
	st->psock = user_data & SHUNT_SK_USER_DATA_PTRMASK;
	bpf_map_update_elem(&shunt_psocks, &st->psock, &st->self, BPF_ANY);
}

/*
 * Both ends run on this node, so nothing between them can be congested: the
 * congestion control only decides how much CPU each send costs. A pacing one
 * (BBR, the default on many nodes) arms timers for every small write that
 * goes through TCP; shunt gives such connections local_congestion instead.
 * This runs before the kernel initialises the node's default, so that one
 * never starts. Measured in docs/small-writes.md.
 */
static __always_inline void shunt_tune_local(struct bpf_sock_ops *skops, struct shunt_counters *c)
{
	const struct shunt_config *cfg = shunt_config_get();
	char name[SHUNT_CC_NAME_LEN];

	if (!cfg || !cfg->local_congestion[0])
		return;
	__builtin_memcpy(name, cfg->local_congestion, sizeof(name));
	name[sizeof(name) - 1] = '\0';
	if (bpf_setsockopt(skops, SHUNT_SOL_TCP, SHUNT_TCP_CONGESTION, name, sizeof(name)))
		c->cc_failed++;
	else
		c->cc_set++;
}

static __always_inline void shunt_sock_established(struct bpf_sock_ops *skops)
{
	struct shunt_counters *c = shunt_counters_get();
	struct shunt_sock_key self = {}, peer = {};
	struct shunt_endpoint ep = {};
	struct bpf_sock *sk = skops->sk;
	struct shunt_sock_state *st;
	bool trusted = false;
	__u32 tgid = 0;
	int skip;

	if (!c || !sk)
		return;
	skip = shunt_keys_from_skops(skops, &self, &peer);
	if (skip < 0)
		skip = shunt_check_workloads(sk, &self, &peer, &ep);
	if (skip < 0)
		shunt_tune_local(skops, c); /* whether or not it takes the bypass */
	ep.passive = skops->op == BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB;
	st = bpf_sk_storage_get(&shunt_sock_states, sk, 0, 0); /* from connect() */
	if (st)
		tgid = st->tgid;
	if (skip < 0)
		skip = shunt_admit(sk, &self, &peer, ep.passive, tgid, &trusted);
	if (skip >= 0 && skip != SHUNT_SKIP_OBSERVING) {
		shunt_count_skip(c, skip);
		return;
	}

	st = bpf_sk_storage_get(&shunt_sock_states, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st) {
		shunt_count_skip(c, SHUNT_SKIP_STORAGE_FAIL);
		return;
	}
	st->self = self;
	st->peer = peer;
	if (trusted) {
		ep.rx_flags |= SHUNT_RX_RECVMSG;
		c->socks_trusted++;
	}
	ep.observing = skip == SHUNT_SKIP_OBSERVING;
	st->observing = ep.observing;

	/* Publish the endpoint before the socket can be a redirect target. */
	if (bpf_map_update_elem(&shunt_endpoints, &self, &ep, BPF_ANY)) {
		shunt_count_skip(c, SHUNT_SKIP_INSERT_FAIL);
		bpf_sk_storage_delete(&shunt_sock_states, sk);
		return;
	}
	/* Ask for state changes so the endpoint entry goes away at close,
	 * and, for a socket in the sockhash, for its ACKs: where it may
	 * leave the sockhash (shunt_sock_try_leave). */
	bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG |
					     (ep.observing ? 0 : BPF_SOCK_OPS_RTT_CB_FLAG));
	if (ep.observing) {
		shunt_count_skip(c, SHUNT_SKIP_OBSERVING);
		return;
	}
	if (bpf_sock_hash_update(skops, &shunt_socks, &self, BPF_NOEXIST)) {
		shunt_count_skip(c, SHUNT_SKIP_INSERT_FAIL);
		bpf_map_delete_elem(&shunt_endpoints, &self);
		bpf_sk_storage_delete(&shunt_sock_states, sk);
		return;
	}
	st->admitted = 1;
	c->socks_added++;
	shunt_index_psock(sk, st);
}

static __always_inline void shunt_sock_closed(struct bpf_sock_ops *skops)
{
	struct shunt_counters *c = shunt_counters_get();
	struct bpf_sock *sk = skops->sk;
	struct shunt_sock_state *st;
	struct shunt_endpoint *ep;

	if (!sk)
		return;
	st = bpf_sk_storage_get(&shunt_sock_states, sk, 0, 0);
	if (!st)
		return;
	ep = bpf_map_lookup_elem(&shunt_endpoints, &st->self);
	/* Still flagged at close: it read by splice or zerocopy, not recvmsg. */
	if (ep && (ep->rx_flags & SHUNT_RX_OTHER_READ))
		shunt_profile_note(&st->self, ep->passive, SHUNT_PROFILE_UNSAFE);
	if (st->psock)
		bpf_map_delete_elem(&shunt_psocks, &st->psock);
	/* The kernel drops the sockhash entry itself. */
	bpf_map_delete_elem(&shunt_endpoints, &st->self);
	if (c && st->admitted)
		c->socks_closed++;
	bpf_sk_storage_delete(&shunt_sock_states, sk);
}

static __always_inline __u32 shunt_psock_backlog(struct sk_psock *psock)
{
	if (!psock || !bpf_core_field_exists(psock->msg_tot_len))
		return 0;
	return BPF_CORE_READ(psock, msg_tot_len);
}

/*
 * A socket that asked to leave goes once nothing of its peer's can still
 * arrive through the bypass: the peer redirected exactly the bytes this
 * socket has read, and nothing is queued. Deleting it from the sockhash
 * drops its psock, so its sends and reads are plain TCP again (no
 * tcp_bpf_sendmsg) for the rest of the connection. Runs on its ACKs
 * (RTT callback): the socket is locked there, and a small-write stream,
 * being TCP, gets ACKs all the time.
 */
static __always_inline void shunt_sock_try_leave(struct bpf_sock_ops *skops)
{
	struct shunt_endpoint *self, *peer;
	struct shunt_counters *c;
	struct shunt_sock_state *st;
	struct bpf_sock *sk = skops->sk;
	struct tcp_sock *tp;
	unsigned long user_data;
	__u64 tx;

	if (!sk)
		return;
	st = bpf_sk_storage_get(&shunt_sock_states, sk, 0, 0);
	if (!st || !st->leaving || st->left)
		return;
	self = bpf_map_lookup_elem(&shunt_endpoints, &st->self);
	peer = bpf_map_lookup_elem(&shunt_endpoints, &st->peer);
	if (!self || !peer)
		return; /* a peer closing mid-send: stay, that is always safe */
	/* Pairs with the add in shunt_redirect (fully ordered reads). */
	if (!__sync_fetch_and_add(&self->leaving, 0))
		return;
	tx = __sync_fetch_and_add(&peer->tx_redirected, 0);
	if (tx != self->rx_redirected)
		return;
	tp = bpf_skc_to_tcp_sock(sk);
	if (!tp)
		return;
	user_data = (unsigned long)BPF_CORE_READ(tp, inet_conn.icsk_inet.sk.sk_user_data);
	if (!(user_data & SHUNT_SK_USER_DATA_PSOCK) ||
	    shunt_psock_backlog((struct sk_psock *)(user_data & SHUNT_SK_USER_DATA_PTRMASK)))
		return;
	if (bpf_map_delete_elem(&shunt_socks, &st->self))
		return;
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
}

/* connect() runs in the caller's context: remember who is connecting. */
/* A connection the connect hook sent to the node proxy: now that it has a
 * source port, file its original destination under that port. */
static __always_inline void shunt_proxy_note_source(struct bpf_sock_ops *skops)
{
	__u64 cookie = bpf_get_socket_cookie(skops);
	struct shunt_proxy_key key = {};
	struct shunt_proxy_orig *orig;

	orig = bpf_map_lookup_elem(&shunt_proxy_pending, &cookie);
	if (!orig)
		return;
	if (skops->family == SHUNT_AF_INET) {
		shunt_addr_from_v4(key.addr, skops->local_ip4);
	} else if (skops->family == SHUNT_AF_INET6) {
		__u32 w[4] = {skops->local_ip6[0], skops->local_ip6[1], skops->local_ip6[2],
			      skops->local_ip6[3]};

		__builtin_memcpy(key.addr, w, 16);
	} else {
		return;
	}
	key.port = (__u16)skops->local_port;
	bpf_map_update_elem(&shunt_proxy_orig, &key, orig, BPF_ANY);
	bpf_map_delete_elem(&shunt_proxy_pending, &cookie);
}

static __always_inline void shunt_sock_connecting(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk = skops->sk;
	struct shunt_sock_state *st;

	if (!sk || (skops->family != SHUNT_AF_INET && skops->family != SHUNT_AF_INET6))
		return;
	st = bpf_sk_storage_get(&shunt_sock_states, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (st)
		st->tgid = bpf_get_current_pid_tgid() >> 32;
	shunt_proxy_note_source(skops);
}

SEC("sockops")
int shunt_sockops(struct bpf_sock_ops *skops)
{
	switch (skops->op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
		shunt_sock_connecting(skops);
		break;
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		shunt_sock_established(skops);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		if (skops->args[1] == BPF_TCP_CLOSE)
			shunt_sock_closed(skops);
		break;
	case BPF_SOCK_OPS_RTT_CB:
		shunt_sock_try_leave(skops);
		break;
	default:
		break;
	}
	return 1;
}

/* ---- sends (sk_msg) ----------------------------------------------------- */

/* Tracks runs of small writes with no read in between (a streaming writer). */
static __always_inline __u32 shunt_update_streak(struct shunt_sock_state *st,
						 const struct shunt_endpoint *self,
						 const struct shunt_config *cfg, __u32 size)
{
	__u32 reads = self ? self->rx_reads : 0;

	if (size > cfg->small_write_max) {
		st->streak = 0;
		st->small_run = 0;
		return 0;
	}
	if (st->streak == 0 || reads != st->streak_reads) {
		st->streak = 1;
		st->streak_reads = reads;
		st->small_run = 0;
	} else if (st->streak < 0xffffffffu) {
		st->streak++;
	}
	return st->streak;
}

/* Returns SHUNT_REASON_MAX when the send may take the bypass. */
static __always_inline __u32 shunt_verdict(struct sk_msg_md *msg, struct shunt_sock_state *st,
					   const struct shunt_endpoint *peer,
					   const struct shunt_config *cfg, __u32 streak)
{
	struct tcp_sock *tp;
	__u32 backlog;

	if (!cfg->bypass_enabled)
		return SHUNT_REASON_DISABLED;
	if (!peer)
		return SHUNT_REASON_PEER_MISSING;
	/* Leaving is for good, whichever side asked. */
	if (st->leaving || peer->leaving)
		return SHUNT_REASON_LEFT;
	/* First: a stream of small writes goes to TCP whatever else holds,
	 * and in windows (see shunt_sk_msg), so decide it before the rest. */
	if (cfg->small_streak && streak >= cfg->small_streak)
		return SHUNT_REASON_SMALL_WRITES;
	if (peer->rx_flags & SHUNT_RX_WAITALL)
		return SHUNT_REASON_RX_WAITALL;
	if (peer->rx_flags & SHUNT_RX_LOWAT)
		return SHUNT_REASON_RX_LOWAT;
	if (peer->rx_flags & SHUNT_RX_OTHER_READ)
		return SHUNT_REASON_RX_OTHER_READ;
	if (cfg->rx_guard && !(peer->rx_flags & SHUNT_RX_RECVMSG))
		return SHUNT_REASON_RX_UNPROVEN;
	if (!st->bypassing) {
		/* Redirected bytes would overtake TCP bytes the peer has not read. */
		tp = bpf_skc_to_tcp_sock(msg->sk);
		if (!tp || tp->write_seq != peer->copied_seq)
			return SHUNT_REASON_TCP_UNREAD;
	}

	/* Backlog: what the peer had queued at its last read plus what we
	 * redirected since. Its reads are the only clock we have. */
	if (peer->rx_reads != st->peer_reads_seen) {
		st->peer_reads_seen = peer->rx_reads;
		st->redirected_since = 0;
	}
	backlog = peer->backlog + st->redirected_since;
	if (cfg->max_backlog && backlog > cfg->max_backlog)
		return SHUNT_REASON_PEER_BACKLOG;
	return SHUNT_REASON_MAX;
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

/*
 * Redirects the message into the peer's receive queue. The bytes count as
 * redirected before the peer's leaving flag is read (a full barrier between
 * them): a peer that sets the flag and then finds the count equal to what it
 * has read cannot have a redirect of ours still on its way.
 */
static __always_inline bool shunt_redirect(struct sk_msg_md *msg, struct shunt_sock_state *st,
					   struct shunt_endpoint *self,
					   const struct shunt_endpoint *peer, __u32 size)
{
	if (!self)
		return false;
	/* Kept as a fetching add, which every JIT makes fully ordered. */
	st->tx_mark = __sync_fetch_and_add(&self->tx_redirected, (__u64)size);
	if (__sync_fetch_and_add((__u32 *)&peer->leaving, 0) ||
	    bpf_msg_redirect_hash(msg, &shunt_socks, &st->peer, BPF_F_INGRESS) != SK_PASS) {
		__sync_fetch_and_sub(&self->tx_redirected, (__u64)size);
		return false;
	}
	return true;
}

SEC("sk_msg")
int shunt_sk_msg(struct sk_msg_md *msg)
{
	struct shunt_counters *c = shunt_counters_get();
	const struct shunt_config *cfg = shunt_config_get();
	const struct shunt_endpoint *peer;
	struct shunt_endpoint *self;
	struct shunt_sock_state *st;
	__u32 size = msg->size;
	__u32 reason, streak, window;

	if (!msg->sk || !c || !cfg)
		return SK_PASS;
	st = bpf_sk_storage_get(&shunt_sock_states, msg->sk, 0, 0);
	if (!st)
		return SK_PASS;

	self = bpf_map_lookup_elem(&shunt_endpoints, &st->self);
	peer = bpf_map_lookup_elem(&shunt_endpoints, &st->peer);
	streak = shunt_update_streak(st, self, cfg, size);
	reason = shunt_verdict(msg, st, peer, cfg, streak);

	if (reason == SHUNT_REASON_MAX) {
		if (peer && shunt_redirect(msg, st, self, peer, size)) {
			if (!st->bypassing) {
				st->bypassing = 1;
				if (st->ever_bypassed)
					c->resumed++;
				else
					c->conns_bypassed++;
				st->ever_bypassed = 1;
			}
			st->redirected_since += size;
			c->msgs_redirected++;
			c->bytes_redirected += size;
			return SK_PASS;
		}
		reason = peer && peer->leaving ? SHUNT_REASON_LEFT : SHUNT_REASON_REDIRECT_FAIL;
	}

	/* Through TCP. Leaving the bypass is always safe for ordering. */
	if (st->bypassing) {
		st->bypassing = 0;
		shunt_count_reason(&c->handbacks, reason);
	}
	shunt_count_reason(&c->tcp_msgs, reason);
	c->msgs_tcp++;
	if (reason == SHUNT_REASON_SMALL_WRITES || reason == SHUNT_REASON_LEFT) {
		/* TCP for the next bytes anyway: let them through without
		 * running this program for each write (the counters see the
		 * window, not each write). */
		window = size;
		if (cfg->small_pass_bytes > size) {
			bpf_msg_apply_bytes(msg, cfg->small_pass_bytes);
			window = cfg->small_pass_bytes;
		}
		c->bytes_tcp += window;
		if (reason == SHUNT_REASON_SMALL_WRITES) {
			/* A long stream: even the sockhash's "pass" path costs
			 * more than plain TCP per write, so it leaves it. */
			st->small_run = st->small_run + window < st->small_run
					    ? 0xffffffffu
					    : st->small_run + window;
			if (cfg->small_leave_bytes && st->small_run >= cfg->small_leave_bytes)
				shunt_request_leave(st, self);
		} else if (peer && peer->left) {
			/* The peer is gone from the sockhash: this side has
			 * nothing to gain there either, and leaves too. */
			shunt_request_leave(st, self);
		}
		return SK_PASS;
	}
	c->bytes_tcp += size;
	return SK_PASS;
}

/* ---- receives (tracepoints) --------------------------------------------- */

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

/* The endpoint of a socket in our sockhash, or NULL for any other socket. */
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
 * Every recvmsg ends here (sock_recvmsg_nosec), with its flags. Sockets in
 * the sockhash publish their receive state; a watched socket (the first
 * connection of an unknown server) teaches its profile how the server reads.
 */
SEC("raw_tp/sock_recv_length")
int BPF_PROG(shunt_rx_recvmsg, struct sock *sk, int ret, int flags)
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
 * Fires from every reader of the TCP receive queue: inside tcp_recvmsg
 * (followed by sock_recv_length, which clears the flag again) and from
 * splice and zerocopy reads (never followed by it).
 */
SEC("raw_tp/tcp_rcv_space_adjust")
int BPF_PROG(shunt_rx_queue_read, struct sock *sk)
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

/* ---- inspection (iterator) ---------------------------------------------- */

/* One shunt_sock_report per socket in the sockhash; read by the CLI. */
SEC("iter/sockmap")
int shunt_socks_iter(struct bpf_iter__sockmap *ctx)
{
	struct shunt_sock_report report = {};
	struct shunt_sock_state *st;
	const struct shunt_sock_key *key = ctx->key;
	struct sock *sk = ctx->sk;
	unsigned long user_data;

	if (!sk || !key)
		return 0;
	report.key = *key;
	user_data = (unsigned long)sk->sk_user_data;
	if (user_data & SHUNT_SK_USER_DATA_PSOCK)
		report.pending = shunt_psock_backlog(
		    (struct sk_psock *)(user_data & SHUNT_SK_USER_DATA_PTRMASK));
	report.tcp_state = sk->__sk_common.skc_state;
	st = bpf_sk_storage_get(&shunt_sock_states, sk, 0, 0);
	if (st) {
		report.bypassing = st->bypassing;
		report.ever_bypassed = st->ever_bypassed;
	}
	bpf_seq_write(ctx->meta->seq, &report, sizeof(report));
	return 0;
}
