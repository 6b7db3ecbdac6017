// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Millisecond timers: each runs once, not before its deadline, and not
 * after the first advance past it; cancel and re-arm from anywhere. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/timer_wheel.h"

struct probe {
	struct timer t;
	int runs;
	uint64_t ran_at;
	struct timer_wheel *w;
	struct timer *victim; /* cancelled when this one runs */
	uint64_t period;      /* re-armed this much later when it runs */
};

static void on_timer(struct timer *t, void *ctx)
{
	struct probe *p = ctx;

	(void)t;
	p->runs++;
	p->ran_at = p->w->now_ms;
	if (p->victim)
		timer_cancel(p->w, p->victim);
	if (p->period)
		timer_arm(p->w, &p->t, p->w->now_ms + p->period);
}

static void probe_init(struct probe *p, struct timer_wheel *w)
{
	memset(p, 0, sizeof(*p));
	p->w = w;
	timer_init(&p->t, on_timer, p);
}

static void test_runs_at_its_deadline_and_not_before(void **state)
{
	struct timer_wheel w;
	struct probe p;

	(void)state;
	timer_wheel_init(&w, 1000);
	probe_init(&p, &w);
	assert_int_equal(timer_wheel_next_ms(&w), -1);
	timer_arm(&w, &p.t, 1250);
	assert_int_equal(timer_wheel_next_ms(&w), 250);
	assert_int_equal(timer_wheel_advance(&w, 1249), 0);
	assert_int_equal(p.runs, 0);
	assert_int_equal(timer_wheel_next_ms(&w), 1);
	assert_int_equal(timer_wheel_advance(&w, 1250), 1);
	assert_int_equal(p.runs, 1);
	assert_false(timer_armed(&p.t));
	assert_int_equal(timer_wheel_advance(&w, 5000), 0);
	assert_int_equal(timer_wheel_next_ms(&w), -1);
}

static void test_cancel_and_rearm(void **state)
{
	struct timer_wheel w;
	struct probe a, b;

	(void)state;
	timer_wheel_init(&w, 0);
	probe_init(&a, &w);
	probe_init(&b, &w);
	timer_arm(&w, &a.t, 10);
	timer_arm(&w, &b.t, 10);
	timer_cancel(&w, &a.t);
	timer_cancel(&w, &a.t);	   /* twice: harmless */
	timer_arm(&w, &b.t, 3000); /* moved past a turn */
	assert_int_equal(timer_wheel_advance(&w, 2999), 0);
	assert_int_equal(timer_wheel_next_ms(&w), 1);
	assert_int_equal(timer_wheel_advance(&w, 3000), 1);
	assert_int_equal(a.runs, 0);
	assert_int_equal(b.runs, 1);
	assert_int_equal(b.ran_at, 3000);
}

static void test_a_function_may_rearm_itself_and_cancel_others(void **state)
{
	struct timer_wheel w;
	struct probe tick, first, second;

	(void)state;
	timer_wheel_init(&w, 0);
	probe_init(&tick, &w);
	probe_init(&first, &w);
	probe_init(&second, &w);
	tick.period = 5;
	timer_arm(&w, &tick.t, 5);
	/* Same millisecond: whichever runs first cancels the other. */
	first.victim = &second.t;
	second.victim = &first.t;
	timer_arm(&w, &first.t, 7);
	timer_arm(&w, &second.t, 7);
	assert_int_equal(timer_wheel_advance(&w, 7), 2);
	assert_int_equal(first.runs + second.runs, 1);
	/* A big step runs the periodic timer once, not once per missed period. */
	assert_int_equal(timer_wheel_advance(&w, 100), 1);
	assert_int_equal(tick.runs, 2);
	assert_int_equal(tick.t.expires_ms, 105);
	/* A deadline in the past runs at the next advance. */
	timer_arm(&w, &first.t, 3);
	assert_int_equal(timer_wheel_next_ms(&w), 1);
	assert_int_equal(timer_wheel_advance(&w, 101), 1);
}

static void test_far_timers_wait_a_bounded_sleep(void **state)
{
	struct timer_wheel w;
	struct probe p;

	(void)state;
	timer_wheel_init(&w, 0);
	probe_init(&p, &w);
	timer_arm(&w, &p.t, 60000);
	assert_int_equal(timer_wheel_next_ms(&w), TIMER_WHEEL_SLOTS);
	assert_int_equal(timer_wheel_advance(&w, 59999), 0);
	assert_int_equal(timer_wheel_advance(&w, 60000), 1);
}

/* Random deadlines and random steps against the obvious answer. */
static void test_random_against_reference(void **state)
{
	enum { N = 3000 };
	struct probe *p = calloc(N, sizeof(*p));
	uint64_t now = 123456, deadline[N];
	unsigned int seed = 42;
	struct timer_wheel w;
	int i, left = N;

	(void)state;
	assert_non_null(p);
	timer_wheel_init(&w, now);
	for (i = 0; i < N; i++) {
		probe_init(&p[i], &w);
		deadline[i] = now + 1 + (uint64_t)(rand_r(&seed) % 5000);
		timer_arm(&w, &p[i].t, deadline[i]);
	}
	while (left) {
		uint64_t step = 1 + (uint64_t)(rand_r(&seed) % 1500);
		int sleep = timer_wheel_next_ms(&w);

		assert_true(sleep >= 1);
		now += step;
		left -= (int)timer_wheel_advance(&w, now);
		for (i = 0; i < N; i++) {
			assert_int_equal(p[i].runs, deadline[i] <= now);
			/* Ran at the first advance past its deadline, not later. */
			if (p[i].runs)
				assert_true(deadline[i] > now - step || p[i].ran_at < now);
			if (p[i].runs && deadline[i] > now - step)
				assert_int_equal(p[i].ran_at, now);
		}
	}
	assert_int_equal(timer_wheel_next_ms(&w), -1);
	free(p);
}

/* The earliest of the armed deadlines, as next_ms answers it (-1: none). */
static int reference_next_ms(const struct probe *p, int n, uint64_t now)
{
	uint64_t best = UINT64_MAX;
	int i;

	for (i = 0; i < n; i++)
		if (timer_armed(&p[i].t) && p[i].t.expires_ms < best)
			best = p[i].t.expires_ms;
	if (best == UINT64_MAX)
		return -1;
	return best - now > TIMER_WHEEL_SLOTS ? TIMER_WHEEL_SLOTS : (int)(best - now);
}

/* Arms, moves and cancels at random, near and past a turn, and asks for
 * the next deadline after each: the answer is the exact one every time
 * (where the look starts must follow arming, cancelling and running). */
static void test_next_deadline_exact_through_arms_and_cancels(void **state)
{
	enum { N = 200, STEPS = 20000 };
	struct probe p[N];
	uint64_t now = 5000;
	unsigned int seed = 7;
	struct timer_wheel w;
	int i, k;

	(void)state;
	timer_wheel_init(&w, now);
	for (i = 0; i < N; i++)
		probe_init(&p[i], &w);
	for (k = 0; k < STEPS; k++) {
		int r = rand_r(&seed) % 10;

		i = rand_r(&seed) % N;
		if (r < 5) /* near, or past a turn */
			timer_arm(&w, &p[i].t,
				  now + 1 + (uint64_t)(rand_r(&seed) % (r < 4 ? 300 : 5000)));
		else if (r < 8)
			timer_cancel(&w, &p[i].t);
		else
			timer_wheel_advance(&w, now += (uint64_t)(rand_r(&seed) % 40));
		assert_int_equal(timer_wheel_next_ms(&w), reference_next_ms(p, N, now));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_runs_at_its_deadline_and_not_before),
	    cmocka_unit_test(test_cancel_and_rearm),
	    cmocka_unit_test(test_a_function_may_rearm_itself_and_cancel_others),
	    cmocka_unit_test(test_far_timers_wait_a_bounded_sleep),
	    cmocka_unit_test(test_random_against_reference),
	    cmocka_unit_test(test_next_deadline_exact_through_arms_and_cancels),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
