// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * HTTPRoute status written back from the watch thread, one PUT at a time
 * on the informers' curl multi handle (the thread never waits on it): to
 * .../httproutes/NAME/status, the cached object with our entries of
 * status.parents replaced (k8s_route_status.c) and its resourceVersion, so
 * that the API server refuses it (409 Conflict) when anyone wrote since.
 * Every node's agent computes the same status; a write is sent only when
 * ours differ from what the cache shows, so after one write the others
 * see it and have nothing to write. After a write (done or refused with
 * 409), that route waits for the watch to bring a newer version. Other
 * failures (403, 5xx, no answer) are logged and tried again after a
 * backoff; none touches the model.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/timer_wheel.h"
#include "k8s_impl.h"

/* PUT BODY (the object KEY at RV) to its status on W's multi handle. */
static int put_start(struct k8s_watcher *w, const char *key, const char *rv, char *body)
{
	struct k8s_status_put *put = &w->put;
	const char *slash = strchr(key, '/');
	char url[2048];
	CURL *e;

	if (!slash ||
	    snprintf(url, sizeof(url),
		     "%s/apis/gateway.networking.k8s.io/v1/namespaces/"
		     "%.*s/httproutes/%s/status",
		     w->conn.server, (int)(slash - key), key, slash + 1) >= (int)sizeof(url) ||
	    !(e = curl_easy_init())) {
		free(body);
		return -1;
	}
	put->easy = e;
	put->body = body;
	put->headers =
	    curl_slist_append(k8s_auth_headers(&w->conn), "Content-Type: application/json");
	snprintf(put->key, sizeof(put->key), "%s", key);
	snprintf(put->rv, sizeof(put->rv), "%s", rv);
	put->curl_error[0] = 0;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT");
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, put->headers);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, put->body);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, k8s_body_append);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &put->reply);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, put->curl_error);
	k8s_curl_tls(e, &w->conn);
	if (curl_multi_add_handle(w->multi, e) != CURLM_OK) {
		k8s_status_end(w);
		return -1;
	}
	return 0;
}

/* ROUTE (cached) with status.parents = PARENTS, as the text to send. */
static char *body_of(const json_t *route, json_t *parents)
{
	json_t *obj = json_deep_copy(route), *st;
	char *text = NULL;

	if (!obj)
		return NULL;
	st = json_object_get(obj, "status");
	if (!json_is_object(st) && json_object_set_new(obj, "status", st = json_object()))
		st = NULL;
	if (st && !json_object_set(st, "parents", parents))
		text = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	return text;
}

/* The body of a write ROUTE (KEY) needs with OUTCOME, or NULL: none (ours
 * are there already, or the outcome is of another version of it). */
static char *route_due(const json_t *route, const json_t *outcome, const char *now)
{
	json_t *ours = k8s_route_status_ours(route, outcome, now), *merged;
	bool changed = false;
	char *body = NULL;

	if (!ours)
		return NULL;
	merged = k8s_route_status_merge(
	    json_object_get(json_object_get(route, "status"), "parents"), ours, &changed);
	if (merged && changed)
		body = body_of(route, merged);
	json_decref(merged);
	json_decref(ours);
	return body;
}

static void rfc3339_now(char *buf, size_t len)
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The first route (under W's lock) whose status needs a write: started.
 * False when there is none. */
static bool write_next(struct k8s_watcher *w)
{
	json_t *cache = w->inf[K8S_HTTPROUTES].cache, *outcome, *route, *v;
	const char *key, *rv;
	char now[32], *body;
	void *tmp;

	rfc3339_now(now, sizeof(now));
	json_object_foreach_safe(w->status_sent, tmp, key, v)
	{
		route = json_object_get(cache, key);
		rv = k8s_str(route, "metadata.resourceVersion");
		if (!rv || strcmp(rv, json_string_value(v)))
			json_object_del(w->status_sent, key); /* gone, or newer */
	}
	json_object_foreach(w->route_outcomes, key, outcome)
	{
		route = json_object_get(cache, key);
		rv = k8s_str(route, "metadata.resourceVersion");
		if (!rv || json_object_get(w->status_sent, key) ||
		    !(body = route_due(route, outcome, now)))
			continue;
		if (put_start(w, key, rv, body))
			w->status_retry_ms = timer_now_ms() + 1000; /* no memory: later */
		return true;
	}
	return false;
}

void k8s_status_poll(struct k8s_watcher *w)
{
	if (w->put.easy || !__atomic_load_n(&w->status_on, __ATOMIC_ACQUIRE) ||
	    timer_now_ms() < w->status_retry_ms)
		return;
	pthread_mutex_lock(&w->lock);
	if (w->status_due && !w->status_sent)
		w->status_sent = json_object();
	if (w->status_due && w->status_sent && !write_next(w))
		w->status_due = false;
	pthread_mutex_unlock(&w->lock);
}

void k8s_status_end(struct k8s_watcher *w)
{
	struct k8s_status_put *put = &w->put;

	if (put->easy) {
		curl_multi_remove_handle(w->multi, put->easy);
		curl_easy_cleanup(put->easy);
	}
	curl_slist_free_all(put->headers);
	free(put->body);
	free(put->reply.data);
	put->easy = put->headers = NULL;
	put->body = NULL;
	put->reply = (struct k8s_body){0};
}

/* A failure: said with the server's words, and tried again after a
 * backoff (the informers' bounds). */
static void put_failed(struct k8s_watcher *w, long status, bool curl_ok)
{
	json_t *st =
	    w->put.reply.data ? json_loadb(w->put.reply.data, w->put.reply.len, 0, NULL) : NULL;
	const char *msg = k8s_str(st, "message");
	unsigned int b = w->status_backoff_ms;

	b = b ? b * 2 : w->opts.backoff_min_ms;
	w->status_backoff_ms = b > w->opts.backoff_max_ms ? w->opts.backoff_max_ms : b;
	w->status_retry_ms = timer_now_ms() + w->status_backoff_ms;
	w->status_failures++;
	if (!curl_ok)
		pr_warn("kubernetes: HTTPRoute %s status not written: %s; again in %u ms",
			w->put.key, w->put.curl_error[0] ? w->put.curl_error : "no answer",
			w->status_backoff_ms);
	else
		pr_warn("kubernetes: HTTPRoute %s status not written: HTTP %ld%s%s%s%s; again in "
			"%u ms",
			w->put.key, status, msg ? " (" : "", msg ? msg : "", msg ? ")" : "",
			status == 403
			    ? " (the agent's ClusterRole needs update on httproutes/status)"
			    : "",
			w->status_backoff_ms);
	json_decref(st);
}

bool k8s_status_done(struct k8s_watcher *w, CURLMsg *msg)
{
	long status = 0;
	bool curl_ok = msg->data.result == CURLE_OK;

	if (!w->put.easy || msg->easy_handle != w->put.easy)
		return false;
	curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
	pthread_mutex_lock(&w->lock);
	if (curl_ok && (status == 200 || status == 409 || status == 404)) {
		/* Done, or someone wrote first, or gone: the watch's next version
		 * of it decides whether anything is left to write. */
		json_object_set_new(w->status_sent, w->put.key, json_string(w->put.rv));
		w->status_backoff_ms = 0;
		w->status_retry_ms = 0;
		if (status == 200)
			w->status_writes++;
		if (status == 409)
			w->status_conflicts++;
	} else {
		put_failed(w, status, curl_ok);
	}
	w->status_due = true;
	pthread_mutex_unlock(&w->lock);
	if (curl_ok && status == 200)
		pr_info("kubernetes: HTTPRoute %s status written", w->put.key);
	else if (curl_ok && status == 409)
		pr_info("kubernetes: HTTPRoute %s status: another writer was first (409 Conflict); "
			"its newer version decides",
			w->put.key);
	k8s_status_end(w);
	return true;
}
