# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
# Services: the connect/sendmsg hooks pick a backend by weight, a removed
# backend gets no new connection, a service without backends refuses at
# once, and the application sees the service address, never the backend's.

# A config with service "lb" (10.96.0.30, fd00:96::30) over the given
# "POD:WEIGHT ..." backends; every pod of the 1x4 cluster is a workload.
services_config() {
	local backends=$1 cg j b
	cg=$(jq -r .cgroup_root "$STATE")/$SHUNT_CLUSTER_PREFIX
	echo "apiVersion: shunt.dev/v1"
	echo "workloads:"
	for j in 1 2 3 4; do
		echo "  - name: n1-p$j"
		echo "    labels: {app: p$j}"
		echo "    node: n1"
		echo "    addresses: [10.100.1.$((10 + j)), \"fd00:100:1::$((10 + j))\"]"
		echo "    netns: /run/netns/$SHUNT_CLUSTER_PREFIX-n1-p$j"
		echo "    cgroup: $cg/n1/p$j"
	done
	echo "services:"
	echo "  - name: lb"
	echo "    virtualIPs: [10.96.0.30, \"fd00:96::30\"]"
	echo "    ports: [${SERVICES_EXTRA_PORT:-}{port: 80, targetPort: 8080}, {port: 53, targetPort: 5353, protocol: UDP}]"
	if [ -n "$backends" ]; then
		echo "    backends:"
		for b in $backends; do
			echo "      - {workload: ${b%%:*}, weight: ${b#*:}}"
		done
	fi
}

services_setup() {
	t_cluster_up 1 4
	services_config "$1" >"$T_TMP/mesh.yaml"
	t_agent_start n1 "$T_TMP/mesh.yaml"
	local j
	for j in 2 3 4; do
		t_probe_server n1-p$j "p$j" --tcp 0.0.0.0:8080 --tcp '[::]:8080' --udp 0.0.0.0:5353 \
			--udp '[::]:5353'
	done
}

# Weights 1:2:5 over 1600 connections: each share within 0.06 of 1/8, 2/8,
# 5/8 (more than 5 standard deviations; a uniform or first-backend pick
# fails by far).
test_services_spread_connections_by_weight() {
	services_setup "n1-p2:1 n1-p3:2 n1-p4:5"
	local out n p
	out=$(t_probe n1-p1 10.96.0.30:80 --count 1600)
	t_log "$out"
	t_eq "$(jq .ok <<<"$out")" 1600 "connections that reached a backend"
	for p in p2:1 p3:2 p4:5; do
		n=$(jq ".servers.${p%%:*} // 0" <<<"$out")
		awk -v n="$n" -v w="${p#*:}" 'BEGIN { d = n / 1600 - w / 8; exit !(d < 0.06 && d > -0.06) }' ||
			t_fail "backend ${p%%:*} got $n of 1600, expected about $((1600 * ${p#*:} / 8))"
	done
}

# After a backend leaves the config, no new connection reaches it, over TCP
# and UDP, IPv4 and IPv6.
test_services_removed_backend_gets_no_new_connections() {
	services_setup "n1-p2:1 n1-p3:1 n1-p4:1"
	local out target
	out=$(t_probe n1-p1 10.96.0.30:80 --count 200)
	t_ge "$(jq '.servers.p4 // 0' <<<"$out")" 20 "connections to p4 before its removal"
	services_config "n1-p2:1 n1-p3:1" | t_write_config "$T_TMP/mesh.yaml"
	t_wait_version n1 2
	for target in 10.96.0.30:80 '[fd00:96::30]:80'; do
		out=$(t_probe n1-p1 "$target" --count 300)
		t_eq "$(jq .ok <<<"$out")" 300 "connections to $target after the removal"
		t_eq "$(jq '.servers.p4 // 0' <<<"$out")" 0 "connections to the removed backend via $target"
	done
	out=$(t_probe n1-p1 10.96.0.30:53 --udp --count 100)
	t_eq "$(jq .ok <<<"$out")" 100 "UDP answers after the removal"
	t_eq "$(jq '.servers.p4 // 0' <<<"$out")" 0 "UDP datagrams to the removed backend"
}

# No backends: connect() fails at once with ECONNREFUSED, UDP with it too;
# with EPERM where the kernel has no bpf_set_retval (helper_set_retval off).
test_services_without_backends_refuse_at_once() {
	services_setup ""
	local out start ms how=refused
	[ "$(t_feature n1 helper_set_retval)" = on ] || how=eperm
	start=$(date +%s%N)
	out=$(t_probe n1-p1 10.96.0.30:80 --count 20 --timeout-ms 2000)
	ms=$((($(date +%s%N) - start) / 1000000))
	t_log "$out in $ms ms"
	t_eq "$(jq ".$how" <<<"$out")" 20 "connects refused ($how)"
	t_le "$ms" 1500 "milliseconds for 20 refused connects (a hang would take 40 s)"
	t_eq "$(jq ".$how" <<<"$(t_probe n1-p1 '[fd00:96::30]:80')")" 1 "IPv6 connect refused ($how)"
	t_eq "$(jq ".$how" <<<"$(t_probe n1-p1 10.96.0.30:53 --udp)")" 1 "UDP send refused ($how)"
}

# getpeername() on a TCP socket and the source of a UDP answer show the
# service address and port, not the backend's.
test_services_application_sees_the_service_address() {
	services_setup "n1-p2:1"
	t_eq "$(t_probe n1-p1 10.96.0.30:80 | jq -r .peer)" "10.96.0.30:80" "getpeername, IPv4"
	t_eq "$(t_probe n1-p1 '[fd00:96::30]:80' | jq -r .peer)" "[fd00:96::30]:80" "getpeername, IPv6"
	t_eq "$(t_probe n1-p1 10.96.0.30:53 --udp | jq -r .peer)" "10.96.0.30:53" "UDP answer source, IPv4"
	t_eq "$(t_probe n1-p1 '[fd00:96::30]:53' --udp | jq -r .peer)" "[fd00:96::30]:53" \
		"UDP answer source, IPv6"
}

# Same-node backends of a service take the bypass like direct connections.
test_services_same_node_backend_takes_the_bypass() {
	SERVICES_EXTRA_PORT="{port: 81, targetPort: 8090}, " services_setup "n1-p2:1"
	t_need_bypass
	t_tt_server n1-p2 "0.0.0.0:8090" --count 1 --expect 8M
	t_snap n1
	t_tt_client n1-p1 10.96.0.30:81 --send 8M
	t_tt_server_wait
	t_ge "$(t_delta n1 bytes_redirected)" $((8 * MiB)) "bytes through the bypass"
}
