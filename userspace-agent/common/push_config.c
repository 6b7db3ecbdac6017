// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* --push KIND=TARGET[,KEY=VALUE]...: what a push target is, checked in full
 * before anything starts. */
#include "push.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

#define MIN_INTERVAL_MS 1000u
#define MAX_INTERVAL_MS 3600000u
#define MIN_PAYLOAD	512u
#define MAX_PAYLOAD	(16u << 20)

static const char *const kind_names[PUSH_KINDS] = {"statsd", "influxdb", "influxdb2"};

const char *push_kind_name(enum push_kind kind)
{
	return kind < PUSH_KINDS ? kind_names[kind] : "?";
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* "10s", "500ms", "2m", "1h" or plain seconds. */
static int parse_duration_ms(const char *s, unsigned int *ms)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || v > 100000000ull)
		return -EINVAL;
	if (!strcmp(end, "ms"))
		;
	else if (!*end || !strcmp(end, "s"))
		v *= 1000;
	else if (!strcmp(end, "m"))
		v *= 60000;
	else if (!strcmp(end, "h"))
		v *= 3600000;
	else
		return -EINVAL;
	*ms = (unsigned int)v;
	return 0;
}

static int parse_size(const char *s, size_t lo, size_t hi, size_t *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	v = strtoull(s, &end, 10);
	if (!strcmp(end, "k") || !strcmp(end, "K"))
		v <<= 10;
	else if (!strcmp(end, "m") || !strcmp(end, "M"))
		v <<= 20;
	else if (*end)
		return -EINVAL;
	if (v < lo || v > hi)
		return -ERANGE;
	*out = (size_t)v;
	return 0;
}

static int copy(char *dst, size_t size, const char *src)
{
	return snprintf(dst, size, "%s", src) >= (int)size ? -ENAMETOOLONG : 0;
}

/* The first line of FILE, without its newline. */
static int read_token(const char *file, char *out, size_t size)
{
	FILE *f = fopen(file, "re");
	size_t n;

	if (!f)
		return -errno;
	if (!fgets(out, (int)size, f)) {
		fclose(f);
		return -ENODATA;
	}
	fclose(f);
	n = strcspn(out, "\r\n");
	out[n] = 0;
	return n ? 0 : -ENODATA;
}

static bool is_http_url(const char *s)
{
	return (!strncmp(s, "http://", 7) && s[7]) || (!strncmp(s, "https://", 8) && s[8]);
}

/* One KEY=VALUE of T (its kind known). */
static int parse_option(struct push_target *t, const char *key, const char *val, char *err,
			size_t errlen)
{
	bool statsd = t->kind == PUSH_STATSD, v1 = t->kind == PUSH_INFLUXDB, r;

	if (!strcmp(key, "interval"))
		r = parse_duration_ms(val, &t->interval_ms) || t->interval_ms < MIN_INTERVAL_MS ||
		    t->interval_ms > MAX_INTERVAL_MS;
	else if (!strcmp(key, "timeout") && !statsd)
		r = parse_duration_ms(val, &t->timeout_ms) || t->timeout_ms < 100 ||
		    t->timeout_ms > 60000;
	else if (!strcmp(key, "max-bytes"))
		r = parse_size(val, MIN_PAYLOAD, MAX_PAYLOAD, &t->max_bytes) != 0;
	else if (!strcmp(key, "prefix") && statsd)
		r = copy(t->prefix, sizeof(t->prefix), val) != 0;
	else if (!strcmp(key, "tags") && statsd) {
		t->tags = !strcmp(val, "dogstatsd");
		r = !t->tags && strcmp(val, "none");
	} else if (!strcmp(key, "histograms") && statsd) {
		t->histograms = strcmp(val, "counts") ? PUSH_HIST_TIMERS : PUSH_HIST_COUNTS;
		r = strcmp(val, "timers") && strcmp(val, "counts");
	} else if (!strcmp(key, "packet") && statsd)
		r = parse_size(val, MIN_PAYLOAD, 65000, &t->packet) != 0;
	else if (!strcmp(key, "db") && v1)
		r = !*val || copy(t->db, sizeof(t->db), val);
	else if (!strcmp(key, "rp") && v1)
		r = !*val || copy(t->rp, sizeof(t->rp), val);
	else if (!strcmp(key, "org") && t->kind == PUSH_INFLUXDB2)
		r = !*val || copy(t->org, sizeof(t->org), val);
	else if (!strcmp(key, "bucket") && t->kind == PUSH_INFLUXDB2)
		r = !*val || copy(t->bucket, sizeof(t->bucket), val);
	else if (!strcmp(key, "token-file") && !statsd) {
		int e = read_token(val, t->token, sizeof(t->token));

		if (e)
			return fail(err, errlen, "token-file %s: %s", val,
				    e == -ENODATA ? "empty first line" : strerror(-e));
		r = false;
	} else
		return fail(err, errlen, "%s has no option \"%s\"", push_kind_name(t->kind), key);
	if (r)
		return fail(err, errlen, "%s: bad value \"%s\" for %s (docs/telemetry.md)",
			    push_kind_name(t->kind), val, key);
	return 0;
}

static void defaults(struct push_target *t, enum push_kind kind)
{
	*t = (struct push_target){
	    .kind = kind,
	    .interval_ms = 10000,
	    .timeout_ms = 5000,
	    .max_bytes = 1 << 20,
	    .packet = 1432,
	};
}

static int check_target(struct push_target *t, char *err, size_t errlen)
{
	__u8 addr[16];
	__u16 port;

	if (t->kind == PUSH_STATSD && shunt_endpoint_parse(t->addr, addr, &port))
		return fail(err, errlen,
			    "statsd needs ADDR:PORT (numeric, e.g. 127.0.0.1:8125), not "
			    "\"%s\"",
			    t->addr);
	if (t->kind != PUSH_STATSD && !is_http_url(t->addr))
		return fail(err, errlen, "%s needs an http:// or https:// URL, not \"%s\"",
			    push_kind_name(t->kind), t->addr);
	if (t->kind == PUSH_INFLUXDB && !t->db[0])
		return fail(err, errlen, "influxdb needs db=NAME");
	if (t->kind == PUSH_INFLUXDB2 && (!t->org[0] || !t->bucket[0] || !t->token[0]))
		return fail(err, errlen, "influxdb2 needs org=, bucket= and token-file=");
	if (t->kind == PUSH_STATSD && t->packet > t->max_bytes)
		t->max_bytes = t->packet;
	if (t->timeout_ms > t->interval_ms)
		t->timeout_ms = t->interval_ms;
	return 0;
}

int push_parse(const char *spec, struct push_target *t, char *err, size_t errlen)
{
	char buf[1024], *save = NULL, *item, *eq;
	int k, e;

	if (copy(buf, sizeof(buf), spec))
		return fail(err, errlen, "push target too long");
	eq = strchr(buf, '=');
	for (k = 0; eq && k < PUSH_KINDS; k++)
		if (strlen(kind_names[k]) == (size_t)(eq - buf) &&
		    !strncmp(buf, kind_names[k], (size_t)(eq - buf)))
			break;
	if (!eq || k == PUSH_KINDS)
		return fail(err, errlen,
			    "\"%s\": expected statsd=ADDR:PORT, influxdb=URL or "
			    "influxdb2=URL, then ,KEY=VALUE options",
			    spec);
	defaults(t, (enum push_kind)k);
	item = strtok_r(eq + 1, ",", &save);
	if (!item || copy(t->addr, sizeof(t->addr), item))
		return fail(err, errlen, "%s: no target", kind_names[k]);
	while ((item = strtok_r(NULL, ",", &save))) {
		if (!(eq = strchr(item, '=')))
			return fail(err, errlen, "%s: \"%s\" is not KEY=VALUE", kind_names[k],
				    item);
		*eq = 0;
		if ((e = parse_option(t, item, eq + 1, err, errlen)))
			return e;
	}
	return check_target(t, err, errlen);
}
