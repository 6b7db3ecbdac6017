// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * shunt agent --config FILE | --kubernetes: the node agent (control/agent.h)
 * with the YAML file or the Kubernetes API as its config source. This file
 * only reads the flags and prints what --check finds.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cmd_agent_k8s.h"
#include "common/log.h"
#include "common/push.h"
#include "control/agent.h"

static void print_warning(void *ctx, const char *warning)
{
	(void)ctx;
	fprintf(stderr, "warning: %s\n", warning);
}

/* --check: parse and compile only. */
static int agent_check_print(const struct agent_opts *opts)
{
	struct agent_check check;
	struct cfg_error cerr;
	int err;

	err = agent_check(opts, &check, print_warning, NULL, &cerr);
	if (err) {
		fprintf(stderr, "%s\n", cerr.msg);
		return -EINVAL;
	}
	printf("%s: valid: %zu workloads, %zu services, %zu rules\n", opts->location,
	       check.workloads, check.services, check.rules);
	return 0;
}

int cmd_agent(struct shunt_cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"node", required_argument, NULL, 'n'},
	    {"cgroup", required_argument, NULL, 'g'},
	    {"metrics", required_argument, NULL, 'm'},
	    {"once", no_argument, NULL, 'o'},
	    {"check", no_argument, NULL, 'k'},
	    {"log-text", no_argument, NULL, 't'},
	    {"push", required_argument, NULL, 'p'},
	    {"kubernetes", no_argument, NULL, 'K'},
	    {"kubeconfig", required_argument, NULL, 'C'},
	    {"k8s-option", required_argument, NULL, 'O'},
	    {"print-model", no_argument, NULL, 'P'},
	    {},
	};
	struct agent_opts opts = {.source = &yaml_file_source_ops, .metrics = "127.0.0.1:9464"};
	struct push_target push[PUSH_MAX_TARGETS];
	struct agent_k8s_flags k8s = {0};
	bool check = false, json_log = true;
	char k8s_location[4096];
	int opt;

	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			opts.location = optarg;
			break;
		case 'n':
			opts.node = optarg;
			break;
		case 'g':
			opts.cgroup = optarg;
			break;
		case 'm':
			opts.metrics = strcmp(optarg, "none") ? optarg : NULL;
			break;
		case 'o':
			opts.once = true;
			break;
		case 'k':
			check = true;
			break;
		case 't':
			json_log = false;
			break;
		case 'p':
			if (cli_parse_push(optarg, push, &opts.npush))
				return -EINVAL;
			opts.push = push;
			break;
		case 'K':
		case 'C':
		case 'O':
		case 'P':
			if (agent_k8s_flag(&k8s, opt, optarg))
				goto usage;
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc || agent_k8s_source(&k8s, &opts, k8s_location, sizeof(k8s_location)))
		goto usage;
	shunt_log_set_json(json_log && !k8s.print && !check);
	if (k8s.print)
		return agent_print_model(opts.source, opts.location, opts.once);
	if (check)
		return agent_check_print(&opts);
	return agent_run(&cli->pins, &opts);
usage:
	fprintf(stderr,
		"usage: shunt agent --config FILE | --kubernetes [--kubeconfig FILE] "
		"[--k8s-option KEY=VALUE]... [--node NAME] [--cgroup PATH] "
		"[--metrics ADDR:PORT|none] [--push KIND=TARGET[,KEY=VALUE]...]... [--once] "
		"[--check | --print-model] [--log-text]\n");
	return -EINVAL;
}
