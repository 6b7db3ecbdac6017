// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The JSON writer behind every --json output. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/json.h"

static char *render(void (*build)(struct shunt_json *))
{
	struct shunt_json j;
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	assert_non_null(out);
	json_init(&j, out);
	build(&j);
	fclose(out);
	return text;
}

static void build_nested(struct shunt_json *j)
{
	json_object_begin(j);
	json_kv_string(j, "name", "p1");
	json_kv_u64(j, "bytes", 18446744073709551615ULL);
	json_key(j, "links");
	json_array_begin(j);
	json_object_begin(j);
	json_kv_bool(j, "attached", true);
	json_object_end(j);
	json_u64(j, 7);
	json_array_end(j);
	json_kv_bool(j, "loaded", false);
	json_object_end(j);
}

static void nested_values_get_commas_right(void **state)
{
	char *text = render(build_nested);

	(void)state;
	assert_string_equal(text, "{\"name\":\"p1\",\"bytes\":18446744073709551615,"
				  "\"links\":[{\"attached\":true},7],\"loaded\":false}\n");
	free(text);
}

static void build_escapes(struct shunt_json *j)
{
	json_object_begin(j);
	json_kv_string(j, "msg", "a \"quoted\"\\ line\n\x01");
	json_object_end(j);
}

static void strings_are_escaped(void **state)
{
	char *text = render(build_escapes);

	(void)state;
	assert_string_equal(text, "{\"msg\":\"a \\\"quoted\\\"\\\\ line\\u000a\\u0001\"}\n");
	free(text);
}

/* The writers that skip or narrow the escaping scan: literal keys, plain
 * values, printable values (quotes and backslashes still escaped). */
static void build_fast_paths(struct shunt_json *j)
{
	json_object_begin(j);
	JSON_KEY(j, "id"), json_str_plain(j, "00ab", 4);
	json_key_plain(j, "kind", 4), json_str_printable(j, "a\"b\\c\"");
	JSON_KEY(j, "empty"), json_str_printable(j, "");
	JSON_KEY(j, "n"), json_u64(j, 1);
	json_object_end(j);
}

static void fast_paths_write_the_same_json(void **state)
{
	char *text = render(build_fast_paths);

	(void)state;
	assert_string_equal(text, "{\"id\":\"00ab\",\"kind\":\"a\\\"b\\\\c\\\"\",\"empty\":\"\","
				  "\"n\":1}\n");
	free(text);
}

static void build_empty(struct shunt_json *j)
{
	json_array_begin(j);
	json_array_end(j);
}

static void empty_array(void **state)
{
	char *text = render(build_empty);

	(void)state;
	assert_string_equal(text, "[]\n");
	free(text);
}

/* The same text in memory as through a FILE, growing from a small start. */
static void memory_output_matches_file_output(void **state)
{
	void (*builds[])(struct shunt_json *) = {build_nested, build_escapes, build_empty};
	struct shunt_json j;
	size_t i, len = 0;

	(void)state;
	for (i = 0; i < sizeof(builds) / sizeof(builds[0]); i++) {
		char *want = render(builds[i]), *got;

		json_init_mem(&j, 1);
		builds[i](&j);
		got = json_mem_take(&j, &len);
		assert_non_null(got);
		assert_string_equal(got, want);
		assert_int_equal(len, strlen(want));
		free(got);
		free(want);
	}
}

/* A reset writer starts a new text in the memory it kept. */
static void a_reset_memory_writer_starts_over(void **state)
{
	struct shunt_json j;
	char *want = render(build_nested), *kept;
	size_t len = 0;

	(void)state;
	json_init_mem(&j, 1);
	build_escapes(&j);
	kept = j.mem;
	json_mem_reset(&j);
	assert_ptr_equal(j.mem, kept);
	assert_string_equal(j.mem, "");
	build_nested(&j);
	assert_string_equal(j.mem, want);
	free(json_mem_take(&j, &len));
	free(want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(nested_values_get_commas_right),
	    cmocka_unit_test(strings_are_escaped),
	    cmocka_unit_test(fast_paths_write_the_same_json),
	    cmocka_unit_test(empty_array),
	    cmocka_unit_test(memory_output_matches_file_output),
	    cmocka_unit_test(a_reset_memory_writer_starts_over),
	};

	return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
