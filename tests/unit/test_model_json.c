// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The published model (model/model_json.h): every config that parses comes
 * back from JSON as the same model (same JSON again, the same plan for the
 * kernel, the same plan errors), and the file is replaced atomically
 * (test_model_json_refused.c: what is not a model). Run from the
 * repository root.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/addr.h"
#include "control/mesh_plan.h"
#include "fake_host.h"
#include "mesh_gen.h"
#include "model/mesh_config.h"
#include "model/model_json.h"
#include "sources/yaml_source.h"

#define EXAMPLE "tests/configs/valid/example.yaml"
#define ROUTES	"tests/configs/valid/http-routes.yaml"

static bool kv_equal(const struct kv_vec *a, const struct kv_vec *b)
{
	return a->n == b->n && a->key_size == b->key_size && a->value_size == b->value_size &&
	       (!a->n || (!memcmp(a->keys, b->keys, a->n * a->key_size) &&
			  !memcmp(a->values, b->values, a->n * a->value_size)));
}

/* Both models compile to the same entries for node n1, or fail alike. */
static bool same_plan(const struct mesh_config *a, const struct mesh_config *b, const char *what)
{
	struct mesh_plan pa, pb;
	struct cfg_error ea = {0}, eb = {0};
	int ra, rb, i;
	bool same;

	ra = mesh_plan_build_on(&pa, a, "n1", &fake_host, &ea);
	rb = mesh_plan_build_on(&pb, b, "n1", &fake_host, &eb);
	same = ra == rb && !strcmp(ea.msg, eb.msg);
	for (i = 0; same && !ra && i < PLAN_MAPS; i++)
		same = kv_equal(&pa.maps[i], &pb.maps[i]);
	if (same && !ra)
		same =
		    kv_equal(&pa.workloads, &pb.workloads) &&
		    kv_equal(&pa.workload_names, &pb.workload_names) &&
		    !memcmp(pa.proxy_addr, pb.proxy_addr, 16) && pa.proxy_port == pb.proxy_port &&
		    !memcmp(pa.proxy_addr6, pb.proxy_addr6, 16) && pa.proxy_port6 == pb.proxy_port6;
	if (!same)
		print_error("%s: plans differ (%d '%s' / %d '%s', map %d)\n", what, ra, ea.msg, rb,
			    eb.msg, i - 1);
	if (!ra)
		mesh_plan_free(&pa);
	if (!rb)
		mesh_plan_free(&pb);
	return same;
}

/* YAML model -> JSON -> model -> JSON: equal texts, equal plans. */
static bool round_trips(const struct mesh_config *cfg, const char *what)
{
	struct mesh_config back;
	struct cfg_error err = {0};
	char *j1 = NULL, *j2 = NULL;
	size_t l1, l2;
	__u64 version = 0;
	bool ok = false;

	if (mesh_model_to_json(cfg, 42, &j1, &l1)) {
		print_error("%s: cannot write JSON\n", what);
		return false;
	}
	if (mesh_model_from_json(&back, &version, j1, l1, &err)) {
		print_error("%s: own JSON refused: %s\n", what, err.msg);
		goto cleanup;
	}
	ok = version == 42 && !mesh_model_to_json(&back, version, &j2, &l2) && l1 == l2 &&
	     !memcmp(j1, j2, l1);
	if (!ok)
		print_error("%s: JSON differs after a round trip:\n%s\n%s\n", what, j1,
			    j2 ? j2 : "");
	ok = ok && same_plan(cfg, &back, what);
	mesh_config_free(&back);
cleanup:
	free(j1);
	free(j2);
	return ok;
}

/* Round-trips every .yaml under DIR that parses; counts into *PARSED.
 * With ALL_PARSE, one that does not parse counts as failed. */
static int round_trip_dir(const char *dir_path, bool all_parse, int *parsed)
{
	struct dirent *de;
	int failed = 0;
	DIR *dir;

	dir = opendir(dir_path);
	assert_non_null(dir);
	while ((de = readdir(dir))) {
		struct mesh_config cfg;
		struct cfg_error err;
		char path[512];
		size_t len = strlen(de->d_name);

		if (len < 6 || strcmp(de->d_name + len - 5, ".yaml"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir_path, de->d_name);
		if (mesh_config_load(&cfg, path, &err)) {
			if (all_parse) {
				print_error("%s does not parse: %s\n", path, err.msg);
				failed++;
			}
			continue;
		}
		(*parsed)++;
		failed += !round_trips(&cfg, path);
		mesh_config_free(&cfg);
	}
	closedir(dir);
	return failed;
}

static void every_config_that_parses_round_trips(void **state)
{
	int parsed = 0, failed = 0;

	(void)state;
	failed += round_trip_dir("tests/configs/valid", true, &parsed);
	failed += round_trip_dir("tests/configs/invalid", false, &parsed);
	failed += round_trip_dir("tests/fuzz/corpus", false, &parsed);
	print_message("%d configs parsed and round-tripped\n", parsed);
	assert_true(parsed >= 2);
	assert_int_equal(failed, 0);
}

/* The config generator's configs use nodes, proxies, SCTP, named ports,
 * every selector operator: 40 seeds of 10 steps. */
static void generated_configs_round_trip(void **state)
{
	unsigned int seed, step, failed = 0, n = 0;

	(void)state;
	for (seed = 1; seed <= 40; seed++) {
		struct mesh_gen g;

		mesh_gen_init_seed(&g, seed);
		for (step = 0; step < 10; step++) {
			struct mesh_config cfg;
			struct cfg_error err;
			char what[64], *text;
			size_t len;

			mesh_gen_step(&g);
			assert_non_null(text = mesh_gen_render(&g, &len));
			snprintf(what, sizeof(what), "seed %u step %u", seed, step);
			if (mesh_config_parse(&cfg, "gen.yaml", text, len, &err)) {
				print_error("%s: generator config refused: %s\n", what, err.msg);
				failed++;
			} else {
				failed += !round_trips(&cfg, what);
				n++;
				mesh_config_free(&cfg);
			}
			free(text);
		}
	}
	assert_int_equal(n, 400);
	assert_int_equal(failed, 0);
}

/* Nodes with and without a proxy, every proxy field. */
static const char *const nodes_yaml =
    "apiVersion: shunt.dev/v1\n"
    "nodes:\n"
    "  - name: n1\n"
    "    proxy: {outbound: \"10.100.0.1:15001\", outbound6: "
    "\"[fd00::1]:15001\",\n"
    "            inbound: \"10.99.0.1:15008\", netns: /run/netns/px,\n"
    "            cgroup: /sys/fs/cgroup/px, sourceAddress: node}\n"
    "  - name: n2\n";

/* The model read back from JSON holds each field of the source. */
static void fields_survive_the_round_trip(void **state)
{
	struct mesh_config yaml, cfg;
	struct cfg_error err;
	const struct cfg_peer *peer;
	char *json, text[64];
	size_t len;
	__u64 version;

	(void)state;
	assert_int_equal(mesh_config_load(&yaml, EXAMPLE, &err), 0);
	assert_int_equal(mesh_model_to_json(&yaml, 7, &json, &len), 0);
	assert_int_equal(mesh_model_from_json(&cfg, &version, json, len, &err), 0);
	free(json);
	assert_int_equal(version, 7);
	assert_string_equal(cfg.path, EXAMPLE);
	assert_string_equal(cfg.trust_domain, "cluster.local");
	assert_int_equal(cfg.nworkloads, 4);
	assert_string_equal(cfg.workloads[1].name, "web-1");
	assert_string_equal(cfg.workloads[1].ns, "prod");
	assert_string_equal(cfg.workloads[1].service_account, "web");
	assert_string_equal(cfg.workloads[1].node, "n1");
	assert_int_equal(cfg.workloads[1].labels.n, 2);
	assert_string_equal(cfg.workloads[1].labels.items[1].key, "version");
	assert_string_equal(cfg.workloads[1].labels.items[1].value, "v1");
	assert_int_equal(cfg.workloads[1].naddrs, 2);
	assert_true(cfg.workloads[1].addrs[0].v4 && !cfg.workloads[1].addrs[1].v4);
	assert_int_equal(cfg.workloads[0].origin.line, 9);
	assert_int_equal(cfg.workloads[0].origin.col, 5);
	assert_string_equal(cfg.services[0].ports[0].app_protocol, "http");
	assert_int_equal(cfg.services[0].ports[0].target_port, 8080);
	assert_true(cfg.services[0].has_selector);
	assert_false(cfg.services[1].has_selector);
	assert_int_equal(cfg.services[1].nbackends, 3);
	assert_null(cfg.services[1].backends[2].workload);
	assert_int_equal(cfg.services[1].backends[2].weight, 0);
	shunt_addr_format(cfg.services[1].backends[2].addr.addr, text, sizeof(text));
	assert_string_equal(text, "10.100.9.10");
	peer = &cfg.policies[0].rules[CFG_INGRESS][1].peers[0];
	assert_int_equal(peer->kind, CFG_PEER_IPBLOCK);
	assert_int_equal(peer->cidr.len, 96 + 16);
	assert_int_equal(peer->nexcept, 1);
	assert_int_equal(peer->except[0].len, 96 + 24);
	assert_int_equal(cfg.policies[0].rules[CFG_INGRESS][1].ports[0].end_port, 9102);
	peer = &cfg.policies[1].rules[CFG_INGRESS][0].peers[0];
	assert_string_equal(peer->sa_namespace, "prod");
	assert_string_equal(peer->sa_name, "web");
	assert_int_equal(cfg.policies[1].subject.exprs[0].op, CFG_OP_IN);
	assert_string_equal(cfg.policies[1].subject.exprs[0].values[0], "db");
	assert_true(cfg.policies[1].isolates[0] && cfg.policies[1].isolates[1]);
	assert_non_null(cfg.policies[2].rules[CFG_EGRESS][0].peers[0].namespaces);
	assert_null(cfg.policies[2].rules[CFG_EGRESS][0].peers[0].pods);
	mesh_config_free(&cfg);
	mesh_config_free(&yaml);

	assert_int_equal(mesh_config_parse(&yaml, "n.yaml", nodes_yaml, strlen(nodes_yaml), &err),
			 0);
	assert_int_equal(mesh_model_to_json(&yaml, 1, &json, &len), 0);
	assert_int_equal(mesh_model_from_json(&cfg, &version, json, len, &err), 0);
	free(json);
	assert_int_equal(cfg.nnodes, 2);
	assert_true(cfg.nodes[0].has_proxy && cfg.nodes[0].has_outbound6);
	assert_true(cfg.nodes[0].source_from_node);
	assert_string_equal(cfg.nodes[0].proxy_netns, "/run/netns/px");
	assert_string_equal(cfg.nodes[0].proxy_cgroup, "/sys/fs/cgroup/px");
	assert_int_equal(cfg.nodes[0].inbound.port, 15008);
	shunt_addr_format(cfg.nodes[0].outbound6.addr, text, sizeof(text));
	assert_string_equal(text, "fd00::1");
	assert_false(cfg.nodes[1].has_proxy);
	mesh_config_free(&cfg);
	mesh_config_free(&yaml);
}

/* Objects from a cluster API and from another file keep their origin. */
static void origins_round_trip(void **state)
{
	struct mesh_config cfg, back;
	struct cfg_error err;
	const struct cfg_origin *o;
	char *json, where[128];
	__u64 version;
	size_t len;

	(void)state;
	assert_int_equal(mesh_config_load(&cfg, EXAMPLE, &err), 0);
	cfg.workloads[1].origin = (struct cfg_origin){
	    .kind = CFG_ORIGIN_OBJECT, .object_kind = "Pod", .ns = "prod", .name = "web-1-abc"};
	cfg.services[0].origin.file = "other.yaml";
	cfg.nodes = NULL;
	cfg.policies[0].origin = (struct cfg_origin){
	    .kind = CFG_ORIGIN_OBJECT, .object_kind = "ClusterThing", .name = "x"};
	assert_int_equal(mesh_model_to_json(&cfg, 1, &json, &len), 0);
	assert_int_equal(mesh_model_from_json(&back, &version, json, len, &err), 0);
	free(json);
	o = &back.workloads[1].origin;
	assert_int_equal(o->kind, CFG_ORIGIN_OBJECT);
	cfg_origin_format(o, where, sizeof(where));
	assert_string_equal(where, "Pod/prod/web-1-abc");
	cfg_origin_format(&back.policies[0].origin, where, sizeof(where));
	assert_string_equal(where, "ClusterThing/x");
	cfg_origin_format(&back.services[0].origin, where, sizeof(where));
	assert_string_equal(where, "other.yaml:36:5");
	cfg_origin_format(&back.services[1].origin, where, sizeof(where));
	assert_string_equal(where, EXAMPLE ":43:5");
	mesh_config_free(&back);
	mesh_config_free(&cfg);
}

static void assert_str_same(const char *a, const char *b)
{
	if (!a || !b)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

static void assert_origin_same(const struct cfg_origin *a, const struct cfg_origin *b)
{
	char wa[128], wb[128];

	cfg_origin_format(a, wa, sizeof(wa));
	cfg_origin_format(b, wb, sizeof(wb));
	assert_int_equal(a->kind, b->kind);
	assert_string_equal(wa, wb);
}

static void assert_values_same(const struct cfg_http_value_match *a,
			       const struct cfg_http_value_match *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(a[i].type, b[i].type);
		assert_str_same(a[i].name, b[i].name);
		assert_str_same(a[i].value, b[i].value);
	}
}

static void assert_mod_same(const struct cfg_http_header_mod *a,
			    const struct cfg_http_header_mod *b)
{
	size_t i;

	assert_int_equal(a->nset, b->nset);
	assert_int_equal(a->nadd, b->nadd);
	assert_int_equal(a->nremove, b->nremove);
	for (i = 0; i < a->nset; i++) {
		assert_str_same(a->set[i].name, b->set[i].name);
		assert_str_same(a->set[i].value, b->set[i].value);
	}
	for (i = 0; i < a->nadd; i++) {
		assert_str_same(a->add[i].name, b->add[i].name);
		assert_str_same(a->add[i].value, b->add[i].value);
	}
	for (i = 0; i < a->nremove; i++)
		assert_str_same(a->remove[i], b->remove[i]);
}

static void assert_rule_same(const struct cfg_http_rule *a, const struct cfg_http_rule *b)
{
	size_t i;

	assert_int_equal(a->nmatches, b->nmatches);
	for (i = 0; i < a->nmatches; i++) {
		const struct cfg_http_match *ma = &a->matches[i], *mb = &b->matches[i];

		assert_int_equal(ma->path_type, mb->path_type);
		assert_str_same(ma->path, mb->path);
		assert_str_same(ma->method, mb->method);
		assert_int_equal(ma->nheaders, mb->nheaders);
		assert_values_same(ma->headers, mb->headers, ma->nheaders);
		assert_int_equal(ma->nquery, mb->nquery);
		assert_values_same(ma->query, mb->query, ma->nquery);
	}
	assert_mod_same(&a->request_headers, &b->request_headers);
	assert_mod_same(&a->response_headers, &b->response_headers);
	assert_int_equal(a->nbackends, b->nbackends);
	for (i = 0; i < a->nbackends; i++) {
		assert_str_same(a->backends[i].service, b->backends[i].service);
		assert_int_equal(a->backends[i].port, b->backends[i].port);
		assert_int_equal(a->backends[i].weight, b->backends[i].weight);
		assert_int_equal(a->backends[i].unresolved, b->backends[i].unresolved);
		assert_int_equal(a->backends[i].unresolved_why, b->backends[i].unresolved_why);
		assert_origin_same(&a->backends[i].origin, &b->backends[i].origin);
	}
	assert_int_equal(a->request_timeout_ms, b->request_timeout_ms);
	assert_int_equal(a->backend_timeout_ms, b->backend_timeout_ms);
	assert_int_equal(a->retry.attempts, b->retry.attempts);
	assert_int_equal(a->retry.backoff_ms, b->retry.backoff_ms);
	assert_int_equal(a->retry.ncodes, b->retry.ncodes);
	for (i = 0; i < a->retry.ncodes; i++)
		assert_int_equal(a->retry.codes[i], b->retry.codes[i]);
	assert_origin_same(&a->origin, &b->origin);
}

/* httpRoutes come back field by field, origins of every kind included. */
static void http_routes_survive_the_round_trip(void **state)
{
	struct mesh_config yaml, cfg;
	struct cfg_error err;
	const struct cfg_http_route *a, *b;
	char *json, where[128];
	size_t len, i, k;
	__u64 version;

	(void)state;
	assert_int_equal(mesh_config_load(&yaml, ROUTES, &err), 0);
	yaml.http_routes[1].origin = (struct cfg_origin){
	    .kind = CFG_ORIGIN_OBJECT, .object_kind = "HTTPRoute", .ns = "shop", .name = "admin"};
	yaml.http_routes[0].rules[0].backends[1].origin.file = "other.yaml";
	assert_int_equal(mesh_model_to_json(&yaml, 3, &json, &len), 0);
	assert_int_equal(mesh_model_from_json(&cfg, &version, json, len, &err), 0);
	free(json);
	assert_int_equal(cfg.nhttp_routes, 2);
	for (i = 0; i < cfg.nhttp_routes; i++) {
		a = &yaml.http_routes[i];
		b = &cfg.http_routes[i];
		assert_string_equal(a->name, b->name);
		assert_string_equal(a->ns, b->ns);
		assert_int_equal(a->nparents, b->nparents);
		for (k = 0; k < a->nparents; k++) {
			assert_string_equal(a->parents[k].service, b->parents[k].service);
			assert_int_equal(a->parents[k].port, b->parents[k].port);
		}
		assert_int_equal(a->nrules, b->nrules);
		for (k = 0; k < a->nrules; k++)
			assert_rule_same(&a->rules[k], &b->rules[k]);
		assert_origin_same(&a->origin, &b->origin);
	}
	/* The comparison above saw real values. */
	b = &cfg.http_routes[0];
	assert_int_equal(b->nrules, 3);
	assert_string_equal(b->rules[0].matches[0].headers[0].name, "x-canary");
	assert_int_equal(b->rules[0].matches[0].query[0].type, CFG_VALUE_REGEX);
	assert_string_equal(b->rules[0].response_headers.remove[1], "x-powered-by");
	assert_int_equal(b->rules[0].backend_timeout_ms, 500);
	assert_int_equal(b->rules[0].retry.codes[1], 503);
	assert_int_equal(b->rules[1].matches[0].path_type, CFG_PATH_REGEX);
	cfg_origin_format(&b->rules[0].backends[0].origin, where, sizeof(where));
	assert_string_equal(where, ROUTES ":38:13");
	cfg_origin_format(&b->rules[0].backends[1].origin, where, sizeof(where));
	assert_string_equal(where, "other.yaml:39:13");
	cfg_origin_format(&cfg.http_routes[1].origin, where, sizeof(where));
	assert_string_equal(where, "HTTPRoute/shop/admin");
	assert_string_equal(cfg.services[2].ports[0].app_protocol, "http");
	assert_string_equal(cfg.services[2].ports[1].app_protocol, "http2");
	mesh_config_free(&cfg);
	mesh_config_free(&yaml);
}

static char *read_fd(int fd)
{
	static char buf[65536];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	assert_true(n > 0);
	buf[n] = 0;
	return buf;
}

/* Publish creates the directories, replaces the file by rename (an old
 * reader keeps the old model), leaves no temporary file; load reads it. */
static void published_model_loads_back(void **state)
{
	char dir[] = "/tmp/shunt-model-XXXXXX", path[256], tmp[300];
	struct mesh_config cfg, back;
	struct cfg_error err;
	char *want, *got;
	size_t wlen, glen;
	__u64 version = 0;
	FILE *f;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/run/n1/model.json", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	assert_int_equal(mesh_model_load(path, &back, &version, &err), -ENOENT);
	assert_int_equal(mesh_config_load(&cfg, EXAMPLE, &err), 0);
	assert_int_equal(mesh_model_publish(path, &cfg, 5), 0);
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(mesh_model_load(path, &back, &version, &err), 0);
	assert_int_equal(version, 5);
	assert_int_equal(mesh_model_to_json(&cfg, 5, &want, &wlen), 0);
	assert_int_equal(mesh_model_to_json(&back, 5, &got, &glen), 0);
	assert_int_equal(wlen, glen);
	assert_memory_equal(want, got, wlen);
	free(got);
	mesh_config_free(&back);

	assert_true((fd = open(path, O_RDONLY)) >= 0);
	assert_int_equal(mesh_model_publish(path, &cfg, 6), 0);
	assert_int_equal(mesh_model_load(path, &back, &version, &err), 0);
	assert_int_equal(version, 6);
	mesh_config_free(&back);
	assert_int_equal(strncmp(read_fd(fd), want, wlen), 0); /* still version 5 */
	close(fd);
	free(want);

	assert_non_null(f = fopen(path, "w"));
	fputs("{\"model\":2,\"version\":1,\"counts\":{\"nodes\":0,\"namespaces\":0,\"workloads\":0,"
	      "\"services\":0,\"policies\":0,\"httpRoutes\":0,\"authorizationPolicies\":0},"
	      "\"trustDomain\":\"td\",\"mtls\":7}\n",
	      f);
	fclose(f);
	assert_int_equal(mesh_model_load(path, &back, &version, &err), -EINVAL);
	assert_int_equal(strncmp(err.msg, path, strlen(path)), 0);
	assert_non_null(strstr(err.msg, ":1: mtls: not one of"));
	mesh_config_free(&cfg);

	assert_int_equal(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/run/n1", dir);
	assert_int_equal(rmdir(path), 0);
	snprintf(path, sizeof(path), "%s/run", dir);
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(every_config_that_parses_round_trips),
	    cmocka_unit_test(generated_configs_round_trip),
	    cmocka_unit_test(fields_survive_the_round_trip),
	    cmocka_unit_test(origins_round_trip),
	    cmocka_unit_test(http_routes_survive_the_round_trip),
	    cmocka_unit_test(published_model_loads_back),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
