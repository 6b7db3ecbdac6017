/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Immutable snapshots, swapped whole and freed by the last reference: how
 * the proxy's workers follow the model and the certificates without a lock
 * on the request path. A writer builds a new snapshot and publishes it; each
 * worker keeps a reference to the one it uses and looks (one atomic load)
 * for a newer one between batches of events. The slot's mutex is taken only
 * when something changed, never per request.
 */
#ifndef SHUNT_PROXY_SNAPSHOT_H
#define SHUNT_PROXY_SNAPSHOT_H

#include <pthread.h>
#include <stdatomic.h>

struct snap {
	atomic_int refs;
	void (*destroy)(struct snap *s);
};

struct snap_slot {
	pthread_mutex_t lock;
	struct snap *cur;    /* under lock */
	atomic_ulong serial; /* bumped by every publish */
	pthread_cond_t changed;
};

/* What a reader holds: its reference and the serial it was taken at. */
struct snap_ref {
	struct snap *s;
	unsigned long serial;
};

void snap_init(struct snap *s, void (*destroy)(struct snap *s)); /* one reference */
void snap_slot_init(struct snap_slot *slot);
/* Drops the slot's reference (at exit). */
void snap_slot_clear(struct snap_slot *slot);
/* S becomes current; the slot takes the caller's reference. */
void snap_publish(struct snap_slot *slot, struct snap *s);
/* The current snapshot with a reference of its own (NULL: none yet). */
struct snap *snap_get(struct snap_slot *slot);
/* Brings R up to the current snapshot if there is a newer one; R->s. */
struct snap *snap_follow(struct snap_slot *slot, struct snap_ref *r);
/* Waits up to TIMEOUT_MS for a publish after SERIAL; the serial now. */
unsigned long snap_wait(struct snap_slot *slot, unsigned long serial, int timeout_ms);
void snap_put(struct snap *s);

#endif
