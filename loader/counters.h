/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Reading the per-CPU counters and naming their fields. */
#ifndef SHUNT_COUNTERS_H
#define SHUNT_COUNTERS_H

#include <linux/types.h>

#include "pins.h"
#include "shunt_shared.h"

extern const char *const shunt_reason_names[SHUNT_REASON_MAX];
extern const char *const shunt_skip_names[SHUNT_SKIP_MAX];

/* Sums the per-CPU copies of shunt_counters into *sum. */
int shunt_counters_read(const struct shunt_pins *pins, struct shunt_counters *sum);

static inline const __u64 *shunt_reason_slots(const struct shunt_reason_counts *r)
{
	return (const __u64 *)r;
}

static inline const __u64 *shunt_skip_slots(const struct shunt_skip_counts *s)
{
	return (const __u64 *)s;
}

#endif
