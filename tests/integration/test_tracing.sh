# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
# Tracing (docs/telemetry.md "Tracing"): B3 and W3C context through the
# node proxies' L7 side, and their spans at a Zipkin collector that checks
# every field against the Zipkin v2 API (tests/apps/zipkin_collector.py,
# which answers 400 to anything else).
#
# Cluster: test_l7.sh's (tests/lib/l7lib.sh), with two more L7 services:
# t1 (10.96.0.84, its endpoint n1-p2 "v1", on the client's node) and t2
# (10.96.0.85, n2-p2 "v2", across the tunnel). The client is n1-p1. A
# backend asked to (?call=HOST/PATH) calls on with the trace headers it
# got, so a request crosses both proxies: n1-p1 -> n1's proxy -> v2 on n2
# -> n2's proxy -> v1 on n1. The collector runs in n1's node netns on
# 10.99.0.1, which both proxies reach.

# shellcheck source=tests/lib/l7lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/l7lib.sh"

TR_T1=10.96.0.84
TR_T2=10.96.0.85
TR_PORT=9411
TR_SERVICES="  - name: t1
    virtualIPs: [$TR_T1]
    ports: [{port: 80, targetPort: 8080, appProtocol: http}]
    backends: [{workload: n1-p2}]
  - name: t2
    virtualIPs: [$TR_T2]
    ports: [{port: 80, targetPort: 8080, appProtocol: http}]
    backends: [{workload: n2-p2}]"
TR_B3_TRACE=463ac35c9f6413ad
TR_B3_SPAN=a2fb4a1d1a96d312

# The mesh config: tracing to URL (the rest of its zipkin: EXTRA), new
# traces sampled at TR_SAMPLING (default 1) and sent in TR_NEW_HEADERS (a
# YAML flow list; unset: the default, B3), and TR_OWN (a YAML flow mapping),
# if set, as n1-p1's own tracing.
tr_config() { # URL EXTRA
	L7_SERVICES_EXTRA=$TR_SERVICES l7_config </dev/null |
		awk -v o="${TR_OWN:-}" '{ print } o != "" && $0 == "  - name: n1-p1" { print "    tracing: " o }'
	printf 'tracing:\n  sampling: %s\n  zipkin: {url: "%s", %s}\n' "${TR_SAMPLING:-1}" "$1" "$2"
	[ -z "${TR_NEW_HEADERS:-}" ] || printf '  newTraceHeaders: %s\n' "$TR_NEW_HEADERS"
}

# The cluster with tracing to URL (the rest of the tracing section: EXTRA).
tr_setup() { # URL EXTRA
	t_cluster_up 2 2
	trap proxy_logs_on_failure EXIT
	tr_config "$@" >"$T_TMP/mesh.yaml"
	"$SHUNT" ca init --dir "$T_TMP/ca" --trust-domain cluster.local >/dev/null || t_fail "ca init"
	local k
	for k in 1 2; do
		t_agent_start "n$k" "$T_TMP/mesh.yaml"
		: >"$T_TMP/proxy.n$k.log"
		proxy_start "n$k"
	done
	l7_backend n1-p2 v1
	l7_backend n2-p2 v2
}

tr_collector_start() {
	: >"$T_TMP/spans.jsonl"
	: >"$T_TMP/rejects.jsonl"
	ip netns exec "$SHUNT_CLUSTER_PREFIX-n1" python3 "$REPO/tests/apps/zipkin_collector.py" \
		--listen "10.99.0.1:$TR_PORT" --out "$T_TMP/spans.jsonl" \
		--rejects "$T_TMP/rejects.jsonl" >"$T_TMP/collector.log" 2>&1 &
	T_PIDS+=($!)
	t_wait_for 10 ip netns exec "$SHUNT_CLUSTER_PREFIX-n1" \
		curl -fs -o /dev/null "http://10.99.0.1:$TR_PORT/stats" ||
		t_fail "the collector did not start: $(tail -3 "$T_TMP/collector.log")"
}

# GET http://HOST/PATH from n1-p1 with headers ARGS; the answer's body
# (the backend's echo) in $T_TMP/body; prints the status.
tr_get() { # HOST PATH [CURL ARGS...]
	local host=$1 path=$2
	shift 2
	t_exec n1-p1 -- curl -sS -m 10 -o "$T_TMP/body" -w '%{http_code}' "$@" "http://$host$path"
}

# The spans of trace ID the collector has, as a JSON array.
tr_spans() { jq -s --arg t "$1" '[.[] | select(.traceId == $t)]' "$T_TMP/spans.jsonl"; }
tr_span_count() { [ "$(tr_spans "$1" | jq length)" = "$2" ]; }

# A header the backend got, from $T_TMP/body (PATH: jq path to its echo).
tr_seen() { jq -r "$1.headers[\"$2\"] // \"none\"" "$T_TMP/body"; }

# The collector itself: each of these spans is refused with 400.
tr_collector_refuses_bad_spans() {
	local now good bad span
	now=$(($(date +%s) * 1000000))
	good='"traceId":"463ac35c9f6413ad","id":"a2fb4a1d1a96d312","kind":"CLIENT","duration":5,"localEndpoint":{"serviceName":"a"}'
	for bad in '"traceId":"463ac35c9f6413a"' '"id":"A2FB4A1D1A96D312"' '"kind":"client"' 		'"timestamp":'$((now / 1000)) '"duration":0' '"localEndpoint":{"ipv4":"1.2.3"}' 		'"parentId":"a2fb4a1d1a96d312"' '"tags":{"a":1}' '"extra":1'; do
		span=$(jq -c --argjson b "{${bad}}" '. + $b' <<<"{$good,\"timestamp\":$now}")
		t_eq "$(ip netns exec "$SHUNT_CLUSTER_PREFIX-n1" curl -s -o /dev/null -w '%{http_code}' \
			-H 'content-type: application/json' --data-binary "[$span]" \
			"http://10.99.0.1:$TR_PORT/api/v2/spans")" 400 "the collector on a span with $bad"
	done
	t_eq "$(ip netns exec "$SHUNT_CLUSTER_PREFIX-n1" curl -s -o /dev/null -w '%{http_code}' \
		-H 'content-type: application/json' --data-binary "[{$good,\"timestamp\":$now}]" \
		"http://10.99.0.1:$TR_PORT/api/v2/spans")" 202 "the collector on a good span"
	: >"$T_TMP/rejects.jsonl"
	: >"$T_TMP/spans.jsonl"
}

tr_no_rejects() {
	[ ! -s "$T_TMP/rejects.jsonl" ] ||
		t_fail "the collector refused spans: $(head -c 600 "$T_TMP/rejects.jsonl")"
}

test_tracing_spans_chain_across_proxies_and_match_what_backends_saw() {
	TR_NEW_HEADERS='[b3, w3c]' tr_setup "http://10.99.0.1:$TR_PORT/api/v2/spans" "interval: 200ms"
	tr_collector_start
	tr_collector_refuses_bad_spans
	local trace id a b

	# 1. No context, same node: a new trace, in both formats configured; the
	# one hop is both sides of the call, as Istio's two sidecars: a root
	# CLIENT span and its SERVER child, whose context the backend got.
	tr_kind() { tr_spans "$1" | jq -c ".[] | select(.kind == \"$2\")"; }
	t_eq "$(tr_get $TR_T1 /new)" 200 "request without trace headers"
	trace=$(tr_seen "" x-b3-traceid)
	id=$(tr_seen "" x-b3-spanid)
	[[ $trace =~ ^[0-9a-f]{32}$ && $id =~ ^[0-9a-f]{16}$ ]] ||
		t_fail "the backend got no new B3 context: trace '$trace', span '$id'"
	t_eq "$(tr_seen "" traceparent)" "00-$trace-$id-01" "traceparent of the new trace"
	t_eq "$(tr_seen "" x-b3-sampled)" 1 "the new trace's decision (sampling 1)"
	t_wait_for 5 tr_span_count "$trace" 2 || t_fail "not 2 spans of $trace: $(tr_spans "$trace")"
	a=$(tr_kind "$trace" CLIENT)
	t_eq "$(jq -r '.id, .kind, (.parentId // "root"), .localEndpoint.serviceName,
		.localEndpoint.ipv4, .remoteEndpoint.ipv4, .remoteEndpoint.port, .tags["http.status_code"],
		.tags["node_id"], .tags["response_flags"], .tags["http.path"]' <<<"$a" | paste -sd' ')" \
		"$(tr_seen "" x-b3-parentspanid) CLIENT root client.default 10.100.1.11 10.100.1.12 8080 200 shunt-proxy/n1 - /new" \
		"the CLIENT span of the new trace (the backend's parent span)"
	b=$(tr_kind "$trace" SERVER)
	t_eq "$(jq -r '.id, .kind, .parentId, .localEndpoint.ipv4, .localEndpoint.port,
		.remoteEndpoint.ipv4, .remoteEndpoint.serviceName, .tags["http.status_code"],
		.timestamp, .duration' <<<"$b" | paste -sd' ')" \
		"$id SERVER $(jq -r '.id' <<<"$a") 10.100.1.12 8080 10.100.1.11 client.default 200 $(jq -r '.timestamp, .duration' <<<"$a" | paste -sd' ')" \
		"the SERVER span: the backend's span, the CLIENT span's child, over its time"
	t_eq "$(jq -r .localEndpoint.serviceName <<<"$b")" "$(jq -r .remoteEndpoint.serviceName <<<"$a")" \
		"the SERVER span's service: the CLIENT span's remote"

	# 2. B3 in, across nodes and back: n1-p1 -> n1's proxy (CLIENT) -> n2's
	# proxy, v2's destination hop (SERVER) -> v2, which calls t1: n2's proxy
	# (CLIENT) -> n1's proxy, v1's destination hop (SERVER) -> v1. Each span
	# is the child of the one before; each backend saw its SERVER span.
	t_eq "$(tr_get $TR_T2 "/hop?call=$TR_T1/last" -H "x-b3-traceid: $TR_B3_TRACE" \
		-H "x-b3-spanid: $TR_B3_SPAN" -H 'x-b3-sampled: 1')" 200 "a request across two proxies"
	t_wait_for 5 tr_span_count $TR_B3_TRACE 4 ||
		t_fail "expected 4 spans of $TR_B3_TRACE: $(tr_spans $TR_B3_TRACE)"
	local sa sb
	tr_span_of() { tr_spans $TR_B3_TRACE | jq -c ".[] | select(.tags.node_id == \"shunt-proxy/$1\" and .kind == \"$2\")"; }
	a=$(tr_span_of n1 CLIENT)
	sa=$(tr_span_of n2 SERVER)
	b=$(tr_span_of n2 CLIENT)
	sb=$(tr_span_of n1 SERVER)
	t_eq "$(jq -r .parentId <<<"$a")" $TR_B3_SPAN "n1's client span: parent is the client's span"
	t_eq "$(jq -r .parentId <<<"$sa")" "$(jq -r .id <<<"$a")" "n2's server span: parent is n1's"
	t_eq "$(jq -r .parentId <<<"$b")" "$(jq -r .id <<<"$sa")" "n2's client span: parent is v2's server span"
	t_eq "$(jq -r .parentId <<<"$sb")" "$(jq -r .id <<<"$b")" "n1's server span: parent is n2's client span"
	t_eq "$(tr_seen "" x-b3-spanid) $(tr_seen "" x-b3-parentspanid)" \
		"$(jq -r .id <<<"$sa") $(jq -r .id <<<"$a")" "what v2 (behind n2's destination hop) saw"
	t_eq "$(tr_seen .called x-b3-spanid) $(tr_seen .called x-b3-parentspanid)" \
		"$(jq -r .id <<<"$sb") $(jq -r .id <<<"$b")" "what v1 (behind n1's destination hop) saw"
	t_eq "$(tr_seen "" traceparent)" none "B3 in, B3 out only"
	t_eq "$(jq -r '.remoteEndpoint.ipv4, .localEndpoint.ipv4' <<<"$b" | paste -sd' ')" \
		"10.100.1.12 10.100.2.12" "n2's client span: from v2 to v1"
	t_eq "$(jq -r '.tags.upstream_cluster' <<<"$a")" "outbound|80||t2.default.svc.cluster.local" \
		"n1's span: its upstream cluster"
	# (the first L7 service of v2's port: the destination cannot tell which
	# one the client named, docs/l7.md)
	[[ $(jq -r '.tags.upstream_cluster' <<<"$sa") == inbound\|* ]] ||
		t_fail "n2's server span: not inbound: $(jq -r '.tags.upstream_cluster' <<<"$sa")"

	# 3. W3C in: kept as W3C, with its tracestate.
	local w3=4bf92f3577b34da6a3ce929d0e0e4736
	t_eq "$(tr_get $TR_T1 /w3c -H "traceparent: 00-$w3-00f067aa0ba902b7-01" \
		-H 'tracestate: congo=t61rcWkgMzE')" 200 "a W3C request"
	t_wait_for 5 tr_span_count $w3 2 || t_fail "not 2 spans of $w3: $(tr_spans $w3)"
	t_eq "$(tr_seen "" traceparent)" "00-$w3-$(tr_kind $w3 SERVER | jq -r .id)-01" "traceparent on"
	t_eq "$(tr_seen "" tracestate) $(tr_seen "" x-b3-traceid)" "congo=t61rcWkgMzE none" \
		"tracestate kept, no B3 added"
	t_eq "$(tr_kind $w3 CLIENT | jq -r .parentId)" 00f067aa0ba902b7 "W3C parent"

	# 4. An HTTP/2 client (h2c): the same context, from its stream's headers.
	local h2=5555555555555555
	t_eq "$(tr_get $TR_T1 /h2 --http2-prior-knowledge -H "x-b3-traceid: $h2" \
		-H "x-b3-spanid: $TR_B3_SPAN" -H 'x-b3-sampled: 1')" 200 "an HTTP/2 request"
	t_wait_for 5 tr_span_count $h2 2 || t_fail "not 2 spans of the HTTP/2 request"
	t_eq "$(tr_kind $h2 CLIENT | jq -r '.tags["http.protocol"], .parentId, .id' | paste -sd' ')" \
		"HTTP/2 $TR_B3_SPAN $(tr_seen "" x-b3-parentspanid)" "the HTTP/2 request's CLIENT span"
	t_eq "$(tr_kind $h2 SERVER | jq -r .id)" "$(tr_seen "" x-b3-spanid)" "its SERVER span"

	# 5. Sampled 0: the decision goes on, no span is made. The sampled
	# request after it is the barrier: once its span is in, so would be.
	local off=1111111111111111
	t_eq "$(tr_get $TR_T2 "/off?call=$TR_T1/off" -H "b3: $off-$TR_B3_SPAN-0")" 200 "sampled 0"
	[[ $(tr_seen "" b3) == $off-*-0-* ]] || t_fail "v2 got b3 '$(tr_seen "" b3)'"
	[[ $(tr_seen .called b3) == $off-*-0-* ]] || t_fail "v1 got b3 '$(tr_seen .called b3)'"
	t_eq "$(tr_get $TR_T2 "/barrier?call=$TR_T1/barrier" -H 'b3: 2222222222222222-a2fb4a1d1a96d312-1')" \
		200 "the barrier request"
	t_wait_for 5 tr_span_count 2222222222222222 4 || t_fail "the barrier's spans did not come"
	t_eq "$(tr_spans $off | jq length)" 0 "spans of a trace with sampling off"

	tr_no_rejects
	local n1 n2
	n1=$(proxy_metric n1 shunt_proxy_trace_spans_sent_total)
	n2=$(proxy_metric n2 shunt_proxy_trace_spans_sent_total)
	t_eq "$((n1 + n2))" "$(wc -l <"$T_TMP/spans.jsonl")" "spans sent (both proxies) = spans kept"
	t_eq "$(proxy_metric n1 'shunt_proxy_trace_spans_dropped_total{reason="queue_full"}')" 0 \
		"spans dropped"
}

# A collector that takes connections and never answers: requests go on at
# their usual pace, every span past the queue is dropped and counted.
test_tracing_dead_collector_never_slows_or_fails_requests() {
	tr_setup "http://10.99.0.1:$TR_PORT/api/v2/spans" \
		"interval: 100ms, timeout: 3s, batch: 4, queue: 8"
	# listen, never accept: the kernel completes the handshakes, nothing answers
	ip netns exec "$SHUNT_CLUSTER_PREFIX-n1" python3 -c "
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('10.99.0.1', $TR_PORT)); s.listen(64); time.sleep(600)" &
	T_PIDS+=($!)
	t_wait_for 10 ip netns exec "$SHUNT_CLUSTER_PREFIX-n1" ss -Hltn "sport = :$TR_PORT" ||
		t_fail "the silent collector did not listen"
	t_exec n1-p1 -- bash -c "for i in \$(seq 60); do
		curl -sS -m 10 -o /dev/null -w '%{http_code} %{time_total}\n' http://$TR_T1/x; done" \
		>"$T_TMP/answers"
	t_eq "$(awk '$1 == 200' "$T_TMP/answers" | wc -l)" 60 "requests answered 200"
	# a request that waited for the exporter would take its 3 s timeout
	local slowest
	slowest=$(awk '{ if ($2 > m) m = $2 } END { print m }' "$T_TMP/answers")
	awk -v s="$slowest" 'BEGIN { exit !(s < 1.0) }' ||
		t_fail "the slowest request took ${slowest}s"
	t_eq "$(proxy_metric n1 shunt_proxy_trace_spans_total)" 120 "spans made (CLIENT and SERVER)"
	t_eq "$(proxy_metric n1 shunt_proxy_trace_spans_sent_total)" 0 "spans sent"
	local full
	full=$(proxy_metric n1 'shunt_proxy_trace_spans_dropped_total{reason="queue_full"}')
	t_ge "$full" 60 "spans dropped: the queue (8) was full"
	t_le "$(proxy_metric n1 shunt_proxy_trace_queue_spans)" 8 "spans queued"
}

# Istio's Telemetry API per workload: a workload's own share of new traces
# beats the mesh's, both ways, and follows the config without a restart.
# The decision is read where it lands (the backend's x-b3-sampled) and in
# the proxy's span count.
test_tracing_a_workload_samples_new_traces_at_its_own_share() {
	TR_SAMPLING=0 TR_OWN='{sampling: 1}' tr_setup "http://10.99.0.1:$TR_PORT/api/v2/spans" "interval: 200ms"
	local i v
	# n1-p1 has its own share (1), n1-p2 the mesh's (0)
	for i in 1 2 3; do
		t_eq "$(tr_get $TR_T2 /own)" 200 "n1-p1's request $i"
		t_eq "$(tr_seen "" x-b3-sampled)" 1 "n1-p1's new trace $i: its own share, 1"
		t_eq "$(tr_seen "" traceparent)" none "n1-p1's new trace $i: in B3 only, the default"
		t_eq "$(t_exec n1-p2 -- curl -sS -m 10 -o "$T_TMP/body" -w '%{http_code}' http://$TR_T2/mesh)" \
			200 "n1-p2's request $i"
		t_eq "$(tr_seen "" x-b3-sampled)" 0 "n1-p2's new trace $i: the mesh's share, 0"
	done
	t_eq "$(proxy_metric n1 shunt_proxy_trace_spans_total)" 3 "spans made (n1-p1's only)"
	# the other way round, live: the mesh samples every new trace, n1-p1 none
	v=$(proxy_metric n1 shunt_proxy_model_version)
	# and new traces in W3C as well
	TR_SAMPLING=1 TR_OWN='{sampling: 0}' TR_NEW_HEADERS='[b3, w3c]' \
		tr_config "http://10.99.0.1:$TR_PORT/api/v2/spans" "interval: 200ms" |
		t_write_config "$T_TMP/mesh.yaml"
	model_newer() { [ "$(proxy_metric n1 shunt_proxy_model_version)" -gt "$v" ]; }
	t_wait_for 10 model_newer || t_fail "n1's proxy did not take the new config"
	t_eq "$(tr_get $TR_T2 /own)" 200 "n1-p1's request after the change"
	t_eq "$(tr_seen "" x-b3-sampled)" 0 "n1-p1's new trace: its own share, now 0"
	t_eq "$(tr_seen "" traceparent)" "00-$(tr_seen "" x-b3-traceid)-$(tr_seen "" x-b3-spanid)-00" \
		"n1-p1's new trace: in W3C too, now"
	t_eq "$(t_exec n1-p2 -- curl -sS -m 10 -o "$T_TMP/body" -w '%{http_code}' http://$TR_T2/mesh)" \
		200 "n1-p2's request after the change"
	t_eq "$(tr_seen "" x-b3-sampled)" 1 "n1-p2's new trace: the mesh's share, now 1"
	t_eq "$(proxy_metric n1 shunt_proxy_trace_spans_total)" 4 "spans made"
}
