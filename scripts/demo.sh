#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# make demo: a local cluster with the node agent on every node, traffic
# between pods on the same node and across nodes, what the datapath did with
# it (read from the pinned maps, as an operator would), then services and
# L4 policy in the kernel: load balancing, a policy applied by editing the
# config, denials and flow events, the agent killed and restarted, and L7
# in the node proxy: a canary split, retries, a circuit breaker and faults,
# and at the end the service graph of every node (.output/demo-graph.svg).
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
PROBE=$REPO/.output/bin/shunt-probe
STATE=${SHUNT_CLUSTER_DIR:-$REPO/.cluster}/cluster.json
MESH_SRC=${SHUNT_CLUSTER_DIR:-$REPO/.cluster}/mesh.yaml
WORK=$(mktemp -d /tmp/shunt-demo.XXXXXX)
PIDS=()

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	if [ $KEEP = 0 ]; then
		QUIET=1 "$CLUSTER" down >/dev/null 2>&1 || true
	fi
	if [ $KEEP = 1 ]; then echo "  agent logs kept in $WORK"; else rm -rf "$WORK"; fi
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

# The agent of node N, logging JSON lines to $WORK/agent-N.log.
MESH=$WORK/mesh.yaml
cp "$MESH_SRC" "$MESH"
start_agent() {
	local n=$1 k=${1#n} before=0
	touch "$WORK/agent-$n.log"
	before=$(grep -c '"applied' "$WORK/agent-$n.log" || true)
	# Started directly (not through a shell function), so $! is the agent.
	"$SHUNT" --pin-dir "$(node "$n" pin_dir)" agent --config "$MESH" --node "$n" \
		--cgroup "$(node "$n" cgroup)" --metrics "127.0.0.1:$((19460 + k))" \
		>>"$WORK/agent-$n.log" 2>&1 &
	PIDS+=($!)
	eval "AGENT_$n=$!"
	for ((i = 0; i < 100; i++)); do
		[ "$(grep -c '"applied' "$WORK/agent-$n.log")" -gt "$before" ] && return 0
		sleep 0.05
	done
	echo "agent on $n did not start:" >&2
	cat "$WORK/agent-$n.log" >&2
	exit 1
}
# Waits until every agent applied config version V.
wait_version() {
	local n i
	for n in $(jq -r '.nodes[].name' "$STATE"); do
		for ((i = 0; i < 100; i++)); do
			[ "$(shunt_on "$n" workloads --json | jq .config_version)" -ge "$1" ] && break
			sleep 0.05
		done
	done
}

say "2. the node agent and the mTLS proxy on every node"
echo "  config written by cluster.sh: $(grep -cE '^  - name: n[0-9]+-p' "$MESH") workloads, service echo (10.96.0.10:80 -> app=echo:8080), a proxy per node"
"$SHUNT" ca init --dir "$WORK/ca" --trust-domain cluster.local | sed 's/^/  /'
# (jq -e says yes to an empty file: count the matching lines instead)
proxy_started() { [ "$(jq -cR 'fromjson? | select(.event == "started")' "$WORK/proxy-$1.log" 2>/dev/null | wc -l)" -gt "${2:-0}" ]; }
declare -A PROXY_PID
start_proxy() { # NODE: (another) proxy for NODE, once it listens
	local n=$1 before
	before=$(jq -cR 'fromjson? | select(.event == "started")' "$WORK/proxy-$n.log" 2>/dev/null | wc -l)
	"$CLUSTER" exec "$n-proxy" -- "$SHUNT" --pin-dir "$(node "$n" pin_dir)" proxy \
		--node "$n" --ca "$WORK/ca" >>"$WORK/proxy-$n.log" 2>&1 &
	PIDS+=($!)
	PROXY_PID[$n]=$!
	for ((i = 0; i < 200; i++)); do
		proxy_started "$n" "$before" && break
		sleep 0.05
	done
}
for n in $(jq -r '.nodes[].name' "$STATE"); do
	start_agent "$n"
	echo "  $n agent: $(grep '"applied' "$WORK/agent-$n.log" | tail -1)"
	# The proxy runs in the node's network namespace, in its own cgroup under
	# the node's: the legs between pods and the proxy take the bypass. It
	# follows what the node's agent applies (no config of its own).
	: >"$WORK/proxy-$n.log"
	start_proxy "$n"
	echo "  $n proxy: $(jq -rR 'fromjson? | select(.event == "started") | .msg' "$WORK/proxy-$n.log")"
done
echo "  the datapath lives in pinned links, whatever happens to the agent:"
find "$(node n1 pin_dir)/links" -maxdepth 1 -mindepth 1 | sed "s|^|    |"

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
	local label=$1 target=$2 r4 r6 rr bulk small
	r4=$("$CLUSTER" exec $CLIENT -- "$TT" client --connect "$(pod $target ipv4):7000" --warmup \
		--send 128M --expect 128M --handshake)
	r6=$("$CLUSTER" exec $CLIENT -- "$TT" client --connect "[$(pod $target ipv6)]:7006" --warmup \
		--send 32M --expect 32M --handshake)
	"$CLUSTER" exec $CLIENT -- "$PERF" client --connect "$(pod $target ipv4):9000" --mode rr --size 64 --seconds 0.2 >/dev/null
	rr=$("$CLUSTER" exec $CLIENT -- "$PERF" client --connect "$(pod $target ipv4):9000" --mode rr --size 64 --seconds 2)
	bulk=$("$CLUSTER" exec $CLIENT -- "$PERF" client --connect "$(pod $target ipv4):9000" --mode stream --size 1048576 --seconds 2)
	small=$("$CLUSTER" exec $CLIENT -- "$PERF" client --connect "$(pod $target ipv4):9000" --mode stream --size 64 --seconds 1)
	printf '  %-34s IPv4 %s MiB each way %s, IPv6 %s MiB %s\n' "$label" \
		"$(jq '.received/1048576|floor' <<<"$r4")" "$(jq -r 'if .failed == 0 then "intact" else "CORRUPT: \(.error)" end' <<<"$r4")" \
		"$(jq '.received/1048576|floor' <<<"$r6")" "$(jq -r 'if .failed == 0 then "intact" else "CORRUPT: \(.error)" end' <<<"$r6")"
	printf '  %-34s 64 B request/response p50 %s us, p99 %s us; 1 MiB writes %s Gbit/s; 64 B writes %s Gbit/s\n' "" \
		"$(jq '.p50_us*10|floor/10' <<<"$rr")" "$(jq '.p99_us*10|floor/10' <<<"$rr")" "$(jq '.gbit_s*100|floor/100' <<<"$bulk")" \
		"$(jq '.gbit_s*1000|floor/1000' <<<"$small")"
}
run_pair "same node ($CLIENT -> $SAME):" $SAME
run_pair "across nodes ($CLIENT -> $CROSS):" $CROSS

# iperf3 reads blocking: the kind of program shunt used to keep out.
if command -v iperf3 >/dev/null; then
	"$CLUSTER" exec $SAME -- iperf3 -s -1 -B "$(pod $SAME ipv4)" -p 5201 >"$WORK/iperf3.log" 2>&1 &
	PIDS+=($!)
	sleep 0.3
	c0=$(shunt_on n1 status --json | jq .counters.bytes_redirected)
	gbit=$("$CLUSTER" exec $CLIENT -- iperf3 -c "$(pod $SAME ipv4)" -p 5201 -t 2 -J |
		jq '.end.sum_received.bits_per_second / 1e9 * 10 | floor / 10')
	c1=$(shunt_on n1 status --json | jq .counters.bytes_redirected)
	printf '  %-34s iperf3 (blocking reads) %s Gbit/s, %s MiB of it through the bypass\n' \
		"same node ($CLIENT -> $SAME):" "$gbit" $(((c1 - c0) / 1048576))
fi

say "4. what the datapath did (from the pinned maps)"
for n in $(jq -r '.nodes[].name' "$STATE"); do
	shunt_on "$n" status --json | jq -r --argjson b "${before_c[$n]}" --arg n "$n" '.counters as $c |
	  "  node \($n): \($c.conns_bypassed - $b.conns_bypassed) socket directions took the bypass; " +
	  "\(($c.bytes_redirected - $b.bytes_redirected)/1048576|floor) MiB redirected socket to socket, " +
	  "\(($c.bytes_tcp - $b.bytes_tcp)/1048576|floor) MiB of mesh sockets through TCP\n" +
	  "           \($c.rx_blocking - $b.rx_blocking) blocking readers in the bypass, \($c.halfclose_left - $b.halfclose_left) of them left it at shutdown(SHUT_WR); " +
	  "early EAGAINs from the kernel: \($c.rx_early_eagain - $b.rx_early_eagain)\n" +
	  "           \($c.socks_left - $b.socks_left) sockets left the bypass for plain TCP after a long stream of small writes; " +
	  "\($c.cc_set - $b.cc_set) same-node sockets got local_congestion"'
	echo "           cross-node TCP connections sent to the mTLS proxy: $(shunt_on "$n" status --json | jq .mesh.proxied)"
done
echo "  inbound proxy of n2 (JSON log lines):"
jq -rR 'fromjson? | select(.event == "stream" and .side == "inbound" and .outcome == "closed") | .msg' \
	"$WORK/proxy-n2.log" | tail -3 | cut -c1-140 | sed 's/^/    /'
proxy_metric() { # NODE METRIC
	ip netns exec "$(node "$1" netns)" curl -s http://127.0.0.1:9465/metrics | awk -v m="$2" '$1 == m { print $2 }'
}
echo "  outbound proxy of n1: $(proxy_metric n1 'shunt_proxy_connections_total{side="outbound"}') connections" \
	"over $(proxy_metric n1 'shunt_proxy_tunnels_total{side="outbound"}') HTTP/2 tunnels;" \
	"$(proxy_metric n1 shunt_proxy_streams_pooled_total) of them rode an open tunnel (no TLS handshake)"
for p in $CLIENT $SAME $CROSS; do
	printf '  veth of %-6s carried %6s MiB during the traffic\n' "$p" $((($(veth_bytes $p) - ${before_v[$p]}) / 1048576))
done
echo "  (same-node bytes went socket to socket: they never touched $SAME's veth; cross-node"
echo "   bytes went socket to socket between the pods and their node's proxy, except where a"
echo "   bulk sender ran 8 MiB ahead of its proxy (then TCP), and inside TLS between the proxies)"

say "5. services: the connect hook picks a backend, the application sees the service address"
ECHO_PODS=$(jq -r '.nodes[].pods[] | select(.name | test("-p1$") | not) | .name' "$STATE")
for p in $ECHO_PODS; do
	"$CLUSTER" exec "$p" -- "$PROBE" serve --name "$p" --tcp 0.0.0.0:8080 --tcp 0.0.0.0:9090 \
		--udp 0.0.0.0:5353 >"$WORK/probe-$p.log" 2>&1 &
	PIDS+=($!)
done
sleep 0.5
shunt_on n1 services | sed 's/^/    /'
out=$("$CLUSTER" exec $CLIENT -- "$PROBE" connect 10.96.0.10:80 --count 300)
echo "  300 connects from $CLIENT to 10.96.0.10:80, answered by: $(jq -c .servers <<<"$out")"
echo "  getpeername() in the client says: $(jq -r .peer <<<"$out")   (UDP 10.96.0.10:53: $("$CLUSTER" exec $CLIENT -- "$PROBE" connect 10.96.0.10:53 --udp | jq -r .peer))"
"$CLUSTER" exec n2-p2 -- "$PROBE" serve --name seen --tcp 0.0.0.0:8081 --tcp '[::]:8081' \
	--peers "$WORK/peers" >/dev/null 2>&1 &
PIDS+=($!)
sleep 0.3
"$CLUSTER" exec $CLIENT -- "$PROBE" connect "$(pod n2-p2 ipv4):8081" >/dev/null
"$CLUSTER" exec $CLIENT -- "$PROBE" connect "[$(pod n2-p2 ipv6)]:8081" >/dev/null
echo "  across nodes, n2-p2's server saw the client ($CLIENT: $(pod $CLIENT ipv4), $(pod $CLIENT ipv6)) connect from:" \
	"$(cut -d' ' -f1 "$WORK/peers" | paste -sd' ')   (the proxy's transparent source)"

say "6. L4 policy: edit the config, every agent applies it atomically"
{
	sed '/^policies:/,$d' "$MESH"
	echo "policies:"
	echo "  - name: echo-in"
	echo "    podSelector: {matchLabels: {app: echo}}"
	echo "    ingress:"
	echo "      - from: [{podSelector: {matchLabels: {app: client}}}]"
	echo "        ports: [{port: 8080}]"
} >"$MESH.tmp"
mv "$MESH.tmp" "$MESH"
wait_version 2
sed -n '/^policies:/,$p' "$MESH" | sed 's/^/    /'
echo "  n1 agent: $(grep '"applied' "$WORK/agent-n1.log" | tail -1 | jq -r .msg | cut -c1-150)"
probe_line() { # LABEL WHERE... -- ARGS
	local label=$1 res
	shift
	res=$("$CLUSTER" exec "$@" | jq -r 'to_entries | map(select(.key != "servers" and .key != "peer" and (.value|tostring) != "0")) | map("\(.key)") | join(",")')
	printf '  %-58s %s\n' "$label" "$res"
}
probe_line "client $CLIENT -> $SAME:8080 (allowed):" $CLIENT -- "$PROBE" connect "$(pod $SAME ipv4):8080"
probe_line "client $CLIENT -> $SAME:9090 (port not allowed):" $CLIENT -- "$PROBE" connect "$(pod $SAME ipv4):9090"
probe_line "echo n2-p2 -> $SAME:8080 (not a client, other node):" n2-p2 -- "$PROBE" connect "$(pod $SAME ipv4):8080"
probe_line "process on node n1, outside the mesh -> $SAME:8080:" n1 -- "$PROBE" connect "$(pod $SAME ipv4):8080"
echo "  (eperm: refused at connect(), before a packet left; timeout: dropped at the pod's ingress)"
echo "  \$ shunt policy check --from n2-p2 --to $SAME --port 8080"
shunt_on n1 policy check --from n2-p2 --to "$SAME" --port 8080 | sed 's/^/    /'
echo "  \$ shunt flows --denied"
shunt_on n1 flows --denied | tail -4 | sed 's/^/    /'
echo "  \$ shunt flows   (on n2: the inbound proxy's decisions, with the kernel's)"
shunt_on n2 flows | grep proxy-in | tail -2 | sed 's/^/    /'
echo "  metrics (http://127.0.0.1:19461/metrics):"
curl -s http://127.0.0.1:19461/metrics | grep -E '^shunt_(config_version|policy_denied_total|policy_verdicts_total.*deny)' | head -6 | sed 's/^/    /'

say "7. kill -9 the agent: the datapath keeps working; a new agent adopts it"
kill -KILL "$AGENT_n1"
wait "$AGENT_n1" 2>/dev/null || true
probe_line "agent down: client -> $SAME:8080" $CLIENT -- "$PROBE" connect "$(pod $SAME ipv4):8080" --count 50
probe_line "agent down: client -> $SAME:9090" $CLIENT -- "$PROBE" connect "$(pod $SAME ipv4):9090"
start_agent n1
echo "  n1 agent again: $(grep -E 'adopting|"applied' "$WORK/agent-n1.log" | tail -2 | jq -r .msg | cut -c1-120 | paste -sd'|' | sed 's/|/; /')"

say "8. L7 in the node proxy: routes, canary weights, retries, a circuit breaker, faults, gRPC"
L7=$REPO/tests/apps/l7_backend.py
"$CLUSTER" exec "$SAME" -- python3 "$L7" --listen "$(pod "$SAME" ipv4):8090" --name v1 >"$WORK/l7-v1.log" 2>&1 &
PIDS+=($!)
"$CLUSTER" exec "$CROSS" -- python3 "$L7" --listen "$(pod "$CROSS" ipv4):8090" --name v2 >"$WORK/l7-v2.log" 2>&1 &
PIDS+=($!)
"$CLUSTER" exec "$SAME" -- python3 "$L7" --listen "$(pod "$SAME" ipv4):8091" --name flaky --fail-rate 0.3 \
	>"$WORK/l7-flaky.log" 2>&1 &
PIDS+=($!)
GRPC=$REPO/tests/apps/grpc_app.py # Debian's python3-grpcio: Debian's python
for p in "$SAME v1" "$CROSS v2"; do
	"$CLUSTER" exec "${p% *}" -- /usr/bin/python3 "$GRPC" serve --listen "$(pod "${p% *}" ipv4):50051" \
		--name "${p#* }" >"$WORK/grpc-${p#* }.log" 2>&1 &
	PIDS+=($!)
done
l7_config() { # CANARY_WEIGHT
	sed -e '/^services:/,$d' "$MESH"
	cat <<-EOF
		services:
		  - {name: echo, virtualIPs: [10.96.0.10], ports: [{port: 80, targetPort: 8080}], selector: {app: echo}}
		  - {name: web, virtualIPs: [10.96.0.80], ports: [{port: 80, targetPort: 8090, appProtocol: http}], selector: {app: echo}}
		  - {name: web-v1, virtualIPs: [10.96.0.81], ports: [{port: 80, targetPort: 8090}], backends: [{workload: $SAME}]}
		  - {name: web-v2, virtualIPs: [10.96.0.82], ports: [{port: 80, targetPort: 8090}], backends: [{workload: $CROSS}]}
		  - name: flaky
		    virtualIPs: [10.96.0.84]
		    ports: [{port: 80, targetPort: 8091, appProtocol: http}]
		    backends: [{workload: $SAME}]
		    trafficPolicy: {connectionPool: {http: {http2MaxRequests: 2}}}
		  - {name: rpc, virtualIPs: [10.96.0.90], ports: [{port: 50051, appProtocol: grpc}], backends: [{workload: $SAME}, {workload: $CROSS}]}
		httpRoutes:
		  - name: web
		    parentRefs: [{name: web, port: 80}]
		    rules:
		      - matches: [{path: {type: PathPrefix, value: /fault}}]
		        backendRefs: [{name: web-v1, port: 80}]
		        fault: {abort: {httpStatus: 503, percentage: 25}}
		      - backendRefs: [{name: web-v1, port: 80, weight: $((100 - $1))}, {name: web-v2, port: 80, weight: $1}]
		  - name: flaky
		    parentRefs: [{name: flaky, port: 80}]
		    rules:
		      - matches: [{path: {type: PathPrefix, value: /retry}}]
		        retry: {attempts: 3, codes: [503], backoff: 5ms}
		      - {}
		policies:
		  - name: echo-in
		    podSelector: {matchLabels: {app: echo}}
		    ingress:
		      - from: [{podSelector: {matchLabels: {app: client}}}]
		        ports: [{port: 8080}, {port: 8090}, {port: 8091}, {port: 50051}]
	EOF
}
l7_apply() { # CANARY_WEIGHT: the config written; returns once every agent applied it
	local n before=()
	for n in $(jq -r '.nodes[].name' "$STATE"); do before+=("$n=$(shunt_on "$n" workloads --json | jq .config_version)"); done
	l7_config "$1" >"$MESH.tmp"
	mv "$MESH.tmp" "$MESH"
	for n in "${before[@]}"; do
		for ((i = 0; i < 100; i++)); do
			[ "$(shunt_on "${n%=*}" workloads --json | jq .config_version)" -gt "${n#*=}" ] && break
			sleep 0.05
		done
	done
}
l7_apply 10
for p in "$SAME:8090" "$CROSS:8090" "$SAME:8091" "$SAME:50051" "$CROSS:50051"; do # python starts slowly on a busy machine
	for ((i = 0; i < 100; i++)); do
		ip netns exec "$(pod "${p%:*}" netns)" ss -ltnH "sport = :${p#*:}" | grep -q . && break
		sleep 0.1
	done
done
shunt_on n1 services | grep -A1 -E '^default/(web|flaky|echo|rpc):' | sed 's/^/    /'
l7_counts() { # PATH N [URL]: the answers, counted by backend or by the proxy's reason
	"$CLUSTER" exec $CLIENT -- bash -c "for i in \$(seq $2); do curl -s -m 10 -o /dev/null -w '%{http_code} %header{x-backend}%header{shunt-error}\n' http://${3:-10.96.0.80}$1; done" |
		sort | uniq -c | awk '{ printf "%s %s x%s, ", $2, $3, $1 }' | sed 's/, $//'
}
echo "  canary (web-v1 90, web-v2 10; v2 is on the other node, over mTLS): $(l7_counts / 200)"
"$CLUSTER" exec $CLIENT -- bash -c 'for i in $(seq 300); do curl -s -m 10 -o /dev/null -w "%{http_code}\n" http://10.96.0.80/; done' \
	>"$WORK/during" &
client=$!
sleep 0.3
l7_apply 50
wait $client
echo "  weights moved to 50/50 while 300 requests ran: $(sort "$WORK/during" | uniq -c | awk '{ printf "%s x%s ", $2, $1 }')" \
	"$([ "$(grep -cv '^200$' "$WORK/during")" = 0 ] && echo "(nothing dropped)" || echo "(SOME FAILED: see $WORK)")"
echo "  after the change:                              $(l7_counts / 200)"
echo "  a flaky backend (30% 503), no retries:         $(l7_counts /raw 200 10.96.0.84)"
echo "  the same with retry {attempts: 3, codes: [503]}: $(l7_counts /retry 200 10.96.0.84)"
"$CLUSTER" exec $CLIENT -- bash -c 'for i in $(seq 12); do curl -s -m 10 -o /dev/null -w "%{http_code} %header{shunt-error}\n" "http://10.96.0.84/retry?delay_ms=1000" & done; wait' |
	sort | uniq -c | awk '{ printf "%s %s x%s, ", $2, ($3 ? $3 : "ok"), $1 }' | sed 's/, $//' >"$WORK/breaker"
echo "  breaker (http2MaxRequests 2 per proxy worker), 12 at once: $(cat "$WORK/breaker")"
echo "  fault injection (abort 503, 25%) on /fault:    $(l7_counts /fault 200)"
echo "  an answer of the proxy itself names the hop and the reason:"
"$CLUSTER" exec $CLIENT -- bash -c 'for i in $(seq 40); do
	out=$(curl -s -i http://10.96.0.80/fault/x); grep -qi "^shunt-error" <<<"$out" && break; done
	grep -iE "^(HTTP|shunt-)" <<<"$out"' | sed 's/^/    /'
grpc_demo() { "$CLUSTER" exec $CLIENT -- /usr/bin/python3 "$GRPC" call --target 10.96.0.90:50051 "$@" || true; }
echo "  gRPC (appProtocol grpc: HTTP/2 from the proxy to the endpoints, trailers passed on):"
echo "    40 unary calls:                  $(grpc_demo --count 40 | jq -c '{codes, served_by}')"
echo "    a server stream of 100 messages: $(grpc_demo --method Stream --request 100 | jq -c '{codes, messages: (.messages | length)}')"
echo "    a two-way stream, 20 turns:      $(grpc_demo --method Chat --request 20 | jq -c '{codes, answers: (.messages | length), seconds}')"
echo "    the endpoint's own error:        $(grpc_demo --method Fail --request NOT_FOUND | jq -c '{codes, details}')"
echo "    a 2 s call, 300 ms deadline:     $(grpc_demo --method Slow --request 2000 --timeout 0.3 | jq -c '{codes, seconds}')"
echo "  n1 proxy metrics: $(ip netns exec "$(node n1 netns)" curl -s http://127.0.0.1:9465/metrics |
	grep -E '^shunt_l7_(requests_total|retries_total|proxy_answers_total|upstream_h2_streams_total)' | paste -sd' ' | cut -c1-240)"

say "9. inspect it yourself"
echo "  $SHUNT --pin-dir $(node n1 pin_dir) status"
shunt_on n1 status | sed 's/^/    /'
echo "  bpftool map dump pinned $(node n1 pin_dir)/maps/shunt_workloads   (BTF: field names)"
bpftool map dump pinned "$(node n1 pin_dir)/maps/shunt_workloads" | sed -n '1,12s/^/    /p'
echo "    ..."
echo "  also: shunt workloads | services | policies | flows --follow | policy check; agent logs are JSON lines"
say "10. the service graph of every node: who called whom, and through what"
GRAPH_NODES=()
for n in $(jq -r '.nodes[].name' "$STATE"); do
	GRAPH_NODES+=(--node "$n,pin-dir=$(node "$n" pin_dir),proxy=127.0.0.1:9465,netns=$(node "$n" netns)")
done
GRAPH_SVG=$REPO/.output/demo-graph.svg
echo "  \$ shunt graph --node n1,pin-dir=$(node n1 pin_dir),proxy=127.0.0.1:9465,netns=$(node n1 netns) --node n2,... --format svg"
"$SHUNT" graph "${GRAPH_NODES[@]}" --format dot --output "${GRAPH_SVG%.svg}.dot" || true
if "$SHUNT" graph "${GRAPH_NODES[@]}" --format svg --output "$GRAPH_SVG"; then
	echo "  rendered by Graphviz to $GRAPH_SVG ($(wc -c <"$GRAPH_SVG") bytes), its DOT next to it;"
	echo "  --format json has every number (docs/telemetry.md); in short (--format text):"
fi
"$SHUNT" graph "${GRAPH_NODES[@]}" --format text | sed 's/^/    /' || true

say "11. the same numbers through Prometheus (Istio's metric names: its dashboards read them)"
prom_demo() {
	local port fwd n targets="" q
	command -v prometheus >/dev/null || { echo "  prometheus is not installed (make deps)"; return 0; }
	port=$(free_port) || return 0
	for n in $(jq -r '.nodes[].name' "$STATE"); do
		fwd=$(free_port) || return 0
		python3 "$REPO/tests/apps/netns_forward.py" --listen "127.0.0.1:$fwd" \
			--netns "/run/netns/$(node "$n" netns)" --to 127.0.0.1:9465 >"$WORK/forward.$n.log" 2>&1 &
		PIDS+=($!)
		targets+="{targets: [\"127.0.0.1:$fwd\"], labels: {node: $n}}, "
	done
	printf 'global: {scrape_interval: 1s, scrape_timeout: 900ms}\nscrape_configs:\n  - job_name: shunt-proxy\n    static_configs: [%s]\n' \
		"${targets%, }" >"$WORK/prometheus.yml"
	prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prom-data" \
		--web.listen-address="127.0.0.1:$port" >"$WORK/prometheus.log" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 100); do
		[ "$(curl -fsS "http://127.0.0.1:$port/api/v1/query" --data-urlencode 'query=count(up == 1)' 2>/dev/null |
			jq -r '.data.result[0].value[1] // 0')" = "$(jq '.nodes | length' "$STATE")" ] && break
		sleep 0.2
	done
	# Istio's destination_service is the backend's service: the canary's
	# web-v1 and web-v2, not the web route in front of them.
	q='sum by (destination_service_name, response_code) (istio_requests_total{reporter="source"})'
	echo "  \$ curl http://127.0.0.1:$port/api/v1/query --data-urlencode 'query=$q'"
	curl -fsS "http://127.0.0.1:$port/api/v1/query" --data-urlencode "query=$q" |
		jq -r '.data.result | sort_by(.metric.destination_service_name, .metric.response_code)[] |
			"    \(.metric.destination_service_name)\t\(.metric.response_code)\t\(.value[1])"' ||
		echo "  (no answer: $WORK/prometheus.log)"
}
free_port() {
	local p
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 30000))
		ss -Hantu "sport = :$p" | grep -q . || { echo "$p"; return 0; }
	done
	return 1
}
prom_demo

say "12. an upgrade: both node proxies replaced under traffic"
# A new proxy listens beside the old one (the same ports, SO_REUSEPORT);
# SIGTERM makes the old one drain: its listeners close (the kernel hands
# their queued connections to the new one), its clients and peers are told
# to go (HTTP/1.1 connection: close, HTTP/2 GOAWAY), and what is under way
# finishes. docs/proxy.md "Upgrades".
"$CLUSTER" exec $CLIENT -- wrk -t1 -c8 -d6s http://10.96.0.80/ >"$WORK/wrk-upgrade" 2>&1 &
wrk_pid=$!
grpc_demo --seconds 6 >"$WORK/grpc-upgrade" &
grpc_pid=$!
sleep 1
declare -A OLD_PROXY
for n in n1 n2; do
	old=${PROXY_PID[$n]}
	OLD_PROXY[$n]=$old
	start_proxy "$n"
	kill -TERM "$old"
	echo "  $n: a new proxy listens beside the old one ($old), which drains"
	sleep 1
done
wait $wrk_pid $grpc_pid
for n in n1 n2; do
	wait "${OLD_PROXY[$n]}" 2>/dev/null || true
	echo "  $n's old proxy: $(jq -rR 'fromjson? | select(.msg | startswith("proxy stopped")) | .msg' "$WORK/proxy-$n.log" | tail -1)"
done
echo "  wrk through the L7 proxies meanwhile: $(grep -oE '[0-9]+ requests in [0-9.]+s' "$WORK/wrk-upgrade")," \
	"$(grep -E 'Socket errors|Non-2xx' "$WORK/wrk-upgrade" | paste -sd' ' | sed 's/^$/no socket error, no non-2xx answer/')"
echo "  gRPC calls meanwhile: $(jq -c '{codes, served_by}' "$WORK/grpc-upgrade")"

if [ $KEEP = 1 ]; then
	echo
	echo "  the cluster is still up: scripts/cluster.sh exec $CLIENT -- bash; scripts/cluster.sh down when done"
else
	echo
	echo "  tearing down (use --keep to leave it up)"
fi
