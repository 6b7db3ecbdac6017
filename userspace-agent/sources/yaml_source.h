/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The YAML file source: docs/config.md -> struct mesh_config. */
#ifndef SHUNT_YAML_SOURCE_H
#define SHUNT_YAML_SOURCE_H

#include <stddef.h>

#include "model/mesh_config.h"

/*
 * Parses and checks TEXT (LEN bytes) that came from PATH. On failure returns
 * -EINVAL with ERR filled and CFG left empty.
 */
int mesh_config_parse(struct mesh_config *cfg, const char *path, const char *text, size_t len,
		      struct cfg_error *err);
/* Reads PATH and parses it; -errno for a file that cannot be read. */
int mesh_config_load(struct mesh_config *cfg, const char *path, struct cfg_error *err);

#endif
