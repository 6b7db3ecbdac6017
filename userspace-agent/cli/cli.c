// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Helpers the subcommands share. */
#include <errno.h>
#include <stdlib.h>

#include "cli.h"
#include "common/log.h"
#include "common/push.h"

int cli_parse_push(const char *spec, struct push_target *targets, size_t *n)
{
	struct push_target t;
	char err[256];
	size_t i;

	if (push_parse(spec, &t, err, sizeof(err))) {
		pr_err("--push: %s", err);
		return -EINVAL;
	}
	for (i = 0; i < *n; i++)
		if (targets[i].kind == t.kind) {
			pr_err("--push: one %s target at most (two given)", push_kind_name(t.kind));
			return -EINVAL;
		}
	targets[(*n)++] = t;
	return 0;
}

int cli_parse_u32(const char *text, unsigned int *out)
{
	unsigned long value;
	char *end;

	if (!text || !*text || *text == '-')
		return -EINVAL;
	errno = 0;
	value = strtoul(text, &end, 0);
	if (errno || *end || value > 0xffffffffUL)
		return -EINVAL;
	*out = (unsigned int)value;
	return 0;
}
