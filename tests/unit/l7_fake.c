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

#define FAKE_BODY_MAX (16u << 20)

static int64_t now_ms(void)
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
	int64_t end = now_ms() + ms;
	struct pollfd pfd = {.fd = l7_loop_fd(f->loop), .events = POLLIN};

	do {
		int64_t left = end - now_ms();

		poll(&pfd, 1, left > 0 ? (int)left : 0);
		l7_loop_run(f->loop);
	} while (now_ms() < end);
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
	int64_t end = now_ms() + 5000;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno != EAGAIN)
			return -errno;
		if (n < 0 && now_ms() > end)
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

/* ---- reading messages --------------------------------------------------- */

static struct fake_msg *msg_of(http_parser *hp)
{
	return ((struct fake_peer *)hp->data)->msg;
}

static void append(char *dst, size_t cap, const char *at, size_t len)
{
	size_t old = strlen(dst);

	if (old + len >= cap)
		len = cap - old - 1;
	memcpy(dst + old, at, len);
	dst[old + len] = 0;
}

static int on_begin(http_parser *hp)
{
	struct fake_msg *m = msg_of(hp);

	m->status = m->nheaders = 0;
	m->method[0] = m->url[0] = 0;
	m->body_len = 0;
	if (m->body)
		m->body[0] = 0;
	m->chunked = m->complete = false;
	((struct fake_peer *)hp->data)->in_value = true;
	return 0;
}

static int on_url(http_parser *hp, const char *at, size_t len)
{
	append(msg_of(hp)->url, sizeof(msg_of(hp)->url), at, len);
	return 0;
}

static int on_field(http_parser *hp, const char *at, size_t len)
{
	struct fake_peer *p = hp->data;
	struct fake_msg *m = p->msg;

	if (p->in_value) {
		p->in_value = false;
		if (m->nheaders == FAKE_MAX_HEADERS)
			return 0; /* the rest are not kept */
		m->nheaders++;
		m->headers[m->nheaders - 1].name[0] = 0;
		m->headers[m->nheaders - 1].value[0] = 0;
	}
	if (m->nheaders && m->nheaders < FAKE_MAX_HEADERS)
		append(m->headers[m->nheaders - 1].name, 64, at, len);
	return 0;
}

static int on_value(http_parser *hp, const char *at, size_t len)
{
	struct fake_peer *p = hp->data;
	struct fake_msg *m = p->msg;

	p->in_value = true;
	if (m->nheaders && m->nheaders < FAKE_MAX_HEADERS)
		append(m->headers[m->nheaders - 1].value, 256, at, len);
	return 0;
}

static int on_headers_complete(http_parser *hp)
{
	struct fake_peer *p = hp->data;
	struct fake_msg *m = p->msg;

	m->status = hp->status_code;
	m->http_minor = hp->http_minor;
	m->chunked = hp->flags & F_CHUNKED;
	if (hp->type == HTTP_REQUEST)
		snprintf(m->method, sizeof(m->method), "%s", http_method_str(hp->method));
	return hp->type == HTTP_RESPONSE && p->head_request ? 1 : 0;
}

static int on_body(http_parser *hp, const char *at, size_t len)
{
	struct fake_msg *m = msg_of(hp);

	if (m->body_len + len + 1 > m->body_cap) {
		size_t need = m->body_len + len + 1, cap = need * 2;
		char *b;

		if (cap > FAKE_BODY_MAX)
			cap = need; /* up to the limit exactly, not refused below it */
		if (need > FAKE_BODY_MAX || !(b = realloc(m->body, cap)))
			return -1;
		m->body = b;
		m->body_cap = cap;
	}
	memcpy(m->body + m->body_len, at, len);
	m->body_len += len;
	m->body[m->body_len] = 0;
	return 0;
}

static int on_complete(http_parser *hp)
{
	struct fake_peer *p = hp->data;

	/* an upgrade request (as the proxy forwards it) or a 101 */
	p->upgraded = hp->upgrade && (hp->type == HTTP_RESPONSE || hp->method != HTTP_CONNECT);
	msg_of(hp)->complete = true;
	http_parser_pause(hp, 1);
	return 0;
}

static const http_parser_settings fake_settings = {
    .on_message_begin = on_begin,
    .on_url = on_url,
    .on_header_field = on_field,
    .on_header_value = on_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_complete,
};

/* 1: a message is complete, 0: more bytes needed, -EPROTO, -EPIPE. */
static int peer_parse(struct fake_peer *p)
{
	enum http_errno e;
	size_t n;

	if (p->upgraded) /* what follows is another protocol's: the test reads it raw */
		return p->eof && p->in_off == p->in_len ? -EPIPE : 0;
	if (p->parser.http_errno == HPE_PAUSED)
		http_parser_pause(&p->parser, 0);
	if (p->in_len > p->in_off) {
		n = http_parser_execute(&p->parser, &fake_settings, p->in + p->in_off,
					p->in_len - p->in_off);
		p->in_off += n;
	}
	e = HTTP_PARSER_ERRNO(&p->parser);
	if (e == HPE_OK && p->eof && p->in_off == p->in_len && !p->eof_parsed) {
		p->eof_parsed = true;
		/* the end of a close-delimited body */
		http_parser_execute(&p->parser, &fake_settings, NULL, 0);
		e = HTTP_PARSER_ERRNO(&p->parser);
	}
	if (e == HPE_PAUSED && p->msg->complete)
		return 1;
	if (e != HPE_OK && e != HPE_PAUSED)
		return p->eof && p->in_off == p->in_len ? -EPIPE : -EPROTO;
	return p->eof && p->in_off == p->in_len ? -EPIPE : 0;
}

static void peer_recv(struct fake_peer *p)
{
	for (;;) {
		ssize_t n;

		if (p->in_cap - p->in_len < 65536) {
			size_t cap = p->in_cap ? p->in_cap * 2 : 131072;
			char *b = realloc(p->in, cap);

			if (!b)
				return;
			p->in = b;
			p->in_cap = cap;
		}
		n = recv(p->fd, p->in + p->in_len, p->in_cap - p->in_len, 0);
		if (n > 0) {
			p->in_len += (size_t)n;
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			p->eof = true;
		return;
	}
}

int fake_read(struct l7_fake *f, struct fake_peer *p, struct fake_msg *m, int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;
	struct pollfd pfd[2] = {{.fd = l7_loop_fd(f->loop), .events = POLLIN},
				{.fd = p->fd, .events = POLLIN}};
	int rc;

	p->msg = m;
	m->complete = false;
	for (;;) {
		rc = peer_parse(p);
		if (rc)
			return rc > 0 ? 0 : rc;
		if (now_ms() > end)
			return -ETIMEDOUT;
		poll(pfd, 2, 5);
		l7_loop_run(f->loop);
		peer_recv(p);
	}
}

/* A connection whose peer may still bring a request. */
static bool peer_open(const struct fake_peer *p)
{
	return p->fd >= 0 && !(p->eof && p->in_off == p->in_len);
}

int fake_backend_poll(struct l7_fake *f)
{
	int i, pass;

	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < f->nconns; i++)
			if (peer_open(&f->conns[i]->peer) && peer_parse(&f->conns[i]->peer) == 1)
				return i;
		for (i = 0; pass == 0 && i < f->nconns; i++)
			if (f->conns[i]->peer.fd >= 0 && !f->conns[i]->peer.eof)
				peer_recv(&f->conns[i]->peer);
	}
	return -EAGAIN;
}

int fake_backend_read(struct l7_fake *f, int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;
	struct pollfd pfd[FAKE_MAX_CONNS + 1];
	int i, conn;

	for (;;) {
		l7_loop_run(f->loop);
		conn = fake_backend_poll(f);
		if (conn >= 0)
			return conn;
		if (now_ms() > end)
			return -ETIMEDOUT;
		pfd[0] = (struct pollfd){.fd = l7_loop_fd(f->loop), .events = POLLIN};
		for (i = 0; i < f->nconns; i++)
			pfd[i + 1] = (struct pollfd){
			    .fd = peer_open(&f->conns[i]->peer) ? f->conns[i]->peer.fd : -1,
			    .events = POLLIN};
		poll(pfd, (nfds_t)f->nconns + 1, 5);
	}
}

int fake_backend_write(struct l7_fake *f, int conn, const char *raw)
{
	return fake_send(f, f->conns[conn]->peer.fd, raw, strlen(raw));
}

const char *fake_header(const struct fake_msg *m, const char *name)
{
	int i;

	for (i = 0; i < m->nheaders; i++)
		if (!strcasecmp(m->headers[i].name, name))
			return m->headers[i].value;
	return NULL;
}

int fake_header_count(const struct fake_msg *m, const char *name)
{
	int i, n = 0;

	for (i = 0; i < m->nheaders; i++)
		n += !strcasecmp(m->headers[i].name, name);
	return n;
}

int fake_exchange(struct l7_fake *f, struct fake_peer *client, const char *request,
		  const char *response, struct fake_msg *m, int *conn)
{
	int rc = fake_send(f, client->fd, request, strlen(request)), c;

	if (rc)
		return rc;
	c = fake_backend_read(f, 2000);
	if (c < 0)
		return c;
	if (conn)
		*conn = c;
	rc = fake_backend_write(f, c, response);
	return rc ? rc : fake_read(f, client, m, 2000);
}
