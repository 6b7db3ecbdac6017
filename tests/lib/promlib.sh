# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
# A real Prometheus (Debian's package) over the L7 tests' cluster
# (tests/lib/l7lib.sh): it scrapes both agents and both node proxies every
# second (test_istio_metrics.sh, test_dashboards.sh). The agents serve
# /metrics on the host's loopback; the proxies on their node's loopback,
# reached through tests/apps/netns_forward.py. Every target has a `node`
# label (n1, n2), as docs/telemetry.md's scrape config.

# shellcheck source=tests/lib/l7lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/l7lib.sh"

PROM=""        # Prometheus' base URL
AGENT_PORTS=() # where each node's agent serves /metrics
# A TCP port nothing on the host listens on.
prom_free_port() {
	local p i
	for ((i = 0; i < 100; i++)); do
		p=$((20000 + RANDOM % 30000))
		ss -Hantu "sport = :$p" | grep -q . || {
			echo "$p"
			return 0
		}
	done
	t_fail "no free port"
}

# l7_setup (the routes on stdin), with each agent's /metrics on a port of
# its own (AGENT_PORTS[K] for node nK).
prom_cluster() {
	local routes
	routes=$(cat)
	t_cluster_up 2 2
	trap proxy_logs_on_failure EXIT
	l7_config <<<"$routes" >"$T_TMP/mesh.yaml"
	"$SHUNT" ca init --dir "$T_TMP/ca" --trust-domain cluster.local >/dev/null || t_fail "ca init"
	local k
	for k in 1 2; do
		AGENT_PORTS[k]=$(prom_free_port)
		T_METRICS=127.0.0.1:${AGENT_PORTS[k]} t_agent_start "n$k" "$T_TMP/mesh.yaml"
		: >"$T_TMP/proxy.n$k.log"
		proxy_start "n$k"
	done
	l7_backend n1-p2 v1
	l7_backend n2-p2 v2
}

# Prometheus on 127.0.0.1, storage in $T_TMP, scraping every second: the
# agents directly, the proxies through a forwarder into their node's netns.
prom_start() {
	command -v prometheus >/dev/null || t_fail "prometheus is not installed (make deps)"
	local port fwd1 fwd2 n
	port=$(prom_free_port)
	fwd1=$(prom_free_port)
	fwd2=$(prom_free_port)
	for n in 1 2; do
		local var=fwd$n
		python3 "$REPO/tests/apps/netns_forward.py" --listen "127.0.0.1:${!var}" \
			--netns "/run/netns/$SHUNT_CLUSTER_PREFIX-n$n" --to 127.0.0.1:9465 \
			>"$T_TMP/forward.n$n.log" 2>&1 &
		T_PIDS+=($!)
	done
	cat >"$T_TMP/prometheus.yml" <<-EOF
		global: {scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1s}
		scrape_configs:
		  - job_name: shunt-agent
		    static_configs:
		      - {targets: ["127.0.0.1:${AGENT_PORTS[1]}"], labels: {node: n1}}
		      - {targets: ["127.0.0.1:${AGENT_PORTS[2]}"], labels: {node: n2}}
		  - job_name: shunt-proxy
		    static_configs:
		      - {targets: ["127.0.0.1:$fwd1"], labels: {node: n1}}
		      - {targets: ["127.0.0.1:$fwd2"], labels: {node: n2}}
	EOF
	prometheus --config.file="$T_TMP/prometheus.yml" --storage.tsdb.path="$T_TMP/prom-data" \
		--web.listen-address="127.0.0.1:$port" >"$T_TMP/prometheus.log" 2>&1 &
	T_PIDS+=($!)
	PROM=http://127.0.0.1:$port
	t_wait_for 30 curl -fs -o /dev/null "$PROM/-/ready" ||
		t_fail "prometheus did not start: $(tail -3 "$T_TMP/prometheus.log")"
	t_wait_for 20 prom_is 'count(up == 1)' 4 ||
		t_fail "prometheus does not scrape all 4 targets: $(curl -s "$PROM/api/v1/targets" |
			jq -c '[.data.activeTargets[] | {scrapeUrl, health, lastError}]')"
}

# The value of the instant query Q (at unix time AT, if given), or "none"
# for an empty answer.
prom_query() { # Q [AT]
	local args=(--data-urlencode "query=$1")
	[ -z "${2:-}" ] || args+=(--data-urlencode "time=$2")
	curl -fsS "$PROM/api/v1/query" "${args[@]}" |
		jq -r 'if .status != "success" then "error: \(.error)"
		       elif (.data.result | length) == 0 then "none"
		       else .data.result[0].value[1] end'
}

prom_is() { [ "$(prom_query "$1")" = "$2" ]; }

# Waits until Q is V (Prometheus has scraped what the proxies counted).
prom_wait() { # Q V WHAT
	t_wait_for 15 prom_is "$1" "$2" || t_fail "$3: $1 is $(prom_query "$1"), expected $2"
}

# A float comparison: LO <= V <= HI.
prom_within() { # V LO HI WHAT
	awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v != "" && v + 0 == v && v >= lo && v <= hi) }' ||
		t_fail "$4: expected within [$2, $3], got $1"
}
