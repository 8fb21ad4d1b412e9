#!/usr/bin/python3
"""Forward path through a net_pcap port (rx_pcap=in.pcap, tx_pcap=out.pcap), one worker, in
full NAT and in DNAT-only mode.

in.pcap holds, interleaved: 60 TCP flows (SYN, ACK, data) to a web service with four endpoints
(one with its own port), 40 UDP flows (two datagrams) to a dns service with two endpoints, one
TTL=1 datagram, and a set of malformed or foreign frames. vipgate runs with --duration 2 and
out.pcap must hold exactly the forwarded packets:
  * every packet of a flow goes to the same endpoint of its service, at the endpoint's target
    port, to the endpoint's MAC from the gateway's MAC;
  * full NAT: source = the SNAT address with a port unique to the flow; DNAT: the client's
    source address and port are kept;
  * TTL decremented, every checksum valid (recomputed with scapy's routines);
  * every endpoint used; the per-endpoint table agrees with what out.pcap shows;
  * the TTL=1 datagram answered with ICMP time exceeded;
  * no malformed frame in the output, each counted under its drop reason.
"""
import os
import random
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vipgate_harness as h  # noqa: E402

WEB_VIP, DNS_VIP = "198.18.100.10", "198.18.100.53"
WEB_TARGETS = {"198.18.0.11": 8080, "198.18.0.12": 8080, "198.18.0.13": 8080, "198.18.0.14": 8081}
DNS_TARGETS = {"198.18.0.15": 5353, "198.18.0.16": 5353}
TCP_FLOWS, UDP_FLOWS = 60, 40
SEQ_BASE = 1_000_000

SERVICES = [
    {"name": "web", "cluster_ip": WEB_VIP,
     "ports": [{"name": "http", "protocol": "TCP", "port": 80, "target_port": 8080}],
     "endpoints": [{"address": "198.18.0.11"}, {"address": "198.18.0.12", "weight": 2},
                   {"address": "198.18.0.13"}, {"address": "198.18.0.14", "port": 8081}]},
    {"name": "dns", "cluster_ip": DNS_VIP,
     "ports": [{"name": "dns", "protocol": "UDP", "port": 53, "target_port": 5353}],
     "endpoints": [{"address": "198.18.0.15"}, {"address": "198.18.0.16"}]},
]

EXPECTED_DROPS = {
    "bad_ip_version": 1, "bad_ihl": 1, "ip_options": 1, "bad_ip_length": 1, "bad_ip_checksum": 2,
    "fragment": 1, "fragment_tiny": 1, "truncated_l4": 2, "unsupported_protocol": 1, "not_for_us": 1,
    "truncated_ipv6": 1,
    "vlan_mismatch": 1, "truncated_ethernet": 1, "malformed_arp": 1, "not_syn": 1, "ttl_exceeded": 1,
}


def client_address(rng):
    return f"198.19.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def build_input(path):
    """Writes in.pcap; returns (frame count, {flow id: client (ip, port)}, malformed markers)."""
    from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_NOP
    from scapy.layers.l2 import ARP, Dot1Q, Ether
    from scapy.utils import PcapWriter
    rng = random.Random(7)
    flows = {}
    sequences = []
    used = set()
    for flow in range(TCP_FLOWS + UDP_FLOWS):
        while True:
            client = (client_address(rng), rng.randrange(1024, 65536))
            if client not in used:
                used.add(client)
                break
        flows[flow] = client
        ip, port = client
        if flow < TCP_FLOWS:
            seq = SEQ_BASE + flow * 1000
            sequences.append([
                h.client_frame(ip, WEB_VIP, TCP(sport=port, dport=80, flags="S", seq=seq)),
                h.client_frame(ip, WEB_VIP, TCP(sport=port, dport=80, flags="A", seq=seq + 1, ack=1)),
                h.client_frame(ip, WEB_VIP, TCP(sport=port, dport=80, flags="PA", seq=seq + 1, ack=1) /
                               (b"tcp-flow-%d-data" % flow)),
            ])
        else:
            sequences.append([h.client_frame(ip, DNS_VIP, UDP(sport=port, dport=53) / (b"udp-flow-%d-pkt-%d" % (flow, n)))
                              for n in range(2)])
    # Interleave the flows, keeping each flow's own order.
    frames = []
    while sequences:
        chosen = rng.randrange(len(sequences))
        frames.append(bytes(sequences[chosen].pop(0)))
        if not sequences[chosen]:
            sequences.pop(chosen)

    gw, router = h.GATEWAY_MAC, h.ROUTER_MAC
    markers = []

    def marker(name):
        markers.append(b"MALFORMED-" + name.encode())
        return markers[-1]

    def syn(name, **ip_fields):
        return Ether(dst=gw, src=router) / IP(src="198.19.200.1", dst=WEB_VIP, **ip_fields) / \
            TCP(sport=999, dport=80, flags="S") / marker(name)

    def patched(frame, offset, value, fix_checksum=True):
        data = bytearray(bytes(frame))
        data[offset:offset + len(value)] = value
        if fix_checksum:
            from scapy.utils import checksum
            data[24:26] = b"\0\0"
            data[24:26] = checksum(bytes(data[14:34])).to_bytes(2, "big")
        return bytes(data)

    malformed = [
        patched(syn("version"), 14, b"\x65"),                                      # bad_ip_version
        patched(syn("ihl"), 14, b"\x44"),                                          # bad_ihl
        bytes(syn("options", options=[IPOption_NOP()] * 4)),                       # ip_options
        patched(syn("length"), 16, (len(bytes(syn("length-x"))) + 86).to_bytes(2, "big")),  # bad_ip_length
        patched(syn("checksum-1"), 24, b"\xde\xad", fix_checksum=False),           # bad_ip_checksum
        patched(syn("checksum-2"), 24, b"\x00\x01", fix_checksum=False),           # bad_ip_checksum
        bytes(Ether(dst=gw, src=router) / IP(src="198.19.200.1", dst=WEB_VIP, flags="MF") / ICMP() /
              marker("icmp-fragment")),                                            # fragment (ICMP: untracked)
        bytes(syn("fragment-offset-8", frag=1)),                                   # fragment_tiny (RFC 1858)
        # TCP header cut to 12 bytes inside the datagram (the marker is Ethernet trailer)
        bytes(Ether(dst=gw, src=router) / IP(src="198.19.200.1", dst=WEB_VIP, proto=6) /
              bytes(TCP(sport=999, dport=80))[:12]) + marker("short-tcp"),          # truncated_l4
        bytes(Ether(dst=gw, src=router) / IP(src="198.19.200.1", dst=DNS_VIP) /
              UDP(sport=999, dport=53, len=200) / marker("udp-length")),           # truncated_l4
        bytes(Ether(dst=gw, src=router) / IP(src="198.19.200.1", dst=WEB_VIP, proto=47) / marker("gre")),
        bytes(Ether(dst="02:00:00:00:00:99", src=router) / IP(src="198.19.200.1", dst=WEB_VIP) /
              TCP(sport=999, dport=80, flags="S") / marker("other-mac")),          # not_for_us
        bytes(Ether(dst=gw, src=router, type=0x86DD) / marker("ipv6")),           # truncated_ipv6
        bytes(Ether(dst=gw, src=router) / Dot1Q(vlan=5) / IP(src="198.19.200.1", dst=WEB_VIP) /
              TCP(sport=999, dport=80, flags="S") / marker("vlan")),               # vlan_mismatch
        bytes.fromhex("0200000000010200000000fe"),                                 # truncated_ethernet
        bytes(Ether(dst=gw, src=router) / ARP(hwlen=8, psrc=h.ROUTER_IP, pdst=h.GATEWAY_IP)),  # malformed_arp
        bytes(Ether(dst=gw, src=router) / IP(src="198.19.200.2", dst=WEB_VIP) /
              TCP(sport=998, dport=80, flags="R", seq=1) / marker("stray-rst")),    # not_syn
    ]
    # A new UDP flow with TTL 1: answered with ICMP time exceeded, not forwarded.
    expiring = bytes(h.client_frame("198.19.201.1", DNS_VIP, UDP(sport=4444, dport=53) / marker("ttl-1"), ttl=1))
    for frame in malformed + [expiring]:
        frames.insert(rng.randrange(len(frames) + 1), frame)

    writer = PcapWriter(path, linktype=1, sync=False)
    for frame in frames:
        writer.write(frame)
    writer.close()
    return len(frames), flows, markers


def check_output(frames, flows, markers, nat_mode):
    """Returns {endpoint "ip:port": set of flow ids}."""
    from scapy.layers.inet import ICMP, IP, TCP, UDP
    from scapy.layers.l2 import Ether
    seen = {}          # flow -> list of (ep ip, ep port, src ip, src port)
    icmp_errors = []
    for index, data in enumerate(frames):
        for mark in markers:
            h.check(mark not in data, f"malformed frame {mark.decode()} appears in out.pcap (frame {index})")
        packet = Ether(data)
        what = f"out.pcap frame {index}"
        h.check(IP in packet, f"{what}: not IPv4: {h.describe(packet)}")
        ip = packet[IP]
        if ICMP in packet:
            icmp_errors.append(packet)
            continue
        if TCP in packet:
            flow = (packet[TCP].seq - SEQ_BASE) // 1000
            h.check(0 <= flow < TCP_FLOWS, f"{what}: unknown TCP sequence number {packet[TCP].seq}")
            targets = WEB_TARGETS
            l4 = packet[TCP]
        else:
            h.check(UDP in packet, f"{what}: neither TCP, UDP nor ICMP: {h.describe(packet)}")
            payload = h.l4_payload(packet)
            h.check(payload.startswith(b"udp-flow-"), f"{what}: unknown UDP payload {payload!r}")
            flow = int(payload.split(b"-")[2])
            targets = DNS_TARGETS
            l4 = packet[UDP]
        client_ip, client_port = flows[flow]
        h.check(ip.dst in targets, f"{what} (flow {flow}): sent to {ip.dst}, not an endpoint of its service")
        if nat_mode == "fullnat":
            h.check_frame(packet, what=f"{what} (flow {flow})", eth_dst=h.endpoint_mac(ip.dst), ip_src=h.SNAT_IP,
                          dport=targets[ip.dst], ttl=63)
        else:
            h.check_frame(packet, what=f"{what} (flow {flow})", eth_dst=h.endpoint_mac(ip.dst), ip_src=client_ip,
                          sport=client_port, dport=targets[ip.dst], ttl=63)
        seen.setdefault(flow, []).append((ip.dst, l4.dport, ip.src, l4.sport))

    # ICMP time exceeded for the TTL=1 datagram, quoting it, from the gateway's address.
    h.check(len(icmp_errors) == 1, f"{len(icmp_errors)} ICMP frames in out.pcap, expected 1 time exceeded")
    error = icmp_errors[0]
    h.check_frame(error, what="ICMP time exceeded", eth_dst=h.ROUTER_MAC, ip_src=h.GATEWAY_IP,
                  ip_dst="198.19.201.1", ttl=64)
    h.check(error[ICMP].type == 11 and error[ICMP].code == 0,
            f"ICMP type/code {error[ICMP].type}/{error[ICMP].code}, expected 11/0")

    by_endpoint = {}
    translations = {}
    for flow in range(TCP_FLOWS + UDP_FLOWS):
        expected = 3 if flow < TCP_FLOWS else 2
        packets = seen.get(flow, [])
        h.check(len(packets) == expected, f"flow {flow}: {len(packets)} packets in out.pcap, expected {expected}")
        h.check(len(set(packets)) == 1, f"flow {flow}: packets took different translations: {sorted(set(packets))}")
        endpoint_ip, endpoint_port, source_ip, source_port = packets[0]
        by_endpoint.setdefault(f"{endpoint_ip}:{endpoint_port}", set()).add(flow)
        key = (packets[0][2], packets[0][3], endpoint_ip, endpoint_port, flow < TCP_FLOWS)
        h.check(key not in translations, f"flows {translations.get(key)} and {flow} share the translated tuple {key}")
        translations[key] = flow
    for ip, port in list(WEB_TARGETS.items()) + list(DNS_TARGETS.items()):
        h.check(f"{ip}:{port}" in by_endpoint, f"endpoint {ip}:{port} received no flow "
                                               f"(spread: { {k: len(v) for k, v in by_endpoint.items()} })")
    return by_endpoint


def run_mode(context, nat_mode, exe):
    in_pcap, out_pcap = context.path(f"in-{nat_mode}.pcap"), context.path(f"out-{nat_mode}.pcap")
    frame_count, flows, markers = build_input(in_pcap)
    config = h.make_config(context.file_prefix(nat_mode), f"net_pcap0,rx_pcap={in_pcap},tx_pcap={out_pcap}",
                           SERVICES, nat_mode=nat_mode)
    path = h.write_config(context.path(f"{nat_mode}.toml"), config)
    daemon = context.daemon(path, name=f"vipgate-{nat_mode}", args=["--duration", "2"])
    status = daemon.wait_exit(timeout=40)
    text = daemon.log_text()
    h.check(status == 0, f"{nat_mode}: vipgate --duration 2 exited with status {status}:\n{h.Daemon.tail(text)}")
    h.check("run time reached" in text, f"{nat_mode}: the log does not say the run time was reached")
    counters = h.parse_final_counters(text)
    h.log(f"{nat_mode}: final counters {counters}")

    output = h.read_pcap(out_pcap)
    h.log(f"{nat_mode}: {frame_count} frames in, {len(output)} frames out")
    by_endpoint = check_output(output, flows, markers, nat_mode)
    forwarded = TCP_FLOWS * 3 + UDP_FLOWS * 2
    h.check(len(output) == forwarded + 1, f"{nat_mode}: {len(output)} frames in out.pcap, expected {forwarded + 1}")

    # The TTL=1 datagram is answered, not forwarded: it opens no connection and is not counted
    # as forwarded to an endpoint.
    expected = {"rx_packets": frame_count, "tx_packets": forwarded + 1, "new_connections": TCP_FLOWS + UDP_FLOWS,
                "forwarded_to_endpoint": forwarded, "conntrack_hits": TCP_FLOWS * 2 + UDP_FLOWS, "icmp_sent": 1}
    for name, value in expected.items():
        h.check(counters.get(name, 0) == value, f"{nat_mode}: counter {name} = {counters.get(name, 0)}, expected {value}")
    drops = {k[5:]: v for k, v in counters.items() if k.startswith("drop.")}
    for reason, value in EXPECTED_DROPS.items():
        h.check(drops.get(reason, 0) == value, f"{nat_mode}: drop.{reason} = {drops.get(reason, 0)}, expected {value}")
    unexpected = {k: v for k, v in drops.items() if k not in EXPECTED_DROPS}
    h.check(not unexpected, f"{nat_mode}: unexpected drops {unexpected}")

    # The per-endpoint table counts the same connections out.pcap shows.
    spread = h.parse_endpoint_spread(text)
    table = {endpoint: count for service in spread.values() for endpoint, count in service.items()}
    observed = {endpoint: len(ids) for endpoint, ids in by_endpoint.items()}
    h.check(table == observed, f"{nat_mode}: the per-endpoint table says {table}, out.pcap shows {observed}")
    h.log(f"{nat_mode}: spread {observed}")


def main(context):
    for nat_mode in ["fullnat", "dnat"]:
        run_mode(context, nat_mode, context.exe)


if __name__ == "__main__":
    h.run_test("pcap_forward", main)
