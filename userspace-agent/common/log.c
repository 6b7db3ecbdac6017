// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <bpf/libbpf.h>

static enum shunt_log_level log_level = SHUNT_LOG_INFO;
static bool log_json;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void shunt_log_set_level(enum shunt_log_level level)
{
	log_level = level;
}

enum shunt_log_level shunt_log_get_level(void)
{
	return log_level;
}

void shunt_log_set_json(bool json)
{
	log_json = json;
}

/* Appends S to OUT (capacity CAP, used *LEN) as a JSON string body. */
static void json_escape_to(char *out, size_t cap, size_t *len, const char *s)
{
	for (; *s && *len + 7 < cap; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			*len += (size_t)snprintf(out + *len, cap - *len, "\\%c", ch);
		else if (ch == '\n')
			*len += (size_t)snprintf(out + *len, cap - *len, "\\n");
		else if (ch < 0x20)
			*len += (size_t)snprintf(out + *len, cap - *len, "\\u%04x", ch);
		else
			out[(*len)++] = (char)ch;
	}
	out[*len] = '\0';
}

/* Appends FIELDS to a JSON object being written, as ,"key":value each. */
static void json_fields_to(char *out, size_t cap, size_t *len, const struct shunt_log_field *f,
			   size_t nf)
{
	size_t i;

	for (i = 0; i < nf && *len + 64 < cap; i++) {
		out[(*len)++] = ',';
		out[(*len)++] = '"';
		json_escape_to(out, cap, len, f[i].key);
		if (f[i].str) {
			*len += (size_t)snprintf(out + *len, cap - *len, "\":\"");
			json_escape_to(out, cap - 1, len, f[i].str);
			out[(*len)++] = '"';
		} else {
			*len += (size_t)snprintf(out + *len, cap - *len, "\":%lld", f[i].num);
		}
	}
	out[*len] = '\0';
}

/*
 * One line, one write(2): stderr is unbuffered, and lines of the threads of
 * the proxy must not interleave.
 */
static void log_emit(enum shunt_log_level level, const struct shunt_log_field *fields, size_t nf,
		     const char *fmt, va_list ap)
{
	char buf[2048], line[4608];
	size_t len, n;

	if (level > log_level)
		return;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	len = strlen(buf);
	while (len && buf[len - 1] == '\n')
		buf[--len] = '\0';

	if (log_json) {
		struct timespec ts;
		struct tm tm;
		char stamp[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		n = (size_t)snprintf(line, sizeof(line),
				     "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"msg\":\"", stamp,
				     ts.tv_nsec / 1000000, level_names[level]);
		json_escape_to(line, sizeof(line) - 4, &n, buf);
		line[n++] = '"';
		json_fields_to(line, sizeof(line) - 4, &n, fields, nf);
		memcpy(line + n, "}\n", 3);
		n += 2;
	} else if (level <= SHUNT_LOG_WARN) {
		n = (size_t)snprintf(line, sizeof(line), "shunt: %s: %s\n", level_names[level],
				     buf);
	} else {
		n = (size_t)snprintf(line, sizeof(line), "shunt: %s\n", buf);
	}
	if (n >= sizeof(line))
		n = sizeof(line) - 1;
	fwrite(line, 1, n, stderr);
}

void shunt_log(enum shunt_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(level, NULL, 0, fmt, ap);
	va_end(ap);
}

void shunt_log_fields(enum shunt_log_level level, const struct shunt_log_field *fields, size_t n,
		      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(level, fields, n, fmt, ap);
	va_end(ap);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	/* libbpf warns about things callers handle (probes, fallbacks):
	 * one level down keeps a normal run quiet. */
	enum shunt_log_level ours = SHUNT_LOG_DEBUG;

	/* On every kernel shunt supports (5.11+) BPF memory is charged to the
	 * memory cgroup, not RLIMIT_MEMLOCK: libbpf's "try raising ulimit -l"
	 * guess after EPERM is always wrong there, and the loader names the
	 * real refusal itself. */
	if (strstr(fmt, "ulimit -l"))
		return 0;

	if (level == LIBBPF_WARN)
		ours = SHUNT_LOG_INFO;
	log_emit(ours, NULL, 0, fmt, ap);
	return 0;
}

void shunt_log_route_libbpf(void)
{
	libbpf_set_print(libbpf_print);
}
