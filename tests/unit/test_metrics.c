// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The metrics registry: sharded counters, gauges, histograms, labels,
 * collectors, and the Prometheus text they render to. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/metrics.h"
#include "metrics_text.h"

#define THREADS	   4
#define PER_THREAD 100000

static void *count_up(void *arg)
{
	struct metric_family *f = arg;
	int i;

	for (i = 0; i < PER_THREAD; i++)
		metrics_inc(metrics_series(f, (const char *[]){i & 1 ? "inbound" : "outbound"}));
	return NULL;
}

static void test_counters_from_many_threads_lose_nothing(void **state)
{
	struct metrics_registry *r = metrics_registry_new(2); /* fewer shards than threads */
	struct metric_family *f;
	pthread_t t[THREADS];
	char *text;
	int i;

	(void)state;
	f = metrics_family(r, METRIC_COUNTER, "shunt_test_total", "Things.",
			   (const char *[]){"side", NULL}, NULL, 0);
	assert_non_null(f);
	for (i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, count_up, f), 0);
	for (i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(metrics_value(metrics_series(f, (const char *[]){"inbound"})),
			 THREADS * PER_THREAD / 2);
	text = metrics_text_of(r);
	assert_non_null(strstr(text, "# HELP shunt_test_total Things.\n"
				     "# TYPE shunt_test_total counter\n"));
	assert_non_null(strstr(text, "shunt_test_total{side=\"outbound\"} 200000\n"));
	assert_non_null(strstr(text, "shunt_test_total{side=\"inbound\"} 200000\n"));
	free(text);
	metrics_registry_free(r);
}

static void test_gauges_go_both_ways_and_set(void **state)
{
	struct metrics_registry *r = metrics_registry_new(0);
	struct metric_series *s;
	char *text;

	(void)state;
	s = metrics_series(metrics_family(r, METRIC_GAUGE, "g", NULL, NULL, NULL, 0), NULL);
	metrics_add(s, 5);
	metrics_add(s, -7);
	assert_int_equal(metrics_value(s), -2);
	text = metrics_text_of(r);
	assert_non_null(strstr(text, "# TYPE g gauge\ng -2\n"));
	assert_null(strstr(text, "# HELP g"));
	free(text);
	metrics_set(s, 42);
	assert_int_equal(metrics_value(s), 42);
	metrics_registry_free(r);
}

static void test_histogram_buckets_are_cumulative(void **state)
{
	static const double bounds[] = {0.001, 0.01, 0.1};
	struct metrics_registry *r = metrics_registry_new(0);
	struct metric_series *s;
	char *text;

	(void)state;
	s = metrics_series(metrics_family(r, METRIC_HISTOGRAM, "lat_seconds", "Latency.",
					  (const char *[]){"route", NULL}, bounds, 3),
			   (const char *[]){"a"});
	metrics_observe(s, 0.0005);
	metrics_observe(s, 0.001); /* le is inclusive */
	metrics_observe(s, 0.05);
	metrics_observe(s, 3);
	assert_int_equal(metrics_value(s), 4);
	text = metrics_text_of(r);
	assert_non_null(strstr(text, "lat_seconds_bucket{route=\"a\",le=\"0.001\"} 2\n"
				     "lat_seconds_bucket{route=\"a\",le=\"0.01\"} 2\n"
				     "lat_seconds_bucket{route=\"a\",le=\"0.1\"} 3\n"
				     "lat_seconds_bucket{route=\"a\",le=\"+Inf\"} 4\n"
				     "lat_seconds_sum{route=\"a\"} 3.0515"));
	assert_non_null(strstr(text, "lat_seconds_count{route=\"a\"} 4\n"));
	free(text);
	metrics_registry_free(r);
}

static void test_label_values_are_escaped(void **state)
{
	struct metrics_registry *r = metrics_registry_new(0);
	char *text;

	(void)state;
	metrics_inc(metrics_series(metrics_family(r, METRIC_COUNTER, "c", "a \\ b\nc",
						  (const char *[]){"v", NULL}, NULL, 0),
				   (const char *[]){"q\"x\\y\nz"}));
	text = metrics_text_of(r);
	assert_non_null(strstr(text, "# HELP c a \\\\ b\\nc\n"));
	assert_non_null(strstr(text, "c{v=\"q\\\"x\\\\y\\nz\"} 1\n"));
	free(text);
	metrics_registry_free(r);
}

static void test_bad_or_clashing_families_are_refused(void **state)
{
	struct metrics_registry *r = metrics_registry_new(0);
	struct metric_family *f;
	static const double down[] = {1, 0.5};

	(void)state;
	errno = 0;
	assert_null(metrics_family(r, METRIC_COUNTER, "9bad", NULL, NULL, NULL, 0));
	assert_int_equal(errno, EINVAL);
	assert_null(
	    metrics_family(r, METRIC_COUNTER, "ok", NULL, (const char *[]){"le", NULL}, NULL, 0));
	assert_null(metrics_family(r, METRIC_HISTOGRAM, "h", NULL, NULL, down, 2));
	f = metrics_family(r, METRIC_COUNTER, "x_total", NULL, (const char *[]){"a", NULL}, NULL,
			   0);
	assert_non_null(f);
	assert_ptr_equal(metrics_family(r, METRIC_COUNTER, "x_total", NULL,
					(const char *[]){"a", NULL}, NULL, 0),
			 f);
	errno = 0;
	assert_null(
	    metrics_family(r, METRIC_GAUGE, "x_total", NULL, (const char *[]){"a", NULL}, NULL, 0));
	assert_int_equal(errno, EEXIST);
	assert_null(metrics_family(r, METRIC_COUNTER, "x_total", NULL, NULL, NULL, 0));
	metrics_registry_free(r);
}

static void collect(struct metrics_writer *w, void *ctx)
{
	const char *labels[] = {"map", NULL};

	metrics_emit(w, METRIC_COUNTER, "shunt_bpf_total", "From a map.", labels,
		     (const char *[]){"a"}, *(double *)ctx);
	metrics_emit(w, METRIC_COUNTER, "shunt_bpf_total", "From a map.", labels,
		     (const char *[]){"b"}, 2);
	metrics_emit(w, METRIC_GAUGE, "shunt_version", NULL, NULL, NULL, 7);
}

static void test_collectors_render_after_the_registry(void **state)
{
	struct metrics_registry *r = metrics_registry_new(0);
	double a = 1e18;
	char *text;

	(void)state;
	metrics_inc(
	    metrics_series(metrics_family(r, METRIC_COUNTER, "own", NULL, NULL, NULL, 0), NULL));
	assert_int_equal(metrics_collector(r, collect, &a), 0);
	text = metrics_text_of(r);
	assert_string_equal(text, "# TYPE own counter\nown 1\n"
				  "# HELP shunt_bpf_total From a map.\n"
				  "# TYPE shunt_bpf_total counter\n"
				  "shunt_bpf_total{map=\"a\"} 1e+18\n"
				  "shunt_bpf_total{map=\"b\"} 2\n"
				  "# TYPE shunt_version gauge\nshunt_version 7\n");
	free(text);
	metrics_registry_free(r);
}

/* What a visitor saw, one line per call. */
static void seen_family(void *ctx, enum metric_type type, const char *name, const char *help)
{
	(void)help;
	fprintf(ctx, "family %s %d\n", name, (int)type);
}

static void seen_sample(void *ctx, const struct metric_sample *m)
{
	size_t i;

	fprintf(ctx, "sample %s", m->name);
	for (i = 0; i < m->nlabels; i++)
		fprintf(ctx, " %s=%s", m->labels[i], m->values[i]);
	fprintf(ctx, " %g", m->value);
	if (m->buckets) {
		fprintf(ctx, " sum=%g", m->sum);
		for (i = 0; i <= m->nbounds; i++)
			fprintf(ctx, " %llu", (unsigned long long)m->buckets[i]);
	}
	fputc('\n', ctx);
}

/* The walk the renderer and the push exports share: families (also an
 * empty one), samples with their labels, histograms with cumulative buckets,
 * then the collectors. */
static void test_visit_sees_every_sample_with_its_shape(void **state)
{
	struct metrics_registry *r = metrics_registry_new(0);
	const struct metrics_visitor v = {.family = seen_family, .sample = seen_sample};
	struct metric_series *h;
	double a = 3;
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	(void)state;
	metrics_family(r, METRIC_COUNTER, "empty_total", NULL, NULL, NULL, 0);
	h = metrics_series(metrics_family(r, METRIC_HISTOGRAM, "lat", NULL,
					  (const char *[]){"side", NULL}, (const double[]){1, 10},
					  2),
			   (const char *[]){"in"});
	metrics_observe(h, 0.5);
	metrics_observe(h, 5);
	metrics_observe(h, 50);
	assert_int_equal(metrics_collector(r, collect, &a), 0);
	metrics_visit(r, &(struct metrics_visitor){v.family, v.sample, out});
	fclose(out);
	assert_string_equal(text, "family empty_total 0\n"
				  "family lat 2\n"
				  "sample lat side=in 3 sum=55.5 1 2 3\n"
				  "family shunt_bpf_total 0\n"
				  "sample shunt_bpf_total map=a 3\n"
				  "sample shunt_bpf_total map=b 2\n"
				  "family shunt_version 1\n"
				  "sample shunt_version 7\n");
	free(text);
	metrics_registry_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_counters_from_many_threads_lose_nothing),
	    cmocka_unit_test(test_gauges_go_both_ways_and_set),
	    cmocka_unit_test(test_histogram_buckets_are_cumulative),
	    cmocka_unit_test(test_label_values_are_escaped),
	    cmocka_unit_test(test_bad_or_clashing_families_are_refused),
	    cmocka_unit_test(test_collectors_render_after_the_registry),
	    cmocka_unit_test(test_visit_sees_every_sample_with_its_shape),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
