# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
#
# Sourced by scripts/bench.sh: the "l7" section (docs/l7.md). HTTP/1.1 GETs
# of a 1 KiB file from nginx, client pod -> L7 proxy(ies) -> server pod,
# same node (n1-p1 -> n1-p2) and across nodes (n1-p1 -> n2-p2):
#
#   nomesh    straight to the server, no proxy (client and server outside
#             the mesh cgroup)
#   shunt-l7  the node proxies' L7 side: a service with appProtocol http,
#             the client (in the mesh) connects to its VIP; across nodes the
#             request goes over the node proxies' mTLS tunnel
#   sidecar   Istio's shape: an haproxy (mode http) in the client pod
#             (outbound) and one in each server pod (inbound), mutual TLS
#             between them (same node too), plaintext pod-local legs. The
#             client addresses its sidecar (127.0.0.1) instead of being
#             redirected by iptables: no conntrack in the pods' netns
#   haproxy, nginx, h2o
#             per-node L7 reverse proxies on the nodes: same node, client ->
#             node-1 proxy -> server; across nodes, client -> node-1 proxy
#             -TLS-> node-2 proxy -> server (mutual TLS for haproxy and
#             nginx; h2o 2.2 cannot present a client certificate upstream,
#             so its leg is server-authenticated TLS only)
#
# and over h2c with h2load: nomesh-h2, shunt-l7-h2 (appProtocol http2, h2c
# on both sides of the proxy), haproxy-h2 (scripts/bench-l7-h2.sh).
#
# Every proxy runs 2 worker threads (processes for nginx). Measured:
#   - req/s with wrk (64 connections, 2 threads) and the proxies' CPU over
#     the run (utime + stime of every proxy process of the configuration and
#     its children, from /proc): req/s per CPU-second;
#   - latency at a fixed 1000 req/s on 16 keep-alive connections
#     (shunt-http-rate, measured from each request's scheduled time), and the
#     latency added to nomesh's;
#   - the proxy's RSS with 1000 services and 1000 httpRoutes (shunt), and
#     haproxy's with 1000 backends and path ACLs.
# A row is only measured once a request through it showed it went through
# its proxies (headers they add, shunt's shunt_l7_requests_total); every
# shunt run must move that counter by at least wrk's request count, and
# every other run must have used CPU in each proxy on its path.
#
# The peers are set up by scripts/bench-l7-peers.sh.
#
# Uses from bench.sh: CLUSTER SHUNT BUILD PIN WORK PIDS TUNNEL_PIDS ROUNDS
# SECONDS_PER SRV_IP X_IP OUT SIDECAR MESH STATE, log and pod.

# shellcheck source=scripts/bench-l7-peers.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench-l7-peers.sh"
# shellcheck source=scripts/bench-l7-h2.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench-l7-h2.sh"

L7_CONFIGS=(nomesh shunt-l7 sidecar haproxy nginx h2o nomesh-h2 shunt-l7-h2 haproxy-h2)
L7_PEERS="haproxy nginx h2o haproxy-h2" # the best of the same protocol is the reference
L7_READY=()   # configs whose path was verified
L7_SKIPPED=() # "config: reason"
L7_NODE1=10.100.1.1 # node 1's pod-facing address
L7_NODE2=10.99.0.2  # node 2's underlay address
L7_VIP_SAME=10.96.0.90
L7_VIP_CROSS=10.96.0.91
L7_ROUTES=1000
L7_RATE=1000
L7_CONNS=64
declare -A L7_PROCS=() # config -> PIDs of its proxy processes
declare -A L7_PATH=()  # config/topology -> PIDs that must have used CPU
L7_RAW=""
L7_MEM=""

l7_skip() { # CONFIG REASON
	L7_SKIPPED+=("$1: $2")
	log "l7: skipping $1: $2"
}

l7_addr() { # CONFIG TOPOLOGY -> ADDR:PORT the client connects to
	local same=2
	if [ "$2" = same ]; then same=1; fi
	case "$1" in
	nomesh) if [ "$2" = same ]; then echo "$SRV_IP:8281"; else echo "$X_IP:8281"; fi ;;
	shunt-l7) if [ "$2" = same ]; then echo "$L7_VIP_SAME:80"; else echo "$L7_VIP_CROSS:80"; fi ;;
	sidecar) echo "127.0.0.1:1510$same" ;;
	haproxy) echo "$L7_NODE1:1610$same" ;;
	nginx) echo "$L7_NODE1:1620$same" ;;
	h2o) echo "$L7_NODE1:1630$same" ;;
	*-h2) l7_h2_addr "$@" ;;
	esac
}

l7_exec() { # CONFIG CMD...: CMD as CONFIG's client in n1-p1
	local config=$1
	shift
	if [[ $config == shunt-l7* ]]; then
		"$CLUSTER" exec n1-p1 -- "$@"
	else
		"$CLUSTER" exec --outside n1-p1 -- "$@"
	fi
}

# utime + stime (+ those of reaped children) of PIDs and their descendants, in ticks.
l7_ticks() {
	local todo=("$@") p sum=0 t
	while [ ${#todo[@]} -gt 0 ]; do
		p=${todo[0]}
		todo=("${todo[@]:1}")
		t=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 + $14 + $15 }' || true)
		sum=$((sum + ${t:-0}))
		# shellcheck disable=SC2207
		todo+=($(pgrep -P "$p" || true))
	done
	echo "$sum"
}

# Summed FIELD (KiB) of PIDs and their children: VmRSS or VmHWM from
# status, or Pss (shared pages split between the processes) from smaps_rollup.
l7_kib() { # FIELD PID...
	local field=$1 p sum=0 k file=status
	shift
	[ "$field" = Pss ] && file=smaps_rollup
	for p in "$@" $(for q in "$@"; do pgrep -P "$q" || true; done); do
		k=$(awk -v f="$field:" '$1 == f { print $2 }' "/proc/$p/$file" 2>/dev/null || true)
		sum=$((sum + ${k:-0}))
	done
	echo "$sum"
}

l7_metric() { # NODE NAME: a counter of NODE's shunt proxy
	ip netns exec "$SHUNT_CLUSTER_PREFIX-$1" curl -fsS -m 5 http://127.0.0.1:9465/metrics 2>/dev/null |
		awk -v m="$2" '$1 == m { print $2 }' || true
}

l7_wait_port() { # NETNS PORT
	local i
	for ((i = 0; i < 100; i++)); do
		[ -n "$(ip netns exec "$1" ss -Hltn "sport = :$2")" ] && return 0
		sleep 0.05
	done
	return 1
}

l7_start() { # NAME WHERE CMD...: a process of this section, its PID in L7_PID
	local name=$1 where=$2
	shift 2
	: >"$WORK/l7-$name.log"
	# shellcheck disable=SC2086
	"$CLUSTER" exec $where -- "$@" >"$WORK/l7-$name.log" 2>&1 &
	L7_PID=$!
	PIDS+=("$L7_PID")
}

# nginx as the server: 1 KiB files, keep-alive without a request limit;
# HTTP/1.1 on PORT, h2c (HTTP/2 with prior knowledge) on PORT + 2.
l7_server() { # NAME WHERE IP PORT
	local dir=$WORK/l7-srv-$1 t
	mkdir -p "$dir/tmp"
	{
		printf 'daemon off;\nmaster_process off;\nworker_processes 1;\n'
		printf 'pid %s/nginx.pid;\nerror_log %s/error.log;\n' "$dir" "$dir"
		printf 'events { worker_connections 4096; }\nhttp {\n    access_log off;\n'
		printf '    keepalive_requests 1000000;\n    keepalive_timeout 300s;\n'
		for t in client_body proxy fastcgi uwsgi scgi; do printf '    %s_temp_path %s/tmp;\n' $t "$dir"; done
		printf '    server {\n        listen %s:%s;\n        listen %s:%s http2;\n        root %s/l7-www;\n    }\n}\n' \
			"$3" "$4" "$3" $(($4 + 2)) "$WORK"
	} >"$dir/nginx.conf"
	l7_start "srv-$1" "$2" nginx -c "$dir/nginx.conf" -e "$dir/error.log"
	l7_wait_port "$(pod "${2##* }" netns)" "$4" && l7_wait_port "$(pod "${2##* }" netns)" $(($4 + 2))
}

# The bench's mesh config plus the L7 services (a same-node and a
# cross-node endpoint), ingress to them, and with ROUTES > 0 that many more
# services, each with an httpRoute.
l7_mesh_config() { # ROUTES
	local i
	sed '/^services:$/q' "$MESH"
	echo "  - {name: l7-same, virtualIPs: [$L7_VIP_SAME], ports: [{name: http, port: 80, targetPort: 8280, appProtocol: http}], backends: [{workload: n1-p2}]}"
	echo "  - {name: l7-cross, virtualIPs: [$L7_VIP_CROSS], ports: [{name: http, port: 80, targetPort: 8280, appProtocol: http}], backends: [{workload: n2-p2}]}"
	l7_h2_services
	for ((i = 0; i < $1; i++)); do
		echo "  - {name: r$i, virtualIPs: [10.97.$((i / 250)).$((i % 250 + 1))], ports: [{name: http, port: 80, targetPort: 8280, appProtocol: http}], backends: [{workload: n$((i % 2 + 1))-p2}]}"
	done
	sed '1,/^services:$/d' "$MESH"
	echo "  - name: l7-in"
	echo "    podSelector: {matchLabels: {app: echo}}"
	echo "    ingress: [{from: [{podSelector: {matchLabels: {app: client}}}], ports: [{port: 8280}, {port: 8282}]}]"
	[ "$1" -gt 0 ] || return 0
	echo "httpRoutes:"
	for ((i = 0; i < $1; i++)); do
		echo "  - name: r$i"
		echo "    parentRefs: [{name: r$i, port: 80}]"
		echo "    rules:"
		echo "      - matches: [{path: {type: PathPrefix, value: /v$i}, headers: [{name: x-canary, value: \"yes\"}]}]"
		echo "        backendRefs: [{name: l7-cross, port: 80}]"
		echo "      - matches: [{path: {type: PathPrefix, value: /}}]"
		echo "        backendRefs: [{name: r$i, port: 80}]"
	done
}

l7_agents() { # CONFIG_FILE: both agents apply it once
	local n
	for n in n1 n2; do
		"$SHUNT" --pin-dir "$(jq -r --arg n $n '.nodes[] | select(.name == $n) | .pin_dir' "$STATE")" \
			agent --config "$1" --node $n \
			--cgroup "$(jq -r --arg n $n '.nodes[] | select(.name == $n) | .cgroup' "$STATE")" \
			--once --log-text >"$WORK/l7-agent-$n.log" 2>&1 || { cat "$WORK/l7-agent-$n.log" >&2; return 1; }
	done
}

l7_proxy_start() { # NODE: shunt's node proxy, 2 threads, metrics on the node's loopback
	local n=$1 i
	l7_start "proxy-$n" "$n-proxy" "$SHUNT" --pin-dir \
		"$(jq -r --arg n "$n" '.nodes[] | select(.name == $n) | .pin_dir' "$STATE")" \
		proxy --node "$n" --ca "$WORK/l7-ca" --threads 2
	for ((i = 0; i < 100; i++)); do
		grep -q '"started"' "$WORK/l7-proxy-$n.log" && return 0
		sleep 0.1
	done
	log "l7: shunt proxy $n did not start: $(tail -2 "$WORK/l7-proxy-$n.log")"
	return 1
}

l7_shunt_setup() {
	local t
	# The cross section's proxies (its numbers and memory are read by now)
	# hold the proxy ports.
	for t in "${TUNNEL_PIDS[@]}"; do
		[ "${t%%:*}" = shunt ] || continue
		kill "${t#*:}" 2>/dev/null || true
		wait "${t#*:}" 2>/dev/null || true
	done
	"$SHUNT" ca init --dir "$WORK/l7-ca" >/dev/null || return 1
	l7_mesh_config 0 >"$WORK/l7-mesh.yaml"
	l7_agents "$WORK/l7-mesh.yaml" || return 1
	l7_proxy_start n1 || return 1
	L7_PROCS["shunt-l7"]=$L7_PID
	L7_PATH["shunt-l7/same"]=$L7_PID
	L7_PATH["shunt-l7/cross"]=$L7_PID
	l7_proxy_start n2 || return 1
	L7_PROCS["shunt-l7"]+=" $L7_PID"
	L7_PATH["shunt-l7/cross"]+=" $L7_PID"
}

# What the x-bench-via headers of a response through CONFIG must be.
l7_via() { # CONFIG TOPOLOGY
	local n=2
	if [ "$2" = same ]; then n=1; fi
	case "$1" in
	sidecar) echo "sidecar-in-n$n sidecar-out" ;;
	haproxy | nginx | h2o | haproxy-h2) if [ "$2" = same ]; then echo "$1-n1"; else echo "$1-n1 $1-n2"; fi ;;
	*) echo "" ;;
	esac
}

# One request through CONFIG shows its path: 200, 1 KiB, HTTP/2 for -h2
# configs, each proxy's header (shunt: its counters moved, l7_h2_streams).
l7_verify() { # CONFIG
	local c=$1 t got m0 m1 s0 s1 why v=1.1 h2=()
	[[ $c != *-h2 ]] || { v=2; h2=(--http2-prior-knowledge); }
	for t in same cross; do
		m0=$(l7_metric n1 shunt_l7_requests_total)
		s0=$(l7_metric n1 shunt_l7_upstream_h2_streams_total)
		got=$(l7_exec "$c" curl "${h2[@]}" -sS -m 5 -o /dev/null \
			-w '%{http_code} %{size_download} %{http_version}\n%{header_json}' \
			"http://$(l7_addr "$c" "$t")/1k" 2>&1) || { echo "$t: $got"; return 1; }
		m1=$(l7_metric n1 shunt_l7_requests_total)
		s1=$(l7_metric n1 shunt_l7_upstream_h2_streams_total)
		[ "$(head -1 <<<"$got")" = "200 1024 $v" ] ||
			{ echo "$t: answered $(head -1 <<<"$got") (status, bytes, HTTP version)"; return 1; }
		got=$(tail -n +2 <<<"$got" | jq -r '(."x-bench-via" // []) | sort | join(" ")')
		[ "$got" = "$(l7_via "$c" "$t")" ] ||
			{ echo "$t: x-bench-via is '$got', not '$(l7_via "$c" "$t")'"; return 1; }
		if [[ $c == shunt-l7* ]] && [ "${m1:-0}" -le "${m0:-0}" ]; then
			echo "$t: shunt_l7_requests_total did not move ($m0 -> $m1)"
			return 1
		fi
		if [[ $c != shunt-l7* ]] && [ "${m1:-0}" != "${m0:-0}" ]; then
			echo "$t: went through shunt's L7 side ($m0 -> $m1)"
			return 1
		fi
		why=$(l7_h2_streams "$c" "$t" "$s0" "$s1" 1) || { echo "$t: $why"; return 1; }
	done
}

l7_setup() {
	local c why
	L7_RAW=$WORK/l7.jsonl
	: >"$L7_RAW"
	L7_SECS=$(echo "s = $SECONDS_PER + 0.5; scale = 0; s / 1" | bc)
	[ "$L7_SECS" -ge 1 ] || L7_SECS=1
	# The arch section's sidecar redirects are done with: they would keep
	# conntrack in the client's and server's netns.
	if [ "${SIDECAR:-0}" = 1 ]; then
		for c in n1-p1 n1-p2; do
			ip netns exec "$(pod $c netns)" iptables -t nat -F || true
			ip netns exec "$(pod $c netns)" nft delete table ip nat 2>/dev/null || true
		done
	fi
	mkdir -p "$WORK/l7-www"
	head -c 1024 /dev/urandom | base64 -w 0 | head -c 1024 >"$WORK/l7-www/1k"
	command -v wrk >/dev/null || { l7_skip all "wrk not installed (make deps)"; return 1; }
	[ -x "$BUILD/bin/shunt-http-rate" ] || { l7_skip all "no $BUILD/bin/shunt-http-rate (make all)"; return 1; }
	l7_certs || { l7_skip all "openssl could not make the certificates"; return 1; }
	if ! { l7_server mesh-n1 n1-p2 "$SRV_IP" 8280 && l7_server plain-n1 "--outside n1-p2" "$SRV_IP" 8281 &&
		l7_server mesh-n2 n2-p2 "$X_IP" 8280 && l7_server plain-n2 "--outside n2-p2" "$X_IP" 8281; }; then
		l7_skip all "the nginx servers did not start: $(cat "$WORK"/l7-srv-*/error.log | tail -2)"
		return 1
	fi
	for c in "${L7_CONFIGS[@]}"; do
		if [[ $c == *-h2 ]] && ! command -v h2load >/dev/null; then
			l7_skip "$c" "h2load not installed (make deps: nghttp2-client)"
			continue
		fi
		case "$c" in
		nomesh | nomesh-h2) ;;
		shunt-l7) l7_shunt_setup || { l7_skip "$c" "the agents or proxies did not start"; continue; } ;;
		shunt-l7-h2) l7_shunt_l7_h2_setup || { l7_skip "$c" "the shunt-l7 proxies did not start"; continue; } ;;
		sidecar | haproxy | nginx | h2o | haproxy-h2)
			local tool=${c%-h2}
			[ "$c" = sidecar ] && tool=haproxy
			command -v "$tool" >/dev/null || { l7_skip "$c" "$tool not installed (make deps)"; continue; }
			"l7_${c//-/_}_setup" || { l7_skip "$c" "did not start: $(tail -q -n 2 "$WORK"/l7-"$c"*.log | tr '\n' ' ')"; continue; }
			;;
		esac
		if ! why=$(l7_verify "$c"); then
			l7_skip "$c" "its path does not work as configured: $why"
			continue
		fi
		L7_READY+=("$c")
	done
}

# Per-PID ticks, to check that every proxy on the path did work.
l7_path_ticks() { # CONFIG TOPOLOGY
	local p
	for p in ${L7_PATH[$1/$2]:-}; do l7_ticks "$p"; done | paste -sd' '
}

l7_path_used() { # BEFORE AFTER: every PID's ticks grew
	local -a b a
	local i
	read -ra b <<<"$1"
	read -ra a <<<"$2"
	for i in "${!b[@]}"; do [ "${a[$i]:-0}" -gt "${b[$i]}" ] || return 1; done
}

# CONFIG's client: KIND load (wrk, 64 connections), rate (shunt-http-rate
# at 1000 req/s) or warm (1 s of wrk); -h2 configs: h2load (bench-l7-h2.sh).
l7_client() { # KIND CONFIG ADDR
	case "$2/$1" in
	*-h2/*) l7_h2_client "$@" ;;
	*/load) l7_exec "$2" wrk -t2 -c$L7_CONNS -d"${L7_SECS}s" "http://$3/1k" 2>&1 || echo "wrk failed" ;;
	*/warm) l7_exec "$2" wrk -t1 -c8 -d1s "http://$3/1k" >/dev/null 2>&1 || true ;;
	*)
		l7_exec "$2" "$BUILD/bin/shunt-http-rate" --connect "$3" --rate $L7_RATE \
			--seconds "$L7_SECS" --conns 16 --path /1k 2>&1 || echo "shunt-http-rate failed"
		;;
	esac
}

# The client's output -> a JSON object with .requests (answered) and .rps
# (load) or the latency percentiles (rate); fails, saying why, when a
# request failed.
l7_parse() { # KIND CONFIG < output
	local out
	if [[ $2 == *-h2 ]]; then
		l7_h2_parse "$1"
		return
	fi
	out=$(cat)
	if [ "$1" = load ]; then
		if ! grep -q '^Requests/sec:' <<<"$out" || grep -qE 'Non-2xx|Socket errors' <<<"$out"; then
			echo "wrk: $(tr '\n' ' ' <<<"$out" | tail -c 300)"
			return 1
		fi
		awk '/requests in/ { n = $1 } /^Requests\/sec:/ { r = $2 } END { printf "{\"rps\": %s, \"requests\": %s}\n", r, n }' <<<"$out"
	elif jq -e '.errors == 0 and .ok > 0' <<<"$out" >/dev/null 2>&1; then
		jq -c '. + {requests: .ok}' <<<"$out"
	else
		echo "shunt-http-rate: $(tr '\n' ' ' <<<"$out" | tail -c 300)"
		return 1
	fi
}

# One run of KIND (load or rate, l7_client) as CONFIG over TOPOLOGY; a JSON
# line to L7_RAW if the run went through the configuration's proxies.
l7_run() { # KIND CONFIG TOPOLOGY ROUND
	local kind=$1 c=$2 t=$3 addr t0 t1 p0 p1 m0 m1 s0 s1 out n json why
	addr=$(l7_addr "$c" "$t")
	m0=$(l7_metric n1 shunt_l7_requests_total)
	s0=$(l7_metric n1 shunt_l7_upstream_h2_streams_total)
	p0=$(l7_path_ticks "$c" "$t")
	# shellcheck disable=SC2086
	t0=$(l7_ticks ${L7_PROCS[$c]:-})
	out=$(l7_client "$kind" "$c" "$addr")
	# shellcheck disable=SC2086
	t1=$(l7_ticks ${L7_PROCS[$c]:-})
	p1=$(l7_path_ticks "$c" "$t")
	m1=$(l7_metric n1 shunt_l7_requests_total)
	s1=$(l7_metric n1 shunt_l7_upstream_h2_streams_total)
	json=$(l7_parse "$kind" "$c" <<<"$out") || { log "l7: $c $t: $json: run discarded"; return 0; }
	n=$(jq .requests <<<"$json")
	if [[ $c == shunt-l7* ]] && [ $((${m1:-0} - ${m0:-0})) -lt "$n" ]; then
		log "l7: $c $t: shunt counted $((${m1:-0} - ${m0:-0})) requests of $n: run discarded"
		return 0
	fi
	why=$(l7_h2_streams "$c" "$t" "$s0" "$s1" "$n") || { log "l7: $c $t: $why: run discarded"; return 0; }
	if ! l7_path_used "$p0" "$p1"; then
		log "l7: $c $t: a proxy on the path used no CPU ($p0 -> $p1): run discarded"
		return 0
	fi
	jq -c --arg kind "$kind" --arg c "$c" --arg t "$t" --argjson r "$4" --argjson n "$n" \
		--argjson secs "$L7_SECS" --argjson cpu "$(echo "($t1 - $t0) / $(getconf CLK_TCK)" | bc -l)" \
		'. + {kind: $kind, config: $c, topology: $t, round: $r, requests: $n, seconds: $secs,
		      cpu_s: $cpu} | . + {cpu_us_per_request: (if $n > 0 then $cpu * 1e6 / $n else null end)}' \
		<<<"$json" >>"$L7_RAW" || log "l7: $c $t: cannot record $json"
}

# Requests to the first N of the generated routes from the client pod;
# prints how many were answered 200.
l7_route_requests() { # N
	local vips="" i
	for ((i = 0; i < $1; i++)); do vips+=" 10.97.$((i / 250)).$((i % 250 + 1))"; done
	"$CLUSTER" exec n1-p1 -- bash -c "for v in $vips; do curl -s -m 5 -o /dev/null -w '%{http_code}\n' http://\$v/1k; done" |
		grep -c '^200$' || true
}

# Memory with 1000 routes: shunt's node-1 proxy, started again once the
# agents applied 1000 more services with an httpRoute each, after it loaded
# them and after requests to 200 routes and 1 s at 1000 req/s; haproxy with
# 1000 backends chosen by path ACLs, the same way.
l7_rss() {
	local loaded ok after hwm d=$WORK/l7-haproxy-routes i hp h_loaded h_after h_hwm old base
	old=${L7_PROCS["shunt-l7"]%% *}
	base=$(l7_kib VmRSS "$old")
	l7_mesh_config $L7_ROUTES >"$WORK/l7-mesh-routes.yaml"
	l7_agents "$WORK/l7-mesh-routes.yaml" || { l7_skip rss "the agents refused $L7_ROUTES routes"; return 0; }
	kill "$old" 2>/dev/null || true
	wait "$old" 2>/dev/null || true
	mv "$WORK/l7-proxy-n1.log" "$WORK/l7-proxy-n1.before-routes.log"
	l7_proxy_start n1 || { l7_skip rss "the proxy did not start with $L7_ROUTES routes"; return 0; }
	sleep 1
	loaded=$(l7_kib VmRSS "$L7_PID")
	ok=$(l7_route_requests 200)
	"$CLUSTER" exec n1-p1 -- "$BUILD/bin/shunt-http-rate" --connect 10.97.0.1:80 --rate $L7_RATE \
		--seconds 1 --conns 16 --path /1k >/dev/null 2>&1 || true
	after=$(l7_kib VmRSS "$L7_PID")
	hwm=$(l7_kib VmHWM "$L7_PID")
	L7_MEM=$(jq -nc --argjson r $L7_ROUTES --argjson l "$loaded" --argjson a "$after" --argjson h "$hwm" \
		--argjson ok "$ok" --argjson b "$base" '{shunt: {routes: $r, rss_loaded_kib: $l,
		  rss_after_requests_kib: $a, peak_kib: $h, requests_ok: $ok, requests: 200,
		  rss_bench_config_after_runs_kib: $b}}')
	command -v haproxy >/dev/null || return 0
	mkdir -p "$d"
	{
		l7_haproxy_cfg </dev/null
		printf 'frontend routes\n    bind %s:16401\n' "$L7_NODE1"
		for ((i = 0; i < L7_ROUTES; i++)); do printf '    use_backend b%d if { path_beg /r%d/ }\n' $i $i; done
		for ((i = 0; i < L7_ROUTES; i++)); do
			printf 'backend b%d\n    http-request set-path /1k\n    server s %s:8281\n' $i "$SRV_IP"
		done
	} >"$d/haproxy.cfg"
	l7_start haproxy-routes n1 haproxy -db -f "$d/haproxy.cfg"
	hp=$L7_PID
	l7_wait_port "$SHUNT_CLUSTER_PREFIX-n1" 16401 || { l7_skip "haproxy rss" "did not start"; return 0; }
	sleep 1
	h_loaded=$(l7_kib VmRSS "$hp")
	ok=$("$CLUSTER" exec --outside n1-p1 -- bash -c "for i in \$(seq 0 5 999); do curl -s -m 5 -o /dev/null -w '%{http_code}\n' http://$L7_NODE1:16401/r\$i/x; done" |
		grep -c '^200$' || true)
	"$CLUSTER" exec --outside n1-p1 -- "$BUILD/bin/shunt-http-rate" --connect "$L7_NODE1:16401" \
		--rate $L7_RATE --seconds 1 --conns 16 --path /r7/x >/dev/null 2>&1 || true
	h_after=$(l7_kib VmRSS "$hp")
	h_hwm=$(l7_kib VmHWM "$hp")
	kill "$hp" 2>/dev/null || true
	wait "$hp" 2>/dev/null || true
	L7_MEM=$(jq -c --argjson r $L7_ROUTES --argjson l "$h_loaded" --argjson a "$h_after" --argjson h "$h_hwm" \
		--argjson ok "$ok" '. + {haproxy: {routes: $r, rss_loaded_kib: $l, rss_after_requests_kib: $a,
		  peak_kib: $h, requests_ok: $ok, requests: 200}}' <<<"$L7_MEM")
}

l7_section() {
	local r k c t i n
	l7_setup || return 0
	n=${#L7_READY[@]}
	log "l7: configurations: ${L7_READY[*]}; warm-up"
	for c in "${L7_READY[@]}"; do
		for t in same cross; do l7_client warm "$c" "$(l7_addr "$c" "$t")"; done
	done
	L7_SMALL_MEM='{}'
	for ((r = 1; r <= ROUNDS; r++)); do
		log "l7, round $r/$ROUNDS"
		for k in load rate; do
			for t in same cross; do
				for ((i = 0; i < n; i++)); do
					c=${L7_READY[$(((i + r - 1) % n))]}
					l7_run "$k" "$c" "$t" "$r"
				done
			done
		done
	done
	for c in "${L7_READY[@]}"; do
		# shunt-l7-h2 runs on shunt-l7's proxies.
		if [ -z "${L7_PROCS[$c]:-}" ] || [ "$c" = shunt-l7-h2 ]; then continue; fi
		# shellcheck disable=SC2086
		L7_SMALL_MEM=$(jq -c --arg c "$c" --argjson k "$(l7_kib Pss ${L7_PROCS[$c]})" '.[$c] = $k' <<<"$L7_SMALL_MEM")
	done
	log "l7: memory with $L7_ROUTES routes"
	if [[ " ${L7_READY[*]} " == *" shunt-l7 "* ]]; then l7_rss; fi
}

# Adds .l7 to $OUT: per configuration and topology the medians, ratios to
# the best peer, latency added to nomesh's, memory, goals.
l7_results() {
	local skipped raw=${L7_RAW:-}
	if [ -z "$raw" ] || [ ! -f "$raw" ]; then
		raw=$WORK/l7-empty.jsonl
		: >"$raw"
	fi
	skipped=$(printf '%s\n' "${L7_SKIPPED[@]}" | jq -Rsc 'split("\n") | map(select(length > 0))')
	jq --slurpfile raw "$raw" --argjson skipped "$skipped" --argjson mem "${L7_MEM:-null}" \
		--argjson small "${L7_SMALL_MEM:-null}" --argjson rounds "$ROUNDS" --argjson secs "${L7_SECS:-0}" \
		--argjson conns $L7_CONNS --argjson rate $L7_RATE --arg configs "${L7_CONFIGS[*]}" \
		--arg peers "$L7_PEERS" '
	  def median: sort | if length == 0 then null elif length % 2 == 1 then .[length/2|floor]
	                     else (.[length/2 - 1] + .[length/2]) / 2 end;
	  def cell(f): map(f) | map(select(. != null)) | {median: median, runs: .};
	  def minus($a; $b): if $a == null or $b == null then null else $a - $b end;
	  def goal($name; $topo; $value; $unit; $target; $ok):
	    {goal: $name, topology: $topo, value: $value, unit: $unit, target: $target,
	     met: (if $value == null then null else $ok end)};
	  ($peers | split(" ")) as $peer_names
	  | [($configs | split(" "))[] as $c | ("same", "cross") as $t
	     | ($raw | map(select(.config == $c and .topology == $t and .kind == "load"))) as $l
	     | ($raw | map(select(.config == $c and .topology == $t and .kind == "rate"))) as $q
	     | select(($l | length) + ($q | length) > 0)
	     | {config: $c, topology: $t, protocol: (if $c | endswith("-h2") then "h2c" else "http/1.1" end),
	        rps: ($l | cell(.rps)),
	        rps_per_cpu_s: ($l | cell(if .cpu_s > 0 then .requests / .cpu_s else null end)),
	        cpu_s: ($l | cell(.cpu_s)),
	        p50_us: ($q | cell(.p50_us)), p90_us: ($q | cell(.p90_us)), p99_us: ($q | cell(.p99_us)),
	        max_us: ($q | cell(.max_us)),
	        cpu_us_per_request_at_rate: ($q | cell(.cpu_us_per_request)), achieved_rps: ($q | cell(.achieved_rps))}] as $rows
	  | ($rows | map(. as $row
	      | [$rows[] | select(.topology == $row.topology and .protocol == $row.protocol)] as $same
	      | ([$same[] | select((.config as $x | $peer_names | index($x)) != null and .rps_per_cpu_s.median != null)]
	         | max_by(.rps_per_cpu_s.median)) as $best
	      | ([$same[] | select(.config | startswith("nomesh"))][0]) as $base
	      | . + {best_peer: $best.config,
	             ratio_to_best_peer: (if $best == null or .rps_per_cpu_s.median == null then null
	                                  else .rps_per_cpu_s.median / $best.rps_per_cpu_s.median end),
	             rps_vs_nomesh: (if .rps.median == null or ($base.rps.median // 0) == 0 then null
	                             else .rps.median / $base.rps.median end),
	             p50_added_us: minus(.p50_us.median; $base.p50_us.median),
	             p99_added_us: minus(.p99_us.median; $base.p99_us.median)})) as $rows
	  | def shunt($t): [$rows[] | select(.config == "shunt-l7" and .topology == $t)][0];
	    (shunt("same").ratio_to_best_peer) as $rs | (shunt("cross").ratio_to_best_peer) as $rc
	  | (shunt("same").p99_added_us) as $ps | (shunt("cross").p99_added_us) as $pc
	  | ($mem.shunt.rss_after_requests_kib // null) as $rss
	  | . + {l7: {rounds: $rounds, seconds_per_run: $secs, connections: $conns, rate: $rate,
	       response: "1 KiB file from nginx, HTTP/1.1 keep-alive; -h2 configs: h2c (.http2)",
	       configs: {nomesh: "client and server outside the mesh, no proxy",
	                 "shunt-l7": "shunt agent + node proxies (2 threads each), service with appProtocol http, client to the VIP; cross node over the proxies mTLS tunnel",
	                 sidecar: "haproxy mode http in the client pod (outbound) and in each server pod (inbound), mutual TLS 1.3 between them, 2 threads each; the client addresses its sidecar (no iptables)",
	                 haproxy: "haproxy mode http per node, 2 threads; cross node: mutual TLS 1.3 between the node proxies",
	                 nginx: "nginx proxy_pass with keepalive upstreams per node, 2 workers; cross node: mutual TLS 1.3 between the node proxies",
	                 h2o: "h2o 2.2 proxy.reverse per node, 2 threads; cross node: TLS between the node proxies, server-authenticated only (h2o 2.2 cannot send a client certificate upstream)"},
	       note: "rps_per_cpu_s: wrk requests / CPU-seconds (utime+stime) of every proxy process of the configuration, 64 connections; latency: shunt-http-rate at a fixed rate on 16 connections, from each request scheduled time; added = config median - nomesh median of the same topology (nomesh-h2 for h2c rows); rps_vs_nomesh: req/s / that of nomesh of the same protocol; ratio_to_best_peer: rps_per_cpu_s / that of the best of haproxy, nginx, h2o (HTTP/1.1) or of haproxy-h2 (h2c); -h2 rows: .http2",
	       skipped: $skipped, results: $rows,
	       memory: {with_routes: $mem, bench_config_pss_kib: $small},
	       goals: [goal("req/s per proxy CPU-second >= 1.2x the best peer"; "same"; $rs; "x"; 1.2; ($rs >= 1.2)),
	               goal("req/s per proxy CPU-second >= 1.2x the best peer"; "cross"; $rc; "x"; 1.2; ($rc >= 1.2)),
	               goal("added p99 at 1000 req/s <= 0.5 ms"; "same"; $ps; "us"; 500; ($ps <= 500)),
	               goal("added p99 at 1000 req/s <= 1 ms (mTLS)"; "cross"; $pc; "us"; 1000; ($pc <= 1000)),
	               goal("proxy RSS <= 30 MB with 1000 routes (after requests)"; null; $rss; "KiB"; 29297;
	                    ($rss != null and $rss * 1024 <= 30000000))]}}' "$OUT" >"$OUT.tmp"
	mv "$OUT.tmp" "$OUT"
	l7_h2_results
}

l7_print() {
	echo
	echo "== L7: HTTP/1.1 and h2c (-h2) GET of 1 KiB, client pod -> proxies -> server pod (medians of $ROUNDS rounds of ${L7_SECS:-?}s) =="
	echo "req/s: wrk, $L7_CONNS connections (-h2: h2load, x$L7_H2_STREAMS streams); CPU-s: all the configuration's proxy processes;"
	echo "latency: $L7_RATE req/s on 16 connections (shunt-http-rate; -h2: h2load timing script, 1 connection), added = minus nomesh's (-h2: nomesh-h2's);"
	echo "vs nomesh: req/s / nomesh's of the same protocol; vs best peer: req/s per CPU-s / the best of $L7_PEERS, same protocol"
	jq -r '
	  def n: if . == null then "-" elif . >= 100 then (round | tostring) else (. * 10 | round / 10 | tostring) end;
	  def x: if . == null then "-" else "\(. * 100 | round / 100)x" end;
	  (["config", "path", "req/s", "vs nomesh", "proxy CPU-s", "req/s per CPU-s", "vs best peer", "p50 us", "p99 us",
	    "p50 added", "p99 added"] | @tsv),
	  (.l7.results[] | [.config, .topology, (.rps.median | n), (.rps_vs_nomesh | x), (.cpu_s.median | if . == null then "-" else (. * 100 | round / 100 | tostring) end),
	    (.rps_per_cpu_s.median | n), (.ratio_to_best_peer | x) + (if .best_peer and .ratio_to_best_peer then " (\(.best_peer))" else "" end),
	    (.p50_us.median | n), (.p99_us.median | n), (.p50_added_us | n), (.p99_added_us | n)] | @tsv)' "$OUT" |
		column -t -s $'\t'
	jq -r '.l7 | "HTTP/2: \(.http2.load); latency \(.http2.latency); peers: \(.http2.peers)",
	  "HTTP/2 latency runs, rate achieved (req/s): \([.results[] | select(.achieved_rps.median) | "\(.config) \(.topology) \(.achieved_rps.median | round)"] | join(", "))",
	  (.memory.with_routes // {} | to_entries[] | "memory, \(.value.routes) routes, \(.key): RSS \(.value.rss_loaded_kib / 1024 * 10 | round / 10) MiB loaded, \(.value.rss_after_requests_kib / 1024 * 10 | round / 10) MiB after requests (\(.value.requests_ok)/\(.value.requests) answered 200), peak \(.value.peak_kib / 1024 * 10 | round / 10) MiB" + (if .value.rss_bench_config_after_runs_kib then "; with the bench config after the runs: \(.value.rss_bench_config_after_runs_kib / 1024 * 10 | round / 10) MiB" else "" end)),
	  (if .memory.bench_config_pss_kib then "memory of each configuration'"'"'s proxies after the runs (PSS, all processes, KiB): \(.memory.bench_config_pss_kib | tostring)" else empty end),
	  (.goals[] | "goal: \(.goal)\(if .topology then ", \(.topology) node" else "" end): \(if .value == null then "not measured" elif .unit == "x" then "\(.value * 100 | round / 100)x" elif .unit == "KiB" then "\(.value / 1024 * 10 | round / 10) MiB" else "\(.value | round) us" end) -> \(if .met == null then "unknown" elif .met then "met" else "NOT met" end)"),
	  (.skipped[] | "skipped: \(.)")' "$OUT"
}

