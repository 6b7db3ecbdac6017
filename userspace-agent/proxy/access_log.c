// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Access log lines: format, sampling and trace ids (access_log.h). */
#include "access_log.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define FIELD_MAX 1024 /* authority, user_agent */
#define ID_MAX	  256  /* request_id */

/* The length of the valid UTF-8 sequence at S (N bytes left), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	/* overlong forms, surrogates, beyond U+10FFFF (RFC 3629) */
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
		return 0;
	return len;
}

/* The line being written: BUF's room, and whether it ran out. Lines are
 * written straight into the buffer (no JSON tree per request: building and
 * dumping one cost about a fifth of the proxy's CPU with every request
 * logged, docs/telemetry.md "Overhead"). */
struct line {
	char *p;
	size_t left;
	bool full;
};

/* Inlined: most pieces are a key or a literal of a size known here, and
 * copied with a few moves instead of a call to memcpy (a line has forty
 * pieces). */
static inline __attribute__((always_inline)) void put(struct line *l, const char *s, size_t n)
{
	if (l->full || n >= l->left) {
		l->full = true;
		return;
	}
	memcpy(l->p, s, n);
	l->p += n;
	l->left -= n;
}

/* Whether byte C goes into a JSON string as it is. */
static bool plain(unsigned char c)
{
	return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

#define ONES  0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* Whether any byte of X is zero (the exact test: no false positive). */
static bool has_zero(uint64_t x)
{
	return (((x & ~HIGHS) + ~HIGHS) | x | ~HIGHS) != ~0ull;
}

/* How many bytes from P (at most MAX) are plain: eight at a time while
 * all eight are (a line's fields are mostly nothing else). */
static size_t plain_run(const unsigned char *p, size_t max)
{
	size_t run = 0;
	uint64_t x;

	for (; run + 8 <= max; run += 8) {
		memcpy(&x, p + run, 8);
		if ((x & HIGHS) || has_zero(x & (ONES * 0xe0)) || has_zero(x ^ (ONES * '"')) ||
		    has_zero(x ^ (ONES * '\\')))
			break;
	}
	while (run < max && plain(p[run]))
		run++;
	return run;
}

/* S as a JSON string of valid UTF-8, at most CAP bytes of it (cut between
 * characters), a bad byte as U+FFFD; S NULL: null. Runs of plain ASCII go
 * out whole: most fields are nothing else. */
static void put_text(struct line *l, const char *s, size_t cap)
{
	static const char repl[] = "\xef\xbf\xbd", hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t used = 0, len, left, run;
	char esc[6] = {'\\', 'u', '0', '0'};

	if (!s)
		return put(l, "null", 4);
	put(l, "\"", 1);
	for (left = strlen(s); left; p += len, left -= len) {
		run = plain_run(p, left < cap - used ? left : cap - used);
		if (run) {
			put(l, (const char *)p, run);
			used += run;
			len = run;
			continue;
		}
		len = utf8_len(p, left);
		if (used + (len ? len : 3) > cap)
			break;
		used += len ? len : 3;
		if (!len) {
			put(l, repl, 3);
			len = 1;
		} else if (*p == '"' || *p == '\\') {
			put(l, "\\", 1);
			put(l, (const char *)p, 1);
		} else if (*p < 0x20) {
			esc[4] = hex[*p >> 4];
			esc[5] = hex[*p & 15];
			put(l, esc, 6);
		} else {
			put(l, (const char *)p, len);
		}
	}
	put(l, "\"", 1);
}

/* S, one of the proxy's own names (plain ASCII), as a JSON string: no
 * scan for bytes to escape. */
static void put_name(struct line *l, const char *s)
{
	if (!s)
		return put(l, "null", 4);
	put(l, "\"", 1);
	put(l, s, strlen(s));
	put(l, "\"", 1);
}

/* ,"key": (every key but the line's first, start_time) */
#define put_key(l, key) put(l, ",\"" key "\":", sizeof(",\"" key "\":") - 1)

/* V in decimal, at least MIN digits (zeros in front), without printf:
 * two digits a step, written in place. */
static void put_digits(struct line *l, unsigned long long v, int min)
{
	static const char pairs[] = "00010203040506070809101112131415161718192021222324"
				    "25262728293031323334353637383940414243444546474849"
				    "50515253545556575859606162636465666768697071727374"
				    "75767778798081828384858687888990919293949596979899";
	unsigned long long rest = v;
	size_t n = 1, i;

	while (rest >= 10)
		rest /= 10, n++;
	if (n < (size_t)min)
		n = (size_t)min;
	if (l->full || n >= l->left) {
		l->full = true;
		return;
	}
	for (i = n; i >= 2; i -= 2, v /= 100)
		memcpy(l->p + i - 2, pairs + 2 * (v % 100), 2);
	if (i)
		l->p[0] = (char)('0' + v % 10);
	l->p += n;
	l->left -= n;
}

static void put_int(struct line *l, long long v)
{
	if (v < 0)
		put(l, "-", 1);
	put_digits(l, v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v, 1);
}

/* RFC 3339, milliseconds, UTC: "2026-12-03T18:40:00.123Z". The part up to
 * the seconds is made once a second per thread. */
static void put_time(struct line *l, const struct timespec *ts)
{
	static __thread time_t made = -1;
	static __thread char secs[24];
	struct tm tm;
	time_t t = ts->tv_sec;

	if (t != made) {
		if (!gmtime_r(&t, &tm) || !strftime(secs, sizeof(secs), "%Y-%m-%dT%H:%M:%S", &tm))
			return put(l, "null", 4);
		made = t;
	}
	put(l, "\"", 1);
	put(l, secs, 19);
	put(l, ".", 1);
	put_digits(l, (unsigned long long)(ts->tv_nsec / 1000000), 3);
	put(l, "Z\"", 2);
}

/* upstream_host .. connection_security_policy: never the line's first key */
static void put_shared(struct line *l, const struct access_log_entry *e)
{
	const struct istio_peer_labels *pl = e->peers;

	put_key(l, "upstream_host"), put_text(l, e->upstream_host, FIELD_MAX);
	put_key(l, "upstream_service"), put_text(l, e->has_service ? pl->service : NULL, FIELD_MAX);
	put_key(l, "source_workload"), put_text(l, pl->src_workload, FIELD_MAX);
	put_key(l, "source_namespace"), put_text(l, pl->src_ns, FIELD_MAX);
	put_key(l, "source_principal"), put_text(l, pl->src_principal, FIELD_MAX);
	put_key(l, "destination_workload"), put_text(l, pl->dst_workload, FIELD_MAX);
	put_key(l, "destination_namespace"), put_text(l, pl->dst_ns, FIELD_MAX);
	put_key(l, "destination_principal"), put_text(l, pl->dst_principal, FIELD_MAX);
	put_key(l, "connection_security_policy"), put_text(l, pl->security, FIELD_MAX);
}

static void put_fields(struct line *l, const struct access_log_entry *e)
{
	put(l, "{\"start_time\":", sizeof("{\"start_time\":") - 1), put_time(l, &e->start);
	put_key(l, "node"), put_text(l, e->node, FIELD_MAX);
	put_key(l, "reporter"), put_name(l, istio_reporter_label(e->reporter));
	put_key(l, "protocol"), put_name(l, e->protocol);
	put_key(l, "method"), put_text(l, e->method, FIELD_MAX);
	put_key(l, "authority"), put_text(l, e->authority, FIELD_MAX);
	put_key(l, "path"), put_text(l, e->path, ACCESS_LOG_PATH_MAX);
	put_key(l, "response_code"), put_int(l, e->response_code);
	put_key(l, "response_flags"), put_name(l, istio_response_flags(e->outcome));
	put_key(l, "grpc_status");
	if (e->grpc_status >= 0)
		put_int(l, e->grpc_status);
	else
		put(l, "null", 4);
	put_key(l, "bytes_received"), put_int(l, (long long)e->bytes_received);
	put_key(l, "bytes_sent"), put_int(l, (long long)e->bytes_sent);
	/* always with a fraction: a JSON real, as the index template maps it */
	put_key(l, "duration_ms"), put_digits(l, e->duration_us / 1000, 1);
	put(l, ".", 1), put_digits(l, e->duration_us % 1000, 3);
	if (e->shared)
		put(l, e->shared, e->shared_len);
	else
		put_shared(l, e);
	/* hex digits: the request's own or one checked (access_log_trace_id) */
	put_key(l, "trace_id"), put_name(l, e->trace_id);
	put_key(l, "user_agent"), put_text(l, e->user_agent, FIELD_MAX);
	put_key(l, "request_id"), put_text(l, e->request_id, ID_MAX);
	put_key(l, "outcome"), put_name(l, shunt_outcome_label(e->outcome));
}

int access_log_format(const struct access_log_entry *e, char *buf, size_t len)
{
	struct line l = {.p = buf, .left = len};

	put_fields(&l, e);
	put(&l, "}\n", 2);
	if (l.full)
		return -ENOSPC;
	return (int)(len - l.left);
}

int access_log_format_shared(const struct access_log_entry *e, char *buf, size_t len)
{
	struct line l = {.p = buf, .left = len};

	put_shared(&l, e);
	return l.full ? -ENOSPC : (int)(len - l.left);
}

bool access_log_sample(double rate, const char *key, double *credit)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	if (rate <= 0)
		return false;
	if (rate >= 1)
		return true;
	if (key && *key) {
		for (; *key; key++) {
			h ^= (unsigned char)*key;
			h *= 1099511628211ull;
		}
		return (double)h < rate * 18446744073709551616.0;
	}
	*credit += rate;
	if (*credit < 1)
		return false;
	*credit -= 1;
	return true;
}

/* N lowercase-able hex digits at S, not all zero, copied lowercase into OUT. */
static bool hex_id(const char *s, size_t n, char *out)
{
	bool nonzero = false;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!isxdigit((unsigned char)s[i]))
			return false;
		out[i] = (char)tolower((unsigned char)s[i]);
		nonzero |= s[i] != '0';
	}
	out[n] = 0;
	return nonzero;
}

const char *access_log_trace_id(const char *traceparent, const char *b3, const char *x_b3_traceid,
				char out[33])
{
	size_t n;

	/* version "-" trace-id "-" parent-id "-" flags: 00-<32>-<16>-<2> */
	if (traceparent && strlen(traceparent) >= 55 && traceparent[2] == '-' &&
	    traceparent[35] == '-' && hex_id(traceparent + 3, 32, out))
		return out;
	/* b3: {TraceId}-{SpanId}[-{Sampled}[-{ParentSpanId}]], or only a sampling flag */
	if (b3) {
		n = strcspn(b3, "-");
		if ((n == 16 || n == 32) && b3[n] == '-' && hex_id(b3, n, out))
			return out;
	}
	if (x_b3_traceid) {
		n = strlen(x_b3_traceid);
		if ((n == 16 || n == 32) && hex_id(x_b3_traceid, n, out))
			return out;
	}
	return NULL;
}
