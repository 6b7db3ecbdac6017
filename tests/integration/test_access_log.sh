# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
# Access logs (docs/telemetry.md "Access logs"): the node proxies write one
# JSON line per L7 request and per TCP connection through the mTLS tunnel
# (both ends) to the file the mesh config names. Every line is checked by
# tests/apps/access_log_check.py against the documented field list and the
# Elasticsearch index template (deploy/efk/shunt-access-log-template.json):
# Python's json, exactly the template's fields, each of its mapping's type.
# (Debian packages neither Fluent Bit nor Fluentd nor Elasticsearch: the
# template is what stands in for them.)
#
# Cluster: test_l7.sh's (tests/lib/l7lib.sh): client n1-p1, web
# (10.96.0.80:80, http) on v1 (n1-p2, same node) and v2 (n2-p2, across
# nodes); "empty", a service without endpoints.

# shellcheck source=tests/lib/l7lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/l7lib.sh"

ALOG_FIELDS=start_time,node,reporter,protocol,method,authority,path,response_code,response_flags,grpc_status,bytes_received,bytes_sent,duration_ms,upstream_host,upstream_service,source_workload,source_namespace,source_principal,destination_workload,destination_namespace,destination_principal,connection_security_policy,trace_id,user_agent,request_id,outcome
TEMPLATE=$REPO/deploy/efk/shunt-access-log-template.json

# The mesh config: /ok to web's endpoints, /empty to a service without
# any; mesh-wide accessLog with SAMPLING, and OVERRIDE (YAML flow mapping)
# as n1-p1's own accessLog if given, SA as its serviceAccount if given.
alog_config() { # SAMPLING [OVERRIDE [SA]]
	local override=${2:-} sa=${3:-}
	L7_SERVICES_EXTRA='  - name: empty
    virtualIPs: [10.96.0.84]
    ports: [{port: 80, targetPort: 8080}]
    selector: {app: nobody}' l7_config <<-'EOF' |
		  - name: web
		    parentRefs: [{name: web, port: 80}]
		    rules:
		      - matches: [{path: {type: PathPrefix, value: /ok}}]
		      - matches: [{path: {type: PathPrefix, value: /empty}}]
		        backendRefs: [{name: empty, port: 80}]
	EOF
		awk -v o="$override" -v sa="$sa" '/^  - name: / { p1 = $0 == "  - name: n1-p1" }
			p1 && sa != "" && /^    serviceAccount: / { $0 = "    serviceAccount: " sa }
			{ print } o != "" && $0 == "  - name: n1-p1" { print "    accessLog: " o }'
	echo "accessLog: {enabled: true, output: $T_TMP/access.log, sampling: $1}"
}

alog_setup() {
	t_cluster_up 2 2
	trap proxy_logs_on_failure EXIT
	alog_config 1 >"$T_TMP/mesh.yaml"
	proxy_mesh_up "$T_TMP/mesh.yaml"
	l7_backend n1-p2 v1
	l7_backend n2-p2 v2
	l7_backend n2-p1 tcp
}

alog_lines() { [ -f "$T_TMP/access.log" ] && wc -l <"$T_TMP/access.log" || echo 0; }
alog_at_least() { [ "$(alog_lines)" -ge "$1" ]; }

# Every line checked; the lines as a JSON array in $T_TMP/lines.json.
alog_check() {
	python3 "$REPO/tests/apps/access_log_check.py" "$TEMPLATE" "$T_TMP/access.log" \
		--fields "$ALOG_FIELDS" >"$T_TMP/lines.json" || t_fail "access log lines do not match the documented fields"
}

# How many lines the jq condition selects.
alog_count() { jq "[.[] | select($1)] | length" "$T_TMP/lines.json"; }

proxy_model_newer() { [ "$(proxy_metric "$1" shunt_proxy_model_version)" -gt "$2" ]; }

# The config with SAMPLING [OVERRIDE], applied by both agents and taken by
# both proxies.
alog_reconfigure() {
	local v1 v2
	v1=$(proxy_metric n1 shunt_proxy_model_version)
	v2=$(proxy_metric n2 shunt_proxy_model_version)
	alog_config "$@" | t_write_config "$T_TMP/mesh.yaml"
	t_wait_for 10 proxy_model_newer n1 "$v1" || t_fail "n1's proxy did not take the new config"
	t_wait_for 10 proxy_model_newer n2 "$v2" || t_fail "n2's proxy did not take the new config"
}

# a request id the proxy made: a random UUID (Envoy's x-request-id)
UUID4='^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'

test_access_log_lines_of_requests_and_tunnel_connections() {
	alog_setup
	local tp=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 i codes=""
	for i in 1 2 3 4; do
		codes+=$(l7_curl '%{http_code} ' "/ok/$i?x=\"q\"" -H "x-request-id: req-ok-$i" -H "traceparent: $tp" \
			-H 'User-Agent: odd "agent" \ with é')
	done
	codes+=$(l7_curl '%{http_code} ' /elsewhere -H 'b3: 80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1')
	codes+=$(l7_curl '%{http_code} ' /empty/x -X POST --data-binary 'abc')
	t_eq "$codes" "200 200 200 200 404 503 " "answers"
	# A TCP connection across nodes: through both proxies' tunnel ends.
	t_exec n1-p1 -- curl -sS -m 5 -o /dev/null "http://$(t_pod_ip n2-p1):8080/?size=5000" || t_fail "tcp curl"
	# 6 requests, and the TCP connection at both ends.
	t_wait_for 10 alog_at_least 8 || t_fail "access log has $(alog_lines) lines, expected at least 8"
	alog_check
	local http='.protocol != "TCP"'
	t_eq "$(alog_count "$http and .reporter == \"source\"")" 6 "request lines of the client's node"
	# The 200s that went to v2 were read again by n2's proxy, their
	# destination's hop (docs/l7.md): one line each there.
	t_eq "$(alog_count "$http and .reporter == \"destination\" and .node == \"n2\"
		and .destination_workload == \"n2-p2\" and .connection_security_policy == \"mutual_tls\"
		and .response_code == 200 and .trace_id == \"4bf92f3577b34da6a3ce929d0e0e4736\"")" \
		"$(alog_count "$http and .reporter == \"source\" and .destination_workload == \"n2-p2\"")" \
		"request lines of the destination's node (one per request to v2)"
	t_eq "$(alog_count "$http and .reporter == \"source\" and .node == \"n1\" and .source_workload == \"n1-p1\"
		and .source_principal == \"spiffe://cluster.local/ns/default/sa/client\"
		and .connection_security_policy == \"unknown\" and .duration_ms > 0")" 6 "request lines from n1-p1"
	t_eq "$(alog_count "$http and .reporter == \"source\" and .response_code == 200 and .response_flags == \"-\" and .method == \"GET\"
		and (.path | test(\"^/ok/[1-4][?]x=\\\"q\\\"$\")) and .authority == \"$L7_VIP\" and .protocol == \"HTTP/1.1\"
		and .trace_id == \"4bf92f3577b34da6a3ce929d0e0e4736\" and (.request_id | test(\"^req-ok-[1-4]$\"))
		and .user_agent == \"odd \\\"agent\\\" \\\\ with é\" and .upstream_service == \"web.default.svc.cluster.local\"
		and (.destination_workload == \"n1-p2\" or .destination_workload == \"n2-p2\")
		and (.upstream_host | test(\":8080$\")) and .bytes_received == 0 and .bytes_sent > 0
		and .outcome == \"allowed\" and .grpc_status == null")" 4 "200 lines"
	t_eq "$(alog_count "$http and .response_code == 404 and .response_flags == \"NR\" and .path == \"/elsewhere\"
		and .destination_workload == \"unknown\" and .upstream_host == null and .outcome == \"no_route\"
		and .trace_id == \"80f198ee56343ba864fe8b2a57d3eff7\" and (.request_id | test(\"$UUID4\"))")" 1 \
		"404 route miss (its request id made by the proxy)"
	t_eq "$(alog_count "$http and .response_code == 503 and .response_flags == \"UH\" and .method == \"POST\"
		and .bytes_received == 3 and .upstream_service == \"empty.default.svc.cluster.local\"
		and (.request_id | test(\"$UUID4\"))")" 1 "503 no endpoint"
	local tcp='.protocol == "TCP" and .source_workload == "n1-p1" and .destination_workload == "n2-p1"'
	tcp+=' and .method == null and .path == null and .response_code == 0 and .response_flags == "-"'
	tcp+=' and .bytes_sent > 5000 and .bytes_received > 40 and .outcome == "closed"'
	t_eq "$(alog_count "$tcp and .reporter == \"source\" and .node == \"n1\" and .connection_security_policy == \"unknown\"")" 1 \
		"TCP line of the client's node"
	t_eq "$(alog_count "$tcp and .reporter == \"destination\" and .node == \"n2\" and .connection_security_policy == \"mutual_tls\"
		and .source_principal == \"spiffe://cluster.local/ns/default/sa/client\"")" 1 "TCP line of the server's node"
	t_eq "$(jq '[.[] | select(.protocol == "TCP" and .destination_workload == "n2-p1")] | (.[0].bytes_sent == .[1].bytes_sent)' "$T_TMP/lines.json")" true \
		"both ends agree on the bytes"
	t_eq "$(proxy_metric n1 'shunt_proxy_access_log_dropped_total{reason="buffer_full"}')" 0 "lines dropped"
	t_ge "$(proxy_metric n1 shunt_proxy_access_log_lines_total)" 7 "lines written by n1 (metric)"
}

test_access_log_sampling_zero_logs_nothing_and_a_workload_overrides_it() {
	alog_setup
	local i before codes=""
	# A line of n1-p1 before the model changes: the proxy keeps the part of
	# it that its next lines to the same endpoint share.
	l7_curl '%{http_code}' /ok >/dev/null
	t_wait_for 10 alog_at_least 1 || t_fail "no line before the changes"
	alog_reconfigure 0
	before=$(alog_lines)
	for i in $(seq 10); do codes+=$(l7_curl '%{http_code}' /ok); done
	t_exec n1-p1 -- curl -sS -m 5 -o /dev/null "http://$(t_pod_ip n2-p1):8080/?size=100" || t_fail "tcp curl"
	t_eq "$codes" "$(printf '200%.0s' $(seq 10))" "answers"
	# The lines of requests are due at their end: once their count moved
	# in /metrics, a line would have been written.
	t_wait_for 5 bash -c "[ \"\$(ip netns exec $SHUNT_CLUSTER_PREFIX-n1 curl -fsS http://127.0.0.1:9465/metrics |
		awk '\$1 == \"shunt_l7_requests_total\" { print \$2 }')\" -ge 10 ]" || t_fail "requests not counted"
	sleep 1
	t_eq "$(alog_lines)" "$before" "lines with sampling 0"
	# n1-p1's own setting: every request of it, the mesh's 0 for others;
	# and a service account of its own, which its lines follow.
	alog_reconfigure 0 '{sampling: 1}' client2
	for i in 1 2 3; do l7_curl '%{http_code}' /ok >/dev/null; done
	t_wait_for 10 alog_at_least $((before + 3)) || t_fail "no lines with n1-p1's override"
	alog_check
	local n1p1='.protocol != "TCP" and .source_workload == "n1-p1" and .reporter == "source"'
	t_eq "$(alog_count "$n1p1")" 4 "n1-p1's requests logged"
	t_eq "$(alog_count "$n1p1 and .source_principal == \"spiffe://cluster.local/ns/default/sa/client2\"")" 3 \
		"lines after the change with n1-p1's new service account"
	# Off for n1-p1 while the mesh logs everything.
	alog_reconfigure 1 '{enabled: false}'
	before=$(alog_lines)
	for i in 1 2 3; do l7_curl '%{http_code}' /ok >/dev/null; done
	sleep 1
	t_eq "$(alog_lines)" "$before" "lines with n1-p1's logging off"
}
