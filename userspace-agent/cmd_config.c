// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* shunt config [KEY=VALUE...]: the datapath tunables in shunt_config. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "datapath.h"
#include "json.h"
#include "log.h"

static const struct {
	const char *key;
	size_t offset;
	const char *help;
} fields[] = {
    {"bypass_enabled", offsetof(struct shunt_config, bypass_enabled),
     "0: every send goes through TCP"},
    {"rx_guard", offsetof(struct shunt_config, rx_guard),
     "1: redirect only to sockets seen reading by recvmsg"},
    {"small_write_max", offsetof(struct shunt_config, small_write_max),
     "largest write (bytes) counted as small"},
    {"small_streak", offsetof(struct shunt_config, small_streak),
     "small writes in a row without a read that mean streaming (0: off)"},
    {"max_backlog", offsetof(struct shunt_config, max_backlog),
     "unread redirected bytes allowed at the receiver (0: no limit)"},
    {"small_pass_bytes", offsetof(struct shunt_config, small_pass_bytes),
     "bytes a small-write stream sends through TCP per verdict"},
};

#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static __u32 *field_of(struct shunt_config *cfg, size_t i)
{
	return (__u32 *)((char *)cfg + fields[i].offset);
}

int cmd_config(struct shunt_cli *cli, int argc, char **argv)
{
	struct shunt_config cfg;
	struct shunt_json j;
	int i, err;
	size_t f;

	err = shunt_config_read(&cli->pins, &cfg);
	if (err) {
		pr_err("cannot read the config (is the datapath loaded?): %s", strerror(-err));
		return err;
	}
	/* Parse every assignment first: a bad one changes nothing. */
	for (i = 1; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		unsigned int value;

		if (!eq) {
			pr_err("'%s': expected KEY=VALUE", argv[i]);
			return -EINVAL;
		}
		*eq = '\0';
		for (f = 0; f < NFIELDS; f++)
			if (strcmp(argv[i], fields[f].key) == 0)
				break;
		if (f == NFIELDS) {
			pr_err("unknown key '%s'", argv[i]);
			return -EINVAL;
		}
		if (cli_parse_u32(eq + 1, &value)) {
			pr_err("%s: '%s' is not a number", argv[i], eq + 1);
			return -EINVAL;
		}
		*field_of(&cfg, f) = value;
	}
	if (argc > 1) {
		err = shunt_config_write(&cli->pins, &cfg);
		if (err) {
			pr_err("cannot write the config: %s", strerror(-err));
			return err;
		}
	}
	if (cli->json) {
		json_init(&j, stdout);
		json_object_begin(&j);
		for (f = 0; f < NFIELDS; f++)
			json_kv_u64(&j, fields[f].key, *field_of(&cfg, f));
		json_object_end(&j);
		return 0;
	}
	for (f = 0; f < NFIELDS; f++)
		printf("%-16s %-10u %s\n", fields[f].key, *field_of(&cfg, f), fields[f].help);
	return 0;
}
