// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "metrics.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_impl.h"

/* Each thread keeps the shard it was given first (per registry would need
 * a table; threads observe one registry in practice, and any shard works). */
static _Thread_local int thread_shard = -1;

static unsigned int shard_of(struct metrics_registry *r)
{
	if (thread_shard < 0)
		thread_shard = (int)atomic_fetch_add(&r->next_shard, 1);
	return (unsigned int)thread_shard % r->shards;
}

struct metrics_registry *metrics_registry_new(unsigned int shards)
{
	struct metrics_registry *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	pthread_mutex_init(&r->lock, NULL);
	r->shards = shards ? shards : 8;
	r->tail = &r->families;
	return r;
}

static void series_free(struct metric_series *s)
{
	size_t i;

	for (i = 0; i < METRICS_MAX_LABELS; i++)
		free(s->values[i]);
	free(s->cells);
	free(s);
}

static void family_free(struct metric_family *f)
{
	struct metric_series *s = atomic_load(&f->series), *next;
	size_t i;

	for (; s; s = next) {
		next = s->next;
		series_free(s);
	}
	for (i = 0; i < f->nlabels; i++)
		free(f->labels[i]);
	free(f->name);
	free(f->help);
	free(f);
}

void metrics_registry_free(struct metrics_registry *r)
{
	struct metric_family *f, *next;

	if (!r)
		return;
	for (f = r->families; f; f = next) {
		next = f->next;
		family_free(f);
	}
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* (label names: no colon). */
static bool valid_name(const char *s, bool colon)
{
	size_t i;

	if (!s || !*s)
		return false;
	for (i = 0; s[i]; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
			  (colon && c == ':') || (i && c >= '0' && c <= '9');

		if (!ok)
			return false;
	}
	return true;
}

static bool same_shape(const struct metric_family *f, enum metric_type type,
		       const char *const *labels)
{
	size_t i;

	if (f->type != type)
		return false;
	for (i = 0; i < f->nlabels; i++)
		if (!labels || !labels[i] || strcmp(labels[i], f->labels[i]))
			return false;
	return !labels || !labels[f->nlabels];
}

static int family_init(struct metric_family *f, enum metric_type type, const char *name,
		       const char *help, const char *const *labels, const double *bounds,
		       size_t nbounds)
{
	size_t i;

	f->type = type;
	f->name = strdup(name);
	f->help = help ? strdup(help) : NULL;
	if (!f->name || (help && !f->help))
		return -ENOMEM;
	for (i = 0; labels && labels[i]; i++) {
		if (i == METRICS_MAX_LABELS || !valid_name(labels[i], false) ||
		    !strncmp(labels[i], "__", 2) || !strcmp(labels[i], "le"))
			return -EINVAL;
		if (!(f->labels[i] = strdup(labels[i])))
			return -ENOMEM;
		f->nlabels = i + 1;
	}
	if (type == METRIC_HISTOGRAM) {
		if (nbounds > METRICS_MAX_BUCKETS)
			return -EINVAL;
		for (i = 0; i < nbounds; i++)
			if (!isfinite(bounds[i]) || (i && bounds[i] <= bounds[i - 1]))
				return -EINVAL;
		memcpy(f->bounds, bounds, nbounds * sizeof(*bounds));
		f->nbounds = nbounds;
	}
	return 0;
}

struct metric_family *metrics_family(struct metrics_registry *r, enum metric_type type,
				     const char *name, const char *help, const char *const *labels,
				     const double *bounds, size_t nbounds)
{
	struct metric_family *f;
	int err;

	if (!valid_name(name, true)) {
		errno = EINVAL;
		return NULL;
	}
	pthread_mutex_lock(&r->lock);
	for (f = r->families; f; f = f->next)
		if (!strcmp(f->name, name))
			break;
	if (f) {
		pthread_mutex_unlock(&r->lock);
		if (same_shape(f, type, labels))
			return f;
		errno = EEXIST;
		return NULL;
	}
	f = calloc(1, sizeof(*f));
	err = f ? family_init(f, type, name, help, labels, bounds, nbounds) : -ENOMEM;
	if (err) {
		if (f)
			family_free(f);
		pthread_mutex_unlock(&r->lock);
		errno = -err;
		return NULL;
	}
	f->registry = r;
	*r->tail = f;
	r->tail = &f->next;
	pthread_mutex_unlock(&r->lock);
	return f;
}

static bool series_has(const struct metric_series *s, const char *const *values)
{
	size_t i;

	for (i = 0; i < s->family->nlabels; i++)
		if (strcmp(s->values[i], values[i]))
			return false;
	return true;
}

static struct metric_series *series_new(struct metric_family *f, const char *const *values)
{
	size_t ncells = f->type == METRIC_HISTOGRAM ? f->nbounds + 2 : 1, i;
	size_t per_line = CACHE_LINE / sizeof(uint64_t);
	struct metric_series *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->family = f;
	s->stride = (ncells + per_line - 1) / per_line * per_line;
	s->cells = aligned_alloc(CACHE_LINE, f->registry->shards * s->stride * sizeof(uint64_t));
	if (!s->cells)
		goto fail;
	memset(s->cells, 0, f->registry->shards * s->stride * sizeof(uint64_t));
	for (i = 0; i < f->nlabels; i++)
		if (!(s->values[i] = strdup(values[i])))
			goto fail;
	return s;
fail:
	series_free(s);
	return NULL;
}

struct metric_series *metrics_series(struct metric_family *f, const char *const *values)
{
	struct metrics_registry *r = f->registry;
	struct metric_series *s;

	/* The list only grows, at its head: readers need no lock. */
	for (s = atomic_load(&f->series); s; s = s->next)
		if (series_has(s, values))
			return s;
	pthread_mutex_lock(&r->lock);
	for (s = atomic_load(&f->series); s; s = s->next)
		if (series_has(s, values))
			break;
	if (!s && (s = series_new(f, values))) {
		s->next = atomic_load(&f->series);
		atomic_store(&f->series, s);
	}
	pthread_mutex_unlock(&r->lock);
	return s;
}

static _Atomic uint64_t *cells_of(struct metric_series *s)
{
	return s->cells + shard_of(s->family->registry) * s->stride;
}

void metrics_add(struct metric_series *s, int64_t v)
{
	if (s)
		atomic_fetch_add_explicit(cells_of(s), (uint64_t)v, memory_order_relaxed);
}

void metrics_set(struct metric_series *s, int64_t v)
{
	unsigned int i;

	if (!s)
		return;
	for (i = 1; i < s->family->registry->shards; i++)
		atomic_store_explicit(&s->cells[i * s->stride], 0, memory_order_relaxed);
	atomic_store_explicit(&s->cells[0], (uint64_t)v, memory_order_relaxed);
}

static double bits_to_double(uint64_t bits)
{
	double d;

	memcpy(&d, &bits, sizeof(d));
	return d;
}

static uint64_t double_to_bits(double d)
{
	uint64_t bits;

	memcpy(&bits, &d, sizeof(bits));
	return bits;
}

void metrics_observe(struct metric_series *s, double v)
{
	_Atomic uint64_t *c;
	uint64_t old;
	size_t b = 0;

	if (!s || s->family->type != METRIC_HISTOGRAM)
		return;
	c = cells_of(s);
	while (b < s->family->nbounds && v > s->family->bounds[b])
		b++;
	atomic_fetch_add_explicit(&c[b], 1, memory_order_relaxed);
	/* The sum: only this thread writes its shard, but a render reads it. */
	old = atomic_load_explicit(&c[s->family->nbounds + 1], memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(&c[s->family->nbounds + 1], &old,
						      double_to_bits(bits_to_double(old) + v),
						      memory_order_relaxed, memory_order_relaxed))
		;
}

uint64_t metrics_cell_sum(const struct metric_series *s, size_t i)
{
	uint64_t sum = 0;
	unsigned int k;

	for (k = 0; k < s->family->registry->shards; k++)
		sum += atomic_load_explicit(&s->cells[k * s->stride + i], memory_order_relaxed);
	return sum;
}

double metrics_histogram_sum(const struct metric_series *s)
{
	double sum = 0;
	unsigned int k;

	for (k = 0; k < s->family->registry->shards; k++)
		sum += bits_to_double(atomic_load_explicit(
		    &s->cells[k * s->stride + s->family->nbounds + 1], memory_order_relaxed));
	return sum;
}

int64_t metrics_value(const struct metric_series *s)
{
	int64_t n = 0;
	size_t b;

	if (s->family->type != METRIC_HISTOGRAM)
		return (int64_t)metrics_cell_sum(s, 0);
	for (b = 0; b <= s->family->nbounds; b++)
		n += (int64_t)metrics_cell_sum(s, b);
	return n;
}

int metrics_collector(struct metrics_registry *r, metrics_collect_fn fn, void *ctx)
{
	int err = 0;

	pthread_mutex_lock(&r->lock);
	if (r->ncollectors == METRICS_MAX_COLLECTORS)
		err = -ENOSPC;
	else
		r->collectors[r->ncollectors++] = (struct metrics_collector_slot){fn, ctx};
	pthread_mutex_unlock(&r->lock);
	return err;
}
