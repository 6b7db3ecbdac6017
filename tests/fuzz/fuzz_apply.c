// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libFuzzer target: the differential apply check (tests/unit/apply_diff.c)
 * with the fuzzer's bytes as the generator's randomness: the first byte
 * picks how many steps, the rest which configs, mutations and restarts.
 * Any difference between an incremental and a full apply aborts, after
 * printing the report.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "apply_diff.h"
#include "common/log.h"

#define MAX_STEPS 24

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct apply_diff_stats stats = {0};
	struct mesh_gen g;

	if (!size)
		return 0;
	shunt_log_set_level(SHUNT_LOG_ERROR);
	mesh_gen_init_bytes(&g, data + 1, size - 1);
	if (apply_diff_run(&g, 1 + data[0] % MAX_STEPS, "fuzz input", stderr, &stats))
		abort();
	return 0;
}
