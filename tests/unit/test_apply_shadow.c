// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The apply's shadow (struct mesh_shadow): what this process knows each
 * generation holds, and so when an apply may write only the difference.
 * Rules: a generation is known only once this process wrote it whole; the
 * first apply, one after a restart and one after a failed write to that
 * generation are full; a failed bypass membership write makes the next
 * apply rewrite membership in full. The target is the in-memory one
 * (mem_target.c) behind a spy that counts writes and fails one on purpose.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mem_target.h"
#include "control/mesh_apply.h"
#include "control/mesh_plan.h"

/* Counts every write to the target; can fail the Nth update of one map. */
struct spy {
	struct mem_target *mem;
	struct mesh_target inner;
	unsigned long updates[MESH_TARGET_MAPS], deletes[MESH_TARGET_MAPS];
	int fail_map;
	unsigned long fail_in; /* updates of fail_map until the failure; 0: none */
};

static int spy_lookup(void *ctx, int map, const void *key, void *value)
{
	struct spy *s = ctx;

	return s->inner.ops->lookup(s->inner.ctx, map, key, value);
}

static int spy_update(void *ctx, int map, const void *key, const void *value)
{
	struct spy *s = ctx;

	s->updates[map]++;
	if (map == s->fail_map && s->fail_in && !--s->fail_in)
		return -E2BIG;
	return s->inner.ops->update(s->inner.ctx, map, key, value);
}

static int spy_delete(void *ctx, int map, const void *key)
{
	struct spy *s = ctx;

	s->deletes[map]++;
	return s->inner.ops->delete (s->inner.ctx, map, key);
}

static int spy_next_key(void *ctx, int map, const void *key, void *next)
{
	struct spy *s = ctx;

	return s->inner.ops->next_key(s->inner.ctx, map, key, next);
}

/* No batch operations: every write goes through spy_update/spy_delete. */
static const struct mesh_target_ops spy_ops = {
    .lookup = spy_lookup,
    .update = spy_update,
    .delete = spy_delete,
    .next_key = spy_next_key,
};

struct fixture {
	struct spy spy;
	struct mesh_target target;
	struct mesh_shadow shadow;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->spy.mem = mem_target_create(false);
	if (!f->spy.mem) {
		free(f);
		return -1;
	}
	f->spy.inner = mem_target_as_target(f->spy.mem);
	f->spy.fail_map = -1;
	f->target = (struct mesh_target){.ops = &spy_ops, .ctx = &f->spy};
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	mesh_shadow_free(&f->shadow);
	mem_target_destroy(f->spy.mem);
	free(f);
	return 0;
}

/* A config, as far as these tests need one: service ports, and local
 * workloads (the bypass membership) by the last byte of their address. */
struct cfg {
	const int *ports, *workloads;
};

#define LIST(...) ((const int[]){__VA_ARGS__, 0})
static const int NONE[] = {0};

static void service_key(int port, struct shunt_service_key *k)
{
	memset(k, 0, sizeof(*k));
	k->proto = 6;
	k->port = (__u16)port;
	k->addr[10] = k->addr[11] = 0xff;
	k->addr[12] = 10;
	k->addr[13] = 96;
	k->addr[15] = 1;
}

static void workload_key(int w, struct shunt_workload_key *k)
{
	memset(k, 0, sizeof(*k));
	k->addr[10] = k->addr[11] = 0xff;
	k->addr[12] = 10;
	k->addr[15] = (__u8)w;
}

static void build_plan(const struct cfg *c, struct mesh_plan *p)
{
	int map, i;

	memset(p, 0, sizeof(*p));
	for (map = 0; map < PLAN_MAPS; map++) {
		p->maps[map].key_size = mem_map_key_size(map);
		p->maps[map].value_size = mem_map_value_size(map);
	}
	p->workloads.key_size = mem_map_key_size(MESH_MAP_WORKLOADS);
	p->workloads.value_size = mem_map_value_size(MESH_MAP_WORKLOADS);
	p->workload_names.key_size = mem_map_key_size(MESH_MAP_WORKLOAD_NAMES);
	p->workload_names.value_size = mem_map_value_size(MESH_MAP_WORKLOAD_NAMES);
	for (i = 0; c->ports[i]; i++) {
		struct shunt_service_key k;
		struct shunt_service v = {.id = (__u32)c->ports[i], .backends = 1};

		service_key(c->ports[i], &k);
		assert_int_equal(kv_push(&p->maps[PLAN_SERVICES], &k, &v), 0);
	}
	for (i = 0; c->workloads[i]; i++) {
		struct shunt_workload_key k;
		struct shunt_workload v = {.id = (__u32)c->workloads[i], .flags = SHUNT_WL_LOCAL};
		struct shunt_workload_name n = {{0}};
		__u32 id = (__u32)c->workloads[i];

		workload_key(c->workloads[i], &k);
		snprintf(n.name, sizeof(n.name), "default/w%d", c->workloads[i]);
		assert_int_equal(kv_push(&p->workloads, &k, &v), 0);
		assert_int_equal(kv_push(&p->workload_names, &id, &n), 0);
	}
}

static int count(const int *list)
{
	int n = 0;

	while (list[n])
		n++;
	return n;
}

/* Generation GEN of the service map holds exactly PORTS. */
static void assert_services(struct fixture *f, int gen, const int *ports)
{
	struct shunt_service_key k;
	struct mem_dump d;
	size_t i;
	int j;

	assert_int_equal(mem_target_dump(f->spy.mem, PLAN_SERVICES, gen, &d), 0);
	assert_int_equal(d.n, count(ports));
	for (j = 0; ports[j]; j++) {
		service_key(ports[j], &k); /* gen 0: the dump zeroes it */
		for (i = 0; i < d.n && memcmp(mem_dump_key(&d, i), &k, sizeof(k)); i++)
			;
		if (i == d.n)
			fail_msg("generation %d has no service port %d", gen, ports[j]);
	}
	mem_dump_free(&d);
}

/* The bypass membership maps hold exactly WORKLOADS. */
static void assert_membership(struct fixture *f, const int *workloads)
{
	struct shunt_workload_key k;
	struct mem_dump d;
	size_t i;
	int j;

	assert_int_equal(mem_target_count(f->spy.mem, MESH_MAP_WORKLOAD_NAMES), count(workloads));
	assert_int_equal(mem_target_dump(f->spy.mem, MESH_MAP_WORKLOADS, MEM_ALL_GENS, &d), 0);
	assert_int_equal(d.n, count(workloads));
	for (j = 0; workloads[j]; j++) {
		workload_key(workloads[j], &k);
		for (i = 0; i < d.n && memcmp(mem_dump_key(&d, i), &k, sizeof(k)); i++)
			;
		if (i == d.n)
			fail_msg("workload %d is not in the bypass membership", workloads[j]);
	}
	mem_dump_free(&d);
}

static struct shunt_mesh_state live_state(struct fixture *f)
{
	struct shunt_mesh_state st;
	__u32 zero = 0;

	assert_int_equal(f->spy.inner.ops->lookup(f->spy.inner.ctx, MESH_MAP_STATE, &zero, &st), 0);
	return st;
}

/*
 * Applies C with SHADOW (NULL: none), counting its writes afresh. On
 * success the plan belongs to the shadow (it checks the plan was emptied),
 * else it is freed here. Expected failures log; stderr goes to /dev/null.
 */
static int apply(struct fixture *f, const struct cfg *c, struct mesh_shadow *shadow,
		 struct mesh_apply_stats *st)
{
	FILE *saved = stderr, *null = fopen("/dev/null", "w");
	struct mesh_plan plan;
	int err;

	build_plan(c, &plan);
	memset(f->spy.updates, 0, sizeof(f->spy.updates));
	memset(f->spy.deletes, 0, sizeof(f->spy.deletes));
	if (null)
		stderr = null;
	err = mesh_apply_to(&f->target, &plan, shadow, st);
	stderr = saved;
	if (null)
		fclose(null);
	if (!err && shadow) {
		assert_int_equal(plan.maps[PLAN_SERVICES].n, 0);
		assert_null(plan.maps[PLAN_SERVICES].keys);
		assert_int_equal(plan.workloads.n, 0);
	} else {
		/* A failed or shadowless apply leaves the plan to the caller. */
		assert_int_equal(plan.maps[PLAN_SERVICES].n, count(c->ports));
		mesh_plan_free(&plan);
	}
	return err;
}

static const struct cfg A = {LIST(80, 443, 8080), LIST(1, 2)};
static const struct cfg B = {LIST(80, 443), LIST(1, 3)};
static const struct cfg C = {LIST(80, 443, 9090), LIST(1, 2, 4)};

static void first_apply_is_full_and_flips_to_generation_1(void **state)
{
	struct fixture *f = *state;
	struct mesh_apply_stats st;
	struct shunt_mesh_state live;

	assert_int_equal(apply(f, &A, &f->shadow, &st), 0);
	assert_false(st.incremental);
	assert_int_equal(st.gen, 1);
	assert_int_equal(st.version, 1);
	assert_int_equal(st.entries, 3);
	assert_int_equal(st.written, 3);
	live = live_state(f);
	assert_int_equal(live.gen, 1);
	assert_int_equal(live.version, 1);
	assert_true(f->shadow.known[1]);
	assert_false(f->shadow.known[0]);
	assert_false(f->shadow.membership_stale);
	assert_services(f, 1, A.ports);
	assert_services(f, 0, NONE);
	assert_membership(f, A.workloads);
}

/* Generations alternate; a generation is written incrementally only once
 * the shadow knows it, i.e. from the third apply on. */
static void generations_alternate_and_the_third_apply_is_incremental(void **state)
{
	struct fixture *f = *state;
	struct mesh_apply_stats st;

	assert_int_equal(apply(f, &A, &f->shadow, &st), 0);
	assert_int_equal(apply(f, &B, &f->shadow, &st), 0);
	assert_false(st.incremental);
	assert_int_equal(st.gen, 0);
	assert_int_equal(st.version, 2);
	assert_true(f->shadow.known[0] && f->shadow.known[1]);
	assert_membership(f, B.workloads);

	assert_int_equal(apply(f, &C, &f->shadow, &st), 0);
	assert_true(st.incremental);
	assert_int_equal(st.gen, 1);
	assert_int_equal(st.version, 3);
	assert_int_equal(live_state(f).gen, 1);
	/* A -> C in generation 1: port 9090 written, 8080 deleted, no more. */
	assert_int_equal(st.written, 2);
	assert_int_equal(f->spy.updates[PLAN_SERVICES], 1);
	assert_int_equal(f->spy.deletes[PLAN_SERVICES], 1);
	assert_services(f, 1, C.ports);
	assert_services(f, 0, B.ports); /* the previous generation stays as it was */
	/* Membership B -> C: workloads 2 and 4 added, 3 removed. */
	assert_int_equal(f->spy.updates[MESH_MAP_WORKLOADS], 2);
	assert_int_equal(f->spy.deletes[MESH_MAP_WORKLOADS], 1);
	assert_membership(f, C.workloads);
}

/* The same config again: nothing to write but the flip. */
static void unchanged_config_writes_only_the_flip(void **state)
{
	struct fixture *f = *state;
	struct mesh_apply_stats st;
	int map;

	assert_int_equal(apply(f, &A, &f->shadow, &st), 0);
	assert_int_equal(apply(f, &A, &f->shadow, &st), 0);
	assert_int_equal(apply(f, &A, &f->shadow, &st), 0);
	assert_true(st.incremental);
	assert_int_equal(st.written, 0);
	for (map = 0; map < MESH_TARGET_MAPS; map++) {
		assert_int_equal(f->spy.updates[map], map == MESH_MAP_STATE);
		assert_int_equal(f->spy.deletes[map], 0);
	}
	assert_int_equal(live_state(f).version, 3);
}

/*
 * A write to the inactive generation fails halfway: nothing flips, and the
 * shadow forgets that generation, whose content is now neither the old
 * nor the new config. The next apply there is full and leaves exactly its
 * config, even one whose difference from the old would be empty.
 */
static void failed_write_forgets_the_generation_and_next_apply_is_full(void **state)
{
	const struct cfg D = {LIST(80, 443, 8080, 7000, 7001), LIST(1, 2)};
	struct fixture *f = *state;
	struct mesh_apply_stats st;
	struct shunt_mesh_state live;

	assert_int_equal(apply(f, &A, &f->shadow, &st), 0);
	assert_int_equal(apply(f, &B, &f->shadow, &st), 0);
	/* A -> D in generation 1: 7000 is written, 7001 fails. */
	f->spy.fail_map = PLAN_SERVICES;
	f->spy.fail_in = 2;
	assert_int_equal(apply(f, &D, &f->shadow, &st), -E2BIG);
	live = live_state(f);
	assert_int_equal(live.gen, 0);
	assert_int_equal(live.version, 2);
	assert_services(f, 0, B.ports);
	assert_services(f, 1, LIST(80, 443, 8080, 7000));
	assert_false(f->shadow.known[1]);
	assert_true(f->shadow.known[0]);
	assert_membership(f, B.workloads);

	/* A again: no difference from what the shadow had for generation 1. */
	assert_int_equal(apply(f, &A, &f->shadow, &st), 0);
	assert_false(st.incremental);
	assert_int_equal(st.gen, 1);
	assert_int_equal(st.version, 3);
	assert_services(f, 1, A.ports);
	assert_true(f->shadow.known[1]);
	assert_membership(f, A.workloads);
}

/* The flip itself fails: the generation was written but is not live. */
static void failed_flip_changes_nothing_live(void **state)
{
	struct fixture *f = *state;
	struct mesh_apply_stats st;
	struct shunt_mesh_state live;

	assert_int_equal(apply(f, &A, &f->shadow, &st), 0);
	assert_int_equal(apply(f, &B, &f->shadow, &st), 0);
	f->spy.fail_map = MESH_MAP_STATE;
	f->spy.fail_in = 1;
	assert_int_equal(apply(f, &C, &f->shadow, &st), -E2BIG);
	live = live_state(f);
	assert_int_equal(live.gen, 0);
	assert_int_equal(live.version, 2);
	assert_false(f->shadow.known[1]);
	assert_membership(f, B.workloads);
	assert_int_equal(apply(f, &C, &f->shadow, &st), 0);
	assert_false(st.incremental);
	assert_int_equal(st.version, 3);
	assert_services(f, 1, C.ports);
}

/*
 * A bypass membership write fails after the flip: the apply stands (policy
 * and services are live) and the shadow marks membership stale; the next
 * apply rewrites membership in full, even when its own membership equals
 * what the shadow holds.
 */
static void failed_membership_write_is_synced_in_full_next_time(void **state)
{
	struct fixture *f = *state;
	struct mesh_apply_stats st;

	assert_int_equal(apply(f, &A, &f->shadow, &st), 0);
	f->spy.fail_map = MESH_MAP_WORKLOADS;
	f->spy.fail_in = 1;
	assert_int_equal(apply(f, &B, &f->shadow, &st), 0);
	assert_int_equal(live_state(f).version, 2);
	assert_services(f, 0, B.ports);
	assert_true(f->shadow.membership_stale);
	assert_membership(f, A.workloads); /* 3 was refused, 2 not yet removed */

	assert_int_equal(apply(f, &B, &f->shadow, &st), 0);
	assert_false(f->shadow.membership_stale);
	assert_membership(f, B.workloads);
}

/* Without a shadow (a one-shot `shunt` command) every apply is full. */
static void without_a_shadow_every_apply_is_full(void **state)
{
	struct fixture *f = *state;
	struct mesh_apply_stats st;
	const struct cfg *seq[] = {&A, &B, &C, &A};
	int i;

	for (i = 0; i < 4; i++) {
		assert_int_equal(apply(f, seq[i], NULL, &st), 0);
		assert_false(st.incremental);
		assert_int_equal(st.gen, (i + 1) & 1);
		assert_int_equal(st.version, i + 1);
		assert_int_equal(st.written, count(seq[i]->ports));
		assert_services(f, (i + 1) & 1, seq[i]->ports);
		assert_membership(f, seq[i]->workloads);
	}
}

/*
 * An agent restart (mesh_shadow_free) knows neither generation: the next
 * apply is full and removes what it did not write (here: entries another
 * writer left in the inactive generation and in the membership).
 */
static void after_a_restart_the_apply_is_full_and_removes_strays(void **state)
{
	struct fixture *f = *state;
	struct shunt_service_key sk;
	struct shunt_service sv = {.id = 5555};
	struct shunt_workload_key wk;
	struct shunt_workload wv = {.id = 99};
	struct mesh_apply_stats st;

	assert_int_equal(apply(f, &A, &f->shadow, &st), 0);
	assert_int_equal(apply(f, &B, &f->shadow, &st), 0);
	mesh_shadow_free(&f->shadow);
	assert_false(f->shadow.known[0] || f->shadow.known[1]);
	service_key(5555, &sk);
	sk.gen = 1;
	assert_int_equal(f->spy.inner.ops->update(f->spy.inner.ctx, PLAN_SERVICES, &sk, &sv), 0);
	workload_key(99, &wk);
	assert_int_equal(f->spy.inner.ops->update(f->spy.inner.ctx, MESH_MAP_WORKLOADS, &wk, &wv),
			 0);

	assert_int_equal(apply(f, &C, &f->shadow, &st), 0);
	assert_false(st.incremental);
	assert_int_equal(st.gen, 1);
	assert_services(f, 1, C.ports);
	assert_services(f, 0, B.ports);
	assert_membership(f, C.workloads);
	assert_true(f->shadow.known[1]);
	assert_false(f->shadow.known[0]);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(first_apply_is_full_and_flips_to_generation_1),
	    T(generations_alternate_and_the_third_apply_is_incremental),
	    T(unchanged_config_writes_only_the_flip),
	    T(failed_write_forgets_the_generation_and_next_apply_is_full),
	    T(failed_flip_changes_nothing_live),
	    T(failed_membership_write_is_synced_in_full_next_time),
	    T(without_a_shadow_every_apply_is_full),
	    T(after_a_restart_the_apply_is_full_and_removes_strays),
	};

	return cmocka_run_group_tests_name("apply_shadow", tests, NULL, NULL);
}
