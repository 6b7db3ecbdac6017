/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Inside the proxy (proxy_*.c): what its files share. The workers read two
 * immutable snapshots, the model (from the agent) and the TLS state (from
 * the certificate thread), each swapped whole (snapshot.h); everything else
 * here is set before the workers start and only read after.
 */
#ifndef SHUNT_PROXY_IMPL_H
#define SHUNT_PROXY_IMPL_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>
#include <linux/types.h>
#include <openssl/ssl.h>

#include "common/keymap.h"
#include "common/outcome.h"
#include "hbone/hbone.h"
#include "l7/l7.h"
#include "identity/ca.h"
#include "mesh_shared.h"
#include "model/mesh_config.h"
#include "pins.h"
#include "proxy.h"
#include "snapshot.h"

/* The model the agent published, indexed. */
struct model_snap {
	struct snap base;
	struct mesh_config cfg;
	const struct cfg_node *me; /* this node (with a proxy section) */
	struct keymap by_addr;	   /* workload address -> index */
	struct keymap by_name;	   /* "ns/name" -> index */
	__u64 version;		   /* the config version it went live as */
	__u64 generation;	   /* this process's count of models read: never reused */
};

/* A certificate and its key, for one identity. */
struct cert_pair {
	X509 *cert;
	EVP_PKEY *key;
	time_t not_after, issued;
};

/* The TLS state: contexts of the current CA and a certificate per identity
 * this node speaks as (its proxy, its workloads' service accounts). */
struct tls_snap {
	struct snap base;
	SSL_CTX *server, *client;
	unsigned int ca_gen;	   /* bumped by each CA reload: tunnels of older ones drain */
	struct keymap by_identity; /* identity key (proxy_identity_key) -> index */
	struct cert_pair *pairs;
	size_t npairs;
};

struct proxy_worker {
	int ep;
	int out_fd, out6_fd, in_fd; /* out6_fd -1: no IPv6 outbound */
	int l7_fd, l7_6_fd;	    /* the L7 side's listeners (-1: none) */
	int l7_ep;		    /* the L7 loop's epoll, in ep */
	struct hbone_loop *loop;
	struct l7_loop *l7;
	struct snap_ref model, tls; /* what this batch of events uses */
	/* The kernel's workload identities by name, for one config version. */
	struct keymap kernel_ids;
	__u64 kernel_ids_version;
	bool kernel_ids_valid;
	/* TLS session tickets of this worker's outbound tunnels, by pool key. */
	struct keymap sessions;
	SSL_SESSION **session_list;
	size_t nsessions, sessions_cap;
	unsigned int sessions_ca_gen;
	struct proxy_alog *alog;		   /* its access log lines of this turn */
	long long drain_started_ms, drain_tick_ms; /* proxy_drain.c; 0: not draining */
	pthread_t thread;
};

/* The proxy's part of a tunnel. */
struct proxy_tunnel {
	struct proxy_worker *w;
	char peer_node[SHUNT_DNS_SUBDOMAIN_MAX + 1]; /* outbound: the node it goes to */
	__u8 peer_addr[16], local_addr[16];	     /* for flow events */
	__u16 peer_port, local_port;
};

/* The proxy's part of a stream: who and where, for logs and flows. */
struct proxy_conn {
	struct proxy_worker *w;
	enum hbone_side side;
	char source[SHUNT_NAME_MAX]; /* the client workload */
	char destination[80];	     /* "addr:port" */
	char peer[SHUNT_SPIFFE_MAX]; /* inbound: the identity its tunnel proved */
	bool asserted;
	bool istio_open;	   /* counted as opened (istio_tcp_*): its close is too */
	struct timespec opened_at; /* then (CLOCK_REALTIME), for the access log */
	__u64 opened_us;	   /* CLOCK_MONOTONIC */
	struct shunt_proxy_key assert_key;
	struct l7_conn *l7; /* a stream the L7 side opened: told how it ended */
	struct shunt_flow_event flow;
};

struct proxy_globals {
	const char *node, *ca_dir;
	long cert_lifetime, idle_timeout;
	int orig_fd, asserted_fd, names_fd, state_fd;
	int flow_fd;	  /* shunt_flow_inject, or -1: no flow events */
	int policy_fd;	  /* shunt_policy_query: the kernel decides */
	bool transparent; /* connect to workloads from the client's address */
	char model_path[PATH_MAX];
	struct snap_slot model_slot, tls_slot;
	atomic_bool stopping;
	/* proxy_drain.c */
	atomic_bool serving, draining; /* the workers listen; SIGTERM came */
	atomic_llong drain_until_ms;   /* CLOCK_MONOTONIC */
	/* open at the deadline: tunnel streams, L7 client connections (an
	 * L7 connection from another node is one of each) */
	atomic_ullong drain_cut_streams, drain_cut_http;
	int drain_s; /* --drain-timeout; 0: a signal stops */
	const char *ready_file;
	int migrate_prog; /* bpf/reuseport.bpf.c, or -1 */
	int metrics_fd;	  /* the metrics thread's first listener, or -1 */
};
extern struct proxy_globals px;

/* proxy_drain.c: replaced without losing a connection. */
void proxy_drain_init(void);
/* The ready file (--ready-file): made once the workers listen, or while
 * the model gives this node no proxy (nothing to take over). */
void proxy_drain_make_ready_file(void);
/* A new listener joins its group's migration (when the kernel has it). */
void proxy_drain_attach_migration(int fd);
/* Every worker listens: SIGTERM drains from now on; the ready file is made. */
void proxy_drain_serving(void);
/* SIGTERM or SIGINT: drains, or stops (not serving yet, no drain, or a
 * second signal). Async-signal-safe. */
void proxy_drain_signal(void);
/* W's part, once per turn of its loop while draining: true once W has
 * nothing open or the deadline has come. */
bool proxy_drain_worker_done(struct proxy_worker *w);
void proxy_drain_end(void);

static inline struct model_snap *worker_model(struct proxy_worker *w)
{
	return (struct model_snap *)w->model.s;
}
static inline struct tls_snap *worker_tls(struct proxy_worker *w)
{
	return (struct tls_snap *)w->tls.s;
}

/* proxy_model.c: the published model, followed. */
int proxy_model_start(const struct shunt_pins *pins, int wait_s);
const struct cfg_workload *model_workload_by_addr(const struct model_snap *m, const __u8 a[16]);
const struct cfg_workload *model_workload_by_name(const struct model_snap *m, const char *q);
/* The kernel's identity for "ns/name", live generation; 0 or -ENOENT. */
int proxy_kernel_id(struct proxy_worker *w, const char *qualified, __u32 *id);
void proxy_kernel_ids_free(struct proxy_worker *w);

/* proxy_certs.c: certificates issued ahead, off the workers. */
void proxy_identity_key(char *buf, size_t len, const char *ns, const char *sa);
int proxy_certs_start(void);
/* The pair for KEY in T, or NULL (not issued yet). */
const struct cert_pair *tls_pair(const struct tls_snap *t, const char *key);

/* proxy_tls.c */
int proxy_tls_ctxs(SSL_CTX **server, SSL_CTX **client);
int proxy_tls_set_fd(SSL *ssl, int fd);
int proxy_peer_spiffe(SSL *ssl, char *buf, size_t len);
enum shunt_outcome proxy_handshake_outcome(long verify, unsigned long err);
SSL_SESSION *proxy_session_for(struct proxy_worker *w, const char *key);
void proxy_sessions_free(struct proxy_worker *w);
const char *proxy_ssl_err(unsigned long e);

/* proxy_outbound.c, proxy_inbound.c */
void proxy_accept_outbound(struct proxy_worker *w, int fd);
void proxy_accept_inbound(struct proxy_worker *w, int fd);
/* Sends S (of C, whose source and destination are set) over a tunnel to
 * the destination's node. */
enum shunt_outcome proxy_outbound_route(struct proxy_worker *w, struct proxy_conn *c,
					struct hbone_stream *s);
/* The kernel's name ("ns/name") of workload identity ID, or "". */
void proxy_kernel_name(__u32 id, char *buf, size_t len);
extern const struct hbone_ops proxy_hbone_ops;
enum shunt_outcome proxy_inbound_open(void *ctx, struct hbone_stream *s,
				      const struct hbone_request *req);
enum shunt_outcome proxy_peer_verified(void *ctx, struct hbone_tunnel *t);
int proxy_set_nodelay(int fd);
void proxy_note_ends(struct proxy_tunnel *pt, int fd);

/* proxy_l7.c: the L7 side's connections and requests (l7/l7.h). */
extern const struct l7_ops proxy_l7_ops;
void proxy_accept_l7(struct proxy_worker *w, int fd);
/* The destination's hop: stream S (of C, decided and admitted) from SRC
 * becomes a client connection of the L7 side to DST at C's destination,
 * when that is an L7 endpoint port (l7_origin.inbound). SHUNT_OUT_MAX:
 * not one, connect as for plain TCP. */
enum shunt_outcome proxy_inbound_l7(struct proxy_worker *w, struct hbone_stream *s,
				    struct proxy_conn *c, const struct cfg_workload *src,
				    const struct cfg_workload *dst);
struct metrics_writer;
void proxy_l7_metrics(struct metrics_writer *w);
struct l7_conn;
void proxy_l7_stream_ended(struct l7_conn *lc, enum shunt_outcome outcome);
void proxy_l7_stream_goaway(struct l7_conn *lc);

/* proxy_access_log.c: the access log (docs/telemetry.md), its lines made
 * on the workers and written by a thread of its own. */
struct istio_peers;
int proxy_access_log_start(void);
void proxy_access_log_stop(void);
void proxy_access_log_http(struct proxy_worker *w, const struct l7_done *d,
			   const struct istio_peers *p);
void proxy_access_log_tcp(const struct proxy_conn *c, const struct istio_peers *p,
			  enum shunt_outcome o, unsigned long long received,
			  unsigned long long sent);
/* End of a turn of W's loop: its lines to the writer, never waiting. */
void proxy_access_log_flush(struct proxy_worker *w);
void proxy_access_log_worker_end(struct proxy_worker *w);
void proxy_access_log_metrics(struct metrics_writer *w);

/* proxy_events.c: flows, logs and counters of what ended. */
void proxy_flow_init(struct shunt_flow_event *ev, __u8 kind);
void proxy_flow_emit(const struct shunt_flow_event *ev);
/* Istio's TCP metrics: C opened (a plain TCP connection through a tunnel,
 * not one of the L7 side's). */
void proxy_istio_tcp_opened(struct proxy_conn *c);

#endif
