/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Trial loads: does this kernel accept one of shunt's programs? The only
 * probe that sees everything a refusal can come from (program type,
 * helpers, BTF of the hook, lockdown), so optional programs get one before
 * the real load leaves them out.
 */
#ifndef SHUNT_TRIAL_H
#define SHUNT_TRIAL_H

#include <bpf/libbpf.h>

/*
 * Loads only program PROG of OBJ (opened, not loaded), with small private
 * maps and nothing pinned, then the caller destroys OBJ. 0 or -errno.
 * libbpf's messages about it go to the debug log.
 */
int shunt_trial_load(struct bpf_object *obj, const char *prog);

#endif
