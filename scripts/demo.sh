#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# make demo: a local cluster with the mesh, traffic between pods on the same
# node and across nodes, and what the datapath did with it (read from the
# pinned maps, as an operator would).
#
#   scripts/demo.sh [--nodes N] [--pods M] [--keep]
#     --keep   leave the cluster and the mesh up afterwards (then:
#              scripts/cluster.sh down)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NODES=2
PODS=2
KEEP=0
while [ $# -gt 0 ]; do
	case "$1" in
	--nodes) NODES=$2; shift 2 ;;
	--pods) PODS=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	*) echo "demo.sh: unknown option $1 (use --nodes N --pods M --keep)" >&2; exit 2 ;;
	esac
done
[ "$NODES" -ge 2 ] && [ "$PODS" -ge 2 ] || { echo "demo.sh: needs at least 2 nodes x 2 pods" >&2; exit 2; }

CLUSTER=$REPO/scripts/cluster.sh
SHUNT=$REPO/.output/bin/shunt
TT=$REPO/.output/bin/shunt-tt
PERF=$REPO/.output/bin/shunt-perf
STATE=${SHUNT_CLUSTER_DIR:-$REPO/.cluster}/cluster.json
WORK=$(mktemp -d /tmp/shunt-demo.XXXXXX)
PIDS=()

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	if [ $KEEP = 0 ]; then
		QUIET=1 "$CLUSTER" down >/dev/null 2>&1 || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
pod() { jq -r --arg p "$1" ".nodes[].pods[] | select(.name == \$p) | .$2" "$STATE"; }
node() { jq -r --arg n "$1" ".nodes[] | select(.name == \$n) | .$2" "$STATE"; }
shunt_on() { local n=$1; shift; "$SHUNT" --pin-dir "$(node "$n" pin_dir)" "$@"; }
veth_bytes() { # POD: bytes through its node-side veth, both directions
	local p=$1 n j
	n=$(pod "$p" node)
	j=${p##*-p}
	ip netns exec "$(node "$n" netns)" sh -c \
		"echo \$((\$(cat /sys/class/net/p$j/statistics/rx_bytes) + \$(cat /sys/class/net/p$j/statistics/tx_bytes)))"
}

say "1. a local cluster: $NODES nodes x $PODS pods (network namespaces, veth, bridges, cgroups)"
QUIET=1 "$CLUSTER" down >/dev/null 2>&1 || true
"$CLUSTER" up --nodes "$NODES" --pods "$PODS"
jq -r '.nodes[] | "  \(.name): " + ([.pods[] | "\(.name) \(.ipv4) \(.ipv6)"] | join("   "))' "$STATE"

say "2. the mesh on every node: load, pin, attach to the node's cgroup, register workloads"
for n in $(jq -r '.nodes[].name' "$STATE"); do
	shunt_on "$n" load --cgroup "$(node "$n" cgroup)"
	for p in $(jq -r '.nodes[].pods[].name' "$STATE"); do
		if [ "$(pod "$p" node)" = "$n" ]; then
			shunt_on "$n" workload add "default/$p" --ip "$(pod "$p" ipv4)" --ip "$(pod "$p" ipv6)" \
				--netns "$(pod "$p" netns)" --cgroup "$(pod "$p" cgroup)" >/dev/null
		else
			shunt_on "$n" workload add "default/$p" --ip "$(pod "$p" ipv4)" --ip "$(pod "$p" ipv6)" \
				--remote >/dev/null
		fi
	done
done
echo "  the loading process has exited; the datapath lives on in pinned links:"
find "$(node n1 pin_dir)" -maxdepth 2 | sed "s|^|    |"

say "3. traffic"
# Servers: a verifying echo (shunt-tt) and a request/response server (shunt-perf).
SAME=n1-p2
CROSS=n2-p1
CLIENT=n1-p1
for target in $SAME $CROSS; do
	"$CLUSTER" exec "$target" -- "$TT" server --listen "$(pod $target ipv4):7000" --warmup --count 1 \
		--send 128M --expect 128M --handshake >"$WORK/tt-$target.log" 2>&1 &
	PIDS+=($!)
	"$CLUSTER" exec "$target" -- "$TT" server --listen "[$(pod $target ipv6)]:7006" --warmup --count 1 \
		--send 32M --expect 32M --handshake >"$WORK/tt6-$target.log" 2>&1 &
	PIDS+=($!)
	"$CLUSTER" exec "$target" -- "$PERF" server --listen "$(pod $target ipv4):9000" >"$WORK/perf-$target.log" 2>&1 &
	PIDS+=($!)
done
sleep 0.5
declare -A before_c before_v
for n in $(jq -r '.nodes[].name' "$STATE"); do before_c[$n]=$(shunt_on "$n" status --json | jq -c .counters); done
for p in $CLIENT $SAME $CROSS; do before_v[$p]=$(veth_bytes $p); done

run_pair() { # LABEL TARGET
	local label=$1 target=$2 r4 r6 rr bulk
	r4=$("$CLUSTER" exec $CLIENT -- "$TT" client --connect "$(pod $target ipv4):7000" --warmup \
		--send 128M --expect 128M --handshake)
	r6=$("$CLUSTER" exec $CLIENT -- "$TT" client --connect "[$(pod $target ipv6)]:7006" --warmup \
		--send 32M --expect 32M --handshake)
	"$CLUSTER" exec $CLIENT -- "$PERF" client --connect "$(pod $target ipv4):9000" --mode rr --size 64 --seconds 0.2 >/dev/null
	rr=$("$CLUSTER" exec $CLIENT -- "$PERF" client --connect "$(pod $target ipv4):9000" --mode rr --size 64 --seconds 2)
	bulk=$("$CLUSTER" exec $CLIENT -- "$PERF" client --connect "$(pod $target ipv4):9000" --mode stream --size 1048576 --seconds 2)
	printf '  %-34s IPv4 %s MiB each way %s, IPv6 %s MiB %s\n' "$label" \
		"$(jq '.received/1048576|floor' <<<"$r4")" "$(jq -r 'if .failed == 0 then "intact" else "CORRUPT: \(.error)" end' <<<"$r4")" \
		"$(jq '.received/1048576|floor' <<<"$r6")" "$(jq -r 'if .failed == 0 then "intact" else "CORRUPT: \(.error)" end' <<<"$r6")"
	printf '  %-34s 64 B request/response p50 %s us, p99 %s us; 1 MiB writes %s Gbit/s\n' "" \
		"$(jq '.p50_us*10|floor/10' <<<"$rr")" "$(jq '.p99_us*10|floor/10' <<<"$rr")" "$(jq '.gbit_s*100|floor/100' <<<"$bulk")"
}
run_pair "same node ($CLIENT -> $SAME):" $SAME
run_pair "across nodes ($CLIENT -> $CROSS):" $CROSS

say "4. what the datapath did (from the pinned maps)"
for n in $(jq -r '.nodes[].name' "$STATE"); do
	shunt_on "$n" status --json | jq -r --argjson b "${before_c[$n]}" --arg n "$n" '.counters as $c |
	  "  node \($n): \($c.conns_bypassed - $b.conns_bypassed) socket directions took the bypass; " +
	  "\(($c.bytes_redirected - $b.bytes_redirected)/1048576|floor) MiB redirected socket to socket, " +
	  "\(($c.bytes_tcp - $b.bytes_tcp)/1048576|floor) MiB of mesh sockets through TCP\n" +
	  "           left alone: \($c.skipped.remote_off_node - $b.skipped.remote_off_node) cross-node connections, " +
	  "\($c.skipped.observing - $b.skipped.observing) first connections to a new server (watched to learn how it reads)"'
done
for p in $CLIENT $SAME $CROSS; do
	printf '  veth of %-6s carried %6s MiB during the traffic\n' "$p" $((($(veth_bytes $p) - ${before_v[$p]}) / 1048576))
done
echo "  (same-node bytes went socket to socket: they never touched $SAME's veth;"
echo "   cross-node bytes crossed the veths and the underlay as plain TCP)"

say "5. inspect it yourself"
echo "  $SHUNT --pin-dir $(node n1 pin_dir) status"
shunt_on n1 status | sed 's/^/    /'
echo "  bpftool map dump pinned $(node n1 pin_dir)/maps/shunt_workloads   (BTF: field names)"
bpftool map dump pinned "$(node n1 pin_dir)/maps/shunt_workloads" | sed -n '1,12s/^/    /p'
echo "    ..."
if [ $KEEP = 1 ]; then
	echo
	echo "  the cluster is still up: scripts/cluster.sh exec $CLIENT -- bash; scripts/cluster.sh down when done"
else
	echo
	echo "  tearing down (use --keep to leave it up)"
fi
