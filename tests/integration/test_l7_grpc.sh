# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
# gRPC through the node proxy (docs/l7.md): a real python3-grpcio client
# and servers, HTTP/2 from the client to the proxy and from the proxy to
# the endpoints, trailers (grpc-status, metadata), deadlines and the
# proxy's own errors as gRPC statuses.
#
# Cluster: l7lib.sh's, plus tests/apps/grpc_app.py serving shunt.Echo as
# "v1" in n1-p2 (the client's node) and "v2" in n2-p2 (across the mTLS
# tunnel) on :50051. Service rpc (10.96.0.90:50051, appProtocol grpc) has
# both; rpc-v1 and rpc-v2 one each. The client is n1-p1.

# shellcheck source=tests/lib/l7lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/l7lib.sh"

test_l7_grpc_calls_are_multiplexed_as_http2_streams_to_endpoints() {
	grpc_setup <<-'EOF'
		  - name: rpc
		    parentRefs: [{name: rpc}]
	EOF
	local streams conns out
	streams=$(l7_metric shunt_l7_upstream_h2_streams_total)
	conns=$(l7_metric shunt_l7_upstream_connections_total)
	out=$(grpc_call --count 60) || t_fail "client: $out"
	t_eq "$(jq -c .codes <<<"$out")" '{"OK":60}' "every call answered"
	t_eq "$(jq '.served_by.v1 > 0 and .served_by.v2 > 0' <<<"$out")" true \
		"v1 (same node) and v2 (across nodes) both served: $out"
	t_eq "$(jq -r '.trailing["x-served-by"] | test("^v[12]$")' <<<"$out")" true \
		"trailing metadata passed through: $out"
	streams=$(($(l7_metric shunt_l7_upstream_h2_streams_total) - streams))
	conns=$(($(l7_metric shunt_l7_upstream_connections_total) - conns))
	t_ge "$streams" 60 "calls sent to endpoints as HTTP/2 streams"
	# one connection per endpoint and proxy worker, not one per call
	t_le "$conns" 4 "connections the proxy opened to endpoints for 60 calls"
}

test_l7_grpc_streams_statuses_and_faults_reach_the_client() {
	grpc_setup <<-'EOF'
		  - name: rpc
		    parentRefs: [{name: rpc}]
		    rules:
		      - matches: [{path: {type: Exact, value: /shunt.Echo/Fail}, headers: [{name: x-fault, value: "yes"}]}]
		        fault: {abort: {grpcStatus: UNAVAILABLE}}
		      - backendRefs: [{name: rpc-v2, port: 50051}]
	EOF
	local out
	out=$(grpc_call --method Stream --request 300) || t_fail "client: $out"
	t_eq "$(jq -c .codes <<<"$out")" '{"OK":1}' "a server stream ends OK"
	t_eq "$(jq -r '.messages | length' <<<"$out")" 300 "all of its messages"
	t_eq "$(jq -r '.messages[299]' <<<"$out")" "v2:299" "in order, from the routed backend"
	out=$(grpc_call --method Fail --request NOT_FOUND)
	t_eq "$(jq -c .codes <<<"$out")" '{"NOT_FOUND":1}' "the endpoint's status (from its trailers)"
	t_eq "$(jq -r .details <<<"$out")" "v2 failed as asked" "the endpoint's message"
	out=$(grpc_call --method Fail --request NOT_FOUND --metadata x-fault=yes)
	t_eq "$(jq -c .codes <<<"$out")" '{"UNAVAILABLE":1}' "an injected gRPC abort"
	t_eq "$(jq -r .details <<<"$out")" "fault injected by shunt-proxy/n1" "named by its hop"
}

test_l7_grpc_deadlines_end_the_call_at_the_proxy_and_the_endpoint() {
	grpc_setup <<-'EOF'
		  - name: rpc
		    parentRefs: [{name: rpc}]
		    rules:
		      - matches: [{path: {type: Exact, value: /shunt.Echo/Slow}, headers: [{name: x-short, value: "yes"}]}]
		        backendRefs: [{name: rpc-v1, port: 50051}]
		        timeouts: {request: 300ms}
		      - backendRefs: [{name: rpc-v1, port: 50051}]
	EOF
	local out
	# The client's deadline (grpc-timeout): the call ends in time, and the
	# proxy resets its stream to the endpoint, which sees the cancel.
	out=$(grpc_call --method Slow --request 3000 --timeout 0.5)
	t_eq "$(jq -c .codes <<<"$out")" '{"DEADLINE_EXCEEDED":1}' "the client's deadline"
	t_eq "$(jq '.seconds < 1.5' <<<"$out")" true "ended in time: $out"
	t_wait_for 3 grep -q "cancelled after 0\." "$T_TMP/grpc.v1.log" ||
		t_fail "the endpoint did not see the call cancelled: $(cat "$T_TMP/grpc.v1.log")"
	# The route's timeout, sooner than the client's: the proxy answers it
	# as DEADLINE_EXCEEDED, naming itself.
	out=$(grpc_call --method Slow --request 3000 --timeout 5 --metadata x-short=yes)
	t_eq "$(jq -c .codes <<<"$out")" '{"DEADLINE_EXCEEDED":1}' "the route's timeout"
	t_eq "$(jq '.details | startswith("shunt-proxy/n1: ")' <<<"$out")" true \
		"answered by the proxy: $out"
	t_eq "$(jq '.seconds < 1.5' <<<"$out")" true "at 300 ms, not the client's 5 s: $out"
	t_eq "$(jq -r '.trailing["shunt-error"]' <<<"$out")" request_timeout "shunt-error says why"
}

# A bidirectional call whose client sends each message only after the
# answer to the one before: the proxy streams the request body as it comes
# (l7_body.c), same node and across the mTLS tunnel. A proxy that waited
# for the whole request would stall it until its deadline.
test_l7_grpc_bidirectional_streams_flow_both_ways_at_once() {
	grpc_setup <<-'EOF'
		  - name: rpc
		    parentRefs: [{name: rpc}]
		    rules:
		      - matches: [{headers: [{name: x-to, value: v2}]}]
		        backendRefs: [{name: rpc-v2, port: 50051}]
		      - backendRefs: [{name: rpc-v1, port: 50051}]
	EOF
	local out to
	for to in v1 v2; do
		out=$(grpc_call --method Chat --request 50 --timeout 10 --metadata "x-to=$to") ||
			t_fail "client: $out"
		t_eq "$(jq -c .codes <<<"$out")" '{"OK":1}' "a chat with $to ends OK: $out"
		t_eq "$(jq -r '.messages | length' <<<"$out")" 50 "50 answers from $to"
		t_eq "$(jq -r '.messages[49]' <<<"$out")" "$to:m49" "in order, from $to"
		# 50 round trips, each a few ms: far from the 10 s deadline
		t_eq "$(jq '.seconds < 5' <<<"$out")" true "answered as it went: $out"
	done
}
