// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The mesh config: parsing, validation (every file of the invalid corpus
 * gives its expected FILE:LINE:COL error) and compilation into map entries.
 * Run from the repository root.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/addr.h"
#include "model/mesh_config.h"
#include "sources/yaml_source.h"
#include "control/mesh_plan.h"

#define INVALID_DIR "tests/configs/invalid"
#define EXAMPLE	    "tests/configs/valid/example.yaml"

static int parse_text(struct mesh_config *cfg, const char *text, struct cfg_error *err)
{
	return mesh_config_parse(cfg, "t.yaml", text, strlen(text), err);
}

/* Every corpus file: rejected with an error that starts with FILE: and the
 * "LINE:COL: message" its first line expects. */
static void invalid_corpus_gives_the_expected_errors(void **state)
{
	struct dirent *de;
	int checked = 0, wrong = 0;
	DIR *dir;

	(void)state;
	dir = opendir(INVALID_DIR);
	assert_non_null(dir);
	while ((de = readdir(dir))) {
		char path[512], line[512], want[1100];
		struct mesh_config cfg;
		struct cfg_error err;
		size_t len;
		FILE *f;

		len = strlen(de->d_name);
		if (len < 6 || strcmp(de->d_name + len - 5, ".yaml"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", INVALID_DIR, de->d_name);
		f = fopen(path, "r");
		assert_non_null(f);
		assert_non_null(fgets(line, sizeof(line), f));
		fclose(f);
		line[strcspn(line, "\n")] = 0;
		assert_int_equal(strncmp(line, "# expect: ", 10), 0);
		snprintf(want, sizeof(want), "%s:%s", path, line + 10);
		if (mesh_config_load(&cfg, path, &err) != -EINVAL ||
		    strncmp(err.msg, want, strlen(want))) {
			print_error("%s:\n  expected %s\n  got      %s\n", de->d_name, want,
				    err.msg);
			wrong++;
		}
		assert_null(cfg.workloads);
		checked++;
	}
	closedir(dir);
	assert_true(checked >= 20);
	assert_int_equal(wrong, 0);
}

static void example_parses_with_kubernetes_defaults(void **state)
{
	struct mesh_config cfg;
	struct cfg_error err;
	const struct cfg_policy *p;

	(void)state;
	assert_int_equal(mesh_config_load(&cfg, EXAMPLE, &err), 0);
	assert_int_equal(cfg.nworkloads, 4);
	assert_int_equal(cfg.nservices, 2);
	assert_int_equal(cfg.npolicies, 3);
	/* Namespace and service account default to "default". */
	assert_string_equal(cfg.workloads[0].ns, "default");
	assert_string_equal(cfg.workloads[0].service_account, "fe");
	/* A port without protocol is TCP; targetPort defaults to port. */
	assert_int_equal(cfg.services[0].ports[1].proto, 6);
	assert_int_equal(cfg.services[0].ports[1].target_port, 9100);
	/* No policyTypes: Ingress, plus Egress only when egress rules exist. */
	p = &cfg.policies[0];
	assert_true(p->isolates[1]);
	assert_false(p->isolates[0]);
	p = &cfg.policies[2];
	assert_true(p->isolates[0]);
	assert_true(p->isolates[1]);
	mesh_config_free(&cfg);
}

static void selectors_follow_kubernetes(void **state)
{
	static const char *text = "apiVersion: shunt.dev/v1\n"
				  "policies:\n"
				  "  - name: p\n"
				  "    podSelector:\n"
				  "      matchLabels: {app: web}\n"
				  "      matchExpressions:\n"
				  "        - {key: tier, operator: NotIn, values: [test]}\n"
				  "        - {key: canary, operator: DoesNotExist}\n"
				  "        - {key: version, operator: Exists}\n";
	struct cfg_label l1[] = {{"app", "web"}, {"version", "v1"}};
	struct cfg_label l2[] = {{"app", "web"}, {"version", "v1"}, {"tier", "test"}};
	struct cfg_label l3[] = {{"app", "web"}, {"version", "v1"}, {"canary", "yes"}};
	struct cfg_label l4[] = {{"app", "web"}};
	struct cfg_label l5[] = {{"app", "db"}, {"version", "v1"}};
	struct cfg_labels s1 = {l1, 2}, s2 = {l2, 3}, s3 = {l3, 3}, s4 = {l4, 1}, s5 = {l5, 2};
	struct mesh_config cfg;
	struct cfg_error err;
	const struct cfg_selector *sel;

	(void)state;
	assert_int_equal(parse_text(&cfg, text, &err), 0);
	sel = &cfg.policies[0].subject;
	assert_true(cfg_selector_matches(sel, &s1));
	assert_false(cfg_selector_matches(sel, &s2)); /* NotIn */
	assert_false(cfg_selector_matches(sel, &s3)); /* DoesNotExist */
	assert_false(cfg_selector_matches(sel, &s4)); /* Exists */
	assert_false(cfg_selector_matches(sel, &s5)); /* matchLabels */
	mesh_config_free(&cfg);
}

static const struct shunt_policy_entry *find_policy(const struct kv_vec *v, __u8 dir, __u8 proto,
						    __u16 port, __u32 subject, __u32 peer)
{
	size_t i;

	for (i = 0; i < v->n; i++) {
		const struct shunt_policy_key *k = (const void *)(v->keys + i * v->key_size);

		if (k->direction == dir && k->proto == proto && k->port == port &&
		    k->subject == subject && k->peer == peer)
			return (const void *)(v->values + i * v->value_size);
	}
	return NULL;
}

static __u32 ident_of(const struct mesh_plan *plan, const char *addr, unsigned int len)
{
	const struct kv_vec *v = &plan->maps[PLAN_IPCACHE];
	__u8 a[16];
	size_t i;

	assert_int_equal(shunt_addr_parse(addr, a), 0);
	for (i = 0; i < v->n; i++) {
		const struct shunt_ipcache_key *k = (const void *)(v->keys + i * v->key_size);

		if (k->prefixlen == 8 + len && !memcmp(k->addr, a, 16))
			return ((const struct shunt_ident *)(v->values + i * v->value_size))->id;
	}
	return 0;
}

static void example_compiles_to_the_expected_entries(void **state)
{
	struct mesh_config cfg;
	struct mesh_plan plan;
	struct cfg_error err;
	__u32 fe, web1, web2, db, cidr16, cidr24;
	const struct kv_vec *allow, *deny;
	size_t i, n;

	(void)state;
	assert_int_equal(mesh_config_load(&cfg, EXAMPLE, &err), 0);
	assert_int_equal(mesh_plan_build(&plan, &cfg, NULL, &err), 0);
	allow = &plan.maps[PLAN_POLICY_ALLOW];
	deny = &plan.maps[PLAN_POLICY_DENY];
	fe = ident_of(&plan, "10.100.1.11", 128);
	web1 = ident_of(&plan, "10.100.1.12", 128);
	web2 = ident_of(&plan, "10.100.2.12", 128);
	db = ident_of(&plan, "10.100.2.13", 128);
	cidr16 = ident_of(&plan, "10.100.0.0", 96 + 16);
	cidr24 = ident_of(&plan, "10.100.2.0", 96 + 24);
	assert_true(fe >= 256 && web1 && web2 && db);
	assert_int_equal(fe, mesh_workload_ident("default", "frontend"));
	assert_true(cidr16 >= 0x40000000 && cidr24 >= 0x40000000 && cidr16 != cidr24);
	/* Both webs admit frontend on 8080/TCP; nobody else on that port. */
	assert_non_null(find_policy(allow, 1, 6, 8080, web1, fe));
	assert_non_null(find_policy(allow, 1, 6, 8080, web2, fe));
	assert_null(find_policy(allow, 1, 6, 8080, web1, db));
	/* ipBlock 10.100.0.0/16 except 10.100.2.0/24 on 9100-9102: the /16
	 * identity and the workloads inside it, not the except'ed range or
	 * the workloads in it. */
	for (n = 9100; n <= 9102; n++) {
		assert_non_null(find_policy(allow, 1, 6, (__u16)n, web1, cidr16));
		assert_non_null(find_policy(allow, 1, 6, (__u16)n, web1, fe));
		assert_null(find_policy(allow, 1, 6, (__u16)n, web1, cidr24));
		assert_null(find_policy(allow, 1, 6, (__u16)n, web1, db));
	}
	assert_null(find_policy(allow, 1, 6, 9103, web1, cidr16));
	/* serviceAccount prod/web: both webs; the deny for version v1 is there. */
	assert_non_null(find_policy(allow, 1, 6, 5432, db, web1));
	assert_non_null(find_policy(allow, 1, 6, 5432, db, web2));
	assert_non_null(find_policy(deny, 1, 0, 0, db, web1));
	assert_null(find_policy(deny, 1, 0, 0, db, web2));
	/* Egress of frontend: every workload of every namespace, any port; and
	 * 0.0.0.0/0 on UDP 53, which includes the world. */
	assert_non_null(find_policy(allow, 0, 0, 0, fe, db));
	assert_non_null(find_policy(allow, 0, 17, 53, fe, 1));
	/* db isolates egress with no egress rule: no egress entries at all. */
	for (i = 0; i < allow->n; i++) {
		const struct shunt_policy_key *k =
		    (const void *)(allow->keys + i * allow->key_size);

		assert_false(k->direction == 0 && k->subject == db);
	}
	/* Service db: weights 3 and 1 cumulative; the weight-0 backend left out. */
	n = 0;
	for (i = 0; i < plan.maps[PLAN_BACKENDS].n; i++) {
		const struct shunt_backend *b =
		    (const void *)(plan.maps[PLAN_BACKENDS].values +
				   i * plan.maps[PLAN_BACKENDS].value_size);
		char text[64];

		shunt_addr_format(b->addr, text, sizeof(text));
		if (!strcmp(text, "10.100.2.13"))
			assert_int_equal(b->weight_end, 3), n++;
		if (!strcmp(text, "10.100.9.9"))
			assert_int_equal(b->weight_end, 4), n++;
		assert_string_not_equal(text, "10.100.9.10");
	}
	assert_int_equal(n, 2);
	mesh_plan_free(&plan);
	mesh_config_free(&cfg);
}

/* A workload on the agent's node needs cgroup and netns to be enforced. */
static void local_workload_without_cgroup_is_an_error(void **state)
{
	struct mesh_config cfg;
	struct mesh_plan plan;
	struct cfg_error err;

	(void)state;
	assert_int_equal(mesh_config_load(&cfg, EXAMPLE, &err), 0);
	assert_int_equal(mesh_plan_build(&plan, &cfg, "n1", &err), -EINVAL);
	assert_non_null(
	    strstr(err.msg, EXAMPLE ":9:5: workload default/frontend runs on this node"));
	mesh_config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(invalid_corpus_gives_the_expected_errors),
	    cmocka_unit_test(example_parses_with_kubernetes_defaults),
	    cmocka_unit_test(selectors_follow_kubernetes),
	    cmocka_unit_test(example_compiles_to_the_expected_entries),
	    cmocka_unit_test(local_workload_without_cgroup_is_an_error),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
