/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Listeners that hand their queued connections to the rest of their
 * SO_REUSEPORT group when they close (bpf/reuseport.bpf.c): what lets a
 * node proxy be replaced without resetting a connection.
 */
#ifndef SHUNT_REUSEPORT_MIGRATE_H
#define SHUNT_REUSEPORT_MIGRATE_H

/* The program, loaded: its fd (the caller's to close), or -errno with
 * *WHY saying what this kernel lacks. */
int shunt_reuseport_migrate_load(const char **why);

/* Attaches PROG to the SO_REUSEPORT group of the listening socket FD.
 * 0 or -errno. */
int shunt_reuseport_migrate_attach(int fd, int prog);

#endif
