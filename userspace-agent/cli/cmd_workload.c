// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * shunt workload add|del|list: fills the membership map by hand. The agent
 * does the same from the mesh config; both go through these maps only.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "common/addr.h"
#include "cli.h"
#include "common/json.h"
#include "common/log.h"
#include "common/netns.h"
#include "shunt_shared.h"

#define MAX_ADDRS 8

struct workload_maps {
	int addrs; /* shunt_workloads */
	int names; /* shunt_workload_names */
};

static int maps_open(const struct shunt_cli *cli, struct workload_maps *m)
{
	m->addrs = shunt_pinned_map_fd(&cli->pins, "shunt_workloads");
	m->names = shunt_pinned_map_fd(&cli->pins, "shunt_workload_names");
	if (m->addrs < 0 || m->names < 0) {
		pr_err("the datapath is not loaded under %s (run `shunt load`)", cli->pins.root);
		if (m->addrs >= 0)
			close(m->addrs);
		if (m->names >= 0)
			close(m->names);
		return -ENOENT;
	}
	return 0;
}

static void maps_close(struct workload_maps *m)
{
	close(m->addrs);
	close(m->names);
}

/* The id a name already has, or 0. */
static __u32 id_of_name(const struct workload_maps *m, const char *name)
{
	struct shunt_workload_name value;
	__u32 key, next;
	void *prev = NULL;

	while (!bpf_map_get_next_key(m->names, prev, &next)) {
		key = next;
		prev = &key;
		if (!bpf_map_lookup_elem(m->names, &key, &value) &&
		    strncmp(value.name, name, sizeof(value.name)) == 0)
			return key;
	}
	return 0;
}

static __u32 free_id(const struct workload_maps *m)
{
	struct shunt_workload_name value;
	__u32 id;

	for (id = 1; id < 0xffffffffu; id++)
		if (bpf_map_lookup_elem(m->names, &id, &value))
			return id;
	return 0;
}

/* What `workload add` was told. */
struct workload_add_args {
	struct shunt_workload_key keys[MAX_ADDRS];
	size_t naddrs;
	const char *netns, *cgroup;
	bool remote;
	__u32 id;
};

/* The flags into ARGS: 0, -EINVAL after saying why, or 1 for the usage. */
static int workload_add_flags(int argc, char **argv, struct workload_add_args *a)
{
	static const struct option options[] = {
	    {"ip", required_argument, NULL, 'i'},     {"netns", required_argument, NULL, 'n'},
	    {"cgroup", required_argument, NULL, 'c'}, {"remote", no_argument, NULL, 'r'},
	    {"id", required_argument, NULL, 'I'},     {},
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case 'i':
			if (a->naddrs == MAX_ADDRS) {
				pr_err("at most %d addresses per workload", MAX_ADDRS);
				return -EINVAL;
			}
			if (shunt_addr_parse(optarg, a->keys[a->naddrs].addr)) {
				pr_err("--ip %s: not an IPv4 or IPv6 address", optarg);
				return -EINVAL;
			}
			a->naddrs++;
			break;
		case 'n':
			a->netns = optarg;
			break;
		case 'c':
			a->cgroup = optarg;
			break;
		case 'r':
			a->remote = true;
			break;
		case 'I':
			if (cli_parse_u32(optarg, &a->id) || a->id == 0) {
				pr_err("--id needs a positive number");
				return -EINVAL;
			}
			break;
		default:
			return 1;
		}
	}
	return optind + 1 != argc || a->naddrs == 0;
}

/* The membership value: local (netns cookie, cgroup id) or remote. */
static int workload_value(const struct workload_add_args *a, struct shunt_workload *value)
{
	int err;

	if (a->remote) {
		if (a->netns || a->cgroup) {
			pr_err("--remote workloads run on another node: no --netns or --cgroup");
			return -EINVAL;
		}
		value->flags = 0;
		return 0;
	}
	if (!a->netns) {
		pr_err("a local workload needs --netns (its network namespace)");
		return -EINVAL;
	}
	if ((err = shunt_netns_cookie(a->netns, &value->netns_cookie)))
		return err;
	if (a->cgroup && (err = shunt_cgroup_id(a->cgroup, &value->cgroup_id))) {
		pr_err("--cgroup %s: %s", a->cgroup, strerror(-err));
		return err;
	}
	return 0;
}

/* Name and addresses into the maps; none of the addresses when one fails. */
static int workload_write(const struct workload_maps *m, const struct workload_add_args *a,
			  const struct shunt_workload_name *name, struct shunt_workload *value)
{
	struct shunt_workload old;
	size_t added, i;
	int err = 0;

	/* Refuse before writing anything: an address has one owner. */
	for (i = 0; i < a->naddrs; i++) {
		if (!bpf_map_lookup_elem(m->addrs, &a->keys[i], &old) && old.id != value->id) {
			char text[SHUNT_ADDR_STRLEN];

			shunt_addr_format(a->keys[i].addr, text, sizeof(text));
			pr_err("%s already belongs to workload id %u", text, old.id);
			return -EEXIST;
		}
	}
	if (bpf_map_update_elem(m->names, &value->id, name, BPF_ANY)) {
		err = -errno;
		pr_err("cannot record the workload name: %s", strerror(-err));
		return err;
	}
	for (added = 0; added < a->naddrs; added++) {
		if (bpf_map_update_elem(m->addrs, &a->keys[added], value, BPF_ANY)) {
			err = -errno;
			pr_err("cannot add an address: %s", strerror(-err));
			for (i = 0; i < added; i++)
				bpf_map_delete_elem(m->addrs, &a->keys[i]);
			return err;
		}
	}
	return 0;
}

static int workload_add(const struct shunt_cli *cli, int argc, char **argv)
{
	struct workload_add_args a = {0};
	struct shunt_workload value = {.flags = SHUNT_WL_LOCAL};
	struct shunt_workload_name name = {};
	struct workload_maps m;
	int err;

	if ((err = workload_add_flags(argc, argv, &a)) > 0)
		goto usage;
	if (err)
		return err;
	if (strlen(argv[optind]) >= sizeof(name.name)) {
		pr_err("workload name longer than %zu bytes", sizeof(name.name) - 1);
		return -EINVAL;
	}
	snprintf(name.name, sizeof(name.name), "%s", argv[optind]);
	if ((err = workload_value(&a, &value)) || (err = maps_open(cli, &m)))
		return err;
	value.id = a.id ? a.id : id_of_name(&m, name.name);
	if (!value.id)
		value.id = free_id(&m);
	err = workload_write(&m, &a, &name, &value);
	if (!err)
		printf("workload %s (id %u): %zu address%s%s\n", name.name, value.id, a.naddrs,
		       a.naddrs == 1 ? "" : "es", a.remote ? ", remote" : "");
	maps_close(&m);
	return err;
usage:
	fprintf(stderr, "usage: shunt workload add NAME --ip ADDR [--ip ADDR]... "
			"(--netns NETNS [--cgroup PATH] | --remote) [--id N]\n");
	return -EINVAL;
}

static int workload_del(const struct shunt_cli *cli, int argc, char **argv)
{
	struct shunt_workload_key key, next;
	struct shunt_workload value;
	struct workload_maps m;
	int removed = 0, err = 0;
	void *prev = NULL;
	__u32 id;

	if (argc != 2) {
		fprintf(stderr, "usage: shunt workload del NAME\n");
		return -EINVAL;
	}
	err = maps_open(cli, &m);
	if (err)
		return err;
	id = id_of_name(&m, argv[1]);
	if (!id) {
		pr_err("no workload named %s", argv[1]);
		err = -ENOENT;
		goto cleanup;
	}
	/* Deleting while walking restarts the walk; collect one at a time. */
	while (!bpf_map_get_next_key(m.addrs, prev, &next)) {
		key = next;
		if (!bpf_map_lookup_elem(m.addrs, &key, &value) && value.id == id) {
			bpf_map_delete_elem(m.addrs, &key);
			removed++;
			prev = NULL;
			continue;
		}
		prev = &key;
	}
	bpf_map_delete_elem(m.names, &id);
	printf("workload %s (id %u) removed, %d address%s\n", argv[1], id, removed,
	       removed == 1 ? "" : "es");
cleanup:
	maps_close(&m);
	return err;
}

static int workload_list(const struct shunt_cli *cli)
{
	struct shunt_workload_key key, next;
	struct shunt_workload value;
	struct shunt_workload_name name;
	char text[SHUNT_ADDR_STRLEN];
	struct workload_maps m;
	struct shunt_json j;
	void *prev = NULL;
	int err;

	err = maps_open(cli, &m);
	if (err)
		return err;
	if (cli->json) {
		json_init(&j, stdout);
		json_array_begin(&j);
	} else {
		printf("%-6s %-32s %-40s %-6s %-20s %s\n", "ID", "NAME", "ADDRESS", "NODE",
		       "NETNS-COOKIE", "CGROUP-ID");
	}
	while (!bpf_map_get_next_key(m.addrs, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(m.addrs, &key, &value))
			continue;
		if (bpf_map_lookup_elem(m.names, &value.id, &name))
			snprintf(name.name, sizeof(name.name), "?");
		shunt_addr_format(key.addr, text, sizeof(text));
		if (cli->json) {
			json_object_begin(&j);
			json_kv_u64(&j, "id", value.id);
			json_kv_string(&j, "name", name.name);
			json_kv_string(&j, "address", text);
			json_kv_bool(&j, "local", value.flags & SHUNT_WL_LOCAL);
			json_kv_u64(&j, "netns_cookie", value.netns_cookie);
			json_kv_u64(&j, "cgroup_id", value.cgroup_id);
			json_object_end(&j);
		} else {
			printf("%-6u %-32s %-40s %-6s %-20llu %llu\n", value.id, name.name, text,
			       value.flags & SHUNT_WL_LOCAL ? "local" : "remote",
			       (unsigned long long)value.netns_cookie,
			       (unsigned long long)value.cgroup_id);
		}
	}
	if (cli->json)
		json_array_end(&j);
	maps_close(&m);
	return 0;
}

int cmd_workload(struct shunt_cli *cli, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "add") == 0)
		return workload_add(cli, argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "del") == 0)
		return workload_del(cli, argc - 1, argv + 1);
	if (argc == 2 && strcmp(argv[1], "list") == 0)
		return workload_list(cli);
	fprintf(stderr, "usage: shunt workload add|del|list ...\n");
	return -EINVAL;
}
