# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
# Istio's standard metrics (docs/telemetry.md "Metrics") read back through a
# real Prometheus (Debian's package): it scrapes both agents and both node
# proxies of the cluster every second, and the test asks its HTTP API
# (/api/v1/query) for the counts, rates, byte sums and percentiles that its
# own traffic produced.
#
# Cluster: test_l7.sh's (tests/lib/l7lib.sh): the client is n1-p1, "v1" in
# n1-p2 (same node), "v2" in n2-p2 (across the mTLS tunnel), both behind
# web (10.96.0.80:80, appProtocol http). The agents serve /metrics on the
# host's loopback; the proxies on their node's loopback, reached through
# tests/apps/netns_forward.py.

# shellcheck source=tests/lib/promlib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/promlib.sh"

# Every request to web's own endpoints (v1 and v2).
PROM_ROUTE_ALL='  - name: web
    parentRefs: [{name: web, port: 80}]
    rules:
      - matches: [{path: {type: PathPrefix, value: /}}]'

# Requests from n1-p1 to web for SECONDS, one at a time, each a POST of
# 300 bytes answered with 1000 bytes after DELAY ms. Writes the count and
# the client's mean time (ms) to $T_TMP/client, start and end to
# $T_TMP/window (unix seconds).
prom_traffic() { # SECONDS DELAY
	head -c 300 /dev/zero | tr '\0' x >"$T_TMP/req.body"
	date +%s.%N >"$T_TMP/window"
	t_exec n1-p1 -- bash -c "end=\$((SECONDS + $1)); while [ \$SECONDS -lt \$end ]; do
		curl -sS -m 5 -o /dev/null -w '%{http_code} %{time_total}\n' \
			--data-binary @$T_TMP/req.body 'http://$L7_VIP/?size=1000&delay_ms=$2'; done" \
		>"$T_TMP/answers"
	date +%s.%N >>"$T_TMP/window"
	awk '$1 == 200 { n++; t += $2 } END { printf "%d %.3f\n", n, n ? 1000 * t / n : 0 }' \
		"$T_TMP/answers" >"$T_TMP/client"
	t_eq "$(awk '$1 != 200' "$T_TMP/answers" | wc -l)" 0 "answers other than 200"
}

SRC_SEL='reporter="source",source_workload="n1-p1",source_workload_namespace="default",destination_service="web.default.svc.cluster.local"'

test_istio_http_metrics_read_back_through_prometheus() {
	prom_cluster <<<"$PROM_ROUTE_ALL"
	prom_start
	prom_traffic 8 30
	local n client_ms start end sel
	read -r n client_ms <"$T_TMP/client"
	start=$(head -1 "$T_TMP/window")
	end=$(tail -1 "$T_TMP/window")
	t_ge "$n" 50 "requests made in 8 s"
	sel="$SRC_SEL,source_principal=\"spiffe://cluster.local/ns/default/sa/client\",request_protocol=\"http\",response_code=\"200\",response_flags=\"-\",connection_security_policy=\"unknown\""
	# Counts: exact, and split by endpoint as the backends counted them.
	prom_wait "sum(istio_requests_total{$sel})" "$n" "requests counted"
	local v1 v2
	# Asked from outside the mesh: a meshed /count would be counted too.
	v1=$(t_exec --outside n1-p2 -- curl -sS -m 5 "http://$(t_pod_ip n1-p2):8080/count" | jq -r .served)
	v2=$(t_exec --outside n2-p2 -- curl -sS -m 5 "http://$(t_pod_ip n2-p2):8080/count" | jq -r .served)
	t_eq "$(prom_query "sum(istio_requests_total{$sel,destination_workload=\"n1-p2\",destination_principal=\"spiffe://cluster.local/ns/default/sa/echo\"})")" "$v1" "requests to v1 (same node)"
	t_eq "$(prom_query "sum(istio_requests_total{$sel,destination_workload=\"n2-p2\"})")" "$v2" "requests to v2 (across nodes)"
	# The destination's view: v1's node is the client's (one hop, both
	# reporters); v2's requests met n2's proxy after the mTLS tunnel.
	local dsel='reporter="destination",source_workload="n1-p1",source_principal="spiffe://cluster.local/ns/default/sa/client",destination_service="web.default.svc.cluster.local",response_code="200"'
	prom_wait "sum(istio_requests_total{$dsel,destination_workload=\"n1-p2\",node=\"n1\",connection_security_policy=\"none\"})" "$v1" \
		"v1's requests, reported by its node as the destination"
	prom_wait "sum(istio_requests_total{$dsel,destination_workload=\"n2-p2\",node=\"n2\",connection_security_policy=\"mutual_tls\"})" "$v2" \
		"v2's requests, reported by its node as the destination"
	# The rate over 5 s inside the traffic window, against the client's.
	local rate want
	rate=$(prom_query "sum(rate(istio_requests_total{$sel}[5s]))" "$(awk -v e="$end" 'BEGIN { printf "%.3f", e - 1 }')")
	want=$(awk -v n="$n" -v s="$start" -v e="$end" 'BEGIN { printf "%.3f", n / (e - s) }')
	t_log "rate: prometheus $rate req/s, client $want req/s ($n requests)"
	prom_within "$rate" "$(awk -v w="$want" 'BEGIN { print w * 0.7 }')" \
		"$(awk -v w="$want" 'BEGIN { print w * 1.3 }')" "rate(istio_requests_total[5s])"
	# Durations: each waited 30 ms at the backend; the proxy's mean lies
	# between that and the client's own mean (which includes the proxy's).
	local mean p50 p99
	mean=$(prom_query "sum(istio_request_duration_milliseconds_sum{$sel}) / sum(istio_request_duration_milliseconds_count{$sel})")
	t_log "mean duration: prometheus $mean ms, client $client_ms ms"
	prom_within "$mean" 30 "$client_ms" "mean istio_request_duration_milliseconds"
	p50=$(prom_query "histogram_quantile(0.5, sum by (le) (istio_request_duration_milliseconds_bucket{$sel}))")
	p99=$(prom_query "histogram_quantile(0.99, sum by (le) (rate(istio_request_duration_milliseconds_bucket{$sel}[1m])))")
	t_log "histogram_quantile: p50 $p50 ms, p99 $p99 ms"
	# Every request took over 25 ms (30 ms at the backend); nearly all are
	# in Istio's (25, 50] ms bucket.
	t_eq "$(prom_query "sum(istio_request_duration_milliseconds_bucket{$sel,le=\"25\"})")" 0 "requests under 25 ms"
	prom_within "$p50" 25 50 "p50"
	prom_within "$p99" 25 100 "p99 (a slow outlier may reach the next bucket)"
	# Bytes: bodies exactly (300 up, 1000 down), in their buckets.
	t_eq "$(prom_query "sum(istio_request_bytes_sum{$sel})")" $((300 * n)) "request body bytes"
	t_eq "$(prom_query "sum(istio_response_bytes_sum{$sel})")" $((1000 * n)) "response body bytes"
	t_eq "$(prom_query "sum(istio_response_bytes_bucket{$sel,le=\"100\"})")" 0 "responses under 100 bytes"
	t_eq "$(prom_query "sum(istio_response_bytes_bucket{$sel,le=\"1000\"})")" "$n" "responses up to 1000 bytes"
	# The agents are scraped too, with their own metrics.
	t_eq "$(prom_query 'count(shunt_connects_total{job="shunt-agent"})')" 2 "agents' series"
	t_eq "$(prom_query 'sum(shunt_istio_overflow_total{kind="http"})')" 0 "label sets over the bound"
}

# The proxy's own answers carry Envoy's response flags and their status.
test_istio_response_flags_of_proxy_answers() {
	prom_cluster <<-'EOF'
		  - name: web
		    parentRefs: [{name: web, port: 80}]
		    rules:
		      - matches: [{path: {type: PathPrefix, value: /only}}]
	EOF
	prom_start
	local i
	for i in 1 2 3; do l7_curl '%{http_code}\n' /elsewhere >>"$T_TMP/codes"; done
	t_eq "$(sort -u "$T_TMP/codes")" 404 "answers"
	prom_wait "sum(istio_requests_total{$SRC_SEL,response_code=\"404\",response_flags=\"NR\",destination_workload=\"unknown\"})" 3 "no_route answers"
}

# Plain TCP across nodes (the mTLS tunnel): both proxies report, as
# "source" and "destination", and agree on the bytes; same-node
# connections are the agent's (the kernel path), never the proxy's.
test_istio_tcp_metrics_of_tunnelled_connections() {
	prom_cluster <<<"$PROM_ROUTE_ALL"
	l7_backend n2-p1 tcp
	prom_start
	local k=6 i size=50000 dst
	dst=$(t_pod_ip n2-p1)
	for i in $(seq $k); do
		t_exec n1-p1 -- curl -sS -m 5 -o /dev/null "http://$dst:8080/?size=$size" || t_fail "curl $i"
	done
	# Same node, kernel path (the bypass where it is on).
	for i in 1 2 3; do
		t_exec n1-p1 -- curl -sS -m 5 -o /dev/null "http://$(t_pod_ip n1-p2):8080/?size=$size" || t_fail "local curl $i"
	done
	local sel='source_workload="n1-p1",destination_workload="n2-p1",request_protocol="tcp"'
	prom_wait "sum(istio_tcp_connections_opened_total{reporter=\"source\",node=\"n1\",$sel})" $k "opened, client's node"
	prom_wait "sum(istio_tcp_connections_opened_total{reporter=\"destination\",node=\"n2\",$sel,connection_security_policy=\"mutual_tls\",source_principal=\"spiffe://cluster.local/ns/default/sa/client\"})" $k "opened, server's node"
	prom_wait "sum(istio_tcp_connections_closed_total{reporter=\"source\",$sel})" $k "closed, client's node"
	prom_wait "sum(istio_tcp_connections_closed_total{reporter=\"destination\",$sel})" $k "closed, server's node"
	local sent_src sent_dst recv_src recv_dst
	sent_src=$(prom_query "sum(istio_tcp_sent_bytes_total{reporter=\"source\",$sel})")
	sent_dst=$(prom_query "sum(istio_tcp_sent_bytes_total{reporter=\"destination\",$sel})")
	recv_src=$(prom_query "sum(istio_tcp_received_bytes_total{reporter=\"source\",$sel})")
	recv_dst=$(prom_query "sum(istio_tcp_received_bytes_total{reporter=\"destination\",$sel})")
	t_log "tcp bytes: sent $sent_src / $sent_dst, received $recv_src / $recv_dst (source / destination)"
	t_eq "$sent_src" "$sent_dst" "sent bytes, both reporters"
	t_eq "$recv_src" "$recv_dst" "received bytes, both reporters"
	# Each response is its body and a head of a few hundred bytes.
	t_ge "$sent_src" $((k * size)) "sent bytes"
	t_le "$sent_src" $((k * (size + 1024))) "sent bytes"
	t_ge "$recv_src" $((k * 40)) "received bytes (requests)"
	t_le "$recv_src" $((k * 1024)) "received bytes (requests)"
	t_eq "$(prom_query 'count(istio_tcp_connections_opened_total{job="shunt-proxy",destination_workload="n1-p2"})')" none \
		"same-node kernel connections in the proxies' istio_tcp_*"
	prom_wait 'sum(istio_tcp_connections_closed_total{job="shunt-agent",node="n1",reporter="destination",source_workload="n1-p1",destination_workload="n1-p2"})' 3 \
		"same-node kernel connections in the agent's istio_tcp_*"
}

# Same-node connections (the kernel path) in the agent's istio_tcp_*:
# K connections from n1-p1 to n1-p2 (and shunt-tt's 1-byte warm-up
# exchange before them), the client sending N bytes on each, the server
# answering M: opened and closed are K + 1, received (from the client)
# K x N + 1 and sent (towards it) K x M + 1, to the byte, under both
# reporters, and no proxy counted them. Leaves the pair's edge of `shunt
# graph` (the same map: its bypass/TCP split) in $T_TMP/edge.
K=4 N=300007 M=1000003
same_node_traffic_counted() {
	local dst
	dst="$(t_pod_ip n1-p2):9000"
	t_snap n1
	t_tt_server n1-p2 "$dst" --count $K --send $M --expect $N
	t_tt_client n1-p1 "$dst" --send $N --expect $M --repeat $K
	t_tt_server_wait
	local sel='job="shunt-agent",node="n1",source_workload="n1-p1",source_workload_namespace="default",source_principal="spiffe://cluster.local/ns/default/sa/client",destination_workload="n1-p2",destination_workload_namespace="default",destination_principal="spiffe://cluster.local/ns/default/sa/echo",destination_service="unknown",request_protocol="tcp",response_flags="-"'
	local rep csp s
	for rep in source destination; do
		csp=unknown
		[ $rep = source ] || csp=none
		s="$sel,reporter=\"$rep\",connection_security_policy=\"$csp\""
		prom_wait "sum(istio_tcp_connections_opened_total{$s})" $((K + 1)) "opened ($rep)"
		prom_wait "sum(istio_tcp_connections_closed_total{$s})" $((K + 1)) "closed ($rep)"
		prom_wait "sum(istio_tcp_received_bytes_total{$s})" $((K * N + 1)) "bytes from the client ($rep)"
		prom_wait "sum(istio_tcp_sent_bytes_total{$s})" $((K * M + 1)) "bytes towards the client ($rep)"
	done
	# One series per reporter and family: nothing else on the node, and
	# nothing from the proxies (no connection counted twice).
	t_eq "$(prom_query 'count(istio_tcp_sent_bytes_total{node="n1"})')" 2 "istio_tcp_sent_bytes_total series of n1"
	t_eq "$(prom_query 'count(istio_tcp_connections_opened_total{job="shunt-proxy"})')" none \
		"the proxies' istio_tcp_* (no stream went through them)"
	"$SHUNT" graph --node "n1,pin-dir=$(t_node_field n1 pin_dir)" --format json >"$T_TMP/graph.json" ||
		t_fail "shunt graph failed"
	jq -c '.edges[] | select(.source == "default/n1-p1" and .destination == "default/n1-p2")' \
		"$T_TMP/graph.json" >"$T_TMP/edge"
	t_eq "$(jq -r .connections "$T_TMP/edge")" $((K + 1)) "the pair's connections (shunt graph)"
	t_eq "$(jq -r '.bytes_bypass + .bytes_tcp' "$T_TMP/edge")" $((K * (N + M) + 2)) "the pair's bytes (shunt graph)"
}

test_istio_tcp_metrics_of_same_node_kernel_connections() {
	t_bypass_known_off
	prom_cluster <<<"$PROM_ROUTE_ALL"
	t_need_bypass n1
	prom_start
	same_node_traffic_counted
	# The bytes went through the bypass: the pair's own split and the
	# node's counter (the first sends of a connection may take TCP).
	local bypass
	bypass=$(jq -r .bytes_bypass "$T_TMP/edge")
	t_eq "$(jq -r .path "$T_TMP/edge")" bypass "the pair's path (shunt graph)"
	t_log "bytes through the bypass: $bypass of $((K * (N + M) + 2)) (node: $(t_delta n1 bytes_redirected))"
	t_ge "$bypass" $((K * (N + M) / 2)) "the pair's bytes through the bypass"
	t_ge "$(t_delta n1 bytes_redirected)" "$bypass" "the node's bytes through the bypass"
}

# The same with the bypass off (as on a kernel without its guards): the
# connections stay on plain TCP between the two pods, and count the same.
test_istio_tcp_metrics_of_same_node_connections_without_the_bypass() {
	export SHUNT_FEATURES_OFF=rx_queue_tracepoint
	prom_cluster <<<"$PROM_ROUTE_ALL"
	t_eq "$(t_feature n1 bypass)" off "the bypass"
	prom_start
	same_node_traffic_counted
	t_eq "$(jq -r '"\(.path) \(.bytes_bypass)"' "$T_TMP/edge")" "tcp 0" "the pair's path and bypass bytes (shunt graph)"
	t_eq "$(t_delta n1 bytes_redirected)" 0 "the node's bytes through the bypass"
}

# Debian's python3-grpcio is for Debian's interpreter (test_l7_grpc.sh).
GRPC_PYTHON=/usr/bin/python3

# gRPC calls (a real grpcio client and servers, HTTP/2 both legs): their
# statuses as grpc_response_status, under request_protocol "grpc".
test_istio_grpc_statuses_read_back_through_prometheus() {
	L7_SERVICES_EXTRA='  - name: rpc
    virtualIPs: [10.96.0.90]
    ports: [{name: grpc, port: 50051, appProtocol: grpc}]
    backends: [{workload: n1-p2}, {workload: n2-p2}]' prom_cluster <<-'EOF'
		  - name: rpc
		    parentRefs: [{name: rpc}]
	EOF
	local pod name
	for pod in n1-p2:v1 n2-p2:v2; do
		name=${pod#*:}
		pod=${pod%:*}
		t_exec "$pod" -- "$GRPC_PYTHON" "$REPO/tests/apps/grpc_app.py" serve \
			--listen "$(t_pod_ip "$pod"):50051" --name "$name" >"$T_TMP/grpc.$name.log" 2>&1 &
		T_PIDS+=($!)
		t_wait_for 10 t_cov_port_open "$pod" 50051 || t_fail "gRPC server $name did not start"
	done
	prom_start
	local out sel='reporter="source",request_protocol="grpc",destination_service="rpc.default.svc.cluster.local",response_code="200"'
	out=$(t_exec n1-p1 -- "$GRPC_PYTHON" "$REPO/tests/apps/grpc_app.py" call --target 10.96.0.90:50051 --count 20)
	t_eq "$(jq -c .codes <<<"$out")" '{"OK":20}' "calls"
	out=$(t_exec n1-p1 -- "$GRPC_PYTHON" "$REPO/tests/apps/grpc_app.py" call --target 10.96.0.90:50051 \
		--method Fail --request NOT_FOUND --count 7)
	t_eq "$(jq -c .codes <<<"$out")" '{"NOT_FOUND":7}' "failing calls"
	prom_wait "sum(istio_requests_total{$sel,grpc_response_status=\"0\",response_flags=\"-\"})" 20 "OK calls"
	prom_wait "sum(istio_requests_total{$sel,grpc_response_status=\"5\",response_flags=\"-\"})" 7 "NOT_FOUND calls"
	# Each call met its endpoint's node too (destination's hop, or the
	# one hop of a same-node call): the same counts as the destination saw them.
	prom_wait "sum(istio_requests_total{${sel/source/destination},grpc_response_status=\"0\"})" 20 \
		"OK calls, reported by the destination"
	prom_wait "sum(istio_requests_total{${sel/source/destination},grpc_response_status=\"5\"})" 7 \
		"NOT_FOUND calls, reported by the destination"
	t_eq "$(prom_query 'count(istio_requests_total{request_protocol="grpc",grpc_response_status=""})')" none \
		"gRPC calls without a status"
}
