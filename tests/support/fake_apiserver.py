#!/usr/bin/python3
"""A test Kubernetes API server for v1 Services and discovery.k8s.io/v1 EndpointSlices.

No kube-apiserver can be installed on the test machines, so this speaks the parts of the real
protocol that a client following these two resources uses, close enough that kubectl itself
can `get` and `get --watch` from it (the tests check that):

  * discovery: /version, /api, /apis, /api/v1, /apis/discovery.k8s.io/v1;
  * list: GET .../services (all namespaces or /namespaces/NS/...), items without kind (as the real
    server), metadata.resourceVersion of the list; labelSelector (k=v, k!=v, k, !k) and
    fieldSelector (metadata.name, metadata.namespace);
  * watch: ?watch=1&resourceVersion=RV: a chunked stream of JSON events, one per line (ADDED,
    MODIFIED, DELETED, BOOKMARK with allowWatchBookmarks, ERROR); every event after RV, or the
    current objects as ADDED when RV is absent or "0"; a version older than the compaction floor
    gives 410 Gone, as the HTTP status or as an ERROR event (as the watch cache does);
    timeoutSeconds honoured;
  * TLS that requires a client certificate signed by the test CA.

Like the real server it fills in what a create adds: namespace "default", uid,
resourceVersion, creationTimestamp, and for a Service type ClusterIP, sessionAffinity None and a
ClusterIP from 198.18.128.0/17 (unless given).

A control endpoint (plain HTTP, loopback) lets a test change the cluster:
  POST /apply   {"resource": "services"|"endpointslices", "object": {...}}  -> ADDED or MODIFIED
  POST /delete  {"resource": ..., "namespace": ..., "name": ...}            -> DELETED
  POST /burst   {"namespace", "name", "count", "addresses": [...]}: `count` MODIFIED events of one
                EndpointSlice, the i-th with its first endpoint's address set to addresses[i % n]
  POST /cut     every open watch stops mid-chunk (the connection is closed abruptly)
  POST /compact {"mode": "status"|"event", "forget": [{"resource", "namespace", "name"}]}: the
                forgotten objects vanish without a DELETED event (lost to compaction) and nothing
                before now can be resumed: with "status" open watches are cut and their resume
                gets HTTP 410; with "event" they receive an ERROR 410 event
  POST /bookmark  open watches that asked for bookmarks receive one
  GET  /state   {"resource_version", "watches", "requests": [...paths...]}
On start it prints one line "READY API_PORT CONTROL_PORT" and then serves until killed.
"""
import argparse
import copy
import json
import socket
import ssl
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

RESOURCES = {
    "services": {"kind": "Service", "list_kind": "ServiceList", "api_version": "v1", "group": "",
                 "prefix": "/api/v1", "short": ["svc"]},
    "endpointslices": {"kind": "EndpointSlice", "list_kind": "EndpointSliceList",
                       "api_version": "discovery.k8s.io/v1", "group": "discovery.k8s.io",
                       "prefix": "/apis/discovery.k8s.io/v1", "short": []},
}


class Cluster:
    """Objects, the event log and the compaction floor, under one condition variable."""

    def __init__(self):
        self.cond = threading.Condition()
        self.version = 1000
        self.floor = 0           # a watch from a version below this gets 410
        self.objects = {name: {} for name in RESOURCES}   # resource -> (ns, name) -> object
        self.log = []            # (version, resource, type, object)
        self.cut_generation = 0
        self.gone_generation = 0
        self.bookmark_generation = 0
        self.watches = 0
        self.requests = []
        self.next_ip = 10

    def _stamp(self, resource, obj, existing):
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        meta.setdefault("namespace", "default")
        meta["uid"] = existing["metadata"]["uid"] if existing else str(uuid.uuid4())
        meta["creationTimestamp"] = (existing["metadata"]["creationTimestamp"] if existing
                                     else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        self.version += 1
        meta["resourceVersion"] = str(self.version)
        obj["kind"] = RESOURCES[resource]["kind"]
        obj["apiVersion"] = RESOURCES[resource]["api_version"]
        if resource == "services":
            spec = obj.setdefault("spec", {})
            spec.setdefault("type", "ClusterIP")
            spec.setdefault("sessionAffinity", "None")
            if spec.get("type") != "ExternalName" and "clusterIP" not in spec:
                if existing and "clusterIP" in existing.get("spec", {}):
                    spec["clusterIP"] = existing["spec"]["clusterIP"]
                else:
                    spec["clusterIP"] = "198.18.%d.%d" % (128 + self.next_ip // 250, self.next_ip % 250 + 1)
                    self.next_ip += 1
                spec["clusterIPs"] = [spec["clusterIP"]]
        return obj

    def _record(self, resource, kind, obj):
        self.log.append((self.version, resource, kind, obj))
        self.cond.notify_all()

    def apply(self, resource, obj):
        with self.cond:
            meta = obj.get("metadata", {})
            key = (meta.get("namespace", "default"), meta["name"])
            existing = self.objects[resource].get(key)
            stamped = self._stamp(resource, obj, existing)
            self.objects[resource][key] = stamped
            self._record(resource, "MODIFIED" if existing else "ADDED", stamped)
            return stamped

    def delete(self, resource, namespace, name):
        with self.cond:
            obj = self.objects[resource].pop((namespace, name), None)
            if obj is None:
                return False
            self.version += 1
            obj = copy.deepcopy(obj)
            obj["metadata"]["resourceVersion"] = str(self.version)
            self._record(resource, "DELETED", obj)
            return True

    def burst(self, namespace, name, count, addresses):
        with self.cond:
            for i in range(count):
                existing = self.objects["endpointslices"][(namespace, name)]
                obj = copy.deepcopy(existing)
                obj["endpoints"][0]["addresses"] = [addresses[i % len(addresses)]]
                stamped = self._stamp("endpointslices", obj, existing)
                self.objects["endpointslices"][(namespace, name)] = stamped
                self.log.append((self.version, "endpointslices", "MODIFIED", stamped))
            self.cond.notify_all()

    def compact(self, forget, cut):
        """Objects in `forget` vanish without a DELETED event (lost to compaction), then nothing
        before now can be resumed. `cut`: open watches are cut (their resume gets 410), else
        they receive an ERROR 410 event."""
        with self.cond:
            for item in forget:
                self.objects[item["resource"]].pop((item.get("namespace", "default"), item["name"]), None)
            self.version += 1
            self.floor = self.version
            self.log = []
            if cut:
                self.cut_generation += 1
            else:
                self.gone_generation += 1
            self.cond.notify_all()


def parse_label_selector(text):
    requirements = []
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        if "!=" in part:
            key, value = part.split("!=", 1)
            requirements.append(lambda labels, k=key, v=value: labels.get(k) != v)
        elif "=" in part:
            key, value = part.split("=", 1)
            key = key.rstrip("=")
            value = value.lstrip("=")
            requirements.append(lambda labels, k=key, v=value: labels.get(k) == v)
        elif part.startswith("!"):
            requirements.append(lambda labels, k=part[1:]: k not in labels)
        else:
            requirements.append(lambda labels, k=part: k in labels)
    return lambda obj: all(r(obj.get("metadata", {}).get("labels") or {}) for r in requirements)


def parse_field_selector(text):
    requirements = []
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        negate = "!=" in part
        field, value = part.split("!=" if negate else "=", 1)
        value = value.lstrip("=")
        path = field.rstrip("=").split(".")

        def get(obj, path=path):
            for step in path:
                obj = obj.get(step, {}) if isinstance(obj, dict) else {}
            return obj if isinstance(obj, str) else ""
        requirements.append(lambda obj, g=get, v=value, n=negate: (g(obj) != v) if n else (g(obj) == v))
    return lambda obj: all(r(obj) for r in requirements)


def status_json(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


class ApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    cluster = None

    def log_message(self, fmt, *args):
        pass

    def send_json(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def discovery(self, path):
        if path == "/version":
            return {"major": "1", "minor": "29", "gitVersion": "v1.29.0-fake", "platform": "linux/amd64"}
        if path == "/api":
            return {"kind": "APIVersions", "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}
        if path == "/apis":
            version = {"groupVersion": "discovery.k8s.io/v1", "version": "v1"}
            return {"kind": "APIGroupList", "apiVersion": "v1",
                    "groups": [{"name": "discovery.k8s.io", "versions": [version], "preferredVersion": version}]}
        for name, info in RESOURCES.items():
            if path == info["prefix"]:
                return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": info["api_version"],
                        "resources": [{"name": name, "singularName": info["kind"].lower(), "namespaced": True,
                                       "kind": info["kind"], "verbs": ["get", "list", "watch"],
                                       "shortNames": info["short"]}]}
        return None

    def route(self, path):
        """(resource, namespace or None, name or None) for an object path, else None."""
        for name, info in RESOURCES.items():
            prefix = info["prefix"]
            if not path.startswith(prefix + "/"):
                continue
            parts = path[len(prefix) + 1:].split("/")
            if parts[0] == name and len(parts) <= 2:
                return name, None, parts[1] if len(parts) == 2 else None
            if parts[0] == "namespaces" and len(parts) >= 3 and parts[2] == name and len(parts) <= 4:
                return name, parts[1], parts[3] if len(parts) == 4 else None
        return None

    def do_GET(self):
        url = urlparse(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        with self.cluster.cond:
            self.cluster.requests.append(self.path)
        found = self.discovery(url.path.rstrip("/") or "/")
        if found is not None:
            return self.send_json(200, found)
        route = self.route(url.path)
        if route is None:
            return self.send_json(404, status_json(404, "NotFound", "the server could not find the requested resource"))
        resource, namespace, name = route
        labels = parse_label_selector(query.get("labelSelector"))
        fields = parse_field_selector(query.get("fieldSelector"))

        def selected(obj):
            meta = obj["metadata"]
            return ((namespace is None or meta["namespace"] == namespace) and
                    (name is None or meta["name"] == name) and labels(obj) and fields(obj))

        if query.get("watch") in ("1", "true"):
            return self.watch(resource, selected, query)
        with self.cluster.cond:
            if name is not None:
                obj = self.cluster.objects[resource].get((namespace or "default", name))
                if obj is None:
                    return self.send_json(404, status_json(404, "NotFound", '%s "%s" not found' % (resource, name)))
                return self.send_json(200, obj)
            items = []
            for obj in self.cluster.objects[resource].values():
                if selected(obj):
                    item = copy.deepcopy(obj)
                    del item["kind"], item["apiVersion"]   # list items carry no kind, as the real server's
                    items.append(item)
            body = {"kind": RESOURCES[resource]["list_kind"], "apiVersion": RESOURCES[resource]["api_version"],
                    "metadata": {"resourceVersion": str(self.cluster.version)}, "items": items}
        self.send_json(200, body)

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def watch(self, resource, selected, query):
        cluster = self.cluster
        bookmarks = query.get("allowWatchBookmarks") in ("1", "true")
        timeout = float(query.get("timeoutSeconds", "1800"))
        version = query.get("resourceVersion", "")
        with cluster.cond:
            start = int(version) if version not in ("", "0") else None
            if start is not None and start < cluster.floor:
                gone = status_json(410, "Expired", "too old resource version: %d (%d)" % (start, cluster.floor))
                if cluster_gone_mode[0] == "status":
                    return self.send_json(410, gone)
                pending = [json.dumps({"type": "ERROR", "object": gone}).encode() + b"\n"]
                start = None
                ended = True
            else:
                pending = []
                ended = False
                if start is None:
                    for obj in cluster.objects[resource].values():
                        if selected(obj):
                            pending.append(json.dumps({"type": "ADDED", "object": obj}).encode() + b"\n")
                    start = cluster.version
            cursor = start
            cut = cluster.cut_generation
            gone_generation = cluster.gone_generation
            bookmark_generation = cluster.bookmark_generation
            cluster.watches += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        deadline = time.monotonic() + timeout
        try:
            for line in pending:
                self.chunk(line)
            while not ended:
                with cluster.cond:
                    while True:
                        if cluster.cut_generation != cut:
                            # Half a chunk, then the connection goes: a stream cut mid-event.
                            self.wfile.write(b"40\r\n{\"type\":\"MODIF")
                            self.wfile.flush()
                            self.connection.shutdown(socket.SHUT_RDWR)
                            self.close_connection = True
                            return
                        if cluster.gone_generation != gone_generation:
                            gone = status_json(410, "Expired", "too old resource version: %d (%d)" %
                                               (cursor, cluster.floor))
                            pending = [json.dumps({"type": "ERROR", "object": gone}).encode() + b"\n"]
                            ended = True
                            break
                        if bookmarks and cluster.bookmark_generation != bookmark_generation:
                            bookmark_generation = cluster.bookmark_generation
                            kind = RESOURCES[resource]
                            pending = [json.dumps({"type": "BOOKMARK", "object": {
                                "kind": kind["kind"], "apiVersion": kind["api_version"],
                                "metadata": {"resourceVersion": str(cluster.version)}}}).encode() + b"\n"]
                            cursor = cluster.version
                            break
                        fresh = [entry for entry in cluster.log if entry[0] > cursor and entry[1] == resource]
                        if fresh:
                            cursor = fresh[-1][0]
                            pending = [json.dumps({"type": kind, "object": obj}).encode() + b"\n"
                                       for _, _, kind, obj in fresh if selected(obj)]
                            break
                        left = deadline - time.monotonic()
                        if left <= 0:
                            ended = True
                            pending = []
                            break
                        cluster.cond.wait(min(left, 0.5))
                for line in pending:
                    self.chunk(line)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True
        finally:
            with cluster.cond:
                cluster.watches -= 1


cluster_gone_mode = ["status"]


class ControlHandler(BaseHTTPRequestHandler):
    cluster = None

    def log_message(self, fmt, *args):
        pass

    def reply(self, body, code=200):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        with self.cluster.cond:
            self.reply({"resource_version": self.cluster.version, "watches": self.cluster.watches,
                        "requests": list(self.cluster.requests)})

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        cluster = self.cluster
        if self.path == "/apply":
            return self.reply(cluster.apply(body["resource"], body["object"]))
        if self.path == "/delete":
            return self.reply({"deleted": cluster.delete(body["resource"], body.get("namespace", "default"),
                                                         body["name"])})
        if self.path == "/burst":
            cluster.burst(body.get("namespace", "default"), body["name"], body["count"], body["addresses"])
            return self.reply({"resource_version": cluster.version})
        if self.path == "/cut":
            with cluster.cond:
                cluster.cut_generation += 1
                cluster.cond.notify_all()
            return self.reply({})
        if self.path == "/compact":
            cluster_gone_mode[0] = body.get("mode", "status")
            cluster.compact(body.get("forget", []), cluster_gone_mode[0] == "status")
            return self.reply({"floor": cluster.floor})
        if self.path == "/bookmark":
            with cluster.cond:
                cluster.bookmark_generation += 1
                cluster.cond.notify_all()
            return self.reply({})
        self.reply({"error": "unknown path " + self.path}, 404)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cert-dir", required=True, help="ca.pem, server.pem, server-key.pem")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--control-port", type=int, default=0)
    args = parser.parse_args()
    cluster = Cluster()
    ApiHandler.cluster = cluster
    ControlHandler.cluster = cluster
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert_dir + "/server.pem", args.cert_dir + "/server-key.pem")
    context.load_verify_locations(args.cert_dir + "/ca.pem")
    context.verify_mode = ssl.CERT_REQUIRED
    api = ThreadingHTTPServer(("127.0.0.1", args.port), ApiHandler)
    api.daemon_threads = True
    api.socket = context.wrap_socket(api.socket, server_side=True)
    control = ThreadingHTTPServer(("127.0.0.1", args.control_port), ControlHandler)
    control.daemon_threads = True
    threading.Thread(target=control.serve_forever, daemon=True).start()
    print("READY %d %d" % (api.server_address[1], control.server_address[1]), flush=True)
    api.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
