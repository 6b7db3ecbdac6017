# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
# The config parser under libFuzzer (ASan + UBSan): the kept corpus replays
# clean, and a short fresh run finds nothing. `make fuzz` runs longer.

test_config_fuzz_corpus_replays_and_short_run_is_clean() {
	local fuzz=$REPO/.output/bin/shunt-fuzz-config
	[ -x "$fuzz" ] || t_fail "$fuzz is not built (make test builds it)"
	mkdir -p "$T_TMP/new"
	"$fuzz" -runs=0 "$REPO/tests/fuzz/corpus" >"$T_TMP/replay.log" 2>&1 ||
		t_fail "corpus replay failed: $(tail -5 "$T_TMP/replay.log")"
	"$fuzz" -max_total_time=6 -max_len=8192 -artifact_prefix="$T_TMP/" "$T_TMP/new" \
		"$REPO/tests/fuzz/corpus" >"$T_TMP/fuzz.log" 2>&1 ||
		t_fail "the fuzzer found a crash: $(grep -m3 -E 'ERROR|SUMMARY|artifact' "$T_TMP/fuzz.log")"
	t_log "$(grep -m1 -E '^#[0-9]+.*DONE' "$T_TMP/fuzz.log")"
}

# The L7 side's HTTP/1 front end under libFuzzer (tests/fuzz/fuzz_l7_http1.c):
# its corpus replays clean, and 30 s of fresh inputs find no crash, leak or hang.
test_fuzz_l7_http1_front_end() {
	local fuzz=$SHUNT_OUTPUT/bin/shunt-fuzz-l7
	[ -x "$fuzz" ] || t_fail "$fuzz is not built (make test builds it)"
	mkdir -p "$T_TMP/new-l7"
	"$fuzz" -runs=0 "$REPO/tests/fuzz/corpus-l7" >"$T_TMP/replay-l7.log" 2>&1 ||
		t_fail "L7 corpus replay failed: $(grep -m3 -E 'ERROR|runtime error|SUMMARY' "$T_TMP/replay-l7.log")"
	"$fuzz" -max_total_time=6 -max_len=8192 -timeout=10 -artifact_prefix="$T_TMP/" \
		"$T_TMP/new-l7" "$REPO/tests/fuzz/corpus-l7" >"$T_TMP/fuzz-l7.log" 2>&1 ||
		t_fail "the L7 fuzzer found a crash: $(grep -m3 -E 'ERROR|runtime error|SUMMARY|artifact' "$T_TMP/fuzz-l7.log")"
	t_log "$(grep -m1 -E '^#[0-9]+.*DONE' "$T_TMP/fuzz-l7.log")"
}
