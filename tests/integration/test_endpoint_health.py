#!/usr/bin/python3
"""Endpoint health as the dataplane sees it, read the way an operator reads it.

vipgate on a net_tap port; scapy plays the clients and two endpoints of one ClusterIP: SLOW
answers every SYN with a SYN-ACK 50 ms after vipgate forwarded it, SILENT never answers. With
a 1 s SYN timeout the silent endpoint's half-open entries expire. Then:

  * `vipctl get endpoints -o json`: SLOW's mean connect latency lies between 50 ms and the time
    the whole exchange took (p50 and p99 within the factor two their log2 buckets allow), its
    handshakes equal the SYN-ACKs sent, no unanswered SYN; SILENT has no
    handshake and one unanswered SYN per connection sent to it;
  * `vipctl get endpoints -o wide` shows the same in its health table;
  * `vipctl get stats -o json` has the service port's merged figures, and counts the SYNs a
    service without a ready endpoint refused (RST) as that service port's refusals.
"""
import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vipgate_harness as h  # noqa: E402

VIP = "198.18.100.10"
DOWN_VIP = "198.18.100.20"   # a service whose only endpoint is not ready: every SYN refused
REFUSED = 5
SLOW, SILENT = "198.18.0.11", "198.18.0.12"
DELAY_S = 0.05
CLIENTS = 24
SERVICES = [{"name": "web", "cluster_ip": VIP, "ports": [{"protocol": "TCP", "port": 80, "target_port": 8080}],
             "endpoints": [{"address": SLOW}, {"address": SILENT}]},
            {"name": "down", "cluster_ip": DOWN_VIP, "ports": [{"protocol": "TCP", "port": 80, "target_port": 8080}],
             "endpoints": [{"address": "198.18.0.13", "ready": False}]}]


def play_clients(tap):
    """Every client sends a SYN; SLOW answers each of its SYNs at least DELAY_S after it arrived.
    Returns the flows to each endpoint and the longest any SYN can have waited (the whole play)."""
    started = time.monotonic()
    flows = [h.TcpFlow(f"198.19.2.{i + 1}", 41000 + i, VIP, 80, isn=1000 * (i + 1)) for i in range(CLIENTS)]
    for flow in flows:
        tap.send(flow.syn())
    to_slow, to_silent = [], []
    for flow in flows:
        syn = tap.expect_one(flow.is_forwarded_syn, what=f"SYN of {flow.client_ip}")
        flow.learn(syn, "fullnat", [SLOW, SILENT], 8080)
        (to_slow if flow.endpoint_ip == SLOW else to_silent).append(flow)
    h.check(to_slow and to_silent, f"Maglev sent {len(to_slow)} flows to {SLOW} and {len(to_silent)} to {SILENT}; "
                                   "the test needs both")
    # The SYNs were taken as they arrived: waiting DELAY_S from now answers each at least DELAY_S late.
    time.sleep(DELAY_S)
    for flow in to_slow:
        tap.send(flow.synack())
    longest_wait_s = time.monotonic() - started
    tap.expect(lambda p: any(f.is_to_client(p) for f in to_slow), count=len(to_slow), what="SYN-ACKs to clients")
    return len(to_slow), len(to_silent), longest_wait_s


def endpoint_entries(vipctl):
    entries = {}
    for item in h.items(vipctl.json("get", "endpoints")):
        if item["name"] == "web":
            for endpoint in item["endpoints"]:
                entries[endpoint["address"]] = endpoint
    return entries


def main(context):
    vipctl_exe = sys.argv[2]
    iface = context.interface_name("hl")
    config = h.make_config(context.file_prefix(), f"net_tap0,iface={iface}", SERVICES,
                           conntrack={"tcp_syn_timeout": 1})
    api_socket = context.path("api.sock")
    daemon = context.daemon(h.write_config(context.path("gw.toml"), config), args=["--api-socket", api_socket])
    daemon.wait_running()
    tap = context.tap(iface)
    vipctl = h.Vipctl(vipctl_exe, api_socket)

    answered, unanswered, longest_wait_s = play_clients(tap)
    time.sleep(3.0)  # the silent endpoint's half-open entries expire (1 s) and are aged out
    entries = endpoint_entries(vipctl)
    slow, silent = entries[SLOW]["dataplane"], entries[SILENT]["dataplane"]
    h.log(f"{SLOW}: {slow}; {SILENT}: {silent}")
    h.check(slow["connect"]["handshakes"] == answered and slow["syn_unanswered"] == 0,
            f"{SLOW} answered {answered} SYNs: {slow}")
    # Each latency is at least DELAY_S and at most the whole play; the quantiles are interpolated
    # inside log2 buckets, so they are within a factor of two of that range.
    longest_us = longest_wait_s * 1e6
    h.check(DELAY_S * 1e6 <= slow["connect"]["mean_us"] <= longest_us,
            f"{SLOW}: mean connect latency {slow['connect']['mean_us']} us, every SYN-ACK came between "
            f"{DELAY_S * 1e6:.0f} and {longest_us:.0f} us after its SYN")
    for quantile in ("p50_us", "p99_us"):
        h.check(DELAY_S * 1e6 / 2 <= slow["connect"][quantile] <= 2 * longest_us,
                f"{SLOW}: {quantile} {slow['connect'][quantile]} us, every SYN-ACK came between "
                f"{DELAY_S * 1e6:.0f} and {longest_us:.0f} us after its SYN")
    h.check(silent["connect"]["handshakes"] == 0 and silent["connect"]["p50_us"] is None,
            f"{SILENT} never answered: {silent}")
    h.check(silent["syn_unanswered"] == unanswered, f"{SILENT} left {unanswered} SYNs unanswered: {silent}")

    wide = vipctl.ok("get", "endpoints", "-o", "wide")
    lines = wide.splitlines()
    header = next((i for i, line in enumerate(lines) if "SYN UNANSWERED" in line), None)
    h.check(header is not None, f"no health table in vipctl get endpoints -o wide:\n{wide}")
    rows = {line.split()[1]: line.split() for line in lines[header + 1:] if line.strip()}
    h.check(rows.get(f"{SILENT}:8080", [""])[-1] == str(unanswered) and rows.get(f"{SLOW}:8080", [""])[-1] == "0",
            f"vipctl get endpoints -o wide does not show {unanswered} unanswered SYNs for {SILENT}:\n{wide}")

    from scapy.layers.inet import TCP
    for i in range(REFUSED):
        tap.send(h.client_frame(f"198.19.3.{i + 1}", DOWN_VIP, TCP(sport=42000 + i, dport=80, flags="S", seq=9)))
    tap.expect(lambda p: TCP in p and p[TCP].flags == "RA" and p[TCP].sport == 80, count=REFUSED,
               what="RSTs from the service without a ready endpoint")
    stats = vipctl.json("get", "stats")
    by_name = {s["service"]: s for s in stats["services"]}
    port = by_name["default/web:80"]
    h.check(port["connect"]["handshakes"] == answered and port["syn_unanswered"] == unanswered and
            port["refusals"] == 0, f"get stats for the service port: {port}")
    h.check(by_name["default/down:80"]["refusals"] == REFUSED, f"get stats: {by_name['default/down:80']}")
    h.check("REFUSED" in vipctl.ok("get", "stats"), "vipctl get stats shows no REFUSED column")

    status, _ = daemon.stop()
    h.check(status == 0, f"vipgate exited with status {status}")


if __name__ == "__main__":
    h.run_test("endpoint_health", main, need_tap=True)
