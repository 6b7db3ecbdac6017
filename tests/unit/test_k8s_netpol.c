// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * NetworkPolicy objects through the Kubernetes source's translation
 * (sources/k8s_netpol.c), judged by upstream's semantics: a small reference
 * evaluator below reads the translated model the way the upstream
 * NetworkPolicy e2e suite expects connections to go (pods selected by no
 * policy are open; policies add up; one peer with both selectors is their
 * intersection, two peers a union; ports, named ports on the destination,
 * endPort; ipBlock with except; policyTypes and their default). Objects
 * the model cannot hold refuse the snapshot, naming the object.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "sources/k8s_impl.h"
#include "mesh_shared.h"

/* Namespaces x and y (label team=x|y), pods a and b in each, all on n2;
 * every pod serves "http" on TCP 80 and "dns" on UDP 53. */
static void world(json_t *caches[K8S_KINDS])
{
	static const char *const nss[] = {"x", "y"}, *const pods[] = {"a", "b"};
	char ip[32], key[64];
	size_t i, j;

	for (i = 0; i < K8S_KINDS; i++)
		caches[i] = json_object();
	for (i = 0; i < 2; i++) {
		json_object_set_new(caches[K8S_NAMESPACES], nss[i],
				    json_pack("{s:{s:s, s:{s:s}}}", "metadata", "name", nss[i],
					      "labels", "team", nss[i]));
		for (j = 0; j < 2; j++) {
			snprintf(ip, sizeof(ip), "10.0.%zu.%zu", i, j + 1);
			snprintf(key, sizeof(key), "%s/%s", nss[i], pods[j]);
			json_object_set_new(
			    caches[K8S_PODS_REMOTE], key,
			    json_pack("{s:{s:s, s:s, s:{s:s}}, s:{s:s, s:[{s:[{s:s, s:i}, "
				      "{s:s, s:i, s:s}]}]}, s:{s:s, s:s}}",
				      "metadata", "name", pods[j], "namespace", nss[i], "labels",
				      "pod", pods[j], "spec", "nodeName", "n2", "containers",
				      "ports", "name", "http", "containerPort", 80, "name", "dns",
				      "containerPort", 53, "protocol", "UDP", "status", "phase",
				      "Running", "podIP", ip));
		}
	}
}

static void add_policy(json_t *caches[K8S_KINDS], const char *json)
{
	json_error_t jerr;
	json_t *np = json_loads(json, 0, &jerr);
	char key[128];

	if (!np)
		fail_msg("bad test JSON at %d: %s", jerr.position, jerr.text);
	snprintf(key, sizeof(key), "%s/%s",
		 json_string_value(json_object_get(json_object_get(np, "metadata"), "namespace")),
		 json_string_value(json_object_get(json_object_get(np, "metadata"), "name")));
	json_object_set_new(caches[K8S_NETWORKPOLICIES], key, np);
}

static int translate(json_t *caches[K8S_KINDS], struct mesh_config *cfg, struct cfg_error *err)
{
	struct k8s_translate_opts opts = {.node = "n1", .trust_domain = "cluster.local"};
	int ret = k8s_translate(caches, &opts, cfg, err);
	size_t i;

	for (i = 0; i < K8S_KINDS; i++)
		json_decref(caches[i]);
	return ret;
}

/* --- the reference evaluator (upstream semantics) --- */

static const struct cfg_workload *pod(const struct mesh_config *cfg, const char *ns,
				      const char *name)
{
	size_t i;

	for (i = 0; i < cfg->nworkloads; i++)
		if (!strcmp(cfg->workloads[i].ns, ns) && !strcmp(cfg->workloads[i].name, name))
			return &cfg->workloads[i];
	fail_msg("no pod %s/%s", ns, name);
	return NULL;
}

static bool peer_has(const struct mesh_config *cfg, const struct cfg_policy *p,
		     const struct cfg_peer *peer, const struct cfg_workload *w)
{
	const struct cfg_namespace *ns = cfg_namespace_find(cfg, w->ns);
	size_t i;

	if (peer->kind == CFG_PEER_IPBLOCK) {
		if (!cfg_prefix_contains(&peer->cidr, w->addrs[0].addr, 128))
			return false;
		for (i = 0; i < peer->nexcept; i++)
			if (cfg_prefix_contains(&peer->except[i], w->addrs[0].addr, 128))
				return false;
		return true;
	}
	if (peer->namespaces ? !cfg_selector_matches(peer->namespaces, &ns->labels)
			     : strcmp(w->ns, p->ns))
		return false;
	return !peer->pods || cfg_selector_matches(peer->pods, &w->labels);
}

static bool port_has(const struct cfg_port *pp, const struct cfg_workload *dst, __u16 port,
		     __u8 proto)
{
	if (pp->proto != proto)
		return false;
	if (pp->name)
		return cfg_workload_port(dst, pp->name, proto) == port;
	return !pp->port || (port >= pp->port && port <= pp->end_port);
}

static bool rule_has(const struct mesh_config *cfg, const struct cfg_policy *p,
		     const struct cfg_rule *r, const struct cfg_workload *peer,
		     const struct cfg_workload *dst, __u16 port, __u8 proto)
{
	bool peer_ok = !r->npeers, port_ok = !r->nports;
	size_t i;

	for (i = 0; i < r->npeers; i++)
		peer_ok |= peer_has(cfg, p, &r->peers[i], peer);
	for (i = 0; i < r->nports; i++)
		port_ok |= port_has(&r->ports[i], dst, port, proto);
	return peer_ok && port_ok;
}

/* DIR of SUBJECT toward PEER: allowed when no policy isolates it, or a
 * rule of one that does allows it. */
static bool side_allows(const struct mesh_config *cfg, int dir, const struct cfg_workload *subject,
			const struct cfg_workload *peer, const struct cfg_workload *dst, __u16 port,
			__u8 proto)
{
	enum cfg_rule_kind kind = dir == SHUNT_DIR_INGRESS ? CFG_INGRESS : CFG_EGRESS;
	bool isolated = false;
	size_t i, k;

	for (i = 0; i < cfg->npolicies; i++) {
		const struct cfg_policy *p = &cfg->policies[i];

		if (strcmp(p->ns, subject->ns) || !p->isolates[dir] ||
		    !cfg_selector_matches(&p->subject, &subject->labels))
			continue;
		isolated = true;
		for (k = 0; k < p->nrules[kind]; k++)
			if (rule_has(cfg, p, &p->rules[kind][k], peer, dst, port, proto))
				return true;
	}
	return !isolated;
}

static bool allowed(const struct mesh_config *cfg, const char *from, const char *to, __u16 port,
		    __u8 proto)
{
	char fns[8], tns[8];
	const struct cfg_workload *f, *t;

	sscanf(from, "%7[^/]", fns);
	sscanf(to, "%7[^/]", tns);
	f = pod(cfg, fns, strchr(from, '/') + 1);
	t = pod(cfg, tns, strchr(to, '/') + 1);
	return side_allows(cfg, SHUNT_DIR_EGRESS, f, t, t, port, proto) &&
	       side_allows(cfg, SHUNT_DIR_INGRESS, t, f, t, port, proto);
}

#define TCP SHUNT_PROTO_TCP
#define UDP SHUNT_PROTO_UDP

/* --- cases --- */

static void no_policy_allows_everything(void **state)
{
	json_t *caches[K8S_KINDS];
	struct mesh_config cfg;
	struct cfg_error err;

	(void)state;
	world(caches);
	assert_int_equal(translate(caches, &cfg, &err), 0);
	assert_int_equal(cfg.nworkloads, 4);
	assert_true(allowed(&cfg, "x/a", "y/b", 80, TCP));
	mesh_config_free(&cfg);
}

static void both_selectors_in_one_peer_intersect_two_peers_unite(void **state)
{
	json_t *caches[K8S_KINDS];
	struct mesh_config cfg;
	struct cfg_error err;

	(void)state;
	world(caches);
	/* x/a admits pods b of namespace y only. */
	add_policy(caches,
		   "{\"metadata\":{\"name\":\"one\",\"namespace\":\"x\"},\"spec\":{"
		   "\"podSelector\":{\"matchLabels\":{\"pod\":\"a\"}},\"ingress\":[{\"from\":[{"
		   "\"namespaceSelector\":{\"matchLabels\":{\"team\":\"y\"}},"
		   "\"podSelector\":{\"matchLabels\":{\"pod\":\"b\"}}}]}]}}");
	/* x/b admits namespace y (any pod), or pods b of its own namespace. */
	add_policy(caches,
		   "{\"metadata\":{\"name\":\"two\",\"namespace\":\"x\"},\"spec\":{"
		   "\"podSelector\":{\"matchLabels\":{\"pod\":\"b\"}},\"ingress\":[{\"from\":[{"
		   "\"namespaceSelector\":{\"matchLabels\":{\"team\":\"y\"}}},"
		   "{\"podSelector\":{\"matchLabels\":{\"pod\":\"b\"}}}]}]}}");
	assert_int_equal(translate(caches, &cfg, &err), 0);
	assert_false(allowed(&cfg, "y/a", "x/a", 80, TCP));
	assert_true(allowed(&cfg, "y/b", "x/a", 80, TCP));
	assert_false(allowed(&cfg, "x/b", "x/a", 80, TCP));
	assert_true(allowed(&cfg, "y/a", "x/b", 80, TCP));
	assert_false(allowed(&cfg, "x/a", "x/b", 80, TCP));
	assert_true(allowed(&cfg, "y/b", "x/b", 80, TCP));
	mesh_config_free(&cfg);
}

static void policy_types_default_and_explicit(void **state)
{
	json_t *caches[K8S_KINDS];
	struct mesh_config cfg;
	struct cfg_error err;

	(void)state;
	world(caches);
	/* No policyTypes, no egress: Ingress only; ingress [] denies all in. */
	add_policy(caches, "{\"metadata\":{\"name\":\"in\",\"namespace\":\"x\"},\"spec\":{"
			   "\"podSelector\":{\"matchLabels\":{\"pod\":\"a\"}}}}");
	/* policyTypes [Egress] and no egress rule: y/a may send nothing. */
	add_policy(caches, "{\"metadata\":{\"name\":\"out\",\"namespace\":\"y\"},\"spec\":{"
			   "\"podSelector\":{\"matchLabels\":{\"pod\":\"a\"}},"
			   "\"policyTypes\":[\"Egress\"]}}");
	/* No policyTypes but egress rules: Ingress and Egress. */
	add_policy(caches, "{\"metadata\":{\"name\":\"both\",\"namespace\":\"y\"},\"spec\":{"
			   "\"podSelector\":{\"matchLabels\":{\"pod\":\"b\"}},"
			   "\"egress\":[{\"ports\":[{\"port\":80}]}]}}");
	assert_int_equal(translate(caches, &cfg, &err), 0);
	assert_false(allowed(&cfg, "x/b", "x/a", 80, TCP));
	assert_true(allowed(&cfg, "x/a", "x/b", 80, TCP));
	assert_false(allowed(&cfg, "y/a", "x/b", 80, TCP));
	assert_true(allowed(&cfg, "x/b", "y/a", 80, TCP));
	assert_true(allowed(&cfg, "y/b", "x/b", 80, TCP));
	assert_false(allowed(&cfg, "y/b", "x/b", 53, UDP));
	assert_false(allowed(&cfg, "x/b", "y/b", 80, TCP));
	mesh_config_free(&cfg);
}

static void ports_named_ranges_and_protocols(void **state)
{
	json_t *caches[K8S_KINDS];
	struct mesh_config cfg;
	struct cfg_error err;

	(void)state;
	world(caches);
	add_policy(caches, "{\"metadata\":{\"name\":\"p\",\"namespace\":\"x\"},\"spec\":{"
			   "\"podSelector\":{},\"ingress\":[{\"ports\":[{\"port\":\"dns\","
			   "\"protocol\":\"UDP\"},{\"port\":8000,\"endPort\":8100}]},"
			   "{\"from\":[{\"podSelector\":{\"matchExpressions\":[{\"key\":\"pod\","
			   "\"operator\":\"NotIn\",\"values\":[\"a\"]}]}}],"
			   "\"ports\":[{\"port\":\"http\"}]}]}}");
	assert_int_equal(translate(caches, &cfg, &err), 0);
	assert_true(allowed(&cfg, "y/a", "x/a", 53, UDP));  /* named, on the destination */
	assert_false(allowed(&cfg, "y/a", "x/a", 53, TCP)); /* named dns is UDP */
	assert_true(allowed(&cfg, "y/a", "x/a", 8050, TCP));
	assert_false(allowed(&cfg, "y/a", "x/a", 8101, TCP));
	assert_false(allowed(&cfg, "y/a", "x/a", 80, TCP)); /* pods other than a, of x */
	assert_true(allowed(&cfg, "x/b", "x/a", 80, TCP));
	mesh_config_free(&cfg);
}

static void ipblock_with_except(void **state)
{
	json_t *caches[K8S_KINDS];
	struct mesh_config cfg;
	struct cfg_error err;

	(void)state;
	world(caches);
	/* Host bits set (10.0.1.1/16) read as 10.0.0.0/16, as Kubernetes does. */
	add_policy(caches, "{\"metadata\":{\"name\":\"p\",\"namespace\":\"x\"},\"spec\":{"
			   "\"podSelector\":{\"matchLabels\":{\"pod\":\"a\"}},"
			   "\"policyTypes\":[\"Egress\"],\"egress\":[{\"to\":[{\"ipBlock\":{"
			   "\"cidr\":\"10.0.1.1/16\",\"except\":[\"10.0.1.2/32\"]}}]}]}}");
	assert_int_equal(translate(caches, &cfg, &err), 0);
	assert_int_equal(cfg.policies[0].rules[CFG_EGRESS][0].peers[0].cidr.len, 96 + 16);
	assert_true(allowed(&cfg, "x/a", "y/a", 80, TCP));
	assert_false(allowed(&cfg, "x/a", "y/b", 80, TCP));
	assert_true(allowed(&cfg, "x/a", "x/b", 80, TCP));
	mesh_config_free(&cfg);
}

static void what_the_model_cannot_hold_is_refused_by_name(void **state)
{
	static const char *const bad[] = {
	    /* a range wider than the model holds */
	    "{\"metadata\":{\"name\":\"wide\",\"namespace\":\"x\"},\"spec\":{\"podSelector\":{},"
	    "\"ingress\":[{\"ports\":[{\"port\":1000,\"endPort\":9000}]}]}}",
	    "{\"metadata\":{\"name\":\"op\",\"namespace\":\"x\"},\"spec\":{\"podSelector\":{"
	    "\"matchExpressions\":[{\"key\":\"k\",\"operator\":\"Gt\",\"values\":[\"1\"]}]}}}",
	    "{\"metadata\":{\"name\":\"except\",\"namespace\":\"x\"},\"spec\":{\"podSelector\":{},"
	    "\"ingress\":[{\"from\":[{\"ipBlock\":{\"cidr\":\"10.0.0.0/16\",\"except\":["
	    "\"10.1.0.0/24\"]}}]}]}}",
	    "{\"metadata\":{\"name\":\"mixed\",\"namespace\":\"x\"},\"spec\":{\"podSelector\":{},"
	    "\"ingress\":[{\"from\":[{\"podSelector\":{},\"ipBlock\":{\"cidr\":\"10.0.0.0/"
	    "8\"}}]}]}}",
	    "{\"metadata\":{\"name\":\"proto\",\"namespace\":\"x\"},\"spec\":{\"podSelector\":{},"
	    "\"ingress\":[{\"ports\":[{\"protocol\":\"ICMP\"}]}]}}",
	};
	static const char *const names[] = {"wide", "op", "except", "mixed", "proto"};
	json_t *caches[K8S_KINDS];
	struct mesh_config cfg;
	struct cfg_error err;
	char want[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		world(caches);
		add_policy(caches, bad[i]);
		assert_int_equal(translate(caches, &cfg, &err), -EINVAL);
		snprintf(want, sizeof(want), "NetworkPolicy/x/%s: ", names[i]);
		if (strncmp(err.msg, want, strlen(want)))
			fail_msg("expected '%s...', got '%s'", want, err.msg);
		assert_int_equal(cfg.nworkloads, 0); /* nothing of the snapshot is kept */
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(no_policy_allows_everything),
	    cmocka_unit_test(both_selectors_in_one_peer_intersect_two_peers_unite),
	    cmocka_unit_test(policy_types_default_and_explicit),
	    cmocka_unit_test(ports_named_ranges_and_protocols),
	    cmocka_unit_test(ipblock_with_except),
	    cmocka_unit_test(what_the_model_cannot_hold_is_refused_by_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
