// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "timer_wheel.h"

#include <string.h>
#include <time.h>

#define SLOT_MASK (TIMER_WHEEL_SLOTS - 1)

_Static_assert((TIMER_WHEEL_SLOTS & SLOT_MASK) == 0, "slots: a power of two");

uint64_t timer_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void timer_wheel_init(struct timer_wheel *w, uint64_t now_ms)
{
	memset(w, 0, sizeof(*w));
	w->now_ms = now_ms;
	w->low_ms = UINT64_MAX;
}

void timer_init(struct timer *t, timer_fn fn, void *ctx)
{
	memset(t, 0, sizeof(*t));
	t->fn = fn;
	t->ctx = ctx;
}

static void link_into(struct timer **head, struct timer *t)
{
	t->next = *head;
	if (t->next)
		t->next->pprev = &t->next;
	t->pprev = head;
	*head = t;
}

static void unlink_timer(struct timer *t)
{
	*t->pprev = t->next;
	if (t->next)
		t->next->pprev = t->pprev;
	t->next = NULL;
	t->pprev = NULL;
}

void timer_arm(struct timer_wheel *w, struct timer *t, uint64_t expires_ms)
{
	if (timer_armed(t))
		timer_cancel(w, t);
	/* Never behind the wheel: a past deadline runs at the next advance. */
	if (expires_ms <= w->now_ms)
		expires_ms = w->now_ms + 1;
	t->expires_ms = expires_ms;
	if (expires_ms < w->low_ms)
		w->low_ms = expires_ms;
	link_into(&w->slots[expires_ms & SLOT_MASK], t);
	w->armed++;
}

void timer_cancel(struct timer_wheel *w, struct timer *t)
{
	if (!timer_armed(t))
		return;
	unlink_timer(t);
	w->armed--;
}

/* Runs the timers of TICK's slot that are due by NOW; later turns' stay. */
static size_t run_slot(struct timer_wheel *w, uint64_t tick, uint64_t now)
{
	struct timer *pending = NULL, *t;
	struct timer **slot = &w->slots[tick & SLOT_MASK];
	size_t ran = 0;

	/* Move the due ones to a list of their own first: a function may arm
	 * timers into this very slot, and those wait for their turn. */
	for (t = *slot; t;) {
		struct timer *next = t->next;

		if (t->expires_ms <= now) {
			unlink_timer(t);
			link_into(&pending, t);
		}
		t = next;
	}
	while ((t = pending)) {
		unlink_timer(t);
		w->armed--;
		t->fn(t, t->ctx);
		ran++;
	}
	return ran;
}

size_t timer_wheel_advance(struct timer_wheel *w, uint64_t now_ms)
{
	uint64_t first = w->now_ms + 1, n, i;
	size_t ran = 0;

	if (now_ms <= w->now_ms)
		return 0;
	/* Slots in deadline order; more than a turn behind, every slot once. */
	n = now_ms - w->now_ms < TIMER_WHEEL_SLOTS ? now_ms - w->now_ms : TIMER_WHEEL_SLOTS;
	w->now_ms = now_ms; /* what the functions re-arm lands after now */
	for (i = 0; i < n; i++)
		ran += run_slot(w, first + i, now_ms);
	return ran;
}

/*
 * Every slot once, from the first tick no timer can be due before: LOW_MS
 * (or just after now). A timer in the slot of tick T is due at T or a whole
 * turn later, so once the best deadline seen is by T, no later slot holds
 * an earlier one. Without LOW_MS, the loop's one far timer (a flush, a
 * request's timeout) cost a look at every slot on every turn of the loop.
 */
int timer_wheel_next_ms(struct timer_wheel *w)
{
	uint64_t start = w->now_ms + 1, tick, best = UINT64_MAX;
	const struct timer *t;

	if (!w->armed)
		return -1;
	if (w->low_ms != UINT64_MAX && w->low_ms > start)
		start = w->low_ms;
	for (tick = start; tick < start + TIMER_WHEEL_SLOTS; tick++) {
		for (t = w->slots[tick & SLOT_MASK]; t; t = t->next)
			if (t->expires_ms < best)
				best = t->expires_ms;
		if (best <= tick)
			break;
	}
	w->low_ms = best; /* the earliest deadline: none is due before it */
	if (best > w->now_ms + TIMER_WHEEL_SLOTS)
		return TIMER_WHEEL_SLOTS;
	return (int)(best - w->now_ms);
}
