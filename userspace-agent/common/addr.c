// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
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

/* V in decimal at P; the end. */
static char *put_dec(char *p, unsigned int v)
{
	char d[10];
	int n = 0;

	do
		d[n++] = (char)('0' + v % 10);
	while (v /= 10);
	while (n)
		*p++ = d[--n];
	return p;
}

/* IPv4 dotted quad at P, no NUL; the end. */
static char *put_v4(char *p, const __u8 addr[16])
{
	int i;

	for (i = 12; i < 16; i++) {
		p = put_dec(p, addr[i]);
		if (i < 15)
			*p++ = '.';
	}
	return p;
}

int shunt_addr_format(const __u8 addr[16], char *buf, size_t len)
{
	const char *ok;

	/* IPv4, the common case, without inet_ntop: this is once per request
	 * in access logs and flows, and twice per span */
	if (shunt_addr_is_v4(addr) && len >= sizeof("255.255.255.255")) {
		*put_v4(buf, addr) = '\0';
		return 0;
	}
	if (shunt_addr_is_v4(addr))
		ok = inet_ntop(AF_INET, &addr[12], buf, len);
	else
		ok = inet_ntop(AF_INET6, addr, buf, len);
	return ok ? 0 : -errno;
}

socklen_t shunt_addr_to_sockaddr(const __u8 addr[16], __u16 port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (shunt_addr_is_v4(addr)) {
		struct sockaddr_in *s = (struct sockaddr_in *)ss;

		s->sin_family = AF_INET;
		memcpy(&s->sin_addr, addr + 12, 4);
		s->sin_port = htons(port);
		return sizeof(*s);
	}
	{
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;

		s->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, addr, 16);
		s->sin6_port = htons(port);
		return sizeof(*s);
	}
}

void shunt_addr_from_sockaddr(const struct sockaddr *sa, __u8 addr[16], __u16 *port)
{
	memset(addr, 0, 16);
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)sa;

		memcpy(addr, v4_mapped_prefix, sizeof(v4_mapped_prefix));
		memcpy(addr + 12, &s->sin_addr, 4);
		*port = ntohs(s->sin_port);
	} else {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)sa;

		memcpy(addr, &s->sin6_addr, 16);
		*port = ntohs(s->sin6_port);
	}
}

int shunt_endpoint_parse(const char *text, __u8 addr[16], __u16 *port)
{
	const char *colon = text ? strrchr(text, ':') : NULL;
	unsigned long p;
	char host[64], *end;
	size_t hl;

	if (!colon)
		return -EINVAL;
	hl = (size_t)(colon - text);
	if (text[0] == '[' && hl >= 2 && text[hl - 1] == ']') {
		text++;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, text, hl);
	host[hl] = 0;
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || !p || p > 65535 || shunt_addr_parse(host, addr))
		return -EINVAL;
	*port = (__u16)p;
	return 0;
}

void shunt_endpoint_format(const __u8 addr[16], __u16 port, char *buf, size_t len)
{
	char a[SHUNT_ADDR_STRLEN], *p = a;

	/* IPv4 without printf too */
	if (shunt_addr_is_v4(addr) && len >= sizeof("255.255.255.255:65535")) {
		p = put_v4(p, addr);
		*p++ = ':';
		p = put_dec(p, port);
		*p = '\0';
		memcpy(buf, a, (size_t)(p - a) + 1);
		return;
	}
	shunt_addr_format(addr, a, sizeof(a));
	snprintf(buf, len, shunt_addr_is_v4(addr) ? "%s:%u" : "[%s]:%u", a, port);
}
