# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
# Names at Kubernetes' limits, end to end (issue 11): a pod named with 253
# characters in a namespace of 63, running as a service account of 253, on
# a node named like a cloud host (ip-10-0-1-23.ec2.internal, a DNS
# subdomain). The agents apply it, the CLI shows the names whole, policies
# naming them decide, and connections across nodes go through the proxies,
# whose mTLS checks the dotted node's identity (spiffe://TD/node/NAME).
#
# Cluster: 2 nodes x 2 pods. In the config, cluster node n1 is
# ip-10-0-1-23.ec2.internal and its pod n1-p1 (a client) is NS/POD.

NAMES_NODE="ip-10-0-1-23.ec2.internal"

# LEN characters of CHAR, a dot every DOT characters (0: none).
names_long() { # CHAR LEN DOT
	awk -v c="$1" -v n="$2" -v d="$3" 'BEGIN {
		for (i = 1; i <= n; i++) printf "%s", (d && i % d == 0 && i < n) ? "." : c
		print "" }'
}

NAMES_NS=$(names_long n 63 0)
NAMES_POD=$(names_long p 253 50)
NAMES_SA=$(names_long s 253 50)
NAMES_POLICY=$(names_long q 253 50)

# The cluster's config with n1 renamed and n1-p1 made NS/POD, and two
# policies: default's echo pods admit only the long service account on
# 7000; every pod of the long namespace admits default's clients on 7000.
names_config() {
	awk -v node="$NAMES_NODE" -v ns="$NAMES_NS" -v pod="$NAMES_POD" -v sa="$NAMES_SA" '
		/^policies:/ { exit }
		$0 == "  - name: n1" { print "  - name: " node; next }
		$0 == "    node: n1" { print "    node: " node; next }
		$0 == "  - name: n1-p1" { print "  - name: " pod; print "    namespace: " ns; long = 1; next }
		long && /^    serviceAccount:/ { print "    serviceAccount: " sa; long = 0; next }
		{ print }' "$MESH_CONFIG"
	cat <<EOF
policies:
  - name: echo-in
    podSelector: {matchLabels: {app: echo}}
    ingress:
      - from: [{serviceAccount: {namespace: $NAMES_NS, name: $NAMES_SA}}]
        ports: [{port: 7000}]
  - name: $NAMES_POLICY
    namespace: $NAMES_NS
    podSelector: {}
    ingress:
      - from:
          - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: default}}
            podSelector: {matchLabels: {app: client}}
        ports: [{port: 7000}]
EOF
}

# Cluster, CA, the config, and both agents (n1's as the dotted node).
names_setup() {
	# shellcheck source=tests/integration/test_proxy.sh
	source "$REPO/tests/integration/test_proxy.sh"
	t_cluster_up 2 2
	trap proxy_logs_on_failure EXIT
	names_config >"$T_TMP/mesh.yaml"
	"$SHUNT" ca init --dir "$T_TMP/ca" --trust-domain cluster.local >/dev/null || t_fail "ca init"
	t_agent_start n1 "$T_TMP/mesh.yaml" "$NAMES_NODE"
	t_agent_start n2 "$T_TMP/mesh.yaml"
}

# `shunt policy check` on NODE: FROM to TO on PORT, allow or deny.
names_check() { # NODE FROM TO PORT
	t_shunt "$1" policy check --json --from "$2" --to "$3" --port "$4" | jq -r .verdict
}

# One CONNECT stream from n1's underlay to n2's proxy, as the long pod with
# its certificate, to n2-p2:PORT; prints what the server said.
names_h2_connect() {
	timeout 10 ip netns exec "$SHUNT_CLUSTER_PREFIX-n1" "$H2CONNECT" --connect 10.99.0.2:15008 \
		--ca "$T_TMP/ca/bundle.pem" --cert "$T_TMP/long.crt" --key "$T_TMP/long.key" \
		--authority "$(t_pod_ip n2-p2):$1" --source "$NAMES_NS/$NAMES_POD" </dev/null 2>"$T_TMP/h2connect.err"
}

# True once NODE's proxy counted a refusal by policy.
names_refused_by_policy() { [ "$(proxy_metric "$1" 'shunt_proxy_refused_total{reason="policy"}')" -ge 1 ] 2>/dev/null; }

# A probe server on POD's address, ports 7000 and 7001.
names_serve() { t_probe_server "$1" "$1" --tcp "$(t_pod_ip "$1"):7000" --tcp "$(t_pod_ip "$1"):7001"; }

test_names_253_character_pod_is_applied_shown_and_policed_whole() {
	names_setup
	local n full=$NAMES_NS/$NAMES_POD
	t_eq "${#full}" 317 "length of namespace/name"
	for n in n1 n2; do
		t_eq "$(t_shunt $n workloads --json | jq --arg w "$full" '[.identities[] | select(.name == $w)] | length')" \
			2 "$n: identities (IPv4, IPv6) named with the whole $full"
	done
	# The kernel decides by the policies that name the long service account.
	t_eq "$(names_check n1 "$full" default/n1-p2 7000)" allow "policy check, long pod -> n1-p2:7000"
	t_eq "$(names_check n1 "$full" default/n1-p2 7001)" deny "policy check, long pod -> n1-p2:7001"
	t_eq "$(names_check n2 default/n2-p1 "$full" 7000)" allow "policy check, n2-p1 -> long pod:7000"
	t_eq "$(names_check n2 default/n2-p1 "$full" 7001)" deny "policy check, n2-p1 -> long pod:7001"
	# And so do the packets, on the dotted node.
	names_serve n1-p2
	t_eq "$(t_probe_outcome n1-p1 "$(t_pod_ip n1-p2):7000")" ok "long pod -> n1-p2:7000 (same node)"
	[ "$(t_probe_outcome n1-p1 "$(t_pod_ip n1-p2):7001" --timeout-ms 1000)" != ok ] ||
		t_fail "long pod -> n1-p2:7001 (same node) got through"
	# The denial's flow event names the long pod whole.
	t_shunt n1 flows --json --denied >"$T_TMP/flows"
	t_ge "$(jq -c --arg w "$full" 'select(.source == $w)' "$T_TMP/flows" | wc -l)" 1 \
		"denied flow events naming $full"
}

test_names_dotted_node_proxies_carry_long_names_across_nodes() {
	names_setup
	: >"$T_TMP/proxy.n1.log"
	: >"$T_TMP/proxy.n2.log"
	proxy_start n1 "$NAMES_NODE"
	proxy_start n2
	# The dotted node's proxy proves a node identity a DNS label could not hold.
	timeout 5 ip netns exec "$SHUNT_CLUSTER_PREFIX-n2" openssl s_client -connect 10.99.0.1:15008 \
		-CAfile "$T_TMP/ca/bundle.pem" </dev/null 2>/dev/null |
		openssl x509 -noout -ext subjectAltName >"$T_TMP/san" 2>&1
	grep -q "URI:spiffe://cluster.local/node/$NAMES_NODE\$" "$T_TMP/san" ||
		t_fail "the dotted node's certificate: $(cat "$T_TMP/san")"
	# Long pod (dotted node) -> n2-p2: n2's proxy checks the long identity
	# and the 317-byte source name against the policy naming it.
	names_serve n2-p2
	t_eq "$(t_probe_outcome n1-p1 "$(t_pod_ip n2-p2):7000" --count 3)" ok "long pod -> n2-p2:7000 through the proxies"
	t_wait_for 5 proxy_stream_closed n2 "$NAMES_NS/$NAMES_POD" "$(t_pod_ip n2-p2):7000" ||
		t_fail "n2's proxy logged no stream from the whole $NAMES_NS/$NAMES_POD"
	# The kernel of the dotted node already refuses 7001 at connect().
	t_eq "$(t_probe_outcome n1-p1 "$(t_pod_ip n2-p2):7001" --timeout-ms 2000)" eperm \
		"long pod -> n2-p2:7001"
	# What n2's proxy itself decides for a stream naming the long pod, sent
	# with the long identity's certificate: 7000 passes, 7001 is refused.
	"$SHUNT" ca issue --dir "$T_TMP/ca" --namespace "$NAMES_NS" --service-account "$NAMES_SA" \
		--out "$T_TMP/long" >/dev/null || t_fail "cannot issue the long identity's certificate"
	names_h2_connect 7000 | grep -q '^n2-p2$' ||
		t_fail "a stream as the long pod to 7000 did not get through: $(cat "$T_TMP/h2connect.err")"
	names_h2_connect 7001 >/dev/null && t_fail "a stream as the long pod to 7001 got through"
	t_wait_for 5 names_refused_by_policy n2 || t_fail "n2's proxy did not refuse 7001 by policy"
	# n2-p1 -> long pod: n2's proxy verifies the dotted node's certificate.
	names_serve n1-p1
	t_eq "$(t_probe_outcome n2-p1 "$(t_pod_ip n1-p1):7000" --count 3)" ok "n2-p1 -> long pod:7000 through the proxies"
	[ "$(t_probe_outcome n2-p1 "$(t_pod_ip n1-p1):7001" --timeout-ms 2000)" != ok ] ||
		t_fail "n2-p1 -> long pod:7001 got through"
}
