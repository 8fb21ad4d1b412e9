#!/usr/bin/python3
"""IPv6 as an operator sees it today: parsed and counted, not served (docs/ipv6.md).

vipgate reads a pcap through a net_pcap port (rx_pcap, one pass): well-formed IPv6 (UDP and TCP
to a 2001:db8:: address, TCP behind hop-by-hop options, neighbor solicitations to the
solicited-node multicast MAC), malformed IPv6 of several kinds, and one IPv4 SYN to a service.
Built with scapy, independently of the C++ test builders. Then:
  * `vipctl get stats -o json` has every IPv6 frame under its own drop reason, exactly, and
    nothing under unknown_ethertype;
  * the `vipctl get stats` table an operator reads shows the same lines;
  * the metrics endpoint's vipgate_drops_total{reason=...} series agree;
  * the IPv4 SYN was still forwarded (one new connection).
"""
import os
import sys
import time
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vipgate_harness as h  # noqa: E402

WEB_VIP = "198.18.100.10"
SERVICES = [{"name": "web", "cluster_ip": WEB_VIP,
             "ports": [{"name": "http", "protocol": "TCP", "port": 80, "target_port": 8080}],
             "endpoints": [{"address": "198.18.0.11"}]}]
CLIENT6, VIP6 = "2001:db8:1::10", "2001:db8:100::1"


def build_frames():
    """[(frame, expected drop reason or None for the forwarded IPv4 SYN)]."""
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.inet6 import (ICMPv6ND_NS, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop,
                                    IPv6ExtHdrRouting)
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw

    def to_gateway(packet):
        return Ether(dst=h.GATEWAY_MAC, src=h.ROUTER_MAC) / packet

    def ip6(**fields):
        return IPv6(src=CLIENT6, dst=VIP6, **fields)

    frames = []
    for n in range(5):
        frames.append((to_gateway(ip6() / UDP(sport=5000 + n, dport=53) / b"v6-query"), "ipv6_not_served"))
    for n in range(2):
        frames.append((to_gateway(ip6() / IPv6ExtHdrHopByHop() / TCP(sport=40000 + n, dport=80, flags="S")),
                       "ipv6_not_served"))
    for n in range(3):
        solicitation = Ether(dst="33:33:ff:00:00:01", src=h.ROUTER_MAC) / \
            IPv6(src=CLIENT6, dst="ff02::1:ff00:1", hlim=255) / ICMPv6ND_NS(tgt="2001:db8:100::1")
        frames.append((solicitation, "ipv6_not_served"))
    for n in range(3):
        frames.append((to_gateway(ip6() / IPv6ExtHdrRouting(type=0, addresses=["2001:db8:2::1"], segleft=1) /
                                  UDP(sport=6000 + n, dport=53) / b"rh0"), "ipv6_routing_type0"))
    for n in range(2):
        frames.append((to_gateway(ip6() / IPv6ExtHdrDestOpt() / IPv6ExtHdrHopByHop() / UDP(sport=7000 + n, dport=53)),
                       "ipv6_hop_by_hop_not_first"))
    frames.append((to_gateway(ip6(nh=50) / Raw(b"\x00" * 32)), "ipv6_ext_unsupported"))            # ESP
    frames.append((to_gateway(ip6(nh=51) / Raw(b"\x06\x00" + b"\x00" * 10)), "ipv6_ext_unsupported"))  # AH
    frames.append((to_gateway(ip6() / IPv6ExtHdrFragment(nh=6, m=1, offset=0, id=7) / Raw(b"\x00" * 8)),
                   "ipv6_fragment_no_upper_layer"))
    frames.append((to_gateway(ip6() / UDP(sport=8000, dport=53, chksum=0) / b"zero"), "ipv6_udp_zero_checksum"))
    chain = ip6()
    for _ in range(9):
        chain = chain / IPv6ExtHdrDestOpt()
    frames.append((to_gateway(chain / UDP(sport=8001, dport=53)), "ipv6_ext_limit"))
    frames.append((Ether(dst=h.GATEWAY_MAC, src=h.ROUTER_MAC, type=0x86DD) / Raw(bytes(ip6() / UDP())[:30]),
                   "truncated_ipv6"))
    frames.append((h.client_frame("198.19.3.4", WEB_VIP, TCP(sport=41000, dport=80, flags="S", seq=1)), None))
    return [(bytes(frame), reason) for frame, reason in frames]



def main(context):
    vipctl_exe = sys.argv[2]
    frames = build_frames()
    in_pcap = context.path("in.pcap")
    from scapy.utils import PcapWriter
    writer = PcapWriter(in_pcap, linktype=1, sync=False)
    for frame, _ in frames:
        writer.write(frame)
    writer.close()
    expected = {}
    for _, reason in frames:
        if reason:
            expected[reason] = expected.get(reason, 0) + 1

    config = h.make_config(context.file_prefix("v6"), f"net_pcap0,rx_pcap={in_pcap},tx_pcap={context.path('out.pcap')}",
                           SERVICES)
    path = h.write_config(context.path("v6.toml"), config)
    api_socket = context.path("api.sock")
    daemon = context.daemon(path, name="vipgate-v6", args=["--api-socket", api_socket, "--metrics-address",
                                                            "127.0.0.1:0"])
    daemon.wait_running()
    metrics = daemon.metrics_address()
    vipctl = h.Vipctl(vipctl_exe, api_socket)

    # Done when every frame has its outcome (a drop or the forward), not when the last one was
    # received: a reading between a burst's receive and its drops would see the counts short.
    deadline = time.monotonic() + 20
    while True:
        stats = vipctl.json("get", "stats")
        outcomes = sum(stats["drops"].values()) + stats["counters"]["forwarded_to_endpoint"]
        if outcomes >= len(frames):
            break
        h.check(time.monotonic() < deadline, f"vipgate accounted for {outcomes} of {len(frames)} frames within "
                                             f"20 s (received {stats['counters']['rx_packets']})")
        time.sleep(0.2)
    counters, drops = stats["counters"], stats["drops"]
    h.log(f"drops: { {k: v for k, v in drops.items() if v} }")
    h.check(counters["rx_packets"] == len(frames), f"rx_packets {counters['rx_packets']}, expected {len(frames)}")
    for reason, count in expected.items():
        h.check(drops.get(reason) == count, f"vipctl: drops.{reason} = {drops.get(reason)}, expected {count}")
    unexpected = {k: v for k, v in drops.items() if v and k not in expected}
    h.check(not unexpected, f"vipctl: unexpected drops {unexpected} (IPv6 must not count as unknown_ethertype)")
    h.check(counters["new_connections"] == 1 and counters["forwarded_to_endpoint"] == 1,
            f"the IPv4 SYN beside the IPv6 frames: new_connections {counters['new_connections']}, "
            f"forwarded_to_endpoint {counters['forwarded_to_endpoint']}, expected 1 and 1")

    table = vipctl.ok("get", "stats")
    for reason, count in expected.items():
        line = [row for row in table.splitlines() if row.split()[:1] == [f"drops.{reason}"]]
        h.check(line and line[0].split()[1] == str(count),
                f"`vipctl get stats` does not show drops.{reason} {count}:\n{table}")

    with urllib.request.urlopen(f"http://{metrics}/metrics", timeout=10) as response:
        exposition = response.read().decode()
    for reason, count in expected.items():
        series = f'vipgate_drops_total{{reason="{reason}"}} {count}'
        h.check(series in exposition, f"metrics lack `{series}`: "
                f"{[l for l in exposition.splitlines() if reason in l]}")
    h.check('vipgate_drops_total{reason="unknown_ethertype"} 0' in exposition, "metrics: unknown_ethertype is not 0")

    status, _ = daemon.stop()
    h.check(status == 0, f"vipgate exited with status {status}")


if __name__ == "__main__":
    h.run_test("ipv6_counted", main)
