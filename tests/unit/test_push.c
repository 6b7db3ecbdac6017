// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The push exports' encoders: InfluxDB line protocol escaping, StatsD names,
 * tags, counter deltas, gauges, histograms, bounds; and --push parsing. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "common/push_impl.h"

static struct metric_sample sample(enum metric_type type, const char *name, const char *label,
				   const char *value, double v)
{
	/* Each sample its own label slots (a test holds a few at once). */
	static const char *labels[64][1], *values[64][1];
	static size_t next;
	size_t i = next++ % 64;

	labels[i][0] = label;
	values[i][0] = value;
	return (struct metric_sample){.type = type,
				      .name = name,
				      .labels = labels[i],
				      .values = values[i],
				      .nlabels = label ? 1 : 0,
				      .value = v};
}

/* ---- InfluxDB ---- */

static char *line_of(const struct metric_sample *m, const char *node)
{
	static char data[1024];
	struct push_buf b = {.data = data, .cap = sizeof(data) - 1};

	assert_int_equal(influx_line(&b, m, node, 1700000000123), 0);
	data[b.len] = 0;
	return data;
}

static void test_influx_escapes_measurement_tags_and_field_keys(void **state)
{
	(void)state;
	struct metric_sample m = sample(METRIC_COUNTER, "shunt_x", "who", "a b,c=d\ne", 5);

	assert_string_equal(line_of(&m, "n1"),
			    "shunt_x,node=n1,who=a\\ b\\,c\\=d\\ e value=5 1700000000123\n");
	m.name = "we ird,name=x";
	assert_string_equal(line_of(&m, "n 1"),
			    "we\\ ird\\,name=x,node=n\\ 1,who=a\\ b\\,c\\=d\\ e "
			    "value=5 1700000000123\n");
}

static void test_influx_leaves_out_empty_tags_and_a_trailing_backslash(void **state)
{
	(void)state;
	struct metric_sample m = sample(METRIC_GAUGE, "g", "path", "", 1.5);

	assert_string_equal(line_of(&m, ""), "g value=1.5 1700000000123\n");
	m.values = (const char *const[]){"c:\\"};
	assert_string_equal(line_of(&m, "n1"), "g,node=n1,path=c:_ value=1.5 1700000000123\n");
}

static void test_influx_histogram_has_count_sum_and_cumulative_buckets(void **state)
{
	(void)state;
	static const double bounds[] = {0.005, 0.1};
	static const uint64_t buckets[] = {2, 5, 6};
	struct metric_sample m = sample(METRIC_HISTOGRAM, "lat_seconds", NULL, NULL, 6);

	m.sum = 0.75;
	m.bounds = bounds;
	m.buckets = buckets;
	m.nbounds = 2;
	assert_string_equal(line_of(&m, "n1"), "lat_seconds,node=n1 count=6,sum=0.75,0.005=2,0.1=5,"
					       "+Inf=6 1700000000123\n");
}

static void test_influx_refuses_nan_and_keeps_the_buffer_when_full(void **state)
{
	(void)state;
	char data[40] = "";
	struct push_buf b = {.data = data, .cap = 30};
	struct metric_sample m = sample(METRIC_GAUGE, "g", NULL, NULL, 0.0 / 0.0);

	assert_int_equal(influx_line(&b, &m, "n1", 1), -EDOM);
	m.value = 1;
	assert_int_equal(influx_line(&b, &m, "n1", 1), 0);
	assert_int_equal(b.len, strlen("g,node=n1 value=1 1\n"));
	m.name = "a_much_longer_family_name";
	assert_int_equal(influx_line(&b, &m, "n1", 1), -ENOSPC);
	assert_int_equal(b.len, strlen("g,node=n1 value=1 1\n"));
}

/* ---- StatsD ---- */

struct sent {
	char data[8192];
	size_t len, datagrams;
	int fail;
};

static int record(void *ctx, const char *data, size_t len)
{
	struct sent *s = ctx;

	if (s->fail)
		return s->fail;
	assert_true(s->len + len < sizeof(s->data));
	memcpy(s->data + s->len, data, len);
	s->len += len;
	s->data[s->len] = 0;
	s->datagrams++;
	return 0;
}

static struct push_target statsd_target(bool tags)
{
	struct push_target t;
	char err[128];

	assert_int_equal(
	    push_parse(tags ? "statsd=127.0.0.1:8125,tags=dogstatsd" : "statsd=127.0.0.1:8125", &t,
		       err, sizeof(err)),
	    0);
	return t;
}

/* One push of the N samples; what was sent. */
static const char *push(struct statsd_enc *e, struct sent *s, bool prime,
			const struct metric_sample *m, size_t n)
{
	size_t i;

	s->len = 0;
	s->data[0] = 0;
	statsd_begin(e, prime);
	for (i = 0; i < n; i++)
		statsd_sample(e, &m[i]);
	statsd_end(e);
	return s->data;
}

static void test_statsd_sanitizes_names(void **state)
{
	(void)state;
	char out[64];

	statsd_sanitize(out, sizeof(out), "a.b:c|d@e#f g/h-i_j", false);
	assert_string_equal(out, "a_b_c_d_e_f_g_h-i_j");
	statsd_sanitize(out, sizeof(out), "my.prefix", true);
	assert_string_equal(out, "my.prefix");
	statsd_sanitize(out, 4, "abcdef", false);
	assert_string_equal(out, "abc");
}

static void test_statsd_counters_send_deltas_from_the_baseline(void **state)
{
	(void)state;
	struct push_target t = statsd_target(false);
	struct sent s = {0};
	struct statsd_enc *e = statsd_enc_new(&t, "n1", record, &s);
	struct metric_sample m =
	    sample(METRIC_COUNTER, "shunt_denied_total", "where", "10.0.0.1", 100);

	assert_string_equal(push(e, &s, true, &m, 1), ""); /* the baseline */
	m.value = 105;
	assert_string_equal(push(e, &s, false, &m, 1),
			    "shunt_denied_total.node_n1.where_10_0_0_1:5|c\n");
	assert_string_equal(push(e, &s, false, &m, 1), ""); /* no change, nothing sent */
	m.value = 3;					    /* a reset */
	assert_string_equal(push(e, &s, false, &m, 1),
			    "shunt_denied_total.node_n1.where_10_0_0_1:3|c\n");
	statsd_enc_free(e);
}

static void test_statsd_a_new_series_counts_from_zero_and_a_gone_one_is_forgotten(void **state)
{
	(void)state;
	struct push_target t = statsd_target(true);
	struct sent s = {0};
	struct statsd_enc *e = statsd_enc_new(&t, "n1", record, &s);
	struct metric_sample m[2] = {sample(METRIC_COUNTER, "a_total", NULL, NULL, 7),
				     sample(METRIC_COUNTER, "b_total", NULL, NULL, 4)};

	push(e, &s, true, m, 1);
	assert_string_equal(push(e, &s, false, m, 2), "b_total:4|c|#node:n1\n");
	push(e, &s, false, m, 1); /* b_total gone */
	m[1].value = 6;
	assert_string_equal(push(e, &s, false, m, 2), "b_total:6|c|#node:n1\n");
	statsd_enc_free(e);
}

static void test_statsd_tags_and_gauges(void **state)
{
	(void)state;
	struct push_target t = statsd_target(true);
	struct sent s = {0};
	struct statsd_enc *e = statsd_enc_new(&t, "n1", record, &s);
	struct metric_sample m[2] = {sample(METRIC_GAUGE, "shunt_workloads", "scope", "a,b|c", 12),
				     sample(METRIC_GAUGE, "shunt_delta", NULL, NULL, -2.5)};

	assert_string_equal(push(e, &s, false, m, 2),
			    "shunt_workloads:12|g|#node:n1,scope:a_b_c\n"
			    "shunt_delta:0|g|#node:n1\nshunt_delta:-2.5|g|#node:n1\n");
	statsd_enc_free(e);
}

/* A name that does not fit is left out (counted), never cut; a label named
 * "node" replaces the node. */
static void test_statsd_long_names_are_dropped_and_a_node_label_wins(void **state)
{
	struct push_target t = statsd_target(false);
	struct sent s = {0};
	struct statsd_enc *e = statsd_enc_new(&t, "n1", record, &s);
	char big[3000];
	struct metric_sample m[2];

	(void)state;
	memset(big, 'v', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	m[0] = sample(METRIC_GAUGE, "g", "who", big, 1);
	m[1] = sample(METRIC_GAUGE, "h", "node", "other", 2);
	assert_string_equal(push(e, &s, false, m, 2), "h.node_other:2|g\n");
	assert_int_equal(statsd_stats(e)->dropped, 1);
	statsd_enc_free(e);
	assert_string_equal(line_of(&m[1], "n1"), "h,node=other value=2 1700000000123\n");
}

static struct metric_sample histogram(const uint64_t *buckets, double sum)
{
	static const double bounds[] = {0.01, 0.1};
	struct metric_sample m = sample(METRIC_HISTOGRAM, "lat_seconds", NULL, NULL, 0);

	m.value = (double)buckets[2];
	m.sum = sum;
	m.bounds = bounds;
	m.buckets = buckets;
	m.nbounds = 2;
	return m;
}

static void test_statsd_histograms_as_timers_with_sample_rates(void **state)
{
	(void)state;
	struct push_target t = statsd_target(false);
	struct sent s = {0};
	struct statsd_enc *e = statsd_enc_new(&t, "n1", record, &s);
	struct metric_sample m = histogram((const uint64_t[]){1, 1, 1}, 0.005);

	push(e, &s, true, &m, 1);
	/* 4 more below 10 ms, 0 in the next bucket, 2 above 100 ms. */
	m = histogram((const uint64_t[]){5, 5, 7}, 1.0);
	assert_string_equal(push(e, &s, false, &m, 1), "lat_seconds.node_n1:10|ms|@0.25\n"
						       "lat_seconds.node_n1:100|ms|@0.5\n");
	statsd_enc_free(e);
}

static void test_statsd_histograms_as_count_and_sum(void **state)
{
	(void)state;
	struct push_target t = statsd_target(false);
	struct sent s = {0};
	struct statsd_enc *e;
	struct metric_sample m = histogram((const uint64_t[]){1, 2, 3}, 0.5);
	char err[64];

	assert_int_equal(push_parse("statsd=127.0.0.1:8125,histograms=counts,prefix=mesh.a", &t,
				    err, sizeof(err)),
			 0);
	e = statsd_enc_new(&t, "n1", record, &s);
	assert_string_equal(push(e, &s, false, &m, 1), "mesh.a.lat_seconds.count.node_n1:3|c\n"
						       "mesh.a.lat_seconds.sum.node_n1:0.5|c\n");
	statsd_enc_free(e);
}

static void test_statsd_splits_datagrams_and_bounds_a_push(void **state)
{
	(void)state;
	struct push_target t;
	struct sent s = {0};
	struct statsd_enc *e;
	struct metric_sample m[40];
	char names[40][32], err[64];
	size_t i, n = 0;
	const char *p;

	assert_int_equal(
	    push_parse("statsd=127.0.0.1:8125,packet=512,max-bytes=1k", &t, err, sizeof(err)), 0);
	e = statsd_enc_new(&t, "n1", record, &s);
	for (i = 0; i < 40; i++) {
		snprintf(names[i], sizeof(names[i]), "family_number_%02zu_total", i);
		m[i] = sample(METRIC_COUNTER, names[i], NULL, NULL, 1);
	}
	push(e, &s, false, m, 40);
	assert_true(s.len <= 1024);
	assert_true(s.datagrams >= 2);
	assert_true(statsd_stats(e)->dropped > 0);
	for (p = s.data; (p = strchr(p, '\n')); p++)
		n++;
	assert_int_equal(n + statsd_stats(e)->dropped, 40);
	/* What did not fit is sent next time (the delta stayed). */
	push(e, &s, false, m, 40);
	assert_non_null(strstr(s.data, "family_number_39_total.node_n1:1|c"));
	statsd_enc_free(e);
}

/* ---- the thread ---- */

/* Counts from push_start(), and pushes once more at push_stop(). */
static void test_push_thread_counts_from_start_and_pushes_at_stop(void **state)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	struct metrics_registry *r = metrics_registry_new(0);
	struct metric_series *x;
	struct push_target t;
	struct push *p;
	char spec[64], err[128], got[2048];
	ssize_t n;
	int fd;

	(void)state;
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	x = metrics_series(metrics_family(r, METRIC_COUNTER, "x_total", NULL, NULL, NULL, 0), NULL);
	metrics_add(x, 5); /* before the start: not sent */
	snprintf(spec, sizeof(spec), "statsd=127.0.0.1:%u,interval=1h", ntohs(sin.sin_port));
	assert_int_equal(push_parse(spec, &t, err, sizeof(err)), 0);
	p = push_start(r, &t, 1, "n1");
	assert_non_null(p);
	metrics_add(x, 3);
	push_stop(p);
	n = recv(fd, got, sizeof(got) - 1, MSG_DONTWAIT);
	assert_true(n > 0);
	got[n] = 0;
	assert_string_equal(got, "x_total.node_n1:3|c\n");
	close(fd);
	metrics_registry_free(r);
}

/* ---- --push ---- */

static void test_push_parse_defaults_and_errors(void **state)
{
	(void)state;
	struct push_target t;
	char err[256];
	FILE *f;

	assert_int_equal(
	    push_parse("influxdb=http://127.0.0.1:8086,db=mesh,interval=2s", &t, err, sizeof(err)),
	    0);
	assert_int_equal(t.kind, PUSH_INFLUXDB);
	assert_int_equal(t.interval_ms, 2000);
	assert_int_equal(t.timeout_ms, 2000); /* never longer than the interval */
	assert_string_equal(t.db, "mesh");
	f = fopen("/tmp/shunt-test-push.token", "w");
	assert_non_null(f);
	fputs("s3cret\n", f);
	fclose(f);
	assert_int_equal(push_parse("influxdb2=https://h:8086,org=o,bucket=b,token-file=/tmp/"
				    "shunt-test-push.token",
				    &t, err, sizeof(err)),
			 0);
	unlink("/tmp/shunt-test-push.token");
	assert_string_equal(t.token, "s3cret");
	assert_int_equal(push_parse("influxdb2=http://h:8086,org=o,bucket=b", &t, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "token-file"));
	assert_int_equal(push_parse("statsd=localhost:8125", &t, err, sizeof(err)), -EINVAL);
	assert_int_equal(push_parse("statsd=127.0.0.1:8125,interval=500ms", &t, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "interval"));
	assert_int_equal(push_parse("statsd=127.0.0.1:8125,db=x", &t, err, sizeof(err)), -EINVAL);
	assert_int_equal(push_parse("influxdb=ftp://x,db=y", &t, err, sizeof(err)), -EINVAL);
	assert_int_equal(push_parse("graphite=x", &t, err, sizeof(err)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_influx_escapes_measurement_tags_and_field_keys),
	    cmocka_unit_test(test_influx_leaves_out_empty_tags_and_a_trailing_backslash),
	    cmocka_unit_test(test_influx_histogram_has_count_sum_and_cumulative_buckets),
	    cmocka_unit_test(test_influx_refuses_nan_and_keeps_the_buffer_when_full),
	    cmocka_unit_test(test_statsd_sanitizes_names),
	    cmocka_unit_test(test_statsd_counters_send_deltas_from_the_baseline),
	    cmocka_unit_test(test_statsd_a_new_series_counts_from_zero_and_a_gone_one_is_forgotten),
	    cmocka_unit_test(test_statsd_tags_and_gauges),
	    cmocka_unit_test(test_statsd_long_names_are_dropped_and_a_node_label_wins),
	    cmocka_unit_test(test_statsd_histograms_as_timers_with_sample_rates),
	    cmocka_unit_test(test_statsd_histograms_as_count_and_sum),
	    cmocka_unit_test(test_statsd_splits_datagrams_and_bounds_a_push),
	    cmocka_unit_test(test_push_thread_counts_from_start_and_pushes_at_stop),
	    cmocka_unit_test(test_push_parse_defaults_and_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
