/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What the running kernel lets shunt do. Every BPF program type, map type,
 * hook and attach mode shunt uses is a feature: core (without it shunt
 * cannot do its job and does not load) or optional (shunt loads without it
 * and names what is lost). The loader probes them, records the outcome in
 * the pinned shunt_features map (enum shunt_feature in shunt_shared.h), and
 * `shunt status` and the agent read it back from there. docs/kernels.md.
 */
#ifndef SHUNT_KERNEL_FEATURES_H
#define SHUNT_KERNEL_FEATURES_H

#include <linux/types.h>
#include <stdbool.h>
#include <stddef.h>

#include "pins.h"
#include "shunt_shared.h"

/* Names features to switch off for tests of the degraded modes; read by
 * the loader only ("optional" means every optional feature). */
#define SHUNT_FEATURES_OFF_ENV "SHUNT_FEATURES_OFF"

struct shunt_features {
	struct shunt_feature_status st[SHUNT_FEAT_MAX];
};

struct shunt_feature_info {
	const char *name;    /* stable: SHUNT_FEATURES_OFF, JSON, logs */
	bool core;	     /* without it, shunt does not load */
	const char *what;    /* the kernel piece, and since when */
	const char *without; /* what a user loses without it */
};

const struct shunt_feature_info *shunt_feature_info(enum shunt_feature id);
const char *shunt_feature_state_name(__u32 state);
/* Why a feature is in its state, for people: "" when it is on. */
void shunt_feature_why(const struct shunt_feature_status *s, char *buf, size_t len);

bool shunt_feature_on(const struct shunt_features *f, enum shunt_feature id);
void shunt_feature_set(struct shunt_features *f, enum shunt_feature id,
		       enum shunt_feature_state state, enum shunt_feature_reason reason, int err);

/*
 * Probes everything that can be known without loading shunt's own programs
 * (program and map types, helpers, BTF of hooks and attach types), then
 * applies SHUNT_FEATURES_OFF. Optional programs are marked on here and
 * confirmed by the loader's trial loads. -EINVAL for a bad SHUNT_FEATURES_OFF.
 */
int shunt_features_probe(struct shunt_features *f);

/* True when SHUNT_FEATURES_OFF named the feature. */
bool shunt_feature_forced_off(const struct shunt_features *f, enum shunt_feature id);

/* Decides the bypass from its guards (the receive hooks): call after attaching. */
void shunt_features_settle_bypass(struct shunt_features *f);

/* Names the missing core features into BUF; returns how many are missing. */
int shunt_features_core_missing(const struct shunt_features *f, char *buf, size_t len);

int shunt_features_write(const struct shunt_pins *pins, const struct shunt_features *f);
/* -ENOENT when the datapath has no shunt_features map (an older version). */
int shunt_features_read(const struct shunt_pins *pins, struct shunt_features *f);

/* One log line per feature: name, state, why, and what is lost. */
void shunt_features_log(const struct shunt_features *f);

#endif
