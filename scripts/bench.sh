#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# make bench: same-node pod to pod, side by side in one run.
#
#   1. architectures: no mesh | shunt bypass | sidecars (iptables REDIRECT to
#      an haproxy in each pod, outbound and inbound, as Istio and Linkerd do):
#      64-byte request/response latency p50/p99, bulk throughput (1 MiB
#      writes), and CPU per unit of work.
#   2. message-size sweep, no mesh | shunt: streaming throughput and
#      request/response latency at 64 B .. 1 MiB, and 100 connections at 1 KiB.
#      Streams also run a reference, nomesh-cc: no mesh, but the client's
#      socket with the congestion control shunt gives same-node connections
#      (local_congestion), so the table shows the datapath apart from that
#      choice (docs/small-writes.md).
#   3. cross: pod to pod across nodes: plain TCP, shunt (kernel redirect to
#      the node proxies, mTLS), and two TLS tunnels people set up today the
#      same way, node to node: a stunnel pair and an haproxy TLS pair.
#      Throughput (1 MiB writes), 64-byte request/response, connection set-up
#      (connect, exchange, close), CPU per GB, and the proxies' peak memory.
#   4. tools: iperf3, sockperf, wrk and h2load against nginx, redis-benchmark
#      and shunt-perf between two same-node pods, each with no mesh, no mesh
#      with shunt's local_congestion (the pods' netns default), and shunt:
#      the congestion control's effect and the bypass's own effect as two
#      ratios, with the bypass counters of every shunt run
#      (scripts/bench-tools.sh).
#   5. control: connect latency (connect, 64-byte exchange, close) with no
#      mesh, with the mesh to a plain pod, and with the mesh through a service
#      address to a pod that policy protects; apply time of a config with
#      10,000 workloads, 2,000 services and 20,000 rules from scratch, and
#      of one-rule changes to it (agent log: file read to flip, and the
#      kernel update alone).
#   6. l7: HTTP/1.1 through L7 proxies, same node and across nodes: no mesh,
#      shunt's node proxies (appProtocol http), haproxy sidecars (Istio's
#      shape) and per-node haproxy, nginx and h2o: req/s per proxy
#      CPU-second, latency added at 1000 req/s, RSS with 1000 routes
#      (scripts/bench-l7.sh); and h2c end to end with h2load: no mesh,
#      shunt (appProtocol http2) and per-node haproxy (bench-l7-h2.sh).
#
# Cases run in interleaved rounds (a, b, c, a, b, c, ...) and each cell is the
# median of the rounds; the spread (max-min)/median is reported with it.
# Writes a table to stdout and everything to bench/results.json.
#
#   scripts/bench.sh [--rounds R] [--seconds S] [--quick] [--out FILE]
#                    [--only "arch sweep tools cross control l7 telemetry"] [--sizes "64 256"] (no many-conns row)
#
# BENCH_QUICK=1 is --quick (1 round of 1-s runs: a smoke test, not numbers).
# SHUNT_OUTPUT (build dir, default .output), SHUNT_CLUSTER_PREFIX (default
# shunt-bench) and SHUNT_CLUSTER_DIR let a second bench or test run beside it.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=3
SECONDS_PER=2
OUT=$REPO/bench/results.json
SECTIONS="arch sweep tools cross control l7 telemetry"
SIZES="64 256 1024 4096 16384 65536 1048576"
MANY=1
[ "${BENCH_QUICK:-0}" = 0 ] || { ROUNDS=1; SECONDS_PER=1; }
while [ $# -gt 0 ]; do
	case "$1" in
	--sizes) SIZES=$2; MANY=0; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--seconds) SECONDS_PER=$2; shift 2 ;;
	--quick) ROUNDS=1; SECONDS_PER=1; shift ;;
	--out) OUT=$2; shift 2 ;;
	--only) SECTIONS=$2; shift 2 ;;
	*) echo "bench.sh: unknown option $1" >&2; exit 2 ;;
	esac
done

BUILD=${SHUNT_OUTPUT:-$REPO/.output}
export SHUNT_CLUSTER_PREFIX=${SHUNT_CLUSTER_PREFIX:-shunt-bench}
export SHUNT_CLUSTER_DIR=${SHUNT_CLUSTER_DIR:-$BUILD/bench-cluster}
CLUSTER=$REPO/scripts/cluster.sh
SHUNT=$BUILD/bin/shunt
PERF=$BUILD/bin/shunt-perf
STATE=$SHUNT_CLUSTER_DIR/cluster.json
WORK=$(mktemp -d /tmp/shunt-bench.XXXXXX)
PIDS=()
# shellcheck source=scripts/bench-tools.sh
source "$REPO/scripts/bench-tools.sh"
# shellcheck source=scripts/bench-l7.sh
source "$REPO/scripts/bench-l7.sh"

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	QUIET=1 "$CLUSTER" down >/dev/null 2>&1 || true
	tools_cleanup
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "bench: $*" >&2; }
pod() { jq -r --arg p "$1" ".nodes[].pods[] | select(.name == \$p) | .$2" "$STATE"; }

QUIET=1 "$CLUSTER" down >/dev/null 2>&1 || true
QUIET=1 "$CLUSTER" up --nodes 2 --pods 3
PIN=$(jq -r '.nodes[0].pin_dir' "$STATE")
CG=$(jq -r '.nodes[0].cgroup' "$STATE")
CLI_IP=$(pod n1-p1 ipv4)
SRV_IP=$(pod n1-p2 ipv4)
POL_IP=$(pod n1-p3 ipv4)

# The cluster's mesh config with a service (10.96.0.50:80 -> n1-p3:9000)
# and a policy that makes n1-p3 admit only the client pod, on 9000. n1-p2
# is relabelled so that no policy selects it.
# Connect-per-request rounds open tens of thousands of connections from one
# pod: TIME_WAIT ports are reused (below), or connect() slows down searching
# for a free port.

MESH=$WORK/mesh.yaml
{
	sed '/^services:/,$d' "$SHUNT_CLUSTER_DIR/mesh.yaml" |
		sed '/name: n1-p2$/,/cgroup:/ s/app: echo/app: plain/'
	echo "services:"
	echo "  - {name: bench, virtualIPs: [10.96.0.50], ports: [{port: 80, targetPort: 9000}], backends: [{workload: n1-p3}]}"
	echo "policies:"
	echo "  - name: bench-in"
	echo "    podSelector: {matchLabels: {app: echo}}"
	echo "    ingress: [{from: [{podSelector: {matchLabels: {app: client}}}], ports: [{port: 9000}, {port: 9010}]}]"
} >"$MESH"
for n in n1 n2; do
	"$SHUNT" --pin-dir "$(jq -r --arg n $n '.nodes[] | select(.name == $n) | .pin_dir' "$STATE")" \
		agent --config "$MESH" --node $n \
		--cgroup "$(jq -r --arg n $n '.nodes[] | select(.name == $n) | .cgroup' "$STATE")" \
		--once --log-text >"$WORK/agent-$n.log" 2>&1 || { cat "$WORK/agent-$n.log" >&2; exit 1; }
done
# The client pod and the nodes (where the tunnels dial from) open tens of
# thousands of connections in the connect-per-request rounds.
for ns in "$(pod n1-p1 netns)" "$SHUNT_CLUSTER_PREFIX-n1" "$SHUNT_CLUSTER_PREFIX-n2"; do
	ip netns exec "$ns" sysctl -qw net.ipv4.tcp_tw_reuse=1 net.ipv4.ip_local_port_range="1024 65000"
done

# Extra datapath tunables for experiments, e.g. SHUNT_BENCH_CONFIG="small_streak=0".
[ -z "${SHUNT_BENCH_CONFIG:-}" ] || "$SHUNT" --pin-dir "$PIN" config $SHUNT_BENCH_CONFIG >/dev/null
LOCAL_CC=$("$SHUNT" --pin-dir "$PIN" --json config | jq -r .local_congestion)
STREAM_CONFIGS="nomesh shunt"
[ -n "$LOCAL_CC" ] && STREAM_CONFIGS="$STREAM_CONFIGS nomesh-cc"

start_server() { # WHERE PORT
	# shellcheck disable=SC2086
	"$CLUSTER" exec $1 -- "$PERF" server --listen "$2" >"$WORK/srv-${2##*:}.log" 2>&1 &
	PIDS+=($!)
	local i
	for ((i = 0; i < 100; i++)); do grep -q listening "$WORK/srv-${2##*:}.log" && return; sleep 0.05; done
	log "server on $2 did not start"
	exit 1
}

# The same server code three times: in the mesh, outside it, behind a sidecar.
start_server n1-p2 "$SRV_IP:9000"              # shunt
start_server n1-p3 "$POL_IP:9000"              # shunt, behind a service and a policy
X_IP=$(pod n2-p2 ipv4)
start_server n2-p2 "$X_IP:9010"                # across nodes, in the mesh
start_server "--outside n2-p2" "$X_IP:9011"    # across nodes, no mesh (and behind the TLS pairs)

# haproxy as a TCP proxy: NAME, BIND and SERVER (each with its options),
# then extra global lines.
haproxy_config() {
	local name=$1 bind=$2 server=$3 line
	shift 3
	printf 'global\n    maxconn 4000\n'
	for line in "$@"; do printf '    %s\n' "$line"; done
	printf 'defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 60s\n    timeout server 60s\n'
	printf 'listen %s\n    bind %s\n    server app %s\n' "$name" "$bind" "$server"
}

# Cross-node tunnels, all node to node: shunt's proxies (mTLS, per-workload
# certificates), a stunnel pair and an haproxy pair, TLS 1.3 with ECDSA
# P-256 certificates of the same CA, client certificates required.
TUNNEL_PIDS=()
cross_setup() {
	local ca=$WORK/ca n
	"$SHUNT" ca init --dir "$ca" >/dev/null
	"$SHUNT" ca issue --dir "$ca" --namespace bench --service-account client --out "$ca/client" >/dev/null
	"$SHUNT" ca issue --dir "$ca" --namespace bench --service-account server --out "$ca/server" >/dev/null
	cat "$ca/client.crt" "$ca/client.key" >"$ca/client.pem"
	cat "$ca/server.crt" "$ca/server.key" >"$ca/server.pem"
	for n in n1 n2; do
		"$CLUSTER" exec $n-proxy -- "$SHUNT" --pin-dir "$(jq -r --arg n $n '.nodes[] | select(.name == $n) | .pin_dir' "$STATE")" \
			proxy --node $n --ca "$ca" --metrics none >"$WORK/proxy-$n.log" 2>&1 &
		PIDS+=($!)
		TUNNEL_PIDS+=("shunt:$!")
	done
	if command -v stunnel >/dev/null; then
		printf 'foreground = yes\npid =\n[c]\nclient = yes\naccept = 10.100.1.1:9201\nconnect = 10.99.0.2:9443\ncert = %s\nkey = %s\nCAfile = %s\nverifyChain = yes\nsslVersionMin = TLSv1.3\n' \
			"$ca/client.crt" "$ca/client.key" "$ca/bundle.pem" >"$WORK/stunnel-c.conf"
		printf 'foreground = yes\npid =\n[s]\naccept = 10.99.0.2:9443\nconnect = %s:9011\ncert = %s\nkey = %s\nCAfile = %s\nverifyChain = yes\nsslVersionMin = TLSv1.3\n' \
			"$X_IP" "$ca/server.crt" "$ca/server.key" "$ca/bundle.pem" >"$WORK/stunnel-s.conf"
		"$CLUSTER" exec n1 -- stunnel "$WORK/stunnel-c.conf" >"$WORK/stunnel-c.log" 2>&1 &
		PIDS+=($!)
		TUNNEL_PIDS+=("stunnel:$!")
		"$CLUSTER" exec n2 -- stunnel "$WORK/stunnel-s.conf" >"$WORK/stunnel-s.log" 2>&1 &
		PIDS+=($!)
		TUNNEL_PIDS+=("stunnel:$!")
	fi
	local tls="ca-file $ca/bundle.pem verify required ssl-min-ver TLSv1.3"
	haproxy_config out 10.100.1.1:9301 "10.99.0.2:9444 ssl crt $ca/client.pem $tls" \
		>"$WORK/haproxy-c.cfg"
	haproxy_config in "10.99.0.2:9444 ssl crt $ca/server.pem $tls" "$X_IP:9011" \
		>"$WORK/haproxy-s.cfg"
	"$CLUSTER" exec n1 -- haproxy -db -f "$WORK/haproxy-c.cfg" >"$WORK/haproxy-c.log" 2>&1 &
	PIDS+=($!)
	TUNNEL_PIDS+=("haproxy:$!")
	"$CLUSTER" exec n2 -- haproxy -db -f "$WORK/haproxy-s.cfg" >"$WORK/haproxy-s.log" 2>&1 &
	PIDS+=($!)
	TUNNEL_PIDS+=("haproxy:$!")
	sleep 1
}
CROSS_CONFIGS="cross-plain cross-shunt cross-haproxy"
if [[ " $SECTIONS " == *" cross "* ]]; then
	cross_setup
	command -v stunnel >/dev/null && CROSS_CONFIGS="$CROSS_CONFIGS cross-stunnel"
fi
start_server "--outside n1-p2" "$SRV_IP:9001"  # no mesh: not under the mesh cgroup
start_server "--outside n1-p2" "127.0.0.1:9100" # sidecar: reached through haproxy

# Before the sidecars: their iptables rules bring conntrack into the pods'
# netns, which would tax the TCP configurations of this section.
[[ " $SECTIONS " != *" tools "* ]] || tools_section

# Sidecars: every pod gets an haproxy as uid 1337, and iptables sends the
# app's traffic through it both ways, like Istio's init container sets up.

sidecar_setup() {
	local cfg=$WORK/haproxy
	mkdir -p "$cfg"
	haproxy_config outbound 127.0.0.1:15001 "$SRV_IP:9100" "uid 1337" "gid 1337" "nbthread 1" \
		>"$cfg/out.cfg"
	haproxy_config inbound 0.0.0.0:15006 127.0.0.1:9100 "uid 1337" "gid 1337" "nbthread 1" \
		>"$cfg/in.cfg"
	ip netns exec "$(pod n1-p1 netns)" iptables -t nat -A OUTPUT -p tcp -d "$SRV_IP" --dport 9100 \
		-m owner ! --uid-owner 1337 -j REDIRECT --to-ports 15001
	ip netns exec "$(pod n1-p2 netns)" iptables -t nat -A PREROUTING -p tcp --dport 9100 \
		-j REDIRECT --to-ports 15006
	"$CLUSTER" exec --outside n1-p1 -- haproxy -db -f "$cfg/out.cfg" >"$WORK/haproxy-out.log" 2>&1 &
	PIDS+=($!)
	"$CLUSTER" exec --outside n1-p2 -- haproxy -db -f "$cfg/in.cfg" >"$WORK/haproxy-in.log" 2>&1 &
	PIDS+=($!)
	# Ready when a request makes it through both proxies.
	local i
	for ((i = 0; i < 50; i++)); do
		"$CLUSTER" exec --outside n1-p1 -- "$PERF" client --connect "$SRV_IP:9100" --mode rr \
			--size 64 --seconds 0.05 >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	log "sidecar path does not work; haproxy said:"
	cat "$WORK"/haproxy-*.log >&2
	return 1
}
SIDECAR=0
if [[ " $SECTIONS " != *" arch "* ]]; then
	: # only the architectures compare with sidecars
elif command -v haproxy >/dev/null && command -v iptables >/dev/null; then
	sidecar_setup && SIDECAR=1
else
	log "haproxy or iptables missing: no sidecar column (make deps)"
fi

busy_jiffies() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
HZ=$(getconf CLK_TCK)

# run_case CONFIG MODE SIZE CONNS -> JSON line with cpu_s added
run_case() {
	local config=$1 mode=$2 size=$3 conns=$4 where addr b0 b1 out extra=""
	case "$config" in
	nomesh) where="--outside n1-p1"; addr="$SRV_IP:9001" ;;
	nomesh-cc) where="--outside n1-p1"; addr="$SRV_IP:9001"; extra="--cc $LOCAL_CC" ;;
	shunt) where="n1-p1"; addr="$SRV_IP:9000" ;;
	shunt-svc-policy) where="n1-p1"; addr="10.96.0.50:80" ;;
	cross-plain) where="--outside n1-p1"; addr="$X_IP:9011" ;;
	cross-shunt) where="n1-p1"; addr="$X_IP:9010" ;;
	cross-stunnel) where="--outside n1-p1"; addr="10.100.1.1:9201" ;;
	cross-haproxy) where="--outside n1-p1"; addr="10.100.1.1:9301" ;;
	sidecar) where="--outside n1-p1"; addr="$SRV_IP:9100" ;;
	esac
	b0=$(busy_jiffies)
	# shellcheck disable=SC2086
	out=$("$CLUSTER" exec $where -- "$PERF" client --connect "$addr" --mode "$mode" \
		--size "$size" --seconds "$SECONDS_PER" --conns "$conns" $extra) || { log "$config $mode $size failed: $out"; out='{}'; }
	b1=$(busy_jiffies)
	jq -c --arg c "$config" --argjson cpu "$(echo "($b1 - $b0) / $HZ" | bc -l)" \
		'. + {config: $c, cpu_s: $cpu}' <<<"$out"
}

# Warm-up: the servers have shown how they read before anything is measured.
for m in rr stream; do
	run_case shunt $m 1024 1 >/dev/null
	run_case nomesh $m 1024 1 >/dev/null
done

RAW=$WORK/raw.jsonl
: >"$RAW"
record() { # SECTION CONFIG MODE SIZE CONNS ROUND
	run_case "$2" "$3" "$4" "$5" | jq -c --arg s "$1" --argjson r "$6" '. + {section: $s, round: $r}' >>"$RAW"
}

if [[ " $SECTIONS " == *" arch "* ]]; then
	configs="nomesh shunt"
	[ $SIDECAR = 1 ] && configs="$configs sidecar"
	for ((r = 1; r <= ROUNDS; r++)); do
		log "architectures, round $r/$ROUNDS"
		for c in $configs; do record arch "$c" rr 64 1 $r; done
		for c in $configs; do record arch "$c" stream 1048576 1 $r; done
	done
fi
if [[ " $SECTIONS " == *" sweep "* ]]; then
	for ((r = 1; r <= ROUNDS; r++)); do
		log "size sweep, round $r/$ROUNDS"
		for size in $SIZES; do
			for c in $STREAM_CONFIGS; do record sweep "$c" stream $size 1 $r; done
			for c in nomesh shunt; do record sweep "$c" rr $size 1 $r; done
		done
		[ $MANY = 1 ] || continue
		for c in $STREAM_CONFIGS; do record sweep "$c" stream 1024 100 $r; done
	done
fi

if [[ " $SECTIONS " == *" cross "* ]]; then
	for c in $CROSS_CONFIGS; do run_case "$c" rr 64 1 >/dev/null; done
	for ((r = 1; r <= ROUNDS; r++)); do
		log "across nodes, round $r/$ROUNDS"
		for c in $CROSS_CONFIGS; do record cross "$c" stream 1048576 1 $r; done
		for c in $CROSS_CONFIGS; do record cross "$c" rr 64 1 $r; done
		for c in $CROSS_CONFIGS; do record cross "$c" crr 64 1 $r; done
	done
fi
if [[ " $SECTIONS " == *" control "* ]]; then
	for ((r = 1; r <= ROUNDS; r++)); do
		log "connect latency, round $r/$ROUNDS"
		for c in nomesh shunt shunt-svc-policy; do record control "$c" crr 64 1 $r; done
	done
fi

# Medians per (section, config, mode, size, conns), spread, ratios to no mesh.
mkdir -p "$(dirname "$OUT")"
jq -s --arg kernel "$(uname -r)" --arg cc "$LOCAL_CC" --argjson rounds "$ROUNDS" --argjson secs "$SECONDS_PER" '
  def median: sort | if length == 0 then null elif length % 2 == 1 then .[length/2|floor]
                     else (.[length/2 - 1] + .[length/2]) / 2 end;
  def spread: if length < 2 or median == 0 then 0 else ((max - min) / median) end;
  def cell(f): (map(f) | {median: median, spread: spread, runs: .});
  def pairmed($a; $b): [range(0; [$a, $b] | map(length) | min) | select($a[.] != null and $b[.] != null and $b[.] != 0)
                      | $a[.] / $b[.]] | median;
  group_by([.section, .mode, .size, .conns, .config])
  | map({section: .[0].section, mode: .[0].mode, size: .[0].size, conns: .[0].conns,
         config: .[0].config,
         gbit_s: (if .[0].mode == "stream" then cell(.gbit_s) else null end),
         p50_us: (if .[0].mode != "stream" then cell(.p50_us) else null end),
         p99_us: (if .[0].mode != "stream" then cell(.p99_us) else null end),
         cpu_s_per_gbit: (if .[0].mode == "stream" then cell(.cpu_s / (.gbit_s * .seconds)) else null end),
         cpu_us_per_op: (if .[0].mode != "stream" then cell(.cpu_s * 1e6 / .ops) else null end)})
  | group_by([.section, .mode, .size, .conns])
  | map((map(select(.config == "nomesh" or .config == "cross-plain"))[0]) as $base
        | (map(select(.config == "nomesh-cc"))[0]) as $samecc
        | map(. + {ratio: (if .mode == "stream" then (.gbit_s.median / $base.gbit_s.median)
                           else (.p50_us.median / $base.p50_us.median) end),
                   p99_ratio: (if .mode != "stream" then (.p99_us.median / $base.p99_us.median) else null end),
                   # Rounds are interleaved, so a noisy moment hits both configs of a round:
                   # the median of per-round ratios is the steadier estimate.
                   paired: (if .mode == "stream" then {ratio: pairmed(.gbit_s.runs; $base.gbit_s.runs)}
                            else {ratio: pairmed(.p50_us.runs; $base.p50_us.runs),
                                  p99_ratio: pairmed(.p99_us.runs; $base.p99_us.runs)} end),
                   ratio_same_cc: (if .config == "shunt" and $samecc != null
                                   then (.gbit_s.median / $samecc.gbit_s.median) else null end)}))
  | flatten
  | {kernel: $kernel, rounds: $rounds, seconds_per_run: $secs,
     local_congestion: $cc,
     note: "ratio: throughput / no-mesh for stream rows, p50 latency / no-mesh for rr rows (medians of the rounds, then divided); paired: the median of per-round ratios (the rounds are interleaved); ratio_same_cc: shunt / nomesh-cc (no mesh, client socket with local_congestion)",
     results: .}' "$RAW" >"$OUT"

[[ " $SECTIONS " != *" tools "* ]] || tools_results

# Peak memory of each tunnel's processes (both ends), from /proc.
if [[ " $SECTIONS " == *" cross "* ]]; then
	mem='{}'
	for t in "${TUNNEL_PIDS[@]}"; do
		kib=$(awk '/^VmHWM:/ { print $2 }' "/proc/${t#*:}/status" 2>/dev/null || echo 0)
		mem=$(jq -c --arg k "${t%%:*}" --argjson v "${kib:-0}" '.[$k] = ((.[$k] // 0) + $v)' <<<"$mem")
	done
	jq --argjson m "$mem" '. + {cross_peak_memory_kib: $m}' "$OUT" >"$OUT.tmp" && mv "$OUT.tmp" "$OUT"
fi

# L7 comes after cross: it replaces the cross section's node proxies.
if [[ " $SECTIONS " == *" l7 "* ]]; then
	l7_section
	l7_results
fi

# Apply time at scale, on a second instance attached to an empty cgroup of
# its own (it carries no traffic and disturbs nothing above).
if [[ " $SECTIONS " == *" control "* ]]; then
	log "apply time: 10000 workloads, 2000 services, 20000 rules"
	SCALE_CG=$(jq -r .cgroup_root "$STATE")/$SHUNT_CLUSTER_PREFIX/scale
	SCALE_PIN=/sys/fs/bpf/$SHUNT_CLUSTER_PREFIX/scale
	mkdir -p "$SCALE_CG"
	for k in 1 2 3 4 5 6; do "$REPO/scripts/scale-config.sh" 10000 2000 20000 $k >"$WORK/scale$k.yaml"; done
	scratch=()
	for ((r = 1; r <= ROUNDS; r++)); do
		"$SHUNT" --pin-dir "$SCALE_PIN" unload >/dev/null 2>&1 || true
		"$SHUNT" --pin-dir "$SCALE_PIN" agent --config "$WORK/scale1.yaml" --node none \
			--cgroup "$SCALE_CG" --once >"$WORK/scale-once.log" 2>&1
		scratch+=("$(grep -o 'live [0-9.]* ms' "$WORK/scale-once.log" | awk '{ print $2 }')")
	done
	cp "$WORK/scale1.yaml" "$WORK/scale.yaml"
	"$SHUNT" --pin-dir "$SCALE_PIN" agent --config "$WORK/scale.yaml" --node none \
		--metrics none >"$WORK/scale-agent.log" 2>&1 &
	AGENT=$!
	PIDS+=($AGENT)
	sleep 1
	# Each step changes one rule; from the third on, the generation being
	# written is one this agent wrote, so only the difference goes in.
	for k in 2 3 4 5 6 2 3 4 5 6; do
		n=$(grep -c applied "$WORK/scale-agent.log" || true)
		cp "$WORK/scale$k.yaml" "$WORK/scale.yaml.tmp"
		mv "$WORK/scale.yaml.tmp" "$WORK/scale.yaml"
		for ((i = 0; i < 100; i++)); do
			[ "$(grep -c applied "$WORK/scale-agent.log" || true)" -gt "$n" ] && break
			sleep 0.05
		done
	done
	kill "$AGENT"
	wait "$AGENT" 2>/dev/null || true
	"$SHUNT" --pin-dir "$SCALE_PIN" unload >/dev/null 2>&1 || true
	rmdir "$SCALE_CG" 2>/dev/null || true
	change_total=$(grep 'the difference' "$WORK/scale-agent.log" | grep -o 'live [0-9.]* ms' | awk '{ print $2 }' | paste -sd' ')
	change_kernel=$(grep 'the difference' "$WORK/scale-agent.log" | grep -o 'of which [0-9.]* ms' | awk '{ print $3 }' | paste -sd' ')
	jq --arg s "${scratch[*]}" --arg t "$change_total" --arg k "$change_kernel" '
	  def nums: split(" ") | map(select(length > 0) | tonumber);
	  def median: sort | if length == 0 then null else .[length/2|floor] end;
	  . + {apply: {workloads: 10000, services: 2000, rules: 20000,
	   from_scratch_ms: ($s | nums | {median: median, runs: .}),
	   one_rule_change_total_ms: ($t | nums | {median: median, runs: .}),
	   one_rule_change_kernel_ms: ($k | nums | {median: median, runs: .})}}' "$OUT" >"$OUT.tmp"
	mv "$OUT.tmp" "$OUT"
fi

# Full telemetry against none on the same L7 proxy (scripts/bench-telemetry.sh,
# a cluster of its own: this one is down first, so nothing else runs).
if [[ " $SECTIONS " == *" telemetry "* ]]; then
	log "telemetry: full (access log + every request traced) and 1% traced vs off, same proxy"
	# at least 5 rounds: the goal is a 5% effect, and rounds drift by more
	TEL_ROUNDS=$((ROUNDS < 5 && ${BENCH_QUICK:-0} == 0 ? 5 : ROUNDS))
	QUIET=1 "$CLUSTER" down >/dev/null 2>&1 || true
	# the proxy's instructions: 10000 requests a setting (2000 quick)
	TEL_REQUESTS=${TEL_REQUESTS:-$([ "${BENCH_QUICK:-0}" = 0 ] && echo 10000 || echo 2000)} \
		TEL_JSON=$WORK/telemetry.json SHUNT_CLUSTER_PREFIX=$SHUNT_CLUSTER_PREFIX-tel \
		SHUNT_CLUSTER_DIR=$WORK/tel-cluster "$REPO/scripts/bench-telemetry.sh" "$TEL_ROUNDS" \
		$((SECONDS_PER * 2)) >"$WORK/telemetry.out" 2>&1 || {
		log "telemetry section failed:"
		tail -20 "$WORK/telemetry.out" >&2
		exit 1
	}
	jq --slurpfile t "$WORK/telemetry.json" '. + {telemetry: $t[0]}' "$OUT" >"$OUT.tmp" && mv "$OUT.tmp" "$OUT"
fi

fmt_row() {
	jq -r '.results[] | select(.section == $s)
	  | [.mode, (if .conns > 1 then "\(.size)x\(.conns)" else "\(.size)" end), .config,
	     (if .mode == "stream" then "\(.gbit_s.median*1000|floor/1000) Gbit/s" else "p50 \(.p50_us.median*10|floor/10) us" end),
	     (if .mode == "stream" then "" else "p99 \(.p99_us.median*10|floor/10) us" end),
	     (if .mode == "stream" then "cpu \(.cpu_s_per_gbit.median*1000|floor/1000) s/Gbit" else "cpu \(.cpu_us_per_op.median*10|floor/10) us/op" end),
	     "ratio \(.ratio*100|floor/100)x" + (if .mode != "stream" then " p99 \(.p99_ratio*100|floor/100)x" else "" end)
	       + (if .paired.ratio then " (paired \(.paired.ratio*100|floor/100)x" + (if .paired.p99_ratio then " p99 \(.paired.p99_ratio*100|floor/100)x" else "" end) + ")" else "" end),
	     "spread \((if .mode == "stream" then .gbit_s.spread else .p50_us.spread end)*100|floor)%",
	     (if .ratio_same_cc then "vs nomesh-cc \(.ratio_same_cc*100|floor/100)x" else "" end)]
	  | @tsv' --arg s "$1" "$OUT" | column -t -s $'\t'
}
echo
echo "shunt bench: kernel $(uname -r), $ROUNDS rounds of ${SECONDS_PER}s, medians (ratio vs no mesh)"
if [[ " $SECTIONS " == *" arch "* ]]; then
	echo
	echo "== same-node pod to pod: architectures =="
	fmt_row arch
fi
if [[ " $SECTIONS " == *" sweep "* ]]; then
	echo
	echo "== message-size sweep: no mesh vs shunt (nomesh-cc: no mesh, client socket with $LOCAL_CC) =="
	fmt_row sweep
fi
[[ " $SECTIONS " != *" tools "* ]] || tools_print
if [[ " $SECTIONS " == *" cross "* ]]; then
	echo
	echo "== across nodes: plain TCP, shunt mTLS proxies, haproxy and stunnel TLS pairs (ratio vs plain) =="
	fmt_row cross
	echo "peak memory, both ends (KiB): $(jq -c .cross_peak_memory_kib "$OUT")"
fi
if [[ " $SECTIONS " == *" control "* ]]; then
	echo
	echo "== control: connect latency (connect + 64 B exchange + close), ratio vs no mesh =="
	fmt_row control
	echo
	echo "== control: apply time, 10000 workloads / 2000 services / 20000 rules =="
	jq -r '.apply | "from scratch, file read to live:       median \(.from_scratch_ms.median) ms, runs \(.from_scratch_ms.runs)",
	  "one-rule change, kernel update:         median \(.one_rule_change_kernel_ms.median) ms, runs \(.one_rule_change_kernel_ms.runs)",
	  "one-rule change, file read to live:     median \(.one_rule_change_total_ms.median) ms (parsing the whole YAML file included)"' "$OUT"
fi
[[ " $SECTIONS " != *" l7 "* ]] || l7_print
if [[ " $SECTIONS " == *" telemetry "* ]]; then
	echo
	echo "== telemetry: full (every request logged and traced) / off, same L7 proxy, same node (goal >= 0.95x req/s) =="
	jq -r '.telemetry | "   \(.rounds) rounds of \(.seconds) s; ratios: the median of the rounds'"'"' (each round against its own off run), their range in brackets"' "$OUT"
	jq -r '.telemetry | (["h1", "HTTP/1.1 (wrk -c 64)"], ["h2", "h2c (h2load -c 64 -m 10)"]) as [$k, $name]
	  | def range(r): "[x\(r[0])-x\(r[1])]";
	    .[$k] | "\($name): \(.off_rps) -> \(.full_rps) req/s, x\(.rps_ratio) \(range(.rps_ratio_range)); per proxy CPU-s x\(.per_cpu_s_ratio) \(range(.per_cpu_s_ratio_range))",
	    "  every request logged, 1% traced (Istio'"'"'s default sampling): \(.sampled_rps) req/s, x\(.sampled_rps_ratio) \(range(.sampled_rps_ratio_range)); per proxy CPU-s x\(.sampled_per_cpu_s_ratio) \(range(.sampled_per_cpu_s_ratio_range))",
	    (.instructions_per_request | select(.off != null)
	     | "  proxy instructions per request (callgrind): off \(.off), full \(.full) (x\(.off / .full * 100 | floor / 100)), 1% traced \(.sampled) (x\(.off / .sampled * 100 | floor / 100))")' "$OUT"
fi
echo
echo "results: $OUT"
