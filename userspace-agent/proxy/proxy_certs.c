// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Certificates, issued ahead on a thread of their own: the node proxy's and
 * one per service account of this node's workloads, each again when a third
 * of its lifetime is left, and all of them after `shunt ca rotate`. Key
 * generation and reading the CA key happen here, never on a worker and
 * under no lock a worker takes: each round publishes a new tls_snap, and
 * workers pick it up between batches of events. Open connections keep the
 * certificate they started with.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/x509.h>

#include "common/log.h"
#include "proxy_impl.h"
#include "proxy_stats.h"

/* A node and a namespace never share a key: '|' is in no name. */
void proxy_identity_key(char *buf, size_t len, const char *ns, const char *sa)
{
	snprintf(buf, len, "%s%s%s", ns ? ns : "", ns ? "/" : "|node|", sa);
}

const struct cert_pair *tls_pair(const struct tls_snap *t, const char *key)
{
	size_t idx;

	return t && keymap_get(&t->by_identity, key, strlen(key), &idx) ? &t->pairs[idx] : NULL;
}

static void tls_destroy(struct snap *s)
{
	struct tls_snap *t = (struct tls_snap *)s;
	size_t i;

	for (i = 0; i < t->npairs; i++) {
		X509_free(t->pairs[i].cert);
		EVP_PKEY_free(t->pairs[i].key);
	}
	free(t->pairs);
	keymap_free(&t->by_identity);
	SSL_CTX_free(t->server);
	SSL_CTX_free(t->client);
	free(t);
}

/* One round's work: the snapshot being built and what the last one had. */
struct certs_round {
	const struct tls_snap *prev;	 /* certificates to keep (none after a new CA) */
	const struct tls_snap *fallback; /* what an identity keeps if issuing fails */
	struct tls_snap *next;
	size_t cap;
	bool changed;
};

static int round_add(struct certs_round *r, const char *key, struct cert_pair p)
{
	if (r->next->npairs == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		struct cert_pair *n = realloc(r->next->pairs, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		r->next->pairs = n;
		r->cap = cap;
	}
	if (keymap_put(&r->next->by_identity, key, strlen(key), r->next->npairs, NULL))
		return -ENOMEM;
	r->next->pairs[r->next->npairs++] = p;
	return 0;
}

/* The identity NS/SA (NS NULL: this node's proxy SA) into the round: the
 * previous certificate while it has more than a third of its life left. */
static int round_identity(struct certs_round *r, const char *ns, const char *sa, time_t now)
{
	struct ca_issue_opts o = {.ns = ns,
				  .service_account = ns ? sa : NULL,
				  .node = ns ? NULL : sa,
				  .lifetime_s = px.cert_lifetime};
	char key[SHUNT_NAME_MAX + 8], err[512];
	const struct cert_pair *old;
	struct ca_identity id;
	struct cert_pair p;

	proxy_identity_key(key, sizeof(key), ns, sa);
	if (tls_pair(r->next, key))
		return 0; /* several workloads of one service account */
	old = tls_pair(r->prev, key);
	if (old && old->not_after - now >= px.cert_lifetime / 3) {
		X509_up_ref(old->cert);
		EVP_PKEY_up_ref(old->key);
		return round_add(r, key, *old);
	}
	if (ca_issue_mem(px.ca_dir, &o, &id, err, sizeof(err))) {
		/* One identity must not hold up the others: it keeps the
		 * certificate it has (if any) and is tried again next round. */
		pr_err("cannot issue a certificate for %s: %s", key, err);
		if (!(old = tls_pair(r->fallback, key)))
			return 0;
		X509_up_ref(old->cert);
		EVP_PKEY_up_ref(old->key);
		return round_add(r, key, *old);
	}
	p = (struct cert_pair){
	    .cert = id.cert, .key = id.key, .not_after = id.not_after, .issued = now};
	id.cert = NULL;
	id.key = NULL;
	shunt_log_fields(SHUNT_LOG_INFO,
			 (struct shunt_log_field[]){LOG_STR("event", "certificate_issued"),
						    LOG_STR("identity", id.id),
						    LOG_NUM("not_after", id.not_after)},
			 3, "issued %s, valid until %ld", id.id, (long)id.not_after);
	ca_identity_free(&id);
	atomic_fetch_add(&proxy_stats.certificates_issued, 1);
	r->changed = true;
	if (round_add(r, key, p)) {
		X509_free(p.cert);
		EVP_PKEY_free(p.key);
		return -ENOMEM;
	}
	return 0;
}

/* Every identity this node speaks as, by the model M. */
static int round_identities(struct certs_round *r, const struct model_snap *m)
{
	time_t now = time(NULL);
	size_t i;
	int err = round_identity(r, NULL, m->me->name, now);

	for (i = 0; !err && i < m->cfg.nworkloads; i++) {
		const struct cfg_workload *wl = &m->cfg.workloads[i];

		if (!strcmp(wl->node, m->me->name))
			err = round_identity(r, wl->ns, wl->service_account, now);
	}
	if (!err && r->prev && r->prev->npairs != r->next->npairs)
		r->changed = true; /* an identity went away */
	return err;
}

/* A new snapshot if anything changed (NEW_CA: the CA did), else nothing. */
static int certs_round(bool new_ca)
{
	struct tls_snap *prev = (struct tls_snap *)snap_get(&px.tls_slot);
	struct model_snap *m = (struct model_snap *)snap_get(&px.model_slot);
	struct certs_round r = {.prev = new_ca ? NULL : prev, .fallback = prev};
	int err = -ENOMEM;

	if (!m)
		goto out;
	r.next = calloc(1, sizeof(*r.next));
	if (!r.next)
		goto out;
	snap_init(&r.next->base, tls_destroy);
	if (new_ca || !prev) {
		err = proxy_tls_ctxs(&r.next->server, &r.next->client);
		if (err)
			goto out;
		r.next->ca_gen = prev ? prev->ca_gen + 1 : 0;
		r.changed = true;
	} else {
		SSL_CTX_up_ref(r.next->server = prev->server);
		SSL_CTX_up_ref(r.next->client = prev->client);
		r.next->ca_gen = prev->ca_gen;
	}
	if ((err = round_identities(&r, m)))
		goto out;
	if (r.changed) {
		snap_publish(&px.tls_slot, &r.next->base);
		r.next = NULL;
	}
out:
	if (r.next)
		snap_put(&r.next->base);
	snap_put((struct snap *)m);
	snap_put((struct snap *)prev);
	return err;
}

static long long ca_mtime(void)
{
	static const char *const files[] = {"bundle.pem", "ca.crt", "ca.key"};
	char path[PATH_MAX];
	struct stat st;
	long long sum = 0;
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", px.ca_dir, files[i]);
		if (!stat(path, &st))
			sum += st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
	}
	return sum;
}

/*
 * After `shunt ca rotate` (the bundle or the CA changed): new contexts, and
 * new certificates from the new CA for every identity. The bundle still
 * holds the old CA, so peers that have not reloaded yet keep verifying both.
 */
/* The CA files as the first round found them (taken before it). */
static long long ca_seen_at_start;

static void *certs_main(void *arg)
{
	unsigned long serial = atomic_load(&px.model_slot.serial);
	long long seen = ca_seen_at_start, now;

	(void)arg;
	while (!atomic_load(&px.stopping)) {
		/* A new model may bring new identities: issue right away. */
		serial = snap_wait(&px.model_slot, serial, 1000);
		now = ca_mtime();
		if (now == seen) {
			certs_round(false);
			continue;
		}
		if (certs_round(true)) {
			/* Tried again next second, until the new CA can be used. */
			pr_err("the CA in %s changed but cannot be used; keeping the previous one",
			       px.ca_dir);
			continue;
		}
		seen = now;
		atomic_fetch_add(&proxy_stats.ca_reloads, 1);
		shunt_log_fields(
		    SHUNT_LOG_INFO, (struct shunt_log_field[]){LOG_STR("event", "ca_reloaded")}, 1,
		    "the CA in %s changed: new trust bundle and certificates in use", px.ca_dir);
	}
	return NULL;
}

/* The first certificates, before any worker needs one; then the thread. */
int proxy_certs_start(void)
{
	pthread_t t;
	int err;

	ca_seen_at_start = ca_mtime();
	err = certs_round(true);

	if (err)
		return err;
	if ((err = pthread_create(&t, NULL, certs_main, NULL)))
		return -err;
	pthread_detach(t);
	return 0;
}
