# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
#
# Sourced by scripts/bench.sh: the "tools" section. The tools people reach
# for first, between two same-node pods (n1-p1 -> n1-p2): iperf3 (one stream,
# both directions), sockperf ping-pong, wrk and h2load against nginx,
# redis-benchmark, and shunt-perf. Each runs in three configurations:
#
#   nomesh     no shunt; the pods' netns keep the node's default congestion
#              control
#   nomesh-cc  no shunt; the pods' netns default is shunt's local_congestion,
#              so the only difference to shunt is the bypass
#   shunt      the agent from the mesh config, bypass on
#
# so the congestion control change (cc effect = nomesh-cc / nomesh) and the
# bypass (bypass effect = shunt / nomesh-cc) are ratios of their own. Every
# shunt run records the delta of the bypass counters (`shunt status --json`):
# a row whose bypass carried nothing says so, whatever the numbers.
#
# Each server runs twice in n1-p2: in the mesh on its port, outside the mesh
# cgroup on the port + 1. Per case, the three configurations run back to back
# and their order rotates from round to round; each cell is the median of
# the rounds.
#
# Uses from bench.sh: CLUSTER SHUNT PERF PIN WORK PIDS ROUNDS SECONDS_PER
# LOCAL_CC SRV_IP OUT, log and pod.

TOOLS_CONFIGS=(nomesh nomesh-cc shunt)
TOOLS_CASES=()   # "tool|case", in the order they run and print
TOOLS_SKIPPED=() # "tool: reason"
TOOLS_ALLOWED_SAVED=""
TOOLS_RAW=""

tools_skip() { # TOOL REASON
	TOOLS_SKIPPED+=("$1: $2")
	log "tools: skipping $1: $2"
}

# Restores what tools_allow_cc changed on the host (called by bench.sh's cleanup).
tools_cleanup() {
	[ -z "$TOOLS_ALLOWED_SAVED" ] ||
		echo "$TOOLS_ALLOWED_SAVED" >/proc/sys/net/ipv4/tcp_allowed_congestion_control || true
}

# A network namespace may only default to an algorithm the host allows
# (net.ipv4.tcp_allowed_congestion_control); cubic is not in that list when
# the host defaults to bbr. Add it until the bench ends.
tools_allow_cc() {
	local allowed
	allowed=$(cat /proc/sys/net/ipv4/tcp_allowed_congestion_control)
	case " $allowed " in *" $TOOLS_CC "*) return 0 ;; esac
	TOOLS_ALLOWED_SAVED=$allowed
	echo "$allowed $TOOLS_CC" >/proc/sys/net/ipv4/tcp_allowed_congestion_control || return 1
	log "tools: net.ipv4.tcp_allowed_congestion_control += $TOOLS_CC until the bench ends"
}

tools_set_cc() { # CONFIG: the pods' netns default congestion control for CONFIG
	local cc=$TOOLS_NODE_CC ns
	[ "$1" = nomesh-cc ] && cc=$TOOLS_CC
	for ns in "$TOOLS_CLI_NS" "$TOOLS_SRV_NS"; do
		ip netns exec "$ns" sysctl -qw net.ipv4.tcp_congestion_control="$cc" || return 1
	done
}

tools_counters() { # [redirected, tcp] bytes so far, or null
	local c
	c=$("$SHUNT" --pin-dir "$PIN" --json status | jq -c '[.counters.bytes_redirected, .counters.bytes_tcp]')
	echo "${c:-null}"
}

tools_exec() { # CONFIG CMD...: CMD as the client of CONFIG
	local config=$1
	shift
	if [ "$config" = shunt ]; then
		"$CLUSTER" exec n1-p1 -- "$@"
	else
		"$CLUSTER" exec --outside n1-p1 -- "$@"
	fi
}

tools_port() { # BASE CONFIG
	if [ "$2" = shunt ]; then echo "$1"; else echo $(($1 + 1)); fi
}

tools_listening() { # PORT
	local i
	for ((i = 0; i < 100; i++)); do
		[ -n "$(ip netns exec "$TOOLS_SRV_NS" ss -Hltn "sport = :$1")" ] && return 0
		sleep 0.05
	done
	return 1
}

# Servers: PORT WHERE...; each replaces its subshell, so PIDS holds the server.
serve_iperf3() { exec "$CLUSTER" exec "${@:2}" -- iperf3 -s -B "$SRV_IP" -p "$1"; }
serve_sockperf() { exec "$CLUSTER" exec "${@:2}" -- sockperf sr --tcp -i "$SRV_IP" -p "$1"; }
serve_redis() {
	exec "$CLUSTER" exec "${@:2}" -- redis-server --bind "$SRV_IP" --port "$1" --save '' \
		--appendonly no --protected-mode no --daemonize no
}
serve_nginx() { # HTTP/1.1 on PORT, h2c (prior knowledge) on PORT + 10
	local dir=$WORK/nginx-$1 t
	mkdir -p "$dir/tmp"
	{
		printf 'daemon off;\nmaster_process off;\nworker_processes 1;\n'
		printf 'pid %s/nginx.pid;\nerror_log %s/error.log;\n' "$dir" "$dir"
		printf 'events { worker_connections 1024; }\nhttp {\n    access_log off;\n'
		printf '    sendfile on;\n    tcp_nopush on;\n    keepalive_requests 1000000;\n'
		for t in client_body proxy fastcgi uwsgi scgi; do printf '    %s_temp_path %s/tmp;\n' $t "$dir"; done
		printf '    server { listen %s:%s; listen %s:%s http2; root %s/www; }\n}\n' \
			"$SRV_IP" "$1" "$SRV_IP" $(($1 + 10)) "$WORK"
	} >"$dir/nginx.conf"
	exec "$CLUSTER" exec "${@:2}" -- nginx -c "$dir/nginx.conf" -e "$dir/error.log"
}

tools_serve() { # NAME BASE_PORT: the server in the mesh on BASE_PORT, outside on + 1
	"serve_$1" "$2" n1-p2 >"$WORK/serve-$1-$2.log" 2>&1 &
	PIDS+=($!)
	"serve_$1" $(($2 + 1)) --outside n1-p2 >"$WORK/serve-$1-$(($2 + 1)).log" 2>&1 &
	PIDS+=($!)
	tools_listening "$2" && tools_listening $(($2 + 1)) && return 0
	tools_skip "$1" "its server did not start: $(cat "$WORK/serve-$1-"*.log | tail -2 | tr '\n' ' ')"
	return 1
}

tools_need() { # TOOL COMMAND...: 0 if every COMMAND is installed, else a skip line
	local tool=$1 c
	shift
	for c in "$@"; do
		command -v "$c" >/dev/null && continue
		tools_skip "$tool" "$c not installed (scripts/deps.sh installs it: make deps)"
		return 1
	done
}

tools_setup() {
	TOOLS_RAW=$WORK/tools.jsonl
	: >"$TOOLS_RAW"
	TOOLS_CLI_NS=$(pod n1-p1 netns)
	TOOLS_SRV_NS=$(pod n1-p2 netns)
	TOOLS_NODE_CC=$(ip netns exec "$TOOLS_CLI_NS" sysctl -n net.ipv4.tcp_congestion_control)
	TOOLS_CC=${LOCAL_CC:-$TOOLS_NODE_CC}
	# iperf3 and sockperf take whole seconds.
	TOOLS_SECS=$(echo "s = $SECONDS_PER + 0.5; scale = 0; s / 1" | bc)
	[ "$TOOLS_SECS" -ge 1 ] || TOOLS_SECS=1
	if ! { tools_allow_cc && tools_set_cc nomesh-cc && tools_set_cc nomesh; }; then
		log "tools: cannot set the pods' congestion control to $TOOLS_CC"
		return 1
	fi
	mkdir -p "$WORK/www"
	head -c 128 /dev/zero | tr '\0' x >"$WORK/www/small"
	head -c 1048576 /dev/urandom >"$WORK/www/1m"

	if tools_need iperf3 iperf3 && tools_serve iperf3 5201; then
		TOOLS_CASES+=("iperf3|client to server" "iperf3|-R: server to client")
	fi
	if tools_need sockperf sockperf && tools_serve sockperf 11111; then
		TOOLS_CASES+=("sockperf|ping-pong 64 B")
	fi
	local nginx=""
	if tools_need wrk wrk nginx && tools_serve nginx 8180; then
		nginx=up
		TOOLS_CASES+=("wrk|128 B body" "wrk|1 MiB body")
	fi
	if tools_need h2load h2load nginx && { [ -n "$nginx" ] || tools_serve nginx 8180; }; then
		TOOLS_CASES+=("h2load|128 B body, 10 conns x 10 streams")
	fi
	if tools_need redis-benchmark redis-server redis-benchmark && tools_serve redis 6379; then
		TOOLS_CASES+=("redis-benchmark|PING_INLINE, GET, SET, 20 conns")
	fi
	TOOLS_CASES+=("shunt-perf|stream, 1 MiB writes" "shunt-perf|request/response 64 B")
}

# Runs one case as CONFIG's client for SECS seconds; prints one line per
# metric: NAME<tab>UNIT<tab>higher|lower<tab>VALUE.
tools_measure() { # TOOL CASE CONFIG SECS
	local tool=$1 case=$2 config=$3 secs=$4 out port
	case "$tool|$case" in
	"iperf3|"*)
		port=$(tools_port 5201 "$config")
		local rev=()
		[[ "$case" == -R* ]] && rev=(-R)
		out=$(tools_exec "$config" iperf3 -c "$SRV_IP" -p "$port" -t "$secs" "${rev[@]}" -J) ||
			{ echo "$out" >&2; return 1; }
		jq -r '"throughput\tGbit/s\thigher\t\(.end.sum_received.bits_per_second / 1e9)"' <<<"$out"
		;;
	"sockperf|"*)
		port=$(tools_port 11111 "$config")
		out=$(tools_exec "$config" sockperf pp --tcp -i "$SRV_IP" -p "$port" -t "$secs" -m 64 2>&1) ||
			{ echo "$out" >&2; return 1; }
		awk '/percentile 50\.000 =/ { printf "p50 (half RTT)\tus\tlower\t%s\n", $NF }
		     /percentile 99\.000 =/ { printf "p99 (half RTT)\tus\tlower\t%s\n", $NF }' <<<"$out" | sort
		;;
	"wrk|"*)
		local path=small
		[[ "$case" == *MiB* ]] && path=1m
		out=$(tools_exec "$config" wrk -t1 -c10 -d"${secs}s" "http://$SRV_IP:$(tools_port 8180 "$config")/$path") ||
			{ echo "$out" >&2; return 1; }
		grep -q 'Non-2xx' <<<"$out" && { echo "$out" >&2; return 1; }
		awk '/^Requests\/sec:/ { printf "requests\treq/s\thigher\t%s\n", $2 }' <<<"$out"
		;;
	"h2load|"*)
		port=$(($(tools_port 8180 "$config") + 10))
		out=$(tools_exec "$config" h2load -c10 -m10 -D "$secs" "http://$SRV_IP:$port/small") ||
			{ echo "$out" >&2; return 1; }
		grep -q ' 0 failed, 0 errored' <<<"$out" || { echo "$out" >&2; return 1; }
		awk '/^finished in/ { printf "requests\treq/s\thigher\t%s\n", $4 }' <<<"$out"
		;;
	"redis-benchmark|"*)
		port=$(tools_port 6379 "$config")
		out=$(tools_exec "$config" redis-benchmark -h "$SRV_IP" -p "$port" -t ping_inline,get,set \
			-n $((15000 * secs)) -c 20 --csv) || { echo "$out" >&2; return 1; }
		tr -d '"' <<<"$out" | awk -F, 'NR > 1 && $2 > 0 {
			printf "%s\treq/s\thigher\t%s\n%s p50\tus\tlower\t%s\n", $1, $2, $1, $5 * 1000 }'
		;;
	"shunt-perf|stream"*)
		out=$(tools_exec "$config" "$PERF" client --connect "$SRV_IP:$(tools_port 9000 "$config")" \
			--mode stream --size 1048576 --seconds "$secs") || { echo "$out" >&2; return 1; }
		jq -r '"throughput\tGbit/s\thigher\t\(.gbit_s)"' <<<"$out"
		;;
	"shunt-perf|request"*)
		out=$(tools_exec "$config" "$PERF" client --connect "$SRV_IP:$(tools_port 9000 "$config")" \
			--mode rr --size 64 --seconds "$secs") || { echo "$out" >&2; return 1; }
		jq -r '"p50\tus\tlower\t\(.p50_us)", "p99\tus\tlower\t\(.p99_us)"' <<<"$out"
		;;
	esac
}

tools_record() { # CASE_INDEX CONFIG ROUND
	local tool=${TOOLS_CASES[$1]%%|*} case=${TOOLS_CASES[$1]#*|} config=$2 before=null after=null metrics
	tools_set_cc "$config" || { log "tools: cannot set the pods' congestion control for $config"; return 0; }
	[ "$config" != shunt ] || before=$(tools_counters)
	if ! metrics=$(tools_measure "$tool" "$case" "$config" "$TOOLS_SECS" 2>"$WORK/tools-err.log") ||
		[ -z "$metrics" ]; then
		log "tools: $tool ($case) as $config failed: $(tail -3 "$WORK/tools-err.log" | tr '\n' ' ')"
		return 0
	fi
	[ "$config" != shunt ] || after=$(tools_counters)
	jq -Rnc --argjson order "$1" --arg tool "$tool" --arg case "$case" --arg config "$config" \
		--argjson round "$3" --argjson b "$before" --argjson a "$after" '
	  [inputs | split("\t")] | to_entries[]
	  | {order: $order, m: .key, tool: $tool, case: $case, config: $config, round: $round,
	     metric: .value[0], unit: .value[1], better: .value[2], value: (.value[3] | tonumber),
	     bypass: (if $b == null or $a == null then null
	              else {bytes_redirected: ($a[0] - $b[0]), bytes_tcp: ($a[1] - $b[1])} end)}' \
		<<<"$metrics" >>"$TOOLS_RAW"
}

tools_section() {
	local i r k c
	tools_setup || { tools_skip all "setup failed"; return 0; }
	# The first connection to a server port is watched, never bypassed.
	log "tools: warm-up (${#TOOLS_CASES[@]} cases, shunt)"
	tools_set_cc shunt
	for i in "${!TOOLS_CASES[@]}"; do
		tools_measure "${TOOLS_CASES[$i]%%|*}" "${TOOLS_CASES[$i]#*|}" shunt 1 >/dev/null 2>&1 || true
	done
	for ((r = 1; r <= ROUNDS; r++)); do
		log "tools, round $r/$ROUNDS"
		for i in "${!TOOLS_CASES[@]}"; do
			for ((k = 0; k < 3; k++)); do
				c=${TOOLS_CONFIGS[$(((k + r - 1) % 3))]}
				tools_record "$i" "$c" "$r"
			done
		done
	done
	tools_set_cc nomesh || true
}

# Adds .tools to $OUT: per case and metric the three cells, the two effects
# and the bypass counters of the shunt runs.
tools_results() {
	local skipped
	skipped=$(printf '%s\n' "${TOOLS_SKIPPED[@]}" | jq -Rsc 'split("\n") | map(select(length > 0))')
	jq --slurpfile raw "$TOOLS_RAW" --argjson skipped "$skipped" --arg node_cc "$TOOLS_NODE_CC" \
		--arg cc "$TOOLS_CC" '
	  def median: sort | if length == 0 then null elif length % 2 == 1 then .[length/2|floor]
	                     else (.[length/2 - 1] + .[length/2]) / 2 end;
	  def cell($c): map(select(.config == $c) | .value) | {median: median, runs: .};
	  def ratio($a; $b): if $a == null or $b == null or $b == 0 then null else $a / $b end;
	  def counter($k): map(select(. != null) | .[$k]) | {median: median, runs: .};
	  . + {tools: {node_congestion: $node_cc, local_congestion: $cc, skipped: $skipped,
	     configs: {nomesh: "no shunt, pods on the node default congestion control (\($node_cc))",
	               "nomesh-cc": "no shunt, pods on shunt local_congestion (\($cc)) by their netns sysctl",
	               shunt: "shunt agent from the mesh config, bypass on"},
	     note: "cc_effect = nomesh-cc / nomesh, bypass_effect = shunt / nomesh-cc (medians of the rounds); better says which way a ratio is a gain; bypass: per shunt run, the delta of shunt status counters",
	     results: ($raw | group_by([.order, .m]) | map(
	       cell("nomesh") as $a | cell("nomesh-cc") as $b | cell("shunt") as $s
	       | (map(select(.config == "shunt") | .bypass)) as $by
	       | {tool: .[0].tool, case: .[0].case, metric: .[0].metric, unit: .[0].unit,
	          better: .[0].better, nomesh: $a, "nomesh-cc": $b, shunt: $s,
	          cc_effect: ratio($b.median; $a.median), bypass_effect: ratio($s.median; $b.median),
	          bypass: {bytes_redirected: ($by | counter("bytes_redirected")),
	                   bytes_tcp: ($by | counter("bytes_tcp"))}}))}}' "$OUT" >"$OUT.tmp"
	mv "$OUT.tmp" "$OUT"
}

tools_print() {
	echo
	echo "== same-node tools: congestion control and bypass apart (medians of $ROUNDS rounds) =="
	jq -r '.tools | "nomesh: \(.configs.nomesh); nomesh-cc: \(.configs["nomesh-cc"]); shunt: \(.configs.shunt)"' "$OUT"
	echo "cc effect = nomesh-cc/nomesh, bypass effect = shunt/nomesh-cc; throughput and req/s: higher is better;"
	echo "latency (us, lower is better): a ratio below 1x is a gain. bypass: bytes per shunt run (shunt status)"
	jq -r '
	  def num: if . == null then "-" elif . >= 100 then (round | tostring)
	           elif . >= 10 then (. * 10 | round / 10 | tostring) else (. * 100 | round / 100 | tostring) end;
	  def x: if . == null then "-" else "\(. * 100 | round / 100)x" end;
	  def bytes: if . == null then "-" elif . >= 1e9 then "\(. / 1e8 | round / 10) GB"
	             elif . >= 1e6 then "\(. / 1e5 | round / 10) MB" elif . >= 1e3 then "\(. / 1e2 | round / 10) kB"
	             else "\(.) B" end;
	  (["tool", "case", "metric", "nomesh", "nomesh-cc", "shunt", "cc effect", "bypass effect", "bypass"] | @tsv),
	  (.tools.results[]
	   | [.tool, .case, "\(.metric) \(.unit)" + (if .better == "lower" then " (lower)" else "" end),
	      (.nomesh.median | num), (.["nomesh-cc"].median | num), (.shunt.median | num),
	      (.cc_effect | x), (.bypass_effect | x),
	      (if (.bypass.bytes_redirected.runs | length) == 0 then "-"
	       elif (.bypass.bytes_redirected.runs | max) == 0
	       then "bypass 0 B: not accelerated (tcp \(.bypass.bytes_tcp.median | bytes))"
	       else "bypass \(.bypass.bytes_redirected.median | bytes), tcp \(.bypass.bytes_tcp.median | bytes)" end)]
	   | @tsv)' "$OUT" | column -t -s $'\t'
	jq -r '.tools.skipped[] | "skipped: \(.)"' "$OUT"
}
