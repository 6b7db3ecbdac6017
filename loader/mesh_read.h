/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Reading the services/policy maps for people: counters, names, verdicts. */
#ifndef SHUNT_MESH_READ_H
#define SHUNT_MESH_READ_H

#include <linux/types.h>
#include <stdbool.h>
#include <stddef.h>

#include "mesh_shared.h"
#include "pins.h"

int mesh_counters_read(const struct shunt_pins *pins, struct shunt_mesh_counters *sum);

/* NAME of (GEN, KIND, ID) into BUF; falls back to "#ID" or "world". */
void mesh_name(int names_fd, __u32 gen, __u32 kind, __u32 id, char *buf, size_t len);

typedef void (*mesh_verdict_fn)(const struct shunt_verdict_key *key, __u64 count, void *ctx);
/* Calls FN for every verdict counter, summed over CPUs. */
int mesh_verdicts_each(const struct shunt_pins *pins, mesh_verdict_fn fn, void *ctx);

/* Opens the pinned shunt_policy_query program; fd or -errno. */
int mesh_policy_query_open(const struct shunt_pins *pins);
/* Asks the kernel: Q holds the question; the answer is written into Q. The
 * datapath's own lookup order (mesh_policy.bpf.h), not a copy of it. */
int mesh_policy_query(int prog_fd, struct shunt_policy_query *q);

/* The live generation and config version from shunt_mesh_state. */
int mesh_state_read(const struct shunt_pins *pins, __u32 *gen, __u64 *version);
int mesh_state_read_fd(int state_fd, __u32 *gen, __u64 *version);
/* All of shunt_mesh_state (the proxy's addresses and ports too). */
int mesh_state_full(const struct shunt_pins *pins, struct shunt_mesh_state *st);

const char *mesh_verdict_name(__u8 verdict);
const char *mesh_proto_name(__u8 proto);

#endif
