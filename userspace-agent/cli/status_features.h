/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The kernel features table of `shunt status` and `shunt load`, text and JSON. */
#ifndef SHUNT_STATUS_FEATURES_H
#define SHUNT_STATUS_FEATURES_H

#include <stdio.h>

#include "kernel_features.h"
#include "common/json.h"

/* A table: feature, state, why, and what is lost without it. */
void features_print_text(FILE *out, const struct shunt_features *f);

/* "features": [{name, core, state, available, reason, why, what, without}] */
void features_print_json(struct shunt_json *j, const struct shunt_features *f);

#endif
