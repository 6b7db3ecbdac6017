// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_SIZE (64 * 1024)

struct shunt_arena_chunk {
	struct shunt_arena_chunk *next;
	size_t used, size;
	max_align_t data[];
};

void *shunt_arena_alloc(struct shunt_arena *a, size_t size)
{
	struct shunt_arena_chunk *c = a->head;
	size_t align = sizeof(max_align_t);
	void *p;

	size = (size + align - 1) / align * align;
	if (!c || c->size - c->used < size) {
		size_t cap = size > CHUNK_SIZE ? size : CHUNK_SIZE;

		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->used = 0;
		c->size = cap;
		c->next = a->head;
		a->head = c;
	}
	p = (char *)c->data + c->used;
	c->used += size;
	memset(p, 0, size);
	return p;
}

char *shunt_arena_strndup(struct shunt_arena *a, const char *s, size_t len)
{
	char *p = shunt_arena_alloc(a, len + 1);

	if (p)
		memcpy(p, s, len);
	return p;
}

void shunt_arena_free(struct shunt_arena *a)
{
	struct shunt_arena_chunk *c = a->head, *next;

	for (; c; c = next) {
		next = c->next;
		free(c);
	}
	a->head = NULL;
}
