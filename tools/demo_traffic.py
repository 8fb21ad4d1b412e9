#!/usr/bin/python3
"""Write the demo's client traffic as a pcap: many TCP and UDP flows from clients in
198.19.0.0/16 (behind the router 198.18.0.254) to the demo ClusterIPs. vipgate replays it in a
loop (net_pcap infinite_rx), so every flow is first new and then established."""
import argparse
import random

from scapy.all import IP, TCP, UDP, Ether, Raw, wrpcap

GATEWAY_MAC = "02:00:00:00:00:01"
ROUTER_MAC = "02:00:00:00:00:fe"
WEB_VIP, DNS_VIP = "198.18.100.10", "198.18.100.53"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("output")
    parser.add_argument("--flows", type=int, default=4000)
    parser.add_argument("--packets-per-flow", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    frames = []
    for flow in range(args.flows):
        client = f"198.19.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        sport = rng.randrange(1024, 65536)
        l2 = Ether(src=ROUTER_MAC, dst=GATEWAY_MAC)
        if flow % 4 == 3:
            for _ in range(args.packets_per_flow):
                frames.append(l2 / IP(src=client, dst=DNS_VIP) / UDP(sport=sport, dport=53) / Raw(b"q" * 18))
        else:
            seq = rng.randrange(1 << 32)
            frames.append(l2 / IP(src=client, dst=WEB_VIP) / TCP(sport=sport, dport=80, flags="S", seq=seq))
            for i in range(args.packets_per_flow - 1):
                frames.append(l2 / IP(src=client, dst=WEB_VIP) /
                              TCP(sport=sport, dport=80, flags="PA", seq=seq + 1 + 6 * i, ack=1) / Raw(b"GET /\n"))
    wrpcap(args.output, frames)


if __name__ == "__main__":
    main()
