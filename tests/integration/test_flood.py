#!/usr/bin/python3
"""A spoofed SYN flood against a small connection table (dataplane/half_open_admission.h).

vipgate (full-NAT, one worker, 4,096 connections) runs as the memif server; vipgen's flood
pattern opens 1,000 established flows, then sends at a fixed rate: 89 % spoofed SYNs (sources
scattered over 198.19.0.0/16, never completed), 1 % legitimate connections (the client ACKs
the SYN-ACK with data and the endpoint answers it) and 10 % packets of the established flows,
every one of them checked. The flood replaces the table's half-open entries about 90 times.

Phase 1, half_open_min_idle_ms = 0 (oldest half-open evicted first): every established packet
answered, at least 90 % of legitimate connections complete (each has W = 3,096 / 44,500 s =
70 ms to finish its handshake), nothing dropped as conntrack_full; read from vipgen's report
and `vipctl get stats`.
Phase 2, reloaded (SIGHUP) with half_open_min_idle_ms = 1000, new tuples (another seed): the
head is protected, so most new connections are refused as half_open_protected; established
flows still lose nothing, and legitimate connections succeed only at the admission rate of
about one table of half-open entries per second (fewer than in phase 1).
"""
import json
import os
import signal
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vipgate_harness as h  # noqa: E402

ENDPOINTS = ["198.18.0.11", "198.18.0.12", "198.18.0.13", "198.18.0.14"]
CAPACITY = 4096
ESTABLISHED = 1000
RATE = 50_000         # low enough that a descheduled process on a shared machine overflows no ring
WARMUP_RATE = 20_000  # opening the established flows: every handshake's ACK must get out
DURATION_S = 4
SPOOFED_SHARE = 0.9   # of the packets that are not legitimate SYNs
LEGIT_SHARE = 0.01
MIN_LEGIT_SUCCESS = 0.9


def gateway_config(context, socket_path, min_idle_ms):
    return {
        "eal": {"args": ["--no-huge", "-m", "512", "--no-pci", "--no-telemetry", "--lcores", "0@1,1@1",
                         "--file-prefix", context.file_prefix("-gw")]},
        "dataplane": {"worker_lcores": [1], "nat_mode": "fullnat"},
        "conntrack": {"capacity": CAPACITY, "half_open_min_idle_ms": min_idle_ms},
        "snat": {"addresses": [h.SNAT_IP]},
        "ports": [{"name": "p0", "device": f"net_memif0,role=server,socket={socket_path},rsize=12",
                   "mac": h.GATEWAY_MAC, "addresses": [f"{h.GATEWAY_IP}/24", f"{h.SNAT_IP}/24"]}],
        "routes": [{"prefix": h.CLIENT_NET, "via": h.ROUTER_IP}],
        "services": [{"name": "web", "cluster_ip": "198.18.100.10", "ports": [{"port": 80, "target_port": 8080}],
                      "endpoints": [{"address": a} for a in ENDPOINTS]}],
    }


def run_flood(context, vipgen, config_path, socket_path, phase, seed):
    command = [vipgen, "--eal", f"--no-huge -m 512 --no-pci --no-telemetry --lcores 0@0,1@0 "
                                f"--file-prefix {context.file_prefix('-gen' + phase)}",
               "--port", f"net_memif0,role=client,socket={socket_path},rsize=12", "--config", config_path,
               "--pattern", "flood", "--flows", str(ESTABLISHED), "--new-share", str(SPOOFED_SHARE),
               "--legit-share", str(LEGIT_SHARE), "--protocol", "tcp", "--rate", str(RATE),
               "--warmup-rate", str(WARMUP_RATE), "--seed", str(seed),
               "--duration", str(DURATION_S), "--json"]
    h.log("running " + " ".join(command))
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=90)
    print(result.stderr[-3000:])
    h.check(result.stdout.strip(), f"vipgen printed no JSON (exit {result.returncode})")
    report = json.loads(result.stdout)
    flood = report["flood"]
    h.log(f"{phase}: {json.dumps(flood)}")
    h.check(report["flows_opened"] == ESTABLISHED, f"{phase}: {report['flows_opened']} of {ESTABLISHED} flows opened")
    h.check(flood["established_sent"] > 0.08 * report["tx_packets"] and report["tx_packets"] > 0.3 * RATE * DURATION_S,
            f"{phase}: {flood['established_sent']} established packets of {report['tx_packets']} sent")
    h.check(flood["established_lost"] == 0, f"{phase}: established flows lost {flood['established_lost']} packets")
    errors = {f: report[f] for f in ("malformed", "misdirected", "wrong_source", "ttl_errors", "moved", "wrong_reply")
              if report[f]}
    h.check(not errors, f"{phase}: check failures {errors}")
    h.check(result.returncode == 0, f"{phase}: vipgen exited {result.returncode}")
    return flood


def stats(vipctl):
    document = vipctl.json("get", "stats")
    return document["counters"], document["drops"]


def body(context):
    if len(sys.argv) < 4:
        raise h.TestFailure("usage: test_flood.py VIPGATE VIPGEN VIPCTL")
    vipgen, vipctl_exe = sys.argv[2], sys.argv[3]
    socket_path = context.path("memif.sock")
    api_socket = context.path("api.sock")
    config_path = h.write_config(context.path("gw.toml"), gateway_config(context, socket_path, 0))
    daemon = context.daemon(config_path, args=["--api-socket", api_socket, "--metrics-address", ""])
    daemon.wait_running()
    vipctl = h.Vipctl(vipctl_exe, api_socket)

    first = run_flood(context, vipgen, config_path, socket_path, "oldest-first", 1)
    counters, drops = stats(vipctl)
    success = first["legit_completed"] / max(1, first["legit_sent"])
    h.check(success >= MIN_LEGIT_SUCCESS,
            f"oldest-first: {success:.3f} of legitimate connections completed (goal >= {MIN_LEGIT_SUCCESS})")
    h.check(counters["conntrack_evictions"] >= first["spoofed_sent"] - CAPACITY,
            f"oldest-first: {counters['conntrack_evictions']} evictions for {first['spoofed_sent']} spoofed SYNs")
    h.check(drops["conntrack_full"] == 0 and drops["half_open_protected"] == 0,
            f"oldest-first: refused new connections {drops['conntrack_full']} / {drops['half_open_protected']}")
    h.check(counters["active_connections"] <= CAPACITY, f"{counters['active_connections']} connections tracked")

    h.write_config(config_path, gateway_config(context, socket_path, 1000))
    offset = daemon.log_offset()
    daemon.send_signal(signal.SIGHUP)
    daemon.wait_for(r"generation \d+ in use by all", timeout=20, after=offset)
    # Another seed: other tuples (the first phase's legitimate connections are still established).
    second = run_flood(context, vipgen, config_path, socket_path, "protected", 2)
    _, drops = stats(vipctl)
    h.check(drops["half_open_protected"] > first["spoofed_sent"] // 2,
            f"protected: only {drops['half_open_protected']} new connections refused as half_open_protected")
    protected_success = second["legit_completed"] / max(1, second["legit_sent"])
    h.check(protected_success < success,
            f"protected: {protected_success:.3f} of legitimate connections completed, not fewer than {success:.3f}")
    h.log(f"legitimate connections completed: {success:.3f} oldest-first, {protected_success:.3f} with 1 s protection")
    daemon.stop()


h.run_test("flood", body)
