#!/usr/bin/python3
"""Client source ranges ([cluster] client_ranges) through vipgate (full-NAT), with two real clients
on the client net: c1 198.18.1.10 inside the allowed 198.18.1.0/25, c2 198.18.1.200 outside it.

  1. c1 gets HTTP answers, UDP answers and ping replies from the ClusterIPs;
  2. c2 gets nothing from them, silently: curl times out (exit 28, no refusal), UDP times out (no
     ICMP port unreachable), ping gets no reply and no error; c2 still reaches the gateway's own
     address (the lab is fine, only the ClusterIPs are closed to it); vipgate's stats lines say
     its drops are mostly source_not_allowed;
  3. a SIGHUP reload widens the ranges to 198.18.1.0/24: c2 now gets HTTP (every backend), UDP
     and ping answers;
  4. c2 holds keep-alive connections while a reload narrows the ranges back to /25: the held
     connections continue on their backends, new connections and pings from c2 are dropped again,
     c1 is still served;
  5. vipgate's final counters (SIGTERM) hold at least one source_not_allowed drop per packet c2
     sent to a ClusterIP while outside the ranges.
"""
import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import realhost_harness as r  # noqa: E402
from lab import services as s, topology  # noqa: E402
from vipgate_harness import parse_final_counters  # noqa: E402  (on sys.path through the lab)

INSIDE, OUTSIDE = "198.18.1.10", "198.18.1.200"
ALLOWED, WIDE = "198.18.1.0/25", "198.18.1.0/24"
HELD = 4


def prepare(t):
    t.gateway.cluster = {"client_ranges": [ALLOWED]}


def set_ranges(t, ranges):
    t.gateway.cluster["client_ranges"] = ranges
    t.reload()
    r.log(f"reloaded (SIGHUP): client_ranges = {ranges}")


def ping(t, client, target, count=3):
    """(replies, output); -W 1: one second for each reply."""
    out = t.lab.ns.run(client, "ping", "-n", "-c", count, "-i", "0.2", "-W", "1", target, check=False, capture=True)
    replies = sum(1 for line in out.splitlines() if " bytes from " in line)
    return replies, out


def curl(t, client, url, max_time=1):
    started = time.monotonic()
    rc = t.lab.ns.run(client, "curl", "-sS", "-o", "/dev/null", "-m", max_time, url, check=False)
    return rc, time.monotonic() - started


def expect_served(t, client, step):
    answers = t.client("connections", s.WEB_VIP, 80, 40, client=client)
    counts = r.spread(answers)
    r.check(set(counts) == set(t.lab.backends), f"{step}: {client}'s 40 HTTP connections reached {dict(counts)}, "
                                                f"expected all of {sorted(t.lab.backends)}")
    udp = t.client("udp", s.ECHO_VIP, 53, 8, client=client)
    r.check(not any(a.startswith("error") for a in udp), f"{step}: {client}'s UDP requests: {udp}")
    for target in [s.WEB_VIP, s.ECHO_VIP]:
        replies, out = ping(t, client, target, 2)
        r.check(replies == 2, f"{step}: {client} ping {target}: {out.strip().splitlines()[-2:]}")
    r.log(f"{step}: {client} served: HTTP {dict(sorted(counts.items()))}, {len(udp)} UDP answers, "
          f"ping to two ClusterIPs answered")


def expect_dropped(t, client, step, udp=True):
    """Every way in from `client` is dropped silently; returns how many packets it sent to ClusterIPs
    at least (a timed-out curl sent one SYN at least, each UDP request and echo request one)."""
    sent = 0
    for url in [f"http://{s.WEB_VIP}/", f"http://{s.OTHER_VIP}/"]:
        rc, elapsed = curl(t, client, url)
        r.check(rc == 28 and elapsed >= 0.9, f"{step}: {client} {url}: curl exit {rc} after {elapsed:.2f} s, "
                                             f"expected 28 (timed out: dropped, not refused)")
        sent += 1
    if udp:
        answers = t.client("udp", s.ECHO_VIP, 53, 2, client=client)
        r.check(answers == ["error:timeout"] * 2, f"{step}: {client}'s UDP requests: {answers}, expected no answer "
                                                  f"(error:timeout), not even ICMP")
        sent += 2
    replies, out = ping(t, client, s.WEB_VIP, 3)
    r.check(replies == 0 and "100% packet loss" in out and "nreachable" not in out,
            f"{step}: {client} ping {s.WEB_VIP}: {out.strip().splitlines()[-2:]}, expected no reply and no error")
    sent += 3
    r.log(f"{step}: {client} gets nothing from the ClusterIPs (curl times out, no UDP answer, no ping reply)")
    return sent


def body(t):
    r.check(t.lab.clients == {"c1": INSIDE, "c2": OUTSIDE}, f"clients: {t.lab.clients}")
    denied = 0

    # 1, 2: the configured ranges.
    expect_served(t, "c1", f"ranges {ALLOWED}")
    replies, out = ping(t, "c2", topology.GW_CLIENT_IP, 2)
    r.check(replies == 2, f"c2 ping of the gateway {topology.GW_CLIENT_IP}: {out.strip().splitlines()[-2:]}")
    offset = len(t.gateway.log_text())
    denied += expect_dropped(t, "c2", f"ranges {ALLOWED}")
    t.gateway.wait_for(r"drops \S+/s \(mostly source_not_allowed\)", timeout=5, after=offset)
    r.log("vipgate's stats line: drops mostly source_not_allowed")

    # 3: widened.
    set_ranges(t, [WIDE])
    expect_served(t, "c2", f"ranges {WIDE}")
    expect_served(t, "c1", f"ranges {WIDE}")

    # 4: narrowed again while c2 holds connections.
    hold = t.hold(s.WEB_VIP, 80, HELD, client="c2")
    first = hold.first
    r.check(not any(a.startswith("error") for a in first), f"c2's held connections: {first}")
    set_ranges(t, [ALLOWED])
    for _ in range(3):
        now = hold.probe()
        r.check(now == first, f"c2's held connections after narrowing: {now}, expected {first}")
    r.log(f"ranges {ALLOWED} again: c2's {HELD} held connections continue on {dict(sorted(r.spread(first).items()))}")
    denied += expect_dropped(t, "c2", f"ranges {ALLOWED} again", udp=False)
    now = hold.probe()
    r.check(now == first, f"c2's held connections after the dropped attempts: {now}, expected {first}")
    expect_served(t, "c1", f"ranges {ALLOWED} again")

    # 5: the final counters.
    text = t.gateway.stop()
    r.check("final counters:" in text, "vipgate printed no final counters at SIGTERM")
    counters = parse_final_counters(text)
    dropped = counters.get("drop.source_not_allowed", 0)
    r.log(f"final counters: drop.source_not_allowed {dropped} (c2 sent at least {denied} packets while outside)")
    r.check(dropped >= denied, f"drop.source_not_allowed = {dropped}, expected at least {denied}; "
                               f"counters: {counters}")


r.run_test("source_ranges", body, prepare=prepare, clients=[INSIDE, OUTSIDE])
