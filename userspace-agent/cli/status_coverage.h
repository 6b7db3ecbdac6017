/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Bypass coverage in `shunt status`: which share of same-node traffic took
 * the bypass, and for the rest, which program and why. */
#ifndef SHUNT_STATUS_COVERAGE_H
#define SHUNT_STATUS_COVERAGE_H

#include <stdio.h>

#include "coverage.h"
#include "common/json.h"

struct coverage_view {
	__u64 bytes_bypass, bytes_tcp;	 /* from the counters: since load */
	struct shunt_coverage_row *rows; /* from shunt_coverage (closed sockets) */
	size_t nrows;
	int err; /* reading shunt_coverage: 0 or -errno */
};

void coverage_print_text(FILE *out, const struct coverage_view *v);

/* "coverage": {bytes_bypass, bytes_tcp, bytes_share, sockets_bypass,
 * sockets_tcp_only, connections_skipped, early_eagain, programs: [...]} */
void coverage_print_json(struct shunt_json *j, const struct coverage_view *v);

#endif
