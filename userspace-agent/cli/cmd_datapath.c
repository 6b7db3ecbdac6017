// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* shunt load / shunt unload */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "datapath.h"
#include "common/log.h"
#include "mounts.h"

int cmd_load(struct shunt_cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
	    {"cgroup", required_argument, NULL, 'c'},
	    {"max-socks", required_argument, NULL, 'm'},
	    {},
	};
	struct shunt_load_opts opts = {.pin_root = cli->pins.root};
	char cgroup_root[PATH_MAX];
	int opt, err;

	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			opts.cgroup = optarg;
			break;
		case 'm':
			if (cli_parse_u32(optarg, &opts.max_socks) || opts.max_socks == 0) {
				pr_err("--max-socks needs a positive number");
				return -EINVAL;
			}
			break;
		default:
			fprintf(stderr, "usage: shunt load [--cgroup PATH] [--max-socks N]\n");
			return -EINVAL;
		}
	}
	if (optind != argc) {
		pr_err("load takes no arguments besides its options");
		return -EINVAL;
	}
	/* The production default: every workload on the node. */
	err = shunt_cgroup2_root(cgroup_root, sizeof(cgroup_root));
	if (err)
		return err;
	if (!opts.cgroup)
		opts.cgroup = cgroup_root;
	return shunt_datapath_load(&opts);
}

int cmd_unload(struct shunt_cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
	    {"drain-ms", required_argument, NULL, 'd'},
	    {},
	};
	unsigned int drain_ms = 2000;
	int opt;

	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case 'd':
			if (cli_parse_u32(optarg, &drain_ms)) {
				pr_err("--drain-ms needs a number of milliseconds");
				return -EINVAL;
			}
			break;
		default:
			fprintf(stderr, "usage: shunt unload [--drain-ms MS]\n");
			return -EINVAL;
		}
	}
	return shunt_datapath_unload(cli->pins.root, drain_ms);
}
