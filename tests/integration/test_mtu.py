#!/usr/bin/python3
"""Port MTU and answer rate limit through the real daemon on a net_pcap port (rx_pcap=in.pcap,
tx_pcap=out.pcap), one worker, both NAT modes.

Port p0 has `mtu = 1500`, which is net_pcap's own (so nothing is set). net_pcap enforces no MTU:
it delivers larger frames (as a misconfigured neighbor would send them), in chained mbufs. in.pcap holds a UDP flow to a ClusterIP:
  * a small datagram (opens the flow), forwarded;
  * a 9000-byte datagram with DF: answered with ICMP fragmentation needed (type 3 code 4) from
    the gateway's address, next-hop MTU 1500, quoting the datagram as the client sent it;
  * a datagram of exactly 1500 bytes with DF: forwarded whole;
  * a 1501-byte datagram without DF: dropped (mtu_exceeded), not fragmented;
and 60 SYNs to a port the ClusterIP does not serve, within a few microseconds: the default
answer budget (burst 50, of which the ICMP answer took one) lets 49 or a few more RSTs out and
drops the rest as answer_rate_limited.

A second run with `mtu = 9000`, which net_pcap cannot set (vipgate warns that it keeps the MTU in
software), forwards the 9000-byte datagram whole from single jumbo mbufs (the log names the
pool's buffer size and memory, which the README quotes).
"""
import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vipgate_harness as h  # noqa: E402

VIP = "198.18.100.53"
ENDPOINT = "198.18.0.15"
CLIENT, CLIENT_PORT = "198.19.3.4", 33333
REFUSED_SYNS = 60
DEFAULT_ANSWER_BURST = 50
SERVICES = [{"name": "dns", "cluster_ip": VIP,
             "ports": [{"name": "dns", "protocol": "UDP", "port": 53, "target_port": 5353}],
             "endpoints": [{"address": ENDPOINT}]}]


def datagram(total_length, dont_fragment=True, tag=b"x"):
    """A client -> VIP UDP datagram of `total_length` bytes of IPv4."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    payload = (tag * total_length)[:total_length - 28]
    return bytes(Ether(src=h.ROUTER_MAC, dst=h.GATEWAY_MAC) /
                 IP(src=CLIENT, dst=VIP, ttl=64, id=0x1234, flags="DF" if dont_fragment else 0) /
                 UDP(sport=CLIENT_PORT, dport=53) / payload)


def refused_syn(index):
    from scapy.layers.inet import TCP
    return bytes(h.client_frame(CLIENT, VIP, TCP(sport=40000 + index, dport=81, flags="S", seq=index)))


def write_pcap(path, frames):
    from scapy.utils import PcapWriter
    writer = PcapWriter(path, linktype=1, sync=False)
    for frame in frames:
        writer.write(frame)
    writer.close()


def run(context, nat_mode, mtu, frames):
    tag = f"{nat_mode}-{mtu}"
    in_pcap, out_pcap = context.path(f"in-{tag}.pcap"), context.path(f"out-{tag}.pcap")
    write_pcap(in_pcap, frames)
    config = h.make_config(context.file_prefix(tag), f"net_pcap0,rx_pcap={in_pcap},tx_pcap={out_pcap}", SERVICES,
                           nat_mode=nat_mode)
    config["ports"][0]["mtu"] = mtu
    daemon = context.daemon(h.write_config(context.path(f"{tag}.toml"), config), name=f"vipgate-{tag}",
                            args=["--duration", "2"])
    status = daemon.wait_exit(timeout=40)
    text = daemon.log_text()
    h.check(status == 0, f"{tag}: vipgate exited with status {status}:\n{h.Daemon.tail(text)}")
    # net_pcap starts at 1500: only another MTU is set on it, and refused with a warning.
    warned = re.search(rf"port p0: the device has no MTU setting .*MTU {mtu} applies to what vipgate sends", text)
    h.check(bool(warned) == (mtu != 1500),
            f"{tag}: {'a' if warned else 'no'} warning that net_pcap keeps the MTU in software:\n{h.Daemon.tail(text)}")
    pool = re.search(rf"MTU {mtu}, (\d+) mbufs of (\d+) bytes \(([\d.]+) MiB\)", text)
    h.check(pool, f"{tag}: the port's line names no MTU and pool:\n{h.Daemon.tail(text)}")
    h.log(f"{tag}: pool of {pool.group(1)} mbufs, data room {pool.group(2)} bytes, {pool.group(3)} MiB")
    h.check(int(pool.group(2)) >= mtu + 14, f"{tag}: data room {pool.group(2)} cannot hold a frame of MTU {mtu}")
    return h.read_pcap(out_pcap), h.parse_final_counters(text)


def udp_lengths_to_endpoint(output):
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    return [Ether(d)[IP].len for d in output if UDP in Ether(d) and Ether(d)[IP].dst == ENDPOINT]


def check_mtu_1500(context, nat_mode):
    from scapy.layers.inet import ICMP, IP, IPerror, TCP
    from scapy.layers.l2 import Ether
    too_big = datagram(9000, tag=b"J")
    frames = [datagram(100), too_big, datagram(1500, tag=b"E"), datagram(1501, dont_fragment=False, tag=b"N")]
    frames += [refused_syn(i) for i in range(REFUSED_SYNS)]
    output, counters = run(context, nat_mode, 1500, frames)
    h.log(f"{nat_mode}: final counters {counters}")

    h.check(udp_lengths_to_endpoint(output) == [100, 1500],
            f"{nat_mode}: datagrams to the endpoint of IP lengths {udp_lengths_to_endpoint(output)}, expected [100, 1500]")
    errors = [Ether(d) for d in output if ICMP in Ether(d)]
    h.check(len(errors) == 1, f"{nat_mode}: {len(errors)} ICMP frames in out.pcap, expected 1 (fragmentation needed)")
    error = errors[0]
    h.check_frame(error, what="fragmentation needed", eth_dst=h.ROUTER_MAC, ip_src=h.GATEWAY_IP, ip_dst=CLIENT)
    icmp = error[ICMP]
    h.check((icmp.type, icmp.code) == (3, 4), f"{nat_mode}: ICMP {icmp.type}/{icmp.code}, expected 3/4")
    h.check(icmp.nexthopmtu == 1500, f"{nat_mode}: next-hop MTU {icmp.nexthopmtu}, expected 1500")
    quoted = error[IPerror]
    h.check((quoted.src, quoted.dst, quoted.len, quoted.flags.DF) == (CLIENT, VIP, 9000, True),
            f"{nat_mode}: the quote is not the client's 9000-byte datagram as sent: {quoted.src} -> {quoted.dst}, "
            f"length {quoted.len}, DF {quoted.flags.DF}")
    h.check(bytes(error[IP])[28:56] == too_big[14:42], f"{nat_mode}: the quoted bytes differ from the datagram received")
    h.check(not h.checksum_problems(bytes(error)), f"{nat_mode}: {h.checksum_problems(bytes(error))}")

    resets = [Ether(d) for d in output if TCP in Ether(d)]
    h.check(counters.get("resets_sent", 0) == len(resets), f"{nat_mode}: resets_sent disagrees with out.pcap")
    limited = counters.get("drop.answer_rate_limited", 0)
    # The fragmentation-needed answer took one token of the same budget.
    h.check(DEFAULT_ANSWER_BURST <= len(resets) + 1 < REFUSED_SYNS and len(resets) + limited == REFUSED_SYNS,
            f"{nat_mode}: {len(resets)} RSTs and {limited} rate-limited for {REFUSED_SYNS} refused SYNs "
            f"(expected the burst of {DEFAULT_ANSWER_BURST} less the ICMP answer, and the rest limited)")
    expected = {"drop.mtu_exceeded": 2, "icmp_sent": 1, "drop.vip_port_refused": len(resets)}
    for name, value in expected.items():
        h.check(counters.get(name, 0) == value, f"{nat_mode}: {name} = {counters.get(name, 0)}, expected {value}")


def check_jumbo(context, nat_mode):
    output, counters = run(context, nat_mode, 9000, [datagram(100), datagram(9000, tag=b"J")])
    h.check(udp_lengths_to_endpoint(output) == [100, 9000],
            f"{nat_mode}: with MTU 9000 the datagrams reached the endpoint with IP lengths "
            f"{udp_lengths_to_endpoint(output)}, expected [100, 9000]")
    h.check(counters.get("drop.mtu_exceeded", 0) == 0, f"{nat_mode}: mtu_exceeded with MTU 9000")


def main(context):
    for nat_mode in ["fullnat", "dnat"]:
        check_mtu_1500(context, nat_mode)
    check_jumbo(context, "fullnat")


if __name__ == "__main__":
    h.run_test("mtu", main)
