// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The InfluxDB line protocol encoder: one line per sample,
 *   FAMILY,node=N,LABEL=VALUE... value=V TIMESTAMP
 * and for a histogram the fields count, sum and one per bucket named by its
 * upper bound ("0.005", ..., "+Inf", cumulative: Telegraf's Prometheus
 * mapping). Every field is a float, as Prometheus values are: a field never
 * changes type between pushes. Escaping per the line protocol reference:
 * measurement: comma, space; tag keys/values and field keys: comma, equals
 * sign, space. Newlines cannot be escaped (they become spaces); an empty tag
 * value is left out (line protocol has none).
 */
#include "push_impl.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void push_number(char *buf, size_t size, double v)
{
	if (fabs(v) < 1e15 && v == (double)(long long)v) {
		snprintf(buf, size, "%lld", (long long)v);
		return;
	}
	/* The shortest of 15 or 17 digits that reads back as V. */
	snprintf(buf, size, "%.15g", v);
	if (strtod(buf, NULL) != v)
		snprintf(buf, size, "%.17g", v);
}

bool push_has_label(const struct metric_sample *m, const char *name)
{
	size_t i;

	for (i = 0; i < m->nlabels; i++)
		if (!strcmp(m->labels[i], name))
			return true;
	return false;
}

/* Appends S escaped for line protocol (MEASUREMENT: '=' needs none). */
static bool put_escaped(struct push_buf *b, const char *s, bool measurement)
{
	for (; *s; s++) {
		char c = *s == '\n' || *s == '\r' ? ' ' : *s;
		bool esc = c == ',' || c == ' ' || (!measurement && c == '=');

		/* A backslash at the end would escape the separator after it. */
		if (c == '\\' && s[1] == 0)
			c = '_';
		if (b->len + 2 > b->cap)
			return false;
		if (esc)
			b->data[b->len++] = '\\';
		b->data[b->len++] = c;
	}
	return true;
}

static bool put_raw(struct push_buf *b, const char *s)
{
	size_t len = strlen(s);

	if (b->len + len > b->cap)
		return false;
	memcpy(b->data + b->len, s, len);
	b->len += len;
	return true;
}

/* ",KEY=VALUE" unless VALUE is empty. */
static bool put_tag(struct push_buf *b, const char *key, const char *value)
{
	if (!value || !*value)
		return true;
	return put_raw(b, ",") && put_escaped(b, key, false) && put_raw(b, "=") &&
	       put_escaped(b, value, false);
}

/* "[,]KEY=V" as a float field. */
static bool put_field(struct push_buf *b, bool first, const char *key, double v)
{
	char num[40];

	push_number(num, sizeof(num), v);
	return (first || put_raw(b, ",")) && put_escaped(b, key, false) && put_raw(b, "=") &&
	       put_raw(b, num);
}

static bool put_histogram_fields(struct push_buf *b, const struct metric_sample *m)
{
	char le[32];
	size_t i;

	if (!put_field(b, true, "count", m->value) || !put_field(b, false, "sum", m->sum))
		return false;
	for (i = 0; i <= m->nbounds; i++) {
		if (i < m->nbounds)
			snprintf(le, sizeof(le), "%g", m->bounds[i]);
		else
			snprintf(le, sizeof(le), "+Inf");
		if (!put_field(b, false, le, (double)m->buckets[i]))
			return false;
	}
	return true;
}

int influx_line(struct push_buf *b, const struct metric_sample *m, const char *node, int64_t ts_ms)
{
	bool hist = m->type == METRIC_HISTOGRAM && m->buckets, ok;
	size_t start = b->len, i;
	char ts[32];

	if (!isfinite(m->value) || (hist && !isfinite(m->sum)))
		return -EDOM;
	ok = put_escaped(b, m->name, true) &&
	     (push_has_label(m, "node") || put_tag(b, "node", node));
	for (i = 0; ok && i < m->nlabels; i++)
		ok = put_tag(b, m->labels[i], m->values[i]);
	ok = ok && put_raw(b, " ");
	if (ok)
		ok = hist ? put_histogram_fields(b, m) : put_field(b, true, "value", m->value);
	snprintf(ts, sizeof(ts), " %" PRId64 "\n", ts_ms);
	if (!ok || !put_raw(b, ts)) {
		b->len = start;
		return -ENOSPC;
	}
	return 0;
}
