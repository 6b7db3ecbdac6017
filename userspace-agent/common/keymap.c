// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "keymap.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct keymap_slot {
	void *key; /* NULL: empty */
	size_t len, value;
	uint64_t hash;
};

static uint64_t hash_bytes(const void *key, size_t len)
{
	const unsigned char *p = key;
	uint64_t h = 1469598103934665603ull;

	while (len--)
		h = (h ^ *p++) * 1099511628211ull;
	return h;
}

static struct keymap_slot *find(const struct keymap *m, const void *key, size_t len, uint64_t h)
{
	size_t i = (size_t)h & (m->cap - 1);

	for (;; i = (i + 1) & (m->cap - 1)) {
		struct keymap_slot *s = &m->slots[i];

		if (!s->key || (s->hash == h && s->len == len && !memcmp(s->key, key, len)))
			return s;
	}
}

static int grow(struct keymap *m)
{
	size_t cap = m->cap ? m->cap * 2 : 64, i;
	struct keymap old = *m;

	m->slots = calloc(cap, sizeof(*m->slots));
	if (!m->slots) {
		m->slots = old.slots;
		return -ENOMEM;
	}
	m->cap = cap;
	for (i = 0; i < old.cap; i++)
		if (old.slots[i].key)
			*find(m, old.slots[i].key, old.slots[i].len, old.slots[i].hash) =
			    old.slots[i];
	free(old.slots);
	return 0;
}

int keymap_put(struct keymap *m, const void *key, size_t len, size_t value, bool *existed)
{
	struct keymap_slot *s;
	uint64_t h = hash_bytes(key, len);

	if ((m->n + 1) * 2 > m->cap && grow(m))
		return -ENOMEM;
	s = find(m, key, len, h);
	if (existed)
		*existed = s->key != NULL;
	if (!s->key) {
		s->key = malloc(len ? len : 1);
		if (!s->key)
			return -ENOMEM;
		memcpy(s->key, key, len);
		s->len = len;
		s->hash = h;
		m->n++;
	}
	s->value = value;
	return 0;
}

bool keymap_get(const struct keymap *m, const void *key, size_t len, size_t *value)
{
	struct keymap_slot *s;

	if (!m->cap)
		return false;
	s = find(m, key, len, hash_bytes(key, len));
	if (!s->key)
		return false;
	if (value)
		*value = s->value;
	return true;
}

void keymap_free(struct keymap *m)
{
	size_t i;

	for (i = 0; i < m->cap; i++)
		free(m->slots[i].key);
	free(m->slots);
	m->slots = NULL;
	m->cap = m->n = 0;
}
