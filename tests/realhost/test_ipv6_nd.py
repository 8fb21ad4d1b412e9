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

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import realhost_harness as r  # noqa: E402
import ipv6_lab  # noqa: E402
from ipv6_lab import GW_CLIENT6, GW_SERVER6  # noqa: E402

VIPCTL = sys.argv[2] if len(sys.argv) > 2 else None
VIP6 = "2001:db8:100::70"
BACKENDS6 = {"b1": "2001:db8:2::11", "b2": "2001:db8:2::12"}
REQUESTS = 20


def main():
    def body(t, stats):
        ipv6_lab.start(t, BACKENDS6)
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
    r.run_test_with_api("ipv6_nd", body, VIPCTL, prepare=lambda t: ipv6_lab.prepare(t, VIP6, BACKENDS6), backends=2)


if __name__ == "__main__":
    main()
