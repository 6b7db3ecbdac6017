// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * istio_tcp_* of the kernel path (datapath_istio.h). A pair of shunt_pairs
 * is (client workload id, server workload id); shunt_workload_names turns
 * the ids into "namespace/name", and the applied config into a principal.
 * Each pair gives one series per family and reporter: the agent sees both
 * ends, so it reports as "source" and as "destination", as the node proxy
 * of each end does for a connection across nodes.
 */
#include "datapath_istio.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/istio_labels.h"
#include "model/mesh_config.h"

/* A workload of the applied config, as the labels name it. */
struct di_workload {
	char *ref;	 /* "namespace/name", as shunt_workload_names has it */
	char *ns, *name; /* the two halves */
	char *principal; /* spiffe://TD/ns/NS/sa/SA */
};

struct datapath_istio {
	datapath_pairs_each_fn each;
	pthread_mutex_t lock;  /* over v and n: the collector runs on a push thread too */
	struct di_workload *v; /* sorted by ref */
	size_t n;
};

enum { F_OPENED, F_CLOSED, F_SENT, F_RECEIVED, F_MAX };

/* Names and help as the proxy's, so that one query reads both. */
static const char *const family_name[F_MAX] = {
    "istio_tcp_connections_opened_total", "istio_tcp_connections_closed_total",
    "istio_tcp_sent_bytes_total", "istio_tcp_received_bytes_total"};
static const char *const family_help[F_MAX] = {
    "TCP connections opened (Istio standard metric).", "TCP connections closed.",
    "Bytes sent towards the client (responses).", "Bytes received from the client (requests)."};

struct datapath_istio *datapath_istio_new(datapath_pairs_each_fn each)
{
	struct datapath_istio *di = calloc(1, sizeof(*di));

	if (!di)
		return NULL;
	di->each = each ? each : shunt_pairs_each;
	pthread_mutex_init(&di->lock, NULL);
	return di;
}

static void workloads_free(struct di_workload *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(v[i].ref);
		free(v[i].ns);
		free(v[i].name);
		free(v[i].principal);
	}
	free(v);
}

void datapath_istio_free(struct datapath_istio *di)
{
	if (!di)
		return;
	workloads_free(di->v, di->n);
	pthread_mutex_destroy(&di->lock);
	free(di);
}

static int by_ref(const void *a, const void *b)
{
	return strcmp(((const struct di_workload *)a)->ref, ((const struct di_workload *)b)->ref);
}

/* FMT with up to three strings, allocated; NULL on ENOMEM. */
static char *joined(const char *fmt, const char *a, const char *b, const char *c)
{
	char *s;

	return asprintf(&s, fmt, a, b, c) < 0 ? NULL : s;
}

int datapath_istio_learn(struct datapath_istio *di, const struct mesh_config *cfg)
{
	const char *td = cfg->trust_domain ? cfg->trust_domain : "cluster.local";
	struct di_workload *v, *old;
	size_t i, n = cfg->nworkloads, oldn;

	v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		const struct cfg_workload *w = &cfg->workloads[i];
		const char *sa = w->service_account ? w->service_account : "default";

		v[i].ref = joined("%s/%s", w->ns, w->name, NULL);
		v[i].principal = joined("spiffe://%s/ns/%s/sa/%s", td, w->ns, sa);
		v[i].ns = strdup(w->ns);
		v[i].name = strdup(w->name);
		if (!v[i].ref || !v[i].principal || !v[i].ns || !v[i].name) {
			workloads_free(v, i + 1);
			return -ENOMEM;
		}
	}
	qsort(v, n, sizeof(*v), by_ref);
	pthread_mutex_lock(&di->lock);
	old = di->v;
	oldn = di->n;
	di->v = v;
	di->n = n;
	pthread_mutex_unlock(&di->lock);
	workloads_free(old, oldn);
	return 0;
}

/* One pair whose two workloads the config names. */
struct di_row {
	const struct di_workload *client, *server;
	struct shunt_pair val;
};

struct di_rows {
	const struct datapath_istio *di;
	struct di_row *v;
	size_t n, cap;
};

static const struct di_workload *find(const struct datapath_istio *di, const char *ref)
{
	struct di_workload key = {.ref = (char *)ref};

	return di->n ? bsearch(&key, di->v, di->n, sizeof(key), by_ref) : NULL;
}

static void on_pair(const char *client, const char *server, const struct shunt_pair *val, void *ctx)
{
	struct di_rows *r = ctx;
	struct di_row row = {.client = find(r->di, client), .server = find(r->di, server)};

	/* A workload gone from the config (or "#ID", its name gone): its
	 * series go with it rather than carry a name nobody knows. */
	if (!row.client || !row.server)
		return;
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 64;
		struct di_row *v = realloc(r->v, cap * sizeof(*v));

		if (!v)
			return; /* the scrape leaves the rest out; the next one retries */
		r->v = v;
		r->cap = cap;
	}
	row.val = *val;
	r->v[r->n++] = row;
}

static __u64 family_value(int f, const struct shunt_pair *p)
{
	switch (f) {
	case F_OPENED:
		return p->opened;
	case F_CLOSED:
		return p->closed;
	case F_SENT: /* towards the client: the server's sends */
		return p->server_bytes_bypass + p->server_bytes_tcp;
	default: /* from the client */
		return p->client_bytes_bypass + p->client_bytes_tcp;
	}
}

/*
 * One series. destination_service is "unknown": the pair is between two
 * workloads, and the kernel does not keep which service address (if any)
 * the client dialled. The connection never left the node and carried no
 * TLS: "none" for the destination, which Istio gives to a plaintext
 * connection; "unknown" for the source, Istio's rule (docs/telemetry.md).
 */
static void emit_row(struct metrics_writer *w, int f, bool source, const struct di_row *row)
{
	const char *labels[ISTIO_L_MAX + 1];
	const char *values[] = {source ? "source" : "destination",
				row->client->name,
				row->client->ns,
				row->client->principal,
				row->server->name,
				row->server->ns,
				row->server->principal,
				"unknown",
				"unknown",
				"unknown",
				"tcp",
				"-",
				source ? "unknown" : "none"};

	istio_labels_of(1, labels);
	metrics_emit(w, METRIC_COUNTER, family_name[f], family_help[f], labels, values,
		     (double)family_value(f, &row->val));
}

void datapath_istio_collect(struct metrics_writer *w, const struct shunt_pins *pins,
			    struct datapath_istio *di)
{
	struct di_rows rows = {.di = di};
	size_t i;
	int f;

	pthread_mutex_lock(&di->lock);
	if (di->n && !di->each(pins, on_pair, &rows)) {
		/* Family by family: a family's samples must be consecutive. */
		for (f = 0; f < F_MAX; f++)
			for (i = 0; i < 2 * rows.n; i++)
				emit_row(w, f, i < rows.n, &rows.v[i % rows.n]);
	}
	pthread_mutex_unlock(&di->lock);
	free(rows.v);
}
