# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
# Real applications, run the way people run them, give the same bytes and
# results through the mesh as without it.

t_need() {
	local bin
	for bin in "$@"; do
		command -v "$bin" >/dev/null || t_skip "$bin is not installed (make deps)"
	done
}

# nginx serving a large file with sendfile(2); curl fetching it.
test_nginx_sendfile_large_file_to_curl() {
	t_need nginx curl sha256sum
	t_setup 1 3
	local dir=$T_TMP/nginx ip want got i
	ip=$(t_pod_ip n1-p2)
	mkdir -p "$dir/www" "$dir/tmp"
	head -c $((96 * MiB)) /dev/urandom >"$dir/www/big.bin"
	want=$(sha256sum <"$dir/www/big.bin" | cut -d' ' -f1)
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
	t_exec n1-p2 -- nginx -c "$dir/nginx.conf" -p "$dir" >"$dir/out.log" 2>&1 &
	T_PIDS+=($!)
	# nginx has served someone before (its first connection is only watched).
	t_wait_for 5 t_exec n1-p1 -- curl -sf -o /dev/null -r 0-0 "http://$ip:8080/big.bin" ||
		t_fail "nginx did not start: $(tail -2 "$dir/error.log")"
	t_snap n1
	for i in 1 2 3; do
		t_exec n1-p1 -- curl -sf --max-time 30 -o "$dir/got.bin" "http://$ip:8080/big.bin" ||
			t_fail "curl failed (nginx log: $(tail -2 "$dir/error.log"))"
		got=$(sha256sum <"$dir/got.bin" | cut -d' ' -f1)
		t_eq "$got" "$want" "sha256 of the downloaded file (request $i)"
	done
	# curl writing to disk reads slower than sendfile pushes: past
	# max_backlog the rest of a download goes through TCP's flow control.
	local byp
	byp=$(t_delta n1 bytes_redirected)
	t_log "bypass carried $((byp / MiB)) MiB of $((3 * 96)) MiB"
	t_ge "$byp" $((16 * MiB)) "bytes through the bypass"
}

# A redis server and its own benchmark client: every command succeeds, and
# the data ends up exactly as it does without the mesh.
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

test_redis_with_redis_benchmark_same_results_as_without_mesh() {
	t_need redis-server redis-cli redis-benchmark
	t_setup 1 3
	local ip mesh plain
	ip=$(t_pod_ip n1-p2)
	t_redis_start n1-p2 "$ip" 6379
	t_snap n1
	mesh=$(t_redis_workload n1-p1 "$ip" 6379)
	t_ge "$(t_delta n1 bytes_redirected)" 1000000 "bytes through the bypass"
	# The same against a redis outside the mesh, from outside the mesh.
	t_redis_start "--outside n1-p3" "$(t_pod_ip n1-p3)" 6380
	t_snap n1
	plain=$(t_redis_workload "--outside n1-p1" "$(t_pod_ip n1-p3)" 6380)
	t_eq "$(t_delta n1 socks_added)" 0 "sockets added for the outside redis"
	t_eq "$mesh" "$plain" "redis results with and without the mesh"
	grep -q '^incr=20000$' <<<"$mesh" || t_fail "INCR counter: $mesh"
}
