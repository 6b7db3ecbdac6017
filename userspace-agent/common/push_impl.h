/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Inside the push exports (push*.c): the two encoders, apart from any
 * socket so that the unit tests drive them with samples. */
#ifndef SHUNT_PUSH_IMPL_H
#define SHUNT_PUSH_IMPL_H

#include "push.h"

/* A payload of at most CAP bytes. */
struct push_buf {
	char *data;
	size_t len, cap;
};

/* The shortest text that reads back as V (integers without a point). */
void push_number(char *buf, size_t size, double v);
/* Whether M has a label NAME (then it, not the node, is "node"). */
bool push_has_label(const struct metric_sample *m, const char *name);

/* ---- StatsD (push_statsd.c) ---- */

/* Sends one datagram; 0 or -errno. */
typedef int (*statsd_send_fn)(void *ctx, const char *data, size_t len);

struct statsd_enc;

/* At most this many series keep counter state (the rest are dropped). */
#define STATSD_MAX_SERIES 16384

struct statsd_enc *statsd_enc_new(const struct push_target *t, const char *node,
				  statsd_send_fn send, void *ctx);
void statsd_enc_free(struct statsd_enc *e);
/* A push: BEGIN, every sample, END. With PRIME, counters take their
 * baseline and nothing is sent. */
void statsd_begin(struct statsd_enc *e, bool prime);
void statsd_sample(struct statsd_enc *e, const struct metric_sample *m);
/* Sends the last datagram and forgets series not seen in this push. */
void statsd_end(struct statsd_enc *e);

struct statsd_stats {
	size_t lines, bytes, datagrams, dropped, send_errors;
	int last_error; /* -errno of the last failed send */
};
/* What the last push did. */
const struct statsd_stats *statsd_stats(const struct statsd_enc *e);

/* NAME sanitized for a StatsD key: [A-Za-z0-9_-] kept, the rest '_'
 * (DOTS: '.' kept too). Returns the length written. */
size_t statsd_sanitize(char *out, size_t size, const char *name, bool dots);

/* ---- InfluxDB line protocol (push_influx.c) ---- */

/*
 * One line for M (NODE as the first tag, TS_MS the timestamp in ms)
 * appended to B. 0; -ENOSPC when it does not fit (B unchanged); -EDOM for a
 * value line protocol cannot carry (NaN, infinite).
 */
int influx_line(struct push_buf *b, const struct metric_sample *m, const char *node, int64_t ts_ms);

#endif
