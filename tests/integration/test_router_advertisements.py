#!/usr/bin/python3
"""IPv6 default routes learnt from router advertisements, as an operator runs them: the real
vipgate on a net_tap port with `accept_router_advertisements = true`, full NAT, one worker.

The port has 198.18.0.1/24, 2001:db8::1/64 and the SNAT6 address 2001:db8::2; the pod 2001:db8::20
is on-link (static neighbor); the client 2001:db8:c1::10 is off-link, and no [[routes]] entry
covers it. The test plays the router fe80::1 and the pod on the kernel side of the tap:
  * before any RA, `vipctl get routes` lists no learnt route;
  * an RA (router lifetime 1800 s, preference high, source link-layer option, a prefix option) makes
    fe80::1 the IPv6 default route: `vipctl get routes` shows it (origin router-advertisement,
    installed, lifetime about 1800 s), and the port's addresses stay as configured (`vipctl dump`:
    the prefix option configures nothing);
  * a client SYN to the VIP goes to the pod from the SNAT6 address, and the pod's SYN-ACK leaves
    for the client through the router: Ethernet destination the router's MAC (learnt from the RA,
    no solicitation needed);
  * an RA with hop limit 64 is refused and counted; the counts are in `vipctl get stats` (-o json
    and the table) and in vipgate_neighbor_router_advertisements_total;
  * an RA with router lifetime 0 withdraws the route: `vipctl get routes` no longer lists it, and
    the pod's retransmitted SYN-ACK is dropped (drop no_route) instead of reaching the router;
  * the log names the router's arrival and its withdrawal.
"""
import os
import sys
import time
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vipgate_harness as h  # noqa: E402

VIP6, POD6 = "2001:db8:100::1", "2001:db8::20"
GATEWAY6, SNAT6 = "2001:db8::1", "2001:db8::2"
CLIENT6 = "2001:db8:c1::10"
ROUTER6, ROUTER6_MAC = "fe80::1", "02:00:00:00:06:fe"
POD6_MAC = "02:00:00:00:06:20"


def config_for(context, iface):
    config = h.make_config(context.file_prefix("ra"), f"net_tap0,iface={iface}", [], neighbors=[])
    config["ports"][0]["addresses"] += [f"{GATEWAY6}/64", f"{SNAT6}/64"]
    config["ports"][0]["accept_router_advertisements"] = True
    config["snat"]["addresses"].append(SNAT6)
    config["neighbors"].append({"address": POD6, "mac": POD6_MAC})
    config["services"] = [{"name": "web6", "cluster_ip": VIP6, "selector": {"app": "web6"},
                           "ports": [{"name": "http", "protocol": "TCP", "port": 80, "target_port": 8080}]}]
    config["pods"] = [{"name": "web6-1", "pod_ips": [POD6], "labels": {"app": "web6"}}]
    return config


def router_advertisement(lifetime, hop_limit=255):
    from scapy.layers.inet6 import (ICMPv6ND_RA, ICMPv6NDOptPrefixInfo, ICMPv6NDOptSrcLLAddr, IPv6)
    from scapy.layers.l2 import Ether
    return (Ether(src=ROUTER6_MAC, dst="33:33:00:00:00:01") /
            IPv6(src=ROUTER6, dst="ff02::1", hlim=hop_limit) /
            ICMPv6ND_RA(chlim=64, routerlifetime=lifetime, prf=1) /
            ICMPv6NDOptSrcLLAddr(lladdr=ROUTER6_MAC) /
            ICMPv6NDOptPrefixInfo(prefix="2001:db8:aaaa::", prefixlen=64, validlifetime=3600,
                                  preferredlifetime=1800))


def learnt_routes(vipctl):
    return [r for r in vipctl.json("get", "routes")["routes"] if r["origin"] == "router-advertisement"]


def wait_routes(vipctl, wanted, what):
    deadline = time.monotonic() + 10
    while True:
        routes = learnt_routes(vipctl)
        if wanted(routes):
            return routes
        h.check(time.monotonic() < deadline, f"{what}: `vipctl get routes` shows {routes}")
        time.sleep(0.1)


def ra_counts(vipctl):
    return vipctl.json("get", "stats")["neighbors"]["router_advertisements"]


def wait_counts(vipctl, wanted, what):
    deadline = time.monotonic() + 10
    while True:
        counts = ra_counts(vipctl)
        if all(counts.get(k) == v for k, v in wanted.items()):
            return counts
        h.check(time.monotonic() < deadline, f"{what}: router_advertisements counts {counts}, expected {wanted}")
        time.sleep(0.1)


def main(context):
    from scapy.layers.inet import TCP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether
    vipctl_exe = sys.argv[2]
    iface = context.interface_name("ra")
    path = h.write_config(context.path("ra.toml"), config_for(context, iface))
    api_socket = context.path("api.sock")
    daemon = context.daemon(path, name="vipgate-ra", args=["--api-socket", api_socket,
                                                           "--metrics-address", "127.0.0.1:0"])
    daemon.wait_running()
    metrics = daemon.metrics_address()
    vipctl = h.Vipctl(vipctl_exe, api_socket)
    tap = context.tap(iface)

    h.check(learnt_routes(vipctl) == [], "a learnt route before any router advertisement")
    tap.send(router_advertisement(1800))
    routes = wait_routes(vipctl, lambda r: len(r) == 1, "the RA's default route")
    route = routes[0]
    h.check(route["prefix"] == "::/0" and route["via"] == ROUTER6 and route["port"] == "p0" and
            route["installed"] is True and route["preference"] == "high" and 1790 <= route["lifetime_s"] <= 1800,
            f"learnt route {route}")
    table = vipctl.ok("get", "routes")
    h.check(any(ROUTER6 in line and "router-advertisement" in line and "yes" in line for line in table.splitlines()),
            f"`vipctl get routes` lacks the learnt route:\n{table}")
    dumped = vipctl.ok("dump")
    h.check("2001:db8:aaaa" not in dumped and "accept_router_advertisements = true" in dumped,
            f"`vipctl dump` after an RA with a prefix option:\n{dumped}")

    # A client behind the router reaches the VIP; the reply goes back through the router.
    tap.send(Ether(src=ROUTER6_MAC, dst=h.GATEWAY_MAC) / IPv6(src=CLIENT6, dst=VIP6, hlim=64) /
             TCP(sport=41000, dport=80, flags="S", seq=1000))
    syn = tap.expect_one(lambda p: IPv6 in p and TCP in p and p[IPv6].dst == POD6 and p[TCP].flags == "S",
                         what="SYN translated to the pod")
    h.check(syn[IPv6].src == SNAT6 and syn[TCP].dport == 8080 and syn[Ether].dst == POD6_MAC,
            f"translated SYN {h.describe(syn)}")
    snat_port = syn[TCP].sport

    def pod_segment(flags, seq):
        return (Ether(src=POD6_MAC, dst=h.GATEWAY_MAC) / IPv6(src=POD6, dst=SNAT6, hlim=64) /
                TCP(sport=8080, dport=snat_port, flags=flags, seq=seq, ack=1001))

    def to_client(p):
        return IPv6 in p and TCP in p and p[IPv6].dst == CLIENT6

    tap.send(pod_segment("SA", 5000))
    synack = tap.expect_one(to_client, what="SYN-ACK to the off-link client")
    h.check(synack[Ether].dst == ROUTER6_MAC and synack[Ether].src == h.GATEWAY_MAC,
            f"SYN-ACK not sent to the router's MAC: {h.describe(synack)} ({synack[Ether].src} -> {synack[Ether].dst})")
    h.check(synack[IPv6].src == VIP6 and synack[TCP].sport == 80 and synack[TCP].dport == 41000,
            f"SYN-ACK translation: {h.describe(synack)}")

    tap.send(router_advertisement(1800, hop_limit=64))
    counts = wait_counts(vipctl, {"accepted": 1, "refused": 1, "default_routers": 1}, "invalid RA")
    stats_table = vipctl.ok("get", "stats")
    h.check("router advertisements: 1 accepted, 1 refused" in stats_table,
            f"`vipctl get stats` lacks the router advertisement counts:\n{stats_table}")
    with urllib.request.urlopen(f"http://{metrics}/metrics", timeout=10) as response:
        exposition = response.read().decode()
    for line in ('vipgate_neighbor_router_advertisements_total{outcome="accepted"} 1',
                 'vipgate_neighbor_router_advertisements_total{outcome="refused"} 1',
                 "vipgate_neighbor_default_routers 1"):
        h.check(line in exposition, f"metrics lack `{line}`")

    # Lifetime 0: the router is withdrawn, and the route with it.
    tap.send(router_advertisement(0))
    wait_routes(vipctl, lambda r: r == [], "withdrawn route")
    counts = wait_counts(vipctl, {"accepted": 2, "withdrawn": 1, "default_routers": 0}, "withdrawal")
    no_route_before = vipctl.json("get", "stats")["drops"].get("no_route", 0)
    tap.send(pod_segment("SA", 5000))  # the SYN-ACK again, as the pod retransmits it
    tap.expect_none(to_client, wait=0.5, what="segment to the client after the withdrawal")
    deadline = time.monotonic() + 5
    while vipctl.json("get", "stats")["drops"].get("no_route", 0) != no_route_before + 1:
        h.check(time.monotonic() < deadline, "the segment after the withdrawal was not counted as no_route")
        time.sleep(0.1)
    h.log(f"after the withdrawal: counts {counts}, no_route {no_route_before} -> {no_route_before + 1}")

    status, text = daemon.stop()
    h.check(status == 0, f"vipgate exited with status {status}")
    h.check("default router fe80::1 on port 0" in text and "withdrawn (router lifetime 0)" in text,
            "the log lacks the router's arrival or withdrawal")


if __name__ == "__main__":
    h.run_test("router_advertisements", main, need_tap=True)
