// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The proxy's service graph edges: a fixed open-addressing table of at most
 * PROXY_EDGES_MAX entries under one mutex, held for one short update per
 * request or stream end, and while /graph/edges copies what it shows (the
 * JSON is written after, unlocked). An edge lives until the proxy ends; its
 * names, kind and first time never change. Each edge keeps its totals and a
 * ring of PROXY_EDGE_SLOTS slots for the recent window: about 8 KiB an
 * edge, 4 MiB when the table is full.
 */
#include "proxy_edges.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <linux/types.h>

#include "common/json.h"
#include "shunt_shared.h"

#define SLOTS (2 * PROXY_EDGES_MAX) /* a power of two, half full at most */

enum edge_kind { EDGE_L7, EDGE_TUNNEL };

/* What an edge carried, in total or in one slot. */
struct tally {
	uint64_t epoch; /* slots: now / PROXY_EDGE_SLOT_S when it was last written */
	uint64_t requests, errors, responses[6]; /* [0]: none, [1..5]: 1xx..5xx */
	uint64_t buckets[PROXY_EDGE_BUCKETS + 1];
	double sum_ms;
	uint64_t streams, failed, bytes_up, bytes_down;
};

struct edge {
	char src[SHUNT_NAME_MAX], dst[SHUNT_NAME_MAX];
	enum edge_kind kind;
	bool remote;
	time_t first, last;
	struct tally total, slot[PROXY_EDGE_SLOTS];
};

const double proxy_edge_bounds_ms[PROXY_EDGE_BUCKETS] = {
    0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct edge *table[SLOTS];
static size_t nedges;
static uint64_t dropped, unattributed;

static uint32_t edge_hash(const char *src, const char *dst, enum edge_kind kind, bool remote)
{
	uint32_t h = 2166136261u;
	const char *parts[2] = {src, dst};

	for (int i = 0; i < 2; i++) {
		for (const char *p = parts[i]; *p; p++)
			h = (h ^ (unsigned char)*p) * 16777619u;
		h = (h ^ 0xff) * 16777619u;
	}
	return (h ^ (uint32_t)(kind * 2 + remote)) * 16777619u;
}

/* The edge of (SRC, DST, KIND, REMOTE), added if new; NULL when full. Under lock. */
static struct edge *edge_get(const char *src, const char *dst, enum edge_kind kind, bool remote,
			     time_t now)
{
	uint32_t i = edge_hash(src, dst, kind, remote) & (SLOTS - 1);
	struct edge *e;

	for (; table[i]; i = (i + 1) & (SLOTS - 1)) {
		e = table[i];
		if (e->kind == kind && e->remote == remote && !strcmp(e->src, src) &&
		    !strcmp(e->dst, dst))
			return e;
	}
	if (nedges >= PROXY_EDGES_MAX || !(e = calloc(1, sizeof(*e))))
		return NULL;
	snprintf(e->src, sizeof(e->src), "%s", src);
	snprintf(e->dst, sizeof(e->dst), "%s", dst);
	e->kind = kind;
	e->remote = remote;
	e->first = now;
	table[i] = e;
	nedges++;
	return e;
}

/* The slot of NOW, emptied if it still holds an older round. */
static struct tally *slot_now(struct edge *e, time_t now)
{
	uint64_t epoch = (uint64_t)now / PROXY_EDGE_SLOT_S;
	struct tally *t = &e->slot[epoch % PROXY_EDGE_SLOTS];

	if (t->epoch != epoch) {
		memset(t, 0, sizeof(*t));
		t->epoch = epoch;
	}
	e->last = now;
	return t;
}

static void tally_request(struct tally *t, int status, double ms)
{
	int b = 0;

	t->requests++;
	t->responses[status >= 100 && status < 600 ? status / 100 : 0]++;
	if (status >= 500 || status < 100)
		t->errors++;
	while (b < PROXY_EDGE_BUCKETS && ms > proxy_edge_bounds_ms[b])
		b++;
	t->buckets[b]++;
	t->sum_ms += ms;
}

void proxy_edge_request(const char *src, const char *dst, bool remote, int status,
			uint64_t duration_us, time_t now)
{
	double ms = (double)duration_us / 1000.0;
	struct edge *e;

	pthread_mutex_lock(&lock);
	if (!dst || !src || !src[0]) {
		unattributed++;
	} else if ((e = edge_get(src, dst, EDGE_L7, remote, now))) {
		tally_request(&e->total, status, ms);
		tally_request(slot_now(e, now), status, ms);
	} else {
		dropped++;
	}
	pthread_mutex_unlock(&lock);
}

static void tally_stream(struct tally *t, bool failed, uint64_t up, uint64_t down)
{
	t->streams++;
	t->failed += failed;
	t->bytes_up += up;
	t->bytes_down += down;
}

void proxy_edge_stream(const char *src, const char *dst, bool failed, uint64_t up, uint64_t down,
		       time_t now)
{
	struct edge *e;

	pthread_mutex_lock(&lock);
	if (!src || !dst || !src[0] || !dst[0]) {
		unattributed++;
	} else if ((e = edge_get(src, dst, EDGE_TUNNEL, true, now))) {
		tally_stream(&e->total, failed, up, down);
		tally_stream(slot_now(e, now), failed, up, down);
	} else {
		dropped++;
	}
	pthread_mutex_unlock(&lock);
}

/* Into SUM: the slots of E that cover the last SINCE_S seconds before NOW. */
static void tally_window(const struct edge *e, unsigned int since_s, time_t now, struct tally *sum)
{
	uint64_t epoch = (uint64_t)now / PROXY_EDGE_SLOT_S;
	uint64_t n = (since_s + PROXY_EDGE_SLOT_S - 1) / PROXY_EDGE_SLOT_S;

	memset(sum, 0, sizeof(*sum));
	for (uint64_t k = 0; k < n && k <= epoch; k++) {
		const struct tally *t = &e->slot[(epoch - k) % PROXY_EDGE_SLOTS];

		if (t->epoch != epoch - k)
			continue;
		sum->requests += t->requests;
		sum->errors += t->errors;
		for (int i = 0; i < 6; i++)
			sum->responses[i] += t->responses[i];
		for (int i = 0; i <= PROXY_EDGE_BUCKETS; i++)
			sum->buckets[i] += t->buckets[i];
		sum->sum_ms += t->sum_ms;
		sum->streams += t->streams;
		sum->failed += t->failed;
		sum->bytes_up += t->bytes_up;
		sum->bytes_down += t->bytes_down;
	}
}

static void tally_json(struct shunt_json *j, enum edge_kind kind, const struct tally *t)
{
	static const char *const cls[6] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};

	if (kind == EDGE_TUNNEL) {
		json_kv_u64(j, "streams", t->streams);
		json_kv_u64(j, "failed", t->failed);
		json_kv_u64(j, "bytes_to_server", t->bytes_up);
		json_kv_u64(j, "bytes_to_client", t->bytes_down);
		return;
	}
	json_kv_u64(j, "requests", t->requests);
	json_kv_u64(j, "errors", t->errors);
	json_key(j, "responses");
	json_object_begin(j);
	for (int i = 0; i < 6; i++)
		json_kv_u64(j, cls[i], t->responses[i]);
	json_object_end(j);
	json_key(j, "duration_ms_sum");
	json_double(j, t->sum_ms);
	json_key(j, "duration_ms_buckets");
	json_array_begin(j);
	for (int i = 0; i <= PROXY_EDGE_BUCKETS; i++)
		json_u64(j, t->buckets[i]);
	json_array_end(j);
}

/* What /graph/edges shows of an edge: copied under the lock, written after. */
struct edge_view {
	const struct edge *e; /* names, kind, times: edges are never freed while served */
	time_t last;
	struct tally t;
};

static void edge_json(struct shunt_json *j, const struct edge_view *v)
{
	const struct edge *e = v->e;

	json_object_begin(j);
	json_kv_string(j, "source", e->src);
	json_kv_string(j, "destination", e->dst);
	json_kv_string(j, "path", e->kind == EDGE_L7 ? "l7" : "tunnel");
	json_kv_bool(j, "remote", e->remote);
	json_kv_u64(j, "first_seen", (uint64_t)e->first);
	json_kv_u64(j, "last_seen", (uint64_t)v->last);
	tally_json(j, e->kind, &v->t);
	json_object_end(j);
}

/* Into VIEWS (PROXY_EDGES_MAX): the edges' totals, or their window; the count. */
static size_t edges_copy(struct edge_view *views, unsigned int since_s, time_t now, uint64_t *drop,
			 uint64_t *unattr)
{
	size_t n = 0;

	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < SLOTS; i++) {
		struct edge_view *v = &views[n];

		if (!table[i])
			continue;
		v->e = table[i];
		v->last = table[i]->last;
		if (!since_s)
			v->t = table[i]->total;
		else
			tally_window(table[i], since_s, now, &v->t);
		if (!since_s || v->t.requests || v->t.streams) /* else: nothing in the window */
			n++;
	}
	*drop = dropped;
	*unattr = unattributed;
	pthread_mutex_unlock(&lock);
	return n;
}

void proxy_edges_json(FILE *out, const char *node, unsigned int since_s, time_t now)
{
	struct edge_view *views = calloc(PROXY_EDGES_MAX, sizeof(*views));
	uint64_t start = 0, drop = 0, unattr = 0;
	struct shunt_json j;
	size_t n = 0;

	if (since_s > PROXY_EDGE_WINDOW_S)
		since_s = PROXY_EDGE_WINDOW_S;
	if (since_s) /* the window really covered: whole slots */
		start = ((uint64_t)now / PROXY_EDGE_SLOT_S + 1 -
			 (since_s + PROXY_EDGE_SLOT_S - 1) / PROXY_EDGE_SLOT_S) *
			PROXY_EDGE_SLOT_S;
	if (views)
		n = edges_copy(views, since_s, now, &drop, &unattr);
	json_init(&j, out);
	json_object_begin(&j);
	json_kv_u64(&j, "version", 1);
	json_kv_string(&j, "node", node ? node : "");
	json_kv_u64(&j, "now", (uint64_t)now);
	json_kv_u64(&j, "window_start", start); /* 0: totals since the proxy started */
	json_kv_u64(&j, "dropped", drop);
	json_kv_u64(&j, "unattributed", unattr);
	json_key(&j, "bucket_bounds_ms");
	json_array_begin(&j);
	for (int i = 0; i < PROXY_EDGE_BUCKETS; i++)
		json_double(&j, proxy_edge_bounds_ms[i]);
	json_array_end(&j);
	json_key(&j, "edges");
	json_array_begin(&j);
	for (size_t i = 0; i < n; i++)
		edge_json(&j, &views[i]);
	json_array_end(&j);
	json_object_end(&j);
	fputc('\n', out);
	free(views);
}

uint64_t proxy_edges_dropped(void)
{
	uint64_t n;

	pthread_mutex_lock(&lock);
	n = dropped;
	pthread_mutex_unlock(&lock);
	return n;
}

void proxy_edges_reset(void)
{
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < SLOTS; i++) {
		free(table[i]);
		table[i] = NULL;
	}
	nedges = 0;
	dropped = unattributed = 0;
	pthread_mutex_unlock(&lock);
}
