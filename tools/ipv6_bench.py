#!/usr/bin/python3
"""IPv6 against IPv4 forwarded rate through vipgate over net_memif (issue 13, Speed).

One vipgate per NAT mode (one worker on CPU 1, busy polling) serves a dual-stack service: one
cluster IP per family, four pods with an address of each family (`pod_ips`), static IPv6
neighbors for vipgen's IPv6 clients and the pods (vipgate has no Neighbor Discovery yet).
vipgen (CPU 0) runs the established pattern as fast as it can, alternating `--family ipv4` and
`--family ipv6` against the same gateway, --rounds times each, so both families see the same
machine load in turn (the machine is shared and noisy: compare runs of one invocation only).
Every packet is checked both ways; a run with a check failure fails the bench.

The rate compared is `dut_pps`, packets vipgate forwarded per second in both directions. IPv6
frames carry the IPv4 frames' segment behind a 40-byte header, so they are 20 bytes longer
(84 against 64 bytes).

  tools/bench.sh ipv6 [--rounds N] [--duration S] [--flows N] [--modes fullnat,dnat] [--out DIR]
"""
import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from benchsuite import topology as bs  # noqa: E402
from benchsuite.memif_pair import Gateway, run_vipgen  # noqa: E402
from benchsuite.results import ERROR_FIELDS  # noqa: E402

VIPGEN_MAC = "02:00:00:00:00:10"
VIP4, VIP6 = "198.18.128.1", "2001:db8:100::1"
SNAT4, GATEWAY6, SNAT6 = "198.18.0.2", "2001:db8::1", "2001:db8::2"
CLIENTS6 = "2001:db8::c:0/120"  # 256 clients, each a static neighbor
PODS = [(bs.endpoint_address(i), f"2001:db8::e:{i + 1:x}") for i in range(4)]


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def gateway_config(prefix, socket_path, nat_mode, capacity):
    lines = [
        "[eal]",
        f'args = ["--no-huge", "-m", "1024", "--no-pci", "--no-shconf", "--no-telemetry", "--file-prefix", '
        f'"{prefix}", "--lcores", "0@{bs.DUT_CPU},1@{bs.DUT_CPU}"]',
        "[dataplane]", "worker_lcores = [1]", f'nat_mode = "{nat_mode}"',
        "[conntrack]", f"capacity = {capacity}",
        "[snat]", f'addresses = ["{SNAT4}", "{SNAT6}"]',
        "[[ports]]", 'name = "p0"', f'device = "net_memif0,role=server,socket={socket_path}"',
        f'mac = "{bs.GATEWAY_MAC}"',
        f'addresses = ["{bs.GATEWAY_ADDRESS}", "{SNAT4}/17", "{GATEWAY6}/64", "{SNAT6}/64"]',
        "[[routes]]", f'prefix = "{bs.CLIENT_NET}"', f'via = "{bs.ROUTER}"',
        "[[services]]", 'name = "web"', f'cluster_ips = ["{VIP4}", "{VIP6}"]',
        'ip_family_policy = "RequireDualStack"', 'selector = { app = "web" }',
        f"ports = [{{ port = {bs.SERVICE_PORT}, target_port = {bs.TARGET_PORT} }}]",
    ]
    for i, (v4, v6) in enumerate(PODS):
        lines += ["[[pods]]", f'name = "web-{i}"', f'pod_ips = ["{v4}", "{v6}"]', 'labels = { app = "web" }']
    neighbors = [f"2001:db8::c:{i:x}" for i in range(256)] + [v6 for _, v6 in PODS]
    for address in neighbors:
        lines += ["[[neighbors]]", f'address = "{address}"', f'mac = "{VIPGEN_MAC}"']
    return "\n".join(lines) + "\n"


def vipgen_run(vipgen, prefix, socket_path, config_path, options, timeout_s):
    """run_vipgen, tried a second time when the memif server had not yet let the previous
    client go (a busy machine can delay vipgate's control thread)."""
    for attempt in (1, 2):
        try:
            return run_vipgen(vipgen, prefix, socket_path, config_path, options, timeout_s,
                              port_args=f",mac={VIPGEN_MAC}")
        except RuntimeError as error:
            if attempt == 2 or "cannot start" not in str(error):
                raise
            log("vipgen could not connect to the memif server; again in 1 s")
            time.sleep(1)


def one_mode(scratch, vipgate, vipgen, nat_mode, args):
    tag = f"v6b{os.getpid() % 100000}-{nat_mode}"
    socket_path = os.path.join(scratch, f"{tag}.sock")
    config_path = os.path.join(scratch, f"{tag}.toml")
    with open(config_path, "w") as f:
        # Every run opens its own flows and they stay established, so the table holds them all:
        # the IPv6 table is a quarter of the IPv4 one, and a full one forwards new IPv6 flows
        # without tracking them (DNAT-only: their replies are then dropped as no_service).
        f.write(gateway_config(tag + "-gw", socket_path, nat_mode, 5 * args.flows * args.rounds))
    rows = []
    gateway = Gateway(vipgate, config_path, os.path.join(scratch, f"{tag}-gw.log"),
                      ["--api-socket", "", "--metrics-address", ""])
    try:
        with gateway:
            for round_index in range(args.rounds):
                for family in ("ipv4", "ipv6"):
                    # Each run its own client ports, so no tuple meets a connection an earlier run left.
                    first_port = 1024 + (2 * round_index + (family == "ipv6")) * 4096
                    options = ["--family", family, "--clients6", CLIENTS6, "--pattern", "established",
                               "--protocol", "tcp", "--flows", args.flows, "--client-ports",
                               f"{first_port}-{first_port + 4095}", "--duration", args.duration]
                    report, status, stderr = vipgen_run(vipgen, f"{tag}-gen", socket_path, config_path, options,
                                                        60 + args.duration)
                    failures = {f: report[f] for f in ERROR_FIELDS if report.get(f)}
                    failures.update({f"warmup {k}": v for k, v in report["warmup_check_failures"].items() if v})
                    row = {"nat_mode": nat_mode, "round": round_index + 1, "family": family, "vipgen_exit": status,
                           "dut_pps": report["dut_pps"], "tx_pps": report["tx_pps"], "lost": report["lost"],
                           "loss_ratio": report["loss_ratio"], "flows_opened": report["flows_opened"],
                           "check_failures": failures, "p50_ns": report["latency_ns"]["p50"]}
                    if failures or report["flows_opened"] != args.flows:
                        log(f"{nat_mode}/{family}: {failures}, {report['flows_opened']} flows opened\n{stderr}")
                    log(f"{nat_mode} round {round_index + 1} {family}: {row['dut_pps'] / 1e6:.3f} Mpps forwarded, "
                        f"loss {row['loss_ratio'] * 100:.2f} %, check failures {sum(failures.values())}")
                    rows.append(row)
    finally:
        shutil.rmtree(f"/var/run/dpdk/{tag}-gw", ignore_errors=True)
    return rows


def summary(rows, modes):
    out = []
    for mode in modes:
        v4 = [r["dut_pps"] for r in rows if r["nat_mode"] == mode and r["family"] == "ipv4"]
        v6 = [r["dut_pps"] for r in rows if r["nat_mode"] == mode and r["family"] == "ipv6"]
        ratios = [b / a for a, b in zip(v4, v6) if a > 0]
        out.append({"nat_mode": mode, "ipv4_mpps": [round(x / 1e6, 3) for x in v4],
                    "ipv6_mpps": [round(x / 1e6, 3) for x in v6],
                    "ratios": [round(x, 2) for x in ratios],
                    "median_ratio": round(statistics.median(ratios), 2) if ratios else None})
    return out


def markdown(rows, modes, args):
    out = [f"IPv6 vs IPv4 through vipgate over net_memif, {time.strftime('%Y-%m-%d')}: vipgen established "
           f"pattern, {args.flows:,} TCP flows, unlimited rate, {args.duration} s per run, families alternated "
           f"{args.rounds} times, one worker; forwarded packets per second, both directions.", "",
           "| NAT mode | IPv4 Mpps | IPv6 Mpps | IPv6/IPv4 per round | median |", "|---|---|---|---|---:|"]
    for s in summary(rows, modes):
        out.append(f"| {s['nat_mode']} | {', '.join(map(str, s['ipv4_mpps']))} | "
                   f"{', '.join(map(str, s['ipv6_mpps']))} | {', '.join(map(str, s['ratios']))} | "
                   f"{s['median_ratio']} |")
    failures = sum(sum(r["check_failures"].values()) for r in rows)
    out += ["", f"Check failures over all runs: {failures}."]
    return "\n".join(out) + "\n"


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=2)
    parser.add_argument("--flows", type=int, default=20000)
    parser.add_argument("--modes", default="fullnat,dnat")
    parser.add_argument("--out", default=os.path.join(ROOT, "docs"))
    args = parser.parse_args(argv)
    if not 1 <= args.rounds <= 7:
        parser.error("--rounds must be within 1..7 (each run takes its own 4,096 client ports)")
    if os.geteuid() != 0:
        print("ipv6_bench: needs root (DPDK EAL)", file=sys.stderr)
        return 2
    vipgate = os.path.join(args.build_dir, "control", "vipgate")
    vipgen = os.path.join(args.build_dir, "pktgen", "vipgen")
    modes = args.modes.split(",")
    scratch = tempfile.mkdtemp(prefix="vipgate-ipv6-bench-")
    rows = []
    try:
        for mode in modes:
            rows += one_mode(scratch, vipgate, vipgen, mode, args)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "ipv6-bench.json"), "w") as f:
        json.dump({"date": time.strftime("%Y-%m-%d"), "flows": args.flows, "duration_s": args.duration,
                   "rounds": args.rounds, "summary": summary(rows, modes), "runs": rows}, f, indent=1)
    text = markdown(rows, modes, args)
    with open(os.path.join(args.out, "ipv6-bench.md"), "w") as f:
        f.write(text)
    print(text)
    clean = all(not r["check_failures"] and r["flows_opened"] == args.flows for r in rows)
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
