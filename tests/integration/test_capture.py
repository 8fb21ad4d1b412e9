#!/usr/bin/python3
"""Packet capture as an operator runs it against a live gateway: DPDK's dpdk-dumpcap, and
`vipctl capture` (in-process, for gateways without hugepages).

`vipctl capture p0 -c N -w FILE` against vipgate on --no-huge replaying the harness's flows on a
net_pcap port: the pcapng holds exactly the flows sent and their translated copies.

dpdk-dumpcap:
vipgate runs on hugepages (dumpcap attaches as a secondary process and maps the primary's packet
memory) with a net_tap port (whose device a secondary can open too; net_pcap's cannot). The test
starts `dpdk-dumpcap --file-prefix=<vipgate's> -i 0 -c N -w FILE`, then plays the harness's replay
scenario (32 TCP and 32 UDP client flows) into the tap until dumpcap has its packets, reads the pcapng with
scapy and finds the flows it sent (client -> VIP, as received) and their translated copies
(SNAT -> endpoint, as sent). This half is left out (and logged) without free hugepages or
without dpdk-dumpcap.
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


def check_capture_file(path, wanted):
    """The capture holds at least `wanted` packets, each a client packet of the flows sent or its
    translated copy towards an endpoint, and some of both."""
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.utils import rdpcap
    packets = rdpcap(path)
    h.check(len(packets) >= wanted, f"{path}: {len(packets)} packets, asked for {wanted}")
    sent = h.replay_flow_keys()
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
    h.log(f"{path}: {len(packets)} packets: {received} client packets of the flows sent, "
          f"{translated} translated copies towards endpoints")
    h.check(received > 0 and translated > 0,
            f"the capture holds {received} client packets and {translated} translated ones; expected both")
    h.check(received + translated == len(packets), f"{len(packets) - received - translated} captured packets are "
                                                   "neither the flows sent nor their translations")


def check_vipctl_capture(context, vipctl_exe):
    in_pcap = context.path("in.pcap")
    h.write_replay_pcap(in_pcap)
    config = h.make_config(context.file_prefix("inproc"), f"net_pcap0,rx_pcap={in_pcap},infinite_rx=1,tx_pcap=/dev/null",
                           h.replay_services())
    api_socket = context.path("api.sock")
    daemon = context.daemon(h.write_config(context.path("inproc.toml"), config), name="vipgate-inproc",
                            args=["--api-socket", api_socket])
    daemon.wait_running()
    vipctl = h.Vipctl(vipctl_exe, api_socket)
    out = context.path("vipctl.pcapng")
    said = vipctl.ok("capture", "p0", "-c", str(CAPTURED), "-w", out)
    h.check(said.startswith(f"captured {CAPTURED} packets on p0 into {out}"), f"vipctl capture said: {said}")
    check_capture_file(out, CAPTURED)
    refused = vipctl.run("capture", "p7", "-w", out)
    h.check(refused.returncode == 1 and "no port 'p7'; ports: p0" in refused.stderr, f"capture p7: {refused.stderr}")
    h.check(vipctl.json("get", "stats")["counters"]["rx_packets"] > 0, "the API stopped answering after a capture")
    status, _ = daemon.stop(timeout=10)
    h.check(status == 0, f"vipgate exited with status {status}")


def check_stop_during_capture(context, vipctl_exe):
    """A capture waiting for packets that never come does not hold up SIGTERM."""
    in_pcap = context.path("empty.pcap")
    h.write_empty_pcap(in_pcap)
    config = h.make_config(context.file_prefix("idle"), f"net_pcap0,rx_pcap={in_pcap},tx_pcap=/dev/null",
                           h.replay_services())
    api_socket = context.path("idle.sock")
    daemon = context.daemon(h.write_config(context.path("idle.toml"), config), name="vipgate-idle",
                            args=["--api-socket", api_socket])
    daemon.wait_running()
    waiting = subprocess.Popen([vipctl_exe, "--socket", api_socket, "capture", "p0", "-c", "10", "--timeout", "300",
                                "-w", context.path("never.pcapng")], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(0.5)
        if waiting.poll() is not None:
            raise h.TestFailure(f"vipctl capture returned before any packet: {waiting.communicate()}")
        started = time.monotonic()
        status, _ = daemon.stop(timeout=10)
        h.check(status == 0, f"vipgate exited with status {status} during a capture")
        h.log(f"vipgate stopped {time.monotonic() - started:.2f} s after SIGTERM while a 300 s capture waited")
        waiting.wait(timeout=10)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait()


def main(context):
    check_vipctl_capture(context, sys.argv[2])
    check_stop_during_capture(context, sys.argv[2])
    dumpcap = shutil.which("dpdk-dumpcap")
    if dumpcap is None:
        h.log("dpdk-dumpcap is not installed (package dpdk): its half of the test is left out")
        return
    if h.free_hugepages_mib() < NEEDED_HUGEPAGES_MIB:
        h.log(f"{h.free_hugepages_mib()} MiB of free hugepages, {NEEDED_HUGEPAGES_MIB} needed for dpdk-dumpcap "
              "(tools/setup.sh reserves them): its half of the test is left out")
        return
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
    check_capture_file(out, CAPTURED)
    h.check(daemon.running(), "vipgate stopped during the capture")
    status, log_text = daemon.stop(timeout=10)
    h.check(status == 0, f"vipgate exited with status {status}")
    counters = h.parse_final_counters(log_text)
    h.check(counters.get("forwarded_to_endpoint", 0) > 0, f"nothing forwarded during the capture: {counters}")


if __name__ == "__main__":
    h.run_test("capture", main)
