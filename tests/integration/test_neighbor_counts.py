#!/usr/bin/python3
"""ARP and IPv6 Neighbor Discovery counts as an operator reads them: `vipctl get stats` (its
NEIGHBORS table and `neighbors` in -o json), the vipgate_neighbor_* metrics, and the final
report's `arp:` and `nd:` lines, all against what vipgate actually sent (out.pcap).

The real vipgate on a net_pcap port (rx_pcap one pass, tx_pcap) with 198.18.0.1/24, 198.18.0.2/24,
2001:db8::1/64 and the SNAT6 address 2001:db8::2; no static neighbor for either pod. in.pcap,
built with scapy, per family:
  * two requests aimed at the gateway (ARP for the port address and the VIP; NS for the port
    address and the SNAT6 address): two answers, two neighbors learnt;
  * one unsolicited message giving a learnt neighbor another MAC: refused, and a probe sent;
  * one message from another MAC claiming the port address: a conflict, defended once;
  * one SYN to a service whose pod nobody resolves: held, three requests, then dropped.
So each family sends 4 requests and 3 advertisements, learns 2 neighbors, refuses 1 change, counts
1 conflict and drops 1 held packet, and holds none at the end (about 3 s after the SYN).
"""
import os
import socket
import sys
import time
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vipgate_harness as h  # noqa: E402

VIP4, POD4 = "198.18.100.10", "198.18.0.11"
VIP6, POD6 = "2001:db8:100::1", "2001:db8::20"
GATEWAY6, SNAT6 = "2001:db8::1", "2001:db8::2"
HOST4 = ["198.18.0.50", "198.18.0.51"]
HOST6 = ["2001:db8::10", "2001:db8::11"]
HOST_MACS = ["02:00:00:00:07:01", "02:00:00:00:07:02"]
SPOOF_MAC = "02:00:00:00:66:66"
EXPECTED = {"solicitations_sent": 4, "advertisements_sent": 3, "learnt": 2, "held": 0, "held_sent": 0,
            "held_dropped": 1, "conflicts": 1, "updates_refused": 1}


def config_for(context, in_pcap, out_pcap):
    services = [{"name": "web", "cluster_ip": VIP4,
                 "ports": [{"name": "http", "protocol": "TCP", "port": 80, "target_port": 8080}],
                 "endpoints": [{"address": POD4}]}]
    config = h.make_config(context.file_prefix("nd"), f"net_pcap0,rx_pcap={in_pcap},tx_pcap={out_pcap}", services,
                           neighbors=[])
    config["ports"][0]["addresses"] += [f"{GATEWAY6}/64", f"{SNAT6}/64"]
    config["snat"]["addresses"].append(SNAT6)
    config["services"].append({"name": "web6", "cluster_ip": VIP6, "selector": {"app": "web6"},
                               "ports": [{"name": "http", "protocol": "TCP", "port": 80, "target_port": 8080}]})
    config["pods"] = [{"name": "web6-1", "pod_ips": [POD6], "labels": {"app": "web6"}}]
    return config


def build_input():
    from scapy.layers.inet import IP, TCP
    from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6NDOptDstLLAddr, ICMPv6NDOptSrcLLAddr, IPv6
    from scapy.layers.l2 import ARP, Ether
    from scapy.utils6 import in6_getnsma, in6_getnsmac

    def arp(op, mac, sender, target, dst="ff:ff:ff:ff:ff:ff"):
        return Ether(src=mac, dst=dst) / ARP(op=op, hwsrc=mac, psrc=sender, pdst=target,
                                             hwdst="00:00:00:00:00:00" if op == 1 else h.GATEWAY_MAC)

    def solicitation(mac, source, target):
        group = in6_getnsma(socket.inet_pton(socket.AF_INET6, target))
        return Ether(src=mac, dst=in6_getnsmac(group)) / \
            IPv6(src=source, dst=socket.inet_ntop(socket.AF_INET6, group), hlim=255) / \
            ICMPv6ND_NS(tgt=target) / ICMPv6NDOptSrcLLAddr(lladdr=mac)

    def advertisement(mac, target):
        return Ether(src=mac, dst=h.GATEWAY_MAC) / IPv6(src=target, dst=GATEWAY6, hlim=255) / \
            ICMPv6ND_NA(tgt=target, R=0, S=0, O=1) / ICMPv6NDOptDstLLAddr(lladdr=mac)

    frames = [
        arp(1, HOST_MACS[0], HOST4[0], h.GATEWAY_IP),
        arp(1, HOST_MACS[1], HOST4[1], VIP4),
        arp(2, SPOOF_MAC, HOST4[0], h.GATEWAY_IP, dst=h.GATEWAY_MAC),  # another MAC for a learnt host
        arp(2, SPOOF_MAC, h.GATEWAY_IP, HOST4[1], dst=h.GATEWAY_MAC),  # a claim on the port address
        h.client_frame("198.19.3.4", VIP4, TCP(sport=41000, dport=80, flags="S", seq=1)),
        solicitation(HOST_MACS[0], HOST6[0], GATEWAY6),
        solicitation(HOST_MACS[1], HOST6[1], SNAT6),
        advertisement(SPOOF_MAC, HOST6[0]),
        advertisement(SPOOF_MAC, GATEWAY6),
        Ether(src=HOST_MACS[0], dst=h.GATEWAY_MAC) / IPv6(src=HOST6[0], dst=VIP6) / TCP(sport=41001, dport=80,
                                                                                          flags="S", seq=1),
    ]
    return [bytes(frame) for frame in frames]


def sent_by_gateway(out_pcap):
    """What the gateway sent, counted from out.pcap: {"arp"|"nd": {"solicitations_sent", "advertisements_sent"}}."""
    from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6ND_NS
    from scapy.layers.l2 import ARP
    from scapy.utils import rdpcap
    sent = {"arp": {"solicitations_sent": 0, "advertisements_sent": 0},
            "nd": {"solicitations_sent": 0, "advertisements_sent": 0}}
    for packet in rdpcap(out_pcap):
        if ARP in packet:
            announcement = packet[ARP].op == 1 and packet[ARP].psrc == packet[ARP].pdst
            kind = "advertisements_sent" if packet[ARP].op == 2 or announcement else "solicitations_sent"
            sent["arp"][kind] += 1
        elif ICMPv6ND_NS in packet:
            sent["nd"]["solicitations_sent"] += 1
        elif ICMPv6ND_NA in packet:
            sent["nd"]["advertisements_sent"] += 1
    return sent


def main(context):
    vipctl_exe = sys.argv[2]
    in_pcap, out_pcap = context.path("in.pcap"), context.path("out.pcap")
    from scapy.utils import PcapWriter
    writer = PcapWriter(in_pcap, linktype=1, sync=False)
    for frame in build_input():
        writer.write(frame)
    writer.close()
    path = h.write_config(context.path("nd.toml"), config_for(context, in_pcap, out_pcap))
    api_socket = context.path("api.sock")
    daemon = context.daemon(path, name="vipgate-nd", args=["--api-socket", api_socket, "--metrics-address",
                                                            "127.0.0.1:0"])
    daemon.wait_running()
    metrics = daemon.metrics_address()
    vipctl = h.Vipctl(vipctl_exe, api_socket)

    # The held SYNs are dropped after three requests a second apart; the counts reach the API at
    # the next neighbor tick.
    deadline = time.monotonic() + 20
    while True:
        neighbors = vipctl.json("get", "stats").get("neighbors", {})
        if all(neighbors.get(p, {}).get("held_dropped") == 1 for p in ("arp", "nd")):
            break
        h.check(time.monotonic() < deadline, f"the held SYNs were not dropped within 20 s: {neighbors}")
        time.sleep(0.2)
    time.sleep(0.5)  # nothing more is due for 30 s (the next re-probe of a learnt entry)
    neighbors = vipctl.json("get", "stats")["neighbors"]
    h.log(f"neighbors: {neighbors}")
    for protocol in ("arp", "nd"):
        for field, count in EXPECTED.items():
            h.check(neighbors[protocol][field] == count,
                    f"vipctl: neighbors.{protocol}.{field} = {neighbors[protocol][field]}, expected {count}")

    table = vipctl.ok("get", "stats")
    rows = {line.split()[0]: line.split()[1:] for line in table.splitlines() if line.split()[:1] in (["arp"], ["nd"])}
    for protocol in ("arp", "nd"):
        h.check(rows.get(protocol) == [str(count) for count in EXPECTED.values()],
                f"`vipctl get stats` NEIGHBORS row {protocol}: {rows.get(protocol)}:\n{table}")

    with urllib.request.urlopen(f"http://{metrics}/metrics", timeout=10) as response:
        exposition = response.read().decode()
    series = {"solicitations_sent": "vipgate_neighbor_solicitations_sent_total{{protocol=\"{p}\"}}",
              "advertisements_sent": "vipgate_neighbor_advertisements_sent_total{{protocol=\"{p}\"}}",
              "learnt": "vipgate_neighbors_learnt_total{{protocol=\"{p}\"}}",
              "held": "vipgate_neighbor_held_packets{{protocol=\"{p}\"}}",
              "held_sent": "vipgate_neighbor_held_packets_total{{protocol=\"{p}\",outcome=\"sent\"}}",
              "held_dropped": "vipgate_neighbor_held_packets_total{{protocol=\"{p}\",outcome=\"dropped\"}}",
              "conflicts": "vipgate_neighbor_conflicts_total{{protocol=\"{p}\"}}",
              "updates_refused": "vipgate_neighbor_updates_refused_total{{protocol=\"{p}\"}}"}
    for protocol in ("arp", "nd"):
        for field, pattern in series.items():
            line = f"{pattern.format(p=protocol)} {EXPECTED[field]}"
            h.check(line in exposition, f"metrics lack `{line}`: "
                    f"{[l for l in exposition.splitlines() if 'neighbor' in l and protocol in l]}")

    status, log = daemon.stop()
    h.check(status == 0, f"vipgate exited with status {status}")
    # The final report says the same, and out.pcap holds what was counted as sent.
    h.check(f"arp: {EXPECTED['solicitations_sent']} requests sent, 2 replies sent, 2 neighbors learnt" in log,
            f"final report's arp: line: {[l for l in log.splitlines() if 'arp:' in l]}")
    h.check(f"nd: {EXPECTED['solicitations_sent']} solicitations sent, 3 advertisements sent, 2 neighbors learnt"
            in log, f"final report's nd: line: {[l for l in log.splitlines() if 'nd:' in l]}")
    sent = sent_by_gateway(out_pcap)
    h.log(f"out.pcap: {sent}")
    for protocol in ("arp", "nd"):
        for field, count in sent[protocol].items():
            h.check(count == EXPECTED[field], f"out.pcap holds {count} {protocol} {field}, vipgate counted "
                                              f"{EXPECTED[field]}")


if __name__ == "__main__":
    h.run_test("neighbor_counts", main)
