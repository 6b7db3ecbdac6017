/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The model the agent publishes for the node proxy after every apply: the
 * accepted struct mesh_config as JSON (jansson), with the config version it
 * went live as. The proxy follows this file instead of reading a config
 * source itself, so it sees what the kernel runs, whatever the source.
 *
 * The file is a header line, then one line per list item (format 2,
 * model_json_seq.c): it is written and read an item at a time, so neither
 * side ever holds the whole model as a JSON tree. It is replaced atomically
 * (write a temporary file, rename), so a reader sees the old model or the
 * new one, never half of one.
 */
#ifndef SHUNT_MODEL_JSON_H
#define SHUNT_MODEL_JSON_H

#include <linux/types.h>
#include <stddef.h>

#include "mesh_config.h"

/* CFG as a model file's text into *OUT (malloc'ed, NUL-terminated, *LEN
 * bytes). 0 or -errno. */
int mesh_model_to_json(const struct mesh_config *cfg, __u64 version, char **out, size_t *len);
/* CFG as one JSON document on one line, the lists as arrays: for people
 * and jq (shunt agent --print-model). shunt does not read it back. */
int mesh_model_to_json_doc(const struct mesh_config *cfg, __u64 version, char **out, size_t *len);
/*
 * A model file's TEXT (LEN bytes) back into CFG (which owns all its memory
 * in its arena), the version into *VERSION. -EINVAL with ERR filled
 * ("model:LINE: items[3].field: why") for anything that is not a model
 * this version wrote; CFG is left empty then.
 */
int mesh_model_from_json(struct mesh_config *cfg, __u64 *version, const char *text, size_t len,
			 struct cfg_error *err);
/* Writes CFG to PATH atomically (PATH.tmp + rename), creating PATH's directory. */
int mesh_model_publish(const char *path, const struct mesh_config *cfg, __u64 version);
/* Reads PATH; -ENOENT when nothing was published yet. */
int mesh_model_load(const char *path, struct mesh_config *cfg, __u64 *version,
		    struct cfg_error *err);

#endif
