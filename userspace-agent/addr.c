// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

bool shunt_addr_is_v4(const __u32 addr[4])
{
	return addr[0] == 0 && addr[1] == 0 && addr[2] == htonl(0x0000ffff);
}

int shunt_addr_parse(const char *text, __u32 out[4])
{
	struct in6_addr v6;
	struct in_addr v4;

	if (!text)
		return -EINVAL;
	if (inet_pton(AF_INET, text, &v4) == 1) {
		out[0] = 0;
		out[1] = 0;
		out[2] = htonl(0x0000ffff);
		out[3] = v4.s_addr;
		return 0;
	}
	if (inet_pton(AF_INET6, text, &v6) == 1) {
		memcpy(out, &v6, 16);
		return 0;
	}
	return -EINVAL;
}

int shunt_addr_format(const __u32 addr[4], char *buf, size_t len)
{
	const char *ok;

	if (shunt_addr_is_v4(addr))
		ok = inet_ntop(AF_INET, &addr[3], buf, len);
	else
		ok = inet_ntop(AF_INET6, addr, buf, len);
	return ok ? 0 : -errno;
}
