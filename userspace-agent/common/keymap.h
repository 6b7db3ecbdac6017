/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A hash map from byte-string keys to size_t values (open addressing), so
 * that checking and compiling a config of 10,000 workloads stays linear.
 * Keys are copied; lookups of absent keys return false.
 */
#ifndef SHUNT_KEYMAP_H
#define SHUNT_KEYMAP_H

#include <stdbool.h>
#include <stddef.h>

struct keymap_slot;

struct keymap {
	struct keymap_slot *slots;
	size_t cap, n;
};

/* Sets KEY to VALUE; -ENOMEM. *EXISTED (may be NULL) says it was there. */
int keymap_put(struct keymap *m, const void *key, size_t len, size_t value, bool *existed);
bool keymap_get(const struct keymap *m, const void *key, size_t len, size_t *value);
void keymap_free(struct keymap *m);

#endif
