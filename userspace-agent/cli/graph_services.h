/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Workloads to services for `shunt graph --group service` (graph_services.c). */
#ifndef SHUNT_GRAPH_SERVICES_H
#define SHUNT_GRAPH_SERVICES_H

#include <stdbool.h>
#include <linux/types.h>

#include "model/mesh_config.h"
#include "shunt_shared.h"

struct graph_services {
	struct mesh_config cfg;
	bool loaded;
	char buf[SHUNT_NAME_MAX]; /* graph_service_of's answer */
};

/* The model the agent of the instance under PIN_DIR published; an error
 * (logged) when there is none. */
int graph_services_load(struct graph_services *s, const char *pin_dir);
void graph_services_free(struct graph_services *s);
/*
 * A graph_group_fn: the service workload NAME serves, "namespace/name":
 * of the services of its namespace that select it (by labels), the first
 * by name; without one, the first of those that list it as a backend;
 * NULL when none does (it stays a workload).
 */
const char *graph_service_of(const char *name, void *ctx);

#endif
