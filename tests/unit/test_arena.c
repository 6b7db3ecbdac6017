// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The bump allocator a parsed config lives in. Under ASan a block that ran
 * past its chunk, or a chunk left behind at free, fails the run too.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/arena.h"

static bool all_bytes_are(const unsigned char *p, size_t len, unsigned char b)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != b)
			return false;
	return true;
}

static void memory_comes_zeroed(void **state)
{
	struct shunt_arena a = {0};
	unsigned char *p;
	int i;

	(void)state;
	/* Enough blocks to reach memory malloc did not clear. */
	for (i = 0; i < 100; i++) {
		p = shunt_arena_alloc(&a, 1000);
		assert_non_null(p);
		assert_true(all_bytes_are(p, 1000, 0));
		memset(p, 0xa5, 1000);
	}
	shunt_arena_free(&a);
}

/* Every block is aligned for any type, and no two blocks overlap. */
static void blocks_are_aligned_and_disjoint(void **state)
{
	enum { N = 3000 };
	struct shunt_arena a = {0};
	unsigned char *blocks[N];
	size_t sizes[N];
	int i;

	(void)state;
	for (i = 0; i < N; i++) {
		sizes[i] = (size_t)(i * 37 % 301) + 1;
		blocks[i] = shunt_arena_alloc(&a, sizes[i]);
		assert_non_null(blocks[i]);
		assert_int_equal((uintptr_t)blocks[i] % _Alignof(max_align_t), 0);
		memset(blocks[i], i & 0xff, sizes[i]);
	}
	/* About 450 KiB: several chunks. Each block still holds its own bytes. */
	for (i = 0; i < N; i++)
		assert_true(all_bytes_are(blocks[i], sizes[i], (unsigned char)(i & 0xff)));
	shunt_arena_free(&a);
}

/* A block larger than a chunk gets a chunk of its own; the arena goes on. */
static void block_larger_than_a_chunk(void **state)
{
	struct shunt_arena a = {0};
	unsigned char *small, *big, *after;
	size_t big_size = 300 * 1024;

	(void)state;
	small = shunt_arena_alloc(&a, 10);
	big = shunt_arena_alloc(&a, big_size);
	after = shunt_arena_alloc(&a, 10);
	assert_non_null(small);
	assert_non_null(big);
	assert_non_null(after);
	assert_true(all_bytes_are(big, big_size, 0));
	memset(small, 1, 10);
	memset(big, 2, big_size);
	memset(after, 3, 10);
	assert_true(all_bytes_are(small, 10, 1));
	assert_true(all_bytes_are(big, big_size, 2));
	assert_true(all_bytes_are(after, 10, 3));
	shunt_arena_free(&a);
}

static void strndup_copies_len_bytes_and_terminates(void **state)
{
	struct shunt_arena a = {0};
	const char *src = "workload: frontend";
	char *s, *empty;

	(void)state;
	s = shunt_arena_strndup(&a, src + 10, 5);
	assert_non_null(s);
	assert_string_equal(s, "front");
	/* Bytes past LEN are not read: a source without a NUL is fine. */
	s = shunt_arena_strndup(&a, (const char[]){'a', 'b', 'c'}, 3);
	assert_string_equal(s, "abc");
	empty = shunt_arena_strndup(&a, src, 0);
	assert_non_null(empty);
	assert_string_equal(empty, "");
	shunt_arena_free(&a);
}

static void free_releases_everything_and_allows_reuse(void **state)
{
	struct shunt_arena a = {0};
	char *s;

	(void)state;
	shunt_arena_free(&a); /* nothing allocated yet */
	assert_non_null(shunt_arena_alloc(&a, 200 * 1024));
	assert_non_null(shunt_arena_alloc(&a, 100));
	shunt_arena_free(&a);
	assert_null(a.head);
	s = shunt_arena_strndup(&a, "again", 5);
	assert_string_equal(s, "again");
	shunt_arena_free(&a);
	assert_null(a.head);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(memory_comes_zeroed),
	    cmocka_unit_test(blocks_are_aligned_and_disjoint),
	    cmocka_unit_test(block_larger_than_a_chunk),
	    cmocka_unit_test(strndup_copies_len_bytes_and_terminates),
	    cmocka_unit_test(free_releases_everything_and_allows_reuse),
	};

	return cmocka_run_group_tests_name("arena", tests, NULL, NULL);
}
