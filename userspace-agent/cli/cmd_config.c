// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* shunt config [KEY=VALUE...]: the datapath tunables in shunt_config. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "datapath.h"
#include "common/json.h"
#include "common/log.h"

enum field_type { FIELD_U32, FIELD_CC_NAME };

static const struct {
	const char *key;
	size_t offset;
	enum field_type type;
	const char *help;
} fields[] = {
    {"bypass_enabled", offsetof(struct shunt_config, bypass_enabled), FIELD_U32,
     "0: every send goes through TCP"},
    {"rx_guard", offsetof(struct shunt_config, rx_guard), FIELD_U32,
     "1: redirect only to sockets seen reading by recvmsg"},
    {"small_write_max", offsetof(struct shunt_config, small_write_max), FIELD_U32,
     "largest write (bytes) counted as small"},
    {"small_streak", offsetof(struct shunt_config, small_streak), FIELD_U32,
     "small writes in a row without a read that mean streaming (0: off)"},
    {"max_backlog", offsetof(struct shunt_config, max_backlog), FIELD_U32,
     "unread redirected bytes allowed at the receiver (0: no limit)"},
    {"small_pass_bytes", offsetof(struct shunt_config, small_pass_bytes), FIELD_U32,
     "bytes a small-write stream sends through TCP per verdict"},
    {"small_leave_bytes", offsetof(struct shunt_config, small_leave_bytes), FIELD_U32,
     "bytes of one small-write stream after which it leaves the bypass (0: never)"},
    {"local_congestion", offsetof(struct shunt_config, local_congestion), FIELD_CC_NAME,
     "congestion control of same-node mesh connections (empty: node default)"},
};

#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static __u32 *u32_of(struct shunt_config *cfg, size_t i)
{
	return (__u32 *)((char *)cfg + fields[i].offset);
}

static char *name_of(struct shunt_config *cfg, size_t i)
{
	return (char *)cfg + fields[i].offset;
}

/*
 * The kernel sets a congestion control from BPF only if it is registered (it
 * does not load modules there), and never "cdg" (it keeps a pointer where BPF
 * could overwrite it): check both here, so a bad name is an error now, not
 * a failure counter later.
 */
static int cc_available(const char *name)
{
	char line[1024], *tok, *save = NULL;
	FILE *f;
	int found = 0;

	if (strcmp(name, "cdg") == 0)
		return -EOPNOTSUPP;
	f = fopen("/proc/sys/net/ipv4/tcp_available_congestion_control", "r");
	if (!f)
		return -errno;
	if (fgets(line, sizeof(line), f))
		for (tok = strtok_r(line, " \n", &save); tok && !found;
		     tok = strtok_r(NULL, " \n", &save))
			found = strcmp(tok, name) == 0;
	fclose(f);
	return found ? 0 : -ENOENT;
}

static int set_field(struct shunt_config *cfg, size_t f, const char *key, const char *value)
{
	unsigned int n;
	int err;

	if (fields[f].type == FIELD_U32) {
		if (cli_parse_u32(value, &n)) {
			pr_err("%s: '%s' is not a number", key, value);
			return -EINVAL;
		}
		*u32_of(cfg, f) = n;
		return 0;
	}
	if (strlen(value) >= SHUNT_CC_NAME_LEN) {
		pr_err("%s: '%s' is longer than a congestion control name can be", key, value);
		return -EINVAL;
	}
	if (value[0]) {
		err = cc_available(value);
		if (err == -ENOENT) {
			pr_err("%s: '%s' is not in net.ipv4.tcp_available_congestion_control "
			       "(load its module first, e.g. modprobe tcp_%s)",
			       key, value, value);
			return err;
		}
		if (err) {
			pr_err("%s: '%s' cannot be set from BPF: %s", key, value, strerror(-err));
			return err;
		}
	}
	snprintf(name_of(cfg, f), SHUNT_CC_NAME_LEN, "%s", value);
	return 0;
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
		err = set_field(&cfg, f, argv[i], eq + 1);
		if (err)
			return err;
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
		for (f = 0; f < NFIELDS; f++) {
			if (fields[f].type == FIELD_U32)
				json_kv_u64(&j, fields[f].key, *u32_of(&cfg, f));
			else
				json_kv_string(&j, fields[f].key, name_of(&cfg, f));
		}
		json_object_end(&j);
		return 0;
	}
	for (f = 0; f < NFIELDS; f++) {
		if (fields[f].type == FIELD_U32)
			printf("%-16s %-10u %s\n", fields[f].key, *u32_of(&cfg, f), fields[f].help);
		else
			printf("%-16s %-10s %s\n", fields[f].key,
			       name_of(&cfg, f)[0] ? name_of(&cfg, f) : "\"\"", fields[f].help);
	}
	return 0;
}
