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

/* The policy maps, for deciding like the kernel does. */
struct mesh_policy_fds {
	int deny, allow, subjects;
};

/* The same lookups, in the same order, as policy_decide() in mesh.bpf.c,
 * under generation GEN. ISOLATED (may be NULL) says whether SUBJECT is. */
__u8 mesh_policy_decide(const struct mesh_policy_fds *fds, __u32 gen, __u8 dir, __u32 subject,
			__u32 peer, __u8 proto, __u16 port, __u32 *rule, bool *isolated);

const char *mesh_verdict_name(__u8 verdict);
const char *mesh_proto_name(__u8 proto);

#endif
