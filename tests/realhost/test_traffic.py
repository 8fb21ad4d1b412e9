#!/usr/bin/python3
"""Real kernels through vipgate, in the NAT mode given as the second argument (fullnat or dnat):

  * HTTP through a ClusterIP reaches every backend, spread roughly evenly; the backend sees the
    gateway's SNAT address (full-NAT) or the client's own address (DNAT-only);
  * a keep-alive connection stays on one backend for all its requests;
  * UDP request/response through a ClusterIP (socat echo on the backends);
  * ping to a ClusterIP is answered;
  * a service without endpoints refuses at once: TCP connection refused (RST), UDP ICMP port
    unreachable; so does a port the ClusterIP does not serve;
  * an address in the ClusterIP range that is no VIP is dropped (no answer), as vipgate routes
    nothing but its VIPs and its own addresses.
"""
import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import realhost_harness as r  # noqa: E402
from lab import services as s, topology  # noqa: E402

NAT_MODE = sys.argv[2] if len(sys.argv) > 2 else "fullnat"


def http_spread(t):
    answers = t.client("connections", s.WEB_VIP, 80, 120)
    counts = r.spread(answers)
    r.log(f"120 connections: {dict(sorted(counts.items()))}")
    r.check(set(counts) == set(t.lab.backends), f"backends reached: {dict(counts)}, expected all of "
                                                f"{sorted(t.lab.backends)}")
    r.check(all(12 <= n <= 50 for n in counts.values()), f"uneven spread over 4 backends: {dict(counts)}")
    sources = {a.split()[1] for a in answers}
    expected = topology.GW_SERVER_IP if NAT_MODE == "fullnat" else t.lab.clients["c1"]
    r.check(sources == {expected}, f"{NAT_MODE}: the backends saw the client as {sources}, expected {expected}")


def keepalive(t):
    seen = set()
    for index in range(4):
        answers = t.client("keepalive", s.WEB_VIP, 80, 25)
        r.check(len(answers) == 25 and not any(a.startswith("error") for a in answers),
                f"keep-alive connection {index}: {answers}")
        r.check(len(set(answers)) == 1, f"keep-alive connection {index} moved between backends: {r.spread(answers)}")
        seen.add(answers[0])
    r.log(f"4 keep-alive connections x 25 requests, each on one backend: {sorted(seen)}")


def udp(t):
    answers = t.client("udp", s.ECHO_VIP, 53, 40)
    counts = r.spread(answers)
    r.log(f"40 UDP requests (new source port each): {dict(sorted(counts.items()))}")
    r.check(set(counts) == set(t.lab.backends), f"UDP answers: {dict(counts)}")


def ping(t):
    for target in [s.WEB_VIP, s.EMPTY_VIP, topology.GW_CLIENT_IP]:
        out = t.lab.ns.run("c1", "ping", "-c", "2", "-i", "0.2", "-W", "1", target, check=False, capture=True)
        r.check(" 0% packet loss" in out, f"ping {target}: {out.strip().splitlines()[-2:]}")
    r.log("ping answered by two ClusterIPs and the gateway")


def curl(t, url, max_time):
    started = time.monotonic()
    rc = t.lab.ns.run("c1", "curl", "-sS", "-o", "/dev/null", "-m", max_time, url, check=False)
    return rc, time.monotonic() - started


def refusals(t):
    # curl exit 7: could not connect (refused); 28: timed out.
    for url in [f"http://{s.EMPTY_VIP}/", f"http://{s.WEB_VIP}:81/"]:
        rc, elapsed = curl(t, url, 5)
        r.check(rc == 7 and elapsed < 1.0, f"{url}: curl exit {rc} after {elapsed:.2f} s, expected 7 "
                                           f"(connection refused) at once")
    for host, port in [(s.EMPTY_VIP, 53), (s.ECHO_VIP, 54)]:
        started = time.monotonic()
        answer = t.client("udp", host, port, 1)
        r.check(answer == ["error:refused"] and time.monotonic() - started < 1.5,
                f"UDP {host}:{port}: {answer}, expected ICMP port unreachable (error:refused)")
    r.log("no endpoints / unserved port: TCP refused, UDP port unreachable, at once")
    rc, _ = curl(t, "http://198.18.100.99/", 1)
    r.check(rc == 28, f"a non-VIP address in the ClusterIP range: curl exit {rc}, expected 28 (dropped)")


def body(t):
    http_spread(t)
    keepalive(t)
    udp(t)
    ping(t)
    refusals(t)


r.run_test(f"traffic_{NAT_MODE}", body, nat_mode=NAT_MODE)
