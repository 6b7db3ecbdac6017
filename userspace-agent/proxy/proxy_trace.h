/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The span exporter (docs/telemetry.md "Tracing"): spans (l7/l7_trace.h)
 * go to a Zipkin collector as v2 JSON, POST URL with a JSON array, in
 * batches of at most BATCH spans, at least every INTERVAL.
 *
 * Submitting never waits: a span is copied into a bounded queue under a
 * short lock, or dropped and counted when the queue is full. A thread of
 * its own does the HTTP (libcurl, bounded by TIMEOUT per POST), so a slow
 * or dead collector costs that thread its time and the queue its bound,
 * never a request. A failed POST is not retried: its spans are dropped,
 * counted.
 */
#ifndef SHUNT_PROXY_TRACE_H
#define SHUNT_PROXY_TRACE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct l7_span;
struct cfg_tracing;
struct metrics_writer;

enum trace_drop { TRACE_DROP_QUEUE_FULL, TRACE_DROP_EXPORT_FAILED, TRACE_DROP_CONFIG, TRACE_DROPS };

struct trace_export_stats {
	atomic_ullong spans, sent, queued;
	atomic_ullong dropped[TRACE_DROPS];
	atomic_ullong posts, post_failures;
};

struct trace_export;

/* An exporter, idle until configured; its thread runs until freed. NULL
 * with errno on failure. */
struct trace_export *trace_export_new(void);
/* Takes T's collector and bounds (T off: stops exporting; what waits is
 * dropped). Spans already queued stay, up to the new queue bound. */
int trace_export_configure(struct trace_export *e, const struct cfg_tracing *t);
/* Copies S into the queue, or counts it dropped; never blocks on I/O. */
void trace_export_submit(struct trace_export *e, const struct l7_span *s);
/* Sends what waits (at most one POST per batch, each bounded by the
 * timeout), then ends the thread. NULL is fine. */
void trace_export_free(struct trace_export *e);
const struct trace_export_stats *trace_export_stats(const struct trace_export *e);

/* The proxy's exporter: made with the first model that turns tracing on,
 * configured again with each model the agent publishes. */
void proxy_trace_configure(const struct cfg_tracing *t);
void proxy_trace_submit(const struct l7_span *s);
void proxy_trace_stop(void);
void proxy_trace_metrics(struct metrics_writer *w);

#endif
