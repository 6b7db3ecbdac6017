# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
# Policy cases on the netpol cluster (test_netpol.sh: namespaces x, y, z,
# pods a, b, c on two nodes, the agents and the mTLS proxies):
#   - an ipBlock naming a pod's address never takes the pod's identity, in
#     any order of configs, without a restart (the reproduction of the
#     identity bug: same node and across nodes);
#   - an isolated pod refuses every protocol no rule allows (SCTP, a raw IP
#     protocol, ICMP requests), as docs/policy.md says.

pc_source_netpol() {
	# shellcheck source=tests/integration/test_netpol.sh
	source "$REPO/tests/integration/test_netpol.sh"
	netpol_setup
}

# A policy as JSON: NAME NS SELECTED_POD TYPE RULES_JSON.
pc_policy() {
	jq -nc --arg n "$1" --arg ns "$2" --arg pod "$3" --arg t "$4" --argjson rules "$5" '
		{name: $n, namespace: $ns, podSelector: {matchLabels: {pod: $pod}}, policyTypes: [$t]}
		+ (if $t == "Ingress" then {ingress: $rules} else {egress: $rules} end)'
}

# Applies the policies given as JSON objects (none: no policy).
pc_apply() { netpol_apply "$(jq -sc '{policies: .}' <<<"${*:-}")"; }

# y/a -> x/a on TCP 80 (same node): the packets' outcome, and the kernel's
# own answer to `shunt policy check`, which must agree; also which identity
# x/a's ingress gave y/a's address.
pc_ya_to_xa() { # EXPECTED(ok|denied) LABEL
	local got check peer xa
	xa=$(t_pod_ip n1-p1)
	got=$(t_probe_outcome n1-p3 "$xa:80" --timeout-ms 500)
	[ "$got" = ok ] || got=denied
	t_shunt n1 policy check --json --from y/a --to x/a --to-address "$xa" --port 80 >"$T_TMP/check.json"
	check=$(jq -r .verdict "$T_TMP/check.json")
	peer=$(jq -r '.checks[] | select(.check | startswith("ingress")) | .peer_identity' "$T_TMP/check.json")
	t_log "$2: y/a -> x/a:80 $got; policy check: $check; x/a's ingress sees y/a's address as $peer"
	t_eq "$got" "$1" "$2: y/a -> x/a:80"
	t_eq "$check" "$([ "$1" = ok ] && echo allow || echo deny)" "$2: shunt policy check"
	t_eq "$peer" "y/a" "$2: the identity of y/a's address"
}

test_policy_ipblock_on_a_pod_address_keeps_the_pods_identity() {
	pc_source_netpol
	local P Q R Qx before
	# P: x/a admits namespace y. Q: x/b may egress to y/a's address as a
	# /32 (Q says nothing about x/a). R: x/a admits only 192.0.2.0/24.
	P=$(pc_policy p x a Ingress '[{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "y"}}}]}]')
	Q=$(pc_policy q x b Egress "[{\"to\": [{\"ipBlock\": {\"cidr\": \"$(t_pod_ip n1-p3)/32\"}}]}]")
	R=$(pc_policy r x a Ingress '[{"from": [{"ipBlock": {"cidr": "192.0.2.0/24"}}]}]')
	pc_apply "$P"
	pc_ya_to_xa ok "P"
	pc_apply "$P" "$Q"
	pc_ya_to_xa ok "P + Q"
	pc_apply "$P"
	pc_ya_to_xa ok "Q deleted"
	pc_apply "$P"
	pc_ya_to_xa ok "the same file again"
	pc_apply "$R"
	pc_ya_to_xa denied "R instead of P"
	pc_apply "$R" "$Q"
	pc_ya_to_xa denied "R + Q"
	pc_apply "$R"
	pc_ya_to_xa denied "R again"
	pc_apply "$P"
	pc_ya_to_xa ok "P again"
	pc_apply "$P"
	pc_ya_to_xa ok "P written again"
	# Across nodes: a /32 ipBlock on y/b's address (node 2) must not turn
	# x/a's connections to y/b into plaintext: they still go to the proxy.
	Qx=$(pc_policy qx x b Egress "[{\"to\": [{\"ipBlock\": {\"cidr\": \"$(t_pod_ip n2-p2)/32\"}}]}]")
	pc_apply "$Qx"
	before=$(t_shunt n1 status --json | jq .mesh.proxied)
	t_eq "$(t_probe_outcome n1-p1 "$(t_pod_ip n2-p2):80" --count 3)" ok "x/a -> y/b across nodes, Qx present"
	t_ge "$(($(t_shunt n1 status --json | jq .mesh.proxied) - before))" 3 \
		"connections to y/b sent to the mTLS proxy with Qx present"
	pc_apply
	before=$(t_shunt n1 status --json | jq .mesh.proxied)
	t_eq "$(t_probe_outcome n1-p1 "$(t_pod_ip n2-p2):80" --count 3)" ok "x/a -> y/b, Qx deleted"
	t_ge "$(($(t_shunt n1 status --json | jq .mesh.proxied) - before))" 3 \
		"connections to y/b sent to the mTLS proxy after Qx was deleted"
}

# Raw IP protocol 253 (experimental, RFC 3692) from y/a to x/a: how many of
# COUNT packets x/a's raw socket got.
pc_raw_received() { # COUNT
	local xa out=$T_TMP/raw.out
	xa=$(t_pod_ip n1-p1)
	t_exec n1-p1 -- python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 253)
s.settimeout(1.5)
n = 0
try:
    while True:
        s.recv(2048); n += 1
except socket.timeout:
    pass
print(n)' >"$out" &
	local rcv=$!
	sleep 0.3
	t_exec n1-p3 -- python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 253)
for _ in range($1):
    s.sendto(b'shunt', ('$xa', 0))"
	wait "$rcv"
	cat "$out"
}

test_policy_isolated_pod_refuses_protocols_no_rule_allows() {
	pc_source_netpol
	local xa ya ports any
	xa=$(t_pod_ip n1-p1) ya=$(t_pod_ip n1-p3)
	ports=$(pc_policy p x a Ingress '[{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "y"}}}], "ports": [{"port": 80}]}]')
	any=$(pc_policy p x a Ingress '[{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "y"}}}]}]')
	# A rule with ports: TCP 80 only. ICMP requests and other protocols
	# have no port: refused. Replies to x/a's own pings pass.
	pc_apply "$ports"
	t_eq "$(t_probe_outcome n1-p3 "$xa:80")" ok "y/a -> x/a TCP 80"
	t_exec n1-p3 -- ping -c 2 -W 1 -q "$xa" >/dev/null 2>&1 && t_fail "x/a answered a ping no rule allows"
	t_exec n1-p1 -- ping -c 2 -W 1 -q "$ya" >/dev/null 2>&1 || t_fail "x/a got no answer to its own ping"
	t_eq "$(pc_raw_received 5)" 0 "raw protocol 253 packets x/a got, no rule allowing it"
	if [ "$NETPOL_SCTP" = 1 ]; then
		[ "$(t_exec n1-p3 -- "$PROBE" reach --sctp --timeout-ms 800 "x=$xa:80")" != "x ok" ] ||
			t_fail "y/a reached x/a over SCTP 80 with a TCP-only rule"
	fi
	# A rule without ports: every protocol from namespace y.
	pc_apply "$any"
	t_exec n1-p3 -- ping -c 2 -W 1 -q "$xa" >/dev/null 2>&1 || t_fail "a rule without ports did not admit ping"
	t_ge "$(pc_raw_received 5)" 5 "raw protocol 253 packets with a rule without ports"
	if [ "$NETPOL_SCTP" = 1 ]; then
		t_eq "$(t_exec n1-p3 -- "$PROBE" reach --sctp --timeout-ms 800 "x=$xa:80")" "x ok" \
			"y/a -> x/a SCTP 80 with a rule without ports"
	else
		t_log "no SCTP in this kernel: the SCTP part of this test is skipped (the BPF test covers the program)"
	fi
}
