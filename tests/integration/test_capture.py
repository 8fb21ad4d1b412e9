#!/usr/bin/python3
"""Packet capture with DPDK's dpdk-dumpcap, as an operator runs it against a live gateway.

vipgate runs on hugepages (dumpcap attaches as a secondary process and maps the primary's packet
memory) with a net_tap port (whose device a secondary can open too; net_pcap's cannot). The test
starts `dpdk-dumpcap --file-prefix=<vipgate's> -i 0 -c N -w FILE`, then plays the harness's replay
scenario (32 TCP and 32 UDP client flows) into the tap until dumpcap has its packets, reads the pcapng with
scapy and finds the flows it sent (client -> VIP, as received) and their translated copies
(SNAT -> endpoint, as sent). Skipped (77) without free hugepages or without dpdk-dumpcap.
"""
import os
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vipgate_harness as h  # noqa: E402

CAPTURED = 200
NEEDED_HUGEPAGES_MIB = 400  # vipgate's -m 256 plus dumpcap's own pool


def main(context):
    dumpcap = shutil.which("dpdk-dumpcap")
    if dumpcap is None:
        raise h.TestSkip("dpdk-dumpcap is not installed (package dpdk)")
    if h.free_hugepages_mib() < NEEDED_HUGEPAGES_MIB:
        raise h.TestSkip(f"{h.free_hugepages_mib()} MiB of free hugepages, {NEEDED_HUGEPAGES_MIB} needed "
                         "(tools/setup.sh reserves them)")
    prefix = context.file_prefix()
    iface = context.interface_name("cap")
    config = h.make_config(prefix, f"net_tap0,iface={iface}", h.replay_services(), hugepages=True)
    daemon = context.daemon(h.write_config(context.path("gw.toml"), config), args=["--api-socket", ""])
    daemon.wait_running()
    daemon.wait_for(r"packet capture: dpdk-dumpcap --file-prefix=" + prefix, timeout=5)
    tap = context.tap(iface)

    out = context.path("capture.pcapng")
    dumpcap_log = open(context.path("dumpcap.log"), "w+")
    capture = subprocess.Popen([dumpcap, f"--file-prefix={prefix}", "-i", "0", "-c", str(CAPTURED), "-w", out],
                               stdout=dumpcap_log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while "Packets captured" not in open(dumpcap_log.name).read():  # its live counter: attached
            h.check(capture.poll() is None, f"dpdk-dumpcap exited early:\n{open(dumpcap_log.name).read()}")
            h.check(time.monotonic() < deadline,
                    f"dpdk-dumpcap did not start capturing within 30 s:\n{open(dumpcap_log.name).read()}")
            time.sleep(0.1)
        frames = h.replay_frames()
        while capture.poll() is None:
            h.check(time.monotonic() < deadline, f"dpdk-dumpcap did not get {CAPTURED} packets within 30 s")
            tap.send(frames)
            time.sleep(0.05)
    finally:
        if capture.poll() is None:
            capture.kill()
        capture.wait()
    text = open(dumpcap_log.name).read()
    h.check(capture.returncode == 0, f"dpdk-dumpcap failed ({capture.returncode}):\n{text}")
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.utils import rdpcap
    packets = rdpcap(out)
    # dumpcap stops after the burst that reaches the count, so a few more may be written.
    h.check(len(packets) >= CAPTURED, f"{out}: {len(packets)} packets, asked for {CAPTURED}")
    sent = {(proto, client, vip) for proto, client, vip in h.replay_flow_keys()}
    received, translated = 0, 0
    for packet in packets:
        if IP not in packet:
            continue
        l4 = packet[TCP] if TCP in packet else packet[UDP] if UDP in packet else None
        if l4 is None:
            continue
        key = ("TCP" if TCP in packet else "UDP", f"{packet[IP].src}:{l4.sport}", f"{packet[IP].dst}:{l4.dport}")
        if key in sent:
            received += 1
        elif packet[IP].src == h.SNAT_IP and packet[IP].dst in h.REPLAY_ENDPOINTS:
            translated += 1
    h.log(f"dpdk-dumpcap captured {len(packets)} packets: {received} client packets of the flows sent, "
          f"{translated} translated copies towards endpoints")
    h.check(received > 0 and translated > 0,
            f"the capture holds {received} client packets and {translated} translated ones; expected both")
    h.check(received + translated == len(packets), f"{len(packets) - received - translated} captured packets are "
                                                   "neither the flows sent nor their translations")
    h.check(daemon.running(), "vipgate stopped during the capture")
    status, log_text = daemon.stop(timeout=10)
    h.check(status == 0, f"vipgate exited with status {status}")
    counters = h.parse_final_counters(log_text)
    h.check(counters.get("forwarded_to_endpoint", 0) > 0, f"nothing forwarded during the capture: {counters}")


if __name__ == "__main__":
    h.run_test("capture", main)
