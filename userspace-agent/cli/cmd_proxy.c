// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* shunt proxy: the node's mTLS proxy for cross-node connections. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "common/log.h"
#include "common/push.h"
#include "proxy/proxy.h"

/* One option into O: 0, -EINVAL after a message, or 1 for the usage. */
static int proxy_option(int opt, struct proxy_opts *o, struct push_target *push, bool *json)
{
	unsigned int n;

	switch (opt) {
	case 'c':
		/* What the kernel runs is what the agent applied: the proxy
		 * reads that, not a file of its own that could disagree. */
		pr_err("shunt proxy has no --config: it follows the model the node's agent "
		       "publishes (start `shunt agent --config FILE` on this node)");
		return -EINVAL;
	case 'n':
		o->node = optarg;
		return 0;
	case 'a':
		o->ca_dir = optarg;
		return 0;
	case 't':
		if (cli_parse_u32(optarg, &n) || !n || n > 256) {
			pr_err("--threads needs 1 to 256");
			return -EINVAL;
		}
		o->threads = (int)n;
		return 0;
	case 'l':
		/* Short ones are for tests of renewal; an hour or more in use. */
		if (cli_parse_u32(optarg, &n) || n < 10) {
			pr_err("--cert-lifetime needs at least 10 seconds");
			return -EINVAL;
		}
		o->cert_lifetime_s = n;
		return 0;
	case 'x':
		*json = false;
		return 0;
	case 'p':
		if (cli_parse_push(optarg, push, &o->npush))
			return -EINVAL;
		o->push = push;
		return 0;
	case 'm':
		o->metrics = optarg;
		return 0;
	case 'i':
		if (cli_parse_u32(optarg, &n) || !n) {
			pr_err("--idle-timeout needs a number of seconds");
			return -EINVAL;
		}
		o->idle_timeout_s = n;
		return 0;
	case 'd':
		if (cli_parse_u32(optarg, &n) || n > 3600) {
			pr_err("--drain-timeout needs 0 to 3600 seconds");
			return -EINVAL;
		}
		o->drain_timeout_s = (int)n;
		return 0;
	case 'r':
		o->ready_file = optarg;
		return 0;
	default:
		return 1;
	}
}

int cmd_proxy(struct shunt_cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"node", required_argument, NULL, 'n'},
	    {"ca", required_argument, NULL, 'a'},
	    {"threads", required_argument, NULL, 't'},
	    {"cert-lifetime", required_argument, NULL, 'l'},
	    {"metrics", required_argument, NULL, 'm'},
	    {"idle-timeout", required_argument, NULL, 'i'},
	    {"drain-timeout", required_argument, NULL, 'd'},
	    {"ready-file", required_argument, NULL, 'r'},
	    {"log-text", no_argument, NULL, 'x'},
	    {"push", required_argument, NULL, 'p'},
	    {},
	};
	struct proxy_opts o = {.metrics = "127.0.0.1:9465",
			       .drain_timeout_s = PROXY_DRAIN_DEFAULT_S};
	struct push_target push[PUSH_MAX_TARGETS];
	char host[256];
	bool json = true;
	int opt;

	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		int e = proxy_option(opt, &o, push, &json);

		if (e == 1)
			goto usage;
		if (e)
			return e;
	}
	if (!o.ca_dir || optind != argc)
		goto usage;
	if (!o.node) {
		if (gethostname(host, sizeof(host)))
			return -errno;
		host[sizeof(host) - 1] = 0;
		o.node = host;
	}
	shunt_log_set_json(json);
	return proxy_run(&cli->pins, &o);
usage:
	fprintf(stderr, "usage: shunt proxy --ca DIR [--node NAME] [--threads N] "
			"[--cert-lifetime SECONDS] [--metrics ADDR:PORT|none] [--idle-timeout "
			"SECONDS] [--drain-timeout SECONDS] [--ready-file PATH] "
			"[--push KIND=TARGET[,KEY=VALUE]...]... [--log-text]\n");
	return -EINVAL;
}
