/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The differential check of incremental applies (test_apply_diff.c and
 * tests/fuzz/fuzz_apply.c): a sequence of generated configs applied to one
 * in-memory target with the agent's long-lived shadow (restarts included),
 * each compared with a full apply of the same config to a fresh target.
 * Some applies are made to fail on purpose (failures): then the running
 * configuration must be untouched, and the retry correct.
 */
#ifndef SHUNT_TEST_APPLY_DIFF_H
#define SHUNT_TEST_APPLY_DIFF_H

#include <stdio.h>

#include "mesh_gen.h"

struct apply_diff_stats {
	unsigned long steps, incremental, full, restarts, failures, entries;
};

/*
 * Runs NSTEPS steps of G. Returns 0 when every step matched; otherwise
 * prints to REPORT what differed (LABEL, e.g. "seed 7", the step, the map,
 * both entry lists, the YAML of the step and the one before) and returns
 * -1, or -errno when something could not even run.
 */
int apply_diff_run(struct mesh_gen *g, unsigned int nsteps, const char *label, FILE *report,
		   struct apply_diff_stats *stats);

#endif
