/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Random mesh configs for differential tests: a small model of a config
 * (namespaces, workloads, services, policies, the node proxy) that each
 * step mutates a little (or rewrites, or leaves alone), rendered as YAML for
 * mesh_config_parse(). The model stays valid: the parser must accept every
 * config it renders. Randomness comes from a seed (xorshift64*: the same
 * seed, the same sequence) or from a byte buffer (a fuzzer's input; zeros
 * once it runs out).
 */
#ifndef SHUNT_TEST_MESH_GEN_H
#define SHUNT_TEST_MESH_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GEN_NAMESPACES 4 /* x, y, z and default */
#define GEN_WORKLOADS  10
#define GEN_SERVICES   3
#define GEN_POLICIES   6
#define GEN_RULES      2 /* per kind */
#define GEN_PEERS      3
#define GEN_PORTS      3
#define GEN_EXCEPTS    2
#define GEN_BACKENDS   3
#define GEN_RULE_KINDS 4 /* ingress, egress, ingressDeny, egressDeny */

struct gen_rng {
	uint64_t state;
	const uint8_t *buf; /* NULL: seeded */
	size_t len, pos;
};

struct gen_namespace {
	bool declared, strict;
	signed char team, env; /* -1: no such label */
};

struct gen_workload {
	bool used, local;
	unsigned char name, ns, sa;
	signed char pod, app;	    /* -1: no such label */
	unsigned char addr4, addr6; /* 10.0.0.N, fd00::N; 0: none */
	unsigned char ports;	    /* bit i: gen_container_ports[i] */
	unsigned char incarnation;  /* part of its netns and cgroup paths */
	bool shared_cgroup;	    /* in a cgroup another workload may share */
};

/* A label selector over pod labels or namespace labels (key indexes). */
struct gen_selector {
	unsigned char nlabels, nexprs;
	struct {
		unsigned char key, value;
	} labels[2];
	struct {
		unsigned char key, op, values; /* values: bit mask */
	} exprs[2];
};

struct gen_prefix {
	bool v6;
	unsigned char addr[16]; /* IPv4 in the first 4 bytes; may have host bits */
	unsigned char len;	/* bits of its family */
};

enum gen_peer_kind { GEN_PEER_PODS, GEN_PEER_IPBLOCK, GEN_PEER_SA };

struct gen_peer {
	unsigned char kind;
	bool has_pods, has_namespaces;
	struct gen_selector pods, namespaces;
	struct gen_prefix cidr;
	unsigned char nexcept;
	struct gen_prefix except[GEN_EXCEPTS];
	unsigned char sa_ns, sa_name;
};

struct gen_port {
	signed char proto;	       /* -1: not given (TCP), else 0 TCP, 1 UDP, 2 SCTP */
	signed char name;	       /* index of a port name, or -1 */
	unsigned short port, end_port; /* 0: not given */
};

struct gen_rule {
	signed char npeers, nports; /* -1: no from/to, no ports */
	struct gen_peer peers[GEN_PEERS];
	struct gen_port ports[GEN_PORTS];
};

struct gen_policy {
	bool used;
	unsigned char name, ns;
	struct gen_selector subject;
	signed char types;		    /* -1: not given; bit 0 Ingress, bit 1 Egress */
	signed char nrules[GEN_RULE_KINDS]; /* -1: the key is absent */
	struct gen_rule rules[GEN_RULE_KINDS][GEN_RULES];
};

struct gen_backend {
	bool is_workload;
	unsigned char workload; /* slot; left out unless used and in the namespace */
	unsigned char addr;	/* 1..30: 10.0.0.N, 31..42: fd00::(N - 30) */
	signed char weight;	/* -1: not given */
};

struct gen_service {
	bool used, has_selector;
	unsigned char name, ns, vip4, vip6; /* 10.96.0.N, fd00:96::N; 0: none */
	unsigned char nports, nbackends;
	struct {
		unsigned short port, target; /* target 0: not given */
		unsigned char proto;	     /* 0: not given, 1 TCP, 2 UDP */
	} ports[2];
	signed char sel_pod, sel_app; /* -1: not in the selector */
	struct gen_backend backends[GEN_BACKENDS];
};

struct gen_proxy {
	bool on, outbound6, runs_here; /* runs_here: netns and cgroup given */
	unsigned char outbound;	       /* 10.0.0.N; 0: 10.100.0.1 */
};

struct mesh_gen {
	struct gen_rng rng;
	bool strict;
	struct gen_namespace ns[GEN_NAMESPACES];
	struct gen_workload wl[GEN_WORKLOADS];
	struct gen_service svc[GEN_SERVICES];
	struct gen_policy pol[GEN_POLICIES];
	struct gen_proxy proxy;
	unsigned int steps;
	char change[160]; /* what the last step did, for reports */
};

/* What the model's indexes stand for (mesh_gen.c). */
extern const char *const gen_ns_names[GEN_NAMESPACES];
extern const char *const gen_workload_names[12];
extern const char *const gen_sa_names[3];
extern const char *const gen_service_names[4];
extern const char *const gen_policy_names[8];
extern const char *const gen_port_names[6]; /* named ports of policies */
/* Label keys and their values: pod labels, then namespace labels. */
struct gen_label_key {
	const char *key;
	const char *const *values;
	unsigned int nvalues;
};
extern const struct gen_label_key gen_pod_keys[2], gen_ns_keys[3];
struct gen_container_port {
	const char *name; /* NULL: unnamed */
	unsigned short port;
	unsigned char proto; /* 0 TCP, 1 UDP, 2 SCTP */
};
extern const struct gen_container_port gen_container_ports[8];
extern const char *const gen_protocols[3];

/* Inside the generator (mesh_gen.c, mesh_gen_policy.c, mesh_gen_yaml.c). */
#define GEN_ADDRS4   30 /* workload addresses 10.0.0.1 .. 10.0.0.30 */
#define GEN_ADDRS6   12 /* fd00::1 .. fd00::c */
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
/* True PCT times in a hundred; false for a zero byte. */
bool gen_chance(struct mesh_gen *g, unsigned int pct);
/* Appends to what this step changed. */
void gen_note(struct mesh_gen *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Mostly a namespace some workload lives in. */
unsigned int gen_busy_ns(struct mesh_gen *g);
/* A random used workload slot, or -1. */
int gen_used_workload(struct mesh_gen *g);
void gen_random_policy(struct mesh_gen *g, int slot);
void gen_edit_policy(struct mesh_gen *g, int slot);

void mesh_gen_init_seed(struct mesh_gen *g, uint64_t seed);
/* Randomness from DATA (LEN bytes, not copied: keep it alive). */
void mesh_gen_init_bytes(struct mesh_gen *g, const uint8_t *data, size_t len);
/* A random number below N (N > 0). */
unsigned int mesh_gen_below(struct mesh_gen *g, unsigned int n);
/* One step: the first makes a whole config, later ones mutate it. */
void mesh_gen_step(struct mesh_gen *g);
/* The config as YAML (malloc'd, NUL-terminated, *LEN bytes); NULL on ENOMEM. */
char *mesh_gen_render(const struct mesh_gen *g, size_t *len);

#endif
