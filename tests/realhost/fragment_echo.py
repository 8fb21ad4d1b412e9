"""The set-up the realhost fragment tests share, for either address family (test_fragments.py for
IPv4, test_fragments6.py for IPv6): their arguments (`SCRIPT VIPGATE VIPCTL [fullnat|dnat]`),
UDP echo servers, and the check that DATAGRAMS datagrams of SIZE bytes come back whole through a
ClusterIP with their fragments counted: on c1's 1500-byte link the kernel sends each in three
fragments, the backend's kernel reassembles it only if every fragment arrived translated alike,
and its echo comes back in three fragments too. vipgate runs with an API socket for vipctl
(realhost_harness.run_test_with_api).
"""
import json
import sys

import realhost_harness as r

VIPCTL = sys.argv[2] if len(sys.argv) > 2 else ""
NAT_MODE = sys.argv[3] if len(sys.argv) > 3 else "fullnat"
DATAGRAMS = 20
SIZE = 4000
FRAGMENT_DROPS = ["fragment", "fragment_tiny", "fragment_oversize", "fragment_overlap", "fragment_orphan",
                  "fragment_timeout", "fragment_table_full"]

_SOCKET_FAMILY = {4: "AF_INET", 6: "AF_INET6"}
_ANY_ADDRESS = {4: "0.0.0.0", 6: "::"}


def echo_server(family):
    """A program echoing every UDP datagram whole, on the port given as its argument."""
    return f"""
import socket, sys
s = socket.socket(socket.{_SOCKET_FAMILY[family]}, socket.SOCK_DGRAM)
s.bind(("{_ANY_ADDRESS[family]}", int(sys.argv[1])))
while True:
    data, peer = s.recvfrom(65535)
    s.sendto(data, peer)
"""


def client(family, vip, port):
    """A program sending DATAGRAMS datagrams of SIZE random bytes to vip:port, each from a new
    socket; it prints one JSON line: how many came back whole, and what went wrong with the rest."""
    return f"""
import json, os, socket
whole = 0
errors = []
for i in range({DATAGRAMS}):
    payload = os.urandom({SIZE})
    s = socket.socket(socket.{_SOCKET_FAMILY[family]}, socket.SOCK_DGRAM)
    s.settimeout(2)
    try:
        s.connect(("{vip}", {port}))
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


def difference(before, after, drop_names):
    """What `vipctl get stats` moved between two readings: every counter, and the drops named."""
    counters = {name: after["counters"][name] - before["counters"].get(name, 0) for name in after["counters"]}
    drops = {name: after["drops"].get(name, 0) - before["drops"].get(name, 0) for name in drop_names}
    return counters, drops


def echo_datagrams(t, family, vip, port):
    """c1 sends DATAGRAMS datagrams of SIZE bytes to vip:port; every echo must come back whole."""
    label = "IPv6 " if family == 6 else ""
    mtu = t.lab.ns.run("c1", "cat", "/sys/class/net/eth0/mtu", capture=True).strip()
    r.check(mtu == "1500", f"c1's link MTU is {mtu}, the test needs 1500 to fragment")
    out = json.loads(t.lab.ns.run("c1", "/usr/bin/python3", "-c", client(family, vip, port), capture=True,
                                  timeout=120))
    r.check(out["whole"] == DATAGRAMS, f"{out['whole']} of {DATAGRAMS} {label}echoes of {SIZE} bytes came back "
                                       f"whole: {out['errors'][:5]}")
    r.log(f"{DATAGRAMS} {label}datagrams of {SIZE} bytes (3 fragments each way) echoed whole through {vip}")


def check_echoes_counted(counters, drops):
    """The fragment counters of echo_datagrams (counters and drops as `difference` gives them):
    per datagram two later fragments forwarded each way, two datagrams completed (request and
    echo), none expired."""
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


def run(name, prepare, body, **options):
    """The realhost test `name`_NAT_MODE: realhost_harness.run_test_with_api (prepare, body and
    options as its)."""
    r.run_test_with_api(f"{name}_{NAT_MODE}", body, VIPCTL, prepare=prepare, usage=" [fullnat|dnat]",
                        nat_mode=NAT_MODE, **options)
