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
 *  - A blocking recvmsg woken without data returns EAGAIN early (kernels
 *    without the recv_waits fix). A half-closing blocking socket leaves the
 *    sockhash inside shutdown() (bypass_leave.bpf.h); the wakeups nothing
 *    can foresee are counted, and learned where that helps (bypass_rx.bpf.h).
 * The receive side is observed from two hooks (bypass_rx.bpf.h) and
 * published in shunt_endpoints for the peer. Without both, the loader keeps
 * the bypass off (shunt_features) and no socket enters the sockhash.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "proxy_maps.bpf.h"
#include "bypass_admit.bpf.h"
#include "bypass_rx.bpf.h"
#include "bypass_coverage.bpf.h"
#include "bypass_leave.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* ---- connection set-up and tear-down (sockops) ------------------------- */

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

/* Publishes the endpoint, then puts the socket in the sockhash. */
static __always_inline void shunt_sock_insert(struct bpf_sock_ops *skops, struct bpf_sock *sk,
					      struct shunt_counters *c, struct shunt_sock_state *st,
					      struct shunt_endpoint *ep)
{
	/* Publish the endpoint before the socket can be a redirect target. */
	if (bpf_map_update_elem(&shunt_endpoints, &st->self, ep, BPF_ANY)) {
		shunt_count_skip(c, SHUNT_SKIP_INSERT_FAIL);
		bpf_sk_storage_delete(&shunt_sock_states, sk);
		return;
	}
	/* State changes: half-close (shunt_sock_half_closed) and close; ACKs:
	 * where a socket that asked to leave may go (shunt_sock_try_leave). */
	bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG |
					     BPF_SOCK_OPS_RTT_CB_FLAG);
	if (bpf_sock_hash_update(skops, &shunt_socks, &st->self, BPF_NOEXIST)) {
		shunt_count_skip(c, SHUNT_SKIP_INSERT_FAIL);
		bpf_map_delete_elem(&shunt_endpoints, &st->self);
		bpf_sk_storage_delete(&shunt_sock_states, sk);
		return;
	}
	st->admitted = 1;
	c->socks_added++;
	shunt_index_psock(sk, st);
	shunt_pairs_open(st, ep);
}

/* A connection between two workloads of this node that stays on TCP only
 * because of the bypass (off, or early EAGAIN) still counts in shunt_pairs:
 * its client socket keeps a state and hears of its close for that. */
static __always_inline void shunt_pairs_track(struct bpf_sock_ops *skops, struct bpf_sock *sk,
					      const struct shunt_endpoint *ep, int skip)
{
	struct shunt_sock_state *st;

	if (ep->passive || (skip != SHUNT_SKIP_BYPASS_OFF && skip != SHUNT_SKIP_EARLY_EAGAIN))
		return;
	st = bpf_sk_storage_get(&shunt_sock_states, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st)
		return;
	shunt_pairs_open(st, ep);
	bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
}

static __always_inline void shunt_sock_established(struct bpf_sock_ops *skops)
{
	struct shunt_counters *c = shunt_counters_get();
	struct shunt_sock_key self = {}, peer = {};
	struct shunt_endpoint ep = {};
	struct bpf_sock *sk = skops->sk;
	struct shunt_sock_state *st;
	bool trusted = false;
	int skip;

	if (!c || !sk)
		return;
	skip = shunt_keys_from_skops(skops, &self, &peer);
	if (skip < 0)
		skip = shunt_check_workloads(sk, &self, &peer, &ep);
	if (skip < 0)
		shunt_tune_local(skops, c); /* whether or not it takes the bypass */
	if (skip < 0 && !shunt_bypass_on())
		skip = SHUNT_SKIP_BYPASS_OFF;
	ep.passive = skops->op == BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB;
	if (skip < 0)
		skip = shunt_admit(sk, &self, &peer, ep.passive, &trusted);
	if (skip >= 0) {
		shunt_count_skip(c, skip);
		shunt_coverage_skip(sk, skip);
		shunt_pairs_track(skops, sk, &ep, skip);
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
	ep.tcp_state = BPF_TCP_ESTABLISHED;
	ep.peer_netns_cookie = peer.netns_cookie;
	shunt_sock_insert(skops, sk, c, st, &ep);
}

static __always_inline void shunt_sock_closed(struct bpf_sock_ops *skops)
{
	struct shunt_counters *c = shunt_counters_get();
	struct shunt_endpoint *ep, *peer;
	struct bpf_sock *sk = skops->sk;
	struct shunt_sock_state *st;
	__u64 peer_tx = 0;

	if (!sk)
		return;
	st = bpf_sk_storage_get(&shunt_sock_states, sk, 0, 0);
	if (!st)
		return;
	if (!st->admitted) {
		/* Kept on TCP but counted (shunt_pairs_track); else nothing. */
		if (st->pair_client) {
			shunt_pairs_close(sk, st, 0);
			bpf_sk_storage_delete(&shunt_sock_states, sk);
		}
		return;
	}
	ep = bpf_map_lookup_elem(&shunt_endpoints, &st->self);
	/* Still flagged at close: it read by splice or zerocopy, not recvmsg. */
	if (ep && (ep->rx_flags & SHUNT_RX_OTHER_READ))
		shunt_profile_note(&st->self, ep->passive, SHUNT_PROFILE_UNSAFE);
	/* What this socket redirected may still be queued, unread, at its
	 * peer: leave the count where the peer's own entry can tell it. What
	 * the peer redirected is the other side's bypass bytes (shunt_pairs). */
	if (ep) {
		peer = bpf_map_lookup_elem(&shunt_endpoints, &st->peer);
		if (peer) {
			peer->peer_tx_final = ep->tx_redirected;
			peer->peer_closed = 1;
			peer_tx = peer->tx_redirected;
		} else if (ep->peer_closed) {
			peer_tx = ep->peer_tx_final;
		}
	}
	shunt_coverage_close(st);
	shunt_pairs_close(sk, st, peer_tx);
	if (st->psock)
		bpf_map_delete_elem(&shunt_psocks, &st->psock);
	shunt_sock_release_at_close(sk, st);
	bpf_map_delete_elem(&shunt_endpoints, &st->self);
	if (c)
		c->socks_closed++;
	bpf_sk_storage_delete(&shunt_sock_states, sk);
}

/* Kept in the endpoint for `shunt conns` where no iterator reads the socket. */
static __always_inline void shunt_sock_state_changed(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk = skops->sk;
	struct shunt_sock_state *st;
	struct shunt_endpoint *ep;

	if (!sk)
		return;
	st = bpf_sk_storage_get(&shunt_sock_states, sk, 0, 0);
	if (!st || !st->admitted)
		return;
	ep = bpf_map_lookup_elem(&shunt_endpoints, &st->self);
	if (ep)
		ep->tcp_state = skops->args[1];
	if (skops->args[1] == BPF_TCP_FIN_WAIT1)
		shunt_sock_half_closed(skops, sk, st);
	else if (st->leaving)
		shunt_sock_try_leave(skops, st);
}

/* The RTT callback: an ACK of this socket's data. */
static __always_inline void shunt_sock_acked(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk = skops->sk;
	struct shunt_sock_state *st;

	if (!sk)
		return;
	st = bpf_sk_storage_get(&shunt_sock_states, sk, 0, 0);
	if (st)
		shunt_sock_try_leave(skops, st);
}

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
		shunt_current_comm(st->comm);
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
		else
			shunt_sock_state_changed(skops);
		break;
	case BPF_SOCK_OPS_RTT_CB:
		shunt_sock_acked(skops);
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
					   const struct shunt_endpoint *self,
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
	/* Kernels whose psock does not count its queue (before 6.12): what
	 * this socket redirected and the peer has not read yet, exactly. */
	if (!shunt_psock_counts_queue() && self)
		backlog = shunt_unread(self, peer);
	if (cfg->max_backlog && backlog > cfg->max_backlog)
		return SHUNT_REASON_PEER_BACKLOG;
	return SHUNT_REASON_MAX;
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

	if (!st->comm[0])
		shunt_current_comm(st->comm); /* an accepted socket's first send */
	self = bpf_map_lookup_elem(&shunt_endpoints, &st->self);
	peer = bpf_map_lookup_elem(&shunt_endpoints, &st->peer);
	streak = shunt_update_streak(st, self, cfg, size);
	reason = shunt_verdict(msg, st, self, peer, cfg, streak);

	if (reason == SHUNT_REASON_MAX) {
		if (peer && shunt_redirect(msg, st, self, peer, size)) {
			if (!st->bypassing) {
				st->bypassing = 1;
				self->bypassing = 1;
				self->ever_bypassed = 1;
				if (st->ever_bypassed)
					c->resumed++;
				else
					c->conns_bypassed++;
				st->ever_bypassed = 1;
			}
			st->redirected_since += size;
			st->bytes_bypass += size;
			c->msgs_redirected++;
			c->bytes_redirected += size;
			return SK_PASS;
		}
		reason = peer && peer->leaving ? SHUNT_REASON_LEFT : SHUNT_REASON_REDIRECT_FAIL;
	}

	/* Through TCP. Leaving the bypass is always safe for ordering. */
	if (st->bypassing) {
		st->bypassing = 0;
		if (self)
			self->bypassing = 0;
		shunt_count_reason(&c->handbacks, reason);
	}
	shunt_count_reason(&c->tcp_msgs, reason);
	c->msgs_tcp++;
	st->tcp_reason = reason;
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
		st->bytes_tcp += window;
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
	st->bytes_tcp += size;
	return SK_PASS;
}

/* ---- receives (bypass_rx.bpf.h); the loader picks the hooks ------------- */

/* Linux 6.3+: after every recvmsg (sock_recvmsg_nosec). */
SEC("raw_tp/sock_recv_length")
int BPF_PROG(shunt_rx_recvmsg, struct sock *sk, int ret, int flags)
{
	return shunt_rx_on_recvmsg(sk, ret, flags);
}

/* Older kernels where tracing programs load: the same place, one level down
 * (sock_recvmsg_nosec calls these with the same flags). */
SEC("fexit/inet_recvmsg")
int BPF_PROG(shunt_rx_recvmsg_fx4, struct socket *sock, struct msghdr *msg, size_t size, int flags,
	     int ret)
{
	return shunt_rx_on_recvmsg(BPF_CORE_READ(sock, sk), ret, flags);
}

SEC("fexit/inet6_recvmsg")
int BPF_PROG(shunt_rx_recvmsg_fx6, struct socket *sock, struct msghdr *msg, size_t size, int flags,
	     int ret)
{
	return shunt_rx_on_recvmsg(BPF_CORE_READ(sock, sk), ret, flags);
}

SEC("raw_tp/tcp_rcv_space_adjust")
int BPF_PROG(shunt_rx_queue_read, struct sock *sk)
{
	return shunt_rx_on_queue_read(sk);
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
	if (shunt_psock_counts_queue() && (user_data & SHUNT_SK_USER_DATA_PSOCK))
		report.pending = shunt_psock_backlog(
		    (struct sk_psock *)(user_data & SHUNT_SK_USER_DATA_PTRMASK));
	report.tcp_state = sk->__sk_common.skc_state;
	st = bpf_sk_storage_get(&shunt_sock_states, sk, 0, 0);
	if (st) {
		report.bypassing = st->bypassing;
		report.ever_bypassed = st->ever_bypassed;
		if (!shunt_psock_counts_queue()) {
			const struct shunt_endpoint *self, *peer;

			self = bpf_map_lookup_elem(&shunt_endpoints, &st->self);
			peer = bpf_map_lookup_elem(&shunt_endpoints, &st->peer);
			if (self && peer)
				report.pending = shunt_unread(peer, self);
			else if (self && self->peer_closed &&
				 self->peer_tx_final > self->rx_redirected)
				report.pending = (__u32)(self->peer_tx_final - self->rx_redirected);
		}
	}
	bpf_seq_write(ctx->meta->seq, &report, sizeof(report));
	return 0;
}
