#!/usr/bin/python3
"""IPv6 fragments, echo and Packet Too Big through vipgate with real kernels (issues 13 and 15,
docs/ipv6.md), in the NAT mode given as the third argument (fullnat or dnat):

  1. c1 sends DATAGRAMS UDP datagrams of 4000 bytes over IPv6 (each a new socket) to an IPv6
     ClusterIP whose backends echo every datagram whole; the kernel sends each in three
     fragments, the backend's kernel reassembles it only if every fragment arrived translated
     alike, and its echo (three fragments again) comes back through vipgate to c1, which checks
     every byte; `vipctl get stats`: two later fragments forwarded per datagram each way, two
     datagrams completed per echo, none expired, no fragment drop;
  2. `ping -6` of the IPv6 ClusterIP and of the gateway's client-side port address;
  3. Packet Too Big: a pod (its own namespace) sits behind backend b1, which routes to it over a
     link of MTU 1280 (vipgate reaches the pod's prefix by an IPv6 route via b1). c1 sends a
     1400-byte UDP datagram; b1's kernel cannot forward it and answers Packet Too Big (MTU 1280),
     which vipgate translates back to c1 about its own flow to the ClusterIP; c1's kernel caches
     the path MTU (`ip -6 route get` shows mtu 1280) and sends the datagram again in two
     fragments, which reach the pod, whose echo (fragmented by the pod to its MTU) comes back.

The set-up shared with test_fragments.py is fragment_echo.py.
"""
import json
import os
import re
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fragment_echo as echo  # noqa: E402
import realhost_harness as r  # noqa: E402
from lab import topology  # noqa: E402

VIP6 = "2001:db8:100::71"          # the backends b1 and b2
SMALL_VIP6 = "2001:db8:100::72"    # the pod behind b1
BIG_PORT, SMALL_MTU_PORT = 7000, 7002
GW_CLIENT6, GW_SERVER6 = "2001:db8:1::1", "2001:db8:2::1"
CLIENT6 = "2001:db8:1::10"
BACKENDS6 = {"b1": "2001:db8:2::11", "b2": "2001:db8:2::12"}
POD_PREFIX, POD_ROUTER6, POD6 = "2001:db8:3::/64", "2001:db8:3::1", "2001:db8:3::11"
POD_MTU = 1280
PROBE_SIZE = 1400
FRAGMENT_DROPS = echo.FRAGMENT_DROPS + ["icmp6_error_later_fragment", "icmp6_error_unmatched"]

# One socket: a datagram larger than the pod's link MTU, sent until its echo comes back (the
# first is lost at b1, which answers Packet Too Big; the socket reports it once as EMSGSIZE; the
# next leave c1 in fragments).
PROBE = f"""
import errno, json, os, socket
payload = os.urandom({PROBE_SIZE})
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.settimeout(1)
s.connect(("{SMALL_VIP6}", {SMALL_MTU_PORT}))
result = {{"sent": 0, "echoed": False, "emsgsize": 0}}
for attempt in range(6):
    try:
        s.send(payload)
        result["sent"] += 1
        if s.recv(65535) == payload:
            result["echoed"] = True
            break
    except socket.timeout:
        pass
    except OSError as error:
        # The Packet Too Big reported on the connected socket (its next call fails once).
        if error.errno != errno.EMSGSIZE:
            raise
        result["emsgsize"] += 1
print(json.dumps(result))
"""


def enable_ipv6(ns, role, interface="eth0"):
    ns.run(role, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=0", "net.ipv6.conf.default.disable_ipv6=0",
           f"net.ipv6.conf.{interface}.disable_ipv6=0", f"net.ipv6.conf.{interface}.accept_ra=0")


def add_pod_behind_b1(t):
    """A namespace `pod6` linked to b1 by a veth of MTU 1280; b1 forwards between the two. The
    lab's namespaces own it (deleted with the lab, pass or fail)."""
    ns = t.lab.ns
    ns.add("pod6")
    ns.veth("b1", "pod0", "pod6", "eth0")
    enable_ipv6(ns, "pod6")
    ns.run("b1", "sysctl", "-qw", "net.ipv6.conf.pod0.disable_ipv6=0", "net.ipv6.conf.all.forwarding=1")
    ns.run("b1", "ip", "link", "set", "pod0", "mtu", str(POD_MTU), "up")
    ns.run("b1", "ip", "-6", "addr", "add", f"{POD_ROUTER6}/64", "dev", "pod0", "nodad")
    ns.run("pod6", "ip", "link", "set", "eth0", "mtu", str(POD_MTU), "up")
    ns.run("pod6", "ip", "-6", "addr", "add", f"{POD6}/64", "dev", "eth0", "nodad")
    ns.run("pod6", "ip", "-6", "route", "add", "default", "via", POD_ROUTER6, "dev", "eth0")
    ns.spawn("pod6", ["/usr/bin/python3", "-c", echo.echo_server(6), str(SMALL_MTU_PORT)])


def main():
    def prepare(t):
        t.gateway.port_options = {
            "p0": {"addresses": [f"{topology.GW_CLIENT_IP}/24", f"{GW_CLIENT6}/64"]},
            "p1": {"addresses": [f"{topology.GW_SERVER_IP}/24", f"{GW_SERVER6}/64"]},
        }
        pods = [{"name": name, "pod_ips": [t.lab.backends[name], address], "labels": {"app": "bigecho6"}}
                for name, address in BACKENDS6.items()]
        pods.append({"name": "pod6", "pod_ips": [POD6], "labels": {"app": "smallmtu6"}})
        t.gateway.tables = {
            "snat": {"addresses": [topology.GW_SERVER_IP, GW_SERVER6]},
            "pods": pods,
            "routes": [{"prefix": POD_PREFIX, "via": BACKENDS6["b1"]}],
        }
        t.services.append({"name": "bigecho6", "cluster_ip": VIP6, "selector": {"app": "bigecho6"},
                           "ports": [{"name": "echo", "protocol": "UDP", "port": BIG_PORT,
                                      "target_port": BIG_PORT}]})
        t.services.append({"name": "smallmtu6", "cluster_ip": SMALL_VIP6, "selector": {"app": "smallmtu6"},
                           "ports": [{"name": "echo", "protocol": "UDP", "port": SMALL_MTU_PORT,
                                      "target_port": SMALL_MTU_PORT}]})

    def body(t, stats):
        ns = t.lab.ns
        enable_ipv6(ns, "c1")
        ns.run("c1", "ip", "-6", "addr", "add", f"{CLIENT6}/64", "dev", "eth0", "nodad")
        ns.run("c1", "ip", "-6", "route", "add", "2001:db8:100::/64", "via", GW_CLIENT6, "dev", "eth0")
        for name, address in BACKENDS6.items():
            enable_ipv6(ns, name)
            ns.run(name, "ip", "-6", "addr", "add", f"{address}/64", "dev", "eth0", "nodad")
            # DNAT-only: replies go to the client's own address, through the gateway.
            ns.run(name, "ip", "-6", "route", "add", "2001:db8:1::/64", "via", GW_SERVER6, "dev", "eth0")
            ns.spawn(name, ["/usr/bin/python3", "-c", echo.echo_server(6), str(BIG_PORT)])
        add_pod_behind_b1(t)
        time.sleep(0.5)  # the echo servers bind

        before = stats()
        echo.echo_datagrams(t, 6, VIP6, BIG_PORT)
        counters, drops = echo.difference(before, stats(), FRAGMENT_DROPS)
        echo.check_echoes_counted(counters, drops)
        r.check(not any(drops.values()), f"fragment drops {drops}")

        for target in (VIP6, GW_CLIENT6):
            result = ns.run("c1", "ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", target, check=False, capture=True)
            r.check(" 0% packet loss" in result, f"ping -6 {target}: {result.strip()}")
            r.log(f"ping -6 {target}: 3 of 3 answered")

        before = stats()
        probe = json.loads(ns.run("c1", "/usr/bin/python3", "-c", PROBE,
                                  capture=True, timeout=60))
        route = ns.run("c1", "ip", "-6", "route", "get", SMALL_VIP6, capture=True).strip()
        counters, drops = echo.difference(before, stats(), FRAGMENT_DROPS)
        r.log(f"{PROBE_SIZE}-byte datagram to the pod behind MTU {POD_MTU}: {probe}; ip -6 route get: {route}; "
              f"icmp_errors_translated +{counters['icmp_errors_translated']}, fragments_forwarded "
              f"+{counters['fragments_forwarded']}")
        r.check(re.search(rf"\bmtu {POD_MTU}\b", route) is not None,
                f"c1 cached no path MTU of {POD_MTU} for the ClusterIP: {route}")
        r.check(counters["icmp_errors_translated"] >= 1, "no Packet Too Big was translated")
        r.check(probe["echoed"], f"the {PROBE_SIZE}-byte datagram never came back after Packet Too Big: {probe}")
        r.check(counters["fragments_forwarded"] >= 2,
                f"the resent datagram and its echo should have crossed in fragments: {counters['fragments_forwarded']}")
        r.check(not any(drops.values()), f"fragment drops {drops}")

    os.environ.setdefault("VIPGATE_LAB_PMD", "af_packet")
    echo.run("fragments6", prepare, body, backends=2)


if __name__ == "__main__":
    main()
