# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
# The Grafana dashboards (deploy/grafana/*.json, docs/telemetry.md
# "Dashboards") against a real Prometheus (tests/lib/promlib.sh) scraping
# both agents and both node proxies while traffic of every kind the panels
# show runs: HTTP 200s, 404s (no route) and 503s (no endpoint) from two
# client workloads, TCP across nodes both ways (the mTLS tunnel), and the
# kernel bypass on one node. Every panel's PromQL, with the dashboard's
# variables set to values of that traffic, must parse and return data (at
# least one finite value) at a moment inside the traffic; every variable's
# label_values() query must list the value used.

# shellcheck source=tests/lib/promlib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/promlib.sh"

DASHBOARDS=$REPO/deploy/grafana

dash_setup() {
	L7_SERVICES_EXTRA='  - name: empty
    virtualIPs: [10.96.0.84]
    ports: [{port: 80, targetPort: 8080}]
    selector: {app: nobody}' prom_cluster <<-'EOF'
		  - name: web
		    parentRefs: [{name: web, port: 80}]
		    rules:
		      - matches: [{path: {type: PathPrefix, value: /ok}}]
		      - matches: [{path: {type: PathPrefix, value: /empty}}]
		        backendRefs: [{name: empty, port: 80}]
	EOF
	l7_backend n2-p1 tcp
	prom_start
}

# From POD for SECONDS: requests to web (mostly 200s, a 404 and a 503 in
# every ten) and a TCP connection to TCP_TARGET each round.
dash_client() { # POD SECONDS TCP_TARGET
	t_exec "$1" -- bash -c "end=\$((SECONDS + $2)); i=0; while [ \$SECONDS -lt \$end ]; do
		i=\$((i + 1)); p=/ok/\$i
		[ \$((i % 10)) = 3 ] && p=/elsewhere
		[ \$((i % 10)) = 7 ] && p=/empty
		curl -s -m 5 -o /dev/null -d x 'http://$L7_VIP'\$p
		[ \$((i % 3)) = 0 ] && curl -s -m 5 -o /dev/null 'http://$3/?size=2000'
		sleep 0.05; done" >/dev/null 2>&1 &
	T_PIDS+=($!)
}

test_every_dashboard_panel_returns_data_from_prometheus() {
	dash_setup
	local secs=8 start at
	start=$(date +%s)
	dash_client n1-p1 $secs "$(t_pod_ip n2-p1):8080"
	dash_client n1-p2 $secs "$(t_pod_ip n2-p1):8080"
	dash_client n2-p1 $secs "$(t_pod_ip n1-p2):8080"
	# Same node, the kernel path (bypass where it is on).
	t_exec n1-p1 -- bash -c "for i in 1 2 3 4 5; do curl -s -o /dev/null 'http://$(t_pod_ip n1-p2):8080/?size=100000'; sleep 1; done"
	wait "${T_PIDS[@]: -3}" 2>/dev/null
	# A moment inside the traffic, once Prometheus has scraped past it.
	at=$((start + secs - 1))
	sleep 2
	python3 "$REPO/tests/apps/dashboard_queries.py" "$PROM" "$at" \
		__rate_interval=5s __interval=1s __range=5m datasource=prometheus \
		service=web.default.svc.cluster.local namespace=default workload=n1-p2 node=n1 \
		-- "$DASHBOARDS"/*.json >"$T_TMP/queries" 2>&1
	local rc=$?
	t_log "$(tail -1 "$T_TMP/queries")"
	[ $rc = 0 ] || t_fail "panels without data: $(grep -A1 '^FAIL' "$T_TMP/queries" | tr -s ' ' | tr '\n' ' ')"
	t_ge "$(grep -c '^ok' "$T_TMP/queries")" 80 "queries checked"
}
