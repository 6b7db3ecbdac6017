#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Writes the Grafana dashboards of deploy/grafana/ (docs/telemetry.md
"Dashboards"): mesh overview, service, workload and node datapath, over the
metrics shunt exports (istio_* of the node proxies and agents, shunt_* of the agents
and proxies). Run it after editing a panel; the JSON files are what
Grafana imports (and what tests/integration/test_dashboards.sh checks).

Every target carries a `node` label (the scrape config's, as in
docs/telemetry.md); panels use Grafana's $__rate_interval and $__range.
"""
import json
import os

DS = {"type": "prometheus", "uid": "${datasource}"}
RI = "[$__rate_interval]"
SRC = 'reporter="source"'


def rate(metric, sel, by=None):
    inner = "rate(%s{%s}%s)" % (metric, sel, RI)
    return "sum by (%s) (%s)" % (by, inner) if by else "sum(%s)" % inner


def quantile(q, metric, sel, by=None):
    keys = "le, " + by if by else "le"
    return "histogram_quantile(%s, sum by (%s) (rate(%s_bucket{%s}%s)))" % (
        q, keys, metric, sel, RI)


def success(sel):
    return "%s / %s" % (rate("istio_requests_total", sel + ',response_code!~"5.."'),
                        rate("istio_requests_total", sel))


def target(expr, legend="", ref="A", instant=False):
    t = {"datasource": DS, "expr": expr, "legendFormat": legend or "__auto", "refId": ref}
    if instant:
        t.update({"instant": True, "range": False, "format": "table"})
    return t


class Board:
    def __init__(self, uid, title, desc, variables):
        self.uid, self.title, self.desc = uid, title, desc
        self.variables = variables
        self.panels = []
        self.x = self.y = 0

    def row(self, title):
        if self.x:
            self.x, self.y = 0, self.y + 8
        self.panels.append({"type": "row", "title": title, "collapsed": False,
                            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y},
                            "id": len(self.panels) + 1, "panels": []})
        self.y += 1

    def panel(self, kind, title, targets, unit="short", desc="", w=12):
        if self.x + w > 24:
            self.x, self.y = 0, self.y + 8
        refs = "ABCDEFGH"
        tl = [target(e, l, refs[i], kind == "table") for i, (e, l) in enumerate(targets)]
        p = {"type": kind, "title": title, "description": desc, "datasource": DS,
             "id": len(self.panels) + 1,
             "gridPos": {"h": 8 if kind != "stat" else 4, "w": w, "x": self.x, "y": self.y},
             "targets": tl, "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
             "options": {}}
        if kind == "stat":
            p["options"] = {"reduceOptions": {"calcs": ["lastNotNull"]}, "graphMode": "area"}
        if kind == "timeseries":
            p["options"] = {"legend": {"displayMode": "table", "placement": "bottom",
                                       "calcs": ["mean", "max"]}}
        self.panels.append(p)
        self.x += w
        if kind == "stat" and self.x >= 24:
            self.x, self.y = 0, self.y + 4
        elif self.x >= 24:
            self.x, self.y = 0, self.y + 8

    def json(self):
        tvars = [{"name": "datasource", "label": "Prometheus", "type": "datasource",
                  "query": "prometheus", "current": {}, "hide": 0}]
        for name, label, query in self.variables:
            tvars.append({"name": name, "label": label, "type": "query", "datasource": DS,
                          "definition": query, "query": {"query": query, "refId": name},
                          "refresh": 2, "sort": 1, "current": {}, "includeAll": False,
                          "multi": False, "hide": 0})
        return {"uid": self.uid, "title": self.title, "description": self.desc,
                "tags": ["shunt", "istio"], "editable": True, "schemaVersion": 39,
                "version": 1, "refresh": "30s", "time": {"from": "now-1h", "to": "now"},
                "timezone": "", "graphTooltip": 1, "annotations": {"list": []},
                "templating": {"list": tvars}, "panels": self.panels}


def mesh():
    b = Board("shunt-mesh", "shunt / Mesh overview",
              "Every service's requests through the L7 side, the mTLS tunnels and the "
              "proxies' health (docs/telemetry.md).", [])
    req = "istio_requests_total"
    b.row("HTTP and gRPC (reporter: source)")
    b.panel("stat", "Requests", [(rate(req, SRC), "")], "reqps", w=6)
    b.panel("stat", "Success rate (not 5xx)", [(success(SRC), "")], "percentunit", w=6)
    b.panel("stat", "4xx", [(rate(req, SRC + ',response_code=~"4.."'), "")], "reqps", w=6)
    b.panel("stat", "5xx", [(rate(req, SRC + ',response_code=~"5.."'), "")], "reqps", w=6)
    b.panel("timeseries", "Requests by service",
            [(rate(req, SRC, "destination_service"), "{{destination_service}}")], "reqps")
    b.panel("timeseries", "P99 latency by service",
            [(quantile(0.99, "istio_request_duration_milliseconds", SRC, "destination_service"),
              "{{destination_service}}")], "ms")
    b.panel("timeseries", "Proxy answers by response flag",
            [(rate(req, SRC + ',response_flags!="-"', "response_flags, response_code"),
              "{{response_flags}} {{response_code}}")], "reqps",
            "Requests the mesh answered itself (no route, no endpoint, circuit breaking, ...).")
    b.panel("table", "Calls (source workload -> service -> endpoint)",
            [(rate(req, SRC, "source_workload, destination_service, destination_workload"), "")],
            "reqps")
    b.row("TCP: mTLS tunnels (proxies) and same-node kernel path (agents)")
    b.panel("timeseries", "TCP bytes",
            [(rate("istio_tcp_sent_bytes_total", "", "reporter"), "sent ({{reporter}})"),
             (rate("istio_tcp_received_bytes_total", "", "reporter"), "received ({{reporter}})")],
            "Bps", "Added when each connection closes.")
    b.panel("timeseries", "TCP connections",
            [(rate("istio_tcp_connections_opened_total", "", "reporter"), "opened ({{reporter}})"),
             (rate("istio_tcp_connections_closed_total", "", "reporter"),
              "closed ({{reporter}})")], "cps")
    b.panel("timeseries", "TCP bytes by path",
            [(rate("istio_tcp_sent_bytes_total", 'reporter="destination"',
                   "connection_security_policy"), "sent ({{connection_security_policy}})"),
             (rate("istio_tcp_received_bytes_total", 'reporter="destination"',
                   "connection_security_policy"), "received ({{connection_security_policy}})")],
            "Bps", "mutual_tls: through the mTLS tunnels; none: between two pods of one node, "
            "in the kernel (bypass or plain TCP).", w=24)
    b.row("Proxies")
    b.panel("timeseries", "mTLS tunnels open",
            [("sum by (node, side) (shunt_proxy_tunnels_active)", "{{node}} {{side}}")])
    b.panel("timeseries", "TLS handshake failures by reason",
            [(rate("shunt_proxy_handshake_failures_total", "", "reason"), "{{reason}}")], "ops")
    b.panel("timeseries", "Refused connections by reason",
            [(rate("shunt_proxy_refused_total", "", "reason"), "{{reason}}")], "ops")
    b.panel("timeseries", "istio_* label sets (bound 1000 per kind)",
            [("sum by (node, kind) (shunt_istio_label_sets)", "{{node}} {{kind}}"),
             ("sum by (kind) (rate(shunt_istio_overflow_total%s))" % RI, "overflow {{kind}}")])
    return b


def service():
    s = 'reporter="source",destination_service="$service"'
    req = "istio_requests_total"
    b = Board("shunt-service", "shunt / Service",
              "One service's requests, as its clients' node proxies saw them.",
              [("service", "Service",
                'label_values(istio_requests_total{reporter="source"}, destination_service)')])
    b.row("Requests")
    b.panel("stat", "Requests", [(rate(req, s), "")], "reqps", w=8)
    b.panel("stat", "Success rate (not 5xx)", [(success(s), "")], "percentunit", w=8)
    b.panel("stat", "P99 latency", [(quantile(0.99, "istio_request_duration_milliseconds", s),
                                     "")], "ms", w=8)
    b.panel("timeseries", "Requests by response code",
            [(rate(req, s, "response_code"), "{{response_code}}")], "reqps")
    b.panel("timeseries", "Latency",
            [(quantile(q, "istio_request_duration_milliseconds", s), "p%d" % int(q * 100))
             for q in (0.5, 0.9, 0.99)], "ms")
    b.panel("timeseries", "Requests by client workload",
            [(rate(req, s, "source_workload_namespace, source_workload"),
              "{{source_workload_namespace}}/{{source_workload}}")], "reqps")
    b.panel("timeseries", "Requests by endpoint",
            [(rate(req, s + ',destination_workload!="unknown"', "destination_workload"),
              "{{destination_workload}}")], "reqps")
    b.panel("timeseries", "P99 latency by endpoint",
            [(quantile(0.99, "istio_request_duration_milliseconds",
                       s + ',destination_workload!="unknown"', "destination_workload"),
              "{{destination_workload}}")], "ms")
    b.panel("timeseries", "Proxy answers by response flag",
            [(rate(req, s + ',response_flags!="-"', "response_flags, response_code"),
              "{{response_flags}} {{response_code}}")], "reqps")
    b.row("Sizes")
    b.panel("timeseries", "Request body size",
            [(quantile(q, "istio_request_bytes", s), "p%d" % int(q * 100)) for q in (0.5, 0.99)],
            "bytes")
    b.panel("timeseries", "Response body size",
            [(quantile(q, "istio_response_bytes", s), "p%d" % int(q * 100)) for q in (0.5, 0.99)],
            "bytes")
    return b


def workload():
    wl = 'workload="$workload",%s_workload_namespace="$namespace"'
    inb = 'reporter="source",destination_' + wl % "destination"
    outb = 'reporter="source",source_' + wl % "source"
    tcp_in = 'reporter="destination",destination_' + wl % "destination"
    tcp_out = 'reporter="source",source_' + wl % "source"
    req = "istio_requests_total"
    b = Board("shunt-workload", "shunt / Workload",
              "One workload's inbound and outbound requests and TCP connections.",
              [("namespace", "Namespace",
                "label_values(istio_requests_total, destination_workload_namespace)"),
               ("workload", "Workload",
                'label_values(istio_requests_total{destination_workload_namespace="$namespace"},'
                " destination_workload)")])
    b.row("Inbound")
    b.panel("timeseries", "Inbound requests by client",
            [(rate(req, inb, "source_workload"), "{{source_workload}}")], "reqps")
    b.panel("timeseries", "Inbound success rate and P99",
            [(success(inb), "success rate"),
             (quantile(0.99, "istio_request_duration_milliseconds", inb), "p99 (ms)")])
    b.panel("timeseries", "Inbound TCP bytes",
            [(rate("istio_tcp_received_bytes_total", tcp_in, "connection_security_policy"),
              "received ({{connection_security_policy}})"),
             (rate("istio_tcp_sent_bytes_total", tcp_in, "connection_security_policy"),
              "sent ({{connection_security_policy}})")], "Bps",
            "mutual_tls: from other nodes, through the tunnels; none: from pods of its node.")
    b.panel("timeseries", "Inbound TCP connections by client",
            [(rate("istio_tcp_connections_opened_total", tcp_in, "source_workload"),
              "{{source_workload}}")], "cps")
    b.row("Outbound")
    b.panel("timeseries", "Outbound requests by service",
            [(rate(req, outb, "destination_service"), "{{destination_service}}")], "reqps")
    b.panel("timeseries", "Outbound P99 latency by service",
            [(quantile(0.99, "istio_request_duration_milliseconds", outb, "destination_service"),
              "{{destination_service}}")], "ms")
    b.panel("timeseries", "Outbound errors (4xx, 5xx) by flag",
            [(rate(req, outb + ',response_code=~"[45].."', "response_code, response_flags"),
              "{{response_code}} {{response_flags}}")], "reqps")
    b.panel("timeseries", "Outbound TCP bytes by destination",
            [(rate("istio_tcp_sent_bytes_total", tcp_out, "destination_workload"),
              "from {{destination_workload}}"),
             (rate("istio_tcp_received_bytes_total", tcp_out, "destination_workload"),
              "to {{destination_workload}}")], "Bps")
    b.panel("timeseries", "Policy verdicts of its connects (kernel)",
            [(rate("shunt_policy_verdicts_total", 'source="$namespace/$workload"',
                   "destination, port, verdict"), "{{destination}}:{{port}} {{verdict}}")],
            "ops", w=24)
    return b


def node():
    n = 'node="$node"'
    b = Board("shunt-node", "shunt / Node datapath",
              "One node's kernel datapath (the agent's shunt_* metrics) and its node proxy.",
              [("node", "Node", "label_values(shunt_connects_total, node)")])
    b.row("Kernel datapath")
    b.panel("timeseries", "Connects", [(rate("shunt_connects_total", n), "connects")], "ops")
    b.panel("timeseries", "Same-node bytes by path",
            [(rate("shunt_bypass_bytes_total", n, "path"), "{{path}}")], "Bps",
            "bypass: sender's sendmsg() straight into the receiver's socket; tcp: plain TCP.")
    b.panel("timeseries", "Same-node messages by path",
            [(rate("shunt_bypass_messages_total", n, "path"), "{{path}}")], "ops")
    b.panel("timeseries", "Bypass sockets",
            [(rate("shunt_bypass_sockets_added_total", n), "added"),
             (rate("shunt_bypass_sockets_left_total", n), "left")], "ops")
    b.panel("timeseries", "Bypass handbacks to TCP by reason",
            [(rate("shunt_bypass_handbacks_total", n, "reason"), "{{reason}}")], "ops")
    b.panel("timeseries", "Local congestion control",
            [(rate("shunt_local_congestion_total", n, "result"), "{{result}}")], "ops")
    b.panel("timeseries", "Services: translations, without backend",
            [(rate("shunt_service_translations_total", n), "translated"),
             (rate("shunt_service_no_backend_total", n), "no backend")], "ops")
    b.panel("timeseries", "Policy denials by where",
            [(rate("shunt_policy_denied_total", n, "where"), "{{where}}")], "ops")
    b.panel("timeseries", "Flow events lost",
            [(rate("shunt_flow_events_lost_total", n), "lost")], "ops")
    b.panel("timeseries", "Kernel state",
            [("sum(shunt_kernel_entries{%s})" % n, "map entries"),
             ("sum by (scope) (shunt_workloads{%s})" % n, "workloads ({{scope}})"),
             ("sum(shunt_services{%s})" % n, "services"),
             ("sum(shunt_policy_rules{%s})" % n, "policy rules")])
    b.row("Config")
    b.panel("stat", "Config version", [("max(shunt_config_version{%s})" % n, "")], w=6)
    b.panel("stat", "Last config applied", [("min(shunt_config_last_ok{%s})" % n, "")],
            desc="1: the newest file was applied; 0: it was rejected.", w=6)
    b.panel("stat", "Last apply took", [("max(shunt_config_apply_seconds{%s})" % n, "")], "s",
            w=6)
    b.panel("stat", "Applies and failures",
            [("sum(increase(shunt_config_applies_total{%s}[$__range]))" % n, "applies"),
             ("sum(increase(shunt_config_failures_total{%s}[$__range]))" % n, "failures")], w=6)
    b.row("Node proxy")
    b.panel("timeseries", "Proxied connections by side",
            [(rate("shunt_proxy_connections_total", n, "side"), "{{side}}"),
             ("sum by (side) (shunt_proxy_connections_active{%s})" % n, "{{side}} open")], "cps")
    b.panel("timeseries", "Proxy bytes by direction",
            [(rate("shunt_proxy_bytes_total", n, "direction"), "{{direction}}")], "Bps")
    b.panel("timeseries", "Streams that ended other than closed",
            [(rate("shunt_proxy_outcomes_total", n + ',outcome!="closed"', "outcome"),
              "{{outcome}}")], "ops")
    b.panel("timeseries", "L7 responses by class",
            [(rate("shunt_l7_responses_total", n, "class"), "{{class}}")], "reqps")
    b.panel("timeseries", "L7 answers of the proxy by outcome",
            [(rate("shunt_l7_proxy_answers_total", n, "outcome"), "{{outcome}}")], "reqps")
    b.panel("timeseries", "L7 upstream connections and retries",
            [(rate("shunt_l7_upstream_connections_total", n), "connections opened"),
             (rate("shunt_l7_upstream_reused_total", n), "requests on a pooled connection"),
             (rate("shunt_l7_retries_total", n), "retries")], "ops")
    b.panel("timeseries", "Access log lines",
            [(rate("shunt_proxy_access_log_lines_total", n), "written"),
             (rate("shunt_proxy_access_log_dropped_total", n, "reason"), "dropped ({{reason}})")],
            "ops")
    b.panel("timeseries", "Certificates",
            [("sum(increase(shunt_proxy_certificates_issued_total{%s}[$__range]))" % n, "issued"),
             ("sum by (side) (shunt_proxy_tunnels_active{%s})" % n, "tunnels open ({{side}})")])
    return b


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    for name, board in (("mesh", mesh()), ("service", service()), ("workload", workload()),
                        ("node", node())):
        with open(os.path.join(here, "shunt-%s.json" % name), "w") as f:
            json.dump(board.json(), f, indent=2, sort_keys=False)
            f.write("\n")


if __name__ == "__main__":
    main()
