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
	"$fuzz" -max_total_time=15 -max_len=8192 -artifact_prefix="$T_TMP/" "$T_TMP/new" \
		"$REPO/tests/fuzz/corpus" >"$T_TMP/fuzz.log" 2>&1 ||
		t_fail "the fuzzer found a crash: $(grep -m3 -E 'ERROR|SUMMARY|artifact' "$T_TMP/fuzz.log")"
	t_log "$(grep -m1 -E '^#[0-9]+.*DONE' "$T_TMP/fuzz.log")"
}
