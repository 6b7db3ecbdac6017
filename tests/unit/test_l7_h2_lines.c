// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Header lines into HTTP/2 fields (l7_h2_lines_to_nv): every request's and
 * every answer's head on HTTP/2 goes through it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <nghttp2/nghttp2.h>

#include "proxy/l7/l7_impl.h"

static void expect_nv(const nghttp2_nv *nv, const char *name, const char *value)
{
	assert_int_equal(nv->namelen, strlen(name));
	assert_memory_equal(nv->name, name, nv->namelen);
	assert_int_equal(nv->valuelen, strlen(value));
	assert_memory_equal(nv->value, value, nv->valuelen);
	assert_int_equal(nv->name[nv->namelen], 0); /* both end in NUL too */
	assert_int_equal(nv->value[nv->valuelen], 0);
}

/* Head lines as fields: names lowercased, the blanks after the colon left
 * out, a value with a colon whole, a line without one skipped; up to the
 * empty line, a line without its CRLF, or the room there is. */
static void head_lines_become_fields_up_to_the_empty_line(void **state)
{
	char lines[] = "Content-Type: text/plain\r\nX-Odd:\r\nno colon here\r\n"
		       "x-b3-TraceId:  abc\r\nVia: 1.1 a:b\r\n\r\nafter: x\r\n";
	char cut[] = "a: 1\r\nb: 2";
	char few[] = "a: 1\r\nb: 2\r\nc: 3\r\n";
	nghttp2_nv nv[8];

	(void)state;
	assert_int_equal(l7_h2_lines_to_nv(lines, nv, 8), 4);
	expect_nv(&nv[0], "content-type", "text/plain");
	expect_nv(&nv[1], "x-odd", "");
	expect_nv(&nv[2], "x-b3-traceid", "abc");
	expect_nv(&nv[3], "via", "1.1 a:b");
	assert_int_equal(l7_h2_lines_to_nv(cut, nv, 8), 1);
	expect_nv(&nv[0], "a", "1");
	assert_int_equal(l7_h2_lines_to_nv(few, nv, 2), 2);
	expect_nv(&nv[1], "b", "2");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(head_lines_become_fields_up_to_the_empty_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
