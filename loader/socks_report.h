/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The sockets in the bypass right now (`shunt conns`, unload's drain): from
 * the sockhash iterator where the kernel loads it, else from the maps (the
 * sockhash's keys joined with shunt_endpoints).
 */
#ifndef SHUNT_SOCKS_REPORT_H
#define SHUNT_SOCKS_REPORT_H

#include <linux/types.h>
#include <stddef.h>

#include "pins.h"
#include "shunt_shared.h"

enum shunt_socks_source {
	SHUNT_SOCKS_FROM_ITERATOR, /* the kernel's view of each socket */
	SHUNT_SOCKS_FROM_MAPS,	   /* what the sockets published in shunt_endpoints */
};

const char *shunt_socks_source_name(enum shunt_socks_source source);

/* One report per socket in the sockhash; *out is malloc'ed. */
int shunt_socks_report(const struct shunt_pins *pins, struct shunt_sock_report **out, size_t *count,
		       enum shunt_socks_source *source);

/* Waits up to DRAIN_MS until no socket holds unread redirected data;
 * returns the bytes still unread and, in *SOCKS_LEFT, on how many sockets. */
__u64 shunt_socks_drain(const struct shunt_pins *pins, unsigned int drain_ms, size_t *socks_left);

#endif
