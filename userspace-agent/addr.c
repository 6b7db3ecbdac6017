// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

static const __u8 v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool shunt_addr_is_v4(const __u8 addr[16])
{
	return memcmp(addr, v4_mapped_prefix, sizeof(v4_mapped_prefix)) == 0;
}

int shunt_addr_parse(const char *text, __u8 out[16])
{
	struct in6_addr v6;
	struct in_addr v4;

	if (!text)
		return -EINVAL;
	if (inet_pton(AF_INET, text, &v4) == 1) {
		memcpy(out, v4_mapped_prefix, sizeof(v4_mapped_prefix));
		memcpy(out + 12, &v4.s_addr, 4);
		return 0;
	}
	if (inet_pton(AF_INET6, text, &v6) == 1) {
		memcpy(out, &v6, 16);
		return 0;
	}
	return -EINVAL;
}

int shunt_addr_format(const __u8 addr[16], char *buf, size_t len)
{
	const char *ok;

	if (shunt_addr_is_v4(addr))
		ok = inet_ntop(AF_INET, &addr[12], buf, len);
	else
		ok = inet_ntop(AF_INET6, addr, buf, len);
	return ok ? 0 : -errno;
}
