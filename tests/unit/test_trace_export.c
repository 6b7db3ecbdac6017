// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The span exporter (proxy/proxy_trace.c) against an HTTP server of the
 * test: batches by size and by interval as Zipkin v2 JSON arrays; a
 * collector that never answers costs a submit nothing and its spans are
 * counted as dropped. And the tracing config: its errors at FILE:LINE:COL,
 * its defaults, and its round trip through the model's JSON.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/timer_wheel.h"
#include "model/mesh_config.h"
#include "model/model_json.h"
#include "proxy/l7/l7_trace.h"
#include "proxy/proxy_trace.h"
#include "sources/yaml_source.h"

/* A collector: answers each POST 202 (or never, SILENT) and keeps bodies. */
struct collector {
	int fd;
	__u16 port;
	bool silent;
	pthread_t thread;
	pthread_mutex_t lock;
	char *bodies[64];
	int nbodies;
};

static void serve_one(struct collector *c, int fd)
{
	static const char ok[] = "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: "
				 "close\r\n\r\n";
	char buf[1 << 16], *end, *cl;
	size_t got = 0;
	ssize_t n;
	long want = -1;

	while (got < sizeof(buf) - 1 && (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0) {
		got += (size_t)n;
		buf[got] = 0;
		end = strstr(buf, "\r\n\r\n");
		if (end && want < 0 && (cl = strcasestr(buf, "content-length:")))
			want = strtol(cl + 15, NULL, 10);
		if (end && want >= 0 && got - (size_t)(end + 4 - buf) >= (size_t)want) {
			pthread_mutex_lock(&c->lock);
			if (c->nbodies < 64)
				c->bodies[c->nbodies++] = strndup(end + 4, (size_t)want);
			pthread_mutex_unlock(&c->lock);
			if (write(fd, ok, sizeof(ok) - 1) < 0)
				break;
			break;
		}
	}
	close(fd);
}

static void *collector_main(void *arg)
{
	struct collector *c = arg;
	int fd;

	while ((fd = accept(c->fd, NULL, NULL)) >= 0)
		serve_one(c, fd);
	return NULL;
}

static void collector_start(struct collector *c, bool silent)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);

	memset(c, 0, sizeof(*c));
	c->silent = silent;
	pthread_mutex_init(&c->lock, NULL);
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c->fd >= 0);
	assert_int_equal(bind(c->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(c->fd, 64), 0);
	assert_int_equal(getsockname(c->fd, (struct sockaddr *)&a, &len), 0);
	c->port = ntohs(a.sin_port);
	if (!silent) /* a silent one never accepts: the kernel completes the handshakes */
		assert_int_equal(pthread_create(&c->thread, NULL, collector_main, c), 0);
}

static void collector_stop(struct collector *c)
{
	int i;

	shutdown(c->fd, SHUT_RDWR);
	if (!c->silent)
		pthread_join(c->thread, NULL);
	close(c->fd);
	for (i = 0; i < c->nbodies; i++)
		free(c->bodies[i]);
}

static int collector_count(struct collector *c)
{
	int n;

	pthread_mutex_lock(&c->lock);
	n = c->nbodies;
	pthread_mutex_unlock(&c->lock);
	return n;
}

static struct cfg_tracing tracing(struct collector *c, char *url, size_t len, __u32 batch,
				  __u32 queue, __u32 interval_ms, __u32 timeout_ms)
{
	snprintf(url, len, "http://127.0.0.1:%u/api/v2/spans", c->port);
	return (struct cfg_tracing){.enabled = true,
				    .sampling = 1,
				    .zipkin_url = url,
				    .interval_ms = interval_ms,
				    .timeout_ms = timeout_ms,
				    .max_batch = batch,
				    .max_queue = queue};
}

static void span(struct l7_span *s, uint64_t id)
{
	struct l7_trace t = {.trace_lo = 0x463ac35c9f6413adull, .id = id};

	l7_span_init(s, &t, L7_SPAN_CLIENT, l7_wall_us(), 10);
	s->name = l7_span_str(s, "web.shop.svc.cluster.local:80/*");
	l7_span_endpoint(&s->local, s, "client.shop", NULL, 0);
	l7_span_tag(s, "component", "proxy");
}

static void wait_bodies(struct collector *c, int n, int ms)
{
	uint64_t until = timer_now_ms() + (uint64_t)ms;

	while (collector_count(c) < n && timer_now_ms() < until)
		usleep(5000);
	assert_int_equal(collector_count(c), n);
}

/* The exporter counts a POST once its answer is in: after the collector
 * has the body. */
static void wait_sent(struct trace_export *e, unsigned long long n, int ms)
{
	uint64_t until = timer_now_ms() + (uint64_t)ms;

	while (atomic_load(&trace_export_stats(e)->sent) < n && timer_now_ms() < until)
		usleep(5000);
	assert_int_equal(atomic_load(&trace_export_stats(e)->sent), n);
}

static void spans_go_in_batches_by_size_and_by_interval(void **state)
{
	struct collector c;
	struct trace_export *e;
	struct cfg_tracing t;
	struct l7_span s;
	char url[128];
	json_t *a;
	uint64_t i;

	(void)state;
	collector_start(&c, false);
	/* an interval far longer than a POST takes, even under ASan on a
	 * loaded machine (300 ms left 250 ms for it, and that was too little) */
	t = tracing(&c, url, sizeof(url), 3, 16, 1500, 2000);
	assert_non_null(e = trace_export_new());
	assert_int_equal(trace_export_configure(e, &t), 0);
	for (i = 1; i <= 5; i++) {
		span(&s, i);
		trace_export_submit(e, &s);
	}
	wait_bodies(&c, 1, 1200); /* the full batch, before the interval */
	wait_bodies(&c, 2, 3000); /* the other two, at the interval */
	for (i = 0; i < 2; i++) {
		a = json_loads(c.bodies[i], 0, NULL);
		assert_true(json_is_array(a));
		assert_int_equal(json_array_size(a), i ? 2 : 3);
		assert_string_equal(json_string_value(json_object_get(json_array_get(a, 0), "id")),
				    i ? "0000000000000004" : "0000000000000001");
		assert_string_equal(
		    json_string_value(json_object_get(json_array_get(a, 0), "traceId")),
		    "463ac35c9f6413ad");
		json_decref(a);
	}
	wait_sent(e, 5, 2000);
	assert_int_equal(trace_export_stats(e)->posts, 2);
	trace_export_free(e);
	collector_stop(&c);
}

static void a_silent_collector_never_holds_up_a_submit_and_drops_are_counted(void **state)
{
	const struct trace_export_stats *st;
	struct collector c;
	struct trace_export *e;
	struct cfg_tracing t;
	struct l7_span s;
	uint64_t t0, worst = 0, d;
	char url[128];
	int i;

	(void)state;
	collector_start(&c, true);
	t = tracing(&c, url, sizeof(url), 2, 4, 20, 300);
	assert_non_null(e = trace_export_new());
	assert_int_equal(trace_export_configure(e, &t), 0);
	st = trace_export_stats(e);
	span(&s, 1);
	for (i = 0; i < 200; i++) {
		t0 = timer_now_ms();
		trace_export_submit(e, &s);
		d = timer_now_ms() - t0;
		worst = d > worst ? d : worst;
		usleep(2000); /* 400 ms: past the first POST's timeout */
	}
	assert_true(worst < 20);
	assert_int_equal(st->spans, 200);
	/* the queue holds 4; one POST of 2 hangs for 300 ms, then fails */
	assert_true(st->dropped[TRACE_DROP_QUEUE_FULL] >= 150);
	assert_true(st->post_failures >= 1);
	assert_true(st->dropped[TRACE_DROP_EXPORT_FAILED] >= 2);
	assert_int_equal(st->sent, 0);
	t0 = timer_now_ms();
	trace_export_free(e); /* one last POST at most, bounded by the timeout */
	assert_true(timer_now_ms() - t0 < 1500);
	collector_stop(&c);
}

static void tracing_off_drops_what_waits_and_takes_no_more(void **state)
{
	struct cfg_tracing off = {0}, t;
	struct collector c;
	struct trace_export *e;
	struct l7_span s;
	char url[128];

	(void)state;
	collector_start(&c, false);
	t = tracing(&c, url, sizeof(url), 10, 10, 60000, 1000);
	assert_non_null(e = trace_export_new());
	assert_int_equal(trace_export_configure(e, &t), 0);
	span(&s, 1);
	trace_export_submit(e, &s);
	assert_int_equal(trace_export_stats(e)->queued, 1);
	assert_int_equal(trace_export_configure(e, &off), 0);
	trace_export_submit(e, &s);
	assert_int_equal(trace_export_stats(e)->dropped[TRACE_DROP_CONFIG], 2);
	assert_int_equal(trace_export_stats(e)->queued, 0);
	trace_export_free(e);
	assert_int_equal(collector_count(&c), 0);
	collector_stop(&c);
}

static int parse(const char *body, struct mesh_config *cfg, struct cfg_error *err)
{
	char yaml[1024];

	snprintf(yaml, sizeof(yaml), "apiVersion: shunt.dev/v1\n%s", body);
	return mesh_config_parse(cfg, "t.yaml", yaml, strlen(yaml), err);
}

static void tracing_config_errors_name_file_line_column(void **state)
{
	static const char *const bad[][2] = {
	    {"tracing:\n  sampling: 1.5\n  zipkin: {url: http://z:9411/api/v2/spans}\n",
	     "t.yaml:3:13: tracing.sampling must be a number from 0 to 1, not '1.5'"},
	    {"tracing: {sampling: 0.5}\n", "t.yaml:2:10: tracing needs 'zipkin'"},
	    {"tracing: {zipkin: {url: zipkin:9411}}\n", "t.yaml:2:25: tracing.zipkin.url must be"},
	    {"tracing: {zipkin: {url: http://z/, batch: 20, queue: 10}}\n",
	     "t.yaml:2:19: tracing.zipkin.batch (20) is larger than its queue (10)"},
	    {"tracing: {zipkin: {url: http://z/, interval: 0s}}\n",
	     "t.yaml:2:46: tracing.zipkin.interval must be at least 1ms"},
	    {"tracing: {zipkin: {url: http://z/, queue: 70000}}\n",
	     "t.yaml:2:43: tracing.zipkin.queue must be a number from 1 to 65536"},
	    {"tracing: {zipkin: {url: http://z/}, rate: 1}\n", "t.yaml:2:"},
	};
	struct mesh_config cfg;
	struct cfg_error err;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(bad[i][0], &cfg, &err), -EINVAL);
		if (strncmp(err.msg, bad[i][1], strlen(bad[i][1])))
			fail_msg("%s: got '%s', expected '%s...'", bad[i][0], err.msg, bad[i][1]);
	}
}

static void tracing_config_defaults_and_model_round_trip(void **state)
{
	struct mesh_config cfg, back;
	struct cfg_error err;
	__u64 version;
	size_t len;
	char *json;

	(void)state;
	assert_int_equal(
	    parse("tracing: {zipkin: {url: \"http://z:9411/api/v2/spans\"}}\n", &cfg, &err), 0);
	assert_true(cfg.tracing.enabled);
	assert_true(cfg.tracing.sampling == CFG_TRACING_SAMPLING);
	assert_int_equal(cfg.tracing.max_batch, CFG_TRACING_BATCH);
	assert_int_equal(cfg.tracing.max_queue, CFG_TRACING_QUEUE);
	assert_int_equal(cfg.tracing.interval_ms, CFG_TRACING_INTERVAL);
	mesh_config_free(&cfg);
	assert_int_equal(parse("tracing:\n  sampling: 0.25\n  zipkin: {url: \"http://z:9411/x\", "
			       "interval: 250ms, timeout: 1s, batch: 7, queue: 9}\n",
			       &cfg, &err),
			 0);
	assert_int_equal(mesh_model_to_json(&cfg, 3, &json, &len), 0);
	assert_int_equal(mesh_model_from_json(&back, &version, json, len, &err), 0);
	assert_true(back.tracing.enabled);
	assert_true(back.tracing.sampling == 0.25);
	assert_string_equal(back.tracing.zipkin_url, "http://z:9411/x");
	assert_int_equal(back.tracing.interval_ms, 250);
	assert_int_equal(back.tracing.timeout_ms, 1000);
	assert_int_equal(back.tracing.max_batch, 7);
	assert_int_equal(back.tracing.max_queue, 9);
	free(json);
	mesh_config_free(&back);
	mesh_config_free(&cfg);
	/* no section: off, and no key in the model */
	assert_int_equal(parse("", &cfg, &err), 0);
	assert_false(cfg.tracing.enabled);
	assert_int_equal(mesh_model_to_json(&cfg, 3, &json, &len), 0);
	assert_null(strstr(json, "\"tracing\""));
	free(json);
	mesh_config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(spans_go_in_batches_by_size_and_by_interval),
	    cmocka_unit_test(a_silent_collector_never_holds_up_a_submit_and_drops_are_counted),
	    cmocka_unit_test(tracing_off_drops_what_waits_and_takes_no_more),
	    cmocka_unit_test(tracing_config_errors_name_file_line_column),
	    cmocka_unit_test(tracing_config_defaults_and_model_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
