// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * RequestMirror: a copy of a request to another service, on a connection
 * of its own (never pooled), its answer read and dropped. The copy never
 * delays, changes or fails the request it copies; it gives up after
 * L7_MIRROR_MS. It carries x-shunt-mirror: HOST-shadow (Envoy marks its
 * copies' Host so), so the mirror's logs can tell copies apart.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "l7_impl.h"

#define L7_MIRROR_MS 10000

struct l7_mirror {
	struct l7_io io;
	struct l7_loop *l;
	void *token;
	http_parser parser;
	struct l7_buf out;
	struct timer timeout;
	bool dead;
	struct l7_mirror *next;
};

static int on_complete(http_parser *p)
{
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings drop_settings = {.on_message_complete = on_complete};

static void mirror_close(struct l7_mirror *m)
{
	struct l7_loop *l = m->l;
	struct l7_mirror **pp;

	if (m->dead)
		return;
	m->dead = true;
	for (pp = &l->mirrors; *pp; pp = &(*pp)->next)
		if (*pp == m) {
			*pp = m->next;
			break;
		}
	timer_cancel(&l->wheel, &m->timeout);
	l7_io_del(l, &m->io);
	close(m->io.fd);
	l->ops->closed(l->ctx, m->token);
	l7_buf_free(&m->out);
	m->next = l->dead_mirrors;
	l->dead_mirrors = m;
}

static void on_timeout(struct timer *t, void *ctx)
{
	(void)t;
	mirror_close(ctx);
}

static void on_mirror_event(struct l7_io *io, uint32_t events)
{
	struct l7_mirror *m = (struct l7_mirror *)io;
	char buf[16384];
	ssize_t n;

	if ((events & EPOLLOUT) && l7_io_flush(io->fd, &m->out))
		return mirror_close(m);
	if (!l7_buf_pending(&m->out))
		l7_io_want(m->l, io, true, false);
	if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
		return;
	while ((n = recv(io->fd, buf, sizeof(buf), 0)) > 0) {
		http_parser_execute(&m->parser, &drop_settings, buf, (size_t)n);
		if (HTTP_PARSER_ERRNO(&m->parser) != HPE_OK)
			return mirror_close(m); /* answered (paused), or not HTTP */
	}
	if (n == 0 || (errno != EAGAIN && errno != EINTR))
		mirror_close(m);
}

void l7_mirror(struct l7_request *req)
{
	struct l7_loop *l = req->down->l;
	const struct l7_rule *rule = req->rule;
	const struct l7_ep_ref *e;
	struct l7_target t = req->target_ep;
	struct l7_mirror *m;
	const char *host = l7_header_get(req, "host");
	char extra[300];
	int fd;

	if (!rule->mirror.svc || l7_random(l) % 10000 >= rule->r->mirror.percent * 100)
		return;
	e = l7_pick_endpoint(l, &rule->mirror);
	if (!e || !(m = calloc(1, sizeof(*m))))
		return;
	t.dst = e->w;
	memcpy(t.addr, e->addr, 16);
	t.port = e->port;
	snprintf(extra, sizeof(extra), "x-shunt-mirror: %s-shadow\r\n", host ? host : "");
	if (l->ops->connect(l->ctx, &t, &fd, &m->token) != SHUNT_OUT_ALLOWED) {
		free(m);
		return;
	}
	m->l = l;
	m->io.fd = fd;
	m->io.on_event = on_mirror_event;
	http_parser_init(&m->parser, HTTP_RESPONSE);
	timer_init(&m->timeout, on_timeout, m);
	if (l7_serialize_request(&m->out, req, extra, false) || l7_io_add(l, &m->io, false, true)) {
		close(fd);
		l->ops->closed(l->ctx, m->token);
		l7_buf_free(&m->out);
		free(m);
		return;
	}
	l7_arm_in(l, &m->timeout, L7_MIRROR_MS);
	m->next = l->mirrors;
	l->mirrors = m;
	atomic_fetch_add(&l7_stats.mirrored, 1);
}

void l7_mirrors_close(struct l7_loop *l)
{
	while (l->mirrors)
		mirror_close(l->mirrors);
}

void l7_mirrors_reap(struct l7_loop *l)
{
	struct l7_mirror *m;

	while ((m = l->dead_mirrors)) {
		l->dead_mirrors = m->next;
		free(m);
	}
}
