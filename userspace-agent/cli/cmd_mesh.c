// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * shunt workloads | services | policies: what the kernel holds
 * now, read from the pinned maps of the live generation (so they work while
 * the agent is down).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
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

struct live {
	__u32 gen;
	__u64 version;
	int names;
};

static int live_open(const struct shunt_cli *cli, struct live *l)
{
	int err = mesh_state_read(&cli->pins, &l->gen, &l->version);

	if (err) {
		pr_err("the datapath is not loaded under %s (run `shunt agent` or `shunt load`)",
		       cli->pins.root);
		return err;
	}
	l->names = shunt_pinned_map_fd(&cli->pins, "shunt_names");
	return 0;
}

static void live_close(struct live *l)
{
	if (l->names >= 0)
		close(l->names);
}

/* Calls FN for every entry of MAP whose key has generation GEN at OFFSET. */
static int map_each(const struct shunt_cli *cli, const char *map, size_t key_size,
		    size_t value_size, size_t gen_offset, size_t gen_size, __u32 gen,
		    void (*fn)(const void *key, const void *value, void *ctx), void *ctx)
{
	unsigned char key[64], next[64], value[256];
	void *prev = NULL;
	int fd;

	if (key_size > sizeof(key) || value_size > sizeof(value))
		return -EINVAL;
	fd = shunt_pinned_map_fd(&cli->pins, map);
	if (fd < 0)
		return fd;
	while (!bpf_map_get_next_key(fd, prev, next)) {
		__u32 g = 0;

		memcpy(key, next, key_size);
		prev = key;
		memcpy(&g, key + gen_offset, gen_size);
		if (g != gen || bpf_map_lookup_elem(fd, key, value))
			continue;
		fn(key, value, ctx);
	}
	close(fd);
	return 0;
}

/*
 * The common part of `shunt workloads|services|policies`: argument check,
 * the live generation, and with --json {"config_version": N, KEY: [...]}
 * around the entries. Returns 0 with *J set (NULL for text), or -errno.
 */
static int listing_begin(const struct shunt_cli *cli, int argc, const char *what, const char *key,
			 struct live *l, struct shunt_json *store, struct shunt_json **j)
{
	int err;

	*j = NULL;
	if (argc > 1) {
		fprintf(stderr, "usage: shunt %s [--json]\n", what);
		return -EINVAL;
	}
	if ((err = live_open(cli, l)))
		return err;
	if (cli->json) {
		*j = store;
		json_init(*j, stdout);
		json_object_begin(*j);
		json_kv_u64(*j, "config_version", l->version);
		json_key(*j, key);
		json_array_begin(*j);
	}
	return 0;
}

static void listing_end(struct live *l, struct shunt_json *j)
{
	if (j) {
		json_array_end(j);
		json_object_end(j);
		putchar('\n');
	}
	live_close(l);
}

/* ---- shunt workloads -------------------------------------------------- */

struct wl_ctx {
	struct live *live;
	struct shunt_json *j;
};

static void print_ident(const void *k, const void *v, void *ctx)
{
	const struct shunt_ipcache_key *key = k;
	const struct shunt_ident *id = v;
	struct wl_ctx *c = ctx;
	char name[SHUNT_NAME_VALUE_MAX], addr[SHUNT_ADDR_STRLEN], prefix[SHUNT_ADDR_STRLEN + 5];
	unsigned int len = key->prefixlen - 8;
	const char *kind = id->flags & SHUNT_IDENT_CIDR	   ? "cidr"
			   : id->flags & SHUNT_IDENT_LOCAL ? "local"
							   : "remote";

	mesh_name(c->live->names, c->live->gen, SHUNT_NAME_IDENT, id->id, name, sizeof(name));
	shunt_addr_format(key->addr, addr, sizeof(addr));
	if (shunt_addr_is_v4(key->addr))
		len -= 96;
	snprintf(prefix, sizeof(prefix), "%s/%u", addr, len);
	if (c->j) {
		json_object_begin(c->j);
		json_kv_u64(c->j, "identity", id->id);
		json_kv_string(c->j, "name", name);
		json_kv_string(c->j, "kind", kind);
		json_kv_string(c->j, "prefix", prefix);
		json_object_end(c->j);
	} else {
		printf("%-10u %-40s %-7s %s\n", id->id, name, kind, prefix);
	}
}

int cmd_workloads(struct shunt_cli *cli, int argc, char **argv)
{
	struct shunt_json store;
	struct live l;
	struct wl_ctx c = {.live = &l};
	int err;

	(void)argv;
	if ((err = listing_begin(cli, argc, "workloads", "identities", &l, &store, &c.j)))
		return err;
	if (!c.j)
		printf("config version %llu\n%-10s %-40s %-7s %s\n", (unsigned long long)l.version,
		       "IDENTITY", "NAME", "KIND", "ADDRESS");
	err = map_each(cli, "shunt_ipcache", sizeof(struct shunt_ipcache_key),
		       sizeof(struct shunt_ident), 4, 1, l.gen, print_ident, &c);
	listing_end(&l, c.j);
	return err;
}

/* ---- shunt services --------------------------------------------------- */

struct svc_ctx {
	struct live *live;
	struct shunt_json *j;
	int backends;
	__u16 l7_port; /* the node proxy's L7 side, 0: none */
};

/* Which way connects to a service port go (docs/l7.md). */
static const char *service_path(const struct svc_ctx *c, const struct shunt_service *svc)
{
	if (!(svc->flags & SHUNT_SVC_L7) || !c->l7_port)
		return "kernel";
	return "l7";
}

static const char *service_path_reason(const struct svc_ctx *c, const struct shunt_service *svc)
{
	if (!(svc->flags & SHUNT_SVC_L7))
		return "plain TCP: a backend picked at connect(); same-node bypass, cross-node "
		       "mTLS tunnel";
	if (!c->l7_port)
		return "HTTP, but this node has no proxy: no L7 features, a backend picked at "
		       "connect()";
	if (svc->flags & SHUNT_SVC_L7_APP_PROTOCOL)
		return "its appProtocol is HTTP: the node proxy routes each request";
	return "an HTTPRoute or authorization policy targets it: the node proxy routes each "
	       "request";
}

/* A workload's own address and port whose connects the L7 side reads
 * (SHUNT_SVC_L7_ENDPOINT): not a service, listed for the path it takes. */
static void print_l7_endpoint(const struct svc_ctx *c, const struct shunt_service_key *key)
{
	static const char why[] = "a workload of this node behind a service with authorization "
				  "policies: connects straight to it, or through a service "
				  "without L7, are read by the node proxy as their destination";
	char addr[SHUNT_ADDR_STRLEN];
	const char *path = c->l7_port ? "l7" : "kernel";

	shunt_addr_format(key->addr, addr, sizeof(addr));
	if (c->j) {
		json_object_begin(c->j);
		json_kv_string(c->j, "endpoint", addr);
		json_kv_u64(c->j, "port", key->port);
		json_kv_string(c->j, "protocol", mesh_proto_name(key->proto));
		json_kv_string(c->j, "path", path);
		json_kv_string(c->j, "path_reason", c->l7_port ? why : "this node has no proxy");
		json_object_end(c->j);
	} else {
		printf("(endpoint)  %s port %u/%s\n    path: %s (%s)\n", addr, key->port,
		       mesh_proto_name(key->proto), path,
		       c->l7_port ? why : "this node has no proxy");
	}
}

static void print_service(const void *k, const void *v, void *ctx)
{
	const struct shunt_service_key *key = k;
	const struct shunt_service *svc = v;
	struct svc_ctx *c = ctx;
	struct shunt_backend_key bkey = {.gen = c->live->gen, .service = svc->id};
	char name[SHUNT_NAME_VALUE_MAX], wname[SHUNT_NAME_VALUE_MAX];
	char vip[SHUNT_ADDR_STRLEN], addr[SHUNT_ADDR_STRLEN];
	struct shunt_backend b;
	__u32 prev_end = 0;

	if (svc->flags & SHUNT_SVC_L7_ENDPOINT) {
		print_l7_endpoint(c, key);
		return;
	}
	mesh_name(c->live->names, c->live->gen, SHUNT_NAME_SERVICE, svc->id, name, sizeof(name));
	shunt_addr_format(key->addr, vip, sizeof(vip));
	if (c->j) {
		json_object_begin(c->j);
		json_kv_string(c->j, "service", name);
		json_kv_string(c->j, "address", vip);
		json_kv_u64(c->j, "port", key->port);
		json_kv_string(c->j, "protocol", mesh_proto_name(key->proto));
		json_kv_string(c->j, "path", service_path(c, svc));
		json_kv_string(c->j, "path_reason", service_path_reason(c, svc));
		json_key(c->j, "backends");
		json_array_begin(c->j);
	} else {
		printf("%s  %s port %u/%s  %u backend%s%s\n    path: %s (%s)\n", name, vip,
		       key->port, mesh_proto_name(key->proto), svc->backends,
		       svc->backends == 1 ? "" : "s",
		       svc->backends ? "" : " (connects are refused)", service_path(c, svc),
		       service_path_reason(c, svc));
	}
	for (bkey.index = 0; bkey.index < svc->backends; bkey.index++) {
		if (bpf_map_lookup_elem(c->backends, &bkey, &b))
			continue;
		shunt_addr_format(b.addr, addr, sizeof(addr));
		if (b.identity)
			mesh_name(c->live->names, c->live->gen, SHUNT_NAME_IDENT, b.identity, wname,
				  sizeof(wname));
		else
			snprintf(wname, sizeof(wname), "-");
		if (c->j) {
			json_object_begin(c->j);
			json_kv_string(c->j, "address", addr);
			json_kv_u64(c->j, "port", b.port);
			json_kv_u64(c->j, "weight", b.weight_end - prev_end);
			json_kv_string(c->j, "workload", wname);
			json_object_end(c->j);
		} else {
			printf("    -> %s port %u  weight %u  %s\n", addr, b.port,
			       b.weight_end - prev_end, wname);
		}
		prev_end = b.weight_end;
	}
	if (c->j) {
		json_array_end(c->j);
		json_object_end(c->j);
	}
}

int cmd_services(struct shunt_cli *cli, int argc, char **argv)
{
	struct shunt_json store;
	struct live l;
	struct svc_ctx c = {.live = &l};
	int err;

	(void)argv;
	if ((err = listing_begin(cli, argc, "services", "services", &l, &store, &c.j)))
		return err;
	c.backends = shunt_pinned_map_fd(&cli->pins, "shunt_backends");
	{
		struct shunt_mesh_state st;

		if (!mesh_state_full(&cli->pins, &st))
			c.l7_port = st.l7_port;
	}
	err = map_each(cli, "shunt_services", sizeof(struct shunt_service_key),
		       sizeof(struct shunt_service), 0, 1, l.gen, print_service, &c);
	if (c.backends >= 0)
		close(c.backends);
	listing_end(&l, c.j);
	return err;
}

/* ---- shunt policies --------------------------------------------------- */

struct pol_ctx {
	struct live *live;
	struct shunt_json *j;
	const char *action;
};

static void print_policy_entry(const void *k, const void *v, void *ctx)
{
	const struct shunt_policy_key *key = k;
	const struct shunt_policy_entry *e = v;
	struct pol_ctx *c = ctx;
	char subject[SHUNT_NAME_VALUE_MAX], peer[SHUNT_NAME_VALUE_MAX], rule[SHUNT_NAME_VALUE_MAX];
	char port[8];

	mesh_name(c->live->names, c->live->gen, SHUNT_NAME_IDENT, key->subject, subject,
		  sizeof(subject));
	mesh_name(c->live->names, c->live->gen, SHUNT_NAME_IDENT, key->peer, peer, sizeof(peer));
	if (key->peer == SHUNT_ID_ANY)
		snprintf(peer, sizeof(peer), "any");
	mesh_name(c->live->names, c->live->gen, SHUNT_NAME_RULE, e->rule, rule, sizeof(rule));
	snprintf(port, sizeof(port), key->port ? "%u" : "any", key->port);
	if (c->j) {
		json_object_begin(c->j);
		json_kv_string(c->j, "subject", subject);
		json_kv_string(c->j, "direction",
			       key->direction == SHUNT_DIR_INGRESS ? "ingress" : "egress");
		json_kv_string(c->j, "action", c->action);
		json_kv_string(c->j, "peer", peer);
		json_kv_string(c->j, "protocol", mesh_proto_name(key->proto));
		json_kv_u64(c->j, "port", key->port);
		json_kv_string(c->j, "rule", rule);
		json_object_end(c->j);
	} else {
		printf("%-30s %-7s %-5s %-30s %-4s %-5s %s\n", subject,
		       key->direction == SHUNT_DIR_INGRESS ? "ingress" : "egress", c->action, peer,
		       mesh_proto_name(key->proto), port, rule);
	}
}

int cmd_policies(struct shunt_cli *cli, int argc, char **argv)
{
	struct shunt_json store;
	struct live l;
	struct pol_ctx c = {.live = &l};
	int err;

	(void)argv;
	if ((err = listing_begin(cli, argc, "policies", "entries", &l, &store, &c.j)))
		return err;
	if (!c.j)
		printf("config version %llu\n%-30s %-7s %-5s %-30s %-4s %-5s %s\n",
		       (unsigned long long)l.version, "SUBJECT", "DIR", "ACTION", "PEER", "PROTO",
		       "PORT", "RULE");
	c.action = "deny";
	err = map_each(cli, "shunt_policy_deny", sizeof(struct shunt_policy_key),
		       sizeof(struct shunt_policy_entry), 0, 1, l.gen, print_policy_entry, &c);
	c.action = "allow";
	if (!err)
		err = map_each(cli, "shunt_policy_allow", sizeof(struct shunt_policy_key),
			       sizeof(struct shunt_policy_entry), 0, 1, l.gen, print_policy_entry,
			       &c);
	listing_end(&l, c.j);
	return err;
}
