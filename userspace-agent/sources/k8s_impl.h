/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Inside the Kubernetes source (docs/kubernetes.md): the connection to the
 * API server, the informers' caches, and the translation of the cached
 * objects into the model. Not for use outside sources/k8s_*.c (and their
 * unit tests).
 */
#ifndef SHUNT_K8S_IMPL_H
#define SHUNT_K8S_IMPL_H

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/keymap.h"
#include "model/mesh_config.h"

/* What is listed and watched; pods twice, split by spec.nodeName. */
enum k8s_kind {
	K8S_NAMESPACES,
	K8S_PODS_LOCAL,	 /* fieldSelector spec.nodeName=<node> */
	K8S_PODS_REMOTE, /* fieldSelector spec.nodeName!=<node> */
	K8S_SERVICES,
	K8S_ENDPOINTSLICES,
	K8S_NETWORKPOLICIES,
	K8S_HTTPROUTES,	 /* Gateway API; optional: a 404 is an empty list */
	K8S_NODES,	 /* their InternalIPs: the node proxies (nodeProxy) */
	K8S_TELEMETRIES, /* Istio's Telemetry; optional: a 404 is an empty list */
	K8S_KINDS
};

/* The API's collection path of KIND ("/api/v1/pods") and its Kind ("Pod"). */
const char *k8s_kind_path(enum k8s_kind kind);
const char *k8s_kind_name(enum k8s_kind kind);
/* Whether KIND is a CRD that may not be installed (a 404: none, asked for
 * again later). */
bool k8s_kind_optional(enum k8s_kind kind);

/* Where the API server is and how to prove who we are. */
/* PEM text: a file, or the decoded *-data of a kubeconfig (malloc'ed). */
struct k8s_pem {
	char file[512];
	char *data;
	size_t len;
};

/* A kubeconfig user's credential plugin (users[].user.exec), as kubectl
 * runs it: the ExecCredential it prints gives a token or a client
 * certificate, until its expirationTimestamp (k8s_exec.c). */
struct k8s_exec {
	char **argv;	      /* the command (resolved) and its args; NULL: none */
	char **env;	      /* "NAME=VALUE" added to ours */
	char api_version[80]; /* client.authentication.k8s.io/v1 or v1beta1 */
	long long expiry;     /* unix time the credential ends; 0: at a 401 */
	bool stale;	      /* run it again before the next request */
	bool after_401;	      /* the credential is the one a 401 asked for */
	unsigned int gen;     /* counts the credentials it gave */
};

struct k8s_conn {
	char server[512];     /* https://host:port, no trailing slash */
	char *token;	      /* bearer token (malloc'ed), or NULL */
	char token_file[512]; /* where it is read again before each request */
	struct k8s_pem ca;
	/* a kubeconfig user's client certificate and its key (both or none) */
	struct k8s_pem cert, key;
	struct k8s_exec exec;
};

/* Runs CONN's plugin and takes its credential; ERR says why not. */
int k8s_exec_run(struct k8s_conn *conn, struct cfg_error *err);
/* The plugin again if its credential expired (or a 401 made it stale);
 * a failure keeps the last one, said in the log. */
void k8s_exec_refresh(struct k8s_conn *conn);
void k8s_exec_free(struct k8s_exec *x);

/* In-cluster (the service account's files under SA_DIR) when KUBECONFIG is
 * NULL, else the current context of that file. ERR says what is missing. */
int k8s_conn_load(struct k8s_conn *conn, const char *kubeconfig, const char *sa_dir,
		  struct cfg_error *err);
void k8s_conn_free(struct k8s_conn *conn);
/* The token again from token_file (a projected token rotates); keeps the
 * old one when the file cannot be read. */
void k8s_conn_refresh_token(struct k8s_conn *conn);

/* k8s_http.c: the headers of a request (Accept, the token read again),
 * the TLS settings of CONN on a curl handle, and one request: METHOD PATH
 * with JSON (NULL: none); 0 with the answer's status and body in OUT
 * (free its body), -EIO with curl's words in it, -ENOMEM. */
struct k8s_reply {
	long status;
	char *body;
	size_t len;
	char curl_error[256];
};
struct curl_slist *k8s_auth_headers(struct k8s_conn *conn);
void k8s_curl_tls(CURL *e, const struct k8s_conn *conn);
int k8s_http(struct k8s_conn *conn, const char *method, const char *path, const char *json,
	     struct k8s_reply *out);
/* An answer's body as libcurl gives it (k8s_body_append, the
 * CURLOPT_WRITEFUNCTION of a struct k8s_body): NUL-terminated, at most 4
 * MiB, too_big past that. */
struct k8s_body {
	char *data;
	size_t len;
	bool too_big;
};
size_t k8s_body_append(char *data, size_t size, size_t nmemb, void *body);
/* LEN bytes of base64 TEXT into *OUT (malloc'ed, *N bytes): 0, -EINVAL
 * (not base64), -ENOMEM. */
int k8s_base64_decode(const char *text, size_t len, unsigned char **out, size_t *n);

/* How the source was asked to run: the "KEY=VALUE,..." location string. */
struct k8s_opts {
	char kubeconfig[512]; /* empty: in-cluster */
	char sa_dir[256];     /* in-cluster files; default the kubelet's mount */
	char node[254];
	char trust_domain[254];
	bool trust_domain_given; /* not the default: refused with mesh_settings */
	char mesh_settings[512]; /* the mesh-wide settings file; empty: none */
	char cgroup_root[512];
	char proc_root[256];	      /* the host's /proc (pods' netns by pid) */
	unsigned int sync_timeout_ms; /* how long load() waits for the first sync */
	unsigned int backoff_min_ms, backoff_max_ms;
	unsigned int watch_timeout_s; /* the server ends each watch after it */
};

int k8s_opts_parse(struct k8s_opts *opts, const char *location, struct cfg_error *err);

/* The mesh settings file (k8s_settings.c): PATH parsed as a mesh config
 * that may hold only trustDomain, mtls, nodes, nodeProxy, accessLog and tracing, the
 * trust domain checked; ERR says what is wrong. */
int k8s_settings_load(const char *path, struct mesh_config *out, struct cfg_error *err);
/* SETTINGS' mtls, accessLog and tracing into CFG (its arena), and its nodes
 * before those CFG has from Node objects (the same name: the settings'). */
int k8s_settings_copy(const struct mesh_config *settings, struct mesh_config *cfg);

/* Which version of a file is there: a ConfigMap mounted in a pod is
 * replaced by the kubelet swapping a symlink (a new inode behind the same
 * path), an edited file changes its mtime or size. */
struct k8s_file_stamp {
	bool exists;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

/* PATH's stamp now (stat, through symlinks). */
void k8s_file_stamp(const char *path, struct k8s_file_stamp *st);
bool k8s_file_stamp_same(const struct k8s_file_stamp *a, const struct k8s_file_stamp *b);

/* Where a local pod runs: its cgroup directory and a network namespace
 * path (the netns of a process in the pod's cgroup); WHY, when not found. */
struct k8s_pod_paths {
	char cgroup[512];
	char netns[300];
	char why[400];
};

/* Finds POD (an object with metadata.uid and status.qosClass) under
 * OPTS->cgroup_root, for the systemd and the cgroupfs drivers of the
 * kubelet, and its netns under OPTS->proc_root. -ENOENT when the pod's
 * cgroup, or a process in it with a netns of its own, is not there (yet);
 * OUT->why says which. */
int k8s_pod_locate(const struct k8s_opts *opts, const json_t *pod, struct k8s_pod_paths *out);

/* A Namespace's mTLS mode (STRICT or PERMISSIVE), over the mesh-wide one. */
#define K8S_MTLS_ANNOTATION "shunt.dev/mtls"
/* A pod's own telemetry (k8s_pod_telemetry.c): "true"/"false", and shares. */
#define K8S_ACCESS_LOG_ANNOTATION	   "shunt.dev/access-log"
#define K8S_ACCESS_LOG_SAMPLING_ANNOTATION "shunt.dev/access-log-sampling"
#define K8S_TRACE_SAMPLING_ANNOTATION	   "shunt.dev/trace-sampling"

/* --- HTTPRoute status (k8s_route_status.c) --- */

/* status.parents[].controllerName of the entries the agents write. */
#define K8S_CONTROLLER_NAME "shunt.dev/mesh"

/* What the translation made of an HTTPRoute. */
struct k8s_route_verdict {
	bool accepted;		       /* in the model */
	enum cfg_fail_reason why;      /* if not: the parser's reason, */
	const char *msg;	       /* and its words */
	bool refs_resolved;	       /* every backendRef names a Service and port there */
	enum cfg_fail_reason refs_why; /* if not: which way one does not */
	const char *refs_msg;
};

/* The outcome kept for ROUTE's status (a new reference; NULL: no memory):
 * its uid and generation, and the Accepted and ResolvedRefs conditions
 * (type, status, reason, message) V says. */
json_t *k8s_route_outcome(const json_t *route, const struct k8s_route_verdict *v);
/* A parentRef to a Service (group "" or core, kind Service, both as the
 * route parser reads them: absent is the same): one of ours (GAMMA). */
bool k8s_route_parent_is_ours(const json_t *ref);
/* Our status.parents entries for ROUTE: one per parentRef of ours, with
 * OUTCOME's conditions, observedGeneration, and lastTransitionTime kept
 * from ROUTE's status where that condition's status is the same, else NOW
 * (RFC 3339). NULL when OUTCOME is of another version (uid, generation)
 * of ROUTE, or no memory. */
json_t *k8s_route_status_ours(const json_t *route, const json_t *outcome, const char *now);
/* PARENTS (a route's status.parents; NULL: none) with the entries of our
 * controller replaced by OURS, the others' kept as they are; *CHANGED:
 * whether ours differ from those there. A new reference; NULL: no memory. */
json_t *k8s_route_status_merge(const json_t *parents, const json_t *ours, bool *changed);

/* What the translation needs besides the caches. */
struct k8s_translate_opts {
	const char *node, *trust_domain, *source_name;
	/* the settings' nodeProxy: each Node's proxy; NULL or unset: none */
	const struct cfg_node_proxy *node_proxy;
	/* k8s_pod_locate (LOCATE_CTX: the k8s_opts), or a test's fake. */
	int (*locate)(void *ctx, const json_t *pod, struct k8s_pod_paths *out);
	void *locate_ctx;
	/* out, if set: Ready pods of this node not found (no cgroup or netns
	 * yet), to be looked for again */
	unsigned int *unplaced;
	/* out, if set (a JSON object): "ns/name" -> each HTTPRoute's outcome
	 * (k8s_route_outcome), for its status */
	json_t *route_outcomes;
};

/*
 * The caches (each a JSON object of "ns/name" -> API object, by kind) as a
 * model. What the model cannot express: a NetworkPolicy, or a Namespace's
 * mTLS annotation, fails the whole snapshot (-EINVAL, ERR names it: leaving
 * it out would allow what it denies); a Service or Pod is left out with a
 * warning.
 */
int k8s_translate(json_t *const caches[K8S_KINDS], const struct k8s_translate_opts *opts,
		  struct mesh_config *cfg, struct cfg_error *err);

/* Parts of the translation shared by its files (k8s_translate.c). */
struct k8s_tr {
	struct mesh_config *cfg;
	const struct k8s_translate_opts *opts;
	struct cfg_error *err;
	json_t *slices;		 /* the EndpointSlices cache */
	json_t *telemetries;	 /* the Telemetry cache (k8s_telemetry.c) */
	struct keymap workloads; /* "ns/name" of the model's workloads */
};

const char *k8s_str(const json_t *obj, const char *path);   /* "a.b.c"; NULL if absent */
const char **k8s_sorted_keys(const json_t *obj, size_t *n); /* malloc'ed, into OBJ */
char *k8s_dup(struct k8s_tr *tr, const char *s);	    /* in the model's arena */
struct cfg_origin k8s_origin(struct k8s_tr *tr, const char *kind, const json_t *obj);
int k8s_labels(struct k8s_tr *tr, const json_t *map, struct cfg_labels *out);
int k8s_selector(struct k8s_tr *tr, const struct cfg_origin *o, const json_t *sel,
		 struct cfg_selector *out);
int k8s_prefix(const char *text, bool need_len, struct cfg_prefix *out);
int k8s_proto(const json_t *v, __u8 *out); /* absent: TCP */
void k8s_warn(struct k8s_tr *tr, const struct cfg_origin *o, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int k8s_oom(struct k8s_tr *tr);

/* NetworkPolicy -> cfg_policy (k8s_netpol.c). */
int k8s_netpol(struct k8s_tr *tr, const json_t *np, struct cfg_policy *out);
/* Service + its EndpointSlices -> cfg_service (k8s_service.c); 1: left out. */
int k8s_service(struct k8s_tr *tr, const json_t *svc, struct cfg_service *out);
/* HTTPRoute -> cfg_http_route (k8s_httproute.c); 1: left out. */
int k8s_httproute(struct k8s_tr *tr, const json_t *route, struct cfg_http_route *out);
/* The Pods of both pod caches -> workloads (k8s_pods.c). */
int k8s_pods(struct k8s_tr *tr, json_t *const caches[K8S_KINDS]);
/* POD's Telemetry objects, then its annotations, into W's accessLog and
 * tracing overrides; a bad value is a warning, and the setting under it
 * applies. */
void k8s_pod_telemetry(struct k8s_tr *tr, const json_t *pod, struct cfg_workload *w);
/* Istio's Telemetry objects (k8s_telemetry.c): what of theirs is not read,
 * a warning per object; and what applies to POD, into W. */
#define K8S_TELEMETRY_ROOT_NAMESPACE "istio-system"
int k8s_telemetries_check(struct k8s_tr *tr);
void k8s_telemetry_apply(struct k8s_tr *tr, const json_t *pod, struct cfg_workload *w);
/* A Node object as the model's node, its proxy at its InternalIP(s) with
 * the ports of tr->opts->node_proxy; 1: left out (no InternalIP, said). */
int k8s_node(struct k8s_tr *tr, const json_t *obj, struct cfg_node *out);

/* --- the informers (k8s_watch.c, k8s_informer.c) --- */

enum k8s_state { K8S_WAITING, K8S_LISTING, K8S_WATCHING };

/* One kind's list + watch and its cache, like a client-go informer. */
struct k8s_informer {
	enum k8s_kind kind;
	enum k8s_state state;
	json_t *cache;	 /* committed: "ns/name" -> object */
	json_t *staging; /* the pages of the list being read */
	char rv[64];	 /* where the next watch resumes */
	char cont[1024]; /* the list's continue token */
	bool synced;	 /* a whole list was read once */
	bool relist;	 /* the watch said 410 Gone */
	bool got_events;
	struct k8s_watcher *w;
	void *easy;    /* CURL * of the request in flight */
	void *headers; /* its struct curl_slist * */
	char *buf;     /* the list's body, or the watch's unfinished line */
	/* libcurl's words for a failure (CURL_ERROR_SIZE): the TLS alert of a
	 * refused client certificate, where its code says only "receiving" */
	char curl_error[256];
	size_t len, cap;
	unsigned int backoff_ms;
	unsigned long long retry_at_ms;
	unsigned int cred_gen; /* the plugin's credential the request carries */
};

/* The one status write in flight (k8s_route_write.c). */
struct k8s_status_put {
	void *easy;    /* CURL * */
	void *headers; /* struct curl_slist * */
	char *body;    /* the object sent */
	struct k8s_body reply;
	char key[600]; /* "ns/name" */
	char rv[64];   /* the resourceVersion it was sent against */
	char curl_error[256];
};

struct k8s_watcher {
	struct k8s_opts opts;
	struct k8s_conn conn;
	struct k8s_informer inf[K8S_KINDS];
	pthread_mutex_t lock; /* the caches, the counters and the error */
	pthread_cond_t cond;  /* every kind synced, or an error */
	int event_fd;	      /* +1 when a snapshot is due */
	void *multi;	      /* CURLM * */
	pthread_t thread;
	bool started, stop, all_synced;
	int error; /* the last failure, -errno; 0 after a good list */
	char error_msg[512];
	/* the settings file as the thread last saw it, checked once a second:
	 * a new version is a snapshot due (load() reads it) */
	struct k8s_file_stamp settings_seen;
	unsigned long long settings_checked_ms;
	/* Ready local pods the last snapshot could not place (load() sets
	 * it): the thread makes a snapshot due again after a backoff */
	unsigned int unplaced;
	unsigned long long unplaced_retry_ms, unplaced_backoff_ms;
	unsigned long lists, watches, relists, events;
	/* HTTPRoute status: the last good snapshot's outcomes (load() sets
	 * them, under the lock); written by the thread once the source is
	 * followed (watch() asked: not for --check or --once). */
	json_t *route_outcomes;
	bool status_on, status_due;
	json_t *status_sent; /* "ns/name" -> resourceVersion a write went against */
	struct k8s_status_put put;
	unsigned int status_backoff_ms;
	unsigned long long status_retry_ms;
	unsigned long status_writes, status_conflicts, status_failures;
};

int k8s_watcher_start(struct k8s_watcher *w, struct cfg_error *err);
void k8s_watcher_stop(struct k8s_watcher *w);

/* Inside the thread (k8s_informer.c): a request's URL, a finished list
 * page or watch, a watch event line. */
int k8s_informer_url(struct k8s_watcher *w, struct k8s_informer *inf, bool watch, char *url,
		     size_t len);
void k8s_informer_list_done(struct k8s_watcher *w, struct k8s_informer *inf, long status,
			    int curl_ok);
void k8s_informer_watch_done(struct k8s_watcher *w, struct k8s_informer *inf, long status,
			     int curl_ok);
/* false: stop reading this watch (an ERROR event, bad JSON). */
bool k8s_informer_event(struct k8s_watcher *w, struct k8s_informer *inf, const char *line,
			size_t len);
void k8s_watcher_fail(struct k8s_watcher *w, int error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void k8s_watcher_signal(struct k8s_watcher *w); /* caller holds the lock */
void k8s_informer_backoff(struct k8s_watcher *w, struct k8s_informer *inf);

/* Inside the thread (k8s_route_write.c): a status write due, started; the
 * write's end (whether E was it); its handle ended. */
void k8s_status_poll(struct k8s_watcher *w);
bool k8s_status_done(struct k8s_watcher *w, CURLMsg *msg);
void k8s_status_end(struct k8s_watcher *w);

#endif
