/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The bypass object (bpf/bypass.bpf.c): loaded with the programs this
 * kernel accepts, attached in an order that keeps it safe (the receive-side
 * guards before anything can redirect), every attachment pinned.
 */
#ifndef SHUNT_BYPASS_ATTACH_H
#define SHUNT_BYPASS_ATTACH_H

#include <linux/types.h>
#include <stdbool.h>
#include <stddef.h>

#include "kernel_features.h"
#include "pins.h"

struct bypass_bpf;

/* One attachment: its program's name, which is also its link pin. */
struct shunt_attachment {
	const char *name;
	enum shunt_feature needs; /* there only when this is on; SHUNT_FEAT_MAX: always */
};

/* In the order they are attached. */
extern const struct shunt_attachment shunt_bypass_attachments[];
extern const size_t shunt_bypass_attachment_count;

/* Whether attachment A is expected with features F. */
bool shunt_attachment_expected(const struct shunt_attachment *a, const struct shunt_features *f);

/*
 * Opens the object on the pinned maps under PINS and loads it with the
 * programs F allows. Every optional program gets a trial load first: one the
 * kernel refuses is left out and its feature marked off with the reason, so
 * only a refusal of a core program fails. *SKEL belongs to the caller.
 */
int shunt_bypass_load(const struct shunt_pins *pins, __u32 max_socks, struct shunt_features *f,
		      struct bypass_bpf **skel);

/* Pins every loaded program under PINS->progs. */
int shunt_bypass_pin_programs(struct bypass_bpf *skel, const struct shunt_pins *pins);

/*
 * Attaches and pins the receive-side guards when both kinds are loaded,
 * marks refusals, and decides SHUNT_FEAT_BYPASS from what is attached.
 */
int shunt_bypass_attach_rx(struct bypass_bpf *skel, const struct shunt_pins *pins,
			   struct shunt_features *f);

/* sk_msg on the sockhash: a pinned bpf_link, or bpf_prog_attach where the
 * kernel has no sockmap links (the map's pin keeps it attached). */
int shunt_bypass_attach_sk_msg(struct bypass_bpf *skel, const struct shunt_pins *pins,
			       struct shunt_features *f);

int shunt_bypass_attach_sockops(struct bypass_bpf *skel, const struct shunt_pins *pins, int cg_fd);

/* Whether attachment A is in place; *PROG_ID gets the attached program. */
bool shunt_bypass_attached(const struct shunt_pins *pins, const struct shunt_attachment *a,
			   __u32 *prog_id);

/* Detaches an sk_msg program attached without a link; nothing if none. */
void shunt_bypass_detach_sk_msg(const struct shunt_pins *pins);

#endif
