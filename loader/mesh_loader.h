/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The services/policy programs (mesh.bpf.c): loaded, pinned and attached to
 * the mesh cgroup together with the bypass, removed with it. Their links
 * are pinned under the program names.
 */
#ifndef SHUNT_MESH_LOADER_H
#define SHUNT_MESH_LOADER_H

#include <stdbool.h>
#include <stddef.h>

#include "kernel_features.h"
#include "pins.h"

/* Names of the mesh programs, which are also their link pins. */
extern const char *const shunt_mesh_link_names[];
extern const size_t shunt_mesh_link_count;

/*
 * Loads, pins and attaches every program to CG_FD, with what F allows
 * (bpf_set_retval). 0 or -errno.
 */
int shunt_mesh_attach(const struct shunt_pins *pins, int cg_fd, const struct shunt_features *f);

/* Links of the mesh programs that are pinned, and how many there should be. */
int shunt_mesh_links_pinned(const struct shunt_pins *pins, size_t *pinned, size_t *expected);

/* Removes the link and program pins, and the map pins when MAPS. */
void shunt_mesh_unpin(const struct shunt_pins *pins, bool maps);

#endif
