// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * HTTP/2 to endpoints (proxy/l7/l7_up_h2.c): the endpoint's end of each
 * connection is an nghttp2 server session held by this test; the clients
 * are HTTP/1.1 ones (l7_fake.h), so the response's trailers arrive as the
 * chunked body's trailer fields.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>
#include <nghttp2/nghttp2.h>

#include "l7_fake.h"
#include "l7_fake_mesh.h"

#define RPC_MESH                                                                                   \
	MESH "  - {name: rpc, namespace: shop, virtualIPs: [10.96.0.20], ports: [{port: 50051, "   \
	     "appProtocol: grpc}], selector: {app: a}}\n"
#define RPC_ROUTE                                                                                  \
	"httpRoutes:\n  - name: r\n    namespace: shop\n    parentRefs: [{name: rpc}]\n"           \
	"    rules:\n"
#define CALL(extra)                                                                                \
	"POST /shunt.Echo/Unary HTTP/1.1\r\nHost: rpc\r\ncontent-type: application/grpc\r\n"       \
	"te: trailers\r\ncontent-length: 3\r\n" extra "\r\nabc"

/* A stream as the endpoint saw it. */
struct h2_seen {
	int32_t id;
	char path[128], te[32], mirror[64];
	char b3_span[17], b3_parent[17]; /* x-b3-spanid, x-b3-parentspanid */
	char b3_trace[33], traceparent[64], b3_sampled[4];
	int never_indexed; /* fields sent "never indexed" (HPACK) */
	size_t head_len;   /* the request's header block, HPACK-coded */
	size_t body;
	char checksum[32]; /* the x-checksum trailer field */
	int ntrailers;	   /* fields of a trailing HEADERS frame */
	bool ended;	   /* the request's END_STREAM */
	uint32_t reset;	   /* its RST_STREAM code + 1; 0: none */
};

/* The endpoint's end of one connection. */
struct h2_end {
	nghttp2_session *s;
	int fd;
	struct h2_seen seen[16];
	int nseen;
};

static struct h2_seen *seen_of(struct h2_end *e, int32_t id)
{
	int i;

	for (i = 0; i < e->nseen; i++)
		if (e->seen[i].id == id)
			return &e->seen[i];
	if (e->nseen == 16)
		return NULL;
	e->seen[e->nseen].id = id;
	return &e->seen[e->nseen++];
}

static ssize_t end_send(nghttp2_session *s, const uint8_t *d, size_t n, int fl, void *ud)
{
	struct h2_end *e = ud;
	ssize_t w = send(e->fd, d, n, MSG_NOSIGNAL);

	(void)s;
	(void)fl;
	return w < 0 ? NGHTTP2_ERR_WOULDBLOCK : w;
}

static int end_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
		      const uint8_t *value, size_t vlen, uint8_t fl, void *ud)
{
	struct h2_seen *r = seen_of(ud, f->hd.stream_id);

	(void)s;
	if (r && (fl & NGHTTP2_NV_FLAG_NO_INDEX))
		r->never_indexed++;
	if (r && f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_HEADERS) {
		r->ntrailers++;
		if (nlen == 10 && !memcmp(name, "x-checksum", 10))
			snprintf(r->checksum, sizeof(r->checksum), "%.*s", (int)vlen, value);
		return 0;
	}
	if (r && nlen == 5 && !memcmp(name, ":path", 5))
		snprintf(r->path, sizeof(r->path), "%.*s", (int)vlen, value);
	if (r && nlen == 2 && !memcmp(name, "te", 2))
		snprintf(r->te, sizeof(r->te), "%.*s", (int)vlen, value);
	if (r && nlen == 14 && !memcmp(name, "x-shunt-mirror", 14))
		snprintf(r->mirror, sizeof(r->mirror), "%.*s", (int)vlen, value);
	if (r && nlen == 11 && !memcmp(name, "x-b3-spanid", 11))
		snprintf(r->b3_span, sizeof(r->b3_span), "%.*s", (int)vlen, value);
	if (r && nlen == 12 && !memcmp(name, "x-b3-traceid", 12))
		snprintf(r->b3_trace, sizeof(r->b3_trace), "%.*s", (int)vlen, value);
	if (r && nlen == 12 && !memcmp(name, "x-b3-sampled", 12))
		snprintf(r->b3_sampled, sizeof(r->b3_sampled), "%.*s", (int)vlen, value);
	if (r && nlen == 11 && !memcmp(name, "traceparent", 11))
		snprintf(r->traceparent, sizeof(r->traceparent), "%.*s", (int)vlen, value);
	if (r && nlen == 17 && !memcmp(name, "x-b3-parentspanid", 17))
		snprintf(r->b3_parent, sizeof(r->b3_parent), "%.*s", (int)vlen, value);
	return 0;
}

static int end_frame(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	struct h2_seen *r;

	(void)s;
	if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) &&
	    (f->hd.flags & NGHTTP2_FLAG_END_STREAM) && (r = seen_of(ud, f->hd.stream_id)))
		r->ended = true;
	if (f->hd.type == NGHTTP2_RST_STREAM && (r = seen_of(ud, f->hd.stream_id)))
		r->reset = f->rst_stream.error_code + 1;
	if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST &&
	    (r = seen_of(ud, f->hd.stream_id)))
		r->head_len = f->hd.length;
	return 0;
}

static int end_data(nghttp2_session *s, uint8_t fl, int32_t id, const uint8_t *d, size_t n,
		    void *ud)
{
	struct h2_seen *r = seen_of(ud, id);

	(void)s;
	(void)fl;
	(void)d;
	if (r)
		r->body += n;
	return 0;
}

static void end_start(struct h2_end *e, int fd)
{
	nghttp2_session_callbacks *cb;

	memset(e, 0, sizeof(*e));
	e->fd = fd;
	assert_int_equal(nghttp2_session_callbacks_new(&cb), 0);
	nghttp2_session_callbacks_set_send_callback(cb, end_send);
	nghttp2_session_callbacks_set_on_header_callback(cb, end_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, end_frame);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, end_data);
	assert_int_equal(nghttp2_session_server_new(&e->s, cb, e), 0);
	nghttp2_session_callbacks_del(cb);
	assert_int_equal(nghttp2_submit_settings(e->s, NGHTTP2_FLAG_NONE, NULL, 0), 0);
}

/* Runs the engine and the endpoint's session for MS milliseconds. */
static void end_pump(struct l7_fake *f, struct h2_end *e, int ms)
{
	char buf[65536];
	ssize_t n;
	int i;

	for (i = 0; i < ms; i++) {
		fake_pump(f, 1);
		while ((n = recv(e->fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
			assert_true(nghttp2_session_mem_recv(e->s, (uint8_t *)buf, (size_t)n) >= 0);
		nghttp2_session_send(e->s);
	}
}

/* Pumps until the endpoint has seen N whole requests (2 s at most). */
static void end_wait(struct l7_fake *f, struct h2_end *e, int n)
{
	int i;

	for (i = 0; i < 2000 && !(e->nseen >= n && e->seen[n - 1].ended); i++)
		end_pump(f, e, 1);
	end_pump(f, e, 5); /* and whatever else would come */
}

/* The endpoint answers stream ID: STATUS, BODY (NULL: trailers-only, the
 * grpc-status in the head), then grpc-status GRPC as a trailer. */
static ssize_t read_once(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *fl,
			 nghttp2_data_source *src, void *ud)
{
	size_t n = strlen(src->ptr);

	(void)ud;
	(void)len;
	memcpy(buf, src->ptr, n);
	*fl |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
	return nghttp2_submit_trailer(
		   s, id, (nghttp2_nv[]){{(uint8_t *)"grpc-status", (uint8_t *)"0", 11, 1, 0}}, 1)
		   ? -1
		   : (ssize_t)n;
}

static void end_answer(struct h2_end *e, int32_t id, const char *status, const char *body,
		       const char *grpc)
{
	nghttp2_nv nv[3] = {
	    {(uint8_t *)":status", (uint8_t *)status, 7, strlen(status), 0},
	    {(uint8_t *)"content-type", (uint8_t *)"application/grpc", 12, 16, 0},
	    {(uint8_t *)"grpc-status", (uint8_t *)grpc, 11, strlen(grpc), 0},
	};
	nghttp2_data_provider prd = {.source.ptr = (void *)body, .read_callback = read_once};

	assert_int_equal(nghttp2_submit_response(e->s, id, nv, body ? 2 : 3, body ? &prd : NULL),
			 0);
}

struct fix {
	struct l7_fake f;
	struct fake_peer a, b;
	struct fake_msg ra, rb;
	struct h2_end end;
	bool started;
};

/* YAML's loop on node NODE (NULL: n1, where every endpoint of MESH is),
 * two clients of shop/client to SERVICE:PORT. */
static struct fix *start_on(void **state, const char *yaml, const char *node, const char *service,
			    __u16 port)
{
	struct fix *x = calloc(1, sizeof(*x));
	char err[512];

	assert_non_null(x);
	*state = x;
	x->a.fd = x->b.fd = -1;
	if (fake_init(&x->f, yaml, err, sizeof(err)))
		fail_msg("config: %s", err);
	x->started = true;
	x->f.node = node;
	assert_int_equal(fake_client(&x->f, &x->a, "shop/client", service, port), 0);
	assert_int_equal(fake_client(&x->f, &x->b, "shop/client", service, port), 0);
	return x;
}

static struct fix *start(void **state, const char *yaml)
{
	return start_on(state, yaml, NULL, "shop/rpc", 50051);
}

static int teardown(void **state)
{
	struct fix *x = *state;
	int holds = 0;

	if (!x)
		return 0;
	fake_peer_free(&x->a);
	fake_peer_free(&x->b);
	fake_msg_free(&x->ra);
	fake_msg_free(&x->rb);
	nghttp2_session_del(x->end.s);
	if (x->started)
		holds = fake_fini(&x->f);
	free(x);
	*state = NULL;
	return holds ? -1 : 0;
}

/* The engine's first connection to an endpoint, taken over as HTTP/2. */
static void attach_endpoint(struct fix *x, int conn)
{
	int i;

	for (i = 0; i < 200 && x->f.nconns <= conn; i++)
		fake_pump(&x->f, 1);
	assert_true(x->f.nconns > conn);
	if (x->end.s)
		nghttp2_session_del(x->end.s);
	end_start(&x->end, x->f.conns[conn]->peer.fd);
}

static void calls_share_one_connection_and_trailers_reach_the_client(void **state)
{
	struct fix *x = start(state, RPC_MESH);

	assert_int_equal(fake_send(&x->f, x->a.fd, CALL(""), strlen(CALL(""))), 0);
	assert_int_equal(fake_send(&x->f, x->b.fd, CALL(""), strlen(CALL(""))), 0);
	attach_endpoint(x, 0);
	end_wait(&x->f, &x->end, 2);
	assert_int_equal(x->f.nconns, 1); /* both calls, one connection */
	assert_int_equal(x->end.nseen, 2);
	assert_string_equal(x->end.seen[0].path, "/shunt.Echo/Unary");
	assert_string_equal(x->end.seen[0].te, "trailers");
	assert_int_equal(x->end.seen[0].body, 3);
	assert_true(x->end.seen[1].ended);
	end_answer(&x->end, x->end.seen[0].id, "200", "xyz", "0");
	end_answer(&x->end, x->end.seen[1].id, "200", NULL, "14"); /* trailers-only */
	end_pump(&x->f, &x->end, 20);
	assert_int_equal(fake_read(&x->f, &x->a, &x->ra, 1000), 0);
	assert_int_equal(fake_read(&x->f, &x->b, &x->rb, 1000), 0);
	assert_int_equal(x->ra.status, 200);
	assert_string_equal(x->ra.body, "xyz");
	assert_string_equal(fake_header(&x->ra, "grpc-status"), "0"); /* a trailer */
	assert_int_equal(x->rb.status, 200);
	assert_string_equal(fake_header(&x->rb, "grpc-status"), "14");
	assert_int_equal(x->rb.body_len, 0);
}

static void grpc_timeout_ends_the_call_and_resets_its_stream(void **state)
{
	struct fix *x = start(state, RPC_MESH);
	const char *call = CALL("grpc-timeout: 80m\r\n");

	assert_int_equal(fake_send(&x->f, x->a.fd, call, strlen(call)), 0);
	attach_endpoint(x, 0);
	end_wait(&x->f, &x->end, 1);
	assert_int_equal(x->end.nseen, 1);
	assert_int_equal(x->end.seen[0].reset, 0);
	assert_int_equal(fake_read(&x->f, &x->a, &x->ra, 1000), 0);
	assert_int_equal(x->ra.status, 200);			      /* gRPC: trailers-only */
	assert_string_equal(fake_header(&x->ra, "grpc-status"), "4"); /* DEADLINE_EXCEEDED */
	assert_string_equal(fake_header(&x->ra, "shunt-error"), "request_timeout");
	assert_string_equal(fake_header(&x->ra, "content-type"), "application/grpc");
	end_pump(&x->f, &x->end, 20);
	assert_int_equal(x->end.seen[0].reset, NGHTTP2_CANCEL + 1);
}

static void a_retriable_status_retries_on_another_stream(void **state)
{
	struct fix *x =
	    start(state, RPC_MESH RPC_ROUTE "      - retry: {attempts: 2, codes: [503], "
					    "backoff: 1ms}\n");

	assert_int_equal(fake_send(&x->f, x->a.fd, CALL(""), strlen(CALL(""))), 0);
	attach_endpoint(x, 0);
	end_wait(&x->f, &x->end, 1);
	assert_int_equal(x->end.nseen, 1);
	end_answer(&x->end, x->end.seen[0].id, "503", "no", "14");
	end_wait(&x->f, &x->end, 2);
	assert_int_equal(x->end.nseen, 2); /* the retry, on the same connection */
	assert_int_equal(x->end.seen[1].body, 3);
	end_answer(&x->end, x->end.seen[1].id, "200", "yes", "0");
	end_pump(&x->f, &x->end, 20);
	assert_int_equal(fake_read(&x->f, &x->a, &x->ra, 1000), 0);
	assert_int_equal(x->ra.status, 200);
	assert_string_equal(x->ra.body, "yes");
	assert_int_equal(x->f.nconns, 1);
	assert_int_equal(x->f.last_attempts, 2);
}

/* A chunked body's trailer fields go to an HTTP/2 endpoint as a trailing
 * HEADERS frame that ends the stream (without the fields a trailer may
 * not carry), and again with the retry's stream. */
static void request_trailers_go_on_as_trailing_headers_and_again_on_retry(void **state)
{
	struct fix *x =
	    start(state, RPC_MESH RPC_ROUTE "      - retry: {attempts: 2, codes: [503], "
					    "backoff: 1ms}\n");
	static const char call[] =
	    "POST /shunt.Echo/Unary HTTP/1.1\r\nHost: rpc\r\ncontent-type: application/grpc\r\n"
	    "te: trailers\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n"
	    "X-Checksum: abc123\r\nHost: evil\r\nContent-Length: 9\r\n\r\n";
	int i;

	assert_int_equal(fake_send(&x->f, x->a.fd, call, strlen(call)), 0);
	attach_endpoint(x, 0);
	end_wait(&x->f, &x->end, 1);
	end_answer(&x->end, x->end.seen[0].id, "503", "no", "14");
	end_wait(&x->f, &x->end, 2);
	assert_int_equal(x->end.nseen, 2);
	for (i = 0; i < 2; i++) {
		assert_int_equal(x->end.seen[i].body, 3);
		assert_string_equal(x->end.seen[i].checksum, "abc123");
		assert_int_equal(x->end.seen[i].ntrailers, 1); /* host, content-length: dropped */
		assert_true(x->end.seen[i].ended);
	}
	end_answer(&x->end, x->end.seen[1].id, "200", "yes", "0");
	end_pump(&x->f, &x->end, 20);
	assert_int_equal(fake_read(&x->f, &x->a, &x->ra, 1000), 0);
	assert_string_equal(x->ra.body, "yes");
	assert_int_equal(x->f.last_attempts, 2);
}

/* A trailers-only answer whose grpc-status the rule retries is retried;
 * one it does not list goes to the client as it is. */
static void a_listed_grpc_status_is_retried(void **state)
{
	struct fix *x =
	    start(state, RPC_MESH RPC_ROUTE "      - retry: {attempts: 2, backoff: 1ms, "
					    "grpcStatuses: [UNAVAILABLE, 8]}\n");

	assert_int_equal(fake_send(&x->f, x->a.fd, CALL(""), strlen(CALL(""))), 0);
	attach_endpoint(x, 0);
	end_wait(&x->f, &x->end, 1);
	end_answer(&x->end, x->end.seen[0].id, "200", NULL, "14"); /* UNAVAILABLE */
	end_wait(&x->f, &x->end, 2);
	assert_int_equal(x->end.nseen, 2);
	end_answer(&x->end, x->end.seen[1].id, "200", NULL, "5"); /* NOT_FOUND: not listed */
	end_pump(&x->f, &x->end, 50);
	assert_int_equal(x->end.nseen, 2);
	assert_int_equal(fake_read(&x->f, &x->a, &x->ra, 1000), 0);
	assert_string_equal(fake_header(&x->ra, "grpc-status"), "5");
	assert_int_equal(x->f.last_attempts, 2);
}

/* GOAWAY: the endpoint did not take the stream (REFUSED_STREAM), so the
 * request goes to a new connection; the old one leaves the pool. */
static void goaway_moves_requests_to_a_new_connection(void **state)
{
	struct fix *x = start(state, RPC_MESH);
	const char *get = "GET /x HTTP/1.1\r\nHost: rpc\r\n\r\n";

	assert_int_equal(fake_send(&x->f, x->a.fd, get, strlen(get)), 0);
	attach_endpoint(x, 0);
	end_wait(&x->f, &x->end, 1);
	assert_int_equal(x->end.nseen, 1);
	assert_int_equal(
	    nghttp2_submit_goaway(x->end.s, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, NULL, 0), 0);
	end_pump(&x->f, &x->end, 20);
	attach_endpoint(x, 1);
	end_wait(&x->f, &x->end, 1);
	assert_int_equal(x->end.nseen, 1);
	assert_string_equal(x->end.seen[0].path, "/x");
	end_answer(&x->end, x->end.seen[0].id, "200", "again", "0");
	end_pump(&x->f, &x->end, 20);
	assert_int_equal(fake_read(&x->f, &x->a, &x->ra, 1000), 0);
	assert_int_equal(x->ra.status, 200);
	assert_string_equal(x->ra.body, "again");
	assert_true(x->f.conns[0]->closed); /* its last stream done */
}

/* A request that arrived with its connection (read when the connection
 * was accepted, outside any turn of the loop) goes to its endpoint before
 * the loop runs again: a send put off to the end of the turn must not wait
 * for the loop's next event, which may be a minute away. */
static void a_request_read_on_accept_goes_out_without_another_event(void **state)
{
	struct fix *x = start(state, RPC_MESH);
	const struct cfg_service *rpc = &x->f.cfg.services[x->f.cfg.nservices - 1];
	struct l7_origin o = {.service_port = 50051};
	const char *get = "GET /now HTTP/1.1\r\nHost: rpc\r\n\r\n";
	char buf[256];
	int sv[2];

	/* a first request opens the connection, and it goes idle */
	assert_int_equal(fake_send(&x->f, x->a.fd, get, strlen(get)), 0);
	attach_endpoint(x, 0);
	end_wait(&x->f, &x->end, 1);
	end_answer(&x->end, x->end.seen[0].id, "200", "first", "0");
	end_pump(&x->f, &x->end, 20);
	assert_int_equal(fake_read(&x->f, &x->a, &x->ra, 1000), 0);
	assert_true(recv(x->f.conns[0]->peer.fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT) < 0);
	o.src = &x->f.cfg.workloads[0]; /* shop/client */
	memcpy(o.service_addr, rpc->vips[0].addr, 16);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	assert_int_equal(write(sv[1], get, strlen(get)), (ssize_t)strlen(get));
	l7_accept(x->f.loop, sv[0], &o);
	assert_int_equal(x->f.nconns, 1);
	/* its HEADERS frame is on the endpoint's socket already */
	assert_true(recv(x->f.conns[0]->peer.fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT) > 0);
	close(sv[1]);
}

/* A backend whose port is no L7 service's target port at its node: that
 * node relays the bytes to the pod as they are, so they stay HTTP/1.1. */
static void a_backend_its_node_only_relays_gets_http1(void **state)
{
	struct fix *x = start_on(state, MESH ROUTE "      - backendRefs: [{name: b, port: 80}]\n",
				 "n2", "shop/web", 80);
	const char *get = "GET /b HTTP/1.1\r\nHost: web\r\n\r\n";

	assert_int_equal(fake_send(&x->f, x->a.fd, get, strlen(get)), 0);
	assert_int_equal(fake_backend_read(&x->f, 1000), 0);
	assert_string_equal(x->f.conns[0]->req.url, "/b");
	assert_string_equal(x->f.conns[0]->dst, "b1");
	assert_int_equal(
	    fake_backend_write(&x->f, 0, "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"), 0);
	assert_int_equal(fake_read(&x->f, &x->a, &x->ra, 1000), 0);
	assert_int_equal(x->ra.status, 200);
	assert_string_equal(x->ra.body, "ok");
}

/* HTTP/1.1 requests to an endpoint of another node go to that node's proxy
 * as streams of one h2c connection, many at once (the destination's hop
 * reads HTTP/2 and speaks HTTP/1.1 to the endpoint), and their responses
 * reach the HTTP/1.1 clients as HTTP/1.1. An upgrade still takes an
 * HTTP/1.1 connection of its own. */
static void http1_requests_to_another_node_share_one_http2_connection(void **state)
{
	struct fix *x = start_on(state, MESH, "n2", "shop/web", 80);
	const char *get = "GET /far HTTP/1.1\r\nHost: web\r\n\r\n";
	const char *ws = "GET /ws HTTP/1.1\r\nHost: web\r\nConnection: Upgrade\r\n"
			 "Upgrade: websocket\r\n\r\n";
	struct fake_peer c = {.fd = -1};
	struct fake_msg m = {0};
	int i;

	assert_int_equal(fake_send(&x->f, x->a.fd, get, strlen(get)), 0);
	assert_int_equal(fake_send(&x->f, x->b.fd, get, strlen(get)), 0);
	attach_endpoint(x, 0);
	end_wait(&x->f, &x->end, 2);
	assert_int_equal(x->f.nconns, 1); /* both requests, one connection */
	assert_int_equal(x->end.nseen, 2);
	for (i = 0; i < 2; i++) {
		assert_string_equal(x->end.seen[i].path, "/far");
		assert_true(x->end.seen[i].ended);
		end_answer(&x->end, x->end.seen[i].id, "200", i ? "two" : "one", "0");
	}
	end_pump(&x->f, &x->end, 20);
	assert_int_equal(fake_read(&x->f, &x->a, &x->ra, 1000), 0);
	assert_int_equal(fake_read(&x->f, &x->b, &x->rb, 1000), 0);
	assert_int_equal(x->ra.status, 200);
	assert_int_equal(x->ra.http_minor, 1);
	assert_string_equal(x->ra.body, "one");
	assert_string_equal(x->rb.body, "two");
	/* the upgrade: HTTP/1.1, on a connection of its own */
	assert_int_equal(fake_client(&x->f, &c, "shop/client", "shop/web", 80), 0);
	assert_int_equal(fake_send(&x->f, c.fd, ws, strlen(ws)), 0);
	for (i = 0; i < 200 && x->f.nconns < 2; i++)
		fake_pump(&x->f, 1);
	assert_int_equal(x->f.nconns, 2);
	assert_int_equal(fake_read(&x->f, &x->f.conns[1]->peer, &m, 1000), 0);
	assert_string_equal(m.url, "/ws");
	assert_string_equal(fake_header(&m, "upgrade"), "websocket");
	fake_msg_free(&m);
	fake_peer_free(&c);
}

/* A requestMirror to a port that speaks HTTP/2 (grpc): the copy goes as an
 * h2c stream of its own connection, marked, with the whole body; the call
 * itself goes to its endpoint as ever. */
static void a_mirror_copy_to_a_grpc_port_goes_as_http2(void **state)
{
	struct fix *x =
	    start(state, RPC_MESH
		  "  - {name: shadow, namespace: shop, virtualIPs: [10.96.0.21], "
		  "ports: [{port: 50051, appProtocol: grpc}], selector: {app: b}}\n" RPC_ROUTE
		  "      - filters: [{type: RequestMirror, requestMirror: "
		  "{backendRef: {name: shadow, port: 50051}}}]\n");
	struct h2_end call = {};
	int i, copy = -1;

	assert_int_equal(fake_send(&x->f, x->a.fd, CALL(""), strlen(CALL(""))), 0);
	for (i = 0; i < 200 && x->f.nconns < 2; i++)
		fake_pump(&x->f, 1);
	assert_int_equal(x->f.nconns, 2);
	for (i = 0; i < 2; i++)
		if (!strcmp(x->f.conns[i]->dst, "b1"))
			copy = i;
	assert_true(copy >= 0);
	attach_endpoint(x, copy);
	end_start(&call, x->f.conns[1 - copy]->peer.fd);
	end_wait(&x->f, &x->end, 1);
	assert_int_equal(x->end.nseen, 1);
	assert_string_equal(x->end.seen[0].path, "/shunt.Echo/Unary");
	assert_string_equal(x->end.seen[0].mirror, "rpc-shadow");
	assert_int_equal(x->end.seen[0].body, 3);
	assert_true(x->end.seen[0].ended);
	end_wait(&x->f, &call, 1);
	assert_int_equal(call.nseen, 1);
	assert_string_equal(call.seen[0].mirror, ""); /* the call is not marked */
	end_answer(&call, call.seen[0].id, "200", "xyz", "0");
	end_pump(&x->f, &call, 20);
	assert_int_equal(fake_read(&x->f, &x->a, &x->ra, 1000), 0);
	assert_string_equal(x->ra.body, "xyz");
	nghttp2_session_del(call.s);
}

/* Tracing (docs/telemetry.md): the context goes on in the stream's
 * headers, with the span the proxy reports as parent: its SERVER span, the
 * endpoint being of this node, whose parent is its CLIENT span. */
static void a_call_to_an_http2_endpoint_carries_the_span_context(void **state)
{
	struct fix *x = start(state, RPC_MESH "tracing: {sampling: 0, zipkin: {url: "
					      "\"http://127.0.0.1:9/api/v2/spans\"}}\n");
	static const char call[] = CALL("x-b3-traceid: 463ac35c9f6413ad\r\nx-b3-spanid: "
					"a2fb4a1d1a96d312\r\nx-b3-sampled: 1\r\n");
	char id[17];

	assert_int_equal(fake_send(&x->f, x->a.fd, call, strlen(call)), 0);
	attach_endpoint(x, 0);
	end_wait(&x->f, &x->end, 1);
	end_answer(&x->end, x->end.seen[0].id, "200", "xyz", "0");
	end_pump(&x->f, &x->end, 20);
	assert_int_equal(fake_read(&x->f, &x->a, &x->ra, 1000), 0);
	fake_settle(&x->f);
	assert_int_equal(x->f.nspans, 1);
	assert_int_equal(x->f.nserver_spans, 1);
	snprintf(id, sizeof(id), "%016llx", (unsigned long long)x->f.last_server_span.id);
	assert_string_equal(x->end.seen[0].b3_span, id);
	snprintf(id, sizeof(id), "%016llx", (unsigned long long)x->f.last_span.id);
	assert_string_equal(x->end.seen[0].b3_parent, id);
	assert_int_equal(x->f.last_span.parent, 0xa2fb4a1d1a96d312ull);
}

/* A new trace's context, as the endpoint got it: both formats, the same
 * ids, not sampled. */
static void expect_new_trace_unsampled(const struct h2_seen *r)
{
	char want[64];

	assert_int_equal(strlen(r->b3_trace), 32);
	assert_int_equal(strlen(r->b3_span), 16);
	assert_string_equal(r->b3_sampled, "0");
	assert_string_equal(r->b3_parent, "");
	snprintf(want, sizeof(want), "00-%s-%s-00", r->b3_trace, r->b3_span);
	assert_string_equal(r->traceparent, want);
}

/* The trace context and the request id are new on every request: HPACK
 * gets them never indexed, so they do not push the fields that repeat out
 * of the endpoint's dynamic table (docs/telemetry.md "Overhead"). Their
 * names repeat: the connection's first request sends them indexed, and
 * later ones send the new values with the names from the table. */
static void fields_new_on_every_request_stay_out_of_the_hpack_table(void **state)
{
	struct fix *x = start(state, RPC_MESH
			      "tracing: {sampling: 0, newTraceHeaders: [b3, w3c], zipkin: {url: "
			      "\"http://127.0.0.1:9/api/v2/spans\"}}\n");
	static const char one[] = CALL("x-request-id: 7f7b4e2c-1\r\nuser-agent: grpc-c/1\r\n");
	static const char two[] = CALL("x-request-id: 0a9d33e1-2\r\nuser-agent: grpc-c/1\r\n");
	/* x-request-id, and the new trace: x-b3-traceid, x-b3-spanid, traceparent */
	const size_t names = 12 + 12 + 11 + 11, values = 10 + 32 + 16 + 55;
	size_t table;

	assert_int_equal(fake_send(&x->f, x->a.fd, one, strlen(one)), 0);
	attach_endpoint(x, 0);
	end_wait(&x->f, &x->end, 1);
	table = nghttp2_session_get_hd_inflate_dynamic_table_size(x->end.s);
	/* the first: indexed, names and values (32 bytes more each, RFC 7541 4.1) */
	assert_int_equal(x->end.seen[0].never_indexed, 0);
	expect_new_trace_unsampled(&x->end.seen[0]);
	assert_true(table >= 4 * 32 + names + 10 + 32 + 16 + 55);
	end_answer(&x->end, x->end.seen[0].id, "200", "xyz", "0");
	end_pump(&x->f, &x->end, 20);
	assert_int_equal(fake_read(&x->f, &x->a, &x->ra, 1000), 0);
	assert_int_equal(fake_send(&x->f, x->b.fd, two, strlen(two)), 0);
	end_wait(&x->f, &x->end, 2);
	assert_int_equal(x->f.nconns, 1);
	assert_int_equal(x->end.seen[1].never_indexed, 4);
	expect_new_trace_unsampled(&x->end.seen[1]);
	assert_string_not_equal(x->end.seen[1].b3_trace, x->end.seen[0].b3_trace);
	/* everything else repeated, and was indexed by the first request */
	assert_int_equal(nghttp2_session_get_hd_inflate_dynamic_table_size(x->end.s), table);
	/* the new values, Huffman-coded (shorter than as they are), a byte or
	 * two for each name, a byte or two for each field that repeats, and
	 * :path (never indexed by nghttp2): 118 bytes; with the names sent as
	 * they are, 153 */
	assert_true(x->end.seen[1].head_len < values + 20);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(calls_share_one_connection_and_trailers_reach_the_client,
				      teardown),
	    cmocka_unit_test_teardown(grpc_timeout_ends_the_call_and_resets_its_stream, teardown),
	    cmocka_unit_test_teardown(a_retriable_status_retries_on_another_stream, teardown),
	    cmocka_unit_test_teardown(a_listed_grpc_status_is_retried, teardown),
	    cmocka_unit_test_teardown(request_trailers_go_on_as_trailing_headers_and_again_on_retry,
				      teardown),
	    cmocka_unit_test_teardown(goaway_moves_requests_to_a_new_connection, teardown),
	    cmocka_unit_test_teardown(a_mirror_copy_to_a_grpc_port_goes_as_http2, teardown),
	    cmocka_unit_test_teardown(a_request_read_on_accept_goes_out_without_another_event,
				      teardown),
	    cmocka_unit_test_teardown(http1_requests_to_another_node_share_one_http2_connection,
				      teardown),
	    cmocka_unit_test_teardown(a_backend_its_node_only_relays_gets_http1, teardown),
	    cmocka_unit_test_teardown(a_call_to_an_http2_endpoint_carries_the_span_context,
				      teardown),
	    cmocka_unit_test_teardown(fields_new_on_every_request_stay_out_of_the_hpack_table,
				      teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
