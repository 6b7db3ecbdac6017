/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* What every `shunt` subcommand gets, and the subcommands themselves. */
#ifndef SHUNT_CLI_H
#define SHUNT_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "pins.h"

struct shunt_cli {
	struct shunt_pins pins;
	bool json;
};

/* Each returns 0 or -errno; usage errors are -EINVAL after a message. */
int cmd_load(struct shunt_cli *cli, int argc, char **argv);
int cmd_unload(struct shunt_cli *cli, int argc, char **argv);
int cmd_status(struct shunt_cli *cli, int argc, char **argv);
int cmd_conns(struct shunt_cli *cli, int argc, char **argv);
int cmd_workload(struct shunt_cli *cli, int argc, char **argv);
int cmd_config(struct shunt_cli *cli, int argc, char **argv);
int cmd_agent(struct shunt_cli *cli, int argc, char **argv);
int cmd_ca(struct shunt_cli *cli, int argc, char **argv);
int cmd_proxy(struct shunt_cli *cli, int argc, char **argv);
int cmd_workloads(struct shunt_cli *cli, int argc, char **argv);
int cmd_services(struct shunt_cli *cli, int argc, char **argv);
int cmd_policies(struct shunt_cli *cli, int argc, char **argv);
int cmd_flows(struct shunt_cli *cli, int argc, char **argv);
int cmd_policy(struct shunt_cli *cli, int argc, char **argv);
int cmd_graph(struct shunt_cli *cli, int argc, char **argv);

/* Parses a non-negative integer that fits in 32 bits; -EINVAL otherwise. */
int cli_parse_u32(const char *text, unsigned int *out);

struct push_target;
/* One --push SPEC into TARGETS[*N] (at most one per kind); -EINVAL after a
 * message naming what is wrong. */
int cli_parse_push(const char *spec, struct push_target *targets, size_t *n);

#endif
