// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Byte buffers that grow at the end and are consumed from the front. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "l7_impl.h"

static int buf_reserve(struct l7_buf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->off && b->off == b->len)
		b->off = b->len = 0;
	if (b->len + n <= b->cap)
		return 0;
	if (b->off) { /* room at the front first */
		memmove(b->data, b->data + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
		if (b->len + n <= b->cap)
			return 0;
	}
	cap = b->cap ? b->cap : 4096;
	while (cap < b->len + n)
		cap *= 2;
	p = realloc(b->data, cap);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int l7_buf_append(struct l7_buf *b, const void *p, size_t n)
{
	if (!n)
		return 0;
	if (buf_reserve(b, n))
		return -ENOMEM;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

/* Formatted into the room there is first: a second pass only when it did
 * not fit (every response head goes through here). */
int l7_buf_printf(struct l7_buf *b, const char *fmt, ...)
{
	va_list ap;
	size_t room;
	int n;

	if (buf_reserve(b, 128))
		return -ENOMEM;
	room = b->cap - b->len;
	va_start(ap, fmt);
	n = vsnprintf(b->data + b->len, room, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	if ((size_t)n >= room) {
		if (buf_reserve(b, (size_t)n + 1))
			return -ENOMEM;
		va_start(ap, fmt);
		vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
	return 0;
}

int l7_buf_field(struct l7_buf *b, const char *name, const char *value)
{
	return l7_buf_field_n(b, name, strlen(name), value, strlen(value));
}

int l7_buf_field_n(struct l7_buf *b, const char *name, size_t nlen, const char *value, size_t vlen)
{
	char *p;

	if (buf_reserve(b, nlen + vlen + 5))
		return -ENOMEM;
	p = b->data + b->len;
	memcpy(p, name, nlen);
	memcpy(p + nlen, ": ", 2);
	memcpy(p + nlen + 2, value, vlen);
	memcpy(p + nlen + 2 + vlen, "\r\n", 3); /* and the NUL l7_buf_printf leaves */
	b->len += nlen + vlen + 4;
	return 0;
}

void l7_buf_consume(struct l7_buf *b, size_t n)
{
	b->off += n;
	if (b->off >= b->len)
		b->off = b->len = 0;
}

void l7_buf_reset(struct l7_buf *b)
{
	b->off = b->len = 0;
}

void l7_buf_free(struct l7_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

int l7_str_append(char **s, const char *at, size_t len)
{
	size_t old = *s ? strlen(*s) : 0;
	char *n;

	if (old + len > L7_HEAD_MAX)
		return -1;
	n = realloc(*s, old + len + 1);
	if (!n)
		return -1;
	memcpy(n + old, at, len);
	n[old + len] = 0;
	*s = n;
	return 0;
}

void l7_headers_free(struct l7_header *h, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		l7_header_clear(&h[i]);
	free(h);
}

void l7_header_clear(struct l7_header *h)
{
	free(h->name);
	if (!h->joint)
		free(h->value);
	*h = (struct l7_header){0};
}

int l7_header_set_value(struct l7_header *h, const char *value)
{
	char *v = strdup(value);

	if (!v)
		return -ENOMEM;
	if (!h->joint)
		free(h->value);
	h->value = v;
	h->joint = false;
	return 0;
}
