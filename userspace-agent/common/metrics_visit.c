// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Walks the registry and its collectors sample by sample: what the
 * Prometheus text and the push exporters are both built on. */
#include "metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "metrics_impl.h"

static void visit_series(const struct metric_family *f, const struct metric_series *s,
			 const struct metrics_visitor *v)
{
	uint64_t buckets[METRICS_MAX_BUCKETS + 1], cumulative = 0;
	struct metric_sample m = {
	    .type = f->type,
	    .name = f->name,
	    .help = f->help,
	    .labels = (const char *const *)f->labels,
	    .values = (const char *const *)s->values,
	    .nlabels = f->nlabels,
	};
	size_t b;

	if (f->type != METRIC_HISTOGRAM) {
		m.value = (double)(int64_t)metrics_cell_sum(s, 0);
	} else {
		for (b = 0; b <= f->nbounds; b++) {
			cumulative += metrics_cell_sum(s, b);
			buckets[b] = cumulative;
		}
		m.value = (double)cumulative;
		m.sum = metrics_histogram_sum(s);
		m.bounds = f->bounds;
		m.buckets = buckets;
		m.nbounds = f->nbounds;
	}
	v->sample(v->ctx, &m);
}

void metrics_visit(struct metrics_registry *r, const struct metrics_visitor *v)
{
	struct metrics_writer w = {.v = v};
	struct metrics_collector_slot collectors[METRICS_MAX_COLLECTORS];
	const struct metric_family *f;
	const struct metric_series *s;
	size_t i, n;

	pthread_mutex_lock(&r->lock);
	for (f = r->families; f; f = f->next) {
		if (v->family)
			v->family(v->ctx, f->type, f->name, f->help);
		for (s = atomic_load(&f->series); s; s = s->next)
			visit_series(f, s, v);
	}
	n = r->ncollectors;
	memcpy(collectors, r->collectors, n * sizeof(collectors[0]));
	pthread_mutex_unlock(&r->lock);
	/* Unlocked: a collector may register series. */
	for (i = 0; i < n; i++)
		collectors[i].fn(&w, collectors[i].ctx);
}

void metrics_emit(struct metrics_writer *w, enum metric_type type, const char *name,
		  const char *help, const char *const *labels, const char *const *values,
		  double value)
{
	struct metric_sample m = {
	    .type = type,
	    .name = name,
	    .help = help,
	    .labels = labels,
	    .values = values,
	    .value = value,
	};

	if (strcmp(w->last, name)) {
		if (w->v->family)
			w->v->family(w->v->ctx, type, name, help);
		snprintf(w->last, sizeof(w->last), "%s", name);
	}
	while (labels && labels[m.nlabels])
		m.nlabels++;
	w->v->sample(w->v->ctx, &m);
}
