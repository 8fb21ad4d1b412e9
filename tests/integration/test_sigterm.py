#!/usr/bin/python3
"""SIGTERM (and SIGINT) while traffic flows.

vipgate replays a pcap of TCP and UDP flows in a loop (net_pcap infinite_rx=1) and writes
what it forwards to tx_pcap. While packets are being forwarded, SIGTERM must stop it cleanly:
exit status 0, "final counters:" printed with the forwarding counters, and the tx pcap complete:
readable to the end by scapy, with exactly tx_packets records, each a well-formed translated
frame. The same with SIGINT on a second run.
"""
import os
import signal
import struct
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vipgate_harness as h  # noqa: E402

WEB_VIP, DNS_VIP = h.REPLAY_WEB_VIP, h.REPLAY_DNS_VIP
ENDPOINTS = h.REPLAY_ENDPOINTS
SERVICES = h.replay_services()


def count_records(path):
    """Counts the records of a pcap file by walking its record headers; fails on a short or
    damaged tail (a file cut in the middle of a record)."""
    with open(path, "rb") as f:
        data = f.read()
    h.check(len(data) >= 24, f"{path}: {len(data)} bytes, not even a pcap header")
    magic = struct.unpack("<I", data[:4])[0]
    h.check(magic in (0xA1B2C3D4, 0xA1B23C4D), f"{path}: bad pcap magic {magic:#x}")
    offset, records = 24, 0
    while offset < len(data):
        h.check(offset + 16 <= len(data), f"{path}: truncated record header at byte {offset}")
        caplen, length = struct.unpack("<II", data[offset + 8:offset + 16])
        h.check(caplen <= length and caplen <= 65535, f"{path}: damaged record header at byte {offset}")
        h.check(offset + 16 + caplen <= len(data), f"{path}: record {records} cut short at the end of the file")
        offset += 16 + caplen
        records += 1
    return records


def run_once(context, in_pcap, number, name):
    out_pcap = context.path(f"out-{name}.pcap")
    config = h.make_config(context.file_prefix(name), f"net_pcap0,rx_pcap={in_pcap},infinite_rx=1,tx_pcap={out_pcap}",
                           SERVICES)
    path = h.write_config(context.path(f"{name}.toml"), config)
    daemon = context.daemon(path, name=f"vipgate-{name}")
    daemon.wait_running()
    # Wait until forwarding is well under way: the tx pcap grows.
    deadline = time.monotonic() + 10
    while not (os.path.exists(out_pcap) and os.path.getsize(out_pcap) > 200_000):
        h.check(time.monotonic() < deadline, f"{name}: no traffic forwarded to {out_pcap} within 10 s")
        h.check(daemon.running(), f"{name}: vipgate exited early:\n{h.Daemon.tail(daemon.log_text())}")
        time.sleep(0.02)
    size_before = os.path.getsize(out_pcap)
    time.sleep(0.05)
    h.check(os.path.getsize(out_pcap) > size_before, f"{name}: the tx pcap stopped growing before the signal")
    started = time.monotonic()
    daemon.send_signal(number)
    status = daemon.wait_exit(timeout=20)
    stop_time = time.monotonic() - started
    text = daemon.log_text()
    h.check(status == 0, f"{name}: vipgate exited with status {status} after the signal:\n{h.Daemon.tail(text)}")
    h.check("stopping: signal received" in text, f"{name}: no 'stopping: signal received' in the log")
    counters = h.parse_final_counters(text)
    for counter in ["rx_packets", "tx_packets", "forwarded_to_endpoint", "new_connections", "conntrack_hits"]:
        h.check(counters.get(counter, 0) > 0, f"{name}: final counter {counter} missing or zero: {counters}")
    h.check("per-endpoint spread:" in text, f"{name}: no per-endpoint table in the final report")

    records = count_records(out_pcap)
    frames = h.read_pcap(out_pcap)   # scapy reads the whole file
    h.check(len(frames) == records, f"{name}: scapy read {len(frames)} records, the file holds {records}")
    h.check(records == counters["tx_packets"], f"{name}: the tx pcap holds {records} frames but tx_packets = "
                                               f"{counters['tx_packets']}: the file is incomplete")
    # The frames are whole translated frames: check a sample from the start and the end.
    from scapy.layers.l2 import Ether
    from scapy.layers.inet import IP
    for index in list(range(min(50, records))) + list(range(max(0, records - 50), records)):
        packet = Ether(frames[index])
        h.check(IP in packet and packet[IP].dst in ENDPOINTS, f"{name}: frame {index} is not forwarded: "
                                                              f"{h.describe(packet)}")
        h.check_frame(packet, what=f"{name}: frame {index}", eth_dst=h.endpoint_mac(packet[IP].dst),
                      ip_src=h.SNAT_IP, ttl=63)
    h.log(f"{name}: exit 0 {stop_time:.2f} s after the signal; {records} frames in the tx pcap "
          f"({os.path.getsize(out_pcap)} bytes) = tx_packets; rx_packets {counters['rx_packets']}")
    os.unlink(out_pcap)


def main(context):
    in_pcap = context.path("in.pcap")
    h.write_replay_pcap(in_pcap)
    run_once(context, in_pcap, signal.SIGTERM, "sigterm")
    run_once(context, in_pcap, signal.SIGINT, "sigint")


if __name__ == "__main__":
    h.run_test("sigterm", main)
