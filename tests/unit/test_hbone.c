// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The tunnel module (proxy/hbone) on its own: an outbound and an inbound
 * loop joined by one TLS connection over loopback, driven by this test in
 * one thread, with the plain sides held here. What the proxy would decide
 * is this test's ops table.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <openssl/ssl.h>

#include "identity/ca.h"
#include "proxy/hbone/hbone.h"

/* How one side's stream ended. */
struct end_rec {
	int ended;
	struct hbone_stream_end end;
};

struct fixture {
	char root[64];
	SSL_CTX *cctx, *sctx;
	int ep_out, ep_in;
	struct hbone_loop *out, *in;
	struct hbone_tunnel *tunnel;
	enum shunt_outcome decide; /* what inbound_open answers */
	int workload[4];	   /* the test's ends of inbound streams' sockets */
	int nworkloads;
	struct end_rec out_end[4], in_end[4];
	int nout, nin;
	int refused; /* streams stream_refused opened again */
};

static struct hbone_tunnel *tunnel_pair(struct fixture *f, const char *key);

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A connected TCP pair over loopback, both non-blocking. */
static void tcp_pair(int fds[2])
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(l >= 0);
	assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(l, 1), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&a, &len), 0);
	fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_true(connect(fds[0], (struct sockaddr *)&a, sizeof(a)) == 0 || errno == EINPROGRESS);
	fds[1] = accept4(l, NULL, NULL, SOCK_NONBLOCK);
	assert_true(fds[1] >= 0);
	close(l);
}

/* ---- the ops: what the proxy would decide ------------------------------ */

static enum shunt_outcome peer_verified(void *ctx, struct hbone_tunnel *t)
{
	(void)ctx;
	hbone_tunnel_set_peer_id(t, "spiffe://test/peer");
	return SHUNT_OUT_ALLOWED;
}

static enum shunt_outcome handshake_failed(void *ctx, struct hbone_tunnel *t)
{
	(void)ctx, (void)t;
	return SHUNT_OUT_TLS_OTHER;
}

static enum shunt_outcome inbound_open(void *ctx, struct hbone_stream *s,
				       const struct hbone_request *req)
{
	struct fixture *f = ctx;
	int pair[2];

	assert_string_equal(req->source, "test/client");
	assert_string_equal(req->peer_id, "spiffe://test/peer");
	hbone_stream_set_user(s, &f->in_end[f->nin++]);
	if (f->decide != SHUNT_OUT_ALLOWED)
		return f->decide;
	tcp_pair(pair);
	assert_int_equal(hbone_stream_attach(s, pair[0]), 0);
	f->workload[f->nworkloads++] = pair[1];
	return SHUNT_OUT_ALLOWED;
}

static void stream_opened(void *ctx, struct hbone_stream *s)
{
	(void)ctx, (void)s;
}

static void stream_ended(void *ctx, struct hbone_stream *s, void *user,
			 const struct hbone_stream_end *end)
{
	struct end_rec *r = user;

	(void)ctx, (void)s;
	if (!r)
		return;
	r->ended++;
	r->end = *end;
}

static void tunnel_ended(void *ctx, struct hbone_tunnel *t, void *user, enum shunt_outcome why,
			 int nstreams)
{
	(void)ctx, (void)t, (void)user, (void)why, (void)nstreams;
}

/* As the proxy does: on another tunnel (here, a new one to the same peer). */
static enum shunt_outcome stream_refused(void *ctx, struct hbone_stream *s)
{
	struct hbone_request req = {
	    .authority = "10.0.0.2:80", .source = "test/client", .source_addr = "10.0.0.1:4000"};
	struct fixture *f = ctx;

	f->refused++;
	return hbone_stream_open(tunnel_pair(f, "k2"), s, &req) ? SHUNT_OUT_STREAM_FAILED
								: SHUNT_OUT_ALLOWED;
}

static const struct hbone_ops ops = {
    .peer_verified = peer_verified,
    .handshake_failed = handshake_failed,
    .inbound_open = inbound_open,
    .stream_opened = stream_opened,
    .stream_ended = stream_ended,
    .stream_refused = stream_refused,
    .tunnel_ended = tunnel_ended,
};

/* ---- set-up ------------------------------------------------------------ */

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	(void)ssl, (void)arg;
	return SSL_select_next_proto((unsigned char **)out, outlen,
				     (const unsigned char *)HBONE_ALPN, 3, in,
				     inlen) == OPENSSL_NPN_NEGOTIATED
		   ? SSL_TLSEXT_ERR_OK
		   : SSL_TLSEXT_ERR_ALERT_FATAL;
}

static SSL_CTX *ctx_for(struct fixture *f, bool server, const struct ca_issue_opts *o)
{
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	struct ca_identity id;
	char err[512], bundle[128];

	assert_non_null(ctx);
	assert_int_equal(ca_issue_mem(f->root, o, &id, err, sizeof(err)), 0);
	snprintf(bundle, sizeof(bundle), "%s/bundle.pem", f->root);
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	assert_int_equal(SSL_CTX_load_verify_locations(ctx, bundle, NULL), 1);
	assert_int_equal(SSL_CTX_use_certificate(ctx, id.cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(ctx, id.key), 1);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	if (server)
		SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	else
		assert_int_equal(SSL_CTX_set_alpn_protos(ctx, (const unsigned char *)HBONE_ALPN, 3),
				 0);
	ca_identity_free(&id);
	return ctx;
}

/* Runs both loops for MS milliseconds (or until DONE(F) holds). */
static void pump(struct fixture *f, int ms, bool (*done)(struct fixture *f))
{
	int64_t until = now_ms() + ms;
	struct epoll_event evs[16];
	int n, i, k;

	while (now_ms() < until && !(done && done(f))) {
		for (k = 0; k < 2; k++) {
			struct hbone_loop *l = k ? f->in : f->out;

			n = epoll_wait(k ? f->ep_in : f->ep_out, evs, 16, 1);
			for (i = 0; i < n; i++)
				hbone_loop_event(l, evs[i].data.ptr);
			hbone_loop_reap(l);
		}
	}
}

static bool tunnel_up(struct fixture *f)
{
	/* A tunnel takes streams once the handshake is done (pool_find). */
	return hbone_pool_find(f->out, "k", 0, 0) != NULL;
}

/* A tunnel from the outbound loop to the inbound one, pooled as KEY
 * (connecting: streams wait for its handshake). */
static struct hbone_tunnel *tunnel_pair(struct fixture *f, const char *key)
{
	struct hbone_tunnel *t;
	SSL *cs, *ss;
	int fds[2];

	tcp_pair(fds);
	cs = SSL_new(f->cctx);
	ss = SSL_new(f->sctx);
	SSL_set_fd(cs, fds[0]);
	SSL_set_fd(ss, fds[1]);
	SSL_set_connect_state(cs);
	SSL_set_accept_state(ss);
	t = hbone_tunnel_new(f->out, HBONE_OUTBOUND, fds[0], cs, false, 0, NULL);
	assert_non_null(t);
	hbone_tunnel_set_key(t, key);
	assert_non_null(hbone_tunnel_new(f->in, HBONE_INBOUND, fds[1], ss, false, 0, NULL));
	return t;
}

static int setup(void **state)
{
	struct ca_issue_opts client = {.ns = "test", .service_account = "client"};
	struct ca_issue_opts node = {.node = "n2"};
	struct fixture *f = calloc(1, sizeof(*f));
	char err[512];

	snprintf(f->root, sizeof(f->root), "/tmp/shunt-hbone-test.XXXXXX");
	assert_non_null(mkdtemp(f->root));
	assert_int_equal(ca_init(f->root, "cluster.local", 1, err, sizeof(err)), 0);
	f->cctx = ctx_for(f, false, &client);
	f->sctx = ctx_for(f, true, &node);
	f->ep_out = epoll_create1(0);
	f->ep_in = epoll_create1(0);
	f->out = hbone_loop_new(f->ep_out, &ops, f);
	f->in = hbone_loop_new(f->ep_in, &ops, f);
	f->tunnel = tunnel_pair(f, "k");
	*state = f;
	pump(f, 3000, tunnel_up);
	assert_true(tunnel_up(f));
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];
	int i;

	hbone_loop_free(f->out);
	hbone_loop_free(f->in);
	for (i = 0; i < f->nworkloads; i++)
		close(f->workload[i]);
	close(f->ep_out);
	close(f->ep_in);
	SSL_CTX_free(f->cctx);
	SSL_CTX_free(f->sctx);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
	free(f);
	return system(cmd);
}

/* A client connection as a stream over the tunnel: the test's end. */
static int open_stream(struct fixture *f)
{
	struct hbone_request req = {
	    .authority = "10.0.0.2:80", .source = "test/client", .source_addr = "10.0.0.1:4000"};
	struct hbone_stream *s;
	int pair[2];

	tcp_pair(pair);
	s = hbone_stream_new(f->out, pair[0], &f->out_end[f->nout++]);
	assert_non_null(s);
	assert_int_equal(hbone_stream_open(f->tunnel, s, &req), 0);
	return pair[1];
}

/* The byte at offset I of a stream: what arrives is checked, not just counted. */
static unsigned char pattern(size_t i)
{
	return (unsigned char)(i * 7 + (i >> 12));
}

struct flow {
	int from, to;
	size_t sent, got, want;
	bool bad;
};

/* Moves what it can of FL (WANT bytes in all) and checks what arrived. */
static void flow_step(struct flow *fl)
{
	unsigned char buf[65536];
	ssize_t n;
	size_t i;

	while (fl->sent < fl->want) {
		size_t len = fl->want - fl->sent < sizeof(buf) ? fl->want - fl->sent : sizeof(buf);

		for (i = 0; i < len; i++)
			buf[i] = pattern(fl->sent + i);
		n = write(fl->from, buf, len);
		if (n <= 0)
			break;
		fl->sent += (size_t)n;
	}
	while ((n = read(fl->to, buf, sizeof(buf))) > 0) {
		for (i = 0; i < (size_t)n; i++)
			fl->bad |= buf[i] != pattern(fl->got + i);
		fl->got += (size_t)n;
	}
}

/* Runs FL (and the loops) until all of it arrived or MS passed. */
static void flow_run(struct fixture *f, struct flow *fl, int ms)
{
	int64_t until = now_ms() + ms;

	while (fl->got < fl->want && now_ms() < until) {
		flow_step(fl);
		pump(f, 2, NULL);
	}
}

/* Reads FD until EOF (0), an error (-errno) or MS pass (1). */
static int read_to_end(struct fixture *f, int fd, int ms)
{
	int64_t until = now_ms() + ms;
	char buf[4096];
	ssize_t n;

	while (now_ms() < until) {
		n = read(fd, buf, sizeof(buf));
		if (n == 0)
			return 0;
		if (n < 0 && errno != EAGAIN)
			return -errno;
		pump(f, 2, NULL);
	}
	return 1;
}

static bool both_ended(struct fixture *f)
{
	return f->out_end[0].ended && f->in_end[0].ended;
}

/* ---- tests ------------------------------------------------------------- */

static bool workload_connected(struct fixture *f)
{
	return f->nworkloads == f->nout;
}

/* Opens a stream and waits for its inbound side: the test's two ends. */
static void connect_stream(struct fixture *f, int *client, int *workload)
{
	*client = open_stream(f);
	pump(f, 2000, workload_connected);
	assert_true(workload_connected(f));
	*workload = f->workload[f->nworkloads - 1];
}

/* 4 MiB up, the client half-closes, the server reads to EOF, answers 1 MiB
 * and closes: every byte arrives, both ends see EOF, both streams close. */
static void test_stream_carries_half_close_both_ways(void **state)
{
	struct fixture *f = *state;
	int client, workload;
	struct flow up, down;

	connect_stream(f, &client, &workload);
	up = (struct flow){.from = client, .to = workload, .want = 4 << 20};
	flow_run(f, &up, 10000);
	assert_int_equal(up.got, up.want);
	assert_false(up.bad);
	shutdown(client, SHUT_WR);
	assert_int_equal(read_to_end(f, workload, 3000), 0); /* EOF came through */
	down = (struct flow){.from = workload, .to = client, .want = 1 << 20};
	flow_run(f, &down, 10000);
	assert_int_equal(down.got, down.want);
	assert_false(down.bad);
	shutdown(workload, SHUT_WR);
	assert_int_equal(read_to_end(f, client, 3000), 0);
	pump(f, 2000, both_ended);
	assert_int_equal(f->out_end[0].ended, 1);
	assert_int_equal(f->out_end[0].end.outcome, SHUNT_OUT_CLOSED);
	assert_false(f->out_end[0].end.reset);
	assert_int_equal(f->out_end[0].end.from_plain, 4 << 20);
	assert_int_equal(f->out_end[0].end.to_plain, 1 << 20);
	assert_int_equal(f->in_end[0].end.outcome, SHUNT_OUT_CLOSED);
	assert_int_equal(f->in_end[0].end.to_plain, 4 << 20);
	close(client);
}

/* A server that stops reading holds up only its own stream: the tunnel
 * keeps at most a window of it, another stream on the same tunnel carries
 * 8 MiB meanwhile, and once the server reads again nothing is missing. */
static void test_stalled_stream_holds_only_its_window(void **state)
{
	struct fixture *f = *state;
	int c1, w1, c2, w2;
	struct flow stalled, other;
	size_t before;

	connect_stream(f, &c1, &w1);
	connect_stream(f, &c2, &w2);
	/* w1 is not read: what c1 can send is bounded. */
	stalled = (struct flow){.from = c1, .to = -1, .want = 64 << 20};
	do {
		before = stalled.sent;
		flow_step(&stalled);
		pump(f, 200, NULL);
	} while (stalled.sent > before && stalled.sent < stalled.want);
	assert_true(stalled.sent < 16 << 20); /* window + socket buffers, not all */
	other = (struct flow){.from = c2, .to = w2, .want = 8 << 20};
	flow_run(f, &other, 10000);
	assert_int_equal(other.got, other.want);
	assert_false(other.bad);
	/* Now read the stalled one: it goes on, intact. */
	stalled.to = w1;
	stalled.want = stalled.sent + (4 << 20);
	flow_run(f, &stalled, 10000);
	assert_int_equal(stalled.got, stalled.want);
	assert_false(stalled.bad);
	assert_int_equal(f->out_end[0].ended + f->in_end[0].ended, 0);
	close(c1);
	close(c2);
}

/* A client that resets its connection: the server's end is reset too, and
 * both streams end as reset (not closed). */
static void test_reset_reaches_the_other_end(void **state)
{
	struct fixture *f = *state;
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	int client, workload;
	struct flow up;

	connect_stream(f, &client, &workload);
	up = (struct flow){.from = client, .to = workload, .want = 64 << 10};
	flow_run(f, &up, 5000);
	assert_int_equal(up.got, up.want);
	setsockopt(client, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(client);
	assert_int_equal(read_to_end(f, workload, 3000), -ECONNRESET);
	pump(f, 2000, both_ended);
	assert_int_equal(f->out_end[0].end.outcome, SHUNT_OUT_RESET);
	assert_true(f->in_end[0].end.reset);
	assert_int_not_equal(f->in_end[0].end.outcome, SHUNT_OUT_CLOSED);
}

/* A refusal on the inbound side reaches the outbound side as its outcome
 * (the shunt-outcome header), and the client's connection is not opened. */
static void test_refusal_arrives_with_its_outcome(void **state)
{
	struct fixture *f = *state;
	int client;

	f->decide = SHUNT_OUT_POLICY_DENIED;
	client = open_stream(f);
	pump(f, 3000, both_ended);
	assert_int_equal(f->in_end[0].end.outcome, SHUNT_OUT_POLICY_DENIED);
	assert_int_equal(f->out_end[0].end.outcome, SHUNT_OUT_POLICY_DENIED);
	assert_int_not_equal(read_to_end(f, client, 1000), 1); /* ended, not left open */
	close(client);
}

/* The other node's proxy goes away (its tunnel dies) just after a stream
 * was submitted on it, before anything of that stream went: the stream is
 * opened again on another tunnel, where it carries its bytes. One that
 * was answered already ends with the tunnel. */
static void test_a_stream_whose_tunnel_dies_before_anything_went_goes_on_another(void **state)
{
	struct fixture *f = *state;
	int client, workload, late;
	struct flow up;

	connect_stream(f, &client, &workload);
	up = (struct flow){.from = client, .to = workload, .want = 4096};
	flow_run(f, &up, 5000); /* the first stream has carried bytes */
	late = open_stream(f);	/* submitted, not sent yet */
	shutdown(hbone_tunnel_fd(f->tunnel), SHUT_RDWR);
	pump(f, 3000, workload_connected);
	assert_int_equal(f->refused, 1);
	assert_true(workload_connected(f));
	up = (struct flow){.from = late, .to = f->workload[1], .want = 256 << 10};
	flow_run(f, &up, 5000);
	assert_int_equal(up.got, up.want);
	assert_false(up.bad);
	assert_int_equal(f->out_end[1].ended, 0);
	assert_int_equal(f->out_end[0].ended, 1);
	assert_int_equal(f->out_end[0].end.outcome, SHUNT_OUT_TUNNEL_GONE);
	close(late);
	close(client);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_stream_carries_half_close_both_ways, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_stalled_stream_holds_only_its_window, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_reset_reaches_the_other_end, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refusal_arrives_with_its_outcome, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_a_stream_whose_tunnel_dies_before_anything_went_goes_on_another, setup,
		teardown),
	};

	signal(SIGPIPE, SIG_IGN); /* as the proxy: a dead tunnel is an error, not a signal */

	return cmocka_run_group_tests(tests, NULL, NULL);
}
