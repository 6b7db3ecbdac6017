// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Access log lines: format, sampling and trace ids (access_log.h). */
#include "access_log.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
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

/* S as a JSON string of valid UTF-8, at most CAP bytes (cut between
 * characters), a bad byte as U+FFFD; S NULL: null. */
static json_t *text(const char *s, size_t cap)
{
	static const char repl[] = "\xef\xbf\xbd";
	char buf[ACCESS_LOG_PATH_MAX + 4];
	size_t n = 0, len, left;
	const unsigned char *p = (const unsigned char *)s;

	if (!s)
		return json_null();
	if (cap > ACCESS_LOG_PATH_MAX)
		cap = ACCESS_LOG_PATH_MAX;
	for (left = strlen(s); left; p += len, left -= len) {
		len = utf8_len(p, left);
		if (n + (len ? len : 3) > cap)
			break;
		if (len) {
			memcpy(buf + n, p, len);
			n += len;
		} else {
			memcpy(buf + n, repl, 3);
			n += 3;
			len = 1;
		}
	}
	return json_stringn(buf, n);
}

/* RFC 3339, milliseconds, UTC: 2026-12-03T18:40:00.123Z */
static json_t *rfc3339(const struct timespec *ts)
{
	char buf[40];
	struct tm tm;
	time_t t = ts->tv_sec;

	if (!gmtime_r(&t, &tm) || !strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm))
		return NULL;
	snprintf(buf + 19, sizeof(buf) - 19, ".%03ldZ", ts->tv_nsec / 1000000);
	return json_string(buf);
}

static json_t *entry_json(const struct access_log_entry *e)
{
	const struct istio_peer_labels *pl = e->peers;
	json_t *o = json_object();
	int bad = !o;

#define SET(k, v) (bad |= json_object_set_new_nocheck(o, k, v))
	if (bad)
		return NULL;
	SET("start_time", rfc3339(&e->start));
	SET("node", text(e->node, FIELD_MAX));
	SET("reporter", json_string(pl->reporter));
	SET("protocol", json_string(e->protocol));
	SET("method", text(e->method, FIELD_MAX));
	SET("authority", text(e->authority, FIELD_MAX));
	SET("path", text(e->path, ACCESS_LOG_PATH_MAX));
	SET("response_code", json_integer(e->response_code));
	SET("response_flags", json_string(istio_response_flags(e->outcome)));
	SET("grpc_status", e->grpc_status >= 0 ? json_integer(e->grpc_status) : json_null());
	SET("bytes_received", json_integer((json_int_t)e->bytes_received));
	SET("bytes_sent", json_integer((json_int_t)e->bytes_sent));
	SET("duration_ms", json_real((double)e->duration_us / 1000.0));
	SET("upstream_host", text(e->upstream_host, FIELD_MAX));
	SET("upstream_service", e->has_service ? text(pl->service, FIELD_MAX) : json_null());
	SET("source_workload", text(pl->src_workload, FIELD_MAX));
	SET("source_namespace", text(pl->src_ns, FIELD_MAX));
	SET("source_principal", text(pl->src_principal, FIELD_MAX));
	SET("destination_workload", text(pl->dst_workload, FIELD_MAX));
	SET("destination_namespace", text(pl->dst_ns, FIELD_MAX));
	SET("destination_principal", text(pl->dst_principal, FIELD_MAX));
	SET("connection_security_policy", json_string(pl->security));
	SET("trace_id", text(e->trace_id, 32));
	SET("user_agent", text(e->user_agent, FIELD_MAX));
	SET("request_id", text(e->request_id, ID_MAX));
	SET("outcome", json_string(shunt_outcome_label(e->outcome)));
#undef SET
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int access_log_format(const struct access_log_entry *e, char *buf, size_t len)
{
	json_t *o = entry_json(e);
	size_t n;

	if (!o)
		return -ENOMEM;
	n = json_dumpb(o, buf, len, JSON_COMPACT | JSON_REAL_PRECISION(15));
	json_decref(o);
	if (!n)
		return -ENOMEM;
	if (n + 1 > len)
		return -ENOSPC;
	buf[n] = '\n';
	return (int)n + 1;
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
