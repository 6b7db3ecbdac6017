/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* shunt agent's Kubernetes flags and --print-model (cmd_agent_k8s.c). */
#ifndef SHUNT_CMD_AGENT_K8S_H
#define SHUNT_CMD_AGENT_K8S_H

#include <stdbool.h>
#include <stddef.h>

#include "sources/source.h"

struct agent_opts;

/* The flags: --kubernetes (K), --kubeconfig (C), --k8s-option (O),
 * --print-model (P). */
struct agent_k8s_flags {
	bool on, print;
	const char *kubeconfig, *extra[16];
	size_t nextra;
};

/* Takes flag OPT with ARG; -EINVAL when there are too many. */
int agent_k8s_flag(struct agent_k8s_flags *f, int opt, const char *arg);
/* The source of OPTS from F (--kubernetes: the location into BUF); -EINVAL
 * for flags that do not go together, or no source at all. */
int agent_k8s_source(const struct agent_k8s_flags *f, struct agent_opts *opts, char *buf,
		     size_t len);
/* "node=N[,kubeconfig=F][,EXTRA...]" into BUF (node NULL: the host name). */
int agent_k8s_location(char *buf, size_t len, const char *kubeconfig, const char *node,
		       const char *const *extra, size_t nextra);
/* Prints the model of OPS at LOCATION as a JSON line, then each new one
 * (ONCE: the first only). Runs until killed. */
int agent_print_model(const struct config_source_ops *ops, const char *location, bool once);

#endif
