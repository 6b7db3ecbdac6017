/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The node agent: keeps the kernel equal to what a config source says.
 * Loads the datapath when it is not there, then source -> plan -> apply ->
 * publish (the model for the proxy, model/model_json.h), again whenever the
 * source changes or on SIGHUP. Serves /metrics and /healthz. Everything it
 * sets up is pinned: killing it changes nothing in the kernel, and a new
 * agent adopts the pinned state.
 */
#ifndef SHUNT_AGENT_H
#define SHUNT_AGENT_H

#include <stdbool.h>
#include <stddef.h>

#include "pins.h"
#include "sources/source.h"

struct push_target;

struct agent_opts {
	const struct config_source_ops *source;
	const char *location;		/* what the source reads, e.g. the YAML file */
	const char *node;		/* this node; NULL: the host name */
	const char *cgroup;		/* where to attach on a load; NULL: the cgroup2 root */
	const char *metrics;		/* ADDR:PORT for /metrics and /healthz; NULL: none */
	bool once;			/* apply once and return */
	const struct push_target *push; /* push exports (common/push.h) */
	size_t npush;
};

/* Runs until SIGTERM or SIGINT (with ONCE: one apply). 0 or -errno. */
int agent_run(const struct shunt_pins *pins, const struct agent_opts *opts);

/* What a config that compiles amounts to. */
struct agent_check {
	size_t workloads, services, rules;
};

/*
 * Reads the source once and compiles it for OPTS->node, touching nothing:
 * WARN gets each warning, ERR what is wrong.
 */
int agent_check(const struct agent_opts *opts, struct agent_check *out,
		void (*warn)(void *ctx, const char *warning), void *ctx, struct cfg_error *err);

#endif
