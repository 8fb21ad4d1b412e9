#!/usr/bin/python3
"""The IPv6 default route learnt from a real router's advertisements (docs/ipv6.md, "Router
advertisements"): radvd in the client namespace c1 advertises on the link to vipgate's port p0,
which has `accept_router_advertisements = true`.

  * c1 also holds 2001:db8:c0::10 on its loopback, an address vipgate has no prefix nor route
    for: before radvd runs, `curl -6` from it through the IPv6 ClusterIP gets no answer (the
    SYN-ACK is no_route) and `vipctl get routes` lists no learnt route;
  * radvd starts (3-4 s intervals, router lifetime 30 s, preference high): `vipctl get routes`
    shows ::/0 via c1's link-local address, installed, preference high; `curl -6` from the
    loopback address is answered by an nginx backend, the reply routed to c1 by that route;
  * radvd stops and sends its final advertisement (router lifetime 0): the route is withdrawn
    (`vipctl get routes`, `withdrawn` in `vipctl get stats`), and curl fails again.
"""
import json
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import realhost_harness as r  # noqa: E402
from lab import servers, topology  # noqa: E402

VIPCTL = sys.argv[2] if len(sys.argv) > 2 else None
VIP6 = "2001:db8:100::71"
GW_CLIENT6, GW_SERVER6 = "2001:db8:1::1", "2001:db8:2::1"
CLIENT6 = "2001:db8:1::10"
REMOTE6 = "2001:db8:c0::10"  # on c1's loopback: reachable only through the learnt default route
BACKEND6 = "2001:db8:2::11"
RADVD_CONF = """interface eth0 {{
    AdvSendAdvert on;
    MinRtrAdvInterval 3;
    MaxRtrAdvInterval 4;
    AdvDefaultLifetime 30;
    AdvDefaultPreference high;
    prefix 2001:db8:1::/64 {{ AdvOnLink on; AdvAutonomous on; }};
}};
"""


def vipctl(socket_path, *args):
    result = subprocess.run([VIPCTL, "--socket", socket_path, "-o", "json", *args], capture_output=True, text=True,
                            timeout=30)
    r.check(result.returncode == 0, f"vipctl {' '.join(args)}: exit {result.returncode}: {result.stderr.strip()}")
    return json.loads(result.stdout)


def learnt_routes(socket_path):
    return [route for route in vipctl(socket_path, "get", "routes")["routes"]
            if route["origin"] == "router-advertisement"]


def wait_for(what, condition, timeout=15):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        r.check(time.monotonic() < deadline, f"{what}: not within {timeout} s")
        time.sleep(0.2)


def enable_ipv6(t, role, address, via=None):
    ns = t.lab.ns
    ns.run(role, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=0", "net.ipv6.conf.default.disable_ipv6=0",
           "net.ipv6.conf.eth0.disable_ipv6=0", "net.ipv6.conf.eth0.accept_ra=0")
    ns.run(role, "ip", "-6", "addr", "add", f"{address}/64", "dev", "eth0", "nodad")
    if via:
        ns.run(role, "ip", "-6", "route", "add", "2001:db8:100::/64", "via", via, "dev", "eth0")


def start_nginx6(t, name):
    directory = os.path.join(t.gateway.workdir, f"{name}-v6")
    os.makedirs(directory, exist_ok=True)
    conf = os.path.join(directory, "nginx.conf")
    with open(conf, "w") as f:
        f.write(servers.NGINX_CONF.format(dir=directory, port=f"[::]:{servers.HTTP_PORT} ipv6only=on", name=name))
    t.lab.ns.spawn(name, ["nginx", "-e", os.path.join(directory, "error.log"), "-p", directory, "-c", conf],
                   log_path=os.path.join(directory, "nginx.out"))
    wait_for(f"nginx on {name} listening on [::]:{servers.HTTP_PORT}",
             lambda: f"[::]:{servers.HTTP_PORT} " in t.lab.ns.run(name, "ss", "-Hltn6", capture=True))


def curl_from_remote(t):
    return t.lab.ns.run("c1", "curl", "-6", "-g", "-s", "-m", "3", "--interface", REMOTE6, f"http://[{VIP6}]/",
                        check=False, capture=True).strip()


def main():
    if not VIPCTL or not os.access(VIPCTL, os.X_OK):
        print(f"usage: {sys.argv[0]} VIPGATE_EXECUTABLE VIPCTL_EXECUTABLE")
        sys.exit(2)
    if subprocess.run(["sh", "-c", "command -v radvd"], capture_output=True).returncode != 0:
        print("SKIP: radvd is not installed (tools/setup.sh installs it)")
        sys.exit(77)
    socket_path = f"/tmp/vipgate-realhost-ipv6-ra-{os.getpid()}.sock"

    def prepare(t):
        t.gateway.arguments = ["--api-socket", socket_path, "--metrics-address", ""]
        t.gateway.port_options = {
            "p0": {"addresses": [f"{topology.GW_CLIENT_IP}/24", f"{GW_CLIENT6}/64"],
                   "accept_router_advertisements": True},
            "p1": {"addresses": [f"{topology.GW_SERVER_IP}/24", f"{GW_SERVER6}/64"]},
        }
        t.gateway.tables = {
            "snat": {"addresses": [topology.GW_SERVER_IP, GW_SERVER6]},
            "pods": [{"name": "b1", "pod_ips": [t.lab.backends["b1"], BACKEND6], "labels": {"app": "web6"},
                      "ports": [{"name": "http", "protocol": "TCP", "port": servers.HTTP_PORT}]}],
        }
        t.services.append({"name": "web6", "cluster_ip": VIP6, "selector": {"app": "web6"},
                           "ports": [{"name": "http", "protocol": "TCP", "port": 80, "target_port": "http"}]})

    def body(t):
        ns = t.lab.ns
        enable_ipv6(t, "c1", CLIENT6, via=GW_CLIENT6)
        ns.run("c1", "ip", "-6", "addr", "add", f"{REMOTE6}/128", "dev", "lo")
        ns.run("c1", "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")  # radvd advertises a router
        enable_ipv6(t, "b1", BACKEND6)
        start_nginx6(t, "b1")
        r.check(curl_from_remote(t) == "", "an answer from an address vipgate has no route to, before any RA")
        r.check(learnt_routes(socket_path) == [], "a learnt route before radvd runs")

        # radvd needs the link-local address out of duplicate address detection.
        link_local = wait_for("c1's link-local address", lambda: next(
            (line.split()[1].split("/")[0] for line in
             ns.run("c1", "ip", "-6", "addr", "show", "dev", "eth0", "scope", "link", capture=True).splitlines()
             if line.strip().startswith("inet6") and "tentative" not in line), None))
        conf = os.path.join(t.gateway.workdir, "radvd.conf")
        with open(conf, "w") as f:
            f.write(RADVD_CONF.format())
        radvd = ns.spawn("c1", ["radvd", "-n", "-C", conf, "-p", os.path.join(t.gateway.workdir, "radvd.pid"),
                                "-m", "stderr"], log_path=os.path.join(t.gateway.workdir, "radvd.log"))
        routes = wait_for("the RA's default route in `vipctl get routes`",
                          lambda: [route for route in learnt_routes(socket_path) if route["installed"]])
        r.check(routes[0]["via"] == link_local and routes[0]["preference"] == "high" and routes[0]["port"] == "p0",
                f"learnt route {routes[0]}, expected via {link_local} (c1's link-local), preference high")
        r.log(f"vipctl get routes: {routes[0]}")

        answers = [curl_from_remote(t) for _ in range(5)]
        r.log(f"curl -6 --interface {REMOTE6} http://[{VIP6}]/: {answers}")
        r.check(all(answer.startswith("b1") for answer in answers), f"not every curl answered by b1: {answers}")

        radvd.terminate()  # radvd's last advertisement has router lifetime 0
        radvd.wait(timeout=10)
        wait_for("the route withdrawn", lambda: learnt_routes(socket_path) == [])
        counts = vipctl(socket_path, "get", "stats")["neighbors"]["router_advertisements"]
        r.log(f"router advertisements: {counts}")
        r.check(counts["accepted"] >= 2 and counts["withdrawn"] == 1 and counts["refused"] == 0,
                f"unexpected counts {counts}")
        r.check(curl_from_remote(t) == "", "an answer after the route was withdrawn")
        t.gateway.stop()

    os.environ.setdefault("VIPGATE_LAB_PMD", "af_packet")
    try:
        r.run_test("ipv6_ra", body, backends=1, prepare=prepare)
    finally:
        if os.path.exists(socket_path):
            os.unlink(socket_path)


if __name__ == "__main__":
    main()
