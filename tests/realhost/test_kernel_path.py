"""Kernel exception path (issue 14): port p0 has `kernel_interface = "vg-p0"`.

  1. vipgate creates the tap vg-p0 in its namespace with p0's MAC and 198.18.1.1/24, up.
  2. A TCP server of the gateway namespace's kernel, bound to 198.18.1.1:179 (BGP's port),
     serves a client through vipgate: 200 KB each way, echoed (upper-cased) whole.
  3. Ping of 198.18.1.1 is still vipgate's own answer (icmp_sent grows, to_kernel does not).
  4. `vipctl get stats`: to_kernel and from_kernel > 0.
  5. A UDP flood at a closed port of 198.18.1.1 is cut by the kernel budget (kernel_rate_limited
     grows, to_kernel grows by at most the budget), and the TCP exchange still works after it.
  6. IPv6 (p0 also has 2001:db8:1::1/64, which vg-p0 gets too): first the gateway's kernel
     connects to a server on the client, which vipgate has never heard from: the kernel's
     solicitation is resolved on the wire by vipgate's Neighbor Discovery and its retry answered
     from the table; then a client's TCP exchange with a server of the kernel at
     [2001:db8:1::1]:179, as for IPv4. The kernel's router solicitations and MLD are not sent:
     kernel_frame_refused grows. The final report counts the kernel's answered solicitations.
  7. When vipgate stops, vg-p0 is gone.
The gateway namespace's own p0 gets strict rp_filter and arp_ignore=8: with AF_PACKET its
kernel sees the wire frames too and would otherwise answer for 198.18.1.1 (now a local address).

Runs on AF_PACKET unless VIPGATE_LAB_PMD says otherwise; meson runs it on AF_XDP too
(kernel_path_af_xdp): the flood passes some 21,000 packets through the control thread, and on
AF_XDP the port used to stop receiving after 9,000 of them (README, Kernel exception path), so
the TCP exchange after the flood is the regression check.
"""
import json
import os
import re
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import realhost_harness as r  # noqa: E402
from lab import topology  # noqa: E402

VIPCTL = sys.argv[2] if len(sys.argv) > 2 else ""
GATEWAY = "198.18.1.1"
GATEWAY6, CLIENT6, SNAT6 = "2001:db8:1::1", "2001:db8:1::10", "2001:db8:2::1"
PORT = 179
KERNEL_BUDGET = 10000  # RateLimits::kernel: packets per second per worker (burst 1000)

SERVER = f"""
import socket, threading
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("{GATEWAY}", {PORT}))
listener.listen(16)
def serve(connection):
    with connection:
        while True:
            data = connection.recv(65536)
            if not data:
                return
            connection.sendall(data.upper())
while True:
    threading.Thread(target=serve, args=(listener.accept()[0],), daemon=True).start()
"""

CLIENT = f"""
import json, socket, time
size = 200_000
payload = (b"abcdefghij" * (size // 10))
started = time.monotonic()
connection = socket.create_connection(("{GATEWAY}", {PORT}), timeout=10)
connect_ms = (time.monotonic() - started) * 1000
connection.sendall(payload)
received = b""
while len(received) < size:
    data = connection.recv(65536)
    if not data:
        break
    received += data
rtts = []
for _ in range(50):
    t = time.monotonic()
    connection.sendall(b"x")
    connection.recv(1)
    rtts.append((time.monotonic() - t) * 1000)
connection.close()
print(json.dumps({{"ok": received == payload.upper(), "received": len(received), "connect_ms": connect_ms,
                  "rtts_ms": rtts}}))
"""

FLOOD = f"""
import json, socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setblocking(False)
sent, end = 0, time.monotonic() + 2.0
while time.monotonic() < end:
    for _ in range(200):
        try:
            s.sendto(b"f" * 18, ("{GATEWAY}", 9))
            sent += 1
        except BlockingIOError:
            pass
print(json.dumps({{"sent": sent}}))
"""


SERVER6 = SERVER.replace("socket.socket()", "socket.socket(socket.AF_INET6)").replace(
    f'("{GATEWAY}", {PORT})', f'("{GATEWAY6}", {PORT})')
CLIENT6_PROGRAM = CLIENT.replace(f'("{GATEWAY}", {PORT})', f'("{GATEWAY6}", {PORT})')
# The gateway's kernel as the client: a server on c1, a connection from the gw namespace.
ECHO6 = SERVER.replace("socket.socket()", "socket.socket(socket.AF_INET6)").replace(
    f'("{GATEWAY}", {PORT})', f'("{CLIENT6}", 8179)')
KERNEL_CONNECTS = f"""
import socket
connection = socket.create_connection(("{CLIENT6}", 8179), timeout=10)
connection.sendall(b"from the gateway kernel")
print(connection.recv(100).decode())
"""


def delta(before, after, section, name):
    return after[section][name] - before[section].get(name, 0)


def exchange(t, program=CLIENT, address=GATEWAY):
    out = json.loads(t.lab.ns.run("c1", "/usr/bin/python3", "-c", program, capture=True, timeout=60))
    r.check(out["ok"], f"the TCP exchange with the kernel at {address}:{PORT} failed: {out['received']} bytes back")
    return out


def ipv6(t, stats, before):
    """Step 6."""
    ns = t.lab.ns
    ns.run("c1", "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=0", "net.ipv6.conf.default.disable_ipv6=0",
           "net.ipv6.conf.eth0.disable_ipv6=0", "net.ipv6.conf.eth0.accept_ra=0")
    ns.run("c1", "ip", "-6", "addr", "add", f"{CLIENT6}/64", "dev", "eth0", "nodad")
    shown = ns.run("gw", "ip", "-o", "-6", "addr", "show", "dev", "vg-p0", capture=True)
    r.check(f"{GATEWAY6}/64" in shown and "tentative" not in shown, f"vg-p0 does not carry {GATEWAY6}/64: {shown!r}")
    ns.spawn("c1", ["/usr/bin/python3", "-c", ECHO6])
    ns.spawn("gw", ["/usr/bin/python3", "-c", SERVER6])
    time.sleep(0.5)
    answer = ns.run("gw", "/usr/bin/python3", "-c", KERNEL_CONNECTS, capture=True, timeout=30).strip()
    r.check(answer == "FROM THE GATEWAY KERNEL", f"the gateway kernel's connection to [{CLIENT6}]:8179: {answer!r}")
    r.log(f"the gateway's kernel reached [{CLIENT6}]:8179 through vipgate (a neighbor vipgate resolved first)")
    out = exchange(t, CLIENT6_PROGRAM, GATEWAY6)
    r.log(f"TCP [{GATEWAY6}]:{PORT} served by the kernel through vipgate: 200 KB each way, connect "
          f"{out['connect_ms']:.2f} ms, 1-byte echo round trip median {statistics.median(out['rtts_ms']):.3f} ms")
    after = stats()
    to_kernel = delta(before, after, "counters", "to_kernel")
    from_kernel = delta(before, after, "counters", "from_kernel")
    refused = delta(before, after, "drops", "kernel_frame_refused")
    r.log(f"IPv6: to_kernel +{to_kernel}, from_kernel +{from_kernel}, kernel_frame_refused +{refused}")
    r.check(to_kernel > 100 and from_kernel > 100, f"to_kernel +{to_kernel}, from_kernel +{from_kernel}")
    r.check(delta(before, after, "drops", "no_service") == 0, "IPv6 packets to the kernel were refused (no_service)")
    neighbor = ns.run("gw", "ip", "-6", "neigh", "show", CLIENT6, "dev", "vg-p0", capture=True)
    client_mac = ns.run("c1", "cat", "/sys/class/net/eth0/address", capture=True).strip()
    r.check(client_mac in neighbor, f"the kernel's neighbor entry for {CLIENT6} is {neighbor!r}, not {client_mac}")


def main():
    def prepare(t):
        # SNAT6 on p1's address: a SNAT address is not the kernel's (its replies would be taken
        # for SNAT flows), and [snat] would otherwise default to p0's first IPv6 address.
        t.gateway.port_options = {"p0": {"kernel_interface": "vg-p0",
                                         "addresses": [f"{GATEWAY}/24", f"{GATEWAY6}/64"]},
                                  "p1": {"addresses": [f"{topology.GW_SERVER_IP}/24", f"{SNAT6}/64"]}}
        t.gateway.tables = {"snat": {"addresses": [topology.GW_SERVER_IP, SNAT6]}}
        t.lab.ns.run("gw", "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.p0.rp_filter=1",
                     "net.ipv4.conf.p0.arp_ignore=8")

    def body(t, stats):
        shown = t.lab.ns.run("gw", "ip", "-o", "-4", "addr", "show", "dev", "vg-p0", capture=True)
        r.check(f"{GATEWAY}/24" in shown, f"vg-p0 does not carry {GATEWAY}/24: {shown!r}")
        link = t.lab.ns.run("gw", "ip", "-o", "link", "show", "dev", "vg-p0", capture=True)
        p0 = t.lab.ns.run("gw", "cat", "/sys/class/net/p0/address", capture=True).strip()
        r.check(",UP" in link and p0 in link, f"vg-p0 is not up with p0's MAC {p0}: {link!r}")
        r.log(f"vg-p0 up with {GATEWAY}/24 and MAC {p0}")
        t.lab.ns.spawn("gw", ["/usr/bin/python3", "-c", SERVER])
        time.sleep(0.5)

        before = stats()
        out = exchange(t)
        median_rtt = statistics.median(out["rtts_ms"])
        r.log(f"TCP {GATEWAY}:{PORT} served by the kernel through vipgate: 200 KB each way, connect "
              f"{out['connect_ms']:.2f} ms, 1-byte echo round trip median {median_rtt:.3f} ms")
        after = stats()
        to_kernel = delta(before, after, "counters", "to_kernel")
        from_kernel = delta(before, after, "counters", "from_kernel")
        r.log(f"vipctl get stats: to_kernel +{to_kernel}, from_kernel +{from_kernel}")
        r.check(to_kernel > 0 and from_kernel > 0, f"to_kernel +{to_kernel}, from_kernel +{from_kernel}")
        r.check(delta(before, after, "drops", "no_service") == 0, "packets to the kernel were refused (no_service)")

        before = stats()
        ping = t.lab.ns.run("c1", "ping", "-c", "20", "-i", "0.05", "-q", GATEWAY, capture=True, timeout=30)
        after = stats()
        r.check(" 0% packet loss" in ping, f"ping {GATEWAY}: {ping}")
        r.check(delta(before, after, "counters", "icmp_sent") >= 20, "vipgate did not answer the pings itself")
        r.check(delta(before, after, "counters", "to_kernel") == 0, "pings went to the kernel")
        r.log(f"ping {GATEWAY} answered by vipgate: {ping.strip().splitlines()[-1]}")

        before = stats()
        started = time.monotonic()
        flood = json.loads(t.lab.ns.run("c1", "/usr/bin/python3", "-c", FLOOD, capture=True, timeout=60))
        elapsed = time.monotonic() - started
        time.sleep(0.5)
        after = stats()
        limited = delta(before, after, "drops", "kernel_rate_limited")
        passed = delta(before, after, "counters", "to_kernel")
        budget = KERNEL_BUDGET * elapsed + 1000
        r.log(f"UDP flood: {flood['sent']} datagrams in {elapsed:.1f} s ({flood['sent'] / elapsed:.0f}/s): "
              f"to_kernel +{passed} (budget {budget:.0f}), kernel_rate_limited +{limited}")
        r.check(limited > 0, "the flood was not rate-limited (kernel_rate_limited did not grow)")
        r.check(passed <= budget, f"to_kernel grew by {passed}, over the budget of {budget:.0f}")
        r.check(passed > 10000, f"only {passed} packets reached the kernel: too few to show the AF_XDP pool fix")
        exchange(t)
        r.log("the TCP exchange with the kernel still works after the flood")

        ipv6(t, stats, stats())
        # vg-p0 has had IPv6 since vipgate started it: its router solicitations and MLD reports
        # are counted since then.
        deadline = time.monotonic() + 10
        while True:
            refused = stats()["drops"].get("kernel_frame_refused", 0)
            if refused > 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        r.check(refused > 0, "IPv6 on vg-p0 (MLD, router solicitations) was not counted as kernel_frame_refused")
        r.log(f"the kernel's MLD and router solicitations are not sent: kernel_frame_refused {refused}")

        log = t.gateway.stop()
        r.check("kernel path: " in log, "the final report has no kernel path line")
        line = next(line for line in log.splitlines() if "kernel path: " in line)
        match = re.search(r"(\d+) kernel neighbor solicitations answered \((\d+) resolved first\)", line)
        r.check(match is not None and int(match.group(1)) >= 1 and int(match.group(2)) >= 1,
                f"the kernel's solicitations were not answered, or none was resolved on the wire first: {line}")
        gone = t.lab.ns.run("gw", "ip", "link", "show", "dev", "vg-p0", check=False)
        r.check(gone != 0, "vg-p0 is still there after vipgate stopped")
        r.log("vipgate stopped: vg-p0 is gone; " + next(line.strip() for line in log.splitlines()
                                                       if "kernel path: " in line))

    os.environ.setdefault("VIPGATE_LAB_PMD", "af_packet")
    r.run_test_with_api("kernel_path", body, VIPCTL, prepare=prepare, backends=1)


if __name__ == "__main__":
    main()
