// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "snapshot.h"

#include <time.h>

void snap_init(struct snap *s, void (*destroy)(struct snap *s))
{
	atomic_init(&s->refs, 1);
	s->destroy = destroy;
}

void snap_put(struct snap *s)
{
	if (s && atomic_fetch_sub(&s->refs, 1) == 1)
		s->destroy(s);
}

void snap_slot_init(struct snap_slot *slot)
{
	pthread_mutex_init(&slot->lock, NULL);
	pthread_cond_init(&slot->changed, NULL);
	slot->cur = NULL;
	atomic_init(&slot->serial, 0);
}

void snap_slot_clear(struct snap_slot *slot)
{
	pthread_mutex_lock(&slot->lock);
	snap_put(slot->cur);
	slot->cur = NULL;
	pthread_mutex_unlock(&slot->lock);
}

void snap_publish(struct snap_slot *slot, struct snap *s)
{
	struct snap *old;

	pthread_mutex_lock(&slot->lock);
	old = slot->cur;
	slot->cur = s;
	atomic_fetch_add(&slot->serial, 1);
	pthread_cond_broadcast(&slot->changed);
	pthread_mutex_unlock(&slot->lock);
	snap_put(old);
}

struct snap *snap_get(struct snap_slot *slot)
{
	struct snap *s;

	pthread_mutex_lock(&slot->lock);
	s = slot->cur;
	if (s)
		atomic_fetch_add(&s->refs, 1);
	pthread_mutex_unlock(&slot->lock);
	return s;
}

struct snap *snap_follow(struct snap_slot *slot, struct snap_ref *r)
{
	unsigned long serial = atomic_load(&slot->serial);
	struct snap *old;

	if (serial == r->serial && r->s)
		return r->s;
	pthread_mutex_lock(&slot->lock);
	old = r->s;
	r->s = slot->cur;
	if (r->s)
		atomic_fetch_add(&r->s->refs, 1);
	r->serial = atomic_load(&slot->serial);
	pthread_mutex_unlock(&slot->lock);
	snap_put(old);
	return r->s;
}

unsigned long snap_wait(struct snap_slot *slot, unsigned long serial, int timeout_ms)
{
	struct timespec until;
	unsigned long now;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&slot->lock);
	while (atomic_load(&slot->serial) == serial &&
	       !pthread_cond_timedwait(&slot->changed, &slot->lock, &until))
		;
	now = atomic_load(&slot->serial);
	pthread_mutex_unlock(&slot->lock);
	return now;
}
