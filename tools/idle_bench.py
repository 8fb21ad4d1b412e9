#!/usr/bin/python3
"""Idle workers: what adaptive polling costs against busy polling, measured in one run.

The bench suite's topology (vipgen on CPU 0, vipgate with one worker on CPU 1, net_memif,
64-byte TCP, 1 VIP / 4 endpoints / 1000 flows). vipgate runs once per mode and repetition,
the modes alternating (poll, adaptive, then adaptive, poll, ...) so that the load of a shared
machine falls on both alike. Each vipgate run serves three vipgen runs:
  * very low load (1 packet/s): the worker is in its deepest sleep when a packet comes;
  * low load (50 packets/s by default): round-trip median and p99;
  * full load: a fixed rate, 0.9 x the replies/s that poll mode reached in a calibration run
    at the start: packets lost and check failures.
vipgen's round trip crosses the gateway twice; only the first crossing can find the worker
asleep (it polls again once a packet came). Printed: per mode the medians over the
repetitions, and adaptive / poll.

    tools/idle_bench.py [--build build] [--repeats 3]
"""
import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchsuite.memif_pair import Gateway, run_vipgen  # noqa: E402
from benchsuite.topology import Scale, VipgateConfig  # noqa: E402

MODES = ("poll", "adaptive")
SCALE = Scale("idle", 1, 4, 1000)
CHECKS = ("malformed", "unexpected", "misdirected", "wrong_source", "ttl_errors", "moved", "wrong_reply", "resets",
          "icmp")


class IdleConfig(VipgateConfig):
    def __init__(self, mode, max_sleep_us, *args):
        super().__init__(*args)
        self.idle_lines = f'idle = "{mode}"\n' + (f"idle_max_sleep_us = {max_sleep_us}\n" if max_sleep_us else "")

    def head_text(self):
        return super().head_text().replace("[dataplane]\n", "[dataplane]\n" + self.idle_lines, 1)


class Bench:
    def __init__(self, args):
        self.args = args
        self.vipgate = os.path.join(args.build, "control", "vipgate")
        self.vipgen_exe = os.path.join(args.build, "pktgen", "vipgen")
        self.scratch = tempfile.mkdtemp(prefix="vipgate-idle-bench-")
        self.runs = 0
        self.prefixes = []

    def prefix(self, tag):
        self.runs += 1
        self.prefixes.append(f"idlebench{os.getpid()}-{tag}-{self.runs}")
        return self.prefixes[-1]

    def clean_up(self):
        """The scratch directory and the EAL runtime directories the runs left."""
        shutil.rmtree(self.scratch, ignore_errors=True)
        for prefix in self.prefixes:
            shutil.rmtree(os.path.join("/var/run/dpdk", prefix), ignore_errors=True)

    def gateway(self, mode):
        """vipgate in `mode` with a fresh config; use as `with self.gateway(mode) as gateway:`."""
        self.socket_path = os.path.join(self.scratch, "memif.sock")
        config = IdleConfig(mode, self.args.max_sleep_us, SCALE, self.prefix("gw"), self.socket_path)
        self.config_path = os.path.join(self.scratch, "gw.toml")
        with open(self.config_path, "w") as f:
            f.write(config.text())
        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)
        return Gateway(self.vipgate, self.config_path, os.path.join(self.scratch, f"gw-{self.runs}.log"),
                       ["--api-socket", os.path.join(self.scratch, "api.sock")])

    def run_vipgen(self, rate, duration):
        options = ["--lcores", "1", "--pattern", "established", "--flows", SCALE.flows, "--protocol", "tcp",
                   "--size", "64", "--rate", int(rate), "--duration", duration, "--warmup-rate", "100000"]
        report, _, _ = run_vipgen(self.vipgen_exe, self.prefix("gen"), self.socket_path, self.config_path, options,
                                  duration + 60)
        return report

    def one_mode(self, mode, full_rate):
        with self.gateway(mode):
            result = {}
            for load, rate, duration in (("very_low", 1, self.args.very_low_s),
                                         ("low", self.args.low_rate, self.args.low_s)):
                lat = self.run_vipgen(rate, duration)["latency_ns"]
                result[load] = {"p50_us": lat["p50"] / 1e3, "p99_us": lat["p99"] / 1e3, "samples": lat["samples"]}
            if full_rate:
                full = self.run_vipgen(full_rate, self.args.full_s)
                result["full"] = {"sent": full["tx_packets"], "lost": full["lost"],
                                  "check_failures": sum(full.get(k, 0) for k in CHECKS),
                                  "replies_pps": full["rx_pps"]}
            return result

    def calibrate(self):
        with self.gateway("poll"):
            return self.run_vipgen(0, self.args.full_s)["rx_pps"]


def median(runs, load, key):
    return statistics.median(r[load][key] for r in runs)


def report(runs, full_rate):
    offered = f"; full load offered at {full_rate / 1e6:.3f} Mpps" if full_rate else ""
    print(f"\n{len(runs['poll'])} runs per mode, alternating{offered}")
    print(f"{'':28}{'poll':>12}{'adaptive':>12}{'adaptive/poll':>15}")
    for load, label in (("very_low", "1/s"), ("low", "low rate")):
        for key in ("p50_us", "p99_us"):
            p, a = median(runs["poll"], load, key), median(runs["adaptive"], load, key)
            print(f"{label + ' RTT ' + key[:3] + ' (us)':28}{p:12.1f}{a:12.1f}{a / p:15.2f}")
    if full_rate:
        for key in ("lost", "check_failures", "sent"):
            p = sum(r["full"][key] for r in runs["poll"])
            a = sum(r["full"][key] for r in runs["adaptive"])
            ratio = f"{a / p:15.2f}" if p else f"{'-':>15}"
            print(f"{'full load ' + key + ' (sum)':28}{p:12d}{a:12d}{ratio}")
        p, a = median(runs["poll"], "full", "replies_pps"), median(runs["adaptive"], "full", "replies_pps")
        print(f"{'full load replies (Mpps)':28}{p / 1e6:12.3f}{a / 1e6:12.3f}{a / p:15.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", default="build")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--low-rate", type=int, default=50)
    parser.add_argument("--low-s", type=float, default=10)
    parser.add_argument("--very-low-s", type=float, default=30)
    parser.add_argument("--full-s", type=float, default=5)
    parser.add_argument("--full-factor", type=float, default=0.9, help="full-load rate / poll's calibrated capacity")
    parser.add_argument("--no-full", action="store_true", help="latency only")
    parser.add_argument("--max-sleep-us", type=int, help="idle_max_sleep_us (default: vipgate's)")
    parser.add_argument("--json", help="write the per-run numbers to this file")
    args = parser.parse_args()
    bench = Bench(args)
    try:
        full_rate = 0 if args.no_full else int(bench.calibrate() * args.full_factor)
        runs = {m: [] for m in MODES}
        for rep in range(args.repeats):
            for mode in (MODES if rep % 2 == 0 else MODES[::-1]):
                result = bench.one_mode(mode, full_rate)
                runs[mode].append(result)
                print(f"run {rep + 1} {mode}: {json.dumps(result)}", flush=True)
        report(runs, full_rate)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"full_rate_pps": full_rate, "runs": runs}, f, indent=1)
    finally:
        bench.clean_up()


if __name__ == "__main__":
    main()
