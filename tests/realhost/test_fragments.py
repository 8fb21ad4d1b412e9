#!/usr/bin/python3
"""IPv4 fragments through vipgate (issue 15), in the NAT mode given as the third argument
(fullnat or dnat), between real Linux kernels on 1500-byte links:

  1. c1 sends DATAGRAMS UDP datagrams of 4000 bytes (each a new socket) to a ClusterIP whose
     backends echo every datagram whole; the kernel sends each in three fragments, the backend's
     kernel reassembles it only if every fragment arrived translated alike, and its echo (three
     fragments again) comes back through vipgate to c1, which checks every byte;
  2. c1 sends a teardrop (a first fragment, then one overlapping it) with scapy;
  3. `vipctl get stats` shows it: per datagram two later fragments forwarded in each direction,
     two datagrams completed (request and echo), none expired, and one fragment_overlap drop.
"""
import json
import os
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import realhost_harness as r  # noqa: E402

VIPCTL = sys.argv[2] if len(sys.argv) > 2 else ""
NAT_MODE = sys.argv[3] if len(sys.argv) > 3 else "fullnat"
BIG_VIP, BIG_PORT = "198.18.100.70", 7000
DATAGRAMS = 20
SIZE = 4000
FRAGMENT_DROPS = ["fragment", "fragment_tiny", "fragment_oversize", "fragment_overlap", "fragment_orphan",
                  "fragment_timeout", "fragment_table_full"]

ECHO_SERVER = f"""
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", {BIG_PORT}))
while True:
    data, peer = s.recvfrom(65535)
    s.sendto(data, peer)
"""

# Each datagram from a new socket; prints one JSON line: how many came back whole.
CLIENT = f"""
import json, os, socket
whole = 0
errors = []
for i in range({DATAGRAMS}):
    payload = os.urandom({SIZE})
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    try:
        s.connect(("{BIG_VIP}", {BIG_PORT}))
        s.send(payload)
        echo = s.recv(65535)
        if echo == payload:
            whole += 1
        else:
            errors.append(f"datagram {{i}}: {{len(echo)}} bytes came back, not the {SIZE} sent")
    except OSError as error:
        errors.append(f"datagram {{i}}: {{error}}")
    finally:
        s.close()
print(json.dumps({{"whole": whole, "errors": errors}}))
"""

# A first fragment of 48 bytes, then one at offset 40 that overlaps it (teardrop).
TEARDROP = f"""
from scapy.all import IP, UDP, Raw, send
datagram = bytes(IP(dst="{BIG_VIP}", id=0x7e7e) / UDP(sport=45000, dport={BIG_PORT}) / Raw(b"x" * 200))
payload = datagram[20:]
first = IP(dst="{BIG_VIP}", id=0x7e7e, flags="MF", frag=0, proto=17) / Raw(payload[:48])
overlap = IP(dst="{BIG_VIP}", id=0x7e7e, flags="MF", frag=5, proto=17) / Raw(payload[40:96])
send([first, overlap], verbose=0)
"""


def vipctl_stats(socket_path):
    result = subprocess.run([VIPCTL, "--socket", socket_path, "-o", "json", "get", "stats"], capture_output=True,
                            text=True, timeout=30)
    r.check(result.returncode == 0, f"vipctl get stats: exit {result.returncode}: {result.stderr.strip()}")
    return json.loads(result.stdout)


def main():
    if not VIPCTL or not os.access(VIPCTL, os.X_OK):
        print(f"usage: {sys.argv[0]} VIPGATE_EXECUTABLE VIPCTL_EXECUTABLE [fullnat|dnat]")
        sys.exit(2)
    socket_path = os.path.join(f"/tmp/vipgate-realhost-fragments-{os.getpid()}.sock")

    def prepare(t):
        t.services.append({"name": "bigecho", "cluster_ip": BIG_VIP,
                           "ports": [{"name": "echo", "protocol": "UDP", "port": BIG_PORT, "target_port": BIG_PORT}],
                           "endpoints": [{"address": address} for address in t.lab.backends.values()]})
        t.gateway.arguments = ["--api-socket", socket_path, "--metrics-address", ""]
        for name in t.lab.backends:
            t.lab.ns.spawn(name, ["/usr/bin/python3", "-c", ECHO_SERVER])

    def body(t):
        mtu = t.lab.ns.run("c1", "cat", "/sys/class/net/eth0/mtu", capture=True).strip()
        r.check(mtu == "1500", f"c1's link MTU is {mtu}, the test needs 1500 to fragment")
        before = vipctl_stats(socket_path)
        out = json.loads(t.lab.ns.run("c1", "/usr/bin/python3", "-c", CLIENT, capture=True, timeout=120))
        r.check(out["whole"] == DATAGRAMS, f"{out['whole']} of {DATAGRAMS} echoes of {SIZE} bytes came back whole: "
                                           f"{out['errors'][:5]}")
        r.log(f"{DATAGRAMS} datagrams of {SIZE} bytes (3 fragments each way) echoed whole through {BIG_VIP}")
        t.lab.ns.run("c1", "/usr/bin/python3", "-c", TEARDROP, timeout=60)
        r.log("teardrop sent (first fragment, then one overlapping it)")

        after = vipctl_stats(socket_path)
        counters = {name: after["counters"][name] - before["counters"].get(name, 0) for name in after["counters"]}
        drops = {name: after["drops"][name] - before["drops"].get(name, 0) for name in FRAGMENT_DROPS}
        r.log(f"vipctl get stats: fragments_forwarded +{counters['fragments_forwarded']}, fragments_held "
              f"+{counters['fragments_held']}, completed +{counters['fragment_datagrams_completed']}, expired "
              f"+{counters['fragment_datagrams_expired']}, drops {drops}")
        r.check(counters["fragments_forwarded"] == 4 * DATAGRAMS,
                f"fragments_forwarded grew by {counters['fragments_forwarded']}, expected {4 * DATAGRAMS} "
                f"(two later fragments per datagram, each way)")
        r.check(counters["fragment_datagrams_completed"] == 2 * DATAGRAMS,
                f"fragment_datagrams_completed grew by {counters['fragment_datagrams_completed']}, "
                f"expected {2 * DATAGRAMS}")
        r.check(counters["fragment_datagrams_expired"] == 0, "datagrams expired though every echo came back")
        expected_drops = {name: 1 if name == "fragment_overlap" else 0 for name in FRAGMENT_DROPS}
        r.check(drops == expected_drops, f"fragment drops {drops}, expected {expected_drops}")

    try:
        r.run_test(f"fragments_{NAT_MODE}", body, nat_mode=NAT_MODE, prepare=prepare)
    finally:
        if os.path.exists(socket_path):
            os.unlink(socket_path)


if __name__ == "__main__":
    main()
