// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Trace context (proxy/l7/l7_trace.c): B3 multi and single headers and W3C
 * traceparent read, malformed ones ignored, decisions kept, new traces
 * sampled at the configured share, the context written back in the
 * formats it came in; spans as Zipkin v2 JSON. (The engine and the
 * exporter: test_tracing.c.)
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include <strings.h>

#include "proxy/l7/l7_impl.h"
#include "proxy/l7/l7_trace.h"

#define TRACE64	 "463ac35c9f6413ad"
#define TRACE128 "463ac35c9f6413ad48485a3953bb6124"
#define SPAN	 "a2fb4a1d1a96d312"
#define PARENT	 "0020000000000001"

/* Reads the NULL-terminated name, value pairs. */
static void extract(struct l7_trace_in *in, const char *const *kv)
{
	struct l7_header h[16];
	size_t n = 0;

	for (; kv[2 * n]; n++)
		h[n] = (struct l7_header){(char *)kv[2 * n], (char *)kv[2 * n + 1]};
	l7_trace_extract(in, h, n);
}

#define EXTRACT(in, ...) extract(in, (const char *const[]){__VA_ARGS__, NULL})

static void b3_multi_headers_give_ids_and_decision(void **state)
{
	struct l7_trace_in in;

	(void)state;
	EXTRACT(&in, "X-B3-TraceId", TRACE64, "x-b3-spanid", SPAN, "x-b3-parentspanid", PARENT,
		"x-b3-sampled", "1");
	assert_true(in.has_ids);
	assert_false(in.trace128);
	assert_int_equal(in.trace_hi, 0);
	assert_int_equal(in.trace_lo, 0x463ac35c9f6413adull);
	assert_int_equal(in.span_id, 0xa2fb4a1d1a96d312ull);
	assert_int_equal(in.sampled, L7_SAMPLED_YES);
	assert_int_equal(in.formats, L7_TRACE_B3);

	EXTRACT(&in, "x-b3-traceid", TRACE128, "x-b3-spanid", SPAN);
	assert_true(in.has_ids);
	assert_true(in.trace128);
	assert_int_equal(in.trace_hi, 0x463ac35c9f6413adull);
	assert_int_equal(in.trace_lo, 0x48485a3953bb6124ull);
	assert_int_equal(in.sampled, L7_SAMPLED_UNSET); /* deferred: the proxy decides */

	EXTRACT(&in, "x-b3-sampled", "0");
	assert_false(in.has_ids);
	assert_int_equal(in.sampled, L7_SAMPLED_NO);
	EXTRACT(&in, "x-b3-flags", "1", "x-b3-sampled", "0");
	assert_int_equal(in.sampled, L7_SAMPLED_YES); /* debug wins */
	assert_true(in.debug);
}

static void b3_single_header_forms(void **state)
{
	struct l7_trace_in in;

	(void)state;
	EXTRACT(&in, "b3", "0");
	assert_false(in.has_ids);
	assert_int_equal(in.sampled, L7_SAMPLED_NO);
	assert_int_equal(in.formats, L7_TRACE_B3_SINGLE);
	EXTRACT(&in, "b3", "d");
	assert_int_equal(in.sampled, L7_SAMPLED_YES);
	assert_true(in.debug);
	EXTRACT(&in, "b3", TRACE128 "-" SPAN);
	assert_true(in.has_ids);
	assert_true(in.trace128);
	assert_int_equal(in.sampled, L7_SAMPLED_UNSET);
	EXTRACT(&in, "b3", TRACE64 "-" SPAN "-1");
	assert_true(in.has_ids);
	assert_false(in.trace128);
	assert_int_equal(in.sampled, L7_SAMPLED_YES);
	EXTRACT(&in, "b3", TRACE64 "-" SPAN "-0-" PARENT);
	assert_true(in.has_ids);
	assert_int_equal(in.span_id, 0xa2fb4a1d1a96d312ull);
	assert_int_equal(in.sampled, L7_SAMPLED_NO);
}

static void w3c_traceparent_and_tracestate(void **state)
{
	struct l7_trace_in in;

	(void)state;
	EXTRACT(&in, "traceparent", "00-" TRACE128 "-" SPAN "-01", "tracestate", "k=v");
	assert_true(in.has_ids);
	assert_true(in.trace128);
	assert_int_equal(in.sampled, L7_SAMPLED_YES);
	assert_int_equal(in.formats, L7_TRACE_W3C);
	assert_true(in.tracestate);
	EXTRACT(&in, "traceparent", "00-" TRACE128 "-" SPAN "-00");
	assert_int_equal(in.sampled, L7_SAMPLED_NO);
	/* a later version may add fields after a dash */
	EXTRACT(&in, "traceparent", "01-" TRACE128 "-" SPAN "-03-xyz");
	assert_true(in.has_ids);
	assert_int_equal(in.sampled, L7_SAMPLED_YES);
}

/* Each of these counts as no context at all. */
static void malformed_headers_are_ignored(void **state)
{
	static const char *const bad[][2] = {
	    {"x-b3-traceid", "463ac35c9f6413a"}, /* 15 digits */
	    {"x-b3-traceid", "463ac35c9f6413ag"},
	    {"x-b3-traceid", "0000000000000000"},
	    {"b3", TRACE64},				/* no span id */
	    {"b3", TRACE64 "-" SPAN "-2"},		/* sampling 2 */
	    {"b3", TRACE64 "-" SPAN "-1-" PARENT "-x"}, /* five parts */
	    {"b3", TRACE64 "-0000000000000000-1"},
	    {"b3", "463ac35c9f6413ad0-" SPAN}, /* 17 digits */
	    {"b3", ""},
	    {"traceparent", "ff-" TRACE128 "-" SPAN "-01"},   /* version ff */
	    {"traceparent", "00-" TRACE128 "-" SPAN "-01-x"}, /* version 00 has no more */
	    {"traceparent", "00-463AC35C9F6413AD48485A3953BB6124-" SPAN "-01"}, /* uppercase */
	    {"traceparent", "00-00000000000000000000000000000000-" SPAN "-01"},
	    {"traceparent", "00-" TRACE128 "-0000000000000000-01"},
	    {"traceparent", "00-" TRACE64 "-" SPAN "-01"}, /* W3C ids are 128-bit */
	    {"traceparent", "00_" TRACE128 "-" SPAN "-01"},
	};
	struct l7_trace_in in;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		EXTRACT(&in, bad[i][0], bad[i][1], "x-b3-spanid", SPAN);
		if (in.has_ids || in.sampled != L7_SAMPLED_UNSET || in.formats)
			fail_msg("%s: %s was taken", bad[i][0], bad[i][1]);
	}
	/* two traceparents: neither (W3C) */
	EXTRACT(&in, "traceparent", "00-" TRACE128 "-" SPAN "-01", "traceparent",
		"00-" TRACE128 "-" SPAN "-01");
	assert_false(in.has_ids);
	/* a bad b3 leaves good multi headers their say */
	EXTRACT(&in, "b3", "bogus", "x-b3-traceid", TRACE64, "x-b3-spanid", SPAN);
	assert_true(in.has_ids);
	assert_int_equal(in.formats, L7_TRACE_B3);
}

/* The headers as written on, looked up by name. */
struct out {
	struct l7_header *h;
	size_t n, cap;
};

static void out_init(struct out *o, const char *const *kv)
{
	memset(o, 0, sizeof(*o));
	for (; kv && *kv; kv += 2)
		assert_int_equal(l7_header_add(&o->h, &o->n, &o->cap, kv[0], strlen(kv[0]), kv[1],
					       strlen(kv[1])),
				 0);
}

static const char *out_get(const struct out *o, const char *name)
{
	size_t i;

	for (i = 0; i < o->n; i++)
		if (!strcasecmp(o->h[i].name, name))
			return o->h[i].value;
	return NULL;
}

/* IN's headers through extract and begin (SAMPLING), then written on as a
 * request's are (l7_write_headers with its trace) and read back into *O. */
/* The formats a new trace leaves in (tracing.newTraceHeaders). */
static unsigned int new_formats = L7_TRACE_B3;

static void hop(struct l7_trace *t, struct out *o, double sampling, const char *const *kv)
{
	struct l7_buf lines = {0};
	struct l7_trace_in in;
	struct out sent = {0};
	uint64_t rng = 42;
	char *line, *colon, *end;

	out_init(o, kv);
	l7_trace_extract(&in, o->h, o->n);
	l7_trace_begin(t, &in, sampling, new_formats, &rng);
	assert_int_equal(l7_write_headers(&lines, o->h, o->n, NULL, false, t), 0);
	assert_int_equal(l7_buf_append(&lines, "", 1), 0);
	for (line = lines.data; (end = strstr(line, "\r\n")); line = end + 2) {
		*end = 0;
		assert_non_null(colon = strstr(line, ": "));
		assert_int_equal(l7_header_add(&sent.h, &sent.n, &sent.cap, line,
					       (size_t)(colon - line), colon + 2,
					       strlen(colon + 2)),
				 0);
	}
	l7_buf_free(&lines);
	l7_headers_free(o->h, o->n);
	*o = sent;
}

#define HOP(t, o, sampling, ...) hop(t, o, sampling, (const char *const[]){__VA_ARGS__, NULL})

static char *hex(uint64_t v, char *buf)
{
	snprintf(buf, 17, "%016llx", (unsigned long long)v);
	return buf;
}

static void sampled_0_stays_off_at_any_rate(void **state)
{
	struct l7_trace t;
	struct out o;

	(void)state;
	HOP(&t, &o, 1.0, "x-b3-traceid", TRACE64, "x-b3-spanid", SPAN, "x-b3-sampled", "0");
	assert_false(t.sampled);
	assert_string_equal(out_get(&o, "x-b3-sampled"), "0");
	l7_headers_free(o.h, o.n);
	HOP(&t, &o, 1.0, "b3", "0");
	assert_false(t.sampled);
	assert_string_equal(out_get(&o, "b3") + 50, "0"); /* 32 + 1 + 16 + 1 */
	assert_null(out_get(&o, "traceparent"));	  /* it came as b3 only */
	l7_headers_free(o.h, o.n);
	HOP(&t, &o, 1.0, "traceparent", "00-" TRACE128 "-" SPAN "-00");
	assert_false(t.sampled);
	assert_string_equal(out_get(&o, "traceparent") + 53, "00");
	l7_headers_free(o.h, o.n);
}

static void new_traces_are_sampled_at_the_configured_share(void **state)
{
	struct l7_trace_in none = {0};
	struct l7_trace t;
	uint64_t rng = 7;
	int i, yes = 0;

	(void)state;
	for (i = 0; i < 10000; i++) {
		l7_trace_begin(&t, &none, 0.25, L7_TRACE_B3, &rng);
		yes += t.sampled;
	}
	assert_in_range(yes, 2300, 2700);
	for (i = 0; i < 1000; i++) {
		l7_trace_begin(&t, &none, 0, L7_TRACE_B3, &rng);
		assert_false(t.sampled);
		l7_trace_begin(&t, &none, 1, L7_TRACE_B3, &rng);
		assert_true(t.sampled);
		assert_true(t.trace128 && t.trace_hi && t.trace_lo && t.id && !t.parent);
	}
}

/* A new trace leaves in the formats configured (B3 headers by default, as
 * Envoy's Zipkin tracer), and only those. */
static void a_new_trace_goes_out_in_the_configured_formats(void **state)
{
	static const unsigned int settings[] = {L7_TRACE_B3, L7_TRACE_B3 | L7_TRACE_W3C,
						L7_TRACE_W3C, L7_TRACE_B3_SINGLE};
	struct l7_trace t;
	struct out o;
	char id[17], want[128];
	size_t k;

	(void)state;
	for (k = 0; k < sizeof(settings) / sizeof(settings[0]); k++) {
		bool b3 = settings[k] & L7_TRACE_B3, w3c = settings[k] & L7_TRACE_W3C;
		bool single = settings[k] & L7_TRACE_B3_SINGLE;

		new_formats = settings[k];
		HOP(&t, &o, 1.0, "host", "web", "x-b3-parentspanid", PARENT);
		assert_true(t.sampled);
		assert_int_equal(strlen(t.trace_id), 32);
		hex(t.id, id);
		/* a root span; the stray parent is gone whatever goes out */
		assert_null(out_get(&o, "x-b3-parentspanid"));
		if (b3) {
			assert_string_equal(out_get(&o, "x-b3-traceid"), t.trace_id);
			assert_string_equal(out_get(&o, "x-b3-spanid"), id);
			assert_string_equal(out_get(&o, "x-b3-sampled"), "1");
		} else {
			assert_null(out_get(&o, "x-b3-traceid"));
			assert_null(out_get(&o, "x-b3-sampled"));
		}
		snprintf(want, sizeof(want), "00-%s-%s-01", t.trace_id, id);
		if (w3c)
			assert_string_equal(out_get(&o, "traceparent"), want);
		else
			assert_null(out_get(&o, "traceparent"));
		snprintf(want, sizeof(want), "%s-%s-1", t.trace_id, id);
		if (single)
			assert_string_equal(out_get(&o, "b3"), want);
		else
			assert_null(out_get(&o, "b3"));
		assert_string_equal(out_get(&o, "host"), "web");
		l7_headers_free(o.h, o.n);
	}
	new_formats = L7_TRACE_B3;
}

static void context_goes_on_in_the_format_it_came_with_this_span_as_parent(void **state)
{
	struct l7_trace t;
	struct out o;
	char id[17], want[128];

	(void)state;
	HOP(&t, &o, 0, "x-b3-traceid", TRACE64, "x-b3-spanid", SPAN, "x-b3-sampled", "1");
	assert_true(t.sampled); /* its decision, not the share */
	assert_string_equal(t.trace_id, TRACE64);
	assert_string_equal(out_get(&o, "x-b3-traceid"), TRACE64);
	assert_string_equal(out_get(&o, "x-b3-spanid"), hex(t.id, id));
	assert_string_equal(out_get(&o, "x-b3-parentspanid"), SPAN);
	assert_null(out_get(&o, "traceparent"));
	assert_null(out_get(&o, "b3"));
	l7_headers_free(o.h, o.n);

	HOP(&t, &o, 0, "b3", TRACE128 "-" SPAN "-1-" PARENT);
	snprintf(want, sizeof(want), "%s-%s-1-%s", TRACE128, hex(t.id, id), SPAN);
	assert_string_equal(out_get(&o, "b3"), want);
	assert_null(out_get(&o, "x-b3-traceid"));
	l7_headers_free(o.h, o.n);

	HOP(&t, &o, 0, "traceparent", "00-" TRACE128 "-" SPAN "-01", "tracestate", "a=1,b=2");
	snprintf(want, sizeof(want), "00-%s-%s-01", TRACE128, hex(t.id, id));
	assert_string_equal(out_get(&o, "traceparent"), want);
	assert_string_equal(out_get(&o, "tracestate"), "a=1,b=2");
	assert_int_equal(t.parent, 0xa2fb4a1d1a96d312ull);
	assert_null(out_get(&o, "x-b3-traceid"));
	l7_headers_free(o.h, o.n);

	/* a 64-bit B3 trace that also came as W3C: padded there */
	HOP(&t, &o, 0, "x-b3-traceid", TRACE64, "x-b3-spanid", SPAN, "x-b3-flags", "1",
	    "traceparent", "00-" TRACE128 "-" SPAN "-00");
	assert_true(t.sampled && t.debug);
	assert_string_equal(out_get(&o, "x-b3-flags"), "1");
	assert_null(out_get(&o, "x-b3-sampled")); /* debug implies it */
	snprintf(want, sizeof(want), "00-0000000000000000%s-%s-01", TRACE64, hex(t.id, id));
	assert_string_equal(out_get(&o, "traceparent"), want);
	l7_headers_free(o.h, o.n);

	/* a tracestate without a valid traceparent does not go on */
	HOP(&t, &o, 1, "traceparent", "junk", "tracestate", "a=1");
	assert_null(out_get(&o, "tracestate"));
	l7_headers_free(o.h, o.n);
}

/* Fields as l7_trace_emit gives them. */
struct emitted {
	char name[L7_TRACE_FIELDS][32], value[L7_TRACE_FIELDS][128];
	bool unique[L7_TRACE_FIELDS];
	size_t n;
};

static int take_field(void *ctx, const char *name, size_t name_len, const char *value,
		      size_t value_len, bool unique)
{
	struct emitted *e = ctx;

	assert_true(e->n < L7_TRACE_FIELDS);
	assert_int_equal(name_len, strlen(name));
	assert_int_equal(value_len, strlen(value)); /* and a NUL after it */
	snprintf(e->name[e->n], sizeof(e->name[0]), "%s", name);
	snprintf(e->value[e->n], sizeof(e->value[0]), "%s", value);
	e->unique[e->n++] = unique;
	return 0;
}

/* The context as fields (HTTP/2) is the context as lines (HTTP/1.1), field
 * for field, with the ids marked new on every request and the decision not:
 * all three formats under a parent, and a root span's. */
static void context_as_fields_is_the_context_as_lines(void **state)
{
	static const char *const came[][9] = {
	    {"x-b3-traceid", TRACE64, "x-b3-spanid", SPAN, "b3", TRACE64 "-" SPAN "-1",
	     "traceparent", "00-" TRACE128 "-" SPAN "-01"},
	    {"x-b3-flags", "1"},
	};
	struct l7_trace t;
	struct out o;
	size_t k, i;

	(void)state;
	for (k = 0; k < 2; k++) {
		struct emitted e = {0};

		hop(&t, &o, 0, came[k]);
		assert_int_equal(l7_trace_emit(&t, take_field, &e), 0);
		/* x-b3-* (4), b3, traceparent; x-b3-* of a root span, debug (3) */
		assert_int_equal(e.n, k ? 3 : 6);
		for (i = 0; i < e.n; i++) {
			bool decision =
			    !strcmp(e.name[i], "x-b3-sampled") || !strcmp(e.name[i], "x-b3-flags");

			assert_non_null(out_get(&o, e.name[i]));
			assert_string_equal(out_get(&o, e.name[i]), e.value[i]);
			assert_int_equal(e.unique[i], !decision);
		}
		l7_headers_free(o.h, o.n);
	}
}

/* The span's JSON, parsed back: NULL when it is not one JSON object. */
static json_t *zipkin_of(const struct l7_span *s)
{
	struct shunt_json j;
	char *text = NULL;
	size_t len;
	json_t *o;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	json_init(&j, f);
	l7_span_zipkin(s, &j);
	assert_int_equal(fclose(f), 0);
	o = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	free(text);
	return json_is_object(o) ? o : NULL;
}

static void span_is_zipkin_v2_json(void **state)
{
	struct l7_trace t = {.trace_lo = 0x463ac35c9f6413adull, .id = 2, .parent = 1};
	static const __u8 v4[16] = {[10] = 0xff, [11] = 0xff, 10, 1, 0, 1};
	static const __u8 v6[16] = {0xfd, 0, [15] = 1};
	struct l7_span s;
	json_t *j, *e;

	(void)state;
	l7_span_init(&s, &t, L7_SPAN_CLIENT, 1700000000123456ull, 0);
	s.name = l7_span_str(&s, "web.shop.svc.cluster.local:80/*");
	l7_span_endpoint(&s.local, &s, "client.shop", v4, 0);
	l7_span_endpoint(&s.remote, &s, "a.shop", v6, 8080);
	s.has_remote = true;
	l7_span_tag(&s, "http.method", "GET");
	l7_span_tag(&s, "http.path", "/\x01\xff"); /* JSON takes UTF-8 only */
	l7_span_tag(&s, "http.url", "/a\"b\\c");   /* quoted as JSON strings need */
	j = zipkin_of(&s);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "traceId")), TRACE64);
	assert_string_equal(json_string_value(json_object_get(j, "id")), "0000000000000002");
	assert_string_equal(json_string_value(json_object_get(j, "parentId")), "0000000000000001");
	assert_string_equal(json_string_value(json_object_get(j, "kind")), "CLIENT");
	assert_int_equal(json_integer_value(json_object_get(j, "timestamp")), 1700000000123456ll);
	assert_int_equal(json_integer_value(json_object_get(j, "duration")), 1); /* at least 1 */
	e = json_object_get(j, "localEndpoint");
	assert_string_equal(json_string_value(json_object_get(e, "serviceName")), "client.shop");
	assert_string_equal(json_string_value(json_object_get(e, "ipv4")), "10.1.0.1");
	assert_null(json_object_get(e, "port"));
	e = json_object_get(j, "remoteEndpoint");
	assert_string_equal(json_string_value(json_object_get(e, "ipv6")), "fd00::1");
	assert_int_equal(json_integer_value(json_object_get(e, "port")), 8080);
	e = json_object_get(j, "tags");
	assert_string_equal(json_string_value(json_object_get(e, "http.method")), "GET");
	assert_string_equal(json_string_value(json_object_get(e, "http.path")), "/??");
	assert_string_equal(json_string_value(json_object_get(e, "http.url")), "/a\"b\\c");
	assert_int_equal(json_object_size(e), 3);
	json_decref(j);
	/* a root span has no parentId; a 128-bit trace id has 32 digits; debug */
	t.parent = 0;
	t.trace_hi = 0xa;
	t.trace128 = t.debug = true;
	l7_span_init(&s, &t, L7_SPAN_SERVER, 1, 5);
	j = zipkin_of(&s);
	assert_null(json_object_get(j, "parentId"));
	assert_string_equal(json_string_value(json_object_get(j, "kind")), "SERVER");
	assert_string_equal(json_string_value(json_object_get(j, "traceId")),
			    "000000000000000a" TRACE64);
	assert_true(json_is_true(json_object_get(j, "debug")));
	assert_string_equal(json_string_value(json_object_get(j, "name")), "unknown");
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(b3_multi_headers_give_ids_and_decision),
	    cmocka_unit_test(b3_single_header_forms),
	    cmocka_unit_test(w3c_traceparent_and_tracestate),
	    cmocka_unit_test(context_as_fields_is_the_context_as_lines),
	    cmocka_unit_test(malformed_headers_are_ignored),
	    cmocka_unit_test(sampled_0_stays_off_at_any_rate),
	    cmocka_unit_test(new_traces_are_sampled_at_the_configured_share),
	    cmocka_unit_test(a_new_trace_goes_out_in_the_configured_formats),
	    cmocka_unit_test(context_goes_on_in_the_format_it_came_with_this_span_as_parent),
	    cmocka_unit_test(span_is_zipkin_v2_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
