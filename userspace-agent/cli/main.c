// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* shunt: the command line of the mesh. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common/log.h"

#define SHUNT_VERSION "0.1.0"

static const struct {
	const char *name;
	int (*run)(struct shunt_cli *cli, int argc, char **argv);
	const char *help;
} commands[] = {
    {"agent", cmd_agent, "run the node agent: keep the kernel equal to a mesh config"},
    {"load", cmd_load, "load the datapath and attach it to a cgroup"},
    {"unload", cmd_unload, "drain and remove every program, link and pin"},
    {"status", cmd_status, "what is loaded and attached, and the counters"},
    {"conns", cmd_conns, "sockets in the bypass right now"},
    {"workload", cmd_workload, "add, delete or list mesh workloads"},
    {"config", cmd_config, "show or change datapath tunables"},
    {"workloads", cmd_workloads, "workloads and identities in the kernel"},
    {"services", cmd_services, "services and their backends in the kernel"},
    {"policies", cmd_policies, "policy entries in the kernel"},
    {"policy", cmd_policy, "policy check --from W --to W|SERVICE --port P"},
    {"flows", cmd_flows, "stream flow events [--follow] [--denied]"},
    {"graph", cmd_graph, "the service graph of the nodes: dot, svg, json or text"},
    {"proxy", cmd_proxy, "the node's mTLS proxy for cross-node connections"},
    {"ca", cmd_ca, "the mesh CA: init, issue, rotate, verify workload certificates"},
};

static void usage(FILE *out)
{
	size_t i;

	fprintf(out, "usage: shunt [-v] [--json] [--pin-dir DIR] COMMAND [ARGS]\n\n"
		     "commands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].help);
	fprintf(out,
		"\noptions:\n"
		"  -v, --verbose   debug output, libbpf's included\n"
		"  --json          machine-readable output\n"
		"  --pin-dir DIR   bpffs directory of this mesh instance (default %s)\n"
		"  --version       print the version\n",
		SHUNT_DEFAULT_PIN_ROOT);
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
	    {"verbose", no_argument, NULL, 'v'},       {"json", no_argument, NULL, 'j'},
	    {"pin-dir", required_argument, NULL, 'p'}, {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},       {},
	};
	struct shunt_cli cli = {};
	const char *pin_root = getenv("SHUNT_PIN_DIR");
	int verbose = 0, opt, err;
	size_t i;

	/* Global options stop at the command name. */
	while ((opt = getopt_long(argc, argv, "+vh", options, NULL)) != -1) {
		switch (opt) {
		case 'v':
			verbose++;
			break;
		case 'j':
			cli.json = true;
			break;
		case 'p':
			pin_root = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("shunt %s\n", SHUNT_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	shunt_log_set_level(verbose ? SHUNT_LOG_DEBUG : SHUNT_LOG_INFO);
	shunt_log_route_libbpf();
	if (shunt_pins_init(&cli.pins, pin_root)) {
		pr_err("--pin-dir is too long");
		return 2;
	}

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[optind], commands[i].name) != 0)
			continue;
		/* Subcommands parse their own options from argv[0] on; --json
		 * may come after the command name too. */
		argc -= optind;
		argv += optind;
		optind = 0;
		for (int a = 1; a < argc; a++) {
			if (strcmp(argv[a], "--json") != 0)
				continue;
			cli.json = true;
			memmove(&argv[a], &argv[a + 1], (size_t)(argc - a) * sizeof(*argv));
			argc--;
			a--;
		}
		err = commands[i].run(&cli, argc, argv);
		if (err == -EINVAL)
			return 2;
		return err < 0 ? 1 : 0;
	}
	pr_err("unknown command '%s'; see shunt --help", argv[optind]);
	return 2;
}
