// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The informers' caches -> struct mesh_config: Namespaces, Pods (workloads,
 * identity spiffe://<trust domain>/ns/<ns>/sa/<serviceAccountName>),
 * Services with their EndpointSlices, NetworkPolicies. Objects are taken in
 * key order, so the same caches give the same model.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/addr.h"
#include "cfg_parse.h"
#include "common/keymap.h"
#include "k8s_impl.h"
#include "mesh_shared.h"

const char *k8s_str(const json_t *obj, const char *path)
{
	char key[64];
	const char *dot;
	size_t n;

	while (obj && (dot = strchr(path, '.'))) {
		n = (size_t)(dot - path);
		if (n >= sizeof(key))
			return NULL;
		memcpy(key, path, n);
		key[n] = 0;
		obj = json_object_get(obj, key);
		path = dot + 1;
	}
	return json_string_value(json_object_get(obj, path));
}

char *k8s_dup(struct k8s_tr *tr, const char *s)
{
	return s ? shunt_arena_strndup(&tr->cfg->arena, s, strlen(s)) : NULL;
}

int k8s_oom(struct k8s_tr *tr)
{
	snprintf(tr->err->msg, sizeof(tr->err->msg), "%s: out of memory", tr->cfg->path);
	return -ENOMEM;
}

struct cfg_origin k8s_origin(struct k8s_tr *tr, const char *kind, const json_t *obj)
{
	return (struct cfg_origin){.kind = CFG_ORIGIN_OBJECT,
				   .object_kind = kind,
				   .ns = k8s_dup(tr, k8s_str(obj, "metadata.namespace")),
				   .name = k8s_dup(tr, k8s_str(obj, "metadata.name"))};
}

void k8s_warn(struct k8s_tr *tr, const struct cfg_origin *o, const char *fmt, ...)
{
	struct mesh_config *cfg = tr->cfg;
	char line[512];
	size_t n;
	va_list ap;

	if (cfg->nwarnings == CFG_MAX_WARNINGS) {
		cfg->warnings_dropped++;
		return;
	}
	cfg_origin_format(o, line, sizeof(line));
	n = strlen(line);
	n += (size_t)snprintf(line + n, sizeof(line) - n, ": ");
	va_start(ap, fmt);
	if (n < sizeof(line))
		vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if ((cfg->warnings[cfg->nwarnings] = k8s_dup(tr, line)))
		cfg->nwarnings++;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* OBJ's keys, sorted (malloc'ed array of pointers into OBJ). */
const char **k8s_sorted_keys(const json_t *obj, size_t *n)
{
	const char **keys = malloc((json_object_size(obj) + 1) * sizeof(*keys)), *key;
	json_t *v;

	*n = 0;
	if (!keys)
		return NULL;
	json_object_foreach((json_t *)obj, key, v) keys[(*n)++] = key;
	qsort(keys, *n, sizeof(*keys), cmp_str);
	return keys;
}

int k8s_labels(struct k8s_tr *tr, const json_t *map, struct cfg_labels *out)
{
	const char **keys;
	size_t i, n;

	memset(out, 0, sizeof(*out));
	if (!json_object_size(map))
		return 0;
	if (!(keys = k8s_sorted_keys(map, &n)))
		return k8s_oom(tr);
	out->items = shunt_arena_alloc(&tr->cfg->arena, n * sizeof(*out->items));
	for (i = 0; out->items && i < n; i++) {
		out->items[i].key = k8s_dup(tr, keys[i]);
		out->items[i].value = k8s_dup(tr, json_string_value(json_object_get(map, keys[i])));
		if (!out->items[i].value)
			out->items[i].value = "";
	}
	out->n = n;
	free(keys);
	return out->items ? 0 : k8s_oom(tr);
}

static int selector_expr(struct k8s_tr *tr, const struct cfg_origin *o, const json_t *e,
			 struct cfg_match_expr *out)
{
	static const char *const ops[] = {"In", "NotIn", "Exists", "DoesNotExist"};
	const char *op = k8s_str(e, "operator");
	json_t *values = json_object_get(e, "values"), *v;
	size_t i, k;

	if (!(out->key = k8s_dup(tr, k8s_str(e, "key"))))
		return cfg_fail_at(tr->err, o, "a matchExpression needs 'key'");
	for (k = 0; op && k < 4 && strcmp(op, ops[k]); k++)
		;
	if (!op || k == 4)
		return cfg_fail_at(tr->err, o,
				   "matchExpressions operator '%s' is not one of In, "
				   "NotIn, Exists, DoesNotExist",
				   op ? op : "");
	out->op = (enum cfg_match_op)k;
	out->nvalues = json_array_size(values);
	if ((k < 2) != (out->nvalues > 0))
		return cfg_fail_at(tr->err, o, "operator %s %s values", op,
				   k < 2 ? "needs" : "takes no");
	out->values = shunt_arena_alloc(&tr->cfg->arena, (out->nvalues + 1) * sizeof(char *));
	if (!out->values)
		return k8s_oom(tr);
	json_array_foreach(values, i, v) out->values[i] = k8s_dup(tr, json_string_value(v));
	return 0;
}

int k8s_selector(struct k8s_tr *tr, const struct cfg_origin *o, const json_t *sel,
		 struct cfg_selector *out)
{
	json_t *exprs = json_object_get(sel, "matchExpressions"), *e;
	size_t i;
	int err;

	memset(out, 0, sizeof(*out));
	if ((err = k8s_labels(tr, json_object_get(sel, "matchLabels"), &out->match_labels)))
		return err;
	out->nexprs = json_array_size(exprs);
	if (!out->nexprs)
		return 0;
	if (!(out->exprs = shunt_arena_alloc(&tr->cfg->arena, out->nexprs * sizeof(*out->exprs))))
		return k8s_oom(tr);
	json_array_foreach(exprs, i,
			   e) if ((err = selector_expr(tr, o, e, &out->exprs[i]))) return err;
	return 0;
}

/* "10.0.0.0/8" (host bits are cleared, as Kubernetes reads them) or one
 * address (NEED_LEN false: a /128). */
int k8s_prefix(const char *text, bool need_len, struct cfg_prefix *out)
{
	char addr[64];
	const char *slash = text ? strchr(text, '/') : NULL;
	size_t alen;
	unsigned long len;
	char *end;
	int i;

	if (!text || (alen = slash ? (size_t)(slash - text) : strlen(text)) >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, text, alen);
	addr[alen] = 0;
	if (shunt_addr_parse(addr, out->addr))
		return -EINVAL;
	out->v4 = shunt_addr_is_v4(out->addr) && !strchr(addr, ':');
	out->len = 128;
	if (!slash)
		return need_len ? -EINVAL : 0;
	len = strtoul(slash + 1, &end, 10);
	if (*end || !slash[1] || len > (out->v4 ? 32u : 128u))
		return -EINVAL;
	out->len = (unsigned int)len + (out->v4 ? 96 : 0);
	for (i = 0; i < 16; i++) {
		unsigned int bit = (unsigned int)i * 8;

		out->addr[i] &= bit >= out->len	      ? 0
				: out->len - bit >= 8 ? 0xff
						      : (__u8)(0xff << (8 - (out->len - bit)));
	}
	return 0;
}

int k8s_proto(const json_t *v, __u8 *out)
{
	const char *s = json_string_value(v);

	*out = SHUNT_PROTO_TCP;
	if (!v || !strcmp(s ? s : "", "TCP"))
		return 0;
	if (s && !strcmp(s, "UDP"))
		*out = SHUNT_PROTO_UDP;
	else if (s && !strcmp(s, "SCTP"))
		*out = SHUNT_PROTO_SCTP;
	else
		return -EINVAL;
	return 0;
}

/* The namespace's mTLS mode: annotation shunt.dev/mtls, STRICT or
 * PERMISSIVE (any case), else the mesh-wide mode. Any other value fails the
 * snapshot, as a NetworkPolicy the model cannot hold does: taken as unset,
 * a namespace meant to be strict would take plain text. */
static int namespace_mtls(struct k8s_tr *tr, const json_t *obj, const struct cfg_origin *o,
			  enum cfg_mtls *out)
{
	const json_t *v = json_object_get(
	    json_object_get(json_object_get(obj, "metadata"), "annotations"), K8S_MTLS_ANNOTATION);
	const char *mode = json_string_value(v);

	*out = CFG_MTLS_UNSET;
	if (!v)
		return 0;
	if (mode && !strcasecmp(mode, "STRICT"))
		*out = CFG_MTLS_STRICT;
	else if (mode && !strcasecmp(mode, "PERMISSIVE"))
		*out = CFG_MTLS_PERMISSIVE;
	else
		return cfg_fail_at(tr->err, o,
				   "annotation " K8S_MTLS_ANNOTATION
				   " is '%s': STRICT or PERMISSIVE (the state before it stays)",
				   mode ? mode : "(not a string)");
	return 0;
}

static int namespace_of(struct k8s_tr *tr, const json_t *obj, struct cfg_namespace *out)
{
	const char *name = k8s_str(obj, "metadata.name");
	json_t *labels =
	    json_deep_copy(json_object_get(json_object_get(obj, "metadata"), "labels"));
	int err;

	/* The API server sets this label on every namespace (since 1.21). */
	if (!labels)
		labels = json_object();
	if (!labels || json_object_set_new(labels, "kubernetes.io/metadata.name",
					   json_string(name ? name : ""))) {
		json_decref(labels);
		return k8s_oom(tr);
	}
	out->origin = k8s_origin(tr, "Namespace", obj);
	out->name = k8s_dup(tr, name);
	err = k8s_labels(tr, labels, &out->labels);
	json_decref(labels);
	return err ? err : namespace_mtls(tr, obj, &out->origin, &out->mtls);
}

#define EACH_SORTED(tr, map, fn, arr, count)                                                       \
	({                                                                                         \
		size_t _n, _i;                                                                     \
		const char **_keys = k8s_sorted_keys(map, &_n);                                    \
		int _err = _keys ? 0 : k8s_oom(tr);                                                \
		(arr) = _n ? shunt_arena_alloc(&(tr)->cfg->arena, _n * sizeof(*(arr))) : NULL;     \
		if (_n && !(arr))                                                                  \
			_err = k8s_oom(tr);                                                        \
		for (_i = 0; !_err && _i < _n; _i++) {                                             \
			_err = fn(tr, json_object_get(map, _keys[_i]), &(arr)[count]);             \
			if (_err == 1)                                                             \
				_err = 0; /* left out */                                           \
			else if (!_err)                                                            \
				(count)++;                                                         \
		}                                                                                  \
		free(_keys);                                                                       \
		_err;                                                                              \
	})

int k8s_translate(json_t *const caches[K8S_KINDS], const struct k8s_translate_opts *opts,
		  struct mesh_config *cfg, struct cfg_error *err)
{
	struct k8s_tr tr = {.cfg = cfg,
			    .opts = opts,
			    .err = err,
			    .slices = caches[K8S_ENDPOINTSLICES],
			    .telemetries = caches[K8S_TELEMETRIES]};
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	err->msg[0] = 0;
	cfg->path = k8s_dup(&tr, opts->source_name ? opts->source_name : "kubernetes");
	cfg->trust_domain = k8s_dup(&tr, opts->trust_domain ? opts->trust_domain : "cluster.local");
	cfg->mtls = CFG_MTLS_PERMISSIVE;
	/* as a config file without accessLog: off, but a pod that turns it on
	 * logs every request (the settings, when given, replace it) */
	cfg_access_log_defaults(&cfg->access_log);
	if (!cfg->path || !cfg->trust_domain)
		ret = k8s_oom(&tr);
	else if (!(ret = k8s_telemetries_check(&tr)) &&
		 !(ret = EACH_SORTED(&tr, caches[K8S_NAMESPACES], namespace_of, cfg->namespaces,
				     cfg->nnamespaces)) &&
		 !(ret = k8s_pods(&tr, caches))) {
		ret = EACH_SORTED(&tr, caches[K8S_SERVICES], k8s_service, cfg->services,
				  cfg->nservices);
		if (!ret)
			ret = EACH_SORTED(&tr, caches[K8S_HTTPROUTES], k8s_httproute,
					  cfg->http_routes, cfg->nhttp_routes);
		if (!ret)
			ret = EACH_SORTED(&tr, caches[K8S_NETWORKPOLICIES], k8s_netpol,
					  cfg->policies, cfg->npolicies);
		if (!ret && opts->node_proxy && opts->node_proxy->set)
			ret =
			    EACH_SORTED(&tr, caches[K8S_NODES], k8s_node, cfg->nodes, cfg->nnodes);
	}
	keymap_free(&tr.workloads);
	if (ret)
		mesh_config_free(cfg);
	return ret;
}
