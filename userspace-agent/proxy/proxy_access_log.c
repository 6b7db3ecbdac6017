// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The proxy's access log (docs/telemetry.md "Access logs"): lines made on
 * the workers (access_log.c), kept in the worker's own buffer during a
 * turn of its loop, moved at the end of the turn into one bounded buffer
 * (a memcpy under a mutex), and written to the output by a thread of their
 * own. A worker never waits for the output: what does not fit is dropped
 * and counted (shunt_proxy_access_log_dropped_total).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access_log.h"
#include "common/addr.h"
#include "common/log.h"
#include "common/metrics.h"
#include "proxy_impl.h"

#define LOCAL_MAX  (256 * 1024)	 /* a worker's lines of one turn */
#define SHARED_MAX (1024 * 1024) /* lines waiting for the writer */
/* The writer writes when a quarter of the buffer waits or the first line
 * has waited WRITE_AFTER_MS: a wake-up and a write per loop turn of each
 * worker cost more than the lines (futex and context switches). Envoy
 * flushes its access log files every 10 s by default. */
#define WRITE_AT       (SHARED_MAX / 4)
#define WRITE_AFTER_MS 100
/* A worker keeps the shared part of its lines (access_log_format_shared)
 * for this many pairs of peers and endpoint, each up to PART_MAX bytes
 * (about 400 as a rule; a longer one is made for each line). */
#define PARTS	 64
#define PART_MAX 1024

/* What the shared part of a line is made of: pointers into a model, with
 * the generation of the worker's model when the line was made. A request of
 * an older model holds that model while it lasts, and a model read later
 * has a new generation: a key never matches another model's objects at a
 * reused address. */
struct part_key {
	__u64 generation;
	const struct cfg_workload *src, *dst;
	const struct cfg_service *service;
	const char *trust_domain;
	__u8 addr[16]; /* the endpoint's, when HAS_T */
	__u16 port;
	bool has_t, mtls;
	enum istio_reporter reporter;
};

struct part {
	struct part_key key;
	size_t len; /* 0: none */
	char json[PART_MAX];
};

struct proxy_alog {
	char buf[LOCAL_MAX];
	size_t len;
	double credit; /* access_log_sample's, for lines without a request id */
	struct part parts[PARTS];
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	char *buf, *spare; /* SHARED_MAX each: filled by workers, written by the thread */
	size_t len;
	bool running, stop;
	pthread_t thread;
	int fd; /* the output; -1: not open */
	char path[4096];
	time_t warned;
} sink = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER, .fd = -1};

static atomic_ullong lines_written, bytes_written, dropped_full, dropped_write;

static size_t count_lines(const char *p, size_t n)
{
	size_t lines = 0;
	const char *nl;

	while (n && (nl = memchr(p, '\n', n))) {
		lines++;
		n -= (size_t)(nl + 1 - p);
		p = nl + 1;
	}
	return lines;
}

/* W's lines into the shared buffer: the whole lines that fit. */
void proxy_access_log_flush(struct proxy_worker *w)
{
	struct proxy_alog *a = w->alog;
	size_t room, take;

	if (!a || !a->len)
		return;
	pthread_mutex_lock(&sink.lock);
	room = sink.running ? SHARED_MAX - sink.len : 0;
	take = a->len;
	if (take > room) {
		const char *nl = room ? memrchr(a->buf, '\n', room) : NULL;

		take = nl ? (size_t)(nl + 1 - a->buf) : 0;
	}
	memcpy(sink.buf + sink.len, a->buf, take);
	/* the writer waits untimed for the first line, then WRITE_AFTER_MS */
	if ((!sink.len && take) || (sink.len < WRITE_AT && sink.len + take >= WRITE_AT))
		pthread_cond_signal(&sink.wake);
	sink.len += take;
	pthread_mutex_unlock(&sink.lock);
	if (take < a->len)
		atomic_fetch_add(&dropped_full, count_lines(a->buf + take, a->len - take));
	a->len = 0;
}

static void put_line(struct proxy_worker *w, const struct access_log_entry *e)
{
	struct proxy_alog *a = w->alog;
	int n;

	if (!a && !(a = w->alog = calloc(1, sizeof(*a)))) {
		atomic_fetch_add(&dropped_full, 1);
		return;
	}
	if (LOCAL_MAX - a->len < ACCESS_LOG_LINE_MAX)
		proxy_access_log_flush(w);
	n = access_log_format(e, a->buf + a->len, LOCAL_MAX - a->len);
	if (n < 0)
		atomic_fetch_add(&dropped_full, 1);
	else
		a->len += (size_t)n;
}

/* Whether a line of workload WL is due (its setting, then sampling). */
static bool due(struct proxy_worker *w, const struct cfg_workload *wl, const char *request_id)
{
	struct model_snap *m = worker_model(w);
	double rate;

	if (!m || !cfg_access_log_for(&m->cfg, wl, &rate))
		return false;
	if (!w->alog && !(w->alog = calloc(1, sizeof(*w->alog))))
		return false;
	return access_log_sample(rate, request_id, &w->alog->credit);
}

/* E's labels of P into *PL and D's endpoint as text into HOST: the shared
 * part's fields, made. */
static void entry_peers(struct access_log_entry *e, const struct l7_done *d,
			const struct istio_peers *p, struct istio_peer_labels *pl,
			char host[SHUNT_ADDR_STRLEN + 8])
{
	istio_peer_labels(p, pl);
	if (d->t)
		shunt_endpoint_format(d->t->addr, d->t->port, host, SHUNT_ADDR_STRLEN + 8);
	e->upstream_host = d->t ? host : NULL;
	e->peers = pl;
}

/* The key's slot: its words mixed (a byte at a time, FNV-1a cost more
 * than the rest of the lookup). */
static struct part *part_slot(struct proxy_alog *a, const struct part_key *k)
{
	uint64_t h = 0, word;
	size_t i;

	_Static_assert(sizeof(*k) % sizeof(word) == 0, "a key is whole words");
	for (i = 0; i < sizeof(*k); i += sizeof(word)) {
		memcpy(&word, (const char *)k + i, sizeof(word));
		h = (h ^ word) * 0x9e3779b97f4a7c15ull;
		h ^= h >> 29;
	}
	return &a->parts[h % PARTS];
}

/* E's shared part, kept or made (with P's labels and D's endpoint); none
 * when it does not fit a slot, or the source's principal is the peer's own
 * (a verified identity of this connection, not of the model). */
static void shared_part(struct proxy_worker *w, struct access_log_entry *e, const struct l7_done *d,
			const struct istio_peers *p)
{
	struct istio_peer_labels pl;
	char host[SHUNT_ADDR_STRLEN + 8];
	struct part_key k;
	struct part *slot;
	int n;

	if (p->src_principal)
		return;
	memset(&k, 0, sizeof(k)); /* the padding too: keys compare as bytes */
	k.generation = worker_model(w)->generation;
	k.src = p->src;
	k.dst = p->dst;
	k.service = p->service;
	k.trust_domain = p->trust_domain;
	k.has_t = d->t != NULL;
	k.mtls = p->mtls;
	k.reporter = p->reporter;
	if (d->t) {
		memcpy(k.addr, d->t->addr, sizeof(k.addr));
		k.port = d->t->port;
	}
	slot = part_slot(w->alog, &k);
	if (!slot->len || memcmp(&slot->key, &k, sizeof(k))) {
		entry_peers(e, d, p, &pl, host);
		n = access_log_format_shared(e, slot->json, sizeof(slot->json));
		e->upstream_host = NULL;
		e->peers = NULL;
		slot->len = n > 0 ? (size_t)n : 0;
		slot->key = k;
		if (n <= 0)
			return;
	}
	e->shared = slot->json;
	e->shared_len = slot->len;
}

/* The labels and the endpoint made for this line alone (a part too long
 * for a slot). */
static void put_line_unshared(struct proxy_worker *w, struct access_log_entry *e,
			      const struct l7_done *d, const struct istio_peers *p)
{
	struct istio_peer_labels pl;
	char host[SHUNT_ADDR_STRLEN + 8];

	entry_peers(e, d, p, &pl, host);
	put_line(w, e);
}

void proxy_access_log_http(struct proxy_worker *w, const struct l7_done *d,
			   const struct istio_peers *p)
{
	struct access_log_entry e = {0};
	char trace[33];
	struct timespec now;

	if (!due(w, d->src, d->request_id))
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	e.start.tv_sec = now.tv_sec - (time_t)(d->duration_us / 1000000);
	e.start.tv_nsec = now.tv_nsec - (long)(d->duration_us % 1000000) * 1000;
	if (e.start.tv_nsec < 0) {
		e.start.tv_sec--;
		e.start.tv_nsec += 1000000000;
	}
	e.node = px.node;
	e.reporter = p->reporter;
	e.protocol = d->protocol;
	e.method = d->method;
	e.authority = d->authority;
	e.path = d->path;
	e.user_agent = d->user_agent;
	e.request_id = d->request_id;
	/* the id the request went on with; else what its headers say */
	e.trace_id = d->trace_id && *d->trace_id
			 ? d->trace_id
			 : access_log_trace_id(d->traceparent, d->b3, d->x_b3_traceid, trace);
	e.response_code = d->status > 0 ? d->status : 0;
	e.grpc_status = d->grpc ? d->grpc_status : -1;
	e.outcome = d->outcome;
	e.bytes_received = d->request_bytes;
	e.bytes_sent = d->response_bytes;
	e.duration_us = d->duration_us;
	e.has_service = d->service != NULL;
	shared_part(w, &e, d, p);
	if (e.shared)
		put_line(w, &e);
	else
		put_line_unshared(w, &e, d, p);
}

void proxy_access_log_tcp(const struct proxy_conn *c, const struct istio_peers *p,
			  enum shunt_outcome o, unsigned long long received,
			  unsigned long long sent)
{
	struct istio_peer_labels pl;
	struct access_log_entry e = {0};
	struct timespec now;
	uint64_t end_us;

	if (!due(c->w, p->reporter == ISTIO_SOURCE ? p->src : p->dst, NULL))
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	end_us = (uint64_t)now.tv_sec * 1000000 + (uint64_t)now.tv_nsec / 1000;
	istio_peer_labels(p, &pl);
	e.start = c->opened_at;
	e.node = px.node;
	e.reporter = p->reporter;
	e.protocol = "TCP";
	e.grpc_status = -1;
	e.outcome = o;
	e.bytes_received = received;
	e.bytes_sent = sent;
	e.duration_us = end_us > c->opened_us ? end_us - c->opened_us : 0;
	e.upstream_host = c->destination[0] ? c->destination : NULL;
	e.peers = &pl;
	put_line(c->w, &e);
}

void proxy_access_log_worker_end(struct proxy_worker *w)
{
	proxy_access_log_flush(w);
	free(w->alog);
	w->alog = NULL;
}

/* The output the model names, (re)opened when it changes or failed. */
static void follow_output(struct snap_ref *ref)
{
	struct model_snap *m = (struct model_snap *)snap_follow(&px.model_slot, ref);
	const char *want = m && m->cfg.access_log.output ? m->cfg.access_log.output : "stdout";
	time_t now = time(NULL);

	if (sink.fd >= 0 && !strcmp(want, sink.path))
		return;
	if (sink.fd > STDERR_FILENO)
		close(sink.fd);
	snprintf(sink.path, sizeof(sink.path), "%s", want);
	if (!strcmp(want, "stdout"))
		sink.fd = STDOUT_FILENO;
	else
		sink.fd = open(want, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (sink.fd < 0 && now - sink.warned >= 60) {
		sink.warned = now;
		pr_warn("access log: cannot open %s: %s (its lines are dropped and counted)", want,
			strerror(errno));
	}
}

static void write_batch(struct snap_ref *ref, const char *p, size_t len)
{
	ssize_t n;

	follow_output(ref);
	while (len && sink.fd >= 0) {
		n = write(sink.fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		atomic_fetch_add(&lines_written, count_lines(p, (size_t)n));
		atomic_fetch_add(&bytes_written, (unsigned long long)n);
		p += n;
		len -= (size_t)n;
	}
	if (!len)
		return;
	atomic_fetch_add(&dropped_write, count_lines(p, len));
	if (time(NULL) - sink.warned >= 60) {
		sink.warned = time(NULL);
		pr_warn("access log: cannot write to %s: %s (lines dropped and counted)", sink.path,
			sink.fd < 0 ? "not open" : strerror(errno));
	}
	if (sink.fd > STDERR_FILENO)
		close(sink.fd);
	sink.fd = -1; /* reopened for the next batch */
}

/* With lines waiting: more, until WRITE_AT of them or WRITE_AFTER_MS. */
static void wait_for_more(void)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until); /* the condition's clock */
	until.tv_nsec += WRITE_AFTER_MS * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	while (sink.len < WRITE_AT && !sink.stop)
		if (pthread_cond_timedwait(&sink.wake, &sink.lock, &until) == ETIMEDOUT)
			break;
}

static void *writer_main(void *arg)
{
	struct snap_ref ref = {0};
	char *batch;
	size_t len;
	bool stop;

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&sink.lock);
		while (!sink.len && !sink.stop)
			pthread_cond_wait(&sink.wake, &sink.lock);
		wait_for_more();
		batch = sink.buf;
		sink.buf = sink.spare;
		sink.spare = batch;
		len = sink.len;
		sink.len = 0;
		stop = sink.stop;
		pthread_mutex_unlock(&sink.lock);
		if (len)
			write_batch(&ref, batch, len);
		else if (stop)
			break;
	}
	snap_put(ref.s);
	return NULL;
}

int proxy_access_log_start(void)
{
	sigset_t all, old;
	int err;

	sink.buf = malloc(SHARED_MAX);
	sink.spare = malloc(SHARED_MAX);
	if (!sink.buf || !sink.spare)
		return -ENOMEM;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&sink.thread, NULL, writer_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		return -err;
	pthread_mutex_lock(&sink.lock);
	sink.running = true;
	pthread_mutex_unlock(&sink.lock);
	return 0;
}

void proxy_access_log_stop(void)
{
	pthread_mutex_lock(&sink.lock);
	if (!sink.running) {
		pthread_mutex_unlock(&sink.lock);
		return;
	}
	sink.stop = true;
	pthread_cond_signal(&sink.wake);
	pthread_mutex_unlock(&sink.lock);
	pthread_join(sink.thread, NULL);
	sink.running = false;
	if (sink.fd > STDERR_FILENO)
		close(sink.fd);
	sink.fd = -1;
	free(sink.buf);
	free(sink.spare);
	sink.buf = sink.spare = NULL;
}

void proxy_access_log_metrics(struct metrics_writer *w)
{
	static const char *const reason[] = {"reason", NULL};
	static const char *help = "Access log lines dropped: the buffer was full (the output "
				  "did not keep up), or the output could not be opened or written.";

	metrics_emit(w, METRIC_COUNTER, "shunt_proxy_access_log_lines_total",
		     "Access log lines written.", NULL, NULL, (double)atomic_load(&lines_written));
	metrics_emit(w, METRIC_COUNTER, "shunt_proxy_access_log_bytes_total",
		     "Access log bytes written.", NULL, NULL, (double)atomic_load(&bytes_written));
	metrics_emit(w, METRIC_COUNTER, "shunt_proxy_access_log_dropped_total", help, reason,
		     (const char *[]){"buffer_full"}, (double)atomic_load(&dropped_full));
	metrics_emit(w, METRIC_COUNTER, "shunt_proxy_access_log_dropped_total", help, reason,
		     (const char *[]){"write_failed"}, (double)atomic_load(&dropped_write));
}
