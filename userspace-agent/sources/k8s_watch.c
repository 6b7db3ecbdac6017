// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The watch thread: every informer's request runs on one libcurl multi
 * handle (HTTP/1.1 or 2, TLS with the cluster's CA, a bearer token). Lists
 * collect their body; watches are read line by line as the chunks come,
 * one JSON event per line.
 */
#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timer_wheel.h"
#include "k8s_impl.h"

#define LIST_MAX_BYTES (256u << 20)

static int buf_append(struct k8s_informer *inf, const char *data, size_t n)
{
	char *tmp;
	size_t cap;

	if (inf->len + n + 1 > inf->cap) {
		if (inf->len + n + 1 > LIST_MAX_BYTES)
			return -EFBIG;
		for (cap = inf->cap ? inf->cap : 65536; cap < inf->len + n + 1; cap *= 2)
			;
		if (!(tmp = realloc(inf->buf, cap)))
			return -ENOMEM;
		inf->buf = tmp;
		inf->cap = cap;
	}
	memcpy(inf->buf + inf->len, data, n);
	inf->len += n;
	inf->buf[inf->len] = 0;
	return 0;
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *arg)
{
	struct k8s_informer *inf = arg;
	struct k8s_watcher *w = inf->w;
	size_t n = size * nmemb, start = 0, i;
	long status = 0;

	if (buf_append(inf, data, n))
		return 0;
	curl_easy_getinfo(inf->easy, CURLINFO_RESPONSE_CODE, &status);
	if (inf->state != K8S_WATCHING || status != 200)
		return n;
	/* Whole lines are events; the rest waits for the next chunk. */
	for (i = 0; i < inf->len; i++) {
		if (inf->buf[i] != '\n')
			continue;
		if (i > start && !k8s_informer_event(w, inf, inf->buf + start, i - start))
			return 0;
		start = i + 1;
	}
	memmove(inf->buf, inf->buf + start, inf->len - start);
	inf->len -= start;
	return n;
}

_Static_assert(sizeof(((struct k8s_informer *)0)->curl_error) >= CURL_ERROR_SIZE,
	       "CURLOPT_ERRORBUFFER takes CURL_ERROR_SIZE bytes");

static int start_request(struct k8s_watcher *w, struct k8s_informer *inf, bool watch)
{
	char url[2048];
	CURL *e;
	int ret;

	if ((ret = k8s_informer_url(w, inf, watch, url, sizeof(url))))
		return ret;
	if (!(e = curl_easy_init()))
		return -ENOMEM;
	inf->len = 0;
	inf->headers = k8s_auth_headers(&w->conn);
	inf->cred_gen = w->conn.exec.gen;
	inf->got_events = false;
	inf->easy = e;
	inf->state = watch ? K8S_WATCHING : K8S_LISTING;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, inf->headers);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, inf);
	curl_easy_setopt(e, CURLOPT_PRIVATE, inf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	/* A watch ends by the server's timeoutSeconds; allow it some slack. */
	curl_easy_setopt(e, CURLOPT_TIMEOUT, watch ? (long)w->opts.watch_timeout_s + 30 : 120L);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	inf->curl_error[0] = 0;
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, inf->curl_error);
	k8s_curl_tls(e, &w->conn);
	if (watch) {
		pthread_mutex_lock(&w->lock);
		w->watches++;
		pthread_mutex_unlock(&w->lock);
	}
	return curl_multi_add_handle(w->multi, e) == CURLM_OK ? 0 : -EIO;
}

static void end_request(struct k8s_watcher *w, struct k8s_informer *inf)
{
	if (!inf->easy)
		return;
	curl_multi_remove_handle(w->multi, inf->easy);
	curl_easy_cleanup(inf->easy);
	curl_slist_free_all(inf->headers);
	inf->easy = inf->headers = NULL;
}

static void on_done(struct k8s_watcher *w, CURLMsg *msg)
{
	struct k8s_informer *inf = NULL;
	long status = 0;
	bool ok = msg->data.result == CURLE_OK;

	if (k8s_status_done(w, msg))
		return;
	curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&inf);
	curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
	if (!ok && !inf->relist && msg->data.result != CURLE_WRITE_ERROR)
		pr_info("kubernetes: %s %s: %s", inf->state == K8S_WATCHING ? "watch" : "list",
			k8s_kind_path(inf->kind),
			inf->curl_error[0] ? inf->curl_error
					   : curl_easy_strerror(msg->data.result));
	if (msg->data.result == CURLE_WRITE_ERROR && inf->relist)
		ok = true;
	if (inf->state == K8S_WATCHING)
		k8s_informer_watch_done(w, inf, status, ok);
	else
		k8s_informer_list_done(w, inf, status, ok);
	end_request(w, inf);
}

/* Starts what is due; returns the ms until the next retry (at most 1 s). */
static int start_due(struct k8s_watcher *w)
{
	unsigned long long now = timer_now_ms(), next = now + 1000;
	size_t i;

	for (i = 0; i < K8S_KINDS; i++) {
		struct k8s_informer *inf = &w->inf[i];

		if (inf->state != K8S_WAITING || inf->easy)
			continue;
		if (inf->retry_at_ms > now) {
			if (inf->retry_at_ms < next)
				next = inf->retry_at_ms;
			continue;
		}
		/* A list until one was read whole from an empty rv; then watches. */
		if (start_request(w, inf, inf->rv[0] && !inf->cont[0] && !inf->staging) < 0)
			k8s_informer_backoff(w, inf);
	}
	return (int)(next - now);
}

/* Once a second: a new version of the settings file makes a snapshot due. */
static void settings_poll(struct k8s_watcher *w)
{
	unsigned long long now = timer_now_ms();
	struct k8s_file_stamp st;
	uint64_t one = 1;

	if (!w->opts.mesh_settings[0] || now - w->settings_checked_ms < 1000)
		return;
	w->settings_checked_ms = now;
	k8s_file_stamp(w->opts.mesh_settings, &st);
	if (k8s_file_stamp_same(&st, &w->settings_seen))
		return;
	w->settings_seen = st;
	if (write(w->event_fd, &one, sizeof(one)) < 0)
		pr_warn("kubernetes: cannot signal a settings change: %s", strerror(errno));
}

/* Ready pods of this node that the last snapshot could not place (their
 * cgroup or netns not there yet): a snapshot due again after 0.5 s, then
 * twice as long each time, at most 30 s, so that a pod that never shows
 * up does not log a warning a second. */
static void unplaced_poll(struct k8s_watcher *w)
{
	unsigned long long now = timer_now_ms();
	uint64_t one = 1;

	if (!__atomic_load_n(&w->unplaced, __ATOMIC_ACQUIRE)) {
		w->unplaced_retry_ms = 0;
		w->unplaced_backoff_ms = 500;
		return;
	}
	if (!w->unplaced_retry_ms) {
		w->unplaced_retry_ms = now + w->unplaced_backoff_ms;
		return;
	}
	if (now < w->unplaced_retry_ms)
		return;
	w->unplaced_backoff_ms =
	    w->unplaced_backoff_ms * 2 > 30000 ? 30000 : w->unplaced_backoff_ms * 2;
	w->unplaced_retry_ms = now + w->unplaced_backoff_ms;
	if (write(w->event_fd, &one, sizeof(one)) < 0)
		pr_warn("kubernetes: cannot signal a retry of unplaced pods: %s", strerror(errno));
}

static void *watch_thread(void *arg)
{
	struct k8s_watcher *w = arg;
	int running, left, timeout;
	CURLMsg *msg;
	size_t i;

	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
		timeout = start_due(w);
		settings_poll(w);
		unplaced_poll(w);
		k8s_status_poll(w);
		curl_multi_perform(w->multi, &running);
		while ((msg = curl_multi_info_read(w->multi, &left)))
			if (msg->msg == CURLMSG_DONE)
				on_done(w, msg);
		curl_multi_poll(w->multi, NULL, 0, timeout > 0 ? timeout : 1, NULL);
	}
	for (i = 0; i < K8S_KINDS; i++)
		end_request(w, &w->inf[i]);
	k8s_status_end(w);
	return NULL;
}

int k8s_watcher_start(struct k8s_watcher *w, struct cfg_error *err)
{
	sigset_t all, old;
	size_t i;
	int ret;

	for (i = 0; i < K8S_KINDS; i++) {
		w->inf[i].kind = (enum k8s_kind)i;
		w->inf[i].w = w;
		if (!(w->inf[i].cache = json_object()))
			return -ENOMEM;
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	if ((w->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		return -errno;
	if (!(w->multi = curl_multi_init()))
		return -ENOMEM;
	srandom((unsigned int)(timer_now_ms() ^ (unsigned long long)getpid()));
	if (w->opts.mesh_settings[0]) /* the version the source opened with */
		k8s_file_stamp(w->opts.mesh_settings, &w->settings_seen);
	/* Every signal blocked in the thread: the agent takes SIGTERM and
	 * SIGHUP on its signalfd, which only works if no thread leaves them
	 * unblocked (one that did would die of them by default). */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = -pthread_create(&w->thread, NULL, watch_thread, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		snprintf(err->msg, sizeof(err->msg), "kubernetes: cannot start the watch thread");
		return ret;
	}
	w->started = true;
	return 0;
}

void k8s_watcher_stop(struct k8s_watcher *w)
{
	size_t i;

	if (w->started) {
		__atomic_store_n(&w->stop, true, __ATOMIC_RELEASE);
		curl_multi_wakeup(w->multi);
		pthread_join(w->thread, NULL);
	}
	if (w->multi)
		curl_multi_cleanup(w->multi);
	for (i = 0; i < K8S_KINDS; i++) {
		json_decref(w->inf[i].cache);
		json_decref(w->inf[i].staging);
		free(w->inf[i].buf);
	}
	json_decref(w->route_outcomes);
	json_decref(w->status_sent);
	if (w->event_fd > 0)
		close(w->event_fd);
	if (w->started) {
		pthread_mutex_destroy(&w->lock);
		pthread_cond_destroy(&w->cond);
	}
}
