// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Helpers the subcommands share. */
#include <errno.h>
#include <stdlib.h>

#include "cli.h"

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
