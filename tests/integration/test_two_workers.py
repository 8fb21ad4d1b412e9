#!/usr/bin/python3
"""Two workers on one net_tap port with two queues and no rte_flow steering, in full NAT and
in DNAT-only mode.

The kernel spreads the frames the test sends over the tap's queues by its own flow hash, so a
packet often reaches the worker that does not own its connection and must be handed off in
software. 200 TCP flows each do SYN, SYN-ACK, ACK, data and a reply; 50 UDP flows a request
and a response. Every frame vipgate sends is checked: right endpoint, consistent translation
for the whole flow, replies translated back to VIP:port for the client, checksums valid. The
final counters must show the hand-offs (reported in the output).
"""
import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vipgate_harness as h  # noqa: E402

WEB_VIP, DNS_VIP = "198.18.100.10", "198.18.100.53"
WEB_ENDPOINTS = ["198.18.0.11", "198.18.0.12", "198.18.0.13"]
DNS_ENDPOINTS = ["198.18.0.15", "198.18.0.16"]
TCP_FLOWS, UDP_FLOWS = 200, 50
TUN_FLOW_AGEING_S = 4.5   # Linux tun: TUN_FLOW_EXPIRE (3 s), cleaned by a timer rounded to a second

SERVICES = [
    {"name": "web", "cluster_ip": WEB_VIP,
     "ports": [{"name": "http", "protocol": "TCP", "port": 80, "target_port": 8080}],
     "endpoints": [{"address": a} for a in WEB_ENDPOINTS]},
    {"name": "dns", "cluster_ip": DNS_VIP,
     "ports": [{"name": "dns", "protocol": "UDP", "port": 53, "target_port": 5353}],
     "endpoints": [{"address": a} for a in DNS_ENDPOINTS]},
]


def client_of(index):
    return f"198.19.{index // 200}.{index % 200 + 1}", 10000 + index


def tcp_flows(tap, nat_mode):
    from scapy.layers.inet import IP, TCP
    flows = []
    for index in range(TCP_FLOWS):
        ip, port = client_of(index)
        flows.append(h.TcpFlow(ip, port, WEB_VIP, 80, isn=1_000_000 + index * 1000, endpoint_isn=5_000_000 + index))
    by_isn = {flow.isn: flow for flow in flows}
    by_client = {(flow.client_ip, flow.client_port): flow for flow in flows}

    # SYNs
    tap.send([flow.syn() for flow in flows])
    for packet in tap.expect(lambda p: TCP in p and p[TCP].flags == "S" and p[TCP].seq in by_isn, TCP_FLOWS,
                             timeout=15, what="forwarded SYNs"):
        by_isn[packet[TCP].seq].learn(packet, nat_mode, WEB_ENDPOINTS, 8080)
    if nat_mode == "fullnat":
        tuples = {(f.nat_port, f.endpoint_ip) for f in flows}
        h.check(len(tuples) == TCP_FLOWS, "two flows got the same SNAT port towards the same endpoint")
        # The SNAT port range [1024, 65535] is split in two: each worker allocates from its half
        # for the connections it owns. Both must have created connections.
        halves = {(f.nat_port - 1024) // ((65535 - 1024 + 1) // 2) for f in flows}
        h.check(halves == {0, 1}, f"SNAT ports of only worker(s) {sorted(halves)} in use: every connection "
                                  f"was created by one worker")

    def replies(flags, what):
        got = tap.expect(lambda p: TCP in p and p[TCP].flags == flags and (p[IP].dst, p[TCP].dport) in by_client,
                         TCP_FLOWS, timeout=15, what=what)
        result = {}
        for packet in got:
            flow = by_client[(packet[IP].dst, packet[TCP].dport)]
            h.check(flow not in result, f"{what}: two frames for {flow.client_ip}:{flow.client_port}")
            result[flow] = packet
        return result

    def to_endpoints(flags, what):
        got = tap.expect(lambda p: TCP in p and p[TCP].flags == flags and p[IP].dst in WEB_ENDPOINTS, TCP_FLOWS,
                         timeout=15, what=what)
        result = {}
        for packet in got:
            flow = by_isn.get(packet[TCP].seq - 1)
            h.check(flow is not None, f"{what}: unexpected sequence number in {h.describe(packet)}")
            h.check(flow not in result, f"{what}: two frames for flow {flow.client_ip}:{flow.client_port}")
            result[flow] = packet
        return result

    # The tun driver steers a frame to the queue from which the flow's last frame was written
    # (its "automq" flow table, keyed by a symmetric hash): right after the owner of a
    # connection transmitted the forwarded SYN, the SYN-ACK would go to that owner's queue.
    # The table forgets flows after about 3 s; wait, so the SYN-ACKs are spread by hash alone and
    # about half of them reach the worker that does not own the connection.
    time.sleep(TUN_FLOW_AGEING_S)

    # SYN-ACKs from the endpoints, translated back to the clients
    tap.send([flow.synack() for flow in flows])
    for flow, packet in replies("SA", "SYN-ACKs to the clients").items():
        flow.check_to_client(packet, "SYN-ACK", flags="SA")
        h.check(packet[TCP].ack == flow.isn + 1, f"SYN-ACK to {flow.client_ip}: ack {packet[TCP].ack}")

    # ACKs completing the handshakes
    tap.send([flow.client_segment("A") for flow in flows])
    for flow, packet in to_endpoints("A", "handshake ACKs").items():
        flow.check_to_endpoint(packet, "handshake ACK", flags="A")

    # data from the clients: the request of each flow has the same length
    tap.send([flow.client_segment("PA", b"request-%06d" % i) for i, flow in enumerate(flows)])
    for flow, packet in to_endpoints("PA", "client data").items():
        flow.check_to_endpoint(packet, "client data", flags="PA", payload=b"request-%06d" % flows.index(flow))
    for flow in flows:
        flow.client_seq += len(b"request-%06d" % 0)

    # replies from the endpoints
    tap.send([flow.endpoint_segment("PA", b"reply-from-%s-%d" % (flow.endpoint_ip.encode(), flow.client_port))
              for flow in flows])
    for flow, packet in replies("PA", "replies to the clients").items():
        flow.check_to_client(packet, "reply", flags="PA",
                             payload=b"reply-from-%s-%d" % (flow.endpoint_ip.encode(), flow.client_port))
    spread = {}
    for flow in flows:
        spread[flow.endpoint_ip] = spread.get(flow.endpoint_ip, 0) + 1
    h.check(len(spread) == len(WEB_ENDPOINTS), f"not every web endpoint used: {spread}")
    return spread


def udp_flows(tap, nat_mode):
    from scapy.layers.inet import IP, UDP
    clients = [(f"198.19.100.{i + 1}", 20000 + i) for i in range(UDP_FLOWS)]
    tap.send([h.client_frame(ip, DNS_VIP, UDP(sport=port, dport=53) / (b"query-%d" % i))
              for i, (ip, port) in enumerate(clients)])
    forwarded = tap.expect(lambda p: UDP in p and p[UDP].dport == 5353, UDP_FLOWS, timeout=15,
                           what="forwarded UDP requests")
    translations = {}
    for packet in forwarded:
        payload = h.l4_payload(packet)
        index = int(payload.split(b"-")[1])
        ip, port = clients[index]
        h.check(packet[IP].dst in DNS_ENDPOINTS, f"UDP request {index} sent to {packet[IP].dst}")
        if nat_mode == "fullnat":
            h.check_frame(packet, what=f"UDP request {index}", eth_dst=h.endpoint_mac(packet[IP].dst),
                          ip_src=h.SNAT_IP, ttl=63, payload=payload)
        else:
            h.check_frame(packet, what=f"UDP request {index}", eth_dst=h.endpoint_mac(packet[IP].dst),
                          ip_src=ip, sport=port, ttl=63, payload=payload)
        translations[index] = (packet[IP].dst, packet[IP].src, packet[UDP].sport)
    h.check(len(translations) == UDP_FLOWS, f"UDP requests of {len(translations)} flows forwarded, not {UDP_FLOWS}")
    tap.send([h.endpoint_frame(endpoint, nat_ip, UDP(sport=5353, dport=nat_port) / (b"answer-%d" % i))
              for i, (endpoint, nat_ip, nat_port) in translations.items()])
    answers = tap.expect(lambda p: UDP in p and p[UDP].sport == 53, UDP_FLOWS, timeout=15, what="UDP answers")
    for packet in answers:
        index = int(h.l4_payload(packet).split(b"-")[1])
        ip, port = clients[index]
        h.check_frame(packet, what=f"UDP answer {index}", eth_dst=h.ROUTER_MAC, ip_src=DNS_VIP, sport=53,
                      ip_dst=ip, dport=port, ttl=63, payload=b"answer-%d" % index)


def run_mode(context, nat_mode):
    iface = context.interface_name("w" + nat_mode[0])
    config = h.make_config(context.file_prefix(nat_mode), f"net_tap0,iface={iface}", SERVICES, workers=2,
                           nat_mode=nat_mode)
    path = h.write_config(context.path(f"{nat_mode}.toml"), config)
    daemon = context.daemon(path, name=f"vipgate-{nat_mode}")
    daemon.wait_running()
    text = daemon.log_text()
    h.check("2 RX / 2 TX queues" in text, f"{nat_mode}: the port did not get two queues:\n{h.Daemon.tail(text, 15)}")
    # Both workers poll CPU 1 (--lcores 0@0,1@1,2@1): every other CPU vipgate may use builds
    # Maglev tables of large updates, and the daemon says how many.
    control_cpus = max(1, len(os.sched_getaffinity(0) - {1}))
    h.check(f"build their Maglev tables on {control_cpus} control CPU(s)" in text,
            f"{nat_mode}: no 'Maglev tables on {control_cpus} control CPU(s)' line:\n{h.Daemon.tail(text, 15)}")
    steering = [line.split("] ", 2)[-1] for line in text.splitlines() if "rte_flow" in line]
    h.log(f"{nat_mode}: {steering[-1] if steering else 'no rte_flow steering message'}")
    tap = context.tap(iface)
    queues = len([q for q in os.listdir(f"/sys/class/net/{iface}/queues") if q.startswith("tx-")])
    spread = tcp_flows(tap, nat_mode)
    udp_flows(tap, nat_mode)
    tap.expect_none(lambda p: True, wait=0.3, what="further frame")

    status, text = daemon.stop()
    h.check(status == 0, f"{nat_mode}: vipgate exited with status {status}")
    counters = h.parse_final_counters(text)
    h.log(f"{nat_mode}: final counters {counters}")
    h.log(f"{nat_mode}: web spread {spread}; hand-offs out {counters.get('handoffs_out', 0)}, "
          f"in {counters.get('handoffs_in', 0)} (kernel queues: {queues})")
    client_packets = TCP_FLOWS * 3 + UDP_FLOWS
    expected = {"new_connections": TCP_FLOWS + UDP_FLOWS, "forwarded_to_endpoint": client_packets,
                "forwarded_to_client": TCP_FLOWS * 2 + UDP_FLOWS}
    for name, value in expected.items():
        h.check(counters.get(name, 0) == value, f"{nat_mode}: counter {name} = {counters.get(name, 0)}, expected {value}")
    h.check(counters.get("handoffs_out", 0) > 0, f"{nat_mode}: no hand-offs between the workers: {counters}")
    h.check(counters.get("handoffs_in", 0) == counters.get("handoffs_out", 0),
            f"{nat_mode}: {counters.get('handoffs_out')} packets handed off but {counters.get('handoffs_in')} received")
    # The kernel's own IPv6 on the tap (MLD, router and neighbor solicitations) is ipv6_not_served.
    bad = {k: v for k, v in counters.items()
           if k.startswith("drop.") and k not in ("drop.unknown_ethertype", "drop.ipv6_not_served")}
    h.check(not bad, f"{nat_mode}: unexpected drops {bad}")
    tap.close()


def main(context):
    for nat_mode in ["fullnat", "dnat"]:
        run_mode(context, nat_mode)


if __name__ == "__main__":
    h.run_test("two_workers", main, need_tap=True)
