// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Incremental apply == full apply (apply_diff.h). After each step:
 * - the incremental target's live generation equals a fresh target's after
 *   a full apply of the same config, map by map, entry by entry;
 * - its inactive generation still equals the previous config's full apply
 *   (an apply only ever writes the generation it flips to), and is empty
 *   after the first step;
 * - bypass membership (no generations) is equal, as is the proxy in the
 *   state entry; no entry sits outside generations 0 and 1;
 * - with the agent's shadow, the apply was incremental unless the shadow
 *   could not know the generation (the first two applies after a restart,
 *   the apply after a failed one): otherwise this test would compare full
 *   applies with full applies;
 * - now and then an update fails (a full map): the failed apply must leave
 *   the live generation, the state and membership as they were, and the
 *   retry must leave what a full apply does;
 * - every CIDR identity a policy entry names has an ipcache entry (a plan
 *   check: an identity nothing maps to is a rule that never matches).
 */
#include "apply_diff.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "fake_host.h"
#include "mem_target.h"
#include "control/mesh_apply.h"
#include "model/mesh_config.h"
#include "sources/yaml_source.h"
#include "control/mesh_plan.h"

struct run {
	struct mesh_gen *g;
	const char *label;
	FILE *out;
	struct apply_diff_stats *stats;
	unsigned int step;
	bool known[2]; /* what the shadow should know: generations it wrote */
	struct mem_target *inc, *fresh, *prev; /* prev: full apply of the last config */
	struct mesh_shadow shadow;
	char *yaml, *prev_yaml;
	bool failed; /* a report header was printed */
};

static const char *map_name(int map)
{
	static const char *const extra[] = {"shunt_mesh_state", "shunt_workloads",
					    "shunt_workload_names"};

	return map < PLAN_MAPS ? mesh_plan_map_names[map] : extra[map - PLAN_MAPS];
}

static void fail_header(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail_header(struct run *r, const char *fmt, ...)
{
	va_list ap;

	fprintf(r->out, "\napply diff FAILED: %s, step %u (%s):\n  ", r->label, r->step,
		r->g->change);
	va_start(ap, fmt);
	vfprintf(r->out, fmt, ap);
	va_end(ap);
	fputc('\n', r->out);
	r->failed = true;
}

/* Hex in groups of 4 bytes; trailing zeros summed up. */
static void put_hex(FILE *f, const unsigned char *p, size_t len)
{
	size_t end = len, i;

	while (end && !p[end - 1])
		end--;
	for (i = 0; i < end; i++)
		fprintf(f, "%s%02x", i && i % 4 == 0 ? "." : "", p[i]);
	if (end < len)
		fprintf(f, "%s(%zu zero bytes)", end ? " + " : "", len - end);
}

static void put_entry(FILE *f, int map, const char *tag, const struct mem_dump *d, size_t i)
{
	fprintf(f, "    %s key ", tag);
	put_hex(f, mem_dump_key(d, i), d->key_size);
	fputs("  value ", f);
	put_hex(f, mem_dump_value(d, i), d->value_size);
	if (map == PLAN_NAMES || map == MESH_MAP_WORKLOAD_NAMES)
		fprintf(f, "  \"%.*s\"", (int)d->value_size, (const char *)mem_dump_value(d, i));
	fputc('\n', f);
}

static void put_list(FILE *f, int map, const char *what, const struct mem_dump *d)
{
	size_t i, shown = d->n < 80 ? d->n : 80;

	fprintf(f, "  %s: %zu entries\n", what, d->n);
	for (i = 0; i < shown; i++)
		put_entry(f, map, " ", d, i);
	if (shown < d->n)
		fprintf(f, "    ... %zu more\n", d->n - shown);
}

/* The entries only one side has, and the keys whose values differ. */
static void put_difference(FILE *f, int map, const struct mem_dump *a, const struct mem_dump *b)
{
	size_t i = 0, j = 0;

	while (i < a->n || j < b->n) {
		int c = i == a->n   ? 1
			: j == b->n ? -1
				    : memcmp(mem_dump_key(a, i), mem_dump_key(b, j), a->key_size);

		if (c < 0) {
			put_entry(f, map, "- only A", a, i++);
		} else if (c > 0) {
			put_entry(f, map, "+ only B", b, j++);
		} else {
			if (memcmp(mem_dump_value(a, i), mem_dump_value(b, j), a->value_size)) {
				put_entry(f, map, "~ A     ", a, i);
				put_entry(f, map, "~ B     ", b, j);
			}
			i++;
			j++;
		}
	}
}

/* Generation GA of MAP in A against generation GB in B (B NULL: empty). */
static int compare_map(struct run *r, int map, const char *what, struct mem_target *a, int ga,
		       const char *a_what, struct mem_target *b, int gb, const char *b_what)
{
	struct mem_dump da,
	    db = {.key_size = mem_map_key_size(map), .value_size = mem_map_value_size(map)};
	int err, ret = 0;

	if ((err = mem_target_dump(a, map, ga, &da)))
		return err;
	if (b && (err = mem_target_dump(b, map, gb, &db))) {
		mem_dump_free(&da);
		return err;
	}
	if (da.n != db.n ||
	    (da.n && memcmp(da.recs, db.recs, da.n * (da.key_size + da.value_size)))) {
		fail_header(r, "%s: %s differs (A: %s, B: %s)", map_name(map), what, a_what,
			    b_what);
		put_difference(r->out, map, &da, &db);
		put_list(r->out, map, "A", &da);
		put_list(r->out, map, "B", &db);
		ret = -1;
	}
	r->stats->entries += da.n;
	mem_dump_free(&da);
	mem_dump_free(&db);
	return ret;
}

static int read_state(struct mem_target *m, struct shunt_mesh_state *st)
{
	struct mesh_target t = mem_target_as_target(m);
	__u32 zero = 0;

	return t.ops->lookup(t.ctx, MESH_MAP_STATE, &zero, st);
}

/* The state entries agree, and nothing lives outside generations 0 and 1. */
static int check_state(struct run *r, const struct shunt_mesh_state *inc,
		       const struct shunt_mesh_state *full)
{
	int map;

	if (memcmp(inc->proxy_addr, full->proxy_addr, 16) || inc->proxy_port != full->proxy_port ||
	    memcmp(inc->proxy_addr6, full->proxy_addr6, 16) ||
	    inc->proxy_port6 != full->proxy_port6) {
		fail_header(r, "shunt_mesh_state: the proxy differs from a full apply's");
		return -1;
	}
	for (map = 0; map < PLAN_MAPS; map++) {
		struct mem_dump g0, g1;
		size_t n;

		if (mem_target_dump(r->inc, map, 0, &g0))
			return -ENOMEM;
		if (mem_target_dump(r->inc, map, 1, &g1)) {
			mem_dump_free(&g0);
			return -ENOMEM;
		}
		n = g0.n + g1.n;
		mem_dump_free(&g0);
		mem_dump_free(&g1);
		if (n != mem_target_count(r->inc, map)) {
			fail_header(r, "%s: %zu entries outside generations 0 and 1", map_name(map),
				    mem_target_count(r->inc, map) - n);
			return -1;
		}
	}
	return 0;
}

static bool has_ident(const struct mem_dump *ipcache, __u32 id)
{
	size_t i;

	for (i = 0; i < ipcache->n; i++)
		if (((const struct shunt_ident *)mem_dump_value(ipcache, i))->id == id)
			return true;
	return false;
}

/* Every CIDR identity a policy entry names has an ipcache entry. */
static int check_cidr_idents(struct run *r, struct mem_target *m, int gen)
{
	static const int policy_maps[] = {PLAN_POLICY_ALLOW, PLAN_POLICY_DENY};
	struct mem_dump ipcache, pol;
	int err = 0, p;
	size_t i;

	if (mem_target_dump(m, PLAN_IPCACHE, gen, &ipcache))
		return -ENOMEM;
	for (p = 0; p < 2 && !err; p++) {
		if (mem_target_dump(m, policy_maps[p], gen, &pol)) {
			err = -ENOMEM;
			break;
		}
		for (i = 0; i < pol.n && !err; i++) {
			const struct shunt_policy_key *k = (const void *)mem_dump_key(&pol, i);

			if (k->peer < SHUNT_ID_FIRST_CIDR || has_ident(&ipcache, k->peer))
				continue;
			fail_header(r,
				    "%s: CIDR identity %#x is a peer, but no ipcache entry has it",
				    map_name(policy_maps[p]), k->peer);
			put_entry(r->out, policy_maps[p], " ", &pol, i);
			put_list(r->out, PLAN_IPCACHE, "shunt_ipcache", &ipcache);
			err = -1;
		}
		mem_dump_free(&pol);
	}
	mem_dump_free(&ipcache);
	return err;
}

static int compare_step(struct run *r)
{
	struct shunt_mesh_state inc, full;
	int live, map, err;

	if ((err = read_state(r->inc, &inc)) || (err = read_state(r->fresh, &full)))
		return err;
	live = (int)(inc.gen & 1);
	if ((err = check_state(r, &inc, &full)))
		return err;
	for (map = 0; map < PLAN_MAPS; map++) {
		err = compare_map(r, map, "the live generation", r->inc, live,
				  "incremental target, live", r->fresh, (int)full.gen,
				  "fresh target, full apply");
		if (err)
			return err;
		err = compare_map(r, map, "the inactive generation", r->inc, live ^ 1,
				  "incremental target, inactive", r->prev, 1, /* its one apply */
				  r->prev ? "full apply of the previous config" : "nothing");
		if (err)
			return err;
	}
	for (map = MESH_MAP_WORKLOADS; map <= MESH_MAP_WORKLOAD_NAMES; map++)
		if ((err = compare_map(r, map, "bypass membership", r->inc, MEM_ALL_GENS,
				       "incremental target", r->fresh, MEM_ALL_GENS,
				       "fresh target, full apply")))
			return err;
	return check_cidr_idents(r, r->fresh, (int)full.gen);
}

static int build(struct run *r, const struct mesh_config *cfg, struct mesh_plan *plan)
{
	struct cfg_error err;
	int ret;

	ret = mesh_plan_build_on(plan, cfg, "n1", &fake_host, &err);
	if (ret) {
		fail_header(r, "the config does not compile: %s", err.msg);
		return ret;
	}
	return 0;
}

/* After an apply that failed before its flip: nothing live changed. */
static int check_untouched(struct run *r, const struct shunt_mesh_state *before)
{
	struct shunt_mesh_state now;
	int live = (int)(before->gen & 1), map, err;

	if ((err = read_state(r->inc, &now)))
		return err;
	if (now.gen != before->gen || now.version != before->version) {
		fail_header(r, "a failed apply flipped the generation");
		return -1;
	}
	for (map = 0; map < MESH_TARGET_MAPS && !err; map++) {
		if (map == MESH_MAP_STATE)
			continue;
		err = compare_map(r, map, "what a failed apply left", r->inc,
				  map < PLAN_MAPS ? live : MEM_ALL_GENS, "incremental target",
				  r->prev, map < PLAN_MAPS ? 1 : MEM_ALL_GENS,
				  r->prev ? "full apply of the previous config" : "nothing");
	}
	return err;
}

/*
 * An apply that is made to fail logs why (shunt_log writes to stderr): that
 * is expected, so it goes to /dev/null. Only the FILE is swapped; ASan and
 * UBSan write to fd 2 themselves, so nothing they say is lost.
 */
static int apply_quietly(const struct mesh_target *t, struct mesh_plan *plan,
			 struct mesh_shadow *shadow, struct mesh_apply_stats *st, bool quiet)
{
	FILE *saved = stderr, *null = quiet ? fopen("/dev/null", "w") : NULL;
	int err;

	if (null)
		stderr = null;
	err = mesh_apply_to(t, plan, shadow, st);
	stderr = saved;
	if (null)
		fclose(null);
	return err;
}

/*
 * The step's config into the incremental target, with the shadow. One time
 * in ten an update of a configuration map fails first. (A failed bypass
 * membership write is only logged, by design, and marks the shadow so the
 * next apply syncs membership in full; the step-by-step comparison cannot
 * tell that apart from a bug, so membership is not injected here.)
 */
static int apply_incremental(struct run *r, const struct mesh_config *cfg)
{
	struct mesh_target t = mem_target_as_target(r->inc);
	struct shunt_mesh_state before;
	struct mesh_apply_stats st;
	struct mesh_plan plan;
	int attempt, next, err;
	bool inject;

	for (attempt = 0; attempt < 2; attempt++) {
		if ((err = read_state(r->inc, &before)) || (err = build(r, cfg, &plan)))
			return err;
		next = (int)(before.gen & 1) ^ 1;
		inject = !attempt && mesh_gen_below(r->g, 10) == 0;
		mem_target_fail_update(r->inc, inject ? 1 + mesh_gen_below(r->g, 60) : 0, -E2BIG);
		if (!(err = mesh_plan_index(&plan)))
			err = apply_quietly(&t, &plan, &r->shadow, &st, inject);
		mem_target_fail_update(r->inc, 0, 0);
		if (!err)
			break;
		mesh_plan_free(&plan);
		r->known[next] = false;
		if (!inject) {
			fail_header(r, "the incremental apply failed: %s", strerror(-err));
			return err;
		}
		r->stats->failures++;
		if ((err = check_untouched(r, &before)))
			return err;
	}
	r->stats->incremental += st.incremental;
	r->stats->full += !st.incremental;
	if (st.incremental != r->known[next]) {
		fail_header(r, "the apply was %s; with this shadow it should have been %s",
			    st.incremental ? "incremental" : "full",
			    r->known[next] ? "incremental" : "full");
		return -1;
	}
	r->known[next] = true;
	return 0;
}

/* The same config in full into a fresh target. */
static int apply_full(struct run *r, const struct mesh_config *cfg)
{
	struct mesh_target t;
	struct mesh_apply_stats st;
	struct mesh_plan plan;
	int err;

	r->fresh = mem_target_create(mesh_gen_below(r->g, 2));
	if (!r->fresh)
		return -ENOMEM;
	t = mem_target_as_target(r->fresh);
	if ((err = build(r, cfg, &plan)))
		return err;
	err = mesh_apply_to(&t, &plan, NULL, &st);
	mesh_plan_free(&plan);
	if (err)
		fail_header(r, "the full apply failed: %s", strerror(-err));
	return err;
}

static int run_step(struct run *r)
{
	struct mesh_config cfg;
	struct cfg_error err;
	size_t len;
	int ret;

	mesh_gen_step(r->g);
	r->yaml = mesh_gen_render(r->g, &len);
	if (!r->yaml)
		return -ENOMEM;
	/* An agent restart: the new process knows neither generation. */
	if (r->step && mesh_gen_below(r->g, 8) == 7) {
		mesh_shadow_free(&r->shadow);
		r->known[0] = r->known[1] = false;
		r->stats->restarts++;
	}
	if (mesh_config_parse(&cfg, "gen.yaml", r->yaml, len, &err)) {
		fail_header(r, "the generator made a config the parser rejects: %s", err.msg);
		return -1;
	}
	ret = apply_incremental(r, &cfg);
	if (!ret)
		ret = apply_full(r, &cfg);
	mesh_config_free(&cfg);
	if (!ret)
		ret = compare_step(r);
	r->stats->steps++;
	return ret;
}

int apply_diff_run(struct mesh_gen *g, unsigned int nsteps, const char *label, FILE *report,
		   struct apply_diff_stats *stats)
{
	struct run r = {.g = g, .label = label, .out = report, .stats = stats};
	int err = 0;

	r.inc = mem_target_create(mesh_gen_below(g, 2));
	if (!r.inc)
		return -ENOMEM;
	for (r.step = 0; r.step < nsteps && !err; r.step++) {
		err = run_step(&r);
		if (err && r.failed) {
			fprintf(report, "\n--- YAML of step %u:\n%s", r.step, r.yaml ? r.yaml : "");
			if (r.prev_yaml)
				fprintf(report, "--- YAML of step %u (the previous one):\n%s",
					r.step - 1, r.prev_yaml);
		}
		free(r.prev_yaml);
		r.prev_yaml = r.yaml;
		r.yaml = NULL;
		mem_target_destroy(r.prev);
		r.prev = r.fresh;
		r.fresh = NULL;
	}
	mesh_shadow_free(&r.shadow);
	mem_target_destroy(r.inc);
	mem_target_destroy(r.prev);
	mem_target_destroy(r.fresh);
	free(r.yaml);
	free(r.prev_yaml);
	return err;
}
