/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Reading shunt_coverage: same-node connections by program and path. */
#ifndef SHUNT_COVERAGE_H
#define SHUNT_COVERAGE_H

#include <stddef.h>
#include <linux/types.h>

#include "pins.h"
#include "shunt_shared.h"

struct shunt_coverage_row {
	struct shunt_coverage_key key;
	struct shunt_coverage val;
};

/* Reads every row into *rows (malloc'd; the caller frees it), bytes first,
 * then sockets, largest first. 0 or -errno. */
int shunt_coverage_read(const struct shunt_pins *pins, struct shunt_coverage_row **rows, size_t *n);

/* "bypass", "tcp", "skipped", "early_eagain". */
const char *shunt_path_name(__u32 path);

/* The reason of a row in words: an enum shunt_reason for tcp rows ("mixed"
 * for sockets that also took the bypass), an enum shunt_skip for skipped,
 * an enum shunt_eagain_cause for early_eagain. */
const char *shunt_coverage_reason_name(const struct shunt_coverage_key *key);

#endif
