/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* What the test tools share: parsing ADDR:PORT and [ADDR6]:PORT. */
#ifndef SHUNT_TOOLS_NETADDR_H
#define SHUNT_TOOLS_NETADDR_H

#include <netdb.h>
#include <string.h>
#include <sys/socket.h>

/* Fills *OUT and *LEN from "10.0.0.1:80" or "[fd00::1]:80"; 0 or -1. */
static inline int netaddr_parse(const char *text, struct sockaddr_storage *out, socklen_t *len)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST}, *res;
	const char *colon = strrchr(text, ':');
	char host[256];
	size_t hl;

	if (!colon)
		return -1;
	hl = (size_t)(colon - text);
	if (text[0] == '[' && hl >= 2 && text[hl - 1] == ']') {
		text++;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		return -1;
	memcpy(host, text, hl);
	host[hl] = '\0';
	if (getaddrinfo(host, colon + 1, &hints, &res))
		return -1;
	memcpy(out, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

#endif
