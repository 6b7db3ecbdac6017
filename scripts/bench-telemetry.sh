#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# The cost of full telemetry on the L7 path (issue: telemetry overhead,
# docs/telemetry.md "Overhead"): the same node proxy and the same nginx,
# same node, HTTP/1.1 (wrk -c 64) and h2c (h2load -c 64 -m 10), alternating
# rounds with telemetry off (Istio metrics only: they are always on) and
# full (every request in the access log, to a file, and traced at sampling 1
# to a Zipkin endpoint in the node's netns). The Zipkin endpoint is a sink
# (an nginx answering 202): a collector runs on other machines, and the
# tests' field-checking one (tests/apps/zipkin_collector.py) would take a
# core of this machine's two at these rates, and with it the req/s of the
# client and the proxy. The spans are counted at the proxy
# (shunt_proxy_trace_spans_sent_total). The agent re-applies the
# config between rounds; the proxy follows its model. Prints each round and
# the ratios: req/s, and req/s per proxy CPU-second. A ratio is taken within
# a round (each setting against off of the same round, minutes apart at
# most) and the median of the rounds' ratios is reported, with their range:
# on two shared cores req/s drifts by 10-15% over minutes, and a ratio of
# medians taken from different rounds mixes that drift into the result.
# The settings' order turns from round to round (off first, then full
# first, then 1% traced first), so that neither the drift within a round
# nor what a setting leaves behind (the disk's writeback of its access log)
# favours one of them.
#
# Then, since req/s on a shared VM moves by more than the 5% goal from one
# round to the next, the proxy's own cost is counted as well: the proxy is
# started again under callgrind (one worker) and the instructions it runs
# for TEL_REQUESTS requests (default 10000; 0: not counted) of each setting
# are counted. That count is the same from run to run for the same binary
# and work, whatever else the machine does; it leaves out the kernel's
# part (the sockets' system calls, the same in every setting, and the
# access log's write). With TEL_CALLGRIND_DIR set, each setting's profile
# is kept there as callgrind.TOOL.SETTING (h1.0: HTTP/1.1, off), for
# callgrind_annotate.
#
#   scripts/bench-telemetry.sh [ROUNDS] [SECONDS]
#
# Built on the test harness (tests/lib): a cluster of its own
# (SHUNT_CLUSTER_PREFIX, default shunt-tel), torn down on exit. `make bench`
# runs it as its "telemetry" section, with TEL_JSON set: the medians and
# ratios go there as JSON too. Run it alone: it measures CPU.
set -uo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export SHUNT_CLUSTER_PREFIX=${SHUNT_CLUSTER_PREFIX:-shunt-tel}
export SHUNT_CLUSTER_DIR=${SHUNT_CLUSTER_DIR:-/tmp/$SHUNT_CLUSTER_PREFIX-cluster}
ROUNDS=${1:-3}
SECS=${2:-4}
# shellcheck source=tests/lib/testlib.sh
source "$REPO/tests/lib/testlib.sh"
# shellcheck source=tests/lib/l7lib.sh
source "$REPO/tests/lib/l7lib.sh"

# ON: the mesh config: 0 telemetry off, 1 full (every request logged and
# traced), 2 every request logged and 1% of new traces sampled (Istio's
# default sampling: what a mesh with tracing on runs in production)
tel_mesh() {
	L7_SERVICES_EXTRA="  - {name: tel-h1, virtualIPs: [10.96.0.91], ports: [{name: h, port: 80, targetPort: 8280, appProtocol: http}], backends: [{workload: n1-p2}]}
  - {name: tel-h2, virtualIPs: [10.96.0.92], ports: [{name: h2, port: 80, targetPort: 8282, appProtocol: http2}], backends: [{workload: n1-p2}]}" l7_config </dev/null
	[ "$1" != 0 ] || return 0
	echo "accessLog: {enabled: true, output: $T_TMP/access.log}"
	echo "tracing: {sampling: $([ "$1" = 1 ] && echo 1 || echo 0.01), zipkin: {url: \"http://127.0.0.1:9411/api/v2/spans\"}}"
}

tel_up() {
	local ip
	mkdir -p "$T_TMP/www" "$T_TMP/ng/tmp"
	head -c 1024 /dev/zero | tr '\0' a >"$T_TMP/www/index.html"
	t_cluster_up 2 2
	tel_mesh 0 >"$T_TMP/mesh.yaml"
	proxy_mesh_up "$T_TMP/mesh.yaml"
	cat >"$T_TMP/ng/sink.conf" <<-NG
		daemon off; master_process off; worker_processes 1;
		pid $T_TMP/ng/sink.pid; error_log $T_TMP/ng/sink-error.log;
		events { worker_connections 256; }
		http { access_log off; keepalive_requests 1000000; client_max_body_size 64m;
		  client_body_temp_path $T_TMP/ng/tmp; proxy_temp_path $T_TMP/ng/tmp;
		  fastcgi_temp_path $T_TMP/ng/tmp; uwsgi_temp_path $T_TMP/ng/tmp; scgi_temp_path $T_TMP/ng/tmp;
		  server { listen 127.0.0.1:9411; location = /api/v2/spans { return 202; } } }
	NG
	ip netns exec "$SHUNT_CLUSTER_PREFIX-n1" nginx -c "$T_TMP/ng/sink.conf" >/dev/null 2>&1 &
	T_PIDS+=($!)
	ip=$(t_pod_ip n1-p2)
	cat >"$T_TMP/ng/nginx.conf" <<-NG
		daemon off; master_process off; worker_processes 1;
		pid $T_TMP/ng/nginx.pid; error_log $T_TMP/ng/error.log;
		events { worker_connections 4096; }
		http { access_log off; keepalive_requests 1000000; keepalive_timeout 300s;
		  client_body_temp_path $T_TMP/ng/tmp; proxy_temp_path $T_TMP/ng/tmp;
		  fastcgi_temp_path $T_TMP/ng/tmp; uwsgi_temp_path $T_TMP/ng/tmp; scgi_temp_path $T_TMP/ng/tmp;
		  server { listen $ip:8282 http2; listen $ip:8280; root $T_TMP/www; } }
	NG
	t_exec n1-p2 -- nginx -c "$T_TMP/ng/nginx.conf" >/dev/null 2>&1 &
	T_PIDS+=($!)
	t_wait_for 10 t_cov_port_open n1-p2 8282 || t_fail "nginx did not start"
}

median() { # TOOL ON COLUMN: the median of the results' COLUMN
	awk -v t="$1" -v on="$2" -v c="$3" '$1 == t && $2 == on { print $c }' "$T_TMP/results" |
		sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# TOOL ON COLUMN: "median min max" of the rounds' ratios of ON to off (0).
ratios() {
	awk -v t="$1" -v on="$2" -v c="$3" '$1 == t && $2 == 0 { off[$5] = $c }
		$1 == t && $2 == on { v[$5] = $c }
		END { for (r in v) if (off[r] > 0) printf "%.4f\n", v[r] / off[r] }' "$T_TMP/results" |
		sort -n | awk '{ v[NR] = $1 } END { printf "%.2f %.2f %.2f\n", v[int((NR + 1) / 2)], v[1], v[NR] }'
}

# The proxy's dropped spans, every reason summed.
spans_dropped() {
	ip netns exec "$SHUNT_CLUSTER_PREFIX-n1" curl -fsS http://127.0.0.1:9465/metrics |
		awk '$1 ~ /^shunt_proxy_trace_spans_dropped_total/ { n += $2 } END { print n + 0 }'
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# One run: TOOL ON ROUND -> a result line "tool on rps per_cpu round"
tel_run() {
	local tool=$1 on=$2 round=$3 c0 c1 out rps
	c0=$(cpu_ticks "$PROXY_PID_n1")
	if [ "$tool" = h1 ]; then
		out=$(t_exec n1-p1 -- wrk -d "$SECS" -c 64 -t 2 http://10.96.0.91/index.html)
		rps=$(awk '/Requests\/sec/ { print $2 }' <<<"$out")
	else
		out=$(t_exec n1-p1 -- h2load -D "$SECS" -c 64 -m 10 -t 2 http://10.96.0.92/index.html)
		rps=$(awk '/^finished in/ { print $4 }' <<<"$out")
	fi
	c1=$(cpu_ticks "$PROXY_PID_n1")
	awk -v t="$tool" -v on="$on" -v r="$rps" -v c=$((c1 - c0)) -v s="$SECS" -v hz="$(getconf CLK_TCK)" \
		-v n="$round" 'BEGIN { printf "%s %s %.0f %.0f %s\n", t, on, r, r * s / (c / hz), n }'
}

# The proxy's instructions for N requests of TOOL, in SETTING (tel_mesh's).
count_instructions() { # TOOL N SETTING
	local url=http://10.96.0.91/index.html args=(--h1)

	[ "$1" = h1 ] || url=http://10.96.0.92/index.html args=(-m 10)
	# its connections and pools made first, outside the count
	t_exec n1-p1 -- h2load "${args[@]}" -n 500 -c 16 "$url" >/dev/null
	callgrind_control -z "$PROXY_PID_n1" >/dev/null 2>&1
	callgrind_control -i on "$PROXY_PID_n1" >/dev/null 2>&1
	t_exec n1-p1 -- h2load "${args[@]}" -n "$2" -c 16 "$url" | grep -q "$2 succeeded" ||
		t_fail "instructions: not every request of $1 succeeded"
	callgrind_control -i off "$PROXY_PID_n1" >/dev/null 2>&1
	callgrind_control -d "$1" "$PROXY_PID_n1" >/dev/null 2>&1
	local dump
	dump=$(ls -t "$T_TMP"/callgrind.out.* | head -1)
	[ -z "${TEL_CALLGRIND_DIR:-}" ] || cp "$dump" "$TEL_CALLGRIND_DIR/callgrind.$1.$3"
	# the dump just made: its total, per request
	awk -v n="$2" '/^totals:/ { t = $2 } END { printf "%.0f\n", t / n }' "$dump"
}

# Instructions per request in each setting, under callgrind, one worker.
instructions() {
	local n=${TEL_REQUESTS:-10000} on tool
	[ "$n" != 0 ] || return 0
	command -v callgrind_control >/dev/null || {
		echo "instructions: valgrind is not installed (make deps)"
		return 0
	}
	local before
	kill "$PROXY_PID_n1" && wait "$PROXY_PID_n1" 2>/dev/null
	before=$(proxy_log_count n1 '.event == "started"')
	"$CLUSTER" exec n1-proxy -- valgrind --tool=callgrind --instr-atstart=no \
		--callgrind-out-file="$T_TMP/callgrind.out.%p" "$SHUNT" --pin-dir "$(t_node_field n1 pin_dir)" \
		proxy --node n1 --ca "$T_TMP/ca" --threads 1 --drain-timeout 0 >>"$T_TMP/proxy.n1.log" 2>&1 &
	PROXY_PID_n1=$!
	T_PIDS+=($!)
	t_wait_for 60 proxy_log_more n1 '.event == "started"' "$before" ||
		t_fail "the proxy did not start under callgrind"
	for on in 0 1 2; do
		tel_mesh $on >"$T_TMP/mesh.yaml"
		sleep 4 # slower under callgrind
		for tool in h1 h2; do
			echo "instr $tool $on $(count_instructions $tool "$n" $on)" | tee -a "$T_TMP/results"
		done
	done
}

main() {
	local r k on tool
	tel_up
	for r in $(seq "$ROUNDS"); do
		# each round starts with another setting: what one leaves behind
		# (the access log's writeback, spans on their way) falls on each
		# setting as often
		for k in 0 1 2; do
			on=$(((r + k) % 3))
			tel_mesh $on >"$T_TMP/mesh.yaml"
			sleep 2.5 # the agent re-applies it; the proxy takes the model
			t_exec n1-p1 -- wrk -d 1 -c 64 -t 2 http://10.96.0.91/index.html >/dev/null
			for tool in h1 h2; do tel_run $tool $on "$r" | tee -a "$T_TMP/results"; done
		done
	done
	local lines spans
	lines=$(wc -l <"$T_TMP/access.log")
	spans=$(proxy_metric n1 shunt_proxy_trace_spans_sent_total)
	echo "access log lines: $lines, spans sent: ${spans:=0}, dropped: $(spans_dropped)"
	instructions
	# Medians per tool and setting, then the rounds' ratios to off.
	for tool in h1 h2; do
		printf '%s: off %s req/s (%s per CPU-s), full %s (%s), 1%% traced %s (%s)\n' $tool \
			"$(median $tool 0 3)" "$(median $tool 0 4)" "$(median $tool 1 3)" "$(median $tool 1 4)" \
			"$(median $tool 2 3)" "$(median $tool 2 4)"
		for on in 1 2; do
			# shellcheck disable=SC2046,SC2183 # ratios prints three words
			printf '  %s / off, median of %s rounds: req/s x%s (x%s to x%s), per CPU-s x%s (x%s to x%s)\n' \
				"$([ $on = 1 ] && echo full || echo "1% traced")" "$ROUNDS" \
				$(ratios $tool $on 3) $(ratios $tool $on 4)
		done
		instr_line $tool
	done
	[ -z "${TEL_JSON:-}" ] || tel_json "$lines" "$spans" >"$TEL_JSON"
}

# The proxy's instructions per request of TOOL in SETTING ("" if not counted).
instr() { awk -v t="$1" -v on="$2" '$1 == "instr" && $2 == t && $3 == on { print $4 }' "$T_TMP/results"; }

# TOOL's instruction counts, and requests per instruction against off (the
# share of requests the same CPU would serve, for the proxy's part).
instr_line() {
	[ -n "$(instr "$1" 0)" ] || return 0
	awk -v a="$(instr "$1" 0)" -v b="$(instr "$1" 1)" -v c="$(instr "$1" 2)" 'BEGIN {
		printf "  proxy instructions per request (callgrind): off %d, full %d (x%.2f), 1%% traced %d (x%.2f)\n",
			a, b, a / b, c, a / c }'
}

# The medians and ratios as JSON: {h1: {...}, h2: {...}, rounds, ...}.
# *_ratio: the median of the rounds' ratios; *_ratio_range: their least and
# most.
tel_json() { # LOG_LINES SPANS
	local tool
	for tool in h1 h2; do
		# shellcheck disable=SC2046
		jq -n --arg t $tool --argjson a "$(median $tool 0 3)" --argjson b "$(median $tool 1 3)" \
			--argjson c "$(median $tool 0 4)" --argjson d "$(median $tool 1 4)" \
			--argjson e "$(median $tool 2 3)" --argjson f "$(median $tool 2 4)" \
			--argjson g "[$(ratios $tool 1 3 | tr ' ' ,)]" --argjson h "[$(ratios $tool 1 4 | tr ' ' ,)]" \
			--argjson i "[$(ratios $tool 2 3 | tr ' ' ,)]" --argjson k "[$(ratios $tool 2 4 | tr ' ' ,)]" \
			--argjson x "$(instr $tool 0 | grep . || echo null)" \
			--argjson y "$(instr $tool 1 | grep . || echo null)" \
			--argjson z "$(instr $tool 2 | grep . || echo null)" \
			'{($t): {off_rps: $a, full_rps: $b, off_per_cpu_s: $c, full_per_cpu_s: $d,
			  instructions_per_request: {off: $x, full: $y, sampled: $z},
			  rps_ratio: $g[0], rps_ratio_range: $g[1:], per_cpu_s_ratio: $h[0],
			  per_cpu_s_ratio_range: $h[1:],
			  sampled_rps: $e, sampled_per_cpu_s: $f,
			  sampled_rps_ratio: $i[0], sampled_rps_ratio_range: $i[1:],
			  sampled_per_cpu_s_ratio: $k[0], sampled_per_cpu_s_ratio_range: $k[1:]}}'
	done | jq -s --argjson r "$ROUNDS" --argjson s "$SECS" --argjson l "$1" --argjson n "$2" \
		'add + {rounds: $r, seconds: $s, access_log_lines: $l, spans: $n, goal_rps_ratio: 0.95}'
}
main
