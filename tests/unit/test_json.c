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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(nested_values_get_commas_right),
	    cmocka_unit_test(strings_are_escaped),
	    cmocka_unit_test(empty_array),
	};

	return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
