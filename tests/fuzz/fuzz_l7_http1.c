// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libFuzzer target: the L7 side's HTTP/1 front end (proxy/l7) in a real
 * loop with the fake owner of tests/unit/l7_fake.h. An input is what a
 * client writes, then, after each line "---", what the endpoint answers to
 * one request after another (the last answer repeats; none: a 200). An
 * answer that starts with "!" is followed by the endpoint closing. Must
 * never crash, leak or hang (ASan + UBSan), and must give back every model
 * reference it took.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "l7_fake.h"
#include "l7_fake_mesh.h"

#define MARKER	    "\n---\n"
#define MAX_ANSWERS 8
#define MAX_ROUNDS  2000

static const char yaml[] = MESH ROUTE
    "      - matches: [{path: {type: PathPrefix, value: /r}}]\n"
    "        filters:\n"
    "          - type: RequestHeaderModifier\n"
    "            requestHeaderModifier: {set: [{name: x-a, value: b}], remove: [x-debug]}\n"
    "          - type: ResponseHeaderModifier\n"
    "            responseHeaderModifier: {add: [{name: x-r, value: '1'}], remove: [server]}\n"
    "        backendRefs: [{name: b, port: 80, weight: 3}, {name: c, port: 80}]\n"
    "        retry: {attempts: 2, codes: [502, 503], backoff: 1ms}\n"
    "      - matches: [{path: {type: Exact, value: /}}, {method: POST, path: {type: "
    "RegularExpression, value: '^/p/[a-z]+$'}}]\n"
    "      - matches: [{headers: [{name: x-k, value: v}], queryParams: [{name: q, value: "
    "'1'}]}]\n"
    "        backendRefs: [{name: d, port: 80}]\n"
    /* trace headers are read, rewritten and spans made: half of new traces */
    "tracing: {sampling: 0.5, zipkin: {url: \"http://127.0.0.1:9/api/v2/spans\"}}\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct answer {
	const char *p;
	size_t len;
	bool close;
};

/* Splits DATA into the client's bytes and the endpoint's answers. */
static size_t split(const char *data, size_t size, size_t *req_len, struct answer *a)
{
	const char *end = data + size, *p = data, *m;
	size_t n = 0;

	m = memmem(p, size, MARKER, strlen(MARKER));
	*req_len = m ? (size_t)(m - data) : size;
	while (m && n < MAX_ANSWERS) {
		p = m + strlen(MARKER);
		m = memmem(p, (size_t)(end - p), MARKER, strlen(MARKER));
		a[n].close = p < end && *p == '!';
		a[n].p = p + a[n].close;
		a[n].len = (size_t)((m ? m : end) - a[n].p);
		n++;
	}
	return n;
}

/* What the proxy sent on P parsed as HTTP requests (a connection it closed
 * in the middle of one counts: that is a cut, not a malformed request). */
static bool sent_http(const struct fake_peer *p)
{
	enum http_errno e = HTTP_PARSER_ERRNO(&p->parser);

	return e == HPE_OK || e == HPE_PAUSED || e == HPE_INVALID_EOF_STATE;
}

/* Runs the loop, answering requests and draining the client, until
 * nothing moves for a few rounds. */
static void run(struct l7_fake *f, struct fake_peer *client, const struct answer *a, size_t na)
{
	static const char ok_text[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	static const struct answer ok = {ok_text, sizeof(ok_text) - 1, false};
	int round, quiet = 0, served = 0, conn;
	char sink[65536];

	for (round = 0; round < MAX_ROUNDS && quiet < 4; round++) {
		bool moved = false;
		const struct answer *ans;

		fake_pump(f, quiet == 2 ? 1 : 0); /* a retry's backoff is 1 ms */
		while ((conn = fake_backend_poll(f)) >= 0) {
			ans = na ? &a[served < (int)na ? served : (int)na - 1] : &ok;
			served++;
			moved = true;
			if (send(f->conns[conn]->peer.fd, ans->p, ans->len,
				 MSG_NOSIGNAL | MSG_DONTWAIT) < 0 ||
			    ans->close)
				fake_peer_free(&f->conns[conn]->peer);
		}
		while (recv(client->fd, sink, sizeof(sink), MSG_DONTWAIT) > 0)
			moved = true;
		quiet = moved ? 0 : quiet + 1;
	}
	for (conn = 0; conn < f->nconns; conn++)
		if (!sent_http(&f->conns[conn]->peer))
			abort(); /* the proxy sent an endpoint bytes that are not HTTP */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fake_peer client = {.fd = -1};
	struct answer answers[MAX_ANSWERS];
	struct l7_fake *f = calloc(1, sizeof(*f));
	size_t req_len, na;
	char err[512];

	if (!f)
		return 0;
	if (fake_init(f, yaml, err, sizeof(err)))
		abort(); /* the fixed config must parse */
	na = split((const char *)data, size, &req_len, answers);
	if (!fake_client(f, &client, "shop/client", "shop/web", 80)) {
		send(client.fd, data, req_len, MSG_NOSIGNAL | MSG_DONTWAIT);
		run(f, &client, answers, na);
	}
	fake_peer_free(&client);
	if (fake_fini(f))
		abort(); /* a model reference was not given back */
	free(f);
	return 0;
}
