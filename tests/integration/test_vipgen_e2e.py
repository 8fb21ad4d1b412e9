#!/usr/bin/python3
"""vipgen against the real vipgate over net_memif (two processes, shared memory).

For each NAT mode vipgate runs as the memif server with two services (TCP web with four
endpoints, one of weight 2; UDP dns with two) and no static neighbors: vipgen announces the
endpoints and the clients' router by ARP, opens its flows, then sends at a low rate for a few
seconds while checking every forwarded packet and every reply. Asserted: vipgen exits 0, no
loss, nothing misdirected, malformed, moved or wrongly translated, every flow opened, every
endpoint used, and the weight-2 endpoint gets about twice the share of its peers.
Full-NAT runs the established pattern; DNAT-only runs connections that open, carry data and
close (SYN, data, FIN), so conntrack's whole TCP life cycle is exercised.
"""
import json
import os
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vipgate_harness as h  # noqa: E402

ENDPOINTS_WEB = ["198.18.0.11", "198.18.0.12", "198.18.0.13", "198.18.0.14"]
ENDPOINTS_DNS = ["198.18.0.21", "198.18.0.22"]
ERROR_FIELDS = ["malformed", "unexpected", "resets", "icmp", "misdirected", "wrong_source", "ttl_errors", "moved",
                "wrong_reply"]


def gateway_config(context, nat_mode, socket_path):
    return {
        "eal": {"args": ["--no-huge", "-m", "512", "--no-pci", "--no-telemetry", "--lcores", "0@1,1@1",
                         "--file-prefix", context.file_prefix(f"-gw-{nat_mode}")]},
        "dataplane": {"worker_lcores": [1], "nat_mode": nat_mode},
        "conntrack": {"capacity": 65536},
        "snat": {"addresses": [h.SNAT_IP]},
        "ports": [{"name": "p0", "device": f"net_memif0,role=server,socket={socket_path},rsize=12", "mac": h.GATEWAY_MAC,
                   "addresses": [f"{h.GATEWAY_IP}/24", f"{h.SNAT_IP}/24"]}],
        "routes": [{"prefix": h.CLIENT_NET, "via": h.ROUTER_IP}],
        "services": [
            {"name": "web", "cluster_ip": "198.18.100.10", "ports": [{"port": 80, "target_port": 8080}],
             "endpoints": [{"address": a, "weight": 2 if i == 3 else 1} for i, a in enumerate(ENDPOINTS_WEB)]},
            {"name": "dns", "cluster_ip": "198.18.100.53",
             "ports": [{"port": 53, "protocol": "UDP", "target_port": 5353}],
             "endpoints": [{"address": a} for a in ENDPOINTS_DNS]},
        ],
    }


def run_vipgen(context, vipgen, config_path, socket_path, pattern, flows):
    command = [vipgen, "--eal", f"--no-huge -m 512 --no-pci --no-telemetry --lcores 0@0,1@0 "
                                f"--file-prefix {context.file_prefix('-gen-' + pattern)}",
               "--port", f"net_memif0,role=client,socket={socket_path},rsize=12", "--config", config_path,
               "--pattern", pattern, "--flows", str(flows), "--rate", "50000", "--duration", "3", "--json"]
    h.log("running " + " ".join(command))
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=90)
    print(result.stderr[-3000:])
    h.check(result.stdout.strip(), f"vipgen printed no JSON (exit {result.returncode})")
    return result.returncode, json.loads(result.stdout)


def check_run(report, status, pattern, flows):
    # The rate is low so that a descheduled process cannot overflow a ring; the count only proves
    # that traffic flowed (a shared CI machine may not reach the full rate).
    h.check(report["tx_packets"] > 30000, f"{pattern}: only {report['tx_packets']} packets sent")
    h.check(report["lost"] == 0, f"{pattern}: {report['lost']} packets lost")
    errors = {field: report[field] for field in ERROR_FIELDS if report[field]}
    errors.update({f"warmup {k}": v for k, v in report["warmup_check_failures"].items() if v})
    h.check(not errors, f"{pattern}: check failures {errors}")
    if pattern == "established":
        h.check(report["flows_opened"] == flows, f"{pattern}: {report['flows_opened']} of {flows} flows opened")
    h.check(status == 0, f"{pattern}: vipgen exited {status}")
    shares = {e["address"]: e["share"] for e in report["endpoints"]}
    h.check(set(shares) == set(ENDPOINTS_WEB + ENDPOINTS_DNS), f"{pattern}: endpoints {sorted(shares)}")
    unused = [a for a, share in shares.items() if share == 0]
    h.check(not unused, f"{pattern}: endpoints without traffic: {unused}")
    web = [shares[a] for a in ENDPOINTS_WEB]
    ratio = web[3] / (sum(web[:3]) / 3)
    h.check(1.5 < ratio < 2.6, f"{pattern}: the weight-2 endpoint got {ratio:.2f}x its peers' share ({web})")
    h.check(report["latency_ns"]["samples"] == report["rx_packets"], f"{pattern}: latency samples != replies")


def body(context):
    if len(sys.argv) < 3:
        raise h.TestFailure("usage: test_vipgen_e2e.py VIPGATE VIPGEN")
    vipgen = sys.argv[2]
    for nat_mode, pattern, flows in (("fullnat", "established", 4000), ("dnat", "lifecycle", 2000)):
        socket_path = context.path(f"memif-{nat_mode}.sock")
        config_path = h.write_config(context.path(f"{nat_mode}.toml"), gateway_config(context, nat_mode, socket_path))
        daemon = context.daemon(config_path, name=f"vipgate-{nat_mode}")
        daemon.wait_running()
        status, report = run_vipgen(context, vipgen, config_path, socket_path, pattern, flows)
        check_run(report, status, pattern, flows)
        h.log(f"{nat_mode}/{pattern}: {report['tx_packets']} packets, {report['rx_packets']} replies, "
              f"p99 {report['latency_ns']['p99']} ns")
        daemon.stop()


h.run_test("vipgen_e2e", body)
