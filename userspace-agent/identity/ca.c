// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "ca.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "model/names.h"

#define CA_KEY	  "ca.key"
#define CA_CERT	  "ca.crt"
#define CA_BUNDLE "bundle.pem"
#define MAX_CHAIN 8
#define CA_CN_MAX 64 /* ub-common-name */

static int fail(char *err, size_t errlen, int ret, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	unsigned long e = ERR_get_error();
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	n = strlen(err);
	if (e && n + 3 < errlen) {
		snprintf(err + n, errlen - n, " (");
		ERR_error_string_n(e, err + n + 2, errlen - n - 3);
		n = strlen(err);
		if (n + 1 < errlen)
			snprintf(err + n, errlen - n, ")");
	}
	ERR_clear_error();
	return ret;
}

int ca_spiffe_id(char *buf, size_t len, const char *trust_domain, const char *ns,
		 const char *account)
{
	int n;

	if (name_check_trust_domain(trust_domain) || name_check_dns_label(ns) ||
	    name_check_dns_subdomain(account))
		return -EINVAL;
	n = snprintf(buf, len, "spiffe://%s/ns/%s/sa/%s", trust_domain, ns, account);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* DNS subdomains need no percent-encoding in a URI path. */
int ca_node_spiffe_id(char *buf, size_t len, const char *trust_domain, const char *node)
{
	int n;

	if (name_check_trust_domain(trust_domain) || name_check_dns_subdomain(node))
		return -EINVAL;
	n = snprintf(buf, len, "spiffe://%s/node/%s", trust_domain, node);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static void path_of(char *buf, size_t len, const char *dir, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return -EINVAL;
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -EINVAL;
}

/* A certificate for KEY, signed by ISSUER_KEY (ISSUER NULL: self-signed CA). */
static X509 *make_cert(EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, const char *cn,
		       const char *uri, long not_before_s, long lifetime_s, bool ca)
{
	X509 *cert = X509_new();
	X509_NAME *name = NULL;
	BIGNUM *serial = BN_new();
	char san[SHUNT_SPIFFE_MAX + 8];

	if (!cert || !serial || !X509_set_version(cert, 2) || !BN_rand(serial, 127, 0, 0) ||
	    !BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert)))
		goto fail;
	if (!X509_gmtime_adj(X509_getm_notBefore(cert), not_before_s) ||
	    !X509_gmtime_adj(X509_getm_notAfter(cert), not_before_s + lifetime_s) ||
	    !X509_set_pubkey(cert, key))
		goto fail;
	name = X509_NAME_new();
	/* X.509 caps a common name at 64 characters (ub-common-name); the
	 * identity is the URI SAN, the CN only a label for people. */
	if (!name ||
	    !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"shunt", -1,
					-1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn,
					(int)strnlen(cn, CA_CN_MAX), -1, 0) ||
	    !X509_set_subject_name(cert, name) ||
	    !X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name))
		goto fail;
	snprintf(san, sizeof(san), "URI:%s", uri);
	if (add_ext(cert, issuer ? issuer : cert, NID_basic_constraints,
		    ca ? "critical,CA:TRUE,pathlen:0" : "critical,CA:FALSE") ||
	    add_ext(cert, issuer ? issuer : cert, NID_key_usage,
		    ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature") ||
	    (!ca && add_ext(cert, issuer, NID_ext_key_usage, "serverAuth,clientAuth")) ||
	    add_ext(cert, issuer ? issuer : cert, NID_subject_alt_name, san) ||
	    add_ext(cert, issuer ? issuer : cert, NID_subject_key_identifier, "hash") ||
	    (issuer && add_ext(cert, issuer, NID_authority_key_identifier, "keyid:always")))
		goto fail;
	if (!X509_sign(cert, issuer_key, EVP_sha256()))
		goto fail;
	X509_NAME_free(name);
	BN_free(serial);
	return cert;
fail:
	X509_NAME_free(name);
	BN_free(serial);
	X509_free(cert);
	return NULL;
}

/* Writes a private key readable by its owner only, atomically. */
static int write_key(const char *path, EVP_PKEY *key)
{
	char tmp[4200];
	FILE *f;
	int fd, ok;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return -errno;
	}
	ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	if (fclose(f) || !ok) {
		unlink(tmp);
		return -EIO;
	}
	return rename(tmp, path) ? -errno : 0;
}

/* Writes CERTS (NULL-terminated) to PATH atomically. */
static int write_certs(const char *path, X509 *const *certs)
{
	char tmp[4200];
	FILE *f;
	int ok = 1;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	for (; *certs; certs++)
		ok &= PEM_write_X509(f, *certs);
	if (fclose(f) || !ok) {
		unlink(tmp);
		return -EIO;
	}
	return rename(tmp, path) ? -errno : 0;
}

static X509 *read_cert(const char *path)
{
	FILE *f = fopen(path, "re");
	X509 *cert;

	if (!f)
		return NULL;
	cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return cert;
}

/* Every certificate of PATH into CERTS; returns how many, or -errno. */
static int read_certs(const char *path, X509 **certs, int max)
{
	FILE *f = fopen(path, "re");
	int n = 0;

	if (!f)
		return -errno;
	while (n < max && (certs[n] = PEM_read_X509(f, NULL, NULL, NULL)))
		n++;
	ERR_clear_error(); /* the end of the file reads as an error */
	fclose(f);
	return n;
}

static EVP_PKEY *read_key(const char *path)
{
	FILE *f = fopen(path, "re");
	EVP_PKEY *key;

	if (!f)
		return NULL;
	key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	return key;
}

/* The spiffe:// URI SAN of CERT; -ENOENT if it has none, -EINVAL for several. */
static int spiffe_of(X509 *cert, char *buf, size_t len)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	int i, found = 0;

	for (i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
		GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
		const unsigned char *uri;
		int ulen;

		if (gn->type != GEN_URI)
			continue;
		uri = ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier);
		ulen = ASN1_STRING_length(gn->d.uniformResourceIdentifier);
		if (ulen < 9 || memcmp(uri, "spiffe://", 9))
			continue;
		if (found++ || (size_t)ulen >= len)
			continue;
		memcpy(buf, uri, (size_t)ulen);
		buf[ulen] = 0;
	}
	GENERAL_NAMES_free(names);
	return found == 1 ? 0 : found ? -EINVAL : -ENOENT;
}

/* The trust domain a CA certificate names (spiffe://TD). */
static int trust_domain_of(X509 *ca, char *buf, size_t len)
{
	char uri[SHUNT_SPIFFE_MAX];
	const char *td;
	size_t n;
	int err = spiffe_of(ca, uri, sizeof(uri));

	if (err)
		return err;
	td = uri + 9;
	n = strcspn(td, "/");
	if (!n || n >= len)
		return -EINVAL;
	memcpy(buf, td, n);
	buf[n] = 0;
	return 0;
}

static int new_ca(const char *dir, const char *td, int days, EVP_PKEY **key_out, X509 **cert_out,
		  char *err, size_t errlen)
{
	char uri[SHUNT_SPIFFE_MAX], cn[300];
	EVP_PKEY *key;
	X509 *cert;

	(void)dir;
	key = EVP_EC_gen("P-256");
	if (!key)
		return fail(err, errlen, -ENOMEM, "cannot generate an ECDSA P-256 key");
	snprintf(uri, sizeof(uri), "spiffe://%s", td);
	snprintf(cn, sizeof(cn), "shunt mesh CA %s", td);
	cert = make_cert(key, NULL, key, cn, uri, 0, (long)days * 86400, true);
	if (!cert) {
		EVP_PKEY_free(key);
		return fail(err, errlen, -EINVAL, "cannot make the CA certificate");
	}
	*key_out = key;
	*cert_out = cert;
	return 0;
}

int ca_init(const char *dir, const char *trust_domain, int days, char *err, size_t errlen)
{
	char path[4096];
	X509 *cert = NULL, *list[2] = {NULL, NULL};
	EVP_PKEY *key = NULL;
	int ret;

	if (name_check_trust_domain(trust_domain))
		return fail(err, errlen, -EINVAL,
			    "trust domain '%s': use lowercase letters, digits, '.', '-', '_'",
			    trust_domain);
	if (days < 1 || days > 3650)
		return fail(err, errlen, -EINVAL, "CA lifetime must be 1 to 3650 days");
	path_of(path, sizeof(path), dir, CA_KEY);
	if (access(path, F_OK) == 0)
		return fail(err, errlen, -EEXIST, "%s already holds a CA (use `shunt ca rotate`)",
			    dir);
	if (mkdir(dir, 0700) && errno != EEXIST)
		return fail(err, errlen, -errno, "cannot create %s: %s", dir, strerror(errno));
	ret = new_ca(dir, trust_domain, days, &key, &cert, err, errlen);
	if (ret)
		return ret;
	list[0] = cert;
	if ((ret = write_key(path, key)))
		goto out;
	path_of(path, sizeof(path), dir, CA_CERT);
	if ((ret = write_certs(path, list)))
		goto out;
	path_of(path, sizeof(path), dir, CA_BUNDLE);
	ret = write_certs(path, list);
out:
	if (ret)
		fail(err, errlen, ret, "cannot write %s: %s", path, strerror(-ret));
	EVP_PKEY_free(key);
	X509_free(cert);
	return ret;
}

int ca_issue_mem(const char *dir, const struct ca_issue_opts *opts, struct ca_identity *out,
		 char *err, size_t errlen)
{
	char path[4096], td[SHUNT_SPIFFE_MAX];
	EVP_PKEY *ca_key = NULL, *key = NULL;
	X509 *ca = NULL, *cert = NULL;
	long lifetime = opts->lifetime_s ? opts->lifetime_s : 86400;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	path_of(path, sizeof(path), dir, CA_CERT);
	ca = read_cert(path);
	path_of(path, sizeof(path), dir, CA_KEY);
	ca_key = read_key(path);
	if (!ca || !ca_key) {
		ret = fail(err, errlen, -ENOENT, "no CA in %s (run `shunt ca init`)", dir);
		goto out;
	}
	/* Mid-rotation the files can disagree: never sign with a key the
	 * certificate does not name. */
	if (X509_check_private_key(ca, ca_key) != 1) {
		ERR_clear_error();
		ret = fail(err, errlen, -EAGAIN, "the CA key in %s does not match its certificate",
			   dir);
		goto out;
	}
	if (trust_domain_of(ca, td, sizeof(td))) {
		ret = fail(err, errlen, -EINVAL, "the CA in %s names no SPIFFE trust domain", dir);
		goto out;
	}
	if (opts->node
		? ca_node_spiffe_id(out->id, sizeof(out->id), td, opts->node)
		: ca_spiffe_id(out->id, sizeof(out->id), td, opts->ns, opts->service_account)) {
		ret = opts->node
			  ? fail(err, errlen, -EINVAL,
				 "a node name must be a DNS subdomain (got '%s')", opts->node)
			  : fail(err, errlen, -EINVAL,
				 "the namespace must be a DNS label and the service account "
				 "a DNS subdomain (got '%s', '%s')",
				 opts->ns, opts->service_account);
		goto out;
	}
	if (lifetime < 10 || lifetime > 90L * 86400) {
		ret = fail(err, errlen, -EINVAL,
			   "certificate lifetime must be 10 seconds to 90 days");
		goto out;
	}
	key = EVP_EC_gen("P-256");
	if (!key) {
		ret = fail(err, errlen, -ENOMEM, "cannot generate an ECDSA P-256 key");
		goto out;
	}
	cert = make_cert(key, ca, ca_key, out->id, out->id, opts->not_before_s, lifetime, false);
	if (!cert) {
		ret = fail(err, errlen, -EINVAL, "cannot make the certificate for %s", out->id);
		goto out;
	}
	out->key = key;
	out->cert = cert;
	out->ca = ca;
	out->not_after = time(NULL) + opts->not_before_s + lifetime;
	key = NULL;
	cert = NULL;
	ca = NULL;
out:
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(key);
	X509_free(ca);
	X509_free(cert);
	return ret;
}

void ca_identity_free(struct ca_identity *id)
{
	EVP_PKEY_free(id->key);
	X509_free(id->cert);
	X509_free(id->ca);
	memset(id, 0, sizeof(*id));
}

int ca_issue(const char *dir, const struct ca_issue_opts *opts, const char *out, char *err,
	     size_t errlen)
{
	struct ca_identity id;
	X509 *list[3] = {NULL, NULL, NULL};
	char path[4096];
	int ret;

	ret = ca_issue_mem(dir, opts, &id, err, errlen);
	if (ret)
		return ret;
	snprintf(path, sizeof(path), "%s.key", out);
	ret = write_key(path, id.key);
	if (!ret) {
		list[0] = id.cert;
		list[1] = id.ca;
		snprintf(path, sizeof(path), "%s.crt", out);
		ret = write_certs(path, list);
	}
	if (ret)
		fail(err, errlen, ret, "cannot write %s: %s", path, strerror(-ret));
	ca_identity_free(&id);
	return ret;
}

int ca_rotate(const char *dir, int days, char *err, size_t errlen)
{
	char path[4096], td[SHUNT_SPIFFE_MAX];
	X509 *old[MAX_CHAIN] = {NULL}, *list[MAX_CHAIN + 2] = {NULL}, *cert = NULL;
	EVP_PKEY *key = NULL;
	int nold, i, n = 0, ret;

	path_of(path, sizeof(path), dir, CA_BUNDLE);
	nold = read_certs(path, old, MAX_CHAIN);
	if (nold <= 0)
		return fail(err, errlen, -ENOENT, "no CA bundle in %s (run `shunt ca init`)", dir);
	if (trust_domain_of(old[0], td, sizeof(td))) {
		ret = fail(err, errlen, -EINVAL, "the CA in %s names no SPIFFE trust domain", dir);
		goto out;
	}
	ret = new_ca(dir, td, days, &key, &cert, err, errlen);
	if (ret)
		goto out;
	/* The new CA first, then every old one that has not expired. */
	list[n++] = cert;
	for (i = 0; i < nold; i++)
		if (X509_cmp_current_time(X509_get0_notAfter(old[i])) > 0 && n < MAX_CHAIN)
			list[n++] = old[i];
	/* Bundle first: peers must trust the new CA before anything uses it. */
	if ((ret = write_certs(path, list)))
		goto werr;
	path_of(path, sizeof(path), dir, CA_KEY);
	if ((ret = write_key(path, key)))
		goto werr;
	list[1] = NULL;
	path_of(path, sizeof(path), dir, CA_CERT);
	if ((ret = write_certs(path, list)))
		goto werr;
	goto out;
werr:
	fail(err, errlen, ret, "cannot write %s: %s", path, strerror(-ret));
out:
	for (i = 0; i < nold; i++)
		X509_free(old[i]);
	X509_free(cert);
	EVP_PKEY_free(key);
	return ret;
}

int ca_verify(const char *dir, const char *cert_pem, time_t now, char *spiffe_id, size_t idlen,
	      time_t *not_after, char *err, size_t errlen)
{
	X509 *bundle[MAX_CHAIN] = {NULL}, *chain[MAX_CHAIN] = {NULL};
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	char path[4096], td[SHUNT_SPIFFE_MAX];
	int nb, nc = 0, i, ret = 0, code;

	path_of(path, sizeof(path), dir, CA_BUNDLE);
	nb = read_certs(path, bundle, MAX_CHAIN);
	if (!untrusted || !store || !ctx) {
		ret = fail(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	if (nb <= 0) {
		ret = fail(err, errlen, -ENOENT, "no CA bundle in %s", dir);
		goto out;
	}
	nc = read_certs(cert_pem, chain, MAX_CHAIN);
	if (nc <= 0) {
		ret = fail(err, errlen, -ENOENT, "%s holds no certificate", cert_pem);
		goto out;
	}
	for (i = 0; i < nb; i++)
		X509_STORE_add_cert(store, bundle[i]);
	for (i = 1; i < nc; i++)
		sk_X509_push(untrusted, chain[i]);
	if (!X509_STORE_CTX_init(ctx, store, chain[0], untrusted)) {
		ret = fail(err, errlen, -ENOMEM, "cannot set up verification");
		goto out;
	}
	if (now)
		X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), now);
	if (X509_verify_cert(ctx) != 1) {
		code = X509_STORE_CTX_get_error(ctx);
		ret = fail(err, errlen, -EACCES, "certificate rejected: %s",
			   code == X509_V_ERR_CERT_HAS_EXPIRED	   ? "expired"
			   : code == X509_V_ERR_CERT_NOT_YET_VALID ? "not yet valid"
			   : code == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
				   code == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
				   code == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN
			       ? "signed by a CA outside the bundle"
			       : X509_verify_cert_error_string(code));
		goto out;
	}
	if (spiffe_of(chain[0], spiffe_id, idlen)) {
		ret = fail(err, errlen, -EACCES,
			   "certificate rejected: no single spiffe:// URI SAN identity");
		goto out;
	}
	/* The identity must be in the trust domain of the CA that signed it. */
	if (trust_domain_of(bundle[0], td, sizeof(td)) || strncmp(spiffe_id + 9, td, strlen(td)) ||
	    spiffe_id[9 + strlen(td)] != '/') {
		ret = fail(err, errlen, -EACCES,
			   "certificate rejected: %s is outside trust domain %s", spiffe_id, td);
		goto out;
	}
	if (not_after) {
		struct tm tm;

		ASN1_TIME_to_tm(X509_get0_notAfter(chain[0]), &tm);
		*not_after = timegm(&tm);
	}
out:
	for (i = 0; i < nb; i++)
		X509_free(bundle[i]);
	for (i = 0; i < nc; i++)
		X509_free(chain[i]);
	sk_X509_free(untrusted);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return ret;
}
