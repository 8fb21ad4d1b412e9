#!/usr/bin/python3
"""IPv6 through the operator's views: [cluster] client_ranges with prefixes of both families,
`vipctl get conntrack` and `vipctl get endpoints` with IPv6 entries. The
real vipgate on a net_pcap port serving test_nat66's IPv6 ClusterIP (web6, 2001:db8:100::1) and
an IPv4 one, with client_ranges = ["198.18.0.0/24", "2001:db8::10/127"].

in.pcap: SYNs to web6 from 2001:db8::10 and ::11 (inside the IPv6 range) and from ::12 (outside),
SYNs to the IPv4 VIP from 198.18.0.50 (inside) and 198.18.1.50 (outside the IPv4 range). Then
`vipctl get stats -o json` counts exactly the inside SYNs as new connections forwarded to the
pods and the outside ones as drops.source_not_allowed, and out.pcap holds only frames to the pods.
`vipctl get conntrack -o json` lists the two IPv6 connections ([client]:port -> [VIP]:80, the
pod, the SNAT6 address and a port) beside the IPv4 one; `vipctl get endpoints -o json` lists the
pod's IPv6 address for web6 with the dataplane's count of its connections (2); the tables print
them. `vipctl dump` writes the ranges back with both families.
"""
import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_nat66 as nat66  # noqa: E402
import vipgate_harness as h  # noqa: E402

VIP4, POD4 = "198.18.100.1", "198.18.0.20"
INSIDE6, OUTSIDE6 = ["2001:db8::10", "2001:db8::11"], ["2001:db8::12"]
INSIDE4, OUTSIDE4 = ["198.18.0.50"], ["198.18.1.50"]
RANGES = ["198.18.0.0/24", "2001:db8::10/127"]


def config_for(context, in_pcap, out_pcap):
    config = nat66.config_for(context, "fullnat", in_pcap, out_pcap)
    config["ports"][0]["addresses"].append("198.18.1.1/24")
    config["cluster"] = {"client_ranges": RANGES}
    config["neighbors"] += [{"address": a, "mac": nat66.CLIENT_MAC} for a in INSIDE6[1:] + OUTSIDE6 + INSIDE4 +
                            OUTSIDE4]
    config["neighbors"].append({"address": POD4, "mac": nat66.POD_MAC})
    config["services"].append({"name": "web4", "cluster_ip": VIP4, "ports": [{"port": 80, "target_port": 8080}],
                               "endpoints": [{"address": POD4}]})
    return config


def build_input():
    from scapy.layers.inet import IP, TCP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether
    frames = []
    for n, client in enumerate(INSIDE6 + OUTSIDE6):
        ip = IPv6(src=client, dst=nat66.VIP6, hlim=64)
        frames.append(Ether(src=nat66.CLIENT_MAC, dst=h.GATEWAY_MAC) / ip / TCP(sport=41000 + n, dport=80, flags="S"))
    for n, client in enumerate(INSIDE4 + OUTSIDE4):
        ip = IP(src=client, dst=VIP4, ttl=64)
        frames.append(Ether(src=nat66.CLIENT_MAC, dst=h.GATEWAY_MAC) / ip / TCP(sport=42000 + n, dport=80, flags="S"))
    return [bytes(frame) for frame in frames]


def main(context):
    from scapy.layers.inet import IP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether
    from scapy.utils import PcapWriter
    vipctl_exe = sys.argv[2]
    frames = build_input()
    in_pcap, out_pcap = context.path("in.pcap"), context.path("out.pcap")
    writer = PcapWriter(in_pcap, linktype=1, sync=False)
    for frame in frames:
        writer.write(frame)
    writer.close()
    path = h.write_config(context.path("ranges.toml"), config_for(context, in_pcap, out_pcap))
    api_socket = context.path("api.sock")
    daemon = context.daemon(path, args=["--api-socket", api_socket, "--metrics-address", ""])
    daemon.wait_running()
    vipctl = h.Vipctl(vipctl_exe, api_socket)

    inside, outside = len(INSIDE6) + len(INSIDE4), len(OUTSIDE6) + len(OUTSIDE4)
    deadline = time.monotonic() + 20
    while True:
        stats = vipctl.json("get", "stats")
        counters, drops = stats["counters"], {k: v for k, v in stats["drops"].items() if v}
        if counters["forwarded_to_endpoint"] + sum(drops.values()) >= len(frames):
            break
        h.check(time.monotonic() < deadline, f"frames not all accounted for in 20 s: {counters}, {drops}")
        time.sleep(0.2)
    h.log(f"new {counters['new_connections']}, to-endpoint {counters['forwarded_to_endpoint']}, drops {drops}")
    h.check(counters["new_connections"] == inside and counters["forwarded_to_endpoint"] == inside,
            f"expected {inside} new connections forwarded (the sources inside {RANGES}): {counters}")
    h.check(drops == {"source_not_allowed": outside}, f"drops {drops}, expected source_not_allowed {outside}")
    table = vipctl.ok("get", "stats")
    row = [line for line in table.splitlines() if line.split()[:1] == ["drops.source_not_allowed"]]
    h.check(row and row[0].split()[1] == str(outside), f"`vipctl get stats` lacks drops.source_not_allowed:\n{table}")

    conntrack = vipctl.json("get", "conntrack")["items"]
    ipv6 = sorted((c["client"], c["vip"], c["endpoint"], c["snat"]) for c in conntrack if c["client"].startswith("["))
    h.check([c[0] for c in ipv6] == [f"[{a}]:{41000 + n}" for n, a in enumerate(INSIDE6)] and
            all(c[1] == f"[{nat66.VIP6}]:80" and c[2] == f"[{nat66.POD6}]:8080" and
                c[3].startswith(f"[{nat66.SNAT6}]:") for c in ipv6),
            f"get conntrack IPv6 entries: {ipv6}")
    h.check(len(conntrack) == inside, f"get conntrack lists {len(conntrack)} entries, expected {inside}")
    table = vipctl.ok("get", "conntrack")
    h.check(f"[{INSIDE6[0]}]:41000" in table, f"`vipctl get conntrack` lacks the IPv6 client:\n{table}")
    endpoints = {s["name"]: s["endpoints"] for s in vipctl.json("get", "endpoints")["items"]}
    web6 = [(e["address"], e["port"], (e["dataplane"] or {}).get("connections")) for e in endpoints["web6"]]
    h.check((nat66.POD6, 8080, len(INSIDE6)) in web6, f"get endpoints web6: {web6}, expected the pod's IPv6 address "
                                                      f"with {len(INSIDE6)} connections")
    h.check(nat66.POD6 in vipctl.ok("get", "endpoints"), "`vipctl get endpoints` lacks the pod's IPv6 address")
    h.log(f"conntrack: {len(ipv6)} IPv6 entries of {len(conntrack)}; endpoints web6: {web6}")

    dumped = vipctl.ok("dump")
    h.check(f'client_ranges = ["{RANGES[0]}", "{RANGES[1]}"]' in dumped, f"dump of [cluster]:\n{dumped[:800]}")
    status, _ = daemon.stop()
    h.check(status == 0, f"vipgate exited with status {status}")

    output = [Ether(frame) for frame in h.read_pcap(out_pcap)]
    sources = sorted(p[IPv6].src if IPv6 in p else p[IP].src for p in output)
    h.check(len(output) == inside and all((IPv6 in p and p[IPv6].dst == nat66.POD6) or
                                          (IP in p and p[IP].dst == POD4) for p in output),
            f"out.pcap: {[p.summary() for p in output]}, expected {inside} frames to the pods")
    h.log(f"out.pcap: {len(output)} frames to the pods (full-NAT sources {sources})")


if __name__ == "__main__":
    h.run_test("ipv6_operator", main)
