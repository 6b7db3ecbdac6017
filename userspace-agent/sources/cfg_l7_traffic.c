// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Resilience settings with Istio's field names, the Gateway API having
 * none: fault and rateLimit of an httpRoute rule (VirtualService's
 * HTTPFaultInjection, a local token bucket), and a service's trafficPolicy
 * (DestinationRule's loadBalancer, connectionPool, outlierDetection).
 */
#include <errno.h>
#include <regex.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cfg_parse.h"

#define MAX_COUNT INT32_MAX /* Istio's fields are int32 */
#define MAX_RATE  1000000000

#define DEFAULT_CONSECUTIVE_5XX	     5
#define DEFAULT_INTERVAL_MS	     10000
#define DEFAULT_BASE_EJECTION_MS     30000
#define DEFAULT_MAX_EJECTION_PERCENT 10

/* A percentage from 0 to 100, fractions allowed: 50, 0.5, or Istio's
 * {value: 50}. */
static int parse_percentage(struct cfg_parser *p, yaml_node_t *n, const char *what, double *out)
{
	static const char *const keys[] = {"value", NULL};
	yaml_node_t *v;
	const char *s;
	regex_t re;
	int err, rc;

	if (n->type == YAML_MAPPING_NODE) {
		if ((err = cfgy_check_map(p, n, what, keys)))
			return err;
		if (!(v = cfgy_map_get(p, n, "value")))
			return cfgy_fail(p, n, "%s needs 'value'", what);
		n = v;
	}
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return cfgy_fail(p, n, "%s must be a number from 0 to 100", what);
	if ((err = cfgy_get_str(p, n, what, &s)))
		return err;
	if (regcomp(&re, "^[0-9]{1,3}([.][0-9]{1,9})?$", REG_EXTENDED | REG_NOSUB))
		return cfgy_oom(p);
	rc = regexec(&re, s, 0, NULL, 0);
	regfree(&re);
	if (rc || (*out = strtod(s, NULL)) > 100)
		return cfgy_fail(p, n, "%s must be a number from 0 to 100, not '%s'", what, s);
	return 0;
}

/* A duration of at least 1 ms. */
static int parse_positive_duration(struct cfg_parser *p, yaml_node_t *n, const char *what,
				   __u32 *ms)
{
	int err = cfg_http_parse_duration(p, n, what, ms);

	if (!err && !*ms)
		return cfgy_fail(p, n, "%s must be at least 1ms", what);
	return err;
}

static int parse_delay(struct cfg_parser *p, yaml_node_t *n, struct cfg_http_fault *out)
{
	static const char *const keys[] = {"fixedDelay", "percentage", NULL};
	yaml_node_t *v;
	int err;

	if ((err = cfgy_check_map(p, n, "fault.delay", keys)))
		return err;
	if (!(v = cfgy_map_get(p, n, "fixedDelay")))
		return cfgy_fail(p, n, "fault.delay needs 'fixedDelay'");
	if ((err = parse_positive_duration(p, v, "fault.delay.fixedDelay", &out->delay_ms)))
		return err;
	out->delay_percent = 100;
	if ((v = cfgy_map_get(p, n, "percentage")))
		return parse_percentage(p, v, "fault.delay.percentage", &out->delay_percent);
	return 0;
}

int cfg_http_parse_grpc_status(struct cfg_parser *p, yaml_node_t *n, int *out)
{
	unsigned long num;
	const char *s;
	int i, err;

	if (n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	    n->data.scalar.length && n->data.scalar.value[0] >= '0' &&
	    n->data.scalar.value[0] <= '9') {
		if ((err = cfgy_get_uint(p, n, "grpcStatus", 0, CFG_GRPC_STATUSES - 1, &num)))
			return err;
		*out = (int)num;
		return 0;
	}
	if ((err = cfgy_get_str(p, n, "grpcStatus", &s)))
		return err;
	for (i = 0; i < CFG_GRPC_STATUSES; i++)
		if (!strcmp(s, cfg_grpc_status_names[i])) {
			*out = i;
			return 0;
		}
	return cfgy_fail(p, n,
			 "grpcStatus must be a gRPC status (OK, CANCELLED, ... UNAVAILABLE, "
			 "DATA_LOSS, UNAUTHENTICATED) or its code 0 to 16, not '%s'",
			 s);
}

static int parse_abort(struct cfg_parser *p, yaml_node_t *n, struct cfg_http_fault *out)
{
	static const char *const keys[] = {"httpStatus", "grpcStatus", "percentage", NULL};
	yaml_node_t *h, *g, *v;
	unsigned long num;
	int err;

	if ((err = cfgy_check_map(p, n, "fault.abort", keys)))
		return err;
	h = cfgy_map_get(p, n, "httpStatus");
	g = cfgy_map_get(p, n, "grpcStatus");
	if (h && g)
		return cfgy_fail(p, g, "fault.abort takes httpStatus or grpcStatus, not both");
	if (!h && !g)
		return cfgy_fail(p, n, "fault.abort needs 'httpStatus' or 'grpcStatus'");
	if (h) {
		if ((err = cfgy_get_uint(p, h, "fault.abort.httpStatus", 200, 599, &num)))
			return err;
		out->abort_status = (__u16)num;
	}
	if (g && (err = cfg_http_parse_grpc_status(p, g, &out->abort_grpc)))
		return err;
	out->abort_percent = 100;
	if ((v = cfgy_map_get(p, n, "percentage")))
		return parse_percentage(p, v, "fault.abort.percentage", &out->abort_percent);
	return 0;
}

int cfg_http_parse_fault(struct cfg_parser *p, yaml_node_t *n, struct cfg_http_fault *out)
{
	static const char *const keys[] = {"delay", "abort", NULL};
	yaml_node_t *d, *a;
	int err;

	if ((err = cfgy_check_map(p, n, "fault", keys)))
		return err;
	d = cfgy_map_get(p, n, "delay");
	a = cfgy_map_get(p, n, "abort");
	if (!d && !a)
		return cfgy_fail(p, n, "fault needs 'delay' or 'abort'");
	if (d && (err = parse_delay(p, d, out)))
		return err;
	if (a && (err = parse_abort(p, a, out)))
		return err;
	return 0;
}

int cfg_http_parse_rate_limit(struct cfg_parser *p, yaml_node_t *n, struct cfg_http_rate_limit *out)
{
	static const char *const keys[] = {"requestsPerUnit", "unit", "burst", NULL};
	static const char *const units[] = {"second", "minute", "hour"};
	static const __u32 unit_ms[] = {1000, 60000, 3600000};
	unsigned long num;
	yaml_node_t *v;
	int err, unit;

	if ((err = cfgy_check_map(p, n, "rateLimit", keys)))
		return err;
	if (!(v = cfgy_map_get(p, n, "requestsPerUnit")))
		return cfgy_fail(p, n, "rateLimit needs 'requestsPerUnit'");
	if ((err = cfgy_get_uint(p, v, "requestsPerUnit", 1, MAX_RATE, &num)))
		return err;
	out->requests = out->burst = (__u32)num;
	if (!(v = cfgy_map_get(p, n, "unit")))
		return cfgy_fail(p, n, "rateLimit needs 'unit' (second, minute or hour)");
	if ((err = cfg_http_parse_enum(p, v, "rateLimit unit", units, 3, &unit)))
		return err;
	out->unit_ms = unit_ms[unit];
	if ((v = cfgy_map_get(p, n, "burst"))) {
		if ((err = cfgy_get_uint(p, v, "burst", 1, MAX_RATE, &num)))
			return err;
		out->burst = (__u32)num;
	}
	return 0;
}

/* KEY of N, when given, a number from 0 to MAX_COUNT into *OUT. */
static int optional_count(struct cfg_parser *p, yaml_node_t *n, const char *key, __u32 *out)
{
	yaml_node_t *v = cfgy_map_get(p, n, key);
	unsigned long num;
	int err;

	if (!v)
		return 0;
	if ((err = cfgy_get_uint(p, v, key, 0, MAX_COUNT, &num)))
		return err;
	*out = (__u32)num;
	return 0;
}

static int parse_connection_pool(struct cfg_parser *p, yaml_node_t *n,
				 struct cfg_traffic_policy *out)
{
	static const char *const keys[] = {"tcp", "http", NULL};
	static const char *const tcp_keys[] = {"maxConnections", NULL};
	static const char *const http_keys[] = {"http1MaxPendingRequests", "http2MaxRequests",
						"maxRetries", "idleTimeout", NULL};
	yaml_node_t *v, *t;
	int err;

	if ((err = cfgy_check_map(p, n, "connectionPool", keys)))
		return err;
	if ((v = cfgy_map_get(p, n, "tcp")) &&
	    ((err = cfgy_check_map(p, v, "connectionPool.tcp", tcp_keys)) ||
	     (err = optional_count(p, v, "maxConnections", &out->max_connections))))
		return err;
	if (!(v = cfgy_map_get(p, n, "http")))
		return 0;
	if ((err = cfgy_check_map(p, v, "connectionPool.http", http_keys)) ||
	    (err = optional_count(p, v, "http1MaxPendingRequests", &out->max_pending_requests)) ||
	    (err = optional_count(p, v, "http2MaxRequests", &out->max_requests)) ||
	    (err = optional_count(p, v, "maxRetries", &out->max_retries)))
		return err;
	if ((t = cfgy_map_get(p, v, "idleTimeout")) &&
	    (err = cfg_http_parse_duration(p, t, "idleTimeout", &out->idle_timeout_ms)))
		return err;
	return 0;
}

static int parse_outlier(struct cfg_parser *p, yaml_node_t *n, struct cfg_traffic_policy *out)
{
	static const char *const keys[] = {
	    "consecutive5xxErrors", "consecutiveGatewayErrors", "interval",
	    "baseEjectionTime",	    "maxEjectionPercent",	NULL};
	unsigned long num;
	yaml_node_t *v;
	int err;

	if ((err = cfgy_check_map(p, n, "outlierDetection", keys)))
		return err;
	out->outlier = true;
	out->consecutive_5xx = DEFAULT_CONSECUTIVE_5XX;
	out->interval_ms = DEFAULT_INTERVAL_MS;
	out->base_ejection_ms = DEFAULT_BASE_EJECTION_MS;
	out->max_ejection_percent = DEFAULT_MAX_EJECTION_PERCENT;
	if ((err = optional_count(p, n, "consecutive5xxErrors", &out->consecutive_5xx)) ||
	    (err = optional_count(p, n, "consecutiveGatewayErrors", &out->consecutive_gateway)))
		return err;
	if ((v = cfgy_map_get(p, n, "interval")) &&
	    (err = parse_positive_duration(p, v, "interval", &out->interval_ms)))
		return err;
	if ((v = cfgy_map_get(p, n, "baseEjectionTime")) &&
	    (err = parse_positive_duration(p, v, "baseEjectionTime", &out->base_ejection_ms)))
		return err;
	if ((v = cfgy_map_get(p, n, "maxEjectionPercent"))) {
		if ((err = cfgy_get_uint(p, v, "maxEjectionPercent", 0, 100, &num)))
			return err;
		out->max_ejection_percent = (__u32)num;
	}
	return 0;
}

int cfg_parse_traffic_policy(struct cfg_parser *p, yaml_node_t *n, struct cfg_traffic_policy *out)
{
	static const char *const keys[] = {"loadBalancer", "connectionPool", "outlierDetection",
					   NULL};
	static const char *const lb_keys[] = {"simple", NULL};
	yaml_node_t *v, *s;
	int err, lb;

	if ((err = cfgy_check_map(p, n, "trafficPolicy", keys)))
		return err;
	out->lb = CFG_LB_PEAK_EWMA;
	if ((v = cfgy_map_get(p, n, "loadBalancer"))) {
		if ((err = cfgy_check_map(p, v, "loadBalancer", lb_keys)))
			return err;
		if (!(s = cfgy_map_get(p, v, "simple")))
			return cfgy_fail(p, v, "loadBalancer needs 'simple'");
		if ((err = cfg_http_parse_enum(p, s, "loadBalancer.simple", cfg_lb_policy_names, 4,
					       &lb)))
			return err;
		out->lb = (enum cfg_lb_policy)lb;
	}
	if ((v = cfgy_map_get(p, n, "connectionPool")) && (err = parse_connection_pool(p, v, out)))
		return err;
	if ((v = cfgy_map_get(p, n, "outlierDetection")) && (err = parse_outlier(p, v, out)))
		return err;
	return 0;
}
