#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Smoke test in a kind cluster (CI only: needs Docker, kind and kubectl).
# Loads shunt inside the kind node, registers an nginx pod and a curl pod,
# downloads a file several times and checks it is intact and that the bytes
# went through the bypass.
#
#   scripts/kind-smoke.sh NODE_CONTAINER
set -euo pipefail
NODE=${1:?usage: kind-smoke.sh NODE_CONTAINER}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
in_node() { docker exec "$NODE" "$@"; }

docker cp "$REPO/.output/bin/shunt" "$NODE:/usr/local/bin/shunt"
in_node sh -c 'mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf'

kubectl run server --image=nginx:1.27 --port=80
kubectl run client --image=curlimages/curl:8.10.1 --command -- sleep 3600
kubectl wait --for=condition=Ready pod/server pod/client --timeout=180s
kubectl exec server -- sh -c 'head -c 67108864 /dev/urandom > /usr/share/nginx/html/big.bin'
want=$(kubectl exec server -- sha256sum /usr/share/nginx/html/big.bin | cut -d' ' -f1)

# The pods' cgroups share an ancestor: attach there.
cg=$(in_node sh -c 'd=$(dirname $(find /sys/fs/cgroup -type d -name "kubepods*" | head -1)); echo $d/$(basename $(find /sys/fs/cgroup -type d -name "kubepods*" | head -1))')
in_node shunt load --cgroup "$cg"
for pod in server client; do
	ip=$(kubectl get pod "$pod" -o jsonpath='{.status.podIP}')
	sandbox=$(in_node crictl pods --name "$pod" -q | head -1)
	pid=$(in_node crictl inspectp "$sandbox" | jq -r '.info.pid')
	in_node shunt workload add "default/$pod" --ip "$ip" --netns "/proc/$pid/ns/net"
done

ip=$(kubectl get pod server -o jsonpath='{.status.podIP}')
for i in 1 2 3 4; do
	got=$(kubectl exec client -- sh -c "curl -sf http://$ip/big.bin | sha256sum" | cut -d' ' -f1)
	[ "$got" = "$want" ] || { echo "download $i corrupt: $got != $want"; exit 1; }
done
in_node shunt status
redirected=$(in_node shunt status --json | jq '.counters.bytes_redirected')
echo "bytes through the bypass: $redirected"
[ "$redirected" -gt $((16 * 1024 * 1024)) ] || { echo "the bypass carried too little"; exit 1; }
in_node shunt unload
