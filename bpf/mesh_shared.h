/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The contract between the services/policy programs (mesh.bpf.c) and the
 * agent: identities, services, backends, policy entries, flow events.
 *
 * Every configuration map key starts with a generation byte. The agent
 * writes a whole new configuration under the inactive generation, flips
 * shunt_mesh_state.gen with one array update, then deletes the old
 * generation. A program reads the generation once and looks everything up
 * under it, so no connection ever sees half of one configuration and half of
 * the next.
 *
 * Addresses are 16 bytes, IPv4 as v4-mapped IPv6 (see shunt_shared.h); ports
 * are in host byte order.
 */
#ifndef SHUNT_MESH_SHARED_H
#define SHUNT_MESH_SHARED_H

#include "shunt_shared.h"

/* Identities. Workloads and CIDRs get theirs from the agent. */
#define SHUNT_ID_ANY		0	   /* policy peer wildcard: every source or destination */
#define SHUNT_ID_WORLD		1	   /* an address no workload or policy CIDR covers */
#define SHUNT_ID_NODE_PROXY	2	   /* the node proxy's pod-facing side (bypass only) */
#define SHUNT_ID_FIRST_WORKLOAD 256	   /* workload ids: 256 .. */
#define SHUNT_ID_FIRST_CIDR	0x40000000 /* CIDR ids from policy ipBlocks */

#define SHUNT_MAX_IDENTS   65536
#define SHUNT_MAX_SERVICES 16384
#define SHUNT_MAX_BACKENDS 262144
#define SHUNT_MAX_POLICY   524288
/* Backends of one service port; the kernel binary-searches their weights. */
#define SHUNT_MAX_SERVICE_BACKENDS 1024

#define SHUNT_PROTO_TCP	 6
#define SHUNT_PROTO_UDP	 17
#define SHUNT_PROTO_SCTP 132

enum shunt_direction {
	SHUNT_DIR_EGRESS = 0,
	SHUNT_DIR_INGRESS = 1,
};

enum shunt_verdict {
	SHUNT_VERDICT_ALLOW = 0,
	SHUNT_VERDICT_DENY = 1,
	SHUNT_VERDICT_NO_BACKEND = 2, /* a service without backends */
};

/* shunt_mesh_state[0]: which generation is live. */
struct shunt_mesh_state {
	__u32 gen;	   /* 0 or 1 */
	__u32 flow_events; /* 1: stream flow events (new connections, denials) */
	__u64 version;	   /* config version, counts applies */
	__u64 applied_ns;  /* CLOCK_MONOTONIC of the last flip */
	/* The node's outbound proxy (port 0: none): TCP connections of local
	 * workloads to workloads of other nodes are sent there, IPv4 ones to
	 * proxy_addr, IPv6 ones to proxy_addr6 (port 0: IPv6 not proxied). */
	__u8 proxy_addr[16];
	__u16 proxy_port;
	__u16 proxy_port6;
	/* The same proxy's L7 side (port 0: none), on proxy_addr and
	 * proxy_addr6: TCP connects to a service port flagged SHUNT_SVC_L7
	 * go there instead of to a backend (docs/l7.md). */
	__u16 l7_port;
	__u16 l7_port6;
	__u8 proxy_addr6[16];
};

/* The mark shunt_tproxy_mark puts on answers to the proxy's transparent
 * sockets, and the routing table and rule preference that take them. */
#define SHUNT_TPROXY_MARK  0x5348
#define SHUNT_TPROXY_TABLE 5348

/*
 * shunt_proxy_pending (LRU, by socket cookie) and shunt_proxy_orig (LRU, by
 * the client's address and port as the proxy sees them): where a connection
 * sent to the proxy was going, and who made it. The connect hook writes the
 * first, the sockops program moves it to the second once the source port
 * exists; the proxy reads it for each connection it accepts.
 */
struct shunt_proxy_key {
	__u8 addr[16];
	__u16 port;
	__u16 pad;
};

struct shunt_proxy_orig {
	__u8 addr[16]; /* the original destination (a backend, after translation) */
	__u16 port;
	__u16 pad;
	__u32 src_id; /* the connecting workload (from its cgroup) */
	__u32 dst_id; /* the destination workload */
};

/*
 * shunt_proxy_asserted (by the inbound proxy's address and port as the
 * server sees them): the verified identity a proxied connection carries.
 * The inbound proxy writes it before it connects; the ingress program
 * decides that connection's policy with this identity instead of the
 * proxy's address.
 */
struct shunt_proxy_asserted {
	__u32 src_id;
	__u32 pad;
};

/* shunt_cgroup_idents: local workloads by cgroup id. */
struct shunt_cgroup_ident_key {
	__u32 gen;
	__u32 pad;
	__u64 cgroup_id;
};

enum shunt_ident_flags {
	SHUNT_IDENT_LOCAL = 1 << 0, /* a workload of this node */
	SHUNT_IDENT_CIDR = 1 << 1,  /* an ipBlock of a policy */
	/* strict mTLS: accepts connections from other nodes only through the
	 * node proxy (set on local workloads, docs/proxy.md) */
	SHUNT_IDENT_STRICT = 1 << 2,
	/* the node proxy's own cgroup: its connects are its own business
	 * (it decides by verified identity), the hooks leave them alone */
	SHUNT_IDENT_NODE_PROXY = 1 << 3,
};

struct shunt_ident {
	__u32 id;
	__u32 flags; /* enum shunt_ident_flags */
};

/* shunt_ipcache (LPM trie): address -> identity. prefixlen counts the
 * generation byte too: 8 + the address prefix. */
struct shunt_ipcache_key {
	__u32 prefixlen;
	__u8 gen;
	__u8 addr[16];
	__u8 pad[3];
};

/* shunt_services: a virtual address and port of one protocol. */
struct shunt_service_key {
	__u8 gen;
	__u8 proto;
	__u16 port;
	__u8 addr[16];
};

enum shunt_service_flags {
	SHUNT_SVC_L7 = 1 << 0, /* HTTP: through the node proxy's L7 side, when there is one */
	/* why (for `shunt services`): its appProtocol, else L7 config targets it */
	SHUNT_SVC_L7_APP_PROTOCOL = 1 << 1,
	/* Not a service: the address and port of a workload of this node that
	 * a service with authorization policies targets. TCP connects there,
	 * straight or through another service, go to the L7 side too, which
	 * enforces them (docs/l7.md, "The destination's hop"). */
	SHUNT_SVC_L7_ENDPOINT = 1 << 2,
};

struct shunt_service {
	__u32 id;	    /* service port id: key of its backends */
	__u32 backends;	    /* how many; 0 fails connects with ECONNREFUSED */
	__u32 total_weight; /* sum of the backends' weights */
	__u32 flags;	    /* enum shunt_service_flags */
};

/* shunt_backends: backend INDEX of service port ID. */
struct shunt_backend_key {
	__u32 gen;
	__u32 service;
	__u32 index;
};

struct shunt_backend {
	__u8 addr[16];
	__u16 port;
	__u16 pad;
	__u32 weight_end; /* cumulative weight up to and with this backend */
	__u32 identity;	  /* the backend's workload, 0 for a plain address */
	__u32 pad2;
};

/*
 * shunt_policy_deny and shunt_policy_allow: SUBJECT is the workload the
 * policy selects, PEER the other end (SHUNT_ID_ANY: everyone). PORT 0 and
 * PROTO 0 are wildcards. Deny entries are checked first; allow entries only
 * matter for subjects isolated in that direction (shunt_policy_subjects).
 */
struct shunt_policy_key {
	__u8 gen;
	__u8 direction; /* enum shunt_direction */
	__u8 proto;
	__u8 pad;
	__u16 port;
	__u16 pad2;
	__u32 subject;
	__u32 peer;
};

struct shunt_policy_entry {
	__u32 rule; /* rule id: key of shunt_rule_names */
	__u32 pad;
};

enum shunt_isolation {
	SHUNT_ISOLATED_EGRESS = 1 << SHUNT_DIR_EGRESS,
	SHUNT_ISOLATED_INGRESS = 1 << SHUNT_DIR_INGRESS,
};

struct shunt_subject_key {
	__u32 gen;
	__u32 id;
};

struct shunt_subject {
	__u32 isolated; /* enum shunt_isolation */
	__u32 pad;
};

/* shunt_names: identity, rule and service names for people. */
enum shunt_name_kind {
	SHUNT_NAME_IDENT = 1,
	SHUNT_NAME_RULE = 2,
	SHUNT_NAME_SERVICE = 3,
};

struct shunt_name_key {
	__u32 gen;
	__u32 kind; /* enum shunt_name_kind */
	__u32 id;
};

/* The longest: a rule, "namespace/policy ingress-deny[N]"; identities are
 * "namespace/name", "world" or "cidr:ADDRESS/LEN". */
#define SHUNT_NAME_VALUE_MAX (SHUNT_NAME_MAX + 48)
struct shunt_name {
	char name[SHUNT_NAME_VALUE_MAX];
};
_Static_assert(SHUNT_NAME_VALUE_MAX >= SHUNT_DNS_LABEL_MAX + 1 + SHUNT_DNS_SUBDOMAIN_MAX +
					   sizeof(" ingress-deny[]") + 20,
	       "shunt_name holds a rule's name");

/* shunt_sock_origin (LRU): the service address a socket asked for, by the
 * backend it was given; getpeername and recvmsg show it back. */
struct shunt_origin_key {
	__u64 cookie;
	__u8 backend_addr[16];
	__u16 backend_port;
	__u16 pad;
	__u32 pad2;
};

struct shunt_origin {
	__u8 addr[16];
	__u16 port;
	__u16 pad;
	__u32 service;
};

/*
 * shunt_udp_flows (LRU): UDP exchanges policy allowed, seen from one
 * workload: its port and the remote address and port. Replies match the
 * entry instead of the policy, as for TCP, whose replies belong to an
 * allowed connection. An entry counts only under the config version that
 * made it, so a policy change re-decides every flow.
 */
struct shunt_udp_flow_key {
	__u32 local_id;
	__u16 local_port; /* 0: a connected socket, bound later */
	__u16 remote_port;
	__u8 remote_addr[16];
};

struct shunt_udp_flow {
	__u64 last_ns;
	__u64 version;
};

#define SHUNT_UDP_FLOW_IDLE_NS (120ull * 1000000000ull)

/* shunt_verdicts (LRU, per CPU): decisions by source, destination, port. */
struct shunt_verdict_key {
	__u32 src;
	__u32 dst;
	__u16 port;
	__u8 proto;
	__u8 verdict;	/* enum shunt_verdict */
	__u8 direction; /* enum shunt_direction */
	__u8 pad[3];
};

struct shunt_verdict_count {
	__u64 count;
};

/* shunt_flows (ring buffer): one per new connection and per denial. */
enum shunt_flow_kind {
	SHUNT_FLOW_CONNECT = 1, /* connect() or first datagram of a mesh workload */
	SHUNT_FLOW_INGRESS = 2, /* a packet arriving at a workload */
	/* From the node proxy (shunt_flow_inject): */
	SHUNT_FLOW_PROXY_OUT = 3, /* the outbound side: its peer refused, or unreachable */
	SHUNT_FLOW_PROXY_IN = 4,  /* the inbound side: a stream decided, a handshake refused */
};

struct shunt_flow_event {
	__u64 ts_ns; /* CLOCK_MONOTONIC */
	__u32 src_id;
	__u32 dst_id;
	__u8 src_addr[16];
	__u8 dst_addr[16];
	__u16 src_port;
	__u16 dst_port;
	__u8 proto;
	__u8 verdict;
	__u8 direction;
	__u8 kind;
	__u32 rule;    /* 0: default (no rule matched) */
	__u32 service; /* service port id when translated */
};

/*
 * The context of shunt_policy_query (a syscall program run with
 * BPF_PROG_RUN): the question in, the kernel's answer written back.
 */
struct shunt_policy_query {
	/* in */
	__u8 direction; /* enum shunt_direction */
	__u8 proto;
	__u16 port;
	__u32 subject; /* the workload whose policy decides */
	__u32 peer;    /* the other end's identity (an address: via shunt_ipcache) */
	/* out */
	__u32 verdict;	/* enum shunt_verdict */
	__u32 rule;	/* 0: no rule (default allow or default deny) */
	__u32 isolated; /* the subject is isolated in that direction */
	__u32 gen;	/* generation the answer comes from */
	__u32 pad;
	__u64 version; /* config version the answer comes from */
};

/* shunt_mesh_counters (per CPU). */
struct shunt_mesh_counters {
	__u64 connects;		    /* connects and sendmsgs seen from mesh workloads */
	__u64 translated;	    /* of those, to a service address */
	__u64 no_backend;	    /* refused: service without backends */
	__u64 egress_denied;	    /* refused by egress policy */
	__u64 ingress_denied_early; /* refused at connect by the peer's ingress policy */
	__u64 ingress_packets;	    /* packets checked at workloads */
	__u64 ingress_denied;	    /* of those, dropped */
	__u64 reverse_translated;   /* getpeername/recvmsg answers rewritten */
	__u64 flows_lost;	    /* flow events the ring buffer had no room for */
	__u64 udp_replies;	    /* UDP datagrams allowed as part of an allowed exchange */
	__u64 proxied;		    /* TCP connects sent to the node proxy */
	__u64 strict_dropped;	    /* plaintext to a strict workload, dropped */
	__u64 l7_proxied;	    /* TCP connects to an L7 service port sent to the proxy */
};

#endif /* SHUNT_MESH_SHARED_H */
