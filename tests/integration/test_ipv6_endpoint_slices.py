#!/usr/bin/python3
"""IPv6 EndpointSlices and a service's own IPv6 endpoints (docs/ipv6.md, step 6) on the real
daemon: a net_tap port with 198.18.0.1/24, 198.18.2.1/24, 2001:db8::1/64, 2001:db8:2::1/64 and the
SNAT6 address 2001:db8::2, both service CIDRs, a [dns] address, and the test Kubernetes API
server (tests/support/fake_apiserver.py) behind --kubeconfig.

  * Through the API: `vipctl apply -f tests/unit/manifests/endpoint-slice-ipv6.yaml` (the
    EndpointSlice documentation's example for both address types, its Service PreferDualStack).
    IPv6 SYNs from 2001:db8::10 to the service's IPv6 cluster IP all reach [2001:db8:2::3]:80
    (the slice's ready endpoint; ::4 is serving-terminating and takes nothing while ::3 is ready)
    from the SNAT6 address, and IPv4 SYNs to its IPv4 cluster IP reach the IPv4 slice's
    198.18.2.3:80. `vipctl get endpoints -o json` lists both IPv6 endpoints and counts the
    connections of ::3; the table shows [2001:db8:2::3]:80; `vipctl get services` counts the
    endpoints of both families.
  * A service's own `endpoints` of both families (TOML, vipctl apply): each family's traffic
    reaches its own endpoint; an IPv6 endpoint on an IPv4-only service is refused naming the
    field, and nothing changes.
  * Through the Kubernetes watch: an IPv6 single-stack Service and its IPv6 slice created in the
    API server; SYNs reach the slice's endpoint at the slice's port, and follow the slice when it
    moves to another endpoint.
  * Headless: a headless service with an IPv6 slice; the gateway's DNS answers an AAAA query
    (sent as a client would, through the port) with the slice's address.
  * `vipctl dump`: address_type = "IPv6" and the IPv6 endpoints; a fresh daemon started from
    the dump dumps the same and still forwards IPv6 to the slice's endpoint.
"""
import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vipgate_harness as h  # noqa: E402
from kubernetes_harness import FakeCluster  # noqa: E402

MANIFEST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "unit", "manifests",
                        "endpoint-slice-ipv6.yaml")
SERVICE_CIDRS = ["198.18.128.0/20", "2001:db8:1::/112"]
GATEWAY6, SNAT6, CLIENT6 = "2001:db8::1", "2001:db8::2", "2001:db8::10"
CLIENT_MAC = "02:00:00:00:06:10"
DNS_ADDRESS = "198.18.128.53"
SLICE6 = ["2001:db8:2::3", "2001:db8:2::4"]  # the manifest's IPv6 endpoints
SLICE4 = "198.18.2.3"
OWN4, OWN6 = "198.18.2.10", "2001:db8:2::10"  # a service's own endpoints
KUBE6 = ["2001:db8:2::5", "2001:db8:2::6"]    # endpoints of the slice in the API server
HEADLESS6 = "2001:db8:2::7"
KUBE_VIP6 = "2001:db8:1::50"
NEIGHBORS6 = SLICE6 + [OWN6] + KUBE6 + [HEADLESS6]

OWN_ENDPOINTS = f"""
[[services]]
name = "own"
ip_family_policy = "RequireDualStack"
ports = [{{ name = "http", port = 80, target_port = 8080 }}]
endpoints = [{{ address = "{OWN4}" }}, {{ address = "{OWN6}" }}]
"""

HEADLESS = f"""
[[services]]
name = "peers"
cluster_ip = "None"
ports = [{{ name = "gossip", protocol = "UDP", port = 7946 }}]

[[endpoint_slices]]
name = "peers-six"
service = "peers"
address_type = "IPv6"
ports = [{{ name = "gossip", protocol = "UDP", port = 7946 }}]
endpoints = [{{ address = "{HEADLESS6}", hostname = "peer-a" }}]
"""

KUBE_SERVICE = {
    "apiVersion": "v1", "kind": "Service", "metadata": {"name": "kube6"},
    "spec": {"clusterIP": KUBE_VIP6, "clusterIPs": [KUBE_VIP6], "ipFamilies": ["IPv6"],
             "ipFamilyPolicy": "SingleStack", "ports": [{"protocol": "TCP", "port": 80, "targetPort": 9376}]},
}


def kube_slice(address):
    """As the EndpointSlice controller writes the IPv6 slice of kube6 (port unnamed, as the Service's)."""
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "kube6-abc", "labels": {"kubernetes.io/service-name": "kube6"}},
        "addressType": "IPv6",
        "ports": [{"name": "", "protocol": "TCP", "port": 9376}],
        "endpoints": [{"addresses": [address], "conditions": {"ready": True}, "nodeName": "node-1"}],
    }


def wait_until(what, predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        h.check(time.monotonic() < deadline, f"{what}: not within {timeout} s")
        time.sleep(0.1)


def connect6(tap, client_port, vip, count, port=80):
    """SYNs from 2001:db8::10 to [vip]:port; the (endpoint, port) each was forwarded to."""
    from scapy.layers.inet import TCP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether
    reached = []
    for i in range(count):
        sport = client_port + i
        syn = Ether(src=CLIENT_MAC, dst=h.GATEWAY_MAC) / IPv6(src=CLIENT6, dst=vip, hlim=64) / \
            TCP(sport=sport, dport=port, flags="S", seq=5000 + i)
        tap.send(syn)

        def forwarded(packet, seq=5000 + i):
            return IPv6 in packet and TCP in packet and packet[TCP].flags == "S" and packet[TCP].seq == seq and \
                packet[IPv6].dst != vip

        out = tap.expect_one(forwarded, what=f"SYN to [{vip}]:{port} forwarded")
        h.check(out[IPv6].src == SNAT6 and out[IPv6].hlim == 63,
                f"forwarded from {out[IPv6].src} hop limit {out[IPv6].hlim}, expected {SNAT6} and 63")
        reached.append((out[IPv6].dst, out[TCP].dport))
    return reached


def connect4(tap, client_port, vip, count):
    from scapy.layers.inet import IP, TCP
    reached = []
    for i in range(count):
        flow = h.TcpFlow(f"198.19.4.{1 + i}", client_port + i, vip, 80, isn=9000 + client_port + i)
        tap.send(flow.syn())
        syn = tap.expect_one(flow.is_forwarded_syn, what=f"SYN to {vip} forwarded")
        reached.append((syn[IP].dst, syn[TCP].dport))
    return reached


def aaaa(tap, name):
    """The addresses the gateway's DNS answers for an AAAA query of `name` (from a client behind the router)."""
    from scapy.layers.dns import DNS, DNSQR
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    query = Ether(src=h.ROUTER_MAC, dst=h.GATEWAY_MAC) / IP(src="198.19.5.1", dst=DNS_ADDRESS) / \
        UDP(sport=40053, dport=53) / DNS(id=0x6006, rd=1, qd=DNSQR(qname=name, qtype="AAAA"))
    tap.send(query)
    answer = tap.expect_one(lambda p: DNS in p and p[DNS].id == 0x6006 and p[DNS].qr == 1, what=f"AAAA answer {name}")
    dns = answer[DNS]
    return dns.rcode, sorted(dns.an[i].rdata for i in range(dns.ancount) if dns.an[i].type == 28)


def services_by_name(vipctl):
    return {s["name"]: s for s in h.items(vipctl.json("get", "services"))}


def make_config(context, iface):
    config = h.make_config(context.file_prefix("ep6"), f"net_tap0,iface={iface}", [], neighbors=[SLICE4, OWN4])
    config["ports"][0]["addresses"] += ["198.18.2.1/24", f"{GATEWAY6}/64", f"{SNAT6}/64", "2001:db8:2::1/64"]
    config["snat"]["addresses"].append(SNAT6)
    config["neighbors"] += [{"address": CLIENT6, "mac": CLIENT_MAC}] + \
        [{"address": a, "mac": "02:00:00:00:07:%02x" % n} for n, a in enumerate(NEIGHBORS6, 1)]
    config["cluster"] = {"service_cidr": SERVICE_CIDRS}
    config["dns"] = {"addresses": [DNS_ADDRESS]}
    return config


def main(context):
    cluster = FakeCluster(context.path("cluster"))
    try:
        run(context, sys.argv[2], cluster)
    finally:
        cluster.kill()


def run(context, vipctl_exe, cluster):
    cluster.apply("services", KUBE_SERVICE)
    cluster.apply("endpointslices", kube_slice(KUBE6[0]))
    iface = context.interface_name("ep6")
    path = h.write_config(context.path("vipgate.toml"), make_config(context, iface))
    api = context.path("api.sock")
    daemon = context.daemon(path, args=["--api-socket", api, "--metrics-address", "", "--kubeconfig",
                                        cluster.kubeconfig, "--kube-min-sync-ms", "100"])
    daemon.wait_running()
    daemon.wait_for(r"control API listening")
    daemon.wait_for(r"kubernetes: sync of", timeout=20)
    tap = context.tap(iface)
    vipctl = h.Vipctl(vipctl_exe, api)

    # Through the API: the documentation's slices of both address types.
    with open(MANIFEST) as f:
        result = vipctl.apply(context, "endpoint-slice-ipv6.yaml", f.read())
    h.check(result.returncode == 0, f"apply failed: {result.stderr}")
    h.check("endpointslice/example-def created" in result.stdout, f"apply output: {result.stdout}")
    example = services_by_name(vipctl)["example"]
    h.check(example["ip_families"] == ["IPv4", "IPv6"] and example["ipv6"] == "served", f"example: {example}")
    vip4, vip6 = example["cluster_ips"]
    h.check(example["endpoints_ready"] == 2 and example["endpoints_total"] == 3,
            f"example counts {example['endpoints_ready']}/{example['endpoints_total']}, expected 2 ready of 3 "
            f"(198.18.2.3, 2001:db8:2::3 and the terminating 2001:db8:2::4)")
    reached = connect6(tap, 41000, vip6, 8)
    h.check(set(reached) == {(SLICE6[0], 80)}, f"IPv6 SYNs to [{vip6}]:80 reached {sorted(set(reached))}")
    reached = connect4(tap, 42000, vip4, 4)
    h.check(set(reached) == {(SLICE4, 80)}, f"IPv4 SYNs to {vip4}:80 reached {sorted(set(reached))}")
    h.log(f"example [{vip6}]:80 -> {SLICE6[0]} (8 SYNs), {vip4}:80 -> {SLICE4} (4 SYNs)")

    def endpoints(name):
        items = {s["name"]: s for s in vipctl.json("get", "endpoints")["items"]}
        return {(e["address"], e["port"]): e for e in items[name]["endpoints"]}
    listed = wait_until("the dataplane's count of the IPv6 endpoint",
                        lambda: (e := endpoints("example")) and (e[(SLICE6[0], 80)]["dataplane"] or {}).get(
                            "connections") == 8 and e)
    h.check(set(listed) == {(SLICE4, 80), (SLICE6[0], 80), (SLICE6[1], 80)}, f"get endpoints example: {sorted(listed)}")
    terminating = listed[(SLICE6[1], 80)]
    h.check(terminating["serving"] and terminating["terminating"] and not terminating["ready"],
            f"the terminating IPv6 endpoint: {terminating}")
    table = vipctl.ok("get", "endpoints")
    h.check(f"[{SLICE6[0]}]:80" in table and f"{SLICE4}:80" in table, f"`vipctl get endpoints`:\n{table}")
    h.check(vip6 in vipctl.ok("get", "services"), "`vipctl get services` lacks the IPv6 cluster IP")

    # A service's own endpoints of both families; the wrong family refused whole.
    result = vipctl.apply(context, "own.toml", OWN_ENDPOINTS)
    h.check(result.returncode == 0, f"apply own: {result.stderr}")
    own = services_by_name(vipctl)["own"]
    h.check(set(connect6(tap, 43000, own["cluster_ips"][1], 4)) == {(OWN6, 8080)}, "own: IPv6 SYNs")
    h.check(set(connect4(tap, 44000, own["cluster_ips"][0], 4)) == {(OWN4, 8080)}, "own: IPv4 SYNs")
    before = vipctl.ok("dump")
    bad = f'[[services]]\nname = "v4only"\nports = [{{ port = 80 }}]\nendpoints = [{{ address = "{OWN6}" }}]\n'
    result = vipctl.apply(context, "bad.toml", bad)
    message = "service default/v4only.endpoints[0].address: is an IPv6 address and the service has no IPv6 cluster IP"
    h.check(result.returncode == 1 and message in result.stderr, f"bad.toml: {result.returncode} {result.stderr}")
    h.check(vipctl.ok("dump") == before, "a refused request changed the running state")

    # Through the Kubernetes watch: an IPv6 single-stack service and its IPv6 slice.
    kube = wait_until("kube6 listed", lambda: services_by_name(vipctl).get("kube6"))
    h.check(kube["cluster_ips"] == [KUBE_VIP6] and kube["source"] == "kubernetes", f"kube6: {kube}")
    wait_until("kube6's slice", lambda: (KUBE6[0], 9376) in endpoints("kube6"))
    h.check(set(connect6(tap, 45000, KUBE_VIP6, 4)) == {(KUBE6[0], 9376)}, "kube6: SYNs")
    cluster.apply("endpointslices", kube_slice(KUBE6[1]))
    wait_until("kube6's slice moved", lambda: set(endpoints("kube6")) == {(KUBE6[1], 9376)})
    h.check(set(connect6(tap, 46000, KUBE_VIP6, 4)) == {(KUBE6[1], 9376)}, "kube6: SYNs after the slice moved")
    h.log(f"kube6 [{KUBE_VIP6}]:80 -> {KUBE6[0]}:9376, then {KUBE6[1]}:9376 after the watch")

    # Headless: AAAA from the IPv6 slice.
    result = vipctl.apply(context, "headless.toml", HEADLESS)
    h.check(result.returncode == 0, f"apply headless: {result.stderr}")
    for name in ("peers.default.svc.cluster.local", "peer-a.peers.default.svc.cluster.local"):
        rcode, addresses = wait_until(f"AAAA {name}", lambda n=name: (r := aaaa(tap, n))[1] and r, timeout=5)
        h.check(rcode == 0 and addresses == [HEADLESS6], f"AAAA {name}: rcode {rcode}, {addresses}")
    h.log(f"AAAA peers / peer-a.peers -> {HEADLESS6}")

    dumped = vipctl.ok("dump")
    for fragment in ('address_type = "IPv6"', f'address = "{SLICE6[0]}"', f'address = "{OWN6}"'):
        h.check(fragment in dumped, f"dump lacks {fragment}")
    tap.close()
    status, _ = daemon.stop()
    h.check(status == 0, f"vipgate exited with status {status}")

    # The dump as the config of a fresh daemon (without the cluster): the same state.
    fresh_path = h.write_config(context.path("dump.toml"), dumped)
    fresh = context.daemon(fresh_path, name="vipgate-fresh", args=["--api-socket", api, "--metrics-address", ""])
    fresh.wait_running()
    fresh.wait_for(r"control API listening")

    def body(text):
        return [line for line in text.splitlines() if not line.startswith("#")]
    h.check(body(vipctl.ok("dump")) == body(dumped), "the dump of a daemon started from a dump differs")
    tap = context.tap(iface)
    h.check(set(connect6(tap, 47000, vip6, 4)) == {(SLICE6[0], 80)}, "after the round trip: IPv6 SYNs")
    status, _ = fresh.stop()
    h.check(status == 0, f"the fresh vipgate exited with status {status}")
    tap.close()


if __name__ == "__main__":
    h.run_test("ipv6_endpoint_slices", main, need_tap=True)
