#!/usr/bin/python3
"""Interactive reply path over a net_tap port, one worker, in full NAT and in DNAT-only mode.

The test plays the clients (behind the router 198.18.0.254) and the endpoints on the kernel
side of the tap and checks every frame vipgate sends:
  * a TCP connection: SYN, SYN-ACK, ACK + data both ways, FIN both ways, each translation
    (addresses, ports, MACs, TTL) and every checksum;
  * a UDP request/response;
  * ping to the VIP and to the gateway's own address answered;
  * a service with no endpoints refused: RST for TCP, ICMP port unreachable for UDP (and a
    port the VIP does not serve refused the same way);
  * ARP: requests for the VIP, the gateway address and the SNAT address answered, one for a
    foreign address ignored; an endpoint without a static neighbor entry resolved by ARP, the
    held SYN delivered once the test answers the request.
"""
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vipgate_harness as h  # noqa: E402

WEB_VIP, DNS_VIP, EMPTY_VIP, LAZY_VIP = "198.18.100.10", "198.18.100.53", "198.18.100.20", "198.18.100.30"
WEB_ENDPOINTS = ["198.18.0.11", "198.18.0.12"]
LAZY_ENDPOINT = "198.18.0.13"   # deliberately without a static neighbor entry
BROADCAST = "ff:ff:ff:ff:ff:ff"

SERVICES = [
    {"name": "web", "cluster_ip": WEB_VIP,
     "ports": [{"name": "http", "protocol": "TCP", "port": 80, "target_port": 8080}],
     "endpoints": [{"address": a} for a in WEB_ENDPOINTS]},
    {"name": "dns", "cluster_ip": DNS_VIP,
     "ports": [{"name": "dns", "protocol": "UDP", "port": 53, "target_port": 5353}],
     "endpoints": [{"address": a} for a in WEB_ENDPOINTS]},
    {"name": "empty", "cluster_ip": EMPTY_VIP,
     "ports": [{"name": "t", "protocol": "TCP", "port": 8000}, {"name": "u", "protocol": "UDP", "port": 8001}]},
    {"name": "lazy", "cluster_ip": LAZY_VIP,
     "ports": [{"name": "http", "protocol": "TCP", "port": 80, "target_port": 9090}],
     "endpoints": [{"address": LAZY_ENDPOINT}]},
]


def tcp_connection(tap, nat_mode):
    from scapy.layers.inet import TCP
    flow = h.TcpFlow("198.19.1.1", 40000, WEB_VIP, 80, isn=1000, endpoint_isn=90000)
    tap.send(flow.syn())
    syn = tap.expect_one(flow.is_forwarded_syn, what="forwarded SYN")
    flow.learn(syn, nat_mode, WEB_ENDPOINTS, 8080)
    h.log(f"{nat_mode}: SYN forwarded to {flow.endpoint_ip}:{flow.endpoint_port} from {flow.nat_ip}:{flow.nat_port}")
    if nat_mode == "fullnat":
        h.check(1024 <= flow.nat_port <= 65535, f"SNAT port {flow.nat_port} outside the configured range")

    tap.send(flow.synack())
    synack = tap.expect_one(lambda p: flow.is_to_client(p) and p[TCP].flags == "SA", what="SYN-ACK to the client")
    flow.check_to_client(synack, "SYN-ACK", flags="SA")
    h.check(synack[TCP].seq == flow.endpoint_isn and synack[TCP].ack == flow.isn + 1,
            f"SYN-ACK seq/ack changed: {synack[TCP].seq}/{synack[TCP].ack}")

    request = b"GET / HTTP/1.0\r\n\r\n"
    tap.send(flow.client_segment("A"))
    ack = tap.expect_one(lambda p: flow.is_to_endpoint(p) and p[TCP].flags == "A", what="handshake ACK")
    flow.check_to_endpoint(ack, "handshake ACK", flags="A")
    tap.send(flow.client_segment("PA", request))
    data = tap.expect_one(lambda p: flow.is_to_endpoint(p) and p[TCP].flags == "PA", what="client data")
    flow.check_to_endpoint(data, "client data", flags="PA", payload=request)
    h.check(data[TCP].seq == flow.client_seq, "client data: sequence number changed")
    flow.client_seq += len(request)

    response = b"HTTP/1.0 200 OK\r\n\r\nhello from " + flow.endpoint_ip.encode()
    tap.send(flow.endpoint_segment("PA", response))
    reply = tap.expect_one(lambda p: flow.is_to_client(p) and p[TCP].flags == "PA", what="response to the client")
    flow.check_to_client(reply, "response", flags="PA", payload=response)
    flow.endpoint_seq += len(response)

    # Close: client FIN, endpoint FIN, last ACK.
    tap.send(flow.client_segment("FA"))
    fin = tap.expect_one(lambda p: flow.is_to_endpoint(p) and p[TCP].flags == "FA", what="client FIN")
    flow.check_to_endpoint(fin, "client FIN", flags="FA")
    flow.client_seq += 1
    tap.send(flow.endpoint_segment("FA"))
    fin = tap.expect_one(lambda p: flow.is_to_client(p) and p[TCP].flags == "FA", what="endpoint FIN")
    flow.check_to_client(fin, "endpoint FIN", flags="FA")
    flow.endpoint_seq += 1
    tap.send(flow.client_segment("A"))
    last = tap.expect_one(lambda p: flow.is_to_endpoint(p) and p[TCP].flags == "A", what="last ACK")
    flow.check_to_endpoint(last, "last ACK", flags="A")


def udp_exchange(tap, nat_mode):
    from scapy.layers.inet import IP, UDP
    client, client_port = "198.19.1.2", 5555
    tap.send(h.client_frame(client, DNS_VIP, UDP(sport=client_port, dport=53) / b"query-1"))
    request = tap.expect_one(lambda p: UDP in p and p[UDP].dport == 5353, what="forwarded UDP request")
    endpoint = request[IP].dst
    h.check(endpoint in WEB_ENDPOINTS, f"UDP request forwarded to {endpoint}, not an endpoint of dns")
    if nat_mode == "fullnat":
        h.check_frame(request, what="UDP request", eth_dst=h.endpoint_mac(endpoint), ip_src=h.SNAT_IP, ttl=63,
                      payload=b"query-1")
    else:
        h.check_frame(request, what="UDP request", eth_dst=h.endpoint_mac(endpoint), ip_src=client,
                      sport=client_port, ttl=63, payload=b"query-1")
    nat_ip, nat_port = request[IP].src, request[UDP].sport
    tap.send(h.endpoint_frame(endpoint, nat_ip, UDP(sport=5353, dport=nat_port) / b"answer-1"))
    answer = tap.expect_one(lambda p: UDP in p and p[IP].dst == client, what="UDP response to the client")
    h.check_frame(answer, what="UDP response", eth_dst=h.ROUTER_MAC, ip_src=DNS_VIP, ip_dst=client, sport=53,
                  dport=client_port, ttl=63, payload=b"answer-1")
    # A second request of the same flow goes the same way.
    sent = h.client_frame(client, DNS_VIP, UDP(sport=client_port, dport=53) / b"query-2")
    tap.send(sent)
    again = tap.expect_one(lambda p: UDP in p and p[UDP].dport == 5353, what="second UDP request")
    h.check_frame(again, what="second UDP request", ip_src=nat_ip, sport=nat_port, ip_dst=endpoint, payload=b"query-2")

    # The endpoint answers that one with an ICMP port unreachable: the client must get it from
    # the VIP, quoting its own datagram as it sent it (addresses, ports and UDP checksum).
    from scapy.layers.inet import ICMP, IPerror, UDPerror
    quote = h.frame_bytes(again)[14:14 + 28]
    tap.send(h.endpoint_frame(endpoint, nat_ip, ICMP(type=3, code=3) / quote))
    error = tap.expect_one(lambda p: ICMP in p and p[IP].dst == client and p[ICMP].type == 3,
                           what="ICMP error translated for the client")
    h.check_frame(error, what="translated ICMP error", eth_dst=h.ROUTER_MAC, ip_src=DNS_VIP, ip_dst=client, ttl=63)
    original = h.frame_bytes(sent)
    h.check(error[IPerror].src == client and error[IPerror].dst == DNS_VIP and
            error[UDPerror].sport == client_port and error[UDPerror].dport == 53,
            f"the translated ICMP error quotes {error[IPerror].src}:{error[UDPerror].sport} -> "
            f"{error[IPerror].dst}:{error[UDPerror].dport}")
    h.check(error[UDPerror].chksum == int.from_bytes(original[40:42], "big"),
            f"quoted UDP checksum {error[UDPerror].chksum:#06x}, the client sent "
            f"{int.from_bytes(original[40:42], 'big'):#06x}")


def pings(tap):
    from scapy.layers.inet import ICMP
    for index, target in enumerate([WEB_VIP, h.GATEWAY_IP, EMPTY_VIP]):
        payload = b"ping-payload-%d" % index
        tap.send(h.client_frame("198.19.1.3", target, ICMP(type=8, id=0x77, seq=index) / payload))
        reply = tap.expect_one(lambda p: ICMP in p and p[ICMP].type == 0 and p[ICMP].seq == index,
                               what=f"echo reply from {target}")
        h.check_frame(reply, what=f"echo reply from {target}", eth_dst=h.ROUTER_MAC, ip_src=target,
                      ip_dst="198.19.1.3", payload=payload)
        h.check(reply[ICMP].id == 0x77, f"echo reply identifier {reply[ICMP].id:#x}")


def refusals(tap):
    from scapy.layers.inet import ICMP, IP, TCP, UDP, IPerror, UDPerror
    client = "198.19.1.4"
    # TCP to a service without endpoints, and to a port the web VIP does not serve.
    for vip, port, sport in [(EMPTY_VIP, 8000, 41000), (WEB_VIP, 81, 41001)]:
        tap.send(h.client_frame(client, vip, TCP(sport=sport, dport=port, flags="S", seq=5000)))
        rst = tap.expect_one(lambda p: TCP in p and p[IP].dst == client and p[TCP].dport == sport,
                             what=f"RST for {vip}:{port}")
        h.check_frame(rst, what=f"RST for {vip}:{port}", eth_dst=h.ROUTER_MAC, ip_src=vip, ip_dst=client,
                      sport=port, dport=sport, flags="RA", ack=5001)
    # UDP: ICMP port unreachable from the VIP, quoting the request.
    for vip, port, sport in [(EMPTY_VIP, 8001, 6000), (DNS_VIP, 54, 6001)]:
        tap.send(h.client_frame(client, vip, UDP(sport=sport, dport=port) / b"nobody-home"))
        error = tap.expect_one(lambda p: ICMP in p and p[IP].dst == client and IPerror in p and
                               p[UDPerror].sport == sport, what=f"port unreachable for {vip}:{port}")
        h.check_frame(error, what=f"port unreachable for {vip}:{port}", eth_dst=h.ROUTER_MAC, ip_src=vip,
                      ip_dst=client)
        h.check(error[ICMP].type == 3 and error[ICMP].code == 3,
                f"ICMP type/code {error[ICMP].type}/{error[ICMP].code}, expected 3/3")
        h.check(error[IPerror].src == client and error[IPerror].dst == vip and error[UDPerror].dport == port,
                f"the ICMP error quotes {error[IPerror].src}->{error[IPerror].dst}:{error[UDPerror].dport}")
    # Nothing was forwarded to an endpoint meanwhile.
    tap.expect_none(lambda p: IP in p and p[IP].dst.startswith("198.18.0."), wait=0.2, what="forwarded frame")


def arp_answers(tap):
    from scapy.layers.l2 import ARP, Ether
    for target in [WEB_VIP, h.GATEWAY_IP, h.SNAT_IP]:
        tap.send(Ether(src=h.ROUTER_MAC, dst=BROADCAST) /
                 ARP(op=1, hwsrc=h.ROUTER_MAC, psrc=h.ROUTER_IP, pdst=target))
        reply = tap.expect_one(lambda p: ARP in p and p[ARP].op == 2 and p[ARP].psrc == target,
                               what=f"ARP reply for {target}")
        h.check(reply.src == h.GATEWAY_MAC and reply.dst == h.ROUTER_MAC,
                f"ARP reply for {target}: Ethernet {reply.src} -> {reply.dst}")
        h.check(reply[ARP].hwsrc == h.GATEWAY_MAC and reply[ARP].hwdst == h.ROUTER_MAC and
                reply[ARP].pdst == h.ROUTER_IP, f"ARP reply for {target}: {reply[ARP].summary()}")
    tap.send(Ether(src=h.ROUTER_MAC, dst=BROADCAST) / ARP(op=1, hwsrc=h.ROUTER_MAC, psrc=h.ROUTER_IP,
                                                          pdst="198.18.0.99"))
    tap.expect_none(lambda p: ARP in p and p[ARP].op == 2, wait=0.3, what="ARP reply for a foreign address")


def neighbor_resolution(tap, nat_mode):
    from scapy.layers.inet import TCP
    from scapy.layers.l2 import ARP, Ether
    flow = h.TcpFlow("198.19.1.5", 42000, LAZY_VIP, 80, isn=3000)
    tap.send(flow.syn())
    request = tap.expect_one(lambda p: ARP in p and p[ARP].op == 1 and p[ARP].pdst == LAZY_ENDPOINT,
                             what=f"ARP request for {LAZY_ENDPOINT}")
    h.check(request.dst == BROADCAST and request.src == h.GATEWAY_MAC,
            f"ARP request sent {request.src} -> {request.dst}")
    h.check(request[ARP].psrc == h.GATEWAY_IP and request[ARP].hwsrc == h.GATEWAY_MAC,
            f"ARP request claims {request[ARP].psrc} at {request[ARP].hwsrc}")
    # The SYN is held until the neighbor answers.
    tap.expect_none(flow.is_forwarded_syn, wait=0.2, what="SYN before the ARP reply")
    lazy_mac = h.endpoint_mac(LAZY_ENDPOINT)
    tap.send(Ether(src=lazy_mac, dst=h.GATEWAY_MAC) /
             ARP(op=2, hwsrc=lazy_mac, psrc=LAZY_ENDPOINT, hwdst=h.GATEWAY_MAC, pdst=h.GATEWAY_IP))
    syn = tap.expect_one(flow.is_forwarded_syn, what="held SYN after the ARP reply")
    flow.learn(syn, nat_mode, [LAZY_ENDPOINT], 9090)
    # The reply path works too, and a new flow goes out without another ARP request.
    tap.send(flow.synack())
    synack = tap.expect_one(lambda p: flow.is_to_client(p) and p[TCP].flags == "SA", what="SYN-ACK via lazy")
    flow.check_to_client(synack, "SYN-ACK", flags="SA")
    second = h.TcpFlow("198.19.1.5", 42001, LAZY_VIP, 80, isn=4000)
    tap.send(second.syn())
    second.learn(tap.expect_one(second.is_forwarded_syn, what="second SYN to lazy"), nat_mode, [LAZY_ENDPOINT], 9090)
    tap.expect_none(lambda p: ARP in p and p[ARP].op == 1, wait=0.1, what="second ARP request")


def run_mode(context, nat_mode):
    iface = context.interface_name("r" + nat_mode[0])
    config = h.make_config(context.file_prefix(nat_mode), f"net_tap0,iface={iface}", SERVICES, nat_mode=nat_mode,
                           neighbors=WEB_ENDPOINTS, snat_port_range=(20000, 29999))
    path = h.write_config(context.path(f"{nat_mode}.toml"), config)
    daemon = context.daemon(path, name=f"vipgate-{nat_mode}")
    daemon.wait_running()
    tap = context.tap(iface)

    tcp_connection(tap, nat_mode)
    udp_exchange(tap, nat_mode)
    pings(tap)
    refusals(tap)
    arp_answers(tap)
    neighbor_resolution(tap, nat_mode)

    status, text = daemon.stop()
    h.check(status == 0, f"vipgate exited with status {status}")
    counters = h.parse_final_counters(text)
    h.log(f"{nat_mode}: final counters {counters}")
    # forwarded_to_client: SYN-ACK, data, FIN, UDP answer, lazy SYN-ACK (the translated ICMP
    # error is not counted there: vipgate has no counter for translated ICMP errors).
    expected = {"new_connections": 4, "resets_sent": 2, "icmp_sent": 5, "forwarded_to_client": 5,
                "drop.no_endpoint": 2, "drop.vip_port_refused": 2}
    for name, value in expected.items():
        h.check(counters.get(name, 0) == value, f"{nat_mode}: counter {name} = {counters.get(name, 0)}, expected {value}")

    arp = [line for line in text.splitlines() if line.strip().startswith("arp:")]
    h.check(arp and "3 replies sent" in arp[-1] and "1 neighbors learnt" in arp[-1],
            f"{nat_mode}: ARP statistics line {arp[-1:] or 'missing'}")
    tap.close()


def main(context):
    for nat_mode in ["fullnat", "dnat"]:
        run_mode(context, nat_mode)


if __name__ == "__main__":
    h.run_test("tap_reply_path", main, need_tap=True)
