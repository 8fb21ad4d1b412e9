#!/usr/bin/python3
"""Writes the generated part of the seed corpus (tests/fuzz/corpus/pipeline, .../api, .../dns).

The pipeline seeds are frames of the topology in pipeline_topology.h (client flows to each
service, replies from endpoints, ARP, pings, ICMP errors, TTL 1, fragments, IPv6, DNS queries over
UDP and TCP) in the input format of pipeline_fuzz.cpp; the API seeds are one request of each
kind; the DNS seeds are queries (and one response, for the decoder) in the input format of
dns_fuzz.cpp. Run it after changing any format: /usr/bin/python3 tests/fuzz/make_seeds.py
"""
import json
import os
import struct

from scapy.layers.dns import DNS, DNSQR, DNSRR, DNSRROPT
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6EchoRequest, ICMPv6ND_NS, ICMPv6PacketTooBig, ICMPv6TimeExceeded, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, IPv6ExtHdrRouting
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.layers.sctp import SCTP, SCTPChunkInit

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT_PORT_MAC = "02:00:00:00:00:02"
ENDPOINT_PORT_MAC = "02:00:00:00:00:03"
ROUTER_MAC = "02:00:00:00:00:01"
CLIENT = "198.18.0.10"
WEB, EMPTY, DRAINED, STICKY = "198.18.100.1", "198.18.100.2", "198.18.100.3", "198.18.100.4"
UNRESOLVED, UNROUTABLE, ALIAS = "198.18.100.6", "198.18.100.7", "198.18.100.8"
SNAT = "198.19.0.2"
DNS_ADDRESS = "198.18.100.53"
CLIENT6, VIP6 = "2001:db8::10", "2001:db8:100::1"
POD6, SNAT6 = "2001:db8:e::20", "2001:db8:e::2"  # pipeline_topology.cpp's web6-1 and SNAT6 address
DNS_TCP_KEY = (0x0123456789ABCDEF, 0xFEDCBA9876543210)  # pipeline_fuzz.cpp's kDnsTcpKey

# Control byte bits (pipeline_fuzz.cpp).
ENDPOINT_SIDE, WORKER_1, END_BURST, SPLIT, RELOAD = 1, 2, 4, 8, 16


def clock(step):
    return step << 5


def from_client(layers):
    return bytes(Ether(src=ROUTER_MAC, dst=CLIENT_PORT_MAC) / layers)


def from_endpoint(endpoint, layers):
    mac = "02:01:c6:13:00:" + endpoint.split(".")[-1]
    return bytes(Ether(src=mac, dst=ENDPOINT_PORT_MAC) / Dot1Q(vlan=100) / layers)


def from_endpoint6(layers):
    return bytes(Ether(src="02:00:00:00:06:02", dst=ENDPOINT_PORT_MAC) / Dot1Q(vlan=100) / layers)


def record(frame, control=END_BURST):
    return struct.pack(">BH", control, len(frame)) + frame


def seed(mode, *records):
    return bytes([mode]) + b"".join(records)


def syn(vip, port=80, sport=40000, client=CLIENT):
    return from_client(IP(src=client, dst=vip, ttl=64) / TCP(sport=sport, dport=port, flags="S", seq=1000))


def siphash(key, first, second):
    """dataplane/siphash.h: SipHash-2-4 of two 64-bit words."""
    mask = (1 << 64) - 1
    rotl = lambda x, b: ((x << b) | (x >> (64 - b))) & mask
    v = [key[0] ^ 0x736f6d6570736575, key[1] ^ 0x646f72616e646f6d, key[0] ^ 0x6c7967656e657261, key[1] ^ 0x7465646279746573]

    def round_():
        v[0] = (v[0] + v[1]) & mask; v[1] = rotl(v[1], 13) ^ v[0]; v[0] = rotl(v[0], 32)
        v[2] = (v[2] + v[3]) & mask; v[3] = rotl(v[3], 16) ^ v[2]
        v[0] = (v[0] + v[3]) & mask; v[3] = rotl(v[3], 21) ^ v[0]
        v[2] = (v[2] + v[1]) & mask; v[1] = rotl(v[1], 17) ^ v[2]; v[2] = rotl(v[2], 32)

    for word in (first, second, 16 << 56):
        v[3] ^= word
        round_()
        round_()
        v[0] ^= word
    v[2] ^= 0xFF
    for _ in range(4):
        round_()
    return v[0] ^ v[1] ^ v[2] ^ v[3]


def dns_isn(client, sport):
    """The TCP responder's ISN for a client (dns_path.cpp: the flow key's fields as stored, network order)."""
    address = lambda a: int.from_bytes(bytes(int(x) for x in a.split(".")), "little")
    port = lambda p: int.from_bytes(p.to_bytes(2, "big"), "little")
    addresses = address(client) << 32 | address(DNS_ADDRESS)
    ports = port(sport) << 16 | port(53)
    return siphash(DNS_TCP_KEY, addresses, ports) & 0xFFFFFFFF


def dns_query(name, qtype="A", edns=None, qid=0x1234):
    message = DNS(id=qid, rd=1, qd=DNSQR(qname=name, qtype=qtype))
    if edns is not None:
        message.ar = DNSRROPT(rclass=edns, z=0x8000)
    return bytes(message)


def pipeline_dns_seeds():
    web = "web.default.svc.cluster.local"
    udp = lambda name, qtype="A", sport=40053, client=CLIENT, edns=None: from_client(
        IP(src=client, dst=DNS_ADDRESS) / UDP(sport=sport, dport=53) / dns_query(name, qtype, edns))
    sport = 40054
    isn = dns_isn(CLIENT, sport)
    query = dns_query("_gossip._udp.peers.default.svc.cluster.local", "SRV")
    tcp = lambda flags, seq, ack, payload=b"": from_client(
        IP(src=CLIENT, dst=DNS_ADDRESS) / TCP(sport=sport, dport=53, flags=flags, seq=seq, ack=ack) / payload)
    rate_limited = [record(udp(web), 0) for _ in range(7)] + [record(udp(web))]
    return {
        "dns_udp_a": [record(udp(web))],
        "dns_udp_edns_headless": [record(udp("peers.default.svc.cluster.local", "A", edns=1232))],
        "dns_udp_ptr": [record(udp("40.0.19.198.in-addr.arpa", "PTR"))],
        "dns_udp_cname": [record(udp("ext.default.svc.cluster.local", "A"))],
        "dns_udp_nxdomain": [record(udp("nope.default.svc.cluster.local"))],
        "dns_udp_upstream": [record(udp("example.org"))],
        "dns_udp_upstream_reloaded": [record(udp("example.org"), RELOAD | END_BURST)],
        "dns_udp_rate_limited": rate_limited,
        "dns_udp_not_allowed": [record(udp(web, client="198.19.5.5"))],
        "dns_tcp_exchange": [record(tcp("S", 7000, 0)), record(tcp("A", 7001, isn + 1)),
                             record(tcp("PA", 7001, isn + 1, len(query).to_bytes(2, "big") + query)),
                             record(tcp("FA", 7001 + 2 + len(query), isn + 2))],
        "dns_tcp_bad_ack": [record(tcp("PA", 7001, isn + 7, len(query).to_bytes(2, "big") + query))],
    }


def pipeline_seeds():
    web_syn = syn(WEB)
    ack = from_client(IP(src=CLIENT, dst=WEB) / TCP(sport=40000, dport=80, flags="A", seq=1001, ack=5001) / b"GET /")
    fin = from_client(IP(src=CLIENT, dst=WEB) / TCP(sport=40000, dport=80, flags="FA", seq=1006, ack=5001))
    dns = from_client(IP(src=CLIENT, dst=WEB) / UDP(sport=40001, dport=53) / b"\x12\x34\x01\x00\x00\x01")
    seeds = {
        "tcp_handshake": [record(web_syn, 0), record(ack, 0), record(fin)],
        "udp_dns": [record(dns)],
        "sctp_init": [record(from_client(IP(src=CLIENT, dst=WEB) / SCTP(sport=40002, dport=9, tag=0) /
                                         SCTPChunkInit(init_tag=7, a_rwnd=65535, n_out_streams=1, n_in_streams=1, init_tsn=1)))],
        "sticky": [record(syn(STICKY, 443)), record(syn(STICKY, 443, 40010), WORKER_1 | END_BURST)],
        "empty_refused": [record(syn(EMPTY)), record(from_client(IP(src=CLIENT, dst=EMPTY) / UDP(sport=1, dport=53)))],
        "drained": [record(syn(DRAINED))],
        "unresolved_punt": [record(syn(UNRESOLVED))],
        "unroutable": [record(syn(UNROUTABLE))],
        "alias_clash": [record(syn(WEB, 80, 40100), 0), record(syn(ALIAS, 80, 40100))],
        "not_a_vip_port": [record(syn(WEB, 81))],
        "ping_vip": [record(from_client(IP(src=CLIENT, dst=WEB) / ICMP(type=8, id=1, seq=1) / b"ping"))],
        "ping_gateway": [record(from_client(IP(src=CLIENT, dst="198.18.200.1") / ICMP(type=8, id=1, seq=1)))],
        "arp_request": [record(bytes(Ether(src=ROUTER_MAC, dst="ff:ff:ff:ff:ff:ff") /
                                     ARP(op=1, hwsrc=ROUTER_MAC, psrc="198.18.200.254", pdst="198.18.200.1")))],
        "ttl_one": [record(from_client(IP(src=CLIENT, dst=WEB, ttl=1) / TCP(sport=40000, dport=80, flags="S")))],
        "fragment": [record(from_client(IP(src=CLIENT, dst=WEB, flags="MF", frag=0) / UDP(sport=40001, dport=53) / (b"x" * 64)))],
        "source_not_allowed": [record(syn(WEB, 80, 40000, "198.19.5.5"))],
        "unresolved_client": [record(syn(WEB, 80, 40000, "198.18.1.10"))],
        "split_segments": [record(web_syn + b"\0" * 40, SPLIT | END_BURST)],
        "reload_after_syn": [record(web_syn), record(ack, RELOAD | clock(3) | END_BURST)],
        "expiry": [record(dns), record(dns, clock(6) | END_BURST)],
        "handoff_worker1": [record(web_syn, WORKER_1 | END_BURST), record(dns, WORKER_1 | END_BURST)],
        # NAT66: the reload lifts client_ranges (IPv4 only), so web6 serves IPv6 clients; a SYN, a
        # UDP query and a pod's answer to the client (DNAT-only) and to the SNAT6 address.
        "nat66": [record(from_client(IPv6(src=CLIENT6, dst=VIP6) / TCP(sport=40000, dport=80, flags="S")),
                         RELOAD | END_BURST),
                  record(from_client(IPv6(src=CLIENT6, dst=VIP6) / UDP(sport=40001, dport=53) / (b"q" * 12))),
                  record(from_endpoint6(IPv6(src=POD6, dst=CLIENT6) / TCP(sport=8080, dport=40000, flags="SA")),
                         ENDPOINT_SIDE | END_BURST),
                  record(from_endpoint6(IPv6(src=POD6, dst=SNAT6) / TCP(sport=8080, dport=40000, flags="SA")),
                         ENDPOINT_SIDE | END_BURST)],
        # ICMPv6 (after the same reload): echo to the VIP, refusals (UDP to an unserved port, hop
        # limit 1), Packet Too Big from the client about a reply and from the pod about what it was
        # sent (DNAT-only's tuple; full-NAT's SNAT port is a guess), Time Exceeded from a router.
        "icmp6": [record(from_client(IPv6(src=CLIENT6, dst=VIP6) / TCP(sport=40000, dport=80, flags="S")),
                         RELOAD | END_BURST),
                  record(from_client(IPv6(src=CLIENT6, dst=VIP6) / ICMPv6EchoRequest(id=1, seq=1) / b"ping6"), 0),
                  record(from_client(IPv6(src=CLIENT6, dst=VIP6) / UDP(sport=40001, dport=54) / b"q"), 0),
                  record(from_client(IPv6(src=CLIENT6, dst=VIP6, hlim=1) / TCP(sport=40002, dport=80, flags="S")), 0),
                  record(from_client(IPv6(src=CLIENT6, dst=VIP6) / ICMPv6PacketTooBig(mtu=1280) /
                                     IPv6(src=VIP6, dst=CLIENT6, hlim=63) / TCP(sport=80, dport=40000, flags="SA")))],
        "icmp6_from_pod": [record(from_client(IPv6(src=CLIENT6, dst=VIP6) / TCP(sport=40000, dport=80, flags="S")),
                                  RELOAD | END_BURST),
                           record(from_endpoint6(IPv6(src=POD6, dst=CLIENT6) / ICMPv6PacketTooBig(mtu=1280) /
                                                 IPv6(src=CLIENT6, dst=POD6, hlim=63) /
                                                 TCP(sport=40000, dport=8080, flags="S")), ENDPOINT_SIDE),
                           record(from_endpoint6(IPv6(src="2001:db8:e::99", dst=SNAT6) / ICMPv6TimeExceeded() /
                                                 IPv6(src=SNAT6, dst=POD6, hlim=1) /
                                                 TCP(sport=1024, dport=8080, flags="S")), ENDPOINT_SIDE | END_BURST)],
        # IPv6 refused before the reload: an extension header chain the parser walks, a first
        # fragment, and a neighbor solicitation to the solicited-node multicast MAC.
        "ipv6": [record(from_client(IPv6(src=CLIENT6, dst=VIP6) / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() /
                                    IPv6ExtHdrRouting(type=4, addresses=[VIP6], segleft=0) /
                                    TCP(sport=40000, dport=80, flags="S")), 0),
                 record(from_client(IPv6(src=CLIENT6, dst=VIP6) / IPv6ExtHdrFragment(m=1, offset=0, id=9) /
                                    UDP(sport=40001, dport=53) / (b"x" * 16)), 0),
                 record(bytes(Ether(src=ROUTER_MAC, dst="33:33:ff:00:00:01") / IPv6(src=CLIENT6, dst="ff02::1:ff00:1") /
                              ICMPv6ND_NS(tgt=VIP6)))],
    }
    seeds.update(pipeline_dns_seeds())
    # Replies from each endpoint: to the SNAT address (full-NAT) and to the client (DNAT-only).
    for endpoint in ("198.19.0.20", "198.19.0.21", "198.19.0.22"):
        name = endpoint.split(".")[-1]
        seeds["reply_fullnat_" + name] = [record(web_syn), record(from_endpoint(endpoint, IP(src=endpoint, dst=SNAT) /
                                          TCP(sport=8080, dport=40000, flags="SA", seq=5000, ack=1001)), ENDPOINT_SIDE | END_BURST)]
        seeds["reply_dnat_" + name] = [record(web_syn), record(from_endpoint(endpoint, IP(src=endpoint, dst=CLIENT) /
                                       TCP(sport=8080, dport=40000, flags="SA", seq=5000, ack=1001)), ENDPOINT_SIDE | END_BURST)]
        quoted = IP(src=SNAT, dst=endpoint) / TCP(sport=40000, dport=8080, flags="S")
        seeds["icmp_error_" + name] = [record(web_syn), record(from_endpoint(endpoint, IP(src=endpoint, dst=SNAT) /
                                       ICMP(type=3, code=3) / bytes(quoted)[:28]), ENDPOINT_SIDE | END_BURST)]
    out = {}
    for name, records in seeds.items():
        out[name + "_fullnat"] = seed(0, *records)
        out[name + "_dnat"] = seed(1, *records)
    return out


def api_seeds():
    service_yaml = open(os.path.join(HERE, "..", "unit", "manifests", "service-docs-example.yaml")).read()
    objects_toml = ('[[pods]]\nname = "web-3"\naddress = "198.19.0.13"\nlabels = { app = "web" }\n'
                    'ports = [{ name = "http", protocol = "TCP", port = 8080 }]\n')
    requests = {
        "get_services": {"op": "get", "resource": "services"},
        "get_endpoints": {"op": "get", "resource": "endpoints", "namespace": "default"},
        "get_pods": {"op": "get", "resource": "pods"},
        "get_conntrack": {"op": "get", "resource": "conntrack", "limit": 10},
        "get_stats": {"op": "get", "resource": "stats"},
        "dump": {"op": "dump"},
        "apply_yaml": {"op": "apply", "documents": [{"source": "svc.yaml", "text": service_yaml}]},
        "apply_toml": {"op": "apply", "documents": [{"source": "pods.toml", "text": objects_toml}]},
        "delete_documents": {"op": "delete", "documents": [{"source": "pods.toml", "text": objects_toml}]},
        "delete_service": {"op": "delete", "kind": "service", "namespace": "data", "name": "db"},
        "drain": {"op": "drain", "address": "198.19.0.11"},
        "undrain": {"op": "undrain", "address": "198.19.0.11"},
        "capture": {"op": "capture", "port": "p0", "count": 1, "timeout_ms": 1},
    }
    out = {name: (json.dumps(request) + "\n").encode() for name, request in requests.items()}
    out["apply_then_get"] = "\n".join(json.dumps(r) for r in (requests["apply_toml"], requests["drain"],
                                                              requests["get_endpoints"], requests["dump"])).encode() + b"\n"
    return out


# dns_fuzz.cpp's option bits
UPSTREAMS, TRUSTED, FORCE_TRUNCATED, TCP_FRAMED = 1, 2, 4, 8


def dns_input(message, choice=UPSTREAMS | TRUSTED, udp_capacity=1232, tcp_capacity=1458):
    return bytes([choice]) + struct.pack(">HH", udp_capacity, tcp_capacity) + message


def dns_seeds():
    web = "web.default.svc.cluster.local"
    loop = bytearray(dns_query(web))
    loop[12:14] = b"\xc0\x0c"  # the question's name points at itself
    loop = bytes(loop[:14]) + loop[-4:]
    response = bytes(DNS(id=0x1234, qr=1, aa=1, qd=DNSQR(qname=web, qtype="SRV"),
                         an=DNSRR(rrname=web, type="SRV", rdata=b"\x00\x00\x00\x64\x00\x50\xc0\x0c"),
                         ar=DNSRROPT(rclass=1232)))
    bad_version = DNS(id=7, rd=1, qd=DNSQR(qname=web), ar=DNSRROPT(rclass=1232, version=1))
    return {
        "a": dns_input(dns_query(web)),
        "a_mixed_case_untrusted": dns_input(dns_query("WeB.DeFault.svc.Cluster.local"), UPSTREAMS, 100, 100),
        "srv_headless": dns_input(dns_query("_pg._tcp.db.data.svc.cluster.local", "SRV")),
        "srv_service": dns_input(dns_query("_http._tcp.web.default.svc.cluster.local", "SRV"), TRUSTED, 512, 512),
        "ptr": dns_input(dns_query("1.100.18.198.in-addr.arpa", "PTR")),
        "ptr_headless": dns_input(dns_query("41.0.19.198.in-addr.arpa", "PTR")),
        "cname": dns_input(dns_query("ext.default.svc.cluster.local", "AAAA")),
        "txt": dns_input(dns_query("dns-version.cluster.local", "TXT")),
        "nodata_apex": dns_input(dns_query("cluster.local", "SOA")),
        "empty_non_terminal": dns_input(dns_query("y.default.svc.cluster.local")),
        "nxdomain": dns_input(dns_query("nope.default.svc.cluster.local")),
        "any": dns_input(dns_query("db.data.svc.cluster.local", "ANY")),
        "axfr": dns_input(dns_query("cluster.local", "AXFR")),
        "out_of_zone": dns_input(dns_query("example.org"), UPSTREAMS),
        "out_of_zone_no_upstreams": dns_input(dns_query("example.org"), TRUSTED),
        "edns_big": dns_input(dns_query("big.default.svc.cluster.local", edns=1232)),
        "edns_small_buffer": dns_input(dns_query("big.default.svc.cluster.local", edns=4096), TRUSTED, 700, 300),
        "edns_bad_version": dns_input(bytes(bad_version)),
        "no_edns_big": dns_input(dns_query("big.default.svc.cluster.local"), TRUSTED | FORCE_TRUNCATED),
        "long_name": dns_input(dns_query(".".join(["l" * 63] * 3) + ".svc.cluster.local")),
        "tcp_framed": dns_input(len(dns_query(web)).to_bytes(2, "big") + dns_query(web, "SRV"), TRUSTED | TCP_FRAMED),
        "compression_loop": dns_input(loop),
        "response_for_decoder": dns_input(response),
        "response_raw": response,
    }


def write(directory, files):
    path = os.path.join(HERE, "corpus", directory)
    os.makedirs(path, exist_ok=True)
    for name, content in files.items():
        with open(os.path.join(path, name), "wb") as f:
            f.write(content)


if __name__ == "__main__":
    write("pipeline", pipeline_seeds())
    write("api", api_seeds())
    write("dns", dns_seeds())
