// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Istio's standard metrics (proxy_istio.h). Every observation looks its
 * label set up in a hash table of its kind (one lock, held for the lookup
 * only; the series themselves are the registry's lock-free shards), so a
 * request costs one hash and one short critical section, not a walk over
 * every series of a family with fifteen string compares each.
 */
#include "proxy_istio.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/istio_labels.h"
#include "common/metrics.h"
#include "model/mesh_config.h"

enum istio_kind { KIND_HTTP, KIND_TCP, KIND_MAX };

#define NSERIES 4    /* families per kind */
#define KEY_MAX 2048 /* a label set, joined; longer ones go to the overflow set */

/* Istio's default buckets (its stats extension): milliseconds, bytes. */
static const double duration_ms_bounds[] = {0.5,   1,	   5,	   10,	    25,	    50,	   100,
					    250,   500,	   1000,   2500,    5000,   10000, 30000,
					    60000, 300000, 600000, 1800000, 3600000};
static const double bytes_bounds[] = {1, 10, 100, 1000, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};

struct istio_set {
	uint64_t hash;
	char *key; /* NULL: a free slot */
	struct metric_series *s[NSERIES];
};

struct istio_table {
	pthread_mutex_t lock;
	const char *name; /* the kind: "http", "tcp" */
	struct istio_set *slots;
	size_t cap, used, max;
	struct istio_set overflow[2]; /* by reporter */
	struct metric_family *f[NSERIES];
	struct metric_series *overflowed, *sets;
	const char *labels[ISTIO_L_MAX + 1];
	size_t nlabels;
};

struct istio_metrics {
	struct istio_table t[KIND_MAX];
};

/* The values of one observation, and the strings they point into. */
struct istio_values {
	const char *v[ISTIO_L_MAX];
	struct istio_peer_labels pl;
	char code[16], grpc[16];
};

static const struct {
	const char *name, *help;
	enum metric_type type;
	const double *bounds;
	size_t nbounds;
} families[KIND_MAX][NSERIES] = {
    [KIND_HTTP] =
	{
	    {"istio_requests_total", "Requests the proxy handled (Istio standard metric).",
	     METRIC_COUNTER, NULL, 0},
	    {"istio_request_duration_milliseconds",
	     "Duration of requests, from the first byte read to the last byte given to the client.",
	     METRIC_HISTOGRAM, duration_ms_bounds,
	     sizeof(duration_ms_bounds) / sizeof(duration_ms_bounds[0])},
	    {"istio_request_bytes", "Request body sizes.", METRIC_HISTOGRAM, bytes_bounds,
	     sizeof(bytes_bounds) / sizeof(bytes_bounds[0])},
	    {"istio_response_bytes", "Response body sizes.", METRIC_HISTOGRAM, bytes_bounds,
	     sizeof(bytes_bounds) / sizeof(bytes_bounds[0])},
	},
    [KIND_TCP] =
	{
	    {"istio_tcp_connections_opened_total",
	     "TCP connections opened (Istio standard metric).", METRIC_COUNTER, NULL, 0},
	    {"istio_tcp_connections_closed_total", "TCP connections closed.", METRIC_COUNTER, NULL,
	     0},
	    {"istio_tcp_sent_bytes_total", "Bytes sent towards the client (responses).",
	     METRIC_COUNTER, NULL, 0},
	    {"istio_tcp_received_bytes_total", "Bytes received from the client (requests).",
	     METRIC_COUNTER, NULL, 0},
	},
};

/* A key's hash, 8 bytes a step (FNV-1a a byte a step was 3% of the
 * proxy's CPU: keys are a few hundred bytes, hashed per request). Keys come
 * from the model and the proxy's own labels, not from peers. */
static uint64_t hash_of(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull ^ n, w;

	for (; n >= 8; s += 8, n -= 8) {
		memcpy(&w, s, 8);
		h = (h ^ w) * 0x9e3779b97f4a7c15ull;
		h ^= h >> 29;
	}
	w = 0;
	memcpy(&w, s, n);
	h = (h ^ w) * 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 32);
}

static int table_init(struct istio_table *t, struct metrics_registry *r, enum istio_kind k,
		      size_t max)
{
	static const char *const kind_label[] = {"kind", NULL};
	struct metric_family *over, *sets;
	size_t i;

	pthread_mutex_init(&t->lock, NULL);
	t->name = k == KIND_HTTP ? "http" : "tcp";
	t->nlabels = istio_labels_of(k == KIND_TCP, t->labels);
	t->max = max;
	for (t->cap = 16; t->cap < 2 * max; t->cap *= 2)
		;
	t->slots = calloc(t->cap, sizeof(*t->slots));
	if (!t->slots)
		return -ENOMEM;
	for (i = 0; i < NSERIES; i++) {
		t->f[i] =
		    metrics_family(r, families[k][i].type, families[k][i].name, families[k][i].help,
				   t->labels, families[k][i].bounds, families[k][i].nbounds);
		if (!t->f[i])
			return -errno;
	}
	over = metrics_family(r, METRIC_COUNTER, "shunt_istio_overflow_total",
			      "Observations counted in the overflow label set: their kind had "
			      "ISTIO_MAX_SETS label sets already (docs/telemetry.md).",
			      kind_label, NULL, 0);
	sets = metrics_family(r, METRIC_GAUGE, "shunt_istio_label_sets",
			      "Label sets of the istio_* metrics, by kind.", kind_label, NULL, 0);
	if (!over || !sets)
		return -errno;
	t->overflowed = metrics_series(over, (const char *[]){t->name});
	t->sets = metrics_series(sets, (const char *[]){t->name});
	return t->overflowed && t->sets ? 0 : -ENOMEM;
}

static void table_fini(struct istio_table *t)
{
	size_t i;

	for (i = 0; t->slots && i < t->cap; i++)
		free(t->slots[i].key);
	free(t->slots);
	pthread_mutex_destroy(&t->lock);
}

struct istio_metrics *istio_metrics_new(struct metrics_registry *r, size_t max_sets)
{
	struct istio_metrics *m = calloc(1, sizeof(*m));
	int k, err = 0;

	if (!m)
		return NULL;
	for (k = 0; k < KIND_MAX && !err; k++)
		err = table_init(&m->t[k], r, (enum istio_kind)k, max_sets);
	if (err) {
		istio_metrics_free(m);
		errno = -err;
		return NULL;
	}
	return m;
}

void istio_metrics_free(struct istio_metrics *m)
{
	int k;

	if (!m)
		return;
	for (k = 0; k < KIND_MAX; k++)
		if (m->t[k].slots)
			table_fini(&m->t[k]);
	free(m);
}

/* VALUES of T's labels joined with 0x1f into KEY; its length, or 0 if it
 * does not fit. */
static size_t join(const struct istio_table *t, const char *const *values, char *key)
{
	size_t n = 0, i, len;

	for (i = 0; i < t->nlabels; i++) {
		len = strlen(values[i]);
		if (n + len + 1 >= KEY_MAX)
			return 0;
		memcpy(key + n, values[i], len);
		n += len;
		key[n++] = 0x1f;
	}
	key[n] = 0;
	return n;
}

/* The slot of KEY (found or free); T's lock held. */
static struct istio_set *slot_of(struct istio_table *t, const char *key, uint64_t h)
{
	size_t i = h & (t->cap - 1);

	while (t->slots[i].key && (t->slots[i].hash != h || strcmp(t->slots[i].key, key)))
		i = (i + 1) & (t->cap - 1);
	return &t->slots[i];
}

/*
 * Series FROM to FROM + N - 1 of the label set VALUES (T's labels, in
 * order) into OUT, made on first use; those of the reporter's overflow set
 * once T has its maximum. One observation: one call. An OUT entry is NULL
 * only when out of memory.
 */
static void series_for(struct istio_table *t, const char *const *values, size_t from, size_t n,
		       struct metric_series **out)
{
	const char *over[ISTIO_L_MAX];
	char key[KEY_MAX];
	size_t len = join(t, values, key), i;
	uint64_t h = hash_of(key, len);
	struct istio_set *set = NULL;

	pthread_mutex_lock(&t->lock);
	if (len) {
		set = slot_of(t, key, h);
		if (!set->key && t->used < t->max && (set->key = strdup(key))) {
			set->hash = h;
			metrics_set(t->sets, (int64_t)++t->used);
		} else if (!set->key) {
			set = NULL;
		}
	}
	if (!set) {
		int rep = strcmp(values[ISTIO_L_REPORTER], "source") ? 1 : 0;

		set = &t->overflow[rep];
		over[0] = values[ISTIO_L_REPORTER];
		for (i = 1; i < t->nlabels; i++)
			over[i] = "overflow";
		values = over;
		metrics_inc(t->overflowed);
	}
	for (i = from; i < from + n; i++) {
		if (!set->s[i])
			set->s[i] = metrics_series(t->f[i], values);
		out[i - from] = set->s[i];
	}
	pthread_mutex_unlock(&t->lock);
}

/* PARTS (N) end to end into BUF (LEN), cut short as snprintf would: every
 * request's labels are made here, and printf's parsing showed in profiles. */
static void join_parts(char *buf, size_t len, const char *const *parts, size_t n)
{
	size_t at = 0, i, l;

	for (i = 0; i < n && at + 1 < len; i++) {
		l = strlen(parts[i]);
		if (l > len - 1 - at)
			l = len - 1 - at;
		memcpy(buf + at, parts[i], l);
		at += l;
	}
	buf[at] = 0;
}

/* A status code (0-999 from HTTP, 0-16 from gRPC) as text. */
static void code_text(char *buf, size_t len, int code)
{
	if (code < 0 || code > 999) {
		snprintf(buf, len, "%d", code);
		return;
	}
	if (code >= 100)
		*buf++ = (char)('0' + code / 100);
	if (code >= 10)
		*buf++ = (char)('0' + code / 10 % 10);
	*buf++ = (char)('0' + code % 10);
	*buf = 0;
}

/* Istio's principal: the workload's SPIFFE ID. */
static void principal(char *buf, size_t len, const char *td, const struct cfg_workload *w)
{
	const char *parts[] = {
	    "spiffe://", td ? td : "cluster.local",
	    "/ns/",	 w ? w->ns : "",
	    "/sa/",	 w && w->service_account ? w->service_account : "default"};

	if (!w)
		join_parts(buf, len, (const char *const[]){"unknown"}, 1);
	else
		join_parts(buf, len, parts, sizeof(parts) / sizeof(parts[0]));
}

const char *istio_reporter_label(enum istio_reporter r)
{
	return r == ISTIO_SOURCE ? "source" : "destination";
}

void istio_peer_labels(const struct istio_peers *p, struct istio_peer_labels *out)
{
	const struct cfg_service *svc = p->service;

	out->reporter = istio_reporter_label(p->reporter);
	out->src_workload = p->src ? p->src->name : "unknown";
	out->src_ns = p->src ? p->src->ns : "unknown";
	if (p->src_principal && *p->src_principal)
		join_parts(out->src_principal, sizeof(out->src_principal), &p->src_principal, 1);
	else
		principal(out->src_principal, sizeof(out->src_principal), p->trust_domain, p->src);
	out->dst_workload = p->dst ? p->dst->name : "unknown";
	out->dst_ns = p->dst ? p->dst->ns : "unknown";
	principal(out->dst_principal, sizeof(out->dst_principal), p->trust_domain, p->dst);
	if (svc)
		join_parts(out->service, sizeof(out->service),
			   (const char *const[]){svc->name, ".", svc->ns, ".svc.cluster.local"}, 4);
	else
		join_parts(out->service, sizeof(out->service), (const char *const[]){"unknown"}, 1);
	out->service_name = svc ? svc->name : "unknown";
	out->service_ns = svc ? svc->ns : "unknown";
	/* Istio: "unknown" from the source, which cannot see the server's policy. */
	out->security = p->reporter == ISTIO_SOURCE ? "unknown" : p->mtls ? "mutual_tls" : "none";
}

static void peers_values(const struct istio_peers *p, struct istio_values *iv)
{
	const struct istio_peer_labels *pl = &iv->pl;

	istio_peer_labels(p, &iv->pl);
	iv->v[ISTIO_L_REPORTER] = pl->reporter;
	iv->v[ISTIO_L_SRC_WORKLOAD] = pl->src_workload;
	iv->v[ISTIO_L_SRC_NS] = pl->src_ns;
	iv->v[ISTIO_L_SRC_PRINCIPAL] = pl->src_principal;
	iv->v[ISTIO_L_DST_WORKLOAD] = pl->dst_workload;
	iv->v[ISTIO_L_DST_NS] = pl->dst_ns;
	iv->v[ISTIO_L_DST_PRINCIPAL] = pl->dst_principal;
	iv->v[ISTIO_L_DST_SERVICE] = pl->service;
	iv->v[ISTIO_L_DST_SERVICE_NAME] = pl->service_name;
	iv->v[ISTIO_L_DST_SERVICE_NS] = pl->service_ns;
	iv->v[ISTIO_L_SECURITY] = pl->security;
}

/* T's values (TCP leaves two out) from IV. */
static void pick(const struct istio_table *t, const struct istio_values *iv, const char **out)
{
	size_t i, n = 0;

	for (i = 0; i < ISTIO_L_MAX; i++)
		if (t->nlabels == ISTIO_L_MAX || (i != ISTIO_L_CODE && i != ISTIO_L_GRPC))
			out[n++] = iv->v[i];
}

void istio_request(struct istio_metrics *m, const struct istio_http *h)
{
	struct istio_table *t = &m->t[KIND_HTTP];
	struct metric_series *s[NSERIES];
	struct istio_values iv;
	const char *v[ISTIO_L_MAX];

	peers_values(&h->p, &iv);
	iv.v[ISTIO_L_PROTOCOL] = h->grpc ? "grpc" : "http";
	code_text(iv.code, sizeof(iv.code), h->status > 0 ? h->status : 0);
	iv.v[ISTIO_L_CODE] = iv.code;
	/* Istio: present on gRPC requests only (an empty value is no label). */
	if (h->grpc && h->grpc_status >= 0)
		code_text(iv.grpc, sizeof(iv.grpc), h->grpc_status);
	else
		iv.grpc[0] = 0;
	iv.v[ISTIO_L_GRPC] = iv.grpc;
	iv.v[ISTIO_L_FLAGS] = istio_response_flags(h->outcome);
	pick(t, &iv, v);
	series_for(t, v, 0, 4, s);
	metrics_inc(s[0]);
	metrics_observe(s[1], h->duration_ms);
	metrics_observe(s[2], (double)h->request_bytes);
	metrics_observe(s[3], (double)h->response_bytes);
}

void istio_tcp_opened(struct istio_metrics *m, const struct istio_peers *p)
{
	struct istio_table *t = &m->t[KIND_TCP];
	struct metric_series *s[NSERIES];
	struct istio_values iv;
	const char *v[ISTIO_L_MAX];

	peers_values(p, &iv);
	iv.v[ISTIO_L_PROTOCOL] = "tcp";
	iv.v[ISTIO_L_FLAGS] = "-";
	pick(t, &iv, v);
	series_for(t, v, 0, 1, s);
	metrics_inc(s[0]);
}

void istio_tcp_closed(struct istio_metrics *m, const struct istio_peers *p, enum shunt_outcome o,
		      uint64_t sent, uint64_t received)
{
	struct istio_table *t = &m->t[KIND_TCP];
	struct metric_series *s[NSERIES];
	struct istio_values iv;
	const char *v[ISTIO_L_MAX];

	peers_values(p, &iv);
	iv.v[ISTIO_L_PROTOCOL] = "tcp";
	iv.v[ISTIO_L_FLAGS] = istio_response_flags(o);
	pick(t, &iv, v);
	series_for(t, v, 1, 3, s);
	metrics_inc(s[0]);
	metrics_add(s[1], (int64_t)sent);
	metrics_add(s[2], (int64_t)received);
}

/*
 * Envoy's response flags (its access log's %RESPONSE_FLAGS%) for the
 * outcomes that have one; the rest, an endpoint's own answer included,
 * are "-". docs/telemetry.md has the table.
 */
const char *istio_response_flags(enum shunt_outcome o)
{
	switch (o) {
	case SHUNT_OUT_L7_NO_ROUTE:
	case SHUNT_OUT_UNKNOWN_ROUTE:
		return "NR"; /* no route */
	case SHUNT_OUT_L7_NO_ENDPOINT:
	case SHUNT_OUT_NO_BACKEND:
		return "UH"; /* no healthy upstream */
	case SHUNT_OUT_L7_BACKEND_NOT_RESOLVED:
		return "NC"; /* no cluster found */
	case SHUNT_OUT_L7_CONNECT_FAILED:
	case SHUNT_OUT_PEER_UNREACHABLE:
	case SHUNT_OUT_PEER_REFUSED:
	case SHUNT_OUT_UPSTREAM_REFUSED:
	case SHUNT_OUT_CONNECT_FAILED:
	case SHUNT_OUT_NO_CERTIFICATE:
	case SHUNT_OUT_STREAM_FAILED:
		return "UF"; /* upstream connection failure */
	case SHUNT_OUT_L7_UPSTREAM_RESET:
		return "UC"; /* upstream connection termination */
	case SHUNT_OUT_L7_BAD_RESPONSE:
		return "UPE"; /* upstream protocol error */
	case SHUNT_OUT_L7_TRY_TIMEOUT:
	case SHUNT_OUT_L7_REQUEST_TIMEOUT:
		return "UT"; /* upstream request timeout */
	case SHUNT_OUT_L7_OVERFLOW_REQUESTS:
	case SHUNT_OUT_L7_OVERFLOW_PENDING:
		return "UO"; /* upstream overflow (circuit breaking) */
	case SHUNT_OUT_L7_RATE_LIMITED:
		return "RL"; /* rate limited */
	case SHUNT_OUT_L7_FAULT_ABORT:
		return "FI"; /* fault injected */
	case SHUNT_OUT_L7_BAD_REQUEST:
	case SHUNT_OUT_L7_HEADERS_TOO_LARGE:
		return "DPE"; /* downstream protocol error */
	case SHUNT_OUT_RESET:
		return "DC"; /* downstream connection termination */
	case SHUNT_OUT_IDLE_TIMEOUT:
		return "SI"; /* stream idle timeout */
	case SHUNT_OUT_TUNNEL_GONE:
	case SHUNT_OUT_PEER_RESET:
	case SHUNT_OUT_SEND_FAILED:
		return "UR"; /* upstream remote reset */
	default:
		return "-";
	}
}
