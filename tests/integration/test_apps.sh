# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
# Real applications, run the way people run them, give the same bytes and
# results through the mesh as without it.

# nginx serving a large file with sendfile(2); curl fetching it.
test_nginx_sendfile_large_file_to_curl() {
	t_need nginx curl sha256sum
	t_setup 1 3
	local dir=$T_TMP/nginx ip want got i
	ip=$(t_pod_ip n1-p2)
	mkdir -p "$dir/www" "$dir/tmp"
	head -c $((96 * MiB)) /dev/urandom >"$dir/www/big.bin"
	want=$(sha256sum <"$dir/www/big.bin" | cut -d' ' -f1)
	t_nginx_config "$dir" "$ip"
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
	! t_bypass_on n1 || t_ge "$byp" $((16 * MiB)) "bytes through the bypass"
}

# A redis server and its own benchmark client: every command succeeds, and
# the data ends up exactly as it does without the mesh.
test_redis_with_redis_benchmark_same_results_as_without_mesh() {
	t_need redis-server redis-cli redis-benchmark
	t_setup 1 3
	local ip mesh plain
	ip=$(t_pod_ip n1-p2)
	t_redis_start n1-p2 "$ip" 6379
	t_snap n1
	mesh=$(t_redis_workload n1-p1 "$ip" 6379)
	! t_bypass_on n1 || t_ge "$(t_delta n1 bytes_redirected)" 1000000 "bytes through the bypass"
	# The same against a redis outside the mesh, from outside the mesh.
	t_redis_start "--outside n1-p3" "$(t_pod_ip n1-p3)" 6380
	t_snap n1
	plain=$(t_redis_workload "--outside n1-p1" "$(t_pod_ip n1-p3)" 6380)
	t_eq "$(t_delta n1 socks_added)" 0 "sockets added for the outside redis"
	t_eq "$mesh" "$plain" "redis results with and without the mesh"
	grep -q '^incr=20000$' <<<"$mesh" || t_fail "INCR counter: $mesh"
}
