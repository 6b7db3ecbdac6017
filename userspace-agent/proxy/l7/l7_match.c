// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Which rule of a route table takes a request (HTTPRouteMatch semantics). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "l7_impl.h"

const char *l7_header_get(const struct l7_request *req, const char *name)
{
	/* the first letter, case folded, before the whole name: most fields
	 * differ there (a request's end looks up six of them) */
	int first = tolower((unsigned char)name[0]);
	size_t i;

	for (i = 0; i < req->nheaders; i++)
		if (tolower((unsigned char)req->headers[i].name[0]) == first &&
		    !strcasecmp(req->headers[i].name, name))
			return req->headers[i].value;
	return NULL;
}

/* PathPrefix matches whole path elements: /abc takes /abc, /abc/ and
 * /abc/d, never /abcd. A trailing slash of the prefix does not count. */
static bool prefix_matches(const char *prefix, const char *path, size_t path_len)
{
	size_t n = strlen(prefix);

	while (n > 1 && prefix[n - 1] == '/')
		n--;
	if (n == 1 && prefix[0] == '/')
		return true;
	if (path_len < n || memcmp(path, prefix, n))
		return false;
	return path_len == n || path[n] == '/';
}

static bool regex_matches(const regex_t *re, const char *s, size_t len)
{
	char stack[1024], *buf = len < sizeof(stack) ? stack : malloc(len + 1);
	bool ok;

	if (!buf)
		return false;
	memcpy(buf, s, len);
	buf[len] = 0;
	ok = regexec(re, buf, 0, NULL, 0) == 0;
	if (buf != stack)
		free(buf);
	return ok;
}

static bool path_matches(const struct l7_match *cm, const char *path, size_t len)
{
	const struct cfg_http_match *m = cm->m;

	switch (m->path_type) {
	case CFG_PATH_EXACT:
		return strlen(m->path) == len && !memcmp(m->path, path, len);
	case CFG_PATH_REGEX:
		return regex_matches(&cm->path_re, path, len);
	default:
		return prefix_matches(m->path, path, len);
	}
}

/* The value of query parameter NAME in QUERY (LEN bytes), its first
 * occurrence, as sent (not decoded). */
static bool query_value(const char *query, size_t len, const char *name, const char **v,
			size_t *vlen)
{
	size_t nlen = strlen(name), i = 0;

	while (i < len) {
		size_t end = i, eq;

		while (end < len && query[end] != '&')
			end++;
		for (eq = i; eq < end && query[eq] != '='; eq++)
			;
		if (eq - i == nlen && !memcmp(query + i, name, nlen)) {
			*v = eq < end ? query + eq + 1 : query + end;
			*vlen = eq < end ? end - eq - 1 : 0;
			return true;
		}
		i = end + 1;
	}
	return false;
}

static bool value_matches(const struct cfg_http_value_match *vm, const regex_t *re, const char *v,
			  size_t len)
{
	if (vm->type == CFG_VALUE_REGEX)
		return regex_matches(re, v, len);
	return strlen(vm->value) == len && !memcmp(vm->value, v, len);
}

static bool match_takes(const struct l7_match *cm, const struct l7_request *req)
{
	const struct cfg_http_match *m = cm->m;
	const char *target = req->target, *q = strchr(target, '?');
	size_t path_len = q ? (size_t)(q - target) : strlen(target), qlen = q ? strlen(q + 1) : 0;
	size_t i, vlen;
	const char *v;

	if (!m)
		return true;
	if (!path_matches(cm, target, path_len))
		return false;
	if (m->method && strcmp(m->method, req->method))
		return false;
	for (i = 0; i < m->nheaders; i++) {
		v = l7_header_get(req, m->headers[i].name);
		if (!v || !value_matches(&m->headers[i], &cm->header_re[i], v, strlen(v)))
			return false;
	}
	for (i = 0; i < m->nquery; i++)
		if (!q || !query_value(q + 1, qlen, m->query[i].name, &v, &vlen) ||
		    !value_matches(&m->query[i], &cm->query_re[i], v, vlen))
			return false;
	return true;
}

const struct l7_entry *l7_route(const struct l7_port_table *t, const struct l7_request *req)
{
	size_t i;

	for (i = 0; i < t->nentries; i++)
		if (match_takes(t->entries[i].match, req))
			return &t->entries[i];
	return NULL;
}
