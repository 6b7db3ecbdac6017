// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The StatsD encoder: counters as the delta since the last push (|c), gauges
 * as their value (|g), histograms as timers (|ms, one sample per bucket that
 * grew, with a sample rate of 1/its growth so that StatsD counts each
 * observation) or as FAMILY.count / FAMILY.sum counters. Labels become
 * DogStatsD tags, or are folded into the name (docs/telemetry.md).
 */
#include "push_impl.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the last push sent of one series. */
struct series_state {
	uint64_t key; /* 0: a free slot */
	uint32_t gen; /* the push that saw it last */
	double last;  /* counters: the value; histograms: the sum */
	uint64_t buckets[METRICS_MAX_BUCKETS + 1];
};

struct statsd_enc {
	const struct push_target *t;
	const char *node;
	statsd_send_fn send;
	void *ctx;
	struct series_state *table;
	size_t cap, n; /* slots (a power of two), used */
	size_t seen;   /* series seen in this push */
	uint32_t gen;
	bool prime;
	char packet[65536];
	size_t plen;
	struct statsd_stats stats;
};

#define LINE_MAX_BYTES 2048

struct statsd_enc *statsd_enc_new(const struct push_target *t, const char *node,
				  statsd_send_fn send, void *ctx)
{
	struct statsd_enc *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	*e = (struct statsd_enc){.t = t, .node = node, .send = send, .ctx = ctx, .cap = 256};
	if (!(e->table = calloc(e->cap, sizeof(*e->table)))) {
		free(e);
		return NULL;
	}
	return e;
}

void statsd_enc_free(struct statsd_enc *e)
{
	if (!e)
		return;
	free(e->table);
	free(e);
}

const struct statsd_stats *statsd_stats(const struct statsd_enc *e)
{
	return &e->stats;
}

static char safe_char(char c, bool dots)
{
	bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		  c == '_' || c == '-' || (dots && c == '.');

	return ok ? c : '_';
}

size_t statsd_sanitize(char *out, size_t size, const char *name, bool dots)
{
	size_t n = 0;

	for (; *name && n + 1 < size; name++)
		out[n++] = safe_char(*name, dots);
	if (size)
		out[n] = 0;
	return n;
}

/* A bounded string: what does not fit is cut, and FULL says so. */
struct sbuf {
	char *p;
	size_t size, len;
	bool full;
};

enum sb_how { SB_RAW, SB_SAFE, SB_SAFE_DOTS };

static void sb_put(struct sbuf *b, const char *s, enum sb_how how)
{
	for (; *s; s++) {
		if (b->len + 1 >= b->size) {
			b->full = true;
			break;
		}
		b->p[b->len++] = how == SB_RAW ? *s : safe_char(*s, how == SB_SAFE_DOTS);
	}
	b->p[b->len] = 0;
}

/* FNV-1a over the name and every label; 0 is kept for free slots. */
static uint64_t series_key(const struct metric_sample *m)
{
	uint64_t h = 14695981039346656037ull;
	const char *parts[1 + 2 * METRICS_MAX_LABELS];
	size_t i, n = 0;

	parts[n++] = m->name;
	for (i = 0; i < m->nlabels && i < METRICS_MAX_LABELS; i++) {
		parts[n++] = m->labels[i];
		parts[n++] = m->values[i];
	}
	for (i = 0; i < n; i++) {
		const unsigned char *p = (const unsigned char *)parts[i];

		do {
			h = (h ^ *p) * 1099511628211ull;
		} while (*p++);
	}
	return h ? h : 1;
}

static struct series_state *slot_of(struct series_state *table, size_t cap, uint64_t key)
{
	size_t i = (size_t)key & (cap - 1);

	while (table[i].key && table[i].key != key)
		i = (i + 1) & (cap - 1);
	return &table[i];
}

/* The table again with only the series of generation GEN (or all), in CAP slots. */
static int rehash(struct statsd_enc *e, size_t cap, bool only_seen)
{
	struct series_state *t = calloc(cap, sizeof(*t));
	size_t i, n = 0;

	if (!t)
		return -ENOMEM;
	for (i = 0; i < e->cap; i++) {
		if (!e->table[i].key || (only_seen && e->table[i].gen != e->gen))
			continue;
		*slot_of(t, cap, e->table[i].key) = e->table[i];
		n++;
	}
	free(e->table);
	e->table = t;
	e->cap = cap;
	e->n = n;
	return 0;
}

/* The state of M's series, made (zeroed) if new; NULL when full. Series are
 * told apart by a 64-bit hash: two that collide (odds of n^2 / 2^65) would
 * share their deltas. */
static struct series_state *state_of(struct statsd_enc *e, const struct metric_sample *m)
{
	uint64_t key = series_key(m);
	struct series_state *s = slot_of(e->table, e->cap, key);

	if (s->key) {
		e->seen += s->gen != e->gen;
		s->gen = e->gen;
		return s;
	}
	if (e->n >= STATSD_MAX_SERIES)
		return NULL;
	if ((e->n + 1) * 2 > e->cap) {
		if (rehash(e, e->cap * 2, false))
			return NULL;
		s = slot_of(e->table, e->cap, key);
	}
	*s = (struct series_state){.key = key, .gen = e->gen};
	e->n++;
	e->seen++;
	return s;
}

void statsd_begin(struct statsd_enc *e, bool prime)
{
	e->gen++;
	e->prime = prime;
	e->plen = 0;
	e->seen = 0;
	e->stats = (struct statsd_stats){0};
}

static void flush_packet(struct statsd_enc *e)
{
	int err;

	if (!e->plen)
		return;
	err = e->send(e->ctx, e->packet, e->plen);
	if (err) {
		e->stats.send_errors++;
		e->stats.last_error = err;
	} else {
		e->stats.datagrams++;
		e->stats.bytes += e->plen;
	}
	e->plen = 0;
}

/* LINE into the datagram; false (nothing sent) over the push's bound. */
static bool put_line(struct statsd_enc *e, const char *line, size_t len)
{
	size_t packet = e->t->packet < sizeof(e->packet) ? e->t->packet : sizeof(e->packet);

	if (len + 1 > packet || e->stats.bytes + e->plen + len + 1 > e->t->max_bytes)
		return false;
	if (e->plen + len + 1 > packet)
		flush_packet(e);
	memcpy(e->packet + e->plen, line, len);
	e->plen += len;
	e->packet[e->plen++] = '\n';
	e->stats.lines++;
	return true;
}

/* NAME[SUFFIX] with the node and the labels folded in, or as tags in TAGS;
 * false when it does not fit. */
static bool series_name(const struct statsd_enc *e, const struct metric_sample *m,
			const char *suffix, char *name, size_t nsize, char *tags, size_t tsize)
{
	struct sbuf n = {.p = name, .size = nsize}, t = {.p = tags, .size = tsize};
	bool node = !push_has_label(m, "node");
	size_t i;

	name[0] = tags[0] = 0;
	if (e->t->prefix[0]) {
		sb_put(&n, e->t->prefix, SB_SAFE_DOTS);
		sb_put(&n, ".", SB_RAW);
	}
	sb_put(&n, m->name, SB_SAFE);
	sb_put(&n, suffix, SB_RAW);
	for (i = node ? 0 : 1; i <= m->nlabels; i++) {
		const char *k = i ? m->labels[i - 1] : "node", *v = i ? m->values[i - 1] : e->node;

		if (e->t->tags) {
			sb_put(&t, t.len ? "," : "|#", SB_RAW);
			sb_put(&t, k, SB_SAFE);
			sb_put(&t, ":", SB_RAW);
			sb_put(&t, v, SB_SAFE_DOTS);
		} else {
			sb_put(&n, ".", SB_RAW);
			sb_put(&n, k, SB_SAFE);
			sb_put(&n, "_", SB_RAW);
			sb_put(&n, v, SB_SAFE);
		}
	}
	return !n.full && !t.full;
}

/* NAME:VALUE|TYPE[|@RATE][|#tags] into the datagram. */
static bool put_metric(struct statsd_enc *e, const struct metric_sample *m, const char *suffix,
		       double v, const char *type, double rate)
{
	char name[LINE_MAX_BYTES / 2], tags[LINE_MAX_BYTES / 2], num[32], rs[32] = "";
	char line[LINE_MAX_BYTES + 64];
	int len;

	if (!series_name(e, m, suffix, name, sizeof(name), tags, sizeof(tags)))
		return false;
	push_number(num, sizeof(num), v);
	if (rate < 1)
		snprintf(rs, sizeof(rs), "|@%.9g", rate);
	len = snprintf(line, sizeof(line), "%s:%s|%s%s%s", name, num, type, rs, tags);
	if (len < 0 || (size_t)len >= sizeof(line))
		return false;
	/* "-5|g" would be a decrement: a negative gauge is set to 0 first. */
	if (!strcmp(type, "g") && v < 0) {
		char zero[LINE_MAX_BYTES + 64];
		int zlen = snprintf(zero, sizeof(zero), "%s:0|g%s", name, tags);

		if (zlen < 0 || (size_t)zlen >= sizeof(zero) || !put_line(e, zero, (size_t)zlen))
			return false;
	}
	return put_line(e, line, (size_t)len);
}

static void put_counter(struct statsd_enc *e, const struct metric_sample *m)
{
	struct series_state *s = state_of(e, m);
	double delta;

	if (!s) {
		e->stats.dropped++;
		return;
	}
	if (e->prime) {
		s->last = m->value;
		return;
	}
	/* A new series counts from zero; a value that went down was reset. */
	delta = m->value >= s->last ? m->value - s->last : m->value;
	if (delta == 0)
		return;
	if (put_metric(e, m, "", delta, "c", 1))
		s->last = m->value;
	else
		e->stats.dropped++; /* the delta stays for the next push */
}

/* What one observation in bucket B stands for, in the unit StatsD timers
 * use (milliseconds for a family in seconds). */
static double bucket_value(const struct metric_sample *m, size_t b, double dsum, double dcount)
{
	size_t len = strlen(m->name);
	double v;

	if (b < m->nbounds)
		v = m->bounds[b];
	else if (m->nbounds)
		v = m->bounds[m->nbounds - 1];
	else
		v = dcount > 0 ? dsum / dcount : 0;
	if (len > 8 && !strcmp(m->name + len - 8, "_seconds"))
		v *= 1000;
	return v;
}

static bool put_timers(struct statsd_enc *e, const struct metric_sample *m,
		       const struct series_state *s, double dcount, double dsum)
{
	uint64_t prev_below = 0, below = 0;
	bool ok = true;
	size_t b;

	for (b = 0; b <= m->nbounds; b++) {
		uint64_t now = m->buckets[b] - below, before = s->buckets[b] - prev_below;

		below = m->buckets[b];
		prev_below = s->buckets[b];
		if (now > before)
			ok &= put_metric(e, m, "", bucket_value(m, b, dsum, dcount), "ms",
					 1.0 / (double)(now - before));
	}
	return ok;
}

static void put_histogram(struct statsd_enc *e, const struct metric_sample *m)
{
	struct series_state *s = state_of(e, m);
	bool ok = true;
	double dcount, dsum;
	size_t b;

	if (!s) {
		e->stats.dropped++;
		return;
	}
	/* Reset (a count that went down): everything counts from zero. */
	if (m->buckets[m->nbounds] < s->buckets[m->nbounds]) {
		memset(s->buckets, 0, sizeof(s->buckets));
		s->last = 0;
	}
	dcount = (double)(m->buckets[m->nbounds] - s->buckets[m->nbounds]);
	dsum = m->sum - s->last;
	if (!e->prime && dcount > 0) {
		if (e->t->histograms == PUSH_HIST_TIMERS)
			ok = put_timers(e, m, s, dcount, dsum);
		else
			ok = put_metric(e, m, ".count", dcount, "c", 1) &&
			     put_metric(e, m, ".sum", dsum, "c", 1);
	}
	/* Sent or not, the state moves on: part of it may be out already. */
	if (!ok)
		e->stats.dropped++;
	for (b = 0; b <= m->nbounds; b++)
		s->buckets[b] = m->buckets[b];
	s->last = m->sum;
}

void statsd_sample(struct statsd_enc *e, const struct metric_sample *m)
{
	if (m->type == METRIC_COUNTER)
		put_counter(e, m);
	else if (m->type == METRIC_HISTOGRAM && m->buckets)
		put_histogram(e, m);
	else if (!e->prime && isfinite(m->value) && !put_metric(e, m, "", m->value, "g", 1))
		e->stats.dropped++;
}

void statsd_end(struct statsd_enc *e)
{
	flush_packet(e);
	/* Series gone from the registry (a workload removed) are forgotten; one
	 * that comes back counts from zero. */
	if (e->seen == e->n || rehash(e, e->cap, true))
		return;
	while (e->cap > 256 && e->n * 8 < e->cap)
		if (rehash(e, e->cap / 2, true))
			break;
}
