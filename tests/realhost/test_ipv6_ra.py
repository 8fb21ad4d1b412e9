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
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import realhost_harness as r  # noqa: E402
import ipv6_lab  # noqa: E402

VIPCTL = sys.argv[2] if len(sys.argv) > 2 else None
VIP6 = "2001:db8:100::71"
REMOTE6 = "2001:db8:c0::10"  # on c1's loopback: reachable only through the learnt default route
BACKENDS6 = {"b1": "2001:db8:2::11"}
RADVD_CONF = """interface eth0 {
    AdvSendAdvert on;
    MinRtrAdvInterval 3;
    MaxRtrAdvInterval 4;
    AdvDefaultLifetime 30;
    AdvDefaultPreference high;
    prefix 2001:db8:1::/64 { AdvOnLink on; AdvAutonomous on; };
};
"""


def learnt_routes(t):
    return [route for route in t.vipctl("get", "routes")["routes"] if route["origin"] == "router-advertisement"]


def curl_from_remote(t):
    return t.lab.ns.run("c1", "curl", "-6", "-g", "-s", "-m", "3", "--interface", REMOTE6, f"http://[{VIP6}]/",
                        check=False, capture=True).strip()


def main():
    def prepare(t):
        ipv6_lab.prepare(t, VIP6, BACKENDS6, p0_options={"accept_router_advertisements": True})

    def body(t, stats):
        ns = t.lab.ns
        ipv6_lab.start(t, BACKENDS6)
        ns.run("c1", "ip", "-6", "addr", "add", f"{REMOTE6}/128", "dev", "lo")
        ns.run("c1", "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")  # radvd advertises a router
        r.check(curl_from_remote(t) == "", "an answer from an address vipgate has no route to, before any RA")
        r.check(learnt_routes(t) == [], "a learnt route before radvd runs")

        # radvd needs the link-local address out of duplicate address detection.
        link_local = r.wait_for("c1's link-local address", lambda: next(
            (line.split()[1].split("/")[0] for line in
             ns.run("c1", "ip", "-6", "addr", "show", "dev", "eth0", "scope", "link", capture=True).splitlines()
             if line.strip().startswith("inet6") and "tentative" not in line), None))
        conf = os.path.join(t.gateway.workdir, "radvd.conf")
        with open(conf, "w") as f:
            f.write(RADVD_CONF)
        radvd = ns.spawn("c1", ["radvd", "-n", "-C", conf, "-p", os.path.join(t.gateway.workdir, "radvd.pid"),
                                "-m", "stderr"], log_path=os.path.join(t.gateway.workdir, "radvd.log"))
        routes = r.wait_for("the RA's default route in `vipctl get routes`",
                            lambda: [route for route in learnt_routes(t) if route["installed"]])
        r.check(routes[0]["via"] == link_local and routes[0]["preference"] == "high" and routes[0]["port"] == "p0",
                f"learnt route {routes[0]}, expected via {link_local} (c1's link-local), preference high")
        r.log(f"vipctl get routes: {routes[0]}")

        answers = [curl_from_remote(t) for _ in range(5)]
        r.log(f"curl -6 --interface {REMOTE6} http://[{VIP6}]/: {answers}")
        r.check(all(answer.startswith("b1") for answer in answers), f"not every curl answered by b1: {answers}")

        radvd.terminate()  # radvd's last advertisement has router lifetime 0
        radvd.wait(timeout=10)
        r.wait_for("the route withdrawn", lambda: learnt_routes(t) == [])
        counts = stats()["neighbors"]["router_advertisements"]
        r.log(f"router advertisements: {counts}")
        r.check(counts["accepted"] >= 2 and counts["withdrawn"] == 1 and counts["refused"] == 0,
                f"unexpected counts {counts}")
        r.check(curl_from_remote(t) == "", "an answer after the route was withdrawn")
        t.gateway.stop()

    os.environ.setdefault("VIPGATE_LAB_PMD", "af_packet")
    r.run_test_with_api("ipv6_ra", body, VIPCTL, prepare=prepare, backends=1, programs=["radvd"])


if __name__ == "__main__":
    main()
