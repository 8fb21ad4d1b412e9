#!/usr/bin/python3
"""The real daemon on a net_tap port, driven only by vipctl over the control API.

  * Kubernetes manifests applied with `vipctl apply -f`: the seed service (selector
    app=my-fancy-app,tier=backend, port 80 -> targetPort 8080) and a service whose targetPort is
    a name that two pods expose on different numbers; ClusterIPs allocated from the CIDR;
  * traffic: SYNs from clients reach the selected pods at the right target ports;
  * a relabelled pod leaves the endpoints (vipctl get endpoints) and gets no new connection;
  * apply is idempotent; bad manifests (unknown kind, missing ports, bad address, an address
    outside the service CIDR, a duplicate pod IP, a taken ClusterIP) are refused with clear
    messages and change nothing (the dump is byte for byte the same);
  * delete releases the service; the socket is owner-only.
"""
import os
import stat
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vipgate_harness as h  # noqa: E402

SERVICE_CIDR = "198.18.128.0/20"
FANCY = {"fancy-1": "198.18.0.21", "fancy-2": "198.18.0.22"}
WEB = {"web-1": ("198.18.0.31", 8081), "web-2": ("198.18.0.32", 8082)}

SEED = """\
apiVersion: v1
kind: Service
metadata:
  name: my-internal-backend-api
spec:
  selector:
    app: my-fancy-app
    tier: backend
  ports:
    - protocol: TCP
      port: 80
      targetPort: 8080
"""

NAMED = """\
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app.kubernetes.io/name: web
  ports:
  - name: http
    protocol: TCP
    port: 80
    targetPort: http-web-svc
"""


def fancy_pod(name, address, tier="backend"):
    return f"""\
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels:
    app: my-fancy-app
    tier: {tier}
  annotations:
    vipgate.io/pod-ip: "{address}"
spec:
  containers:
  - name: app
    image: registry.example/app
    ports:
    - containerPort: 8080
"""


def web_pod(name, address, port):
    return f"""\
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels:
    app.kubernetes.io/name: web
  annotations:
    vipgate.io/pod-ip: "{address}"
spec:
  containers:
  - name: nginx
    image: nginx:stable
    ports:
    - containerPort: {port}
      name: http-web-svc
"""


def cluster_ip(vipctl, name):
    for service in h.items(vipctl.json("get", "services")):
        if service["name"] == name:
            return service["cluster_ip"]
    raise h.TestFailure(f"service {name} not listed")


def endpoints_of(vipctl, name):
    for entry in h.items(vipctl.json("get", "endpoints")):
        if entry["name"] == name:
            return sorted((e["address"], e["port"]) for e in entry["endpoints"])
    raise h.TestFailure(f"endpoints of {name} not listed")


def connect(tap, client_port, vip, count=1):
    """SYNs from `count` clients; returns the (endpoint address, port) each was forwarded to."""
    reached = []
    for i in range(count):
        flow = h.TcpFlow(f"198.19.3.{1 + i % 200}", client_port + i, vip, 80, isn=5000 + client_port + i)
        tap.send(flow.syn())
        syn = tap.expect_one(flow.is_forwarded_syn, what=f"SYN to {vip} forwarded")
        from scapy.layers.inet import IP, TCP
        reached.append((syn[IP].dst, syn[TCP].dport))
    return reached


def main(context):
    vipctl_exe = sys.argv[2]
    iface = context.interface_name("ctl")
    neighbors = sorted(list(FANCY.values()) + [a for a, _ in WEB.values()])
    config = h.make_config(context.file_prefix("ctl"), f"net_tap0,iface={iface}", [], neighbors=neighbors)
    config["cluster"] = {"service_cidr": SERVICE_CIDR}
    path = h.write_config(context.path("vipgate.toml"), config)
    socket = context.path("api.sock")
    daemon = context.daemon(path, args=["--api-socket", socket])
    daemon.wait_running()
    daemon.wait_for(r"control API listening")
    h.check(stat.S_IMODE(os.stat(socket).st_mode) == 0o600, "the API socket must be owner-only (0600)")
    tap = context.tap(iface)
    vipctl = h.Vipctl(vipctl_exe, socket)

    # Apply the manifests as an operator would: one multi-document file.
    manifests = "---\n".join([SEED, NAMED] + [fancy_pod(n, a) for n, a in FANCY.items()] +
                             [web_pod(n, a, p) for n, (a, p) in WEB.items()])
    result = vipctl.apply(context, "cluster.yaml", manifests)
    h.check(result.returncode == 0, f"apply failed: {result.stderr}")
    h.check("service/my-internal-backend-api created" in result.stdout, f"apply output: {result.stdout}")
    again = vipctl.apply(context, "cluster.yaml", manifests)
    h.check(again.returncode == 0 and "created" not in again.stdout and "configured" not in again.stdout,
            f"a second apply must change nothing: {again.stdout}")

    seed_ip = cluster_ip(vipctl, "my-internal-backend-api")
    web_ip = cluster_ip(vipctl, "web")
    for address in (seed_ip, web_ip):
        h.check(address.startswith("198.18.12") or address.startswith("198.18.13"),
                f"ClusterIP {address} not allocated from {SERVICE_CIDR}")
    h.check(endpoints_of(vipctl, "my-internal-backend-api") == sorted((a, 8080) for a in FANCY.values()),
            "seed endpoints")
    h.check(endpoints_of(vipctl, "web") == sorted(WEB.values()), "named port resolved per pod")

    reached = connect(tap, 41000, seed_ip, count=24)
    h.check(set(reached) == {(a, 8080) for a in FANCY.values()}, f"seed traffic reached {sorted(set(reached))}")
    reached = connect(tap, 42000, web_ip, count=24)
    h.check(set(reached) == set(WEB.values()), f"named-port traffic reached {sorted(set(reached))}")

    # Relabel fancy-2: it leaves the endpoints, new connections avoid it.
    result = vipctl.apply(context, "relabel.yaml", fancy_pod("fancy-2", FANCY["fancy-2"], tier="frontend"))
    h.check(result.returncode == 0 and "pod/fancy-2 configured" in result.stdout, f"relabel: {result.stdout}")
    h.check(endpoints_of(vipctl, "my-internal-backend-api") == [(FANCY["fancy-1"], 8080)],
            "a relabelled pod must leave the endpoints")
    reached = connect(tap, 43000, seed_ip, count=16)
    h.check(set(reached) == {(FANCY["fancy-1"], 8080)}, f"after relabel traffic reached {sorted(set(reached))}")

    # Bad requests: refused with a message naming the problem; nothing changes.
    before = vipctl.ok("dump")
    bad = {
        "kind.yaml": ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\n", "unsupported kind 'Deployment'"),
        "noports.yaml": ("apiVersion: v1\nkind: Service\nmetadata:\n  name: noports\nspec:\n  selector:\n    a: b\n",
                         "no ports defined"),
        "address.yaml": (SEED.replace("name: my-internal-backend-api", "name: bad-ip").replace(
            "spec:\n", "spec:\n  clusterIP: 198.18.300.1\n"), "198.18.300.1"),
        "outside.yaml": (SEED.replace("name: my-internal-backend-api", "name: outside").replace(
            "spec:\n", "spec:\n  clusterIP: 198.18.200.1\n"), "outside the service CIDR 198.18.128.0/20"),
        "taken.yaml": (SEED.replace("name: my-internal-backend-api", "name: taken").replace(
            "spec:\n", f"spec:\n  clusterIP: {web_ip}\n"), "already allocated to service default/web"),
        "dupip.yaml": (fancy_pod("fancy-3", FANCY["fancy-1"]), "already the address of pod default/fancy-1"),
    }
    for name, (text, message) in bad.items():
        result = vipctl.apply(context, name, text)
        h.check(result.returncode == 1, f"{name}: expected exit status 1, got {result.returncode}")
        h.check(message in result.stderr, f"{name}: expected '{message}' in: {result.stderr}")
    h.check(vipctl.ok("dump") == before, "a refused request changed the running state")

    # Delete releases the service and its address.
    h.check("deleted" in vipctl.ok("delete", "service", "web"), "delete output")
    h.check(all(s["name"] != "web" for s in h.items(vipctl.json("get", "services"))), "web still listed")
    missing = vipctl.run("delete", "service", "web")
    h.check(missing.returncode == 1 and "not found" in missing.stderr, "deleting a missing service must fail")

    status, text = daemon.stop()
    h.check(status == 0, f"vipgate exited with status {status}")
    tap.close()


if __name__ == "__main__":
    h.run_test("vipctl", main, need_tap=True)
