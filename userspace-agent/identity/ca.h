/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The mesh CA: a directory with the CA key and certificate and the trust
 * bundle, and short-lived workload certificates whose identity is a SPIFFE
 * ID in the URI SAN: spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/ACCOUNT for a
 * workload, spiffe://TRUST_DOMAIN/node/NODE for a node's proxy.
 * ECDSA P-256 throughout (OpenSSL 3).
 *
 *   DIR/ca.key      the current CA key (0600)
 *   DIR/ca.crt      the current CA certificate
 *   DIR/bundle.pem  every CA certificate a peer may chain to: the current
 *                   one and, after a rotation, the previous one until it
 *                   expires, so certificates it signed keep verifying
 */
#ifndef SHUNT_CA_H
#define SHUNT_CA_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <linux/types.h>

#include "model/names.h"
#include "shunt_shared.h"

/* Trust domains as SPIFFE allows them. The longest SPIFFE ID is a
 * workload's: spiffe://TD/ns/NAMESPACE/sa/SERVICE_ACCOUNT. */
#define SHUNT_TRUST_DOMAIN_MAX NAME_TRUST_DOMAIN_MAX
#define SHUNT_SPIFFE_MAX       600
_Static_assert(SHUNT_SPIFFE_MAX >= sizeof("spiffe:///ns//sa/") + SHUNT_TRUST_DOMAIN_MAX +
				       SHUNT_DNS_LABEL_MAX + SHUNT_DNS_SUBDOMAIN_MAX,
	       "SHUNT_SPIFFE_MAX holds a workload's SPIFFE ID");
_Static_assert(SHUNT_SPIFFE_MAX >=
		   sizeof("spiffe:///node/") + SHUNT_TRUST_DOMAIN_MAX + SHUNT_DNS_SUBDOMAIN_MAX,
	       "SHUNT_SPIFFE_MAX holds a node's SPIFFE ID");

/* Either ns and service_account (a workload), or node (a node's proxy). */
struct ca_issue_opts {
	const char *ns, *service_account;
	const char *node;
	long lifetime_s;   /* default 24 h */
	long not_before_s; /* offset of notBefore from now (tests: negative or future) */
};

/* Creates DIR with a new CA for TRUST_DOMAIN valid DAYS; -EEXIST if there is one. */
int ca_init(const char *dir, const char *trust_domain, int days, char *err, size_t errlen);

/* An issued identity in memory: key, certificate, and the CA that signed it. */
struct evp_pkey_st;
struct x509_st;
struct ca_identity {
	struct evp_pkey_st *key;
	struct x509_st *cert, *ca;
	char id[SHUNT_SPIFFE_MAX];
	time_t not_after;
};

int ca_issue_mem(const char *dir, const struct ca_issue_opts *opts, struct ca_identity *out,
		 char *err, size_t errlen);
void ca_identity_free(struct ca_identity *id);

/* Writes OUT.key and OUT.crt (leaf, then the CA) for one identity. */
int ca_issue(const char *dir, const struct ca_issue_opts *opts, const char *out, char *err,
	     size_t errlen);

/* New CA key and certificate; the bundle keeps the previous CA. */
int ca_rotate(const char *dir, int days, char *err, size_t errlen);

/*
 * Verifies CERT_PEM (a leaf and its chain) against DIR/bundle.pem at time
 * NOW (0: the current time); on success fills SPIFFE_ID and NOT_AFTER.
 * ERR says why not: expired, not yet valid, unknown CA, no SPIFFE ID.
 */
int ca_verify(const char *dir, const char *cert_pem, time_t now, char *spiffe_id, size_t idlen,
	      time_t *not_after, char *err, size_t errlen);

/* The SPIFFE ID of NS/ACCOUNT in TRUST_DOMAIN into BUF: NS is a DNS
 * label, ACCOUNT a DNS subdomain, as Kubernetes has them. */
int ca_spiffe_id(char *buf, size_t len, const char *trust_domain, const char *ns,
		 const char *account);
/* The SPIFFE ID of NODE's proxy, spiffe://TRUST_DOMAIN/node/NODE: any
 * Kubernetes node name (a DNS subdomain, dots included). */
int ca_node_spiffe_id(char *buf, size_t len, const char *trust_domain, const char *node);

#endif
