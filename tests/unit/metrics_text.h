/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* What a metrics registry renders, for the unit tests that read it back. */
#ifndef SHUNT_TEST_METRICS_TEXT_H
#define SHUNT_TEST_METRICS_TEXT_H

#include <stddef.h>

#include "common/metrics.h"

/* R's Prometheus text (to free). */
char *metrics_text_of(struct metrics_registry *r);
/* How many lines of TEXT start with PREFIX. */
size_t metrics_text_lines(const char *text, const char *prefix);

#endif
