// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* shunt ca init|issue|rotate|verify|bootstrap: the mesh CA and workload certificates. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "identity/ca.h"
#include "cli.h"
#include "cmd_ca_k8s.h"
#include "common/log.h"

static void usage(void)
{
	fprintf(
	    stderr,
	    "usage: shunt ca init --dir DIR [--trust-domain TD] [--days N]\n"
	    "       shunt ca issue --dir DIR --namespace NS --service-account SA --out PREFIX "
	    "[--hours H] [--valid-from SECONDS]\n"
	    "       shunt ca rotate --dir DIR [--days N]\n"
	    "       shunt ca verify --dir DIR CERT\n"
	    "       shunt ca bootstrap --dir DIR --secret NAMESPACE/NAME [--kubeconfig FILE]\n"
	    "                          [--trust-domain TD | --mesh-settings FILE] [--days N]\n");
}

struct ca_args {
	const char *dir, *td, *out;
	const char *secret, *kubeconfig, *mesh_settings; /* bootstrap */
	unsigned int days, hours;
	struct ca_issue_opts io;
};

/* One flag into ARGS; -EINVAL for a bad one. */
static int ca_flag(int opt, const char *arg, struct ca_args *a)
{
	char *end;

	switch (opt) {
	case 'd':
		a->dir = arg;
		return 0;
	case 't':
		a->td = arg;
		return 0;
	case 'D':
		if (cli_parse_u32(arg, &a->days) || !a->days) {
			pr_err("--days needs a positive number");
			return -EINVAL;
		}
		return 0;
	case 'n':
		a->io.ns = arg;
		return 0;
	case 's':
		a->io.service_account = arg;
		return 0;
	case 'o':
		a->out = arg;
		return 0;
	case 'v':
		/* Seconds from now, negative for the past: for tests of expired
		 * and not yet valid certificates. */
		a->io.not_before_s = strtol(arg, &end, 10);
		if (*end || !*arg) {
			pr_err("--valid-from needs a number of seconds");
			return -EINVAL;
		}
		return 0;
	case 'S':
		a->secret = arg;
		return 0;
	case 'k':
		a->kubeconfig = arg;
		return 0;
	case 'm':
		a->mesh_settings = arg;
		return 0;
	case 'h':
		if (cli_parse_u32(arg, &a->hours) || !a->hours) {
			pr_err("--hours needs a positive number");
			return -EINVAL;
		}
		return 0;
	default:
		usage();
		return -EINVAL;
	}
}

/* VERB with its operands ARGV[0..ARGC); -EINVAL with the usage for a bad
 * combination. */
static int ca_verb(const char *verb, struct ca_args *a, int argc, char **argv)
{
	char err[512] = "", id[SHUNT_SPIFFE_MAX];
	time_t not_after;
	int ret;

	if (!strcmp(verb, "init") && argc == 0) {
		ret = ca_init(a->dir, a->td, (int)a->days, err, sizeof(err));
		if (!ret)
			printf("CA for trust domain %s in %s (ca.key, ca.crt, bundle.pem)\n", a->td,
			       a->dir);
	} else if (!strcmp(verb, "issue") && argc == 0 && a->io.ns && a->io.service_account &&
		   a->out) {
		a->io.lifetime_s = (long)a->hours * 3600;
		ret = ca_issue(a->dir, &a->io, a->out, err, sizeof(err));
		if (!ret)
			printf("%s.crt and %s.key for %s/%s, valid %u hours\n", a->out, a->out,
			       a->io.ns, a->io.service_account, a->hours);
	} else if (!strcmp(verb, "rotate") && argc == 0) {
		ret = ca_rotate(a->dir, (int)a->days, err, sizeof(err));
		if (!ret)
			printf("new CA in %s; bundle.pem keeps the previous one until it expires\n",
			       a->dir);
	} else if (!strcmp(verb, "bootstrap") && argc == 0 && a->secret) {
		return ca_bootstrap(&(struct ca_bootstrap_args){.dir = a->dir,
								.secret = a->secret,
								.kubeconfig = a->kubeconfig,
								.trust_domain = a->td,
								.mesh_settings = a->mesh_settings,
								.days = (int)a->days});
	} else if (!strcmp(verb, "verify") && argc == 1) {
		ret = ca_verify(a->dir, argv[0], 0, id, sizeof(id), &not_after, err, sizeof(err));
		if (!ret)
			printf("%s valid until %s", id, asctime(gmtime(&not_after)));
	} else {
		usage();
		return -EINVAL;
	}
	if (ret)
		pr_err("%s", err);
	return ret;
}

int cmd_ca(struct shunt_cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
	    {"dir", required_argument, NULL, 'd'},
	    {"trust-domain", required_argument, NULL, 't'},
	    {"days", required_argument, NULL, 'D'},
	    {"namespace", required_argument, NULL, 'n'},
	    {"service-account", required_argument, NULL, 's'},
	    {"out", required_argument, NULL, 'o'},
	    {"hours", required_argument, NULL, 'h'},
	    {"valid-from", required_argument, NULL, 'v'},
	    {"secret", required_argument, NULL, 'S'},
	    {"kubeconfig", required_argument, NULL, 'k'},
	    {"mesh-settings", required_argument, NULL, 'm'},
	    {},
	};
	struct ca_args a = {.td = "cluster.local", .days = 365, .hours = 24};
	const char *verb;
	int opt, ret;

	(void)cli;
	if (argc < 2) {
		usage();
		return -EINVAL;
	}
	verb = argv[1];
	argc--;
	argv++;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1)
		if ((ret = ca_flag(opt, optarg, &a)))
			return ret;
	if (!a.dir) {
		usage();
		return -EINVAL;
	}
	return ca_verb(verb, &a, argc - optind, argv + optind);
}
