#!/usr/bin/python3
"""Writes the generated part of the seed corpus (tests/fuzz/corpus/pipeline and .../api).

The pipeline seeds are frames of the topology in pipeline_topology.h (client flows to each
service, replies from endpoints, ARP, pings, ICMP errors, TTL 1, fragments) in the input
format of pipeline_fuzz.cpp; the API seeds are one request of each kind. Run it after
changing either format: /usr/bin/python3 tests/fuzz/make_seeds.py
"""
import json
import os
import struct

from scapy.layers.inet import ICMP, IP, TCP, UDP
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

# Control byte bits (pipeline_fuzz.cpp).
ENDPOINT_SIDE, WORKER_1, END_BURST, SPLIT, RELOAD = 1, 2, 4, 8, 16


def clock(step):
    return step << 5


def from_client(layers):
    return bytes(Ether(src=ROUTER_MAC, dst=CLIENT_PORT_MAC) / layers)


def from_endpoint(endpoint, layers):
    mac = "02:01:c6:13:00:" + endpoint.split(".")[-1]
    return bytes(Ether(src=mac, dst=ENDPOINT_PORT_MAC) / Dot1Q(vlan=100) / layers)


def record(frame, control=END_BURST):
    return struct.pack(">BH", control, len(frame)) + frame


def seed(mode, *records):
    return bytes([mode]) + b"".join(records)


def syn(vip, port=80, sport=40000, client=CLIENT):
    return from_client(IP(src=client, dst=vip, ttl=64) / TCP(sport=sport, dport=port, flags="S", seq=1000))


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
    }
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


def write(directory, files):
    path = os.path.join(HERE, "corpus", directory)
    os.makedirs(path, exist_ok=True)
    for name, content in files.items():
        with open(os.path.join(path, name), "wb") as f:
            f.write(content)


if __name__ == "__main__":
    write("pipeline", pipeline_seeds())
    write("api", api_seeds())
