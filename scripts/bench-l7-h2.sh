# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
#
# Sourced by scripts/bench-l7.sh: the HTTP/2 rows of the l7 section. The same
# 1 KiB file, served over h2c (HTTP/2 with prior knowledge) by the server
# pods' nginx (port 8282 in the mesh, 8283 outside it), loaded by h2load:
#
#   nomesh-h2    h2load straight to the server's h2c port (client and server
#                outside the mesh cgroup)
#   shunt-l7-h2  h2load to a service VIP whose port has appProtocol http2: h2c
#                from the client to the node proxy, and h2c from the proxy to
#                the endpoint (across nodes inside the proxies' mTLS tunnel);
#                the shunt-l7 rows' proxies
#   haproxy-h2   per-node haproxy, h2c in (`bind ... proto h2`) and out
#                (`server ... proto h2`); across nodes HTTP/2 over mutual TLS
#                (ALPN h2) between the node proxies
#
# Measured like the HTTP/1.1 rows: req/s with h2load (64 connections, 10
# streams each, 2 threads) and the proxies' CPU over the run; latency at
# 1000 req/s from h2load's per-request log. Not with --rps: its timer ticks
# at most every 10 ms, so 1000 req/s goes out as bursts of 10 (and 16
# connections' timers fire together), and the latency measured is queueing
# within a burst. A timing script instead: one request every 1 ms on one
# connection (up to 16 streams). h2load schedules each request from the
# previous one's timer, so on a busy machine the rate it achieves falls
# short of 1000 req/s: it is recorded (achieved_rps). h2load times a request
# from when it sent it, shunt-http-rate from when it was scheduled: at a
# rate far below capacity the two agree. Any request that failed, errored,
# timed out or was not answered 2xx discards the run. A shunt-l7-h2 run must move
# shunt_l7_requests_total and shunt_l7_upstream_h2_streams_total (requests
# sent to endpoints as HTTP/2 streams) by at least h2load's request count.
#
# Uses from bench-l7.sh: L7_NODE1 L7_NODE2 L7_PROCS L7_PATH L7_CONNS L7_RATE
# L7_SECS l7_exec l7_start l7_wait_port l7_haproxy_cfg l7_haproxy_listen
# l7_tls_in l7_tls_out l7_peer_pids; from bench.sh: WORK SRV_IP X_IP
# SHUNT_CLUSTER_PREFIX OUT.

L7_VIP_H2_SAME=10.96.0.92
L7_VIP_H2_CROSS=10.96.0.93
L7_H2_STREAMS=10 # h2load's concurrent streams per connection (-m)
L7_H2_PEERS_WHY="haproxy-h2 is the one HTTP/2 peer: nginx proxies to upstreams over HTTP/1.x only, h2o 2.2 (Debian 12) too, and the sidecar shape is measured over HTTP/1.1 only"

l7_h2_services() { # the mesh config's services with an appProtocol http2 port
	local t w
	for t in same cross; do
		w=n2-p2
		[ $t = same ] && w=n1-p2
		echo "  - {name: l7-h2-$t, virtualIPs: [$(l7_h2_addr shunt-l7-h2 $t | cut -d: -f1)], ports: [{name: h2, port: 80, targetPort: 8282, appProtocol: http2}], backends: [{workload: $w}]}"
	done
}

l7_h2_addr() { # CONFIG TOPOLOGY -> ADDR:PORT the client connects to
	local same=2
	if [ "$2" = same ]; then same=1; fi
	case "$1" in
	nomesh-h2) if [ "$2" = same ]; then echo "$SRV_IP:8283"; else echo "$X_IP:8283"; fi ;;
	shunt-l7-h2) if [ "$2" = same ]; then echo "$L7_VIP_H2_SAME:80"; else echo "$L7_VIP_H2_CROSS:80"; fi ;;
	haproxy-h2) echo "$L7_NODE1:1650$same" ;;
	esac
}

# The shunt-l7 rows' node proxies carry these rows too.
l7_shunt_l7_h2_setup() {
	[ "$(wc -w <<<"${L7_PATH["shunt-l7/cross"]:-}")" = 2 ] || return 1
	L7_PROCS["shunt-l7-h2"]=${L7_PROCS["shunt-l7"]}
	L7_PATH["shunt-l7-h2/same"]=${L7_PATH["shunt-l7/same"]}
	L7_PATH["shunt-l7-h2/cross"]=${L7_PATH["shunt-l7/cross"]}
}

l7_haproxy_h2_setup() {
	local d=$WORK/l7-haproxy-h2 p1 p2
	mkdir -p "$d"
	{
		l7_haproxy_listen same "$L7_NODE1:16501 proto h2" "$SRV_IP:8283 proto h2" haproxy-h2-n1
		l7_haproxy_listen cross "$L7_NODE1:16502 proto h2" "$L7_NODE2:16543 $(l7_tls_out) alpn h2" haproxy-h2-n1
	} | l7_haproxy_cfg >"$d/n1.cfg"
	l7_haproxy_listen in "$L7_NODE2:16543 $(l7_tls_in) alpn h2" "$X_IP:8283 proto h2" haproxy-h2-n2 |
		l7_haproxy_cfg >"$d/n2.cfg"
	l7_start haproxy-h2-n1 n1 haproxy -db -f "$d/n1.cfg"
	p1=$L7_PID
	l7_start haproxy-h2-n2 n2 haproxy -db -f "$d/n2.cfg"
	p2=$L7_PID
	l7_peer_pids haproxy-h2 "$p1" "$p2"
	l7_wait_port "$SHUNT_CLUSTER_PREFIX-n1" 16502 && l7_wait_port "$SHUNT_CLUSTER_PREFIX-n2" 16543
}

# shunt_l7_upstream_h2_streams_total (node 1's proxy) moved by at least MIN
# for shunt-l7-h2 (proxy -> endpoint was HTTP/2) and for shunt-l7 across
# nodes (HTTP/1.1 goes as HTTP/2 between the node proxies), not at all for
# shunt-l7 on the same node.
l7_h2_streams() { # CONFIG TOPOLOGY BEFORE AFTER MIN
	local d=$((${4:-0} - ${3:-0}))
	case "$1/$2" in
	shunt-l7-h2/* | shunt-l7/cross)
		[ "$d" -ge "$5" ] || { echo "shunt sent $d HTTP/2 streams to endpoints for $5 requests"; return 1; } ;;
	shunt-l7/same) [ "$d" = 0 ] || { echo "shunt sent $d HTTP/2 streams to an HTTP/1.1 port's endpoints"; return 1; } ;;
	esac
}

# h2load as CONFIG's client: KIND load (L7_CONNS connections, L7_H2_STREAMS
# streams each, for L7_SECS), rate (L7_RATE req/s for L7_SECS from a timing
# script, each request logged to $WORK/l7-h2-lat.log) or warm (1 s of
# load: haproxy-h2 opens an upstream connection for nearly every stream that
# arrives while it has none to spare, hundreds of TLS handshakes across
# nodes, which a cold 1-2 s run would measure instead of the proxying).
l7_h2_client() { # KIND CONFIG ADDR
	local url=http://$3/1k
	case "$1" in
	load) l7_exec "$2" h2load -c"$L7_CONNS" -m$L7_H2_STREAMS -t2 -D "$L7_SECS" "$url" 2>&1 || echo "h2load failed" ;;
	rate)
		rm -f "$WORK/l7-h2-lat.log"
		awk -v n=$((L7_RATE * L7_SECS)) -v gap="$(echo "scale = 6; 1000 / $L7_RATE" | bc)" -v url="$url" \
			'BEGIN { for (i = 0; i < n; i++) printf "%.3f\t%s\n", i * gap, url }' >"$WORK/l7-h2-script.tsv"
		l7_exec "$2" h2load -c1 -m16 -t1 --timing-script-file "$WORK/l7-h2-script.tsv" \
			--log-file "$WORK/l7-h2-lat.log" 2>&1 || echo "h2load failed"
		;;
	warm) l7_exec "$2" h2load -c"$L7_CONNS" -m$L7_H2_STREAMS -t2 -D 1 "$url" >/dev/null 2>&1 || true ;;
	esac
}

# h2load's output -> {rps, requests} (load) or the latency percentiles of its
# request log (rate), like shunt-http-rate's; fails, saying why, if any
# request failed, errored, timed out or was answered other than 2xx.
l7_h2_parse() { # KIND < h2load output
	local out reqs codes
	out=$(cat)
	reqs=$(grep '^requests:' <<<"$out" || true)
	codes=$(grep '^status codes:' <<<"$out" || true)
	# requests: T total, S started, D done, OK succeeded, F failed, E errored, T timeout
	# status codes: A 2xx, B 3xx, C 4xx, D 5xx
	if ! grep -q '^finished in' <<<"$out" ||
		! awk '{ exit !($8 > 0 && $10 == 0 && $12 == 0 && $14 == 0) }' <<<"${reqs:-x}" ||
		! awk '{ exit !($5 == 0 && $7 == 0 && $9 == 0) }' <<<"${codes:-x}"; then
		echo "h2load: $(tr '\n' ' ' <<<"$out" | tail -c 300)"
		return 1
	fi
	if [ "$1" = load ]; then
		awk '/^finished in/ { r = $4 } /^requests:/ { n = $8 } END { printf "{\"rps\": %s, \"requests\": %s}\n", r, n }' <<<"$out"
		return 0
	fi
	if awk -F'\t' '$2 < 200 || $2 >= 300 { bad = 1 } END { exit !bad }' "$WORK/l7-h2-lat.log"; then
		echo "h2load: its log has requests not answered 2xx"
		return 1
	fi
	# Rows: start (us since the epoch), status, duration (us).
	sort -t$'\t' -k3,3n "$WORK/l7-h2-lat.log" | awk -F'\t' '
	  function p(q,  i) { i = int(q * NR); if (i < q * NR) i++; if (i < 1) i = 1; return v[i] }
	  { v[NR] = $3; if (NR == 1 || $1 < a) a = $1; if ($1 > b) b = $1 }
	  END { if (NR == 0) exit 1
	        printf "{\"ok\": %d, \"errors\": 0, \"requests\": %d, \"achieved_rps\": %s, ", NR, NR, (b > a ? (NR - 1) * 1e6 / (b - a) : "null")
	        printf "\"p50_us\": %s, \"p90_us\": %s, \"p99_us\": %s, \"max_us\": %s}\n", p(0.5), p(0.9), p(0.99), v[NR] }' ||
		{ echo "h2load: an empty request log"; return 1; }
}

# Adds the HTTP/2 rows' descriptions and goals to .l7 of $OUT.
l7_h2_results() {
	jq --arg peers "$L7_H2_PEERS_WHY" --argjson conns "$L7_CONNS" --argjson m $L7_H2_STREAMS \
		--argjson rate "$L7_RATE" '
	  def goal($name; $topo; $value; $unit; $target; $ok):
	    {goal: $name, topology: $topo, value: $value, unit: $unit, target: $target,
	     met: (if $value == null then null else $ok end)};
	  def row($c; $t): [.l7.results[] | select(.config == $c and .topology == $t)][0] // {};
	  row("shunt-l7-h2"; "same") as $s | row("shunt-l7-h2"; "cross") as $x
	  | .l7.configs += {"nomesh-h2": "h2c client (h2load) straight to the h2c server (nginx), both outside the mesh",
	      "shunt-l7-h2": "the shunt-l7 agents and proxies; service port with appProtocol http2: client -> proxy h2c, proxy -> endpoint h2c (cross node inside the proxies mTLS tunnel)",
	      "haproxy-h2": "haproxy per node, 2 threads, h2c in (bind proto h2) and out (server proto h2); cross node: HTTP/2 over mutual TLS 1.3 (ALPN h2) between the node proxies"}
	  | .l7.http2 = {rows: "nomesh-h2, shunt-l7-h2, haproxy-h2: the 1 KiB file from nginx over h2c (listen ... http2)",
	      load: "h2load -c \($conns) -m \($m) -t 2 for the run time; requests = succeeded",
	      latency: "h2load -c 1 -m 16 with a timing script of one request every \(1000 / $rate) ms (\($rate) req/s; rows: achieved_rps): percentiles of its request log, timed from when each request was sent; added = minus nomesh-h2; not --rps, which sends bursts of 10 every 10 ms",
	      verified: "a run with any failed, errored, timed out or non-2xx request is discarded; shunt-l7-h2 runs move shunt_l7_requests_total and shunt_l7_upstream_h2_streams_total by at least the request count",
	      peers: $peers}
	  | .l7.goals += [goal("HTTP/2 req/s per proxy CPU-second >= 1.2x the best peer"; "same"; $s.ratio_to_best_peer; "x"; 1.2; ($s.ratio_to_best_peer >= 1.2)),
	      goal("HTTP/2 req/s per proxy CPU-second >= 1.2x the best peer"; "cross"; $x.ratio_to_best_peer; "x"; 1.2; ($x.ratio_to_best_peer >= 1.2)),
	      goal("HTTP/2 added p99 at 1000 req/s <= 0.5 ms"; "same"; $s.p99_added_us; "us"; 500; ($s.p99_added_us <= 500)),
	      goal("HTTP/2 added p99 at 1000 req/s <= 1 ms (mTLS)"; "cross"; $x.p99_added_us; "us"; 1000; ($x.p99_added_us <= 1000))]
	' "$OUT" >"$OUT.tmp"
	mv "$OUT.tmp" "$OUT"
}
