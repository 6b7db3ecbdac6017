/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The kernel's counters (bypass, services, policy verdicts) and Istio's TCP
 * metrics of the kernel path as metrics: a collector that reads the pinned
 * maps at every scrape. */
#ifndef SHUNT_DATAPATH_METRICS_H
#define SHUNT_DATAPATH_METRICS_H

#include "common/metrics.h"
#include "pins.h"

struct datapath_istio;

/* What the collector reads. */
struct datapath_metrics {
	const struct shunt_pins *pins;
	struct datapath_istio *istio; /* NULL: no istio_tcp_* (datapath_istio.h) */
};

/* DM must outlive R. 0 or -errno. */
int datapath_metrics_register(struct metrics_registry *r, struct datapath_metrics *dm);

#endif
