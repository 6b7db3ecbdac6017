// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * What the proxy knows of gRPC (its HTTP/2 protocol, doc/PROTOCOL-HTTP2.md
 * of grpc/grpc): a request is one by its content-type, its deadline rides
 * in grpc-timeout, and an error the proxy answers itself is a
 * trailers-only response whose grpc-status a gRPC client reads (the HTTP
 * status is 200 then, as the protocol asks).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "l7_impl.h"

enum grpc_code {
	GRPC_UNKNOWN = 2,
	GRPC_DEADLINE_EXCEEDED = 4,
	GRPC_PERMISSION_DENIED = 7,
	GRPC_RESOURCE_EXHAUSTED = 8,
	GRPC_UNIMPLEMENTED = 12,
	GRPC_INTERNAL = 13,
	GRPC_UNAVAILABLE = 14,
	GRPC_UNAUTHENTICATED = 16,
};

bool l7_is_grpc(const struct l7_request *req)
{
	const char *ct = l7_header_get(req, "content-type");

	return ct && !strncasecmp(ct, "application/grpc", 16) &&
	       (!ct[16] || ct[16] == '+' || ct[16] == ';');
}

uint64_t l7_grpc_timeout_ms(const struct l7_request *req)
{
	const char *v = l7_header_get(req, "grpc-timeout");
	uint64_t n = 0, ns_per_unit;
	size_t i;

	if (!v)
		return 0;
	for (i = 0; isdigit((unsigned char)v[i]); i++)
		n = n * 10 + (uint64_t)(v[i] - '0');
	if (!i || i > 8 || !v[i] || v[i + 1])
		return 0;
	switch (v[i]) {
	case 'H':
		return n * 3600000;
	case 'M':
		return n * 60000;
	case 'S':
		return n * 1000;
	case 'm':
		return n ? n : 1;
	case 'u':
		ns_per_unit = 1000;
		break;
	case 'n':
		ns_per_unit = 1;
		break;
	default:
		return 0;
	}
	return (n * ns_per_unit + 999999) / 1000000; /* a deadline never rounds to none */
}

/* The protocol's table for HTTP statuses (doc/http-grpc-status-mapping.md),
 * and the proxy's own deadlines as DEADLINE_EXCEEDED, as a gRPC library's
 * would be. */
int l7_grpc_status_for(enum shunt_outcome why, int status)
{
	if (why == SHUNT_OUT_L7_REQUEST_TIMEOUT || why == SHUNT_OUT_L7_TRY_TIMEOUT)
		return GRPC_DEADLINE_EXCEEDED;
	switch (status) {
	case 400:
		return GRPC_INTERNAL;
	case 401:
		return GRPC_UNAUTHENTICATED;
	case 403:
		return GRPC_PERMISSION_DENIED;
	case 404:
		return GRPC_UNIMPLEMENTED;
	case 429:
	case 502:
	case 503:
	case 504:
		return GRPC_UNAVAILABLE;
	default:
		return GRPC_UNKNOWN;
	}
}

void l7_grpc_note_status(struct l7_request *req, const struct l7_header *h, size_t n)
{
	char *end;
	long code;
	size_t i;

	for (i = 0; req->grpc && i < n; i++) {
		if (strcasecmp(h[i].name, "grpc-status") || !h[i].value)
			continue;
		code = strtol(h[i].value, &end, 10);
		if (end != h[i].value && !*end && code >= 0 && code < 1000)
			req->grpc_status = (int)code;
		return;
	}
}

void l7_grpc_message(const char *text, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *text && o + 4 < cap; text++) {
		unsigned char c = (unsigned char)*text;

		if (c >= 0x20 && c <= 0x7e && c != '%') {
			out[o++] = (char)c;
			continue;
		}
		out[o++] = '%';
		out[o++] = hex[c >> 4];
		out[o++] = hex[c & 15];
	}
	out[o] = 0;
}
