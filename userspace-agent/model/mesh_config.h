/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The mesh config: a YAML file that mirrors Kubernetes objects (namespaces,
 * workloads ~ pods, services, NetworkPolicy plus explicit deny rules).
 * docs/config.md describes every key. Parsing checks everything a config
 * can get wrong by itself; what needs the node (cgroups, netns) is checked
 * when it is compiled for one node.
 */
#ifndef SHUNT_MESH_CONFIG_H
#define SHUNT_MESH_CONFIG_H

#include <linux/types.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/arena.h"
#include "model/cfg_origin.h"
#include "model/http_route.h"

struct cfg_label {
	const char *key, *value;
};

struct cfg_labels {
	struct cfg_label *items;
	size_t n;
};

enum cfg_match_op { CFG_OP_IN, CFG_OP_NOT_IN, CFG_OP_EXISTS, CFG_OP_DOES_NOT_EXIST };

struct cfg_match_expr {
	const char *key;
	enum cfg_match_op op;
	const char **values;
	size_t nvalues;
};

/* A Kubernetes label selector; an empty one selects everything. */
struct cfg_selector {
	struct cfg_labels match_labels;
	struct cfg_match_expr *exprs;
	size_t nexprs;
};

struct cfg_prefix {
	__u8 addr[16];	  /* v4-mapped for IPv4 */
	unsigned int len; /* over the 16 bytes: IPv4 /24 is 96 + 24 */
	bool v4;
};

enum cfg_peer_kind { CFG_PEER_PODS, CFG_PEER_IPBLOCK, CFG_PEER_IDENTITY };

struct cfg_peer {
	enum cfg_peer_kind kind;
	/* CFG_PEER_PODS: either selector may be absent (NULL). */
	struct cfg_selector *pods, *namespaces;
	/* CFG_PEER_IPBLOCK */
	struct cfg_prefix cidr;
	struct cfg_prefix *except;
	size_t nexcept;
	/* CFG_PEER_IDENTITY */
	const char *sa_namespace, *sa_name;
};

struct cfg_port {
	__u8 proto; /* 6, 17 or 132; 0 only when no protocol and no port */
	__u16 port; /* 0: every port (or a named one) */
	__u16 end_port;
	const char *name; /* a named port: resolved on each destination pod */
};

enum cfg_rule_kind { CFG_INGRESS, CFG_EGRESS, CFG_INGRESS_DENY, CFG_EGRESS_DENY, CFG_RULE_KINDS };

struct cfg_rule {
	struct cfg_peer *peers; /* none: every peer */
	size_t npeers;
	struct cfg_port *ports; /* none: every port and protocol */
	size_t nports;
	struct cfg_origin origin;
};

struct cfg_policy {
	const char *name, *ns;
	struct cfg_selector subject;
	bool isolates[2]; /* by enum shunt_direction: policyTypes */
	struct cfg_rule *rules[CFG_RULE_KINDS];
	size_t nrules[CFG_RULE_KINDS];
	struct cfg_origin origin;
};

enum cfg_mtls { CFG_MTLS_UNSET, CFG_MTLS_PERMISSIVE, CFG_MTLS_STRICT };

struct cfg_namespace {
	const char *name;
	struct cfg_labels labels;
	enum cfg_mtls mtls; /* overrides the mesh-wide mode */
	struct cfg_origin origin;
};

#define CFG_MAX_ADDRS 8

/*
 * Access logs (docs/telemetry.md "Access logs"). Mesh-wide: on or off, where
 * (OUTPUT), and the share of requests and connections logged. A workload's
 * own overrides either part for what its node's proxy reports of it.
 */
struct cfg_access_log {
	bool has_enabled, has_sampling; /* given (a workload's: overrides the mesh's) */
	bool enabled;
	double sampling;    /* 0 to 1 */
	const char *output; /* mesh-wide: "stdout" or an absolute file path */
	struct cfg_origin origin;
};

/*
 * A workload's own tracing (Istio's Telemetry API randomSamplingPercentage
 * for its selector): the share of the new traces its requests start.
 */
struct cfg_workload_tracing {
	bool has_sampling; /* given: overrides the mesh's tracing.sampling */
	double sampling;   /* 0 to 1 */
	struct cfg_origin origin;
};

/* A container port, as in a pod spec: what named ports in policies mean. */
struct cfg_container_port {
	const char *name; /* NULL: unnamed */
	__u16 port;
	__u8 proto;
};

struct cfg_workload {
	const char *name, *ns, *service_account, *node, *netns, *cgroup;
	struct cfg_labels labels;
	struct cfg_prefix addrs[CFG_MAX_ADDRS]; /* len 128 */
	size_t naddrs;
	struct cfg_container_port *ports;
	size_t nports;
	struct cfg_access_log access_log;    /* its override of the mesh's */
	struct cfg_workload_tracing tracing; /* the same, for new traces */
	struct cfg_origin origin;
};

struct cfg_backend {
	const char *workload;	/* name in the service's namespace, or NULL */
	struct cfg_prefix addr; /* when no workload */
	__u32 weight;
	struct cfg_origin origin;
};

struct cfg_service_port {
	const char *name;
	__u16 port, target_port;
	__u8 proto;
	const char *app_protocol; /* tcp, http, http2 or grpc */
};

struct cfg_service {
	const char *name, *ns;
	struct cfg_prefix vips[CFG_MAX_ADDRS];
	size_t nvips;
	struct cfg_service_port *ports;
	size_t nports;
	bool has_selector;
	struct cfg_labels selector;
	struct cfg_backend *backends;
	size_t nbackends;
	bool has_traffic_policy;
	struct cfg_traffic_policy traffic_policy; /* L7 requests to its endpoints */
	struct cfg_origin origin;
};

/* A node and its proxy (docs/proxy.md): where its pods reach the outbound
 * proxy (IPv4), and where other nodes' proxies reach its inbound one. */
struct cfg_endpoint {
	__u8 addr[16];
	__u16 port;
};

struct cfg_node {
	const char *name;
	bool has_proxy, has_outbound6;
	struct cfg_endpoint outbound, outbound6, inbound;
	/* Where the proxy runs, both optional: with them its pod-facing
	 * sockets take the same-node bypass (docs/proxy.md). */
	const char *proxy_netns, *proxy_cgroup;
	/* sourceAddress: the inbound proxy connects to workloads from the
	 * client workload's address (client, the default: a transparent
	 * socket) or from its own pod-facing one (node). */
	bool source_from_node;
	/* The proxy's L7 side (docs/l7.md), on the outbound addresses; 0:
	 * CFG_L7_PORT_DEFAULT. */
	__u16 l7_port;
	struct cfg_origin origin;
};

#define CFG_L7_PORT_DEFAULT 15080

/* The Kubernetes mesh settings' nodeProxy: every Node object's InternalIP
 * with these ports is its node proxy (docs/kubernetes.md "Cross-node
 * mTLS"). Not for a config file, which lists its nodes. */
struct cfg_node_proxy {
	bool set;
	__u16 outbound_port, inbound_port; /* default 15001, 15008 */
	struct cfg_origin origin;
};

#define CFG_MAX_WARNINGS 32

/*
 * tracing (docs/telemetry.md "Tracing"): the node proxies propagate B3 and
 * W3C trace context and send their spans to a Zipkin collector. Off when
 * the config has no tracing section.
 */
/* requestId (Envoy's generate_request_id): zeroed, the default, a request
 * without x-request-id gets one at the first proxy that reads it. */
struct cfg_request_id {
	bool off; /* generate: false: such requests go on without one */
	struct cfg_origin origin;
};

/* The headers a new trace leaves in (tracing.newTraceHeaders); a trace
 * that came in leaves in the formats it came in. */
enum cfg_trace_headers {
	CFG_TRACE_B3 = 1 << 0,	      /* x-b3-traceid, -spanid, -sampled */
	CFG_TRACE_B3_SINGLE = 1 << 1, /* b3 */
	CFG_TRACE_W3C = 1 << 2,	      /* traceparent */
};

struct cfg_tracing {
	bool enabled;
	double sampling;		/* share of new traces sampled, 0 to 1 */
	unsigned int new_trace_headers; /* enum cfg_trace_headers; default B3 */
	const char *zipkin_url;		/* POST target of the spans (Zipkin v2 JSON) */
	__u32 interval_ms;		/* a batch goes at least this often */
	__u32 timeout_ms;		/* one POST, connect included */
	__u32 max_batch;		/* spans per POST at most */
	__u32 max_queue;		/* spans waiting at most; more are dropped, counted */
	struct cfg_origin origin;
};

#define CFG_TRACING_SAMPLING  0.01	   /* Istio's default: 1% of new traces */
#define CFG_TRACING_HEADERS   CFG_TRACE_B3 /* Envoy's Zipkin tracer's */
#define CFG_TRACING_INTERVAL  1000
#define CFG_TRACING_TIMEOUT   2000
#define CFG_TRACING_BATCH     512  /* OpenTelemetry's batch span processor's */
#define CFG_TRACING_QUEUE     2048 /* the same */
#define CFG_TRACING_BATCH_MAX 10000
#define CFG_TRACING_QUEUE_MAX 65536

struct mesh_config {
	struct shunt_arena arena;
	const char *path;
	const char *trust_domain;	  /* for SPIFFE identities; default cluster.local */
	enum cfg_mtls mtls;		  /* mesh-wide; default permissive */
	struct cfg_access_log access_log; /* mesh-wide; default off, stdout, 1 */
	struct cfg_tracing tracing;
	struct cfg_request_id request_id;
	struct cfg_node *nodes;
	size_t nnodes;
	struct cfg_node_proxy node_proxy; /* the Kubernetes settings only */
	struct cfg_namespace *namespaces;
	size_t nnamespaces;
	struct cfg_workload *workloads;
	size_t nworkloads;
	struct cfg_service *services;
	size_t nservices;
	struct cfg_policy *policies;
	size_t npolicies;
	struct cfg_http_route *http_routes; /* L7 (docs/l7.md) */
	size_t nhttp_routes;
	struct cfg_authz_policy *authz_policies; /* L7 authorization */
	size_t nauthz_policies;
	/* What was accepted but worth saying ("FILE:LINE:COL: ..."). */
	const char *warnings[CFG_MAX_WARNINGS];
	size_t nwarnings, warnings_dropped;
};

/* Where parsing or checking stopped, for FILE:LINE:COL: MESSAGE. */
struct cfg_error {
	char msg[512];
	enum cfg_fail_reason reason;
};

/* "ORIGIN: MESSAGE" into ERR (cfg_origin_format); returns -EINVAL. */
int cfg_fail_at(struct cfg_error *err, const struct cfg_origin *origin, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int cfg_vfail_at(struct cfg_error *err, const struct cfg_origin *origin, const char *fmt,
		 va_list ap) __attribute__((format(printf, 3, 0)));

void mesh_config_free(struct mesh_config *cfg);

/* The port named NAME of W for PROTO; 0 when W has none. */
__u16 cfg_workload_port(const struct cfg_workload *w, const char *name, __u8 proto);

/* Whether W's requests and connections are logged, and which share (the
 * mesh's setting with W's override; W NULL: the mesh's). */
bool cfg_access_log_for(const struct mesh_config *cfg, const struct cfg_workload *w,
			double *sampling);

/* The share of new traces sampled for requests of W (the mesh's
 * tracing.sampling, or W's override; W NULL: the mesh's). */
double cfg_trace_sampling_for(const struct mesh_config *cfg, const struct cfg_workload *w);
/* The name of enum cfg_trace_headers' bit 1 << I ("b3", "b3single", "w3c"),
 * as the config and the model's JSON write it; NULL past the last. */
const char *cfg_trace_header_name(unsigned int i);

/* Selector matching, shared with the compiler. */
bool cfg_selector_matches(const struct cfg_selector *sel, const struct cfg_labels *labels);
bool cfg_labels_subset(const struct cfg_labels *want, const struct cfg_labels *labels);
const struct cfg_namespace *cfg_namespace_find(const struct mesh_config *cfg, const char *name);
const struct cfg_node *cfg_node_find(const struct mesh_config *cfg, const char *name);
/* True when ADDR (len 128) lies in PREFIX. */
bool cfg_prefix_contains(const struct cfg_prefix *prefix, const __u8 addr[16], unsigned int len);

#endif
