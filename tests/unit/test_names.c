// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Names up to Kubernetes' limits (issue 11): a 63-character namespace, a
 * 253-character pod, service account and policy name, a dotted node name,
 * label keys and values at their limits. Accepted at the limit, refused one
 * over with FILE:LINE:COL, and copied whole into the plan (the kernel's
 * name maps) and into SPIFFE IDs. Run from the repository root.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "control/mesh_plan.h"
#include "identity/ca.h"
#include "model/mesh_config.h"
#include "model/names.h"
#include "sources/yaml_source.h"

#define DOTTED_NODE "ip-10-0-1-23.ec2.internal"

/* LEN characters: "a...a", with dots every 50 when DOTS (a DNS subdomain). */
static char *long_name(char *buf, size_t len, char fill, bool dots)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = dots && i % 50 == 49 && i + 1 < len ? '.' : fill;
	buf[len] = 0;
	return buf;
}

struct names {
	char ns[SHUNT_DNS_LABEL_MAX + 2], pod[SHUNT_DNS_SUBDOMAIN_MAX + 2];
	char sa[SHUNT_DNS_SUBDOMAIN_MAX + 2], policy[SHUNT_DNS_SUBDOMAIN_MAX + 2];
	char prefix[SHUNT_DNS_SUBDOMAIN_MAX + 2], key[SHUNT_DNS_LABEL_MAX + 2];
	char value[SHUNT_DNS_LABEL_MAX + 2], node[SHUNT_DNS_SUBDOMAIN_MAX + 2];
};

/* Every name at its limit; ONE_OVER (a field) one character longer. */
static void names_at_limit(struct names *n, const char *one_over)
{
	long_name(n->ns, SHUNT_DNS_LABEL_MAX + (one_over == n->ns), 'n', false);
	long_name(n->pod, SHUNT_DNS_SUBDOMAIN_MAX + (one_over == n->pod), 'p', true);
	long_name(n->sa, SHUNT_DNS_SUBDOMAIN_MAX + (one_over == n->sa), 's', true);
	long_name(n->policy, SHUNT_DNS_SUBDOMAIN_MAX + (one_over == n->policy), 'q', true);
	long_name(n->prefix, SHUNT_DNS_SUBDOMAIN_MAX + (one_over == n->prefix), 'x', true);
	long_name(n->key, SHUNT_DNS_LABEL_MAX + (one_over == n->key), 'K', false);
	long_name(n->value, SHUNT_DNS_LABEL_MAX + (one_over == n->value), 'V', false);
	snprintf(n->node, sizeof(n->node), "%s", DOTTED_NODE);
	if (one_over == n->node)
		long_name(n->node, SHUNT_DNS_SUBDOMAIN_MAX + 1, 'h', true);
}

/*
 * Two workloads (the long one and a client on the dotted node), a service
 * with the long one as backend, and a policy naming all of it. Line:column
 * of each name, for the expected errors: node 3:12, namespace 5:11, its
 * label 6:14, pod 9:11, service account 10:21, policy 22:11.
 */
static int parse_names(const struct names *n, struct mesh_config *cfg, struct cfg_error *err)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int ret;

	assert_non_null(f);
	fprintf(f,
		"apiVersion: shunt.dev/v1\n"
		"nodes:\n"
		"  - {name: %s}\n"
		"namespaces:\n"
		"  - name: %s\n"
		"    labels: {%s/%s: %s}\n"
		"workloads:\n"
		"  - namespace: %s\n"
		"    name: %s\n"
		"    serviceAccount: %s\n"
		"    labels: {%s/%s: %s}\n"
		"    node: %s\n"
		"    addresses: [10.1.0.1]\n"
		"  - {name: client, node: %s, addresses: [10.1.0.2]}\n"
		"services:\n"
		"  - namespace: %s\n"
		"    name: svc\n"
		"    virtualIPs: [10.96.0.1]\n"
		"    ports: [{port: 80}]\n"
		"    backends: [{workload: %s}]\n"
		"policies:\n"
		"  - name: %s\n"
		"    namespace: %s\n"
		"    podSelector: {matchLabels: {%s/%s: %s}}\n"
		"    ingress:\n"
		"      - from: [{namespaceSelector: {}, podSelector: {}}]\n",
		n->node, n->ns, n->prefix, n->key, n->value, n->ns, n->pod, n->sa, n->prefix,
		n->key, n->value, n->node, n->node, n->ns, n->pod, n->policy, n->ns, n->prefix,
		n->key, n->value);
	fclose(f);
	ret = mesh_config_parse(cfg, "t.yaml", text, len, err);
	free(text);
	return ret;
}

static const void *value_named(const struct kv_vec *v, const char *name, size_t off)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		if (!strcmp((const char *)v->values + i * v->value_size + off, name))
			return v->values + i * v->value_size;
	return NULL;
}

static void names_at_kubernetes_limits_compile_whole(void **state)
{
	char full[SHUNT_NAME_MAX], rule[SHUNT_NAME_VALUE_MAX];
	struct mesh_config cfg;
	struct mesh_plan plan;
	struct cfg_error err;
	struct names n;

	(void)state;
	names_at_limit(&n, NULL);
	assert_int_equal(strlen(n.pod), 253);
	if (parse_names(&n, &cfg, &err))
		fail_msg("rejected: %s", err.msg);
	assert_string_equal(cfg.workloads[0].name, n.pod);
	assert_string_equal(cfg.workloads[0].node, DOTTED_NODE);
	assert_int_equal(mesh_plan_build(&plan, &cfg, NULL, &err), 0);
	/* The kernel's copies: shunt_workload_names and shunt_names. */
	snprintf(full, sizeof(full), "%s/%s", n.ns, n.pod);
	assert_int_equal(strlen(full), 63 + 1 + 253);
	assert_non_null(value_named(&plan.workload_names, full, 0));
	assert_non_null(value_named(&plan.maps[PLAN_NAMES], full, 0));
	snprintf(rule, sizeof(rule), "%s/%s ingress[0]", n.ns, n.policy);
	assert_non_null(value_named(&plan.maps[PLAN_NAMES], rule, 0));
	/* The backend named by its 253-character name was found. */
	assert_int_equal(plan.maps[PLAN_BACKENDS].n, 1);
	/* The policy selected the long workload by its long label. */
	assert_true(plan.maps[PLAN_POLICY_ALLOW].n > 0);
	mesh_plan_free(&plan);
	mesh_config_free(&cfg);
}

static void expect_refused(const char *field_name, const char *field, struct names *n,
			   const char *want)
{
	struct mesh_config cfg;
	struct cfg_error err;

	names_at_limit(n, field);
	if (parse_names(n, &cfg, &err) != -EINVAL)
		fail_msg("%s one over the limit was accepted", field_name);
	if (strncmp(err.msg, want, strlen(want)))
		fail_msg("%s: expected '%s...', got '%s'", field_name, want, err.msg);
	assert_null(cfg.workloads);
}

static void names_one_over_the_limit_are_refused_where_they_are(void **state)
{
	struct names n;

	(void)state;
	expect_refused("node", n.node, &n, "t.yaml:3:12: node name 'hhhh");
	expect_refused("namespace", n.ns, &n, "t.yaml:5:11: namespace name 'nnnn");
	expect_refused("pod", n.pod, &n, "t.yaml:9:11: workload name 'pppp");
	expect_refused("service account", n.sa, &n, "t.yaml:10:21: serviceAccount 'ssss");
	expect_refused("label prefix", n.prefix, &n, "t.yaml:6:14: label key 'xxxx");
	expect_refused("label name", n.key, &n, "t.yaml:6:14: label key 'xxxx");
	expect_refused("label value", n.value, &n, "t.yaml:6:");
	expect_refused("policy", n.policy, &n, "t.yaml:22:11: policy name 'qqqq");
	/* And the message says the limit. */
	names_at_limit(&n, n.pod);
	{
		struct mesh_config cfg;
		struct cfg_error err;

		assert_int_equal(parse_names(&n, &cfg, &err), -EINVAL);
		assert_non_null(strstr(err.msg, "(254 characters) must be 1 to 253"));
	}
}

static void names_follow_kubernetes_rules(void **state)
{
	(void)state;
	assert_null(name_check_dns_label("a-1"));
	assert_non_null(name_check_dns_label("a.b"));
	assert_non_null(name_check_dns_label("-a"));
	assert_null(name_check_dns_subdomain(DOTTED_NODE));
	assert_non_null(name_check_dns_subdomain("a..b"));
	assert_non_null(name_check_dns_subdomain("a.-b"));
	assert_non_null(name_check_dns_subdomain("A"));
	assert_non_null(name_check_dns_subdomain(""));
	assert_null(name_check_label_key("app.kubernetes.io/name"));
	assert_null(name_check_label_key("Tier_1.x"));
	assert_non_null(name_check_label_key("/name"));
	assert_non_null(name_check_label_key("Example.com/name"));
	assert_non_null(name_check_label_key("a/"));
	assert_non_null(name_check_label_key("-name"));
	assert_null(name_check_label_value(""));
	assert_null(name_check_label_value("v1.2_3-A"));
	assert_non_null(name_check_label_value("a b"));
	assert_non_null(name_check_label_value("a-"));
}

/* Every label of a namespace counts: a selector on its 100th matches. */
static void namespace_labels_past_64_are_used(void **state)
{
	char *text = NULL;
	size_t len = 0, i;
	FILE *f = open_memstream(&text, &len);
	struct mesh_config cfg;
	struct mesh_plan plan;
	struct cfg_error err;

	(void)state;
	assert_non_null(f);
	fprintf(f, "apiVersion: shunt.dev/v1\nnamespaces:\n  - name: a\n    labels:\n");
	for (i = 0; i < 100; i++)
		fprintf(f, "      l%zu: v\n", i);
	fprintf(f, "workloads:\n"
		   "  - {name: client, namespace: a, node: n1, addresses: [10.1.0.1]}\n"
		   "  - {name: server, namespace: b, node: n1, addresses: [10.1.0.2]}\n"
		   "policies:\n"
		   "  - name: p\n"
		   "    namespace: b\n"
		   "    podSelector: {}\n"
		   "    ingress: [{from: [{namespaceSelector: {matchLabels: {l99: v}}}]}]\n");
	fclose(f);
	if (mesh_config_parse(&cfg, "t.yaml", text, len, &err))
		fail_msg("%s", err.msg);
	free(text);
	assert_int_equal(cfg.namespaces[0].labels.n, 100);
	assert_int_equal(mesh_plan_build(&plan, &cfg, NULL, &err), 0);
	for (i = 0; i < plan.maps[PLAN_POLICY_ALLOW].n; i++) {
		const struct shunt_policy_key *k =
		    (const void *)(plan.maps[PLAN_POLICY_ALLOW].keys +
				   i * plan.maps[PLAN_POLICY_ALLOW].key_size);

		if (k->subject == mesh_workload_ident("b", "server") &&
		    k->peer == mesh_workload_ident("a", "client"))
			break;
	}
	assert_true(i < plan.maps[PLAN_POLICY_ALLOW].n);
	mesh_plan_free(&plan);
	mesh_config_free(&cfg);
}

/* A backend whose workload the model lacks (a source other than the YAML
 * parser, which refuses it earlier): an error, never an index of -1. */
static void backend_of_an_unknown_workload_is_an_error(void **state)
{
	struct mesh_config cfg;
	struct mesh_plan plan;
	struct cfg_error err;
	struct names n;

	(void)state;
	names_at_limit(&n, NULL);
	assert_int_equal(parse_names(&n, &cfg, &err), 0);
	cfg.services[0].backends[0].workload = "ghost";
	assert_int_equal(mesh_plan_build(&plan, &cfg, NULL, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "t.yaml:20:16: backend workload"));
	assert_non_null(strstr(err.msg, "/ghost is not defined"));
	mesh_config_free(&cfg);
}

static void node_identity_takes_any_node_name(void **state)
{
	char id[SHUNT_SPIFFE_MAX], node[SHUNT_DNS_SUBDOMAIN_MAX + 2],
	    sa[SHUNT_DNS_SUBDOMAIN_MAX + 1];
	char dir[] = "/tmp/shunt-test-names-XXXXXX", ca_err[512], cmd[600];
	char td[SHUNT_TRUST_DOMAIN_MAX + 1], ns[SHUNT_DNS_LABEL_MAX + 1];
	struct ca_issue_opts o = {.node = DOTTED_NODE};
	struct ca_identity ident;

	(void)state;
	assert_int_equal(ca_node_spiffe_id(id, sizeof(id), "cluster.local", DOTTED_NODE), 0);
	assert_string_equal(id, "spiffe://cluster.local/node/" DOTTED_NODE);
	long_name(node, SHUNT_DNS_SUBDOMAIN_MAX, 'h', true);
	assert_int_equal(ca_node_spiffe_id(id, sizeof(id), "cluster.local", node), 0);
	long_name(node, SHUNT_DNS_SUBDOMAIN_MAX + 1, 'h', true);
	assert_int_equal(ca_node_spiffe_id(id, sizeof(id), "cluster.local", node), -EINVAL);
	assert_int_equal(ca_node_spiffe_id(id, sizeof(id), "cluster.local", "Node_1"), -EINVAL);
	/* The longest workload identity fits SHUNT_SPIFFE_MAX. */
	long_name(td, SHUNT_TRUST_DOMAIN_MAX, 't', true);
	long_name(ns, SHUNT_DNS_LABEL_MAX, 'n', false);
	long_name(sa, SHUNT_DNS_SUBDOMAIN_MAX, 's', true);
	assert_int_equal(ca_spiffe_id(id, sizeof(id), td, ns, sa), 0);
	assert_int_equal(strlen(id), 9 + 255 + 4 + 63 + 4 + 253);
	/* A certificate for the dotted node, and for the longest workload
	 * identity (its CN capped, its URI SAN whole). */
	assert_non_null(mkdtemp(dir));
	assert_int_equal(ca_init(dir, "cluster.local", 1, ca_err, sizeof(ca_err)), 0);
	if (ca_issue_mem(dir, &o, &ident, ca_err, sizeof(ca_err)))
		fail_msg("%s", ca_err);
	assert_string_equal(ident.id, "spiffe://cluster.local/node/" DOTTED_NODE);
	ca_identity_free(&ident);
	o = (struct ca_issue_opts){.ns = ns, .service_account = sa};
	if (ca_issue_mem(dir, &o, &ident, ca_err, sizeof(ca_err)))
		fail_msg("%s", ca_err);
	assert_int_equal(strlen(ident.id), strlen("spiffe://cluster.local/ns//sa/") + 63 + 253);
	ca_identity_free(&ident);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(names_at_kubernetes_limits_compile_whole),
	    cmocka_unit_test(names_one_over_the_limit_are_refused_where_they_are),
	    cmocka_unit_test(names_follow_kubernetes_rules),
	    cmocka_unit_test(namespace_labels_past_64_are_used),
	    cmocka_unit_test(backend_of_an_unknown_workload_is_an_error),
	    cmocka_unit_test(node_identity_takes_any_node_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
