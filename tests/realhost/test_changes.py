#!/usr/bin/python3
"""Long-lived keep-alive connections through vipgate (full-NAT) across configuration changes.

32 connections to the web ClusterIP stay open while the test reloads vipgate (SIGHUP) with:
  1. the same file;                        every connection continues on its backend
  2. an unrelated service changed;         same
  3. a fifth backend added to web;         same; new connections reach the new backend
  4. one backend drained (weight = 0);     same, its connections included; no new connection to it
  5. another backend removed;              its connections are reset (the client's next request
                                           gets a RST), all others continue on their backends
"""
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import realhost_harness as r  # noqa: E402
from lab import services as s  # noqa: E402

HELD = 32


def prepare(t):
    t.service("web")["endpoints"] = s.endpoints(t.lab, ["b1", "b2", "b3", "b4"])


def expect_unchanged(hold, before, step):
    now = hold.probe()
    moved = [(b, a) for b, a in zip(before, now) if b != a]
    r.check(not moved, f"after {step}: {len(moved)} of {HELD} connections changed: {moved[:5]}")
    r.log(f"after {step}: all {HELD} connections answered by the same backends")


def new_connections(t, count=60):
    return r.spread(t.client("connections", s.WEB_VIP, 80, count))


def body(t):
    hold = t.hold(s.WEB_VIP, 80, HELD)
    first = hold.first
    held = r.spread(first)
    r.log(f"{HELD} held connections: {dict(sorted(held.items()))}")
    r.check(not any(b.startswith("error") for b in held), f"held connections failed: {dict(held)}")
    r.check(len(held) >= 3, f"held connections reach only {sorted(held)}")

    t.reload()
    expect_unchanged(hold, first, "a reload of the same file")

    other = t.service("other")
    other["endpoints"] = s.endpoints(t.lab, ["b3", "b4", "b5"])
    other["ports"].append({"name": "alt", "protocol": "TCP", "port": 8080})
    t.reload()
    expect_unchanged(hold, first, "a change of an unrelated service")

    web = t.service("web")
    web["endpoints"].append(s.endpoints(t.lab, ["b5"])[0])
    t.reload()
    expect_unchanged(hold, first, "adding backend b5 to web")
    spread = new_connections(t)
    r.check("b5" in spread, f"new connections after adding b5: {dict(spread)}")
    r.log(f"new connections after adding b5: {dict(sorted(spread.items()))}")

    # Drain and remove backends that hold connections.
    drained, removed = sorted(held, key=lambda b: (-held[b], b))[:2]
    for endpoint in web["endpoints"]:
        if endpoint["address"] == t.lab.backends[drained]:
            endpoint["weight"] = 0
    t.reload()
    expect_unchanged(hold, first, f"draining {drained} (weight 0)")
    spread = new_connections(t)
    r.check(drained not in spread and len(spread) == 4, f"new connections with {drained} drained: {dict(spread)}")
    r.log(f"new connections with {drained} drained: {dict(sorted(spread.items()))}")

    web["endpoints"] = [e for e in web["endpoints"] if e["address"] != t.lab.backends[removed]]
    t.reload()
    now = hold.probe()
    for index, (before, after) in enumerate(zip(first, now)):
        if r.backend_of(before) == removed:
            r.check(after == "error:reset", f"connection {index} on removed {removed}: {after}, expected a reset")
        else:
            r.check(after == before, f"connection {index} on {before}: {after} after removing {removed}")
    r.log(f"removing {removed}: its {held[removed]} connections reset, the other {HELD - held[removed]} continue")
    spread = new_connections(t)
    r.check(removed not in spread and drained not in spread, f"new connections after removing {removed}: "
                                                             f"{dict(spread)}")


r.run_test("changes", body, backends=5, prepare=prepare)
