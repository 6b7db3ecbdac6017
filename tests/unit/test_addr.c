// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Addresses in the datapath's 16-byte form. */
#include <stdarg.h>
#include <stddef.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <cmocka.h>

#include "common/addr.h"

static void ipv4_becomes_v4_mapped(void **state)
{
	static const __u8 want[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 100, 1, 11};
	__u8 a[16];

	(void)state;
	assert_int_equal(shunt_addr_parse("10.100.1.11", a), 0);
	assert_memory_equal(a, want, sizeof(want));
	assert_true(shunt_addr_is_v4(a));
}

/* A dual-stack server sees IPv4 clients as ::ffff:a.b.c.d: same key. */
static void v4_mapped_ipv6_equals_ipv4(void **state)
{
	__u8 a[16], b[16];

	(void)state;
	assert_int_equal(shunt_addr_parse("10.0.0.1", a), 0);
	assert_int_equal(shunt_addr_parse("::ffff:10.0.0.1", b), 0);
	assert_memory_equal(a, b, sizeof(a));
}

static void ipv6_is_kept_as_is(void **state)
{
	struct in6_addr want;
	__u8 a[16];

	(void)state;
	assert_int_equal(shunt_addr_parse("fd00:100:1::11", a), 0);
	inet_pton(AF_INET6, "fd00:100:1::11", &want);
	assert_memory_equal(a, &want, 16);
	assert_false(shunt_addr_is_v4(a));
}

static void garbage_is_rejected(void **state)
{
	static const char *const bad[] = {"",	  "10.0.0",	 "10.0.0.256", "fd00:::1",
					  "host", "10.0.0.1/24", " 10.0.0.1"};
	__u8 a[16];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(shunt_addr_parse(bad[i], a), -EINVAL);
	assert_int_equal(shunt_addr_parse(NULL, a), -EINVAL);
}

static void format_round_trips(void **state)
{
	static const char *const good[] = {"10.100.1.11",    "fd00:100:1::11",	"::1",
					   "0.0.0.0",	     "255.255.255.255", "1.20.100.9",
					   "192.168.100.200"};
	char buf[SHUNT_ADDR_STRLEN], small[8];
	__u8 a[16];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(shunt_addr_parse(good[i], a), 0);
		assert_int_equal(shunt_addr_format(a, buf, sizeof(buf)), 0);
		assert_string_equal(buf, good[i]);
	}
	/* no room: an error, never a cut address */
	assert_int_equal(shunt_addr_parse("192.168.100.200", a), 0);
	assert_int_equal(shunt_addr_format(a, small, sizeof(small)), -ENOSPC);
}

static void endpoints_parse_and_format(void **state)
{
	const char *good[] = {"10.0.0.1:80",	       "[fd00::1]:65535", "[::ffff:10.0.0.1]:1",
			      "255.255.255.255:65535", "0.0.0.0:9",	  "192.168.100.7:8080"};
	const char *bad[] = {"10.0.0.1",  "10.0.0.1:0",	 "10.0.0.1:65536",
			     "10.0.0.1:", "fd00::1:80x", "[fd00::1:80",
			     ":80",	  "10.0.0.1:-1", NULL};
	const char *want[] = {"10.0.0.1:80",	       "[fd00::1]:65535", "10.0.0.1:1",
			      "255.255.255.255:65535", "0.0.0.0:9",	  "192.168.100.7:8080"};
	__u8 addr[16];
	__u16 port;
	char buf[64];
	size_t i;

	(void)state;
	for (i = 0; i < 6; i++) {
		assert_int_equal(shunt_endpoint_parse(good[i], addr, &port), 0);
		shunt_endpoint_format(addr, port, buf, sizeof(buf));
		assert_string_equal(buf, want[i]);
	}
	for (i = 0; bad[i]; i++)
		assert_int_equal(shunt_endpoint_parse(bad[i], addr, &port), -EINVAL);
	assert_int_equal(shunt_endpoint_parse(NULL, addr, &port), -EINVAL);
}

static void sockaddrs_round_trip(void **state)
{
	struct sockaddr_storage ss;
	__u8 addr[16], back[16];
	__u16 port;

	(void)state;
	assert_int_equal(shunt_addr_parse("10.1.2.3", addr), 0);
	assert_int_equal(shunt_addr_to_sockaddr(addr, 8080, &ss), sizeof(struct sockaddr_in));
	assert_int_equal(ss.ss_family, AF_INET);
	shunt_addr_from_sockaddr((struct sockaddr *)&ss, back, &port);
	assert_memory_equal(addr, back, 16);
	assert_int_equal(port, 8080);
	assert_int_equal(shunt_addr_parse("fd00::7", addr), 0);
	assert_int_equal(shunt_addr_to_sockaddr(addr, 443, &ss), sizeof(struct sockaddr_in6));
	assert_int_equal(ss.ss_family, AF_INET6);
	shunt_addr_from_sockaddr((struct sockaddr *)&ss, back, &port);
	assert_memory_equal(addr, back, 16);
	assert_int_equal(port, 443);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(ipv4_becomes_v4_mapped), cmocka_unit_test(v4_mapped_ipv6_equals_ipv4),
	    cmocka_unit_test(ipv6_is_kept_as_is),     cmocka_unit_test(garbage_is_rejected),
	    cmocka_unit_test(format_round_trips),     cmocka_unit_test(endpoints_parse_and_format),
	    cmocka_unit_test(sockaddrs_round_trip),
	};

	return cmocka_run_group_tests_name("addr", tests, NULL, NULL);
}
