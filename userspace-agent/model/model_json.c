// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The published model: struct mesh_config <-> JSON with jansson, and the
 * file the agent replaces atomically after every apply. The file's lines
 * are in model_json_seq.c, the objects in model_json_write.c and
 * model_json_read.c; the fields both share are here (writer) and in
 * model_json_fields.c (reader).
 */
#include "model_json.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdio_ext.h>
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
 * Frees what reading or writing a model left: glibc keeps freed heap, in
 * every thread's arena, for the next malloc, and a model's trees (one item
 * at a time in a model file, all of it in the one-document form) were
 * interleaved with the parsed model. malloc_trim(0) returns the free pages
 * of every arena to the kernel; without it the proxy kept the first
 * model's whole tree (format 1) and grew with each reload.
 */
static void heap_trim(void)
{
	malloc_trim(0);
}

int mesh_model_to_json(const struct mesh_config *cfg, __u64 version, char **out, size_t *len)
{
	char *text = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&text, &n);
	int err;

	if (!f)
		return -errno;
	err = mj_seq_write(f, cfg, version);
	if (fclose(f) && !err)
		err = -errno;
	heap_trim();
	if (err) {
		free(text);
		return err;
	}
	*out = text;
	*len = n;
	return 0;
}

int mesh_model_to_json_doc(const struct mesh_config *cfg, __u64 version, char **out, size_t *len)
{
	json_t *root = json_object();
	struct mj_writer w = {.path = cfg->path, .doc = root};
	char *text = NULL;
	int k;

	if (!root)
		return -ENOMEM;
	mj_set_uint(&w, root, "model", MODEL_JSON_FORMAT);
	mj_set_uint(&w, root, "version", version);
	mj_config_json(&w, root, cfg);
	for (k = 0; k < MJ_LISTS; k++)
		mj_set(&w, root, mj_list_keys[k], json_array());
	mj_lists_json(&w, cfg);
	if (!w.err && !(text = json_dumps(root, JSON_COMPACT)))
		w.err = -ENOMEM;
	json_decref(root);
	heap_trim();
	if (w.err)
		return w.err;
	*out = text;
	*len = strlen(text);
	return 0;
}

/* The model file IN (SIZE bytes) into CFG: a fresh config, freed again
 * when any line is refused, so nothing of a bad model is applied. */
static int model_read(FILE *in, size_t size, struct mesh_config *cfg, __u64 *version,
		      struct cfg_error *err)
{
	struct mj_reader r = {.cfg = cfg, .err = err, .in = in};

	/* Only this thread reads IN: getc without a lock per byte. */
	__fsetlocking(in, FSETLOCKING_BYCALLER);
	mj_seq_read(&r, version, size);
	json_decref(r.item);
	if (r.rc)
		mesh_config_free(cfg);
	heap_trim();
	return r.rc;
}

int mesh_model_from_json(struct mesh_config *cfg, __u64 *version, const char *text, size_t len,
			 struct cfg_error *err)
{
	FILE *in;
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	if (!len) {
		snprintf(err->msg, sizeof(err->msg), "model:1: empty");
		return -EINVAL;
	}
	/* Read only: fmemopen's "r" never writes to the buffer. */
	if (!(in = fmemopen((void *)text, len, "r"))) {
		rc = -errno;
		snprintf(err->msg, sizeof(err->msg), "model: %s", strerror(-rc));
		return rc;
	}
	rc = model_read(in, len, cfg, version, err);
	fclose(in);
	return rc;
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
	char tmp[PATH_MAX];
	FILE *out = NULL;
	int fd = -1, err;

	/* A temporary name of its own: two publishers never share one. */
	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	if ((err = make_parent_dirs(path)))
		return err;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0 || fchmod(fd, 0644) || !(out = fdopen(fd, "w"))) {
		err = -errno;
		goto cleanup;
	}
	fd = -1; /* OUT's now */
	/* Written item by item, each one's tree freed before the next. */
	if ((err = mj_seq_write(out, cfg, version)))
		goto cleanup;
	if (fsync(fileno(out))) {
		err = -errno;
		goto cleanup;
	}
	err = fclose(out) ? -errno : 0;
	out = NULL;
	if (!err && rename(tmp, path))
		err = -errno;
cleanup:
	if (out)
		fclose(out);
	if (fd >= 0)
		close(fd);
	if (err)
		unlink(tmp);
	heap_trim();
	return err;
}

int mesh_model_load(const char *path, struct mesh_config *cfg, __u64 *version,
		    struct cfg_error *err)
{
	struct stat st;
	FILE *in;
	int rc = 0;

	memset(cfg, 0, sizeof(*cfg));
	if (!(in = fopen(path, "re"))) {
		rc = -errno;
		snprintf(err->msg, sizeof(err->msg), "%s: %s", path, strerror(-rc));
		return rc;
	}
	if (fstat(fileno(in), &st))
		rc = -errno;
	else if (st.st_size > MAX_MODEL_BYTES)
		rc = -EFBIG;
	if (rc) {
		snprintf(err->msg, sizeof(err->msg), "%s: %s", path, strerror(-rc));
		goto cleanup;
	}
	rc = model_read(in, (size_t)st.st_size, cfg, version, err);
	if (rc && strncmp(err->msg, "model", 5) == 0) {
		char msg[sizeof(err->msg)];

		snprintf(msg, sizeof(msg), "%s%s", path, err->msg + 5);
		memcpy(err->msg, msg, sizeof(msg));
	}
cleanup:
	fclose(in);
	return rc;
}
