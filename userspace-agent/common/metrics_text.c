// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The Prometheus text exposition format (0.0.4) for the registry and its
 * collectors: the one place that writes it. */
#include "metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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
static void put_sample(FILE *out, const char *name, const char *suffix, const char *const *labels,
		       const char *const *values, size_t n, const char *le, double v)
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

static void put_histogram(FILE *out, const struct metric_sample *m)
{
	char le[32];
	size_t b;

	for (b = 0; b <= m->nbounds; b++) {
		if (b < m->nbounds)
			snprintf(le, sizeof(le), "%g", m->bounds[b]);
		else
			snprintf(le, sizeof(le), "+Inf");
		put_sample(out, m->name, "_bucket", m->labels, m->values, m->nlabels, le,
			   (double)m->buckets[b]);
	}
	put_sample(out, m->name, "_sum", m->labels, m->values, m->nlabels, NULL, m->sum);
	put_sample(out, m->name, "_count", m->labels, m->values, m->nlabels, NULL, m->value);
}

static void text_family(void *ctx, enum metric_type type, const char *name, const char *help)
{
	put_header(ctx, name, help, type);
}

static void text_sample(void *ctx, const struct metric_sample *m)
{
	if (m->type == METRIC_HISTOGRAM && m->buckets)
		put_histogram(ctx, m);
	else
		put_sample(ctx, m->name, "", m->labels, m->values, m->nlabels, NULL, m->value);
}

void metrics_render(struct metrics_registry *r, FILE *out)
{
	const struct metrics_visitor v = {.family = text_family, .sample = text_sample, .ctx = out};

	metrics_visit(r, &v);
}
