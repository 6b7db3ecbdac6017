// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A Secret: GET /api/v1/namespaces/NS/secrets/NAME, and POST to the
 * collection to create one (k8s_secret.h). The answer's Status says why a
 * request was refused; its message is passed on.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#include "k8s_impl.h"
#include "k8s_secret.h"

struct k8s_client {
	struct k8s_conn conn;
};

int k8s_client_open(struct k8s_client **out, const char *kubeconfig, const char *sa_dir,
		    struct cfg_error *err)
{
	struct k8s_client *c = calloc(1, sizeof(*c));
	int ret;

	*out = NULL;
	if (!c)
		return -ENOMEM;
	if ((ret = k8s_conn_load(&c->conn, kubeconfig,
				 sa_dir ? sa_dir : "/var/run/secrets/kubernetes.io/serviceaccount",
				 err))) {
		free(c);
		return ret;
	}
	*out = c;
	return 0;
}

void k8s_client_close(struct k8s_client *c)
{
	if (!c)
		return;
	k8s_conn_free(&c->conn);
	free(c);
}

void k8s_secret_free(struct k8s_secret *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->items[i].data);
	free(s->items);
	memset(s, 0, sizeof(*s));
}

/* A failed request's reason into ERR: curl's words, or the Status's
 * message; the errno for it. */
static int refused(const struct k8s_reply *r, const char *what, struct cfg_error *err)
{
	json_t *st = r->body ? json_loads(r->body, 0, NULL) : NULL;
	const char *msg = json_string_value(json_object_get(st, "message"));

	if (!r->status)
		snprintf(err->msg, sizeof(err->msg), "%.250s: %.250s", what, r->curl_error);
	else
		snprintf(err->msg, sizeof(err->msg), "%.150s: HTTP %ld%s%.300s%s", what, r->status,
			 msg ? " (" : "", msg ? msg : "", msg ? ")" : "");
	json_decref(st);
	if (r->status == 401 || r->status == 403)
		return -EACCES;
	return r->status == 404 ? -ENOENT : r->status == 409 ? -EEXIST : -EIO;
}

/* DATA (a Secret's) into OUT, each value decoded. */
static int secret_items(const json_t *data, struct k8s_secret *out, struct cfg_error *err)
{
	const char *key;
	json_t *v;

	if (!json_is_object(data) ||
	    !(out->items = calloc(json_object_size(data) + 1, sizeof(*out->items))))
		return json_is_object(data) ? -ENOMEM : 0;
	json_object_foreach((json_t *)data, key, v)
	{
		struct k8s_secret_item *it = &out->items[out->n];
		const char *text = json_string_value(v);

		if (!text || strlen(key) >= sizeof(it->key) ||
		    k8s_base64_decode(text, strlen(text), &it->data, &it->len)) {
			snprintf(err->msg, sizeof(err->msg), "key '%.200s' is not base64 data",
				 key);
			return -EIO;
		}
		snprintf(it->key, sizeof(it->key), "%s", key);
		out->n++;
	}
	return 0;
}

int k8s_secret_get(struct k8s_client *c, const char *ns, const char *name, struct k8s_secret *out,
		   struct cfg_error *err)
{
	struct k8s_reply r = {0};
	char path[600], what[600];
	const char *created;
	json_t *obj = NULL;
	int ret;

	memset(out, 0, sizeof(*out));
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/secrets/%s", ns, name);
	snprintf(what, sizeof(what), "Secret %s/%s", ns, name);
	if ((ret = k8s_http(&c->conn, "GET", path, NULL, &r)) == -ENOMEM || ret == -ENAMETOOLONG) {
		snprintf(err->msg, sizeof(err->msg), "%.300s: %s", what, strerror(-ret));
		goto cleanup;
	}
	if (ret || r.status != 200) {
		ret = refused(&r, what, err);
		goto cleanup;
	}
	obj = json_loadb(r.body, r.len, 0, NULL);
	if (!obj || strcmp(k8s_str(obj, "kind") ? k8s_str(obj, "kind") : "", "Secret")) {
		snprintf(err->msg, sizeof(err->msg), "%.300s: the answer is not a Secret", what);
		ret = -EIO;
		goto cleanup;
	}
	created = k8s_str(obj, "metadata.creationTimestamp");
	snprintf(out->created, sizeof(out->created), "%s", created ? created : "");
	ret = secret_items(json_object_get(obj, "data"), out, err);
cleanup:
	if (ret)
		k8s_secret_free(out);
	json_decref(obj);
	free(r.body);
	return ret;
}

/* S as a Secret object NS/NAME, its values base64. */
static json_t *secret_json(const char *ns, const char *name, const struct k8s_secret *s)
{
	json_t *data = json_object(), *obj;
	char *b64;

	for (size_t i = 0; data && i < s->n; i++) {
		if (!(b64 = malloc(s->items[i].len / 3 * 4 + 5))) {
			json_decref(data);
			return NULL;
		}
		EVP_EncodeBlock((unsigned char *)b64, s->items[i].data, (int)s->items[i].len);
		json_object_set_new(data, s->items[i].key, json_string(b64));
		free(b64);
	}
	obj = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:s, s:o}", "apiVersion", "v1", "kind",
			"Secret", "metadata", "name", name, "namespace", ns, "labels",
			"app.kubernetes.io/part-of", "shunt", "type", "Opaque", "data", data);
	return obj;
}

int k8s_secret_create(struct k8s_client *c, const char *ns, const char *name,
		      const struct k8s_secret *s, struct cfg_error *err)
{
	json_t *obj = secret_json(ns, name, s);
	char path[600], what[600], *body = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
	struct k8s_reply r = {0};
	int ret = -ENOMEM;

	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/secrets", ns);
	snprintf(what, sizeof(what), "creating Secret %s/%s", ns, name);
	if (body && (ret = k8s_http(&c->conn, "POST", path, body, &r)) != -ENOMEM)
		ret = !ret && r.status == 201 ? 0 : refused(&r, what, err);
	if (ret == -ENOMEM)
		snprintf(err->msg, sizeof(err->msg), "%.300s: out of memory", what);
	free(r.body);
	free(body);
	json_decref(obj);
	return ret;
}
