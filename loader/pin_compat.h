/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Whether the maps pinned under an instance have the layout this build's BPF
 * objects define. A datapath loaded by another shunt version keeps running
 * when the agent restarts; writing this build's structs into maps of
 * another size would cut or misread them, so the agent refuses instead.
 */
#ifndef SHUNT_PIN_COMPAT_H
#define SHUNT_PIN_COMPAT_H

#include <stddef.h>

#include "pins.h"

/* 0 if every pinned shunt_* map matches; -EPROTO with WHY filled if one
 * does not; another -errno if the objects cannot be read. */
int shunt_pins_compatible(const struct shunt_pins *pins, char *why, size_t len);

#endif
