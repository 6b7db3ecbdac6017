// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* shunt ca init|issue|rotate|verify: the mesh CA and workload certificates. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "identity/ca.h"
#include "cli.h"
#include "common/log.h"

static void usage(void)
{
	fprintf(stderr,
		"usage: shunt ca init --dir DIR [--trust-domain TD] [--days N]\n"
		"       shunt ca issue --dir DIR --namespace NS --service-account SA --out PREFIX "
		"[--hours H] [--valid-from SECONDS]\n"
		"       shunt ca rotate --dir DIR [--days N]\n"
		"       shunt ca verify --dir DIR CERT\n");
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
	    {},
	};
	struct ca_issue_opts io = {0};
	const char *dir = NULL, *td = "cluster.local", *out = NULL, *verb;
	unsigned int days = 365, hours = 24;
	char err[512] = "", id[SHUNT_SPIFFE_MAX];
	time_t not_after;
	int opt, ret;

	(void)cli;
	if (argc < 2) {
		usage();
		return -EINVAL;
	}
	verb = argv[1];
	argc--;
	argv++;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case 'd':
			dir = optarg;
			break;
		case 't':
			td = optarg;
			break;
		case 'D':
			if (cli_parse_u32(optarg, &days) || !days) {
				pr_err("--days needs a positive number");
				return -EINVAL;
			}
			break;
		case 'n':
			io.ns = optarg;
			break;
		case 's':
			io.service_account = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'v': {
			/* Seconds from now, negative for the past: for tests of
			 * expired and not yet valid certificates. */
			char *end;

			io.not_before_s = strtol(optarg, &end, 10);
			if (*end || !*optarg) {
				pr_err("--valid-from needs a number of seconds");
				return -EINVAL;
			}
			break;
		}
		case 'h':
			if (cli_parse_u32(optarg, &hours) || !hours) {
				pr_err("--hours needs a positive number");
				return -EINVAL;
			}
			break;
		default:
			usage();
			return -EINVAL;
		}
	}
	if (!dir) {
		usage();
		return -EINVAL;
	}
	if (!strcmp(verb, "init") && optind == argc) {
		ret = ca_init(dir, td, (int)days, err, sizeof(err));
		if (!ret)
			printf("CA for trust domain %s in %s (ca.key, ca.crt, bundle.pem)\n", td,
			       dir);
	} else if (!strcmp(verb, "issue") && optind == argc && io.ns && io.service_account && out) {
		io.lifetime_s = (long)hours * 3600;
		ret = ca_issue(dir, &io, out, err, sizeof(err));
		if (!ret)
			printf("%s.crt and %s.key for %s/%s, valid %u hours\n", out, out, io.ns,
			       io.service_account, hours);
	} else if (!strcmp(verb, "rotate") && optind == argc) {
		ret = ca_rotate(dir, (int)days, err, sizeof(err));
		if (!ret)
			printf("new CA in %s; bundle.pem keeps the previous one until it expires\n",
			       dir);
	} else if (!strcmp(verb, "verify") && optind + 1 == argc) {
		ret = ca_verify(dir, argv[optind], 0, id, sizeof(id), &not_after, err, sizeof(err));
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
