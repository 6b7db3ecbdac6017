/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The registry's insides, shared by metrics.c and its renderer only. */
#ifndef SHUNT_METRICS_IMPL_H
#define SHUNT_METRICS_IMPL_H

#include <pthread.h>
#include <stdatomic.h>

#include "metrics.h"

#define CACHE_LINE 64

#define METRICS_MAX_COLLECTORS 8

struct metric_series {
	struct metric_series *next;
	struct metric_family *family;
	char *values[METRICS_MAX_LABELS];
	/* shards x stride bytes: counters use cell 0; histograms one cell per
	 * bucket, +Inf, then the sum (a double's bits). */
	_Atomic uint64_t *cells;
	size_t stride; /* cells per shard, rounded up to a cache line */
};

struct metric_family {
	struct metric_family *next;
	struct metrics_registry *registry;
	enum metric_type type;
	char *name, *help;
	char *labels[METRICS_MAX_LABELS];
	size_t nlabels;
	double bounds[METRICS_MAX_BUCKETS];
	size_t nbounds;
	struct metric_series *_Atomic series;
};

struct metrics_collector_slot {
	metrics_collect_fn fn;
	void *ctx;
};

struct metrics_registry {
	pthread_mutex_t lock; /* registration and render; never observation */
	unsigned int shards;
	atomic_uint next_shard;
	struct metric_family *families, **tail;
	struct metrics_collector_slot collectors[METRICS_MAX_COLLECTORS];
	size_t ncollectors;
};

/* Cell I of S summed over the shards; a histogram's sum. */
uint64_t metrics_cell_sum(const struct metric_series *s, size_t i);
double metrics_histogram_sum(const struct metric_series *s);

#endif
