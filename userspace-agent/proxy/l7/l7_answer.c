// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Answers the proxy gives itself. Every one names its hop and the outcome
 * (shunt-hop, shunt-error), so a client or a log can tell a refusal of
 * the mesh from an answer of the service.
 */
#include <stdio.h>
#include <string.h>

#include "l7_impl.h"

static const char *status_text(int status)
{
	switch (status) {
	case 301:
		return "Moved Permanently";
	case 302:
		return "Found";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 413:
		return "Content Too Large";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return status < 400 ? "OK" : "Error";
	}
}

/* A gRPC client reads errors from grpc-status: the answer is trailers-only,
 * HTTP 200 (EXTRA may carry a grpc-status of its own, a fault's). */
static void grpc_answer(struct l7_request *req, enum shunt_outcome why, int status,
			const char *extra, const char *headers)
{
	struct l7_down *d = req->down;
	char lines[4096], msg[512], text[256];

	snprintf(text, sizeof(text), "%s: %s", d->l->hop, shunt_outcome(why)->text);
	l7_grpc_message(text, msg, sizeof(msg));
	if (strstr(extra, "grpc-status:")) {
		snprintf(lines, sizeof(lines), "content-type: application/grpc\r\n%s", headers);
	} else {
		req->grpc_status = l7_grpc_status_for(why, status);
		snprintf(lines, sizeof(lines),
			 "content-type: application/grpc\r\ngrpc-status: %d\r\n"
			 "grpc-message: %s\r\n%s",
			 req->grpc_status, msg, headers);
	}
	req->sink->answer(req, 200, "OK", lines, NULL, 0);
}

/* STATUS with WHY's headers, EXTRA (whole header lines) and a text body. */
static void answer_with(struct l7_request *req, enum shunt_outcome why, int status,
			const char *extra)
{
	const struct shunt_outcome_info *info = shunt_outcome(why);
	struct l7_down *d = req->down;
	char body[256];
	int len;

	char headers[2560];

	len = snprintf(body, sizeof(body), "%s: %s\n", d->l->hop, info->text);
	snprintf(headers, sizeof(headers), "shunt-error: %s\r\nshunt-hop: %s\r\n%s", info->label,
		 d->l->hop, extra);
	if (req->grpc)
		grpc_answer(req, why, status, extra, headers);
	else
		req->sink->answer(req, status, status_text(status), headers, body, (size_t)len);
	if (!req->grpc && !req->no_body_response)
		req->resp_bytes += (uint64_t)len;
	req->status = status;
	req->outcome = why;
	req->head_sent = true;
	atomic_fetch_add(&l7_stats.by_outcome[why < SHUNT_OUT_MAX ? why : 0], 1);
	l7_request_finish(req, false);
}

void l7_request_answer(struct l7_request *req, enum shunt_outcome why)
{
	const struct shunt_outcome_info *info = shunt_outcome(why);

	answer_with(req, why, info->http_status ? info->http_status : 502, "");
}

void l7_request_rate_limited(struct l7_request *req, unsigned int retry_s)
{
	char extra[64];

	snprintf(extra, sizeof(extra), "retry-after: %u\r\n", retry_s);
	answer_with(req, SHUNT_OUT_L7_RATE_LIMITED, 429, extra);
}

/* A gRPC abort is a trailers-only response: HTTP 200, the status in the
 * headers (what gRPC clients read on HTTP/1 and HTTP/2 alike). */
void l7_request_fault_answer(struct l7_request *req, int status, int grpc)
{
	char extra[160];

	if (grpc < 0)
		return answer_with(req, SHUNT_OUT_L7_FAULT_ABORT, status, "");
	snprintf(extra, sizeof(extra), "grpc-status: %d\r\ngrpc-message: fault injected by %s\r\n",
		 grpc, req->down->l->hop);
	req->grpc = true; /* whatever its content-type said */
	req->grpc_status = grpc;
	answer_with(req, SHUNT_OUT_L7_FAULT_ABORT, 200, extra);
}

void l7_request_redirect_answer(struct l7_request *req, int status, const char *scheme,
				const char *host, const char *port, const char *target)
{
	char extra[2048];

	if ((size_t)snprintf(extra, sizeof(extra), "location: %s://%s%s%s\r\n", scheme, host, port,
			     target) >= sizeof(extra))
		return l7_request_answer(req, SHUNT_OUT_L7_HEADERS_TOO_LARGE);
	answer_with(req, SHUNT_OUT_L7_REDIRECTED, status, extra);
}
