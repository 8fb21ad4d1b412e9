#!/usr/bin/python3
"""IPv6 Neighbor Discovery through vipgate with real kernels (docs/ipv6.md, step 5):

  * the ports get IPv6 addresses (2001:db8:1::1 client side, 2001:db8:2::1 server side) and NO
    static IPv6 neighbor is configured: the client's kernel resolves the gateway with a
    solicitation vipgate answers, vipgate resolves the client and the nginx backends with its
    own solicitations, and `curl -6` through an IPv6 ClusterIP gets its answer from a backend
    that sees the SNAT6 address (full-NAT);
  * the client's neighbor cache holds the gateway's real MAC, learnt from vipgate's advertisement;
  * `vipctl get stats`: punted grew, nd_invalid did not; the final report's `nd:` line counts the
    solicitations sent, advertisements sent and the neighbors learnt (client and backends).
ping -6 of the gateway's own address is left out: ICMPv6 echo is another step (docs/ipv6.md).
"""
import os
import re
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import realhost_harness as r  # noqa: E402
from lab import servers, topology  # noqa: E402

VIPCTL = sys.argv[2] if len(sys.argv) > 2 else None
VIP6 = "2001:db8:100::70"
GW_CLIENT6, GW_SERVER6 = "2001:db8:1::1", "2001:db8:2::1"
CLIENT6 = "2001:db8:1::10"
BACKENDS6 = {"b1": "2001:db8:2::11", "b2": "2001:db8:2::12"}
REQUESTS = 20


def enable_ipv6(t, role, address, via=None):
    ns = t.lab.ns
    ns.run(role, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=0", "net.ipv6.conf.default.disable_ipv6=0",
           "net.ipv6.conf.eth0.disable_ipv6=0", "net.ipv6.conf.eth0.accept_ra=0")
    ns.run(role, "ip", "-6", "addr", "add", f"{address}/64", "dev", "eth0", "nodad")
    if via:
        ns.run(role, "ip", "-6", "route", "add", "2001:db8:100::/64", "via", via, "dev", "eth0")


def start_nginx6(t, name):
    """A second nginx on the backend, IPv6 only (the lab's own listens on IPv4)."""
    directory = os.path.join(t.gateway.workdir, f"{name}-v6")
    os.makedirs(directory, exist_ok=True)
    conf = os.path.join(directory, "nginx.conf")
    with open(conf, "w") as f:
        f.write(servers.NGINX_CONF.format(dir=directory, port=f"[::]:{servers.HTTP_PORT} ipv6only=on", name=name))
    t.lab.ns.spawn(name, ["nginx", "-e", os.path.join(directory, "error.log"), "-p", directory, "-c", conf],
                   log_path=os.path.join(directory, "nginx.out"))
    deadline = time.monotonic() + 10
    while f"[::]:{servers.HTTP_PORT} " not in t.lab.ns.run(name, "ss", "-Hltn6", capture=True):
        r.check(time.monotonic() < deadline, f"nginx on {name} does not listen on [::]:{servers.HTTP_PORT}")
        time.sleep(0.05)


def main():
    def prepare(t):
        t.gateway.port_options = {
            "p0": {"addresses": [f"{topology.GW_CLIENT_IP}/24", f"{GW_CLIENT6}/64"]},
            "p1": {"addresses": [f"{topology.GW_SERVER_IP}/24", f"{GW_SERVER6}/64"]},
        }
        t.gateway.tables = {
            "snat": {"addresses": [topology.GW_SERVER_IP, GW_SERVER6]},
            "pods": [{"name": name, "pod_ips": [t.lab.backends[name], address], "labels": {"app": "web6"},
                      "ports": [{"name": "http", "protocol": "TCP", "port": servers.HTTP_PORT}]}
                     for name, address in BACKENDS6.items()],
        }
        t.services.append({"name": "web6", "cluster_ip": VIP6, "selector": {"app": "web6"},
                           "ports": [{"name": "http", "protocol": "TCP", "port": 80, "target_port": "http"}]})

    def body(t, stats):
        enable_ipv6(t, "c1", CLIENT6, via=GW_CLIENT6)
        for name, address in BACKENDS6.items():
            enable_ipv6(t, name, address)
            start_nginx6(t, name)
        before = stats()

        answers = []
        for _ in range(REQUESTS):
            out = t.lab.ns.run("c1", "curl", "-6", "-g", "-s", "-m", "5", f"http://[{VIP6}]/", check=False,
                               capture=True)
            answers.append(out.strip())
        reached = r.spread(a for a in answers if a)
        r.log(f"{REQUESTS} x curl -6 http://[{VIP6}]/: {dict(sorted(reached.items()))}")
        r.check(sum(reached.values()) == REQUESTS, f"curl -6 failed: {answers}")
        r.check(set(reached) <= set(BACKENDS6), f"answers from unexpected backends: {answers}")
        sources = {a.split()[1] for a in answers}
        r.check(sources == {GW_SERVER6}, f"the backends saw the client as {sources}, expected {GW_SERVER6}")

        p0_mac = t.lab.ns.run("gw", "cat", "/sys/class/net/p0/address", capture=True).strip()
        neighbor = t.lab.ns.run("c1", "ip", "-6", "neigh", "show", GW_CLIENT6, capture=True)
        r.check(p0_mac in neighbor, f"the client's neighbor entry for {GW_CLIENT6} is {neighbor!r}, not {p0_mac}")
        r.log(f"the client learnt {GW_CLIENT6} at {p0_mac} from vipgate's advertisement")

        after = stats()
        punted = after["counters"]["punted"] - before["counters"].get("punted", 0)
        invalid = after["drops"].get("nd_invalid", 0)
        r.log(f"vipctl get stats: punted +{punted}, nd_invalid {invalid}, nd_ignored "
              f"{after['drops'].get('nd_ignored', 0)}")
        r.check(punted > 0, "nothing was punted to the control thread (solicitations, held packets)")
        r.check(invalid == 0, f"valid kernel ND counted as nd_invalid: {invalid}")

        log = t.gateway.stop()
        line = next((row.strip() for row in log.splitlines() if " nd: " in row), None)
        r.check(line is not None, "the final report has no nd line")
        match = re.search(r"nd: (\d+) solicitations sent, (\d+) advertisements sent, (\d+) neighbors learnt", line)
        r.check(match is not None, f"unexpected nd line: {line}")
        solicitations, advertisements, learnt = (int(group) for group in match.groups())
        r.log(line)
        r.check(advertisements >= 1, "vipgate advertised nothing: the client resolved the gateway otherwise?")
        r.check(solicitations >= 2 and learnt >= 2,
                f"vipgate should have solicited and learnt the client and at least one backend: {line}")

    os.environ.setdefault("VIPGATE_LAB_PMD", "af_packet")
    r.run_test_with_api("ipv6_nd", body, VIPCTL, prepare=prepare, backends=2)


if __name__ == "__main__":
    main()
