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
#include <time.h>

#include "l7_impl.h"

#define L7_STALE SHUNT_OUT_CLOSED /* a pooled connection closed before answering */

static void try_once(struct l7_request *req);
static void unqueue(struct l7_request *req);
static void on_fault_delay(struct timer *t, void *ctx);

static void abort_try(struct l7_request *req)
{
	struct l7_up *up = req->up;

	timer_cancel(&req->down->l->wheel, &req->try_timer);
	if (req->h2s)
		return l7_h2_up_abort(req);
	if (!up)
		return;
	req->ep->pending--;
	l7_up_release(up, false); /* a half-read response: never reused */
}

void l7_request_abandon(struct l7_request *req, enum shunt_outcome why)
{
	if (req->head_sent) /* the client has part of a response: cut it */
		return req->sink->cut(req);
	abort_try(req);
	unqueue(req);
	timer_cancel(&req->down->l->wheel, &req->backoff);
	timer_cancel(&req->down->l->wheel, &req->fault);
	l7_request_answer(req, why);
}

static void on_deadline(struct timer *t, void *ctx)
{
	(void)t;
	l7_request_abandon(ctx, SHUNT_OUT_L7_REQUEST_TIMEOUT);
}

static void on_try_timeout(struct timer *t, void *ctx)
{
	struct l7_request *req = ctx;

	(void)t;
	if (req->head_sent)
		return req->sink->cut(req);
	abort_try(req);
	l7_request_try_failed(req, SHUNT_OUT_L7_TRY_TIMEOUT, 0);
}

static void on_backoff(struct timer *t, void *ctx)
{
	(void)t;
	try_once(ctx);
}

/* Durations in microseconds (the timer wheel's clock counts milliseconds). */
static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

struct l7_request *l7_request_new(struct l7_down *d)
{
	struct l7_request *req = calloc(1, sizeof(*req));

	if (!req)
		return NULL;
	req->down = d;
	req->sink = &l7_h1_sink;
	req->outcome = SHUNT_OUT_ALLOWED;
	req->http_minor = 1; /* until the request line says otherwise */
	req->body_length = -1;
	req->grpc_status = -1;
	req->start_us = now_us();
	req->start_wall_us = l7_wall_us();
	timer_init(&req->deadline, on_deadline, req);
	timer_init(&req->try_timer, on_try_timeout, req);
	timer_init(&req->backoff, on_backoff, req);
	timer_init(&req->fault, on_fault_delay, req);
	return req;
}

void l7_request_free(struct l7_request *req)
{
	struct timer_wheel *w = &req->down->l->wheel;

	timer_cancel(w, &req->deadline);
	timer_cancel(w, &req->try_timer);
	timer_cancel(w, &req->backoff);
	timer_cancel(w, &req->fault);
	free(req->target);
	l7_headers_free(req->headers, req->nheaders);
	l7_headers_free(req->req_trailers, req->nreq_trailers);
	l7_buf_free(&req->body);
	l7_buf_free(&req->resp);
	l7_buf_free(&req->trailers);
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

/* The rule's fault: an abort answers at once; a delay holds the request
 * first (its time counts against timeouts.request). */
static bool fault_stage(struct l7_request *req)
{
	const struct cfg_http_fault *f = &req->rule->r->fault;
	struct l7_loop *l = req->down->l;

	if (f->abort_status || f->abort_grpc >= 0) {
		if (l7_random(l) % 10000 < f->abort_percent * 100) {
			l7_request_fault_answer(req, f->abort_status, f->abort_grpc);
			return true;
		}
	}
	if (f->delay_ms && l7_random(l) % 10000 < f->delay_percent * 100) {
		l7_arm_in(l, &req->fault, f->delay_ms);
		return true;
	}
	return false;
}

static void on_fault_delay(struct timer *t, void *ctx)
{
	(void)t;
	try_once(ctx);
}

/* Everything a rule does before an endpoint is tried; false when it
 * answered or holds the request. */
static bool rule_stages(struct l7_request *req, const struct cfg_workload *src)
{
	const struct cfg_http_rule *r = req->rule->r;
	enum shunt_outcome o = l7_authorize(req, src);
	unsigned int retry_s = 0;

	if (o != SHUNT_OUT_ALLOWED)
		return l7_request_answer(req, o), false;
	if (!r)
		return true;
	if (l7_redirect(req))
		return false;
	if (r->rate_limit.requests && !l7_rate_take(req->down->l, req->rule, &retry_s))
		return l7_request_rate_limited(req, retry_s), false;
	if (l7_rewrite(req))
		return l7_request_answer(req, SHUNT_OUT_SOCKET_FAILED), false;
	/* a mirror cannot take an upgrade's stream; a copy goes once the
	 * body is whole (l7_body_end) */
	if (r->mirror.service && !req->upgrade && req->body_done)
		l7_mirror(req);
	else if (r->mirror.service && !req->upgrade)
		req->mirror_due = true;
	return !fault_stage(req);
}

/* The route's timeouts.request, or the client's gRPC deadline if sooner. */
static void arm_deadline(struct l7_request *req)
{
	const struct cfg_http_rule *r = req->rule->r;
	uint64_t ms = r ? r->request_timeout_ms : 0, grpc_ms;

	grpc_ms = req->grpc ? l7_grpc_timeout_ms(req) : 0;
	if (grpc_ms && (!ms || grpc_ms < ms))
		ms = grpc_ms;
	if (ms)
		l7_arm_in(req->down->l, &req->deadline, ms);
}

/* At the destination's hop: its one endpoint, named before any stage so
 * that an answer of this hop names it too. */
static void inbound_target(struct l7_request *req)
{
	const struct l7_ep_ref *e = &req->table->rules[0].backends[0].eps[0];

	req->target_ep.inbound = true;
	req->target_ep.dst = e->w;
	memcpy(req->target_ep.addr, e->addr, 16);
	req->target_ep.port = e->port;
}

void l7_request_dispatch(struct l7_request *req)
{
	struct l7_down *d = req->down;
	struct l7_loop *l = d->l;
	enum shunt_outcome why = SHUNT_OUT_L7_NO_ENDPOINT;
	const struct l7_entry *e;

	atomic_fetch_add(&l7_stats.requests, 1);
	req->grpc = l7_is_grpc(req); /* its errors are answered as gRPC statuses */
	req->view = l7_view_current(l);
	if (!req->view)
		return l7_request_answer(req, why);
	/* A connection's service port and client are looked up once per view,
	 * not per request (both are linear scans of the model). */
	if (d->view != req->view) {
		d->table = d->origin.inbound
			       ? l7_inbound_table_for(l, req->view,
						      workload_named(req->view->cfg, d->dst_name),
						      &d->origin, &d->table_why)
			       : l7_table_for(l, req->view, &d->origin, &d->table_why);
		d->src = workload_named(req->view->cfg, d->src_name);
		l7_view_put(d->view);
		d->view = req->view;
		d->view->refs++;
	}
	l7_request_id_ensure(req);
	l7_request_trace_begin(req, d->src); /* the client's share of new traces */
	req->table = d->table;
	if (!req->table)
		return l7_request_answer(req, d->table_why);
	req->target_ep.src = d->src;
	if (req->table->inbound) /* the endpoint is known before any rule */
		inbound_target(req);
	if (!req->target_ep.src)
		return l7_request_answer(req, SHUNT_OUT_UNKNOWN_SOURCE);
	e = l7_route(req->table, req);
	if (!e)
		return l7_request_answer(req, SHUNT_OUT_L7_NO_ROUTE);
	req->rule = e->rule;
	req->match = e->match;
	l7_budget_deposit_or_withdraw(l, req->rule, false);
	arm_deadline(req);
	if (rule_stages(req, req->target_ep.src))
		try_once(req);
}

/* The circuit breaker's gate for a try on B: false when it answered
 * (overflow) or queued the request until a connection frees. *E may move
 * to an endpoint with an idle connection when no new one may open. */
static bool breaker_admits(struct l7_request *req, const struct l7_backend *b,
			   const struct l7_ep_ref **e, struct l7_pool **pool)
{
	const struct cfg_traffic_policy *tp = b->tp;
	struct l7_cluster *c = b->cluster;
	struct l7_loop *l = req->down->l;
	size_t i;

	if (!req->active) {
		if (tp && tp->max_requests && c->requests >= tp->max_requests)
			return l7_request_answer(req, SHUNT_OUT_L7_OVERFLOW_REQUESTS), false;
		c->requests++;
		req->active = true;
		req->cluster = c;
	}
	if (!tp || !tp->max_connections || l7_pool_ready(*pool) ||
	    c->connections < tp->max_connections)
		return true;
	for (i = 0; i < b->neps; i++) {
		struct l7_pool *p = l7_pool_for(l, req->down->src_name, &b->eps[i]);

		if (p && l7_pool_ready(p)) {
			*e = &b->eps[i];
			*pool = p;
			return true;
		}
	}
	if (tp->max_pending_requests && c->npending >= tp->max_pending_requests)
		return l7_request_answer(req, SHUNT_OUT_L7_OVERFLOW_PENDING), false;
	req->pending = true;
	req->pending_on = c;
	req->pending_next = NULL;
	if (c->pending_tail)
		c->pending_tail->pending_next = req;
	else
		c->pending = req;
	c->pending_tail = req;
	c->npending++;
	return false;
}

static void unqueue(struct l7_request *req)
{
	struct l7_cluster *c = req->pending_on;
	struct l7_request **pp;

	if (!req->pending)
		return;
	for (pp = &c->pending; *pp; pp = &(*pp)->pending_next)
		if (*pp == req) {
			*pp = req->pending_next;
			break;
		}
	c->pending_tail = NULL;
	for (pp = &c->pending; *pp; pp = &(*pp)->pending_next)
		c->pending_tail = *pp;
	c->npending--;
	req->pending = false;
}

/* A connection of C went idle or closed: the first waiting request tries. */
void l7_cluster_wake(struct l7_cluster *c)
{
	struct l7_request *req = c->pending;
	struct l7_loop *l;
	size_t before = c->npending;

	if (!req)
		return;
	l = req->down->l;
	unqueue(req);
	try_once(req); /* may answer and free REQ */
	/* More may fit (several connections freed at once), unless this one
	 * found no room and queued again. */
	if (c->npending && c->npending < before)
		l7_cluster_freed(l, c);
}

static void try_once(struct l7_request *req)
{
	struct l7_loop *l = req->down->l;
	const struct cfg_http_rule *r = req->rule->r;
	const struct l7_ep_ref *e;
	enum shunt_outcome o;
	struct l7_pool *pool;

	req->backend = l7_pick_backend(l, req->rule);
	if (req->backend && !req->backend->svc) /* a backendRef that does not resolve */
		return l7_request_answer(req, SHUNT_OUT_L7_BACKEND_NOT_RESOLVED);
	e = req->backend ? l7_pick_endpoint(l, req->backend) : NULL;
	if (!e)
		return l7_request_answer(req, SHUNT_OUT_L7_NO_ENDPOINT);
	pool = l7_pool_for(l, req->down->src_name, e);
	if (!pool)
		return l7_request_answer(req, SHUNT_OUT_SOCKET_FAILED);
	if (!breaker_admits(req, req->backend, &e, &pool))
		return;
	req->target_ep.dst = e->w;
	memcpy(req->target_ep.addr, e->addr, 16);
	req->target_ep.port = e->port;
	req->ep = e->stats;
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

	const struct cfg_traffic_policy *tp = req->backend ? req->backend->tp : NULL;

	if (!r || req->attempts > r->retry.attempts)
		return false;
	if (!l7_body_replayable(req))
		return false; /* its body streamed past what is kept */
	if (tp && tp->max_retries && !req->retrying && req->cluster &&
	    req->cluster->retries >= tp->max_retries)
		return false; /* the circuit breaker's maxRetries */
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

bool l7_retry_grpc(struct l7_request *req, const struct l7_header *h, size_t n)
{
	const struct cfg_http_rule *r = req->rule ? req->rule->r : NULL;
	size_t i;
	long code;
	char *end;

	if (!req->grpc || !r || !r->retry.grpc_statuses)
		return false;
	for (i = 0; i < n; i++) {
		if (strcmp(h[i].name, "grpc-status"))
			continue;
		code = strtol(h[i].value, &end, 10);
		return !*end && code >= 0 && code < 32 && (r->retry.grpc_statuses >> code & 1) &&
		       may_retry(req);
	}
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
	if (!req->retrying && req->cluster) {
		req->retrying = true;
		req->cluster->retries++;
	}
	l7_arm_in(l, &req->backoff, wait);
}

void l7_request_try_failed(struct l7_request *req, enum shunt_outcome why, int status)
{
	struct l7_loop *l = req->down->l;

	timer_cancel(&l->wheel, &req->try_timer);
	if (why == L7_STALE) {
		/* A pooled connection the endpoint had closed: the request never
		 * reached it. Once, for requests that may be repeated. */
		if (!req->free_retry_used && idempotent(req->method) && l7_body_replayable(req)) {
			req->free_retry_used = true;
			req->attempts--;
			return try_once(req);
		}
		why = SHUNT_OUT_L7_UPSTREAM_RESET;
	}
	req->status = status;
	if (req->ep && why != SHUNT_OUT_L7_UPSTREAM_STATUS && why != SHUNT_OUT_SOCKET_FAILED &&
	    !shunt_outcome_is(why, SHUNT_OF_DENY))
		l7_endpoint_result(req->backend, req->ep, 0);
	if (req->ep && why == SHUNT_OUT_L7_CONNECT_FAILED)
		l7_endpoint_unreachable(req->ep);
	if (why == SHUNT_OUT_L7_UPSTREAM_STATUS)
		return schedule_retry(req); /* l7_retry_status allowed it */
	if ((why == SHUNT_OUT_L7_CONNECT_FAILED || why == SHUNT_OUT_L7_UPSTREAM_RESET ||
	     why == SHUNT_OUT_L7_TRY_TIMEOUT) &&
	    may_retry(req))
		return schedule_retry(req);
	l7_request_answer(req, why);
}

void l7_request_try_refused(struct l7_request *req)
{
	if (req->free_retry_used || !l7_body_replayable(req))
		return l7_request_try_failed(req, SHUNT_OUT_L7_UPSTREAM_RESET, 0);
	timer_cancel(&req->down->l->wheel, &req->try_timer);
	req->free_retry_used = true;
	req->attempts--;
	try_once(req);
}

/* REQ's end, to the owner (logs, metrics). */
static void report(struct l7_request *req, bool aborted)
{
	struct l7_span spans[2];
	struct l7_down *d = req->down;
	const struct cfg_service *svc = req->backend ? req->backend->svc : NULL;
	struct l7_done done = {
	    .source = d->src_name,
	    .src = req->target_ep.src ? req->target_ep.src : d->src,
	    .service = svc	    ? svc
		       : req->table ? req->table->svc
				    : NULL,
	    .method = req->method,
	    .path = req->target ? req->target : "",
	    .status = aborted && !req->head_sent ? 0 : req->status,
	    .outcome = aborted ? SHUNT_OUT_RESET : req->outcome,
	    .t = req->target_ep.dst ? &req->target_ep : NULL,
	    .attempts = req->attempts,
	    .duration_us = now_us() - req->start_us,
	    .request_bytes = req->body_got,
	    .response_bytes = req->resp_bytes,
	    .grpc = req->grpc,
	    .grpc_status = req->grpc_status,
	    .inbound = d->origin.inbound,
	    .protocol = d->h2		       ? "HTTP/2"
			: req->http_minor == 0 ? "HTTP/1.0"
					       : "HTTP/1.1",
	    .authority = l7_header_get(req, "host"),
	    .user_agent = l7_header_get(req, "user-agent"),
	    .request_id = l7_header_get(req, "x-request-id"),
	    .traceparent = l7_header_get(req, "traceparent"),
	    .b3 = l7_header_get(req, "b3"),
	    .x_b3_traceid = l7_header_get(req, "x-b3-traceid"),
	    .trace_id = req->trace.trace_id,
	};

	l7_request_spans(req, &done, spans);
	d->l->ops->request_done(d->l->ctx, &done);
}

/* Counters, timers and the log line of REQ's end; false if it ended before. */
static bool request_end(struct l7_request *req, bool aborted)
{
	struct l7_down *d = req->down;
	struct l7_loop *l = d->l;
	int cls = req->status / 100;

	if (req->outcome == SHUNT_OUT_MAX)
		return false;
	timer_cancel(&l->wheel, &req->deadline);
	timer_cancel(&l->wheel, &req->backoff);
	timer_cancel(&l->wheel, &req->fault);
	if (aborted)
		abort_try(req);
	unqueue(req);
	if (req->active)
		req->cluster->requests--;
	if (req->retrying)
		req->cluster->retries--;
	req->active = req->retrying = false;
	timer_cancel(&l->wheel, &req->try_timer);
	if (cls >= 0 && cls < 6 && req->head_sent)
		atomic_fetch_add(&l7_stats.by_class[cls], 1);
	report(req, aborted);
	req->outcome = SHUNT_OUT_MAX;
	return true;
}

void l7_request_finish(struct l7_request *req, bool aborted)
{
	if (request_end(req, aborted) && !aborted)
		req->sink->done(req);
}

void l7_request_upgraded(struct l7_request *req)
{
	request_end(req, false);
}
