/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Where the mesh config comes from. Every source hands the agent a model
 * snapshot (struct mesh_config) and tells it when a new one may be there;
 * the agent knows sources only through these ops. The YAML file is the
 * first (yaml_file_source_ops); the Kubernetes API (k8s_source_ops) the second.
 */
#ifndef SHUNT_SOURCE_H
#define SHUNT_SOURCE_H

#include <stdbool.h>

#include "model/mesh_config.h"

struct config_source;

struct config_source_ops {
	const char *name; /* "yaml" */
	/* Opens the source at LOCATION (for the file source: its path). */
	int (*open)(const char *location, struct config_source **out, struct cfg_error *err);
	/* The model now, owning its memory; -EINVAL with ERR for one that is
	 * not valid, -errno when the source cannot be read. */
	int (*load)(struct config_source *src, struct mesh_config *cfg, struct cfg_error *err);
	/* Starts watching: a descriptor that turns readable when the source
	 * may have changed (poll it; the source owns it), or -errno
	 * (-EOPNOTSUPP: it never changes). */
	int (*watch)(struct config_source *src, struct cfg_error *err);
	/* Reads what made the watch readable: true when a new snapshot is due. */
	bool (*changed)(struct config_source *src);
	/* What the logs call it, e.g. the file's path. */
	const char *(*describe)(const struct config_source *src);
	void (*close)(struct config_source *src); /* accepts NULL */
};

/* Every source starts with this. */
struct config_source {
	const struct config_source_ops *ops;
};

extern const struct config_source_ops yaml_file_source_ops;
/* The Kubernetes API (docs/kubernetes.md). Its location is a list of
 * KEY=VALUE,...: node (required), kubeconfig (none: in-cluster), sa-dir,
 * trust-domain, cgroup-root, proc-root, sync-timeout-ms, backoff-min-ms,
 * backoff-max-ms, watch-timeout-s. */
extern const struct config_source_ops k8s_source_ops;

#endif
