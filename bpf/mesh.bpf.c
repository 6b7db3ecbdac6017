// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Services and L4 policy in the kernel.
 *
 *  - connect and sendmsg (IPv4, IPv6; TCP and UDP): a service address is
 *    replaced by a backend chosen by weight; egress policy of the connecting
 *    workload, and ingress policy of the destination workload, are checked
 *    before a packet leaves (a denied connect fails with EPERM at once).
 *  - getpeername and recvmsg show the service address back.
 *  - cgroup_skb ingress: every new TCP connection (SYN) and every UDP
 *    datagram reaching a mesh workload is checked against its ingress
 *    policy, whoever sent it, so processes outside the mesh are covered too.
 *
 * All configuration lookups use the generation read once at the start (see
 * mesh_shared.h).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "addr.bpf.h"
#include "mesh_maps.bpf.h"
#include "mesh_cgroup.bpf.h"
#include "mesh_packet.bpf.h"
#include "mesh_policy.bpf.h"
#include "mesh_flows.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by the loader when the kernel has bpf_set_retval (Linux 5.18+); the
 * verifier drops the call on kernels without it, where a refused connect
 * fails with EPERM (docs/kernels.md). */
const volatile __u32 shunt_have_set_retval = 0;

#define SHUNT_ECONNREFUSED 111
#define SHUNT_EINVAL	   22
#define SHUNT_ENOENT	   2

/* Picks a backend by weight: binary search over the cumulative weights. */
static __always_inline struct shunt_backend *pick_backend(__u8 gen, const struct shunt_service *svc)
{
	struct shunt_backend_key key = {.gen = gen, .service = svc->id};
	struct shunt_backend *b;
	__u32 lo = 0, hi, r, mid;
	int i;

	if (!svc->backends || !svc->total_weight || svc->backends > SHUNT_MAX_SERVICE_BACKENDS)
		return NULL;
	hi = svc->backends - 1;
	r = bpf_get_prandom_u32() % svc->total_weight;
	for (i = 0; i < 11 && lo < hi; i++) { /* 2^10 = SHUNT_MAX_SERVICE_BACKENDS */
		mid = lo + (hi - lo) / 2;
		key.index = mid;
		b = bpf_map_lookup_elem(&shunt_backends, &key);
		if (!b)
			return NULL;
		if (r < b->weight_end)
			hi = mid;
		else
			lo = mid + 1;
	}
	key.index = lo;
	return bpf_map_lookup_elem(&shunt_backends, &key);
}

/*
 * A TCP connect to an L7 service port (SHUNT_SVC_L7) goes to the node
 * proxy's L7 side, which picks the backend per request and decides policy
 * for each (docs/l7.md). Records where it was going (the service address,
 * for the proxy and for getpeername) and rewrites F to the proxy. False
 * when this node has no L7 side for that family, or the record failed:
 * the connect then takes the kernel's load balancing as for plain TCP.
 */
static __always_inline bool l7_redirect(struct bpf_sock_addr *ctx,
					const struct shunt_mesh_state *st,
					const struct shunt_service *svc, struct flow *f)
{
	bool v4 = f->dst[10] == 0xff && f->dst[11] == 0xff;
	__u16 l7_port = v4 ? st->l7_port : st->l7_port6;
	struct shunt_proxy_orig orig = {.port = f->dport, .src_id = f->src_id};
	struct shunt_origin shown = {.port = f->dport, .service = svc->id};
	struct shunt_origin_key okey = {.backend_port = l7_port};
	const __u8 *proxy_addr = v4 ? st->proxy_addr : st->proxy_addr6;
	__u64 cookie;

	if (!(svc->flags & SHUNT_SVC_L7) || !l7_port || f->proto != SHUNT_PROTO_TCP || !f->src_id)
		return false;
	cookie = bpf_get_socket_cookie(ctx);
	__builtin_memcpy(orig.addr, f->dst, 16);
	if (bpf_map_update_elem(&shunt_proxy_pending, &cookie, &orig, BPF_ANY))
		return false;
	okey.cookie = cookie;
	__builtin_memcpy(okey.backend_addr, proxy_addr, 16);
	__builtin_memcpy(shown.addr, f->dst, 16);
	bpf_map_update_elem(&shunt_sock_origin, &okey, &shown, BPF_ANY);
	__builtin_memcpy(f->dst, proxy_addr, 16);
	f->dport = l7_port;
	return true;
}

/*
 * A TCP connect, allowed by policy, to a workload of this node at a port
 * whose authorization policies the L7 side enforces (SHUNT_SVC_L7_ENDPOINT):
 * dialled straight, or reached through a service without L7. It goes to the
 * L7 side as well, which reads it as the destination's hop; what
 * getpeername() shows stays what the application connected to.
 */
static __always_inline bool l7_endpoint(struct bpf_sock_addr *ctx,
					const struct shunt_mesh_state *st, __u8 gen, struct flow *f)
{
	struct shunt_service_key ekey = {.gen = gen, .proto = f->proto, .port = f->dport};
	struct shunt_origin_key vkey = {.cookie = bpf_get_socket_cookie(ctx),
					.backend_port = f->dport};
	struct shunt_origin via = {}, *o;
	struct shunt_service *ep;
	bool v4 = f->dst[10] == 0xff && f->dst[11] == 0xff;

	__builtin_memcpy(ekey.addr, f->dst, 16);
	ep = bpf_map_lookup_elem(&shunt_services, &ekey);
	if (!ep || !(ep->flags & SHUNT_SVC_L7_ENDPOINT))
		return false;
	/* through a service: the service's address, as the kernel showed it */
	__builtin_memcpy(vkey.backend_addr, f->dst, 16);
	o = f->service ? bpf_map_lookup_elem(&shunt_sock_origin, &vkey) : NULL;
	if (o)
		via = *o;
	if (!l7_redirect(ctx, st, ep, f))
		return false;
	if (o) {
		struct shunt_origin_key pkey = {.cookie = vkey.cookie,
						.backend_port = v4 ? st->l7_port : st->l7_port6};

		__builtin_memcpy(pkey.backend_addr, v4 ? st->proxy_addr : st->proxy_addr6, 16);
		bpf_map_update_elem(&shunt_sock_origin, &pkey, &via, BPF_ANY);
	}
	return true;
}

/*
 * Decides a connect or sendmsg from a mesh cgroup to DST:DPORT. Rewrites
 * DST/DPORT to a backend for a service. Returns 1 to let it go, 0 to refuse
 * (errno EPERM, or ECONNREFUSED for a service without backends).
 */
static __always_inline int mesh_connect(struct bpf_sock_addr *ctx, struct flow *f, bool first)
{
	struct shunt_mesh_counters *c = counters();
	struct shunt_service_key skey = {};
	const struct shunt_mesh_state *st;
	struct shunt_service *svc;
	struct shunt_backend *b;
	__u32 zero = 0, dst_flags = 0;
	__u8 verdict, gen;

	st = bpf_map_lookup_elem(&shunt_mesh_state, &zero);
	if (!st || !c)
		return 1;
	gen = st->gen & 1;
	{
		const struct shunt_ident *me = cgroup_ident(gen, CGROUP_OF_TASK, NULL);

		if (me && (me->flags & SHUNT_IDENT_NODE_PROXY))
			return 1; /* the proxy: it decides by verified identity */
		f->src_id = me ? me->id : 0;
	}
	c->connects++;

	skey.gen = gen;
	skey.proto = f->proto;
	skey.port = f->dport;
	__builtin_memcpy(skey.addr, f->dst, 16);
	svc = bpf_map_lookup_elem(&shunt_services, &skey);
	if (svc && (svc->flags & SHUNT_SVC_L7_ENDPOINT))
		svc = NULL; /* a workload's own address: l7_endpoint() below */
	if (svc) {
		struct shunt_origin_key okey = {.cookie = bpf_get_socket_cookie(ctx)};
		struct shunt_origin origin = {.port = f->dport, .service = svc->id};

		f->service = svc->id;
		if (first && l7_redirect(ctx, st, svc, f)) {
			c->l7_proxied++;
			return 1;
		}
		b = pick_backend(gen, svc);
		if (!b) {
			c->no_backend++;
			f->dst_id = 0;
			count_verdict(f, SHUNT_VERDICT_NO_BACKEND);
			emit_flow(st, f, SHUNT_VERDICT_NO_BACKEND, SHUNT_FLOW_CONNECT);
			if (shunt_have_set_retval)
				bpf_set_retval(-SHUNT_ECONNREFUSED);
			return 0;
		}
		__builtin_memcpy(origin.addr, f->dst, 16);
		__builtin_memcpy(f->dst, b->addr, 16);
		f->dport = b->port;
		__builtin_memcpy(okey.backend_addr, f->dst, 16);
		okey.backend_port = f->dport;
		bpf_map_update_elem(&shunt_sock_origin, &okey, &origin, BPF_ANY);
		c->translated++;
	}

	f->dst_id = ident_of_addr(gen, f->dst, &dst_flags);
	f->direction = SHUNT_DIR_EGRESS;
	if (f->proto == SHUNT_PROTO_UDP && f->src_id) {
		/* A reply in an exchange the peer started, or more of ours. */
		f->sport = ctx->sk->src_port;
		if (udp_flow_known(st, f->src_id, f->sport, f->dst, f->dport)) {
			c->udp_replies++;
			return 1;
		}
	}
	verdict = policy_decide(gen, SHUNT_DIR_EGRESS, f->src_id, f->dst_id, f->proto, f->dport,
				&f->rule);
	if (verdict == SHUNT_VERDICT_DENY) {
		c->egress_denied++;
	} else if (f->src_id && f->dst_id >= SHUNT_ID_FIRST_WORKLOAD &&
		   f->dst_id < SHUNT_ID_FIRST_CIDR) {
		/* The destination would drop the first packet anyway; say so now
		 * instead of letting the client retry until it times out. */
		f->direction = SHUNT_DIR_INGRESS;
		verdict = policy_decide(gen, SHUNT_DIR_INGRESS, f->dst_id, f->src_id, f->proto,
					f->dport, &f->rule);
		if (verdict == SHUNT_VERDICT_DENY)
			c->ingress_denied_early++;
	}
	if (verdict == SHUNT_VERDICT_DENY || first)
		count_verdict(f, verdict);
	if (verdict == SHUNT_VERDICT_DENY || first)
		emit_flow(st, f, verdict, SHUNT_FLOW_CONNECT);
	if (verdict == SHUNT_VERDICT_DENY)
		return 0;
	if (f->proto == SHUNT_PROTO_UDP && f->src_id)
		udp_flow_record(st, f->src_id, f->sport, f->dst, f->dport);
	if (first && f->proto == SHUNT_PROTO_TCP && f->src_id && (dst_flags & SHUNT_IDENT_LOCAL) &&
	    l7_endpoint(ctx, st, gen, f)) {
		c->l7_proxied++;
		return 1;
	}
	/* TCP to a workload of another node: through the node's proxy (mTLS). */
	bool v4 = f->dst[10] == 0xff && f->dst[11] == 0xff;
	__u16 proxy_port = v4 ? st->proxy_port : st->proxy_port6;

	if (first && f->proto == SHUNT_PROTO_TCP && f->src_id && proxy_port &&
	    f->dst_id >= SHUNT_ID_FIRST_WORKLOAD && f->dst_id < SHUNT_ID_FIRST_CIDR &&
	    !(dst_flags & SHUNT_IDENT_LOCAL)) {
		struct shunt_proxy_orig orig = {
		    .port = f->dport, .src_id = f->src_id, .dst_id = f->dst_id};
		__u64 cookie = bpf_get_socket_cookie(ctx);
		const __u8 *proxy_addr = v4 ? st->proxy_addr : st->proxy_addr6;

		__builtin_memcpy(orig.addr, f->dst, 16);
		if (!bpf_map_update_elem(&shunt_proxy_pending, &cookie, &orig, BPF_ANY)) {
			/* getpeername() keeps showing where the application connected. */
			struct shunt_origin_key okey = {.cookie = cookie,
							.backend_port = proxy_port};
			struct shunt_origin shown = {.port = f->service ? 0 : f->dport,
						     .service = f->service};

			__builtin_memcpy(okey.backend_addr, proxy_addr, 16);
			if (!f->service) {
				__builtin_memcpy(shown.addr, f->dst, 16);
				bpf_map_update_elem(&shunt_sock_origin, &okey, &shown, BPF_ANY);
			} else {
				/* A service: show the service address, as without a proxy. */
				struct shunt_origin_key skey = {.cookie = cookie,
								.backend_port = f->dport};
				struct shunt_origin *o;

				__builtin_memcpy(skey.backend_addr, f->dst, 16);
				o = bpf_map_lookup_elem(&shunt_sock_origin, &skey);
				if (o)
					bpf_map_update_elem(&shunt_sock_origin, &okey, o, BPF_ANY);
			}
			__builtin_memcpy(f->dst, proxy_addr, 16);
			f->dport = proxy_port;
			c->proxied++;
		}
	}
	return 1;
}

static __always_inline void flow_v4(struct bpf_sock_addr *ctx, struct flow *f)
{
	shunt_addr_from_v4(f->dst, ctx->user_ip4);
	f->dport = bpf_ntohs(ctx->user_port);
	f->proto = ctx->protocol;
}

static __always_inline void flow_v6(struct bpf_sock_addr *ctx, struct flow *f)
{
	__u32 w[4] = {ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2], ctx->user_ip6[3]};

	__builtin_memcpy(f->dst, w, 16);
	f->dport = bpf_ntohs(ctx->user_port);
	f->proto = ctx->protocol;
}

static __always_inline void store_v4(struct bpf_sock_addr *ctx, const struct flow *f)
{
	__u32 ip4;

	__builtin_memcpy(&ip4, &f->dst[12], 4);
	ctx->user_ip4 = ip4;
	ctx->user_port = bpf_htons(f->dport);
}

static __always_inline void store_v6(struct bpf_sock_addr *ctx, const struct flow *f)
{
	__u32 w[4];

	__builtin_memcpy(w, f->dst, 16);
	ctx->user_ip6[0] = w[0];
	ctx->user_ip6[1] = w[1];
	ctx->user_ip6[2] = w[2];
	ctx->user_ip6[3] = w[3];
	ctx->user_port = bpf_htons(f->dport);
}

SEC("cgroup/connect4")
int shunt_connect4(struct bpf_sock_addr *ctx)
{
	struct flow f = {};

	flow_v4(ctx, &f);
	if (!mesh_connect(ctx, &f, true))
		return 0;
	store_v4(ctx, &f);
	return 1;
}

SEC("cgroup/connect6")
int shunt_connect6(struct bpf_sock_addr *ctx)
{
	struct flow f = {};

	flow_v6(ctx, &f);
	if (!mesh_connect(ctx, &f, true))
		return 0;
	store_v6(ctx, &f);
	return 1;
}

/* Unconnected UDP: every datagram is decided; only denials are streamed. */
SEC("cgroup/sendmsg4")
int shunt_sendmsg4(struct bpf_sock_addr *ctx)
{
	struct flow f = {};

	flow_v4(ctx, &f);
	if (!mesh_connect(ctx, &f, false))
		return 0;
	store_v4(ctx, &f);
	return 1;
}

SEC("cgroup/sendmsg6")
int shunt_sendmsg6(struct bpf_sock_addr *ctx)
{
	struct flow f = {};

	flow_v6(ctx, &f);
	if (!mesh_connect(ctx, &f, false))
		return 0;
	store_v6(ctx, &f);
	return 1;
}

/* Shows the service address instead of the backend this socket was given. */
static __always_inline void reverse(struct bpf_sock_addr *ctx, struct flow *f)
{
	struct shunt_origin_key key = {.cookie = bpf_get_socket_cookie(ctx)};
	struct shunt_mesh_counters *c;
	struct shunt_origin *o;

	__builtin_memcpy(key.backend_addr, f->dst, 16);
	key.backend_port = f->dport;
	o = bpf_map_lookup_elem(&shunt_sock_origin, &key);
	if (!o) {
		f->dport = 0;
		return;
	}
	__builtin_memcpy(f->dst, o->addr, 16);
	f->dport = o->port;
	c = counters();
	if (c)
		c->reverse_translated++;
}

static __always_inline int reverse_v4(struct bpf_sock_addr *ctx)
{
	struct flow f = {};

	flow_v4(ctx, &f);
	reverse(ctx, &f);
	if (f.dport)
		store_v4(ctx, &f);
	return 1;
}

static __always_inline int reverse_v6(struct bpf_sock_addr *ctx)
{
	struct flow f = {};

	flow_v6(ctx, &f);
	reverse(ctx, &f);
	if (f.dport)
		store_v6(ctx, &f);
	return 1;
}

/* The source of a UDP datagram a service backend sent. */
SEC("cgroup/recvmsg4")
int shunt_recvmsg4(struct bpf_sock_addr *ctx)
{
	return reverse_v4(ctx);
}

SEC("cgroup/recvmsg6")
int shunt_recvmsg6(struct bpf_sock_addr *ctx)
{
	return reverse_v6(ctx);
}

/* The peer of a socket connected through a service or the node proxy. */
SEC("cgroup/getpeername4")
int shunt_getpeername4(struct bpf_sock_addr *ctx)
{
	return reverse_v4(ctx);
}

SEC("cgroup/getpeername6")
int shunt_getpeername6(struct bpf_sock_addr *ctx)
{
	return reverse_v6(ctx);
}

/* Who sent F: its address's identity, or the verified one the local inbound
 * proxy asserted for a connection it made. Returns the identity's flags. */
static __always_inline __u32 ingress_source(__u8 gen, struct flow *f)
{
	struct shunt_proxy_key pk = {.port = f->sport};
	struct shunt_proxy_asserted *as;
	__u32 flags;

	f->src_id = ident_of_addr(gen, f->src, &flags);
	__builtin_memcpy(pk.addr, f->src, 16);
	as = bpf_map_lookup_elem(&shunt_proxy_asserted, &pk);
	if (as) {
		f->src_id = as->src_id;
		flags = SHUNT_IDENT_LOCAL; /* vouched for by the local proxy */
	}
	return flags;
}

/* Strict mTLS: a workload that accepts connections from other nodes only
 * through the proxies refuses them in plaintext (TCP, UDP, SCTP; ICMP and
 * other protocols, which no proxy carries, are left to policy). */
static __always_inline bool strict_refuses(const struct shunt_ident *me, const struct flow *f,
					   __u32 src_flags)
{
	if (src_flags & SHUNT_IDENT_LOCAL)
		return false;
	if (f->proto != SHUNT_PROTO_TCP && f->proto != SHUNT_PROTO_UDP &&
	    f->proto != SHUNT_PROTO_SCTP)
		return false;
	return me->flags & SHUNT_IDENT_STRICT;
}

/*
 * Ingress policy for everything delivered to a mesh workload, whoever sent
 * it: what starts an exchange (mesh_packet.bpf.h) is decided, with its
 * protocol and port (0 for protocols without ports, which only rules
 * without ports allow); established TCP connections leave at once.
 */
SEC("cgroup_skb/ingress")
int shunt_ingress(struct __sk_buff *skb)
{
	struct shunt_mesh_counters *c = counters();
	const struct shunt_mesh_state *st;
	struct bpf_sock *sk;
	struct flow f = {.direction = SHUNT_DIR_INGRESS};
	const struct shunt_ident *me;
	__u32 zero = 0, flags;
	__u8 verdict, gen;

	/* Data of established TCP connections was decided at their SYN: leave
	 * before touching the packet. Only listeners see new connections. */
	sk = skb->sk;
	if (sk)
		sk = bpf_sk_fullsock(sk);
	if (sk && sk->protocol == SHUNT_PROTO_TCP && sk->state != BPF_TCP_LISTEN)
		return 1;
	st = bpf_map_lookup_elem(&shunt_mesh_state, &zero);
	if (!st || !c || parse_packet(skb, &f) != PACKET_NEW)
		return 1;
	gen = st->gen & 1;
	me = cgroup_ident(gen, CGROUP_OF_SKB, skb);
	if (!me || !me->id)
		return 1; /* not a workload of this node */
	f.dst_id = me->id;
	/* A pod talking to itself (loopback or its own address) is no peer. */
	if (addr_is_loopback(f.src) || addr_equal(f.src, f.dst))
		return 1;
	if (f.proto == SHUNT_PROTO_UDP && udp_flow_known(st, f.dst_id, f.dport, f.src, f.sport)) {
		c->udp_replies++;
		return 1;
	}
	c->ingress_packets++;
	flags = ingress_source(gen, &f);
	if (strict_refuses(me, &f, flags)) {
		c->strict_dropped++;
		count_verdict(&f, SHUNT_VERDICT_DENY);
		emit_flow(st, &f, SHUNT_VERDICT_DENY, SHUNT_FLOW_INGRESS);
		return 0;
	}
	verdict =
	    policy_decide(gen, SHUNT_DIR_INGRESS, f.dst_id, f.src_id, f.proto, f.dport, &f.rule);
	if (verdict == SHUNT_VERDICT_DENY)
		c->ingress_denied++;
	count_verdict(&f, verdict);
	/* Every new connection, association or request; of UDP only denials. */
	if (verdict == SHUNT_VERDICT_DENY || f.proto != SHUNT_PROTO_UDP)
		emit_flow(st, &f, verdict, SHUNT_FLOW_INGRESS);
	if (verdict == SHUNT_VERDICT_DENY)
		return 0;
	if (f.proto == SHUNT_PROTO_UDP)
		udp_flow_record(st, f.dst_id, f.dport, f.src, f.sport);
	return 1;
}

/*
 * The kernel's own policy decision, for `shunt policy check` and the node
 * proxy: they run this with BPF_PROG_RUN and read the answer back from the
 * context, so there is one implementation of the lookup order. (Syscall
 * programs sleep and may not use the LPM trie: the caller resolves a peer
 * address with a lookup in shunt_ipcache, the same longest-prefix match.)
 */
SEC("syscall")
int shunt_policy_query(struct shunt_policy_query *q)
{
	const struct shunt_mesh_state *st;
	__u32 zero = 0, rule = 0;
	__u8 gen;

	st = bpf_map_lookup_elem(&shunt_mesh_state, &zero);
	if (!st)
		return -SHUNT_ENOENT;
	gen = st->gen & 1;
	q->verdict =
	    policy_decide(gen, q->direction, q->subject, q->peer, q->proto, q->port, &rule);
	q->rule = rule;
	q->isolated = policy_isolated(gen, q->direction, q->subject);
	q->gen = gen;
	q->version = st->version;
	return 0;
}

/*
 * The node proxy's flow events (docs/proxy.md): the proxy runs this program
 * with BPF_PROG_RUN and the event as its context, so its events reach
 * `shunt flows` through the same ring buffer as the kernel's, in order with
 * them. It is pinned, never attached.
 */
SEC("syscall")
int shunt_flow_inject(struct shunt_flow_event *ctx)
{
	const struct shunt_mesh_state *st;
	struct shunt_mesh_counters *c;
	struct shunt_flow_event *ev;
	__u32 zero = 0;

	if (ctx->kind != SHUNT_FLOW_PROXY_OUT && ctx->kind != SHUNT_FLOW_PROXY_IN)
		return -SHUNT_EINVAL;
	st = bpf_map_lookup_elem(&shunt_mesh_state, &zero);
	if (!st || !st->flow_events)
		return 0;
	ev = bpf_ringbuf_reserve(&shunt_flows, sizeof(*ev), 0);
	if (!ev) {
		c = counters();
		if (c)
			c->flows_lost++;
		return 0;
	}
	__builtin_memcpy(ev, ctx, sizeof(*ev));
	ev->ts_ns = bpf_ktime_get_ns();
	bpf_ringbuf_submit(ev, 0);
	return 0;
}

/*
 * The inbound proxy's transparent source (docs/proxy.md): it connects to a
 * workload from the client workload's address, which belongs to another
 * node. The workload's answers reach this node on its pod-facing interface
 * and would be routed on towards that other node. This program, at tc
 * ingress of that interface (a tcx link the proxy holds while it runs),
 * marks every TCP packet that a socket of this network namespace owns; a
 * routing rule sends marked packets to a local table, so they reach the
 * proxy's socket. Only a transparent socket can own a packet for a
 * non-local address: every other flow either finds no socket (forwarded, as
 * before) or one with a local address (delivered locally, as before).
 * Pinned, attached by the proxy.
 */
#define SHUNT_ETH_HLEN	    14
#define SHUNT_TC_ACT_OK	    0
#define SHUNT_CURRENT_NETNS -1 /* BPF_F_CURRENT_NETNS */

SEC("tc")
int shunt_tproxy_mark(struct __sk_buff *skb)
{
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk;
	__u32 size;
	__u16 ports[2];

	if (skb->protocol == bpf_htons(SHUNT_ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, SHUNT_ETH_HLEN, &ip, sizeof(ip)) ||
		    ip.protocol != SHUNT_PROTO_TCP || (ip.frag_off & bpf_htons(0x1fff)))
			return SHUNT_TC_ACT_OK;
		if (bpf_skb_load_bytes(skb, SHUNT_ETH_HLEN + (ip.ihl & 0xf) * 4, ports,
				       sizeof(ports)))
			return SHUNT_TC_ACT_OK;
		/* As received: the socket's local side is the destination. */
		t.ipv4.saddr = ip.saddr;
		t.ipv4.daddr = ip.daddr;
		t.ipv4.sport = ports[0];
		t.ipv4.dport = ports[1];
		size = sizeof(t.ipv4);
	} else if (skb->protocol == bpf_htons(SHUNT_ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, SHUNT_ETH_HLEN, &ip6, sizeof(ip6)) ||
		    ip6.nexthdr != SHUNT_PROTO_TCP)
			return SHUNT_TC_ACT_OK;
		if (bpf_skb_load_bytes(skb, SHUNT_ETH_HLEN + sizeof(ip6), ports, sizeof(ports)))
			return SHUNT_TC_ACT_OK;
		__builtin_memcpy(t.ipv6.saddr, &ip6.saddr, 16);
		__builtin_memcpy(t.ipv6.daddr, &ip6.daddr, 16);
		t.ipv6.sport = ports[0];
		t.ipv6.dport = ports[1];
		size = sizeof(t.ipv6);
	} else {
		return SHUNT_TC_ACT_OK;
	}
	sk = bpf_skc_lookup_tcp(skb, &t, size, SHUNT_CURRENT_NETNS, 0);
	if (!sk)
		return SHUNT_TC_ACT_OK;
	bpf_sk_release(sk);
	skb->mark = SHUNT_TPROXY_MARK;
	return SHUNT_TC_ACT_OK;
}
