/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A metrics registry the agent and the proxy register into, and the one
 * Prometheus text renderer (exposition format 0.0.4).
 *
 * Families (a name, help, type and label names) hold series (one set of label
 * values each). Series are made at set-up or on first use; observing one is a
 * relaxed atomic add on the calling thread's shard, so workers never share a
 * cache line or a lock. A scrape sums the shards.
 *
 * Values the registry does not own (BPF map counters, the config version)
 * come from collectors: callbacks that emit samples through the same
 * renderer at scrape time.
 */
#ifndef SHUNT_METRICS_H
#define SHUNT_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define METRICS_MAX_LABELS  16
#define METRICS_MAX_BUCKETS 24

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct metrics_registry;
struct metric_family;
struct metric_series;

/*
 * One sample, as every consumer of the registry sees it (the Prometheus
 * text, the push exporters). Strings live until the visit callback returns.
 */
struct metric_sample {
	enum metric_type type;
	const char *name, *help;
	const char *const *labels; /* NLABELS label names */
	const char *const *values; /* and their values */
	size_t nlabels;
	double value; /* counters and gauges; a histogram's count */
	/* Histograms: the sum, and NBOUNDS + 1 cumulative bucket counts (the
	 * last is +Inf, equal to the count). */
	double sum;
	const double *bounds;
	const uint64_t *buckets;
	size_t nbounds;
};

/* What metrics_visit() calls: FAMILY (optional) once before the samples of
 * each family, also one without samples; SAMPLE for each sample. */
struct metrics_visitor {
	void (*family)(void *ctx, enum metric_type type, const char *name, const char *help);
	void (*sample)(void *ctx, const struct metric_sample *s);
	void *ctx;
};

/* What a collector writes through; see metrics_emit(). */
struct metrics_writer {
	const struct metrics_visitor *v;
	char last[128]; /* the name whose family was announced last */
};

typedef void (*metrics_collect_fn)(struct metrics_writer *w, void *ctx);

/* SHARDS: how many threads observe at once without sharing (0: 8). NULL on ENOMEM. */
struct metrics_registry *metrics_registry_new(unsigned int shards);
void metrics_registry_free(struct metrics_registry *r);

/*
 * A family; LABELS is a NULL-terminated list of label names (NULL: none).
 * BOUNDS/NBOUNDS: a histogram's bucket upper bounds, ascending (+Inf is
 * implied). Registering the same name twice returns the first family if the
 * type and labels agree, else NULL (errno EEXIST); a name that Prometheus
 * would refuse gives NULL (errno EINVAL).
 */
struct metric_family *metrics_family(struct metrics_registry *r, enum metric_type type,
				     const char *name, const char *help, const char *const *labels,
				     const double *bounds, size_t nbounds);
/* The series for VALUES (one per label name, in order); made on first use. NULL on ENOMEM. */
struct metric_series *metrics_series(struct metric_family *f, const char *const *values);

/* Counters and gauges: add V (gauges may go down: V < 0 on a gauge). */
void metrics_add(struct metric_series *s, int64_t v);
static inline void metrics_inc(struct metric_series *s)
{
	metrics_add(s, 1);
}
/* Gauges only: the value becomes V (shards folded into one). */
void metrics_set(struct metric_series *s, int64_t v);
/* Histograms: one observation of V. */
void metrics_observe(struct metric_series *s, double v);
/* The sum over shards (counters, gauges) or the count (histograms). */
int64_t metrics_value(const struct metric_series *s);

/* Calls FN at every render, after the registry's own families. */
int metrics_collector(struct metrics_registry *r, metrics_collect_fn fn, void *ctx);

/*
 * For collectors: one sample of NAME with LABELS/VALUES (NULL-terminated
 * names, values in order). TYPE and HELP are written before the first
 * sample of a name (pass the same for every sample of it, consecutively).
 */
void metrics_emit(struct metrics_writer *w, enum metric_type type, const char *name,
		  const char *help, const char *const *labels, const char *const *values,
		  double value);

/*
 * Every sample of the registry, then of its collectors, to V. Collectors run
 * on the calling thread: a scrape and a push may run them at the same time,
 * so what they read must be safe to read from any thread.
 */
void metrics_visit(struct metrics_registry *r, const struct metrics_visitor *v);

/* The whole registry as Prometheus text (a visitor of the above). */
void metrics_render(struct metrics_registry *r, FILE *out);

#endif
