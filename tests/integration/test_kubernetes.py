#!/usr/bin/python3
"""vipgate following a Kubernetes API server (the test server, tests/support/fake_apiserver.py).

The real daemon on a net_tap port runs with --kubeconfig (TLS with a client certificate) and is
read with vipctl, the metrics endpoint and SYNs through the ClusterIP, as an operator would:
  * the documentation's my-service and its slice appear with the API server's ClusterIP, source
    "kubernetes", and traffic reaches the slice's endpoints; the slice changes and traffic follows;
  * service-proxy-name: a service for another proxy is skipped, one for ours taken; a local
    (config file) service of the same name as a cluster service wins (shadowed, source "file");
  * a watch cut mid-stream resumes from the last version (no relist) without losing the change
    made while it was down;
  * 410 Gone, as the HTTP status and as an ERROR event, leads to a relist that deletes the objects
    that vanished without a DELETED event;
  * 10,000 updates of one slice are coalesced into a few publications and every worker forwards
    to the final endpoint;
  * the API server killed: traffic still flows, `get stats` and the metric say disconnected.
"""
import json
import os
import subprocess
import sys
import time
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vipgate_harness as h  # noqa: E402
from kubernetes_harness import MY_SERVICE, FakeCluster, my_service_slice  # noqa: E402

ENDPOINTS = ["198.18.0.21", "198.18.0.22", "198.18.0.23", "198.18.0.24"]
BURST = 10_000
MIN_SYNC_MS = 1000



def wait_until(what, predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.1)
    raise h.TestFailure(f"{what}: not within {timeout} s (last: {last})")


def service(name, labels=None, port=80):
    obj = json.loads(json.dumps(MY_SERVICE))
    obj["metadata"] = {"name": name, **({"labels": labels} if labels else {})}
    obj["spec"]["ports"][0]["port"] = port
    return obj


class Gateway:
    def __init__(self, vipctl, metrics_address):
        self.vipctl = vipctl
        self.metrics_address = metrics_address

    def services(self):
        return {s["name"]: s for s in h.items(self.vipctl.json("get", "services", "-A"))}

    def endpoints(self, name):
        for entry in h.items(self.vipctl.json("get", "endpoints", "-A")):
            if entry["name"] == name:
                return sorted((e["address"], e["port"]) for e in entry["endpoints"])
        return None

    def stats(self):
        return json.loads(self.vipctl.ok("get", "stats", "-o", "json"))

    def kubernetes(self):
        return self.stats()["kubernetes"]

    def metric(self, name):
        with urllib.request.urlopen(f"http://{self.metrics_address}/metrics", timeout=10) as response:
            for line in response.read().decode().splitlines():
                if line.startswith(name + " ") or line.startswith(name + "{"):
                    return float(line.rsplit(" ", 1)[1])
        return None


def connect(tap, client_port, vip, count=1):
    """SYNs from `count` clients to vip:80; the (address, port) each was forwarded to."""
    from scapy.layers.inet import IP, TCP
    reached = []
    for i in range(count):
        flow = h.TcpFlow(f"198.19.4.{1 + i % 200}", client_port + i, vip, 80, isn=9000 + client_port + i)
        tap.send(flow.syn())
        syn = tap.expect_one(flow.is_forwarded_syn, what=f"SYN to {vip} forwarded")
        reached.append((syn[IP].dst, syn[TCP].dport))
    return reached


def main(context):
    vipctl_exe = sys.argv[2]
    cluster = FakeCluster(context.path("cluster"))
    try:
        run(context, vipctl_exe, cluster)
    finally:
        cluster.kill()


def run(context, vipctl_exe, cluster):
    # A kubeconfig that cannot be read stops the start-up with the reason, before any port.
    bad = context.path("missing-kubeconfig")
    refused = subprocess.run([context.exe, "--kubeconfig", bad, "--api-socket", "", "--metrics-address", ""],
                               capture_output=True, text=True, timeout=30)
    h.check(refused.returncode != 0 and "cannot read the kubeconfig " + bad in refused.stdout + refused.stderr,
            f"a missing kubeconfig: status {refused.returncode}, {refused.stdout}{refused.stderr}")
    api_ip = cluster.apply("services", MY_SERVICE)["spec"]["clusterIP"]  # allocated by the API server
    cluster.apply("endpointslices", my_service_slice(ENDPOINTS[:2]))
    cluster.apply("services", service("other-proxy", {"service.kubernetes.io/service-proxy-name": "cilium"}, 81))
    cluster.apply("services", service("our-proxy", {"service.kubernetes.io/service-proxy-name": "vipgate"}, 82))
    cluster.apply("services", service("doomed", port=83))
    cluster.apply("services", service("shadowed", port=84))

    iface = context.interface_name("k8s")
    config = h.make_config(context.file_prefix("k8s"), f"net_tap0,iface={iface}", [], neighbors=ENDPOINTS)
    # A local service with a cluster service's name: the file wins.
    config["services"] = [{"name": "shadowed", "cluster_ip": "198.18.200.1",
                           "ports": [{"port": 80, "protocol": "TCP"}],
                           "endpoints": [{"address": ENDPOINTS[3]}]}]
    path = h.write_config(context.path("vipgate.toml"), config)
    api_socket = context.path("api.sock")
    daemon = context.daemon(path, args=["--api-socket", api_socket, "--metrics-address", "127.0.0.1:0",
                                        "--kubeconfig", cluster.kubeconfig, "--kube-proxy-name", "vipgate",
                                        "--kube-min-sync-ms", str(MIN_SYNC_MS)])
    daemon.wait_running()
    metrics_address = daemon.metrics_address()
    daemon.wait_for(r"kubernetes: sync of", timeout=20)
    tap = context.tap(iface)
    gateway = Gateway(h.Vipctl(vipctl_exe, api_socket), metrics_address)

    # Appear: the API server's ClusterIP, the slice's endpoints, the source.
    services = wait_until("my-service listed", lambda: (s := gateway.services()) and "my-service" in s and s)
    mine = services["my-service"]
    h.check(mine["cluster_ip"] == api_ip, f"ClusterIP {mine['cluster_ip']}, the API server's is {api_ip}")
    h.check(mine["source"] == "kubernetes", f"my-service source: {mine['source']}")
    h.check("other-proxy" not in services, "a service labelled for another proxy was taken")
    h.check(services["our-proxy"]["source"] == "kubernetes", "a service labelled for our proxy name was skipped")
    h.check(services["shadowed"]["source"] == "file" and services["shadowed"]["cluster_ip"] == "198.18.200.1",
            f"the local service did not win: {services['shadowed']}")
    table = gateway.vipctl.ok("get", "services")
    h.check("kubernetes" in table and "file" in table, "vipctl get services shows no SOURCE:\n" + table)
    h.check(gateway.endpoints("my-service") == [(a, 9376) for a in ENDPOINTS[:2]],
            f"endpoints: {gateway.endpoints('my-service')}")
    status = gateway.kubernetes()
    h.check(status["connected"] and status["shadowed"] >= 1 and status["skipped"] >= 1, f"status: {status}")
    reached = connect(tap, 30000, api_ip, count=8)
    h.check({a for a, _ in reached} <= set(ENDPOINTS[:2]) and {p for _, p in reached} == {9376},
            f"traffic to {api_ip}:80 went to {reached}")
    h.log(f"my-service {api_ip}: endpoints {ENDPOINTS[:2]}, SYNs reached {sorted(set(reached))}")

    # Change: the slice moves to another endpoint; the delay from the change to vipctl seeing it,
    # after a quiet period (no sync for min-sync: the change is synced at once).
    time.sleep(MIN_SYNC_MS / 1000)
    started = time.monotonic()
    cluster.apply("endpointslices", my_service_slice([ENDPOINTS[2]]))
    wait_until("slice change", lambda: gateway.endpoints("my-service") == [(ENDPOINTS[2], 9376)])
    seen_after = time.monotonic() - started
    h.check(set(connect(tap, 31000, api_ip, count=4)) == {(ENDPOINTS[2], 9376)}, "traffic did not follow the slice")
    h.log(f"slice change visible in vipctl after {seen_after * 1000:.0f} ms; "
          f"sync delay {gateway.kubernetes()['sync_delay_ms']}")

    # A bookmark moves the version a resumed watch starts from, without an event.
    events = gateway.kubernetes()["events"]
    cluster.apply("services", service("bookmark-mover", port=86))  # events the slices watch does not see
    cluster.delete("services", "bookmark-mover")
    wait_until("the mover's events", lambda: gateway.kubernetes()["events"] >= events + 2)
    cluster.control("/bookmark")
    version = str(cluster.state()["resource_version"])
    wait_until("bookmark version taken", lambda: gateway.kubernetes()["endpointslices"]["resource_version"] == version)

    # A watch cut mid-stream: the change made while it is down arrives, with no relist.
    lists_before = gateway.kubernetes()["lists"]
    cluster.control("/cut")
    cluster.apply("services", service("during-cut", port=85))
    wait_until("service created during the cut", lambda: "during-cut" in gateway.services())
    status = gateway.kubernetes()
    h.check(status["lists"] == lists_before, f"the cut watch was relisted, not resumed: {status}")
    h.check(status["reconnects"] >= 1 and status["last_error"], f"the cut is not reported: {status}")
    resumed = [r for r in cluster.state()["requests"] if "watch=1" in r and "/services" in r]
    h.check(len(resumed) >= 2 and "resourceVersion=" in resumed[-1], f"watch requests: {resumed}")
    wait_until("connected again", lambda: gateway.kubernetes()["connected"])
    h.log(f"cut watch resumed: {resumed[-1]}")

    # Disappear through events: a service, and a second slice of my-service.
    cluster.delete("services", "during-cut")
    wait_until("deleted service gone", lambda: "during-cut" not in gateway.services())
    cluster.apply("endpointslices", my_service_slice([ENDPOINTS[3]], name="my-service-def"))
    both = sorted([(ENDPOINTS[2], 9376), (ENDPOINTS[3], 9376)])
    wait_until("second slice", lambda: gateway.endpoints("my-service") == both)
    cluster.delete("endpointslices", "my-service-def")
    wait_until("second slice deleted", lambda: gateway.endpoints("my-service") == [(ENDPOINTS[2], 9376)])

    # 410 as the HTTP status on resume: `doomed` vanished without an event; the relist deletes it.
    gone_before = gateway.kubernetes()["gone"]
    cluster.control("/compact", {"mode": "status", "forget": [{"resource": "services", "name": "doomed"}]})
    wait_until("relist after HTTP 410 deletes doomed", lambda: "doomed" not in gateway.services())
    status = gateway.kubernetes()
    h.check(status["gone"] > gone_before and status["lists"] > lists_before, f"no relist counted: {status}")
    h.check("my-service" in gateway.services(), "the relist deleted a service that is still there")
    # 410 as an ERROR event in an open watch: the slice vanished; my-service loses its endpoints.
    wait_until("watching again", lambda: gateway.kubernetes()["connected"])
    gone_before = gateway.kubernetes()["gone"]
    cluster.control("/compact", {"mode": "event",
                                 "forget": [{"resource": "endpointslices", "name": "my-service-abc"}]})
    wait_until("relist after ERROR 410 deletes the slice", lambda: gateway.endpoints("my-service") == [])
    h.check(gateway.kubernetes()["gone"] > gone_before, "the ERROR event's 410 is not counted")
    h.log("410 (status and ERROR event): relists deleted what vanished")

    # Burst: 10,000 updates of one slice; few publications; the workers end on the last address.
    cluster.apply("endpointslices", my_service_slice([ENDPOINTS[0]]))
    wait_until("slice back", lambda: gateway.endpoints("my-service") == [(ENDPOINTS[0], 9376)])
    wait_until("watching again", lambda: gateway.kubernetes()["connected"])
    before = gateway.stats()
    started = time.monotonic()
    cluster.control("/burst", {"name": "my-service-abc", "count": BURST, "addresses": ENDPOINTS})
    final = ENDPOINTS[(BURST - 1) % len(ENDPOINTS)]
    wait_until("final state of the burst", lambda: gateway.kubernetes()["events"] - before["kubernetes"]["events"]
               >= BURST and gateway.endpoints("my-service") == [(final, 9376)], timeout=60)
    elapsed = time.monotonic() - started
    time.sleep(MIN_SYNC_MS / 1000 * 1.5)  # a sync still pending would show now
    after = gateway.stats()
    publications = after["kubernetes"]["publications"] - before["kubernetes"]["publications"]
    syncs = after["kubernetes"]["syncs"] - before["kubernetes"]["syncs"]
    generations = after["generation"] - before["generation"]
    h.check(gateway.endpoints("my-service") == [(final, 9376)], "the burst's final state did not stay")
    h.check(1 <= publications <= syncs <= elapsed / (MIN_SYNC_MS / 1000) + 2,
            f"{syncs} syncs, {publications} publications for {BURST} updates in {elapsed:.1f} s: not coalesced")
    h.check(generations == publications, f"{generations} generations but {publications} publications")
    h.check(set(connect(tap, 32000, api_ip, count=8)) == {(final, 9376)}, "the workers do not use the final state")
    h.log(f"burst of {BURST} slice updates: {syncs} syncs, {publications} publications in {elapsed:.2f} s, "
          f"sync delay {after['kubernetes']['sync_delay_ms']}")

    # The API server goes away: the dataplane keeps serving, the state says disconnected.
    h.check(gateway.metric("vipgate_kubernetes_connected") == 1, "metric: not connected before the kill")
    cluster.kill()
    wait_until("disconnected", lambda: not gateway.kubernetes()["connected"])
    status = gateway.kubernetes()
    h.check(status["last_error"], f"no error reported: {status}")
    h.check(gateway.metric("vipgate_kubernetes_connected") == 0, "metric: still connected")
    text = gateway.vipctl.ok("get", "stats")
    h.check("DISCONNECTED (serving the last state)" in text, "vipctl get stats does not say disconnected:\n" + text)
    h.check(set(connect(tap, 33000, api_ip, count=8)) == {(final, 9376)}, "traffic stopped with the API server")
    h.check("my-service" in gateway.services(), "objects were dropped with the API server")
    h.log(f"API server killed: still forwarding; last error: {status['last_error']}")
    tap.close()
    exit_status, text = daemon.stop()
    h.check(exit_status == 0, f"vipgate exited with {exit_status}")


if __name__ == "__main__":
    h.run_test("kubernetes", main, need_tap=True)
