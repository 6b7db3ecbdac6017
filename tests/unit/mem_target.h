/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * An in-memory apply target (struct mesh_target): every map the agent writes,
 * kept as sorted (key, value) blobs with the kernel's semantics for what an
 * apply does: exact keys (the ipcache LPM trie compares a key's prefixlen and
 * the bits it covers, as the kernel does), get_next_key that restarts at the
 * first entry when its key is gone (hash maps), and a state array of one
 * zeroed struct shunt_mesh_state. For tests that compare what two applies
 * leave behind.
 */
#ifndef SHUNT_TEST_MEM_TARGET_H
#define SHUNT_TEST_MEM_TARGET_H

#include <stdbool.h>
#include <stddef.h>

#include "control/mesh_apply.h"

struct mem_target;

/* With BATCH, the target offers update_batch/delete_batch (not for the
 * ipcache: the kernel's LPM trie has none). NULL when out of memory. */
struct mem_target *mem_target_create(bool batch);
void mem_target_destroy(struct mem_target *m);
/* The mesh_target an apply writes M through. */
struct mesh_target mem_target_as_target(struct mem_target *m);
/* Makes the Nth update from now of a PLAN_* map or the state fail with ERR,
 * once (a full map: -E2BIG); N 0 disarms. */
void mem_target_fail_update(struct mem_target *m, unsigned long n, int err);

size_t mem_map_key_size(int map);
size_t mem_map_value_size(int map);
/* Whether MAP's keys carry a generation (the PLAN_* maps). */
bool mem_map_has_gen(int map);

/* Entries of one map: N records of key_size + value_size bytes, sorted. */
struct mem_dump {
	size_t key_size, value_size, n;
	unsigned char *recs;
};

#define MEM_ALL_GENS (-1)

/*
 * The entries of MAP, or with GEN >= 0 only those of generation GEN, with
 * the generation in their keys zeroed; sorted by key, then value.
 * 0 or -ENOMEM.
 */
int mem_target_dump(const struct mem_target *m, int map, int gen, struct mem_dump *out);
void mem_dump_free(struct mem_dump *d);

static inline const unsigned char *mem_dump_key(const struct mem_dump *d, size_t i)
{
	return d->recs + i * (d->key_size + d->value_size);
}

static inline const unsigned char *mem_dump_value(const struct mem_dump *d, size_t i)
{
	return mem_dump_key(d, i) + d->key_size;
}

/* How many entries MAP holds, every generation included. */
size_t mem_target_count(const struct mem_target *m, int map);

#endif
