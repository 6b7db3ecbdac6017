#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""A test Kubernetes API server: the documented list/watch protocol, no more.

  apiserver.py --port P --token T --cert C --key K [--state FILE] [--client-ca CA]
               [--rbac CLUSTERROLE.json --rbac-token T2]

- GET collections of Namespaces, Pods, Services, EndpointSlices,
  NetworkPolicies and HTTPRoutes (unless --no-gateway-api) (cluster-wide or under /namespaces/NS/), with
  fieldSelector spec.nodeName=N / spec.nodeName!=N for pods, limit and
  continue (pages), and metadata.resourceVersion.
- ?watch=1: a chunked stream of JSON events, one per line (ADDED, MODIFIED,
  DELETED, BOOKMARK with allowWatchBookmarks, ERROR), from resourceVersion;
  a version older than the compaction point gets 410 Gone (an ERROR event,
  or an HTTP 410 with gone_mode "http"); timeoutSeconds ends the stream.
- A bearer token is required everywhere but /control (401 Status), or
  with --client-ca, a client certificate that CA signed (as kind's admin
  kubeconfig has): an admin's, like --token.
- Discovery (/api, /apis, /api/v1, ...) so that the real kubectl can
  generate objects against it (kubectl run/create --dry-run=client), also
  of the kinds deploy/ installs (ServiceAccount, ConfigMap, Secret,
  ClusterRole(Binding), DaemonSet: discovery only, never listed), so that
  `kubectl apply --dry-run=client -f deploy/` reads them; a GET of a named
  object is 404 (not there: apply would create it).
- --rbac: requests with --rbac-token (a service account's) are allowed only
  as the ClusterRole's rules allow them (apiGroups x resources x verbs,
  "*" included; discovery is always allowed, as system:discovery is), 403
  otherwise; the --token is an unrestricted admin's. Every request of that
  token is logged with its verb, group and whether it was allowed.
- It plays the EndpointSlice controller: one slice per Service with a
  selector, of the matching pods that have an address.
- /control/... for tests: objects (upsert; a List may carry "delete":
  [{kind, namespace, name}], done first, all under one lock: one burst of
  events), delete, compact, disconnect, faults, requests (the log of list
  and watch requests), served (the watch events sent: when, to which
  watch), state. Faults:
  response_delay (s before any answer), list_delay (s to send a list),
  truncate_lists (N lists cut half way, as a server dying; with page_size,
  only pages after the first; truncate_resource: only lists of that
  resource, e.g. "pods"), fail_lists (N lists answered 500),
  page_size (at most N items a page), gone_mode (event|http),
  bookmark_interval (s), status_conflicts (N status writes find the object
  changed by another writer just before: it gets a new resourceVersion and
  the write 409), status_fail (N status writes answered status_fail_code,
  default 500).
- PUT .../httproutes/NAME/status (the status subresource, RBAC resource
  "httproutes/status", verb update): 409 Conflict (a Status, reason
  Conflict) unless the body's resourceVersion is the object's; else only
  .status is taken, the resourceVersion bumped (not the generation), a
  MODIFIED event sent; /control/status_writes lists them. An HTTPRoute's
  metadata.generation starts at 1 and grows when its spec changes; an
  upsert without a status keeps the one there (as an update of the main
  resource does).
With --state, the objects and the resourceVersion survive a restart (the
history does not: older versions are gone, as after an etcd compaction).
"""
import argparse
import base64
import copy
import json
import os
import ssl
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

RESOURCES = {  # plural -> (group/version, Kind, namespaced)
    "namespaces": ("v1", "Namespace", False),
    "nodes": ("v1", "Node", False),
    "secrets": ("v1", "Secret", True),
    "pods": ("v1", "Pod", True),
    "services": ("v1", "Service", True),
    "endpointslices": ("discovery.k8s.io/v1", "EndpointSlice", True),
    "networkpolicies": ("networking.k8s.io/v1", "NetworkPolicy", True),
    "httproutes": ("gateway.networking.k8s.io/v1", "HTTPRoute", True),
    "telemetries": ("telemetry.istio.io/v1", "Telemetry", True),
}
KIND_TO_RES = {v[1]: k for k, v in RESOURCES.items()}
# What `kubectl apply -f deploy/` installs: discovery only (the REST mapping).
DISCOVERY_ONLY = {
    "serviceaccounts": ("v1", "ServiceAccount", True),
    "configmaps": ("v1", "ConfigMap", True),
    "daemonsets": ("apps/v1", "DaemonSet", True),
    "roles": ("rbac.authorization.k8s.io/v1", "Role", True),
    "rolebindings": ("rbac.authorization.k8s.io/v1", "RoleBinding", True),
    "clusterroles": ("rbac.authorization.k8s.io/v1", "ClusterRole", False),
    "clusterrolebindings": ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", False),
}


class Store:
    def __init__(self, state_file):
        self.cond = threading.Condition()
        self.objects = {r: {} for r in RESOURCES}
        self.objects.setdefault("httproutes", {})
        self.rv = 1
        self.history = []  # (rv, resource, type, object)
        self.compacted = 0  # versions below this are gone
        self.disconnects = 0
        self.kicks = 0
        self.faults = {"list_delay": 0.0, "truncate_lists": 0, "response_delay": 0.0,
                       "gone_mode": "event", "bookmark_interval": 1.0, "fail_lists": 0,
                       "page_size": 0, "truncate_resource": "", "status_conflicts": 0,
                       "status_fail": 0, "status_fail_code": 500}
        self.status_writes = []  # {key, rv, code, t}
        self.requests = []
        self.served = []  # watch events written: {t, resource, type, key, rv}
        self.state_file = state_file
        if state_file:
            try:
                with open(state_file) as f:
                    saved = json.load(f)
                self.objects, self.rv = saved["objects"], saved["rv"]
                self.compacted = self.rv  # the history did not survive
            except FileNotFoundError:
                pass

    def save(self):
        if self.state_file:
            with open(self.state_file + ".tmp", "w") as f:
                json.dump({"objects": self.objects, "rv": self.rv}, f)
            os.replace(self.state_file + ".tmp", self.state_file)

    @staticmethod
    def key(obj):
        md = obj["metadata"]
        return (md.get("namespace", "") + "/" if md.get("namespace") else "") + md["name"]

    def _event(self, res, typ, obj):
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.history.append((self.rv, res, typ, copy.deepcopy(obj)))

    def upsert(self, obj, controller=True):
        res = KIND_TO_RES[obj["kind"]]
        obj = copy.deepcopy(obj)
        md = obj.setdefault("metadata", {})
        if RESOURCES[res][2]:
            md.setdefault("namespace", "default")
        old = self.objects[res].get(self.key(obj))
        md["uid"] = old["metadata"]["uid"] if old else md.get("uid") or str(uuid.uuid4())
        md["creationTimestamp"] = md.get("creationTimestamp") or "2026-01-01T00:00:00Z"
        if res == "namespaces":
            md.setdefault("labels", {})["kubernetes.io/metadata.name"] = md["name"]
        if res == "httproutes":  # a CRD with a status subresource
            gen = old["metadata"].get("generation", 1) if old else 1
            md["generation"] = gen + 1 if old and old.get("spec") != obj.get("spec") else gen
            if old is not None and "status" not in obj and "status" in old:
                obj["status"] = copy.deepcopy(old["status"])
        if old is not None:
            cur = copy.deepcopy(old)
            cur["metadata"].pop("resourceVersion", None)
            new = copy.deepcopy(obj)
            new["metadata"].pop("resourceVersion", None)
            if cur == new:
                return
        self._event(res, "MODIFIED" if old is not None else "ADDED", obj)
        self.objects[res][self.key(obj)] = obj
        if controller and res in ("pods", "services"):
            self.reconcile_slices()

    def put_status(self, res, key, body):
        """(code, answer) of a status write; the caller holds cond."""
        obj = self.objects[res].get(key)
        if obj is None:
            return 404, status(404, "NotFound", '%s "%s" not found' % (res, key))
        if self.faults["status_fail"]:
            self.faults["status_fail"] -= 1
            code = self.faults["status_fail_code"]
            return code, status(code, "InternalError" if code >= 500 else "Forbidden", "injected failure")
        if self.faults["status_conflicts"]:  # another writer, just before this one
            self.faults["status_conflicts"] -= 1
            self._event(res, "MODIFIED", obj)
        rv = (body.get("metadata") or {}).get("resourceVersion")
        if not rv:
            return 422, status(422, "Invalid", "metadata.resourceVersion: must be given to update")
        if rv != obj["metadata"]["resourceVersion"]:
            return 409, status(409, "Conflict", "%s %s was changed (resourceVersion %s, not %s): "
                               "read it again and retry" % (res, key, obj["metadata"]["resourceVersion"], rv))
        if "status" in body:
            obj["status"] = copy.deepcopy(body["status"])
        else:
            obj.pop("status", None)
        self._event(res, "MODIFIED", obj)
        return 200, copy.deepcopy(obj)

    def delete(self, kind, ns, name):
        res = KIND_TO_RES[kind]
        k = (ns + "/" if ns and RESOURCES[res][2] else "") + name
        obj = self.objects[res].pop(k, None)
        if obj is None:
            return False
        self._event(res, "DELETED", obj)
        if res in ("pods", "services"):
            self.reconcile_slices()
        return True

    def reconcile_slices(self):
        want = {}
        for svc in self.objects["services"].values():
            sel = svc.get("spec", {}).get("selector")
            if sel:
                s = endpoint_slice(svc, sel, self.objects["pods"].values())
                want[self.key(s)] = s
        for k, obj in list(self.objects["endpointslices"].items()):
            if k not in want:
                self.delete("EndpointSlice", obj["metadata"]["namespace"], obj["metadata"]["name"])
        for s in want.values():
            self.upsert(s, controller=False)


def pod_ready(pod):
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in pod.get("status", {}).get("conditions", []))


def resolve_port(port, pod):
    tp = port.get("targetPort", port["port"])
    if isinstance(tp, int):
        return tp
    for c in pod.get("spec", {}).get("containers", []):
        for p in c.get("ports", []):
            if p.get("name") == tp and p.get("protocol", "TCP") == port.get("protocol", "TCP"):
                return p["containerPort"]
    return None


def endpoint_slice(svc, sel, pods):
    ns = svc["metadata"]["namespace"]
    members = [p for p in pods if p["metadata"]["namespace"] == ns and p.get("status", {}).get("podIP")
               and all(p["metadata"].get("labels", {}).get(k) == v for k, v in sel.items())]
    members.sort(key=lambda p: p["metadata"]["name"])
    ports = []
    for sp in svc["spec"].get("ports", []):
        num = next((n for n in (resolve_port(sp, p) for p in members) if n), None)
        if num is None and isinstance(sp.get("targetPort", sp["port"]), int):
            num = sp.get("targetPort", sp["port"])
        ports.append({"name": sp.get("name", ""), "protocol": sp.get("protocol", "TCP"), "port": num})
    return {"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
            "metadata": {"name": svc["metadata"]["name"] + "-shunt", "namespace": ns,
                         "labels": {"kubernetes.io/service-name": svc["metadata"]["name"]}},
            "addressType": "IPv4", "ports": ports,
            "endpoints": [{"addresses": [p["status"]["podIP"]],
                           "conditions": {"ready": pod_ready(p)},
                           "nodeName": p["spec"].get("nodeName"),
                           "targetRef": {"kind": "Pod", "namespace": ns, "name": p["metadata"]["name"],
                                         "uid": p["metadata"]["uid"]}} for p in members]}


def field_match(obj, selector):
    for term in filter(None, (selector or "").split(",")):
        neg = "!=" in term
        field, value = term.split("!=" if neg else "=", 1)
        cur = obj
        for part in field.split("."):
            cur = cur.get(part, {}) if isinstance(cur, dict) else {}
        cur = cur if isinstance(cur, str) else ""
        if (cur == value) == neg:
            return False
    return True


def status(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def discovery(path):
    served = dict(DISCOVERY_ONLY, **RESOURCES)
    if path == "/version":
        return {"major": "1", "minor": "32", "gitVersion": "v1.32.0-shunt-test"}
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
    groups = sorted({gv.split("/")[0] for gv, _, _ in served.values() if "/" in gv})
    if path == "/apis":
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
            {"name": g, "versions": [{"groupVersion": g + "/v1", "version": "v1"}],
             "preferredVersion": {"groupVersion": g + "/v1", "version": "v1"}} for g in groups]}
    gv = "v1" if path == "/api/v1" else path[len("/apis/"):] if path.startswith("/apis/") else None
    if gv is None or not any(v[0] == gv for v in served.values()):
        return None
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": [
        {"name": r, "singularName": k.lower(), "namespaced": n, "kind": k,
         "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]}
        for r, (g, k, n) in served.items() if g == gv]}


def request_attributes(path, watch):
    """(API group, resource, verb) of a request, as RBAC names them."""
    parts = path.strip("/").split("/")
    if len(parts) < 2 or parts[0] not in ("api", "apis"):
        return None
    group = "" if parts[0] == "api" else parts[1]
    rest = parts[2 if parts[0] == "api" else 3:]
    if len(rest) >= 2 and rest[0] == "namespaces" and len(rest) != 2:
        rest = rest[2:]  # namespaced: NS/RES[/NAME]
    if not rest:
        return None
    if len(rest) == 3:  # RES/NAME/SUBRESOURCE
        return group, rest[0] + "/" + rest[2], "get"
    if len(rest) > 1:
        return group, rest[0], "get"
    return group, rest[0], "watch" if watch else "list"


def rbac_allows(rules, group, res, verb, name=None):
    """As RBAC: a rule with resourceNames allows only requests naming one of
    them (so never a list, a watch or a create)."""
    return any((group in r.get("apiGroups", []) or "*" in r.get("apiGroups", []))
               and (res in r.get("resources", []) or "*" in r.get("resources", []))
               and (verb in r.get("verbs", []) or "*" in r.get("verbs", []))
               and (not r.get("resourceNames") or name in r["resourceNames"]) for r in rules)


def parse_object(path):
    """/api/v1[/namespaces/NS]/RES/NAME or /apis/G/V[/namespaces/NS]/RES/NAME -> (res, ns, name)."""
    parts = path.strip("/").split("/")
    rest = parts[2 if parts[0] == "api" else 3:]
    if len(rest) in (4, 5) and rest[0] == "namespaces":
        return rest[2], rest[1], rest[3]
    if len(rest) == 2 and rest[0] != "namespaces":
        return rest[0], None, rest[1]
    return None, None, None


def parse_collection(path):
    """/api/v1[/namespaces/NS]/RES or /apis/G/V[/namespaces/NS]/RES -> (res, ns)."""
    parts = path.strip("/").split("/")
    base = 2 if parts[0] == "api" else 3
    rest = parts[base:]
    if len(rest) == 3 and rest[0] == "namespaces":
        return rest[2], rest[1]
    if len(rest) == 1:
        return rest[0], None
    return None, None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    store = None
    token = None
    rbac_token = None
    client_ca = False
    rbac_rules = None

    def log_message(self, fmt, *args):
        pass

    def send_json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n) or b"{}")

    def authorize(self, url, q, verb=None):
        """None if the request may go on, else the error already answered."""
        auth = self.headers.get("Authorization")
        restricted = self.rbac_token is not None and auth == "Bearer " + self.rbac_token
        # the TLS handshake verified a certificate that was sent
        by_cert = self.client_ca and self.connection.getpeercert()
        if auth != "Bearer " + self.token and not restricted and not by_cert:
            return self.send_json(401, status(401, "Unauthorized", "Unauthorized")) or True
        st = self.store
        if st.faults["response_delay"]:
            time.sleep(st.faults["response_delay"])
        watch = q.get("watch") in ("1", "true")
        attrs = request_attributes(url.path, watch)
        if restricted and attrs:
            group, res, verb = attrs[0], attrs[1], verb or attrs[2]
            allowed = rbac_allows(self.rbac_rules, group, res, verb, parse_object(url.path)[2])
            with st.cond:
                st.requests.append({"resource": res, "group": group, "verb": verb, "allowed": allowed,
                                    "watch": watch, "query": q, "t": time.time()})
            if not allowed:
                scope = " at the cluster scope" if "/namespaces/" not in url.path else ""
                return self.send_json(403, status(403, "Forbidden", (
                    '%s is forbidden: User "system:serviceaccount:shunt-system:shunt-agent" cannot %s '
                    'resource "%s" in API group "%s"%s') % (res, verb, res, group, scope))) or True
        self.restricted = restricted
        return None

    def do_GET(self):
        url = urlparse(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if url.path.startswith("/control/"):
            return self.control_get(url.path)
        disc = discovery(url.path)
        if disc is not None:
            if self.authorize(urlparse("/"), {}) is None:
                self.send_json(200, disc)
            return
        if self.authorize(url, q) is not None:
            return
        st = self.store
        restricted = self.restricted
        watch = q.get("watch") in ("1", "true")
        ores, ons, oname = parse_object(url.path)
        if ores in RESOURCES:
            with st.cond:
                obj = copy.deepcopy(st.objects[ores].get((ons + "/" if ons else "") + oname))
            if obj is None:
                return self.send_json(404, status(404, "NotFound", '%s "%s" not found' % (ores, oname)))
            return self.send_json(200, obj)
        res, ns = parse_collection(url.path)
        if res not in RESOURCES:
            return self.send_json(404, status(404, "NotFound", "the server could not find " + url.path))
        with st.cond:
            if not restricted:
                st.requests.append({"resource": res, "watch": watch, "query": q, "t": time.time()})
        if watch:
            return self.watch(res, ns, q)
        return self.list(res, ns, q)

    def list(self, res, ns, q):
        st = self.store
        limit = int(q.get("limit") or 0)
        if st.faults["page_size"]:  # a server may return fewer items than asked
            limit = min(limit or st.faults["page_size"], st.faults["page_size"])
        with st.cond:
            start = 0
            if q.get("continue"):
                tok = json.loads(base64.b64decode(q["continue"]))
                if tok["rv"] < st.compacted:
                    return self.send_json(410, status(410, "Expired", "the continue token expired"))
                start = tok["start"]
            if st.faults["fail_lists"]:
                st.faults["fail_lists"] -= 1
                return self.send_json(500, status(500, "InternalError", "injected failure"))
            items = [copy.deepcopy(o) for k, o in sorted(st.objects[res].items())
                     if (ns is None or o["metadata"].get("namespace") == ns)
                     and field_match(o, q.get("fieldSelector"))]
            end = start + limit if limit else len(items)
            md = {"resourceVersion": str(st.rv)}
            if end < len(items):
                md["continue"] = base64.b64encode(json.dumps({"rv": st.rv, "start": end}).encode()).decode()
            truncate = (st.faults["truncate_lists"] > 0 and (start or not st.faults["page_size"])
                        and st.faults["truncate_resource"] in ("", res))
            if truncate:
                st.faults["truncate_lists"] -= 1
        gv, kind, _ = RESOURCES[res]
        body = json.dumps({"kind": kind + "List", "apiVersion": gv, "metadata": md,
                           "items": items[start:end]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        delay = st.faults["list_delay"]
        if truncate:  # the server dies half way through the list
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        for i in range(0, len(body), max(1, len(body) // 10)):
            self.wfile.write(body[i:i + max(1, len(body) // 10)])
            self.wfile.flush()
            if delay:
                time.sleep(delay / 10)

    def chunk(self, obj):
        data = (json.dumps(obj) + "\n").encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def watch(self, res, ns, q):
        st = self.store
        gv, kind, _ = RESOURCES[res]
        rv = int(q.get("resourceVersion") or 0)
        bookmarks = q.get("allowWatchBookmarks") == "true"
        deadline = time.time() + int(q.get("timeoutSeconds") or 1800)
        with st.cond:
            gone = rv < st.compacted
            if gone and st.faults["gone_mode"] == "http":
                return self.send_json(410, status(410, "Expired", "too old resource version: %d (%d)" % (rv, st.compacted)))
            disconnects, kicks = st.disconnects, st.kicks
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if gone:
            self.chunk({"type": "ERROR", "object": status(410, "Expired", "too old resource version: %d (%d)" % (rv, st.compacted))})
            return self.end_stream()
        last_bookmark = time.time()
        while True:
            with st.cond:
                events = [(r, t, o) for (r, rr, t, o) in st.history if r > rv and rr == res
                          and (ns is None or o["metadata"].get("namespace") == ns)]
                # A bookmark says "every event up to here was sent": not
                # those made while waiting below (the next round sends them).
                current = st.rv
                if not events:
                    st.cond.wait(0.2)
                if st.disconnects != disconnects:  # cut the connection, no last chunk
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if st.kicks != kicks:
                    self.chunk({"type": "ERROR", "object": status(410, "Expired", "too old resource version")})
                    return self.end_stream()
            for r, t, o in events:
                rv = r
                if field_match(o, q.get("fieldSelector")):
                    self.chunk({"type": t, "object": o})
                    with st.cond:
                        st.served.append({"t": time.time(), "resource": res, "type": t,
                                          "key": st.key(o), "rv": r,
                                          "fieldSelector": q.get("fieldSelector", "")})
            if bookmarks and time.time() - last_bookmark >= st.faults["bookmark_interval"]:
                rv = max(rv, current)
                self.chunk({"type": "BOOKMARK", "object": {"kind": kind, "apiVersion": gv,
                                                           "metadata": {"resourceVersion": str(rv)}}})
                last_bookmark = time.time()
            if time.time() > deadline:
                return self.end_stream()

    def end_stream(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def control_get(self, path):
        st = self.store
        with st.cond:
            if path == "/control/requests":
                return self.send_json(200, st.requests)
            if path == "/control/served":
                return self.send_json(200, st.served)
            if path == "/control/faults":
                return self.send_json(200, st.faults)
            if path == "/control/status_writes":
                return self.send_json(200, st.status_writes)
            if path == "/control/state":
                return self.send_json(200, {"rv": st.rv, "compacted": st.compacted,
                                            "objects": {r: sorted(o) for r, o in st.objects.items()}})
        self.send_json(404, {})

    def create(self, url, data):
        """POST to a collection: the object made (201), or 409 if it is there."""
        if self.authorize(url, {}, "create") is not None:
            return
        st = self.store
        res, ns = parse_collection(url.path)
        if res not in RESOURCES or RESOURCES[res][1] != data.get("kind"):
            return self.send_json(400, status(400, "BadRequest", "not a " + str(res)))
        if ns:
            data.setdefault("metadata", {})["namespace"] = ns
        with st.cond:
            key = (ns + "/" if ns else "") + data["metadata"].get("name", "")
            if key in st.objects[res]:
                return self.send_json(409, status(409, "AlreadyExists", '%s "%s" already exists' % (
                    res, data["metadata"].get("name"))))
            data["metadata"]["creationTimestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            st.upsert(data)
            obj = copy.deepcopy(st.objects[res][key])
            st.save()
            st.cond.notify_all()
        self.send_json(201, obj)

    def do_PUT(self):
        """An update of the status subresource (HTTPRoutes): all that is served."""
        url = urlparse(self.path)
        data = self.body()
        if self.authorize(url, {}, "update") is not None:
            return
        parts = url.path.strip("/").split("/")
        res, ns, name = parse_object(url.path)
        if res != "httproutes" or parts[-1] != "status" or res not in RESOURCES:
            return self.send_json(405, status(405, "MethodNotAllowed", "only httproutes/status is updated here"))
        st = self.store
        with st.cond:
            code, answer = st.put_status(res, ns + "/" + name, data)
            st.status_writes.append({"key": ns + "/" + name, "code": code, "t": time.time(),
                                     "rv": (data.get("metadata") or {}).get("resourceVersion")})
            if code == 200:
                st.save()
            st.cond.notify_all()
        self.send_json(code, answer)

    def do_POST(self):
        url = urlparse(self.path)
        st = self.store
        data = self.body()
        if not url.path.startswith("/control/"):
            return self.create(url, data)
        with st.cond:
            if url.path == "/control/objects":
                for d in data.get("delete", []) if data.get("kind") == "List" else []:
                    st.delete(d["kind"], d.get("namespace"), d["name"])
                for obj in data.get("items", [data]) if data.get("kind") == "List" else [data]:
                    st.upsert(obj)
            elif url.path == "/control/delete":
                if not st.delete(data["kind"], data.get("namespace"), data["name"]):
                    return self.send_json(404, {"deleted": False})
            elif url.path == "/control/compact":
                st.compacted = st.rv + 1
                if data.get("kick"):
                    st.kicks += 1
            elif url.path == "/control/disconnect":
                st.disconnects += 1
            elif url.path == "/control/faults":
                st.faults.update(data)
            elif url.path == "/control/requests/clear":
                st.requests = []
            elif url.path == "/control/status_writes/clear":
                st.status_writes = []
            else:
                return self.send_json(404, {})
            st.save()
            st.cond.notify_all()
            rv = st.rv
        self.send_json(200, {"rv": rv})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--state")
    ap.add_argument("--no-gateway-api", action="store_true", help="no HTTPRoute (404)")
    ap.add_argument("--no-istio", action="store_true", help="no Telemetry (404)")
    ap.add_argument("--rbac", help="a ClusterRole (JSON) whose rules bind --rbac-token")
    ap.add_argument("--rbac-token")
    ap.add_argument("--client-ca", help="a CA whose client certificates authenticate as admin")
    args = ap.parse_args()
    if args.rbac:
        with open(args.rbac) as f:
            Handler.rbac_rules = json.load(f).get("rules") or []
        Handler.rbac_token = args.rbac_token
    if args.no_gateway_api:
        del RESOURCES["httproutes"]
    if args.no_istio:
        del RESOURCES["telemetries"]
    Handler.store = Store(args.state)
    Handler.token = args.token
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    if args.client_ca:
        ctx.verify_mode = ssl.CERT_OPTIONAL  # a token still does without one
        ctx.load_verify_locations(args.client_ca)
        Handler.client_ca = True
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
