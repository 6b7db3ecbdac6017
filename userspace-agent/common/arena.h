/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* A bump allocator: everything of one parsed config is freed at once. */
#ifndef SHUNT_ARENA_H
#define SHUNT_ARENA_H

#include <stddef.h>

struct shunt_arena_chunk;

struct shunt_arena {
	struct shunt_arena_chunk *head;
};

/* Zeroed memory, or NULL when out of memory. */
void *shunt_arena_alloc(struct shunt_arena *a, size_t size);
char *shunt_arena_strndup(struct shunt_arena *a, const char *s, size_t len);
void shunt_arena_free(struct shunt_arena *a);

#endif
