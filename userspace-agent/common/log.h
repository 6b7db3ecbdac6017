/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Logging for the CLI and the agent: levels, and libbpf's messages routed in. */
#ifndef SHUNT_LOG_H
#define SHUNT_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum shunt_log_level {
	SHUNT_LOG_ERROR,
	SHUNT_LOG_WARN,
	SHUNT_LOG_INFO,
	SHUNT_LOG_DEBUG,
};

void shunt_log_set_level(enum shunt_log_level level);
enum shunt_log_level shunt_log_get_level(void);
/* One JSON object per line instead of "shunt: message" (for the agent). */
void shunt_log_set_json(bool json);
/* Route libbpf's output through our logger, one level lower than libbpf's. */
void shunt_log_route_libbpf(void);

void shunt_log(enum shunt_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A field of a structured log line: a string (STR non-NULL) or a number. */
struct shunt_log_field {
	const char *key;
	const char *str;
	long long num;
};
#define LOG_STR(k, v) ((struct shunt_log_field){.key = (k), .str = (v) ? (v) : ""})
#define LOG_NUM(k, v) ((struct shunt_log_field){.key = (k), .num = (long long)(v)})
/* As shunt_log, and in JSON mode the N FIELDS become keys of the line beside
 * "msg" (what tests and tools read; the message is for people). */
void shunt_log_fields(enum shunt_log_level level, const struct shunt_log_field *fields, size_t n,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define pr_err(...)   shunt_log(SHUNT_LOG_ERROR, __VA_ARGS__)
#define pr_warn(...)  shunt_log(SHUNT_LOG_WARN, __VA_ARGS__)
#define pr_info(...)  shunt_log(SHUNT_LOG_INFO, __VA_ARGS__)
#define pr_debug(...) shunt_log(SHUNT_LOG_DEBUG, __VA_ARGS__)

#endif
