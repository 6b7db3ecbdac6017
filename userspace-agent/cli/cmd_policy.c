// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * shunt policy check --from W --to W|SERVICE --port P [--protocol P]: what
 * the kernel decides now. Every answer comes from the kernel itself
 * (shunt_policy_query runs the hooks' own decision under the live
 * generation), and the peers are resolved from their addresses through the
 * ipcache (a lookup in the kernel's LPM trie), as the hooks see them: the
 * egress of FROM to each address of TO, then the ingress of TO from FROM's
 * address of the same family.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "common/addr.h"
#include "cli.h"
#include "common/json.h"
#include "common/log.h"
#include "control/mesh_apply.h"
#include "mesh_read.h"

#define MAX_CHECK_ADDRS 8

struct checker {
	__u32 gen;
	__u64 version;
	int names, workloads, backends, ipcache, query;
	__u8 proto;
	bool one_addr; /* --to-address: only this address of TO */
	__u8 to_addr[16];
	struct shunt_json *j;
};

/* Finds a name of KIND in the live generation: "ns/name" or "name" (default ns). */
static int find_named(const struct checker *ck, __u32 kind, const char *want, __u32 *id)
{
	struct shunt_name_key key, next, *prev = NULL;
	struct shunt_name name;
	char full[SHUNT_NAME_VALUE_MAX];
	int len = snprintf(full, sizeof(full), strchr(want, '/') ? "%s" : "default/%s", want);

	if (len < 0 || (size_t)len >= sizeof(full))
		return -ENOENT; /* longer than any name */
	while (!bpf_map_get_next_key(ck->names, prev, &next)) {
		key = next;
		prev = &key;
		if (key.gen != ck->gen || key.kind != kind ||
		    bpf_map_lookup_elem(ck->names, &key, &name))
			continue;
		name.name[sizeof(name.name) - 1] = 0;
		if (!strcmp(name.name, full)) {
			*id = key.id;
			return 0;
		}
	}
	return -ENOENT;
}

/* The addresses the kernel holds for workload ID (shunt_workloads). */
static size_t addresses_of(const struct checker *ck, __u32 id, __u8 addrs[][16])
{
	struct shunt_workload_key key, next, *prev = NULL;
	struct shunt_workload w;
	size_t n = 0;

	while (n < MAX_CHECK_ADDRS && !bpf_map_get_next_key(ck->workloads, prev, &next)) {
		key = next;
		prev = &key;
		if (!bpf_map_lookup_elem(ck->workloads, &key, &w) && w.id == id)
			memcpy(addrs[n++], key.addr, 16);
	}
	return n;
}

static void report(const struct checker *ck, const char *what, const struct shunt_policy_query *q)
{
	char rname[SHUNT_NAME_VALUE_MAX], peer[SHUNT_NAME_VALUE_MAX];

	mesh_name(ck->names, ck->gen, SHUNT_NAME_RULE, q->rule, rname, sizeof(rname));
	if (!q->rule)
		snprintf(rname, sizeof(rname), "%s",
			 q->verdict == SHUNT_VERDICT_DENY
			     ? "default deny (isolated, no rule matched)"
			 : q->isolated ? "-"
				       : "not isolated (no policy selects it)");
	mesh_name(ck->names, ck->gen, SHUNT_NAME_IDENT, q->peer, peer, sizeof(peer));
	if (ck->j) {
		json_object_begin(ck->j);
		json_kv_string(ck->j, "check", what);
		json_kv_string(ck->j, "peer_identity", peer);
		json_kv_string(ck->j, "verdict", mesh_verdict_name((__u8)q->verdict));
		json_kv_string(ck->j, "rule", rname);
		json_object_end(ck->j);
	} else {
		printf("  %-44s %-5s %s (peer seen as %s)\n", what,
		       mesh_verdict_name((__u8)q->verdict), rname, peer);
	}
}

/* The identity the hooks give ADDR: the longest prefix of shunt_ipcache
 * under the live generation (the kernel's lookup), else the world. */
static __u32 identity_of(const struct checker *ck, const __u8 addr[16])
{
	struct shunt_ipcache_key key = {.prefixlen = 8 + 128, .gen = (__u8)ck->gen};
	struct shunt_ident id;

	memcpy(key.addr, addr, 16);
	return bpf_map_lookup_elem(ck->ipcache, &key, &id) ? SHUNT_ID_WORLD : id.id;
}

/* One decision of the kernel's; DENY when it cannot be asked. */
static __u8 ask(const struct checker *ck, const char *what, __u8 dir, __u32 subject,
		const __u8 peer_addr[16], __u16 port)
{
	struct shunt_policy_query q = {.direction = dir,
				       .proto = ck->proto,
				       .port = port,
				       .subject = subject,
				       .peer = identity_of(ck, peer_addr)};
	int err;

	err = mesh_policy_query(ck->query, &q);
	if (err) {
		pr_err("the kernel did not answer (%s): %s", what, strerror(-err));
		return SHUNT_VERDICT_DENY;
	}
	report(ck, what, &q);
	return (__u8)q.verdict;
}

/* FROM's egress to TO_ADDR, then TO's ingress from FROM's address of that
 * family (when TO is a workload: TO_ID). Returns the final verdict. */
static __u8 check_path(const struct checker *ck, __u32 from, const __u8 from_addrs[][16],
		       size_t nfrom, __u32 to_id, const __u8 to_addr[16], __u16 port,
		       const char *to_name)
{
	char what[SHUNT_NAME_VALUE_MAX + 64], text[SHUNT_ADDR_STRLEN];
	bool v4 = shunt_addr_is_v4(to_addr);
	size_t i;
	__u8 v;

	shunt_addr_format(to_addr, text, sizeof(text));
	snprintf(what, sizeof(what), "egress to %s (%s):%u", to_name, text, port);
	v = ask(ck, what, SHUNT_DIR_EGRESS, from, to_addr, port);
	if (v == SHUNT_VERDICT_DENY || !to_id)
		return v;
	for (i = 0; i < nfrom; i++) {
		if (shunt_addr_is_v4(from_addrs[i]) != v4)
			continue;
		shunt_addr_format(from_addrs[i], text, sizeof(text));
		snprintf(what, sizeof(what), "ingress of %s from %s", to_name, text);
		return ask(ck, what, SHUNT_DIR_INGRESS, to_id, from_addrs[i], port);
	}
	return v; /* FROM has no address of that family: nothing arrives */
}

/* Every backend the service port may pick, on its target port. */
static __u8 check_service(const struct checker *ck, __u32 from, const __u8 from_addrs[][16],
			  size_t nfrom, __u32 service)
{
	struct shunt_backend_key bkey = {.gen = ck->gen, .service = service};
	__u8 verdict = SHUNT_VERDICT_NO_BACKEND, v;
	struct shunt_backend b;
	char bname[SHUNT_NAME_VALUE_MAX];

	for (; !bpf_map_lookup_elem(ck->backends, &bkey, &b); bkey.index++) {
		mesh_name(ck->names, ck->gen, SHUNT_NAME_IDENT, b.identity, bname, sizeof(bname));
		v = check_path(ck, from, from_addrs, nfrom, b.identity, b.addr, b.port, bname);
		if (verdict != SHUNT_VERDICT_ALLOW) /* reachable when any backend is */
			verdict = v;
	}
	return verdict;
}

/* TO as a workload (each of its addresses), else as a service port. */
static int check_to(struct checker *ck, __u32 from_id, const char *to, unsigned int port,
		    __u8 *verdict)
{
	__u8 from_addrs[MAX_CHECK_ADDRS][16], to_addrs[MAX_CHECK_ADDRS][16];
	size_t nfrom, nto, i;
	char svc[SHUNT_NAME_VALUE_MAX];
	__u32 to_id, service;
	size_t checked = 0;
	__u8 v;

	nfrom = addresses_of(ck, from_id, from_addrs);
	if (!find_named(ck, SHUNT_NAME_IDENT, to, &to_id)) {
		nto = addresses_of(ck, to_id, to_addrs);
		/* Allowed when every address checked is; none checked: denied. */
		*verdict = SHUNT_VERDICT_ALLOW;
		for (i = 0; i < nto; i++) {
			if (ck->one_addr && memcmp(to_addrs[i], ck->to_addr, 16))
				continue;
			checked++;
			v = check_path(ck, from_id, from_addrs, nfrom, to_id, to_addrs[i],
				       (__u16)port, to);
			if (v != SHUNT_VERDICT_ALLOW)
				*verdict = v;
		}
		if (!checked)
			*verdict = SHUNT_VERDICT_DENY;
		return 0;
	}
	snprintf(svc, sizeof(svc), strchr(to, '/') ? "%s:%u/%s" : "default/%s:%u/%s", to, port,
		 mesh_proto_name(ck->proto));
	if (find_named(ck, SHUNT_NAME_SERVICE, svc, &service)) {
		pr_err("%s is neither a workload nor a service port in the kernel", to);
		return -ENOENT;
	}
	*verdict = check_service(ck, from_id, from_addrs, nfrom, service);
	return 0;
}

static int parse_check_args(int argc, char **argv, const char **from, const char **to,
			    unsigned int *port, struct checker *ck)
{
	static const struct option options[] = {
	    {"from", required_argument, NULL, 'f'},
	    {"to", required_argument, NULL, 't'},
	    {"port", required_argument, NULL, 'p'},
	    {"protocol", required_argument, NULL, 'P'},
	    {"to-address", required_argument, NULL, 'a'},
	    {},
	};
	__u8 *proto = &ck->proto;
	const char *proto_name = "tcp";
	int opt;

	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		if (opt == 'f')
			*from = optarg;
		else if (opt == 't')
			*to = optarg;
		else if (opt == 'P')
			proto_name = optarg;
		else if (opt == 'a' && !shunt_addr_parse(optarg, ck->to_addr))
			ck->one_addr = true;
		else if (opt != 'p' || cli_parse_u32(optarg, port) || !*port || *port > 65535)
			return -EINVAL;
	}
	if (!*from || !*to || !*port || optind != argc)
		return -EINVAL;
	if (!strcasecmp(proto_name, "tcp"))
		*proto = SHUNT_PROTO_TCP;
	else if (!strcasecmp(proto_name, "udp"))
		*proto = SHUNT_PROTO_UDP;
	else if (!strcasecmp(proto_name, "sctp"))
		*proto = SHUNT_PROTO_SCTP;
	else
		return -EINVAL;
	return 0;
}

static void checker_close(struct checker *ck)
{
	int *fds[] = {&ck->names, &ck->workloads, &ck->backends, &ck->ipcache, &ck->query};
	size_t i;

	for (i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (*fds[i] >= 0)
			close(*fds[i]);
}

static void print_verdict(struct shunt_json *j, __u8 verdict)
{
	if (j) {
		json_array_end(j);
		json_kv_string(j, "verdict", mesh_verdict_name(verdict));
		json_object_end(j);
		putchar('\n');
		return;
	}
	printf("%s\n", verdict == SHUNT_VERDICT_ALLOW  ? "allowed"
		       : verdict == SHUNT_VERDICT_DENY ? "denied"
						       : "refused: the service has no backends");
}

int cmd_policy(struct shunt_cli *cli, int argc, char **argv)
{
	struct checker ck = {
	    .names = -1, .workloads = -1, .backends = -1, .ipcache = -1, .query = -1};
	const char *from = NULL, *to = NULL;
	struct shunt_json j;
	unsigned int port = 0;
	__u8 verdict = SHUNT_VERDICT_DENY;
	__u32 from_id;
	int err;

	if (argc < 2 || strcmp(argv[1], "check") ||
	    parse_check_args(argc - 1, argv + 1, &from, &to, &port, &ck)) {
		fprintf(stderr, "usage: shunt policy check --from WORKLOAD --to WORKLOAD|SERVICE "
				"--port P [--protocol tcp|udp|sctp] [--to-address ADDR]\n");
		return -EINVAL;
	}
	if ((err = mesh_state_read(&cli->pins, &ck.gen, &ck.version))) {
		pr_err("the datapath is not loaded under %s", cli->pins.root);
		return err;
	}
	ck.names = shunt_pinned_map_fd(&cli->pins, "shunt_names");
	ck.workloads = shunt_pinned_map_fd(&cli->pins, "shunt_workloads");
	ck.backends = shunt_pinned_map_fd(&cli->pins, "shunt_backends");
	ck.ipcache = shunt_pinned_map_fd(&cli->pins, "shunt_ipcache");
	ck.query = mesh_policy_query_open(&cli->pins);
	if (ck.names < 0 || ck.workloads < 0 || ck.backends < 0 || ck.ipcache < 0 || ck.query < 0) {
		err = -ENOENT;
		pr_err("the policy maps and shunt_policy_query are not pinned under %s (a datapath "
		       "of an older version? `shunt unload` and load again)",
		       cli->pins.root);
		goto out;
	}
	if (find_named(&ck, SHUNT_NAME_IDENT, from, &from_id)) {
		err = -ENOENT;
		pr_err("no workload named %s in the kernel (see `shunt workloads`)", from);
		goto out;
	}
	if (cli->json) {
		ck.j = &j;
		json_init(&j, stdout);
		json_object_begin(&j);
		json_kv_string(&j, "from", from);
		json_kv_string(&j, "to", to);
		json_kv_u64(&j, "port", port);
		json_kv_string(&j, "protocol", mesh_proto_name(ck.proto));
		json_kv_u64(&j, "config_version", ck.version);
		json_key(&j, "checks");
		json_array_begin(&j);
	} else {
		printf("%s -> %s port %u/%s (config version %llu, decided by the kernel)\n", from,
		       to, port, mesh_proto_name(ck.proto), (unsigned long long)ck.version);
	}
	err = check_to(&ck, from_id, to, port, &verdict);
	if (!err)
		print_verdict(ck.j, verdict);
out:
	checker_close(&ck);
	return err;
}
