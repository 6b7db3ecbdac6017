/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Push exports (docs/telemetry.md "Push exports"): every INTERVAL, the whole
 * registry (collectors included) to a StatsD server over UDP or to InfluxDB
 * over HTTP (1.x /write, 2.x /api/v2/write) in line protocol.
 *
 * Each target has a thread of its own: it collects, encodes into a payload
 * of bounded size and sends; nothing else waits for it. A dead or slow
 * collector costs that thread its timeouts, never memory: one payload per
 * target, no queue, no retries (the next push carries the totals again, or
 * for StatsD the deltas since the last one). Pushes, failures, dropped
 * samples and bytes are counted in the registry under
 * shunt_telemetry_push_*{exporter="statsd"|"influxdb"|"influxdb2"}.
 */
#ifndef SHUNT_PUSH_H
#define SHUNT_PUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

enum push_kind { PUSH_STATSD, PUSH_INFLUXDB, PUSH_INFLUXDB2, PUSH_KINDS };

/* How a StatsD target gets histograms. */
enum push_histograms {
	PUSH_HIST_TIMERS, /* one |ms sample per bucket that grew, @1/count */
	PUSH_HIST_COUNTS, /* FAMILY.count and FAMILY.sum as counters */
};

#define PUSH_MAX_TARGETS PUSH_KINDS
#define PUSH_STR	 256

struct push_target {
	enum push_kind kind;
	char addr[PUSH_STR]; /* StatsD: ADDR:PORT; InfluxDB: the base URL */
	unsigned int interval_ms;
	unsigned int timeout_ms; /* InfluxDB: one request, connect included */
	size_t max_bytes;	 /* one push's payload */
	/* StatsD */
	char prefix[64];
	bool tags; /* DogStatsD |#k:v tags instead of labels folded into the name */
	enum push_histograms histograms;
	size_t packet; /* datagram size */
	/* InfluxDB 1.x */
	char db[PUSH_STR], rp[PUSH_STR];
	/* InfluxDB 2.x */
	char org[PUSH_STR], bucket[PUSH_STR];
	/* InfluxDB: sent as "Authorization: Token ..." (required for 2.x) */
	char token[PUSH_STR];
};

/* The exporter label: "statsd", "influxdb" or "influxdb2". */
const char *push_kind_name(enum push_kind kind);

/*
 * "KIND=TARGET[,KEY=VALUE]..." into T, defaults filled in (a token-file is
 * read here). 0, or -EINVAL with ERR saying what is wrong.
 */
int push_parse(const char *spec, struct push_target *t, char *err, size_t errlen);

struct push;

/*
 * Starts one thread per target, pushing R with a "node" label of NODE on
 * every sample. The first push is one interval from now; counter deltas
 * (StatsD) count from now. NULL with errno (and a log line) on failure.
 */
struct push *push_start(struct metrics_registry *r, const struct push_target *targets, size_t n,
			const char *node);
/* A last push of each target (bounded by its timeout), then the threads end.
 * NULL is fine. */
void push_stop(struct push *p);

#endif
