#!/usr/bin/python3
"""An unanswered UDP flood must not lock new connections out (issue 10, item 6).

vipgate runs in full-NAT mode, one worker, with the smallest connection table the configuration
allows (conntrack.capacity = 1024), on a net_pcap port (rx_pcap=in.pcap, tx_pcap=out.pcap).
in.pcap holds a flood of 3 x capacity new UDP flows to a dns service, each one datagram from a
spoofed source (distinct address and port) that nobody will answer, followed at once by new TCP
connections (SYN) to a web service and new UDP flows to the dns service from other clients.

The flood's entries never see a reply, so they are evictable: every flood datagram and every
new connection after it must be tracked and forwarded to an endpoint of its service, nothing
may be dropped as conntrack_full, and the final counters must show an eviction for every new
connection beyond the table's capacity. (Before the fix the table stayed full of the flood's
entries for udp_timeout, 120 s, and everything after the first 1024 flows was dropped.)
"""
import os
import random
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vipgate_harness as h  # noqa: E402

CAPACITY = 1024                  # the smallest conntrack.capacity vipgate accepts
FLOOD = 3 * CAPACITY
NEW_TCP, NEW_UDP = 8, 8
WEB_VIP, DNS_VIP = "198.18.100.10", "198.18.100.53"
WEB_TARGETS = {"198.18.0.11": 8080, "198.18.0.12": 8080}
DNS_TARGETS = {"198.18.0.15": 5353, "198.18.0.16": 5353}
SEQ_BASE = 7_000_000

SERVICES = [
    {"name": "web", "cluster_ip": WEB_VIP,
     "ports": [{"name": "http", "protocol": "TCP", "port": 80, "target_port": 8080}],
     "endpoints": [{"address": a} for a in WEB_TARGETS]},
    {"name": "dns", "cluster_ip": DNS_VIP,
     "ports": [{"name": "dns", "protocol": "UDP", "port": 53, "target_port": 5353}],
     "endpoints": [{"address": a} for a in DNS_TARGETS]},
]


def build_input(path):
    """Writes in.pcap: the flood, then the new connections. Returns the number of frames."""
    from scapy.layers.inet import TCP, UDP
    from scapy.utils import PcapWriter
    rng = random.Random(10)
    frames = []
    used = set()
    for n in range(FLOOD):
        while True:
            source = (f"198.19.{rng.randrange(64, 256)}.{rng.randrange(1, 255)}", rng.randrange(1024, 65536))
            if source not in used:
                used.add(source)
                break
        frames.append(h.client_frame(source[0], DNS_VIP, UDP(sport=source[1], dport=53) / (b"flood-%d" % n)))
    # New connections right after the flood, from clients the flood did not use (198.19.1.0/24).
    for n in range(NEW_TCP):
        frames.append(h.client_frame(f"198.19.1.{n + 1}", WEB_VIP,
                                     TCP(sport=40000 + n, dport=80, flags="S", seq=SEQ_BASE + n)))
    for n in range(NEW_UDP):
        frames.append(h.client_frame(f"198.19.1.{100 + n}", DNS_VIP, UDP(sport=41000 + n, dport=53) / (b"new-%d" % n)))
    writer = PcapWriter(path, linktype=1, sync=False)
    for frame in frames:
        writer.write(frame)
    writer.close()
    return len(frames)


def check_output(frames):
    """Every frame in out.pcap is a datagram or SYN sent to an endpoint of its service from the
    SNAT address; returns (flood datagrams seen, new TCP seen, new UDP seen)."""
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.l2 import Ether
    flood, new_tcp, new_udp = set(), set(), set()
    for index, data in enumerate(frames):
        packet = Ether(data)
        what = f"out.pcap frame {index}"
        h.check(IP in packet, f"{what}: not IPv4: {h.describe(packet)}")
        if TCP in packet:
            n = packet[TCP].seq - SEQ_BASE
            h.check(0 <= n < NEW_TCP and packet[TCP].flags == "S", f"{what}: unexpected {h.describe(packet)}")
            targets, seen = WEB_TARGETS, new_tcp
        else:
            h.check(UDP in packet, f"{what}: neither TCP nor UDP: {h.describe(packet)}")
            payload = h.l4_payload(packet)
            kind, _, number = payload.partition(b"-")
            h.check(kind in (b"flood", b"new") and number.isdigit(), f"{what}: unknown UDP payload {payload!r}")
            n = int(number)
            targets, seen = DNS_TARGETS, flood if kind == b"flood" else new_udp
        ip = packet[IP]
        h.check(ip.dst in targets, f"{what}: sent to {ip.dst}, not an endpoint of its service")
        h.check_frame(packet, what=what, eth_dst=h.endpoint_mac(ip.dst), ip_src=h.SNAT_IP, dport=targets[ip.dst],
                      ttl=63)
        h.check(n not in seen, f"{what}: forwarded twice")
        seen.add(n)
    return flood, new_tcp, new_udp


def main(context):
    in_pcap, out_pcap = context.path("in.pcap"), context.path("out.pcap")
    frame_count = build_input(in_pcap)
    config = h.make_config(context.file_prefix(), f"net_pcap0,rx_pcap={in_pcap},tx_pcap={out_pcap}", SERVICES,
                           nat_mode="fullnat", conntrack={"capacity": CAPACITY})
    path = h.write_config(context.path("vipgate.toml"), config)
    daemon = context.daemon(path, args=["--duration", "2"])
    status = daemon.wait_exit(timeout=40)
    text = daemon.log_text()
    h.check(status == 0, f"vipgate --duration 2 exited with status {status}:\n{h.Daemon.tail(text)}")
    h.check("run time reached" in text, "the log does not say the run time was reached")
    counters = h.parse_final_counters(text)
    h.log(f"final counters {counters}")

    output = h.read_pcap(out_pcap)
    h.log(f"{frame_count} frames in ({FLOOD} flood datagrams, {NEW_TCP} SYNs, {NEW_UDP} datagrams), "
          f"{len(output)} frames out")
    flood, new_tcp, new_udp = check_output(output)
    h.check(counters.get("drop.conntrack_full", 0) == 0,
            f"{counters.get('drop.conntrack_full')} packets dropped as conntrack_full: the unanswered flood "
            f"locked the table ({len(flood)} of {FLOOD} flood datagrams and {len(new_tcp)} of {NEW_TCP} SYNs, "
            f"{len(new_udp)} of {NEW_UDP} new datagrams after it were forwarded)")
    h.check(len(new_tcp) == NEW_TCP, f"only {len(new_tcp)} of the {NEW_TCP} SYNs after the flood were forwarded")
    h.check(len(new_udp) == NEW_UDP,
            f"only {len(new_udp)} of the {NEW_UDP} new UDP flows after the flood were forwarded")
    h.check(len(flood) == FLOOD, f"only {len(flood)} of the {FLOOD} flood datagrams were forwarded")

    connections = FLOOD + NEW_TCP + NEW_UDP
    expected = {"rx_packets": frame_count, "new_connections": connections, "forwarded_to_endpoint": connections,
                "tx_packets": connections, "conntrack_evictions": connections - CAPACITY}
    for name, value in expected.items():
        h.check(counters.get(name, 0) == value, f"counter {name} = {counters.get(name, 0)}, expected {value}")
    drops = {k: v for k, v in counters.items() if k.startswith("drop.") and v}
    h.check(not drops, f"unexpected drops {drops}")


if __name__ == "__main__":
    h.run_test("udp_flood", main)
