// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Where the API server is and the credentials: in-cluster (the service
 * account's token and CA the kubelet mounts, the KUBERNETES_SERVICE_*
 * variables), or the current context of a kubeconfig file (libyaml): a
 * bearer token (token, tokenFile), or a client certificate and its key (as
 * kind's kubeconfig has; files or *-data). An exec or auth-provider plugin
 * is refused by name.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "k8s_impl.h"

#define TOKEN_MAX (64u << 10)

static char *read_small_file(const char *path, size_t max, size_t *len)
{
	FILE *f = fopen(path, "re");
	char *buf;
	size_t n;

	if (!f)
		return NULL;
	buf = malloc(max + 1);
	n = buf ? fread(buf, 1, max, f) : 0;
	fclose(f);
	if (!buf)
		return NULL;
	buf[n] = 0;
	if (len)
		*len = n;
	return buf;
}

/* A token file's content without trailing white space. */
static char *read_token(const char *path)
{
	char *t = read_small_file(path, TOKEN_MAX, NULL);
	size_t n;

	if (!t)
		return NULL;
	for (n = strlen(t); n && (t[n - 1] == '\n' || t[n - 1] == '\r' || t[n - 1] == ' ');)
		t[--n] = 0;
	return t;
}

static int in_cluster(struct k8s_conn *conn, const char *sa_dir, struct cfg_error *err)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	char path[PATH_MAX];

	if (!host || !port) {
		snprintf(
		    err->msg, sizeof(err->msg),
		    "not in a cluster (KUBERNETES_SERVICE_HOST/PORT unset): give --kubeconfig");
		return -ENOENT;
	}
	snprintf(conn->server, sizeof(conn->server),
		 strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host, port);
	snprintf(path, sizeof(path), "%s/token", sa_dir);
	snprintf(conn->token_file, sizeof(conn->token_file), "%.500s", path);
	if (!(conn->token = read_token(path))) {
		snprintf(err->msg, sizeof(err->msg),
			 "cannot read the service account token %.300s: %s", path, strerror(errno));
		return -errno;
	}
	snprintf(conn->ca.file, sizeof(conn->ca.file), "%s/ca.crt", sa_dir);
	return 0;
}

/* --- kubeconfig ----------------------------------------------------------- */

struct kcfg {
	yaml_document_t doc;
	char dir[PATH_MAX]; /* relative paths in the file are relative to it */
	const char *path;
	struct cfg_error *err;
};

static yaml_node_t *kget(struct kcfg *k, yaml_node_t *n, const char *key)
{
	yaml_node_pair_t *pair;

	if (!n || n->type != YAML_MAPPING_NODE)
		return NULL;
	for (pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++) {
		yaml_node_t *kn = yaml_document_get_node(&k->doc, pair->key);

		if (kn && kn->type == YAML_SCALAR_NODE &&
		    !strcmp((char *)kn->data.scalar.value, key))
			return yaml_document_get_node(&k->doc, pair->value);
	}
	return NULL;
}

static const char *kstr(struct kcfg *k, yaml_node_t *n, const char *key)
{
	yaml_node_t *v = kget(k, n, key);

	return v && v->type == YAML_SCALAR_NODE ? (const char *)v->data.scalar.value : NULL;
}

/* The item of list KEY (clusters, users, contexts) named NAME: its KEY_ITEM. */
static yaml_node_t *knamed(struct kcfg *k, const char *list, const char *name, const char *item)
{
	yaml_node_t *seq = kget(k, yaml_document_get_root_node(&k->doc), list);
	yaml_node_item_t *it;

	if (!seq || seq->type != YAML_SEQUENCE_NODE || !name)
		return NULL;
	for (it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
		yaml_node_t *e = yaml_document_get_node(&k->doc, *it);
		const char *n = kstr(k, e, "name");

		if (n && !strcmp(n, name))
			return kget(k, e, item);
	}
	return NULL;
}

static void kpath(struct kcfg *k, const char *p, char *out, size_t len)
{
	snprintf(out, len, p[0] == '/' ? "%s" : "%s/%s", p[0] == '/' ? p : k->dir, p);
}

static int kfail(struct kcfg *k, const char *what, int ret)
{
	snprintf(k->err->msg, sizeof(k->err->msg), "%s: %s", k->path, what);
	return ret;
}

/* OUT from NODE's FIELD (a file, relative to the kubeconfig's directory)
 * or FIELD-data (base64 PEM, which wins, as in kubectl). */
static int kpem(struct kcfg *k, yaml_node_t *node, const char *field, struct k8s_pem *out)
{
	char key[64];
	const char *file = kstr(k, node, field), *data;
	int ret;

	snprintf(key, sizeof(key), "%s-data", field);
	if (file)
		kpath(k, file, out->file, sizeof(out->file));
	if (!(data = kstr(k, node, key)))
		return 0;
	if ((ret = k8s_base64_decode(data, strlen(data), (unsigned char **)&out->data,
				     &out->len)) == -EINVAL) {
		snprintf(key, sizeof(key), "%s-data is not base64", field);
		return kfail(k, key, -EINVAL);
	}
	return ret;
}

static bool pem_set(const struct k8s_pem *p)
{
	return p->data || p->file[0];
}

static int kcluster(struct kcfg *k, struct k8s_conn *conn, yaml_node_t *cluster)
{
	const char *server = kstr(k, cluster, "server");
	int n;

	if (!server)
		return kfail(k, "the current context's cluster has no 'server'", -EINVAL);
	snprintf(conn->server, sizeof(conn->server), "%s", server);
	n = (int)strlen(conn->server);
	while (n && conn->server[n - 1] == '/')
		conn->server[--n] = 0;
	return kpem(k, cluster, "certificate-authority", &conn->ca);
}

/* The strings of sequence N into OUT[0..] (NULL-ended; FMT "NAME=VALUE"
 * for an env list of {name, value}); -EINVAL for an item that is not. */
static int kstrings(struct kcfg *k, yaml_node_t *n, bool env, char **out)
{
	yaml_node_item_t *it;
	size_t i = 0;

	if (!n)
		return 0;
	if (n->type != YAML_SEQUENCE_NODE)
		return kfail(k, env ? "exec's env must be a list" : "exec's args must be a list",
			     -EINVAL);
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++, i++) {
		yaml_node_t *e = yaml_document_get_node(&k->doc, *it);
		const char *name = env ? kstr(k, e, "name") : NULL, *value = kstr(k, e, "value");

		if (!env && e && e->type == YAML_SCALAR_NODE)
			out[i] = strdup((const char *)e->data.scalar.value);
		else if (env && name && value && asprintf(&out[i], "%s=%s", name, value) < 0)
			out[i] = NULL;
		else if (!env || !name || !value)
			return kfail(k,
				     env ? "each of exec's env needs a name and a value"
					 : "exec's args must be strings",
				     -EINVAL);
		if (!out[i])
			return -ENOMEM;
	}
	return 0;
}

static size_t kcount(yaml_node_t *n)
{
	return n && n->type == YAML_SEQUENCE_NODE
		   ? (size_t)(n->data.sequence.items.top - n->data.sequence.items.start)
		   : 0;
}

/* users[].user.exec: its command (relative to the kubeconfig when it names
 * a path), args, env and apiVersion; run once now, so that a plugin that
 * fails stops the agent at start with its reason. */
static int kexec(struct kcfg *k, struct k8s_conn *conn, yaml_node_t *exec)
{
	const char *cmd = kstr(k, exec, "command"), *api = kstr(k, exec, "apiVersion");
	yaml_node_t *args = kget(k, exec, "args"), *env = kget(k, exec, "env");
	struct k8s_exec *x = &conn->exec;
	char path[PATH_MAX];
	int ret;

	if (!cmd || !*cmd)
		return kfail(k, "exec needs a command", -EINVAL);
	if (!api || (strcmp(api, "client.authentication.k8s.io/v1") &&
		     strcmp(api, "client.authentication.k8s.io/v1beta1")))
		return kfail(k,
			     "exec's apiVersion must be client.authentication.k8s.io/v1 or "
			     "v1beta1",
			     -EINVAL);
	snprintf(x->api_version, sizeof(x->api_version), "%s", api);
	if (strchr(cmd, '/'))
		kpath(k, cmd, path, sizeof(path));
	else
		snprintf(path, sizeof(path), "%s", cmd);
	if (!(x->argv = calloc(kcount(args) + 2, sizeof(*x->argv))) ||
	    !(x->env = calloc(kcount(env) + 1, sizeof(*x->env))) || !(x->argv[0] = strdup(path)))
		return -ENOMEM;
	if ((ret = kstrings(k, args, false, x->argv + 1)) || (ret = kstrings(k, env, true, x->env)))
		return ret;
	return k8s_exec_run(conn, k->err);
}

static int kuser(struct kcfg *k, struct k8s_conn *conn, yaml_node_t *user)
{
	const char *token = kstr(k, user, "token"), *file = kstr(k, user, "tokenFile");
	char path[PATH_MAX];
	int ret;

	if (kget(k, user, "auth-provider"))
		return kfail(k,
			     "the user authenticates with an auth-provider (removed from "
			     "kubectl in 1.26); use its exec plugin, a token or a client "
			     "certificate",
			     -EOPNOTSUPP);
	if ((ret = kpem(k, user, "client-certificate", &conn->cert)) ||
	    (ret = kpem(k, user, "client-key", &conn->key)))
		return ret;
	if (pem_set(&conn->cert) != pem_set(&conn->key))
		return kfail(k,
			     "a client certificate needs its key, and a key its certificate "
			     "(client-certificate[-data] and client-key[-data])",
			     -EINVAL);
	if (token) {
		conn->token = strdup(token);
		return conn->token ? 0 : -ENOMEM;
	}
	if (kget(k, user, "exec"))
		return kexec(k, conn, kget(k, user, "exec"));
	if (file) {
		kpath(k, file, path, sizeof(path));
		snprintf(conn->token_file, sizeof(conn->token_file), "%.500s", path);
		if (!(conn->token = read_token(path)))
			return kfail(k, "cannot read the user's tokenFile", -errno);
	}
	return 0;
}

static int kconfig_walk(struct kcfg *k, struct k8s_conn *conn)
{
	yaml_node_t *root = yaml_document_get_root_node(&k->doc), *ctx, *cluster, *user;
	const char *current = kstr(k, root, "current-context");
	int ret;

	if (!current)
		return kfail(k, "no current-context", -EINVAL);
	if (!(ctx = knamed(k, "contexts", current, "context")))
		return kfail(k, "the current context is not in 'contexts'", -EINVAL);
	if (!(cluster = knamed(k, "clusters", kstr(k, ctx, "cluster"), "cluster")))
		return kfail(k, "the current context's cluster is not in 'clusters'", -EINVAL);
	if ((ret = kcluster(k, conn, cluster)))
		return ret;
	user = knamed(k, "users", kstr(k, ctx, "user"), "user");
	return user ? kuser(k, conn, user) : 0;
}

static int kubeconfig(struct k8s_conn *conn, const char *path, struct cfg_error *err)
{
	struct kcfg k = {.path = path, .err = err};
	yaml_parser_t parser;
	char tmp[PATH_MAX];
	size_t len;
	char *text;
	int ret;

	if (!(text = read_small_file(path, 1u << 20, &len))) {
		snprintf(err->msg, sizeof(err->msg), "%s: %s", path, strerror(errno));
		return -errno;
	}
	snprintf(tmp, sizeof(tmp), "%s", path);
	snprintf(k.dir, sizeof(k.dir), "%s", dirname(tmp));
	if (!yaml_parser_initialize(&parser)) {
		free(text);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &k.doc)) {
		ret = kfail(&k, parser.problem ? parser.problem : "not valid YAML", -EINVAL);
	} else {
		ret = kconfig_walk(&k, conn);
		yaml_document_delete(&k.doc);
	}
	yaml_parser_delete(&parser);
	free(text);
	return ret;
}

int k8s_conn_load(struct k8s_conn *conn, const char *path, const char *sa_dir,
		  struct cfg_error *err)
{
	int ret;

	memset(conn, 0, sizeof(*conn));
	ret = path ? kubeconfig(conn, path, err) : in_cluster(conn, sa_dir, err);
	if (!ret && strncmp(conn->server, "https://", 8) && strncmp(conn->server, "http://", 7)) {
		snprintf(err->msg, sizeof(err->msg), "server '%.400s' is not an http(s) URL",
			 conn->server);
		ret = -EINVAL;
	}
	if (ret)
		k8s_conn_free(conn);
	return ret;
}

void k8s_conn_refresh_token(struct k8s_conn *conn)
{
	char *t;

	k8s_exec_refresh(conn);
	if (!conn->token_file[0] || !(t = read_token(conn->token_file)))
		return;
	free(conn->token);
	conn->token = t;
}

void k8s_conn_free(struct k8s_conn *conn)
{
	free(conn->token);
	free(conn->ca.data);
	free(conn->cert.data);
	free(conn->key.data);
	conn->token = conn->ca.data = conn->cert.data = conn->key.data = NULL;
	k8s_exec_free(&conn->exec);
}

/* --- the location string ----------------------------------------------- */

static int opt_uint(const char *v, unsigned int *out)
{
	char *end;
	unsigned long n = strtoul(v, &end, 10);

	if (!*v || *end || n > 86400000)
		return -EINVAL;
	*out = (unsigned int)n;
	return 0;
}

static int opt_set(struct k8s_opts *o, const char *key, const char *v)
{
	struct {
		const char *key;
		char *buf;
		size_t len;
	} strs[] = {{"kubeconfig", o->kubeconfig, sizeof(o->kubeconfig)},
		    {"sa-dir", o->sa_dir, sizeof(o->sa_dir)},
		    {"node", o->node, sizeof(o->node)},
		    {"trust-domain", o->trust_domain, sizeof(o->trust_domain)},
		    {"cgroup-root", o->cgroup_root, sizeof(o->cgroup_root)},
		    {"mesh-settings", o->mesh_settings, sizeof(o->mesh_settings)},
		    {"proc-root", o->proc_root, sizeof(o->proc_root)}};
	size_t i;

	o->trust_domain_given |= !strcmp(key, "trust-domain");
	for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		if (!strcmp(key, strs[i].key))
			return snprintf(strs[i].buf, strs[i].len, "%s", v) >= (int)strs[i].len
				   ? -ENAMETOOLONG
				   : 0;
	if (!strcmp(key, "sync-timeout-ms"))
		return opt_uint(v, &o->sync_timeout_ms);
	if (!strcmp(key, "backoff-min-ms"))
		return opt_uint(v, &o->backoff_min_ms);
	if (!strcmp(key, "backoff-max-ms"))
		return opt_uint(v, &o->backoff_max_ms);
	if (!strcmp(key, "watch-timeout-s"))
		return opt_uint(v, &o->watch_timeout_s);
	return -ENOENT;
}

int k8s_opts_parse(struct k8s_opts *o, const char *location, struct cfg_error *err)
{
	char buf[2048], *save = NULL, *item, *eq;
	int ret;

	memset(o, 0, sizeof(*o));
	snprintf(o->sa_dir, sizeof(o->sa_dir), "/var/run/secrets/kubernetes.io/serviceaccount");
	snprintf(o->trust_domain, sizeof(o->trust_domain), "cluster.local");
	snprintf(o->cgroup_root, sizeof(o->cgroup_root), "/sys/fs/cgroup");
	snprintf(o->proc_root, sizeof(o->proc_root), "/proc");
	o->sync_timeout_ms = 30000;
	o->backoff_min_ms = 200;
	o->backoff_max_ms = 30000;
	o->watch_timeout_s = 300;
	if (snprintf(buf, sizeof(buf), "%s", location ? location : "") >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		if (!(eq = strchr(item, '='))) {
			snprintf(err->msg, sizeof(err->msg), "kubernetes: '%s' is not KEY=VALUE",
				 item);
			return -EINVAL;
		}
		*eq = 0;
		if ((ret = opt_set(o, item, eq + 1))) {
			snprintf(err->msg, sizeof(err->msg), "kubernetes: option '%s': %s", item,
				 ret == -ENOENT ? "unknown" : "bad value");
			return -EINVAL;
		}
	}
	if (o->mesh_settings[0] && o->trust_domain_given) {
		snprintf(err->msg, sizeof(err->msg),
			 "kubernetes: trust-domain and mesh-settings both given: the trust domain "
			 "is the mesh settings' trustDomain");
		return -EINVAL;
	}
	if (!o->node[0]) {
		snprintf(err->msg, sizeof(err->msg), "kubernetes: the node name is not known");
		return -EINVAL;
	}
	if (o->backoff_min_ms < 1 || o->backoff_max_ms < o->backoff_min_ms)
		o->backoff_max_ms = o->backoff_min_ms = o->backoff_min_ms ? o->backoff_min_ms : 1;
	return 0;
}
