#!/usr/bin/python3
"""Dual-stack services (docs/ipv6.md, step 6) on the real daemon, driven with vipctl.

The gateway has an IPv4 and an IPv6 service CIDR. An operator applies the Kubernetes
dual-stack docs' manifests (PreferDualStack with no clusterIPs, RequireDualStack with
ipFamilies [IPv6, IPv4], SingleStack IPv6) and two pods with podIPs of both families. Then:
  * `vipctl get services` lists both cluster IPs of the dual-stack services (primary first) and
    says that IPv6 is not served, as no port has an IPv6 address (test_nat66.py serves it); the
    JSON has cluster_ips, ip_families, ipv6;
  * the log says it once per apply, and the metric vipgate_ipv6_cluster_ips_not_served is 3;
  * IPv4 traffic to the dual-stack services still reaches the pods;
  * bad dual-stack input (families that contradict the addresses, an IPv6 address outside the
    IPv6 CIDR, a family twice, a malformed IPv6 address) is refused whole: the dump is unchanged;
  * `vipctl dump` round-trips: a fresh daemon started from the dump dumps the same, shows the
    same addresses and still forwards IPv4.
"""
import os
import sys
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vipgate_harness as h  # noqa: E402

SERVICE_CIDRS = ["198.18.128.0/20", "2001:db8:1::/112"]
PODS = {"app-1": "198.18.0.21", "app-2": "198.18.0.22"}
POD_IPV6 = {"app-1": "2001:db8:2::21", "app-2": "2001:db8:2::22"}
SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "unit", "manifests")
MANIFESTS = ["dual-stack-preferred-svc.yaml", "dual-stack-preferred-ipfamilies-svc.yaml",
             "dual-stack-ipfamilies-ipv6.yaml"]


def pod(name, address):
    """A dual-stack pod as the API server reports it: podIPs of both families, IPv4 first."""
    return f"""\
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels:
    app.kubernetes.io/name: MyApp
spec:
  containers:
  - name: app
    image: registry.example/app
    ports:
    - containerPort: 80
status:
  podIP: {address}
  podIPs:
  - ip: {address}
  - ip: {POD_IPV6[name]}
"""



def services_by_name(vipctl):
    return {s["name"]: s for s in h.items(vipctl.json("get", "services"))}


def connect(tap, client_port, vip, count):
    """SYNs from `count` clients to vip:80; the (endpoint address, port) each was forwarded to."""
    from scapy.layers.inet import IP, TCP
    reached = set()
    for i in range(count):
        flow = h.TcpFlow(f"198.19.4.{1 + i}", client_port + i, vip, 80, isn=9000 + client_port + i)
        tap.send(flow.syn())
        syn = tap.expect_one(flow.is_forwarded_syn, what=f"SYN to {vip} forwarded")
        reached.add((syn[IP].dst, syn[TCP].dport))
    return reached


def check_addresses(vipctl):
    """Both families where asked, primary first, allocated from the CIDRs; returns the services."""
    services = services_by_name(vipctl)
    preferred, v6_first, v6_only = (services[n] for n in ("my-service", "my-service-v6-first", "my-service-v6"))
    h.check(preferred["ip_families"] == ["IPv4", "IPv6"] and preferred["ip_family_policy"] == "PreferDualStack",
            f"my-service: {preferred}")
    h.check(v6_first["ip_families"] == ["IPv6", "IPv4"], f"my-service-v6-first: {v6_first}")
    h.check(v6_only["ip_families"] == ["IPv6"] and len(v6_only["cluster_ips"]) == 1, f"my-service-v6: {v6_only}")
    for service in (preferred, v6_first, v6_only):
        for address in service["cluster_ips"]:
            h.check(address.startswith("198.18.12") or address.startswith("2001:db8:1::"),
                    f"{service['name']}: {address} is not from {SERVICE_CIDRS}")
        h.check(service["cluster_ip"] == service["cluster_ips"][0], f"{service['name']}: primary first")
        h.check(service["ipv6"] == "not served: no port has an IPv6 address", f"{service['name']}: ipv6 field {service['ipv6']}")
    return services


def check_table(vipctl, services):
    """The table an operator reads: every cluster IP, and the note."""
    result = vipctl.run("get", "services")
    h.check(result.returncode == 0, f"vipctl get services: {result.stderr}")
    for service in services.values():
        addresses = ",".join(service["cluster_ips"])
        rows = [line.split() for line in result.stdout.splitlines()]
        h.check(any(service["name"] in row and addresses in row for row in rows),
                f"{service['name']} row lacks {addresses}:\n{result.stdout}")
    h.check("3 service(s) have an IPv6 cluster IP that is not served: no port has an IPv6 address" in result.stderr,
            f"no IPv6 note: {result.stderr}")


def metric(address, name):
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise h.TestFailure(f"metric {name} missing")


def main(context):
    vipctl_exe = sys.argv[2]
    iface = context.interface_name("ds")
    config = h.make_config(context.file_prefix("ds"), f"net_tap0,iface={iface}", [], neighbors=sorted(PODS.values()))
    config["cluster"] = {"service_cidr": SERVICE_CIDRS}
    path = h.write_config(context.path("vipgate.toml"), config)
    api = context.path("api.sock")
    daemon = context.daemon(path, args=["--api-socket", api, "--metrics-address", "127.0.0.1:0"])
    daemon.wait_running()
    metrics = daemon.metrics_address()
    daemon.wait_for(r"control API listening")
    tap = context.tap(iface)
    vipctl = h.Vipctl(vipctl_exe, api)

    documents = []
    for name in MANIFESTS:
        with open(os.path.join(SOURCE, name)) as f:
            documents.append(f.read())
    offset = daemon.log_offset()
    result = vipctl.apply(context, "dual-stack.yaml", "---\n".join(documents + [pod(n, a) for n, a in PODS.items()]))
    h.check(result.returncode == 0, f"apply failed: {result.stderr}")
    h.check("service/my-service-v6-first created" in result.stdout, f"apply output: {result.stdout}")
    daemon.wait_for(r"ipv6: 3 IPv6 cluster IPs configured, not served: no port has an IPv6 address", after=offset)
    h.check(metric(metrics, "vipgate_ipv6_cluster_ips_not_served") == 3, "metric vipgate_ipv6_cluster_ips_not_served")

    services = check_addresses(vipctl)
    pods = {p["name"]: (p["address"], p["address_ipv6"]) for p in h.items(vipctl.json("get", "pods"))}
    h.check(pods == {n: (a, POD_IPV6[n]) for n, a in PODS.items()}, f"pod addresses: {pods}")
    check_table(vipctl, services)
    ipv4 = {name: next(a for a in s["cluster_ips"] if "." in a)
            for name, s in services.items() if "IPv4" in s["ip_families"]}
    expected = {(a, 80) for a in PODS.values()}
    reached = connect(tap, 41000, ipv4["my-service"], 16)
    h.check(reached == expected, f"my-service (IPv4 family) reached {sorted(reached)}")
    reached = connect(tap, 42000, ipv4["my-service-v6-first"], 16)
    h.check(reached == expected, f"my-service-v6-first (IPv4 family) reached {sorted(reached)}")

    before = vipctl.ok("dump")
    head = "apiVersion: v1\nkind: Service\nmetadata:\n  name: bad\nspec:\n  ports: [{port: 81}]\n"
    v6_ip = services["my-service-v6"]["cluster_ips"][0]
    bad = {
        "mismatch.yaml": ("  ipFamilyPolicy: PreferDualStack\n  ipFamilies: [IPv6, IPv4]\n"
                          "  clusterIPs: [198.18.130.1, 2001:db8:1::99]\n", "does not match the cluster IPs"),
        "outside.yaml": ("  clusterIP: 2001:db8:2::1\n", "outside the IPv6 service CIDR 2001:db8:1::/112"),
        "taken.yaml": (f"  clusterIP: {v6_ip}\n", "already allocated to service default/my-service-v6"),
        "twice.yaml": ("  ipFamilyPolicy: RequireDualStack\n  ipFamilies: [IPv6, IPv6]\n", "IPv6 is listed twice"),
        "malformed.yaml": ("  clusterIPs: [2001:db8:1::g]\n", "is not an IPv6 address"),
    }
    for name, (spec, message) in bad.items():
        result = vipctl.apply(context, name, head + spec)
        h.check(result.returncode == 1, f"{name}: expected exit status 1, got {result.returncode}")
        h.check(message in result.stderr, f"{name}: expected '{message}' in: {result.stderr}")
    h.check(vipctl.ok("dump") == before, "a refused request changed the running state")

    # The dump as the config of a fresh daemon: the same state, dumped the same.
    tap.close()
    status, _ = daemon.stop()
    h.check(status == 0, f"vipgate exited with status {status}")
    dumped = h.write_config(context.path("dump.toml"), before)
    fresh = context.daemon(dumped, name="vipgate-fresh", args=["--api-socket", api])
    fresh.wait_running()
    fresh.wait_for(r"control API listening")

    def body(text):
        return [line for line in text.splitlines() if not line.startswith("#")]
    h.check(body(vipctl.ok("dump")) == body(before), "the dump of a daemon started from a dump differs")
    h.check({n: s["cluster_ips"] for n, s in services_by_name(vipctl).items()} ==
            {n: s["cluster_ips"] for n, s in services.items()}, "cluster IPs differ after the round trip")
    tap = context.tap(iface)
    reached = connect(tap, 43000, ipv4["my-service"], 16)
    h.check(reached == expected, f"after the round trip my-service reached {sorted(reached)}")
    status, _ = fresh.stop()
    h.check(status == 0, f"the fresh vipgate exited with status {status}")
    tap.close()


if __name__ == "__main__":
    h.run_test("dual_stack", main, need_tap=True)
