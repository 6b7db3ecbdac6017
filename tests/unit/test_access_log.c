// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Access log lines (proxy/access_log.c, docs/telemetry.md "Access logs"):
 * every documented field with its JSON type, nothing else; strings that
 * need escaping or are not UTF-8; sampling at its bounds and in between;
 * trace ids from W3C and B3 headers; the accessLog config with a
 * workload's override.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "model/mesh_config.h"
#include "proxy/access_log.h"

static const struct cfg_workload client = {
    .name = "client", .ns = "shop", .service_account = "buyer"};
static const struct cfg_workload server = {.name = "web-1", .ns = "shop", .service_account = "web"};
static const struct cfg_service web = {.name = "web", .ns = "shop"};

/* The documented fields (docs/telemetry.md) in order, with their types:
 * s string, S string or null, i integer, I integer or null, n number. */
static const struct {
	const char *name;
	char type;
} fields[] = {
    {"start_time", 's'},
    {"node", 's'},
    {"reporter", 's'},
    {"protocol", 's'},
    {"method", 'S'},
    {"authority", 'S'},
    {"path", 'S'},
    {"response_code", 'i'},
    {"response_flags", 's'},
    {"grpc_status", 'I'},
    {"bytes_received", 'i'},
    {"bytes_sent", 'i'},
    {"duration_ms", 'n'},
    {"upstream_host", 'S'},
    {"upstream_service", 'S'},
    {"source_workload", 's'},
    {"source_namespace", 's'},
    {"source_principal", 's'},
    {"destination_workload", 's'},
    {"destination_namespace", 's'},
    {"destination_principal", 's'},
    {"connection_security_policy", 's'},
    {"trace_id", 'S'},
    {"user_agent", 'S'},
    {"request_id", 'S'},
    {"outcome", 's'},
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static struct istio_peer_labels labels(enum istio_reporter rep, bool mtls)
{
	struct istio_peers p = {.reporter = rep,
				.src = &client,
				.dst = &server,
				.service = &web,
				.trust_domain = "td.example",
				.mtls = mtls};
	struct istio_peer_labels pl;

	istio_peer_labels(&p, &pl);
	return pl;
}

static struct access_log_entry http_entry(const struct istio_peer_labels *pl)
{
	return (struct access_log_entry){
	    .start = {.tv_sec = 1764787200, .tv_nsec = 123456789}, /* 2025-12-03T18:40:00.123 */
	    .node = "n1",
	    .protocol = "HTTP/1.1",
	    .method = "GET",
	    .authority = "web.shop",
	    .path = "/api/items?id=7",
	    .user_agent = "curl/7.88.1",
	    .request_id = "req-1",
	    .trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
	    .response_code = 200,
	    .grpc_status = -1,
	    .outcome = SHUNT_OUT_ALLOWED,
	    .bytes_received = 300,
	    .bytes_sent = 1000,
	    .duration_us = 31250,
	    .upstream_host = "10.100.1.12:8080",
	    .peers = pl,
	    .has_service = true,
	};
}

/* E's line, parsed back; checks it is one line ending in '\n', every
 * documented field of its type, in order, and nothing else. */
static json_t *line_of(const struct access_log_entry *e)
{
	static char buf[ACCESS_LOG_LINE_MAX];
	int n = access_log_format(e, buf, sizeof(buf));
	json_error_t err;
	const char *key;
	json_t *o, *v;
	size_t i = 0;

	assert_true(n > 0);
	assert_int_equal(buf[n - 1], '\n');
	assert_null(memchr(buf, '\n', (size_t)n - 1));
	o = json_loadb(buf, (size_t)n, 0, &err);
	if (!o)
		fail_msg("not JSON: %s: %.*s", err.text, n, buf);
	assert_int_equal(json_object_size(o), NFIELDS);
	json_object_foreach(o, key, v)
	{
		assert_string_equal(key, fields[i].name);
		switch (fields[i].type) {
		case 's':
			assert_true(json_is_string(v));
			break;
		case 'S':
			assert_true(json_is_string(v) || json_is_null(v));
			break;
		case 'i':
			assert_true(json_is_integer(v));
			break;
		case 'I':
			assert_true(json_is_integer(v) || json_is_null(v));
			break;
		default:
			assert_true(json_is_real(v)); /* 31.0, never 31: one type */
		}
		i++;
	}
	return o;
}

static const char *str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static long long num(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

static void http_line_has_every_field_with_its_type_and_value(void **state)
{
	struct istio_peer_labels pl = labels(ISTIO_SOURCE, false);
	struct access_log_entry e = http_entry(&pl);
	json_t *o = line_of(&e);

	(void)state;
	assert_string_equal(str(o, "start_time"), "2025-12-03T18:40:00.123Z");
	assert_string_equal(str(o, "node"), "n1");
	assert_string_equal(str(o, "reporter"), "source");
	assert_string_equal(str(o, "protocol"), "HTTP/1.1");
	assert_string_equal(str(o, "method"), "GET");
	assert_string_equal(str(o, "authority"), "web.shop");
	assert_string_equal(str(o, "path"), "/api/items?id=7");
	assert_int_equal(num(o, "response_code"), 200);
	assert_string_equal(str(o, "response_flags"), "-");
	assert_true(json_is_null(json_object_get(o, "grpc_status")));
	assert_int_equal(num(o, "bytes_received"), 300);
	assert_int_equal(num(o, "bytes_sent"), 1000);
	assert_float_equal(json_real_value(json_object_get(o, "duration_ms")), 31.25, 1e-9);
	assert_string_equal(str(o, "upstream_host"), "10.100.1.12:8080");
	assert_string_equal(str(o, "upstream_service"), "web.shop.svc.cluster.local");
	assert_string_equal(str(o, "source_workload"), "client");
	assert_string_equal(str(o, "source_namespace"), "shop");
	assert_string_equal(str(o, "source_principal"), "spiffe://td.example/ns/shop/sa/buyer");
	assert_string_equal(str(o, "destination_workload"), "web-1");
	assert_string_equal(str(o, "destination_namespace"), "shop");
	assert_string_equal(str(o, "destination_principal"), "spiffe://td.example/ns/shop/sa/web");
	assert_string_equal(str(o, "connection_security_policy"), "unknown");
	assert_string_equal(str(o, "trace_id"), "4bf92f3577b34da6a3ce929d0e0e4736");
	assert_string_equal(str(o, "user_agent"), "curl/7.88.1");
	assert_string_equal(str(o, "request_id"), "req-1");
	assert_string_equal(str(o, "outcome"), "allowed");
	json_decref(o);
}

static void proxy_answers_carry_envoys_flags_and_grpc_status(void **state)
{
	struct istio_peer_labels pl = labels(ISTIO_SOURCE, false);
	struct access_log_entry e = http_entry(&pl);
	json_t *o;

	(void)state;
	e.response_code = 503;
	e.outcome = SHUNT_OUT_L7_OVERFLOW_PENDING;
	e.upstream_host = NULL;
	e.protocol = "HTTP/2";
	e.grpc_status = 14;
	o = line_of(&e);
	assert_int_equal(num(o, "response_code"), 503);
	assert_string_equal(str(o, "response_flags"), "UO");
	assert_int_equal(num(o, "grpc_status"), 14);
	assert_true(json_is_null(json_object_get(o, "upstream_host")));
	assert_string_equal(str(o, "outcome"), "overflow_max_pending");
	json_decref(o);
}

/* The line's text has NEEDLE. */
static void assert_line_has(const struct access_log_entry *e, const char *needle)
{
	static char buf[ACCESS_LOG_LINE_MAX];
	int n = access_log_format(e, buf, sizeof(buf));

	assert_true(n > 0);
	buf[n] = 0;
	if (!strstr(buf, needle))
		fail_msg("no %s in %s", needle, buf);
}

/* Numbers are written without printf: every digit, each power of ten's
 * edge, the zeros of a fraction. */
static void numbers_are_written_digit_for_digit(void **state)
{
	static const unsigned long long values[] = {0,
						    7,
						    9,
						    10,
						    42,
						    99,
						    100,
						    101,
						    999,
						    1000,
						    65535,
						    1234567,
						    4294967296ull,
						    999999999999999999ull,
						    9223372036854775807ull};
	struct istio_peer_labels pl = labels(ISTIO_SOURCE, false);
	struct access_log_entry e = http_entry(&pl);
	char want[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		e.bytes_sent = values[i];
		snprintf(want, sizeof(want), "\"bytes_sent\":%llu,", values[i]);
		assert_line_has(&e, want);
		e.duration_us = values[i] % 100000000000ull;
		snprintf(want, sizeof(want), "\"duration_ms\":%llu.%03llu,",
			 (unsigned long long)e.duration_us / 1000,
			 (unsigned long long)e.duration_us % 1000);
		assert_line_has(&e, want);
	}
	e.start.tv_nsec = 7000000;
	assert_line_has(&e, ":00.007Z\"");
	e.start.tv_nsec = 0;
	assert_line_has(&e, ":00.000Z\"");
	e.grpc_status = 14;
	assert_line_has(&e, "\"grpc_status\":14,");
	e.response_code = 503;
	assert_line_has(&e, "\"response_code\":503,");
}

static void tcp_line_has_null_http_fields_and_mutual_tls(void **state)
{
	struct istio_peer_labels pl = labels(ISTIO_DESTINATION, true);
	struct access_log_entry e = {
	    .start = {.tv_sec = 0, .tv_nsec = 999999999},
	    .node = "n2",
	    .protocol = "TCP",
	    .grpc_status = -1,
	    .outcome = SHUNT_OUT_CLOSED,
	    .bytes_received = 91,
	    .bytes_sent = 50212,
	    .duration_us = 2000,
	    .upstream_host = "[fd00::12]:8080",
	    .reporter = ISTIO_DESTINATION,
	    .peers = &pl,
	};
	json_t *o = line_of(&e);

	(void)state;
	assert_string_equal(str(o, "start_time"), "1970-01-01T00:00:00.999Z");
	assert_string_equal(str(o, "protocol"), "TCP");
	assert_string_equal(str(o, "reporter"), "destination");
	assert_string_equal(str(o, "connection_security_policy"), "mutual_tls");
	assert_int_equal(num(o, "response_code"), 0);
	assert_float_equal(json_real_value(json_object_get(o, "duration_ms")), 2.0, 1e-9);
	assert_string_equal(str(o, "upstream_host"), "[fd00::12]:8080");
	static const char *const nulls[] = {"method",	   "authority",	       "path",
					    "grpc_status", "upstream_service", "trace_id",
					    "user_agent",  "request_id"};
	for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
		assert_true(json_is_null(json_object_get(o, nulls[i])));
	json_decref(o);
}

/* The proxy makes the shared part of a line once per peers and endpoint:
 * the line made with it is the line made without it, escaping included. */
static void a_line_with_its_shared_part_kept_is_the_same_line(void **state)
{
	static char whole[ACCESS_LOG_LINE_MAX], parted[ACCESS_LOG_LINE_MAX], part[1024];
	struct istio_peer_labels pl = labels(ISTIO_DESTINATION, true);
	struct access_log_entry e = http_entry(&pl);
	int n, m, k;

	(void)state;
	e.reporter = ISTIO_DESTINATION;
	snprintf(pl.src_principal, sizeof(pl.src_principal), "spiffe://td/ns/a\"b/sa/\x01é");
	n = access_log_format(&e, whole, sizeof(whole));
	k = access_log_format_shared(&e, part, sizeof(part));
	assert_true(n > 0 && k > 0);
	assert_true(k < n);
	assert_memory_equal(part, ",\"upstream_host\":\"10.100.1.12:8080\"", 34);
	e.shared = part;
	e.shared_len = (size_t)k;
	e.peers = NULL; /* not read once the part is there */
	e.upstream_host = NULL;
	m = access_log_format(&e, parted, sizeof(parted));
	assert_int_equal(m, n);
	assert_memory_equal(parted, whole, (size_t)n);
	assert_int_equal(
	    access_log_format_shared(&(struct access_log_entry){.peers = &pl}, part, 40), -ENOSPC);
}

static void odd_paths_and_headers_come_back_as_sent(void **state)
{
	struct istio_peer_labels pl = labels(ISTIO_SOURCE, false);
	struct access_log_entry e = http_entry(&pl);
	json_t *o;

	(void)state;
	e.path = "/a\"b\\c\x01\td\ne/caf\xc3\xa9/\xe2\x82\xac?q=</script>";
	e.user_agent = "ua \"quoted\" \\ back\x7f";
	e.authority = "h\x1fost";
	o = line_of(&e);
	assert_string_equal(str(o, "path"), e.path);
	assert_string_equal(str(o, "user_agent"), e.user_agent);
	assert_string_equal(str(o, "authority"), e.authority);
	json_decref(o);
}

/* Each byte that needs escaping (or is UTF-8) at each place of a string
 * longer than the eight bytes the writer checks at a time: it comes back
 * as sent, and so does the plain rest around it. */
static void a_byte_to_escape_anywhere_in_a_long_string_comes_back(void **state)
{
	static const char *const odd[] = {"\"", "\\", "\n", "\x01", "\x1f", "\x7f", "\xc3\xa9"};
	struct istio_peer_labels pl = labels(ISTIO_SOURCE, false);
	struct access_log_entry e = http_entry(&pl);
	char path[64];
	size_t i, at;
	json_t *o;

	(void)state;
	for (i = 0; i < sizeof(odd) / sizeof(odd[0]); i++)
		for (at = 0; at < 20; at++) {
			snprintf(path, sizeof(path), "/%.*s%s%s", (int)at,
				 "abcdefghijklmnopqrstuvwxyz", odd[i], "ABCDEFGHIJKLMNOP");
			e.path = path;
			o = line_of(&e);
			assert_string_equal(str(o, "path"), path);
			json_decref(o);
		}
}

static void bytes_that_are_not_utf8_become_replacement_characters(void **state)
{
	struct istio_peer_labels pl = labels(ISTIO_SOURCE, false);
	struct access_log_entry e = http_entry(&pl);
	json_t *o;

	(void)state;
	/* a lone continuation byte, 0xff, an overlong '/', a surrogate, a cut sequence */
	e.path = "/x\x80y\xff\xc0\xafz\xed\xa0\x80w\xe2\x82";
	o = line_of(&e);
	assert_string_equal(str(o, "path"), "/x\xef\xbf\xbdy\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdz"
					    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdw\xef\xbf\xbd"
					    "\xef\xbf\xbd");
	json_decref(o);
}

static void long_strings_are_cut_between_characters(void **state)
{
	struct istio_peer_labels pl = labels(ISTIO_SOURCE, false);
	struct access_log_entry e = http_entry(&pl);
	size_t n = 3 * ACCESS_LOG_PATH_MAX, i;
	char *path = malloc(n + 1), *ua = malloc(n + 1);
	const char *got;
	json_t *o;

	(void)state;
	assert_non_null(path);
	assert_non_null(ua);
	path[0] = '/';
	for (i = 1; i + 2 <= n; i += 2)
		memcpy(path + i, "\xc3\xa9", 2); /* é: 2 bytes, never split */
	path[i] = 0;
	memset(ua, 'u', n);
	ua[n] = 0;
	e.path = path;
	e.user_agent = e.authority = e.request_id = ua;
	o = line_of(&e);
	got = str(o, "path");
	assert_true(strlen(got) <= ACCESS_LOG_PATH_MAX && strlen(got) >= ACCESS_LOG_PATH_MAX - 1);
	assert_int_equal(strncmp(got, path, strlen(got)), 0);
	assert_int_equal(strlen(str(o, "user_agent")), 1024);
	assert_int_equal(strlen(str(o, "request_id")), 256);
	json_decref(o);
	/* The longest escaping: every byte a control character (\u0001). */
	memset(path, 1, n);
	path[n] = 0;
	memset(ua, 1, n);
	o = line_of(&e);
	assert_int_equal(strlen(str(o, "path")), ACCESS_LOG_PATH_MAX);
	assert_int_equal(strlen(str(o, "authority")), 1024);
	json_decref(o);
	free(path);
	free(ua);
}

static void sampling_zero_logs_nothing_one_everything_and_between_its_share(void **state)
{
	double credit = 0;
	char id[32];
	int i, n0 = 0, n1 = 0, quarter = 0, by_id = 0;

	(void)state;
	for (i = 0; i < 10000; i++) {
		snprintf(id, sizeof(id), "req-%d", i);
		n0 += access_log_sample(0, i % 2 ? id : NULL, &credit);
		n1 += access_log_sample(1, i % 2 ? id : NULL, &credit);
	}
	assert_int_equal(n0, 0);
	assert_int_equal(n1, 10000);
	credit = 0;
	for (i = 0; i < 10000; i++)
		quarter += access_log_sample(0.25, NULL, &credit);
	assert_int_equal(quarter, 2500); /* the counter: exactly the share */
	for (i = 0; i < 10000; i++) {
		snprintf(id, sizeof(id), "%08x-%04x", (unsigned)i * 2654435761u, (unsigned)i);
		by_id += access_log_sample(0.25, id, &credit);
	}
	assert_in_range(by_id, 2300, 2700); /* the hash: the share, give or take */
	/* A request id decides alike wherever it is seen. */
	for (i = 0; i < 100; i++) {
		double c1 = 0, c2 = 0.99;

		snprintf(id, sizeof(id), "id-%d", i);
		assert_int_equal(access_log_sample(0.5, id, &c1), access_log_sample(0.5, id, &c2));
	}
}

static void trace_ids_come_from_w3c_and_b3_headers(void **state)
{
	char out[33];

	(void)state;
	assert_string_equal(
	    access_log_trace_id("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", "x", "y",
				out),
	    "4bf92f3577b34da6a3ce929d0e0e4736");
	assert_string_equal(
	    access_log_trace_id(NULL, "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1", NULL,
				out),
	    "80f198ee56343ba864fe8b2a57d3eff7");
	assert_string_equal(
	    access_log_trace_id(NULL, "a3ce929d0e0e4736-00f067aa0ba902b7", NULL, out),
	    "a3ce929d0e0e4736");
	assert_string_equal(access_log_trace_id(NULL, NULL, "463ac35c9f6413ad", out),
			    "463ac35c9f6413ad");
	/* only a sampling decision, all zeros, not hex, bad lengths: none */
	assert_null(access_log_trace_id(NULL, "0", NULL, out));
	assert_null(access_log_trace_id("00-00000000000000000000000000000000-00f067aa0ba902b7-01",
					NULL, "00000000000000000000000000000000", out));
	assert_null(access_log_trace_id("00-4bf92f3577b34da6a3ce929d0e0e473z-00f067aa0ba902b7-01",
					NULL, "463ac35c9f6413a", out));
	/* a bad traceparent falls back to B3 */
	assert_string_equal(access_log_trace_id("garbage", NULL, "463AC35C9F6413AD", out),
			    "463ac35c9f6413ad");
}

static void a_workload_overrides_the_mesh_setting(void **state)
{
	struct mesh_config cfg = {.access_log = {.enabled = false, .sampling = 1}};
	struct cfg_workload on = {.access_log = {.has_enabled = true, .enabled = true}};
	struct cfg_workload off = {.access_log = {.has_enabled = true, .enabled = false}};
	struct cfg_workload some = {.access_log = {.has_sampling = true, .sampling = 0.1}};
	struct cfg_workload none = {0};
	double rate;

	(void)state;
	assert_false(cfg_access_log_for(&cfg, &none, &rate));
	assert_false(cfg_access_log_for(&cfg, NULL, &rate));
	assert_true(cfg_access_log_for(&cfg, &on, &rate));
	assert_float_equal(rate, 1, 0);
	cfg.access_log.enabled = true;
	assert_true(cfg_access_log_for(&cfg, &none, &rate));
	assert_false(cfg_access_log_for(&cfg, &off, &rate));
	assert_true(cfg_access_log_for(&cfg, &some, &rate));
	assert_float_equal(rate, 0.1, 0);
	some.access_log.sampling = 0;
	assert_false(cfg_access_log_for(&cfg, &some, &rate)); /* sampling 0: off */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(http_line_has_every_field_with_its_type_and_value),
	    cmocka_unit_test(proxy_answers_carry_envoys_flags_and_grpc_status),
	    cmocka_unit_test(tcp_line_has_null_http_fields_and_mutual_tls),
	    cmocka_unit_test(numbers_are_written_digit_for_digit),
	    cmocka_unit_test(a_line_with_its_shared_part_kept_is_the_same_line),
	    cmocka_unit_test(odd_paths_and_headers_come_back_as_sent),
	    cmocka_unit_test(a_byte_to_escape_anywhere_in_a_long_string_comes_back),
	    cmocka_unit_test(bytes_that_are_not_utf8_become_replacement_characters),
	    cmocka_unit_test(long_strings_are_cut_between_characters),
	    cmocka_unit_test(sampling_zero_logs_nothing_one_everything_and_between_its_share),
	    cmocka_unit_test(trace_ids_come_from_w3c_and_b3_headers),
	    cmocka_unit_test(a_workload_overrides_the_mesh_setting),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
