/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Where shunt pins things in bpffs. One root per mesh instance (default
 * /sys/fs/bpf/shunt): maps/, progs/ and links/ under it, each entry named
 * after the map or program (all names start with shunt_).
 */
#ifndef SHUNT_PINS_H
#define SHUNT_PINS_H

#include <limits.h>
#include <stddef.h>

#define SHUNT_DEFAULT_PIN_ROOT "/sys/fs/bpf/shunt"
/* Files of an instance (bpffs holds no regular files): this, then the pin
 * root's own path, e.g. /run/shunt/sys/fs/bpf/shunt/model.json. */
#define SHUNT_RUN_ROOT "/run/shunt"
/* Under links/: the node proxies' tcx link of shunt_tproxy_mark, which the
 * proxies pin and share (proxy_tproxy.c); unload removes it too. */
#define SHUNT_TPROXY_LINK_PIN "shunt_tproxy_link"

struct shunt_pins {
	char root[PATH_MAX / 4];
	char maps[PATH_MAX / 4];
	char progs[PATH_MAX / 4];
	char links[PATH_MAX / 4];
};

/* Fills the layout for ROOT (NULL: the default root); -ENAMETOOLONG. */
int shunt_pins_init(struct shunt_pins *pins, const char *root);
/* DIR/NAME into BUF. */
int shunt_pin_path(char *buf, size_t len, const char *dir, const char *name);
/* Removes the pin DIR/NAME; a missing pin is fine. 0 or -errno. */
int shunt_unpin(const char *dir, const char *name);
/* The instance's run directory (SHUNT_RUN_ROOT + root) into BUF. */
int shunt_run_dir(const struct shunt_pins *pins, char *buf, size_t len);
/* Removes the run directory with what is in it, then its parents up to
 * SHUNT_RUN_ROOT that are left empty. A missing one is fine. 0 or -errno. */
int shunt_run_dir_remove(const struct shunt_pins *pins);
/* Opens a pinned map of this instance by name; returns fd or -errno. */
int shunt_pinned_map_fd(const struct shunt_pins *pins, const char *name);

#endif
