/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Reading shunt_pairs: same-node connections by client and server workload. */
#ifndef SHUNT_PAIRS_H
#define SHUNT_PAIRS_H

#include <stddef.h>
#include <linux/types.h>

#include "pins.h"
#include "shunt_shared.h"

typedef void (*shunt_pair_fn)(const char *client, const char *server, const struct shunt_pair *val,
			      void *ctx);

/*
 * Calls FN for every pair between two workloads (the node proxy's legs are
 * left out: they belong to the tunnel or the L7 side), with the workloads'
 * names from shunt_workload_names ("#ID" when a name is gone). 0, or -errno
 * when the map cannot be read (-ENOENT: a datapath without shunt_pairs;
 * -EPROTO: one whose shunt_pairs has another layout, of another version).
 */
int shunt_pairs_each(const struct shunt_pins *pins, shunt_pair_fn fn, void *ctx);

#endif
