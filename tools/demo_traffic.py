#!/usr/bin/env python3
"""Write the demo's client traffic as a pcap: TCP and UDP flows from clients in 198.19.0.0/16
(behind the router 198.18.0.254) to the demo ClusterIPs of config/default.toml. vipgate replays
it in a loop (net_pcap infinite_rx), so each flow is new on the first pass and established
after. Plain struct packing, no scapy: it runs in well under a second."""
import argparse
import random
import socket
import struct

GATEWAY_MAC = bytes.fromhex("020000000001")
ROUTER_MAC = bytes.fromhex("0200000000fe")
WEB_VIP, DNS_VIP = "198.18.100.10", "198.18.100.53"


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def frame(src: str, dst: str, protocol: int, l4: bytes) -> bytes:
    source, destination = socket.inet_aton(src), socket.inet_aton(dst)
    pseudo = source + destination + struct.pack("!BBH", 0, protocol, len(l4))
    l4_sum = checksum(pseudo + l4)
    offset = 16 if protocol == socket.IPPROTO_TCP else 6
    l4 = l4[:offset] + struct.pack("!H", l4_sum) + l4[offset + 2:]
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 0, 0x4000, 64, protocol, 0, source, destination)
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return GATEWAY_MAC + ROUTER_MAC + b"\x08\x00" + header + l4


def tcp(sport: int, dport: int, seq: int, ack: int, flags: int, payload: bytes = b"") -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload


def udp(sport: int, dport: int, payload: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


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
        if flow % 4 == 3:
            for _ in range(args.packets_per_flow):
                frames.append(frame(client, DNS_VIP, socket.IPPROTO_UDP, udp(sport, 53, b"q" * 18)))
            continue
        seq = rng.randrange(1 << 32)
        frames.append(frame(client, WEB_VIP, socket.IPPROTO_TCP, tcp(sport, 80, seq, 0, 0x02)))
        for i in range(args.packets_per_flow - 1):
            frames.append(frame(client, WEB_VIP, socket.IPPROTO_TCP,
                                tcp(sport, 80, (seq + 1 + 6 * i) & 0xFFFFFFFF, 1, 0x18, b"GET /\n")))
    with open(args.output, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for data in frames:
            out.write(struct.pack("<IIII", 0, 0, len(data), len(data)) + data)


if __name__ == "__main__":
    main()
