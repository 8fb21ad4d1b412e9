#!/usr/bin/python3
"""SIGHUP reload while traffic flows (net_tap port, one worker, full NAT).

50 TCP connections and 20 UDP flows are established; a background thread then keeps sending
data on all of them while the test:
  1. rewrites the config (an endpoint added to web, an endpoint added to dns, a new service)
     and sends SIGHUP: the log shows generation 2 built and in use; new connections reach the
     added endpoint and the new service;
  2. writes a config with a TOML syntax error, then one with a bad address, then one changing a
     restart-only field, each followed by SIGHUP: each is rejected ("reload rejected ...;
     still running generation 2") and the running state is kept (the new service still
     answers);
and checks every frame forwarded meanwhile: no established flow ever changed endpoint or SNAT
port, and every data packet sent was forwarded.
  3. With the traffic stopped, an endpoint that has connections is removed (generation 3): the
     next segment of each of its connections is answered with a RST, every other connection
     keeps its endpoint.
"""
import os
import re
import signal
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vipgate_harness as h  # noqa: E402

WEB_VIP, DNS_VIP, NEW_VIP = "198.18.100.10", "198.18.100.53", "198.18.100.60"
TCP_FLOWS, UDP_FLOWS = 50, 20
ALL_ENDPOINTS = ["198.18.0.11", "198.18.0.12", "198.18.0.13", "198.18.0.14", "198.18.0.15", "198.18.0.16"]


def services(web, dns, new_service=False):
    result = [
        {"name": "web", "cluster_ip": WEB_VIP,
         "ports": [{"name": "http", "protocol": "TCP", "port": 80, "target_port": 8080}],
         "endpoints": [{"address": a} for a in web]},
        {"name": "dns", "cluster_ip": DNS_VIP,
         "ports": [{"name": "dns", "protocol": "UDP", "port": 53, "target_port": 5353}],
         "endpoints": [{"address": a} for a in dns]},
    ]
    if new_service:
        result.append({"name": "new", "cluster_ip": NEW_VIP,
                       "ports": [{"name": "http", "protocol": "TCP", "port": 80, "target_port": 9000}],
                       "endpoints": [{"address": "198.18.0.16"}]})
    return result


class Traffic(threading.Thread):
    """Sends one data segment on every TCP connection and one datagram on every UDP flow per
    round, until stopped."""

    def __init__(self, tap, tcp_flows, udp_flows, period=0.1):
        super().__init__(name="traffic", daemon=True)
        self.tap, self.tcp_flows, self.udp_flows, self.period = tap, tcp_flows, udp_flows, period
        self.sent = {}           # marker -> flow key
        self.rounds = 0
        self.error = None
        self._stop_event = threading.Event()

    def run(self):
        from scapy.layers.inet import UDP
        try:
            while not self._stop_event.is_set():
                frames = []
                for index, flow in enumerate(self.tcp_flows):
                    payload = b"tcp-%03d-round-%05d" % (index, self.rounds)
                    frames.append(flow.client_segment("PA", payload))
                    flow.client_seq += len(payload)
                    self.sent[payload] = ("tcp", index)
                for index, udp in enumerate(self.udp_flows):
                    payload = b"udp-%03d-round-%05d" % (index, self.rounds)
                    frames.append(h.client_frame(udp["client"], DNS_VIP, UDP(sport=udp["port"], dport=53) / payload))
                    self.sent[payload] = ("udp", index)
                self.tap.send(frames)
                self.rounds += 1
                self._stop_event.wait(self.period)
        except Exception as error:  # reported by the main thread
            self.error = error

    def wait_rounds(self, count, timeout=15.0):
        """Waits until `count` more rounds have been sent (traffic really flows across a step)."""
        target = self.rounds + count
        deadline = time.monotonic() + timeout
        while self.rounds < target:
            if self.error:
                raise h.TestFailure(f"traffic thread failed: {self.error!r}")
            if time.monotonic() > deadline:
                raise h.TestFailure(f"the traffic thread sent only {self.rounds} rounds, waiting for {target}")
            time.sleep(0.01)

    def stop(self):
        self._stop_event.set()
        self.join(10)
        if self.error:
            raise h.TestFailure(f"traffic thread failed: {self.error!r}")


def is_traffic(packet):
    from scapy.layers.inet import IP
    return IP in packet and packet[IP].dst in ALL_ENDPOINTS and h.l4_payload(packet)[:4] in (b"tcp-", b"udp-")


def verify_traffic(frames, tcp_flows, udp_flows, received):
    """Every forwarded data frame must carry its flow's original translation."""
    from scapy.layers.inet import IP, TCP, UDP
    for packet in frames:
        payload = h.l4_payload(packet)
        kind, index = payload[:3], int(payload[4:7])
        if kind == b"tcp":
            flow = tcp_flows[index]
            h.check(TCP in packet and flow.is_to_endpoint(packet),
                    f"TCP connection {index} (endpoint {flow.endpoint_ip}, SNAT port {flow.nat_port}) changed: "
                    f"segment {payload!r} went to {packet[IP].dst}:{packet[IP].payload.dport} from "
                    f"{packet[IP].src}:{packet[IP].payload.sport}")
            flow.check_to_endpoint(packet, f"data {payload!r}", flags="PA", payload=payload)
        else:
            udp = udp_flows[index]
            h.check(UDP in packet and (packet[IP].dst, packet[UDP].dport, packet[IP].src, packet[UDP].sport) ==
                    udp["translation"], f"UDP flow {index} changed: {payload!r} went {h.describe(packet)}, was "
                                         f"{udp['translation']}")
            h.check(not h.checksum_problems(packet), f"UDP {payload!r}: {h.checksum_problems(packet)}")
        h.check(payload not in received, f"{payload!r} forwarded twice")
        received.add(payload)


def open_tcp(tap, flows, nat_mode="fullnat", endpoints=None, target_port=8080):
    from scapy.layers.inet import TCP
    by_isn = {flow.isn: flow for flow in flows}
    tap.send([flow.syn() for flow in flows])
    for packet in tap.expect(lambda p: TCP in p and p[TCP].flags == "S" and p[TCP].seq in by_isn, len(flows),
                             timeout=10, what="forwarded SYNs"):
        by_isn[packet[TCP].seq].learn(packet, nat_mode, endpoints, target_port)
    tap.send([flow.synack() for flow in flows])
    clients = {(f.client_ip, f.client_port) for f in flows}
    tap.expect(lambda p: TCP in p and p[TCP].flags == "SA" and (p.payload.dst, p[TCP].dport) in clients,
               len(flows), timeout=10, what="SYN-ACKs")
    tap.send([flow.client_segment("A") for flow in flows])
    tap.expect(lambda p: TCP in p and p[TCP].flags == "A" and p[TCP].seq in {f.isn + 1 for f in flows},
               len(flows), timeout=10, what="handshake ACKs")


def open_udp(tap, count):
    from scapy.layers.inet import IP, UDP
    flows = [{"client": f"198.19.2.{i + 1}", "port": 30000 + i} for i in range(count)]
    tap.send([h.client_frame(f["client"], DNS_VIP, UDP(sport=f["port"], dport=53) / (b"hello-%03d" % i))
              for i, f in enumerate(flows)])
    for packet in tap.expect(lambda p: UDP in p and h.l4_payload(p).startswith(b"hello-"), count, timeout=10,
                             what="first UDP requests"):
        index = int(h.l4_payload(packet)[6:])
        flows[index]["translation"] = (packet[IP].dst, packet[UDP].dport, packet[IP].src, packet[UDP].sport)
    return flows


def reload(daemon, path, config, expect):
    offset = daemon.log_offset()
    h.write_config(path, config)
    daemon.send_signal(signal.SIGHUP)
    return daemon.wait_for(expect, timeout=10, after=offset)


def main(context):
    from scapy.layers.inet import IP, TCP
    iface = context.interface_name("hup")
    prefix = context.file_prefix()
    device = f"net_tap0,iface={iface}"

    def config(web, dns, new_service=False):
        return h.make_config(prefix, device, services(web, dns, new_service), neighbors=ALL_ENDPOINTS)

    path = context.path("vipgate.toml")
    web_a, dns_a = ["198.18.0.11", "198.18.0.12", "198.18.0.13"], ["198.18.0.15", "198.18.0.16"]
    web_b, dns_b = web_a + ["198.18.0.14"], dns_a + ["198.18.0.14"]
    h.write_config(path, config(web_a, dns_a))
    daemon = context.daemon(path)
    daemon.wait_running()
    tap = context.tap(iface)

    tcp_flows = [h.TcpFlow(f"198.19.1.{i + 1}", 40000 + i, WEB_VIP, 80, isn=1_000_000 * (i + 1)) for i in range(TCP_FLOWS)]
    open_tcp(tap, tcp_flows, endpoints=web_a)
    udp_flows = open_udp(tap, UDP_FLOWS)
    spread = {}
    for flow in tcp_flows:
        spread[flow.endpoint_ip] = spread.get(flow.endpoint_ip, 0) + 1
    h.log(f"{TCP_FLOWS} TCP connections established: {spread}; {UDP_FLOWS} UDP flows")
    h.check(len(spread) == 3, f"not every web endpoint has connections: {spread}")

    traffic = Traffic(tap, tcp_flows, udp_flows)
    received = set()
    traffic.start()
    try:
        traffic.wait_rounds(3)
        # 1. A valid change: endpoints added, a service added.
        reload(daemon, path, config(web_b, dns_b, new_service=True), r"generation 2 built")
        match = daemon.wait_for(r"generation 2 in use by all 1 workers (\d+) us", timeout=10)
        h.log(f"generation 2 in use after {match.group(1)} us (traffic round {traffic.rounds})")
        traffic.wait_rounds(3)
        verify_traffic(tap.take_all(is_traffic), tcp_flows, udp_flows, received)

        # New connections use the new endpoint and the new service.
        fresh = [h.TcpFlow(f"198.19.3.{i + 1}", 50000 + i, WEB_VIP, 80, isn=2_000_000_000 + i * 1000) for i in range(30)]
        open_tcp(tap, fresh, endpoints=web_b)
        fresh_spread = {}
        for flow in fresh:
            fresh_spread[flow.endpoint_ip] = fresh_spread.get(flow.endpoint_ip, 0) + 1
        h.log(f"30 connections opened after the reload: {fresh_spread}")
        h.check("198.18.0.14" in fresh_spread, f"no new connection reached the added endpoint: {fresh_spread}")
        probe = h.TcpFlow("198.19.4.1", 60000, NEW_VIP, 80, isn=3_000_000_000)
        tap.send(probe.syn())
        probe.learn(tap.expect_one(probe.is_forwarded_syn, what="SYN to the new service"), "fullnat",
                    ["198.18.0.16"], 9000)

        # 2. Invalid files are rejected whole; the running generation stays.
        good = h.toml_dumps(config(web_b, dns_b, new_service=True))
        broken_syntax = good.replace("[dataplane]", "[dataplane", 1)
        bad_address = good.replace('"198.18.0.14"', '"198.18.0.300"', 1)
        restart_only = good.replace('"02:00:00:00:00:01"', '"02:00:00:00:00:07"', 1)
        for name, text, extra in [("syntax error", broken_syntax, r""), ("bad address", bad_address, r""),
                                  ("restart-only change", restart_only, r"ports\[0\]\.mac")]:
            offset = daemon.log_offset()
            h.write_config(path, text)
            daemon.send_signal(signal.SIGHUP)
            match = daemon.wait_for(r"reload rejected: (.*)$", timeout=10, after=offset)
            h.check("still running generation 2" in match.group(1), f"{name}: {match.group(0)}")
            h.check(re.search(extra, match.group(1)), f"{name}: the rejection does not name {extra}: {match.group(0)}")
            if name != "restart-only change":
                detail = daemon.log_text()[offset:]
                h.check(re.search(re.escape(path) + r":\d+:\d+: ", detail),
                        f"{name}: no file:line:column error logged:\n{detail}")
            h.log(f"{name}: {match.group(0).strip()}")
            traffic.wait_rounds(2)
        # The running state is kept: the new service of generation 2 still answers.
        probe2 = h.TcpFlow("198.19.4.2", 60001, NEW_VIP, 80, isn=3_100_000_000)
        tap.send(probe2.syn())
        probe2.learn(tap.expect_one(probe2.is_forwarded_syn, what="SYN to the new service after the rejections"),
                     "fullnat", ["198.18.0.16"], 9000)
        h.check(not re.search(r"generation 3", daemon.log_text()), "a rejected file produced a new generation")
        traffic.wait_rounds(2)
    finally:
        traffic.stop()
    time.sleep(0.3)
    verify_traffic(tap.take_all(is_traffic), tcp_flows, udp_flows, received)
    missing = [marker for marker in traffic.sent if marker not in received]
    h.log(f"background traffic: {traffic.rounds} rounds, {len(traffic.sent)} data packets sent, "
          f"{len(received)} forwarded unchanged")
    h.check(not missing, f"{len(missing)} data packets were not forwarded, e.g. {missing[:5]}")

    # 3. Remove an endpoint that has connections.
    removed = "198.18.0.12"
    web_c = [a for a in web_b if a != removed]
    h.write_config(path, config(web_c, dns_b, new_service=True))
    offset = daemon.log_offset()
    daemon.send_signal(signal.SIGHUP)
    daemon.wait_for(r"generation 3 in use by all", timeout=10, after=offset)
    gone = [f for f in tcp_flows + fresh if f.endpoint_ip == removed]
    kept = [f for f in tcp_flows + fresh if f.endpoint_ip != removed]
    h.check(gone, "no connection on the removed endpoint")
    tap.send([flow.client_segment("PA", b"after-removal") for flow in tcp_flows + fresh])
    for packet in tap.expect(lambda p: TCP in p and "R" in str(p[TCP].flags), len(gone), timeout=10,
                             what="RSTs for the removed endpoint's connections", exact=True):
        flow = next((f for f in gone if f.is_to_client(packet)), None)
        h.check(flow is not None, f"RST for a connection that was not on {removed}: {h.describe(packet)}")
        h.check_frame(packet, what="RST", eth_dst=h.ROUTER_MAC, ip_src=WEB_VIP, ip_dst=flow.client_ip, sport=80,
                      dport=flow.client_port, flags="R", seq=flow.endpoint_seq)
    forwarded = tap.expect(lambda p: IP in p and h.l4_payload(p) == b"after-removal", len(kept), timeout=10,
                           what="segments of the other connections", exact=True)
    for packet in forwarded:
        flow = next((f for f in kept if f.is_to_endpoint(packet)), None)
        h.check(flow is not None, f"a segment went to {packet[IP].dst} with SNAT port {packet[TCP].sport}, "
                                  f"matching no kept connection")
        flow.check_to_endpoint(packet, "segment after the removal", flags="PA", payload=b"after-removal")
    h.log(f"endpoint {removed} removed: {len(gone)} connections reset, {len(kept)} untouched")

    status, text = daemon.stop()
    h.check(status == 0, f"vipgate exited with status {status}")
    counters = h.parse_final_counters(text)
    h.log(f"final counters {counters}")
    h.check(counters.get("drop.endpoint_gone", 0) == len(gone) and counters.get("resets_sent", 0) == len(gone),
            f"endpoint_gone {counters.get('drop.endpoint_gone', 0)} / resets_sent {counters.get('resets_sent', 0)}, "
            f"expected {len(gone)}")
    # The kernel's own IPv6 on the tap (MLD, router and neighbor solicitations) is ipv6_not_served.
    unexpected = {k: v for k, v in counters.items() if k.startswith("drop.") and
                  k not in ("drop.endpoint_gone", "drop.unknown_ethertype", "drop.ipv6_not_served")}
    h.check(not unexpected, f"unexpected drops {unexpected}")


if __name__ == "__main__":
    h.run_test("reload", main, need_tap=True)
