// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The push exports' threads: one per target, each collecting, encoding
 * (push_statsd.c, push_influx.c) and sending on its interval. */
#include "push.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "log.h"
#include "push_impl.h"
#include "timer_wheel.h"

/* One warning per target per this long while it keeps failing. */
#define LOG_EVERY_MS 60000

struct push_worker {
	struct push *p;
	struct push_target t;
	pthread_t thread;
	bool started;
	int fd; /* StatsD: a connected UDP socket */
	struct statsd_enc *statsd;
	CURL *curl; /* InfluxDB */
	struct curl_slist *headers;
	char url[4 * PUSH_STR];
	struct push_buf buf;
	char answer[256]; /* the start of InfluxDB's answer */
	size_t answer_len;
	struct metric_series *pushes, *failures, *dropped, *bytes;
	uint64_t last_log_ms;
	unsigned long failed; /* failures since the last success */
	size_t dropped_unlogged;
};

struct push {
	struct metrics_registry *r;
	char node[256];
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	size_t n;
	struct push_worker w[PUSH_MAX_TARGETS];
};

static int statsd_send(void *ctx, const char *data, size_t len)
{
	struct push_worker *w = ctx;

	return send(w->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 ? -errno : 0;
}

static void statsd_visit(void *ctx, const struct metric_sample *m)
{
	statsd_sample(((struct push_worker *)ctx)->statsd, m);
}

/* A StatsD push: 0, or -errno of a failed send (ERR says which). */
static int push_statsd(struct push_worker *w, bool prime, size_t *dropped, size_t *bytes, char *err,
		       size_t errlen)
{
	const struct metrics_visitor v = {.sample = statsd_visit, .ctx = w};
	const struct statsd_stats *st;

	statsd_begin(w->statsd, prime);
	metrics_visit(w->p->r, &v);
	statsd_end(w->statsd);
	st = statsd_stats(w->statsd);
	*dropped = st->dropped;
	*bytes = st->bytes;
	if (!st->send_errors)
		return 0;
	snprintf(err, errlen, "%zu of %zu datagrams not sent: %s", st->send_errors,
		 st->send_errors + st->datagrams, strerror(-st->last_error));
	return st->last_error;
}

struct influx_visit {
	struct push_worker *w;
	int64_t ts_ms;
	size_t dropped;
};

static void influx_visit(void *ctx, const struct metric_sample *m)
{
	struct influx_visit *iv = ctx;

	if (influx_line(&iv->w->buf, m, iv->w->p->node, iv->ts_ms) == -ENOSPC)
		iv->dropped++;
}

static size_t on_answer(char *data, size_t size, size_t n, void *ctx)
{
	struct push_worker *w = ctx;
	size_t room = sizeof(w->answer) - 1 - w->answer_len, take = size * n;

	if (take > room)
		take = room;
	memcpy(w->answer + w->answer_len, data, take);
	w->answer_len += take;
	w->answer[w->answer_len] = 0;
	return size * n; /* the rest is read and dropped: the buffer is bounded */
}

/* One POST of the line protocol; 0 or -EIO with ERR. */
static int influx_post(struct push_worker *w, char *err, size_t errlen)
{
	long status = 0;
	CURLcode rc;

	w->answer_len = 0;
	w->answer[0] = 0;
	curl_easy_setopt(w->curl, CURLOPT_POSTFIELDS, w->buf.data);
	curl_easy_setopt(w->curl, CURLOPT_POSTFIELDSIZE, (long)w->buf.len);
	rc = curl_easy_perform(w->curl);
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "%s", curl_easy_strerror(rc));
		return -EIO;
	}
	curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status / 100 != 2) {
		w->answer[strcspn(w->answer, "\r\n")] = 0;
		snprintf(err, errlen, "HTTP %ld: %s", status, w->answer);
		return -EIO;
	}
	return 0;
}

static int push_influx(struct push_worker *w, size_t *dropped, size_t *bytes, char *err,
		       size_t errlen)
{
	struct influx_visit iv = {.w = w};
	const struct metrics_visitor v = {.sample = influx_visit, .ctx = &iv};
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	iv.ts_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
	w->buf.len = 0;
	metrics_visit(w->p->r, &v);
	*dropped = iv.dropped;
	*bytes = w->buf.len;
	if (!w->buf.len)
		return 0;
	return influx_post(w, err, errlen);
}

/* Counts a push and says what went wrong, at most once a minute per target
 * while it keeps going wrong, and once when it works again. */
static void account(struct push_worker *w, int err, const char *why, size_t dropped, size_t bytes)
{
	const char *name = push_kind_name(w->t.kind);
	struct shunt_log_field f[] = {LOG_STR("exporter", name), LOG_STR("target", w->t.addr)};
	uint64_t now = timer_now_ms();
	bool due = !w->last_log_ms || now - w->last_log_ms >= LOG_EVERY_MS;

	metrics_add(w->bytes, (int64_t)bytes);
	metrics_add(w->dropped, (int64_t)dropped);
	w->dropped_unlogged += dropped;
	metrics_inc(err ? w->failures : w->pushes);
	if (err)
		w->failed++;
	if (!err && w->failed) {
		shunt_log_fields(SHUNT_LOG_INFO, f, 2,
				 "push to %s %s works again after %lu failures", name, w->t.addr,
				 w->failed);
		w->failed = 0;
	}
	if (!due || (!err && !w->dropped_unlogged))
		return;
	if (err)
		shunt_log_fields(SHUNT_LOG_WARN, f, 2,
				 "push to %s %s failed: %s (%lu failures in a row; next try in %u "
				 "ms, with the totals again)",
				 name, w->t.addr, why, w->failed, w->t.interval_ms);
	if (w->dropped_unlogged)
		shunt_log_fields(SHUNT_LOG_WARN, f, 2,
				 "push to %s %s: %zu samples left out since the last message (over "
				 "max-bytes=%zu, the datagram size or %u series)",
				 name, w->t.addr, w->dropped_unlogged, w->t.max_bytes,
				 STATSD_MAX_SERIES);
	w->dropped_unlogged = 0;
	w->last_log_ms = now;
}

static void push_once(struct push_worker *w)
{
	size_t dropped = 0, bytes = 0;
	char why[512] = "";
	int err;

	if (w->t.kind == PUSH_STATSD)
		err = push_statsd(w, false, &dropped, &bytes, why, sizeof(why));
	else
		err = push_influx(w, &dropped, &bytes, why, sizeof(why));
	account(w, err, why, dropped, bytes);
}

static void *push_main(void *arg)
{
	struct push_worker *w = arg;
	struct push *p = w->p;
	struct timespec at;
	uint64_t next;

	next = timer_now_ms() + w->t.interval_ms;
	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		at = (struct timespec){.tv_sec = (time_t)(next / 1000),
				       .tv_nsec = (long)(next % 1000) * 1000000};
		pthread_cond_timedwait(&p->cond, &p->lock, &at);
		if (p->stop || timer_now_ms() < next)
			continue;
		pthread_mutex_unlock(&p->lock);
		push_once(w);
		/* A push slower than the interval skips beats; none pile up. */
		next += w->t.interval_ms;
		if (next <= timer_now_ms())
			next = timer_now_ms() + w->t.interval_ms;
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	push_once(w); /* what happened since the last beat */
	return NULL;
}

static int statsd_open(struct push_worker *w)
{
	struct sockaddr_storage ss;
	socklen_t len;
	__u8 addr[16];
	__u16 port;

	if (shunt_endpoint_parse(w->t.addr, addr, &port))
		return -EINVAL;
	len = shunt_addr_to_sockaddr(addr, port, &ss);
	w->fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (w->fd < 0)
		return -errno;
	if (connect(w->fd, (struct sockaddr *)&ss, len))
		return -errno;
	w->statsd = statsd_enc_new(&w->t, w->p->node, statsd_send, w);
	return w->statsd ? 0 : -ENOMEM;
}

/* BASE/write?db=&rp=&precision=ms or BASE/api/v2/write?org=&bucket=&precision=ms. */
static int influx_url(struct push_worker *w)
{
	const struct push_target *t = &w->t;
	bool v2 = t->kind == PUSH_INFLUXDB2;
	char *a = curl_easy_escape(w->curl, v2 ? t->org : t->db, 0);
	char *b = curl_easy_escape(w->curl, v2 ? t->bucket : t->rp, 0);
	size_t base = strlen(t->addr);
	int n = -1;

	while (base && t->addr[base - 1] == '/')
		base--;
	if (a && b)
		n = snprintf(w->url, sizeof(w->url), "%.*s%s%s%s%s&precision=ms", (int)base,
			     t->addr, v2 ? "/api/v2/write?org=" : "/write?db=", a,
			     v2 ? "&bucket=" : (b[0] ? "&rp=" : ""), b);
	curl_free(a);
	curl_free(b);
	return n < 0 || (size_t)n >= sizeof(w->url) ? -ENAMETOOLONG : 0;
}

static int influx_open(struct push_worker *w)
{
	char auth[PUSH_STR + 32];
	int err;

	w->buf = (struct push_buf){.data = malloc(w->t.max_bytes), .cap = w->t.max_bytes};
	if (!w->buf.data || !(w->curl = curl_easy_init()))
		return -ENOMEM;
	if ((err = influx_url(w)))
		return err;
	w->headers = curl_slist_append(NULL, "Content-Type: text/plain; charset=utf-8");
	if (w->t.token[0]) {
		snprintf(auth, sizeof(auth), "Authorization: Token %s", w->t.token);
		w->headers = curl_slist_append(w->headers, auth);
	}
	if (!w->headers)
		return -ENOMEM;
	curl_easy_setopt(w->curl, CURLOPT_URL, w->url);
	curl_easy_setopt(w->curl, CURLOPT_HTTPHEADER, w->headers);
	curl_easy_setopt(w->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(w->curl, CURLOPT_TIMEOUT_MS, (long)w->t.timeout_ms);
	curl_easy_setopt(w->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)w->t.timeout_ms);
	curl_easy_setopt(w->curl, CURLOPT_WRITEFUNCTION, on_answer);
	curl_easy_setopt(w->curl, CURLOPT_WRITEDATA, w);
	curl_easy_setopt(w->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(w->curl, CURLOPT_USERAGENT, "shunt-push");
	return 0;
}

static int worker_open(struct push *p, struct push_worker *w, const struct push_target *t)
{
	const char *exporter[] = {push_kind_name(t->kind)};
	static const char *const label[] = {"exporter", NULL};
	struct metric_family *f[4];

	*w = (struct push_worker){.p = p, .t = *t, .fd = -1};
	f[0] = metrics_family(p->r, METRIC_COUNTER, "shunt_telemetry_pushes_total",
			      "Pushes sent whole.", label, NULL, 0);
	f[1] = metrics_family(p->r, METRIC_COUNTER, "shunt_telemetry_push_failures_total",
			      "Pushes that failed (send error, HTTP error, timeout); the next one "
			      "carries the totals again.",
			      label, NULL, 0);
	f[2] = metrics_family(p->r, METRIC_COUNTER, "shunt_telemetry_push_dropped_total",
			      "Samples left out of a push (over max-bytes, the datagram size or "
			      "the StatsD series bound).",
			      label, NULL, 0);
	f[3] = metrics_family(p->r, METRIC_COUNTER, "shunt_telemetry_push_bytes_total",
			      "Payload bytes sent.", label, NULL, 0);
	if (!f[0] || !f[1] || !f[2] || !f[3] || !(w->pushes = metrics_series(f[0], exporter)) ||
	    !(w->failures = metrics_series(f[1], exporter)) ||
	    !(w->dropped = metrics_series(f[2], exporter)) ||
	    !(w->bytes = metrics_series(f[3], exporter)))
		return errno ? -errno : -ENOMEM;
	return t->kind == PUSH_STATSD ? statsd_open(w) : influx_open(w);
}

static void worker_close(struct push_worker *w)
{
	if (w->fd >= 0)
		close(w->fd);
	statsd_enc_free(w->statsd);
	curl_slist_free_all(w->headers);
	if (w->curl)
		curl_easy_cleanup(w->curl);
	free(w->buf.data);
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct push *push_start(struct metrics_registry *r, const struct push_target *targets, size_t n,
			const char *node)
{
	struct push *p = calloc(1, sizeof(*p));
	pthread_condattr_t ca;
	sigset_t all, old;
	size_t i, dropped, bytes;
	char why[8];
	int err = 0;

	if (!p || n > PUSH_MAX_TARGETS) {
		free(p);
		errno = p ? EINVAL : ENOMEM;
		return NULL;
	}
	pthread_once(&curl_once, curl_init);
	p->r = r;
	snprintf(p->node, sizeof(p->node), "%s", node ? node : "");
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cond, &ca);
	pthread_condattr_destroy(&ca);
	for (i = 0; i < n && !err; i++, p->n++)
		if ((err = worker_open(p, &p->w[i], &targets[i])))
			pr_err("push to %s %s: %s", push_kind_name(targets[i].kind),
			       targets[i].addr, strerror(-err));
	/* StatsD counters count from here: their baseline, before any thread. */
	for (i = 0; i < p->n && !err; i++)
		if (p->w[i].t.kind == PUSH_STATSD)
			push_statsd(&p->w[i], true, &dropped, &bytes, why, sizeof(why));
	/* The threads take no signals: the caller's loop handles them. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < p->n && !err; i++) {
		err = -pthread_create(&p->w[i].thread, NULL, push_main, &p->w[i]);
		p->w[i].started = !err;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		push_stop(p);
		errno = -err;
		return NULL;
	}
	for (i = 0; i < n; i++)
		pr_info("pushing metrics to %s %s every %u ms", push_kind_name(targets[i].kind),
			targets[i].addr, targets[i].interval_ms);
	return p;
}

void push_stop(struct push *p)
{
	size_t i;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (i = 0; i < p->n; i++) {
		if (p->w[i].started)
			pthread_join(p->w[i].thread, NULL);
		worker_close(&p->w[i]);
	}
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
