#!/usr/bin/python3
"""SYN flood benchmark (issue 15, floods): new-connection admission into a full table.

vipgate (full-NAT, one worker on CPU 1) is the net_memif server; vipgen (CPU 0) runs its flood
pattern: it opens --established flows, then sends as fast as it can (or at --rate): a share of
spoofed SYNs (sources scattered over 198.19.0.0/16, never completed), legitimate connections
(the client ACKs the SYN-ACK with data, the endpoint answers that) and packets of the
established flows, each checked. Each scenario gets a freshly started vipgate:

  no-flood        the same traffic without spoofed SYNs (what the gateway does unattacked)
  oldest-first    the flood, half_open_min_idle_ms = 0: the oldest half-open entry makes room
  protected-10ms  the flood, half_open_min_idle_ms = 10
  baseline        the flood against --baseline-vipgate (a vipgate built before the FIFO: a
                  32-entry clock-hand scan for an evictable entry), when given

for a 65,536-entry table holding 20,000 established flows and a 4,096-entry one holding 1,000
(where the flood cycles the half-open entries within milliseconds), at each rate of --rates. Reported per run: what vipgen sent, the established flows' loss (goal 0), the
share of legitimate connections that completed, and vipgate's evictions and refusals.

  tools/bench.sh flood [--baseline-vipgate PATH] [--duration S] [--rates PPS,PPS] [--out DIR]
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from benchsuite import topology as bs  # noqa: E402
from benchsuite.logparse import parse_final_counters  # noqa: E402
from benchsuite.memif_pair import Gateway, run_vipgen  # noqa: E402
from benchsuite.results import ERROR_FIELDS  # noqa: E402

ENDPOINTS = [bs.endpoint_address(i) for i in range(4)]
VIP = "198.18.128.1"
SNAT_ADDRESS = "198.18.0.2"
SPOOFED_SHARE = 0.9
# Tables: (capacity, established flows, legitimate share). Completed legitimate connections stay
# established (900 s), so their share is kept low enough that a run does not fill the table
# with them: that would measure the table's size, not the flood.
TABLES = ((65536, 20000, 0.01), (4096, 1000, 0.001))


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def gateway_config(prefix, socket_path, capacity, min_idle_ms):
    lines = [
        "[eal]",
        f'args = ["--no-huge", "-m", "1024", "--no-pci", "--no-shconf", "--no-telemetry", "--file-prefix", '
        f'"{prefix}", "--lcores", "0@{bs.DUT_CPU},1@{bs.DUT_CPU}"]',
        "[dataplane]", "worker_lcores = [1]", 'nat_mode = "fullnat"',
        "[conntrack]", f"capacity = {capacity}",
    ]
    if min_idle_ms is not None:
        lines.append(f"half_open_min_idle_ms = {min_idle_ms}")
    lines += [
        "[snat]", f'addresses = ["{SNAT_ADDRESS}"]',
        "[[ports]]", 'name = "p0"', f'device = "net_memif0,role=server,socket={socket_path}"',
        f'mac = "{bs.GATEWAY_MAC}"', f'addresses = ["{bs.GATEWAY_ADDRESS}", "{SNAT_ADDRESS}/17"]',
        "[[routes]]", f'prefix = "{bs.CLIENT_NET}"', f'via = "{bs.ROUTER}"',
        "[[services]]", 'name = "web"', f'cluster_ip = "{VIP}"',
        f"ports = [{{ port = {bs.SERVICE_PORT}, target_port = {bs.TARGET_PORT} }}]",
        "endpoints = [" + ", ".join(f'{{ address = "{a}" }}' for a in ENDPOINTS) + "]",
    ]
    return "\n".join(lines) + "\n"


class Run:
    def __init__(self, scratch, vipgate, vipgen):
        self.scratch, self.vipgate, self.vipgen = scratch, vipgate, vipgen
        self.counter = 0

    def path(self, name):
        return os.path.join(self.scratch, name)

    def one(self, name, binary, capacity, established, legit_share, min_idle_ms, spoofed_share, rate, duration):
        self.counter += 1
        tag = f"fb{os.getpid() % 100000}-{self.counter}"
        socket_path = self.path(f"{tag}.sock")
        config_path = self.path(f"{tag}.toml")
        with open(config_path, "w") as f:
            f.write(gateway_config(tag + "-gw", socket_path, capacity, min_idle_ms))
        options = ["--pattern", "flood", "--flows", established, "--new-share", spoofed_share, "--legit-share",
                   legit_share, "--protocol", "tcp", "--rate", int(rate), "--warmup-rate", "100000", "--duration",
                   duration]
        gateway = Gateway(binary, config_path, self.path(f"{tag}-gw.log"),
                          ["--api-socket", "", "--metrics-address", ""])
        try:
            with gateway:
                log(f"{name}: vipgen " + " ".join(map(str, options)))
                report, vipgen_exit, _ = run_vipgen(self.vipgen, f"{tag}-gen", socket_path, config_path, options,
                                                    120 + duration)
        finally:
            shutil.rmtree(f"/var/run/dpdk/{tag}-gw", ignore_errors=True)
        counters = parse_final_counters(gateway.log_text()) or {}
        flood = report["flood"]
        row = {
            "scenario": name, "capacity": capacity, "established_flows": established, "rate": rate,
            "legit_share": legit_share,
            "half_open_min_idle_ms": min_idle_ms, "vipgen_exit": vipgen_exit,
            "sent_pps": report["tx_pps"], "spoofed_pps": flood["spoofed_pps"],
            "established_sent": flood["established_sent"], "established_lost": flood["established_lost"],
            "legit_sent": flood["legit_sent"], "legit_completed": flood["legit_completed"],
            "legit_success": flood["legit_success"], "legit_completed_per_s": flood["legit_completed_per_s"],
            "check_failures": {f: report[f] for f in ERROR_FIELDS if f != "resets" and report.get(f)},
            # Untracked non-SYN segments are reset (full-NAT): a legitimate client whose entry was
            # evicted before its ACK, or an established flow that lost its entry (never expected).
            "resets_to_legit_clients": report.get("resets", 0),
            "evictions": counters.get("conntrack_evictions"),
            "new_connections": counters.get("new_connections"),
            "drops": {k[5:]: v for k, v in counters.items() if k.startswith("drop.") and v},
        }
        log(f"{name}: sent {row['sent_pps'] / 1e6:.2f} Mpps, spoofed {row['spoofed_pps'] / 1e6:.2f} M/s, "
            f"established lost {row['established_lost']} of {row['established_sent']}, "
            f"legitimate {row['legit_success'] * 100:.1f} % ({row['legit_completed']} of {row['legit_sent']})")
        return row


def markdown(rows, args):
    out = [f"Flood benchmark, {time.strftime('%Y-%m-%d')}: vipgen --pattern flood (spoofed SYNs "
           f"{SPOOFED_SHARE:.0%} of the packets that are not legitimate SYNs), {args.duration} s per run, one worker.",
           "",
           "| offered | scenario | table / established | min idle | sent Mpps | spoofed SYN/s | established lost | "
           "legitimate completed | RSTs to clients | evictions | vipgate drops |",
           "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        drops = ", ".join(f"{k} {v:,}" for k, v in r["drops"].items()) or "0"
        offered = "max" if not r["rate"] else f"{r['rate'] / 1e6:g} Mpps"
        out.append(f"| {offered} | {r['scenario']} | {r['capacity']:,} / {r['established_flows']:,} | "
                   f"{'-' if r['half_open_min_idle_ms'] is None else r['half_open_min_idle_ms']} | "
                   f"{r['sent_pps'] / 1e6:.2f} | {r['spoofed_pps'] / 1e6:.2f} M | "
                   f"{r['established_lost']:,} of {r['established_sent']:,} | "
                   f"{r['legit_success'] * 100:.1f} % ({r['legit_completed_per_s']:,.0f}/s) | "
                   f"{r['resets_to_legit_clients']:,} | {r['evictions'] or 0:,} | {drops} |")
    return "\n".join(out) + "\n"


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    parser.add_argument("--baseline-vipgate", help="a vipgate built before the half-open FIFO, for comparison")
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--rates", default="0,100000",
                        help="packets per second vipgen offers, comma-separated; 0: its maximum")
    parser.add_argument("--out", default=os.path.join(ROOT, "docs"))
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("flood_bench: needs root (DPDK EAL)", file=sys.stderr)
        return 2
    vipgate = os.path.join(args.build_dir, "control", "vipgate")
    vipgen = os.path.join(args.build_dir, "pktgen", "vipgen")
    scratch = tempfile.mkdtemp(prefix="vipgate-flood-")
    run = Run(scratch, vipgate, vipgen)
    rows = []
    try:
        for rate in (float(r) for r in args.rates.split(",")):
            for capacity, established, legit in TABLES:
                size = f"{capacity // 1024}k"
                table = (capacity, established, legit)
                rows.append(run.one(f"no-flood {size}", vipgate, *table, 0, 0.0, rate, args.duration))
                rows.append(run.one(f"oldest-first {size}", vipgate, *table, 0, SPOOFED_SHARE, rate, args.duration))
                rows.append(run.one(f"protected-10ms {size}", vipgate, *table, 10, SPOOFED_SHARE, rate, args.duration))
                if args.baseline_vipgate:
                    rows.append(run.one(f"baseline {size}", args.baseline_vipgate, *table, None, SPOOFED_SHARE, rate,
                                        args.duration))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "flood-bench.json"), "w") as f:
        json.dump({"date": time.strftime("%Y-%m-%d"), "rates": args.rates, "duration_s": args.duration,
                   "runs": rows}, f, indent=1)
    text = markdown(rows, args)
    with open(os.path.join(args.out, "flood-bench.md"), "w") as f:
        f.write(text)
    print(text)
    return 0 if all(r["vipgen_exit"] in (0, 1) and not r["check_failures"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
