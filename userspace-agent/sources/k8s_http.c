// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * What every request to the API server carries (the bearer token, read
 * again each time; the cluster's CA; a client certificate), one request
 * at a time for the few that are not informers (k8s_secret.c), and the
 * base64 of a Secret's data and a kubeconfig's *-data.
 */
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s_impl.h"

#define RESPONSE_MAX (4u << 20)

_Static_assert(sizeof(((struct k8s_reply *)0)->curl_error) >= CURL_ERROR_SIZE,
	       "CURLOPT_ERRORBUFFER takes CURL_ERROR_SIZE bytes");

struct curl_slist *k8s_auth_headers(struct k8s_conn *conn)
{
	struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json");
	char *line;

	k8s_conn_refresh_token(conn);
	if (conn->token && asprintf(&line, "Authorization: Bearer %s", conn->token) >= 0) {
		h = curl_slist_append(h, line);
		free(line);
	}
	return h;
}

/* P as OPT_BLOB (its data) or OPT_FILE (its file), if set. */
static void set_pem(CURL *e, const struct k8s_pem *p, CURLoption opt_blob, CURLoption opt_file)
{
	if (p->data) {
		struct curl_blob blob = {p->data, p->len, CURL_BLOB_COPY};

		curl_easy_setopt(e, opt_blob, &blob);
	} else if (p->file[0]) {
		curl_easy_setopt(e, opt_file, p->file);
	}
}

void k8s_curl_tls(CURL *e, const struct k8s_conn *conn)
{
	set_pem(e, &conn->ca, CURLOPT_CAINFO_BLOB, CURLOPT_CAINFO);
	set_pem(e, &conn->cert, CURLOPT_SSLCERT_BLOB, CURLOPT_SSLCERT);
	set_pem(e, &conn->key, CURLOPT_SSLKEY_BLOB, CURLOPT_SSLKEY);
}

size_t k8s_body_append(char *data, size_t size, size_t nmemb, void *arg)
{
	struct k8s_body *b = arg;
	size_t n = size * nmemb;
	char *p;

	if (b->len + n > RESPONSE_MAX || !(p = realloc(b->data, b->len + n + 1))) {
		b->too_big = true;
		return 0;
	}
	memcpy(p + b->len, data, n);
	b->data = p;
	b->len += n;
	b->data[b->len] = 0;
	return n;
}

int k8s_http(struct k8s_conn *conn, const char *method, const char *path, const char *json,
	     struct k8s_reply *out)
{
	struct curl_slist *h = k8s_auth_headers(conn);
	struct k8s_body b = {0};
	char url[2048];
	CURLcode rc;
	CURL *e;

	memset(out, 0, sizeof(*out));
	if (snprintf(url, sizeof(url), "%s%s", conn->server, path) >= (int)sizeof(url)) {
		curl_slist_free_all(h);
		return -ENAMETOOLONG;
	}
	if (json)
		h = curl_slist_append(h, "Content-Type: application/json");
	if (!h || !(e = curl_easy_init())) {
		curl_slist_free_all(h);
		return -ENOMEM;
	}
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	if (json)
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, json);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, k8s_body_append);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, out->curl_error);
	k8s_curl_tls(e, conn);
	rc = curl_easy_perform(e);
	if (rc == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &out->status);
	else if (!out->curl_error[0])
		snprintf(out->curl_error, sizeof(out->curl_error), "%s", curl_easy_strerror(rc));
	curl_easy_cleanup(e);
	curl_slist_free_all(h);
	out->body = b.data;
	out->len = b.len;
	if (b.too_big)
		snprintf(out->curl_error, sizeof(out->curl_error), "the answer is over %u bytes",
			 RESPONSE_MAX);
	return rc == CURLE_OK && !b.too_big ? 0 : -EIO;
}

int k8s_base64_decode(const char *text, size_t len, unsigned char **out, size_t *n)
{
	int got;

	*out = NULL;
	*n = 0;
	if (len > INT_MAX || !(*out = malloc(len / 4 * 3 + 4)))
		return -ENOMEM;
	got = EVP_DecodeBlock(*out, (const unsigned char *)text, (int)len);
	if (got < 0) {
		free(*out);
		*out = NULL;
		return -EINVAL;
	}
	/* EVP_DecodeBlock counts the bytes of the padding too. */
	while (len && text[len - 1] == '=' && got > 0) {
		len--;
		got--;
	}
	*n = (size_t)got;
	return 0;
}
