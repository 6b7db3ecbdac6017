// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Load balancing per request: a backend service by weight, then an
 * endpoint by power of two choices over peak-EWMA latency times the
 * requests it has pending (Linkerd's balancer). Also the per-loop state
 * that outlives views: endpoint statistics, connection pools and retry
 * budgets, each in a keymap.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"
#include "l7_impl.h"

/* Index KEY in MAP, or a new zeroed object of SIZE appended to *LIST. */
/* KLEN bytes of KEY (may be binary). */
static void *lookup_or_add_n(struct keymap *map, void ***list, size_t *n, const char *key,
			     size_t klen, size_t size)
{
	void **grown, *obj;
	size_t idx;

	if (keymap_get(map, key, klen, &idx))
		return (*list)[idx];
	obj = calloc(1, size);
	grown = obj ? realloc(*list, (*n + 1) * sizeof(void *)) : NULL;
	if (!grown || keymap_put(map, key, klen, *n, NULL)) {
		free(obj);
		if (grown)
			*list = grown;
		return NULL;
	}
	*list = grown;
	(*list)[(*n)++] = obj;
	return obj;
}

static void *lookup_or_add(struct keymap *map, void ***list, size_t *n, const char *key,
			   size_t size)
{
	return lookup_or_add_n(map, list, n, key, strlen(key), size);
}

/* An endpoint as a key, binary: its address and port (no text made per
 * request). Returns the length. */
static size_t endpoint_key(char *key, const __u8 addr[16], __u16 port)
{
	memcpy(key, addr, 16);
	memcpy(key + 16, &port, sizeof(port));
	return 16 + sizeof(port);
}

struct l7_endpoint *l7_endpoint_stats(struct l7_loop *l, const __u8 addr[16], __u16 port)
{
	char key[18];
	struct l7_endpoint *e;

	e = lookup_or_add_n(&l->endpoints, (void ***)&l->endpoint_list, &l->nendpoints, key,
			    endpoint_key(key, addr, port), sizeof(*e));
	if (e && !e->port) {
		memcpy(e->addr, addr, 16);
		e->port = port;
		e->ewma_us = L7_EWMA_DEFAULT_US;
		e->stamp_ms = timer_now_ms();
	}
	return e;
}

struct l7_pool *l7_pool_for(struct l7_loop *l, const char *src, const struct l7_ep_ref *e)
{
	char key[SHUNT_NAME_MAX + 24];
	size_t n = strnlen(src, SHUNT_NAME_MAX);

	/* Connections carry the client's identity to the endpoint: one pool
	 * per client workload and endpoint. */
	memcpy(key, src, n);
	key[n++] = '|';
	n += endpoint_key(key + n, e->addr, e->port);
	return lookup_or_add_n(&l->pools, (void ***)&l->pool_list, &l->npools, key, n,
			       sizeof(struct l7_pool));
}

const struct l7_backend *l7_pick_backend(struct l7_loop *l, const struct l7_rule *rule)
{
	__u32 r;
	size_t i;

	if (!rule->total_weight)
		return NULL;
	r = l7_random(l) % rule->total_weight;
	for (i = 0; i < rule->nbackends; i++) {
		if (r < rule->backends[i].weight)
			return &rule->backends[i];
		r -= rule->backends[i].weight;
	}
	return NULL;
}

/* The EWMA decays towards nothing while an endpoint is not answering. */
static double cost(const struct l7_endpoint *e, uint64_t now)
{
	double age = (double)(now > e->stamp_ms ? now - e->stamp_ms : 0);
	double ewma = e->ewma_us * exp(-age / L7_EWMA_DECAY_MS);

	if (ewma < 1)
		ewma = 1;
	return ewma * (e->pending + 1);
}

static void on_wake(struct timer *t, void *ctx)
{
	(void)t;
	l7_cluster_wake(ctx);
}

struct l7_cluster *l7_cluster_for(struct l7_loop *l, const struct cfg_service *svc, __u16 port)
{
	char key[SHUNT_NAME_MAX + 16];

	snprintf(key, sizeof(key), "%s/%s:%u", svc->ns, svc->name, port);
	return l7_cluster_keyed(l, key);
}

struct l7_cluster *l7_cluster_keyed(struct l7_loop *l, const char *key)
{
	struct l7_cluster *c;

	c = lookup_or_add(&l->clusters, (void ***)&l->cluster_list, &l->nclusters, key,
			  sizeof(struct l7_cluster));
	if (c && !c->wake.fn)
		timer_init(&c->wake, on_wake, c);
	return c;
}

void l7_cluster_freed(struct l7_loop *l, struct l7_cluster *c)
{
	if (c && c->pending && !timer_armed(&c->wake))
		timer_arm(&l->wheel, &c->wake, 0);
}

static bool ejected(const struct l7_endpoint *e, uint64_t now)
{
	return e->ejected_until_ms > now;
}

/* Out of rotation: ejected by outlier detection, or its last connects
 * failed and it waits out a backoff (as Linkerd's balancer leaves out an
 * endpoint it cannot connect to), so a refusing endpoint, quick to fail,
 * does not look like the fastest one to P2C. */
static bool out_of_rotation(const struct l7_endpoint *e, uint64_t now)
{
	return ejected(e, now) || e->unreachable_until_ms > now;
}

void l7_endpoint_unreachable(struct l7_endpoint *e)
{
	uint64_t backoff = L7_UNREACHABLE_MIN_MS
			   << (e->connect_failures < 7 ? e->connect_failures : 7);

	if (backoff > L7_UNREACHABLE_MAX_MS)
		backoff = L7_UNREACHABLE_MAX_MS;
	e->connect_failures++;
	e->unreachable_until_ms = timer_now_ms() + backoff;
}

/* The I-th endpoint of B in rotation (all of them when none is: better a
 * likely failure than a certain one). */
static const struct l7_ep_ref *nth_usable(const struct l7_backend *b, size_t i, size_t usable,
					  uint64_t now)
{
	size_t k;

	if (usable == b->neps)
		return &b->eps[i];
	for (k = 0; k < b->neps; k++)
		if (!out_of_rotation(b->eps[k].stats, now) && i-- == 0)
			return &b->eps[k];
	return &b->eps[0];
}

const struct l7_ep_ref *l7_pick_endpoint(struct l7_loop *l, const struct l7_backend *b)
{
	enum cfg_lb_policy lb = b->tp ? b->tp->lb : CFG_LB_PEAK_EWMA;
	const struct l7_ep_ref *x, *y;
	uint64_t now = timer_now_ms();
	size_t i, j, usable = 0;

	for (i = 0; i < b->neps; i++)
		usable += !out_of_rotation(b->eps[i].stats, now);
	if (!usable)
		usable = b->neps;
	if (!usable)
		return NULL;
	if (lb == CFG_LB_ROUND_ROBIN)
		return nth_usable(b, b->cluster->rr++ % usable, usable, now);
	i = l7_random(l) % usable;
	if (usable == 1 || lb == CFG_LB_RANDOM)
		return nth_usable(b, i, usable, now);
	j = l7_random(l) % (usable - 1);
	if (j >= i)
		j++;
	x = nth_usable(b, i, usable, now);
	y = nth_usable(b, j, usable, now);
	if (lb == CFG_LB_LEAST_REQUEST) /* Envoy's: the fewer active requests of two */
		return x->stats->pending <= y->stats->pending ? x : y;
	return cost(x->stats, now) <= cost(y->stats, now) ? x : y;
}

/* Ejects E if B's policy lets one more of its endpoints out; each ejection
 * of the same endpoint lasts longer (base x times, up to 10). */
static void eject(const struct l7_backend *b, struct l7_endpoint *e, uint64_t now)
{
	const struct cfg_traffic_policy *tp = b->tp;
	size_t i, out = 0, max;

	for (i = 0; i < b->neps; i++)
		out += ejected(b->eps[i].stats, now);
	max = b->neps * tp->max_ejection_percent / 100;
	if (out >= (max ? max : 1)) /* at least one may go, as in Envoy */
		return;
	if (e->ejections < 10)
		e->ejections++;
	e->ejected_until_ms = now + (uint64_t)tp->base_ejection_ms * e->ejections;
	e->c5xx = e->cgateway = 0;
	atomic_fetch_add(&l7_stats.ejections, 1);
}

void l7_endpoint_result(const struct l7_backend *b, struct l7_endpoint *e, int status)
{
	const struct cfg_traffic_policy *tp = b ? b->tp : NULL;
	bool gateway = status == 0 || status == 502 || status == 503 || status == 504;
	uint64_t now = timer_now_ms();

	if (status >= 500 || status == 0) {
		e->c5xx++;
		e->cgateway += gateway;
	} else {
		e->c5xx = e->cgateway = 0;
	}
	if (status) /* it answered: reachable */
		e->connect_failures = 0, e->unreachable_until_ms = 0;
	if (status && status < 500)
		return;
	if (!tp || !tp->outlier || ejected(e, now))
		return;
	if ((tp->consecutive_5xx && e->c5xx >= tp->consecutive_5xx) ||
	    (tp->consecutive_gateway && e->cgateway >= tp->consecutive_gateway))
		eject(b, e, now);
}

bool l7_rate_take(struct l7_loop *l, const struct l7_rule *rule, unsigned int *retry_s)
{
	const struct cfg_http_rate_limit *rl = &rule->r->rate_limit;
	double per_ms = (double)rl->requests / rl->unit_ms,
	       cap = rl->burst ? rl->burst : rl->requests;
	char key[SHUNT_NAME_MAX + 32];
	struct l7_budget *b;
	uint64_t now = timer_now_ms();

	/* by route and rule index: a bucket outlives config changes */
	snprintf(key, sizeof(key), "rl|%s/%s|%zu", rule->route->ns, rule->route->name,
		 (size_t)(rule->r - rule->route->rules));
	b = lookup_or_add(&l->budgets, (void ***)&l->budget_list, &l->nbudgets, key, sizeof(*b));
	if (!b)
		return true; /* out of memory: do not refuse for it */
	if (!b->stamp_ms) {
		b->stamp_ms = now;
		b->tokens = cap;
	}
	b->tokens += (double)(now - b->stamp_ms) * per_ms;
	if (b->tokens > cap)
		b->tokens = cap;
	b->stamp_ms = now;
	if (b->tokens >= 1) {
		b->tokens -= 1;
		return true;
	}
	*retry_s = (unsigned int)((1 - b->tokens) / per_ms / 1000) + 1;
	return false;
}

/* Peak-EWMA: a slower answer counts at once, a faster one decays in. */
void l7_endpoint_observe(struct l7_endpoint *e, uint64_t rtt_us)
{
	uint64_t now = timer_now_ms();
	double w = exp(-(double)(now - e->stamp_ms) / L7_EWMA_DECAY_MS);

	if ((double)rtt_us > e->ewma_us)
		e->ewma_us = (double)rtt_us;
	else
		e->ewma_us = e->ewma_us * w + (double)rtt_us * (1 - w);
	e->stamp_ms = now;
}

/*
 * The retry budget of RULE's route: each request deposits L7_BUDGET_RATIO
 * of a retry, and L7_BUDGET_MIN_PER_S retries a second come anyway; a retry
 * withdraws one. So under a full outage retries stay near 20% of requests
 * plus 10 a second, instead of multiplying the load by the attempts.
 */
bool l7_budget_deposit_or_withdraw(struct l7_loop *l, const struct l7_rule *rule, bool withdraw)
{
	char key[SHUNT_NAME_MAX + 8];
	struct l7_budget *b;
	uint64_t now = timer_now_ms();

	snprintf(key, sizeof(key), "%s/%s", rule->route ? rule->route->ns : "",
		 rule->route ? rule->route->name : "");
	b = lookup_or_add(&l->budgets, (void ***)&l->budget_list, &l->nbudgets, key, sizeof(*b));
	if (!b)
		return false;
	if (!b->stamp_ms) {
		b->stamp_ms = now;
		b->tokens = L7_BUDGET_MIN_PER_S;
	}
	b->tokens += (double)(now - b->stamp_ms) / 1000.0 * L7_BUDGET_MIN_PER_S;
	b->stamp_ms = now;
	if (!withdraw)
		b->tokens += L7_BUDGET_RATIO;
	if (b->tokens > L7_BUDGET_CAP)
		b->tokens = L7_BUDGET_CAP;
	if (!withdraw)
		return true;
	if (b->tokens < 1)
		return false;
	b->tokens -= 1;
	return true;
}
