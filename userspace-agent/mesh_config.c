// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * YAML -> struct mesh_config with libyaml's document API: the whole file is
 * loaded as a node tree (every node knows its line and column), then walked
 * against the schema. Unknown keys, wrong types and dangling references are
 * errors that name FILE:LINE:COL.
 */
#include "mesh_config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "addr.h"
#include "keymap.h"
#include "mesh_shared.h"

#define MAX_CONFIG_BYTES (64u << 20)

struct parser {
	yaml_document_t doc;
	struct mesh_config *cfg;
	struct cfg_error *err;
};

static int fail(struct parser *p, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct parser *p, const yaml_node_t *n, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(p->err->msg, sizeof(p->err->msg), "%s:%lu:%lu: %s", p->cfg->path,
		 n ? (unsigned long)n->start_mark.line + 1 : 1UL,
		 n ? (unsigned long)n->start_mark.column + 1 : 1UL, msg);
	return -EINVAL;
}

static int oom(struct parser *p)
{
	snprintf(p->err->msg, sizeof(p->err->msg), "%s: out of memory", p->cfg->path);
	return -ENOMEM;
}

static struct cfg_pos pos_of(const yaml_node_t *n)
{
	return (struct cfg_pos){n->start_mark.line + 1, n->start_mark.column + 1};
}

static yaml_node_t *node_at(struct parser *p, int index)
{
	return yaml_document_get_node(&p->doc, index);
}

static bool is_null(const yaml_node_t *n)
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

static const char *kind_of(const yaml_node_t *n)
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
static int check_map(struct parser *p, yaml_node_t *n, const char *what, const char *const *allowed)
{
	yaml_node_pair_t *a, *b;
	size_t i;

	if (n->type != YAML_MAPPING_NODE)
		return fail(p, n, "%s must be a mapping, not %s", what, kind_of(n));
	for (a = n->data.mapping.pairs.start; a < n->data.mapping.pairs.top; a++) {
		yaml_node_t *k = node_at(p, a->key);

		if (k->type != YAML_SCALAR_NODE)
			return fail(p, k, "keys of %s must be plain names", what);
		for (i = 0; allowed[i]; i++)
			if (strcmp((const char *)k->data.scalar.value, allowed[i]) == 0)
				break;
		if (!allowed[i]) {
			char list[200] = "";

			for (i = 0; allowed[i]; i++) {
				strncat(list, i ? ", " : "", sizeof(list) - strlen(list) - 1);
				strncat(list, allowed[i], sizeof(list) - strlen(list) - 1);
			}
			return fail(p, k, "unknown key '%s' in %s (known: %s)",
				    (const char *)k->data.scalar.value, what, list);
		}
		for (b = n->data.mapping.pairs.start; b < a; b++) {
			yaml_node_t *kb = node_at(p, b->key);

			if (strcmp((const char *)kb->data.scalar.value,
				   (const char *)k->data.scalar.value) == 0)
				return fail(p, k, "key '%s' appears twice in %s",
					    (const char *)k->data.scalar.value, what);
		}
	}
	return 0;
}

static yaml_node_t *map_get(struct parser *p, yaml_node_t *n, const char *key)
{
	yaml_node_pair_t *a;

	for (a = n->data.mapping.pairs.start; a < n->data.mapping.pairs.top; a++) {
		yaml_node_t *k = node_at(p, a->key);

		if (strcmp((const char *)k->data.scalar.value, key) == 0)
			return node_at(p, a->value);
	}
	return NULL;
}

static int get_str(struct parser *p, yaml_node_t *n, const char *what, const char **out)
{
	if (n->type != YAML_SCALAR_NODE || is_null(n))
		return fail(p, n, "%s must be a string", what);
	*out = shunt_arena_strndup(&p->cfg->arena, (const char *)n->data.scalar.value,
				   n->data.scalar.length);
	if (!*out)
		return oom(p);
	if (strlen(*out) != n->data.scalar.length)
		return fail(p, n, "%s contains a NUL byte", what);
	return 0;
}

static int get_uint(struct parser *p, yaml_node_t *n, const char *what, unsigned long min,
		    unsigned long max, unsigned long *out)
{
	const char *s = (const char *)n->data.scalar.value;
	unsigned long v;
	char *end;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
	    !n->data.scalar.length || s[0] < '0' || s[0] > '9')
		return fail(p, n, "%s must be a number from %lu to %lu", what, min, max);
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return fail(p, n, "%s must be a number from %lu to %lu, not '%s'", what, min, max,
			    s);
	*out = v;
	return 0;
}

/* A list: *COUNT items; null counts as an empty list. */
static int get_seq(struct parser *p, yaml_node_t *n, const char *what, size_t *count)
{
	if (is_null(n)) {
		*count = 0;
		return 0;
	}
	if (n->type != YAML_SEQUENCE_NODE)
		return fail(p, n, "%s must be a list, not %s", what, kind_of(n));
	*count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	return 0;
}

static yaml_node_t *seq_item(struct parser *p, yaml_node_t *n, size_t i)
{
	return node_at(p, n->data.sequence.items.start[i]);
}

static void *alloc_array(struct parser *p, size_t n, size_t size)
{
	if (!n)
		return NULL;
	return shunt_arena_alloc(&p->cfg->arena, n * size);
}

/* DNS-1123 label: what Kubernetes accepts for names and namespaces. */
static int check_name(struct parser *p, yaml_node_t *n, const char *what, const char *s)
{
	size_t len = strlen(s), i;

	if (!len || len > 63)
		return fail(p, n, "%s must be 1 to 63 characters", what);
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return fail(p, n, "%s '%s' may only hold a-z, 0-9 and '-'", what, s);
	}
	if (s[0] == '-' || s[len - 1] == '-')
		return fail(p, n, "%s '%s' must start and end with a letter or digit", what, s);
	return 0;
}

static int get_name(struct parser *p, yaml_node_t *n, const char *what, const char **out)
{
	int err = get_str(p, n, what, out);

	return err ? err : check_name(p, n, what, *out);
}

/* Label keys and values as Kubernetes allows them (prefix/name=value). */
static int check_label(struct parser *p, yaml_node_t *n, const char *s, bool key)
{
	size_t len = strlen(s), i;

	if ((key && !len) || len > (key ? 253 : 63))
		return fail(p, n, "label %s '%s' has a bad length", key ? "key" : "value", s);
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.' || (key && c == '/')))
			return fail(p, n, "label %s '%s' holds '%c'", key ? "key" : "value", s, c);
	}
	return 0;
}

static int parse_labels(struct parser *p, yaml_node_t *n, const char *what, struct cfg_labels *out)
{
	yaml_node_pair_t *a;
	size_t i = 0;
	int err;

	out->n = 0;
	if (is_null(n))
		return 0;
	if (n->type != YAML_MAPPING_NODE)
		return fail(p, n, "%s must be a mapping of label names to values", what);
	out->n = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	out->items = alloc_array(p, out->n, sizeof(*out->items));
	if (out->n && !out->items)
		return oom(p);
	for (a = n->data.mapping.pairs.start; a < n->data.mapping.pairs.top; a++, i++) {
		yaml_node_t *k = node_at(p, a->key), *v = node_at(p, a->value);
		size_t j;

		if ((err = get_str(p, k, "a label name", &out->items[i].key)) ||
		    (err = check_label(p, k, out->items[i].key, true)))
			return err;
		if (v->type != YAML_SCALAR_NODE)
			return fail(p, v, "label '%s' needs a string value", out->items[i].key);
		out->items[i].value = shunt_arena_strndup(
		    &p->cfg->arena, (const char *)v->data.scalar.value, v->data.scalar.length);
		if (!out->items[i].value)
			return oom(p);
		if ((err = check_label(p, v, out->items[i].value, false)))
			return err;
		for (j = 0; j < i; j++)
			if (strcmp(out->items[j].key, out->items[i].key) == 0)
				return fail(p, k, "label '%s' appears twice", out->items[i].key);
	}
	return 0;
}

static int parse_selector(struct parser *p, yaml_node_t *n, const char *what,
			  struct cfg_selector *sel)
{
	static const char *const keys[] = {"matchLabels", "matchExpressions", NULL};
	static const char *const expr_keys[] = {"key", "operator", "values", NULL};
	yaml_node_t *v;
	size_t i, j;
	int err;

	memset(sel, 0, sizeof(*sel));
	if (is_null(n))
		return 0;
	if ((err = check_map(p, n, what, keys)))
		return err;
	if ((v = map_get(p, n, "matchLabels")) &&
	    (err = parse_labels(p, v, "matchLabels", &sel->match_labels)))
		return err;
	if (!(v = map_get(p, n, "matchExpressions")))
		return 0;
	if ((err = get_seq(p, v, "matchExpressions", &sel->nexprs)))
		return err;
	sel->exprs = alloc_array(p, sel->nexprs, sizeof(*sel->exprs));
	if (sel->nexprs && !sel->exprs)
		return oom(p);
	for (i = 0; i < sel->nexprs; i++) {
		struct cfg_match_expr *e = &sel->exprs[i];
		yaml_node_t *en = seq_item(p, v, i), *f;
		const char *op;

		if ((err = check_map(p, en, "a match expression", expr_keys)))
			return err;
		if (!(f = map_get(p, en, "key")))
			return fail(p, en, "a match expression needs 'key'");
		if ((err = get_str(p, f, "key", &e->key)) ||
		    (err = check_label(p, f, e->key, true)))
			return err;
		if (!(f = map_get(p, en, "operator")))
			return fail(p, en, "a match expression needs 'operator'");
		if ((err = get_str(p, f, "operator", &op)))
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
			return fail(p, f,
				    "operator must be In, NotIn, Exists or DoesNotExist, not '%s'",
				    op);
		f = map_get(p, en, "values");
		if (e->op == CFG_OP_IN || e->op == CFG_OP_NOT_IN) {
			if (!f)
				return fail(p, en, "operator %s needs 'values'", op);
			if ((err = get_seq(p, f, "values", &e->nvalues)))
				return err;
			if (!e->nvalues)
				return fail(p, f, "operator %s needs at least one value", op);
			e->values = alloc_array(p, e->nvalues, sizeof(*e->values));
			if (!e->values)
				return oom(p);
			for (j = 0; j < e->nvalues; j++)
				if ((err = get_str(p, seq_item(p, f, j), "a value", &e->values[j])))
					return err;
		} else if (f) {
			return fail(p, f, "operator %s takes no values", op);
		}
	}
	return 0;
}

/* "10.0.0.0/8", "fd00::/64" or a plain address (a /32 or /128). */
static int parse_prefix(struct parser *p, yaml_node_t *n, const char *what, bool need_len,
			struct cfg_prefix *out)
{
	const char *s, *slash;
	char addr[SHUNT_ADDR_STRLEN + 1];
	unsigned long len;
	size_t alen;
	char *end;
	int err, i;

	if ((err = get_str(p, n, what, &s)))
		return err;
	slash = strchr(s, '/');
	alen = slash ? (size_t)(slash - s) : strlen(s);
	if (alen >= sizeof(addr))
		return fail(p, n, "%s '%s' is not an IP address", what, s);
	memcpy(addr, s, alen);
	addr[alen] = 0;
	if (shunt_addr_parse(addr, out->addr))
		return fail(p, n, "%s '%s' is not an IP address", what, s);
	out->v4 = shunt_addr_is_v4(out->addr) && !strchr(addr, ':');
	if (!slash) {
		if (need_len)
			return fail(p, n, "%s '%s' needs a prefix length (like 10.0.0.0/8)", what,
				    s);
		out->len = 128;
		return 0;
	}
	errno = 0;
	len = strtoul(slash + 1, &end, 10);
	if (errno || *end || !slash[1] || len > (out->v4 ? 32u : 128u))
		return fail(p, n, "%s '%s' has a bad prefix length", what, s);
	out->len = (unsigned int)len + (out->v4 ? 96 : 0);
	/* Bits beyond the prefix must be zero, as Kubernetes requires. */
	for (i = 0; i < 16; i++) {
		unsigned int bit = (unsigned int)i * 8;
		__u8 mask =
		    bit >= out->len
			? 0
			: (out->len - bit >= 8 ? 0xff : (__u8)(0xff << (8 - (out->len - bit))));

		if (out->addr[i] & ~mask)
			return fail(p, n, "%s '%s' has host bits set beyond the prefix", what, s);
	}
	return 0;
}

static int parse_proto(struct parser *p, yaml_node_t *n, __u8 *proto)
{
	const char *s;
	int err;

	if ((err = get_str(p, n, "protocol", &s)))
		return err;
	if (!strcmp(s, "TCP"))
		*proto = SHUNT_PROTO_TCP;
	else if (!strcmp(s, "UDP"))
		*proto = SHUNT_PROTO_UDP;
	else
		return fail(p, n, "protocol must be TCP or UDP, not '%s'", s);
	return 0;
}

#define MAX_PORT_RANGE 1024

static int parse_port(struct parser *p, yaml_node_t *n, struct cfg_port *out)
{
	static const char *const keys[] = {"protocol", "port", "endPort", NULL};
	yaml_node_t *v, *pn;
	unsigned long num;
	int err;

	if ((err = check_map(p, n, "a port", keys)))
		return err;
	out->proto = SHUNT_PROTO_TCP; /* the Kubernetes default */
	if ((v = map_get(p, n, "protocol")) && (err = parse_proto(p, v, &out->proto)))
		return err;
	if ((pn = map_get(p, n, "port"))) {
		if (pn->type == YAML_SCALAR_NODE && pn->data.scalar.length &&
		    (pn->data.scalar.value[0] < '0' || pn->data.scalar.value[0] > '9'))
			return fail(p, pn, "named ports ('%s') are not supported; use a number",
				    (const char *)pn->data.scalar.value);
		if ((err = get_uint(p, pn, "port", 1, 65535, &num)))
			return err;
		out->port = out->end_port = (__u16)num;
	}
	if ((v = map_get(p, n, "endPort"))) {
		if (!pn)
			return fail(p, v, "endPort needs port");
		if ((err = get_uint(p, v, "endPort", out->port, 65535, &num)))
			return err;
		if (num - out->port >= MAX_PORT_RANGE)
			return fail(p, v, "a port range may span at most %d ports", MAX_PORT_RANGE);
		out->end_port = (__u16)num;
	}
	return 0;
}

static int parse_peer(struct parser *p, yaml_node_t *n, struct cfg_peer *out)
{
	static const char *const keys[] = {"podSelector", "namespaceSelector", "ipBlock",
					   "serviceAccount", NULL};
	static const char *const block_keys[] = {"cidr", "except", NULL};
	static const char *const sa_keys[] = {"namespace", "name", NULL};
	yaml_node_t *pods, *nss, *block, *sa, *v;
	size_t i;
	int err;

	if ((err = check_map(p, n, "a peer", keys)))
		return err;
	pods = map_get(p, n, "podSelector");
	nss = map_get(p, n, "namespaceSelector");
	block = map_get(p, n, "ipBlock");
	sa = map_get(p, n, "serviceAccount");
	if ((pods || nss) + !!block + !!sa != 1)
		return fail(p, n,
			    "a peer is podSelector and/or namespaceSelector, or ipBlock, or "
			    "serviceAccount: exactly one of those");
	if (pods || nss) {
		out->kind = CFG_PEER_PODS;
		if (pods) {
			out->pods = shunt_arena_alloc(&p->cfg->arena, sizeof(*out->pods));
			if (!out->pods)
				return oom(p);
			if ((err = parse_selector(p, pods, "podSelector", out->pods)))
				return err;
		}
		if (nss) {
			out->namespaces =
			    shunt_arena_alloc(&p->cfg->arena, sizeof(*out->namespaces));
			if (!out->namespaces)
				return oom(p);
			if ((err = parse_selector(p, nss, "namespaceSelector", out->namespaces)))
				return err;
		}
		return 0;
	}
	if (sa) {
		out->kind = CFG_PEER_IDENTITY;
		if ((err = check_map(p, sa, "serviceAccount", sa_keys)))
			return err;
		if (!(v = map_get(p, sa, "namespace")))
			return fail(p, sa, "serviceAccount needs 'namespace'");
		if ((err = get_name(p, v, "namespace", &out->sa_namespace)))
			return err;
		if (!(v = map_get(p, sa, "name")))
			return fail(p, sa, "serviceAccount needs 'name'");
		return get_name(p, v, "service account name", &out->sa_name);
	}
	out->kind = CFG_PEER_IPBLOCK;
	if ((err = check_map(p, block, "ipBlock", block_keys)))
		return err;
	if (!(v = map_get(p, block, "cidr")))
		return fail(p, block, "ipBlock needs 'cidr'");
	if ((err = parse_prefix(p, v, "cidr", true, &out->cidr)))
		return err;
	if (!(v = map_get(p, block, "except")))
		return 0;
	if ((err = get_seq(p, v, "except", &out->nexcept)))
		return err;
	out->except = alloc_array(p, out->nexcept, sizeof(*out->except));
	if (out->nexcept && !out->except)
		return oom(p);
	for (i = 0; i < out->nexcept; i++) {
		yaml_node_t *en = seq_item(p, v, i);

		if ((err = parse_prefix(p, en, "except", true, &out->except[i])))
			return err;
		if (out->except[i].v4 != out->cidr.v4 || out->except[i].len <= out->cidr.len ||
		    !cfg_prefix_contains(&out->cidr, out->except[i].addr, out->except[i].len))
			return fail(p, en, "except must be a smaller range inside cidr");
	}
	return 0;
}

static int parse_rule(struct parser *p, yaml_node_t *n, bool ingress, struct cfg_rule *out)
{
	static const char *const in_keys[] = {"from", "ports", NULL};
	static const char *const out_keys[] = {"to", "ports", NULL};
	yaml_node_t *v;
	size_t i;
	int err;

	out->pos = pos_of(n);
	if (is_null(n))
		return 0; /* "- {}" or "-": every peer, every port */
	if ((err = check_map(p, n, "a rule", ingress ? in_keys : out_keys)))
		return err;
	if ((v = map_get(p, n, ingress ? "from" : "to"))) {
		if ((err = get_seq(p, v, ingress ? "from" : "to", &out->npeers)))
			return err;
		out->peers = alloc_array(p, out->npeers, sizeof(*out->peers));
		if (out->npeers && !out->peers)
			return oom(p);
		for (i = 0; i < out->npeers; i++)
			if ((err = parse_peer(p, seq_item(p, v, i), &out->peers[i])))
				return err;
	}
	if ((v = map_get(p, n, "ports"))) {
		if ((err = get_seq(p, v, "ports", &out->nports)))
			return err;
		out->ports = alloc_array(p, out->nports, sizeof(*out->ports));
		if (out->nports && !out->ports)
			return oom(p);
		for (i = 0; i < out->nports; i++)
			if ((err = parse_port(p, seq_item(p, v, i), &out->ports[i])))
				return err;
	}
	return 0;
}

static const char *const rule_keys[CFG_RULE_KINDS] = {"ingress", "egress", "ingressDeny",
						      "egressDeny"};

static int parse_policy(struct parser *p, yaml_node_t *n, struct cfg_policy *out)
{
	static const char *const keys[] = {"name",	  "namespace",	"podSelector",
					   "policyTypes", "ingress",	"egress",
					   "ingressDeny", "egressDeny", NULL};
	yaml_node_t *v;
	size_t i, k;
	int err;

	out->pos = pos_of(n);
	if ((err = check_map(p, n, "a policy", keys)))
		return err;
	if (!(v = map_get(p, n, "name")))
		return fail(p, n, "a policy needs 'name'");
	if ((err = get_name(p, v, "policy name", &out->name)))
		return err;
	out->ns = "default";
	if ((v = map_get(p, n, "namespace")) && (err = get_name(p, v, "namespace", &out->ns)))
		return err;
	if (!(v = map_get(p, n, "podSelector")))
		return fail(p, n, "policy %s needs 'podSelector' ({} selects every pod)",
			    out->name);
	if ((err = parse_selector(p, v, "podSelector", &out->subject)))
		return err;
	for (k = 0; k < CFG_RULE_KINDS; k++) {
		bool ingress = k == CFG_INGRESS || k == CFG_INGRESS_DENY;

		if (!(v = map_get(p, n, rule_keys[k])))
			continue;
		if ((err = get_seq(p, v, rule_keys[k], &out->nrules[k])))
			return err;
		out->rules[k] = alloc_array(p, out->nrules[k], sizeof(*out->rules[k]));
		if (out->nrules[k] && !out->rules[k])
			return oom(p);
		for (i = 0; i < out->nrules[k]; i++)
			if ((err = parse_rule(p, seq_item(p, v, i), ingress, &out->rules[k][i])))
				return err;
	}
	/* Kubernetes defaults: Ingress always, Egress when there are egress rules. */
	if (!(v = map_get(p, n, "policyTypes"))) {
		out->isolates[SHUNT_DIR_INGRESS] = true;
		out->isolates[SHUNT_DIR_EGRESS] = map_get(p, n, "egress") != NULL;
		return 0;
	}
	if ((err = get_seq(p, v, "policyTypes", &k)))
		return err;
	for (i = 0; i < k; i++) {
		yaml_node_t *t = seq_item(p, v, i);
		const char *s;

		if ((err = get_str(p, t, "a policy type", &s)))
			return err;
		if (!strcmp(s, "Ingress"))
			out->isolates[SHUNT_DIR_INGRESS] = true;
		else if (!strcmp(s, "Egress"))
			out->isolates[SHUNT_DIR_EGRESS] = true;
		else
			return fail(p, t, "policy type must be Ingress or Egress, not '%s'", s);
	}
	return 0;
}

static int parse_addrs(struct parser *p, yaml_node_t *n, const char *what, struct cfg_prefix *addrs,
		       size_t *count)
{
	size_t i;
	int err;

	if ((err = get_seq(p, n, what, count)))
		return err;
	if (*count > CFG_MAX_ADDRS)
		return fail(p, n, "at most %d %s", CFG_MAX_ADDRS, what);
	for (i = 0; i < *count; i++)
		if ((err = parse_prefix(p, seq_item(p, n, i), "address", false, &addrs[i])))
			return err;
	return 0;
}

static int parse_workload(struct parser *p, yaml_node_t *n, struct cfg_workload *out)
{
	static const char *const keys[] = {"name",   "namespace", "serviceAccount",
					   "labels", "node",	  "addresses",
					   "netns",  "cgroup",	  NULL};
	yaml_node_t *v;
	int err;

	out->pos = pos_of(n);
	if ((err = check_map(p, n, "a workload", keys)))
		return err;
	if (!(v = map_get(p, n, "name")))
		return fail(p, n, "a workload needs 'name'");
	if ((err = get_name(p, v, "workload name", &out->name)))
		return err;
	out->ns = "default";
	out->service_account = "default";
	if ((v = map_get(p, n, "namespace")) && (err = get_name(p, v, "namespace", &out->ns)))
		return err;
	if ((v = map_get(p, n, "serviceAccount")) &&
	    (err = get_name(p, v, "serviceAccount", &out->service_account)))
		return err;
	if ((v = map_get(p, n, "labels")) && (err = parse_labels(p, v, "labels", &out->labels)))
		return err;
	if (!(v = map_get(p, n, "node")))
		return fail(p, n, "workload %s needs 'node'", out->name);
	if ((err = get_str(p, v, "node", &out->node)))
		return err;
	if (!(v = map_get(p, n, "addresses")))
		return fail(p, n, "workload %s needs 'addresses'", out->name);
	if ((err = parse_addrs(p, v, "addresses", out->addrs, &out->naddrs)))
		return err;
	if (!out->naddrs)
		return fail(p, v, "workload %s needs at least one address", out->name);
	if ((v = map_get(p, n, "netns")) && (err = get_str(p, v, "netns", &out->netns)))
		return err;
	if ((v = map_get(p, n, "cgroup")) && (err = get_str(p, v, "cgroup", &out->cgroup)))
		return err;
	return 0;
}

/* mtls: {mode: STRICT|PERMISSIVE}, like Istio's PeerAuthentication. */
static int parse_mtls(struct parser *p, yaml_node_t *n, enum cfg_mtls *out)
{
	static const char *const keys[] = {"mode", NULL};
	yaml_node_t *v;
	const char *mode;
	int err;

	if ((err = check_map(p, n, "mtls", keys)))
		return err;
	if (!(v = map_get(p, n, "mode")))
		return fail(p, n, "mtls needs 'mode' (STRICT or PERMISSIVE)");
	if ((err = get_str(p, v, "mode", &mode)))
		return err;
	if (!strcmp(mode, "STRICT"))
		*out = CFG_MTLS_STRICT;
	else if (!strcmp(mode, "PERMISSIVE"))
		*out = CFG_MTLS_PERMISSIVE;
	else
		return fail(p, v, "mtls mode must be STRICT or PERMISSIVE, not '%s'", mode);
	return 0;
}

static int parse_namespace(struct parser *p, yaml_node_t *n, struct cfg_namespace *out)
{
	static const char *const keys[] = {"name", "labels", "mtls", NULL};
	yaml_node_t *v;
	int err;

	out->pos = pos_of(n);
	if ((err = check_map(p, n, "a namespace", keys)))
		return err;
	if (!(v = map_get(p, n, "name")))
		return fail(p, n, "a namespace needs 'name'");
	if ((err = get_name(p, v, "namespace name", &out->name)))
		return err;
	if ((v = map_get(p, n, "labels")) && (err = parse_labels(p, v, "labels", &out->labels)))
		return err;
	if ((v = map_get(p, n, "mtls")) && (err = parse_mtls(p, v, &out->mtls)))
		return err;
	return 0;
}

/* "10.0.0.1:15001" or "[fd00::1]:15001". */
static int parse_endpoint(struct parser *p, yaml_node_t *n, const char *what,
			  struct cfg_endpoint *out)
{
	const char *s;
	int err;

	if ((err = get_str(p, n, what, &s)))
		return err;
	if (shunt_endpoint_parse(s, out->addr, &out->port))
		return fail(p, n, "%s '%s' must be ADDRESS:PORT", what, s);
	return 0;
}

static int parse_node(struct parser *p, yaml_node_t *n, struct cfg_node *out)
{
	static const char *const keys[] = {"name", "proxy", NULL};
	static const char *const proxy_keys[] = {"outbound", "outbound6",     "inbound", "netns",
						 "cgroup",   "sourceAddress", NULL};
	yaml_node_t *v, *px;
	int err;

	out->pos = pos_of(n);
	if ((err = check_map(p, n, "a node", keys)))
		return err;
	if (!(v = map_get(p, n, "name")))
		return fail(p, n, "a node needs 'name'");
	if ((err = get_str(p, v, "node name", &out->name)))
		return err;
	if (!(px = map_get(p, n, "proxy")))
		return 0;
	if ((err = check_map(p, px, "proxy", proxy_keys)))
		return err;
	if (!(v = map_get(p, px, "outbound")))
		return fail(p, px, "proxy needs 'outbound' (where pods reach it)");
	if ((err = parse_endpoint(p, v, "outbound", &out->outbound)))
		return err;
	if (!shunt_addr_is_v4(out->outbound.addr))
		return fail(p, v, "the outbound proxy address must be IPv4 (IPv6: outbound6)");
	if ((v = map_get(p, px, "outbound6"))) {
		if ((err = parse_endpoint(p, v, "outbound6", &out->outbound6)))
			return err;
		if (shunt_addr_is_v4(out->outbound6.addr))
			return fail(p, v, "outbound6 must be an IPv6 address");
		out->has_outbound6 = true;
	}
	if (!(v = map_get(p, px, "inbound")))
		return fail(p, px, "proxy needs 'inbound' (where other nodes reach it)");
	if ((err = parse_endpoint(p, v, "inbound", &out->inbound)))
		return err;
	if ((v = map_get(p, px, "netns")) && (err = get_str(p, v, "netns", &out->proxy_netns)))
		return err;
	if ((v = map_get(p, px, "cgroup")) && (err = get_str(p, v, "cgroup", &out->proxy_cgroup)))
		return err;
	if ((v = map_get(p, px, "sourceAddress"))) {
		const char *mode;

		if ((err = get_str(p, v, "sourceAddress", &mode)))
			return err;
		if (strcmp(mode, "client") && strcmp(mode, "node"))
			return fail(p, v, "sourceAddress must be 'client' or 'node', not '%s'",
				    mode);
		out->source_from_node = !strcmp(mode, "node");
	}
	if (!out->proxy_netns != !out->proxy_cgroup)
		return fail(p, px,
			    "proxy: give both 'netns' and 'cgroup' (where it runs), or neither");
	out->has_proxy = true;
	return 0;
}

static int parse_service_port(struct parser *p, yaml_node_t *n, struct cfg_service_port *out)
{
	static const char *const keys[] = {"name",     "port",	      "targetPort",
					   "protocol", "appProtocol", NULL};
	yaml_node_t *v;
	unsigned long num;
	int err;

	if ((err = check_map(p, n, "a service port", keys)))
		return err;
	if ((v = map_get(p, n, "name")) && (err = get_name(p, v, "port name", &out->name)))
		return err;
	if (!(v = map_get(p, n, "port")))
		return fail(p, n, "a service port needs 'port'");
	if ((err = get_uint(p, v, "port", 1, 65535, &num)))
		return err;
	out->port = out->target_port = (__u16)num;
	if ((v = map_get(p, n, "targetPort"))) {
		if ((err = get_uint(p, v, "targetPort", 1, 65535, &num)))
			return err;
		out->target_port = (__u16)num;
	}
	out->proto = SHUNT_PROTO_TCP;
	if ((v = map_get(p, n, "protocol")) && (err = parse_proto(p, v, &out->proto)))
		return err;
	out->app_protocol = "tcp";
	if ((v = map_get(p, n, "appProtocol"))) {
		if ((err = get_str(p, v, "appProtocol", &out->app_protocol)))
			return err;
		if (strcmp(out->app_protocol, "tcp") && strcmp(out->app_protocol, "http") &&
		    strcmp(out->app_protocol, "grpc"))
			return fail(p, v, "appProtocol must be tcp, http or grpc, not '%s'",
				    out->app_protocol);
		if (out->proto != SHUNT_PROTO_TCP && strcmp(out->app_protocol, "tcp"))
			return fail(p, v, "appProtocol %s needs protocol TCP", out->app_protocol);
	}
	return 0;
}

static int parse_backend(struct parser *p, yaml_node_t *n, struct cfg_backend *out)
{
	static const char *const keys[] = {"workload", "address", "weight", NULL};
	yaml_node_t *w, *a, *v;
	unsigned long num;
	int err;

	out->pos = pos_of(n);
	if ((err = check_map(p, n, "a backend", keys)))
		return err;
	w = map_get(p, n, "workload");
	a = map_get(p, n, "address");
	if (!!w == !!a)
		return fail(p, n, "a backend is a workload or an address: exactly one of those");
	if (w && (err = get_name(p, w, "workload", &out->workload)))
		return err;
	if (a && (err = parse_prefix(p, a, "address", false, &out->addr)))
		return err;
	if (a && out->addr.len != 128)
		return fail(p, a, "a backend address is one address, not a range");
	out->weight = 1;
	if ((v = map_get(p, n, "weight"))) {
		if ((err = get_uint(p, v, "weight", 0, 1000000, &num)))
			return err;
		out->weight = (__u32)num;
	}
	return 0;
}

static int parse_service(struct parser *p, yaml_node_t *n, struct cfg_service *out)
{
	static const char *const keys[] = {"name",     "namespace", "virtualIPs", "ports",
					   "selector", "backends",  NULL};
	yaml_node_t *v, *sel;
	size_t i, j;
	int err;

	out->pos = pos_of(n);
	if ((err = check_map(p, n, "a service", keys)))
		return err;
	if (!(v = map_get(p, n, "name")))
		return fail(p, n, "a service needs 'name'");
	if ((err = get_name(p, v, "service name", &out->name)))
		return err;
	out->ns = "default";
	if ((v = map_get(p, n, "namespace")) && (err = get_name(p, v, "namespace", &out->ns)))
		return err;
	if (!(v = map_get(p, n, "virtualIPs")))
		return fail(p, n, "service %s needs 'virtualIPs'", out->name);
	if ((err = parse_addrs(p, v, "virtualIPs", out->vips, &out->nvips)))
		return err;
	if (!out->nvips)
		return fail(p, v, "service %s needs at least one virtual IP", out->name);
	for (i = 0; i < out->nvips; i++)
		if (out->vips[i].len != 128)
			return fail(p, v, "a virtual IP is one address, not a range");
	if (!(v = map_get(p, n, "ports")))
		return fail(p, n, "service %s needs 'ports'", out->name);
	if ((err = get_seq(p, v, "ports", &out->nports)))
		return err;
	if (!out->nports)
		return fail(p, v, "service %s needs at least one port", out->name);
	out->ports = alloc_array(p, out->nports, sizeof(*out->ports));
	if (!out->ports)
		return oom(p);
	for (i = 0; i < out->nports; i++) {
		yaml_node_t *pn = seq_item(p, v, i);

		if ((err = parse_service_port(p, pn, &out->ports[i])))
			return err;
		for (j = 0; j < i; j++)
			if (out->ports[j].port == out->ports[i].port &&
			    out->ports[j].proto == out->ports[i].proto)
				return fail(p, pn, "port %u/%s is listed twice", out->ports[i].port,
					    out->ports[i].proto == SHUNT_PROTO_TCP ? "TCP" : "UDP");
	}
	sel = map_get(p, n, "selector");
	v = map_get(p, n, "backends");
	if (sel && v)
		return fail(p, v, "service %s has both 'selector' and 'backends'; use one",
			    out->name);
	if (sel) {
		out->has_selector = true;
		return parse_labels(p, sel, "selector", &out->selector);
	}
	if (!v)
		return 0; /* no backends: connects are refused */
	if ((err = get_seq(p, v, "backends", &out->nbackends)))
		return err;
	if (out->nbackends > SHUNT_MAX_SERVICE_BACKENDS)
		return fail(p, v, "at most %d backends per service", SHUNT_MAX_SERVICE_BACKENDS);
	out->backends = alloc_array(p, out->nbackends, sizeof(*out->backends));
	if (out->nbackends && !out->backends)
		return oom(p);
	for (i = 0; i < out->nbackends; i++)
		if ((err = parse_backend(p, seq_item(p, v, i), &out->backends[i])))
			return err;
	return 0;
}

/* Parses each item of the top-level list KEY with FN into a fresh array. */
#define PARSE_LIST(p, root, key, arr, count, fn)                                                   \
	({                                                                                         \
		yaml_node_t *_v = map_get(p, root, key);                                           \
		int _err = 0;                                                                      \
		size_t _i;                                                                         \
		if (_v && !(_err = get_seq(p, _v, key, &(count)))) {                               \
			(arr) = alloc_array(p, count, sizeof(*(arr)));                             \
			if ((count) && !(arr))                                                     \
				_err = oom(p);                                                     \
			for (_i = 0; !_err && _i < (count); _i++)                                  \
				_err = fn(p, seq_item(p, _v, _i), &(arr)[_i]);                     \
		}                                                                                  \
		_err;                                                                              \
	})

static int fail_at(struct parser *p, struct cfg_pos pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_at(struct parser *p, struct cfg_pos pos, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(p->err->msg, sizeof(p->err->msg), "%s:%u:%u: %s", p->cfg->path, pos.line, pos.col,
		 msg);
	return -EINVAL;
}

/* "ns/name" into BUF; names are at most 63 bytes each. */
static size_t qualified(char *buf, size_t len, const char *ns, const char *name)
{
	return (size_t)snprintf(buf, len, "%s/%s", ns, name);
}

/* Checks across objects: unique names and addresses, references that
 * resolve. Hash maps keep it linear for configs of 10,000 workloads. */
static int cross_check_maps(struct parser *p, struct keymap *names, struct keymap *addrs)
{
	const struct mesh_config *cfg = p->cfg;
	char a[SHUNT_ADDR_STRLEN], key[160];
	size_t i, k, len, other;
	bool dup;
	int err;

	for (i = 0; i < cfg->nnamespaces; i++) {
		len = qualified(key, sizeof(key), "namespace", cfg->namespaces[i].name);
		if ((err = keymap_put(names, key, len, i, &dup)))
			return err;
		if (dup)
			return fail_at(p, cfg->namespaces[i].pos, "namespace %s is defined twice",
				       cfg->namespaces[i].name);
	}
	for (i = 0; i < cfg->nworkloads; i++) {
		const struct cfg_workload *w = &cfg->workloads[i];

		len = qualified(key, sizeof(key), w->ns, w->name);
		if (keymap_get(names, key, len, &other))
			return fail_at(p, w->pos,
				       "workload %s/%s is defined twice (first at line %u)", w->ns,
				       w->name, cfg->workloads[other].pos.line);
		if ((err = keymap_put(names, key, len, i, NULL)))
			return err;
		for (k = 0; k < w->naddrs; k++) {
			if (keymap_get(addrs, w->addrs[k].addr, 16, &other)) {
				const struct cfg_workload *o = &cfg->workloads[other];

				shunt_addr_format(w->addrs[k].addr, a, sizeof(a));
				return fail_at(
				    p, w->pos,
				    "address %s of %s/%s already belongs to %s/%s (line %u)", a,
				    w->ns, w->name, o->ns, o->name, o->pos.line);
			}
			if ((err = keymap_put(addrs, w->addrs[k].addr, 16, i, NULL)))
				return err;
		}
	}
	for (i = 0; i < cfg->nservices; i++) {
		const struct cfg_service *s = &cfg->services[i];

		for (k = 0; k < s->nbackends; k++) {
			if (!s->backends[k].workload)
				continue;
			len = qualified(key, sizeof(key), s->ns, s->backends[k].workload);
			if (!keymap_get(names, key, len, NULL))
				return fail_at(p, s->backends[k].pos,
					       "backend workload %s/%s is not defined", s->ns,
					       s->backends[k].workload);
		}
		len = qualified(key, sizeof(key), s->ns, s->name);
		key[len++] = '@'; /* services have a name space of their own */
		if (keymap_get(names, key, len, &other))
			return fail_at(p, s->pos,
				       "service %s/%s is defined twice (first at line %u)", s->ns,
				       s->name, cfg->services[other].pos.line);
		if ((err = keymap_put(names, key, len, i, NULL)))
			return err;
		for (k = 0; k < s->nvips; k++) {
			shunt_addr_format(s->vips[k].addr, a, sizeof(a));
			if (keymap_get(addrs, s->vips[k].addr, 16, &other)) {
				if (other < cfg->nworkloads)
					return fail_at(p, s->pos,
						       "virtual IP %s is workload %s/%s's address",
						       a, cfg->workloads[other].ns,
						       cfg->workloads[other].name);
				other -= cfg->nworkloads;
				return fail_at(
				    p, s->pos, "virtual IP %s is already service %s/%s's (line %u)",
				    a, cfg->services[other].ns, cfg->services[other].name,
				    cfg->services[other].pos.line);
			}
			if ((err =
				 keymap_put(addrs, s->vips[k].addr, 16, cfg->nworkloads + i, NULL)))
				return err;
		}
	}
	for (i = 0; i < cfg->npolicies; i++) {
		const struct cfg_policy *pol = &cfg->policies[i];

		len = qualified(key, sizeof(key), pol->ns, pol->name);
		key[len++] = '#';
		if (keymap_get(names, key, len, &other))
			return fail_at(p, pol->pos,
				       "policy %s/%s is defined twice (first at line %u)", pol->ns,
				       pol->name, cfg->policies[other].pos.line);
		if ((err = keymap_put(names, key, len, i, NULL)))
			return err;
	}
	return 0;
}

static int cross_check(struct parser *p)
{
	struct keymap names = {0}, addrs = {0};
	int err = cross_check_maps(p, &names, &addrs);

	keymap_free(&names);
	keymap_free(&addrs);
	if (err == -ENOMEM)
		return oom(p);
	return err;
}

static int parse_root(struct parser *p)
{
	static const char *const keys[] = {"apiVersion", "trustDomain", "mtls",
					   "nodes",	 "namespaces",	"workloads",
					   "services",	 "policies",	NULL};
	struct mesh_config *cfg = p->cfg;
	yaml_node_t *root = yaml_document_get_root_node(&p->doc), *v;
	const char *version;
	int err;

	if (!root)
		return fail(p, NULL, "the config is empty");
	if ((err = check_map(p, root, "the config", keys)))
		return err;
	if (!(v = map_get(p, root, "apiVersion")))
		return fail(p, root, "the config needs 'apiVersion: shunt.dev/v1'");
	if ((err = get_str(p, v, "apiVersion", &version)))
		return err;
	if (strcmp(version, "shunt.dev/v1"))
		return fail(p, v, "apiVersion must be shunt.dev/v1, not '%s'", version);
	cfg->trust_domain = "cluster.local";
	if ((v = map_get(p, root, "trustDomain")) &&
	    (err = get_str(p, v, "trustDomain", &cfg->trust_domain)))
		return err;
	if ((err = PARSE_LIST(p, root, "nodes", cfg->nodes, cfg->nnodes, parse_node)))
		return err;
	cfg->mtls = CFG_MTLS_PERMISSIVE;
	if ((v = map_get(p, root, "mtls")) && (err = parse_mtls(p, v, &cfg->mtls)))
		return err;
	if ((err = PARSE_LIST(p, root, "namespaces", cfg->namespaces, cfg->nnamespaces,
			      parse_namespace)) ||
	    (err = PARSE_LIST(p, root, "workloads", cfg->workloads, cfg->nworkloads,
			      parse_workload)) ||
	    (err = PARSE_LIST(p, root, "services", cfg->services, cfg->nservices, parse_service)) ||
	    (err = PARSE_LIST(p, root, "policies", cfg->policies, cfg->npolicies, parse_policy)))
		return err;
	return cross_check(p);
}

int mesh_config_parse(struct mesh_config *cfg, const char *path, const char *text, size_t len,
		      struct cfg_error *err)
{
	struct parser p = {.cfg = cfg, .err = err};
	yaml_parser_t parser;
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	err->msg[0] = 0;
	cfg->path = shunt_arena_strndup(&cfg->arena, path, strlen(path));
	if (!cfg->path)
		return -ENOMEM;
	if (!yaml_parser_initialize(&parser)) {
		mesh_config_free(cfg);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &p.doc)) {
		snprintf(err->msg, sizeof(err->msg), "%s:%lu:%lu: %s%s%s", path,
			 (unsigned long)parser.problem_mark.line + 1,
			 (unsigned long)parser.problem_mark.column + 1,
			 parser.problem ? parser.problem : "not valid YAML",
			 parser.context ? " " : "", parser.context ? parser.context : "");
		yaml_parser_delete(&parser);
		mesh_config_free(cfg);
		return -EINVAL;
	}
	ret = parse_root(&p);
	/* One document per file: a second one would be silently ignored. */
	if (!ret) {
		yaml_document_t next;

		if (!yaml_parser_load(&parser, &next)) {
			ret = fail(&p, NULL, "cannot read past the first document: %s",
				   parser.problem ? parser.problem : "bad YAML");
		} else {
			if (yaml_document_get_root_node(&next))
				ret = fail_at(&p,
					      (struct cfg_pos){next.start_mark.line + 1,
							       next.start_mark.column + 1},
					      "only one YAML document per config file");
			yaml_document_delete(&next);
		}
	}
	yaml_document_delete(&p.doc);
	yaml_parser_delete(&parser);
	if (ret) {
		/* Keep the message; drop everything else. */
		mesh_config_free(cfg);
		return ret;
	}
	return 0;
}

int mesh_config_load(struct mesh_config *cfg, const char *path, struct cfg_error *err)
{
	size_t cap = 0, len = 0, n;
	char *buf = NULL, *tmp;
	FILE *f;
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	f = fopen(path, "re");
	if (!f) {
		ret = -errno;
		snprintf(err->msg, sizeof(err->msg), "%s: %s", path, strerror(-ret));
		return ret;
	}
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 65536;
			if (cap > MAX_CONFIG_BYTES) {
				snprintf(err->msg, sizeof(err->msg), "%s: larger than %u MiB", path,
					 MAX_CONFIG_BYTES >> 20);
				ret = -EFBIG;
				goto out;
			}
			tmp = realloc(buf, cap);
			if (!tmp) {
				ret = -ENOMEM;
				goto out;
			}
			buf = tmp;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		ret = -EIO;
		snprintf(err->msg, sizeof(err->msg), "%s: read error", path);
		goto out;
	}
	ret = mesh_config_parse(cfg, path, buf, len, err);
out:
	free(buf);
	fclose(f);
	return ret;
}

void mesh_config_free(struct mesh_config *cfg)
{
	shunt_arena_free(&cfg->arena);
	memset(cfg, 0, sizeof(*cfg));
}

bool cfg_labels_subset(const struct cfg_labels *want, const struct cfg_labels *labels)
{
	size_t i, j;

	for (i = 0; i < want->n; i++) {
		for (j = 0; j < labels->n; j++)
			if (!strcmp(want->items[i].key, labels->items[j].key))
				break;
		if (j == labels->n || strcmp(want->items[i].value, labels->items[j].value))
			return false;
	}
	return true;
}

static const char *label_value(const struct cfg_labels *labels, const char *key)
{
	size_t i;

	for (i = 0; i < labels->n; i++)
		if (!strcmp(labels->items[i].key, key))
			return labels->items[i].value;
	return NULL;
}

bool cfg_selector_matches(const struct cfg_selector *sel, const struct cfg_labels *labels)
{
	size_t i, j;

	if (!cfg_labels_subset(&sel->match_labels, labels))
		return false;
	for (i = 0; i < sel->nexprs; i++) {
		const struct cfg_match_expr *e = &sel->exprs[i];
		const char *v = label_value(labels, e->key);
		bool in = false;

		if (e->op == CFG_OP_EXISTS || e->op == CFG_OP_DOES_NOT_EXIST) {
			if ((v != NULL) != (e->op == CFG_OP_EXISTS))
				return false;
			continue;
		}
		for (j = 0; v && j < e->nvalues; j++)
			in |= !strcmp(v, e->values[j]);
		if (in != (e->op == CFG_OP_IN))
			return false;
	}
	return true;
}

const struct cfg_node *cfg_node_find(const struct mesh_config *cfg, const char *name)
{
	size_t i;

	for (i = 0; name && i < cfg->nnodes; i++)
		if (!strcmp(cfg->nodes[i].name, name))
			return &cfg->nodes[i];
	return NULL;
}

const struct cfg_namespace *cfg_namespace_find(const struct mesh_config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->nnamespaces; i++)
		if (!strcmp(cfg->namespaces[i].name, name))
			return &cfg->namespaces[i];
	return NULL;
}

bool cfg_prefix_contains(const struct cfg_prefix *prefix, const __u8 addr[16], unsigned int len)
{
	unsigned int full = prefix->len / 8, rest = prefix->len % 8;

	if (len < prefix->len)
		return false;
	if (memcmp(prefix->addr, addr, full))
		return false;
	if (rest && ((prefix->addr[full] ^ addr[full]) & (__u8)(0xff << (8 - rest))))
		return false;
	return true;
}
