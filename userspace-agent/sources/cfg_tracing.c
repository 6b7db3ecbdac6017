// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tracing: the mesh-wide tracing settings (docs/telemetry.md "Tracing"):
 * the share of new traces sampled and the Zipkin collector the node
 * proxies send their spans to, with the exporter's bounds, and the headers
 * a new trace leaves in; and a workload's own share of new traces.
 */
#include <stdlib.h>
#include <string.h>

#include "cfg_parse.h"

/* http:// or https://, then a host; no spaces or control characters. */
static int parse_url(struct cfg_parser *p, yaml_node_t *n, const char **out)
{
	const char *s, *c, *rest;
	int err;

	if ((err = cfgy_get_str(p, n, "tracing.zipkin.url", &s)))
		return err;
	rest = !strncmp(s, "http://", 7) ? s + 7 : !strncmp(s, "https://", 8) ? s + 8 : NULL;
	if (!rest || !*rest || *rest == '/')
		return cfgy_fail(p, n,
				 "tracing.zipkin.url must be http://HOST[:PORT]/PATH (e.g. "
				 "http://zipkin:9411/api/v2/spans), not '%s'",
				 s);
	for (c = s; *c; c++)
		if ((unsigned char)*c <= 0x20 || *c == 0x7f)
			return cfgy_fail(p, n,
					 "tracing.zipkin.url holds a space or control character");
	*out = s;
	return 0;
}

static int parse_bound(struct cfg_parser *p, yaml_node_t *n, const char *key, const char *what,
		       unsigned long max, __u32 *out)
{
	yaml_node_t *v = cfgy_map_get(p, n, key);
	unsigned long u;
	int err;

	if (!v)
		return 0;
	if ((err = cfgy_get_uint(p, v, what, 1, max, &u)))
		return err;
	*out = (__u32)u;
	return 0;
}

static int parse_time(struct cfg_parser *p, yaml_node_t *n, const char *key, const char *what,
		      __u32 *out)
{
	yaml_node_t *v = cfgy_map_get(p, n, key);
	int err;

	if (!v)
		return 0;
	if ((err = cfg_http_parse_duration(p, v, what, out)))
		return err;
	if (!*out)
		return cfgy_fail(p, v, "%s must be at least 1ms", what);
	return 0;
}

static int parse_zipkin(struct cfg_parser *p, yaml_node_t *n, struct cfg_tracing *out)
{
	static const char *const keys[] = {"url", "interval", "timeout", "batch", "queue", NULL};
	yaml_node_t *v;
	int err;

	if ((err = cfgy_check_map(p, n, "tracing.zipkin", keys)))
		return err;
	if (!(v = cfgy_map_get(p, n, "url")))
		return cfgy_fail(p, n,
				 "tracing.zipkin needs 'url' (the collector's /api/v2/spans)");
	if ((err = parse_url(p, v, &out->zipkin_url)) ||
	    (err = parse_time(p, n, "interval", "tracing.zipkin.interval", &out->interval_ms)) ||
	    (err = parse_time(p, n, "timeout", "tracing.zipkin.timeout", &out->timeout_ms)) ||
	    (err = parse_bound(p, n, "batch", "tracing.zipkin.batch", CFG_TRACING_BATCH_MAX,
			       &out->max_batch)) ||
	    (err = parse_bound(p, n, "queue", "tracing.zipkin.queue", CFG_TRACING_QUEUE_MAX,
			       &out->max_queue)))
		return err;
	if (out->max_batch > out->max_queue)
		return cfgy_fail(p, n, "tracing.zipkin.batch (%u) is larger than its queue (%u)",
				 out->max_batch, out->max_queue);
	return 0;
}

/* newTraceHeaders: a list of b3 (x-b3-*), b3single (b3) and w3c
 * (traceparent), none twice, at least one. */
static int parse_new_trace_headers(struct cfg_parser *p, yaml_node_t *n, unsigned int *out)
{
	const char *what = "tracing.newTraceHeaders", *s, *name;
	size_t count, i;
	yaml_node_t *item;
	unsigned int f;
	int err;

	if ((err = cfgy_get_seq(p, n, what, &count)))
		return err;
	if (!count)
		return cfgy_fail(p, n, "%s needs at least one of b3, b3single and w3c", what);
	for (*out = 0, i = 0; i < count; i++) {
		item = cfgy_seq_item(p, n, i);
		if ((err = cfgy_get_str(p, item, what, &s)))
			return err;
		for (f = 0; (name = cfg_trace_header_name(f)) && strcmp(s, name); f++)
			;
		if (!name)
			return cfgy_fail(p, item, "%s items are b3, b3single or w3c, not '%s'",
					 what, s);
		if (*out & (1u << f))
			return cfgy_fail(p, item, "%s names '%s' twice", what, s);
		*out |= 1u << f;
	}
	return 0;
}

int cfg_parse_tracing(struct cfg_parser *p, yaml_node_t *n, struct cfg_tracing *out)
{
	static const char *const keys[] = {"sampling", "newTraceHeaders", "zipkin", NULL};
	yaml_node_t *v;
	int err;

	*out = (struct cfg_tracing){
	    .enabled = true,
	    .sampling = CFG_TRACING_SAMPLING,
	    .new_trace_headers = CFG_TRACING_HEADERS,
	    .interval_ms = CFG_TRACING_INTERVAL,
	    .timeout_ms = CFG_TRACING_TIMEOUT,
	    .max_batch = CFG_TRACING_BATCH,
	    .max_queue = CFG_TRACING_QUEUE,
	    .origin = cfgy_origin_of(p, n),
	};
	if ((err = cfgy_check_map(p, n, "tracing", keys)))
		return err;
	if ((v = cfgy_map_get(p, n, "sampling")) &&
	    (err = cfgy_get_share(p, v, "tracing.sampling", &out->sampling)))
		return err;
	if ((v = cfgy_map_get(p, n, "newTraceHeaders")) &&
	    (err = parse_new_trace_headers(p, v, &out->new_trace_headers)))
		return err;
	if (!(v = cfgy_map_get(p, n, "zipkin")))
		return cfgy_fail(p, n, "tracing needs 'zipkin' (where the spans go)");
	return parse_zipkin(p, v, out);
}

int cfg_parse_workload_tracing(struct cfg_parser *p, yaml_node_t *n,
			       struct cfg_workload_tracing *out)
{
	static const char *const keys[] = {"sampling", NULL};
	yaml_node_t *v;
	int err;

	out->origin = cfgy_origin_of(p, n);
	if ((err = cfgy_check_map(p, n, "a workload's tracing", keys)))
		return err;
	if (!(v = cfgy_map_get(p, n, "sampling")))
		return cfgy_fail(p, n, "a workload's tracing needs 'sampling' (0 to 1)");
	if ((err = cfgy_get_share(p, v, "tracing.sampling", &out->sampling)))
		return err;
	out->has_sampling = true;
	return 0;
}
