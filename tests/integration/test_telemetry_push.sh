# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
# Push exports (docs/telemetry.md "Push exports") against the real daemons:
# Debian's influxd (1.x, read back with InfluxQL over its HTTP /query) and
# the npm statsd daemon (read back from what it aggregated, written at each
# flush by tests/apps/statsd_file_backend.js). The InfluxDB v2 API
# (/api/v2/write) goes to a small collector here that records each request,
# since Debian has no InfluxDB 2. Values read back must equal the mesh's own
# /metrics once traffic stopped (exactly for counters and gauges; a StatsD
# timer's count to 1e-6, since it is a sum of 1/sample-rate).

# shellcheck source=tests/lib/l7lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/l7lib.sh"

PUSH_NS=""           # the netns the daemons run in ("": the host)
PUSH_DB=shunt

push_in() { # CMD... in $PUSH_NS
	if [ -n "$PUSH_NS" ]; then ip netns exec "$PUSH_NS" "$@"; else "$@"; fi
}

# Starts CMD... in the background in $PUSH_NS, output to LOG, its PID (the
# command's own: `ip netns exec` execs it) in T_PIDS for the cleanup.
push_spawn() { # LOG CMD...
	local log=$1
	shift
	if [ -n "$PUSH_NS" ]; then
		ip netns exec "$PUSH_NS" "$@" >"$log" 2>&1 &
	else
		"$@" >"$log" 2>&1 &
	fi
	T_PIDS+=($!)
}

push_listening() { push_in ss -Hltn "sport = :$1" | grep -q .; }

# A port that nothing on the host (or in $PUSH_NS) uses, TCP or UDP.
push_free_port() {
	local p i
	for ((i = 0; i < 100; i++)); do
		p=$((20000 + RANDOM % 30000))
		ss -Hantu "sport = :$p" | grep -q . && continue
		[ -n "$PUSH_NS" ] && push_in ss -Hantu "sport = :$p" | grep -q . && continue
		echo "$p"
		return 0
	done
	t_fail "no free port"
}

# influxd with its data under $T_TMP, HTTP on 127.0.0.1[:PORT]; PUSH_INFLUX
# is its URL.
push_influxd_start() {
	local http=${1:-} rpc dir=$T_TMP/influxdb
	[ -n "$http" ] || http=$(push_free_port)
	rpc=$(push_free_port)
	mkdir -p "$dir"
	cat >"$dir/influxdb.conf" <<-EOF
		reporting-disabled = true
		bind-address = "127.0.0.1:$rpc"
		[meta]
		  dir = "$dir/meta"
		[data]
		  dir = "$dir/data"
		  wal-dir = "$dir/wal"
		  query-log-enabled = false
		[http]
		  bind-address = "127.0.0.1:$http"
		  log-enabled = false
		[monitor]
		  store-enabled = false
		[continuous_queries]
		  enabled = false
	EOF
	push_spawn "$dir/log" influxd -config "$dir/influxdb.conf"
	PUSH_INFLUX=http://127.0.0.1:$http
	t_wait_for 20 push_in curl -fs -o /dev/null "$PUSH_INFLUX/ping" ||
		t_fail "influxd did not start: $(tail -3 "$dir/log")"
	push_in curl -fsS -XPOST "$PUSH_INFLUX/query" --data-urlencode "q=CREATE DATABASE $PUSH_DB" \
		>/dev/null || t_fail "CREATE DATABASE"
}

# The statsd daemon on 127.0.0.1:PUSH_STATSD_PORT (UDP), flushing every
# second to $T_TMP/statsd.flush.jsonl.
push_statsd_start() {
	PUSH_STATSD_PORT=$(push_free_port)
	local mgmt
	mgmt=$(push_free_port)
	cat >"$T_TMP/statsd.js" <<-EOF
		{ address: "127.0.0.1", port: $PUSH_STATSD_PORT, mgmt_address: "127.0.0.1",
		  mgmt_port: $mgmt, flushInterval: 1000, deleteIdleStats: true,
		  backends: ["$REPO/tests/apps/statsd_file_backend.js"],
		  fileBackend: { path: "$T_TMP/statsd.flush.jsonl" } }
	EOF
	push_spawn "$T_TMP/statsd.log" statsd "$T_TMP/statsd.js"
	t_wait_for 15 grep -q "server is up" "$T_TMP/statsd.log" ||
		t_fail "statsd did not start: $(tail -3 "$T_TMP/statsd.log")"
}

# A stand-in for InfluxDB 2's /api/v2/write: records every request as one
# JSON line in $T_TMP/v2.jsonl and answers 204.
push_v2_start() {
	PUSH_V2_PORT=$(push_free_port)
	push_spawn "$T_TMP/v2.log" python3 -c '
import http.server, json, sys, urllib.parse
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        u = urllib.parse.urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        with open(sys.argv[2], "a") as f:
            f.write(json.dumps({"path": u.path, "query": dict(urllib.parse.parse_qsl(u.query)),
                                "auth": self.headers.get("Authorization"),
                                "type": self.headers.get("Content-Type"), "body": body}) + "\n")
        self.send_response(204)
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
' "$PUSH_V2_PORT" "$T_TMP/v2.jsonl"
	t_wait_for 10 push_listening "$PUSH_V2_PORT" ||
		t_fail "v2 collector did not start: $(cat "$T_TMP/v2.log")"
}

# InfluxQL Q over HTTP; the JSON answer.
push_influx_query() {
	push_in curl -fsS -G "$PUSH_INFLUX/query" --data-urlencode "db=$PUSH_DB" \
		--data-urlencode "q=$1"
}

# The last FIELD of MEASUREMENT [where WHERE], as InfluxDB returns it.
push_influx_last() {
	push_influx_query "SELECT last(\"$2\") FROM \"$1\"${3:+ WHERE $3}" |
		jq -r '.results[0].series[0].values[0][1] // empty'
}

# The sum over every flush of statsd's counter KEY (what it aggregated).
push_statsd_counter() {
	jq -s --arg k "$1" '[.[].counters[$k] // 0] | add // 0' "$T_TMP/statsd.flush.jsonl"
}

# True when statsd's counter KEY, summed over its flushes, is WANT.
push_statsd_is() { [ "$(push_statsd_counter "$2")" = "$1" ]; }

# A float compare: A and B within TOL.
push_close() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && d <= t) }'; }

# The agent of NODE with the cluster's config, /metrics on PUSH_METRICS and
# ARGS (the --push flags); waits for its first apply.
push_agent_start() {
	local node=$1 log=$T_TMP/agent.$1.log
	shift
	PUSH_METRICS=127.0.0.1:$(push_free_port)
	cp "$MESH_CONFIG" "$T_TMP/mesh.yaml"
	"$SHUNT" --pin-dir "$(t_node_field "$node" pin_dir)" agent --config "$T_TMP/mesh.yaml" \
		--node "$node" --cgroup "$(t_node_field "$node" cgroup)" --metrics "$PUSH_METRICS" \
		"$@" >>"$log" 2>&1 &
	T_PIDS+=($!)
	PUSH_AGENT_PID=$!
	t_wait_for 10 t_agent_applied "$node" 1 || t_fail "agent did not apply: $(tail -3 "$log")"
}

push_scrape() { curl -fsS "http://$PUSH_METRICS/metrics"; }
# One sample of the agent's /metrics (NAME{labels} as Prometheus writes it).
push_metric() { push_scrape | awk -v m="$1" '$1 == m { print $2 }'; }

# True when InfluxDB's last FIELD of MEASUREMENT [WHERE] is WANT.
push_influx_is() { [ "$(push_influx_last "$2" "$3" "${4:-}")" = "$1" ]; }

# The statsd key of a Prometheus sample NAME{k="v",...} with labels folded
# (docs/telemetry.md): NAME[SUFFIX].node_NODE.k_v..., unsafe characters '_'.
push_statsd_key() { # SAMPLE NODE [SUFFIX]
	awk -v s="$1" -v node="$2" -v suffix="${3:-}" 'BEGIN {
		name = s; labels = ""
		if ((i = index(s, "{")) > 0) { name = substr(s, 1, i - 1); labels = substr(s, i + 1, length(s) - i - 1) }
		key = name suffix ".node_" node
		n = split(labels, kv, ",")
		for (j = 1; j <= n; j++) {
			split(kv[j], p, "=")
			v = p[2]; gsub(/"/, "", v); gsub(/[^A-Za-z0-9_-]/, "_", v)
			key = key "." p[1] "_" v
		}
		print key
	}'
}

# Families with at least one sample in Prometheus text on stdin.
push_families_with_samples() {
	awk '$1 == "#" && $2 == "TYPE" { type[$3] = $4; next }
	     $1 !~ /^#/ { n = $1; sub(/\{.*/, "", n); seen[n] = 1 }
	     END { for (f in type) if (seen[f] || (type[f] == "histogram" && seen[f "_count"])) print f }' | sort
}

# Which series of the agent's apply histogram got the observation between
# the scrapes BEFORE and AFTER, and its bucket: "WRITE LE".
push_new_observation() { # BEFORE AFTER
	awk 'NR == FNR { before[$1] = $2; next }
	     /^shunt_config_apply_duration_seconds_bucket/ && $2 > before[$1] + 0 {
		match($1, /write="[a-z]+"/); w = substr($1, RSTART + 7, RLENGTH - 8)
		match($1, /le="[^"]+"/); le = substr($1, RSTART + 4, RLENGTH - 5)
		if (!(w in first)) { first[w] = le; print w, le }
	     }' "$1" "$2"
}

test_push_agent_metrics_read_back_from_influxdb_and_statsd_equal_its_own() {
	t_need influxd statsd python3
	t_cluster_up 1 3
	push_influxd_start
	push_statsd_start
	push_v2_start
	echo tok-123 >"$T_TMP/token"
	push_agent_start n1 \
		--push "influxdb=$PUSH_INFLUX,db=$PUSH_DB,interval=1s" \
		--push "statsd=127.0.0.1:$PUSH_STATSD_PORT,interval=1s" \
		--push "influxdb2=http://127.0.0.1:$PUSH_V2_PORT,org=acme,bucket=mesh,token-file=$T_TMP/token,interval=1s"
	local base final i write le bound
	base=$(push_metric shunt_connects_total)
	push_scrape >"$T_TMP/before.prom"
	t_probe_server n1-p2 echo --tcp 0.0.0.0:8080
	# Two rounds, more than an interval apart: two pushes carry deltas.
	for ((i = 0; i < 10; i++)); do t_probe n1-p1 10.100.1.12:8080 >/dev/null; done
	sleep 1.5
	for ((i = 0; i < 10; i++)); do t_probe n1-p1 10.100.1.12:8080 >/dev/null; done
	kill -HUP "$PUSH_AGENT_PID"
	t_wait_for 10 t_agent_applied n1 2 || t_fail "no apply after SIGHUP"
	# Quiet from here: the next pushes and a statsd flush carry the rest.
	sleep 3.5
	push_scrape >"$T_TMP/after.prom"
	final=$(awk '$1 == "shunt_connects_total" { print $2 }' "$T_TMP/after.prom")
	t_ge "$((final - base))" 20 "connects counted by the agent"

	# A counter: InfluxDB has the total, statsd the deltas that add up to it.
	t_wait_for 5 push_influx_is "$final" shunt_connects_total value "node='n1'" ||
		t_fail "influxdb: shunt_connects_total is $(push_influx_last shunt_connects_total value), /metrics $final"
	t_wait_for 5 push_statsd_is "$((final - base))" shunt_connects_total.node_n1 ||
		t_fail "statsd: the shunt_connects_total deltas since the agent started add up to $(push_statsd_counter shunt_connects_total.node_n1), not $((final - base))"

	# A labelled gauge.
	local g
	g=$(awk '$1 == "shunt_workloads{scope=\"node\"}" { print $2 }' "$T_TMP/after.prom")
	t_eq "$(push_influx_last shunt_workloads value "scope='node'")" "$g" "influxdb: shunt_workloads{scope=node}"
	t_eq "$(jq -s 'map(.gauges["shunt_workloads.node_n1.scope_node"] // empty) | last' "$T_TMP/statsd.flush.jsonl")" \
		"$g" "statsd: gauge shunt_workloads.node_n1.scope_node"

	# Every labelled series of a family with many labels (policy verdicts), by name.
	local s k v n=0
	while read -r s v; do
		k=$(push_statsd_key "$s" n1)
		[ "$(push_statsd_counter "$k")" = "$v" ] || t_fail "statsd: $k is $(push_statsd_counter "$k"), /metrics $v"
		n=$((n + 1))
	done < <(grep '^shunt_policy_verdicts_total{' "$T_TMP/after.prom" | grep -v 'port="0"')
	t_log "policy verdict series read back from statsd by their folded names: $n"

	# The histogram: InfluxDB has count and sum; statsd a timer at the bucket's bound.
	read -r write le < <(push_new_observation "$T_TMP/before.prom" "$T_TMP/after.prom")
	[ -n "$write" ] || t_fail "no apply observed in shunt_config_apply_duration_seconds"
	local count sum
	count=$(awk -v m="shunt_config_apply_duration_seconds_count{write=\"$write\"}" '$1 == m { print $2 }' "$T_TMP/after.prom")
	sum=$(awk -v m="shunt_config_apply_duration_seconds_sum{write=\"$write\"}" '$1 == m { print $2 }' "$T_TMP/after.prom")
	t_eq "$(push_influx_last shunt_config_apply_duration_seconds count "\"write\"='$write'")" "$count" "influxdb: histogram count"
	push_close "$(push_influx_last shunt_config_apply_duration_seconds sum "\"write\"='$write'")" "$sum" 1e-12 ||
		t_fail "influxdb: histogram sum $(push_influx_last shunt_config_apply_duration_seconds sum "\"write\"='$write'"), /metrics $sum"
	k=shunt_config_apply_duration_seconds.node_n1.write_$write
	push_close "$(jq -s --arg k "$k" '[.[].timer_data[$k].count // 0] | add' "$T_TMP/statsd.flush.jsonl")" 1 1e-6 ||
		t_fail "statsd: timer $k counted $(jq -s --arg k "$k" '[.[].timer_data[$k].count // 0] | add' "$T_TMP/statsd.flush.jsonl") observations, not 1"
	bound=$le
	[ "$le" = "+Inf" ] && bound=2.5
	push_close "$(jq -s --arg k "$k" '[.[].timer_data[$k].upper // empty] | max' "$T_TMP/statsd.flush.jsonl")" \
		"$(awk -v b="$bound" 'BEGIN { print b * 1000 }')" 1e-9 || t_fail "statsd: timer $k not at the bucket bound $bound s"
	t_log "apply histogram: write=$write le=$le count=$count sum=$sum, as read back"

	# Every family with samples is a measurement.
	local missing
	missing=$(comm -23 <(push_families_with_samples <"$T_TMP/after.prom") \
		<(push_influx_query 'SHOW MEASUREMENTS' | jq -r '.results[0].series[0].values[][0]' | sort))
	[ -z "$missing" ] || t_fail "families not in influxdb: $missing"

	# The v2 API: path, query, token, and the same line for the counter.
	jq -e -s --arg line "shunt_connects_total,node=n1 value=$final " 'last |
		.path == "/api/v2/write" and .query == {org: "acme", bucket: "mesh", precision: "ms"} and
		.auth == "Token tok-123" and (.type | startswith("text/plain")) and
		(.body | split("\n") | any(startswith($line)))' "$T_TMP/v2.jsonl" >/dev/null ||
		t_fail "v2 write: $(tail -1 "$T_TMP/v2.jsonl" | jq -c '.body |= .[:200]')"

	t_eq "$(push_statsd_counter statsd.bad_lines_seen)" 0 "statsd: bad lines"
	for k in influxdb statsd influxdb2; do
		t_eq "$(push_metric "shunt_telemetry_push_failures_total{exporter=\"$k\"}")" 0 "$k push failures"
		t_ge "$(push_metric "shunt_telemetry_pushes_total{exporter=\"$k\"}")" 3 "$k pushes"
	done
	t_log "connects: /metrics $final (agent start $base); influxdb $final; statsd deltas $((final - base)); $(wc -l <"$T_TMP/v2.jsonl") v2 writes"
}

# Process NAME's resident memory in KiB.
push_rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# The number of log lines of the agent of NODE matching the jq filter F.
push_log_count() { jq -R -c "fromjson? | select($2)" "$T_TMP/agent.$1.log" | wc -l; }

test_push_a_dead_or_slow_collector_is_counted_and_holds_up_nothing() {
	t_need influxd python3
	t_cluster_up 1 2
	local slow dead slow_pid i t worst=0 rss0 rss1
	slow=$(push_free_port)
	dead=$(push_free_port)
	# An HTTP "server" that takes connections and never answers.
	python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(64)
held = []
while True:
    held.append(s.accept()[0])
' "$slow" &
	slow_pid=$!
	T_PIDS+=($!)
	t_wait_for 5 push_listening "$slow" || t_fail "the slow server did not start"
	# A bad target: refused before anything starts, saying what is wrong.
	local out
	out=$("$SHUNT" --pin-dir "$(t_node_field n1 pin_dir)" agent --config "$MESH_CONFIG" --node n1 \
		--push "influxdb=http://127.0.0.1:$slow" 2>&1) && t_fail "an influxdb target without db= was taken"
	[[ $out == *"influxdb needs db=NAME"* ]] || t_fail "the refusal does not say why: $out"
	[ -e "$(t_node_field n1 pin_dir)/maps" ] && t_fail "a refused --push still loaded the datapath"
	PUSH_DB=x
	push_agent_start n1 --push "influxdb=http://127.0.0.1:$slow,db=$PUSH_DB,interval=1s,timeout=700ms" \
		--push "statsd=127.0.0.1:$dead,interval=1s"
	sleep 1
	rss0=$(push_rss_kib "$PUSH_AGENT_PID")
	# /metrics answers at once while the pushes hang.
	for ((i = 0; i < 25; i++)); do
		t=$(curl -fsS -o /dev/null -w '%{time_total}' "http://$PUSH_METRICS/metrics") || t_fail "scrape failed"
		worst=$(awk -v a="$t" -v b="$worst" 'BEGIN { print (a > b ? a : b) }')
		sleep 0.2
	done
	rss1=$(push_rss_kib "$PUSH_AGENT_PID")
	push_close "$worst" 0 0.3 || t_fail "a scrape took ${worst}s while the pushes hung"
	t_le "$((rss1 - rss0))" 1024 "agent RSS growth (KiB) over 25 failed pushes"
	t_ge "$(push_metric 'shunt_telemetry_push_failures_total{exporter="influxdb"}')" 4 "influxdb failures counted"
	t_eq "$(push_metric 'shunt_telemetry_pushes_total{exporter="influxdb"}')" 0 "influxdb pushes"
	t_ge "$(push_metric 'shunt_telemetry_push_failures_total{exporter="statsd"}')" 2 \
		"statsd failures counted (a refused port answers every other datagram)"
	# One warning each (rate-limited), saying why.
	t_eq "$(push_log_count n1 '.msg | test("push to influxdb .* failed: Timeout")')" 1 "influxdb warnings"
	t_eq "$(push_log_count n1 '.msg | test("push to statsd .* failed: .*Connection refused")')" 1 "statsd warnings"
	# The collector comes back: pushes go through and the log says so.
	kill "$slow_pid"
	wait "$slow_pid" 2>/dev/null
	push_influxd_start "$slow"
	t_wait_for 10 push_influx_is "$(push_metric 'shunt_workloads{scope="node"}')" shunt_workloads value "scope='node'" ||
		t_fail "nothing arrived once influxd was up"
	t_wait_for 5 bash -c "grep -q 'push to influxdb .* works again after' '$T_TMP/agent.n1.log'" ||
		t_fail "no recovery line in the log"
	t_log "worst scrape ${worst}s during failing pushes; RSS $rss0 -> $rss1 KiB"
}

# The node proxy pushes its L7 metrics (DogStatsD tags this time): n1's
# proxy, with the daemons in n1's network namespace where the proxy runs.
test_push_proxy_l7_metrics_read_back_from_influxdb_and_statsd() {
	t_need influxd statsd python3
	l7_setup <<-'EOF'
		  - name: web
		    parentRefs: [{name: web}]
		    rules:
		      - matches: [{path: {type: PathPrefix, value: /only}}]
	EOF
	PUSH_NS=$SHUNT_CLUSTER_PREFIX-n1
	push_influxd_start
	push_statsd_start
	local pid n k want got
	pid=$(eval echo "\$PROXY_PID_n1")
	kill "$pid"
	wait "$pid" 2>/dev/null
	PROXY_ARGS="--push influxdb=$PUSH_INFLUX,db=$PUSH_DB,interval=1s --push statsd=127.0.0.1:$PUSH_STATSD_PORT,interval=1s,tags=dogstatsd" \
		proxy_start n1
	for ((n = 0; n < 30; n++)); do
		l7_curl '%{http_code}\n' /only/here >>"$T_TMP/codes"
		l7_curl '%{http_code}\n' /elsewhere >>"$T_TMP/codes"
	done
	t_eq "$(sort "$T_TMP/codes" | uniq -c | awk '{ printf "%s:%s ", $2, $1 }')" "200:30 404:30 " "answers"
	sleep 3.5
	for k in shunt_l7_requests_total 'shunt_l7_responses_total{class="2xx"}' \
		'shunt_l7_responses_total{class="4xx"}' 'shunt_l7_proxy_answers_total{outcome="no_route"}'; do
		want=$(l7_metric "$k")
		[[ $want =~ ^[0-9]+$ ]] || t_fail "/metrics $k is '$want'"
		t_ge "$want" 30 "/metrics $k"
		local m=${k%%\{*} where="node='n1'" tags=";node=n1"
		if [[ $k == *\{* ]]; then
			local kv=${k#*\{}
			kv=${kv%\}}
			where+=" AND \"${kv%%=*}\"=$(echo "${kv#*=}" | tr '"' "'")"
			tags+=";${kv%%=*}=$(echo "${kv#*=}" | tr -d '"')"
		fi
		t_wait_for 5 push_influx_is "$want" "$m" value "$where" ||
			t_fail "influxdb: $k is $(push_influx_last "$m" value "$where"), /metrics $want"
		# statsd keeps DogStatsD tags as Graphite tags: NAME;k=v;...
		t_wait_for 5 push_statsd_is "$want" "$m$tags" ||
			t_fail "statsd: the $m$tags deltas add up to $(push_statsd_counter "$m$tags"), not $want"
		got=$(push_statsd_counter "$m$tags")
		t_log "$k: /metrics $want, influxdb $want, statsd $got"
	done
}
