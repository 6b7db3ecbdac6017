// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The plan without root: node facts (cgroup ids, netns cookies) come from a
 * fake mesh_host, or are handed to the pure compile step directly, and plan
 * errors name the object's origin, a file position or a cluster object.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "common/addr.h"
#include "control/mesh_plan.h"
#include "model/mesh_config.h"
#include "sources/yaml_source.h"

static const char *const config =
    "apiVersion: shunt.dev/v1\n"
    "nodes:\n"
    "  - name: n1\n"
    "    proxy: {outbound: \"10.100.0.1:15001\", inbound: \"10.99.0.1:15008\",\n"
    "            netns: /run/netns/px, cgroup: /cg/px}\n"
    "  - name: n2\n"
    "workloads:\n"
    "  - {name: a, node: n1, addresses: [10.0.0.1], netns: /run/netns/a, cgroup: /cg/a}\n"
    "  - {name: b, node: n2, addresses: [10.0.0.2]}\n"
    "  - {name: c, node: n1, addresses: [10.0.0.3], netns: /run/netns/c, cgroup: /cg/c}\n";

/* A node whose cgroups and namespaces are a table; anything else is ENOENT. */
struct fake_node {
	unsigned int calls;
	const char *fail; /* this path fails with EACCES */
};

static int fake_lookup(struct fake_node *n, const char *path, __u64 *out)
{
	static const struct {
		const char *path;
		__u64 value;
	} table[] = {{"/cg/a", 101},	    {"/cg/c", 103},	   {"/cg/px", 199},
		     {"/run/netns/a", 201}, {"/run/netns/c", 203}, {"/run/netns/px", 299}};
	size_t i;

	n->calls++;
	if (n->fail && !strcmp(path, n->fail))
		return -EACCES;
	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (!strcmp(table[i].path, path)) {
			*out = table[i].value;
			return 0;
		}
	return -ENOENT;
}

static int fake_cgroup_id(void *ctx, const char *cgroup, __u64 *id)
{
	return fake_lookup(ctx, cgroup, id);
}

static int fake_netns_cookie(void *ctx, const char *netns, __u64 *cookie)
{
	return fake_lookup(ctx, netns, cookie);
}

static const struct mesh_host_ops fake_ops = {.cgroup_id = fake_cgroup_id,
					      .netns_cookie = fake_netns_cookie};

static void parse(struct mesh_config *cfg, const char *text)
{
	struct cfg_error err;

	if (mesh_config_parse(cfg, "t.yaml", text, strlen(text), &err))
		fail_msg("%s", err.msg);
}

/* The bypass membership entry of ADDR in PLAN, or NULL. */
static const struct shunt_workload *member(const struct mesh_plan *plan, const char *addr)
{
	const struct kv_vec *v = &plan->workloads;
	struct shunt_workload_key key = {};
	size_t i;

	assert_int_equal(shunt_addr_parse(addr, key.addr), 0);
	for (i = 0; i < v->n; i++)
		if (!memcmp(v->keys + i * v->key_size, &key, sizeof(key)))
			return (const void *)(v->values + i * v->value_size);
	return NULL;
}

static bool has_cgroup(const struct mesh_plan *plan, __u64 id)
{
	const struct kv_vec *v = &plan->maps[PLAN_CGROUP_IDENTS];
	size_t i;

	for (i = 0; i < v->n; i++)
		if (((const struct shunt_cgroup_ident_key *)(v->keys + i * v->key_size))
			->cgroup_id == id)
			return true;
	return false;
}

/* Only n1's workloads and proxy are looked up, and the plan holds what the
 * host answered. */
static void local_workloads_get_the_hosts_facts(void **state)
{
	struct fake_node node = {0};
	struct mesh_host host = {&fake_ops, &node};
	struct mesh_config cfg;
	struct mesh_plan plan;
	struct cfg_error err;
	const struct shunt_workload *m;

	(void)state;
	parse(&cfg, config);
	assert_int_equal(mesh_plan_build_on(&plan, &cfg, "n1", &host, &err), 0);
	assert_int_equal(node.calls, 6); /* a, c and the proxy: cgroup and netns each */
	assert_int_equal(plan.nlocal, 2);
	assert_true(has_cgroup(&plan, 101) && has_cgroup(&plan, 103) && has_cgroup(&plan, 199));
	assert_non_null(m = member(&plan, "10.0.0.1"));
	assert_int_equal(m->cgroup_id, 101);
	assert_int_equal(m->netns_cookie, 201);
	assert_int_equal(m->flags, SHUNT_WL_LOCAL);
	assert_non_null(m = member(&plan, "10.0.0.2"));
	assert_int_equal(m->flags, 0);
	assert_int_equal(m->netns_cookie, 0);
	assert_non_null(m = member(&plan, "10.100.0.1")); /* the proxy's pod-facing address */
	assert_int_equal(m->netns_cookie, 299);
	mesh_plan_free(&plan);

	/* On a node without workloads or proxy: no lookups at all. */
	node.calls = 0;
	assert_int_equal(mesh_plan_build_on(&plan, &cfg, "n3", &host, &err), 0);
	assert_int_equal(node.calls, 0);
	assert_int_equal(plan.nlocal, 0);
	assert_int_equal(member(&plan, "10.0.0.1")->flags, 0);
	mesh_plan_free(&plan);
	mesh_config_free(&cfg);
}

/* Compiling uses the facts it is given, and nothing else. */
static void compile_is_a_function_of_config_and_facts(void **state)
{
	struct mesh_local_facts wl[3] = {{11, 21}, {0, 0}, {13, 23}};
	struct mesh_node_facts facts = {.node = "n1", .workloads = wl, .nworkloads = 3};
	struct mesh_config cfg;
	struct mesh_plan plan, again;
	struct cfg_error err;
	const struct shunt_workload *m;

	(void)state;
	parse(&cfg, config);
	assert_int_equal(mesh_plan_compile(&plan, &cfg, &facts, &err), 0);
	assert_non_null(m = member(&plan, "10.0.0.3"));
	assert_int_equal(m->cgroup_id, 13);
	assert_int_equal(m->netns_cookie, 23);
	assert_true(has_cgroup(&plan, 11));
	/* No proxy facts: the proxy does not join the bypass. */
	assert_null(member(&plan, "10.100.0.1"));
	assert_int_equal(mesh_plan_compile(&again, &cfg, &facts, &err), 0);
	assert_int_equal(plan.workloads.n, again.workloads.n);
	assert_memory_equal(plan.workloads.values, again.workloads.values,
			    plan.workloads.n * plan.workloads.value_size);
	mesh_plan_free(&again);
	mesh_plan_free(&plan);

	facts.nworkloads = 2; /* facts of another config */
	assert_int_equal(mesh_plan_compile(&plan, &cfg, &facts, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "node facts for 2 workloads, not 3"));
	mesh_config_free(&cfg);
}

/* A host that cannot answer, or a local workload without a cgroup: the
 * error names the workload where the config defines it. */
static void fact_errors_name_the_origin(void **state)
{
	struct fake_node node = {.fail = "/run/netns/c"};
	struct mesh_host host = {&fake_ops, &node};
	struct mesh_config cfg;
	struct mesh_plan plan;
	struct cfg_error err;

	(void)state;
	parse(&cfg, config);
	assert_int_equal(mesh_plan_build_on(&plan, &cfg, "n1", &host, &err), -EINVAL);
	assert_string_equal(err.msg, "t.yaml:10:5: workload default/c: netns /run/netns/c: "
				     "Permission denied");
	/* The same workload from a cluster API names the object. */
	cfg.workloads[2].origin = (struct cfg_origin){
	    .kind = CFG_ORIGIN_OBJECT, .object_kind = "Pod", .ns = "default", .name = "c-7f9"};
	assert_int_equal(mesh_plan_build_on(&plan, &cfg, "n1", &host, &err), -EINVAL);
	assert_string_equal(err.msg, "Pod/default/c-7f9: workload default/c: netns /run/netns/c: "
				     "Permission denied");
	cfg.workloads[0].cgroup = NULL;
	node.calls = 0;
	assert_int_equal(mesh_plan_build_on(&plan, &cfg, "n1", &host, &err), -EINVAL);
	assert_string_equal(err.msg, "t.yaml:8:5: workload default/a runs on this node (n1): it "
				     "needs 'cgroup' and 'netns'");
	assert_int_equal(node.calls, 0);
	mesh_config_free(&cfg);
}

/* Plan errors (not only fact errors) print the origin too. */
static void plan_errors_print_object_origins(void **state)
{
	static const char *const text = "apiVersion: shunt.dev/v1\n"
					"workloads:\n"
					"  - {name: a, node: n1, addresses: [10.0.0.1]}\n"
					"services:\n"
					"  - name: s\n"
					"    virtualIPs: [10.96.0.1]\n"
					"    ports: [{port: 80}]\n"
					"    backends: [{workload: a, weight: 1}]\n";
	struct cfg_origin node = {.kind = CFG_ORIGIN_OBJECT, .object_kind = "Node", .name = "n1"};
	struct mesh_config cfg;
	struct mesh_plan plan;
	struct cfg_error err;
	char buf[64];

	(void)state;
	cfg_origin_format(&node, buf, sizeof(buf));
	assert_string_equal(buf, "Node/n1");
	parse(&cfg, text);
	cfg_origin_format(&cfg.services[0].origin, buf, sizeof(buf));
	assert_string_equal(buf, "t.yaml:5:5");
	/* A backend that names a workload the model no longer has. */
	cfg.services[0].backends[0].workload = "gone";
	cfg.services[0].backends[0].origin = (struct cfg_origin){.kind = CFG_ORIGIN_OBJECT,
								 .object_kind = "EndpointSlice",
								 .ns = "default",
								 .name = "s-1"};
	assert_int_equal(mesh_plan_build(&plan, &cfg, NULL, &err), -EINVAL);
	assert_int_equal(strncmp(err.msg, "EndpointSlice/default/s-1: ", 27), 0);
	mesh_config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(local_workloads_get_the_hosts_facts),
	    cmocka_unit_test(compile_is_a_function_of_config_and_facts),
	    cmocka_unit_test(fact_errors_name_the_origin),
	    cmocka_unit_test(plan_errors_print_object_origins),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
