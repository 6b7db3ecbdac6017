#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Runs every test: the unit tests (built with ASan and UBSan) and the
# integration tests (each in a fresh local cluster), then the datapath's
# suites again with optional kernel features forced off ("[off:...]",
# docs/kernels.md). Ends with one line:
#   N passed, N failed, N skipped
#
#   tests/run.sh [FILTER...]  only tests whose name contains one of FILTERs
#                             (unit tests only if a FILTER contains "unit")
#   SHUNT_TEST_DEGRADED=0     without the [off:...] passes (the kernel test
#                             matrix, where the kernels are the degraded modes)
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
FILTERS=("$@")
TEST_TIMEOUT=${SHUNT_TEST_TIMEOUT:-300}
# What one test learns of the kernel for the next ones (t_bypass_known_off).
SHUNT_TEST_RUN_DIR=$(mktemp -d /tmp/shunt-testrun.XXXXXX)
export SHUNT_TEST_RUN_DIR
passed=0 failed=0 skipped=0
failures=()

selected() { # NAME: no filter, or it contains one of them
	local f
	[ ${#FILTERS[@]} = 0 ] && return 0
	for f in "${FILTERS[@]}"; do [[ "$1" == *"$f"* ]] && return 0; done
	return 1
}

[ "$(id -u)" = 0 ] || { echo "tests need root (network namespaces, BPF)"; exit 1; }

report() { # NAME RESULT SECONDS [DETAIL]
	printf '%-6s %-60s %6ss %s\n' "$2" "$1" "$3" "${4:-}"
	case "$2" in
	PASS) passed=$((passed + 1)) ;;
	SKIP) skipped=$((skipped + 1)) ;;
	*) failed=$((failed + 1)); failures+=("$1") ;;
	esac
}

# ---- static checks: layers point down, size ceilings ------------------------
if selected "static/check-layers"; then
	if out=$(scripts/check-layers.sh 2>&1); then
		report "static/check-layers" PASS 0
	else
		report "static/check-layers" FAIL 0 "$(tail -1 <<<"$out")"
		sed 's/^/    | /' <<<"$out" | head -30
	fi
fi

# ---- unit tests: one line per cmocka test ---------------------------------
# (With filters, only when one of them names unit/: under QEMU's TCG the
# sanitized binaries take minutes.)
unit_wanted() {
	local f
	[ ${#FILTERS[@]} = 0 ] && return 0
	for f in "${FILTERS[@]}"; do [[ "$f" == *unit* ]] && return 0; done
	return 1
}
# The binaries run side by side (one per CPU), then are read in order.
UNIT_OUT=$(mktemp -d /tmp/shunt-unit.XXXXXX)
trap 'rm -rf "$UNIT_OUT"' EXIT # until the integration tests set theirs
if unit_wanted; then
	for bin in .output/unit/test_*; do [ -x "$bin" ] && echo "$bin"; done |
		xargs -r -P "$(nproc)" -I{} sh -c '"$1" >"$2/${1##*/}.out" 2>&1; echo $? >"$2/${1##*/}.rc"' \
			_ {} "$UNIT_OUT"
fi
for bin in .output/unit/test_*; do
	[ -x "$bin" ] && unit_wanted || continue
	suite=${bin##*/}
	out=$(cat "$UNIT_OUT/$suite.out" 2>/dev/null)
	rc=$(cat "$UNIT_OUT/$suite.rc" 2>/dev/null || echo 127)
	declare -A seen=()
	while read -r line; do
		name=${line#*] }
		[ -n "$name" ] || continue
		[ -n "${seen[$name]:-}" ] && continue
		case "$line" in
		"[       OK ] "*) seen[$name]=1; selected "unit/$suite/$name" && report "unit/$suite/$name" PASS 0 ;;
		"[  FAILED  ] "*"test(s)"*) ;;
		"[  FAILED  ] "*) seen[$name]=1; selected "unit/$suite/$name" && report "unit/$suite/$name" FAIL 0 ;;
		"[  SKIPPED ] "*"test(s)"*) ;;
		# a kernel feature it needs is missing: the binary says which ("skipped: FEATURE: why")
		"[  SKIPPED ] "*) seen[$name]=1; selected "unit/$suite/$name" && report "unit/$suite/$name" SKIP 0 "$(grep -m1 '^skipped: ' <<<"$out" | cut -c10-)" ;;
		esac
	done <<<"$out"
	unset seen
	if [ $rc != 0 ] && ! grep -q '^\[  FAILED  \]' <<<"$out"; then
		report "unit/$suite" FAIL 0 "exit $rc: $(tail -3 <<<"$out" | tr '\n' ' ')"
	fi
done
rm -rf "$UNIT_OUT"

# ---- integration tests: each test_* function of tests/integration/*.sh ----
cleanup_all() { SHUNT_CLUSTER_PREFIX=${SHUNT_CLUSTER_PREFIX:-shunt-test} SHUNT_CLUSTER_DIR=${SHUNT_CLUSTER_DIR:-$REPO/.output/test-cluster} QUIET=1 scripts/cluster.sh down >/dev/null 2>&1 || true; }
trap 'cleanup_all; rm -rf "$SHUNT_TEST_RUN_DIR"' EXIT

# run_suites LABEL FEATURES_OFF FILE...: every test of the files, with the
# loader told to leave FEATURES_OFF out (SHUNT_FEATURES_OFF, empty: none).
run_suites() {
	local label=$1 off=$2 file suite fn name log start rc secs
	shift 2
	for file in "$@"; do
		# FILE:REGEX runs only the functions of FILE that REGEX matches.
		local only='.'
		[[ $file == *:* ]] && only=${file#*:} && file=${file%%:*}
		suite=$(basename "$file" .sh)
		for fn in $(bash -c "source '$file'; rm -rf \"\$T_TMP\"; declare -F" | awk '{print $3}' | grep '^test_' | grep -E "$only"); do
			name="$label$suite/$fn"
			selected "$name" || continue
			log=$(mktemp /tmp/shunt-testlog.XXXXXX)
			start=$(date +%s)
			REPO=$REPO SHUNT_FEATURES_OFF=$off timeout -k 10 "$TEST_TIMEOUT" bash -c \
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
}

run_suites "" "" tests/integration/test_*.sh

# ---- degraded modes (docs/kernels.md): the datapath's suites again with
# optional kernel features forced off, as on older or locked-down kernels.
#  - every fallback that keeps the bypass: sk_msg without a link, conns
#    from the maps, tc instead of tcx, EPERM for a service without backends;
#  - no sock_recv_length (Linux < 6.3): the fexit guard where tracing
#    programs load, else the bypass off (its tests skip, naming why).
# (The proxy only where a fallback touches it: tc for tcx, sk_msg without
# a link on its legs; within the 20 minutes the suite may take.)
DEGRADED=(tests/integration/test_{bypass,switch,lifecycle,services,policy}.sh)
PROXY_DEGRADED='tests/integration/test_proxy.sh:server_sees|refuses_impersonation|same_node|256mib'
# The fallbacks change how programs attach and how connections are listed,
# not how bytes move: of the bypass and switch suites, the tests that load,
# list, switch and unload under traffic (within the 20 minutes).
FALLBACKS=(
	'tests/integration/test_bypass.sh:integrity_256mib|200_parallel|10000_short|ipv6|reset_reaches'
	'tests/integration/test_switch.sh:switch_by_config|mid_stream_many'
	tests/integration/test_{lifecycle,services}.sh "$PROXY_DEGRADED"
)
if [ "${SHUNT_TEST_DEGRADED:-1}" = 0 ]; then DEGRADED=(); FALLBACKS=(); fi
run_suites "[off:fallbacks] " sock_iter,link_sockmap,tcx,helper_set_retval "${FALLBACKS[@]}"
# Policy and services do not read the receive hook: that pass is the bypass,
# the switch and the lifecycle.
run_suites "[off:rx_recv_tracepoint] " rx_recv_tracepoint "${DEGRADED[@]:0:3}"

if [ ${#failures[@]} -gt 0 ]; then
	echo
	echo "failed:"
	printf '  %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
