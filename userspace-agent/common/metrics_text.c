// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The Prometheus text exposition format (0.0.4) for the registry and its
 * collectors: the one place that writes it. */
#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_impl.h"

static const char *type_name(enum metric_type t)
{
	return t == METRIC_COUNTER ? "counter" : t == METRIC_GAUGE ? "gauge" : "histogram";
}

/* Label values escape \, " and newline; HELP text \ and newline. */
static void put_escaped(FILE *out, const char *s, bool quotes)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", out);
		else if (*s == '\n')
			fputs("\\n", out);
		else if (quotes && *s == '"')
			fputs("\\\"", out);
		else
			fputc(*s, out);
	}
}

static void put_header(FILE *out, const char *name, const char *help, enum metric_type t)
{
	if (help) {
		fprintf(out, "# HELP %s ", name);
		put_escaped(out, help, false);
		fputc('\n', out);
	}
	fprintf(out, "# TYPE %s %s\n", name, type_name(t));
}

static void put_number(FILE *out, double v)
{
	if (isnan(v))
		fputs("NaN", out);
	else if (isinf(v))
		fputs(v > 0 ? "+Inf" : "-Inf", out);
	else if (v == (double)(long long)v && fabs(v) < 1e15)
		fprintf(out, "%lld", (long long)v);
	else {
		/* The shortest of 15 or 17 digits that reads back as V. */
		char buf[32];

		snprintf(buf, sizeof(buf), "%.15g", v);
		if (strtod(buf, NULL) != v)
			snprintf(buf, sizeof(buf), "%.17g", v);
		fputs(buf, out);
	}
}

/* NAME{labels[,le="LE"]} VALUE */
static void put_sample(FILE *out, const char *name, const char *suffix, char *const *labels,
		       char *const *values, size_t n, const char *le, double v)
{
	size_t i;

	fprintf(out, "%s%s", name, suffix);
	if (n || le) {
		fputc('{', out);
		for (i = 0; i < n; i++) {
			fprintf(out, "%s%s=\"", i ? "," : "", labels[i]);
			put_escaped(out, values[i], true);
			fputc('"', out);
		}
		if (le)
			fprintf(out, "%sle=\"%s\"", n ? "," : "", le);
		fputc('}', out);
	}
	fputc(' ', out);
	put_number(out, v);
	fputc('\n', out);
}

static void put_histogram(FILE *out, const struct metric_family *f, const struct metric_series *s)
{
	uint64_t cumulative = 0;
	char le[32];
	size_t b;

	for (b = 0; b <= f->nbounds; b++) {
		cumulative += metrics_cell_sum(s, b);
		if (b < f->nbounds)
			snprintf(le, sizeof(le), "%g", f->bounds[b]);
		else
			snprintf(le, sizeof(le), "+Inf");
		put_sample(out, f->name, "_bucket", f->labels, s->values, f->nlabels, le,
			   (double)cumulative);
	}
	put_sample(out, f->name, "_sum", f->labels, s->values, f->nlabels, NULL,
		   metrics_histogram_sum(s));
	put_sample(out, f->name, "_count", f->labels, s->values, f->nlabels, NULL,
		   (double)cumulative);
}

static void put_family(FILE *out, const struct metric_family *f)
{
	const struct metric_series *s = atomic_load(&f->series);

	put_header(out, f->name, f->help, f->type);
	for (; s; s = s->next) {
		if (f->type == METRIC_HISTOGRAM)
			put_histogram(out, f, s);
		else
			put_sample(out, f->name, "", f->labels, s->values, f->nlabels, NULL,
				   (double)(int64_t)metrics_cell_sum(s, 0));
	}
}

void metrics_emit(struct metrics_writer *w, enum metric_type type, const char *name,
		  const char *help, const char *const *labels, const char *const *values,
		  double value)
{
	size_t n = 0;

	if (strcmp(w->last, name)) {
		put_header(w->out, name, help, type);
		snprintf(w->last, sizeof(w->last), "%s", name);
	}
	while (labels && labels[n])
		n++;
	put_sample(w->out, name, "", (char *const *)labels, (char *const *)values, n, NULL, value);
}

void metrics_render(struct metrics_registry *r, FILE *out)
{
	struct metrics_writer w = {.out = out};
	struct metrics_collector_slot collectors[METRICS_MAX_COLLECTORS];
	const struct metric_family *f;
	size_t i, n;

	pthread_mutex_lock(&r->lock);
	for (f = r->families; f; f = f->next)
		put_family(out, f);
	n = r->ncollectors;
	memcpy(collectors, r->collectors, n * sizeof(collectors[0]));
	pthread_mutex_unlock(&r->lock);
	/* Unlocked: a collector may register series. */
	for (i = 0; i < n; i++)
		collectors[i].fn(&w, collectors[i].ctx);
}
