/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Istio's TCP metrics of the kernel path (docs/telemetry.md, "The kernel
 * path"): istio_tcp_connections_opened_total, _closed_total,
 * istio_tcp_sent_bytes_total and istio_tcp_received_bytes_total of the
 * connections between two workloads of this node, read from the datapath's
 * shunt_pairs at every scrape and labelled from the config the agent
 * applied last. The node proxy counts the connections it carries (its own
 * /metrics); the pairs it is one end of are left out here, so no
 * connection is counted twice.
 */
#ifndef SHUNT_DATAPATH_ISTIO_H
#define SHUNT_DATAPATH_ISTIO_H

#include "common/metrics.h"
#include "pairs.h"
#include "pins.h"

struct datapath_istio;
struct mesh_config;

/* Where the pairs come from: shunt_pairs_each (loader/pairs.h), or a
 * test's own. */
typedef int (*datapath_pairs_each_fn)(const struct shunt_pins *pins, shunt_pair_fn fn, void *ctx);

/* EACH NULL: shunt_pairs_each. NULL on ENOMEM. */
struct datapath_istio *datapath_istio_new(datapath_pairs_each_fn each);
void datapath_istio_free(struct datapath_istio *di);

/* The workloads of CFG, the config now applied, for the labels. 0, or
 * -ENOMEM with the previous ones kept. Thread-safe against the collector. */
int datapath_istio_learn(struct datapath_istio *di, const struct mesh_config *cfg);

/* The istio_tcp_* series of the pairs under PINS whose two workloads the
 * config names (none before the first datapath_istio_learn). */
void datapath_istio_collect(struct metrics_writer *w, const struct shunt_pins *pins,
			    struct datapath_istio *di);

#endif
