// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * One informer per kind, following the API's list/watch conventions: a
 * paginated list (limit/continue) is read into a staging map that replaces
 * the cache only once the last page came; a watch resumes from the newest
 * resourceVersion seen (events and bookmarks); 410 Gone, as an HTTP status
 * or as a watch ERROR event, means that version is too old: list again.
 * Any other failure keeps the cache and retries after a backoff with jitter.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "k8s_impl.h"

static const struct {
	const char *path, *kind;
} kinds[K8S_KINDS] = {
    [K8S_NAMESPACES] = {"/api/v1/namespaces", "Namespace"},
    [K8S_PODS_LOCAL] = {"/api/v1/pods", "Pod"},
    [K8S_PODS_REMOTE] = {"/api/v1/pods", "Pod"},
    [K8S_SERVICES] = {"/api/v1/services", "Service"},
    [K8S_ENDPOINTSLICES] = {"/apis/discovery.k8s.io/v1/endpointslices", "EndpointSlice"},
    [K8S_NETWORKPOLICIES] = {"/apis/networking.k8s.io/v1/networkpolicies", "NetworkPolicy"},
    [K8S_HTTPROUTES] = {"/apis/gateway.networking.k8s.io/v1/httproutes", "HTTPRoute"},
    [K8S_NODES] = {"/api/v1/nodes", "Node"},
    [K8S_TELEMETRIES] = {"/apis/telemetry.istio.io/v1/telemetries", "Telemetry"},
};

#define ABSENT_RETRY_MS 60000

const char *k8s_kind_path(enum k8s_kind kind)
{
	return kinds[kind].path;
}

const char *k8s_kind_name(enum k8s_kind kind)
{
	return kinds[kind].kind;
}

bool k8s_kind_optional(enum k8s_kind kind)
{
	return kind == K8S_HTTPROUTES || kind == K8S_TELEMETRIES;
}

static unsigned long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000;
}

void k8s_watcher_signal(struct k8s_watcher *w)
{
	uint64_t one = 1;

	if (w->all_synced && write(w->event_fd, &one, sizeof(one)) < 0)
		pr_warn("kubernetes: cannot signal a change: %s", strerror(errno));
}

void k8s_watcher_fail(struct k8s_watcher *w, int error, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&w->lock);
	w->error = error;
	va_start(ap, fmt);
	vsnprintf(w->error_msg, sizeof(w->error_msg), fmt, ap);
	va_end(ap);
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pr_warn("kubernetes: %s", w->error_msg);
}

/* Doubles up to the maximum; waits between half and all of it. */
void k8s_informer_backoff(struct k8s_watcher *w, struct k8s_informer *inf)
{
	unsigned int d;

	inf->backoff_ms = inf->backoff_ms ? inf->backoff_ms * 2 : w->opts.backoff_min_ms;
	if (inf->backoff_ms > w->opts.backoff_max_ms)
		inf->backoff_ms = w->opts.backoff_max_ms;
	d = inf->backoff_ms / 2 + (unsigned int)(random() % (inf->backoff_ms / 2 + 1));
	inf->retry_at_ms = now_ms() + d;
	inf->state = K8S_WAITING;
}

static void url_escape_append(char *url, size_t len, const char *s)
{
	char *e = curl_easy_escape(NULL, s, 0);
	size_t n = strlen(url);

	if (e)
		snprintf(url + n, len - n, "%s", e);
	curl_free(e);
}

int k8s_informer_url(struct k8s_watcher *w, struct k8s_informer *inf, bool watch, char *url,
		     size_t len)
{
	size_t n;

	snprintf(url, len, "%s%s?", w->conn.server, kinds[inf->kind].path);
	n = strlen(url);
	if (watch)
		snprintf(url + n, len - n,
			 "watch=1&allowWatchBookmarks=true&timeoutSeconds=%u&resourceVersion=",
			 w->opts.watch_timeout_s);
	else
		snprintf(url + n, len - n, "limit=500%s", inf->cont[0] ? "&continue=" : "");
	url_escape_append(url, len, watch ? inf->rv : inf->cont);
	if (inf->kind == K8S_PODS_LOCAL || inf->kind == K8S_PODS_REMOTE) {
		char sel[300];

		snprintf(sel, sizeof(sel), "spec.nodeName%s=%s",
			 inf->kind == K8S_PODS_LOCAL ? "" : "!", w->opts.node);
		n = strlen(url);
		snprintf(url + n, len - n, "&fieldSelector=");
		url_escape_append(url, len, sel);
	}
	return strlen(url) + 1 >= len ? -ENAMETOOLONG : 0;
}

/* What the translation never reads, not kept: managedFields are most of
 * an object's bytes. */
static void trim(json_t *obj)
{
	json_object_del(json_object_get(obj, "metadata"), "managedFields");
}

/* What the cache keeps of OBJ, a new reference (NULL: no memory): of a
 * Node its name and addresses, all the translation reads (its status
 * changes with every heartbeat, which must not make a new model on every
 * node); of anything else, all but its managedFields. */
static json_t *cached_view(enum k8s_kind kind, json_t *obj)
{
	json_t *view, *md, *st, *addrs;

	if (kind != K8S_NODES) {
		trim(obj);
		return json_incref(obj);
	}
	view = json_object();
	md = json_object();
	st = json_object();
	addrs = json_object_get(json_object_get(obj, "status"), "addresses");
	addrs = addrs ? json_incref(addrs) : json_array();
	if (json_object_set_new(view, "metadata", md) || json_object_set_new(view, "status", st) ||
	    json_object_set(md, "name",
			    json_object_get(json_object_get(obj, "metadata"), "name")) ||
	    json_object_set_new(st, "addresses", addrs)) {
		json_decref(view);
		return NULL;
	}
	return view;
}

/* "ns/name" (or "name") of OBJ into KEY. */
static int object_key(const json_t *obj, char *key, size_t len)
{
	const char *ns = k8s_str(obj, "metadata.namespace"), *name = k8s_str(obj, "metadata.name");

	if (!name)
		return -EINVAL;
	snprintf(key, len, "%s%s%s", ns ? ns : "", ns ? "/" : "", name);
	return 0;
}

/* A request with the plugin's current credential was answered: a later
 * 401 gets its retry again. */
static void credential_taken(struct k8s_watcher *w, const struct k8s_informer *inf)
{
	if (inf->cred_gen == w->conn.exec.gen)
		w->conn.exec.after_401 = false;
}

/* What the server said in a Status body, or the HTTP status. */
static void status_fail(struct k8s_watcher *w, struct k8s_informer *inf, long status,
			const char *what)
{
	json_t *st = inf->buf ? json_loadb(inf->buf, inf->len, 0, NULL) : NULL;
	const char *msg = st ? k8s_str(st, "message") : NULL;
	struct k8s_exec *x = &w->conn.exec;
	/* A plugin's credential refused: asked for again once, as client-go
	 * does, before the refusal counts; a request that carried an older
	 * one says nothing of the current one. */
	bool old = x->argv && inf->cred_gen != x->gen;
	bool again = status == 401 && x->argv && (old || !x->after_401);

	k8s_watcher_fail(w, !again && (status == 401 || status == 403) ? -EACCES : -EIO,
			 "%s %s%s: HTTP %ld%s%s%s", what, w->conn.server, kinds[inf->kind].path,
			 status, msg ? " (" : "", msg ? msg : "", msg ? ")" : "");
	if (status == 401 && !old)
		x->stale = true; /* a plugin's credential: ask it again */
	if (status == 401 && !again)
		pr_err("kubernetes: the API server refused the credentials (401 Unauthorized): "
		       "check the token, client certificate or credential plugin of %s",
		       w->opts.kubeconfig[0] ? w->opts.kubeconfig : w->opts.sa_dir);
	json_decref(st);
}

static bool all_synced(const struct k8s_watcher *w)
{
	size_t i;

	for (i = 0; i < K8S_KINDS; i++)
		if (!w->inf[i].synced)
			return false;
	return true;
}

/* The last page came: the staging map becomes the cache, whole. */
static void list_commit(struct k8s_watcher *w, struct k8s_informer *inf, const char *rv)
{
	pthread_mutex_lock(&w->lock);
	json_decref(inf->cache);
	inf->cache = inf->staging;
	inf->staging = NULL;
	snprintf(inf->rv, sizeof(inf->rv), "%s", rv);
	inf->synced = true;
	w->lists++;
	w->error = 0;
	w->error_msg[0] = 0;
	if (!w->all_synced && all_synced(w)) {
		w->all_synced = true;
		pr_info("kubernetes: every initial list is read; snapshots from now on");
	}
	k8s_watcher_signal(w);
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pr_info("kubernetes: listed %zu %s objects at resourceVersion %s",
		json_object_size(inf->cache), kinds[inf->kind].kind, rv[0] ? rv : "- (not served)");
}

static int list_page(struct k8s_watcher *w, struct k8s_informer *inf)
{
	json_t *list = json_loadb(inf->buf, inf->len, 0, NULL), *items, *item;
	const char *rv, *cont;
	char key[600];
	size_t i;

	items = json_object_get(list, "items");
	rv = k8s_str(list, "metadata.resourceVersion");
	if (!list || !rv || (items && !json_is_array(items))) {
		json_decref(list);
		return -EINVAL;
	}
	if (!inf->staging && !(inf->staging = json_object())) {
		json_decref(list);
		return -ENOMEM;
	}
	json_array_foreach(items, i, item) if (!object_key(item, key, sizeof(key)))
	    json_object_set_new(inf->staging, key, cached_view(inf->kind, item));
	cont = k8s_str(list, "metadata.continue");
	snprintf(inf->cont, sizeof(inf->cont), "%s", cont ? cont : "");
	if (!inf->cont[0])
		list_commit(w, inf, rv);
	json_decref(list);
	return 0;
}

static void list_restart(struct k8s_informer *inf)
{
	json_decref(inf->staging);
	inf->staging = NULL;
	inf->cont[0] = 0;
}

void k8s_informer_list_done(struct k8s_watcher *w, struct k8s_informer *inf, long status,
			    int curl_ok)
{
	if (!curl_ok) {
		/* A list cut short is dropped whole: nothing of it reaches the cache. */
		list_restart(inf);
		k8s_informer_backoff(w, inf);
		return;
	}
	if (status == 404 && k8s_kind_optional(inf->kind)) {
		/* The Gateway API (Istio's CRDs) not installed: none, and ask
		 * again later. */
		list_restart(inf);
		if (!(inf->staging = json_object())) {
			k8s_informer_backoff(w, inf);
			return;
		}
		list_commit(w, inf, "");
		inf->retry_at_ms = now_ms() + ABSENT_RETRY_MS;
		inf->state = K8S_WAITING;
		return;
	}
	if (status == 410) { /* the continue token expired: from the start */
		list_restart(inf);
		inf->retry_at_ms = 0;
		inf->state = K8S_WAITING;
		return;
	}
	if (status != 200 || list_page(w, inf)) {
		if (status == 200)
			k8s_watcher_fail(w, -EINVAL, "list %s: not a %sList", kinds[inf->kind].path,
					 kinds[inf->kind].kind);
		else
			status_fail(w, inf, status, "list");
		list_restart(inf);
		k8s_informer_backoff(w, inf);
		return;
	}
	inf->backoff_ms = 0;
	inf->retry_at_ms = 0;
	credential_taken(w, inf);
	inf->state = K8S_WAITING; /* next: the following page, or the watch */
}

void k8s_informer_watch_done(struct k8s_watcher *w, struct k8s_informer *inf, long status,
			     int curl_ok)
{
	if (inf->relist || status == 410) {
		pr_info("kubernetes: %s resourceVersion %s is gone (410): listing again",
			kinds[inf->kind].kind, inf->rv);
		pthread_mutex_lock(&w->lock);
		w->relists++;
		pthread_mutex_unlock(&w->lock);
		inf->relist = false;
		inf->rv[0] = 0;
		list_restart(inf);
		inf->retry_at_ms = 0;
		inf->state = K8S_WAITING;
		return;
	}
	if (curl_ok && status == 200 && inf->got_events) {
		credential_taken(w, inf);
		inf->backoff_ms = 0; /* the server ended a healthy watch: resume now */
		inf->retry_at_ms = 0;
		inf->state = K8S_WAITING;
		return;
	}
	if (!curl_ok)
		k8s_watcher_fail(w, -ECONNRESET, "watch %s: connection lost; resuming from %s",
				 kinds[inf->kind].path, inf->rv);
	else if (status != 200)
		status_fail(w, inf, status, "watch");
	k8s_informer_backoff(w, inf);
}

static bool event_error(struct k8s_watcher *w, struct k8s_informer *inf, const json_t *obj)
{
	json_int_t code = json_integer_value(json_object_get(obj, "code"));
	const char *msg = k8s_str(obj, "message");

	if (code == 410) {
		inf->relist = true;
		return false;
	}
	k8s_watcher_fail(w, -EIO, "watch %s: ERROR event %lld (%s)", kinds[inf->kind].path,
			 (long long)code, msg ? msg : "no message");
	return false;
}

/* OBJ's view into INF's cache at KEY; whether that changed the cache (a
 * Node's view may not have). */
static bool cache_put(struct k8s_informer *inf, const char *key, json_t *obj)
{
	json_t *view = cached_view(inf->kind, obj), *old = json_object_get(inf->cache, key);
	bool same = view && old && inf->kind == K8S_NODES && json_equal(old, view);

	return !json_object_set_new(inf->cache, key, view) && !same;
}

bool k8s_informer_event(struct k8s_watcher *w, struct k8s_informer *inf, const char *line,
			size_t len)
{
	json_t *ev = json_loadb(line, len, 0, NULL), *obj = json_object_get(ev, "object");
	const char *type = k8s_str(ev, "type"), *rv = k8s_str(obj, "metadata.resourceVersion");
	bool ok = true, changed = false;
	char key[600];

	if (!type || !json_is_object(obj)) {
		json_decref(ev);
		k8s_watcher_fail(w, -EINVAL, "watch %s: not a watch event", kinds[inf->kind].path);
		return false;
	}
	if (!strcmp(type, "ERROR")) {
		ok = event_error(w, inf, obj);
		json_decref(ev);
		return ok;
	}
	inf->got_events = true;
	pthread_mutex_lock(&w->lock);
	if (strcmp(type, "BOOKMARK") && !object_key(obj, key, sizeof(key))) {
		if (!strcmp(type, "DELETED"))
			changed = !json_object_del(inf->cache, key);
		else if (!strcmp(type, "ADDED") || !strcmp(type, "MODIFIED"))
			changed = cache_put(inf, key, obj);
	}
	if (rv)
		snprintf(inf->rv, sizeof(inf->rv), "%s", rv);
	w->events++;
	if (changed)
		k8s_watcher_signal(w);
	pthread_mutex_unlock(&w->lock);
	json_decref(ev);
	return ok;
}
