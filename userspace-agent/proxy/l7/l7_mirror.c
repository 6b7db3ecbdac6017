// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * RequestMirror: a copy of a request to another service, on a connection
 * of its own (never pooled), its answer read and dropped. The copy never
 * delays, changes or fails the request it copies; it gives up after
 * L7_MIRROR_MS. It carries x-shunt-mirror: HOST-shadow (Envoy marks its
 * copies' Host so), so the mirror's logs can tell copies apart. A port
 * that speaks HTTP/2 (http2, grpc) gets the copy as the one stream of an
 * h2c connection (an nghttp2 client session), HTTP/1.1 ones as HTTP/1.1.
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
	nghttp2_session *h2; /* HTTP/2: the copy's session, NULL for HTTP/1.1 */
	struct l7_buf body;  /* HTTP/2: the copy's body, sent by read_body */
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
	l7_buf_free(&m->body);
	if (m->h2)
		nghttp2_session_del(m->h2);
	m->h2 = NULL;
	m->next = l->dead_mirrors;
	l->dead_mirrors = m;
}

static void on_timeout(struct timer *t, void *ctx)
{
	(void)t;
	mirror_close(ctx);
}

/* ---- HTTP/2 copies ---- */

static ssize_t h2_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *ud)
{
	struct l7_mirror *m = ud;

	(void)s;
	(void)flags;
	return l7_buf_append(&m->out, data, len) ? NGHTTP2_ERR_CALLBACK_FAILURE : (ssize_t)len;
}

static ssize_t read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
			 nghttp2_data_source *src, void *ud)
{
	struct l7_mirror *m = ud;
	size_t n = l7_buf_pending(&m->body);

	(void)s;
	(void)id;
	(void)src;
	if (n > len)
		n = len;
	memcpy(buf, m->body.data + m->body.off, n);
	l7_buf_consume(&m->body, n);
	if (!l7_buf_pending(&m->body))
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

/* What came: into the session, and what it has to say (SETTINGS ACK, window
 * updates) out. -1 once the copy's stream closed (answered or reset). */
static int h2_input(struct l7_mirror *m, const char *p, size_t n)
{
	if (nghttp2_session_mem_recv(m->h2, (const uint8_t *)p, n) < 0 ||
	    nghttp2_session_send(m->h2) || l7_io_flush(m->io.fd, &m->out))
		return -1;
	l7_io_want(m->l, &m->io, true, l7_buf_pending(&m->out) > 0);
	return nghttp2_session_want_read(m->h2) && nghttp2_session_get_stream_user_data(m->h2, 1)
		   ? 0
		   : -1;
}

/* REQ as the one stream of a new h2c session, with the mirror's mark. */
static int h2_start(struct l7_mirror *m, const struct l7_request *req, const char *mark)
{
	nghttp2_data_provider prd = {.read_callback = read_body};
	nghttp2_session_callbacks *cb;
	struct l7_buf lines = {};
	nghttp2_nv *nv = NULL, *all = NULL;
	const char *body;
	size_t n, len = l7_body_at(req, 0, &body);
	int err = -ENOMEM;

	if (nghttp2_session_callbacks_new(&cb))
		return -ENOMEM;
	nghttp2_session_callbacks_set_send_callback(cb, h2_send);
	if (nghttp2_session_client_new(&m->h2, cb, m)) {
		nghttp2_session_callbacks_del(cb);
		return -ENOMEM;
	}
	nghttp2_session_callbacks_del(cb);
	if ((len && l7_buf_append(&m->body, body, len)) ||
	    l7_request_to_nv(req, l7_body_expected(req), &lines, &nv, &n) ||
	    !(all = calloc(n + 1, sizeof(*all))))
		goto cleanup;
	memcpy(all, nv, n * sizeof(*nv));
	all[n] = (nghttp2_nv){(uint8_t *)"x-shunt-mirror", (uint8_t *)mark, 14, strlen(mark),
			      NGHTTP2_NV_FLAG_NONE};
	/* stream 1, the session's only one: its user data says it is open */
	if (nghttp2_submit_settings(m->h2, NGHTTP2_FLAG_NONE, NULL, 0) ||
	    nghttp2_submit_request(m->h2, NULL, all, n + 1, l7_body_expected(req) ? &prd : NULL,
				   m) != 1 ||
	    nghttp2_session_send(m->h2))
		goto cleanup;
	err = 0;
cleanup:
	free(all);
	free(nv);
	l7_buf_free(&lines);
	return err;
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
		if (m->h2) {
			if (h2_input(m, buf, (size_t)n))
				return mirror_close(m); /* answered, or not HTTP/2 */
			continue;
		}
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
	char extra[300], mark[280];
	int fd, err;

	if (!rule->mirror.svc || l7_random(l) % 10000 >= rule->r->mirror.percent * 100)
		return;
	e = l7_pick_endpoint(l, &rule->mirror);
	if (!e || !(m = calloc(1, sizeof(*m))))
		return;
	t.dst = e->w;
	memcpy(t.addr, e->addr, 16);
	t.port = e->port;
	snprintf(mark, sizeof(mark), "%s-shadow", host ? host : "");
	snprintf(extra, sizeof(extra), "x-shunt-mirror: %s\r\n", mark);
	if (l->ops->connect(l->ctx, &t, &fd, &m->token) != SHUNT_OUT_ALLOWED) {
		free(m);
		return;
	}
	m->l = l;
	m->io.fd = fd;
	m->io.on_event = on_mirror_event;
	http_parser_init(&m->parser, HTTP_RESPONSE);
	timer_init(&m->timeout, on_timeout, m);
	err = cfg_port_speaks_http2(rule->mirror.sp)
		  ? h2_start(m, req, mark)
		  : l7_serialize_request(&m->out, req, extra, false);
	if (err || l7_io_add(l, &m->io, false, true)) {
		close(fd);
		l->ops->closed(l->ctx, m->token);
		l7_buf_free(&m->out);
		l7_buf_free(&m->body);
		if (m->h2)
			nghttp2_session_del(m->h2);
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
