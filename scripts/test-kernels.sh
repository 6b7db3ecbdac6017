#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# The kernel test matrix (make test-kernels): boots Debian's 6.1 and 6.12
# kernels in QEMU (scripts/kernels.sh), both at once, and in each runs the
# unit tests and a cut of the datapath's integration tests, with the
# features that kernel offers (no SHUNT_FEATURES_OFF: the kernels are the
# degraded modes). Writes what each kernel got (its features, the tests
# passed) to .output/kernels/matrix.md; --update-docs puts that in
# docs/kernels.md between its matrix markers. Not part of `make test`:
# under TCG a cluster comes up ~20x slower than here.
#
#   scripts/test-kernels.sh [--update-docs] [--kernels "6.1 6.12"] [FILTER...]
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
OUT=.output/kernels
KERNELS="6.1 6.12"
UPDATE_DOCS=0
# One or two of each suite's tests per behaviour: what a kernel's features
# change (loading, guards, attach modes, flows, errno) and what must hold
# everywhere (bytes intact, policy, services, mTLS). A test takes 50 to
# 100 s under TCG: ~25 min per kernel, both at once.
TESTS=(
	test_features/
	test_lifecycle/test_unload_leaves_the_machine_as_it_found_it
	test_lifecycle/test_status_reads_pins_and_speaks_json
	test_bypass/test_ipv6_goes_through_bypass_like_ipv4
	test_bypass/test_blocking_reader_after_half_close_gets_its_data
	test_bypass/test_reset_reaches_the_peer
	test_services/test_services_without_backends_refuse_at_once
	test_services/test_services_application_sees_the_service_address
	test_policy/test_policy_allows_exactly_what_the_rules_say
	test_policy_cases/test_policy_isolated_pod_refuses_protocols_no_rule_allows
	test_policy_cases/test_policy_ipblock_on_a_pod_address_keeps_the_pods_identity
	test_proxy/test_proxy_server_sees_the_client_address
	test_proxy/test_proxy_refuses_impersonation
)

while [ $# -gt 0 ]; do
	case $1 in
	--update-docs) UPDATE_DOCS=1 ;;
	--kernels) KERNELS=$2; shift ;;
	-h | --help) sed -n 's/^#   scripts/usage: scripts/p' "$0"; exit 0 ;;
	*) break ;;
	esac
	shift
done
[ $# -gt 0 ] && TESTS=("$@")
[ "$(id -u)" = 0 ] || { echo "test-kernels: needs root (QEMU's 9p export of /)"; exit 1; }

# In the guest: the kernel's features as the loader records them, then the tests.
guest_job() {
	local t
	printf 'set -uo pipefail; mkdir -p /sys/fs/cgroup/matrix; '
	printf '.output/bin/shunt --pin-dir /sys/fs/bpf/matrix load --cgroup /sys/fs/cgroup/matrix >/dev/null 2>&1; '
	printf 'echo "@@features"; .output/bin/shunt --pin-dir /sys/fs/bpf/matrix status --json | jq -cM .features; '
	printf '.output/bin/shunt --pin-dir /sys/fs/bpf/matrix unload >/dev/null 2>&1; rmdir /sys/fs/cgroup/matrix; '
	printf 'echo "@@tests"; SHUNT_TEST_DEGRADED=0 tests/run.sh'
	for t in "${TESTS[@]}"; do printf ' %q' "$t"; done
	printf '\n'
}

run_kernel() { # NAME
	local k=$1 rc=0
	scripts/kernels.sh fetch "$k" >/dev/null
	scripts/kernels.sh run "$k" --timeout 2400 -- "$(guest_job)" >"$OUT/matrix-$k.log" 2>&1 || rc=$?
	echo "$rc" >"$OUT/matrix-$k.rc"
}

# One kernel's row of the results: release, features by state, tests.
summarise() { # NAME
	local k=$1 log=$OUT/matrix-$1.log features summary off
	features=$(sed -n '/^@@features/{n;p}' "$log")
	summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$log" | tail -1)
	off=$(jq -r '[.[] | select(.state != "on") | "`\(.name)` \(.state): \(.why)"] | join("; ")' <<<"${features:-[]}")
	echo "### Linux $(cat "$OUT/$k/release") (Debian $k)"
	echo
	echo "- tests: ${summary:-no summary (exit $(cat "$OUT/matrix-$k.rc"))}"
	echo "- on: $(jq -r '[.[] | select(.state == "on") | .name] | join(", ")' <<<"${features:-[]}")"
	echo "- not on: ${off:-none}"
	grep -E '^(FAIL|SKIP) ' "$log" | sed 's/^/- /' || true
	echo
}

mkdir -p "$OUT"
make -s all test-unit
start=$(date +%s)
pids=()
for k in $KERNELS; do
	run_kernel "$k" &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
{
	echo "Run on $(date -u +%Y-%m-%d) in $((($(date +%s) - start) / 60)) minutes, QEMU TCG, 2 vCPUs and 4 GiB per kernel."
	echo
	for k in $KERNELS; do summarise "$k"; done
} >"$OUT/matrix.md"
cat "$OUT/matrix.md"

if [ $UPDATE_DOCS = 1 ]; then
	awk -v f="$OUT/matrix.md" '
		/<!-- matrix:begin -->/ { print; while ((getline l < f) > 0) print l; skip = 1; next }
		/<!-- matrix:end -->/ { skip = 0 }
		!skip' docs/kernels.md >"$OUT/kernels.md.new"
	mv "$OUT/kernels.md.new" docs/kernels.md
fi

failed=0
for k in $KERNELS; do
	grep -qE '^[0-9]+ passed, 0 failed, [0-9]+ skipped$' "$OUT/matrix-$k.log" || failed=1
done
exit $failed
