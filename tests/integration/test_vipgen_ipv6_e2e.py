#!/usr/bin/python3
"""vipgen's IPv6 and dual-stack traffic against the real vipgate over net_memif, both NAT modes.

vipgate (the memif server) has 198.18.0.1/24 and 2001:db8::1/64 (SNAT 198.18.0.2 and
2001:db8::2), two dual-stack services selecting pods with both addresses (web TCP 80 -> 8080,
three pods; dns UDP 53 -> 5353, two pods), and static IPv6 neighbors (vipgate has no Neighbor
Discovery yet) for vipgen's 16 IPv6 clients (2001:db8::c:0/124) and the pods' IPv6 addresses,
all with vipgen's MAC (the memif client's `mac=`). Per NAT mode two vipgen runs at a low rate:
  * --family ipv6: full-NAT the established pattern, DNAT-only lifecycle (SYN, data, FIN);
  * --family dual, established: flows alternate IPv4 / IPv6 (web v4, web v6, dns v4, dns v6).
Asserted for each: vipgen exits 0; no loss and no check failure (malformed, misdirected,
moved, wrong_source, wrong_reply, ttl_errors, unexpected, resets, icmp), warm-up included;
every flow opened; every endpoint of the family used (IPv6 pods only, or both); and vipgate's
own counters, read with `vipctl get stats -o json` before and after, agree with vipgen's:
forwarded_to_endpoint = packets vipgen's endpoints checked (warm-up + run), forwarded_to_client
= replies its clients checked, no drop, and (established) new_connections = flows, the IPv6
service ports' connections = the flows vipgen sent to IPv6 cluster IPs.
"""
import json
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vipgate_harness as h  # noqa: E402

GATEWAY6, SNAT6 = "2001:db8::1", "2001:db8::2"
VIPGEN_MAC = "02:00:00:00:06:10"
CLIENTS6 = "2001:db8::c:0/124"
CLIENT6_ADDRESSES = [f"2001:db8::c:{i:x}" for i in range(16)]
WEB_PODS = [("web-1", "198.18.0.11", "2001:db8::11"), ("web-2", "198.18.0.12", "2001:db8::12"),
            ("web-3", "198.18.0.13", "2001:db8::13")]
DNS_PODS = [("dns-1", "198.18.0.21", "2001:db8::21"), ("dns-2", "198.18.0.22", "2001:db8::22")]
ERROR_FIELDS = ["malformed", "unexpected", "resets", "icmp", "misdirected", "wrong_source", "ttl_errors", "moved",
                "wrong_reply"]
FLOWS = 2000
IPV6_PORTS = ["default/web:http/IPv6", "default/dns:dns/IPv6"]


def gateway_config(context, nat_mode, socket_path):
    pods = [{"name": name, "pod_ips": [v4, v6], "labels": {"app": "web"},
             "ports": [{"name": "http", "protocol": "TCP", "port": 8080}]} for name, v4, v6 in WEB_PODS]
    pods += [{"name": name, "pod_ips": [v4, v6], "labels": {"app": "dns"}} for name, v4, v6 in DNS_PODS]
    neighbors = [{"address": a, "mac": VIPGEN_MAC} for a in CLIENT6_ADDRESSES + [v6 for _, _, v6 in WEB_PODS + DNS_PODS]]
    return {
        "eal": {"args": ["--no-huge", "-m", "512", "--no-pci", "--no-telemetry", "--lcores", "0@1,1@1",
                         "--file-prefix", context.file_prefix(f"-gw-{nat_mode}")]},
        "dataplane": {"worker_lcores": [1], "nat_mode": nat_mode},
        "conntrack": {"capacity": 65536},
        "snat": {"addresses": [h.SNAT_IP, SNAT6]},
        "ports": [{"name": "p0", "device": f"net_memif0,role=server,socket={socket_path},rsize=12", "mac": h.GATEWAY_MAC,
                   "addresses": [f"{h.GATEWAY_IP}/24", f"{h.SNAT_IP}/24", f"{GATEWAY6}/64", f"{SNAT6}/64"]}],
        "routes": [{"prefix": h.CLIENT_NET, "via": h.ROUTER_IP}],
        "neighbors": neighbors,
        "services": [
            {"name": "web", "cluster_ips": ["198.18.100.10", "2001:db8:100::10"],
             "ip_family_policy": "RequireDualStack", "selector": {"app": "web"},
             "ports": [{"name": "http", "protocol": "TCP", "port": 80, "target_port": "http"}]},
            {"name": "dns", "cluster_ips": ["198.18.100.53", "2001:db8:100::53"],
             "ip_family_policy": "RequireDualStack", "selector": {"app": "dns"},
             "ports": [{"name": "dns", "protocol": "UDP", "port": 53, "target_port": 5353}]},
        ],
        "pods": pods,
    }


def run_vipgen(context, vipgen, config_path, socket_path, family, pattern, seed):
    tag = f"-gen-{family}-{pattern}"
    command = [vipgen, "--eal", f"--no-huge -m 512 --no-pci --no-telemetry --lcores 0@0,1@0 "
                                f"--file-prefix {context.file_prefix(tag)}",
               "--port", f"net_memif0,role=client,socket={socket_path},rsize=12,mac={VIPGEN_MAC}",
               "--config", config_path, "--family", family, "--clients6", CLIENTS6,
               "--pattern", pattern, "--flows", str(FLOWS), "--seed", str(seed),
               "--client-ports", f"{seed * 16384}-{seed * 16384 + 16383}", "--rate", "40000", "--duration", "3", "--json"]
    h.log("running " + " ".join(command))
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=90)
    print(result.stderr[-3000:])
    h.check("no [[neighbors]] entry" not in result.stderr, "vipgen warned about missing IPv6 neighbors")
    h.check(result.stdout.strip(), f"vipgen printed no JSON (exit {result.returncode})")
    return result.returncode, json.loads(result.stdout)


def settled_stats(vipctl, previous=None):
    """`vipctl get stats -o json` once two reads (a stats interval apart) agree."""
    last = None
    for _ in range(30):
        document = vipctl.json("get", "stats")
        key = (document["counters"]["forwarded_to_endpoint"], document["counters"]["forwarded_to_client"])
        if last is not None and key == last:
            return document
        last = key
        time.sleep(1.1)
    raise h.TestFailure("vipgate's counters did not settle")


def port_connections(document):
    return {s["service"]: s["connections"] for s in document.get("services", [])}


def check_run(label, report, status, family, pattern, before, after):
    h.check(report["family"] == family, f"{label}: report says family {report['family']}")
    h.check(report["tx_packets"] > 20000, f"{label}: only {report['tx_packets']} packets sent")
    h.check(report["lost"] == 0, f"{label}: {report['lost']} packets lost")
    errors = {field: report[field] for field in ERROR_FIELDS if report[field]}
    errors.update({f"warmup {k}": v for k, v in report["warmup_check_failures"].items() if v})
    h.check(not errors, f"{label}: check failures {errors}")
    h.check(status == 0, f"{label}: vipgen exited {status}")
    if pattern == "established":
        h.check(report["flows_opened"] == FLOWS, f"{label}: {report['flows_opened']} of {FLOWS} flows opened")
    expected = {v6 for _, _, v6 in WEB_PODS + DNS_PODS}
    if family == "dual":
        expected |= {v4 for _, v4, _ in WEB_PODS + DNS_PODS}
    shares = {e["address"]: e["share"] for e in report["endpoints"]}
    h.check(set(shares) == expected, f"{label}: endpoints {sorted(shares)}, expected {sorted(expected)}")
    unused = [a for a, share in shares.items() if share == 0]
    h.check(not unused, f"{label}: endpoints without traffic: {unused}")

    # vipgate's numbers against vipgen's, over the whole run (warm-up included).
    delta = {k: after["counters"][k] - before["counters"][k] for k in after["counters"]
             if isinstance(after["counters"][k], int)}
    to_endpoint = report["warmup"]["backend_rx_packets"] + report["backend_rx_packets"]
    to_client = report["warmup"]["rx_packets"] + report["rx_packets"]
    h.log(f"{label}: vipgate forwarded {delta['forwarded_to_endpoint']} to endpoints, "
          f"{delta['forwarded_to_client']} to clients, {delta['new_connections']} new connections; "
          f"vipgen's endpoints checked {to_endpoint}, its clients {to_client}")
    h.check(delta["forwarded_to_endpoint"] == to_endpoint,
            f"{label}: vipgate forwarded_to_endpoint {delta['forwarded_to_endpoint']} != vipgen's {to_endpoint}")
    h.check(delta["forwarded_to_client"] == to_client,
            f"{label}: vipgate forwarded_to_client {delta['forwarded_to_client']} != vipgen's {to_client}")
    drops = {k: v - before["drops"].get(k, 0) for k, v in after["drops"].items() if v - before["drops"].get(k, 0)}
    h.check(not drops, f"{label}: vipgate dropped {drops}")
    if pattern == "established":
        h.check(delta["new_connections"] == FLOWS, f"{label}: new_connections {delta['new_connections']} != {FLOWS}")
        # Flow i goes to target i mod targets: ipv6 has 2 targets (both IPv6), dual 4 (v4, v6, v4, v6).
        per_port = FLOWS // 2 if family == "ipv6" else FLOWS // 4
        was, now = port_connections(before), port_connections(after)
        for name in IPV6_PORTS:
            got = now.get(name, 0) - was.get(name, 0)
            h.check(got == per_port, f"{label}: {name} got {got} connections, vipgen sent {per_port} flows")


def body(context):
    if len(sys.argv) < 4:
        raise h.TestFailure("usage: test_vipgen_ipv6_e2e.py VIPGATE VIPGEN VIPCTL")
    vipgen, vipctl_exe = sys.argv[2], sys.argv[3]
    for nat_mode, ipv6_pattern in (("fullnat", "established"), ("dnat", "lifecycle")):
        socket_path = context.path(f"memif-{nat_mode}.sock")
        config_path = h.write_config(context.path(f"{nat_mode}.toml"), gateway_config(context, nat_mode, socket_path))
        api_socket = context.path(f"{nat_mode}-api.sock")
        daemon = context.daemon(config_path, name=f"vipgate-{nat_mode}", args=["--api-socket", api_socket])
        daemon.wait_running()
        vipctl = h.Vipctl(vipctl_exe, api_socket)
        # Each run its own client ports: its tuples must not meet the connections the one before left.
        for seed, (family, pattern) in enumerate((("ipv6", ipv6_pattern), ("dual", "established")), start=1):
            label = f"{nat_mode}/{family}/{pattern}"
            before = settled_stats(vipctl)
            status, report = run_vipgen(context, vipgen, config_path, socket_path, family, pattern, seed)
            after = settled_stats(vipctl)
            check_run(label, report, status, family, pattern, before, after)
            h.log(f"{label}: {report['tx_packets']} packets, {report['rx_packets']} replies, "
                  f"p99 {report['latency_ns']['p99']} ns")
        daemon.stop()


h.run_test("vipgen_ipv6_e2e", body)
