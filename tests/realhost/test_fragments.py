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

The set-up shared with test_fragments6.py is fragment_echo.py.
"""
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fragment_echo as echo  # noqa: E402
import realhost_harness as r  # noqa: E402

BIG_VIP, BIG_PORT = "198.18.100.70", 7000

# A first fragment of 48 bytes, then one at offset 40 that overlaps it (teardrop).
TEARDROP = f"""
from scapy.all import IP, UDP, Raw, send
datagram = bytes(IP(dst="{BIG_VIP}", id=0x7e7e) / UDP(sport=45000, dport={BIG_PORT}) / Raw(b"x" * 200))
payload = datagram[20:]
first = IP(dst="{BIG_VIP}", id=0x7e7e, flags="MF", frag=0, proto=17) / Raw(payload[:48])
overlap = IP(dst="{BIG_VIP}", id=0x7e7e, flags="MF", frag=5, proto=17) / Raw(payload[40:96])
send([first, overlap], verbose=0)
"""


def main():
    def prepare(t):
        t.services.append({"name": "bigecho", "cluster_ip": BIG_VIP,
                           "ports": [{"name": "echo", "protocol": "UDP", "port": BIG_PORT, "target_port": BIG_PORT}],
                           "endpoints": [{"address": address} for address in t.lab.backends.values()]})
        for name in t.lab.backends:
            t.lab.ns.spawn(name, ["/usr/bin/python3", "-c", echo.echo_server(4), str(BIG_PORT)])

    def body(t, stats):
        before = stats()
        echo.echo_datagrams(t, 4, BIG_VIP, BIG_PORT)
        t.lab.ns.run("c1", "/usr/bin/python3", "-c", TEARDROP, timeout=60)
        r.log("teardrop sent (first fragment, then one overlapping it)")

        counters, drops = echo.difference(before, stats(), echo.FRAGMENT_DROPS)
        echo.check_echoes_counted(counters, drops)
        expected_drops = {name: 1 if name == "fragment_overlap" else 0 for name in echo.FRAGMENT_DROPS}
        r.check(drops == expected_drops, f"fragment drops {drops}, expected {expected_drops}")

    echo.run("fragments", prepare, body)


if __name__ == "__main__":
    main()
