// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The model's top-level object read without holding all of it as JSON:
 * jansson's tree of a model is about 16 times its text (23 MB for 1000
 * routes), and the heap it grew stays with the process after it is freed.
 * Here jansson parses each member on its own, and each item of a member
 * that is an array when it is read, then that item's tree is freed. Only
 * the punctuation between them is looked at here; values are jansson's.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "model_json_impl.h"

#define SYNTAX_FLAGS (JSON_DECODE_ANY | JSON_REJECT_DUPLICATES)

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t skip_space(const char *s, size_t len, size_t p)
{
	while (p < len && is_space(s[p]))
		p++;
	return p;
}

/*
 * Where the value starting at P ends (one past it): strings and brackets
 * are followed, no more; jansson checks the value when it parses it. LEN + 1
 * when the text ends inside it.
 */
static size_t value_end(const char *s, size_t len, size_t p)
{
	int depth = 0;

	for (; p < len; p++) {
		if (s[p] == '"') {
			for (p++; p < len && s[p] != '"'; p++)
				if (s[p] == '\\')
					p++;
			if (p >= len)
				return len + 1;
			if (!depth)
				return p + 1;
		} else if (s[p] == '[' || s[p] == '{') {
			depth++;
		} else if (s[p] == ']' || s[p] == '}') {
			if (!depth)
				return p;
			if (!--depth)
				return p + 1;
		} else if (!depth && (s[p] == ',' || s[p] == ':' || is_space(s[p]))) {
			return p;
		}
	}
	return depth ? len + 1 : p;
}

/* "model:LINE:COL: WHY" for the byte at OFF; -EINVAL. */
static int syntax_fail(struct cfg_error *err, const char *s, size_t off, const char *why)
{
	size_t i, line = 1, col = 1;

	for (i = 0; i < off; i++, col++)
		if (s[i] == '\n') {
			line++;
			col = 0;
		}
	snprintf(err->msg, sizeof(err->msg), "model:%zu:%zu: %s", line, col, why);
	return -EINVAL;
}

/* The value at [*P, its end) parsed; *P moves past it. NULL (ERR filled)
 * when it is no JSON value. */
static json_t *parse_value(const char *s, size_t len, size_t *p, struct cfg_error *err)
{
	size_t end = value_end(s, len, *p);
	json_error_t jerr;
	json_t *v;

	if (end > len) {
		syntax_fail(err, s, len, "premature end of input");
		return NULL;
	}
	if (!(v = json_loadb(s + *p, end - *p, SYNTAX_FLAGS, &jerr)))
		syntax_fail(err, s, *p + (size_t)jerr.position, jerr.text);
	*p = end;
	return v;
}

/* After a value at P: ',' (true, P past it) or CLOSE (false, P past it). */
static int next_or_close(const char *s, size_t len, size_t *p, char close, bool *more,
			 struct cfg_error *err)
{
	*p = skip_space(s, len, *p);
	if (*p < len && (s[*p] == ',' || s[*p] == close)) {
		*more = s[(*p)++] == ',';
		return 0;
	}
	return syntax_fail(err, s, *p,
			   close == '}' ? "',' or '}' expected" : "',' or ']' expected");
}

/* One "key": value of the top-level object at *P, into D. */
static int doc_member(struct mj_doc *d, size_t *p, struct cfg_error *err)
{
	const char *s = d->text;
	json_t *key, *v = NULL;
	const char *k;
	size_t at;
	int rc = 0;

	if (!(key = parse_value(s, d->len, p, err)))
		return -EINVAL;
	at = *p = skip_space(s, d->len, *p);
	k = json_string_value(key);
	if (!k)
		rc = syntax_fail(err, s, at, "string or '}' expected");
	else if (json_object_get(d->root, k) || json_object_get(d->lists, k))
		rc = syntax_fail(err, s, at, "duplicate object key");
	else if (*p >= d->len || s[(*p)++] != ':')
		rc = syntax_fail(err, s, at, "':' expected");
	if (!rc && (*p = skip_space(s, d->len, *p)) < d->len && s[*p] == '[') {
		/* an array: only where it starts, its items are parsed when read */
		at = *p;
		*p = value_end(s, d->len, *p);
		if (*p > d->len)
			rc = syntax_fail(err, s, d->len, "premature end of input");
		else if (json_object_set_new(d->lists, k, json_integer((json_int_t)at)))
			rc = -ENOMEM;
	} else if (!rc) {
		if (!(v = parse_value(s, d->len, p, err)))
			rc = -EINVAL;
		else if (json_object_set_new(d->root, k, v))
			rc = -ENOMEM;
	}
	json_decref(key);
	return rc;
}

/* The members of the object at *P ('{' already read). */
static int doc_members(struct mj_doc *d, size_t p, struct cfg_error *err)
{
	bool more = true;
	int rc;

	p = skip_space(d->text, d->len, p);
	if (p < d->len && d->text[p] == '}') {
		more = false;
		p++;
	}
	while (more) {
		p = skip_space(d->text, d->len, p);
		if ((rc = doc_member(d, &p, err)) ||
		    (rc = next_or_close(d->text, d->len, &p, '}', &more, err)))
			return rc;
	}
	p = skip_space(d->text, d->len, p);
	return p < d->len ? syntax_fail(err, d->text, p, "end of file expected") : 0;
}

int mj_doc_load(struct mj_doc *d, const char *text, size_t len, struct cfg_error *err)
{
	size_t p = skip_space(text, len, 0);
	json_error_t jerr;
	int rc;

	*d = (struct mj_doc){.text = text, .len = len};
	if (p >= len || text[p] != '{') {
		/* no object: jansson reads it whole and says what it is */
		d->root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
		if (d->root)
			return 0;
		snprintf(err->msg, sizeof(err->msg), "model:%d:%d: %s", jerr.line, jerr.column,
			 jerr.text);
		return -EINVAL;
	}
	d->root = json_object();
	d->lists = json_object();
	rc = d->root && d->lists ? doc_members(d, p + 1, err) : -ENOMEM;
	if (rc == -ENOMEM)
		snprintf(err->msg, sizeof(err->msg), "model: out of memory");
	if (rc)
		mj_doc_free(d);
	return rc;
}

void mj_doc_free(struct mj_doc *d)
{
	json_decref(d->root);
	json_decref(d->lists);
	d->root = d->lists = NULL;
}

/* How many items the array at P has, and where its first one starts. */
static int count_items(const char *s, size_t len, size_t *p, size_t *n, struct cfg_error *err)
{
	size_t q = skip_space(s, len, *p + 1);
	bool more = q < len && s[q] != ']';
	int rc;

	*n = 0;
	*p = q;
	if (!more)
		return 0;
	while (more) {
		q = value_end(s, len, skip_space(s, len, q));
		if (q > len)
			return syntax_fail(err, s, len, "premature end of input");
		(*n)++;
		if ((rc = next_or_close(s, len, &q, ']', &more, err)))
			return rc;
	}
	return 0;
}

void mj_list_open(struct mj_reader *r, const char *key, size_t size, void **items, size_t *n,
		  struct mj_list *l)
{
	json_t *at = json_object_get(r->doc->lists, key);

	*l = (struct mj_list){0};
	if (!at) {
		/* missing, or no array: mj_array says so */
		l->array = mj_array(r, r->doc->root, key, size, items, n);
		l->n = l->array ? *n : 0;
		return;
	}
	*items = NULL;
	*n = 0;
	l->p = (size_t)json_integer_value(at);
	json_object_del(r->doc->lists, key); /* read: mj_doc_check_unread leaves it */
	if (r->rc || (r->rc = count_items(r->doc->text, r->doc->len, &l->p, n, r->err)))
		return;
	if (*n &&
	    (*n > SIZE_MAX / size || !(*items = shunt_arena_alloc(&r->cfg->arena, *n * size))))
		mj_oom(r);
	l->n = r->rc ? 0 : *n;
}

int mj_doc_check_unread(struct mj_doc *d, struct cfg_error *err)
{
	struct mj_reader r = {.doc = d, .err = err};
	struct mj_list l;
	const char *key;
	json_t *at, *v;
	size_t n;

	json_object_foreach(d->lists, key, at)
	{
		l = (struct mj_list){.p = (size_t)json_integer_value(at)};
		if ((r.rc = count_items(d->text, d->len, &l.p, &n, err)))
			return r.rc;
		for (l.n = n; (v = mj_list_next(&r, &l));)
			json_decref(v);
		if (r.rc)
			return r.rc;
	}
	return 0;
}

json_t *mj_list_next(struct mj_reader *r, struct mj_list *l)
{
	const char *s = r->doc->text;
	json_t *v;

	if (r->rc || l->i >= l->n)
		return NULL;
	if (l->array)
		return json_incref(json_array_get(l->array, l->i++));
	l->p = skip_space(s, r->doc->len, l->p);
	if (!(v = parse_value(s, r->doc->len, &l->p, r->err))) {
		r->rc = -EINVAL;
		return NULL;
	}
	/* count_items saw the ',' or ']' after it */
	l->p = skip_space(s, r->doc->len, l->p) + 1;
	l->i++;
	return v;
}
