#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Runs every test: the unit tests (built with ASan and UBSan) and the
# integration tests (each in a fresh local cluster). Ends with one line:
#   N passed, N failed, N skipped
#
#   tests/run.sh [FILTER]     only tests whose name contains FILTER
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
FILTER=${1:-}
TEST_TIMEOUT=${SHUNT_TEST_TIMEOUT:-300}
passed=0 failed=0 skipped=0
failures=()

[ "$(id -u)" = 0 ] || { echo "tests need root (network namespaces, BPF)"; exit 1; }

report() { # NAME RESULT SECONDS [DETAIL]
	printf '%-6s %-60s %6ss %s\n' "$2" "$1" "$3" "${4:-}"
	case "$2" in
	PASS) passed=$((passed + 1)) ;;
	SKIP) skipped=$((skipped + 1)) ;;
	*) failed=$((failed + 1)); failures+=("$1") ;;
	esac
}

# ---- unit tests: one line per cmocka test ---------------------------------
for bin in .output/unit/test_*; do
	[ -x "$bin" ] || continue
	out=$("$bin" 2>&1)
	rc=$?
	suite=${bin##*/}
	declare -A seen=()
	while read -r line; do
		name=${line#*] }
		[ -n "${seen[$name]:-}" ] && continue
		case "$line" in
		"[       OK ] "*) seen[$name]=1; [[ "unit/$suite/$name" == *"$FILTER"* ]] && report "unit/$suite/$name" PASS 0 ;;
		"[  FAILED  ] "*"test(s)"*) ;;
		"[  FAILED  ] "*) seen[$name]=1; [[ "unit/$suite/$name" == *"$FILTER"* ]] && report "unit/$suite/$name" FAIL 0 ;;
		esac
	done <<<"$out"
	unset seen
	if [ $rc != 0 ] && ! grep -q '^\[  FAILED  \]' <<<"$out"; then
		report "unit/$suite" FAIL 0 "exit $rc: $(tail -3 <<<"$out" | tr '\n' ' ')"
	fi
done

# ---- integration tests: each test_* function of tests/integration/*.sh ----
cleanup_all() { SHUNT_CLUSTER_PREFIX=shunt-test SHUNT_CLUSTER_DIR=$REPO/.output/test-cluster QUIET=1 scripts/cluster.sh down >/dev/null 2>&1 || true; }
trap cleanup_all EXIT

for file in tests/integration/test_*.sh; do
	suite=$(basename "$file" .sh)
	for fn in $(bash -c "source '$file'; declare -F" | awk '{print $3}' | grep '^test_'); do
		name="$suite/$fn"
		[[ "$name" == *"$FILTER"* ]] || continue
		log=$(mktemp /tmp/shunt-testlog.XXXXXX)
		start=$(date +%s)
		REPO=$REPO timeout -k 10 "$TEST_TIMEOUT" bash -c \
			"set -uo pipefail; source tests/lib/testlib.sh; source '$file'; $fn" >"$log" 2>&1
		rc=$?
		secs=$(($(date +%s) - start))
		case $rc in
		0) report "$name" PASS "$secs" ;;
		77) report "$name" SKIP "$secs" "$(grep -m1 '^SKIP:' "$log" | cut -c7-)" ;;
		124 | 137) report "$name" FAIL "$secs" "timed out after ${TEST_TIMEOUT}s"; sed 's/^/    | /' "$log" | tail -20 ;;
		*) report "$name" FAIL "$secs" "$(grep -m1 '^FAIL:' "$log" | cut -c7-)"; sed 's/^/    | /' "$log" | tail -20 ;;
		esac
		rm -f "$log"
		cleanup_all
	done
done

if [ ${#failures[@]} -gt 0 ]; then
	echo
	echo "failed:"
	printf '  %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
