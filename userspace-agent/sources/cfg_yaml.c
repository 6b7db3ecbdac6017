// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Schema checks on libyaml nodes, shared by the config's parts (cfg_parse.h). */
#include <errno.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"
#include "model/names.h"
#include "cfg_parse.h"
#include "mesh_shared.h"

static int vfail(struct cfg_parser *p, const yaml_node_t *n, enum cfg_fail_reason why,
		 const char *fmt, va_list ap)
{
	char msg[400];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	snprintf(p->err->msg, sizeof(p->err->msg), "%s:%lu:%lu: %s", p->cfg->path,
		 n ? (unsigned long)n->start_mark.line + 1 : 1UL,
		 n ? (unsigned long)n->start_mark.column + 1 : 1UL, msg);
	p->err->reason = why;
	return -EINVAL;
}

int cfgy_fail(struct cfg_parser *p, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = vfail(p, n, CFG_FAIL_INVALID, fmt, ap);
	va_end(ap);
	return ret;
}

int cfgy_fail_why(struct cfg_parser *p, const yaml_node_t *n, enum cfg_fail_reason why,
		  const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = vfail(p, n, why, fmt, ap);
	va_end(ap);
	return ret;
}

void cfgy_warn(struct cfg_parser *p, const yaml_node_t *n, const char *fmt, ...)
{
	struct mesh_config *cfg = p->cfg;
	char msg[400], line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (cfg->nwarnings == CFG_MAX_WARNINGS) {
		cfg->warnings_dropped++;
		return;
	}
	snprintf(line, sizeof(line), "%s:%lu:%lu: %s", cfg->path,
		 n ? (unsigned long)n->start_mark.line + 1 : 1UL,
		 n ? (unsigned long)n->start_mark.column + 1 : 1UL, msg);
	cfg->warnings[cfg->nwarnings] = shunt_arena_strndup(&cfg->arena, line, strlen(line));
	if (cfg->warnings[cfg->nwarnings])
		cfg->nwarnings++;
}

int cfgy_oom(struct cfg_parser *p)
{
	snprintf(p->err->msg, sizeof(p->err->msg), "%s: out of memory", p->cfg->path);
	return -ENOMEM;
}

struct cfg_origin cfgy_origin_of(const struct cfg_parser *p, const yaml_node_t *n)
{
	return (struct cfg_origin){.kind = CFG_ORIGIN_FILE,
				   .file = p->cfg->path,
				   .line = (unsigned int)n->start_mark.line + 1,
				   .col = (unsigned int)n->start_mark.column + 1};
}

yaml_node_t *cfgy_node_at(struct cfg_parser *p, int index)
{
	return yaml_document_get_node(&p->doc, index);
}

bool cfgy_is_null(const yaml_node_t *n)
{
	const char *tag = (const char *)n->tag;

	if (n->type != YAML_SCALAR_NODE)
		return false;
	if (tag && strcmp(tag, YAML_NULL_TAG) == 0)
		return true;
	return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       (n->data.scalar.length == 0 ||
		(n->data.scalar.length == 1 && n->data.scalar.value[0] == '~') ||
		(n->data.scalar.length == 4 && memcmp(n->data.scalar.value, "null", 4) == 0));
}

const char *cfgy_kind_of(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	default:
		return "a scalar";
	}
}

/* Checks that N is a mapping whose keys are all in ALLOWED, each at most once. */
int cfgy_check_map(struct cfg_parser *p, yaml_node_t *n, const char *what,
		   const char *const *allowed)
{
	yaml_node_pair_t *a, *b;
	size_t i;

	if (n->type != YAML_MAPPING_NODE)
		return cfgy_fail(p, n, "%s must be a mapping, not %s", what, cfgy_kind_of(n));
	for (a = n->data.mapping.pairs.start; a < n->data.mapping.pairs.top; a++) {
		yaml_node_t *k = cfgy_node_at(p, a->key);

		if (k->type != YAML_SCALAR_NODE)
			return cfgy_fail(p, k, "keys of %s must be plain names", what);
		for (i = 0; allowed[i]; i++)
			if (strcmp((const char *)k->data.scalar.value, allowed[i]) == 0)
				break;
		if (!allowed[i]) {
			char list[200] = "";

			for (i = 0; allowed[i]; i++) {
				strncat(list, i ? ", " : "", sizeof(list) - strlen(list) - 1);
				strncat(list, allowed[i], sizeof(list) - strlen(list) - 1);
			}
			return cfgy_fail(p, k, "unknown key '%s' in %s (known: %s)",
					 (const char *)k->data.scalar.value, what, list);
		}
		for (b = n->data.mapping.pairs.start; b < a; b++) {
			yaml_node_t *kb = cfgy_node_at(p, b->key);

			if (strcmp((const char *)kb->data.scalar.value,
				   (const char *)k->data.scalar.value) == 0)
				return cfgy_fail(p, k, "key '%s' appears twice in %s",
						 (const char *)k->data.scalar.value, what);
		}
	}
	return 0;
}

yaml_node_t *cfgy_map_get(struct cfg_parser *p, yaml_node_t *n, const char *key)
{
	yaml_node_pair_t *a;

	for (a = n->data.mapping.pairs.start; a < n->data.mapping.pairs.top; a++) {
		yaml_node_t *k = cfgy_node_at(p, a->key);

		if (strcmp((const char *)k->data.scalar.value, key) == 0)
			return cfgy_node_at(p, a->value);
	}
	return NULL;
}

int cfgy_get_str(struct cfg_parser *p, yaml_node_t *n, const char *what, const char **out)
{
	if (n->type != YAML_SCALAR_NODE || cfgy_is_null(n))
		return cfgy_fail(p, n, "%s must be a string", what);
	*out = shunt_arena_strndup(&p->cfg->arena, (const char *)n->data.scalar.value,
				   n->data.scalar.length);
	if (!*out)
		return cfgy_oom(p);
	if (strlen(*out) != n->data.scalar.length)
		return cfgy_fail(p, n, "%s contains a NUL byte", what);
	return 0;
}

/* A share from 0 to 1: 0, 1, 0.25 (at most 9 decimals). */
int cfgy_get_share(struct cfg_parser *p, yaml_node_t *n, const char *what, double *out)
{
	const char *s;
	regex_t re;
	int rc;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return cfgy_fail(p, n, "%s must be a number from 0 to 1", what);
	s = (const char *)n->data.scalar.value;
	if (regcomp(&re, "^[0-9]([.][0-9]{1,9})?$", REG_EXTENDED | REG_NOSUB))
		return cfgy_oom(p);
	rc = regexec(&re, s, 0, NULL, 0);
	regfree(&re);
	if (rc || (*out = strtod(s, NULL)) > 1)
		return cfgy_fail(p, n, "%s must be a number from 0 to 1, not '%s'", what, s);
	return 0;
}

int cfgy_get_uint(struct cfg_parser *p, yaml_node_t *n, const char *what, unsigned long min,
		  unsigned long max, unsigned long *out)
{
	const char *s = (const char *)n->data.scalar.value;
	unsigned long v;
	char *end;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
	    !n->data.scalar.length || s[0] < '0' || s[0] > '9')
		return cfgy_fail(p, n, "%s must be a number from %lu to %lu", what, min, max);
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return cfgy_fail(p, n, "%s must be a number from %lu to %lu, not '%s'", what, min,
				 max, s);
	*out = v;
	return 0;
}

/* A list: *COUNT items; null counts as an empty list. */
int cfgy_get_seq(struct cfg_parser *p, yaml_node_t *n, const char *what, size_t *count)
{
	if (cfgy_is_null(n)) {
		*count = 0;
		return 0;
	}
	if (n->type != YAML_SEQUENCE_NODE)
		return cfgy_fail(p, n, "%s must be a list, not %s", what, cfgy_kind_of(n));
	*count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	return 0;
}

yaml_node_t *cfgy_seq_item(struct cfg_parser *p, yaml_node_t *n, size_t i)
{
	return cfgy_node_at(p, n->data.sequence.items.start[i]);
}

void *cfgy_alloc_array(struct cfg_parser *p, size_t n, size_t size)
{
	if (!n)
		return NULL;
	return shunt_arena_alloc(&p->cfg->arena, n * size);
}

/* Fails for name S of WHAT, refused for WHY; long names shown shortened. */
static int name_fail(struct cfg_parser *p, yaml_node_t *n, const char *what, const char *s,
		     const char *why)
{
	size_t len = strlen(s);

	if (len > SHUNT_DNS_LABEL_MAX + 1)
		return cfgy_fail(p, n, "%s '%.40s...' (%zu characters) %s", what, s, len, why);
	return cfgy_fail(p, n, "%s '%s' %s", what, s, why);
}

/* DNS label: what Kubernetes accepts for namespaces and services. */
int cfgy_check_name(struct cfg_parser *p, yaml_node_t *n, const char *what, const char *s)
{
	const char *why = name_check_dns_label(s);

	return why ? name_fail(p, n, what, s, why) : 0;
}

int cfgy_get_name(struct cfg_parser *p, yaml_node_t *n, const char *what, const char **out)
{
	int err = cfgy_get_str(p, n, what, out);

	return err ? err : cfgy_check_name(p, n, what, *out);
}

/* DNS subdomain: pods, nodes, service accounts, policies. */
int cfgy_get_subdomain(struct cfg_parser *p, yaml_node_t *n, const char *what, const char **out)
{
	int err = cfgy_get_str(p, n, what, out);
	const char *why;

	if (err)
		return err;
	why = name_check_dns_subdomain(*out);
	return why ? name_fail(p, n, what, *out, why) : 0;
}

/* Label keys and values as Kubernetes allows them ([prefix/]name=value). */
int cfgy_check_label(struct cfg_parser *p, yaml_node_t *n, const char *s, bool key)
{
	const char *why = key ? name_check_label_key(s) : name_check_label_value(s);

	return why ? name_fail(p, n, key ? "label key" : "label value", s, why) : 0;
}

/* IANA_SVC_NAME: 1 to 15 of a-z, 0-9, '-', at least one letter, no '--',
 * no '-' at either end. */
int cfgy_check_port_name(struct cfg_parser *p, yaml_node_t *n, const char *s)
{
	size_t len = strlen(s), i;
	bool letter = false;

	for (i = 0; i < len; i++) {
		if (s[i] >= 'a' && s[i] <= 'z')
			letter = true;
		else if (!((s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			break;
	}
	if (!len || len > 15 || i < len || !letter || s[0] == '-' || s[len - 1] == '-' ||
	    strstr(s, "--"))
		return cfgy_fail(p, n,
				 "port name '%s' must be 1 to 15 of a-z, 0-9 and '-', with a "
				 "letter, and no '-' at either end or twice in a row",
				 s);
	return 0;
}

int cfgy_parse_labels(struct cfg_parser *p, yaml_node_t *n, const char *what,
		      struct cfg_labels *out)
{
	yaml_node_pair_t *a;
	size_t i = 0;
	int err;

	out->n = 0;
	if (cfgy_is_null(n))
		return 0;
	if (n->type != YAML_MAPPING_NODE)
		return cfgy_fail(p, n, "%s must be a mapping of label names to values", what);
	out->n = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	out->items = cfgy_alloc_array(p, out->n, sizeof(*out->items));
	if (out->n && !out->items)
		return cfgy_oom(p);
	for (a = n->data.mapping.pairs.start; a < n->data.mapping.pairs.top; a++, i++) {
		yaml_node_t *k = cfgy_node_at(p, a->key), *v = cfgy_node_at(p, a->value);
		size_t j;

		if ((err = cfgy_get_str(p, k, "a label name", &out->items[i].key)) ||
		    (err = cfgy_check_label(p, k, out->items[i].key, true)))
			return err;
		if (v->type != YAML_SCALAR_NODE)
			return cfgy_fail(p, v, "label '%s' needs a string value",
					 out->items[i].key);
		out->items[i].value = shunt_arena_strndup(
		    &p->cfg->arena, (const char *)v->data.scalar.value, v->data.scalar.length);
		if (!out->items[i].value)
			return cfgy_oom(p);
		if ((err = cfgy_check_label(p, v, out->items[i].value, false)))
			return err;
		for (j = 0; j < i; j++)
			if (strcmp(out->items[j].key, out->items[i].key) == 0)
				return cfgy_fail(p, k, "label '%s' appears twice",
						 out->items[i].key);
	}
	return 0;
}

int cfgy_parse_selector(struct cfg_parser *p, yaml_node_t *n, const char *what,
			struct cfg_selector *sel)
{
	static const char *const keys[] = {"matchLabels", "matchExpressions", NULL};
	static const char *const expr_keys[] = {"key", "operator", "values", NULL};
	yaml_node_t *v;
	size_t i, j;
	int err;

	memset(sel, 0, sizeof(*sel));
	if (cfgy_is_null(n))
		return 0;
	if ((err = cfgy_check_map(p, n, what, keys)))
		return err;
	if ((v = cfgy_map_get(p, n, "matchLabels")) &&
	    (err = cfgy_parse_labels(p, v, "matchLabels", &sel->match_labels)))
		return err;
	if (!(v = cfgy_map_get(p, n, "matchExpressions")))
		return 0;
	if ((err = cfgy_get_seq(p, v, "matchExpressions", &sel->nexprs)))
		return err;
	sel->exprs = cfgy_alloc_array(p, sel->nexprs, sizeof(*sel->exprs));
	if (sel->nexprs && !sel->exprs)
		return cfgy_oom(p);
	for (i = 0; i < sel->nexprs; i++) {
		struct cfg_match_expr *e = &sel->exprs[i];
		yaml_node_t *en = cfgy_seq_item(p, v, i), *f;
		const char *op;

		if ((err = cfgy_check_map(p, en, "a match expression", expr_keys)))
			return err;
		if (!(f = cfgy_map_get(p, en, "key")))
			return cfgy_fail(p, en, "a match expression needs 'key'");
		if ((err = cfgy_get_str(p, f, "key", &e->key)) ||
		    (err = cfgy_check_label(p, f, e->key, true)))
			return err;
		if (!(f = cfgy_map_get(p, en, "operator")))
			return cfgy_fail(p, en, "a match expression needs 'operator'");
		if ((err = cfgy_get_str(p, f, "operator", &op)))
			return err;
		if (!strcmp(op, "In"))
			e->op = CFG_OP_IN;
		else if (!strcmp(op, "NotIn"))
			e->op = CFG_OP_NOT_IN;
		else if (!strcmp(op, "Exists"))
			e->op = CFG_OP_EXISTS;
		else if (!strcmp(op, "DoesNotExist"))
			e->op = CFG_OP_DOES_NOT_EXIST;
		else
			return cfgy_fail(
			    p, f, "operator must be In, NotIn, Exists or DoesNotExist, not '%s'",
			    op);
		f = cfgy_map_get(p, en, "values");
		if (e->op == CFG_OP_IN || e->op == CFG_OP_NOT_IN) {
			if (!f)
				return cfgy_fail(p, en, "operator %s needs 'values'", op);
			if ((err = cfgy_get_seq(p, f, "values", &e->nvalues)))
				return err;
			if (!e->nvalues)
				return cfgy_fail(p, f, "operator %s needs at least one value", op);
			e->values = cfgy_alloc_array(p, e->nvalues, sizeof(*e->values));
			if (!e->values)
				return cfgy_oom(p);
			for (j = 0; j < e->nvalues; j++) {
				yaml_node_t *vn = cfgy_seq_item(p, f, j);

				if ((err = cfgy_get_str(p, vn, "a value", &e->values[j])) ||
				    (err = cfgy_check_label(p, vn, e->values[j], false)))
					return err;
			}
		} else if (f) {
			return cfgy_fail(p, f, "operator %s takes no values", op);
		}
	}
	return 0;
}

/* "10.0.0.0/8", "fd00::/64" or a plain address (a /32 or /128). */
int cfgy_parse_prefix(struct cfg_parser *p, yaml_node_t *n, const char *what, bool need_len,
		      struct cfg_prefix *out)
{
	char addr[SHUNT_ADDR_STRLEN + 1], text[SHUNT_ADDR_STRLEN];
	const char *s, *slash;
	unsigned long len;
	__u8 host_bits = 0;
	size_t alen;
	char *end;
	int err, i;

	if ((err = cfgy_get_str(p, n, what, &s)))
		return err;
	slash = strchr(s, '/');
	alen = slash ? (size_t)(slash - s) : strlen(s);
	if (alen >= sizeof(addr))
		return cfgy_fail(p, n, "%s '%s' is not an IP address", what, s);
	memcpy(addr, s, alen);
	addr[alen] = 0;
	if (shunt_addr_parse(addr, out->addr))
		return cfgy_fail(p, n, "%s '%s' is not an IP address", what, s);
	out->v4 = shunt_addr_is_v4(out->addr) && !strchr(addr, ':');
	if (!slash) {
		if (need_len)
			return cfgy_fail(p, n, "%s '%s' needs a prefix length (like 10.0.0.0/8)",
					 what, s);
		out->len = 128;
		return 0;
	}
	errno = 0;
	len = strtoul(slash + 1, &end, 10);
	if (errno || *end || !slash[1] || len > (out->v4 ? 32u : 128u))
		return cfgy_fail(p, n, "%s '%s' has a bad prefix length", what, s);
	out->len = (unsigned int)len + (out->v4 ? 96 : 0);
	for (i = 0; i < 16; i++) {
		unsigned int bit = (unsigned int)i * 8;
		__u8 mask =
		    bit >= out->len
			? 0
			: (out->len - bit >= 8 ? 0xff : (__u8)(0xff << (8 - (out->len - bit))));

		host_bits |= out->addr[i] & ~mask;
		out->addr[i] &= mask;
	}
	if (!host_bits)
		return 0;
	/* Kubernetes accepts a policy CIDR like 10.1.2.3/8 and means its
	 * network (upstream's own tests write podIP/4); an address is exact. */
	if (!need_len)
		return cfgy_fail(p, n, "%s '%s' has host bits set beyond the prefix", what, s);
	shunt_addr_format(out->addr, text, sizeof(text));
	cfgy_warn(p, n, "%s '%s' has host bits set; read as %s/%lu, as Kubernetes does", what, s,
		  text, len);
	return 0;
}

int cfgy_parse_proto(struct cfg_parser *p, yaml_node_t *n, __u8 *proto)
{
	const char *s;
	int err;

	if ((err = cfgy_get_str(p, n, "protocol", &s)))
		return err;
	if (!strcmp(s, "TCP"))
		*proto = SHUNT_PROTO_TCP;
	else if (!strcmp(s, "UDP"))
		*proto = SHUNT_PROTO_UDP;
	else if (!strcmp(s, "SCTP"))
		*proto = SHUNT_PROTO_SCTP;
	else
		return cfgy_fail(p, n, "protocol must be TCP, UDP or SCTP, not '%s'", s);
	return 0;
}
