/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Writes a compiled plan into the pinned maps: the whole plan under the
 * inactive generation, then one flip of shunt_mesh_state, then the old
 * generation is deleted. A failure before the flip removes what was written
 * and leaves the running configuration untouched.
 */
#ifndef SHUNT_MESH_APPLY_H
#define SHUNT_MESH_APPLY_H

#include <linux/types.h>

#include "mesh_plan.h"
#include "pins.h"

struct mesh_apply_stats {
	__u64 entries;	   /* written under the new generation */
	__u64 write_ns;	   /* from the first write to the flip */
	__u64 cleanup_ns;  /* deleting the old generation */
	__u64 version;	   /* config version now live */
	__u32 gen;	   /* generation now live */
};

int mesh_apply(const struct shunt_pins *pins, const struct mesh_plan *plan,
	       struct mesh_apply_stats *stats);

/* The live generation and version; -ENOENT when nothing is loaded. */
int mesh_state_read(const struct shunt_pins *pins, __u32 *gen, __u64 *version);

#endif
