# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
# Cross-node connections through the node proxies over mTLS: every byte
# arrives, the link carries no plaintext, and whoever cannot prove an
# allowed identity is refused. Same-node connections keep the bypass.
#
# Cluster: 2 nodes x 2 pods with the cluster's config (a proxy per node:
# outbound on the pod gateway :15001, inbound on the underlay :15008).

# shellcheck source=tests/lib/proxylib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/proxylib.sh"

proxy_setup() {
	t_cluster_up 2 2
	trap proxy_logs_on_failure EXIT
	{
		# The cluster's config already has a proxy per node.
		# PROXY_SOURCE=node: the inbound proxies connect from their own address.
		sed -e '/^policies:/,$d' \
			-e "s|cgroup: \(.*\)/proxy}|cgroup: \\1/proxy${PROXY_SOURCE:+, sourceAddress: $PROXY_SOURCE}}|" "$MESH_CONFIG"
		[ -z "${PROXY_MTLS:-}" ] || echo "mtls: {mode: $PROXY_MTLS}"
		echo "policies:"
		echo "  - name: echo-in"
		echo "    podSelector: {matchLabels: {app: echo}}"
		echo "    ingress: [{from: [{podSelector: {matchLabels: {app: client}}}], ports: [{port: 7000}, {port: 7001}, {port: 8080}]}]"
	} >"$T_TMP/mesh.yaml"
	# PROXY_N2_WITHOUT=WORKLOAD: n2's agent starts without that workload.
	cp "$T_TMP/mesh.yaml" "$T_TMP/mesh.n2.yaml"
	[ -z "${PROXY_N2_WITHOUT:-}" ] ||
		awk -v w="  - name: $PROXY_N2_WITHOUT" '$0 == w { skip = 1; next }
			skip && /^  [^ ]/ || /^[^ ]/ { skip = 0 } !skip' "$T_TMP/mesh.yaml" >"$T_TMP/mesh.n2.yaml"
	proxy_mesh_up "$T_TMP/mesh.yaml" "$T_TMP/mesh.n2.yaml"
}

# SIZE each way from n1-p1 to DST (on n2-p2), every byte checked, through
# the proxies.
proxy_transfer() {
	local dst=$1 size=$2 before
	before=$(t_mesh_counter n1 proxied)
	t_tt_server n2-p2 "$dst" --count 1 --send "$size" --expect "$size" --handshake
	t_tt_client n1-p1 "$dst" --send "$size" --expect "$size" --handshake
	t_tt_server_wait
	t_ge "$(($(t_mesh_counter n1 proxied) - before))" 1 "connections to $dst sent to the proxy"
}

test_proxy_carries_256mib_each_way_intact() {
	proxy_setup
	proxy_transfer "$(t_pod_ip n2-p2):7000" 256M
	t_eq "$(proxy_log_count n2 '.event == "stream" and .side == "inbound" and .outcome == "closed"
		and .source == "default/n1-p1" and .peer == "spiffe://cluster.local/ns/default/sa/client"
		and .destination == "10.100.2.12:7000" and .bytes_to_server == 268435457
		and .bytes_to_client == 268435457')" 1 "closed inbound streams of 256 MiB each way on n2"
}

test_proxy_many_concurrent_connections() {
	proxy_setup
	t_tt_server n2-p2 "$(t_pod_ip n2-p2):7001" --count 2000 --send 64K --expect 64K
	t_tt_client n1-p1 "$(t_pod_ip n2-p2):7001" --conns 2000 --send 64K --expect 64K
	t_tt_server_wait
	# Connections from one identity to one node share tunnels: a TLS
	# handshake per 128 concurrent connections at most, not one each.
	local tunnels pooled
	tunnels=$(proxy_metric n1 'shunt_proxy_tunnels_total{side="outbound"}')
	pooled=$(proxy_metric n1 shunt_proxy_streams_pooled_total)
	t_le "$tunnels" 64 "tunnels opened for 2000 connections"
	# (and one warm-up connection)
	t_ge "$((tunnels + pooled))" 2000 "connections that opened a tunnel plus those that shared one"
	t_eq "$(proxy_metric n1 'shunt_proxy_connections_active{side="outbound"}')" 0 "connections left open"
}

proxy_outbound_idle() { [ "$(proxy_metric "$1" 'shunt_proxy_connections_active{side="outbound"}')" = 0 ]; }

# 10,000 connections open at once through both proxies (one thread holds
# them all: shunt-hold), each checked by an echo before and after the hold.
test_proxy_holds_10000_connections_at_once() {
	proxy_setup
	local out=$T_TMP/hold.out i
	t_exec n2-p2 -- "$HOLD" server --listen "$(t_pod_ip n2-p2):7001" >"$T_TMP/hold-server.out" 2>&1 &
	T_PIDS+=($!)
	t_wait_for 5 grep -q listening "$T_TMP/hold-server.out" || t_fail "hold server did not start: $(cat "$T_TMP/hold-server.out")"
	t_exec n1-p1 -- "$HOLD" client --connect "$(t_pod_ip n2-p2):7001" --conns 10000 --hold 2 \
		--timeout 120 >"$out" 2>&1 &
	local client=$!
	T_PIDS+=($client)
	for ((i = 0; i < 1200; i++)); do
		grep -q holding "$out" && break
		kill -0 $client 2>/dev/null || break
		sleep 0.1
	done
	grep -q 'holding 10000' "$out" || t_fail "not all 10000 connections came up: $(cat "$out")"
	t_ge "$(proxy_metric n1 'shunt_proxy_connections_active{side="outbound"}')" 10000 "n1 outbound connections open at once"
	t_ge "$(proxy_metric n2 'shunt_proxy_connections_active{side="inbound"}')" 10000 "n2 inbound connections open at once"
	wait $client || t_fail "hold client failed: $(tail -1 "$out")"
	t_eq "$(tail -1 "$out" | jq .second_ok)" 10000 "connections that echoed after the hold"
	t_wait_for 10 proxy_outbound_idle n1 || t_fail "connections left open on n1's proxy"
}

# Streams of one identity share a tunnel, and each is on its own there: a
# server that stops reading holds up only its stream (flow control), and
# refused connections reset only theirs, while a transfer goes on intact.
test_proxy_streams_on_one_tunnel_do_not_hold_each_other_up() {
	# One worker thread: each worker has its own tunnels.
	PROXY_ARGS="--threads 1" proxy_setup
	t_exec n2-p2 -- "$HOLD" server --listen "$(t_pod_ip n2-p2):8080" --stall >"$T_TMP/stall.out" 2>&1 &
	T_PIDS+=($!)
	t_wait_for 5 grep -q listening "$T_TMP/stall.out" || t_fail "stalled server did not start"
	# This one sends until the server's window and the proxies' are full.
	t_exec n1-p1 -- "$TT" client --connect "$(t_pod_ip n2-p2):8080" --send 256M --timeout 60 \
		>"$T_TMP/stalled.out" 2>&1 &
	T_PIDS+=($!)
	sleep 1
	t_tt_server n2-p2 "$(t_pod_ip n2-p2):7000" --count 1 --send 64M --expect 64M --handshake
	t_tt_client n1-p1 "$(t_pod_ip n2-p2):7000" --send 64M --expect 64M --handshake &
	local client=$!
	# Meanwhile: connections to a port where nothing listens are refused.
	local i refused=0
	for ((i = 0; i < 20; i++)); do
		[ "$(t_probe_outcome n1-p1 "$(t_pod_ip n2-p2):7001" --timeout-ms 3000)" = ok ] ||
			refused=$((refused + 1))
	done
	wait $client || t_fail "the transfer beside a stalled stream failed"
	t_tt_server_wait
	t_eq "$refused" 20 "connections to a closed port that failed"
	t_eq "$(proxy_metric n1 'shunt_proxy_tunnels_total{side="outbound"}')" 1 "tunnels from n1 (one identity, one node)"
	t_ge "$(proxy_metric n2 'shunt_proxy_refused_total{reason="upstream"}')" 20 "refusals counted as upstream"
	proxy_stream_closed n2 default/n1-p1 10.100.2.12:7000 67108865 ||
		t_fail "the transfer did not close cleanly on n2"
}

# Tunnels that end badly (their peer vanishes without a TLS goodbye) do
# not take down the others of the same worker thread: OpenSSL's error queue
# is per thread, and a stale error must not fail the next tunnel's read.
test_proxy_a_tunnel_that_dies_leaves_the_others_alone() {
	PROXY_ARGS="--threads 1" proxy_setup
	"$SHUNT" ca issue --dir "$T_TMP/ca" --namespace default --service-account client --out "$T_TMP/client" >/dev/null
	t_tt_server n2-p2 "$(t_pod_ip n2-p2):7000" --count 1 --send 2G --expect 2G --handshake
	t_exec n1-p1 -- "$TT" client --connect "$(t_pod_ip n2-p2):7000" $(t_warmup_flag) --send 2G \
		--expect 2G --handshake >"$T_TMP/long.out" 2>&1 &
	local client=$! i
	T_PIDS+=($client)
	for ((i = 0; i < 20; i++)); do
		# A tunnel up (TLS with ALPN h2), then its client killed: the TCP
		# connection ends without close_notify.
		(sleep 0.5 | timeout -s KILL 0.3 ip netns exec "$SHUNT_CLUSTER_PREFIX-n1" openssl s_client \
			-quiet -connect 10.99.0.2:15008 -CAfile "$T_TMP/ca/bundle.pem" -cert "$T_TMP/client.crt" \
			-key "$T_TMP/client.key" -alpn h2 >/dev/null 2>&1) 2>/dev/null || true
	done
	wait $client || t_fail "the transfer beside the dying tunnels failed: $(tail -1 "$T_TMP/long.out")"
	t_tt_server_wait
	t_ge "$(proxy_log_count n2 '.event == "tunnel" and .side == "inbound"
		and (.outcome == "peer_closed" or .outcome == "peer_reset" or .outcome == "send_failed")')" 10 \
		"tunnels that ended badly on n2"
}

# The client half-closes, the server reads to EOF and only then answers; and
# a server that sends and closes first.
test_proxy_carries_half_close_and_server_first_close() {
	proxy_setup
	t_tt_server n2-p2 "$(t_pod_ip n2-p2):7000" --count 1 --reply --send 1M --expect 4M
	t_tt_client n1-p1 "$(t_pod_ip n2-p2):7000" --first --send 4M --expect 1M
	t_tt_server_wait
	t_tt_server n2-p2 "$(t_pod_ip n2-p2):7001" --count 1 --send 2M --close close
	t_tt_client n1-p1 "$(t_pod_ip n2-p2):7001" --expect 2M
	t_tt_server_wait
}

# A marker the workloads exchange is on the underlay in the clear without
# the mesh, and never through the proxies.
test_proxy_link_carries_no_plaintext() {
	proxy_setup
	local marker=SHUNT-SECRET-MARKER-4711 cap
	for cap in mesh plain; do
		# On node n1's port of the underlay bridge (a bridge device itself
		# does not see the frames it forwards between its ports).
		ip netns exec "$SHUNT_CLUSTER_PREFIX-net" tcpdump -i n1 --immediate-mode -U -s 0 -w "$T_TMP/$cap.pcap" \
			tcp >"$T_TMP/tcpdump.$cap.log" 2>&1 &
		local dump=$!
		t_wait_for 5 grep -q listening "$T_TMP/tcpdump.$cap.log" || t_fail "tcpdump did not start"
		if [ $cap = mesh ]; then
			t_exec n2-p2 -- "$PROBE" serve --name "$marker" --tcp 0.0.0.0:8080 >/dev/null 2>&1 &
			sleep 0.3
			t_eq "$(t_probe_outcome n1-p1 10.100.2.12:8080 --timeout-ms 2000)" ok "through the mesh"
		else
			# The same exchange outside the mesh cgroups: no proxy, no policy.
			t_exec --outside n2-p2 -- "$PROBE" serve --name "$marker" --tcp 0.0.0.0:9191 >/dev/null 2>&1 &
			sleep 0.3
			t_eq "$(t_probe_outcome --outside n1-p1 10.100.2.12:9191 --timeout-ms 2000)" ok "without the mesh"
		fi
		sleep 0.3
		kill "$dump"
		wait "$dump" 2>/dev/null
	done
	grep -qa "$marker" "$T_TMP/plain.pcap" || t_fail "the plain capture does not show the marker (capture broken?)"
	if grep -qa "$marker" "$T_TMP/mesh.pcap"; then
		t_fail "the marker crossed the underlay in the clear through the mesh"
	fi
	[ "$(stat -c %s "$T_TMP/mesh.pcap")" -gt 1000 ] || t_fail "the mesh capture is empty"
}

# TLS to the inbound port: S_CLIENT_ARGS..., stdin is sent after the handshake.
proxy_tls_client() {
	timeout 5 ip netns exec "$SHUNT_CLUSTER_PREFIX-n1" openssl s_client -quiet -verify_quiet \
		-connect 10.99.0.2:15008 -CAfile "$T_TMP/ca/bundle.pem" "$@" 2>&1
}

# One CONNECT stream to n2's inbound port as SOURCE to 10.100.2.12:PORT,
# with certificate CRT (and CRT's key): what another node's proxy sends.
proxy_h2_connect() {
	local source=$1 port=$2 crt=$3
	timeout 10 ip netns exec "$SHUNT_CLUSTER_PREFIX-n1" "$H2CONNECT" --connect 10.99.0.2:15008 \
		--ca "$T_TMP/ca/bundle.pem" --cert "$crt.crt" --key "$crt.key" \
		--authority 10.100.2.12:"$port" --source "$source" </dev/null 2>"$T_TMP/h2connect.err"
}

# Waits for n2's proxy to log a refusal with OUTCOME (its label).
proxy_refused() { proxy_log_wait n2 ".outcome == \"$1\""; }

test_proxy_refuses_impersonation() {
	proxy_setup
	local ca=$T_TMP/ca
	# Plaintext to the inbound port.
	ip netns exec "$SHUNT_CLUSTER_PREFIX-n1" "$PROBE" connect 10.99.0.2:15008 --timeout-ms 500 >/dev/null
	printf 'GET / HTTP/1.0\r\n\r\n' | timeout 3 ip netns exec "$SHUNT_CLUSTER_PREFIX-n1" \
		bash -c 'cat >/dev/tcp/10.99.0.2/15008' 2>/dev/null || true
	proxy_refused tls_not_tls
	# A certificate of another CA.
	"$SHUNT" ca init --dir "$T_TMP/other" >/dev/null
	"$SHUNT" ca issue --dir "$T_TMP/other" --namespace default --service-account client \
		--out "$T_TMP/forged" >/dev/null
	proxy_tls_client -cert "$T_TMP/forged.crt" -key "$T_TMP/forged.key" </dev/null >/dev/null
	proxy_refused tls_unknown_ca
	# Expired, and not yet valid.
	"$SHUNT" ca issue --dir "$ca" --namespace default --service-account client --hours 1 \
		--valid-from -7200 --out "$T_TMP/expired" >/dev/null
	proxy_tls_client -cert "$T_TMP/expired.crt" -key "$T_TMP/expired.key" </dev/null >/dev/null
	proxy_refused tls_expired
	# A valid certificate of another identity than the workload it names.
	"$SHUNT" ca issue --dir "$ca" --namespace default --service-account echo --out "$T_TMP/echo" >/dev/null
	proxy_h2_connect default/n1-p1 7000 "$T_TMP/echo" >/dev/null && t_fail "another identity got through"
	grep -q "status: 403" "$T_TMP/h2connect.err" || t_fail "no 403 for another identity: $(cat "$T_TMP/h2connect.err")"
	grep -q "outcome: identity_mismatch" "$T_TMP/h2connect.err" ||
		t_fail "the refusal does not say why: $(cat "$T_TMP/h2connect.err")"
	proxy_refused identity_mismatch
	# A valid identity that the destination's policy does not admit on 9090.
	"$SHUNT" ca issue --dir "$ca" --namespace default --service-account client --out "$T_TMP/client" >/dev/null
	proxy_h2_connect default/n1-p1 9090 "$T_TMP/client" >/dev/null && t_fail "a denied port got through"
	grep -q "status: 403" "$T_TMP/h2connect.err" || t_fail "no 403 for a denied port: $(cat "$T_TMP/h2connect.err")"
	grep -q "outcome: policy_denied" "$T_TMP/h2connect.err" ||
		t_fail "the refusal does not say why: $(cat "$T_TMP/h2connect.err")"
	proxy_refused policy_denied
	# And the same identity on an allowed port gets through.
	t_exec n2-p2 -- "$PROBE" serve --name ok --tcp 0.0.0.0:8080 >/dev/null 2>&1 &
	sleep 0.3
	proxy_h2_connect default/n1-p1 8080 "$T_TMP/client" | grep -q '^ok$' ||
		t_fail "a valid, allowed identity did not get through: $(cat "$T_TMP/h2connect.err")"
	# Each refusal is counted by reason.
	local m
	for m in 'handshake_failures_total{reason="not_tls"}' 'handshake_failures_total{reason="unknown_ca"}' \
		'handshake_failures_total{reason="expired"}' 'refused_total{reason="identity_mismatch"}' \
		'refused_total{reason="policy"}'; do
		t_ge "$(proxy_metric n2 "shunt_proxy_$m")" 1 "shunt_proxy_$m"
	done
	# And streamed as flow events, with the kernel's (shunt flows).
	local flows=$T_TMP/flows.json
	t_shunt n2 --json flows >"$flows" || t_fail "shunt flows failed"
	t_ge "$(jq -s '[.[] | select(.event == "proxy-in" and .verdict == "deny")] | length' "$flows")" 6 \
		"denied proxy-in flows (2 plaintext, another CA, expired, identity, policy)"
	t_eq "$(jq -s '[.[] | select(.event == "proxy-in" and .verdict == "deny" and .destination_port == 9090
		and .source == "default/n1-p1" and .destination == "default/n2-p2")] | length' "$flows")" 1 \
		"the policy denial as a flow, with both workloads"
	t_eq "$(jq -s '[.[] | select(.event == "proxy-in" and .verdict == "allow" and .destination_port == 8080)] | length' "$flows")" 1 \
		"the allowed stream as a flow"
}

# The destination sees the client workload's own address (IPv4 and IPv6):
# the inbound proxy connects from it (transparent socket), and the node
# routes the answers back to the proxy. With sourceAddress: node it sees
# the node's pod-facing address instead.
test_proxy_server_sees_the_client_address() {
	local mode want4 want6
	for mode in client node; do
		PROXY_SOURCE=$mode proxy_setup
		: >"$T_TMP/peers.$mode"
		t_exec n2-p2 -- "$PROBE" serve --name echo --tcp 0.0.0.0:8080 --tcp '[::]:8080' \
			--peers "$T_TMP/peers.$mode" >/dev/null 2>&1 &
		T_PIDS+=($!)
		sleep 0.3
		t_eq "$(t_probe_outcome n1-p1 10.100.2.12:8080 --count 3)" ok "$mode: IPv4 through the proxies"
		t_eq "$(t_probe_outcome n1-p1 '[fd00:100:2::12]:8080' --count 3)" ok "$mode: IPv6 through the proxies"
		want4=$(t_pod_ip n1-p1) want6=$(t_pod_ip n1-p1 ipv6)
		[ $mode = node ] && want4=10.100.2.1 want6=fd00:100:2::1
		t_eq "$(grep -c "^$want4 " "$T_TMP/peers.$mode")" 3 "$mode: IPv4 connections the server saw from $want4"
		t_eq "$(grep -c "^$want6 " "$T_TMP/peers.$mode")" 3 "$mode: IPv6 connections the server saw from $want6"
		if [ $mode = client ]; then
			ip netns exec "$SHUNT_CLUSTER_PREFIX-n2" ip rule | grep -q "fwmark 0x5348 lookup 5348" ||
				t_fail "no routing rule for the answers"
			# Before Linux 6.6 (tcx off) the marker is a tc filter.
			if [ "$(t_feature n2 tcx)" != on ]; then
				ip netns exec "$SHUNT_CLUSTER_PREFIX-n2" tc filter show dev br0 ingress |
					grep -q shunt_tproxy || t_fail "tcx off, and no tc filter for the marker"
			fi
			# Only the proxy's own sockets' answers are taken: plaintext
			# from outside the mesh, even from ports the proxy also uses,
			# is forwarded as before.
			ip netns exec "$(t_pod_field n1-p1 netns)" sysctl -qw net.ipv4.ip_local_port_range="61000 65000"
			t_eq "$(t_probe_outcome --outside n1-p1 10.100.2.12:8080 --count 20)" ok \
				"plaintext from outside the mesh, source ports 61000-65000"
		fi
		t_reset
	done
}

# kill -9 of a proxy: its proxied connections end, same-node traffic and
# the bypass do not notice, and once it is back cross-node connections work
# again (the other node's proxy replaces its dead tunnel), still with the
# client's own address.
test_proxy_restart_after_kill() {
	proxy_setup
	t_exec n2-p2 -- "$PROBE" serve --name echo --tcp 0.0.0.0:8080 --peers "$T_TMP/peers" >/dev/null 2>&1 &
	T_PIDS+=($!)
	sleep 0.3
	t_eq "$(t_probe_outcome n1-p1 10.100.2.12:8080 --count 5)" ok "through the proxies before"
	kill -KILL "$PROXY_PID_n2"
	wait "$PROXY_PID_n2" 2>/dev/null || true
	t_snap n2
	t_tt_server n2-p2 "$(t_pod_ip n2-p2):7000" --count 1 --send 32M --expect 32M --handshake
	t_tt_client n2-p1 "$(t_pod_ip n2-p2):7000" --send 32M --expect 32M --handshake
	t_tt_server_wait
	! t_bypass_on n2 || t_ge "$(t_delta n2 bytes_redirected)" $((32 * MiB)) "same-node bytes through the bypass, proxy down"
	[ "$(t_probe_outcome n1-p1 10.100.2.12:8080 --timeout-ms 2000)" != ok ] ||
		t_fail "a cross-node connection got through with the destination's proxy down"
	proxy_start n2
	t_eq "$(t_probe_outcome n1-p1 10.100.2.12:8080 --count 5)" ok "through the proxies after the restart"
	t_eq "$(tail -5 "$T_TMP/peers" | grep -c "^$(t_pod_ip n1-p1) ")" 5 "connections from the client's address after the restart"
}

# Same-node connections never go to the proxy: they keep the bypass.
test_proxy_same_node_keeps_the_bypass() {
	proxy_setup
	t_need_bypass
	local before
	before=$(t_mesh_counter n1 proxied)
	t_snap n1
	t_tt_server n1-p2 "$(t_pod_ip n1-p2):7000" --count 1 --send 16M --expect 16M --handshake
	t_tt_client n1-p1 "$(t_pod_ip n1-p2):7000" --send 16M --expect 16M --handshake
	t_tt_server_wait
	t_eq "$(t_mesh_counter n1 proxied)" "$before" "same-node connections sent to the proxy"
	t_ge "$(t_delta n1 bytes_redirected)" $((24 * MiB)) "bytes through the bypass"
}

# The legs between a pod and its node's proxy are same-node TCP: with the
# proxy in its cgroup under the node's, they take the bypass on both nodes
# (after one connection has shown how the proxy reads, as for any server).
test_proxy_pod_legs_take_the_bypass() {
	proxy_setup
	t_need_bypass
	t_tt_server n2-p2 "$(t_pod_ip n2-p2):7000" --count 1 --send 1M --expect 1M --handshake
	t_tt_client n1-p1 "$(t_pod_ip n2-p2):7000" --send 1M --expect 1M --handshake
	t_tt_server_wait
	t_snap n1
	t_snap n2
	t_tt_server n2-p2 "$(t_pod_ip n2-p2):7000" --count 1 --send 64M --expect 64M --handshake
	t_tt_client n1-p1 "$(t_pod_ip n2-p2):7000" --send 64M --expect 64M --handshake
	t_tt_server_wait
	# Each node's leg carries 64 MiB each way. At least the direction towards
	# the pod stays on the bypass throughout; the one into the proxy goes back
	# to TCP if the proxy falls 8 MiB behind (max_backlog, docs/datapath.md).
	t_ge "$(t_delta n1 bytes_redirected)" $((64 * MiB * 9 / 10)) "n1: bytes between the client and the proxy through the bypass"
	t_ge "$(t_delta n2 bytes_redirected)" $((64 * MiB * 9 / 10)) "n2: bytes between the proxy and the server through the bypass"
	# The TLS leg between the nodes is no bypass candidate.
	t_le "$(t_delta n1 bytes_redirected)" $((2 * 64 * MiB + MiB)) "n1: bytes through the bypass"
}

# Strict mode: a workload takes connections from other nodes only through
# the proxies; the same plaintext connection permissive mode lets through is
# dropped in the kernel. Same-node plaintext is unaffected.
test_proxy_strict_mode_drops_plaintext_from_other_nodes() {
	local mode expect
	for mode in PERMISSIVE STRICT; do
		PROXY_MTLS=$mode proxy_setup
		t_exec n2-p2 -- "$PROBE" serve --name echo --tcp 0.0.0.0:8080 >/dev/null 2>&1 &
		sleep 0.3
		t_exec n2-p2 -- "$PROBE" serve --name echo6 --tcp '[::]:8080' >/dev/null 2>&1 &
		sleep 0.3
		t_eq "$(t_probe_outcome n1-p1 10.100.2.12:8080 --timeout-ms 2000)" ok "$mode: through the proxies"
		t_eq "$(t_probe_outcome n1-p1 '[fd00:100:2::12]:8080' --timeout-ms 2000)" ok "$mode: IPv6 through the proxies"
		expect=ok
		[ $mode = STRICT ] && expect=timeout
		# A process beside pod n1-p1, outside the mesh: plain TCP from node 1.
		t_eq "$(t_probe_outcome --outside n1-p1 10.100.2.12:8080 --timeout-ms 500)" $expect \
			"$mode: plaintext from the other node"
		t_eq "$(t_probe_outcome n2-p1 10.100.2.12:8080)" ok "$mode: plaintext on the same node"
		if [ $mode = STRICT ]; then
			t_ge "$(t_mesh_counter n2 strict_dropped)" 1 "strict drops counted"
		fi
		t_reset
	done
}

# nginx on node 2 serving a large file with sendfile, curl on node 1: the
# same file arrives through the proxies.
test_proxy_nginx_large_file_across_nodes() {
	t_need nginx curl sha256sum
	proxy_setup
	local dir=$T_TMP/nginx ip want got
	ip=$(t_pod_ip n2-p1)
	mkdir -p "$dir/www"
	head -c $((64 * MiB)) /dev/urandom >"$dir/www/big.bin"
	want=$(sha256sum <"$dir/www/big.bin" | cut -d' ' -f1)
	t_nginx_config "$dir" "$ip"
	t_exec n2-p1 -- nginx -c "$dir/nginx.conf" -p "$dir" >"$dir/out.log" 2>&1 &
	t_wait_for 5 t_exec n1-p1 -- curl -sf -o /dev/null -r 0-0 "http://$ip:8080/big.bin" ||
		t_fail "nginx did not start: $(tail -2 "$dir/error.log" 2>/dev/null)"
	t_exec n1-p1 -- curl -sf --max-time 30 -o "$dir/got.bin" "http://$ip:8080/big.bin" ||
		t_fail "curl failed"
	got=$(sha256sum <"$dir/got.bin" | cut -d' ' -f1)
	t_eq "$got" "$want" "sha256 of the file fetched across nodes"
	proxy_stream_closed n2 default/n1-p1 "$ip:8080" ||
		t_fail "the download did not go through n2's proxy"
}

# redis on node 2 and its benchmark on node 1: the same results through the
# proxies as between the same pods outside the mesh.
test_proxy_redis_across_nodes_same_results() {
	t_need redis-server redis-cli redis-benchmark
	proxy_setup
	local ip mesh plain
	ip=$(t_pod_ip n2-p1)
	t_redis_start n2-p1 "$ip" 6379
	mesh=$(t_redis_workload n1-p1 "$ip" 6379)
	t_redis_start "--outside n2-p1" "$ip" 6380
	plain=$(t_redis_workload "--outside n1-p1" "$ip" 6380)
	t_eq "$mesh" "$plain" "redis results through the proxies and without the mesh"
	grep -q '^incr=20000$' <<<"$mesh" || t_fail "INCR counter: $mesh"
	proxy_stream_closed n2 default/n1-p1 "$ip:6379" ||
		t_fail "redis traffic did not go through n2's proxy"
}

# The CA rotates while a long transfer runs: the transfer finishes with every
# byte, both proxies pick up the new bundle and certificates, and new
# connections work with them.
test_proxy_ca_rotation_during_a_long_transfer_loses_nothing() {
	proxy_setup
	local dst client
	dst="$(t_pod_ip n2-p2):7000"
	t_tt_server n2-p2 "$dst" --count 1 --send 2G --expect 2G
	t_exec n1-p1 -- "$TT" client --connect "$dst" --warmup --send 2G --expect 2G >"$T_TMP/long.out" 2>&1 &
	client=$!
	sleep 0.5
	"$SHUNT" ca rotate --dir "$T_TMP/ca" >/dev/null || t_fail "ca rotate"
	proxy_log_wait n1 '.event == "ca_reloaded"' 10
	proxy_log_wait n2 '.event == "ca_reloaded"' 10
	t_eq "$(proxy_metric n2 shunt_proxy_ca_reloads_total)" 1 "CA reloads counted on n2"
	kill -0 "$client" 2>/dev/null || t_log "note: the long transfer ended before the reload"
	wait "$client" || t_fail "the long transfer failed: $(tail -1 "$T_TMP/long.out")"
	t_tt_server_wait
	t_tt_server n2-p2 "$(t_pod_ip n2-p2):7001" --count 1 --send 64M --expect 64M
	t_tt_client n1-p1 "$(t_pod_ip n2-p2):7001" --send 64M --expect 64M
	t_tt_server_wait
	t_ge "$(proxy_log_count n1 '.event == "certificate_issued" and .identity == "spiffe://cluster.local/ns/default/sa/client"')" 2 \
		"client certificates issued (before and after the rotation)"
}

# Workload certificates are renewed before they expire (a third of their
# lifetime left), without touching open connections: these stay on their
# tunnel past its certificate's end, while new ones get a new tunnel with a
# new certificate.
test_proxy_renews_certificates_without_dropping_connections() {
	PROXY_ARGS="--cert-lifetime 12" proxy_setup
	local out=$T_TMP/hold.out
	t_exec n2-p2 -- "$HOLD" server --listen "$(t_pod_ip n2-p2):7001" >"$T_TMP/hold-server.out" 2>&1 &
	T_PIDS+=($!)
	t_wait_for 5 grep -q listening "$T_TMP/hold-server.out" || t_fail "hold server did not start"
	# Five connections held 15 s: longer than their certificate lives.
	t_exec n1-p1 -- "$HOLD" client --connect "$(t_pod_ip n2-p2):7001" --conns 5 --hold 15 \
		--timeout 30 >"$out" 2>&1 &
	local client=$!
	T_PIDS+=($client)
	t_wait_for 5 grep -q 'holding 5' "$out" || t_fail "the connections did not come up: $(cat "$out")"
	sleep 9
	t_exec n2-p2 -- "$PROBE" serve --name echo --tcp 0.0.0.0:8080 >/dev/null 2>&1 &
	T_PIDS+=($!)
	sleep 0.3
	t_eq "$(t_probe_outcome n1-p1 10.100.2.12:8080 --count 3)" ok "new connections after the renewal"
	wait $client || t_fail "held connections did not survive the renewal: $(tail -1 "$out")"
	t_eq "$(tail -1 "$out" | jq .second_ok)" 5 "held connections that echoed after 15 s"
	t_ge "$(proxy_log_count n1 '.event == "certificate_issued" and .identity == "spiffe://cluster.local/ns/default/sa/client"')" 2 \
		"client certificates issued (the first and a renewal)"
	t_ge "$(proxy_metric n1 'shunt_proxy_tunnels_total{side="outbound"}')" 2 "tunnels (one per certificate)"
}

# IPv6 cross-node connections go through the proxies too.
test_proxy_carries_ipv6() {
	proxy_setup
	proxy_transfer "[$(t_pod_ip n2-p2 ipv6)]:7000" 64M
	proxy_stream_closed n2 default/n1-p1 "[fd00:100:2::12]:7000" 67108865 ||
		t_fail "no IPv6 stream through n2's proxy: $(tail -2 "$T_TMP/proxy.n2.log")"
}

proxy_idle_timed_out() {
	proxy_log_more n1 '.outcome == "idle_timeout"' 0 || proxy_log_more n2 '.outcome == "idle_timeout"' 0
}

# A proxied connection that moves no byte for the idle timeout is closed at
# both ends; the client sees the end of the stream.
test_proxy_closes_idle_connections() {
	PROXY_ARGS="--idle-timeout 2" proxy_setup
	t_exec n2-p1 -- "$TT" server --listen "$(t_pod_ip n2-p1):7002" --count 1 --expect 1 --timeout 20 \
		>"$T_TMP/idle-server.out" 2>&1 &
	sleep 0.3
	local start=$SECONDS
	# The client sends nothing and waits: the proxies end it after ~2 s.
	t_exec n1-p1 -- "$PROBE" connect "$(t_pod_ip n2-p1):7002" --timeout-ms 8000 >"$T_TMP/idle.json"
	t_le $((SECONDS - start)) 6 "seconds until the idle connection was closed"
	# Either proxy may time it out first; the other sees it close.
	t_wait_for 5 proxy_idle_timed_out ||
		t_fail "no idle timeout in the proxies' logs: $(tail -1 "$T_TMP/proxy.n1.log")"
}

# A workload the agent learns of while the proxies run is admitted across
# nodes from then on, and refused before: the proxy follows the model the
# agent publishes after each apply, not a config it read at start.
test_proxy_admits_a_workload_added_while_it_runs() {
	PROXY_N2_WITHOUT=n1-p1 proxy_setup
	local version refused
	t_exec n2-p2 -- "$PROBE" serve --name echo --tcp 0.0.0.0:8080 >/dev/null 2>&1 &
	T_PIDS+=($!)
	sleep 0.3
	# n2 does not know n1-p1 yet: its proxy refuses it as an unknown source.
	[ "$(t_probe_outcome n1-p1 10.100.2.12:8080 --timeout-ms 2000)" != ok ] ||
		t_fail "a workload unknown to n2 got through"
	refused=$(proxy_metric n2 'shunt_proxy_outcomes_total{outcome="unknown_source"}')
	t_ge "$refused" 1 "n2's refusals of an unknown source"
	t_ge "$(proxy_metric n1 'shunt_proxy_refused_total{reason="unknown_workload"}')" 1 \
		"the refusal as n1's proxy heard it"
	version=$(proxy_metric n2 shunt_proxy_model_version)
	# n2's agent follows its file: n1-p1 is added.
	cp "$T_TMP/mesh.yaml" "$T_TMP/mesh.n2.yaml.new"
	mv "$T_TMP/mesh.n2.yaml.new" "$T_TMP/mesh.n2.yaml"
	t_wait_for 10 proxy_model_newer n2 "$version" ||
		t_fail "n2's proxy did not take the new model (version $version)"
	t_eq "$(t_probe_outcome n1-p1 10.100.2.12:8080 --count 3)" ok "n1-p1 to n2-p2 once n2 knows n1-p1"
	t_eq "$(proxy_metric n2 'shunt_proxy_outcomes_total{outcome="unknown_source"}')" "$refused" \
		"unknown-source refusals on n2 (none after the update)"
	t_ge "$(t_shunt n2 --json flows | jq -s '[.[] | select(.event == "proxy-in" and .verdict == "allow"
		and .source == "default/n1-p1" and .destination_port == 8080)] | length')" 3 \
		"allowed proxy-in flows from n1-p1 on n2"
}

proxy_model_newer() { [ "$(proxy_metric "$1" shunt_proxy_model_version)" -gt "$2" ]; }
