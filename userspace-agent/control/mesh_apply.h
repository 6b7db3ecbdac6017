/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Writes a compiled plan into the pinned maps under the inactive generation,
 * then flips shunt_mesh_state with one update. The generation that was live
 * stays in the maps as the base of the next apply: when the applier knows
 * what a generation holds (it wrote it), the next apply writes only the
 * difference, so a one-rule change costs a few map updates, not a rewrite.
 * A failure before the flip leaves the running configuration untouched.
 */
#ifndef SHUNT_MESH_APPLY_H
#define SHUNT_MESH_APPLY_H

#include <linux/types.h>
#include <stdbool.h>

#include "mesh_plan.h"
#include "pins.h"

struct mesh_apply_stats {
	__u64 entries;	  /* entries of the new generation */
	__u64 written;	  /* map updates and deletes it took */
	__u64 write_ns;	  /* from the first write (diff included) to the flip */
	__u64 cleanup_ns; /* bypass membership, after the flip */
	__u64 version;	  /* config version now live */
	__u32 gen;	  /* generation now live */
	bool incremental; /* only the difference was written */
};

/* What each generation holds, as far as this process knows. */
struct mesh_shadow {
	struct mesh_plan plans[2];
	bool known[2];
	/* The last bypass membership write failed: the maps do not hold what
	 * plans[live] says, so the next apply syncs them in full. */
	bool membership_stale;
};

/*
 * Where an apply writes: the pinned maps of a datapath (mesh_target_open),
 * or anything with the same operations (the differential test keeps maps
 * in memory). Maps are numbered enum mesh_plan_map, then these.
 */
enum mesh_target_map {
	MESH_MAP_STATE = PLAN_MAPS, /* shunt_mesh_state */
	MESH_MAP_WORKLOADS,	    /* shunt_workloads */
	MESH_MAP_WORKLOAD_NAMES,    /* shunt_workload_names */
	MESH_TARGET_MAPS,
};

struct mesh_target_ops {
	/* 0 or -errno (-ENOENT: no such key) */
	int (*lookup)(void *ctx, int map, const void *key, void *value);
	int (*update)(void *ctx, int map, const void *key, const void *value);
	int (*delete)(void *ctx, int map, const void *key);
	/* The key after KEY (NULL: the first); -ENOENT after the last. */
	int (*next_key)(void *ctx, int map, const void *key, void *next);
	/* Optional, for speed: N entries at once; -EOPNOTSUPP falls back. */
	int (*update_batch)(void *ctx, int map, const void *keys, const void *values, __u32 n);
	int (*delete_batch)(void *ctx, int map, const void *keys, __u32 n);
};

struct mesh_target {
	const struct mesh_target_ops *ops;
	void *ctx;
};

/* The pinned maps under PINS; -errno (naming the missing map) if absent. */
int mesh_target_open(struct mesh_target *t, const struct shunt_pins *pins);
void mesh_target_close(struct mesh_target *t);

/*
 * Applies PLAN to T. On success PLAN is moved into SHADOW (the caller must
 * not free it); on failure it stays the caller's. SHADOW may be NULL
 * (one-shot use: every apply is a full write).
 */
int mesh_apply_to(const struct mesh_target *t, struct mesh_plan *plan, struct mesh_shadow *shadow,
		  struct mesh_apply_stats *stats);
/* The same on the pinned maps under PINS. */
int mesh_apply(const struct shunt_pins *pins, struct mesh_plan *plan, struct mesh_shadow *shadow,
	       struct mesh_apply_stats *stats);
void mesh_shadow_free(struct mesh_shadow *shadow);

/* Prepares PLAN for diffing (hash sets); part of compiling, so that the
 * kernel update itself only looks up and writes. Optional. */
int mesh_plan_index(struct mesh_plan *plan);

/* The live generation and version; -ENOENT when nothing is loaded. */

#endif
