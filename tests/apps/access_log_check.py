#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Checks shunt access log lines (docs/telemetry.md "Access logs") against
the documented field list and the Elasticsearch index template's mapping
(deploy/efk/shunt-access-log-template.json): every line is one JSON object
(Python's json, strict), with exactly the template's fields (the ones
Fluent Bit adds aside), each value of a type its mapping takes as is, in
the field's one JSON type. Prints the lines as a JSON array; exits 1 with
the line and field on the first mismatch.

    access_log_check.py TEMPLATE FILE [--fields a,b,c]
"""
import json
import re
import sys

ADDED_BY_SHIPPER = {"@timestamp"}
RFC3339_MS_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
# Fields that are null where they do not apply (TCP lines, absent headers).
NULLABLE = {"method", "authority", "path", "grpc_status", "upstream_host",
            "upstream_service", "trace_id", "user_agent", "request_id"}


def fail(n, line, why):
    sys.stderr.write("line %d: %s\n  %s\n" % (n, why, line[:300]))
    sys.exit(1)


def type_ok(mapping, v):
    t = mapping["type"]
    if t == "date":
        return isinstance(v, str) and RFC3339_MS_UTC.match(v)
    if t in ("keyword", "wildcard", "text"):
        return isinstance(v, str)
    if t in ("integer", "long"):
        return isinstance(v, int) and not isinstance(v, bool) and \
            (t == "long" or -2**31 <= v < 2**31) and (v >= 0)
    if t in ("double", "float"):
        return isinstance(v, float)
    return False


def main():
    template = json.load(open(sys.argv[1]))
    props = template["template"]["mappings"]["properties"]
    fields = set(props) - ADDED_BY_SHIPPER
    documented = None
    if len(sys.argv) > 4 and sys.argv[3] == "--fields":
        documented = sys.argv[4].split(",")
        if set(documented) != fields:
            sys.stderr.write("the template's fields %s are not the documented %s\n"
                             % (sorted(fields), sorted(documented)))
            sys.exit(1)
    out = []
    with open(sys.argv[2], "rb") as f:
        for n, raw in enumerate(f, 1):
            line = raw.decode("utf-8")  # raises on bytes that are not UTF-8
            if not line.endswith("\n"):
                fail(n, line, "no newline at the end")
            try:
                obj = json.loads(line)
            except ValueError as e:
                fail(n, line, "not JSON: %s" % e)
            if not isinstance(obj, dict):
                fail(n, line, "not an object")
            if documented and list(obj) != documented:
                fail(n, line, "fields %s, not in the documented order" % list(obj))
            if set(obj) != fields:
                fail(n, line, "fields differ: extra %s, missing %s"
                     % (sorted(set(obj) - fields), sorted(fields - set(obj))))
            for k, v in obj.items():
                if v is None:
                    if k not in NULLABLE:
                        fail(n, line, "%s is null" % k)
                    continue
                if not type_ok(props[k], v):
                    fail(n, line, "%s: %r is not of its mapping %s" % (k, v, props[k]))
                if isinstance(v, (dict, list)):
                    fail(n, line, "%s is not flat" % k)
            out.append(obj)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
