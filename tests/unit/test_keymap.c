// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The byte-string hash map behind config checking and compiling. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/keymap.h"

static void empty_map_finds_nothing(void **state)
{
	struct keymap m = {0};
	size_t v = 7;

	(void)state;
	assert_false(keymap_get(&m, "a", 1, &v));
	assert_int_equal(v, 7);
	keymap_free(&m);
}

static void put_then_get_returns_the_value(void **state)
{
	struct keymap m = {0};
	bool existed = true;
	size_t v = 0;

	(void)state;
	assert_int_equal(keymap_put(&m, "web", 3, 42, &existed), 0);
	assert_false(existed);
	assert_true(keymap_get(&m, "web", 3, &v));
	assert_int_equal(v, 42);
	assert_true(keymap_get(&m, "web", 3, NULL));
	assert_false(keymap_get(&m, "db", 2, &v));
	assert_int_equal(m.n, 1);
	keymap_free(&m);
}

/* A second put of a key replaces its value and says it was there. */
static void put_again_replaces_and_reports_existed(void **state)
{
	struct keymap m = {0};
	bool existed = false;
	size_t v = 0;

	(void)state;
	assert_int_equal(keymap_put(&m, "web", 3, 1, NULL), 0);
	assert_int_equal(keymap_put(&m, "web", 3, 2, &existed), 0);
	assert_true(existed);
	assert_int_equal(m.n, 1);
	assert_true(keymap_get(&m, "web", 3, &v));
	assert_int_equal(v, 2);
	keymap_free(&m);
}

/* Keys are bytes with a length: prefixes, embedded NULs and the empty key
 * are all distinct keys. */
static void keys_are_compared_by_length_and_bytes(void **state)
{
	static const char a[] = "ab\0c", b[] = "ab\0d";
	struct keymap m = {0};
	size_t v = 0;

	(void)state;
	assert_int_equal(keymap_put(&m, "ab", 2, 1, NULL), 0);
	assert_int_equal(keymap_put(&m, "abc", 3, 2, NULL), 0);
	assert_int_equal(keymap_put(&m, a, 4, 3, NULL), 0);
	assert_int_equal(keymap_put(&m, b, 4, 4, NULL), 0);
	assert_int_equal(keymap_put(&m, "", 0, 5, NULL), 0);
	assert_int_equal(m.n, 5);
	assert_true(keymap_get(&m, "ab", 2, &v));
	assert_int_equal(v, 1);
	assert_true(keymap_get(&m, "abc", 3, &v));
	assert_int_equal(v, 2);
	assert_true(keymap_get(&m, a, 4, &v));
	assert_int_equal(v, 3);
	assert_true(keymap_get(&m, b, 4, &v));
	assert_int_equal(v, 4);
	assert_true(keymap_get(&m, "", 0, &v));
	assert_int_equal(v, 5);
	assert_false(keymap_get(&m, "a", 1, &v));
	assert_false(keymap_get(&m, "abc\0", 4, &v));
	keymap_free(&m);
}

/* The map keeps its own copy: the caller's buffer may change or go. */
static void keys_are_copied(void **state)
{
	struct keymap m = {0};
	char *key = strdup("frontend");
	size_t v = 0;

	(void)state;
	assert_non_null(key);
	assert_int_equal(keymap_put(&m, key, 8, 9, NULL), 0);
	memset(key, 'x', 8);
	free(key);
	assert_true(keymap_get(&m, "frontend", 8, &v));
	assert_int_equal(v, 9);
	assert_false(keymap_get(&m, "xxxxxxxx", 8, &v));
	keymap_free(&m);
}

/* Far past the first table (64 slots): every key survives each growth. */
static void many_keys_survive_growth(void **state)
{
	enum { N = 20000 };
	struct keymap m = {0};
	char key[32];
	size_t i, v;
	int len;

	(void)state;
	for (i = 0; i < N; i++) {
		len = snprintf(key, sizeof(key), "ns-%zu/pod-%zu", i % 97, i);
		assert_int_equal(keymap_put(&m, key, (size_t)len, i * 3, NULL), 0);
	}
	assert_int_equal(m.n, N);
	/* Load factor at most one half, a power-of-two table. */
	assert_true(m.cap >= 2 * m.n);
	assert_int_equal(m.cap & (m.cap - 1), 0);
	for (i = 0; i < N; i++) {
		len = snprintf(key, sizeof(key), "ns-%zu/pod-%zu", i % 97, i);
		v = 0;
		assert_true(keymap_get(&m, key, (size_t)len, &v));
		assert_int_equal(v, i * 3);
	}
	for (i = N; i < N + 1000; i++) {
		len = snprintf(key, sizeof(key), "ns-%zu/pod-%zu", i % 97, i);
		assert_false(keymap_get(&m, key, (size_t)len, &v));
	}
	keymap_free(&m);
}

/* Freed, the map is empty and usable again (ASan checks nothing leaks). */
static void free_empties_and_allows_reuse(void **state)
{
	struct keymap m = {0};
	size_t v = 0;

	(void)state;
	assert_int_equal(keymap_put(&m, "a", 1, 1, NULL), 0);
	keymap_free(&m);
	assert_null(m.slots);
	assert_int_equal(m.n, 0);
	assert_int_equal(m.cap, 0);
	assert_false(keymap_get(&m, "a", 1, &v));
	assert_int_equal(keymap_put(&m, "a", 1, 2, NULL), 0);
	assert_true(keymap_get(&m, "a", 1, &v));
	assert_int_equal(v, 2);
	keymap_free(&m);
	keymap_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(empty_map_finds_nothing),
	    cmocka_unit_test(put_then_get_returns_the_value),
	    cmocka_unit_test(put_again_replaces_and_reports_existed),
	    cmocka_unit_test(keys_are_compared_by_length_and_bytes),
	    cmocka_unit_test(keys_are_copied),
	    cmocka_unit_test(many_keys_survive_growth),
	    cmocka_unit_test(free_empties_and_allows_reuse),
	};

	return cmocka_run_group_tests_name("keymap", tests, NULL, NULL);
}
