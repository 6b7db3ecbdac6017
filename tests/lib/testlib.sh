# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
#
# Helpers for integration tests. Each test function runs in its own shell
# with a fresh local cluster (prefix shunt-test) and the mesh loaded on every
# node; the EXIT trap tears everything down, whether the test passed or not.
#
# A test fails with t_fail MSG, skips with t_skip REASON (exit 77), passes by
# returning.

REPO=${REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# SHUNT_OUTPUT: another build directory (make OUTPUT=...); SHUNT_BIN: another
# build of shunt alone (e.g. under ASan).
SHUNT_OUTPUT=${SHUNT_OUTPUT:-$REPO/.output}
SHUNT=${SHUNT_BIN:-$SHUNT_OUTPUT/bin/shunt}
TT=$SHUNT_OUTPUT/bin/shunt-tt
export SHUNT_CLUSTER_PREFIX=${SHUNT_CLUSTER_PREFIX:-shunt-test}
export SHUNT_CLUSTER_DIR=${SHUNT_CLUSTER_DIR:-$SHUNT_OUTPUT/test-cluster}
CLUSTER="$REPO/scripts/cluster.sh"
STATE=$SHUNT_CLUSTER_DIR/cluster.json
T_TMP=$(mktemp -d /tmp/shunt-test.XXXXXX)
T_PIDS=()
# A test without a cluster (the fuzz runs) leaves nothing either; a cluster's
# trap (t_cluster_up) takes over, and removes T_TMP with the rest.
trap 'rm -rf "$T_TMP"' EXIT

t_log() { echo "    $*" >&2; }
t_fail() {
	echo "FAIL: $*" >&2
	exit 1
}
t_skip() {
	echo "SKIP: $*" >&2
	exit 77
}

t_cleanup() {
	local pid
	for pid in "${T_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${T_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	QUIET=1 "$CLUSTER" down >/dev/null 2>&1 || true
	rm -rf "$T_TMP"
}

# Everything of the test so far gone, for another round in the same test.
t_reset() {
	t_cleanup
	T_PIDS=()
	T_TMP=$(mktemp -d /tmp/shunt-test.XXXXXX)
}

# Brings up a cluster of NODES x PODS, nothing loaded; more options go to
# `cluster.sh up` (--kubernetes ...).
t_cluster_up() {
	local nodes=${1:-2} pods=${2:-3}
	trap t_cleanup EXIT
	trap 'exit 143' TERM INT
	QUIET=1 "$CLUSTER" down >/dev/null 2>&1 || true
	QUIET=1 "$CLUSTER" up --nodes "$nodes" --pods "$pods" "${@:3}" || t_fail "cluster up failed"
	t_fields_load
}

# Brings up a cluster of NODES x PODS and loads the mesh on every node, with
# the workloads registered by hand (no agent).
t_setup() {
	local nodes=${1:-2} k
	t_cluster_up "$@"
	for ((k = 1; k <= nodes; k++)); do t_mesh_load "n$k"; done
}

# The cluster's scalar fields by node and pod, read from $STATE in one jq
# run per version of it: a jq per lookup took ~30 ms, seconds per test.
# Loaded in the test's own shell (t_cluster_up), so that the subshells of
# $(t_pod_ip ...) find it; a subshell that finds it stale reads $STATE anew.
declare -A T_FIELDS=()
T_FIELDS_STAMP=
t_fields_load() {
	local stamp key value
	stamp=$(stat -c '%i %.9Y %s' "$STATE" 2>/dev/null) || stamp=none
	[ "$stamp" = "$T_FIELDS_STAMP" ] && return 0
	T_FIELDS=()
	T_FIELDS_STAMP=$stamp
	[ "$stamp" = none ] && return 0
	while IFS=$'\t' read -r key value; do T_FIELDS[$key]=$value; done < <(jq -r '
		def fields($kind): .name as $n | to_entries[]
			| select(.value != null and (.value | scalars) and (.value | tostring | test("[\t\n\\\\]") | not))
			| ["\($kind)/\($n)/\(.key)", .value] | @tsv;
		(.nodes[] | fields("n")), (.nodes[].pods[] | fields("p"))' "$STATE")
}
# FIELD of node/pod NAME: from the cache, else (a path, an object) from jq.
t_state_field() { # n|p NAME FIELD
	t_fields_load
	if [ -n "${T_FIELDS[$1/$2/$3]+set}" ]; then
		echo "${T_FIELDS[$1/$2/$3]}"
	elif [ "$1" = n ]; then
		jq -r --arg n "$2" ".nodes[] | select(.name == \$n) | .$3" "$STATE"
	else
		jq -r --arg n "$2" ".nodes[].pods[] | select(.name == \$n) | .$3" "$STATE"
	fi
}
t_node_field() { t_state_field n "$1" "$2"; }
t_pod_field() { t_state_field p "$1" "$2"; }
t_pod_ip() { t_pod_field "$1" "${2:-ipv4}"; }

# shunt against NODE's instance.
t_shunt() {
	local node=$1
	shift
	"$SHUNT" --pin-dir "$(t_node_field "$node" pin_dir)" "$@"
}

# Loads NODE's datapath and registers every pod: its own as local, the
# other nodes' as remote (what the agent will do from the config).
t_mesh_load() {
	local node=$1 pod
	t_shunt "$node" load --cgroup "$(t_node_field "$node" cgroup)" 2>"$T_TMP/load.err" ||
		t_fail "shunt load on $node: $(cat "$T_TMP/load.err")"
	while read -r pod; do
		local pnode
		pnode=$(t_pod_field "$pod" node)
		if [ "$pnode" = "$node" ]; then
			t_shunt "$node" workload add "default/$pod" --ip "$(t_pod_ip "$pod")" \
				--ip "$(t_pod_ip "$pod" ipv6)" --netns "$(t_pod_field "$pod" netns)" \
				--cgroup "$(t_pod_field "$pod" cgroup)" >/dev/null ||
				t_fail "workload add $pod"
		else
			t_shunt "$node" workload add "default/$pod" --ip "$(t_pod_ip "$pod")" \
				--ip "$(t_pod_ip "$pod" ipv6)" --remote >/dev/null ||
				t_fail "workload add $pod"
		fi
	done < <(jq -r '.nodes[].pods[].name' "$STATE")
}

t_exec() { "$CLUSTER" exec "$@"; }

# Counters of NODE as JSON.
t_counters() { t_shunt "$1" status --json | jq -c '.counters'; }
t_maps() { t_shunt "$1" status --json | jq -c '.maps'; }
# Remembers NODE's counters; t_delta NODE JQPATH prints the change since.
t_snap() { t_counters "$1" >"$T_TMP/snap.$1"; }
t_delta() {
	t_counters "$1" | jq -r --slurpfile b "$T_TMP/snap.$1" "(.$2) - (\$b[0].$2)"
}
# The counters of NODE that changed since t_snap, as "path=delta" words:
# what a failing bypass check logs to say where the bytes went instead.
t_delta_changed() {
	t_counters "$1" | jq -r --slurpfile b "$T_TMP/snap.$1" '
		[paths(numbers) as $p | {k: ($p | map(tostring) | join(".")),
		 d: (getpath($p) - ($b[0] | getpath($p) // 0))} | select(.d != 0)]
		| map("\(.k)=\(.d)") | join(" ")'
}

# Bytes through the node-side veth of POD (both directions).
t_veth_bytes() {
	local pod=$1 node j
	node=$(t_pod_field "$pod" node)
	j=${pod##*-p}
	ip netns exec "$(t_node_field "$node" netns)" sh -c \
		"echo \$((\$(cat /sys/class/net/p$j/statistics/rx_bytes) + \$(cat /sys/class/net/p$j/statistics/tx_bytes)))"
}

# Servers have served someone before: the datapath learns how a server
# reads from its first connection (which it only watches), so the helpers
# open with a 1-byte warm-up exchange unless T_NO_WARMUP=1.
t_warmup_flag() { [ "${T_NO_WARMUP:-0}" = 1 ] || echo --warmup; }

# Starts a shunt-tt server in POD (or "--outside POD", or a node) and waits
# until it listens. Its JSON result line ends up in $T_TMP/server.out.
t_tt_server() {
	local where=$1 addr=$2
	shift 2
	local out=$T_TMP/server.out
	: >"$out"
	# shellcheck disable=SC2086
	t_exec $where -- "$TT" server --listen "$addr" $(t_warmup_flag) "$@" >"$out" 2>&1 &
	T_PIDS+=($!)
	T_SERVER_PID=$!
	local i
	for ((i = 0; i < 200; i++)); do
		grep -q listening "$out" && return 0
		kill -0 "$T_SERVER_PID" 2>/dev/null || t_fail "server did not start: $(cat "$out")"
		sleep 0.02
	done
	t_fail "server did not start listening on $addr"
}

# Waits for the server started last; fails the test unless it succeeded.
t_tt_server_wait() {
	local rc=0
	wait "$T_SERVER_PID" || rc=$?
	[ $rc = 0 ] || t_fail "server failed (rc $rc): $(tail -1 "$T_TMP/server.out")"
}

# Runs a shunt-tt client in POD; fails the test unless it succeeded.
t_tt_client() {
	local where=$1 addr=$2
	shift 2
	local rc=0
	# shellcheck disable=SC2086
	t_exec $where -- "$TT" client --connect "$addr" $(t_warmup_flag) "$@" >"$T_TMP/client.out" 2>&1 || rc=$?
	[ $rc = 0 ] || t_fail "client failed (rc $rc): $(tail -1 "$T_TMP/client.out")"
}

# A feature's field from NODE's recorded kernel features (status --json).
t_feature() { t_shunt "$1" status --json | jq -r --arg f "$2" ".features[] | select(.name == \$f) | .${3:-state}"; }

t_bypass_on() { [ "$(t_feature "${1:-n1}" bypass)" = on ]; }

# Skips the test, naming the reason, when NODE's datapath has the bypass off
# (a kernel without its receive-side guards, or SHUNT_FEATURES_OFF).
t_need_bypass() {
	local node=${1:-n1} why
	t_bypass_on "$node" && return 0
	why="the bypass is off on this kernel: $(t_feature "$node" bypass why)"
	[ -z "${SHUNT_TEST_RUN_DIR:-}" ] || echo "$why" >"$SHUNT_TEST_RUN_DIR/bypass-off.${SHUNT_FEATURES_OFF:-none}"
	t_skip "$why"
}

# Before t_setup: skips at once when an earlier test of this tests/run.sh
# run, with the same features off, found the bypass off (the kernel does not
# change between tests), instead of a cluster set up to learn it again.
t_bypass_known_off() {
	local mark=${SHUNT_TEST_RUN_DIR:-}/bypass-off.${SHUNT_FEATURES_OFF:-none}
	if [ -n "${SHUNT_TEST_RUN_DIR:-}" ] && [ -f "$mark" ]; then
		rm -rf "$T_TMP" # no t_setup yet: no trap to remove it
		t_skip "$(cat "$mark")"
	fi
	return 0
}

# Programs, maps and links named shunt_*, as the kernel lists them.
t_kernel_objects() {
	{
		bpftool -j prog show | jq -r '.[] | select(.name // "" | startswith("shunt_")) | "prog \(.name)"'
		bpftool -j map show | jq -r '.[] | select(.name // "" | startswith("shunt_")) | "map \(.name)"'
		bpftool -j link show | jq -r '.[] | select(.prog_id != null) | "link \(.id) prog \(.prog_id)"' |
			while read -r _ id _ prog; do
				bpftool -j prog show id "$prog" 2>/dev/null | jq -r --arg l "$id" \
					'select(.name // "" | startswith("shunt_")) | "link \($l) \(.name)"'
			done
	} | sort
}

t_cgroup_progs() { bpftool -j cgroup show "$1" | jq -r '.[] | .name' | sort | tr '\n' ' '; }

# Fails unless A >= B (integers), with a message saying both.
t_ge() { [ "$1" -ge "$2" ] || t_fail "$3: expected at least $2, got $1"; }
t_le() { [ "$1" -le "$2" ] || t_fail "$3: expected at most $2, got $1"; }
t_eq() { [ "$1" = "$2" ] || t_fail "$3: expected $2, got $1"; }

# Waits up to SECONDS for COMMAND to succeed.
# Runs CMD... until it succeeds, sleeping SECS in all between tries: 20 ms,
# 30 ms, then 100 ms each (most waits end within the first ones).
t_wait_for() {
	local left_ms=$(($1 * 1000)) ms=20 secs
	shift
	while :; do
		"$@" && return 0
		[ $left_ms -gt 0 ] || return 1
		printf -v secs '0.%03d' $ms
		sleep "$secs"
		left_ms=$((left_ms - ms))
		case $ms in 20) ms=30 ;; *) ms=100 ;; esac
	done
}

MiB=$((1024 * 1024))

# ---- the node agent and reachability probes --------------------------------
PROBE=$SHUNT_OUTPUT/bin/shunt-probe
HOLD=$SHUNT_OUTPUT/bin/shunt-hold
H2CONNECT=$SHUNT_OUTPUT/bin/shunt-h2connect
MESH_CONFIG=$SHUNT_CLUSTER_DIR/mesh.yaml

# Starts the agent of NODE on CONFIG (default: the cluster's own) and waits
# until it applied it. Its PID is in T_AGENT_PID_<node>, its log in
# $T_TMP/agent.NODE.log. CONFIG_NODE: the node's name in CONFIG, if not NODE.
t_agent_start() {
	local node=$1 cfg=${2:-$MESH_CONFIG} log=$T_TMP/agent.$1.log before=0
	[ -f "$log" ] && before=$(grep -c '"applied config version' "$log")
	"$SHUNT" --pin-dir "$(t_node_field "$node" pin_dir)" agent --config "$cfg" --node "${3:-$node}" \
		--cgroup "$(t_node_field "$node" cgroup)" --metrics "${T_METRICS:-none}" >>"$log" 2>&1 &
	T_PIDS+=($!)
	printf -v "T_AGENT_PID_$node" '%s' $!
	t_wait_for 10 t_agent_applied "$node" $((before + 1)) ||
		t_fail "agent on $node did not apply $cfg: $(tail -3 "$log")"
}

# True once NODE's agent log shows at least N applies.
t_agent_applied() {
	local n
	n=$(grep -c '"applied config version' "$T_TMP/agent.$1.log" 2>/dev/null)
	[ "${n:-0}" -ge "$2" ]
}

# The live config version of NODE's kernel state.
t_config_version() { t_shunt "$1" workloads --json | jq -r .config_version; }

t_version_at_least() { [ "$(t_config_version "$1")" -ge "$2" ] 2>/dev/null; }

# Waits until NODE's kernel runs config version V or later.
t_wait_version() {
	local node=$1 v=$2
	t_wait_for 10 t_version_at_least "$node" "$v" ||
		t_fail "$node did not reach config version $v (has $(t_config_version "$node"))"
}

# Replaces FILE atomically (what a config management tool does).
t_write_config() {
	local file=$1
	cat >"$file.tmp"
	mv "$file.tmp" "$file"
}

# Starts a probe server in POD (or "--cgroup DIR POD", ...) answering with
# NAME on the given --tcp/--udp addresses.
t_probe_server() {
	local where=$1 name=$2 out=$T_TMP/probe.${1//[ \/]/_}.$2.out
	shift 2
	# shellcheck disable=SC2086
	t_exec $where -- "$PROBE" serve --name "$name" "$@" >"$out" 2>&1 &
	T_PIDS+=($!)
	t_wait_for 5 grep -q listening "$out" || t_fail "probe server $name: $(cat "$out")"
}

# shunt-probe connect from POD (or "--outside POD", or a node); prints its JSON.
t_probe() {
	local where=("$1")
	shift
	if [ "${where[0]}" = --outside ]; then
		where+=("$1")
		shift
	fi
	t_exec "${where[@]}" -- "$PROBE" connect "$@"
}

# The outcome of one attempt: ok, eperm, refused, timeout or other.
t_probe_outcome() {
	t_probe "$@" | jq -r 'to_entries | map(select(.key != "servers" and .key != "peer" and (.value|tostring) != "0")) | .[0].key // "none"'
}

# ---- real applications ------------------------------------------------------

t_need() {
	local bin
	for bin in "$@"; do
		command -v "$bin" >/dev/null || t_skip "$bin is not installed (make deps)"
	done
}

# redis: start a server, and run its benchmark plus a deterministic dataset.
t_redis_start() { # WHERE IP PORT
	# shellcheck disable=SC2086
	t_exec $1 -- redis-server --bind "$2" --port "$3" --save '' --appendonly no \
		--protected-mode no --enable-debug-command yes --dir "$T_TMP" \
		--logfile "$T_TMP/redis-$3.log" &
	T_PIDS+=($!)
	# shellcheck disable=SC2086
	t_wait_for 5 t_exec $1 -- redis-cli -h "$2" -p "$3" ping >/dev/null || t_fail "redis did not start"
}

t_redis_workload() { # WHERE IP PORT -> prints the dataset digest
	local where=$1 ip=$2 port=$3 i
	# shellcheck disable=SC2086
	t_exec $where -- redis-benchmark -h "$ip" -p "$port" -n 20000 -c 20 -q \
		-t set,get,incr,lpush,rpop,sadd,hset >"$T_TMP/bench-$port.txt" 2>&1 ||
		t_fail "redis-benchmark failed: $(tail -3 "$T_TMP/bench-$port.txt")"
	grep -qi error "$T_TMP/bench-$port.txt" && t_fail "redis-benchmark errors: $(grep -i error "$T_TMP/bench-$port.txt" | head -3)"
	# A deterministic dataset on top: mass insertion, then the server's digest.
	for ((i = 0; i < 5000; i++)); do
		printf 'SET key:%d value-%d-%0200d\r\nRPUSH list:%d %d\r\n' $i $i $i $((i % 50)) $i
	done >"$T_TMP/load-$port.txt"
	# shellcheck disable=SC2086
	t_exec $where -- sh -c "redis-cli -h $ip -p $port --pipe < $T_TMP/load-$port.txt" \
		>"$T_TMP/pipe-$port.txt" 2>&1 || t_fail "redis-cli --pipe: $(tail -2 "$T_TMP/pipe-$port.txt")"
	grep -q "errors: 0, replies: 10000" "$T_TMP/pipe-$port.txt" || t_fail "redis-cli --pipe: $(tail -1 "$T_TMP/pipe-$port.txt")"
	# shellcheck disable=SC2086
	echo "incr=$(t_exec $where -- redis-cli -h "$ip" -p "$port" GET 'counter:__rand_int__')"
	# shellcheck disable=SC2086
	echo "digest=$(t_exec $where -- redis-cli -h "$ip" -p "$port" DEBUG DIGEST)"
}

# nginx serving DIR/www on IP:8080 with sendfile: writes DIR/nginx.conf.
t_nginx_config() {
	local dir=$1 ip=$2
	mkdir -p "$dir/www" "$dir/tmp"
	cat >"$dir/nginx.conf" <<-EOF
		daemon off;
		master_process off;
		worker_processes 1;
		pid $dir/nginx.pid;
		error_log $dir/error.log;
		events { worker_connections 256; }
		http {
		    access_log off;
		    sendfile on;
		    tcp_nopush on;
		    client_body_temp_path $dir/tmp;
		    proxy_temp_path $dir/tmp;
		    fastcgi_temp_path $dir/tmp;
		    uwsgi_temp_path $dir/tmp;
		    scgi_temp_path $dir/tmp;
		    server { listen $ip:8080; root $dir/www; }
		}
	EOF
}
