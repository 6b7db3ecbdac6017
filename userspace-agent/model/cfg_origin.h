/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef SHUNT_CFG_ORIGIN_H
#define SHUNT_CFG_ORIGIN_H

#include <stddef.h>

/*
 * Where an object came from, for errors: a place in a file (the YAML
 * source), or an object of a cluster API (kind/namespace/name, e.g. a
 * Kubernetes Pod). Strings belong to the config's arena.
 */
enum cfg_origin_kind { CFG_ORIGIN_NONE, CFG_ORIGIN_FILE, CFG_ORIGIN_OBJECT };

struct cfg_origin {
	enum cfg_origin_kind kind;
	const char *file;		     /* FILE */
	unsigned int line, col;		     /* FILE: 1-based */
	const char *object_kind, *ns, *name; /* OBJECT; ns NULL: cluster-scoped */
};

/* "FILE:LINE:COL" or "KIND/NAMESPACE/NAME" ("KIND/NAME") into BUF. */
void cfg_origin_format(const struct cfg_origin *o, char *buf, size_t len);

#endif
