// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The outcome table: one row per outcome, labels that name exactly one. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <linux/types.h>
#include <cmocka.h>

#include "common/outcome.h"
#include "mesh_shared.h"

/* Every outcome has a row, and its label leads back to it (what the
 * shunt-outcome header between proxies relies on). */
static void test_every_label_names_its_outcome(void **state)
{
	enum shunt_outcome back;
	int o, p;

	(void)state;
	for (o = 0; o < SHUNT_OUT_MAX; o++) {
		const char *label = shunt_outcome_label(o);

		assert_non_null(shunt_outcome(o)->text);
		assert_true(shunt_outcome_from_label(label, strlen(label), &back));
		assert_int_equal(back, o);
		for (p = 0; p < o; p++)
			assert_string_not_equal(label, shunt_outcome_label(p));
	}
	assert_false(shunt_outcome_from_label("closedx", 7, &back));
	assert_false(shunt_outcome_from_label("close", 5, &back));
}

/* Inbound refusals answer with an error status; handshake failures and
 * refusals have a metric reason, and handshake failures are denials. */
static void test_refusals_have_a_status_and_a_reason(void **state)
{
	int o;

	(void)state;
	for (o = SHUNT_OUT_BAD_REQUEST; o <= SHUNT_OUT_UPSTREAM_REFUSED; o++)
		assert_in_range(shunt_outcome(o)->http_status, 400, 599);
	for (o = 0; o < SHUNT_OUT_MAX; o++) {
		if (shunt_outcome_is(o, SHUNT_OF_REFUSAL | SHUNT_OF_HANDSHAKE))
			assert_non_null(shunt_outcome(o)->metric);
		if (shunt_outcome_is(o, SHUNT_OF_HANDSHAKE))
			assert_true(shunt_outcome_is(o, SHUNT_OF_DENY));
	}
	assert_int_equal(shunt_outcome(SHUNT_OUT_ALLOWED)->http_status, 200);
	assert_int_equal(shunt_outcome(SHUNT_OUT_POLICY_DENIED)->http_status, 403);
}

static void test_datapath_verdicts_map_onto_outcomes(void **state)
{
	(void)state;
	assert_int_equal(shunt_outcome_of_verdict(SHUNT_VERDICT_ALLOW), SHUNT_OUT_ALLOWED);
	assert_int_equal(shunt_outcome_of_verdict(SHUNT_VERDICT_DENY), SHUNT_OUT_POLICY_DENIED);
	assert_int_equal(shunt_outcome_of_verdict(SHUNT_VERDICT_NO_BACKEND), SHUNT_OUT_NO_BACKEND);
}

/* The reasons a metric is rendered with: each once, in table order. */
static void test_metric_reasons_are_listed_once(void **state)
{
	const char *reasons[SHUNT_OUT_MAX];
	size_t n = shunt_outcome_metrics(SHUNT_OF_HANDSHAKE, reasons, SHUNT_OUT_MAX), i, j;

	(void)state;
	assert_int_equal(n, 6);
	assert_string_equal(reasons[0], "not_tls");
	assert_string_equal(reasons[5], "other");
	n = shunt_outcome_metrics(SHUNT_OF_REFUSAL, reasons, SHUNT_OUT_MAX);
	for (i = 0; i < n; i++)
		for (j = 0; j < i; j++)
			assert_string_not_equal(reasons[i], reasons[j]);
	assert_int_equal(shunt_outcome_metrics(SHUNT_OF_REFUSAL, reasons, 2), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_label_names_its_outcome),
	    cmocka_unit_test(test_refusals_have_a_status_and_a_reason),
	    cmocka_unit_test(test_datapath_verdicts_map_onto_outcomes),
	    cmocka_unit_test(test_metric_reasons_are_listed_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
