# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
# The service graph (`shunt graph`, docs/telemetry.md): traffic of a known
# shape, then the graph of both nodes must show exactly those edges, each
# with its path (kernel bypass, mTLS tunnel, L7 proxy) and its counts.
#
# Cluster: test_l7.sh's (2 nodes x 2 pods, a proxy per node; "v1" in n1-p2,
# "v2" in n2-p2 on :8080). Routes: /v1 -> web-v1 (n1-p2, the client's node),
# /v2 -> web-v2 (n2-p2, across the tunnel). The client is n1-p1.

# shellcheck source=tests/lib/l7lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/l7lib.sh"

GRAPH_ROUTES='  - name: web
    parentRefs: [{name: web, port: 80}]
    rules:
      - matches: [{path: {type: PathPrefix, value: /v1}}]
        backendRefs: [{name: web-v1, port: 80}]
      - matches: [{path: {type: PathPrefix, value: /v2}}]
        backendRefs: [{name: web-v2, port: 80}]'

# `shunt graph` over both nodes, ARGS added.
graph() {
	local n args=()
	for n in n1 n2; do
		args+=(--node "$n,pin-dir=$(t_node_field "$n" pin_dir),proxy=127.0.0.1:9465,netns=$SHUNT_CLUSTER_PREFIX-$n")
	done
	"$SHUNT" graph "${args[@]}" "$@"
}

# The edge SOURCE -> DEST of PATH in $T_TMP/graph.json, or "null".
edge() { jq -c --arg s "default/$1" --arg d "default/$2" --arg p "$3" \
	'[.edges[] | select(.source == $s and .destination == $d and .path == $p)] | .[0]' \
	"$T_TMP/graph.json"; }
field() { jq -r ".$2" <<<"$1"; }

# N requests from the client to PATH; every K-th one asks its backend for a 503.
requests() { # PATH N K
	t_exec n1-p1 -- bash -c "for i in \$(seq $2); do
		q=; [ $3 -gt 0 ] && [ \$((i % $3)) = 0 ] && q='?status=503'
		curl -s -m 5 -o /dev/null -w '%{http_code}\n' http://$L7_VIP$1/x\$q; done" >"$T_TMP/codes"
}

test_graph_shows_each_edge_with_its_path_and_counts() {
	l7_setup <<<"$GRAPH_ROUTES"
	t_need_bypass n1
	t_need dot xmllint
	# L7 on the client's node: 30 requests, all answered 200.
	requests /v1 30 0
	t_eq "$(sort "$T_TMP/codes" | uniq -c | awk '{print $2 ":" $1}' | paste -sd' ')" "200:30" "answers of v1"
	# L7 across nodes: 40 requests, every 4th answered 503 by the backend.
	requests /v2 40 4
	t_eq "$(sort "$T_TMP/codes" | uniq -c | awk '{print $2 ":" $1}' | paste -sd' ')" "200:30 503:10" \
		"answers of v2"
	# Plain TCP on the same node (the bypass): a warmup connection, then 3.
	local dst1 dst2
	dst1="$(t_pod_ip n1-p2):9000" dst2="$(t_pod_ip n2-p2):9000"
	t_tt_server n1-p2 "$dst1" --count 3 --send 1M --expect 1M
	t_tt_client n1-p1 "$dst1" --send 1M --expect 1M --repeat 3
	t_tt_server_wait
	# Plain TCP across nodes (the mTLS tunnel): a warmup connection, then 2.
	t_tt_server n2-p2 "$dst2" --count 2 --send 256K --expect 256K
	t_tt_client n1-p1 "$dst2" --send 256K --expect 256K --repeat 2
	t_tt_server_wait
	# Streams count when they end: wait for the proxy to log all three.
	t_wait_for 10 proxy_log_more n1 ".event == \"stream\" and .side == \"outbound\" and .destination == \"$dst2\"" 2 ||
		t_fail "n1's proxy did not log the 3 tunnel streams to $dst2"

	graph --format json >"$T_TMP/graph.json" || t_fail "shunt graph --format json failed"
	jq -e . "$T_TMP/graph.json" >/dev/null || t_fail "not JSON: $(head -c 300 "$T_TMP/graph.json")"
	# Exactly these four edges, each with its path.
	t_eq "$(jq -r '[.edges[] | "\(.source)>\(.destination):\(.path):\(.remote)"] | sort | join(" ")' "$T_TMP/graph.json")" \
		"default/n1-p1>default/n1-p2:bypass:false default/n1-p1>default/n1-p2:l7:false default/n1-p1>default/n2-p2:l7:true default/n1-p1>default/n2-p2:tunnel:true" \
		"edges (source>destination:path:remote)"
	t_eq "$(jq -r '[.nodes[].id] | join(" ")' "$T_TMP/graph.json")" "default/n1-p1 default/n1-p2 default/n2-p2" "nodes"
	t_eq "$(jq -r '[.sources[] | "\(.node):\(.datapath):\(.proxy)"] | join(" ")' "$T_TMP/graph.json")" \
		"n1:true:true n2:true:true" "what was read of each node"

	local e
	e=$(edge n1-p1 n1-p2 l7)
	t_eq "$(field "$e" requests)" 30 "requests to v1"
	t_eq "$(field "$e" errors)" 0 "errors of v1"
	t_eq "$(field "$e" responses.\"2xx\")" 30 "2xx of v1"
	jq -e '.p99_ms > 0 and .p99_ms < 1000 and .request_rate > 0' <<<"$e" >/dev/null ||
		t_fail "v1's p99 and rate: $e"
	e=$(edge n1-p1 n2-p2 l7)
	t_eq "$(field "$e" requests)" 40 "requests to v2"
	t_eq "$(field "$e" errors)" 10 "errors of v2"
	jq -e '.error_rate > 0.249 and .error_rate < 0.251' <<<"$e" >/dev/null || t_fail "v2's error rate: $e"
	e=$(edge n1-p1 n1-p2 bypass)
	t_ge "$(field "$e" connections)" 3 "same-node connections"
	t_le "$(field "$e" connections)" 4 "same-node connections"
	t_ge "$(field "$e" connections_bypassed)" 3 "same-node connections through the bypass"
	# Every byte, on one path or the other (the first sends of a connection
	# may take TCP until the receiver has shown how it reads).
	t_ge "$(field "$e" bytes)" $((3 * 2 * 1048576)) "same-node bytes (3 x 1 MiB each way)"
	t_eq "$(field "$e" bytes)" "$(($(field "$e" bytes_bypass) + $(field "$e" bytes_tcp)))" "bypass + TCP bytes"
	t_ge "$(field "$e" bytes_bypass)" 1048576 "bytes through the bypass"
	e=$(edge n1-p1 n2-p2 tunnel)
	t_ge "$(field "$e" connections)" 2 "tunnel streams"
	t_le "$(field "$e" connections)" 3 "tunnel streams"
	t_eq "$(field "$e" failed)" 0 "failed tunnel streams"
	t_ge "$(field "$e" bytes_to_server)" $((2 * 262144)) "bytes to the server through the tunnel"

	# The recent window: the L7 edges again (all of it happened just now).
	graph --format json --since 2m >"$T_TMP/since.json" || t_fail "shunt graph --since 2m failed"
	t_eq "$(jq -r '[.edges[] | select(.path == "l7") | "\(.destination):\(.requests):\(.counts)"] | sort | join(" ")' "$T_TMP/since.json")" \
		"default/n1-p2:30:window default/n2-p2:40:window" "L7 edges of the last 2 minutes"

	# By service: n1-p2 and n2-p2 are web's endpoints (its selector app=echo).
	graph --format json --group service >"$T_TMP/services.json" 2>"$T_TMP/err" ||
		t_fail "shunt graph --group service failed: $(cat "$T_TMP/err")"
	t_eq "$(jq -r '[.nodes[] | "\(.id):\(.kind)"] | join(" ")' "$T_TMP/services.json")" \
		"default/n1-p1:workload default/web:service" "nodes by service"
	t_eq "$(jq -r '[.edges[] | "\(.destination):\(.path):\(.remote):\(.requests // .connections)"] | sort | join(" ")' "$T_TMP/services.json")" \
		"default/web:bypass:false:$(field "$(edge n1-p1 n1-p2 bypass)" connections) default/web:l7:false:30 default/web:l7:true:40 default/web:tunnel:true:$(field "$(edge n1-p1 n2-p2 tunnel)" connections)" \
		"edges by service"

	# SVG through Graphviz: well-formed XML that names every workload.
	graph --format svg --output "$T_TMP/graph.svg" || t_fail "shunt graph --format svg failed"
	xmllint --noout "$T_TMP/graph.svg" || t_fail "the SVG is not well-formed XML"
	# (Graphviz writes "-" as "&#45;": read the text back through an XML parser.)
	python3 -c 'import sys, xml.etree.ElementTree as E
for t in E.parse(sys.argv[1]).iter("{http://www.w3.org/2000/svg}text"): print(t.text)' \
		"$T_TMP/graph.svg" >"$T_TMP/svg.txt" || t_fail "python cannot read the SVG"
	local w
	for w in n1-p1 n1-p2 n2-p2; do
		grep -qx "$w" "$T_TMP/svg.txt" || t_fail "the SVG does not name $w: $(paste -sd'|' "$T_TMP/svg.txt")"
	done
	graph --format dot | dot -Tsvg >/dev/null || t_fail "dot does not take the DOT output"
	graph --format text >"$T_TMP/graph.txt" || t_fail "shunt graph --format text failed"
	grep -q "default/n1-p1 -> default/n2-p2  L7 proxy (HTTP) + mTLS: 40 req" "$T_TMP/graph.txt" ||
		t_fail "text summary: $(cat "$T_TMP/graph.txt")"
}

test_graph_refuses_bad_input_with_a_clear_error() {
	l7_setup <<<"$GRAPH_ROUTES"
	local rc=0 out
	out=$("$SHUNT" graph --format png 2>&1) || rc=$?
	t_eq "$rc" 2 "exit status of an unknown format"
	grep -q -- "--format png: unknown" <<<"$out" || t_fail "unknown format: $out"
	rc=0
	out=$("$SHUNT" graph --since 2h 2>&1) || rc=$?
	t_eq "$rc" 2 "exit status of a window longer than the proxies keep"
	rc=0
	out=$(graph --node "n3,proxy=127.0.0.1:9465,netns=$SHUNT_CLUSTER_PREFIX-net" --format json 2>&1) || rc=$?
	t_eq "$rc" 1 "exit status when a node's proxy cannot be reached"
	grep -q "node n3: cannot read the proxy's edges at http://127.0.0.1:9465/graph/edges" <<<"$out" ||
		t_fail "unreachable proxy: $out"
	rc=0
	out=$("$SHUNT" graph --node "n9,pin-dir=/sys/fs/bpf/nothing-here" 2>&1) || rc=$?
	t_eq "$rc" 1 "exit status when a node's datapath is not there"
	grep -q "node n9: cannot read /sys/fs/bpf/nothing-here/maps/shunt_pairs" <<<"$out" ||
		t_fail "missing datapath: $out"
	rc=0
	PATH=/nonexistent "$SHUNT" graph --node "n1,pin-dir=$(t_node_field n1 pin_dir)" --format svg \
		--output "$T_TMP/none.svg" 2>"$T_TMP/err" || rc=$?
	t_eq "$rc" 1 "exit status without Graphviz"
	grep -q "needs Graphviz's dot" "$T_TMP/err" || t_fail "without Graphviz: $(cat "$T_TMP/err")"
	[ ! -e "$T_TMP/none.svg" ] || t_fail "a failed graph left its --output behind"
}
