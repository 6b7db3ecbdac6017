// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The published model: struct mesh_config <-> JSON with jansson, and the
 * file the agent replaces atomically after every apply. The objects are in
 * model_json_write.c and model_json_read.c; the fields both share are here
 * (writer) and in model_json_fields.c (reader).
 */
#include "model_json.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/addr.h"
#include "model_json_impl.h"

#define MAX_MODEL_BYTES (256u << 20)

const char *const mj_mtls_names[3] = {"unset", "permissive", "strict"};

void mj_set(struct mj_writer *w, json_t *o, const char *key, json_t *v)
{
	if (w->err) {
		json_decref(v);
		return;
	}
	if (!v || json_object_set_new(o, key, v))
		w->err = -ENOMEM;
}

void mj_append(struct mj_writer *w, json_t *a, json_t *v)
{
	if (w->err) {
		json_decref(v);
		return;
	}
	if (!v || json_array_append_new(a, v))
		w->err = -ENOMEM;
}

void mj_set_str(struct mj_writer *w, json_t *o, const char *key, const char *s)
{
	if (s)
		mj_set(w, o, key, json_string(s));
}

void mj_set_uint(struct mj_writer *w, json_t *o, const char *key, unsigned long long v)
{
	if (v > (unsigned long long)MJ_INT_MAX && !w->err)
		w->err = -ERANGE;
	mj_set(w, o, key, json_integer((json_int_t)v));
}

void mj_set_bool(struct mj_writer *w, json_t *o, const char *key, bool v)
{
	mj_set(w, o, key, json_boolean(v));
}

json_t *mj_prefix_json(struct mj_writer *w, const struct cfg_prefix *p, bool addr_only)
{
	char addr[SHUNT_ADDR_STRLEN], text[SHUNT_ADDR_STRLEN + 8];
	unsigned int min = p->v4 ? 96 : 0;

	if (p->len > 128 || p->len < min || (addr_only && p->len != 128) ||
	    (p->v4 && !shunt_addr_is_v4(p->addr))) {
		w->err = w->err ?: -EINVAL;
		return NULL;
	}
	/* An IPv6 prefix over v4-mapped addresses keeps its IPv6 spelling. */
	if (p->v4 ? shunt_addr_format(p->addr, addr, sizeof(addr))
		  : !inet_ntop(AF_INET6, p->addr, addr, sizeof(addr))) {
		w->err = w->err ?: -EINVAL;
		return NULL;
	}
	if (addr_only)
		return json_string(addr);
	snprintf(text, sizeof(text), "%s/%u", addr, p->len - min);
	return json_string(text);
}

void mj_set_proto(struct mj_writer *w, json_t *o, __u8 proto)
{
	const char *name = proto == 6 ? "TCP" : proto == 17 ? "UDP" : proto == 132 ? "SCTP" : NULL;

	if (!proto)
		return;
	if (!name)
		w->err = w->err ?: -EINVAL;
	mj_set_str(w, o, "protocol", name);
}

void mj_set_origin(struct mj_writer *w, json_t *o, const struct cfg_origin *origin)
{
	json_t *j = json_object();

	mj_set(w, o, "origin", j);
	if (w->err)
		return;
	switch (origin->kind) {
	case CFG_ORIGIN_FILE:
		if (origin->file && (!w->path || strcmp(origin->file, w->path)))
			mj_set_str(w, j, "file", origin->file);
		mj_set_uint(w, j, "line", origin->line);
		mj_set_uint(w, j, "col", origin->col);
		break;
	case CFG_ORIGIN_OBJECT:
		mj_set_str(w, j, "kind", origin->object_kind);
		mj_set_str(w, j, "namespace", origin->ns);
		mj_set_str(w, j, "name", origin->name);
		break;
	default:
		break;
	}
}

json_t *mj_labels_json(struct mj_writer *w, const struct cfg_labels *labels)
{
	json_t *o = json_object();
	size_t i;

	for (i = 0; o && i < labels->n; i++)
		mj_set_str(w, o, labels->items[i].key, labels->items[i].value);
	return o;
}

static const char *const op_names[] = {"In", "NotIn", "Exists", "DoesNotExist"};

json_t *mj_selector_json(struct mj_writer *w, const struct cfg_selector *sel)
{
	json_t *o = json_object(), *exprs = json_array();
	size_t i, j;

	mj_set(w, o, "matchLabels", o ? mj_labels_json(w, &sel->match_labels) : NULL);
	mj_set(w, o, "matchExpressions", exprs);
	for (i = 0; !w->err && i < sel->nexprs; i++) {
		const struct cfg_match_expr *e = &sel->exprs[i];
		json_t *x = json_object(), *values = json_array();

		mj_append(w, exprs, x);
		mj_set_str(w, x, "key", e->key);
		if ((unsigned int)e->op >= sizeof(op_names) / sizeof(op_names[0]))
			w->err = w->err ?: -EINVAL;
		else
			mj_set_str(w, x, "operator", op_names[e->op]);
		mj_set(w, x, "values", values);
		for (j = 0; !w->err && j < e->nvalues; j++)
			mj_append(w, values, json_string(e->values[j]));
	}
	return o;
}

/*
 * Frees a whole model's JSON tree and gives the memory back. The tree is ~16x
 * the text (25 MB for the l7 bench's 1000 routes) and glibc keeps freed heap,
 * in every thread's arena, for the next malloc: without the trim the proxy
 * kept the first tree and grew by as much again with each model reloaded.
 * malloc_trim(0) returns the free pages of every arena to the kernel.
 */
static void mj_tree_free(json_t *root)
{
	json_decref(root);
	malloc_trim(0);
}

int mesh_model_to_json(const struct mesh_config *cfg, __u64 version, char **out, size_t *len)
{
	struct mj_writer w = {.path = cfg->path};
	json_t *root = json_object();
	char *text = NULL;

	mj_set_uint(&w, root, "model", MODEL_JSON_FORMAT);
	mj_set_uint(&w, root, "version", version);
	if (!w.err)
		mj_config_json(&w, root, cfg);
	if (!w.err && !(text = json_dumps(root, JSON_COMPACT)))
		w.err = -ENOMEM;
	mj_tree_free(root);
	if (w.err)
		return w.err;
	*out = text;
	*len = strlen(text);
	return 0;
}

int mesh_model_from_json(struct mesh_config *cfg, __u64 *version, const char *text, size_t len,
			 struct cfg_error *err)
{
	struct mj_reader r = {.cfg = cfg, .err = err};
	json_error_t jerr;
	json_t *root;

	memset(cfg, 0, sizeof(*cfg));
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		snprintf(err->msg, sizeof(err->msg), "model:%d:%d: %s", jerr.line, jerr.column,
			 jerr.text);
		return -EINVAL;
	}
	if (!json_is_object(root)) {
		mj_fail(&r, "not a JSON object");
	} else if (mj_uint(&r, root, "model", UINT_MAX, true) != MODEL_JSON_FORMAT && !r.rc) {
		mj_fail(&r, "model format %lld, this shunt reads %d",
			json_integer_value(json_object_get(root, "model")), MODEL_JSON_FORMAT);
	} else {
		*version = mj_uint(&r, root, "version", MJ_INT_MAX, true);
		if (!r.rc)
			mj_read_config(&r, root);
	}
	mj_tree_free(root);
	if (r.rc)
		mesh_config_free(cfg);
	return r.rc;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* mkdir -p of PATH's directory. */
static int make_parent_dirs(const char *path)
{
	char dir[PATH_MAX];
	char *p;

	if (strlen(path) >= sizeof(dir))
		return -ENAMETOOLONG;
	strcpy(dir, path);
	if (!(p = strrchr(dir, '/')) || p == dir)
		return 0;
	*p = 0;
	for (p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(dir, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(dir, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

int mesh_model_publish(const char *path, const struct mesh_config *cfg, __u64 version)
{
	char tmp[PATH_MAX], *text = NULL;
	size_t len;
	int fd = -1, err;

	/* A temporary name of its own: two publishers never share one. */
	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	if ((err = mesh_model_to_json(cfg, version, &text, &len)) || (err = make_parent_dirs(path)))
		goto cleanup;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0 || fchmod(fd, 0644)) {
		err = -errno;
		goto cleanup;
	}
	if ((err = write_all(fd, text, len)) || (err = write_all(fd, "\n", 1)))
		goto cleanup;
	if (fsync(fd)) {
		err = -errno;
		goto cleanup;
	}
	err = close(fd) ? -errno : 0;
	fd = -1;
	if (!err && rename(tmp, path))
		err = -errno;
cleanup:
	if (fd >= 0)
		close(fd);
	if (err)
		unlink(tmp);
	free(text);
	return err;
}

int mesh_model_load(const char *path, struct mesh_config *cfg, __u64 *version,
		    struct cfg_error *err)
{
	char *text = NULL;
	size_t len = 0;
	struct stat st;
	int fd, rc = 0;
	ssize_t n;

	memset(cfg, 0, sizeof(*cfg));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		rc = -errno;
		snprintf(err->msg, sizeof(err->msg), "%s: %s", path, strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st))
		rc = -errno;
	else if (st.st_size > MAX_MODEL_BYTES)
		rc = -EFBIG;
	else if (!(text = malloc((size_t)st.st_size + 1)))
		rc = -ENOMEM;
	while (!rc && len < (size_t)st.st_size) {
		n = read(fd, text + len, (size_t)st.st_size - len);
		if (n < 0 && errno != EINTR)
			rc = -errno;
		else if (n == 0)
			break;
		else if (n > 0)
			len += (size_t)n;
	}
	if (rc) {
		snprintf(err->msg, sizeof(err->msg), "%s: %s", path, strerror(-rc));
		goto cleanup;
	}
	rc = mesh_model_from_json(cfg, version, text, len, err);
	if (rc && strncmp(err->msg, "model", 5) == 0) {
		char msg[sizeof(err->msg)];

		snprintf(msg, sizeof(msg), "%s%s", path, err->msg + 5);
		memcpy(err->msg, msg, sizeof(msg));
	}
cleanup:
	close(fd);
	free(text);
	return rc;
}
