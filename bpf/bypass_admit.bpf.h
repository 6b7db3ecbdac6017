/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Which established connections enter the sockhash (bypass.bpf.c's sockops
 * program): both ends mesh workloads of this node, in their own netns and
 * cgroup, and a receiver that reads in a way redirected data can serve.
 * BPF-only.
 */
#ifndef SHUNT_BYPASS_ADMIT_BPF_H
#define SHUNT_BYPASS_ADMIT_BPF_H

#include "shunt_helpers.bpf.h"

/*
 * Whether the socket is in the cgroup CGROUP_ID or below it, as the mesh
 * hooks see a process (mesh_cgroup.bpf.h): a container's socket belongs to
 * its pod. The exact cgroup first; then up its parents, SHUNT_CGROUP_LEVELS
 * at most (sockops has no ancestor helper: a read of each parent). A socket
 * deeper below its workload's cgroup stays on TCP; policy still holds it.
 */
static __always_inline bool shunt_sock_in_cgroup(struct tcp_sock *tp, __u64 cgroup_id)
{
	struct cgroup *cg = BPF_CORE_READ(tp, inet_conn.icsk_inet.sk.sk_cgrp_data.cgroup);
	int i;

	if (BPF_CORE_READ(cg, kn, id) == cgroup_id)
		return true;
	if (!shunt_cgroup_ancestors_on())
		return false;
	for (i = 0; i < SHUNT_CGROUP_LEVELS; i++) {
		cg = BPF_CORE_READ(cg, self.parent, cgroup);
		if (!cg)
			return false; /* above the root */
		if (BPF_CORE_READ(cg, kn, id) == cgroup_id)
			return true;
	}
	return false;
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
		if (!proxy || proxy->netns_cookie != self->netns_cookie ||
		    !shunt_sock_in_cgroup(tp, proxy->cgroup_id))
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
	if (local->cgroup_id && !shunt_sock_in_cgroup(tp, local->cgroup_id))
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

/* What a read teaches a profile; each sets its own field of it. */
enum shunt_profile_event {
	SHUNT_PROFILE_RECVMSG,	    /* a connection's first recvmsg */
	SHUNT_PROFILE_UNSAFE,	    /* read by splice, zerocopy or MSG_WAITALL */
	SHUNT_PROFILE_EARLY_EAGAIN, /* a blocking read got the kernel's early EAGAIN */
};

static __always_inline void shunt_profile_note(const struct shunt_sock_key *self, __u32 passive,
					       enum shunt_profile_event event)
{
	struct shunt_rx_profile_key pkey = {};
	struct shunt_rx_profile fresh = {}, *p;

	/* Anything else would mark the profile wrongly. */
	if (event != SHUNT_PROFILE_RECVMSG && event != SHUNT_PROFILE_UNSAFE &&
	    event != SHUNT_PROFILE_EARLY_EAGAIN)
		return;
	shunt_profile_key(self, passive, &pkey);
	p = bpf_map_lookup_elem(&shunt_rx_profiles, &pkey);
	if (!p) {
		bpf_map_update_elem(&shunt_rx_profiles, &pkey, &fresh, BPF_NOEXIST);
		p = bpf_map_lookup_elem(&shunt_rx_profiles, &pkey);
		if (!p)
			return;
	}
	switch (event) {
	case SHUNT_PROFILE_RECVMSG:
		__sync_fetch_and_add(&p->recvmsg_conns, 1);
		break;
	case SHUNT_PROFILE_UNSAFE:
		p->unsafe = 1;
		break;
	case SHUNT_PROFILE_EARLY_EAGAIN:
		p->early_eagain = 1;
		break;
	}
}

static __always_inline bool shunt_sock_is_blocking(struct tcp_sock *tp)
{
	return !(BPF_CORE_READ(tp, inet_conn.icsk_inet.sk.sk_socket, file, f_flags) &
		 SHUNT_O_NONBLOCK);
}

/*
 * Decides, at establishment, whether a socket goes into the sockhash.
 * Returns an enum shunt_skip, or -1 to insert (*trusted: redirect to it from
 * the first byte; otherwise from its first recvmsg on).
 *
 * Blocking sockets are admitted: the wakeups without data that make the
 * kernel's sockhash recvmsg return EAGAIN early are guarded where they come
 * from (half-close: shunt_sock_half_closed). Only a kind of connection that
 * met the early EAGAIN anyway keeps its blocking sockets out; an accepted
 * socket has no file yet, so for a server port that rule covers all.
 */
static __always_inline int shunt_admit(struct bpf_sock *sk, const struct shunt_sock_key *self,
				       const struct shunt_sock_key *peer, __u32 passive,
				       bool *trusted)
{
	struct shunt_rx_profile_key pkey = {};
	struct shunt_rx_profile *p;
	struct tcp_sock *tp;

	shunt_profile_key(self, passive, &pkey);
	p = bpf_map_lookup_elem(&shunt_rx_profiles, &pkey);
	*trusted = p && p->recvmsg_conns && !p->unsafe;
	if (passive) {
		/* The client's side was decided first (its callback runs
		 * before ours): when it stayed out, no redirect can happen. */
		if (!bpf_map_lookup_elem(&shunt_endpoints, peer))
			return SHUNT_SKIP_PEER_SKIPPED;
		return p && p->early_eagain && !shunt_recv_waits() ? SHUNT_SKIP_EARLY_EAGAIN : -1;
	}
	if (!p || !p->early_eagain || shunt_recv_waits())
		return -1;
	tp = bpf_skc_to_tcp_sock(sk);
	if (!tp)
		return SHUNT_SKIP_FAMILY;
	return shunt_sock_is_blocking(tp) ? SHUNT_SKIP_EARLY_EAGAIN : -1;
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

/* Whether the kernel's psock counts its queued bytes (msg_tot_len: Linux
 * 6.12, and Debian's 6.12 builds; not 6.1). */
static __always_inline bool shunt_psock_counts_queue(void)
{
	return bpf_core_field_exists(((struct sk_psock *)0)->msg_tot_len);
}

static __always_inline __u32 shunt_psock_backlog(struct sk_psock *psock)
{
	if (!psock || !shunt_psock_counts_queue())
		return 0;
	return BPF_CORE_READ(psock, msg_tot_len);
}

/* Bytes FROM redirected to TO that TO has not read: from the counters both
 * publish in shunt_endpoints, where the psock does not count them. */
static __always_inline __u32 shunt_unread(const struct shunt_endpoint *from,
					  const struct shunt_endpoint *to)
{
	__u64 sent = from->tx_redirected, read = to->rx_redirected;

	return sent > read ? (__u32)(sent - read) : 0;
}

#endif /* SHUNT_BYPASS_ADMIT_BPF_H */
