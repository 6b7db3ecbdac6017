// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The span exporter (proxy_trace.h): a queue of span copies, bounded in
 * count, and a thread that POSTs them in batches to a Zipkin collector.
 * Each queued span takes its fixed part plus its strings (a few hundred
 * bytes), so the queue's memory is bounded by its count.
 */
#include "proxy_trace.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/metrics.h"
#include "common/timer_wheel.h"
#include "l7/l7_trace.h"
#include "model/mesh_config.h"

#define LOG_EVERY_MS 60000 /* one warning per this long while POSTs fail */

struct trace_export {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool started, stop;
	atomic_bool on; /* read unlocked by submit: off drops at once */
	/* the settings, under LOCK */
	char *url;
	uint32_t interval_ms, timeout_ms, max_batch, max_queue;
	/* the queue (a ring of span copies), under LOCK */
	struct l7_span **ring;
	size_t cap, head, count;
	struct trace_export_stats stats;
	/* the thread's */
	CURL *curl;
	struct shunt_json body; /* a batch's, its memory kept between batches */
	uint64_t last_log_ms;
	unsigned long failed; /* POSTs failed since the last that worked */
};

const struct trace_export_stats *trace_export_stats(const struct trace_export *e)
{
	return &e->stats;
}

static void drop(struct trace_export *e, enum trace_drop why, size_t n)
{
	atomic_fetch_add(&e->stats.dropped[why], n);
}

static void zipkin_spans(struct shunt_json *j, const struct l7_span *const *spans, size_t n)
{
	size_t i;

	json_array_begin(j);
	for (i = 0; i < n; i++)
		l7_span_zipkin(spans[i], j);
	json_array_end(j);
}

static size_t discard(char *data, size_t size, size_t n, void *ctx)
{
	(void)data;
	(void)ctx;
	return size * n;
}

/* One POST of BODY; 0, or -EIO with WHY. */
static int post(struct trace_export *e, const char *url, uint32_t timeout_ms, const char *body,
		size_t len, char *why, size_t whylen)
{
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json"), *all;
	long status = 0;
	CURLcode rc;

	/* no "Expect: 100-continue": a wait for the collector's 100 per batch */
	if (!h || !(all = curl_slist_append(h, "Expect:"))) {
		curl_slist_free_all(h);
		return snprintf(why, whylen, "out of memory"), -ENOMEM;
	}
	curl_easy_reset(e->curl);
	curl_easy_setopt(e->curl, CURLOPT_URL, url);
	curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(e->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(e->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e->curl, CURLOPT_USERAGENT, "shunt-proxy");
	curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(e->curl, CURLOPT_POSTFIELDSIZE, (long)len);
	rc = curl_easy_perform(e->curl);
	curl_slist_free_all(h);
	if (rc != CURLE_OK)
		return snprintf(why, whylen, "%s", curl_easy_strerror(rc)), -EIO;
	curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status / 100 != 2)
		return snprintf(why, whylen, "HTTP %ld", status), -EIO;
	return 0;
}

static void account(struct trace_export *e, const char *url, int err, const char *why, size_t n)
{
	uint64_t now = timer_now_ms();

	atomic_fetch_add(&e->stats.posts, 1);
	if (!err) {
		atomic_fetch_add(&e->stats.sent, n);
		if (e->failed)
			pr_info("tracing: spans reach %s again after %lu failed POSTs", url,
				e->failed);
		e->failed = 0;
		return;
	}
	atomic_fetch_add(&e->stats.post_failures, 1);
	drop(e, TRACE_DROP_EXPORT_FAILED, n);
	e->failed++;
	if (e->last_log_ms && now - e->last_log_ms < LOG_EVERY_MS)
		return;
	e->last_log_ms = now;
	pr_warn("tracing: POST of %zu spans to %s failed: %s (%lu in a row; those spans are "
		"dropped, counted in shunt_proxy_trace_spans_dropped_total)",
		n, url, why, e->failed);
}

/* Takes up to a batch off the queue and sends it; called and returns with
 * LOCK held, drops it for the I/O. */
static void flush_batch(struct trace_export *e)
{
	size_t n = e->count < e->max_batch ? e->count : e->max_batch, i;
	struct l7_span **batch = calloc(n ? n : 1, sizeof(*batch));
	uint32_t timeout = e->timeout_ms;
	char *url = e->url ? strdup(e->url) : NULL, why[256] = "";
	int err = -ENOMEM;

	if (!batch || !url) {
		drop(e, TRACE_DROP_EXPORT_FAILED, n);
		for (; n; n--, e->count--, e->head = (e->head + 1) % e->cap)
			free(e->ring[e->head]);
		atomic_store(&e->stats.queued, e->count);
		free(batch);
		free(url);
		return;
	}
	for (i = 0; i < n; i++, e->count--, e->head = (e->head + 1) % e->cap)
		batch[i] = e->ring[e->head];
	atomic_store(&e->stats.queued, e->count);
	pthread_mutex_unlock(&e->lock);
	json_mem_reset(&e->body);
	zipkin_spans(&e->body, (const struct l7_span *const *)batch, n);
	if (!e->body.failed)
		err = post(e, url, timeout, e->body.mem, e->body.len, why, sizeof(why));
	else
		snprintf(why, sizeof(why), "out of memory");
	account(e, url, err, why, n);
	for (i = 0; i < n; i++)
		free(batch[i]);
	free(batch);
	free(url);
	pthread_mutex_lock(&e->lock);
}

static void *export_main(void *arg)
{
	struct trace_export *e = arg;
	uint64_t due = timer_now_ms() + CFG_TRACING_INTERVAL;
	struct timespec at;

	pthread_mutex_lock(&e->lock);
	while (!e->stop) {
		if (e->on && e->count && (e->count >= e->max_batch || timer_now_ms() >= due)) {
			flush_batch(e);
			due = timer_now_ms() + e->interval_ms;
			continue;
		}
		if (!e->count || timer_now_ms() >= due)
			due = timer_now_ms() + (e->on ? e->interval_ms : CFG_TRACING_INTERVAL);
		at = (struct timespec){.tv_sec = (time_t)(due / 1000),
				       .tv_nsec = (long)(due % 1000) * 1000000};
		pthread_cond_timedwait(&e->cond, &e->lock, &at);
	}
	/* the last spans: a POST per batch while they go through, within one
	 * timeout in all (the proxy is stopping) */
	for (due = timer_now_ms() + e->timeout_ms; e->on && e->count && timer_now_ms() < due;) {
		unsigned long before = e->failed;

		flush_batch(e);
		if (e->failed != before)
			break;
	}
	pthread_mutex_unlock(&e->lock);
	return NULL;
}

struct trace_export *trace_export_new(void)
{
	struct trace_export *e = calloc(1, sizeof(*e));
	pthread_condattr_t ca;
	sigset_t all, old;
	int err;

	if (!e)
		return NULL;
	pthread_mutex_init(&e->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* timer_now_ms' clock */
	pthread_cond_init(&e->cond, &ca);
	pthread_condattr_destroy(&ca);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	e->curl = curl_easy_init();
	/* The thread takes no signals: the proxy's loop handles them. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = e->curl ? pthread_create(&e->thread, NULL, export_main, e) : ENOMEM;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		if (e->curl)
			curl_easy_cleanup(e->curl);
		free(e);
		errno = err;
		return NULL;
	}
	e->started = true;
	return e;
}

/* The queue at CAP spans, the oldest kept; what does not fit is dropped. */
static int resize(struct trace_export *e, size_t cap)
{
	struct l7_span **ring = cap ? calloc(cap, sizeof(*ring)) : NULL;
	size_t i, keep = e->count < cap ? e->count : cap;

	if (cap && !ring)
		return -ENOMEM;
	for (i = 0; i < e->count; i++) {
		struct l7_span *s = e->ring[(e->head + i) % e->cap];

		if (i < keep)
			ring[i] = s;
		else
			free(s);
	}
	drop(e, TRACE_DROP_CONFIG, e->count - keep);
	free(e->ring);
	e->ring = ring;
	e->cap = cap;
	e->head = 0;
	e->count = keep;
	atomic_store(&e->stats.queued, e->count);
	return 0;
}

int trace_export_configure(struct trace_export *e, const struct cfg_tracing *t)
{
	bool on = t && t->enabled && t->zipkin_url;
	char *url = on ? strdup(t->zipkin_url) : NULL;
	int err = 0;

	if (on && !url)
		return -ENOMEM;
	pthread_mutex_lock(&e->lock);
	if (!on || e->cap != t->max_queue)
		err = resize(e, on ? t->max_queue : 0);
	if (!err) {
		free(e->url);
		e->url = url;
		url = NULL;
		e->on = on;
		if (on) {
			e->interval_ms = t->interval_ms;
			e->timeout_ms = t->timeout_ms;
			e->max_batch = t->max_batch;
		}
		pthread_cond_signal(&e->cond);
	}
	pthread_mutex_unlock(&e->lock);
	free(url);
	return err;
}

void trace_export_submit(struct trace_export *e, const struct l7_span *s)
{
	size_t size = offsetof(struct l7_span, text) + s->text_len;
	struct l7_span *copy;
	bool wake;

	atomic_fetch_add(&e->stats.spans, 1);
	if (!e->on) /* read unlocked: a span racing a reconfiguration is dropped below */
		return drop(e, TRACE_DROP_CONFIG, 1);
	copy = malloc(size < sizeof(*copy) ? size : sizeof(*copy));
	if (!copy)
		return drop(e, TRACE_DROP_QUEUE_FULL, 1);
	memcpy(copy, s, size < sizeof(*copy) ? size : sizeof(*copy));
	pthread_mutex_lock(&e->lock);
	if (!e->on || e->count == e->cap) {
		pthread_mutex_unlock(&e->lock);
		free(copy);
		return drop(e, e->on ? TRACE_DROP_QUEUE_FULL : TRACE_DROP_CONFIG, 1);
	}
	e->ring[(e->head + e->count) % e->cap] = copy;
	e->count++;
	atomic_store(&e->stats.queued, e->count);
	wake = e->count == e->max_batch;
	pthread_mutex_unlock(&e->lock);
	if (wake)
		pthread_cond_signal(&e->cond);
}

void trace_export_free(struct trace_export *e)
{
	if (!e)
		return;
	pthread_mutex_lock(&e->lock);
	e->stop = true;
	pthread_cond_signal(&e->cond);
	pthread_mutex_unlock(&e->lock);
	if (e->started)
		pthread_join(e->thread, NULL);
	e->on = false;
	resize(e, 0);
	free(e->url);
	free(e->body.mem);
	curl_easy_cleanup(e->curl);
	pthread_cond_destroy(&e->cond);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

/* The proxy's exporter, made with the first model that turns tracing on. */
static _Atomic(struct trace_export *) proxy_exporter;

static bool same_tracing(const struct cfg_tracing *a, const struct cfg_tracing *b)
{
	return a->enabled == b->enabled && a->sampling == b->sampling &&
	       a->interval_ms == b->interval_ms && a->timeout_ms == b->timeout_ms &&
	       a->max_batch == b->max_batch && a->max_queue == b->max_queue &&
	       !strcmp(a->zipkin_url ? a->zipkin_url : "", b->zipkin_url ? b->zipkin_url : "");
}

/* Called by the model's thread (and before it starts) only. */
void proxy_trace_configure(const struct cfg_tracing *t)
{
	static struct cfg_tracing last;
	static char last_url[1024];
	struct trace_export *e = atomic_load(&proxy_exporter);
	int err;

	if ((!e && !t->enabled) || (e && same_tracing(&last, t)))
		return;
	last = *t;
	snprintf(last_url, sizeof(last_url), "%s", t->zipkin_url ? t->zipkin_url : "");
	last.zipkin_url = last_url; /* the model's string goes with its snapshot */
	if (!e && !(e = trace_export_new())) {
		pr_warn("tracing: cannot start the span exporter: %s", strerror(errno));
		return;
	}
	atomic_store(&proxy_exporter, e);
	if ((err = trace_export_configure(e, t)))
		pr_warn("tracing: cannot configure the span exporter: %s", strerror(-err));
	else if (!t->enabled)
		pr_info("tracing: off");
	else
		pr_info("tracing: spans to %s (sampling %g of new traces, batches of %u at least "
			"every %u ms, queue %u)",
			t->zipkin_url, t->sampling, t->max_batch, t->interval_ms, t->max_queue);
}

void proxy_trace_submit(const struct l7_span *s)
{
	struct trace_export *e = atomic_load(&proxy_exporter);

	if (e)
		trace_export_submit(e, s);
}

void proxy_trace_stop(void)
{
	trace_export_free(atomic_exchange(&proxy_exporter, NULL));
}

void proxy_trace_metrics(struct metrics_writer *w)
{
	static const char *const reason[] = {"reason", NULL};
	static const char *const reasons[TRACE_DROPS] = {"queue_full", "export_failed", "config"};
	struct trace_export *e = atomic_load(&proxy_exporter);
	const struct trace_export_stats *st;
	int i;

	if (!e)
		return;
	st = &e->stats;
	metrics_emit(w, METRIC_COUNTER, "shunt_proxy_trace_spans_total",
		     "Sampled spans this proxy made (L7 requests).", NULL, NULL,
		     (double)atomic_load(&st->spans));
	metrics_emit(w, METRIC_COUNTER, "shunt_proxy_trace_spans_sent_total",
		     "Spans the Zipkin collector accepted (2xx).", NULL, NULL,
		     (double)atomic_load(&st->sent));
	for (i = 0; i < TRACE_DROPS; i++)
		metrics_emit(w, METRIC_COUNTER, "shunt_proxy_trace_spans_dropped_total",
			     "Spans dropped: the queue was full, their POST failed, or tracing "
			     "was turned off or its queue made smaller.",
			     reason, (const char *[]){reasons[i]},
			     (double)atomic_load(&st->dropped[i]));
	metrics_emit(w, METRIC_GAUGE, "shunt_proxy_trace_queue_spans", "Spans waiting to be sent.",
		     NULL, NULL, (double)atomic_load(&st->queued));
	metrics_emit(w, METRIC_COUNTER, "shunt_proxy_trace_posts_total",
		     "POSTs to the Zipkin collector.", NULL, NULL, (double)atomic_load(&st->posts));
	metrics_emit(w, METRIC_COUNTER, "shunt_proxy_trace_post_failures_total",
		     "POSTs that failed (connect, timeout, a status other than 2xx).", NULL, NULL,
		     (double)atomic_load(&st->post_failures));
}
