// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The test's ends read what the L7 engine sent them (l7_fake.h): HTTP/1.1
 * messages parsed back with http-parser, from clients' and backends' ends. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "l7_fake.h"

#define FAKE_BODY_MAX (16u << 20)

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
	int64_t end = fake_now_ms() + timeout_ms;
	struct pollfd pfd[2] = {{.fd = l7_loop_fd(f->loop), .events = POLLIN},
				{.fd = p->fd, .events = POLLIN}};
	int rc;

	p->msg = m;
	m->complete = false;
	for (;;) {
		rc = peer_parse(p);
		if (rc)
			return rc > 0 ? 0 : rc;
		if (fake_now_ms() > end)
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
	int64_t end = fake_now_ms() + timeout_ms;
	struct pollfd pfd[FAKE_MAX_CONNS + 1];
	int i, conn;

	for (;;) {
		l7_loop_run(f->loop);
		conn = fake_backend_poll(f);
		if (conn >= 0)
			return conn;
		if (fake_now_ms() > end)
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
