// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The L7 engine's fake owner and the test's ends of its sockets (l7_fake.h). */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/addr.h"
#include "l7_fake.h"
#include "model/http_route.h"
#include "sources/yaml_source.h"

int64_t fake_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the ops ------------------------------------------------------------ */

static const struct mesh_config *op_model(void *ctx, __u64 *version)
{
	struct l7_fake *f = ctx;

	*version = f->version;
	return &f->cfg;
}

static void *op_hold(void *ctx)
{
	struct l7_fake *f = ctx;

	f->holds++;
	return f;
}

static void op_release(void *ctx, void *hold)
{
	struct l7_fake *f = ctx;

	if (hold == f)
		f->holds--;
}

static void peer_init(struct fake_peer *p, int fd, enum http_parser_type type, struct fake_msg *m)
{
	memset(p, 0, sizeof(*p));
	p->fd = fd;
	p->msg = m;
	http_parser_init(&p->parser, type);
	p->parser.data = p;
}

static enum shunt_outcome op_connect(void *ctx, const struct l7_target *t, int *fd, void **token)
{
	struct l7_fake *f = ctx;
	struct fake_conn *c;
	int sv[2];

	if (f->refuse != SHUNT_OUT_ALLOWED)
		return f->refuse;
	if (f->nconns == FAKE_MAX_CONNS || !(c = calloc(1, sizeof(*c))))
		return SHUNT_OUT_SOCKET_FAILED;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv)) {
		free(c);
		return SHUNT_OUT_SOCKET_FAILED;
	}
	/* past net.core.wmem_max only with CAP_NET_ADMIN; else as near as allowed */
	if (f->up_sndbuf &&
	    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUFFORCE, &f->up_sndbuf, sizeof(f->up_sndbuf)))
		(void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &f->up_sndbuf, sizeof(f->up_sndbuf));
	f->conns[f->nconns] = c;
	peer_init(&c->peer, sv[1], HTTP_REQUEST, &c->req);
	snprintf(c->dst, sizeof(c->dst), "%s", t->dst ? t->dst->name : "?");
	c->port = t->port;
	c->inbound = t->inbound;
	c->failure = SHUNT_OUT_ALLOWED;
	if (f->refuse_dst && !strcmp(c->dst, f->refuse_dst)) {
		close(sv[1]);
		c->peer.fd = -1;
		c->failure = SHUNT_OUT_UPSTREAM_REFUSED;
	}
	*fd = sv[0];
	*token = (void *)(intptr_t)++f->nconns;
	return SHUNT_OUT_ALLOWED;
}

static struct fake_conn *conn_of(struct l7_fake *f, void *token)
{
	intptr_t i = (intptr_t)token;

	return i >= 1 && i <= f->nconns ? f->conns[i - 1] : NULL;
}

static enum shunt_outcome op_failure(void *ctx, void *token)
{
	struct fake_conn *c = conn_of(ctx, token);

	return c ? c->failure : SHUNT_OUT_ALLOWED;
}

/* An endpoint of another node than the fake's is behind a node proxy,
 * which reads requests again at the target port of an L7 service port. */
static bool op_multiplexed(void *ctx, const struct mesh_config *cfg, const struct l7_target *t)
{
	const struct l7_fake *f = ctx;
	const struct cfg_service_port *sp;
	size_t from = 0;

	return strcmp(t->dst->node, f->node ? f->node : "n1") &&
	       cfg_l7_service_of_endpoint(cfg, t->dst, t->port, &from, &sp);
}

static bool op_reusable(void *ctx, void *token)
{
	struct fake_conn *c = conn_of(ctx, token);

	return !c || !c->goaway;
}

static void op_closed(void *ctx, void *token)
{
	struct fake_conn *c = conn_of(ctx, token);

	if (c)
		c->closed = true;
}

static void op_request_done(void *ctx, const struct l7_done *d)
{
	struct l7_fake *f = ctx;

	f->ndone++;
	f->last_status = d->status;
	f->last_outcome = d->outcome;
	f->last_attempts = d->attempts;
	f->last_request_bytes = d->request_bytes;
	f->last_response_bytes = d->response_bytes;
	f->last_grpc = d->grpc;
	f->last_grpc_status = d->grpc_status;
	f->last_service = d->service;
	f->last_src = d->src;
	f->last_dst = d->t ? d->t->dst : NULL;
	f->last_duration_us = d->duration_us;
	f->last_inbound = d->inbound;
	snprintf(f->last_trace_id, sizeof(f->last_trace_id), "%s", d->trace_id ? d->trace_id : "");
	if (d->span) {
		f->nspans++;
		f->last_span = *d->span;
	}
	if (d->server_span) {
		f->nserver_spans++;
		f->last_server_span = *d->server_span;
	}
}

static const struct l7_ops fake_ops = {
    .model = op_model,
    .hold_model = op_hold,
    .release_model = op_release,
    .connect = op_connect,
    .multiplexed = op_multiplexed,
    .failure = op_failure,
    .reusable = op_reusable,
    .closed = op_closed,
    .request_done = op_request_done,
};

int fake_init(struct l7_fake *f, const char *yaml, char *err, size_t errlen)
{
	struct cfg_error cerr = {};
	int rc;

	memset(f, 0, sizeof(*f));
	f->refuse = SHUNT_OUT_ALLOWED;
	f->version = 1;
	rc = mesh_config_parse(&f->cfg, "l7.yaml", yaml, strlen(yaml), &cerr);
	if (rc) {
		snprintf(err, errlen, "%s", cerr.msg);
		return rc;
	}
	f->loop = l7_loop_new(&fake_ops, f, "shunt-proxy/test");
	if (!f->loop) {
		mesh_config_free(&f->cfg);
		snprintf(err, errlen, "l7_loop_new failed");
		return -ENOMEM;
	}
	return 0;
}

int fake_fini(struct l7_fake *f)
{
	int i;

	l7_loop_free(f->loop);
	for (i = 0; i < f->nconns; i++) {
		fake_peer_free(&f->conns[i]->peer);
		fake_msg_free(&f->conns[i]->req);
		free(f->conns[i]);
	}
	mesh_config_free(&f->cfg);
	return f->holds;
}

struct fake_fix *fake_fix_new(const char *yaml, char *err, size_t errlen)
{
	struct fake_fix *x = calloc(1, sizeof(*x));
	int ret;

	if (!x) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	x->client.fd = -1;
	if (fake_init(&x->f, yaml, err, errlen))
		goto fail;
	if ((ret = fake_client(&x->f, &x->client, "shop/client", "shop/web", 80))) {
		snprintf(err, errlen, "no client of shop/web:80: %s", strerror(-ret));
		goto fail;
	}
	return x;
fail:
	fake_fix_free(x);
	return NULL;
}

int fake_fix_free(struct fake_fix *x)
{
	int holds;

	if (!x)
		return 0;
	fake_peer_free(&x->client);
	fake_msg_free(&x->resp);
	holds = fake_fini(&x->f);
	free(x);
	return holds;
}

static const struct cfg_workload *workload_named(const struct mesh_config *cfg, const char *q)
{
	size_t i, nslen = strcspn(q, "/");

	for (i = 0; i < cfg->nworkloads; i++)
		if (strlen(cfg->workloads[i].ns) == nslen &&
		    !strncmp(cfg->workloads[i].ns, q, nslen) &&
		    !strcmp(cfg->workloads[i].name, q + nslen + (q[nslen] == '/')))
			return &cfg->workloads[i];
	return NULL;
}

int fake_client(struct l7_fake *f, struct fake_peer *p, const char *src, const char *service,
		__u16 port)
{
	struct l7_origin o = {.service_port = port};
	const struct cfg_service *s = NULL;
	size_t i, nslen = strcspn(service, "/");
	int sv[2];

	o.src = workload_named(&f->cfg, src);
	for (i = 0; i < f->cfg.nservices && !s; i++)
		if (strlen(f->cfg.services[i].ns) == nslen &&
		    !strncmp(f->cfg.services[i].ns, service, nslen) &&
		    !strcmp(f->cfg.services[i].name, service + nslen + 1))
			s = &f->cfg.services[i];
	if (!s || !s->nvips)
		return -ENOENT;
	memcpy(o.service_addr, s->vips[0].addr, 16);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv))
		return -errno;
	peer_init(p, sv[1], HTTP_RESPONSE, NULL);
	l7_accept(f->loop, sv[0], &o);
	return 0;
}

int fake_inbound_client(struct l7_fake *f, struct fake_peer *p, const char *src, const char *dst,
			__u16 port)
{
	struct l7_origin o = {.service_port = port, .inbound = true};
	int sv[2];

	o.src = workload_named(&f->cfg, src);
	o.dst = workload_named(&f->cfg, dst);
	if (!o.src || !o.dst || !o.dst->naddrs)
		return -ENOENT;
	memcpy(o.service_addr, o.dst->addrs[0].addr, 16);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv))
		return -errno;
	peer_init(p, sv[1], HTTP_RESPONSE, NULL);
	l7_accept(f->loop, sv[0], &o);
	return 0;
}

void fake_peer_free(struct fake_peer *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	free(p->in);
	p->in = NULL;
}

void fake_msg_free(struct fake_msg *m)
{
	free(m->body);
	m->body = NULL;
	m->body_len = m->body_cap = 0;
}

void fake_pump(struct l7_fake *f, int ms)
{
	int64_t end = fake_now_ms() + ms;
	struct pollfd pfd = {.fd = l7_loop_fd(f->loop), .events = POLLIN};

	do {
		int64_t left = end - fake_now_ms();

		poll(&pfd, 1, left > 0 ? (int)left : 0);
		l7_loop_run(f->loop);
	} while (fake_now_ms() < end);
}

void fake_settle(struct l7_fake *f)
{
	struct pollfd pfd = {.fd = l7_loop_fd(f->loop), .events = POLLIN};
	int i;

	for (i = 0; i < 1000; i++) {
		l7_loop_run(f->loop);
		if (poll(&pfd, 1, 0) <= 0)
			break;
	}
}

int fake_send(struct l7_fake *f, int fd, const void *buf, size_t len)
{
	const char *p = buf;
	int64_t end = fake_now_ms() + 5000;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno != EAGAIN)
			return -errno;
		if (n < 0 && fake_now_ms() > end)
			return -ETIMEDOUT;
		if (n < 0) {
			fake_pump(f, 1);
			continue;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
