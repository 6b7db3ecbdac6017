// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The model file's lines (model/model_json_seq.c): a header, then one line
 * per list item, read one line at a time (the JSON the reader holds does not
 * grow with the model); a file cut short, a bad line in the middle or an old
 * one-document file is refused with the line and the item, leaving an empty
 * config. Run from the repository root.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "model/mesh_config.h"
#include "model/model_json.h"
#include "sources/yaml_source.h"

/* Two items (at least) in every list. */
static const char *const every_list_yaml =
    "apiVersion: shunt.dev/v1\n"
    "nodes:\n"
    "  - {name: n1, proxy: {outbound: \"10.100.0.1:15001\", inbound: \"10.99.0.1:15008\"}}\n"
    "  - {name: n2}\n"
    "namespaces: [{name: shop, labels: {team: a}}, {name: ops}]\n"
    "workloads:\n"
    "  - {name: web-1, namespace: shop, serviceAccount: web, labels: {app: web}, node: n1,\n"
    "     addresses: [10.100.1.12]}\n"
    "  - {name: client, namespace: shop, serviceAccount: client, labels: {app: client},\n"
    "     node: n2, addresses: [10.100.2.13]}\n"
    "services:\n"
    "  - {name: web, namespace: shop, virtualIPs: [10.96.1.10], selector: {app: web},\n"
    "     ports: [{port: 80, targetPort: 8080, appProtocol: http}],\n"
    "     trafficPolicy: {loadBalancer: {simple: RANDOM}}}\n"
    "  - {name: web-v2, namespace: shop, virtualIPs: [10.96.1.11],\n"
    "     ports: [{port: 80, targetPort: 8080}], backends: [{workload: web-1}]}\n"
    "policies:\n"
    "  - {name: web-in, namespace: shop, podSelector: {matchLabels: {app: web}},\n"
    "     ingress: [{from: [{podSelector: {matchLabels: {app: client}}}], ports: [{port: "
    "8080}]}]}\n"
    "  - {name: deny-ops, namespace: ops, podSelector: {}, egressDeny: [{to: [{ipBlock: "
    "{cidr: 10.0.0.0/8}}]}]}\n"
    "httpRoutes:\n"
    "  - {name: web, namespace: shop, parentRefs: [{name: web, port: 80}],\n"
    "     rules: [{matches: [{path: {value: /v2}}], backendRefs: [{name: web-v2, port: 80}]}]}\n"
    "  - {name: web-b, namespace: shop, parentRefs: [{name: web-v2, port: 80}],\n"
    "     rules: [{backendRefs: [{name: web, port: 80}]}]}\n"
    "authorizationPolicies:\n"
    "  - {name: readers, namespace: shop, targetRefs: [{name: web}],\n"
    "     rules: [{to: [{operation: {methods: [GET]}}]}]}\n"
    "  - {name: nobody, namespace: shop, targetRefs: [{name: web-v2}]}\n";

static const char *const lists[] = {
    "nodes",	  "namespaces",		  "workloads", "services", "policies",
    "httpRoutes", "authorizationPolicies"};
#define NLISTS (sizeof(lists) / sizeof(lists[0]))

static void parse_every_list(struct mesh_config *cfg)
{
	struct cfg_error err = {0};

	if (mesh_config_parse(cfg, "every.yaml", every_list_yaml, strlen(every_list_yaml), &err))
		fail_msg("%s", err.msg);
}

static char *model_text(size_t *len)
{
	struct mesh_config cfg;
	char *text;

	parse_every_list(&cfg);
	assert_int_equal(mesh_model_to_json(&cfg, 7, &text, len), 0);
	mesh_config_free(&cfg);
	return text;
}

/* TEXT's lines (NUL-terminated in place), their number in *N. */
static char **split_lines(char *text, size_t *n)
{
	char **lines = calloc(strlen(text) + 1, sizeof(*lines)), *save = NULL, *l;

	assert_non_null(lines);
	*n = 0;
	for (l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		lines[(*n)++] = l;
	return lines;
}

/* Offset in TEXT of line LINE (1-based). */
static size_t line_start(const char *text, size_t line)
{
	const char *p = text;

	while (--line && (p = strchr(p, '\n')))
		p++;
	assert_non_null(p);
	return (size_t)(p - text);
}

static struct cfg_error last_err; /* refused()'s */

/* TEXT (LEN bytes) is refused with exactly WANT (or, WANT ending in '*',
 * a message that starts with it), leaving an empty config. */
static int refused(const char *text, size_t len, const char *want)
{
	struct mesh_config cfg;
	size_t wl = strlen(want);
	__u64 version;
	int rc;

	memset(&cfg, 0xa5, sizeof(cfg));
	last_err.msg[0] = 0;
	rc = mesh_model_from_json(&cfg, &version, text, len, &last_err);
	if (rc == -EINVAL && !cfg.arena.head && !cfg.services &&
	    (want[wl - 1] == '*' ? !strncmp(last_err.msg, want, wl - 1)
				 : !strcmp(last_err.msg, want)))
		return 0;
	print_error("expected -EINVAL and '%s'\n  got      %d '%s'\n", want, rc, last_err.msg);
	if (!rc)
		mesh_config_free(&cfg);
	return 1;
}

static void every_kind_of_item_round_trips_a_line_each(void **state)
{
	struct mesh_config cfg, back;
	struct cfg_error err;
	size_t len, len2, n, i, k, total = 0;
	char *text = model_text(&len), *copy = strdup(text), *again, **lines;
	json_t *header, *counts, *line, *doc;
	__u64 version = 0;

	(void)state;
	assert_non_null(copy);
	lines = split_lines(copy, &n);
	assert_non_null(header = json_loads(lines[0], 0, NULL));
	assert_int_equal(json_integer_value(json_object_get(header, "model")), 2);
	assert_int_equal(json_integer_value(json_object_get(header, "version")), 7);
	counts = json_object_get(header, "counts");
	for (i = 1, k = 0; k < NLISTS; k++) {
		size_t c = (size_t)json_integer_value(json_object_get(counts, lists[k]));

		assert_true(c >= 2); /* every kind, a middle one too */
		for (total += c; c--; i++) {
			assert_true(i < n);
			assert_non_null(line = json_loads(lines[i], 0, NULL));
			assert_int_equal(json_object_size(line), 1);
			assert_true(json_is_object(json_object_get(line, lists[k])));
			json_decref(line);
		}
	}
	assert_int_equal(n, 1 + total);
	assert_int_equal(text[len - 1], '\n');

	assert_int_equal(mesh_model_from_json(&back, &version, text, len, &err), 0);
	assert_int_equal(version, 7);
	assert_int_equal(back.nauthz_policies, 2);
	assert_int_equal(mesh_model_to_json(&back, 7, &again, &len2), 0);
	assert_int_equal(len2, len);
	assert_memory_equal(again, text, len);
	free(again);

	/* --print-model's form: one line, the lists as arrays. */
	parse_every_list(&cfg);
	assert_int_equal(mesh_model_to_json_doc(&cfg, 7, &again, &len2), 0);
	assert_null(memchr(again, '\n', len2));
	assert_non_null(doc = json_loads(again, 0, NULL));
	for (k = 0; k < NLISTS; k++)
		assert_int_equal(json_array_size(json_object_get(doc, lists[k])),
				 json_integer_value(json_object_get(counts, lists[k])));
	json_decref(doc);
	free(again);
	mesh_config_free(&cfg);
	mesh_config_free(&back);
	json_decref(header);
	free(lines);
	free(copy);
	free(text);
}

/* The line of the first item of LIST. */
static size_t first_line_of(const char *text, const char *list)
{
	char want[64];
	size_t line = 1;

	snprintf(want, sizeof(want), "{\"%s\":", list);
	for (const char *p = text; p; p = strchr(p, '\n'), line++, p = p ? p + 1 : p)
		if (!strncmp(p, want, strlen(want)))
			return line;
	fail_msg("no %s line", list);
	return 0;
}

static void a_model_cut_short_is_refused_naming_the_line(void **state)
{
	size_t len, cut, line;
	char *text = model_text(&len), want[160];
	int wrong = 0;

	(void)state;
	line = first_line_of(text, "httpRoutes") + 1; /* httpRoutes[1] */
	cut = line_start(text, line);
	/* Between two lines: the header's count says an item is missing. */
	snprintf(want, sizeof(want),
		 "model:%zu: httpRoutes[1]: missing: the model ends before the header's 2 "
		 "httpRoutes",
		 line);
	wrong += refused(text, cut, want);
	/* Within a line: jansson's error at that line, naming the item. */
	snprintf(want, sizeof(want), "model:%zu:", line);
	wrong += refused(text, cut + 20, strcat(want, "*"));
	assert_non_null(strstr(last_err.msg, ": httpRoutes[1]: "));
	/* Every other cut, down to the header: refused, with a line. */
	for (cut = 0; cut + 1 < len; cut++)
		wrong += refused(text, cut, "model:*");
	assert_int_equal(wrong, 0);
	free(text);
}

/* TEXT with line LINE (1-based) replaced by REPL. */
static char *with_line(const char *text, size_t line, const char *repl)
{
	size_t at = line_start(text, line), end = (size_t)(strchr(text + at, '\n') - text);
	char *out = malloc(strlen(text) + strlen(repl) + 1);

	assert_non_null(out);
	sprintf(out, "%.*s%s%s", (int)at, text, repl, text + end);
	return out;
}

static void a_bad_line_in_the_middle_is_refused_naming_it(void **state)
{
	size_t len, svc, route;
	char *text = model_text(&len), *bad, want[200], *extra;
	const char *last;
	int wrong = 0;

	(void)state;
	svc = first_line_of(text, "services") + 1;
	route = first_line_of(text, "httpRoutes") + 1;
	struct {
		size_t line;
		const char *repl, *want;
	} cases[] = {
	    {svc,
	     "{\"services\":{\"name\":\"s\",\"namespace\":\"shop\",\"vips\":[],\"ports\":[{"
	     "\"port\":"
	     "70000}]}}",
	     "services[1].ports[0].port: 70000 is out of range (0 to 65535)"},
	    {route, "{\"services\":{}}", "httpRoutes[1]: not a line {\"httpRoutes\": ITEM}"},
	    {route, "[1]", "httpRoutes[1]: not a line {\"httpRoutes\": ITEM}"},
	    {route, "{\"httpRoutes\":{\"name\":}}",
	     NULL}, /* jansson: "...:COL: httpRoutes[1]: ..." */
	    {1, "{\"model\":2,\"version\":1,\"counts\":{\"nodes\":1000000}}",
	     "counts.nodes: 1000000 is out of range"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bad = with_line(text, cases[i].line, cases[i].repl);
		if (cases[i].want)
			snprintf(want, sizeof(want), "model:%zu: %s*", cases[i].line,
				 cases[i].want);
		else
			snprintf(want, sizeof(want), "model:%zu:*", cases[i].line);
		wrong += refused(bad, strlen(bad), want);
		if (!cases[i].want && !strstr(last_err.msg, ": httpRoutes[1]: ")) {
			print_error("the item is not named: %s\n", last_err.msg);
			wrong++;
		}
		free(bad);
	}
	/* One line more than the header counts. */
	last = text + line_start(text, first_line_of(text, "authorizationPolicies") + 1);
	assert_non_null(extra = malloc(2 * len + 1));
	sprintf(extra, "%s%s", text, last);
	snprintf(want, sizeof(want), "model:%zu: more lines than the header counts",
		 first_line_of(text, "authorizationPolicies") + 2);
	wrong += refused(extra, strlen(extra), want);
	free(extra);
	assert_int_equal(wrong, 0);
	free(text);
}

static void an_old_model_file_is_refused_with_the_format_message(void **state)
{
	char path[] = "/tmp/shunt-model-old-XXXXXX", *doc, *p, msg[600];
	struct mesh_config cfg, back;
	struct cfg_error err;
	__u64 version;
	size_t len;
	FILE *f;
	int fd;

	(void)state;
	parse_every_list(&cfg);
	assert_int_equal(mesh_model_to_json_doc(&cfg, 3, &doc, &len), 0);
	mesh_config_free(&cfg);
	/* Format 1 was this one document. */
	assert_non_null(p = strstr(doc, "{\"model\":2,"));
	p[9] = '1';
	assert_int_equal(refused(doc, len, "model:1: model format 1, this shunt reads 2"), 0);
	assert_true((fd = mkstemp(path)) >= 0);
	assert_non_null(f = fdopen(fd, "w"));
	fprintf(f, "%s\n", doc);
	fclose(f);
	assert_int_equal(mesh_model_load(path, &back, &version, &err), -EINVAL);
	snprintf(msg, sizeof(msg), "%s:1: model format 1, this shunt reads 2", path);
	assert_string_equal(err.msg, msg);
	assert_null(back.arena.head);
	unlink(path);
	free(doc);
}

/* What the reader relies on: with JSON_DISABLE_EOF_CHECK jansson stops
 * right after a value's closing brace, in a FILE (json_loadf) and in a
 * buffer (json_loadb, error.position: the bytes it read). */
static void jansson_stops_right_after_each_value(void **state)
{
	static const char two[] = "{\"a\":1}\n {\"b\":[2]}\n";
	json_error_t jerr;
	json_t *v;
	FILE *f;

	(void)state;
	assert_non_null(f = fmemopen((void *)two, sizeof(two) - 1, "r"));
	assert_non_null(v = json_loadf(f, JSON_DISABLE_EOF_CHECK, &jerr));
	assert_int_equal(ftell(f), 7);
	json_decref(v);
	assert_non_null(v = json_loadf(f, JSON_DISABLE_EOF_CHECK, &jerr));
	assert_int_equal(json_array_size(json_object_get(v, "b")), 1);
	assert_int_equal(ftell(f), 18);
	json_decref(v);
	fclose(f);
	assert_non_null(v = json_loadb(two, sizeof(two) - 1, JSON_DISABLE_EOF_CHECK, &jerr));
	assert_int_equal(jerr.position, 7);
	json_decref(v);
}

/* Jansson's live bytes and their peak (its allocator, counted). */
static size_t json_live, json_peak;

static void *counted_malloc(size_t n)
{
	size_t *p = malloc(n + sizeof(max_align_t));

	if (!p)
		return NULL;
	*p = n;
	json_live += n;
	if (json_live > json_peak)
		json_peak = json_live;
	return (char *)p + sizeof(max_align_t);
}

static void counted_free(void *q)
{
	size_t *p = q ? (size_t *)((char *)q - sizeof(max_align_t)) : NULL;

	if (!p)
		return;
	json_live -= *p;
	free(p);
}

/* The peaks of jansson's memory while a model of N services, each with an
 * HTTPRoute, is written (*WRITE) and read (returned). */
static size_t read_peak(int n, size_t *write)
{
	struct mesh_config cfg, back;
	struct cfg_error err = {0};
	char *yaml = NULL, *text;
	size_t ylen = 0, len;
	FILE *y = open_memstream(&yaml, &ylen);
	__u64 version;
	int i;

	assert_non_null(y);
	fprintf(y, "apiVersion: shunt.dev/v1\nservices:\n");
	for (i = 0; i < n; i++)
		fprintf(y,
			"  - {name: r%d, virtualIPs: [10.97.%d.%d], ports: [{port: 80, "
			"appProtocol: http}]}\n",
			i, i / 250, i % 250 + 1);
	fprintf(y, "httpRoutes:\n");
	for (i = 0; i < n; i++)
		fprintf(y,
			"  - {name: r%d, parentRefs: [{name: r%d, port: 80}], rules: [{matches: "
			"[{path: {value: /v%d}, headers: [{name: x-canary, value: \"yes\"}]}], "
			"backendRefs: [{name: r0, port: 80}]}, {backendRefs: [{name: r%d, port: "
			"80}]}]}\n",
			i, i, i, i);
	fclose(y);
	if (mesh_config_parse(&cfg, "routes.yaml", yaml, ylen, &err))
		fail_msg("%s", err.msg);
	free(yaml);
	json_set_alloc_funcs(counted_malloc, counted_free);
	json_live = json_peak = 0;
	assert_int_equal(mesh_model_to_json(&cfg, 1, &text, &len), 0);
	mesh_config_free(&cfg);
	*write = json_peak;
	json_live = json_peak = 0;
	assert_int_equal(mesh_model_from_json(&back, &version, text, len, &err), 0);
	json_set_alloc_funcs(malloc, free);
	assert_int_equal(json_live, 0);
	assert_int_equal(back.nhttp_routes, (size_t)n);
	mesh_config_free(&back);
	free(text);
	return json_peak;
}

static void writing_and_reading_hold_one_line_not_the_model(void **state)
{
	size_t small, big, wsmall, wbig;

	(void)state;
	small = read_peak(10, &wsmall);
	big = read_peak(500, &wbig);
	print_message("jansson's peak: writing %zu bytes (10 routes), %zu (500); reading %zu, "
		      "%zu\n",
		      wsmall, wbig, small, big);
	/* A whole model's tree would be 50 times larger. */
	assert_true(big < small * 2);
	assert_true(wbig < wsmall * 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(every_kind_of_item_round_trips_a_line_each),
	    cmocka_unit_test(a_model_cut_short_is_refused_naming_the_line),
	    cmocka_unit_test(a_bad_line_in_the_middle_is_refused_naming_it),
	    cmocka_unit_test(an_old_model_file_is_refused_with_the_format_message),
	    cmocka_unit_test(jansson_stops_right_after_each_value),
	    cmocka_unit_test(writing_and_reading_hold_one_line_not_the_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
