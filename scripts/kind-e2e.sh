#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# End to end on a 2-node kind cluster with shunt installed by
# `kubectl apply -f deploy/` (CI only: .github/workflows/kind.yml, which
# builds the image, makes the cluster and runs these steps in order).
#
#   scripts/kind-e2e.sh enable-mtls|workloads|bypass|mtls|netpol|service|canary|rollout|diagnose
#
# Nodes: N1 = <cluster>-control-plane, N2 = <cluster>-worker. Pods in
# namespace shunt-e2e: client and bulk on N2 (same node), far on N1.
set -euo pipefail
CLUSTER=${KIND_CLUSTER:-shunt}
N1=$CLUSTER-control-plane
N2=$CLUSTER-worker
NS=shunt-e2e
TMP=${RUNNER_TEMP:-/tmp}/shunt-e2e
mkdir -p "$TMP"

agent_pod() { kubectl -n shunt-system get pod -l app.kubernetes.io/name=shunt-agent \
	--field-selector "spec.nodeName=$1" -o name; }
proxy_pod() { kubectl -n shunt-system get pod -l app.kubernetes.io/name=shunt-proxy \
	--field-selector "spec.nodeName=$1,status.phase=Running" -o name | head -1; }
shunt_on() { # NODE ARGS...: shunt in that node's agent container
	local node=$1
	shift
	kubectl -n shunt-system exec "$(agent_pod "$node")" -c agent -- shunt "$@"
}
node_ip() { kubectl get node "$1" -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}'; }
in_client() { kubectl -n "$NS" exec client -- "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

# nodeProxy in the mesh settings (docs/kubernetes.md "Cross-node mTLS");
# then the agents restart with them. The proxies made the mesh CA's Secret
# when the DaemonSet first started.
enable_mtls() {
	kubectl -n shunt-system get secret shunt-ca >/dev/null || fail "no shunt-ca Secret: the proxies made no CA"
	local n
	# each Node's InternalIP is its proxy's address (the settings' nodeProxy)
	printf 'apiVersion: shunt.dev/v1\ntrustDomain: cluster.local\nmtls: {mode: PERMISSIVE}\nnodeProxy: {}\n' \
		>"$TMP/mesh.yaml"
	kubectl -n shunt-system create configmap shunt-mesh --from-file=mesh.yaml="$TMP/mesh.yaml" \
		--dry-run=client -o yaml | kubectl apply -f -
	kubectl -n shunt-system rollout restart daemonset/shunt-agent
	kubectl -n shunt-system rollout status daemonset/shunt-agent --timeout=180s
	kubectl -n shunt-system rollout status daemonset/shunt-proxy --timeout=180s
	for n in "$N1" "$N2"; do
		kubectl -n shunt-system logs "$(proxy_pod "$n")" | grep -q "CA in /run/shunt-ca" ||
			fail "the proxy on $n has no CA"
	done
}

pod() { # NAME NODE IMAGE LABELS [ARGS...]
	local name=$1 node=$2 image=$3 labels=$4
	shift 4
	kubectl -n "$NS" run "$name" --image="$image" --labels="$labels" \
		--overrides="{\"spec\": {\"nodeName\": \"$node\"}}" -- "$@"
}

workloads() {
	kubectl create namespace "$NS"
	# web-1 (N2) and web-2 (N1): HTTP servers that answer their name.
	pod web-1 "$N2" registry.k8s.io/e2e-test-images/agnhost:2.52 app=web,track=stable netexec --http-port=8080
	pod web-2 "$N1" registry.k8s.io/e2e-test-images/agnhost:2.52 app=web,track=canary netexec --http-port=8080
	pod bulk "$N2" nginx:1.27 app=bulk
	pod far "$N1" nginx:1.27 app=far
	kubectl -n "$NS" run client --image=curlimages/curl:8.10.1 --labels=app=client \
		--overrides="{\"spec\": {\"nodeName\": \"$N2\"}}" --command -- sleep 36000
	kubectl -n "$NS" wait --for=condition=Ready pod --all --timeout=180s
	kubectl -n "$NS" exec bulk -- sh -c 'head -c 67108864 /dev/urandom > /usr/share/nginx/html/big.bin'
	# A body whose text must never cross the node link in the clear.
	kubectl -n "$NS" exec far -- sh -c \
		'yes shunt-e2e-plaintext-marker | head -c 1048576 > /usr/share/nginx/html/marker.txt'
	kubectl -n "$NS" expose pod bulk --name=bulk --port=80
	kubectl -n "$NS" create service clusterip web-l4 --tcp=80:8080 --dry-run=client -o json |
		jq '.spec.selector = {app: "web"}' | kubectl apply -f -
	sleep 5 # the agents' watches: pods Ready -> in the mesh within 1 s
}

bypass() {
	local ip want got before after i
	ip=$(kubectl -n "$NS" get pod bulk -o jsonpath='{.status.podIP}')
	want=$(kubectl -n "$NS" exec bulk -- sha256sum /usr/share/nginx/html/big.bin | cut -d' ' -f1)
	before=$(shunt_on "$N2" status --json | jq '.counters.bytes_redirected')
	for i in 1 2 3; do
		got=$(in_client sh -c "curl -sf http://$ip/big.bin | sha256sum" | cut -d' ' -f1)
		[ "$got" = "$want" ] || fail "download $i corrupt: $got != $want"
	done
	after=$(shunt_on "$N2" status --json | jq '.counters.bytes_redirected')
	echo "same-node bytes through the bypass: $((after - before))"
	[ $((after - before)) -ge $((3 * 64 * 1048576)) ] || fail "the bypass carried too little"
}

# Client (N2) -> far (N1), captured on the kind network's bridge (the link
# between the node containers): the tunnel port carries it, the marker
# text never appears.
mtls() {
	local ip bridge n
	ip=$(kubectl -n "$NS" get pod far -o jsonpath='{.status.podIP}')
	bridge=br-$(docker network inspect kind -f '{{.Id}}' | cut -c1-12)
	sudo tcpdump -i "$bridge" -U -s 0 -w "$TMP/link.pcap" "host $(node_ip "$N1") and host $(node_ip "$N2")" &
	local dump=$!
	sleep 2
	for n in 1 2 3; do
		in_client curl -sf "http://$ip/marker.txt" | grep -q shunt-e2e-plaintext-marker ||
			fail "request $n: no marker in the answer"
	done
	sleep 1
	sudo kill "$dump"
	wait "$dump" || true
	[ "$(tcpdump -r "$TMP/link.pcap" -nn 'tcp port 15008' 2>/dev/null | wc -l)" -gt 0 ] ||
		fail "nothing went through the proxies' tunnel port"
	if tcpdump -r "$TMP/link.pcap" -A -nn 2>/dev/null | grep -q shunt-e2e-plaintext-marker; then
		fail "plaintext on the node link"
	fi
	echo "cross-node: tunnel traffic on :15008, no plaintext on the link"
}

netpol() {
	local ip
	ip=$(kubectl -n "$NS" get pod web-1 -o jsonpath='{.status.podIP}')
	in_client curl -sf --max-time 5 "http://$ip:8080/hostname" >/dev/null || fail "web-1 not reachable before the policy"
	kubectl apply -f - <<YAML
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-1-only-trusted, namespace: $NS}
spec:
  podSelector: {matchLabels: {app: web, track: stable}}
  ingress: [{from: [{podSelector: {matchLabels: {trusted: "yes"}}}], ports: [{port: 8080}]}]
YAML
	sleep 3
	[ "$(shunt_on "$N2" policy check --json --from "$NS/client" --to "$NS/web-1" --port 8080 | jq -r .verdict)" = deny ] ||
		fail "shunt policy check: client -> web-1 not denied"
	in_client curl -sf --max-time 5 "http://$ip:8080/hostname" >/dev/null && fail "client -> web-1 allowed under the policy"
	kubectl -n "$NS" label pod client trusted=yes
	sleep 3
	[ "$(shunt_on "$N2" policy check --json --from "$NS/client" --to "$NS/web-1" --port 8080 | jq -r .verdict)" = allow ] ||
		fail "shunt policy check: trusted client -> web-1 not allowed"
	in_client curl -sf --max-time 5 "http://$ip:8080/hostname" >/dev/null || fail "trusted client -> web-1 denied"
	kubectl -n "$NS" delete networkpolicy web-1-only-trusted
	kubectl -n "$NS" label pod client trusted-
	echo "NetworkPolicy: denied, then allowed by label"
}

service() {
	local eps p ip names
	eps=$(shunt_on "$N2" services --json | jq -r '.services[] | "\(.endpoint) \(.path)"')
	for p in web-1 web-2; do
		ip=$(kubectl -n "$NS" get pod "$p" -o jsonpath='{.status.podIP}')
		grep -q "^$ip kernel" <<<"$eps" || fail "$p is not a kernel-path endpoint on $N2: $eps"
	done
	names=$(for _ in $(seq 40); do in_client curl -sf --max-time 5 http://web-l4/hostname; echo; done | sort | uniq -c)
	echo "$names"
	if ! grep -q web-1 <<<"$names" || ! grep -q web-2 <<<"$names"; then
		fail "web-l4 did not balance over both pods"
	fi
}

# The Gateway API's HTTPRoute (GAMMA: parentRefs to a Service) splits
# web 90/10 between web-stable and web-canary in the node proxy (docs/l7.md).
canary() {
	kubectl apply -f https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.2.1/standard-install.yaml
	local s
	for s in stable canary; do
		kubectl -n "$NS" create service clusterip "web-$s" --tcp=80:8080 --dry-run=client -o json |
			jq --arg t "$s" '.spec.selector = {app: "web", track: $t} | .spec.ports[0].appProtocol = "http"' |
			kubectl apply -f -
	done
	kubectl -n "$NS" create service clusterip web --tcp=80:8080 --dry-run=client -o json |
		jq '.spec.selector = {app: "web"} | .spec.ports[0].appProtocol = "http"' | kubectl apply -f -
	kubectl apply -f - <<YAML
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web-canary, namespace: $NS}
spec:
  parentRefs: [{group: "", kind: Service, name: web, port: 80}]
  rules:
  - backendRefs:
    - {name: web-stable, port: 80, weight: 90}
    - {name: web-canary, port: 80, weight: 10}
YAML
	sleep 65 # the agents ask again for httproutes every 60 s after a 404
	local out canary
	# shellcheck disable=SC2016 # expanded in the pod
	out=$(in_client sh -c 'for i in $(seq 300); do curl -sf --max-time 5 http://web/hostname; echo; done' | sort | uniq -c)
	echo "$out"
	canary=$(awk '$2 == "web-2" {print $1}' <<<"$out")
	if [ "${canary:-0}" -lt 10 ] || [ "${canary:-0}" -gt 60 ]; then
		fail "canary share ${canary:-0}/300, want about 30"
	fi
	[ "$(awk '{s += $1} END {print s}' <<<"$out")" = 300 ] || fail "failed requests in the split"
}

# Same-node traffic through the kernel-balanced Service bulk while every
# agent restarts: not one request fails (the datapath stays pinned). Then
# cross-node requests (client on N2, far on N1, through both proxies)
# while every proxy is replaced: not one fails either (the new proxy
# listens beside the old one, which drains).
rollout() {
	rollout_agents
	rollout_proxies
}

rollout_proxies() {
	local ip ok bad
	ip=$(kubectl -n "$NS" get pod far -o jsonpath='{.status.podIP}')
	# shellcheck disable=SC2016 # expanded in the pod
	in_client sh -c 'ok=0; bad=0; end=$(($(date +%s) + 180)); while [ $(date +%s) -lt $end ]; do
		if curl -sf --max-time 5 -o /dev/null "http://$1/marker.txt"; then ok=$((ok + 1)); else bad=$((bad + 1)); fi
		[ -e /tmp/stop-proxies ] && break; done; echo "$ok $bad" > /tmp/result-proxies' _ "$ip" &
	local loop=$!
	sleep 5
	kubectl -n shunt-system rollout restart daemonset/shunt-proxy
	kubectl -n shunt-system rollout status daemonset/shunt-proxy --timeout=240s
	sleep 5
	in_client touch /tmp/stop-proxies
	wait "$loop"
	read -r ok bad < <(in_client cat /tmp/result-proxies)
	echo "during the proxies' rollout: $ok cross-node requests ok, $bad failed"
	[ "$ok" -gt 100 ] || fail "too few requests during the proxies' rollout"
	[ "$bad" = 0 ] || fail "$bad cross-node requests failed during the proxies' rollout"
}

rollout_agents() {
	# shellcheck disable=SC2016 # expanded in the pod
	in_client sh -c 'ok=0; bad=0; end=$(($(date +%s) + 120)); while [ $(date +%s) -lt $end ]; do
		if curl -sf --max-time 5 -o /dev/null http://bulk/index.html; then ok=$((ok + 1)); else bad=$((bad + 1)); fi
		[ -e /tmp/stop ] && break; done; echo "$ok $bad" > /tmp/result' &
	local loop=$!
	sleep 5
	kubectl -n shunt-system rollout restart daemonset/shunt-agent
	kubectl -n shunt-system rollout status daemonset/shunt-agent --timeout=180s
	sleep 5
	in_client touch /tmp/stop
	wait "$loop"
	local ok bad
	read -r ok bad < <(in_client cat /tmp/result)
	echo "during the rollout: $ok requests ok, $bad failed"
	[ "$ok" -gt 100 ] || fail "too few requests during the rollout"
	[ "$bad" = 0 ] || fail "$bad requests failed during the rollout"
}

diagnose() {
	kubectl get pods -A -o wide || true
	kubectl -n shunt-system describe daemonset shunt-agent shunt-proxy || true
	local n
	for n in "$N1" "$N2"; do
		kubectl -n shunt-system logs "$(agent_pod "$n")" -c agent --tail=50 || true
		kubectl -n shunt-system logs "$(proxy_pod "$n")" --tail=50 || true
		shunt_on "$n" status || true
		shunt_on "$n" workloads || true
	done
}

case "${1:-}" in
enable-mtls) enable_mtls ;;
workloads | bypass | mtls | netpol | service | canary | rollout | diagnose) "$1" ;;
*) echo "usage: $0 enable-mtls|workloads|bypass|mtls|netpol|service|canary|rollout|diagnose" >&2; exit 2 ;;
esac
