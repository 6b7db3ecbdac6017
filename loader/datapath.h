/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Loading, attaching and removing the datapath. Everything is pinned (maps,
 * programs, bpf_links), so the datapath keeps running after the process
 * that loaded it exits. What the kernel allows is probed first
 * (kernel_features.h): a missing core feature stops the load, a missing optional
 * one is left out and named.
 */
#ifndef SHUNT_DATAPATH_H
#define SHUNT_DATAPATH_H

#include <linux/types.h>
#include <stdbool.h>
#include <stddef.h>

#include "pins.h"
#include "shunt_shared.h"

struct shunt_load_opts {
	const char *pin_root; /* NULL: SHUNT_DEFAULT_PIN_ROOT */
	const char *cgroup;   /* cgroup v2 directory to attach to */
	__u32 max_socks;      /* 0: SHUNT_MAX_SOCKS */
};

int shunt_datapath_load(const struct shunt_load_opts *opts);

/*
 * Switches the bypass off, waits up to DRAIN_MS for redirected data to be
 * read, then removes every link, program and map pin of the instance.
 */
int shunt_datapath_unload(const char *pin_root, unsigned int drain_ms);

/* True when any pin of the instance exists. */
bool shunt_datapath_present(const struct shunt_pins *pins);

/* Reads and writes the single shunt_config entry. */
int shunt_config_read(const struct shunt_pins *pins, struct shunt_config *cfg);
int shunt_config_write(const struct shunt_pins *pins, const struct shunt_config *cfg);
void shunt_config_defaults(struct shunt_config *cfg);

#endif
