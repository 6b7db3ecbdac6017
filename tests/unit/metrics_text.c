// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* What a metrics registry renders, for the unit tests (metrics_text.h). */
#include "metrics_text.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

char *metrics_text_of(struct metrics_registry *r)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	assert_non_null(out);
	metrics_render(r, out);
	fclose(out);
	return text;
}

size_t metrics_text_lines(const char *text, const char *prefix)
{
	size_t n = 0, plen = strlen(prefix);
	const char *p = text;

	for (; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, prefix, plen))
			n++;
	return n;
}
