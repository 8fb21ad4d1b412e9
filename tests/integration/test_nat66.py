#!/usr/bin/python3
"""NAT66 as an operator runs it (docs/ipv6.md, step 3): the real vipgate on a net_pcap port
(rx_pcap one pass, tx_pcap) serving an IPv6 ClusterIP, in full-NAT and in DNAT-only mode.

The port has 198.18.0.1/24 and 2001:db8::1/64 (and 2001:db8::2/64, the SNAT6 address); the client
2001:db8::10 and the pod 2001:db8::20 (status.podIPs) are on-link, with static neighbors.
Service web6 2001:db8:100::1 TCP 80 -> the pod's named port http (8080), UDP 53 -> 5353.
in.pcap, built with scapy: TCP SYNs and UDP datagrams to the VIP, one SYN with hop limit 1,
one SYN to an unknown IPv6 VIP, and (DNAT-only, where the reply tuple is known in advance) the
pod's SYN-ACKs and UDP answers. ICMPv6 (docs/ipv6.md, step 4): echo requests to the VIP and to
the gateway's address, a SYN and a UDP datagram to a port the VIP does not serve, and Packet Too
Big errors about tracked flows: from the client about a reply (both modes: the quoted flow is
the client's, known in advance) and, in DNAT-only, from the pod about a packet sent to it. Then:
  * out.pcap holds exactly the translated frames: to the pod at its target port, from the SNAT6
    address and a port of the worker's slice (full-NAT) or from the client (DNAT-only); replies
    from the VIP:80 to the client; hop limit 63, TCP/UDP checksums valid (scapy recomputes them),
    Ethernet to the neighbor's MAC from the gateway's;
  * the answers are in out.pcap too: echo replies, Time Exceeded for the hop-limit-1 SYN (from
    the port's address), a RST and an ICMPv6 port unreachable for the refusals, and the Packet Too
    Big errors translated (the pod hears about its own flow: from the SNAT6 address and quoting
    SNAT6:port under full-NAT; the client hears from the VIP about client -> VIP:80), every
    ICMPv6 checksum valid (scapy recomputes it over the pseudo-header);
  * `vipctl get stats -o json` and the `vipctl get stats` table count them (new_connections,
    forwarded_to_endpoint, forwarded_to_client, icmp_sent, resets_sent, icmp_errors_translated,
    drops ipv6_hop_limit_exceeded, vip_port_refused and no_service);
  * the per-service-port statistics name the IPv6 port (default/web6:http/IPv6);
  * `vipctl get services -o json` says ipv6 "served", and the metric
    vipgate_ipv6_cluster_ips_not_served is 0.
"""
import os
import socket
import sys
import time
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vipgate_harness as h  # noqa: E402

CLIENT6, VIP6, UNKNOWN_VIP6 = "2001:db8::10", "2001:db8:100::1", "2001:db8:100::99"
GATEWAY6, SNAT6, POD6 = "2001:db8::1", "2001:db8::2", "2001:db8::20"
CLIENT_MAC, POD_MAC = "02:00:00:00:06:10", "02:00:00:00:06:20"
TCP_FLOWS, UDP_FLOWS = 12, 8


def config_for(context, mode, in_pcap, out_pcap):
    config = h.make_config(context.file_prefix(mode), f"net_pcap0,rx_pcap={in_pcap},tx_pcap={out_pcap}", [],
                           nat_mode=mode)
    config["ports"][0]["addresses"] += [f"{GATEWAY6}/64", f"{SNAT6}/64"]
    config["snat"]["addresses"].append(SNAT6)
    config["neighbors"] += [{"address": CLIENT6, "mac": CLIENT_MAC}, {"address": POD6, "mac": POD_MAC}]
    config["services"] = [{"name": "web6", "cluster_ip": VIP6, "selector": {"app": "web6"},
                           "ports": [{"name": "http", "protocol": "TCP", "port": 80, "target_port": "http"},
                                     {"name": "dns", "protocol": "UDP", "port": 53, "target_port": 5353}]}]
    config["pods"] = [{"name": "web6-1", "pod_ips": [POD6], "labels": {"app": "web6"},
                       "ports": [{"name": "http", "protocol": "TCP", "port": 8080}]}]
    return config


def build_input(mode):
    """[(frame, expected outcome)]: "endpoint", "client", or a drop reason."""
    from scapy.layers.inet import TCP, UDP
    from scapy.layers.inet6 import IPv6, ICMPv6EchoRequest, ICMPv6PacketTooBig
    from scapy.layers.l2 import Ether

    def from_client(l4, hlim=64, dst=VIP6):
        return Ether(src=CLIENT_MAC, dst=h.GATEWAY_MAC) / IPv6(src=CLIENT6, dst=dst, hlim=hlim) / l4

    def from_pod(l4):
        return Ether(src=POD_MAC, dst=h.GATEWAY_MAC) / IPv6(src=POD6, dst=CLIENT6, hlim=64) / l4

    frames = []
    for n in range(TCP_FLOWS):
        frames.append((from_client(TCP(sport=41000 + n, dport=80, flags="S", seq=1000 + n)), "endpoint"))
        if mode == "dnat":
            frames.append((from_pod(TCP(sport=8080, dport=41000 + n, flags="SA", seq=9000, ack=1001 + n)), "client"))
    for n in range(UDP_FLOWS):
        frames.append((from_client(UDP(sport=42000 + n, dport=53) / f"query {n}".encode()), "endpoint"))
        if mode == "dnat":
            frames.append((from_pod(UDP(sport=5353, dport=42000 + n) / f"answer {n}".encode()), "client"))
    frames.append((from_client(TCP(sport=43000, dport=80, flags="S"), hlim=1), "ipv6_hop_limit_exceeded"))
    frames.append((from_client(TCP(sport=43001, dport=80, flags="S"), dst=UNKNOWN_VIP6), "no_service"))
    # ICMPv6 (step 4): echo, refusals, Packet Too Big about tracked flows.
    for destination in (VIP6, GATEWAY6):
        frames.append((from_client(ICMPv6EchoRequest(id=7, seq=1, data=b"ping6"), dst=destination), "echo"))
    frames.append((from_client(TCP(sport=43002, dport=81, flags="S", seq=5)), "vip_port_refused"))
    frames.append((from_client(UDP(sport=43003, dport=54) / b"nobody"), "vip_port_refused"))
    reply = IPv6(src=VIP6, dst=CLIENT6, hlim=63) / TCP(sport=80, dport=41000, flags="A", seq=9001, ack=1001)
    frames.append((from_client(ICMPv6PacketTooBig(mtu=1280) / reply, dst=VIP6), "translated"))
    if mode == "dnat":
        sent = IPv6(src=CLIENT6, dst=POD6, hlim=63) / TCP(sport=41001, dport=8080, flags="A", seq=1002, ack=9001)
        frames.append((Ether(src=POD_MAC, dst=h.GATEWAY_MAC) / IPv6(src=POD6, dst=CLIENT6, hlim=64) /
                       ICMPv6PacketTooBig(mtu=1300) / sent, "translated"))
    return [(bytes(frame), outcome) for frame, outcome in frames]


def checksum_ok(packet):
    """Whether scapy, recomputing the outer L4 checksum over the IPv6 pseudo-header, agrees (for
    an ICMPv6 error, the quoted TCP's too: the gateway rewrote it)."""
    from scapy.layers.inet import TCP, UDP
    from scapy.layers.inet6 import IPv6, IPerror6, TCPerror
    from scapy.layers.l2 import Ether
    if packet[IPv6].nh == 58:
        icmp = packet[IPv6].payload
        sent = icmp.cksum
        fresh = packet.copy()
        del fresh[IPv6].payload.cksum
        if Ether(bytes(fresh))[IPv6].payload.cksum != sent:
            return False
        if TCPerror not in packet:
            return True
        quoted = IPv6(bytes(packet[IPerror6]))  # the quote as a packet of its own
        fresh = quoted.copy()
        del fresh[TCP].chksum
        return IPv6(bytes(fresh))[TCP].chksum == quoted[TCP].chksum
    layer = TCP if TCP in packet else UDP
    sent = packet[layer].chksum
    fresh = packet.copy()
    del fresh[layer].chksum
    return Ether(bytes(fresh))[layer].chksum == sent


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_icmp6(mode, answers, echoes, translated):
    """The gateway's ICMPv6 answers and translations in out.pcap (the tx order is the rx order)."""
    from scapy.layers.inet import TCP
    from scapy.layers.inet6 import (IPv6, ICMPv6DestUnreach, ICMPv6EchoReply, ICMPv6PacketTooBig, ICMPv6TimeExceeded,
                                    IPerror6, TCPerror)
    summary = [p.summary() for p in answers]
    h.log(f"{mode}: ICMPv6 and resets out: {summary}")
    h.check(all(checksum_ok(p) for p in answers), f"{mode}: a bad checksum among {summary}")
    replies = [p for p in answers if ICMPv6EchoReply in p]
    h.check(len(replies) == echoes and sorted(p[IPv6].src for p in replies) == sorted([VIP6, GATEWAY6]) and
            all(p[IPv6].dst == CLIENT6 and p[ICMPv6EchoReply].data == b"ping6" for p in replies),
            f"{mode}: echo replies {[p.summary() for p in replies]}")
    exceeded = [p for p in answers if ICMPv6TimeExceeded in p]
    h.check(len(exceeded) == 1 and exceeded[0][IPv6].src == GATEWAY6 and exceeded[0][TCPerror].sport == 43000,
            f"{mode}: Time Exceeded {[p.summary() for p in exceeded]}")
    resets = [p for p in answers if TCP in p and IPerror6 not in p]
    h.check(len(resets) == 1 and resets[0][IPv6].src == VIP6 and resets[0][TCP].sport == 81 and
            resets[0][TCP].ack == 6, f"{mode}: RST {[p.summary() for p in resets]}")
    unreachable = [p for p in answers if ICMPv6DestUnreach in p]
    h.check(len(unreachable) == 1 and unreachable[0][ICMPv6DestUnreach].code == 4 and
            unreachable[0][IPv6].src == VIP6, f"{mode}: port unreachable {[p.summary() for p in unreachable]}")
    too_big = [p for p in answers if ICMPv6PacketTooBig in p]
    h.check(len(too_big) == translated, f"{mode}: {len(too_big)} Packet Too Big out, expected {translated}")
    for packet in too_big:
        outer, inner, quoted = packet[IPv6], packet[IPerror6], packet[TCPerror]
        if outer.dst == POD6:  # the client's, about a reply: now about the pod's own flow
            h.check(packet.dst == POD_MAC and inner.src == POD6 and quoted.sport == 8080 and
                    packet[ICMPv6PacketTooBig].mtu == 1280, f"{mode}: PTB to the pod {packet.summary()}")
            if mode == "fullnat":
                h.check(outer.src == SNAT6 and inner.dst == SNAT6 and quoted.dport >= 1024,
                        f"full-NAT: PTB to the pod {outer.src} quoting {inner.dst}:{quoted.dport}")
            else:
                h.check(outer.src == CLIENT6 and inner.dst == CLIENT6 and quoted.dport == 41000,
                        f"DNAT: PTB to the pod {outer.src} quoting {inner.dst}:{quoted.dport}")
        else:  # the pod's, about a packet sent to it: to the client as if from the VIP
            h.check(outer.src == VIP6 and outer.dst == CLIENT6 and inner.src == CLIENT6 and inner.dst == VIP6 and
                    quoted.sport == 41001 and quoted.dport == 80 and packet[ICMPv6PacketTooBig].mtu == 1300,
                    f"{mode}: PTB to the client {packet.summary()} quoting {inner.src} -> {inner.dst}")


def run_mode(context, vipctl_exe, mode):
    from scapy.layers.inet import TCP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether
    from scapy.utils import PcapWriter
    frames = build_input(mode)
    in_pcap, out_pcap = context.path(f"{mode}-in.pcap"), context.path(f"{mode}-out.pcap")
    writer = PcapWriter(in_pcap, linktype=1, sync=False)
    for frame, _ in frames:
        writer.write(frame)
    writer.close()
    path = h.write_config(context.path(f"{mode}.toml"), config_for(context, mode, in_pcap, out_pcap))
    api_socket = context.path(f"{mode}.sock")
    metrics = f"127.0.0.1:{free_port()}"
    daemon = context.daemon(path, name=f"vipgate-{mode}", args=["--api-socket", api_socket,
                                                                "--metrics-address", metrics])
    daemon.wait_running()
    vipctl = h.Vipctl(vipctl_exe, api_socket)

    to_endpoint = sum(1 for _, outcome in frames if outcome == "endpoint")
    to_client = sum(1 for _, outcome in frames if outcome == "client")
    echoes = sum(1 for _, outcome in frames if outcome == "echo")
    translated = sum(1 for _, outcome in frames if outcome == "translated")
    answered = echoes + 3  # echo replies, Time Exceeded, RST, port unreachable
    deadline = time.monotonic() + 20
    while True:
        stats = vipctl.json("get", "stats")
        counters = stats["counters"]
        outcomes = (sum(stats["drops"].values()) + counters["forwarded_to_endpoint"] +
                    counters["forwarded_to_client"] + counters["icmp_errors_translated"] + echoes)
        if outcomes >= len(frames):
            break
        h.check(time.monotonic() < deadline, f"{mode}: {outcomes} of {len(frames)} frames accounted for in 20 s")
        time.sleep(0.2)
    drops = {k: v for k, v in stats["drops"].items() if v}
    h.log(f"{mode}: counters new {counters['new_connections']} to-endpoint {counters['forwarded_to_endpoint']} "
          f"to-client {counters['forwarded_to_client']}, drops {drops}")
    h.check(counters["new_connections"] == TCP_FLOWS + UDP_FLOWS,
            f"{mode}: new_connections {counters['new_connections']}, expected {TCP_FLOWS + UDP_FLOWS}")
    h.check(counters["forwarded_to_endpoint"] == to_endpoint,
            f"{mode}: forwarded_to_endpoint {counters['forwarded_to_endpoint']}, expected {to_endpoint}")
    h.check(counters["forwarded_to_client"] == to_client,
            f"{mode}: forwarded_to_client {counters['forwarded_to_client']}, expected {to_client}")
    h.check(drops == {"ipv6_hop_limit_exceeded": 1, "no_service": 1, "vip_port_refused": 2}, f"{mode}: drops {drops}")
    expected = {"icmp_sent": echoes + 2, "resets_sent": 1, "icmp_errors_translated": translated}
    got = {name: counters[name] for name in expected}
    h.check(got == expected, f"{mode}: ICMPv6 counters {got}, expected {expected}")
    services = {s["service"]: s for s in stats.get("services", [])}
    web6 = services.get("default/web6:http/IPv6")
    h.check(web6 is not None and web6["connections"] == TCP_FLOWS and web6["vip"] == f"[{VIP6}]:80",
            f"{mode}: per-service-port statistics of the IPv6 port: {web6} (of {list(services)})")
    table = vipctl.ok("get", "stats")
    for name, value in (("drops.ipv6_hop_limit_exceeded", 1), ("icmp_errors_translated", translated),
                        ("icmp_sent", echoes + 2), ("resets_sent", 1)):
        row = [line for line in table.splitlines() if line.split()[:1] == [name]]
        h.check(row and row[0].split()[1] == str(value), f"`vipctl get stats` lacks {name} {value}:\n{table}")
    listed = vipctl.json("get", "services")["items"]
    h.check([s.get("ipv6") for s in listed] == ["served"], f"{mode}: get services ipv6 field {listed}")
    with urllib.request.urlopen(f"http://{metrics}/metrics", timeout=10) as response:
        exposition = response.read().decode()
    h.check("vipgate_ipv6_cluster_ips_not_served 0" in exposition, "metric vipgate_ipv6_cluster_ips_not_served != 0")
    status, _ = daemon.stop()
    h.check(status == 0, f"{mode}: vipgate exited with status {status}")

    output = [Ether(frame) for frame in h.read_pcap(out_pcap)]
    h.check(len(output) == to_endpoint + to_client + answered + translated,
            f"{mode}: out.pcap has {len(output)} frames, expected {to_endpoint + to_client + answered + translated}")
    is_answer = [p[IPv6].nh == 58 or (TCP in p and bool(p[TCP].flags.R)) for p in output]
    check_icmp6(mode, [p for p, answer in zip(output, is_answer) if answer], echoes, translated)
    output = [p for p, answer in zip(output, is_answer) if not answer]
    snat_ports = set()
    for packet in output:
        h.check(IPv6 in packet and packet[IPv6].hlim == 63, f"{mode}: not IPv6 with hop limit 63: {packet.summary()}")
        h.check(packet.src == h.GATEWAY_MAC, f"{mode}: Ethernet source {packet.src}")
        h.check(checksum_ok(packet), f"{mode}: bad L4 checksum in {packet.summary()}")
        ip, l4 = packet[IPv6], packet[TCP] if TCP in packet else packet[UDP]
        if ip.dst == POD6:
            h.check(packet.dst == POD_MAC, f"{mode}: to the pod via {packet.dst}")
            h.check(l4.dport == (8080 if TCP in packet else 5353), f"{mode}: target port {l4.dport}")
            if mode == "fullnat":
                h.check(ip.src == SNAT6, f"full-NAT source {ip.src}, expected {SNAT6}")
                snat_ports.add(l4.sport)
            else:
                h.check(ip.src == CLIENT6 and l4.sport in range(41000, 43000), f"DNAT source {ip.src} {l4.sport}")
        else:
            h.check(ip.dst == CLIENT6 and ip.src == VIP6 and packet.dst == CLIENT_MAC,
                    f"{mode}: reply {ip.src} -> {ip.dst} via {packet.dst}")
            h.check(l4.sport == (80 if TCP in packet else 53), f"{mode}: reply source port {l4.sport}")
    if mode == "fullnat":
        h.check(len(snat_ports) == TCP_FLOWS + UDP_FLOWS and all(p >= 1024 for p in snat_ports),
                f"full-NAT: SNAT ports {sorted(snat_ports)}, one per flow")


def main(context):
    vipctl_exe = sys.argv[2]
    for mode in ("fullnat", "dnat"):
        run_mode(context, vipctl_exe, mode)


if __name__ == "__main__":
    h.run_test("nat66", main)
