// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The inbound proxy's transparent source (docs/proxy.md): it connects to a
 * workload from the client workload's address, which belongs to another
 * node. The workload's answers reach this node on its pod-facing interface
 * and would be routed on towards that other node. This program, at tc
 * ingress of that interface (a tcx link the proxy holds), marks every TCP
 * packet that belongs to a socket of this network namespace; a routing rule
 * sends marked packets to a local table, so they reach the proxy's socket.
 *
 * Only a transparent socket can have a non-local address, so packets of any
 * other flow either find no socket (forwarded, as before) or one with a
 * local address (delivered locally, as before).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "mesh_shared.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define ETH_HLEN_    14
#define ETH_P_IP_    0x0800
#define ETH_P_IPV6_  0x86DD
#define PROTO_TCP    6
#define TC_ACT_OK_   0
#define BPF_F_NETNS_ -1 /* BPF_F_CURRENT_NETNS */

/* The mark the routing rule looks for; set by the proxy before it attaches. */
const volatile __u32 tproxy_mark = 0;

SEC("tc")
int shunt_tproxy_mark(struct __sk_buff *skb)
{
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk;
	__u32 size;
	__u16 ports[2];

	if (skb->protocol == bpf_htons(ETH_P_IP_)) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, ETH_HLEN_, &ip, sizeof(ip)) ||
		    ip.protocol != PROTO_TCP || (ip.frag_off & bpf_htons(0x1fff)))
			return TC_ACT_OK_;
		if (bpf_skb_load_bytes(skb, ETH_HLEN_ + (ip.ihl & 0xf) * 4, ports, sizeof(ports)))
			return TC_ACT_OK_;
		/* As received: the socket's local side is the destination. */
		t.ipv4.saddr = ip.saddr;
		t.ipv4.daddr = ip.daddr;
		t.ipv4.sport = ports[0];
		t.ipv4.dport = ports[1];
		size = sizeof(t.ipv4);
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6_)) {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, ETH_HLEN_, &ip6, sizeof(ip6)) ||
		    ip6.nexthdr != PROTO_TCP)
			return TC_ACT_OK_;
		if (bpf_skb_load_bytes(skb, ETH_HLEN_ + sizeof(ip6), ports, sizeof(ports)))
			return TC_ACT_OK_;
		__builtin_memcpy(t.ipv6.saddr, &ip6.saddr, 16);
		__builtin_memcpy(t.ipv6.daddr, &ip6.daddr, 16);
		t.ipv6.sport = ports[0];
		t.ipv6.dport = ports[1];
		size = sizeof(t.ipv6);
	} else {
		return TC_ACT_OK_;
	}
	sk = bpf_skc_lookup_tcp(skb, &t, size, BPF_F_NETNS_, 0);
	if (!sk)
		return TC_ACT_OK_;
	bpf_sk_release(sk);
	skb->mark = tproxy_mark;
	return TC_ACT_OK_;
}
