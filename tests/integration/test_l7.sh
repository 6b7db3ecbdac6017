# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
# L7 traffic management in the node proxy (docs/l7.md): HTTPRoute matches,
# weighted backends, header modifiers, retries with a budget, timeouts and
# the proxy's own answers, with curl against real HTTP/1.1 servers.
#
# Cluster: 2 nodes x 2 pods, a proxy per node (test_proxy.sh's). Backends:
# tests/apps/l7_backend.py as "v1" in n1-p2 and "v2" in n2-p2 on :8080.
# Services: web (10.96.0.80:80, appProtocol http, both), web-v1 (n1-p2),
# web-v2 (n2-p2). The client is n1-p1, so v1 is on its node and v2 across
# the mTLS tunnel.

# shellcheck source=tests/lib/l7lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/l7lib.sh"

test_l7_routes_by_path_method_header_and_query() {
	l7_setup <<-'EOF'
		  - name: web
		    parentRefs: [{name: web, port: 80}]
		    rules:
		      - matches: [{path: {type: Exact, value: /exact}}]
		        backendRefs: [{name: web-v2, port: 80}]
		      - matches: [{path: {type: PathPrefix, value: /api}, headers: [{name: x-canary, value: "yes"}]}]
		        backendRefs: [{name: web-v2, port: 80}]
		      - matches: [{path: {type: PathPrefix, value: /api}}]
		        backendRefs: [{name: web-v1, port: 80}]
		      - matches: [{path: {type: RegularExpression, value: "^/items/[0-9]+$"}}]
		        backendRefs: [{name: web-v2, port: 80}]
		      - matches: [{method: DELETE}, {queryParams: [{name: env, value: canary}]}]
		        backendRefs: [{name: web-v2, port: 80}]
		      - matches: [{path: {type: PathPrefix, value: /}}]
		        backendRefs: [{name: web-v1, port: 80}]
	EOF
	t_eq "$(l7_who /exact)" "200 v2" "Exact path"
	t_eq "$(l7_who /exact/more)" "200 v1" "Exact takes only itself"
	t_eq "$(l7_who /api/x -H 'x-canary: yes')" "200 v2" "prefix and header (more matches first)"
	t_eq "$(l7_who /api/x -H 'x-canary: no')" "200 v1" "prefix, header of another value"
	t_eq "$(l7_who /apix -H 'x-canary: yes')" "200 v1" "PathPrefix takes whole path elements"
	t_eq "$(l7_who /items/42)" "200 v2" "regex path"
	t_eq "$(l7_who /items/4a)" "200 v1" "regex path, no match"
	t_eq "$(l7_who /other -X DELETE)" "200 v2" "method"
	t_eq "$(l7_who '/other?a=1&env=canary')" "200 v2" "query parameter"
	t_eq "$(l7_who '/other?env=prod')" "200 v1" "query parameter of another value"
}

test_l7_no_matching_rule_is_answered_404_by_the_proxy() {
	l7_setup <<-'EOF'
		  - name: web
		    parentRefs: [{name: web}]
		    rules:
		      - matches: [{path: {type: PathPrefix, value: /only}}]
	EOF
	t_eq "$(l7_curl '%{http_code}' /only/here)" 200 "a rule without backendRefs (the parent service)"
	t_eq "$(l7_curl '%{http_code} %header{shunt-error} %header{shunt-hop}' /elsewhere)" \
		"404 no_route shunt-proxy/n1" "no rule matches"
	grep -q "shunt-proxy/n1: no rule" "$T_TMP/body" || t_fail "body does not say why: $(cat "$T_TMP/body")"
}

# Weights hold within statistical bounds, and a live change loses nothing.
test_l7_weighted_split_within_bounds_and_changes_live() {
	local routes='  - name: web
    parentRefs: [{name: web, port: 80}]
    rules:
      - backendRefs: [{name: web-v1, port: 80, weight: 80}, {name: web-v2, port: 80, weight: 20}]'
	l7_setup <<<"$routes"
	local n=300 v2
	v2=$(t_exec n1-p1 -- bash -c "for i in \$(seq $n); do curl -s -m 5 -o /dev/null -w '%{header_json}\n' http://$L7_VIP/; done" |
		jq -r '."x-backend"[0]' | grep -c '^v2$')
	# Binomial(300, 0.2): mean 60, sd 6.9; +-4 sd.
	t_ge "$v2" 33 "requests to v2 of $n (weight 20)"
	t_le "$v2" 87 "requests to v2 of $n (weight 20)"
	# Move everything to v2 while a client keeps sending: no failure.
	t_exec n1-p1 -- bash -c "for i in \$(seq 400); do curl -s -m 5 -o /dev/null -w '%{http_code}\n' http://$L7_VIP/; done" \
		>"$T_TMP/during" &
	local client=$!
	sleep 0.5
	sed 's/weight: 80}/weight: 0}/; s/weight: 20}/weight: 100}/' <<<"$routes" | l7_config | t_write_config "$T_TMP/mesh.yaml"
	t_wait_for 10 t_agent_applied n1 2 || t_fail "n1 did not apply the new weights"
	wait "$client"
	t_eq "$(sort "$T_TMP/during" | uniq -c | awk '{print $2 ":" $1}' | tr '\n' ' ')" "200:400 " "answers during the change"
	sleep 0.5
	v2=$(t_exec n1-p1 -- bash -c "for i in \$(seq 40); do curl -s -m 5 -o /dev/null -w '%{header_json}\n' http://$L7_VIP/; done" |
		jq -r '."x-backend"[0]' | grep -c '^v2$')
	t_eq "$v2" 40 "requests to v2 after weight 0/100"
}

# HTTP/1.1 across nodes goes as HTTP/2 between the node proxies only where
# the endpoint's node reads it again (the target port of an L7 service port).
# A backend no L7 service fronts is relayed to the pod as bytes: it must get
# the client's HTTP/1.1 (a pod would answer an h2c preface with an error).
test_l7_across_nodes_a_port_its_node_relays_gets_http1() {
	local ok
	L7_SERVICES_EXTRA="  - {name: raw, virtualIPs: [10.96.0.86], ports: [{port: 80, targetPort: 8081}], backends: [{workload: n2-p2}]}" \
		l7_setup <<-'EOF'
		  - name: web
		    parentRefs: [{name: web, port: 80}]
		    rules:
		      - backendRefs: [{name: raw, port: 80}]
		EOF
	t_exec n2-p2 -- python3 "$L7_BACKEND" --listen "$(t_pod_ip n2-p2):8081" --name raw \
		>"$T_TMP/backend.raw.log" 2>&1 &
	T_PIDS+=($!)
	t_wait_for 10 t_cov_port_open n2-p2 8081 || t_fail "backend raw did not start"
	ok=$(t_exec n1-p1 -- bash -c "for i in \$(seq 20); do curl -s -m 5 -o /dev/null -w '%{http_code} %header{x-backend}\n' http://$L7_VIP/; done" |
		grep -c '^200 raw$')
	t_eq "$ok" 20 "requests answered 200 by raw, across nodes"
}

test_l7_header_modifiers_on_request_and_response() {
	l7_setup <<-'EOF'
		  - name: web
		    parentRefs: [{name: web, port: 80}]
		    rules:
		      - backendRefs: [{name: web-v1, port: 80}]
		        filters:
		          - type: RequestHeaderModifier
		            requestHeaderModifier:
		              set: [{name: x-env, value: prod}]
		              add: [{name: x-added, value: "1"}]
		              remove: [x-secret]
		          - type: ResponseHeaderModifier
		            responseHeaderModifier:
		              set: [{name: server, value: mesh}]
		              add: [{name: x-mesh, value: shunt}]
		              remove: [x-backend]
	EOF
	local h
	h=$(l7_curl '%{header_json}' /h -H 'x-env: dev' -H 'x-secret: s3cret' -H 'x-keep: k')
	jq -e '.headers["x-env"] == "prod" and .headers["x-added"] == "1" and .headers["x-keep"] == "k"
		and (.headers | has("x-secret") | not)' "$T_TMP/body" >/dev/null ||
		t_fail "request headers as the backend saw them: $(jq -c .headers "$T_TMP/body")"
	jq -e '.server == ["mesh"] and .["x-mesh"] == ["shunt"] and (has("x-backend") | not)' <<<"$h" >/dev/null ||
		t_fail "response headers as the client saw them: $h"
}

# Bodies both ways, fixed-length and chunked, every byte checked.
test_l7_bodies_arrive_intact_both_ways() {
	L7_V2_ARGS=--chunked l7_setup <<-'EOF'
		  - name: web
		    parentRefs: [{name: web, port: 80}]
		    rules:
		      - matches: [{headers: [{name: x-to, value: v2}]}]
		        backendRefs: [{name: web-v2, port: 80}]
		      - backendRefs: [{name: web-v1, port: 80}]
	EOF
	head -c 3000000 /dev/urandom >"$T_TMP/up.bin"
	local sum to
	sum=$(sha256sum <"$T_TMP/up.bin" | cut -d' ' -f1)
	for to in v1 v2; do
		t_eq "$(l7_curl '%{http_code}' /up --data-binary @"$T_TMP/up.bin" -H "x-to: $to")" 200 "POST to $to"
		t_eq "$(jq -r '"\(.name) \(.body_len) \(.body_sha256)"' "$T_TMP/body")" "$to 3000000 $sum" \
			"the request body at $to"
	done
	# A chunked request body (curl sends chunks for stdin of unknown length).
	t_exec n1-p1 -- curl -sS -m 10 -o "$T_TMP/body" -H 'transfer-encoding: chunked' \
		--data-binary @- "http://$L7_VIP/chunked" <"$T_TMP/up.bin"
	t_eq "$(jq -r .body_sha256 "$T_TMP/body")" "$sum" "a chunked request body"
	# Past the 8 MiB the proxy keeps for retries, bodies stream (no 413),
	# with either framing, to either node.
	head -c 20000000 /dev/urandom >"$T_TMP/up.bin"
	sum=$(sha256sum <"$T_TMP/up.bin" | cut -d' ' -f1)
	for to in v1 v2; do
		t_eq "$(l7_curl '%{http_code}' /up --data-binary @"$T_TMP/up.bin" -H "x-to: $to")" 200 \
			"a 20 MB POST to $to"
		t_eq "$(jq -r '"\(.body_len) \(.body_sha256)"' "$T_TMP/body")" "20000000 $sum" \
			"the 20 MB body at $to"
		t_exec n1-p1 -- curl -sS -m 20 -o "$T_TMP/body" -H 'transfer-encoding: chunked' \
			-H "x-to: $to" --data-binary @- "http://$L7_VIP/chunked" <"$T_TMP/up.bin"
		t_eq "$(jq -r '"\(.body_len) \(.body_sha256)"' "$T_TMP/body")" "20000000 $sum" \
			"a 20 MB chunked body at $to"
	done
	local hdr
	hdr=$(l7_curl '%header{x-body-sha256}' '/big?size=5000000')
	t_eq "$(sha256sum <"$T_TMP/body" | cut -d' ' -f1)" "$hdr" "a 5 MB response from v1"
	hdr=$(l7_curl '%header{x-body-sha256}' '/big?size=5000000' -H 'x-to: v2')
	t_eq "$(sha256sum <"$T_TMP/body" | cut -d' ' -f1)" "$hdr" "a 5 MB response from v2, across nodes"
	t_eq "$(l7_curl '%{http_code} %{size_download}' /head -I)" "200 0" "HEAD has no body"
}

test_l7_retries_save_a_flaky_backend() {
	L7_V1_ARGS="--status 503 --fail-first 2" l7_setup <<-'EOF'
		  - name: web
		    parentRefs: [{name: web, port: 80}]
		    rules:
		      - backendRefs: [{name: web-v1, port: 80}]
		        retry: {attempts: 2, codes: [503], backoff: 10ms}
	EOF
	local i codes
	codes=$(for i in 1 2 3 4 5 6; do l7_curl '%{http_code}\n' /; done | sort | uniq -c | awk '{print $2 ":" $1}' | tr '\n' ' ')
	# The first request meets both failures and succeeds on its third try.
	t_eq "$codes" "200:6 " "answers with retries"
	t_eq "$(l7_metric shunt_l7_retries_total)" 2 "retries made"
}

test_l7_retry_budget_caps_retries_under_full_failure() {
	L7_V1_ARGS="--status 503" l7_setup <<-'EOF'
		  - name: web
		    parentRefs: [{name: web, port: 80}]
		    rules:
		      - backendRefs: [{name: web-v1, port: 80}]
		        retry: {attempts: 3, codes: [503], backoff: 1ms}
	EOF
	local n=200 start end retries codes
	start=$(date +%s)
	codes=$(t_exec n1-p1 -- bash -c "for i in \$(seq $n); do curl -s -m 5 -o /dev/null -w '%{http_code}\n' http://$L7_VIP/; done" |
		sort | uniq -c | awk '{print $2 ":" $1}' | tr '\n' ' ')
	end=$(date +%s)
	t_eq "$codes" "503:$n " "every request fails (the backend's own 503)"
	retries=$(l7_metric shunt_l7_retries_total)
	# Without a budget: 3 x 200 = 600. With it: 20% of the requests, 10 a
	# second, and the bucket's 20 (each of the proxy's 2 workers has one).
	t_le "$retries" $((2 * (20 + 10 * (end - start + 1)) + n / 5)) "retries under a full failure"
	t_ge "$(l7_metric shunt_l7_retries_budget_exhausted_total)" 1 "retries the budget refused"
}

test_l7_timeouts_answer_504_in_time() {
	l7_setup <<-'EOF'
		  - name: web
		    parentRefs: [{name: web, port: 80}]
		    rules:
		      - matches: [{path: {value: /try}}]
		        backendRefs: [{name: web-v1, port: 80}]
		        timeouts: {request: 2s, backendRequest: 200ms}
		        retry: {attempts: 1, codes: [503]}
		      - backendRefs: [{name: web-v1, port: 80}]
		        timeouts: {request: 300ms}
	EOF
	local out t
	out=$(l7_curl '%{http_code} %header{shunt-error} %{time_total}' '/slow?delay_ms=1500')
	t_eq "${out% *}" "504 request_timeout" "a request slower than timeouts.request"
	t=${out##* }
	awk -v t="$t" 'BEGIN { exit !(t >= 0.28 && t < 1.0) }' || t_fail "answered after ${t}s, not ~0.3s"
	# backendRequest: each try gets 200 ms; two tries, then the answer.
	out=$(l7_curl '%{http_code} %header{shunt-error} %{time_total}' '/try?delay_ms=1500')
	t_eq "${out% *}" "504 upstream_timeout" "both tries slower than timeouts.backendRequest"
	t=${out##* }
	awk -v t="$t" 'BEGIN { exit !(t >= 0.38 && t < 1.4) }' || t_fail "answered after ${t}s, not ~0.4s"
	t_eq "$(l7_curl '%{http_code}' '/fast?delay_ms=50')" 200 "a request within its timeout"
}

# The proxy acts for the client: each request meets the same policy as a
# direct connection would, on either node.
test_l7_policy_applies_to_every_request() {
	L7_POLICY='  - name: v-only-from-nobody
    podSelector: {matchLabels: {app: echo}}
    ingress: [{from: [{podSelector: {matchLabels: {app: nobody}}}]}]' l7_setup <<-'EOF'
		  - name: web
		    parentRefs: [{name: web, port: 80}]
		    rules:
		      - matches: [{headers: [{name: x-to, value: v2}]}]
		        backendRefs: [{name: web-v2, port: 80}]
		      - backendRefs: [{name: web-v1, port: 80}]
	EOF
	t_eq "$(l7_curl '%{http_code} %header{shunt-error}' /)" "403 policy_denied" "same-node endpoint, denied"
	local out
	out=$(l7_curl '%{http_code}' / -H 'x-to: v2')
	t_eq "$out" "403" "cross-node endpoint, denied at its node"
	t_eq "$(t_exec --outside n2-p2 -- curl -s -m 5 "http://$(t_pod_ip n2-p2):8080/count" | jq -r .served)" 0 \
		"requests that reached v2"
	t_eq "$(t_exec --outside n1-p2 -- curl -s -m 5 "http://$(t_pod_ip n1-p2):8080/count" | jq -r .served)" 0 \
		"requests that reached v1"
}

# Ports without appProtocol or routes keep the kernel's path.
test_l7_plain_ports_keep_the_kernel_path() {
	l7_setup </dev/null
	local before
	before=$(t_mesh_counter n1 l7_proxied)
	t_eq "$(t_exec n1-p1 -- curl -s -m 5 -o /dev/null -w '%{http_code} %header{x-backend}' http://10.96.0.83/)" \
		"200 v1" "plain service"
	t_eq "$(t_mesh_counter n1 l7_proxied)" "$before" "connections of the plain port sent to the L7 side"
	t_eq "$(l7_who /)" "200 $(jq -r .name "$T_TMP/body")" "the L7 port (its service itself)"
	t_ge "$(t_mesh_counter n1 l7_proxied)" $((before + 1)) "connections of the L7 port sent to the L7 side"
}

# Pipelined requests are answered in order; unreadable ones get 400.
test_l7_pipelining_and_bad_requests() {
	l7_setup </dev/null
	local out
	out=$(t_exec n1-p1 -- python3 -c '
import socket, sys
s = socket.create_connection(("'$L7_VIP'", 80))
s.sendall(b"GET /a HTTP/1.1\r\nhost: x\r\n\r\nGET /b HTTP/1.1\r\nhost: x\r\n\r\nGET /c HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
data = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    data += d
sys.stdout.write(" ".join(p.split(b"\"")[0].decode() for p in data.split(b"\"path\": \"")[1:]))
')
	t_eq "$out" "/a /b /c" "pipelined answers, in order"
	out=$(t_exec n1-p1 -- python3 -c '
import socket
s = socket.create_connection(("'$L7_VIP'", 80))
s.sendall(b"NOT HTTP AT ALL\r\n\r\n")
print(s.recv(4096).decode().split("\r\n")[0])
')
	t_eq "$out" "HTTP/1.1 400 Bad Request" "garbage"
}

# HTTP/2 clients with prior knowledge (h2c) get the same routing, many
# requests at once on one connection, bodies intact both ways.
test_l7_h2c_clients_are_routed_like_http1() {
	l7_setup <<-'EOF'
		  - name: web
		    parentRefs: [{name: web, port: 80}]
		    rules:
		      - matches: [{path: {value: /fault}}]
		        backendRefs: [{name: web-v1, port: 80}]
		        fault: {abort: {httpStatus: 503}}
		      - matches: [{headers: [{name: x-to, value: v2}]}]
		        backendRefs: [{name: web-v2, port: 80}]
		      - backendRefs: [{name: web-v1, port: 80}]
	EOF
	local h2=--http2-prior-knowledge
	t_eq "$(l7_curl '%{http_version} %{http_code} %header{x-backend}' / $h2)" "2 200 v1" "h2c, same node"
	t_eq "$(l7_curl '%{http_version} %{http_code} %header{x-backend}' / $h2 -H 'x-to: v2')" "2 200 v2" \
		"h2c, routed by a header, across nodes"
	t_eq "$(l7_curl '%{http_version} %{http_code} %header{shunt-error}' /fault $h2)" "2 503 fault_injected" \
		"an answer of the proxy over h2c"
	head -c 3000000 /dev/urandom >"$T_TMP/up.bin"
	t_eq "$(l7_curl '%{http_code}' /up $h2 --data-binary @"$T_TMP/up.bin" -H 'x-to: v2')" 200 "a POST over h2c"
	t_eq "$(jq -r .body_sha256 "$T_TMP/body")" "$(sha256sum <"$T_TMP/up.bin" | cut -d' ' -f1)" \
		"the request body at v2"
	local hdr
	hdr=$(l7_curl '%header{x-body-sha256}' '/big?size=5000000' $h2 -H 'x-to: v2')
	t_eq "$(sha256sum <"$T_TMP/body" | cut -d' ' -f1)" "$hdr" "a 5 MB response over h2c"
	t_exec n1-p1 -- h2load -n 600 -c 4 -m 10 "http://$L7_VIP/" >"$T_TMP/h2load" 2>&1
	grep -q "600 succeeded, 0 failed" "$T_TMP/h2load" ||
		t_fail "h2load, 4 connections x 10 streams: $(grep -E 'requests:|status codes' "$T_TMP/h2load")"
}

# WebSocket through the L7 proxy (docs/l7.md "Upgrades"): the handshake is
# routed like any request (the route's response modifier shows on the 101),
# then the connections are a tunnel; same node, across nodes, and the
# service's idleTimeout closing a silent one. tests/apps/ws_echo.py is the
# server (on :8081 of both backend pods) and the client.
test_l7_websocket_passes_through_same_and_cross_node() {
	local ws=$REPO/tests/apps/ws_echo.py pod name out
	L7_WEB_EXTRA='  - name: ws
    virtualIPs: [10.96.0.84]
    ports: [{name: http, port: 80, targetPort: 8081, appProtocol: http}]
    selector: {app: echo}
  - name: ws-v1
    virtualIPs: [10.96.0.85]
    ports: [{port: 80, targetPort: 8081}]
    backends: [{workload: n1-p2}]
  - name: ws-v2
    virtualIPs: [10.96.0.86]
    ports: [{port: 80, targetPort: 8081}]
    backends: [{workload: n2-p2}]
  - name: ws-idle
    virtualIPs: [10.96.0.87]
    ports: [{port: 80, targetPort: 8081}]
    backends: [{workload: n1-p2}]
    trafficPolicy: {connectionPool: {http: {idleTimeout: 500ms}}}' l7_setup <<-'EOF'
		  - name: ws
		    parentRefs: [{name: ws, port: 80}]
		    rules:
		      - matches: [{headers: [{name: x-to, value: v2}]}]
		        backendRefs: [{name: ws-v2, port: 80}]
		        filters:
		          - type: ResponseHeaderModifier
		            responseHeaderModifier: {add: [{name: x-mesh, value: shunt}]}
		      - matches: [{headers: [{name: x-to, value: idle}]}]
		        backendRefs: [{name: ws-idle, port: 80}]
		      - backendRefs: [{name: ws-v1, port: 80}]
		        filters:
		          - type: ResponseHeaderModifier
		            responseHeaderModifier: {add: [{name: x-mesh, value: shunt}]}
	EOF
	for pod in n1-p2 n2-p2; do
		name=v${pod:1:1}
		t_exec "$pod" -- /usr/bin/python3 "$ws" server --listen "$(t_pod_ip "$pod"):8081" --name "$name" \
			>"$T_TMP/ws.$name.log" 2>&1 &
		T_PIDS+=($!)
		t_wait_for 10 t_cov_port_open "$pod" 8081 || t_fail "WebSocket server $name did not start"
	done
	ws_client() { t_exec n1-p1 -- /usr/bin/python3 "$ws" client --url ws://10.96.0.84/chat "$@"; }
	t_eq "$(ws_client --count 20 --size 200000)" "v1 shunt 20/20" "WebSocket echo, same node (4 MB each way)"
	t_eq "$(ws_client --header x-to:v2 --count 20 --size 200000)" "v2 shunt 20/20" \
		"WebSocket echo, across nodes"
	t_eq "$(l7_metric shunt_l7_upgrades_total)" 2 "upgrades through the proxy of the client's node"
	t_wait_for 5 eval '[ "$(l7_metric "shunt_l7_upgrades_closed_total{outcome=\"closed\"}")" = 2 ]' ||
		t_fail "tunnels closed cleanly: $(l7_metric 'shunt_l7_upgrades_closed_total{outcome="closed"}')"
	out=$(ws_client --header x-to:idle --count 1 --idle 3)
	t_eq "${out% *}" closed "a silent tunnel past the service's idleTimeout (500ms)"
	awk -v t="${out#* }" 'BEGIN { exit !(t >= 0.3 && t < 1.5) }' || t_fail "closed after ${out#* }s, not ~0.5s"
	t_eq "$(l7_metric 'shunt_l7_upgrades_closed_total{outcome="idle_timeout"}')" 1 "tunnels closed idle"
	t_eq "$(l7_metric shunt_l7_upgrades_active)" 0 "tunnels open at the end"
}

# Request trailers (docs/l7.md, "Request bodies stream"): an HTTP/1.1
# chunked body's trailer fields and an HTTP/2 request's trailing HEADERS
# reach HTTP/1.1 endpoints (l7_backend.py on :8080) and HTTP/2 ones
# (l7_backend.py --h2 on :8081, ports with appProtocol http2), on the
# client's node and across nodes, without the fields a trailer may not
# carry (host, content-type). curl cannot send request trailers: the
# HTTP/1.1 client is a few lines of python3 on a socket, the HTTP/2 one
# nghttp --trailer.
test_l7_request_trailers_reach_http1_and_http2_endpoints() {
	L7_SERVICES_EXTRA='  - name: h2-v1
    virtualIPs: [10.96.0.93]
    ports: [{port: 80, targetPort: 8081, appProtocol: http2}]
    backends: [{workload: n1-p2}]
  - name: h2-v2
    virtualIPs: [10.96.0.94]
    ports: [{port: 80, targetPort: 8081, appProtocol: http2}]
    backends: [{workload: n2-p2}]' l7_setup <<-'EOF'
		  - name: web
		    parentRefs: [{name: web, port: 80}]
		    rules:
		      - matches: [{headers: [{name: x-to, value: v2}]}]
		        backendRefs: [{name: web-v2, port: 80}]
		      - backendRefs: [{name: web-v1, port: 80}]
	EOF
	local pod vip to want='{"x-checksum":"abc123"}'
	for pod in n1-p2 n2-p2; do
		t_exec "$pod" -- /usr/bin/python3 "$L7_BACKEND" --h2 --listen "$(t_pod_ip "$pod"):8081" \
			--name "h2-v${pod:1:1}" >"$T_TMP/backend.h2-v${pod:1:1}.log" 2>&1 &
		T_PIDS+=($!)
		t_wait_for 10 t_cov_port_open "$pod" 8081 || t_fail "h2c backend on $pod did not start"
	done
	# POST /t to VIP, chunked, with trailer fields; prints the answer's body.
	h1_trailers() { # VIP [HEADER LINE]
		printf 'POST /t HTTP/1.1\r\nHost: web\r\n%sTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\nX-Checksum: abc123\r\nHost: evil\r\nContent-Type: text/evil\r\n\r\n' \
			"${2:+$2$'\r\n'}" | t_exec n1-p1 -- python3 -c '
import socket, sys
s = socket.create_connection((sys.argv[1], 80), timeout=10)
s.sendall(sys.stdin.buffer.read())
data = b""
while chunk := s.recv(65536):
    data += chunk
sys.stdout.write(data.partition(b"\r\n\r\n")[2].decode())' "$1"
	}
	for to in v1 v2; do
		h1_trailers "$L7_VIP" "x-to: $to" >"$T_TMP/body"
		t_eq "$(jq -c '[.name, .body_len, .trailers]' "$T_TMP/body")" "[\"$to\",5,$want]" \
			"HTTP/1.1 client, trailers at the HTTP/1.1 endpoint $to"
	done
	printf hello >"$T_TMP/five"
	for vip in 10.96.0.93 10.96.0.94; do
		to=h2-v$((${vip##*.} - 92))
		h1_trailers "$vip" >"$T_TMP/body"
		t_eq "$(jq -c '[.name, .body_len, .trailers]' "$T_TMP/body")" "[\"$to\",5,$want]" \
			"HTTP/1.1 client, trailers at the HTTP/2 endpoint $to"
		t_exec n1-p1 -- nghttp -d "$T_TMP/five" --trailer 'x-checksum: abc123' \
			--trailer 'content-type: text/evil' "http://$vip/t" >"$T_TMP/body"
		t_eq "$(jq -c '[.name, .body_len, .trailers]' "$T_TMP/body")" "[\"$to\",5,$want]" \
			"HTTP/2 client, trailers at the HTTP/2 endpoint $to"
	done
	# nghttp sends a content-length: to an HTTP/1.1 endpoint the body goes
	# with it, and the trailers have no place (dropped, as Envoy does).
	t_exec n1-p1 -- nghttp -d "$T_TMP/five" --trailer 'x-checksum: abc123' "http://$L7_VIP/t" \
		>"$T_TMP/body"
	t_eq "$(jq -c '[.headers["content-length"], .trailers]' "$T_TMP/body")" '["5",{}]' \
		"HTTP/2 client with a length, HTTP/1.1 endpoint: the length kept, trailers dropped"
}
