# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
# The L7 tests' cluster (test_l7*.sh): 2 nodes x 2 pods, a proxy per node,
# tests/apps/l7_backend.py as "v1" in n1-p2 and "v2" in n2-p2 on :8080.
# Services: web (10.96.0.80:80, appProtocol http, both backends; L7_WEB_EXTRA
# adds lines to it, e.g. a trafficPolicy), web-v1 (n1-p2), web-v2 (n2-p2),
# plain (10.96.0.83, n1-p2, no L7), and L7_SERVICES_EXTRA's services. The client is n1-p1: v1 is on its node,
# v2 across the mTLS tunnel.

# shellcheck source=tests/lib/proxylib.sh
source "$(dirname "${BASH_SOURCE[0]}")/proxylib.sh"

L7_BACKEND=$REPO/tests/apps/l7_backend.py
L7_VIP=10.96.0.80

# The mesh config with the L7 services, the routes on stdin, and POLICY
# (policies: section lines) if given.
l7_config() {
	sed -e '/^services:/,$d' "$MESH_CONFIG"
	cat <<-EOF
		services:
		  - name: web
		    virtualIPs: [$L7_VIP]
		    ports: [{name: http, port: 80, targetPort: 8080, appProtocol: http}]
		    selector: {app: echo}
		${L7_WEB_EXTRA:-}
		  - name: web-v1
		    virtualIPs: [10.96.0.81]
		    ports: [{port: 80, targetPort: 8080}]
		    backends: [{workload: n1-p2}]
		  - name: web-v2
		    virtualIPs: [10.96.0.82]
		    ports: [{port: 80, targetPort: 8080}]
		    backends: [{workload: n2-p2}]
		  - name: plain
		    virtualIPs: [10.96.0.83]
		    ports: [{port: 80, targetPort: 8080}]
		    backends: [{workload: n1-p2}]
	EOF
	[ -z "${L7_SERVICES_EXTRA:-}" ] || echo "$L7_SERVICES_EXTRA"
	echo "httpRoutes:"
	cat
	[ -z "${L7_AUTHZ:-}" ] || printf 'authorizationPolicies:\n%s\n' "$L7_AUTHZ"
	echo "policies:"
	[ -z "${L7_POLICY:-}" ] || echo "$L7_POLICY"
}

# Starts the cluster, agents and proxies with the routes on stdin, and the
# backends (L7_V1_ARGS, L7_V2_ARGS: more backend flags). L7_N1_AUTHZ, when
# set, is n1's own authorizationPolicies (L7_AUTHZ is n2's and the default).
l7_setup() {
	local routes n1_mesh
	t_cluster_up 2 2
	trap proxy_logs_on_failure EXIT
	routes=$(cat)
	l7_config <<<"$routes" >"$T_TMP/mesh.yaml"
	n1_mesh=$T_TMP/mesh.yaml
	if [ -n "${L7_N1_AUTHZ+set}" ]; then
		n1_mesh=$T_TMP/mesh.n1.yaml
		L7_AUTHZ=$L7_N1_AUTHZ l7_config <<<"$routes" >"$n1_mesh"
	fi
	proxy_mesh_up "$n1_mesh" "$T_TMP/mesh.yaml"
	l7_backend n1-p2 v1 ${L7_V1_ARGS:-}
	l7_backend n2-p2 v2 ${L7_V2_ARGS:-}
}

l7_backend() { # POD NAME [ARGS...]
	local pod=$1 name=$2
	shift 2
	t_exec "$pod" -- python3 "$L7_BACKEND" --listen "$(t_pod_ip "$pod"):8080" --name "$name" "$@" \
		>"$T_TMP/backend.$name.log" 2>&1 &
	T_PIDS+=($!)
	t_wait_for 10 t_cov_port_open "$pod" 8080 || t_fail "backend $name did not start"
}

t_cov_port_open() { ip netns exec "$(t_pod_field "$1" netns)" ss -ltnH "sport = :$2" | grep -q .; }

# curl from the client pod; prints what FORMAT (-w) says, body to $T_TMP/body.
l7_curl() { # FORMAT URL-PATH [CURL ARGS...]
	local fmt=$1 path=$2
	shift 2
	t_exec n1-p1 -- curl -sS -m 10 -o "$T_TMP/body" -w "$fmt" "$@" "http://$L7_VIP$path"
}

# Which backend answered PATH (the x-backend header), or the status.
l7_who() { l7_curl '%{http_code} %header{x-backend}\n' "$@"; }

l7_metric() { proxy_metric n1 "$1"; }

# gRPC (test_l7_grpc.sh, test_upgrade.sh): tests/apps/grpc_app.py serving
# shunt.Echo as "v1" in n1-p2 and "v2" in n2-p2 on :50051. Service rpc
# (10.96.0.90:50051, appProtocol grpc) has both; rpc-v1 and rpc-v2 one each.
GRPC_APP=$REPO/tests/apps/grpc_app.py
GRPC_VIP=10.96.0.90
# Debian's python3-grpcio is for Debian's interpreter, not one on PATH.
GRPC_PYTHON=/usr/bin/python3

grpc_setup() { # (L7_SERVICES_EXTRA: more services, after these)
	L7_SERVICES_EXTRA=$(
		cat <<-EOF
			  - name: rpc
			    virtualIPs: [$GRPC_VIP]
			    ports: [{name: grpc, port: 50051, appProtocol: grpc}]
			    backends: [{workload: n1-p2}, {workload: n2-p2}]
			  - name: rpc-v1
			    virtualIPs: [10.96.0.91]
			    ports: [{port: 50051, appProtocol: grpc}]
			    backends: [{workload: n1-p2}]
			  - name: rpc-v2
			    virtualIPs: [10.96.0.92]
			    ports: [{port: 50051, appProtocol: grpc}]
			    backends: [{workload: n2-p2}]
		EOF
	)${L7_SERVICES_EXTRA:+$'\n'$L7_SERVICES_EXTRA} l7_setup
	grpc_server n1-p2 v1
	grpc_server n2-p2 v2
}

grpc_server() { # POD NAME
	t_exec "$1" -- "$GRPC_PYTHON" "$GRPC_APP" serve --listen "$(t_pod_ip "$1"):50051" --name "$2" \
		>"$T_TMP/grpc.$2.log" 2>&1 &
	T_PIDS+=($!)
	t_wait_for 10 t_cov_port_open "$1" 50051 || t_fail "gRPC server $2 did not start"
}

# One JSON line: the calls' status codes, who served, trailing metadata.
grpc_call() { # ARGS (grpc_app.py call's)
	t_exec n1-p1 -- "$GRPC_PYTHON" "$GRPC_APP" call --target "$GRPC_VIP:50051" "$@"
}
