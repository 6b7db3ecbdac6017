#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Runs every panel query of Grafana dashboards against Prometheus' HTTP API.

    dashboard_queries.py PROMETHEUS_URL TIME VAR=VALUE... -- DASHBOARD.json...

Each panel target's `expr`, with $VAR / ${VAR} replaced by the values given
($__rate_interval, $__interval and $__range among them), is asked of
/api/v1/query at TIME: it must succeed and return at least one sample that
is a finite number. Each query variable's label_values(METRIC{...}, LABEL)
must list the value given for it. Prints one line per query; exits 1 if
any failed, naming the dashboard and the panel.
"""
import json
import math
import re
import sys
import urllib.parse
import urllib.request


def substitute(text, values):
    def one(m):
        name = m.group(1) or m.group(2)
        if name not in values:
            raise KeyError("no value for $%s" % name)
        return values[name]
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", one, text)


def api(base, path, params):
    url = "%s%s?%s" % (base, path, urllib.parse.urlencode(params, doseq=True))
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        return json.load(e)


def finite_samples(result):
    n = 0
    for series in result:
        for _, v in ([series["value"]] if "value" in series else series.get("values", [])):
            if not math.isnan(float(v)) and not math.isinf(float(v)):
                n += 1
    return n


def check_variable(base, at, values, var):
    m = re.match(r"^label_values\((.*),\s*(\w+)\)$", var["query"]["query"].strip(), re.S)
    if not m:
        return "not a label_values() query"
    match = substitute(m.group(1), values)
    got = api(base, "/api/v1/label/%s/values" % m.group(2),
              {"match[]": match, "start": at - 300, "end": at})
    if got.get("status") != "success":
        return "error: %s" % got.get("error")
    if values[var["name"]] not in got["data"]:
        return "%r not among %s" % (values[var["name"]], got["data"])
    return None


def main():
    sep = sys.argv.index("--")
    base, at = sys.argv[1], float(sys.argv[2])
    values = dict(a.split("=", 1) for a in sys.argv[3:sep])
    failed = total = 0
    for path in sys.argv[sep + 1:]:
        board = json.load(open(path))
        for var in board["templating"]["list"]:
            if var["type"] != "query":
                continue
            total += 1
            why = check_variable(base, at, values, var)
            print("%-4s %s: variable $%s" % ("FAIL" if why else "ok", board["title"], var["name"])
                  + (": %s" % why if why else ""))
            failed += bool(why)
        for panel in board["panels"]:
            for t in panel.get("targets", []):
                total += 1
                expr = substitute(t["expr"], values)
                got = api(base, "/api/v1/query", {"query": expr, "time": at})
                if got.get("status") != "success":
                    why = "error: %s" % got.get("error")
                else:
                    n = finite_samples(got["data"]["result"])
                    why = None if n else "no data (%d series, none finite)" % len(
                        got["data"]["result"])
                print("%-4s %s / %s [%s]%s" % ("FAIL" if why else "ok", board["title"],
                                               panel["title"], t["refId"],
                                               ": %s\n       %s" % (why, expr) if why else ""))
                failed += bool(why)
    print("%d of %d queries returned data" % (total - failed, total))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
