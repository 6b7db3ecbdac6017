// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The mesh model: freeing it, selectors, lookups by name and prefix. */
#include "mesh_config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void cfg_origin_format(const struct cfg_origin *o, char *buf, size_t len)
{
	switch (o->kind) {
	case CFG_ORIGIN_FILE:
		snprintf(buf, len, "%s:%u:%u", o->file ? o->file : "-", o->line, o->col);
		break;
	case CFG_ORIGIN_OBJECT:
		snprintf(buf, len, "%s/%s%s%s", o->object_kind ? o->object_kind : "-",
			 o->ns ? o->ns : "", o->ns ? "/" : "", o->name ? o->name : "-");
		break;
	default:
		snprintf(buf, len, "-");
	}
}

int cfg_vfail_at(struct cfg_error *err, const struct cfg_origin *origin, const char *fmt,
		 va_list ap)
{
	size_t n, size = sizeof(err->msg);

	cfg_origin_format(origin, err->msg, size);
	n = strlen(err->msg);
	n += (size_t)snprintf(err->msg + n, size - n, ": ");
	if (n < size)
		vsnprintf(err->msg + n, size - n, fmt, ap);
	return -EINVAL;
}

int cfg_fail_at(struct cfg_error *err, const struct cfg_origin *origin, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cfg_vfail_at(err, origin, fmt, ap);
	va_end(ap);
	return -EINVAL;
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

__u16 cfg_workload_port(const struct cfg_workload *w, const char *name, __u8 proto)
{
	size_t i;

	for (i = 0; i < w->nports; i++)
		if (w->ports[i].name && w->ports[i].proto == proto &&
		    !strcmp(w->ports[i].name, name))
			return w->ports[i].port;
	return 0;
}

bool cfg_access_log_for(const struct mesh_config *cfg, const struct cfg_workload *w,
			double *sampling)
{
	const struct cfg_access_log *own = w ? &w->access_log : NULL;
	bool on = own && own->has_enabled ? own->enabled : cfg->access_log.enabled;

	*sampling = own && own->has_sampling ? own->sampling : cfg->access_log.sampling;
	return on && *sampling > 0;
}

double cfg_trace_sampling_for(const struct mesh_config *cfg, const struct cfg_workload *w)
{
	return w && w->tracing.has_sampling ? w->tracing.sampling : cfg->tracing.sampling;
}

const char *cfg_trace_header_name(unsigned int i)
{
	static const char *const names[] = {"b3", "b3single", "w3c"};

	return i < sizeof(names) / sizeof(names[0]) ? names[i] : NULL;
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
