#!/usr/bin/python3
"""vipgate line-rate benchmark suite (run through tools/bench.sh).

Drives three programs over one net_memif link (two processes, shared memory):

  generator            vipgen (build/pktgen/vipgen), CPU 0: sends client traffic, plays the
                       backends, checks every packet that comes back
  device under test    dpdk-testpmd (io / macswap: the baseline) or vipgate, CPU 1

Every number comes from vipgen, so the baseline and vipgate are measured by the same generator.
Each vipgen invocation gets a freshly started device under test (memif server; vipgen connects
as the client), so every run starts from empty tables and ends with the device's own final
counters, which are kept next to vipgen's JSON.

Writes OUT/benchmarks.md (tables, ratios to the baselines, goal verdicts) and
OUT/benchmarks.json (everything, including the raw vipgen results). A run that fails is
recorded as such and the suite goes on; the exit status is 1 if any run failed.

Standard library only; run with /usr/bin/python3 as root.
"""
import argparse
import ctypes
import datetime
import json
import math
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

GEN_CPU = 0          # vipgen: main lcore and worker lcore
DUT_CPU = 1          # testpmd / vipgate: main (control) lcore and the forwarding lcore

# Topology (addresses only from 198.18.0.0/15, locally administered MACs).
GATEWAY_MAC = "02:00:00:00:00:01"
GATEWAY_ADDRESS = "198.18.0.1/17"
ROUTER = "198.18.0.254"
CLIENT_NET = "198.19.0.0/16"
VIP_BASE = (198 << 24) | (18 << 16) | (128 << 8)       # 198.18.128.0/17
ENDPOINT_POOL = 2000                                    # 198.18.1.1 .. 198.18.8.250
SERVICE_PORT, TARGET_PORT = 80, 8080

# Goals the issue sets.
GOAL_RATIO_1M = 0.5              # vipgate 1M flows >= 50 % of testpmd io
GOAL_NEW_FLOWS = 2e6             # new flows per second per worker
GOAL_BYTES_PER_CONN = 128        # bytes per tracked connection
GOAL_GENERATOR_PPS = 20e6        # vipgen generation per core into net_null

# Per-packet correctness counters of vipgen's JSON: any non-zero one is an error.
ERROR_FIELDS = ("misdirected", "malformed", "moved", "wrong_source", "wrong_reply", "ttl_errors", "unexpected",
                "resets", "icmp")


class BenchError(Exception):
    pass


class Interrupted(BaseException):
    pass


def log(message):
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def fmt_mpps(pps, digits=2):
    return "-" if pps is None else f"{pps / 1e6:.{digits}f}"


def fmt_ratio(value):
    return "-" if value is None else f"{value:.2f}"


def fmt_us(ns):
    return "-" if ns is None else f"{ns / 1000:.1f}"


def fmt_count(value):
    return "-" if value is None else f"{value:,}"


def ratio(a, b):
    if a is None or b is None or b <= 0:
        return None
    return a / b


def ipv4(value):
    return ".".join(str((value >> shift) & 255) for shift in (24, 16, 8, 0))


def endpoint_address(index):
    """Endpoint pool address `index` (mod 2000): 198.18.1.1 .. 198.18.8.250."""
    index %= ENDPOINT_POOL
    return f"198.18.{1 + index // 250}.{1 + index % 250}"


def vip_address(service):
    return ipv4(VIP_BASE + 1 + service)


ALL_CPUS = set(range(os.cpu_count() or 1))


def _child_setup():
    """In the child before exec: die with the driver (should it be killed without cleaning up),
    and drop the driver's own CPU pinning; each program places its threads with --lcores."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    try:
        os.sched_setaffinity(0, ALL_CPUS)
    except OSError:
        pass


# ---------------------------------------------------------------------------------------------
# Scale of the scenarios


class Scale:
    """One established-flow scenario: VIPs x endpoints, concurrent flows."""

    def __init__(self, key, vips, endpoints, flows, capacity=None):
        self.key, self.vips, self.endpoints, self.flows = key, vips, endpoints, flows
        self.table = capacity

    @property
    def capacity(self):
        return self.table or max(1024, int(math.ceil(self.flows * 1.25)))

    @property
    def label(self):
        return f"{human(self.vips)} VIP{'s' if self.vips > 1 else ''} / {human(self.flows)} flows"

    def gen_memory_mb(self):
        return round_up(1024 + self.flows * 256 / 2**20, 256)

    def dut_memory_mb(self, capacity=None):
        capacity = self.capacity if capacity is None else capacity
        # ~86 bytes a conntrack slot, Maglev tables (kept twice across a reload), pools; only what
        # is touched becomes resident under --no-huge, so a generous figure costs nothing.
        need = 768 + capacity * 128 / 2**20 + self.vips * 1601 * 8 * 3 / 2**20
        return round_up(need, 512)


def human(n):
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


def round_up(value, step):
    return int(math.ceil(value / step) * step)


class Settings:
    def __init__(self, args):
        self.quick = args.quick
        if args.quick:
            self.scales = {"small": Scale("small", 1, 4, 1000), "mid": Scale("mid", 100, 10, 100_000),
                           "large": Scale("large", 1000, 10, 1_000_000)}
            self.trial_s, self.search_trial_s, self.latency_s, self.storm_s = 2, 1, 2, 5
            self.precision = 0.05
        else:
            self.scales = {"small": Scale("small", 1, 4, 1000), "mid": Scale("mid", 1000, 10, 1_000_000),
                           "large": Scale("large", 10_000, 10, 10_000_000)}
            self.trial_s, self.search_trial_s, self.latency_s, self.storm_s = 10, 4, 8, 20
            self.precision = 0.02
        if args.duration:
            self.trial_s = args.duration
        self.skip_large = args.skip_10m
        self.repeats = 1 if args.quick else max(1, args.repeats)
        self.search_repeats = 1 if args.quick else 2
        self.pdr_loss = 0.5
        self.storm_rate_hz = 10.0
        self.warmup_rate = args.warmup_rate      # vipgate runs (each warm-up packet opens a flow)
        self.forwarder_warmup_rate = 5_000_000   # testpmd runs
        self.seed = 1


# ---------------------------------------------------------------------------------------------
# vipgate configuration files


def toml_str(value):
    return json.dumps(value)


class VipgateConfig:
    """The benchmark topology (see the header of docs/benchmarks.md) as vipgate TOML.

    Service s: cluster_ip 198.18.128.(s+1) (continuing into the /17), TCP 80 -> 8080, endpoints
    pool[(s*E + j) mod 2000] for j < E; so for 1k x 10 each address backs 5 services, like a
    pod backing several services. `extra` adds pool[(s*E + E) mod 2000] to service s (the
    storm's 11th endpoint): the first endpoint of the next service, so its address is known."""

    def __init__(self, scale, prefix, socket_path, capacity=None, memory_mb=None):
        self.scale = scale
        self.prefix = prefix
        self.socket_path = socket_path
        self.capacity = scale.capacity if capacity is None else capacity
        self.memory_mb = scale.dut_memory_mb(self.capacity) if memory_mb is None else memory_mb
        self.eal_args = ["--no-huge", "-m", str(self.memory_mb), "--no-pci", "--no-shconf", "--no-telemetry",
                         "--file-prefix", prefix, "--lcores", f"0@{DUT_CPU},1@{DUT_CPU}"]
        self._service_text = [self.service_text(s, False) for s in range(scale.vips)]

    def head_text(self):
        lines = [
            "# generated by tools/bench_suite.py",
            "[eal]",
            "args = [" + ", ".join(toml_str(a) for a in self.eal_args) + "]",
            "",
            "[dataplane]",
            "worker_lcores = [1]",
            'nat_mode = "fullnat"',
            "stats_interval_ms = 500",
            "",
            "[conntrack]",
            f"capacity = {self.capacity}",
            "",
            "[[ports]]",
            'name = "p0"',
            f"device = {toml_str(f'net_memif0,role=server,socket={self.socket_path}')}",
            f"mac = {toml_str(GATEWAY_MAC)}",
            f"addresses = [{toml_str(GATEWAY_ADDRESS)}]",
            "",
            "[[routes]]",
            f"prefix = {toml_str(CLIENT_NET)}",
            f"via = {toml_str(ROUTER)}",
            "",
        ]
        return "\n".join(lines) + "\n"

    def endpoints(self, service, extra):
        count = self.scale.endpoints + (1 if extra else 0)
        return [endpoint_address(service * self.scale.endpoints + j) for j in range(count)]

    def service_text(self, service, extra):
        endpoints = ", ".join("{ address = %s }" % toml_str(a) for a in self.endpoints(service, extra))
        return (f"[[services]]\nname = \"svc-{service:05d}\"\ncluster_ip = \"{vip_address(service)}\"\n"
                f"ports = [{{ name = \"http\", protocol = \"TCP\", port = {SERVICE_PORT}, "
                f"target_port = {TARGET_PORT} }}]\nendpoints = [{endpoints}]\n\n")

    def text(self, extra_service=None, union=False):
        """The file: every service with its endpoints; `extra_service` (an index) or every
        service (`union`) with the 11th endpoint as well."""
        parts = [self.head_text()]
        if union:
            parts.extend(self.service_text(s, True) for s in range(self.scale.vips))
        else:
            parts.extend(self._service_text)
            if extra_service is not None:
                parts[1 + extra_service] = self.service_text(extra_service, True)
        return "".join(parts)


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)  # a SIGHUP never sees half a file
    return path


# ---------------------------------------------------------------------------------------------
# Processes


class Process:
    """A child in its own process group (session), output to files in the scratch directory;
    killed with its whole group at the end, whatever happens."""

    def __init__(self, suite, name, argv, stdout_path=None):
        self.suite, self.name, self.argv = suite, name, argv
        self.log_path = suite.scratch_path(f"{name}.log")
        self.stdout_path = stdout_path
        self.process = None
        self.started = None
        self._err = self._out = None

    def start(self):
        self._err = open(self.log_path, "wb")
        self._out = open(self.stdout_path, "wb") if self.stdout_path else None
        self.process = subprocess.Popen(self.argv, stdout=self._out or self._err, stderr=self._err,
                                        stdin=subprocess.DEVNULL, start_new_session=True,
                                        preexec_fn=_child_setup)
        self.started = time.monotonic()
        self.suite.processes.append(self)
        return self

    @property
    def pid(self):
        return self.process.pid

    @property
    def returncode(self):
        return None if self.process is None else self.process.returncode

    def running(self):
        """Without reaping: while the leader is unreaped its process group id cannot be reused,
        so stop() can always signal the group safely."""
        if self.process is None or self.process.returncode is not None:
            return False
        try:
            return os.waitid(os.P_PID, self.process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
        except ChildProcessError:
            return False

    def wait_exit(self, timeout):
        """True once the process has exited (not reaped), False after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while self.running():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def tail(self, lines=25):
        return "\n".join(self.log_text().splitlines()[-lines:])

    def _signal_group(self, number):
        try:
            os.killpg(self.process.pid, number)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, grace=15.0, number=signal.SIGTERM):
        """Signal the group, wait up to `grace`, SIGKILL what is left of the group, reap.
        Idempotent; returns the exit status."""
        if self.process is None:
            return None
        if self.process.returncode is None:
            if self.running():
                self._signal_group(number)
                if not self.wait_exit(grace):
                    log(f"{self.name} (pid {self.pid}) did not stop within {grace:.0f} s: SIGKILL")
            # The leader is at most a zombie here: its group id is still ours.
            self._signal_group(signal.SIGKILL)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                log(f"{self.name} (pid {self.pid}) survived SIGKILL for 30 s")
        for f in (self._err, self._out):
            if f:
                f.close()
        self._err = self._out = None
        return self.process.returncode


def summarize_endpoints(endpoints):
    """vipgen's per-endpoint list (up to 10k entries per run) as a summary for the results file."""
    shares = [e.get("share") for e in endpoints if isinstance(e, dict) and e.get("share") is not None]
    packets = [e.get("packets") or 0 for e in endpoints if isinstance(e, dict)]
    return {"count": len(endpoints), "with_traffic": sum(1 for p in packets if p > 0),
            "min_share": min(shares) if shares else None, "max_share": max(shares) if shares else None,
            "packets": sum(packets)}


def read_status(pid):
    """{field: kB} of /proc/PID/status memory fields."""
    values = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                m = re.match(r"^(Vm\w+|Rss\w+):\s+(\d+) kB", line)
                if m:
                    values[m.group(1)] = int(m.group(2))
    except OSError:
        pass
    return values


# ---------------------------------------------------------------------------------------------
# vipgate log parsing

# What vipgate prints today (control/daemon.cpp, control/stats_reporter.cpp; spdlog's default
# "[date time.ms] [level] text"). tests/integration/test_bench_parsers.py feeds the real binary's
# log to these parsers, so a change to those lines fails a test instead of a benchmark.
LOG_LINE = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})\] \[(\w+)\] (.*)$")
INTERVAL = re.compile(r"rx (\S+)pps, tx (\S+)pps, new (\S+)/s, active (\d+), drops (\S+)/s")
RUNNING = re.compile(r"\d+ worker\(s\) running")
# Daemon::reload(), in the order it logs them (the first from Daemon::publish(), during the
# reload): "SIGHUP: reloading PATH", then either
#   "generation N in use by all W workers U us after publication" (or "... not yet in use by every
#   worker after U us"), "generation N built in X ms: ...", "update applied: generation N in use by
#   every worker X ms after the reload began (parse and validate X ms, build X ms, publication U us)"
# or "update applied: generation N unchanged (...; validated in X ms)" (nothing published)
# or "reload rejected: ..." / "reload failed: ...".
RELOAD_START = re.compile(r"SIGHUP: reloading ")
RELOAD_PUBLISHED = re.compile(r"generation (\d+) in use by all (\d+) workers (\d+) us after publication")
RELOAD_STALLED = re.compile(r"generation (\d+) not yet in use by every worker after (\d+) us")
RELOAD_BUILT = re.compile(r"generation (\d+) built in ([\d.]+) ms")
RELOAD_APPLIED = re.compile(r"update applied: generation (\d+) in use by every worker ([\d.]+) ms after the reload "
                            r"began \(parse and validate ([\d.]+) ms, build ([\d.]+) ms, publication (\d+) us\)")
RELOAD_UNCHANGED = re.compile(r"update applied: generation (\d+) unchanged \(.*validated in ([\d.]+) ms\)")
RELOAD_REJECTED = re.compile(r"reload (rejected|failed): ")


def parse_rate(text):
    if text in ("-", ""):
        return None
    scale = 1.0
    if text[-1] in "Mk":
        scale = 1e6 if text[-1] == "M" else 1e3
        text = text[:-1]
    try:
        return float(text) * scale
    except ValueError:
        return None


def log_timestamp(text):
    return datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").timestamp()


def log_entries(text):
    """(unix time, level, message) for every spdlog line (continuation lines are skipped)."""
    entries = []
    for line in text.splitlines():
        m = LOG_LINE.match(line)
        if m:
            entries.append((log_timestamp(m.group(1)), m.group(2), m.group(3)))
    return entries


def parse_final_counters(text):
    index = text.rfind("final counters:")
    if index < 0:
        return None
    counters = {}
    for line in text[index:].splitlines()[1:]:
        m = re.match(r"^\s+([a-z_][a-z0-9_.]*)\s+(\d+)\s*$", line)
        if m:
            counters[m.group(1)] = int(m.group(2))
        elif not line.startswith(" ") or line.startswith("per-endpoint"):
            break
    return counters


def parse_reloads(text):
    """One dict per SIGHUP reload in a vipgate log, in order: start (log time of "SIGHUP:
    reloading"), then for a published generation: generation, workers, publish_us, build_ms,
    load_ms (vipgate's "parse and validate" figure), reload_ms (reload start to every worker)
    and in_use (log time of "update applied"); for an unchanged one: generation, unchanged,
    load_ms and in_use (what the file asks for is in use already); for a refusal: rejected (the
    message). A generation that workers did not all take up gets "stalled" and no in_use."""
    reloads = []
    current = None
    for when, _, message in log_entries(text):
        if RELOAD_START.match(message):
            current = {"start": when}
            reloads.append(current)
            continue
        if current is None:
            continue
        m = RELOAD_PUBLISHED.match(message)
        if m:
            current.update(generation=int(m.group(1)), workers=int(m.group(2)), publish_us=int(m.group(3)))
            continue
        m = RELOAD_STALLED.match(message)
        if m:
            current.update(generation=int(m.group(1)), stalled=message)
            continue
        m = RELOAD_BUILT.match(message)
        if m:
            current.update(generation=int(m.group(1)), build_ms=float(m.group(2)))
            continue
        m = RELOAD_APPLIED.match(message)
        if m:
            current.update(generation=int(m.group(1)), reload_ms=float(m.group(2)), load_ms=float(m.group(3)),
                           build_ms=float(m.group(4)), publish_us=int(m.group(5)))
            if "stalled" not in current:
                current["in_use"] = when
            current = None
            continue
        m = RELOAD_UNCHANGED.match(message)
        if m:
            current.update(generation=int(m.group(1)), unchanged=True, load_ms=float(m.group(2)), in_use=when)
            current = None
            continue
        if RELOAD_REJECTED.match(message):
            current["rejected"] = message
            current = None
    return reloads


def parse_intervals(text):
    out = []
    for when, _, message in log_entries(text):
        m = INTERVAL.search(message)
        if m:
            out.append({"time": when, "rx_pps": parse_rate(m.group(1)), "tx_pps": parse_rate(m.group(2)),
                        "new_per_s": parse_rate(m.group(3)), "active": int(m.group(4)),
                        "drops_per_s": parse_rate(m.group(5))})
    return out


# ---------------------------------------------------------------------------------------------
# Devices under test


class Testpmd:
    def __init__(self, suite, forward_mode, tag):
        self.suite, self.forward_mode = suite, forward_mode
        self.prefix = suite.file_prefix(tag)
        self.socket_path = suite.scratch_path(f"{tag}.sock")
        self.name = tag
        self.proc = None

    def argv(self):
        return [self.suite.testpmd, f"--lcores=0@{DUT_CPU},1@{DUT_CPU}", "--no-huge", "-m", "512", "--no-pci",
                "--no-shconf", "--no-telemetry", f"--file-prefix={self.prefix}",
                f"--vdev=net_memif0,role=server,socket={self.socket_path}", "--",
                f"--forward-mode={self.forward_mode}", "--no-mlockall", "--stats-period=1",
                "--total-num-mbufs=16384", "--rxd=1024", "--txd=1024"]

    def start(self):
        self.suite.remove_socket(self.socket_path)
        self.proc = Process(self.suite, self.name, self.argv()).start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            text = self.proc.log_text()
            if re.search(r"packet forwarding - ports=\d+", text):
                return self
            if not self.proc.running():
                raise BenchError(f"dpdk-testpmd exited (status {self.proc.stop()}) during start-up:\n"
                                 f"{self.proc.tail()}")
            time.sleep(0.05)
        raise BenchError(f"dpdk-testpmd did not start forwarding within 30 s:\n{self.proc.tail()}")

    def stop(self):
        status = self.proc.stop()
        self.suite.remove_socket(self.socket_path)
        text = self.proc.log_text()
        summary = {"exit_status": status}
        block = text[text.rfind("Accumulated forward statistics"):] if "Accumulated forward statistics" in text else ""
        m = re.search(r"RX-packets:\s+(\d+)\s+RX-dropped:\s+(\d+)\s+RX-total:\s+(\d+)\s+TX-packets:\s+(\d+)\s+"
                      r"TX-dropped:\s+(\d+)", block)
        if m:
            summary.update(rx_packets=int(m.group(1)), rx_dropped=int(m.group(2)), tx_packets=int(m.group(4)),
                           tx_dropped=int(m.group(5)))
        # testpmd's own per-second figures (--stats-period=1): a cross-check of vipgen's numbers.
        rx = [int(x) for x in re.findall(r"Rx-pps:\s+(\d+)", text)]
        tx = [int(x) for x in re.findall(r"Tx-pps:\s+(\d+)", text)]
        summary.update(peak_rx_pps=max(rx, default=None), peak_tx_pps=max(tx, default=None))
        return summary


class Vipgate:
    def __init__(self, suite, config, tag):
        self.suite, self.config, self.name = suite, config, tag
        self.config_path = suite.scratch_path(f"{tag}.toml")
        self.proc = None

    def start(self, text=None):
        write_atomic(self.config_path, text if text is not None else self.config.text())
        self.suite.remove_socket(self.config.socket_path)
        self.proc = Process(self.suite, self.name, [self.suite.vipgate, "--config", self.config_path]).start()
        # A 12.5M-entry table is written entry by entry at start-up: allow for it.
        timeout = 30 + self.config.capacity / 1e6 * 3
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.proc.log_text()
            if RUNNING.search(text):
                self.started_log_offset = len(text)
                return self
            if not self.proc.running():
                raise BenchError(f"vipgate exited (status {self.proc.stop()}) during start-up:\n"
                                 f"{self.proc.tail()}")
            time.sleep(0.05)
        raise BenchError(f"vipgate did not report its workers running within {timeout:.0f} s:\n{self.proc.tail()}")

    def memory(self):
        return read_status(self.proc.pid)

    def intervals(self):
        return parse_intervals(self.proc.log_text())

    def active_connections(self):
        intervals = self.intervals()
        return intervals[-1]["active"] if intervals else None

    def wait_active(self, flows, timeout, stop_if=None):
        """Waits until the interval line reports at least `flows` tracked connections."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            active = self.active_connections()
            if active is not None and active >= flows:
                return True
            if not self.proc.running() or (stop_if and stop_if()):
                return False
            time.sleep(0.2)
        return False

    def stop(self):
        status = self.proc.stop(grace=30)
        self.suite.remove_socket(self.config.socket_path)
        text = self.proc.log_text()
        counters = parse_final_counters(text)
        drops = {k[5:]: v for k, v in (counters or {}).items() if k.startswith("drop.")}
        problems = [f"{level}: {message}" for _, level, message in log_entries(text)
                    if level in ("error", "critical")]
        return {"exit_status": status, "final_counters": counters, "drops": drops,
                "errors_logged": problems[:20]}


# ---------------------------------------------------------------------------------------------
# The suite


class Suite:
    def __init__(self, args):
        self.args = args
        self.settings = Settings(args)
        self.build_dir = os.path.abspath(args.build_dir)
        self.vipgen = args.vipgen or os.path.join(self.build_dir, "pktgen", "vipgen")
        self.vipgate = args.vipgate or os.path.join(self.build_dir, "control", "vipgate")
        self.testpmd = args.testpmd
        self.out_dir = os.path.abspath(args.out)
        self.scratch = tempfile.mkdtemp(prefix="vipgate-bench-", dir="/tmp")
        self.processes = []
        self.prefixes = []
        self.sockets = set()
        self.runs = {}            # id -> run record (insertion order = execution order)
        self.derived = {}
        self.failures = []
        self.started = time.time()
        self.interrupted = False
        self.only = set(args.only.split(",")) if args.only else None

    # ---- resources

    def scratch_path(self, name):
        return os.path.join(self.scratch, name)

    def file_prefix(self, tag):
        prefix = f"vb{os.getpid() % 100000}-{tag}"[:40]
        self.prefixes.append(prefix)
        shutil.rmtree(f"/var/run/dpdk/{prefix}", ignore_errors=True)
        return prefix

    def remove_socket(self, path):
        self.sockets.add(path)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass

    def cleanup(self, keep_scratch):
        for proc in self.processes:
            if proc.running():
                log(f"stopping {proc.name} (pid {proc.pid})")
            try:
                proc.stop(grace=5)
            except Exception as error:  # keep going: every other child must still be stopped
                log(f"could not stop {proc.name}: {error}")
        for path in self.sockets:
            try:
                os.unlink(path)
            except OSError:
                pass
        for prefix in self.prefixes:
            shutil.rmtree(f"/var/run/dpdk/{prefix}", ignore_errors=True)
        if keep_scratch:
            log(f"logs kept in {self.scratch}")
        else:
            shutil.rmtree(self.scratch, ignore_errors=True)

    # ---- vipgen

    def vipgen_command(self, tag, socket_path, mode, pattern, flows, *, rate=0, duration=None, configs=(),
                       search=False, warmup_rate=None, memory_mb=1024):
        prefix = self.file_prefix(tag)
        eal = (f"--no-huge -m {memory_mb} --no-pci --no-shconf --no-telemetry --file-prefix {prefix} "
               f"--lcores 0@{GEN_CPU},1@{GEN_CPU}")
        argv = [self.vipgen, "--eal", eal, "--port", f"net_memif0,role=client,socket={socket_path}",
                "--lcores", "1", "--mode", mode]
        for config in configs:
            argv += ["--config", config]
        argv += ["--pattern", pattern, "--protocol", "tcp", "--size", "64", "--rate", str(int(rate)),
                 "--duration", str(duration), "--seed", str(self.settings.seed), "--json"]
        if pattern in ("established", "mixed", "lifecycle"):
            argv += ["--flows", str(flows)]
            if warmup_rate:
                argv += ["--warmup-rate", str(int(warmup_rate))]
        if search:
            argv += ["--search", "--pdr-loss", str(self.settings.pdr_loss), "--precision",
                     str(self.settings.precision)]
        return argv

    def run_vipgen(self, tag, argv, timeout, during=None):
        """Runs vipgen to completion; `during(proc)` runs meanwhile (the storm). Returns
        (exit status, JSON or None, stderr tail, elapsed seconds)."""
        out_path = self.scratch_path(f"{tag}.json")
        proc = Process(self, tag, argv, stdout_path=out_path).start()
        log(f"  {tag}: vipgen {' '.join(shlex.quote(a) for a in argv[1:])}")
        started = time.monotonic()
        try:
            if during is not None:
                during(proc)
            if not proc.wait_exit(max(1.0, timeout - (time.monotonic() - started))):
                proc.stop(grace=5, number=signal.SIGINT)
                raise BenchError(f"vipgen did not finish within {timeout:.0f} s; last output:\n{proc.tail()}")
        finally:
            if proc.running():
                proc.stop(grace=5, number=signal.SIGINT)
        elapsed = time.monotonic() - started
        status = proc.stop()
        try:
            with open(out_path) as f:
                raw = f.read()
        except OSError:
            raw = ""
        result = None
        # The JSON object is the last thing on stdout.
        start = raw.find("{")
        if start >= 0:
            try:
                result = json.loads(raw[start:])
            except json.JSONDecodeError:
                result = None
        if isinstance(result, dict) and isinstance(result.get("endpoints"), list):
            result["endpoints"] = summarize_endpoints(result["endpoints"])
        return status, result, proc.tail(), elapsed

    def vipgen_timeout(self, flows, warmup_rate, duration, search):
        warm = flows / max(warmup_rate, 1) * 3 + 10
        trials = 30 if search else 1
        return 60 + warm + trials * (duration + 3)

    # ---- one measurement: fresh DUT, one vipgen run, DUT stopped

    def measure(self, run_id, *, title, group, dut, scale, pattern="established", rate=0, duration=None,
                search=False, kind="max", extra=None, repeats=1, pick="median"):
        """dut: "io" | "macswap" | "vipgate". Runs `repeats` repetitions, each with a freshly
        started DUT, and records the one with the median DUT rate as the run (all are kept under
        "repetitions"). Status: ok / errors (wrong packets) / failed (did not run)."""
        s = self.settings
        duration = duration or s.trial_s
        record = {"id": run_id, "title": title, "group": group, "kind": kind, "dut": dut, "pattern": pattern,
                  "vips": scale.vips if dut == "vipgate" else None,
                  "endpoints_per_vip": scale.endpoints if dut == "vipgate" else None,
                  "flows": scale.flows if pattern != "new" else None, "rate_pps": rate, "duration_s": duration,
                  "search": search, "status": "failed", "problems": [], "notes": []}
        if extra:
            record.update(extra)
        self.runs[run_id] = record
        log(f"{run_id}: {title}" + (f" ({repeats} repetitions)" if repeats > 1 else ""))
        started = time.monotonic()
        reps = []
        for index in range(repeats):
            tag = run_id if repeats == 1 else f"{run_id}-r{index + 1}"
            rep = {"status": "failed", "problems": [], "notes": []}
            reps.append(rep)
            self.measure_once(rep, tag, dut, scale, pattern, rate, duration, search)
            if rep["status"] == "failed" and index == 0 and repeats > 1:
                break   # it will not work better the second time
        rank = {"ok": 0, "errors": 1, "failed": 2}
        worst = max(reps, key=lambda r: rank[r["status"]])
        if pick == "best_ndr":
            # Searches: the best of the repetitions (a sporadic loss of a few packets, from
            # another process taking the CPU for a moment, pulls a single NDR far down).
            rated = sorted((r for r in reps if ((r.get("vipgen") or {}).get("search") or {}).get("ndr_pps")),
                           key=lambda r: r["vipgen"]["search"]["ndr_pps"])
            chosen = rated[-1] if rated else worst
        else:
            rated = sorted((r for r in reps if (r.get("vipgen") or {}).get("dut_pps") is not None),
                           key=lambda r: r["vipgen"]["dut_pps"])
            chosen = rated[(len(rated) - 1) // 2] if rated else worst
        record.update({k: v for k, v in chosen.items() if k not in ("status", "problems", "notes")})
        record["status"] = worst["status"]
        for rep in reps:
            for field in ("problems", "notes"):
                for item in rep[field]:
                    if item not in record[field]:
                        record[field].append(item)
        if repeats > 1:
            record["repetitions"] = [{"dut_pps": (r.get("vipgen") or {}).get("dut_pps"),
                                      "ndr_pps": ((r.get("vipgen") or {}).get("search") or {}).get("ndr_pps"),
                                      "tx_pps": (r.get("vipgen") or {}).get("tx_pps"),
                                      "loss_ratio": (r.get("vipgen") or {}).get("loss_ratio"),
                                      "status": r["status"], "vipgen": r.get("vipgen"),
                                      "dut_summary": r.get("dut_summary")} for r in reps]
        record["elapsed_s"] = round(time.monotonic() - started, 1)
        if record["status"] != "ok":
            self.failures.append(f"{run_id}: {'; '.join(record['problems'])[:600]}")
        spread = ""
        if repeats > 1:
            field = "ndr_pps" if search else "dut_pps"
            spread = f" [repetitions: {', '.join(fmt_mpps(r.get(field)) for r in record['repetitions'])} Mpps]"
        log(f"{run_id}: {record['status']}" + (f" ({record['problems'][0][:300]})" if record["problems"] else "")
            + self.headline(record) + spread)
        return record

    def measure_once(self, rep, tag, dut, scale, pattern, rate, duration, search):
        s = self.settings
        device = None
        rep.update(pattern=pattern, rate_pps=rate, search=search, dut=dut,
                   flows=scale.flows if pattern != "new" else None)
        try:
            if dut in ("io", "macswap"):
                device = Testpmd(self, dut, f"{tag}-dut")
                device.start()
                socket_path, mode, configs = device.socket_path, "forwarder", []
                warmup = s.forwarder_warmup_rate
            else:
                config = VipgateConfig(scale, self.file_prefix(f"{tag}-dut"), self.scratch_path(f"{tag}-dut.sock"))
                device = Vipgate(self, config, f"{tag}-dut")
                device.start()
                rep["vipgate_config"] = {"capacity": config.capacity, "eal_args": config.eal_args}
                rep["rss_kb_idle"] = device.memory().get("VmRSS")
                socket_path, mode, configs = config.socket_path, "vipgate", [device.config_path]
                warmup = s.warmup_rate
            argv = self.vipgen_command(f"{tag}-gen", socket_path, mode, pattern, scale.flows, rate=rate,
                                       duration=duration, configs=configs, search=search,
                                       warmup_rate=warmup, memory_mb=scale.gen_memory_mb())
            if pattern == "new":
                argv.append("--silent-backends")  # one pass through the DUT per connection (see HEADER)
            rep["command"] = " ".join(shlex.quote(a) for a in argv)
            timeout = self.vipgen_timeout(scale.flows if pattern != "new" else 0, warmup, duration, search)
            during = None
            if isinstance(device, Vipgate) and pattern == "established":
                def during(gen):
                    # Resident memory right after the warm-up opened every flow.
                    if device.wait_active(scale.flows, timeout, stop_if=lambda: not gen.running()):
                        rep["rss_kb_at_flows"] = device.memory().get("VmRSS")
                        rep["active_at_flows"] = device.active_connections()
            status, result, tail, elapsed = self.run_vipgen(f"{tag}-gen", argv, timeout, during=during)
            rep.update(vipgen_exit=status, vipgen=result, vipgen_elapsed_s=round(elapsed, 1))
            if isinstance(device, Vipgate):
                # Memory with the flows still tracked (established flows outlive vipgen's run).
                time.sleep(0.6)   # one stats interval: the "active" gauge is fresh
                memory = device.memory()
                rep["rss_kb"] = memory.get("VmRSS")
                rep["hwm_kb"] = memory.get("VmHWM")
                rep["active_connections"] = device.active_connections()
                rep["active_peak"] = max((i["active"] for i in device.intervals()), default=None)
                intervals = device.intervals()
                new_rates = [i["new_per_s"] for i in intervals if i["new_per_s"]]
                rep["vipgate_max_new_per_s"] = max(new_rates) if new_rates else None
                # New connections per second once the table is full (each insert evicts), from
                # vipgate's 0.5 s stats lines.
                full = [i["new_per_s"] for i in intervals
                        if i["new_per_s"] and i["active"] >= 0.999 * config.capacity]
                rep["vipgate_new_per_s_table_full"] = statistics.median(full) if len(full) >= 3 else None
            self.judge(rep, status, result, tail)
        except BenchError as error:
            rep["problems"].append(str(error))
            rep["status"] = "failed"
        finally:
            if device is not None and device.proc is not None:
                rep["dut_summary"] = device.stop()
                if isinstance(device, Vipgate) and rep["dut_summary"]["final_counters"] is None:
                    rep["problems"].append("vipgate printed no final counters (crashed?): " + device.proc.tail(10))
                    rep["status"] = "failed"
        self.add_notes(rep)
        return rep

    @staticmethod
    def add_notes(record):
        """Facts worth a line that do not make a run fail."""
        notes = record.setdefault("notes", [])
        r = record.get("vipgen") or {}
        if r.get("alloc_failures"):
            notes.append(f"vipgen mbuf allocation failures: {r['alloc_failures']:,}")
        warm = r.get("warmup_check_failures")
        if isinstance(warm, dict) and any(warm.values()):
            notes.append("checks failed during the warm-up: " +
                         ", ".join(f"{k} {v:,}" for k, v in warm.items() if v))
        if record.get("pattern") == "established" and r.get("flows_opened") is not None and record.get("flows") \
                and record.get("dut") == "vipgate" and r["flows_opened"] < record["flows"]:
            notes.append(f"the warm-up opened {r['flows_opened']:,} of {record['flows']:,} flows")
        drops = dict((record.get("dut_summary") or {}).get("drops") or {})
        if not record.get("rate_pps") or record.get("search"):
            # Overload by design: the memif ring towards the generator fills up.
            drops.pop("tx_queue_full", None)
        if drops:
            notes.append("vipgate drops: " + ", ".join(f"{k} {v:,}" for k, v in
                                                        sorted(drops.items(), key=lambda kv: -kv[1])))
        logged = (record.get("dut_summary") or {}).get("errors_logged") or []
        if logged:
            notes.append(f"vipgate logged {len(logged)} error line(s), first: {logged[0][:200]}")

    @staticmethod
    def headline(record):
        r = record.get("vipgen") or {}
        if r.get("search"):
            search = r["search"]
            return f"; NDR {fmt_mpps(search.get('ndr_pps'))} Mpps, PDR {fmt_mpps(search.get('pdr_pps'))} Mpps (client)"
        if "dut_pps" in r:
            return (f"; DUT {fmt_mpps(r.get('dut_pps'))} Mpps, sent {fmt_mpps(r.get('tx_pps'))} Mpps, "
                    f"loss {100 * (r.get('loss_ratio') or 0):.3f} %")
        return ""

    def judge(self, record, status, result, tail):
        """ok: vipgen ran and every check was clean (loss allowed where the run expects it);
        errors: it ran but found wrong packets; failed: it did not run."""
        if result is None:
            record["problems"].append(f"vipgen exit status {status}, no JSON result; stderr:\n{tail}")
            record["status"] = "failed"
            return
        if status not in (0, 1):
            record["problems"].append(f"vipgen exit status {status}; stderr:\n{tail}")
            record["status"] = "failed"
            return
        errors = {f: result.get(f) for f in ERROR_FIELDS if result.get(f)}
        if errors:
            record["problems"].append("wrong packets: " + ", ".join(f"{k} {v}" for k, v in errors.items()))
            record["status"] = "errors"
            return
        # Loss is a measurement here, not an error: max-load and search trials lose packets by
        # design, and a latency or storm trial reports its loss in the tables.
        if status == 1 and not result.get("lost"):
            record["problems"].append("vipgen exit status 1 without lost or wrong packets in its JSON; stderr:\n"
                                      + tail)
            record["status"] = "errors"
            return
        if result.get("lost") and record["rate_pps"] and not record["search"]:
            record.setdefault("notes", []).append(
                f"{result['lost']:,} packets lost at {fmt_mpps(record['rate_pps'])} Mpps "
                f"({100 * (result.get('loss_ratio') or 0):.4f} %)")
        record["status"] = "ok"

    # ---- steps

    def wanted(self, step):
        return self.only is None or step in self.only

    def scales(self):
        names = ["small", "mid"] + ([] if self.settings.skip_large else ["large"])
        return [self.settings.scales[n] for n in names]

    def step_generator(self):
        """vipgen alone: one lcore generating into a net_null port (no receive side), so the
        figure is the generator's own ceiling: templates, bulk allocation, no syscalls."""
        s = self.settings
        flows = s.scales["mid"].flows
        tag = "generator-null"
        prefix = self.file_prefix(tag)
        argv = [self.vipgen, "--eal", f"--no-huge -m 1024 --no-pci --no-shconf --no-telemetry --file-prefix {prefix} "
                                      f"--lcores 0@{GEN_CPU},1@{DUT_CPU}",
                "--port", "net_null0,no-rx=1", "--mode", "forwarder", "--pattern", "established",
                "--flows", str(flows), "--protocol", "tcp", "--size", "64", "--duration", str(s.trial_s), "--json"]
        status, result, tail, _ = self.run_vipgen(tag, argv, timeout=60 + s.trial_s)
        record = {"id": tag, "group": "generator", "kind": "generator", "status": "failed", "problems": [],
                  "notes": [], "title": f"vipgen into net_null, 1 lcore, {human(flows)} flows, 64-byte frames"}
        if result is None:
            record["problems"].append(f"vipgen printed no result (exit {status}): {tail}")
            self.failures.append(f"{tag}: vipgen printed no result")
        else:
            record.update(status="ok", vipgen=result)
        self.runs[tag] = record

    def step_max(self):
        """Max offered load, per scale: testpmd io, testpmd macswap and vipgate one after the
        other (so drift hits all three alike), each the median of `repeats` runs."""
        s = self.settings
        for scale in self.scales():
            repeats = 1 if scale.key == "large" else s.repeats
            for dut in ("io", "macswap"):
                self.measure(f"testpmd-{dut}-{scale.key}", group="max", dut=dut, scale=scale, repeats=repeats,
                             title=f"dpdk-testpmd {dut}, {human(scale.flows)} flows")
            extra = " (and its memory)" if scale.key == "large" else ""
            self.measure(f"vipgate-{scale.key}", group="max", dut="vipgate", scale=scale, repeats=repeats,
                         title=f"vipgate established, {scale.label}, {scale.endpoints} endpoints each{extra}")

    def search_upper_bound(self, run_id, factor):
        """--rate for a search: a little above what the generator reached at max offered load."""
        r = (self.runs.get(run_id) or {}).get("vipgen") or {}
        return int(r["tx_pps"] * factor) if r.get("tx_pps") else 0

    def step_ndr(self):
        s = self.settings
        mid = s.scales["mid"]
        for dut, base in (("io", "testpmd-io-mid"), ("macswap", "testpmd-macswap-mid"), ("vipgate", "vipgate-mid")):
            name = f"testpmd {dut}, {human(mid.flows)} flows" if dut != "vipgate" else \
                f"vipgate established, {mid.label}"
            record = self.measure(f"ndr-{dut}", group="ndr", kind="search", dut=dut, scale=mid, search=True,
                                  rate=self.search_upper_bound(base, 1.05), duration=s.search_trial_s,
                                  repeats=s.search_repeats, pick="best_ndr",
                                  title=f"{name}: NDR / PDR search")
            ndr = ((record.get("vipgen") or {}).get("search") or {}).get("ndr_pps")
            if dut == "macswap":
                continue
            for share in (0.5, 0.9):
                if not ndr:
                    self.runs[f"lat-{dut}-{int(share * 100)}"] = {
                        "id": f"lat-{dut}-{int(share * 100)}", "group": "latency", "kind": "latency", "dut": dut,
                        "status": "failed", "problems": ["no NDR to derive the rate from"], "share": share,
                        "title": f"{name}: latency at {int(share * 100)} % of NDR", "notes": []}
                    self.failures.append(f"lat-{dut}-{int(share * 100)}: no NDR to derive the rate from")
                    continue
                self.measure(f"lat-{dut}-{int(share * 100)}", group="latency", kind="latency", dut=dut, scale=mid,
                             rate=ndr * share, duration=s.latency_s, extra={"share": share, "ndr_pps": ndr},
                             title=f"{name}: latency at {int(share * 100)} % of NDR")

    def step_new_flows(self):
        """Every packet a new connection. Two regimes: a table with room for every connection of
        the trial (the table of the 10M-flow case; the trial is short enough to stay under 80 %
        of it), and the 1M-flow case's table, which fills within a second so that each new
        connection has to evict a half-open one. The NDR search runs against the full table."""
        s = self.settings
        mid = s.scales["mid"]
        big = s.scales["large"].capacity if not s.quick else 2_500_000
        room = Scale("new-room", mid.vips, mid.endpoints, mid.flows, capacity=big)
        # At most ~2.5 M/s on this machine: keep the trial's connections under 80 % of the table.
        room_s = max(1, min(s.trial_s, int(0.8 * big / 2.5e6)))
        self.measure("new-max", group="new", dut="vipgate", scale=room, pattern="new", duration=room_s,
                     repeats=s.repeats,
                     title=f"vipgate new flows (every packet a new connection), {human(mid.vips)} VIPs, "
                           f"table of {human(big)} with room, max offered load, {room_s} s")
        self.measure("new-full", group="new", dut="vipgate", scale=mid, pattern="new", repeats=1,
                     title=f"vipgate new flows, {human(mid.vips)} VIPs, table of {human(mid.capacity)} "
                           f"(full after a second: every insert evicts), max offered load")
        self.measure("new-ndr", group="new", kind="search", dut="vipgate", scale=mid, pattern="new", search=True,
                     rate=self.search_upper_bound("new-full", 1.05), duration=s.search_trial_s,
                     repeats=s.search_repeats, pick="best_ndr",
                     title=f"vipgate new flows, {human(mid.vips)} VIPs, full table of {human(mid.capacity)}: "
                           f"NDR / PDR search")

    def step_memory(self):
        """The cost of a tracked connection: vipgate-large (step_max) recorded its resident memory
        holding the flows; here the same vipgate with a 1024-entry table, after a small run."""
        if self.settings.skip_large:
            return
        s = self.settings
        large = s.scales["large"]
        # Reference: identical configuration (and -m) but capacity 1024, 1k flows for a short while.
        ref_scale = Scale("ref", large.vips, large.endpoints, 1000)
        record = {"id": "memory-ref", "group": "memory", "kind": "memory", "dut": "vipgate", "status": "failed",
                  "problems": [], "title": f"vipgate, {human(large.vips)} VIPs, conntrack capacity 1024 "
                                          f"(memory reference), 1k flows"}
        self.runs["memory-ref"] = record
        log(f"memory-ref: {record['title']}")
        device = None
        try:
            config = VipgateConfig(ref_scale, self.file_prefix("memory-ref-dut"),
                                   self.scratch_path("memory-ref-dut.sock"), capacity=1024,
                                   memory_mb=large.dut_memory_mb())
            device = Vipgate(self, config, "memory-ref-dut")
            device.start()
            record["rss_kb_idle"] = device.memory().get("VmRSS")
            argv = self.vipgen_command("memory-ref-gen", config.socket_path, "vipgate", "established", 1000,
                                       duration=min(2, s.trial_s), configs=[device.config_path],
                                       warmup_rate=s.warmup_rate)
            status, result, tail, elapsed = self.run_vipgen("memory-ref-gen", argv, 120)
            record.update(vipgen_exit=status, vipgen=result, rate_pps=0, search=False)
            time.sleep(0.6)
            mem = device.memory()
            record.update(rss_kb=mem.get("VmRSS"), hwm_kb=mem.get("VmHWM"),
                          active_connections=device.active_connections())
            self.judge(record, status, result, tail)
        except BenchError as error:
            record["problems"].append(str(error))
        finally:
            if device is not None and device.proc is not None:
                record["dut_summary"] = device.stop()
        self.add_notes(record)
        if record["status"] != "ok":
            self.failures.append(f"memory-ref: {'; '.join(record['problems'])[:600]}")
        log(f"memory-ref: {record['status']}, RSS {record.get('rss_kb')} kB")

    def step_storm(self):
        """Update storm: established flows at 90 % of the NDR while 10 updates a second add and
        remove an 11th endpoint on a rotating service (file rewritten atomically + SIGHUP); before
        it, a control run of the same traffic without updates, so that loss the set-up has anyway
        at that rate is told apart from loss the updates cause."""
        s = self.settings
        mid = s.scales["mid"]
        ndr = ((self.runs.get("ndr-vipgate") or {}).get("vipgen") or {}).get("search", {}) or {}
        ndr = ndr.get("ndr_pps")
        notes = []
        if ndr:
            rate, basis = 0.9 * ndr, "90 % of the vipgate NDR"
        else:
            r = (self.runs.get("vipgate-mid") or {}).get("vipgen") or {}
            if r.get("tx_pps"):
                rate, basis = 0.5 * r["tx_pps"] * (1 - (r.get("loss_ratio") or 0)), \
                    "50 % of the max-load rate (no NDR available)"
            else:
                rate, basis = 1_000_000, "1 Mpps (no NDR or max-load rate available)"
            notes.append(f"rate fallback: {basis}")
        self.storm_run("storm-control", rate, basis, notes, updates_wanted=False,
                       title=f"update storm control: the same traffic without updates, {mid.label}")
        self.storm_run("storm", rate, basis, notes, updates_wanted=True,
                       title=f"update storm: {s.storm_rate_hz:.0f} updates/s for {s.storm_s} s, {mid.label}")

    def storm_run(self, run_id, rate, basis, notes, updates_wanted, title):
        s = self.settings
        mid = s.scales["mid"]
        record = {"id": run_id, "group": "storm", "kind": "storm", "dut": "vipgate", "pattern": "established",
                  "vips": mid.vips, "endpoints_per_vip": mid.endpoints, "flows": mid.flows, "status": "failed",
                  "problems": [], "notes": list(notes), "search": False, "title": title,
                  "rate_pps": rate, "rate_basis": basis}
        self.runs[run_id] = record
        log(f"{run_id}: {title}")
        started = time.monotonic()
        device = None
        updates = []
        try:
            config = VipgateConfig(mid, self.file_prefix(f"{run_id}-dut"), self.scratch_path(f"{run_id}-dut.sock"))
            device = Vipgate(self, config, f"{run_id}-dut")
            device.start()
            union_path = write_atomic(self.scratch_path(f"{run_id}-union.toml"), config.text(union=True))
            warm_s = mid.flows / s.warmup_rate
            duration = s.storm_s + 4
            argv = self.vipgen_command(f"{run_id}-gen", config.socket_path, "vipgate", "established", mid.flows,
                                       rate=rate, duration=duration, configs=[device.config_path, union_path],
                                       warmup_rate=s.warmup_rate, memory_mb=mid.gen_memory_mb())
            record["command"] = " ".join(shlex.quote(a) for a in argv)
            record["duration_s"] = duration

            def storm(gen):
                if not updates_wanted:
                    return
                period = 1.0 / s.storm_rate_hz
                count = int(s.storm_s * s.storm_rate_hz) // 2 * 2   # even: ends as it started
                # Every version of the file is rendered before the storm: this driver shares CPU 0
                # with the generator, and rendering 1k services per update would slow vipgen down.
                texts = [config.text(extra_service=(k // 2) % mid.vips if k % 2 == 0 else None)
                         for k in range(count)]
                # Start once the warm-up has opened the flows (vipgate's "active" gauge), so the
                # updates fall in vipgen's measured period.
                if not device.wait_active(mid.flows, warm_s * 3 + 20, stop_if=lambda: not gen.running()):
                    record["notes"].append("the flows did not all show up in vipgate's table; storm started "
                                           "anyway")
                time.sleep(0.5)
                next_at = time.monotonic()
                for k in range(count):
                    if not gen.running() or not device.proc.running():
                        break
                    service = (k // 2) % mid.vips
                    delay = next_at - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    write_atomic(device.config_path, texts[k])
                    sent = time.time()
                    device.proc.process.send_signal(signal.SIGHUP)
                    updates.append({"k": k, "service": service, "action": "add" if k % 2 == 0 else "remove",
                                    "sent": sent})
                    next_at += period

            status, result, tail, elapsed = self.run_vipgen(f"{run_id}-gen", argv,
                                                            self.vipgen_timeout(mid.flows, s.warmup_rate,
                                                                                duration, False),
                                                            during=storm)
            record.update(vipgen_exit=status, vipgen=result, vipgen_elapsed_s=round(elapsed, 1))
            self.judge(record, status, result, tail)
        except BenchError as error:
            record["problems"].append(str(error))
            record["status"] = "failed"
        finally:
            if device is not None and device.proc is not None:
                text = device.proc.log_text()
                record["dut_summary"] = device.stop()
                if updates_wanted:
                    record["updates"] = self.storm_latencies(updates, text)
            record["elapsed_s"] = round(time.monotonic() - started, 1)
        self.add_notes(record)
        u = record.get("updates") or {}
        if updates_wanted and record["status"] == "ok" and not u.get("sent"):
            record["problems"].append("no update was sent (the warm-up never completed?)")
            record["status"] = "failed"
        if u.get("rejected") or u.get("not_in_use"):
            record["problems"].append(f"{u.get('sent')} updates sent: {u.get('rejected')} reloads rejected, "
                                      f"{u.get('not_in_use')} updates never in use")
            if record["status"] == "ok":
                record["status"] = "errors"
        if u.get("coalesced"):
            record["notes"].append(f"{u['coalesced']} of {u['sent']} SIGHUPs arrived during a reload and were "
                                   f"served by the next one (reload slower than the update period)")
        r = record.get("vipgen") or {}
        if r.get("tx_pps") and record.get("rate_pps") and r["tx_pps"] < 0.97 * record["rate_pps"]:
            record["notes"].append(f"the generator sent {fmt_mpps(r['tx_pps'])} Mpps of the "
                                   f"{fmt_mpps(record['rate_pps'])} Mpps asked")
        if record["status"] != "ok":
            self.failures.append(f"{run_id}: {'; '.join(record['problems'])[:600]}")
        log(f"{run_id}: {record['status']}" + self.headline(record)
            + (f"; updates {json.dumps(u)}" if updates_wanted else "")
            + "".join(f"; {n}" for n in record["notes"]))

    @staticmethod
    def storm_latencies(updates, text):
        """Pairs the SIGHUPs with vipgate's reloads (parse_reloads). An update is in use once the
        first reload that started after it was sent is in use by every worker (SIGHUPs that
        arrive during a reload are coalesced into the next one, which then serves all of them;
        that reload may find the file unchanged, the update then being in use already)."""
        reloads = parse_reloads(text)
        summary = {"sent": len(updates), "reloads": len(reloads),
                   "applied": sum(1 for r in reloads if "in_use" in r),
                   "unchanged": sum(1 for r in reloads if r.get("unchanged")),
                   "rejected": sum(1 for r in reloads if "rejected" in r),
                   "stalled": sum(1 for r in reloads if "stalled" in r)}
        end_to_end, unserved, coalesced = [], 0, 0
        served_by = []
        for update in updates:
            # spdlog truncates its timestamps to the millisecond: allow 1 ms.
            reload = next((r for r in reloads if r["start"] >= update["sent"] - 0.001), None)
            if reload is None or "in_use" not in reload:
                unserved += 1
                continue
            served_by.append(id(reload))
            end_to_end.append(max(0.0, (reload["in_use"] - update["sent"]) * 1000))
        coalesced = len(served_by) - len(set(served_by))
        published = [r for r in reloads if "in_use" in r and not r.get("unchanged")]

        def dist(values):
            if not values:
                return None
            values = sorted(values)
            return {"median": statistics.median(values), "p90": values[int(0.9 * (len(values) - 1))],
                    "max": values[-1], "count": len(values)}

        summary.update(not_in_use=unserved, coalesced=coalesced,
                       update_to_all_workers_ms=dist(end_to_end),
                       build_ms=dist([r["build_ms"] for r in published]),
                       load_ms=dist([r["load_ms"] for r in published]),
                       publication_to_all_workers_us=dist([r["publish_us"] for r in published]))
        return summary

    # ---- run everything

    def run(self):
        steps = [("generator", self.step_generator), ("max", self.step_max), ("ndr", self.step_ndr), ("new", self.step_new_flows), ("storm", self.step_storm),
                 ("memory", self.step_memory)]
        for name, function in steps:
            if not self.wanted(name):
                continue
            try:
                function()
            except Interrupted:
                raise
            except Exception as error:  # a bug or an unexpected condition: record it, go on
                self.failures.append(f"step {name}: unexpected {type(error).__name__}: {error}")
                log(f"step {name} broke:\n{traceback.format_exc()}")

    def preflight(self):
        problems = []
        if os.geteuid() != 0:
            problems.append("needs root (DPDK EAL)")
        for name, path in (("vipgen", self.vipgen), ("vipgate", self.vipgate)):
            if not os.access(path, os.X_OK):
                problems.append(f"{name} not found at {path} (build it: ninja -C {self.build_dir})")
        if not shutil.which(self.testpmd):
            problems.append(f"{self.testpmd} not found (apt install dpdk)")
        if (os.cpu_count() or 0) < 2:
            problems.append("needs two CPUs (generator on CPU 0, device under test on CPU 1)")
        return problems


# ---------------------------------------------------------------------------------------------
# Machine information


def command_output(argv, cwd=None):
    try:
        return subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def cpu_snapshot():
    """(busy seconds of all CPUs, steal seconds, CPU seconds used by this process and its reaped
    children) now."""
    import resource
    hz = os.sysconf("SC_CLK_TCK")
    busy = steal = 0.0
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        # user nice system idle iowait irq softirq steal guest guest_nice
        busy = (sum(fields[:8]) - fields[3] - fields[4] - fields[7]) / hz
        steal = fields[7] / hz if len(fields) > 7 else 0.0
    except (OSError, ValueError, IndexError):
        pass
    ours = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        ours += usage.ru_utime + usage.ru_stime
    return busy, steal, ours


def other_cpu_use(before, after, seconds):
    """CPU seconds that other processes (not this suite) and the hypervisor (steal) took
    between two snapshots: a measure of how undisturbed the run was."""
    busy = after[0] - before[0]
    ours = after[2] - before[2]
    cpus = os.cpu_count() or 1
    other = max(0.0, busy - ours)
    steal = after[1] - before[1]
    return {"other_cpu_s": round(other, 1), "other_share": round(other / (seconds * cpus), 3) if seconds else None,
            "steal_s": round(steal, 1), "steal_share": round(steal / (seconds * cpus), 3) if seconds else None,
            "seconds": round(seconds, 1)}


def machine_info(suite):
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mhz = command_output(["sh", "-c", "grep -m1 'cpu MHz' /proc/cpuinfo | cut -d: -f2"]).strip()
    hypervisor = command_output(["sh", "-c", "lscpu | sed -n 's/^Hypervisor vendor: *//p'"])
    mem_kb = 0
    try:
        with open("/proc/meminfo") as f:
            mem_kb = int(re.search(r"MemTotal:\s+(\d+)", f.read()).group(1))
    except (OSError, AttributeError):
        pass
    dpdk = command_output(["pkg-config", "--modversion", "libdpdk"]) or \
        command_output(["dpkg-query", "-W", "-f", "${Version}", "dpdk"])
    commit = command_output(["git", "describe", "--always", "--dirty", "--abbrev=12"], cwd=ROOT)
    compiler = command_output(["c++", "--version"]).splitlines()[:1]
    buildtype = ""
    try:
        with open(os.path.join(suite.build_dir, "meson-info", "intro-buildoptions.json")) as f:
            buildtype = next((o["value"] for o in json.load(f) if o["name"] == "buildtype"), "")
    except (OSError, ValueError, StopIteration):
        pass
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu_model": cpu, "cpu_mhz": mhz, "hypervisor": hypervisor or "none", "cpus": os.cpu_count(),
        "memory_gib": round(mem_kb / 2**20, 1), "kernel": platform.release(),
        "os": command_output(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "dpdk": dpdk, "testpmd": command_output(["sh", "-c", f"command -v {shlex.quote(suite.testpmd)}"]),
        "compiler": compiler[0] if compiler else "", "buildtype": buildtype, "vipgate_commit": commit,
        "loadavg_start": os.getloadavg(),
        "cpu_start": cpu_snapshot(),
        "cores": {
            "generator": f"vipgen on CPU {GEN_CPU}: EAL main lcore 0 (reports only) and worker lcore 1, "
                         f"--lcores 0@{GEN_CPU},1@{GEN_CPU}",
            "dut_testpmd": f"dpdk-testpmd on CPU {DUT_CPU}: main lcore 0 (stats, sleeps) and forwarding "
                           f"lcore 1, --lcores 0@{DUT_CPU},1@{DUT_CPU}",
            "dut_vipgate": f"vipgate on CPU {DUT_CPU}: control thread (EAL main lcore 0) and one worker "
                           f"(lcore 1), --lcores 0@{DUT_CPU},1@{DUT_CPU}",
            "driver": f"this script, pinned to CPU {GEN_CPU} (asleep during trials); the programs' EAL "
                      f"interrupt threads (idle) run on the other CPU",
        },
        "memory_mode": "--no-huge (4 KiB pages) for every process",
        "port": "net_memif (shared memory), DUT = role=server, vipgen = role=client, 1 RX + 1 TX queue, "
                "1024 descriptors",
    }


# ---------------------------------------------------------------------------------------------
# Results: derived figures, goals, markdown


def vg(run):
    return (run or {}).get("vipgen") or {}


def ok(run):
    return run is not None and run.get("status") == "ok"


def loss_breakdown(run):
    """Where vipgen's lost packets went, from its per-direction counters when it reports them
    (backend_rx_packets / backend_tx_packets), next to vipgate's own drop counters."""
    r = vg(run)
    drops = (run.get("dut_summary") or {}).get("drops") or {}
    out = {"lost": r.get("lost"), "vipgate_drops": sum(drops.values()) if drops else 0,
           "vipgate_drop_reasons": drops}
    if r.get("backend_rx_packets") is not None and r.get("backend_tx_packets") is not None \
            and r.get("tx_packets") is not None and r.get("rx_packets") is not None:
        out.update(client_to_backend=r["tx_packets"] - r["backend_rx_packets"],
                   backend_not_answered=r["backend_rx_packets"] - r["backend_tx_packets"],
                   backend_to_client=r["backend_tx_packets"] - r["rx_packets"])
    return out


def search_generator_bound(search):
    """True when a trial within the PDR loss could not even send the rate asked: the generator
    ran out of steam before the DUT lost (more than a trace of) packets."""
    limit = ((search or {}).get("pdr_loss_percent") or 0.5) / 100
    for trial in (search or {}).get("trials") or []:
        if (trial.get("loss_ratio") or 0) <= limit and trial.get("sent_pps") and trial.get("rate_pps") \
                and trial["sent_pps"] < 0.97 * trial["rate_pps"]:
            return True
    return False


def derive(suite):
    runs = suite.runs
    s = suite.settings
    d = {"throughput": [], "ndr": [], "latency": [], "goals": []}

    def baseline(mode, scale_key, field="dut_pps"):
        run = runs.get(f"testpmd-{mode}-{scale_key}")
        return vg(run).get(field) if ok(run) else None

    # Max offered load.
    for run in runs.values():
        if run.get("group") != "max":
            continue
        r = vg(run)
        scale_key = run["id"].rsplit("-", 1)[-1]
        loss = r.get("loss_ratio")
        row = {"id": run["id"], "title": run["title"], "dut": run["dut"], "status": run["status"],
               "flows": run.get("flows"), "vips": run.get("vips"), "dut_pps": r.get("dut_pps"),
               "tx_pps": r.get("tx_pps"), "rx_pps": r.get("rx_pps"), "loss_ratio": loss,
               "repetitions": [x["dut_pps"] for x in run.get("repetitions") or [] if x.get("dut_pps") is not None],
               "ratio_io": ratio(r.get("dut_pps"), baseline("io", scale_key)),
               "ratio_macswap": ratio(r.get("dut_pps"), baseline("macswap", scale_key)),
               # The DUT returned (nearly) everything: the generator, not the DUT, set the rate.
               "generator_bound": loss is not None and loss < 0.001}
        d["throughput"].append(row)

    # NDR / PDR (client packets per second -> packets the DUT forwarded per second).
    per_client = {}
    for dut in ("io", "macswap", "vipgate"):
        factor = 1.0
        lat = runs.get(f"lat-{dut}-50")
        if ok(lat) and vg(lat).get("tx_pps"):
            factor = vg(lat)["dut_pps"] / vg(lat)["tx_pps"]
        elif dut == "vipgate":
            factor = 2.0  # request and the backend's reply
        per_client[dut] = factor
    ndr_dut = {}
    for key in ("ndr-io", "ndr-macswap", "ndr-vipgate", "new-ndr"):
        run = runs.get(key)
        if run is None:
            continue
        search = vg(run).get("search") or {}
        dut = run["dut"]
        factor = per_client.get(dut, 1.0) if key != "new-ndr" else per_client.get("vipgate", 2.0)
        row = {"id": key, "title": run["title"], "status": run["status"], "ndr_pps": search.get("ndr_pps"),
               "pdr_pps": search.get("pdr_pps"), "factor": factor,
               "ndr_dut_pps": search["ndr_pps"] * factor if search.get("ndr_pps") else None,
               "pdr_dut_pps": search["pdr_pps"] * factor if search.get("pdr_pps") else None,
               "trials": len(search.get("trials") or []), "generator_bound": search_generator_bound(search)}
        ndr_dut[key] = row
    for key, row in ndr_dut.items():
        row["ratio_io"] = ratio(row["ndr_dut_pps"], (ndr_dut.get("ndr-io") or {}).get("ndr_dut_pps"))
        row["ratio_macswap"] = ratio(row["ndr_dut_pps"], (ndr_dut.get("ndr-macswap") or {}).get("ndr_dut_pps"))
        row["pdr_ratio_io"] = ratio(row["pdr_dut_pps"], (ndr_dut.get("ndr-io") or {}).get("pdr_dut_pps"))
        d["ndr"].append(row)

    # Latency at 50 % / 90 % of NDR.
    for dut in ("io", "vipgate"):
        for share in (50, 90):
            run = runs.get(f"lat-{dut}-{share}")
            if run is None:
                continue
            lat = vg(run).get("latency_ns") or {}
            base = vg(runs.get(f"lat-io-{share}")).get("latency_ns") or {} if ok(runs.get(f"lat-io-{share}")) else {}
            d["latency"].append({"id": run["id"], "dut": dut, "share": share, "status": run["status"],
                                 "rate_pps": run.get("rate_pps"), "dut_pps": vg(run).get("dut_pps"),
                                 "loss_ratio": vg(run).get("loss_ratio"), "latency": lat,
                                 "ratio_p50": ratio(lat.get("p50"), base.get("p50")),
                                 "ratio_p99": ratio(lat.get("p99"), base.get("p99"))})

    # New flows: each client packet opens a connection; a reply back means it was set up and
    # translated both ways.
    new_max = runs.get("new-max")
    new = {}
    if new_max is not None:
        r = vg(new_max)
        # Client -> backend packets the DUT forwarded = SYNs of new connections, translated and
        # checked by vipgen at the backend side; dut_pps counts both directions.
        forwarded = r["dut_pps"] - r["rx_pps"] if r.get("dut_pps") is not None and r.get("rx_pps") is not None \
            else None
        new = {"status": new_max["status"], "flows_per_s": forwarded, "answered_per_s": r.get("rx_pps"),
               "offered_per_s": r.get("tx_pps"), "dut_pps": r.get("dut_pps"), "loss_ratio": r.get("loss_ratio"),
               "vipgate_new_per_s_peak": new_max.get("vipgate_max_new_per_s"),
               "ratio_io": ratio(r.get("dut_pps"), baseline("io", "mid")),
               # vipgate set up (nearly) every connection offered: the generator set the pace.
               "generator_bound": bool(forwarded and r.get("tx_pps") and forwarded >= 0.99 * r["tx_pps"]),
               "loss": loss_breakdown(new_max)}
    new_full = runs.get("new-full")
    if new_full is not None:
        r = vg(new_full)
        new["full"] = {"status": new_full["status"], "offered_per_s": r.get("tx_pps"),
                       "flows_per_s": r["dut_pps"] - r["rx_pps"] if r.get("dut_pps") is not None
                       and r.get("rx_pps") is not None else None,
                       "table_full_per_s": new_full.get("vipgate_new_per_s_table_full"),
                       "peak_per_s": new_full.get("vipgate_max_new_per_s"),
                       "capacity": (new_full.get("vipgate_config") or {}).get("capacity")}
        new["per_worker"] = new["flows_per_s"]  # one worker
    d["new_flows"] = new

    # Memory.
    mem = {}
    large, ref = runs.get("vipgate-large"), runs.get("memory-ref")
    if large is not None:
        # Right after the warm-up opened the flows; failing that, after the run.
        mem["rss_kb"] = large.get("rss_kb_at_flows") or large.get("rss_kb")
        mem["measured"] = "after the warm-up" if large.get("rss_kb_at_flows") else "after the run"
        mem["rss_kb_after_run"] = large.get("rss_kb")
        mem["hwm_kb"] = large.get("hwm_kb")
        mem["tracked"] = large.get("active_at_flows") or large.get("active_connections")
        mem["tracked_after_run"] = large.get("active_connections")
        mem["capacity"] = (large.get("vipgate_config") or {}).get("capacity")
        mem["status"] = large["status"]
    if ref is not None:
        mem["ref_rss_kb"] = ref.get("rss_kb")
        mem["ref_status"] = ref["status"]
    if mem.get("rss_kb") and mem.get("ref_rss_kb") and mem.get("tracked"):
        grown = (mem["rss_kb"] - mem["ref_rss_kb"]) * 1024
        mem["bytes_per_connection"] = grown / mem["tracked"]
        mem["bytes_per_slot"] = grown / mem["capacity"] if mem.get("capacity") else None
    d["memory"] = mem

    # Storm.
    storm = runs.get("storm")
    d["storm"] = None

    def storm_figures(run):
        r = vg(run)
        return {"status": run["status"], "rate_pps": run.get("rate_pps"), "rate_basis": run.get("rate_basis"),
                "sent_pps": r.get("tx_pps"), "lost": r.get("lost"), "loss_ratio": r.get("loss_ratio"),
                "misdirected": r.get("misdirected"), "moved": r.get("moved"), "malformed": r.get("malformed"),
                "latency": r.get("latency_ns") or {}, "updates": run.get("updates"),
                "vipgate_drops": (run.get("dut_summary") or {}).get("drops"), "loss": loss_breakdown(run)}
    if storm is not None:
        d["storm"] = storm_figures(storm)
        if runs.get("storm-control") is not None:
            d["storm"]["control"] = storm_figures(runs["storm-control"])

    # Goals.
    def goal(name, measured, target, verdict, detail=""):
        d["goals"].append({"goal": name, "measured": measured, "target": target,
                           "verdict": verdict, "detail": detail})

    mid = s.scales["mid"]
    row = next((t for t in d["throughput"] if t["id"] == "vipgate-mid"), None)
    if row and row["status"] == "ok" and row["ratio_io"] is not None:
        detail = (f"{fmt_mpps(row['dut_pps'])} / {fmt_mpps(baseline('io', 'mid'))} Mpps forwarded, "
                  f"max offered load, same generator and flow count")
        if (next((t for t in d["throughput"] if t["id"] == "testpmd-io-mid"), {}) or {}).get("generator_bound"):
            detail += "; the testpmd figure is generator-bound, so the ratio is an upper bound"
        ndr_row = next((n for n in d["ndr"] if n["id"] == "ndr-vipgate"), None)
        if ndr_row and ndr_row.get("ratio_io") is not None:
            detail += f"; NDR ratio {ndr_row['ratio_io']:.2f}, PDR ratio {fmt_ratio(ndr_row.get('pdr_ratio_io'))}"
        goal(f"vipgate {human(mid.flows)} flows vs testpmd io", f"{row['ratio_io']:.2f}", f">= {GOAL_RATIO_1M:.2f}",
             "PASS" if row["ratio_io"] >= GOAL_RATIO_1M else "MISS", detail)
    else:
        goal(f"vipgate {human(mid.flows)} flows vs testpmd io", "-", f">= {GOAL_RATIO_1M:.2f}", "NOT MEASURED",
             "run failed or missing")
    if new.get("status") == "ok" and new.get("per_worker"):
        detail = "connections set up per second (SYNs translated to a backend) at max offered load, 1 worker"
        if new["generator_bound"]:
            detail += "; generator-bound: vipgate set up every connection offered, so this is a lower bound"
        full = new.get("full") or {}
        if full.get("table_full_per_s"):
            detail += (f"; with a full table (every insert evicts) vipgate sets up "
                       f"{fmt_mpps(full['table_full_per_s'])} M/s")
        goal("new flows per worker", f"{new['per_worker'] / 1e6:.2f} M/s", f">= {GOAL_NEW_FLOWS / 1e6:.0f} M/s",
             "PASS" if new["per_worker"] >= GOAL_NEW_FLOWS else "MISS", detail)
    else:
        goal("new flows per worker", "-", f">= {GOAL_NEW_FLOWS / 1e6:.0f} M/s", "NOT MEASURED",
             "run failed or missing")
    st = d["storm"]
    if st and vg(storm) and st.get("lost") is not None and (st.get("updates") or {}).get("applied"):
        clean = st["lost"] == 0 and (st.get("moved") or 0) == 0 and (st.get("misdirected") or 0) == 0
        detail = (f"{(st.get('updates') or {}).get('sent')} updates at {fmt_mpps(st['rate_pps'])} Mpps client load "
                  f"({st['rate_basis']}); of the lost packets, vipgate dropped {st['loss']['vipgate_drops']:,}")
        if st["loss"].get("backend_not_answered"):
            detail += (f", {st['loss']['backend_not_answered']:,} backend packets were not answered (generator "
                       f"busy or its ring to vipgate full)")
        if st.get("sent_pps") and st.get("rate_pps") and st["sent_pps"] < 0.97 * st["rate_pps"]:
            detail += f"; vipgen could send only {fmt_mpps(st['sent_pps'])} of the {fmt_mpps(st['rate_pps'])} Mpps asked"
        control = st.get("control")
        if control and control.get("lost") is not None:
            detail += f"; the same traffic without updates lost {control['lost']:,}"
        goal("update storm: drops / misdirected / moved",
             f"{st['lost']:,} / {st.get('misdirected')} / {st.get('moved')}", "0 / 0 / 0",
             "PASS" if clean else "MISS", detail)
    else:
        goal("update storm: drops / misdirected / moved", "-", "0 / 0 / 0", "NOT MEASURED", "run failed or missing")
    generator = (runs.get("generator-null") or {}).get("vipgen") or {}
    if generator.get("tx_pps"):
        goal("vipgen generation per core (into net_null)", f"{generator['tx_pps'] / 1e6:.1f} Mpps",
             f">= {GOAL_GENERATOR_PPS / 1e6:.0f} Mpps", "PASS" if generator["tx_pps"] >= GOAL_GENERATOR_PPS else "MISS",
             f"1 lcore on CPU {DUT_CPU} (its main lcore on CPU {GEN_CPU}), {human(s.scales['mid'].flows)} flows, "
             "64-byte TCP frames from templates, nothing received")
    else:
        goal("vipgen generation per core (into net_null)", "-", f">= {GOAL_GENERATOR_PPS / 1e6:.0f} Mpps",
             "NOT MEASURED", "run failed or missing")
    if mem.get("bytes_per_connection") is not None:
        goal("memory per tracked connection", f"{mem['bytes_per_connection']:.0f} B", f"<= {GOAL_BYTES_PER_CONN} B",
             "PASS" if mem["bytes_per_connection"] <= GOAL_BYTES_PER_CONN else "MISS",
             f"{fmt_count(mem['tracked'])} tracked in a {fmt_count(mem.get('capacity'))}-entry table")
    else:
        goal("memory per tracked connection", "-", f"<= {GOAL_BYTES_PER_CONN} B",
             "SKIPPED (--skip-10m)" if s.skip_large else "NOT MEASURED", "")
    return d


HEADER = """# vipgate line-rate benchmarks

Generated by `tools/bench.sh` (`tools/bench_suite.py`){quick_note}. Do not edit by hand: run the
suite again (`tools/bench.sh`, about 20 minutes; `--quick` for a smoke run, `--skip-10m` without
the 10M-flow case). Every figure, with the raw vipgen results and the devices' own counters, is
in `benchmarks.json` next to this file.

## Set-up

Two processes joined by one `net_memif` link (shared memory, no NIC): the generator `vipgen` on
CPU 0 and the device under test (DUT) on CPU 1, each with one packet lcore plus its EAL main
lcore on the same CPU. The DUT is `dpdk-testpmd` (the baseline: `--forward-mode=io` sends every
packet back untouched, `macswap` swaps its MAC addresses first, so every packet is written) or
vipgate with one worker. Every process runs with `--no-huge` (4 KiB pages). Each vipgen run gets
a freshly started DUT, the memif server; vipgen connects as the client. Frames are 64 bytes
(60 + 4 bytes FCS), TCP. The same generator measures every number, baseline included.

vipgate runs the topology its configuration describes, and vipgen reads the same files: the
gateway 198.18.0.1/17 (MAC 02:00:00:00:00:01), clients in 198.19.0.0/16 behind the router
198.18.0.254, VIPs in 198.18.128.0/17 (TCP 80 -> 8080), endpoints drawn from 2,000 addresses in
198.18.1.1-198.18.8.250 (an address backs several services, like a pod backing several
services), full NAT to the gateway's address, one worker, a connection table of 1.25 x the flows,
neighbors learnt by ARP. vipgen plays the router and every endpoint, so in a vipgate run each
client packet crosses the DUT twice: to the backend, and the backend's answer back to the client.
vipgen's warm-up opens each flow with a full handshake (SYN, the backend's SYN-ACK, the client's
ACK), so every flow is Established in vipgate's table before the measured phase; conntrack keeps
its default timeouts.

## How to read the tables

- **DUT Mpps**: packets the device under test forwarded per second (vipgen's `dut_pps`): in a
  vipgate run requests plus replies, in a testpmd run the echoed packets. The ratios compare this
  figure. **Client Mpps** is what the generator sent.
- **ratio io / macswap**: the vipgate figure divided by testpmd's, measured in the same run, by
  the same generator, with the same number of flows.
- **max offered load**: vipgen sends as fast as it can; loss is expected. When the DUT returns
  (nearly) everything (loss < 0.1 %), the generator set the pace, not the DUT: such rows are
  marked *gen-bound* and their figure is a lower bound of what the DUT can do (and a ratio against
  it an upper bound). One generator core does more work per packet in a vipgate run (it checks
  each translated packet and answers as the backend) than in a testpmd run.
- **NDR** (no-drop rate) and **PDR** (partial-drop rate, <= 0.5 % loss): vipgen's binary search
  over the client rate, relative precision {precision}, {search_s} s trials, converted to DUT
  packets per second with the measured packets-per-client-packet factor; the better of
  {search_repeats} searches. A busy-polling thread that loses its CPU for a moment to another
  process drops a few packets (loss ratios around 1e-5) at any rate, which pulls a single NDR far
  below the PDR on a shared VM: such rows are marked *sporadic loss* (NDR < 70 % of the PDR), and
  an NDR ratio involving one means little; the PDR ratio is the steadier figure. *gen-bound*: a
  trial within the PDR loss could not reach the rate asked, so the search ran into the
  generator's limit.
- **Latency**: vipgen's timestamps, from sending a client packet to getting the packet back
  (vipgate: request, backend answer and reply, so two passes through the DUT; testpmd: one), at
  50 % and 90 % of each DUT's own NDR.
- **Loss breakdown** (when vipgen reports per-direction counters): client->backend / backend
  packets whose answer the generator did not send / backend->client. The middle figure is lost at
  the generator: either it was too busy (at max offered load it favours sending client packets),
  or its ring towards the DUT was full because the DUT did not poll it. vipgate's `tx_queue_full`
  drops mean the ring towards the generator was full. A DUT that stops polling for a while shows
  up as a generator that sends less than the rate asked (memif pushes back; vipgen does not count
  packets it could not send as lost).
- **New flows**: every client packet opens a connection (a SYN from a new client port). The
  emulated backends check every SYN but do not answer (`vipgen --silent-backends`), so each
  connection costs vipgate one pass: a conntrack miss, a Maglev pick, an insert and a rewrite. That
  is the connection-setup rate systems like Katran and DPVS quote; loss and the NDR are counted at
  the backends. Two regimes: a connection table with room for every connection of the trial, and
  a table that is full after a second, so that every new connection evicts a half-open one (what
  a sustained SYN load leads to).
- **Update storm**: established flows at 90 % of vipgate's NDR while the suite sends 10 updates a
  second: it rewrites the configuration file atomically and sends SIGHUP, alternately adding and
  removing an 11th endpoint on a rotating service. vipgen is given a second configuration listing
  every endpoint that may be valid. The control run is the same traffic without updates. Update
  latency = from the SIGHUP to vipgate's log line saying every worker uses the new generation
  (log timestamps: 1 ms resolution); vipgate's own figures for reading, parsing and validating
  the file, for the build and for publication -> all workers are shown as well. vipgate's control
  thread shares CPU 1 with its worker, so a reload takes CPU time from the worker.
- **Memory**: VmRSS of vipgate right after the warm-up opened the flows, minus VmRSS of an
  otherwise identical vipgate (same configuration and EAL memory) with a 1,024-entry table after a
  short run, divided by the tracked connections (vipgate's `active` gauge).

Absolute numbers on a shared 2-vCPU VM move by 10-20 % between runs; the ratios, measured minutes
apart with the same generator, are the figures to compare.
"""


def render_markdown(suite, info, d):
    s = suite.settings
    runs = suite.runs
    lines = [HEADER.format(quick_note=" in `--quick` mode (small flow counts, short trials: a smoke run, not "
                                      "a measurement)" if s.quick else "",
                           precision=s.precision, search_s=s.search_trial_s, search_repeats=s.search_repeats).rstrip(), ""]
    lines += ["## Machine and run", "",
              "| | |", "|---|---|",
              f"| date | {info['date']} |",
              f"| CPU | {info['cpu_model']} ({info['cpus']} CPUs, {info['cpu_mhz']} MHz, hypervisor: "
              f"{info['hypervisor']}) |",
              f"| memory | {info['memory_gib']} GiB |",
              f"| OS / kernel | {info['os']} / {info['kernel']} |",
              f"| DPDK | {info['dpdk']} ({info['testpmd']}) |",
              f"| vipgate | {info['vipgate_commit']}, buildtype {info['buildtype']}, {info['compiler']} |",
              f"| generator cores | {info['cores']['generator']} |",
              f"| DUT cores (testpmd) | {info['cores']['dut_testpmd']} |",
              f"| DUT cores (vipgate) | {info['cores']['dut_vipgate']} |",
              f"| driver | {info['cores']['driver']} |",
              f"| memory mode | {info['memory_mode']} |",
              f"| port | {info['port']} |",
              f"| trials | {s.trial_s} s at max load, {s.search_trial_s} s per search trial, {s.latency_s} s latency "
              f"trials, storm {s.storm_s} s |",
              f"| load average (1/5/15 min) | start {'/'.join(f'{x:.1f}' for x in info['loadavg_start'])}, end "
              f"{'/'.join(f'{x:.1f}' for x in info.get('loadavg_end', (0, 0, 0)))} |",
              f"| other processes during the run | {other_text(info.get('other_load'))} |",
              f"| suite run time | {info.get('run_time_min', 0):.1f} min |", ""]
    other = info.get("other_load") or {}
    if (other.get("other_share") or 0) > 0.05 or (other.get("steal_share") or 0) > 0.05:
        lines += [f"**Warning:** {other_text(other)}: the benchmark did not have the machine to itself, so the "
                  "figures are lower and noisier than on an idle machine.", ""]

    lines += ["## Goals", "", "| goal | measured | target | verdict | how |", "|---|---:|---:|---|---|"]
    for g in d["goals"]:
        lines.append(f"| {g['goal']} | {g['measured']} | {g['target']} | **{g['verdict']}** | {g['detail']} |")
    lines.append("")

    lines += ["## Throughput at maximum offered load", "",
              (f"Median of {s.repeats} runs (min-max in brackets) where a row shows a range; "
               if s.repeats > 1 else "One run each; ") + "every run with a freshly started DUT.", "",
              "| run | DUT Mpps | client Mpps sent | returned Mpps | loss | ratio io | ratio macswap | status |",
              "|---|---:|---:|---:|---:|---:|---:|---|"]
    for t in d["throughput"]:
        note = " (gen-bound)" if t["generator_bound"] and t["status"] == "ok" else ""
        loss = "-" if t["loss_ratio"] is None else f"{100 * t['loss_ratio']:.2f} %"
        spread = f" ({fmt_mpps(min(t['repetitions']))}-{fmt_mpps(max(t['repetitions']))})" \
            if len(t["repetitions"]) > 1 else ""
        lines.append(f"| {t['title']} | {fmt_mpps(t['dut_pps'])}{spread}{note} | "
                     f"{fmt_mpps(t['tx_pps'])} | {fmt_mpps(t['rx_pps'])} | {loss} | "
                     f"{fmt_ratio(t['ratio_io']) if t['dut'] == 'vipgate' else '-'} | "
                     f"{fmt_ratio(t['ratio_macswap']) if t['dut'] == 'vipgate' else '-'} | {status_text(runs[t['id']])} |")
    lines.append("")

    lines += ["## Zero-loss rates", "",
              "| run | NDR client Mpps | NDR DUT Mpps | PDR (<= 0.5 %) DUT Mpps | NDR ratio io | NDR ratio macswap | "
              "PDR ratio io | trials | status |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for n in d["ndr"]:
        is_base = n["id"] in ("ndr-io", "ndr-macswap")
        gb = " (gen-bound)" if n.get("generator_bound") else ""
        if n.get("ndr_pps") and n.get("pdr_pps") and n["ndr_pps"] < 0.7 * n["pdr_pps"]:
            gb += " (sporadic loss)"
        lines.append(f"| {n['title'].replace(': NDR / PDR search', '')} | {fmt_mpps(n['ndr_pps'])}{gb} | "
                     f"{fmt_mpps(n['ndr_dut_pps'])} | {fmt_mpps(n['pdr_dut_pps'])} | "
                     f"{'-' if is_base else fmt_ratio(n['ratio_io'])} | {'-' if is_base else fmt_ratio(n['ratio_macswap'])} | "
                     f"{'-' if is_base else fmt_ratio(n['pdr_ratio_io'])} | {n['trials']} | {status_text(runs[n['id']])} |")
    lines.append("")

    lines += ["## Latency", "",
              "| DUT | load | client Mpps | DUT Mpps | loss | p50 µs | p99 µs | p99.9 µs | max µs | p50 ratio io | "
              "p99 ratio io | status |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for l in d["latency"]:
        lat = l["latency"]
        loss = "-" if l["loss_ratio"] is None else f"{100 * l['loss_ratio']:.3f} %"
        name = "testpmd io" if l["dut"] == "io" else "vipgate"
        lines.append(f"| {name} | {l['share']} % of NDR | {fmt_mpps(l['rate_pps'])} | {fmt_mpps(l['dut_pps'])} | {loss} | "
                     f"{fmt_us(lat.get('p50'))} | {fmt_us(lat.get('p99'))} | {fmt_us(lat.get('p999'))} | "
                     f"{fmt_us(lat.get('max'))} | {fmt_ratio(l['ratio_p50']) if l['dut'] != 'io' else '-'} | "
                     f"{fmt_ratio(l['ratio_p99']) if l['dut'] != 'io' else '-'} | {status_text(runs[l['id']])} |")
    lines.append("")

    new = d.get("new_flows") or {}
    if new:
        nd = next((n for n in d["ndr"] if n["id"] == "new-ndr"), {})
        peak = new.get("vipgate_new_per_s_peak")
        gb = " (gen-bound)" if new.get("generator_bound") else ""
        ndr_gb = " (gen-bound)" if nd.get("generator_bound") else ""
        full = new.get("full") or {}
        lines += ["## New flows", "",
                  "| measure | value | ratio io |", "|---|---:|---:|",
                  f"| new connections set up per second, max offered load, table with room | "
                  f"{fmt_mpps(new.get('flows_per_s'))} M/s{gb} | "
                  f"{fmt_ratio(new.get('ratio_io'))} (DUT pps) |",
                  f"| per worker (1 worker) | {fmt_mpps(new.get('per_worker'))} M/s | |",
                  f"| offered by the generator | {fmt_mpps(new.get('offered_per_s'))} M/s | |",
                  f"| answered (backend's reply back at the client) | {fmt_mpps(new.get('answered_per_s'))} M/s | |",
                  f"| loss at max offered load | {pct(new.get('loss_ratio'))} ({loss_text(new.get('loss'))}) | |",
                  f"| vipgate's own peak 'new' rate (0.5 s stats line) | {fmt_mpps(peak)} M/s | |",
                  f"| table full ({fmt_count(full.get('capacity'))} entries, every insert evicts): set up per second, "
                  f"whole trial | {fmt_mpps(full.get('flows_per_s'))} M/s | |",
                  f"| table full: vipgate's 'new' rate once full (median of its 0.5 s stats lines) | "
                  f"{fmt_mpps(full.get('table_full_per_s'))} M/s | |",
                  f"| table full: zero-loss new flows per second (NDR, full round trip) | "
                  f"{fmt_mpps(nd.get('ndr_pps'))} M/s{ndr_gb} | {fmt_ratio(nd.get('ratio_io'))} (DUT pps) |",
                  f"| table full: new flows per second at <= 0.5 % loss (PDR) | {fmt_mpps(nd.get('pdr_pps'))} M/s | |",
                  f"| status | {status_text(runs.get('new-max'))}; table full: {status_text(runs.get('new-full'))}; "
                  f"search: {status_text(runs.get('new-ndr'))} | |", ""]

    st = d.get("storm")
    if st:
        u = st.get("updates") or {}
        control = st.get("control") or {}

        def dist(key, unit, digits=1):
            v = u.get(key)
            if not v:
                return "-"
            return f"median {v['median']:.{digits}f} {unit}, p90 {v['p90']:.{digits}f}, max {v['max']:.{digits}f}"

        def both(getter):
            return f"{getter(st)} | {getter(control) if control else 'not run'}"
        lines += ["## Update storm", "",
                  f"Client load {fmt_mpps(st.get('rate_pps'))} Mpps ({st.get('rate_basis')}), "
                  f"{human(s.scales['mid'].flows)} established flows; the control run is the same traffic "
                  "without updates.", "",
                  "| measure | with updates | control, no updates | target |", "|---|---:|---:|---:|",
                  f"| client Mpps asked / sent | "
                  f"{both(lambda x: fmt_mpps(x.get('rate_pps')) + ' / ' + fmt_mpps(x.get('sent_pps')))} | |",
                  f"| packets lost (vipgen) | {both(lambda x: fmt_count(x.get('lost')))} | 0 |",
                  f"| where: {LOSS_PARTS} | {both(lambda x: loss_text(x.get('loss')))} | |",
                  f"| vipgate drops by reason | {both(lambda x: drops_text(x.get('vipgate_drops')))} | none |",
                  f"| misdirected packets | {both(lambda x: fmt_count(x.get('misdirected')))} | 0 |",
                  f"| established flows moved | {both(lambda x: fmt_count(x.get('moved')))} | 0 |",
                  f"| malformed packets | {both(lambda x: fmt_count(x.get('malformed')))} | 0 |",
                  f"| latency p50 / p99 / p99.9 / max µs | "
                  f"{both(lambda x: ' / '.join(fmt_us(x['latency'].get(k)) for k in ('p50', 'p99', 'p999', 'max')))} | |",
                  f"| status | {both(lambda x: status_text(runs.get('storm' if x is st else 'storm-control')))} | |",
                  "",
                  "| update | value | |", "|---|---:|---|",
                  f"| updates sent / reloads applied (of which unchanged) / rejected | {u.get('sent', '-')} / "
                  f"{u.get('applied', '-')} ({u.get('unchanged', 0)}) / {u.get('rejected', '-')} | "
                  f"every update applied |",
                  f"| updates coalesced into a later reload | {u.get('coalesced', '-')} | SIGHUPs during a reload |",
                  f"| update -> every worker using it (SIGHUP to log line) | {dist('update_to_all_workers_ms', 'ms')} | |",
                  f"| of which: reading, parsing and validating the file (vipgate's figure) | "
                  f"{dist('load_ms', 'ms')} | |",
                  f"| of which: snapshot build (vipgate's figure) | {dist('build_ms', 'ms', 2)} | |",
                  f"| of which: publication -> all workers (vipgate's figure) | "
                  f"{dist('publication_to_all_workers_us', 'µs', 0)} | |", ""]

    mem = d.get("memory") or {}
    if mem:
        lines += ["## Memory", "",
                  "| measure | value |", "|---|---:|",
                  f"| tracked connections | {fmt_count(mem.get('tracked'))} (table of {fmt_count(mem.get('capacity'))}), "
                  f"{fmt_count(mem.get('tracked_after_run'))} after the run |",
                  f"| vipgate VmRSS holding them ({mem.get('measured')}) | {mib(mem.get('rss_kb'))} "
                  f"(after the run {mib(mem.get('rss_kb_after_run'))}, peak {mib(mem.get('hwm_kb'))}) |",
                  f"| reference VmRSS (capacity 1,024) | {mib(mem.get('ref_rss_kb'))} |",
                  f"| bytes per tracked connection | {num(mem.get('bytes_per_connection'))} |",
                  f"| bytes per table slot | {num(mem.get('bytes_per_slot'))} |",
                  f"| status | {status_text(runs.get('vipgate-large'))}; reference: {status_text(runs.get('memory-ref'))} |",
                  ""]

    notes = [(run["id"], n) for run in runs.values() for n in run.get("notes") or []]
    if notes:
        lines += ["## Notes", ""] + [f"- {rid}: {n}" for rid, n in notes] + [""]

    lines += ["## Failures", ""]
    if suite.failures:
        lines += [f"- {f.splitlines()[0] if f else f}" for f in suite.failures]
        lines += ["", "Full messages and logs: `benchmarks.json` (`failures`, each run's `problems`)."]
    else:
        lines.append("None: every run completed and vipgen's checks were clean.")
    lines.append("")
    return "\n".join(lines)


LOSS_PARTS = "client->backend / backend packets not answered / backend->client"


def loss_text(loss):
    if not loss:
        return "-"
    if "client_to_backend" in loss:
        return (f"{loss['client_to_backend']:,} / {loss['backend_not_answered']:,} / {loss['backend_to_client']:,}")
    return "-"


def drops_text(drops):
    if drops is None:
        return "-"
    return ", ".join(f"{k} {v:,}" for k, v in sorted(drops.items(), key=lambda kv: -kv[1])) or "none"


def other_text(other):
    if not other or other.get("other_share") is None:
        return "-"
    return (f"other processes used {other['other_cpu_s']:.0f} CPU-seconds ({100 * other['other_share']:.0f} % of "
            f"the machine over {other['seconds'] / 60:.1f} min), the hypervisor stole "
            f"{100 * other['steal_share']:.1f} %")


def status_text(run):
    if run is None:
        return "not run"
    if run["status"] == "ok":
        return "ok"
    first = (run.get("problems") or [""])[0].splitlines()
    return f"**{run['status'].upper()}**" + (f": {first[0][:120]}" if first else "")


def pct(value, digits=2):
    return "-" if value is None else f"{100 * value:.{digits}f} %"


def mib(kb):
    return "-" if kb is None else f"{kb / 1024:,.1f} MiB"


def num(value):
    return "-" if value is None else f"{value:.1f}"


def write_results(suite, info, interrupted):
    d = derive(suite)
    info["loadavg_end"] = os.getloadavg()
    if "cpu_start" in info:
        info["other_load"] = other_cpu_use(info.pop("cpu_start"), cpu_snapshot(), time.time() - suite.started)
    info["run_time_min"] = (time.time() - suite.started) / 60
    os.makedirs(suite.out_dir, exist_ok=True)
    document = {"schema": "vipgate-bench/1", "machine": info, "quick": suite.settings.quick,
                "interrupted": interrupted,
                "settings": {"trial_s": suite.settings.trial_s, "search_trial_s": suite.settings.search_trial_s,
                             "repeats": suite.settings.repeats, "search_repeats": suite.settings.search_repeats,
                             "latency_s": suite.settings.latency_s, "storm_s": suite.settings.storm_s,
                             "precision": suite.settings.precision, "pdr_loss_percent": suite.settings.pdr_loss,
                             "scales": {k: vars(v) for k, v in suite.settings.scales.items()},
                             "skip_10m": suite.settings.skip_large},
                "results": d, "runs": list(suite.runs.values()), "failures": suite.failures}
    json_path = os.path.join(suite.out_dir, "benchmarks.json")
    md_path = os.path.join(suite.out_dir, "benchmarks.md")
    write_atomic(json_path, json.dumps(document, indent=1, default=str) + "\n")
    text = render_markdown(suite, info, d)
    if interrupted:
        text = text.replace("## Set-up", "**The run was interrupted: the tables are incomplete.**\n\n## Set-up", 1)
    write_atomic(md_path, text)
    log(f"wrote {md_path} and {json_path}")
    return d


# ---------------------------------------------------------------------------------------------


def parse_args(argv):
    parser = argparse.ArgumentParser(description="vipgate line-rate benchmark suite (vipgen vs testpmd over memif)")
    parser.add_argument("--quick", action="store_true", help="small flow counts, short trials: a smoke run")
    parser.add_argument("--out", default=os.path.join(ROOT, "docs"),
                        help="directory for benchmarks.md and benchmarks.json (default: docs/)")
    parser.add_argument("--skip-10m", action="store_true", help="skip the 10M-flow scenario and the memory figures")
    parser.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    parser.add_argument("--vipgen", help="vipgen executable (default: BUILD/pktgen/vipgen)")
    parser.add_argument("--vipgate", help="vipgate executable (default: BUILD/control/vipgate)")
    parser.add_argument("--testpmd", default="dpdk-testpmd")
    parser.add_argument("--duration", type=float, help="seconds per max-load trial (default 10, --quick 2)")
    parser.add_argument("--warmup-rate", type=int, default=1_000_000,
                        help="flow-opening rate of the warm-up in vipgate runs (default 1000000)")
    parser.add_argument("--only", help="comma-separated steps: generator,max,ndr,new,storm,memory (for development: the "
                                       "later steps use the earlier ones' results when present)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="repetitions of each max-load run, the median is reported (default 3; 1 with "
                             "--quick and for the 10M-flow run)")
    parser.add_argument("--keep-scratch", action="store_true", help="keep the scratch directory (logs)")
    parser.add_argument("--render", metavar="JSON",
                        help="only rewrite benchmarks.md in --out from an earlier benchmarks.json (no runs)")
    return parser.parse_args(argv)


def render_only(args):
    """Rebuilds the markdown from a results file (after a change to the report's text)."""
    import types
    with open(args.render) as f:
        document = json.load(f)
    args.quick = document.get("quick", False)
    settings = Settings(args)
    for key, value in document["settings"].items():
        if key == "scales":
            settings.scales = {k: Scale(v["key"], v["vips"], v["endpoints"], v["flows"], v.get("table"))
                               for k, v in value.items()}
        elif key == "skip_10m":
            settings.skip_large = value
        elif key == "pdr_loss_percent":
            settings.pdr_loss = value
        else:
            setattr(settings, key, value)
    suite = types.SimpleNamespace(settings=settings, runs={r["id"]: r for r in document["runs"]},
                                  failures=document["failures"])
    info = document["machine"]
    text = render_markdown(suite, info, derive(suite))
    if document.get("interrupted"):
        text = text.replace("## Set-up", "**The run was interrupted: the tables are incomplete.**\n\n## Set-up", 1)
    os.makedirs(os.path.abspath(args.out), exist_ok=True)
    path = os.path.join(os.path.abspath(args.out), "benchmarks.md")
    write_atomic(path, text)
    log(f"wrote {path} from {args.render}")
    return 0


def main(argv):
    args = parse_args(argv)
    if args.render:
        return render_only(args)
    suite = Suite(args)
    try:
        os.sched_setaffinity(0, {GEN_CPU})
    except OSError:
        pass

    def interrupted(number, frame):
        raise Interrupted(f"signal {number}")
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGHUP, interrupted)
    status = 1
    was_interrupted = False
    info = {}
    try:
        problems = suite.preflight()
        if problems:
            for p in problems:
                log(f"cannot run: {p}")
            return 2
        info = machine_info(suite)
        log(f"scratch {suite.scratch}; results to {suite.out_dir}; {'quick' if args.quick else 'full'} run")
        idle = other_cpu_use(cpu_snapshot(), (time.sleep(2), cpu_snapshot())[1], 2.0)
        info["busy_before_start"] = idle
        if idle["other_share"] and idle["other_share"] > 0.1:
            log(f"warning: other processes use {100 * idle['other_share']:.0f} % of the CPUs: the figures will "
                "be lower and noisier than on an idle machine")
        suite.run()
    except Interrupted as reason:
        was_interrupted = True
        suite.failures.append(f"interrupted ({reason})")
        log(f"interrupted ({reason}): cleaning up")
    finally:
        for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(number, signal.SIG_IGN)   # let the clean-up finish
        suite.cleanup(keep_scratch=args.keep_scratch or bool(suite.failures))
    if info:
        d = write_results(suite, info, was_interrupted)
        for g in d["goals"]:
            log(f"goal: {g['goal']}: {g['measured']} (target {g['target']}): {g['verdict']}")
        status = 1 if suite.failures else 0
        log(f"{len(suite.runs)} runs, {len(suite.failures)} failed; {(time.time() - suite.started) / 60:.1f} min")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
