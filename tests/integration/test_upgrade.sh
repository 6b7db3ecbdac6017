# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
# A node proxy replaced under traffic (docs/proxy.md "Upgrades"): the new
# one listens beside the old one, the old one drains on SIGTERM, and no
# client sees a failure: not HTTP/1.1 keep-alive clients (wrk), not gRPC
# ones (python3-grpcio, HTTP/2: GOAWAY moves them to a new connection), not
# new TCP connections, not a request in flight, not a long-lived
# connection. Both ends of the cross-node tunnel are replaced.
#
# (h2load is no such client: it counts a request it wanted to start on a
# connection after GOAWAY as failed, as it would with any server that
# shuts down gracefully, before it reconnects.)
#
# Cluster: l7lib.sh's, with gRPC (web and rpc: v1 in n1-p2, v2 across
# nodes in n2-p2), and rawweb (10.96.0.87), whose only endpoint (n2-p2:8081)
# is no L7 service's target port: n2's proxy relays the bytes of n1's
# pooled HTTP/1.1 connections, and cannot tell them to go; n1's proxy
# stops reusing them once their tunnel gets GOAWAY.

# shellcheck source=tests/lib/l7lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/l7lib.sh"

UPGRADE_LOAD_S=14

# A line every 100 ms for SECONDS over one connection from n1-p1 to n2-p2,
# each echoed back; prints "ok N" once every echo was right.
upgrade_long_connection() { # SECONDS
	t_exec n2-p2 -- python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 7002)); s.listen(1)
c, _ = s.accept()
while (b := c.recv(65536)):
    c.sendall(b)' "$(t_pod_ip n2-p2)" >"$T_TMP/echo.log" 2>&1 &
	T_PIDS+=($!)
	t_wait_for 10 t_cov_port_open n2-p2 7002 || t_fail "echo server did not start"
	t_exec n1-p1 -- python3 -c '
import socket, sys, time
c = socket.create_connection((sys.argv[1], 7002), timeout=5)
f = c.makefile("rb")
n = int(float(sys.argv[2]) * 10)
for i in range(n):
    line = b"line %d\n" % i
    c.sendall(line)
    if f.readline() != line:
        print("bad echo at", i); sys.exit(1)
    time.sleep(0.1)
print("ok", n)' "$(t_pod_ip n2-p2)" "$1" >"$T_TMP/long.out" 2>&1
}

# New cross-node connections one after another until the file STOP exists;
# prints the probe's outcomes of each round of 20.
upgrade_new_connections() { # STOP
	while [ ! -e "$1" ]; do
		t_exec n1-p1 -- "$PROBE" connect "$(t_pod_ip n2-p2):7001" --count 20 --timeout-ms 3000
	done >"$T_TMP/probe.out" 2>&1
}

# Starts a second proxy for NODE beside the running one, then SIGTERMs the
# first; prints nothing, sets UPGRADE_OLD_<NODE> to the old PID.
upgrade_replace() { # NODE
	local n=$1 old_var="PROXY_PID_$1"
	printf -v "UPGRADE_OLD_$n" '%s' "${!old_var}"
	proxy_start "$n"
	local old_pid_var="UPGRADE_OLD_$n"
	kill -TERM "${!old_pid_var}"
}

proxy_gone() { ! kill -0 "$1" 2>/dev/null; }

test_upgrade_proxies_replaced_under_traffic_lose_nothing() {
	local stop=$T_TMP/stop wrk_pid wrk_raw_pid grpc_pids=() long_pid probe_pid slow_pid i
	L7_SERVICES_EXTRA="  - {name: raw, virtualIPs: [10.96.0.86], ports: [{port: 80, targetPort: 8081}], backends: [{workload: n2-p2}]}
  - {name: rawweb, virtualIPs: [10.96.0.87], ports: [{port: 80, appProtocol: http}], backends: [{workload: n2-p2}]}" \
		PROXY_ARGS="--drain-timeout 25" grpc_setup <<-'EOF'
		  - name: web
		    parentRefs: [{name: web, port: 80}]
		    rules:
		      - backendRefs: [{name: web-v1, port: 80, weight: 50}, {name: web-v2, port: 80, weight: 50}]
		  - name: rawweb
		    parentRefs: [{name: rawweb, port: 80}]
		    rules:
		      - backendRefs: [{name: raw, port: 80}]
		  - name: rpc
		    parentRefs: [{name: rpc}]
		EOF
	t_exec n2-p2 -- python3 "$L7_BACKEND" --listen "$(t_pod_ip n2-p2):8081" --name raw \
		>"$T_TMP/backend.raw.log" 2>&1 &
	T_PIDS+=($!)
	t_wait_for 10 t_cov_port_open n2-p2 8081 || t_fail "backend raw did not start"
	t_exec n2-p2 -- "$PROBE" serve --name echo --tcp "$(t_pod_ip n2-p2):7001" --peers "$T_TMP/peers" \
		>/dev/null 2>&1 &
	T_PIDS+=($!)
	t_wait_for 10 t_cov_port_open n2-p2 7001 || t_fail "probe server did not start"
	[[ "$(l7_who /)" == "200 v"[12] ]] || t_fail "the first request: $(l7_who /)"
	[ "$(t_exec n1-p1 -- curl -s -m 5 -o /dev/null -w '%{http_code} %header{x-backend}' http://10.96.0.87/)" = "200 raw" ] ||
		t_fail "rawweb does not answer"

	t_exec n1-p1 -- wrk -t1 -c8 -d${UPGRADE_LOAD_S}s "http://$L7_VIP/" >"$T_TMP/wrk.out" 2>&1 &
	wrk_pid=$!
	T_PIDS+=($!)
	t_exec n1-p1 -- wrk -t1 -c4 -d${UPGRADE_LOAD_S}s "http://10.96.0.87/" >"$T_TMP/wrk-raw.out" 2>&1 &
	wrk_raw_pid=$!
	T_PIDS+=($!)
	for i in 1 2; do
		grpc_call --seconds "$UPGRADE_LOAD_S" >"$T_TMP/grpc.$i.out" 2>&1 &
		grpc_pids+=($!)
		T_PIDS+=($!)
	done
	upgrade_long_connection 8 &
	long_pid=$!
	T_PIDS+=($!)
	upgrade_new_connections "$stop" &
	probe_pid=$!
	T_PIDS+=($!)
	sleep 1.5
	# a request in flight across the switch: its answer comes in 4 s
	l7_curl '%{http_code}\n' '/?delay_ms=4000' >"$T_TMP/slow.out" 2>&1 &
	slow_pid=$!
	T_PIDS+=($!)
	sleep 0.5

	upgrade_replace n1 # the clients' side: L7 connections, outbound tunnels
	sleep 2
	upgrade_replace n2 # the servers' side: inbound tunnels
	t_wait_for 30 proxy_gone "$UPGRADE_OLD_n1" || t_fail "n1's old proxy still runs 30 s after SIGTERM"
	t_wait_for 30 proxy_gone "$UPGRADE_OLD_n2" || t_fail "n2's old proxy still runs 30 s after SIGTERM"

	wait "$wrk_pid" || t_fail "wrk failed: $(tail -3 "$T_TMP/wrk.out")"
	wait "$wrk_raw_pid" || t_fail "wrk (rawweb) failed: $(tail -3 "$T_TMP/wrk-raw.out")"
	for i in "${grpc_pids[@]}"; do wait "$i" || true; done
	wait "$long_pid" || t_fail "the long-lived connection broke: $(cat "$T_TMP/long.out")"
	wait "$slow_pid" || true
	touch "$stop"
	wait "$probe_pid" || true

	# wrk prints "Socket errors: ..." and "Non-2xx or 3xx responses: N" only when there were any
	for f in wrk wrk-raw; do
		grep -q "requests in" "$T_TMP/$f.out" || t_fail "$f: $(cat "$T_TMP/$f.out")"
		! grep -E "Socket errors|Non-2xx" "$T_TMP/$f.out" || t_fail "$f saw failures"
	done
	for i in 1 2; do
		t_eq "$(jq -c '.codes | keys' "$T_TMP/grpc.$i.out")" '["OK"]' "gRPC client $i: $(cat "$T_TMP/grpc.$i.out")"
		t_ge "$(jq '.codes.OK' "$T_TMP/grpc.$i.out")" 200 "gRPC calls of client $i"
	done
	t_eq "$(cat "$T_TMP/slow.out")" 200 "the request in flight across the switch"
	grep -q "^ok 80$" "$T_TMP/long.out" || t_fail "long-lived connection: $(cat "$T_TMP/long.out")"
	t_ge "$(grep -c '"ok":20' "$T_TMP/probe.out")" 5 "rounds of 20 new connections"
	! grep -v '"ok":20' "$T_TMP/probe.out" | grep -q . ||
		t_fail "new connections failed: $(grep -v '"ok":20' "$T_TMP/probe.out" | head -3)"
	# the old proxies drained: every connection done before the deadline, exit 0
	t_eq "$(proxy_log_count n1 '.msg == "proxy stopped: drained, every connection done"')" 1 "n1's old proxy drained"
	t_eq "$(proxy_log_count n2 '.msg == "proxy stopped: drained, every connection done"')" 1 "n2's old proxy drained"
	# the old ones left the transparent source's shared pieces to the new
	# ones: the server still sees the client's own address
	t_eq "$(t_probe_outcome n1-p1 "$(t_pod_ip n2-p2):7001" --count 5)" ok "through the new proxies"
	t_eq "$(tail -5 "$T_TMP/peers" | grep -c "^$(t_pod_ip n1-p1) ")" 5 \
		"connections from the client's address after the upgrade"
	# and the new ones carried what came after: L7 requests on n1, tunnels on n2
	t_ge "$(proxy_metric n1 shunt_l7_requests_total)" 100 "requests through n1's new proxy"
	t_ge "$(proxy_metric n2 'shunt_proxy_tunnels_total{side="inbound"}')" 1 "tunnels n2's new proxy took"
}
