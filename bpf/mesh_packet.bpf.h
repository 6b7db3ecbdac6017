/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What arrives at a workload, for its ingress policy (mesh.bpf.c): the
 * addresses, the protocol and ports, and whether the packet starts
 * something policy decides. BPF-only.
 *
 * Policy decides who may *start* an exchange (docs/policy.md): a TCP SYN, an
 * SCTP INIT, every UDP datagram (replies match the flow table), an ICMP
 * request, and any packet of another IP protocol. The rest of a TCP
 * connection or an SCTP association, ICMP replies and errors, and IPv6
 * neighbour discovery and multicast listener messages pass: they belong to
 * something already decided, or keep the network itself working.
 */
#ifndef SHUNT_MESH_PACKET_BPF_H
#define SHUNT_MESH_PACKET_BPF_H

#include "addr.bpf.h"
#include "mesh_policy.bpf.h"

#define SHUNT_ETH_P_IP	      0x0800
#define SHUNT_ETH_P_IPV6      0x86DD
#define SHUNT_PROTO_ICMP      1
#define SHUNT_PROTO_ICMPV6    58
#define SHUNT_IPV6_HOPOPTS    0
#define SHUNT_IPV6_ROUTING    43
#define SHUNT_IPV6_DSTOPTS    60
#define SHUNT_SCTP_CHUNK_INIT 1
#define SHUNT_ICMP_ECHO	      8
#define SHUNT_ICMP_TIMESTAMP  13
#define SHUNT_ICMP_INFO_REQ   15
#define SHUNT_ICMP_ADDR_REQ   17
#define SHUNT_ICMPV6_ECHO     128
#define SHUNT_ICMPV6_NI_QUERY 139

enum packet_kind {
	PACKET_UNPARSED = -1, /* not IP, or too short: left alone */
	PACKET_PART = 0,      /* part of something decided, or network control */
	PACKET_NEW = 1,	      /* starts an exchange: policy decides it */
};

/* An ICMP or ICMPv6 message that asks for something (policy decides it);
 * replies, errors and IPv6 neighbour discovery / MLD do not. */
static __always_inline bool icmp_is_request(__u8 proto, __u8 type)
{
	if (proto == SHUNT_PROTO_ICMP)
		return type == SHUNT_ICMP_ECHO || type == SHUNT_ICMP_TIMESTAMP ||
		       type == SHUNT_ICMP_INFO_REQ || type == SHUNT_ICMP_ADDR_REQ;
	return type == SHUNT_ICMPV6_ECHO || type == SHUNT_ICMPV6_NI_QUERY;
}

/* The IPv6 upper-layer header, past up to two hop-by-hop, routing or
 * destination option headers. -1 when it cannot be read. */
static __always_inline int ipv6_upper(struct __sk_buff *skb, __u8 *proto, __u32 *off)
{
	__u8 ext[2];
	int i;

#pragma unroll
	for (i = 0; i < 2; i++) {
		if (*proto != SHUNT_IPV6_HOPOPTS && *proto != SHUNT_IPV6_ROUTING &&
		    *proto != SHUNT_IPV6_DSTOPTS)
			return 0;
		if (bpf_skb_load_bytes(skb, *off, ext, sizeof(ext)))
			return -1;
		*proto = ext[0];
		*off += ((__u32)ext[1] + 1) * 8;
	}
	return 0;
}

/* Addresses, protocol and L4 offset; -1 when unparseable, 1 for a later
 * IPv4 fragment (no L4 header). */
static __always_inline int parse_ip(struct __sk_buff *skb, struct flow *f, __u32 *l4_off)
{
	if (skb->protocol == bpf_htons(SHUNT_ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)))
			return -1;
		shunt_addr_from_v4(f->src, ip.saddr);
		shunt_addr_from_v4(f->dst, ip.daddr);
		f->proto = ip.protocol;
		*l4_off = (ip.ihl & 0xf) * 4;
		return ip.frag_off & bpf_htons(0x1fff) ? 1 : 0;
	}
	if (skb->protocol == bpf_htons(SHUNT_ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)))
			return -1;
		__builtin_memcpy(f->src, &ip6.saddr, 16);
		__builtin_memcpy(f->dst, &ip6.daddr, 16);
		f->proto = ip6.nexthdr;
		*l4_off = sizeof(ip6);
		return ipv6_upper(skb, &f->proto, l4_off);
	}
	return -1;
}

/* Fills F from the packet and says whether policy decides it. */
static __always_inline int parse_packet(struct __sk_buff *skb, struct flow *f)
{
	__u32 l4_off;
	__u8 l4[14];
	int ip;

	ip = parse_ip(skb, f, &l4_off);
	if (ip < 0)
		return PACKET_UNPARSED;
	if (ip > 0) /* a later fragment: its first one was decided */
		return PACKET_PART;
	switch (f->proto) {
	case SHUNT_PROTO_TCP:
		if (bpf_skb_load_bytes(skb, l4_off, l4, 14))
			return PACKET_UNPARSED;
		break;
	case SHUNT_PROTO_UDP:
		if (bpf_skb_load_bytes(skb, l4_off, l4, 4))
			return PACKET_UNPARSED;
		break;
	case SHUNT_PROTO_SCTP: /* common header, then the first chunk's type */
		if (bpf_skb_load_bytes(skb, l4_off, l4, 13))
			return PACKET_UNPARSED;
		break;
	case SHUNT_PROTO_ICMP:
	case SHUNT_PROTO_ICMPV6:
		if (bpf_skb_load_bytes(skb, l4_off, l4, 1))
			return PACKET_UNPARSED;
		return icmp_is_request(f->proto, l4[0]) ? PACKET_NEW : PACKET_PART;
	default:
		return PACKET_NEW; /* no ports: rules without ports decide it */
	}
	f->sport = ((__u16)l4[0] << 8) | l4[1];
	f->dport = ((__u16)l4[2] << 8) | l4[3];
	if (f->proto == SHUNT_PROTO_TCP) /* flags byte: SYN 0x02, ACK 0x10 */
		return (l4[13] & 0x12) == 0x02 ? PACKET_NEW : PACKET_PART;
	if (f->proto == SHUNT_PROTO_SCTP)
		return l4[12] == SHUNT_SCTP_CHUNK_INIT ? PACKET_NEW : PACKET_PART;
	return PACKET_NEW;
}

#endif /* SHUNT_MESH_PACKET_BPF_H */
