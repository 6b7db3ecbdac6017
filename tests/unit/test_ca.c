// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The mesh CA: SPIFFE identities, and every reason a certificate is refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "identity/ca.h"

static char root[64];

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/shunt-ca-test.XXXXXX");
	return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd);
}

static void path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", root, name);
}

static void issue(const char *ca, const char *out, long not_before, long lifetime)
{
	struct ca_issue_opts o = {.ns = "prod",
				  .service_account = "web",
				  .not_before_s = not_before,
				  .lifetime_s = lifetime};
	char err[512], dir[128], prefix[128];

	path(dir, sizeof(dir), ca);
	path(prefix, sizeof(prefix), out);
	assert_int_equal(ca_issue(dir, &o, prefix, err, sizeof(err)), 0);
}

/* Verifies OUT.crt against CA; returns 0 or the error text in ERR. */
static int verify(const char *ca, const char *out, char *id, char *err)
{
	char dir[128], crt[128];

	path(dir, sizeof(dir), ca);
	snprintf(crt, sizeof(crt), "%s/%s.crt", root, out);
	return ca_verify(dir, crt, 0, id, SHUNT_SPIFFE_MAX, NULL, err, 512);
}

static void issued_certificate_carries_the_spiffe_id(void **state)
{
	char dir[128], key[160], id[SHUNT_SPIFFE_MAX], err[512];
	struct stat st;

	(void)state;
	path(dir, sizeof(dir), "ca");
	assert_int_equal(ca_init(dir, "mesh.local", 30, err, sizeof(err)), 0);
	/* The CA key is for its owner only. */
	snprintf(key, sizeof(key), "%s/ca.key", dir);
	assert_int_equal(stat(key, &st), 0);
	assert_int_equal(st.st_mode & 077, 0);
	assert_int_equal(ca_init(dir, "mesh.local", 30, err, sizeof(err)), -EEXIST);
	issue("ca", "web", 0, 3600);
	assert_int_equal(verify("ca", "web", id, err), 0);
	assert_string_equal(id, "spiffe://mesh.local/ns/prod/sa/web");
}

static void certificate_of_another_ca_is_refused(void **state)
{
	char dir[128], id[SHUNT_SPIFFE_MAX], err[512];

	(void)state;
	path(dir, sizeof(dir), "other");
	assert_int_equal(ca_init(dir, "mesh.local", 30, err, sizeof(err)), 0);
	issue("other", "intruder", 0, 3600);
	assert_int_equal(verify("ca", "intruder", id, err), -EACCES);
	assert_non_null(strstr(err, "signed by a CA outside the bundle"));
}

static void expired_and_future_certificates_are_refused(void **state)
{
	char id[SHUNT_SPIFFE_MAX], err[512];

	(void)state;
	issue("ca", "old", -7200, 3600);
	assert_int_equal(verify("ca", "old", id, err), -EACCES);
	assert_non_null(strstr(err, "expired"));
	issue("ca", "future", 3600, 3600);
	assert_int_equal(verify("ca", "future", id, err), -EACCES);
	assert_non_null(strstr(err, "not yet valid"));
}

/* After a rotation, certificates of the old CA keep verifying; new ones too. */
static void rotation_keeps_old_certificates_valid(void **state)
{
	char dir[128], id[SHUNT_SPIFFE_MAX], err[512];

	(void)state;
	path(dir, sizeof(dir), "ca");
	issue("ca", "before", 0, 3600);
	assert_int_equal(ca_rotate(dir, 30, err, sizeof(err)), 0);
	issue("ca", "after", 0, 3600);
	assert_int_equal(verify("ca", "before", id, err), 0);
	assert_int_equal(verify("ca", "after", id, err), 0);
}

static void bad_names_are_refused(void **state)
{
	struct ca_issue_opts o = {.ns = "Prod", .service_account = "web"};
	char dir[128], prefix[128], err[512], id[SHUNT_SPIFFE_MAX];

	(void)state;
	path(dir, sizeof(dir), "ca");
	path(prefix, sizeof(prefix), "bad");
	assert_int_equal(ca_issue(dir, &o, prefix, err, sizeof(err)), -EINVAL);
	assert_int_equal(ca_spiffe_id(id, sizeof(id), "Mesh", "prod", "web"), -EINVAL);
	path(dir, sizeof(dir), "bad-td");
	assert_int_equal(ca_init(dir, "no spaces", 30, err, sizeof(err)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(issued_certificate_carries_the_spiffe_id),
	    cmocka_unit_test(certificate_of_another_ca_is_refused),
	    cmocka_unit_test(expired_and_future_certificates_are_refused),
	    cmocka_unit_test(rotation_keeps_old_certificates_valid),
	    cmocka_unit_test(bad_names_are_refused),
	};

	return cmocka_run_group_tests_name("ca", tests, setup, teardown);
}
