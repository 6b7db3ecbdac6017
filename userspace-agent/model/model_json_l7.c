// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A rule's fault, rateLimit, requestRedirect, urlRewrite and requestMirror,
 * and a service's trafficPolicy, in the model's JSON, both ways. Keys as in
 * the YAML; durations in ms ("fixedDelayMs"); percentages are numbers.
 * fault, rateLimit and trafficPolicy's parts are always written (zeros:
 * none); the filters and outlierDetection only when given.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "model_json_impl.h"
#include "names.h"

#define MAX_COUNT INT32_MAX
#define MAX_RATE  1000000000

static void set_real(struct mj_writer *w, json_t *o, const char *key, double v)
{
	mj_set(w, o, key, json_real(v));
}

static json_t *fault_json(struct mj_writer *w, const struct cfg_http_fault *f)
{
	json_t *o = json_object(), *delay = json_object(), *abort = json_object();

	mj_set(w, o, "delay", delay);
	mj_set(w, o, "abort", abort);
	if (w->err)
		return o;
	mj_set_uint(w, delay, "fixedDelayMs", f->delay_ms);
	set_real(w, delay, "percentage", f->delay_percent);
	mj_set_uint(w, abort, "httpStatus", f->abort_status);
	if (f->abort_grpc >= CFG_GRPC_STATUSES)
		w->err = w->err ?: -EINVAL;
	else if (f->abort_grpc >= 0)
		mj_set_str(w, abort, "grpcStatus", cfg_grpc_status_names[f->abort_grpc]);
	set_real(w, abort, "percentage", f->abort_percent);
	return o;
}

static json_t *path_modifier_json(struct mj_writer *w, enum cfg_path_match type, const char *path)
{
	json_t *o = json_object();

	if ((unsigned int)type >= 2)
		w->err = w->err ?: -EINVAL;
	else
		mj_set_str(w, o, "type", cfg_path_modifier_names[type]);
	mj_set_str(w, o, "value", path);
	return o;
}

static void filters_json(struct mj_writer *w, json_t *o, const struct cfg_http_rule *rule)
{
	const struct cfg_http_redirect *rd = &rule->redirect;
	const struct cfg_http_rewrite *rw = &rule->rewrite;
	json_t *f, *ref;

	if (rd->set) {
		mj_set(w, o, "requestRedirect", f = json_object());
		mj_set_str(w, f, "scheme", rd->scheme);
		mj_set_str(w, f, "hostname", rd->hostname);
		mj_set_uint(w, f, "port", rd->port);
		mj_set_uint(w, f, "statusCode", rd->status);
		if (rd->path && !w->err)
			mj_set(w, f, "path", path_modifier_json(w, rd->path_type, rd->path));
	}
	if (rw->set) {
		mj_set(w, o, "urlRewrite", f = json_object());
		mj_set_str(w, f, "hostname", rw->hostname);
		if (rw->path && !w->err)
			mj_set(w, f, "path", path_modifier_json(w, rw->path_type, rw->path));
	}
	if (rule->mirror.service) {
		mj_set(w, o, "requestMirror", f = json_object());
		mj_set(w, f, "backendRef", ref = json_object());
		mj_set_str(w, ref, "name", rule->mirror.service);
		mj_set_uint(w, ref, "port", rule->mirror.port);
		set_real(w, f, "percent", rule->mirror.percent);
	}
}

void mj_rule_l7_json(struct mj_writer *w, json_t *o, const struct cfg_http_rule *rule)
{
	json_t *rate = json_object();

	mj_set(w, o, "fault", fault_json(w, &rule->fault));
	mj_set(w, o, "rateLimit", rate);
	mj_set_uint(w, rate, "requestsPerUnit", rule->rate_limit.requests);
	mj_set_uint(w, rate, "unitMs", rule->rate_limit.unit_ms);
	mj_set_uint(w, rate, "burst", rule->rate_limit.burst);
	filters_json(w, o, rule);
}

/* A number from 0 to 100 at KEY of O. */
static double percent(struct mj_reader *r, json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (r->rc)
		return 0;
	if (!v)
		mj_fail_key(r, key, "missing");
	else if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 100)
		mj_fail_key(r, key, "not a number from 0 to 100");
	return r->rc ? 0 : json_number_value(v);
}

/* The object at KEY of O, entered: mj_leave(r, *MARK) after. */
static json_t *enter_object(struct mj_reader *r, json_t *o, const char *key, bool required,
			    size_t *mark)
{
	json_t *v = mj_object(r, o, key, required);

	*mark = v ? mj_enter_key(r, key) : r->wlen;
	return v;
}

static void fault_read(struct mj_reader *r, json_t *v, struct cfg_http_fault *out)
{
	json_t *f, *d, *a;
	size_t mark, inner;

	out->abort_grpc = -1;
	if (!(f = enter_object(r, v, "fault", true, &mark)))
		return;
	if ((d = enter_object(r, f, "delay", true, &inner))) {
		out->delay_ms = (__u32)mj_uint(r, d, "fixedDelayMs", UINT32_MAX, true);
		out->delay_percent = percent(r, d, "percentage");
		mj_leave(r, inner);
	}
	if ((a = enter_object(r, f, "abort", true, &inner))) {
		out->abort_status = (__u16)mj_uint(r, a, "httpStatus", 599, true);
		if (out->abort_status && out->abort_status < 200)
			mj_fail_key(r, "httpStatus", "not 0 or a status from 200 to 599");
		if (json_object_get(a, "grpcStatus"))
			out->abort_grpc =
			    mj_enum(r, a, "grpcStatus", cfg_grpc_status_names, CFG_GRPC_STATUSES);
		if (out->abort_status && out->abort_grpc >= 0)
			mj_fail(r, "both httpStatus and grpcStatus");
		out->abort_percent = percent(r, a, "percentage");
		mj_leave(r, inner);
	}
	mj_leave(r, mark);
}

static void rate_limit_read(struct mj_reader *r, json_t *v, struct cfg_http_rate_limit *out)
{
	size_t mark;
	json_t *o;

	if (!(o = enter_object(r, v, "rateLimit", true, &mark)))
		return;
	out->requests = (__u32)mj_uint(r, o, "requestsPerUnit", MAX_RATE, true);
	out->unit_ms = (__u32)mj_uint(r, o, "unitMs", UINT32_MAX, true);
	out->burst = (__u32)mj_uint(r, o, "burst", MAX_RATE, true);
	if (!out->requests && (out->unit_ms || out->burst))
		mj_fail(r, "a unit or burst without requestsPerUnit");
	else if (out->requests && out->unit_ms != 1000 && out->unit_ms != 60000 &&
		 out->unit_ms != 3600000)
		mj_fail_key(r, "unitMs", "not a second, a minute or an hour");
	else if (out->requests && !out->burst)
		mj_fail_key(r, "burst", "0 with requestsPerUnit");
	mj_leave(r, mark);
}

/* path of a redirect or rewrite; a prefix only when RULE matches prefixes. */
static void path_modifier_read(struct mj_reader *r, json_t *o, const struct cfg_http_rule *rule,
			       enum cfg_path_match *type, const char **path)
{
	size_t mark, i;
	json_t *p;

	if (!(p = enter_object(r, o, "path", false, &mark)))
		return;
	*type =
	    mj_enum(r, p, "type", cfg_path_modifier_names, 2) ? CFG_PATH_EXACT : CFG_PATH_PREFIX;
	*path = mj_checked_str(r, p, "value", cfg_http_check_path);
	for (i = 0; !r->rc && *type == CFG_PATH_PREFIX && i < rule->nmatches; i++)
		if (rule->matches[i].path_type != CFG_PATH_PREFIX)
			mj_fail_key(r, "type", "ReplacePrefixMatch with a match that is no prefix");
	mj_leave(r, mark);
}

static void redirect_read(struct mj_reader *r, json_t *v, struct cfg_http_rule *rule)
{
	static const char *const schemes[] = {"http", "https"};
	struct cfg_http_redirect *out = &rule->redirect;
	size_t mark;
	json_t *o;

	if (!(o = enter_object(r, v, "requestRedirect", false, &mark)))
		return;
	out->set = true;
	if (json_object_get(o, "scheme"))
		out->scheme = schemes[mj_enum(r, o, "scheme", schemes, 2)];
	if (json_object_get(o, "hostname"))
		out->hostname = mj_checked_str(r, o, "hostname", name_check_dns_subdomain);
	out->port = (__u16)mj_uint(r, o, "port", UINT16_MAX, true);
	out->status = (__u16)mj_uint(r, o, "statusCode", 302, true);
	if (!r->rc && out->status != 301 && out->status != 302)
		mj_fail_key(r, "statusCode", "not 301 or 302");
	path_modifier_read(r, o, rule, &out->path_type, &out->path);
	if (!r->rc && rule->nbackends)
		mj_fail(r, "a redirect in a rule with backendRefs");
	mj_leave(r, mark);
}

static void rewrite_read(struct mj_reader *r, json_t *v, struct cfg_http_rule *rule)
{
	struct cfg_http_rewrite *out = &rule->rewrite;
	size_t mark;
	json_t *o;

	if (!(o = enter_object(r, v, "urlRewrite", false, &mark)))
		return;
	out->set = true;
	if (json_object_get(o, "hostname"))
		out->hostname = mj_checked_str(r, o, "hostname", name_check_dns_subdomain);
	path_modifier_read(r, o, rule, &out->path_type, &out->path);
	if (!r->rc && !out->hostname && !out->path)
		mj_fail(r, "neither hostname nor path");
	if (!r->rc && rule->redirect.set)
		mj_fail(r, "a rewrite in a rule with a redirect");
	mj_leave(r, mark);
}

static void mirror_read(struct mj_reader *r, json_t *v, struct cfg_http_mirror *out)
{
	size_t mark, inner;
	json_t *o, *ref;

	if (!(o = enter_object(r, v, "requestMirror", false, &mark)))
		return;
	if ((ref = enter_object(r, o, "backendRef", true, &inner))) {
		out->service = mj_name(r, ref, "name", name_check_dns_label);
		out->port = (__u16)mj_uint(r, ref, "port", UINT16_MAX, true);
		if (!r->rc && !out->port)
			mj_fail_key(r, "port", "0 is not a port");
		mj_leave(r, inner);
	}
	out->percent = percent(r, o, "percent");
	if (!r->rc && out->percent != (double)(int)out->percent)
		mj_fail_key(r, "percent", "not a whole number");
	mj_leave(r, mark);
}

void mj_rule_l7_read(struct mj_reader *r, json_t *v, struct cfg_http_rule *out)
{
	fault_read(r, v, &out->fault);
	rate_limit_read(r, v, &out->rate_limit);
	redirect_read(r, v, out);
	rewrite_read(r, v, out);
	mirror_read(r, v, &out->mirror);
}

json_t *mj_traffic_policy_json(struct mj_writer *w, const struct cfg_traffic_policy *tp)
{
	json_t *o = json_object(), *lb = json_object(), *pool = json_object(), *tcp = json_object(),
	       *http = json_object(), *od;

	mj_set(w, o, "loadBalancer", lb);
	if ((unsigned int)tp->lb >= 4)
		w->err = w->err ?: -EINVAL;
	else if (!w->err)
		mj_set_str(w, lb, "simple", cfg_lb_policy_names[tp->lb]);
	mj_set(w, o, "connectionPool", pool);
	mj_set(w, pool, "tcp", tcp);
	mj_set(w, pool, "http", http);
	if (w->err)
		return o;
	mj_set_uint(w, tcp, "maxConnections", tp->max_connections);
	mj_set_uint(w, http, "http1MaxPendingRequests", tp->max_pending_requests);
	mj_set_uint(w, http, "http2MaxRequests", tp->max_requests);
	mj_set_uint(w, http, "maxRetries", tp->max_retries);
	mj_set_uint(w, http, "idleTimeoutMs", tp->idle_timeout_ms);
	if (!tp->outlier)
		return o;
	mj_set(w, o, "outlierDetection", od = json_object());
	mj_set_uint(w, od, "consecutive5xxErrors", tp->consecutive_5xx);
	mj_set_uint(w, od, "consecutiveGatewayErrors", tp->consecutive_gateway);
	mj_set_uint(w, od, "intervalMs", tp->interval_ms);
	mj_set_uint(w, od, "baseEjectionTimeMs", tp->base_ejection_ms);
	mj_set_uint(w, od, "maxEjectionPercent", tp->max_ejection_percent);
	return o;
}

static void pool_read(struct mj_reader *r, json_t *v, struct cfg_traffic_policy *out)
{
	size_t mark, inner;
	json_t *pool, *o;

	if (!(pool = enter_object(r, v, "connectionPool", true, &mark)))
		return;
	if ((o = enter_object(r, pool, "tcp", true, &inner))) {
		out->max_connections = (__u32)mj_uint(r, o, "maxConnections", MAX_COUNT, true);
		mj_leave(r, inner);
	}
	if ((o = enter_object(r, pool, "http", true, &inner))) {
		out->max_pending_requests =
		    (__u32)mj_uint(r, o, "http1MaxPendingRequests", MAX_COUNT, true);
		out->max_requests = (__u32)mj_uint(r, o, "http2MaxRequests", MAX_COUNT, true);
		out->max_retries = (__u32)mj_uint(r, o, "maxRetries", MAX_COUNT, true);
		out->idle_timeout_ms = (__u32)mj_uint(r, o, "idleTimeoutMs", UINT32_MAX, true);
		mj_leave(r, inner);
	}
	mj_leave(r, mark);
}

void mj_traffic_policy_read(struct mj_reader *r, json_t *v, struct cfg_traffic_policy *out)
{
	size_t mark;
	json_t *o;

	if ((o = enter_object(r, v, "loadBalancer", true, &mark))) {
		out->lb = (enum cfg_lb_policy)mj_enum(r, o, "simple", cfg_lb_policy_names, 4);
		mj_leave(r, mark);
	}
	pool_read(r, v, out);
	if (!(o = enter_object(r, v, "outlierDetection", false, &mark)))
		return;
	out->outlier = true;
	out->consecutive_5xx = (__u32)mj_uint(r, o, "consecutive5xxErrors", MAX_COUNT, true);
	out->consecutive_gateway =
	    (__u32)mj_uint(r, o, "consecutiveGatewayErrors", MAX_COUNT, true);
	out->interval_ms = (__u32)mj_uint(r, o, "intervalMs", UINT32_MAX, true);
	out->base_ejection_ms = (__u32)mj_uint(r, o, "baseEjectionTimeMs", UINT32_MAX, true);
	out->max_ejection_percent = (__u32)mj_uint(r, o, "maxEjectionPercent", 100, true);
	if (!r->rc && !out->interval_ms)
		mj_fail_key(r, "intervalMs", "0 (at least 1)");
	if (!r->rc && !out->base_ejection_ms)
		mj_fail_key(r, "baseEjectionTimeMs", "0 (at least 1)");
	mj_leave(r, mark);
}
