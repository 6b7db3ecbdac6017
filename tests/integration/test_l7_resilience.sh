# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
# L7 resilience and policy in the node proxy (docs/l7.md): fault injection,
# rate limits, the circuit breaker, outlier detection, load-balancing
# policies, authorization, redirects, rewrites and mirrors, each shown
# working and at its edge. The proxy has 2 worker threads, and limits are
# per worker: bounds below allow for both.

# shellcheck source=tests/lib/l7lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/l7lib.sh"

# N requests from the client, one connection each; their statuses, counted.
l7_statuses() { # N PATH [CURL ARGS...]
	local n=$1 path=$2
	shift 2
	t_exec n1-p1 -- bash -c "for i in \$(seq $n); do curl -s -m 10 -o /dev/null -w '%{http_code} %header{shunt-error}\n' $* http://$L7_VIP$path; done" |
		sort | uniq -c | awk '{ printf "%s%s:%s ", $2, ($3 ? "/" $3 : ""), $1 }'
}

l7_count_of() { # STATUSES KEY -> how many
	local k
	for k in $1; do [ "${k%:*}" = "$2" ] && echo "${k##*:}" && return; done
	echo 0
}

l7_served() { # POD: requests its backend served
	t_exec --outside "$1" -- curl -s -m 5 "http://$(t_pod_ip "$1"):8080/count" | jq -r .served
}

test_l7_fault_abort_and_delay_within_bounds() {
	l7_setup <<-'EOF'
		  - name: web
		    parentRefs: [{name: web, port: 80}]
		    rules:
		      - matches: [{path: {value: /abort}}]
		        backendRefs: [{name: web-v1, port: 80}]
		        fault: {abort: {httpStatus: 503, percentage: 30}}
		      - matches: [{path: {value: /grpc}}]
		        backendRefs: [{name: web-v1, port: 80}]
		        fault: {abort: {grpcStatus: UNAVAILABLE}}
		      - backendRefs: [{name: web-v1, port: 80}]
		        fault: {delay: {fixedDelay: 300ms, percentage: 100}}
	EOF
	local s aborted
	s=$(l7_statuses 200 /abort)
	aborted=$(l7_count_of "$s" 503/fault_injected)
	# Binomial(200, 0.3): mean 60, sd 6.5; +-4 sd.
	t_ge "$aborted" 34 "aborted of 200 at 30% ($s)"
	t_le "$aborted" 86 "aborted of 200 at 30% ($s)"
	t_eq "$(( $(l7_count_of "$s" 200) + aborted ))" 200 "the rest reached the backend ($s)"
	t_eq "$(l7_curl '%{http_code} %header{grpc-status}' /grpc)" "200 14" "a gRPC abort (trailers-only)"
	local t
	t=$(l7_curl '%{time_total}' /slow)
	awk -v t="$t" 'BEGIN { exit !(t >= 0.29) }' || t_fail "a 300 ms delay took ${t}s"
	t_eq "$(jq -r .name "$T_TMP/body")" v1 "the delayed request's answer"
}

test_l7_rate_limit_answers_429_with_retry_after() {
	l7_setup <<-'EOF'
		  - name: web
		    parentRefs: [{name: web, port: 80}]
		    rules:
		      - backendRefs: [{name: web-v1, port: 80}]
		        rateLimit: {requestsPerUnit: 5, unit: minute}
	EOF
	local s ok
	s=$(l7_statuses 30 /)
	ok=$(l7_count_of "$s" 200)
	# 5 a minute and a burst of 5, in each of 2 workers.
	t_ge "$ok" 5 "requests let through ($s)"
	t_le "$ok" 10 "requests let through ($s)"
	t_eq "$(( ok + $(l7_count_of "$s" 429/rate_limited) ))" 30 "the rest limited ($s)"
	local ra
	ra=$(l7_curl '%{http_code} %header{retry-after}' /)
	case $ra in "429 "[1-9]*) ;; *) t_fail "a limited answer without Retry-After: $ra" ;; esac
}

test_l7_circuit_breaker_trips_and_recovers() {
	L7_WEB_EXTRA='    trafficPolicy: {connectionPool: {http: {http2MaxRequests: 2}}}' l7_setup <<-'EOF'
		  - name: web
		    parentRefs: [{name: web, port: 80}]
		    rules:
		      - backendRefs: [{name: web, port: 80}]
	EOF
	# 12 at once, each held 1.5 s by the backend: at most 2 per worker pass.
	t_exec n1-p1 -- bash -c "for i in \$(seq 12); do curl -s -m 10 -o /dev/null -w '%{http_code} %header{shunt-error}\n' 'http://$L7_VIP/?delay_ms=1500' & done; wait" \
		| sort | uniq -c >"$T_TMP/burst"
	local ok over
	ok=$(awk '$2 == 200 { print $1 }' "$T_TMP/burst")
	over=$(awk '$2 == 503 && $3 == "overflow_max_requests" { print $1 }' "$T_TMP/burst")
	t_ge "${ok:-0}" 2 "requests within maxRequests: $(tr '\n' ' ' <"$T_TMP/burst")"
	t_le "${ok:-0}" 4 "requests within maxRequests: $(tr '\n' ' ' <"$T_TMP/burst")"
	t_eq "$(( ${ok:-0} + ${over:-0} ))" 12 "the rest overflowed: $(tr '\n' ' ' <"$T_TMP/burst")"
	t_eq "$(l7_curl '%{http_code}' /)" 200 "after the burst, the breaker lets requests through"
}

test_l7_outlier_detection_ejects_and_returns() {
	L7_V1_ARGS="--status 503" L7_WEB_EXTRA='    trafficPolicy:
      loadBalancer: {simple: ROUND_ROBIN}
      outlierDetection: {consecutive5xxErrors: 3, baseEjectionTime: 3s, maxEjectionPercent: 50}' \
		l7_setup <<-'EOF'
			  - name: web
			    parentRefs: [{name: web, port: 80}]
		EOF
	local s v1_first v1_later
	s=$(l7_statuses 60 /)
	v1_first=$(l7_served n1-p2)
	# Round robin would send v1 30; it is out after 3 failures per worker.
	t_le "$v1_first" 8 "requests v1 (failing) got of 60 ($s)"
	t_ge "$(l7_count_of "$s" 200)" 52 "requests answered by v2 ($s)"
	t_ge "$(l7_metric shunt_l7_ejections_total)" 1 "ejections"
	sleep 3.5
	l7_statuses 20 / >/dev/null
	v1_later=$(l7_served n1-p2)
	t_ge "$((v1_later - v1_first))" 1 "v1 back in after its ejection time"
}

test_l7_round_robin_and_least_request_spread_requests() {
	L7_WEB_EXTRA='    trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}' l7_setup </dev/null
	l7_statuses 100 / >/dev/null
	local a b
	a=$(l7_served n1-p2)
	b=$(l7_served n2-p2)
	t_eq "$((a + b))" 100 "requests served"
	# Each worker alternates: the two differ by at most one per worker.
	t_le "$(( a > b ? a - b : b - a ))" 2 "round robin's spread (v1 $a, v2 $b)"
}

test_l7_authorization_by_identity_method_path_and_header() {
	L7_AUTHZ='  - name: web-readers
    namespace: default
    targetRefs: [{kind: Service, name: web}]
    action: ALLOW
    rules:
      - from: [{source: {principals: ["cluster.local/ns/default/sa/client"]}}]
        to: [{operation: {methods: [GET], paths: ["/api/*"]}}]
  - name: web-block
    namespace: default
    targetRefs: [{kind: Service, name: web}]
    action: DENY
    rules:
      - when: [{key: "request.headers[x-block]", values: ["yes"]}]' l7_setup </dev/null
	t_eq "$(l7_curl '%{http_code}' /api/items)" 200 "GET /api/* from the client's identity"
	t_eq "$(l7_curl '%{http_code} %header{shunt-error}' /api/items -X POST)" "403 authz_denied" "POST"
	t_eq "$(l7_curl '%{http_code} %header{shunt-error}' /other)" "403 authz_denied" "another path"
	t_eq "$(l7_curl '%{http_code} %header{shunt-error}' /api/items -H 'x-block: yes')" \
		"403 authz_denied" "DENY by header"
	# Another identity: n2-p1 runs as "client" too; relabel is not possible,
	# so the echo pod (sa echo) asks.
	t_eq "$(t_exec n1-p2 -- curl -s -m 5 -o /dev/null -w '%{http_code}' "http://$L7_VIP/api/items")" 403 \
		"GET /api/* from another identity"
	# Past the service: the pod of this node dialled at its address, and the
	# same pod through "plain" (a service without L7). The kernel sends
	# both to the proxy, which enforces web's rules as their destination.
	local fmt='%{http_code} %header{shunt-error} %header{shunt-hop} %header{x-backend}' addr
	for addr in "$(t_pod_ip n1-p2):8080" 10.96.0.83:80; do
		t_eq "$(t_exec n1-p1 -- curl -sS -m 5 -o /dev/null -w "$fmt" "http://$addr/api/items")" \
			"200   v1" "GET /api/* at $addr"
		t_eq "$(t_exec n1-p1 -- curl -sS -m 5 -o /dev/null -w "$fmt" -X POST "http://$addr/api/items")" \
			"403 authz_denied shunt-proxy/n1 " "POST at $addr"
	done
	t_eq "$(t_shunt n1 services --json | jq -r --arg ip "$(t_pod_ip n1-p2)" \
		'.services[] | select(.endpoint == $ip) | "\(.port) \(.path)"')" \
		"8080 l7" "shunt services: the endpoint of this node and its path"
	t_eq "$(t_shunt n2 services --json | jq -r --arg ip "$(t_pod_ip n1-p2)" \
		'[.services[] | select(.endpoint == $ip)] | length')" 0 "another node's endpoint: not n2's"
	t_eq "$(($(l7_served n1-p2) + $(l7_served n2-p2)))" 3 \
		"requests served (the GET through the service, the two GETs above)"
}

# The destination's node enforces its rules: n1, the client's node, is given
# none (as a node whose proxy would not enforce them), n2 has them.
# Requests to v2 meet them in n2's proxy, through the service or dialled
# straight at the pod's address (which takes the L4 tunnel).
test_l7_authorization_is_enforced_at_the_destination() {
	local v2 direct served
	L7_N1_AUTHZ='' L7_AUTHZ='  - name: v2-readers
    namespace: default
    targetRefs: [{kind: Service, name: web}]
    action: ALLOW
    rules:
      - from: [{source: {principals: ["cluster.local/ns/default/sa/client"]}}]
        to: [{operation: {methods: [GET], paths: ["/v2/api/*"]}}]
  - name: v2-block
    namespace: default
    targetRefs: [{kind: Service, name: web}]
    action: DENY
    rules:
      - when: [{key: "request.headers[x-block]", values: ["yes"]}]' l7_setup <<-'EOF'
		  - name: web-split
		    namespace: default
		    parentRefs: [{kind: Service, name: web, port: 80}]
		    rules:
		      - matches: [{path: {type: PathPrefix, value: /v2}}]
		        backendRefs: [{name: web-v2, port: 80}]
		      - backendRefs: [{name: web-v1, port: 80}]
	EOF
	local fmt='%{http_code} %header{shunt-error} %header{shunt-hop} %header{x-backend}'
	t_eq "$(l7_curl "$fmt" /v2/api/items)" "200   v2" "GET /v2/api/* from the client's identity"
	t_eq "$(l7_curl "$fmt" /v2/api/items -X POST)" "403 authz_denied shunt-proxy/n2 " \
		"POST, refused by the destination's node"
	t_eq "$(l7_curl "$fmt" /v2/other)" "403 authz_denied shunt-proxy/n2 " "another path"
	t_eq "$(l7_curl "$fmt" /v2/api/items -H 'x-block: yes')" \
		"403 authz_denied shunt-proxy/n2 " "DENY by header"
	t_eq "$(l7_curl "$fmt" /v1/anything -X POST)" "200   v1" \
		"n1's own endpoint: n1 has no rules"
	# The pod's address, not the service: no L7 hop on the client's node.
	v2="http://$(t_pod_ip n2-p2):8080"
	direct() { t_exec "$1" -- curl -sS -m 10 -o /dev/null -w "$fmt" "${@:3}" "$v2$2"; }
	t_eq "$(direct n1-p1 /v2/api/items)" "200   v2" "GET straight to the pod"
	t_eq "$(direct n1-p1 /v2/api/items -X POST)" "403 authz_denied shunt-proxy/n2 " \
		"POST straight to the pod"
	t_eq "$(direct n1-p2 /v2/api/items)" "403 authz_denied shunt-proxy/n2 " \
		"another identity straight to the pod"
	served=$(l7_served n2-p2)
	t_eq "$served" 2 "requests v2 served (the two GETs)"
	# Reported by the destination, with the identity mTLS proved: every
	# request to v2 (not only the refused ones), none by n1 as destination.
	local sel='reporter="destination",source_workload="n1-p1",source_principal="spiffe://cluster.local/ns/default/sa/client",destination_workload="n2-p2",destination_service="web.default.svc.cluster.local"'
	t_eq "$(l7_istio_sum n2 "$sel" 'response_code="403"' 'connection_security_policy="mutual_tls"')" 4 \
		"n1-p1's refusals as n2 reported them"
	t_eq "$(l7_istio_sum n2 "$sel" 'response_code="200"')" 2 "n1-p1's GETs as n2 reported them"
	t_eq "$(l7_istio_sum n1 'reporter="destination"' 'destination_workload="n2-p2"')" 0 \
		"n1 reports no request to v2 as the destination"
}

# The sum of istio_requests_total on NODE's proxy over series that have
# every one of LABELS ('name="value"').
l7_istio_sum() { # NODE LABELS...
	local node=$1
	shift
	ip netns exec "$SHUNT_CLUSTER_PREFIX-$node" curl -fsS http://127.0.0.1:9465/metrics |
		awk -v want="$*" 'BEGIN { n = split(want, w, /[ ,]+/) }
			index($1, "istio_requests_total{") == 1 {
				for (i = 1; i <= n; i++) if (!index($1, w[i])) next
				s += $2 }
			END { print s + 0 }'
}

test_l7_redirect_and_rewrite() {
	l7_setup <<-'EOF'
		  - name: web
		    parentRefs: [{name: web, port: 80}]
		    rules:
		      - matches: [{path: {type: PathPrefix, value: /old}}]
		        filters:
		          - type: RequestRedirect
		            requestRedirect: {hostname: new.example, statusCode: 301, path: {type: ReplacePrefixMatch, replacePrefixMatch: /new}}
		      - matches: [{path: {type: PathPrefix, value: /v1api}}]
		        backendRefs: [{name: web-v1, port: 80}]
		        filters:
		          - type: URLRewrite
		            urlRewrite: {hostname: internal.web, path: {type: ReplacePrefixMatch, replacePrefixMatch: /api}}
	EOF
	t_eq "$(l7_curl '%{http_code} %header{location}' '/old/page?q=1')" \
		"301 http://new.example/new/page?q=1" "a redirect"
	t_eq "$(l7_curl '%{http_code}' '/v1api/items?x=2')" 200 "a rewritten request"
	t_eq "$(jq -r '"\(.path) \(.headers.host)"' "$T_TMP/body")" "/api/items?x=2 internal.web" \
		"what the backend saw"
}

test_l7_mirror_copies_requests_without_touching_answers() {
	l7_setup <<-'EOF'
		  - name: web
		    parentRefs: [{name: web, port: 80}]
		    rules:
		      - backendRefs: [{name: web-v1, port: 80}]
		        filters:
		          - type: RequestMirror
		            requestMirror: {backendRef: {name: web-v2, port: 80}}
	EOF
	local s
	s=$(l7_statuses 20 '/m?delay_ms=0')
	t_eq "$s" "200:20 " "answers"
	local i
	for i in $(seq 50); do
		[ "$(l7_served n2-p2)" -ge 20 ] && break
		sleep 0.1
	done
	t_eq "$(l7_served n2-p2)" 20 "copies the mirror received"
	t_eq "$(l7_served n1-p2)" 20 "requests the primary served"
}
