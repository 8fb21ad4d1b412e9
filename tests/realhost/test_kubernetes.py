#!/usr/bin/python3
"""vipgate following a Kubernetes API server, with real clients and backends (issue 16).

The test API server (tests/support/fake_apiserver.py, TLS with a client certificate) serves the
seed manifest (tests/unit/manifests/seed-backend-api.yaml, unchanged) and an EndpointSlice for it,
as the EndpointSlice controller would write it: pods on b1 and b2, port 8080. vipgate runs in the
lab's gateway namespace with only --kubeconfig (no service in its file, nothing applied with
vipctl), the API server reached through a socat bridge into that namespace:
  * the service appears with the API server's ClusterIP, source "kubernetes";
  * curl from c1 to http://<ClusterIP>/ reaches both pods (real nginx backends);
  * 16 keep-alive connections are held open, then the pod on b2 moves to b3 (the slice changes):
    held connections to b1 carry on on b1, new connections reach b1 and b3 and never b2.
"""
import json
import os
import subprocess
import sys
import time

import yaml

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import realhost_harness as r  # noqa: E402
from kubernetes_harness import FakeCluster  # noqa: E402
from lab import servers  # noqa: E402

VIPCTL = sys.argv[2] if len(sys.argv) > 2 else ""
SEED_MANIFEST = os.path.join(r.ROOT, "tests", "unit", "manifests", "seed-backend-api.yaml")
HELD = 16


def seed_slice(lab, pods):
    """The slice the EndpointSlice controller writes for the seed service (unnamed port 8080)."""
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": "my-internal-backend-api-7k2xq",
                     "labels": {"kubernetes.io/service-name": "my-internal-backend-api"}},
        "addressType": "IPv4",
        "ports": [{"name": "", "protocol": "TCP", "port": servers.HTTP_PORT}],
        "endpoints": [{"addresses": [lab.backends[pod]], "conditions": {"ready": True},
                       "targetRef": {"kind": "Pod", "name": f"api-{pod}"}} for pod in pods],
    }


class Vipctl:
    def __init__(self, socket_path):
        self.socket_path = socket_path

    def json(self, *arguments):
        result = subprocess.run([VIPCTL, "--socket", self.socket_path, *arguments, "-o", "json"],
                                capture_output=True, text=True, timeout=30)
        r.check(result.returncode == 0, f"vipctl {' '.join(arguments)}: {result.stderr.strip()}")
        return json.loads(result.stdout)


def wait_for(what, predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.2)
    raise r.TestFailure(f"{what}: not within {timeout:.0f} s (last: {last})")


def endpoint_addresses(vipctl):
    items = vipctl.json("get", "endpoints")["items"]
    seed = [i for i in items if i["name"] == "my-internal-backend-api"]
    return sorted(e["address"] for e in seed[0]["endpoints"]) if seed else None


def main():
    if not VIPCTL or not os.access(VIPCTL, os.X_OK):
        print(f"usage: {sys.argv[0]} VIPGATE VIPCTL")
        sys.exit(2)
    with open(SEED_MANIFEST) as f:
        seed = yaml.safe_load(f)
    state = {}

    def prepare(t):
        t.services = []   # everything comes from the cluster
        workdir = t.gateway.workdir
        state["cluster"] = cluster = FakeCluster(os.path.join(workdir, "cluster"))
        state["socket"] = os.path.join(workdir, "api.sock")
        # vipgate runs in the gateway's namespace, the test API server on the host's loopback: a
        # pair of socats joins 127.0.0.1:PORT in the namespace to it through a Unix socket (TLS
        # passes through untouched, so the kubeconfig's https://127.0.0.1:PORT holds in both).
        bridge = os.path.join(workdir, "apiserver.sock")
        state["bridge"] = subprocess.Popen(["socat", f"UNIX-LISTEN:{bridge},fork",
                                            f"TCP:127.0.0.1:{cluster.api_port}"], stderr=subprocess.DEVNULL)
        wait_for("the host side of the API server bridge", lambda: os.path.exists(bridge), timeout=5)
        t.lab.ns.spawn("gw", ["socat", f"TCP-LISTEN:{cluster.api_port},bind=127.0.0.1,fork,reuseaddr",
                              f"UNIX-CONNECT:{bridge}"])
        t.gateway.arguments = ["--api-socket", state["socket"], "--metrics-address", "",
                               "--kubeconfig", state["cluster"].kubeconfig, "--kube-min-sync-ms", "100"]

    def body(t):
        cluster, vipctl = state["cluster"], Vipctl(state["socket"])
        cluster_ip = cluster.apply("services", seed)["spec"]["clusterIP"]
        cluster.apply("endpointslices", seed_slice(t.lab, ["b1", "b2"]))
        services = wait_for("the seed service in vipctl get services",
                            lambda: [s for s in vipctl.json("get", "services")["items"]
                                     if s["name"] == "my-internal-backend-api"])
        r.check(services[0]["cluster_ip"] == cluster_ip and services[0].get("source") == "kubernetes",
                f"the seed service as vipctl shows it: {services[0]}, expected {cluster_ip} from kubernetes")
        first = [t.lab.backends["b1"], t.lab.backends["b2"]]
        wait_for("the slice's endpoints", lambda: endpoint_addresses(vipctl) == sorted(first))
        spread = r.spread(t.client("connections", cluster_ip, 80, 40))
        r.check(set(spread) == {"b1", "b2"}, f"curl through {cluster_ip} reached {dict(spread)}, expected b1 and b2")
        r.log(f"seed manifest from the API server: {cluster_ip} -> {dict(sorted(spread.items()))}")

        hold = t.hold(cluster_ip, 80, HELD)
        held = [r.backend_of(answer) for answer in hold.first]
        r.check(set(held) <= {"b1", "b2"} and "b1" in held, f"held connections: {held}")
        cluster.apply("endpointslices", seed_slice(t.lab, ["b1", "b3"]))   # the pod on b2 moved to b3
        moved = [t.lab.backends["b1"], t.lab.backends["b3"]]
        wait_for("the moved pod", lambda: endpoint_addresses(vipctl) == sorted(moved))
        now = [r.backend_of(answer) for answer in hold.probe()]
        kept = [i for i, backend in enumerate(held) if backend == "b1"]
        r.check(all(now[i] == "b1" for i in kept), f"held connections on b1 after the move: {now}")
        spread = r.spread(t.client("connections", cluster_ip, 80, 40))
        r.check(set(spread) == {"b1", "b3"}, f"new connections after the move reached {dict(spread)}, "
                                             f"expected b1 and b3")
        r.log(f"pod moved b2 -> b3: {len(kept)} held connections stay on b1; new ones "
              f"{dict(sorted(spread.items()))}")

    try:
        r.run_test("kubernetes", body, backends=3, prepare=prepare)
    finally:
        if "bridge" in state:
            state["bridge"].kill()
            state["bridge"].wait(5)
        if "cluster" in state:
            state["cluster"].kill()


main()
