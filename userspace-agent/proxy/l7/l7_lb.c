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
static void *lookup_or_add(struct keymap *map, void ***list, size_t *n, const char *key,
			   size_t size)
{
	void **grown, *obj;
	size_t idx;

	if (keymap_get(map, key, strlen(key), &idx))
		return (*list)[idx];
	obj = calloc(1, size);
	grown = obj ? realloc(*list, (*n + 1) * sizeof(void *)) : NULL;
	if (!grown || keymap_put(map, key, strlen(key), *n, NULL)) {
		free(obj);
		if (grown)
			*list = grown;
		return NULL;
	}
	*list = grown;
	(*list)[(*n)++] = obj;
	return obj;
}

struct l7_endpoint *l7_endpoint_stats(struct l7_loop *l, const __u8 addr[16], __u16 port)
{
	char key[80];
	struct l7_endpoint *e;

	shunt_endpoint_format(addr, port, key, sizeof(key));
	e = lookup_or_add(&l->endpoints, (void ***)&l->endpoint_list, &l->nendpoints, key,
			  sizeof(*e));
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
	char key[SHUNT_NAME_MAX + 96], ep[80];

	/* Connections carry the client's identity to the endpoint: one pool
	 * per client workload and endpoint. */
	shunt_endpoint_format(e->addr, e->port, ep, sizeof(ep));
	snprintf(key, sizeof(key), "%s|%s", src, ep);
	return lookup_or_add(&l->pools, (void ***)&l->pool_list, &l->npools, key,
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

const struct l7_ep_ref *l7_pick_endpoint(struct l7_loop *l, const struct l7_backend *b)
{
	const struct l7_ep_ref *x, *y;
	uint64_t now;
	size_t i, j;

	if (!b->neps)
		return NULL;
	if (b->neps == 1)
		return &b->eps[0];
	i = l7_random(l) % b->neps;
	j = l7_random(l) % (b->neps - 1);
	if (j >= i)
		j++;
	x = &b->eps[i];
	y = &b->eps[j];
	now = timer_now_ms();
	return cost(x->stats, now) <= cost(y->stats, now) ? x : y;
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
