/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Checks that the running kernel has what the datapath needs. */
#ifndef SHUNT_PROBE_H
#define SHUNT_PROBE_H

#include <stddef.h>

/*
 * Returns 0 when everything is there, -EOPNOTSUPP otherwise; MISSING gets a
 * comma-separated list naming what is missing and the kernel option for it.
 */
int shunt_probe_kernel(char *missing, size_t len);

#endif
