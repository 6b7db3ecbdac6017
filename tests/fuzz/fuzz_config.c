// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libFuzzer target: any bytes through the config parser and, when they
 * parse, through the compiler. Must never crash, leak or read out of
 * bounds (built with ASan and UBSan); errors must always carry a message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/mesh_config.h"
#include "sources/yaml_source.h"
#include "control/mesh_plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mesh_config cfg;
	struct mesh_plan plan;
	struct cfg_error err;

	if (mesh_config_parse(&cfg, "fuzz.yaml", (const char *)data, size, &err)) {
		if (!err.msg[0])
			abort(); /* every rejection explains itself */
		return 0;
	}
	/* No node: nothing is local, so no cgroup or netns is touched. */
	if (!mesh_plan_build(&plan, &cfg, NULL, &err))
		mesh_plan_free(&plan);
	else if (!err.msg[0])
		abort();
	mesh_config_free(&cfg);
	return 0;
}
