/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The kernel's counters (bypass, services, policy verdicts) as metrics: a
 * collector that reads the pinned maps at every scrape. */
#ifndef SHUNT_DATAPATH_METRICS_H
#define SHUNT_DATAPATH_METRICS_H

#include "common/metrics.h"
#include "pins.h"

/* PINS must outlive R. 0 or -errno. */
int datapath_metrics_register(struct metrics_registry *r, const struct shunt_pins *pins);

#endif
