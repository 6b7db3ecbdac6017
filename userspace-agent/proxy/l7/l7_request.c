// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A request's life: routed once, then tried on endpoints until one answers
 * or its retries, its budget or its time run out. What fails is answered
 * by the proxy itself, with the outcome's status and the hop and reason in
 * shunt-error / shunt-hop headers (common/outcome.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "l7_impl.h"

#define L7_STALE SHUNT_OUT_CLOSED /* a pooled connection closed before answering */

static void try_once(struct l7_request *req);

static void abort_try(struct l7_request *req)
{
	struct l7_up *up = req->up;

	timer_cancel(&req->down->l->wheel, &req->try_timer);
	if (!up)
		return;
	req->ep->pending--;
	l7_up_release(up, false); /* a half-read response: never reused */
}

static void on_deadline(struct timer *t, void *ctx)
{
	struct l7_request *req = ctx;

	(void)t;
	if (req->head_sent) /* the client has part of a response: cut it */
		return l7_down_close(req->down);
	abort_try(req);
	timer_cancel(&req->down->l->wheel, &req->backoff);
	l7_request_answer(req, SHUNT_OUT_L7_REQUEST_TIMEOUT);
}

static void on_try_timeout(struct timer *t, void *ctx)
{
	struct l7_request *req = ctx;

	(void)t;
	if (req->head_sent)
		return l7_down_close(req->down);
	abort_try(req);
	l7_request_try_failed(req, SHUNT_OUT_L7_TRY_TIMEOUT, 0);
}

static void on_backoff(struct timer *t, void *ctx)
{
	(void)t;
	try_once(ctx);
}

struct l7_request *l7_request_new(struct l7_down *d)
{
	struct l7_request *req = calloc(1, sizeof(*req));

	if (!req)
		return NULL;
	req->down = d;
	req->outcome = SHUNT_OUT_ALLOWED;
	req->start_ms = timer_now_ms();
	timer_init(&req->deadline, on_deadline, req);
	timer_init(&req->try_timer, on_try_timeout, req);
	timer_init(&req->backoff, on_backoff, req);
	return req;
}

void l7_request_free(struct l7_request *req)
{
	struct timer_wheel *w = &req->down->l->wheel;

	timer_cancel(w, &req->deadline);
	timer_cancel(w, &req->try_timer);
	timer_cancel(w, &req->backoff);
	free(req->target);
	l7_headers_free(req->headers, req->nheaders);
	l7_buf_free(&req->body);
	l7_view_put(req->view);
	free(req);
}

static const struct cfg_workload *workload_named(const struct mesh_config *cfg, const char *q)
{
	const char *slash = strchr(q, '/');
	size_t i, nslen;

	if (!slash)
		return NULL;
	nslen = (size_t)(slash - q);
	for (i = 0; i < cfg->nworkloads; i++) {
		const struct cfg_workload *w = &cfg->workloads[i];

		if (strlen(w->ns) == nslen && !memcmp(w->ns, q, nslen) &&
		    !strcmp(w->name, slash + 1))
			return w;
	}
	return NULL;
}

static const char *status_text(int status)
{
	switch (status) {
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 413:
		return "Content Too Large";
	case 431:
		return "Request Header Fields Too Large";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return "Error";
	}
}

void l7_request_answer(struct l7_request *req, enum shunt_outcome why)
{
	const struct shunt_outcome_info *info = shunt_outcome(why);
	struct l7_down *d = req->down;
	int status = info->http_status ? info->http_status : 502;
	char body[256];
	int len;

	len = snprintf(body, sizeof(body), "%s: %s\n", d->l->hop, info->text);
	l7_buf_printf(&d->out,
		      "HTTP/1.1 %d %s\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n"
		      "shunt-error: %s\r\nshunt-hop: %s\r\n%s\r\n%s",
		      status, status_text(status), len, info->label, d->l->hop,
		      req->keep_alive ? "" : "connection: close\r\n",
		      req->no_body_response ? "" : body);
	req->status = status;
	req->outcome = why;
	req->head_sent = true;
	atomic_fetch_add(&l7_stats.by_outcome[why < SHUNT_OUT_MAX ? why : 0], 1);
	l7_request_finish(req, false);
}

void l7_request_dispatch(struct l7_request *req)
{
	struct l7_down *d = req->down;
	struct l7_loop *l = d->l;
	enum shunt_outcome why = SHUNT_OUT_L7_NO_ENDPOINT;
	const struct cfg_http_rule *r;

	atomic_fetch_add(&l7_stats.requests, 1);
	req->view = l7_view_current(l);
	if (!req->view || !(req->table = l7_table_for(l, req->view, &d->origin, &why)))
		return l7_request_answer(req, why);
	req->target_ep.src = workload_named(req->view->cfg, d->src_name);
	if (!req->target_ep.src)
		return l7_request_answer(req, SHUNT_OUT_UNKNOWN_SOURCE);
	req->rule = l7_route(req->table, req);
	if (!req->rule)
		return l7_request_answer(req, SHUNT_OUT_L7_NO_ROUTE);
	r = req->rule->r;
	l7_budget_deposit_or_withdraw(l, req->rule, false);
	if (r && r->request_timeout_ms)
		l7_arm_in(l, &req->deadline, r->request_timeout_ms);
	try_once(req);
}

static void try_once(struct l7_request *req)
{
	struct l7_loop *l = req->down->l;
	const struct cfg_http_rule *r = req->rule->r;
	const struct l7_ep_ref *e;
	enum shunt_outcome o;
	struct l7_pool *pool;

	req->backend = l7_pick_backend(l, req->rule);
	e = req->backend ? l7_pick_endpoint(l, req->backend) : NULL;
	if (!e)
		return l7_request_answer(req, SHUNT_OUT_L7_NO_ENDPOINT);
	req->target_ep.dst = e->w;
	memcpy(req->target_ep.addr, e->addr, 16);
	req->target_ep.port = e->port;
	req->ep = e->stats;
	pool = l7_pool_for(l, req->down->src_name, e);
	if (!pool)
		return l7_request_answer(req, SHUNT_OUT_SOCKET_FAILED);
	req->attempts++;
	req->try_start_ms = timer_now_ms();
	if (r && r->backend_timeout_ms)
		l7_arm_in(l, &req->try_timer, r->backend_timeout_ms);
	o = l7_up_send(l, req, pool);
	if (o != SHUNT_OUT_ALLOWED)
		l7_request_try_failed(req, o, 0);
}

static bool idempotent(const char *method)
{
	static const char *const m[] = {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE", NULL};
	size_t i;

	for (i = 0; m[i]; i++)
		if (!strcmp(m[i], method))
			return true;
	return false;
}

/* Another try is allowed: attempts left, and the budget has a retry. */
static bool may_retry(struct l7_request *req)
{
	const struct cfg_http_rule *r = req->rule ? req->rule->r : NULL;

	if (!r || req->attempts > r->retry.attempts)
		return false;
	if (!l7_budget_deposit_or_withdraw(req->down->l, req->rule, true)) {
		atomic_fetch_add(&l7_stats.retries_budget_denied, 1);
		return false;
	}
	return true;
}

bool l7_retry_status(struct l7_request *req, int status)
{
	const struct cfg_http_rule *r = req->rule ? req->rule->r : NULL;
	size_t i;

	for (i = 0; r && i < r->retry.ncodes; i++)
		if (r->retry.codes[i] == status)
			return may_retry(req);
	return false;
}

static void schedule_retry(struct l7_request *req)
{
	struct l7_loop *l = req->down->l;
	const struct cfg_http_rule *r = req->rule->r;
	uint64_t base = r->retry.backoff_ms, wait = base;
	unsigned int i;

	for (i = 1; i < req->attempts && wait < base * L7_BACKOFF_MAX_SCALE; i++)
		wait *= 2;
	if (wait > base * L7_BACKOFF_MAX_SCALE)
		wait = base * L7_BACKOFF_MAX_SCALE;
	/* full spread around it: retries of many clients do not line up */
	wait = wait / 2 + (wait ? l7_random(l) % (wait + 1) : 0);
	atomic_fetch_add(&l7_stats.retries, 1);
	l7_arm_in(l, &req->backoff, wait);
}

void l7_request_try_failed(struct l7_request *req, enum shunt_outcome why, int status)
{
	struct l7_loop *l = req->down->l;

	timer_cancel(&l->wheel, &req->try_timer);
	if (why == L7_STALE) {
		/* A pooled connection the endpoint had closed: the request never
		 * reached it. Once, for requests that may be repeated. */
		if (!req->free_retry_used && idempotent(req->method)) {
			req->free_retry_used = true;
			req->attempts--;
			return try_once(req);
		}
		why = SHUNT_OUT_L7_UPSTREAM_RESET;
	}
	req->status = status;
	if (why == SHUNT_OUT_L7_UPSTREAM_STATUS)
		return schedule_retry(req); /* l7_retry_status allowed it */
	if ((why == SHUNT_OUT_L7_CONNECT_FAILED || why == SHUNT_OUT_L7_UPSTREAM_RESET ||
	     why == SHUNT_OUT_L7_TRY_TIMEOUT) &&
	    may_retry(req))
		return schedule_retry(req);
	l7_request_answer(req, why);
}

void l7_request_finish(struct l7_request *req, bool aborted)
{
	struct l7_down *d = req->down;
	struct l7_loop *l = d->l;
	int cls = req->status / 100;

	if (req->outcome == SHUNT_OUT_MAX)
		return; /* finished before */
	timer_cancel(&l->wheel, &req->deadline);
	timer_cancel(&l->wheel, &req->backoff);
	if (aborted)
		abort_try(req);
	timer_cancel(&l->wheel, &req->try_timer);
	if (cls >= 0 && cls < 6 && req->head_sent)
		atomic_fetch_add(&l7_stats.by_class[cls], 1);
	l->ops->request_done(l->ctx, d->src_name, req->method, req->target ? req->target : "",
			     aborted && !req->head_sent ? 0 : req->status,
			     aborted ? SHUNT_OUT_RESET : req->outcome,
			     req->target_ep.dst ? &req->target_ep : NULL, req->attempts,
			     (timer_now_ms() - req->start_ms) * 1000);
	req->outcome = SHUNT_OUT_MAX;
	if (!aborted)
		l7_down_request_done(d);
}
