/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Millisecond timers for event loops: a hashed timing wheel, one per thread
 * (no locks). Arming, re-arming and cancelling are O(1); the loop asks how
 * long it may sleep (timer_wheel_next_ms, for epoll_wait) and then runs what
 * is due (timer_wheel_advance). Timers are embedded in their owners.
 */
#ifndef SHUNT_TIMER_WHEEL_H
#define SHUNT_TIMER_WHEEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TIMER_WHEEL_SLOTS 1024 /* one turn: 1024 ms */

struct timer;
typedef void (*timer_fn)(struct timer *t, void *ctx);

struct timer {
	struct timer *next, **pprev; /* pprev NULL: not armed */
	uint64_t expires_ms;
	timer_fn fn;
	void *ctx;
};

struct timer_wheel {
	struct timer *slots[TIMER_WHEEL_SLOTS];
	uint64_t now_ms; /* everything due by now_ms has run */
	size_t armed;
	/* No armed timer is due before it: where timer_wheel_next_ms starts
	 * looking, so that a far timer costs one slot's look, not a turn's. */
	uint64_t low_ms;
};

/* Milliseconds on CLOCK_MONOTONIC. */
uint64_t timer_now_ms(void);

void timer_wheel_init(struct timer_wheel *w, uint64_t now_ms);
void timer_init(struct timer *t, timer_fn fn, void *ctx);
/* Arms T to run at EXPIRES_MS (in the past: at the next advance); re-arms an armed one. */
void timer_arm(struct timer_wheel *w, struct timer *t, uint64_t expires_ms);
void timer_cancel(struct timer_wheel *w, struct timer *t);
static inline bool timer_armed(const struct timer *t)
{
	return t->pprev != NULL;
}
/*
 * Runs every timer due by NOW_MS, each once, roughly in deadline order. A timer's function may
 * re-arm, cancel or free any timer. Returns how many ran.
 */
size_t timer_wheel_advance(struct timer_wheel *w, uint64_t now_ms);
/* Milliseconds until the next timer is due: 0 if one is, -1 if none is
 * armed, at most one turn (the loop then asks again). Not const: it keeps
 * the deadline it found as where the next look starts (low_ms). */
int timer_wheel_next_ms(struct timer_wheel *w);

#endif
